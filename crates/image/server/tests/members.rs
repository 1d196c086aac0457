//! Members and the visibility matrix per persona: what each persona may see, list,
//! download and change for private, public, community and shared images.

mod common;

use common::*;
use serde_json::json;

const PERSONAS: [(&str, Option<&str>); 7] = [
    ("admin", Some(ADMIN)),
    ("alice", Some(ALICE)),
    ("alice-reader", Some(ALICE_READER)),
    ("bob", Some(BOB)),
    ("carol", Some(CAROL)),
    ("system", Some(SYSTEM)),
    ("anonymous", None),
];

async fn status_of(
    s: &Svc,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<serde_json::Value>,
) -> u16 {
    let mut r = s.req(method.clone(), token, path);
    if method == reqwest::Method::PATCH {
        r = r.header(
            "content-type",
            "application/openstack-images-v2.1-json-patch",
        );
    }
    if let Some(b) = body {
        r = r.body(b.to_string());
    }
    send(r).await.0
}

async fn listed(s: &Svc, token: &str, id: &str, query: &str) -> bool {
    let (st, v) = s.get(token, &format!("/v2/images{query}")).await;
    assert_eq!(st, 200, "{v}");
    v["images"]
        .as_array()
        .expect("images")
        .iter()
        .any(|i| i["id"] == id)
}

#[tokio::test]
async fn visibility_matrix_per_persona() {
    let s = start().await;
    let sr = &s;
    let mk = |vis: &'static str| async move {
        let token = if vis == "public" { ADMIN } else { ALICE };
        let id = sr
            .create_raw(token, json!({"visibility": vis, "owner": P_A}))
            .await;
        assert_eq!(sr.upload(ALICE, &id, vec![1, 2, 3]).await, 204);
        id
    };
    let private = mk("private").await;
    let public = mk("public").await;
    let community = mk("community").await;
    let shared = mk("shared").await;
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{shared}/members"),
            json!({"member": P_B})
        )
        .await
        .0,
        200
    );

    // (image, expected show status per persona in PERSONAS order)
    let show = [
        (&private, [200, 200, 200, 404, 404, 404, 401]),
        (&public, [200, 200, 200, 200, 200, 404, 401]),
        (&community, [200, 200, 200, 200, 200, 404, 401]),
        (&shared, [200, 200, 200, 200, 404, 404, 401]),
    ];
    for (id, want) in show {
        for ((name, token), w) in PERSONAS.iter().zip(want) {
            let got = status_of(
                &s,
                reqwest::Method::GET,
                *token,
                &format!("/v2/images/{id}"),
                None,
            )
            .await;
            assert_eq!(got, w, "show {id} as {name}");
        }
    }
    let download = [
        (&private, [200, 200, 403, 404, 404, 404, 401]),
        (&public, [200, 200, 403, 200, 200, 404, 401]),
        (&community, [200, 200, 403, 200, 200, 404, 401]),
        (&shared, [200, 200, 403, 200, 404, 404, 401]),
    ];
    for (id, want) in download {
        for ((name, token), w) in PERSONAS.iter().zip(want) {
            let got = status_of(
                &s,
                reqwest::Method::GET,
                *token,
                &format!("/v2/images/{id}/file"),
                None,
            )
            .await;
            assert_eq!(got, w, "download {id} as {name}");
        }
    }
    let rename = json!([{"op": "replace", "path": "/name", "value": "renamed"}]);
    let update = [
        (&private, [200, 200, 403, 404, 404, 404, 401]),
        (&public, [200, 200, 403, 403, 403, 404, 401]),
        (&community, [200, 200, 403, 403, 403, 404, 401]),
        (&shared, [200, 200, 403, 403, 404, 404, 401]),
    ];
    for (id, want) in update {
        for ((name, token), w) in PERSONAS.iter().zip(want) {
            let got = status_of(
                &s,
                reqwest::Method::PATCH,
                *token,
                &format!("/v2/images/{id}"),
                Some(rename.clone()),
            )
            .await;
            assert_eq!(got, w, "update {id} as {name}");
        }
    }
    // Default listings: public for all; community only for its owner; shared only
    // once accepted; private for the owner's project and admins.
    let cases = [
        (ADMIN, [true, true, false, true]),
        (ALICE, [true, true, true, true]),
        (ALICE_READER, [true, true, true, true]),
        (BOB, [false, true, false, false]),
        (CAROL, [false, true, false, false]),
    ];
    for (token, want) in cases {
        for (id, w) in [&private, &public, &community, &shared]
            .into_iter()
            .zip(want)
        {
            assert_eq!(listed(&s, token, id, "").await, w, "{token} lists {id}");
        }
    }
    assert!(listed(&s, BOB, &community, "?visibility=community").await);
    assert!(listed(&s, BOB, &shared, "?visibility=shared&member_status=pending").await);
    assert!(listed(&s, BOB, &shared, "?member_status=all").await);
    assert!(!listed(&s, CAROL, &shared, "?member_status=all").await);
    assert_eq!(s.get(SYSTEM, "/v2/images").await.0, 403);
    // Deletion: owner project members and admins only.
    let delete = [(ALICE_READER, 403), (BOB, 403), (CAROL, 404), (ALICE, 204)];
    for (token, want) in delete {
        assert_eq!(
            s.delete(token, &format!("/v2/images/{shared}")).await,
            want,
            "delete as {token}"
        );
    }
    assert_eq!(s.delete(CAROL, &format!("/v2/images/{public}")).await, 403);
    assert_eq!(s.delete(ADMIN, &format!("/v2/images/{public}")).await, 204);
}

#[tokio::test]
async fn members_lifecycle() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    let members = format!("/v2/images/{id}/members");
    // Bad bodies.
    assert_eq!(s.post(ALICE, &members, json!({})).await.0, 400);
    assert_eq!(s.post(ALICE, &members, json!({"member": ""})).await.0, 400);
    assert_eq!(s.post(ALICE, &members, json!(["x"])).await.0, 400);
    // Only the owner adds members.
    assert_eq!(
        s.post(ALICE_READER, &members, json!({"member": P_B}))
            .await
            .0,
        403
    );
    assert_eq!(s.post(BOB, &members, json!({"member": P_B})).await.0, 404);
    let (st, m) = s.post(ALICE, &members, json!({"member": P_B})).await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["member_id"], P_B);
    assert_eq!(m["image_id"], id);
    assert_eq!(m["status"], "pending");
    assert_eq!(m["schema"], "/v2/schemas/member");
    assert_eq!(s.post(ALICE, &members, json!({"member": P_B})).await.0, 409);
    assert_eq!(s.post(ALICE, &members, json!({"member": P_C})).await.0, 200);
    // A member sees its own membership only; strangers see nothing.
    let (_, l) = s.get(ALICE, &members).await;
    assert_eq!(l["members"].as_array().expect("m").len(), 2);
    assert_eq!(l["schema"], "/v2/schemas/members");
    let (st, l) = s.get(BOB, &members).await;
    assert_eq!(st, 200);
    assert_eq!(l["members"].as_array().expect("m").len(), 1);
    assert_eq!(l["members"][0]["member_id"], P_B);
    assert_eq!(s.get(BOB, &format!("{members}/{P_C}")).await.0, 404);
    assert_eq!(s.get(BOB, &format!("{members}/{P_B}")).await.0, 200);
    assert_eq!(s.get(ALICE, &format!("{members}/nobody")).await.0, 404);
    // Only the member changes its status.
    assert_eq!(
        s.put(
            ALICE,
            &format!("{members}/{P_B}"),
            Some(json!({"status": "accepted"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        s.put(
            CAROL,
            &format!("{members}/{P_B}"),
            Some(json!({"status": "accepted"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        s.put(
            BOB,
            &format!("{members}/{P_B}"),
            Some(json!({"status": "maybe"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.put(BOB, &format!("{members}/{P_B}"), Some(json!({})))
            .await
            .0,
        400
    );
    let (st, m) = s
        .put(
            BOB,
            &format!("{members}/{P_B}"),
            Some(json!({"status": "accepted"})),
        )
        .await;
    assert_eq!(st, 200, "{m}");
    assert_eq!(m["status"], "accepted");
    assert!(listed(&s, BOB, &id, "").await);
    let (_, m) = s
        .put(
            BOB,
            &format!("{members}/{P_B}"),
            Some(json!({"status": "rejected"})),
        )
        .await;
    assert_eq!(m["status"], "rejected");
    assert!(!listed(&s, BOB, &id, "").await);
    assert!(listed(&s, BOB, &id, "?member_status=rejected").await);
    // The member cannot remove memberships; the owner can.
    assert_eq!(s.delete(BOB, &format!("{members}/{P_B}")).await, 403);
    assert_eq!(s.delete(ALICE, &format!("{members}/{P_B}")).await, 204);
    assert_eq!(s.get(BOB, &format!("/v2/images/{id}")).await.0, 404);
    assert_eq!(s.delete(ALICE, &format!("{members}/{P_B}")).await, 404);
    // Members exist only on shared images.
    assert_eq!(
        s.patch(
            ALICE,
            &id,
            json!([{"op": "replace", "path": "/visibility", "value": "private"}])
        )
        .await
        .0,
        200
    );
    assert_eq!(s.get(ALICE, &members).await.0, 403);
    assert_eq!(s.post(ALICE, &members, json!({"member": P_B})).await.0, 403);
    assert_eq!(s.get(CAROL, &format!("/v2/images/{id}")).await.0, 404);
}

#[tokio::test]
async fn member_quota() {
    let cfg = rustack_image_api::ImageConfig {
        image_member_quota: 1,
        ..Default::default()
    };
    let s = start_with(cfg).await;
    let id = s.create_raw(ALICE, json!({})).await;
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
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{id}/members"),
            json!({"member": P_C})
        )
        .await
        .0,
        413
    );
}
