//! Restart recovery and the leftover reconciliation: a build a crash interrupted right
//! after its claim or its port goes to ERROR with nothing held; allocations and
//! ports of servers that are gone (or never got a host) are released; live servers
//! and other clients' consumers are left alone.

use reqwest::Method;
use rustack_compute_server::servers::store;
use rustack_placement_api::client::CandidateQuery;
use serde_json::json;

use crate::harness::{harness, Harness, Project};

/// Claims `vcpus`/`ram` on the test host's provider for `consumer`.
async fn claim(h: &Harness, p: &Project, consumer: &str) {
    let provider = h.placement_provider().await;
    let cands = h
        .placement
        .allocation_candidates(&CandidateQuery::resources([("VCPU", 1), ("MEMORY_MB", 64)]))
        .await
        .unwrap();
    let req = cands
        .allocation_requests
        .iter()
        .find(|r| r.allocations.contains_key(&provider))
        .unwrap();
    h.placement
        .claim(consumer, req, &p.id, &p.user)
        .await
        .unwrap();
}

/// A `compute:nova` port on the project's network for device `device`.
async fn port_for(h: &Harness, p: &Project, device: &str) -> String {
    let r = h
        .neutron(
            Method::POST,
            "/ports",
            &h.admin,
            Some(json!({"port": {"network_id": p.network, "project_id": p.id,
                "device_id": device, "device_owner": "compute:nova"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["port"]["id"].as_str().unwrap().to_string()
}

/// A server row as the API writes it before the build task starts.
fn building_row(uuid: &str, p: &Project, img: &str, fl: &str, task: &str) -> store::Instance {
    store::Instance {
        uuid: uuid.into(),
        project_id: p.id.clone(),
        user_id: p.user.clone(),
        name: "interrupted".into(),
        vm_state: "building".into(),
        task_state: Some(task.into()),
        image_ref: Some(img.into()),
        requested_networks: json!([{"network_id": p.network}]),
        flavor: store::FlavorSnapshot {
            flavorid: fl.into(),
            vcpus: 1,
            memory_mb: 64,
            root_gb: 1,
            ..Default::default()
        },
        created_at: "2026-01-01T00:00:00.000000".into(),
        updated_at: "2026-01-01T00:00:00.000000".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn crash_after_claim_and_port_recovers_to_error_with_nothing_held() {
    let h = harness().await;
    h.servers.wait_started().await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("91", 1, 64, 1).await;
    // As a build logs them now: the claim's and the ports' undo first, then the
    // effects; the crash came before the port's own log entry.
    let uuid = "6a1c8d0c-7a3c-4d43-9c8c-5a3c1e2a9b21";
    let mut c = h.compute.conn().await.unwrap();
    store::insert_instance(&mut c, &building_row(uuid, &p, &img, &fl, "networking"))
        .await
        .unwrap();
    store::log_step(&mut c, uuid, "claim", "{}", "now")
        .await
        .unwrap();
    drop(c);
    claim(&h, &p, uuid).await;
    let mut c = h.compute.conn().await.unwrap();
    store::log_step(&mut c, uuid, "ports", r#"{"keep":[]}"#, "now")
        .await
        .unwrap();
    drop(c);
    port_for(&h, &p, uuid).await;
    assert_eq!(h.allocations_of(uuid).await, 1);
    assert_eq!(h.ports_of(uuid).await.len(), 1);
    h.servers.recover().await.unwrap();
    let b = h.wait_status(&p.token, uuid, "ERROR").await;
    assert!(
        b["fault"]["message"]
            .as_str()
            .unwrap()
            .contains("restarted"),
        "{}",
        b["fault"]
    );
    assert_eq!(h.allocations_of(uuid).await, 0);
    assert!(h.ports_of(uuid).await.is_empty());
    // Nothing left for the reconciliation.
    let r = h.servers.reconcile_leftovers(true).await.unwrap();
    assert!(r.is_empty(), "{r:?}");
}

#[tokio::test]
async fn stale_build_without_a_log_is_released_by_the_reconciliation() {
    let h = harness().await;
    h.servers.wait_started().await;
    let p = h.project("bob").await;
    let img = h.image("img").await;
    let fl = h.flavor("92", 1, 64, 1).await;
    // A build interrupted before its log was written (as builds logged before this
    // change): recovery finds no step, so the server goes to ERROR holding them.
    let uuid = "7b1c8d0c-7a3c-4d43-9c8c-5a3c1e2a9b22";
    let mut c = h.compute.conn().await.unwrap();
    store::insert_instance(&mut c, &building_row(uuid, &p, &img, &fl, "scheduling"))
        .await
        .unwrap();
    drop(c);
    claim(&h, &p, uuid).await;
    let port = port_for(&h, &p, uuid).await;
    h.servers.recover().await.unwrap();
    h.wait_status(&p.token, uuid, "ERROR").await;
    assert_eq!(h.allocations_of(uuid).await, 1);
    // ERROR without a host: released by the periodic pass too (the row names it).
    let r = h.servers.reconcile_leftovers(false).await.unwrap();
    assert_eq!(r.allocations, vec![uuid.to_string()]);
    assert_eq!(r.ports_deleted, vec![port]);
    assert_eq!(h.allocations_of(uuid).await, 0);
    assert!(h.ports_of(uuid).await.is_empty());
    // Idempotent.
    assert!(h
        .servers
        .reconcile_leftovers(false)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn orphan_allocations_and_ports_are_removed_live_ones_kept() {
    let h = harness().await;
    h.servers.wait_started().await;
    let p = h.project("carol").await;
    let img = h.image("img").await;
    let fl = h.flavor("93", 1, 64, 1).await;
    // A live server keeps everything.
    let r = h.boot(&p, "live", &img, &fl).await;
    let live = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &live, "ACTIVE").await;
    // A deleted server whose allocation and port came back (a crash mid-delete).
    let r = h.boot(&p, "gone", &img, &fl).await;
    let gone = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &gone, "ACTIVE").await;
    let r = h
        .nova(Method::DELETE, &format!("/servers/{gone}"), &p.token, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(&p.token, &gone).await;
    claim(&h, &p, &gone).await;
    let gone_port = port_for(&h, &p, &gone).await;
    use rustack_virt::ComputeDriver;
    h.driver
        .spawn(&rustack_virt::InstanceSpec {
            uuid: gone.clone(),
            name: "gone".into(),
            vcpus: 1,
            memory_mb: 64,
            ..Default::default()
        })
        .await
        .unwrap();
    // A consumer and a port naming no server at all.
    let never = "8c1c8d0c-7a3c-4d43-9c8c-5a3c1e2a9b23";
    claim(&h, &p, never).await;
    let never_port = port_for(&h, &p, never).await;
    // A periodic pass releases what names a deleted server, not what names nothing
    // (it may be another client's, or a build about to record itself).
    let r = h.servers.reconcile_leftovers(false).await.unwrap();
    assert_eq!(r.allocations, vec![gone.clone()]);
    assert_eq!(r.ports_deleted, vec![gone_port]);
    assert_eq!(r.guests_destroyed, vec![gone.clone()]);
    assert!(h.driver.state(&gone).await.is_err());
    assert_eq!(h.allocations_of(&gone).await, 0);
    assert_eq!(h.allocations_of(never).await, 1);
    assert_eq!(h.ports_of(never).await.len(), 1);
    // The pass at start releases those too.
    let r = h.servers.reconcile_leftovers(true).await.unwrap();
    assert_eq!(r.allocations, vec![never.to_string()]);
    assert_eq!(r.ports_deleted, vec![never_port]);
    assert_eq!(h.allocations_of(never).await, 0);
    assert!(h.ports_of(never).await.is_empty());
    // The live server still holds its allocation and port.
    assert_eq!(h.allocations_of(&live).await, 1);
    assert_eq!(h.ports_of(&live).await.len(), 1);
    let b = h.wait_status(&p.token, &live, "ACTIVE").await;
    assert_eq!(b["id"], live.as_str());
}

#[tokio::test]
async fn error_server_with_a_host_keeps_its_allocation_and_users_port_is_unbound() {
    let h = harness().await;
    h.servers.wait_started().await;
    let p = h.project("dave").await;
    let img = h.image("img").await;
    let fl = h.flavor("94", 1, 64, 1).await;
    // Nova keeps the allocations of an ERROR server that has a host.
    let r = h.boot(&p, "broken", &img, &fl).await;
    let broken = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &broken, "ACTIVE").await;
    // (an action failed on its host: the row as the action's error path leaves it).
    let mut c = h.compute.conn().await.unwrap();
    let mut row = store::get_instance(&mut c, &broken, false)
        .await
        .unwrap()
        .unwrap();
    row.vm_state = "error".into();
    store::update_instance(&mut c, &row).await.unwrap().unwrap();
    drop(c);
    h.wait_status(&p.token, &broken, "ERROR").await;
    // A deleted server that had been given the user's own port: that port is
    // unbound, not deleted.
    let users_port = port_for(&h, &p, "").await;
    let r = h
        .nova(
            Method::POST,
            "/servers",
            &p.token,
            Some(
                json!({"server": {"name": "own-port", "imageRef": img, "flavorRef": fl,
                "networks": [{"port": users_port}]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let own = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &own, "ACTIVE").await;
    let r = h
        .nova(Method::DELETE, &format!("/servers/{own}"), &p.token, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(&p.token, &own).await;
    // The delete unbound it; a crash could have lost that: bind it back.
    let r = h
        .neutron(
            Method::PUT,
            &format!("/ports/{users_port}"),
            &h.admin,
            Some(json!({"port": {"device_id": own, "device_owner": "compute:nova"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.servers.reconcile_leftovers(false).await.unwrap();
    assert!(r.allocations.is_empty(), "{r:?}");
    assert_eq!(r.ports_unbound, vec![users_port.clone()]);
    assert!(r.ports_deleted.is_empty(), "{r:?}");
    assert_eq!(h.allocations_of(&broken).await, 1);
    let r = h
        .neutron(Method::GET, &format!("/ports/{users_port}"), &h.admin, None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["port"]["device_id"], "");
    assert_eq!(r.body["port"]["device_owner"], "");
}
