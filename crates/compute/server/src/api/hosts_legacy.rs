//! The deprecated `os-hosts` API (2.1–2.42; 404 from 2.43 as Nova).
//!
//! - `GET /os-hosts[?zone=]`: every enabled service's host with its topic and zone
//!   (Nova lists services, not hosts: one row per service).
//! - `GET /os-hosts/{host}`: the compute node's totals (`(total)`), the node's
//!   current usage (`(used_now)`), the sum of its servers' flavors (`(used_max)`) and
//!   the same per project.
//! - `PUT /os-hosts/{host}` (`status`/`maintenance_mode`: enable|disable) and
//!   `GET /os-hosts/{host}/{startup,shutdown,reboot}`: validated and looked up as Nova
//!   does, then 501 "The requested functionality is not supported." — what Nova's
//!   libvirt driver answers (it implements neither host power actions nor
//!   maintenance mode nor `set_host_enabled`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

use super::{AppState, Ctx};
use crate::error::{resource_not_found, ApiResult};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-hosts", get(index))
        .route("/v2.1/os-hosts/{host}", get(show).put(update))
        .route("/v2.1/os-hosts/{host}/{action}", get(power_action))
}

/// 404 from 2.43 (the API is gone).
fn before_243(ctx: &Ctx) -> Result<(), Error> {
    if ctx.version.at_least(43) {
        Err(resource_not_found())
    } else {
        Ok(())
    }
}

fn not_mapped(host: &str) -> Error {
    Error::not_found(format!("Host '{host}' is not mapped to any cell"))
}

async fn index(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    before_243(&ctx)?;
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-hosts:list", &json!({}))?;
    let zone = q.get("zone").filter(|z| !z.is_empty());
    let hosts: Vec<Value> = st
        .compute
        .services_all()
        .await?
        .into_iter()
        .filter(|s| !s.row.disabled)
        .filter(|s| zone.is_none_or(|z| &s.zone == z))
        .map(|s| json!({"host_name": s.row.host, "service": s.row.topic, "zone": s.zone}))
        .collect();
    Ok(Json(json!({ "hosts": hosts })))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
) -> ApiResult<Json<Value>> {
    before_243(&ctx)?;
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-hosts:show", &json!({}))?;
    let mut c = st.compute.conn().await?;
    let node = crate::store::host::nodes(&mut c)
        .await?
        .into_iter()
        .find(|n| n.host == host)
        .ok_or_else(|| not_mapped(&host))?;
    let servers = crate::servers::store::list_instances(&mut c, None, Some(&host), false).await?;
    let res = |project: &str, cpu: i64, mem: i64, disk: i64| {
        json!({"resource": {"host": host, "project": project, "cpu": cpu,
                            "memory_mb": mem, "disk_gb": disk}})
    };
    let mut out = vec![
        res("(total)", node.vcpus, node.memory_mb, node.local_gb),
        res(
            "(used_now)",
            node.vcpus_used,
            node.memory_mb_used,
            node.local_gb_used,
        ),
    ];
    let mut total = (0i64, 0i64, 0i64);
    let mut by_project: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for i in &servers {
        let f = &i.flavor;
        let disk = f.root_gb + f.ephemeral_gb;
        total = (total.0 + f.vcpus, total.1 + f.memory_mb, total.2 + disk);
        let e = by_project.entry(i.project_id.clone()).or_default();
        *e = (e.0 + f.vcpus, e.1 + f.memory_mb, e.2 + disk);
    }
    out.push(res("(used_max)", total.0, total.1, total.2));
    for (p, (cpu, mem, disk)) in by_project {
        out.push(res(&p, cpu, mem, disk));
    }
    Ok(Json(json!({ "host": out })))
}

/// Nova's `update` schema: `status` and/or `maintenance_mode`, each enable|disable
/// in three spellings, nothing else.
fn validate_update(body: &[u8]) -> Result<(), Error> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| Error::bad_request("Malformed request body"))?;
    let o = v
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    if let Some(k) = o
        .keys()
        .find(|k| !matches!(k.as_str(), "status" | "maintenance_mode"))
    {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    if o.is_empty() {
        return Err(Error::bad_request(
            "{} is not valid under any of the given schemas",
        ));
    }
    const OK: [&str; 6] = [
        "enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE",
    ];
    for (k, val) in o {
        if !val.as_str().is_some_and(|s| OK.contains(&s)) {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {val}. {val} is not one of \
                 ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']"
            )));
        }
    }
    Ok(())
}

/// The compute host `host` exists (Nova's `_assert_host_exists`).
async fn assert_compute_host(st: &AppState, host: &str) -> Result<(), Error> {
    let found = st
        .compute
        .services_all()
        .await?
        .into_iter()
        .any(|s| s.row.host == host && s.row.binary == "nova-compute");
    if found {
        Ok(())
    } else {
        Err(not_mapped(host))
    }
}

fn unsupported() -> Error {
    Error::not_implemented("The requested functionality is not supported.")
}

async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(host): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    before_243(&ctx)?;
    validate_update(&body)?;
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-hosts:update", &json!({}))?;
    assert_compute_host(&st, &host).await?;
    Err(unsupported().into())
}

async fn power_action(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((host, action)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    before_243(&ctx)?;
    let rule = match action.as_str() {
        "startup" => "os_compute_api:os-hosts:start",
        "shutdown" => "os_compute_api:os-hosts:shutdown",
        "reboot" => "os_compute_api:os-hosts:reboot",
        _ => return Err(resource_not_found().into()),
    };
    st.compute.authorize(&ctx.auth, rule, &json!({}))?;
    assert_compute_host(&st, &host).await?;
    Err(unsupported().into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn update_schema() {
        assert!(validate_update(br#"{"status": "enable"}"#).is_ok());
        assert!(validate_update(br#"{"maintenance_mode": "DISABLE", "status": "Enable"}"#).is_ok());
        for bad in [
            &br#"{}"#[..],
            br#"{"status": "on"}"#,
            br#"{"maintenance_mode": true}"#,
            br#"{"status": "enable", "x": 1}"#,
            br#"[]"#,
            br#"nope"#,
        ] {
            assert_eq!(validate_update(bad).unwrap_err().status_code(), 400);
        }
    }
}
