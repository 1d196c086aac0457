//! Volumes: create (blank, from an image, a snapshot or a volume), list/detail with
//! filters, sorting and paging, show, update, delete (`cascade`, `force`), summary,
//! metadata and the encryption metadata Nova reads.

use std::sync::Arc;

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::{
    accepted, begin, body_obj, ok, query_pairs, with_status, Caller, St, UrlProject, Version,
};
use crate::error::{bad, invalid_volume, type_not_found, volume_not_found, BResult};
use crate::model::{now_iso, Attachment, Meta, Snapshot, Volume, VolumeType};
use crate::ops::{self, CreateSource};
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

/// How much of a volume to show.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The create/update response (no extended attributes).
    Basic,
    /// Show and detail (extended attributes per policy).
    Full,
}

/// The attachments list of a volume view.
fn attachments_view(atts: &[Attachment]) -> Value {
    Value::Array(
        atts.iter()
            .filter(|a| a.attach_status == "attached")
            .map(|a| {
                json!({
                    "server_id": a.instance_uuid,
                    "attachment_id": a.id,
                    "attached_at": a.attach_time,
                    "host_name": a.attached_host,
                    "volume_id": a.volume_id,
                    "device": a.mountpoint,
                    "id": a.volume_id,
                })
            })
            .collect(),
    )
}

/// The Cinder view of a volume.
pub(crate) async fn view(
    svc: &BlockService,
    c: &Caller,
    v: &Volume,
    level: View,
    types: &[VolumeType],
) -> BResult<Value> {
    let atts = ops::attachments_of(svc, &v.id).await?;
    let type_name = types
        .iter()
        .find(|t| t.id == v.volume_type_id)
        .map(|t| t.name.clone());
    // Cinder merges the admin metadata it exposes into the view's metadata.
    let mut metadata = v.metadata.clone();
    if v.readonly_shown {
        metadata.insert(
            "readonly".into(),
            if v.readonly { "True" } else { "False" }.into(),
        );
    }
    if let Some(a) = atts.iter().find(|a| a.attach_status == "attached") {
        metadata.insert("attached_mode".into(), a.attach_mode.clone());
    }
    let mut o = json!({
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "size": v.size,
        "status": v.status,
        "availability_zone": v.availability_zone,
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "attachments": attachments_view(&atts),
        "links": c.links("volumes", &v.id),
        "encrypted": v.encryption_key_id.is_some() || types.iter().any(|t| t.id == v.volume_type_id && t.encryption.is_some()),
        "replication_status": null,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "user_id": v.user_id,
        "metadata": metadata,
        "multiattach": v.multiattach,
        "consistencygroup_id": null,
        "bootable": if v.bootable { "true" } else { "false" },
        "volume_type": type_name,
        "migration_status": v.migration_status,
    });
    let ver = c.version;
    if ver.at_least(13) {
        o["group_id"] = Value::Null;
    }
    if ver.at_least(48) {
        o["service_uuid"] = Value::Null;
        o["shared_targets"] = if ver.at_least(69) {
            Value::Null
        } else {
            json!(false)
        };
    }
    if ver.at_least(63) {
        o["volume_type_id"] = json!(v.volume_type_id);
    }
    if ver.at_least(65) {
        o["consumes_quota"] = json!(true);
    }
    if level == View::Full {
        if svc.allowed(
            &c.ctx,
            "volume_extension:volume_tenant_attribute",
            Some(&v.project_id),
        ) {
            o["os-vol-tenant-attr:tenant_id"] = json!(v.project_id);
        }
        if svc.allowed(
            &c.ctx,
            "volume_extension:volume_host_attribute",
            Some(&v.project_id),
        ) {
            o["os-vol-host-attr:host"] = json!(v.host);
            if ver.at_least(21) {
                o["provider_id"] = Value::Null;
            }
            if ver.at_least(61) {
                o["cluster_name"] = Value::Null;
            }
        }
        if svc.allowed(
            &c.ctx,
            "volume_extension:volume_mig_status_attribute",
            Some(&v.project_id),
        ) {
            o["os-vol-mig-status-attr:migstat"] = Value::Null;
            o["os-vol-mig-status-attr:name_id"] = Value::Null;
        }
        if !v.image_metadata.is_empty() {
            o["volume_image_metadata"] = json!(v.image_metadata);
        }
        if ver.at_least(64) && v.encryption_key_id.is_some() {
            o["encryption_key_id"] = json!(v.encryption_key_id);
        }
    }
    Ok(o)
}

/// Parses Cinder's `metadata` filter (a Python dict literal or JSON).
pub(crate) fn parse_meta_filter(s: &str) -> BResult<Meta> {
    let parsed: Result<Map<String, Value>, _> =
        serde_json::from_str(s).or_else(|_| serde_json::from_str(&s.replace('\'', "\"")));
    let m = parsed.map_err(|_| bad(format!("Invalid filter metadata: {s}")))?;
    Ok(m.into_iter()
        .map(|(k, v)| {
            let t = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, t)
        })
        .collect())
}

/// Compares an ISO time with a `gt:`/`gte:`/`lt:`/`lte:`/`eq:`/`neq:` filter (3.60).
fn time_filter(value: Option<&str>, filter: &str) -> BResult<bool> {
    let (op, t) = filter.split_once(':').unwrap_or(("eq", filter));
    let parse = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S")
            })
    };
    let want = parse(t).map_err(|_| bad(format!("Invalid filter time: {filter}")))?;
    let Some(have) = value.and_then(|v| parse(v).ok()) else {
        return Ok(false);
    };
    Ok(match op {
        "gt" => have > want,
        "gte" => have >= want,
        "lt" => have < want,
        "lte" => have <= want,
        "neq" => have != want,
        "eq" => have == want,
        _ => return Err(bad(format!("Invalid filter operator: {op}"))),
    })
}

/// Sort keys and directions from `sort=k:d,k2` or `sort_key`/`sort_dir`.
pub(crate) fn sort_spec(params: &[(String, String)]) -> BResult<Vec<(String, bool)>> {
    let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mut out = vec![];
    if let Some(s) = get("sort") {
        if get("sort_key").is_some() || get("sort_dir").is_some() {
            return Err(bad("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter."));
        }
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
            let desc = match d.to_ascii_lowercase().as_str() {
                "desc" => true,
                "asc" => false,
                _ => {
                    return Err(bad(format!(
                        "Unknown sort direction, must be 'desc' or 'asc': {d}"
                    )))
                }
            };
            out.push((k.trim().to_string(), desc));
        }
    } else if let Some(k) = get("sort_key") {
        let desc = match get("sort_dir")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(d) => {
                return Err(bad(format!(
                    "Unknown sort direction, must be 'desc' or 'asc': {d}"
                )))
            }
        };
        out.push((k, desc));
    }
    if out.is_empty() {
        out.push(("created_at".into(), true));
    }
    Ok(out)
}

/// 400 unless every sort key is one of `allowed` (Cinder's "Invalid sort key").
pub(crate) fn check_sort_keys(spec: &[(String, bool)], allowed: &[&str]) -> BResult<()> {
    for (k, _) in spec {
        if !allowed.contains(&k.as_str()) {
            return Err(bad(format!(
                "Invalid input received: Invalid sort key {k}."
            )));
        }
    }
    Ok(())
}

/// Sort keys of volume lists.
pub(crate) const VOLUME_SORT_KEYS: &[&str] = &[
    "id",
    "name",
    "display_name",
    "status",
    "size",
    "created_at",
    "updated_at",
    "availability_zone",
    "bootable",
    "volume_type",
    "user_id",
    "project_id",
    "description",
    "multiattach",
    "attach_status",
    "migration_status",
    "host",
];

/// Sorts JSON views by `spec` (ties broken by id, descending, as Cinder).
pub(crate) fn sort_views(items: &mut [Value], spec: &[(String, bool)]) {
    items.sort_by(|a, b| {
        for (k, desc) in spec {
            let key = if k == "display_name" {
                "name"
            } else {
                k.as_str()
            };
            let ord = cmp_json(&a[key], &b[key]);
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        cmp_json(&b["id"], &a["id"])
    });
}

fn cmp_json(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(std::cmp::Ordering::Equal),
        (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
        (Value::Null, _) => std::cmp::Ordering::Less,
        (_, Value::Null) => std::cmp::Ordering::Greater,
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// Applies `marker`, `offset` and `limit`; returns the page and the `next` link when
/// the page is full.
pub(crate) fn paginate(
    items: Vec<Value>,
    params: &[(String, String)],
    next_base: &str,
    not_found: impl Fn(&str) -> crate::error::Fault,
) -> BResult<(Vec<Value>, Option<Value>)> {
    let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let mut items = items;
    if let Some(m) = get("marker") {
        let pos = items
            .iter()
            .position(|i| i["id"] == m)
            .ok_or_else(|| not_found(&m))?;
        items.drain(..=pos);
    }
    if let Some(o) = get("offset") {
        let n: usize = o
            .parse()
            .map_err(|_| bad(format!("Invalid value '{o}' for offset.")))?;
        items.drain(..n.min(items.len()));
    }
    let limit = match get("limit") {
        Some(l) => {
            let n: i64 = l.parse().map_err(|_| {
                bad(format!(
                    "Invalid input received: limit must be an integer, got {l}"
                ))
            })?;
            if n < 0 {
                return Err(bad("Invalid input received: limit must be >= 0"));
            }
            Some(usize::try_from(n).unwrap_or(usize::MAX).min(1000))
        }
        None => None,
    };
    let cap = limit.unwrap_or(1000);
    let full = items.len() > cap || (limit.is_some() && items.len() == cap && cap > 0);
    items.truncate(cap);
    let next = if full {
        let last = items
            .last()
            .and_then(|i| i["id"].as_str())
            .unwrap_or_default();
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if k != "marker" && k != "offset" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("marker", last);
        Some(json!([{"href": format!("{next_base}?{}", q.finish()), "rel": "next"}]))
    } else {
        None
    };
    Ok((items, next))
}

const VOLUME_FILTERS: &[&str] = &[
    "name",
    "display_name",
    "status",
    "metadata",
    "availability_zone",
    "bootable",
    "glance_metadata",
    "group_id",
    "size",
    "volume_type",
    "project_id",
    "user_id",
    "created_at",
    "updated_at",
    "migration_status",
    "attach_status",
    "id",
    "all_tenants",
    "sort",
    "sort_key",
    "sort_dir",
    "limit",
    "marker",
    "offset",
    "with_count",
    "name~",
    "display_name~",
    "description~",
    "is_public",
    "consistencygroup_id",
    "snapshot_id",
    "source_volid",
    "encrypted",
    "host",
];

async fn visible_volumes(
    svc: &BlockService,
    c: &Caller,
    params: &[(String, String)],
) -> BResult<Vec<Volume>> {
    let get = |k: &str| params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let all_tenants = get("all_tenants")
        .map(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "1" | "true" | "yes" | "t" | "on"
            )
        })
        .unwrap_or(false);
    let vols: Vec<Volume> = if all_tenants && c.is_admin() {
        match get("project_id") {
            Some(p) => svc.store.list(Kind::Volume, Some(&p)).await?,
            None => svc.store.list(Kind::Volume, None).await?,
        }
    } else {
        svc.store.list(Kind::Volume, Some(&c.project)).await?
    };
    Ok(vols)
}

async fn filtered(
    svc: &BlockService,
    c: &Caller,
    raw: Option<&str>,
) -> BResult<(Vec<Volume>, Vec<(String, String)>)> {
    let params = query_pairs(raw);
    if c.version.at_least(31) {
        for (k, _) in &params {
            if !VOLUME_FILTERS.contains(&k.as_str()) {
                return Err(bad(format!(
                    "Invalid filters {k} are found in query options."
                )));
            }
        }
    }
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    let vols = visible_volumes(svc, c, &params).await?;
    let mut out = vec![];
    'vol: for v in vols {
        for (k, val) in &params {
            let keep = match k.as_str() {
                "name" | "display_name" => v.name.as_deref() == Some(val.as_str()),
                "name~" | "display_name~" if c.version.at_least(34) => v
                    .name
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&val.to_lowercase())),
                "description~" if c.version.at_least(34) => v
                    .description
                    .as_deref()
                    .is_some_and(|n| n.to_lowercase().contains(&val.to_lowercase())),
                "status" => v.status == *val,
                "availability_zone" => v.availability_zone == *val,
                "id" => v.id == *val,
                "size" => v.size.to_string() == *val,
                "user_id" => v.user_id == *val,
                "snapshot_id" => v.snapshot_id.as_deref() == Some(val.as_str()),
                "source_volid" => v.source_volid.as_deref() == Some(val.as_str()),
                "attach_status" => v.attach_status == *val,
                "migration_status" => v.migration_status.as_deref() == Some(val.as_str()),
                "volume_type" => types
                    .iter()
                    .any(|t| t.id == v.volume_type_id && (t.id == *val || t.name == *val)),
                "bootable" => {
                    let want = super::parse_bool(&json!(val), "bootable")?;
                    v.bootable == want
                }
                "metadata" => {
                    let want = parse_meta_filter(val)?;
                    want.iter().all(|(mk, mv)| v.metadata.get(mk) == Some(mv))
                }
                "glance_metadata" if c.version.at_least(4) => {
                    let want = parse_meta_filter(val)?;
                    want.iter()
                        .all(|(mk, mv)| v.image_metadata.get(mk) == Some(mv))
                }
                "group_id" if c.version.at_least(10) => false,
                "created_at" if c.version.at_least(60) => time_filter(Some(&v.created_at), val)?,
                "updated_at" if c.version.at_least(60) => {
                    time_filter(v.updated_at.as_deref(), val)?
                }
                _ => true,
            };
            if !keep {
                continue 'vol;
            }
        }
        out.push(v);
    }
    Ok((out, params))
}

async fn list_impl(
    svc: Arc<BlockService>,
    headers: HeaderMap,
    v: V,
    p: P,
    raw: Option<String>,
    detail: bool,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume:get_all", None)?;
    let (vols, params) = filtered(&svc, &c, raw.as_deref()).await?;
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    let mut views = Vec::with_capacity(vols.len());
    for vol in &vols {
        views.push(view(&svc, &c, vol, View::Full, &types).await?);
    }
    let spec = sort_spec(&params)?;
    check_sort_keys(&spec, VOLUME_SORT_KEYS)?;
    sort_views(&mut views, &spec);
    let count = views.len();
    let base = c.collection_url(if detail { "volumes/detail" } else { "volumes" });
    let (page, next) = paginate(views, &params, &base, |m| {
        crate::error::Fault::from(Error::not_found(format!("Marker {m} could not be found.")))
    })?;
    let page: Vec<Value> = if detail {
        page
    } else {
        page.into_iter()
            .map(|x| json!({"id": x["id"], "name": x["name"], "links": x["links"]}))
            .collect()
    };
    let mut out = json!({ "volumes": page });
    if let Some(n) = next {
        out["volumes_links"] = n;
    }
    let with_count = params.iter().any(|(k, v)| {
        k == "with_count" && matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
    });
    if with_count && c.version.at_least(45) {
        out["count"] = json!(count);
    }
    Ok(ok(out))
}

/// `GET /volumes`.
pub async fn list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    list_impl(svc, headers, v, p, raw, false).await
}

/// `GET /volumes/detail`.
pub async fn detail(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    list_impl(svc, headers, v, p, raw, true).await
}

/// `GET /volumes/summary` (3.12).
pub async fn summary(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    if !c.version.at_least(12) {
        return Err(volume_not_found("summary"));
    }
    svc.authorize(&c.ctx, "volume:get_all", None)?;
    let (vols, _) = filtered(&svc, &c, raw.as_deref()).await?;
    let mut s = json!({
        "total_size": vols.iter().map(|v| v.size).sum::<u64>(),
        "total_count": vols.len(),
    });
    if c.version.at_least(36) {
        let mut meta: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for v in &vols {
            for (k, val) in &v.metadata {
                let e = meta.entry(k.clone()).or_default();
                if !e.contains(val) {
                    e.push(val.clone());
                }
            }
        }
        s["metadata"] = json!(meta);
    }
    Ok(ok(json!({ "volume-summary": s })))
}

/// `GET /volumes/{id}`.
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let vol = ops::get_volume(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:get", Some(&vol.project_id))?;
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    Ok(ok(
        json!({"volume": view(&svc, &c, &vol, View::Full, &types).await?}),
    ))
}

fn opt_str(
    m: &Map<String, Value>,
    keys: &[&str],
    allow_empty: bool,
) -> BResult<Option<Option<String>>> {
    for k in keys {
        if let Some(v) = m.get(*k) {
            return match v {
                Value::Null => Ok(Some(None)),
                Value::String(s) => {
                    if s.chars().count() > 255 {
                        return Err(bad(format!("Invalid input for field/attribute {k}. Value: {s}. '{s}' is too long")));
                    }
                    if s.trim().is_empty() && !allow_empty && !s.is_empty() {
                        return Err(bad(format!("Invalid input for field/attribute {k}. Name has a leading or trailing whitespace.")));
                    }
                    Ok(Some(Some(s.clone())))
                }
                other => Err(bad(format!(
                    "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string', 'null'"
                ))),
            };
        }
    }
    Ok(None)
}

/// Parses the body of `PUT .../metadata/{key}` (`{"meta": {key: value}}`): exactly one
/// item, whose key is the URL's (Cinder's messages). Volumes and snapshots share it.
pub(crate) fn parse_meta_item(bytes: &[u8], key: &str) -> BResult<Meta> {
    let b = body_obj(bytes)?;
    let m = parse_metadata(
        b.get("meta")
            .ok_or_else(|| bad("Malformed request body: meta missing"))?,
    )?;
    if m.len() != 1 {
        return Err(bad("Request body contains too many items."));
    }
    if !m.contains_key(key) {
        return Err(bad("Request body and URI mismatch"));
    }
    Ok(m)
}

/// Parses a metadata object (string values, keys 1..255 chars).
pub(crate) fn parse_metadata(v: &Value) -> BResult<Meta> {
    let Value::Object(m) = v else {
        return Err(bad("Malformed request body: metadata must be an object"));
    };
    let mut out = Meta::new();
    for (k, val) in m {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(bad("Invalid input for field/attribute metadata. Metadata key length must be between 1 and 255"));
        }
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if s.chars().count() > 255 {
            return Err(bad(
                "Invalid input for field/attribute metadata. Metadata value is too long",
            ));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

fn parse_size(v: &Value) -> BResult<u64> {
    let n: Option<i64> = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if n > 0 => u64::try_from(n).map_err(|_| bad("Invalid volume size")),
        Some(n) => Err(bad(format!(
            "Invalid input for field/attribute size. Value: {n}. {n} is less than the minimum of 1"
        ))),
        None => Err(bad(format!(
            "Invalid input for field/attribute size. Value: {v}. {v} is not of type 'integer', 'string'"
        ))),
    }
}

/// `POST /volumes`.
pub async fn create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("volume") else {
        return Err(bad("Missing required element 'volume' in request body."));
    };
    svc.authorize(&c.ctx, "volume:create", None)?;
    let size = match req.get("size") {
        None | Some(Value::Null) => None,
        Some(s) => Some(parse_size(s)?),
    };
    let name = opt_str(req, &["name", "display_name"], c.version.at_least(6))?.flatten();
    let description = opt_str(req, &["description", "display_description"], true)?.flatten();
    let metadata = match req.get("metadata") {
        None | Some(Value::Null) => Meta::new(),
        Some(m) => parse_metadata(m)?,
    };
    let az = match req.get("availability_zone").and_then(Value::as_str) {
        Some(z) if z != svc.cfg.availability_zone => {
            return Err(bad(format!("Availability zone '{z}' is invalid.")))
        }
        _ => svc.cfg.availability_zone.clone(),
    };
    let str_field = |k: &str| -> BResult<Option<String>> {
        match req.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(o) => Err(bad(format!(
                "Invalid input for field/attribute {k}. Value: {o}."
            ))),
        }
    };
    let snapshot_id = str_field("snapshot_id")?;
    let source_volid = str_field("source_volid")?;
    let image_ref = str_field("imageRef")?.or(str_field("image_id")?);
    if str_field("backup_id")?.is_some() {
        return Err(
            Error::not_implemented("Creating a volume from a backup is not supported.").into(),
        );
    }
    let sources = [&snapshot_id, &source_volid, &image_ref]
        .iter()
        .filter(|s| s.is_some())
        .count();
    if sources > 1 {
        return Err(bad("Invalid input received: only one of snapshot_id, source_volid and imageRef may be given."));
    }
    // Resolve the source first (404s), then the size.
    let mut source = CreateSource::Blank;
    let mut min_size = 1u64;
    let mut inherit_type: Option<String> = None;
    if let Some(sid) = &snapshot_id {
        let s = ops::get_snapshot(&svc, &c, sid).await?;
        if s.status != "available" {
            return Err(bad(format!("Invalid snapshot: Originating snapshot status must be one of 'available' values (snapshot {sid} is {}).", s.status)));
        }
        min_size = s.size;
        inherit_type = Some(s.volume_type_id.clone());
        source = CreateSource::Snapshot(Box::new(s));
    } else if let Some(vid) = &source_volid {
        let sv = ops::get_volume(&svc, &c, vid).await?;
        if !matches!(sv.status.as_str(), "available" | "in-use") {
            return Err(invalid_volume(format!(
                "Source volume status must be available or in-use, but it is {}.",
                sv.status
            )));
        }
        min_size = sv.size;
        inherit_type = Some(sv.volume_type_id.clone());
        source = CreateSource::Volume(Box::new(sv));
    } else if let Some(iid) = &image_ref {
        svc.authorize(&c.ctx, "volume:create_from_image", None)?;
        let base = svc.image_url.as_deref().ok_or_else(|| {
            crate::error::Fault::from(Error::unavailable(
                "Creating a volume from an image needs the Image service, and none is configured.",
            ))
        })?;
        let client = rustack_image_api::client::ImageClient::new(base)?;
        let image = client.get(&c.token, iid).await.map_err(|e| {
            if e.status_code() == 404 {
                crate::error::Fault::from(Error::bad_request(format!(
                    "Invalid image identifier or unable to access requested image. (image {iid})"
                )))
            } else {
                e.into()
            }
        })?;
        if image["status"].as_str() != Some("active") {
            return Err(bad(format!("Image {iid} is not active.")));
        }
        let bytes = image["size"].as_u64().unwrap_or(0);
        let gib = bytes.div_ceil(1 << 30).max(1);
        let min_disk = image["min_disk"].as_u64().unwrap_or(0);
        let vsize = image["virtual_size"]
            .as_u64()
            .map(|b| b.div_ceil(1 << 30))
            .unwrap_or(0);
        min_size = gib.max(min_disk).max(vsize).max(1);
        if let Some(s) = size {
            if s < min_size {
                return Err(bad(format!(
                    "Invalid input received: Size of specified image {min_size}GB is larger than volume size {s}GB."
                )));
            }
        }
        source = CreateSource::Image {
            id: iid.clone(),
            image,
        };
    }
    let size = match (size, &source) {
        (Some(s), CreateSource::Blank) => s,
        (None, CreateSource::Blank) => {
            return Err(bad("Invalid input for field/attribute size. Value: None. None is not of type 'integer', 'string'"))
        }
        (Some(s), _) => {
            if s < min_size {
                return Err(bad(format!(
                    "Invalid input received: Volume size '{s}'GB cannot be smaller than the source size {min_size}GB. They must be >= original size."
                )));
            }
            s
        }
        (None, _) => min_size,
    };
    // The type: named, else the source's, else the project's default.
    let vtype = match req.get("volume_type").and_then(Value::as_str) {
        Some(t) => ops::find_type(&svc, t)
            .await?
            .ok_or_else(|| type_not_found(t))?,
        None => match inherit_type {
            Some(tid) => match svc.store.get::<VolumeType>(Kind::VolumeType, &tid).await? {
                Some(t) => t,
                None => ops::default_type(&svc, &c.project).await?,
            },
            None => ops::default_type(&svc, &c.project).await?,
        },
    };
    if !vtype.is_public && !vtype.projects.contains(&c.project) && !c.is_admin() {
        return Err(type_not_found(&vtype.id));
    }
    if let Some(zones) = vtype.extra_specs.get("RESKEY:availability_zones") {
        // 3.52: the type restricts the zones its volumes may be created in.
        if !zones
            .split(',')
            .any(|z| z.trim() == svc.cfg.availability_zone)
        {
            return Err(bad(format!(
                "Availability zone '{}' is not allowed by volume type {} (RESKEY:availability_zones = {zones}).",
                svc.cfg.availability_zone, vtype.name
            )));
        }
    }
    if let Some(e) = &vtype.encryption {
        super::types::normalize_provider(&e.provider)?;
        if e.control_location != "front-end" {
            return Err(bad(format!(
                "Invalid input received: volume type {} has control_location '{}'; rustack encrypts volumes front-end only (LUKS opened by QEMU).",
                vtype.name, e.control_location
            )));
        }
    }
    if vtype.encryption.is_some() && svc.key_manager.is_none() {
        return Err(Error::unavailable(
            "Encrypted volume types need a key manager, and none is configured.",
        )
        .into());
    }
    let multiattach = vtype
        .extra_specs
        .get("multiattach")
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("<is> true"))
        || req
            .get("multiattach")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if multiattach
        && req.get("multiattach").and_then(Value::as_bool) == Some(true)
        && !vtype
            .extra_specs
            .get("multiattach")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("<is> true"))
    {
        return Err(bad("The 'multiattach' parameter has been removed; use a volume type with the 'multiattach' extra spec."));
    }
    let vol = Volume {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: c.project.clone(),
        user_id: c.ctx.user_id.clone(),
        name,
        description,
        size,
        status: "creating".into(),
        previous_status: None,
        attach_status: "detached".into(),
        availability_zone: az,
        volume_type_id: vtype.id.clone(),
        snapshot_id,
        source_volid,
        bootable: false,
        readonly: false,
        readonly_shown: false,
        multiattach,
        metadata,
        image_metadata: Meta::new(),
        encryption_key_id: None,
        location: None,
        host: svc.host.clone(),
        created_at: now_iso(),
        updated_at: None,
        status_changed: 0,
        migration_status: None,
    };
    let vol = ops::create_volume(&svc, &c, vol, &vtype, source).await?;
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    Ok(with_status(
        202,
        json!({"volume": view(&svc, &c, &vol, View::Basic, &types).await?}),
    ))
}

/// `PUT /volumes/{id}`.
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
    let Some(Value::Object(req)) = b.get("volume") else {
        return Err(bad("Missing required element 'volume' in request body."));
    };
    let vol = ops::get_volume(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:update", Some(&vol.project_id))?;
    let name = opt_str(req, &["name", "display_name"], c.version.at_least(6))?;
    let description = opt_str(req, &["description", "display_description"], true)?;
    let metadata = match req.get("metadata") {
        None => None,
        Some(m) => Some(parse_metadata(m)?),
    };
    if name.is_none() && description.is_none() && metadata.is_none() {
        return Err(bad("Invalid input for field/attribute volume. None of name, description or metadata given."));
    }
    let updated = ops::set_volume_status(&svc, &id, |x| {
        if let Some(n) = name {
            x.name = n;
        }
        if let Some(d) = description {
            x.description = d;
        }
        if let Some(m) = metadata {
            x.metadata = m;
        }
    })
    .await?
    .ok_or_else(|| volume_not_found(&id))?;
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    Ok(ok(
        json!({"volume": view(&svc, &c, &updated, View::Basic, &types).await?}),
    ))
}

/// `DELETE /volumes/{id}` (`cascade`, `force` 3.23).
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let params = query_pairs(raw.as_deref());
    let flag = |k: &str| {
        params.iter().any(|(a, v)| {
            a == k && matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "t")
        })
    };
    let cascade = flag("cascade");
    let force = flag("force") && c.version.at_least(23);
    let vol = ops::get_volume(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "volume:delete", Some(&vol.project_id))?;
    if force {
        svc.authorize(&c.ctx, "volume:force_delete", Some(&vol.project_id))?;
    }
    begin_delete(&svc, &c, &id, cascade, force).await?;
    Ok(accepted())
}

/// Checks and moves a volume to `deleting`, then starts the delete.
pub(crate) async fn begin_delete(
    svc: &Arc<BlockService>,
    c: &Caller,
    id: &str,
    cascade: bool,
    force: bool,
) -> BResult<()> {
    {
        let _g = svc.write_lock.lock().await;
        let mut vol: Volume = svc
            .store
            .get(Kind::Volume, id)
            .await?
            .ok_or_else(|| volume_not_found(id))?;
        let deletable = [
            "available",
            "error",
            "error_restoring",
            "error_extending",
            "error_managing",
        ];
        if !force && !deletable.contains(&vol.status.as_str()) {
            return Err(invalid_volume(format!(
                "Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer. (volume {id} is {})",
                vol.status
            )));
        }
        if force
            && matches!(vol.status.as_str(), "in-use" | "attaching" | "detaching")
            && vol.attach_status == "attached"
        {
            return Err(invalid_volume(
                "Volume must not be attached to be force deleted.",
            ));
        }
        let snaps: Vec<Snapshot> = ops::snapshots_of(svc, id).await?;
        if !snaps.is_empty() && !cascade {
            return Err(invalid_volume(
                "Volume still has 1 dependent snapshots.".replace('1', &snaps.len().to_string()),
            ));
        }
        if cascade {
            if let Some(s) = snaps
                .iter()
                .find(|s| !matches!(s.status.as_str(), "available" | "error" | "deleting"))
            {
                return Err(invalid_volume(format!(
                    "Snapshot {} must not be part of a group and must be available or error (is {}).",
                    s.id, s.status
                )));
            }
        }
        vol.status = "deleting".into();
        vol.status_changed = crate::model::now_secs();
        ops::save_volume(svc, &mut vol).await?;
        for mut s in snaps {
            s.status = "deleting".into();
            ops::save_snapshot(svc, &mut s).await?;
        }
    }
    ops::spawn_delete(svc, Some(c.token.clone()), id.to_string());
    Ok(())
}

/// `GET /volumes/{id}/encryption`: what Nova reads to open an encrypted volume.
pub async fn encryption(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let vol = ops::get_volume(&svc, &c, &id).await?;
    svc.authorize(
        &c.ctx,
        "volume_extension:volume_encryption_metadata",
        Some(&vol.project_id),
    )?;
    Ok(ok(encryption_meta(&svc, &vol).await?))
}

async fn encryption_meta(svc: &BlockService, vol: &Volume) -> BResult<Value> {
    let t: Option<VolumeType> = svc.store.get(Kind::VolumeType, &vol.volume_type_id).await?;
    let enc = t.and_then(|t| t.encryption);
    let mut out = json!({
        "encryption_key_id": vol.encryption_key_id,
        "control_location": null,
        "cipher": null,
        "key_size": null,
        "provider": null,
    });
    if let (Some(e), Some(_)) = (enc, &vol.encryption_key_id) {
        out["control_location"] = json!(e.control_location);
        out["cipher"] = json!(e.cipher);
        out["key_size"] = json!(e.key_size);
        out["provider"] =
            json!(super::types::normalize_provider(&e.provider).unwrap_or_else(|_| "luks".into()));
    }
    Ok(out)
}

/// `GET /volumes/{id}/encryption/{key}`.
pub async fn encryption_key(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let vol = ops::get_volume(&svc, &c, &id).await?;
    svc.authorize(
        &c.ctx,
        "volume_extension:volume_encryption_metadata",
        Some(&vol.project_id),
    )?;
    let m = encryption_meta(&svc, &vol).await?;
    let val = m.get(&key).cloned().unwrap_or(Value::Null);
    // Cinder answers the bare value as text.
    Ok(axum::response::IntoResponse::into_response(match val {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }))
}

// ---------------------------------------------------------------------------
// Metadata

async fn meta_volume(svc: &BlockService, c: &Caller, id: &str, rule: &str) -> BResult<Volume> {
    let vol = ops::get_volume(svc, c, id).await?;
    svc.authorize(&c.ctx, rule, Some(&vol.project_id))?;
    Ok(vol)
}

/// `GET /volumes/{id}/metadata`.
pub async fn metadata_get(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let vol = meta_volume(&svc, &c, &id, "volume:get_volume_metadata").await?;
    Ok(ok(json!({"metadata": vol.metadata})))
}

async fn meta_write(
    svc: &Arc<BlockService>,
    headers: HeaderMap,
    v: V,
    p: P,
    id: String,
    bytes: &[u8],
    replace: bool,
) -> BResult<Response> {
    let c = begin(svc, &headers, v, p).await?;
    let b = body_obj(bytes)?;
    let m = parse_metadata(
        b.get("metadata")
            .ok_or_else(|| bad("Malformed request body: metadata missing"))?,
    )?;
    let vol = meta_volume(
        svc,
        &c,
        &id,
        if replace {
            "volume:update_volume_metadata"
        } else {
            "volume:create_volume_metadata"
        },
    )
    .await?;
    if vol.status == "maintenance" {
        return Err(invalid_volume("Volume is in maintenance."));
    }
    let updated = ops::set_volume_status(svc, &id, |x| {
        if replace {
            x.metadata = m;
        } else {
            x.metadata.extend(m);
        }
    })
    .await?
    .ok_or_else(|| volume_not_found(&id))?;
    Ok(ok(json!({"metadata": updated.metadata})))
}

/// `POST /volumes/{id}/metadata` (merge).
pub async fn metadata_post(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    meta_write(&svc, headers, v, p, id, &bytes, false).await
}

/// `PUT /volumes/{id}/metadata` (replace).
pub async fn metadata_put(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    meta_write(&svc, headers, v, p, id, &bytes, true).await
}

/// `GET /volumes/{id}/metadata/{key}`.
pub async fn metadata_item_get(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let vol = meta_volume(&svc, &c, &id, "volume:get_volume_metadata").await?;
    let val = vol.metadata.get(&key).ok_or_else(|| {
        crate::error::Fault::from(Error::not_found(format!(
            "Volume {id} has no metadata with key {key}."
        )))
    })?;
    Ok(ok(json!({"meta": {key: val}})))
}

/// `PUT /volumes/{id}/metadata/{key}`.
pub async fn metadata_item_put(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let m = parse_meta_item(&bytes, &key)?;
    meta_volume(&svc, &c, &id, "volume:update_volume_metadata").await?;
    ops::set_volume_status(&svc, &id, |x| x.metadata.extend(m.clone()))
        .await?
        .ok_or_else(|| volume_not_found(&id))?;
    Ok(ok(json!({"meta": m})))
}

/// `DELETE /volumes/{id}/metadata/{key}`.
pub async fn metadata_item_delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let vol = meta_volume(&svc, &c, &id, "volume:delete_volume_metadata").await?;
    if !vol.metadata.contains_key(&key) {
        return Err(
            Error::not_found(format!("Volume {id} has no metadata with key {key}.")).into(),
        );
    }
    ops::set_volume_status(&svc, &id, |x| {
        x.metadata.remove(&key);
    })
    .await?;
    Ok(axum::response::IntoResponse::into_response(
        axum::http::StatusCode::OK,
    ))
}
