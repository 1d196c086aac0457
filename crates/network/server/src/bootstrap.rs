//! Opt-in start-up creation of the `public` flat external network with one subnet (what
//! devstack creates and Tempest's `public_network_id` names). Idempotent: an external
//! network with the configured name is left alone.

use rustack_api_common::AuthContext;
use rustack_network_api::PublicNetworkConfig;
use serde_json::{json, Map, Value};

use crate::app::Network;
use crate::error::NResult;

/// The admin context start-up operations run as, owning resources in `project_id`.
fn admin(project_id: &str) -> AuthContext {
    AuthContext {
        user_id: "rustack-network-bootstrap".into(),
        project_id: Some(project_id.to_owned()),
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        ..AuthContext::default()
    }
}

/// Creates the public network and subnet in `project_id` unless present; returns the
/// network's id.
pub async fn ensure_public_network(
    network: &Network,
    cfg: &PublicNetworkConfig,
    project_id: &str,
) -> NResult<String> {
    let ctx = admin(project_id);
    if let Some(existing) = network
        .network_list(&ctx)
        .await?
        .into_iter()
        .find(|n| n["name"] == json!(cfg.name) && n["router:external"] == json!(true))
    {
        return Ok(existing["id"].as_str().unwrap_or_default().to_owned());
    }
    let body: Map<String, Value> = serde_json::from_value(json!({
        "name": cfg.name,
        "router:external": true,
        "provider:network_type": "flat",
        "provider:physical_network": cfg.physical_network,
    }))
    .unwrap_or_default();
    let net = network.network_create(&ctx, &body).await?;
    let net_id = net["id"].as_str().unwrap_or_default().to_owned();
    let mut sub = json!({
        "name": format!("{}-subnet", cfg.name),
        "network_id": net_id,
        "ip_version": 4,
        "cidr": cfg.cidr,
        "enable_dhcp": false,
    });
    if let Some(g) = &cfg.gateway_ip {
        sub["gateway_ip"] = json!(g);
    }
    if let (Some(a), Some(b)) = (&cfg.pool_start, &cfg.pool_end) {
        sub["allocation_pools"] = json!([{"start": a, "end": b}]);
    }
    let sub: Map<String, Value> = serde_json::from_value(sub).unwrap_or_default();
    network.subnet_create(&ctx, &sub).await?;
    tracing::info!(network.id = %net_id, "public external network created");
    Ok(net_id)
}
