//! Volumes from images and uploads to images, against a fake Image API on loopback
//! (Tempest's `test_volume_create_get_update_delete_from_image`, `test_volume_bootable`
//! and `test_volume_upload`).

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use common::*;
use rustack_block_server::{BlockDeps, BlockService};
use serde_json::{json, Value};

#[derive(Default)]
struct FakeGlance {
    images: Mutex<Vec<Value>>,
    uploads: Mutex<Vec<(String, Vec<u8>)>>,
}

fn router(g: Arc<FakeGlance>) -> Router {
    Router::new()
        .route(
            "/v2/images",
            post(|State(g): State<Arc<FakeGlance>>, h: HeaderMap, Json(mut b): Json<Value>| async move {
                assert_eq!(h["x-auth-token"], "member");
                b["id"] = json!(uuid::Uuid::new_v4().to_string());
                b["status"] = json!("queued");
                g.images.lock().expect("l").push(b.clone());
                (StatusCode::CREATED, Json(b))
            }),
        )
        .route(
            "/v2/images/{id}",
            get(|State(g): State<Arc<FakeGlance>>, Path(id): Path<String>| async move {
                match g.images.lock().expect("l").iter().find(|i| i["id"] == id.as_str()) {
                    Some(i) => (StatusCode::OK, Json(i.clone())),
                    None => (StatusCode::NOT_FOUND, Json(json!({}))),
                }
            }),
        )
        .route(
            "/v2/images/{id}/file",
            get(|Path(_id): Path<String>| async move { vec![7u8; 1024] }).merge(put(
                |State(g): State<Arc<FakeGlance>>, Path(id): Path<String>, body: axum::body::Bytes| async move {
                    g.uploads.lock().expect("l").push((id, body.to_vec()));
                    StatusCode::NO_CONTENT
                },
            )),
        )
        .with_state(g)
}

async fn api_with_glance() -> (Api, Arc<FakeGlance>) {
    let g = Arc::new(FakeGlance::default());
    g.images.lock().expect("l").push(json!({
        "id": "5d5b1a8e-0000-4000-8000-000000000001",
        "name": "cirros",
        "status": "active",
        "disk_format": "qcow2",
        "container_format": "bare",
        "size": 1024,
        "min_disk": 0,
        "min_ram": 0,
        "checksum": "abc",
        "os_distro": "cirros",
        "visibility": "public",
    }));
    g.images.lock().expect("l").push(json!({
        "id": "5d5b1a8e-0000-4000-8000-000000000002",
        "name": "big",
        "status": "active",
        "disk_format": "raw",
        "size": 3u64 << 30,
        "min_disk": 0,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(g.clone());
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
        image_url: Some(format!("http://{addr}")),
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
        g,
    )
}

#[tokio::test]
async fn volume_from_image_is_bootable_with_image_metadata() {
    let (api, _g) = api_with_glance().await;
    let v = api
        .volume(
            "member",
            json!({"size": 1, "imageRef": "5d5b1a8e-0000-4000-8000-000000000001"}),
        )
        .await;
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["bootable"], "true");
    assert_eq!(
        v["volume_image_metadata"]["image_id"],
        "5d5b1a8e-0000-4000-8000-000000000001"
    );
    assert_eq!(v["volume_image_metadata"]["image_name"], "cirros");
    assert_eq!(v["volume_image_metadata"]["os_distro"], "cirros");
    assert_eq!(v["volume_image_metadata"]["disk_format"], "qcow2");
    let id = v["id"].as_str().expect("id");
    assert_eq!(
        api.backend.volumes.lock().expect("l")[id].from,
        "image:qcow2"
    );
    // The download's temporary file is gone.
    let tmp = api.dir.path().join("volumes").join(".tmp");
    assert_eq!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0), 0);
    // Size defaults to the image's; too small is 400; unknown image is 400.
    let r = api
        .post(
            "/v3/volumes",
            "member",
            json!({"volume": {"size": 1, "imageRef": "5d5b1a8e-0000-4000-8000-000000000002"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = api
        .post(
            "/v3/volumes",
            "member",
            json!({"volume": {"size": 1, "imageRef": uuid::Uuid::new_v4().to_string()}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let v = api
        .volume(
            "member",
            json!({"imageRef": "5d5b1a8e-0000-4000-8000-000000000002"}),
        )
        .await;
    assert_eq!(v["size"], 3);
    // Clones keep bootable and the image metadata.
    let c = api.volume("member", json!({"source_volid": id})).await;
    assert_eq!(c["bootable"], "true");
    assert_eq!(c["volume_image_metadata"]["image_name"], "cirros");
}

#[tokio::test]
async fn upload_to_image_exports_and_restores_status() {
    let (api, g) = api_with_glance().await;
    let v = api.volume("member", json!({"size": 1})).await;
    let id = v["id"].as_str().expect("id").to_string();
    let r = api
        .req("POST", &format!("/v3/volumes/{id}/action"), Some("member"), None, Some(json!({"os-volume_upload_image": {"image_name": "up", "disk_format": "raw", "container_format": "bare", "force": false}})))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let up = &r.body["os-volume_upload_image"];
    assert_eq!(up["status"], "uploading");
    assert_eq!(up["image_name"], "up");
    let image_id = up["image_id"].as_str().expect("image id").to_string();
    let v = api.wait_volume("member", &id, |s| s == "available").await;
    assert_eq!(v["status"], "available");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while g.uploads.lock().expect("l").is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        g.uploads.lock().expect("l")[0],
        (image_id, b"data".to_vec())
    );
    assert!(api
        .backend
        .calls()
        .iter()
        .any(|c| c == &format!("export {id} raw")));
    // Refusals: bad format, in-use without force, public as a member.
    let body = |extra: Value| {
        let mut b = json!({"image_name": "x", "disk_format": "raw", "container_format": "bare"});
        if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        json!({"os-volume_upload_image": b})
    };
    let path = format!("/v3/volumes/{id}/action");
    assert_eq!(
        api.post(&path, "member", body(json!({"disk_format": "vmdk"})))
            .await
            .status,
        400
    );
    assert_eq!(
        api.post(&path, "member", body(json!({"visibility": "public"})))
            .await
            .status,
        403
    );
    assert_eq!(api.post(&path, "reader", body(json!({}))).await.status, 403);
    api.post(&path, "member", json!({"os-attach": {"instance_uuid": uuid::Uuid::new_v4().to_string(), "mountpoint": "/dev/vdb"}})).await;
    assert_eq!(api.post(&path, "member", body(json!({}))).await.status, 400);
    assert_eq!(
        api.post(&path, "member", body(json!({"force": true})))
            .await
            .status,
        202
    );
    api.wait_volume("member", &id, |s| s == "in-use").await;
}

#[tokio::test]
async fn encrypted_upload_is_raw_with_a_cloned_key() {
    let (api, g) = api_with_glance().await;
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "luks"}}),
        )
        .await;
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    api.post(
        &format!("/v3/types/{tid}/encryption"),
        "admin",
        json!({"encryption": {"provider": "luks", "control_location": "front-end"}}),
    )
    .await;
    let v = api
        .volume("member", json!({"size": 1, "volume_type": tid}))
        .await;
    let id = v["id"].as_str().expect("id").to_string();
    let path = format!("/v3/volumes/{id}/action");
    let r = api
        .post(
            &path,
            "member",
            json!({"os-volume_upload_image": {"image_name": "enc", "disk_format": "qcow2"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .post(
            &path,
            "member",
            json!({"os-volume_upload_image": {"image_name": "enc", "disk_format": "raw"}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let image_id = r.body["os-volume_upload_image"]["image_id"]
        .as_str()
        .expect("image")
        .to_string();
    let img = g
        .images
        .lock()
        .expect("l")
        .iter()
        .find(|i| i["id"] == image_id.as_str())
        .cloned()
        .expect("image");
    let cloned = img["cinder_encryption_key_id"]
        .as_str()
        .expect("key id")
        .to_string();
    let own = api
        .get(&format!("/v3/volumes/{id}/encryption"), "member")
        .await
        .body["encryption_key_id"]
        .as_str()
        .expect("k")
        .to_string();
    assert_ne!(cloned, own);
    let secrets = api.keys.secrets.lock().expect("l");
    assert_eq!(secrets[&cloned], secrets[&own]);
}
