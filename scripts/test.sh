#!/usr/bin/env bash
# Runs every test. The real peers the integration tests talk to (net-snmp's snmpd, snmpsim, RabbitMQ,
# the rhea AMQP-over-WebSocket broker, pymodbus, avahi in a network namespace pair) are
# installed and started first when missing, and the ones this script started are stopped at the end.
# Peers come from ../shared/peers (PEERS.md); without it, the real-peer tests skip (outside CI).
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-../shared/peers}
export PEERS_STATE=${PEERS_STATE:-/tmp/edgegw-peers}
want=(snmpd snmpsim rabbitmq rhea modbus avahi)
started=()

peer_running() { # a peer is up when its key is in peers.env and its pid is alive
  local key=$1 pidfile=$2
  grep -q "^$key=" "$PEERS_STATE/peers.env" 2>/dev/null && [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

cleanup() {
  if [ ${#started[@]} -gt 0 ]; then
    for p in "${started[@]}"; do "$PEERS/stop-$p.sh" >/dev/null 2>&1 || true; done
  fi
}

if [ -d "$PEERS" ]; then
  "$PEERS/install.sh"
  trap cleanup EXIT
  for p in "${want[@]}"; do
    case $p in
      snmpd) peer_running PEERS_SNMPD_ADDR "$PEERS_STATE/snmpd/snmpd.pid" && continue ;;
      snmpsim) peer_running PEERS_SNMPSIM_ADDR "$PEERS_STATE/snmpsim/snmpsimd.pid" && continue ;;
      rabbitmq) peer_running PEERS_AMQPS_URL "$PEERS_STATE/rabbitmq/rabbitmq.pid" && continue ;;
      rhea) peer_running PEERS_RHEA_AMQPS_URL "$PEERS_STATE/rhea/rhea.pid" && continue ;;
      modbus) peer_running PEERS_MODBUS_ADDR "$PEERS_STATE/modbus/modbus.pid" && continue ;;
      avahi) peer_running PEERS_MDNS_NETNS "$PEERS_STATE/mdns/avahi.pid" && continue ;;
    esac
    started+=("$p")
  done
  # start-all.sh makes the test PKI first and boots RabbitMQ while the others start.
  [ ${#started[@]} -eq 0 ] || "$PEERS/start-all.sh" "${started[@]}"
else
  echo "test: $PEERS is absent: real-peer tests will skip" >&2
  [ "${CI:-}" = true ] && { echo "test: in CI the peers are required" >&2; exit 1; }
fi

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
# Unit and integration tests; the race detector on the packages with concurrency of their own.
go test -count=1 -timeout 15m ./...
go test -count=1 -short -race -timeout 10m ./gateway/... ./drivers/snmp/... ./drivers/modbus/... ./drivers/mdns/... ./sim/... ./cmd/edgegw/ ./uplink/...
# The loss tests restart the shared RabbitMQ and SIGKILL a gateway process: alone, after the rest.
if [ -d "$PEERS" ]; then
  EDGEGW_LOSS_TESTS=1 go test -count=1 -timeout 10m -run '^TestLoss' -v ./uplink/ | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|loss_test' 
fi
