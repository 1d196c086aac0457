//! OS-EP-FILTER (`/v3/OS-EP-FILTER/...`): endpoint groups and the project ↔ endpoint and
//! project ↔ endpoint group associations that restrict a project's catalog (applied
//! where tokens get their catalog, `token.rs`).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::catalog::endpoint_json;
use super::resource::project_json;
use super::{body_obj, list, ApiResult, Fields, St, Q};
use crate::store::ep_filter::{group_matches, project_endpoint_ids, EndpointGroup};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups",
            get(group_list).post(group_create),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{id}",
            get(group_show)
                .head(group_show)
                .patch(group_update)
                .delete(group_delete),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{id}/projects",
            get(group_projects),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{id}/endpoints",
            get(group_endpoints),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoint_groups/{id}/projects/{pid}",
            get(group_project_show)
                .head(group_project_show)
                .put(group_project_add)
                .delete(group_project_remove),
        )
        .route(
            "/v3/OS-EP-FILTER/projects/{pid}/endpoint_groups",
            get(project_groups),
        )
        .route(
            "/v3/OS-EP-FILTER/projects/{pid}/endpoints",
            get(project_endpoints),
        )
        .route(
            "/v3/OS-EP-FILTER/projects/{pid}/endpoints/{eid}",
            get(project_endpoint_check)
                .head(project_endpoint_check)
                .put(project_endpoint_add)
                .delete(project_endpoint_remove),
        )
        .route(
            "/v3/OS-EP-FILTER/endpoints/{eid}/projects",
            get(endpoint_projects),
        )
}

const FILTER_KEYS: &[&str] = &["service_id", "region_id", "interface"];

fn group_json(h: &HeaderMap, g: &EndpointGroup) -> Value {
    json!({
        "id": g.id, "name": g.name, "description": g.description, "filters": g.filters,
        "links": {"self": format!("{}/v3/OS-EP-FILTER/endpoint_groups/{}", super::base_url(h), g.id)},
    })
}

/// The `filters` object: non-empty, only Keystone's filter keys, string values.
fn parse_filters(v: Option<Value>) -> Result<Map<String, Value>, Error> {
    let m = match v {
        Some(Value::Object(m)) if !m.is_empty() => m,
        Some(Value::Object(_)) | Some(Value::Null) | None => {
            return Err(Error::bad_request(
                "filters field is required and cannot be empty",
            ))
        }
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'filters': {other} is not of type 'object'"
            )))
        }
    };
    for (k, v) in &m {
        if !FILTER_KEYS.contains(&k.as_str()) {
            return Err(Error::bad_request(
                "Expecting to find service_id or region_id or interface in endpoint_group. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.",
            ));
        }
        if !v.is_string() {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'filters': the value of '{k}' must be a string"
            )));
        }
    }
    Ok(m)
}

async fn group_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_endpoint_groups", &json!({}))?;
    let items = st
        .store
        .endpoint_group_list()
        .await?
        .iter()
        .filter(|g| q.get("name").is_none_or(|n| *n == g.name))
        .map(|g| group_json(&headers, g))
        .collect();
    Ok(Json(list(
        &headers,
        "endpoint_groups",
        "OS-EP-FILTER/endpoint_groups",
        items,
    )))
}

async fn group_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_endpoint_group", &json!({}))?;
    let mut f = Fields(body_obj(&body, "endpoint_group")?);
    f.drop_readonly();
    f.0.remove("id");
    let filters = parse_filters(f.0.remove("filters"))?;
    let g = EndpointGroup {
        id: rustack_common::new_hex_id(),
        name: f.req_str("name", 255)?,
        description: f.opt_str("description", 65535)?.unwrap_or_default(),
        filters,
    };
    st.store.endpoint_group_create(&g).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"endpoint_group": group_json(&headers, &g)})),
    ))
}

async fn group_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_endpoint_group", &json!({}))?;
    let g = st.store.endpoint_group_require(&id).await?;
    Ok(Json(json!({"endpoint_group": group_json(&headers, &g)})))
}

async fn group_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:update_endpoint_group", &json!({}))?;
    let mut f = Fields(body_obj(&body, "endpoint_group")?);
    f.drop_readonly();
    if let Some(v) = f.0.remove("id") {
        if v != json!(id) {
            return Err(Error::bad_request("Cannot change endpoint group ID").into());
        }
    }
    let mut g = st.store.endpoint_group_require(&id).await?;
    if f.0.contains_key("filters") {
        g.filters = parse_filters(f.0.remove("filters"))?;
    }
    if let Some(n) = f.opt_str("name", 255)? {
        if n.trim().is_empty() {
            return Err(
                Error::bad_request("Invalid input for field 'name': it must not be empty").into(),
            );
        }
        g.name = n;
    }
    if f.0.contains_key("description") {
        g.description = f.opt_str("description", 65535)?.unwrap_or_default();
    }
    st.store.endpoint_group_update(&g).await?;
    st.bump();
    Ok(Json(json!({"endpoint_group": group_json(&headers, &g)})))
}

async fn group_delete(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_endpoint_group", &json!({}))?;
    st.store.endpoint_group_require(&id).await?;
    st.store.endpoint_group_delete(&id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn group_projects(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:list_projects_associated_with_endpoint_group",
        &json!({}),
    )?;
    st.store.endpoint_group_require(&id).await?;
    let mut items = vec![];
    for (_, pid) in st
        .store
        .project_endpoint_group_list()
        .await?
        .into_iter()
        .filter(|(g, _)| *g == id)
    {
        if let Some(p) = st.store.project_get(&pid).await? {
            items.push(project_json(&headers, &p));
        }
    }
    Ok(Json(list(
        &headers,
        "projects",
        &format!("OS-EP-FILTER/endpoint_groups/{id}/projects"),
        items,
    )))
}

async fn group_endpoints(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:list_endpoints_associated_with_endpoint_group",
        &json!({}),
    )?;
    let g = st.store.endpoint_group_require(&id).await?;
    let items = st
        .store
        .endpoint_list()
        .await?
        .iter()
        .filter(|e| group_matches(&g.filters, e))
        .map(|e| endpoint_json(&headers, e))
        .collect();
    Ok(Json(list(
        &headers,
        "endpoints",
        &format!("OS-EP-FILTER/endpoint_groups/{id}/endpoints"),
        items,
    )))
}

/// Checks `action`, then that the project and the endpoint group exist (404s in
/// Keystone's order: project first).
async fn group_project_target(
    st: &Identity,
    headers: &HeaderMap,
    action: &str,
    id: &str,
    pid: &str,
) -> Result<(), Error> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, action, &json!({}))?;
    st.store.project_require(pid).await?;
    st.store.endpoint_group_require(id).await?;
    Ok(())
}

async fn group_project_show(
    st: St,
    headers: HeaderMap,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    group_project_target(
        &st,
        &headers,
        "identity:get_endpoint_group_in_project",
        &id,
        &pid,
    )
    .await?;
    if !st.store.project_endpoint_group_check(&id, &pid).await? {
        return Err(Error::not_found(format!(
            "Could not find project endpoint group: endpoint group {id} in project {pid}."
        ))
        .into());
    }
    Ok(Json(json!({"project_endpoint_group": {
        "endpoint_group_id": id, "project_id": pid,
        "links": {"self": format!("{}/v3/OS-EP-FILTER/endpoint_groups/{id}/projects/{pid}", super::base_url(&headers))},
    }})))
}

async fn group_project_add(
    st: St,
    headers: HeaderMap,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    group_project_target(
        &st,
        &headers,
        "identity:add_endpoint_group_to_project",
        &id,
        &pid,
    )
    .await?;
    if st.store.project_endpoint_group_check(&id, &pid).await? {
        return Err(Error::conflict(
            "Conflict occurred attempting to store project_endpoint_group - Duplicate entry.",
        )
        .into());
    }
    st.store.project_endpoint_group_add(&id, &pid).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn group_project_remove(
    st: St,
    headers: HeaderMap,
    Path((id, pid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    group_project_target(
        &st,
        &headers,
        "identity:remove_endpoint_group_from_project",
        &id,
        &pid,
    )
    .await?;
    if !st.store.project_endpoint_group_remove(&id, &pid).await? {
        return Err(Error::not_found(format!(
            "Could not find project endpoint group: endpoint group {id} in project {pid}."
        ))
        .into());
    }
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn project_groups(
    st: St,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(
        &ctx,
        "identity:list_endpoint_groups_for_project",
        &json!({}),
    )?;
    st.store.project_require(&pid).await?;
    let links = st.store.project_endpoint_group_list().await?;
    let items = st
        .store
        .endpoint_group_list()
        .await?
        .iter()
        .filter(|g| links.iter().any(|(gid, p)| *gid == g.id && *p == pid))
        .map(|g| group_json(&headers, g))
        .collect();
    Ok(Json(list(
        &headers,
        "endpoint_groups",
        &format!("OS-EP-FILTER/projects/{pid}/endpoint_groups"),
        items,
    )))
}

async fn project_endpoints(
    st: St,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_endpoints_for_project", &json!({}))?;
    st.store.project_require(&pid).await?;
    let endpoints = st.store.endpoint_list().await?;
    let ids = project_endpoint_ids(
        &pid,
        &endpoints,
        &st.store.project_endpoint_list().await?,
        &st.store.endpoint_group_list().await?,
        &st.store.project_endpoint_group_list().await?,
    );
    let items = endpoints
        .iter()
        .filter(|e| ids.contains(&e.id))
        .map(|e| endpoint_json(&headers, e))
        .collect();
    Ok(Json(list(
        &headers,
        "endpoints",
        &format!("OS-EP-FILTER/projects/{pid}/endpoints"),
        items,
    )))
}

/// Checks `action`, then that the endpoint and the project exist.
async fn project_endpoint_target(
    st: &Identity,
    headers: &HeaderMap,
    action: &str,
    pid: &str,
    eid: &str,
) -> Result<(), Error> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, action, &json!({}))?;
    st.store.endpoint_require(eid).await?;
    st.store.project_require(pid).await?;
    Ok(())
}

fn not_in_project(eid: &str, pid: &str) -> Error {
    Error::not_found(format!("Endpoint {eid} not found in project {pid}"))
}

async fn project_endpoint_check(
    st: St,
    headers: HeaderMap,
    Path((pid, eid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    project_endpoint_target(
        &st,
        &headers,
        "identity:check_endpoint_in_project",
        &pid,
        &eid,
    )
    .await?;
    if st.store.project_endpoint_check(&eid, &pid).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_in_project(&eid, &pid).into())
    }
}

async fn project_endpoint_add(
    st: St,
    headers: HeaderMap,
    Path((pid, eid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    project_endpoint_target(
        &st,
        &headers,
        "identity:add_endpoint_to_project",
        &pid,
        &eid,
    )
    .await?;
    if st.store.project_endpoint_check(&eid, &pid).await? {
        return Err(Error::conflict(
            "Conflict occurred attempting to store project_endpoint - Duplicate entry.",
        )
        .into());
    }
    st.store.project_endpoint_add(&eid, &pid).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn project_endpoint_remove(
    st: St,
    headers: HeaderMap,
    Path((pid, eid)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:remove_endpoint_from_project", &json!({}))?;
    if !st.store.project_endpoint_remove(&eid, &pid).await? {
        return Err(not_in_project(&eid, &pid).into());
    }
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn endpoint_projects(
    st: St,
    headers: HeaderMap,
    Path(eid): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_projects_for_endpoint", &json!({}))?;
    st.store.endpoint_require(&eid).await?;
    let mut items = vec![];
    for (_, pid) in st
        .store
        .project_endpoint_list()
        .await?
        .into_iter()
        .filter(|(e, _)| *e == eid)
    {
        if let Some(p) = st.store.project_get(&pid).await? {
            items.push(project_json(&headers, &p));
        }
    }
    Ok(Json(list(
        &headers,
        "projects",
        &format!("OS-EP-FILTER/endpoints/{eid}/projects"),
        items,
    )))
}
