//! `/os-quota-sets` (show, `detail`, `defaults`, update, delete; `?user_id=`) and
//! `/os-quota-class-sets`, with the resources each microversion shows (network ones
//! hidden from 2.36, personality ones from 2.57; class sets gain server groups at 2.50).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{AppState, Ctx};
use crate::app::quota::{NETWORK_RESOURCES, PERSONALITY_RESOURCES, RESOURCES};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2.1/os-quota-sets/{project}",
            get(show).put(update).delete(delete),
        )
        .route("/v2.1/os-quota-sets/{project}/detail", get(detail))
        .route("/v2.1/os-quota-sets/{project}/defaults", get(defaults))
        .route(
            "/v2.1/os-quota-class-sets/{class}",
            get(class_show).put(class_update),
        )
}

/// Resources shown at `v` for quota sets.
fn shown(v: ApiVersion) -> Vec<&'static str> {
    RESOURCES
        .iter()
        .copied()
        .filter(|r| !(v.at_least(36) && NETWORK_RESOURCES.contains(r)))
        .filter(|r| !(v.at_least(57) && PERSONALITY_RESOURCES.contains(r)))
        .collect()
}

/// Resources shown at `v` for quota class sets.
fn class_shown(v: ApiVersion) -> Vec<&'static str> {
    shown(v)
        .into_iter()
        .filter(|r| v.at_least(50) || !matches!(*r, "server_groups" | "server_group_members"))
        .filter(|r| !(v.at_least(50) && NETWORK_RESOURCES.contains(r)))
        .collect()
}

fn render(id: Option<&str>, values: &BTreeMap<String, Value>, keys: &[&str]) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    for k in keys {
        if let Some(v) = values.get(*k) {
            m.insert((*k).to_owned(), v.clone());
        }
    }
    Value::Object(m)
}

fn user_param(p: &Params) -> Option<String> {
    params::param(p, "user_id").map(str::to_owned)
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(&p, ctx.version, &["user_id"])?;
    let user = user_param(&p);
    let q = st
        .compute
        .quota_show(&ctx.auth, &project, user.as_deref(), false)
        .await?;
    let values = q.into_iter().map(|(k, d)| (k, json!(d.limit))).collect();
    Ok(Json(
        json!({"quota_set": render(Some(&project), &values, &shown(ctx.version))}),
    ))
}

async fn detail(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(&p, ctx.version, &["user_id"])?;
    let user = user_param(&p);
    let q = st
        .compute
        .quota_show(&ctx.auth, &project, user.as_deref(), true)
        .await?;
    let values = q
        .into_iter()
        .map(|(k, d)| {
            (
                k,
                json!({"limit": d.limit, "in_use": d.in_use, "reserved": 0}),
            )
        })
        .collect();
    Ok(Json(
        json!({"quota_set": render(Some(&project), &values, &shown(ctx.version))}),
    ))
}

async fn defaults(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let d = st.compute.quota_defaults_show(&ctx.auth, &project).await?;
    let values = d.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Json(
        json!({"quota_set": render(Some(&project), &values, &shown(ctx.version))}),
    ))
}

/// Parses `{"<key>": {resource: int, ...}}` with the resources allowed at `v`.
fn parse_limits(
    body: &Value,
    key: &str,
    allowed: &[&str],
    allow_force: bool,
) -> Result<(BTreeMap<String, i64>, bool), Error> {
    let obj = params::wrapped(body, key)?;
    let mut out = BTreeMap::new();
    let mut force = false;
    for (k, v) in obj {
        if allow_force && k == "force" {
            force = params::body_bool(v).ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input for field/attribute force. Value: {v}."
                ))
            })?;
            continue;
        }
        if !allowed.contains(&k.as_str()) {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute {key}. Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        }
        .filter(|n| *n >= -1 && *n <= i64::from(i32::MAX))
        .ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {v}. {v} is not valid"
            ))
        })?;
        out.insert(k.clone(), n);
    }
    Ok((out, force))
}

async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
    Query(p): Query<Params>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(&p, ctx.version, &["user_id"])?;
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-quota-sets:update",
        &json!({"project_id": project}),
    )?;
    let keys = shown(ctx.version);
    let (values, force) = parse_limits(&params::json_body(&body)?, "quota_set", &keys, true)?;
    let user = user_param(&p);
    let limits = st
        .compute
        .quota_update(&ctx.auth, &project, user.as_deref(), &values, force)
        .await?;
    let values = limits.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Json(json!({"quota_set": render(None, &values, &keys)})))
}

async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(project): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<StatusCode> {
    params::check_query_v275(&p, ctx.version, &["user_id"])?;
    let user = user_param(&p);
    st.compute
        .quota_delete(&ctx.auth, &project, user.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

async fn class_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(class): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = st.compute.quota_class_show(&ctx.auth, &class).await?;
    let values = c.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Json(
        json!({"quota_class_set": render(Some(&class), &values, &class_shown(ctx.version))}),
    ))
}

async fn class_update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(class): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-quota-class-sets:update",
        &json!({}),
    )?;
    let keys = class_shown(ctx.version);
    let (values, _) = parse_limits(&params::json_body(&body)?, "quota_class_set", &keys, false)?;
    let c = st
        .compute
        .quota_class_update(&ctx.auth, &class, &values)
        .await?;
    let values = c.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(Json(
        json!({"quota_class_set": render(None, &values, &keys)}),
    ))
}
