//! Snapshots: create (`force` for in-use volumes before 3.66; through Nova's assisted
//! snapshots when a QEMU process holds the volume), list/detail with filters and
//! paging, show, update, delete, metadata, and the actions `os-reset_status`,
//! `os-update_snapshot_status` and `os-force_delete`.

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::volumes::{paginate, parse_meta_filter, parse_metadata, sort_spec, sort_views};
use super::{
    accepted, begin, body_obj, ok, parse_bool, query_pairs, with_status, Caller, St, UrlProject,
    Version,
};
use crate::error::{bad, invalid_volume, snapshot_not_found, BResult, Fault};
use crate::model::{now_iso, now_secs, Meta, Snapshot, Volume};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

const SNAPSHOT_STATUSES: &[&str] = &[
    "creating",
    "available",
    "backing-up",
    "deleting",
    "error",
    "deleted",
    "unmanaging",
    "restoring",
    "error_deleting",
];

/// The snapshot view; `detail` adds the extended attributes.
fn view(svc: &BlockService, c: &Caller, s: &Snapshot, detail: bool) -> Value {
    let mut o = json!({
        "id": s.id,
        "status": s.status,
        "description": s.description,
        "created_at": s.created_at,
        "name": s.name,
        "volume_id": s.volume_id,
        "metadata": s.metadata,
        "size": s.size,
        "updated_at": s.updated_at,
    });
    if c.version.at_least(41) {
        o["user_id"] = json!(s.user_id);
    }
    if c.version.at_least(65) {
        o["consumes_quota"] = json!(true);
    }
    if c.version.at_least(14) {
        o["group_snapshot_id"] = Value::Null;
    }
    if detail
        && svc.allowed(
            &c.ctx,
            "volume_extension:extended_snapshot_attributes",
            Some(&s.project_id),
        )
    {
        o["os-extended-snapshot-attributes:progress"] = json!(s.progress);
        o["os-extended-snapshot-attributes:project_id"] = json!(s.project_id);
    }
    o
}

async fn list_impl(
    svc: &BlockService,
    c: &Caller,
    raw: Option<&str>,
    detail: bool,
) -> BResult<Response> {
    svc.authorize(&c.ctx, "volume:get_all_snapshots", None)?;
    let params = query_pairs(raw);
    let all_tenants = params
        .iter()
        .any(|(k, v)| k == "all_tenants" && v != "0" && v != "false")
        && c.is_admin();
    let snaps: Vec<Snapshot> = if all_tenants {
        svc.store.list(Kind::Snapshot, None).await?
    } else {
        svc.store.list(Kind::Snapshot, Some(&c.project)).await?
    };
    let mut items = vec![];
    'snap: for s in &snaps {
        for (k, v) in &params {
            let keep = match k.as_str() {
                "name" | "display_name" => s.name.as_deref() == Some(v.as_str()),
                "status" => s.status == *v,
                "volume_id" => s.volume_id == *v,
                "project_id" if all_tenants => s.project_id == *v,
                "metadata" if c.version.at_least(22) => {
                    let want: Meta = parse_meta_filter(v)?;
                    want.iter().all(|(mk, mv)| s.metadata.get(mk) == Some(mv))
                }
                _ => true,
            };
            if !keep {
                continue 'snap;
            }
        }
        items.push(view(svc, c, s, true));
    }
    let spec = sort_spec(&params)?;
    super::volumes::check_sort_keys(
        &spec,
        &[
            "id",
            "name",
            "display_name",
            "status",
            "size",
            "created_at",
            "updated_at",
            "volume_id",
            "project_id",
            "user_id",
            "description",
        ],
    )?;
    sort_views(&mut items, &spec);
    let count = items.len();
    let base = c.collection_url(if detail {
        "snapshots/detail"
    } else {
        "snapshots"
    });
    let (page, next) = paginate(items, &params, &base, |m| {
        Fault::from(Error::not_found(format!("Marker {m} could not be found.")))
    })?;
    let page: Vec<Value> = if detail {
        page
    } else {
        page.into_iter()
            .map(|mut x| {
                if let Some(o) = x.as_object_mut() {
                    o.remove("os-extended-snapshot-attributes:progress");
                    o.remove("os-extended-snapshot-attributes:project_id");
                }
                x
            })
            .collect()
    };
    let mut out = json!({"snapshots": page});
    if let Some(n) = next {
        out["snapshots_links"] = n;
    }
    let with_count = params.iter().any(|(k, v)| {
        k == "with_count" && matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
    });
    if with_count && c.version.at_least(45) {
        out["count"] = json!(count);
    }
    Ok(ok(out))
}

/// `GET /snapshots`.
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

/// `GET /snapshots/detail`.
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

/// `GET /snapshots/{id}`.
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let s = ops::get_snapshot(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:get_snapshot", Some(&s.project_id))?;
    Ok(ok(json!({"snapshot": view(&svc, &c, &s, true)})))
}

fn text(m: &Map<String, Value>, keys: &[&str]) -> BResult<Option<Option<String>>> {
    for k in keys {
        match m.get(*k) {
            None => continue,
            Some(Value::Null) => return Ok(Some(None)),
            Some(Value::String(s)) if s.chars().count() <= 255 => return Ok(Some(Some(s.clone()))),
            Some(o) => {
                return Err(bad(format!(
                    "Invalid input for field/attribute {k}. Value: {o}."
                )))
            }
        }
    }
    Ok(None)
}

/// `POST /snapshots`.
pub async fn create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("snapshot") else {
        return Err(bad("Missing required element 'snapshot' in request body."));
    };
    // Cinder looks the volume up before validating further: no id is a 404
    // (Tempest's test_create_snapshot_without_passing_volume_id).
    let volume_id = match req.get("volume_id") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(crate::error::volume_not_found("None")),
        Some(_) => return Err(bad("Invalid input for field/attribute volume_id.")),
    };
    let force = match req.get("force") {
        Some(f) => parse_bool(f, "force")?,
        None => false,
    };
    let name = text(req, &["name", "display_name"])?.flatten();
    let description = text(req, &["description", "display_description"])?.flatten();
    let metadata = match req.get("metadata") {
        None | Some(Value::Null) => Meta::new(),
        Some(m) => parse_metadata(m)?,
    };
    let vol = ops::get_volume(&svc, &c, &volume_id).await?;
    svc.authorize(&c.ctx, "volume:create_snapshot", Some(&vol.project_id))?;
    let snap = {
        let _g = svc.write_lock.lock().await;
        let cur: Volume = svc
            .store
            .get(Kind::Volume, &volume_id)
            .await?
            .ok_or_else(|| crate::error::volume_not_found(&volume_id))?;
        match cur.status.as_str() {
            "available" => {}
            "in-use" if force || c.version.at_least(66) => {}
            "in-use" => return Err(invalid_volume("Volume status must be available (or in-use with force) to snapshot, but it is in-use.")),
            s => return Err(invalid_volume(format!("Volume {volume_id} status must be available or in-use, but it is {s}."))),
        }
        if cur.location.is_none() {
            return Err(invalid_volume("Volume has no data to snapshot."));
        }
        let t: Option<crate::model::VolumeType> =
            svc.store.get(Kind::VolumeType, &cur.volume_type_id).await?;
        let tname = t.map(|t| t.name).unwrap_or_default();
        ops::check_quota(
            &svc,
            &cur.project_id,
            &tname,
            &[
                ("snapshots", 1),
                ("gigabytes", i64::try_from(cur.size).unwrap_or(i64::MAX)),
            ],
        )
        .await?;
        let s = Snapshot {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: cur.project_id.clone(),
            user_id: c.ctx.user_id.clone(),
            volume_id: volume_id.clone(),
            name,
            description,
            size: cur.size,
            status: "creating".into(),
            progress: "0%".into(),
            metadata,
            created_at: now_iso(),
            updated_at: None,
            status_changed: now_secs(),
            volume_type_id: cur.volume_type_id.clone(),
        };
        svc.store
            .put(Kind::Snapshot, &s.id, &s.project_id, &s)
            .await?;
        s
    };
    ops::spawn_snapshot_create(&svc, c.token.clone(), snap.id.clone());
    Ok(with_status(
        202,
        json!({"snapshot": view(&svc, &c, &snap, false)}),
    ))
}

/// `PUT /snapshots/{id}`.
pub async fn update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("snapshot") else {
        return Err(bad("Missing required element 'snapshot' in request body."));
    };
    let s = ops::get_snapshot(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:update_snapshot", Some(&s.project_id))?;
    let name = text(req, &["name", "display_name"])?;
    let description = text(req, &["description", "display_description"])?;
    if name.is_none() && description.is_none() {
        return Err(bad(
            "Invalid input for field/attribute snapshot: name or description required.",
        ));
    }
    let s = ops::set_snapshot_status(&svc, &id, |x| {
        if let Some(n) = name {
            x.name = n;
        }
        if let Some(d) = description {
            x.description = d;
        }
    })
    .await?
    .ok_or_else(|| snapshot_not_found(&id))?;
    Ok(ok(json!({"snapshot": view(&svc, &c, &s, false)})))
}

async fn begin_delete(
    svc: &std::sync::Arc<BlockService>,
    c: &Caller,
    id: &str,
    force: bool,
) -> BResult<()> {
    {
        let _g = svc.write_lock.lock().await;
        let mut s: Snapshot = svc
            .store
            .get(Kind::Snapshot, id)
            .await?
            .ok_or_else(|| snapshot_not_found(id))?;
        if !force && !matches!(s.status.as_str(), "available" | "error") {
            return Err(bad(format!(
                "Invalid snapshot: Snapshot status must be available or error (is {}).",
                s.status
            )));
        }
        s.status = "deleting".into();
        s.status_changed = now_secs();
        ops::save_snapshot(svc, &mut s).await?;
    }
    ops::spawn_snapshot_delete(svc, Some(c.token.clone()), id.to_string());
    Ok(())
}

/// `DELETE /snapshots/{id}`.
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let s = ops::get_snapshot(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:delete_snapshot", Some(&s.project_id))?;
    begin_delete(&svc, &c, &id, false).await?;
    Ok(accepted())
}

/// `POST /snapshots/{id}/action`.
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
    let s = ops::get_snapshot(&svc, &c, &id).await?;
    match name.as_str() {
        "os-reset_status" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:snapshot_admin_actions:reset_status",
                Some(&s.project_id),
            )?;
            let st = arg
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
                .ok_or_else(|| bad("Must specify 'status'"))?;
            if !SNAPSHOT_STATUSES.contains(&st.as_str()) {
                return Err(bad(format!("Must specify a valid status (got {st}).")));
            }
            ops::set_snapshot_status(&svc, &id, |x| x.status = st).await?;
            Ok(accepted())
        }
        "os-update_snapshot_status" => {
            svc.authorize(
                &c.ctx,
                "snapshot_extension:snapshot_actions:update_snapshot_status",
                Some(&s.project_id),
            )?;
            let st = arg
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad("'status' must be specified."))?;
            let allowed: &[&str] = match s.status.as_str() {
                "creating" => &["creating", "available", "error"],
                "deleting" => &["deleting", "error_deleting"],
                _ => &[],
            };
            if !allowed.contains(&st.as_str()) {
                return Err(bad(format!(
                    "Provided snapshot status {st} not allowed for snapshot with status {}.",
                    s.status
                )));
            }
            let progress = arg
                .get("progress")
                .and_then(Value::as_str)
                .map(str::to_string);
            ops::set_snapshot_status(&svc, &id, |x| {
                x.status = st;
                if let Some(p) = progress {
                    x.progress = p;
                }
            })
            .await?;
            Ok(accepted())
        }
        "os-force_delete" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:snapshot_admin_actions:force_delete",
                Some(&s.project_id),
            )?;
            begin_delete(&svc, &c, &id, true).await?;
            Ok(accepted())
        }
        other => Err(bad(format!("There is no such action: {other}"))),
    }
}

// ---------------------------------------------------------------------------
// Metadata

async fn meta_snapshot(svc: &BlockService, c: &Caller, id: &str, rule: &str) -> BResult<Snapshot> {
    let s = ops::get_snapshot(svc, c, id).await?;
    svc.authorize(&c.ctx, rule, Some(&s.project_id))?;
    Ok(s)
}

/// `GET /snapshots/{id}/metadata`.
pub async fn metadata_get(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let s = meta_snapshot(&svc, &c, &id, "volume:get_snapshot_metadata").await?;
    Ok(ok(json!({"metadata": s.metadata})))
}

async fn meta_write(
    svc: &BlockService,
    c: &Caller,
    id: &str,
    bytes: &[u8],
    replace: bool,
) -> BResult<Response> {
    let b = body_obj(bytes)?;
    let m = parse_metadata(
        b.get("metadata")
            .ok_or_else(|| bad("Malformed request body: metadata missing"))?,
    )?;
    meta_snapshot(svc, c, id, "volume:update_snapshot_metadata").await?;
    let s = ops::set_snapshot_status(svc, id, |x| {
        if replace {
            x.metadata = m;
        } else {
            x.metadata.extend(m);
        }
    })
    .await?
    .ok_or_else(|| snapshot_not_found(id))?;
    Ok(ok(json!({"metadata": s.metadata})))
}

/// `POST /snapshots/{id}/metadata`.
pub async fn metadata_post(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    meta_write(&svc, &c, &id, &bytes, false).await
}

/// `PUT /snapshots/{id}/metadata`.
pub async fn metadata_put(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    meta_write(&svc, &c, &id, &bytes, true).await
}

/// `GET /snapshots/{id}/metadata/{key}`.
pub async fn metadata_item_get(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let s = meta_snapshot(&svc, &c, &id, "volume:get_snapshot_metadata").await?;
    let val = s.metadata.get(&key).ok_or_else(|| {
        Fault::from(Error::not_found(format!(
            "Snapshot {id} has no metadata with key {key}."
        )))
    })?;
    Ok(ok(json!({"meta": {key: val}})))
}

/// `PUT /snapshots/{id}/metadata/{key}`.
pub async fn metadata_item_put(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let m = crate::api::volumes::parse_meta_item(&bytes, &key)?;
    meta_snapshot(&svc, &c, &id, "volume:update_snapshot_metadata").await?;
    ops::set_snapshot_status(&svc, &id, |x| x.metadata.extend(m.clone())).await?;
    Ok(ok(json!({"meta": m})))
}

/// `DELETE /snapshots/{id}/metadata/{key}`.
pub async fn metadata_item_delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let s = meta_snapshot(&svc, &c, &id, "volume:delete_snapshot_metadata").await?;
    if !s.metadata.contains_key(&key) {
        return Err(
            Error::not_found(format!("Snapshot {id} has no metadata with key {key}.")).into(),
        );
    }
    ops::set_snapshot_status(&svc, &id, |x| {
        x.metadata.remove(&key);
    })
    .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}
