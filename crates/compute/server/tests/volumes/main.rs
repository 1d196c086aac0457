//! Volumes on servers over the in-process cloud: `os-volume_attachments` (attach,
//! list, show, detach, negatives, rollbacks), volumes surviving stop/start and passed
//! to every respawn, encrypted volumes (passphrase from the key manager), boot from
//! volume with `delete_on_termination`, assisted snapshots, external events, the
//! `/os-volumes` proxies and authorization. Block Storage is an in-test fake
//! implementing the attachment state machine (`fakes.rs`).

#![allow(clippy::unwrap_used)]

mod fakes;
#[path = "../servers/harness.rs"]
mod harness;
mod real;

use std::sync::Arc;

use fakes::{FakeCinder, FakeKeys, VolDriver};
use harness::{harness, Harness, Project};
use reqwest::Method;
use serde_json::{json, Value};

struct Env {
    h: Harness,
    cinder: FakeCinder,
    driver: Arc<VolDriver>,
    p: Project,
    img: String,
    fl: String,
}

async fn env() -> Env {
    let h = harness().await;
    // The shapes of later microversions are tested before the advertised maximum
    // reaches them.
    h.compute.serve_microversions_up_to_for_tests(104);
    let cinder = FakeCinder::start().await;
    h.servers.set_block_storage(&cinder.url).unwrap();
    h.servers.set_key_manager(Arc::new(FakeKeys));
    let driver = VolDriver::new(h.driver.clone());
    h.servers.add_host("test-host", driver.clone());
    let p = h.project("alice").await;
    let img = h.image("cirros").await;
    let fl = h.flavor("21", 1, 128, 1).await;
    Env {
        h,
        cinder,
        driver,
        p,
        img,
        fl,
    }
}

impl Env {
    async fn server(&self, name: &str) -> String {
        let r = self.h.boot(&self.p, name, &self.img, &self.fl).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let id = r.body["server"]["id"].as_str().unwrap().to_string();
        self.h.wait_status(&self.p.token, &id, "ACTIVE").await;
        id
    }

    async fn attach(&self, v: &str, server: &str, vol: &str, extra: Value) -> harness::R {
        let mut body = json!({"volumeAttachment": {"volumeId": vol}});
        if let (Some(o), Some(e)) = (body["volumeAttachment"].as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                o.insert(k.clone(), x.clone());
            }
        }
        self.h
            .nova_v(
                v,
                Method::POST,
                &format!("/servers/{server}/os-volume_attachments"),
                &self.p.token,
                Some(body),
            )
            .await
    }
}

#[tokio::test]
async fn attach_list_show_detach() {
    let e = env().await;
    let s = e.server("vm").await;
    let vol = e.cinder.volume(1, false, false, false);
    let r = e
        .attach(
            "2.79",
            &s,
            &vol,
            json!({"tag": "data", "delete_on_termination": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let va = &r.body["volumeAttachment"];
    assert_eq!(va["id"], vol.as_str());
    assert_eq!(va["volumeId"], vol.as_str());
    assert_eq!(va["serverId"], s.as_str());
    assert_eq!(va["device"], "/dev/vdb");
    assert_eq!(va["tag"], "data");
    assert_eq!(va["delete_on_termination"], true);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("in-use"));
    let got = e.driver.volumes_of(&s);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].volume_id, vol);
    assert!(got[0].luks_passphrase.is_none());
    // Every attachment call carried the service token; the connector said QEMU holds
    // the file open.
    {
        let st = e.cinder.state.lock();
        assert!(st
            .calls
            .iter()
            .filter(|(c, _)| c.contains("attachments"))
            .all(|(_, svc)| *svc));
        let a = st.attachments.values().next().unwrap();
        assert_eq!(a["connector"]["rustack_live_file_access"], true);
        assert_eq!(a["connector"]["host"], "test-host");
    }

    // 2.1 list: id, no tag; 2.89: attachment_id + bdm_uuid, no id.
    let r =
        e.h.nova(
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let l = &r.body["volumeAttachments"][0];
    assert_eq!(l["id"], vol.as_str());
    assert!(l.get("tag").is_none());
    assert!(l.get("delete_on_termination").is_none());
    let r =
        e.h.nova_v(
            "2.89",
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let one = &r.body["volumeAttachment"];
    assert!(one.get("id").is_none());
    assert!(one["attachment_id"].is_string());
    assert!(one["bdm_uuid"].is_string());
    assert_eq!(one["tag"], "data");

    // The server shows the volume (delete_on_termination from 2.3).
    let r =
        e.h.nova_v(
            "2.3",
            Method::GET,
            &format!("/servers/{s}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(
        r.body["server"]["os-extended-volumes:volumes_attached"],
        json!([{"id": vol, "delete_on_termination": true}])
    );

    // Unknown attachment: 404.
    let other = uuid::Uuid::new_v4();
    let r =
        e.h.nova(
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments/{other}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Detach.
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("available"));
    assert_eq!(e.cinder.attachments_of(&vol), 0);
    assert!(e.driver.volumes_of(&s).is_empty());
    let r =
        e.h.nova(
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.body["volumeAttachments"], json!([]));
    // Detaching again: 404.
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test]
async fn attach_negatives() {
    let e = env().await;
    let s = e.server("vm").await;
    let s2 = e.server("vm2").await;
    let vol = e.cinder.volume(1, false, false, false);
    assert_eq!(e.attach("2.1", &s, &vol, json!({})).await.status, 200);
    // Twice on the same server, or in-use elsewhere: 400.
    let r = e.attach("2.1", &s, &vol, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("already attached"));
    let r = e.attach("2.1", &s2, &vol, json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    // No such volume: 404.
    let r = e
        .attach("2.1", &s, &uuid::Uuid::new_v4().to_string(), json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // Schema: bad uuid, tag before 2.49, delete_on_termination before 2.79.
    assert_eq!(e.attach("2.1", &s, "nope", json!({})).await.status, 400);
    let v2 = e.cinder.volume(1, false, false, false);
    assert_eq!(
        e.attach("2.48", &s, &v2, json!({"tag": "x"})).await.status,
        400
    );
    assert_eq!(
        e.attach("2.78", &s, &v2, json!({"delete_on_termination": true}))
            .await
            .status,
        400
    );
    // Swap is refused honestly (admin).
    let r =
        e.h.nova(
            Method::PUT,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &e.h.admin,
            Some(json!({"volumeAttachment": {"volumeId": v2}})),
        )
        .await;
    assert_eq!(r.status, 501, "{}", r.body);
    // 2.85: the owner updates delete_on_termination of the same volume; other
    // properties are immutable.
    let put = |v: &str, body: Value| {
        let path = format!("/servers/{s}/os-volume_attachments/{vol}");
        let token = e.p.token.clone();
        let v = v.to_string();
        let h = &e.h;
        async move { h.nova_v(&v, Method::PUT, &path, &token, Some(body)).await }
    };
    let r = put(
        "2.85",
        json!({"volumeAttachment": {"volumeId": vol, "delete_on_termination": true}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r =
        e.h.nova_v(
            "2.85",
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.body["volumeAttachment"]["delete_on_termination"], true);
    let r = put(
        "2.85",
        json!({"volumeAttachment": {"volumeId": vol, "tag": "other"}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Before 2.85 the same request is a swap: admin only.
    let r = put("2.84", json!({"volumeAttachment": {"volumeId": vol}})).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Deleting an in-use volume through the proxy: Cinder refuses, 400.
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/os-volumes/{vol}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("in-use"));
}

#[tokio::test]
async fn failed_attach_is_undone() {
    let e = env().await;
    let s = e.server("vm").await;
    let vol = e.cinder.volume(1, false, false, false);
    *e.driver.fail_attach.lock() = true;
    let r = e.attach("2.1", &s, &vol, json!({})).await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("available"));
    assert_eq!(e.cinder.attachments_of(&vol), 0);
    let r =
        e.h.nova(
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.body["volumeAttachments"], json!([]));
    // Block storage failing the connection: undone as well, and a retry works.
    e.cinder.state.lock().fail_update = true;
    let r = e.attach("2.1", &s, &vol, json!({})).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("available"));
    assert_eq!(e.attach("2.1", &s, &vol, json!({})).await.status, 200);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("in-use"));
}

#[tokio::test]
async fn volumes_survive_power_cycle_and_respawns() {
    let e = env().await;
    let s = e.server("vm").await;
    let vol = e.cinder.volume(1, false, false, false);
    assert_eq!(e.attach("2.1", &s, &vol, json!({})).await.status, 200);
    for action in ["os-stop", "os-start"] {
        let r =
            e.h.nova(
                Method::POST,
                &format!("/servers/{s}/action"),
                &e.p.token,
                Some(json!({ action: null })),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let want = if action == "os-stop" {
            "SHUTOFF"
        } else {
            "ACTIVE"
        };
        e.h.wait_status(&e.p.token, &s, want).await;
    }
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("in-use"));
    let r =
        e.h.nova(
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.body["volumeAttachments"][0]["volumeId"], vol.as_str());
    // A rebuild passes the volume to the driver.
    let r =
        e.h.nova(
            Method::POST,
            &format!("/servers/{s}/action"),
            &e.p.token,
            Some(json!({"rebuild": {"imageRef": e.img}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    e.h.wait_status(&e.p.token, &s, "ACTIVE").await;
    let last = e.driver.spawned.lock().last().cloned().unwrap();
    assert_eq!(last.uuid, s);
    assert_eq!(last.volumes.len(), 1);
    assert_eq!(last.volumes[0].volume_id, vol);
    // Deleting the server releases the volume (not deleted: no delete_on_termination).
    let r =
        e.h.nova(Method::DELETE, &format!("/servers/{s}"), &e.p.token, None)
            .await;
    assert_eq!(r.status, 204);
    e.h.wait_gone(&e.p.token, &s).await;
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("available"));
    assert_eq!(e.cinder.attachments_of(&vol), 0);
}

#[tokio::test]
async fn encrypted_volume_gets_the_hex_passphrase() {
    let e = env().await;
    let s = e.server("vm").await;
    let vol = e.cinder.volume(1, false, true, false);
    assert_eq!(e.attach("2.1", &s, &vol, json!({})).await.status, 200);
    let got = e.driver.volumes_of(&s);
    let want: String = (0u8..32).map(|b| format!("{b:02x}")).collect();
    assert_eq!(got[0].luks_passphrase.as_deref(), Some(want.as_str()));
    // Never stored.
    let mut c = e.h.compute.conn().await.unwrap();
    let rows = rustack_compute_server::volumes::store::for_instance(&mut c, &s)
        .await
        .unwrap();
    let ci = rows[0].connection_info.clone().unwrap();
    assert!(!ci.contains(&want), "{ci}");
    assert!(ci.contains("\"encrypted\":true"), "{ci}");
}

#[tokio::test]
async fn boot_from_volume_and_delete_on_termination() {
    let e = env().await;
    let body = json!({"server": {"name": "bfv", "imageRef": "", "flavorRef": e.fl,
        "networks": [{"uuid": e.p.network}],
        "block_device_mapping_v2": [{"source_type": "image", "destination_type": "volume",
            "uuid": e.img, "boot_index": 0, "volume_size": 1, "delete_on_termination": true}]}});
    let r =
        e.h.nova(Method::POST, "/servers", &e.p.token, Some(body))
            .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = r.body["server"]["id"].as_str().unwrap().to_string();
    let view = e.h.wait_status(&e.p.token, &s, "ACTIVE").await;
    assert_eq!(view["image"], "");
    let vols = view["os-extended-volumes:volumes_attached"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(vols.len(), 1);
    let vol = vols[0]["id"].as_str().unwrap().to_string();
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("in-use"));
    let spec = e.driver.spawned.lock().last().cloned().unwrap();
    assert_eq!(spec.image_path, std::path::PathBuf::new());
    assert_eq!(spec.volumes.len(), 1);
    assert_eq!(spec.volumes[0].boot_index, Some(0));
    // The root volume cannot be detached.
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Rebuild: only with the root volume's image, which keeps the volume.
    let other = e.h.image("other").await;
    let r =
        e.h.nova(
            Method::POST,
            &format!("/servers/{s}/action"),
            &e.p.token,
            Some(json!({"rebuild": {"imageRef": other}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r =
        e.h.nova(
            Method::POST,
            &format!("/servers/{s}/action"),
            &e.p.token,
            Some(json!({"rebuild": {"imageRef": e.img}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let view = e.h.wait_status(&e.p.token, &s, "ACTIVE").await;
    assert_eq!(view["image"], "");
    let spec = e.driver.spawned.lock().last().cloned().unwrap();
    assert_eq!(spec.volumes[0].volume_id, vol);
    // A snapshot of a volume-backed server: Cinder snapshots + an empty active image
    // that maps them.
    let r =
        e.h.nova_v(
            "2.45",
            Method::POST,
            &format!("/servers/{s}/action"),
            &e.p.token,
            Some(json!({"createImage": {"name": "bfv-snap"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let image = r.body["image_id"].as_str().unwrap().to_string();
    let snaps: Vec<Value> = e.cinder.state.lock().snapshots.values().cloned().collect();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["volume_id"], vol.as_str());
    let r =
        e.h.glance(Method::GET, &format!("/images/{image}"), &e.p.token, None)
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["bdm_v2"], "True");
    let m: Value = serde_json::from_str(r.body["block_device_mapping"].as_str().unwrap()).unwrap();
    assert_eq!(m[0]["snapshot_id"], snaps[0]["id"]);
    assert_eq!(m[0]["boot_index"], 0);
    e.h.wait_status(&e.p.token, &s, "ACTIVE").await;
    // Delete: the volume goes with the server.
    let r =
        e.h.nova(Method::DELETE, &format!("/servers/{s}"), &e.p.token, None)
            .await;
    assert_eq!(r.status, 204);
    e.h.wait_gone(&e.p.token, &s).await;
    assert!(e.cinder.status(&vol).is_none(), "volume {vol} survived");
}

#[tokio::test]
async fn boot_from_volume_negatives() {
    let e = env().await;
    let boot = |bdm: Value, image: &str| {
        json!({"server": {"name": "x", "imageRef": image, "flavorRef": e.fl,
            "networks": [{"uuid": e.p.network}], "block_device_mapping_v2": bdm}})
    };
    let plain = e.cinder.volume(1, false, false, false);
    let r = e
        .h
        .nova(Method::POST, "/servers", &e.p.token, Some(boot(json!([{"source_type": "volume", "destination_type": "volume", "uuid": plain, "boot_index": 0}]), "")))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("is not bootable"));
    let r =
        e.h.nova(
            Method::POST,
            "/servers",
            &e.p.token,
            Some(boot(
                json!([
            {"source_type": "image", "destination_type": "local", "uuid": e.img, "boot_index": 0},
            {"source_type": "volume", "destination_type": "invalid", "uuid": plain}]),
                &e.img,
            )),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = e
        .h
        .nova(Method::POST, "/servers", &e.p.token, Some(boot(json!([{"source_type": "volume", "destination_type": "volume", "uuid": uuid::Uuid::new_v4(), "boot_index": 0}]), "")))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A bootable volume works, and is kept on delete (no delete_on_termination).
    let root = e.cinder.volume(1, true, false, false);
    let r = e
        .h
        .nova(Method::POST, "/servers", &e.p.token, Some(boot(json!([{"source_type": "volume", "destination_type": "volume", "uuid": root, "boot_index": "0"}]), "")))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = r.body["server"]["id"].as_str().unwrap().to_string();
    e.h.wait_status(&e.p.token, &s, "ACTIVE").await;
    assert_eq!(e.cinder.status(&root).as_deref(), Some("in-use"));
    // The `os-volumes_boot` alias serves the same servers.
    let r =
        e.h.nova(
            Method::GET,
            &format!("/os-volumes_boot/{s}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["server"]["image"], "");
    e.h.nova(Method::DELETE, &format!("/servers/{s}"), &e.p.token, None)
        .await;
    e.h.wait_gone(&e.p.token, &s).await;
    assert_eq!(e.cinder.status(&root).as_deref(), Some("available"));
}

#[tokio::test]
async fn assisted_snapshots_and_external_events() {
    let e = env().await;
    let s = e.server("vm").await;
    let vol = e.cinder.volume(1, false, false, false);
    assert_eq!(e.attach("2.1", &s, &vol, json!({})).await.status, 200);
    let body = json!({"snapshot": {"volume_id": vol, "create_info": {"snapshot_id": "snap-1", "type": "qcow2-internal", "name": "snap-1"}}});
    // Admin only.
    let r =
        e.h.nova(
            Method::POST,
            "/os-assisted-volume-snapshots",
            &e.p.token,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r =
        e.h.nova(
            Method::POST,
            "/os-assisted-volume-snapshots",
            &e.h.admin,
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"snapshot": {"id": "snap-1", "volumeId": vol}})
    );
    assert_eq!(
        e.driver.snapshots.lock().clone(),
        vec![(s.clone(), vol.clone(), "snap-1".to_string())]
    );
    // Unknown volume: 400.
    let r = e.h.nova(Method::POST, "/os-assisted-volume-snapshots", &e.h.admin,
        Some(json!({"snapshot": {"volume_id": uuid::Uuid::new_v4(), "create_info": {"snapshot_id": "x", "type": "qcow2-internal"}}}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let info = serde_json::to_string(
        &json!({"volume_id": vol, "type": "qcow2-internal", "name": "snap-1"}),
    )
    .unwrap();
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("delete_info", &info)
        .finish();
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/os-assisted-volume-snapshots/snap-1?{q}"),
            &e.h.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(e.driver.snapshots.lock().is_empty());
    let r =
        e.h.nova(
            Method::DELETE,
            "/os-assisted-volume-snapshots/snap-1",
            &e.h.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // volume-extended: the driver grows the disk to Cinder's new size.
    e.cinder.state.lock().volumes.get_mut(&vol).unwrap()["size"] = json!(3);
    let ev = json!({"events": [{"name": "volume-extended", "server_uuid": s, "tag": vol}]});
    let r =
        e.h.nova_v(
            "2.51",
            Method::POST,
            "/os-server-external-events",
            &e.h.admin,
            Some(ev.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["events"][0]["code"], 200);
    assert_eq!(r.body["events"][0]["status"], "completed");
    assert_eq!(
        e.driver.extended.lock().clone(),
        vec![(s.clone(), vol.clone(), 3u64 << 30)]
    );
    // Nova knows the name from 2.51: before, it is 400 like any later event name.
    let r =
        e.h.nova_v(
            "2.50",
            Method::POST,
            "/os-server-external-events",
            &e.h.admin,
            Some(ev.clone()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r =
        e.h.nova_v(
            "2.43",
            Method::POST,
            "/os-server-external-events",
            &e.h.admin,
            Some(json!({"events": [{"name": "volume-reimaged", "server_uuid": s, "tag": vol}]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Mixed: 207 with per-event codes; all unknown: 207 too (Nova); members may not send.
    let missing = uuid::Uuid::new_v4().to_string();
    let r =
        e.h.nova(
            Method::POST,
            "/os-server-external-events",
            &e.h.admin,
            Some(json!({"events": [
        {"name": "network-vif-plugged", "server_uuid": s, "tag": "p1"},
        {"name": "network-changed", "server_uuid": missing}]})),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert_eq!(r.body["events"][0]["code"], 200);
    assert_eq!(r.body["events"][1]["code"], 404);
    assert_eq!(r.body["events"][1]["status"], "failed");
    let r =
        e.h.nova(
            Method::POST,
            "/os-server-external-events",
            &e.h.admin,
            Some(json!({"events": [
        {"name": "network-changed", "server_uuid": missing}]})),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert_eq!(r.body["events"][0]["code"], 404);
    let r =
        e.h.nova(
            Method::POST,
            "/os-server-external-events",
            &e.p.token,
            Some(json!({"events": [
        {"name": "network-changed", "server_uuid": s}]})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r =
        e.h.nova(
            Method::POST,
            "/os-server-external-events",
            &e.h.admin,
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn volume_and_snapshot_proxies() {
    let e = env().await;
    let r =
        e.h.nova(
            Method::POST,
            "/os-volumes",
            &e.p.token,
            Some(json!({"volume": {"size": 1, "display_name": "pv"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.body["volume"].clone();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["displayName"], "pv");
    assert_eq!(v["attachments"], json!([{}]));
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/os-volumes/{id}")));
    let r =
        e.h.nova(Method::GET, &format!("/os-volumes/{id}"), &e.p.token, None)
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for k in [
        "id",
        "status",
        "size",
        "availabilityZone",
        "createdAt",
        "attachments",
        "displayName",
        "displayDescription",
        "volumeType",
        "snapshotId",
        "metadata",
    ] {
        assert!(r.body["volume"].get(k).is_some(), "{k} missing: {}", r.body);
    }
    let r =
        e.h.nova(Method::GET, "/os-volumes/detail", &e.p.token, None)
            .await;
    assert_eq!(r.body["volumes"].as_array().unwrap().len(), 1);
    let r =
        e.h.nova(Method::GET, "/os-volumes?limit=0", &e.p.token, None)
            .await;
    assert_eq!(r.body["volumes"], json!([]));
    // Gone after 2.35.
    let r =
        e.h.nova_v("2.36", Method::GET, "/os-volumes", &e.p.token, None)
            .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r =
        e.h.nova(
            Method::POST,
            "/os-volumes",
            &e.p.token,
            Some(json!({"volume": {"size": 0}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // Snapshots.
    let r =
        e.h.nova(
            Method::POST,
            "/os-snapshots",
            &e.p.token,
            Some(json!({"snapshot": {"volume_id": id, "display_name": "s1", "force": "true"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.body["snapshot"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["snapshot"]["volumeId"], id.as_str());
    assert_eq!(r.body["snapshot"]["displayName"], "s1");
    let r =
        e.h.nova(Method::GET, "/os-snapshots/detail", &e.p.token, None)
            .await;
    assert_eq!(r.body["snapshots"].as_array().unwrap().len(), 1);
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/os-snapshots/{sid}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    let r =
        e.h.nova(
            Method::GET,
            &format!("/os-snapshots/{sid}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r =
        e.h.nova(
            Method::DELETE,
            &format!("/os-volumes/{id}"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r =
        e.h.nova(Method::GET, &format!("/os-volumes/{id}"), &e.p.token, None)
            .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn attachment_authorization() {
    let e = env().await;
    let s = e.server("vm").await;
    let vol = e.cinder.volume(1, false, false, false);
    let other = e.h.project("bob").await;
    let path = format!("/servers/{s}/os-volume_attachments");
    // Another project cannot see the server.
    let r = e.h.nova(Method::GET, &path, &other.token, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r =
        e.h.nova(
            Method::POST,
            &path,
            &other.token,
            Some(json!({"volumeAttachment": {"volumeId": vol}})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    // A reader of the project may list but not attach.
    let (_, _, reader) =
        e.h.cloud
            .persona(&e.h.admin, "alice-reader", "reader", Some(&e.p.id))
            .await;
    let r = e.h.nova(Method::GET, &path, &reader, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r =
        e.h.nova(
            Method::POST,
            &path,
            &reader,
            Some(json!({"volumeAttachment": {"volumeId": vol}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Anonymous: 401.
    let r = e.h.nova(Method::GET, &path, "bogus", None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(e.cinder.status(&vol).as_deref(), Some("available"));
}

#[tokio::test]
async fn restart_reconciles_mappings() {
    let e = env().await;
    let s = e.server("vm").await;
    let attached = e.cinder.volume(1, false, false, false);
    assert_eq!(e.attach("2.1", &s, &attached, json!({})).await.status, 200);
    // A mapping left `attaching` by a crash: reserved in Cinder, never completed.
    let half = e.cinder.volume(1, false, false, false);
    let att = {
        let mut st = e.cinder.state.lock();
        st.volumes.get_mut(&half).unwrap()["status"] = json!("reserved");
        let id = uuid::Uuid::new_v4().to_string();
        st.attachments.insert(
            id.clone(),
            json!({"id": id, "volume_id": half, "instance": s, "status": "reserved"}),
        );
        id
    };
    let mut c = e.h.compute.conn().await.unwrap();
    rustack_compute_server::volumes::store::insert(
        &mut c,
        &rustack_compute_server::volumes::store::Bdm {
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: s.clone(),
            volume_id: half.clone(),
            attachment_id: Some(att),
            device_name: Some("/dev/vdc".into()),
            source_type: "volume".into(),
            destination_type: "volume".into(),
            state: "attaching".into(),
            created_at: "2026-01-01T00:00:00".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    drop(c);
    // The attached volume's Cinder attachment vanished out of band.
    e.cinder
        .state
        .lock()
        .attachments
        .retain(|_, a| a["volume_id"] != attached.as_str());
    e.h.servers.reconcile_volumes().await.unwrap();
    assert_eq!(e.cinder.status(&half).as_deref(), Some("available"));
    assert_eq!(e.cinder.attachments_of(&half), 0);
    let r =
        e.h.nova(
            Method::GET,
            &format!("/servers/{s}/os-volume_attachments"),
            &e.p.token,
            None,
        )
        .await;
    assert_eq!(r.body["volumeAttachments"], json!([]), "{}", r.body);
}

#[tokio::test]
async fn failed_volume_build_deletes_what_it_made() {
    let e = env().await;
    let root = e.cinder.volume(1, true, false, false);
    // Every spawn fails: the build is retried, then ERROR.
    e.h.driver.fail_next(rustack_virt::sim::SimOp::Spawn, 10);
    let body = json!({"server": {"name": "bfv", "imageRef": "", "flavorRef": e.fl,
        "networks": [{"uuid": e.p.network}],
        "block_device_mapping_v2": [
            {"source_type": "volume", "destination_type": "volume", "uuid": root, "boot_index": 0},
            {"source_type": "blank", "destination_type": "volume", "volume_size": 2, "boot_index": 1, "delete_on_termination": true}]}});
    let r =
        e.h.nova(Method::POST, "/servers", &e.p.token, Some(body))
            .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = r.body["server"]["id"].as_str().unwrap().to_string();
    e.h.wait_status(&e.p.token, &s, "ERROR").await;
    // The blank volume made by each attempt was deleted; the user's volume is free.
    {
        let st = e.cinder.state.lock();
        assert_eq!(st.volumes.len(), 1, "{:?}", st.volumes.keys());
        assert!(st.attachments.is_empty());
        let made = st
            .calls
            .iter()
            .filter(|(c, _)| c == "POST /volumes")
            .count();
        assert!(made >= 1, "{made}");
    }
    assert_eq!(e.cinder.status(&root).as_deref(), Some("available"));
    let r =
        e.h.nova(Method::DELETE, &format!("/servers/{s}"), &e.p.token, None)
            .await;
    assert_eq!(r.status, 204);
    e.h.wait_gone(&e.p.token, &s).await;
    assert_eq!(e.cinder.status(&root).as_deref(), Some("available"));
}
