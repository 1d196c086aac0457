#!/usr/bin/env bash
# volume-cli.sh - drive block storage and the key manager of a running `rustack up`
# with the real `openstack` CLI (python-openstackclient + python-barbicanclient):
# secret store / get / list / delete, volume create / list / show / set / delete,
# volume snapshot create / show / delete, a volume from the snapshot, an encrypted
# volume type (`volume type create --encryption-provider luks ...`) and an encrypted
# volume (its key appears in the key manager and goes away with the volume),
# `server add volume` / `server remove volume`, and `server create
# --boot-from-volume`.
#
# usage: tests/e2e/volume-cli.sh [--data-dir DIR]
#
# DIR (default $RUSTACK_DATA_DIR) is the data dir of the running cloud. Works with the
# simulated compute driver (CI) and with QEMU (then pass a bootable image id in
# $E2E_IMAGE). The CLI comes from $OPENSTACK if set, else from the venv the other
# e2e scripts use (python-barbicanclient is added to it). Exit status 1 if any check
# failed; everything the test creates is deleted at the end.
set -euo pipefail

OSC_VERSION="${OSC_VERSION:-10.5.0}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
DATA_DIR="${RUSTACK_DATA_DIR:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "volume-cli: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -n "$DATA_DIR" ]] || { echo "volume-cli: pass --data-dir or set RUSTACK_DATA_DIR" >&2; exit 2; }
OPENRC="$DATA_DIR/admin-openrc.sh"
[[ -f "$OPENRC" ]] || { echo "volume-cli: $DATA_DIR lacks admin-openrc.sh" >&2; exit 2; }

if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-openstackclient"))' 2>/dev/null || true)"
  if [[ "$have" != "$OSC_VERSION" ]]; then
    echo "volume-cli: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  if ! "$VENV/bin/python" -c 'import barbicanclient' 2>/dev/null; then
    echo "volume-cli: installing python-barbicanclient into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check python-barbicanclient
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
"$OPENSTACK" --version

WORK="$(mktemp -d "${TMPDIR:-/tmp}/volume-cli.XXXXXX")"
SUFFIX="$$-$RANDOM"
VOL="e2e-vol-$SUFFIX" VOL2="e2e-vol2-$SUFFIX" EVOL="e2e-evol-$SUFFIX" SNAP="e2e-vsnap-$SUFFIX"
TYPE="e2e-luks-$SUFFIX" SECRET="e2e-secret-$SUFFIX" NET="e2e-vnet-$SUFFIX" SUBNET="e2e-vsubnet-$SUFFIX"
SERVER="e2e-vserver-$SUFFIX" BFV="e2e-bfv-$SUFFIX" IMG="e2e-vimg-$SUFFIX"
VOL_ID="" VOL2_ID="" EVOL_ID="" SNAP_ID="" TYPE_ID="" SECRET_REF="" NET_ID="" SERVER_ID="" BFV_ID=""
IMAGE_ID="" IMAGE_CREATED=""
STEP=0 FAILED=0

# shellcheck disable=SC1090
source "$OPENRC"

step() { STEP=$((STEP + 1)); echo; echo "== step $STEP: $*"; }
ok() { echo "   ok: $*"; }
report() {
  echo "   FAILED: $*" >&2
  FAILED=$((FAILED + 1))
  if [[ -s "$WORK/out" ]]; then head -c 2000 "$WORK/out" | sed 's/^/   | /' >&2; fi
  if [[ -s "$WORK/err" ]]; then
    grep -E '^(REQ|RESP|Request returned|.*HTTP [0-9]{3})' "$WORK/err" | tail -n 30 | sed 's/^/   | /' >&2 || true
    tail -n 10 "$WORK/err" | sed 's/^/   | /' >&2
  fi
}
fail() { report "$@"; exit 1; }
osc() {
  echo "   \$ openstack $*"
  "$OPENSTACK" --debug "$@" >"$WORK/out" 2>"$WORK/err"
}
field() { python3 -c "import json,sys; v=json.load(open('$WORK/out')); print(v$1)"; }
expect() { # expect WHAT GOT WANT
  if [[ "$2" == "$3" ]]; then ok "$1 = $3"; else report "$1: got '$2', want '$3'"; fi
}
listed() { # listed ID: the last `list -f json` output has a row with that ID
  python3 -c "import json; assert any(r['ID'] == '$1' for r in json.load(open('$WORK/out')))"
}
wait_volume() { # wait_volume ID WANT
  local id="$1" want="$2" got="" i
  for i in $(seq 1 300); do
    osc volume show "$id" -f json || true
    got="$(field '["status"]' 2>/dev/null || true)"
    [[ "$got" == "$want" ]] && { ok "volume $id $want"; return 0; }
    [[ "$got" == error* ]] && break
    sleep 0.2
  done
  report "volume $id never reached $want (last: $got)"
  return 1
}
wait_snapshot() { # wait_snapshot ID WANT
  local id="$1" want="$2" got="" i
  for i in $(seq 1 300); do
    osc volume snapshot show "$id" -f json || true
    got="$(field '["status"]' 2>/dev/null || true)"
    [[ "$got" == "$want" ]] && { ok "snapshot $want"; return 0; }
    [[ "$got" == error* ]] && break
    sleep 0.2
  done
  report "snapshot $id never reached $want (last: $got)"
  return 1
}
wait_server() { # wait_server ID WANT
  local id="$1" want="$2" got="" i
  for i in $(seq 1 300); do
    osc server show "$id" -f json || true
    got="$(field '["status"]' 2>/dev/null || true)"
    [[ "$got" == "$want" ]] && { ok "server $want"; return 0; }
    [[ "$got" == ERROR ]] && break
    sleep 0.2
  done
  report "server $id never reached $want (last: $got)"
  return 1
}
gone_volume() { # gone_volume ID: volume show fails within a deadline
  local i
  for i in $(seq 1 150); do
    "$OPENSTACK" volume show "$1" >/dev/null 2>&1 || { ok "volume $1 gone"; return 0; }
    sleep 0.2
  done
  report "volume $1 still shown"
  return 1
}

cleanup() {
  set +e
  [[ -n "$SERVER_ID" ]] && "$OPENSTACK" server delete --wait "$SERVER_ID" >/dev/null 2>&1
  [[ -n "$BFV_ID" ]] && "$OPENSTACK" server delete --wait "$BFV_ID" >/dev/null 2>&1
  [[ -n "$SNAP_ID" ]] && "$OPENSTACK" volume snapshot delete "$SNAP_ID" >/dev/null 2>&1
  for v in "$VOL2_ID" "$EVOL_ID" "$VOL_ID"; do
    [[ -n "$v" ]] && "$OPENSTACK" volume delete --force "$v" >/dev/null 2>&1
  done
  [[ -n "$TYPE_ID" ]] && { sleep 1; "$OPENSTACK" volume type delete "$TYPE_ID" >/dev/null 2>&1; }
  [[ -n "$SECRET_REF" ]] && "$OPENSTACK" secret delete "$SECRET_REF" >/dev/null 2>&1
  [[ -n "$IMAGE_CREATED" ]] && "$OPENSTACK" image delete "$IMAGE_ID" >/dev/null 2>&1
  [[ -n "$NET_ID" ]] && "$OPENSTACK" network delete "$NET_ID" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

step "secret store / get / list / delete"
osc secret store --name "$SECRET" --payload "e2e-payload-$SUFFIX" -f json || fail "secret store"
SECRET_REF="$(field '["Secret href"]')"
ok "secret $SECRET_REF"
osc secret get --payload "$SECRET_REF" -f json || fail "secret get --payload"
expect payload "$(field '["Payload"]')" "e2e-payload-$SUFFIX"
osc secret list --name "$SECRET" -f json || fail "secret list"
python3 -c "import json; assert any(r['Secret href'] == '$SECRET_REF' for r in json.load(open('$WORK/out')))" \
  && ok "listed" || report "secret not listed"
osc secret delete "$SECRET_REF" || fail "secret delete"
if "$OPENSTACK" secret get "$SECRET_REF" >/dev/null 2>&1; then report "secret still there"; else ok "deleted"; SECRET_REF=""; fi

step "volume create / list / show / set"
osc volume create --size 1 --property e2e=yes "$VOL" -f json || fail "volume create"
VOL_ID="$(field '["id"]')"
wait_volume "$VOL_ID" available
expect size "$(field '["size"]')" 1
osc volume list -f json || fail "volume list"
listed "$VOL_ID" && ok "listed" || report "volume not listed"
osc volume set --name "$VOL-renamed" --description "e2e volume" --property e2e2=yes "$VOL_ID" || fail "volume set"
osc volume show "$VOL_ID" -f json || fail "volume show"
expect name "$(field '["name"]')" "$VOL-renamed"
expect description "$(field '["description"]')" "e2e volume"
osc volume set --size 2 "$VOL_ID" || fail "volume set --size (extend)"
wait_volume "$VOL_ID" available
expect "size after extend" "$(field '["size"]')" 2

step "volume snapshot create / show, volume from the snapshot"
osc volume snapshot create --volume "$VOL_ID" "$SNAP" -f json || fail "volume snapshot create"
SNAP_ID="$(field '["id"]')"
wait_snapshot "$SNAP_ID" available
osc volume create --snapshot "$SNAP_ID" "$VOL2" -f json || fail "volume create --snapshot"
VOL2_ID="$(field '["id"]')"
wait_volume "$VOL2_ID" available
expect "snapshot_id" "$(field '["snapshot_id"]')" "$SNAP_ID"
osc volume delete "$VOL2_ID" || fail "volume delete (from snapshot)"
gone_volume "$VOL2_ID" && VOL2_ID=""
osc volume snapshot delete "$SNAP_ID" || fail "volume snapshot delete"
SNAP_ID=""

step "encrypted volume type and volume"
osc volume type create --encryption-provider luks --encryption-cipher aes-xts-plain64 \
  --encryption-key-size 256 --encryption-control-location front-end "$TYPE" -f json || fail "volume type create"
TYPE_ID="$(field '["id"]')"
osc volume create --size 1 --type "$TYPE" "$EVOL" -f json || fail "volume create --type (encrypted)"
EVOL_ID="$(field '["id"]')"
wait_volume "$EVOL_ID" available
expect encrypted "$(field '["encrypted"]')" True
# The volume's key id, as Nova reads it (GET /v3/volumes/{id}/encryption, any microversion).
VOLUME_API="$("$OPENSTACK" endpoint list --service block-storage --interface public -f value -c URL | head -n1 | sed 's#/v3/.*#/v3#')"
curl -fsS -H "X-Auth-Token: $("$OPENSTACK" token issue -f value -c id)" \
  "$VOLUME_API/volumes/$EVOL_ID/encryption" > "$WORK/out" || report "GET /volumes/$EVOL_ID/encryption"
KEY_ID="$(field '.get("encryption_key_id") or ""')"
expect provider "$(field '.get("provider")')" luks
[[ -n "$KEY_ID" ]] && ok "volume key $KEY_ID" || report "no encryption_key_id"
if [[ -n "$KEY_ID" ]]; then
  osc secret get "$KEY_ID" -f json && ok "its key is in the key manager" || report "key $KEY_ID not in the key manager"
fi
osc volume delete "$EVOL_ID" || fail "volume delete (encrypted)"
gone_volume "$EVOL_ID" && EVOL_ID=""
if [[ -n "$KEY_ID" ]]; then
  if "$OPENSTACK" secret get "$KEY_ID" >/dev/null 2>&1; then report "key survived its volume"; else ok "key deleted with the volume"; fi
fi
osc volume type delete "$TYPE_ID" || report "volume type delete"; TYPE_ID=""

step "a server, server add volume / remove volume"
if [[ -n "${E2E_IMAGE:-}" ]]; then
  IMAGE_ID="$E2E_IMAGE"
else
  head -c 65536 /dev/urandom > "$WORK/disk.raw"
  osc image create --disk-format raw --container-format bare --file "$WORK/disk.raw" "$IMG" -f json \
    || fail "image create"
  IMAGE_ID="$(field '["id"]')"
  IMAGE_CREATED=1
fi
osc flavor list -f json || fail "flavor list"
FLAVOR="$(python3 -c "import json; r=sorted(json.load(open('$WORK/out')), key=lambda f: (f['RAM'], f['Disk'])); print(r[0]['ID'] if r else '')")"
osc network create "$NET" -f json || fail "network create"
NET_ID="$(field '["id"]')"
osc subnet create --network "$NET_ID" --subnet-range 10.89.0.0/24 "$SUBNET" -f json || fail "subnet create"
osc server create --flavor "$FLAVOR" --image "$IMAGE_ID" --network "$NET_ID" --wait "$SERVER" -f json \
  || fail "server create"
SERVER_ID="$(field '["id"]')"
osc server add volume "$SERVER_ID" "$VOL_ID" -f json || fail "server add volume"
wait_volume "$VOL_ID" in-use
expect "attached to" "$(field '["attachments"][0]["server_id"]')" "$SERVER_ID"
osc server volume list "$SERVER_ID" -f json || fail "server volume list"
python3 -c "import json; assert any(r['Volume ID'] == '$VOL_ID' for r in json.load(open('$WORK/out')))" \
  && ok "server lists the volume" || report "server volume list lacks the volume"
if "$OPENSTACK" volume delete "$VOL_ID" >/dev/null 2>&1; then report "deleting an in-use volume was accepted"; else ok "in-use volume delete refused"; fi
osc server remove volume "$SERVER_ID" "$VOL_ID" || fail "server remove volume"
wait_volume "$VOL_ID" available
osc server delete --wait "$SERVER_ID" || report "server delete"; SERVER_ID=""

step "server create --boot-from-volume"
osc server create --flavor "$FLAVOR" --image "$IMAGE_ID" --boot-from-volume 1 --delete-on-termination --network "$NET_ID" \
  --wait "$BFV" -f json || fail "server create --boot-from-volume"
BFV_ID="$(field '["id"]')"
osc server show "$BFV_ID" -f json || fail "server show"
ROOT_VOL="$(python3 -c "import json; v=json.load(open('$WORK/out')); a=v.get('volumes_attached') or []; print(a[0]['id'] if a else '')")"
[[ -n "$ROOT_VOL" ]] && ok "root volume $ROOT_VOL" || report "no volume attached to the volume-backed server"
if [[ -n "$ROOT_VOL" ]]; then
  osc volume show "$ROOT_VOL" -f json || report "root volume show"
  expect "root volume status" "$(field '["status"]')" in-use
  expect bootable "$(field '["bootable"]' | tr A-Z a-z)" true
fi
osc server delete --wait "$BFV_ID" || report "server delete (volume-backed)"; BFV_ID=""
[[ -n "$ROOT_VOL" ]] && gone_volume "$ROOT_VOL"

step "volume delete"
osc volume delete "$VOL_ID" || fail "volume delete"
gone_volume "$VOL_ID" && VOL_ID=""

echo
if ((FAILED > 0)); then echo "volume-cli: $FAILED check(s) failed"; exit 1; fi
echo "volume-cli: all steps passed"
