//! Thin handlers of `os-volume_attachments`, `os-assisted-volume-snapshots` and
//! `os-server-external-events`: parse and validate as Nova's schemas do, call the
//! volumes app layer, render per microversion.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::server::request::{canonical_uuid, is_uuid_like, valid_device_tag};
use serde_json::{json, Map, Value};

use super::store::Bdm;
use super::AttachRequest;
use crate::api::{AppState, Ctx};
use crate::error::ApiResult;
use crate::servers::app::Caller;
use crate::servers::Servers;

/// Routes of the volumes work.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2.1/servers/{id}/os-volume_attachments",
            get(att_list).post(att_create),
        )
        .route(
            "/v2.1/servers/{id}/os-volume_attachments/{volume}",
            get(att_show).put(att_update).delete(att_delete),
        )
        .route("/v2.1/os-assisted-volume-snapshots", post(avs_create))
        .route(
            "/v2.1/os-assisted-volume-snapshots/{id}",
            axum::routing::delete(avs_delete),
        )
        .route("/v2.1/os-server-external-events", post(events_create))
        .merge(super::proxy::routes())
}

pub(crate) fn servers(st: &AppState) -> Result<Arc<Servers>, Error> {
    st.compute
        .servers()
        .ok_or_else(|| Error::unavailable("This compute API runs without the servers service."))
}

pub(crate) fn caller(ctx: &Ctx) -> Caller {
    Caller {
        auth: ctx.auth.clone(),
        minor: ctx.version.minor,
        request_id: ctx.request_id.clone(),
        token: ctx.token.clone(),
    }
}

/// The caller's own token (forwarded to Block Storage as Nova does).
pub(crate) fn user_token(headers: &HeaderMap) -> String {
    headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub(crate) fn parse_body(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.is_empty() {
        return Err(Error::bad_request("The request body is empty."));
    }
    serde_json::from_slice(bytes).map_err(|_| Error::bad_request("Malformed request body"))
}

fn invalid_input(field: &str, v: &Value, why: &str) -> Error {
    Error::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {}. {why}",
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    ))
}

fn extra_props(o: &Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    let extra: Vec<String> = o
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("'{k}'"))
        .collect();
    if extra.is_empty() {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "Invalid input for field/attribute volumeAttachment. Value: {}. Additional properties are not allowed ({} {} unexpected)",
            Value::Object(o.clone()),
            extra.join(", "),
            if extra.len() == 1 { "was" } else { "were" }
        )))
    }
}

/// A `device` as Nova's schema accepts it: `null` or `/dev/[x][a-z][d]name[N]`.
fn valid_device(d: &str) -> bool {
    let Some(rest) = d.strip_prefix("/dev/") else {
        return false;
    };
    let name = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase())
}

/// Validates a `POST .../os-volume_attachments` body at 2.`minor`.
pub fn parse_attach(body: &Value, minor: u32) -> Result<AttachRequest, Error> {
    let top = body
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    let va = top
        .get("volumeAttachment")
        .ok_or_else(|| Error::bad_request("'volumeAttachment' is a required property"))?;
    let o = va
        .as_object()
        .ok_or_else(|| invalid_input("volumeAttachment", va, "is not of type 'object'"))?;
    let mut allowed = vec!["volumeId", "device"];
    if minor >= 49 {
        allowed.push("tag");
    }
    if minor >= 79 {
        allowed.push("delete_on_termination");
    }
    extra_props(o, &allowed)?;
    let vid = o
        .get("volumeId")
        .ok_or_else(|| Error::bad_request("'volumeId' is a required property"))?;
    let vs = vid
        .as_str()
        .ok_or_else(|| invalid_input("volumeId", vid, "is not of type 'string'"))?;
    if !is_uuid_like(vs) {
        return Err(invalid_input(
            "volumeId",
            vid,
            &format!("'{vs}' is not a 'uuid'"),
        ));
    }
    let device = match o.get("device") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let d = v
                .as_str()
                .ok_or_else(|| invalid_input("device", v, "is not of type 'string', 'null'"))?;
            if !valid_device(d) {
                return Err(invalid_input(
                    "device",
                    v,
                    &format!("'{d}' does not match the device name pattern"),
                ));
            }
            Some(d.to_owned())
        }
    };
    let tag = match o.get("tag") {
        None => None,
        Some(v) => {
            let t = v
                .as_str()
                .ok_or_else(|| invalid_input("tag", v, "is not of type 'string'"))?;
            if !valid_device_tag(t) {
                return Err(invalid_input(
                    "tag",
                    v,
                    &format!("'{t}' is not a valid tag"),
                ));
            }
            Some(t.to_owned())
        }
    };
    let delete_on_termination = match o.get("delete_on_termination") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid_input("delete_on_termination", v, "is not of type 'boolean'"))?,
    };
    Ok(AttachRequest {
        volume_id: canonical_uuid(vs),
        device,
        tag,
        delete_on_termination,
    })
}

/// One attachment in Nova's shape at 2.`minor`.
pub fn attachment_json(b: &Bdm, minor: u32) -> Value {
    let mut m = Map::new();
    if minor < 89 {
        m.insert("id".into(), json!(b.volume_id));
    }
    m.insert("serverId".into(), json!(b.instance_uuid));
    m.insert("volumeId".into(), json!(b.volume_id));
    m.insert("device".into(), json!(b.device_name));
    if minor >= 70 {
        m.insert("tag".into(), json!(b.tag));
    }
    if minor >= 79 {
        m.insert(
            "delete_on_termination".into(),
            json!(b.delete_on_termination),
        );
    }
    if minor >= 89 {
        m.insert("attachment_id".into(), json!(b.attachment_id));
        m.insert("bdm_uuid".into(), json!(b.uuid));
    }
    Value::Object(m)
}

async fn att_list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let (_, bdms) = s.volume_attachments(&caller(&ctx), &id).await?;
    let q: Vec<(String, String)> = q
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let num = |k: &str| -> Result<Option<usize>, Error> {
        match q.iter().find(|(x, _)| x == k) {
            None => Ok(None),
            Some((_, v)) => v.parse::<usize>().map(Some).map_err(|_| {
                Error::bad_request(format!(
                    "Invalid input for query parameters {k}. Value: {v}. '{v}' does not match '^[0-9]*$'"
                ))
            }),
        }
    };
    let offset = num("offset")?.unwrap_or(0);
    let limit = num("limit")?.unwrap_or(1000);
    let items: Vec<Value> = bdms
        .iter()
        .skip(offset)
        .take(limit)
        .map(|b| attachment_json(b, ctx.version.minor))
        .collect();
    Ok(Json(json!({ "volumeAttachments": items })).into_response())
}

async fn att_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, volume)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let b = s
        .volume_attachment_show(&caller(&ctx), &id, &volume)
        .await?;
    Ok(Json(json!({"volumeAttachment": attachment_json(&b, ctx.version.minor)})).into_response())
}

async fn att_create(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let req = parse_attach(&parse_body(&body)?, ctx.version.minor)?;
    let b = s
        .volume_attach(&caller(&ctx), &user_token(&headers), &id, req)
        .await?;
    if ctx.version.minor >= 101 {
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    // The create answer has `id` at every version and no 2.89 fields (Nova's
    // `_translate_attachment_detail_view` with the create-specific keys).
    let mut v = attachment_json(&b, ctx.version.minor.min(88));
    if ctx.version.minor < 70 {
        if let Some(o) = v.as_object_mut() {
            o.remove("tag");
        }
    }
    Ok(Json(json!({ "volumeAttachment": v })).into_response())
}

async fn att_update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, volume)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let c = caller(&ctx);
    let minor = ctx.version.minor;
    let v = parse_body(&body)?;
    let o = v
        .get("volumeAttachment")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("'volumeAttachment' is a required property"))?;
    let mut allowed = vec!["volumeId", "device"];
    if minor >= 85 {
        allowed.extend(["id", "serverId", "tag", "delete_on_termination"]);
    }
    extra_props(o, &allowed)?;
    let new = o
        .get("volumeId")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("'volumeId' is a required property"))?;
    if !is_uuid_like(new) {
        return Err(
            invalid_input("volumeId", &json!(new), &format!("'{new}' is not a 'uuid'")).into(),
        );
    }
    let dot = match o.get("delete_on_termination") {
        None => None,
        Some(x) => Some(x.as_bool().ok_or_else(|| {
            invalid_input("delete_on_termination", x, "is not of type 'boolean'")
        })?),
    };
    if minor >= 85 && canonical_uuid(new) == canonical_uuid(&volume) {
        // 2.85: the same volume: only `delete_on_termination` may change.
        s.volume_attachment_update(&c, &id, &volume, o, dot).await?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    // A different volume is a swap (admin by default): checked, then refused
    // honestly: rustack cannot move a running guest's disk to another volume.
    s.get_for(&c, &id, "os_compute_api:os-volumes-attachments:swap")
        .await?;
    Err(Error::NotImplemented {
        message: "Swapping a volume attachment is not supported by this cloud.".into(),
    }
    .into())
}

async fn att_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, volume)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    s.volume_detach(&caller(&ctx), &user_token(&headers), &id, &volume)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn avs_create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let s = servers(&st)?;
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-assisted-volume-snapshots:create",
        &json!({"project_id": ctx.auth.project_id}),
    )?;
    let v = parse_body(&body)?;
    let snap = v
        .get("snapshot")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("'snapshot' is a required property"))?;
    let volume_id = snap
        .get("volume_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("'volume_id' is a required property"))?;
    let ci = snap
        .get("create_info")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("'create_info' is a required property"))?;
    let snapshot_id = ci
        .get("snapshot_id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("'snapshot_id' is a required property"))?;
    let kind = ci
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad_request("'type' is a required property"))?;
    let name = match kind {
        "qcow2-internal" => ci
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(snapshot_id)
            .to_owned(),
        "qcow2" => {
            return Err((Error::bad_request(
                "Invalid volume: external qcow2 snapshots (new_file) are not supported by this cloud; use type qcow2-internal.",
            )).into())
        }
        other => {
            return Err((Error::bad_request(format!(
                "Invalid input for field/attribute type. Value: {other}. '{other}' is not one of ['qcow2', 'qcow2-internal']"
            ))).into())
        }
    };
    s.assisted_snapshot_create(volume_id, &name).await?;
    Ok(Json(json!({"snapshot": {"id": snapshot_id, "volumeId": volume_id}})).into_response())
}

async fn avs_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-assisted-volume-snapshots:delete",
        &json!({"project_id": ctx.auth.project_id}),
    )?;
    let q: Vec<(String, String)> = q
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    crate::api::params::check_query_v275(&q, ctx.version, &["delete_info"])?;
    let raw = q
        .iter()
        .find(|(k, _)| k == "delete_info")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| Error::bad_request("'delete_info'"))?;
    let info: Value = serde_json::from_str(&raw).map_err(|e| Error::bad_request(e.to_string()))?;
    let volume_id = info["volume_id"]
        .as_str()
        .ok_or_else(|| Error::bad_request("'volume_id'"))?;
    let name = info["name"].as_str().unwrap_or(&id).to_owned();
    s.assisted_snapshot_delete(volume_id, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Event names and the minor version that introduced each (block storage sends
/// `volume-extended` at 2.51, as Cinder does).
const EVENT_NAMES: &[(&str, u32)] = &[
    ("network-changed", 1),
    ("network-vif-plugged", 1),
    ("network-vif-unplugged", 1),
    ("network-vif-deleted", 1),
    ("volume-extended", 51),
    ("power-update", 76),
    ("accelerator-request-bound", 82),
    ("volume-reimaged", 93),
];

async fn events_create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let s = servers(&st)?;
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-server-external-events:create",
        &json!({"project_id": ctx.auth.project_id}),
    )?;
    let v = parse_body(&body)?;
    let events = v
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::bad_request("'events' is a required property"))?;
    if events.is_empty() {
        return Err((Error::bad_request(
            "Invalid input for field/attribute events. Value: []. [] is too short",
        ))
        .into());
    }
    let minor = ctx.version.minor;
    let mut parsed = Vec::new();
    for e in events {
        let o = e
            .as_object()
            .ok_or_else(|| invalid_input("events", e, "is not of type 'object'"))?;
        for k in o.keys() {
            if !["name", "server_uuid", "tag", "status"].contains(&k.as_str()) {
                return Err((Error::bad_request(format!(
                    "Invalid input for field/attribute events. Additional properties are not allowed ('{k}' was unexpected)"
                ))).into());
            }
        }
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_request("'name' is a required property"))?;
        if !EVENT_NAMES.iter().any(|(n, m)| *n == name && minor >= *m) {
            return Err((invalid_input(
                "name",
                &json!(name),
                "is not one of the known event names",
            ))
            .into());
        }
        let server = o
            .get("server_uuid")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_request("'server_uuid' is a required property"))?;
        let status = o
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("completed");
        if !["failed", "completed", "in-progress"].contains(&status) {
            return Err((invalid_input(
                "status",
                &json!(status),
                &format!("'{status}' is not one of ['failed', 'completed', 'in-progress']"),
            ))
            .into());
        }
        let tag = o.get("tag").and_then(Value::as_str).map(str::to_owned);
        if tag.as_deref().is_some_and(|t| t.len() > 255) {
            return Err((invalid_input("tag", &json!(tag), "is too long")).into());
        }
        parsed.push((e.clone(), name.to_owned(), server.to_owned(), tag));
    }
    let mut out = Vec::new();
    let mut accepted = 0usize;
    let mut failed = 0usize;
    for (raw, name, server, tag) in parsed {
        // Nova's TAG_REQUIRED: such an event without a tag fails on its own (400).
        let needs_tag = matches!(
            name.as_str(),
            "volume-extended" | "power-update" | "accelerator-request-bound" | "volume-reimaged"
        );
        let code = if needs_tag && tag.is_none() && s.external_event_target(&server).await {
            400
        } else {
            s.external_event(&name, &server, tag.as_deref()).await
        };
        let mut ev = raw.as_object().cloned().unwrap_or_default();
        ev.entry("status").or_insert_with(|| json!("completed"));
        ev.insert("code".into(), json!(code));
        if code == 200 {
            accepted += 1;
        } else {
            failed += 1;
            ev.insert("status".into(), json!("failed"));
        }
        out.push(Value::Object(ev));
    }
    // Nova answers 207 with per-event codes even when no event was accepted.
    let _ = accepted;
    let status = if failed == 0 {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(json!({ "events": out }))).into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn attach_bodies() {
        let id = "5f0d3a6e-1c2b-4d3e-8f9a-0b1c2d3e4f50";
        let ok = parse_attach(&json!({"volumeAttachment": {"volumeId": id}}), 1).unwrap();
        assert_eq!(ok.volume_id, id);
        assert!(parse_attach(&json!({"volumeAttachment": {"volumeId": "x"}}), 1).is_err());
        assert!(parse_attach(
            &json!({"volumeAttachment": {"volumeId": id, "tag": "t"}}),
            48
        )
        .is_err());
        let t = parse_attach(
            &json!({"volumeAttachment": {"volumeId": id, "tag": "t", "delete_on_termination": true}}),
            79,
        )
        .unwrap();
        assert_eq!(t.tag.as_deref(), Some("t"));
        assert!(t.delete_on_termination);
        assert!(parse_attach(
            &json!({"volumeAttachment": {"volumeId": id, "device": "vdb"}}),
            1
        )
        .is_err());
        assert!(parse_attach(
            &json!({"volumeAttachment": {"volumeId": id, "device": "/dev/vdb"}}),
            1
        )
        .is_ok());
    }

    #[test]
    fn attachment_shapes() {
        let b = Bdm {
            uuid: "b".into(),
            instance_uuid: "s".into(),
            volume_id: "v".into(),
            attachment_id: Some("a".into()),
            device_name: Some("/dev/vdb".into()),
            tag: Some("t".into()),
            delete_on_termination: true,
            ..Bdm::default()
        };
        let v = attachment_json(&b, 1);
        assert_eq!(v["id"], "v");
        assert!(v.get("tag").is_none());
        let v = attachment_json(&b, 79);
        assert_eq!(v["tag"], "t");
        assert_eq!(v["delete_on_termination"], true);
        let v = attachment_json(&b, 89);
        assert!(v.get("id").is_none());
        assert_eq!(v["attachment_id"], "a");
        assert_eq!(v["bdm_uuid"], "b");
    }
}
