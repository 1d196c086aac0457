//! Microversioned server operations: tags (2.26), trigger_crash_dump (2.17), remote
//! consoles (2.6/2.8/2.31), instance actions of deleted servers (2.21), the move
//! operations on a one-host cloud (NoValidHost) with their migration records
//! (2.22-2.34), and device tags (2.32/2.37/2.42).

use reqwest::Method;
use rustack_compute_server::servers::store;
use rustack_virt::ComputeDriver as _;
use serde_json::json;

use crate::harness::harness;

#[tokio::test]
async fn microversioned_operations() {
    let h = harness().await;
    let p = h.project("ops").await;
    let img = h.image("img").await;
    let fl = h.flavor("96", 1, 64, 1).await;
    let r = h.boot(&p, "ops", &img, &fl).await;
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let t = &p.token;

    // The maximum is the end of the implemented prefix of the history table.
    let max = rustack_compute_api::microversion::max();
    let r = h.nova_v("latest", Method::GET, "/flavors", t, None).await;
    assert_eq!(
        r.headers["openstack-api-version"],
        format!("compute {max}").as_str()
    );
    let above = format!("2.{}", max.minor + 1);
    let r = h.nova_v(&above, Method::GET, "/flavors", t, None).await;
    assert_eq!(r.status, 406);

    // ---- tags ----
    let tags = format!("/servers/{id}/tags");
    let r = h.nova_v("2.25", Method::GET, &tags, t, None).await;
    assert_eq!(r.status, 404);
    let r = h.nova_v("2.26", Method::GET, &tags, t, None).await;
    assert_eq!((r.status, r.body["tags"].clone()), (200, json!([])));
    let r = h
        .nova_v("2.26", Method::PUT, &format!("{tags}/red"), t, None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = h
        .nova_v("2.26", Method::PUT, &format!("{tags}/red"), t, None)
        .await;
    assert_eq!(r.status, 204);
    let r = h
        .nova_v("2.26", Method::PUT, &format!("{tags}/a,b"), t, None)
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .nova_v("2.26", Method::GET, &format!("{tags}/red"), t, None)
        .await;
    assert_eq!(r.status, 204);
    let r = h
        .nova_v("2.26", Method::GET, &format!("{tags}/blue"), t, None)
        .await;
    assert_eq!(r.status, 404);
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    let r = h
        .nova_v(
            "2.26",
            Method::PUT,
            &tags,
            t,
            Some(json!({"tags": too_many})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.26",
            Method::PUT,
            &tags,
            t,
            Some(json!({"tags": ["x", "y"]})),
        )
        .await;
    assert_eq!((r.status, r.body["tags"].clone()), (200, json!(["x", "y"])));
    let r = h
        .nova_v("2.26", Method::GET, &format!("/servers/{id}"), t, None)
        .await;
    assert_eq!(r.body["server"]["tags"], json!(["x", "y"]));
    let r = h
        .nova_v("2.25", Method::GET, &format!("/servers/{id}"), t, None)
        .await;
    assert!(r.body["server"].get("tags").is_none());
    for (q, n) in [
        ("tags=x,y", 1),
        ("tags=x,z", 0),
        ("tags-any=z,y", 1),
        ("not-tags=x,y", 0),
        ("not-tags=x,z", 1),
        ("not-tags-any=z", 1),
        ("not-tags-any=y", 0),
    ] {
        let r = h
            .nova_v("2.26", Method::GET, &format!("/servers?{q}"), t, None)
            .await;
        assert_eq!(r.body["servers"].as_array().unwrap().len(), n, "{q}");
    }
    let r = h
        .nova_v("2.26", Method::DELETE, &format!("{tags}/nope"), t, None)
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v("2.26", Method::DELETE, &format!("{tags}/x"), t, None)
        .await;
    assert_eq!(r.status, 204);
    let r = h.nova_v("2.26", Method::DELETE, &tags, t, None).await;
    assert_eq!(r.status, 204);
    let r = h.nova_v("2.26", Method::GET, &tags, t, None).await;
    assert_eq!(r.body["tags"], json!([]));

    // ---- trigger_crash_dump ----
    let act = format!("/servers/{id}/action");
    let dump = json!({"trigger_crash_dump": null});
    let r = h
        .nova_v("2.16", Method::POST, &act, t, Some(dump.clone()))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .nova_v("2.17", Method::POST, &act, t, Some(dump.clone()))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let log = h.driver.console_output(&id, None).await.unwrap();
    assert!(log.contains("NMI"), "{log}");

    // ---- os-resetState / injectNetworkInfo (admin only) ----
    let status = |b: &serde_json::Value| b["server"]["status"].as_str().map(str::to_owned);
    let srv = format!("/servers/{id}");
    let reset = |st: &str| json!({"os-resetState": {"state": st}});
    let r = h.nova(Method::POST, &act, t, Some(reset("error"))).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = h
        .nova(Method::POST, &act, &h.admin, Some(reset("paused")))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova(
            Method::POST,
            &act,
            &h.admin,
            Some(json!({"os-resetState": {}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova(Method::POST, &act, &h.admin, Some(reset("error")))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h.nova(Method::GET, &srv, t, None).await;
    assert_eq!(status(&r.body).as_deref(), Some("ERROR"), "{}", r.body);
    let r = h
        .nova(Method::POST, &act, &h.admin, Some(reset("active")))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h.nova(Method::GET, &srv, t, None).await;
    assert_eq!(status(&r.body).as_deref(), Some("ACTIVE"), "{}", r.body);
    let inject = json!({"injectNetworkInfo": null});
    let r = h.nova(Method::POST, &act, t, Some(inject.clone())).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = h.nova(Method::POST, &act, &h.admin, Some(inject)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .nova(
            Method::POST,
            &act,
            &h.admin,
            Some(json!({"injectNetworkInfo": {}})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);

    // ---- consoles ----
    let rc = format!("/servers/{id}/remote-consoles");
    let serial = json!({"remote_console": {"protocol": "serial", "type": "serial"}});
    let r = h
        .nova_v("2.5", Method::POST, &rc, t, Some(serial.clone()))
        .await;
    assert_eq!(r.status, 404);
    let r = h.nova_v("2.6", Method::POST, &rc, t, Some(serial)).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["badRequest"]["message"],
        "Unavailable console type serial."
    );
    let mks = json!({"remote_console": {"protocol": "mks", "type": "webmks"}});
    let r = h
        .nova_v("2.6", Method::POST, &rc, t, Some(mks.clone()))
        .await;
    assert!(r.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid input"));
    let r = h.nova_v("2.8", Method::POST, &rc, t, Some(mks)).await;
    assert_eq!(
        r.body["badRequest"]["message"],
        "Unavailable console type webmks."
    );
    let r = h
        .nova(
            Method::POST,
            &act,
            t,
            Some(json!({"os-getVNCConsole": {"type": "novnc"}})),
        )
        .await;
    assert_eq!(
        r.body["badRequest"]["message"],
        "Unavailable console type novnc."
    );
    let r = h
        .nova_v(
            "2.31",
            Method::GET,
            "/os-console-auth-tokens/abc",
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v("2.31", Method::GET, "/os-console-auth-tokens/abc", t, None)
        .await;
    assert_eq!(r.status, 403);

    // ---- moves on a one-host cloud ----
    let r = h
        .nova(Method::POST, &act, &h.admin, Some(json!({"migrate": null})))
        .await;
    // Nova casts the cold migration: 202, the NoValidHost lands in the instance action.
    assert_eq!(r.status, 202, "{}", r.body);
    let r = h
        .nova(Method::GET, &format!("/servers/{id}"), t, None)
        .await;
    assert_eq!(r.body["server"]["status"], "ACTIVE");
    let live =
        |bm: serde_json::Value| json!({"os-migrateLive": {"block_migration": bm, "host": null}});
    let r = h
        .nova_v(
            "2.24",
            Method::POST,
            &act,
            &h.admin,
            Some(live(json!("auto"))),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .nova_v(
            "2.25",
            Method::POST,
            &act,
            &h.admin,
            Some(live(json!("auto"))),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .starts_with("No valid host was found."));
    let r = h
        .nova_v(
            "2.30",
            Method::POST,
            &act,
            &h.admin,
            Some(
                json!({"os-migrateLive": {"block_migration": "auto", "host": null, "force": true}}),
            ),
        )
        .await;
    assert_eq!(
        r.body["badRequest"]["message"],
        "Can't force to a non-provided destination"
    );
    let r = h
        .nova_v(
            "2.34",
            Method::POST,
            &act,
            &h.admin,
            Some(live(json!(false))),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    // Evacuate while the host is up.
    let r = h
        .nova_v(
            "2.14",
            Method::POST,
            &act,
            &h.admin,
            Some(json!({"evacuate": {}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["badRequest"]["message"],
        "Compute service of test-host is still in use."
    );
    let r = h
        .nova_v(
            "2.13",
            Method::POST,
            &act,
            &h.admin,
            Some(json!({"evacuate": {}})),
        )
        .await;
    assert_eq!(r.status, 400, "onSharedStorage required before 2.14");
    let r = h
        .nova_v("2.22", Method::GET, "/os-migrations", &h.admin, None)
        .await;
    let list = r.body["migrations"].as_array().unwrap().clone();
    assert_eq!(list.len(), 3, "{}", r.body);
    assert!(list
        .iter()
        .all(|m| m["status"] == "error" && m.get("migration_type").is_none()));
    assert!(list[0]["old_instance_type_id"].as_i64().unwrap() > 0);
    assert_eq!(list[0]["source_compute"], "test-host");
    let r = h
        .nova_v(
            "2.23",
            Method::GET,
            "/os-migrations?migration_type=live-migration",
            &h.admin,
            None,
        )
        .await;
    let list = r.body["migrations"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert!(list
        .iter()
        .all(|m| m["migration_type"] == "live-migration" && m.get("links").is_none()));
    let r = h
        .nova_v("2.23", Method::GET, "/os-migrations", t, None)
        .await;
    assert_eq!(r.status, 403);
    let mig = format!("/servers/{id}/migrations");
    let r = h.nova_v("2.22", Method::GET, &mig, &h.admin, None).await;
    assert_eq!(r.status, 404);
    let r = h.nova_v("2.23", Method::GET, &mig, &h.admin, None).await;
    assert_eq!((r.status, r.body["migrations"].clone()), (200, json!([])));
    let r = h
        .nova_v("2.23", Method::GET, &format!("{mig}/1"), &h.admin, None)
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v(
            "2.22",
            Method::POST,
            &format!("{mig}/1/action"),
            &h.admin,
            Some(json!({"force_complete": null})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let r = h
        .nova_v("2.24", Method::DELETE, &format!("{mig}/1"), &h.admin, None)
        .await;
    assert_eq!(r.status, 409);
    let r = h
        .nova_v(
            "2.34",
            Method::GET,
            &format!("/servers/{id}/os-instance-actions"),
            &h.admin,
            None,
        )
        .await;
    let acts: Vec<String> = r.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_string())
        .collect();
    assert!(acts.contains(&"live-migration".to_string()), "{acts:?}");
    assert!(acts.contains(&"trigger_crash_dump".to_string()), "{acts:?}");
    let req = r.body["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "migrate")
        .unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .nova(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/{req}"),
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.body["instanceAction"]["events"][0]["result"], "Error");
    assert!(r.body["instanceAction"]["events"][0]["traceback"]
        .as_str()
        .unwrap()
        .contains("No valid host found for cold migrate"));

    // Evacuate from a forced-down host: accepted (adminPass before 2.14), then the
    // rebuild finds no host and the server goes to ERROR.
    let r = h
        .nova_v(
            "2.11",
            Method::PUT,
            "/os-services/force-down",
            &h.admin,
            Some(json!({"host": "test-host", "binary": "nova-compute", "forced_down": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .nova_v(
            "2.13",
            Method::POST,
            &act,
            &h.admin,
            Some(json!({"evacuate": {"onSharedStorage": false}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["adminPass"].as_str().unwrap().len(), 12);
    h.wait_status(t, &id, "ERROR").await;
    let r = h
        .nova_v(
            "2.23",
            Method::GET,
            "/os-migrations?migration_type=evacuation",
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.body["migrations"][0]["status"], "error");

    // ---- instance actions of a deleted server (2.21) ----
    let r = h
        .nova(Method::DELETE, &format!("/servers/{id}"), t, None)
        .await;
    assert_eq!(r.status, 204);
    h.wait_gone(t, &id).await;
    let path = format!("/servers/{id}/os-instance-actions");
    let r = h.nova_v("2.20", Method::GET, &path, t, None).await;
    assert_eq!(r.status, 404);
    let r = h.nova_v("2.21", Method::GET, &path, t, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["instanceActions"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn device_tags_by_microversion() {
    let h = harness().await;
    let p = h.project("tags").await;
    let img = h.image("img").await;
    let fl = h.flavor("97", 1, 64, 1).await;
    let body = |tag: &str| {
        json!({"server": {"name": "t", "imageRef": img, "flavorRef": fl,
            "networks": [{"uuid": p.network, "tag": tag}]}})
    };
    for (v, want) in [("2.31", 400), ("2.37", 400), ("2.41", 400)] {
        let r = h
            .nova_v(v, Method::POST, "/servers", &p.token, Some(body("nic1")))
            .await;
        assert_eq!(r.status, want, "{v}: {}", r.body);
    }
    let r = h
        .nova_v(
            "2.32",
            Method::POST,
            "/servers",
            &p.token,
            Some(body("a/b")),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .nova_v(
            "2.32",
            Method::POST,
            "/servers",
            &p.token,
            Some(body("nic1")),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(&p.token, &id, "ACTIVE").await;
    let mut c = h.compute.conn().await.unwrap();
    let i = store::get_instance(&mut c, &id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i.nics[0].tag.as_deref(), Some("nic1"));
}
