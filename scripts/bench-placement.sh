#!/usr/bin/env bash
# scripts/bench-placement.sh - claim throughput and latency of the Placement API; not a
# timed test.
#
# usage: scripts/bench-placement.sh [CLAIMS] [CONCURRENCY] [PROVIDERS]
#        (default 1000 claims, 8 clients, 20 providers)
#
# Starts target/release/rustack up on a fresh data dir and free ports, registers
# PROVIDERS resource providers (VCPU max(64, 2*CLAIMS/PROVIDERS), 256 MiB per VCPU) and,
# as the scheduler does, for every claim asks GET /allocation_candidates?resources=
# VCPU:1,MEMORY_MB:256&limit=5 and PUTs one candidate as a new consumer's allocations
# (retrying with the next candidate on 409); usage must equal the successful claims. It runs CLAIMS claims with 1 client and with
# CONCURRENCY clients (python3 threads, keep-alive HTTP/1.1), then a contention run: CLAIMS
# claims of 1 VCPU racing for one provider with capacity CLAIMS/2, checking exactly that
# many succeed. Prints claims/s and p50/p99 claim latency. Needs curl and python3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLAIMS="${1:-1000}"
CONC="${2:-8}"
PROVIDERS="${3:-20}"
BIN="${RUSTACK_BIN:-$ROOT/target/release/rustack}"
[[ -x "$BIN" ]] || { echo "build first: cargo build --release -p rustack" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rustack-bench-placement.XXXXXX")"
PID=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Every --*-port option `rustack up` has gets a free port.
ARGS=() IDP="" PLP=""
for opt in $("$BIN" up --help | grep -oE -- '--[a-z]+-port' | sort -u); do
  p="$(free_port)"
  ARGS+=("$opt" "$p")
  [[ "$opt" == --identity-port ]] && IDP="$p"
  [[ "$opt" == --placement-port ]] && PLP="$p"
done
[[ -n "$PLP" ]] || { echo "rustack up has no --placement-port" >&2; exit 2; }
mkdir -p "$WORK/data"
printf '[network]\ndata_plane = "off"\n' > "$WORK/data/rustack.toml"
"$BIN" up --data-dir "$WORK/data" "${ARGS[@]}" >"$WORK/up.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
  grep -q '^rustack is up' "$WORK/up.log" 2>/dev/null && break
  sleep 0.1
done
grep -q '^rustack is up' "$WORK/up.log" || { tail -20 "$WORK/up.log" >&2; exit 3; }
PW="$(awk '$1 == "keystone_admin_password:" { print $2 }' "$WORK/data/passwords.yml")"
TOKEN="$(curl -si "http://127.0.0.1:$IDP/v3/auth/tokens" -H 'content-type: application/json' \
  -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$PW\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" \
  | awk 'tolower($1) == "x-subject-token:" { print $2 }' | tr -d '\r')"
[[ -n "$TOKEN" ]] || { echo "no token" >&2; exit 3; }

python3 - "$PLP" "$TOKEN" "$CLAIMS" "$CONC" "$PROVIDERS" <<'PY'
import http.client, json, sys, threading, time, uuid

port, token, n, conc, nprov = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
H = {"x-auth-token": token, "content-type": "application/json",
     "openstack-api-version": "placement 1.39"}

def call(conn, method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None, H)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)

def provider(c, name, invs):
    st, rp = call(c, "POST", "/resource_providers", {"name": name})
    assert st == 200, rp
    st, r = call(c, "PUT", "/resource_providers/%s/inventories" % rp["uuid"],
                 {"resource_provider_generation": 0, "inventories": invs})
    assert st == 200, r
    return rp["uuid"]

c = http.client.HTTPConnection("127.0.0.1", int(port))
# Room for both runs' claims (the cloud's own compute host may be a provider too).
per_host = max(64, (2 * n) // nprov + 1)
names = set()
for i in range(nprov):
    names.add("bench-host-%d" % i)
    provider(c, "bench-host-%d" % i, {"VCPU": {"total": per_host}, "MEMORY_MB": {"total": 256 * per_host}})

def claim(conn):
    """One scheduler-style claim; returns True if it got resources."""
    st, cands = call(conn, "GET", "/allocation_candidates?resources=VCPU:1,MEMORY_MB:256&limit=5")
    assert st == 200, cands
    consumer = str(uuid.uuid4())
    for req in cands["allocation_requests"]:
        st, body = call(conn, "PUT", "/allocations/" + consumer, {
            "allocations": req["allocations"], "project_id": "bench", "user_id": "bench",
            "consumer_generation": None, "consumer_type": "INSTANCE"})
        if st == 204:
            return True
        assert st == 409, body
    return False

def run(total, clients, fn):
    lat, lock, counter, ok = [], threading.Lock(), [0], [0]
    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", int(port))
        while True:
            with lock:
                if counter[0] >= total:
                    return
                counter[0] += 1
            t = time.perf_counter()
            got = fn(conn)
            d = time.perf_counter() - t
            with lock:
                lat.append(d)
                ok[0] += 1 if got else 0
    start = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()
    el = time.perf_counter() - start
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    return total / el, p(0.5), p(0.99), ok[0]

def total_vcpu():
    st, r = call(c, "GET", "/resource_providers")
    used = 0
    for p in r["resource_providers"]:
        st, u = call(c, "GET", "/resource_providers/%s/usages" % p["uuid"])
        if p["name"] not in names:
            continue
        v = u["usages"].get("VCPU", 0)
        assert v <= per_host, ("over-committed", p["name"], v)
        used += v
    return used

succeeded = 0
for clients in (1, conc):
    rate, p50, p99, ok = run(n, clients, claim)
    succeeded += ok
    print("claims (candidates + PUT), %2d clients: %7.1f claims/s  p50 %6.2f ms  p99 %6.2f ms  (%d succeeded)"
          % (clients, rate, p50, p99, ok))
    used = total_vcpu()
    assert used == succeeded, (used, succeeded)

cap = n // 2
rp = provider(c, "bench-contended", {"VCPU": {"total": cap}})
def contended(conn):
    st, body = call(conn, "PUT", "/allocations/" + str(uuid.uuid4()), {
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "bench", "user_id": "bench",
        "consumer_generation": None, "consumer_type": "INSTANCE"})
    assert st in (204, 409), body
    return st == 204
rate, p50, p99, ok = run(n, conc, contended)
st, u = call(c, "GET", "/resource_providers/%s/usages" % rp)
print("contended PUT, one provider, %2d clients: %7.1f claims/s  p50 %6.2f ms  p99 %6.2f ms  (%d of %d succeeded, capacity %d, usage %d)"
      % (conc, rate, p50, p99, ok, n, cap, u["usages"]["VCPU"]))
assert ok == cap == u["usages"]["VCPU"], "over- or under-commit"
PY
