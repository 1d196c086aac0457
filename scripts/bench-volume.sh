#!/usr/bin/env bash
# scripts/bench-volume.sh - Block Storage (Cinder v3) and Key Manager (Barbican v1)
# figures on fresh all-in-one clouds (prints figures; not a timed test, no thresholds).
#
# usage: scripts/bench-volume.sh [--with-guest]
#
#   1. builds rustack (release; NO_BUILD=1 uses the existing target/release/rustack);
#   2. cloud A: `rustack up` on a new temp data dir, 127.0.0.1, every --*-port flag on
#      free ports from $PORT (default 15400), `[block_storage] backend = "file"` (qcow2
#      files in <data-dir>/volumes), simulated compute, host data plane off, volume quotas
#      unlimited. Each measurement alternates one API run with one run of its floor, the
#      same qemu-img command on the same disk (files in the cloud's data dir):
#        blank 1 GiB volume   POST /volumes -> status available      vs qemu-img create -f qcow2
#        1 GiB from an image  POST /volumes {imageRef} -> available   vs qemu-img convert -O qcow2
#                             (1 GiB raw image of random-ish data uploaded through the Image API
#                             first); also against floor 2: GET the image file from the
#                             Image API into the data dir + fsync, then that convert
#        encrypted 1 GiB      volume type with a LUKS encryption spec -> available
#                             vs qemu-img create -f qcow2 -o encrypt.format=luks (same PBKDF
#                             default, 2 s iter-time) with a 0600 secret file
#      Each API volume is deleted (and gone, 404) before the next run.
#   3. cloud B: the same with `[block_storage] backend = "simulated"`: volume creates at
#      concurrency 8 (creates/s, p50/p99 of the create call and of create -> available,
#      server CPU per create), then Barbican secret stores at concurrency 8 (POST
#      /v1/secrets, small payload: stores/s, p50/p99);
#   4. RSS (VmRSS) of the `rustack up` process: idle 2 s after start, and after the runs.
#   5. with --with-guest (root, qemu-system-x86_64): cloud C, the QEMU driver, host data
#      plane off, one TCG guest of the test image (scripts/build-test-image.sh) booted
#      without a network; ATTACH_RUNS (5) times: attach a blank volume through
#      POST /servers/{id}/os-volume_attachments -> the guest kernel's uevent for the new
#      disk (the image's /sbin/disk-hotplug prints RUSTACK-DISK-ADD on the serial console
#      at once) vs the floor, the same hot-plug by hand on the guest's QMP monitor
#      (blockdev-add + device_add of a qemu-img file); and detach -> RUSTACK-DISK-REMOVE
#      vs QMP device_del.
# The load generator is Python 3 (stdlib only; one keep-alive connection per client
# thread, 5 ms status polls for single runs, 10 ms under load).
# Environment: PORT, NO_BUILD=1, KEEP_DATA=1, GUEST_ONLY=1 (only step 5), ATTACH_RUNS (5), RUNS (blank, 10), IMAGE_RUNS (5), ENC_RUNS (10),
#   SIZE_GIB (1), VOLUMES (400), SECRETS (2000), CONCURRENCY (8).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUSTACK=$ROOT/target/release/rustack
WITH_GUEST=0
for a in "$@"; do
    case "$a" in
        --with-guest) WITH_GUEST=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-volume: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done
for t in qemu-img python3; do
    command -v "$t" >/dev/null || { echo "bench-volume: needs $t" >&2; exit 2; }
done

if [[ "${NO_BUILD:-0}" != 1 ]]; then
    echo "== building (release)"
    cargo build --release -p rustack
fi
[[ -x "$RUSTACK" ]] || { echo "bench-volume: no $RUSTACK (build first)" >&2; exit 2; }

WORK=$(mktemp -d -t rustack-bench-volume.XXXXXX)
PID=""
stop_cloud() {
    if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    PID=""
}
cleanup() {
    set +e
    stop_cloud
    if [[ "${KEEP_DATA:-0}" == 1 ]]; then echo "data kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! ss -Htln "sport = :$1" | grep -q .; }
NEXT_PORT=${PORT:-15400}
# start_cloud NAME: starts `rustack up` on $WORK/NAME (its rustack.toml written first),
# sets PID, DATA, LOG, IDP (identity port); waits for "rustack is up".
start_cloud() {
    local p=$NEXT_PORT ok i
    while :; do
        ok=1
        for i in 0 1 2 3 4 5 6; do port_free $((p + i)) || { ok=0; break; }; done
        ((ok)) && break
        p=$((p + 10))
    done
    NEXT_PORT=$((p + 10))
    DATA=$WORK/$1
    LOG=$DATA/rustack.log
    IDP=$p
    NO_COLOR=1 "$RUSTACK" up --data-dir "$DATA" --config "$DATA/rustack.toml" --bind 127.0.0.1 \
        --identity-port "$p" --image-port $((p + 1)) --network-port $((p + 2)) \
        --placement-port $((p + 3)) --compute-port $((p + 4)) --block-storage-port $((p + 5)) \
        --key-manager-port $((p + 6)) >"$LOG" 2>&1 &
    PID=$!
    for _ in $(seq 1 600); do
        grep -q '^rustack is up' "$LOG" && break
        kill -0 "$PID" 2>/dev/null || { tail -n 40 "$LOG" >&2; echo "rustack up exited" >&2; exit 1; }
        sleep 0.1
    done
    grep -q '^rustack is up' "$LOG" || { tail -n 40 "$LOG" >&2; echo "rustack did not come up" >&2; exit 1; }
    sleep 2
    PW=$(awk '$1 == "keystone_admin_password:" { print $2 }' "$DATA/passwords.yml")
    echo "== cloud $1: rustack up (pid $PID, ports $p-$((p + 6))), data dir on $(df --output=source "$DATA" | tail -n1)"
}
write_config() { # NAME BACKEND
    mkdir -p "$WORK/$1"
    cat > "$WORK/$1/rustack.toml" <<TOML
[compute]
driver = "simulated"
cpu_allocation_ratio = 16.0

[network]
data_plane = "off"

[block_storage]
backend = "$2"

[block_storage.quotas]
volumes = -1
gigabytes = -1
per_volume_gigabytes = -1
TOML
}

cat > "$WORK/bench.py" <<'PY'
"""Load generator of scripts/bench-volume.sh (stdlib only)."""
import concurrent.futures as cf
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

GIB = 1 << 30
A = dict(a.split("=", 1) for a in sys.argv[2:])
MODE = sys.argv[1]
PID = int(A["pid"])
DATA = A["data"]
SIZE_GIB = int(os.environ.get("SIZE_GIB", "1"))
FAILED = []


class ApiError(Exception):
    pass


class Client:
    """One keep-alive HTTP connection per thread and host:port."""

    def __init__(self, token=None):
        self.token = token
        self.local = threading.local()

    def conn(self, netloc):
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        c = conns.get(netloc)
        if c is None:
            host, port = netloc.rsplit(":", 1)
            c = conns[netloc] = http.client.HTTPConnection(host, int(port), timeout=600,
                                                           blocksize=1 << 20)
        return c

    def req(self, method, url, body=None, ok=(200, 201, 202, 204), headers=None, length=None):
        u = urllib.parse.urlsplit(url)
        path = u.path + ("?" + u.query if u.query else "")
        h = {"Accept": "application/json"}
        if self.token:
            h["X-Auth-Token"] = self.token
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if length is not None:
            h["Content-Length"] = str(length)
        h.update(headers or {})
        c = self.conn(u.netloc)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
        except (http.client.HTTPException, OSError) as e:
            c.close()
            self.local.conns.pop(u.netloc, None)
            raise ApiError(f"{method} {url}: {type(e).__name__}: {e}") from None
        if r.status not in ok:
            raise ApiError(f"{method} {url} -> HTTP {r.status}: {payload[:600].decode(errors='replace')}")
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            doc = None
        return r.status, r.headers, doc


def pct(xs, p):
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(x):
    return f"{x * 1000:8.1f} ms"


def rss():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def login():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": A["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    _, h, doc = Client().req("POST", f"http://127.0.0.1:{A['idp']}/v3/auth/tokens", body)
    tok = doc["token"]
    project = tok["project"]["id"]
    cat = {}
    for svc in tok.get("catalog", []):
        for ep in svc["endpoints"]:
            if ep["interface"] == "public":
                cat[svc["type"]] = ep["url"].rstrip("/")
    for t in ("block-storage", "key-manager", "image"):
        if t not in cat:
            raise ApiError(f"the token's catalog has no public {t} endpoint: {sorted(cat)}")
    if "$(" in cat["block-storage"] or "%(" in cat["block-storage"]:
        raise ApiError(f"block-storage URL not substituted in the catalog: {cat['block-storage']}")
    return Client(h["X-Subject-Token"]), project, cat


def versioned(url, v):
    return url if url.endswith("/" + v) else url + "/" + v


def wait_volume(c, vol_url, t0, poll, want="available", timeout=900):
    while True:
        _, _, doc = c.req("GET", vol_url)
        v = doc["volume"]
        if v["status"] == want:
            return time.monotonic() - t0
        if v["status"].startswith("error"):
            raise ApiError(f"volume {v['id']} went to status {v['status']} (waiting for {want}): "
                           f"{json.dumps(v)[:600]}")
        if time.monotonic() - t0 > timeout:
            raise ApiError(f"volume {v['id']} still {v['status']} after {timeout} s")
        time.sleep(poll)


def create_volume(c, bs, vol, poll):
    """POST /volumes; returns (create call s, create -> available s, id)."""
    t0 = time.monotonic()
    _, _, doc = c.req("POST", f"{bs}/volumes", {"volume": vol})
    t_call = time.monotonic() - t0
    v = doc["volume"]
    if v["status"] == "available":
        return t_call, t_call, v["id"]
    return t_call, wait_volume(c, f"{bs}/volumes/{v['id']}", t0, poll), v["id"]


def delete_volume(c, bs, vid):
    c.req("DELETE", f"{bs}/volumes/{vid}")
    t0 = time.monotonic()
    while True:
        st, _, doc = c.req("GET", f"{bs}/volumes/{vid}", ok=(200, 404))
        if st == 404:
            return
        if doc["volume"]["status"].startswith("error"):
            raise ApiError(f"deleting volume {vid}: status {doc['volume']['status']}")
        if time.monotonic() - t0 > 300:
            raise ApiError(f"volume {vid} not gone 300 s after DELETE")
        time.sleep(0.05)


def download(c, url, path):
    """GET url into path (1 MiB reads, fsync); returns seconds."""
    u = urllib.parse.urlsplit(url)
    conn = c.conn(u.netloc)
    t0 = time.monotonic()
    conn.request("GET", u.path, headers={"X-Auth-Token": c.token})
    r = conn.getresponse()
    if r.status != 200:
        raise ApiError(f"GET {url} -> HTTP {r.status}: {r.read()[:600].decode(errors='replace')}")
    with open(path, "wb") as f:
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    return time.monotonic() - t0


def timed_cmd(argv):
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True)
    t = time.monotonic() - t0
    if r.returncode != 0:
        raise ApiError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()[:400]}")
    return t


def section(title, fn):
    print(f"\n== {title}", flush=True)
    try:
        fn()
    except ApiError as e:
        FAILED.append(title)
        print(f"   FAILED: {e}", flush=True)
    except Exception as e:  # a bug here or an unexpected response shape
        FAILED.append(title)
        print(f"   FAILED: {type(e).__name__}: {e}", flush=True)


def compare(n, api, floor, api_what, floor_what):
    a, f = statistics.median(api), statistics.median(floor)
    print(f"   {api_what:<44} p50 {ms(a)}  min {ms(min(api))}  max {ms(max(api))}  ({n} runs)")
    print(f"   {floor_what:<44} p50 {ms(f)}  min {ms(min(floor))}  max {ms(max(floor))}")
    print(f"   API p50 - floor p50 = {ms(a - f).strip()}, API/floor = {a / f:.1f}x", flush=True)


def mode_file():
    c, project, cat = login()
    bs = cat["block-storage"]
    print(f"   block-storage endpoint {bs}; rustack RSS idle {rss():.1f} MiB")
    size = SIZE_GIB * GIB
    poll = 0.005

    def blank():
        n = int(os.environ.get("RUNS", "10"))
        api, floor = [], []
        for i in range(n):
            _, t, vid = create_volume(c, bs, {"size": SIZE_GIB, "name": f"bench-blank-{i}"}, poll)
            api.append(t)
            if i == 0 and not os.path.exists(f"{DATA}/volumes/{vid}.qcow2"):
                print(f"   note: no {DATA}/volumes/{vid}.qcow2 (is the file backend in use?)")
            delete_volume(c, bs, vid)
            f = f"{DATA}/floor-blank.qcow2"
            floor.append(timed_cmd(["qemu-img", "create", "-q", "-f", "qcow2", f, str(size)]))
            os.unlink(f)
        compare(n, api, floor, f"API create -> available ({SIZE_GIB} GiB blank)",
                "qemu-img create -f qcow2")

    def from_image():
        n = int(os.environ.get("IMAGE_RUNS", "5"))
        raw = f"{DATA}/bench-image.raw"
        t0 = time.monotonic()
        # Random-ish data: 1 MiB of random bytes repeated with a per-MiB counter, so
        # neither qcow2 zero detection nor compression-like shortcuts apply.
        block = os.urandom(1 << 20)
        with open(raw, "wb") as f:
            for i in range(size >> 20):
                f.write(i.to_bytes(8, "little") + block[8:])
            f.flush()
            os.fsync(f.fileno())
        print(f"   made {SIZE_GIB} GiB of random-ish raw data in {time.monotonic() - t0:.1f} s")
        img = versioned(cat["image"], "v2")
        _, _, doc = c.req("POST", f"{img}/images", {"name": "bench-volume-src",
                                                    "disk_format": "raw", "container_format": "bare"})
        iid = doc["id"]
        t0 = time.monotonic()
        with open(raw, "rb") as f:
            c.req("PUT", f"{img}/images/{iid}/file", f, length=size,
                  headers={"Content-Type": "application/octet-stream"})
        _, _, doc = c.req("GET", f"{img}/images/{iid}")
        t_up = time.monotonic() - t0
        print(f"   image {iid} uploaded in {t_up:.1f} s ({size / GIB * 1024 / t_up:.0f} MiB/s), "
              f"status {doc.get('status')}")
        if doc.get("status") != "active":
            raise ApiError(f"image {iid} is {doc.get('status')} after upload, not active")
        api, floor, staged, dl, cv = [], [], [], [], []
        for i in range(n):
            _, t, vid = create_volume(c, bs, {"size": SIZE_GIB, "imageRef": iid,
                                              "name": f"bench-image-{i}"}, poll)
            api.append(t)
            delete_volume(c, bs, vid)
            f = f"{DATA}/floor-image.qcow2"
            floor.append(timed_cmd(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, f]))
            os.unlink(f)
            # What the service has to do at least: fetch the image from the Image API into
            # a local file (fsync'd), then convert that file.
            local = f"{DATA}/floor-image.download"
            t_dl = download(c, f"{img}/images/{iid}/file", local)
            t_cv = timed_cmd(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", local, f])
            dl.append(t_dl)
            cv.append(t_cv)
            staged.append(t_dl + t_cv)
            os.unlink(f)
            os.unlink(local)
        compare(n, api, floor, f"API create imageRef -> available ({SIZE_GIB} GiB)",
                "qemu-img convert -O qcow2 (same raw file)")
        print(f"   {'floor 2: GET image file + fsync, then convert':<44} p50 {ms(statistics.median(staged))}"
              f"  (GET + fsync p50 {ms(statistics.median(dl)).strip()}, "
              f"convert p50 {ms(statistics.median(cv)).strip()})")
        print(f"   API p50 - floor 2 p50 = {ms(statistics.median(api) - statistics.median(staged)).strip()}, "
              f"API/floor 2 = {statistics.median(api) / statistics.median(staged):.1f}x")
        print("   (the API run also fetches the image through the Image API, as floor 2 does; "
              "page cache warm for all)")
        os.unlink(raw)

    def encrypted():
        n = int(os.environ.get("ENC_RUNS", "10"))
        _, _, doc = c.req("POST", f"{bs}/types", {"volume_type": {"name": "bench-luks"}})
        tid = doc["volume_type"]["id"]
        c.req("POST", f"{bs}/types/{tid}/encryption", {"encryption": {
            "provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256,
            "control_location": "front-end"}})
        secret = f"{DATA}/floor-secret"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32).hex().encode())
        os.close(fd)
        api, floor = [], []
        for i in range(n):
            _, t, vid = create_volume(c, bs, {"size": SIZE_GIB, "volume_type": tid,
                                              "name": f"bench-enc-{i}"}, poll)
            api.append(t)
            if i == 0:
                _, _, e = c.req("GET", f"{bs}/volumes/{vid}/encryption")
                print(f"   volume {vid}: encryption_key_id {e.get('encryption_key_id')}")
            delete_volume(c, bs, vid)
            f = f"{DATA}/floor-enc.qcow2"
            floor.append(timed_cmd([
                "qemu-img", "create", "-q", "--object", f"secret,id=sec0,file={secret}",
                "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=sec0", f, str(size)]))
            os.unlink(f)
        os.unlink(secret)
        compare(n, api, floor, f"API create LUKS type -> available ({SIZE_GIB} GiB)",
                "qemu-img create -f qcow2 -o encrypt.format=luks")
        c.req("DELETE", f"{bs}/types/{tid}")

    section(f"blank volume, {SIZE_GIB} GiB, file backend", blank)
    section(f"volume from a {SIZE_GIB} GiB raw image, file backend", from_image)
    section(f"encrypted (LUKS) blank volume, {SIZE_GIB} GiB, file backend", encrypted)
    print(f"\n   rustack RSS after the file-backend runs {rss():.1f} MiB")


def load(n, conc, fn):
    """Runs fn(i) for i in range(n) on conc threads; returns (wall s, results)."""
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(conc) as ex:
        res = list(ex.map(fn, range(n)))
    return time.monotonic() - t0, res


def mode_sim():
    c, project, cat = login()
    bs = cat["block-storage"]
    km = versioned(cat["key-manager"], "v1")
    conc = int(os.environ.get("CONCURRENCY", "8"))
    idle = rss()
    print(f"   block-storage endpoint {bs}; key-manager {km}")
    print(f"   rustack RSS idle {idle:.1f} MiB")
    res = {}

    def volumes():
        n = int(os.environ.get("VOLUMES", "400"))
        cpu0 = cpu_s()
        wall, r = load(n, conc, lambda i: create_volume(
            c, bs, {"size": 1, "name": f"bench-sim-{i}"}, 0.01))
        cpu = cpu_s() - cpu0
        calls = [x[0] for x in r]
        avail = [x[1] for x in r]
        res["vol"] = n / wall
        print(f"   {n} creates at concurrency {conc}: {wall:.2f} s, {n / wall:.0f} creates/s "
              f"(each client waits for available before its next create)")
        print(f"   create call            p50 {ms(statistics.median(calls))}  p99 {ms(pct(calls, 99))}")
        print(f"   create -> available    p50 {ms(statistics.median(avail))}  p99 {ms(pct(avail, 99))}")
        print(f"   server CPU {cpu:.2f} s = {cpu / n * 1000:.2f} ms per volume (incl. status polls); "
              f"RSS {rss():.1f} MiB", flush=True)

    def secrets():
        n = int(os.environ.get("SECRETS", "2000"))

        def store(i):
            t0 = time.monotonic()
            _, _, doc = c.req("POST", f"{km}/secrets", {
                "name": f"bench-{i}", "payload": f"bench secret payload {i}",
                "payload_content_type": "text/plain"})
            if not (doc or {}).get("secret_ref"):
                raise ApiError(f"POST {km}/secrets: no secret_ref in {doc}")
            return time.monotonic() - t0
        cpu0 = cpu_s()
        wall, r = load(n, conc, store)
        cpu = cpu_s() - cpu0
        print(f"   {n} stores at concurrency {conc}: {wall:.2f} s, {n / wall:.0f} secrets/s")
        print(f"   POST /v1/secrets       p50 {ms(statistics.median(r))}  p99 {ms(pct(r, 99))}")
        print(f"   server CPU {cpu:.2f} s = {cpu / n * 1000:.2f} ms per secret", flush=True)

    section("volume create throughput, simulated backend", volumes)
    section("secret store throughput (Key Manager)", secrets)
    print(f"\n== rustack RSS (VmRSS): idle {idle:.1f} MiB, after the throughput runs {rss():.1f} MiB")


class Console:
    """The guest's serial console log file, read incrementally."""

    def __init__(self, path):
        self.path = path
        self.buf = ""
        self.pos = 0

    def read(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        self.buf += data.decode(errors="replace")
        return self.buf

    def count(self, marker):
        return self.read().count(marker)

    def wait_count(self, marker, n, t0, timeout, poll=0.002):
        while self.count(marker) < n:
            if time.monotonic() - t0 > timeout:
                raise ApiError(f"no {n}th {marker!r} on the guest console within {timeout} s "
                               f"(last lines: {self.buf[-400:]!r})")
            time.sleep(poll)
        return time.monotonic() - t0


class Qmp:
    """A QMP session on the instance's monitor socket (rustack's driver connects per
    operation, so the monitor is free between API calls)."""

    def __init__(self, path):
        import socket
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.events = []
        self._line()  # greeting
        self.cmd("qmp_capabilities")

    def _line(self):
        line = self.f.readline()
        if not line:
            raise ApiError("QMP connection closed")
        return json.loads(line)

    def cmd(self, execute, **args):
        self.f.write(json.dumps({"execute": execute, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            m = self._line()
            if "event" in m:
                self.events.append(m)
            elif "error" in m:
                raise ApiError(f"QMP {execute}: {m['error']}")
            elif "return" in m:
                return m["return"]

    def wait_event(self, name, timeout=60):
        t0 = time.monotonic()
        while not any(e["event"] == name for e in self.events):
            if time.monotonic() - t0 > timeout:
                raise ApiError(f"no QMP event {name} within {timeout} s")
            self.events.append(self._line())
        self.events = [e for e in self.events if e["event"] != name]

    def close(self):
        self.f.close()
        self.s.close()


def mode_guest():
    import glob
    c, project, cat = login()
    bs, img = cat["block-storage"], versioned(cat["image"], "v2")
    nova = cat.get("compute")
    if not nova:
        raise ApiError("the token's catalog has no public compute endpoint")
    mv = {"OpenStack-API-Version": "compute 2.37"}
    n = int(os.environ.get("ATTACH_RUNS", "5"))
    state = {}

    def boot():
        _, _, doc = c.req("POST", f"{img}/images", {"name": "bench-guest", "disk_format": "qcow2",
                                                    "container_format": "bare"})
        iid = doc["id"]
        with open(A["image"], "rb") as f:
            c.req("PUT", f"{img}/images/{iid}/file", f, length=os.path.getsize(A["image"]),
                  headers={"Content-Type": "application/octet-stream"})
        _, _, doc = c.req("POST", f"{nova}/flavors", {"flavor": {
            "name": "bench-guest", "ram": 256, "vcpus": 1, "disk": 1}})
        fid = doc["flavor"]["id"]
        t0 = time.monotonic()
        _, _, doc = c.req("POST", f"{nova}/servers", {"server": {
            "name": "bench-guest", "imageRef": iid, "flavorRef": fid, "networks": "none"}},
            headers=mv)
        sid = doc["server"]["id"]
        while True:
            _, _, doc = c.req("GET", f"{nova}/servers/{sid}", headers=mv)
            st = doc["server"]["status"]
            if st == "ACTIVE":
                break
            if st == "ERROR" or time.monotonic() - t0 > 300:
                raise ApiError(f"server {sid} is {st}: {json.dumps(doc['server'].get('fault'))}")
            time.sleep(0.2)
        logs = glob.glob(f"{DATA}/**/{sid}/console.log", recursive=True)
        socks = glob.glob(f"{DATA}/**/{sid}/qmp.sock", recursive=True)
        if not logs or not socks:
            raise ApiError(f"no console.log / qmp.sock of {sid} under {DATA}")
        con = Console(logs[0])
        t = con.wait_count("RUSTACK-GUEST-UP", 1, t0, 600, poll=0.2)
        print(f"   guest {sid} booted (TCG, no network) in {t:.1f} s: console {logs[0]}")
        state.update(sid=sid, con=con, qmp=socks[0])

    def attach():
        sid, con = state["sid"], state["con"]
        api, api_call, inuse, floor, api_gone, floor_gone = [], [], [], [], [], []
        for i in range(n):
            _, _, vid = create_volume(c, bs, {"size": SIZE_GIB, "name": f"bench-attach-{i}"}, 0.005)
            adds, rems = con.count("RUSTACK-DISK-ADD"), con.count("RUSTACK-DISK-REMOVE")
            t0 = time.monotonic()
            c.req("POST", f"{nova}/servers/{sid}/os-volume_attachments",
                  {"volumeAttachment": {"volumeId": vid}})
            api_call.append(time.monotonic() - t0)
            api.append(con.wait_count("RUSTACK-DISK-ADD", adds + 1, t0, 120))
            inuse.append(wait_volume(c, f"{bs}/volumes/{vid}", t0, 0.005, want="in-use"))
            t0 = time.monotonic()
            c.req("DELETE", f"{nova}/servers/{sid}/os-volume_attachments/{vid}")
            api_gone.append(con.wait_count("RUSTACK-DISK-REMOVE", rems + 1, t0, 120))
            wait_volume(c, f"{bs}/volumes/{vid}", t0, 0.01)
            delete_volume(c, bs, vid)
            # Floor: the same hot-plug by hand on the same guest's monitor (qcow2 file made
            # by qemu-img, blockdev-add + device_add as the driver does).
            f = f"{DATA}/floor-attach-{i}.qcow2"
            timed_cmd(["qemu-img", "create", "-q", "-f", "qcow2", f, str(SIZE_GIB * GIB)])
            adds, rems = con.count("RUSTACK-DISK-ADD"), con.count("RUSTACK-DISK-REMOVE")
            q = Qmp(state["qmp"])
            try:
                t0 = time.monotonic()
                q.cmd("blockdev-add", **{"node-name": "benchfloor", "driver": "qcow2",
                                         "file": {"driver": "file", "filename": f, "aio": "threads"}})
                q.cmd("device_add", driver="virtio-blk-pci", drive="benchfloor", id="benchfloor-dev")
                floor.append(con.wait_count("RUSTACK-DISK-ADD", adds + 1, t0, 120))
                t0 = time.monotonic()
                q.cmd("device_del", id="benchfloor-dev")
                floor_gone.append(con.wait_count("RUSTACK-DISK-REMOVE", rems + 1, t0, 120))
                q.wait_event("DEVICE_DELETED")
                q.cmd("blockdev-del", **{"node-name": "benchfloor"})
            finally:
                q.close()
            os.unlink(f)
        compare(n, api, floor, "attach API call -> disk in the guest",
                "QMP blockdev-add + device_add -> disk in guest")
        print(f"   {'(attach API call alone':<44} p50 {ms(statistics.median(api_call))}; "
              f"-> volume in-use p50 {ms(statistics.median(inuse)).strip()})")
        compare(n, api_gone, floor_gone, "detach API call -> disk gone from the guest",
                "QMP device_del -> disk gone from the guest")

    section("guest for the attach runs (QEMU/TCG)", boot)
    if "sid" in state:
        section(f"attach latency, {SIZE_GIB} GiB blank volume, file backend", attach)
        c.req("DELETE", f"{nova}/servers/{state['sid']}")


{"file": mode_file, "sim": mode_sim, "guest": mode_guest}[MODE]()
if FAILED:
    print(f"\nFAILED sections: {', '.join(FAILED)}")
    sys.exit(1)
PY

RC=0
if [[ "${GUEST_ONLY:-0}" != 1 ]]; then
    write_config a file
    start_cloud a
    python3 "$WORK/bench.py" file "pid=$PID" "data=$DATA" "idp=$IDP" "password=$PW" || RC=1
    stop_cloud

    write_config b simulated
    start_cloud b
    python3 "$WORK/bench.py" sim "pid=$PID" "data=$DATA" "idp=$IDP" "password=$PW" || RC=1
    stop_cloud
fi

echo
if [[ "$WITH_GUEST" != 1 ]]; then
    echo "attach latency: skipped (needs --with-guest, root)"
elif [[ $(id -u) -ne 0 ]] || ! command -v qemu-system-x86_64 >/dev/null; then
    echo "attach latency: skipped (--with-guest needs root and qemu-system-x86_64; uid $(id -u), qemu-system-x86_64 $(command -v qemu-system-x86_64 || echo missing))"
else
    # shellcheck source=scripts/lib.sh
    source "$ROOT/scripts/lib.sh"
    "$ROOT/scripts/build-test-image.sh" >/dev/null  # cached; rebuilt when the guest scripts change
    write_config c file
    sed -i 's/^driver = "simulated"/driver = "qemu"/' "$WORK/c/rustack.toml"
    start_cloud c
    python3 "$WORK/bench.py" guest "pid=$PID" "data=$DATA" "idp=$IDP" "password=$PW" \
        "image=$RUSTACK_CI_CACHE/images/rustack-test.qcow2" || RC=1
    stop_cloud
    pkill -KILL -f "qemu-system.*$WORK" 2>/dev/null || true
fi
exit "$RC"
