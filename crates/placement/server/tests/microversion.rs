//! Microversion negotiation, the root document and placement's error shape.

mod common;

use common::api;
use serde_json::json;

#[tokio::test]
async fn root_and_negotiation() {
    let a = api().await;
    // Root needs no token.
    let r = a.req("GET", "/", None, None, None).await;
    assert_eq!(r.status, 200);
    let v = &r.body["versions"][0];
    assert_eq!(v["id"], "v1.0");
    assert_eq!(v["min_version"], "1.0");
    assert_eq!(v["max_version"], "1.39");
    assert_eq!(v["status"], "CURRENT");
    assert_eq!(r.headers["openstack-api-version"], "placement 1.0");
    assert_eq!(r.headers["vary"], "openstack-api-version");
    let r = a.req("GET", "/", None, Some("latest"), None).await;
    assert_eq!(r.headers["openstack-api-version"], "placement 1.39");
    let r = a.req("GET", "/", None, Some("1.14"), None).await;
    assert_eq!(r.headers["openstack-api-version"], "placement 1.14");
    // Out of range: 406 with bounds.
    for bad in ["0.5", "1.40", "2.0"] {
        let r = a.req("GET", "/", None, Some(bad), None).await;
        assert_eq!(r.status, 406, "{bad}");
        let e = &r.body["errors"][0];
        assert_eq!(e["title"], "Not Acceptable");
        assert!(e["detail"]
            .as_str()
            .expect("value")
            .contains(&format!("Unacceptable version header: {bad}")));
        assert_eq!(e["max_version"], "1.39");
        assert_eq!(e["min_version"], "1.0");
    }
    // Malformed: 400.
    for bad in ["pony.horse", "1.2.3", "1"] {
        let r = a.req("GET", "/", None, Some(bad), None).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.body["errors"][0]["detail"]
            .as_str()
            .expect("value")
            .contains("invalid version string"));
    }
}

#[tokio::test]
async fn version_gates_shapes() {
    let a = api().await;
    // 1.0: POST returns 201 with no body; no parent/root fields.
    let r = a
        .req(
            "POST",
            "/resource_providers",
            Some("admin"),
            None,
            Some(json!({"name": "old"})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.headers["location"]
        .to_str()
        .expect("value")
        .starts_with("/resource_providers/"));
    let loc = r.headers["location"].to_str().expect("value").to_string();
    let r = a.req("GET", &loc, Some("admin"), Some("1.13"), None).await;
    assert!(r.body.get("root_provider_uuid").is_none());
    assert!(r.headers.get("last-modified").is_none());
    // parent_provider_uuid is not accepted before 1.14.
    let r = a
        .req(
            "POST",
            "/resource_providers",
            Some("admin"),
            Some("1.13"),
            Some(json!({"name": "x", "parent_provider_uuid": null})),
        )
        .await;
    assert_eq!(r.status, 400);
    // Traits need 1.6, resource classes 1.2.
    assert_eq!(
        a.req("GET", "/traits", Some("admin"), Some("1.5"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        a.req("GET", "/resource_classes", Some("admin"), Some("1.1"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        a.req("GET", "/resource_classes", Some("admin"), Some("1.2"), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn error_shape() {
    let a = api().await;
    let missing = common::uuid();
    // Before 1.23: no code.
    let r = a
        .req(
            "GET",
            &format!("/resource_providers/{missing}"),
            Some("admin"),
            Some("1.22"),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let e = &r.body["errors"][0];
    assert_eq!(e["status"], 404);
    assert_eq!(e["title"], "Not Found");
    assert!(e.get("code").is_none());
    assert!(e["request_id"].as_str().is_some());
    assert!(e["detail"].as_str().expect("value").contains(&missing));
    // 1.23+: code.
    let r = a
        .call("GET", &format!("/resource_providers/{missing}"), None)
        .await;
    assert_eq!(r.body["errors"][0]["code"], "placement.undefined_code");
    // Malformed JSON, wrong content type, extra fields.
    let r = a
        .call(
            "POST",
            "/resource_providers",
            Some(json!({"name": "x", "bogus": 1})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["errors"][0]["detail"]
        .as_str()
        .expect("value")
        .contains("JSON does not validate"));
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/resource_providers")
        .header("x-auth-token", "admin")
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("{}"))
        .expect("value");
    use tower::ServiceExt;
    let resp = a.router.clone().oneshot(req).await.expect("value");
    assert_eq!(resp.status().as_u16(), 415);
    // An explicit Accept without JSON is 406 on GETs.
    let req = axum::http::Request::builder()
        .uri("/resource_providers")
        .header("x-auth-token", "admin")
        .header("accept", "text/html")
        .body(axum::body::Body::empty())
        .expect("request");
    let resp = a.router.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status().as_u16(), 406);
    let req = axum::http::Request::builder()
        .uri("/resource_providers")
        .header("x-auth-token", "admin")
        .header("accept", "text/html, application/json;q=0.9")
        .body(axum::body::Body::empty())
        .expect("request");
    let resp = a.router.clone().oneshot(req).await.expect("response");
    assert_eq!(resp.status().as_u16(), 200);
    // Unknown route and method.
    assert_eq!(a.call("GET", "/nope", None).await.status, 404);
    let r = a.call("PATCH", "/resource_providers", None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["openstack-api-version"], "placement 1.39");
    // Duplicate single-valued query parameter.
    let r = a
        .call("GET", "/resource_providers?name=a&name=b", None)
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["code"], "placement.query.duplicate_key");
}
