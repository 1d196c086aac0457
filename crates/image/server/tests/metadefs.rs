//! Metadata definitions (`/v2/metadefs`) and the tasks API on a real in-process
//! image service: the built-in catalog, namespace lifecycle with Glance's statuses,
//! visibility (404) versus policy (403), objects, properties, tags and resource
//! type associations, and the metadef/task schemas.

mod common;

use common::*;
use serde_json::{json, Value};

fn names(v: &Value, key: &str, field: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn builtin_catalog_is_loaded_and_protected() {
    let svc = start().await;
    let (s, v) = svc.get(ALICE, "/v2/metadefs/resource_types").await;
    assert_eq!(s, 200, "{v}");
    let types = names(&v, "resource_types", "name");
    assert!(types.contains(&"OS::Glance::Image".to_string()));
    assert!(types.contains(&"OS::Nova::Flavor".to_string()));
    assert!(v["resource_types"][0]["created_at"].is_string());

    let (s, v) = svc.get(ALICE, "/v2/metadefs/namespaces").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["schema"], "/v2/schemas/metadefs/namespaces");
    let listed = names(&v, "namespaces", "namespace");
    assert!(
        listed.contains(&"OS::Compute::Libvirt".to_string()),
        "{listed:?}"
    );

    let (s, v) = svc
        .get(ALICE, "/v2/metadefs/namespaces/OS::Compute::Libvirt")
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["protected"], true);
    assert_eq!(v["visibility"], "public");
    assert_eq!(v["owner"], "admin");
    assert_eq!(v["properties"]["boot_menu"]["type"], "string");
    let prefixes: Vec<&str> = v["resource_type_associations"]
        .as_array()
        .expect("associations")
        .iter()
        .filter_map(|a| a["prefix"].as_str())
        .collect();
    assert!(prefixes.contains(&"hw_") && prefixes.contains(&"hw:"));

    // Filter by resource type.
    let (_, v) = svc
        .get(
            ALICE,
            "/v2/metadefs/namespaces?resource_types=OS::Nova::Flavor",
        )
        .await;
    let listed = names(&v, "namespaces", "namespace");
    assert!(listed.contains(&"OS::Compute::Quota".to_string()));
    assert!(!listed.contains(&"OS::Compute::Hypervisor".to_string()));

    // Protected: even the admin cannot delete it.
    assert_eq!(
        svc.delete(ADMIN, "/v2/metadefs/namespaces/OS::Compute::Libvirt")
            .await,
        403
    );
    // A restart does not load the catalog twice.
    let (dir, url) = svc.stop().await;
    let svc = start_in(Default::default(), dir, url).await;
    let (_, v) = svc.get(ADMIN, "/v2/metadefs/namespaces").await;
    let listed = names(&v, "namespaces", "namespace");
    assert_eq!(
        listed
            .iter()
            .filter(|n| *n == "OS::Compute::Libvirt")
            .count(),
        1
    );
}

#[tokio::test]
async fn namespace_lifecycle_and_rules() {
    let svc = start().await;
    let body = json!({"namespace": "ns1", "visibility": "public", "description": "d",
        "display_name": "NS 1", "protected": true,
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "x_"}]});
    // Writes are admin-only.
    let (s, _) = svc
        .post(ALICE, "/v2/metadefs/namespaces", body.clone())
        .await;
    assert_eq!(s, 403);
    let (s, v) = svc
        .post(ADMIN, "/v2/metadefs/namespaces", body.clone())
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["namespace"], "ns1");
    assert_eq!(v["self"], "/v2/metadefs/namespaces/ns1");
    assert_eq!(v["owner"], P_ADMIN);
    assert_eq!(v["resource_type_associations"][0]["prefix"], "x_");
    let (s, _) = svc.post(ADMIN, "/v2/metadefs/namespaces", body).await;
    assert_eq!(s, 409);

    // Bad documents.
    for bad in [
        json!({}),
        json!({"namespace": "n", "visibility": "shared"}),
        json!({"namespace": "n", "protected": "yes"}),
        json!({"namespace": "n", "unknown": 1}),
        json!({"namespace": "x".repeat(81)}),
    ] {
        let (s, v) = svc.post(ADMIN, "/v2/metadefs/namespaces", bad).await;
        assert_eq!(s, 400, "{v}");
    }

    // A public namespace: others may read it but not change it.
    let (s, _) = svc.get(BOB, "/v2/metadefs/namespaces/ns1").await;
    assert_eq!(s, 200);
    let (s, _) = svc
        .put(
            BOB,
            "/v2/metadefs/namespaces/ns1",
            Some(json!({"namespace": "ns1"})),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(svc.delete(ADMIN, "/v2/metadefs/namespaces/ns1").await, 403);

    // Update: private, unprotected, renamed.
    let (s, v) = svc
        .put(
            ADMIN,
            "/v2/metadefs/namespaces/ns1",
            Some(
                json!({"namespace": "ns2", "visibility": "private", "protected": false,
                "description": "Tempest", "display_name": "ns2"}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["visibility"], "private");
    assert_eq!(v["protected"], false);
    assert_eq!(v["namespace"], "ns2");
    // PUT replaces: what the body leaves out is cleared.
    let (s, v) = svc
        .put(
            ADMIN,
            "/v2/metadefs/namespaces/ns2",
            Some(json!({"namespace": "ns2", "visibility": "private"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.get("description").is_none() && v.get("display_name").is_none(),
        "{v}"
    );
    // The associations followed the rename.
    assert_eq!(
        v["resource_type_associations"][0]["name"],
        "OS::Glance::Image"
    );
    let (s, _) = svc.get(ADMIN, "/v2/metadefs/namespaces/ns1").await;
    assert_eq!(s, 404);
    // Private: invisible to other projects (404, not 403), even to change it.
    let (s, v) = svc.get(BOB, "/v2/metadefs/namespaces/ns2").await;
    assert_eq!(s, 404);
    assert_eq!(
        v["message"],
        "Metadata definition namespace=ns2 was not found."
    );
    let (s, v) = svc
        .put(
            BOB,
            "/v2/metadefs/namespaces/ns2",
            Some(json!({"namespace": "ns2"})),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(v["message"], "Namespace ns2 not found");
    let (_, v) = svc.get(BOB, "/v2/metadefs/namespaces").await;
    assert!(!names(&v, "namespaces", "namespace").contains(&"ns2".to_string()));
    let (_, v) = svc
        .get(ADMIN, "/v2/metadefs/namespaces?visibility=private")
        .await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["ns2"]);
    let (s, _) = svc
        .get(ADMIN, "/v2/metadefs/namespaces?visibility=bogus")
        .await;
    assert_eq!(s, 400);

    assert_eq!(svc.delete(ADMIN, "/v2/metadefs/namespaces/ns2").await, 204);
    assert_eq!(svc.delete(ADMIN, "/v2/metadefs/namespaces/ns2").await, 404);
}

#[tokio::test]
async fn namespace_list_paginates() {
    let svc = start().await;
    for n in ["p1", "p2", "p3"] {
        let (s, _) = svc
            .post(
                ADMIN,
                "/v2/metadefs/namespaces",
                json!({"namespace": n, "visibility": "private"}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, v) = svc
        .get(
            ADMIN,
            "/v2/metadefs/namespaces?visibility=private&sort_key=namespace&sort_dir=asc&limit=2",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["p1", "p2"]);
    let next = v["next"].as_str().expect("next").to_string();
    let (_, v) = svc
        .get(
            ADMIN,
            &format!("{next}&visibility=private&sort_key=namespace&sort_dir=asc"),
        )
        .await;
    assert_eq!(names(&v, "namespaces", "namespace"), vec!["p3"]);
    let (s, _) = svc
        .get(ADMIN, "/v2/metadefs/namespaces?sort_key=nope")
        .await;
    assert_eq!(s, 400);
}

async fn namespace(svc: &Svc, name: &str) {
    let (s, v) = svc
        .post(
            ADMIN,
            "/v2/metadefs/namespaces",
            json!({"namespace": name, "visibility": "public"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test]
async fn objects_crud() {
    let svc = start().await;
    namespace(&svc, "ns").await;
    let base = "/v2/metadefs/namespaces/ns/objects";
    let obj = json!({"name": "o1", "description": "d", "required": ["p"],
        "properties": {"p": {"title": "P", "type": "integer", "minimum": 1}}});
    let (s, v) = svc.post(ALICE, base, obj.clone()).await;
    assert_eq!(s, 403);
    let (s, v2) = svc.post(ADMIN, base, obj.clone()).await;
    assert_eq!(s, 201, "{v} {v2}");
    assert_eq!(v2["self"], "/v2/metadefs/namespaces/ns/objects/o1");
    assert_eq!(v2["schema"], "/v2/schemas/metadefs/object");
    assert_eq!(v2["properties"]["p"]["minimum"], 1);
    let (s, _) = svc.post(ADMIN, base, obj).await;
    assert_eq!(s, 409);
    let (s, _) = svc
        .post(
            ADMIN,
            base,
            json!({"name": "bad", "properties": {"p": {"type": "string"}}}),
        )
        .await;
    assert_eq!(s, 400);

    let (s, v) = svc.get(BOB, &format!("{base}/o1")).await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "o1");
    let (s, v) = svc
        .put(ADMIN, &format!("{base}/o1"), Some(json!({"name": "o2"})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "o2");
    assert!(
        v.get("properties").is_none(),
        "PUT replaces the object: {v}"
    );
    let (_, v) = svc.get(ADMIN, base).await;
    assert_eq!(names(&v, "objects", "name"), vec!["o2"]);
    let (s, v) = svc.get(ADMIN, &format!("{base}/o1")).await;
    assert_eq!(s, 404);
    assert_eq!(
        v["message"],
        "The metadata definition object with name=o1 was not found in namespace=ns."
    );
    // The namespace's detail view carries its objects.
    let (_, v) = svc.get(ADMIN, "/v2/metadefs/namespaces/ns").await;
    assert_eq!(v["objects"][0]["name"], "o2");
    assert_eq!(svc.delete(ADMIN, &format!("{base}/o2")).await, 204);
    assert_eq!(svc.delete(ADMIN, &format!("{base}/o2")).await, 404);
    let (_, v) = svc.get(ADMIN, base).await;
    assert_eq!(v["objects"], json!([]));
}

#[tokio::test]
async fn properties_and_resource_type_associations() {
    let svc = start().await;
    namespace(&svc, "ns").await;
    let rt = "/v2/metadefs/namespaces/ns/resource_types";
    let (s, v) = svc
        .post(
            ADMIN,
            rt,
            json!({"name": "OS::Glance::Image", "prefix": "hw_"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["name"], "OS::Glance::Image");
    assert_eq!(v["prefix"], "hw_");
    let (s, _) = svc
        .post(ADMIN, rt, json!({"name": "OS::Glance::Image"}))
        .await;
    assert_eq!(s, 409);
    // An unknown resource type is registered on first use.
    let (s, _) = svc.post(ADMIN, rt, json!({"name": "Custom::Thing"})).await;
    assert_eq!(s, 201);
    let (_, v) = svc.get(ADMIN, "/v2/metadefs/resource_types").await;
    assert!(names(&v, "resource_types", "name").contains(&"Custom::Thing".to_string()));
    let (_, v) = svc.get(ADMIN, rt).await;
    assert_eq!(
        names(&v, "resource_type_associations", "name"),
        vec!["OS::Glance::Image", "Custom::Thing"]
    );

    let props = "/v2/metadefs/namespaces/ns/properties";
    let p = json!({"name": "OS::Glance::Image", "title": "T", "type": "string",
        "enum": ["kvm", "qemu"]});
    let (s, v) = svc.post(ADMIN, props, p.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["title"], "T");
    assert_eq!(v["name"], "OS::Glance::Image");
    let (s, _) = svc.post(ADMIN, props, p).await;
    assert_eq!(s, 409);
    let (s, _) = svc
        .post(ADMIN, props, json!({"name": "x", "type": "string"}))
        .await;
    assert_eq!(s, 400, "title is required");
    let (s, v) = svc.get(ADMIN, &format!("{props}/OS::Glance::Image")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["enum"], json!(["kvm", "qemu"]));
    let (s, v) = svc
        .put(
            ADMIN,
            &format!("{props}/OS::Glance::Image"),
            Some(json!({"name": "OS::Glance::Image", "title": "T2", "type": "string"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["title"], "T2");

    // `resource_type` lets a prefixed name find the property.
    let (s, _) = svc
        .post(
            ADMIN,
            props,
            json!({"name": "cpu", "title": "C", "type": "integer"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = svc
        .get(
            ADMIN,
            &format!("{props}/hw_cpu?resource_type=OS::Glance::Image"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "cpu");

    let (_, v) = svc.get(BOB, props).await;
    assert_eq!(v["properties"]["OS::Glance::Image"]["title"], "T2");
    assert_eq!(
        svc.delete(ADMIN, &format!("{props}/OS::Glance::Image"))
            .await,
        204
    );
    let (_, v) = svc.get(ADMIN, props).await;
    assert!(v["properties"].get("OS::Glance::Image").is_none());

    assert_eq!(
        svc.delete(ADMIN, &format!("{rt}/OS::Glance::Image")).await,
        204
    );
    assert_eq!(
        svc.delete(ADMIN, &format!("{rt}/OS::Glance::Image")).await,
        404
    );
    let (_, v) = svc.get(ADMIN, rt).await;
    assert_eq!(
        names(&v, "resource_type_associations", "name"),
        vec!["Custom::Thing"]
    );
    // Deleting the namespace removes its contents.
    assert_eq!(svc.delete(ADMIN, "/v2/metadefs/namespaces/ns").await, 204);
    namespace(&svc, "ns").await;
    let (_, v) = svc.get(ADMIN, props).await;
    assert_eq!(v["properties"], json!({}));
}

#[tokio::test]
async fn tags_crud() {
    let svc = start().await;
    namespace(&svc, "ns").await;
    let tags = "/v2/metadefs/namespaces/ns/tags";
    let body = json!({"tags": [{"name": "t1"}, {"name": "t2"}, {"name": "t3"}]});
    let (s, v) = svc.post(ADMIN, tags, body).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(names(&v, "tags", "name"), vec!["t1", "t2", "t3"]);
    let (_, v) = svc.get(BOB, tags).await;
    assert_eq!(names(&v, "tags", "name").len(), 3);
    // Replacing, then appending.
    let (s, _) = svc
        .post(ADMIN, tags, json!({"tags": [{"name": "a"}]}))
        .await;
    assert_eq!(s, 201);
    let r = svc
        .req(reqwest::Method::POST, Some(ADMIN), tags)
        .header("x-openstack-append", "True")
        .json(&json!({"tags": [{"name": "b"}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 201);
    let (_, v) = svc.get(ADMIN, tags).await;
    assert_eq!(names(&v, "tags", "name"), vec!["a", "b"]);
    let (s, _) = svc
        .post(ADMIN, tags, json!({"tags": [{"name": "x"}, {"name": "X"}]}))
        .await;
    assert_eq!(s, 409);

    // One tag.
    let (s, v) = svc
        .post(ADMIN, &format!("{tags}/single"), json!(null))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["name"], "single");
    let (s, _) = svc
        .post(ADMIN, &format!("{tags}/single"), json!(null))
        .await;
    assert_eq!(s, 409);
    let (s, v) = svc
        .post(ADMIN, &format!("{tags}/SINGLE"), json!(null))
        .await;
    assert_eq!(s, 409, "tag names are case-insensitive: {v}");
    let (s, v) = svc.get(ADMIN, &format!("{tags}/single")).await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "single");
    let (s, v) = svc
        .put(
            ADMIN,
            &format!("{tags}/single"),
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "renamed");
    let (s, _) = svc.get(ADMIN, &format!("{tags}/single")).await;
    assert_eq!(s, 404);
    assert_eq!(svc.delete(BOB, &format!("{tags}/renamed")).await, 403);
    assert_eq!(svc.delete(ADMIN, &format!("{tags}/renamed")).await, 204);
    assert_eq!(svc.delete(ADMIN, tags).await, 204);
    let (_, v) = svc.get(ADMIN, tags).await;
    assert_eq!(v["tags"], json!([]));
}

#[tokio::test]
async fn metadef_and_task_schemas() {
    let svc = start().await;
    for (path, name) in [
        ("namespace", "namespace"),
        ("namespaces", "namespaces"),
        ("resource_type", "resource_type_association"),
        ("resource_types", "resource_type_associations"),
        ("object", "object"),
        ("objects", "objects"),
        ("property", "property"),
        ("properties", "properties"),
        ("tag", "tag"),
        ("tags", "tags"),
    ] {
        let (s, v) = svc
            .get(ALICE_READER, &format!("/v2/schemas/metadefs/{path}"))
            .await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(v["name"], name);
    }
    let (s, _) = svc.get(ALICE, "/v2/schemas/metadefs/nope").await;
    assert_eq!(s, 404);
    let (_, v) = svc.get(ALICE, "/v2/schemas/task").await;
    assert_eq!(v["name"], "task");
    let (_, v) = svc.get(ALICE, "/v2/schemas/tasks").await;
    assert_eq!(v["name"], "tasks");
}

#[tokio::test]
async fn tasks_api() {
    let svc = start().await;
    let task = json!({"type": "import", "input": {"import_from": "http://127.0.0.1:9/x.qcow2",
        "import_from_format": "qcow2",
        "image_properties": {"name": "t", "disk_format": "qcow2", "container_format": "bare"}}});
    // Admin only.
    let (s, _) = svc.get(ALICE, "/v2/tasks").await;
    assert_eq!(s, 403);
    let (s, _) = svc.post(ALICE, "/v2/tasks", task.clone()).await;
    assert_eq!(s, 403);
    // An unreachable source is refused at once.
    let (s, v) = svc.post(ADMIN, "/v2/tasks", task).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = svc
        .post(ADMIN, "/v2/tasks", json!({"type": "clone", "input": {}}))
        .await;
    assert_eq!(s, 400);
    let (s, _) = svc
        .post(
            ADMIN,
            "/v2/tasks",
            json!({"type": "import", "input": {"import_from": "file:///etc/passwd",
                "import_from_format": "raw", "image_properties": {}}}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = svc.get(ADMIN, "/v2/tasks").await;
    assert_eq!(s, 200);
    assert_eq!(v["tasks"], json!([]));
    assert_eq!(v["schema"], "/v2/schemas/tasks");
    let (s, v) = svc
        .get(ADMIN, "/v2/tasks/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(s, 404, "{v}");
}

#[tokio::test]
async fn import_task_creates_the_image() {
    let svc = start().await;
    let served: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let expected = served.clone();
    let app = axum::Router::new().route(
        "/img",
        axum::routing::get(move || async move { served.clone() }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    let (s, t) = svc
        .post(
            ADMIN,
            "/v2/tasks",
            json!({"type": "import", "input": {"import_from": format!("http://{addr}/img"),
                "import_from_format": "raw",
                "image_properties": {"name": "from-task", "disk_format": "raw",
                    "container_format": "bare"}}}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["type"], "import");
    let id = t["id"].as_str().expect("id").to_string();
    let mut task = Value::Null;
    for _ in 0..100 {
        let (_, v) = svc.get(ADMIN, &format!("/v2/tasks/{id}")).await;
        if v["status"] == "success" || v["status"] == "failure" {
            task = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["self"], format!("/v2/tasks/{id}"));
    let image_id = task["result"]["image_id"].as_str().expect("image id");
    let img = svc.wait_status(ADMIN, image_id, "active").await;
    assert_eq!(img["name"], "from-task");
    assert_eq!(img["size"], 50_000);
    let (s, data) = svc.download(ADMIN, image_id).await;
    assert_eq!(s, 200);
    assert_eq!(data, expected);
    // Listed (without input/result), filterable by status.
    let (_, v) = svc.get(ADMIN, "/v2/tasks?status=success").await;
    assert_eq!(names(&v, "tasks", "id"), vec![id.clone()]);
    assert!(v["tasks"][0].get("input").is_none());
    let (_, v) = svc.get(ADMIN, "/v2/tasks?status=failure").await;
    assert_eq!(v["tasks"], json!([]));
}

#[tokio::test]
async fn delete_all_children_respects_protection() {
    let svc = start().await;
    let (s, _) = svc
        .post(
            ADMIN,
            "/v2/metadefs/namespaces",
            json!({"namespace": "full", "protected": true,
                "objects": [{"name": "o"}],
                "properties": {"p": {"title": "P", "type": "string"}},
                "tags": [{"name": "t"}]}),
        )
        .await;
    assert_eq!(s, 201);
    let base = "/v2/metadefs/namespaces/full";
    for child in ["objects", "properties", "tags"] {
        assert_eq!(svc.delete(ADMIN, &format!("{base}/{child}")).await, 403);
    }
    let (_, v) = svc.get(ADMIN, base).await;
    assert_eq!(v["objects"][0]["name"], "o");
    assert_eq!(v["properties"]["p"]["title"], "P");
    assert_eq!(v["tags"][0]["name"], "t");
    let (s, _) = svc
        .put(
            ADMIN,
            base,
            Some(json!({"namespace": "full", "protected": false})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(svc.delete(ALICE, &format!("{base}/objects")).await, 404);
    for child in ["objects", "properties", "tags"] {
        assert_eq!(svc.delete(ADMIN, &format!("{base}/{child}")).await, 204);
    }
    let (_, v) = svc.get(ADMIN, base).await;
    assert!(
        v.get("objects").is_none() && v.get("properties").is_none() && v.get("tags").is_none(),
        "{v}"
    );
}
