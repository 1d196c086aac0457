//! `os-instance_usage_audit_log` (admin): the instance usage audit of the last
//! completed audit period (a calendar month, Nova's default
//! `instance_usage_audit_period`), before now (`index`) or before a timestamp
//! (`show`, `%Y-%m-%d %H:%M:%S[.%f]`, 400 "Invalid timestamp for date X" otherwise).
//!
//! Nova's compute hosts write a task log per period when `instance_usage_audit` is on;
//! rustack computes the same figures from the servers table: every compute host
//! counts as audited (`DONE`) with the servers it ran during the period (launched
//! before its end, not terminated before its start).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate, NaiveDateTime};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::{AppState, Ctx};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-instance_usage_audit_log", get(index))
        .route("/v2.1/os-instance_usage_audit_log/{before}", get(show))
}

/// `(begin, end)` of the last monthly audit period completed before `now` (Nova's
/// `last_completed_audit_period(unit='month')`).
pub fn last_completed_month(now: NaiveDateTime) -> (NaiveDateTime, NaiveDateTime) {
    let first = |y: i32, m: u32| {
        NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default()
    };
    let prev = |y: i32, m: u32| if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    let mut end = first(now.year(), now.month());
    if end >= now {
        let (y, m) = prev(now.year(), now.month());
        end = first(y, m);
    }
    let (y, m) = prev(end.year(), end.month());
    (first(y, m), end)
}

/// The `before` path segment as Nova parses it.
pub fn parse_before(s: &str) -> Result<NaiveDateTime, Error> {
    let fmt = if s.contains('.') {
        "%Y-%m-%d %H:%M:%S%.f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    NaiveDateTime::parse_from_str(s, fmt)
        .map_err(|_| Error::bad_request(format!("Invalid timestamp for date {s}")))
}

fn db_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok()
}

async fn audit(st: &AppState, before: NaiveDateTime) -> Result<Value, Error> {
    let (begin, end) = last_completed_month(before);
    let hosts: Vec<String> = st
        .compute
        .services_all()
        .await?
        .into_iter()
        .filter(|s| s.row.binary == "nova-compute")
        .map(|s| s.row.host)
        .collect();
    let mut c = st.compute.conn().await?;
    let servers = crate::servers::store::list_instances(&mut c, None, None, true).await?;
    let mut log = Map::new();
    let mut total = 0usize;
    for h in &hosts {
        let n = servers
            .iter()
            .filter(|i| i.host.as_deref() == Some(h.as_str()))
            .filter(|i| {
                i.launched_at
                    .as_deref()
                    .and_then(db_time)
                    .is_some_and(|t| t < end)
            })
            .filter(|i| {
                i.terminated_at
                    .as_deref()
                    .and_then(db_time)
                    .is_none_or(|t| t >= begin)
            })
            .count();
        total += n;
        log.insert(
            h.clone(),
            json!({
                "state": "DONE",
                "instances": n,
                "errors": 0,
                "message": format!(
                    "Instance usage audit ran for host {h}, {n} instances in 0.0 seconds."
                ),
            }),
        );
    }
    let fmt = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(json!({
        "period_beginning": fmt(begin),
        "period_ending": fmt(end),
        "num_hosts": hosts.len(),
        "num_hosts_done": hosts.len(),
        "num_hosts_running": 0,
        "num_hosts_not_run": 0,
        "hosts_not_run": [],
        "total_instances": total,
        "total_errors": 0,
        "overall_status": "ALL hosts done. 0 errors.",
        "log": log,
    }))
}

async fn index(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-instance-usage-audit-log:list",
        &json!({}),
    )?;
    let body = audit(&st, chrono::Utc::now().naive_utc()).await?;
    Ok(Json(json!({ "instance_usage_audit_logs": body })))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(before): Path<String>,
) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-instance-usage-audit-log:show",
        &json!({}),
    )?;
    let before = parse_before(&before)?;
    let body = audit(&st, before).await?;
    Ok(Json(json!({ "instance_usage_audit_log": body })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        parse_before(s).unwrap()
    }

    #[test]
    fn monthly_periods() {
        assert_eq!(
            last_completed_month(t("2026-12-07 18:00:00")),
            (t("2026-11-01 00:00:00"), t("2026-12-01 00:00:00"))
        );
        // Exactly at a month boundary the month that just began is not complete.
        assert_eq!(
            last_completed_month(t("2026-12-01 00:00:00")),
            (t("2026-10-01 00:00:00"), t("2026-11-01 00:00:00"))
        );
        assert_eq!(
            last_completed_month(t("2027-01-15 10:00:00.5")),
            (t("2026-12-01 00:00:00"), t("2027-01-01 00:00:00"))
        );
        assert_eq!(
            last_completed_month(t("2027-02-01 00:00:00")),
            (t("2026-12-01 00:00:00"), t("2027-01-01 00:00:00"))
        );
    }

    #[test]
    fn timestamps_as_nova_parses_them() {
        assert!(parse_before("2012-12-12 12:00:00").is_ok());
        assert!(parse_before("2012-12-12 12:00:00.123").is_ok());
        for bad in [
            "2012-12-12",
            "2012-12-12T12:00:00",
            "junk",
            "2012-13-12 12:00:00",
        ] {
            let e = parse_before(bad).unwrap_err();
            assert_eq!(e.status_code(), 400);
            assert_eq!(
                e.external_message(),
                format!("Invalid timestamp for date {bad}")
            );
        }
    }
}
