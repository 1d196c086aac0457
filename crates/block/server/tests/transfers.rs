//! Volume transfers: create, list, show, accept by another project (quota checked,
//! snapshots moved), cancel, wrong keys, encrypted volumes refused.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn transfer_accept_and_cancel() {
    let api = api().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": vid}}),
        )
        .await;
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    api.wait_snapshot("member", &sid, |s| s == "available")
        .await;
    let r = api
        .req(
            "POST",
            "/v3/os-volume-transfer",
            Some("member"),
            None,
            Some(json!({"transfer": {"volume_id": vid, "name": "t1"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    check_keys(
        &r.body["transfer"],
        &["auth_key", "links", "created_at", "volume_id", "id", "name"],
        &[],
    );
    let tid = r.body["transfer"]["id"].as_str().expect("id").to_string();
    let key = r.body["transfer"]["auth_key"]
        .as_str()
        .expect("key")
        .to_string();
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"]["status"],
        "awaiting-transfer"
    );
    // The volume cannot be deleted meanwhile.
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/volumes/{vid}"),
            Some("member"),
            None,
            None
        )
        .await
        .status,
        400
    );
    let r = api
        .req("GET", "/v3/os-volume-transfer", Some("member"), None, None)
        .await;
    check_keys(
        &r.body["transfers"][0],
        &["volume_id", "id", "links", "name"],
        &[],
    );
    let r = api
        .req(
            "GET",
            &format!("/v3/os-volume-transfer/{tid}"),
            Some("member"),
            None,
            None,
        )
        .await;
    check_keys(
        &r.body["transfer"],
        &["links", "created_at", "volume_id", "id", "name"],
        &[],
    );
    assert_eq!(
        api.get(&format!("/v3/volume-transfers/{tid}"), "other")
            .await
            .status,
        404
    );
    // A wrong key is refused; the right one moves volume and snapshot.
    let r = api
        .post(
            &format!("/v3/volume-transfers/{tid}/accept"),
            "other",
            json!({"accept": {"auth_key": "wrong"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .post(
            &format!("/v3/volume-transfers/{tid}/accept"),
            "other",
            json!({"accept": {"auth_key": key}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member")
            .await
            .status,
        404
    );
    let v = api.get(&format!("/v3/volumes/{vid}"), "other").await.body["volume"].clone();
    assert_eq!(v["status"], "available");
    assert_eq!(
        api.get(&format!("/v3/snapshots/{sid}"), "other")
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/v3/volume-transfers/{tid}"), "member")
            .await
            .status,
        404
    );
    // Cancel returns the volume to available.
    let r = api
        .post(
            "/v3/volume-transfers",
            "other",
            json!({"transfer": {"volume_id": vid, "no_snapshots": true}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let tid = r.body["transfer"]["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["transfer"]["no_snapshots"], true);
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/volume-transfers/{tid}"),
            Some("other"),
            Some(LATEST),
            None
        )
        .await
        .status,
        202
    );
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "other").await.body["volume"]["status"],
        "available"
    );
    // In-use volumes cannot be transferred.
    api.post(
        &format!("/v3/volumes/{vid}/action"),
        "other",
        json!({"os-reserve": {}}),
    )
    .await;
    let r = api
        .post(
            "/v3/volume-transfers",
            "other",
            json!({"transfer": {"volume_id": vid}}),
        )
        .await;
    assert_eq!(r.status, 400);
}
