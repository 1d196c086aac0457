//! `[bootstrap] demo`: the first start of `rustack up` creates the public network,
//! demo-net/demo-subnet/demo-router, ping and SSH in the admin project's default
//! security group, and registers `cirros`; a restart creates nothing again; `demo =
//! false` creates none of it.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use rustack::cloud::{self, CloudOptions};
use rustack::config::{DataPlaneMode, RustackConfig};
use serde_json::Value;

async fn start(dir: &std::path::Path, config: RustackConfig) -> cloud::RunningCloud {
    cloud::start(CloudOptions {
        data_dir: dir.join("data"),
        bind: IpAddr::from([127, 0, 0, 1]),
        identity_port: Some(0),
        image_port: Some(0),
        network_port: Some(0),
        placement_port: Some(0),
        compute_port: Some(0),
        block_storage_port: Some(0),
        key_manager_port: Some(0),
        config,
    })
    .await
    .unwrap()
}

fn config(dir: &std::path::Path, demo: bool) -> RustackConfig {
    let mut config = RustackConfig::default();
    config.identity.bcrypt_cost = 4;
    config.network.data_plane = DataPlaneMode::Off;
    config.compute.driver = "simulated".into();
    config.bootstrap.demo = demo;
    let img = dir.join("guest.qcow2");
    std::fs::write(&img, vec![7u8; 2048]).unwrap();
    config.bootstrap.demo_image = Some(img);
    config
}

/// GETs `url` as the admin of the admin project; returns the `key` list.
async fn list(c: &cloud::RunningCloud, url: String, key: &str) -> Vec<Value> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": c.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r = http
        .post(format!("{}/v3/auth/tokens", c.identity_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let tok = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let r: Value = http
        .get(url)
        .header("x-auth-token", tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r[key].as_array().unwrap().clone()
}

fn named<'a>(items: &'a [Value], name: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["name"] == name).collect()
}

#[tokio::test]
async fn demo_resources_are_created_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path(), config(dir.path(), true)).await;
    let demo = c.demo.clone().expect("first start creates the demo");
    let public = c
        .public_network_id
        .clone()
        .expect("the demo implies public");
    let n = &c.network_url;

    let nets = list(&c, format!("{n}/v2.0/networks"), "networks").await;
    let pubs = named(&nets, "public");
    assert_eq!(pubs.len(), 1);
    assert_eq!(pubs[0]["router:external"], true);
    let demo_nets = named(&nets, "demo-net");
    assert_eq!(demo_nets.len(), 1);
    assert_eq!(demo_nets[0]["id"], demo.network_id.as_str());
    let admin_project = demo_nets[0]["project_id"].as_str().unwrap().to_string();

    let subnets = list(&c, format!("{n}/v2.0/subnets"), "subnets").await;
    let s = named(&subnets, "demo-subnet");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["cidr"], "10.0.0.0/24");
    assert_eq!(s[0]["gateway_ip"], "10.0.0.1");
    assert_eq!(s[0]["dns_nameservers"], serde_json::json!(["8.8.8.8"]));
    assert_eq!(named(&subnets, "public-subnet")[0]["cidr"], "172.24.4.0/24");

    let routers = list(&c, format!("{n}/v2.0/routers"), "routers").await;
    let r = named(&routers, "demo-router");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["external_gateway_info"]["network_id"], public.as_str());
    let ports = list(
        &c,
        format!("{n}/v2.0/ports?device_id={}", demo.router_id),
        "ports",
    )
    .await;
    assert!(
        ports
            .iter()
            .any(|p| p["device_owner"] == "network:router_interface"
                && p["fixed_ips"][0]["ip_address"] == "10.0.0.1"),
        "{ports:?}"
    );

    let groups = list(&c, format!("{n}/v2.0/security-groups"), "security_groups").await;
    let sg = groups
        .iter()
        .find(|g| g["name"] == "default" && g["project_id"] == admin_project.as_str())
        .unwrap();
    assert_eq!(sg["id"], demo.security_group_id.as_str());
    let rules = sg["security_group_rules"].as_array().unwrap();
    let ingress = |proto: &str| {
        rules
            .iter()
            .filter(|r| {
                r["direction"] == "ingress" && r["ethertype"] == "IPv4" && r["protocol"] == proto
            })
            .count()
    };
    assert_eq!(ingress("icmp"), 1, "{rules:?}");
    assert_eq!(ingress("tcp"), 1, "{rules:?}");
    assert!(rules
        .iter()
        .any(|r| r["protocol"] == "tcp" && r["port_range_min"] == 22 && r["port_range_max"] == 22));

    let images = list(&c, format!("{}/v2/images", c.image_url), "images").await;
    let cirros = named(&images, "cirros");
    assert_eq!(cirros.len(), 1);
    assert_eq!(cirros[0]["status"], "active");
    assert_eq!(cirros[0]["visibility"], "public");
    assert_eq!(cirros[0]["disk_format"], "qcow2");
    c.shutdown().await;

    // A restart creates nothing again (the data dir's marker says it was done).
    let c = start(dir.path(), config(dir.path(), true)).await;
    assert!(c.demo.is_none());
    assert_eq!(c.public_network_id.as_deref(), Some(public.as_str()));
    let nets = list(
        &c,
        format!("{n}/v2.0/networks", n = c.network_url),
        "networks",
    )
    .await;
    assert_eq!(named(&nets, "demo-net").len(), 1);
    assert_eq!(named(&nets, "public").len(), 1);
    let routers = list(&c, format!("{}/v2.0/routers", c.network_url), "routers").await;
    assert_eq!(named(&routers, "demo-router").len(), 1);
    let images = list(&c, format!("{}/v2/images", c.image_url), "images").await;
    assert_eq!(named(&images, "cirros").len(), 1);
    c.shutdown().await;
}

#[tokio::test]
async fn demo_off_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path(), config(dir.path(), false)).await;
    assert!(c.demo.is_none());
    assert!(c.public_network_id.is_none());
    let nets = list(&c, format!("{}/v2.0/networks", c.network_url), "networks").await;
    assert!(nets.is_empty(), "{nets:?}");
    let routers = list(&c, format!("{}/v2.0/routers", c.network_url), "routers").await;
    assert!(routers.is_empty(), "{routers:?}");
    let images = list(&c, format!("{}/v2/images", c.image_url), "images").await;
    assert!(images.is_empty(), "{images:?}");
    c.shutdown().await;
}

#[tokio::test]
async fn demo_without_an_image_creates_nothing_until_it_has_one() {
    // No `cirros` to register: creating demo-net anyway would make Kolla's init-runonce
    // (which then runs in full) fail on a second, ambiguous demo-net.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), true);
    cfg.bootstrap.demo_image = Some(dir.path().join("missing.qcow2"));
    let c = start(dir.path(), cfg.clone()).await;
    assert!(c.demo.is_none());
    assert!(c.public_network_id.is_none());
    let nets = list(&c, format!("{}/v2.0/networks", c.network_url), "networks").await;
    assert!(nets.is_empty(), "{nets:?}");
    c.shutdown().await;

    // With the image on the next start, the demo is set up then.
    let c = start(dir.path(), config(dir.path(), true)).await;
    assert!(c.demo.is_some());
    let id = c.public_network_id.clone().unwrap();
    c.shutdown().await;

    // Later starts without the image keep the public network (the marker).
    let c = start(dir.path(), cfg).await;
    assert!(c.demo.is_none());
    assert_eq!(c.public_network_id, Some(id));
    c.shutdown().await;
}
