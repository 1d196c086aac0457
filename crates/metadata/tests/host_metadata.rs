//! Host test of the whole metadata path on the real kernel: the planner's plumbing
//! (169.254.169.254/32 on the DHCP leg + option 121 for an isolated network; the route
//! via the router and the nft redirect to :9697 for a routed one) and the proxy
//! listening inside the `qdhcp-`/`qrouter-` namespaces, forwarding to an in-process
//! metadata API over a fake instance source.
//!
//! Opt-in: needs root and `RUSTACK_HOST_TESTS=1` (otherwise it prints a note and
//! passes). Containment: every device lives in namespaces created here with a per-run
//! prefix (`rm<hex>-`), the data plane's "host" included; addresses are 10.79.0.0/16 and
//! 169.254.169.254 inside them; the metadata API listens on 127.0.0.1 in the test's own
//! namespace, reached only by the proxy.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use rustack_hostops::dataplane::metadata::MetadataScope;
use rustack_hostops::dataplane::{
    plan, DesiredState, FixedIp, HostConfig, Network, Port, Reconciler, Router, Segment, Subnet,
    Topology,
};
use rustack_hostops::dhcp::{DhcpServer, LinuxDnsmasq};
use rustack_hostops::net::{LinkKind, LinkSpec, LinkUpdate, LinuxNet, NetOps};
use rustack_hostops::nft::LinuxNft;
use rustack_metadata::{
    attribution_channel, Attribution, InstanceMetadata, InstanceSource, ListenerSpec,
    MetadataConfig, MetadataProxy, PortRecord, SourceError,
};

const SECRET: &str = "host-test-secret";
const PROJECT: &str = "p1";
const NET_A: &str = "aaaaaaaa-1111-4111-8111-00000000000a";
const NET_B: &str = "bbbbbbbb-2222-4222-8222-00000000000b";
const ROUTER: &str = "cccccccc-3333-4333-8333-00000000000c";
const VM1: &str = "11111111-1111-4111-8111-111111111111";
const VM2: &str = "22222222-2222-4222-8222-222222222222";

fn enabled(test: &str) -> bool {
    let on = std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("note: skipping host test {test}: set RUSTACK_HOST_TESTS=1 and run as root");
    }
    on
}

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

struct Source;

#[async_trait]
impl InstanceSource for Source {
    async fn instance(&self, id: &str) -> Result<Option<InstanceMetadata>, SourceError> {
        let name = match id {
            VM1 => "vm1",
            VM2 => "vm2",
            _ => return Ok(None),
        };
        Ok(Some(InstanceMetadata {
            uuid: id.into(),
            name: name.into(),
            hostname: name.into(),
            project_id: PROJECT.into(),
            ec2_instance_id: format!("i-0000000{}", &name[2..]),
            ..InstanceMetadata::default()
        }))
    }
}

fn port(id: &str, net: &str, mac: &str, subnet: &str, ip: &str, owner: &str, dev: &str) -> Port {
    Port {
        id: id.into(),
        network_id: net.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: subnet.into(),
            ip_address: ip.parse().unwrap(),
        }],
        device_owner: owner.into(),
        device_id: dev.into(),
        ..Port::default()
    }
}

fn subnet(id: &str, net: &str, cidr: &str, gw: &str) -> Subnet {
    Subnet {
        id: id.into(),
        network_id: net.into(),
        cidr: cidr.parse().unwrap(),
        gateway_ip: Some(gw.parse().unwrap()),
        enable_dhcp: true,
        dns_nameservers: vec![],
        host_routes: vec![],
    }
}

/// Network A is isolated (no router): metadata from its DHCP namespace. Network B has a
/// router on its gateway: metadata through the router namespace.
fn topology() -> Topology {
    Topology {
        networks: [NET_A, NET_B]
            .iter()
            .map(|id| Network {
                id: id.to_string(),
                mtu: 1500,
                segment: Segment::Local,
            })
            .collect(),
        subnets: vec![
            subnet("sub-a", NET_A, "10.79.1.0/24", "10.79.1.1"),
            subnet("sub-b", NET_B, "10.79.2.0/24", "10.79.2.1"),
        ],
        ports: vec![
            port(
                "da000000-0000-4000-8000-000000000002",
                NET_A,
                "fa:16:3e:79:01:02",
                "sub-a",
                "10.79.1.2",
                "network:dhcp",
                "dhcp",
            ),
            port(
                "a1000000-0000-4000-8000-000000000011",
                NET_A,
                "fa:16:3e:79:01:11",
                "sub-a",
                "10.79.1.11",
                "compute:nova",
                VM1,
            ),
            port(
                "a2000000-0000-4000-8000-000000000012",
                NET_A,
                "fa:16:3e:79:01:12",
                "sub-a",
                "10.79.1.12",
                "compute:nova",
                "",
            ),
            port(
                "db000000-0000-4000-8000-000000000002",
                NET_B,
                "fa:16:3e:79:02:02",
                "sub-b",
                "10.79.2.2",
                "network:dhcp",
                "dhcp",
            ),
            port(
                "b1000000-0000-4000-8000-000000000011",
                NET_B,
                "fa:16:3e:79:02:11",
                "sub-b",
                "10.79.2.11",
                "compute:nova",
                VM2,
            ),
            port(
                "cb000000-0000-4000-8000-000000000001",
                NET_B,
                "fa:16:3e:79:02:01",
                "sub-b",
                "10.79.2.1",
                "network:router_interface",
                ROUTER,
            ),
        ],
        routers: vec![Router {
            id: ROUTER.into(),
            enable_snat: false,
            routes: vec![],
        }],
        ..Topology::default()
    }
}

fn attribution(t: &Topology) -> Arc<Attribution> {
    let records: Vec<PortRecord> = t
        .ports
        .iter()
        .map(|p| PortRecord {
            network_id: p.network_id.clone(),
            device_owner: p.device_owner.clone(),
            device_id: p.device_id.clone(),
            project_id: PROJECT.into(),
            fixed_ips: p.fixed_ips.iter().map(|f| f.ip_address).collect(),
        })
        .collect();
    Arc::new(Attribution::from_ports(&records))
}

/// What the network agent does with the planner's listeners.
fn listeners(d: &DesiredState) -> Vec<ListenerSpec> {
    d.metadata_proxies
        .iter()
        .map(|(ns, l)| match &l.scope {
            MetadataScope::Network(n) => ListenerSpec::dhcp(ns, n, l.port),
            MetadataScope::Router(r) => ListenerSpec::router(ns, r, l.port),
        })
        .collect()
}

/// An "instance": a namespace whose `eth0` is a veth standing where the TAP would be.
fn instance(host: &str, ns: &str, p: &Port) {
    LinuxNet.netns_add(ns).unwrap();
    LinuxNet
        .link_add(
            Some(host),
            &LinkSpec {
                name: format!("tap{}", &p.id[..11]),
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
                mac: Some(p.mac_address.clone()),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
}

/// DHCP in the instance with busybox udhcpc, applying option 121 as a guest does.
fn dhcp(ns: &str, script: &std::path::Path) {
    ok(&[
        "ip",
        "netns",
        "exec",
        ns,
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
        "-O",
        "staticroutes",
        "-s",
        script.to_str().unwrap(),
    ]);
}

/// GET from inside `ns`: (HTTP status, body).
fn fetch(ns: &str, url: &str) -> (u16, String) {
    let o = run(&[
        "ip",
        "netns",
        "exec",
        ns,
        "curl",
        "-s",
        "-m",
        "5",
        "-w",
        "\n%{http_code}",
        url,
    ]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "000"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_reach_metadata_through_dhcp_and_router_namespaces() {
    if !enabled("guests_reach_metadata_through_dhcp_and_router_namespaces") {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let prefix = format!("rm{:05x}-", (std::process::id() ^ nanos) & 0xfffff);
    let state_dir = std::env::temp_dir().join(format!("{prefix}state"));
    std::fs::create_dir_all(&state_dir).unwrap();
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let host = format!("{prefix}host");
    LinuxNet.netns_add(&host).unwrap();
    let cfg = HostConfig {
        host_netns: Some(host.clone()),
        netns_prefix: prefix.clone(),
        ..HostConfig::default()
    };
    let topo = topology();
    let (vm1, vm2, vm3) = (
        format!("{prefix}vm1"),
        format!("{prefix}vm2"),
        format!("{prefix}vm3"),
    );
    instance(&host, &vm1, &topo.ports[1]);
    instance(&host, &vm3, &topo.ports[2]);
    instance(&host, &vm2, &topo.ports[4]);

    // The metadata API ("compute") on loopback, the proxy forwarding to it.
    let mcfg = MetadataConfig {
        shared_secret: SECRET.into(),
        ..MetadataConfig::default()
    };
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let app = rustack_metadata::server::router(&mcfg, Arc::new(Source));
    tokio::spawn(async move { axum::serve(api, app).await.unwrap() });
    let (tx, rx) = attribution_channel();
    let proxy = MetadataProxy::new(
        &MetadataConfig {
            nova_metadata_url: format!("http://{api_addr}"),
            ..mcfg.clone()
        },
        rx,
    );

    // Data plane, then the proxy, as the agent orders them.
    let (net, fw, dh) = (LinuxNet, LinuxNft::new(), LinuxDnsmasq::new(&state_dir));
    let rec = Reconciler::new(&net, &fw, &dh);
    let d = plan(&topo, &cfg);
    let r = rec.reconcile(&d);
    assert!(r.is_ok(), "{:?}", r.errors);
    tx.send(attribution(&topo)).unwrap();
    let pr = proxy.reconcile(&listeners(&d)).await;
    assert!(pr.errors.is_empty(), "{:?}", pr.errors);
    assert_eq!(pr.added.len(), 2, "qdhcp of A and qrouter: {:?}", pr.added);

    let script = state_dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n  \
         set -- $staticroutes\n  while [ $# -ge 2 ]; do ip route replace \"$1\" via \"$2\" dev \"$interface\"; shift 2; done;;\nesac\nexit 0\n",
    )
    .unwrap();
    ok(&["chmod", "755", script.to_str().unwrap()]);
    for vm in [&vm1, &vm2, &vm3] {
        dhcp(vm, &script);
    }
    // Option 121 carried the metadata route: via the DHCP port on A, the router on B.
    let route = |vm: &str| ok(&["ip", "-n", vm, "route", "get", "169.254.169.254"]);
    assert!(route(&vm1).contains("via 10.79.1.2"), "{}", route(&vm1));
    assert!(route(&vm2).contains("via 10.79.2.1"), "{}", route(&vm2));

    let url = "http://169.254.169.254/openstack/latest/meta_data.json";
    let (code, body) = fetch(&vm1, url);
    assert_eq!(code, 200, "{body}");
    let md: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (md["uuid"].as_str(), md["name"].as_str()),
        (Some(VM1), Some("vm1"))
    );
    let (code, body) = fetch(&vm2, url);
    assert_eq!(code, 200, "through the router: {body}");
    let md: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(md["uuid"].as_str(), Some(VM2));
    assert_eq!(
        fetch(&vm2, "http://169.254.169.254/latest/meta-data/instance-id"),
        (200, "i-00000002".to_string())
    );
    // busybox wget as the test image's guests use it.
    let o = run(&[
        "ip",
        "netns",
        "exec",
        &vm1,
        "timeout",
        "5",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://169.254.169.254/latest/meta-data/hostname",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "vm1.novalocal");
    // A port without device_id: 404 from the proxy.
    assert_eq!(fetch(&vm3, url).0, 404);
    // The router's proxy port is not reachable from the router's own other interfaces
    // (the guard drops 9697 unless it came in on qr-*): from the host namespace via
    // loopback in the router namespace it is refused... by the guard's drop (timeout).
    let qrouter = format!("{prefix}qrouter-{ROUTER}");
    let o = run(&[
        "ip",
        "netns",
        "exec",
        &qrouter,
        "curl",
        "-s",
        "-m",
        "2",
        "http://127.0.0.1:9697/",
    ]);
    assert!(!o.status.success(), "9697 is guarded off qr-* interfaces");

    // The DHCP namespace is deleted behind the agent's back: the next pass recreates it
    // and the proxy reopens its listener in the new namespace (the old socket would
    // otherwise keep serving a dead copy).
    let qdhcp_a = format!("{prefix}qdhcp-{NET_A}");
    LinuxNet.netns_del(&qdhcp_a).unwrap();
    let r = rec.reconcile(&d);
    assert!(r.is_ok(), "{:?}", r.errors);
    let pr = proxy.reconcile(&listeners(&d)).await;
    assert_eq!(
        (pr.removed.len(), pr.added.len(), pr.errors.len()),
        (1, 1, 0),
        "reopened in the recreated namespace: {pr:?}"
    );
    assert_eq!(pr.added[0].netns.as_deref(), Some(qdhcp_a.as_str()));
    let (code, body) = fetch(&vm1, url);
    assert_eq!(code, 200, "{body}");

    // The router goes: its listener and namespace go; B becomes isolated and its DHCP
    // namespace serves metadata after a DHCP renewal.
    let mut topo2 = topo.clone();
    topo2.routers.clear();
    topo2
        .ports
        .retain(|p| p.device_owner != "network:router_interface");
    let d2 = plan(&topo2, &cfg);
    assert!(rec.reconcile(&d2).is_ok());
    tx.send(attribution(&topo2)).unwrap();
    let pr = proxy.reconcile(&listeners(&d2)).await;
    assert_eq!(pr.removed.len(), 1, "{:?}", pr.removed);
    assert_eq!(pr.added.len(), 1, "qdhcp of B: {:?}", pr.added);
    assert!(!LinuxNet.netns_list().unwrap().contains(&qrouter));
    ok(&["ip", "-n", &vm2, "addr", "flush", "dev", "eth0"]);
    dhcp(&vm2, &script);
    assert!(route(&vm2).contains("via 10.79.2.2"), "{}", route(&vm2));
    let (code, body) = fetch(&vm2, url);
    assert_eq!(code, 200, "{body}");

    // Everything goes; no listener stays behind.
    let empty = plan(&Topology::default(), &cfg);
    assert!(rec.reconcile(&empty).is_ok());
    let pr = proxy.reconcile(&listeners(&empty)).await;
    assert_eq!(pr.removed.len(), 2);
    assert!(proxy.listeners().await.is_empty());
    let left: Vec<String> = LinuxNet
        .netns_list()
        .unwrap()
        .into_iter()
        .filter(|n| n.contains("qdhcp-") || n.contains("qrouter-"))
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
