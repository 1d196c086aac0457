//! Keystone's security compliance settings: lockout after failed password
//! authentications and password history on self-service changes (off by default).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::json;

async fn change(c: &TestCloud, uid: &str, from: &str, to: &str) -> u16 {
    c.call(
        Method::POST,
        &format!("/v3/users/{uid}/password"),
        None,
        Some(json!({"user": {"original_password": from, "password": to}})),
    )
    .await
    .status
    .as_u16()
}

#[tokio::test]
async fn lockout_after_failures_until_the_duration_passes() {
    let c = TestCloud::start_with(|cfg| {
        cfg.identity.lockout_failure_attempts = Some(2);
        cfg.identity.lockout_duration = 1;
    })
    .await;
    let a = c.admin_token().await;
    let uid = c.create_user(&a, "lock-me", "right-pw").await;
    assert_eq!(c.password_token(&uid, "right-pw", None).await.status, 201);
    for _ in 0..2 {
        assert_eq!(c.password_token(&uid, "wrong-pw", None).await.status, 401);
    }
    let r = c.password_token(&uid, "right-pw", None).await;
    assert_eq!(r.status, 401, "locked: {}", r.raw);
    assert_eq!(
        r.body["error"]["message"],
        format!("The account is locked for user: {uid}.")
    );
    // The lockout ends lockout_duration after the last failure.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.password_token(&uid, "right-pw", None).await;
        if r.status == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "still locked: {}", r.raw);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A success resets the count: one more failure does not lock.
    assert_eq!(c.password_token(&uid, "wrong-pw", None).await.status, 401);
    assert_eq!(c.password_token(&uid, "right-pw", None).await.status, 201);
    // An administrator's password reset lifts a lockout at once.
    for _ in 0..2 {
        c.password_token(&uid, "wrong-pw", None).await;
    }
    assert_eq!(c.password_token(&uid, "right-pw", None).await.status, 401);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&a),
            Some(json!({"user": {"password": "reset-pw"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.password_token(&uid, "reset-pw", None).await.status, 201);
    // As in Keystone, so does any update that leaves the user enabled.
    for _ in 0..2 {
        c.password_token(&uid, "wrong-pw", None).await;
    }
    assert_eq!(c.password_token(&uid, "reset-pw", None).await.status, 401);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&a),
            Some(json!({"user": {"description": "unlocked"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.password_token(&uid, "reset-pw", None).await.status, 201);
}

#[tokio::test]
async fn no_lockout_by_default() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let uid = c.create_user(&a, "never-locked", "right-pw").await;
    for _ in 0..5 {
        assert_eq!(c.password_token(&uid, "wrong-pw", None).await.status, 401);
    }
    assert_eq!(c.password_token(&uid, "right-pw", None).await.status, 201);
    // Nor any password history.
    assert_eq!(change(&c, &uid, "right-pw", "right-pw").await, 204);
}

#[tokio::test]
async fn self_service_changes_respect_the_password_history() {
    let c = TestCloud::start_with(|cfg| cfg.identity.unique_last_password_count = 2).await;
    let a = c.admin_token().await;
    let uid = c.create_user(&a, "historian", "pw-0").await;
    assert_eq!(change(&c, &uid, "pw-0", "pw-1").await, 204);
    assert_eq!(
        change(&c, &uid, "pw-1", "pw-1").await,
        400,
        "the current one"
    );
    assert_eq!(
        change(&c, &uid, "pw-1", "pw-0").await,
        400,
        "the one before"
    );
    assert_eq!(change(&c, &uid, "pw-1", "pw-2").await, 204);
    assert_eq!(change(&c, &uid, "pw-2", "pw-3").await, 204);
    assert_eq!(
        change(&c, &uid, "pw-3", "pw-0").await,
        204,
        "older than the last 2"
    );
    // An administrator is not held to it.
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&a),
            Some(json!({"user": {"password": "pw-0"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(c.password_token(&uid, "pw-0", None).await.status, 201);
}
