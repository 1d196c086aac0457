#!/usr/bin/env bash
# five-minutes.sh - the first five minutes on a fresh cloud, with nothing done but
# `rustack up`: the demo resources it creates must be enough for
#   openstack keypair create --private-key key.pem mykey
#   openstack server create --image cirros --flavor m1.tiny --network demo-net --key-name mykey --wait vm1
#   openstack floating ip create public; openstack server add floating ip vm1 <fip>
#   ping <fip>; ssh -i key.pem cirros@<fip>            (--real only)
# then the openstacksdk flows of tests/sdk/flows.py (--sdk), and Kolla's init-runonce
# afterwards ($KOLLA_INIT_RUNONCE, if given: it must succeed; without it the test checks
# the "run once" guard init-runonce stops at).
#
# usage: tests/e2e/five-minutes.sh [--bin RUSTACK] [--real] [--sdk] [--image FILE]
#
# Starts its own cloud (`rustack up --demo-image FILE` on a temp data dir, free ports)
# and stops it at the end. Default: the simulated compute driver and no data plane (CI's
# e2e phase; FILE defaults to 64 KiB of random data). --real: the QEMU driver and the
# data plane (root; FILE defaults to the test guest of scripts/build-test-image.sh), and
# the floating IP must answer ping and SSH as `cirros` from here: run it inside a
# network namespace (scripts/host-tests-fivemin.sh does) so the host is left as found.
# Also checked: the log has no terminal colour codes, and a restart creates no second
# demo network. Prints the start-up time and the scenario's wall time.
# The CLI comes from $OPENSTACK if set, else the venv tests/e2e/compute-cli.sh uses.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OSC_VERSION="${OSC_VERSION:-10.5.0}"
CACHE="${RUSTACK_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustack-ci}"
BIN="${RUSTACK_BIN:-$ROOT/target/release/rustack}"
REAL=0 SDK=0 IMAGE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) BIN="${2:?--bin needs a value}"; shift 2;;
    --real) REAL=1; shift;;
    --sdk) SDK=1; shift;;
    --image) IMAGE="${2:?--image needs a value}"; shift 2;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "five-minutes: unknown argument: $1" >&2; exit 2;;
  esac
done
[[ -x "$BIN" ]] || { echo "five-minutes: no rustack binary at $BIN (--bin)" >&2; exit 2; }

if [[ -z "${OPENSTACK:-}" ]]; then
  VENV="$CACHE/venv"
  have="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-openstackclient"))' 2>/dev/null || true)"
  if [[ "$have" != "$OSC_VERSION" ]]; then
    echo "five-minutes: installing python-openstackclient==$OSC_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "python-openstackclient==$OSC_VERSION"
  fi
  OPENSTACK="$VENV/bin/openstack"
fi
PYTHON="$(dirname "$OPENSTACK")/python"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/five-minutes.XXXXXX")"
DATA="$WORK/data" LOG="$WORK/rustack.log"
mkdir -p "$DATA"
PID="" FAILED=0 PASSED=0 STEP=0 SERVER_ID="" FIP=""

step() { STEP=$((STEP + 1)); echo; echo "== step $STEP: $*"; }
ok() { echo "   ok: $*"; PASSED=$((PASSED + 1)); }
report() {
  echo "   FAILED: $*" >&2
  FAILED=$((FAILED + 1))
  if [[ -s "$WORK/err" ]]; then tail -n 8 "$WORK/err" | sed 's/^/   | /' >&2; fi
}
osc() {
  echo "   \$ openstack $*"
  "$OPENSTACK" "$@" >"$WORK/out" 2>"$WORK/err"
}
now_ms() { date +%s%3N; }

stop_cloud() {
  [[ -n "$PID" ]] || return 0
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
}
cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  if ((rc != 0 && FAILED == 0)); then echo "   FAILED: aborted (exit $rc)" >&2; FAILED=1; fi
  if [[ -n "$PID" ]]; then
    [[ -n "$SERVER_ID" ]] && "$OPENSTACK" server delete --wait "$SERVER_ID" >/dev/null 2>&1
    [[ -n "$FIP" ]] && "$OPENSTACK" floating ip delete "$FIP" >/dev/null 2>&1
    stop_cloud
  fi
  # A data-plane cloud leaves namespaces, bridges and dnsmasq behind (as Neutron's agents
  # do): remove them, and the processes inside them, so the host is left as found.
  ((REAL)) && "$BIN" agent cleanup --data-dir "$DATA" >/dev/null 2>&1
  if ((FAILED != 0)); then
    grep -h -E ' (ERROR|WARN) ' "$WORK/rustack-first.log" "$LOG" 2>/dev/null | tail -n 10 >&2
    echo "--- last lines of $LOG ---" >&2; tail -n 15 "$LOG" >&2
  fi
  if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "kept: $WORK"; else rm -rf "$WORK"; fi
  echo "five-minutes: $PASSED passed, $FAILED failed${TIMES:-}"
  ((FAILED == 0)) || exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "$IMAGE" ]]; then
  if ((REAL)); then
    IMAGE="$CACHE/images/rustack-test.qcow2"
  else
    IMAGE="$WORK/guest.img"
    head -c 65536 /dev/urandom > "$IMAGE"
  fi
fi
[[ -f "$IMAGE" ]] || { echo "five-minutes: no image file $IMAGE (scripts/build-test-image.sh)" >&2; exit 2; }

if ((REAL)); then
  printf '[compute]\ndriver = "qemu"\n[network]\ndata_plane = "on"\n' > "$DATA/rustack.toml"
else
  printf '[compute]\ndriver = "simulated"\n[network]\ndata_plane = "off"\n' > "$DATA/rustack.toml"
fi
mapfile -t OPTS < <("$BIN" up --help | grep -oE -- '--[a-z][a-z-]*-port' | sort -u)
mapfile -t PORTS < <(python3 -c "
import socket
s = [socket.socket() for _ in range(${#OPTS[@]})]
for x in s: x.bind(('127.0.0.1', 0))
print('\n'.join(str(x.getsockname()[1]) for x in s))")
ARGS=()
for i in "${!OPTS[@]}"; do ARGS+=("${OPTS[$i]}" "${PORTS[$i]}"); done

start_cloud() { # -> sets PID, UP_MS (wall ms until "rustack is up")
  local t0; t0=$(now_ms)
  "$BIN" up --data-dir "$DATA" --demo-image "$IMAGE" "${ARGS[@]}" >>"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    grep -q '^rustack is up' "$LOG" && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  UP_MS=$(( $(now_ms) - t0 ))
  grep -q '^rustack is up' "$LOG"
}

step "rustack up (fresh data dir, --demo-image $(basename "$IMAGE"))"
if start_cloud; then
  ok "up in ${UP_MS} ms wall ($(grep -m1 '^rustack is up' "$LOG"))"
else
  report "rustack up did not start"; exit 1
fi
T_UP=$UP_MS
grep -q '^  demo network demo-net ' "$LOG" && ok "demo resources reported: $(grep -m1 '^  demo network' "$LOG" | sed 's/^ *//')" \
  || report "rustack up printed no demo network line"
grep -qE '^  image cirros [0-9a-f-]{36}$' "$LOG" && ok "cirros registered" || report "no 'image cirros' line"
if grep -q $'\x1b' "$LOG"; then report "the log (a file) has terminal escape codes"; else ok "no terminal colour codes in the log file"; fi
# shellcheck disable=SC1091
source "$DATA/admin-openrc.sh"

T0=$(now_ms)
step "keypair create mykey"
osc keypair create --private-key "$WORK/mykey.pem" mykey -f value -c name && [[ -s "$WORK/mykey.pem" ]] \
  && ok "mykey, private key written" || report "keypair create"
chmod 600 "$WORK/mykey.pem" 2>/dev/null || true

step "server create --image cirros --flavor m1.tiny --network demo-net --wait vm1"
if osc server create --image cirros --flavor m1.tiny --network demo-net --key-name mykey --wait vm1 -f json; then
  SERVER_ID=$("$PYTHON" -c "import json; print(json.load(open('$WORK/out'))['id'])")
  st=$("$PYTHON" -c "import json; print(json.load(open('$WORK/out'))['status'])")
  [[ "$st" == ACTIVE ]] && ok "vm1 $SERVER_ID ACTIVE" || report "vm1 status $st"
else
  report "server create"
fi
T_ACTIVE=$(( $(now_ms) - T0 ))

step "floating ip create public; server add floating ip vm1"
if osc floating ip create public -f value -c floating_ip_address; then
  FIP=$(cat "$WORK/out")
  ok "floating IP $FIP"
  if osc server add floating ip vm1 "$FIP"; then
    ok "added to vm1"
  else
    report "server add floating ip"
  fi
  for _ in $(seq 1 50); do
    osc server show vm1 -f json || break
    "$PYTHON" -c "
import json, sys
a = json.load(open('$WORK/out'))['addresses']
sys.exit(0 if '$FIP' in json.dumps(a) else 1)" && break
    sleep 0.2
  done
  "$PYTHON" -c "
import json, sys
a = json.load(open('$WORK/out'))['addresses']
sys.exit(0 if '$FIP' in json.dumps(a) else 1)" && ok "server show vm1 lists $FIP" || report "server show vm1 lacks $FIP"
else
  report "floating ip create public"
fi

if ((REAL)) && [[ -n "$FIP" ]]; then
  step "ping $FIP and ssh cirros@$FIP from this host"
  t=$(now_ms) got=""
  for _ in $(seq 1 120); do ping -c 1 -W 1 "$FIP" >/dev/null 2>&1 && { got=1; break; }; sleep 0.5; done
  [[ -n "$got" ]] && ok "ping $FIP after $(( $(now_ms) - t )) ms" || report "no ping answer from $FIP"
  t=$(now_ms) out=""
  for _ in $(seq 1 60); do
    out=$(ssh -i "$WORK/mykey.pem" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o ConnectTimeout=3 -o BatchMode=yes -o LogLevel=ERROR "cirros@$FIP" 'id -un; hostname' 2>"$WORK/err") && break
    out=""; sleep 1
  done
  if [[ "$out" == cirros*vm1* ]]; then ok "ssh cirros@$FIP: $(echo "$out" | tr '\n' ' ')after $(( $(now_ms) - t )) ms"
  else report "ssh cirros@$FIP failed ('$out')"; fi
fi
T_SCENARIO=$(( $(now_ms) - T0 ))

if ((SDK)); then
  step "openstacksdk flows (tests/sdk/flows.py)"
  sdk_args=(--image cirros --flavor m1.tiny --network demo-net --external public)
  ((REAL)) && sdk_args+=(--reachable)
  if OS_CLIENT_CONFIG_FILE="$DATA/clouds.yaml" OS_CLOUD=rustack-admin "$PYTHON" "$ROOT/tests/sdk/flows.py" "${sdk_args[@]}"; then
    ok "sdk flows"
  else
    report "sdk flows (see above)"
  fi
fi

step "Kolla's init-runonce afterwards"
if [[ -n "${KOLLA_INIT_RUNONCE:-}" ]]; then
  mkdir -p "$WORK/kolla"
  sed 's/^  rustack-admin:$/  kolla-admin:/' "$DATA/clouds.yaml" > "$WORK/kolla/clouds.yaml"
  if PATH="$(dirname "$OPENSTACK"):$PATH" KOLLA_CONFIG_PATH="$WORK/kolla" bash "$KOLLA_INIT_RUNONCE" >"$WORK/out" 2>"$WORK/err"; then
    ok "init-runonce exits 0: $(tail -n 1 "$WORK/out")"
  else
    report "init-runonce failed"
  fi
else
  # init-runonce's first step: `openstack image list | grep -q cirros` ends it, successfully.
  osc image list -f value -c Name && grep -qx cirros "$WORK/out" \
    && ok "cirros is listed: init-runonce stops at its run-once guard with exit 0, creating nothing" \
    || report "no cirros in image list"
fi

step "restart: nothing created twice"
if [[ -n "$SERVER_ID" ]]; then
  osc server delete --wait "$SERVER_ID" && SERVER_ID="" || report "server delete"
fi
[[ -n "$FIP" ]] && { osc floating ip delete "$FIP" && FIP="" || report "floating ip delete"; }
stop_cloud
mv "$LOG" "$WORK/rustack-first.log"
if start_cloud; then
  ok "restarted in ${UP_MS} ms wall"
  osc network list --name demo-net -f value -c ID
  [[ $(wc -l < "$WORK/out") -eq 1 ]] && ok "one demo-net" || report "demo-net count: $(wc -l < "$WORK/out")"
  osc router list --name demo-router -f value -c ID
  [[ $(wc -l < "$WORK/out") -eq 1 ]] && ok "one demo-router" || report "demo-router count: $(wc -l < "$WORK/out")"
  osc image list --name cirros -f value -c ID
  [[ $(wc -l < "$WORK/out") -eq 1 ]] && ok "one cirros" || report "cirros count: $(wc -l < "$WORK/out")"
else
  report "restart failed"
fi
TIMES="; first start ${T_UP} ms, scenario ${T_SCENARIO} ms (server ACTIVE after ${T_ACTIVE} ms)"
