//! A service running apart from identity validates tokens over the Identity API
//! (keystonemiddleware's role) with a service user holding the `service` role.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::Method;
use rustack_api_common::remote::RemoteValidator;
use rustack_api_common::TokenValidator;
use rustack_identity_api::ServiceCredentials;
use rustack_test_utils::TestCloud;
use serde_json::json;

async fn service_user(c: &TestCloud, admin: &str) -> ServiceCredentials {
    let uid = c.create_user(admin, "svc-test", "svc-pw").await;
    let r = c
        .call(Method::GET, "/v3/projects?name=service", Some(admin), None)
        .await;
    let service_project = r.body["projects"][0]["id"].as_str().unwrap().to_string();
    c.grant(admin, &service_project, &uid, "service").await;
    ServiceCredentials {
        username: "svc-test".into(),
        password: "svc-pw".into(),
        domain_name: "Default".into(),
        project_name: "service".into(),
    }
}

#[tokio::test]
async fn validates_over_http_and_honours_cache_ttl() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let creds = service_user(&c, &admin).await;
    let uncached = RemoteValidator::new(c.identity_url(), creds.clone(), Duration::ZERO).unwrap();
    let cached = RemoteValidator::new(c.identity_url(), creds, Duration::from_secs(300)).unwrap();

    let (uid, project, tok) = c.persona(&admin, "user1", "member", None).await;
    let ctx = uncached.validate(&tok).await.unwrap();
    assert_eq!(ctx.user_id, uid);
    assert_eq!(ctx.project_id.as_deref(), Some(project.as_str()));
    assert!(ctx.has_role("member") && ctx.has_role("reader") && !ctx.has_role("admin"));
    let ctx = cached.validate(&tok).await.unwrap();
    assert_eq!(ctx.user_id, uid);

    let err = uncached.validate("not-a-token").await.unwrap_err();
    assert_eq!(err.status_code(), 401);

    // Revoke: the uncached validator sees it at once, the cached one after its TTL
    // (keystonemiddleware's token_cache_time semantics).
    let r = c
        .call_with(
            Method::DELETE,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &tok)],
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        uncached.validate(&tok).await.unwrap_err().status_code(),
        401
    );
    assert!(cached.validate(&tok).await.is_ok());

    // A service user without the service role may not validate others' tokens.
    let (_, _, _) = c.persona(&admin, "plain", "member", None).await;
    let plain = RemoteValidator::new(
        c.identity_url(),
        ServiceCredentials {
            username: "plain".into(),
            password: "pw-secret".into(),
            domain_name: "Default".into(),
            project_name: "plain-project".into(),
        },
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(plain.validate(&admin).await.unwrap_err().status_code(), 500);

    // Identity unreachable: 503, not 401.
    let down = RemoteValidator::new(
        "http://127.0.0.1:1",
        ServiceCredentials {
            username: "x".into(),
            password: "y".into(),
            domain_name: "Default".into(),
            project_name: "service".into(),
        },
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(down.validate(&admin).await.unwrap_err().status_code(), 503);
    let _ = json!({});
}
