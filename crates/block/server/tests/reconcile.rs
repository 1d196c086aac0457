//! Crash recovery: rows left in transitional statuses are moved to truthful states
//! when the service reopens, orphans on the backend are removed, and `run` starts the
//! reconciler.

mod common;

use std::sync::Arc;

use common::*;
use rustack_block_server::model::{Attachment, Volume};
use rustack_block_server::reconcile::run_once;
use rustack_block_server::store::Kind;
use serde_json::json;

fn row(id: &str, status: &str) -> Volume {
    Volume {
        id: id.into(),
        project_id: P1.into(),
        user_id: "u".into(),
        name: Some(status.into()),
        description: None,
        size: 1,
        status: status.into(),
        previous_status: None,
        attach_status: "detached".into(),
        availability_zone: "nova".into(),
        volume_type_id: String::new(),
        snapshot_id: None,
        source_volid: None,
        bootable: false,
        readonly: false,
        readonly_shown: false,
        multiattach: false,
        metadata: Default::default(),
        image_metadata: Default::default(),
        encryption_key_id: None,
        location: None,
        host: "testhost@file#file".into(),
        created_at: "2026-01-01T00:00:00.000000".into(),
        updated_at: None,
        status_changed: 0,
        migration_status: None,
    }
}

#[tokio::test]
async fn reopen_moves_stuck_rows_to_truthful_states() {
    let api = api().await;
    // A real volume that was being deleted, and one that was detaching.
    let del = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let det = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api.post(&format!("/v3/volumes/{det}/action"), "member", json!({"os-attach": {"instance_uuid": uuid::Uuid::new_v4().to_string(), "mountpoint": "/dev/vdb"}})).await;
    assert_eq!(r.status, 202);
    let store = api.svc.store().clone();
    let mut d: Volume = store
        .get(Kind::Volume, &del)
        .await
        .expect("get")
        .expect("row");
    d.status = "deleting".into();
    store.put(Kind::Volume, &del, P1, &d).await.expect("put");
    let mut t: Volume = store
        .get(Kind::Volume, &det)
        .await
        .expect("get")
        .expect("row");
    t.status = "detaching".into();
    store.put(Kind::Volume, &det, P1, &t).await.expect("put");
    // Rows a crash left: creating, reserved (old, no connector), extending.
    let creating = uuid::Uuid::new_v4().to_string();
    store
        .put(Kind::Volume, &creating, P1, &row(&creating, "creating"))
        .await
        .expect("put");
    let reserved = uuid::Uuid::new_v4().to_string();
    store
        .put(Kind::Volume, &reserved, P1, &row(&reserved, "reserved"))
        .await
        .expect("put");
    let att = Attachment {
        id: uuid::Uuid::new_v4().to_string(),
        volume_id: reserved.clone(),
        project_id: P1.into(),
        instance_uuid: None,
        attach_status: "reserved".into(),
        attach_mode: "rw".into(),
        connector: None,
        connection_info: None,
        attached_host: None,
        mountpoint: None,
        attach_time: None,
        detach_time: None,
        created: 0,
    };
    store
        .put(Kind::Attachment, &att.id, P1, &att)
        .await
        .expect("put");
    // An orphan on the backend.
    api.backend
        .volumes
        .lock()
        .expect("l")
        .insert("orphan-vol".into(), MemVolume::default());

    // Reopen on the same database and backend ("restart").
    let Api {
        dir,
        url,
        backend,
        keys,
        ..
    } = api;
    let api = open(dir, url, cfg(), backend, keys).await;
    let report = run_once(&api.svc, true).await.expect("reconcile");
    assert_eq!(report.orphans, vec!["orphan-vol".to_string()]);
    let status = |id: String| {
        let api = &api;
        async move {
            api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]["status"].clone()
        }
    };
    assert_eq!(status(creating.clone()).await, "error");
    assert_eq!(status(reserved.clone()).await, "available");
    assert_eq!(status(det.clone()).await, "in-use");
    assert_eq!(
        api.get(&format!("/v3/volumes/{del}"), "member")
            .await
            .status,
        404
    );
    assert!(!api.backend.volumes.lock().expect("l").contains_key(&del));
    assert!(!api
        .backend
        .volumes
        .lock()
        .expect("l")
        .contains_key("orphan-vol"));
    assert!(api.backend.calls().iter().any(|c| c == "cleanup"));
    // A second pass changes nothing.
    let again = run_once(&api.svc, true).await.expect("reconcile");
    assert!(
        again.volumes.is_empty() && again.orphans.is_empty(),
        "{again:?}"
    );
}

#[tokio::test]
async fn periodic_pass_leaves_fresh_transitions_alone() {
    let api = api().await;
    let id = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.post(
            &format!("/v3/volumes/{id}/action"),
            "member",
            json!({"os-reserve": {}})
        )
        .await
        .status,
        202
    );
    let report = run_once(&api.svc, false).await.expect("reconcile");
    assert!(report.volumes.is_empty(), "{report:?}");
    assert_eq!(
        api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"]["status"],
        "attaching"
    );
}

#[tokio::test]
async fn run_serves_and_reconciles() {
    let api = api().await;
    let creating = uuid::Uuid::new_v4().to_string();
    api.svc
        .store()
        .put(Kind::Volume, &creating, P1, &row(&creating, "creating"))
        .await
        .expect("put");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let running = rustack_block_server::run(Arc::clone(&api.svc), listener, shutdown).expect("run");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = client
            .get(format!(
                "http://{}/v3/{P1}/volumes/{creating}",
                running.addr
            ))
            .header("x-auth-token", "member")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value = r.json().await.expect("json");
        if v["volume"]["status"] == "error" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reconciled: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = client
        .get(format!("http://{}/", running.addr))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 300);
    trigger.trigger();
    running.task.await.expect("join").expect("serve");
}
