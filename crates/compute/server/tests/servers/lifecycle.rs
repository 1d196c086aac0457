//! Lifecycle actions and admin APIs: shelve / shelveOffload / unshelve (the
//! `<name>-shelved` image, the allocation freed on offload and claimed again on
//! unshelve, ports kept but unbound, 2.77 availability zone), rescue / unrescue
//! (the driver boots the rescue image), server diagnostics (pre-2.48 and 2.48
//! shapes), the server password, `os-hosts` and `os-instance_usage_audit_log`.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{harness, Harness};

async fn action(h: &Harness, token: &str, id: &str, body: Value) -> crate::harness::R {
    h.nova(
        Method::POST,
        &format!("/servers/{id}/action"),
        token,
        Some(body),
    )
    .await
}

async fn action_v(h: &Harness, v: &str, token: &str, id: &str, body: Value) -> crate::harness::R {
    h.nova_v(
        v,
        Method::POST,
        &format!("/servers/{id}/action"),
        token,
        Some(body),
    )
    .await
}

/// Names of the backup images of server `id`, sorted.
async fn backups(h: &Harness, id: &str) -> Vec<String> {
    let r = h.glance(Method::GET, "/images", &h.admin, None).await;
    let mut names: Vec<String> = r.body["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["instance_uuid"] == id && i["image_type"] == "backup")
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn images_named(h: &Harness, name: &str) -> Vec<Value> {
    let r = h
        .glance(Method::GET, &format!("/images?name={name}"), &h.admin, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["images"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn shelve_offload_and_unshelve() {
    let h = harness().await;
    let p = h.project("shelver").await;
    let img = h.image("img").await;
    let fl = h.flavor("61", 1, 64, 1).await;
    let r = h.boot(&p, "shelf", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let t = p.token.clone();
    assert_eq!(h.allocations_of(&id).await, 1);

    // Nothing to unshelve or offload yet.
    let r = action(&h, &t, &id, json!({"unshelve": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        r.body["conflictingRequest"]["message"],
        format!("Cannot 'unshelve' instance {id} while it is in vm_state active")
    );
    // Offload is admin-only by default.
    let r = action(&h, &t, &id, json!({"shelveOffload": null})).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = action(&h, &h.admin, &id, json!({"shelveOffload": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);

    // Shelve: offloaded at once (shelved_offload_time = 0).
    let r = action(&h, &t, &id, json!({"shelve": null})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let b = h.wait_status(&t, &id, "SHELVED_OFFLOADED").await;
    assert_eq!(b["OS-EXT-STS:vm_state"], "shelved_offloaded");
    assert_eq!(b["OS-EXT-STS:power_state"], 4);
    let admin_view = h
        .nova(Method::GET, &format!("/servers/{id}"), &h.admin, None)
        .await;
    assert!(admin_view.body["server"]["OS-EXT-SRV-ATTR:host"].is_null());
    // The snapshot image holds the disk; the guest and its allocation are gone.
    let shelved = images_named(&h, "shelf-shelved").await;
    assert_eq!(shelved.len(), 1, "{shelved:?}");
    assert_eq!(shelved[0]["status"], "active");
    assert_eq!(shelved[0]["image_type"], "snapshot");
    assert_eq!(shelved[0]["instance_uuid"], id.as_str());
    assert_eq!(h.allocations_of(&id).await, 0);
    assert!(h.driver.spec(&id).is_none());
    // Ports stay with the server, unbound.
    let ports = h.ports_of(&id).await;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["binding:host_id"], "");
    // Shelving again is a state conflict; so is an offload.
    let r = action(&h, &t, &id, json!({"shelve": {}})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = action(&h, &h.admin, &id, json!({"shelveOffload": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);

    // 2.77: the body is validated; an unknown zone is 400.
    let r = action_v(&h, "2.77", &t, &id, json!({"unshelve": {}})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = action_v(
        &h,
        "2.77",
        &t,
        &id,
        json!({"unshelve": {"availability_zone": "nowhere"}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["badRequest"]["message"],
        "The requested availability zone is not available"
    );
    // Before 2.77 Nova does not validate the body: a zone is ignored.
    let r = action(
        &h,
        &t,
        &id,
        json!({"unshelve": {"availability_zone": "nowhere"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let b = h.wait_status(&t, &id, "ACTIVE").await;
    assert_eq!(b["OS-EXT-STS:power_state"], 1);
    assert_eq!(h.allocations_of(&id).await, 1);
    assert!(h.driver.spec(&id).is_some());
    assert!(images_named(&h, "shelf-shelved").await.is_empty());
    let ports = h.ports_of(&id).await;
    assert_eq!(ports[0]["binding:host_id"], "test-host");

    // A zone for a server that is not offloaded is refused (state check first).
    let r = action_v(
        &h,
        "2.77",
        &t,
        &id,
        json!({"unshelve": {"availability_zone": "nova"}}),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Shelve from SHUTOFF; unshelve into a named zone at 2.77.
    assert_eq!(
        action(&h, &t, &id, json!({"os-stop": null})).await.status,
        202
    );
    h.wait_status(&t, &id, "SHUTOFF").await;
    assert_eq!(
        action(&h, &t, &id, json!({"shelve": null})).await.status,
        202
    );
    h.wait_status(&t, &id, "SHELVED_OFFLOADED").await;
    let r = action_v(
        &h,
        "2.77",
        &t,
        &id,
        json!({"unshelve": {"availability_zone": "nova"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let b = h.wait_status(&t, &id, "ACTIVE").await;
    assert_eq!(b["OS-EXT-AZ:availability_zone"], "nova");

    // The instance actions record every step.
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            &t,
            None,
        )
        .await;
    let names: Vec<&str> = r.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "shelve").count(), 2);
    assert_eq!(names.iter().filter(|n| **n == "unshelve").count(), 2);

    // A locked server refuses shelve (409) for its owner.
    assert_eq!(action(&h, &t, &id, json!({"lock": null})).await.status, 202);
    let r = action(&h, &t, &id, json!({"shelve": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        action(&h, &t, &id, json!({"unlock": null})).await.status,
        202
    );

    // Deleting an offloaded server removes its shelved image, ports and all.
    assert_eq!(
        action(&h, &t, &id, json!({"shelve": null})).await.status,
        202
    );
    h.wait_status(&t, &id, "SHELVED_OFFLOADED").await;
    assert_eq!(images_named(&h, "shelf-shelved").await.len(), 1);
    let r = h
        .nova(Method::DELETE, &format!("/servers/{id}"), &t, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(&t, &id).await;
    assert!(images_named(&h, "shelf-shelved").await.is_empty());
    assert!(h.ports_of(&id).await.is_empty());
    assert_eq!(h.allocations_of(&id).await, 0);
}

#[tokio::test]
async fn rescue_and_unrescue() {
    let h = harness().await;
    let p = h.project("rescuer").await;
    let img = h.image("img").await;
    let rescue_img = h.image("rescue-img").await;
    let fl = h.flavor("62", 1, 64, 1).await;
    let r = h.boot(&p, "res", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let t = p.token.clone();

    let r = action(&h, &t, &id, json!({"unrescue": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    // Schema: nothing but adminPass and rescue_image_ref (a uuid).
    let r = action(&h, &t, &id, json!({"rescue": {"bogus": 1}})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = action(&h, &t, &id, json!({"rescue": {"rescue_image_ref": "x"}})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let missing = uuid::Uuid::new_v4().to_string();
    let r = action(
        &h,
        &t,
        &id,
        json!({"rescue": {"rescue_image_ref": missing}}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["badRequest"]["message"],
        format!("Requested rescue image '{missing}' is not supported")
    );

    // Rescue with the server's own image: 200 and the given password.
    let r = action(&h, &t, &id, json!({"rescue": {"adminPass": "s3cret"}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["adminPass"], "s3cret");
    let b = h.wait_status(&t, &id, "RESCUE").await;
    assert_eq!(b["OS-EXT-STS:vm_state"], "rescued");
    let image = h
        .driver
        .rescue_image(&id)
        .expect("the driver boots a rescue image");
    assert!(
        image.to_string_lossy().contains(&img),
        "{}",
        image.display()
    );
    let r = action(&h, &t, &id, json!({"rescue": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = action(&h, &t, &id, json!({"os-stop": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = action(&h, &t, &id, json!({"unrescue": null})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    h.wait_status(&t, &id, "ACTIVE").await;
    assert!(h.driver.rescue_image(&id).is_none());

    // From SHUTOFF, with another image and a generated password.
    assert_eq!(
        action(&h, &t, &id, json!({"os-stop": null})).await.status,
        202
    );
    h.wait_status(&t, &id, "SHUTOFF").await;
    let r = action(
        &h,
        &t,
        &id,
        json!({"rescue": {"rescue_image_ref": rescue_img}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["adminPass"].as_str().unwrap().len(), 12);
    h.wait_status(&t, &id, "RESCUE").await;
    let image = h.driver.rescue_image(&id).unwrap();
    assert!(image.to_string_lossy().contains(&rescue_img));
    assert_eq!(
        action(&h, &t, &id, json!({"unrescue": {}})).await.status,
        202
    );
    let b = h.wait_status(&t, &id, "ACTIVE").await;
    assert_eq!(b["OS-EXT-STS:power_state"], 1);

    // Deferred delete: nothing is ever soft-deleted, so restore is a state conflict;
    // forceDelete deletes.
    let r = action(&h, &t, &id, json!({"restore": null})).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        r.body["conflictingRequest"]["message"],
        format!("Cannot 'restore' instance {id} while it is in vm_state active")
    );
    let r = action(&h, &t, &id, json!({"forceDelete": null})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    h.wait_gone(&t, &id).await;
}

#[tokio::test]
async fn diagnostics_password_and_admin_apis() {
    let h = harness().await;
    let p = h.project("diag").await;
    let img = h.image("img").await;
    let fl = h.flavor("63", 2, 64, 1).await;
    let r = h.boot(&p, "diag", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let t = p.token.clone();
    let a = h.admin.clone();

    // ---- diagnostics (admin) ----
    let path = format!("/servers/{id}/diagnostics");
    let r = h.nova(Method::GET, &path, &t, None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = h.nova(Method::GET, &path, &a, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["cpu0_time"], 0);
    assert_eq!(r.body["cpu1_time"], 0);
    assert_eq!(r.body["memory"], 64 * 1024);
    assert!(r.body.get("vda_read").is_some(), "{}", r.body);
    let r = h.nova_v("2.48", Method::GET, &path, &a, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["state"], "running");
    assert_eq!(r.body["driver"], "libvirt");
    assert_eq!(r.body["num_cpus"], 2);
    assert_eq!(r.body["num_nics"], 1);
    assert_eq!(r.body["num_disks"], 1);
    assert_eq!(r.body["memory_details"]["maximum"], 64);
    assert_eq!(r.body["config_drive"], false);
    assert_eq!(r.body["cpu_details"].as_array().unwrap().len(), 2);
    assert!(r.body["nic_details"][0]["mac_address"].is_string());
    let missing = uuid::Uuid::new_v4().to_string();
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{missing}/diagnostics"),
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // ---- password ----
    let path = format!("/servers/{id}/os-server-password");
    let r = h.nova(Method::GET, &path, &t, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"password": ""}));
    h.servers.store_password(&id, "encrypted==").await.unwrap();
    let r = h.nova(Method::GET, &path, &t, None).await;
    assert_eq!(r.body, json!({"password": "encrypted=="}));
    let other = h.project("other").await;
    let r = h.nova(Method::GET, &path, &other.token, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = h.nova(Method::DELETE, &path, &t, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = h.nova(Method::GET, &path, &t, None).await;
    assert_eq!(r.body, json!({"password": ""}));

    // ---- os-hosts (2.1-2.42) ----
    let r = h.nova(Method::GET, "/os-hosts", &a, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let hosts = r.body["hosts"].as_array().unwrap().clone();
    // The test cloud registers only its compute service (`rustack up` adds the
    // scheduler and conductor rows).
    assert!(!hosts.is_empty(), "{hosts:?}");
    assert!(
        hosts.contains(&json!({"host_name": "test-host", "service": "compute", "zone": "nova"}))
    );
    let r = h.nova(Method::GET, "/os-hosts?zone=nova", &a, None).await;
    assert!(r.body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["zone"] == "nova"));
    let r = h.nova(Method::GET, "/os-hosts?zone=xxx", &a, None).await;
    assert_eq!(r.body["hosts"], json!([]));
    let r = h.nova(Method::GET, "/os-hosts", &t, None).await;
    assert_eq!(r.status, 403);
    let r = h.nova(Method::GET, "/os-hosts/test-host", &a, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let res: Vec<&Value> = r.body["host"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| &x["resource"])
        .collect();
    assert_eq!(res[0]["project"], "(total)");
    assert_eq!(res[1]["project"], "(used_now)");
    assert_eq!(res[2]["project"], "(used_max)");
    assert_eq!(res[2]["cpu"], 2);
    assert_eq!(res[2]["memory_mb"], 64);
    assert_eq!(res[3]["project"], p.id.as_str());
    let r = h.nova(Method::GET, "/os-hosts/nope", &a, None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = h
        .nova(
            Method::PUT,
            "/os-hosts/test-host",
            &a,
            Some(json!({"status": "enable"})),
        )
        .await;
    assert_eq!(r.status, 501, "{}", r.body);
    let r = h
        .nova(
            Method::PUT,
            "/os-hosts/test-host",
            &a,
            Some(json!({"status": "bogus"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova(
            Method::PUT,
            "/os-hosts/nope",
            &a,
            Some(json!({"status": "enable"})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    for act in ["reboot", "shutdown", "startup"] {
        let r = h
            .nova(Method::GET, &format!("/os-hosts/test-host/{act}"), &a, None)
            .await;
        assert_eq!(r.status, 501, "{act}: {}", r.body);
        let r = h
            .nova(Method::GET, &format!("/os-hosts/nope/{act}"), &a, None)
            .await;
        assert_eq!(r.status, 404, "{act}: {}", r.body);
        let r = h
            .nova(Method::GET, &format!("/os-hosts/test-host/{act}"), &t, None)
            .await;
        assert_eq!(r.status, 403, "{act}: {}", r.body);
    }
    let r = h.nova_v("2.43", Method::GET, "/os-hosts", &a, None).await;
    assert_eq!(r.status, 404, "{}", r.body);

    // ---- os-instance_usage_audit_log ----
    let r = h
        .nova(Method::GET, "/os-instance_usage_audit_log", &a, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let log = &r.body["instance_usage_audit_logs"];
    assert_eq!(log["num_hosts"], 1);
    assert_eq!(log["num_hosts_done"], 1);
    assert_eq!(log["overall_status"], "ALL hosts done. 0 errors.");
    assert!(log["log"]["test-host"]["state"] == "DONE");
    let r = h
        .nova(
            Method::GET,
            "/os-instance_usage_audit_log/2099-01-15%2000:00:00",
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let log = &r.body["instance_usage_audit_log"];
    assert_eq!(log["period_beginning"], "2098-12-01 00:00:00");
    assert_eq!(log["period_ending"], "2099-01-01 00:00:00");
    // The server launched today ran during that (future) month.
    assert_eq!(log["total_instances"], 1);
    let r = h
        .nova(
            Method::GET,
            "/os-instance_usage_audit_log/2012-02-30",
            &a,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova(Method::GET, "/os-instance_usage_audit_log", &t, None)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn create_backup_rotates() {
    let h = harness().await;
    let p = h.project("backer").await;
    let img = h.image("img").await;
    let fl = h.flavor("64", 1, 64, 1).await;
    let r = h.boot(&p, "bk", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let t = p.token.clone();
    for bad in [
        json!({"createBackup": {"name": "b", "backup_type": "daily"}}),
        json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": -1}}),
        json!({"createBackup": {"name": "b", "backup_type": 1, "rotation": 1}}),
        json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1, "x": 1}}),
    ] {
        let r = action(&h, &t, &id, bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    for (n, rotation) in [("b1", json!(2)), ("b2", json!("2")), ("b3", json!(2))] {
        let r = action(
            &h,
            &t,
            &id,
            json!({"createBackup": {"name": n, "backup_type": "daily", "rotation": rotation}}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let loc = r.headers["location"].to_str().unwrap().to_string();
        let image_id = loc.rsplit('/').next().unwrap().to_string();
        // Wait for the upload before the next backup.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let g = h
                .glance(Method::GET, &format!("/images/{image_id}"), &h.admin, None)
                .await;
            if g.body["status"] == "active" {
                assert_eq!(g.body["backup_type"], "daily");
                break;
            }
            if std::time::Instant::now() >= deadline {
                let a = h
                    .nova(
                        Method::GET,
                        &format!("/servers/{id}/os-instance-actions"),
                        &h.admin,
                        None,
                    )
                    .await;
                let req = a.body["instanceActions"][0]["request_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let ev = h
                    .nova_v(
                        "2.51",
                        Method::GET,
                        &format!("/servers/{id}/os-instance-actions/{req}"),
                        &h.admin,
                        None,
                    )
                    .await;
                panic!("{n}: {} {} {}", g.body, a.body, ev.body);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        h.wait_status(&t, &id, "ACTIVE").await;
    }
    // Rotation 2: the oldest went away.
    assert_eq!(backups(&h, &id).await, ["b2", "b3"]);
    // Rotation 0: nothing kept, no image reference in the answer.
    let r = action(
        &h,
        &t,
        &id,
        json!({"createBackup": {"name": "b4", "backup_type": "daily", "rotation": 0}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.headers.get("location").is_none());
    assert!(backups(&h, &id).await.is_empty());
    h.wait_status(&t, &id, "ACTIVE").await;
}

#[tokio::test]
async fn resize_of_a_stopped_server_stays_stopped() {
    let h = harness().await;
    let p = h.project("resizer").await;
    let img = h.image("img").await;
    let fl = h.flavor("65", 1, 64, 1).await;
    let fl2 = h.flavor("66", 1, 128, 1).await;
    let r = h.boot(&p, "rs", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let t = p.token.clone();
    assert_eq!(
        action(&h, &t, &id, json!({"os-stop": null})).await.status,
        202
    );
    h.wait_status(&t, &id, "SHUTOFF").await;
    for (finish, flavor) in [("confirmResize", &fl2), ("revertResize", &fl)] {
        let r = action(&h, &t, &id, json!({"resize": {"flavorRef": flavor}})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let b = h.wait_status(&t, &id, "VERIFY_RESIZE").await;
        assert_eq!(b["OS-EXT-STS:power_state"], 4, "{finish}");
        let r = action(&h, &t, &id, json!({ finish: null })).await;
        assert!(r.status == 202 || r.status == 204, "{}", r.body);
        let b = h.wait_status(&t, &id, "SHUTOFF").await;
        assert_eq!(b["OS-EXT-STS:power_state"], 4, "{finish}");
        assert_eq!(
            h.driver.spec(&id).map(|_| ()),
            Some(()),
            "the guest still exists"
        );
    }
}
