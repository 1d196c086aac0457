#!/usr/bin/env python3
"""scripts/crash/crash_test.py - kill -9 `rustack up` in the middle of work, restart it
on the same data dir, and check that nothing leaked (run by scripts/crash-test.sh).

Rounds (each: a burst of requests, SIGKILL at a point, restart, checks):
  crash-at:POINT      server creates; the cloud aborts itself at crash point POINT
                      (RUSTACK_CRASH_AT: build.after_claim, build.after_port), exactly
                      where a kill -9 is least likely to land by chance
  compute-first-post  server creates; killed as soon as the first POST answered
  compute-mid-burst   server creates; killed at a random point of the burst
  compute-deletes     servers created, then deleted; killed during the deletes
  volume-burst        volume creates, attachment create+complete, volume deletes;
                      killed at a random point
After each restart, within RECOVERY_WINDOW seconds:
  - no server in BUILD (or stuck with task_state deleting);
  - every Placement allocation's consumer is a live server with a host;
  - every provider's usages equal the sum of the live servers' flavors on it;
  - every port with device_owner compute:* belongs to a live server;
  - no volume in creating/deleting/attaching/detaching/reserved;
  - no file under <data-dir>/volumes without a live volume;
  - no attachment whose server is not live, none on an available volume.
Standard library only: it runs where python3 runs.
"""

import argparse
import concurrent.futures as cf
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

RECOVERY_WINDOW = 60.0
TRANSITIONAL_VOLUME = {"creating", "deleting", "attaching", "detaching", "reserved",
                       "extending"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Violation(Exception):
    pass


class Cloud:
    """One `rustack up` process on a fixed data dir and fixed ports."""

    def __init__(self, binary, data, out, ports):
        self.binary = binary
        self.data = data
        self.out = out
        self.ports = ports  # option -> port
        self.proc = None
        self.log_path = os.path.join(out, "rustack.log")
        self.token = None
        self.project = None
        self.lock = threading.Lock()

    def url(self, svc):
        p = self.ports
        return {
            "identity": f"http://127.0.0.1:{p['--identity-port']}/v3",
            "image": f"http://127.0.0.1:{p['--image-port']}/v2",
            "network": f"http://127.0.0.1:{p['--network-port']}/v2.0",
            "placement": f"http://127.0.0.1:{p['--placement-port']}",
            "compute": f"http://127.0.0.1:{p['--compute-port']}/v2.1",
            "volume": f"http://127.0.0.1:{p['--block-storage-port']}/v3",
        }[svc]

    def start(self, extra_env=None):
        args = [self.binary, "up", "--data-dir", self.data]
        for k, v in self.ports.items():
            args += [k, str(v)]
        with open(self.log_path, "a") as f:
            f.write(f"\n===== start {time.strftime('%H:%M:%S')}\n")
        offset = os.path.getsize(self.log_path)
        logf = open(self.log_path, "a")
        env = dict(os.environ, NO_COLOR="1")
        env.pop("RUSTACK_CRASH_AT", None)
        env.update(extra_env or {})
        self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        logf.close()
        with open(os.path.join(self.out, "rustack.pid"), "w") as f:
            f.write(f"{self.proc.pid}\n")
        deadline = time.time() + 120
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                if b"\nrustack is up" in b"\n" + f.read():
                    break
            if self.proc.poll() is not None or time.time() > deadline:
                raise Violation(f"rustack up did not start (see {self.log_path})")
            time.sleep(0.2)
        self.token = None
        self.auth()

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def auth(self):
        pw = None
        with open(os.path.join(self.data, "passwords.yml")) as f:
            for line in f:
                if line.startswith("keystone_admin_password:"):
                    pw = line.split(":", 1)[1].strip()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": pw}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        req = urllib.request.Request(self.url("identity") + "/auth/tokens",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.token = r.headers["X-Subject-Token"]
            self.project = json.load(r)["token"]["project"]["id"]

    def call(self, method, svc, path, body=None, headers=None, raw=None, ok=(200, 201, 202, 204)):
        """(status, json or None); raises Violation for an unexpected status."""
        h = {"x-auth-token": self.token or "", "accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["content-type"] = "application/json"
        if raw is not None:
            data = raw
            h["content-type"] = "application/octet-stream"
        h.update(headers or {})
        req = urllib.request.Request(self.url(svc) + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if ok is not None and status not in ok:
            raise Violation(f"{method} {svc}{path}: HTTP {status}: {text[:300]!r}")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None


PLACEMENT = {"OpenStack-API-Version": "placement 1.28"}
COMPUTE = {}  # 2.1: every rustack version serves it
FLAVORS = {}
VOLUME = {"OpenStack-API-Version": "volume 3.44"}


def quietly(fn, *a, **kw):
    """Runs a request of the burst; a killed cloud makes it fail, which is expected."""
    try:
        return fn(*a, **kw)
    except Exception as e:  # noqa: BLE001 - connection resets are the point
        return e


# ----------------------------------------------------------------- fixtures

def setup(c):
    _, img = c.call("POST", "image", "/images", {
        "name": "crash-img", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"})
    c.call("PUT", "image", f"/images/{img['id']}/file", raw=b"\0" * 65536)
    _, net = c.call("POST", "network", "/networks", {"network": {"name": "crash-net"}})
    c.call("POST", "network", "/subnets", {"subnet": {
        "network_id": net["network"]["id"], "ip_version": 4, "cidr": "10.77.0.0/16"}})
    c.call("PUT", "compute", f"/os-quota-sets/{c.project}", {"quota_set": {
        "instances": -1, "cores": -1, "ram": -1}})
    c.call("PUT", "volume", f"/{c.project}/os-quota-sets/{c.project}", {"quota_set": {
        "volumes": -1, "gigabytes": -1}})
    _, rps = c.call("GET", "placement", "/resource_providers", headers=PLACEMENT)
    for rp in rps["resource_providers"]:
        _, inv = c.call("GET", "placement", f"/resource_providers/{rp['uuid']}/inventories",
                        headers=PLACEMENT)
        log(f"provider {rp['name']}: " + ", ".join(
            f"{k} {v['total']}x{v['allocation_ratio']}" for k, v in inv["inventories"].items()))
    return img["id"], net["network"]["id"]


def server_create(c, name, image, net):
    _, s = c.call("POST", "compute", "/servers", {"server": {
        "name": name, "imageRef": image, "flavorRef": "1",
        "networks": [{"uuid": net}]}}, headers=COMPUTE)
    return s["server"]["id"]


def servers(c):
    _, b = c.call("GET", "compute", "/servers/detail?all_tenants=1", headers=COMPUTE)
    return b["servers"]


def wait_servers(c, ids, want, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = {s["id"]: s["status"] for s in servers(c)}
        if all(st.get(i) in want for i in ids):
            return st
        time.sleep(0.5)
    return {s["id"]: s["status"] for s in servers(c)}


# ----------------------------------------------------------------- checks

def flavor(c, fid):
    if fid not in FLAVORS:
        _, f = c.call("GET", "compute", f"/flavors/{fid}")
        FLAVORS[fid] = f["flavor"]
    return FLAVORS[fid]


def check_compute(c):
    """Returns a list of violations (empty when the cloud is consistent)."""
    bad = []
    live = {s["id"]: s for s in servers(c)}
    for s in live.values():
        if s["status"] == "BUILD":
            bad.append(f"server {s['id']} is still in BUILD")
        if s.get("OS-EXT-STS:task_state") == "deleting":
            bad.append(f"server {s['id']} is still deleting")
    _, rps = c.call("GET", "placement", "/resource_providers", headers=PLACEMENT)
    for rp in rps["resource_providers"]:
        _, al = c.call("GET", "placement", f"/resource_providers/{rp['uuid']}/allocations",
                       headers=PLACEMENT)
        for consumer in al["allocations"]:
            s = live.get(consumer)
            if s is None:
                bad.append(f"allocation of consumer {consumer} on {rp['name']} has no live server")
            elif not s.get("OS-EXT-SRV-ATTR:host"):
                bad.append(f"allocation of {s['status']} server {consumer} that has no host")
        single = len(rps["resource_providers"]) == 1
        _, us = c.call("GET", "placement", f"/resource_providers/{rp['uuid']}/usages",
                       headers=PLACEMENT)
        want = {"VCPU": 0, "MEMORY_MB": 0, "DISK_GB": 0}
        for s in live.values():
            if not s.get("OS-EXT-SRV-ATTR:host"):
                continue
            if not single and rp["name"] not in (s.get("OS-EXT-SRV-ATTR:hypervisor_hostname"),
                                                 s.get("OS-EXT-SRV-ATTR:host")):
                continue
            f = flavor(c, s["flavor"]["id"])
            want["VCPU"] += f["vcpus"]
            want["MEMORY_MB"] += f["ram"]
            want["DISK_GB"] += f["disk"] + f.get("ephemeral", 0)
        got = {k: us["usages"].get(k, 0) for k in want}
        if got != want:
            bad.append(f"provider {rp['name']} usages {got} != live servers' flavors {want}")
    _, ports = c.call("GET", "network", "/ports")
    for p in ports["ports"]:
        if not p["device_owner"].startswith("compute:"):
            continue
        s = live.get(p["device_id"])
        if s is None:
            bad.append(f"port {p['id']} (device_id {p['device_id']}) has no live server")
        elif s["status"] == "ERROR" and not s.get("OS-EXT-SRV-ATTR:host"):
            bad.append(f"port {p['id']} of ERROR server {s['id']} that never got a host")
    return bad


def check_volumes(c, data):
    bad = []
    live_servers = {s["id"] for s in servers(c)}
    _, vb = c.call("GET", "volume", f"/{c.project}/volumes/detail?all_tenants=1", headers=VOLUME)
    vols = {v["id"]: v for v in vb["volumes"]}
    for v in vols.values():
        if v["status"] in TRANSITIONAL_VOLUME:
            bad.append(f"volume {v['id']} is still {v['status']}")
    vdir = os.path.join(data, "volumes")
    for name in sorted(os.listdir(vdir)):
        path = os.path.join(vdir, name)
        if os.path.isdir(path):
            if name == "tmp" and os.listdir(path):
                bad.append(f"leftover files in {path}: {os.listdir(path)}")
            continue
        vid = name.split(".", 1)[0]
        if vid not in vols:
            bad.append(f"orphan volume file {path}")
    _, ab = c.call("GET", "volume", f"/{c.project}/attachments/detail?all_tenants=1",
                   headers=VOLUME)
    for a in ab["attachments"]:
        vs = vols.get(a["volume_id"], {}).get("status")
        if vs == "available":
            bad.append(f"attachment {a['id']} ({a['status']}) on volume {a['volume_id']} "
                       f"that is available")
        if a.get("instance") and a["instance"] not in live_servers:
            bad.append(f"attachment {a['id']} of volume {a['volume_id']} has no live server "
                       f"({a['instance']})")
    return bad


def settle(c, name, checker):
    """Polls `checker` until it reports nothing or RECOVERY_WINDOW passed."""
    t0 = time.time()
    while True:
        try:
            bad = checker()
        except Violation as e:
            bad = [str(e)]
        if not bad:
            log(f"  ok: {name} consistent {time.time() - t0:.1f} s after the restart")
            return []
        if time.time() - t0 > RECOVERY_WINDOW:
            for b in bad:
                log(f"  VIOLATION ({name}): {b}")
            return bad
        time.sleep(1)


# ----------------------------------------------------------------- rounds

def burst_creates(c, image, net, n, tag, kill_after=0.0):
    """Fires n server creates concurrently; kills the cloud kill_after seconds after the
    first answer. Returns the ids of the accepted servers."""
    first = threading.Event()

    def one(k):
        r = quietly(server_create, c, f"crash-{tag}-{k}", image, net)
        if not isinstance(r, Exception):
            first.set()
        return r

    with cf.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(one, k) for k in range(n)]
        first.wait(30)
        if kill_after:
            time.sleep(kill_after)
        c.kill9()
        res = [f.result() for f in futs]
    return [r for r in res if isinstance(r, str)]


def round_compute(c, data, image, net, mode, n, frac):
    """frac in [0, 1): where in the burst the kill lands."""
    log(f"round {mode}: {n} concurrent server creates")
    if mode == "compute-first-post":
        ids = burst_creates(c, image, net, n, mode)
        log(f"  kill -9 right after the first POST answered ({len(ids)} accepted)")
    elif mode == "compute-mid-burst":
        # The builds run right after the POSTs answer, and take well under a second
        # on the simulated driver: the kill lands in that stretch.
        delay = 0.4 * frac
        ids = burst_creates(c, image, net, n, mode, kill_after=delay)
        log(f"  kill -9 {delay:.2f} s after the first POST answered ({len(ids)} accepted)")
    else:
        ids = []
        for k in range(n):
            ids.append(server_create(c, f"crash-{mode}-{k}", image, net))
        wait_servers(c, ids, {"ACTIVE", "ERROR"}, 60)
        delay = 0.02 + 0.6 * frac
        with cf.ThreadPoolExecutor(n) as ex:
            futs = [ex.submit(quietly, c.call, "DELETE", "compute", f"/servers/{i}",
                              headers=COMPUTE) for i in ids]
            time.sleep(delay)
            c.kill9()
            for f in futs:
                f.result()
        log(f"  kill -9 {delay:.2f} s into {n} concurrent deletes")
    t0 = time.time()
    c.start()
    log(f"  restarted in {time.time() - t0:.1f} s")
    return settle(c, "compute", lambda: check_compute(c))


def round_crash_point(c, data, image, net, point, n):
    """The cloud aborts itself at `point` (RUSTACK_CRASH_AT) during a burst of creates:
    a kill -9 at exactly that place."""
    log(f"round crash-at {point}: {n} concurrent server creates")
    c.kill9()
    c.start({"RUSTACK_CRASH_AT": point})
    proc = c.proc
    with cf.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(quietly, server_create, c, f"crash-{point}-{k}", image, net)
                for k in range(n)]
        try:
            proc.wait(30)
            log(f"  the cloud aborted at {point} (exit {proc.returncode})")
        except subprocess.TimeoutExpired:
            log(f"  {point} was not reached in 30 s (a binary without crash points?): kill -9")
        c.kill9()
        for f in futs:
            f.result()
    t0 = time.time()
    c.start()
    log(f"  restarted in {time.time() - t0:.1f} s")
    return settle(c, "compute", lambda: check_compute(c))


def round_volumes(c, data, image, net, n):
    log(f"round volume-burst: {n} volume creates, attachments, deletes")
    sid = server_create(c, "crash-vol-host", image, net)
    if wait_servers(c, [sid], {"ACTIVE"}, 60).get(sid) != "ACTIVE":
        return [f"server {sid} for the volume round did not become ACTIVE"]
    pid = c.project
    base = []
    for k in range(n):
        _, v = c.call("POST", "volume", f"/{pid}/volumes",
                      {"volume": {"size": 1, "name": f"crash-base-{k}"}}, headers=VOLUME)
        base.append(v["volume"]["id"])
    deadline = time.time() + 60
    while time.time() < deadline:
        _, vb = c.call("GET", "volume", f"/{pid}/volumes/detail", headers=VOLUME)
        if all(v["status"] == "available" for v in vb["volumes"] if v["id"] in base):
            break
        time.sleep(0.5)
    connector = {"host": "crash", "initiator": "iqn.crash", "ip": "127.0.0.1",
                 "platform": "x86_64", "os_type": "linux", "multipath": False}

    def attach(vid):
        _, a = c.call("POST", "volume", f"/{pid}/attachments", {"attachment": {
            "volume_uuid": vid, "instance_uuid": sid, "connector": connector}},
            headers=VOLUME)
        c.call("POST", "volume", f"/{pid}/attachments/{a['attachment']['id']}/action",
               {"os-complete": None}, headers=VOLUME)

    work = []
    half = n // 2
    for k in range(n):
        work.append((c.call, "POST", "volume", f"/{pid}/volumes",
                     {"volume": {"size": 1, "name": f"crash-new-{k}"}}))
    for vid in base[:half]:
        work.append((attach, vid))
    for vid in base[half:]:
        work.append((c.call, "DELETE", "volume", f"/{pid}/volumes/{vid}"))
    random.shuffle(work)
    # Volume requests finish within ~0.1 s of being sent: the kill lands in that
    # stretch, most requests still in flight.
    delay = random.uniform(0.0, 0.12)
    first = threading.Event()

    def one(fn, *args, **kw):
        r = quietly(fn, *args, **kw)
        if not isinstance(r, Exception):
            first.set()
        return r

    with cf.ThreadPoolExecutor(len(work)) as ex:
        futs = []
        for w in work:
            fn, *args = w
            kw = {"headers": VOLUME} if fn == c.call else {}
            futs.append(ex.submit(one, fn, *args, **kw))
        time.sleep(delay)
        c.kill9()
        done = sum(1 for f in futs if not isinstance(f.result(), Exception))
    log(f"  kill -9 {delay:.2f} s into {len(work)} concurrent volume requests "
        f"({done} answered)")
    t0 = time.time()
    c.start()
    log(f"  restarted in {time.time() - t0:.1f} s")
    bad = settle(c, "volumes", lambda: check_volumes(c, data))
    bad += settle(c, "compute", lambda: check_compute(c))
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ports", required=True, help="opt=port,opt=port,...")
    ap.add_argument("--servers", type=int, default=int(os.environ.get("CRASH_SERVERS", "10")))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("CRASH_ROUNDS", "8")),
                    help="mid-burst server-create rounds")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", "0")) or None)
    a = ap.parse_args()
    # SIGTERM/SIGINT end the run through the `finally` below, which stops the cloud.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seed = a.seed or random.randrange(1, 1 << 30)
    random.seed(seed)
    log(f"crash test: seed {seed} (CRASH_SEED={seed} repeats the delays)")
    ports = dict(kv.split("=", 1) for kv in a.ports.split(","))
    c = Cloud(a.bin, a.data, a.out, ports)
    found = {}
    rounds = 0
    try:
        c.start()
        image, net = setup(c)
        # Kill points spread over the burst (the builds' claim/port windows are short
        # on the simulated driver: many points find them).
        plan = ["crash-at:build.after_claim", "crash-at:build.after_port",
                "compute-first-post"]
        plan += ["compute-mid-burst"] * a.rounds
        plan += ["compute-deletes"] * 2
        plan += ["volume-burst"] * 3
        for k, mode in enumerate(plan):
            rounds += 1
            if mode.startswith("crash-at:"):
                bad = round_crash_point(c, a.data, image, net, mode.split(":", 1)[1],
                                        a.servers)
            elif mode == "volume-burst":
                bad = round_volumes(c, a.data, image, net, a.servers)
            else:
                bad = round_compute(c, a.data, image, net, mode, a.servers,
                                    (k % max(a.rounds, 1) + random.random()) / max(a.rounds, 1))
            if bad:
                found[f"{rounds}:{mode}"] = bad
    finally:
        c.kill9()
    log(f"{rounds} rounds")
    if found:
        n = sum(len(v) for v in found.values())
        log(f"FAILED: {n} violations in {len(found)} of {rounds} rounds: "
            + ", ".join(found))
        sys.exit(1)
    log("crash test passed: every round recovered to a consistent cloud")


if __name__ == "__main__":
    main()
