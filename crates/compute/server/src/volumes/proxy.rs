//! The deprecated `/os-volumes` and `/os-snapshots` proxies (Nova's `volumes.py` and
//! `snapshots.py`): forwarded to Block Storage with the caller's token and rendered in
//! Nova's camelCase shapes. Like Nova they exist up to 2.35 and are 404 above.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustack_block_api::client::Tokens;
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::api::{parse_body, servers, user_token};
use crate::api::{AppState, Ctx};
use crate::error::ApiResult;

/// The last microversion with proxy APIs (Nova's `MAX_PROXY_API_SUPPORT_VERSION`).
pub const MAX_PROXY_MINOR: u32 = 35;

/// Routes of the proxies.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-volumes", get(vol_list).post(vol_create))
        .route("/v2.1/os-volumes/detail", get(vol_detail))
        .route("/v2.1/os-volumes/{id}", get(vol_show).delete(vol_delete))
        .route("/v2.1/os-snapshots", get(snap_list).post(snap_create))
        .route("/v2.1/os-snapshots/detail", get(snap_detail))
        .route(
            "/v2.1/os-snapshots/{id}",
            get(snap_show).delete(snap_delete),
        )
}

fn gate(st: &AppState, ctx: &Ctx, rule: &str) -> Result<(), Error> {
    if ctx.version.minor > MAX_PROXY_MINOR {
        return Err(crate::error::resource_not_found());
    }
    st.compute
        .authorize(&ctx.auth, rule, &json!({"project_id": ctx.auth.project_id}))
}

/// A Cinder volume in Nova's proxy shape.
pub fn volume_json(v: &Value) -> Value {
    let atts: Vec<Value> = v["attachments"].as_array().cloned().unwrap_or_default();
    let attachments = match atts.first() {
        Some(a) => {
            let mut m = Map::new();
            m.insert("id".into(), v["id"].clone());
            m.insert("volumeId".into(), v["id"].clone());
            m.insert("serverId".into(), a["server_id"].clone());
            if let Some(d) = a["device"].as_str().filter(|d| !d.is_empty()) {
                m.insert("device".into(), json!(d));
            }
            vec![Value::Object(m)]
        }
        None => vec![json!({})],
    };
    json!({
        "id": v["id"],
        "status": v["status"],
        "size": v["size"],
        "availabilityZone": v["availability_zone"],
        "createdAt": v["created_at"],
        "attachments": attachments,
        "displayName": v["name"],
        "displayDescription": v["description"],
        "volumeType": v["volume_type"],
        "snapshotId": v["snapshot_id"],
        "metadata": if v["metadata"].is_object() { v["metadata"].clone() } else { json!({}) },
    })
}

/// A Cinder snapshot in Nova's proxy shape.
pub fn snapshot_json(s: &Value) -> Value {
    json!({
        "id": s["id"],
        "volumeId": s["volume_id"],
        "status": s["status"],
        "size": s["size"],
        "createdAt": s["created_at"],
        "displayName": s["name"],
        "displayDescription": s["description"],
    })
}

/// Nova's `common.limited`: `offset` and `limit` (at most 1000) over the whole list.
fn limited(items: Vec<Value>, q: Option<String>) -> Result<Vec<Value>, Error> {
    let q: Vec<(String, String)> = q
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let num = |k: &str| -> Result<Option<usize>, Error> {
        match q.iter().rev().find(|(x, _)| x == k) {
            None => Ok(None),
            Some((_, v)) => v.parse::<usize>().map(Some).map_err(|_| {
                Error::bad_request(format!(
                    "Invalid input for query parameters {k}. Value: {v}. '{v}' does not match '^[0-9]*$'"
                ))
            }),
        }
    };
    let offset = num("offset")?.unwrap_or(0);
    let limit = num("limit")?.unwrap_or(1000).min(1000);
    Ok(items.into_iter().skip(offset).take(limit).collect())
}

async fn vol_list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:list")?;
    vols(&st, &headers, q).await
}

async fn vol_detail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:detail")?;
    vols(&st, &headers, q).await
}

async fn vols(st: &AppState, headers: &HeaderMap, q: Option<String>) -> ApiResult<Response> {
    let block = servers(st)?.block()?;
    let t = user_token(headers);
    let all = block.volume_list(Tokens::user(&t), true, &[]).await?;
    let items: Vec<Value> = limited(all, q)?.iter().map(volume_json).collect();
    Ok(Json(json!({ "volumes": items })).into_response())
}

async fn vol_show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:show")?;
    let block = servers(&st)?.block()?;
    let t = user_token(&headers);
    let v = block
        .volume_get(Tokens::user(&t), &id)
        .await
        .map_err(|e| not_found_as(e, format!("Volume {id} could not be found.")))?;
    Ok(Json(json!({"volume": volume_json(&v)})).into_response())
}

fn not_found_as(e: Error, msg: String) -> Error {
    match e {
        Error::NotFound { .. } => Error::not_found(msg),
        e => e,
    }
}

async fn vol_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:delete")?;
    let block = servers(&st)?.block()?;
    let t = user_token(&headers);
    block
        .volume_delete(Tokens::user(&t), &id)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => Error::not_found(format!("Volume {id} could not be found.")),
            // Cinder's 400 (in-use, has snapshots) and 409 are Nova's InvalidInput 400.
            Error::Conflict { message } => Error::bad_request(message),
            e => e,
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn string_field(o: &Map<String, Value>, k: &str) -> Result<Option<String>, Error> {
    match o.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(Error::bad_request(format!(
            "Invalid input for field/attribute {k}. Value: {v}. {v} is not of type 'string'"
        ))),
    }
}

/// Validates a `POST /os-volumes` body; the Cinder create body.
pub fn parse_volume_create(body: &Value) -> Result<Value, Error> {
    let top = body
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    if let Some(k) = top.keys().find(|k| *k != "volume") {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let o = top
        .get("volume")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("'volume' is a required property"))?;
    const ALLOWED: &[&str] = &[
        "volume_type",
        "metadata",
        "snapshot_id",
        "size",
        "availability_zone",
        "display_name",
        "display_description",
    ];
    if let Some(k) = o.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Invalid input for field/attribute volume. Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let size_v = o
        .get("size")
        .ok_or_else(|| Error::bad_request("'size' is a required property"))?;
    let size = match size_v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .filter(|n| *n >= 1)
    .ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid input for field/attribute size. Value: {size_v}. {size_v} is not a valid size"
        ))
    })?;
    let mut out = json!({ "size": size });
    for (nova, cinder) in [
        ("volume_type", "volume_type"),
        ("snapshot_id", "snapshot_id"),
        ("availability_zone", "availability_zone"),
        ("display_name", "name"),
        ("display_description", "description"),
    ] {
        if let Some(s) = string_field(o, nova)? {
            out[cinder] = json!(s);
        }
    }
    if let Some(m) = o.get("metadata") {
        if !m.is_object() {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute metadata. Value: {m}. {m} is not of type 'object'"
            )));
        }
        out["metadata"] = m.clone();
    }
    Ok(out)
}

async fn vol_create(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:create")?;
    let block = servers(&st)?.block()?;
    let req = parse_volume_create(&parse_body(&body)?)?;
    let t = user_token(&headers);
    let v = block
        .volume_create(Tokens::user(&t), &req)
        .await
        .map_err(|e| match e {
            Error::OverQuota { message } => Error::forbidden(message),
            e => e,
        })?;
    let location = format!(
        "{}/v2.1/os-volumes/{}",
        crate::api::base_url(&headers),
        v["id"].as_str().unwrap_or_default()
    );
    let mut resp = Json(json!({"volume": volume_json(&v)})).into_response();
    if let Ok(l) = location.parse() {
        resp.headers_mut().insert("location", l);
    }
    Ok(resp)
}

async fn snap_list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:snapshots:list")?;
    snaps(&st, &headers, q).await
}

async fn snap_detail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:snapshots:detail")?;
    snaps(&st, &headers, q).await
}

async fn snaps(st: &AppState, headers: &HeaderMap, q: Option<String>) -> ApiResult<Response> {
    let block = servers(st)?.block()?;
    let t = user_token(headers);
    let all = block.snapshot_list(Tokens::user(&t), true, &[]).await?;
    let items: Vec<Value> = limited(all, q)?.iter().map(snapshot_json).collect();
    Ok(Json(json!({ "snapshots": items })).into_response())
}

async fn snap_show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:snapshots:show")?;
    let block = servers(&st)?.block()?;
    let t = user_token(&headers);
    let s = block
        .snapshot_get(Tokens::user(&t), &id)
        .await
        .map_err(|e| not_found_as(e, format!("Snapshot {id} could not be found.")))?;
    Ok(Json(json!({"snapshot": snapshot_json(&s)})).into_response())
}

async fn snap_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:snapshots:delete")?;
    let block = servers(&st)?.block()?;
    let t = user_token(&headers);
    block
        .snapshot_delete(Tokens::user(&t), &id)
        .await
        .map_err(|e| not_found_as(e, format!("Snapshot {id} could not be found.")))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn snap_create(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-volumes:snapshots:create")?;
    let block = servers(&st)?.block()?;
    let v = parse_body(&body)?;
    let o = v
        .get("snapshot")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("'snapshot' is a required property"))?;
    const ALLOWED: &[&str] = &["volume_id", "force", "display_name", "display_description"];
    if let Some(k) = o.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Invalid input for field/attribute snapshot. Additional properties are not allowed ('{k}' was unexpected)"
        ))
        .into());
    }
    let volume_id = string_field(o, "volume_id")?
        .ok_or_else(|| Error::bad_request("'volume_id' is a required property"))?;
    let force = match o.get("force") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => crate::servers::api::strict_bool(s).ok_or_else(|| {
            Error::bad_request(format!(
                "Unrecognized value '{s}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
            ))
        })?,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute force. Value: {other}. {other} is not of type 'boolean', 'string'"
            ))
            .into())
        }
    };
    let mut req = json!({"volume_id": volume_id, "force": force});
    if let Some(n) = string_field(o, "display_name")? {
        req["name"] = json!(n);
    }
    if let Some(d) = string_field(o, "display_description")? {
        req["description"] = json!(d);
    }
    let t = user_token(&headers);
    let s = block
        .snapshot_create(Tokens::user(&t), &req)
        .await
        .map_err(|e| match e {
            Error::OverQuota { message } => Error::forbidden(message),
            e => e,
        })?;
    Ok(Json(json!({"snapshot": snapshot_json(&s)})).into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn volume_shapes() {
        let v = json!({"id": "v1", "status": "in-use", "size": 1, "availability_zone": "nova",
            "created_at": "t", "name": "n", "description": null, "volume_type": "__DEFAULT__",
            "snapshot_id": null, "metadata": {"a": "b"},
            "attachments": [{"server_id": "s1", "device": "/dev/vdb"}]});
        let n = volume_json(&v);
        assert_eq!(n["displayName"], "n");
        assert_eq!(n["attachments"][0]["serverId"], "s1");
        assert_eq!(n["attachments"][0]["device"], "/dev/vdb");
        let mut free = v.clone();
        free["attachments"] = json!([]);
        assert_eq!(volume_json(&free)["attachments"], json!([{}]));
    }

    #[test]
    fn create_bodies() {
        let c =
            parse_volume_create(&json!({"volume": {"size": "2", "display_name": "x"}})).unwrap();
        assert_eq!(c["size"], 2);
        assert_eq!(c["name"], "x");
        assert!(parse_volume_create(&json!({"volume": {"size": 0}})).is_err());
        assert!(parse_volume_create(&json!({"volume": {"display_name": "x"}})).is_err());
        assert!(parse_volume_create(&json!({"volume": {"size": 1, "bogus": 1}})).is_err());
    }
}
