//! The network agent against the whole control plane in-process (TestCloud) and the
//! shared fake host: API writes wake the agent, which builds the bridge, the DHCP
//! namespace and dnsmasq with the right leases, plugs instance TAPs, reports port
//! status back, and tears everything down as resources go. No root needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use rustack_hostops::dataplane::naming;
use rustack_hostops::fake::FakeHost;
use rustack_hostops::net::{LinkKind, LinkSpec, NetOps};
use rustack_network_agent::{AgentOptions, Credentials, HostBackend, NetworkAgent, NetworkClient};
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

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
        let text = resp.text().await.unwrap();
        (st, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn port(&self, id: &str) -> Value {
        let (st, v) = self
            .call(Method::GET, &format!("/v2.0/ports/{id}"), None)
            .await;
        assert_eq!(st, 200, "{v}");
        v["port"].clone()
    }

    async fn dhcp_ports(&self, net: &str) -> Vec<Value> {
        let (_, v) = self
            .call(
                Method::GET,
                &format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp"),
                None,
            )
            .await;
        v["ports"].as_array().unwrap().clone()
    }
}

/// Polls `cond` every 20 ms for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn neutron_client(tc: &TestCloud) -> NetworkClient {
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

fn opts(host: &str) -> AgentOptions {
    AgentOptions {
        host: host.into(),
        host_config: Default::default(),
        // Only wake-ups drive the agent here (and the first pass).
        interval: Duration::from_secs(3600),
        network_node: true,
    }
}

#[tokio::test]
async fn agent_realises_networks_and_reports_port_status() {
    let tc = TestCloud::start_with(|c| {
        c.network.dhcp_ports = rustack::config::DhcpPortsMode::On;
        c.network.host = Some("agent-test-host".into());
    })
    .await;
    let api = Api {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: tc.cloud.network_url.clone(),
        token: tc.admin_token().await,
    };
    let fake = FakeHost::new();
    let agent = NetworkAgent::new(
        neutron_client(&tc),
        HostBackend::fake(&fake),
        opts("agent-test-host"),
    );
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let task = agent
        .clone()
        .spawn(Some(tc.cloud.network.subscribe()), shutdown);

    // Network + DHCP subnet: the server adds a DHCP port, the agent builds the bridge,
    // the qdhcp namespace and dnsmasq.
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "n1"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let net = v["network"]["id"].as_str().unwrap().to_string();
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/subnets",
            Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.9.0.0/24"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let subnet = v["subnet"]["id"].as_str().unwrap().to_string();
    let dports = api.dhcp_ports(&net).await;
    assert_eq!(dports.len(), 1, "one DHCP port: {dports:?}");
    let dport = dports[0].clone();
    let dport_id = dport["id"].as_str().unwrap().to_string();
    let device_id = dport["device_id"].as_str().unwrap();
    assert!(
        device_id.starts_with("dhcp") && device_id.ends_with(&format!("-{net}")),
        "{device_id}"
    );
    assert_eq!(dport["fixed_ips"][0]["subnet_id"], json!(subnet));
    assert_eq!(dport["binding:host_id"], "agent-test-host");
    assert_eq!(dport["binding:vif_type"], "bridge");

    // An instance port: leased by dnsmasq, DOWN until its TAP exists.
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": net, "device_owner": "compute:nova", "device_id": "vm-1", "binding:host_id": "agent-test-host"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let port = v["port"].clone();
    let port_id = port["id"].as_str().unwrap().to_string();
    let mac = port["mac_address"].as_str().unwrap().to_string();
    let ip: std::net::IpAddr = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    eventually("dnsmasq with the instance lease", || {
        let fake = fake.clone();
        let (net, mac) = (net.clone(), mac.clone());
        async move {
            fake.lock().dhcp.get(&net).is_some_and(|d| {
                d.pid.is_some() && d.config.leases.iter().any(|l| l.mac == mac && l.ip == ip)
            })
        }
    })
    .await;
    {
        let s = fake.lock();
        let bridge = naming::bridge(&net);
        assert!(s.links[&None].contains_key(&bridge), "bridge {bridge}");
        assert!(s.netns.contains(&naming::dhcp_netns("", &net)));
        let leg = &s.links[&None][&naming::tap(&dport_id)];
        assert_eq!(leg.info.master.as_deref(), Some(bridge.as_str()));
    }
    eventually("DHCP port ACTIVE", || {
        let api = &api;
        let id = dport_id.clone();
        async move { api.port(&id).await["status"] == "ACTIVE" }
    })
    .await;
    assert_eq!(api.port(&port_id).await["status"], "DOWN");

    // Compute creates the TAP; the next pass (woken by any write) plugs it: ACTIVE.
    fake.add_link(
        None,
        &LinkSpec {
            name: naming::tap(&port_id),
            kind: LinkKind::Tap,
            mtu: Some(1450),
            mac: None,
        },
    )
    .unwrap();
    let (st, _) = api
        .call(
            Method::PUT,
            &format!("/v2.0/ports/{port_id}"),
            Some(json!({"port": {"name": "vm-1-eth0"}})),
        )
        .await;
    assert_eq!(st, 200);
    eventually("instance port ACTIVE", || {
        let api = &api;
        let id = port_id.clone();
        async move { api.port(&id).await["status"] == "ACTIVE" }
    })
    .await;
    assert_eq!(
        fake.lock().links[&None][&naming::tap(&port_id)].info.master,
        Some(naming::bridge(&net))
    );

    // A restarted agent on a converged host changes nothing and reports nothing new.
    let again = NetworkAgent::new(
        neutron_client(&tc),
        HostBackend::fake(&fake),
        opts("agent-test-host"),
    );
    let r = again.pass().await.unwrap();
    assert_eq!((r.changes, r.errors, r.status_updates), (0, 0, 0), "{r:?}");
    assert_eq!(r.active, 2);

    // Port gone: lease gone (dnsmasq reloaded, not restarted).
    let (st, _) = api
        .call(Method::DELETE, &format!("/v2.0/ports/{port_id}"), None)
        .await;
    assert_eq!(st, 204);
    eventually("lease removed", || {
        let fake = fake.clone();
        let net = net.clone();
        async move {
            fake.lock()
                .dhcp
                .get(&net)
                .is_some_and(|d| d.config.leases.is_empty() && d.starts == 1)
        }
    })
    .await;

    // Last DHCP subnet gone: the DHCP port goes, dnsmasq and the namespace with it; the
    // network (and its bridge) stays until deleted.
    let (st, v) = api
        .call(Method::DELETE, &format!("/v2.0/subnets/{subnet}"), None)
        .await;
    assert_eq!(st, 204, "{v}");
    assert!(api.dhcp_ports(&net).await.is_empty());
    eventually("DHCP torn down", || {
        let fake = fake.clone();
        let net = net.clone();
        async move {
            let s = fake.lock();
            s.dhcp.get(&net).is_none_or(|d| d.pid.is_none())
                && !s.netns.contains(&naming::dhcp_netns("", &net))
        }
    })
    .await;
    let (st, _) = api
        .call(Method::DELETE, &format!("/v2.0/networks/{net}"), None)
        .await;
    assert_eq!(st, 204);
    eventually("bridge removed", || {
        let fake = fake.clone();
        let bridge = naming::bridge(&net);
        async move { !fake.lock().links[&None].contains_key(&bridge) }
    })
    .await;

    trigger.trigger();
    task.await.unwrap();
    tc.stop().await;
}

#[tokio::test]
async fn dhcp_port_follows_enable_dhcp_and_network_delete() {
    let tc =
        TestCloud::start_with(|c| c.network.dhcp_ports = rustack::config::DhcpPortsMode::On).await;
    let api = Api {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: tc.cloud.network_url.clone(),
        token: tc.admin_token().await,
    };
    let (_, v) = api
        .call(
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "n2"}})),
        )
        .await;
    let net = v["network"]["id"].as_str().unwrap().to_string();
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/subnets",
            Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.8.0.0/24", "enable_dhcp": false}})),
        )
        .await;
    assert_eq!(st, 201);
    let s1 = v["subnet"]["id"].as_str().unwrap().to_string();
    assert!(
        api.dhcp_ports(&net).await.is_empty(),
        "no DHCP port without DHCP"
    );
    // Turning DHCP on creates it; a second DHCP subnet adds an address to it.
    let (st, _) = api
        .call(
            Method::PUT,
            &format!("/v2.0/subnets/{s1}"),
            Some(json!({"subnet": {"enable_dhcp": true}})),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(api.dhcp_ports(&net).await.len(), 1);
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/subnets",
            Some(json!({"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.8.1.0/24"}})),
        )
        .await;
    assert_eq!(st, 201);
    let s2 = v["subnet"]["id"].as_str().unwrap().to_string();
    let p = api.dhcp_ports(&net).await;
    assert_eq!(p.len(), 1);
    let subnets: Vec<&str> = p[0]["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["subnet_id"].as_str().unwrap())
        .collect();
    assert_eq!(subnets.len(), 2, "{subnets:?}");
    assert!(subnets.contains(&s1.as_str()) && subnets.contains(&s2.as_str()));
    // DHCP off on one subnet: its address is released.
    let (st, _) = api
        .call(
            Method::PUT,
            &format!("/v2.0/subnets/{s1}"),
            Some(json!({"subnet": {"enable_dhcp": false}})),
        )
        .await;
    assert_eq!(st, 200);
    let p = api.dhcp_ports(&net).await;
    assert_eq!(p[0]["fixed_ips"].as_array().unwrap().len(), 1);
    assert_eq!(p[0]["fixed_ips"][0]["subnet_id"], json!(s2));
    // Only the DHCP port left: the network deletes (and takes the port along).
    let (st, v) = api
        .call(Method::DELETE, &format!("/v2.0/networks/{net}"), None)
        .await;
    assert_eq!(st, 204, "{v}");
    let (_, v) = api
        .call(Method::GET, "/v2.0/ports?device_owner=network:dhcp", None)
        .await;
    assert_eq!(v["ports"], json!([]));

    // The status endpoint is admin only and validates its body.
    let (st, v) = api
        .call(
            Method::PUT,
            "/v2.0/rustack-agent/ports/status",
            Some(json!({"ports": [{"id": "x", "status": "BOGUS"}]})),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (_, _, member) = tc.persona(&api.token, "member-agent", "member", None).await;
    let m = Api {
        token: member,
        ..api
    };
    let (st, v) = m
        .call(
            Method::PUT,
            "/v2.0/rustack-agent/ports/status",
            Some(json!({"ports": []})),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(v["NeutronError"]["type"], "PolicyNotAuthorized");
    tc.stop().await;
}

#[tokio::test]
async fn agents_register_and_flood_vxlan_to_each_other() {
    let tc = TestCloud::start().await;
    let api = Api {
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        base: tc.cloud.network_url.clone(),
        token: tc.admin_token().await,
    };
    let fake = FakeHost::new();
    let mut o = opts("host-a");
    o.host_config.vtep = Some(rustack_hostops::dataplane::VtepConfig {
        local: "192.0.2.1".parse().unwrap(),
        dev: None,
        remote: None,
        dstport: 4789,
    });
    let agent = NetworkAgent::new(neutron_client(&tc), HostBackend::fake(&fake), o);
    let (st, v) = api
        .call(
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "vx"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let vni = v["network"]["provider:segmentation_id"].as_u64().unwrap();
    let vxlan = naming::vxlan(u32::try_from(vni).unwrap());
    agent.pass().await.unwrap();
    assert_eq!(
        NetOps::fdb_list(&fake, None, &vxlan).unwrap(),
        Vec::<std::net::IpAddr>::new(),
        "alone: no flood entries"
    );
    // The agent registered itself: `openstack network agent list` shows it.
    let (st, v) = api.call(Method::GET, "/v2.0/agents", None).await;
    assert_eq!(st, 200, "{v}");
    let a = &v["agents"][0];
    assert_eq!(
        (
            &a["host"],
            &a["agent_type"],
            &a["alive"],
            &a["configurations"]["tunneling_ip"]
        ),
        (
            &json!("host-a"),
            &json!("Linux bridge agent"),
            &json!(true),
            &json!("192.0.2.1")
        )
    );
    let (st, v) = api
        .call(
            Method::GET,
            &format!("/v2.0/agents/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((st, &v["agent"]["host"]), (200, &json!("host-a")));
    // A second host's agent registers: the next pass floods to it.
    let (st, v) = api
        .call(
            Method::PUT,
            "/v2.0/rustack-agent/agents/host-b",
            Some(json!({"agent": {"configurations": {"tunneling_ip": "192.0.2.2"}}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["agents"].as_array().unwrap().len(), 2);
    let r = agent.pass().await.unwrap();
    assert_eq!(r.errors, 0);
    assert_eq!(
        NetOps::fdb_list(&fake, None, &vxlan).unwrap(),
        vec!["192.0.2.2".parse::<std::net::IpAddr>().unwrap()]
    );
    // Deleted, host-b is forgotten and its entry goes.
    let (_, v) = api
        .call(Method::GET, "/v2.0/agents?host=host-b", None)
        .await;
    let id = v["agents"][0]["id"].as_str().unwrap().to_string();
    let (st, _) = api
        .call(Method::DELETE, &format!("/v2.0/agents/{id}"), None)
        .await;
    assert_eq!(st, 204);
    agent.pass().await.unwrap();
    assert!(NetOps::fdb_list(&fake, None, &vxlan).unwrap().is_empty());
    // Agents are admin business: a member sees none (Neutron filters the collection
    // by policy rather than refusing it) and cannot report one.
    let (_, _, member) = tc
        .persona(&api.token, "member-agents", "member", None)
        .await;
    let m = Api {
        token: member,
        ..api
    };
    let (st, v) = m.call(Method::GET, "/v2.0/agents", None).await;
    assert_eq!((st, &v["agents"]), (200, &json!([])));
    let (st, _) = m
        .call(
            Method::PUT,
            "/v2.0/rustack-agent/agents/evil",
            Some(json!({"agent": {}})),
        )
        .await;
    assert_eq!(st, 403);
    tc.stop().await;
}
