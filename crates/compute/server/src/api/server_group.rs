//! `/os-server-groups`: `policies`/`metadata` before 2.64, `policy`/`rules` from 2.64;
//! `project_id`/`user_id` from 2.13; soft policies from 2.15; `limit`/`offset` paging.

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
use crate::app::server_group::{ServerGroup, ServerGroupCreate};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-server-groups", get(list).post(create))
        .route("/v2.1/os-server-groups/{id}", get(show).delete(delete))
}

fn view(g: &ServerGroup, v: ApiVersion) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(g.group.id));
    m.insert("name".into(), json!(g.group.name));
    if v.at_least(64) {
        m.insert("policy".into(), json!(g.group.policy));
        m.insert("rules".into(), g.rules.clone());
    } else {
        m.insert("policies".into(), json!([g.group.policy]));
        m.insert("metadata".into(), json!({}));
    }
    m.insert("members".into(), json!(g.members));
    if v.at_least(13) {
        m.insert("project_id".into(), json!(g.group.project_id));
        m.insert("user_id".into(), json!(g.group.user_id));
    }
    Value::Object(m)
}

fn parse_create(body: &Value, v: ApiVersion) -> Result<ServerGroupCreate, Error> {
    let g = params::wrapped(body, "server_group")?;
    let valid = |p: &str| {
        matches!(p, "affinity" | "anti-affinity")
            || (v.at_least(15) && matches!(p, "soft-affinity" | "soft-anti-affinity"))
    };
    let name = params::name_field("name", g.get("name").unwrap_or(&Value::Null), 255)?;
    if v.at_least(64) {
        params::no_extra_keys(g, &["name", "policy", "rules"])?;
        let policy = g
            .get("policy")
            .and_then(Value::as_str)
            .filter(|p| valid(p))
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input for field/attribute policy. Value: {}. is not one of the allowed policies",
                    g.get("policy").unwrap_or(&Value::Null)
                ))
            })?
            .to_owned();
        let rules = match g.get("rules") {
            None => json!({}),
            Some(Value::Object(r)) => {
                params::no_extra_keys(r, &["max_server_per_host"])?;
                if !r.is_empty() && policy != "anti-affinity" {
                    return Err(Error::bad_request(
                        "Only anti-affinity policy supports rules.",
                    ));
                }
                match r.get("max_server_per_host") {
                    None => json!({}),
                    Some(n) => {
                        let n = params::body_int("max_server_per_host", n, 1, i64::from(i32::MAX))?;
                        json!({"max_server_per_host": n})
                    }
                }
            }
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "Invalid input for field/attribute rules. Value: {other}. {other} is not of type 'object'"
                )))
            }
        };
        Ok(ServerGroupCreate {
            name,
            policy,
            rules,
        })
    } else {
        params::no_extra_keys(g, &["name", "policies"])?;
        let policies = g.get("policies").and_then(Value::as_array).ok_or_else(|| {
            Error::bad_request(
                "Invalid input for field/attribute server_group. 'policies' is a required property",
            )
        })?;
        let policy = match policies.as_slice() {
            [Value::String(p)] if valid(p) => p.clone(),
            _ => {
                return Err(Error::bad_request(format!(
                    "Invalid input for field/attribute policies. Value: {}. is not valid",
                    Value::Array(policies.clone())
                )))
            }
        };
        Ok(ServerGroupCreate {
            name,
            policy,
            rules: json!({}),
        })
    }
}

async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    let all = params::param(&p, "all_projects")
        .map(|s| params::strict_bool(s).unwrap_or(false))
        .unwrap_or(false);
    let groups = st.compute.server_group_list(&ctx.auth, all).await?;
    let offset = match params::param(&p, "offset") {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| Error::bad_request("offset param must be an integer"))?,
    };
    let (limit, _) = params::limit_and_marker(&p)?;
    let items: Vec<Value> = groups
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| view(g, ctx.version))
        .collect();
    Ok(Json(json!({"server_groups": items})))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let g = st.compute.server_group_show(&ctx.auth, &id).await?;
    Ok(Json(json!({"server_group": view(&g, ctx.version)})))
}

async fn create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Json<Value>> {
    let req = parse_create(&params::json_body(&body)?, ctx.version)?;
    let g = st.compute.server_group_create(&ctx.auth, req).await?;
    Ok(Json(json!({"server_group": view(&g, ctx.version)})))
}

async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.compute.server_group_delete(&ctx.auth, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
