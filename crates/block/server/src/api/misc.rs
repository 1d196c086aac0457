//! The versions documents, `/extensions`, `/limits`, availability zones, and the
//! admin views: services (`cinder-scheduler` and `cinder-volume` records with
//! heartbeats; enable, disable, freeze, thaw), hosts, pools and capabilities, user
//! messages (3.3), clusters (3.7; rustack runs none) and resource filters (3.33).

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rustack_block_api::microversion::advertised_max_minor;
use rustack_common::Error;
use serde_json::{json, Value};

use super::{begin, body_obj, ok, query_pairs, with_status, Caller, St, UrlProject, Version};
use crate::error::{bad, BResult, Fault};
use crate::model::{Message, ServiceRecord, Snapshot, Volume};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn version_doc(headers: &HeaderMap) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": format!("3.{}", advertised_max_minor()),
        "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
            {"rel": "self", "href": format!("{}/v3/", origin(headers))},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    })
}

/// `GET /` (300 Multiple Choices, as Cinder).
pub async fn versions(headers: HeaderMap) -> Response {
    with_status(300, json!({"versions": [version_doc(&headers)]}))
}

/// `GET /v3/`.
pub async fn v3_version(headers: HeaderMap) -> Response {
    ok(json!({"versions": [version_doc(&headers)]}))
}

/// `GET /extensions`.
pub async fn extensions(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let _c = begin(&svc, &headers, v, p).await?;
    let list: &[(&str, &str, &str)] = &[
        ("os-admin-actions", "AdminActions", "Enable admin actions."),
        (
            "os-availability-zone",
            "AvailabilityZones",
            "Describe Availability Zones.",
        ),
        (
            "capabilities",
            "Capabilities",
            "Capabilities scheduler extension.",
        ),
        (
            "os-extended-snapshot-attributes",
            "ExtendedSnapshotAttributes",
            "Extended SnapshotAttributes support.",
        ),
        ("os-hosts", "Hosts", "Admin-only host administration."),
        (
            "os-quota-class-sets",
            "QuotaClasses",
            "Quota classes management support.",
        ),
        ("os-quota-sets", "Quotas", "Quota management support."),
        ("qos-specs", "Qos_specs_manage", "QoS specs support."),
        (
            "scheduler-stats",
            "Scheduler_stats",
            "Scheduler stats support.",
        ),
        ("os-services", "Services", "Services support."),
        (
            "os-snapshot-actions",
            "SnapshotActions",
            "Enable snapshot manager actions.",
        ),
        (
            "os-used-limits",
            "UsedLimits",
            "Provide data on limited resources that are being used.",
        ),
        (
            "os-vol-host-attr",
            "VolumeHostAttribute",
            "Expose host as an attribute of a volume.",
        ),
        (
            "os-vol-image-meta",
            "VolumeImageMetadata",
            "Show image metadata associated with the volume.",
        ),
        (
            "os-vol-mig-status-attr",
            "VolumeMigStatusAttribute",
            "Expose migration_status as an attribute of a volume.",
        ),
        (
            "os-vol-tenant-attr",
            "VolumeTenantAttribute",
            "Expose the internal project_id as an attribute of a volume.",
        ),
        (
            "os-volume-actions",
            "VolumeActions",
            "Enable volume actions.",
        ),
        (
            "os-volume-encryption-metadata",
            "VolumeEncryptionMetadata",
            "Volume encryption metadata retrieval support.",
        ),
        (
            "os-volume-type-access",
            "VolumeTypeAccess",
            "Volume type access support.",
        ),
        (
            "encryption",
            "VolumeTypeEncryption",
            "Encryption support for volume types.",
        ),
        (
            "os-types-extra-specs",
            "TypesExtraSpecs",
            "Type extra specs support.",
        ),
        ("os-types-manage", "TypesManage", "Types manage support."),
    ];
    let items: Vec<Value> = list
        .iter()
        .map(|(alias, name, desc)| {
            json!({
                "alias": alias,
                "name": name,
                "description": desc,
                "links": [],
                "namespace": format!("https://docs.openstack.org/volume/ext/{alias}/api/v1"),
                "updated": "2023-08-31T00:00:00+00:00",
            })
        })
        .collect();
    Ok(ok(json!({"extensions": items})))
}

/// `GET /limits` (`project_id` for admins, 3.39).
pub async fn limits(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "limits_extension:used_limits", None)?;
    let mut project = c.project.clone();
    if c.version.at_least(39) && c.is_admin() {
        if let Some((_, pid)) = query_pairs(raw.as_deref())
            .into_iter()
            .find(|(k, _)| k == "project_id")
        {
            project = pid;
        }
    }
    let l = ops::effective_limits(&svc, &project).await?;
    let u = ops::usage(&svc, &project).await?;
    let lim = |k: &str| l.get(k).copied().unwrap_or(-1);
    let used = |k: &str| u.get(k).copied().unwrap_or(0);
    Ok(ok(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": lim("volumes"),
        "maxTotalSnapshots": lim("snapshots"),
        "maxTotalVolumeGigabytes": lim("gigabytes"),
        "maxTotalBackups": lim("backups"),
        "maxTotalBackupGigabytes": lim("backup_gigabytes"),
        "totalVolumesUsed": used("volumes"),
        "totalSnapshotsUsed": used("snapshots"),
        "totalGigabytesUsed": used("gigabytes"),
        "totalBackupsUsed": used("backups"),
        "totalBackupGigabytesUsed": used("backup_gigabytes"),
    }}})))
}

/// `GET /os-availability-zone`.
pub async fn availability_zones(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let _c = begin(&svc, &headers, v, p).await?;
    Ok(ok(json!({"availabilityZoneInfo": [
        {"zoneName": svc.cfg.availability_zone, "zoneState": {"available": true}}
    ]})))
}

fn service_up(s: &ServiceRecord, svc: &BlockService) -> bool {
    let Ok(t) = chrono::NaiveDateTime::parse_from_str(&s.updated_at, "%Y-%m-%dT%H:%M:%S%.f") else {
        return false;
    };
    let age = chrono::Utc::now().naive_utc() - t;
    age.num_seconds()
        <= i64::try_from(svc.cfg.reconcile_interval_secs.saturating_mul(3).max(60))
            .unwrap_or(i64::MAX)
}

fn service_view(svc: &BlockService, c: &Caller, s: &ServiceRecord) -> Value {
    let mut o = json!({
        "binary": s.binary,
        "host": s.host,
        "zone": s.zone,
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": if service_up(s, svc) { "up" } else { "down" },
        "updated_at": s.updated_at,
        "disabled_reason": s.disabled_reason,
    });
    if s.binary == "cinder-volume" {
        o["frozen"] = json!(s.frozen);
        o["replication_status"] = json!("disabled");
        o["active_backend_id"] = Value::Null;
        if c.version.at_least(49) {
            o["backend_state"] = json!("up");
        }
    }
    if c.version.at_least(7) {
        o["cluster"] = Value::Null;
    }
    o
}

/// `GET /os-services` (`host`, `binary` filters).
pub async fn services(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:services:index", None)?;
    let params = query_pairs(raw.as_deref());
    let all: Vec<ServiceRecord> = svc.store.list(Kind::Service, None).await?;
    let items: Vec<Value> = all
        .iter()
        .filter(|s| {
            params.iter().all(|(k, v)| match k.as_str() {
                "host" => s.host == *v || s.host.split('@').next() == Some(v.as_str()),
                "binary" => s.binary == *v,
                _ => true,
            })
        })
        .map(|s| service_view(&svc, &c, s))
        .collect();
    Ok(ok(json!({"services": items})))
}

/// `PUT /os-services/{enable|disable|disable-log-reason|freeze|thaw}`.
pub async fn service_action(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(action): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let host = b
        .get("host")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Missing required element 'host' in request body."))?
        .to_string();
    let binary = b
        .get("binary")
        .or(b.get("service"))
        .and_then(Value::as_str)
        .unwrap_or("cinder-volume")
        .to_string();
    match action.as_str() {
        "freeze" => svc.authorize(&c.ctx, "volume:freeze_host", None)?,
        "thaw" => svc.authorize(&c.ctx, "volume:thaw_host", None)?,
        "enable" | "disable" | "disable-log-reason" => {
            svc.authorize(&c.ctx, "volume_extension:services:update", None)?
        }
        other => return Err(Error::not_found(format!("Unknown action {other}")).into()),
    }
    let _g = svc.write_lock.lock().await;
    let all: Vec<ServiceRecord> = svc.store.list(Kind::Service, None).await?;
    let matches: Vec<ServiceRecord> = all
        .into_iter()
        .filter(|s| {
            (s.host == host) && (action == "freeze" || action == "thaw" || s.binary == binary)
        })
        .collect();
    if matches.is_empty() {
        // Cinder answers 400 for freeze/thaw of an unknown host, 404 otherwise.
        if action == "freeze" || action == "thaw" {
            return Err(bad(format!("Invalid host: host {host} not found.")));
        }
        return Err(Error::not_found(format!("Host {host} could not be found.")).into());
    }
    let mut last = None;
    for mut s in matches {
        match action.as_str() {
            "enable" => {
                s.disabled = false;
                s.disabled_reason = None;
            }
            "disable" => s.disabled = true,
            "disable-log-reason" => {
                let reason = b
                    .get("disabled_reason")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        bad("Disabled reason contains invalid characters or is too long")
                    })?;
                s.disabled = true;
                s.disabled_reason = Some(reason.to_string());
            }
            "freeze" => s.frozen = true,
            "thaw" => s.frozen = false,
            _ => {}
        }
        svc.store
            .put(Kind::Service, &s.id.to_string(), "", &s)
            .await?;
        last = Some(s);
    }
    if action == "freeze" || action == "thaw" {
        return Ok(axum::http::StatusCode::OK.into_response());
    }
    let s = last.ok_or_else(|| crate::error::internal("no service updated"))?;
    let mut out = json!({
        "host": s.host,
        "service": s.binary,
        "binary": s.binary,
        "status": if s.disabled { "disabled" } else { "enabled" },
        "disabled": s.disabled,
    });
    if action == "disable-log-reason" {
        out["disabled_reason"] = json!(s.disabled_reason);
    }
    Ok(ok(out))
}

/// `GET /os-hosts`.
pub async fn hosts(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:hosts", None)?;
    let all: Vec<ServiceRecord> = svc.store.list(Kind::Service, None).await?;
    let items: Vec<Value> = all
        .iter()
        .map(|s| {
            json!({
                "service": s.binary,
                "host_name": s.host,
                "zone": s.zone,
                "service-status": if service_up(s, &svc) { "available" } else { "unavailable" },
                "service-state": if s.disabled { "disabled" } else { "enabled" },
                "last-update": s.updated_at,
            })
        })
        .collect();
    Ok(ok(json!({"hosts": items})))
}

/// `GET /os-hosts/{host}`: usage of the volume host, total and per project.
pub async fn host_show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(host): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:hosts", None)?;
    let vhost = format!("{}@{}", svc.hostname, svc.backend.name());
    if host != vhost && host != svc.hostname && host != svc.host {
        return Err(Error::not_found(format!("Host {host} could not be found.")).into());
    }
    let vols: Vec<Volume> = svc.store.list(Kind::Volume, None).await?;
    let snaps: Vec<Snapshot> = svc.store.list(Kind::Snapshot, None).await?;
    let mut projects: Vec<String> = vols.iter().map(|v| v.project_id.clone()).collect();
    projects.sort();
    projects.dedup();
    let res = |proj: &str, vs: Vec<&Volume>, ss: Vec<&Snapshot>| {
        json!({"resource": {
            "host": host,
            "project": proj,
            "volume_count": vs.len().to_string(),
            "total_volume_gb": vs.iter().map(|v| v.size).sum::<u64>().to_string(),
            "snapshot_count": ss.len().to_string(),
            "total_snapshot_gb": ss.iter().map(|s| s.size).sum::<u64>().to_string(),
        }})
    };
    let mut out = vec![res(
        "(total)",
        vols.iter().collect(),
        snaps.iter().collect(),
    )];
    for pr in &projects {
        out.push(res(
            pr,
            vols.iter().filter(|v| v.project_id == *pr).collect(),
            snaps.iter().filter(|s| s.project_id == *pr).collect(),
        ));
    }
    Ok(ok(json!({"host": out})))
}

/// `GET /scheduler-stats/get_pools` (`detail`, and 3.28 filters `name`,
/// `volume_type`).
pub async fn pools(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(
        &c.ctx,
        "scheduler_extension:scheduler_stats:get_pools",
        None,
    )?;
    let params = query_pairs(raw.as_deref());
    let detail = params.iter().any(|(k, v)| {
        k == "detail" && matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
    });
    if let Some((_, name)) = params.iter().find(|(k, _)| k == "name") {
        if c.version.at_least(28) && *name != svc.host {
            return Ok(ok(json!({"pools": []})));
        }
    }
    let caps = svc
        .backend
        .capabilities()
        .await
        .map_err(ops::backend_fault)?;
    let mut pool = json!({"name": svc.host});
    if detail {
        let vols: Vec<Volume> = svc.store.list(Kind::Volume, None).await?;
        pool["capabilities"] = json!({
            "updated": crate::model::now_iso(),
            "QoS_support": false,
            "total_capacity_gb": caps.total_capacity_gb,
            "free_capacity_gb": caps.free_capacity_gb,
            "allocated_capacity_gb": vols.iter().map(|v| v.size).sum::<u64>(),
            "provisioned_capacity_gb": vols.iter().map(|v| v.size).sum::<u64>(),
            "volume_backend_name": caps.backend_name,
            "driver_version": caps.driver_version,
            "storage_protocol": caps.storage_protocol,
            "vendor_name": caps.vendor_name,
            "reserved_percentage": 0,
            "thin_provisioning_support": caps.thin_provisioning,
            "thick_provisioning_support": !caps.thin_provisioning,
            "multiattach": caps.multiattach,
            "pool_name": caps.pool_name,
            "timestamp": crate::model::now_iso(),
        });
    }
    Ok(ok(json!({"pools": [pool]})))
}

/// `GET /capabilities/{host}`.
pub async fn capabilities(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(host): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:capabilities", None)?;
    let vhost = format!("{}@{}", svc.hostname, svc.backend.name());
    if host != vhost && host != svc.host {
        return Err(Error::not_found(format!("Service {host} could not be found.")).into());
    }
    let caps = svc
        .backend
        .capabilities()
        .await
        .map_err(ops::backend_fault)?;
    let prop = |t: &str, d: &str, title: &str| json!({"type": t, "description": d, "title": title});
    Ok(ok(json!({
        "namespace": format!("OS::Storage::Capabilities::{vhost}"),
        "vendor_name": caps.vendor_name,
        "volume_backend_name": caps.backend_name,
        "pool_name": null,
        "driver_version": caps.driver_version,
        "storage_protocol": caps.storage_protocol,
        "display_name": null,
        "description": null,
        "visibility": null,
        "replication_targets": [],
        "properties": {
            "thin_provisioning": prop("boolean", "Sets thin provisioning.", "Thin Provisioning"),
            "multiattach": prop("boolean", "Volumes may be attached to more than one server.", "Multiattach"),
        },
    })))
}

// ---------------------------------------------------------------------------
// Messages (3.3)

fn message_view(m: &Message, c: &Caller) -> Value {
    json!({
        "id": m.id,
        "request_id": format!("req-{}", m.id),
        "message_level": m.message_level,
        "event_id": m.event_id,
        "user_message": m.user_message,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "created_at": m.created_at,
        "guaranteed_until": m.guaranteed_until,
        "links": c.links("messages", &m.id),
    })
}

fn require(c: &Caller, minor: u16) -> BResult<()> {
    if c.version.at_least(minor) {
        Ok(())
    } else {
        Err(Error::not_found("The resource could not be found.").into())
    }
}

/// `GET /messages`.
pub async fn messages(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require(&c, 3)?;
    svc.authorize(&c.ctx, "message:get_all", None)?;
    let all: Vec<Message> = if c.is_admin() {
        svc.store.list(Kind::Message, None).await?
    } else {
        svc.store.list(Kind::Message, Some(&c.project)).await?
    };
    let params = query_pairs(raw.as_deref());
    let items: Vec<Value> = all.iter().map(|m| message_view(m, &c)).collect();
    let (page, next) =
        super::volumes::paginate(items, &params, &c.collection_url("messages"), |m| {
            Fault::from(Error::not_found(format!("Marker {m} could not be found.")))
        })?;
    let mut out = json!({"messages": page});
    if let (Some(n), true) = (next, c.version.at_least(5)) {
        out["messages_links"] = n;
    }
    Ok(ok(out))
}

async fn get_message(svc: &BlockService, c: &Caller, id: &str) -> BResult<Message> {
    match svc.store.get::<Message>(Kind::Message, id).await? {
        Some(m) if m.project_id == c.project || c.is_admin() => Ok(m),
        _ => Err(Error::not_found(format!("Message {id} could not be found.")).into()),
    }
}

/// `GET /messages/{id}`.
pub async fn message_show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require(&c, 3)?;
    let m = get_message(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "message:get", Some(&m.project_id))?;
    Ok(ok(json!({"message": message_view(&m, &c)})))
}

/// `DELETE /messages/{id}`.
pub async fn message_delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require(&c, 3)?;
    let m = get_message(&svc, &c, &id).await?;
    svc.authorize(&c.ctx, "message:delete", Some(&m.project_id))?;
    svc.store.delete(Kind::Message, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// `GET /clusters` (3.7): rustack runs no clustered services.
pub async fn clusters(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require(&c, 7)?;
    svc.authorize(&c.ctx, "clusters:get_all", None)?;
    Ok(ok(json!({"clusters": []})))
}

/// `GET /resource_filters` (3.33).
pub async fn resource_filters(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require(&c, 33)?;
    let all = json!([
        {"resource": "volume", "filters": ["name", "status", "metadata", "bootable", "migration_status", "availability_zone", "group_id", "size", "created_at", "updated_at"]},
        {"resource": "snapshot", "filters": ["name", "status", "volume_id", "metadata", "availability_zone"]},
        {"resource": "attachment", "filters": ["volume_id", "status", "instance_id", "attach_status"]},
        {"resource": "message", "filters": ["resource_uuid", "resource_type", "event_id", "request_id", "message_level"]},
        {"resource": "pool", "filters": ["name", "volume_type"]},
        {"resource": "volume_type", "filters": ["is_public"]},
    ]);
    let want = query_pairs(raw.as_deref())
        .into_iter()
        .find(|(k, _)| k == "resource")
        .map(|(_, v)| v);
    let items: Vec<Value> = all
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| want.as_deref().is_none_or(|w| r["resource"] == w))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok(ok(json!({"resource_filters": items})))
}
