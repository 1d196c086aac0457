//! Volume transfers (`/os-volume-transfer`, and `/volume-transfers` from 3.55): the
//! owner creates a transfer (the volume waits in `awaiting-transfer`) and hands the
//! id and auth key to another project, which accepts it; the volume (and its
//! snapshots unless `no_snapshots`, 3.55) then belong to the receiving project.
//! Encrypted volumes cannot be transferred (3.70's key hand-over is not implemented).

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use rustack_common::Error;
use serde_json::{json, Value};
use sha2::Digest as _;

use super::{
    accepted, begin, body_obj, ok, parse_bool, query_pairs, with_status, Caller, St, UrlProject,
    Version,
};
use crate::error::{bad, invalid_volume, volume_not_found, BResult, Fault};
use crate::model::{now_iso, now_secs, Snapshot, Transfer, Volume, VolumeType};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

fn collection(c: &Caller) -> &'static str {
    if c.version.at_least(55) {
        "volume-transfers"
    } else {
        "os-volume-transfer"
    }
}

fn view(c: &Caller, t: &Transfer, detail: bool) -> Value {
    let mut o = json!({
        "id": t.id,
        "name": t.name,
        "volume_id": t.volume_id,
        "links": c.links(collection(c), &t.id),
    });
    if detail {
        o["created_at"] = json!(t.created_at);
        if c.version.at_least(57) {
            o["source_project_id"] = json!(t.project_id);
            o["destination_project_id"] = json!(t.destination_project_id);
            o["accepted"] = json!(t.accepted);
        }
        if c.version.at_least(55) {
            o["no_snapshots"] = json!(t.no_snapshots);
        }
    }
    o
}

fn hash(salt: &str, key: &str) -> String {
    hex::encode(sha2::Sha256::digest(format!("{salt}{key}").as_bytes()))
}

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

async fn get_transfer(svc: &BlockService, c: &Caller, id: &str) -> BResult<Transfer> {
    match svc.store.get::<Transfer>(Kind::Transfer, id).await? {
        Some(t) if t.project_id == c.project || c.is_admin() => Ok(t),
        _ => Err(Error::not_found(format!("Transfer {id} could not be found.")).into()),
    }
}

async fn list_impl(
    svc: &BlockService,
    c: &Caller,
    raw: Option<&str>,
    detail: bool,
) -> BResult<Response> {
    svc.authorize(&c.ctx, "volume:get_all_transfers", None)?;
    let params = query_pairs(raw);
    let all_tenants = params.iter().any(|(k, _)| k == "all_tenants") && c.is_admin();
    let all: Vec<Transfer> = if all_tenants {
        svc.store.list(Kind::Transfer, None).await?
    } else {
        svc.store.list(Kind::Transfer, Some(&c.project)).await?
    };
    let items: Vec<Value> = all
        .iter()
        .filter(|t| {
            params.iter().all(|(k, v)| match k.as_str() {
                "name" => t.name.as_deref() == Some(v.as_str()),
                "volume_id" => t.volume_id == *v,
                _ => true,
            })
        })
        .map(|t| view(c, t, detail))
        .collect();
    let (page, next) =
        super::volumes::paginate(items, &params, &c.collection_url(collection(c)), |m| {
            Fault::from(Error::not_found(format!("Marker {m} could not be found.")))
        })?;
    let mut out = json!({"transfers": page});
    if let (Some(n), true) = (next, c.version.at_least(59)) {
        out["transfers_links"] = n;
    }
    Ok(ok(out))
}

/// `GET /os-volume-transfer` and `/volume-transfers`.
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

/// `GET .../detail`.
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

/// `GET .../{id}`.
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let t = get_transfer(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:get_transfer", Some(&t.project_id))?;
    Ok(ok(json!({"transfer": view(&c, &t, true)})))
}

/// `POST /os-volume-transfer` and `/volume-transfers`.
pub async fn create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("transfer") else {
        return Err(bad("Missing required element 'transfer' in request body."));
    };
    let volume_id = req
        .get("volume_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Incorrect request body format: volume_id is required."))?
        .to_string();
    let name = req.get("name").and_then(Value::as_str).map(str::to_string);
    let no_snapshots = match req.get("no_snapshots") {
        Some(v) if c.version.at_least(55) => parse_bool(v, "no_snapshots")?,
        _ => false,
    };
    let vol = ops::get_volume(&svc, &c, &volume_id).await?;
    svc.authorize(&c.ctx, "volume:create_transfer", Some(&vol.project_id))?;
    let key = random_hex(8);
    let t = {
        let _g = svc.write_lock.lock().await;
        let mut cur: Volume = svc
            .store
            .get(Kind::Volume, &volume_id)
            .await?
            .ok_or_else(|| volume_not_found(&volume_id))?;
        if cur.status != "available" {
            return Err(invalid_volume(format!(
                "Status of volume {volume_id} must be available to transfer (is {}).",
                cur.status
            )));
        }
        if cur.encryption_key_id.is_some() {
            return Err(invalid_volume("Encrypted volumes cannot be transferred (the key hand-over of 3.70 is not implemented)."));
        }
        if !no_snapshots {
            if let Some(s) = ops::snapshots_of(&svc, &volume_id)
                .await?
                .iter()
                .find(|s| s.status != "available")
            {
                return Err(invalid_volume(format!(
                    "Snapshot {} of the volume must be available to transfer (is {}).",
                    s.id, s.status
                )));
            }
        }
        let salt = random_hex(8);
        let t = Transfer {
            id: uuid::Uuid::new_v4().to_string(),
            volume_id: volume_id.clone(),
            project_id: cur.project_id.clone(),
            name,
            crypt_hash: hash(&salt, &key),
            salt,
            created_at: now_iso(),
            no_snapshots,
            accepted: false,
            destination_project_id: None,
        };
        svc.store
            .put(Kind::Transfer, &t.id, &t.project_id, &t)
            .await?;
        cur.status = "awaiting-transfer".into();
        cur.status_changed = now_secs();
        ops::save_volume(&svc, &mut cur).await?;
        t
    };
    let mut out = view(&c, &t, false);
    out["created_at"] = json!(t.created_at);
    out["auth_key"] = json!(key);
    if c.version.at_least(55) {
        out["no_snapshots"] = json!(t.no_snapshots);
    }
    if c.version.at_least(57) {
        out["source_project_id"] = json!(t.project_id);
        out["destination_project_id"] = Value::Null;
        out["accepted"] = json!(false);
    }
    Ok(with_status(202, json!({"transfer": out})))
}

/// `POST .../{id}/accept` by the receiving project.
pub async fn accept(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let key = b
        .get("accept")
        .and_then(|a| a.get("auth_key"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Incorrect request body format: accept.auth_key is required."))?
        .to_string();
    svc.authorize(&c.ctx, "volume:accept_transfer", None)?;
    let _g = svc.write_lock.lock().await;
    let t: Transfer = svc.store.get(Kind::Transfer, &id).await?.ok_or_else(|| {
        Fault::from(Error::not_found(format!(
            "Transfer {id} could not be found."
        )))
    })?;
    if hash(&t.salt, &key) != t.crypt_hash {
        return Err(bad(format!(
            "Invalid auth key: Attempt to transfer {id} with invalid auth key."
        )));
    }
    let mut vol: Volume = svc
        .store
        .get(Kind::Volume, &t.volume_id)
        .await?
        .ok_or_else(|| volume_not_found(&t.volume_id))?;
    if vol.status != "awaiting-transfer" {
        return Err(invalid_volume(format!(
            "Transfer {id}: volume status is {} (expected awaiting-transfer).",
            vol.status
        )));
    }
    let snaps: Vec<Snapshot> = if t.no_snapshots {
        vec![]
    } else {
        ops::snapshots_of(&svc, &vol.id).await?
    };
    let vt: Option<VolumeType> = svc.store.get(Kind::VolumeType, &vol.volume_type_id).await?;
    let tname = vt.map(|t| t.name).unwrap_or_default();
    let gb =
        i64::try_from(vol.size + snaps.iter().map(|s| s.size).sum::<u64>()).unwrap_or(i64::MAX);
    let snap_count = i64::try_from(snaps.len()).unwrap_or(i64::MAX);
    ops::check_quota(
        &svc,
        &c.project,
        &tname,
        &[("volumes", 1), ("gigabytes", gb), ("snapshots", snap_count)],
    )
    .await?;
    vol.project_id = c.project.clone();
    vol.user_id = c.ctx.user_id.clone();
    vol.status = "available".into();
    vol.status_changed = now_secs();
    ops::save_volume(&svc, &mut vol).await?;
    for mut s in snaps {
        s.project_id = c.project.clone();
        s.user_id = c.ctx.user_id.clone();
        ops::save_snapshot(&svc, &mut s).await?;
    }
    svc.store.delete(Kind::Transfer, &id).await?;
    Ok(with_status(
        202,
        json!({"transfer": {
            "id": t.id,
            "name": t.name,
            "volume_id": t.volume_id,
            "links": c.links(collection(&c), &t.id),
        }}),
    ))
}

/// `DELETE .../{id}`: cancels the transfer.
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let t = get_transfer(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:delete_transfer", Some(&t.project_id))?;
    let _g = svc.write_lock.lock().await;
    svc.store.delete(Kind::Transfer, &id).await?;
    if let Some(mut vol) = svc.store.get::<Volume>(Kind::Volume, &t.volume_id).await? {
        if vol.status == "awaiting-transfer" {
            vol.status = "available".into();
            vol.status_changed = now_secs();
            ops::save_volume(&svc, &mut vol).await?;
        }
    }
    Ok(accepted())
}
