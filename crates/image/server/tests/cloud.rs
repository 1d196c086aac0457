//! The image service in the all-in-one cloud: found in the catalog, authenticating
//! real Keystone tokens in-process, sharing an image between two projects made
//! through the Identity API.

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

async fn call(
    http: &reqwest::Client,
    m: Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http.request(m, url).header("x-auth-token", token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.expect("send");
    let st = resp.status().as_u16();
    let text = resp.text().await.expect("text");
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn image_service_in_the_cloud() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    // The catalog lists the image service.
    let r = cloud
        .call(Method::GET, "/v3/auth/catalog", Some(&admin), None)
        .await;
    let image = r.body["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == "image")
        .cloned()
        .expect("image in catalog");
    assert_eq!(image["name"], "glance");
    let url = image["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .to_string();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let (st, _) = call(&http, Method::GET, format!("{url}/"), &admin, None).await;
    assert_eq!(st, 300);

    let (_, _, owner) = cloud.persona(&admin, "img-owner", "member", None).await;
    let (_, other_project, other) = cloud.persona(&admin, "img-other", "member", None).await;
    let (st, img) = call(
        &http,
        Method::POST,
        format!("{url}/v2/images"),
        &owner,
        Some(json!({"name": "shared", "disk_format": "raw", "container_format": "bare"})),
    )
    .await;
    assert_eq!(st, 201, "{img}");
    let id = img["id"].as_str().expect("id").to_string();
    let r = http
        .put(format!("{url}/v2/images/{id}/file"))
        .header("x-auth-token", &owner)
        .header("content-type", "application/octet-stream")
        .body(vec![7u8; 4096])
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 204);
    // Not visible to the other project until shared.
    assert_eq!(
        call(
            &http,
            Method::GET,
            format!("{url}/v2/images/{id}"),
            &other,
            None
        )
        .await
        .0,
        404
    );
    let (st, m) = call(
        &http,
        Method::POST,
        format!("{url}/v2/images/{id}/members"),
        &owner,
        Some(json!({"member": other_project})),
    )
    .await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["status"], "pending");
    assert_eq!(
        call(
            &http,
            Method::GET,
            format!("{url}/v2/images/{id}"),
            &other,
            None
        )
        .await
        .0,
        200
    );
    let (st, m) = call(
        &http,
        Method::PUT,
        format!("{url}/v2/images/{id}/members/{other_project}"),
        &other,
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(st, 200, "{m}");
    let (_, l) = call(&http, Method::GET, format!("{url}/v2/images"), &other, None).await;
    assert!(l["images"]
        .as_array()
        .expect("l")
        .iter()
        .any(|i| i["id"] == id.as_str()));
    let r = http
        .get(format!("{url}/v2/images/{id}/file"))
        .header("x-auth-token", &other)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.expect("bytes").to_vec(), vec![7u8; 4096]);
    cloud.stop().await;
}
