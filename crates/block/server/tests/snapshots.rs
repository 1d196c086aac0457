//! Snapshots: lifecycle, Tempest's snapshot schema, metadata, list filters and paging,
//! volumes from snapshots, and the snapshot actions.

mod common;

use common::*;
use serde_json::json;

const SNAP_KEYS: &[&str] = &[
    "status",
    "description",
    "created_at",
    "name",
    "volume_id",
    "metadata",
    "id",
    "size",
    "updated_at",
];
const SNAP_DETAIL: &[&str] = &[
    "os-extended-snapshot-attributes:progress",
    "os-extended-snapshot-attributes:project_id",
];

async fn snap(api: &Api, vid: &str, name: &str) -> String {
    let r = api
        .req(
            "POST",
            "/v3/snapshots",
            Some("member"),
            None,
            Some(json!({"snapshot": {"volume_id": vid, "name": name, "metadata": {"k": name}}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    check_keys(&r.body["snapshot"], SNAP_KEYS, &[]);
    let id = r.body["snapshot"]["id"].as_str().expect("id").to_string();
    api.wait_snapshot("member", &id, |s| s == "available").await;
    id
}

#[tokio::test]
async fn snapshot_lifecycle_shapes_and_volume_from_snapshot() {
    let api = api().await;
    let vid = api.volume("member", json!({"size": 2})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let sid = snap(&api, &vid, "s1").await;
    let r = api
        .req(
            "GET",
            &format!("/v3/snapshots/{sid}"),
            Some("member"),
            None,
            None,
        )
        .await;
    let all: Vec<&str> = SNAP_KEYS.iter().chain(SNAP_DETAIL).copied().collect();
    check_keys(&r.body["snapshot"], &all, &[]);
    assert_eq!(
        r.body["snapshot"]["os-extended-snapshot-attributes:progress"],
        "100%"
    );
    assert_eq!(
        r.body["snapshot"]["os-extended-snapshot-attributes:project_id"],
        P1
    );
    assert_eq!(r.body["snapshot"]["size"], 2);
    let r = api
        .req(
            "PUT",
            &format!("/v3/snapshots/{sid}"),
            Some("member"),
            None,
            Some(json!({"snapshot": {"name": "renamed", "description": "d"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    check_keys(&r.body["snapshot"], SNAP_KEYS, &[]);
    assert_eq!(r.body["snapshot"]["name"], "renamed");
    // List shapes.
    let r = api
        .req("GET", "/v3/snapshots", Some("member"), None, None)
        .await;
    check_keys(&r.body["snapshots"][0], SNAP_KEYS, &[]);
    let r = api
        .req("GET", "/v3/snapshots/detail", Some("member"), None, None)
        .await;
    check_keys(&r.body["snapshots"][0], &all, &[]);
    // A volume from the snapshot (size defaults to the snapshot's; smaller is 400).
    let r = api
        .post(
            "/v3/volumes",
            "member",
            json!({"volume": {"snapshot_id": sid, "size": 1}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = api.volume("member", json!({"snapshot_id": sid})).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["size"], 2);
    assert_eq!(v["snapshot_id"], sid);
    let nid = v["id"].as_str().expect("id");
    assert_eq!(
        api.backend.volumes.lock().expect("l")[nid].from,
        format!("snapshot:snapshot-{sid}")
    );
    // Delete.
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/snapshots/{sid}"),
            Some("member"),
            None,
            None
        )
        .await
        .status,
        202
    );
    api.wait_gone("member", &format!("/v3/snapshots/{sid}"))
        .await;
    assert!(api
        .backend
        .calls()
        .iter()
        .any(|c| c == &format!("snapshot_delete {vid} snapshot-{sid}")));
}

#[tokio::test]
async fn snapshot_negative_and_actions() {
    let api = api().await;
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": uuid::Uuid::new_v4().to_string()}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"name": "no volume"}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let sid = snap(&api, &vid, "s").await;
    let path = format!("/v3/snapshots/{sid}/action");
    let act = |t: &'static str, b| api.post(&path, t, b);
    assert_eq!(
        act("member", json!({"os-reset_status": {"status": "error"}}))
            .await
            .status,
        403
    );
    assert_eq!(
        act("admin", json!({"os-reset_status": {"status": "bogus"}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act("admin", json!({"os-reset_status": {"status": "creating"}}))
            .await
            .status,
        202
    );
    assert_eq!(
        act(
            "admin",
            json!({"os-update_snapshot_status": {"status": "available", "progress": "90%"}})
        )
        .await
        .status,
        202
    );
    let s = api
        .get(&format!("/v3/snapshots/{sid}"), "member")
        .await
        .body["snapshot"]
        .clone();
    assert_eq!(s["status"], "available");
    assert_eq!(s["os-extended-snapshot-attributes:progress"], "90%");
    assert_eq!(
        act(
            "admin",
            json!({"os-update_snapshot_status": {"status": "error_deleting"}})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        act("admin", json!({"os-reset_status": {"status": "creating"}}))
            .await
            .status,
        202
    );
    // Deleting a creating snapshot is refused; force delete works.
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/snapshots/{sid}"),
            Some("member"),
            None,
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        act("admin", json!({"os-force_delete": {}})).await.status,
        202
    );
    api.wait_gone("member", &format!("/v3/snapshots/{sid}"))
        .await;
}

#[tokio::test]
async fn snapshot_metadata_and_list_params() {
    let api = api().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let s1 = snap(&api, &vid, "a").await;
    let s2 = snap(&api, &vid, "b").await;
    let base = format!("/v3/snapshots/{s1}/metadata");
    let r = api
        .post(&base, "member", json!({"metadata": {"x": "1"}}))
        .await;
    assert_eq!(r.body, json!({"metadata": {"k": "a", "x": "1"}}));
    let r = api
        .req(
            "PUT",
            &base,
            Some("member"),
            None,
            Some(json!({"metadata": {"y": "2"}})),
        )
        .await;
    assert_eq!(r.body, json!({"metadata": {"y": "2"}}));
    let r = api
        .req(
            "PUT",
            &format!("{base}/y"),
            Some("member"),
            None,
            Some(json!({"meta": {"y": "3"}})),
        )
        .await;
    assert_eq!(r.body, json!({"meta": {"y": "3"}}));
    assert_eq!(
        api.get(&format!("{base}/y"), "member").await.body,
        json!({"meta": {"y": "3"}})
    );
    assert_eq!(
        api.req("DELETE", &format!("{base}/y"), Some("member"), None, None)
            .await
            .status,
        200
    );
    assert_eq!(api.get(&base, "member").await.body, json!({"metadata": {}}));
    // Filters and paging.
    let r = api.get("/v3/snapshots?name=b", "member").await;
    assert_eq!(r.body["snapshots"].as_array().expect("l").len(), 1);
    assert_eq!(r.body["snapshots"][0]["id"], s2);
    let r = api
        .get(
            &format!("/v3/snapshots/detail?volume_id={vid}&status=available"),
            "member",
        )
        .await;
    assert_eq!(r.body["snapshots"].as_array().expect("l").len(), 2);
    let r = api
        .get("/v3/snapshots?sort=name:asc&limit=1", "member")
        .await;
    assert_eq!(r.body["snapshots"][0]["name"], "a");
    assert!(r.body["snapshots_links"][0]["href"]
        .as_str()
        .expect("next")
        .contains("marker="));
    assert_eq!(
        api.get("/v3/snapshots", "other").await.body["snapshots"],
        json!([])
    );
}
