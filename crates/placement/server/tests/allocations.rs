//! Allocations: consumer generations, capacity, multi-consumer POST, usages, reshaper.

mod common;

use common::{api, code, uuid};
use serde_json::json;

#[tokio::test]
async fn consumer_generations_and_capacity() {
    let a = api().await;
    let rp = a.provider("cn1", None).await;
    a.inventory(&rp, &[("VCPU", 4), ("MEMORY_MB", 1024)]).await;
    let c = uuid();
    // New consumer: generation must be null.
    let body = |gen: serde_json::Value, vcpu: i64| {
        json!({"allocations": {rp.clone(): {"resources": {"VCPU": vcpu, "MEMORY_MB": 256}}},
               "project_id": "p1", "user_id": "u1", "consumer_generation": gen, "consumer_type": "INSTANCE"})
    };
    let r = a
        .call("PUT", &format!("/allocations/{c}"), Some(body(json!(3), 1)))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.concurrent_update");
    assert!(r.body["errors"][0]["detail"]
        .as_str()
        .expect("value")
        .contains("expected null but got 3"));
    assert_eq!(
        a.call(
            "PUT",
            &format!("/allocations/{c}"),
            Some(body(json!(null), 1))
        )
        .await
        .status,
        204
    );
    let r = a.call("GET", &format!("/allocations/{c}"), None).await;
    assert_eq!(r.body["consumer_generation"], 0);
    assert_eq!(r.body["project_id"], "p1");
    assert_eq!(r.body["consumer_type"], "INSTANCE");
    assert_eq!(
        r.body["allocations"][&rp]["resources"],
        json!({"VCPU": 1, "MEMORY_MB": 256})
    );
    assert_eq!(r.body["allocations"][&rp]["generation"], 2);
    // Stale generation, then the right one.
    assert_eq!(
        a.call(
            "PUT",
            &format!("/allocations/{c}"),
            Some(body(json!(null), 2))
        )
        .await
        .status,
        409
    );
    assert_eq!(
        a.call("PUT", &format!("/allocations/{c}"), Some(body(json!(0), 2)))
            .await
            .status,
        204
    );
    // Over capacity (4 VCPU, 2 used by c).
    let r = a.allocate(&uuid(), &rp, json!({"VCPU": 3})).await;
    assert_eq!(r.status, 409);
    assert!(r.body["errors"][0]["detail"]
        .as_str()
        .expect("value")
        .contains("exceed the capacity"));
    assert_eq!(code(&r), "placement.undefined_code");
    // Unknown class, unknown provider, class without inventory.
    assert_eq!(
        a.allocate(&uuid(), &rp, json!({"CUSTOM_NOPE": 1}))
            .await
            .status,
        400
    );
    assert_eq!(
        a.allocate(&uuid(), &uuid(), json!({"VCPU": 1}))
            .await
            .status,
        400
    );
    assert_eq!(
        a.allocate(&uuid(), &rp, json!({"DISK_GB": 1})).await.status,
        409
    );
    assert_eq!(
        a.allocate(&uuid(), &rp, json!({"VCPU": 0})).await.status,
        400
    );
    // Missing consumer_generation at 1.28+ is a schema error.
    let r = a.call("PUT", &format!("/allocations/{}", uuid()), Some(json!({"allocations": {}, "project_id": "p", "user_id": "u", "consumer_type": "INSTANCE"}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        a.call("PUT", "/allocations/not-a-uuid", Some(body(json!(null), 1)))
            .await
            .status,
        400
    );
    // Emptying allocations deletes the consumer: the generation starts over.
    let r = a.call("PUT", &format!("/allocations/{c}"), Some(json!({"allocations": {}, "project_id": "p1", "user_id": "u1", "consumer_generation": 1, "consumer_type": "INSTANCE"}))).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a.call("GET", &format!("/allocations/{c}"), None).await;
    assert_eq!(r.body, json!({"allocations": {}}));
    assert_eq!(
        a.call("DELETE", &format!("/allocations/{c}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn multi_consumer_post_is_atomic_and_usages_group_by_type() {
    let a = api().await;
    let rp = a.provider("cn1", None).await;
    a.inventory(&rp, &[("VCPU", 4)]).await;
    let (c1, c2) = (uuid(), uuid());
    let item = |n: i64, ct: &str, project: &str| json!({"allocations": {rp.clone(): {"resources": {"VCPU": n}}}, "project_id": project, "user_id": "u1", "consumer_generation": null, "consumer_type": ct});
    // 3 + 2 > 4: neither is written.
    let r = a.call("POST", "/allocations", Some(json!({c1.clone(): item(3, "INSTANCE", "p1"), c2.clone(): item(2, "MIGRATION", "p1")}))).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        a.call("GET", &format!("/allocations/{c1}"), None)
            .await
            .body,
        json!({"allocations": {}})
    );
    let r = a.call("POST", "/allocations", Some(json!({c1.clone(): item(2, "INSTANCE", "p1"), c2.clone(): item(1, "MIGRATION", "p1")}))).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a.call("GET", "/usages?project_id=p1", None).await;
    assert_eq!(
        r.body["usages"],
        json!({"INSTANCE": {"consumer_count": 1, "VCPU": 2}, "MIGRATION": {"consumer_count": 1, "VCPU": 1}})
    );
    let r = a
        .call("GET", "/usages?project_id=p1&consumer_type=all", None)
        .await;
    assert_eq!(
        r.body["usages"],
        json!({"all": {"consumer_count": 2, "VCPU": 3}})
    );
    let r = a
        .req(
            "GET",
            "/usages?project_id=p1&user_id=u1",
            Some("admin"),
            Some("1.9"),
            None,
        )
        .await;
    assert_eq!(r.body["usages"], json!({"VCPU": 3}));
    let r = a.call("GET", "/usages", None).await;
    assert_eq!(r.status, 400);
    let r = a
        .call(
            "GET",
            &format!("/resource_providers/{rp}/allocations"),
            None,
        )
        .await;
    assert_eq!(r.body["allocations"][&c1]["resources"]["VCPU"], 2);
    assert_eq!(
        a.call("DELETE", &format!("/allocations/{c1}"), None)
            .await
            .status,
        204
    );
    let r = a
        .call("GET", &format!("/resource_providers/{rp}/usages"), None)
        .await;
    assert_eq!(r.body["usages"]["VCPU"], 1);
}

#[tokio::test]
async fn legacy_list_format_and_reshaper() {
    let a = api().await;
    let rp = a.provider("cn1", None).await;
    a.inventory(&rp, &[("VCPU", 8)]).await;
    let c = uuid();
    // 1.8 list format.
    let r = a
        .req(
            "PUT",
            &format!("/allocations/{c}"),
            Some("admin"),
            Some("1.8"),
            Some(json!({
        "allocations": [{"resource_provider": {"uuid": rp}, "resources": {"VCPU": 2}}],
        "project_id": "p1", "user_id": "u1"})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a
        .req(
            "GET",
            &format!("/allocations/{c}"),
            Some("admin"),
            Some("1.8"),
            None,
        )
        .await;
    assert!(r.body.get("project_id").is_none());
    assert_eq!(r.body["allocations"][&rp]["resources"]["VCPU"], 2);

    // Reshape: move VCPU from the root to a new child, with the allocation.
    let child = a.provider("cn1-numa0", Some(&rp)).await;
    let root_gen = a
        .call("GET", &format!("/resource_providers/{rp}"), None)
        .await
        .body["generation"]
        .clone();
    let body = json!({
        "inventories": {
            rp.clone(): {"resource_provider_generation": root_gen, "inventories": {}},
            child.clone(): {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}},
        },
        "allocations": {c.clone(): {"allocations": {child.clone(): {"resources": {"VCPU": 2}}}, "project_id": "p1", "user_id": "u1", "consumer_generation": 0, "consumer_type": "INSTANCE"}},
    });
    // Only the service role may reshape.
    let r = a.call("POST", "/reshaper", Some(body.clone())).await;
    assert_eq!(r.status, 403);
    let r = a
        .req(
            "POST",
            "/reshaper",
            Some("service"),
            Some("1.39"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a.call("GET", &format!("/allocations/{c}"), None).await;
    assert_eq!(r.body["allocations"][&child]["resources"]["VCPU"], 2);
    assert!(r.body["allocations"].get(&rp).is_none());
    assert_eq!(
        a.call(
            "GET",
            &format!("/resource_providers/{rp}/inventories"),
            None
        )
        .await
        .body["inventories"],
        json!({})
    );
}
