//! `KeyManagerClient` (the castellan-shaped client block storage and compute use)
//! against the served API on a port-0 listener.

mod common;

use std::sync::Arc;

use rustack_common::Error;
use rustack_keymgr_api::client::KeyManagerClient;
use rustack_keymgr_api::{Consumer, KeyManager, NewSecret};

#[tokio::test]
async fn client_round_trip_against_the_served_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "keymgr")
        .await
        .expect("url");
    let svc = rustack_keymgr_server::KeyManagerService::open(
        Default::default(),
        &url,
        &dir.path().join("kek"),
        Arc::new(common::Personas),
    )
    .await
    .expect("open");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let running = rustack_keymgr_server::run(svc, listener, shutdown).expect("run");
    let km = KeyManagerClient::new(&format!("http://{}", running.addr)).expect("client");

    // create_key: an order polled to ACTIVE, then deleted; the key remains.
    let key_id = km
        .create_key("member", "aes", 256, Some("volume-key"))
        .await
        .expect("create_key");
    let key = km.get("member", &key_id).await.expect("get");
    assert_eq!(key.len(), 32);
    let meta = km.secret_get("member", &key_id).await.expect("meta");
    assert_eq!(meta["name"], "volume-key");
    assert_eq!(meta["secret_type"], "symmetric");

    // store + get round trip of arbitrary bytes.
    let payload: Vec<u8> = (0u8..=255).collect();
    let id = km
        .store(
            "member",
            &NewSecret {
                name: Some("clone".into()),
                secret_type: "symmetric".into(),
                algorithm: Some("aes".into()),
                bit_length: Some(2048),
                mode: Some("xts".into()),
                payload: payload.clone(),
            },
        )
        .await
        .expect("store");
    assert_eq!(km.get("member", &id).await.expect("get"), payload);

    // Consumers: a consumed secret is a Conflict to delete without force.
    let consumer = Consumer {
        service: "volume".into(),
        resource_type: "volume".into(),
        resource_id: "vol-1".into(),
    };
    km.add_consumer("member", &id, &consumer)
        .await
        .expect("add");
    km.add_consumer("member", &id, &consumer)
        .await
        .expect("add again");
    let err = km.delete("member", &id, false).await.expect_err("consumed");
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    km.remove_consumer("member", &id, &consumer)
        .await
        .expect("remove");
    km.remove_consumer("member", &id, &consumer)
        .await
        .expect("removing an absent consumer succeeds");
    km.add_consumer("member", &id, &consumer)
        .await
        .expect("add");
    km.delete("member", &id, true).await.expect("forced delete");
    let err = km.get("member", &id).await.expect_err("deleted");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = km
        .remove_consumer("member", &id, &consumer)
        .await
        .expect_err("secret gone");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    // Authorization failures map to the shared errors.
    let err = km.get("other", &key_id).await.expect_err("other project");
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let err = km.get("bogus-token", &key_id).await.expect_err("bad token");
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
    let err = km
        .create_key("member", "aes", 100, None)
        .await
        .expect_err("bad bit length");
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
    km.delete("member", &key_id, false)
        .await
        .expect("delete key");

    // Nothing listening: Unavailable.
    trigger.trigger();
    let _ = running.task.await;
    let err = km.get("member", &key_id).await.expect_err("down");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}
