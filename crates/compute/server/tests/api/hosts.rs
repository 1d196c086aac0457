//! Compute host registration and the admin views over it: services, hypervisors,
//! availability zones.

use std::sync::Arc;

use rustack_virt::sim::{SimConfig, SimulatedDriver};
use serde_json::{json, Value};

use crate::common::{api, fault, Api};

async fn with_host() -> Api {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let driver = Arc::new(SimulatedDriver::new(SimConfig {
        hostname: "node1".into(),
        vcpus: 8,
        memory_mb: 16384,
        disk_gb: 100,
    }));
    let node = api
        .compute
        .register_compute_host(driver.as_ref())
        .await
        .expect("register");
    api.compute
        .register_control_services("node1")
        .await
        .expect("control");
    // Registering again keeps the same node.
    let again = api
        .compute
        .register_compute_host(driver.as_ref())
        .await
        .expect("again");
    assert_eq!(again.uuid, node.uuid);
    assert_eq!(again.id, node.id);
    let inv = api.compute.node_inventory(&node);
    assert_eq!(inv["VCPU"].total, 8);
    assert_eq!(inv["VCPU"].allocation_ratio, 4.0);
    assert_eq!(inv["MEMORY_MB"].reserved, 512);
    assert_eq!(inv["DISK_GB"].total, 100);
    api
}

#[tokio::test]
async fn services_list_and_update() {
    let api = with_host().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let (st, _) = api.get("/v2.1/os-services", "alice").await;
    assert_eq!(st, 403);
    let (st, v) = api.get("/v2.1/os-services", "admin").await;
    assert_eq!(st, 200, "{v}");
    let list = v["services"].as_array().expect("services");
    assert_eq!(list.len(), 3);
    let compute = list
        .iter()
        .find(|s| s["binary"] == "nova-compute")
        .expect("nova-compute");
    let mut k: Vec<&String> = compute.as_object().expect("obj").keys().collect();
    k.sort();
    assert_eq!(
        k,
        [
            "binary",
            "disabled_reason",
            "host",
            "id",
            "state",
            "status",
            "updated_at",
            "zone"
        ]
    );
    assert_eq!(compute["host"], "node1");
    assert_eq!(compute["state"], "up");
    assert_eq!(compute["status"], "enabled");
    assert_eq!(compute["zone"], "nova");
    assert!(compute["id"].is_i64());
    let sched = list
        .iter()
        .find(|s| s["binary"] == "nova-scheduler")
        .expect("scheduler");
    assert_eq!(sched["zone"], "internal");
    let (_, v) = api
        .get("/v2.1/os-services?binary=nova-compute&host=node1", "admin")
        .await;
    assert_eq!(v["services"].as_array().expect("list").len(), 1);

    let body = json!({"host": "node1", "binary": "nova-compute", "disabled_reason": "maintenance"});
    let (st, _) = api
        .put(
            "/v2.1/os-services/disable-log-reason",
            "alice",
            body.clone(),
        )
        .await;
    assert_eq!(st, 403);
    let (st, v) = api
        .put("/v2.1/os-services/disable-log-reason", "admin", body)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"service": {"host": "node1", "binary": "nova-compute", "status": "disabled",
            "disabled_reason": "maintenance"}})
    );
    let (_, v) = api
        .get("/v2.1/os-services?binary=nova-compute", "admin")
        .await;
    assert_eq!(v["services"][0]["status"], "disabled");
    assert_eq!(v["services"][0]["disabled_reason"], "maintenance");
    let (st, v) = api
        .put(
            "/v2.1/os-services/enable",
            "admin",
            json!({"host": "node1", "binary": "nova-compute"}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["service"]["status"], "enabled");
    let (st, v) = api
        .put(
            "/v2.1/os-services/enable",
            "admin",
            json!({"host": "nope", "binary": "nova-compute"}),
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        "Could not find binary nova-compute on host nope."
    );
    // force-down needs 2.11.
    let body = json!({"host": "node1", "binary": "nova-compute", "forced_down": true});
    let (st, _) = api
        .put("/v2.1/os-services/force-down", "admin", body.clone())
        .await;
    assert_eq!(st, 404);
    let (st, v) = api
        .call_v(
            "2.11",
            "PUT",
            "/v2.1/os-services/force-down",
            "admin",
            Some(body),
        )
        .await;
    {
        assert_eq!(st, 200, "{v}");
        let (_, v) = api
            .call_v(
                "2.11",
                "GET",
                "/v2.1/os-services?binary=nova-compute",
                "admin",
                None,
            )
            .await;
        assert_eq!(v["services"][0]["forced_down"], true);
        assert_eq!(v["services"][0]["state"], "down");
    }
}

#[tokio::test]
async fn hypervisors() {
    let api = with_host().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let (st, _) = api.get("/v2.1/os-hypervisors", "alice").await;
    assert_eq!(st, 403);
    let (st, v) = api.get("/v2.1/os-hypervisors", "admin").await;
    assert_eq!(st, 200);
    let h = &v["hypervisors"][0];
    assert_eq!(h["hypervisor_hostname"], "node1");
    assert_eq!(h["state"], "up");
    assert_eq!(h["status"], "enabled");
    let id = h["id"].as_i64().expect("id");
    let (_, v) = api.get("/v2.1/os-hypervisors/detail", "admin").await;
    let d = &v["hypervisors"][0];
    assert_eq!(d["vcpus"], 8);
    assert_eq!(d["memory_mb"], 16384);
    assert_eq!(d["local_gb"], 100);
    assert_eq!(d["free_ram_mb"], 16384);
    assert_eq!(d["service"]["host"], "node1");
    assert!(d["cpu_info"].is_string());
    let (st, v) = api
        .get(&format!("/v2.1/os-hypervisors/{id}"), "admin")
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["hypervisor"], *d);
    let (st, _) = api.get("/v2.1/os-hypervisors/999", "admin").await;
    assert_eq!(st, 404);
    let (_, v) = api.get("/v2.1/os-hypervisors/statistics", "admin").await;
    assert_eq!(v["hypervisor_statistics"]["count"], 1);
    assert_eq!(v["hypervisor_statistics"]["vcpus"], 8);
    let (st, v) = api.get("/v2.1/os-hypervisors/node/search", "admin").await;
    assert_eq!(st, 200);
    assert_eq!(v["hypervisors"][0]["hypervisor_hostname"], "node1");
    let (st, _) = api.get("/v2.1/os-hypervisors/zzz/search", "admin").await;
    assert_eq!(st, 404);
    let (st, v) = api.get("/v2.1/os-hypervisors/node1/servers", "admin").await;
    assert_eq!(st, 200);
    assert!(v["hypervisors"][0].get("servers").is_none());
    let (st, v) = api
        .get(&format!("/v2.1/os-hypervisors/{id}/uptime"), "admin")
        .await;
    assert_eq!(st, 200);
    assert!(v["hypervisor"]["uptime"]
        .as_str()
        .expect("uptime")
        .contains(" up "));
}

#[tokio::test]
async fn availability_zones() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let (_, v) = api.get("/v2.1/os-availability-zone", "alice").await;
    assert_eq!(v, json!({"availabilityZoneInfo": []}));
    drop(api);
    let api = with_host().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let (st, v) = api.get("/v2.1/os-availability-zone", "alice").await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}]})
    );
    let (st, _) = api.get("/v2.1/os-availability-zone/detail", "alice").await;
    assert_eq!(st, 403);
    let (st, v) = api.get("/v2.1/os-availability-zone/detail", "admin").await;
    assert_eq!(st, 200);
    let zones = v["availabilityZoneInfo"].as_array().expect("zones");
    assert_eq!(zones[0]["zoneName"], "internal");
    assert_eq!(zones[1]["zoneName"], "nova");
    let svc: &Value = &zones[1]["hosts"]["node1"]["nova-compute"];
    assert_eq!(svc["available"], true);
    assert_eq!(svc["active"], true);
    assert!(zones[0]["hosts"]["node1"]["nova-conductor"].is_object());
}

#[tokio::test]
async fn hypervisor_paging_at_2_33() {
    let api = with_host().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    let second = Arc::new(SimulatedDriver::new(SimConfig {
        hostname: "node2".into(),
        ..SimConfig::default()
    }));
    // A second host registers under its own name.
    api.compute
        .register_compute_host(second.as_ref())
        .await
        .expect("node2");
    let (st, v) = api
        .call_v("2.33", "GET", "/v2.1/os-hypervisors?limit=1", "admin", None)
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["hypervisors"].as_array().expect("list").len(), 1);
    let next = v["hypervisors_links"][0]["href"].as_str().expect("next");
    assert_eq!(
        next,
        "http://compute.test:8774/v2.1/os-hypervisors?limit=1&marker=1"
    );
    let (_, v) = api
        .call_v(
            "2.33",
            "GET",
            "/v2.1/os-hypervisors/detail?limit=1&marker=1",
            "admin",
            None,
        )
        .await;
    assert_eq!(v["hypervisors"][0]["hypervisor_hostname"], "node2");
    assert!(v["hypervisors"][0]["cpu_info"].is_object());
    let (st, _) = api
        .call_v(
            "2.33",
            "GET",
            "/v2.1/os-hypervisors?marker=99",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 400);
    // Without a limit there are no links.
    let (_, v) = api
        .call_v("2.33", "GET", "/v2.1/os-hypervisors", "admin", None)
        .await;
    assert_eq!(v["hypervisors"].as_array().expect("list").len(), 2);
    assert!(v.get("hypervisors_links").is_none());
    // 2.28: cpu_info is an object.
    let (_, v) = api
        .call_v("2.28", "GET", "/v2.1/os-hypervisors/detail", "admin", None)
        .await;
    assert!(v["hypervisors"][0]["cpu_info"].is_object(), "{v}");
}

#[tokio::test]
async fn removed_apis_are_gone() {
    let api = api().await;
    api.compute.serve_microversions_up_to_for_tests(104);
    for (m, path) in [
        ("GET", "/v2.1/os-fixed-ips/10.0.0.1"),
        ("GET", "/v2.1/os-fping"),
        ("GET", "/v2.1/os-cells"),
        ("GET", "/v2.1/os-agents"),
        ("GET", "/v2.1/servers/x/os-virtual-interfaces"),
    ] {
        let (st, v) = api.call(m, path, Some("admin"), None).await;
        assert_eq!(st, 410, "{path}");
        assert_eq!(v["computeFault"]["code"], 410);
    }
}

#[tokio::test]
async fn aggregates_and_zones() {
    let api = with_host().await;
    let (st, _) = api
        .post(
            "/v2.1/os-aggregates",
            "alice",
            json!({"aggregate": {"name": "a"}}),
        )
        .await;
    assert_eq!(st, 403);
    let (st, v) = api
        .post(
            "/v2.1/os-aggregates",
            "admin",
            json!({"aggregate": {"name": "agg1", "availability_zone": "zone-a"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let a = &v["aggregate"];
    assert!(a.get("hosts").is_none());
    assert_eq!(a["availability_zone"], "zone-a");
    let id = a["id"].as_i64().expect("id");
    let (st, _) = api
        .post(
            "/v2.1/os-aggregates",
            "admin",
            json!({"aggregate": {"name": "agg1"}}),
        )
        .await;
    assert_eq!(st, 409);
    let act = format!("/v2.1/os-aggregates/{id}/action");
    let (st, v) = api
        .post(&act, "admin", json!({"add_host": {"host": "nope"}}))
        .await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        "Compute host nope could not be found."
    );
    let (st, v) = api
        .post(&act, "admin", json!({"add_host": {"host": "node1"}}))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["aggregate"]["hosts"], json!(["node1"]));
    let (st, _) = api
        .post(&act, "admin", json!({"add_host": {"host": "node1"}}))
        .await;
    assert_eq!(st, 409);
    // The host's zone follows the aggregate.
    let (_, v) = api.get("/v2.1/os-availability-zone", "alice").await;
    assert_eq!(v["availabilityZoneInfo"][0]["zoneName"], "zone-a");
    let (_, v) = api
        .get("/v2.1/os-services?binary=nova-compute", "admin")
        .await;
    assert_eq!(v["services"][0]["zone"], "zone-a");
    let (st, v) = api
        .post(
            &act,
            "admin",
            json!({"set_metadata": {"metadata": {"ssd": "true", "availability_zone": null}}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["aggregate"]["metadata"], json!({"ssd": "true"}));
    let (_, v) = api.get("/v2.1/os-availability-zone", "alice").await;
    assert_eq!(v["availabilityZoneInfo"][0]["zoneName"], "nova");
    let (st, v) = api
        .put(
            &format!("/v2.1/os-aggregates/{id}"),
            "admin",
            json!({"aggregate": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["aggregate"]["name"], "renamed");
    let (st, _) = api
        .delete(&format!("/v2.1/os-aggregates/{id}"), "admin")
        .await;
    assert_eq!(st, 400);
    let (st, _) = api
        .post(&act, "admin", json!({"remove_host": {"host": "node1"}}))
        .await;
    assert_eq!(st, 200);
    let (st, _) = api
        .delete(&format!("/v2.1/os-aggregates/{id}"), "admin")
        .await;
    assert_eq!(st, 200);
    let (st, v) = api.get("/v2.1/os-aggregates", "admin").await;
    assert_eq!((st, v), (200, json!({"aggregates": []})));
    // 2.41 shows the uuid.
    let (_, v) = api
        .call_v(
            "2.41",
            "POST",
            "/v2.1/os-aggregates",
            "admin",
            Some(json!({"aggregate": {"name": "agg2"}})),
        )
        .await;
    assert_eq!(v["aggregate"]["uuid"].as_str().map(str::len), Some(36));
}

#[tokio::test]
async fn services_and_hypervisors_by_uuid_at_2_53() {
    let api = with_host().await;
    let (_, v) = api
        .call_v(
            "2.53",
            "GET",
            "/v2.1/os-services?binary=nova-compute",
            "admin",
            None,
        )
        .await;
    let id = v["services"][0]["id"].as_str().expect("uuid id").to_owned();
    assert_eq!(id.len(), 36);
    let put = |body: serde_json::Value| {
        let path = format!("/v2.1/os-services/{id}");
        let api = &api;
        async move { api.call_v("2.53", "PUT", &path, "admin", Some(body)).await }
    };
    let (st, v) = put(json!({"status": "disabled", "disabled_reason": "maint"})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["service"]["status"], "disabled");
    assert_eq!(v["service"]["disabled_reason"], "maint");
    assert_eq!(v["service"]["id"], id.as_str());
    let (st, v) = put(json!({"status": "enabled", "disabled_reason": "x"})).await;
    assert_eq!(st, 400, "{v}");
    let (st, v) = put(json!({})).await;
    assert_eq!(st, 400);
    assert_eq!(
        fault(&v, "badRequest"),
        "No updates were requested. Fields 'status' or 'forced_down' should be specified."
    );
    let (st, v) = put(json!({"status": "enabled", "forced_down": true})).await;
    assert_eq!(st, 200);
    assert_eq!(v["service"]["forced_down"], true);
    assert_eq!(v["service"]["state"], "down");
    let (st, _) = api
        .call_v(
            "2.53",
            "PUT",
            "/v2.1/os-services/enable",
            "admin",
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(st, 400);
    let (st, _) = api
        .call_v("2.53", "DELETE", "/v2.1/os-services/1", "admin", None)
        .await;
    assert_eq!(st, 400);
    // Scheduler services may not be updated.
    let (_, v) = api
        .call_v(
            "2.53",
            "GET",
            "/v2.1/os-services?binary=nova-scheduler",
            "admin",
            None,
        )
        .await;
    let sched = v["services"][0]["id"].as_str().expect("id").to_owned();
    let (st, _) = api
        .call_v(
            "2.53",
            "PUT",
            &format!("/v2.1/os-services/{sched}"),
            "admin",
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(st, 400);

    // Hypervisors: uuid ids, hostname pattern, with_servers; search/servers are gone.
    let (st, v) = api
        .call_v(
            "2.53",
            "GET",
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=node&with_servers=true",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let hv = v["hypervisors"][0].clone();
    let hid = hv["id"].as_str().expect("uuid").to_owned();
    // No servers: the key is left out before 2.75, an empty list from 2.75.
    assert!(hv.get("servers").is_none(), "{hv}");
    let (st, v) = api
        .call_v(
            "2.75",
            "GET",
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=node&with_servers=true",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["hypervisors"][0]["servers"], json!([]));
    let (st, _) = api
        .call_v(
            "2.53",
            "GET",
            "/v2.1/os-hypervisors?hypervisor_hostname_pattern=zzz",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, v) = api
        .call_v(
            "2.53",
            "GET",
            &format!("/v2.1/os-hypervisors/{hid}"),
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["hypervisor"]["id"], hid.as_str());
    let (st, _) = api
        .call_v("2.53", "GET", "/v2.1/os-hypervisors/1", "admin", None)
        .await;
    assert_eq!(st, 400);
    let (st, _) = api
        .call_v(
            "2.53",
            "GET",
            "/v2.1/os-hypervisors/node1/search",
            "admin",
            None,
        )
        .await;
    assert_eq!(st, 404);
}
