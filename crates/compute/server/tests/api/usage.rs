//! `os-simple-tenant-usage` over instances recorded by the servers code
//! (`os-volume_attachments` is tested in `tests/volumes`).

use rustack_compute_server::servers::store::{insert_instance, FlavorSnapshot, Instance};
use serde_json::json;

use crate::common::{api, fault};

async fn seed(
    api: &crate::common::Api,
    uuid: &str,
    project: &str,
    launched: &str,
    terminated: Option<&str>,
) {
    let mut c = api.compute.conn().await.expect("conn");
    insert_instance(
        &mut c,
        &Instance {
            uuid: uuid.into(),
            project_id: project.into(),
            user_id: "alice".into(),
            name: format!("srv-{uuid}"),
            vm_state: "active".into(),
            flavor: FlavorSnapshot {
                flavorid: "42".into(),
                name: "rustack.nano".into(),
                vcpus: 2,
                memory_mb: 128,
                root_gb: 1,
                ..FlavorSnapshot::default()
            },
            launched_at: Some(launched.into()),
            terminated_at: terminated.map(str::to_owned),
            created_at: launched.into(),
            updated_at: launched.into(),
            ..Instance::default()
        },
    )
    .await
    .expect("insert");
}

#[tokio::test]
async fn tenant_usage() {
    let api = api().await;
    let (st, v) = api.get("/v2.1/os-simple-tenant-usage", "admin").await;
    assert_eq!((st, v), (200, json!({"tenant_usages": []})));
    let (st, v) = api.get("/v2.1/os-simple-tenant-usage/p1", "alice").await;
    assert_eq!((st, v), (200, json!({"tenant_usage": {}})));

    // Two hours of a 2-vCPU server inside the window, one before it.
    seed(
        &api,
        "11111111-1111-1111-1111-111111111111",
        "p1",
        "2026-01-01T10:00:00Z",
        Some("2026-01-01T12:00:00Z"),
    )
    .await;
    seed(
        &api,
        "22222222-2222-2222-2222-222222222222",
        "p1",
        "2025-01-01T10:00:00Z",
        Some("2025-01-01T12:00:00Z"),
    )
    .await;
    seed(
        &api,
        "33333333-3333-3333-3333-333333333333",
        "p2",
        "2026-01-01T11:00:00Z",
        None,
    )
    .await;
    let q = "start=2026-01-01T00:00:00&end=2026-01-02T00:00:00";
    let (st, v) = api
        .get(&format!("/v2.1/os-simple-tenant-usage/p1?{q}"), "alice")
        .await;
    assert_eq!(st, 200, "{v}");
    let u = &v["tenant_usage"];
    assert_eq!(u["tenant_id"], "p1");
    assert_eq!(u["total_hours"], 2.0);
    assert_eq!(u["total_vcpus_usage"], 4.0);
    assert_eq!(u["total_memory_mb_usage"], 256.0);
    assert_eq!(u["start"], "2026-01-01T00:00:00.000000");
    let s = &u["server_usages"][0];
    assert_eq!(s["state"], "terminated");
    assert_eq!(s["uptime"], 7200);
    assert_eq!(s["flavor"], "rustack.nano");
    assert_eq!(u["server_usages"].as_array().map(Vec::len), Some(1));

    let (st, v) = api
        .get(
            &format!("/v2.1/os-simple-tenant-usage?{q}&detailed=1"),
            "admin",
        )
        .await;
    assert_eq!(st, 200);
    let all = v["tenant_usages"].as_array().expect("list");
    assert_eq!(all.len(), 2);
    let p2 = all.iter().find(|u| u["tenant_id"] == "p2").expect("p2");
    assert_eq!(p2["total_hours"], 13.0);
    assert_eq!(p2["server_usages"][0]["state"], "active");
    let (_, v) = api
        .get(&format!("/v2.1/os-simple-tenant-usage?{q}"), "admin")
        .await;
    assert!(v["tenant_usages"][0].get("server_usages").is_none());

    let (st, _) = api.get("/v2.1/os-simple-tenant-usage", "alice").await;
    assert_eq!(st, 403);
    let (st, _) = api.get("/v2.1/os-simple-tenant-usage/p1", "bob").await;
    assert_eq!(st, 403);
    let (st, v) = api
        .get("/v2.1/os-simple-tenant-usage/p1?start=yesterday", "alice")
        .await;
    assert_eq!(st, 400);
    assert_eq!(fault(&v, "badRequest"), "Datetime is in invalid format");
    let (st, _) = api
        .get(
            "/v2.1/os-simple-tenant-usage/p1?start=2026-01-02T00:00:00&end=2026-01-01T00:00:00",
            "alice",
        )
        .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn tenant_usage_paging_at_2_40() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    for (i, t) in ["10", "11", "12"].iter().enumerate() {
        seed(
            &api,
            &format!("0000000{i}-0000-0000-0000-000000000000"),
            "p1",
            &format!("2026-01-01T{t}:00:00Z"),
            None,
        )
        .await;
    }
    let q = "start=2026-01-01T00:00:00&end=2026-01-02T00:00:00";
    let (st, v) = api
        .call_v(
            "2.40",
            "GET",
            &format!("/v2.1/os-simple-tenant-usage/p1?{q}&limit=2"),
            "alice",
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["tenant_usage"]["server_usages"].as_array().map(Vec::len),
        Some(2)
    );
    let next = v["tenant_usage_links"][0]["href"].as_str().expect("next");
    assert!(
        next.ends_with("limit=2&marker=00000001-0000-0000-0000-000000000000"),
        "{next}"
    );
    let (_, v) = api
        .call_v(
            "2.40",
            "GET",
            &format!("/v2.1/os-simple-tenant-usage/p1?{q}&limit=2&marker=00000001-0000-0000-0000-000000000000"),
            "alice",
            None,
        )
        .await;
    assert_eq!(
        v["tenant_usage"]["server_usages"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(v.get("tenant_usage_links").is_none());
    let (st, _) = api
        .call_v(
            "2.40",
            "GET",
            "/v2.1/os-simple-tenant-usage?marker=nope",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 400);
}
