//! Authorization matrix: every operation of [`rustack_image_api::OPERATIONS`] × every
//! persona (admin, project member, project reader, a project the image is shared with
//! (pending), an unrelated project, a system-scoped admin, anonymous), each on a fresh
//! fixture: a `shared` image owned by alice's project with bob's project as a pending
//! member (metadefs: a private namespace owned by alice's project; tasks: an import
//! task of that image). A coverage check fails when an operation has no row.

mod common;

use std::collections::BTreeSet;

use common::*;
use reqwest::Method;
use serde_json::json;

const PERSONA_NAMES: [&str; 7] = [
    "admin",
    "alice",
    "alice-reader",
    "bob(member)",
    "carol",
    "system",
    "anonymous",
];
const TOKENS: [Option<&str>; 7] = [
    Some(ADMIN),
    Some(ALICE),
    Some(ALICE_READER),
    Some(BOB),
    Some(CAROL),
    Some(SYSTEM),
    None,
];

/// Expected status per persona, in `PERSONA_NAMES` order.
const MATRIX: &[(&str, [u16; 7])] = &[
    ("versions", [300, 300, 300, 300, 300, 300, 300]),
    ("versions_explicit", [200, 200, 200, 200, 200, 200, 200]),
    ("image_list", [200, 200, 200, 200, 200, 403, 401]),
    ("image_create", [201, 201, 403, 201, 201, 403, 401]),
    ("image_show", [200, 200, 200, 200, 404, 404, 401]),
    ("image_update", [200, 200, 403, 403, 404, 404, 401]),
    ("image_delete", [204, 204, 403, 403, 404, 404, 401]),
    ("image_upload", [204, 204, 403, 403, 404, 404, 401]),
    ("image_download", [200, 200, 403, 200, 404, 404, 401]),
    ("image_stage", [204, 204, 403, 403, 404, 404, 401]),
    ("image_import", [202, 202, 403, 403, 404, 404, 401]),
    ("image_tasks", [200, 200, 200, 200, 404, 404, 401]),
    ("image_deactivate", [204, 204, 403, 403, 404, 404, 401]),
    ("image_reactivate", [204, 204, 403, 403, 404, 404, 401]),
    ("tag_add", [204, 204, 403, 403, 404, 404, 401]),
    ("tag_delete", [204, 204, 403, 403, 404, 404, 401]),
    ("member_list", [200, 200, 200, 200, 404, 404, 401]),
    ("member_create", [200, 200, 403, 403, 404, 404, 401]),
    ("member_show", [200, 200, 200, 200, 404, 404, 401]),
    ("member_update", [200, 403, 403, 200, 404, 404, 401]),
    ("member_delete", [204, 204, 403, 403, 404, 404, 401]),
    ("schema_show", [200, 200, 200, 200, 200, 200, 401]),
    ("info_import", [200, 200, 200, 200, 200, 200, 401]),
    ("info_stores", [404, 404, 404, 404, 404, 404, 401]),
    ("info_usage", [200, 200, 200, 200, 200, 200, 401]),
    // Metadefs on a private namespace owned by alice's project (writes are admin-only),
    // tasks (admin-only).
    ("metadef_schema_show", [200, 200, 200, 200, 200, 200, 401]),
    ("task_list", [200, 403, 403, 403, 403, 403, 401]),
    ("task_create", [400, 403, 403, 403, 403, 403, 401]),
    ("task_show", [200, 403, 403, 403, 403, 403, 401]),
    ("resource_type_list", [200, 200, 200, 200, 200, 403, 401]),
    ("namespace_list", [200, 200, 200, 200, 200, 403, 401]),
    ("namespace_create", [201, 403, 403, 403, 403, 403, 401]),
    ("namespace_show", [200, 200, 200, 404, 404, 404, 401]),
    ("namespace_update", [200, 403, 403, 404, 404, 404, 401]),
    ("namespace_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("association_list", [200, 200, 200, 404, 404, 404, 401]),
    ("association_create", [201, 403, 403, 404, 404, 404, 401]),
    ("association_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("object_list", [200, 200, 200, 404, 404, 404, 401]),
    ("object_create", [201, 403, 403, 404, 404, 404, 401]),
    ("objects_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("object_show", [200, 200, 200, 404, 404, 404, 401]),
    ("object_update", [200, 403, 403, 404, 404, 404, 401]),
    ("object_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("property_list", [200, 200, 200, 404, 404, 404, 401]),
    ("property_create", [201, 403, 403, 404, 404, 404, 401]),
    ("properties_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("property_show", [200, 200, 200, 404, 404, 404, 401]),
    ("property_update", [200, 403, 403, 404, 404, 404, 401]),
    ("property_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("metadef_tag_list", [200, 200, 200, 404, 404, 404, 401]),
    ("metadef_tags_create", [201, 403, 403, 404, 404, 404, 401]),
    ("metadef_tags_delete", [204, 403, 403, 404, 404, 404, 401]),
    ("metadef_tag_create", [201, 403, 403, 404, 404, 404, 401]),
    ("metadef_tag_show", [200, 200, 200, 404, 404, 404, 401]),
    ("metadef_tag_update", [200, 403, 403, 404, 404, 404, 401]),
    ("metadef_tag_delete", [204, 403, 403, 404, 404, 404, 401]),
];

/// A private namespace owned by alice's project with one object (`o`), property
/// (`p`), tag (`t`) and association (`OS::Nova::Flavor`); returns its name.
async fn namespace_fixture(s: &Svc) -> String {
    let name = format!("ns-{}", rustack_common::new_uuid());
    let (st, v) = s
        .post(
            ADMIN,
            "/v2/metadefs/namespaces",
            json!({"namespace": name, "owner": P_A,
                "resource_type_associations": [{"name": "OS::Nova::Flavor"}],
                "objects": [{"name": "o"}],
                "properties": {"p": {"title": "P", "type": "string"}},
                "tags": [{"name": "t"}]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    name
}

/// A fresh fixture for `op`: the image id, prepared to the state the op needs (the
/// namespace name for metadef operations, a task id for `task_show`).
async fn fixture(s: &Svc, op: &str) -> String {
    let metadef = [
        "namespace_",
        "association_",
        "object",
        "propert",
        "metadef_tag",
    ];
    if metadef.iter().any(|p| op.starts_with(p)) && op != "namespace_list" {
        return namespace_fixture(s).await;
    }
    let id = s.create_raw(ALICE, json!({"tags": ["t"]})).await;
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{id}/members"),
            json!({"member": P_B})
        )
        .await
        .0,
        200
    );
    match op {
        "image_download" | "image_deactivate" | "image_reactivate" => {
            assert_eq!(s.upload(ALICE, &id, vec![1, 2, 3]).await, 204);
            if op == "image_reactivate" {
                assert_eq!(
                    s.post(
                        ALICE,
                        &format!("/v2/images/{id}/actions/deactivate"),
                        json!(null)
                    )
                    .await
                    .0,
                    204
                );
            }
        }
        "task_show" => {
            let r = s
                .req(Method::PUT, Some(ALICE), &format!("/v2/images/{id}/stage"))
                .header("content-type", "application/octet-stream")
                .body(vec![1u8; 10])
                .send()
                .await
                .expect("stage");
            assert_eq!(r.status().as_u16(), 204);
            let (st, _) = s
                .post(
                    ALICE,
                    &format!("/v2/images/{id}/import"),
                    json!({"method": {"name": "glance-direct"}}),
                )
                .await;
            assert_eq!(st, 202);
            let (_, v) = s.get(ALICE, &format!("/v2/images/{id}/tasks")).await;
            return v["tasks"][0]["id"].as_str().expect("task id").to_string();
        }
        "image_import" => {
            let r = s
                .req(Method::PUT, Some(ALICE), &format!("/v2/images/{id}/stage"))
                .header("content-type", "application/octet-stream")
                .body(vec![1u8; 10])
                .send()
                .await
                .expect("stage");
            assert_eq!(r.status().as_u16(), 204);
        }
        _ => {}
    }
    id
}

async fn call(s: &Svc, op: &str, token: Option<&str>, id: &str) -> u16 {
    let octet = |r: reqwest::RequestBuilder| {
        r.header("content-type", "application/octet-stream")
            .body(vec![7u8; 16])
    };
    let jsonb = |r: reqwest::RequestBuilder, v: serde_json::Value| {
        r.header("content-type", "application/json")
            .body(v.to_string())
    };
    let img = format!("/v2/images/{id}");
    let ns = format!("/v2/metadefs/namespaces/{id}");
    let r = match op {
        "versions" => s.req(Method::GET, token, "/"),
        "versions_explicit" => s.req(Method::GET, token, "/versions"),
        "image_list" => s.req(Method::GET, token, "/v2/images"),
        "image_create" => jsonb(
            s.req(Method::POST, token, "/v2/images"),
            json!({"name": "x"}),
        ),
        "image_show" => s.req(Method::GET, token, &img),
        "image_update" => s
            .req(Method::PATCH, token, &img)
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(json!([{"op": "replace", "path": "/name", "value": "y"}]).to_string()),
        "image_delete" => s.req(Method::DELETE, token, &img),
        "image_upload" => octet(s.req(Method::PUT, token, &format!("{img}/file"))),
        "image_download" => s.req(Method::GET, token, &format!("{img}/file")),
        "image_stage" => octet(s.req(Method::PUT, token, &format!("{img}/stage"))),
        "image_import" => jsonb(
            s.req(Method::POST, token, &format!("{img}/import")),
            json!({"method": {"name": "glance-direct"}}),
        ),
        "image_tasks" => s.req(Method::GET, token, &format!("{img}/tasks")),
        "image_deactivate" => s.req(Method::POST, token, &format!("{img}/actions/deactivate")),
        "image_reactivate" => s.req(Method::POST, token, &format!("{img}/actions/reactivate")),
        "tag_add" => s.req(Method::PUT, token, &format!("{img}/tags/new")),
        "tag_delete" => s.req(Method::DELETE, token, &format!("{img}/tags/t")),
        "member_list" => s.req(Method::GET, token, &format!("{img}/members")),
        "member_create" => jsonb(
            s.req(Method::POST, token, &format!("{img}/members")),
            json!({"member": P_C}),
        ),
        "member_show" => s.req(Method::GET, token, &format!("{img}/members/{P_B}")),
        "member_update" => jsonb(
            s.req(Method::PUT, token, &format!("{img}/members/{P_B}")),
            json!({"status": "accepted"}),
        ),
        "member_delete" => s.req(Method::DELETE, token, &format!("{img}/members/{P_B}")),
        "schema_show" => s.req(Method::GET, token, "/v2/schemas/image"),
        "info_import" => s.req(Method::GET, token, "/v2/info/import"),
        "info_stores" => s.req(Method::GET, token, "/v2/info/stores"),
        "info_usage" => s.req(Method::GET, token, "/v2/info/usage"),
        "metadef_schema_show" => s.req(Method::GET, token, "/v2/schemas/metadefs/namespace"),
        "task_list" => s.req(Method::GET, token, "/v2/tasks"),
        "task_create" => jsonb(
            s.req(Method::POST, token, "/v2/tasks"),
            json!({"type": "import", "input": {"import_from": "file:///etc/passwd",
                "import_from_format": "raw", "image_properties": {}}}),
        ),
        "task_show" => s.req(Method::GET, token, &format!("/v2/tasks/{id}")),
        "resource_type_list" => s.req(Method::GET, token, "/v2/metadefs/resource_types"),
        "namespace_list" => s.req(Method::GET, token, "/v2/metadefs/namespaces"),
        "namespace_create" => jsonb(
            s.req(Method::POST, token, "/v2/metadefs/namespaces"),
            json!({"namespace": format!("new-{id}")}),
        ),
        "namespace_show" => s.req(Method::GET, token, &ns),
        "namespace_update" => jsonb(
            s.req(Method::PUT, token, &ns),
            json!({"namespace": id, "description": "d"}),
        ),
        "namespace_delete" => s.req(Method::DELETE, token, &ns),
        "association_list" => s.req(Method::GET, token, &format!("{ns}/resource_types")),
        "association_create" => jsonb(
            s.req(Method::POST, token, &format!("{ns}/resource_types")),
            json!({"name": "OS::Glance::Image"}),
        ),
        "association_delete" => s.req(
            Method::DELETE,
            token,
            &format!("{ns}/resource_types/OS::Nova::Flavor"),
        ),
        "object_list" => s.req(Method::GET, token, &format!("{ns}/objects")),
        "object_create" => jsonb(
            s.req(Method::POST, token, &format!("{ns}/objects")),
            json!({"name": "o2"}),
        ),
        "objects_delete" => s.req(Method::DELETE, token, &format!("{ns}/objects")),
        "object_show" => s.req(Method::GET, token, &format!("{ns}/objects/o")),
        "object_update" => jsonb(
            s.req(Method::PUT, token, &format!("{ns}/objects/o")),
            json!({"name": "o"}),
        ),
        "object_delete" => s.req(Method::DELETE, token, &format!("{ns}/objects/o")),
        "property_list" => s.req(Method::GET, token, &format!("{ns}/properties")),
        "property_create" => jsonb(
            s.req(Method::POST, token, &format!("{ns}/properties")),
            json!({"name": "p2", "title": "P2", "type": "string"}),
        ),
        "properties_delete" => s.req(Method::DELETE, token, &format!("{ns}/properties")),
        "property_show" => s.req(Method::GET, token, &format!("{ns}/properties/p")),
        "property_update" => jsonb(
            s.req(Method::PUT, token, &format!("{ns}/properties/p")),
            json!({"name": "p", "title": "P", "type": "integer"}),
        ),
        "property_delete" => s.req(Method::DELETE, token, &format!("{ns}/properties/p")),
        "metadef_tag_list" => s.req(Method::GET, token, &format!("{ns}/tags")),
        "metadef_tags_create" => jsonb(
            s.req(Method::POST, token, &format!("{ns}/tags")),
            json!({"tags": [{"name": "a"}]}),
        ),
        "metadef_tags_delete" => s.req(Method::DELETE, token, &format!("{ns}/tags")),
        "metadef_tag_create" => s.req(Method::POST, token, &format!("{ns}/tags/new")),
        "metadef_tag_show" => s.req(Method::GET, token, &format!("{ns}/tags/t")),
        "metadef_tag_update" => jsonb(
            s.req(Method::PUT, token, &format!("{ns}/tags/t")),
            json!({"name": "t2"}),
        ),
        "metadef_tag_delete" => s.req(Method::DELETE, token, &format!("{ns}/tags/t")),
        other => panic!("no request for operation {other}"),
    };
    send(r).await.0
}

#[test]
fn every_operation_has_a_matrix_row() {
    let ops: BTreeSet<&str> = rustack_image_api::OPERATIONS
        .iter()
        .map(|o| o.name)
        .collect();
    let rows: BTreeSet<&str> = MATRIX.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        ops, rows,
        "operations without a matrix row (or rows without an operation)"
    );
    for o in rustack_image_api::OPERATIONS {
        if let Some(rule) = o.rule {
            assert!(
                rustack_policy::defaults::image()
                    .iter()
                    .any(|d| d.name == rule),
                "{} names unknown rule {rule}",
                o.name
            );
        }
    }
}

#[tokio::test]
async fn authorization_matrix() {
    let s = start().await;
    let mut failures = vec![];
    for (op, want) in MATRIX {
        for (n, token) in TOKENS.iter().enumerate() {
            let id = fixture(&s, op).await;
            let got = call(&s, op, *token, &id).await;
            if got != want[n] {
                failures.push(format!(
                    "{op} as {}: got {got}, want {}",
                    PERSONA_NAMES[n], want[n]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}
