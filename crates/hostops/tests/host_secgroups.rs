//! Host test of the security groups on the real kernel (bridge-family marks +
//! inet-family conntrack through br_netfilter). Opt-in: needs root and runs only with
//! `RUSTACK_HOST_TESTS=1`; otherwise it prints a note and passes.
//!
//! Containment: the data plane's "host" and both "instances" are namespaces this test
//! creates with a per-run prefix; addresses are 10.79.0.0/24 and 2001:db8:79::/64
//! inside them only. The guard deletes the namespaces (and with them the bridge and
//! the nft tables) and kills the processes it started, also on panic.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustack_hostops::dataplane::{
    plan, AddressPair, Change, Direction, EtherType, FixedIp, HostConfig, Network, Port,
    Reconciler, SecurityGroup, SecurityGroupRule, Segment, Subnet, Topology,
};
use rustack_hostops::dhcp::LinuxDnsmasq;
use rustack_hostops::net::{LinkKind, LinkSpec, LinkUpdate, LinuxNet, NetOps};
use rustack_hostops::nft::{Firewall, LinuxNft};

fn enabled(test: &str) -> bool {
    let on = std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("note: skipping host test {test}: set RUSTACK_HOST_TESTS=1 and run as root");
    }
    on
}

fn tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:05x}", (std::process::id() ^ nanos) & 0xfffff)
}

/// Removes whatever the test created, also when it panics.
struct Guard {
    prefix: String,
    state_dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
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

const NET: &str = "79797979-aaaa-4aaa-8aaa-000000000079";
const VM1: &str = "a1a1a1a1-0000-0000-0000-000000000011";
const VM2: &str = "b2b2b2b2-0000-0000-0000-000000000012";
const BASE: &str = "sg-base";
const SVC: &str = "sg-svc";

fn vm_port(id: &str, mac: &str, v4: &str, v6: &str, groups: &[&str]) -> Port {
    Port {
        id: id.into(),
        network_id: NET.into(),
        mac_address: mac.into(),
        fixed_ips: vec![
            FixedIp {
                subnet_id: "sub4".into(),
                ip_address: v4.parse().unwrap(),
            },
            FixedIp {
                subnet_id: "sub6".into(),
                ip_address: v6.parse().unwrap(),
            },
        ],
        device_owner: "compute:nova".into(),
        device_id: format!("vm-{id}"),
        port_security_enabled: true,
        security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
        allowed_address_pairs: vec![],
    }
}

fn subnet(id: &str, cidr: &str) -> Subnet {
    Subnet {
        id: id.into(),
        network_id: NET.into(),
        cidr: cidr.parse().unwrap(),
        gateway_ip: None,
        enable_dhcp: false,
        dns_nameservers: vec![],
        host_routes: vec![],
    }
}

fn svc(t: &mut Topology) -> &mut Vec<SecurityGroupRule> {
    &mut t.security_groups[1].rules
}

fn rule(id: &str, dir: Direction, eth: EtherType) -> SecurityGroupRule {
    SecurityGroupRule {
        id: id.into(),
        direction: dir,
        ethertype: eth,
        ..SecurityGroupRule::default()
    }
}

/// An instance namespace whose `eth0` is a veth with its other end where the TAP would
/// be, with the port's MAC and addresses.
fn instance(host: &str, ns: &str, port: &Port, v4: &str, v6: &str) {
    LinuxNet.netns_add(ns).unwrap();
    LinuxNet
        .link_add(
            Some(host),
            &LinkSpec {
                name: format!("tap{}", &port.id[..11]),
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
                mac: Some(port.mac_address.clone()),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
    // Up only once the MAC is set, so the IPv6 link-local address derives from it.
    LinuxNet
        .link_set(
            Some(ns),
            "eth0",
            &LinkUpdate {
                up: Some(true),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
    ok(&["ip", "-n", ns, "addr", "add", v4, "dev", "eth0"]);
    ok(&["ip", "-n", ns, "addr", "add", v6, "dev", "eth0", "nodad"]);
}

fn pings(ns: &str, from: Option<&str>, dst: &str) -> bool {
    let mut args = vec![
        "ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "1",
    ];
    if let Some(f) = from {
        args.extend(["-I", f]);
    }
    args.push(dst);
    run(&args).status.success()
}

/// Pings until one answers (up to 5 s): ARP/ND and table changes settle first.
fn eventually_pings(ns: &str, from: Option<&str>, dst: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if pings(ns, from, dst) {
            return true;
        }
    }
    false
}

fn tcp_hello(ns: &str, dst: &str) -> bool {
    let o = run(&[
        "ip", "netns", "exec", ns, "timeout", "4", "busybox", "nc", "-w", "1", dst, "8080",
    ]);
    String::from_utf8_lossy(&o.stdout).contains("hello")
}

/// A continuous ping from `ns` to `dst`; returns the arrival times of its replies.
fn ping_stream(g: &mut Guard, ns: &str, dst: &str) -> Arc<Mutex<Vec<Instant>>> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "ping", "-n", "-i", "0.2", dst])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    g.children.push(child);
    let replies = Arc::new(Mutex::new(Vec::new()));
    let r = replies.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("bytes from") {
                r.lock().unwrap().push(Instant::now());
            }
        }
    });
    replies
}

fn replies_since(r: &Arc<Mutex<Vec<Instant>>>, t: Instant) -> usize {
    r.lock().unwrap().iter().filter(|x| **x > t).count()
}

#[test]
fn security_groups_block_allow_cut_and_antispoof() {
    if !enabled("security_groups_block_allow_cut_and_antispoof") {
        return;
    }
    let prefix = format!("rs{}-", tag());
    let state_dir = std::env::temp_dir().join(format!("{prefix}state"));
    std::fs::create_dir_all(&state_dir).unwrap();
    let mut g = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
        children: vec![],
    };
    let host = format!("{prefix}host");
    let (ns1, ns2) = (format!("{prefix}vm1"), format!("{prefix}vm2"));
    LinuxNet.netns_add(&host).unwrap();
    let p1 = vm_port(
        VM1,
        "fa:16:3e:79:00:11",
        "10.79.0.11",
        "2001:db8:79::11",
        &[BASE],
    );
    let p2 = vm_port(
        VM2,
        "fa:16:3e:79:00:12",
        "10.79.0.12",
        "2001:db8:79::12",
        &[BASE, SVC],
    );
    instance(&host, &ns1, &p1, "10.79.0.11/24", "2001:db8:79::11/64");
    instance(&host, &ns2, &p2, "10.79.0.12/24", "2001:db8:79::12/64");
    // A TCP service in vm2.
    g.children.push(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns2,
                "busybox",
                "nc",
                "-ll",
                "-p",
                "8080",
                "-e",
                "/bin/echo",
                "hello",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // BASE: egress anywhere, no ingress; SVC: starts empty.
    let base = SecurityGroup {
        id: BASE.into(),
        rules: vec![
            rule("e4", Direction::Egress, EtherType::Ipv4),
            rule("e6", Direction::Egress, EtherType::Ipv6),
        ],
    };
    let icmp_from_base = |eth| SecurityGroupRule {
        protocol: Some("icmp".into()),
        remote_group_id: Some(BASE.into()),
        ..rule(
            if eth == EtherType::Ipv4 {
                "icmp4"
            } else {
                "icmp6"
            },
            Direction::Ingress,
            eth,
        )
    };
    let tcp_8080 = SecurityGroupRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(8080),
        port_range_max: Some(8080),
        remote_ip_prefix: Some("10.79.0.0/24".parse().unwrap()),
        ..rule("tcp", Direction::Ingress, EtherType::Ipv4)
    };
    let mut topo = Topology {
        networks: vec![Network {
            id: NET.into(),
            mtu: 1500,
            segment: Segment::Local,
        }],
        subnets: vec![
            subnet("sub4", "10.79.0.0/24"),
            subnet("sub6", "2001:db8:79::/64"),
        ],
        ports: vec![p1.clone(), p2.clone()],
        security_groups: vec![
            base,
            SecurityGroup {
                id: SVC.into(),
                rules: vec![],
            },
        ],
        ..Topology::default()
    };
    let cfg = HostConfig {
        host_netns: Some(host.clone()),
        netns_prefix: prefix.clone(),
        ..HostConfig::default()
    };
    let (net, fw, dhcp) = (LinuxNet, LinuxNft::new(), LinuxDnsmasq::new(&state_dir));
    let rec = Reconciler::new(&net, &fw, &dhcp);
    let pass = |t: &Topology| {
        let d = plan(t, &cfg);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let r = rec.reconcile(&d);
        assert!(r.is_ok(), "errors: {:?}", r.errors);
        r.changes
    };

    let changes = pass(&topo);
    assert!(
        changes.contains(&Change::TableApply(host.clone(), "inet rustack-sg".into())),
        "{changes:?}"
    );
    assert_eq!(pass(&topo), vec![], "second pass changes nothing");
    let tables = ok(&["ip", "netns", "exec", &host, "nft", "list", "tables"]);
    assert!(tables.contains("table bridge rustack-sg") && tables.contains("table inet rustack-sg"));

    // Blocked: no ingress rule for ICMP or TCP on vm2 (nor on vm1).
    assert!(!pings(&ns1, None, "10.79.0.12"), "ICMP must be blocked");
    assert!(
        !pings(&ns1, None, "2001:db8:79::12"),
        "ICMPv6 echo must be blocked"
    );
    assert!(!tcp_hello(&ns1, "10.79.0.12"), "TCP must be blocked");

    // Allow ICMP (IPv4 + IPv6) from members of BASE into SVC ports, and TCP 8080.
    svc(&mut topo).extend([
        icmp_from_base(EtherType::Ipv4),
        icmp_from_base(EtherType::Ipv6),
        tcp_8080.clone(),
    ]);
    let changes = pass(&topo);
    assert_eq!(
        changes,
        vec![Change::TableApply(host.clone(), "inet rustack-sg".into())]
    );
    assert!(eventually_pings(&ns1, None, "10.79.0.12"), "ICMP allowed");
    assert!(
        eventually_pings(&ns1, None, "2001:db8:79::12"),
        "ICMPv6 allowed (neighbour discovery passes the filter)"
    );
    assert!(tcp_hello(&ns1, "10.79.0.12"), "TCP allowed");
    // vm1 has no ingress rules: vm2 cannot ping it, but vm1's own pings got replies
    // above (stateful).
    assert!(!pings(&ns2, None, "10.79.0.11"), "vm1 has no ingress rule");

    // Anti-spoofing: vm1 sending from an address it does not own is dropped.
    ok(&[
        "ip",
        "-n",
        &ns1,
        "addr",
        "add",
        "10.79.0.99/24",
        "dev",
        "eth0",
    ]);
    assert!(
        !pings(&ns1, Some("10.79.0.99"), "10.79.0.12"),
        "spoofed source"
    );
    assert!(pings(&ns1, None, "10.79.0.12"), "own address still works");
    let counters = ok(&[
        "ip",
        "netns",
        "exec",
        &host,
        "nft",
        "list",
        "table",
        "bridge",
        "rustack-sg",
    ]);
    assert!(
        counters
            .lines()
            .any(|l| l.contains("ether type ip counter packets") && !l.contains("packets 0 ")),
        "the spoof drop counted: {counters}"
    );

    // ...until an allowed address pair says otherwise.
    topo.ports[0].allowed_address_pairs = vec![AddressPair {
        ip: "10.79.0.99/32".parse().unwrap(),
        mac: None,
    }];
    pass(&topo);
    assert!(
        eventually_pings(&ns1, Some("10.79.0.99"), "10.79.0.12"),
        "allowed address pair accepted (also a member of BASE for vm2's ICMP rule)"
    );

    // An established flow survives a table change by itself (conntrack)...
    let stream = ping_stream(&mut g, &ns1, "10.79.0.12");
    let deadline = Instant::now() + Duration::from_secs(5);
    while replies_since(&stream, Instant::now() - Duration::from_secs(10)) < 3 {
        assert!(Instant::now() < deadline, "continuous ping never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut no_icmp = topo.clone();
    svc(&mut no_icmp).retain(|r| !r.id.starts_with("icmp"));
    let other_agent = LinuxNft::new();
    other_agent
        .tables_apply(Some(&host), &plan(&no_icmp, &cfg).host_tables)
        .unwrap();
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        replies_since(&stream, t) >= 3,
        "control: without a conntrack flush the established ping keeps flowing"
    );
    assert!(
        !pings(&ns2, None, "10.79.0.11"),
        "while new flows are filtered"
    );

    // ...so the reconciler deletes its conntrack entries when the rule goes away.
    let changes = pass(&no_icmp);
    let flushed: u32 = changes
        .iter()
        .filter_map(|c| match c {
            Change::ConntrackDelete(_, f, n) if f.protocol == Some(1) => Some(*n),
            _ => None,
        })
        .sum();
    assert!(flushed >= 1, "ICMP entries deleted: {changes:?}");
    let t = Instant::now() + Duration::from_millis(300);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(replies_since(&stream, t), 0, "the established ping is cut");
    assert!(tcp_hello(&ns1, "10.79.0.12"), "TCP rule still in force");
    assert_eq!(pass(&no_icmp), vec![], "second pass changes nothing");

    // Removing the TCP rule too; then port security off opens everything.
    svc(&mut topo).clear();
    pass(&topo);
    assert!(!tcp_hello(&ns1, "10.79.0.12"), "TCP blocked again");
    for p in &mut topo.ports {
        p.port_security_enabled = false;
    }
    let changes = pass(&topo);
    assert!(changes.contains(&Change::TableDel(host.clone(), "inet rustack-sg".into())));
    assert!(eventually_pings(&ns2, None, "10.79.0.11"), "unfiltered");
    assert!(eventually_pings(&ns1, Some("10.79.0.99"), "10.79.0.12"));
    let tables = ok(&["ip", "netns", "exec", &host, "nft", "list", "tables"]);
    assert!(!tables.contains("rustack-sg"), "{tables}");

    drop(g);
    let left: Vec<String> = LinuxNet
        .netns_list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
