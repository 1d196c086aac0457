//! Secret consumers and the 1.2 delete rule, containers, orders, ACLs and quotas.

mod common;

use common::{api, desc, href, id_of, Req};
use serde_json::json;

#[tokio::test]
async fn consumers_block_delete_from_1_2_unless_forced() {
    let a = api().await;
    let id = a.secret("member", "vol-key", "k").await;
    let cpath = format!("/v1/secrets/{id}/consumers");
    let consumer = json!({"service": "volume", "resource_type": "volume", "resource_id": "v1"});
    let r = a
        .send(
            Req::new("POST", &cpath, "member")
                .version("1.1")
                .json(consumer.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["consumers"], json!([consumer]));
    // Registering again is idempotent.
    let r = a
        .send(
            Req::new("POST", &cpath, "member")
                .version("1.1")
                .json(consumer.clone()),
        )
        .await;
    assert_eq!(r.body["consumers"].as_array().expect("list").len(), 1);
    let r = a
        .send(Req::new("GET", &cpath, "member").version("1.1"))
        .await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["consumers"][0]["resource_id"], "v1");
    let path = format!("/v1/secrets/{id}");
    let r = a
        .send(Req::new("DELETE", &path, "member").version("1.2"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        desc(&r),
        "Secret deletion issue seen - Secret cannot be deleted as it has consumers.."
    );
    let r = a
        .send(Req::new("DELETE", &format!("{path}?force=maybe"), "member").version("1.2"))
        .await;
    assert_eq!(r.status, 400);
    // Removing an unknown consumer is a 404; removing the real one frees the secret.
    let r = a
        .send(
            Req::new("DELETE", &cpath, "member").version("1.1").json(
                json!({"service": "volume", "resource_type": "volume", "resource_id": "nope"}),
            ),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Consumer not found.");
    let r = a
        .send(
            Req::new("DELETE", &cpath, "member")
                .version("1.1")
                .json(consumer.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["consumers"], json!([]));
    let r = a
        .send(
            Req::new("POST", &cpath, "member")
                .version("1.1")
                .json(consumer.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .send(Req::new("DELETE", &format!("{path}?force=true"), "member").version("1.2"))
        .await;
    assert_eq!(r.status, 204);
    // Before 1.2 a consumed secret is deleted without force, as upstream.
    let id2 = a.secret("member", "old", "k").await;
    a.send(
        Req::new("POST", &format!("/v1/secrets/{id2}/consumers"), "member")
            .version("1.1")
            .json(consumer),
    )
    .await;
    let r = a
        .send(Req::new("DELETE", &format!("/v1/secrets/{id2}"), "member").version("1.1"))
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn containers_with_secrets_and_consumers() {
    let a = api().await;
    let s1 = a.secret("member", "one", "1").await;
    let s2 = a.secret("member", "two", "2").await;
    let foreign = a.secret("other", "theirs", "3").await;
    let r = a
        .call(
            "member",
            "POST",
            "/v1/containers",
            Some(json!({"name": "box", "type": "generic", "secret_refs": [
                {"name": "first", "secret_ref": format!("http://km.example:9311/v1/secrets/{s1}")}
            ]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let cid = id_of(&r.body["container_ref"]);
    let cpath = format!("/v1/containers/{cid}");
    let r = a
        .call(
            "member",
            "POST",
            &format!("{cpath}/secrets"),
            Some(json!({"name": "second", "secret_ref": s2})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = a.call("member", "GET", &cpath, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["type"], "generic");
    assert_eq!(r.body["name"], "box");
    assert_eq!(r.body["secret_refs"].as_array().expect("refs").len(), 2);
    let r = a
        .call(
            "member",
            "POST",
            &format!("{cpath}/consumers"),
            Some(json!({"name": "lb", "URL": "http://lb/1"})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["consumers"],
        json!([{"name": "lb", "URL": "http://lb/1"}])
    );
    let r = a
        .call("member", "GET", &format!("{cpath}/consumers"), None)
        .await;
    assert_eq!(r.body["total"], 1);
    let r = a
        .call(
            "member",
            "DELETE",
            &format!("{cpath}/consumers"),
            Some(json!({"name": "lb", "URL": "http://lb/1"})),
        )
        .await;
    assert_eq!(r.body["consumers"], json!([]));
    let r = a
        .call(
            "member",
            "DELETE",
            &format!("{cpath}/secrets"),
            Some(json!({"name": "second", "secret_ref": s2})),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = a
        .call(
            "member",
            "DELETE",
            &format!("{cpath}/secrets"),
            Some(json!({"name": "second", "secret_ref": s2})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Secret provided is not in the container");
    let r = a
        .call("member", "GET", "/v1/containers?type=generic", None)
        .await;
    assert_eq!(r.body["total"], 1);
    // Another project's secret cannot be put in a container.
    let r = a
        .call(
            "member",
            "POST",
            "/v1/containers",
            Some(json!({"type": "generic", "secret_refs": [{"name": "x", "secret_ref": href(&foreign)}]})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Secret provided for 'x' doesn't exist.");
    // rsa containers need their named parts.
    let r = a
        .call(
            "member",
            "POST",
            "/v1/containers",
            Some(
                json!({"type": "rsa", "secret_refs": [{"name": "bogus", "secret_ref": href(&s1)}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        desc(&r),
        "Container creation issue seen - Provided object does not match schema 'Container': only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type. Invalid property: 'secret_refs'."
    );
    // Refs must point at this service, and names and ids must be unique.
    for refs in [
        json!([{"name": "a", "secret_ref": format!("http://elsewhere:9311/v1/secrets/{s1}")}]),
        json!([{"name": "a", "secret_ref": s1}]),
        json!([{"name": "a", "secret_ref": href(&s1)}, {"name": "a", "secret_ref": href(&s2)}]),
        json!([{"name": "a", "secret_ref": href(&s1)}, {"name": "b", "secret_ref": href(&s1)}]),
    ] {
        let r = a
            .call(
                "member",
                "POST",
                "/v1/containers",
                Some(json!({"type": "generic", "secret_refs": refs})),
            )
            .await;
        assert_eq!(r.status, 400, "{refs}");
    }
    let r = a.call("member", "DELETE", &cpath, None).await;
    assert_eq!(r.status, 204);
    let r = a.call("member", "GET", &cpath, None).await;
    assert_eq!(r.status, 404);
    assert_eq!(desc(&r), "Secrets container not found.");
}

#[tokio::test]
async fn key_order_makes_a_symmetric_secret() {
    let a = api().await;
    let r = a
        .call(
            "member",
            "POST",
            "/v1/orders",
            Some(
                json!({"type": "key", "meta": {"name": "k", "algorithm": "aes", "bit_length": 256,
                        "mode": "cbc", "payload_content_type": "application/octet-stream"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let oid = id_of(&r.body["order_ref"]);
    let r = a
        .call("member", "GET", &format!("/v1/orders/{oid}"), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ACTIVE");
    assert_eq!(r.body["type"], "key");
    assert_eq!(r.body["meta"]["bit_length"], 256);
    let sid = id_of(&r.body["secret_ref"]);
    let r = a
        .call("member", "GET", &format!("/v1/secrets/{sid}"), None)
        .await;
    assert_eq!(r.body["secret_type"], "symmetric");
    assert_eq!(r.body["algorithm"], "aes");
    let r = a
        .call("member", "GET", &format!("/v1/secrets/{sid}/payload"), None)
        .await;
    assert_eq!(r.bytes.len(), 32);
    let r = a.call("member", "GET", "/v1/orders", None).await;
    assert_eq!(r.body["total"], 1);
    let r = a
        .call("member", "DELETE", &format!("/v1/orders/{oid}"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = a
        .call("member", "GET", &format!("/v1/orders/{oid}"), None)
        .await;
    assert_eq!(r.status, 404);
    // The key outlives its order.
    let r = a
        .call("member", "GET", &format!("/v1/secrets/{sid}"), None)
        .await;
    assert_eq!(r.status, 200);
    // Validation and unsupported algorithms.
    let r = a
        .call(
            "member",
            "POST",
            "/v1/orders",
            Some(json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 13}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        desc(&r),
        "Order creation issue seen - Provided field value is not supported."
    );
    let cases = [
        (
            json!({"type": "key", "meta": {"bit_length": 128}}),
            "Order creation issue seen - Provided object does not match schema 'Order': 'algorithm' is required field for key type order. Invalid property: 'meta'.",
        ),
        (
            json!({"type": "asymmetric", "meta": {"algorithm": "rsa"}}),
            "Order creation issue seen - Provided object does not match schema 'Order': 'bit_length' is required field for asymmetric key type order. Invalid property: 'meta'.",
        ),
        (
            json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128, "payload": "x",
                                           "payload_content_type": "text/plain"}}),
            "Order creation issue seen - Provided object does not match schema 'Order': 'payload' not allowed for key type order. Invalid property: 'meta'.",
        ),
        (
            json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": "128"}}),
            "Order creation issue seen - Provided object does not match schema 'Secret' within 'Order': \"128\" is not of type 'integer'. Invalid property: 'bit_length'.",
        ),
        (
            json!({"type": "certificate", "meta": {}}),
            "Order creation issue seen - Provided object does not match schema 'Order': 'certificate' is not one of ['key', 'asymmetric']. Invalid property: 'type'.",
        ),
    ];
    for (body, want) in cases {
        let r = a
            .call("member", "POST", "/v1/orders", Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(desc(&r), want, "{body}");
    }
    let r = a
        .call(
            "member",
            "POST",
            "/v1/orders",
            Some(json!({"type": "key", "meta": {"algorithm": "rot13", "bit_length": 128}})),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = a
        .call(
            "member",
            "GET",
            &format!("/v1/orders/{}", id_of(&r.body["order_ref"])),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "ERROR");
    assert_eq!(r.body["error_status_code"], "400");
}

#[tokio::test]
async fn asymmetric_order_makes_an_rsa_container() {
    let a = api().await;
    let r = a
        .call(
            "member",
            "POST",
            "/v1/orders",
            Some(json!({"type": "asymmetric", "meta": {"name": "kp", "algorithm": "rsa", "bit_length": 1024}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let r = a
        .call(
            "member",
            "GET",
            &format!("/v1/orders/{}", id_of(&r.body["order_ref"])),
            None,
        )
        .await;
    assert_eq!(r.body["status"], "ACTIVE", "{:?}", r.body);
    let cid = id_of(&r.body["container_ref"]);
    let r = a
        .call("member", "GET", &format!("/v1/containers/{cid}"), None)
        .await;
    assert_eq!(r.body["type"], "rsa");
    let refs = r.body["secret_refs"].as_array().expect("refs").clone();
    assert_eq!(refs.len(), 2);
    for sref in refs {
        let sid = id_of(&sref["secret_ref"]);
        let p = a
            .call("member", "GET", &format!("/v1/secrets/{sid}/payload"), None)
            .await;
        let pem = String::from_utf8(p.bytes).expect("pem");
        match sref["name"].as_str() {
            Some("private_key") => assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----")),
            Some("public_key") => assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----")),
            other => panic!("unexpected ref {other:?}"),
        }
    }
}

#[tokio::test]
async fn acl_grants_read_to_a_user_of_another_project() {
    let a = api().await;
    let id = a.secret("member", "shared", "s3cr3t").await;
    let payload = format!("/v1/secrets/{id}/payload");
    let r = a.call("other", "GET", &payload, None).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        desc(&r),
        "Secret payload retrieval attempt not allowed - please review your user/project privileges"
    );
    let acl = format!("/v1/secrets/{id}/acl");
    let r = a.call("member", "GET", &acl, None).await;
    assert_eq!(r.body, json!({"read": {"project-access": true}}));
    let r = a
        .call(
            "member",
            "PUT",
            &acl,
            Some(json!({"read": {"users": ["eve"], "project-access": false}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["acl_ref"],
        format!("http://km.example:9311/v1/secrets/{id}/acl")
    );
    let r = a.call("other", "GET", &payload, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.bytes, b"s3cr3t");
    // project-access false makes it private to the creator within the project.
    let r = a.call("member2", "GET", &payload, None).await;
    assert_eq!(r.status, 403);
    let r = a.call("member", "GET", &payload, None).await;
    assert_eq!(r.status, 200);
    // acl_only lists what was shared with the caller.
    let r = a
        .call("other", "GET", "/v1/secrets?acl_only=true", None)
        .await;
    assert_eq!(r.body["total"], 1);
    let r = a
        .call(
            "member",
            "PATCH",
            &acl,
            Some(json!({"read": {"project-access": true}})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = a.call("member", "GET", &acl, None).await;
    assert_eq!(r.body["read"]["users"], json!(["eve"]));
    assert_eq!(r.body["read"]["project-access"], true);
    let r = a.call("member2", "GET", &payload, None).await;
    assert_eq!(r.status, 200);
    let r = a
        .call("member", "PUT", &acl, Some(json!({"read": {"bogus": 1}})))
        .await;
    assert_eq!(r.status, 400);
    let r = a.call("member", "DELETE", &acl, None).await;
    assert_eq!(r.status, 204);
    let r = a.call("other", "GET", &payload, None).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn quotas_and_project_quotas() {
    let a = api().await;
    let r = a.call("member", "GET", "/v1/quotas", None).await;
    assert_eq!(
        r.body,
        json!({"quotas": {"secrets": -1, "orders": -1, "containers": -1, "consumers": -1, "cas": -1}})
    );
    let r = a
        .call(
            "member",
            "PUT",
            "/v1/project-quotas/p1",
            Some(json!({"project_quotas": {"secrets": 1}})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = a
        .call(
            "admin",
            "PUT",
            "/v1/project-quotas/p1",
            Some(json!({"project_quotas": {"secrets": 1, "orders": 0}})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = a.call("admin", "GET", "/v1/project-quotas/p1", None).await;
    assert_eq!(
        r.body,
        json!({"project_quotas": {"secrets": 1, "orders": 0, "containers": null, "consumers": null, "cas": null}})
    );
    let r = a.call("admin", "GET", "/v1/project-quotas", None).await;
    assert_eq!(r.body["total"], 1);
    assert_eq!(r.body["project_quotas"][0]["project_id"], "p1");
    let r = a.call("member", "GET", "/v1/quotas", None).await;
    assert_eq!(r.body["quotas"]["secrets"], 1);
    a.secret("member", "first", "x").await;
    let r = a
        .call(
            "member",
            "POST",
            "/v1/secrets",
            Some(json!({"name": "second"})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        desc(&r),
        "Secret creation issue seen - Creation not allowed because a quota has been reached."
    );
    let r = a
        .call(
            "member",
            "POST",
            "/v1/orders",
            Some(json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128}})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = a
        .call("admin", "DELETE", "/v1/project-quotas/p1", None)
        .await;
    assert_eq!(r.status, 204);
    let r = a
        .call("admin", "DELETE", "/v1/project-quotas/p1", None)
        .await;
    assert_eq!(r.status, 404);
    let r = a
        .call(
            "member",
            "POST",
            "/v1/secrets",
            Some(json!({"name": "second"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = a.call("member", "GET", "/v1/secret-stores", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        desc(&r),
        "Not Found. Multiple backends support is not enabled in service configuration."
    );
}
