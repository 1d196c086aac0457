//! Volume lifecycle, list filters and paging, negative cases (Tempest's
//! `test_volumes_negative`), and the wire shape of volume views against Tempest's
//! `volumes.py` schema.

mod common;

use common::*;
use serde_json::json;

const VOLUME_KEYS: &[&str] = &[
    "migration_status",
    "attachments",
    "links",
    "availability_zone",
    "os-vol-host-attr:host",
    "encrypted",
    "updated_at",
    "replication_status",
    "snapshot_id",
    "id",
    "size",
    "user_id",
    "os-vol-tenant-attr:tenant_id",
    "os-vol-mig-status-attr:migstat",
    "metadata",
    "status",
    "volume_image_metadata",
    "description",
    "multiattach",
    "source_volid",
    "consistencygroup_id",
    "os-vol-mig-status-attr:name_id",
    "name",
    "bootable",
    "created_at",
    "volume_type",
    "group_id",
    "provider_id",
    "service_uuid",
    "shared_targets",
];
const VOLUME_REQUIRED: &[&str] = &[
    "attachments",
    "links",
    "encrypted",
    "updated_at",
    "replication_status",
    "id",
    "size",
    "user_id",
    "availability_zone",
    "metadata",
    "status",
    "description",
    "multiattach",
    "consistencygroup_id",
    "name",
    "bootable",
    "created_at",
    "volume_type",
    "snapshot_id",
    "source_volid",
];
const CREATE_KEYS: &[&str] = &[
    "migration_status",
    "attachments",
    "links",
    "availability_zone",
    "encrypted",
    "updated_at",
    "replication_status",
    "snapshot_id",
    "id",
    "size",
    "user_id",
    "metadata",
    "status",
    "description",
    "multiattach",
    "source_volid",
    "consistencygroup_id",
    "name",
    "bootable",
    "created_at",
    "volume_type",
    "group_id",
    "provider_id",
    "service_uuid",
    "shared_targets",
];

#[tokio::test]
async fn lifecycle_create_show_update_delete_with_tempest_shapes() {
    let api = api().await;
    // Tempest sends no microversion: 3.0 shapes.
    let r = api
        .req(
            "POST",
            "/v3/volumes",
            Some("member"),
            None,
            Some(json!({"volume": {"size": 1, "name": "v1", "metadata": {"k": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.headers["openstack-api-version"], "volume 3.0");
    check_keys(&r.body["volume"], VOLUME_REQUIRED, CREATE_KEYS);
    assert_eq!(r.body["volume"]["status"], "creating");
    assert_eq!(r.body["volume"]["bootable"], "false");
    assert_eq!(r.body["volume"]["volume_type"], "__DEFAULT__");
    let id = r.body["volume"]["id"].as_str().expect("id").to_string();
    let v = api.wait_volume("member", &id, |s| s == "available").await;
    assert_eq!(v["size"], 1);
    // The project-id-in-URL form and the 3.0 show shape as a member.
    let r = api
        .req(
            "GET",
            &format!("/v3/{P1}/volumes/{id}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    check_keys(&r.body["volume"], VOLUME_REQUIRED, VOLUME_KEYS);
    assert_eq!(r.body["volume"]["os-vol-tenant-attr:tenant_id"], P1);
    assert!(r.body["volume"].get("os-vol-host-attr:host").is_none());
    assert_eq!(
        r.body["volume"]["links"][0]["href"],
        format!("http://block.test:8776/v3/{P1}/volumes/{id}")
    );
    // Admin sees the host as host@backend#pool.
    let r = api
        .req(
            "GET",
            &format!("/v3/volumes/{id}"),
            Some("admin"),
            None,
            None,
        )
        .await;
    check_keys(&r.body["volume"], VOLUME_REQUIRED, VOLUME_KEYS);
    assert_eq!(
        r.body["volume"]["os-vol-host-attr:host"],
        "testhost@file#file"
    );
    // Another project's URL id is refused.
    let r = api
        .req(
            "GET",
            &format!("/v3/{P2}/volumes/{id}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    // Update.
    let r = api
        .req(
            "PUT",
            &format!("/v3/volumes/{id}"),
            Some("member"),
            None,
            Some(json!({"volume": {"name": "v2", "description": "d"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    check_keys(&r.body["volume"], VOLUME_REQUIRED, CREATE_KEYS);
    assert_eq!(r.body["volume"]["name"], "v2");
    assert_eq!(r.body["volume"]["description"], "d");
    // Other project cannot see it.
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "other").await.status,
        404
    );
    // Delete.
    let r = api
        .req(
            "DELETE",
            &format!("/v3/volumes/{id}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    api.wait_gone("member", &format!("/v3/volumes/{id}")).await;
    assert!(api.backend.volumes.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn create_negative_cases() {
    let api = api().await;
    let bad = |b| api.post("/v3/volumes", "member", json!({"volume": b}));
    assert_eq!(bad(json!({"size": "#$%"})).await.status, 400);
    assert_eq!(bad(json!({"size": -1})).await.status, 400);
    assert_eq!(bad(json!({"size": 0})).await.status, 400);
    assert_eq!(bad(json!({"name": "no size"})).await.status, 400);
    let r = bad(json!({"size": 1, "volume_type": uuid::Uuid::new_v4().to_string()})).await;
    assert_eq!(r.status, 404);
    assert!(r.body["itemNotFound"]["message"].is_string(), "{}", r.body);
    assert_eq!(
        bad(json!({"size": 1, "snapshot_id": uuid::Uuid::new_v4().to_string()}))
            .await
            .status,
        404
    );
    assert_eq!(
        bad(json!({"size": 1, "source_volid": uuid::Uuid::new_v4().to_string()}))
            .await
            .status,
        404
    );
    assert_eq!(
        bad(json!({"size": 1, "availability_zone": "elsewhere"}))
            .await
            .status,
        400
    );
    let r = api
        .post("/v3/volumes", "member", json!({"nothing": {}}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["badRequest"]["code"], 400);
    // Get/update/delete of unknown or invalid ids.
    for path in [
        "/v3/volumes/nonexistent",
        &format!("/v3/volumes/{}", uuid::Uuid::new_v4()),
    ] {
        assert_eq!(api.get(path, "member").await.status, 404);
        assert_eq!(
            api.req("DELETE", path, Some("member"), None, None)
                .await
                .status,
            404
        );
        let r = api
            .req(
                "PUT",
                path,
                Some("member"),
                None,
                Some(json!({"volume": {"name": "x"}})),
            )
            .await;
        assert_eq!(r.status, 404);
    }
    // Update without a volume id / delete without an id: no such route.
    assert_eq!(
        api.req(
            "PUT",
            "/v3/volumes/",
            Some("member"),
            None,
            Some(json!({"volume": {"name": "x"}}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api.req("DELETE", "/v3/volumes/", Some("member"), None, None)
            .await
            .status,
        404
    );
    // Unauthenticated.
    let r = api.req("GET", "/v3/volumes", None, None, None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn list_filters_sort_and_paging() {
    let api = api().await;
    let mut ids = vec![];
    for i in 0..3 {
        let v = api.volume("member", json!({"size": 1, "name": format!("vol{i}"), "metadata": {"Type": if i == 0 { "work" } else { "play" }}})).await;
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    api.volume("other", json!({"size": 1, "name": "theirs"}))
        .await;
    // Only own project's volumes, detail and summary shapes.
    let r = api
        .req("GET", "/v3/volumes", Some("member"), None, None)
        .await;
    assert_eq!(r.body["volumes"].as_array().expect("list").len(), 3);
    for v in r.body["volumes"].as_array().expect("list") {
        check_keys(v, &["links", "id", "name"], &[]);
    }
    let r = api
        .req("GET", "/v3/volumes/detail", Some("member"), None, None)
        .await;
    for v in r.body["volumes"].as_array().expect("list") {
        check_keys(v, VOLUME_REQUIRED, VOLUME_KEYS);
    }
    // Filters: name, status, metadata (Python dict literal as Tempest sends it), AZ.
    let r = api.get("/v3/volumes?name=vol1", "member").await;
    assert_eq!(r.body["volumes"].as_array().expect("list").len(), 1);
    let r = api
        .get("/v3/volumes/detail?status=available&name=vol2", "member")
        .await;
    assert_eq!(r.body["volumes"][0]["name"], "vol2");
    let q = form_q("metadata", "{'Type': 'work'}");
    let r = api.get(&format!("/v3/volumes/detail?{q}"), "member").await;
    assert_eq!(
        r.body["volumes"].as_array().expect("list").len(),
        1,
        "{}",
        r.body
    );
    assert_eq!(r.body["volumes"][0]["metadata"]["Type"], "work");
    let r = api
        .get("/v3/volumes?availability_zone=nova", "member")
        .await;
    assert_eq!(r.body["volumes"].as_array().expect("list").len(), 3);
    let r = api.get("/v3/volumes?status=null", "member").await;
    assert_eq!(r.body["volumes"].as_array().expect("list").len(), 0);
    let r = api
        .get("/v3/volumes/detail?name=nonexistent", "member")
        .await;
    assert_eq!(r.body["volumes"].as_array().expect("list").len(), 0);
    let r = api.get("/v3/volumes?bootable=false", "member").await;
    assert_eq!(r.body["volumes"].as_array().expect("list").len(), 3);
    // Sort by name ascending; paging with limit and marker and a next link.
    let r = api.get("/v3/volumes?sort=name:asc&limit=2", "member").await;
    let names: Vec<&str> = r.body["volumes"]
        .as_array()
        .expect("l")
        .iter()
        .map(|v| v["name"].as_str().expect("n"))
        .collect();
    assert_eq!(names, ["vol0", "vol1"]);
    let next = r.body["volumes_links"][0]["href"]
        .as_str()
        .expect("next link");
    assert!(next.contains("marker="), "{next}");
    let marker = r.body["volumes"][1]["id"].as_str().expect("id");
    let r = api
        .get(
            &format!("/v3/volumes?sort=name:asc&limit=2&marker={marker}"),
            "member",
        )
        .await;
    let names: Vec<&str> = r.body["volumes"]
        .as_array()
        .expect("l")
        .iter()
        .map(|v| v["name"].as_str().expect("n"))
        .collect();
    assert_eq!(names, ["vol2"]);
    assert!(r.body.get("volumes_links").is_none());
    assert_eq!(
        api.get("/v3/volumes?marker=nope", "member").await.status,
        404
    );
    assert_eq!(api.get("/v3/volumes?limit=-1", "member").await.status, 400);
    // Admin: all_tenants sees both projects; without it only its own (none).
    let r = api.get("/v3/volumes?all_tenants=1", "admin").await;
    assert_eq!(r.body["volumes"].as_array().expect("l").len(), 4);
    let r = api.get("/v3/volumes", "admin").await;
    assert_eq!(r.body["volumes"].as_array().expect("l").len(), 0);
    // Summary (3.12) and count (3.45).
    let r = api.get("/v3/volumes/summary", "member").await;
    assert_eq!(r.body["volume-summary"]["total_count"], 3);
    assert_eq!(r.body["volume-summary"]["total_size"], 3);
    let r = api.get("/v3/volumes?with_count=true", "member").await;
    assert_eq!(r.body["count"], 3);
    // Unknown filters are refused from 3.31.
    assert_eq!(api.get("/v3/volumes?bogus=1", "member").await.status, 400);
    assert_eq!(
        api.req("GET", "/v3/volumes?bogus=1", Some("member"), None, None)
            .await
            .status,
        200
    );
}

fn form_q(k: &str, v: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(k, v)
        .finish()
}

#[tokio::test]
async fn clone_and_metadata_crud() {
    let api = api().await;
    let src = api.volume("member", json!({"size": 1})).await;
    let sid = src["id"].as_str().expect("id");
    let clone = api.volume("member", json!({"source_volid": sid})).await;
    assert_eq!(clone["status"], "available");
    assert_eq!(clone["size"], 1);
    assert_eq!(clone["source_volid"], sid);
    let cid = clone["id"].as_str().expect("id");
    assert_eq!(
        api.backend.volumes.lock().expect("l")[cid].from,
        format!("volume:{sid}")
    );
    // Smaller than the source: 400.
    let r = api
        .post(
            "/v3/volumes",
            "member",
            json!({"volume": {"source_volid": sid, "size": 0}}),
        )
        .await;
    assert_eq!(r.status, 400);
    // Metadata CRUD as Tempest's test_crud_volume_metadata.
    let base = format!("/v3/volumes/{cid}/metadata");
    let r = api
        .post(&base, "member", json!({"metadata": {"a": "1", "b": "2"}}))
        .await;
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2"}}));
    let r = api
        .req(
            "PUT",
            &base,
            Some("member"),
            None,
            Some(json!({"metadata": {"c": "3"}})),
        )
        .await;
    assert_eq!(r.body, json!({"metadata": {"c": "3"}}));
    let r = api
        .req(
            "PUT",
            &format!("{base}/c"),
            Some("member"),
            None,
            Some(json!({"meta": {"c": "4"}})),
        )
        .await;
    assert_eq!(r.body, json!({"meta": {"c": "4"}}));
    let r = api.get(&format!("{base}/c"), "member").await;
    assert_eq!(r.body, json!({"meta": {"c": "4"}}));
    let r = api
        .req(
            "PUT",
            &format!("{base}/c"),
            Some("member"),
            None,
            Some(json!({"meta": {"d": "4"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .req("DELETE", &format!("{base}/c"), Some("member"), None, None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(api.get(&base, "member").await.body, json!({"metadata": {}}));
    assert_eq!(api.get(&format!("{base}/c"), "member").await.status, 404);
    assert_eq!(api.get(&base, "reader").await.status, 200);
    assert_eq!(
        api.post(&base, "reader", json!({"metadata": {"x": "y"}}))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn delete_refusals_and_cascade() {
    let api = api().await;
    let v = api.volume("member", json!({"size": 1})).await;
    let id = v["id"].as_str().expect("id");
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    assert_eq!(r.status, 202);
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    api.wait_snapshot("member", &sid, |s| s == "available")
        .await;
    // With a snapshot: 400 unless cascade.
    let r = api
        .req(
            "DELETE",
            &format!("/v3/volumes/{id}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api
        .req(
            "DELETE",
            &format!("/v3/volumes/{id}?cascade=true"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    api.wait_gone("member", &format!("/v3/volumes/{id}")).await;
    assert_eq!(
        api.get(&format!("/v3/snapshots/{sid}"), "member")
            .await
            .status,
        404
    );
    // In-use volumes cannot be deleted.
    let v = api.volume("member", json!({"size": 1})).await;
    let id = v["id"].as_str().expect("id");
    let r = api.post(&format!("/v3/volumes/{id}/action"), "member", json!({"os-attach": {"instance_uuid": uuid::Uuid::new_v4().to_string(), "mountpoint": "/dev/vdb"}})).await;
    assert_eq!(r.status, 202);
    let r = api
        .req(
            "DELETE",
            &format!("/v3/volumes/{id}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn failed_create_is_error_and_deletable() {
    let api = api().await;
    api.backend
        .fail_create
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let v = api.volume("member", json!({"size": 1})).await;
    assert_eq!(v["status"], "error");
    let id = v["id"].as_str().expect("id");
    let r = api
        .req(
            "DELETE",
            &format!("/v3/volumes/{id}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    api.wait_gone("member", &format!("/v3/volumes/{id}")).await;
    // A user message records the failure (3.3).
    let r = api.get("/v3/messages", "member").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["messages"].as_array().expect("l").len(),
        1,
        "{}",
        r.body
    );
}
