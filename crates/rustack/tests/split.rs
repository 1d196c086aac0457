//! Split deployment: identity, image, network, placement and compute each started on their own
//! (`rustack serve`), the others validating tokens over the Identity API as their
//! Kolla service users.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use rustack::cloud::{serve, ServeOptions, ServiceKind};
use rustack::config::RustackConfig;
use serde_json::{json, Value};

fn config() -> RustackConfig {
    let mut c = RustackConfig::default();
    c.identity.bcrypt_cost = 4;
    c
}

#[tokio::test]
async fn services_run_on_their_own() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let local: IpAddr = [127, 0, 0, 1].into();
    let identity = serve(ServeOptions {
        service: ServiceKind::Identity,
        data_dir: a.path().to_path_buf(),
        bind: local,
        port: Some(0),
        identity_url: None,
        config: config(),
    })
    .await
    .unwrap();
    // Another "host": it gets the identity host's passwords.yml, as Kolla distributes it.
    std::fs::copy(
        a.path().join("passwords.yml"),
        b.path().join("passwords.yml"),
    )
    .unwrap();
    let opts = |service| ServeOptions {
        service,
        data_dir: b.path().to_path_buf(),
        bind: local,
        port: Some(0),
        identity_url: Some(identity.url.clone()),
        config: config(),
    };
    let image = serve(opts(ServiceKind::Image)).await.unwrap();
    let network = serve(opts(ServiceKind::Network)).await.unwrap();
    let placement = serve(opts(ServiceKind::Placement)).await.unwrap();
    // Without --identity-url the services refuse to start.
    let mut no_url = opts(ServiceKind::Image);
    no_url.identity_url = None;
    no_url.data_dir = tempfile::tempdir().unwrap().path().to_path_buf();
    assert!(serve(no_url).await.is_err());

    let pw = std::fs::read_to_string(a.path().join("passwords.yml")).unwrap();
    let pw = pw
        .lines()
        .find_map(|l| l.strip_prefix("keystone_admin_password: "))
        .unwrap()
        .to_string();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .post(format!("{}/v3/auth/tokens", identity.url))
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": pw}}},
                                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_string();

    for (url, key) in [
        (format!("{}/v2/images", image.url), "images"),
        (format!("{}/v2.0/networks", network.url), "networks"),
        (
            format!("{}/resource_providers", placement.url),
            "resource_providers",
        ),
    ] {
        let r = http
            .get(&url)
            .header("X-Auth-Token", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let v: Value = r.json().await.unwrap();
        assert!(v[key].is_array(), "{v}");
        let r = http
            .get(&url)
            .header("X-Auth-Token", "bogus")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{url}");
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{url}");
    }
    // The service users exist with the service role only.
    let r = http
        .get(format!("{}/v3/users?name=glance", identity.url))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["users"].as_array().unwrap().len(), 1);

    // The placement and nova service users exist too.
    for user in ["placement", "nova"] {
        let r = http
            .get(format!("{}/v3/users?name={user}", identity.url))
            .header("X-Auth-Token", &token)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["users"].as_array().unwrap().len(), 1, "{user}");
    }

    // Compute finds the others in the catalog (registered as an operator would).
    for (kind, url) in [
        ("image", image.url.clone()),
        ("network", network.url.clone()),
        ("placement", placement.url.clone()),
    ] {
        let r = http
            .post(format!("{}/v3/services", identity.url))
            .header("X-Auth-Token", &token)
            .json(&json!({"service": {"type": kind, "name": kind}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        let r = http
            .post(format!("{}/v3/endpoints", identity.url))
            .header("X-Auth-Token", &token)
            .json(
                &json!({"endpoint": {"service_id": v["service"]["id"], "interface": "public",
                "url": url, "region_id": "RegionOne"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let mut compute_cfg = config();
    compute_cfg.compute.driver = "simulated".into();
    let compute = serve(ServeOptions {
        config: compute_cfg,
        ..opts(ServiceKind::Compute)
    })
    .await
    .unwrap();
    let r = http
        .get(format!("{}/v2.1/flavors/42", compute.url))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/v2.1/flavors", compute.url))
        .header("X-Auth-Token", "bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Its host reports to Placement as the nova user.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = http
            .get(format!("{}/resource_providers", placement.url))
            .header("X-Auth-Token", &token)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["resource_providers"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no provider: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    compute.shutdown().await;
    image.shutdown().await;
    network.shutdown().await;
    placement.shutdown().await;
    identity.shutdown().await;
}
