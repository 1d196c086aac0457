//! Server groups: shapes before and after 2.64, policies, visibility, quota.

use serde_json::{json, Value};

use crate::common::{api, api_with, fault};

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn create_show_list_delete() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let (st, v) = api
        .post(
            "/v2.1/os-server-groups",
            "alice",
            json!({"server_group": {"name": "g1", "policies": ["anti-affinity"]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let g = v["server_group"].clone();
    assert_eq!(keys(&g), ["id", "members", "metadata", "name", "policies"]);
    assert_eq!(g["policies"], json!(["anti-affinity"]));
    assert_eq!(g["members"], json!([]));
    let id = g["id"].as_str().expect("id").to_owned();

    let (st, v) = api
        .get(&format!("/v2.1/os-server-groups/{id}"), "alice")
        .await;
    assert_eq!((st, &v["server_group"]), (200, &g));
    let (st, v) = api
        .get(&format!("/v2.1/os-server-groups/{id}"), "bob")
        .await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        format!("Instance group {id} could not be found.")
    );
    let (_, v) = api.get("/v2.1/os-server-groups", "alice").await;
    assert_eq!(v["server_groups"].as_array().expect("list").len(), 1);
    let (_, v) = api.get("/v2.1/os-server-groups", "bob").await;
    assert_eq!(v["server_groups"], json!([]));
    let (_, v) = api
        .get("/v2.1/os-server-groups?all_projects=True", "admin")
        .await;
    assert_eq!(v["server_groups"].as_array().expect("list").len(), 1);
    let (_, v) = api
        .get("/v2.1/os-server-groups?all_projects=True", "bob")
        .await;
    assert_eq!(v["server_groups"], json!([]));

    // Membership as the servers code records it.
    api.compute
        .server_group_add_member(&id, "srv-1")
        .await
        .expect("member");
    let (_, v) = api
        .get(&format!("/v2.1/os-server-groups/{id}"), "alice")
        .await;
    assert_eq!(v["server_group"]["members"], json!(["srv-1"]));
    let of = api.compute.server_group_of("srv-1").await.expect("of");
    assert_eq!(of.map(|g| g.group.policy), Some("anti-affinity".into()));

    let (st, _) = api
        .delete(&format!("/v2.1/os-server-groups/{id}"), "alice-reader")
        .await;
    assert_eq!(st, 403);
    let (st, _) = api
        .delete(&format!("/v2.1/os-server-groups/{id}"), "bob")
        .await;
    assert_eq!(st, 404);
    let (st, _) = api
        .delete(&format!("/v2.1/os-server-groups/{id}"), "alice")
        .await;
    assert_eq!(st, 204);
    let (st, _) = api
        .get(&format!("/v2.1/os-server-groups/{id}"), "alice")
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn validation_and_microversions() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    for bad in [
        json!({"server_group": {"name": "g", "policies": ["bogus"]}}),
        json!({"server_group": {"name": "g", "policies": ["affinity", "anti-affinity"]}}),
        json!({"server_group": {"name": "g", "policies": []}}),
        json!({"server_group": {"name": "", "policies": ["affinity"]}}),
        json!({"server_group": {"name": "g"}}),
        // Soft policies need 2.15.
        json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}}),
        json!({"server_group": {"name": "g", "policy": "affinity"}}),
    ] {
        let (st, v) = api
            .post("/v2.1/os-server-groups", "alice", bad.clone())
            .await;
        assert_eq!(st, 400, "{bad}: {v}");
    }
    let (st, v) = api
        .call_v(
            "2.15",
            "POST",
            "/v2.1/os-server-groups",
            "alice",
            Some(json!({"server_group": {"name": "g", "policies": ["soft-anti-affinity"]}})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["server_group"]["project_id"], "p1");
    assert_eq!(v["server_group"]["user_id"], "alice");
    let (st, v) = api
        .call_v(
            "2.64",
            "POST",
            "/v2.1/os-server-groups",
            "alice",
            Some(
                json!({"server_group": {"name": "g", "policy": "anti-affinity",
                "rules": {"max_server_per_host": 2}}}),
            ),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let g = &v["server_group"];
    assert_eq!(
        keys(g),
        [
            "id",
            "members",
            "name",
            "policy",
            "project_id",
            "rules",
            "user_id"
        ]
    );
    assert_eq!(g["rules"], json!({"max_server_per_host": 2}));
    let (st, v) = api
        .call_v(
            "2.64",
            "POST",
            "/v2.1/os-server-groups",
            "alice",
            Some(json!({"server_group": {"name": "g", "policy": "affinity",
                "rules": {"max_server_per_host": 2}}})),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        fault(&v, "badRequest"),
        "Only anti-affinity policy supports rules."
    );
}

#[tokio::test]
async fn server_group_quota() {
    let mut cfg = rustack_compute_server::ComputeConfig::default();
    cfg.quota.server_groups = 1;
    let api = api_with(cfg).await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let body = json!({"server_group": {"name": "g", "policies": ["affinity"]}});
    let (st, _) = api
        .post("/v2.1/os-server-groups", "alice", body.clone())
        .await;
    assert_eq!(st, 200);
    let (st, v) = api
        .post("/v2.1/os-server-groups", "alice", body.clone())
        .await;
    assert_eq!(st, 403);
    assert_eq!(
        fault(&v, "forbidden"),
        "Quota exceeded, too many server groups."
    );
    let (st, _) = api.post("/v2.1/os-server-groups", "bob", body).await;
    assert_eq!(st, 200);
}
