//! Service providers (`service-type`): which driver serves each advanced service.

use rustack_api_common::AuthContext;
use serde_json::{json, Value};

use super::Network;

impl Network {
    /// `GET /v2.0/service-providers` (`service-type`): the drivers behind the advanced
    /// services. rustack's routers are Neutron's legacy single-node routers (no DVR, no
    /// HA), so that is the one L3 provider; callers `get_service_provider` denies see
    /// an empty list, as Neutron filters collections by policy.
    pub fn service_provider_list(&self, ctx: &AuthContext) -> Vec<Value> {
        let all = [json!({
            "service_type": "L3_ROUTER_NAT",
            "name": "single_node",
            "default": false,
        })];
        all.into_iter()
            .filter(|p| self.allowed(ctx, "get_service_provider", p))
            .collect()
    }
}
