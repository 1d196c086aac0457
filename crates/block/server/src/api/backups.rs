//! Backups with a filesystem driver: a backup is the volume's data exported by the
//! backend into one file under `backups_dir` (qcow2; an encrypted volume's as a raw
//! LUKS container with a cloned key), restored by creating a volume from that file.
//! Not offered: incremental backups, backups of snapshots, export/import of backup
//! records, and backup of in-use volumes held open by QEMU (the backend must read the
//! file).

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use rustack_block_api::{VolumeSource, VolumeSpec};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::volumes::{paginate, parse_metadata, sort_spec, sort_views};
use super::{
    accepted, begin, body_obj, ok, parse_bool, query_pairs, with_status, Caller, St, UrlProject,
    Version,
};
use crate::error::{bad, internal, invalid_volume, volume_not_found, BResult, Fault};
use crate::model::{now_iso, now_secs, Backup, Meta, Volume, VolumeType};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

fn not_found(id: &str) -> Fault {
    Error::not_found(format!("Backup {id} could not be found.")).into()
}

fn view(svc: &BlockService, c: &Caller, b: &Backup) -> Value {
    let mut o = json!({
        "id": b.id,
        "name": b.name,
        "description": b.description,
        "status": b.status,
        "size": b.size,
        "object_count": if b.status == "available" { 1 } else { 0 },
        "container": b.container,
        "availability_zone": b.availability_zone,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
        "data_timestamp": b.created_at,
        "volume_id": b.volume_id,
        "snapshot_id": b.snapshot_id,
        "fail_reason": b.fail_reason,
        "has_dependent_backups": false,
        "is_incremental": false,
        "links": c.links("backups", &b.id),
    });
    if c.version.at_least(18)
        && svc.allowed(
            &c.ctx,
            "backup:backup_project_attribute",
            Some(&b.project_id),
        )
    {
        o["os-backup-project-attr:project_id"] = json!(b.project_id);
    }
    if c.version.at_least(43) {
        o["metadata"] = json!(b.metadata);
    }
    if c.version.at_least(56) {
        o["user_id"] = json!(b.user_id);
    }
    if c.version.at_least(64) {
        o["encryption_key_id"] = json!(b.encryption_key_id);
    }
    o
}

async fn get_backup(svc: &BlockService, c: &Caller, id: &str) -> BResult<Backup> {
    match svc.store.get::<Backup>(Kind::Backup, id).await? {
        Some(b) if b.project_id == c.project || c.is_admin() => Ok(b),
        _ => Err(not_found(id)),
    }
}

async fn set_backup(
    svc: &BlockService,
    id: &str,
    f: impl FnOnce(&mut Backup),
) -> BResult<Option<Backup>> {
    let _g = svc.write_lock.lock().await;
    let Some(mut b) = svc.store.get::<Backup>(Kind::Backup, id).await? else {
        return Ok(None);
    };
    let before = b.status.clone();
    f(&mut b);
    if b.status != before {
        b.status_changed = now_secs();
    }
    b.updated_at = Some(now_iso());
    svc.store
        .put(Kind::Backup, &b.id, &b.project_id, &b)
        .await?;
    Ok(Some(b))
}

async fn list_impl(
    svc: &BlockService,
    c: &Caller,
    raw: Option<&str>,
    detail: bool,
) -> BResult<Response> {
    svc.authorize(&c.ctx, "backup:get_all", None)?;
    let params = query_pairs(raw);
    let all_tenants = params
        .iter()
        .any(|(k, v)| k == "all_tenants" && v != "0" && v != "false")
        && c.is_admin();
    let all: Vec<Backup> = if all_tenants {
        svc.store.list(Kind::Backup, None).await?
    } else {
        svc.store.list(Kind::Backup, Some(&c.project)).await?
    };
    let mut items: Vec<Value> = all
        .iter()
        .filter(|b| {
            params.iter().all(|(k, v)| match k.as_str() {
                "name" => b.name.as_deref() == Some(v.as_str()),
                "status" => b.status == *v,
                "volume_id" => b.volume_id == *v,
                _ => true,
            })
        })
        .map(|b| view(svc, c, b))
        .collect();
    sort_views(&mut items, &sort_spec(&params)?);
    let count = items.len();
    let (page, next) = paginate(
        items,
        &params,
        &c.collection_url(if detail { "backups/detail" } else { "backups" }),
        |m| Fault::from(Error::not_found(format!("Marker {m} could not be found."))),
    )?;
    let page: Vec<Value> = if detail {
        page
    } else {
        page.into_iter()
            .map(|b| json!({"id": b["id"], "name": b["name"], "links": b["links"]}))
            .collect()
    };
    let mut out = json!({"backups": page});
    if let Some(n) = next {
        out["backups_links"] = n;
    }
    if c.version.at_least(45)
        && params
            .iter()
            .any(|(k, v)| k == "with_count" && v.eq_ignore_ascii_case("true"))
    {
        out["count"] = json!(count);
    }
    Ok(ok(out))
}

/// `GET /backups`.
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

/// `GET /backups/detail`.
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

/// `GET /backups/{id}`.
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = get_backup(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "backup:get", Some(&b.project_id))?;
    Ok(ok(json!({"backup": view(&svc, &c, &b)})))
}

fn text(m: &Map<String, Value>, k: &str) -> BResult<Option<String>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= 255 => Ok(Some(s.clone())),
        Some(o) => Err(bad(format!(
            "Invalid input for field/attribute {k}. Value: {o}."
        ))),
    }
}

/// `POST /backups`.
pub async fn create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("backup") else {
        return Err(bad("Missing required element 'backup' in request body."));
    };
    let volume_id = text(req, "volume_id")?
        .ok_or_else(|| bad("Incorrect request body format: volume_id is required."))?;
    let force = match req.get("force") {
        Some(f) => parse_bool(f, "force")?,
        None => false,
    };
    if let Some(i) = req.get("incremental") {
        if parse_bool(i, "incremental")? {
            return Err(bad("Invalid backup: incremental backups are not supported by rustack's filesystem backup driver."));
        }
    }
    if text(req, "snapshot_id")?.is_some() {
        return Err(bad(
            "Invalid backup: backups of snapshots are not supported.",
        ));
    }
    let metadata = match req.get("metadata") {
        Some(m) if c.version.at_least(43) => parse_metadata(m)?,
        _ => Meta::new(),
    };
    let vol = ops::get_volume(&svc, &c, &volume_id).await?;
    svc.authorize(&c.ctx, "backup:create", Some(&vol.project_id))?;
    let backup = {
        let _g = svc.write_lock.lock().await;
        let mut cur: Volume = svc
            .store
            .get(Kind::Volume, &volume_id)
            .await?
            .ok_or_else(|| volume_not_found(&volume_id))?;
        match cur.status.as_str() {
            "available" => {}
            "in-use" if force => {
                if ops::live_attachment(&svc, &volume_id).await?.is_some() {
                    return Err(invalid_volume("A volume held open by a running server cannot be backed up by rustack."));
                }
            }
            s => return Err(invalid_volume(format!("Volume to be backed up must be available or in-use (with force), but the current status is \"{s}\"."))),
        }
        let size = i64::try_from(cur.size).unwrap_or(i64::MAX);
        ops::check_quota(
            &svc,
            &cur.project_id,
            "",
            &[("backups", 1), ("backup_gigabytes", size)],
        )
        .await?;
        let b = Backup {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: cur.project_id.clone(),
            user_id: c.ctx.user_id.clone(),
            volume_id: volume_id.clone(),
            snapshot_id: None,
            name: text(req, "name")?,
            description: text(req, "description")?,
            status: "creating".into(),
            size: cur.size,
            container: text(req, "container")?.or(Some("backups".into())),
            availability_zone: svc.cfg.availability_zone.clone(),
            fail_reason: None,
            metadata,
            volume_metadata: cur.metadata.clone(),
            path: None,
            format: if cur.encryption_key_id.is_some() {
                "raw".into()
            } else {
                "qcow2".into()
            },
            encryption_key_id: None,
            volume_type_id: cur.volume_type_id.clone(),
            created_at: now_iso(),
            updated_at: None,
            status_changed: now_secs(),
        };
        svc.store
            .put(Kind::Backup, &b.id, &b.project_id, &b)
            .await?;
        cur.previous_status = Some(cur.status.clone());
        cur.status = "backing-up".into();
        cur.status_changed = now_secs();
        ops::save_volume(&svc, &mut cur).await?;
        b
    };
    let svc2 = svc.clone();
    let token = c.token.clone();
    let bid = backup.id.clone();
    tokio::spawn(async move {
        let r = backup_work(&svc2, &token, &bid).await;
        let back = |x: &mut Volume| {
            x.status = x
                .previous_status
                .take()
                .unwrap_or_else(|| "available".into());
        };
        let _ = ops::set_volume_status(&svc2, &volume_id, back).await;
        if let Err(e) = r {
            tracing::warn!(backup.id = %bid, error = %e.error, "backup failed");
            let reason = e.error.external_message().to_string();
            let _ = set_backup(&svc2, &bid, |b| {
                b.status = "error".into();
                b.fail_reason = Some(reason);
            })
            .await;
        }
    });
    Ok(with_status(
        202,
        json!({"backup": {"id": backup.id, "name": backup.name, "links": c.links("backups", &backup.id)}}),
    ))
}

async fn backup_work(svc: &BlockService, token: &str, id: &str) -> BResult<()> {
    let b: Backup = svc
        .store
        .get(Kind::Backup, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let v: Volume = svc
        .store
        .get(Kind::Volume, &b.volume_id)
        .await?
        .ok_or_else(|| volume_not_found(&b.volume_id))?;
    let loc = v
        .location
        .clone()
        .ok_or_else(|| internal("volume has no location"))?;
    let luks = ops::volume_luks(svc, token, &v).await?;
    let mut key = None;
    if let (Some(kid), Some(km)) = (&v.encryption_key_id, &svc.key_manager) {
        let payload = km.get(token, kid).await?;
        let bits = u32::try_from(payload.len() * 8).unwrap_or(256);
        key = Some(
            km.store(
                token,
                &rustack_keymgr_api::NewSecret {
                    name: None,
                    secret_type: "symmetric".into(),
                    algorithm: Some("aes".into()),
                    bit_length: Some(bits),
                    mode: None,
                    payload,
                },
            )
            .await?,
        );
    }
    let path = svc.backups_dir.join(format!("{id}.{}", b.format));
    let tmp = svc.backups_dir.join(format!(".{id}.partial"));
    svc.backend
        .export(&loc, luks.as_ref(), &tmp, &b.format)
        .await
        .map_err(ops::backend_fault)?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| internal(format!("renaming {}: {e}", tmp.display())))?;
    set_backup(svc, id, |x| {
        x.status = "available".into();
        x.path = Some(path);
        x.encryption_key_id = key;
    })
    .await?;
    Ok(())
}

/// `PUT /backups/{id}` (3.9).
pub async fn update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    if !c.version.at_least(9) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("backup") else {
        return Err(bad("Missing required element 'backup' in request body."));
    };
    let cur = get_backup(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "backup:update", Some(&cur.project_id))?;
    let name = text(req, "name")?;
    let description = text(req, "description")?;
    let metadata = match req.get("metadata") {
        Some(m) if c.version.at_least(43) => Some(parse_metadata(m)?),
        _ => None,
    };
    let nb = set_backup(&svc, &id, |x| {
        if req.contains_key("name") {
            x.name = name;
        }
        if req.contains_key("description") {
            x.description = description;
        }
        if let Some(m) = metadata {
            x.metadata = m;
        }
    })
    .await?
    .ok_or_else(|| not_found(&id))?;
    let mut out = json!({"id": nb.id, "name": nb.name, "links": c.links("backups", &nb.id)});
    if c.version.at_least(43) {
        out["metadata"] = json!(nb.metadata);
    }
    Ok(ok(json!({"backup": out})))
}

async fn begin_delete(svc: &Arc<BlockService>, c: &Caller, id: &str, force: bool) -> BResult<()> {
    let b = set_backup(svc, id, |_| {})
        .await?
        .ok_or_else(|| not_found(id))?;
    if !force && !matches!(b.status.as_str(), "available" | "error") {
        return Err(bad(format!(
            "Invalid backup: Backup status must be available or error (is {}).",
            b.status
        )));
    }
    set_backup(svc, id, |x| x.status = "deleting".into()).await?;
    let svc2 = svc.clone();
    let token = c.token.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        if let Err(e) = delete_work(&svc2, Some(&token), &id).await {
            tracing::warn!(backup.id = %id, error = %e.error, "backup delete failed");
            let _ = set_backup(&svc2, &id, |x| x.status = "error_deleting".into()).await;
        }
    });
    Ok(())
}

/// Removes a backup's file, key and row.
pub(crate) async fn delete_work(svc: &BlockService, token: Option<&str>, id: &str) -> BResult<()> {
    let Some(b) = svc.store.get::<Backup>(Kind::Backup, id).await? else {
        return Ok(());
    };
    if let Some(p) = &b.path {
        match tokio::fs::remove_file(p).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(internal(format!("removing {}: {e}", p.display()))),
        }
    }
    if let (Some(kid), Some(km), Some(t)) = (&b.encryption_key_id, &svc.key_manager, token) {
        if let Err(e) = km.delete(t, kid, true).await {
            if e.status_code() != 404 {
                tracing::warn!(backup.id = %id, error = %e, "deleting the backup's key failed");
            }
        }
    }
    let _g = svc.write_lock.lock().await;
    svc.store.delete(Kind::Backup, id).await?;
    Ok(())
}

/// `DELETE /backups/{id}`.
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = get_backup(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "backup:delete", Some(&b.project_id))?;
    begin_delete(&svc, &c, &id, false).await?;
    Ok(accepted())
}

/// `POST /backups/{id}/action` (`os-reset_status`, `os-force_delete`).
pub async fn action(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let body = body_obj(&bytes)?;
    let b = get_backup(&svc, &c, &id).await?;
    match body.iter().next().map(|(k, v)| (k.as_str(), v)) {
        Some(("os-reset_status", arg)) => {
            svc.authorize(
                &c.ctx,
                "volume_extension:backup_admin_actions:reset_status",
                Some(&b.project_id),
            )?;
            let st = arg
                .get("status")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("Must specify 'status'"))?
                .to_string();
            if !["available", "error"].contains(&st.as_str()) {
                return Err(bad(format!(
                    "Invalid backup status {st}: must be available or error."
                )));
            }
            set_backup(&svc, &id, |x| x.status = st).await?;
            Ok(accepted())
        }
        Some(("os-force_delete", _)) => {
            svc.authorize(
                &c.ctx,
                "volume_extension:backup_admin_actions:force_delete",
                Some(&b.project_id),
            )?;
            begin_delete(&svc, &c, &id, true).await?;
            Ok(accepted())
        }
        Some((other, _)) => Err(bad(format!("There is no such action: {other}"))),
        None => Err(bad("Malformed request body: no action given")),
    }
}

/// `POST /backups/{id}/restore` (`volume_id` to overwrite an existing volume, or a new
/// volume named `name`).
pub async fn restore(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let body = body_obj(&bytes)?;
    let req = body
        .get("restore")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let b = get_backup(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "backup:restore", Some(&b.project_id))?;
    if b.status != "available" {
        return Err(bad(format!(
            "Invalid backup: Backup status must be available (is {}).",
            b.status
        )));
    }
    let target = match text(&req, "volume_id")? {
        Some(vid) => {
            let vol = ops::get_volume(&svc, &c, &vid).await?;
            svc.authorize(&c.ctx, "volume:update", Some(&vol.project_id))?;
            let _g = svc.write_lock.lock().await;
            let mut cur: Volume = svc
                .store
                .get(Kind::Volume, &vid)
                .await?
                .ok_or_else(|| volume_not_found(&vid))?;
            if cur.status != "available" {
                return Err(invalid_volume(format!(
                    "Volume to be restored to must be available (is {}).",
                    cur.status
                )));
            }
            if cur.size < b.size {
                return Err(invalid_volume(format!(
                    "Volume size {}GB cannot be smaller than the backup size {}GB.",
                    cur.size, b.size
                )));
            }
            if cur.encryption_key_id.is_some() != b.encryption_key_id.is_some() {
                return Err(invalid_volume("An encrypted backup restores only into an encrypted volume, and a plain one only into a plain volume."));
            }
            cur.status = "restoring-backup".into();
            cur.status_changed = now_secs();
            ops::save_volume(&svc, &mut cur).await?;
            cur
        }
        None => {
            svc.authorize(&c.ctx, "volume:create", None)?;
            let vtype: VolumeType = match svc.store.get(Kind::VolumeType, &b.volume_type_id).await?
            {
                Some(t) => t,
                None => ops::default_type(&svc, &c.project).await?,
            };
            let name = text(&req, "name")?.unwrap_or_else(|| format!("restore_backup_{id}"));
            let vol = Volume {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: c.project.clone(),
                user_id: c.ctx.user_id.clone(),
                name: Some(name),
                description: None,
                size: b.size,
                status: "restoring-backup".into(),
                previous_status: None,
                attach_status: "detached".into(),
                availability_zone: svc.cfg.availability_zone.clone(),
                volume_type_id: vtype.id.clone(),
                snapshot_id: None,
                source_volid: None,
                bootable: false,
                readonly: false,
                readonly_shown: false,
                multiattach: false,
                metadata: Meta::new(),
                image_metadata: Meta::new(),
                encryption_key_id: None,
                location: None,
                host: svc.host.clone(),
                created_at: now_iso(),
                updated_at: None,
                status_changed: now_secs(),
                migration_status: None,
            };
            let _g = svc.write_lock.lock().await;
            let size = i64::try_from(b.size).unwrap_or(i64::MAX);
            ops::check_quota(
                &svc,
                &c.project,
                &vtype.name,
                &[
                    ("volumes", 1),
                    ("gigabytes", size),
                    ("per_volume_gigabytes", size),
                ],
            )
            .await?;
            svc.store
                .put(Kind::Volume, &vol.id, &vol.project_id, &vol)
                .await?;
            vol
        }
    };
    set_backup(&svc, &id, |x| x.status = "restoring".into()).await?;
    let svc2 = svc.clone();
    let token = c.token.clone();
    let vid = target.id.clone();
    let bid = id.clone();
    tokio::spawn(async move {
        let r = restore_work(&svc2, &token, &bid, &vid).await;
        let st = if r.is_ok() {
            "available"
        } else {
            "error_restoring"
        };
        if let Err(e) = &r {
            tracing::warn!(backup.id = %bid, volume.id = %vid, error = %e.error, "restore failed");
        }
        let _ = ops::set_volume_status(&svc2, &vid, |x| x.status = st.into()).await;
        let _ = set_backup(&svc2, &bid, |x| x.status = "available".into()).await;
    });
    Ok(with_status(
        202,
        json!({"restore": {
            "backup_id": id,
            "volume_id": target.id,
            "volume_name": target.name.unwrap_or_default(),
        }}),
    ))
}

async fn restore_work(svc: &BlockService, token: &str, bid: &str, vid: &str) -> BResult<()> {
    let b: Backup = svc
        .store
        .get(Kind::Backup, bid)
        .await?
        .ok_or_else(|| not_found(bid))?;
    let v: Volume = svc
        .store
        .get(Kind::Volume, vid)
        .await?
        .ok_or_else(|| volume_not_found(vid))?;
    let path = b
        .path
        .clone()
        .ok_or_else(|| internal("backup has no data file"))?;
    let t: Option<VolumeType> = svc.store.get(Kind::VolumeType, &b.volume_type_id).await?;
    let enc = t.and_then(|t| t.encryption);
    let cipher = enc.as_ref().and_then(|e| e.cipher.clone());
    let key_size = enc.as_ref().and_then(|e| e.key_size);
    let km = svc.key_manager.clone();
    // The backup's own key opens its container; the volume keeps (or gets) its own.
    let src_luks = match (&b.encryption_key_id, &km) {
        (Some(k), Some(km)) => Some(ops::luks_for(
            &km.get(token, k).await?,
            cipher.as_deref(),
            key_size,
        )),
        (Some(_), None) => {
            return Err(
                Error::unavailable("Restoring an encrypted backup needs a key manager.").into(),
            )
        }
        _ => None,
    };
    let mut target_key = v.encryption_key_id.clone();
    if target_key.is_none() {
        if let (Some(k), Some(km)) = (&b.encryption_key_id, &km) {
            let payload = km.get(token, k).await?;
            let bits = u32::try_from(payload.len() * 8).unwrap_or(256);
            let nk = km
                .store(
                    token,
                    &rustack_keymgr_api::NewSecret {
                        name: None,
                        secret_type: "symmetric".into(),
                        algorithm: Some("aes".into()),
                        bit_length: Some(bits),
                        mode: None,
                        payload,
                    },
                )
                .await?;
            km.add_consumer(
                token,
                &nk,
                &rustack_keymgr_api::Consumer {
                    service: "volume".into(),
                    resource_type: "volume".into(),
                    resource_id: vid.to_string(),
                },
            )
            .await?;
            target_key = Some(nk);
        }
    }
    let target_luks = match (&target_key, &km) {
        (Some(k), Some(km)) => Some(ops::luks_for(
            &km.get(token, k).await?,
            cipher.as_deref(),
            key_size,
        )),
        _ => None,
    };
    // Restoring over an existing volume replaces its data: remove, then re-create.
    if let Some(loc) = &v.location {
        svc.backend.delete(loc).await.map_err(ops::backend_fault)?;
    }
    let spec = VolumeSpec {
        id: vid.to_string(),
        size_gb: v.size,
    };
    let source = VolumeSource::Image {
        path,
        format: b.format.clone(),
        luks: src_luks,
    };
    let loc = svc
        .backend
        .create(&spec, &source, target_luks.as_ref())
        .await
        .map_err(ops::backend_fault)?;
    ops::set_volume_status(svc, vid, |x| {
        x.location = Some(loc);
        x.encryption_key_id = target_key;
        x.metadata.extend(b.volume_metadata.clone());
    })
    .await?;
    Ok(())
}
