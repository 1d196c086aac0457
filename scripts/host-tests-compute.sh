#!/usr/bin/env bash
# host-tests-compute.sh - the compute service end to end on real guests (root, opt-in;
# the `host` phase of scripts/test.sh runs it after scripts/host-tests.sh).
#
# Starts `rustack up` with `[compute] driver = "qemu"` (TCG here) and the host data plane
# (`data_plane = "on"`) on a temp data dir, registers the test image
# (scripts/build-test-image.sh), boots two servers on one tenant network through the real
# `openstack` CLI and checks:
#   - both reach ACTIVE and each console shows `RUSTACK-GUEST-UP ip=<its port's IP>`
#     (DHCP from the network service) and the metadata hostname;
#   - the guests ping each other (user_data `ping=<peer>` → console `RUSTACK-PING <peer> ok`);
#   - a floating IP on the external flat network reaches guest 1's HTTP server (it answers
#     its hostname) from an "outside" namespace, through the router's DNAT;
#   - stop → SHUTOFF (the QEMU process is gone), start and hard reboot → ACTIVE with the
#     guest up again;
#   - `server image create` gives an active snapshot;
#   - delete removes the QEMU process, the TAP, the DHCP lease (hosts file and dnsmasq's
#     lease database: dhcp_release) and the Placement allocation; a third server given the
#     freed address gets its lease at once (no wait for dnsmasq's old lease).
#
# Containment: the whole cloud runs inside a network namespace the test creates
# (`ip netns exec rhc<pid>`), so its bridges, TAPs, nft tables, API ports and the metadata
# API (127.0.0.1:8775) live there; the agent's qdhcp-/qrouter- namespaces hang off it. The
# external network's uplink is a veth into a second namespace (`rho<pid>`, 203.0.113.1)
# that plays "outside". Nothing is configured in the root namespace. On exit (also on
# failure or Ctrl-C) the cloud is stopped and everything the run created is removed:
# QEMU and dnsmasq processes, the agent's namespaces, both test namespaces (and with them
# every bridge, veth and nft table), the data dir. A last check reports any leftover.
#
# Installs what it needs: QEMU (bookworm-backports, scripts/lib-qemu.sh), dnsmasq,
# dnsmasq-utils, the test image (cached), python-openstackclient in a cached venv.
# usage: sudo scripts/host-tests-compute.sh [cargo args, e.g. --locked]
#        (NO_BUILD=1 to use the existing target/release/rustack; KEEP_DATA=1 keeps the data dir)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=lib-qemu.sh
source "$(dirname "$0")/lib-qemu.sh"
cd "$RUSTACK_ROOT"
[[ $(id -u) -eq 0 ]] || { echo "host-tests-compute: needs root (namespaces, bridges, QEMU TAPs); skipped"; exit 0; }
T0=$(date +%s)
apt_install iproute2 nftables dnsmasq-base dnsmasq-utils busybox-static curl genisoimage
ensure_qemu
CACHE="$RUSTACK_CI_CACHE"
IMAGE_FILE="${IMAGE_FILE:-$CACHE/images/rustack-test.qcow2}"
scripts/build-test-image.sh >/dev/null # cached: rebuilt only when the guest scripts change
[[ "${NO_BUILD:-0}" == 1 ]] || cargo build -q --release -p rustack "$@"
OPENSTACK="${OPENSTACK:-$CACHE/venv/bin/openstack}"
if [[ ! -x "$OPENSTACK" ]]; then
  ensure_python_venv
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install -q "python-openstackclient==${OSC_VERSION:-10.5.0}"
fi
T_SETUP=$(($(date +%s) - T0))

CNS="rhc$$" ONS="rho$$" UP="rhcup$$" OUT="rhoeth$$"
EXT_CIDR=203.0.113.0/24 EXT_GW=203.0.113.1
TEN_CIDR=10.231.0.0/24 IP1=10.231.0.11 IP2=10.231.0.12
PORT=15200
DATA=$(mktemp -d -t rustack-host-compute.XXXXXX)
LOG=$DATA/rustack.log
PID="" NET_ID="" EXT_ID="" ROUTER_ID="" FIP="" IMAGE_ID="" SNAP_ID="" SERVERS=() FAILED=0 PASSED=0
NS_BEFORE=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
O() { ip netns exec "$CNS" "$OPENSTACK" "$@"; }
ok() { echo "   ok: $*"; PASSED=$((PASSED + 1)); }
bad() { echo "   FAILED: $*" >&2; FAILED=$((FAILED + 1)); }
kill_ns_pids() { local p; for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; }
# Namespaces this run's agent created: qdhcp-/qrouter- namespaces that did not exist
# before (the agent holds the host's single data-plane lock, so no other cloud makes any).
new_agent_ns() { comm -13 <(echo "$NS_BEFORE") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep -E '^q(dhcp|router)-' || true; }
cleanup() {
  local rc=$?
  set +e
  # A second signal (timeout(1) signals the process and its group) must not cut the cleanup.
  trap - EXIT
  trap '' INT TERM
  if ((rc != 0 && FAILED == 0)); then echo "   FAILED: aborted (exit $rc; see above)" >&2; FAILED=1; fi
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    for s in "${SERVERS[@]}"; do O server delete --wait "$s" >/dev/null 2>&1; done
    [[ -n "$FIP" ]] && O floating ip delete "$FIP" >/dev/null 2>&1
    if [[ -n "$ROUTER_ID" ]]; then
      O router remove subnet "$ROUTER_ID" hostsub >/dev/null 2>&1
      O router unset --external-gateway "$ROUTER_ID" >/dev/null 2>&1
      O router delete "$ROUTER_ID" >/dev/null 2>&1
    fi
    [[ -n "$SNAP_ID" ]] && O image delete "$SNAP_ID" >/dev/null 2>&1
    [[ -n "$IMAGE_ID" ]] && O image delete "$IMAGE_ID" >/dev/null 2>&1
    [[ -n "$NET_ID" ]] && O network delete "$NET_ID" >/dev/null 2>&1
    for _ in $(seq 1 20); do [[ -z "$(new_agent_ns)" ]] && break; sleep 0.5; done
    kill -TERM "$PID"
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  # Whatever the cloud left (a failed run): QEMU of this data dir, the agent's
  # namespaces with their dnsmasq, then the two test namespaces with everything in them.
  pkill -KILL -f "qemu-system.*$DATA" 2>/dev/null
  for ns in $(new_agent_ns); do kill_ns_pids "$ns"; ip netns del "$ns"; done
  for ns in "$CNS" "$ONS"; do kill_ns_pids "$ns"; ip netns del "$ns" 2>/dev/null; done
  pkill -KILL -f "dnsmasq.*$DATA" 2>/dev/null
  sleep 0.3
  local left=""
  pgrep -f "qemu-system.*$DATA" >/dev/null && left+=" qemu"
  pgrep -f "dnsmasq.*$DATA" >/dev/null && left+=" dnsmasq"
  [[ -n "$(new_agent_ns)" ]] && left+=" namespaces($(new_agent_ns | tr '\n' ' '))"
  ip netns list 2>/dev/null | grep -qE "^($CNS|$ONS)( |$)" && left+=" test-namespaces"
  ip link show "$UP" >/dev/null 2>&1 && left+=" $UP"
  if [[ -n "$left" ]]; then echo "host-tests-compute: LEFT BEHIND:$left" >&2; FAILED=$((FAILED + 1)); fi
  if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "data dir kept: $DATA"; else rm -rf "$DATA"; fi
  echo "host-tests-compute: $PASSED passed, $FAILED failed; setup ${T_SETUP}s, tests $(($(date +%s) - T0 - T_SETUP))s${TIMES:-}"
  ((FAILED == 0)) || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== namespaces: cloud $CNS, outside $ONS ($EXT_GW, uplink $UP)"
ip netns add "$CNS"
ip netns add "$ONS"
ip -n "$CNS" link set lo up
ip -n "$ONS" link set lo up
ip link add "$UP" netns "$CNS" type veth peer name "$OUT" netns "$ONS"
ip -n "$CNS" link set "$UP" up
ip -n "$ONS" addr add "$EXT_GW/24" dev "$OUT"
ip -n "$ONS" link set "$OUT" up

cat > "$DATA/rustack.toml" <<EOF
[compute]
driver = "qemu"
[network]
data_plane = "on"
physical_interface_mappings = { public = "$UP" }
[network.public_network]
cidr = "$EXT_CIDR"
gateway_ip = "$EXT_GW"
EOF
NO_COLOR=1 ip netns exec "$CNS" target/release/rustack up --data-dir "$DATA" --config "$DATA/rustack.toml" \
  --bind 127.0.0.1 --identity-port "$PORT" --image-port $((PORT + 1)) --network-port $((PORT + 2)) \
  --placement-port $((PORT + 3)) --compute-port $((PORT + 4)) >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 300); do grep -q '^rustack is up' "$LOG" && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
grep -q '^rustack is up' "$LOG" || { tail -n 30 "$LOG" >&2; bad "rustack up did not start"; exit 1; }
# shellcheck disable=SC1091
source "$DATA/admin-openrc.sh"

echo "== image, networks, router, security group"
IMAGE_ID=$(O image create --disk-format qcow2 --container-format bare --file "$IMAGE_FILE" hostimg -f value -c id)
NET_ID=$(O network create hostnet -f value -c id)
O subnet create --network "$NET_ID" --subnet-range "$TEN_CIDR" hostsub -f value -c id >/dev/null
EXT_ID=$(O network show public -f value -c id)
ROUTER_ID=$(O router create hostrouter -f value -c id)
O router set --external-gateway "$EXT_ID" "$ROUTER_ID"
O router add subnet "$ROUTER_ID" hostsub
PROJECT_ID=$(O token issue -f value -c project_id)
SG=$(O security group list --project "$PROJECT_ID" -f value -c ID -c Name | awk '$2 == "default" {print $1}')
O security group rule create --protocol tcp --dst-port 80 --remote-ip 0.0.0.0/0 "$SG" >/dev/null \
  && ok "default group $SG: tcp/80 allowed in" || bad "security group rule"

wait_status() { # SERVER WANT
  local st=""
  for _ in $(seq 1 120); do
    st=$(O server show "$1" -f value -c status); [[ "$st" == "$2" ]] && return 0; sleep 1
  done
  bad "$1 never reached $2 (last $st)"; return 1
}
console() { O console log show "$1"; }
console_sum() { console "$1" | md5sum | cut -d' ' -f1; }
guest_up() { # SERVER IP [SUM]: the console shows RUSTACK-GUEST-UP ip=IP (and differs from SUM)
  local want="$2" since="${3:-}"
  for _ in $(seq 1 120); do
    if console "$1" | grep -q "RUSTACK-GUEST-UP ip=$want " \
      && [[ -z "$since" || "$(console_sum "$1")" != "$since" ]]; then
      return 0
    fi
    sleep 1
  done
  bad "$1: no RUSTACK-GUEST-UP ip=$want on the console"; return 1
}
port_ip() { O port list --server "$1" -f value -c "Fixed IP Addresses" | grep -oE '10\.231\.0\.[0-9]+' | head -n1; }
boot() { # NAME IP PEER -> server id; the guest pings PEER (user_data)
  printf 'ping=%s\n' "$3" > "$DATA/ud-$1"
  O server create --flavor 42 --image "$IMAGE_ID" --nic "net-id=$NET_ID,v4-fixed-ip=$2" \
    --user-data "$DATA/ud-$1" --wait "$1" -f value -c id
}

echo "== boot two servers"
tb=$(date +%s)
S1=$(boot hostvm1 "$IP1" "$IP2"); SERVERS+=("$S1")
S2=$(boot hostvm2 "$IP2" "$IP1"); SERVERS+=("$S2")
for s in "$S1" "$S2"; do
  ip=$(port_ip "$s")
  [[ -n "$ip" ]] && ok "$s has port address $ip" || bad "$s has no port address"
  guest_up "$s" "$ip" && ok "$s console: RUSTACK-GUEST-UP ip=$ip (DHCP lease matches the port)"
  console "$s" | grep -q "RUSTACK-METADATA hostname=hostvm" && ok "$s read its metadata" || bad "$s metadata"
  pgrep -f "qemu-system.*$s" >/dev/null && ok "$s QEMU running" || bad "$s: no QEMU process"
done
TIMES+="; two guests up in $(($(date +%s) - tb))s"

echo "== guest to guest"
for pair in "$S1 $IP2" "$S2 $IP1"; do
  read -r s peer <<<"$pair"
  r=""
  for _ in $(seq 1 70); do
    r=$(console "$s" | grep -oE "RUSTACK-PING $peer (ok|failed)" | tail -n1)
    [[ -n "$r" ]] && break; sleep 1
  done
  [[ "$r" == "RUSTACK-PING $peer ok" ]] && ok "$s pings $peer" || bad "$s cannot ping $peer (${r:-no marker})"
done

echo "== floating IP from outside"
p1=$(O port list --server "$S1" -f value -c ID | head -n1)
FIP=$(O floating ip create --port "$p1" "$EXT_ID" -f value -c floating_ip_address)
body=""
for _ in $(seq 1 30); do
  body=$(ip netns exec "$ONS" curl -s -m 3 "http://$FIP/" 2>/dev/null) && [[ "$body" == hostvm1* ]] && break
  sleep 1
done
[[ "$body" == hostvm1* ]] && ok "http://$FIP/ from $ONS answers \"$body\" (DNAT to $IP1)" \
  || bad "http://$FIP/ from $ONS: got '${body}'"
O floating ip delete "$FIP" >/dev/null && FIP=""

echo "== stop / start / hard reboot ($S1)"
before=$(console_sum "$S1")
O server stop "$S1"; wait_status "$S1" SHUTOFF && ok SHUTOFF
pgrep -f "qemu-system.*$S1" >/dev/null && bad "QEMU still running after stop" || ok "QEMU stopped"
O server start "$S1"; wait_status "$S1" ACTIVE && ok ACTIVE
guest_up "$S1" "$IP1" "$before" && ok "guest up again after start"
before=$(console_sum "$S1")
O server reboot --hard "$S1"; sleep 1; wait_status "$S1" ACTIVE && ok "ACTIVE after hard reboot"
guest_up "$S1" "$IP1" "$before" && ok "guest up again after reboot"

echo "== snapshot"
SNAP_ID=$(O server image create --name hostsnap --wait "$S1" -f value -c id | tail -n 1)
[[ "$(O image show "$SNAP_ID" -f value -c status)" == active ]] && ok "snapshot $SNAP_ID active" || bad "snapshot not active"

echo "== delete"
deleted() { # SERVER IP: QEMU, TAP, lease and allocation are gone
  local s=$1 ip=$2 port mac tap code
  port=$(O port list --server "$s" -f value -c ID | head -n1)
  mac=$(O port show "$port" -f value -c mac_address)
  tap="tap${port:0:11}"
  O server delete --wait "$s" >/dev/null
  pgrep -f "qemu-system.*$s" >/dev/null && bad "$s: QEMU left running" || ok "$s: QEMU gone"
  ip -n "$CNS" link show "$tap" >/dev/null 2>&1 && bad "$s: $tap left" || ok "$s: $tap gone"
  local hosts="$DATA/dhcp/$NET_ID/host" leases="$DATA/dhcp/$NET_ID/leases" gone=0
  for _ in $(seq 1 20); do
    grep -qi "$mac" "$hosts" 2>/dev/null || grep -qi "$mac" "$leases" 2>/dev/null || { gone=1; break; }
    sleep 0.5
  done
  ((gone)) && ok "$s: DHCP lease $ip/$mac gone (hosts file and dnsmasq's lease database)" \
    || bad "$s: lease $ip/$mac left in $(grep -li "$mac" "$hosts" "$leases" 2>/dev/null | tr '\n' ' ')"
  code=$(ip netns exec "$CNS" curl -s -o "$DATA/alloc" -w '%{http_code}' -H "X-Auth-Token: $(O token issue -f value -c id)" \
    -H "OpenStack-API-Version: placement 1.39" "http://127.0.0.1:$((PORT + 3))/allocations/$s")
  python3 -c "import json; assert json.load(open('$DATA/alloc'))['allocations'] == {}" 2>/dev/null \
    && ok "$s: allocation gone" || bad "$s: allocation left ($code)"
}
deleted "$S2" "$IP2"
echo "== a new server on the freed address $IP2"
tb=$(date +%s)
S3=$(boot hostvm3 "$IP2" "$IP1"); SERVERS+=("$S3")
tactive=$(($(date +%s) - tb))
if guest_up "$S3" "$IP2"; then
  tup=$(($(date +%s) - tb))
  lease=$(console "$S3" | grep -oE 'RUSTACK-GUEST-UP .* uptime=[0-9.]+' | tail -n1 | grep -oE '[0-9.]+$')
  # With dnsmasq still holding hostvm2's lease the new MAC was refused for ~17 s.
  awk -v u="${lease:-99}" 'BEGIN { exit !(u < 15) }' \
    && ok "$S3 got $IP2 again at once: ACTIVE after ${tactive}s, guest up after ${tup}s (guest uptime ${lease}s)" \
    || bad "$S3 got $IP2 only after guest uptime ${lease}s (old lease not released?)"
  TIMES+="; freed-address guest up ${tup}s after create"
fi
deleted "$S1" "$IP1"
deleted "$S3" "$IP2"
SERVERS=()
echo
