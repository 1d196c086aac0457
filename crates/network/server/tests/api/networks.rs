use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn network_crud_fields_and_visibility() {
    let a = api().await;
    let (st, v) = a
        .post(
            "/v2.0/networks",
            "alice",
            json!({"network": {"name": "n1"}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let n = &v["network"];
    assert_eq!(n["status"], "ACTIVE");
    assert_eq!(n["admin_state_up"], true);
    assert_eq!(n["mtu"], 1450);
    assert_eq!(n["project_id"], "p1");
    assert_eq!(n["tenant_id"], "p1");
    assert_eq!(n["subnets"], json!([]));
    assert_eq!(n["revision_number"], 1);
    // Provider attributes are admin-only.
    assert!(n.get("provider:network_type").is_none(), "{n}");
    let id = n["id"].as_str().expect("id");

    let (st, v) = a
        .get(
            &format!("/v2.0/networks/{id}?fields=id&fields=name&fields=mtu"),
            "alice-reader",
        )
        .await;
    assert_eq!(st, 200);
    let mut keys: Vec<&String> = v["network"].as_object().expect("obj").keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["id", "mtu", "name"]);

    let (st, v) = a.get(&format!("/v2.0/networks/{id}"), "admin").await;
    assert_eq!(st, 200);
    assert_eq!(v["network"]["provider:network_type"], "vxlan");
    assert!(v["network"]["provider:segmentation_id"].as_i64().is_some());

    // Another project cannot see it: 404 NetworkNotFound.
    let (st, v) = a.get(&format!("/v2.0/networks/{id}"), "bob").await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "NetworkNotFound");
    assert_eq!(err_msg(&v), format!("Network {id} could not be found."));
    let (_, v) = a.get("/v2.0/networks", "bob").await;
    assert_eq!(v["networks"], json!([]));

    let (st, v) = a
        .put(
            &format!("/v2.0/networks/{id}"),
            "alice",
            json!({"network": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["network"]["name"], "renamed");
    assert_eq!(v["network"]["revision_number"], 2);

    // Members may not create shared networks; admins may, and everyone sees them.
    let (st, v) = a
        .post(
            "/v2.0/networks",
            "alice",
            json!({"network": {"name": "s", "shared": true}}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    let shared = a
        .create(
            "networks",
            "network",
            "admin",
            json!({"name": "s", "shared": true}),
        )
        .await;
    let (st, _) = a
        .get(
            &format!("/v2.0/networks/{}", shared["id"].as_str().expect("id")),
            "bob",
        )
        .await;
    assert_eq!(st, 200);

    let (st, v) = a
        .post("/v2.0/networks", "alice", json!({"network": {"nam": "x"}}))
        .await;
    assert_eq!(st, 400);
    assert_eq!(err_msg(&v), "Unrecognized attribute(s) 'nam'");

    let (st, _) = a.delete(&format!("/v2.0/networks/{id}"), "alice").await;
    assert_eq!(st, 204);
    let (st, _) = a.get(&format!("/v2.0/networks/{id}"), "alice").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn external_networks_visible_and_filterable() {
    let a = api().await;
    let ext = a
        .create("networks", "network", "admin", json!({"name": "public", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public"}))
        .await;
    assert_eq!(ext["mtu"], 1500);
    let ext_id = ext["id"].as_str().expect("id");
    a.subnet("admin", ext_id, "172.24.4.0/24").await;
    a.network("alice", "private").await;
    let (_, v) = a.get("/v2.0/networks?router:external=True", "alice").await;
    let ids: Vec<&str> = v["networks"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![ext_id]);
    let (_, v) = a
        .get(&format!("/v2.0/subnets?network_id={ext_id}"), "alice")
        .await;
    assert_eq!(v["subnets"].as_array().expect("list").len(), 1);
    assert_eq!(v["subnets"][0]["router:external"], true);
    // Only admins may create external networks.
    let (st, _) = a
        .post(
            "/v2.0/networks",
            "alice",
            json!({"network": {"router:external": true}}),
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = a
        .post("/v2.0/networks", "admin", json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 16777216}}))
        .await;
    assert_eq!(st, 400);
    let (st, v) = a
        .post(
            "/v2.0/networks",
            "admin",
            json!({"network": {"project_id": "p1", "tenant_id": "p2"}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    // A second flat network on the same physical network conflicts.
    let (st, v) = a.post("/v2.0/networks", "admin", json!({"network": {"provider:network_type": "flat", "provider:physical_network": "public"}})).await;
    assert_eq!(st, 409, "{v}");
}

#[tokio::test]
async fn subnets_ipv4_defaults_pools_and_validation() {
    let a = api().await;
    let net = a.network("alice", "n").await;
    let s = a.subnet("alice", &net, "10.100.0.0/28").await;
    assert_eq!(s["gateway_ip"], "10.100.0.1");
    assert_eq!(
        s["allocation_pools"],
        json!([{"start": "10.100.0.2", "end": "10.100.0.14"}])
    );
    assert_eq!(s["enable_dhcp"], true);
    assert_eq!(s["ipv6_ra_mode"], json!(null));
    assert_eq!(s["dns_nameservers"], json!([]));

    // Overlap on the same network: Tempest's retry key text.
    let (st, v) = a
        .post(
            "/v2.0/subnets",
            "alice",
            json!({"subnet": {"network_id": net, "cidr": "10.100.0.8/29", "ip_version": 4}}),
        )
        .await;
    assert_eq!(st, 400);
    assert!(err_msg(&v).contains("overlaps with another subnet"), "{v}");

    let (_, v) = a.get(&format!("/v2.0/networks/{net}"), "alice").await;
    assert_eq!(v["network"]["subnets"], json!([s["id"]]));

    let full = a
        .create(
            "subnets",
            "subnet",
            "alice",
            json!({"network_id": net, "cidr": "10.100.1.0/24", "ip_version": 4, "gateway_ip": null,
                   "allocation_pools": [{"start": "10.100.1.10", "end": "10.100.1.20"}],
                   "dns_nameservers": ["8.8.4.4", "8.8.8.8"],
                   "host_routes": [{"destination": "10.20.0.0/32", "nexthop": "10.100.1.1"}],
                   "enable_dhcp": false}),
        )
        .await;
    assert_eq!(full["gateway_ip"], json!(null));
    assert_eq!(
        full["host_routes"],
        json!([{"destination": "10.20.0.0/32", "nexthop": "10.100.1.1"}])
    );
    let sid = full["id"].as_str().expect("id");
    let (st, v) = a
        .put(&format!("/v2.0/subnets/{sid}"), "alice", json!({"subnet": {"gateway_ip": "10.100.1.1", "dns_nameservers": ["7.8.8.8"], "enable_dhcp": true, "name": "x"}}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subnet"]["gateway_ip"], "10.100.1.1");
    // A gateway inside the pool conflicts.
    let (st, v) = a
        .put(
            &format!("/v2.0/subnets/{sid}"),
            "alice",
            json!({"subnet": {"gateway_ip": "10.100.1.15"}}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "GatewayConflictWithAllocationPools");
    let (st, v) = a
        .post("/v2.0/subnets", "alice", json!({"subnet": {"network_id": net, "cidr": "10.100.2.0/24", "ip_version": 4, "allocation_pools": [{"start": "10.100.3.1", "end": "10.100.3.5"}]}}))
        .await;
    assert_eq!(st, 400);
    assert_eq!(err_type(&v), "OutOfBoundsAllocationPool");
    let (st, _) = a
        .post(
            "/v2.0/subnets",
            "alice",
            json!({"subnet": {"network_id": net, "cidr": "banana", "ip_version": 4}}),
        )
        .await;
    assert_eq!(st, 400);

    // Deleting the network deletes its subnets.
    let (st, _) = a.delete(&format!("/v2.0/networks/{net}"), "alice").await;
    assert_eq!(st, 204);
    let (st, _) = a.get(&format!("/v2.0/subnets/{sid}"), "alice").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn ipv6_subnets_and_slaac_addresses() {
    let a = api().await;
    let net = a.network("alice", "v6").await;
    let s = a
        .create("subnets", "subnet", "alice", json!({"network_id": net, "cidr": "2001:db8::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}))
        .await;
    assert_eq!(s["gateway_ip"], "2001:db8::1");
    let port = a
        .create(
            "ports",
            "port",
            "alice",
            json!({"network_id": net, "mac_address": "fa:16:3e:11:22:33"}),
        )
        .await;
    assert_eq!(
        port["fixed_ips"],
        json!([{"subnet_id": s["id"], "ip_address": "2001:db8::f816:3eff:fe11:2233"}])
    );
    let (st, v) = a
        .post("/v2.0/subnets", "alice", json!({"subnet": {"network_id": net, "cidr": "2001:db9::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}}))
        .await;
    assert_eq!(st, 400, "{v}");
    let stateful = a
        .create("subnets", "subnet", "alice", json!({"network_id": net, "cidr": "2001:dba::/64", "ip_version": 6, "ipv6_address_mode": "dhcpv6-stateful"}))
        .await;
    let port = a
        .create("ports", "port", "alice", json!({"network_id": net}))
        .await;
    let ips: Vec<&str> = port["fixed_ips"]
        .as_array()
        .expect("ips")
        .iter()
        .map(|f| f["subnet_id"].as_str().expect("s"))
        .collect();
    assert!(
        ips.contains(&stateful["id"].as_str().expect("id")),
        "{port}"
    );
    assert_eq!(ips.len(), 2);
}

#[tokio::test]
async fn network_in_use_and_subnet_in_use() {
    let a = api().await;
    let net = a.network("alice", "n").await;
    let s = a.subnet("alice", &net, "10.0.0.0/24").await;
    let p = a
        .create("ports", "port", "alice", json!({"network_id": net}))
        .await;
    let (st, v) = a.delete(&format!("/v2.0/networks/{net}"), "alice").await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "NetworkInUse");
    let (st, v) = a
        .delete(
            &format!("/v2.0/subnets/{}", s["id"].as_str().expect("id")),
            "alice",
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "SubnetInUse");
    let (st, _) = a
        .delete(
            &format!("/v2.0/ports/{}", p["id"].as_str().expect("id")),
            "alice",
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = a.delete(&format!("/v2.0/networks/{net}"), "alice").await;
    assert_eq!(st, 204);
}
