#!/usr/bin/env bash
# scripts/crash-test.sh - crash safety: kill -9 `rustack up` during server builds,
# deletes and volume work, restart it on the same data dir, and check that the restart
# recovery left a consistent cloud (no server stuck in BUILD, no Placement allocation
# or port without a live server, provider usages = live servers' flavors, no volume
# stuck in a transitional status, no orphan volume file, no attachment without a live
# server). The rounds and checks are in scripts/crash/crash_test.py.
#
# usage: scripts/crash-test.sh
# Environment:
#   RUSTACK_BIN       binary to run (default target/release/rustack)
#   RUSTACK_CI_OUT    logs and the data dir go to $RUSTACK_CI_OUT/crash (default target/ci)
#   CRASH_SERVERS     servers (and volumes) per burst (default 10)
#   CRASH_ROUNDS      server-create rounds killed mid-burst (default 8)
#   CRASH_SEED        repeat a run's random kill points
# Exits non-zero on any violation; always stops the cloud it started.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RUSTACK_ROOT"

BIN="${RUSTACK_BIN:-target/release/rustack}"
[[ -x "$BIN" ]] || die "no binary at $BIN (cargo build --release -p rustack, or set RUSTACK_BIN)"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
OUT="${RUSTACK_CI_OUT:-$RUSTACK_ROOT/target/ci}/crash"
DATA="$OUT/data"

PY_PID=""
cleanup() {
  local pid
  if [[ -n "$PY_PID" ]]; then kill "$PY_PID" 2>/dev/null && wait "$PY_PID" 2>/dev/null || true; fi
  pid="$(cat "$OUT/rustack.pid" 2>/dev/null || true)"
  # Only the cloud this script started (its pid file), and only while it still runs
  # our binary: its whole process group, like the test's own kill -9.
  if [[ -n "$pid" ]] && [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$BIN" ]]; then
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$OUT/rustack.pid"
}
trap cleanup EXIT INT TERM

cleanup
rm -rf "$OUT"
mkdir -p "$DATA"
printf '[network]\ndata_plane = "off"\n\n[compute]\ndriver = "simulated"\n' > "$DATA/rustack.toml"
mapfile -t opts < <("$BIN" up --help | grep -oE -- '--[a-z][a-z-]*-port' | sort -u)
mapfile -t ports < <(free_ports "${#opts[@]}")
spec=""
for i in "${!opts[@]}"; do spec+="${spec:+,}${opts[$i]}=${ports[$i]}"; done
say "crash test: $BIN, data dir $DATA, log $OUT/rustack.log"
start=$SECONDS
# In the background + wait, so a TERM runs the trap at once (not after python exits).
python3 "$RUSTACK_ROOT/scripts/crash/crash_test.py" --bin "$BIN" --data "$DATA" --out "$OUT" --ports="$spec" &
PY_PID=$!
rc=0
wait "$PY_PID" || rc=$?
PY_PID=""
if [[ $rc -ne 0 ]]; then
  say "crash test: FAILED (exit $rc) in $((SECONDS - start)) s; the cloud's log: $OUT/rustack.log"
  exit "$rc"
fi
say "crash test: done in $((SECONDS - start)) s"
