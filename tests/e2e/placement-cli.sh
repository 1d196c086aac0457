#!/usr/bin/env bash
# placement-cli.sh - drive the placement service of a running `rustack up` with the
# real `openstack` CLI and its osc-placement plugin: resource class list, trait
# list, resource provider create/list/show, inventory set/list, trait set,
# allocation candidate list, allocation set/show, usage show, and delete (refused
# while allocations exist, then done).
#
# usage: tests/e2e/placement-cli.sh [--data-dir DIR]
#
# DIR (default $RUSTACK_DATA_DIR) is the data dir of the running cloud (its
# admin-openrc.sh is used). The CLI comes from $OPENSTACK if set, else from the venv
# tests/e2e/identity-cli.sh uses ($RUSTACK_CI_CACHE/venv, python-openstackclient
# ==$OSC_VERSION) with osc-placement==$OSC_PLACEMENT_VERSION added on first use.
# Exit status 1 if any check failed; everything the test creates is deleted.
set -euo pipefail

OSC_VERSION="${OSC_VERSION:-10.5.0}"
OSC_PLACEMENT_VERSION="${OSC_PLACEMENT_VERSION:-4.9.1}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
DATA_DIR="${RUSTACK_DATA_DIR:-}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "placement-cli: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -n "$DATA_DIR" ]] || { echo "placement-cli: pass --data-dir or set RUSTACK_DATA_DIR" >&2; exit 2; }
OPENRC="$DATA_DIR/admin-openrc.sh"
[[ -f "$OPENRC" ]] || { echo "placement-cli: $DATA_DIR lacks admin-openrc.sh" >&2; exit 2; }

if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  version_of() { "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
  if [[ "$(version_of python-openstackclient)" != "$OSC_VERSION" ]]; then
    echo "placement-cli: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  if [[ "$(version_of osc-placement)" != "$OSC_PLACEMENT_VERSION" ]]; then
    echo "placement-cli: installing osc-placement==$OSC_PLACEMENT_VERSION into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "osc-placement==$OSC_PLACEMENT_VERSION"
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
"$OPENSTACK" --version

WORK="$(mktemp -d "${TMPDIR:-/tmp}/placement-cli.XXXXXX")"
SUFFIX="$$-$RANDOM"
RP_NAME="e2e-compute-$SUFFIX"
CHILD_NAME="e2e-numa0-$SUFFIX"
RP="" CHILD=""
CONSUMER="$(python3 -c 'import uuid; print(uuid.uuid4())')"
STEP=0 FAILED=0

# shellcheck disable=SC1090
source "$OPENRC"
# Microversion 1.39 (osc-placement's newest): nested providers, consumer types.
export OS_PLACEMENT_API_VERSION=1.39

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

cleanup() {
  set +e
  "$OPENSTACK" resource provider allocation delete "$CONSUMER" >/dev/null 2>&1
  [[ -n "$CHILD" ]] && "$OPENSTACK" resource provider delete "$CHILD" >/dev/null 2>&1
  [[ -n "$RP" ]] && "$OPENSTACK" resource provider delete "$RP" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

step "resource class list"
osc resource class list -f json || fail "resource class list"
for rc in VCPU MEMORY_MB DISK_GB PCI_DEVICE SRIOV_NET_VF IPV4_ADDRESS VGPU; do
  python3 -c "import json; assert any(c['name'] == '$rc' for c in json.load(open('$WORK/out')))" \
    && ok "$rc listed" || report "$rc not listed"
done

step "trait list"
osc trait list -f json || fail "trait list"
python3 -c "import json; n=[t['name'] for t in json.load(open('$WORK/out'))]; assert 'HW_CPU_X86_AVX2' in n and 'COMPUTE_STATUS_DISABLED' in n, len(n)" \
  && ok "standard traits listed" || report "standard traits missing"

step "resource provider create (root and nested child)"
osc resource provider create "$RP_NAME" -f json || fail "resource provider create"
RP="$(field '["uuid"]')"
expect generation "$(field '["generation"]')" 0
osc resource provider create "$CHILD_NAME" --parent-provider "$RP" -f json || fail "child create"
CHILD="$(field '["uuid"]')"
expect root_provider_uuid "$(field '["root_provider_uuid"]')" "$RP"

step "resource provider list / show"
osc resource provider list -f json || fail "resource provider list"
python3 -c "import json; assert any(p['uuid'] == '$RP' for p in json.load(open('$WORK/out')))" \
  && ok "listed" || report "provider $RP not listed"
osc resource provider list --in-tree "$RP" -f json || fail "list --in-tree"
expect "providers in tree" "$(python3 -c "import json; print(len(json.load(open('$WORK/out'))))")" 2
osc resource provider show "$RP" -f json || fail "resource provider show"
expect name "$(field '["name"]')" "$RP_NAME"

step "resource provider inventory set / list"
osc resource provider inventory set "$RP" --resource VCPU=8 --resource VCPU:allocation_ratio=2.0 \
  --resource MEMORY_MB=4096 --resource DISK_GB=100 -f json || fail "inventory set"
osc resource provider inventory list "$RP" -f json || fail "inventory list"
python3 -c "
import json
inv = {i['resource_class']: i for i in json.load(open('$WORK/out'))}
assert inv['VCPU']['total'] == 8 and float(inv['VCPU']['allocation_ratio']) == 2.0, inv
assert inv['MEMORY_MB']['total'] == 4096, inv
" && ok "inventories" || report "inventories wrong"

step "resource provider trait set"
osc resource provider trait set "$RP" --trait HW_CPU_X86_AVX2 --trait COMPUTE_VOLUME_MULTI_ATTACH -f json \
  || fail "trait set"
osc resource provider trait list "$RP" -f json || fail "trait list"
expect "provider traits" "$(python3 -c "import json; print(sorted(t['name'] for t in json.load(open('$WORK/out'))))")" \
  "['COMPUTE_VOLUME_MULTI_ATTACH', 'HW_CPU_X86_AVX2']"

step "allocation candidate list"
osc allocation candidate list --resource VCPU=4 --resource MEMORY_MB=1024 --required HW_CPU_X86_AVX2 -f json \
  || fail "allocation candidate list"
python3 -c "import json; r=json.load(open('$WORK/out')); assert any(c['resource provider'] == '$RP' for c in r), r" \
  && ok "candidate on $RP" || report "no candidate on $RP"
osc allocation candidate list --resource VCPU=17 -f json || fail "allocation candidate list (too big)"
# Other providers (the cloud's own compute host) may offer 17 VCPU; this one must not.
expect "candidates for 17 VCPU on $RP (capacity 16)" \
  "$(python3 -c "import json; print(sum(c['resource provider'] == '$RP' for c in json.load(open('$WORK/out'))))")" 0

step "resource provider allocation set / show, usage show"
osc resource provider allocation set "$CONSUMER" --allocation "rp=$RP,VCPU=4,MEMORY_MB=1024" \
  --project-id e2e-project --user-id e2e-user --consumer-type INSTANCE -f json || fail "allocation set"
osc resource provider allocation show "$CONSUMER" -f json || fail "allocation show"
python3 -c "import json; r=json.load(open('$WORK/out')); assert r[0]['resource_provider'] == '$RP' and r[0]['resources']['VCPU'] == 4, r" \
  && ok "allocation recorded" || report "allocation wrong"
osc resource provider usage show "$RP" -f json || fail "usage show"
python3 -c "import json; u={x['resource_class']: x['usage'] for x in json.load(open('$WORK/out'))}; assert u['VCPU'] == 4 and u['MEMORY_MB'] == 1024, u" \
  && ok "usage" || report "usage wrong"

step "delete refused while allocations exist, then allowed"
if osc resource provider delete "$CHILD" && osc resource provider delete "$RP"; then
  report "deleting a provider with allocations succeeded"
else
  grep -q "409" "$WORK/err" && ok "409 while in use" || report "expected a 409"
fi
CHILD=""
osc resource provider allocation delete "$CONSUMER" || fail "allocation delete"
osc resource provider delete "$RP" || fail "resource provider delete"
RP=""
osc resource provider list -f json || fail "list after delete"
python3 -c "import json; assert not any(p['name'] == '$RP_NAME' for p in json.load(open('$WORK/out')))" \
  && ok "deleted" || report "still listed"

echo
if [[ $FAILED -eq 0 ]]; then
  echo "placement-cli: all $STEP steps passed"
else
  echo "placement-cli: $FAILED check(s) failed" >&2
  exit 1
fi
