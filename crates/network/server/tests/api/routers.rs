use serde_json::json;

use crate::common::*;

async fn public(a: &Api) -> String {
    let ext = a
        .create("networks", "network", "admin", json!({"name": "public", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public"}))
        .await;
    let id = ext["id"].as_str().expect("id").to_owned();
    a.subnet("admin", &id, "172.24.4.0/24").await;
    id
}

#[tokio::test]
async fn router_gateway_interfaces_and_routes() {
    let a = api().await;
    let ext = public(&a).await;
    let r = a
        .create("routers", "router", "alice", json!({"name": "r", "admin_state_up": false, "external_gateway_info": {"network_id": ext}}))
        .await;
    assert_eq!(r["admin_state_up"], false);
    assert_eq!(r["external_gateway_info"]["network_id"], ext.as_str());
    assert_eq!(r["external_gateway_info"]["enable_snat"], true);
    assert_eq!(
        r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"],
        "172.24.4.2"
    );
    let rid = r["id"].as_str().expect("id").to_owned();

    let net = a.network("alice", "n").await;
    let s = a.subnet("alice", &net, "10.100.0.0/28").await;
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            "alice",
            json!({"subnet_id": s["id"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["subnet_id"], s["id"]);
    assert_eq!(v["subnet_ids"], json!([s["id"]]));
    let port_id = v["port_id"].as_str().expect("port").to_owned();
    let (_, p) = a
        .get(&format!("/v2.0/ports/{port_id}"), "alice-reader")
        .await;
    assert_eq!(p["port"]["device_id"], rid.as_str());
    assert_eq!(p["port"]["device_owner"], "network:router_interface");
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "10.100.0.1");
    let (_, v) = a
        .get(&format!("/v2.0/ports?device_id={rid}"), "alice")
        .await;
    assert_eq!(
        v["ports"].as_array().expect("ports").len(),
        1,
        "gateway ports belong to no project"
    );

    // Overlapping subnet on the same router: 400.
    let net2 = a.network("alice", "n2").await;
    let s2 = a.subnet("alice", &net2, "10.100.0.0/24").await;
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            "alice",
            json!({"subnet_id": s2["id"]}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(err_msg(&v).contains("overlaps with cidr"), "{v}");

    // Extra routes: next hops must be on a connected subnet.
    let routes = json!([{"destination": "10.0.1.0/24", "nexthop": "10.100.0.3"}, {"destination": "10.0.2.0/24", "nexthop": "10.100.0.4"}]);
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "alice",
            json!({"router": {"routes": routes}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["router"]["routes"], routes);
    let (st, v) = a.put(&format!("/v2.0/routers/{rid}"), "alice", json!({"router": {"routes": [{"destination": "10.0.3.0/24", "nexthop": "192.168.9.9"}]}})).await;
    assert_eq!(st, 400);
    assert_eq!(err_type(&v), "InvalidRoutes");
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}/remove_extraroutes"),
            "alice",
            json!({"router": {"routes": [routes[0].clone()]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["router"]["routes"], json!([routes[1].clone()]));
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "alice",
            json!({"router": {"routes": []}}),
        )
        .await;
    assert_eq!(st, 200);

    // In use: 409 RouterInUse.
    let (st, v) = a.delete(&format!("/v2.0/routers/{rid}"), "alice").await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "RouterInUse");
    // The interface port cannot be deleted directly.
    let (st, _) = a.delete(&format!("/v2.0/ports/{port_id}"), "alice").await;
    assert_eq!(st, 409);

    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}/remove_router_interface"),
            "alice",
            json!({"subnet_id": s["id"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["port_id"], port_id.as_str());
    let (st, _) = a.get(&format!("/v2.0/ports/{port_id}"), "alice").await;
    assert_eq!(st, 404);

    // By port.
    let p = a
        .create("ports", "port", "alice", json!({"network_id": net}))
        .await;
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            "alice",
            json!({"port_id": p["id"]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["port_id"], p["id"]);
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}/remove_router_interface"),
            "alice",
            json!({"port_id": p["id"]}),
        )
        .await;
    assert_eq!(st, 200);

    let (st, _) = a.delete(&format!("/v2.0/routers/{rid}"), "alice").await;
    assert_eq!(st, 204);
    let (_, v) = a
        .get(&format!("/v2.0/ports?device_id={rid}"), "admin")
        .await;
    assert_eq!(
        v["ports"],
        json!([]),
        "the gateway port goes with the router"
    );
}

#[tokio::test]
async fn router_negative_cases() {
    let a = api().await;
    let r = a
        .create("routers", "router", "alice", json!({"name": "r"}))
        .await;
    let rid = r["id"].as_str().expect("id");
    assert_eq!(r["external_gateway_info"], json!(null));
    // Gateway to a router id (not a network): 404.
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "alice",
            json!({"router": {"external_gateway_info": {"network_id": rid}}}),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(err_type(&v), "NetworkNotFound");
    // Gateway to a non-external network: 400.
    let net = a.network("alice", "n").await;
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "alice",
            json!({"router": {"external_gateway_info": {"network_id": net}}}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(
        err_msg(&v),
        format!("Bad router request: Network {net} is not an external network.")
    );
    let missing = "0b1a8a07-5d43-4f08-8c45-93c6a9a4a001";
    for (m, path) in [
        ("GET", format!("/v2.0/routers/{missing}")),
        ("DELETE", format!("/v2.0/routers/{missing}")),
    ] {
        let (st, v) = a.call(m, &path, Some("alice"), None).await;
        assert_eq!(st, 404);
        assert_eq!(err_type(&v), "RouterNotFound");
    }
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{missing}"),
            "alice",
            json!({"router": {"name": "x"}}),
        )
        .await;
    assert_eq!(st, 404);
    // No gateway IP on the subnet: 400.
    let s = a
        .create(
            "subnets",
            "subnet",
            "alice",
            json!({"network_id": net, "cidr": "10.1.0.0/24", "ip_version": 4, "gateway_ip": null}),
        )
        .await;
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            "alice",
            json!({"subnet_id": s["id"]}),
        )
        .await;
    assert_eq!(st, 400);
}

/// Tempest's dynamic credentials: the admin builds a project's network, subnet and
/// router (with `project_id`), the project sees and uses them, the admin tears down.
#[tokio::test]
async fn admin_builds_a_projects_topology() {
    let a = api().await;
    let ext = public(&a).await;
    let net = a
        .create(
            "networks",
            "network",
            "admin",
            json!({"name": "tn", "project_id": "p1"}),
        )
        .await;
    assert_eq!(net["project_id"], "p1");
    let nid = net["id"].as_str().expect("id").to_owned();
    let sub = a
        .create("subnets", "subnet", "admin", json!({"network_id": nid, "cidr": "10.100.0.0/28", "ip_version": 4, "name": "ts", "project_id": "p1"}))
        .await;
    let r = a
        .create(
            "routers",
            "router",
            "admin",
            json!({"name": "tr", "project_id": "p1", "external_gateway_info": {"network_id": ext}}),
        )
        .await;
    let rid = r["id"].as_str().expect("id").to_owned();
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            "admin",
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    assert_eq!(st, 200);
    for path in [
        format!("/v2.0/networks/{nid}"),
        format!("/v2.0/routers/{rid}"),
        format!("/v2.0/subnets/{}", sub["id"].as_str().expect("id")),
    ] {
        let (st, _) = a.get(&path, "alice").await;
        assert_eq!(st, 200, "{path}");
    }
    let p = a
        .create("ports", "port", "alice", json!({"network_id": nid}))
        .await;
    assert_eq!(p["fixed_ips"][0]["ip_address"], "10.100.0.2");
    let (st, _) = a
        .delete(
            &format!("/v2.0/ports/{}", p["id"].as_str().expect("id")),
            "alice",
        )
        .await;
    assert_eq!(st, 204);
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}/remove_router_interface"),
            "admin",
            json!({"subnet_id": sub["id"]}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = a.delete(&format!("/v2.0/routers/{rid}"), "admin").await;
    assert_eq!(st, 204);
    let (st, _) = a.delete(&format!("/v2.0/networks/{nid}"), "admin").await;
    assert_eq!(st, 204);
    // Bob may not create in alice's project.
    let (st, _) = a
        .post(
            "/v2.0/networks",
            "bob",
            json!({"network": {"project_id": "p1"}}),
        )
        .await;
    assert_eq!(st, 403);
}

#[tokio::test]
async fn distributed_attribute_is_admin_only() {
    let a = api().await;
    // Admins create distributed or centralized routers; others may not set it at all
    // and do not see it.
    let r = a
        .create(
            "routers",
            "router",
            "admin",
            json!({"name": "d", "distributed": true}),
        )
        .await;
    assert_eq!(r["distributed"], true);
    let c = a
        .create(
            "routers",
            "router",
            "admin",
            json!({"name": "c", "distributed": "False"}),
        )
        .await;
    assert_eq!(c["distributed"], false);
    for d in [json!(true), json!(false)] {
        let (st, v) = a
            .post(
                "/v2.0/routers",
                "alice",
                json!({"router": {"distributed": d}}),
            )
            .await;
        assert_eq!(st, 403, "{v}");
        assert_eq!(err_type(&v), "PolicyNotAuthorized");
    }
    let (st, v) = a
        .post(
            "/v2.0/routers",
            "admin",
            json!({"router": {"distributed": "maybe"}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let mine = a
        .create("routers", "router", "alice", json!({"name": "m"}))
        .await;
    assert!(mine.get("distributed").is_none(), "{mine}");
    let rid = mine["id"].as_str().expect("id");
    let (_, v) = a.get(&format!("/v2.0/routers/{rid}"), "admin").await;
    assert_eq!(v["router"]["distributed"], false);

    // Changing it needs the router administratively down, as Neutron's DVR mixin.
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "admin",
            json!({"router": {"distributed": true}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(err_type(&v), "BadRequest");
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "admin",
            json!({"router": {"admin_state_up": false}}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = a
        .put(
            &format!("/v2.0/routers/{rid}"),
            "admin",
            json!({"router": {"distributed": true}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["router"]["distributed"], true);
    let (_, v) = a.get(&format!("/v2.0/routers/{rid}"), "alice").await;
    assert!(v["router"].get("distributed").is_none(), "{v}");
}
