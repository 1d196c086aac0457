//! `/os-aggregates` (admin): `uuid` from 2.41; create answers without `hosts` and
//! `metadata`, as nova.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;
use serde_json::{json, Map, Value};

use super::params;
use super::{AppState, Ctx};
use crate::app::aggregate::Aggregate;
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-aggregates", get(list).post(create))
        .route(
            "/v2.1/os-aggregates/{id}",
            get(show).put(update).delete(delete),
        )
        .route("/v2.1/os-aggregates/{id}/action", post(action))
}

fn view(a: &Aggregate, v: ApiVersion, full: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(a.id));
    if v.at_least(41) {
        m.insert("uuid".into(), json!(a.uuid));
    }
    m.insert("name".into(), json!(a.name));
    m.insert(
        "availability_zone".into(),
        json!(a.metadata.get("availability_zone")),
    );
    m.insert("created_at".into(), json!(a.created_at));
    m.insert("updated_at".into(), json!(a.updated_at));
    m.insert("deleted_at".into(), Value::Null);
    m.insert("deleted".into(), json!(false));
    if full {
        m.insert("hosts".into(), json!(a.hosts));
        m.insert("metadata".into(), json!(a.metadata));
    }
    Value::Object(m)
}

fn name_or_zone(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => params::name_field(key, v, 255).map(Some),
    }
}

async fn list(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let all = st.compute.aggregate_list(&ctx.auth).await?;
    Ok(Json(json!({"aggregates": all
        .iter()
        .map(|a| view(a, ctx.version, true))
        .collect::<Vec<_>>()})))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = st.compute.aggregate_show(&ctx.auth, &id).await?;
    Ok(Json(json!({"aggregate": view(&a, ctx.version, true)})))
}

async fn create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Json<Value>> {
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-aggregates:create", &json!({}))?;
    let v = params::json_body(&body)?;
    let a = params::wrapped(&v, "aggregate")?;
    params::no_extra_keys(a, &["name", "availability_zone"])?;
    let name = name_or_zone(a, "name")?.ok_or_else(|| {
        Error::bad_request(
            "Invalid input for field/attribute aggregate. 'name' is a required property",
        )
    })?;
    let zone = name_or_zone(a, "availability_zone")?;
    let agg = st
        .compute
        .aggregate_create(&ctx.auth, &name, zone.as_deref())
        .await?;
    Ok(Json(json!({"aggregate": view(&agg, ctx.version, false)})))
}

async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-aggregates:update", &json!({}))?;
    let v = params::json_body(&body)?;
    let a = params::wrapped(&v, "aggregate")?;
    params::no_extra_keys(a, &["name", "availability_zone"])?;
    if a.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field/attribute aggregate. {} does not have enough properties",
        )
        .into());
    }
    let agg = st
        .compute
        .aggregate_update(
            &ctx.auth,
            &id,
            name_or_zone(a, "name")?.as_deref(),
            name_or_zone(a, "availability_zone")?.as_deref(),
        )
        .await?;
    Ok(Json(json!({"aggregate": view(&agg, ctx.version, true)})))
}

async fn delete(State(st): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult<()> {
    st.compute.aggregate_delete(&ctx.auth, &id).await?;
    Ok(())
}

async fn action(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let v = params::json_body(&body)?;
    let obj = v
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    let (name, args) = obj
        .iter()
        .next()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    let args = args
        .as_object()
        .ok_or_else(|| Error::bad_request(format!("Invalid input for field/attribute {name}.")))?;
    let host = || -> Result<String, Error> {
        params::no_extra_keys(args, &["host"])?;
        params::name_field("host", args.get("host").unwrap_or(&Value::Null), 255)
    };
    let agg = match name.as_str() {
        "add_host" => {
            st.compute
                .aggregate_add_host(&ctx.auth, &id, &host()?)
                .await?
        }
        "remove_host" => {
            st.compute
                .aggregate_remove_host(&ctx.auth, &id, &host()?)
                .await?
        }
        "set_metadata" => {
            params::no_extra_keys(args, &["metadata"])?;
            let meta = args.get("metadata").and_then(Value::as_object).ok_or_else(|| {
                Error::bad_request("Invalid input for field/attribute set_metadata. 'metadata' is a required property")
            })?;
            let mut changes = BTreeMap::new();
            for (k, v) in meta {
                if k.is_empty() || k.len() > 255 {
                    return Err(Error::bad_request(format!("Invalid metadata key {k}")).into());
                }
                let val = match v {
                    Value::Null => None,
                    Value::String(s) if s.len() <= 255 => Some(s.clone()),
                    other => {
                        return Err(Error::bad_request(format!(
                            "Invalid input for field/attribute {k}. Value: {other}."
                        ))
                        .into())
                    }
                };
                changes.insert(k.clone(), val);
            }
            st.compute
                .aggregate_set_metadata(&ctx.auth, &id, &changes)
                .await?
        }
        other => {
            return Err(
                Error::bad_request(format!("Invalid input for field/attribute {other}.")).into(),
            )
        }
    };
    Ok(Json(json!({"aggregate": view(&agg, ctx.version, true)})))
}
