//! Authorization: admin and service may use placement, project members and readers may
//! not (except their own /usages), no token is 401.

mod common;

use common::{api, uuid};
use serde_json::json;

#[tokio::test]
async fn personas() {
    let a = api().await;
    let rp = a.provider("cn1", None).await;
    a.inventory(&rp, &[("VCPU", 4)]).await;
    let c = uuid();
    let ops: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("GET", "/resource_providers".into(), None),
        ("GET", format!("/resource_providers/{rp}"), None),
        ("GET", format!("/resource_providers/{rp}/inventories"), None),
        ("GET", format!("/resource_providers/{rp}/traits"), None),
        ("GET", format!("/resource_providers/{rp}/aggregates"), None),
        ("GET", format!("/resource_providers/{rp}/usages"), None),
        ("GET", format!("/resource_providers/{rp}/allocations"), None),
        ("GET", "/resource_classes".into(), None),
        ("GET", "/traits".into(), None),
        (
            "GET",
            "/allocation_candidates?resources=VCPU:1".into(),
            None,
        ),
        ("GET", format!("/allocations/{c}"), None),
        (
            "POST",
            "/resource_providers".into(),
            Some(json!({"name": "x"})),
        ),
        ("PUT", "/traits/CUSTOM_X".into(), None),
        ("DELETE", format!("/allocations/{c}"), None),
    ];
    for (m, p, b) in &ops {
        for tok in ["member", "reader"] {
            let r = a.req(m, p, Some(tok), Some("1.39"), b.clone()).await;
            assert_eq!(r.status, 403, "{tok} {m} {p}");
            assert!(r.body["errors"][0]["detail"]
                .as_str()
                .expect("value")
                .contains("placement:"));
        }
        let r = a.req(m, p, None, Some("1.39"), b.clone()).await;
        assert_eq!(r.status, 401, "anonymous {m} {p}");
        let r = a.req(m, p, Some("bogus"), Some("1.39"), b.clone()).await;
        assert_eq!(r.status, 401, "bad token {m} {p}");
    }
    for tok in ["admin", "service"] {
        let r = a
            .req(
                "GET",
                &format!("/resource_providers/{rp}"),
                Some(tok),
                Some("1.39"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{tok}");
        let r = a
            .req(
                "GET",
                "/allocation_candidates?resources=VCPU:1",
                Some(tok),
                Some("1.39"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{tok}");
    }
    // The service role can claim.
    let r = a.req("PUT", &format!("/allocations/{c}"), Some("service"), Some("1.39"), Some(json!({
        "allocations": {rp.clone(): {"resources": {"VCPU": 1}}}, "project_id": "p1", "user_id": "u1",
        "consumer_generation": null, "consumer_type": "INSTANCE"}))).await;
    assert_eq!(r.status, 204);
    // Project readers see their own project's usages only.
    let r = a
        .req(
            "GET",
            "/usages?project_id=p1",
            Some("reader"),
            Some("1.39"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["usages"]["INSTANCE"]["VCPU"], 1);
    let r = a
        .req(
            "GET",
            "/usages?project_id=p2",
            Some("reader"),
            Some("1.39"),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = a
        .req(
            "GET",
            "/usages?project_id=p2",
            Some("admin"),
            Some("1.39"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[test]
fn every_placement_rule_is_registered_with_upstream_defaults() {
    let rules = rustack_policy::defaults::placement();
    let find = |n: &str| {
        rules
            .iter()
            .find(|r| r.name == n)
            .map(|r| r.check_str.clone())
    };
    assert_eq!(
        find("admin_or_service_api").as_deref(),
        Some("role:admin or role:service")
    );
    assert_eq!(
        find("placement:reshaper:reshape").as_deref(),
        Some("rule:service_api")
    );
    assert_eq!(
        find("placement:usages").as_deref(),
        Some("rule:admin_or_project_reader_or_service_api")
    );
    assert_eq!(
        rules
            .iter()
            .filter(|r| r.name.starts_with("placement:"))
            .count(),
        33
    );
    rustack_policy::Enforcer::new(rules).expect("valid");
}
