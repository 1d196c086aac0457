//! Cross-validation against upstream Keystone.
//!
//! `tests/fixtures/keystone/` was produced by `tests/fixtures/gen.py`, which
//! runs Keystone's own `TokenFormatter` and `FernetUtils` (see its docstring
//! for the exact commands and Keystone version). These tests check that:
//! - every Keystone token validates here to the fields Keystone itself
//!   returned, or to `UnsupportedVersion` for the payloads not implemented;
//! - re-encoding the decoded payload gives Keystone's msgpack bytes exactly,
//!   and re-encrypting with the token's own timestamp and IV gives Keystone's
//!   token string exactly (so the two implementations are bit-compatible);
//! - our rotations name key files exactly as Keystone's do;
//! - tokens we create validate in Keystone (opt-in: set `KEYSTONE_PYTHON` to
//!   a Python with keystone installed, e.g. `/tmp/ksvenv/bin/python`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustack_identity_fernet::payload::PayloadCodec;
use rustack_identity_fernet::{
    keystone_isotime, AuthMethods, FernetKey, KeyRepository, MultiFernet, PayloadError, TokenError,
    TokenFormatter, TokenPayload, TokenScope,
};
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keystone")
}

fn load_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn methods_from(meta: &Value) -> AuthMethods {
    AuthMethods::new(
        meta["auth_methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap()),
    )
}

fn repo() -> KeyRepository {
    KeyRepository::new(fixtures().join("keys"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The fields of keystone's `validate_token` result that our payload maps to.
fn keystone_view(p: &TokenPayload, issued_at: &DateTime<Utc>) -> Value {
    let (mut system, mut domain, mut project, mut trust, mut app_cred) =
        (None, None, None, None, None);
    match &p.scope {
        TokenScope::Unscoped => {}
        TokenScope::Domain(d) => domain = Some(d.clone()),
        TokenScope::Project(pr) => project = Some(pr.clone()),
        TokenScope::System(s) => system = Some(s.clone()),
        TokenScope::ApplicationCredential {
            project_id,
            app_cred_id,
        } => {
            project = Some(project_id.clone());
            app_cred = Some(app_cred_id.clone());
        }
        TokenScope::Trust {
            project_id,
            trust_id,
        } => {
            project = Some(project_id.clone());
            trust = Some(trust_id.clone());
        }
    }
    json!({
        "user_id": p.user_id,
        "methods": p.methods,
        "audit_ids": p.audit_ids,
        "system": system,
        "domain_id": domain,
        "project_id": project,
        "trust_id": trust,
        "app_cred_id": app_cred,
        "issued_at": keystone_isotime(issued_at),
        "expires_at": keystone_isotime(&p.expires_at),
    })
}

fn token_bytes(token: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE
        .decode(rustack_identity_fernet::fernet::restore_padding(token))
        .unwrap()
}

#[test]
fn fixture_repository_loads_in_keystone_order() {
    let meta = &load_json("tokens.json")["meta"];
    let ids: Vec<u64> = repo()
        .load_with_ids()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let want: Vec<u64> = meta["key_order_as_loaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ids, want);
}

#[test]
fn keystone_tokens_validate_bit_for_bit() {
    let data = load_json("tokens.json");
    let meta = &data["meta"];
    let methods = methods_from(meta);
    let default_domain = meta["default_domain_id"].as_str().unwrap();
    let keys = repo().load_with_ids().unwrap();
    let multi = MultiFernet::new(keys.iter().map(|(_, k)| k.clone()).collect()).unwrap();
    let formatter =
        TokenFormatter::new(multi.clone(), methods.clone()).with_default_domain_id(default_domain);
    let codec = PayloadCodec::new(methods, default_domain);

    let mut checked = 0;
    for t in data["tokens"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let token = t["token"].as_str().unwrap();
        let version = t["version"].as_u64().unwrap();
        let ks = &t["keystone"];
        assert!(!token.contains('='), "{name}: keystone strips padding");

        // Crypto layer: the plaintext is keystone's msgpack payload.
        let decrypted = multi.decrypt(token).unwrap();
        assert_eq!(
            hex::encode(&decrypted.plaintext),
            t["payload_hex"].as_str().unwrap(),
            "{name}"
        );

        // Which key made it.
        let (key_id, key): (u64, &FernetKey) = keys
            .iter()
            .find(|(_, k)| k.decrypt(token).is_ok())
            .map(|(i, k)| (*i, k))
            .unwrap();
        match t["key_file"].as_str().unwrap() {
            "primary" => assert_eq!(key_id, keys[0].0, "{name}"),
            other => assert_eq!(key_id.to_string(), other, "{name}"),
        }

        match formatter.validate(token) {
            Ok((payload, issued_at)) => {
                assert!(![4, 5, 6, 7, 10].contains(&version), "{name}");
                assert_eq!(payload.scope.payload_version(), version, "{name}");
                let got = keystone_view(&payload, &issued_at);
                for (field, value) in got.as_object().unwrap() {
                    assert_eq!(value, &ks[field], "{name}: field {field}");
                }
                // Full precision expiry, not just keystone's rendering.
                let want_exp =
                    DateTime::parse_from_rfc3339(t["inputs"]["expires_at"].as_str().unwrap())
                        .unwrap()
                        .to_utc();
                assert_eq!(payload.expires_at, want_exp, "{name}");

                if name.starts_with("legacy_raw") {
                    // Packed by msgpack < 1.0 (str instead of bin): we read
                    // it, but re-encode the modern way, as keystone does.
                    assert_ne!(
                        codec.encode(&payload).unwrap(),
                        decrypted.plaintext,
                        "{name}"
                    );
                } else {
                    // Same msgpack bytes...
                    let ours = codec.encode(&payload).unwrap();
                    assert_eq!(
                        hex::encode(&ours),
                        t["payload_hex"].as_str().unwrap(),
                        "{name}"
                    );
                    // ...and with keystone's timestamp and IV, the same token.
                    let raw = token_bytes(token);
                    let iv: [u8; 16] = raw[9..25].try_into().unwrap();
                    let again = key.encrypt_with_iv(&ours, decrypted.timestamp, iv);
                    assert_eq!(again.trim_end_matches('='), token, "{name}");
                }
                checked += 1;
            }
            Err(TokenError::Payload(PayloadError::UnsupportedVersion(v))) => {
                assert_eq!(v, version, "{name}");
                assert!(
                    [4, 5, 6, 7, 10].contains(&version),
                    "{name}: unexpectedly unsupported"
                );
            }
            Err(e) => panic!("{name}: {e:?}"),
        }
    }
    assert_eq!(checked, 18, "supported keystone tokens checked");
}

#[test]
fn keystone_tokens_reject_other_keys_and_tampering() {
    let data = load_json("tokens.json");
    let methods = methods_from(&data["meta"]);
    let token = data["tokens"][0]["token"].as_str().unwrap();
    let stranger = TokenFormatter::new(
        MultiFernet::new(vec![FernetKey::generate()]).unwrap(),
        methods.clone(),
    );
    assert!(matches!(
        stranger.validate(token),
        Err(TokenError::Unrecognized(_))
    ));

    let formatter = TokenFormatter::from_repository(&repo(), methods).unwrap();
    let mut raw = token_bytes(token);
    let n = raw.len();
    for i in [0, 5, 20, 40, n - 40, n - 1] {
        raw[i] ^= 0x01;
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
        assert!(formatter.validate(&tampered).is_err(), "byte {i}");
        raw[i] ^= 0x01;
    }
    assert!(formatter.validate(token).is_ok());
}

#[test]
fn rotation_matches_keystone_fernet_utils() {
    let data = load_json("rotation.json");
    for row in data["table"].as_array().unwrap() {
        let max = row["max_active_keys"].as_u64().unwrap() as usize;
        let steps = row["after_setup_then_rotations"].as_array().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(tmp.path().join("fernet-keys"));
        repo.setup_with_max_active_keys(max).unwrap();
        for (i, step) in steps.iter().enumerate() {
            if i > 0 {
                repo.rotate(max).unwrap();
            }
            let want: Vec<u64> = strs(step).iter().map(|s| s.parse().unwrap()).collect();
            assert_eq!(
                repo.key_ids().unwrap(),
                want,
                "max_active_keys={max} step {i}"
            );
        }
    }
}

/// Tokens this crate creates, with the fields keystone must decode from them.
fn rust_tokens(formatter: &TokenFormatter) -> Value {
    let exp = DateTime::parse_from_rfc3339("2032-02-29T23:59:59.654321Z")
        .unwrap()
        .to_utc();
    let u = "6c1a2b3d4e5f40718293a4b5c6d7e8f9".to_string();
    let p = "f0e1d2c3b4a5968778695a4b3c2d1e0f".to_string();
    let cases = [
        (
            "rust_unscoped",
            u.clone(),
            vec!["password"],
            TokenScope::Unscoped,
        ),
        (
            "rust_unscoped_ldap_user",
            "ldap-user".into(),
            vec!["external"],
            TokenScope::Unscoped,
        ),
        (
            "rust_domain_uuid",
            u.clone(),
            vec!["password", "token"],
            TokenScope::Domain("0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into()),
        ),
        (
            "rust_domain_default",
            u.clone(),
            vec!["password"],
            TokenScope::Domain("default".into()),
        ),
        (
            "rust_project_uuid",
            u.clone(),
            vec!["password"],
            TokenScope::Project(p.clone()),
        ),
        (
            "rust_project_non_uuid",
            "admin".into(),
            vec!["token", "password"],
            TokenScope::Project("admin-project".into()),
        ),
        (
            "rust_system",
            u.clone(),
            vec!["password", "mapped"],
            TokenScope::System("all".into()),
        ),
        (
            "rust_app_cred",
            u.clone(),
            vec!["application_credential"],
            TokenScope::ApplicationCredential {
                project_id: p.clone(),
                app_cred_id: "9f8e7d6c5b4a49382716a5b4c3d2e1f0".into(),
            },
        ),
        (
            "rust_trust",
            u.clone(),
            vec!["token"],
            TokenScope::Trust {
                project_id: p.clone(),
                trust_id: "1234567890ab4cdef0123456789abcde".into(),
            },
        ),
        (
            "rust_all_methods",
            u,
            rustack_identity_fernet::KEYSTONE_DEFAULT_AUTH_METHODS.to_vec(),
            TokenScope::Unscoped,
        ),
    ];
    let mut out = Vec::new();
    for (name, user_id, methods, scope) in cases {
        let payload = TokenPayload {
            user_id,
            methods: methods.into_iter().map(String::from).collect(),
            scope,
            expires_at: exp,
            audit_ids: vec![
                rustack_identity_fernet::random_audit_id(),
                rustack_identity_fernet::random_audit_id(),
            ],
        };
        let token = formatter.create(&payload).unwrap();
        // What we decode is what keystone must decode (methods in its order).
        let (decoded, issued_at) = formatter.validate(&token).unwrap();
        assert_eq!(decoded.scope, payload.scope);
        out.push(
            json!({"name": name, "token": token, "expect": keystone_view(&decoded, &issued_at)}),
        );
    }
    json!({ "tokens": out })
}

/// Runs `gen.py verify` on `tokens`; `None` when `KEYSTONE_PYTHON` is unset.
fn keystone_verify(tokens: &Value, expected_checks: usize) -> Option<()> {
    let python = std::env::var("KEYSTONE_PYTHON").ok()?;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rust_tokens.json");
    std::fs::write(&file, serde_json::to_string_pretty(tokens).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .arg(fixtures().parent().unwrap().join("gen.py"))
        .arg("verify")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "keystone rejected or misread our tokens"
    );
    assert!(stdout.contains(&format!("{expected_checks} passed, 0 failed")));
    Some(())
}

#[test]
fn rust_tokens_validate_in_keystone() {
    let data = load_json("tokens.json");
    let methods = methods_from(&data["meta"]);

    // 1. Keys made by keystone-manage, tokens made by us.
    let formatter = TokenFormatter::from_repository(&repo(), methods.clone()).unwrap();
    let tokens = rust_tokens(&formatter);
    let n = tokens["tokens"].as_array().unwrap().len();
    if keystone_verify(&tokens, n).is_none() {
        eprintln!("KEYSTONE_PYTHON not set: not running keystone on our tokens");
        return;
    }

    // 2. Keys and tokens both made by us: keystone must load the repository
    //    in the same order and validate the tokens.
    let tmp = tempfile::tempdir().unwrap();
    let own = KeyRepository::new(tmp.path().join("fernet-keys"));
    own.setup().unwrap();
    own.rotate(3).unwrap();
    own.rotate(3).unwrap();
    assert_eq!(own.key_ids().unwrap(), [0, 2, 3]);
    let formatter = TokenFormatter::from_repository(&own, methods).unwrap();
    let mut tokens = rust_tokens(&formatter);
    tokens["key_repository"] = json!(own.path());
    tokens["keys_primary_first"] = json!(own
        .load()
        .unwrap()
        .iter()
        .map(FernetKey::to_base64)
        .collect::<Vec<_>>());
    keystone_verify(&tokens, n + 1).unwrap();
}
