#!/usr/bin/env bash
# compute-cli.sh - drive the compute service of a running `rustack up` with the real
# `openstack` CLI: flavor list, keypair create, `server create --wait` on a fresh
# network with a small image, server list / show, console log show, server stop /
# start / reboot, server image create (snapshot to the image service) and server
# delete --wait.
#
# usage: tests/e2e/compute-cli.sh [--data-dir DIR]
#
# DIR (default $RUSTACK_DATA_DIR) is the data dir of the running cloud (its
# admin-openrc.sh is used). The cloud may run the simulated driver (CI) or QEMU: the
# image registered here is a few bytes of raw data, which the simulated driver
# accepts; with QEMU pass a bootable image id in $E2E_IMAGE. The CLI comes from
# $OPENSTACK if set, else from the venv tests/e2e/identity-cli.sh uses. Exit status 1
# if any check failed; everything the test creates is deleted at the end.
set -euo pipefail

OSC_VERSION="${OSC_VERSION:-10.5.0}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
DATA_DIR="${RUSTACK_DATA_DIR:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "compute-cli: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -n "$DATA_DIR" ]] || { echo "compute-cli: pass --data-dir or set RUSTACK_DATA_DIR" >&2; exit 2; }
OPENRC="$DATA_DIR/admin-openrc.sh"
[[ -f "$OPENRC" ]] || { echo "compute-cli: $DATA_DIR lacks admin-openrc.sh" >&2; exit 2; }

if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-openstackclient"))' 2>/dev/null || true)"
  if [[ "$have" != "$OSC_VERSION" ]]; then
    echo "compute-cli: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
"$OPENSTACK" --version

WORK="$(mktemp -d "${TMPDIR:-/tmp}/compute-cli.XXXXXX")"
SUFFIX="$$-$RANDOM"
NET="e2e-cnet-$SUFFIX" SUBNET="e2e-csubnet-$SUFFIX" KEY="e2e-key-$SUFFIX"
SERVER="e2e-server-$SUFFIX" SNAP="e2e-snap-$SUFFIX" IMG="e2e-img-$SUFFIX"
NET_ID="" SERVER_ID="" SNAP_ID="" IMAGE_ID="" IMAGE_CREATED="" KEY_CREATED=""
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
wait_status() { # wait_status WANT: poll `server show` until the status is WANT
  local want="$1" got="" i
  for i in $(seq 1 150); do
    osc server show "$SERVER_ID" -f json || true
    got="$(field '["status"]' 2>/dev/null || true)"
    [[ "$got" == "$want" ]] && { ok "status $want"; return 0; }
    sleep 0.2
  done
  report "server never reached $want (last: $got)"
  return 1
}

cleanup() {
  set +e
  [[ -n "$SERVER_ID" ]] && "$OPENSTACK" server delete --wait "$SERVER_ID" >/dev/null 2>&1
  [[ -n "$SNAP_ID" ]] && "$OPENSTACK" image delete "$SNAP_ID" >/dev/null 2>&1
  [[ -n "$IMAGE_CREATED" ]] && "$OPENSTACK" image delete "$IMAGE_ID" >/dev/null 2>&1
  [[ -n "$KEY_CREATED" ]] && "$OPENSTACK" keypair delete "$KEY" >/dev/null 2>&1
  [[ -n "$NET_ID" ]] && "$OPENSTACK" network delete "$NET_ID" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

step "flavor list"
osc flavor list -f json || fail "flavor list"
FLAVOR="$(python3 -c "import json; r=sorted(json.load(open('$WORK/out')), key=lambda f: (f['RAM'], f['Disk'])); print(r[0]['ID'] if r else '')")"
[[ -n "$FLAVOR" ]] && ok "smallest flavor $FLAVOR" || fail "no flavor"

step "keypair create"
osc keypair create "$KEY" --private-key "$WORK/key.pem" -f json || fail "keypair create"
KEY_CREATED=1
[[ -s "$WORK/key.pem" ]] && ok "private key written" || report "no private key"
expect name "$(field '["name"]')" "$KEY"

step "image"
if [[ -n "${E2E_IMAGE:-}" ]]; then
  IMAGE_ID="$E2E_IMAGE"
else
  head -c 65536 /dev/urandom > "$WORK/disk.raw"
  osc image create --disk-format raw --container-format bare --file "$WORK/disk.raw" "$IMG" -f json \
    || fail "image create"
  IMAGE_ID="$(field '["id"]')"
  IMAGE_CREATED=1
fi
ok "image $IMAGE_ID"

step "network"
osc network create "$NET" -f json || fail "network create"
NET_ID="$(field '["id"]')"
osc subnet create --network "$NET_ID" --subnet-range 10.88.0.0/24 "$SUBNET" -f json || fail "subnet create"

step "server create --wait"
osc server create --flavor "$FLAVOR" --image "$IMAGE_ID" --network "$NET_ID" --key-name "$KEY" \
  --property purpose=e2e --wait "$SERVER" -f json || fail "server create --wait"
SERVER_ID="$(field '["id"]')"
expect status "$(field '["status"]')" ACTIVE
expect key_name "$(field '["key_name"]')" "$KEY"
python3 -c "import json; v=json.load(open('$WORK/out')); a=v['addresses']; assert '$NET' in (a if isinstance(a, dict) else str(a))" \
  && ok "address on $NET" || report "no address on $NET"

step "server list / show"
osc server list -f json || fail "server list"
listed "$SERVER_ID" && ok "listed" || report "server not listed"
osc server show "$SERVER_ID" -f json || fail "server show"
expect name "$(field '["name"]')" "$SERVER"
osc server list --status ACTIVE --name "$SERVER" -f json || fail "server list --status --name"
listed "$SERVER_ID" && ok "filtered list" || report "not in the filtered list"

step "console log show"
osc console log show "$SERVER_ID" || fail "console log show"
[[ -s "$WORK/out" ]] && ok "console has $(wc -l < "$WORK/out") line(s)" || report "empty console log"

step "server stop / start / reboot"
osc server stop "$SERVER_ID" || fail "server stop"
wait_status SHUTOFF
osc server start "$SERVER_ID" || fail "server start"
wait_status ACTIVE
osc server reboot --hard "$SERVER_ID" || fail "server reboot --hard"
wait_status ACTIVE
osc server reboot "$SERVER_ID" || fail "server reboot"
wait_status ACTIVE

step "server image create --wait"
osc server image create --name "$SNAP" --wait "$SERVER_ID" -f json || fail "server image create"
SNAP_ID="$(field '["id"]')"
osc image show "$SNAP_ID" -f json || fail "image show (snapshot)"
expect snapshot_status "$(field '["status"]')" active
wait_status ACTIVE

step "server delete --wait"
osc server delete --wait "$SERVER_ID" || fail "server delete --wait"
if "$OPENSTACK" server show "$SERVER_ID" >/dev/null 2>&1; then report "server still shown after delete"; else ok "gone"; SERVER_ID=""; fi
osc port list --network "$NET_ID" --device-owner "compute:nova" -f json || fail "port list"
python3 -c "import json; assert not json.load(open('$WORK/out'))" && ok "its port is gone" || report "port left behind"

step "cleanup"
osc image delete "$SNAP_ID" || report "snapshot delete"; SNAP_ID=""
osc keypair delete "$KEY" || report "keypair delete"; KEY_CREATED=""
osc subnet delete "$SUBNET" || report "subnet delete"
osc network delete "$NET_ID" || report "network delete"; NET_ID=""

echo
if ((FAILED > 0)); then echo "compute-cli: $FAILED check(s) failed"; exit 1; fi
echo "compute-cli: all steps passed"
