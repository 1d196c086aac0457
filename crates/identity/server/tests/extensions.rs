//! The Keystone extensions beyond the core resources: policies and OS-ENDPOINT-POLICY,
//! OAuth1 consumers, OS-EC2 credentials, OS-EP-FILTER (endpoint groups, project
//! associations and the catalog filtering they imply), domain configs, projects acting
//! as domains, and application credential access rules.

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

fn id_of(v: &Value, key: &str) -> String {
    v[key]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn policies_crud_and_endpoint_associations() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c
        .call(
            Method::POST,
            "/v3/policies",
            Some(&a),
            Some(
                json!({"policy": {"blob": "{\"a\": 1}", "type": "application/json", "note": "x"}}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let p = r.body["policy"].clone();
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["blob"], "{\"a\": 1}");
    assert_eq!(p["note"], "x", "extra attributes are kept");
    let r = c
        .call(
            Method::POST,
            "/v3/policies",
            Some(&a),
            Some(json!({"policy": {"type": "t"}})),
        )
        .await;
    assert_eq!(r.status, 400, "blob is required: {}", r.raw);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/policies/{pid}"),
            Some(&a),
            Some(json!({"policy": {"type": "text/plain"}})),
        )
        .await;
    assert_eq!(r.body["policy"]["type"], "text/plain");
    assert_eq!(r.body["policy"]["blob"], "{\"a\": 1}");
    let r = c
        .call(Method::GET, "/v3/policies?type=text/plain", Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "policies"), vec![pid.clone()]);

    // A service with an endpoint: the policy reaches the endpoint through its service,
    // and an endpoint association takes precedence.
    let svc = id_of(
        &c.call(
            Method::POST,
            "/v3/services",
            Some(&a),
            Some(json!({"service": {"type": "pol-svc"}})),
        )
        .await
        .body,
        "service",
    );
    let ep = id_of(
        &c.call(Method::POST, "/v3/endpoints", Some(&a), Some(json!({"endpoint": {"service_id": svc, "interface": "public", "url": "http://127.0.0.1:9/"}}))).await.body,
        "endpoint",
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/endpoints/{ep}/OS-ENDPOINT-POLICY/policy"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "no association yet: {}", r.raw);
    let svc_path = format!("/v3/policies/{pid}/OS-ENDPOINT-POLICY/services/{svc}");
    assert_eq!(
        c.call(Method::GET, &svc_path, Some(&a), None).await.status,
        404
    );
    assert_eq!(
        c.call(Method::PUT, &svc_path, Some(&a), None).await.status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &svc_path, Some(&a), None).await.status,
        204
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/endpoints/{ep}/OS-ENDPOINT-POLICY/policy"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["policy"]["id"], pid.as_str(), "{}", r.raw);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/policies/{pid}/OS-ENDPOINT-POLICY/endpoints"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "endpoints"), vec![ep.clone()]);
    let other = id_of(
        &c.call(
            Method::POST,
            "/v3/policies",
            Some(&a),
            Some(json!({"policy": {"blob": "b", "type": "t"}})),
        )
        .await
        .body,
        "policy",
    );
    let ep_path = format!("/v3/policies/{other}/OS-ENDPOINT-POLICY/endpoints/{ep}");
    assert_eq!(
        c.call(Method::PUT, &ep_path, Some(&a), None).await.status,
        204
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/endpoints/{ep}/OS-ENDPOINT-POLICY/policy"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["policy"]["id"], other.as_str());
    let r = c
        .call(
            Method::PUT,
            &format!("/v3/policies/{pid}/OS-ENDPOINT-POLICY/endpoints/nope"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 404, "unknown endpoint: {}", r.raw);
    assert_eq!(
        c.call(Method::DELETE, &ep_path, Some(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::DELETE, &ep_path, Some(&a), None)
            .await
            .status,
        404
    );

    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/policies/{pid}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .call(Method::GET, &format!("/v3/policies/{pid}"), Some(&a), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["error"]["message"],
        format!("Could not find policy: {pid}.")
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/endpoints/{ep}/OS-ENDPOINT-POLICY/policy"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.status, 404,
        "the deleted policy's associations went with it"
    );
}

#[tokio::test]
async fn oauth1_consumers_crud() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c
        .call(
            Method::POST,
            "/v3/OS-OAUTH1/consumers",
            Some(&a),
            Some(json!({"consumer": {"description": "d1"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let cons = r.body["consumer"].clone();
    let id = cons["id"].as_str().unwrap().to_string();
    assert!(
        !cons["secret"].as_str().unwrap().is_empty(),
        "the secret is shown on create"
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/OS-OAUTH1/consumers/{id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["consumer"]["description"], "d1");
    assert!(r.body["consumer"].get("secret").is_none(), "and only then");
    assert_eq!(r.body["consumer"]["links"], cons["links"]);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/OS-OAUTH1/consumers/{id}"),
            Some(&a),
            Some(json!({"consumer": {"secret": "x"}})),
        )
        .await;
    assert_eq!(r.status, 400, "the secret cannot change: {}", r.raw);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/OS-OAUTH1/consumers/{id}"),
            Some(&a),
            Some(json!({"consumer": {"description": "d2"}})),
        )
        .await;
    assert_eq!(r.body["consumer"]["description"], "d2");
    let r = c
        .call(Method::GET, "/v3/OS-OAUTH1/consumers", Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "consumers"), vec![id.clone()]);
    let (_, _, member) = c.persona(&a, "cons-member", "member", None).await;
    let r = c
        .call(Method::GET, "/v3/OS-OAUTH1/consumers", Some(&member), None)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/OS-OAUTH1/consumers/{id}"),
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
            &format!("/v3/OS-OAUTH1/consumers/{id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn ec2_credentials_of_a_member() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let (uid, pid, tok) = c.persona(&a, "ec2-member", "member", None).await;
    let (other, _, otok) = c.persona(&a, "ec2-other", "member", None).await;
    let base = format!("/v3/users/{uid}/credentials/OS-EC2");
    let r = c
        .call(
            Method::POST,
            &base,
            Some(&tok),
            Some(json!({"tenant_id": pid})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let cred = r.body["credential"].clone();
    let access = cred["access"].as_str().unwrap().to_string();
    assert!(!cred["secret"].as_str().unwrap().is_empty());
    assert_eq!(cred["user_id"], uid.as_str());
    assert_eq!(cred["tenant_id"], pid.as_str());
    assert!(cred["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{base}/{access}")));
    let r = c
        .call(
            Method::POST,
            &base,
            Some(&tok),
            Some(json!({"tenant_id": "nope"})),
        )
        .await;
    assert_eq!(r.status, 404, "unknown project: {}", r.raw);
    let r = c
        .call(Method::GET, &format!("{base}/{access}"), Some(&tok), None)
        .await;
    assert_eq!(r.body["credential"]["secret"], cred["secret"]);
    let r = c.call(Method::GET, &base, Some(&tok), None).await;
    let listed: Vec<&str> = r.body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["access"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![access.as_str()]);
    // The same credential through /v3/credentials, keyed as Keystone keys it.
    let r = c
        .call(Method::GET, "/v3/credentials?type=ec2", Some(&tok), None)
        .await;
    assert_eq!(
        r.body["credentials"].as_array().unwrap().len(),
        1,
        "{}",
        r.raw
    );
    // Another member can neither see nor create them.
    let r = c
        .call(Method::GET, &format!("{base}/{access}"), Some(&otok), None)
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .call(
            Method::POST,
            &base,
            Some(&otok),
            Some(json!({"tenant_id": pid})),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/users/{other}/credentials/OS-EC2/{access}"),
            Some(&otok),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "the credential's owner decides: {}", r.raw);
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("{base}/{access}"),
            Some(&tok),
            None
        )
        .await
        .status,
        204
    );
    let r = c
        .call(Method::GET, &format!("{base}/{access}"), Some(&tok), None)
        .await;
    assert_eq!(r.status, 404);
}

/// The service names in a token's catalog.
async fn catalog_types(c: &TestCloud, uid: &str, pid: &str) -> Vec<String> {
    let r = c
        .password_token(uid, "pw-secret", Some(json!({"project": {"id": pid}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    r.body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn endpoint_filter_groups_projects_and_catalog() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let (uid, pid, _) = c.persona(&a, "epf-member", "member", None).await;
    let full = catalog_types(&c, &uid, &pid).await;
    assert!(full.contains(&"identity".to_string()), "{full:?}");
    let svc = id_of(
        &c.call(
            Method::POST,
            "/v3/services",
            Some(&a),
            Some(json!({"service": {"type": "epf-svc"}})),
        )
        .await
        .body,
        "service",
    );
    let ep = id_of(
        &c.call(Method::POST, "/v3/endpoints", Some(&a), Some(json!({"endpoint": {"service_id": svc, "interface": "public", "url": "http://127.0.0.1:9/"}}))).await.body,
        "endpoint",
    );
    // Groups: filters are required and limited to Keystone's keys.
    let g = "/v3/OS-EP-FILTER/endpoint_groups";
    let r = c
        .call(
            Method::POST,
            g,
            Some(&a),
            Some(json!({"endpoint_group": {"name": "g", "filters": {}}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    let r = c
        .call(
            Method::POST,
            g,
            Some(&a),
            Some(json!({"endpoint_group": {"name": "g", "filters": {"url": "x"}}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    let r = c
        .call(Method::POST, g, Some(&a), Some(json!({"endpoint_group": {"name": "g", "description": "d", "filters": {"service_id": svc}}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let gid = id_of(&r.body, "endpoint_group");
    assert_eq!(
        r.body["endpoint_group"]["filters"]["service_id"],
        svc.as_str()
    );
    let r = c
        .call(Method::GET, &format!("{g}/{gid}/endpoints"), Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "endpoints"), vec![ep.clone()]);
    assert_eq!(
        c.call(Method::HEAD, &format!("{g}/{gid}"), Some(&a), None)
            .await
            .status,
        200
    );

    // Associating the group filters the project's catalog down to its endpoints.
    let gp = format!("{g}/{gid}/projects/{pid}");
    assert_eq!(c.call(Method::GET, &gp, Some(&a), None).await.status, 404);
    assert_eq!(c.call(Method::PUT, &gp, Some(&a), None).await.status, 204);
    assert_eq!(c.call(Method::PUT, &gp, Some(&a), None).await.status, 409);
    let r = c.call(Method::GET, &gp, Some(&a), None).await;
    assert_eq!(r.body["project_endpoint_group"]["project_id"], pid.as_str());
    let r = c
        .call(Method::GET, &format!("{g}/{gid}/projects"), Some(&a), None)
        .await;
    assert_eq!(ids(&r.body, "projects"), vec![pid.clone()]);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/OS-EP-FILTER/projects/{pid}/endpoint_groups"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "endpoint_groups"), vec![gid.clone()]);
    let r = c
        .call(
            Method::GET,
            &format!("/v3/OS-EP-FILTER/projects/{pid}/endpoints"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "endpoints"), vec![ep.clone()]);
    assert_eq!(
        catalog_types(&c, &uid, &pid).await,
        vec!["epf-svc".to_string()]
    );

    // A direct association adds an endpoint of another service.
    let isvc = c
        .call(Method::GET, "/v3/services?type=identity", Some(&a), None)
        .await
        .body["services"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .call(
            Method::GET,
            &format!("/v3/endpoints?service_id={isvc}&interface=public"),
            Some(&a),
            None,
        )
        .await;
    let identity_ep = ids(&r.body, "endpoints").into_iter().next();
    assert!(identity_ep.is_some(), "{}", r.raw);
    if let Some(ie) = identity_ep {
        let pe = format!("/v3/OS-EP-FILTER/projects/{pid}/endpoints/{ie}");
        assert_eq!(c.call(Method::GET, &pe, Some(&a), None).await.status, 404);
        assert_eq!(c.call(Method::PUT, &pe, Some(&a), None).await.status, 204);
        assert_eq!(c.call(Method::GET, &pe, Some(&a), None).await.status, 204);
        let r = c
            .call(
                Method::GET,
                &format!("/v3/OS-EP-FILTER/endpoints/{ie}/projects"),
                Some(&a),
                None,
            )
            .await;
        assert_eq!(ids(&r.body, "projects"), vec![pid.clone()]);
        let mut types = catalog_types(&c, &uid, &pid).await;
        types.sort();
        assert_eq!(types, vec!["epf-svc".to_string(), "identity".to_string()]);
        assert_eq!(
            c.call(Method::DELETE, &pe, Some(&a), None).await.status,
            204
        );
        assert_eq!(
            c.call(Method::DELETE, &pe, Some(&a), None).await.status,
            404
        );
    }

    // Updating the group's filters moves the catalog with it; deleting it lifts the filter.
    let r = c
        .call(Method::PATCH, &format!("{g}/{gid}"), Some(&a), Some(json!({"endpoint_group": {"name": "g2", "filters": {"interface": "admin", "service_id": svc}}})))
        .await;
    assert_eq!(r.body["endpoint_group"]["name"], "g2", "{}", r.raw);
    let r = c
        .call(Method::GET, &format!("{g}/{gid}/endpoints"), Some(&a), None)
        .await;
    assert!(ids(&r.body, "endpoints").is_empty());
    let unfiltered = catalog_types(&c, &uid, &pid).await;
    assert_eq!(
        unfiltered.len(),
        full.len() + 1,
        "no endpoint matches, so no filter: {unfiltered:?}"
    );
    assert_eq!(
        c.call(Method::DELETE, &format!("{g}/{gid}"), Some(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("{g}/{gid}"), Some(&a), None)
            .await
            .status,
        404
    );
    let r = c
        .call(
            Method::GET,
            &format!("/v3/OS-EP-FILTER/projects/{pid}/endpoint_groups"),
            Some(&a),
            None,
        )
        .await;
    assert!(ids(&r.body, "endpoint_groups").is_empty());
}

#[tokio::test]
async fn domain_configs_and_defaults() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let d = id_of(
        &c.call(
            Method::POST,
            "/v3/domains",
            Some(&a),
            Some(json!({"domain": {"name": "cfg"}})),
        )
        .await
        .body,
        "domain",
    );
    let base = format!("/v3/domains/{d}/config");
    let r = c.call(Method::GET, &base, Some(&a), None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["error"]["message"],
        format!("Could not find any options in domain configuration for domain {d}.")
    );
    let cfg = json!({"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x:389/", "user_tree_dn": "ou=Users", "password": "s3cret"}});
    let r = c
        .call(Method::PUT, &base, Some(&a), Some(json!({"config": cfg})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        r.body["config"],
        json!({"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x:389/", "user_tree_dn": "ou=Users"}}),
        "the password is never shown"
    );
    let r = c
        .call(
            Method::PUT,
            &base,
            Some(&a),
            Some(json!({"config": {"identity": {"driver": "sql"}}})),
        )
        .await;
    assert_eq!(r.status, 200, "replacing answers 200: {}", r.raw);
    assert_eq!(r.body["config"], json!({"identity": {"driver": "sql"}}));
    let r = c
        .call(
            Method::PUT,
            &base,
            Some(&a),
            Some(json!({"config": {"nope": {"x": 1}}})),
        )
        .await;
    assert_eq!(r.status, 403, "unsupported group: {}", r.raw);
    let r = c
        .call(
            Method::PUT,
            &base,
            Some(&a),
            Some(json!({"config": {"ldap": {"bogus": 1}}})),
        )
        .await;
    assert_eq!(r.status, 403, "unsupported option: {}", r.raw);
    let r = c
        .call(
            Method::PATCH,
            &format!("{base}/identity"),
            Some(&a),
            Some(json!({"config": {"identity": {"driver": "d2", "list_limit": 5}}})),
        )
        .await;
    assert_eq!(
        r.body["config"]["identity"],
        json!({"driver": "d2", "list_limit": 5}),
        "{}",
        r.raw
    );
    let r = c
        .call(
            Method::PATCH,
            &format!("{base}/ldap"),
            Some(&a),
            Some(json!({"config": {"ldap": {"url": "u"}}})),
        )
        .await;
    assert_eq!(r.status, 404, "a group update needs the group: {}", r.raw);
    let r = c
        .call(
            Method::PATCH,
            &format!("{base}/identity/driver"),
            Some(&a),
            Some(json!({"config": {"driver": "d3"}})),
        )
        .await;
    assert_eq!(r.body["config"]["identity"]["driver"], "d3", "{}", r.raw);
    let r = c
        .call(
            Method::GET,
            &format!("{base}/identity/list_limit"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["config"], json!({"list_limit": 5}));
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("{base}/identity/driver"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.call(
            Method::GET,
            &format!("{base}/identity/driver"),
            Some(&a),
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        c.call(Method::DELETE, &format!("{base}/identity"), Some(&a), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("{base}/identity"), Some(&a), None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.call(Method::DELETE, &format!("{base}/identity"), Some(&a), None)
            .await
            .status,
        404
    );

    let r = c
        .call(Method::GET, "/v3/domains/config/default", Some(&a), None)
        .await;
    assert_eq!(r.body["config"]["identity"]["driver"], "sql", "{}", r.raw);
    assert!(r.body["config"]["ldap"]["url"].is_string());
    assert!(r.body["config"]["ldap"].get("password").is_none());
    let r = c
        .call(
            Method::GET,
            "/v3/domains/config/ldap/user_tree_dn/default",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.body["config"], json!({"user_tree_dn": null}));
    let r = c
        .call(
            Method::GET,
            "/v3/domains/config/ldap/password/default",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.status, 403,
        "no default is shown for the password: {}",
        r.raw
    );
    let r = c
        .call(
            Method::GET,
            "/v3/domains/default/config/security_compliance",
            Some(&a),
            None,
        )
        .await;
    assert_eq!(
        r.body["config"]["security_compliance"]["password_regex"],
        Value::Null,
        "{}",
        r.raw
    );
    let (_, _, member) = c.persona(&a, "cfg-member", "member", None).await;
    let r = c
        .call(
            Method::GET,
            "/v3/domains/config/default",
            Some(&member),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn projects_acting_as_domains() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let r = c
        .call(
            Method::POST,
            "/v3/projects",
            Some(&a),
            Some(json!({"project": {"name": "pdom", "is_domain": true, "domain_id": null}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let p = r.body["project"].clone();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["is_domain"], true);
    assert_eq!(p["domain_id"], Value::Null);
    let r = c
        .call(Method::GET, "/v3/projects?is_domain=true", Some(&a), None)
        .await;
    assert!(ids(&r.body, "projects").contains(&id));
    let r = c
        .call(Method::GET, &format!("/v3/domains/{id}"), Some(&a), None)
        .await;
    assert_eq!(r.body["domain"]["name"], "pdom", "{}", r.raw);
    let r = c
        .call(Method::GET, &format!("/v3/projects/{id}"), Some(&a), None)
        .await;
    assert_eq!(r.body["project"]["is_domain"], true, "{}", r.raw);
    let r = c
        .call(
            Method::POST,
            "/v3/projects",
            Some(&a),
            Some(json!({"project": {"name": "x", "is_domain": true, "domain_id": "default"}})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    // Projects can live in it.
    let r = c
        .call(
            Method::POST,
            "/v3/projects",
            Some(&a),
            Some(json!({"project": {"name": "inner", "domain_id": id}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let r = c
        .call(
            Method::DELETE,
            &format!("/v3/projects/{id}"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "enabled: {}", r.raw);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/projects/{id}"),
            Some(&a),
            Some(json!({"project": {"enabled": false, "description": "off"}})),
        )
        .await;
    assert_eq!(r.body["project"]["enabled"], false, "{}", r.raw);
    assert_eq!(r.body["project"]["description"], "off");
    assert_eq!(
        c.call(
            Method::DELETE,
            &format!("/v3/projects/{id}"),
            Some(&a),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("/v3/domains/{id}"), Some(&a), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn access_rules_are_shared_and_protected() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let (uid, _, tok) = c.persona(&a, "ar-member", "member", None).await;
    let rule = json!({"service": "compute", "path": "/v2.1/servers/*/ips", "method": "GET"});
    let mk = |name: &'static str| {
        let c = &c;
        let (uid, tok, rule) = (uid.clone(), tok.clone(), rule.clone());
        async move {
            let r = c
                .call(
                    Method::POST,
                    &format!("/v3/users/{uid}/application_credentials"),
                    Some(&tok),
                    Some(json!({"application_credential": {"name": name, "access_rules": [rule]}})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.raw);
            r.body["application_credential"].clone()
        }
    };
    let ac1 = mk("one").await;
    let ac2 = mk("two").await;
    let rid = ac1["access_rules"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        ac2["access_rules"][0]["id"],
        rid.as_str(),
        "the same rule is shared"
    );
    let mut shown = ac1["access_rules"][0].clone();
    shown.as_object_mut().unwrap().remove("id");
    assert_eq!(shown, rule);
    let base = format!("/v3/users/{uid}/access_rules");
    let r = c.call(Method::GET, &base, Some(&tok), None).await;
    assert_eq!(ids(&r.body, "access_rules"), vec![rid.clone()]);
    let r = c
        .call(Method::GET, &format!("{base}/{rid}"), Some(&tok), None)
        .await;
    assert_eq!(r.body["access_rule"]["service"], "compute", "{}", r.raw);
    assert_eq!(
        c.call(Method::DELETE, &format!("{base}/{rid}"), Some(&tok), None)
            .await
            .status,
        403
    );
    for ac in [&ac1, &ac2] {
        let r = c
            .call(
                Method::DELETE,
                &format!(
                    "/v3/users/{uid}/application_credentials/{}",
                    ac["id"].as_str().unwrap()
                ),
                Some(&tok),
                None,
            )
            .await;
        assert_eq!(r.status, 204);
    }
    let r = c.call(Method::GET, &base, Some(&tok), None).await;
    assert_eq!(
        ids(&r.body, "access_rules"),
        vec![rid.clone()],
        "rules outlive their credentials"
    );
    assert_eq!(
        c.call(Method::DELETE, &format!("{base}/{rid}"), Some(&tok), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("{base}/{rid}"), Some(&tok), None)
            .await
            .status,
        404
    );
    let (_, _, other) = c.persona(&a, "ar-other", "member", None).await;
    assert_eq!(
        c.call(Method::GET, &base, Some(&other), None).await.status,
        403
    );
}

#[tokio::test]
async fn trusts_crud_and_roles() {
    let c = TestCloud::start().await;
    let a = c.admin_token().await;
    let (trustor, pid, tok) = c.persona(&a, "trustor", "member", None).await;
    let (trustee, _, ttok) = c.persona(&a, "trustee", "member", None).await;
    let (_, _, other) = c.persona(&a, "bystander", "member", None).await;
    let member = c.role_id(&a, "member").await;
    let admin_role = c.role_id(&a, "admin").await;
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body = |roles: Value| {
        json!({"trust": {"trustor_user_id": trustor, "trustee_user_id": trustee, "project_id": pid,
                         "impersonation": true, "roles": roles, "expires_at": expires}})
    };
    let t = "/v3/OS-TRUST/trusts";
    // Only the trustor creates it, and only with roles it holds on the project.
    let r = c
        .call(
            Method::POST,
            t,
            Some(&ttok),
            Some(body(json!([{"name": "member"}]))),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.raw);
    let r = c
        .call(
            Method::POST,
            t,
            Some(&tok),
            Some(body(json!([{"id": admin_role}]))),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.raw);
    let r = c
        .call(Method::POST, t, Some(&tok), Some(body(json!([]))))
        .await;
    assert_eq!(r.status, 403, "a project trust needs roles: {}", r.raw);
    let mut bad = body(json!([{"name": "member"}]));
    bad["trust"]["expires_at"] = json!("bad.123Z");
    assert_eq!(
        c.call(Method::POST, t, Some(&tok), Some(bad)).await.status,
        400
    );
    let r = c
        .call(
            Method::POST,
            t,
            Some(&tok),
            Some(body(json!([{"name": "member"}]))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let tr = r.body["trust"].clone();
    let id = tr["id"].as_str().unwrap().to_string();
    assert_eq!(tr["impersonation"], true);
    assert_eq!(tr["project_id"], pid.as_str());
    assert_eq!(tr["roles"][0]["id"], member.as_str());
    assert_eq!(
        tr["expires_at"].as_str().unwrap().replace(".000000", ""),
        expires
    );
    // Trustor and trustee see it; a bystander does not.
    for tk in [&tok, &ttok] {
        let r = c
            .call(Method::GET, &format!("{t}/{id}"), Some(tk), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
    }
    assert_eq!(
        c.call(Method::GET, &format!("{t}/{id}"), Some(&other), None)
            .await
            .status,
        403
    );
    let r = c
        .call(
            Method::GET,
            &format!("{t}?trustor_user_id={trustor}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "trusts"), vec![id.clone()]);
    assert!(
        r.body["trusts"][0].get("roles").is_none(),
        "lists leave roles out"
    );
    let r = c
        .call(
            Method::GET,
            &format!("{t}?trustee_user_id={trustee}"),
            Some(&ttok),
            None,
        )
        .await;
    assert_eq!(ids(&r.body, "trusts"), vec![id.clone()]);
    assert_eq!(
        c.call(
            Method::GET,
            &format!("{t}?trustor_user_id={trustor}"),
            Some(&other),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        c.call(Method::GET, t, Some(&tok), None).await.status,
        403,
        "listing every trust is for admins"
    );
    let r = c.call(Method::GET, &format!("{t}/"), Some(&a), None).await;
    assert!(
        ids(&r.body, "trusts").contains(&id),
        "with a trailing slash too: {}",
        r.raw
    );
    // Roles of the trust.
    let r = c
        .call(Method::GET, &format!("{t}/{id}/roles"), Some(&tok), None)
        .await;
    assert_eq!(ids(&r.body, "roles"), vec![member.clone()]);
    assert_eq!(
        c.call(
            Method::GET,
            &format!("{t}/{id}/roles/{member}"),
            Some(&tok),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.call(
            Method::HEAD,
            &format!("{t}/{id}/roles/{member}"),
            Some(&tok),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        c.call(
            Method::GET,
            &format!("{t}/{id}/roles/{admin_role}"),
            Some(&tok),
            None
        )
        .await
        .status,
        404
    );
    // Only the trustor (or an admin) deletes it.
    assert_eq!(
        c.call(Method::DELETE, &format!("{t}/{id}"), Some(&ttok), None)
            .await
            .status,
        403
    );
    assert_eq!(
        c.call(Method::DELETE, &format!("{t}/{id}"), Some(&tok), None)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call(Method::GET, &format!("{t}/{id}"), Some(&tok), None)
            .await
            .status,
        404
    );
}
