//! Servers over the in-process cloud with the simulated driver: create → ACTIVE, every
//! action, filters, negatives, rollback of a failed build (nothing leaks), concurrent
//! boots racing for the last capacity (nothing over-commits), delete while building,
//! restart recovery, power-state sync and the authorization matrix.

#![allow(clippy::unwrap_used)]

mod harness;
mod lifecycle;
mod microversions;
mod network;
mod ops;
mod reconcile;

use std::time::Duration;

use harness::{harness, harness_with};
use reqwest::Method;
use rustack_compute_server::servers::store;
use rustack_virt::sim::{SimConfig, SimOp};
use rustack_virt::PowerState;
use serde_json::json;

#[tokio::test]
async fn create_show_list_delete() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("cirros").await;
    let fl = h.flavor("11", 1, 128, 1).await;
    let r = h.boot(&p, "srv-1", &img, &fl).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.headers.contains_key("x-compute-request-id"));
    let req_id = r.headers["x-compute-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let s = &r.body["server"];
    let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
    for k in &keys {
        assert!(
            [
                "id",
                "links",
                "adminPass",
                "OS-DCF:diskConfig",
                "security_groups"
            ]
            .contains(&k.as_str()),
            "{k}"
        );
    }
    assert!(r.body.get("reservation_id").is_none());
    let id = s["id"].as_str().unwrap().to_string();
    let body = h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(body["OS-EXT-STS:power_state"], 1);
    assert_eq!(body["OS-EXT-STS:vm_state"], "active");
    assert_eq!(body["image"]["id"], img);
    assert_eq!(body["flavor"]["id"], fl);
    assert_eq!(body["tenant_id"], p.id);
    assert_eq!(body["hostId"].as_str().unwrap().len(), 56);
    assert!(
        body.get("OS-EXT-SRV-ATTR:host").is_none(),
        "non-admin sees no host"
    );
    let addrs = body["addresses"]["alice-net"].as_array().unwrap();
    assert_eq!(addrs.len(), 1);
    assert_eq!(addrs[0]["version"], 4);
    // The port was created for the server, bound to the host.
    let ports = h.ports_of(&id).await;
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["device_owner"], "compute:nova");
    assert_eq!(ports[0]["binding:host_id"], "test-host");
    assert_eq!(ports[0]["project_id"], p.id);
    assert_eq!(addrs[0]["addr"], ports[0]["fixed_ips"][0]["ip_address"]);
    assert_eq!(h.allocations_of(&id).await, 1);
    // The guest runs with the port's NIC.
    let spec = h.driver.spec(&id).unwrap();
    assert_eq!(spec.nics[0].port_id, ports[0]["id"].as_str().unwrap());
    // Admin sees the extended attributes.
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &h.admin, None)
        .await;
    assert_eq!(r.body["server"]["OS-EXT-SRV-ATTR:host"], "test-host");
    // Lists.
    let r = h.nova(Method::GET, "/servers", &p.token, None).await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["servers"][0].as_object().unwrap().len(), 3);
    let r = h
        .nova(Method::GET, "/servers/detail?status=active", &p.token, None)
        .await;
    assert_eq!(r.body["servers"][0]["id"], id);
    // Instance actions: the create is recorded with the request id.
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.body["instanceActions"][0]["action"], "create");
    assert_eq!(r.body["instanceActions"][0]["request_id"], req_id);
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/{req_id}"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["instanceAction"]["instance_uuid"], id);
    // ips.
    let r = h
        .nova(Method::GET, &format!("/servers/{id}/ips"), &p.token, None)
        .await;
    assert_eq!(
        r.body["addresses"]["alice-net"][0]["addr"],
        addrs[0]["addr"]
    );
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/ips/alice-net"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/ips/nope"),
            &p.token,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    // Usage feeds limits.
    let r = h.nova(Method::GET, "/limits", &p.token, None).await;
    assert_eq!(r.body["limits"]["absolute"]["totalInstancesUsed"], 1);
    assert_eq!(r.body["limits"]["absolute"]["totalRAMUsed"], 128);
    // Delete: 204, then 404; port and allocation released, guest gone.
    let r = h
        .nova(Method::DELETE, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(&p.token, &id).await;
    assert!(h.ports_of(&id).await.is_empty());
    assert_eq!(h.allocations_of(&id).await, 0);
    assert!(h.driver.spec(&id).is_none());
    let r = h.nova(Method::GET, "/servers", &p.token, None).await;
    assert!(r.body["servers"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn actions() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("img1").await;
    let img2 = h.image("img2").await;
    let fl = h.flavor("21", 1, 128, 1).await;
    let fl2 = h.flavor("22", 2, 256, 2).await;
    let r = h.boot(&p, "acts", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let act = |body: serde_json::Value| {
        let h = &h;
        let id = id.clone();
        let t = p.token.clone();
        async move {
            h.nova(
                Method::POST,
                &format!("/servers/{id}/action"),
                &t,
                Some(body),
            )
            .await
        }
    };
    // stop / start
    assert_eq!(act(json!({"os-stop": null})).await.status, 202);
    let b = h.wait_status(&p.token, &id, "SHUTOFF").await;
    assert_eq!(b["OS-EXT-STS:power_state"], 4);
    assert!(b.get("progress").is_none());
    assert_eq!(act(json!({"os-stop": null})).await.status, 409);
    assert_eq!(act(json!({"os-start": null})).await.status, 202);
    h.wait_status(&p.token, &id, "ACTIVE").await;
    // reboot
    assert_eq!(act(json!({"reboot": {"type": "HARD"}})).await.status, 202);
    h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(act(json!({"reboot": {"type": "SOFT"}})).await.status, 202);
    h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(act(json!({"reboot": {"type": "bogus"}})).await.status, 400);
    // pause / unpause / suspend / resume
    assert_eq!(act(json!({"pause": null})).await.status, 202);
    h.wait_status(&p.token, &id, "PAUSED").await;
    assert_eq!(act(json!({"unpause": null})).await.status, 202);
    h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(act(json!({"suspend": null})).await.status, 202);
    h.wait_status(&p.token, &id, "SUSPENDED").await;
    assert_eq!(act(json!({"resume": null})).await.status, 202);
    h.wait_status(&p.token, &id, "ACTIVE").await;
    // lock: the owner's actions are refused (409), unlock restores them.
    assert_eq!(act(json!({"lock": null})).await.status, 202);
    assert_eq!(act(json!({"os-stop": null})).await.status, 409);
    let r = h
        .nova(Method::DELETE, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(act(json!({"unlock": null})).await.status, 202);
    // rebuild: 202 with the full body and adminPass, REBUILD then ACTIVE on the new image.
    let r = act(
        json!({"rebuild": {"imageRef": img2, "name": "rebuilt", "adminPass": "pw",
        "metadata": {"k": "v"}, "accessIPv4": "1.2.3.4"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["server"]["adminPass"], "pw");
    assert_eq!(r.body["server"]["status"], "REBUILD");
    assert_eq!(r.body["server"]["image"]["id"], img2);
    let b = h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(b["name"], "rebuilt");
    assert_eq!(b["metadata"]["k"], "v");
    assert_eq!(b["accessIPv4"], "1.2.3.4");
    // resize + revert, resize + confirm (Placement follows the flavor).
    assert_eq!(act(json!({"resize": {"flavorRef": fl2}})).await.status, 202);
    let b = h.wait_status(&p.token, &id, "VERIFY_RESIZE").await;
    assert_eq!(b["flavor"]["id"], fl2);
    let a = h.placement.get_allocations(&id).await.unwrap();
    assert_eq!(
        a.allocations.values().next().unwrap().resources["MEMORY_MB"],
        256
    );
    assert_eq!(act(json!({"revertResize": null})).await.status, 202);
    let b = h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(b["flavor"]["id"], fl);
    let a = h.placement.get_allocations(&id).await.unwrap();
    assert_eq!(
        a.allocations.values().next().unwrap().resources["MEMORY_MB"],
        128
    );
    assert_eq!(
        act(json!({"resize": {"flavorRef": fl2, "OS-DCF:diskConfig": "AUTO"}}))
            .await
            .status,
        202
    );
    h.wait_status(&p.token, &id, "VERIFY_RESIZE").await;
    assert_eq!(act(json!({"confirmResize": null})).await.status, 204);
    let b = h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(b["flavor"]["id"], fl2);
    assert_eq!(b["OS-DCF:diskConfig"], "AUTO");
    assert_eq!(act(json!({"confirmResize": null})).await.status, 409);
    // Both resizes are in os-migrations: the newest confirmed, the first reverted.
    let r = h
        .nova_v(
            "2.23",
            Method::GET,
            &format!("/os-migrations?instance_uuid={id}"),
            &h.admin,
            None,
        )
        .await;
    let migs: Vec<(String, String)> = r.body["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["migration_type"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        migs,
        [
            ("resize".into(), "confirmed".into()),
            ("resize".into(), "reverted".into())
        ],
        "{}",
        r.body
    );
    assert_eq!(
        act(json!({"resize": {"flavorRef": "nope"}})).await.status,
        400
    );
    // console output
    let r = act(json!({"os-getConsoleOutput": {"length": 50}})).await;
    assert_eq!(r.status, 200);
    assert!(r.body["output"].as_str().unwrap().contains(&id));
    // createImage: 202 + Location; the image becomes active in the image service.
    let r = act(json!({"createImage": {"name": "snap-é", "metadata": {"purpose": "test"}}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let loc = r.headers["location"].to_str().unwrap().to_string();
    let image_id = loc.rsplit('/').next().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = h
            .glance(Method::GET, &format!("/images/{image_id}"), &p.token, None)
            .await;
        if r.body["status"] == "active" {
            assert_eq!(r.body["image_type"], "snapshot");
            assert_eq!(r.body["instance_uuid"], id);
            assert_eq!(r.body["purpose"], "test");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "snapshot never active: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The history has every action, newest first.
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            &p.token,
            None,
        )
        .await;
    let names: Vec<&str> = r.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names.last(), Some(&"create"));
    assert!(
        names.contains(&"reboot") && names.contains(&"rebuild") && names.contains(&"createImage")
    );
    // Unknown action on an unknown server: 404; on a known one: 400.
    let r = h
        .nova(
            Method::POST,
            "/servers/6b0d4a5e-2a5c-4b0e-9a53-0d0a5e2c4b0e/action",
            &p.token,
            Some(json!({"reboot": {"type": "HARD"}})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(act(json!({"fly": null})).await.status, 400);
}

#[tokio::test]
async fn metadata_update_and_negatives() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("31", 1, 64, 1).await;
    let r = h
        .nova(
            Method::POST,
            "/servers",
            &p.token,
            Some(
                json!({"server": {"name": "md", "imageRef": img, "flavorRef": fl,
            "metadata": {"a": "1"}, "accessIPv6": "::1", "networks": [{"uuid": p.network}]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let md = |s: &str| format!("/servers/{id}/metadata{s}");
    let r = h.nova(Method::GET, &md(""), &p.token, None).await;
    assert_eq!(r.body, json!({"metadata": {"a": "1"}}));
    let r = h
        .nova(
            Method::POST,
            &md(""),
            &p.token,
            Some(json!({"metadata": {"b": "2"}})),
        )
        .await;
    assert_eq!(r.body, json!({"metadata": {"a": "1", "b": "2"}}));
    let r = h
        .nova(
            Method::PUT,
            &md(""),
            &p.token,
            Some(json!({"metadata": {"c": "3"}})),
        )
        .await;
    assert_eq!(r.body, json!({"metadata": {"c": "3"}}));
    let r = h
        .nova(
            Method::PUT,
            &md("/d"),
            &p.token,
            Some(json!({"meta": {"d": "4"}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (200, json!({"meta": {"d": "4"}}))
    );
    let r = h
        .nova(
            Method::PUT,
            &md("/d"),
            &p.token,
            Some(json!({"meta": {"e": "4"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h.nova(Method::GET, &md("/d"), &p.token, None).await;
    assert_eq!(r.body, json!({"meta": {"d": "4"}}));
    assert_eq!(
        h.nova(Method::DELETE, &md("/d"), &p.token, None)
            .await
            .status,
        204
    );
    assert_eq!(
        h.nova(Method::GET, &md("/d"), &p.token, None).await.status,
        404
    );
    assert_eq!(
        h.nova(Method::DELETE, &md("/d"), &p.token, None)
            .await
            .status,
        404
    );
    let r = h
        .nova(
            Method::PUT,
            &md(""),
            &p.token,
            Some(json!({"metadata": {"k": "v".repeat(256)}})),
        )
        .await;
    assert_eq!(r.status, 400);
    // update
    let r = h
        .nova(
            Method::PUT,
            &format!("/servers/{id}"),
            &p.token,
            Some(json!({"server": {"name": "renamed", "accessIPv4": "4.3.2.1"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["server"]["name"], "renamed");
    assert!(
        r.body["server"].get("OS-EXT-STS:vm_state").is_none(),
        "2.1 update body is the basic shape"
    );
    for bad in [
        json!({"server": {"name": ""}}),
        json!({"server": {"name": "x".repeat(256)}}),
        json!({"server": {"accessIPv6": "notvalid"}}),
    ] {
        assert_eq!(
            h.nova(Method::PUT, &format!("/servers/{id}"), &p.token, Some(bad))
                .await
                .status,
            400
        );
    }
    // 2.2 (the advertised maximum here) keeps the 2.1 update shape.
    let r = h
        .nova_v(
            "2.2",
            Method::PUT,
            &format!("/servers/{id}"),
            &p.token,
            Some(json!({"server": {"name": "renamed-2"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["server"].get("description").is_none());
    // 404s.
    for path in [
        "/servers/-1",
        "/servers/9223372036854775808",
        "/servers/6b0d4a5e-2a5c-4b0e-9a53-0d0a5e2c4b0e",
    ] {
        assert_eq!(
            h.nova(Method::GET, path, &p.token, None).await.status,
            404,
            "{path}"
        );
        assert_eq!(
            h.nova(Method::DELETE, path, &p.token, None).await.status,
            404,
            "{path}"
        );
    }
    // create negatives.
    let base =
        json!({"name": "n", "imageRef": img, "flavorRef": fl, "networks": [{"uuid": p.network}]});
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        json!({ "server": b })
    };
    for body in [
        with("name", json!(12345)),
        with("name", json!("a".repeat(256))),
        with("name", json!("")),
        with("flavorRef", json!(-1)),
        with("imageRef", json!(-1)),
        with("accessIPv6", json!("notvalid")),
        with("metadata", json!({"k": "v".repeat(256)})),
        with(
            "networks",
            json!([{"uuid": "a-b-c-d-e-f-g-h-i-j", "fixed_ip": "10.0.0.5"}]),
        ),
        with("key_name", json!("nokey")),
        with("security_groups", json!([{"name": "nogroup"}])),
        with("availability_zone", json!("nozone")),
    ] {
        let r = h
            .nova(Method::POST, "/servers", &p.token, Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body} -> {}", r.body);
    }
    // list negatives and filters.
    for q in ["limit=-1", "limit=testing", "changes-since=2011/01/01"] {
        assert_eq!(
            h.nova(Method::GET, &format!("/servers?{q}"), &p.token, None)
                .await
                .status,
            400,
            "{q}"
        );
    }
    for q in [
        "name=zzz",
        "status=non_existing_status",
        "flavor=999",
        "image=6b0d4a5e-2a5c-4b0e-9a53-0d0a5e2c4b0e",
    ] {
        let r = h
            .nova(Method::GET, &format!("/servers/detail?{q}"), &p.token, None)
            .await;
        assert_eq!(r.status, 200, "{q}");
        assert!(r.body["servers"].as_array().unwrap().is_empty(), "{q}");
    }
    for q in [
        "name=ren",
        "status=ACTIVE",
        &format!("flavor={fl}"),
        &format!("image={img}"),
        "changes-since=2011-01-01T00:00:00Z",
        "limit=1",
    ] {
        let r = h
            .nova(Method::GET, &format!("/servers?{q}"), &p.token, None)
            .await;
        assert_eq!(r.body["servers"].as_array().unwrap().len(), 1, "{q}");
    }
}

#[tokio::test]
async fn multiple_create_and_quota() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("41", 1, 64, 1).await;
    let r = h
        .nova(Method::POST, "/servers", &p.token, Some(json!({"server": {"name": "multi", "imageRef": img, "flavorRef": fl, "min_count": 2, "networks": [{"uuid": p.network}]}})))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.get("reservation_id").is_none());
    let r = h
        .nova(Method::GET, "/servers?name=multi", &p.token, None)
        .await;
    let ids: Vec<String> = r.body["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        h.wait_status(&p.token, id, "ACTIVE").await;
    }
    let r = h
        .nova(Method::POST, "/servers", &p.token, Some(json!({"server": {"name": "res", "imageRef": img, "flavorRef": fl, "return_reservation_id": true, "networks": [{"uuid": p.network}]}})))
        .await;
    assert!(r.body["reservation_id"].as_str().unwrap().starts_with("r-"));
    // Quota: instances = 3 → a fourth is refused with 403.
    let r = h
        .nova(
            Method::PUT,
            &format!("/os-quota-sets/{}", p.id),
            &h.admin,
            Some(json!({"quota_set": {"instances": 3}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.boot(&p, "over", &img, &fl).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body["forbidden"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Quota exceeded for instances"));
}

#[tokio::test]
async fn failed_build_rolls_back_everything() {
    let h = harness_with(SimConfig::default(), 2).await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("51", 1, 64, 1).await;
    // The spawn fails; the only host is excluded on retry: NoValidHost, and every
    // step of the build was undone.
    h.driver.fail_next(SimOp::Spawn, 1);
    let r = h.boot(&p, "doomed", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    let b = h.wait_status(&p.token, &id, "ERROR").await;
    assert_eq!(b["fault"]["code"], 500);
    assert!(
        b["fault"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No valid host was found."),
        "{}",
        b["fault"]
    );
    assert!(h.ports_of(&id).await.is_empty(), "no leaked port");
    assert_eq!(h.allocations_of(&id).await, 0, "no leaked allocation");
    assert!(h.driver.spec(&id).is_none(), "no leaked guest");
    // A server in ERROR deletes cleanly.
    assert_eq!(
        h.nova(Method::DELETE, &format!("/servers/{id}"), &p.token, None)
            .await
            .status,
        204
    );
    h.wait_gone(&p.token, &id).await;
    // And the next build succeeds.
    let r = h.boot(&p, "fine", &img, &fl).await;
    let id3 = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id3, "ACTIVE").await;
}

#[tokio::test]
async fn delete_while_building_releases_everything() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("61", 1, 64, 1).await;
    h.driver.set_delay(Duration::from_millis(400));
    let r = h.boot(&p, "short-lived", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        h.nova(Method::DELETE, &format!("/servers/{id}"), &p.token, None)
            .await
            .status,
        204
    );
    h.wait_gone(&p.token, &id).await;
    // The build's undo ran: give the in-flight spawn its delay to finish first.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (!h.ports_of(&id).await.is_empty()
        || h.allocations_of(&id).await > 0
        || h.driver.spec(&id).is_some())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(h.ports_of(&id).await.is_empty());
    assert_eq!(h.allocations_of(&id).await, 0);
    assert!(h.driver.spec(&id).is_none());
}

#[tokio::test]
async fn concurrent_boots_never_overcommit() {
    // 4 vCPUs (ratio 1.0): eight 1-vCPU boots at once, exactly four fit.
    let sim = SimConfig {
        vcpus: 4,
        memory_mb: 64 * 1024,
        disk_gb: 100,
        ..SimConfig::default()
    };
    let h = harness_with(sim, 1).await;
    let p = h.project("alice").await;
    let r = h
        .nova(
            Method::PUT,
            &format!("/os-quota-sets/{}", p.id),
            &h.admin,
            Some(json!({"quota_set": {"instances": 50, "cores": 50}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let img = h.image("img").await;
    let fl = h.flavor("71", 1, 64, 1).await;
    let boots = (0..8).map(|n| {
        let (h, p, img, fl) = (&h, &p, img.clone(), fl.clone());
        async move { h.boot(p, &format!("race-{n}"), &img, &fl).await }
    });
    let ids: Vec<String> = futures::future::join_all(boots)
        .await
        .into_iter()
        .map(|r| r.body["server"]["id"].as_str().unwrap().to_string())
        .collect();
    let mut active = 0;
    let mut error = 0;
    for id in &ids {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = h
                .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
                .await;
            let s = r.body["server"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if s == "ACTIVE" {
                active += 1;
                break;
            }
            if s == "ERROR" {
                assert!(r.body["server"]["fault"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("No valid host"));
                error += 1;
                break;
            }
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!((active, error), (4, 4));
    let usage = h
        .placement
        .provider_usages(&h.placement_provider().await)
        .await
        .unwrap();
    assert_eq!(usage.get("VCPU").copied().unwrap_or(0), 4);
}

#[tokio::test]
async fn power_sync_and_restart_recovery() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("81", 1, 64, 1).await;
    let r = h.boot(&p, "dies", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    // The guest dies behind our back: the sync notices.
    h.driver.set_state(&id, PowerState::Crashed).unwrap();
    assert_eq!(h.servers.sync_power_states().await.unwrap(), 1);
    let b = h.wait_status(&p.token, &id, "SHUTOFF").await;
    assert_eq!(b["OS-EXT-STS:power_state"], 4);
    // Running guests are kept by a sync pass (nothing changes).
    let r = h
        .nova(
            Method::POST,
            &format!("/servers/{id}/action"),
            &p.token,
            Some(json!({"os-start": null})),
        )
        .await;
    assert_eq!(r.status, 202);
    h.wait_status(&p.token, &id, "ACTIVE").await;
    assert_eq!(h.servers.sync_power_states().await.unwrap(), 0);
    // A build interrupted by a restart leaves a row in `building` with logged steps
    // (here: an allocation claimed and a port created); recovery undoes them.
    let uuid = "5d1c8d0c-7a3c-4d43-9c8c-5a3c1e2a9b11";
    let row = store::Instance {
        uuid: uuid.into(),
        project_id: p.id.clone(),
        user_id: p.user.clone(),
        name: "interrupted".into(),
        vm_state: "building".into(),
        task_state: Some("networking".into()),
        image_ref: Some(img.clone()),
        flavor: store::FlavorSnapshot {
            flavorid: fl.clone(),
            vcpus: 1,
            memory_mb: 64,
            root_gb: 1,
            ..Default::default()
        },
        created_at: "2026-01-01T00:00:00.000000".into(),
        updated_at: "2026-01-01T00:00:00.000000".into(),
        ..Default::default()
    };
    let provider = h.placement_provider().await;
    let mut c = h.compute.conn().await.unwrap();
    store::insert_instance(&mut c, &row).await.unwrap();
    let cands = h
        .placement
        .allocation_candidates(&rustack_placement_api::client::CandidateQuery::resources([
            ("VCPU", 1),
            ("MEMORY_MB", 64),
        ]))
        .await
        .unwrap();
    let req = cands
        .allocation_requests
        .iter()
        .find(|r| r.allocations.contains_key(&provider))
        .unwrap();
    h.placement.claim(uuid, req, &p.id, &p.user).await.unwrap();
    store::log_step(
        &mut c,
        uuid,
        "claim",
        &json!({"provider": provider}).to_string(),
        "now",
    )
    .await
    .unwrap();
    let r = h
        .neutron(Method::POST, "/ports", &h.admin, Some(json!({"port": {"network_id": p.network, "project_id": p.id, "device_id": uuid, "device_owner": "compute:nova"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    store::log_step(
        &mut c,
        uuid,
        "port",
        &json!({"port": r.body["port"]["id"]}).to_string(),
        "now",
    )
    .await
    .unwrap();
    drop(c);
    assert_eq!(h.allocations_of(uuid).await, 1);
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
    // Deleting it now is clean.
    assert_eq!(
        h.nova(Method::DELETE, &format!("/servers/{uuid}"), &p.token, None)
            .await
            .status,
        204
    );
    h.wait_gone(&p.token, uuid).await;
}

#[tokio::test]
async fn authorization_matrix() {
    let h = harness().await;
    let p = h.project("alice").await;
    let other = h.project("bob").await;
    let (_, _, reader) = h
        .cloud
        .persona(&h.admin, "reader", "reader", Some(&p.id))
        .await;
    let img = h.image("img").await;
    let fl = h.flavor("91", 1, 64, 1).await;
    let r = h.boot(&p, "owned", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let path = format!("/servers/{id}");
    let act = format!("/servers/{id}/action");
    // (method, path, body, owner, reader, other project, admin)
    let cases: Vec<(Method, String, Option<serde_json::Value>, [u16; 4])> = vec![
        (Method::GET, path.clone(), None, [200, 200, 404, 200]),
        (Method::GET, "/servers".into(), None, [200, 200, 200, 200]),
        (
            Method::GET,
            format!("{path}/metadata"),
            None,
            [200, 200, 404, 200],
        ),
        (
            Method::GET,
            format!("{path}/os-instance-actions"),
            None,
            [200, 200, 404, 200],
        ),
        (
            Method::GET,
            format!("{path}/ips"),
            None,
            [200, 200, 404, 200],
        ),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"server": {"name": "x"}})),
            [200, 403, 404, 200],
        ),
        (
            Method::POST,
            format!("{path}/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
            [200, 403, 404, 200],
        ),
        (
            Method::POST,
            act.clone(),
            Some(json!({"os-getConsoleOutput": {}})),
            [200, 403, 404, 200],
        ),
        (
            Method::POST,
            act.clone(),
            Some(json!({"lock": null})),
            [202, 403, 404, 202],
        ),
        (
            Method::POST,
            act.clone(),
            Some(json!({"unlock": null})),
            // Locked by the admin: the owner needs unlock_override (admin only).
            [403, 403, 404, 202],
        ),
    ];
    for (m, path, body, want) in cases {
        for ((who, tok), code) in [
            ("owner", &p.token),
            ("reader", &reader),
            ("other", &other.token),
            ("admin", &h.admin),
        ]
        .into_iter()
        .zip(want)
        {
            let r = h.nova(m.clone(), &path, tok, body.clone()).await;
            assert_eq!(r.status, code, "{m} {path} as {who}: {}", r.body);
        }
    }
    // A reader may not create; anonymous gets 401.
    assert_eq!(
        h.boot(
            &harness::Project {
                user: String::new(),
                id: p.id.clone(),
                token: reader.clone(),
                network: p.network.clone()
            },
            "r",
            &img,
            &fl
        )
        .await
        .status,
        403
    );
    assert_eq!(
        h.raw(
            Method::GET,
            format!("{}/v2.1/servers", h.url),
            "",
            None,
            &[]
        )
        .await
        .status,
        401
    );
    // all_tenants is refused to members (Nova's get_all_tenants rules), honoured for
    // admins.
    for path in ["/servers?all_tenants=1", "/servers/detail?all_tenants"] {
        let r = h.nova(Method::GET, path, &other.token, None).await;
        assert_eq!(r.status, 403, "{path}");
    }
    let r = h
        .nova(Method::GET, "/servers?all_tenants=1", &h.admin, None)
        .await;
    assert_eq!(r.body["servers"].as_array().unwrap().len(), 1);
    // Delete: the other project cannot, the reader cannot, the owner can.
    assert_eq!(
        h.nova(Method::DELETE, &path, &other.token, None)
            .await
            .status,
        404
    );
    assert_eq!(
        h.nova(Method::DELETE, &path, &reader, None).await.status,
        403
    );
    assert_eq!(
        h.nova(Method::DELETE, &path, &p.token, None).await.status,
        204
    );
}

#[tokio::test]
async fn interfaces_attach_and_detach() {
    let h = harness().await;
    let p = h.project("alice").await;
    let img = h.image("img").await;
    let fl = h.flavor("95", 1, 64, 1).await;
    let r = h.boot(&p, "nics", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let path = format!("/servers/{id}/os-interface");
    let r = h.nova(Method::GET, &path, &p.token, None).await;
    assert_eq!(r.body["interfaceAttachments"].as_array().unwrap().len(), 1);
    let r = h
        .nova(
            Method::POST,
            &path,
            &p.token,
            Some(json!({"interfaceAttachment": {"net_id": p.network}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let port = r.body["interfaceAttachment"]["port_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r.body["interfaceAttachment"]["net_id"], p.network);
    // The port is bound to the host, the guest has the NIC, the addresses show it.
    let ports = h.ports_of(&id).await;
    assert_eq!(ports.len(), 2);
    assert!(ports.iter().all(|x| x["binding:host_id"] == "test-host"));
    assert_eq!(h.driver.spec(&id).unwrap().nics.len(), 2);
    let r = h
        .nova(Method::GET, &format!("{path}/{port}"), &p.token, None)
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), &p.token, None)
        .await;
    assert_eq!(
        r.body["server"]["addresses"]["alice-net"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Detach: the port the attach created is deleted, the NIC is gone.
    let r = h
        .nova(Method::DELETE, &format!("{path}/{port}"), &p.token, None)
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(h.ports_of(&id).await.len(), 1);
    assert_eq!(h.driver.spec(&id).unwrap().nics.len(), 1);
    let r = h
        .nova(Method::DELETE, &format!("{path}/{port}"), &p.token, None)
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova(
            Method::POST,
            &path,
            &p.token,
            Some(json!({"interfaceAttachment": {"net_id": p.network, "port_id": port}})),
        )
        .await;
    assert_eq!(r.status, 400);
}
