//! Volume actions: every action's status transitions and refusals.

mod common;

use common::*;
use serde_json::{json, Value};

async fn avail(api: &Api) -> String {
    api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn act(api: &Api, token: &str, id: &str, body: Value) -> Resp {
    api.post(&format!("/v3/volumes/{id}/action"), token, body)
        .await
}

async fn status(api: &Api, id: &str) -> String {
    api.get(&format!("/v3/volumes/{id}"), "admin").await.body["volume"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn reserve_attach_detach_transitions() {
    let api = api().await;
    let id = avail(&api).await;
    assert_eq!(
        act(&api, "member", &id, json!({"os-unreserve": {}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act(&api, "member", &id, json!({"os-reserve": {}}))
            .await
            .status,
        202
    );
    assert_eq!(status(&api, &id).await, "attaching");
    assert_eq!(
        act(&api, "member", &id, json!({"os-reserve": {}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act(&api, "member", &id, json!({"os-unreserve": {}}))
            .await
            .status,
        202
    );
    assert_eq!(status(&api, &id).await, "available");
    // Attach needs a mountpoint and a valid target.
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-attach": {"mountpoint": "/dev/vdb"}})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-attach": {"instance_uuid": "x", "mountpoint": "/dev/vdb"}})
        )
        .await
        .status,
        400
    );
    let server = uuid::Uuid::new_v4().to_string();
    let r = act(
        &api,
        "member",
        &id,
        json!({"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb", "mode": "rw"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"].clone();
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["server_id"], server);
    assert_eq!(v["attachments"][0]["device"], "/dev/vdb");
    check_keys(
        &v["attachments"][0],
        &[
            "server_id",
            "attachment_id",
            "host_name",
            "volume_id",
            "device",
            "id",
        ],
        &["attached_at"],
    );
    // begin/roll detaching.
    assert_eq!(
        act(&api, "member", &id, json!({"os-roll_detaching": {}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act(&api, "member", &id, json!({"os-begin_detaching": {}}))
            .await
            .status,
        202
    );
    assert_eq!(status(&api, &id).await, "detaching");
    assert_eq!(
        act(&api, "member", &id, json!({"os-roll_detaching": {}}))
            .await
            .status,
        202
    );
    assert_eq!(status(&api, &id).await, "in-use");
    // Detach (a legacy attachment has no connection info: allowed without a service token).
    let att = v["attachments"][0]["attachment_id"]
        .as_str()
        .expect("att")
        .to_string();
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-detach": {"attachment_id": att}})
        )
        .await
        .status,
        202
    );
    let v = api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"].clone();
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    // Nothing attached: Cinder answers 202 and does nothing.
    assert_eq!(
        act(&api, "member", &id, json!({"os-detach": {}}))
            .await
            .status,
        202
    );
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]["status"],
        "available"
    );
}

#[tokio::test]
async fn extend_offline_and_refusals() {
    let api = api().await;
    let id = avail(&api).await;
    assert_eq!(
        act(&api, "member", &id, json!({"os-extend": {"new_size": 1}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act(&api, "member", &id, json!({"os-extend": {"new_size": "x"}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act(&api, "member", &id, json!({"os-extend": {"new_size": 3}}))
            .await
            .status,
        202
    );
    let v = api.wait_volume("member", &id, |s| s == "available").await;
    assert_eq!(v["size"], 3);
    assert!(api
        .backend
        .calls()
        .iter()
        .any(|c| c == &format!("extend {id} 3")));
    // In-use needs 3.42.
    act(&api, "member", &id, json!({"os-attach": {"instance_uuid": uuid::Uuid::new_v4().to_string(), "mountpoint": "/dev/vdb"}})).await;
    let r = api
        .req(
            "POST",
            &format!("/v3/volumes/{id}/action"),
            Some("member"),
            Some("3.41"),
            Some(json!({"os-extend": {"new_size": 4}})),
        )
        .await;
    assert_eq!(r.status, 400);
    // 3.42 on a volume no QEMU holds: the backend extends it.
    let r = api
        .req(
            "POST",
            &format!("/v3/volumes/{id}/action"),
            Some("member"),
            Some("3.42"),
            Some(json!({"os-extend": {"new_size": 4}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = api.wait_volume("member", &id, |s| s == "in-use").await;
    assert_eq!(v["size"], 4);
}

#[tokio::test]
async fn bootable_readonly_image_metadata_reset_and_force_delete() {
    let api = api().await;
    let id = avail(&api).await;
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-set_bootable": {"bootable": true}})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]["bootable"],
        "true"
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-set_bootable": {"bootable": "maybe"}})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-set_bootable": {"bootable": "False"}})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]["bootable"],
        "false"
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-update_readonly_flag": {"readonly": true}})
        )
        .await
        .status,
        202
    );
    // A read-only volume attaches read-only only.
    let r = act(&api, "member", &id, json!({"os-attach": {"instance_uuid": uuid::Uuid::new_v4().to_string(), "mountpoint": "/dev/vdb", "mode": "rw"}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-update_readonly_flag": {"readonly": false}})
        )
        .await
        .status,
        202
    );
    // Image metadata.
    let r = act(
        &api,
        "member",
        &id,
        json!({"os-set_image_metadata": {"metadata": {"image_id": "i", "os_distro": "x"}}}),
    )
    .await;
    assert_eq!(
        r.body,
        json!({"metadata": {"image_id": "i", "os_distro": "x"}})
    );
    let r = act(&api, "member", &id, json!({"os-show_image_metadata": null})).await;
    assert_eq!(r.body["metadata"]["os_distro"], "x");
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]
            ["volume_image_metadata"]["os_distro"],
        "x"
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-unset_image_metadata": {"key": "os_distro"}})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-unset_image_metadata": {"key": "os_distro"}})
        )
        .await
        .status,
        404
    );
    // Admin actions: members are refused, admins reset.
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-reset_status": {"status": "error"}})
        )
        .await
        .status,
        403
    );
    assert_eq!(
        act(
            &api,
            "admin",
            &id,
            json!({"os-reset_status": {"status": "bogus"}})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        act(
            &api,
            "admin",
            &id,
            json!({"os-reset_status": {"status": "error"}})
        )
        .await
        .status,
        202
    );
    assert_eq!(status(&api, &id).await, "error");
    assert_eq!(
        act(&api, "member", &id, json!({"os-force_delete": {}}))
            .await
            .status,
        403
    );
    assert_eq!(
        act(&api, "admin", &id, json!({"os-force_delete": {}}))
            .await
            .status,
        202
    );
    api.wait_gone("admin", &format!("/v3/volumes/{id}")).await;
    assert_eq!(
        act(&api, "member", &id, json!({"os-bogus": {}}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn retype_and_revert() {
    let api = api().await;
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "gold"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let id = avail(&api).await;
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-retype": {"new_type": "nope"}})
        )
        .await
        .status,
        404
    );
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-retype": {"new_type": "gold", "migration_policy": "never"}})
        )
        .await
        .status,
        202
    );
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]["volume_type"],
        "gold"
    );
    // Revert to the latest snapshot (3.40).
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    let s1 = r.body["snapshot"]["id"].as_str().expect("s").to_string();
    api.wait_snapshot("member", &s1, |s| s == "available").await;
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    let s2 = r.body["snapshot"]["id"].as_str().expect("s").to_string();
    api.wait_snapshot("member", &s2, |s| s == "available").await;
    let r = api
        .req(
            "POST",
            &format!("/v3/volumes/{id}/action"),
            Some("member"),
            Some("3.39"),
            Some(json!({"revert": {"snapshot_id": s2}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        act(&api, "member", &id, json!({"revert": {"snapshot_id": s1}}))
            .await
            .status,
        400
    );
    assert_eq!(
        act(&api, "member", &id, json!({"revert": {"snapshot_id": s2}}))
            .await
            .status,
        202
    );
    api.wait_volume("member", &id, |s| s == "available").await;
    assert!(api
        .backend
        .calls()
        .iter()
        .any(|c| c == &format!("snapshot_revert {id} snapshot-{s2}")));
}

#[tokio::test]
async fn initialize_connection_answers_file_connection_info() {
    let api = api().await;
    let id = avail(&api).await;
    assert_eq!(
        act(&api, "member", &id, json!({"os-initialize_connection": {}}))
            .await
            .status,
        400
    );
    let r = act(
        &api,
        "member",
        &id,
        json!({"os-initialize_connection": {"connector": {"host": "c1", "ip": "127.0.0.1"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ci = &r.body["connection_info"];
    assert_eq!(ci["driver_volume_type"], "file");
    assert_eq!(ci["data"]["path"], format!("/mem/{id}.qcow2"));
    assert_eq!(ci["data"]["format"], "qcow2");
    assert_eq!(ci["data"]["encrypted"], false);
    assert_eq!(ci["data"]["access_mode"], "rw");
    assert_eq!(
        act(
            &api,
            "member",
            &id,
            json!({"os-terminate_connection": {"connector": {"host": "c1"}}})
        )
        .await
        .status,
        202
    );
}
