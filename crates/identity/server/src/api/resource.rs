//! Domains and projects: `/v3/domains`, `/v3/projects` (hierarchy, tags, filters).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Value};

use super::{
    body_obj, bool_filter, check_tags, list, name_matches, self_link, with_extra, ApiResult,
    Fields, St, Q,
};
use crate::store::resource::{Domain, Project};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/domains", get(domain_list).post(domain_create))
        .route(
            "/v3/domains/{id}",
            get(domain_show).patch(domain_update).delete(domain_delete),
        )
        .route("/v3/projects", get(project_list).post(project_create))
        .route(
            "/v3/projects/{id}",
            get(project_show)
                .patch(project_update)
                .delete(project_delete),
        )
        .route(
            "/v3/projects/{id}/tags",
            get(tag_list).put(tag_replace).delete(tag_clear),
        )
        .route(
            "/v3/projects/{id}/tags/{tag}",
            put(tag_add)
                .get(tag_check)
                .head(tag_check)
                .delete(tag_remove),
        )
}

/// A domain as Keystone renders it.
pub(crate) fn domain_json(h: &HeaderMap, d: &Domain) -> Value {
    with_extra(
        json!({
            "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
            "tags": d.tags, "options": {}, "links": self_link(h, &format!("domains/{}", d.id)),
        }),
        &d.extra,
    )
}

/// A project as Keystone renders it.
pub(crate) fn project_json(h: &HeaderMap, p: &Project) -> Value {
    with_extra(
        json!({
            "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
            "enabled": p.enabled, "parent_id": p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone()),
            "is_domain": false, "tags": p.tags, "options": {},
            "links": self_link(h, &format!("projects/{}", p.id)),
        }),
        &p.extra,
    )
}

/// A domain seen through the projects API (a project acting as a domain).
pub(crate) fn domain_as_project_json(h: &HeaderMap, d: &Domain) -> Value {
    with_extra(
        json!({
            "id": d.id, "name": d.name, "domain_id": Value::Null, "description": d.description,
            "enabled": d.enabled, "parent_id": Value::Null, "is_domain": true, "tags": d.tags,
            "options": {}, "links": self_link(h, &format!("projects/{}", d.id)),
        }),
        &d.extra,
    )
}

async fn domain_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_domains", &super::list_target(&ctx))?;
    let enabled = bool_filter(&q, "enabled");
    let items = st
        .store
        .domain_list()
        .await?
        .iter()
        .filter(|d| name_matches(&q, "name", &d.name) && enabled.is_none_or(|e| e == d.enabled))
        .map(|d| domain_json(&headers, d))
        .collect();
    Ok(Json(list(&headers, "domains", "domains", items)))
}

async fn domain_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_domain", &json!({}))?;
    let mut f = Fields(body_obj(&body, "domain")?);
    f.drop_readonly();
    let explicit_id = f.opt_str("explicit_domain_id", 64)?;
    f.0.remove("id");
    let tags = f.opt_str_list("tags")?.unwrap_or_default();
    check_tags(&tags)?;
    f.0.remove("options");
    let d = Domain {
        id: explicit_id.unwrap_or_else(rustack_common::new_hex_id),
        name: f.req_str("name", 64)?,
        description: f.opt_str("description", 65535)?.unwrap_or_default(),
        enabled: f.opt_bool("enabled")?.unwrap_or(true),
        tags,
        extra: f.0,
    };
    st.store.domain_create(&d).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"domain": domain_json(&headers, &d)})),
    ))
}

async fn domain_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:get_domain",
        &json!({"target": {"domain": {"id": id}}}),
    )?;
    let d = st.store.domain_require(&id).await?;
    Ok(Json(json!({"domain": domain_json(&headers, &d)})))
}

async fn domain_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:update_domain",
        &json!({"target": {"domain": {"id": id}}}),
    )?;
    let mut d = st.store.domain_require(&id).await?;
    let mut f = Fields(body_obj(&body, "domain")?);
    f.drop_readonly();
    if let Some(v) = f.0.remove("id") {
        if v != json!(id) {
            return Err(Error::bad_request("Cannot change Domain ID").into());
        }
    }
    if let Some(n) = f.opt_str("name", 64)? {
        d.name = n;
    }
    if let Some(x) = f.opt_str("description", 65535)? {
        d.description = x;
    }
    let was_enabled = d.enabled;
    if let Some(e) = f.opt_bool("enabled")? {
        d.enabled = e;
    }
    if let Some(t) = f.opt_str_list("tags")? {
        check_tags(&t)?;
        d.tags = t;
    }
    f.0.remove("options");
    d.extra.extend(f.0);
    st.store.domain_update(&d).await?;
    if was_enabled && !d.enabled {
        st.revoke(None, None, Some(&d.id), None).await?;
    }
    st.bump();
    Ok(Json(json!({"domain": domain_json(&headers, &d)})))
}

async fn domain_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:delete_domain",
        &json!({"target": {"domain": {"id": id}}}),
    )?;
    let d = st.store.domain_require(&id).await?;
    if d.enabled {
        return Err(Error::forbidden(
            "Cannot delete a domain that is enabled, please disable it first.",
        )
        .into());
    }
    st.store.domain_delete(&id).await?;
    st.revoke(None, None, Some(&id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn project_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let domain_filter = q.get("domain_id").cloned();
    st.authorize(&ctx, "identity:list_projects", &super::list_target(&ctx))?;
    let enabled = bool_filter(&q, "enabled");
    let is_domain = bool_filter(&q, "is_domain");
    let tags_all: Vec<String> = q
        .get("tags")
        .map(|t| t.split(',').map(String::from).collect())
        .unwrap_or_default();
    let tags_any: Vec<String> = q
        .get("tags-any")
        .map(|t| t.split(',').map(String::from).collect())
        .unwrap_or_default();
    let not_tags: Vec<String> = q
        .get("not-tags")
        .map(|t| t.split(',').map(String::from).collect())
        .unwrap_or_default();
    let not_tags_any: Vec<String> = q
        .get("not-tags-any")
        .map(|t| t.split(',').map(String::from).collect())
        .unwrap_or_default();
    let items = if is_domain == Some(true) {
        st.store
            .domain_list()
            .await?
            .iter()
            .filter(|d| name_matches(&q, "name", &d.name) && enabled.is_none_or(|e| e == d.enabled))
            .map(|d| domain_as_project_json(&headers, d))
            .collect()
    } else {
        st.store
            .project_list()
            .await?
            .iter()
            .filter(|p| {
                name_matches(&q, "name", &p.name)
                    && enabled.is_none_or(|e| e == p.enabled)
                    && domain_filter.as_ref().is_none_or(|d| *d == p.domain_id)
                    && ctx.domain_id.as_ref().is_none_or(|d| *d == p.domain_id)
                    && q.get("parent_id")
                        .is_none_or(|pid| p.parent_id.as_deref().unwrap_or(&p.domain_id) == pid)
                    && tags_all.iter().all(|t| p.tags.contains(t))
                    && (tags_any.is_empty() || tags_any.iter().any(|t| p.tags.contains(t)))
                    && (not_tags.is_empty() || !not_tags.iter().all(|t| p.tags.contains(t)))
                    && !not_tags_any.iter().any(|t| p.tags.contains(t))
            })
            .map(|p| project_json(&headers, p))
            .collect()
    };
    Ok(Json(list(&headers, "projects", "projects", items)))
}

async fn project_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    let mut f = Fields(body_obj(&body, "project")?);
    f.drop_readonly();
    f.0.remove("id");
    f.0.remove("options");
    let name = f.req_str("name", 64)?;
    let parent_id = f.opt_str("parent_id", 64)?;
    let mut domain_id = f.opt_str("domain_id", 64)?;
    if f.opt_bool("is_domain")? == Some(true) {
        return project_create_domain(&st, &ctx, &headers, name, parent_id, domain_id, f).await;
    }
    let parent = match &parent_id {
        Some(pid) => match st.store.project_get(pid).await? {
            Some(p) => Some(p),
            None => match st.store.domain_get(pid).await? {
                // parent_id naming the domain means a top-level project in it.
                Some(d) => {
                    domain_id.get_or_insert(d.id);
                    None
                }
                None => {
                    return Err(Error::not_found(format!("Could not find project: {pid}.")).into())
                }
            },
        },
        None => None,
    };
    if let Some(p) = &parent {
        if domain_id.as_ref().is_some_and(|d| *d != p.domain_id) {
            return Err(Error::bad_request(
                "Cannot create project, the parent is in a different domain.",
            )
            .into());
        }
        domain_id = Some(p.domain_id.clone());
    }
    let domain_id = domain_id
        .or_else(|| ctx.domain_id.clone())
        .or_else(|| ctx.project_domain_id.clone())
        .unwrap_or_else(|| "default".into());
    st.authorize(
        &ctx,
        "identity:create_project",
        &json!({"target": {"project": {"domain_id": domain_id, "parent_id": parent_id}}}),
    )?;
    st.store
        .domain_get(&domain_id)
        .await?
        .ok_or_else(|| Error::not_found(format!("Could not find domain: {domain_id}.")))?;
    let tags = f.opt_str_list("tags")?.unwrap_or_default();
    check_tags(&tags)?;
    let p = Project {
        id: rustack_common::new_hex_id(),
        name,
        domain_id,
        parent_id: parent.map(|p| p.id),
        description: f.opt_str("description", 65535)?.unwrap_or_default(),
        enabled: f.opt_bool("enabled")?.unwrap_or(true),
        tags,
        extra: f.0,
    };
    st.store.project_create(&p).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project_json(&headers, &p)})),
    ))
}

/// `POST /v3/projects` with `is_domain: true`: a domain, created through the projects
/// API (Keystone stores domains as such projects; rustack keeps them in the domain
/// table and shows them both ways).
async fn project_create_domain(
    st: &Identity,
    ctx: &rustack_api_common::AuthContext,
    headers: &HeaderMap,
    name: String,
    parent_id: Option<String>,
    domain_id: Option<String>,
    mut f: Fields,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if parent_id.is_some() || domain_id.is_some() {
        return Err(Error::bad_request(
            "Cannot create project, the is_domain project cannot have a parent or domain.",
        )
        .into());
    }
    st.authorize(
        ctx,
        "identity:create_project",
        &json!({"target": {"project": {"domain_id": Value::Null, "is_domain": true}}}),
    )?;
    let tags = f.opt_str_list("tags")?.unwrap_or_default();
    check_tags(&tags)?;
    let d = Domain {
        id: rustack_common::new_hex_id(),
        name,
        description: f.opt_str("description", 65535)?.unwrap_or_default(),
        enabled: f.opt_bool("enabled")?.unwrap_or(true),
        tags,
        extra: f.0,
    };
    st.store.domain_create(&d).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": domain_as_project_json(headers, &d)})),
    ))
}

/// The domain `id` names when it is no project (a project acting as a domain), after
/// the policy check `rule` on it.
async fn domain_as_project(
    st: &Identity,
    ctx: &rustack_api_common::AuthContext,
    rule: &str,
    id: &str,
) -> Result<Option<Domain>, Error> {
    let Some(d) = st.store.domain_get(id).await? else {
        return Ok(None);
    };
    st.authorize(
        ctx,
        rule,
        &json!({"target": {"project": {"id": d.id, "domain_id": Value::Null}}, "project_id": d.id}),
    )?;
    Ok(Some(d))
}

async fn project_target(st: &Identity, id: &str) -> Result<(Project, Value), Error> {
    let p = st.store.project_require(id).await?;
    let t =
        json!({"target": {"project": {"id": p.id, "domain_id": p.domain_id}}, "project_id": p.id});
    Ok((p, t))
}

async fn project_show(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Q,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let (p, t) = match project_target(&st, &id).await {
        Ok(x) => x,
        Err(e) => {
            if let Some(d) = domain_as_project(&st, &ctx, "identity:get_project", &id).await? {
                return Ok(Json(
                    json!({"project": domain_as_project_json(&headers, &d)}),
                ));
            }
            // Only callers who could read any project learn that it does not exist.
            st.authorize(
                &ctx,
                "identity:get_project",
                &json!({"target": {"project": {"id": id}}}),
            )?;
            return Err(e.into());
        }
    };
    st.authorize(&ctx, "identity:get_project", &t)?;
    let mut v = project_json(&headers, &p);
    if q.contains_key("parents_as_ids") || q.contains_key("parents_as_list") {
        let mut parents = vec![];
        let mut cur = p.parent_id.clone();
        while let Some(pid) = cur {
            let Some(pp) = st.store.project_get(&pid).await? else {
                break;
            };
            parents.push(pp.clone());
            cur = pp.parent_id.clone();
        }
        if q.contains_key("parents_as_list") {
            v["parents"] = Value::Array(
                parents
                    .iter()
                    .map(|pp| json!({"project": project_json(&headers, pp)}))
                    .collect(),
            );
        } else {
            let mut nested = Value::Null;
            for pp in parents.iter().rev() {
                nested = json!({ pp.id.clone(): nested });
            }
            v["parents"] = nested;
        }
    }
    if q.contains_key("subtree_as_ids") || q.contains_key("subtree_as_list") {
        let all = st.store.project_list().await?;
        let mut subtree = vec![];
        let mut frontier = vec![p.id.clone()];
        while let Some(x) = frontier.pop() {
            for c in all
                .iter()
                .filter(|c| c.parent_id.as_deref() == Some(x.as_str()))
            {
                subtree.push(c.clone());
                frontier.push(c.id.clone());
            }
        }
        if q.contains_key("subtree_as_list") {
            v["subtree"] = Value::Array(
                subtree
                    .iter()
                    .map(|c| json!({"project": project_json(&headers, c)}))
                    .collect(),
            );
        } else {
            fn nest(all: &[Project], id: &str) -> Value {
                let kids: serde_json::Map<String, Value> = all
                    .iter()
                    .filter(|c| c.parent_id.as_deref() == Some(id))
                    .map(|c| (c.id.clone(), nest(all, &c.id)))
                    .collect();
                if kids.is_empty() {
                    Value::Null
                } else {
                    Value::Object(kids)
                }
            }
            v["subtree"] = nest(&all, &p.id);
        }
    }
    Ok(Json(json!({"project": v})))
}

async fn project_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let (mut p, t) = match project_target(&st, &id).await {
        Ok(x) => x,
        Err(e) => match domain_as_project(&st, &ctx, "identity:update_project", &id).await? {
            Some(d) => return domain_project_update(&st, &headers, d, &body).await,
            None => return Err(e.into()),
        },
    };
    st.authorize(&ctx, "identity:update_project", &t)?;
    let mut f = Fields(body_obj(&body, "project")?);
    f.drop_readonly();
    f.0.remove("options");
    if let Some(v) = f.0.remove("id") {
        if v != json!(id) {
            return Err(Error::bad_request("Cannot change project ID").into());
        }
    }
    if let Some(v) = f.0.remove("domain_id") {
        if v != json!(p.domain_id) {
            return Err(Error::bad_request("Cannot change Domain ID").into());
        }
    }
    if let Some(v) = f.0.remove("parent_id") {
        if v != json!(p.parent_id.clone().unwrap_or_else(|| p.domain_id.clone())) {
            return Err(Error::forbidden("Update of `parent_id` is not allowed.").into());
        }
    }
    if let Some(Value::Bool(true)) = f.0.remove("is_domain") {
        return Err(Error::forbidden("Update of `is_domain` is not allowed.").into());
    }
    if let Some(n) = f.opt_str("name", 64)? {
        if n.trim().is_empty() {
            return Err(
                Error::bad_request("Invalid input for field 'name': it must not be empty").into(),
            );
        }
        p.name = n;
    }
    if let Some(x) = f.opt_str("description", 65535)? {
        p.description = x;
    }
    let was_enabled = p.enabled;
    if let Some(e) = f.opt_bool("enabled")? {
        p.enabled = e;
    }
    if let Some(tg) = f.opt_str_list("tags")? {
        check_tags(&tg)?;
        p.tags = tg;
    }
    p.extra.extend(f.0);
    st.store.project_update(&p).await?;
    if was_enabled && !p.enabled {
        st.revoke(None, Some(&p.id), None, None).await?;
    }
    st.bump();
    Ok(Json(json!({"project": project_json(&headers, &p)})))
}

/// `PATCH /v3/projects/{id}` on a project acting as a domain: the domain's name,
/// description, enabled flag and tags.
async fn domain_project_update(
    st: &Identity,
    headers: &HeaderMap,
    mut d: Domain,
    body: &[u8],
) -> ApiResult<Json<Value>> {
    let mut f = Fields(body_obj(body, "project")?);
    f.drop_readonly();
    f.0.remove("options");
    for (k, v) in [("id", json!(d.id)), ("is_domain", json!(true))] {
        if let Some(x) = f.0.remove(k) {
            if x != v {
                return Err(Error::bad_request(format!("Update of `{k}` is not allowed.")).into());
            }
        }
    }
    for k in ["domain_id", "parent_id"] {
        if let Some(x) = f.0.remove(k) {
            if !x.is_null() {
                return Err(Error::forbidden(format!("Update of `{k}` is not allowed.")).into());
            }
        }
    }
    if let Some(n) = f.opt_str("name", 64)? {
        if n.trim().is_empty() {
            return Err(
                Error::bad_request("Invalid input for field 'name': it must not be empty").into(),
            );
        }
        d.name = n;
    }
    if let Some(x) = f.opt_str("description", 65535)? {
        d.description = x;
    }
    let was_enabled = d.enabled;
    if let Some(e) = f.opt_bool("enabled")? {
        d.enabled = e;
    }
    if let Some(t) = f.opt_str_list("tags")? {
        check_tags(&t)?;
        d.tags = t;
    }
    d.extra.extend(f.0);
    st.store.domain_update(&d).await?;
    if was_enabled && !d.enabled {
        st.revoke(None, None, Some(&d.id), None).await?;
    }
    st.bump();
    Ok(Json(
        json!({"project": domain_as_project_json(headers, &d)}),
    ))
}

async fn project_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let (p, t) = match project_target(&st, &id).await {
        Ok(x) => x,
        Err(e) => match domain_as_project(&st, &ctx, "identity:delete_project", &id).await? {
            Some(d) if d.enabled => {
                return Err(Error::bad_request(format!(
                    "cannot delete an enabled project acting as a domain. Please disable the project {} first.",
                    d.id
                ))
                .into())
            }
            Some(d) => {
                st.store.domain_delete(&d.id).await?;
                st.revoke(None, None, Some(&d.id), None).await?;
                return Ok(StatusCode::NO_CONTENT);
            }
            None => return Err(e.into()),
        },
    };
    st.authorize(&ctx, "identity:delete_project", &t)?;
    if st.store.project_has_children(&p.id).await? {
        return Err(Error::forbidden(format!(
            "Cannot delete the project {} since it is not a leaf in the hierarchy.",
            p.id
        ))
        .into());
    }
    st.store.project_delete(&p.id).await?;
    st.revoke(None, Some(&p.id), None, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_list(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let (p, t) = project_target(&st, &id).await?;
    st.authorize(&ctx, "identity:list_project_tags", &t)?;
    Ok(Json(json!({"tags": p.tags})))
}

async fn tag_replace(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let (mut p, t) = project_target(&st, &id).await?;
    st.authorize(&ctx, "identity:update_project_tags", &t)?;
    let v: Value = rustack_api_common::parse_json(&body)?;
    let tags: Vec<String> = serde_json::from_value(v.get("tags").cloned().unwrap_or(Value::Null))
        .map_err(|_| {
        Error::bad_request("Invalid input for field 'tags': a list of strings is required")
    })?;
    check_tags(&tags)?;
    p.tags = tags;
    st.store.project_update(&p).await?;
    st.bump();
    Ok(Json(json!({"tags": p.tags})))
}

async fn tag_clear(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let (mut p, t) = project_target(&st, &id).await?;
    st.authorize(&ctx, "identity:delete_project_tags", &t)?;
    p.tags.clear();
    st.store.project_update(&p).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_add(
    st: St,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let (mut p, t) = project_target(&st, &id).await?;
    st.authorize(&ctx, "identity:create_project_tag", &t)?;
    check_tags(std::slice::from_ref(&tag))?;
    if !p.tags.contains(&tag) {
        p.tags.push(tag);
        check_tags(&p.tags)?;
        st.store.project_update(&p).await?;
        st.bump();
    }
    Ok(StatusCode::CREATED)
}

async fn tag_check(
    st: St,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let (p, t) = project_target(&st, &id).await?;
    st.authorize(&ctx, "identity:get_project_tag", &t)?;
    if p.tags.contains(&tag) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("Tag {tag} was not found for project {id}.")).into())
    }
}

async fn tag_remove(
    st: St,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let (mut p, t) = project_target(&st, &id).await?;
    st.authorize(&ctx, "identity:delete_project_tag", &t)?;
    let before = p.tags.len();
    p.tags.retain(|x| *x != tag);
    if p.tags.len() == before {
        return Err(Error::not_found(format!("Tag {tag} was not found for project {id}.")).into());
    }
    st.store.project_update(&p).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}
