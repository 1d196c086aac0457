//! Token API tests on the in-process cloud: issue/validate/check/revoke, scopes,
//! rescoping, application credentials, revocation on identity changes, key rotation.

#![allow(clippy::unwrap_used)]

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::json;

#[tokio::test]
async fn version_discovery() {
    let c = TestCloud::start().await;
    let r = c.call(Method::GET, "/", None, None).await;
    assert_eq!(r.status, 300);
    assert_eq!(r.body["versions"]["values"][0]["status"], "stable");
    let r = c.call(Method::GET, "/v3", None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["version"]["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
    assert!(r.header("x-openstack-request-id").starts_with("req-"));
}

#[tokio::test]
async fn unscoped_token_validate_equals_issue_and_revoke() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let uid = c.create_user(&admin, "alice", "s3cret").await;
    let issued = c.password_token(&uid, "s3cret", None).await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let token = issued.header("x-subject-token");
    assert!(token.starts_with("gAAAAA"), "fernet token expected");
    let t = &issued.body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["user"]["id"], uid.as_str());
    assert!(t.get("project").is_none() && t.get("catalog").is_none() && t.get("roles").is_none());
    assert!(t["expires_at"].as_str().unwrap() > t["issued_at"].as_str().unwrap());

    // The user validates their own token: identical body.
    let own = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&token),
            None,
            &[("X-Subject-Token", &token)],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.raw);
    assert_eq!(own.body, issued.body);
    let head = c
        .call_with(
            Method::HEAD,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &token)],
        )
        .await;
    assert_eq!(head.status, 200);
    assert!(head.raw.is_empty());
    let del = c
        .call_with(
            Method::DELETE,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &token)],
        )
        .await;
    assert_eq!(del.status, 204);
    let head = c
        .call_with(
            Method::HEAD,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &token)],
        )
        .await;
    assert_eq!(head.status, 404);
    let get = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &token)],
        )
        .await;
    assert_eq!(get.status, 404);
    assert_eq!(get.body["error"]["code"], 404);
    // A revoked token no longer authenticates.
    let r = c
        .call(Method::GET, "/v3/auth/catalog", Some(&token), None)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn project_domain_system_scopes() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let r = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &admin)],
        )
        .await;
    let t = &r.body["token"];
    assert_eq!(t["project"]["name"], "admin");
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for want in ["admin", "member", "reader"] {
        assert!(roles.contains(&want), "implied roles expanded: {roles:?}");
    }
    assert!(
        t["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "identity"),
        "identity in the catalog: {}",
        t["catalog"]
    );
    assert_eq!(t["is_domain"], false);

    let sys = c.system_admin_token().await;
    let r = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&sys),
            None,
            &[("X-Subject-Token", &sys)],
        )
        .await;
    assert_eq!(r.body["token"]["system"], json!({"all": true}));

    // Domain scope needs a domain role.
    let (uid, _, _) = c.persona(&admin, "dom-admin", "member", None).await;
    let rid = c.role_id(&admin, "admin").await;
    let r = c
        .call(
            Method::PUT,
            &format!("/v3/domains/default/users/{uid}/roles/{rid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .password_token(
            &uid,
            "pw-secret",
            Some(json!({"domain": {"name": "Default"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    assert_eq!(
        r.body["token"]["domain"],
        json!({"id": "default", "name": "Default"})
    );
    // No system role: system scope refused.
    let r = c
        .password_token(&uid, "pw-secret", Some(json!({"system": {"all": true}})))
        .await;
    assert_eq!(r.status, 401);

    // nocatalog
    let r = c
        .call(
            Method::POST,
            "/v3/auth/tokens?nocatalog",
            None,
            Some(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password": "pw-secret"}}}, "scope": {"domain": {"id": "default"}}}})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.body["token"].get("catalog").is_none());
}

#[tokio::test]
async fn bad_credentials_are_401_with_www_authenticate() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let uid = c.create_user(&admin, "bob", "right").await;
    let r = c.password_token(&uid, "wrong", None).await;
    assert_eq!(r.status, 401);
    assert!(!r.header("www-authenticate").is_empty());
    assert_eq!(r.body["error"]["title"], "Unauthorized");
    let r = c.password_token("no-such-user", "x", None).await;
    assert_eq!(r.status, 401);
    // No role on the project: not allowed to scope there.
    let p = c.create_project(&admin, "lonely").await;
    let r = c
        .password_token(&uid, "right", Some(json!({"project": {"id": p}})))
        .await;
    assert_eq!(r.status, 401);
    // No token at all.
    let r = c.call(Method::GET, "/v3/users", None, None).await;
    assert_eq!(r.status, 401);
    let r = c
        .call(Method::GET, "/v3/users", Some("garbage"), None)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn rescope_with_token_method_keeps_expiry_and_chains_audit_ids() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (uid, project, _) = c.persona(&admin, "carol", "member", None).await;
    let unscoped = c.password_token(&uid, "pw-secret", None).await;
    let tok = unscoped.header("x-subject-token");
    let r = c
        .call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}, "scope": {"project": {"id": project}}}})))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let t = &r.body["token"];
    assert_eq!(t["expires_at"], unscoped.body["token"]["expires_at"]);
    assert_eq!(t["audit_ids"][1], unscoped.body["token"]["audit_ids"][0]);
    assert!(t["methods"].as_array().unwrap().contains(&json!("token")));
    // Rescoping a revoked token is Keystone's TokenNotFound (404), not a 401.
    let r = c
        .call_with(
            Method::DELETE,
            "/v3/auth/tokens",
            Some(&tok),
            None,
            &[("X-Subject-Token", tok.as_str())],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    let r = c
        .call(
            Method::POST,
            "/v3/auth/tokens",
            None,
            Some(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}}})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.raw);
    assert_eq!(t["project"]["id"], project.as_str());
}

#[tokio::test]
async fn disabling_user_and_changing_password_revoke_tokens() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (uid, _, tok) = c.persona(&admin, "dave", "member", None).await;
    let check = |t: String| {
        let c = &c;
        let admin = admin.clone();
        async move {
            c.call_with(
                Method::HEAD,
                "/v3/auth/tokens",
                Some(&admin),
                None,
                &[("X-Subject-Token", &t)],
            )
            .await
            .status
        }
    };
    assert_eq!(check(tok.clone()).await, 200);
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/password"),
            None,
            Some(json!({"user": {"original_password": "pw-secret", "password": "new-pw"}})),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.raw);
    assert_eq!(
        check(tok.clone()).await,
        404,
        "password change revokes old tokens"
    );
    // Wrong original password.
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/password"),
            None,
            Some(json!({"user": {"original_password": "nope", "password": "x"}})),
        )
        .await;
    assert_eq!(r.status, 401);

    let (uid2, _, tok2) = c.persona(&admin, "erin", "member", None).await;
    assert_eq!(check(tok2.clone()).await, 200);
    let r = c
        .call(
            Method::PATCH,
            &format!("/v3/users/{uid2}"),
            Some(&admin),
            Some(json!({"user": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(check(tok2).await, 404, "disabled user's token is invalid");
    let r = c.password_token(&uid2, "pw-secret", None).await;
    assert_eq!(r.status, 401, "disabled user cannot authenticate");
}

#[tokio::test]
async fn removing_role_revokes_project_token() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (uid, project, tok) = c.persona(&admin, "frank", "member", None).await;
    let rid = c.role_id(&admin, "member").await;
    let r = c
        .call(
            Method::DELETE,
            &format!("/v3/projects/{project}/users/{uid}/roles/{rid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &tok)],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn application_credential_auth_and_restrictions() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (uid, project, tok) = c.persona(&admin, "gina", "member", None).await;
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&tok),
            Some(json!({"application_credential": {"name": "ci", "description": "for CI"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let ac = r.body["application_credential"].clone();
    let secret = ac["secret"].as_str().unwrap().to_string();
    assert_eq!(ac["project_id"], project.as_str());
    assert_eq!(ac["unrestricted"], false);
    let mut roles: Vec<&str> = ac["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec!["member", "reader"],
        "no roles given: the token's roles are delegated"
    );
    // An empty list (what openstackclient sends) means the same.
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&tok),
            Some(json!({"application_credential": {"name": "empty", "roles": []}})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["application_credential"]["roles"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A role the user does not hold: 400 as Keystone.
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&tok),
            Some(
                json!({"application_credential": {"name": "greedy", "roles": [{"name": "admin"}]}}),
            ),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.raw);
    // Listing never shows the secret.
    let r = c
        .call(
            Method::GET,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["application_credentials"][0].get("secret").is_none());
    // Duplicate name.
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&tok),
            Some(json!({"application_credential": {"name": "ci"}})),
        )
        .await;
    assert_eq!(r.status, 409);

    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": ac["id"], "secret": secret}}}});
    let r = c
        .call(Method::POST, "/v3/auth/tokens", None, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let t = &r.body["token"];
    assert_eq!(t["project"]["id"], project.as_str());
    assert_eq!(t["application_credential"]["restricted"], true);
    let actok = r.header("x-subject-token");
    // By name + user.
    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "ci", "user": {"id": uid}, "secret": secret}}}});
    assert_eq!(
        c.call(Method::POST, "/v3/auth/tokens", None, Some(body))
            .await
            .status,
        201
    );
    // Wrong secret.
    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": ac["id"], "secret": "nope"}}}});
    assert_eq!(
        c.call(Method::POST, "/v3/auth/tokens", None, Some(body))
            .await
            .status,
        401
    );
    // A restricted app-cred token cannot make another app cred.
    let r = c
        .call(
            Method::POST,
            &format!("/v3/users/{uid}/application_credentials"),
            Some(&actok),
            Some(json!({"application_credential": {"name": "more"}})),
        )
        .await;
    assert_eq!(r.status, 403);
    // Deleting it.
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
    let r = c
        .call_with(
            Method::GET,
            "/v3/auth/tokens",
            Some(&admin),
            None,
            &[("X-Subject-Token", &actok)],
        )
        .await;
    assert_eq!(
        r.status, 404,
        "token of a deleted application credential is invalid"
    );
}

#[tokio::test]
async fn auth_projects_domains_system_and_catalog() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (uid, project, tok) = c.persona(&admin, "hank", "reader", None).await;
    let r = c
        .call(Method::GET, "/v3/auth/projects", Some(&tok), None)
        .await;
    assert_eq!(r.status, 200);
    let ids: Vec<&str> = r.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![project.as_str()]);
    let r = c
        .call(Method::GET, "/v3/auth/domains", Some(&tok), None)
        .await;
    assert_eq!(r.body["domains"], json!([]));
    let r = c
        .call(Method::GET, "/v3/auth/system", Some(&tok), None)
        .await;
    assert_eq!(r.body["system"], json!([]));
    let r = c
        .call(Method::GET, "/v3/auth/system", Some(&admin), None)
        .await;
    assert_eq!(r.body["system"], json!([{"all": true}]));
    let r = c
        .call(Method::GET, "/v3/auth/catalog", Some(&tok), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "identity"),
        "identity in the catalog: {}",
        r.body["catalog"]
    );
    let _ = uid;
}

#[tokio::test]
async fn tokens_survive_key_rotation() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let repo = rustack_identity_fernet::KeyRepository::new(c.data_dir().join("fernet-keys"));
    repo.rotate(3).unwrap();
    // Make sure the directory mtime moves even on coarse-grained filesystems.
    let newer = c.admin_token().await;
    for t in [&admin, &newer] {
        let r = c
            .call_with(
                Method::HEAD,
                "/v3/auth/tokens",
                Some(&newer),
                None,
                &[("X-Subject-Token", t)],
            )
            .await;
        assert_eq!(r.status, 200);
    }
    // After enough rotations the first key is gone and its tokens with it.
    for _ in 0..3 {
        repo.rotate(3).unwrap();
    }
    let fresh = c.admin_token().await;
    let r = c
        .call_with(
            Method::HEAD,
            "/v3/auth/tokens",
            Some(&fresh),
            None,
            &[("X-Subject-Token", &admin)],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn restart_keeps_state_and_secrets() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let pid = c.create_project(&admin, "persistent").await;
    let password = c.cloud.admin_password.clone();
    let passwords = std::fs::read_to_string(c.data_dir().join("passwords.yml")).unwrap();
    let keys: Vec<_> = std::fs::read_dir(c.data_dir().join("fernet-keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut config = rustack::config::RustackConfig::default();
    config.identity.bcrypt_cost = 4;
    let db = std::fs::read_dir(c.data_dir()).unwrap().count();
    assert!(db > 0);
    let url = c.cloud.identity.config().database_url.clone();
    config.identity.database_url = url;
    let dir = c.stop().await;
    let c = TestCloud::start_in(dir, config).await;
    assert_eq!(c.cloud.admin_password, password);
    assert_eq!(
        std::fs::read_to_string(c.data_dir().join("passwords.yml")).unwrap(),
        passwords
    );
    let keys2: Vec<_> = std::fs::read_dir(c.data_dir().join("fernet-keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(keys.len(), keys2.len());
    // The old token still validates: same keys, same users.
    let r = c
        .call(
            Method::GET,
            &format!("/v3/projects/{pid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(c.data_dir().join("passwords.yml"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

/// A password hash made by upstream Keystone (`keystone.common.password_hashing`,
/// bcrypt, 12 rounds) verifies: a user database migrated from Keystone keeps working.
#[tokio::test]
async fn keystone_bcrypt_hashes_verify() {
    let c = TestCloud::start().await;
    let hash = "$2b$12$5CceLQWkjRFYWpFT45LN6ulitBKzkQdjXEESz1pvvUXFbRHUnofGG";
    let user = rustack_identity_server::store::identity::User {
        id: "0123456789abcdef0123456789abcdef".into(),
        name: "migrated".into(),
        domain_id: "default".into(),
        enabled: true,
        password_hash: Some(hash.into()),
        default_project_id: None,
        extra: Default::default(),
        created_at: "2020-01-01T00:00:00.000000Z".into(),
    };
    c.cloud.identity.store().user_create(&user).await.unwrap();
    let r = c
        .password_token(&user.id, "correct horse battery staple", None)
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let r = c
        .password_token(&user.id, "correct horse battery stapl", None)
        .await;
    assert_eq!(r.status, 401);
}

/// New hashes use the configured bcrypt cost (Keystone's default 12 outside tests).
#[tokio::test]
async fn new_password_hashes_use_configured_cost() {
    let c = TestCloud::start_with(|cfg| cfg.identity.bcrypt_cost = 5).await;
    let admin = c.admin_token().await;
    let uid = c.create_user(&admin, "costly", "pw").await;
    let u = c
        .cloud
        .identity
        .store()
        .user_get(&uid)
        .await
        .unwrap()
        .unwrap();
    assert!(u.password_hash.unwrap().starts_with("$2b$05$"));
    assert_eq!(
        rustack_identity_server::IdentityConfig::default().bcrypt_cost,
        12
    );
}

#[tokio::test]
async fn tokens_expire() {
    let c = TestCloud::start_with(|cfg| cfg.identity.token_expiration = 1).await;
    let admin = c.admin_token().await;
    let uid = c.create_user(&admin, "brief", "pw").await;
    let r = c.password_token(&uid, "pw", None).await;
    let tok = r.header("x-subject-token");
    let exp =
        rustack_common::time::parse_iso(r.body["token"]["expires_at"].as_str().unwrap()).unwrap();
    let iss =
        rustack_common::time::parse_iso(r.body["token"]["issued_at"].as_str().unwrap()).unwrap();
    assert!((exp - iss).num_seconds() <= 2);
    // Poll with a deadline until the token has expired.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let fresh_admin = c.admin_token().await;
        let r = c
            .call_with(
                Method::HEAD,
                "/v3/auth/tokens",
                Some(&fresh_admin),
                None,
                &[("X-Subject-Token", &tok)],
            )
            .await;
        if r.status == 404 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "token never expired");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let fresh_admin = c.admin_token().await;
    let r = c
        .call_with(
            Method::HEAD,
            "/v3/auth/tokens?allow_expired=1",
            Some(&fresh_admin),
            None,
            &[("X-Subject-Token", &tok)],
        )
        .await;
    assert_eq!(
        r.status, 200,
        "allow_expired still validates an expired token"
    );
}

/// As Keystone (and Tempest's test_token_auth_creation_existence_deletion): a user
/// checking their own revoked token gets 404, not 403.
#[tokio::test]
async fn own_revoked_token_is_404_for_non_admin() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (uid, _, mine) = c.persona(&admin, "self-checker", "member", None).await;
    let sub = c
        .password_token(&uid, "pw-secret", None)
        .await
        .header("x-subject-token");
    let h = [("X-Subject-Token", sub.as_str())];
    assert_eq!(
        c.call_with(Method::HEAD, "/v3/auth/tokens", Some(&mine), None, &h)
            .await
            .status,
        200
    );
    assert_eq!(
        c.call_with(Method::DELETE, "/v3/auth/tokens", Some(&mine), None, &h)
            .await
            .status,
        204
    );
    assert_eq!(
        c.call_with(Method::HEAD, "/v3/auth/tokens", Some(&mine), None, &h)
            .await
            .status,
        404
    );
    assert_eq!(
        c.call_with(Method::GET, "/v3/auth/tokens", Some(&mine), None, &h)
            .await
            .status,
        404
    );
    // Someone else's valid token: 403 for a member.
    let (_, _, other) = c.persona(&admin, "someone", "member", None).await;
    let h = [("X-Subject-Token", other.as_str())];
    assert_eq!(
        c.call_with(Method::GET, "/v3/auth/tokens", Some(&mine), None, &h)
            .await
            .status,
        403
    );
}
