//! `/images` (nova's image proxy, removed from 2.36 on: 404 there as nova answers).
//! `os-volume_attachments` lives in `crate::volumes`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{base_url, AppState, Ctx};
use crate::app::image_proxy::ProxyImage;
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/images", get(list))
        .route("/v2.1/images/detail", get(detail))
        .route("/v2.1/images/{id}", get(show).delete(delete))
        .route(
            "/v2.1/images/{id}/metadata",
            get(meta_list).post(meta_update).put(meta_replace),
        )
        .route(
            "/v2.1/images/{id}/metadata/{key}",
            get(meta_show).put(meta_set).delete(meta_delete),
        )
}

fn token(headers: &HeaderMap) -> String {
    headers
        .get(rustack_api_common::X_AUTH_TOKEN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn removed(v: ApiVersion) -> Result<(), Error> {
    if v.at_least(36) {
        return Err(Error::not_found("The resource could not be found."));
    }
    Ok(())
}

fn links(base: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/v2.1/images/{id}")},
        {"rel": "bookmark", "href": format!("{base}/images/{id}")},
    ])
}

fn brief(i: &ProxyImage, base: &str) -> Value {
    json!({"id": i.id(), "name": i.doc["name"], "links": links(base, i.id())})
}

fn full(i: &ProxyImage, base: &str) -> Value {
    let (status, progress) = i.status();
    let mut m = Map::new();
    m.insert("id".into(), json!(i.id()));
    m.insert("name".into(), i.doc["name"].clone());
    m.insert(
        "minRam".into(),
        json!(i.doc["min_ram"].as_i64().unwrap_or(0)),
    );
    m.insert(
        "minDisk".into(),
        json!(i.doc["min_disk"].as_i64().unwrap_or(0)),
    );
    m.insert("metadata".into(), Value::Object(i.metadata()));
    m.insert("created".into(), i.doc["created_at"].clone());
    m.insert("updated".into(), i.doc["updated_at"].clone());
    m.insert("status".into(), json!(status));
    m.insert("progress".into(), json!(progress));
    m.insert(
        "OS-EXT-IMG-SIZE:size".into(),
        json!(i.doc["size"].as_i64().unwrap_or(0)),
    );
    if let Some(server) = i.doc["instance_uuid"].as_str() {
        m.insert(
            "server".into(),
            json!({"id": server, "links": [
                {"rel": "self", "href": format!("{base}/v2.1/servers/{server}")},
                {"rel": "bookmark", "href": format!("{base}/servers/{server}")},
            ]}),
        );
    }
    m.insert("links".into(), links(base, i.id()));
    Value::Object(m)
}

/// nova's list filters (`name`, `status`, `minRam`, `minDisk`, `server`, `type`) and
/// `limit`/`marker`.
fn filter(images: Vec<ProxyImage>, p: &Params) -> Result<Vec<ProxyImage>, Error> {
    let num = |k: &str| -> Result<Option<i64>, Error> {
        params::param(p, k)
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| Error::bad_request(format!("Invalid {k} filter [{s}]")))
            })
            .transpose()
    };
    let (min_ram, min_disk) = (num("minRam")?, num("minDisk")?);
    let mut out: Vec<ProxyImage> = images
        .into_iter()
        .filter(|i| params::param(p, "name").is_none_or(|n| i.doc["name"] == n))
        .filter(|i| params::param(p, "status").is_none_or(|s| i.status().0.eq_ignore_ascii_case(s)))
        .filter(|i| min_ram.is_none_or(|m| i.doc["min_ram"].as_i64().unwrap_or(0) >= m))
        .filter(|i| min_disk.is_none_or(|m| i.doc["min_disk"].as_i64().unwrap_or(0) >= m))
        .filter(|i| {
            params::param(p, "server").is_none_or(|s| {
                i.doc["instance_uuid"]
                    .as_str()
                    .is_some_and(|u| s.ends_with(u))
            })
        })
        .filter(|i| {
            params::param(p, "type").is_none_or(|t| i.doc["image_type"].as_str() == Some(t))
        })
        .collect();
    let (limit, marker) = params::limit_and_marker(p)?;
    if let Some(m) = marker {
        let pos = out
            .iter()
            .position(|i| i.id() == m)
            .ok_or_else(|| Error::bad_request(format!("Marker {m} could not be found.")))?;
        out.drain(..=pos);
    }
    out.truncate(limit);
    Ok(out)
}

async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    removed(ctx.version)?;
    let base = base_url(&headers);
    let images = filter(st.compute.proxy_image_list(&token(&headers)).await?, &p)?;
    Ok(Json(
        json!({"images": images.iter().map(|i| brief(i, &base)).collect::<Vec<_>>()}),
    ))
}

async fn detail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    removed(ctx.version)?;
    let base = base_url(&headers);
    let images = filter(st.compute.proxy_image_list(&token(&headers)).await?, &p)?;
    Ok(Json(
        json!({"images": images.iter().map(|i| full(i, &base)).collect::<Vec<_>>()}),
    ))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    removed(ctx.version)?;
    let i = st.compute.proxy_image_get(&token(&headers), &id).await?;
    Ok(Json(json!({"image": full(&i, &base_url(&headers))})))
}

async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    removed(ctx.version)?;
    st.compute.proxy_image_delete(&token(&headers), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn meta_list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(39) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let i = st.compute.proxy_image_get(&token(&headers), &id).await?;
    Ok(Json(json!({"metadata": i.metadata()})))
}

fn meta_body(body: &[u8], key: &str) -> Result<Map<String, Value>, Error> {
    let v = params::json_body(body)?;
    let m = params::wrapped(&v, key)?;
    for (k, val) in m {
        if k.is_empty() || k.len() > 255 || !val.is_string() {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute {key}. Value: {k}."
            )));
        }
    }
    Ok(m.clone())
}

async fn meta_update(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(39) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let m = meta_body(&body, "metadata")?;
    let i = st
        .compute
        .proxy_image_set_metadata(&token(&headers), &id, &m, false)
        .await?;
    Ok(Json(json!({"metadata": i.metadata()})))
}

async fn meta_replace(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(39) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let m = meta_body(&body, "metadata")?;
    let i = st
        .compute
        .proxy_image_set_metadata(&token(&headers), &id, &m, true)
        .await?;
    Ok(Json(json!({"metadata": i.metadata()})))
}

async fn meta_show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(39) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let i = st.compute.proxy_image_get(&token(&headers), &id).await?;
    let v = i
        .metadata()
        .get(&key)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("Image {id} has no metadata key {key}.")))?;
    Ok(Json(json!({"meta": {key: v}})))
}

async fn meta_set(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(39) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let m = meta_body(&body, "meta")?;
    if m.len() != 1 {
        return Err(Error::bad_request("Request body contains too many items").into());
    }
    if !m.contains_key(&key) {
        return Err(Error::bad_request("Request body and URI mismatch").into());
    }
    st.compute
        .proxy_image_set_metadata(&token(&headers), &id, &m, false)
        .await?;
    Ok(Json(json!({"meta": m})))
}

async fn meta_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    if ctx.version.at_least(39) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    st.compute
        .proxy_image_delete_key(&token(&headers), &id, &key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
