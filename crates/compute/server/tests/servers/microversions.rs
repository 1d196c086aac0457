//! The servers changes of microversions 2.44-2.80, each at its boundary (N-1 vs N):
//! deprecated floating/fixed IP actions (2.44), tags at create (2.52), key pair and user
//! data on rebuild (2.54/2.57), instance-action paging and event hosts (2.58/2.62/2.84),
//! migrations paging and owners (2.59/2.80), trusted image certificates (2.63), the
//! requested destination at create (2.74), query parameters refused (2.75) and the
//! topology API (2.78).

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::harness;

fn ids(v: &Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn server_microversions_44_to_80() {
    let h = harness().await;
    let p = h.project("mv").await;
    let t = p.token.as_str();
    let img = h.image("mv-img").await;
    let fl = h.flavor("97", 1, 64, 1).await;

    // The advertised maximum covers every version up to 2.79.
    let r = h.nova_v("latest", Method::GET, "/flavors", t, None).await;
    let max = r.headers["openstack-api-version"]
        .to_str()
        .unwrap()
        .trim_start_matches("compute 2.")
        .parse::<u32>()
        .unwrap();
    assert!(max >= 79, "advertised 2.{max}");
    // Serve up to 2.84 (event details) even if the advertised maximum is lower.
    h.compute.serve_microversions_up_to_for_tests(84);

    // ---- 2.52: tags at create ----
    let body = |v: &str| {
        json!({"server": {"name": format!("tagged-{v}"), "imageRef": img, "flavorRef": fl,
            "networks": [{"uuid": p.network}], "tags": ["a", "b"]}})
    };
    let r = h
        .nova_v("2.51", Method::POST, "/servers", t, Some(body("51")))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v("2.52", Method::POST, "/servers", t, Some(body("52")))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["server"]["id"].as_str().unwrap().to_string();
    h.wait_status(t, &id, "ACTIVE").await;
    let r = h
        .nova_v("2.52", Method::GET, &format!("/servers/{id}"), t, None)
        .await;
    assert_eq!(r.body["server"]["tags"], json!(["a", "b"]));
    let act = format!("/servers/{id}/action");

    // ---- 2.44: the floating/fixed IP actions are gone ----
    let r = h
        .nova_v(
            "2.44",
            Method::POST,
            &act,
            t,
            Some(json!({"addFloatingIp": {"address": "172.24.4.10"}})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);

    // ---- 2.54 key_name and 2.57 user_data on rebuild ----
    let r = h
        .nova(
            Method::POST,
            "/os-keypairs",
            t,
            Some(json!({"keypair": {"name": "mvkey"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rebuild = |extra: Value| {
        let mut b = json!({"imageRef": img});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        json!({ "rebuild": b })
    };
    let r = h
        .nova_v(
            "2.53",
            Method::POST,
            &act,
            t,
            Some(rebuild(json!({"key_name": "mvkey"}))),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.56",
            Method::POST,
            &act,
            t,
            Some(rebuild(json!({"user_data": "aGk="}))),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.57",
            Method::POST,
            &act,
            t,
            Some(rebuild(json!({"user_data": "not base64!"}))),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.57",
            Method::POST,
            &act,
            t,
            Some(rebuild(json!({"personality": []}))),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.57",
            Method::POST,
            &act,
            t,
            Some(rebuild(json!({"key_name": "mvkey", "user_data": "aGk="}))),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["server"]["key_name"], "mvkey");
    h.wait_status(t, &id, "ACTIVE").await;
    let r = h
        .nova_v(
            "2.57",
            Method::GET,
            &format!("/servers/{id}"),
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.body["server"]["OS-EXT-SRV-ATTR:user_data"], "aGk=");
    let r = h
        .nova_v(
            "2.57",
            Method::POST,
            &act,
            t,
            Some(rebuild(json!({"key_name": null}))),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["server"]["key_name"], Value::Null);
    h.wait_status(t, &id, "ACTIVE").await;

    // ---- 2.63: trusted image certificates ----
    let certs = |v: &str, c: Value| {
        json!({"rebuild": {"imageRef": img, "name": format!("certs-{v}"),
            "trusted_image_certificates": c}})
    };
    let r = h
        .nova_v(
            "2.62",
            Method::POST,
            &act,
            t,
            Some(certs("62", json!(["c1"]))),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    for bad in [json!([]), json!(["c1", "c1"]), json!([""]), json!("c1")] {
        let r = h
            .nova_v(
                "2.63",
                Method::POST,
                &act,
                t,
                Some(certs("63", bad.clone())),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = h
        .nova_v(
            "2.63",
            Method::POST,
            &act,
            t,
            Some(certs("63", json!(["c1", "c2"]))),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        r.body["server"]["trusted_image_certificates"],
        json!(["c1", "c2"])
    );
    h.wait_status(t, &id, "ACTIVE").await;
    let r = h
        .nova_v("2.62", Method::GET, &format!("/servers/{id}"), t, None)
        .await;
    assert!(r.body["server"].get("trusted_image_certificates").is_none());
    let r = h
        .nova_v("2.63", Method::GET, &format!("/servers/{id}"), t, None)
        .await;
    assert_eq!(
        r.body["server"]["trusted_image_certificates"],
        json!(["c1", "c2"])
    );
    let r = h
        .nova_v(
            "2.63",
            Method::POST,
            &act,
            t,
            Some(certs("63", Value::Null)),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["server"]["trusted_image_certificates"], Value::Null);
    h.wait_status(t, &id, "ACTIVE").await;
    let mut create = body("63");
    create["server"]["trusted_image_certificates"] = json!(["c3"]);
    let r = h
        .nova_v("2.62", Method::POST, "/servers", t, Some(create.clone()))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // ---- 2.58: instance actions paged, with updated_at ----
    let acts = format!("/servers/{id}/os-instance-actions");
    let r = h.nova_v("2.57", Method::GET, &acts, t, None).await;
    assert_eq!(r.status, 200);
    let all = ids(&r.body, "instanceActions", "request_id");
    assert!(all.len() >= 4, "{}", r.body);
    assert!(r.body["instanceActions"][0].get("updated_at").is_none());
    // Before 2.58 the paging parameters are ignored.
    let r = h
        .nova_v(
            "2.57",
            Method::GET,
            &format!("{acts}?limit=1&bogus=1"),
            t,
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "instanceActions", "request_id"), all);
    let r = h
        .nova_v("2.58", Method::GET, &format!("{acts}?limit=2"), t, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ids(&r.body, "instanceActions", "request_id"), all[..2]);
    assert!(r.body["instanceActions"][0]["updated_at"].is_string());
    let next = r.body["links"][0]["href"].as_str().unwrap();
    assert!(
        next.ends_with(&format!("os-instance-actions?limit=2&marker={}", all[1])),
        "{next}"
    );
    let r = h
        .nova_v(
            "2.58",
            Method::GET,
            &format!("{acts}?marker={}", all[1]),
            t,
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "instanceActions", "request_id"), all[2..]);
    assert!(r.body.get("links").is_none());
    for q in [
        "marker=nope",
        "bogus=1",
        "limit=-1",
        "changes-since=junk",
        "changes-before=2020-01-01T00:00:00Z",
    ] {
        let r = h
            .nova_v("2.58", Method::GET, &format!("{acts}?{q}"), t, None)
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let r = h
        .nova_v(
            "2.58",
            Method::GET,
            &format!("{acts}?changes-since=2999-01-01T00:00:00Z"),
            t,
            None,
        )
        .await;
    assert_eq!(r.body["instanceActions"], json!([]));
    let r = h
        .nova_v(
            "2.66",
            Method::GET,
            &format!("{acts}?changes-before=2000-01-01T00:00:00Z"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["instanceActions"], json!([]));

    // ---- 2.62: event host (admin) and hostId (everyone); 2.84 details ----
    let one = format!("{acts}/{}", all[0]);
    let r = h.nova_v("2.61", Method::GET, &one, &h.admin, None).await;
    let ev = &r.body["instanceAction"]["events"][0];
    assert!(
        ev.get("host").is_none() && ev.get("hostId").is_none(),
        "{ev}"
    );
    let r = h.nova_v("2.62", Method::GET, &one, &h.admin, None).await;
    let ev = &r.body["instanceAction"]["events"][0];
    assert_eq!(ev["host"], "test-host", "{ev}");
    assert_eq!(ev["hostId"].as_str().unwrap().len(), 56);
    assert!(ev.get("details").is_none());
    let r = h.nova_v("2.62", Method::GET, &one, t, None).await;
    let ev = &r.body["instanceAction"]["events"][0];
    assert!(ev.get("host").is_none(), "{ev}");
    assert_eq!(ev["hostId"].as_str().unwrap().len(), 56);
    let r = h.nova_v("2.84", Method::GET, &one, &h.admin, None).await;
    assert!(r.body["instanceAction"]["events"][0]
        .get("details")
        .is_some());

    // ---- 2.59/2.80: migrations paged by uuid, with owners ----
    for _ in 0..2 {
        let r = h
            .nova(Method::POST, &act, &h.admin, Some(json!({"migrate": null})))
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let r = h
        .nova_v(
            "2.58",
            Method::GET,
            "/os-migrations?limit=1",
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["migrations"].as_array().unwrap().len(), 2);
    assert!(r.body["migrations"][0].get("uuid").is_none());
    let r = h
        .nova_v(
            "2.59",
            Method::GET,
            "/os-migrations?limit=1",
            &h.admin,
            None,
        )
        .await;
    let first = ids(&r.body, "migrations", "uuid");
    assert_eq!(first.len(), 1);
    assert!(r.body["migrations_links"][0]["href"]
        .as_str()
        .unwrap()
        .contains(&format!("marker={}", first[0])));
    assert!(r.body["migrations"][0].get("user_id").is_none());
    let r = h
        .nova_v(
            "2.59",
            Method::GET,
            &format!("/os-migrations?marker={}", first[0]),
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.body["migrations"].as_array().unwrap().len(), 1);
    assert_ne!(ids(&r.body, "migrations", "uuid"), first);
    for q in ["marker=nope", "bogus=1", "user_id=x"] {
        let r = h
            .nova_v(
                "2.59",
                Method::GET,
                &format!("/os-migrations?{q}"),
                &h.admin,
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
    }
    let r = h
        .nova_v(
            "2.80",
            Method::GET,
            &format!("/os-migrations?project_id={}", p.id),
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["migrations"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["migrations"][0]["project_id"], p.id.as_str());
    let r = h
        .nova_v(
            "2.80",
            Method::GET,
            "/os-migrations?user_id=someone-else",
            &h.admin,
            None,
        )
        .await;
    assert_eq!(r.body["migrations"], json!([]));

    // ---- 2.74: requested destination, validated ----
    let mut dest = body("74");
    dest["server"]["host"] = json!("no-such-host");
    let r = h
        .nova_v(
            "2.73",
            Method::POST,
            "/servers",
            &h.admin,
            Some(dest.clone()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v(
            "2.74",
            Method::POST,
            "/servers",
            &h.admin,
            Some(dest.clone()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        r.body["badRequest"]["message"],
        "Compute host no-such-host could not be found."
    );
    dest["server"]["host"] = json!("test-host");
    dest["server"]["availability_zone"] = json!("nova:test-host");
    let r = h
        .nova_v(
            "2.74",
            Method::POST,
            "/servers",
            &h.admin,
            Some(dest.clone()),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = h
        .nova_v("2.74", Method::POST, "/servers", t, Some(dest.clone()))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // ---- 2.75: unknown query parameters refused ----
    for path in ["/flavors?foo=1", "/os-keypairs?foo=1", "/limits?foo=1"] {
        let r = h.nova_v("2.74", Method::GET, path, t, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let r = h.nova_v("2.75", Method::GET, path, t, None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }

    // ---- 2.81: image precache by aggregate ----
    let r = h
        .nova(
            Method::POST,
            "/os-aggregates",
            &h.admin,
            Some(json!({"aggregate": {"name": "precache"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let agg = r.body["aggregate"]["id"].as_i64().unwrap();
    let r = h
        .nova(
            Method::POST,
            &format!("/os-aggregates/{agg}/action"),
            &h.admin,
            Some(json!({"add_host": {"host": "test-host"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let img2 = h.image("mv-precache").await;
    let cached = h.state_dir().join("images").join(&img2);
    assert!(!cached.exists());
    let images = format!("/os-aggregates/{agg}/images");
    let req = json!({"cache": [{"id": img2}]});
    let r = h
        .nova_v("2.80", Method::POST, &images, &h.admin, Some(req.clone()))
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .nova_v("2.81", Method::POST, &images, t, Some(req.clone()))
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    for bad in [
        json!({"cache": []}),
        json!({"cache": [{"id": img2}, {"id": img2}]}),
        json!({"cache": [{"id": "x"}]}),
    ] {
        let r = h
            .nova_v("2.81", Method::POST, &images, &h.admin, Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = h
        .nova_v(
            "2.81",
            Method::POST,
            "/os-aggregates/99999/images",
            &h.admin,
            Some(req.clone()),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = h
        .nova_v("2.81", Method::POST, &images, &h.admin, Some(req))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cached.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "image never precached"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Resize counts the growth against the project's quota (403).
    let big = h.flavor("98", 1, 128, 1).await;
    let r = h
        .nova(
            Method::PUT,
            &format!("/os-quota-sets/{}", p.id),
            &h.admin,
            Some(json!({"quota_set": {"ram": 100}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .nova(
            Method::POST,
            &act,
            t,
            Some(json!({"resize": {"flavorRef": big}})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body["forbidden"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Quota exceeded for ram"));

    // ---- 2.78: topology ----
    let topo = format!("/servers/{id}/topology");
    let r = h.nova_v("2.77", Method::GET, &topo, t, None).await;
    assert_eq!(r.status, 404);
    let r = h.nova_v("2.78", Method::GET, &topo, t, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"nodes": [], "pagesize_kb": null}));
    let r = h
        .nova_v(
            "2.78",
            Method::GET,
            "/servers/00000000-0000-0000-0000-000000000000/topology",
            t,
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}
