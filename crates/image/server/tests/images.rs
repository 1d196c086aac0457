//! Image metadata API on the in-process service: versions, schemas, the lifecycle
//! tempest's images-v2 tests drive, filters/sorting/pagination and bad input.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn version_discovery_and_negotiation() {
    let s = start().await;
    let (st, v) = send(s.req(reqwest::Method::GET, None, "/")).await;
    assert_eq!(st, 300);
    let cur: Vec<_> = v["versions"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|x| x["status"] == "CURRENT")
        .collect();
    assert_eq!(cur.len(), 1);
    assert_eq!(cur[0]["links"][0]["href"], format!("{}/v2/", s.url));
    assert_eq!(
        send(s.req(reqwest::Method::GET, None, "/versions")).await.0,
        200
    );
    assert_eq!(
        send(s.req(reqwest::Method::GET, None, "/v3/images"))
            .await
            .0,
        300
    );
    // /v2.1/... is served as /v2/...
    let (st, v) = s.get(ALICE, "/v2.1/images").await;
    assert_eq!(st, 200, "{v}");
    // Everything under /v2 needs a token.
    let (st, v) = send(s.req(reqwest::Method::GET, None, "/v2/images")).await;
    assert_eq!(st, 401);
    assert_eq!(v["error"]["code"], 401);
    let (st, _) = send(s.req(reqwest::Method::GET, Some("bogus"), "/v2/images")).await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn schemas() {
    let s = start().await;
    for name in ["image", "images", "member", "members"] {
        let (st, v) = s.get(ALICE_READER, &format!("/v2/schemas/{name}")).await;
        assert_eq!(st, 200);
        assert_eq!(v["name"], name);
    }
    let (_, v) = s.get(ALICE, "/v2/schemas/image").await;
    assert!(v["properties"]["disk_format"]["enum"]
        .as_array()
        .expect("enum")
        .contains(&json!("qcow2")));
    assert_eq!(s.get(ALICE, "/v2/schemas/nope").await.0, 404);
}

#[tokio::test]
async fn create_show_update_delete_lifecycle() {
    let s = start().await;
    let (st, img) = s
        .post(
            ALICE,
            "/v2/images",
            json!({"name": "cirros", "container_format": "bare", "disk_format": "qcow2",
                   "visibility": "private", "ramdisk_id": "00000000-1111-2222-3333-444455556666",
                   "os_distro": "cirros", "tags": ["a", "b", "a"]}),
        )
        .await;
    assert_eq!(st, 201, "{img}");
    let id = img["id"].as_str().expect("id").to_string();
    assert_eq!(img["status"], "queued");
    assert_eq!(img["visibility"], "private");
    assert_eq!(img["owner"], P_A);
    assert_eq!(img["ramdisk_id"], "00000000-1111-2222-3333-444455556666");
    assert_eq!(img["tags"], json!(["a", "b"]));
    assert_eq!(img["self"], format!("/v2/images/{id}"));
    assert_eq!(img["file"], format!("/v2/images/{id}/file"));
    assert_eq!(img["schema"], "/v2/schemas/image");
    assert!(img["size"].is_null() && img["checksum"].is_null());
    assert!(img["created_at"].as_str().expect("t").ends_with('Z'));

    // The reader persona of the same project sees it.
    let (st, shown) = s.get(ALICE_READER, &format!("/v2/images/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(shown, img);

    // Old patch dialect, as tempest sends it.
    let (st, v) = send(
        s.req(
            reqwest::Method::PATCH,
            Some(ALICE),
            &format!("/v2/images/{id}"),
        )
        .header(
            "content-type",
            "application/openstack-images-v2.0-json-patch",
        )
        .body(json!([{"replace": "/name", "value": "new-name"}]).to_string()),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["name"], "new-name");
    // RFC 6902 dialect: add/replace/remove properties and base attributes.
    let (st, v) = s
        .patch(
            ALICE,
            &id,
            json!([{"op": "add", "path": "/hw_disk_bus", "value": "scsi"},
                   {"op": "replace", "path": "/os_distro", "value": "debian"},
                   {"op": "replace", "path": "/min_ram", "value": 512},
                   {"op": "replace", "path": "/protected", "value": true},
                   {"op": "remove", "path": "/ramdisk_id"},
                   {"op": "replace", "path": "/tags", "value": ["x"]}]),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["hw_disk_bus"], "scsi");
    assert_eq!(v["os_distro"], "debian");
    assert_eq!(v["min_ram"], 512);
    assert_eq!(v["protected"], true);
    assert!(v.get("ramdisk_id").is_none());
    assert_eq!(v["tags"], json!(["x"]));

    // Protected images cannot be deleted.
    assert_eq!(s.delete(ALICE, &format!("/v2/images/{id}")).await, 403);
    assert_eq!(
        s.patch(
            ALICE,
            &id,
            json!([{"op": "replace", "path": "/protected", "value": false}])
        )
        .await
        .0,
        200
    );
    // The reader may not delete.
    assert_eq!(
        s.delete(ALICE_READER, &format!("/v2/images/{id}")).await,
        403
    );
    assert_eq!(s.delete(ALICE, &format!("/v2/images/{id}")).await, 204);
    // Deleted: 404 on show, delete, tag, and absent from lists.
    assert_eq!(s.get(ALICE, &format!("/v2/images/{id}")).await.0, 404);
    assert_eq!(s.delete(ALICE, &format!("/v2/images/{id}")).await, 404);
    assert_eq!(
        s.put(ALICE, &format!("/v2/images/{id}/tags/t"), None)
            .await
            .0,
        404
    );
    let (_, l) = s.get(ALICE, "/v2/images").await;
    assert!(!l["images"]
        .as_array()
        .expect("l")
        .iter()
        .any(|i| i["id"] == id.as_str()));
    // An id is never reused.
    let (st, _) = s.post(ALICE, "/v2/images", json!({"id": id})).await;
    assert_eq!(st, 409);
}

#[tokio::test]
async fn tempest_negative_cases() {
    let s = start().await;
    // Empty id and unknown ids.
    assert_eq!(s.get(ALICE, "/v2/images/").await.0, 404);
    assert_eq!(s.delete(ALICE, "/v2/images/").await, 404);
    let random = "7b5c4cc5-0b0c-4b8c-9e55-8a8b0a1b2c3d";
    let (st, v) = s.get(ALICE, &format!("/v2/images/{random}")).await;
    assert_eq!(st, 404);
    assert_eq!(v["code"], "404 Not Found");
    assert_eq!(v["title"], "Not Found");
    assert!(v["message"].as_str().expect("m").contains(random));
    assert_eq!(s.delete(ALICE, &format!("/v2/images/{random}")).await, 404);
    assert_eq!(
        s.put(ALICE, &format!("/v2/images/{random}/tags/x"), None)
            .await
            .0,
        404
    );
    // Tags.
    let id = s.create_raw(ALICE, json!({})).await;
    assert_eq!(
        s.put(ALICE, &format!("/v2/images/{id}/tags/t1"), None)
            .await
            .0,
        204
    );
    let (_, v) = s.get(ALICE, &format!("/v2/images/{id}")).await;
    assert_eq!(v["tags"], json!(["t1"]));
    assert_eq!(
        s.delete(ALICE, &format!("/v2/images/{id}/tags/t1")).await,
        204
    );
    assert_eq!(
        s.delete(ALICE, &format!("/v2/images/{id}/tags/nope")).await,
        404
    );
    let long = "x".repeat(256);
    assert_eq!(
        s.put(ALICE, &format!("/v2/images/{id}/tags/{long}"), None)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn bad_input_gets_glance_statuses() {
    let s = start().await;
    let post_raw = |body: &'static str| {
        s.req(reqwest::Method::POST, Some(ALICE), "/v2/images")
            .header("content-type", "application/json")
            .body(body)
    };
    assert_eq!(send(post_raw("{")).await.0, 400);
    assert_eq!(send(post_raw("")).await.0, 400);
    assert_eq!(send(post_raw("42")).await.0, 400);
    assert_eq!(send(post_raw("[]")).await.0, 400);
    let cases = [
        (json!({"disk_format": "floppy"}), 400),
        (json!({"visibility": "everyone"}), 400),
        (json!({"protected": "yes"}), 400),
        (json!({"min_ram": -1}), 400),
        (json!({"name": "x".repeat(256)}), 400),
        (json!({"id": "not-a-uuid"}), 400),
        (json!({"foo": 1}), 400),
        (json!({"": "x"}), 400),
        (json!({"tags": "a"}), 400),
        (json!({"checksum": "abc"}), 403),
        (json!({"status": "active"}), 403),
        (json!({"size": 3}), 403),
        (json!({"self": "x"}), 403),
        (json!({"location": "x"}), 403),
        (json!({"deleted": "x"}), 403),
        (json!({"os_glance_foo": "x"}), 403),
        (json!({"locations": []}), 403),
        (json!({"visibility": "public"}), 403),
        (json!({"owner": P_B}), 403),
    ];
    for (body, want) in cases {
        let (st, v) = s.post(ALICE, "/v2/images", body.clone()).await;
        assert_eq!(st, want, "{body} -> {v}");
        assert!(v["message"].is_string(), "{v}");
    }
    // Readers cannot create.
    assert_eq!(s.post(ALICE_READER, "/v2/images", json!({})).await.0, 403);
    // System-scoped tokens are not project-scoped: refused.
    assert_eq!(s.post(SYSTEM, "/v2/images", json!({})).await.0, 403);
    // Community is allowed for members; public for admins only.
    assert_eq!(
        s.post(ALICE, "/v2/images", json!({"visibility": "community"}))
            .await
            .0,
        201
    );
    assert_eq!(
        s.post(ADMIN, "/v2/images", json!({"visibility": "public"}))
            .await
            .0,
        201
    );
    assert_eq!(
        s.post(ADMIN, "/v2/images", json!({"owner": P_B})).await.0,
        201
    );

    let id = s.create_raw(ALICE, json!({})).await;
    let path = format!("/v2/images/{id}");
    // Wrong media type: 415 with Accept-Patch.
    let r = s
        .req(reqwest::Method::PATCH, Some(ALICE), &path)
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 415);
    assert!(r.headers().get("accept-patch").is_some());
    let patch_cases = [
        (json!({"op": "add"}), 400),
        (json!([{"op": "move", "path": "/name", "value": "x"}]), 400),
        (json!([{"path": "/name", "value": "x"}]), 400),
        (json!([{"op": "add", "value": "x"}]), 400),
        (json!([{"op": "add", "path": "name", "value": "x"}]), 400),
        (json!([{"op": "add", "path": "/a/b", "value": "x"}]), 400),
        (json!([{"op": "add", "path": "/a//b", "value": "x"}]), 400),
        (json!([{"op": "add", "path": "/", "value": "x"}]), 400),
        (json!([{"op": "add", "path": "/name"}]), 400),
        (json!(["x"]), 400),
        (
            json!([{"op": "replace", "path": "/min_disk", "value": "big"}]),
            400,
        ),
        (
            json!([{"op": "replace", "path": "/min_disk", "value": -2}]),
            400,
        ),
        (json!([{"op": "add", "path": "/prop", "value": 3}]), 400),
        (
            json!([{"op": "replace", "path": "/status", "value": "active"}]),
            403,
        ),
        (json!([{"op": "replace", "path": "/id", "value": "x"}]), 403),
        (
            json!([{"op": "add", "path": "/deleted", "value": "x"}]),
            403,
        ),
        (
            json!([{"op": "add", "path": "/os_glance_x", "value": "x"}]),
            403,
        ),
        (json!([{"op": "remove", "path": "/name"}]), 403),
        (
            json!([{"op": "replace", "path": "/owner", "value": "x"}]),
            403,
        ),
        (
            json!([{"op": "replace", "path": "/visibility", "value": "public"}]),
            403,
        ),
        (
            json!([{"op": "add", "path": "/locations/-", "value": {"url": "http://x", "metadata": {}}}]),
            403,
        ),
        (
            json!([{"op": "replace", "path": "/nope", "value": "x"}]),
            409,
        ),
        (json!([{"op": "remove", "path": "/nope"}]), 409),
    ];
    for (ops, want) in patch_cases {
        let (st, v) = s.patch(ALICE, &id, ops.clone()).await;
        assert_eq!(st, want, "{ops} -> {v}");
    }
    // Other projects cannot see (404), let alone change, the private image.
    assert_eq!(
        s.patch(
            BOB,
            &id,
            json!([{"op": "replace", "path": "/name", "value": "x"}])
        )
        .await
        .0,
        404
    );
    // Readers see it but may not change it.
    assert_eq!(
        s.patch(
            ALICE_READER,
            &id,
            json!([{"op": "replace", "path": "/name", "value": "x"}])
        )
        .await
        .0,
        403
    );
    // Formats can change only while queued.
    assert_eq!(
        s.patch(
            ALICE,
            &id,
            json!([{"op": "replace", "path": "/disk_format", "value": "qcow2"}])
        )
        .await
        .0,
        200
    );
    assert_eq!(s.upload(ALICE, &id, b"data".to_vec()).await, 204);
    assert_eq!(
        s.patch(
            ALICE,
            &id,
            json!([{"op": "replace", "path": "/disk_format", "value": "raw"}])
        )
        .await
        .0,
        403
    );
    // Paths that do not decode to UTF-8 get a Glance-style 400.
    let (st, v) = s.get(ALICE, "/v2/images/%FF").await;
    assert_eq!(st, 400);
    assert_eq!(v["code"], "400 Bad Request");
    // Unknown routes and methods.
    assert_eq!(s.get(ALICE, "/v2/nothing").await.0, 404);
    assert_eq!(
        send(s.req(reqwest::Method::PUT, Some(ALICE), "/v2/images"))
            .await
            .0,
        405
    );
}

#[tokio::test]
async fn deactivate_and_reactivate() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    // Only active images can be deactivated.
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{id}/actions/deactivate"),
            json!(null)
        )
        .await
        .0,
        403
    );
    let content = data(1024, 1);
    assert_eq!(s.upload(ALICE, &id, content.clone()).await, 204);
    assert_eq!(
        s.post(
            ALICE_READER,
            &format!("/v2/images/{id}/actions/deactivate"),
            json!(null)
        )
        .await
        .0,
        403
    );
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
    assert_eq!(
        s.get(ALICE, &format!("/v2/images/{id}")).await.1["status"],
        "deactivated"
    );
    assert_eq!(s.download(ALICE, &id).await.0, 403);
    // Admins may still download.
    assert_eq!(s.download(ADMIN, &id).await, (200, content.clone()));
    assert_eq!(
        s.post(
            ALICE,
            &format!("/v2/images/{id}/actions/reactivate"),
            json!(null)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        s.get(ALICE, &format!("/v2/images/{id}")).await.1["status"],
        "active"
    );
    assert_eq!(s.download(ALICE, &id).await, (200, content));
}

async fn list(s: &Svc, q: &str) -> serde_json::Value {
    let (st, v) = s.get(ALICE, &format!("/v2/images{q}")).await;
    assert_eq!(st, 200, "{q}: {v}");
    v
}

#[tokio::test]
async fn list_filters_sorting_and_pagination() {
    let s = start().await;
    let mut ids = vec![];
    for (n, (disk, size)) in [
        ("raw", 1100usize),
        ("qcow2", 2200),
        ("vhd", 3300),
        ("raw", 4400),
    ]
    .iter()
    .enumerate()
    {
        let id = s
            .create_raw(
                ALICE,
                json!({"name": format!("img-{n}"), "disk_format": disk,
                                      "visibility": "private", "tags": [format!("t{n}"), "common"],
                                      "os_distro": if n % 2 == 0 { "debian" } else { "fedora" }}),
            )
            .await;
        assert_eq!(s.upload(ALICE, &id, data(*size, n as u64)).await, 204);
        ids.push(id);
    }
    let queued = s.create_raw(ALICE, json!({"name": "empty"})).await;
    let hidden = s
        .create_raw(ALICE, json!({"name": "hidden", "os_hidden": true}))
        .await;
    let bobs = s.create_raw(BOB, json!({"name": "bob"})).await;

    let names = |v: &serde_json::Value| -> Vec<String> {
        v["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|i| i["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let all = list(&s, "").await;
    assert_eq!(all["first"], "/v2/images");
    assert_eq!(all["schema"], "/v2/schemas/images");
    assert!(all.get("next").is_none());
    let got: Vec<String> = names(&all);
    assert_eq!(
        got,
        vec!["empty", "img-3", "img-2", "img-1", "img-0"],
        "newest first, no hidden, not bob's"
    );
    assert!(!got.contains(&"bob".to_string()));
    let _ = (&hidden, &bobs, &queued);

    assert_eq!(
        names(&list(&s, "?disk_format=raw").await),
        vec!["empty", "img-3", "img-0"]
    );
    assert_eq!(
        names(&list(&s, "?disk_format=in:vhd,qcow2").await),
        vec!["img-2", "img-1"]
    );
    assert_eq!(
        names(&list(&s, "?status=active&sort_key=name&sort_dir=asc").await),
        vec!["img-0", "img-1", "img-2", "img-3"]
    );
    assert_eq!(
        names(&list(&s, "?size_min=2000&size_max=3500&sort=name:asc").await),
        vec!["img-1", "img-2"]
    );
    assert_eq!(names(&list(&s, "?size=4400").await), vec!["img-3"]);
    assert_eq!(names(&list(&s, "?tag=t1&tag=common").await), vec!["img-1"]);
    assert_eq!(
        names(&list(&s, "?os_distro=fedora&sort=name:asc").await),
        vec!["img-1", "img-3"]
    );
    assert_eq!(names(&list(&s, "?name=img-2").await), vec!["img-2"]);
    assert_eq!(names(&list(&s, "?os_hidden=true").await), vec!["hidden"]);
    assert_eq!(
        names(
            &list(
                &s,
                "?visibility=private&owner=p-alice&sort=name:asc&limit=2"
            )
            .await
        ),
        vec!["img-0", "img-1"]
    );
    assert_eq!(names(&list(&s, "?visibility=shared").await), vec!["empty"]);
    let sizes: Vec<i64> = list(&s, "?sort=size:desc").await["images"]
        .as_array()
        .expect("l")
        .iter()
        .filter_map(|i| i["size"].as_i64())
        .collect();
    assert_eq!(sizes, vec![4400, 3300, 2200, 1100]);
    let sizes: Vec<i64> = list(&s, "?sort_key=size&sort_dir=desc").await["images"]
        .as_array()
        .expect("l")
        .iter()
        .filter_map(|i| i["size"].as_i64())
        .collect();
    assert_eq!(sizes, vec![4400, 3300, 2200, 1100]);
    assert_eq!(
        names(&list(&s, "?created_at=gte:2000-01-01T00:00:00Z&limit=1").await).len(),
        1
    );
    assert!(names(&list(&s, "?created_at=lt:2000-01-01T00:00:00Z").await).is_empty());

    // Pagination follows `next` until the end, each image once.
    let mut seen = vec![];
    let mut path = "/v2/images?limit=2&sort_key=name&sort_dir=asc".to_string();
    for _ in 0..10 {
        let (st, v) = s.get(ALICE, &path).await;
        assert_eq!(st, 200);
        seen.extend(names(&v));
        match v.get("next").and_then(|n| n.as_str()) {
            Some(n) => path = n.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, vec!["empty", "img-0", "img-1", "img-2", "img-3"]);
    // Bad parameters.
    for q in [
        "?limit=abc",
        "?limit=-1",
        "?sort_key=owner",
        "?sort_dir=up",
        "?marker=nope",
        "?size_min=x",
        "?visibility=mine",
        "?protected=maybe",
        "?os_hidden=perhaps",
        "?created_at=gt:notatime",
        "?changes-since=2020-01-01",
        "?member_status=x",
    ] {
        assert_eq!(s.get(ALICE, &format!("/v2/images{q}")).await.0, 400, "{q}");
    }
}

#[tokio::test]
async fn quotas_answer_413() {
    let cfg = rustack_image_api::ImageConfig {
        image_count_total: 2,
        image_property_quota: 2,
        image_tag_quota: 1,
        ..Default::default()
    };
    let s = start_with(cfg).await;
    let id = s.create_raw(ALICE, json!({})).await;
    s.create_raw(ALICE, json!({})).await;
    let (st, v) = s.post(ALICE, "/v2/images", json!({})).await;
    assert_eq!(st, 413, "{v}");
    // Other projects have their own count.
    assert_eq!(s.post(BOB, "/v2/images", json!({})).await.0, 201);
    assert_eq!(s.patch(ALICE, &id, json!([{"op": "add", "path": "/a", "value": "1"}, {"op": "add", "path": "/b", "value": "2"}])).await.0, 200);
    assert_eq!(
        s.patch(
            ALICE,
            &id,
            json!([{"op": "add", "path": "/c", "value": "3"}])
        )
        .await
        .0,
        413
    );
    assert_eq!(
        s.put(ALICE, &format!("/v2/images/{id}/tags/one"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        s.put(ALICE, &format!("/v2/images/{id}/tags/two"), None)
            .await
            .0,
        413
    );
}

#[tokio::test]
async fn concurrent_metadata_writes_all_land() {
    let s = start().await;
    let id = s.create_raw(ALICE, json!({})).await;
    let tags = (0..12).map(|n| {
        let path = format!("/v2/images/{id}/tags/tag-{n}");
        let req = s.req(reqwest::Method::PUT, Some(ALICE), &path);
        async move { req.send().await.expect("send").status().as_u16() }
    });
    let props = (0..12).map(|n| {
        let req = s
            .req(
                reqwest::Method::PATCH,
                Some(ALICE),
                &format!("/v2/images/{id}"),
            )
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(json!([{"op": "add", "path": format!("/p{n}"), "value": "v"}]).to_string());
        async move { req.send().await.expect("send").status().as_u16() }
    });
    let (a, b) = futures::future::join(
        futures::future::join_all(tags),
        futures::future::join_all(props),
    )
    .await;
    assert!(a.iter().all(|s| *s == 204), "{a:?}");
    assert!(b.iter().all(|s| *s == 200), "{b:?}");
    let (_, v) = s.get(ALICE, &format!("/v2/images/{id}")).await;
    assert_eq!(v["tags"].as_array().expect("tags").len(), 12);
    for n in 0..12 {
        assert_eq!(v[format!("p{n}")], "v");
    }
}
