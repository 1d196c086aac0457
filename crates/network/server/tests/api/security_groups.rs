use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn default_group_and_crud() {
    let a = api().await;
    let (st, v) = a.get("/v2.0/security-groups", "alice").await;
    assert_eq!(st, 200);
    let groups = v["security_groups"].as_array().expect("list");
    assert_eq!(groups.len(), 1);
    let def = &groups[0];
    assert_eq!(def["name"], "default");
    let rules = def["security_group_rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 4);
    let ingress_self = rules
        .iter()
        .filter(|r| r["direction"] == "ingress" && r["remote_group_id"] == def["id"])
        .count();
    assert_eq!(ingress_self, 2);

    let (st, v) = a
        .post(
            "/v2.0/security-groups",
            "alice",
            json!({"security_group": {"name": "default"}}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(err_type(&v), "SecurityGroupDefaultAlreadyExists");

    let sg = a
        .create(
            "security-groups",
            "security_group",
            "alice",
            json!({"name": "web", "description": "d"}),
        )
        .await;
    assert_eq!(
        sg["security_group_rules"].as_array().expect("rules").len(),
        2
    );
    let id = sg["id"].as_str().expect("id");
    let (st, v) = a
        .put(
            &format!("/v2.0/security-groups/{id}"),
            "alice",
            json!({"security_group": {"name": "web2", "description": "e"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["security_group"]["name"], "web2");
    let (st, _) = a.get(&format!("/v2.0/security-groups/{id}"), "bob").await;
    assert_eq!(st, 404);

    let rule = a
        .create("security-group-rules", "security_group_rule", "alice", json!({"security_group_id": id, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 77, "port_range_max": 77, "remote_ip_prefix": "10.0.0.0/8"}))
        .await;
    assert_eq!(rule["port_range_min"], 77);
    assert_eq!(rule["remote_ip_prefix"], "10.0.0.0/8");
    let (_, shown) = a
        .get(
            &format!(
                "/v2.0/security-group-rules/{}",
                rule["id"].as_str().expect("id")
            ),
            "alice",
        )
        .await;
    assert_eq!(shown["security_group_rule"], rule);
    // Neutron keeps host bits as given and adds a missing mask.
    for (given, stored) in [
        ("10.2.3.124/24", "10.2.3.124/24"),
        ("192.0.2.7", "192.0.2.7/32"),
    ] {
        let r = a
            .create("security-group-rules", "security_group_rule", "alice", json!({"security_group_id": id, "direction": "ingress", "ethertype": "IPv4", "protocol": "udp", "port_range_min": 53, "port_range_max": 53, "remote_ip_prefix": given}))
            .await;
        assert_eq!(r["remote_ip_prefix"], stored);
    }
    let (st, v) = a
        .post("/v2.0/security-group-rules", "alice", json!({"security_group_rule": {"security_group_id": id, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 77, "port_range_max": 77, "remote_ip_prefix": "10.0.0.0/8"}}))
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        err_msg(&v),
        format!(
            "Security group rule already exists. Rule id is {}.",
            rule["id"].as_str().expect("id")
        )
    );

    let r17 = a
        .create(
            "security-group-rules",
            "security_group_rule",
            "alice",
            json!({"security_group_id": id, "direction": "ingress", "protocol": 17}),
        )
        .await;
    assert_eq!(r17["protocol"], "17");
    let icmp = a
        .create("security-group-rules", "security_group_rule", "alice", json!({"security_group_id": id, "direction": "ingress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "remote_group_id": id}))
        .await;
    assert_eq!(icmp["remote_group_id"], id);

    let (st, _) = a
        .delete(&format!("/v2.0/security-groups/{id}"), "alice")
        .await;
    assert_eq!(st, 204);
    let (st, v) = a.get(&format!("/v2.0/security-groups/{id}"), "alice").await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "SecurityGroupNotFound");
}

#[tokio::test]
async fn rule_validation_messages() {
    let a = api().await;
    let sg = a
        .create(
            "security-groups",
            "security_group",
            "alice",
            json!({"name": "g"}),
        )
        .await;
    let id = sg["id"].as_str().expect("id");
    let post = |body: serde_json::Value| {
        let a = &a;
        async move {
            let mut b = body;
            b["security_group_id"] = json!(id);
            b["direction"] = json!("ingress");
            a.post(
                "/v2.0/security-group-rules",
                "alice",
                json!({"security_group_rule": b}),
            )
            .await
        }
    };
    let cases = [
        (
            json!({"protocol": "tcp", "port_range_min": -16, "port_range_max": 80}),
            400,
            "Invalid value for port -16",
        ),
        (
            json!({"protocol": "tcp", "port_range_min": 80, "port_range_max": 79}),
            400,
            "port_range_min must be <= port_range_max",
        ),
        (
            json!({"protocol": "tcp", "port_range_min": 80, "port_range_max": 65536}),
            400,
            "Invalid value for port 65536",
        ),
        (
            json!({"protocol": "tcp", "port_range_max": 6}),
            400,
            "port_range_min must be <= port_range_max",
        ),
        (
            json!({"protocol": "tcp", "port_range_min": -16, "port_range_max": 65536}),
            400,
            "Invalid value for port",
        ),
        (
            json!({"protocol": "icmp", "port_range_min": 1, "port_range_max": 256}),
            400,
            "Invalid value for ICMP code",
        ),
        (
            json!({"protocol": "icmp", "port_range_min": -1, "port_range_max": 25}),
            400,
            "Invalid value",
        ),
        (
            json!({"protocol": "icmp", "port_range_max": 6}),
            400,
            "ICMP type (port-range-min) is missing",
        ),
        (
            json!({"protocol": "icmp", "port_range_min": 300, "port_range_max": 1}),
            400,
            "Invalid value for ICMP type",
        ),
        (
            json!({"protocol": "bad_protocol_name"}),
            400,
            "not supported",
        ),
        (
            json!({"ethertype": "bad_ethertype", "protocol": "udp"}),
            400,
            "ethertype",
        ),
        (
            json!({"protocol": "tcp", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
            400,
            "Conflicting value ethertype",
        ),
        (
            json!({"protocol": "tcp", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": id}),
            400,
            "Only remote_ip_prefix or remote_group_id",
        ),
        (
            json!({"protocol": "tcp", "remote_group_id": "bad_group_id"}),
            404,
            "does not exist",
        ),
    ];
    for (body, status, text) in cases {
        let (st, v) = post(body.clone()).await;
        assert_eq!(st, status, "{body}: {v}");
        assert!(err_msg(&v).contains(text), "{body}: {v}");
    }
    for prefix in ["192.168.1./24", "192.168.1.1/33", "bad_prefix", "256"] {
        let (st, v) = post(json!({"protocol": "tcp", "remote_ip_prefix": prefix})).await;
        assert_eq!(st, 400, "{prefix}: {v}");
    }
    let (st, _) = a
        .post("/v2.0/security-group-rules", "alice", json!({"security_group_rule": {"security_group_id": "6b0e0c9b-1a9e-4b8c-9a56-6f1f0f1e2d3c", "direction": "ingress"}}))
        .await;
    assert_eq!(st, 404);
}
