//! `POST /volumes/{id}/action`: extend, the legacy attach handshake (reserve, attach,
//! begin/roll detaching, detach, initialize/terminate connection), bootable and
//! read-only flags, upload to image, admin actions (reset status, force delete, force
//! detach), retype, image metadata and revert (3.40).

use std::sync::Arc;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use rustack_block_api::Connector;
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::volumes::parse_metadata;
use super::{accepted, begin, body_obj, ok, parse_bool, Caller, St, UrlProject, Version};
use crate::error::{bad, invalid_volume, volume_not_found, BResult, Fault};
use crate::model::{now_iso, now_secs, Attachment, Volume, VolumeType, VOLUME_STATUSES};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

/// The action dispatcher.
pub async fn action(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let Some((name, arg)) = b.iter().next() else {
        return Err(bad("Malformed request body: no action given"));
    };
    let arg = arg.clone();
    let vol = ops::get_volume(&svc, &c, &id).await?;
    let proj = vol.project_id.clone();
    let obj = |a: &Value| -> Map<String, Value> { a.as_object().cloned().unwrap_or_default() };
    match name.as_str() {
        "os-extend" => {
            svc.authorize(&c.ctx, "volume:extend", Some(&proj))?;
            extend(&svc, &c, vol, &obj(&arg)).await
        }
        "os-reserve" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:reserve",
                Some(&proj),
            )?;
            transition(&svc, &id, &["available"], "attaching", "reserve").await
        }
        "os-unreserve" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:unreserve",
                Some(&proj),
            )?;
            transition(&svc, &id, &["attaching"], "available", "unreserve").await
        }
        "os-begin_detaching" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:begin_detaching",
                Some(&proj),
            )?;
            transition(&svc, &id, &["in-use"], "detaching", "begin_detaching").await
        }
        "os-roll_detaching" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:roll_detaching",
                Some(&proj),
            )?;
            transition(&svc, &id, &["detaching"], "in-use", "roll_detaching").await
        }
        "os-attach" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:attach",
                Some(&proj),
            )?;
            attach(&svc, vol, &obj(&arg)).await
        }
        "os-detach" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:detach",
                Some(&proj),
            )?;
            let att = obj(&arg)
                .get("attachment_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            detach(&svc, &c, &headers, vol, att.as_deref(), false).await?;
            Ok(accepted())
        }
        "os-force_detach" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_admin_actions:force_detach",
                Some(&proj),
            )?;
            let att = obj(&arg)
                .get("attachment_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            detach(&svc, &c, &headers, vol, att.as_deref(), true).await?;
            Ok(accepted())
        }
        "os-initialize_connection" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:initialize_connection",
                Some(&proj),
            )?;
            initialize_connection(vol, &obj(&arg)).await
        }
        "os-terminate_connection" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:terminate_connection",
                Some(&proj),
            )?;
            let atts = ops::attachments_of(&svc, &id).await?;
            // The legacy flow names no attachment: the single one is meant.
            if let [only] = atts.as_slice() {
                super::attachments::deletion_allowed(&svc, &headers, only).await?;
            }
            Ok(accepted())
        }
        "os-set_bootable" => {
            svc.authorize(&c.ctx, "volume:update", Some(&proj))?;
            let b = obj(&arg)
                .get("bootable")
                .cloned()
                .ok_or_else(|| bad("Must specify bootable in request."))?;
            let flag = parse_bool(&b, "bootable")?;
            ops::set_volume_status(&svc, &id, |x| x.bootable = flag).await?;
            Ok(ok(Value::Null).into_empty())
        }
        "os-update_readonly_flag" => {
            svc.authorize(&c.ctx, "volume:update_readonly_flag", Some(&proj))?;
            let b = obj(&arg)
                .get("readonly")
                .cloned()
                .ok_or_else(|| bad("Must specify readonly in request."))?;
            let flag = parse_bool(&b, "readonly")?;
            if !matches!(vol.status.as_str(), "available" | "in-use") {
                return Err(invalid_volume(format!(
                    "Volume status must be available or in-use (is {}).",
                    vol.status
                )));
            }
            ops::set_volume_status(&svc, &id, |x| {
                x.readonly = flag;
                x.readonly_shown = true;
            })
            .await?;
            Ok(accepted())
        }
        "os-reset_status" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_admin_actions:reset_status",
                Some(&proj),
            )?;
            reset_status(&svc, &id, &obj(&arg)).await
        }
        "os-force_delete" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_admin_actions:force_delete",
                Some(&proj),
            )?;
            super::volumes::begin_delete(&svc, &c, &id, true, true).await?;
            Ok(accepted())
        }
        "os-retype" => {
            svc.authorize(&c.ctx, "volume:retype", Some(&proj))?;
            retype(&svc, vol, &obj(&arg)).await
        }
        "os-set_image_metadata" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_image_metadata:set",
                Some(&proj),
            )?;
            let m = parse_metadata(obj(&arg).get("metadata").unwrap_or(&Value::Null))?;
            let updated = ops::set_volume_status(&svc, &id, |x| x.image_metadata.extend(m))
                .await?
                .ok_or_else(|| volume_not_found(&id))?;
            Ok(ok(json!({"metadata": updated.image_metadata})))
        }
        "os-unset_image_metadata" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_image_metadata:remove",
                Some(&proj),
            )?;
            let key = obj(&arg)
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad("Malformed request body: key missing"))?;
            if !vol.image_metadata.contains_key(&key) {
                return Err(Error::not_found(format!(
                    "Glance metadata for volume {id} cannot be found."
                ))
                .into());
            }
            ops::set_volume_status(&svc, &id, |x| {
                x.image_metadata.remove(&key);
            })
            .await?;
            Ok(ok(Value::Null).into_empty())
        }
        "os-show_image_metadata" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_image_metadata:show",
                Some(&proj),
            )?;
            Ok(ok(json!({"metadata": vol.image_metadata})))
        }
        "os-volume_upload_image" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_actions:upload_image",
                Some(&proj),
            )?;
            upload(&svc, &c, vol, &obj(&arg)).await
        }
        "revert" => {
            if !c.version.at_least(40) {
                return Err(bad("Invalid action revert (needs microversion 3.40)."));
            }
            svc.authorize(&c.ctx, "volume:revert_to_snapshot", Some(&proj))?;
            revert(&svc, &c, vol, &obj(&arg)).await
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

trait IntoEmpty {
    fn into_empty(self) -> Response;
}

impl IntoEmpty for Response {
    fn into_empty(self) -> Response {
        axum::response::IntoResponse::into_response(axum::http::StatusCode::OK)
    }
}

async fn transition(
    svc: &BlockService,
    id: &str,
    from: &[&str],
    to: &str,
    what: &str,
) -> BResult<Response> {
    let _g = svc.write_lock.lock().await;
    let mut vol: Volume = svc
        .store
        .get(Kind::Volume, id)
        .await?
        .ok_or_else(|| volume_not_found(id))?;
    if !from.contains(&vol.status.as_str()) {
        return Err(invalid_volume(format!(
            "Volume status must be {} to {what} (volume {id} is {}).",
            from.join(" or "),
            vol.status
        )));
    }
    vol.status = to.into();
    vol.status_changed = now_secs();
    ops::save_volume(svc, &mut vol).await?;
    Ok(accepted())
}

async fn extend(
    svc: &Arc<BlockService>,
    c: &Caller,
    vol: Volume,
    arg: &Map<String, Value>,
) -> BResult<Response> {
    let new_size = match arg.get("new_size") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
    .ok_or_else(|| {
        bad("Invalid input for field/attribute new_size. new_size must be a positive integer.")
    })?;
    let back_to;
    {
        let _g = svc.write_lock.lock().await;
        let mut cur: Volume = svc
            .store
            .get(Kind::Volume, &vol.id)
            .await?
            .ok_or_else(|| volume_not_found(&vol.id))?;
        match cur.status.as_str() {
            "available" => {}
            "in-use" if c.version.at_least(42) => {
                svc.authorize(
                    &c.ctx,
                    "volume:extend_attached_volume",
                    Some(&cur.project_id),
                )?;
            }
            s => {
                return Err(invalid_volume(format!(
                "Volume status must be 'available' or 'in-use' (3.42+) to extend, currently {s}."
            )))
            }
        }
        if new_size <= cur.size {
            return Err(invalid_volume(format!(
                "New size for extend must be greater than current size. (current: {}, extended: {new_size})",
                cur.size
            )));
        }
        let t: Option<VolumeType> = svc.store.get(Kind::VolumeType, &cur.volume_type_id).await?;
        let tname = t.map(|t| t.name).unwrap_or_default();
        let delta = i64::try_from(new_size - cur.size).unwrap_or(i64::MAX);
        ops::check_quota(
            svc,
            &cur.project_id,
            &tname,
            &[
                ("gigabytes", delta),
                (
                    "per_volume_gigabytes",
                    i64::try_from(new_size).unwrap_or(i64::MAX),
                ),
            ],
        )
        .await?;
        back_to = cur.status.clone();
        cur.status = "extending".into();
        cur.status_changed = now_secs();
        ops::save_volume(svc, &mut cur).await?;
    }
    ops::spawn_extend(svc, c.token.clone(), vol.id.clone(), new_size, back_to);
    Ok(accepted())
}

async fn attach(svc: &BlockService, vol: Volume, arg: &Map<String, Value>) -> BResult<Response> {
    let instance = arg
        .get("instance_uuid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let host = arg
        .get("host_name")
        .and_then(Value::as_str)
        .map(str::to_string);
    if instance.is_none() && host.is_none() {
        return Err(bad("Invalid request to attach volume to an invalid target"));
    }
    if let Some(i) = &instance {
        if uuid::Uuid::parse_str(i).is_err() {
            return Err(bad(format!(
                "Invalid request to attach volume with an invalid instance_uuid: {i}"
            )));
        }
    }
    let mountpoint = arg
        .get("mountpoint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad("Must specify mountpoint"))?;
    let mode = arg
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or("rw")
        .to_string();
    if mode != "rw" && mode != "ro" {
        return Err(bad("Invalid request to attach volume with an invalid mode. Attaching mode should be 'rw' or 'ro'"));
    }
    let _g = svc.write_lock.lock().await;
    let mut cur: Volume = svc
        .store
        .get(Kind::Volume, &vol.id)
        .await?
        .ok_or_else(|| volume_not_found(&vol.id))?;
    let ok_status = matches!(cur.status.as_str(), "available" | "attaching" | "reserved")
        || (cur.status == "in-use" && cur.multiattach);
    if !ok_status {
        return Err(invalid_volume(format!(
            "Volume status must be available or attaching to attach (is {}).",
            cur.status
        )));
    }
    if cur.readonly && mode == "rw" {
        return Err(invalid_volume(
            "Volume is read-only; attach it with mode 'ro'.",
        ));
    }
    let att = Attachment {
        id: uuid::Uuid::new_v4().to_string(),
        volume_id: cur.id.clone(),
        project_id: cur.project_id.clone(),
        instance_uuid: instance,
        attach_status: "attached".into(),
        attach_mode: mode,
        connector: None,
        connection_info: None,
        attached_host: host,
        mountpoint: Some(mountpoint),
        attach_time: Some(now_iso()),
        detach_time: None,
        created: now_secs(),
    };
    svc.store
        .put(Kind::Attachment, &att.id, &att.project_id, &att)
        .await?;
    cur.status = "in-use".into();
    cur.attach_status = "attached".into();
    cur.status_changed = now_secs();
    ops::save_volume(svc, &mut cur).await?;
    Ok(accepted())
}

/// Detaches one attachment (or the only one) and recomputes the volume status.
pub(crate) async fn detach(
    svc: &BlockService,
    _c: &Caller,
    headers: &HeaderMap,
    vol: Volume,
    attachment_id: Option<&str>,
    force: bool,
) -> BResult<()> {
    let atts = ops::attachments_of(svc, &vol.id).await?;
    let live: Vec<&Attachment> = atts
        .iter()
        .filter(|a| a.attach_status != "detached")
        .collect();
    let target: Option<&Attachment> = match attachment_id {
        Some(aid) => Some(
            atts.iter()
                .find(|a| a.id == aid)
                .ok_or_else(|| crate::error::attachment_not_found(aid))?,
        ),
        None if live.len() == 1 => live.first().copied(),
        // Cinder's API casts the detach and answers 202 even when nothing is
        // attached (Tempest's cleanups rely on it).
        None if live.is_empty() && !force => return Ok(()),
        None if force => None,
        None => {
            return Err(invalid_volume(
                "Volume has more than one attachment; specify attachment_id.",
            ));
        }
    };
    if !force {
        if !matches!(vol.status.as_str(), "in-use" | "detaching" | "attaching") {
            return Err(invalid_volume(format!(
                "Volume status must be in-use or detaching to detach (is {}).",
                vol.status
            )));
        }
        if let Some(a) = target {
            super::attachments::deletion_allowed(svc, headers, a).await?;
        }
    }
    let _g = svc.write_lock.lock().await;
    match target {
        Some(a) => {
            svc.store.delete(Kind::Attachment, &a.id).await?;
        }
        None => {
            for a in &atts {
                svc.store.delete(Kind::Attachment, &a.id).await?;
            }
        }
    }
    let remaining = ops::attachments_of(svc, &vol.id).await?;
    let mut cur: Volume = svc
        .store
        .get(Kind::Volume, &vol.id)
        .await?
        .ok_or_else(|| volume_not_found(&vol.id))?;
    if remaining.iter().any(|a| a.attach_status == "attached") {
        cur.status = "in-use".into();
        cur.attach_status = "attached".into();
    } else if remaining.is_empty() {
        cur.status = "available".into();
        cur.attach_status = "detached".into();
    } else {
        cur.status = "reserved".into();
        cur.attach_status = "detached".into();
    }
    cur.status_changed = now_secs();
    ops::save_volume(svc, &mut cur).await?;
    Ok(())
}

async fn initialize_connection(vol: Volume, arg: &Map<String, Value>) -> BResult<Response> {
    let conn = arg
        .get("connector")
        .ok_or_else(|| bad("Must specify 'connector'"))?;
    let _connector: Connector =
        serde_json::from_value(conn.clone()).map_err(|e| bad(format!("Invalid connector: {e}")))?;
    if !matches!(
        vol.status.as_str(),
        "available" | "attaching" | "in-use" | "reserved" | "uploading" | "downloading"
    ) {
        return Err(invalid_volume(format!(
            "Volume status is {}; cannot initialize a connection.",
            vol.status
        )));
    }
    let mode = if vol.readonly { "ro" } else { "rw" };
    let mut info = ops::connection_info(&vol, "", mode)?;
    if let Some(d) = info["data"].as_object_mut() {
        d.remove("attachment_id");
    }
    Ok(ok(json!({"connection_info": info})))
}

async fn reset_status(svc: &BlockService, id: &str, arg: &Map<String, Value>) -> BResult<Response> {
    let status = arg
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let attach = arg
        .get("attach_status")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let mig = arg
        .get("migration_status")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    if status.is_none() && attach.is_none() && mig.is_none() {
        return Err(bad(
            "Must specify 'status', 'attach_status' or 'migration_status' for update.",
        ));
    }
    if let Some(s) = &status {
        if !VOLUME_STATUSES.contains(&s.as_str()) {
            return Err(bad(format!("Must specify a valid status (got {s}).")));
        }
    }
    if let Some(a) = &attach {
        if a != "attached" && a != "detached" {
            return Err(bad(format!(
                "Must specify a valid attach status (got {a})."
            )));
        }
    }
    ops::set_volume_status(svc, id, |x| {
        if let Some(s) = status {
            x.status = s;
        }
        if let Some(a) = attach {
            x.attach_status = a;
        }
        if let Some(m) = mig {
            x.migration_status = if m == "none" { None } else { Some(m) };
        }
    })
    .await?
    .ok_or_else(|| volume_not_found(id))?;
    Ok(accepted())
}

async fn retype(svc: &BlockService, vol: Volume, arg: &Map<String, Value>) -> BResult<Response> {
    let new_type = arg
        .get("new_type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("New volume type must be specified."))?;
    let policy = arg
        .get("migration_policy")
        .and_then(Value::as_str)
        .unwrap_or("never");
    if policy != "never" && policy != "on-demand" {
        return Err(bad(format!("Invalid migration policy: {policy}")));
    }
    let t = ops::find_type(svc, new_type)
        .await?
        .ok_or_else(|| crate::error::type_not_found(new_type))?;
    if !matches!(vol.status.as_str(), "available" | "in-use") {
        return Err(invalid_volume(format!(
            "Volume status must be available or in-use to retype (is {}).",
            vol.status
        )));
    }
    if t.id == vol.volume_type_id {
        return Err(bad(
            "Invalid volume type: New volume type must be different from the current one.",
        ));
    }
    let old: Option<VolumeType> = svc.store.get(Kind::VolumeType, &vol.volume_type_id).await?;
    let old_enc = old
        .and_then(|o| o.encryption)
        .map(|e| (e.provider, e.cipher, e.key_size));
    let new_enc = t
        .encryption
        .clone()
        .map(|e| (e.provider, e.cipher, e.key_size));
    if old_enc != new_enc {
        return Err(bad(
            "Retype needs a migration to change the encryption, which is not supported.",
        ));
    }
    let tid = t.id.clone();
    let ma = t
        .extra_specs
        .get("multiattach")
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("<is> true"));
    ops::set_volume_status(svc, &vol.id, |x| {
        x.volume_type_id = tid;
        x.multiattach = ma;
    })
    .await?;
    Ok(accepted())
}

async fn revert(
    svc: &Arc<BlockService>,
    c: &Caller,
    vol: Volume,
    arg: &Map<String, Value>,
) -> BResult<Response> {
    let sid = arg
        .get("snapshot_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Must specify 'snapshot_id'"))?
        .to_string();
    let snap = ops::get_snapshot(svc, c, &sid).await?;
    if snap.volume_id != vol.id {
        return Err(bad(format!("Snapshot {sid} is not of volume {}.", vol.id)));
    }
    let snaps = ops::snapshots_of(svc, &vol.id).await?;
    let latest = snaps.iter().max_by(|a, b| a.created_at.cmp(&b.created_at));
    if latest.map(|s| s.id.as_str()) != Some(sid.as_str()) {
        return Err(bad(
            "Invalid snapshot: the volume can only be reverted to its latest snapshot.",
        ));
    }
    if snap.status != "available" {
        return Err(bad(format!(
            "Invalid snapshot: Snapshot status must be available (is {}).",
            snap.status
        )));
    }
    if vol.status != "available" {
        return Err(invalid_volume(format!(
            "Volume status must be available to revert (is {}).",
            vol.status
        )));
    }
    if snap.size != vol.size {
        return Err(bad("Invalid volume: the volume's size differs from the snapshot's; reverting is not supported then."));
    }
    transition(svc, &vol.id, &["available"], "reverting", "revert").await?;
    let svc2 = svc.clone();
    let token = c.token.clone();
    let id = vol.id.clone();
    tokio::spawn(async move {
        let r: BResult<()> = async {
            let v: Volume = svc2
                .store
                .get(Kind::Volume, &id)
                .await?
                .ok_or_else(|| volume_not_found(&id))?;
            let loc = v
                .location
                .clone()
                .ok_or_else(|| crate::error::internal("volume has no location"))?;
            let luks = ops::volume_luks(&svc2, &token, &v).await?;
            svc2.backend
                .snapshot_revert(&loc, &format!("snapshot-{sid}"), luks.as_ref())
                .await
                .map_err(ops::backend_fault)?;
            Ok(())
        }
        .await;
        let st = if r.is_ok() { "available" } else { "error" };
        if let Err(e) = &r {
            tracing::warn!(volume.id = %id, error = %e.error, "revert failed");
        }
        let _ = ops::set_volume_status(&svc2, &id, |x| x.status = st.into()).await;
    });
    Ok(accepted())
}

async fn upload(
    svc: &Arc<BlockService>,
    c: &Caller,
    vol: Volume,
    arg: &Map<String, Value>,
) -> BResult<Response> {
    let image_name = arg
        .get("image_name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("No image_name was specified in request."))?
        .to_string();
    let force = match arg.get("force") {
        Some(f) => parse_bool(f, "force")?,
        None => false,
    };
    let disk_format = arg
        .get("disk_format")
        .and_then(Value::as_str)
        .unwrap_or("raw")
        .to_string();
    let container_format = arg
        .get("container_format")
        .and_then(Value::as_str)
        .unwrap_or("bare")
        .to_string();
    if !["raw", "qcow2"].contains(&disk_format.as_str()) {
        return Err(bad(format!(
            "Invalid disk-format '{disk_format}' specified; rustack exports raw or qcow2."
        )));
    }
    if container_format != "bare" {
        return Err(bad(format!(
            "Invalid container-format '{container_format}' specified; only 'bare' is supported."
        )));
    }
    if vol.encryption_key_id.is_some() && disk_format != "raw" {
        return Err(bad(
            "An encrypted volume uploads only as raw/bare (a LUKS container).",
        ));
    }
    let mut visibility = "private".to_string();
    let mut protected = false;
    if c.version.at_least(1) {
        if let Some(vv) = arg.get("visibility").and_then(Value::as_str) {
            if vv == "public" {
                svc.authorize(
                    &c.ctx,
                    "volume_extension:volume_actions:upload_public",
                    Some(&vol.project_id),
                )?;
            }
            visibility = vv.to_string();
        }
        if let Some(p) = arg.get("protected") {
            protected = parse_bool(p, "protected")?;
        }
    }
    let base = svc.image_url.clone().ok_or_else(|| {
        Fault::from(Error::unavailable(
            "Uploading to an image needs the Image service, and none is configured.",
        ))
    })?;
    let back_to;
    {
        let _g = svc.write_lock.lock().await;
        let mut cur: Volume = svc
            .store
            .get(Kind::Volume, &vol.id)
            .await?
            .ok_or_else(|| volume_not_found(&vol.id))?;
        match cur.status.as_str() {
            "available" => {}
            "in-use" if force => {}
            s => {
                return Err(invalid_volume(format!("Volume status must be available or in-use (with force) to upload, but it is {s}.")));
            }
        }
        back_to = cur.status.clone();
        cur.previous_status = Some(back_to.clone());
        cur.status = "uploading".into();
        cur.status_changed = now_secs();
        ops::save_volume(svc, &mut cur).await?;
    }
    let client = rustack_image_api::client::ImageClient::new(&base)?;
    let mut meta = json!({
        "name": image_name,
        "disk_format": disk_format,
        "container_format": container_format,
        "visibility": visibility,
        "protected": protected,
    });
    // Carry the volume's image properties (as Cinder's glance metadata copy does).
    for (k, v) in &vol.image_metadata {
        if matches!(
            k.as_str(),
            "image_id"
                | "image_name"
                | "checksum"
                | "size"
                | "disk_format"
                | "container_format"
                | "min_disk"
                | "min_ram"
                | "name"
        ) {
            continue;
        }
        meta[k] = json!(v);
    }
    let mut clone_key = None;
    if let Some(kid) = &vol.encryption_key_id {
        let km = svc.key_manager.as_ref().ok_or_else(|| {
            Fault::from(Error::unavailable(
                "Encrypted volumes need a key manager, and none is configured.",
            ))
        })?;
        let payload = km.get(&c.token, kid).await?;
        let new_id = km
            .store(
                &c.token,
                &rustack_keymgr_api::NewSecret {
                    name: None,
                    secret_type: "symmetric".into(),
                    algorithm: Some("aes".into()),
                    bit_length: Some(u32::try_from(payload.len() * 8).unwrap_or(256)),
                    mode: None,
                    payload,
                },
            )
            .await?;
        meta["cinder_encryption_key_id"] = json!(new_id);
        meta["cinder_encryption_key_deletion_policy"] = json!("on_image_deletion");
        clone_key = Some(new_id);
    }
    let image = match client.create(&c.token, &meta).await {
        Ok(i) => i,
        Err(e) => {
            let _ = ops::set_volume_status(svc, &vol.id, |x| x.status = back_to.clone()).await;
            return Err(e.into());
        }
    };
    let _ = clone_key;
    let image_id = image["id"].as_str().unwrap_or_default().to_string();
    let svc2 = svc.clone();
    let token = c.token.clone();
    let vid = vol.id.clone();
    let iid = image_id.clone();
    let df = disk_format.clone();
    let back = back_to.clone();
    tokio::spawn(async move {
        let r: BResult<()> = async {
            let v: Volume = svc2
                .store
                .get(Kind::Volume, &vid)
                .await?
                .ok_or_else(|| volume_not_found(&vid))?;
            let loc = v
                .location
                .clone()
                .ok_or_else(|| crate::error::internal("volume has no location"))?;
            let luks = ops::volume_luks(&svc2, &token, &v).await?;
            let out = svc2.tmp_dir.join(format!("upload-{iid}"));
            let exported = svc2
                .backend
                .export(&loc, luks.as_ref(), &out, &df)
                .await
                .map_err(ops::backend_fault);
            let r = match exported {
                Ok(()) => client.upload(&token, &iid, &out).await.map_err(Fault::from),
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_file(&out).await;
            r
        }
        .await;
        if let Err(e) = &r {
            tracing::warn!(volume.id = %vid, image.id = %iid, error = %e.error, "upload to image failed");
            let _ = ops::record_message(
                &svc2,
                &vid,
                "VOLUME",
                "VOLUME_000_004",
                e.error.external_message(),
            )
            .await;
        }
        let _ = ops::set_volume_status(&svc2, &vid, |x| {
            x.status = back.clone();
            x.previous_status = None;
        })
        .await;
    });
    Ok(super::with_status(
        202,
        json!({"os-volume_upload_image": {
            "id": vol.id,
            "updated_at": now_iso(),
            "status": "uploading",
            "display_description": vol.description,
            "size": vol.size,
            "volume_type": null,
            "image_id": image_id,
            "container_format": container_format,
            "disk_format": disk_format,
            "image_name": image["name"],
            "protected": protected,
            "visibility": visibility,
        }}),
    ))
}
