#!/usr/bin/env bash
# scripts/bench-network.sh - port create throughput and latency through the Networking
# API, API only (no data plane yet); not a timed test.
#
# usage: scripts/bench-network.sh [PORTS] [CONCURRENCY]   (default 500 ports, 1 and 8)
#        scripts/bench-network.sh --agent
#
# --agent runs the network agent benchmark instead (crates/network/agent/tests/
# bench_agent.rs, release build): port creates API-only vs with the agent wiring
# them, create-to-lease latency on the real data plane, and the time a fresh agent
# takes to converge 500 ports (cold host and restart); the real-kernel figures need
# root and stay inside namespaces the benchmark creates.
#
# Starts target/release/rustack up on a fresh data dir and free ports, creates a network
# with a /16 subnet as admin, then creates PORTS ports sequentially and PORTS ports with
# CONCURRENCY clients (python3 threads, keep-alive HTTP/1.1), and prints ports/s and
# p50/p99 latency for each run. Needs curl and python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "${1:-}" == --agent ]]; then
  cd "$ROOT"
  [[ "$(id -u)" == 0 ]] && export RUSTACK_HOST_TESTS=1
  exec cargo test -q --release -p rustack-network-agent --test bench_agent -- --ignored --nocapture
fi
PORTS="${1:-500}"
CONC="${2:-8}"
BIN="$ROOT/target/release/rustack"
[[ -x "$BIN" ]] || { echo "build first: cargo build --release -p rustack" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rustack-bench-network.XXXXXX")"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IDP="$(free_port)"
IMP="$(free_port)"
NP="$(free_port)"
# API only: never the host data plane, even as root (--agent measures that, contained).
mkdir -p "$WORK/data"
printf '[network]\ndata_plane = "off"\n' > "$WORK/data/rustack.toml"
"$BIN" up --data-dir "$WORK/data" --identity-port "$IDP" --image-port "$IMP" --network-port "$NP" >"$WORK/up.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$NP/" >/dev/null 2>&1 && break
  sleep 0.1
done
PW="$(awk '$1 == "keystone_admin_password:" { print $2 }' "$WORK/data/passwords.yml")"
TOKEN="$(curl -si "http://127.0.0.1:$IDP/v3/auth/tokens" -H 'content-type: application/json' \
  -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$PW\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" \
  | awk 'tolower($1) == "x-subject-token:" { print $2 }' | tr -d '\r')"
[[ -n "$TOKEN" ]] || { echo "no token" >&2; exit 3; }

python3 - "$NP" "$TOKEN" "$PORTS" "$CONC" <<'PY'
import http.client, json, sys, threading, time

port, token, n, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
H = {"x-auth-token": token, "content-type": "application/json"}

def call(conn, method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None, H)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)

c = http.client.HTTPConnection("127.0.0.1", int(port))
st, net = call(c, "POST", "/v2.0/networks", {"network": {"name": "bench"}})
assert st == 201, net
net_id = net["network"]["id"]
st, sub = call(c, "POST", "/v2.0/subnets", {"subnet": {"network_id": net_id, "cidr": "10.200.0.0/16", "ip_version": 4}})
assert st == 201, sub
call(c, "PUT", "/v2.0/quotas/" + net["network"]["project_id"], {"quota": {"port": -1}})

def run(total, workers):
    lat, errors, lock = [], [], threading.Lock()
    per = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
    def worker(k):
        conn = http.client.HTTPConnection("127.0.0.1", int(port))
        for _ in range(k):
            t0 = time.perf_counter()
            st, body = call(conn, "POST", "/v2.0/ports", {"port": {"network_id": net_id}})
            dt = time.perf_counter() - t0
            with lock:
                (lat if st == 201 else errors).append(dt if st == 201 else st)
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in per]
    for t in ts: t.start()
    for t in ts: t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(f"port create, {workers:2d} client(s): {len(lat)} ok, {len(errors)} failed, "
          f"{len(lat) / wall:7.1f} ports/s, p50 {q(0.50):6.2f} ms, p99 {q(0.99):6.2f} ms")

run(n, 1)
run(n, conc)
PY
