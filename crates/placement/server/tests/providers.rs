//! Resource providers, nesting, inventories, traits, aggregates, resource classes.

mod common;

use common::{api, code, uuid};
use serde_json::json;

#[tokio::test]
async fn provider_lifecycle_and_nesting() {
    let a = api().await;
    let root = a.provider("cn1", None).await;
    let r = a
        .call("GET", &format!("/resource_providers/{root}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "cn1");
    assert_eq!(r.body["generation"], 0);
    assert_eq!(r.body["root_provider_uuid"], root.as_str());
    assert!(r.body["parent_provider_uuid"].is_null());
    assert_eq!(r.headers["cache-control"], "no-cache");
    let rels: Vec<&str> = r.body["links"]
        .as_array()
        .expect("value")
        .iter()
        .map(|l| l["rel"].as_str().expect("value"))
        .collect();
    assert_eq!(
        rels,
        [
            "self",
            "inventories",
            "usages",
            "aggregates",
            "traits",
            "allocations"
        ]
    );

    let child = a.provider("cn1-numa0", Some(&root)).await;
    let grandchild = a.provider("cn1-numa0-pf", Some(&child)).await;
    let other = a.provider("cn2", None).await;
    let r = a
        .call("GET", &format!("/resource_providers/{grandchild}"), None)
        .await;
    assert_eq!(r.body["root_provider_uuid"], root.as_str());
    assert_eq!(r.body["parent_provider_uuid"], child.as_str());

    // Duplicate name and uuid.
    let r = a
        .call("POST", "/resource_providers", Some(json!({"name": "cn1"})))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.duplicate_name");
    let r = a
        .call(
            "POST",
            "/resource_providers",
            Some(json!({"name": "x", "uuid": root})),
        )
        .await;
    assert_eq!(r.status, 409);
    // Unknown parent.
    let r = a
        .call(
            "POST",
            "/resource_providers",
            Some(json!({"name": "y", "parent_provider_uuid": uuid()})),
        )
        .await;
    assert_eq!(r.status, 400);

    // Filters.
    let r = a
        .call("GET", &format!("/resource_providers?in_tree={child}"), None)
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        3
    );
    let r = a.call("GET", "/resource_providers?name=cn2", None).await;
    assert_eq!(r.body["resource_providers"][0]["uuid"], other.as_str());
    let r = a
        .call("GET", &format!("/resource_providers?uuid={root}"), None)
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    let r = a.call("GET", "/resource_providers?bogus=1", None).await;
    assert_eq!(r.status, 400);

    // Rename; re-parenting needs 1.37.
    let r = a
        .call(
            "PUT",
            &format!("/resource_providers/{other}"),
            Some(json!({"name": "cn2-renamed"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "cn2-renamed");
    let body = json!({"name": "cn1-numa0-pf", "parent_provider_uuid": other});
    let r = a
        .req(
            "PUT",
            &format!("/resource_providers/{grandchild}"),
            Some("admin"),
            Some("1.36"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let r = a
        .call(
            "PUT",
            &format!("/resource_providers/{grandchild}"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["root_provider_uuid"], other.as_str());
    // A loop is refused.
    let r = a
        .call(
            "PUT",
            &format!("/resource_providers/{other}"),
            Some(json!({"name": "cn2-renamed", "parent_provider_uuid": grandchild})),
        )
        .await;
    assert_eq!(r.status, 400);

    // Parents cannot be deleted while children exist.
    let r = a
        .call("DELETE", &format!("/resource_providers/{root}"), None)
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.resource_provider.cannot_delete_parent");
    assert_eq!(
        a.call("DELETE", &format!("/resource_providers/{child}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        a.call("DELETE", &format!("/resource_providers/{root}"), None)
            .await
            .status,
        204
    );
    let r = a
        .call("GET", &format!("/resource_providers/{root}"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["errors"][0]["title"], "Not Found");
}

#[tokio::test]
async fn inventories_generations_and_in_use() {
    let a = api().await;
    let rp = a.provider("cn1", None).await;
    let path = format!("/resource_providers/{rp}/inventories");
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 0, "inventories": {
                "VCPU": {"total": 8, "allocation_ratio": 2.0, "max_unit": 8},
                "MEMORY_MB": {"total": 4096, "reserved": 512},
            }})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["resource_provider_generation"], 1);
    assert_eq!(r.body["inventories"]["VCPU"]["allocation_ratio"], 2.0);
    assert_eq!(r.body["inventories"]["MEMORY_MB"]["min_unit"], 1);
    assert_eq!(r.body["inventories"]["MEMORY_MB"]["max_unit"], 2147483647);
    // Stale generation.
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 0, "inventories": {}})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.concurrent_update");
    // Unknown class; reserved > total.
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 1, "inventories": {"NOPE": {"total": 1}}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = a.call("PUT", &path, Some(json!({"resource_provider_generation": 1, "inventories": {"VCPU": {"total": 1, "reserved": 2}}}))).await;
    assert_eq!(r.status, 400);
    // Per-class show/put.
    let r = a.call("GET", &format!("{path}/VCPU"), None).await;
    assert_eq!(r.body["total"], 8);
    assert_eq!(r.body["resource_provider_generation"], 1);
    let r = a
        .call(
            "PUT",
            &format!("{path}/DISK_GB"),
            Some(json!({"resource_provider_generation": 1, "total": 100})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["resource_provider_generation"], 2);
    assert_eq!(
        a.call("GET", &format!("{path}/PCPU"), None).await.status,
        404
    );

    // Use 12 VCPU (capacity 16) then try to shrink below it.
    let consumer = uuid();
    let r = a.allocate(&consumer, &rp, json!({"VCPU": 6})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a.allocate(&uuid(), &rp, json!({"VCPU": 6})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let gen = a
        .call("GET", &format!("/resource_providers/{rp}"), None)
        .await
        .body["generation"]
        .as_i64()
        .expect("value");
    let r = a
        .call(
            "PUT",
            &format!("{path}/VCPU"),
            Some(json!({"resource_provider_generation": gen, "total": 4, "allocation_ratio": 2.0})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.inventory.inuse");
    let r = a.call("DELETE", &format!("{path}/VCPU"), None).await;
    assert_eq!(r.status, 409);
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": gen, "inventories": {}})),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.inventory.inuse");
    // Providers with allocations cannot be deleted.
    let r = a
        .call("DELETE", &format!("/resource_providers/{rp}"), None)
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(code(&r), "placement.resource_provider.inuse");
    // Usages.
    let r = a
        .call("GET", &format!("/resource_providers/{rp}/usages"), None)
        .await;
    assert_eq!(
        r.body["usages"],
        json!({"VCPU": 12, "MEMORY_MB": 0, "DISK_GB": 0})
    );
    // Unused class can go.
    assert_eq!(
        a.call("DELETE", &format!("{path}/DISK_GB"), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn traits_aggregates_and_classes() {
    let a = api().await;
    let rp = a.provider("cn1", None).await;
    // Traits catalogue.
    let r = a
        .call("GET", "/traits?name=startswith:HW_CPU_X86_AVX", None)
        .await;
    assert!(r.body["traits"]
        .as_array()
        .expect("value")
        .iter()
        .any(|t| t == "HW_CPU_X86_AVX2"));
    assert_eq!(a.call("PUT", "/traits/CUSTOM_GOLD", None).await.status, 201);
    assert_eq!(a.call("PUT", "/traits/CUSTOM_GOLD", None).await.status, 204);
    assert_eq!(a.call("PUT", "/traits/GOLD", None).await.status, 400);
    assert_eq!(a.call("GET", "/traits/CUSTOM_GOLD", None).await.status, 204);
    assert_eq!(a.call("GET", "/traits/CUSTOM_NOPE", None).await.status, 404);
    // Provider traits.
    let path = format!("/resource_providers/{rp}/traits");
    let r = a.call("PUT", &path, Some(json!({"resource_provider_generation": 0, "traits": ["CUSTOM_GOLD", "COMPUTE_VOLUME_MULTI_ATTACH"]}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["resource_provider_generation"], 1);
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 0, "traits": []})),
        )
        .await;
    assert_eq!(code(&r), "placement.concurrent_update");
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 1, "traits": ["CUSTOM_MISSING"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = a.call("GET", "/traits?associated=true", None).await;
    assert_eq!(
        r.body["traits"],
        json!(["COMPUTE_VOLUME_MULTI_ATTACH", "CUSTOM_GOLD"])
    );
    assert_eq!(
        a.call("DELETE", "/traits/CUSTOM_GOLD", None).await.status,
        409
    );
    let r = a
        .call(
            "GET",
            "/resource_providers?required=CUSTOM_GOLD,!HW_CPU_X86_AVX",
            None,
        )
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    let r = a
        .call("GET", "/resource_providers?required=!CUSTOM_GOLD", None)
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        0
    );
    assert_eq!(a.call("DELETE", &path, None).await.status, 204);
    assert_eq!(
        a.call("DELETE", "/traits/CUSTOM_GOLD", None).await.status,
        204
    );
    assert_eq!(
        a.call("DELETE", "/traits/HW_CPU_X86_AVX", None)
            .await
            .status,
        400
    );

    // Aggregates (1.19 shape, and the pre-1.19 list).
    let agg = uuid();
    let path = format!("/resource_providers/{rp}/aggregates");
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 2, "aggregates": [agg]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["resource_provider_generation"], 3);
    let r = a
        .call(
            "PUT",
            &path,
            Some(json!({"resource_provider_generation": 2, "aggregates": []})),
        )
        .await;
    assert_eq!(code(&r), "placement.concurrent_update");
    let r = a.req("GET", &path, Some("admin"), Some("1.1"), None).await;
    assert_eq!(r.body, json!({"aggregates": [agg]}));
    let r = a
        .call(
            "GET",
            &format!("/resource_providers?member_of=in:{agg},{}", uuid()),
            None,
        )
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    let r = a
        .call(
            "GET",
            &format!("/resource_providers?member_of=!{agg}"),
            None,
        )
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        0
    );

    // Resource classes.
    let r = a.call("GET", "/resource_classes", None).await;
    let names: Vec<&str> = r.body["resource_classes"]
        .as_array()
        .expect("value")
        .iter()
        .map(|c| c["name"].as_str().expect("value"))
        .collect();
    for want in [
        "VCPU",
        "MEMORY_MB",
        "DISK_GB",
        "PCI_DEVICE",
        "SRIOV_NET_VF",
        "IPV4_ADDRESS",
        "VGPU",
        "PCPU",
    ] {
        assert!(names.contains(&want), "{want}");
    }
    assert_eq!(
        a.call(
            "POST",
            "/resource_classes",
            Some(json!({"name": "CUSTOM_FPGA_X"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        a.call(
            "POST",
            "/resource_classes",
            Some(json!({"name": "CUSTOM_FPGA_X"}))
        )
        .await
        .status,
        409
    );
    assert_eq!(
        a.call("POST", "/resource_classes", Some(json!({"name": "FPGA_X"})))
            .await
            .status,
        400
    );
    assert_eq!(
        a.call("PUT", "/resource_classes/CUSTOM_BAREMETAL", None)
            .await
            .status,
        201
    );
    assert_eq!(
        a.call("PUT", "/resource_classes/CUSTOM_BAREMETAL", None)
            .await
            .status,
        204
    );
    assert_eq!(
        a.call("GET", "/resource_classes/CUSTOM_BAREMETAL", None)
            .await
            .status,
        200
    );
    assert_eq!(
        a.call("DELETE", "/resource_classes/VCPU", None)
            .await
            .status,
        400
    );
    a.inventory(&rp, &[("CUSTOM_BAREMETAL", 1)]).await;
    assert_eq!(
        a.call("DELETE", "/resource_classes/CUSTOM_BAREMETAL", None)
            .await
            .status,
        409
    );
    assert_eq!(
        a.call("DELETE", "/resource_classes/CUSTOM_FPGA_X", None)
            .await
            .status,
        204
    );
    assert_eq!(
        a.call("GET", "/resource_classes/CUSTOM_FPGA_X", None)
            .await
            .status,
        404
    );
    // resources= filter.
    let r = a
        .call(
            "GET",
            "/resource_providers?resources=CUSTOM_BAREMETAL:1",
            None,
        )
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        1
    );
    let r = a
        .call(
            "GET",
            "/resource_providers?resources=CUSTOM_BAREMETAL:2",
            None,
        )
        .await;
    assert_eq!(
        r.body["resource_providers"]
            .as_array()
            .expect("value")
            .len(),
        0
    );
    let r = a
        .call("GET", "/resource_providers?resources=CUSTOM_NOPE:2", None)
        .await;
    assert_eq!(r.status, 400);
}
