//! Metering labels and rules (`metering`), service providers (`service-type`) and the
//! smaller Neutron behaviours checked alongside (IP substring filters, agents for
//! non-admins, external network deletion with floating IPs).

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn metering_labels_and_rules() {
    let a = api().await;
    let label = a
        .create(
            "metering/metering-labels",
            "metering_label",
            "admin",
            json!({"name": "l1", "description": "d"}),
        )
        .await;
    let lid = label["id"].as_str().expect("id").to_owned();
    assert_eq!(label["shared"], false);
    assert_eq!(label["project_id"], "padmin");
    assert_eq!(label["tenant_id"], "padmin");
    assert!(
        label.get("created_at").is_none(),
        "no standard attributes: {label}"
    );

    // Labels are read-only and need a known attribute set.
    let (st, v) = a
        .post(
            "/v2.0/metering/metering-labels",
            "admin",
            json!({"metering_label": {"name": "x", "bogus": 1}}),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let (st, _) = a
        .put(
            &format!("/v2.0/metering/metering-labels/{lid}"),
            "admin",
            json!({"metering_label": {"name": "y"}}),
        )
        .await;
    assert_eq!(st, 405);

    let rule = a
        .create(
            "metering/metering-label-rules",
            "metering_label_rule",
            "admin",
            json!({"metering_label_id": lid, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/24"}),
        )
        .await;
    let rid = rule["id"].as_str().expect("id").to_owned();
    assert_eq!(rule["excluded"], false);
    assert_eq!(rule["remote_ip_prefix"], "10.0.0.0/24");
    assert_eq!(rule["source_ip_prefix"], json!(null));
    assert_eq!(rule["metering_label_id"], lid.as_str());

    // An overlapping remote prefix (same label, direction, exclusion) is a conflict.
    let (st, v) = a
        .post(
            "/v2.0/metering/metering-label-rules",
            "admin",
            json!({"metering_label_rule": {"metering_label_id": lid, "direction": "ingress", "remote_ip_prefix": "10.0.0.128/25"}}),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert_eq!(err_type(&v), "MeteringLabelRuleOverlaps");
    // remote together with source/destination, none at all, a bad prefix, a bad
    // direction: 400.
    for (body, kind) in [
        (
            json!({"metering_label_id": lid, "direction": "egress", "remote_ip_prefix": "10.1.0.0/24", "source_ip_prefix": "10.2.0.0/24"}),
            "Invalid",
        ),
        (
            json!({"metering_label_id": lid, "direction": "egress"}),
            "Invalid",
        ),
        (
            json!({"metering_label_id": lid, "direction": "egress", "destination_ip_prefix": "10.2.0.0/40"}),
            "Invalid",
        ),
        (
            json!({"metering_label_id": lid, "direction": "sideways", "remote_ip_prefix": "10.1.0.0/24"}),
            "InvalidInput",
        ),
    ] {
        let (st, v) = a
            .post(
                "/v2.0/metering/metering-label-rules",
                "admin",
                json!({ "metering_label_rule": body }),
            )
            .await;
        assert_eq!(st, 400, "{body}: {v}");
        assert_eq!(err_type(&v), kind, "{body}: {v}");
    }
    // A rule for a label that does not exist.
    let missing = "6b0e0c9b-1a9e-4b8c-9a56-6f1f0f1e2d3c";
    let (st, v) = a
        .post(
            "/v2.0/metering/metering-label-rules",
            "admin",
            json!({"metering_label_rule": {"metering_label_id": missing, "direction": "egress", "destination_ip_prefix": "fd03::1"}}),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(err_type(&v), "MeteringLabelNotFound");
    let egress = a
        .create(
            "metering/metering-label-rules",
            "metering_label_rule",
            "admin",
            json!({"metering_label_id": lid, "direction": "egress", "destination_ip_prefix": "fd03::1", "excluded": true}),
        )
        .await;
    assert_eq!(egress["destination_ip_prefix"], "fd03::1/128");
    assert_eq!(egress["excluded"], true);

    // Filters by id, as Tempest lists them.
    let (st, v) = a
        .get(&format!("/v2.0/metering/metering-labels?id={lid}"), "admin")
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["metering_labels"].as_array().map(Vec::len), Some(1));
    let (_, v) = a.get("/v2.0/metering/metering-labels?id=33", "admin").await;
    assert_eq!(v["metering_labels"], json!([]));
    let (_, v) = a
        .get(
            &format!(
                "/v2.0/metering/metering-label-rules?metering_label_id={lid}&direction=egress"
            ),
            "admin",
        )
        .await;
    assert_eq!(v["metering_label_rules"].as_array().map(Vec::len), Some(1));
    let (st, v) = a
        .get(
            &format!("/v2.0/metering/metering-label-rules/{rid}"),
            "admin",
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["metering_label_rule"]["direction"], "ingress");

    // Another project neither sees nor touches the admin's label (404, as Neutron).
    let (st, v) = a
        .get(&format!("/v2.0/metering/metering-labels/{lid}"), "alice")
        .await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "MeteringLabelNotFound");
    let (_, v) = a.get("/v2.0/metering/metering-label-rules", "alice").await;
    assert_eq!(v["metering_label_rules"], json!([]));
    // A project member may not create labels (project managers and admins may).
    let (st, v) = a
        .post(
            "/v2.0/metering/metering-labels",
            "alice",
            json!({"metering_label": {"name": "mine"}}),
        )
        .await;
    assert_eq!(st, 403, "{v}");
    assert_eq!(err_type(&v), "PolicyNotAuthorized");

    // Deleting the rule, then the label takes its remaining rules with it.
    let (st, _) = a
        .delete(
            &format!("/v2.0/metering/metering-label-rules/{rid}"),
            "admin",
        )
        .await;
    assert_eq!(st, 204);
    let (st, v) = a
        .get(
            &format!("/v2.0/metering/metering-label-rules/{rid}"),
            "admin",
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(err_type(&v), "MeteringLabelRuleNotFound");
    let (st, _) = a
        .delete(&format!("/v2.0/metering/metering-labels/{lid}"), "admin")
        .await;
    assert_eq!(st, 204);
    let (_, v) = a.get("/v2.0/metering/metering-label-rules", "admin").await;
    assert_eq!(v["metering_label_rules"], json!([]));
    let (st, _) = a
        .delete(&format!("/v2.0/metering/metering-labels/{lid}"), "admin")
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn service_providers_and_agents_for_readers() {
    let a = api().await;
    let (st, v) = a.get("/v2.0/service-providers", "alice-reader").await;
    assert_eq!(st, 200);
    assert_eq!(v["service_providers"][0]["service_type"], "L3_ROUTER_NAT");
    assert_eq!(v["service_providers"][0]["name"], "single_node");
    let (st, v) = a.get("/v2.0/extensions", "alice").await;
    assert_eq!(st, 200);
    let aliases: Vec<&str> = v["extensions"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    for alias in ["metering", "service-type", "ip-substring-filtering"] {
        assert!(aliases.contains(&alias), "{alias} not advertised");
    }
    // Agents are admin-only: other callers get an empty list, not a 403.
    a.network
        .agent_report(
            &rustack_api_common::AuthContext {
                roles: vec!["admin".into()],
                project_id: Some("padmin".into()),
                ..Default::default()
            },
            "host-1",
            &serde_json::Map::new(),
        )
        .await
        .expect("report");
    let (st, v) = a.get("/v2.0/agents", "admin").await;
    assert_eq!(st, 200);
    assert_eq!(v["agents"].as_array().map(Vec::len), Some(1));
    let id = v["agents"][0]["id"].as_str().expect("id").to_owned();
    let (st, v) = a.get("/v2.0/agents", "alice-reader").await;
    assert_eq!(st, 200);
    assert_eq!(v["agents"], json!([]));
    let (st, _) = a.get(&format!("/v2.0/agents/{id}"), "alice").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn ports_filtered_by_ip_substring() {
    let a = api().await;
    let net = a.network("alice", "n").await;
    let s = a.subnet("alice", &net, "10.0.0.0/24").await;
    let mut ids = Vec::new();
    for ip in ["10.0.0.9", "10.0.0.10"] {
        let p = a
            .create(
                "ports",
                "port",
                "alice",
                json!({"network_id": net, "fixed_ips": [{"subnet_id": s["id"], "ip_address": ip}]}),
            )
            .await;
        ids.push(p["id"].as_str().expect("id").to_owned());
    }
    let found = |v: &serde_json::Value| -> Vec<String> {
        v["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .filter_map(|p| p["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (st, v) = a
        .get(
            "/v2.0/ports?fixed_ips=ip_address_substr%3D10.0.0.1",
            "alice",
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(found(&v), vec![ids[1].clone()]);
    let (_, v) = a
        .get("/v2.0/ports?fixed_ips=ip_address_substr%3D10.0.0.", "alice")
        .await;
    let both = found(&v);
    assert!(both.contains(&ids[0]) && both.contains(&ids[1]), "{v}");
    let (_, v) = a
        .get("/v2.0/ports?fixed_ips=ip_address_substr%3D192.168", "alice")
        .await;
    assert_eq!(found(&v), Vec::<String>::new());
}

#[tokio::test]
async fn deleting_an_external_network_removes_its_unassociated_floating_ips() {
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
    let sub = a.subnet("admin", &ext_id, "172.24.4.0/24").await;
    let fip = a
        .create(
            "floatingips",
            "floatingip",
            "admin",
            json!({"floating_network_id": ext_id}),
        )
        .await;
    let fid = fip["id"].as_str().expect("id");
    let (st, v) = a.delete(&format!("/v2.0/networks/{ext_id}"), "admin").await;
    assert_eq!(st, 204, "{v}");
    let (st, _) = a.get(&format!("/v2.0/floatingips/{fid}"), "admin").await;
    assert_eq!(st, 404);
    let (st, _) = a
        .get(
            &format!("/v2.0/subnets/{}", sub["id"].as_str().expect("id")),
            "admin",
        )
        .await;
    assert_eq!(st, 404);
    let (_, v) = a.get("/v2.0/ports", "admin").await;
    assert_eq!(v["ports"], json!([]), "the floating IP's port went too");
}
