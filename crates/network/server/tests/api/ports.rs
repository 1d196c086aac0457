use std::collections::HashSet;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn port_create_show_update_delete() {
    let a = api().await;
    let net = a.network("alice", "n").await;
    let s = a.subnet("alice", &net, "10.0.0.0/24").await;
    let p = a
        .create(
            "ports",
            "port",
            "alice",
            json!({"network_id": net, "name": "p1"}),
        )
        .await;
    assert_eq!(p["admin_state_up"], true);
    assert_eq!(p["status"], "DOWN");
    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": s["id"], "ip_address": "10.0.0.2"}])
    );
    assert!(p["mac_address"]
        .as_str()
        .expect("mac")
        .starts_with("fa:16:3e:"));
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["security_groups"].as_array().expect("sgs").len(), 1);
    assert!(
        p.get("binding:host_id").is_none(),
        "binding attributes are admin-only: {p}"
    );
    let id = p["id"].as_str().expect("id");
    let (_, shown) = a.get(&format!("/v2.0/ports/{id}"), "alice").await;
    assert_eq!(shown["port"], p);

    let (st, v) = a
        .put(
            &format!("/v2.0/ports/{id}"),
            "alice",
            json!({"port": {"name": "new", "admin_state_up": false}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["port"]["admin_state_up"], false);

    let (st, v) = a
        .put(&format!("/v2.0/ports/{id}"), "alice", json!({"port": {"fixed_ips": [{"subnet_id": s["id"], "ip_address": "10.0.0.50"}], "allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}], "extra_dhcp_opts": [{"opt_name": "bootfile-name", "opt_value": "pxelinux.0"}]}}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["port"]["fixed_ips"][0]["ip_address"], "10.0.0.50");
    assert_eq!(
        v["port"]["allowed_address_pairs"][0]["mac_address"],
        p["mac_address"]
    );
    assert_eq!(
        v["port"]["extra_dhcp_opts"],
        json!([{"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4}])
    );

    // 10.0.0.2 was released; another port can take it explicitly; 10.0.0.50 is taken.
    let (st, v) = a
        .post(
            "/v2.0/ports",
            "alice",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.50"}]}}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "IpAddressAlreadyAllocated");
    let p2 = a
        .create(
            "ports",
            "port",
            "alice",
            json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.2"}]}),
        )
        .await;
    assert_eq!(p2["fixed_ips"][0]["ip_address"], "10.0.0.2");
    let (st, v) = a
        .post("/v2.0/ports", "alice", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": s["id"], "ip_address": "10.1.0.2"}]}}))
        .await;
    assert_eq!(st, 400);
    assert_eq!(err_type(&v), "InvalidIpForSubnet");
    let (st, v) = a
        .post(
            "/v2.0/ports",
            "alice",
            json!({"port": {"network_id": net, "mac_address": p2["mac_address"]}}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "MacAddressInUse");

    // Admin sees and sets binding attributes.
    let (st, v) = a
        .put(
            &format!("/v2.0/ports/{id}"),
            "admin",
            json!({"port": {"binding:host_id": "node1"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["port"]["binding:host_id"], "node1");
    assert_eq!(v["port"]["binding:vif_type"], "bridge");
    let (st, _) = a
        .put(
            &format!("/v2.0/ports/{id}"),
            "alice",
            json!({"port": {"binding:host_id": "node2"}}),
        )
        .await;
    assert_eq!(st, 403);

    // Port security off requires no groups and no address pairs.
    let (st, v) = a
        .post(
            "/v2.0/ports",
            "alice",
            json!({"port": {"network_id": net, "port_security_enabled": false}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["port"]["security_groups"], json!([]));

    let (_, v) = a
        .get(
            &format!("/v2.0/ports?fields=id&fields=mac_address&network_id={net}"),
            "alice",
        )
        .await;
    for p in v["ports"].as_array().expect("list") {
        assert_eq!(p.as_object().expect("obj").len(), 2);
    }
    let (st, _) = a.delete(&format!("/v2.0/ports/{id}"), "alice").await;
    assert_eq!(st, 204);
    let (st, v) = a.get(&format!("/v2.0/ports/{id}"), "alice").await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "PortNotFound");
}

#[tokio::test]
async fn bulk_create_is_all_or_nothing() {
    let a = api().await;
    let net = a.network("alice", "n").await;
    a.subnet("alice", &net, "10.0.0.0/24").await;
    let (st, v) = a
        .post(
            "/v2.0/ports",
            "alice",
            json!({"ports": [{"network_id": net, "name": "a"}, {"network_id": net, "name": "b"}]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["ports"].as_array().expect("ports").len(), 2);
    let (st, _) = a
        .post("/v2.0/ports", "alice", json!({"ports": [{"network_id": net, "name": "c"}, {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.2"}]}]}))
        .await;
    assert_eq!(st, 409);
    let (_, v) = a.get("/v2.0/ports?name=c", "alice").await;
    assert_eq!(
        v["ports"],
        json!([]),
        "the first port of a failed bulk create is undone"
    );
}

/// Many concurrent creates on a small subnet: every address handed out once, the rest
/// refused with 409 IpAddressGenerationFailure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_port_creates_never_share_an_address() {
    let a = std::sync::Arc::new(api().await);
    let net = a.network("alice", "n").await;
    // /28 with gateway .1: pool .2-.14 = 13 addresses.
    a.subnet("alice", &net, "10.9.0.0/28").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let a = a.clone();
        let net = net.clone();
        tasks.push(tokio::spawn(async move {
            a.post(
                "/v2.0/ports",
                "alice",
                json!({"port": {"network_id": net, "name": format!("p{i}")}}),
            )
            .await
        }));
    }
    let mut ips = HashSet::new();
    let mut refused = 0;
    for t in tasks {
        let (st, v) = t.await.expect("task");
        match st {
            201 => {
                let ip = v["port"]["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .expect("ip")
                    .to_owned();
                assert!(ips.insert(ip.clone()), "address {ip} handed out twice");
            }
            409 => {
                assert_eq!(err_type(&v), "IpAddressGenerationFailure", "{v}");
                assert_eq!(
                    err_msg(&v),
                    format!("No more IP addresses available on network {net}.")
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ips.len(), 13);
    assert_eq!(refused, 11);
    assert!(!ips.contains("10.9.0.1") && !ips.contains("10.9.0.15") && !ips.contains("10.9.0.0"));
}

#[tokio::test]
async fn network_owner_sees_ports_on_shared_network() {
    let a = api().await;
    let shared = a
        .create(
            "networks",
            "network",
            "admin",
            json!({"name": "s", "shared": true}),
        )
        .await;
    let sid = shared["id"].as_str().expect("id");
    a.subnet("admin", sid, "10.5.0.0/24").await;
    let p = a
        .create("ports", "port", "bob", json!({"network_id": sid}))
        .await;
    let (st, _) = a
        .get(
            &format!("/v2.0/ports/{}", p["id"].as_str().expect("id")),
            "alice",
        )
        .await;
    assert_eq!(st, 404, "alice owns neither the port nor the network");
    let (st, _) = a
        .get(
            &format!("/v2.0/ports/{}", p["id"].as_str().expect("id")),
            "admin",
        )
        .await;
    assert_eq!(st, 200);
}

/// Concurrent creates with room for all: every one succeeds (lost races are retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_port_creates_all_succeed_when_there_is_room() {
    let a = std::sync::Arc::new(api().await);
    let net = a.network("alice", "n").await;
    a.subnet("alice", &net, "10.8.0.0/24").await;
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let a = a.clone();
            let net = net.clone();
            tokio::spawn(async move {
                a.post("/v2.0/ports", "alice", json!({"port": {"network_id": net}}))
                    .await
            })
        })
        .collect();
    let mut ips = HashSet::new();
    for t in tasks {
        let (st, v) = t.await.expect("task");
        assert_eq!(st, 201, "{v}");
        assert!(ips.insert(
            v["port"]["fixed_ips"][0]["ip_address"]
                .as_str()
                .expect("ip")
                .to_owned()
        ));
    }
    assert_eq!(ips.len(), 40);
}
