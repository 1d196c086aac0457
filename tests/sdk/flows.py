#!/usr/bin/env python3
"""openstacksdk flows against a running rustack cloud (what Ansible's openstack.cloud
modules and most SDK users do on their first day):

1. ``create_server(auto_ip=True, wait=True)`` comes back ACTIVE with a floating IP on
   the external network, listed in the server's addresses (``OS-EXT-IPS:type:
   floating``) and as ``public_v4``; with ``--reachable`` it also answers ping;
2. ``compute.stop_server`` / ``start_server`` with ``compute.wait_for_status``
   (SHUTOFF, then ACTIVE);
3. ``create_image_snapshot(wait=True)`` gives an active image;
4. ``compute.add_floating_ip_to_server`` associates a new floating IP with a second
   server (the ``addFloatingIp`` action, which exists up to compute 2.43: the flow
   pins ``compute_api_version="2.43"``, as it must on any current nova);
5. ``compute.add_security_group_to_server`` adds a group to the server (the
   ``addSecurityGroup`` action); its port then carries the group.

usage: OS_CLOUD=... flows.py --image NAME --flavor NAME --network NAME --external NAME
       [--reachable] [--timeout SECONDS]
Each flow prints ``ok:`` or ``FAILED:``; everything created is deleted at the end;
exit status 1 if any flow failed.
"""

import argparse
import json
import subprocess
import sys
import time
import traceback
import uuid

import openstack

PASSED = []
FAILED = []


def flow(name):
    """Runs one flow; records it as passed or failed (with the reason)."""

    def wrap(fn):
        def run(*args):
            print(f"== {name}", flush=True)
            t = time.monotonic()
            try:
                detail = fn(*args)
                PASSED.append(name)
                print(f"   ok: {name}: {detail} ({time.monotonic() - t:.1f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported, then the next flow runs
                FAILED.append(name)
                print(f"   FAILED: {name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                traceback.print_exc(limit=3)

        return run

    return wrap


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def floating_addresses(server):
    out = []
    for addrs in (server.addresses or {}).values():
        for a in addrs:
            if a.get("OS-EXT-IPS:type") == "floating":
                out.append(a["addr"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image", required=True)
    p.add_argument("--flavor", required=True)
    p.add_argument("--network", required=True)
    p.add_argument("--external", required=True)
    p.add_argument("--reachable", action="store_true")
    p.add_argument("--timeout", type=int, default=300)
    a = p.parse_args()

    conn = openstack.connect()
    tag = uuid.uuid4().hex[:6]
    made = {"servers": [], "fips": [], "images": [], "groups": []}
    state = {}

    @flow("create_server(auto_ip=True, wait=True)")
    def auto_ip():
        s = conn.create_server(
            f"sdk-auto-{tag}",
            image=a.image,
            flavor=a.flavor,
            network=a.network,
            auto_ip=True,
            wait=True,
            timeout=a.timeout,
        )
        made["servers"].append(s.id)
        state["server"] = s
        check(s.status == "ACTIVE", f"status {s.status}")
        fips = floating_addresses(conn.compute.get_server(s.id))
        check(fips, f"no floating address in {s.addresses}")
        made["fips"].extend(fips)
        # The cloud layer's view (what Ansible's openstack.cloud.server reports): the
        # server create_server returns after attaching is the raw compute record, so ask
        # get_server, which fills public_v4 from the addresses.
        public_v4 = conn.get_server(s.id).public_v4
        check(public_v4 in fips, f"public_v4 {public_v4!r} is not the floating IP {fips}")
        ext = conn.network.find_network(a.external, ignore_missing=False)
        ips = list(conn.network.ips(floating_ip_address=fips[0]))
        check(ips and ips[0].floating_network_id == ext.id, f"{fips[0]} is not on {a.external}")
        if a.reachable:
            deadline = time.monotonic() + 120
            while subprocess.call(["ping", "-c", "1", "-W", "1", fips[0]], stdout=subprocess.DEVNULL) != 0:
                check(time.monotonic() < deadline, f"no ping answer from {fips[0]}")
                time.sleep(0.5)
            return f"{s.id} ACTIVE, floating {fips[0]} answers ping"
        return f"{s.id} ACTIVE, floating {fips[0]} (public_v4)"

    @flow("stop/start with compute.wait_for_status")
    def stop_start():
        s = state["server"]
        conn.compute.stop_server(s)
        s = conn.compute.wait_for_status(conn.compute.get_server(s.id), "SHUTOFF", failures=["ERROR"], interval=1, wait=a.timeout)
        check(s.status == "SHUTOFF", s.status)
        conn.compute.start_server(s)
        s = conn.compute.wait_for_status(conn.compute.get_server(s.id), "ACTIVE", failures=["ERROR"], interval=1, wait=a.timeout)
        check(s.status == "ACTIVE", s.status)
        return "SHUTOFF, then ACTIVE"

    @flow("create_image_snapshot(wait=True)")
    def snapshot():
        s = state["server"]
        img = conn.create_image_snapshot(f"sdk-snap-{tag}", s, wait=True, timeout=a.timeout)
        made["images"].append(img.id)
        img = conn.image.get_image(img.id)
        check(img.status == "active", f"image status {img.status}")
        return f"image {img.id} active, {img.size} bytes"

    @flow("compute.add_floating_ip_to_server")
    def add_fip():
        s = conn.create_server(
            f"sdk-plain-{tag}", image=a.image, flavor=a.flavor, network=a.network, auto_ip=False, wait=True, timeout=a.timeout
        )
        made["servers"].append(s.id)
        state["plain"] = s
        ext = conn.network.find_network(a.external, ignore_missing=False)
        fip = conn.network.create_ip(floating_network_id=ext.id)
        made["fips"].append(fip.floating_ip_address)
        # addFloatingIp exists up to compute 2.43 (nova answers 404 above) and the proxy
        # sends the highest version both sides know: pin 2.43, as on any current nova.
        conn_243 = openstack.connect(compute_api_version="2.43")
        conn_243.compute.add_floating_ip_to_server(s.id, fip.floating_ip_address)
        deadline = time.monotonic() + 30
        while fip.floating_ip_address not in floating_addresses(conn.compute.get_server(s.id)):
            check(time.monotonic() < deadline, f"{fip.floating_ip_address} never listed in the server's addresses")
            time.sleep(0.5)
        fip = conn.network.get_ip(fip.id)
        ports = list(conn.network.ports(device_id=s.id))
        check(fip.port_id in [p.id for p in ports], f"floating IP port {fip.port_id} is not the server's")
        return f"{fip.floating_ip_address} -> {s.id}"

    @flow("compute.add_security_group_to_server")
    def add_sg():
        s = state.get("plain") or state["server"]
        g = conn.network.create_security_group(name=f"sdk-web-{tag}")
        made["groups"].append(g.id)
        conn.network.create_security_group_rule(
            security_group_id=g.id, direction="ingress", protocol="tcp", port_range_min=80, port_range_max=80
        )
        conn.compute.add_security_group_to_server(s, g)
        names = [x["name"] for x in conn.compute.fetch_server_security_groups(conn.compute.get_server(s.id)).security_groups or []]
        check(g.name in names, f"server security groups {names}")
        ports = list(conn.network.ports(device_id=s.id))
        check(ports and all(g.id in p.security_group_ids for p in ports), "the server's port lacks the group")
        return f"{g.name} on {s.id} and its port"

    try:
        auto_ip()
        if "server" in state:
            stop_start()
            snapshot()
        else:
            FAILED.extend(["stop/start (no server)", "snapshot (no server)"])
        add_fip()
        add_sg()
    finally:
        for sid in made["servers"]:
            try:
                conn.delete_server(sid, wait=True, timeout=a.timeout)
            except Exception as e:  # noqa: BLE001
                print(f"   cleanup: server {sid}: {e}", file=sys.stderr)
        for addr in made["fips"]:
            for ip in conn.network.ips(floating_ip_address=addr):
                conn.network.delete_ip(ip, ignore_missing=True)
        for iid in made["images"]:
            conn.image.delete_image(iid, ignore_missing=True)
        for gid in made["groups"]:
            conn.network.delete_security_group(gid, ignore_missing=True)
    print(json.dumps({"passed": len(PASSED), "failed": FAILED}))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
