//! The network service in the all-in-one cloud: found in the catalog as `network`/
//! `neutron`, authenticating real Keystone tokens in-process, with the opt-in `public`
//! external network bootstrapped, driven the way Tempest's router tests drive it.

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

async fn call(
    http: &reqwest::Client,
    m: Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = http.request(m, url);
    if let Some(t) = token {
        r = r.header("x-auth-token", t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.expect("send");
    let st = resp.status().as_u16();
    let text = resp.text().await.expect("text");
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn network_service_in_the_cloud() {
    let cloud = TestCloud::start_with(|c| {
        c.network.public_network = Some(rustack_network_api::PublicNetworkConfig::default());
    })
    .await;
    let public_id = cloud
        .cloud
        .public_network_id
        .clone()
        .expect("public network bootstrapped");
    let admin = cloud.admin_token().await;
    let r = cloud
        .call(Method::GET, "/v3/auth/catalog", Some(&admin), None)
        .await;
    let entry = r.body["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == "network")
        .cloned()
        .expect("network in catalog");
    assert_eq!(entry["name"], "neutron");
    let url = entry["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .to_string();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    let (st, v) = call(&http, Method::GET, format!("{url}/"), None, None).await;
    assert_eq!(st, 200);
    assert_eq!(v["versions"][0]["id"], "v2.0");
    let (st, _) = call(
        &http,
        Method::GET,
        format!("{url}/v2.0/networks"),
        Some("bogus"),
        None,
    )
    .await;
    assert_eq!(st, 401);

    let (_, _, member) = cloud.persona(&admin, "net-member", "member", None).await;
    let (st, v) = call(
        &http,
        Method::GET,
        format!("{url}/v2.0/networks?router:external=True"),
        Some(&member),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v["networks"][0]["id"], public_id.as_str());

    let (st, net) = call(
        &http,
        Method::POST,
        format!("{url}/v2.0/networks"),
        Some(&member),
        Some(json!({"network": {"name": "n"}})),
    )
    .await;
    assert_eq!(st, 201, "{net}");
    let net_id = net["network"]["id"].as_str().expect("id");
    let (st, sub) = call(
        &http,
        Method::POST,
        format!("{url}/v2.0/subnets"),
        Some(&member),
        Some(json!({"subnet": {"network_id": net_id, "cidr": "10.100.0.0/28", "ip_version": 4}})),
    )
    .await;
    assert_eq!(st, 201, "{sub}");
    let (st, router) = call(
        &http,
        Method::POST,
        format!("{url}/v2.0/routers"),
        Some(&member),
        Some(json!({"router": {"name": "r", "admin_state_up": false, "external_gateway_info": {"network_id": public_id}}})),
    )
    .await;
    assert_eq!(st, 201, "{router}");
    assert_eq!(
        router["router"]["external_gateway_info"]["network_id"],
        public_id.as_str()
    );
    let rid = router["router"]["id"].as_str().expect("id");
    let (st, v) = call(
        &http,
        Method::PUT,
        format!("{url}/v2.0/routers/{rid}/add_router_interface"),
        Some(&member),
        Some(json!({"subnet_id": sub["subnet"]["id"]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = call(
        &http,
        Method::DELETE,
        format!("{url}/v2.0/routers/{rid}"),
        Some(&member),
        None,
    )
    .await;
    assert_eq!(st, 409);
    assert_eq!(v["NeutronError"]["type"], "RouterInUse");
    cloud.stop().await;
}
