//! The same flows against the real Block Storage service of the in-process cloud
//! (`TestCloud` runs it with its file backend): what compute sends is what Cinder
//! accepts, and the volume states follow.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::fakes::VolDriver;
use crate::harness::harness;

async fn cinder(
    h: &crate::harness::Harness,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> crate::harness::R {
    h.raw(
        m,
        format!("{}/v3{path}", h.cloud.cloud.block_url),
        token,
        body,
        &[("openstack-api-version", "volume 3.44")],
    )
    .await
}

async fn wait_volume(h: &crate::harness::Harness, token: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = cinder(h, Method::GET, &format!("/volumes/{id}"), token, None).await;
        if r.body["volume"]["status"] == want {
            return r.body["volume"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "volume {id} never {want}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn attach_and_detach_against_block_storage() {
    let h = harness().await;
    h.servers
        .set_block_storage(&format!("{}/v3", h.cloud.cloud.block_url))
        .unwrap();
    let driver = VolDriver::new(h.driver.clone());
    h.servers.add_host("test-host", driver.clone());
    let p = h.project("carol").await;
    let img = h.image("cirros").await;
    let fl = h.flavor("31", 1, 128, 1).await;
    let r = h.boot(&p, "vm", &img, &fl).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &s, "ACTIVE").await;
    let r = cinder(
        &h,
        Method::POST,
        "/volumes",
        &p.token,
        Some(json!({"volume": {"size": 1, "name": "data"}})),
    )
    .await;
    assert!(
        r.status == 202 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
    let vol = r.body["volume"]["id"].as_str().unwrap().to_string();
    wait_volume(&h, &p.token, &vol, "available").await;

    let r = h
        .nova(
            Method::POST,
            &format!("/servers/{s}/os-volume_attachments"),
            &p.token,
            Some(json!({"volumeAttachment": {"volumeId": vol}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = wait_volume(&h, &p.token, &vol, "in-use").await;
    assert_eq!(v["attachments"][0]["server_id"], s.as_str());
    let attached = driver.volumes_of(&s);
    assert_eq!(attached.len(), 1);
    assert!(matches!(
        attached[0].source,
        rustack_virt::VolumeSource::File { .. }
    ));
    // Cinder refuses to delete it while attached.
    let r = cinder(
        &h,
        Method::DELETE,
        &format!("/volumes/{vol}"),
        &p.token,
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = h
        .nova(
            Method::DELETE,
            &format!("/servers/{s}/os-volume_attachments/{vol}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    wait_volume(&h, &p.token, &vol, "available").await;
    assert!(driver.volumes_of(&s).is_empty());

    // Attached again, then the server is deleted: the volume is released.
    let r = h
        .nova(
            Method::POST,
            &format!("/servers/{s}/os-volume_attachments"),
            &p.token,
            Some(json!({"volumeAttachment": {"volumeId": vol}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_volume(&h, &p.token, &vol, "in-use").await;
    let r = h
        .nova(Method::DELETE, &format!("/servers/{s}"), &p.token, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(&p.token, &s).await;
    wait_volume(&h, &p.token, &vol, "available").await;
}

#[tokio::test]
async fn boot_from_image_volume_against_block_storage() {
    let h = harness().await;
    h.servers
        .set_block_storage(&format!("{}/v3", h.cloud.cloud.block_url))
        .unwrap();
    let driver = VolDriver::new(h.driver.clone());
    h.servers.add_host("test-host", driver.clone());
    let p = h.project("dave").await;
    let img = h.image("cirros").await;
    let fl = h.flavor("32", 1, 128, 1).await;
    let body = json!({"server": {"name": "bfv", "imageRef": "", "flavorRef": fl,
        "networks": [{"uuid": p.network}],
        "block_device_mapping_v2": [{"source_type": "image", "destination_type": "volume",
            "uuid": img, "boot_index": 0, "volume_size": 1, "delete_on_termination": true}]}});
    let r = h.nova(Method::POST, "/servers", &p.token, Some(body)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let s = r.body["server"]["id"].as_str().unwrap().to_string();
    let view = h.wait_status(&p.token, &s, "ACTIVE").await;
    let vol = view["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = wait_volume(&h, &p.token, &vol, "in-use").await;
    assert_eq!(v["bootable"], "true");
    let spec = driver.spawned.lock().last().cloned().unwrap();
    assert_eq!(spec.volumes[0].boot_index, Some(0));
    let r = h
        .nova(Method::DELETE, &format!("/servers/{s}"), &p.token, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(&p.token, &s).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = cinder(&h, Method::GET, &format!("/volumes/{vol}"), &p.token, None).await;
        if r.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "volume {vol} never deleted: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn encrypted_volume_against_block_storage_and_key_manager() {
    let h = harness().await;
    h.servers
        .set_block_storage(&format!("{}/v3", h.cloud.cloud.block_url))
        .unwrap();
    h.servers.set_key_manager(std::sync::Arc::new(
        rustack_keymgr_api::client::KeyManagerClient::new(&h.cloud.cloud.key_manager_url).unwrap(),
    ));
    let driver = VolDriver::new(h.driver.clone());
    h.servers.add_host("test-host", driver.clone());
    let r = cinder(
        &h,
        Method::POST,
        "/types",
        &h.admin,
        Some(json!({"volume_type": {"name": "LUKS"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ty = r.body["volume_type"]["id"].as_str().unwrap().to_string();
    let r = cinder(&h, Method::POST, &format!("/types/{ty}/encryption"), &h.admin, Some(json!({"encryption": {
        "provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256, "control_location": "front-end"}}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = h.project("erin").await;
    let img = h.image("cirros").await;
    let fl = h.flavor("33", 1, 128, 1).await;
    let r = h.boot(&p, "vm", &img, &fl).await;
    let s = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &s, "ACTIVE").await;
    let r = cinder(
        &h,
        Method::POST,
        "/volumes",
        &p.token,
        Some(json!({"volume": {"size": 1, "volume_type": "LUKS"}})),
    )
    .await;
    assert!(
        r.status == 202 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
    let vol = r.body["volume"]["id"].as_str().unwrap().to_string();
    wait_volume(&h, &p.token, &vol, "available").await;
    let r = h
        .nova(
            Method::POST,
            &format!("/servers/{s}/os-volume_attachments"),
            &p.token,
            Some(json!({"volumeAttachment": {"volumeId": vol}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = driver.volumes_of(&s);
    let pass = got[0].luks_passphrase.clone().unwrap();
    assert_eq!(pass.len(), 64);
    assert!(pass
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
}
