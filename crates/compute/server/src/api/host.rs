//! Admin views of the compute hosts: `/os-services` (list, enable/disable/
//! disable-log-reason, force-down at 2.11, delete), `/os-hypervisors` (list, detail,
//! show, statistics, search, servers, uptime) and `/os-availability-zone` (+ detail).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{base_url, AppState, Ctx};
use crate::app::host::{Hypervisor, Service};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-services", get(services))
        .route(
            "/v2.1/os-services/{action}",
            put(service_action).delete(service_delete),
        )
        .route("/v2.1/os-hypervisors", get(hv_list))
        .route("/v2.1/os-hypervisors/detail", get(hv_detail))
        .route("/v2.1/os-hypervisors/statistics", get(hv_stats))
        .route("/v2.1/os-hypervisors/{id}", get(hv_show))
        .route("/v2.1/os-hypervisors/{id}/uptime", get(hv_uptime))
        .route("/v2.1/os-hypervisors/{pattern}/search", get(hv_search))
        .route("/v2.1/os-hypervisors/{pattern}/servers", get(hv_servers))
        .route("/v2.1/os-availability-zone", get(az_list))
        .route("/v2.1/os-availability-zone/detail", get(az_detail))
        .route("/v2.1/os-fixed-ips/{id}", get(gone))
        .route("/v2.1/os-fixed-ips/{id}/action", axum::routing::post(gone))
        .route("/v2.1/servers/{id}/os-virtual-interfaces", get(gone))
        .route("/v2.1/os-fping", get(gone))
        .route("/v2.1/os-fping/{id}", get(gone))
        .route("/v2.1/os-cells", get(gone).post(gone))
        .route(
            "/v2.1/os-cells/{*rest}",
            get(gone).post(gone).put(gone).delete(gone),
        )
        .route("/v2.1/os-certificates", axum::routing::post(gone))
        .route("/v2.1/os-certificates/{id}", get(gone))
        .route("/v2.1/os-cloudpipe", get(gone).post(gone))
        .route("/v2.1/os-cloudpipe/{id}", put(gone))
        .route("/v2.1/os-agents", get(gone).post(gone))
        .route("/v2.1/os-agents/{id}", put(gone).delete(gone))
        .route("/v2.1/os-floating-ip-dns", get(gone))
        .route(
            "/v2.1/os-floating-ip-dns/{*rest}",
            get(gone).put(gone).delete(gone),
        )
        .route("/v2.1/os-floating-ips-bulk", get(gone).post(gone))
        .route("/v2.1/os-floating-ips-bulk/{id}", get(gone).put(gone))
        .route(
            "/v2.1/os-security-group-default-rules",
            get(gone).post(gone),
        )
        .route(
            "/v2.1/os-security-group-default-rules/{id}",
            get(gone).delete(gone),
        )
}

fn service_view(s: &Service, v: ApiVersion) -> Value {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        if v.at_least(53) {
            json!(s.row.uuid)
        } else {
            json!(s.row.id)
        },
    );
    m.insert("binary".into(), json!(s.row.binary));
    m.insert("disabled_reason".into(), json!(s.row.disabled_reason));
    m.insert("host".into(), json!(s.row.host));
    m.insert("state".into(), json!(if s.up { "up" } else { "down" }));
    m.insert(
        "status".into(),
        json!(if s.row.disabled {
            "disabled"
        } else {
            "enabled"
        }),
    );
    m.insert("updated_at".into(), json!(s.row.last_seen_up));
    m.insert("zone".into(), json!(s.zone));
    if v.at_least(11) {
        m.insert("forced_down".into(), json!(s.row.forced_down));
    }
    Value::Object(m)
}

async fn services(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    let list = st
        .compute
        .service_list(
            &ctx.auth,
            params::param(&p, "host"),
            params::param(&p, "binary"),
        )
        .await?;
    Ok(Json(json!({"services": list
        .iter()
        .map(|s| service_view(s, ctx.version))
        .collect::<Vec<_>>()})))
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Result<String, Error> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(s.clone()),
        _ => Err(Error::bad_request(format!(
            "Invalid input for field/attribute {key}. '{key}' is a required property"
        ))),
    }
}

async fn service_action(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(action): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-services:update", &json!({}))?;
    let v = params::json_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    if ctx.version.at_least(53) {
        return service_update_v253(&st, &ctx, &action, obj).await;
    }
    let allowed: &[&str] = match action.as_str() {
        "enable" | "disable" => &["host", "binary"],
        "disable-log-reason" => &["host", "binary", "disabled_reason"],
        "force-down" if ctx.version.at_least(11) => &["host", "binary", "forced_down"],
        other => {
            return Err(Error::not_found(format!("Unknown action {other}")).into());
        }
    };
    params::no_extra_keys(obj, allowed)?;
    let host = str_field(obj, "host")?;
    let binary = str_field(obj, "binary")?;
    let svc = st.compute.service_find(&host, &binary).await?;
    let row = &svc.row;
    let out = match action.as_str() {
        "enable" => {
            st.compute
                .service_update(&ctx.auth, &svc, false, None, row.forced_down)
                .await?;
            json!({"host": host, "binary": binary, "status": "enabled"})
        }
        "disable" => {
            st.compute
                .service_update(
                    &ctx.auth,
                    &svc,
                    true,
                    row.disabled_reason.as_deref(),
                    row.forced_down,
                )
                .await?;
            json!({"host": host, "binary": binary, "status": "disabled"})
        }
        "disable-log-reason" => {
            let reason = str_field(obj, "disabled_reason")?;
            st.compute
                .service_update(&ctx.auth, &svc, true, Some(&reason), row.forced_down)
                .await?;
            json!({"host": host, "binary": binary, "status": "disabled", "disabled_reason": reason})
        }
        _ => {
            let forced = obj
                .get("forced_down")
                .and_then(params::body_bool)
                .ok_or_else(|| {
                    Error::bad_request(
                        "Invalid input for field/attribute forced_down. 'forced_down' is a required property",
                    )
                })?;
            st.compute
                .service_update(
                    &ctx.auth,
                    &svc,
                    row.disabled,
                    row.disabled_reason.as_deref(),
                    forced,
                )
                .await?;
            json!({"host": host, "binary": binary, "forced_down": forced})
        }
    };
    Ok(Json(json!({"service": out})))
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// 2.53: `PUT /os-services/{uuid}` with `status`, `disabled_reason`, `forced_down`.
async fn service_update_v253(
    st: &AppState,
    ctx: &Ctx,
    id: &str,
    obj: &Map<String, Value>,
) -> ApiResult<Json<Value>> {
    if !is_uuid(id) {
        return Err(Error::bad_request(format!("Invalid uuid {id}")).into());
    }
    params::no_extra_keys(obj, &["status", "disabled_reason", "forced_down"])?;
    let svc = st.compute.service_by_id(id).await?;
    if svc.row.binary != "nova-compute" {
        return Err(Error::bad_request(format!(
            "Updating a {} service is not supported. Only nova-compute services can be updated.",
            svc.row.binary
        ))
        .into());
    }
    let mut disabled = svc.row.disabled;
    let mut reason = svc.row.disabled_reason.clone();
    let mut forced = svc.row.forced_down;
    let mut changed = false;
    match obj.get("status").map(|v| v.as_str()) {
        None => {}
        Some(Some("enabled")) => {
            if obj
                .get("disabled_reason")
                .is_some_and(|r| r.as_str().is_some_and(|r| !r.is_empty()))
            {
                return Err(Error::bad_request(
                    "Specifying 'disabled_reason' with status 'enabled' is invalid.",
                )
                .into());
            }
            disabled = false;
            reason = None;
            changed = true;
        }
        Some(Some("disabled")) => {
            disabled = true;
            reason = obj
                .get("disabled_reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            changed = true;
        }
        Some(_) => {
            return Err(Error::bad_request(
                "Invalid input for field/attribute status. Value must be 'enabled' or 'disabled'",
            )
            .into())
        }
    }
    if let Some(f) = obj.get("forced_down") {
        forced = params::body_bool(f)
            .ok_or_else(|| Error::bad_request("Invalid input for field/attribute forced_down."))?;
        changed = true;
    }
    if !changed {
        return Err(Error::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        )
        .into());
    }
    let svc = st
        .compute
        .service_update(&ctx.auth, &svc, disabled, reason.as_deref(), forced)
        .await?;
    Ok(Json(json!({"service": service_view(&svc, ctx.version)})))
}

async fn service_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if ctx.version.at_least(53) && !is_uuid(&id) {
        st.compute
            .authorize(&ctx.auth, "os_compute_api:os-services:delete", &json!({}))?;
        return Err(Error::bad_request(format!("Invalid uuid {id}")).into());
    }
    st.compute.service_delete(&ctx.auth, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn hv_id(h: &Hypervisor, v: ApiVersion) -> Value {
    if v.at_least(53) {
        json!(h.node.uuid)
    } else {
        json!(h.node.id)
    }
}

fn hv_brief(h: &Hypervisor, v: ApiVersion) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), hv_id(h, v));
    m.insert(
        "hypervisor_hostname".into(),
        json!(h.node.hypervisor_hostname),
    );
    let up = h.service.as_ref().is_some_and(|s| s.up);
    let disabled = h.service.as_ref().is_none_or(|s| s.row.disabled);
    m.insert("state".into(), json!(if up { "up" } else { "down" }));
    m.insert(
        "status".into(),
        json!(if disabled { "disabled" } else { "enabled" }),
    );
    m
}

fn hv_full(h: &Hypervisor, v: ApiVersion) -> Value {
    let n = &h.node;
    let mut m = hv_brief(h, v);
    m.insert("hypervisor_type".into(), json!(n.hypervisor_type));
    m.insert("hypervisor_version".into(), json!(n.hypervisor_version));
    m.insert("host_ip".into(), json!(n.host_ip));
    let cpu_info: Value = if v.at_least(28) {
        serde_json::from_str(&n.cpu_info).unwrap_or_else(|_| json!({}))
    } else {
        json!(n.cpu_info)
    };
    m.insert("cpu_info".into(), cpu_info);
    m.insert(
        "service".into(),
        match &h.service {
            Some(s) => json!({
                "host": s.row.host,
                "id": if v.at_least(53) { json!(s.row.uuid) } else { json!(s.row.id) },
                "disabled_reason": s.row.disabled_reason,
            }),
            None => json!({"host": n.host, "id": n.service_id, "disabled_reason": null}),
        },
    );
    if !v.at_least(88) {
        m.insert("vcpus".into(), json!(n.vcpus));
        m.insert("memory_mb".into(), json!(n.memory_mb));
        m.insert("local_gb".into(), json!(n.local_gb));
        m.insert("vcpus_used".into(), json!(n.vcpus_used));
        m.insert("memory_mb_used".into(), json!(n.memory_mb_used));
        m.insert("local_gb_used".into(), json!(n.local_gb_used));
        m.insert("free_ram_mb".into(), json!(n.memory_mb - n.memory_mb_used));
        m.insert("free_disk_gb".into(), json!(n.local_gb - n.local_gb_used));
        m.insert("current_workload".into(), json!(0));
        m.insert("running_vms".into(), json!(n.running_vms));
        m.insert(
            "disk_available_least".into(),
            json!(n.local_gb - n.local_gb_used),
        );
    }
    Value::Object(m)
}

/// 2.33 paging: (page, `hypervisors_links` when the page is full).
fn hv_page(
    hs: Vec<Hypervisor>,
    p: &Params,
    v: ApiVersion,
    base: &str,
    path: &str,
) -> Result<(Vec<Hypervisor>, Option<Value>), Error> {
    if !v.at_least(33) {
        return Ok((hs, None));
    }
    let (limit, marker) = params::limit_and_marker(p)?;
    let mut hs = hs;
    if let Some(m) = &marker {
        let pos = hs
            .iter()
            .position(|h| h.node.id.to_string() == *m || h.node.uuid == *m)
            .ok_or_else(|| Error::bad_request(format!("marker [{m}] not found")))?;
        hs.drain(..=pos);
    }
    hs.truncate(limit);
    let links = (params::param(p, "limit").is_some() && limit > 0 && hs.len() == limit)
        .then(|| {
            hs.last().map(|h| {
                if v.at_least(53) {
                    h.node.uuid.clone()
                } else {
                    h.node.id.to_string()
                }
            })
        })
        .flatten()
        .map(|last| {
            json!([{"rel": "next", "href": format!("{base}/v2.1/{path}?limit={limit}&marker={last}")}])
        });
    Ok((hs, links))
}

/// 2.53 list filters: `hypervisor_hostname_pattern` (404 when nothing matches).
fn hv_filter(hs: Vec<Hypervisor>, p: &Params, v: ApiVersion) -> Result<Vec<Hypervisor>, Error> {
    match params::param(p, "hypervisor_hostname_pattern").filter(|_| v.at_least(53)) {
        None => Ok(hs),
        Some(pat) => {
            let hs: Vec<Hypervisor> = hs
                .into_iter()
                .filter(|h| h.node.hypervisor_hostname.contains(pat))
                .collect();
            if hs.is_empty() {
                return Err(Error::not_found(format!(
                    "No hypervisor matching '{pat}' could be found."
                )));
            }
            Ok(hs)
        }
    }
}

/// 2.53 `with_servers=true`.
fn with_servers(p: &Params, v: ApiVersion) -> bool {
    v.at_least(53)
        && params::param(p, "with_servers")
            .and_then(params::strict_bool)
            .unwrap_or(false)
}

async fn add_servers(st: &AppState, h: &Hypervisor, m: &mut Value, v: ApiVersion) -> ApiResult<()> {
    let servers = st.compute.host_servers(&h.node.host).await?;
    // An empty `servers` list is shown from 2.75 only (before: no key).
    if servers.is_empty() && !v.at_least(75) {
        return Ok(());
    }
    m["servers"] = json!(servers
        .iter()
        .map(|(uuid, name)| json!({"uuid": uuid, "name": name}))
        .collect::<Vec<_>>());
    Ok(())
}

async fn hv_list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    let hs = st
        .compute
        .hypervisor_list(&ctx.auth, "os_compute_api:os-hypervisors:list")
        .await?;
    let hs = hv_filter(hs, &p, ctx.version)?;
    let (hs, links) = hv_page(hs, &p, ctx.version, &base_url(&headers), "os-hypervisors")?;
    let mut items = Vec::with_capacity(hs.len());
    for h in &hs {
        let mut m = Value::Object(hv_brief(h, ctx.version));
        if with_servers(&p, ctx.version) {
            add_servers(&st, h, &mut m, ctx.version).await?;
        }
        items.push(m);
    }
    let mut body = json!({ "hypervisors": items });
    if let Some(l) = links {
        body["hypervisors_links"] = l;
    }
    Ok(Json(body))
}

async fn hv_detail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    let hs = st
        .compute
        .hypervisor_list(&ctx.auth, "os_compute_api:os-hypervisors:list-detail")
        .await?;
    let hs = hv_filter(hs, &p, ctx.version)?;
    let (hs, links) = hv_page(
        hs,
        &p,
        ctx.version,
        &base_url(&headers),
        "os-hypervisors/detail",
    )?;
    let mut items = Vec::with_capacity(hs.len());
    for h in &hs {
        let mut m = hv_full(h, ctx.version);
        if with_servers(&p, ctx.version) {
            add_servers(&st, h, &mut m, ctx.version).await?;
        }
        items.push(m);
    }
    let mut body = json!({ "hypervisors": items });
    if let Some(l) = links {
        body["hypervisors_links"] = l;
    }
    Ok(Json(body))
}

/// APIs nova removed with nova-network, cells v1 and friends: 410 as nova answers.
async fn gone() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        StatusCode::GONE,
        Json(json!({"computeFault": {"code": 410,
            "message": "This resource is no longer available.  No forwarding address is given."}})),
    )
        .into_response()
}

async fn find_hv(st: &AppState, ctx: &Ctx, rule: &str, id: &str) -> ApiResult<Hypervisor> {
    let hs = st.compute.hypervisor_list(&ctx.auth, rule).await?;
    if ctx.version.at_least(53) && !is_uuid(id) {
        return Err(Error::bad_request(format!("Invalid uuid {id}")).into());
    }
    hs.into_iter()
        .find(|h| h.node.uuid == id || h.node.id.to_string() == id)
        .ok_or_else(|| {
            Error::not_found(format!("Hypervisor with ID {id} could not be found.")).into()
        })
}

async fn hv_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    let h = find_hv(&st, &ctx, "os_compute_api:os-hypervisors:show", &id).await?;
    let mut m = hv_full(&h, ctx.version);
    if with_servers(&p, ctx.version) {
        add_servers(&st, &h, &mut m, ctx.version).await?;
    }
    Ok(Json(json!({ "hypervisor": m })))
}

/// `uptime`-style text from /proc/uptime and /proc/loadavg.
fn uptime_text() -> String {
    let up = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|x| x.parse::<f64>().ok())
        })
        .unwrap_or(0.0) as u64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let l: Vec<&str> = load.split_whitespace().take(3).collect();
    let now = chrono::Utc::now().format("%H:%M:%S");
    format!(
        " {now} up {} days, {:2}:{:02},  1 user,  load average: {}",
        up / 86400,
        (up % 86400) / 3600,
        (up % 3600) / 60,
        l.join(", ")
    )
}

async fn hv_uptime(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(88) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let h = find_hv(&st, &ctx, "os_compute_api:os-hypervisors:uptime", &id).await?;
    let mut m = hv_brief(&h, ctx.version);
    m.insert("uptime".into(), json!(uptime_text()));
    Ok(Json(json!({"hypervisor": m})))
}

async fn hv_stats(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    if ctx.version.at_least(88) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let hs = st
        .compute
        .hypervisor_list(&ctx.auth, "os_compute_api:os-hypervisors:statistics")
        .await?;
    let sum = |f: &dyn Fn(&Hypervisor) -> i64| hs.iter().map(f).sum::<i64>();
    Ok(Json(json!({"hypervisor_statistics": {
        "count": hs.len(),
        "vcpus": sum(&|h| h.node.vcpus),
        "memory_mb": sum(&|h| h.node.memory_mb),
        "local_gb": sum(&|h| h.node.local_gb),
        "vcpus_used": sum(&|h| h.node.vcpus_used),
        "memory_mb_used": sum(&|h| h.node.memory_mb_used),
        "local_gb_used": sum(&|h| h.node.local_gb_used),
        "free_ram_mb": sum(&|h| h.node.memory_mb - h.node.memory_mb_used),
        "free_disk_gb": sum(&|h| h.node.local_gb - h.node.local_gb_used),
        "current_workload": 0,
        "running_vms": sum(&|h| h.node.running_vms),
        "disk_available_least": sum(&|h| h.node.local_gb - h.node.local_gb_used),
    }})))
}

async fn matching(
    st: &AppState,
    ctx: &Ctx,
    rule: &str,
    pattern: &str,
) -> ApiResult<Vec<Hypervisor>> {
    if ctx.version.at_least(53) {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    let hs: Vec<Hypervisor> = st
        .compute
        .hypervisor_list(&ctx.auth, rule)
        .await?
        .into_iter()
        .filter(|h| h.node.hypervisor_hostname.contains(pattern))
        .collect();
    if hs.is_empty() {
        return Err(Error::not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        ))
        .into());
    }
    Ok(hs)
}

async fn hv_search(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(pattern): Path<String>,
) -> ApiResult<Json<Value>> {
    let hs = matching(&st, &ctx, "os_compute_api:os-hypervisors:search", &pattern).await?;
    Ok(Json(json!({"hypervisors": hs
        .iter()
        .map(|h| Value::Object(hv_brief(h, ctx.version)))
        .collect::<Vec<_>>()})))
}

async fn hv_servers(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(pattern): Path<String>,
) -> ApiResult<Json<Value>> {
    let hs = matching(&st, &ctx, "os_compute_api:os-hypervisors:servers", &pattern).await?;
    let mut out = Vec::new();
    for h in &hs {
        let mut m = hv_brief(h, ctx.version);
        let servers = st.compute.host_servers(&h.node.host).await?;
        if !servers.is_empty() {
            m.insert(
                "servers".into(),
                json!(servers
                    .iter()
                    .map(|(uuid, name)| json!({"uuid": uuid, "name": name}))
                    .collect::<Vec<_>>()),
            );
        }
        out.push(Value::Object(m));
    }
    Ok(Json(json!({"hypervisors": out})))
}

async fn az_list(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let zones = st.compute.availability_zones(&ctx.auth, false).await?;
    Ok(Json(json!({"availabilityZoneInfo": zones
        .iter()
        .map(|(z, avail, _)| json!({"zoneName": z, "zoneState": {"available": avail}, "hosts": null}))
        .collect::<Vec<_>>()})))
}

async fn az_detail(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    let zones = st.compute.availability_zones(&ctx.auth, true).await?;
    let info: Vec<Value> = zones
        .iter()
        .map(|(z, avail, services)| {
            let mut hosts = Map::new();
            for s in services {
                let entry = hosts.entry(s.row.host.clone()).or_insert_with(|| json!({}));
                entry[&s.row.binary] = json!({
                    "available": s.up && !s.row.disabled,
                    "active": !s.row.disabled,
                    "updated_at": s.row.last_seen_up,
                });
            }
            json!({"zoneName": z, "zoneState": {"available": avail}, "hosts": hosts})
        })
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}
