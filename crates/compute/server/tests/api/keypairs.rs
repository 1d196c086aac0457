//! Key pairs: import of each key type with nova's fingerprints, generation, x509 at
//! 2.2, status codes per microversion, per-user isolation, admin `user_id` (2.10),
//! quota.

use serde_json::{json, Value};

use crate::common::{api, api_with, fault};

// Made with ssh-keygen; fingerprints from `ssh-keygen -l -E md5`.
const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH9AgepU779ey9yhePH94mtUFSBP8cYJhidVBOTiiEFc t@h";
const ED25519_FP: &str = "51:46:fb:31:31:be:f2:04:cf:dd:0f:be:f4:12:a3:7a";
const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDEzfAIClfXvcbxOYEjPKjM/r/7kUe4z+FM5AoO6Wp8I90FMGk/zKhep5nQzbxhlTaBd/NQL6eAdM5m+iKZYzYo4tleY1kl7yuQICI6XpYJV4GLmDwejzEiCQg+mriJxRezMJFG1ocXCvPnHucoYn/7e0u7rQsbghBLso3xpUDlQZCnC1B5Y9+FHW+usxWtSuoEw0QNM7G1Ol+DiNV6UlonlQ7OgezgF2NdTczutPnhjKDbzYQ2rY+qnr33Ovp6fUu/6JRdC9T/w4ojiBF2Hi11T0+wz1aBI0hzMzy9CDe+xqs3c+okgekzEGEduXDUDkJNHWm5zafR5/LjbAhnw63j t@h";
const RSA_FP: &str = "5d:17:92:16:7d:55:a2:7b:33:6c:dc:bd:16:f1:9a:6f";
const ECDSA: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBA5UZrPbb5CpShrvirO/GscUGIIwaaZu0dxszfffIF/9bv4eTt3TlBIFQWsequ1pfi+05cgallvpOKliaNwmH9ccjZI8dElqZMnqg7WeDoHayfVFy+l/M86Jkq4g2JvIWA== t@h";
const ECDSA_FP: &str = "eb:f1:15:b2:a9:2a:41:55:4e:4c:48:cd:35:c1:33:9e";
// Made with `openssl req -x509`; fingerprint from `openssl x509 -fingerprint -sha1`.
const CERT: &str = include_str!("cert.pem");
const CERT_FP: &str = "c4:9e:c5:e1:1d:cb:81:81:a4:b1:5c:1e:c0:7c:fa:a0:02:8e:cf:f9";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn import_each_type_at_2_1() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    for (name, key, fp) in [
        ("ed", ED25519, ED25519_FP),
        ("rsa", RSA, RSA_FP),
        ("ec", ECDSA, ECDSA_FP),
    ] {
        let (st, v) = api
            .post(
                "/v2.1/os-keypairs",
                "alice",
                json!({"keypair": {"name": name, "public_key": key}}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let k = &v["keypair"];
        assert_eq!(keys(k), ["fingerprint", "name", "public_key", "user_id"]);
        assert_eq!(k["fingerprint"], fp, "{name}");
        assert_eq!(k["public_key"], key);
        assert_eq!(k["user_id"], "alice");
    }
    let (st, v) = api.get("/v2.1/os-keypairs", "alice").await;
    assert_eq!(st, 200);
    let list = v["keypairs"].as_array().expect("list");
    assert_eq!(list.len(), 3);
    assert_eq!(
        keys(&list[0]["keypair"]),
        ["fingerprint", "name", "public_key"]
    );
    assert_eq!(list[0]["keypair"]["name"], "ec");

    let (st, v) = api.get("/v2.1/os-keypairs/ed", "alice").await;
    assert_eq!(st, 200);
    let k = &v["keypair"];
    assert_eq!(
        keys(k),
        [
            "created_at",
            "deleted",
            "deleted_at",
            "fingerprint",
            "id",
            "name",
            "public_key",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(k["deleted"], false);
    assert!(k["id"].is_i64());

    // Another user of the same project does not see them.
    let (_, v) = api.get("/v2.1/os-keypairs", "alice2").await;
    assert_eq!(v["keypairs"], json!([]));
    let (st, v) = api.get("/v2.1/os-keypairs/ed", "alice2").await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        "Keypair ed not found for user alice2"
    );

    let (st, v) = api
        .post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "ed", "public_key": ED25519}}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        fault(&v, "conflictingRequest"),
        "Key pair 'ed' already exists."
    );

    let (st, v) = api.delete("/v2.1/os-keypairs/ed", "alice").await;
    assert_eq!((st, v), (202, Value::Null));
    let (st, _) = api.delete("/v2.1/os-keypairs/ed", "alice").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn invalid_requests() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    for body in [
        json!({"keypair": {"name": "k", "public_key": "ssh-rsa garbage"}}),
        json!({"keypair": {"name": "k", "public_key": ED25519.replace("ssh-ed25519", "ssh-rsa")}}),
        json!({"keypair": {"name": "bad/name", "public_key": ED25519}}),
        json!({"keypair": {"name": "", "public_key": ED25519}}),
        json!({"keypair": {"public_key": ED25519}}),
        json!({"keypair": {"name": "k", "type": "ssh", "public_key": ED25519}}),
        json!({"keypair": {"name": "k", "public_key": ED25519, "extra": 1}}),
    ] {
        let (st, v) = api.post("/v2.1/os-keypairs", "alice", body.clone()).await;
        assert_eq!(st, 400, "{body}: {v}");
    }
    let (st, v) = api
        .post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "k", "public_key": "ssh-rsa garbage"}}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        fault(&v, "badRequest"),
        "Keypair data is invalid: failed to generate fingerprint"
    );
}

#[tokio::test]
async fn generate_and_x509_at_2_2() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    // Generated at 2.1: private key returned, 200.
    let (st, v) = api
        .post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "gen"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let k = &v["keypair"];
    assert!(k["private_key"]
        .as_str()
        .expect("private")
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert!(k["public_key"]
        .as_str()
        .expect("pub")
        .starts_with("ssh-rsa "));
    assert_eq!(k["fingerprint"].as_str().expect("fp").len(), 47);

    // 2.2: type, 201, 204.
    let (st, v) = api
        .call_v(
            "2.2",
            "POST",
            "/v2.1/os-keypairs",
            "alice",
            Some(json!({"keypair": {"name": "cert", "type": "x509", "public_key": CERT}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["keypair"]["type"], "x509");
    assert_eq!(v["keypair"]["fingerprint"], CERT_FP);
    let (st, v) = api
        .call_v(
            "2.2",
            "POST",
            "/v2.1/os-keypairs",
            "alice",
            Some(json!({"keypair": {"name": "gencert", "type": "x509"}})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert!(v["keypair"]["public_key"]
        .as_str()
        .expect("cert")
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(v["keypair"]["private_key"].is_string());
    assert_eq!(v["keypair"]["fingerprint"].as_str().expect("fp").len(), 59);
    let (st, v) = api
        .call_v("2.2", "GET", "/v2.1/os-keypairs/cert", "alice", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["keypair"]["type"], "x509");
    let (_, v) = api
        .call_v("2.2", "GET", "/v2.1/os-keypairs", "alice", None)
        .await;
    assert_eq!(v["keypairs"][0]["keypair"]["type"], "x509");
    let (st, _) = api
        .call_v("2.2", "DELETE", "/v2.1/os-keypairs/cert", "alice", None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = api
        .call_v(
            "2.2",
            "POST",
            "/v2.1/os-keypairs",
            "alice",
            Some(json!({"keypair": {"name": "k", "type": "pgp"}})),
        )
        .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn admin_acts_for_other_users_at_2_10() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let body = json!({"keypair": {"name": "k", "public_key": ED25519, "user_id": "alice"}});
    let (st, v) = api
        .call_v(
            "2.10",
            "POST",
            "/v2.1/os-keypairs",
            "admin",
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["keypair"]["user_id"], "alice");
    let (st, _) = api
        .call_v("2.10", "POST", "/v2.1/os-keypairs", "bob", Some(body))
        .await;
    assert_eq!(st, 403);
    let (st, _) = api
        .call_v(
            "2.10",
            "GET",
            "/v2.1/os-keypairs/k?user_id=alice",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = api
        .call_v(
            "2.10",
            "GET",
            "/v2.1/os-keypairs/k?user_id=alice",
            "bob",
            None,
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = api.get("/v2.1/os-keypairs/k", "alice").await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn key_pair_quota() {
    let mut cfg = rustack_compute_server::ComputeConfig::default();
    cfg.quota.key_pairs = 1;
    let api = api_with(cfg).await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let (st, _) = api
        .post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "a", "public_key": ED25519}}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = api
        .post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "b", "public_key": ED25519}}),
        )
        .await;
    assert_eq!(st, 403);
    assert_eq!(
        fault(&v, "forbidden"),
        "Quota exceeded, too many key pairs."
    );
    // The quota is per user.
    let (st, _) = api
        .post(
            "/v2.1/os-keypairs",
            "alice2",
            json!({"keypair": {"name": "b", "public_key": ED25519}}),
        )
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn concurrent_imports() {
    let api = api().await;
    // Ten different names at once: all succeed with distinct ids.
    let calls = (0..10).map(|i| {
        api.post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": format!("k{i}"), "public_key": ED25519}}),
        )
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(|(st, _)| *st == 200), "{results:?}");
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..10 {
        let (_, v) = api.get(&format!("/v2.1/os-keypairs/k{i}"), "alice").await;
        ids.insert(v["keypair"]["id"].as_i64().expect("id"));
    }
    assert_eq!(ids.len(), 10);
    // The same name at once: exactly one wins.
    let calls = (0..5).map(|_| {
        api.post(
            "/v2.1/os-keypairs",
            "alice",
            json!({"keypair": {"name": "same", "public_key": ED25519}}),
        )
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(results.iter().filter(|(st, _)| *st == 200).count(), 1);
    assert_eq!(results.iter().filter(|(st, _)| *st == 409).count(), 4);
}
