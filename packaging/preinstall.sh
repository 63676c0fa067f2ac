#!/bin/sh
# Creates the service user the systemd unit runs as.
set -e
if ! getent passwd edgegw >/dev/null; then
  useradd --system --home-dir /var/lib/edgegw --shell /usr/sbin/nologin edgegw
fi
