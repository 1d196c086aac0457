//! Application credentials (`/v3/users/{id}/application_credentials`), credentials
//! (`/v3/credentials`, EC2-style blobs) and the OS-EC2 view of EC2 credentials
//! (`/v3/users/{id}/credentials/OS-EC2`: credentials of type `ec2` whose id is the
//! sha256 of the access key, as Keystone keys them).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use rustack_common::Error;
use serde_json::{json, Value};
use sha2::Digest;

use super::{body_obj, list, self_link, ApiResult, Fields, St, Q};
use crate::store::app_cred::{AccessRule, AppCred, Credential};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route(
            "/v3/users/{uid}/application_credentials",
            get(ac_list).post(ac_create),
        )
        .route(
            "/v3/users/{uid}/application_credentials/{id}",
            get(ac_show).delete(ac_delete),
        )
        .route(
            "/v3/users/{uid}/credentials/OS-EC2",
            get(ec2_list).post(ec2_create),
        )
        .route(
            "/v3/users/{uid}/credentials/OS-EC2/{access}",
            get(ec2_show).delete(ec2_delete),
        )
        .route(
            "/v3/users/{uid}/access_rules",
            get(rule_list).head(rule_list),
        )
        .route(
            "/v3/users/{uid}/access_rules/{id}",
            get(rule_show).head(rule_show).delete(rule_delete),
        )
        .route("/v3/credentials", get(cred_list).post(cred_create))
        .route(
            "/v3/credentials/{id}",
            get(cred_show).patch(cred_update).delete(cred_delete),
        )
}

async fn ac_json(st: &Identity, h: &HeaderMap, a: &AppCred) -> Result<Value, Error> {
    let mut roles = vec![];
    for r in &a.roles {
        if let Ok(role) = st.store.role_require(r).await {
            roles.push(json!({"id": role.id, "name": role.name, "domain_id": role.domain_id}));
        }
    }
    Ok(json!({
        "id": a.id, "name": a.name, "description": a.description, "user_id": a.user_id,
        "project_id": a.project_id, "expires_at": a.expires_at, "unrestricted": a.unrestricted,
        "roles": roles, "access_rules": if a.access_rules.is_array() { a.access_rules.clone() } else { json!([]) },
        "links": self_link(h, &format!("users/{}/application_credentials/{}", a.user_id, a.id)),
    }))
}

fn owner_target(uid: &str) -> Value {
    json!({"user_id": uid, "target": {"user": {"id": uid}}})
}

async fn ac_list(
    st: St,
    headers: HeaderMap,
    Path(uid): Path<String>,
    q: Q,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:list_application_credentials",
        &owner_target(&uid),
    )?;
    st.store.user_require(&uid).await?;
    let mut items = vec![];
    for a in st.store.app_cred_list(&uid).await? {
        if q.get("name").is_none_or(|n| *n == a.name) {
            items.push(ac_json(&st, &headers, &a).await?);
        }
    }
    Ok(Json(list(
        &headers,
        "application_credentials",
        &format!("users/{uid}/application_credentials"),
        items,
    )))
}

async fn ac_create(
    st: St,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:create_application_credential",
        &owner_target(&uid),
    )?;
    if ctx.user_id != uid {
        return Err(
            Error::forbidden("Cannot create an application credential for another user.").into(),
        );
    }
    if ctx.application_credential_restricted {
        return Err(Error::forbidden(
            "Using a restricted application credential to create another one is not allowed.",
        )
        .into());
    }
    let project_id = ctx.project_id.clone().ok_or_else(|| {
        Error::forbidden("A project-scoped token is required to create an application credential.")
    })?;
    let mut f = Fields(body_obj(&body, "application_credential")?);
    let name = f.req_str("name", 255)?;
    let description = f.opt_str("description", 255)?;
    let secret = f.opt_str("secret", 4096)?.unwrap_or_else(|| {
        let mut b = [0u8; 64];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    });
    let expires_at = f.opt_str("expires_at", 64)?;
    if let Some(e) = &expires_at {
        let t = rustack_common::time::parse_iso(e).ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for field 'expires_at': '{e}' is not a valid date-time"
            ))
        })?;
        if t <= chrono::Utc::now() {
            return Err(Error::bad_request(
                "The expiration date of an application credential must be in the future.",
            )
            .into());
        }
    }
    let unrestricted = f.opt_bool("unrestricted")?.unwrap_or(false);
    let held: Vec<_> = ctx.role_ids.clone();
    let roles: Vec<String> = match f.0.remove("roles") {
        // As Keystone: no roles, or an empty list (what openstackclient sends), delegates
        // every role of the token.
        None | Some(Value::Null) => held.clone(),
        Some(Value::Array(items)) if items.is_empty() => held.clone(),
        Some(Value::Array(items)) => {
            let all = st.store.role_list().await?;
            let mut ids = vec![];
            for it in items {
                let role = match (
                    it.get("id").and_then(Value::as_str),
                    it.get("name").and_then(Value::as_str),
                ) {
                    (Some(id), _) => all.iter().find(|r| r.id == id),
                    (None, Some(n)) => all.iter().find(|r| r.name == n && r.domain_id.is_none()),
                    _ => {
                        return Err(Error::bad_request(
                            "Invalid input for field 'roles': each role needs an id or a name",
                        )
                        .into())
                    }
                }
                .ok_or_else(|| Error::not_found(format!("Could not find role: {it}.")))?;
                if !held.contains(&role.id) {
                    return Err(Error::bad_request(format!(
                        "Invalid application credential: Cannot create an application credential with unassigned role {}.",
                        role.name
                    ))
                    .into());
                }
                ids.push(role.id.clone());
            }
            ids
        }
        Some(_) => {
            return Err(
                Error::bad_request("Invalid input for field 'roles': it must be a list").into(),
            )
        }
    };
    // Rules new to the user are stored once the credential is.
    let mut new_rules: Vec<AccessRule> = vec![];
    let access_rules = match f.0.remove("access_rules") {
        None | Some(Value::Null) => json!([]),
        Some(Value::Array(rules)) => {
            let existing = st.store.access_rule_list(&uid).await?;
            let mut out = vec![];
            for r in rules {
                let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
                let given_id = field("id");
                let rule = match (field("service"), field("path"), field("method")) {
                    (Some(service), Some(path), Some(method)) => {
                        // As Keystone: the user's rule with the same id, or else with
                        // the same service, path and method, is shared, not copied.
                        let found = existing.iter().chain(new_rules.iter()).find(|x| {
                            given_id.as_ref().map_or(
                                x.service == service && x.path == path && x.method == method,
                                |id| *id == x.id,
                            )
                        });
                        match found {
                            Some(x) => x.clone(),
                            None => {
                                let a = AccessRule {
                                    id: given_id.unwrap_or_else(rustack_common::new_hex_id),
                                    user_id: uid.clone(),
                                    service,
                                    path,
                                    method,
                                };
                                new_rules.push(a.clone());
                                a
                            }
                        }
                    }
                    // A rule given by id alone names one of the user's rules.
                    (None, None, None) if given_id.is_some() => existing
                        .iter()
                        .find(|x| Some(&x.id) == given_id.as_ref())
                        .cloned()
                        .ok_or_else(|| {
                            Error::not_found(format!(
                                "Could not find access rule: {}.",
                                given_id.clone().unwrap_or_default()
                            ))
                        })?,
                    _ => return Err(Error::bad_request("Invalid input for field 'access_rules': each rule needs service, path and method").into()),
                };
                out.push(access_rule_json(&rule));
            }
            Value::Array(out)
        }
        Some(_) => {
            return Err(Error::bad_request(
                "Invalid input for field 'access_rules': it must be a list",
            )
            .into())
        }
    };
    f.deny_rest()?;
    let secret_hash = super::users::hash_password(&st, secret.clone()).await?;
    let a = AppCred {
        id: rustack_common::new_hex_id(),
        name,
        user_id: uid,
        project_id,
        secret_hash,
        description,
        expires_at,
        unrestricted,
        roles,
        access_rules,
    };
    st.store.app_cred_create(&a).await.map_err(|e| match e {
        Error::Conflict { .. } => Error::conflict(format!("Conflict occurred attempting to store application_credential - Duplicate entry found with name {}.", a.name)),
        o => o,
    })?;
    for r in &new_rules {
        st.store.access_rule_create(r).await?;
    }
    st.bump();
    let mut v = ac_json(&st, &headers, &a).await?;
    v["secret"] = json!(secret);
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": v})),
    ))
}

async fn ac_show(
    st: St,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:get_application_credential",
        &owner_target(&uid),
    )?;
    let a = st
        .store
        .app_cred_get(&id)
        .await?
        .filter(|a| a.user_id == uid)
        .ok_or_else(|| Error::not_found(format!("Could not find Application Credential: {id}.")))?;
    Ok(Json(
        json!({"application_credential": ac_json(&st, &headers, &a).await?}),
    ))
}

async fn ac_delete(
    st: St,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:delete_application_credential",
        &owner_target(&uid),
    )?;
    let a = st
        .store
        .app_cred_get(&id)
        .await?
        .filter(|a| a.user_id == uid)
        .ok_or_else(|| Error::not_found(format!("Could not find Application Credential: {id}.")))?;
    if ctx.application_credential_restricted {
        return Err(Error::forbidden(
            "Using a restricted application credential to delete one is not allowed.",
        )
        .into());
    }
    st.store.app_cred_delete(&a.id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

fn cred_json(h: &HeaderMap, c: &Credential) -> Value {
    super::with_extra(
        json!({"id": c.id, "user_id": c.user_id, "project_id": c.project_id, "type": c.cred_type, "blob": c.blob,
               "links": self_link(h, &format!("credentials/{}", c.id))}),
        &c.extra,
    )
}

fn cred_target(c: &Credential) -> Value {
    json!({"target": {"credential": {"user_id": c.user_id, "id": c.id}}})
}

async fn cred_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    // As Keystone: non-system callers are checked against their own credentials.
    let target = if ctx.system_scope.is_some() {
        json!({})
    } else {
        json!({"target": {"credential": {"user_id": ctx.user_id}}})
    };
    st.authorize(&ctx, "identity:list_credentials", &target)?;
    let mut items = vec![];
    for c in st.store.credential_list().await? {
        if q.get("user_id").is_some_and(|u| *u != c.user_id)
            || q.get("type").is_some_and(|t| *t != c.cred_type)
        {
            continue;
        }
        // Keystone filters the list per credential with identity:get_credential.
        if st
            .authorize(&ctx, "identity:get_credential", &cred_target(&c))
            .is_ok()
        {
            items.push(cred_json(&headers, &c));
        }
    }
    Ok(Json(list(&headers, "credentials", "credentials", items)))
}

async fn cred_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    let mut f = Fields(body_obj(&body, "credential")?);
    f.drop_readonly();
    let user_id = f.req_str("user_id", 64)?;
    let cred_type = f.req_str("type", 255)?;
    let blob = f.req_str("blob", 65535)?;
    let project_id = f.opt_str("project_id", 64)?;
    f.0.remove("id");
    st.authorize(
        &ctx,
        "identity:create_credential",
        &json!({"target": {"credential": {"user_id": user_id}}}),
    )?;
    st.store
        .user_require(&user_id)
        .await
        .map_err(|_| Error::bad_request(format!("Could not find user: {user_id}.")))?;
    let id = if cred_type == "ec2" {
        let parsed: Value = serde_json::from_str(&blob).map_err(|_| {
            Error::bad_request("Invalid blob in credential: it must be JSON for type ec2.")
        })?;
        let access = parsed
            .get("access")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::bad_request("Credential of type ec2 needs an 'access' key in its blob.")
            })?;
        if project_id.is_none() {
            return Err(Error::bad_request("Credential of type ec2 needs a project_id.").into());
        }
        hex::encode(sha2::Sha256::digest(access.as_bytes()))
    } else {
        rustack_common::new_hex_id()
    };
    let c = Credential {
        id,
        user_id,
        project_id,
        cred_type,
        blob,
        extra: f.0,
    };
    st.store.credential_create(&c).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": cred_json(&headers, &c)})),
    ))
}

async fn cred_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let c = st.store.credential_require(&id).await?;
    st.authorize(&ctx, "identity:get_credential", &cred_target(&c))?;
    Ok(Json(json!({"credential": cred_json(&headers, &c)})))
}

async fn cred_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let mut c = st.store.credential_require(&id).await?;
    st.authorize(&ctx, "identity:update_credential", &cred_target(&c))?;
    let mut f = Fields(body_obj(&body, "credential")?);
    f.drop_readonly();
    f.0.remove("id");
    if let Some(u) = f.opt_str("user_id", 64)? {
        st.store
            .user_require(&u)
            .await
            .map_err(|_| Error::bad_request(format!("Could not find user: {u}.")))?;
        c.user_id = u;
    }
    if let Some(t) = f.opt_str("type", 255)? {
        c.cred_type = t;
    }
    if let Some(b) = f.opt_str("blob", 65535)? {
        c.blob = b;
    }
    if f.0.contains_key("project_id") {
        c.project_id = f.opt_str("project_id", 64)?;
    }
    c.extra.extend(f.0);
    st.store.credential_update(&c).await?;
    st.bump();
    Ok(Json(json!({"credential": cred_json(&headers, &c)})))
}

async fn cred_delete(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let c = st.store.credential_require(&id).await?;
    st.authorize(&ctx, "identity:delete_credential", &cred_target(&c))?;
    st.store.credential_delete(&id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

/// Keystone's id for an EC2 credential: the hex sha256 of its access key.
fn ec2_id(access: &str) -> String {
    hex::encode(sha2::Sha256::digest(access.as_bytes()))
}

/// An EC2 credential in the OS-EC2 shape (`tenant_id`, `access`, `secret` from the blob).
fn ec2_json(h: &HeaderMap, c: &Credential) -> Value {
    let blob: Value = serde_json::from_str(&c.blob).unwrap_or(Value::Null);
    let access = blob.get("access").cloned().unwrap_or(Value::Null);
    let self_url = format!(
        "{}/v3/users/{}/credentials/OS-EC2/{}",
        super::base_url(h),
        c.user_id,
        access.as_str().unwrap_or_default()
    );
    json!({
        "user_id": c.user_id, "tenant_id": c.project_id, "access": access,
        "secret": blob.get("secret").cloned().unwrap_or(Value::Null),
        "trust_id": blob.get("trust_id").cloned().unwrap_or(Value::Null),
        "links": {"self": self_url},
    })
}

/// As Keystone: a token delegated through an application credential sees and manages
/// only the EC2 credentials of the project it is scoped to.
fn ec2_delegation_ok(ctx: &rustack_api_common::AuthContext, project_id: Option<&str>) -> bool {
    ctx.application_credential_id.is_none() || project_id == ctx.project_id.as_deref()
}

fn ec2_delegation_check(
    ctx: &rustack_api_common::AuthContext,
    project_id: Option<&str>,
) -> Result<(), Error> {
    if ec2_delegation_ok(ctx, project_id) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "You are not authorized to perform the requested action: EC2 credential project does not match the project scope of the delegated token.",
        ))
    }
}

async fn ec2_list(st: St, headers: HeaderMap, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:ec2_list_credentials", &owner_target(&uid))?;
    st.store.user_require(&uid).await?;
    let items = st
        .store
        .credential_list()
        .await?
        .iter()
        .filter(|c| c.user_id == uid && c.cred_type == "ec2")
        .filter(|c| ec2_delegation_ok(&ctx, c.project_id.as_deref()))
        .map(|c| ec2_json(&headers, c))
        .collect();
    Ok(Json(list(
        &headers,
        "credentials",
        &format!("users/{uid}/credentials/OS-EC2"),
        items,
    )))
}

async fn ec2_create(
    st: St,
    headers: HeaderMap,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:ec2_create_credential",
        &json!({"user_id": uid, "target": {"credential": {"user_id": uid}}}),
    )?;
    if ctx.application_credential_restricted {
        return Err(Error::forbidden(
            "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.",
        )
        .into());
    }
    st.store.user_require(&uid).await?;
    let req: Value = rustack_api_common::parse_json(&body)?;
    let tenant_id = match req.get("tenant_id") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Null) | None => {
            return Err(Error::not_found("Could not find project: None.").into())
        }
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'tenant_id': {other} is not of type 'string'"
            ))
            .into())
        }
    };
    st.store.project_require(&tenant_id).await?;
    ec2_delegation_check(&ctx, Some(&tenant_id))?;
    let access = rustack_common::new_hex_id();
    let secret = rustack_common::new_hex_id();
    let blob = json!({"access": access, "secret": secret, "trust_id": Value::Null});
    let c = Credential {
        id: ec2_id(&access),
        user_id: uid,
        project_id: Some(tenant_id),
        cred_type: "ec2".into(),
        blob: blob.to_string(),
        extra: Default::default(),
    };
    st.store.credential_create(&c).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": ec2_json(&headers, &c)})),
    ))
}

/// The EC2 credential with access key `access` of user `uid`, after the policy check
/// `rule` (404 if there is none; 401 if the id names a credential of another type, as
/// Keystone answers).
async fn ec2_target(
    st: &Identity,
    headers: &HeaderMap,
    rule: &str,
    uid: &str,
    access: &str,
) -> Result<Credential, Error> {
    let ctx = st.authenticate(headers).await?;
    let c = st.store.credential_require(&ec2_id(access)).await?;
    st.authorize(
        &ctx,
        rule,
        &json!({"user_id": uid, "target": {"credential": {"user_id": c.user_id, "id": c.id}}}),
    )?;
    st.store.user_require(uid).await?;
    if c.cred_type != "ec2" {
        return Err(Error::unauthenticated("EC2 access key not found."));
    }
    if c.user_id != uid {
        return Err(Error::not_found(format!(
            "Could not find credential: {}.",
            c.id
        )));
    }
    ec2_delegation_check(&ctx, c.project_id.as_deref())?;
    Ok(c)
}

async fn ec2_show(
    st: St,
    headers: HeaderMap,
    Path((uid, access)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let c = ec2_target(&st, &headers, "identity:ec2_get_credential", &uid, &access).await?;
    Ok(Json(json!({"credential": ec2_json(&headers, &c)})))
}

async fn ec2_delete(
    st: St,
    headers: HeaderMap,
    Path((uid, access)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let c = ec2_target(
        &st,
        &headers,
        "identity:ec2_delete_credential",
        &uid,
        &access,
    )
    .await?;
    st.store.credential_delete(&c.id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

/// An access rule as applications credentials and `/access_rules` show it.
fn access_rule_json(a: &AccessRule) -> Value {
    json!({"id": a.id, "service": a.service, "path": a.path, "method": a.method})
}

fn rule_target(uid: &str) -> Value {
    json!({"user_id": uid, "target": {"user": {"id": uid}}})
}

async fn rule_list(
    st: St,
    headers: HeaderMap,
    Path(uid): Path<String>,
    q: Q,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_access_rules", &rule_target(&uid))?;
    st.store.user_require(&uid).await?;
    let items = st
        .store
        .access_rule_list(&uid)
        .await?
        .iter()
        .filter(|a| {
            q.get("service").is_none_or(|x| *x == a.service)
                && q.get("path").is_none_or(|x| *x == a.path)
                && q.get("method").is_none_or(|x| *x == a.method)
        })
        .map(|a| {
            let mut v = access_rule_json(a);
            v["links"] = self_link(&headers, &format!("users/{uid}/access_rules/{}", a.id));
            v
        })
        .collect();
    Ok(Json(list(
        &headers,
        "access_rules",
        &format!("users/{uid}/access_rules"),
        items,
    )))
}

/// The user's access rule `id`, after the policy check `rule` (404 if not theirs).
async fn rule_get(
    st: &Identity,
    headers: &HeaderMap,
    rule: &str,
    uid: &str,
    id: &str,
) -> Result<AccessRule, Error> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, rule, &rule_target(uid))?;
    st.store
        .access_rule_list(uid)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| Error::not_found(format!("Could not find access rule: {id}.")))
}

async fn rule_show(
    st: St,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let a = rule_get(&st, &headers, "identity:get_access_rule", &uid, &id).await?;
    let mut v = access_rule_json(&a);
    v["links"] = self_link(&headers, &format!("users/{uid}/access_rules/{id}"));
    Ok(Json(json!({"access_rule": v})))
}

async fn rule_delete(
    st: St,
    headers: HeaderMap,
    Path((uid, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let a = rule_get(&st, &headers, "identity:delete_access_rule", &uid, &id).await?;
    let in_use = st.store.app_cred_list(&uid).await?.into_iter().find(|c| {
        c.access_rules
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r.get("id") == Some(&json!(a.id))))
    });
    if let Some(c) = in_use {
        return Err(Error::forbidden(format!(
            "Cannot delete access rule {} since it is in use by application credential {}.",
            a.id, c.id
        ))
        .into());
    }
    st.store.access_rule_delete(&a.id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}
