//! Version discovery, microversion negotiation and the headers every response carries.

use rustack_compute_api::microversion;

use crate::common::api;

#[tokio::test]
async fn version_documents() {
    let api = api().await;
    let r = api.req("GET", "/", None, None, &[]).await;
    assert_eq!(r.status, 200);
    let versions = r.body["versions"].as_array().expect("versions");
    assert_eq!(versions[0]["id"], "v2.0");
    assert_eq!(versions[1]["id"], "v2.1");
    assert_eq!(versions[1]["min_version"], "2.1");
    assert_eq!(versions[1]["version"], microversion::max().to_string());
    assert_eq!(
        versions[1]["links"][0]["href"],
        "http://compute.test:8774/v2.1/"
    );
    for path in ["/v2.1", "/v2.1/"] {
        let r = api.req("GET", path, None, None, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body["version"]["id"], "v2.1");
        assert_eq!(r.body["version"]["status"], "CURRENT");
    }
    // The v2.0 entry's self link is followable and links back to itself.
    for path in ["/v2", "/v2/"] {
        let r = api.req("GET", path, None, None, &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body["version"]["id"], "v2.0");
        assert_eq!(
            r.body["version"]["links"][0]["href"],
            versions[0]["links"][0]["href"]
        );
    }
}

#[tokio::test]
async fn request_ids_on_every_response() {
    let api = api().await;
    for (path, token) in [
        ("/", None),
        ("/v2.1/nothing-here", Some("alice")),
        ("/v2.1/nothing-here", None),
    ] {
        let r = api.req("GET", path, token, None, &[]).await;
        let id = r.header("x-openstack-request-id");
        assert!(id.starts_with("req-"), "{path}: {id:?}");
        assert_eq!(r.header("x-compute-request-id"), id, "{path}");
    }
}

#[tokio::test]
async fn auth_and_faults() {
    let api = api().await;
    let r = api.req("GET", "/v2.1/nothing-here", None, None, &[]).await;
    assert_eq!(r.status, 401);
    let r = api
        .req("GET", "/v2.1/nothing-here", Some("bogus"), None, &[])
        .await;
    assert_eq!(r.status, 401);
    let r = api
        .req("GET", "/v2.1/nothing-here", Some("alice"), None, &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["itemNotFound"]["code"], 404);
}

#[tokio::test]
async fn microversion_negotiation() {
    let api = api().await;
    let max = microversion::max().to_string();
    // The version is echoed in both headers with Vary, on errors too.
    let r = api
        .req("GET", "/v2.1/nothing-here", Some("alice"), None, &[])
        .await;
    assert_eq!(r.header("x-openstack-nova-api-version"), "2.1");
    assert_eq!(r.header("openstack-api-version"), "compute 2.1");
    let vary = r.header("vary");
    assert!(vary.contains("OpenStack-API-Version"), "{vary}");
    assert!(vary.contains("X-OpenStack-Nova-API-Version"), "{vary}");

    let r = api
        .req(
            "GET",
            "/v2.1/nothing-here",
            Some("alice"),
            None,
            &[("openstack-api-version", "compute latest")],
        )
        .await;
    assert_eq!(r.header("x-openstack-nova-api-version"), max);
    assert_eq!(r.header("openstack-api-version"), format!("compute {max}"));

    let r = api
        .req(
            "GET",
            "/v2.1/nothing-here",
            Some("alice"),
            None,
            &[("x-openstack-nova-api-version", "latest")],
        )
        .await;
    assert_eq!(r.header("x-openstack-nova-api-version"), max);

    // Out of range: 406 with nova's message; malformed: 400.
    let r = api
        .req(
            "GET",
            "/v2.1/nothing-here",
            Some("alice"),
            None,
            &[("x-openstack-nova-api-version", "2.1000")],
        )
        .await;
    assert_eq!(r.status, 406);
    assert_eq!(
        r.body["computeFault"]["message"],
        format!("Version 2.1000 is not supported by the API. Minimum is 2.1 and maximum is {max}.")
    );
    let r = api
        .req(
            "GET",
            "/v2.1/nothing-here",
            Some("alice"),
            None,
            &[("openstack-api-version", "compute 2.abc")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["badRequest"]["message"],
        "API Version String 2.abc is of invalid format. Must be of format MajorNum.MinorNum."
    );
}

#[tokio::test]
async fn extensions() {
    let api = api().await;
    let (st, v) = api.get("/v2.1/extensions", "alice").await;
    assert_eq!(st, 200);
    let list = v["extensions"].as_array().expect("list");
    assert!(list.len() > 50);
    assert!(list.iter().any(|e| e["alias"] == "os-keypairs"));
    let (st, v) = api.get("/v2.1/extensions/os-keypairs", "alice").await;
    assert_eq!(st, 200);
    assert_eq!(v["extension"]["name"], "Keypairs");
    let (st, _) = api.get("/v2.1/extensions/nope", "alice").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn project_id_in_urls() {
    let api = api().await;
    let pid = "0123456789abcdef0123456789abcdef";
    let (st, v) = api
        .get(&format!("/v2.1/{pid}/os-availability-zone"), "alice")
        .await;
    assert_eq!(st, 200, "{v}");
    let r = api
        .req(
            "GET",
            &format!("/v2.1/{pid}/limits?tenant_id=p1"),
            Some("admin"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-compute-request-id").starts_with("req-"));
    // Not a project id: routed as is.
    let (st, _) = api.get("/v2.1/not-a-project/flavors", "alice").await;
    assert_eq!(st, 404);
}
