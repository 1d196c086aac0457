//! GET /allocation_candidates.

mod common;

use common::{api, uuid};
use serde_json::json;

#[tokio::test]
async fn candidates_with_traits_limit_nested_and_granular() {
    let a = api().await;
    let cn1 = a.provider("cn1", None).await;
    let cn2 = a.provider("cn2", None).await;
    a.inventory(&cn1, &[("VCPU", 8), ("MEMORY_MB", 2048), ("DISK_GB", 100)])
        .await;
    a.inventory(&cn2, &[("VCPU", 2), ("MEMORY_MB", 2048), ("DISK_GB", 100)])
        .await;
    let r = a
        .call(
            "PUT",
            &format!("/resource_providers/{cn1}/traits"),
            Some(json!({"resource_provider_generation": 1, "traits": ["HW_CPU_X86_AVX2"]})),
        )
        .await;
    assert_eq!(r.status, 200);

    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        2
    );
    let s = &r.body["provider_summaries"][&cn1];
    assert_eq!(s["resources"]["VCPU"], json!({"capacity": 8, "used": 0}));
    assert_eq!(
        s["resources"]["DISK_GB"]["capacity"], 100,
        "1.27: all classes"
    );
    assert_eq!(s["traits"], json!(["HW_CPU_X86_AVX2"]));
    assert_eq!(s["root_provider_uuid"], cn1.as_str());
    assert_eq!(
        r.body["allocation_requests"][0]["mappings"][""]
            .as_array()
            .expect("value")
            .len(),
        1
    );

    // Too big for cn2.
    let r = a
        .call("GET", "/allocation_candidates?resources=VCPU:4", None)
        .await;
    let reqs = r.body["allocation_requests"].as_array().expect("value");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["allocations"][&cn1]["resources"]["VCPU"], 4);
    // Required / forbidden traits, limit.
    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&required=HW_CPU_X86_AVX2",
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&required=!HW_CPU_X86_AVX2",
            None,
        )
        .await;
    assert!(r.body["allocation_requests"][0]["allocations"]
        .get(&cn2)
        .is_some());
    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&required=in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE",
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&limit=1",
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    assert_eq!(
        r.body["provider_summaries"]
            .as_object()
            .expect("value")
            .len(),
        1
    );
    // Usage reduces capacity.
    assert_eq!(
        a.allocate(&uuid(), &cn1, json!({"VCPU": 6})).await.status,
        204
    );
    let r = a
        .call("GET", "/allocation_candidates?resources=VCPU:4", None)
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        0
    );
    // member_of.
    let agg = uuid();
    let r = a
        .call(
            "PUT",
            &format!("/resource_providers/{cn2}/aggregates"),
            Some(json!({"resource_provider_generation": 1, "aggregates": [agg]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = a
        .call(
            "GET",
            &format!("/allocation_candidates?resources=VCPU:1&member_of={agg}"),
            None,
        )
        .await;
    let reqs = r.body["allocation_requests"].as_array().expect("value");
    assert_eq!(reqs.len(), 1);
    assert!(reqs[0]["allocations"].get(&cn2).is_some());
    // 1.12 shape and 1.10 list shape.
    let r = a
        .req(
            "GET",
            "/allocation_candidates?resources=VCPU:1",
            Some("admin"),
            Some("1.10"),
            None,
        )
        .await;
    assert!(r.body["allocation_requests"][0]["allocations"].is_array());
    assert!(r.body["provider_summaries"][&cn2].get("traits").is_none());
    // Errors.
    assert_eq!(
        a.call("GET", "/allocation_candidates", None).await.status,
        400
    );
    assert_eq!(
        a.call("GET", "/allocation_candidates?resources=VCPU", None)
            .await
            .status,
        400
    );
    assert_eq!(
        a.call("GET", "/allocation_candidates?resources=CUSTOM_X:1", None)
            .await
            .status,
        400
    );
    assert_eq!(
        a.call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&required=CUSTOM_NOPE",
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        a.call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&limit=0",
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        a.req(
            "GET",
            "/allocation_candidates?resources=VCPU:1",
            Some("admin"),
            Some("1.9"),
            None
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn nested_granular_isolate_same_subtree_root_required() {
    let a = api().await;
    let cn = a.provider("cn", None).await;
    let numa0 = a.provider("cn-numa0", Some(&cn)).await;
    let numa1 = a.provider("cn-numa1", Some(&cn)).await;
    let pf0 = a.provider("cn-numa0-pf", Some(&numa0)).await;
    a.inventory(&cn, &[("DISK_GB", 100)]).await;
    a.inventory(&numa0, &[("VCPU", 4), ("MEMORY_MB", 1024)])
        .await;
    a.inventory(&numa1, &[("VCPU", 4), ("MEMORY_MB", 1024)])
        .await;
    a.inventory(&pf0, &[("SRIOV_NET_VF", 8)]).await;
    let gen = a
        .call("GET", &format!("/resource_providers/{cn}"), None)
        .await
        .body["generation"]
        .clone();
    a.call(
        "PUT",
        &format!("/resource_providers/{cn}/traits"),
        Some(json!({"resource_provider_generation": gen, "traits": ["COMPUTE_STATUS_DISABLED"]})),
    )
    .await;

    // Unsuffixed spreads VCPU (numa) and DISK (root).
    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:2,DISK_GB:10",
            None,
        )
        .await;
    let reqs = r.body["allocation_requests"].as_array().expect("value");
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(
        r.body["provider_summaries"]
            .as_object()
            .expect("value")
            .len(),
        4,
        "whole tree summarised"
    );
    // Before 1.29 nested providers are not used.
    let r = a
        .req(
            "GET",
            "/allocation_candidates?resources=VCPU:2,DISK_GB:10",
            Some("admin"),
            Some("1.28"),
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        0
    );
    // Granular with isolate: two NUMA nodes, one each.
    let q = "/allocation_candidates?resources1=VCPU:2&resources2=VCPU:2&group_policy=isolate";
    let r = a.call("GET", q, None).await;
    let reqs = r.body["allocation_requests"].as_array().expect("value");
    assert_eq!(reqs.len(), 2);
    for req in reqs {
        assert_ne!(req["mappings"]["1"], req["mappings"]["2"]);
    }
    // group_policy is required with two suffixed groups.
    assert_eq!(
        a.call(
            "GET",
            "/allocation_candidates?resources1=VCPU:2&resources2=VCPU:2",
            None
        )
        .await
        .status,
        400
    );
    // same_subtree: the VF's PF and the VCPU must share a NUMA node.
    let q = "/allocation_candidates?resources_CPU=VCPU:1&resources_NET=SRIOV_NET_VF:1&group_policy=none&same_subtree=_CPU,_NET";
    let r = a.call("GET", q, None).await;
    let reqs = r.body["allocation_requests"].as_array().expect("value");
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["mappings"]["_CPU"], json!([numa0]));
    assert_eq!(reqs[0]["mappings"]["_NET"], json!([pf0]));
    // root_required forbids the disabled compute node.
    let r = a
        .call(
            "GET",
            "/allocation_candidates?resources=VCPU:1&root_required=!COMPUTE_STATUS_DISABLED",
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        0
    );
    // in_tree.
    let r = a
        .call(
            "GET",
            &format!("/allocation_candidates?resources=VCPU:1&in_tree={numa1}"),
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        2
    );
    let r = a
        .call(
            "GET",
            &format!("/allocation_candidates?resources=VCPU:1&in_tree={}", uuid()),
            None,
        )
        .await;
    assert_eq!(
        r.body["allocation_requests"]
            .as_array()
            .expect("value")
            .len(),
        0
    );
}
