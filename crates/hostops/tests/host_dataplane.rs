//! Host tests of the Linux implementations and the reconciler on the real kernel.
//! Opt-in: they need root and run only with `RUSTACK_HOST_TESTS=1`; otherwise each test
//! prints a note and passes.
//!
//! Containment: every device lives in namespaces these tests create, named with a
//! per-run prefix so parallel runs never collide; the "host" of the data plane is one of
//! them (`HostConfig::host_netns`). Nothing is configured in the root namespace, and
//! addresses are 10.77/16-10.78/16 and TEST-NET-3 (203.0.113.0/24) inside them only.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use rustack_hostops::dataplane::{
    plan, Change, FixedIp, FloatingIp, HostConfig, Network, Port, Reconciler, Router, Segment,
    Subnet, Topology, VtepConfig,
};
use rustack_hostops::dhcp::{DhcpOutcome, DhcpServer, LinuxDnsmasq};
use rustack_hostops::net::{IpNet, LinkKind, LinkSpec, LinkUpdate, LinuxNet, NetOps, Route};
use rustack_hostops::nft::LinuxNft;

fn enabled(test: &str) -> bool {
    let on = std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("note: skipping host test {test}: set RUSTACK_HOST_TESTS=1 and run as root");
    }
    on
}

/// Unique short tag for this test in this process.
fn tag(n: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:05x}{n}", (std::process::id() ^ nanos) & 0xfffff)
}

/// Removes whatever a test created, also when it panics.
struct Guard {
    prefix: String,
    state_dir: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let d = LinuxDnsmasq::new(&self.state_dir);
        for s in d.dhcp_list().unwrap_or_default() {
            let _ = d.dhcp_stop(&s.name);
        }
        for ns in LinuxNet.netns_list().unwrap_or_default() {
            if ns.starts_with(&self.prefix) {
                let _ = LinuxNet.netns_del(&ns);
            }
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn port(
    id: String,
    net: &str,
    mac: &str,
    subnet: &str,
    ip: &str,
    owner: &str,
    device: &str,
) -> Port {
    Port {
        id,
        network_id: net.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: subnet.into(),
            ip_address: ip.parse().unwrap(),
        }],
        device_owner: owner.into(),
        device_id: device.into(),
        ..Port::default()
    }
}

fn subnet(id: &str, net: &str, cidr: &str, gw: &str, dhcp: bool) -> Subnet {
    Subnet {
        id: id.into(),
        network_id: net.into(),
        cidr: cidr.parse().unwrap(),
        gateway_ip: Some(gw.parse().unwrap()),
        enable_dhcp: dhcp,
        dns_nameservers: vec![],
        host_routes: vec![],
    }
}

/// An "instance": a namespace whose `eth0` is a veth whose other end sits in the host
/// namespace where a TAP would (`tap<port[..11]>`), created down and unplugged, as
/// compute would leave it for the agent.
fn instance(host: &str, ns: &str, port: &Port) {
    LinuxNet.netns_add(ns).unwrap();
    let tap = format!("tap{}", &port.id[..11]);
    LinuxNet
        .link_add(
            Some(host),
            &LinkSpec {
                name: tap,
                kind: LinkKind::Veth {
                    peer_name: "eth0".into(),
                    peer_ns: Some(ns.into()),
                },
                mtu: None,
                mac: None,
            },
        )
        .unwrap();
    LinuxNet
        .link_set(
            Some(ns),
            "eth0",
            &LinkUpdate {
                up: Some(true),
                mac: Some(port.mac_address.clone()),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
}

fn leftovers(prefix: &str, state_dir: &std::path::Path) -> Vec<String> {
    let mut left: Vec<String> = LinuxNet
        .netns_list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    let marker = state_dir.display().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.starts_with("dnsmasq") && c.contains(&marker) {
                left.push(format!("process {}: {c}", e.file_name().to_string_lossy()));
            }
        }
    }
    left
}

fn has_busybox() -> bool {
    Command::new("busybox")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn dhcp_leases_to_two_instances_that_then_ping_each_other() {
    if !enabled("dhcp_leases_to_two_instances_that_then_ping_each_other") {
        return;
    }
    let t = tag(1);
    let prefix = format!("rh{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-hostops-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let host = format!("{prefix}host");
    let net_id = format!("{t}00-1111-4111-8111-000000000001");
    let pid = |n: u32| format!("{t}{n:02}-2222-4222-8222-0000000000{n:02}");

    let mut topo = Topology {
        networks: vec![Network {
            id: net_id.clone(),
            mtu: 1450,
            segment: Segment::Local,
        }],
        subnets: vec![subnet("s1", &net_id, "10.77.0.0/24", "10.77.0.1", true)],
        ports: vec![
            port(
                pid(2),
                &net_id,
                "fa:16:3e:77:00:02",
                "s1",
                "10.77.0.2",
                "network:dhcp",
                "dhcp",
            ),
            port(
                pid(11),
                &net_id,
                "fa:16:3e:77:00:11",
                "s1",
                "10.77.0.11",
                "compute:nova",
                "vm1",
            ),
            port(
                pid(12),
                &net_id,
                "fa:16:3e:77:00:12",
                "s1",
                "10.77.0.12",
                "compute:nova",
                "vm2",
            ),
        ],
        ..Topology::default()
    };
    let cfg = HostConfig {
        host_netns: Some(host.clone()),
        netns_prefix: prefix.clone(),
        ..HostConfig::default()
    };
    LinuxNet.netns_add(&host).unwrap();
    let vm1 = format!("{prefix}vm1");
    let vm2 = format!("{prefix}vm2");
    instance(&host, &vm1, &topo.ports[1]);
    instance(&host, &vm2, &topo.ports[2]);

    let (net, fw, dhcp) = (LinuxNet, LinuxNft::new(), LinuxDnsmasq::new(&state_dir));
    let rec = Reconciler::new(&net, &fw, &dhcp);
    let d = plan(&topo, &cfg);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let first = rec.reconcile(&d);
    assert!(first.is_ok(), "{:?}", first.errors);
    assert!(
        first
            .changes
            .contains(&Change::Dhcp(net_id.clone(), DhcpOutcome::Started)),
        "{:?}",
        first.changes
    );
    let second = rec.reconcile(&d);
    assert!(
        second.is_ok() && second.changes.is_empty(),
        "second pass: {:?} {:?}",
        second.changes,
        second.errors
    );

    // The instance TAPs were plugged into the network's bridge.
    let br = format!("brq{}", &net_id[..11]);
    for p in &topo.ports[1..] {
        let l = net
            .link_list(Some(&host))
            .unwrap()
            .into_iter()
            .find(|l| l.name == format!("tap{}", &p.id[..11]))
            .unwrap();
        assert_eq!(l.master.as_deref(), Some(br.as_str()));
    }

    let mut how = "busybox udhcpc";
    if has_busybox() {
        let script = state_dir.join("udhcpc.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\ncase \"$1\" in bound|renew) ip addr add \"$ip/${mask:-24}\" dev \"$interface\";; esac\nexit 0\n",
        )
        .unwrap();
        ok(&["chmod", "755", script.to_str().unwrap()]);
        for vm in [&vm1, &vm2] {
            ok(&[
                "ip",
                "netns",
                "exec",
                vm,
                "busybox",
                "udhcpc",
                "-i",
                "eth0",
                "-f",
                "-q",
                "-n",
                "-t",
                "10",
                "-T",
                "1",
                "-s",
                script.to_str().unwrap(),
            ]);
        }
    } else {
        how = "static addresses (busybox not installed)";
        net.addr_add(Some(&vm1), "eth0", "10.77.0.11/24".parse().unwrap())
            .unwrap();
        net.addr_add(Some(&vm2), "eth0", "10.77.0.12/24".parse().unwrap())
            .unwrap();
    }
    eprintln!("instances configured with {how}");
    assert_eq!(
        net.addr_list(Some(&vm1), "eth0").unwrap()[0].to_string(),
        "10.77.0.11/24"
    );
    assert_eq!(
        net.addr_list(Some(&vm2), "eth0").unwrap()[0].to_string(),
        "10.77.0.12/24"
    );
    if has_busybox() {
        let leases = std::fs::read_to_string(state_dir.join(&net_id).join("leases")).unwrap();
        assert!(
            leases.contains("10.77.0.11") && leases.contains("10.77.0.12"),
            "dnsmasq leases: {leases}"
        );
    }
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm1,
        "ping",
        "-c",
        "2",
        "-W",
        "2",
        "10.77.0.12",
    ]);
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm2,
        "ping",
        "-c",
        "2",
        "-W",
        "2",
        "10.77.0.11",
    ]);
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm1,
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "10.77.0.2",
    ]);

    // A new port: the hosts file is rewritten and dnsmasq reloaded, not restarted.
    let dns_pid = dhcp.dhcp_list().unwrap()[0].pid.unwrap();
    topo.ports.push(port(
        pid(13),
        &net_id,
        "fa:16:3e:77:00:13",
        "s1",
        "10.77.0.13",
        "compute:nova",
        "vm3",
    ));
    let d = plan(&topo, &cfg);
    let r = rec.reconcile(&d);
    assert_eq!(
        r.changes,
        vec![Change::Dhcp(net_id.clone(), DhcpOutcome::Reloaded)],
        "{:?}",
        r.errors
    );
    assert_eq!(dhcp.dhcp_list().unwrap()[0].pid, Some(dns_pid));
    assert!(
        std::fs::read_to_string(state_dir.join(&net_id).join("host"))
            .unwrap()
            .contains("fa:16:3e:77:00:13")
    );

    // dnsmasq dies: the next pass starts it again.
    ok(&["kill", "-s", "KILL", &dns_pid.to_string()]);
    // SIGKILL is delivered asynchronously: wait until the process is gone (a zombie
    // has an empty command line) so the pass below is the one that sees it dead.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read(format!("/proc/{dns_pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "dnsmasq {dns_pid} survived SIGKILL"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let r = rec.reconcile(&d);
    assert_eq!(
        r.changes,
        vec![Change::Dhcp(net_id.clone(), DhcpOutcome::Started)],
        "{:?}",
        r.errors
    );
    assert!(rec.reconcile(&d).changes.is_empty());

    // Tear down: the data plane removes what it owns, then the test its instances.
    let r = rec.reconcile(&plan(&Topology::default(), &cfg));
    assert!(r.is_ok(), "{:?}", r.errors);
    assert!(r
        .changes
        .contains(&Change::NetnsDel(format!("{prefix}qdhcp-{net_id}"))));
    let host_links: Vec<String> = net
        .link_list(Some(&host))
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert!(
        host_links.iter().all(|l| !l.starts_with("brq")),
        "{host_links:?}"
    );
    for ns in [&vm1, &vm2, &host] {
        net.netns_del(ns).unwrap();
    }
    assert_eq!(leftovers(&prefix, &state_dir), Vec::<String>::new());
}

#[test]
fn router_snat_and_floating_ip_reach_an_outside_namespace() {
    if !enabled("router_snat_and_floating_ip_reach_an_outside_namespace") {
        return;
    }
    let t = tag(2);
    let prefix = format!("rh{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-hostops-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let host = format!("{prefix}host");
    let outside = format!("{prefix}out");
    let tenant = format!("{t}00-1111-4111-8111-000000000001");
    let ext = format!("{t}00-3333-4333-8333-000000000003");
    let router = format!("{t}00-4444-4444-8444-000000000004");
    let pid = |n: u32| format!("{t}{n:02}-2222-4222-8222-0000000000{n:02}");
    let topo = Topology {
        networks: vec![
            Network {
                id: tenant.clone(),
                mtu: 1450,
                segment: Segment::Local,
            },
            Network {
                id: ext.clone(),
                mtu: 1500,
                segment: Segment::Flat {
                    physical_network: "public".into(),
                },
            },
        ],
        subnets: vec![
            subnet("st", &tenant, "10.78.0.0/24", "10.78.0.1", false),
            subnet("se", &ext, "203.0.113.0/24", "203.0.113.1", false),
        ],
        ports: vec![
            port(
                pid(1),
                &tenant,
                "fa:16:3e:78:00:01",
                "st",
                "10.78.0.1",
                "network:router_interface",
                &router,
            ),
            port(
                pid(2),
                &ext,
                "fa:16:3e:78:01:02",
                "se",
                "203.0.113.2",
                "network:router_gateway",
                &router,
            ),
            port(
                pid(11),
                &tenant,
                "fa:16:3e:78:00:11",
                "st",
                "10.78.0.11",
                "compute:nova",
                "vm1",
            ),
            port(
                pid(12),
                &tenant,
                "fa:16:3e:78:00:12",
                "st",
                "10.78.0.12",
                "compute:nova",
                "vm2",
            ),
        ],
        routers: vec![Router {
            id: router.clone(),
            enable_snat: true,
            routes: vec![],
        }],
        floating_ips: vec![FloatingIp {
            id: "fip".into(),
            floating_ip_address: "203.0.113.50".parse().unwrap(),
            fixed_ip_address: Some("10.78.0.11".parse().unwrap()),
            router_id: Some(router.clone()),
        }],
        ..Topology::default()
    };
    let cfg = HostConfig {
        host_netns: Some(host.clone()),
        netns_prefix: prefix.clone(),
        physical_interfaces: BTreeMap::from([("public".to_string(), "uplink".to_string())]),
        ..HostConfig::default()
    };
    let net = LinuxNet;
    net.netns_add(&host).unwrap();
    // The "external network": an uplink in the host namespace to an outside namespace
    // that knows nothing of 10.78.0.0/24, so replies only come back through NAT.
    net.netns_add(&outside).unwrap();
    net.link_add(
        Some(&host),
        &LinkSpec {
            name: "uplink".into(),
            kind: LinkKind::Veth {
                peer_name: "eth0".into(),
                peer_ns: Some(outside.clone()),
            },
            mtu: None,
            mac: None,
        },
    )
    .unwrap();
    net.addr_add(Some(&outside), "eth0", "203.0.113.1/24".parse().unwrap())
        .unwrap();
    net.link_set(
        Some(&outside),
        "eth0",
        &LinkUpdate {
            up: Some(true),
            ..LinkUpdate::default()
        },
    )
    .unwrap();
    let vm1 = format!("{prefix}vm1");
    let vm2 = format!("{prefix}vm2");
    for (vm, p, ip) in [
        (&vm1, &topo.ports[2], "10.78.0.11/24"),
        (&vm2, &topo.ports[3], "10.78.0.12/24"),
    ] {
        instance(&host, vm, p);
        net.addr_add(Some(vm), "eth0", ip.parse().unwrap()).unwrap();
        net.route_replace(
            Some(vm),
            &Route {
                dst: "0.0.0.0/0".parse().unwrap(),
                via: Some("10.78.0.1".parse().unwrap()),
                dev: None,
            },
        )
        .unwrap();
    }

    let (fw, dhcp) = (LinuxNft::new(), LinuxDnsmasq::new(&state_dir));
    let rec = Reconciler::new(&net, &fw, &dhcp);
    let d = plan(&topo, &cfg);
    let first = rec.reconcile(&d);
    assert!(first.is_ok(), "{:?}", first.errors);
    let second = rec.reconcile(&d);
    assert!(
        second.is_ok() && second.changes.is_empty(),
        "second pass: {:?} {:?}",
        second.changes,
        second.errors
    );
    // A restarted agent (fresh LinuxNft, no digest memory) re-applies the NAT table once, then is quiet.
    let fw2 = LinuxNft::new();
    let rec2 = Reconciler::new(&net, &fw2, &dhcp);
    let again = rec2.reconcile(&d);
    assert_eq!(again.changes.len(), 1, "{:?}", again.changes);
    assert!(rec2.reconcile(&d).changes.is_empty());

    // vm2 has no floating IP: SNAT to the gateway address.
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm2,
        "ping",
        "-c",
        "2",
        "-W",
        "2",
        "203.0.113.1",
    ]);
    // The floating IP is reachable from outside (DNAT) and vm1 leaves as its FIP.
    ok(&[
        "ip",
        "netns",
        "exec",
        &outside,
        "ping",
        "-c",
        "2",
        "-W",
        "2",
        "203.0.113.50",
    ]);
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm1,
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "203.0.113.1",
    ]);
    let rules = ok(&[
        "ip",
        "netns",
        "exec",
        &format!("{prefix}qrouter-{router}"),
        "nft",
        "list",
        "table",
        "ip",
        "rustack-nat",
    ]);
    assert!(
        rules.contains("dnat to 10.78.0.11") && rules.contains("snat to 203.0.113.2"),
        "{rules}"
    );

    let r = rec.reconcile(&plan(&Topology::default(), &cfg));
    assert!(r.is_ok(), "{:?}", r.errors);
    for ns in [&vm1, &vm2, &outside, &host] {
        net.netns_del(ns).unwrap();
    }
    assert_eq!(leftovers(&prefix, &state_dir), Vec::<String>::new());
}

#[test]
fn two_hosts_joined_by_vxlan_carry_one_network() {
    if !enabled("two_hosts_joined_by_vxlan_carry_one_network") {
        return;
    }
    let t = tag(3);
    let prefix = format!("rh{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-hostops-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let net_id = format!("{t}00-5555-4555-8555-000000000005");
    let pid = |n: u32| format!("{t}{n:02}-2222-4222-8222-0000000000{n:02}");
    let topo = Topology {
        networks: vec![Network {
            id: net_id.clone(),
            mtu: 1450,
            segment: Segment::Vxlan { vni: 4242 },
        }],
        subnets: vec![subnet("s", &net_id, "10.79.0.0/24", "10.79.0.1", false)],
        ports: vec![
            port(
                pid(11),
                &net_id,
                "fa:16:3e:79:00:11",
                "s",
                "10.79.0.11",
                "compute:nova",
                "vm1",
            ),
            port(
                pid(12),
                &net_id,
                "fa:16:3e:79:00:12",
                "s",
                "10.79.0.12",
                "compute:nova",
                "vm2",
            ),
        ],
        ..Topology::default()
    };
    let net = LinuxNet;
    let (ha, hb) = (format!("{prefix}ha"), format!("{prefix}hb"));
    net.netns_add(&ha).unwrap();
    net.netns_add(&hb).unwrap();
    // The underlay: one veth between the two "hosts" (TEST-NET-2 inside them only).
    net.link_add(
        Some(&ha),
        &LinkSpec {
            name: "ul0".into(),
            kind: LinkKind::Veth {
                peer_name: "ul0".into(),
                peer_ns: Some(hb.clone()),
            },
            mtu: None,
            mac: None,
        },
    )
    .unwrap();
    let up = LinkUpdate {
        up: Some(true),
        ..LinkUpdate::default()
    };
    for (h, ip) in [(&ha, "198.51.100.1/24"), (&hb, "198.51.100.2/24")] {
        net.addr_add(Some(h), "ul0", ip.parse().unwrap()).unwrap();
        net.link_set(Some(h), "ul0", &up).unwrap();
    }
    let (fw, dhcp) = (LinuxNft::new(), LinuxDnsmasq::new(&state_dir));
    let rec = Reconciler::new(&net, &fw, &dhcp);
    for (h, local, remote, p, vm, ip) in [
        (
            &ha,
            "198.51.100.1",
            "198.51.100.2",
            &topo.ports[0],
            format!("{prefix}vm1"),
            "10.79.0.11/24",
        ),
        (
            &hb,
            "198.51.100.2",
            "198.51.100.1",
            &topo.ports[1],
            format!("{prefix}vm2"),
            "10.79.0.12/24",
        ),
    ] {
        instance(h, &vm, p);
        net.addr_add(Some(&vm), "eth0", ip.parse().unwrap())
            .unwrap();
        let cfg = HostConfig {
            host_netns: Some(h.clone()),
            netns_prefix: format!("{prefix}{}-", &h[h.len() - 2..]),
            vtep: Some(VtepConfig {
                local: local.parse().unwrap(),
                dev: Some("ul0".into()),
                remote: Some(remote.parse().unwrap()),
                dstport: 4789,
            }),
            ..HostConfig::default()
        };
        let d = plan(&topo, &cfg);
        let first = rec.reconcile(&d);
        assert!(first.is_ok(), "{:?}", first.errors);
        assert!(first
            .changes
            .contains(&Change::LinkAdd(Some(h.clone()), "vxlan-4242".into())));
        // The kernel reports the VXLAN parameters back as planned: no recreation.
        let second = rec.reconcile(&d);
        assert!(
            second.is_ok() && second.changes.is_empty(),
            "second pass: {:?} {:?}",
            second.changes,
            second.errors
        );
    }
    // 1422 bytes of ICMP payload = a full 1450-byte inner packet through the tunnel.
    let vm1 = format!("{prefix}vm1");
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm1,
        "ping",
        "-c",
        "2",
        "-W",
        "2",
        "-s",
        "1422",
        "10.79.0.12",
    ]);
    // A persistent TAP is reported as such (what compute creates for QEMU).
    net.link_add(
        Some(&ha),
        &LinkSpec {
            name: "taptest".into(),
            kind: LinkKind::Tap,
            mtu: Some(1450),
            mac: None,
        },
    )
    .unwrap();
    let tap = net
        .link_list(Some(&ha))
        .unwrap()
        .into_iter()
        .find(|l| l.name == "taptest")
        .unwrap();
    assert_eq!((tap.kind, tap.mtu), (LinkKind::Tap, 1450));
    for ns in [format!("{prefix}vm2"), vm1, ha, hb] {
        net.netns_del(&ns).unwrap();
    }
    assert_eq!(leftovers(&prefix, &state_dir), Vec::<String>::new());
}

#[test]
fn three_hosts_joined_by_vxlan_flood_through_fdb_entries() {
    if !enabled("three_hosts_joined_by_vxlan_flood_through_fdb_entries") {
        return;
    }
    let t = tag(4);
    let prefix = format!("rh{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-hostops-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let net_id = format!("{t}00-6666-4666-8666-000000000006");
    let pid = |n: u32| format!("{t}{n:02}-2222-4222-8222-0000000000{n:02}");
    let vteps: Vec<std::net::IpAddr> = (1..=3)
        .map(|i| format!("198.51.100.{i}").parse().unwrap())
        .collect();
    let topo = Topology {
        networks: vec![Network {
            id: net_id.clone(),
            mtu: 1450,
            segment: Segment::Vxlan { vni: 4343 },
        }],
        subnets: vec![subnet("s", &net_id, "10.79.1.0/24", "10.79.1.1", false)],
        ports: (1..=3)
            .map(|i| {
                port(
                    pid(20 + i),
                    &net_id,
                    &format!("fa:16:3e:79:01:2{i}"),
                    "s",
                    &format!("10.79.1.2{i}"),
                    "compute:nova",
                    &format!("vm{i}"),
                )
            })
            .collect(),
        // Every agent's registration, this host's included (the planner skips it).
        remote_vteps: vteps.clone(),
        ..Topology::default()
    };
    let net = LinuxNet;
    // The underlay: a bridge in its own namespace with one veth to each "host".
    let ul = format!("{prefix}ul");
    net.netns_add(&ul).unwrap();
    net.link_add(
        Some(&ul),
        &LinkSpec {
            name: "ulbr".into(),
            kind: LinkKind::Bridge,
            mtu: None,
            mac: None,
        },
    )
    .unwrap();
    let up = LinkUpdate {
        up: Some(true),
        ..LinkUpdate::default()
    };
    net.link_set(Some(&ul), "ulbr", &up).unwrap();
    let (fw, dhcp) = (LinuxNft::new(), LinuxDnsmasq::new(&state_dir));
    let rec = Reconciler::new(&net, &fw, &dhcp);
    let hosts: Vec<String> = (1..=3).map(|i| format!("{prefix}h{i}")).collect();
    for (i, h) in hosts.iter().enumerate() {
        net.netns_add(h).unwrap();
        let outer = format!("ul{i}");
        net.link_add(
            Some(&ul),
            &LinkSpec {
                name: outer.clone(),
                kind: LinkKind::Veth {
                    peer_name: "ul0".into(),
                    peer_ns: Some(h.clone()),
                },
                mtu: None,
                mac: None,
            },
        )
        .unwrap();
        net.link_set(
            Some(&ul),
            &outer,
            &LinkUpdate {
                up: Some(true),
                master: Some(Some("ulbr".into())),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
        net.addr_add(Some(h), "ul0", IpNet::new(vteps[i], 24).unwrap())
            .unwrap();
        net.link_set(Some(h), "ul0", &up).unwrap();
        let vm = format!("{prefix}vm{}", i + 1);
        instance(h, &vm, &topo.ports[i]);
        net.addr_add(
            Some(&vm),
            "eth0",
            format!("10.79.1.2{}/24", i + 1).parse().unwrap(),
        )
        .unwrap();
        let cfg = HostConfig {
            host_netns: Some(h.clone()),
            netns_prefix: format!("{prefix}{}-", &h[h.len() - 2..]),
            vtep: Some(VtepConfig {
                local: vteps[i],
                dev: Some("ul0".into()),
                remote: None,
                dstport: 4789,
            }),
            ..HostConfig::default()
        };
        let d = plan(&topo, &cfg);
        let first = rec.reconcile(&d);
        assert!(first.is_ok(), "{:?}", first.errors);
        let mut fdb = net.fdb_list(Some(h), "vxlan-4343").unwrap();
        fdb.sort();
        let others: Vec<_> = vteps.iter().copied().filter(|v| *v != vteps[i]).collect();
        assert_eq!(fdb, others, "flood entries on {h}");
        let second = rec.reconcile(&d);
        assert!(
            second.is_ok() && second.changes.is_empty(),
            "second pass: {:?} {:?}",
            second.changes,
            second.errors
        );
    }
    // Each instance reaches the two others (ARP floods through head-end replication).
    for (from, to) in [(1, 2), (1, 3), (2, 3), (3, 1)] {
        ok(&[
            "ip",
            "netns",
            "exec",
            &format!("{prefix}vm{from}"),
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            &format!("10.79.1.2{to}"),
        ]);
    }
    // A host leaving the registrations loses its flood entry elsewhere.
    let mut fewer = topo.clone();
    fewer.remote_vteps = vteps[..2].to_vec();
    let cfg1 = HostConfig {
        host_netns: Some(hosts[0].clone()),
        netns_prefix: format!("{prefix}h1-"),
        vtep: Some(VtepConfig {
            local: vteps[0],
            dev: Some("ul0".into()),
            remote: None,
            dstport: 4789,
        }),
        ..HostConfig::default()
    };
    let r = rec.reconcile(&plan(&fewer, &cfg1));
    assert_eq!(
        r.changes,
        vec![Change::FdbDel("vxlan-4343".into(), vteps[2].to_string())]
    );
    assert_eq!(
        net.fdb_list(Some(&hosts[0]), "vxlan-4343").unwrap(),
        vec![vteps[1]]
    );
    for i in 1..=3 {
        net.netns_del(&format!("{prefix}vm{i}")).unwrap();
    }
    for h in hosts.iter().chain([&ul]) {
        net.netns_del(h).unwrap();
    }
    assert_eq!(leftovers(&prefix, &state_dir), Vec::<String>::new());
}
