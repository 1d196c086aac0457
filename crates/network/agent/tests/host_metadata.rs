//! Host test of the metadata path through the real agent: a port created through the
//! Networking API with a `device_id` is attributed by the agent's proxy, which listens in
//! the `qdhcp-` namespace the agent built, and the "instance" (a namespace whose veth
//! stands where the TAP would be) reads `meta_data.json` from a fake metadata API; a
//! port without `device_id` gets 404; stopping the agent closes the listener.
//!
//! Opt-in (root, `RUSTACK_HOST_TESTS=1`). Containment: the agent's "host" namespace is a
//! namespace this test creates, every namespace carries a per-run prefix, addresses are
//! 10.79.7.0/24 inside them; the fake metadata API listens on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use rustack_hostops::dataplane::{naming, HostConfig};
use rustack_hostops::dhcp::{DhcpServer, LinuxDnsmasq};
use rustack_hostops::net::{LinkKind, LinkSpec, LinkUpdate, LinuxNet, NetOps};
use rustack_metadata::{InstanceMetadata, InstanceSource, MetadataConfig, SourceError};
use rustack_network_agent::{AgentOptions, Credentials, HostBackend, NetworkAgent, NetworkClient};
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

const VM: &str = "77777777-7777-4777-8777-777777777777";

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

/// GET from inside `ns`: (HTTP status, body).
fn fetch(ns: &str, url: &str) -> (u16, String) {
    let o = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-m",
            "3",
            "-w",
            "\n%{http_code}",
            url,
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "000"));
    (code.trim().parse().unwrap_or(0), body.to_string())
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Source {
    project: String,
}

#[async_trait]
impl InstanceSource for Source {
    async fn instance(&self, id: &str) -> Result<Option<InstanceMetadata>, SourceError> {
        Ok((id == VM).then(|| InstanceMetadata {
            uuid: VM.into(),
            name: "agent-vm".into(),
            hostname: "agent-vm".into(),
            project_id: self.project.clone(),
            ..InstanceMetadata::default()
        }))
    }
}

/// An "instance" namespace whose `eth0` is a veth standing where the port's TAP would be.
fn instance(host_ns: &str, vm: &str, port: &Value) {
    LinuxNet.netns_add(vm).unwrap();
    LinuxNet
        .link_add(
            Some(host_ns),
            &LinkSpec {
                name: naming::tap(port["id"].as_str().unwrap()),
                kind: LinkKind::Veth {
                    peer_name: "eth0".into(),
                    peer_ns: Some(vm.into()),
                },
                mtu: Some(1450),
                mac: None,
            },
        )
        .unwrap();
    LinuxNet
        .link_set(
            Some(vm),
            "eth0",
            &LinkUpdate {
                up: Some(true),
                mac: Some(port["mac_address"].as_str().unwrap().to_string()),
                mtu: Some(1450),
                ..LinkUpdate::default()
            },
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_serves_metadata_to_ports_created_through_the_api() {
    if !enabled("agent_serves_metadata_to_ports_created_through_the_api") {
        return;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let t = format!("{:05x}", (std::process::id() ^ nanos) & 0xfffff);
    let prefix = format!("rq{t}-");
    let state_dir = std::env::temp_dir().join(format!("rustack-agent-md-{t}"));
    let _guard = Guard {
        prefix: prefix.clone(),
        state_dir: state_dir.clone(),
    };
    let host_ns = format!("{prefix}host");
    LinuxNet.netns_add(&host_ns).unwrap();

    let tc = TestCloud::start_with(|c| {
        c.network.dhcp_ports = rustack::config::DhcpPortsMode::On;
        c.network.host = Some("host-md".into());
    })
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = tc.cloud.network_url.clone();
    let admin = tc.admin_token().await;
    let pw: BTreeMap<String, String> = serde_yaml::from_str(
        &std::fs::read_to_string(tc.data_dir().join("passwords.yml")).unwrap(),
    )
    .unwrap();

    let (st, v) = call(
        &http,
        &base,
        &admin,
        Method::POST,
        "/v2.0/networks",
        Some(json!({"network": {"name": "md-net"}})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let net = v["network"]["id"].as_str().unwrap().to_string();
    let project = v["network"]["project_id"].as_str().unwrap().to_string();
    let (st, v) = call(
        &http,
        &base,
        &admin,
        Method::POST,
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.79.7.0/24"}})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let mut ports = Vec::new();
    for device in [VM, ""] {
        let (st, v) = call(
            &http,
            &base,
            &admin,
            Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": net, "device_owner": "compute:nova", "device_id": device}})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        ports.push(v["port"].clone());
    }
    let (vm1, vm2) = (format!("{prefix}vm1"), format!("{prefix}vm2"));
    instance(&host_ns, &vm1, &ports[0]);
    instance(&host_ns, &vm2, &ports[1]);

    // The "compute" metadata API, with the secret from passwords.yml as rustack up uses.
    let mcfg = MetadataConfig {
        shared_secret: pw["metadata_secret"].clone(),
        ..MetadataConfig::default()
    };
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}", api.local_addr().unwrap());
    let app = rustack_metadata::server::router(&mcfg, Arc::new(Source { project }));
    tokio::spawn(async move { axum::serve(api, app).await.unwrap() });

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
    let agent = NetworkAgent::with_metadata(
        client,
        HostBackend::linux(&state_dir),
        AgentOptions {
            host: "host-md".into(),
            host_config: HostConfig {
                host_netns: Some(host_ns.clone()),
                netns_prefix: prefix.clone(),
                ..HostConfig::default()
            },
            interval: Duration::from_secs(3600),
            network_node: true,
        },
        &MetadataConfig {
            nova_metadata_url: api_url,
            ..mcfg.clone()
        },
    );
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let task = agent
        .clone()
        .spawn(Some(tc.cloud.network.subscribe()), shutdown);

    // DHCP with option 121 (the isolated network's route to 169.254.169.254 via the DHCP
    // port), applied as a guest does.
    let script = state_dir.join("udhcpc.sh");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$1\" in bound|renew)\n  ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n  \
         set -- $staticroutes\n  while [ $# -ge 2 ]; do ip route replace \"$1\" via \"$2\" dev \"$interface\"; shift 2; done;;\nesac\nexit 0\n",
    )
    .unwrap();
    ok(&["chmod", "755", script.to_str().unwrap()]);
    let url = "http://169.254.169.254/openstack/latest/meta_data.json";
    eventually("metadata through the agent's proxy", 30, || {
        let (vm1, script) = (vm1.clone(), script.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let has_route = Command::new("ip")
                    .args(["-n", &vm1, "route", "show", "169.254.169.254"])
                    .output()
                    .map(|o| !o.stdout.is_empty())
                    .unwrap_or(false);
                if !has_route {
                    let _ = Command::new("ip")
                        .args([
                            "netns",
                            "exec",
                            &vm1,
                            "busybox",
                            "udhcpc",
                            "-i",
                            "eth0",
                            "-f",
                            "-q",
                            "-n",
                            "-t",
                            "3",
                            "-T",
                            "1",
                            "-O",
                            "staticroutes",
                            "-s",
                            script.to_str().unwrap(),
                        ])
                        .output();
                }
                fetch(&vm1, url).0 == 200
            })
            .await
            .unwrap()
        }
    })
    .await;
    let (_, body) = fetch(&vm1, url);
    let md: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (md["uuid"].as_str(), md["name"].as_str()),
        (Some(VM), Some("agent-vm"))
    );

    // The port without device_id: 404.
    ok(&[
        "ip",
        "netns",
        "exec",
        &vm2,
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
    assert_eq!(fetch(&vm2, url).0, 404);

    // Stopping the agent closes the proxy's listeners.
    trigger.trigger();
    task.await.unwrap();
    assert_eq!(
        fetch(&vm1, url).0,
        0,
        "nothing listens after the agent stopped"
    );
    tc.stop().await;
}
