#!/usr/bin/env bash
# host-tests-compute.sh - the compute service end to end on real guests (root, opt-in):
# starts `rustack up` with `[compute] driver = "qemu"` (TCG here) and the host data
# plane on a temp data dir, registers the test image (scripts/build-test-image.sh), boots
# two servers on one tenant network through the real `openstack` CLI and checks:
#   - both reach ACTIVE and each console shows `RUSTACK-GUEST-UP ip=<its port's IP>`
#     (DHCP from the network service) and the metadata hostname;
#   - stop → SHUTOFF (the QEMU process is gone), start and hard reboot → ACTIVE with the
#     guest up again;
#   - `server image create` gives an active snapshot;
#   - delete removes the QEMU process, the TAP and the Placement allocation.
# Everything it creates is deleted (servers, network, images) and the cloud is stopped.
# usage: sudo scripts/host-tests-compute.sh   (NO_BUILD=1 to use target/release/rustack)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[[ $(id -u) -eq 0 ]] || { echo "host-tests-compute: needs root (skipped)"; exit 0; }
command -v qemu-system-x86_64 >/dev/null || { echo "host-tests-compute: no qemu-system-x86_64 (run scripts/host-tests-virt.sh once)"; exit 1; }
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
IMAGE_FILE="${IMAGE_FILE:-$CACHE/images/rustack-test.qcow2}"
[[ -f "$IMAGE_FILE" ]] || scripts/build-test-image.sh
[[ "${NO_BUILD:-0}" == 1 ]] || cargo build --release -p rustack
OPENSTACK="${OPENSTACK:-$CACHE/venv/bin/openstack}"
[[ -x "$OPENSTACK" ]] || { python3 -m venv "$CACHE/venv"; "$CACHE/venv/bin/pip" install -q "python-openstackclient==${OSC_VERSION:-10.5.0}"; }

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
PORT=${PORT:-15200}
while ! { port_free "$PORT" && port_free $((PORT + 1)) && port_free $((PORT + 2)) \
    && port_free $((PORT + 3)) && port_free $((PORT + 4)); }; do PORT=$((PORT + 10)); done
DATA=$(mktemp -d -t rustack-host-compute.XXXXXX)
LOG=$DATA/rustack.log
PID="" NET_ID="" IMAGE_ID="" SNAP_ID="" S1="" S2="" FAILED=0
O() { "$OPENSTACK" "$@"; }
ok() { echo "   ok: $*"; }
bad() { echo "   FAILED: $*" >&2; FAILED=$((FAILED + 1)); }
cleanup() {
  set +e
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    for s in $S1 $S2; do O server delete --wait "$s" >/dev/null 2>&1; done
    [[ -n "$SNAP_ID" ]] && O image delete "$SNAP_ID" >/dev/null 2>&1
    [[ -n "$IMAGE_ID" ]] && O image delete "$IMAGE_ID" >/dev/null 2>&1
    [[ -n "$NET_ID" ]] && O network delete "$NET_ID" >/dev/null 2>&1
    sleep 2 # the network agent removes the bridge, namespace and dnsmasq
    kill -TERM "$PID"; wait "$PID" 2>/dev/null
  fi
  [[ "${KEEP_DATA:-0}" == 1 ]] && echo "data dir kept: $DATA" || rm -rf "$DATA"
}
trap cleanup EXIT

printf '[compute]\ndriver = "qemu"\n' > "$DATA/rustack.toml"
NO_COLOR=1 target/release/rustack up --data-dir "$DATA" --config "$DATA/rustack.toml" --bind 127.0.0.1 \
  --identity-port "$PORT" --image-port $((PORT + 1)) --network-port $((PORT + 2)) \
  --placement-port $((PORT + 3)) --compute-port $((PORT + 4)) >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 300); do grep -q '^rustack is up' "$LOG" && break; sleep 0.2; done
grep -q '^rustack is up' "$LOG" || { tail -n 30 "$LOG" >&2; exit 1; }
# shellcheck disable=SC1091
source "$DATA/admin-openrc.sh"

echo "== image, network"
IMAGE_ID=$(O image create --disk-format qcow2 --container-format bare --file "$IMAGE_FILE" hostimg -f value -c id)
NET_ID=$(O network create hostnet -f value -c id)
O subnet create --network "$NET_ID" --subnet-range 10.231.0.0/24 hostsub -f value -c id >/dev/null

wait_status() { # SERVER WANT
  local st=""
  for _ in $(seq 1 120); do
    st=$(O server show "$1" -f value -c status); [[ "$st" == "$2" ]] && return 0; sleep 1
  done
  bad "$1 never reached $2 (last $st)"; return 1
}
console_sum() { O console log show "$1" | md5sum | cut -d' ' -f1; }
guest_up() { # SERVER IP [SUM]: the console shows RUSTACK-GUEST-UP ip=IP (and differs from SUM)
  local want="$2" since="${3:-}"
  for _ in $(seq 1 120); do
    if O console log show "$1" | grep -q "RUSTACK-GUEST-UP ip=$want " \
      && [[ -z "$since" || "$(console_sum "$1")" != "$since" ]]; then
      return 0
    fi
    sleep 1
  done
  bad "$1: no RUSTACK-GUEST-UP ip=$want on the console"; return 1
}

echo "== boot two servers"
S1=$(O server create --flavor 42 --image "$IMAGE_ID" --network "$NET_ID" --wait hostvm1 -f value -c id)
S2=$(O server create --flavor 42 --image "$IMAGE_ID" --network "$NET_ID" --wait hostvm2 -f value -c id)
for s in "$S1" "$S2"; do
  ip=$(O port list --server "$s" -f value -c "Fixed IP Addresses" | grep -oE '10\.231\.0\.[0-9]+' | head -n1)
  [[ -n "$ip" ]] && ok "$s has port address $ip" || bad "$s has no port address"
  guest_up "$s" "$ip" && ok "$s console: RUSTACK-GUEST-UP ip=$ip (DHCP lease matches the port)"
  O console log show "$s" | grep -q "RUSTACK-METADATA hostname=" && ok "$s read its metadata" || bad "$s metadata"
  pgrep -f "qemu-system.*$s" >/dev/null && ok "$s QEMU running" || bad "$s: no QEMU process"
done

echo "== stop / start / hard reboot ($S1)"
ip1=$(O port list --server "$S1" -f value -c "Fixed IP Addresses" | grep -oE '10\.231\.0\.[0-9]+' | head -n1)
before=$(console_sum "$S1")
O server stop "$S1"; wait_status "$S1" SHUTOFF && ok SHUTOFF
pgrep -f "qemu-system.*$S1" >/dev/null && bad "QEMU still running after stop" || ok "QEMU stopped"
O server start "$S1"; wait_status "$S1" ACTIVE && ok ACTIVE
guest_up "$S1" "$ip1" "$before" && ok "guest up again after start"
before=$(console_sum "$S1")
O server reboot --hard "$S1"; sleep 1; wait_status "$S1" ACTIVE && ok "ACTIVE after hard reboot"
guest_up "$S1" "$ip1" "$before" && ok "guest up again after reboot"

echo "== snapshot"
SNAP_ID=$(O server image create --name hostsnap --wait "$S1" -f value -c id | tail -n 1)
[[ "$(O image show "$SNAP_ID" -f value -c status)" == active ]] && ok "snapshot $SNAP_ID active" || bad "snapshot not active"

echo "== delete"
for s in "$S1" "$S2"; do
  tap="tap$(O port list --server "$s" -f value -c ID | head -n1 | cut -c1-11)"
  O server delete --wait "$s"
  pgrep -f "qemu-system.*$s" >/dev/null && bad "$s: QEMU left running" || ok "$s: QEMU gone"
  ip link show "$tap" >/dev/null 2>&1 && bad "$s: $tap left" || ok "$s: $tap gone"
  code=$(curl -s -o "$DATA/alloc" -w '%{http_code}' -H "X-Auth-Token: $(O token issue -f value -c id)" \
    -H "OpenStack-API-Version: placement 1.39" "http://127.0.0.1:$((PORT + 3))/allocations/$s")
  python3 -c "import json; assert json.load(open('$DATA/alloc'))['allocations'] == {}" \
    && ok "$s: allocation gone" || bad "$s: allocation left ($code)"
done
S1="" S2=""

echo
if ((FAILED > 0)); then echo "host-tests-compute: $FAILED check(s) failed"; exit 1; fi
echo "host-tests-compute: all checks passed"
