//! `[[bootstrap.images]]`: `rustack up` registers the configured image files through the
//! Image API once; a restart finds them by name and registers nothing twice.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use rustack::bootstrap_images::BootstrapImage;
use rustack::cloud::{self, CloudOptions};
use rustack::config::{DataPlaneMode, RustackConfig};
use serde_json::Value;

async fn start(dir: &std::path::Path, config: RustackConfig) -> cloud::RunningCloud {
    cloud::start(CloudOptions {
        data_dir: dir.join("data"),
        bind: IpAddr::from([127, 0, 0, 1]),
        identity_port: Some(0),
        image_port: Some(0),
        network_port: Some(0),
        placement_port: Some(0),
        compute_port: Some(0),
        block_storage_port: Some(0),
        key_manager_port: Some(0),
        config,
    })
    .await
    .unwrap()
}

async fn images(c: &cloud::RunningCloud) -> Vec<Value> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"name": "Default"}, "password": c.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let r = http
        .post(format!("{}/v3/auth/tokens", c.identity_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let tok = r.headers()["x-subject-token"].to_str().unwrap().to_string();
    let r: Value = http
        .get(format!("{}/v2/images", c.image_url))
        .header("x-auth-token", tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["images"].as_array().unwrap().clone()
}

#[tokio::test]
async fn images_are_registered_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    std::fs::write(&a, vec![1u8; 4096]).unwrap();
    std::fs::write(&b, vec![2u8; 8192]).unwrap();
    let mut config = RustackConfig::default();
    config.identity.bcrypt_cost = 4;
    config.network.data_plane = DataPlaneMode::Off;
    config.compute.driver = "simulated".into();
    config.bootstrap.images = vec![
        BootstrapImage {
            name: "rustack-test".into(),
            file: a.clone(),
            disk_format: "raw".into(),
            container_format: "bare".into(),
            visibility: "public".into(),
        },
        BootstrapImage {
            name: "rustack-test-alt".into(),
            file: b.clone(),
            disk_format: "raw".into(),
            container_format: "bare".into(),
            visibility: "public".into(),
        },
    ];

    let c = start(dir.path(), config.clone()).await;
    assert_eq!(c.bootstrap_images.len(), 2);
    let list = images(&c).await;
    assert_eq!(list.len(), 2, "{list:?}");
    for (name, size) in [("rustack-test", 4096), ("rustack-test-alt", 8192)] {
        let img = list.iter().find(|i| i["name"] == name).unwrap();
        assert_eq!(img["status"], "active");
        assert_eq!(img["visibility"], "public");
        assert_eq!(img["size"], size);
    }
    let first = c.bootstrap_images.clone();
    c.shutdown().await;

    // A restart keeps the same images and adds none.
    let c = start(dir.path(), config.clone()).await;
    assert_eq!(c.bootstrap_images, first);
    assert_eq!(images(&c).await.len(), 2);
    c.shutdown().await;

    // A missing file is a clear start-up error, not a half-registered image.
    config.bootstrap.images.push(BootstrapImage {
        name: "missing".into(),
        file: dir.path().join("nope.img"),
        disk_format: "raw".into(),
        container_format: "bare".into(),
        visibility: "public".into(),
    });
    let e = cloud::start(CloudOptions {
        data_dir: dir.path().join("data"),
        bind: IpAddr::from([127, 0, 0, 1]),
        identity_port: Some(0),
        image_port: Some(0),
        network_port: Some(0),
        placement_port: Some(0),
        compute_port: Some(0),
        block_storage_port: Some(0),
        key_manager_port: Some(0),
        config,
    })
    .await
    .err()
    .unwrap();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("nope.img") && msg.contains("build-test-image"),
        "{msg}"
    );
}
