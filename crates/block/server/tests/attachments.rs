//! The attachments API flow Nova uses (3.27/3.44), the OSSA-2023-003 rule, and
//! in-use volumes held open by QEMU: snapshots through Nova's assisted snapshots and
//! online extend through the `volume-extended` event (a fake compute + identity
//! server on loopback records the calls).

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use rustack_block_server::{BlockDeps, BlockService};
use serde_json::{json, Value};

#[derive(Default)]
struct FakeNova {
    calls: Mutex<Vec<(String, Value)>>,
    /// (server, volume) -> Nova's attachment id.
    attachments: Mutex<Vec<(String, String, String)>>,
    /// Servers `GET /servers/{id}` shows (others: Nova's 404 fault).
    servers: Mutex<Vec<String>>,
}

async fn tokens() -> (StatusCode, HeaderMap, Json<Value>) {
    let mut h = HeaderMap::new();
    h.insert("x-subject-token", "svc-token".parse().expect("hv"));
    (StatusCode::CREATED, h, Json(json!({"token": {}})))
}

fn fake_router(nova: Arc<FakeNova>) -> Router {
    Router::new()
        .route("/v3/auth/tokens", post(tokens))
        .route(
            "/compute/os-assisted-volume-snapshots",
            post(|State(n): State<Arc<FakeNova>>, h: HeaderMap, Json(b): Json<Value>| async move {
                assert_eq!(h["x-auth-token"], "svc-token");
                n.calls.lock().expect("l").push(("snapshot_create".into(), b));
                StatusCode::OK
            }),
        )
        .route(
            "/compute/os-assisted-volume-snapshots/{id}",
            axum::routing::delete(|State(n): State<Arc<FakeNova>>, Path(id): Path<String>, axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                n.calls.lock().expect("l").push(("snapshot_delete".into(), json!({"id": id, "query": q})));
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/compute/os-server-external-events",
            post(|State(n): State<Arc<FakeNova>>, Json(b): Json<Value>| async move {
                n.calls.lock().expect("l").push(("event".into(), b));
                StatusCode::OK
            }),
        )
        .route(
            "/compute/servers/{sid}/os-volume_attachments/{vid}",
            get(|State(n): State<Arc<FakeNova>>, Path((sid, vid)): Path<(String, String)>| async move {
                let found = n.attachments.lock().expect("l").iter().find(|(s, v, _)| *s == sid && *v == vid).map(|(_, _, a)| a.clone());
                match found {
                    Some(a) => (StatusCode::OK, Json(json!({"volumeAttachment": {"attachment_id": a}}))),
                    None => (StatusCode::NOT_FOUND, Json(json!({}))),
                }
            }),
        )
        .route(
            "/compute/servers/{sid}",
            get(|State(n): State<Arc<FakeNova>>, Path(sid): Path<String>| async move {
                if n.servers.lock().expect("l").contains(&sid) {
                    (StatusCode::OK, Json(json!({"server": {"id": sid}})))
                } else {
                    (StatusCode::NOT_FOUND, Json(json!({"itemNotFound": {"code": 404, "message": "Instance could not be found."}})))
                }
            }),
        )
        .with_state(nova)
}

async fn api_with_nova() -> (Api, Arc<FakeNova>) {
    let nova = Arc::new(FakeNova::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = fake_router(nova.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "block")
        .await
        .expect("url");
    let backend = Arc::new(MemBackend::default());
    let keys = Arc::new(MemKeys::default());
    let mut c = cfg();
    c.volumes_dir = Some(dir.path().join("volumes"));
    let deps = BlockDeps {
        compute_url: Some(format!("http://{addr}/compute")),
        identity_url: Some(format!("http://{addr}")),
        service_credentials: Some(rustack_identity_api::ServiceCredentials {
            username: "cinder".into(),
            password: "pw".into(),
            domain_name: "Default".into(),
            project_name: "service".into(),
        }),
        key_manager: Some(keys.clone()),
        ..BlockDeps::default()
    };
    let svc = BlockService::open(c, &url, backend.clone(), deps, Arc::new(Personas))
        .await
        .expect("open");
    let router = rustack_block_server::api::router(svc.clone());
    (
        Api {
            router,
            svc,
            backend,
            keys,
            dir,
            url,
        },
        nova,
    )
}

const ATT_VER: &str = "3.44";

async fn attach_flow(api: &Api, vid: &str, server: &str, live: bool) -> String {
    let r = api
        .req(
            "POST",
            "/v3/attachments",
            Some("member"),
            Some(ATT_VER),
            Some(json!({"attachment": {"volume_uuid": vid, "instance_uuid": server}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["attachment"]["status"], "reserved");
    let aid = r.body["attachment"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"]["status"],
        "reserved"
    );
    let connector = json!({"host": "compute1", "ip": "127.0.0.1", "rustack_live_file_access": live, "mountpoint": "/dev/vdb"});
    let r = api
        .req(
            "PUT",
            &format!("/v3/attachments/{aid}"),
            Some("member"),
            Some(ATT_VER),
            Some(json!({"attachment": {"connector": connector}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ci = &r.body["attachment"]["connection_info"];
    assert_eq!(ci["driver_volume_type"], "file");
    assert_eq!(ci["data"]["attachment_id"], aid);
    assert_eq!(ci["data"]["volume_id"], vid);
    assert_eq!(ci["data"]["access_mode"], "rw");
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"]["status"],
        "attaching"
    );
    let r = api
        .req(
            "POST",
            &format!("/v3/attachments/{aid}/action"),
            Some("member"),
            Some(ATT_VER),
            Some(json!({"os-complete": null})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let v = api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"].clone();
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["attachment_id"], aid);
    assert_eq!(v["attachments"][0]["host_name"], "compute1");
    aid
}

#[tokio::test]
async fn attachment_flow_and_delete_back_to_available() {
    let (api, _nova) = api_with_nova().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Before 3.27 the API does not exist.
    let r = api
        .req("GET", "/v3/attachments", Some("member"), Some("3.26"), None)
        .await;
    assert_eq!(r.status, 404);
    let server = uuid::Uuid::new_v4().to_string();
    let aid = attach_flow(&api, &vid, &server, false).await;
    let r = api
        .req(
            "GET",
            &format!("/v3/attachments/{aid}"),
            Some("member"),
            Some(ATT_VER),
            None,
        )
        .await;
    assert_eq!(r.body["attachment"]["status"], "attached");
    assert_eq!(r.body["attachment"]["instance"], server);
    let r = api
        .req(
            "GET",
            &format!("/v3/attachments?volume_id={vid}"),
            Some("member"),
            Some(ATT_VER),
            None,
        )
        .await;
    assert_eq!(r.body["attachments"].as_array().expect("l").len(), 1);
    // Nova does not know this attachment: a user's delete is allowed (Cinder asks Nova).
    let r = api
        .req(
            "DELETE",
            &format!("/v3/attachments/{aid}"),
            Some("member"),
            Some(ATT_VER),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"].clone();
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    // A reservation of a non-multiattach in-use volume for another server is refused.
    attach_flow(&api, &vid, &server, false).await;
    let r = api
        .req("POST", "/v3/attachments", Some("member"), Some(ATT_VER), Some(json!({"attachment": {"volume_uuid": vid, "instance_uuid": uuid::Uuid::new_v4().to_string()}})))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Unknown volume.
    let r = api
        .req(
            "POST",
            "/v3/attachments",
            Some("member"),
            Some(ATT_VER),
            Some(json!({"attachment": {"volume_uuid": uuid::Uuid::new_v4().to_string()}})),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn ossa_2023_003_user_delete_of_a_used_attachment_is_409() {
    let (api, nova) = api_with_nova().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let server = uuid::Uuid::new_v4().to_string();
    let aid = attach_flow(&api, &vid, &server, false).await;
    nova.attachments
        .lock()
        .expect("l")
        .push((server.clone(), vid.clone(), aid.clone()));
    // The user, without a service token: 409, for the attachment API and the legacy
    // detach and terminate_connection.
    let r = api
        .req(
            "DELETE",
            &format!("/v3/attachments/{aid}"),
            Some("member"),
            Some(ATT_VER),
            None,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body["conflictingRequest"]["message"].is_string());
    let r = api
        .post(
            &format!("/v3/volumes/{vid}/action"),
            "member",
            json!({"os-detach": {"attachment_id": aid}}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = api
        .post(
            &format!("/v3/volumes/{vid}/action"),
            "member",
            json!({"os-terminate_connection": {"connector": {}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    // An invalid service token does not count.
    let r = api
        .req_h(
            "DELETE",
            &format!("/v3/attachments/{aid}"),
            Some("member"),
            Some(ATT_VER),
            None,
            &[("x-service-token", "reader")],
        )
        .await;
    assert_eq!(r.status, 409);
    // Nova's call with a service token is allowed.
    let r = api
        .req_h(
            "DELETE",
            &format!("/v3/attachments/{aid}"),
            Some("member"),
            Some(ATT_VER),
            None,
            &[("x-service-token", "service")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"]["status"],
        "available"
    );
}

#[tokio::test]
async fn live_volume_snapshots_and_extend_go_through_nova() {
    let (api, nova) = api_with_nova().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let server = uuid::Uuid::new_v4().to_string();
    attach_flow(&api, &vid, &server, true).await;
    let before = api.backend.calls().len();
    // Snapshot of the in-use volume (force before 3.66).
    let r = api
        .req(
            "POST",
            "/v3/snapshots",
            Some("member"),
            None,
            Some(json!({"snapshot": {"volume_id": vid}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .req(
            "POST",
            "/v3/snapshots",
            Some("member"),
            None,
            Some(json!({"snapshot": {"volume_id": vid, "force": true}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    api.wait_snapshot("member", &sid, |s| s == "available")
        .await;
    {
        let calls = nova.calls.lock().expect("l");
        assert_eq!(calls[0].0, "snapshot_create");
        assert_eq!(calls[0].1["snapshot"]["volume_id"], vid);
        assert_eq!(calls[0].1["snapshot"]["create_info"]["snapshot_id"], sid);
        assert_eq!(
            calls[0].1["snapshot"]["create_info"]["type"],
            "qcow2-internal"
        );
        assert_eq!(
            calls[0].1["snapshot"]["create_info"]["name"],
            format!("snapshot-{sid}")
        );
    }
    // Delete it through Nova too.
    let r = api
        .req(
            "DELETE",
            &format!("/v3/snapshots/{sid}"),
            Some("member"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    api.wait_gone("member", &format!("/v3/snapshots/{sid}"))
        .await;
    {
        let calls = nova.calls.lock().expect("l");
        assert_eq!(calls[1].0, "snapshot_delete");
        assert_eq!(calls[1].1["id"], sid);
        let q = calls[1].1["query"].as_str().expect("query");
        let info: Value = serde_json::from_str(
            &form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "delete_info")
                .expect("delete_info")
                .1,
        )
        .expect("json");
        assert_eq!(info["volume_id"], vid);
        assert_eq!(info["name"], format!("snapshot-{sid}"));
    }
    // Online extend: the event, never the backend.
    let r = api
        .req(
            "POST",
            &format!("/v3/volumes/{vid}/action"),
            Some("member"),
            Some("3.42"),
            Some(json!({"os-extend": {"new_size": 2}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v = api.wait_volume("member", &vid, |s| s == "in-use").await;
    assert_eq!(v["size"], 2);
    {
        let calls = nova.calls.lock().expect("l");
        assert_eq!(calls[2].0, "event");
        assert_eq!(
            calls[2].1["events"][0],
            json!({"name": "volume-extended", "server_uuid": server, "tag": vid})
        );
    }
    // The backend saw none of it.
    let after: Vec<String> = api.backend.calls()[before..].to_vec();
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn without_compute_live_snapshots_fail_clearly() {
    let api = api().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let server = uuid::Uuid::new_v4().to_string();
    attach_flow(&api, &vid, &server, true).await;
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": vid}}),
        )
        .await;
    assert_eq!(
        r.status, 202,
        "in-use without force is fine from 3.66: {}",
        r.body
    );
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    let s = api.wait_snapshot("member", &sid, |s| s != "creating").await;
    assert_eq!(s["status"], "error");
}

#[tokio::test]
async fn restart_removes_attachments_whose_server_is_gone() {
    let (api, nova) = api_with_nova().await;
    let vol = |n: &str| {
        let api = &api;
        let n = n.to_string();
        async move {
            api.volume("member", json!({"size": 1, "name": n})).await["id"]
                .as_str()
                .expect("id")
                .to_string()
        }
    };
    let (v_live, v_gone) = (vol("live").await, vol("gone").await);
    let live = uuid::Uuid::new_v4().to_string();
    let gone = uuid::Uuid::new_v4().to_string();
    nova.servers.lock().expect("l").push(live.clone());
    let a_live = attach_flow(&api, &v_live, &live, false).await;
    let a_gone = attach_flow(&api, &v_gone, &gone, false).await;
    // The periodic pass never asks Compute.
    let r = rustack_block_server::reconcile::run_once(&api.svc, false)
        .await
        .expect("reconcile");
    assert!(r.attachments.is_empty(), "{r:?}");
    let r = rustack_block_server::reconcile::run_once(&api.svc, true)
        .await
        .expect("reconcile");
    assert_eq!(r.attachments, vec![a_gone.clone()]);
    let v = api
        .get(&format!("/v3/volumes/{v_gone}"), "member")
        .await
        .body["volume"]
        .clone();
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    let v = api
        .get(&format!("/v3/volumes/{v_live}"), "member")
        .await
        .body["volume"]
        .clone();
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["attachment_id"], a_live);
    // Idempotent.
    let r = rustack_block_server::reconcile::run_once(&api.svc, true)
        .await
        .expect("reconcile");
    assert!(r.attachments.is_empty(), "{r:?}");
}

#[tokio::test]
async fn restart_removes_an_attachment_that_never_completed() {
    let (api, nova) = api_with_nova().await;
    let vid = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let done = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    // Both servers exist: only the attach's progress decides.
    let (s1, s2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    nova.servers
        .lock()
        .expect("l")
        .extend([s1.clone(), s2.clone()]);
    let a_done = attach_flow(&api, &done, &s1, false).await;
    // Reserved and connected, never completed: the volume is `attaching`.
    let r = api
        .req(
            "POST",
            "/v3/attachments",
            Some("member"),
            Some(ATT_VER),
            Some(json!({"attachment": {"volume_uuid": vid,
                "instance_uuid": s2,
                "connector": {"host": "compute1", "ip": "127.0.0.1"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let status = |id: String| {
        let api = &api;
        async move { api.get(&format!("/v3/volumes/{id}"), "member").await.body["volume"].clone() }
    };
    assert_eq!(status(vid.clone()).await["status"], "attaching");
    let r = rustack_block_server::reconcile::run_once(&api.svc, true)
        .await
        .expect("reconcile");
    assert!(
        r.volumes
            .contains(&(vid.clone(), "attaching".into(), "available".into())),
        "{r:?}"
    );
    let v = status(vid.clone()).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    let r = api
        .req(
            "GET",
            &format!("/v3/attachments?volume_id={vid}"),
            Some("member"),
            Some(ATT_VER),
            None,
        )
        .await;
    assert_eq!(r.body["attachments"], json!([]), "{}", r.body);
    // The completed one is kept.
    let v = status(done.clone()).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["attachment_id"], a_done);
}
