//! The authorization matrix: every routed operation x persona (admin, member and
//! reader of the owning project, a member of another project, anonymous), with a
//! coverage check that fails when a route in `src/api/mod.rs` has no row here.
//!
//! Expectation letters for member, reader, other: `A` allowed (neither 401 nor 403),
//! `D` denied (403), `H` hidden (404: the caller may not learn it exists), `X` 403 or
//! 404. Admin is always allowed; anonymous always 401 (except the versions documents).

mod common;

use common::*;
use serde_json::{json, Value};

struct Op {
    method: &'static str,
    path: &'static str,
    body: Option<fn() -> Value>,
    expect: &'static str,
}

const fn op(
    method: &'static str,
    path: &'static str,
    body: Option<fn() -> Value>,
    expect: &'static str,
) -> Op {
    Op {
        method,
        path,
        body,
        expect,
    }
}

fn act(name: &'static str, arg: Value) -> Value {
    json!({ name: arg })
}

const OPS: &[Op] = &[
    op("GET", "/", None, "AAA"),
    op("GET", "/v3", None, "AAA"),
    op("GET", "/v3/", None, "AAA"),
    op("GET", "/v3/extensions", None, "AAA"),
    op("GET", "/v3/limits", None, "AAA"),
    op("GET", "/v3/os-availability-zone", None, "AAA"),
    op("GET", "/v3/volumes", None, "AAA"),
    op(
        "POST",
        "/v3/volumes",
        Some(|| json!({"volume": {"size": 1}})),
        "ADA",
    ),
    op("GET", "/v3/volumes/detail", None, "AAA"),
    op("GET", "/v3/volumes/summary", None, "AAA"),
    op("GET", "/v3/volumes/{vid}", None, "AAH"),
    op(
        "PUT",
        "/v3/volumes/{vid}",
        Some(|| json!({"volume": {"name": "n"}})),
        "ADH",
    ),
    op("DELETE", "/v3/volumes/{vid}", None, "ADH"),
    op(
        "POST",
        "/v3/volumes/{vid}/action",
        Some(|| act("os-extend", json!({"new_size": 2}))),
        "ADH",
    ),
    op(
        "POST",
        "/v3/volumes/{vid}/action#reset",
        Some(|| act("os-reset_status", json!({"status": "error"}))),
        "DDX",
    ),
    op(
        "POST",
        "/v3/volumes/{vid}/action#force_delete",
        Some(|| act("os-force_delete", json!({}))),
        "DDX",
    ),
    op(
        "POST",
        "/v3/volumes/{vid}/action#show_image_metadata",
        Some(|| act("os-show_image_metadata", Value::Null)),
        "AAH",
    ),
    op(
        "POST",
        "/v3/volumes/{vid}/action#readonly",
        Some(|| act("os-update_readonly_flag", json!({"readonly": true}))),
        "ADH",
    ),
    op("GET", "/v3/volumes/{vid}/encryption", None, "AAH"),
    op("GET", "/v3/volumes/{vid}/encryption/{key}", None, "AAH"),
    op("GET", "/v3/volumes/{vid}/metadata", None, "AAH"),
    op(
        "POST",
        "/v3/volumes/{vid}/metadata",
        Some(|| json!({"metadata": {"a": "b"}})),
        "ADH",
    ),
    op(
        "PUT",
        "/v3/volumes/{vid}/metadata",
        Some(|| json!({"metadata": {"a": "b"}})),
        "ADH",
    ),
    op("GET", "/v3/volumes/{vid}/metadata/{key}", None, "AAH"),
    op(
        "PUT",
        "/v3/volumes/{vid}/metadata/{key}",
        Some(|| json!({"meta": {"key": "v"}})),
        "ADH",
    ),
    op("DELETE", "/v3/volumes/{vid}/metadata/{key}", None, "ADH"),
    op("GET", "/v3/attachments", None, "AAA"),
    op(
        "POST",
        "/v3/attachments",
        Some(|| json!({"attachment": {"volume_uuid": "{vid}"}})),
        "ADH",
    ),
    op("GET", "/v3/attachments/detail", None, "AAA"),
    op("GET", "/v3/attachments/{aid}", None, "AAH"),
    op(
        "PUT",
        "/v3/attachments/{aid}",
        Some(|| json!({"attachment": {"connector": {"host": "h"}}})),
        "ADH",
    ),
    op("DELETE", "/v3/attachments/{aid}", None, "ADH"),
    op(
        "POST",
        "/v3/attachments/{aid}/action",
        Some(|| json!({"os-complete": null})),
        "ADH",
    ),
    op("GET", "/v3/snapshots", None, "AAA"),
    op(
        "POST",
        "/v3/snapshots",
        Some(|| json!({"snapshot": {"volume_id": "{vid}"}})),
        "ADH",
    ),
    op("GET", "/v3/snapshots/detail", None, "AAA"),
    op("GET", "/v3/snapshots/{sid}", None, "AAH"),
    op(
        "PUT",
        "/v3/snapshots/{sid}",
        Some(|| json!({"snapshot": {"name": "n"}})),
        "ADH",
    ),
    op("DELETE", "/v3/snapshots/{sid}", None, "ADH"),
    op(
        "POST",
        "/v3/snapshots/{sid}/action",
        Some(|| act("os-reset_status", json!({"status": "error"}))),
        "DDX",
    ),
    op("GET", "/v3/snapshots/{sid}/metadata", None, "AAH"),
    op(
        "POST",
        "/v3/snapshots/{sid}/metadata",
        Some(|| json!({"metadata": {"a": "b"}})),
        "ADH",
    ),
    op(
        "PUT",
        "/v3/snapshots/{sid}/metadata",
        Some(|| json!({"metadata": {"a": "b"}})),
        "ADH",
    ),
    op("GET", "/v3/snapshots/{sid}/metadata/{key}", None, "AAH"),
    op(
        "PUT",
        "/v3/snapshots/{sid}/metadata/{key}",
        Some(|| json!({"meta": {"key": "v"}})),
        "ADH",
    ),
    op("DELETE", "/v3/snapshots/{sid}/metadata/{key}", None, "ADH"),
    op("GET", "/v3/types", None, "AAA"),
    op(
        "POST",
        "/v3/types",
        Some(|| json!({"volume_type": {"name": "new"}})),
        "DDD",
    ),
    op("GET", "/v3/types/default", None, "AAA"),
    op("GET", "/v3/types/{tid}", None, "AAA"),
    op(
        "PUT",
        "/v3/types/{tid}",
        Some(|| json!({"volume_type": {"description": "d"}})),
        "DDD",
    ),
    op("DELETE", "/v3/types/{tid}", None, "DDD"),
    op(
        "POST",
        "/v3/types/{tid}/action",
        Some(|| act("addProjectAccess", json!({"project": "x"}))),
        "DDD",
    ),
    op("GET", "/v3/types/{tid}/os-volume-type-access", None, "DDD"),
    op("GET", "/v3/types/{tid}/extra_specs", None, "AAA"),
    op(
        "POST",
        "/v3/types/{tid}/extra_specs",
        Some(|| json!({"extra_specs": {"a": "b"}})),
        "DDD",
    ),
    op("GET", "/v3/types/{tid}/extra_specs/{key}", None, "AAA"),
    op(
        "PUT",
        "/v3/types/{tid}/extra_specs/{key}",
        Some(|| json!({"key": "v"})),
        "DDD",
    ),
    op("DELETE", "/v3/types/{tid}/extra_specs/{key}", None, "DDD"),
    op("GET", "/v3/types/{tid}/encryption", None, "DDD"),
    op(
        "POST",
        "/v3/types/{tid}/encryption",
        Some(|| json!({"encryption": {"provider": "luks"}})),
        "DDD",
    ),
    op("GET", "/v3/types/{tid}/encryption/{eid}", None, "DDD"),
    op(
        "PUT",
        "/v3/types/{tid}/encryption/{eid}",
        Some(|| json!({"encryption": {"key_size": 256}})),
        "DDD",
    ),
    op("DELETE", "/v3/types/{tid}/encryption/{eid}", None, "DDD"),
    op("GET", "/v3/os-volume-transfer", None, "AAA"),
    op(
        "POST",
        "/v3/os-volume-transfer",
        Some(|| json!({"transfer": {"volume_id": "{vid}"}})),
        "ADH",
    ),
    op("GET", "/v3/os-volume-transfer/detail", None, "AAA"),
    op("GET", "/v3/os-volume-transfer/{xid}", None, "AAH"),
    op("DELETE", "/v3/os-volume-transfer/{xid}", None, "ADH"),
    op(
        "POST",
        "/v3/os-volume-transfer/{xid}/accept",
        Some(|| json!({"accept": {"auth_key": "{xkey}"}})),
        "ADA",
    ),
    op("GET", "/v3/volume-transfers", None, "AAA"),
    op(
        "POST",
        "/v3/volume-transfers",
        Some(|| json!({"transfer": {"volume_id": "{vid}"}})),
        "ADH",
    ),
    op("GET", "/v3/volume-transfers/detail", None, "AAA"),
    op("GET", "/v3/volume-transfers/{xid}", None, "AAH"),
    op("DELETE", "/v3/volume-transfers/{xid}", None, "ADH"),
    op(
        "POST",
        "/v3/volume-transfers/{xid}/accept",
        Some(|| json!({"accept": {"auth_key": "{xkey}"}})),
        "ADA",
    ),
    op("GET", "/v3/backups", None, "AAA"),
    op(
        "POST",
        "/v3/backups",
        Some(|| json!({"backup": {"volume_id": "{vid}"}})),
        "ADH",
    ),
    op("GET", "/v3/backups/detail", None, "AAA"),
    op("GET", "/v3/backups/{bid}", None, "AAH"),
    op(
        "PUT",
        "/v3/backups/{bid}",
        Some(|| json!({"backup": {"name": "n"}})),
        "ADH",
    ),
    op("DELETE", "/v3/backups/{bid}", None, "ADH"),
    op(
        "POST",
        "/v3/backups/{bid}/action",
        Some(|| act("os-reset_status", json!({"status": "error"}))),
        "DDX",
    ),
    op(
        "POST",
        "/v3/backups/{bid}/restore",
        Some(|| json!({"restore": {}})),
        "ADH",
    ),
    op("GET", "/v3/default-types", None, "DDD"),
    op("GET", "/v3/default-types/{p1}", None, "DDD"),
    op(
        "PUT",
        "/v3/default-types/{p1}",
        Some(|| json!({"default_type": {"volume_type": "t"}})),
        "DDD",
    ),
    op("DELETE", "/v3/default-types/{p1}", None, "DDD"),
    op("GET", "/v3/qos-specs", None, "DDD"),
    op(
        "POST",
        "/v3/qos-specs",
        Some(|| json!({"qos_specs": {"name": "q2"}})),
        "DDD",
    ),
    op("GET", "/v3/qos-specs/{qid}", None, "DDD"),
    op(
        "PUT",
        "/v3/qos-specs/{qid}",
        Some(|| json!({"qos_specs": {"a": "b"}})),
        "DDD",
    ),
    op("DELETE", "/v3/qos-specs/{qid}", None, "DDD"),
    op("GET", "/v3/qos-specs/{qid}/associations", None, "DDD"),
    op("GET", "/v3/qos-specs/{qid}/associate", None, "DDD"),
    op("GET", "/v3/qos-specs/{qid}/disassociate", None, "DDD"),
    op("GET", "/v3/qos-specs/{qid}/disassociate_all", None, "DDD"),
    op(
        "PUT",
        "/v3/qos-specs/{qid}/delete_keys",
        Some(|| json!({"keys": []})),
        "DDD",
    ),
    op("GET", "/v3/os-quota-sets/{p1}", None, "AAD"),
    op(
        "PUT",
        "/v3/os-quota-sets/{p1}",
        Some(|| json!({"quota_set": {"volumes": 20}})),
        "DDD",
    ),
    op("DELETE", "/v3/os-quota-sets/{p1}", None, "DDD"),
    op("GET", "/v3/os-quota-sets/{p1}/defaults", None, "AAD"),
    op("GET", "/v3/os-quota-class-sets/{class}", None, "DDD"),
    op(
        "PUT",
        "/v3/os-quota-class-sets/{class}",
        Some(|| json!({"quota_class_set": {"volumes": 20}})),
        "DDD",
    ),
    op("GET", "/v3/os-services", None, "DDD"),
    op(
        "PUT",
        "/v3/os-services/{action}",
        Some(|| json!({"host": "testhost@file", "binary": "cinder-volume"})),
        "DDD",
    ),
    op("GET", "/v3/os-hosts", None, "DDD"),
    op("GET", "/v3/os-hosts/{host}", None, "DDD"),
    op("GET", "/v3/scheduler-stats/get_pools", None, "DDD"),
    op("GET", "/v3/capabilities/{host}", None, "DDD"),
    op("GET", "/v3/messages", None, "AAA"),
    op("GET", "/v3/messages/{mid}", None, "AAH"),
    op("DELETE", "/v3/messages/{mid}", None, "ADH"),
    op("GET", "/v3/clusters", None, "DDD"),
    op("GET", "/v3/clusters/detail", None, "DDD"),
    op("GET", "/v3/resource_filters", None, "AAA"),
];

struct Fixture {
    api: Api,
    subst: Vec<(&'static str, String)>,
}

async fn fixture() -> Fixture {
    let api = api().await;
    let vid = api
        .volume("member", json!({"size": 1, "metadata": {"key": "v"}}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .post(
            "/v3/snapshots",
            "member",
            json!({"snapshot": {"volume_id": vid, "metadata": {"key": "v"}}}),
        )
        .await;
    let sid = r.body["snapshot"]["id"].as_str().expect("sid").to_string();
    api.wait_snapshot("member", &sid, |s| s == "available")
        .await;
    let vid2 = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .post(
            "/v3/attachments",
            "member",
            json!({"attachment": {"volume_uuid": vid2, "connector": {"host": "h"}}}),
        )
        .await;
    let aid = r.body["attachment"]["id"]
        .as_str()
        .expect("aid")
        .to_string();
    let r = api
        .post(
            "/v3/types",
            "admin",
            json!({"volume_type": {"name": "t", "extra_specs": {"key": "v"}}}),
        )
        .await;
    let tid = r.body["volume_type"]["id"]
        .as_str()
        .expect("tid")
        .to_string();
    let r = api
        .post(
            &format!("/v3/types/{tid}/encryption"),
            "admin",
            json!({"encryption": {"provider": "luks"}}),
        )
        .await;
    let eid = r.body["encryption"]["encryption_id"]
        .as_str()
        .expect("eid")
        .to_string();
    let r = api
        .post(
            "/v3/qos-specs",
            "admin",
            json!({"qos_specs": {"name": "q"}}),
        )
        .await;
    let qid = r.body["qos_specs"]["id"].as_str().expect("qid").to_string();
    // A message, from a failed create.
    api.backend
        .fail_create
        .store(true, std::sync::atomic::Ordering::SeqCst);
    api.volume("member", json!({"size": 1})).await;
    api.backend
        .fail_create
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let vid3 = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .post(
            "/v3/volume-transfers",
            "member",
            json!({"transfer": {"volume_id": vid3}}),
        )
        .await;
    let xid = r.body["transfer"]["id"].as_str().expect("xid").to_string();
    let xkey = r.body["transfer"]["auth_key"]
        .as_str()
        .expect("xkey")
        .to_string();
    let vid4 = api.volume("member", json!({"size": 1})).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = api
        .post(
            "/v3/backups",
            "member",
            json!({"backup": {"volume_id": vid4}}),
        )
        .await;
    let bid = r.body["backup"]["id"].as_str().expect("bid").to_string();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while api.get(&format!("/v3/backups/{bid}"), "member").await.body["backup"]["status"]
        != "available"
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "backup not available"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mid = api.get("/v3/messages", "member").await.body["messages"][0]["id"]
        .as_str()
        .expect("mid")
        .to_string();
    let subst = vec![
        ("{vid}", vid),
        ("{sid}", sid),
        ("{aid}", aid),
        ("{tid}", tid),
        ("{eid}", eid),
        ("{qid}", qid),
        ("{mid}", mid),
        ("{xid}", xid),
        ("{bid}", bid),
        ("{xkey}", xkey),
        ("{p1}", P1.to_string()),
        ("{key}", "key".to_string()),
        ("{class}", "default".to_string()),
        ("{action}", "enable".to_string()),
        ("{host}", "testhost@file".to_string()),
    ];
    Fixture { api, subst }
}

fn fill(s: &str, subst: &[(&'static str, String)]) -> String {
    let mut out = s.split('#').next().unwrap_or(s).to_string();
    for (k, v) in subst {
        out = out.replace(k, v);
    }
    out
}

#[tokio::test]
async fn authorization_matrix() {
    let mut failures = vec![];
    for o in OPS {
        let f = fixture().await;
        let path = fill(o.path, &f.subst);
        let body = o
            .body
            .map(|b| serde_json::from_str(&fill(&b().to_string(), &f.subst)).expect("json"));
        let public = matches!(o.path, "/" | "/v3" | "/v3/");
        let anon = f
            .api
            .req(o.method, &path, None, Some(LATEST), body.clone())
            .await;
        if !public && anon.status != 401 {
            failures.push(format!(
                "{} {}: anonymous got {}",
                o.method, o.path, anon.status
            ));
        }
        for (persona, want) in ["other", "reader", "member"].iter().zip([
            o.expect.as_bytes()[2],
            o.expect.as_bytes()[1],
            o.expect.as_bytes()[0],
        ]) {
            let r = f
                .api
                .req(o.method, &path, Some(persona), Some(LATEST), body.clone())
                .await;
            let ok = match want {
                b'A' => r.status != 401 && r.status != 403,
                b'D' => r.status == 403,
                b'H' => r.status == 404,
                b'X' => r.status == 403 || r.status == 404,
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{} {}: {persona} got {} {} (want {})",
                    o.method, o.path, r.status, r.body, want as char
                ));
            }
        }
        let r = f
            .api
            .req(o.method, &path, Some("admin"), Some(LATEST), body.clone())
            .await;
        if r.status == 401 || r.status == 403 {
            failures.push(format!("{} {}: admin got {}", o.method, o.path, r.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A path with every `{placeholder}` replaced by `{}`.
fn shape(p: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for ch in p.chars() {
        match ch {
            '{' => {
                skip = true;
                out.push_str("{}");
            }
            '}' => skip = false,
            c if !skip => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every `.route(...)` in the router has a matrix row for each of its methods.
#[test]
fn matrix_covers_every_route() {
    let src = include_str!("../src/api/mod.rs");
    let mut routes = vec![];
    for chunk in src.split(".route(").skip(1) {
        let Some(start) = chunk.find('"') else {
            continue;
        };
        let rest = &chunk[start + 1..];
        let Some(end) = rest.find('"') else { continue };
        let path = &rest[..end];
        let tail = &rest[end..];
        let tail = tail.split(".route(").next().unwrap_or(tail);
        let tail = tail.split(".fallback(").next().unwrap_or(tail);
        for (m, pat) in [
            ("GET", "get("),
            ("POST", "post("),
            ("PUT", "put("),
            ("DELETE", "delete("),
        ] {
            let found = tail.match_indices(pat).any(|(i, _)| {
                let before = tail[..i].chars().last();
                matches!(before, Some('.') | Some('(') | Some(' ') | Some('\n'))
                    && !tail[..i].ends_with("::")
            });
            if found {
                routes.push((m, path.to_string()));
            }
        }
    }
    assert!(routes.len() > 80, "parsed {} routes", routes.len());
    let mut missing = vec![];
    for (m, p) in &routes {
        if !OPS
            .iter()
            .any(|o| o.method == *m && shape(o.path.split('#').next().unwrap_or("")) == shape(p))
        {
            missing.push(format!("{m} {p}"));
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a matrix row:\n{}",
        missing.join("\n")
    );
}
