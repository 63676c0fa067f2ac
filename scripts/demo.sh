#!/usr/bin/env bash
# The demo: a simulated site of 24 SNMP devices (127.0.10.1-24, port 16100) and 4 Modbus TCP devices
# (energy meters and SunSpec inverters, 127.0.10.25-28, port 1502) on loopback, and the gateway on it.
# The gateway sweeps 127.0.10.0/27 over both protocols, makes a twin of every device that answers, and
# polls them every 5 s; the log shows devices found, claimed from the simulator's CSV, and twins
# changing. The devices also send SNMP traps to the gateway (127.0.0.1:DEMO_TRAP_PORT, default 10162),
# one every two seconds: UPSes go on battery and back, displays lose their link; each becomes an event.
# Runs DEMO_SECONDS (default 60), then stops both processes by PID. Everything stays on loopback.
#
# As root, the whole site runs in a network namespace of its own (edgegw-demo-PID, only lo, with
# multicast on), where the simulated displays and projectors also announce themselves over mDNS: the
# gateway browses _pjlink._tcp there and merges each with its SNMP sighting into one device. Multicast
# never leaves that namespace. Without root the demo runs on the host's loopback without mDNS.
#
# With the cloud side: when the test broker runs (scripts/peers: RabbitMQ, found through
# $PEERS_STATE/peers.env), the gateway also sends everything up to it over amqps and the demo runs
# `edgegw-console tail` beside it, so you watch twins, telemetry and health arrive on the cloud side
# (inside the namespace the gateway reaches the broker through a socat relay over a unix socket).
# Without a broker it says the cloud is off and runs as before. DEMO_DEVICES=N scales the site (up to
# 60,000 SNMP devices on 127.76.0.0/16; past 100 the log shows a status line instead of every change).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${DEMO_DEVICES:-24}
M=${DEMO_MODBUS:-4}
SECONDS_TO_RUN=${DEMO_SECONDS:-60}
TRAP_PORT=${DEMO_TRAP_PORT:-10162}
net=127.0.10.0/27                            # 30 host addresses; a bigger site gets a /24, a campus a /16
[ $((N + M)) -le 30 ] || net=127.0.10.0/24
[ $((N + M)) -le 254 ] || net=127.76.0.0/16
[ $((N + M)) -le 60000 ] || { echo "demo: at most 60000 devices (DEMO_DEVICES + DEMO_MODBUS)" >&2; exit 2; }
interval=5s level=debug
if [ "$N" -gt 100 ]; then level=info; fi
if [ "$N" -gt 1000 ]; then interval=60s; fi
dir=$(mktemp -d /tmp/edgegw-demo.XXXXXX)
pids=()
ns=""
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$ns" ] || ip netns delete "$ns" 2>/dev/null || true
  [ -z "${relay_sock:-}" ] || rm -f "$relay_sock"
  echo "demo: state and logs kept in $dir"
}
trap cleanup EXIT INT TERM

inns=()      # the command prefix that runs a program inside the demo's namespace
simflags=()
mdns_toml=""
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && [ -z "${DEMO_NO_NETNS:-}" ]; then
  ns=edgegw-demo-$$
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link set lo multicast on
  ip -n "$ns" route add 224.0.0.0/4 dev lo
  inns=(ip netns exec "$ns")
  simflags=(--mdns-netns "$ns")
  mdns_toml=$'[discovery.mdns]\nservices = ["_pjlink._tcp"]\ninterface = "lo"\ntimeout = "1s"\n'
  echo "demo: network namespace $ns (lo only, multicast on): SNMP, Modbus and mDNS stay inside it"
fi

"${inns[@]}" bin/edgegw-sim --snmp "$N" --modbus "$M" --listen "$net" --base-port 16100 --modbus-port 1502 \
  "${simflags[@]}" --traps-to "127.0.0.1:$TRAP_PORT" --trap-rate 0.5 --devices-csv "$dir/devices.csv" > "$dir/sim.log" 2>&1 &
pids+=($!)
sleep 0.5
echo "demo: simulated site of $N SNMP devices (port 16100) and $M Modbus devices (port 1502) on $net (MAC,Serial,Address,Model in $dir/devices.csv)"
head -4 "$dir/devices.csv" | sed 's/^/    /'
echo "    ..."
tail -2 "$dir/devices.csv" | sed 's/^/    /'

# The cloud side, when the tests' broker is up.
peers_env=${PEERS_STATE:-/tmp/edgegw-peers}/peers.env
cloud_toml=""
if [ -r "$peers_env" ] && grep -q '^PEERS_AMQPS_URL=' "$peers_env" && grep -q '^PEERS_CLIENT_CERT=' "$peers_env"; then
  get() { grep "^$1=" "$peers_env" | head -1 | cut -d= -f2-; }
  url=$(get PEERS_AMQPS_URL); hostport=${url#amqps://}
  if (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null; then
    q=demo-$$
    if [ -n "$ns" ]; then
      # The gateway is in the namespace, the broker on the host's loopback: relay the port through a
      # unix socket (nothing listens on any interface but the two loopbacks).
      command -v socat >/dev/null || { echo "demo: socat is needed to reach the broker from the namespace (apt-get install socat)" >&2; exit 1; }
      relay_sock="$dir/broker.sock"
      socat UNIX-LISTEN:"$relay_sock",fork TCP:"$hostport" & pids+=($!)
      "${inns[@]}" socat TCP-LISTEN:"${hostport##*:}",bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$relay_sock" & pids+=($!)
    fi
    cloud_toml="[cloud]
enabled = true
url = \"$url\"
ca_file = \"$(get PEERS_CA)\"
cert_file = \"$(get PEERS_CLIENT_CERT)\"
key_file = \"$(get PEERS_CLIENT_KEY)\"
up_address = \"/queue/$q-up\"
down_address = \"/queue/$q-down\"
health_interval = \"10s\""
    if [ "$N" -gt 1000 ]; then cloud_toml="$cloud_toml
telemetry_batch = \"1s\""; fi
    printf '[cloud]\nurl = "%s"\nca_file = "%s"\ncert_file = "%s"\nkey_file = "%s"\nup_address = "/queue/%s-up"\ndown_address = "/queue/%s-down"\n' \
      "$url" "$(get PEERS_CA)" "$(get PEERS_CLIENT_CERT)" "$(get PEERS_CLIENT_KEY)" "$q" "$q" > "$dir/console.toml"
    echo "demo: cloud on: the gateway sends to RabbitMQ at $url (queue /queue/$q-up); edgegw-console tail shows what arrives (lines marked 'cloud:')"
    bin/edgegw-console --config "$dir/console.toml" tail --gateway demo-site > "$dir/cloud.log" 2>&1 & pids+=($!)
    tail -n +1 -f "$dir/cloud.log" --pid "$!" | grep --line-buffered -E 'twin-full|health|telemetry-batch|twin-reported' | \
      awk -v n="$N" '{ if (n <= 100 || $4 != "twin-reported") print "cloud: " $0; fflush() }' &
  fi
fi
[ -n "$cloud_toml" ] || echo "demo: cloud off (no broker: start one with sudo scripts/peers/peers.sh start rabbitmq to watch the cloud side too)"

cat > "$dir/edgegw.toml" <<TOML
[gateway]
id = "demo-site"
state_dir = "$dir/state"

[discovery]
interval = "30s"

[[discovery.snmp]]
targets = ["$net"]
port = 16100
version = "2c"
community = "public"
timeout = "500ms"
retries = 0

[[discovery.modbus]]
targets = ["$net"]
port = 1502
unit_ids = [1]
timeout = "500ms"

$mdns_toml
[traps]
listen = "127.0.0.1:$TRAP_PORT"

[polling]
interval = "$interval"
offline_after = 3

[log]
level = "$level"
format = "text"

$cloud_toml
TOML
chmod 600 "$dir/edgegw.toml"
bin/edgegw config check --config "$dir/edgegw.toml"
echo "demo: edgegw run for ${SECONDS_TO_RUN}s (twins change as uptime and temperature move)"
"${inns[@]}" bin/edgegw run --config "$dir/edgegw.toml" > "$dir/edgegw.log" 2>&1 &
gw=$!
pids=("$gw" "${pids[@]}")
tail -n +1 -f "$dir/edgegw.log" --pid "$gw" | grep --line-buffered -E 'started|discovered|identity changed|discovery pass|reported|offline|online|shutting|stopped|action=claimed|device event|trap receiver|level=(WARN|ERROR)' &
# Facilities staff claim the site from the CSV the simulator wrote (MAC + serial of every device):
# claimed devices are polled at full rate and their twins change every poll.
sleep 4
echo "demo: edgegw claim import $dir/devices.csv"
if [ "$N" -gt 100 ]; then
  # A big site: wait until discovery has seen most of it before claiming.
  for _ in $(seq 1 600); do
    seen=$(bin/edgegw cloud status --config "$dir/edgegw.toml" 2>/dev/null | grep -o '"discovered": *[0-9]*' | grep -o '[0-9]*$' || echo 0)
    [ "${seen:-0}" -ge "$N" ] && break
    sleep 1
  done
fi
bin/edgegw claim import "$dir/devices.csv" --config "$dir/edgegw.toml" | tail -1
sleep 2
echo "demo: edgegw status"
bin/edgegw status --config "$dir/edgegw.toml" || true
if [ -z "$ns" ]; then # in a namespace the page is on that namespace's loopback only
  echo "demo: the web page: http://127.0.0.1:8080/ (token: $(bin/edgegw admin token --config "$dir/edgegw.toml"); docs/operate.md)"
fi
if [ "$N" -gt 100 ]; then
  end=$((SECONDS + SECONDS_TO_RUN))
  while [ "$SECONDS" -lt "$end" ]; do
    sleep 10
    bin/edgegw cloud status --config "$dir/edgegw.toml" 2>/dev/null | tr -d ' \n' | \
      sed -E 's/.*"devices":\{"discovered":([0-9]+),"claimed":([0-9]+),"online":([0-9]+)\}.*"polls":([0-9]+),"pollErrors":([0-9]+),"pollsLate":([0-9]+).*/demo: \1 discovered, \2 claimed, \3 online; \4 polls (\5 errors, \6 late)\n/' || true
  done
else
  sleep "$SECONDS_TO_RUN"
fi
kill -TERM "$gw"
wait "$gw" || true
sleep 0.3
echo "demo: $(grep -c 'msg="device event"' "$dir/edgegw.log") events from traps (edgegw events --config $dir/edgegw.toml while it runs)"
echo "demo: $(grep -c 'device discovered' "$dir/edgegw.log") devices discovered ($(grep -c 'device discovered.*protocol=modbus' "$dir/edgegw.log") over Modbus), $(grep -c 'msg=reported' "$dir/edgegw.log") twin changes reported"
[ -z "$ns" ] || echo "demo: $(grep 'device identity changed.*protocol=mdns' "$dir/edgegw.log" | grep -o 'device=[^ ]*' | sort -u | wc -l) displays and projectors seen over SNMP and mDNS, each one device"
