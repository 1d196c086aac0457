#!/usr/bin/env bash
# image-cli.sh - drive the image service of a running `rustack up` with the real
# `openstack` CLI: create --file (random data, 100 MiB by default), list, show,
# save and compare byte for byte, set --property, add project / set --accept as
# the other project, delete.
#
# usage: tests/e2e/image-cli.sh [--data-dir DIR] [--size-mib N]
#
# DIR (default $RUSTACK_DATA_DIR) is the data dir of the running cloud (its
# admin-openrc.sh is used). The CLI comes from $OPENSTACK if set, else from the venv
# tests/e2e/identity-cli.sh uses ($RUSTACK_CI_CACHE/venv, python-openstackclient
# ==$OSC_VERSION), created on first use. Exit status 1 if any check failed;
# everything the test creates is deleted at the end.
set -euo pipefail

OSC_VERSION="${OSC_VERSION:-10.5.0}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
DATA_DIR="${RUSTACK_DATA_DIR:-}"
SIZE_MIB=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2;;
    --size-mib) SIZE_MIB="${2:?--size-mib needs a value}"; shift 2;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "image-cli: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -n "$DATA_DIR" ]] || { echo "image-cli: pass --data-dir or set RUSTACK_DATA_DIR" >&2; exit 2; }
OPENRC="$DATA_DIR/admin-openrc.sh"
[[ -f "$OPENRC" ]] || { echo "image-cli: $DATA_DIR lacks admin-openrc.sh" >&2; exit 2; }

if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-openstackclient"))' 2>/dev/null || true)"
  if [[ "$have" != "$OSC_VERSION" ]]; then
    echo "image-cli: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
"$OPENSTACK" --version

WORK="$(mktemp -d "${TMPDIR:-/tmp}/image-cli.XXXXXX")"
SUFFIX="$$-$RANDOM"
IMAGE="e2e-image-$SUFFIX"
PROJECT="e2e-img-project-$SUFFIX"
USER_NAME="e2e-img-user-$SUFFIX"
USER_PASSWORD="e2e-Pw-$RANDOM$RANDOM"
IMAGE_ID="" PROJECT_ID="" USER_ID=""
STEP=0 FAILED=0

# shellcheck disable=SC1090
source "$OPENRC"
AUTH_URL="$OS_AUTH_URL"

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
# osc ARGS...: runs the CLI as the current credentials, output in $WORK/out.
osc() {
  echo "   \$ openstack $*"
  "$OPENSTACK" --debug "$@" >"$WORK/out" 2>"$WORK/err"
}
# as_member ARGS...: runs the CLI as the other project's user.
as_member() {
  echo "   \$ (as $USER_NAME) openstack $*"
  env -u OS_CLOUD -u OS_CLIENT_CONFIG_FILE OS_AUTH_URL="$AUTH_URL" OS_USERNAME="$USER_NAME" \
    OS_PASSWORD="$USER_PASSWORD" OS_PROJECT_NAME="$PROJECT" OS_USER_DOMAIN_NAME=Default \
    OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 \
    "$OPENSTACK" --debug "$@" >"$WORK/out" 2>"$WORK/err"
}
field() { python3 -c "import json,sys; v=json.load(open('$WORK/out')); print(v$1)"; }
expect() { # expect WHAT GOT WANT
  if [[ "$2" == "$3" ]]; then ok "$1 = $3"; else report "$1: got '$2', want '$3'"; fi
}

cleanup() {
  set +e
  [[ -n "$IMAGE_ID" ]] && "$OPENSTACK" image delete "$IMAGE_ID" >/dev/null 2>&1
  [[ -n "$USER_ID" ]] && "$OPENSTACK" user delete "$USER_ID" >/dev/null 2>&1
  [[ -n "$PROJECT_ID" ]] && "$OPENSTACK" project delete "$PROJECT_ID" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

step "make $SIZE_MIB MiB of random data"
head -c "$((SIZE_MIB * 1048576))" /dev/urandom >"$WORK/data.img"
MD5="$(md5sum "$WORK/data.img" | cut -d' ' -f1)"
SHA512="$(sha512sum "$WORK/data.img" | cut -d' ' -f1)"
ok "md5 $MD5"

step "image create --file"
osc image create --file "$WORK/data.img" --disk-format raw --container-format bare "$IMAGE" -f json \
  || fail "image create"
IMAGE_ID="$(field '["id"]')"
expect status "$(field '["status"]')" active
expect size "$(field '["size"]')" "$((SIZE_MIB * 1048576))"
expect checksum "$(field '["checksum"]')" "$MD5"

step "image list"
osc image list -f json || fail "image list"
python3 -c "import json; assert any(i['ID'] == '$IMAGE_ID' for i in json.load(open('$WORK/out')))" \
  && ok "listed" || report "image $IMAGE_ID not listed"

step "image show"
osc image show "$IMAGE" -f json || fail "image show"
expect os_hash_algo "$(field '["properties"]["os_hash_algo"]')" sha512
expect os_hash_value "$(field '["properties"]["os_hash_value"]')" "$SHA512"

step "image save and compare"
osc image save --file "$WORK/saved.img" "$IMAGE_ID" || fail "image save"
if cmp -s "$WORK/data.img" "$WORK/saved.img"; then ok "identical bytes"; else report "saved data differs"; fi

step "image set --property"
osc image set --property e2e_key=e2e_value "$IMAGE_ID" || fail "image set"
osc image show "$IMAGE_ID" -f json || fail "image show"
expect e2e_key "$(field '["properties"]["e2e_key"]')" e2e_value

step "a second project and user"
osc project create "$PROJECT" -f json || fail "project create"
PROJECT_ID="$(field '["id"]')"
osc user create --password "$USER_PASSWORD" "$USER_NAME" -f json || fail "user create"
USER_ID="$(field '["id"]')"
osc role add --project "$PROJECT_ID" --user "$USER_ID" member || fail "role add"
ok "project $PROJECT_ID, user $USER_ID"

step "image add project"
osc image add project "$IMAGE_ID" "$PROJECT_ID" -f json || fail "image add project"
expect member_status "$(field '["status"]')" pending

step "image set --accept (as the member)"
as_member image set --accept "$IMAGE_ID" || fail "image set --accept"
as_member image list -f json || fail "image list as member"
python3 -c "import json; assert any(i['ID'] == '$IMAGE_ID' for i in json.load(open('$WORK/out')))" \
  && ok "listed for the member" || report "accepted image not listed for the member"
osc image member list "$IMAGE_ID" -f json || fail "image member list"
expect member_status "$(field '[0]["Status"]')" accepted
as_member image save --file "$WORK/member.img" "$IMAGE_ID" || fail "image save as member"
if cmp -s "$WORK/data.img" "$WORK/member.img"; then ok "member reads identical bytes"; else report "member data differs"; fi

step "image delete"
osc image delete "$IMAGE_ID" || fail "image delete"
if "$OPENSTACK" image show "$IMAGE_ID" >/dev/null 2>&1; then report "image still shown after delete"; else ok "gone"; IMAGE_ID=""; fi

echo
if ((FAILED > 0)); then echo "image-cli: $FAILED check(s) failed"; exit 1; fi
echo "image-cli: all steps passed"
