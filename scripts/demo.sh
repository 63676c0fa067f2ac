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
set -euo pipefail
cd "$(dirname "$0")/.."
N=${DEMO_DEVICES:-24}
M=${DEMO_MODBUS:-4}
SECONDS_TO_RUN=${DEMO_SECONDS:-60}
TRAP_PORT=${DEMO_TRAP_PORT:-10162}
net=127.0.10.0/27                            # 30 host addresses; a bigger site gets a /24
[ $((N + M)) -le 30 ] || net=127.0.10.0/24
[ $((N + M)) -le 254 ] || { echo "demo: at most 254 devices (DEMO_DEVICES + DEMO_MODBUS)" >&2; exit 2; }
dir=$(mktemp -d /tmp/edgegw-demo.XXXXXX)
pids=()
ns=""
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$ns" ] || ip netns delete "$ns" 2>/dev/null || true
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
interval = "5s"
offline_after = 3

[log]
level = "debug"
format = "text"
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
bin/edgegw claim import "$dir/devices.csv" --config "$dir/edgegw.toml" | tail -1
sleep 2
echo "demo: edgegw status"
bin/edgegw status --config "$dir/edgegw.toml" || true
if [ -z "$ns" ]; then # in a namespace the page is on that namespace's loopback only
  echo "demo: the web page: http://127.0.0.1:8080/ (token: $(bin/edgegw admin token --config "$dir/edgegw.toml"); docs/operate.md)"
fi
sleep "$SECONDS_TO_RUN"
kill -TERM "$gw"
wait "$gw" || true
sleep 0.3
echo "demo: $(grep -c 'msg="device event"' "$dir/edgegw.log") events from traps (edgegw events --config $dir/edgegw.toml while it runs)"
echo "demo: $(grep -c 'device discovered' "$dir/edgegw.log") devices discovered ($(grep -c 'device discovered.*protocol=modbus' "$dir/edgegw.log") over Modbus), $(grep -c 'msg=reported' "$dir/edgegw.log") twin changes reported"
[ -z "$ns" ] || echo "demo: $(grep 'device identity changed.*protocol=mdns' "$dir/edgegw.log" | grep -o 'device=[^ ]*' | sort -u | wc -l) displays and projectors seen over SNMP and mDNS, each one device"
