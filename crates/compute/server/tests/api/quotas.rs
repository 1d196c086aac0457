//! Quota sets, quota class sets and limits.

use serde_json::{json, Value};

use crate::common::{api, fault};

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn quota_set_show_defaults_update_delete() {
    let api = api().await;
    let (st, v) = api.get("/v2.1/os-quota-sets/p1", "alice").await;
    assert_eq!(st, 200, "{v}");
    let q = &v["quota_set"];
    assert_eq!(
        keys(q),
        [
            "cores",
            "fixed_ips",
            "floating_ips",
            "id",
            "injected_file_content_bytes",
            "injected_file_path_bytes",
            "injected_files",
            "instances",
            "key_pairs",
            "metadata_items",
            "ram",
            "security_group_rules",
            "security_groups",
            "server_group_members",
            "server_groups"
        ]
    );
    assert_eq!(q["id"], "p1");
    assert_eq!(q["instances"], 10);
    assert_eq!(q["cores"], 20);
    assert_eq!(q["ram"], 51200);
    assert_eq!(q["floating_ips"], -1);

    // Another project's quotas: reader-or-admin of that project only.
    let (st, v) = api.get("/v2.1/os-quota-sets/p2", "alice").await;
    assert_eq!(st, 403, "{v}");
    let (st, _) = api.get("/v2.1/os-quota-sets/p1/defaults", "bob").await;
    assert_eq!(st, 200);

    // Update: admin only; response without id.
    let body = json!({"quota_set": {"instances": 5, "cores": "7"}});
    let (st, _) = api
        .put("/v2.1/os-quota-sets/p1", "alice", body.clone())
        .await;
    assert_eq!(st, 403);
    let (st, v) = api.put("/v2.1/os-quota-sets/p1", "admin", body).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["quota_set"].get("id").is_none());
    assert_eq!(v["quota_set"]["instances"], 5);
    assert_eq!(v["quota_set"]["cores"], 7);
    let (_, v) = api.get("/v2.1/os-quota-sets/p1", "alice").await;
    assert_eq!(v["quota_set"]["instances"], 5);
    let (_, v) = api.get("/v2.1/os-quota-sets/p1/defaults", "alice").await;
    assert_eq!(v["quota_set"]["instances"], 10);

    // Per-user quotas may not exceed the project's.
    let (st, v) = api
        .put(
            "/v2.1/os-quota-sets/p1?user_id=alice",
            "admin",
            json!({"quota_set": {"instances": 6}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(
        fault(&v, "badRequest"),
        "Quota limit 6 for instances must be less than or equal to 5."
    );
    let (st, _) = api
        .put(
            "/v2.1/os-quota-sets/p1?user_id=alice",
            "admin",
            json!({"quota_set": {"instances": 6, "force": true}}),
        )
        .await;
    assert_eq!(st, 200);
    let (_, v) = api
        .get("/v2.1/os-quota-sets/p1?user_id=alice", "alice")
        .await;
    assert_eq!(v["quota_set"]["instances"], 6);

    for bad in [
        json!({"quota_set": {"bogus": 1}}),
        json!({"quota_set": {"instances": -2}}),
        json!({"quota_set": {"instances": "x"}}),
        json!({"quotas": {}}),
    ] {
        let (st, _) = api
            .put("/v2.1/os-quota-sets/p1", "admin", bad.clone())
            .await;
        assert_eq!(st, 400, "{bad}");
    }

    let (st, _) = api.delete("/v2.1/os-quota-sets/p1", "alice").await;
    assert_eq!(st, 403);
    let (st, _) = api.delete("/v2.1/os-quota-sets/p1", "admin").await;
    assert_eq!(st, 202);
    let (_, v) = api.get("/v2.1/os-quota-sets/p1", "alice").await;
    assert_eq!(v["quota_set"]["instances"], 10);
}

#[tokio::test]
async fn quota_detail_counts_usage() {
    let api = api().await;
    let (st, _) = api
        .post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "k"}}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = api
        .get("/v2.1/os-quota-sets/p1/detail?user_id=alice", "alice")
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["quota_set"]["key_pairs"],
        json!({"limit": 100, "in_use": 1, "reserved": 0})
    );
    // Lowering below usage is refused unless forced.
    let (st, v) = api
        .put(
            "/v2.1/os-quota-sets/p1?user_id=alice",
            "admin",
            json!({"quota_set": {"key_pairs": 0}}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        fault(&v, "badRequest"),
        "Quota limit 0 for key_pairs must be greater than or equal to already used and reserved 1."
    );
}

#[tokio::test]
async fn quota_class_sets() {
    let api = api().await;
    let (st, _) = api.get("/v2.1/os-quota-class-sets/default", "alice").await;
    assert_eq!(st, 403);
    let (st, v) = api.get("/v2.1/os-quota-class-sets/default", "admin").await;
    assert_eq!(st, 200);
    let q = &v["quota_class_set"];
    assert_eq!(q["id"], "default");
    // 2.1 shape: no server group keys.
    assert!(q.get("server_groups").is_none(), "{q}");
    assert_eq!(q["instances"], 10);
    let (st, v) = api
        .put(
            "/v2.1/os-quota-class-sets/default",
            "admin",
            json!({"quota_class_set": {"instances": 20}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["quota_class_set"]["instances"], 20);
    assert!(v["quota_class_set"].get("id").is_none());
    // The class default applies to projects without their own limit.
    let (_, v) = api.get("/v2.1/os-quota-sets/p1", "alice").await;
    assert_eq!(v["quota_set"]["instances"], 20);
    let (_, v) = api.get("/v2.1/os-quota-sets/p1/defaults", "alice").await;
    assert_eq!(v["quota_set"]["instances"], 20);
}

#[tokio::test]
async fn limits() {
    let api = api().await;
    api.post(
        "/v2.1/os-server-groups",
        "alice",
        json!({"server_group": {"name": "g", "policies": ["affinity"]}}),
    )
    .await;
    let (st, v) = api.get("/v2.1/limits", "alice").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["limits"]["rate"], json!([]));
    let a = &v["limits"]["absolute"];
    assert_eq!(
        keys(a),
        [
            "maxImageMeta",
            "maxPersonality",
            "maxPersonalitySize",
            "maxSecurityGroupRules",
            "maxSecurityGroups",
            "maxServerGroupMembers",
            "maxServerGroups",
            "maxServerMeta",
            "maxTotalCores",
            "maxTotalFloatingIps",
            "maxTotalInstances",
            "maxTotalKeypairs",
            "maxTotalRAMSize",
            "totalCoresUsed",
            "totalFloatingIpsUsed",
            "totalInstancesUsed",
            "totalRAMUsed",
            "totalSecurityGroupsUsed",
            "totalServerGroupsUsed"
        ]
    );
    assert_eq!(a["maxTotalInstances"], 10);
    assert_eq!(a["totalServerGroupsUsed"], 1);
    assert_eq!(a["totalInstancesUsed"], 0);
    let (st, _) = api.get("/v2.1/limits?tenant_id=p2", "alice").await;
    assert_eq!(st, 403);
    let (st, v) = api.get("/v2.1/limits?tenant_id=p1", "admin").await;
    assert_eq!(st, 200);
    assert_eq!(v["limits"]["absolute"]["totalServerGroupsUsed"], 1);
}
