//! CRUD and list filters for domains, projects, users, groups, roles, implied roles,
//! grants, role assignments, the catalog and credentials.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

fn ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn domains_crud_and_delete_rules() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c
        .call(
            Method::POST,
            "/v3/domains",
            Some(&a),
            Some(json!({"domain": {"name": "acme", "description": "d", "tags": ["x"]}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let d = r.body["domain"].clone();
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["enabled"], true);
    assert!(d["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v3/domains/{id}")));
    let r = c
        .call(
            Method::POST,
            "/v3/domains",
            Some(&a),
            Some(json!({"domain": {"name": "acme"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = c
        .call(Method::GET, "/v3/domains?name=acme", Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "domains"), vec![id.clone()]);
    // Enabled domains cannot be deleted.
    let r = c
        .call(Method::DELETE, &format!("/v3/domains/{id}"), Some(&a), None)
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/domains/{id}"),
            Some(&a),
            Some(json!({"domain": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.body["domain"]["enabled"], false);
    let r = c
        .call(Method::DELETE, &format!("/v3/domains/{id}"), Some(&a), None)
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .call(Method::GET, &format!("/v3/domains/{id}"), Some(&a), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["error"]["message"],
        format!("Could not find domain: {id}.")
    );
}

#[tokio::test]
async fn projects_hierarchy_tags_and_filters() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let parent = c.create_project(&a, "parent").await;
    let r = c.call(Method::POST, "/v3/projects", Some(&a), Some(json!({"project": {"name": "child", "parent_id": parent, "tags": ["blue", "green"], "extra_attr": 7}}))).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let child = r.body["project"].clone();
    assert_eq!(child["parent_id"], parent.as_str());
    assert_eq!(child["domain_id"], "default");
    assert_eq!(
        child["extra_attr"], 7,
        "extra attributes are kept as in Keystone"
    );
    let cid = child["id"].as_str().unwrap().to_string();
    let r = c
        .call(
            Method::GET,
            &format!("/v3/projects?parent_id={parent}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![cid.clone()]);
    let r = c
        .call(Method::GET, "/v3/projects?tags=blue,green", Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![cid.clone()]);
    let r = c
        .call(
            Method::GET,
            "/v3/projects?tags-any=green,red",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![cid.clone()]);
    let r = c
        .call(
            Method::GET,
            "/v3/projects?not-tags-any=blue",
            Some(&a),
            None,
        )
        .await;
    assert!(!ids(&r.body, "projects").contains(&cid));
    let r = c
        .call(
            Method::GET,
            "/v3/projects?name__startswith=chi",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![cid.clone()]);
    // Parent lookups.
    let r = c
        .call(
            Method::GET,
            &format!("/v3/projects/{cid}?parents_as_ids"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.body["project"]["parents"],
        json!({ parent.clone(): null })
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/projects/{parent}?subtree_as_list"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.body["project"]["subtree"][0]["project"]["id"],
        cid.as_str()
    );
    // Tags API.
    let r = c
        .call(
            Method::PUT,
            &format!("/v3/projects/{cid}/tags/red"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/projects/{cid}/tags"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["tags"], json!(["blue", "green", "red"]));
    let r = c
        .call(
            Method::HEAD,
            &format!("/v3/projects/{cid}/tags/nope"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = c
        .call(
            Method::PUT,
            &format!("/v3/projects/{cid}/tags"),
            Some(&a),
            Some(json!({"tags": ["a,b"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    // Non-leaf projects cannot be deleted.
    let r = c
        .call(
            Method::DELETE,
            &format!("/v3/projects/{parent}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    // Duplicate name in the domain.
    let r = c
        .call(
            Method::POST,
            "/v3/projects",
            Some(&a),
            Some(json!({"project": {"name": "parent"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    // Disabled filter and update.
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/projects/{cid}"),
            Some(&a),
            Some(json!({"project": {"enabled": false, "description": "off"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .call(Method::GET, "/v3/projects?enabled=false", Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![cid.clone()]);
    let r = c
        .call(
            Method::DELETE,
            &format!("/v3/projects/{cid}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .call(
            Method::DELETE,
            &format!("/v3/projects/{parent}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn users_groups_and_membership() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c.call(Method::POST, "/v3/users", Some(&a), Some(json!({"user": {"name": "ivy", "password": "p", "email": "ivy@example.org", "description": "d"}}))).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let u = r.body["user"].clone();
    assert_eq!(u["email"], "ivy@example.org");
    assert!(u.get("password").is_none(), "password never rendered");
    assert_eq!(u["password_expires_at"], Value::Null);
    let uid = u["id"].as_str().unwrap().to_string();
    let r = c
        .call(
            Method::POST,
            "/v3/users",
            Some(&a),
            Some(json!({"user": {"name": "ivy"}})),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = c
        .call(Method::GET, "/v3/users?name=ivy", Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "users"), vec![uid.clone()]);

    let r = c
        .call(
            Method::POST,
            "/v3/groups",
            Some(&a),
            Some(json!({"group": {"name": "ops", "description": "operators"}})),
        )
        .await;
    assert_eq!(r.status, 201);
    let gid = r.body["group"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.call(
            Method::HEAD,
            &format!("/v3/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        c.call(
            Method::PUT,
            &format!("/v3/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.call(
            Method::HEAD,
            &format!("/v3/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/groups/{gid}/users"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "users"), vec![uid.clone()]);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/groups"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "groups"), vec![gid.clone()]);

    // A group grant gives the member a project role.
    let p = c.create_project(&a, "ops-project").await;
    let member = c.role_id(&a, "member").await;
    assert_eq!(
        c.call(
            Method::PUT,
            &format!("/v3/projects/{p}/groups/{gid}/roles/{member}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .password_token(&uid, "p", Some(json!({"project": {"id": p}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/projects"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![p.clone()]);
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/groups/{gid}/users/{uid}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .password_token(&uid, "p", Some(json!({"project": {"id": p}})))
        .await;
    assert_eq!(r.status, 401, "membership removed");
    assert_eq!(
        c.call(Method::DELETE, &format!("/v3/groups/{gid}"), Some(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::DELETE, &format!("/v3/users/{uid}"), Some(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("/v3/users/{uid}"), Some(&a), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn roles_implied_roles_and_assignments() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c.call(Method::GET, "/v3/roles", Some(&a), None).await;
    let mut n = names(&r.body, "roles");
    n.sort();
    assert_eq!(n, vec!["admin", "manager", "member", "reader", "service"]);
    let r = c
        .call(
            Method::POST,
            "/v3/roles",
            Some(&a),
            Some(json!({"role": {"name": "auditor"}})),
        )
        .await;
    assert_eq!(r.status, 201);
    let auditor = r.body["role"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        c.call(
            Method::POST,
            "/v3/roles",
            Some(&a),
            Some(json!({"role": {"name": "auditor"}}))
        )
        .await
        .status,
        409
    );
    let reader = c.role_id(&a, "reader").await;
    let r = c
        .call(
            Method::PUT,
            &format!("/v3/roles/{auditor}/implies/{reader}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(r.body["role_inference"]["implies"]["id"], reader.as_str());
    // A loop is refused.
    let admin_role = c.role_id(&a, "admin").await;
    let r = c
        .call(
            Method::PUT,
            &format!("/v3/roles/{reader}/implies/{admin_role}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .call(Method::GET, "/v3/role_inferences", Some(&a), None)
        .await;
    assert!(r.body["role_inferences"].as_array().unwrap().len() >= 3);

    let (uid, p, _) = c.persona(&a, "jack", "member", None).await;
    assert_eq!(
        c.call(
            Method::PUT,
            &format!("/v3/projects/{p}/users/{uid}/roles/{auditor}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.call(
            Method::HEAD,
            &format!("/v3/projects/{p}/users/{uid}/roles/{auditor}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/projects/{p}/users/{uid}/roles"),
            Some(&a),
            None,
        )
        .await;
    let mut n = names(&r.body, "roles");
    n.sort();
    assert_eq!(n, vec!["auditor", "member"]);

    // Direct assignments.
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?user.id={uid}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.body["role_assignments"].as_array().unwrap().len(), 2);
    // Effective with names: implied reader appears, with names filled in.
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?user.id={uid}&effective&include_names"),
            Some(&a),
            None,
        )
        .await;
    let ra = r.body["role_assignments"].as_array().unwrap();
    let mut roles: Vec<&str> = ra
        .iter()
        .map(|x| x["role"]["name"].as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(roles, vec!["auditor", "member", "reader"]);
    assert_eq!(ra[0]["user"]["name"], "jack");
    assert_eq!(ra[0]["scope"]["project"]["domain"]["name"], "Default");
    assert!(ra[0]["links"]["assignment"]
        .as_str()
        .unwrap()
        .contains(&format!("/v3/projects/{p}/users/{uid}/roles/")));
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?scope.project.id={p}&role.id={auditor}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["role_assignments"].as_array().unwrap().len(), 1);
    let r = c
        .call(
            Method::GET,
            "/v3/role_assignments?scope.system=all",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.body["role_assignments"][0]["scope"]["system"]["all"],
        true
    );
    let r = c
        .call(
            Method::GET,
            "/v3/role_assignments?effective&group.id=x",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 400);

    // Inherited domain grant reaches every project in the domain.
    let (u2, _, _) = c.persona(&a, "kate", "reader", None).await;
    let other = c.create_project(&a, "inherited-target").await;
    let r = c
        .call(
            Method::PUT,
            &format!(
                "/v3/OS-INHERIT/domains/default/users/{u2}/roles/{auditor}/inherited_to_projects"
            ),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .password_token(&u2, "pw-secret", Some(json!({"project": {"id": other}})))
        .await;
    assert_eq!(r.status, 201, "inherited role allows scoping: {}", r.raw);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?user.id={u2}&scope.OS-INHERIT:inherited_to=projects"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.body["role_assignments"][0]["scope"]["OS-INHERIT:inherited_to"],
        "projects"
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?user.id={u2}&effective&scope.project.id={other}"),
            Some(&a),
            None,
        )
        .await;
    assert!(!r.body["role_assignments"].as_array().unwrap().is_empty());

    // Deleting a role removes its assignments.
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/roles/{auditor}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?role.id={auditor}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["role_assignments"], json!([]));
}

#[tokio::test]
async fn catalog_regions_services_endpoints() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c.call(Method::GET, "/v3/regions", Some(&a), None).await;
    assert_eq!(ids(&r.body, "regions"), vec!["RegionOne".to_string()]);
    let r = c
        .call(
            Method::POST,
            "/v3/regions",
            Some(&a),
            Some(json!({"region": {"id": "RegionTwo", "description": "second"}})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        c.call(
            Method::POST,
            "/v3/regions",
            Some(&a),
            Some(json!({"region": {"id": "RegionTwo"}}))
        )
        .await
        .status,
        409
    );
    let r = c.call(Method::POST, "/v3/services", Some(&a), Some(json!({"service": {"type": "object-store", "name": "swift", "description": "objects"}}))).await;
    assert_eq!(r.status, 201);
    let sid = r.body["service"]["id"].as_str().unwrap().to_string();
    let r = c
        .call(Method::POST, "/v3/endpoints", Some(&a), Some(json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://127.0.0.1:8080/v1/AUTH_$(project_id)s", "region_id": "RegionTwo"}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let eid = r.body["endpoint"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["endpoint"]["region"], "RegionTwo");
    let r = c.call(Method::POST, "/v3/endpoints", Some(&a), Some(json!({"endpoint": {"service_id": sid, "interface": "sideways", "url": "http://x"}}))).await;
    assert_eq!(r.status, 400);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/endpoints?service_id={sid}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "endpoints"), vec![eid.clone()]);
    // The project-scoped catalog fills the project id in.
    let r = c
        .call(Method::GET, "/v3/auth/catalog", Some(&a), None)
        .await;
    let swift = r.body["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "object-store")
        .unwrap()
        .clone();
    let url = swift["endpoints"][0]["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:8080/v1/AUTH_") && !url.contains("$("),
        "{url}"
    );
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/endpoints/{eid}"),
            Some(&a),
            Some(json!({"endpoint": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.body["endpoint"]["enabled"], false);
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/services/{sid}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("/v3/endpoints/{eid}"), Some(&a), None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.call(Method::DELETE, "/v3/regions/RegionTwo", Some(&a), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn ec2_credentials() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let (uid, p, tok) = c.persona(&a, "lena", "member", None).await;
    let blob = json!({"access": "AKIA123", "secret": "s"}).to_string();
    let r = c.call(Method::POST, "/v3/credentials", Some(&tok), Some(json!({"credential": {"user_id": uid, "project_id": p, "type": "ec2", "blob": blob}}))).await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let id = r.body["credential"]["id"].as_str().unwrap().to_string();
    // Keystone's ec2 credential id: sha256 of the access key.
    use sha2::Digest;
    assert_eq!(id, hex::encode(sha2::Sha256::digest(b"AKIA123")));
    let r = c
        .call(Method::GET, "/v3/credentials", Some(&tok), None)
        .await;
    assert_eq!(ids(&r.body, "credentials"), vec![id.clone()]);
    let (_, _, other) = c.persona(&a, "mike", "member", None).await;
    let r = c
        .call(Method::GET, "/v3/credentials", Some(&other), None)
        .await;
    assert_eq!(
        r.body["credentials"],
        json!([]),
        "others' credentials are filtered out"
    );
    assert_eq!(
        c.call(
            Method::GET,
            &format!("/v3/credentials/{id}"),
            Some(&other),
            None
        )
        .await
        .status,
        403
    );
    let r = c
        .call(
            Method::POST,
            "/v3/credentials",
            Some(&tok),
            Some(json!({"credential": {"user_id": uid, "type": "ec2", "blob": "{}"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/credentials/{id}"),
            Some(&tok),
            None
        )
        .await
        .status,
        204
    );
}

/// Domain-specific roles never show up in tokens or effective assignments themselves;
/// the global roles they imply do (Tempest test_assignments_for_domain_roles).
#[tokio::test]
async fn domain_roles_act_only_through_implied_roles() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c
        .call(
            Method::POST,
            "/v3/roles",
            Some(&a),
            Some(json!({"role": {"name": "dr", "domain_id": "default"}})),
        )
        .await;
    let dr = r.body["role"]["id"].as_str().unwrap().to_string();
    let (uid, p, _) = c.persona(&a, "dr-user", "reader", None).await;
    assert_eq!(
        c.call(
            Method::PUT,
            &format!("/v3/projects/{p}/users/{uid}/roles/{dr}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/role_assignments?effective&user.id={uid}&scope.project.id={p}"),
            Some(&a),
            None,
        )
        .await;
    let roles: Vec<&str> = r.body["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["role"]["id"].as_str().unwrap())
        .collect();
    assert!(!roles.contains(&dr.as_str()));
    // The domain role implies member: the token carries member, not the domain role.
    let member = c.role_id(&a, "member").await;
    assert_eq!(
        c.call(
            Method::PUT,
            &format!("/v3/roles/{dr}/implies/{member}"),
            Some(&a),
            None
        )
        .await
        .status,
        201
    );
    let r = c
        .password_token(&uid, "pw-secret", Some(json!({"project": {"id": p}})))
        .await;
    let names: Vec<&str> = r.body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"member") && !names.contains(&"dr"),
        "{names:?}"
    );
    // Updating an endpoint to a region that does not exist yet creates it.
    let sid = c
        .call(
            Method::POST,
            "/v3/services",
            Some(&a),
            Some(json!({"service": {"type": "x"}})),
        )
        .await
        .body["service"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .call(
            Method::POST,
            "/v3/endpoints",
            Some(&a),
            Some(
                json!({"endpoint": {"service_id": sid, "interface": "public", "url": "http://h/"}}),
            ),
        )
        .await;
    let eid = r.body["endpoint"]["id"].as_str().unwrap().to_string();
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/endpoints/{eid}"),
            Some(&a),
            Some(json!({"endpoint": {"region": "brand-new"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(
        c.call(Method::GET, "/v3/regions/brand-new", Some(&a), None)
            .await
            .status,
        200
    );
}
