//! The attachments API (3.27+), Nova's attach flow: create without a connector
//! reserves the volume (`reserved`); update with the compute host's connector answers
//! the `connection_info` (`attaching`); `os-complete` (3.44) makes it `in-use`;
//! delete detaches (`available` unless other attachments remain).
//!
//! OSSA-2023-003 (bug 2004555): a user's delete of an attachment that a server uses
//! (it has an `instance_uuid` and connection info, and Nova reports that attachment
//! for the server) answers 409 unless the request carries a valid `X-Service-Token`
//! with the `service` role (Nova sends one). [`deletion_allowed`] is that check, also
//! used by `os-detach` and `os-terminate_connection`.

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rustack_block_api::Connector;
use rustack_common::Error;
use serde_json::{json, Value};

use super::{begin, body_obj, ok, query_pairs, with_status, Caller, St, UrlProject, Version};
use crate::error::{attachment_not_found, bad, invalid_volume, volume_not_found, BResult, Fault};
use crate::model::{now_iso, now_secs, Attachment, Volume};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

fn require_27(c: &Caller) -> BResult<()> {
    if c.version.at_least(27) {
        Ok(())
    } else {
        Err(Error::not_found("The resource could not be found.").into())
    }
}

/// The attachment view.
fn view(a: &Attachment, detail: bool) -> Value {
    let mut o = json!({
        "id": a.id,
        "status": a.attach_status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
    });
    if detail {
        o["attached_at"] = json!(a.attach_time);
        o["detached_at"] = json!(a.detach_time);
        o["attach_mode"] = json!(a.attach_mode);
        o["connection_info"] = a.connection_info.clone().unwrap_or(Value::Null);
    }
    o
}

/// True if the request carries a valid service token with the `service` role.
async fn is_service_request(svc: &BlockService, headers: &HeaderMap) -> bool {
    let Some(t) = headers.get("x-service-token").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match svc.validator.validate(t).await {
        Ok(ctx) => ctx.has_role("service"),
        Err(_) => false,
    }
}

/// The OSSA-2023-003 check (see the module docs).
pub(crate) async fn deletion_allowed(
    svc: &BlockService,
    headers: &HeaderMap,
    a: &Attachment,
) -> BResult<()> {
    if is_service_request(svc, headers).await {
        return Ok(());
    }
    let Some(server) = &a.instance_uuid else {
        return Ok(());
    };
    if a.connection_info.is_none() {
        return Ok(());
    }
    let refuse = || -> Fault {
        Error::conflict(format!(
            "Detach volume from instance {server} using the Compute API"
        ))
        .into()
    };
    let Some(compute) = &svc.compute else {
        return Err(refuse());
    };
    // Nova's view of the server's volumes (at the versions its advertised maximum
    // allows, which do not show attachment ids): refused while Nova has the volume
    // attached to that server.
    if compute.server_has_volume(server, &a.volume_id).await? {
        Err(refuse())
    } else {
        Ok(())
    }
}

async fn get_attachment(svc: &BlockService, c: &Caller, id: &str) -> BResult<Attachment> {
    let a: Option<Attachment> = svc.store.get(Kind::Attachment, id).await?;
    match a {
        Some(a) if a.project_id == c.project || c.is_admin() => Ok(a),
        _ => Err(attachment_not_found(id)),
    }
}

async fn list_impl(
    svc: &BlockService,
    c: &Caller,
    raw: Option<&str>,
    detail: bool,
) -> BResult<Response> {
    require_27(c)?;
    svc.authorize(&c.ctx, "volume:get_all", None)?;
    let params = query_pairs(raw);
    let all_tenants = params.iter().any(|(k, _)| k == "all_tenants") && c.is_admin();
    let all: Vec<Attachment> = if all_tenants {
        svc.store.list(Kind::Attachment, None).await?
    } else {
        svc.store.list(Kind::Attachment, Some(&c.project)).await?
    };
    let items: Vec<Value> = all
        .iter()
        .filter(|a| {
            params.iter().all(|(k, v)| match k.as_str() {
                "volume_id" => a.volume_id == *v,
                "instance_id" | "instance_uuid" => a.instance_uuid.as_deref() == Some(v.as_str()),
                "status" | "attach_status" => a.attach_status == *v,
                _ => true,
            })
        })
        .map(|a| view(a, detail))
        .collect();
    let (page, next) =
        super::volumes::paginate(items, &params, &c.collection_url("attachments"), |m| {
            Fault::from(Error::not_found(format!("Marker {m} could not be found.")))
        })?;
    let mut out = json!({"attachments": page});
    if let Some(n) = next {
        out["attachments_links"] = n;
    }
    Ok(ok(out))
}

/// `GET /attachments`.
pub async fn list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    list_impl(&svc, &c, raw.as_deref(), false).await
}

/// `GET /attachments/detail`.
pub async fn detail(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    list_impl(&svc, &c, raw.as_deref(), true).await
}

/// `GET /attachments/{id}`.
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_27(&c)?;
    let a = get_attachment(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:get", Some(&a.project_id))?;
    Ok(ok(json!({"attachment": view(&a, true)})))
}

fn parse_connector(v: Option<&Value>) -> BResult<Option<Connector>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(c @ Value::Object(_)) => serde_json::from_value(c.clone())
            .map(Some)
            .map_err(|e| bad(format!("Invalid connector: {e}"))),
        Some(_) => Err(bad(
            "Invalid input for field/attribute connector: must be an object.",
        )),
    }
}

/// Connects `a` to `connector`: connection info from the volume's location.
fn connect(vol: &Volume, a: &mut Attachment, connector: Connector) -> BResult<()> {
    let mode = if vol.readonly {
        "ro".to_string()
    } else {
        a.attach_mode.clone()
    };
    a.connection_info = Some(ops::connection_info(vol, &a.id, &mode)?);
    a.attached_host = connector.host.clone();
    if let Some(m) = &connector.mountpoint {
        a.mountpoint = Some(m.clone());
    }
    a.connector = Some(connector);
    a.attach_status = "attaching".into();
    Ok(())
}

/// `POST /attachments`.
pub async fn create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_27(&c)?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("attachment") else {
        return Err(bad(
            "Missing required element 'attachment' in request body.",
        ));
    };
    let volume_id = req
        .get("volume_uuid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Invalid input for field/attribute volume_uuid."))?
        .to_string();
    let instance = req
        .get("instance_uuid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let connector = parse_connector(req.get("connector"))?;
    let mode = match req.get("mode").and_then(Value::as_str) {
        Some(m) if c.version.at_least(54) => {
            if m != "rw" && m != "ro" {
                return Err(bad(format!(
                    "Invalid attach mode {m}: must be 'rw' or 'ro'."
                )));
            }
            m.to_string()
        }
        _ => "rw".to_string(),
    };
    let vol = ops::get_volume(&svc, &c, &volume_id)
        .await
        .map_err(|_| volume_not_found(&volume_id))?;
    svc.authorize(&c.ctx, "volume:attachment_create", Some(&vol.project_id))?;
    let a = {
        let _g = svc.write_lock.lock().await;
        let mut cur: Volume = svc
            .store
            .get(Kind::Volume, &volume_id)
            .await?
            .ok_or_else(|| volume_not_found(&volume_id))?;
        let existing = ops::attachments_of(&svc, &volume_id).await?;
        let ok_status = match cur.status.as_str() {
            "available" | "reserved" => true,
            "in-use" | "attaching" => {
                cur.multiattach || existing.iter().all(|a| a.instance_uuid == instance)
            }
            "downloading" => false,
            _ => false,
        };
        if !ok_status {
            return Err(invalid_volume(format!(
                "Volume {volume_id} status must be available or in-use (multiattach) to reserve, but the current status is {}.",
                cur.status
            )));
        }
        if cur.readonly && mode == "rw" && connector.is_some() {
            // Cinder attaches a read-only volume read-only whatever was asked.
        }
        let mut a = Attachment {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: volume_id.clone(),
            project_id: cur.project_id.clone(),
            instance_uuid: instance,
            attach_status: "reserved".into(),
            attach_mode: mode,
            connector: None,
            connection_info: None,
            attached_host: None,
            mountpoint: None,
            attach_time: None,
            detach_time: None,
            created: now_secs(),
        };
        if let Some(conn) = connector {
            connect(&cur, &mut a, conn)?;
        }
        svc.store
            .put(Kind::Attachment, &a.id, &a.project_id, &a)
            .await?;
        if cur.status != "in-use" {
            cur.status = if a.connector.is_some() {
                "attaching".into()
            } else {
                "reserved".into()
            };
            cur.status_changed = now_secs();
            ops::save_volume(&svc, &mut cur).await?;
        }
        a
    };
    Ok(with_status(200, json!({"attachment": view(&a, true)})))
}

/// `PUT /attachments/{id}` (the connector).
pub async fn update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_27(&c)?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("attachment") else {
        return Err(bad(
            "Missing required element 'attachment' in request body.",
        ));
    };
    let connector =
        parse_connector(req.get("connector"))?.ok_or_else(|| bad("Must specify a connector."))?;
    let a = get_attachment(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:attachment_update", Some(&a.project_id))?;
    let _g = svc.write_lock.lock().await;
    let mut a: Attachment = svc
        .store
        .get(Kind::Attachment, &id)
        .await?
        .ok_or_else(|| attachment_not_found(&id))?;
    let mut vol: Volume = svc
        .store
        .get(Kind::Volume, &a.volume_id)
        .await?
        .ok_or_else(|| volume_not_found(&a.volume_id))?;
    if matches!(
        vol.status.as_str(),
        "deleting" | "error_deleting" | "maintenance" | "creating" | "error"
    ) {
        return Err(invalid_volume(format!(
            "Volume status is {}; cannot update the attachment.",
            vol.status
        )));
    }
    let was_attached = a.attach_status == "attached";
    connect(&vol, &mut a, connector)?;
    if was_attached {
        a.attach_status = "attached".into();
    }
    svc.store
        .put(Kind::Attachment, &a.id, &a.project_id, &a)
        .await?;
    if vol.status == "reserved" || vol.status == "available" {
        vol.status = "attaching".into();
        vol.status_changed = now_secs();
        ops::save_volume(&svc, &mut vol).await?;
    }
    Ok(ok(json!({"attachment": view(&a, true)})))
}

/// `POST /attachments/{id}/action` (`os-complete`, 3.44).
pub async fn action(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_27(&c)?;
    let b = body_obj(&bytes)?;
    if !b.contains_key("os-complete") || !c.version.at_least(44) {
        return Err(bad("Invalid attachment action (os-complete needs 3.44)."));
    }
    let a = get_attachment(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:attachment_complete", Some(&a.project_id))?;
    let _g = svc.write_lock.lock().await;
    let mut a: Attachment = svc
        .store
        .get(Kind::Attachment, &id)
        .await?
        .ok_or_else(|| attachment_not_found(&id))?;
    if a.connection_info.is_none() {
        return Err(bad("Invalid attachment: the attachment has no connection (update it with a connector first)."));
    }
    a.attach_status = "attached".into();
    a.attach_time = Some(now_iso());
    svc.store
        .put(Kind::Attachment, &a.id, &a.project_id, &a)
        .await?;
    let mut vol: Volume = svc
        .store
        .get(Kind::Volume, &a.volume_id)
        .await?
        .ok_or_else(|| volume_not_found(&a.volume_id))?;
    vol.status = "in-use".into();
    vol.attach_status = "attached".into();
    vol.status_changed = now_secs();
    ops::save_volume(&svc, &mut vol).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /attachments/{id}`.
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_27(&c)?;
    let a = get_attachment(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:attachment_delete", Some(&a.project_id))?;
    deletion_allowed(&svc, &headers, &a).await?;
    let _g = svc.write_lock.lock().await;
    svc.store.delete(Kind::Attachment, &id).await?;
    let remaining = ops::attachments_of(&svc, &a.volume_id).await?;
    if let Some(mut vol) = svc.store.get::<Volume>(Kind::Volume, &a.volume_id).await? {
        if remaining.iter().any(|x| x.attach_status == "attached") {
            vol.status = "in-use".into();
            vol.attach_status = "attached".into();
        } else if remaining.is_empty() {
            vol.status = "available".into();
            vol.attach_status = "detached".into();
        } else {
            vol.status = "reserved".into();
            vol.attach_status = "detached".into();
        }
        vol.status_changed = now_secs();
        ops::save_volume(&svc, &mut vol).await?;
    }
    let remaining: Vec<Value> = remaining.iter().map(|x| view(x, false)).collect();
    Ok(ok(json!({"attachments": remaining})))
}
