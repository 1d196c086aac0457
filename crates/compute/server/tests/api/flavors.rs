//! Flavors: shapes per microversion, admin-only writes, filters and pagination,
//! private flavors and access, extra specs.

use serde_json::{json, Value};

use crate::common::{api, fault, Api};

async fn mk(api: &Api, id: &str, name: &str, ram: i64, disk: i64, public: bool) -> Value {
    let (st, v) = api
        .post(
            "/v2.1/flavors",
            "admin",
            json!({"flavor": {"name": name, "id": id, "ram": ram, "vcpus": 1, "disk": disk,
                "os-flavor-access:is_public": public}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    v["flavor"].clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn create_show_list_shapes() {
    let api = api().await;
    let f = mk(&api, "10", "small", 512, 1, true).await;
    assert_eq!(
        keys(&f),
        vec![
            "OS-FLV-DISABLED:disabled",
            "OS-FLV-EXT-DATA:ephemeral",
            "disk",
            "id",
            "links",
            "name",
            "os-flavor-access:is_public",
            "ram",
            "rxtx_factor",
            "swap",
            "vcpus"
        ]
    );
    assert_eq!(f["swap"], "");
    assert_eq!(f["rxtx_factor"], 1.0);
    assert_eq!(
        f["links"][0]["href"],
        "http://compute.test:8774/v2.1/flavors/10"
    );
    assert_eq!(f["links"][1]["rel"], "bookmark");
    assert_eq!(f["links"][1]["href"], "http://compute.test:8774/flavors/10");

    let (st, v) = api.get("/v2.1/flavors/10", "alice").await;
    assert_eq!(st, 200);
    assert_eq!(v["flavor"], f);
    let (st, v) = api.get("/v2.1/flavors", "alice").await;
    assert_eq!(st, 200);
    assert_eq!(
        v["flavors"][0],
        json!({"id": "10", "name": "small", "links": f["links"]})
    );
    assert!(v.get("flavors_links").is_none());
    let (_, v) = api.get("/v2.1/flavors/detail", "alice").await;
    assert_eq!(v["flavors"][0], f);

    // Generated id; swap as an integer from 2.75; description at 2.55.
    let (st, v) = api
        .post(
            "/v2.1/flavors",
            "admin",
            json!({"flavor": {"name": "gen", "ram": "256", "vcpus": 2, "disk": 0, "swap": 0}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let id = v["flavor"]["id"].as_str().expect("id");
    assert_eq!(id.len(), 36);
    assert_eq!(v["flavor"]["ram"], 256);

    let (st, v) = api.get("/v2.1/flavors/nope", "alice").await;
    assert_eq!(st, 404);
    assert_eq!(fault(&v, "itemNotFound"), "Flavor nope could not be found.");
}

#[tokio::test]
async fn create_validation_conflicts_and_policy() {
    let api = api().await;
    mk(&api, "10", "small", 512, 1, true).await;
    let body = |name: &str, id: &str| json!({"flavor": {"name": name, "id": id, "ram": 1, "vcpus": 1, "disk": 1}});
    let (st, v) = api
        .post("/v2.1/flavors", "admin", body("small", "11"))
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        fault(&v, "conflictingRequest"),
        "Flavor with name small already exists."
    );
    let (st, v) = api
        .post("/v2.1/flavors", "admin", body("other", "10"))
        .await;
    assert_eq!(st, 409);
    assert_eq!(
        fault(&v, "conflictingRequest"),
        "Flavor with ID 10 already exists."
    );
    let (st, v) = api.post("/v2.1/flavors", "alice", body("x", "12")).await;
    assert_eq!(st, 403);
    assert_eq!(
        fault(&v, "forbidden"),
        "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
    );
    for bad in [
        json!({"flavor": {"name": "a", "ram": 0, "vcpus": 1, "disk": 1}}),
        json!({"flavor": {"name": "a", "ram": 1, "vcpus": -1, "disk": 1}}),
        json!({"flavor": {"name": "a", "ram": 1, "vcpus": 1}}),
        json!({"flavor": {"name": " a", "ram": 1, "vcpus": 1, "disk": 1}}),
        json!({"flavor": {"name": "a", "ram": "x", "vcpus": 1, "disk": 1}}),
        json!({"flavor": {"name": "a", "ram": 1, "vcpus": 1, "disk": 1, "rxtx_factor": 0}}),
        json!({"flavor": {"name": "a", "ram": 1, "vcpus": 1, "disk": 1, "bogus": 1}}),
        json!({"flavor": {"name": "a", "ram": 1, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": "maybe"}}),
        json!({"flavor": {"name": "a", "id": "bad/id", "ram": 1, "vcpus": 1, "disk": 1}}),
        json!({"flavour": {}}),
    ] {
        let (st, v) = api.post("/v2.1/flavors", "admin", bad.clone()).await;
        assert_eq!(st, 400, "{bad} -> {v}");
        assert!(!fault(&v, "badRequest").is_empty());
    }
    let (st, _) = api.delete("/v2.1/flavors/10", "alice").await;
    assert_eq!(st, 403);
    let (st, v) = api.delete("/v2.1/flavors/10", "admin").await;
    assert_eq!(st, 202, "{v}");
    let (st, _) = api.delete("/v2.1/flavors/10", "admin").await;
    assert_eq!(st, 404);
    // A numeric id (Nova's schema takes numbers too) is kept as its text.
    let (st, v) = api
        .post(
            "/v2.1/flavors",
            "admin",
            json!({"flavor": {"name": "num", "id": 4242, "ram": 1, "vcpus": 1, "disk": 1}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["flavor"]["id"], "4242");
}

#[tokio::test]
async fn filters_sorting_and_pagination() {
    let api = api().await;
    mk(&api, "1", "a", 512, 1, true).await;
    mk(&api, "2", "b", 2048, 20, true).await;
    mk(&api, "3", "c", 4096, 40, true).await;
    let ids = |v: &Value| -> Vec<String> {
        v["flavors"]
            .as_array()
            .expect("flavors")
            .iter()
            .map(|f| f["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (_, v) = api.get("/v2.1/flavors?minRam=2048", "alice").await;
    assert_eq!(ids(&v), ["2", "3"]);
    let (_, v) = api.get("/v2.1/flavors?minDisk=40", "alice").await;
    assert_eq!(ids(&v), ["3"]);
    let (_, v) = api
        .get("/v2.1/flavors?sort_key=memory_mb&sort_dir=desc", "alice")
        .await;
    assert_eq!(ids(&v), ["3", "2", "1"]);
    let (_, v) = api.get("/v2.1/flavors?limit=2", "alice").await;
    assert_eq!(ids(&v), ["1", "2"]);
    assert_eq!(
        v["flavors_links"][0]["href"],
        "http://compute.test:8774/v2.1/flavors?limit=2&marker=2"
    );
    let (_, v) = api
        .get("/v2.1/flavors/detail?limit=2&marker=2", "alice")
        .await;
    assert_eq!(ids(&v), ["3"]);
    assert!(v.get("flavors_links").is_none());
    for bad in [
        "minRam=abc",
        "minDisk=x",
        "limit=-1",
        "limit=x",
        "marker=missing",
        "sort_key=bogus",
        "sort_dir=up",
        "is_public=maybe",
    ] {
        let (st, v) = api.get(&format!("/v2.1/flavors?{bad}"), "alice").await;
        assert_eq!(st, 400, "{bad}: {v}");
    }
}

#[tokio::test]
async fn private_flavors_and_access() {
    let api = api().await;
    mk(&api, "pub", "public", 512, 1, true).await;
    mk(&api, "priv", "private", 512, 1, false).await;
    let ids = |v: &Value| -> Vec<String> {
        v["flavors"]
            .as_array()
            .expect("flavors")
            .iter()
            .map(|f| f["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (_, v) = api.get("/v2.1/flavors", "alice").await;
    assert_eq!(ids(&v), ["pub"]);
    let (_, v) = api.get("/v2.1/flavors", "admin").await;
    assert_eq!(ids(&v), ["pub"]);
    let (_, v) = api.get("/v2.1/flavors?is_public=false", "admin").await;
    assert_eq!(ids(&v), ["priv"]);
    let (_, v) = api.get("/v2.1/flavors?is_public=None", "admin").await;
    assert_eq!(ids(&v), ["priv", "pub"]);

    let (st, v) = api
        .get("/v2.1/flavors/priv/os-flavor-access", "admin")
        .await;
    assert_eq!((st, v), (200, json!({"flavor_access": []})));
    let (st, v) = api.get("/v2.1/flavors/pub/os-flavor-access", "admin").await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        "Access list not available for public flavors."
    );
    let (st, _) = api
        .get("/v2.1/flavors/priv/os-flavor-access", "alice")
        .await;
    assert_eq!(st, 403);

    let add = json!({"addTenantAccess": {"tenant": "p1"}});
    let (st, _) = api
        .post("/v2.1/flavors/priv/action", "alice", add.clone())
        .await;
    assert_eq!(st, 403);
    let (st, v) = api
        .post("/v2.1/flavors/priv/action", "admin", add.clone())
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"flavor_access": [{"flavor_id": "priv", "tenant_id": "p1"}]})
    );
    let (st, _) = api
        .post("/v2.1/flavors/priv/action", "admin", add.clone())
        .await;
    assert_eq!(st, 409);
    // 2.7 refuses access to public flavors.
    api.compute.serve_microversions_up_to_for_tests(104);
    let (st, _) = api
        .call_v(
            "2.7",
            "POST",
            "/v2.1/flavors/pub/action",
            "admin",
            Some(add.clone()),
        )
        .await;
    assert_eq!(st, 409);

    let (_, v) = api.get("/v2.1/flavors", "alice").await;
    assert_eq!(ids(&v), ["priv", "pub"]);
    let (_, v) = api.get("/v2.1/flavors", "bob").await;
    assert_eq!(ids(&v), ["pub"]);

    let rm = json!({"removeTenantAccess": {"tenant": "p1"}});
    let (st, v) = api
        .post("/v2.1/flavors/priv/action", "admin", rm.clone())
        .await;
    assert_eq!((st, v), (200, json!({"flavor_access": []})));
    let (st, v) = api.post("/v2.1/flavors/priv/action", "admin", rm).await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        "Flavor access not found for priv / p1 combination."
    );
}

#[tokio::test]
async fn extra_specs() {
    let api = api().await;
    mk(&api, "1", "a", 512, 1, true).await;
    let base = "/v2.1/flavors/1/os-extra_specs";
    let (st, v) = api.get(base, "alice").await;
    assert_eq!((st, v), (200, json!({"extra_specs": {}})));
    let specs = json!({"extra_specs": {"hw:cpu_policy": "shared", "n": 1, "b": true}});
    let (st, _) = api.post(base, "alice", specs.clone()).await;
    assert_eq!(st, 403);
    let (st, v) = api.post(base, "admin", specs).await;
    assert_eq!(st, 200);
    assert_eq!(v["extra_specs"]["n"], "1");
    assert_eq!(v["extra_specs"]["b"], "True");
    let (st, v) = api.get(&format!("{base}/hw:cpu_policy"), "alice").await;
    assert_eq!((st, v), (200, json!({"hw:cpu_policy": "shared"})));
    let (st, v) = api
        .put(&format!("{base}/n"), "admin", json!({"n": "2"}))
        .await;
    assert_eq!((st, v), (200, json!({"n": "2"})));
    let (st, _) = api
        .put(&format!("{base}/n"), "admin", json!({"m": "2"}))
        .await;
    assert_eq!(st, 400);
    let (st, _) = api
        .put(&format!("{base}/n"), "admin", json!({"n": "2", "m": "3"}))
        .await;
    assert_eq!(st, 400);
    let (st, _) = api
        .post(base, "admin", json!({"extra_specs": {"bad/key": "x"}}))
        .await;
    assert_eq!(st, 400);
    let (st, _) = api.delete(&format!("{base}/n"), "admin").await;
    assert_eq!(st, 200);
    let (st, v) = api.get(&format!("{base}/n"), "alice").await;
    assert_eq!(st, 404);
    assert_eq!(
        fault(&v, "itemNotFound"),
        "Flavor 1 has no extra specs with key n."
    );
    let (st, _) = api.get("/v2.1/flavors/none/os-extra_specs", "alice").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn bootstrap_flavors_are_idempotent() {
    let api = api().await;
    let fl = rustack_compute_server::app::flavor::bootstrap_flavors();
    assert_eq!(api.compute.ensure_flavors(&fl).await.expect("ensure"), 7);
    assert_eq!(api.compute.ensure_flavors(&fl).await.expect("again"), 0);
    let (_, v) = api.get("/v2.1/flavors/42", "alice").await;
    assert_eq!(v["flavor"]["name"], "rustack.nano");
    assert_eq!(v["flavor"]["ram"], 128);
    let (_, v) = api.get("/v2.1/flavors/84", "alice").await;
    assert_eq!(v["flavor"]["ram"], 192);
    assert_eq!(v["flavor"]["disk"], 2);
}
