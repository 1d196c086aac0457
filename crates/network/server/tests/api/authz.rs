//! Authorization matrix: operations × personas (admin, owner member, owner reader, other
//! project's member, anonymous) with the statuses Neutron's default policy gives.

use serde_json::{json, Value};

use crate::common::*;

const PERSONAS: [Option<&str>; 5] = [
    Some("admin"),
    Some("alice"),
    Some("alice-reader"),
    Some("bob"),
    None,
];

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    /// Body per persona index (distinct CIDRs/ports so creates do not collide).
    body: Option<Box<dyn Fn(usize) -> Value>>,
    want: [u16; 5],
}

#[tokio::test]
async fn network_authorization_matrix() {
    let a = api().await;
    let net = a.network("alice", "n").await;
    let sub = a.subnet("alice", &net, "10.0.0.0/24").await;
    let port = a
        .create("ports", "port", "alice", json!({"network_id": net}))
        .await;
    let router = a
        .create("routers", "router", "alice", json!({"name": "r"}))
        .await;
    let sg = a
        .create(
            "security-groups",
            "security_group",
            "alice",
            json!({"name": "g"}),
        )
        .await;
    let (pid, rid, gid, sid) = (
        port["id"].as_str().expect("id").to_owned(),
        router["id"].as_str().expect("id").to_owned(),
        sg["id"].as_str().expect("id").to_owned(),
        sub["id"].as_str().expect("id").to_owned(),
    );
    let net2 = net.clone();
    let gid2 = gid.clone();
    let cases = vec![
        Case {
            what: "show network",
            method: "GET",
            path: format!("/v2.0/networks/{net}"),
            body: None,
            want: [200, 200, 200, 404, 401],
        },
        Case {
            what: "update network",
            method: "PUT",
            path: format!("/v2.0/networks/{net}"),
            body: Some(Box::new(|_| json!({"network": {"name": "x"}}))),
            want: [200, 200, 403, 404, 401],
        },
        Case {
            what: "create network",
            method: "POST",
            path: "/v2.0/networks".into(),
            body: Some(Box::new(|_| json!({"network": {"name": "c"}}))),
            want: [201, 201, 403, 201, 401],
        },
        Case {
            what: "create shared network",
            method: "POST",
            path: "/v2.0/networks".into(),
            body: Some(Box::new(|_| json!({"network": {"shared": true}}))),
            want: [201, 403, 403, 403, 401],
        },
        Case {
            what: "create external network",
            method: "POST",
            path: "/v2.0/networks".into(),
            body: Some(Box::new(|_| json!({"network": {"router:external": true}}))),
            want: [201, 403, 403, 403, 401],
        },
        Case {
            what: "create subnet",
            method: "POST",
            path: "/v2.0/subnets".into(),
            body: Some(Box::new(
                move |i| json!({"subnet": {"network_id": net2, "cidr": format!("10.{}.0.0/24", 10 + i), "ip_version": 4}}),
            )),
            want: [201, 201, 403, 404, 401],
        },
        Case {
            what: "show subnet",
            method: "GET",
            path: format!("/v2.0/subnets/{sid}"),
            body: None,
            want: [200, 200, 200, 404, 401],
        },
        Case {
            what: "show port",
            method: "GET",
            path: format!("/v2.0/ports/{pid}"),
            body: None,
            want: [200, 200, 200, 404, 401],
        },
        Case {
            what: "update port name",
            method: "PUT",
            path: format!("/v2.0/ports/{pid}"),
            body: Some(Box::new(|_| json!({"port": {"name": "y"}}))),
            want: [200, 200, 403, 404, 401],
        },
        Case {
            what: "bind port",
            method: "PUT",
            path: format!("/v2.0/ports/{pid}"),
            body: Some(Box::new(|_| json!({"port": {"binding:host_id": "h"}}))),
            want: [200, 403, 403, 404, 401],
        },
        Case {
            what: "show router",
            method: "GET",
            path: format!("/v2.0/routers/{rid}"),
            body: None,
            want: [200, 200, 200, 404, 401],
        },
        Case {
            what: "update router",
            method: "PUT",
            path: format!("/v2.0/routers/{rid}"),
            body: Some(Box::new(|_| json!({"router": {"name": "z"}}))),
            want: [200, 200, 403, 404, 401],
        },
        Case {
            what: "show security group",
            method: "GET",
            path: format!("/v2.0/security-groups/{gid}"),
            body: None,
            want: [200, 200, 200, 404, 401],
        },
        Case {
            what: "create rule",
            method: "POST",
            path: "/v2.0/security-group-rules".into(),
            body: Some(Box::new(
                move |i| json!({"security_group_rule": {"security_group_id": gid2, "direction": "ingress", "protocol": "tcp", "port_range_min": 1000 + i, "port_range_max": 1000 + i}}),
            )),
            want: [201, 201, 403, 404, 401],
        },
        Case {
            what: "show quota",
            method: "GET",
            path: "/v2.0/quotas/p1".into(),
            body: None,
            want: [200, 403, 403, 403, 401],
        },
        Case {
            what: "update quota",
            method: "PUT",
            path: "/v2.0/quotas/p1".into(),
            body: Some(Box::new(|_| json!({"quota": {"port": 400}}))),
            want: [200, 403, 403, 403, 401],
        },
        Case {
            what: "tag network",
            method: "PUT",
            path: format!("/v2.0/networks/{net}/tags/t"),
            body: None,
            want: [201, 201, 403, 404, 401],
        },
        Case {
            what: "list extensions",
            method: "GET",
            path: "/v2.0/extensions".into(),
            body: None,
            want: [200, 200, 200, 200, 401],
        },
    ];
    let mut failures = Vec::new();
    for c in &cases {
        for (i, who) in PERSONAS.iter().enumerate() {
            let body = c.body.as_ref().map(|b| b(i));
            let (st, v) = a.call(c.method, &c.path, *who, body).await;
            if st != c.want[i] {
                failures.push(format!(
                    "{} as {:?}: got {st}, want {} ({v})",
                    c.what, who, c.want[i]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
