//! Volume types, extra specs, access lists, the default type, encryption types, and
//! the encrypted volume flow with an in-memory key manager.

mod common;

use common::*;
use serde_json::json;

const TYPE_KEYS: &[&str] = &[
    "extra_specs",
    "name",
    "is_public",
    "description",
    "id",
    "os-volume-type-access:is_public",
    "qos_specs_id",
];

#[tokio::test]
async fn default_type_exists_and_types_crud() {
    let api = api().await;
    let r = api.get("/v3/types/default", "member").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["volume_type"]["name"], "__DEFAULT__");
    check_keys(
        &r.body["volume_type"],
        &["name", "is_public", "description", "id"],
        TYPE_KEYS,
    );
    // Members cannot create types.
    assert_eq!(
        api.post("/v3/types", "member", json!({"volume_type": {"name": "x"}}))
            .await
            .status,
        403
    );
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "gold", "description": "g", "extra_specs": {"a": "b"}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    check_keys(
        &r.body["volume_type"],
        &[
            "name",
            "is_public",
            "id",
            "description",
            "os-volume-type-access:is_public",
        ],
        &["extra_specs"],
    );
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "gold"}})
        )
        .await
        .status,
        409
    );
    let r = api.get("/v3/types", "member").await;
    assert_eq!(r.body["volume_types"].as_array().expect("l").len(), 2);
    for t in r.body["volume_types"].as_array().expect("l") {
        check_keys(t, &["name", "is_public", "description", "id"], TYPE_KEYS);
    }
    // Extra specs.
    let base = format!("/v3/types/{tid}/extra_specs");
    assert_eq!(
        api.post(&base, "admin", json!({"extra_specs": {"c": "d"}}))
            .await
            .body,
        json!({"extra_specs": {"c": "d"}})
    );
    assert_eq!(
        api.get(&base, "admin").await.body,
        json!({"extra_specs": {"a": "b", "c": "d"}})
    );
    assert_eq!(
        api.get(&format!("{base}/c"), "admin").await.body,
        json!({"c": "d"})
    );
    assert_eq!(
        api.req(
            "PUT",
            &format!("{base}/c"),
            Some("admin"),
            None,
            Some(json!({"c": "e"}))
        )
        .await
        .body,
        json!({"c": "e"})
    );
    assert_eq!(
        api.req("DELETE", &format!("{base}/c"), Some("admin"), None, None)
            .await
            .status,
        202
    );
    assert_eq!(api.get(&format!("{base}/c"), "admin").await.status, 404);
    // Update and delete; a type in use cannot be deleted.
    let r = api
        .req(
            "PUT",
            &format!("/v3/types/{tid}"),
            Some("admin"),
            None,
            Some(json!({"volume_type": {"description": "new"}})),
        )
        .await;
    assert_eq!(r.body["volume_type"]["description"], "new");
    let v = api
        .volume("member", json!({"size": 1, "volume_type": "gold"}))
        .await;
    assert_eq!(v["volume_type"], "gold");
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/types/{tid}"),
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        400
    );
    let default_id = api.get("/v3/types/default", "admin").await.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/types/{default_id}"),
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn private_type_access() {
    let api = api().await;
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "priv", "os-volume-type-access:is_public": false}}),
        )
        .await;
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.get(&format!("/v3/types/{tid}"), "member").await.status,
        404
    );
    assert_eq!(
        api.post(
            "/v3/volumes",
            "member",
            json!({"volume": {"size": 1, "volume_type": tid}})
        )
        .await
        .status,
        404
    );
    let act = format!("/v3/types/{tid}/action");
    assert_eq!(
        api.post(&act, "admin", json!({"addProjectAccess": {"project": P1}}))
            .await
            .status,
        202
    );
    assert_eq!(
        api.post(&act, "admin", json!({"addProjectAccess": {"project": P1}}))
            .await
            .status,
        409
    );
    let r = api
        .get(&format!("/v3/types/{tid}/os-volume-type-access"), "admin")
        .await;
    assert_eq!(
        r.body,
        json!({"volume_type_access": [{"volume_type_id": tid, "project_id": P1}]})
    );
    assert_eq!(
        api.get(&format!("/v3/types/{tid}"), "member").await.status,
        200
    );
    assert_eq!(
        api.get(&format!("/v3/types/{tid}"), "other").await.status,
        404
    );
    let v = api
        .volume("member", json!({"size": 1, "volume_type": tid}))
        .await;
    assert_eq!(v["status"], "available");
    assert_eq!(
        api.post(
            &act,
            "admin",
            json!({"removeProjectAccess": {"project": P1}})
        )
        .await
        .status,
        202
    );
    assert_eq!(
        api.post(
            &act,
            "admin",
            json!({"removeProjectAccess": {"project": P1}})
        )
        .await
        .status,
        404
    );
}

async fn encrypted_type(api: &Api) -> String {
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
    let r = api.post(&format!("/v3/types/{tid}/encryption"), "admin", json!({"encryption": {"provider": "nova.volume.encryptors.luks.LuksEncryptor", "control_location": "front-end"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    check_keys(
        &r.body["encryption"],
        &["volume_type_id", "encryption_id"],
        &["key_size", "provider", "control_location", "cipher"],
    );
    // The legacy class name is kept as given (Tempest reads it back).
    assert_eq!(
        r.body["encryption"]["provider"],
        "nova.volume.encryptors.luks.LuksEncryptor"
    );
    assert_eq!(r.body["encryption"]["cipher"], "aes-xts-plain64");
    assert_eq!(r.body["encryption"]["key_size"], 256);
    tid
}

#[tokio::test]
async fn encryption_types_validation() {
    let api = api().await;
    let r = api
        .post("/v3/types", "admin", json!({"volume_type": {"name": "e"}}))
        .await;
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let base = format!("/v3/types/{tid}/encryption");
    assert_eq!(api.get(&base, "admin").await.body, json!({}));
    for provider in ["luks2", "plain", "CryptsetupEncryptor"] {
        let r = api
            .post(
                &base,
                "admin",
                json!({"encryption": {"provider": provider, "control_location": "front-end"}}),
            )
            .await;
        assert_eq!(r.status, 400, "{provider}");
        assert!(
            r.body["badRequest"]["message"]
                .as_str()
                .expect("msg")
                .contains("luks"),
            "{}",
            r.body
        );
    }
    // Other providers and back-end control are stored (as Cinder does), but no
    // volume of such a type can be created.
    for spec in [
        json!({"provider": "luks", "control_location": "back-end"}),
        json!({"provider": "SomeProvider", "control_location": "front-end"}),
    ] {
        let r = api
            .post(&base, "admin", json!({ "encryption": spec }))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = api
            .post(
                "/v3/volumes",
                "member",
                json!({"volume": {"size": 1, "volume_type": tid}}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        let eid = api.get(&base, "admin").await.body["encryption_id"]
            .as_str()
            .expect("eid")
            .to_string();
        let r = api
            .req(
                "DELETE",
                &format!("{base}/{eid}"),
                Some("admin"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 202);
    }
    assert_eq!(
        api.post(&base, "member", json!({"encryption": {"provider": "luks"}}))
            .await
            .status,
        403
    );
    let r = api.post(&base, "admin", json!({"encryption": {"provider": "luks", "key_size": 512, "cipher": "aes-xts-plain64"}})).await;
    assert_eq!(r.status, 200);
    let eid = r.body["encryption"]["encryption_id"]
        .as_str()
        .expect("eid")
        .to_string();
    let r = api.get(&base, "admin").await;
    assert_eq!(r.body["key_size"], 512);
    assert_eq!(r.body["control_location"], "front-end");
    let r = api
        .req(
            "PUT",
            &format!("{base}/{eid}"),
            Some("admin"),
            None,
            Some(json!({"encryption": {"key_size": 256}})),
        )
        .await;
    assert_eq!(r.body, json!({"encryption": {"key_size": 256}}));
    assert_eq!(
        api.get(&format!("{base}/provider"), "admin").await.body,
        json!({"provider": "luks"})
    );
    assert_eq!(
        api.req(
            "DELETE",
            &format!("{base}/{eid}"),
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        202
    );
    assert_eq!(api.get(&base, "admin").await.body, json!({}));
}

#[tokio::test]
async fn encrypted_volume_keys_are_created_cloned_and_deleted() {
    let api = api().await;
    let tid = encrypted_type(&api).await;
    let v = api
        .volume("member", json!({"size": 1, "volume_type": tid}))
        .await;
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["encrypted"], true);
    let vid = v["id"].as_str().expect("id").to_string();
    // What Nova reads.
    let r = api
        .get(&format!("/v3/volumes/{vid}/encryption"), "member")
        .await;
    let key_id = r.body["encryption_key_id"]
        .as_str()
        .expect("key")
        .to_string();
    assert_eq!(r.body["provider"], "luks");
    assert_eq!(r.body["control_location"], "front-end");
    assert_eq!(r.body["cipher"], "aes-xts-plain64");
    assert_eq!(r.body["key_size"], 256);
    let key = api.keys.secrets.lock().expect("l")[&key_id].clone();
    assert_eq!(key.len(), 32);
    // The backend got the hex of the key as the passphrase.
    assert_eq!(
        api.backend.volumes.lock().expect("l")[&vid].luks.as_deref(),
        Some(hex::encode(&key).as_str())
    );
    // A consumer was registered.
    let consumers = api.keys.consumers.lock().expect("l")[&key_id].clone();
    assert_eq!(consumers[0].service, "volume");
    assert_eq!(consumers[0].resource_type, "volume");
    assert_eq!(consumers[0].resource_id, vid);
    // encryption_key_id in the view at 3.64.
    assert_eq!(
        api.get(&format!("/v3/volumes/{vid}"), "member").await.body["volume"]["encryption_key_id"],
        key_id
    );
    // Clone: a new key with the same bytes (every volume owns its key).
    let c = api.volume("member", json!({"source_volid": vid})).await;
    assert_eq!(c["status"], "available", "{c}");
    let cid = c["id"].as_str().expect("id").to_string();
    let ckey = api
        .get(&format!("/v3/volumes/{cid}/encryption"), "member")
        .await
        .body["encryption_key_id"]
        .as_str()
        .expect("k")
        .to_string();
    assert_ne!(ckey, key_id);
    assert_eq!(api.keys.secrets.lock().expect("l")[&ckey], key);
    // A snapshot and a volume from it, also with its own key.
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": vid}}),
        )
        .await;
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    api.wait_snapshot("member", &sid, |s| s == "available")
        .await;
    let f = api.volume("member", json!({"snapshot_id": sid})).await;
    assert_eq!(f["status"], "available", "{f}");
    assert_eq!(f["encrypted"], true);
    // Delete removes the data, then the key.
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/volumes/{cid}"),
            Some("member"),
            None,
            None
        )
        .await
        .status,
        202
    );
    api.wait_gone("member", &format!("/v3/volumes/{cid}")).await;
    assert!(!api.keys.secrets.lock().expect("l").contains_key(&ckey));
    assert!(api.keys.secrets.lock().expect("l").contains_key(&key_id));
    // The encryption spec of a type in use cannot change.
    let eid = api
        .get(&format!("/v3/types/{tid}/encryption"), "admin")
        .await
        .body["encryption_id"]
        .as_str()
        .expect("e")
        .to_string();
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/types/{tid}/encryption/{eid}"),
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn encrypted_type_without_key_manager_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = rustack_db::fresh_test_url(dir.path(), "block")
        .await
        .expect("url");
    let backend = std::sync::Arc::new(MemBackend::default());
    let svc = rustack_block_server::BlockService::open(
        cfg(),
        &url,
        backend,
        rustack_block_server::BlockDeps::default(),
        std::sync::Arc::new(Personas),
    )
    .await
    .expect("open");
    let router = rustack_block_server::api::router(svc.clone());
    let api = Api {
        router,
        svc,
        backend: std::sync::Arc::new(MemBackend::default()),
        keys: std::sync::Arc::new(MemKeys::default()),
        dir,
        url,
    };
    let tid = encrypted_type(&api).await;
    let r = api
        .post(
            "/v3/volumes",
            "member",
            json!({"volume": {"size": 1, "volume_type": tid}}),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    // Image operations without an Image service.
    let r = api
        .post(
            "/v3/volumes",
            "member",
            json!({"volume": {"size": 1, "imageRef": uuid::Uuid::new_v4().to_string()}}),
        )
        .await;
    assert_eq!(r.status, 503);
}

#[tokio::test]
async fn project_default_type_3_62() {
    let api = api().await;
    api.post(
        "/v3/types",
        "admin",
        json!({"volume_type": {"name": "silver"}}),
    )
    .await;
    let path = format!("/v3/default-types/{P1}");
    let r = api
        .req(
            "PUT",
            &path,
            Some("admin"),
            Some("3.61"),
            Some(json!({"default_type": {"volume_type": "silver"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = api
        .req(
            "PUT",
            &path,
            Some("admin"),
            Some(LATEST),
            Some(json!({"default_type": {"volume_type": "nope"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = api
        .req(
            "PUT",
            &path,
            Some("admin"),
            Some(LATEST),
            Some(json!({"default_type": {"volume_type": "silver"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["default_type"]["project_id"], P1);
    assert_eq!(
        api.get("/v3/types/default", "member").await.body["volume_type"]["name"],
        "silver"
    );
    assert_eq!(
        api.volume("member", json!({"size": 1})).await["volume_type"],
        "silver"
    );
    assert_eq!(
        api.volume("other", json!({"size": 1})).await["volume_type"],
        "__DEFAULT__"
    );
    assert_eq!(
        api.get("/v3/default-types", "admin").await.body["default_types"]
            .as_array()
            .expect("l")
            .len(),
        1
    );
    assert_eq!(
        api.req("DELETE", &path, Some("admin"), Some(LATEST), None)
            .await
            .status,
        204
    );
    assert_eq!(api.get(&path, "admin").await.status, 404);
    assert_eq!(
        api.get("/v3/types/default", "member").await.body["volume_type"]["name"],
        "__DEFAULT__"
    );
}

#[tokio::test]
async fn unmatched_capabilities_fail_the_create_with_a_user_message() {
    let api = api().await;
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "bogus", "extra_specs": {"storage_protocol": "fc", "vendor_name": "x"}}}),
        )
        .await;
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let v = api
        .volume("member", json!({"size": 1, "volume_type": tid}))
        .await;
    assert_eq!(v["status"], "error");
    assert!(!api.backend.calls().iter().any(|c| c.starts_with("create")));
    let r = api
        .req("GET", "/v3/messages", Some("member"), Some("3.3"), None)
        .await;
    let m = &r.body["messages"][0];
    assert_eq!(m["resource_uuid"], v["id"]);
    assert_eq!(m["resource_type"], "VOLUME");
    check_keys(
        m,
        &[
            "request_id",
            "message_level",
            "event_id",
            "created_at",
            "id",
            "user_message",
        ],
        &[
            "links",
            "guaranteed_until",
            "resource_uuid",
            "resource_type",
        ],
    );
    let mid = m["id"].as_str().expect("mid").to_string();
    assert_eq!(
        api.get(&format!("/v3/messages/{mid}"), "member")
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/v3/messages/{mid}"), "other")
            .await
            .status,
        404
    );
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/messages/{mid}"),
            Some("member"),
            Some(LATEST),
            None
        )
        .await
        .status,
        204
    );
    // Matching specs schedule fine.
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "ok", "extra_specs": {"volume_backend_name": "file", "storage_protocol": "FILE"}}}),
        )
        .await;
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.volume("member", json!({"size": 1, "volume_type": tid}))
            .await["status"],
        "available"
    );
}
