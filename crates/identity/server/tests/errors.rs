//! Bad input answers Keystone's errors with the right status and a JSON body, and
//! loses nothing.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_are_400_and_write_nothing() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let users_before = c.call(Method::GET, "/v3/users", Some(&a), None).await.body["users"]
        .as_array()
        .unwrap()
        .len();
    for body in ["", "{", "[]", "{\"user\": 5}", "{\"usr\": {}}", "null"] {
        let r = c.call_raw(Method::POST, "/v3/users", Some(&a), body).await;
        assert_eq!(r.status, 400, "body {body:?}: {}", r.raw);
        assert_eq!(r.body["error"]["code"], 400);
        assert_eq!(r.body["error"]["title"], "Bad Request");
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
        assert!(r.header("content-type").starts_with("application/json"));
    }
    for (path, body) in [
        ("/v3/users", json!({"user": {"name": 5}})),
        (
            "/v3/users",
            json!({"user": {"name": "x", "enabled": "yes"}}),
        ),
        ("/v3/users", json!({"user": {}})),
        ("/v3/projects", json!({"project": {"name": ""}})),
        (
            "/v3/projects",
            json!({"project": {"name": "p", "tags": "notalist"}}),
        ),
        ("/v3/roles", json!({"role": {"name": ["x"]}})),
        ("/v3/domains", json!({"domain": {"name": "x".repeat(65)}})),
        ("/v3/services", json!({"service": {"name": "no type"}})),
        (
            "/v3/endpoints",
            json!({"endpoint": {"interface": "public", "url": "not-a-url", "service_id": "x"}}),
        ),
        (
            "/v3/auth/tokens",
            json!({"auth": {"identity": {"methods": "password"}}}),
        ),
        (
            "/v3/auth/tokens",
            json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}}),
        ),
    ] {
        let r = c
            .call(Method::POST, path, Some(&a), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.raw);
    }
    let r = c.call(Method::GET, "/v3/users", Some(&a), None).await;
    assert_eq!(
        r.body["users"].as_array().unwrap().len(),
        users_before,
        "nothing was half-written"
    );
    // Unsupported auth method.
    let r = c
        .call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(json!({"auth": {"identity": {"methods": ["totp"]}}})),
        )
        .await;
    assert_eq!(r.status, 401);
    // User password change with extra fields.
    let r = c
        .call(
            Method::POST,
            "/v3/users/x/password",
            None,
            Some(json!({"user": {"original_password": "a", "password": "b", "x": 1}})),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn unknown_things_are_404_and_bad_methods_405() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    for path in [
        "/v3/users/nope",
        "/v3/projects/nope",
        "/v3/groups/nope",
        "/v3/roles/nope",
        "/v3/regions/nope",
        "/v3/services/nope",
        "/v3/endpoints/nope",
        "/v3/credentials/nope",
        "/v3/nothing-here",
    ] {
        let r = c.call(Method::GET, path, Some(&a), None).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body["error"]["code"], 404, "{path}: {}", r.raw);
    }
    let r = c.call(Method::PUT, "/v3/users", Some(&a), None).await;
    assert_eq!(r.status, 405);
    let r = c
        .call(
            Method::PUT,
            "/v3/projects/nope/users/nope/roles/nope",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&a),
            None,
            &[("X-Subject-Token", "gAAAAAgarbage")],
        )
        .await;
    assert_eq!(r.status, 404);
    let r = c.call(Method::GET, "/v3/auth/tokens", Some(&a), None).await;
    assert_eq!(r.status, 400, "missing X-Subject-Token");
}

#[tokio::test]
async fn ids_cannot_be_changed_by_update() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let p = c.create_project(&a, "fixed").await;
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/projects/{p}"),
            Some(&a),
            Some(json!({"project": {"id": "other"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/projects/{p}"),
            Some(&a),
            Some(json!({"project": {"domain_id": "elsewhere"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .call(Method::GET, &format!("/v3/projects/{p}"), Some(&a), None)
        .await;
    assert_eq!(r.body["project"]["domain_id"], "default");
}
