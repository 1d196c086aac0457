//! Backups with the filesystem driver: create (the backend exports into the backups
//! directory), show/list shapes against Tempest's schema, restore to a new and to an
//! existing volume, quotas, delete, admin actions.

mod common;

use common::*;
use serde_json::json;

const BACKUP_KEYS: &[&str] = &[
    "status",
    "object_count",
    "container",
    "description",
    "links",
    "availability_zone",
    "created_at",
    "updated_at",
    "name",
    "has_dependent_backups",
    "volume_id",
    "fail_reason",
    "size",
    "id",
    "is_incremental",
    "data_timestamp",
    "snapshot_id",
    "os-backup-project-attr:project_id",
    "metadata",
    "user_id",
];
const BACKUP_REQUIRED: &[&str] = &[
    "status",
    "object_count",
    "fail_reason",
    "links",
    "created_at",
    "updated_at",
    "name",
    "volume_id",
    "size",
    "id",
    "data_timestamp",
];

async fn wait_backup(api: &Api, id: &str, pred: impl Fn(&str) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = api
            .req(
                "GET",
                &format!("/v3/backups/{id}"),
                Some("member"),
                None,
                None,
            )
            .await;
        let st = r.body["backup"]["status"]
            .as_str()
            .unwrap_or("gone")
            .to_string();
        if pred(&st) {
            return r.body["backup"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "backup {id} stuck in {st}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn backup_create_restore_delete() {
    let api = api().await;
    let vid = api
        .volume("member", json!({"size": 1, "metadata": {"m": "1"}}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .req(
            "POST",
            "/v3/backups",
            Some("member"),
            None,
            Some(json!({"backup": {"volume_id": vid, "name": "b1"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    check_keys(&r.body["backup"], &["id", "links", "name"], &["metadata"]);
    let bid = r.body["backup"]["id"].as_str().expect("id").to_string();
    let b = wait_backup(&api, &bid, |s| s != "creating").await;
    assert_eq!(b["status"], "available", "{b}");
    check_keys(&b, BACKUP_REQUIRED, BACKUP_KEYS);
    assert_eq!(b["size"], 1);
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"]["status"],
        "available"
    );
    assert!(api
        .backend
        .calls()
        .iter()
        .any(|c| c == &format!("export {vid} qcow2")));
    let file = api.dir.path().join("backups").join(format!("{bid}.qcow2"));
    assert!(file.exists(), "{}", file.display());
    // Lists.
    let r = api
        .req("GET", "/v3/backups", Some("member"), None, None)
        .await;
    check_keys(&r.body["backups"][0], &["id", "links", "name"], &[]);
    let r = api
        .req("GET", "/v3/backups/detail", Some("member"), None, None)
        .await;
    check_keys(&r.body["backups"][0], BACKUP_REQUIRED, BACKUP_KEYS);
    assert_eq!(
        api.get("/v3/backups", "other").await.body["backups"],
        json!([])
    );
    // Restore to a new volume.
    let r = api
        .post(
            &format!("/v3/backups/{bid}/restore"),
            "member",
            json!({"restore": {"name": "restored"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["restore"]["backup_id"], bid);
    assert_eq!(r.body["restore"]["volume_name"], "restored");
    let nv = r.body["restore"]["volume_id"]
        .as_str()
        .expect("vid")
        .to_string();
    let v = api
        .wait_volume("member", &nv, |s| s != "restoring-backup")
        .await;
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(
        api.backend.volumes.lock().expect("l")[&nv].from,
        "image:qcow2"
    );
    // The volume's metadata comes back with the data.
    assert_eq!(v["metadata"]["m"], "1");
    // Restore over the existing volume.
    let r = api
        .post(
            &format!("/v3/backups/{bid}/restore"),
            "member",
            json!({"restore": {"volume_id": vid}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = api
        .wait_volume("member", &vid, |s| s != "restoring-backup")
        .await;
    assert_eq!(v["status"], "available");
    // Update (3.9) and admin actions.
    let r = api
        .req(
            "PUT",
            &format!("/v3/backups/{bid}"),
            Some("member"),
            Some("3.43"),
            Some(json!({"backup": {"name": "b2", "metadata": {"k": "v"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["backup"]["metadata"], json!({"k": "v"}));
    let r = api
        .post(
            &format!("/v3/backups/{bid}/action"),
            "member",
            json!({"os-reset_status": {"status": "error"}}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Quotas count backups.
    let r = api
        .get(&format!("/v3/os-quota-sets/{P1}?usage=true"), "member")
        .await;
    assert_eq!(r.body["quota_set"]["backups"]["in_use"], 1);
    // Refusals.
    let r = api
        .post(
            "/v3/backups",
            "member",
            json!({"backup": {"volume_id": vid, "incremental": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        api.post(
            "/v3/backups",
            "member",
            json!({"backup": {"volume_id": uuid::Uuid::new_v4().to_string()}})
        )
        .await
        .status,
        404
    );
    // Delete.
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/backups/{bid}"),
            Some("member"),
            None,
            None
        )
        .await
        .status,
        202
    );
    wait_backup(&api, &bid, |s| s == "gone").await;
    assert!(!file.exists());
}
