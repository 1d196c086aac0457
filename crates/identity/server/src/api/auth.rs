//! `/v3/auth/*`: issuing, validating, checking and revoking tokens, and what a token
//! may see (catalog, projects, domains, system).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustack_api_common::{X_AUTH_TOKEN, X_SUBJECT_TOKEN};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::{list, self_link, ApiResult, St, Q};
use crate::store::assignment::Target;
use crate::store::identity::User;
use crate::token::{Authenticated, RequestedScope, TokenData};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route(
            "/v3/auth/tokens",
            get(validate).head(check).delete(revoke).post(issue),
        )
        .route("/v3/auth/catalog", get(catalog))
        .route("/v3/auth/projects", get(projects))
        .route("/v3/auth/domains", get(domains))
        .route("/v3/auth/system", get(system))
}

fn unauthorized() -> Error {
    Error::unauthenticated("The request you have made requires authentication.")
}

fn obj<'a>(v: &'a Value, key: &str) -> Result<&'a Map<String, Value>, Error> {
    v.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request(format!("'{key}' is a required property")))
}

fn opt_s<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::bad_request(format!(
            "Invalid input for field '{key}': {other} is not of type 'string'"
        ))),
    }
}

/// Resolves `{"id"}` or `{"name", "domain": {"id"|"name"}}` to a domain id.
async fn domain_ref(st: &Identity, m: &Map<String, Value>) -> Result<String, Error> {
    if let Some(id) = opt_s(m, "id")? {
        return Ok(id.to_string());
    }
    if let Some(name) = opt_s(m, "name")? {
        return st
            .store
            .domain_by_name(name)
            .await?
            .map(|d| d.id)
            .ok_or_else(unauthorized);
    }
    Err(Error::bad_request(
        "Expecting to find id or name in domain.",
    ))
}

async fn user_ref(st: &Identity, m: &Map<String, Value>) -> Result<User, Error> {
    if let Some(id) = opt_s(m, "id")? {
        return st.store.user_get(id).await?.ok_or_else(unauthorized);
    }
    let name = opt_s(m, "name")?
        .ok_or_else(|| Error::bad_request("Expecting to find id or name in user."))?;
    let dom = m
        .get("domain")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("Expecting to find domain in user."))?;
    let did = domain_ref(st, dom).await?;
    st.store
        .user_by_name(&did, name)
        .await?
        .ok_or_else(unauthorized)
}

async fn authenticate(
    st: &Identity,
    identity: &Map<String, Value>,
) -> Result<Authenticated, Error> {
    let methods: Vec<String> = match identity.get("methods") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| Error::bad_request("Invalid input for field 'methods'"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(Error::bad_request("'methods' is a required property")),
    };
    for m in &methods {
        if !st.cfg.auth_methods.contains(m)
            || !matches!(m.as_str(), "password" | "token" | "application_credential")
        {
            return Err(Error::unauthenticated(format!(
                "Attempted to authenticate with an unsupported method: {m}."
            )));
        }
    }
    let ident = Value::Object(identity.clone());
    let mut out: Option<Authenticated> = None;
    for m in &methods {
        let next = match m.as_str() {
            "password" => {
                let pw = ident
                    .get("password")
                    .ok_or_else(|| Error::bad_request("'password' is a required property"))?;
                let user = obj(pw, "user")?;
                let password = opt_s(user, "password")?
                    .ok_or_else(|| Error::bad_request("'password' is a required property"))?;
                let u = user_ref(st, user).await?;
                let lockout = st.cfg.lockout_failure_attempts.filter(|n| *n > 0);
                if let Some(max) = lockout {
                    if account_locked(st, &u.id, max).await? {
                        tracing::info!(user.id = %u.id, "password authentication refused: account locked");
                        return Err(Error::unauthenticated(format!(
                            "The account is locked for user: {}.",
                            u.id
                        )));
                    }
                }
                let hash = u.password_hash.clone().ok_or_else(unauthorized)?;
                let pw = password.to_string();
                let ok =
                    tokio::task::spawn_blocking(move || bcrypt::verify(pw, &hash).unwrap_or(false))
                        .await
                        .map_err(|e| Error::internal(format!("bcrypt task: {e}")))?;
                if !ok {
                    tracing::info!(user.id = %u.id, "password authentication failed");
                    if lockout.is_some() {
                        st.store.lockout_record_failure(&u.id).await?;
                    }
                    return Err(unauthorized());
                }
                if lockout.is_some() {
                    st.store.lockout_clear(&u.id).await?;
                }
                Authenticated {
                    user: u,
                    methods: vec!["password".into()],
                    parent: None,
                    app_cred: None,
                }
            }
            "token" => {
                let id = opt_s(obj(&ident, "token")?, "id")?
                    .ok_or_else(|| Error::bad_request("'id' is a required property"))?;
                // As Keystone: a revoked, expired or unknown token is TokenNotFound (404).
                let parent = st.validate_token(id, false).await.map_err(|e| match e {
                    Error::NotFound { .. } => e,
                    _ => unauthorized(),
                })?;
                if parent.app_cred.is_some() {
                    return Err(Error::forbidden(
                        "Application credential tokens cannot be rescoped.",
                    ));
                }
                let mut methods = parent.methods.clone();
                if !methods.iter().any(|x| x == "token") {
                    methods.push("token".into());
                }
                let chain = parent.audit_ids.last().cloned().unwrap_or_default();
                Authenticated {
                    user: parent.user,
                    methods,
                    parent: Some((parent.expires_at, chain)),
                    app_cred: None,
                }
            }
            _ => {
                let ac = obj(&ident, "application_credential")?;
                let secret = opt_s(ac, "secret")?
                    .ok_or_else(|| Error::bad_request("'secret' is a required property"))?;
                let cred = if let Some(id) = opt_s(ac, "id")? {
                    st.store.app_cred_get(id).await?
                } else {
                    let name = opt_s(ac, "name")?.ok_or_else(|| {
                        Error::bad_request(
                            "Expecting to find id or name in application_credential.",
                        )
                    })?;
                    let user = ac.get("user").and_then(Value::as_object).ok_or_else(|| {
                        Error::bad_request("Expecting to find user in application_credential.")
                    })?;
                    let u = user_ref(st, user).await?;
                    st.store.app_cred_by_name(&u.id, name).await?
                }
                .ok_or_else(unauthorized)?;
                if let Some(exp) = cred
                    .expires_at
                    .as_deref()
                    .and_then(rustack_common::time::parse_iso)
                {
                    if exp <= chrono::Utc::now() {
                        return Err(unauthorized());
                    }
                }
                let (hash, sec) = (cred.secret_hash.clone(), secret.to_string());
                let ok = tokio::task::spawn_blocking(move || {
                    bcrypt::verify(sec, &hash).unwrap_or(false)
                })
                .await
                .map_err(|e| Error::internal(format!("bcrypt task: {e}")))?;
                if !ok {
                    return Err(unauthorized());
                }
                let u = st
                    .store
                    .user_get(&cred.user_id)
                    .await?
                    .ok_or_else(unauthorized)?;
                Authenticated {
                    user: u,
                    methods: vec!["application_credential".into()],
                    parent: None,
                    app_cred: Some(cred),
                }
            }
        };
        if let Some(prev) = &out {
            if prev.user.id != next.user.id {
                return Err(unauthorized());
            }
        }
        out = Some(match out {
            None => next,
            Some(mut prev) => {
                for m in next.methods {
                    if !prev.methods.contains(&m) {
                        prev.methods.push(m);
                    }
                }
                prev.parent = prev.parent.or(next.parent);
                prev.app_cred = prev.app_cred.or(next.app_cred);
                prev
            }
        });
    }
    out.ok_or_else(unauthorized)
}

async fn requested_scope(st: &Identity, auth: &Value) -> Result<RequestedScope, Error> {
    let scope = match auth.get("scope") {
        None | Some(Value::Null) => return Ok(RequestedScope::None),
        Some(Value::String(s)) if s == "unscoped" => return Ok(RequestedScope::None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(Error::bad_request("Invalid input for field 'scope'")),
    };
    if scope.len() > 1 {
        return Err(Error::bad_request(
            "Only one of project, domain or system may be given in scope.",
        ));
    }
    if let Some(p) = scope.get("project") {
        let p = p
            .as_object()
            .ok_or_else(|| Error::bad_request("Invalid input for field 'project'"))?;
        if let Some(id) = opt_s(p, "id")? {
            return Ok(RequestedScope::Project(id.to_string()));
        }
        let name = opt_s(p, "name")?
            .ok_or_else(|| Error::bad_request("Expecting to find id or name in project."))?;
        let dom = p
            .get("domain")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::bad_request("Expecting to find domain in project."))?;
        let did = domain_ref(st, dom).await?;
        let project = st
            .store
            .project_by_name(&did, name)
            .await?
            .ok_or_else(unauthorized)?;
        return Ok(RequestedScope::Project(project.id));
    }
    if let Some(d) = scope.get("domain") {
        let d = d
            .as_object()
            .ok_or_else(|| Error::bad_request("Invalid input for field 'domain'"))?;
        return Ok(RequestedScope::Domain(domain_ref(st, d).await?));
    }
    if let Some(s) = scope.get("system") {
        if s.get("all") == Some(&Value::Bool(true)) {
            return Ok(RequestedScope::System);
        }
        return Err(Error::bad_request(
            "Invalid input for field 'system': only {\"all\": true} is supported.",
        ));
    }
    if scope.contains_key("OS-TRUST:trust") {
        return Err(Error::not_implemented(
            "Authenticating with a trust is not supported (trusts are stored, not redeemed).",
        ));
    }
    Err(Error::bad_request("Invalid input for field 'scope'"))
}

/// Keystone's lockout rule: `max` failures in a row lock the account until
/// `lockout_duration` seconds after the last one (then the count starts over).
async fn account_locked(st: &Identity, user_id: &str, max: u32) -> Result<bool, Error> {
    let (count, at) = st.store.lockout_get(user_id).await?;
    if count < i64::from(max) {
        return Ok(false);
    }
    let until = at
        .as_deref()
        .and_then(rustack_common::time::parse_iso)
        .map(|t| t + chrono::Duration::seconds(st.cfg.lockout_duration as i64));
    if until.is_some_and(|u| chrono::Utc::now() >= u) {
        st.store.lockout_clear(user_id).await?;
        return Ok(false);
    }
    Ok(true)
}

fn with_subject(data: &TokenData, status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&data.token) {
        resp.headers_mut().insert(X_SUBJECT_TOKEN, v);
    }
    resp
}

/// `POST /v3/auth/tokens`.
async fn issue(st: St, q: Q, body: Bytes) -> ApiResult<Response> {
    let v: Value = rustack_api_common::parse_json(&body)?;
    let auth = v
        .get("auth")
        .filter(|a| a.is_object())
        .ok_or_else(|| Error::bad_request("'auth' is a required property"))?;
    let identity = obj(auth, "identity")?;
    let authn = authenticate(&st, identity).await?;
    let scope = requested_scope(&st, auth).await?;
    if authn
        .app_cred
        .as_ref()
        .is_some_and(|_| scope == RequestedScope::System)
    {
        return Err(unauthorized().into());
    }
    let data = st.issue_token(authn, scope).await?;
    let catalog = if q.contains_key("nocatalog") {
        None
    } else {
        Some(st.catalog(&data).await?)
    };
    tracing::info!(user.id = %data.user.id, "issued token");
    Ok(with_subject(&data, StatusCode::CREATED, data.body(catalog)))
}

async fn subject(
    st: &Identity,
    headers: &HeaderMap,
    q: &Q,
    rule: &str,
) -> Result<TokenData, Error> {
    let ctx = st.authenticate(headers).await?;
    let token = headers
        .get(X_SUBJECT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::bad_request("X-Subject-Token is missing."))?;
    let allow_expired = q
        .get("allow_expired")
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    // As Keystone: the subject is validated while building the policy target, so an
    // invalid, expired or revoked subject is a 404 before the rule is evaluated.
    let subject = st.validate_token(token, allow_expired).await?;
    st.authorize(
        &ctx,
        rule,
        &json!({"target": {"token": {"user_id": subject.user.id, "user": {"domain": {"id": subject.user.domain_id}}}}}),
    )?;
    Ok(subject)
}

/// `GET /v3/auth/tokens`.
async fn validate(st: St, headers: HeaderMap, q: Q) -> ApiResult<Response> {
    let data = subject(&st, &headers, &q, "identity:validate_token").await?;
    let catalog = if q.contains_key("nocatalog") {
        None
    } else {
        Some(st.catalog(&data).await?)
    };
    Ok(with_subject(&data, StatusCode::OK, data.body(catalog)))
}

/// `HEAD /v3/auth/tokens`.
async fn check(st: St, headers: HeaderMap, q: Q) -> ApiResult<Response> {
    let data = subject(&st, &headers, &q, "identity:check_token").await?;
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&data.token) {
        resp.headers_mut().insert(X_SUBJECT_TOKEN, v);
    }
    Ok(resp)
}

/// `DELETE /v3/auth/tokens`.
async fn revoke(st: St, headers: HeaderMap, q: Q) -> ApiResult<StatusCode> {
    let data = subject(&st, &headers, &q, "identity:revoke_token").await?;
    let audit = data.audit_ids.first().cloned();
    st.revoke(None, None, None, audit.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn caller(st: &Identity, headers: &HeaderMap) -> Result<TokenData, Error> {
    let token = headers
        .get(X_AUTH_TOKEN)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    st.validate_token(token, false)
        .await
        .map_err(|_| unauthorized())
}

/// `GET /v3/auth/catalog`.
async fn catalog(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let data = caller(&st, &headers).await?;
    if matches!(data.scope, crate::token::Scope::Unscoped) {
        return Err(Error::forbidden("A scoped token is required to list the catalog.").into());
    }
    let c = st.catalog(&data).await?;
    Ok(Json(
        json!({"catalog": c, "links": {"self": format!("{}/v3/auth/catalog", super::base_url(&headers)), "previous": null, "next": null}}),
    ))
}

/// Ids of the targets of `kind` where the user has any effective role.
async fn reachable(st: &Identity, user_id: &str, kind: Target) -> Result<Vec<String>, Error> {
    let groups = st.store.groups_of_user(user_id).await?;
    let assignments = st.store.assignments_of_actors(user_id, &groups).await?;
    let mut out = std::collections::BTreeSet::new();
    match kind {
        Target::Project => {
            let projects = st.store.project_list().await?;
            for p in &projects {
                if !st
                    .effective_roles(user_id, &Target::Project, &p.id)
                    .await?
                    .is_empty()
                {
                    out.insert(p.id.clone());
                }
            }
        }
        _ => {
            for a in assignments
                .iter()
                .filter(|a| a.target == kind && !a.inherited)
            {
                out.insert(a.target_id.clone());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// `GET /v3/auth/projects`.
async fn projects(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let data = caller(&st, &headers).await?;
    let mut items = vec![];
    for id in reachable(&st, &data.user.id, Target::Project).await? {
        if let Some(p) = st.store.project_get(&id).await? {
            if p.enabled {
                items.push(super::resource::project_json(&headers, &p));
            }
        }
    }
    Ok(Json(list(&headers, "projects", "auth/projects", items)))
}

/// `GET /v3/auth/domains`.
async fn domains(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let data = caller(&st, &headers).await?;
    let mut items = vec![];
    for id in reachable(&st, &data.user.id, Target::Domain).await? {
        if let Some(d) = st.store.domain_get(&id).await? {
            if d.enabled {
                items.push(super::resource::domain_json(&headers, &d));
            }
        }
    }
    Ok(Json(list(&headers, "domains", "auth/domains", items)))
}

/// `GET /v3/auth/system`.
async fn system(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let data = caller(&st, &headers).await?;
    let has = !st
        .effective_roles(&data.user.id, &Target::System, "all")
        .await?
        .is_empty();
    let items = if has {
        vec![json!({"all": true})]
    } else {
        vec![]
    };
    Ok(Json(
        json!({"system": items, "links": self_link(&headers, "auth/system")}),
    ))
}
