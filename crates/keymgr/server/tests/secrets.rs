//! Secrets: versions document, create/show/payload/delete, two-step secrets, list
//! filters and paging, metadata, Barbican's error shapes, and encryption at rest.

mod common;

use base64::Engine as _;
use common::{api, desc, id_of, Req};
use serde_json::json;

#[tokio::test]
async fn versions_document_lists_v1_with_microversions() {
    let a = api().await;
    let r = a.send(Req::new("GET", "/", "x").anonymous()).await;
    assert_eq!(r.status, 300);
    assert_eq!(r.body["versions"]["values"][0]["id"], "v1");
    let r = a
        .send(Req::new("GET", "/", "x").anonymous().version("1.1"))
        .await;
    assert_eq!(r.status, 300);
    assert_eq!(r.body["versions"][0]["max_version"], "1.2");
    assert_eq!(
        r.headers["openstack-api-version"].to_str().expect("hdr"),
        "key-manager 1.1"
    );
    let r = a
        .send(Req::new("GET", "/", "x").anonymous().version("1.9"))
        .await;
    assert_eq!(r.status, 406);
    let r = a
        .send(Req::new("GET", "/", "x").anonymous().version("one"))
        .await;
    assert_eq!(r.status, 400);
    let r = a
        .send(Req::new("GET", "/v1", "member").version("latest"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"]["max_version"], "1.2");
    assert_eq!(
        r.headers["openstack-api-version"].to_str().expect("hdr"),
        "key-manager 1.2"
    );
    let r = a.send(Req::new("GET", "/v1", "x").anonymous()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], 401);
}

#[tokio::test]
async fn text_secret_round_trip() {
    let a = api().await;
    let r = a
        .call(
            "member",
            "POST",
            "/v1/secrets",
            Some(
                json!({"name": "pw", "payload": "hunter2", "payload_content_type": "text/plain",
                        "secret_type": "passphrase"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let sref = r.body["secret_ref"].as_str().expect("ref").to_owned();
    assert_eq!(r.headers["location"].to_str().expect("loc"), sref);
    let id = id_of(&r.body["secret_ref"]);
    let path = format!("/v1/secrets/{id}");
    let r = a.call("member", "GET", &path, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "pw");
    assert_eq!(r.body["secret_type"], "passphrase");
    assert_eq!(r.body["status"], "ACTIVE");
    assert_eq!(r.body["creator_id"], "alice");
    // `isoformat()` of a whole-second UTC time, as Barbican shows it.
    let created = r.body["created"].as_str().expect("created");
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S").is_ok(),
        "{created}"
    );
    assert_eq!(r.body["content_types"]["default"], "text/plain");
    assert_eq!(r.body["secret_ref"], sref.as_str());
    assert!(r.body.get("consumers").is_none(), "1.0 hides consumers");
    let r = a
        .send(Req::new("GET", &path, "member").version("1.1"))
        .await;
    assert_eq!(r.body["consumers"], json!([]));
    let r = a
        .send(Req::new("GET", &format!("{path}/payload"), "member").accept("text/plain"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, b"hunter2");
    assert_eq!(r.headers["content-type"], "text/plain");
    // The deprecated form: GET the secret with a non-JSON Accept.
    let r = a
        .send(Req::new("GET", &path, "member").accept("text/plain"))
        .await;
    assert_eq!(r.bytes, b"hunter2");
    let r = a
        .send(Req::new("GET", &format!("{path}/payload"), "member").accept("application/xml"))
        .await;
    assert_eq!(r.status, 406);
    assert_eq!(
        desc(&r),
        "Secret payload retrieval issue seen - Wrong payload content-type."
    );
    let r = a.call("member", "DELETE", &path, None).await;
    assert_eq!(r.status, 204);
    let r = a.call("member", "GET", &path, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        json!({"code": 404, "title": "Not Found", "description": "Secret not found."})
    );
}

#[tokio::test]
async fn binary_secret_round_trip_with_base64() {
    let a = api().await;
    let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    let r = a
        .call(
            "member",
            "POST",
            "/v1/secrets",
            Some(
                json!({"payload": b64, "payload_content_type": "application/octet-stream",
                        "payload_content_encoding": "base64", "secret_type": "symmetric",
                        "algorithm": "aes", "bit_length": 256, "mode": "xts"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = id_of(&r.body["secret_ref"]);
    let r = a
        .call("member", "GET", &format!("/v1/secrets/{id}/payload"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, key);
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    let r = a
        .call("member", "GET", &format!("/v1/secrets/{id}"), None)
        .await;
    assert_eq!(r.body["bit_length"], 256);
    assert_eq!(r.body["algorithm"], "aes");
    assert_eq!(r.body["mode"], "xts");
    assert_eq!(
        r.body["content_types"]["default"],
        "application/octet-stream"
    );
}

#[tokio::test]
async fn create_validation_matches_barbican() {
    let a = api().await;
    let cases = [
        (
            json!({"payload": "x"}),
            "Secret creation issue seen - Provided object does not match schema 'Secret': If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'.",
        ),
        (
            json!({"payload": "  ", "payload_content_type": "text/plain"}),
            "Secret creation issue seen - Provided object does not match schema 'Secret': If 'payload' specified, must be non empty. Invalid property: 'payload'.",
        ),
        (
            json!({"payload": "x", "payload_content_type": "application/octet-stream"}),
            "Secret creation issue seen - Provided object does not match schema 'Secret': payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'.",
        ),
        (
            json!({"payload": "x", "payload_content_type": "text/plain", "secret_type": "bogus"}),
            "Secret creation issue seen - Provided object does not match schema 'Secret': 'bogus' is not one of ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']. Invalid property: 'secret_type'.",
        ),
        (
            json!({"payload": "x", "payload_content_type": "text/plain", "bit_length": 0}),
            "Secret creation issue seen - Provided object does not match schema 'Secret': 0 is less than the minimum of 1. Invalid property: 'bit_length'.",
        ),
        (
            json!({"payload": "x", "payload_content_type": "text/plain", "expiration": "2001-01-01T00:00:00Z"}),
            "Secret creation issue seen - Provided object does not match schema 'Secret': 'expiration' is before current time. Invalid property: 'expiration'.",
        ),
    ];
    for (body, want) in cases {
        let r = a
            .call("member", "POST", "/v1/secrets", Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.body["title"], "Bad Request");
        assert_eq!(desc(&r), want, "{body}");
    }
    let r = a
        .send(Req::new("POST", "/v1/secrets", "member").raw("text/plain", b"{}"))
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.body["title"], "Unsupported Media Type");
    let r = a
        .send(Req::new("POST", "/v1/secrets", "member").raw("application/json", b"{nope"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(desc(&r), "Malformed JSON");
    let r = a
        .call("member", "GET", "/v1/secrets/not-a-uuid", None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Not Found. Provided secret id is invalid.");
}

#[tokio::test]
async fn two_step_secret() {
    let a = api().await;
    let r = a
        .call(
            "member",
            "POST",
            "/v1/secrets",
            Some(json!({"name": "later"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = id_of(&r.body["secret_ref"]);
    let path = format!("/v1/secrets/{id}");
    let r = a.call("member", "GET", &path, None).await;
    assert!(r.body.get("content_types").is_none());
    let r = a
        .call("member", "GET", &format!("{path}/payload"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Not Found. Sorry but your secret has no payload.");
    let r = a
        .send(Req::new("PUT", &path, "member").raw("application/json", b"{}"))
        .await;
    assert_eq!(r.status, 415);
    let r = a
        .send(
            Req::new("PUT", &path, "member")
                .raw("application/octet-stream", b"AAECAw==")
                .header("content-encoding", "base64"),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a
        .call("member", "GET", &format!("{path}/payload"), None)
        .await;
    assert_eq!(r.bytes, vec![0u8, 1, 2, 3]);
    let r = a
        .send(Req::new("PUT", &path, "member").raw("text/plain", b"again"))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(desc(&r), "Secret already has data, cannot modify it.");
}

#[tokio::test]
async fn list_filters_and_paging() {
    let a = api().await;
    for i in 0..5 {
        a.secret("member", &format!("s{i}"), "v").await;
    }
    a.call(
        "member",
        "POST",
        "/v1/secrets",
        Some(json!({"name": "aes", "algorithm": "aes", "bit_length": 128, "mode": "cbc"})),
    )
    .await;
    a.secret("other", "foreign", "v").await;
    let r = a.call("member", "GET", "/v1/secrets", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["total"], 6);
    assert_eq!(r.body["secrets"].as_array().expect("list").len(), 6);
    assert!(r.body.get("next").is_none());
    let r = a
        .call("member", "GET", "/v1/secrets?limit=2&offset=2", None)
        .await;
    assert_eq!(r.body["total"], 6);
    assert_eq!(r.body["secrets"].as_array().expect("list").len(), 2);
    assert_eq!(
        r.body["next"],
        "http://km.example:9311/v1/secrets?limit=2&offset=4"
    );
    assert_eq!(
        r.body["previous"],
        "http://km.example:9311/v1/secrets?limit=2&offset=0"
    );
    let r = a
        .call("member", "GET", "/v1/secrets?name=s3&limit=1", None)
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["secrets"][0]["name"], "s3");
    let r = a
        .call(
            "member",
            "GET",
            "/v1/secrets?alg=aes&bits=128&mode=cbc",
            None,
        )
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["secrets"][0]["name"], "aes");
    let r = a
        .call("member", "GET", "/v1/secrets?sort=name:asc&limit=1", None)
        .await;
    assert_eq!(r.body["secrets"][0]["name"], "aes");
    assert_eq!(
        r.body["next"],
        "http://km.example:9311/v1/secrets?limit=1&offset=1&sort=name%3Aasc"
    );
    let r = a
        .call(
            "member",
            "GET",
            "/v1/secrets?created=gt:2000-01-01T00:00:00",
            None,
        )
        .await;
    assert_eq!(r.body["total"], 6);
    let r = a
        .call(
            "member",
            "GET",
            "/v1/secrets?created=lt:2000-01-01T00:00:00",
            None,
        )
        .await;
    assert_eq!(r.body["total"], 0);
    for bad in [
        "sort=bogus",
        "sort=name:up",
        "created=yesterday",
        "created=gt:2000-01-01,gte:2001-01-01",
    ] {
        let r = a
            .call("member", "GET", &format!("/v1/secrets?{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(
            desc(&r),
            "Secret(s) retrieval issue seen - URI provided invalid query string parameters."
        );
    }
}

#[tokio::test]
async fn secret_metadata() {
    let a = api().await;
    let id = a.secret("member", "m", "v").await;
    let base = format!("/v1/secrets/{id}/metadata");
    let r = a
        .call(
            "member",
            "PUT",
            &base,
            Some(json!({"metadata": {"Color": "red", "size": "xl"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.body["metadata_ref"],
        format!("http://km.example:9311/v1/secrets/{id}/metadata")
    );
    let r = a.call("member", "GET", &base, None).await;
    assert_eq!(r.body, json!({"metadata": {"color": "red", "size": "xl"}}));
    let r = a
        .call(
            "member",
            "POST",
            &base,
            Some(json!({"key": "shape", "value": "round"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = a
        .call(
            "member",
            "POST",
            &base,
            Some(json!({"key": "shape", "value": "square"})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = a
        .call("member", "GET", &format!("{base}/shape"), None)
        .await;
    assert_eq!(r.body, json!({"key": "shape", "value": "round"}));
    let r = a
        .call(
            "member",
            "PUT",
            &format!("{base}/shape"),
            Some(json!({"key": "shape", "value": "oval"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"], "oval");
    let r = a
        .call(
            "member",
            "PUT",
            &format!("{base}/shape"),
            Some(json!({"key": "other", "value": "x"})),
        )
        .await;
    assert_eq!(r.status, 409, "Barbican answers 409 for a key mismatch");
    let r = a
        .call("member", "DELETE", &format!("{base}/shape"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = a
        .call("member", "GET", &format!("{base}/shape"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Secret metadata not found.");
}

#[tokio::test]
async fn payloads_are_encrypted_at_rest_and_deleted_for_good() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/km.db", dir.path().display());
    let kek = dir.path().join("kek");
    let svc = rustack_keymgr_server::KeyManagerService::open(
        Default::default(),
        &url,
        &kek,
        std::sync::Arc::new(common::Personas),
    )
    .await
    .expect("open");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&kek).expect("kek").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let a = common::Api {
        router: rustack_keymgr_server::api::router(svc.clone()),
        svc,
        dir,
    };
    let marker = format!("PLAINTEXT-MARKER-{}", uuid::Uuid::new_v4());
    let id = a.secret("member", "marked", &marker).await;
    let b64marker = base64::engine::general_purpose::STANDARD.encode(marker.as_bytes());
    let bin = a
        .call(
            "member",
            "POST",
            "/v1/secrets",
            Some(
                json!({"payload": b64marker, "payload_content_type": "application/octet-stream",
                        "payload_content_encoding": "base64"}),
            ),
        )
        .await;
    assert_eq!(bin.status, 201);
    let r = a
        .call("member", "GET", &format!("/v1/secrets/{id}/payload"), None)
        .await;
    assert_eq!(r.bytes, marker.as_bytes());
    let grep = |needle: &[u8]| -> bool {
        std::fs::read_dir(a.dir.path())
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("km.db"))
            .any(|e| {
                let bytes = std::fs::read(e.path()).expect("read");
                bytes.windows(needle.len()).any(|w| w == needle)
            })
    };
    // The secret's name is stored in the clear, which proves the grep sees the data.
    assert!(grep(b"marked"));
    assert!(!grep(marker.as_bytes()));
    assert!(!grep(b64marker.as_bytes()));
    let stored = a
        .svc
        .store()
        .encrypted_data(&id)
        .await
        .expect("query")
        .expect("row");
    assert!(!stored.1.contains(&marker));
    let r = a
        .call("member", "DELETE", &format!("/v1/secrets/{id}"), None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        a.svc.store().encrypted_data(&id).await.expect("query"),
        None
    );
}

#[tokio::test]
async fn migrations_create_the_expected_tables() {
    let a = api().await;
    let mut tables = a.svc.store().db().tables().await.expect("tables");
    tables.retain(|t| !t.starts_with("_") && !t.starts_with("sqlite_") && t != "schema_migrations");
    tables.sort();
    assert_eq!(
        tables,
        [
            "acls",
            "container_consumers",
            "container_secrets",
            "containers",
            "encrypted_data",
            "orders",
            "project_keks",
            "project_quotas",
            "secret_consumers",
            "secret_metadata",
            "secrets",
        ]
    );
    let cols = a
        .svc
        .store()
        .db()
        .columns("encrypted_data")
        .await
        .expect("cols");
    assert_eq!(
        cols,
        ["content_type", "created_at", "cypher_text", "secret_id"]
    );
}

#[tokio::test]
async fn a_policy_file_overrides_the_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "\"secrets:post\": \"role:reader\"\n").expect("write");
    let a = common::api_with(rustack_keymgr_server::KeyManagerConfig {
        policy_file: Some(policy),
        ..Default::default()
    })
    .await;
    let r = a
        .call("reader", "POST", "/v1/secrets", Some(json!({"name": "n"})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = a
        .call("member", "POST", "/v1/secrets", Some(json!({"name": "n"})))
        .await;
    assert_eq!(r.status, 201, "members hold the reader role too");
}
