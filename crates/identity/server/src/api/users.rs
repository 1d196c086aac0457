//! Users and groups: `/v3/users`, `/v3/groups`, membership, password change, and a
//! user's projects and groups.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Value};

use super::{
    body_obj, bool_filter, list, name_matches, self_link, with_extra, ApiResult, Fields, St, Q,
};
use crate::store::identity::{Group, User};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/users", get(user_list).post(user_create))
        .route(
            "/v3/users/{id}",
            get(user_show).patch(user_update).delete(user_delete),
        )
        .route("/v3/users/{id}/password", post(user_password))
        .route("/v3/users/{id}/projects", get(user_projects))
        .route("/v3/users/{id}/groups", get(user_groups))
        .route("/v3/groups", get(group_list).post(group_create))
        .route(
            "/v3/groups/{id}",
            get(group_show).patch(group_update).delete(group_delete),
        )
        .route("/v3/groups/{id}/users", get(group_users))
        .route(
            "/v3/groups/{gid}/users/{uid}",
            put(member_add)
                .head(member_check)
                .get(member_check)
                .delete(member_remove),
        )
}

/// A user as Keystone renders it (never the password).
pub(crate) fn user_json(h: &HeaderMap, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": Value::Null, "options": {},
        "links": self_link(h, &format!("users/{}", u.id)),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    with_extra(v, &u.extra)
}

/// A group as Keystone renders it.
pub(crate) fn group_json(h: &HeaderMap, g: &Group) -> Value {
    with_extra(
        json!({"id": g.id, "name": g.name, "domain_id": g.domain_id, "description": g.description,
               "links": self_link(h, &format!("groups/{}", g.id))}),
        &g.extra,
    )
}

/// Hashes `password` with bcrypt off the async runtime.
pub(crate) async fn hash_password(st: &Identity, password: String) -> Result<String, Error> {
    if password.len() > 4096 {
        return Err(Error::bad_request(
            "Invalid input for field 'password': it is too long",
        ));
    }
    let cost = st.cfg.bcrypt_cost;
    tokio::task::spawn_blocking(move || bcrypt::hash(password, cost))
        .await
        .map_err(|e| Error::internal(format!("bcrypt task: {e}")))?
        .map_err(|e| Error::internal(format!("bcrypt: {e}")))
}

fn user_target(u: &User) -> Value {
    json!({"target": {"user": {"id": u.id, "domain_id": u.domain_id}}, "user_id": u.id})
}

async fn user_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let dom = q.get("domain_id").cloned();
    st.authorize(&ctx, "identity:list_users", &super::list_target(&ctx))?;
    let enabled = bool_filter(&q, "enabled");
    // Domain-scoped callers see their domain's users only.
    // Domain-scoped callers see their domain's users only (as Keystone filters).
    let scope_dom = ctx.domain_id.clone();
    let items = st
        .store
        .user_list()
        .await?
        .iter()
        .filter(|u| {
            name_matches(&q, "name", &u.name)
                && enabled.is_none_or(|e| e == u.enabled)
                && dom.as_ref().is_none_or(|d| *d == u.domain_id)
                && scope_dom.as_ref().is_none_or(|d| *d == u.domain_id)
        })
        .map(|u| user_json(&headers, u))
        .collect();
    Ok(Json(list(&headers, "users", "users", items)))
}

async fn user_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    let mut f = Fields(body_obj(&body, "user")?);
    f.drop_readonly();
    f.0.remove("id");
    f.0.remove("options");
    let domain_id = f
        .opt_str("domain_id", 64)?
        .or_else(|| ctx.domain_id.clone())
        .or_else(|| ctx.project_domain_id.clone())
        .unwrap_or_else(|| "default".into());
    st.authorize(
        &ctx,
        "identity:create_user",
        &json!({"target": {"user": {"domain_id": domain_id}}}),
    )?;
    st.store
        .domain_get(&domain_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find domain: {domain_id}.")))?;
    let name = f.req_str("name", 255)?;
    let password = f.opt_str("password", 4096)?;
    let default_project_id = f.opt_str("default_project_id", 64)?;
    if let Some(p) = &default_project_id {
        st.store
            .project_require(p)
            .await
            .map_err(|_| Error::bad_request(format!("Invalid default_project_id {p}")))?;
    }
    let enabled = f.opt_bool("enabled")?.unwrap_or(true);
    let password_hash = match password {
        Some(p) => Some(hash_password(&st, p).await?),
        None => None,
    };
    let u = User {
        id: rustack_common::new_hex_id(),
        name,
        domain_id,
        enabled,
        password_hash,
        default_project_id,
        extra: f.0,
        created_at: crate::store::now_text(),
    };
    st.store.user_create(&u).await?;
    remember_password(&st, &u).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_json(&headers, &u)})),
    ))
}

async fn user_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let u = match st.store.user_get(&id).await? {
        Some(u) => u,
        None => {
            st.authorize(
                &ctx,
                "identity:get_user",
                &json!({"target": {"user": {"id": id}}, "user_id": id}),
            )?;
            return Err(Error::not_found(format!("Could not find user: {id}.")).into());
        }
    };
    st.authorize(&ctx, "identity:get_user", &user_target(&u))?;
    Ok(Json(json!({"user": user_json(&headers, &u)})))
}

async fn user_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let mut u = st.store.user_require(&id).await?;
    st.authorize(&ctx, "identity:update_user", &user_target(&u))?;
    let mut f = Fields(body_obj(&body, "user")?);
    f.drop_readonly();
    f.0.remove("options");
    if let Some(v) = f.0.remove("id") {
        if v != json!(id) {
            return Err(Error::bad_request("Cannot change user ID").into());
        }
    }
    if let Some(v) = f.0.remove("domain_id") {
        if v != json!(u.domain_id) {
            return Err(Error::bad_request("Cannot change Domain ID").into());
        }
    }
    if let Some(n) = f.opt_str("name", 255)? {
        u.name = n;
    }
    let mut revoke = false;
    if let Some(e) = f.opt_bool("enabled")? {
        revoke |= u.enabled && !e;
        u.enabled = e;
    }
    if f.0.contains_key("default_project_id") {
        u.default_project_id = f.opt_str("default_project_id", 64)?;
    }
    if f.0.contains_key("password") {
        u.password_hash = match f.opt_str("password", 4096)? {
            Some(p) => Some(hash_password(&st, p).await?),
            None => None,
        };
        revoke = true;
    }
    u.extra.extend(f.0);
    st.store.user_update(&u).await?;
    if revoke {
        // An administrator's reset is not held to the history, but it is recorded.
        remember_password(&st, &u).await?;
    }
    if u.enabled && st.cfg.lockout_failure_attempts.is_some() {
        // As Keystone: any update that leaves the user enabled lifts a lockout.
        st.store.lockout_clear(&u.id).await?;
    }
    if revoke {
        st.revoke(Some(&u.id), None, None, None).await?;
    }
    st.bump();
    Ok(Json(json!({"user": user_json(&headers, &u)})))
}

async fn user_delete(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let u = st.store.user_require(&id).await?;
    st.authorize(&ctx, "identity:delete_user", &user_target(&u))?;
    st.store.user_delete(&id).await?;
    st.revoke(Some(&id), None, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v3/users/{id}/password`: the user changes their own password (no token needed;
/// the original password authenticates the call, as in Keystone).
async fn user_password(st: St, Path(id): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    let mut f = Fields(body_obj(&body, "user")?);
    let original = f.req_str("original_password", 4096)?;
    let new = f.req_str("password", 4096)?;
    f.deny_rest()?;
    let mut u = st.store.user_get(&id).await?.ok_or_else(|| {
        Error::unauthenticated("The request you have made requires authentication.")
    })?;
    let hash = u.password_hash.clone().unwrap_or_default();
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(original, &hash).unwrap_or(false))
        .await
        .map_err(|e| Error::internal(format!("bcrypt task: {e}")))?;
    if !ok {
        return Err(
            Error::unauthenticated("The request you have made requires authentication.").into(),
        );
    }
    let unique = st.cfg.unique_last_password_count;
    if unique > 0 {
        let mut previous: Vec<String> = u.password_hash.clone().into_iter().collect();
        previous.extend(
            st.store
                .password_history(&u.id)
                .await?
                .into_iter()
                .take(unique as usize),
        );
        let candidate = new.clone();
        let reused = tokio::task::spawn_blocking(move || {
            previous
                .iter()
                .any(|h| bcrypt::verify(&candidate, h).unwrap_or(false))
        })
        .await
        .map_err(|e| Error::internal(format!("bcrypt task: {e}")))?;
        if reused {
            return Err(Error::bad_request(format!(
                "The new password cannot be identical to a previous password. The total number which includes the new password must be unique is {unique}."
            ))
            .into());
        }
    }
    u.password_hash = Some(hash_password(&st, new).await?);
    st.store.user_update(&u).await?;
    remember_password(&st, &u).await?;
    st.revoke(Some(&u.id), None, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Records the user's current password hash in its history when
/// `unique_last_password_count` is on.
async fn remember_password(st: &Identity, u: &User) -> Result<(), Error> {
    let keep = st.cfg.unique_last_password_count;
    match &u.password_hash {
        Some(h) if keep > 0 => st.store.password_history_add(&u.id, h, keep).await,
        _ => Ok(()),
    }
}

async fn user_projects(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let u = st.store.user_require(&id).await?;
    st.authorize(&ctx, "identity:list_user_projects", &user_target(&u))?;
    let mut items = vec![];
    for p in st.store.project_list().await? {
        if !st
            .effective_roles(&id, &crate::store::assignment::Target::Project, &p.id)
            .await?
            .is_empty()
            && name_matches(&q, "name", &p.name)
            && bool_filter(&q, "enabled").is_none_or(|e| e == p.enabled)
            && q.get("domain_id").is_none_or(|d| *d == p.domain_id)
        {
            items.push(super::resource::project_json(&headers, &p));
        }
    }
    Ok(Json(list(
        &headers,
        "projects",
        &format!("users/{id}/projects"),
        items,
    )))
}

async fn user_groups(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let u = st.store.user_require(&id).await?;
    st.authorize(&ctx, "identity:list_groups_for_user", &user_target(&u))?;
    let mut items = vec![];
    for gid in st.store.groups_of_user(&id).await? {
        if let Ok(g) = st.store.group_require(&gid).await {
            items.push(group_json(&headers, &g));
        }
    }
    Ok(Json(list(
        &headers,
        "groups",
        &format!("users/{id}/groups"),
        items,
    )))
}

fn group_target(g: &Group) -> Value {
    json!({"target": {"group": {"id": g.id, "domain_id": g.domain_id}}, "group_id": g.id})
}

async fn group_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let dom = q.get("domain_id").cloned();
    st.authorize(&ctx, "identity:list_groups", &super::list_target(&ctx))?;
    let items = st
        .store
        .group_list()
        .await?
        .iter()
        .filter(|g| {
            name_matches(&q, "name", &g.name)
                && dom.as_ref().is_none_or(|d| *d == g.domain_id)
                && ctx.domain_id.as_ref().is_none_or(|d| *d == g.domain_id)
        })
        .map(|g| group_json(&headers, g))
        .collect();
    Ok(Json(list(&headers, "groups", "groups", items)))
}

async fn group_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    let mut f = Fields(body_obj(&body, "group")?);
    f.drop_readonly();
    f.0.remove("id");
    let domain_id = f
        .opt_str("domain_id", 64)?
        .or_else(|| ctx.domain_id.clone())
        .or_else(|| ctx.project_domain_id.clone())
        .unwrap_or_else(|| "default".into());
    st.authorize(
        &ctx,
        "identity:create_group",
        &json!({"target": {"group": {"domain_id": domain_id}}}),
    )?;
    st.store
        .domain_get(&domain_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find domain: {domain_id}.")))?;
    let g = Group {
        id: rustack_common::new_hex_id(),
        name: f.req_str("name", 64)?,
        domain_id,
        description: f.opt_str("description", 65535)?.unwrap_or_default(),
        extra: f.0,
    };
    st.store.group_create(&g).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"group": group_json(&headers, &g)})),
    ))
}

async fn group_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let g = st.store.group_require(&id).await?;
    st.authorize(&ctx, "identity:get_group", &group_target(&g))?;
    Ok(Json(json!({"group": group_json(&headers, &g)})))
}

async fn group_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let mut g = st.store.group_require(&id).await?;
    st.authorize(&ctx, "identity:update_group", &group_target(&g))?;
    let mut f = Fields(body_obj(&body, "group")?);
    f.drop_readonly();
    f.0.remove("id");
    if let Some(v) = f.0.remove("domain_id") {
        if v != json!(g.domain_id) {
            return Err(Error::bad_request("Cannot change Domain ID").into());
        }
    }
    if let Some(n) = f.opt_str("name", 64)? {
        g.name = n;
    }
    if let Some(d) = f.opt_str("description", 65535)? {
        g.description = d;
    }
    g.extra.extend(f.0);
    st.store.group_update(&g).await?;
    st.bump();
    Ok(Json(json!({"group": group_json(&headers, &g)})))
}

async fn group_delete(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let g = st.store.group_require(&id).await?;
    st.authorize(&ctx, "identity:delete_group", &group_target(&g))?;
    let members = st.store.users_in_group(&id).await?;
    st.store.group_delete(&id).await?;
    for u in members {
        st.revoke(Some(&u), None, None, None).await?;
    }
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn group_users(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let g = st.store.group_require(&id).await?;
    st.authorize(&ctx, "identity:list_users_in_group", &group_target(&g))?;
    let mut items = vec![];
    for uid in st.store.users_in_group(&id).await? {
        if let Some(u) = st.store.user_get(&uid).await? {
            items.push(user_json(&headers, &u));
        }
    }
    Ok(Json(list(
        &headers,
        "users",
        &format!("groups/{id}/users"),
        items,
    )))
}

async fn member_target(st: &Identity, gid: &str, uid: &str) -> Result<Value, Error> {
    let g = st.store.group_require(gid).await?;
    let u = st.store.user_require(uid).await?;
    Ok(
        json!({"target": {"group": {"id": g.id, "domain_id": g.domain_id}, "user": {"id": u.id, "domain_id": u.domain_id}}}),
    )
}

async fn member_add(
    st: St,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let t = member_target(&st, &gid, &uid).await?;
    st.authorize(&ctx, "identity:add_user_to_group", &t)?;
    st.store.membership_add(&uid, &gid).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn member_check(
    st: St,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let t = member_target(&st, &gid, &uid).await?;
    st.authorize(&ctx, "identity:check_user_in_group", &t)?;
    if st.store.membership_check(&uid, &gid).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("User '{uid}' not found in group '{gid}'")).into())
    }
}

async fn member_remove(
    st: St,
    headers: HeaderMap,
    Path((gid, uid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let t = member_target(&st, &gid, &uid).await?;
    st.authorize(&ctx, "identity:remove_user_from_group", &t)?;
    if !st.store.membership_remove(&uid, &gid).await? {
        return Err(Error::not_found(format!("User '{uid}' not found in group '{gid}'")).into());
    }
    st.revoke(Some(&uid), None, None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
