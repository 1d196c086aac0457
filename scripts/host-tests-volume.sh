#!/usr/bin/env bash
# host-tests-volume.sh - block storage end to end on real guests (root, opt-in; the
# `host` phase of scripts/test.sh runs it after scripts/host-tests-compute.sh).
#
# Starts `rustack up` with the QEMU driver and the host data plane inside a test network
# namespace (as host-tests-compute.sh does), boots two test guests whose user_data says
# `volwatch=<marker>` (scripts/test-image/init-stage2: each guest writes its marker on a
# blank hot-plugged disk, reads back a marked one, and prints size changes), and checks
# through the real `openstack` CLI:
#   - a 1 GiB volume attached to guest 1 appears in it (vdb) and gets its marker; after
#     detach, attached to guest 2 it shows guest 1's marker; an online extend (3.42) is seen
#     by guest 2 as the new size;
#   - the same with a LUKS volume type: the volume file is LUKS inside qcow2 (qemu-img info),
#     the marker is not in the file's bytes, the key from `openstack secret get` opens it
#     (qemu-io reads the marker) and a wrong key does not; deleting the volume deletes its key;
#   - a server boots from a volume made from the image (the guest comes up) and deleting it
#     with delete_on_termination removes the volume;
#   - nothing is left: no volume file, no QEMU, no namespace.
# usage: sudo scripts/host-tests-volume.sh [cargo args, e.g. --locked]
#        (NO_BUILD=1 to use the existing target/release/rustack; KEEP_DATA=1 keeps the data dir)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=lib-qemu.sh
source "$(dirname "$0")/lib-qemu.sh"
cd "$RUSTACK_ROOT"
[[ $(id -u) -eq 0 ]] || { echo "host-tests-volume: needs root (namespaces, bridges, QEMU TAPs); skipped"; exit 0; }
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
"${OPENSTACK%/*}/python" -c 'import barbicanclient' 2>/dev/null \
  || "${OPENSTACK%/*}/pip" install -q python-barbicanclient
T_SETUP=$(($(date +%s) - T0))

CNS="rhv$$"
TEN_CIDR=10.232.0.0/24
PORT=15300
DATA=$(mktemp -d -t rustack-host-volume.XXXXXX)
LOG=$DATA/rustack.log
PID="" NET_ID="" IMAGE_ID="" SERVERS=() VOLUMES=() TYPE_ID="" FAILED=0 PASSED=0
NS_BEFORE=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
O() { ip netns exec "$CNS" "$OPENSTACK" "$@"; }
ok() { echo "   ok: $*"; PASSED=$((PASSED + 1)); }
bad() { echo "   FAILED: $*" >&2; FAILED=$((FAILED + 1)); }
kill_ns_pids() { local p; for p in $(ip netns pids "$1" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done; }
new_agent_ns() { comm -13 <(echo "$NS_BEFORE") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | grep -E '^q(dhcp|router)-' || true; }
cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  trap '' INT TERM
  if ((rc != 0 && FAILED == 0)); then echo "   FAILED: aborted (exit $rc; see above)" >&2; FAILED=1; fi
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    for s in "${SERVERS[@]}"; do O server delete --wait "$s" >/dev/null 2>&1; done
    for v in "${VOLUMES[@]}"; do O volume delete --force "$v" >/dev/null 2>&1; done
    [[ -n "$TYPE_ID" ]] && { sleep 1; O volume type delete "$TYPE_ID" >/dev/null 2>&1; }
    [[ -n "$IMAGE_ID" ]] && O image delete "$IMAGE_ID" >/dev/null 2>&1
    [[ -n "$NET_ID" ]] && O network delete "$NET_ID" >/dev/null 2>&1
    for _ in $(seq 1 20); do [[ -z "$(new_agent_ns)" ]] && break; sleep 0.5; done
    kill -TERM "$PID"
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
  fi
  pkill -KILL -f "qemu-system.*$DATA" 2>/dev/null
  for ns in $(new_agent_ns); do kill_ns_pids "$ns"; ip netns del "$ns"; done
  kill_ns_pids "$CNS"; ip netns del "$CNS" 2>/dev/null
  pkill -KILL -f "dnsmasq.*$DATA" 2>/dev/null
  sleep 0.3
  local left=""
  pgrep -f "qemu-system.*$DATA" >/dev/null && left+=" qemu"
  pgrep -f "dnsmasq.*$DATA" >/dev/null && left+=" dnsmasq"
  [[ -n "$(new_agent_ns)" ]] && left+=" namespaces($(new_agent_ns | tr '\n' ' '))"
  ip netns list 2>/dev/null | grep -qE "^$CNS( |$)" && left+=" test-namespace"
  if [[ -n "$left" ]]; then echo "host-tests-volume: LEFT BEHIND:$left" >&2; FAILED=$((FAILED + 1)); fi
  if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "data dir kept: $DATA"; else rm -rf "$DATA"; fi
  echo "host-tests-volume: $PASSED passed, $FAILED failed; setup ${T_SETUP}s, tests $(($(date +%s) - T0 - T_SETUP))s"
  ((FAILED == 0)) || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== namespace $CNS"
ip netns add "$CNS"
ip -n "$CNS" link set lo up
cat > "$DATA/rustack.toml" <<EOF
[compute]
driver = "qemu"
[network]
data_plane = "on"
EOF
NO_COLOR=1 ip netns exec "$CNS" target/release/rustack up --data-dir "$DATA" --config "$DATA/rustack.toml" \
  --bind 127.0.0.1 --identity-port "$PORT" --image-port $((PORT + 1)) --network-port $((PORT + 2)) \
  --placement-port $((PORT + 3)) --compute-port $((PORT + 4)) --block-storage-port $((PORT + 5)) \
  --key-manager-port $((PORT + 6)) >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 300); do grep -q '^rustack is up' "$LOG" && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
grep -q '^rustack is up' "$LOG" || { tail -n 30 "$LOG" >&2; bad "rustack up did not start"; exit 1; }
# shellcheck disable=SC1091
source "$DATA/admin-openrc.sh"
VOLDIR="$DATA/volumes"

echo "== image, network, two guests"
IMAGE_ID=$(O image create --disk-format qcow2 --container-format bare --file "$IMAGE_FILE" volimg -f value -c id)
NET_ID=$(O network create volnet -f value -c id)
O subnet create --network "$NET_ID" --subnet-range "$TEN_CIDR" volsub -f value -c id >/dev/null
M1="m1x$RANDOM" M2="m2x$RANDOM"
console() { O console log show "$1"; }
wait_console() { # SERVER REGEX [SECONDS]: the console shows a line matching REGEX
  local n="${3:-120}"
  for _ in $(seq 1 "$n"); do console "$1" | grep -qE "$2" && return 0; sleep 1; done
  return 1
}
boot() { # NAME MARKER -> server id
  printf 'volwatch=%s\n' "$2" > "$DATA/ud-$1"
  O server create --flavor 42 --image "$IMAGE_ID" --network "$NET_ID" --user-data "$DATA/ud-$1" \
    --wait "$1" -f value -c id
}
wait_vol() { # VOLUME STATUS
  local st=""
  for _ in $(seq 1 120); do
    st=$(O volume show "$1" -f value -c status); [[ "$st" == "$2" ]] && return 0
    [[ "$st" == error* ]] && break; sleep 1
  done
  bad "volume $1 never reached $2 (last $st)"; return 1
}
S1=$(boot volvm1 "$M1"); SERVERS+=("$S1")
S2=$(boot volvm2 "$M2"); SERVERS+=("$S2")
for s in "$S1" "$S2"; do
  wait_console "$s" "RUSTACK-GUEST-UP ip=10\.232" && ok "$s up" || bad "$s did not come up"
done

attach_check() { # SERVER VOLUME REGEX WHAT
  O server add volume "$1" "$2" >/dev/null || { bad "server add volume $1 $2"; return 1; }
  wait_vol "$2" in-use && ok "$2 in-use"
  wait_console "$1" "$3" 60 && ok "$4" || bad "$4: no '$3' on the console of $1"
}
detach_check() { # SERVER VOLUME
  O server remove volume "$1" "$2" >/dev/null || { bad "server remove volume $1 $2"; return 1; }
  wait_vol "$2" available && ok "$2 detached from $1 (available)"
}

echo "== plain volume: write in guest 1, read in guest 2, online extend"
V1=$(O volume create --size 1 volplain -f value -c id); VOLUMES+=("$V1")
wait_vol "$V1" available && ok "volume $V1 available"
[[ -f "$VOLDIR/$V1.qcow2" ]] && ok "its file $VOLDIR/$V1.qcow2 exists" || bad "no file for $V1 in $VOLDIR"
attach_check "$S1" "$V1" "RUSTACK-VOL-WROTE vd[b-z] $M1" "guest 1 wrote its marker on the volume"
detach_check "$S1" "$V1"
wait_console "$S1" "RUSTACK-VOL-GONE vd[b-z]" 30 && ok "guest 1 saw the disk go" || bad "guest 1 still has the disk"
attach_check "$S2" "$V1" "RUSTACK-VOL-READ vd[b-z] $M1" "guest 2 read guest 1's marker"
# Online extend is 3.42; the versions document advertises only the highest version whose
# every change is done (the CLI then refuses 3.42 itself), so ask the API directly.
VOLUME_API=$(O endpoint list --service block-storage --interface public -f value -c URL | head -n1 | sed 's#/v3/.*#/v3#')
code=$(ip netns exec "$CNS" curl -s -o "$DATA/extend.out" -w '%{http_code}' -X POST \
  -H "X-Auth-Token: $(O token issue -f value -c id)" -H "Content-Type: application/json" \
  -H "OpenStack-API-Version: volume 3.42" -d '{"os-extend": {"new_size": 2}}' "$VOLUME_API/volumes/$V1/action")
[[ "$code" == 202 ]] && ok "online extend to 2 GiB accepted" || bad "online extend: HTTP $code $(head -c 300 "$DATA/extend.out")"
wait_console "$S2" "RUSTACK-VOL-SIZE vd[b-z] 4194304" 60 && ok "guest 2 sees 2 GiB" || bad "guest 2 did not see the new size"
detach_check "$S2" "$V1"

echo "== encrypted volume"
TYPE_ID=$(O volume type create --encryption-provider luks --encryption-cipher aes-xts-plain64 \
  --encryption-key-size 256 --encryption-control-location front-end volluks -f value -c id)
V2=$(O volume create --size 1 --type volluks volenc -f value -c id); VOLUMES+=("$V2")
wait_vol "$V2" available && ok "encrypted volume $V2 available"
F2="$VOLDIR/$V2.qcow2"
qemu-img info --output=json "$F2" > "$DATA/info.json" 2>/dev/null
python3 -c "import json; i=json.load(open('$DATA/info.json')); assert i['encrypted'] and i['format-specific']['data']['encrypt']['format'] == 'luks'" \
  && ok "the file is qcow2 with LUKS encryption" || bad "the file is not LUKS-encrypted: $(head -c 400 "$DATA/info.json")"
attach_check "$S1" "$V2" "RUSTACK-VOL-WROTE vd[b-z] $M1" "guest 1 wrote its marker on the encrypted volume"
detach_check "$S1" "$V2"
wait_console "$S1" "RUSTACK-VOL-GONE vd[b-z]" 30 || true
if grep -qa "RUSTACK-MARK $M1" "$F2"; then bad "the marker is readable in the file"; else ok "the marker is not in the file's bytes"; fi
KEY_ID=$(ip netns exec "$CNS" curl -fsS -H "X-Auth-Token: $(O token issue -f value -c id)" "$VOLUME_API/volumes/$V2/encryption" \
  | python3 -c "import json,sys; print(json.load(sys.stdin).get('encryption_key_id') or '')")
[[ -n "$KEY_ID" && "$KEY_ID" != None ]] && ok "volume key $KEY_ID" || bad "no encryption_key_id"
O secret get "$KEY_ID" --file "$DATA/key.bin" --payload_content_type application/octet-stream >/dev/null 2>&1 \
  || O secret get "$KEY_ID" --file "$DATA/key.bin" >/dev/null
[[ -s "$DATA/key.bin" ]] && ok "key fetched ($(stat -c %s "$DATA/key.bin") bytes)" || bad "no key payload"
( umask 077; od -An -tx1 -v "$DATA/key.bin" | tr -d ' \n' > "$DATA/pass.txt" )
read_marker() { # PASSFILE -> qemu-io's read of sector 0
  qemu-io --object "secret,id=s0,file=$1" \
    --image-opts "driver=qcow2,file.filename=$F2,encrypt.key-secret=s0" -r -c 'read -v 0 512' 2>&1
}
# qemu-io's dump shows the marker's bytes in hex ("RUSTACK-MARK " = 52 55 ... 4b 20).
out=$(read_marker "$DATA/pass.txt" || true)
grep -q "52 55 53 54 41 43 4b 2d  *4d 41 52 4b 20" <<<"$out" \
  && ok "the key from the key manager opens the volume and shows the marker" \
  || bad "the key does not open the volume: $(head -n 3 <<<"$out")"
( umask 077; printf '00%.0s' $(seq 1 32) > "$DATA/wrong.txt" )
out=$(read_marker "$DATA/wrong.txt" || true)
grep -qi "invalid password" <<<"$out" && ok "a wrong key does not" || bad "a wrong key: $(head -n 3 <<<"$out")"
attach_check "$S2" "$V2" "RUSTACK-VOL-READ vd[b-z] $M1" "guest 2 read the marker through LUKS"
detach_check "$S2" "$V2"
O volume delete "$V2" >/dev/null && VOLUMES=("$V1")
for _ in $(seq 1 30); do O volume show "$V2" >/dev/null 2>&1 || break; sleep 1; done
[[ ! -e "$F2" ]] && ok "encrypted volume file removed" || bad "$F2 left"
O secret get "$KEY_ID" >/dev/null 2>&1 && bad "the key survived its volume" || ok "the key was deleted with the volume"
O volume type delete "$TYPE_ID" >/dev/null && TYPE_ID=""

echo "== boot from volume"
S3=$(O server create --flavor 42 --image "$IMAGE_ID" --boot-from-volume 1 --delete-on-termination --network "$NET_ID" --wait volbfv -f value -c id)
SERVERS+=("$S3")
wait_console "$S3" "RUSTACK-GUEST-UP ip=10\.232" && ok "volume-backed guest up" || bad "volume-backed guest did not come up"
RV=$(O server show "$S3" -f json | python3 -c "import json,sys; a=json.load(sys.stdin).get('volumes_attached') or []; print(a[0]['id'] if a else '')")
[[ -n "$RV" ]] && ok "root volume $RV" || bad "no root volume"
O server delete --wait "$S3" >/dev/null; SERVERS=("$S1" "$S2")
if [[ -n "$RV" ]]; then
  for _ in $(seq 1 30); do O volume show "$RV" >/dev/null 2>&1 || break; sleep 1; done
  O volume show "$RV" >/dev/null 2>&1 && bad "root volume left after delete" || ok "root volume deleted with the server"
fi

echo "== delete everything"
for s in "$S1" "$S2"; do O server delete --wait "$s" >/dev/null; done; SERVERS=()
O volume delete "$V1" >/dev/null; VOLUMES=()
# The backend's and the service's work dirs (tmp, .tmp) stay; they must be empty.
for _ in $(seq 1 30); do [[ -z "$(ls -A "$VOLDIR" 2>/dev/null | grep -vE '^\.?tmp$')" ]] && break; sleep 1; done
left="$(ls -A "$VOLDIR" 2>/dev/null | grep -vE '^\.?tmp$' || true)$(ls -A "$VOLDIR/tmp" "$VOLDIR/.tmp" 2>/dev/null | grep -v ':$' | grep . || true)"
[[ -z "$left" ]] && ok "no volume file left" || bad "left in $VOLDIR: $left"
echo
