//! Versions, microversion negotiation, extensions, availability zones, limits, quotas,
//! services, hosts, pools, capabilities, QoS specs and messages.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn versions_and_microversions() {
    let api = api().await;
    let r = api.req("GET", "/", None, None, None).await;
    assert_eq!(r.status, 300);
    let v = &r.body["versions"][0];
    check_keys(
        v,
        &[
            "status",
            "updated",
            "id",
            "links",
            "min_version",
            "version",
            "media-types",
        ],
        &[],
    );
    assert_eq!(v["min_version"], "3.0");
    let adv = rustack_block_api::microversion::advertised_max_minor();
    assert_eq!(v["version"], format!("3.{adv}"));
    assert!(v["links"]
        .as_array()
        .expect("links")
        .iter()
        .any(|l| l["href"] == "http://block.test:8776/v3/"));
    let r = api.req("GET", "/v3/", None, None, None).await;
    assert_eq!(r.status, 200);
    // Negotiation: absent = 3.0, latest, bad, too new.
    let r = api
        .req("GET", "/v3/volumes", Some("member"), None, None)
        .await;
    assert_eq!(r.headers["openstack-api-version"], "volume 3.0");
    assert_eq!(r.headers["vary"], "OpenStack-API-Version");
    let r = api
        .req("GET", "/v3/volumes", Some("member"), Some("latest"), None)
        .await;
    assert_eq!(r.headers["openstack-api-version"], "volume 3.71");
    let r = api
        .req("GET", "/v3/volumes", Some("member"), Some("3.x"), None)
        .await;
    assert_eq!(r.status, 400);
    let r = api
        .req("GET", "/v3/volumes", Some("member"), Some("3.72"), None)
        .await;
    assert_eq!(r.status, 406);
    assert_eq!(r.headers["openstack-api-version"], "volume 3.0");
    let r = api
        .req("GET", "/v3/volumes", Some("member"), Some("4.0"), None)
        .await;
    assert_eq!(r.status, 406);
    // Errors carry the version header too.
    let r = api
        .req("GET", "/v3/volumes/x", Some("member"), Some("3.50"), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.headers["openstack-api-version"], "volume 3.50");
    assert_eq!(r.body["itemNotFound"]["code"], 404);
}

#[tokio::test]
async fn extensions_zones_limits() {
    let api = api().await;
    let r = api.get("/v3/extensions", "member").await;
    let exts = r.body["extensions"].as_array().expect("l");
    assert!(exts.iter().any(|e| e["name"] == "Hosts"));
    for e in exts {
        check_keys(
            e,
            &["updated", "links", "alias", "name", "description"],
            &["namespace"],
        );
    }
    let r = api
        .get(&format!("/v3/{P1}/os-availability-zone"), "member")
        .await;
    assert_eq!(
        r.body,
        json!({"availabilityZoneInfo": [{"zoneName": "nova", "zoneState": {"available": true}}]})
    );
    api.volume("member", json!({"size": 2})).await;
    let r = api.get("/v3/limits", "member").await;
    let a = &r.body["limits"]["absolute"];
    assert_eq!(a["maxTotalVolumes"], 10);
    assert_eq!(a["totalVolumesUsed"], 1);
    assert_eq!(a["totalGigabytesUsed"], 2);
    assert_eq!(r.body["limits"]["rate"], json!([]));
}

#[tokio::test]
async fn quotas_show_update_usage_and_enforcement() {
    let api = api().await;
    let path = format!("/v3/os-quota-sets/{P1}");
    let r = api.get(&path, "member").await;
    assert_eq!(r.status, 200);
    let q = &r.body["quota_set"];
    assert_eq!(q["id"], P1);
    assert_eq!(q["volumes"], 10);
    assert_eq!(q["volumes___DEFAULT__"], -1);
    for k in [
        "volumes",
        "snapshots",
        "backups",
        "per_volume_gigabytes",
        "gigabytes",
        "backup_gigabytes",
        "groups",
    ] {
        assert!(q[k].is_i64(), "{k}");
    }
    // Members may not change quotas; admins may.
    assert_eq!(
        api.req(
            "PUT",
            &path,
            Some("member"),
            None,
            Some(json!({"quota_set": {"volumes": 1}}))
        )
        .await
        .status,
        403
    );
    let r = api
        .req(
            "PUT",
            &path,
            Some("admin"),
            None,
            Some(json!({"quota_set": {"volumes": 1, "gigabytes": 3}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["quota_set"]["volumes"], 1);
    assert_eq!(
        api.req(
            "PUT",
            &path,
            Some("admin"),
            None,
            Some(json!({"quota_set": {"bogus": 1}}))
        )
        .await
        .status,
        400
    );
    // Enforcement: the second volume is over quota (413 overLimit).
    api.volume("member", json!({"size": 1})).await;
    let r = api
        .post("/v3/volumes", "member", json!({"volume": {"size": 1}}))
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body["overLimit"]["message"]
        .as_str()
        .expect("m")
        .contains("VolumeLimitExceeded"));
    // Usage view.
    let r = api.get(&format!("{path}?usage=true"), "member").await;
    assert_eq!(
        r.body["quota_set"]["volumes"],
        json!({"limit": 1, "in_use": 1, "reserved": 0, "allocated": 0})
    );
    // Lowering below usage is refused; gigabytes limit applies to extend.
    assert_eq!(
        api.req(
            "PUT",
            &path,
            Some("admin"),
            None,
            Some(json!({"quota_set": {"volumes": 0}}))
        )
        .await
        .status,
        400
    );
    let vid = api.get("/v3/volumes", "member").await.body["volumes"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .post(
            &format!("/v3/volumes/{vid}/action"),
            "member",
            json!({"os-extend": {"new_size": 4}}),
        )
        .await;
    assert_eq!(r.status, 413);
    // Defaults and delete.
    let r = api.get(&format!("{path}/defaults"), "member").await;
    assert_eq!(r.body["quota_set"]["volumes"], 10, "{}", r.body);
    assert_eq!(
        api.req("DELETE", &path, Some("admin"), None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&path, "member").await.body["quota_set"]["volumes"],
        10
    );
    // Other projects' quotas are not a member's to read.
    assert_eq!(
        api.get(&format!("/v3/os-quota-sets/{P2}"), "member")
            .await
            .status,
        403
    );
    // Quota classes.
    let r = api
        .req(
            "PUT",
            "/v3/os-quota-class-sets/default",
            Some("admin"),
            None,
            Some(json!({"quota_class_set": {"snapshots": 5}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        api.get("/v3/os-quota-class-sets/default", "admin")
            .await
            .body["quota_class_set"]["snapshots"],
        5
    );
    assert_eq!(
        api.get(&path, "member").await.body["quota_set"]["snapshots"],
        5
    );
}

#[tokio::test]
async fn services_hosts_pools_capabilities() {
    let api = api().await;
    assert_eq!(api.get("/v3/os-services", "member").await.status, 403);
    let r = api
        .req("GET", "/v3/os-services", Some("admin"), None, None)
        .await;
    let s = r.body["services"].as_array().expect("l");
    assert_eq!(s.len(), 2);
    let vol = s
        .iter()
        .find(|x| x["binary"] == "cinder-volume")
        .expect("volume service");
    assert_eq!(vol["host"], "testhost@file");
    assert_eq!(vol["state"], "up");
    assert_eq!(vol["status"], "enabled");
    for x in s {
        check_keys(
            x,
            &[
                "binary",
                "disabled_reason",
                "host",
                "state",
                "status",
                "updated_at",
                "zone",
            ],
            &[
                "frozen",
                "replication_status",
                "active_backend_id",
                "backend_state",
            ],
        );
    }
    let r = api.req("PUT", "/v3/os-services/disable-log-reason", Some("admin"), None, Some(json!({"host": "testhost@file", "binary": "cinder-volume", "disabled_reason": "maint"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "disabled");
    assert_eq!(r.body["disabled_reason"], "maint");
    let r = api
        .req(
            "PUT",
            "/v3/os-services/enable",
            Some("admin"),
            None,
            Some(json!({"host": "testhost@file", "binary": "cinder-volume"})),
        )
        .await;
    assert_eq!(r.body["status"], "enabled");
    assert_eq!(
        api.req(
            "PUT",
            "/v3/os-services/freeze",
            Some("admin"),
            None,
            Some(json!({"host": "testhost@file"}))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.req(
            "PUT",
            "/v3/os-services/enable",
            Some("admin"),
            None,
            Some(json!({"host": "nohost", "binary": "cinder-volume"}))
        )
        .await
        .status,
        404
    );
    let r = api.get("/v3/os-hosts", "admin").await;
    assert_eq!(r.body["hosts"].as_array().expect("l").len(), 2);
    assert_eq!(r.body["hosts"][0]["service-status"], "available");
    assert_eq!(r.body["hosts"][0]["service-state"], "enabled");
    // Freeze/thaw of an unknown host is a 400 (enable of one a 404).
    let r = api
        .req(
            "PUT",
            "/v3/os-services/freeze",
            Some("admin"),
            None,
            Some(json!({"host": "invalid_host"})),
        )
        .await;
    assert_eq!(r.status, 400);
    api.volume("member", json!({"size": 2})).await;
    let r = api.get("/v3/os-hosts/testhost@file", "admin").await;
    assert_eq!(r.body["host"][0]["resource"]["total_volume_gb"], "2");
    let r = api
        .get("/v3/scheduler-stats/get_pools?detail=true", "admin")
        .await;
    assert_eq!(r.body["pools"][0]["name"], "testhost@file#file");
    assert_eq!(
        r.body["pools"][0]["capabilities"]["volume_backend_name"],
        "file"
    );
    assert_eq!(
        api.get("/v3/scheduler-stats/get_pools", "member")
            .await
            .status,
        403
    );
    let r = api.get("/v3/capabilities/testhost@file", "admin").await;
    assert_eq!(r.status, 200, "{}", r.body);
    check_keys(
        &r.body,
        &[
            "pool_name",
            "volume_backend_name",
            "namespace",
            "visibility",
            "driver_version",
            "vendor_name",
            "properties",
            "storage_protocol",
            "replication_targets",
            "display_name",
            "description",
        ],
        &[],
    );
}

#[tokio::test]
async fn qos_specs_are_stored_and_associated() {
    let api = api().await;
    let r = api
        .post(
            "/v3/qos-specs",
            "admin",
            json!({"qos_specs": {"name": "q1", "consumer": "front-end", "read_iops_sec": "100"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let qid = r.body["qos_specs"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        r.body["qos_specs"]["specs"],
        json!({"read_iops_sec": "100"})
    );
    assert_eq!(
        api.post(
            "/v3/qos-specs",
            "admin",
            json!({"qos_specs": {"name": "q1"}})
        )
        .await
        .status,
        409
    );
    let tid = api.get("/v3/types/default", "admin").await.body["volume_type"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        api.get(
            &format!("/v3/qos-specs/{qid}/associate?vol_type_id={tid}"),
            "admin"
        )
        .await
        .status,
        202
    );
    let r = api
        .get(&format!("/v3/qos-specs/{qid}/associations"), "admin")
        .await;
    assert_eq!(r.body["qos_associations"][0]["id"], tid);
    assert_eq!(
        api.get(&format!("/v3/types/{tid}"), "admin").await.body["volume_type"]["qos_specs_id"],
        qid
    );
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/qos-specs/{qid}"),
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        400
    );
    assert_eq!(
        api.get(&format!("/v3/qos-specs/{qid}/disassociate_all"), "admin")
            .await
            .status,
        202
    );
    assert_eq!(
        api.req(
            "PUT",
            &format!("/v3/qos-specs/{qid}/delete_keys"),
            Some("admin"),
            None,
            Some(json!({"keys": ["read_iops_sec"]}))
        )
        .await
        .status,
        202
    );
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v3/qos-specs/{qid}"),
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        202
    );
    assert_eq!(
        api.get("/v3/qos-specs", "admin").await.body["qos_specs"],
        json!([])
    );
    assert_eq!(api.get("/v3/qos-specs", "member").await.status, 403);
}
