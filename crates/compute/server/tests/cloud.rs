//! The compute service in the all-in-one cloud: in the catalog as `compute`/`nova` at
//! `/v2.1`, real Keystone tokens, the bootstrap flavors, and this process's simulated
//! compute host registered as a service, a hypervisor and a Placement resource provider
//! with VCPU/MEMORY_MB/DISK_GB inventory.

use std::time::{Duration, Instant};

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::Value;

async fn call(http: &reqwest::Client, m: Method, url: String, token: &str) -> (u16, Value) {
    let resp = http
        .request(m, url)
        .header("x-auth-token", token)
        .header("openstack-api-version", "placement 1.20")
        .send()
        .await
        .expect("send");
    let st = resp.status().as_u16();
    let text = resp.text().await.expect("text");
    (st, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn compute_service_in_the_cloud() {
    let cloud = TestCloud::start().await;
    let admin = cloud.admin_token().await;
    let r = cloud
        .call(Method::GET, "/v3/auth/catalog", Some(&admin), None)
        .await;
    let entry = r.body["catalog"]
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == "compute")
        .cloned()
        .expect("compute in catalog");
    assert_eq!(entry["name"], "nova");
    let url = entry["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_eq!(url, format!("{}/v2.1", cloud.compute_url()));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    let (st, v) = call(&http, Method::GET, format!("{url}/flavors"), &admin).await;
    assert_eq!(st, 200, "{v}");
    let names: Vec<&str> = v["flavors"]
        .as_array()
        .expect("flavors")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for n in ["m1.tiny", "m1.small", "rustack.nano", "rustack.micro"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }

    // The host registers itself (first report right after start).
    let deadline = Instant::now() + Duration::from_secs(30);
    let hv = loop {
        let (st, v) = call(
            &http,
            Method::GET,
            format!("{url}/os-hypervisors/detail"),
            &admin,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let list = v["hypervisors"].as_array().cloned().unwrap_or_default();
        if let Some(h) = list.first() {
            break h.clone();
        }
        assert!(Instant::now() < deadline, "no hypervisor registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(hv["state"], "up");
    assert_eq!(hv["vcpus"], 64);
    let (_, v) = call(
        &http,
        Method::GET,
        format!("{url}/os-availability-zone"),
        &admin,
    )
    .await;
    assert_eq!(v["availabilityZoneInfo"][0]["zoneName"], "nova");

    // Its resource provider and inventory in Placement.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, v) = call(
            &http,
            Method::GET,
            format!("{}/resource_providers", cloud.placement_url()),
            &admin,
        )
        .await;
        assert_eq!(st, 200, "{v}");
        let rp = v["resource_providers"]
            .as_array()
            .and_then(|l| l.first().cloned());
        if let Some(rp) = rp {
            let uuid = rp["uuid"].as_str().expect("uuid").to_owned();
            let (st, inv) = call(
                &http,
                Method::GET,
                format!(
                    "{}/resource_providers/{uuid}/inventories",
                    cloud.placement_url()
                ),
                &admin,
            )
            .await;
            assert_eq!(st, 200);
            if inv["inventories"]["VCPU"].is_object() {
                assert_eq!(inv["inventories"]["VCPU"]["total"], 64);
                assert_eq!(inv["inventories"]["VCPU"]["allocation_ratio"], 4.0);
                assert_eq!(inv["inventories"]["MEMORY_MB"]["reserved"], 512);
                assert!(inv["inventories"]["DISK_GB"].is_object());
                assert_eq!(rp["name"], hv["hypervisor_hostname"]);
                break;
            }
        }
        assert!(Instant::now() < deadline, "no provider inventory: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The /images proxy, with the caller's token.
    let r = http
        .post(format!("{}/v2/images", cloud.cloud.image_url))
        .header("x-auth-token", &admin)
        .json(&serde_json::json!({"name": "proxied", "disk_format": "qcow2",
            "container_format": "bare", "visibility": "public", "min_ram": 64, "os_distro": "busybox"}))
        .send()
        .await
        .expect("image create");
    assert_eq!(r.status().as_u16(), 201);
    let img: Value = r.json().await.expect("json");
    let id = img["id"].as_str().expect("id").to_owned();
    let (st, v) = call(&http, Method::GET, format!("{url}/images"), &admin).await;
    assert_eq!(st, 200, "{v}");
    assert!(v["images"]
        .as_array()
        .expect("images")
        .iter()
        .any(|i| i["id"] == id.as_str() && i["name"] == "proxied"));
    let (st, v) = call(&http, Method::GET, format!("{url}/images/{id}"), &admin).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["image"]["status"], "SAVING");
    assert_eq!(v["image"]["minRam"], 64);
    assert_eq!(v["image"]["metadata"]["os_distro"], "busybox");
    let r = http
        .put(format!("{url}/images/{id}/metadata/color"))
        .header("x-auth-token", &admin)
        .json(&serde_json::json!({"meta": {"color": "blue"}}))
        .send()
        .await
        .expect("meta");
    assert_eq!(r.status().as_u16(), 200);
    let (_, v) = call(
        &http,
        Method::GET,
        format!("{url}/images/{id}/metadata"),
        &admin,
    )
    .await;
    assert_eq!(v["metadata"]["color"], "blue");
    let (st, _) = call(
        &http,
        Method::DELETE,
        format!("{url}/images/{id}/metadata/color"),
        &admin,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = call(&http, Method::DELETE, format!("{url}/images/{id}"), &admin).await;
    assert_eq!(st, 204);
    let (st, _) = call(&http, Method::GET, format!("{url}/images/{id}"), &admin).await;
    assert_eq!(st, 404);

    // Volume attachments of an unknown server.
    let (st, _) = call(
        &http,
        Method::GET,
        format!("{url}/servers/00000000-0000-0000-0000-000000000000/os-volume_attachments"),
        &admin,
    )
    .await;
    assert_eq!(st, 404);

    // A member of a new project sees limits and may create a key pair.
    let (_, _, member) = cloud.persona(&admin, "cmp-member", "member", None).await;
    let (st, v) = call(&http, Method::GET, format!("{url}/limits"), &member).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["limits"]["absolute"]["maxTotalInstances"], 10);
    cloud.stop().await;
}
