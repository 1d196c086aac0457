//! The authorization matrix: every implemented operation x persona (cloud admin of
//! another project, admin of the owning project, the creator, another member of the
//! project, a reader, a member of another project, anonymous), checked against
//! Barbican's default policy, plus a coverage test that fails when a registered
//! rule has no row.
//!
//! As upstream, Barbican loads the entity before enforcing policy, so a caller from
//! another project gets 403 (not 404) on an existing secret or container; orders are
//! looked up within the caller's project, so there it is 404.

mod common;

use common::{api, id_of, Api, Req};
use serde_json::{json, Value};

/// Persona tokens in the column order of [`ROWS`]; `None` is anonymous.
const PERSONAS: [Option<&str>; 7] = [
    Some("admin"),
    Some("p1admin"),
    Some("member"),
    Some("member2"),
    Some("reader"),
    Some("other"),
    None,
];

/// (rule, method, path, body, microversion, expected per persona).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    [u16; 7],
);

/// Placeholders: `{s}` a secret with a payload, metadata `seed` and consumer `seed`;
/// `{t}` a secret without payload; `{c}` a generic container holding `{s}` as
/// `seed` with consumer `seed`; `{o}` an order; `{q}` a project with quotas set.
/// All made by `member` (alice, project p1) afresh for every cell.
const ROWS: &[Row] = &[
    (
        "secrets:get",
        "GET",
        "/v1/secrets",
        None,
        [200, 200, 200, 200, 403, 200, 401],
    ),
    (
        "secrets:post",
        "POST",
        "/v1/secrets",
        Some(r#"{"name": "n"}"#),
        [201, 201, 201, 201, 403, 201, 401],
    ),
    (
        "secret:get",
        "GET",
        "/v1/secrets/{s}",
        None,
        [200, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret:decrypt",
        "GET",
        "/v1/secrets/{s}/payload",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret:put",
        "PUT",
        "/v1/secrets/{t}",
        Some("TEXT"),
        [403, 204, 204, 204, 403, 403, 401],
    ),
    (
        "secret:delete",
        "DELETE",
        "/v1/secrets/{s}",
        None,
        [204, 204, 204, 204, 403, 403, 401],
    ),
    (
        "secret_meta:get",
        "GET",
        "/v1/secrets/{s}/metadata",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret_meta:put",
        "PUT",
        "/v1/secrets/{s}/metadata",
        Some(r#"{"metadata": {"a": "b"}}"#),
        [403, 201, 201, 201, 403, 403, 401],
    ),
    (
        "secret_meta:post",
        "POST",
        "/v1/secrets/{s}/metadata",
        Some(r#"{"key": "k", "value": "v"}"#),
        [403, 201, 201, 201, 403, 403, 401],
    ),
    (
        "secret_meta:delete",
        "DELETE",
        "/v1/secrets/{s}/metadata/seed",
        None,
        [403, 204, 204, 204, 403, 403, 401],
    ),
    (
        "secret_consumers:get",
        "GET",
        "/v1/secrets/{s}/consumers",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret_consumers:post",
        "POST",
        "/v1/secrets/{s}/consumers",
        Some(r#"{"service": "image", "resource_type": "image", "resource_id": "i1"}"#),
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret_consumers:delete",
        "DELETE",
        "/v1/secrets/{s}/consumers",
        Some(r#"{"service": "volume", "resource_type": "volume", "resource_id": "seed"}"#),
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret_acls:get",
        "GET",
        "/v1/secrets/{s}/acl",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret_acls:put_patch",
        "PUT",
        "/v1/secrets/{s}/acl",
        Some(r#"{"read": {"users": ["u9"]}}"#),
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "secret_acls:delete",
        "DELETE",
        "/v1/secrets/{s}/acl",
        None,
        [403, 204, 204, 204, 403, 403, 401],
    ),
    (
        "containers:get",
        "GET",
        "/v1/containers",
        None,
        [200, 200, 200, 200, 403, 200, 401],
    ),
    (
        "containers:post",
        "POST",
        "/v1/containers",
        Some(r#"{"type": "generic"}"#),
        [201, 201, 201, 201, 403, 201, 401],
    ),
    (
        "container:get",
        "GET",
        "/v1/containers/{c}",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "container:delete",
        "DELETE",
        "/v1/containers/{c}",
        None,
        [403, 204, 204, 204, 403, 403, 401],
    ),
    (
        "container_secret:post",
        "POST",
        "/v1/containers/{c}/secrets",
        Some(r#"{"name": "n2", "secret_ref": "{s}"}"#),
        [403, 201, 201, 201, 403, 403, 401],
    ),
    (
        "container_secret:delete",
        "DELETE",
        "/v1/containers/{c}/secrets",
        Some(r#"{"name": "seed", "secret_ref": "{s}"}"#),
        [403, 204, 204, 204, 403, 403, 401],
    ),
    (
        "container_consumers:get",
        "GET",
        "/v1/containers/{c}/consumers",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "container_consumers:post",
        "POST",
        "/v1/containers/{c}/consumers",
        Some(r#"{"name": "n", "URL": "http://u"}"#),
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "container_consumers:delete",
        "DELETE",
        "/v1/containers/{c}/consumers",
        Some(r#"{"name": "seed", "URL": "http://seed"}"#),
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "container_acls:get",
        "GET",
        "/v1/containers/{c}/acl",
        None,
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "container_acls:put_patch",
        "PATCH",
        "/v1/containers/{c}/acl",
        Some(r#"{"read": {"project-access": false}}"#),
        [403, 200, 200, 200, 403, 403, 401],
    ),
    (
        "container_acls:delete",
        "DELETE",
        "/v1/containers/{c}/acl",
        None,
        [403, 204, 204, 204, 403, 403, 401],
    ),
    (
        "orders:get",
        "GET",
        "/v1/orders",
        None,
        [200, 200, 200, 200, 403, 200, 401],
    ),
    (
        "orders:post",
        "POST",
        "/v1/orders",
        Some(r#"{"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}}"#),
        [202, 202, 202, 202, 403, 202, 401],
    ),
    (
        "order:get",
        "GET",
        "/v1/orders/{o}",
        None,
        [404, 200, 200, 200, 403, 404, 401],
    ),
    (
        "order:delete",
        "DELETE",
        "/v1/orders/{o}",
        None,
        [404, 204, 204, 204, 403, 404, 401],
    ),
    (
        "orders:put",
        "PUT",
        "/v1/orders",
        Some(r#"{"type": "key"}"#),
        [405, 405, 405, 405, 403, 405, 401],
    ),
    (
        "quotas:get",
        "GET",
        "/v1/quotas",
        None,
        [200, 200, 200, 200, 200, 200, 401],
    ),
    (
        "project_quotas:get",
        "GET",
        "/v1/project-quotas/{q}",
        None,
        [200, 200, 403, 403, 403, 403, 401],
    ),
    (
        "project_quotas:put",
        "PUT",
        "/v1/project-quotas/{q}",
        Some(r#"{"project_quotas": {"secrets": 5}}"#),
        [204, 204, 403, 403, 403, 403, 401],
    ),
    (
        "project_quotas:delete",
        "DELETE",
        "/v1/project-quotas/{q}",
        None,
        [204, 204, 403, 403, 403, 403, 401],
    ),
];

/// Registered rules with no API here: the legacy
/// container-consumer lookup, secret stores and transport keys (404 in a single-store
/// deployment, checked in `resources.rs`).
const NOT_SERVED: &[&str] = &[
    "consumer:get",
    "secretstores:get",
    "secretstores:get_global_default",
    "secretstores:get_preferred",
    "secretstore_preferred:post",
    "secretstore_preferred:delete",
    "secretstore:get",
    "transport_key:get",
    "transport_key:delete",
    "transport_keys:get",
    "transport_keys:post",
];

struct Fixture {
    s: String,
    t: String,
    c: String,
    o: String,
    q: String,
}

async fn fixture(a: &Api) -> Fixture {
    let s = a.secret("member", "s", "payload").await;
    let t = id_of(
        &a.call("member", "POST", "/v1/secrets", Some(json!({"name": "t"})))
            .await
            .body["secret_ref"],
    );
    let r = a
        .call(
            "member",
            "POST",
            &format!("/v1/secrets/{s}/metadata"),
            Some(json!({"key": "seed", "value": "1"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = a
        .call(
            "member",
            "POST",
            &format!("/v1/secrets/{s}/consumers"),
            Some(json!({"service": "volume", "resource_type": "volume", "resource_id": "seed"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .call(
            "member",
            "POST",
            "/v1/containers",
            Some(json!({"type": "generic", "secret_refs": [{"name": "seed", "secret_ref": common::href(&s)}]})),
        )
        .await;
    assert_eq!(r.status, 201);
    let c = id_of(&r.body["container_ref"]);
    let r = a
        .call(
            "member",
            "POST",
            &format!("/v1/containers/{c}/consumers"),
            Some(json!({"name": "seed", "URL": "http://seed"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .call(
            "member",
            "POST",
            "/v1/orders",
            Some(json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}})),
        )
        .await;
    assert_eq!(r.status, 202);
    let o = id_of(&r.body["order_ref"]);
    let q = format!("proj-{}", uuid::Uuid::new_v4().simple());
    let r = a
        .call(
            "admin",
            "PUT",
            &format!("/v1/project-quotas/{q}"),
            Some(json!({"project_quotas": {"orders": 9}})),
        )
        .await;
    assert_eq!(r.status, 204);
    Fixture { s, t, c, o, q }
}

fn fill(text: &str, f: &Fixture) -> String {
    text.replace("{s}", &f.s)
        .replace("{t}", &f.t)
        .replace("{c}", &f.c)
        .replace("{o}", &f.o)
        .replace("{q}", &f.q)
}

#[tokio::test]
async fn authorization_matrix() {
    let a = api().await;
    let mut failures = Vec::new();
    for (rule, method, path, body, want) in ROWS {
        for (persona, want) in PERSONAS.iter().zip(want) {
            let f = fixture(&a).await;
            let path = fill(path, &f);
            let mut req = Req::new(method, &path, persona.unwrap_or("")).version("1.1");
            if persona.is_none() {
                req = req.anonymous();
            }
            req = match body {
                Some("TEXT") => req.raw("text/plain", b"late payload"),
                Some(b) => {
                    let v: Value = serde_json::from_str(&fill(b, &f)).expect("body");
                    req.json(v)
                }
                None => req,
            };
            let r = a.send(req).await;
            if r.status != *want {
                failures.push(format!(
                    "{rule} {method} {path} as {}: got {} want {want} ({})",
                    persona.unwrap_or("anonymous"),
                    r.status,
                    r.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_a_row() {
    let covered: Vec<&str> = ROWS.iter().map(|r| r.0).collect();
    let missing: Vec<String> = rustack_policy::defaults::key_manager()
        .into_iter()
        .map(|d| d.name)
        .filter(|n| n.contains(':'))
        .filter(|n| !covered.contains(&n.as_str()) && !NOT_SERVED.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a matrix row: {missing:?}"
    );
}
