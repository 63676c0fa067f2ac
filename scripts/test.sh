#!/usr/bin/env bash
# Runs every test. As root it first installs and starts the real peers the integration tests talk to
# (scripts/peers/peers.sh: net-snmp's snmpd, snmpsim, pymodbus, avahi in a network namespace pair,
# RabbitMQ, the rhea AMQP-over-WebSocket broker), and stops at the end the ones it started. Then a
# real-peer test that finds its peer missing fails instead of skipping (EDGEGW_PEERS_STARTED=1).
# Without root the peers cannot be had, and those tests skip (outside CI). The run ends with the count
# of skipped tests and why each was skipped. PEERS_STATE (default /tmp/edgegw-peers) and the ports in
# scripts/peers/peers.sh can be set from the environment, to run beside another set of peers.
set -euo pipefail
cd "$(dirname "$0")/.."
export PEERS_STATE=${PEERS_STATE:-/tmp/edgegw-peers}
# Tests that keep artifacts (the admin page's screenshots of TestBrowser) put them here.
export EDGEGW_ARTIFACTS=${EDGEGW_ARTIFACTS:-/tmp/edgegw-artifacts}
peers=scripts/peers/peers.sh
logs=$(mktemp -d /tmp/edgegw-test.XXXXXX)
started=()
stop_started() { [ ${#started[@]} -eq 0 ] || "$peers" stop "${started[@]}"; started=(); }
trap 'stop_started; rm -rf "$logs"' EXIT
if [ "$(id -u)" = 0 ]; then
  "$peers" install
  for p in $("$peers" list); do "$peers" running "$p" || started+=("$p"); done
  "$peers" start # the missing ones; the running ones republish their keys
  export EDGEGW_PEERS_STARTED=1
else
  echo "test: not root: the peers cannot be installed or started, so the real-peer tests skip" >&2
  [ "${CI:-}" != true ] || { echo "test: in CI the peers are required" >&2; exit 1; }
fi

go build -o "$logs/testreport" ./scripts/testreport
failed=0
gotest() { # gotest NAME ARGS...: go test -json ARGS, shown as go test shows it, kept in $logs/NAME.json
  local name=$1; shift
  go test -json "$@" 2>&1 | tee "$logs/$name.json" | "$logs/testreport" || failed=1
}

# The package and init tests (packaging/, cmd/edgegw) read the .rpm with Debian's rpm, check edgegw
# init with openssl and the unit with systemd-analyze: as root, installed when missing. The package test
# installs the .deb with dpkg as root and purges it, with the user it made, before it ends.
tools=()
command -v rpm >/dev/null || tools+=(rpm)
command -v openssl >/dev/null || tools+=(openssl)
command -v systemd-analyze >/dev/null || tools+=(systemd)
if [ ${#tools[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
fi

go vet ./...
# Windows: edgegw.exe and its service build and vet (the service's portable parts are tested below).
GOOS=windows go build ./...
GOOS=windows go vet ./...
# Unit and integration tests; the race detector on the packages with concurrency of their own. The loss
# tests restart the shared RabbitMQ and SIGKILL a gateway process: alone, after the rest.
gotest all -count=1 -timeout 15m -skip '^TestLoss|^TestSoak$' ./...
gotest race -count=1 -short -race -timeout 10m -skip '^TestLoss|^TestSoak$' ./gateway/... ./admin/... ./drivers/snmp/... ./drivers/modbus/... ./drivers/mdns/... ./sim/... ./cmd/edgegw/ ./uplink/... ./internal/... ./config/...
# The loss tests and the quick fault soak (internal/soak: 5,000 devices, a RabbitMQ of its own on other
# ports, about 2-3 minutes) side by side: the one restarts the shared broker, the other only its own.
# The soak's output is shown after the loss tests', not interleaved with it.
( SOAK=quick go test -json -count=1 -timeout 8m -run '^TestSoak$' ./internal/soak/ > "$logs/soak.json" 2>&1 ) &
soak=$!
EDGEGW_LOSS_TESTS=1 gotest loss -count=1 -timeout 10m -run '^TestLoss' ./uplink/
wait "$soak" || failed=1
"$logs/testreport" < "$logs/soak.json" || failed=1

stop_started
echo "test: took $SECONDS s; artifacts (screenshots) in $EDGEGW_ARTIFACTS"
"$logs/testreport" -summary "$logs"/*.json # the last lines: every skipped test, and the totals
exit $failed
