use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn floating_ip_lifecycle() {
    let a = api().await;
    let ext = a
        .create(
            "networks",
            "network",
            "admin",
            json!({"name": "public", "router:external": true}),
        )
        .await;
    let ext_id = ext["id"].as_str().expect("id").to_owned();
    a.subnet("admin", &ext_id, "172.24.4.0/24").await;
    let net = a.network("alice", "n").await;
    let s = a.subnet("alice", &net, "10.0.0.0/24").await;
    let port = a
        .create("ports", "port", "alice", json!({"network_id": net}))
        .await;

    // Not reachable yet: no router joins the subnet to the external network.
    let (st, v) = a
        .post(
            "/v2.0/floatingips",
            "alice",
            json!({"floatingip": {"floating_network_id": ext_id, "port_id": port["id"]}}),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(err_type(&v), "ExternalGatewayForFloatingIPNotFound");

    let r = a
        .create(
            "routers",
            "router",
            "alice",
            json!({"external_gateway_info": {"network_id": ext_id}}),
        )
        .await;
    let rid = r["id"].as_str().expect("id");
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}/add_router_interface"),
            "alice",
            json!({"subnet_id": s["id"]}),
        )
        .await;
    assert_eq!(st, 200);

    let fip = a
        .create(
            "floatingips",
            "floatingip",
            "alice",
            json!({"floating_network_id": ext_id}),
        )
        .await;
    assert_eq!(fip["status"], "DOWN");
    assert_eq!(fip["port_id"], json!(null));
    assert!(fip["floating_ip_address"]
        .as_str()
        .expect("addr")
        .starts_with("172.24.4."));
    let fid = fip["id"].as_str().expect("id");
    let (st, v) = a
        .put(
            &format!("/v2.0/floatingips/{fid}"),
            "alice",
            json!({"floatingip": {"port_id": port["id"]}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["floatingip"]["fixed_ip_address"],
        port["fixed_ips"][0]["ip_address"]
    );
    assert_eq!(v["floatingip"]["router_id"], rid);
    assert_eq!(v["floatingip"]["status"], "ACTIVE");
    // The interface carrying it cannot be removed.
    let (st, _) = a
        .put(
            &format!("/v2.0/routers/{rid}/remove_router_interface"),
            "alice",
            json!({"subnet_id": s["id"]}),
        )
        .await;
    assert_eq!(st, 409);
    // Deleting the port disassociates.
    let (st, _) = a
        .delete(
            &format!("/v2.0/ports/{}", port["id"].as_str().expect("id")),
            "alice",
        )
        .await;
    assert_eq!(st, 204);
    let (_, v) = a.get(&format!("/v2.0/floatingips/{fid}"), "alice").await;
    assert_eq!(v["floatingip"]["port_id"], json!(null));
    let (st, _) = a.delete(&format!("/v2.0/floatingips/{fid}"), "alice").await;
    assert_eq!(st, 204);
    let (st, v) = a.get(&format!("/v2.0/floatingips/{fid}"), "alice").await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "FloatingIPNotFound");
}
