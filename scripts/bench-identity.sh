#!/usr/bin/env bash
# Identity benchmark on a fresh all-in-one cloud:
#   1. builds rustack and rustack-bench (release);
#   2. starts `rustack up` on a new temp data dir (127.0.0.1, first free port from
#      $PORT, default 15000) and measures first-start time (spawn -> first 200/300 on
#      GET /v3; also the "rustack is up in N ms" line) and idle RSS after ~2 s;
#   3. runs `rustack-bench identity` against it (extra arguments go to rustack-bench,
#      e.g. --duration-secs 5 --ops validate,list), then reads RSS after the load;
#   4. stops it with SIGTERM and checks it exits 0;
#   5. restarts on the same data dir (no bootstrap) and measures start time, idle RSS
#      and clean shutdown again.
# Environment: PORT (first port tried), KEEP_DATA=1 (keep the temp data dir),
# NO_BUILD=1 (use the existing target/release binaries).
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
PORT=${PORT:-15000}
while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
URL=http://127.0.0.1:$PORT
DATA=$(mktemp -d -t rustack-bench.XXXXXX)

PID=
cleanup() {
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    if [[ "${KEEP_DATA:-0}" == 1 ]]; then
        echo "data dir kept: $DATA"
    else
        rm -rf "$DATA"
    fi
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# start LOG: spawns rustack up, waits for GET /v3; sets PID, READY_MS, UP_LINE_MS.
start() {
    local log=$1 t0 code
    t0=$(now_ms)
    "$RUSTACK" up --data-dir "$DATA" --bind 127.0.0.1 --identity-port "$PORT" >"$log" 2>&1 &
    PID=$!
    while :; do
        if ! kill -0 "$PID" 2>/dev/null; then
            echo "rustack exited during start-up; log:" >&2
            cat "$log" >&2
            exit 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/v3" || true)
        if [[ "$code" =~ ^[23][0-9][0-9]$ ]]; then
            break
        fi
        if (($(now_ms) - t0 > 60000)); then
            echo "rustack not ready after 60 s; log:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.005
    done
    READY_MS=$(($(now_ms) - t0))
    # The API answers before the line is printed (openrc/clouds.yaml are written
    # in between): wait for it a little.
    UP_LINE_MS=
    for _ in $(seq 500); do
        UP_LINE_MS=$(sed -n 's/^rustack is up in \([0-9]*\) ms.*/\1/p' "$log" | head -n1)
        [[ -n "$UP_LINE_MS" ]] && break
        sleep 0.01
    done
}

# stop: SIGTERM, waits up to 30 s; sets STOP_MS and EXIT_CODE.
stop() {
    local t0 rc=0
    t0=$(now_ms)
    kill -TERM "$PID"
    for _ in $(seq 3000); do
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.01
    done
    if kill -0 "$PID" 2>/dev/null; then
        echo "rustack did not exit within 30 s of SIGTERM; killing it" >&2
        kill -KILL "$PID"
    fi
    wait "$PID" || rc=$?
    STOP_MS=$(($(now_ms) - t0))
    EXIT_CODE=$rc
    PID=
}

echo "== first start on a fresh data dir ($DATA), $URL"
start "$DATA/rustack-1.log"
FIRST_READY_MS=$READY_MS
FIRST_UP_LINE_MS=$UP_LINE_MS
sleep 2
FIRST_IDLE_RSS=$(rss_kib "$PID")
echo "ready after ${FIRST_READY_MS} ms (rustack says: up in ${FIRST_UP_LINE_MS:-?} ms); idle VmRSS $(mib "$FIRST_IDLE_RSS") MiB"

PASSWORD=$(sed -n 's/^keystone_admin_password:[[:space:]]*//p' "$DATA/passwords.yml" | head -n1)
PASSWORD=${PASSWORD%\"}; PASSWORD=${PASSWORD#\"}; PASSWORD=${PASSWORD%\'}; PASSWORD=${PASSWORD#\'}
if [[ -z "$PASSWORD" ]]; then
    echo "no keystone_admin_password in $DATA/passwords.yml" >&2
    exit 1
fi

echo "== rustack-bench identity"
BENCH_OUT=$DATA/bench.out
"$BENCH" identity --url "$URL" --password "$PASSWORD" --server-pid "$PID" "$@" | tee "$BENCH_OUT"
BENCH_JSON=$(tail -n1 "$BENCH_OUT")
LOADED_RSS=$(rss_kib "$PID")
sleep 2
AFTER_IDLE_RSS=$(rss_kib "$PID")
stop
FIRST_STOP_MS=$STOP_MS
FIRST_EXIT=$EXIT_CODE

echo "== restart on the same data dir"
start "$DATA/rustack-2.log"
SECOND_READY_MS=$READY_MS
SECOND_UP_LINE_MS=$UP_LINE_MS
sleep 2
SECOND_IDLE_RSS=$(rss_kib "$PID")
stop
SECOND_STOP_MS=$STOP_MS
SECOND_EXIT=$EXIT_CODE

clean() { if [[ "$1" == 0 ]]; then echo "exit 0 (clean)"; else echo "exit $1 (NOT clean)"; fi; }
echo
echo "== summary"
printf '%-44s %s\n' \
    "first start: spawn -> GET /v3 ready" "${FIRST_READY_MS} ms (\"up in ${FIRST_UP_LINE_MS:-?} ms\")" \
    "first start: idle VmRSS after 2 s" "$(mib "$FIRST_IDLE_RSS") MiB" \
    "VmRSS right after the benchmark" "$(mib "$LOADED_RSS") MiB" \
    "VmRSS 2 s after the benchmark" "$(mib "$AFTER_IDLE_RSS") MiB" \
    "SIGTERM -> exit (after load)" "${FIRST_STOP_MS} ms, $(clean "$FIRST_EXIT")" \
    "restart: spawn -> GET /v3 ready" "${SECOND_READY_MS} ms (\"up in ${SECOND_UP_LINE_MS:-?} ms\")" \
    "restart: idle VmRSS after 2 s" "$(mib "$SECOND_IDLE_RSS") MiB" \
    "restart: SIGTERM -> exit" "${SECOND_STOP_MS} ms, $(clean "$SECOND_EXIT")"
echo
sed -n '/^op /,/^(CPU/p' "$BENCH_OUT"
echo
printf '{"bench":"identity-script","first_start_ready_ms":%s,"first_start_up_line_ms":%s,"first_idle_rss_kib":%s,"loaded_rss_kib":%s,"after_load_idle_rss_kib":%s,"first_stop_ms":%s,"first_exit":%s,"restart_ready_ms":%s,"restart_up_line_ms":%s,"restart_idle_rss_kib":%s,"restart_stop_ms":%s,"restart_exit":%s,"identity":%s}\n' \
    "$FIRST_READY_MS" "${FIRST_UP_LINE_MS:-null}" "$FIRST_IDLE_RSS" "$LOADED_RSS" "$AFTER_IDLE_RSS" \
    "$FIRST_STOP_MS" "$FIRST_EXIT" "$SECOND_READY_MS" "${SECOND_UP_LINE_MS:-null}" \
    "$SECOND_IDLE_RSS" "$SECOND_STOP_MS" "$SECOND_EXIT" "$BENCH_JSON"
if [[ "$FIRST_EXIT" != 0 || "$SECOND_EXIT" != 0 ]]; then
    exit 1
fi
