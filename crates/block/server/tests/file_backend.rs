//! The service over the real file backend (`rustack-block-agent`'s `FileBackend`,
//! qcow2 files through `qemu-img`): an encrypted volume, a snapshot, a volume from the
//! snapshot, an offline extend and deletes, with the data checked on disk. Skipped
//! when `qemu-img` is not installed.

mod common;

use std::sync::Arc;

use common::*;
use rustack_block_server::{BlockDeps, BlockService};
use serde_json::json;

fn have_qemu_img() -> bool {
    std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn qemu_info(path: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new("qemu-img")
        .args(["info", "--output=json", "-U"])
        .arg(path)
        .output()
        .expect("qemu-img info");
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test]
async fn encrypted_volume_on_the_file_backend() {
    if !have_qemu_img() {
        eprintln!("qemu-img not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let vols = dir.path().join("volumes");
    let backend =
        Arc::new(rustack_block_agent::FileBackend::new(vols.clone()).expect("file backend"));
    let url = rustack_db::fresh_test_url(dir.path(), "block")
        .await
        .expect("url");
    let keys = Arc::new(MemKeys::default());
    let mut c = cfg();
    c.volumes_dir = Some(vols.clone());
    let deps = BlockDeps {
        key_manager: Some(keys.clone()),
        ..BlockDeps::default()
    };
    let svc = BlockService::open(c, &url, backend, deps, Arc::new(Personas))
        .await
        .expect("open");
    let router = rustack_block_server::api::router(svc.clone());
    let api = Api {
        router,
        svc,
        backend: Arc::new(MemBackend::default()),
        keys,
        dir,
        url,
    };

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
    let r = api
        .post(
            &format!("/v3/types/{tid}/encryption"),
            "admin",
            json!({"encryption": {"provider": "luks", "control_location": "front-end"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = api
        .volume("member", json!({"size": 1, "volume_type": tid}))
        .await;
    assert_eq!(v["status"], "available", "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let path = vols.join(format!("{id}.qcow2"));
    let info = qemu_info(&path);
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual-size"], 1u64 << 30, "{info}");
    assert_eq!(
        info["format-specific"]["data"]["encrypt"]["format"], "luks",
        "{info}"
    );
    // The attach handshake answers that file.
    let r = api
        .post(
            &format!("/v3/volumes/{id}/action"),
            "member",
            json!({"os-initialize_connection": {"connector": {"host": "h"}}}),
        )
        .await;
    assert_eq!(
        r.body["connection_info"]["data"]["path"],
        path.display().to_string()
    );
    assert_eq!(r.body["connection_info"]["data"]["encrypted"], true);
    // Snapshot, then a volume from it.
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": id}}),
        )
        .await;
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    let s = api.wait_snapshot("member", &sid, |s| s != "creating").await;
    assert_eq!(s["status"], "available", "{s}");
    let f = api.volume("member", json!({"snapshot_id": sid})).await;
    assert_eq!(f["status"], "available", "{f}");
    let fid = f["id"].as_str().expect("id").to_string();
    assert!(vols.join(format!("{fid}.qcow2")).exists());
    // Offline extend.
    assert_eq!(
        api.post(
            &format!("/v3/volumes/{fid}/action"),
            "member",
            json!({"os-extend": {"new_size": 2}})
        )
        .await
        .status,
        202
    );
    let f = api.wait_volume("member", &fid, |s| s != "extending").await;
    assert_eq!(f["status"], "available", "{f}");
    assert_eq!(f["size"], 2);
    let info = qemu_info(&vols.join(format!("{fid}.qcow2")));
    assert!(
        info["virtual-size"].as_u64().expect("size") >= 2u64 << 30,
        "{info}"
    );
    // Deletes remove the files and the keys.
    for vid in [&fid, &id] {
        let r = api
            .req(
                "DELETE",
                &format!("/v3/volumes/{vid}?cascade=true"),
                Some("member"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        api.wait_gone("member", &format!("/v3/volumes/{vid}")).await;
        assert!(!vols.join(format!("{vid}.qcow2")).exists());
    }
    assert!(api.keys.secrets.lock().expect("l").is_empty());
}
