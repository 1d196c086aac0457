//! `GET /limits`: the project's absolute limits and usage (`rate` is always empty, as
//! nova's since Newton), with the fields each microversion shows.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{AppState, Ctx};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v2.1/limits", get(limits))
}

async fn limits(
    State(st): State<AppState>,
    ctx: Ctx,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(&p, ctx.version, &["tenant_id"])?;
    let own = ctx.auth.project_id.clone().unwrap_or_default();
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:limits",
        &json!({"project_id": own}),
    )?;
    let project = match params::param(&p, "tenant_id") {
        Some(t) => {
            st.compute.authorize(
                &ctx.auth,
                "os_compute_api:limits:other_project",
                &json!({"project_id": t}),
            )?;
            t.to_owned()
        }
        None => own,
    };
    let l = st.compute.quota_limits(&project, None).await?;
    let u = st.compute.quota_usage(&project, None).await?;
    let lim = |k: &str| json!(l.get(k).copied().unwrap_or(-1));
    let used = |k: &str| json!(u.get(k).copied().unwrap_or(0));
    let v = ctx.version;
    let mut a = Map::new();
    a.insert("maxServerMeta".into(), lim("metadata_items"));
    a.insert("maxTotalKeypairs".into(), lim("key_pairs"));
    a.insert("maxTotalCores".into(), lim("cores"));
    a.insert("maxTotalInstances".into(), lim("instances"));
    a.insert("maxTotalRAMSize".into(), lim("ram"));
    a.insert("maxServerGroups".into(), lim("server_groups"));
    a.insert("maxServerGroupMembers".into(), lim("server_group_members"));
    a.insert("totalCoresUsed".into(), used("cores"));
    a.insert("totalInstancesUsed".into(), used("instances"));
    a.insert("totalRAMUsed".into(), used("ram"));
    a.insert("totalServerGroupsUsed".into(), used("server_groups"));
    if !v.at_least(36) {
        a.insert("maxSecurityGroups".into(), lim("security_groups"));
        a.insert("maxSecurityGroupRules".into(), lim("security_group_rules"));
        a.insert("maxTotalFloatingIps".into(), lim("floating_ips"));
        a.insert("totalSecurityGroupsUsed".into(), json!(0));
        a.insert("totalFloatingIpsUsed".into(), json!(0));
    }
    if !v.at_least(39) {
        a.insert("maxImageMeta".into(), lim("metadata_items"));
    }
    if !v.at_least(57) {
        a.insert("maxPersonality".into(), lim("injected_files"));
        a.insert(
            "maxPersonalitySize".into(),
            lim("injected_file_content_bytes"),
        );
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": a}})))
}
