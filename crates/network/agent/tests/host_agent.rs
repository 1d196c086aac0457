//! Host test of the network agent on the real kernel, driven by a real control plane
//! in-process (TestCloud): a port created through the Networking API becomes a bridge
//! port, an "instance" (a namespace whose veth stands where the TAP would be) gets its
//! DHCP lease from the dnsmasq the agent started, the port turns ACTIVE, and deleting
//! the resources tears everything down.
//!
//! Opt-in (root, `RUSTACK_HOST_TESTS=1`; `scripts/host-tests.sh`). Containment: the
//! agent's "host" namespace is a namespace this test creates; every namespace carries
//! a per-run prefix; nothing is configured in the root namespace; addresses are in
//! 10.79.0.0/24 inside those namespaces only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use rustack_hostops::dataplane::{naming, plan, HostConfig, Reconciler, Topology};
use rustack_hostops::dhcp::{DhcpServer, LinuxDnsmasq};
use rustack_hostops::net::{LinkKind, LinkSpec, LinkUpdate, LinuxNet, NetOps};
use rustack_network_agent::{AgentOptions, Credentials, HostBackend, NetworkAgent, NetworkClient};
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

fn enabled(test: &str) -> bool {
    let on = std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("note: skipping host test {test}: set RUSTACK_HOST_TESTS=1 and run as root");
    }
    on
}

/// Removes what the test created, also when it panics.
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

fn ok(args: &[&str]) -> String {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http
        .request(m, format!("{base}{path}"))
        .header("x-auth-token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let st = resp.status().as_u16();
    (
        st,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

async fn eventually<F, Fut>(what: &str, secs: u64, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_wires_a_port_created_through_the_api() {
    if !enabled("agent_wires_a_port_created_through_the_api") {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let t = format!("{:05x}", (std::process::id() ^ nanos) & 0xfffff);
    let prefix = format!("ra{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-agent-host-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let host_ns = format!("{prefix}host");
    LinuxNet.netns_add(&host_ns).unwrap();

    let tc = TestCloud::start_with(|c| {
        c.network.dhcp_ports = rustack::config::DhcpPortsMode::On;
        c.network.host = Some("host-test".into());
    })
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = tc.cloud.network_url.clone();
    let admin = tc.admin_token().await;
    let pw: BTreeMap<String, String> = serde_yaml::from_str(
        &std::fs::read_to_string(tc.data_dir().join("passwords.yml")).unwrap(),
    )
    .unwrap();
    let client = NetworkClient::new(
        base.clone(),
        Credentials::Password {
            identity_url: tc.cloud.identity_url.clone(),
            user: rustack_identity_api::ServiceCredentials {
                username: "neutron".into(),
                password: pw["neutron_keystone_password"].clone(),
                domain_name: "Default".into(),
                project_name: "service".into(),
            },
        },
    )
    .unwrap();
    let agent = NetworkAgent::new(
        client,
        HostBackend::linux(&state_dir),
        AgentOptions {
            host: "host-test".into(),
            host_config: HostConfig {
                host_netns: Some(host_ns.clone()),
                netns_prefix: prefix.clone(),
                ..HostConfig::default()
            },
            interval: Duration::from_secs(3600),
            network_node: true,
        },
    );
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let task = agent
        .clone()
        .spawn(Some(tc.cloud.network.subscribe()), shutdown);

    let (st, v) = call(
        &http,
        &base,
        &admin,
        Method::POST,
        "/v2.0/networks",
        Some(json!({"network": {"name": "host-net"}})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let net = v["network"]["id"].as_str().unwrap().to_string();
    let (st, v) = call(
        &http,
        &base,
        &admin,
        Method::POST,
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.79.0.0/24"}})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let subnet = v["subnet"]["id"].as_str().unwrap().to_string();
    let (st, v) = call(
        &http,
        &base,
        &admin,
        Method::POST,
        "/v2.0/ports",
        Some(json!({"port": {"network_id": net, "device_owner": "compute:nova", "device_id": "vm1", "binding:host_id": "host-test"}})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let port = v["port"].clone();
    let port_id = port["id"].as_str().unwrap().to_string();
    let mac = port["mac_address"].as_str().unwrap().to_string();
    let ip = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();

    // The "instance": its veth end stands in the host namespace where the TAP would be.
    let vm = format!("{prefix}vm1");
    LinuxNet.netns_add(&vm).unwrap();
    LinuxNet
        .link_add(
            Some(&host_ns),
            &LinkSpec {
                name: naming::tap(&port_id),
                kind: LinkKind::Veth {
                    peer_name: "eth0".into(),
                    peer_ns: Some(vm.clone()),
                },
                mtu: Some(1450),
                mac: None,
            },
        )
        .unwrap();
    LinuxNet
        .link_set(
            Some(&vm),
            "eth0",
            &LinkUpdate {
                up: Some(true),
                mac: Some(mac.clone()),
                mtu: Some(1450),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
    // Nova would now bind the port; any write wakes the agent.
    let (st, _) = call(
        &http,
        &base,
        &admin,
        Method::PUT,
        &format!("/v2.0/ports/{port_id}"),
        Some(json!({"port": {"name": "vm1-eth0"}})),
    )
    .await;
    assert_eq!(st, 200);
    eventually("port ACTIVE", 20, || {
        let (http, base, admin, id) = (&http, &base, &admin, &port_id);
        async move {
            let (_, v) = call(
                http,
                base,
                admin,
                Method::GET,
                &format!("/v2.0/ports/{id}"),
                None,
            )
            .await;
            v["port"]["status"] == "ACTIVE"
        }
    })
    .await;
    let bridge = naming::bridge(&net);
    let tap = LinuxNet
        .link_list(Some(&host_ns))
        .unwrap()
        .into_iter()
        .find(|l| l.name == naming::tap(&port_id))
        .unwrap();
    assert_eq!(tap.master.as_deref(), Some(bridge.as_str()));

    // DHCP from the agent's dnsmasq (busybox udhcpc; the script only records the lease).
    let script = state_dir.join("udhcpc.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$1\" in bound|renew) ip addr add \"$ip/${mask:-24}\" dev \"$interface\";; esac\nexit 0\n",
    )
    .unwrap();
    ok(&["chmod", "755", script.to_str().unwrap()]);
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm,
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
    let got = LinuxNet.addr_list(Some(&vm), "eth0").unwrap();
    assert_eq!(
        got.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        vec![format!("{ip}/24")]
    );
    let leases = std::fs::read_to_string(state_dir.join(&net).join("leases")).unwrap();
    assert!(
        leases.contains(&ip) && leases.contains(&mac),
        "dnsmasq leases: {leases}"
    );
    // The instance reaches the DHCP port's address across the bridge.
    let (_, v) = call(
        &http,
        &base,
        &admin,
        Method::GET,
        &format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp"),
        None,
    )
    .await;
    let dhcp_ip = v["ports"][0]["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    ok(&[
        "ip", "netns", "exec", &vm, "ping", "-c", "1", "-W", "2", &dhcp_ip,
    ]);

    // Tear down through the API: the agent removes the DHCP namespace, dnsmasq and the
    // bridge; the instance's veth (compute's) is left alone.
    let (st, _) = call(
        &http,
        &base,
        &admin,
        Method::DELETE,
        &format!("/v2.0/ports/{port_id}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = call(
        &http,
        &base,
        &admin,
        Method::DELETE,
        &format!("/v2.0/subnets/{subnet}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = call(
        &http,
        &base,
        &admin,
        Method::DELETE,
        &format!("/v2.0/networks/{net}"),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let dhcp_ns = naming::dhcp_netns(&prefix, &net);
    eventually("data plane removed", 20, || {
        let (host_ns, bridge, dhcp_ns, state_dir) = (
            host_ns.clone(),
            bridge.clone(),
            dhcp_ns.clone(),
            state_dir.clone(),
        );
        async move {
            let links = LinuxNet.link_list(Some(&host_ns)).unwrap();
            !links.iter().any(|l| l.name == bridge)
                && !LinuxNet.netns_list().unwrap().contains(&dhcp_ns)
                && LinuxDnsmasq::new(&state_dir)
                    .dhcp_list()
                    .unwrap()
                    .iter()
                    .all(|s| s.pid.is_none())
        }
    })
    .await;
    assert!(LinuxNet
        .link_list(Some(&host_ns))
        .unwrap()
        .iter()
        .any(|l| l.name == naming::tap(&port_id)));

    trigger.trigger();
    task.await.unwrap();
    tc.stop().await;
}

/// Whether `pid` runs (a zombie waiting for its parent to reap it does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// A namespace left behind by an older cloud (another data dir, so no pid file of
/// ours names its dnsmasq) still has processes in it: the agent's stale-namespace
/// removal (the same reconcile towards nothing `rustack agent cleanup` runs) ends them
/// before it deletes the namespace, both a child of ours and a daemon whose parent
/// exited (as dnsmasq daemonises).
#[test]
fn removing_a_stale_namespace_ends_its_processes() {
    if !enabled("removing_a_stale_namespace_ends_its_processes") {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let t = format!("{:05x}", (std::process::id() ^ nanos) & 0xfffff);
    let prefix = format!("rk{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-agent-stale-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let host_ns = format!("{prefix}host");
    let dhcp_ns = naming::dhcp_netns(&prefix, "0f4b1c1e-5b7e-4c55-9f1a-3d2f6a0b9c11");
    let router_ns = naming::router_netns(&prefix, "6c3e2a90-1d4b-4f7e-8a2c-5b9d0e1f2a33");
    for ns in [&host_ns, &dhcp_ns, &router_ns] {
        LinuxNet.netns_add(ns).unwrap();
    }
    // A direct child sleeping in the qdhcp- namespace...
    let mut child = Command::new("ip")
        .args(["netns", "exec", &dhcp_ns, "sleep", "600"])
        .spawn()
        .unwrap();
    // ...and a daemon in the qrouter- namespace whose parent shell has exited.
    let daemon: u32 = ok(&[
        "ip",
        "netns",
        "exec",
        &router_ns,
        "sh",
        "-c",
        "sleep 600 >/dev/null 2>&1 & echo $!",
    ])
    .trim()
    .parse()
    .unwrap();
    let in_ns = |ns: &str| ok(&["ip", "netns", "pids", ns]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !(in_ns(&dhcp_ns).contains(&child.id().to_string())
        && in_ns(&router_ns).contains(&daemon.to_string()))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "test processes never appeared in their namespaces"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let host_config = HostConfig {
        host_netns: Some(host_ns.clone()),
        netns_prefix: prefix.clone(),
        ..HostConfig::default()
    };
    let backend = HostBackend::linux(&state_dir);
    let desired = plan(&Topology::default(), &host_config);
    let report = Reconciler::new(
        backend.net.as_ref(),
        backend.fw.as_ref(),
        backend.dhcp.as_ref(),
    )
    .reconcile(&desired);
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    let left = LinuxNet.netns_list().unwrap();
    assert!(
        !left.contains(&dhcp_ns) && !left.contains(&router_ns),
        "{left:?}"
    );
    assert!(
        left.contains(&host_ns),
        "the host namespace is not the agent's to remove"
    );
    // The child was killed (SIGKILL), not left running or exiting on its own.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the process of a removed namespace still runs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(daemon) {
        if std::time::Instant::now() >= deadline {
            let _ = Command::new("kill")
                .args(["-KILL", &daemon.to_string()])
                .status();
            panic!("the daemon {daemon} of a removed namespace still runs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
