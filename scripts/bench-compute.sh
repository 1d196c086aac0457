#!/usr/bin/env bash
# Compute benchmark on a fresh all-in-one cloud with the simulated driver:
#   1. builds rustack and rustack-bench (release);
#   2. starts `rustack up` on a new temp data dir (127.0.0.1, ports from $PORT, default
#      15100) with `[compute] driver = "simulated"`, a vCPU allocation ratio that lets
#      the simulated host (64 vCPUs) hold 1,000 one-vCPU servers, and the host data
#      plane off (the control plane is measured; the network agent's memory is not);
#   3. runs `rustack-bench compute` (200 servers in bursts of 10: time to ACTIVE p50/p99,
#      builds/s, scheduler decisions/s from the `scheduler stats` log line, RSS; then
#      GET /servers/detail with 1,000 servers p50/p99). Extra arguments go to
#      rustack-bench (e.g. --servers 50 --list-servers 200).
# Environment: PORT, KEEP_DATA=1, NO_BUILD=1 (use existing target/release binaries).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUSTACK=$ROOT/target/release/rustack
BENCH=$ROOT/target/release/rustack-bench

if [[ "${NO_BUILD:-0}" != 1 ]]; then
    echo "== building (release)"
    cargo build --release -p rustack -p rustack-bench
fi

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
PORT=${PORT:-15100}
while ! { port_free "$PORT" && port_free $((PORT + 1)) && port_free $((PORT + 2)) \
    && port_free $((PORT + 3)) && port_free $((PORT + 4)) && port_free $((PORT + 5)); }; do
    PORT=$((PORT + 10))
done
DATA=$(mktemp -d -t rustack-bench-compute.XXXXXX)
PID=
cleanup() {
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "data dir kept: $DATA"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT

cat > "$DATA/rustack.toml" <<TOML
[compute]
driver = "simulated"
cpu_allocation_ratio = 16.0

[network]
data_plane = "off"
TOML
LOG=$DATA/rustack.log
NO_COLOR=1 "$RUSTACK" up --data-dir "$DATA" --config "$DATA/rustack.toml" --bind 127.0.0.1 \
    --identity-port "$PORT" --image-port $((PORT + 1)) --network-port $((PORT + 2)) \
    --placement-port $((PORT + 3)) --compute-port $((PORT + 4)) >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
    grep -q '^rustack is up' "$LOG" && break
    kill -0 "$PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.1
done
grep -q '^rustack is up' "$LOG" || { echo "rustack did not come up" >&2; tail -n 40 "$LOG" >&2; exit 1; }
sleep 2
PW=$(awk '$1 == "keystone_admin_password:" { print $2 }' "$DATA/passwords.yml")
echo "== rustack up (pid $PID), idle RSS $(awk '/^VmRSS:/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"
"$BENCH" compute --url "http://127.0.0.1:$PORT" --password "$PW" --server-pid "$PID" \
    --server-log "$LOG" "$@"
