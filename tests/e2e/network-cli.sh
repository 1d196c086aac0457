#!/usr/bin/env bash
# network-cli.sh - drive the network service of a running `rustack up` with the real
# `openstack` CLI: network, subnet, port, router (gateway + interface), floating IP
# (create, associate, disassociate) and security group (+ rule) create / list / show /
# delete.
#
# usage: tests/e2e/network-cli.sh [--data-dir DIR] [--external NETWORK]
#
# DIR (default $RUSTACK_DATA_DIR) is the data dir of the running cloud (its
# admin-openrc.sh is used). NETWORK (default: the first network with
# router:external=True, created here as a flat network if none exists) carries the
# router gateway and the floating IP. The CLI comes from $OPENSTACK if set, else from
# the venv tests/e2e/identity-cli.sh uses ($RUSTACK_CI_CACHE/venv,
# python-openstackclient==$OSC_VERSION), created on first use. Exit status 1 if any
# check failed; everything the test creates is deleted at the end.
set -euo pipefail

OSC_VERSION="${OSC_VERSION:-10.5.0}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
DATA_DIR="${RUSTACK_DATA_DIR:-}"
EXTERNAL=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_DIR="${2:?--data-dir needs a value}"; shift 2;;
    --external) EXTERNAL="${2:?--external needs a value}"; shift 2;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "network-cli: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -n "$DATA_DIR" ]] || { echo "network-cli: pass --data-dir or set RUSTACK_DATA_DIR" >&2; exit 2; }
OPENRC="$DATA_DIR/admin-openrc.sh"
[[ -f "$OPENRC" ]] || { echo "network-cli: $DATA_DIR lacks admin-openrc.sh" >&2; exit 2; }

if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-openstackclient"))' 2>/dev/null || true)"
  if [[ "$have" != "$OSC_VERSION" ]]; then
    echo "network-cli: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
"$OPENSTACK" --version

WORK="$(mktemp -d "${TMPDIR:-/tmp}/network-cli.XXXXXX")"
SUFFIX="$$-$RANDOM"
NET="e2e-net-$SUFFIX" SUBNET="e2e-subnet-$SUFFIX" PORT="e2e-port-$SUFFIX"
ROUTER="e2e-router-$SUFFIX" SG="e2e-sg-$SUFFIX" OWN_EXT="e2e-ext-$SUFFIX"
NET_ID="" SUBNET_ID="" PORT_ID="" ROUTER_ID="" FIP_ID="" SG_ID="" EXT_ID="" EXT_CREATED=""
ROUTER_HAS_IF=""
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

cleanup() {
  set +e
  [[ -n "$FIP_ID" ]] && "$OPENSTACK" floating ip delete "$FIP_ID" >/dev/null 2>&1
  [[ -n "$ROUTER_HAS_IF" ]] && "$OPENSTACK" router remove subnet "$ROUTER_ID" "$SUBNET_ID" >/dev/null 2>&1
  [[ -n "$ROUTER_ID" ]] && "$OPENSTACK" router delete "$ROUTER_ID" >/dev/null 2>&1
  [[ -n "$PORT_ID" ]] && "$OPENSTACK" port delete "$PORT_ID" >/dev/null 2>&1
  [[ -n "$NET_ID" ]] && "$OPENSTACK" network delete "$NET_ID" >/dev/null 2>&1
  [[ -n "$SG_ID" ]] && "$OPENSTACK" security group delete "$SG_ID" >/dev/null 2>&1
  [[ -n "$EXT_CREATED" ]] && "$OPENSTACK" network delete "$EXT_ID" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

step "external network"
if [[ -n "$EXTERNAL" ]]; then
  osc network show "$EXTERNAL" -f json || fail "network show $EXTERNAL"
  EXT_ID="$(field '["id"]')"
else
  osc network list --external -f json || fail "network list --external"
  EXT_ID="$(python3 -c "import json; r=json.load(open('$WORK/out')); print(r[0]['ID'] if r else '')")"
  if [[ -z "$EXT_ID" ]]; then
    osc network create --external --provider-network-type flat \
      --provider-physical-network "$OWN_EXT" "$OWN_EXT" -f json || fail "network create --external"
    EXT_ID="$(field '["id"]')"
    EXT_CREATED=1
    osc subnet create --network "$EXT_ID" --subnet-range 198.51.100.0/24 --no-dhcp "$OWN_EXT" -f json \
      || fail "external subnet create"
  fi
fi
ok "external network $EXT_ID"

step "network create / show / list"
osc network create "$NET" -f json || fail "network create"
NET_ID="$(field '["id"]')"
expect status "$(field '["status"]')" ACTIVE
expect mtu "$(field '["mtu"]')" 1450
osc network show "$NET_ID" -f json || fail "network show"
expect name "$(field '["name"]')" "$NET"
osc network list -f json || fail "network list"
listed "$NET_ID" && ok "listed" || report "network not listed"

step "subnet create / show / list"
osc subnet create --network "$NET_ID" --subnet-range 10.77.0.0/24 --dns-nameserver 8.8.8.8 \
  --allocation-pool start=10.77.0.10,end=10.77.0.100 "$SUBNET" -f json || fail "subnet create"
SUBNET_ID="$(field '["id"]')"
expect gateway_ip "$(field '["gateway_ip"]')" 10.77.0.1
osc subnet show "$SUBNET_ID" -f json || fail "subnet show"
expect cidr "$(field '["cidr"]')" 10.77.0.0/24
osc subnet list --network "$NET_ID" -f json || fail "subnet list"
listed "$SUBNET_ID" && ok "listed" || report "subnet not listed"

step "security group create / rule create / show / list"
osc security group create "$SG" -f json || fail "security group create"
SG_ID="$(field '["id"]')"
osc security group rule create --protocol tcp --dst-port 22 --remote-ip 0.0.0.0/0 "$SG_ID" -f json \
  || fail "security group rule create"
expect port_range_min "$(field '["port_range_min"]')" 22
osc security group show "$SG_ID" -f json || fail "security group show"
expect name "$(field '["name"]')" "$SG"
osc security group rule list "$SG_ID" -f json || fail "security group rule list"
python3 -c "import json; assert len(json.load(open('$WORK/out'))) == 3" && ok "2 egress + 1 ingress rules" \
  || report "unexpected rule count"
osc security group list -f json || fail "security group list"
python3 -c "import json; assert any(r['Name'] == 'default' for r in json.load(open('$WORK/out')))" \
  && ok "default group listed" || report "no default security group"

step "port create / show / list"
osc port create --network "$NET_ID" --security-group "$SG_ID" "$PORT" -f json || fail "port create"
PORT_ID="$(field '["id"]')"
# From the pool; not necessarily its first address: with the data plane on, the
# network's DHCP port (network:dhcp) may hold it, as with Neutron's DHCP agent.
PORT_IP="$(field '["fixed_ips"][0]["ip_address"]')"
python3 -c "import ipaddress as i, sys; a = i.ip_address(sys.argv[1]); assert i.ip_address('10.77.0.10') <= a <= i.ip_address('10.77.0.100')" "$PORT_IP" \
  && ok "ip $PORT_IP in the allocation pool" || report "ip $PORT_IP outside the allocation pool"
osc port show "$PORT_ID" -f json || fail "port show"
expect security_groups "$(field '["security_group_ids"]')" "['$SG_ID']"
osc port list --network "$NET_ID" -f json || fail "port list"
listed "$PORT_ID" && ok "listed" || report "port not listed"

step "router create / gateway / interface / show / list"
osc router create "$ROUTER" -f json || fail "router create"
ROUTER_ID="$(field '["id"]')"
osc router set --external-gateway "$EXT_ID" "$ROUTER_ID" || fail "router set --external-gateway"
osc router add subnet "$ROUTER_ID" "$SUBNET_ID" || fail "router add subnet"
ROUTER_HAS_IF=1
osc router show "$ROUTER_ID" -f json || fail "router show"
expect gateway_network "$(field '["external_gateway_info"]["network_id"]')" "$EXT_ID"
osc router list -f json || fail "router list"
listed "$ROUTER_ID" && ok "listed" || report "router not listed"

step "floating ip create / associate / show / list / disassociate"
osc floating ip create "$EXT_ID" -f json || fail "floating ip create"
FIP_ID="$(field '["id"]')"
osc floating ip set --port "$PORT_ID" "$FIP_ID" || fail "floating ip set --port"
osc floating ip show "$FIP_ID" -f json || fail "floating ip show"
expect fixed_ip_address "$(field '["fixed_ip_address"]')" "$PORT_IP"
expect router_id "$(field '["router_id"]')" "$ROUTER_ID"
osc floating ip list -f json || fail "floating ip list"
listed "$FIP_ID" && ok "listed" || report "floating ip not listed"
osc floating ip unset --port "$FIP_ID" || fail "floating ip unset --port"

step "delete everything"
osc floating ip delete "$FIP_ID" || fail "floating ip delete"; FIP_ID=""
osc router remove subnet "$ROUTER_ID" "$SUBNET_ID" || fail "router remove subnet"; ROUTER_HAS_IF=""
osc router delete "$ROUTER_ID" || fail "router delete"; ROUTER_ID=""
osc port delete "$PORT_ID" || fail "port delete"; PORT_ID=""
osc security group delete "$SG_ID" || fail "security group delete"; SG_ID=""
osc subnet delete "$SUBNET_ID" || fail "subnet delete"
osc network delete "$NET_ID" || fail "network delete"
if "$OPENSTACK" network show "$NET_ID" >/dev/null 2>&1; then report "network still shown after delete"; else ok "gone"; NET_ID=""; fi

echo
if ((FAILED > 0)); then echo "network-cli: $FAILED check(s) failed"; exit 1; fi
echo "network-cli: all steps passed"
