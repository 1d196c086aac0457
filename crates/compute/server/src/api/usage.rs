//! `/os-simple-tenant-usage` (2.1 shape): server hours, vCPU-, memory- and disk-hours per
//! project over `[start, end]` (default: now), computed from the servers' launch and
//! termination times as nova does; `detailed=1` adds `server_usages`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{base_url, AppState, Ctx};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-simple-tenant-usage", get(list))
        .route("/v2.1/os-simple-tenant-usage/{tenant}", get(show))
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// nova's `_parse_datetime`: three formats, none = now.
fn parse_time(s: Option<&str>) -> Result<DateTime<Utc>, Error> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(Utc::now());
    };
    for f in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    Err(Error::bad_request("Datetime is in invalid format"))
}

fn period(p: &Params) -> Result<(DateTime<Utc>, DateTime<Utc>, bool), Error> {
    let start = parse_time(params::param(p, "start"))?;
    let mut stop = parse_time(params::param(p, "end"))?;
    if start >= stop {
        return Err(Error::bad_request(
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    stop = stop.min(Utc::now());
    Ok((start, stop, params::param(p, "detailed") == Some("1")))
}

/// Usage summaries per project (`project` = one project only).
/// One page of instances (2.40 `limit`/`marker` by instance uuid).
#[derive(Clone, Debug, Default)]
struct Page {
    limit: Option<usize>,
    marker: Option<String>,
}

/// Usage summaries per project (`project` = one project only) and the uuid of the last
/// instance counted when the page is full (for the next link).
async fn usages(
    st: &AppState,
    project: Option<&str>,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
    detailed: bool,
    page: &Page,
) -> Result<(Vec<Value>, Option<String>), Error> {
    let mut c = st.compute.conn().await?;
    let mut instances = crate::servers::store::list_instances(&mut c, project, None, true).await?;
    drop(c);
    // Oldest first, as nova's window query pages them.
    instances.reverse();
    instances.retain(|i| {
        let launched = i
            .launched_at
            .as_deref()
            .and_then(rustack_common::time::parse_iso);
        let terminated = i
            .terminated_at
            .as_deref()
            .and_then(rustack_common::time::parse_iso);
        launched.is_some_and(|l| l < stop) && terminated.is_none_or(|t| t > start)
    });
    if let Some(m) = &page.marker {
        let pos = instances
            .iter()
            .position(|i| &i.uuid == m)
            .ok_or_else(|| Error::bad_request(format!("Marker {m} could not be found.")))?;
        instances.drain(..=pos);
    }
    let mut next = None;
    if let Some(l) = page.limit {
        instances.truncate(l);
        if l > 0 && instances.len() == l {
            next = instances.last().map(|i| i.uuid.clone());
        }
    }
    let now = Utc::now();
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for i in instances {
        let launched = i
            .launched_at
            .as_deref()
            .and_then(rustack_common::time::parse_iso);
        let terminated = i
            .terminated_at
            .as_deref()
            .and_then(rustack_common::time::parse_iso);
        let Some(launched) = launched else { continue };
        if launched >= stop || terminated.is_some_and(|t| t <= start) {
            continue;
        }
        let from = launched.max(start);
        let to = terminated.map_or(stop, |t| t.min(stop));
        let hours = ((to - from).num_milliseconds() as f64 / 3_600_000.0).max(0.0);
        let f = &i.flavor;
        let local_gb = f.root_gb + f.ephemeral_gb;
        let (state, uptime) = match terminated {
            Some(t) => ("terminated".to_owned(), (t - launched).num_seconds()),
            None => (i.vm_state.clone(), (now - launched).num_seconds()),
        };
        let s = out.entry(i.project_id.clone()).or_insert_with(|| {
            order.push(i.project_id.clone());
            let mut m = Map::new();
            m.insert("tenant_id".into(), json!(i.project_id));
            if detailed {
                m.insert("server_usages".into(), json!([]));
            }
            m.insert("total_local_gb_usage".into(), json!(0.0));
            m.insert("total_vcpus_usage".into(), json!(0.0));
            m.insert("total_memory_mb_usage".into(), json!(0.0));
            m.insert("total_hours".into(), json!(0.0));
            m.insert("start".into(), json!(fmt(start)));
            m.insert("stop".into(), json!(fmt(stop)));
            m
        });
        let add = |m: &mut Map<String, Value>, k: &str, v: f64| {
            let cur = m.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            m.insert(k.into(), json!(cur + v));
        };
        add(s, "total_local_gb_usage", local_gb as f64 * hours);
        add(s, "total_vcpus_usage", f.vcpus as f64 * hours);
        add(s, "total_memory_mb_usage", f.memory_mb as f64 * hours);
        add(s, "total_hours", hours);
        if detailed {
            if let Some(Value::Array(list)) = s.get_mut("server_usages") {
                list.push(json!({
                    "hours": hours,
                    "flavor": f.name,
                    "instance_id": i.uuid,
                    "name": i.name,
                    "tenant_id": i.project_id,
                    "memory_mb": f.memory_mb,
                    "local_gb": local_gb,
                    "vcpus": f.vcpus,
                    "started_at": fmt(launched),
                    "ended_at": terminated.map(fmt),
                    "state": state,
                    "uptime": uptime,
                }));
            }
        }
    }
    Ok((
        order
            .into_iter()
            .filter_map(|p| out.remove(&p).map(Value::Object))
            .collect(),
        next,
    ))
}

fn page(p: &Params, v: rustack_compute_api::ApiVersion) -> Result<Page, Error> {
    if !v.at_least(40) {
        return Ok(Page::default());
    }
    let (limit, marker) = params::limit_and_marker(p)?;
    Ok(Page {
        limit: Some(limit),
        marker,
    })
}

fn next_link(base: &str, path: &str, p: &Params, limit: Option<usize>, last: &str) -> Value {
    let mut q: Vec<String> = p
        .iter()
        .filter(|(k, _)| k != "marker" && k != "limit")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some(l) = limit {
        q.push(format!("limit={l}"));
    }
    q.push(format!("marker={last}"));
    json!([{"rel": "next", "href": format!("{base}/v2.1/{path}?{}", q.join("&"))}])
}

async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-simple-tenant-usage:list",
        &json!({}),
    )?;
    let (start, stop, detailed) = period(&p)?;
    let pg = page(&p, ctx.version)?;
    let (u, last) = usages(&st, None, start, stop, detailed, &pg).await?;
    let mut body = json!({ "tenant_usages": u });
    if let Some(last) = last {
        body["tenant_usages_links"] = next_link(
            &base_url(&headers),
            "os-simple-tenant-usage",
            &p,
            pg.limit,
            &last,
        );
    }
    Ok(Json(body))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-simple-tenant-usage:show",
        &json!({"project_id": tenant}),
    )?;
    let (start, stop, _) = period(&p)?;
    let pg = page(&p, ctx.version)?;
    let (u, last) = usages(&st, Some(&tenant), start, stop, true, &pg).await?;
    let mut body = json!({"tenant_usage": u.into_iter().next().unwrap_or_else(|| json!({}))});
    if let Some(last) = last {
        body["tenant_usage_links"] = next_link(
            &base_url(&headers),
            &format!("os-simple-tenant-usage/{tenant}"),
            &p,
            pg.limit,
            &last,
        );
    }
    Ok(Json(body))
}
