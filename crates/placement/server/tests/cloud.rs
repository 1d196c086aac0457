//! Placement in the all-in-one cloud: in the catalog, validating real Keystone tokens
//! in-process; the `nova` service user (passwords.yml `nova_keystone_password`) drives
//! it with the typed client; project members are refused.

use std::collections::BTreeMap;

use rustack_placement_api::client::{CandidateQuery, PlacementClient};
use rustack_placement_api::Inventory;
use rustack_test_utils::TestCloud;
use serde_json::json;

#[tokio::test]
async fn placement_in_the_cloud() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let r = cloud
        .call(reqwest::Method::GET, "/v3/auth/catalog", Some(&admin), None)
        .await;
    let entry = r.body["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == "placement")
        .cloned()
        .expect("placement in catalog");
    assert_eq!(entry["name"], "placement");
    assert_eq!(
        entry["endpoints"][0]["url"].as_str().expect("url"),
        cloud.placement_url()
    );

    // nova's service token (Kolla's password key), as compute will use it.
    let pw = std::fs::read_to_string(cloud.data_dir().join("passwords.yml")).expect("pw");
    let nova_pw = pw
        .lines()
        .find_map(|l| l.strip_prefix("nova_keystone_password: "))
        .expect("nova password")
        .trim()
        .trim_matches('"')
        .to_string();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "nova", "domain": {"name": "Default"}, "password": nova_pw}}},
                               "scope": {"project": {"name": "service", "domain": {"name": "Default"}}}}});
    let r = cloud
        .call(reqwest::Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let nova = r.header("x-subject-token");

    let client = PlacementClient::new(cloud.placement_url()).expect("client");
    client.set_token(nova);
    let host = uuid::Uuid::new_v4().to_string();
    client
        .ensure_provider(&host, "compute-1", None)
        .await
        .expect("provider");
    client
        .set_inventories(
            &host,
            BTreeMap::from([("VCPU".to_string(), Inventory::with_total(2))]),
        )
        .await
        .expect("inventory");
    // The cloud's own compute host registers itself too: ask within our provider's tree.
    let mut q = CandidateQuery::resources([("VCPU", 2)]);
    q.in_tree = Some(host.clone());
    let c = client.allocation_candidates(&q).await.expect("candidates");
    assert_eq!(c.allocation_requests.len(), 1);
    assert!(c.allocation_requests[0].allocations.contains_key(&host));
    let instance = uuid::Uuid::new_v4().to_string();
    client
        .claim(&instance, &c.allocation_requests[0], "p", "u")
        .await
        .expect("claim");
    assert_eq!(
        client.provider_usages(&host).await.expect("usage")["VCPU"],
        2
    );

    // The admin token works too; a project member is refused.
    let admin_client = PlacementClient::new(cloud.placement_url()).expect("client");
    admin_client.set_token(admin.clone());
    assert_eq!(
        admin_client.get_provider(&host).await.expect("show").name,
        "compute-1"
    );
    let (_, _, member) = cloud.persona(&admin, "plc-member", "member", None).await;
    let member_client = PlacementClient::new(cloud.placement_url()).expect("client");
    member_client.set_token(member);
    let e = member_client.get_provider(&host).await.expect_err("403");
    assert_eq!(e.status, 403);
}
