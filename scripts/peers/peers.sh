#!/usr/bin/env bash
# The real servers edgegw's integration tests talk to, installed from Debian (and npm for one) and run
# as unprivileged users on 127.0.0.1, or inside network namespaces this script makes. Needs root.
#
#   peers.sh install              Debian packages (no daemon is started by them) and the npm packages
#   peers.sh start [PEER...]      the test PKI, then the peers (all by default); a running peer is kept
#   peers.sh stop [PEER...]       each by the PID its start recorded; avahi's namespaces are deleted
#   peers.sh running PEER         exit status 0 when PEER runs
#   peers.sh list | status
#   peers.sh rabbitmqctl ARGS...  rabbitmqctl for our RabbitMQ node
#
# Peers: snmpd snmpsim modbus avahi rabbitmq rhea. Each start writes its keys into $PEERS_STATE/peers.env
# (KEY=VALUE, sorted), which the Go tests read (internal/peers); each stop removes them. State and logs
# live in $PEERS_STATE (default /tmp/edgegw-peers), never in the repository. Ports and names can be
# changed from the environment (the list below), so that two sets of peers can run side by side.
set -euo pipefail
umask 022 # the daemons run as other users and read what this script writes
KIT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
export PEERS_STATE=${PEERS_STATE:-/tmp/edgegw-peers}
ENVF=$PEERS_STATE/peers.env
PY=/usr/bin/python3 # Debian's, which has python3-pymodbus (a python3 earlier on PATH may not)
PEERS=(snmpd snmpsim modbus avahi rabbitmq rhea)

: "${SNMPD_PORT:=11161}" "${SNMPSIM_PORT:=11162}" "${MODBUS_PORT:=15020}"
: "${AMQPS_PORT:=15671}" "${AMQP_PORT:=15672}" "${RABBIT_EPMD_PORT:=14369}" "${RABBIT_DIST_PORT:=15679}"
: "${RABBIT_CLI_PORTS:=15690-15699}" "${RABBIT_NODENAME:=edgegw-peers@localhost}"
: "${RHEA_AMQPS_PORT:=15675}" "${RHEA_AMQP_PORT:=15676}" "${WS_PORT:=15680}" "${WSS_PORT:=15681}"
: "${RHEA_EXPIRED_PORT:=15685}" "${RHEA_WRONGHOST_PORT:=15686}" "${RHEA_ROGUE_PORT:=15687}"
: "${MDNS_NETNS_SERVER:=edgegw-mdns-a}" "${MDNS_NETNS:=edgegw-mdns-b}"
: "${MDNS_ADDR_SERVER:=169.254.77.1}" "${MDNS_ADDR:=169.254.77.2}"
MDNS_IFACE_SERVER=veth-mdns-a MDNS_IFACE=veth-mdns-b # each lives in its own namespace: no clash with anyone's
# Recordings for snmpsim: the shared ones beside the repository, else the repository's own small one.
SNMPSIM_DATA=${SNMPSIM_DATA:-$KIT/../../../shared/testdata/real/snmp}
[ -d "$SNMPSIM_DATA" ] || SNMPSIM_DATA=$KIT/../../drivers/snmp/testdata/agents

NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
RABBIT=(setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups)

say() { echo "peers: $*"; }
die() { echo "peers: $*" >&2; exit 1; }

# ---- peers.env -----------------------------------------------------------------------------------------
# env_edit DROP ADD: peers.env less the keys of file DROP (PEERS_STATE and PEERS_KIT stay), plus file ADD's lines.
env_edit() {
  ( flock 9
    { cat "$ENVF" 2>/dev/null || true; } | awk -F= -v drop="$1" -v add="$2" '
      BEGIN { while ((getline l < drop) > 0) { split(l, kv, "="); if (kv[1] !~ /^PEERS_(STATE|KIT)$/) gone[kv[1]] = 1 }
              while ((getline l < add) > 0) { split(l, kv, "="); gone[kv[1]] = 1; lines[++n] = l } }
      NF && !($1 in gone) { print }
      END { for (i = 1; i <= n; i++) print lines[i] }' | sort > "$ENVF.tmp"
    chmod 644 "$ENVF.tmp" && mv -f "$ENVF.tmp" "$ENVF"
  ) 9>"$PEERS_STATE/.peers.env.lock"
}
# publish DIR KEY=VALUE...: the peer's keys, remembered in DIR/env (for stop, and for a start that finds it running)
publish() {
  local d=$1 kv; shift
  for kv in "PEERS_STATE=$PEERS_STATE" "PEERS_KIT=$KIT" "$@"; do
    [[ $kv =~ ^PEERS_[A-Z0-9_]+=[^[:space:]\"\']*$ ]] || die "not a peers.env line: '$kv'"
  done
  printf '%s\n' "PEERS_STATE=$PEERS_STATE" "PEERS_KIT=$KIT" "$@" > "$d/env"
  env_edit /dev/null "$d/env"
}
unpublish() { [ ! -f "$1/env" ] || { env_edit "$1/env" /dev/null; rm -f "$1/env"; }; }

# ---- processes: only the PID a start recorded, and only while its command line is still ours -------------
pid_in() { local p=; [ -f "$1" ] && { read -r p < "$1" || true; }; [[ $p =~ ^[0-9]+$ ]] && echo "$p"; }
alive() { # alive PIDFILE WORD
  local p; p=$(pid_in "$1") || return 1
  ! grep -qs '^State:[[:space:]]*Z' "/proc/$p/status" || return 1 # a zombie nobody reaped
  { tr '\0' ' ' < "/proc/$p/cmdline"; } 2> /dev/null | grep -qF -- "$2"
}
gone() { ! alive "$@"; }
kill_pid() { # kill_pid PIDFILE WORD: TERM, KILL after 10 s
  local p
  if alive "$1" "$2"; then
    p=$(pid_in "$1"); kill -TERM "$p" 2>/dev/null || true
    wait_until 10 gone "$1" "$2" || kill -KILL "$p" 2>/dev/null || true
    say "stopped $2 (pid $p)"
  fi
  rm -f "$1"
}
wait_until() { # wait_until SECONDS CMD...
  local n=$(($1 * 10)); shift
  until "$@"; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done
}
listening() { ss -Hln"${1:0:1}" "sport = :$2" 2>/dev/null | grep -q "127\.0\.0\.1:$2 "; } # listening tcp|udp PORT
port_free() { # port_free tcp|udp PORT...
  local proto=$1 p; shift
  for p; do ! ss -Hln"${proto:0:1}" "sport = :$p" 2>/dev/null | grep -q . || die "$proto port $p is taken: set another (peers.sh's header)"; done
}
fill() { # fill TEMPLATE NAME...: the template with each @NAME@ replaced by that variable's value
  local a=() n; for n in "${@:2}"; do a+=(-e "s|@$n@|${!n}|g"); done
  sed "${a[@]}" "$1"
}
dir() { mkdir -p "$PEERS_STATE/$1"; echo "$PEERS_STATE/$1"; }
tail_die() { tail -n 8 "$1" >&2 || true; die "$2 did not start (log: $1)"; }

# ---- install ---------------------------------------------------------------------------------------------
install() {
  # chromium (+ its driver, for anyone driving it by WebDriver) is the browser of the admin page's test.
  local pkgs=(snmpd snmp snmpsim python3 python3-pymodbus python3-serial-asyncio socat mbpoll avahi-daemon avahi-utils dbus
              chromium chromium-driver
              iproute2 rabbitmq-server openssl util-linux) missing=() p
  command -v node > /dev/null || pkgs+=(nodejs)
  command -v npm > /dev/null || pkgs+=(npm)
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    # Package scripts must start nothing: avahi-daemon would multicast on the real network and RabbitMQ
    # would listen on every address. A policy-rc.d that says 101 forbids it, for the time of the install.
    local prc=/usr/sbin/policy-rc.d
    [ ! -e $prc ] || mv $prc $prc.edgegw-saved
    trap "rm -f $prc; [ ! -e $prc.edgegw-saved ] || mv $prc.edgegw-saved $prc" EXIT
    printf '#!/bin/sh\nexit 101\n' > $prc && chmod 755 $prc
    export DEBIAN_FRONTEND=noninteractive
    apt-get -qq -o DPkg::Lock::Timeout=300 update
    apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" > /dev/null
  fi
  local d; d=$(dir rhea) # the broker's npm packages, pinned by our lock file
  if ! cmp -s "$KIT/package-lock.json" "$d/package-lock.json" || [ ! -d "$d/node_modules/rhea" ]; then
    cp "$KIT/package.json" "$KIT/package-lock.json" "$d/"
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error > /dev/null)
    say "npm packages in $d/node_modules"
  fi
}

# ---- the test PKI (openssl): keys unencrypted and world-readable, for tests only ------------------------
pki() {
  local d; d=$(dir pki)
  if [ ! -s "$d/wronghost-server.pem" ]; then
    local w san=DNS:localhost,IP:127.0.0.1,IP:::1
    w=$(mktemp -d)
    newca() { openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" -keyout "$d/$1.key" -out "$d/$1.pem" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2> /dev/null; }
    csr() { # csr NAME CN USAGE [SAN]: a key, its request and the extensions its certificate gets
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$d/$1.key" -out "$w/$1.csr" 2> /dev/null
      printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' \
        "$3" "${4:+subjectAltName=$4}" > "$w/$1.ext"
    }
    leaf() { # leaf NAME CN CA USAGE [SAN]
      csr "$1" "$2" "$4" "${5:-}"
      openssl x509 -req -in "$w/$1.csr" -CA "$d/$3.pem" -CAkey "$d/$3.key" -CAcreateserial -CAserial "$w/$3.srl" \
        -days 3650 -sha256 -extfile "$w/$1.ext" -out "$d/$1.pem" 2> /dev/null
    }
    newca ca edgegw-peers-test-ca
    newca rogue-ca edgegw-peers-rogue-ca
    leaf server localhost ca serverAuth "$san"
    leaf client gateway ca clientAuth
    leaf wronghost-server wrong-host.invalid ca serverAuth DNS:wrong-host.invalid
    leaf rogue-server localhost rogue-ca serverAuth "$san"
    leaf rogue-client gateway rogue-ca clientAuth
    # Valid 2020-01-01..2021-01-01: in OpenSSL 3.0 only 'openssl ca' sets both dates.
    csr expired-server localhost serverAuth "$san"
    touch "$w/index"; echo 01 > "$w/serial"
    printf '[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index\nnew_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
      "$w" "$w" "$w" > "$w/ca.cnf"
    openssl ca -batch -notext -config "$w/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" -in "$w/expired-server.csr" \
      -startdate 20200101000000Z -enddate 20210101000000Z -extfile "$w/expired-server.ext" -out "$d/expired-server.pem" 2> /dev/null
    rm -rf "$w"
    chmod 644 "$d"/*
    say "test PKI made in $d"
  fi
  local keys=(PEERS_CA="$d/ca.pem" PEERS_CA_KEY="$d/ca.key" PEERS_TLS_SERVER_NAME=localhost PEERS_CLIENT_CN=gateway
              PEERS_ROGUE_CA="$d/rogue-ca.pem") n k
  for n in server client rogue-server rogue-client expired-server wronghost-server; do
    k=${n^^}; k=PEERS_${k//-/_}
    keys+=("${k}_CERT=$d/$n.pem" "${k}_KEY=$d/$n.key")
  done
  publish "$d" "${keys[@]}"
}

# ---- snmpd: net-snmp on udp 127.0.0.1:$SNMPD_PORT, as nobody ------------------------------------------------
start_snmpd() {
  local d; d=$(dir snmpd)
  port_free udp "$SNMPD_PORT"
  rm -rf "$d/var" && mkdir "$d/var" # no persistent state from an earlier run: the v3 users are made anew
  fill "$KIT/snmpd.conf" SNMPD_PORT > "$d/snmpd.conf"
  : > "$d/snmpd.log"; chown -R nobody:nogroup "$d"
  # -C: only our file; no smux (tcp 199) and none of the modules that only fill the log. It forks.
  "${NOBODY[@]}" env SNMP_PERSISTENT_DIR="$d/var" MIBS= /usr/sbin/snmpd -C -c "$d/snmpd.conf" -Lf "$d/snmpd.log" \
    -p "$d/snmpd.pid" -I -smux,mteTrigger,mteTriggerConf
  up() { listening udp "$SNMPD_PORT" && alive "$d/snmpd.pid" snmpd; }
  wait_until 10 up || tail_die "$d/snmpd.log" snmpd
  publish "$d" PEERS_SNMPD_ADDR="127.0.0.1:$SNMPD_PORT" PEERS_SNMPD_RO_COMMUNITY=public PEERS_SNMPD_RW_COMMUNITY=private \
    PEERS_SNMPD_V3_USER=gwuser PEERS_SNMPD_V3_USER256=gwuser256 PEERS_SNMPD_V3_AUTH_PROTO=SHA \
    PEERS_SNMPD_V3_AUTH_PASS=authpass123 PEERS_SNMPD_V3_PRIV_PROTO=AES PEERS_SNMPD_V3_PRIV_PASS=privpass123 \
    PEERS_SNMPD_LOG="$d/snmpd.log"
}
stop_snmpd() { kill_pid "$PEERS_STATE/snmpd/snmpd.pid" snmpd; }

# ---- snmpsim: recordings replayed on udp 127.0.0.1:$SNMPSIM_PORT, as nobody ---------------------------------
# The community (and the v3 context) is a recording's file name. The served copy has OID values of one arc
# ('|6|0', which snmpsim 0.4.5 cannot encode and never answers) written as '|6|0.0'.
start_snmpsim() {
  local d; d=$(dir snmpsim)
  port_free udp "$SNMPSIM_PORT"
  rm -rf "$d/data" "$d/cache" && mkdir "$d/data" "$d/cache"
  cp "$SNMPSIM_DATA"/*.snmprec "$d/data/" || die "no recordings in $SNMPSIM_DATA"
  sed -i -E 's/^([^|]+)\|6\|0(\r?)$/\1|6|0.0\2/' "$d/data"/*.snmprec
  : > "$d/snmpsimd.log"; chown -R nobody:nogroup "$d"
  "${NOBODY[@]}" /usr/bin/snmpsimd --data-dir="$d/data" --cache-dir="$d/cache" \
    --agent-udpv4-endpoint="127.0.0.1:$SNMPSIM_PORT" --v3-user=simuser --v3-auth-key=authpass123 --v3-auth-proto=SHA \
    --v3-priv-key=privpass123 --v3-priv-proto=AES --logging-method="file:$d/snmpsimd.log" >> "$d/snmpsimd.log" 2>&1 &
  echo $! > "$d/snmpsimd.pid"
  up() { listening udp "$SNMPSIM_PORT" && alive "$d/snmpsimd.pid" snmpsimd; }
  wait_until 60 up || tail_die "$d/snmpsimd.log" snmpsimd
  publish "$d" PEERS_SNMPSIM_ADDR="127.0.0.1:$SNMPSIM_PORT" PEERS_SNMPSIM_DATA="$d/data" PEERS_SNMPSIM_V3_USER=simuser \
    PEERS_SNMPSIM_V3_AUTH_PROTO=SHA PEERS_SNMPSIM_V3_AUTH_PASS=authpass123 PEERS_SNMPSIM_V3_PRIV_PROTO=AES \
    PEERS_SNMPSIM_V3_PRIV_PASS=privpass123 PEERS_SNMPSIM_LOG="$d/snmpsimd.log"
}
stop_snmpsim() { kill_pid "$PEERS_STATE/snmpsim/snmpsimd.pid" snmpsimd; }

# ---- modbus: modbus_server.py (pymodbus) on tcp 127.0.0.1:$MODBUS_PORT, as nobody ---------------------------
start_modbus() {
  local d; d=$(dir modbus)
  port_free tcp "$MODBUS_PORT"
  cp "$KIT/modbus_server.py" "$d/" # nobody may not be able to read the repository
  "${NOBODY[@]}" "$PY" "$d/modbus_server.py" --port "$MODBUS_PORT" > "$d/modbus.log" 2>&1 &
  echo $! > "$d/modbus.pid"
  up() { listening tcp "$MODBUS_PORT" && alive "$d/modbus.pid" modbus_server.py; }
  wait_until 15 up || tail_die "$d/modbus.log" "modbus server"
  publish "$d" PEERS_MODBUS_ADDR="127.0.0.1:$MODBUS_PORT" PEERS_MODBUS_REGS= PEERS_MODBUS_VENDOR=ACME \
    PEERS_MODBUS_PRODUCT=DP55 PEERS_MODBUS_REVISION=4.2.1 PEERS_MODBUS_SERVER="$KIT/modbus_server.py" PEERS_PYTHON="$PY" \
    PEERS_MODBUS_LOG="$d/modbus.log"
}
stop_modbus() { kill_pid "$PEERS_STATE/modbus/modbus.pid" modbus_server.py; }

# ---- avahi: avahi-daemon in namespace $MDNS_NETNS_SERVER, joined by a veth pair to $MDNS_NETNS ---------------
# Both veth ends are made inside the namespaces, so multicast never reaches a real interface. The tests run
# in $MDNS_NETNS. avahi gets a mount namespace of its own, where /etc/avahi/services and /run are ours (a
# system avahi is neither read nor disturbed), and a D-Bus system bus of its own, for avahi-publish:
#   DBUS_SYSTEM_BUS_ADDRESS=$PEERS_MDNS_DBUS avahi-publish -s NAME _x._tcp PORT k=v
start_avahi() {
  local d ns; d=$(dir mdns)
  for ns in "$MDNS_NETNS_SERVER" "$MDNS_NETNS"; do
    if [ -e "/run/netns/$ns" ]; then # ours from a crash, or someone else's
      grep -qsx "$ns" "$d/netns" || die "network namespace $ns exists and is not ours: set MDNS_NETNS/MDNS_NETNS_SERVER"
      ip netns delete "$ns"
    fi
    ip netns add "$ns" && echo "$ns" >> "$d/netns"
    ip -n "$ns" link set lo up
  done
  ip -n "$MDNS_NETNS_SERVER" link add "$MDNS_IFACE_SERVER" type veth peer name "$MDNS_IFACE" netns "$MDNS_NETNS"
  local pair
  for pair in "$MDNS_NETNS_SERVER $MDNS_IFACE_SERVER $MDNS_ADDR_SERVER" "$MDNS_NETNS $MDNS_IFACE $MDNS_ADDR"; do
    set -- $pair
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" link set "$2" up multicast on
    ip -n "$1" route add 224.0.0.0/4 dev "$2" # no default route in there: multicast goes to the veth
  done
  rm -rf "$d/services" "$d/dbus" && mkdir -p "$d/services" "$d/dbus"
  cp "$KIT"/mdns/*.service "$d/services/"
  chmod 755 "$d" "$d/services"; chmod 644 "$d/services"/*
  fill "$KIT/avahi-daemon.conf" MDNS_IFACE_SERVER > "$d/avahi-daemon.conf"
  local bus=unix:path=$d/dbus/system_bus_socket
  dbus-daemon --config-file=/usr/share/dbus-1/system.conf --address="$bus" --nopidfile --nosyslog --fork \
    --print-pid > "$d/dbus.pid"
  # ip netns exec, unshare and sh each exec the next: $! is avahi-daemon's PID (it stays in the foreground).
  : > "$d/avahi.log"
  ip netns exec "$MDNS_NETNS_SERVER" unshare --mount --propagation private sh -c '
    mount -t tmpfs -o mode=755 edgegw-peers /run && mkdir /run/avahi-daemon &&
    mount --bind "$1" /etc/avahi/services &&
    DBUS_SYSTEM_BUS_ADDRESS=$2 exec avahi-daemon -f "$3" --no-chroot --no-rlimits' \
    sh "$d/services" "$bus" "$d/avahi-daemon.conf" >> "$d/avahi.log" 2>&1 &
  echo $! > "$d/avahi.pid"
  local want; want=$(ls "$d/services" | wc -l)
  up() { [ "$(grep -c 'successfully established' "$d/avahi.log")" -ge "$want" ] && alive "$d/avahi.pid" avahi-daemon; }
  wait_until 20 up || tail_die "$d/avahi.log" avahi-daemon
  publish "$d" PEERS_MDNS_NETNS="$MDNS_NETNS" PEERS_MDNS_IFACE="$MDNS_IFACE" PEERS_MDNS_ADDR="$MDNS_ADDR" \
    PEERS_MDNS_SERVER_NETNS="$MDNS_NETNS_SERVER" PEERS_MDNS_SERVER_IFACE="$MDNS_IFACE_SERVER" \
    PEERS_MDNS_SERVER_ADDR="$MDNS_ADDR_SERVER" PEERS_MDNS_HOSTNAME=display-01 PEERS_MDNS_SERVICES_DIR="$d/services" \
    PEERS_MDNS_DBUS="$bus" PEERS_MDNS_LOG="$d/avahi.log"
}
stop_avahi() {
  local d=$PEERS_STATE/mdns ns
  kill_pid "$d/avahi.pid" avahi-daemon
  kill_pid "$d/dbus.pid" dbus-daemon
  while read -r ns; do # only the namespaces we made
    [ ! -e "/run/netns/$ns" ] || { ip netns delete "$ns"; say "deleted network namespace $ns"; }
  done < <(cat "$d/netns" 2>/dev/null)
  rm -f "$d/netns"
}

# ---- rabbitmq: RabbitMQ 3.x with the AMQP 1.0 plugin, as user rabbitmq, on 127.0.0.1 only ----------------
#   amqps :$AMQPS_PORT (client certificate required; SASL EXTERNAL as its CN, or PLAIN), amqp :$AMQP_PORT
#   our own epmd on :$RABBIT_EPMD_PORT, Erlang distribution on :$RABBIT_DIST_PORT, rabbitmqctl on $RABBIT_CLI_PORTS
# Users: gwuser/gwpass (PLAIN), gateway (EXTERNAL), guest (ANONYMOUS). Queues persist in $PEERS_STATE/rabbitmq.
rabbit_env() {
  local r=$PEERS_STATE/rabbitmq
  export HOME=$r/home RABBITMQ_NODENAME=$RABBIT_NODENAME RABBITMQ_CONF_ENV_FILE=/dev/null \
    RABBITMQ_CONFIG_FILE=$r/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$r/advanced.config \
    RABBITMQ_ENABLED_PLUGINS_FILE=$r/enabled_plugins RABBITMQ_MNESIA_BASE=$r/mnesia RABBITMQ_LOG_BASE=$r/log \
    RABBITMQ_PID_FILE=$r/rabbitmq.pid ERL_CRASH_DUMP=$r/log/erl_crash.dump \
    ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$RABBIT_EPMD_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT \
    RABBITMQ_CTL_DIST_PORT_MIN=${RABBIT_CLI_PORTS%-*} RABBITMQ_CTL_DIST_PORT_MAX=${RABBIT_CLI_PORTS#*-} \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}
start_rabbitmq() {
  local r; r=$(dir rabbitmq)
  rabbit_env
  port_free tcp "$AMQPS_PORT" "$AMQP_PORT" "$RABBIT_DIST_PORT" "$RABBIT_EPMD_PORT"
  mkdir -p "$r/mnesia" "$r/log" "$r/home"
  [ -s "$r/home/.erlang.cookie" ] || openssl rand -hex 16 > "$r/home/.erlang.cookie"
  chmod 400 "$r/home/.erlang.cookie"
  local PKI=$PEERS_STATE/pki DIR=$r
  fill "$KIT/rabbitmq.conf" AMQP_PORT AMQPS_PORT PKI DIR > "$r/rabbitmq.conf"
  echo '[rabbitmq_amqp1_0,rabbitmq_auth_mechanism_ssl].' > "$r/enabled_plugins"
  # Users, loaded at each boot. A password hash is base64(salt + sha256(salt + password)), salt 4 bytes.
  "$PY" -c 'import base64, hashlib, json, os
def user(name, pw, tags=""):
    salt = os.urandom(4)
    h = base64.b64encode(salt + hashlib.sha256(salt + pw.encode()).digest()).decode() if pw else ""
    return {"name": name, "password_hash": h, "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags}
users = [user("gwuser", "gwpass"), user("gateway", ""), user("guest", "guest", "administrator")]
print(json.dumps({"vhosts": [{"name": "/"}], "users": users, "permissions": [
    {"user": u["name"], "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"} for u in users]}))' \
    > "$r/definitions.json"
  chown -R rabbitmq:rabbitmq "$r"
  cd "$r"
  "${RABBIT[@]}" epmd -address 127.0.0.1 -port "$RABBIT_EPMD_PORT" > "$r/log/epmd.log" 2>&1 &
  echo $! > "$r/epmd.pid"
  wait_until 5 listening tcp "$RABBIT_EPMD_PORT" || tail_die "$r/log/epmd.log" epmd
  rm -f "$r/rabbitmq.pid" # rabbitmqctl wait must not read a PID from an earlier life
  "${RABBIT[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server > "$r/log/stdout.log" 2>&1 &
  "${RABBIT[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl wait --timeout 120 "$r/rabbitmq.pid" > "$r/log/wait.log" 2>&1 \
    && wait_until 10 listening tcp "$AMQPS_PORT" || tail_die "$r/log/stdout.log" RabbitMQ
  printf '#!/bin/sh\n# rabbitmqctl for the peers RabbitMQ node, e.g. list_queues name messages\nexec env %s %s rabbitmqctl "$@"\n' \
    "PEERS_STATE=$PEERS_STATE RABBIT_NODENAME=$RABBIT_NODENAME RABBIT_EPMD_PORT=$RABBIT_EPMD_PORT RABBIT_CLI_PORTS=$RABBIT_CLI_PORTS" \
    "$KIT/peers.sh" > "$r/rabbitmqctl"
  chmod 755 "$r/rabbitmqctl"
  publish "$r" PEERS_AMQPS_URL="amqps://127.0.0.1:$AMQPS_PORT" PEERS_AMQP_URL="amqp://127.0.0.1:$AMQP_PORT" \
    PEERS_RABBIT_USER=gwuser PEERS_RABBIT_PASS=gwpass PEERS_RABBIT_EXTERNAL_USER=gateway PEERS_RABBIT_VHOST=/ \
    PEERS_RABBIT_NODE="$RABBIT_NODENAME" PEERS_RABBITMQCTL="$r/rabbitmqctl" PEERS_RABBIT_LOG_DIR="$r/log"
}
stop_rabbitmq() {
  local r=$PEERS_STATE/rabbitmq
  rabbit_env
  if alive "$r/rabbitmq.pid" beam; then # a clean stop keeps the queues; a kill after 60 s if it hangs
    local p; p=$(pid_in "$r/rabbitmq.pid")
    (cd "$r" && timeout 60 "${RABBIT[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl stop "$r/rabbitmq.pid" > /dev/null 2>&1) || true
    # RabbitMQ deletes its pid file while it still holds its ports: wait for the process itself.
    echo "$p" > "$r/rabbitmq.pid"
    wait_until 30 gone "$r/rabbitmq.pid" beam && say "stopped RabbitMQ (pid $p)"
  fi
  kill_pid "$r/rabbitmq.pid" beam
  kill_pid "$r/epmd.pid" epmd
}

# ---- rhea: an AMQP 1.0 broker on npm rhea (rhea-broker.js), as nobody; the peer with AMQP over WebSocket --
#   amqps :$RHEA_AMQPS_PORT (client certificate required)  amqp :$RHEA_AMQP_PORT
#   ws :$WS_PORT  wss :$WSS_PORT (client certificate required), subprotocol "amqp"
#   amqps with a bad server certificate and no client certificate asked, for refusal tests:
#   expired :$RHEA_EXPIRED_PORT, wrong host name :$RHEA_WRONGHOST_PORT, unknown CA :$RHEA_ROGUE_PORT
start_rhea() {
  local d; d=$(dir rhea)
  [ -d "$d/node_modules/rhea" ] && [ -d "$d/node_modules/ws" ] || die "rhea's npm packages are missing: peers.sh install"
  local ports=("$RHEA_AMQPS_PORT" "$RHEA_AMQP_PORT" "$WS_PORT" "$WSS_PORT" "$RHEA_EXPIRED_PORT" "$RHEA_WRONGHOST_PORT" "$RHEA_ROGUE_PORT")
  port_free tcp "${ports[@]}"
  cp "$KIT/rhea-broker.js" "$d/" # beside its node_modules
  "${NOBODY[@]}" env PKI="$PEERS_STATE/pki" AMQPS_PORT="$RHEA_AMQPS_PORT" AMQP_PORT="$RHEA_AMQP_PORT" WS_PORT="$WS_PORT" \
    WSS_PORT="$WSS_PORT" EXPIRED_PORT="$RHEA_EXPIRED_PORT" WRONGHOST_PORT="$RHEA_WRONGHOST_PORT" ROGUE_PORT="$RHEA_ROGUE_PORT" \
    node "$d/rhea-broker.js" > "$d/rhea.log" 2>&1 &
  echo $! > "$d/rhea.pid"
  up() { local p; for p in "${ports[@]}"; do listening tcp "$p" || return 1; done; alive "$d/rhea.pid" broker.js; }
  wait_until 15 up || tail_die "$d/rhea.log" "rhea broker"
  publish "$d" PEERS_RHEA_AMQPS_URL="amqps://127.0.0.1:$RHEA_AMQPS_PORT" PEERS_RHEA_AMQP_URL="amqp://127.0.0.1:$RHEA_AMQP_PORT" \
    PEERS_WS_URL="ws://127.0.0.1:$WS_PORT" PEERS_WSS_URL="wss://127.0.0.1:$WSS_PORT" PEERS_RHEA_USER=gwuser PEERS_RHEA_PASS=gwpass \
    PEERS_AMQPS_EXPIRED_URL="amqps://127.0.0.1:$RHEA_EXPIRED_PORT" PEERS_AMQPS_WRONGHOST_URL="amqps://127.0.0.1:$RHEA_WRONGHOST_PORT" \
    PEERS_AMQPS_ROGUE_URL="amqps://127.0.0.1:$RHEA_ROGUE_PORT" PEERS_RHEA_LOG="$d/rhea.log"
}
stop_rhea() { kill_pid "$PEERS_STATE/rhea/rhea.pid" broker.js; }

# ---- verbs -----------------------------------------------------------------------------------------------
declare -A DIR=([snmpd]=snmpd [snmpsim]=snmpsim [modbus]=modbus [avahi]=mdns [rabbitmq]=rabbitmq [rhea]=rhea)
declare -A PIDFILE=([snmpd]=snmpd.pid:snmpd [snmpsim]=snmpsimd.pid:snmpsimd [modbus]=modbus.pid:modbus_server.py
                    [avahi]=avahi.pid:avahi-daemon [rabbitmq]=rabbitmq.pid:beam [rhea]=rhea.pid:broker.js)
known() { local p; for p; do [ -n "${DIR[$p]:-}" ] || die "no peer '$p' (peers: ${PEERS[*]})"; done; }
running() {
  known "$1"
  local f=${PIDFILE[$1]}
  alive "$PEERS_STATE/${DIR[$1]}/${f%%:*}" "${f#*:}"
}
start() {
  local p; [ $# -gt 0 ] || set -- "${PEERS[@]}"
  known "$@"
  local d=$PEERS_STATE
  [[ $d =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "PEERS_STATE must be an absolute path without spaces: '$d'"
  while d=$(dirname "$d"); [ "$d" != / ]; do # the daemons run as other users and must get through
    [ ! -e "$d" ] || [ $((8#$(stat -c %a "$d") & 1)) = 1 ] || die "$d is not world-traversable: choose another PEERS_STATE"
  done
  mkdir -p "$PEERS_STATE" && chmod 755 "$PEERS_STATE"
  pki
  BOOT= # RabbitMQ booting in the background: on a failure it finishes first, so that stop finds its PID
  trap '[ -z "$BOOT" ] || wait "$BOOT" || true' EXIT
  for p; do
    if running "$p"; then # republish its keys (PEERS_KIT becomes this kit)
      local f=$PEERS_STATE/${DIR[$p]}/env
      [ ! -f "$f" ] || publish "${f%/env}" $(grep -v '^PEERS_\(STATE\|KIT\)=' "$f")
      say "$p is running"
    elif [ "$p" = rabbitmq ]; then # the slow one (5-20 s) boots while the others start
      start_rabbitmq > "$PEERS_STATE/rabbitmq-start.log" 2>&1 &
      BOOT=$!
    else
      start_"$p"; say "$p started"
    fi
  done
  if [ -n "$BOOT" ]; then
    wait "$BOOT" || { cat "$PEERS_STATE/rabbitmq-start.log" >&2; BOOT=; die "RabbitMQ did not start"; }
    BOOT=; say "rabbitmq started"
  fi
  say "peers running; their keys are in $ENVF"
}
stop() {
  local p rc=0; [ $# -gt 0 ] || set -- rhea rabbitmq avahi modbus snmpsim snmpd
  known "$@"
  for p; do
    stop_"$p" || rc=1
    unpublish "$PEERS_STATE/${DIR[$p]}"
  done
  return $rc
}

[ $# -gt 0 ] || { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
verb=$1; shift
case $verb in
  list) printf '%s\n' "${PEERS[@]}" ;;
  running) [ $# = 1 ] || die "usage: peers.sh running PEER"; running "$1" ;;
  status) for p in "${PEERS[@]}"; do if running "$p"; then say "$p running"; else say "$p stopped"; fi; done ;;
  install | start | stop)
    [ "$(id -u)" = 0 ] || die "$verb needs root"
    "$verb" "$@" ;;
  rabbitmqctl) rabbit_env; cd "$PEERS_STATE/rabbitmq"; exec "${RABBIT[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl "$@" ;;
  *) die "unknown verb '$verb' (install, start, stop, running, list, status, rabbitmqctl)" ;;
esac
