use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn versions_extensions_and_auth() {
    let a = api().await;
    let (st, v) = a.call("GET", "/", None, None).await;
    assert_eq!(st, 200);
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][0]["status"], "CURRENT");
    let (st, v) = a.call("GET", "/v2.0/networks", None, None).await;
    assert_eq!(st, 401);
    assert_eq!(v["error"]["code"], 401);
    let (st, v) = a.get("/v2.0/extensions", "alice").await;
    assert_eq!(st, 200);
    let aliases: Vec<&str> = v["extensions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["alias"].as_str().expect("alias"))
        .collect();
    for needed in [
        "router",
        "external-net",
        "extraroute",
        "security-group",
        "subnet_allocation",
        "net-mtu",
        "standard-attr-tag",
    ] {
        assert!(aliases.contains(&needed), "{needed} missing");
    }
    let (st, v) = a.get("/v2.0/extensions/router", "alice").await;
    assert_eq!(st, 200);
    assert_eq!(v["extension"]["alias"], "router");
    let (st, v) = a.get("/v2.0/bananas", "alice").await;
    assert_eq!(st, 404);
    assert!(v["NeutronError"].is_object());
}

#[tokio::test]
async fn subnetpool_crud_and_allocation() {
    let a = api().await;
    let pool = a.create("subnetpools", "subnetpool", "alice", json!({"name": "sp", "prefixes": ["1.0.0.0/16", "2.0.0.0/16"], "default_prefixlen": 24})).await;
    assert_eq!(pool["ip_version"], 4);
    let pid = pool["id"].as_str().expect("id");
    let (st, v) = a
        .put(
            &format!("/v2.0/subnetpools/{pid}"),
            "alice",
            json!({"subnetpool": {"name": "sp2"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["subnetpool"]["name"], "sp2");
    let net = a.network("alice", "n").await;
    let s1 = a
        .create(
            "subnets",
            "subnet",
            "alice",
            json!({"network_id": net, "subnetpool_id": pid, "ip_version": 4}),
        )
        .await;
    assert_eq!(s1["cidr"], "1.0.0.0/24");
    let s2 = a
        .create(
            "subnets",
            "subnet",
            "alice",
            json!({"network_id": net, "subnetpool_id": pid, "ip_version": 4, "prefixlen": 26}),
        )
        .await;
    assert_eq!(s2["cidr"], "1.0.1.0/26");
    let (st, _) = a.delete(&format!("/v2.0/subnetpools/{pid}"), "alice").await;
    assert_eq!(st, 409);
    // `use_default_subnetpool` picks the pool marked `is_default` (admin-only flag).
    let (st, v) = a
        .post(
            "/v2.0/subnets",
            "alice",
            json!({"subnet": {"network_id": net, "ip_version": 4, "use_default_subnetpool": true}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let def = a
        .create("subnetpools", "subnetpool", "admin", json!({"name": "def", "prefixes": ["100.64.0.0/16"], "default_prefixlen": 28, "is_default": true, "shared": true}))
        .await;
    let s3 = a
        .create(
            "subnets",
            "subnet",
            "alice",
            json!({"network_id": net, "ip_version": 4, "use_default_subnetpool": true}),
        )
        .await;
    assert_eq!(s3["cidr"], "100.64.0.0/28");
    assert_eq!(s3["subnetpool_id"], def["id"]);
    let (st, _) = a
        .delete(
            &format!("/v2.0/subnets/{}", s3["id"].as_str().expect("id")),
            "alice",
        )
        .await;
    assert_eq!(st, 204);
    for s in [&s1, &s2] {
        let (st, _) = a
            .delete(
                &format!("/v2.0/subnets/{}", s["id"].as_str().expect("id")),
                "alice",
            )
            .await;
        assert_eq!(st, 204);
    }
    let (st, _) = a.delete(&format!("/v2.0/subnetpools/{pid}"), "alice").await;
    assert_eq!(st, 204);
    let (st, v) = a.get(&format!("/v2.0/subnetpools/{pid}"), "alice").await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "SubnetPoolNotFound");
}

#[tokio::test]
async fn quotas() {
    let a = api().await;
    let (st, _) = a
        .put("/v2.0/quotas/p1", "alice", json!({"quota": {"network": 1}}))
        .await;
    assert_eq!(st, 403);
    let (st, v) = a
        .put("/v2.0/quotas/p1", "admin", json!({"quota": {"network": 1}}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["quota"]["network"], 1);
    a.network("alice", "one").await;
    let (st, v) = a
        .post(
            "/v2.0/networks",
            "alice",
            json!({"network": {"name": "two"}}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "OverQuota");
    let (_, v) = a.get("/v2.0/quotas/p1/details", "admin").await;
    assert_eq!(
        v["quota"]["network"],
        json!({"limit": 1, "used": 1, "reserved": 0})
    );
    let (_, v) = a.get("/v2.0/quotas", "admin").await;
    assert_eq!(v["quotas"][0]["project_id"], "p1");
    let (st, _) = a.delete("/v2.0/quotas/p1", "admin").await;
    assert_eq!(st, 204);
    let (_, v) = a.get("/v2.0/quotas/p1", "admin").await;
    assert_eq!(v["quota"]["network"], 100);
}

#[tokio::test]
async fn tags_filters_sorting_pagination() {
    let a = api().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(a.network("alice", &format!("net{i}")).await);
    }
    let (st, v) = a
        .put(
            &format!("/v2.0/networks/{}/tags", ids[0]),
            "alice",
            json!({"tags": ["red", "blue"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = a
        .call(
            "PUT",
            &format!("/v2.0/networks/{}/tags/red", ids[1]),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = a
        .call(
            "GET",
            &format!("/v2.0/networks/{}/tags/red", ids[1]),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = a
        .call(
            "GET",
            &format!("/v2.0/networks/{}/tags/green", ids[1]),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (_, v) = a.get("/v2.0/networks?tags=red", "alice").await;
    assert_eq!(v["networks"].as_array().expect("list").len(), 2);
    let (_, v) = a.get("/v2.0/networks?tags=red,blue", "alice").await;
    assert_eq!(v["networks"].as_array().expect("list").len(), 1);
    let (_, v) = a.get("/v2.0/networks?not-tags-any=red", "alice").await;
    assert_eq!(v["networks"].as_array().expect("list").len(), 3);
    let (st, _) = a
        .delete(&format!("/v2.0/networks/{}/tags/red", ids[1]), "alice")
        .await;
    assert_eq!(st, 204);

    let (_, v) = a
        .get(
            "/v2.0/networks?sort_key=name&sort_dir=desc&fields=name",
            "alice",
        )
        .await;
    assert_eq!(v["networks"][0], json!({"name": "net4"}));
    let (_, v) = a
        .get("/v2.0/networks?sort_key=name&sort_dir=asc&limit=2", "alice")
        .await;
    assert_eq!(v["networks"].as_array().expect("list").len(), 2);
    let next = v["networks_links"][0]["href"]
        .as_str()
        .expect("next")
        .to_owned();
    assert!(
        next.starts_with("http://net.test:9696/v2.0/networks?"),
        "{next}"
    );
    let path = next.trim_start_matches("http://net.test:9696");
    let (_, v) = a.get(path, "alice").await;
    assert_eq!(v["networks"][0]["name"], "net2");
    let (_, v) = a.get("/v2.0/networks?name=net3", "alice").await;
    assert_eq!(v["networks"].as_array().expect("list").len(), 1);
    let (_, v) = a.get("/v2.0/networks?name=net3&name=net1", "alice").await;
    assert_eq!(v["networks"].as_array().expect("list").len(), 2);
}

#[tokio::test]
async fn public_network_bootstrap_is_idempotent() {
    let a = api().await;
    let cfg = rustack_network_api::PublicNetworkConfig::default();
    let id1 = rustack_network_server::bootstrap::ensure_public_network(&a.network, &cfg, "padmin")
        .await
        .expect("boot");
    let id2 = rustack_network_server::bootstrap::ensure_public_network(&a.network, &cfg, "padmin")
        .await
        .expect("again");
    assert_eq!(id1, id2);
    let (_, v) = a.get("/v2.0/networks?router:external=True", "alice").await;
    assert_eq!(v["networks"][0]["name"], "public");
    let (_, v) = a
        .get(&format!("/v2.0/subnets?network_id={id1}"), "alice")
        .await;
    assert_eq!(v["subnets"][0]["cidr"], "172.24.4.0/24");
}
