//! Benchmark (not a timed test; `#[ignore]`): the network agent with the whole control
//! plane in-process. Run with `scripts/bench-network.sh --agent` (release build) or
//! `cargo test --release -p rustack-network-agent --test bench_agent -- --ignored --nocapture`.
//!
//! Figures:
//! 1. port create throughput and latency through the Networking API, API only and
//!    with the agent running (woken by every write); with the real data plane (root,
//!    `RUSTACK_HOST_TESTS=1`) also the create-to-wired latency: POST until dnsmasq's
//!    hosts file carries the port's lease;
//! 2. convergence of 500 instance ports (TAPs present) by a fresh agent: a cold host
//!    (bridge, dnsmasq, 500 plugs) and a restart on a converged host, on the fake host
//!    and, as root, on the real kernel inside a namespace this benchmark creates.
//!
//! Prints a table and one JSON line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use rustack_hostops::dataplane::{naming, HostConfig};
use rustack_hostops::dhcp::{DhcpServer, LinuxDnsmasq};
use rustack_hostops::fake::FakeHost;
use rustack_hostops::net::{LinkKind, LinkSpec, LinuxNet, NetOps};
use rustack_network_agent::{AgentOptions, Credentials, HostBackend, NetworkAgent, NetworkClient};
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

const CREATE: usize = 200;
const CONVERGE: usize = 500;
const CONC: usize = 8;

fn root_enabled() -> bool {
    std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1")
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header("x-auth-token", &self.token);
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
}

fn neutron(tc: &TestCloud) -> NetworkClient {
    let pw: BTreeMap<String, String> = serde_yaml::from_str(
        &std::fs::read_to_string(tc.data_dir().join("passwords.yml")).unwrap(),
    )
    .unwrap();
    NetworkClient::new(
        tc.cloud.network_url.clone(),
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
    .unwrap()
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn network(api: &Api, cidr: &str) -> String {
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "bench"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let net = v["network"]["id"].as_str().unwrap().to_string();
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/subnets",
            Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": cidr}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    net
}

fn port_body(net: &str) -> Value {
    json!({"port": {"network_id": net, "device_owner": "compute:nova", "device_id": "bench", "binding:host_id": "bench-host"}})
}

/// Sequential creates (latencies) and `CONC` concurrent clients (throughput).
async fn creates(
    api: &Api,
    net: &str,
    wired: Option<&PathBuf>,
) -> (Vec<Duration>, f64, Vec<Duration>) {
    let mut lat = Vec::new();
    let mut wired_lat = Vec::new();
    for _ in 0..CREATE {
        let t = Instant::now();
        let (st, v) = api
            .call(Method::POST, "/v2.0/ports", Some(port_body(net)))
            .await;
        assert_eq!(st, 201, "{v}");
        lat.push(t.elapsed());
        if let Some(hosts) = wired {
            let mac = v["port"]["mac_address"].as_str().unwrap().to_string();
            let deadline = Instant::now() + Duration::from_secs(30);
            while !std::fs::read_to_string(hosts)
                .unwrap_or_default()
                .contains(&mac)
            {
                assert!(Instant::now() < deadline, "port never wired");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            wired_lat.push(t.elapsed());
        }
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONC {
        let (api, net) = (api.clone(), net.to_string());
        tasks.push(tokio::spawn(async move {
            for _ in 0..CREATE / CONC {
                let (st, v) = api
                    .call(Method::POST, "/v2.0/ports", Some(port_body(&net)))
                    .await;
                assert_eq!(st, 201, "{v}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (CREATE / CONC * CONC) as f64 / t.elapsed().as_secs_f64();
    (lat, rate, wired_lat)
}

struct Containment {
    prefix: String,
    state_dir: PathBuf,
}

impl Drop for Containment {
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

fn containment(tag: &str) -> (Containment, HostConfig) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let t = format!("{:05x}", (std::process::id() ^ nanos) & 0xfffff);
    let prefix = format!("rb{t}{tag}-");
    let c = Containment {
        prefix: prefix.clone(),
        state_dir: std::env::temp_dir().join(format!("rustack-bench-agent-{t}{tag}")),
    };
    let host = format!("{prefix}host");
    LinuxNet.netns_add(&host).unwrap();
    let cfg = HostConfig {
        host_netns: Some(host),
        netns_prefix: prefix,
        ..HostConfig::default()
    };
    (c, cfg)
}

fn opts(cfg: HostConfig) -> AgentOptions {
    AgentOptions {
        host: "bench-host".into(),
        host_config: cfg,
        interval: Duration::from_secs(3600),
        network_node: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn bench_network_agent() {
    let tc =
        TestCloud::start_with(|c| c.network.dhcp_ports = rustack::config::DhcpPortsMode::On).await;
    let api = Api {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: tc.cloud.network_url.clone(),
        token: tc.admin_token().await,
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut js = serde_json::Map::new();

    // 1a. API only.
    let net = network(&api, "10.201.0.0/16").await;
    let (_, v) = api
        .call(Method::GET, &format!("/v2.0/networks/{net}"), None)
        .await;
    let project = v["network"]["project_id"].as_str().unwrap().to_string();
    let (st, v) = api
        .call(
            Method::PUT,
            &format!("/v2.0/quotas/{project}"),
            Some(json!({"quota": {"port": -1}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let started = Instant::now();
    let (mut lat, rate, _) = creates(&api, &net, None).await;
    rows.push((
        "port create, API only".into(),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, {rate:.0} ports/s ({CONC} clients)",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99)
        ),
    ));
    js.insert(
        "api_only".into(),
        json!({"p50_ms": pct(&mut lat, 0.5), "p99_ms": pct(&mut lat, 0.99), "ports_per_s": rate}),
    );

    eprintln!("api-only creates: {:?}", started.elapsed());
    // 1b. With an agent woken by every write (fake host, or the real one as root).
    let (shut_trigger, shutdown) = rustack_runtime::shutdown_channel();
    let mut guard = None;
    let (agent, hosts_file) = if root_enabled() {
        let (c, cfg) = containment("c");
        let state = c.state_dir.clone();
        guard = Some(c);
        (
            NetworkAgent::new(neutron(&tc), HostBackend::linux(&state), opts(cfg)),
            Some(state),
        )
    } else {
        (
            NetworkAgent::new(
                neutron(&tc),
                HostBackend::fake(&FakeHost::new()),
                opts(HostConfig::default()),
            ),
            None,
        )
    };
    let task = agent
        .clone()
        .spawn(Some(tc.cloud.network.subscribe()), shutdown);
    let net2 = network(&api, "10.202.0.0/16").await;
    let hosts = hosts_file.map(|s| s.join(&net2).join("host"));
    let kind = if hosts.is_some() {
        "real data plane"
    } else {
        "agent on the fake host"
    };
    let (mut lat, rate, mut wired) = creates(&api, &net2, hosts.as_ref()).await;
    rows.push((
        format!("port create, {kind}"),
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, {rate:.0} ports/s ({CONC} clients)",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99)
        ),
    ));
    let mut j =
        json!({"p50_ms": pct(&mut lat, 0.5), "p99_ms": pct(&mut lat, 0.99), "ports_per_s": rate});
    if !wired.is_empty() {
        rows.push((
            "port create -> lease in dnsmasq".into(),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms",
                pct(&mut wired, 0.5),
                pct(&mut wired, 0.99)
            ),
        ));
        j["wired_p50_ms"] = json!(pct(&mut wired, 0.5));
        j["wired_p99_ms"] = json!(pct(&mut wired, 0.99));
    }
    js.insert(
        if root_enabled() {
            "data_plane"
        } else {
            "agent_fake"
        }
        .into(),
        j,
    );
    shut_trigger.trigger();
    task.await.unwrap();
    drop(guard);
    eprintln!("agent creates: {:?}", started.elapsed());

    // 2. Convergence of CONVERGE instance ports (their TAPs exist) after a restart.
    let net3 = network(&api, "10.203.0.0/16").await;
    let mut ids = Vec::new();
    for chunk in 0..CONVERGE / 50 {
        let _ = chunk;
        let body =
            json!({"ports": (0..50).map(|_| port_body(&net3)["port"].clone()).collect::<Vec<_>>()});
        let (st, v) = api.call(Method::POST, "/v2.0/ports", Some(body)).await;
        assert_eq!(st, 201, "{v}");
        ids.extend(
            v["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string()),
        );
    }
    let total_ports = {
        let (_, v) = api.call(Method::GET, "/v2.0/ports", None).await;
        v["ports"].as_array().unwrap().len()
    };
    let tap = |id: &str| LinkSpec {
        name: naming::tap(id),
        kind: LinkKind::Tap,
        mtu: Some(1450),
        mac: None,
    };
    let mut backends: Vec<(&str, HostBackend, HostConfig, Option<Containment>)> = Vec::new();
    let fake = FakeHost::new();
    for id in &ids {
        fake.add_link(None, &tap(id)).unwrap();
    }
    backends.push((
        "fake host",
        HostBackend::fake(&fake),
        HostConfig::default(),
        None,
    ));
    if root_enabled() {
        let (c, cfg) = containment("v");
        let ns = cfg.host_netns.clone().unwrap();
        let batch: String = ids
            .iter()
            .map(|id| format!("tuntap add dev {} mode tap\n", naming::tap(id)))
            .collect();
        let mut child = std::process::Command::new("ip")
            .args(["-n", &ns, "-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), batch.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        let state = c.state_dir.clone();
        backends.push(("real kernel", HostBackend::linux(&state), cfg, Some(c)));
    }
    for (name, backend, cfg, guard) in backends {
        let cold = NetworkAgent::new(neutron(&tc), backend.clone(), opts(cfg.clone()));
        let r = cold.pass().await.unwrap();
        assert_eq!(r.errors, 0, "{r:?}");
        let restarted: Arc<NetworkAgent> = NetworkAgent::new(neutron(&tc), backend, opts(cfg));
        let r2 = restarted.pass().await.unwrap();
        assert_eq!((r2.changes, r2.errors), (0, 0), "{r2:?}");
        rows.push((
            format!("{CONVERGE} ports ({total_ports} in the API): cold host, {name}"),
            format!(
                "{:.0} ms ({} changes, {} ACTIVE)",
                r.elapsed.as_secs_f64() * 1000.0,
                r.changes,
                r.active
            ),
        ));
        rows.push((
            format!("{CONVERGE} ports: agent restart on a converged host, {name}"),
            format!("{:.0} ms (no change)", r2.elapsed.as_secs_f64() * 1000.0),
        ));
        js.insert(
            format!("converge_{}", name.replace(' ', "_")),
            json!({"cold_ms": r.elapsed.as_secs_f64() * 1000.0, "restart_ms": r2.elapsed.as_secs_f64() * 1000.0, "ports": total_ports}),
        );
        drop(guard);
    }

    println!();
    println!(
        "network agent benchmark ({CREATE} creates each, {})",
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    for (k, v) in &rows {
        println!("  {k:<60} {v}");
    }
    println!("{}", serde_json::Value::Object(js));
    tc.stop().await;
}
