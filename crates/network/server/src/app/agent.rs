//! What the host network agents need from the service beyond the Neutron API, kept
//! narrow and internal:
//!
//! - a wake-up generation ([`Network::subscribe`]) bumped on every successful write to
//!   the API, so an agent in the same process reconciles right away (agents elsewhere
//!   poll);
//! - [`Network::port_status_update`] behind the admin-only
//!   `PUT /v2.0/rustack-agent/ports/status` (Neutron's agents set `status` over RPC; the
//!   public API does not let clients set it). Not listed in `/v2.0/extensions`;
//! - agent registration and heartbeat ([`Network::agent_report`], admin-only
//!   `PUT /v2.0/rustack-agent/agents/{host}`), shown by Neutron's `agent` extension
//!   (`GET /v2.0/agents`, what `openstack network agent list` reads; admin only). Agents
//!   learn the other hosts' VXLAN endpoints (`configurations.tunneling_ip`) there.

use rustack_api_common::AuthContext;
use serde_json::{json, Value};

use super::{commit, dup, s, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::store::{self, Table};
use serde_json::Map;

/// `agent_type` of rustack's network agent (it does linuxbridge's job).
pub const AGENT_TYPE: &str = "Linux bridge agent";

/// `binary` of rustack's network agent.
pub const AGENT_BINARY: &str = "rustack-network-agent";

/// Seconds without a heartbeat after which an agent is shown dead (Neutron's
/// `agent_down_time`).
pub const AGENT_DOWN_SECS: i64 = 75;

/// Neutron's agent timestamp format.
const AGENT_TIME: &str = "%Y-%m-%d %H:%M:%S";

/// Port statuses an agent may report.
const STATUSES: &[&str] = &["ACTIVE", "DOWN", "BUILD", "ERROR"];

/// One reported port status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// Port id.
    pub id: String,
    /// `ACTIVE`, `DOWN`, `BUILD` or `ERROR`.
    pub status: String,
}

impl Network {
    /// A receiver of the write generation: it changes after every successful write to
    /// networks, subnets, ports, routers, floating IPs or security groups.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Bumps the write generation (wakes in-process agents).
    pub fn notify_change(&self) {
        self.changes.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Parses the body of `PUT /v2.0/rustack-agent/ports/status`:
    /// `{"ports": [{"id": ..., "status": ...}]}`.
    pub fn parse_port_statuses(body: &Value) -> NResult<Vec<PortStatus>> {
        let bad = |m: &str| NeutronError::bad("HTTPBadRequest", m.to_string());
        let items = body
            .get("ports")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("Unable to find 'ports' in request body"))?;
        items
            .iter()
            .map(|i| {
                let id = i.get("id").and_then(Value::as_str);
                let st = i.get("status").and_then(Value::as_str);
                match (id, st) {
                    (Some(id), Some(st)) if STATUSES.contains(&st) => Ok(PortStatus {
                        id: id.to_owned(),
                        status: st.to_owned(),
                    }),
                    _ => Err(bad(
                        "each item needs an 'id' and a 'status' of ACTIVE, DOWN, BUILD or ERROR",
                    )),
                }
            })
            .collect()
    }

    /// Sets the `status` of ports (admin only); unknown ports are skipped (deleted
    /// meanwhile). Returns how many changed.
    pub async fn port_status_update(
        &self,
        ctx: &AuthContext,
        items: &[PortStatus],
    ) -> NResult<usize> {
        self.enforce(ctx, "context_is_admin", &json!({}))?;
        let mut tx = self.begin().await?;
        let mut changed = 0;
        for it in items {
            let Some(mut doc) = store::get(&mut tx, Table::Ports, &it.id).await? else {
                continue;
            };
            if s(&doc, "status") == it.status {
                continue;
            }
            doc["status"] = json!(it.status);
            touch(&mut doc);
            store::update(&mut tx, Table::Ports, &doc)
                .await
                .map_err(|e| dup(e, || super::bug("port status")))?;
            changed += 1;
        }
        commit(tx).await?;
        if changed > 0 {
            tracing::debug!(ports = changed, "port statuses updated by the agent");
        }
        Ok(changed)
    }
}

impl Network {
    /// Registers (or refreshes the heartbeat of) the network agent on `host` with its
    /// `configurations` (`tunneling_ip`, `interface_mappings`...); admin only. Returns
    /// every agent, rendered.
    pub async fn agent_report(
        &self,
        ctx: &AuthContext,
        host: &str,
        configurations: &Map<String, Value>,
    ) -> NResult<Vec<Value>> {
        self.enforce(ctx, "context_is_admin", &json!({}))?;
        if host.is_empty() || host.len() > 255 {
            return Err(NeutronError::bad("HTTPBadRequest", "invalid agent host"));
        }
        let now = chrono::Utc::now().format(AGENT_TIME).to_string();
        let mut c = self.conn().await?;
        match store::agent_by_host(&mut c, AGENT_TYPE, host).await? {
            Some(mut doc) => {
                doc["configurations"] = Value::Object(configurations.clone());
                doc["heartbeat_timestamp"] = json!(now);
                store::agent_update(&mut c, &doc).await?;
            }
            None => {
                let doc = json!({
                    "id": rustack_common::new_uuid(),
                    "agent_type": AGENT_TYPE,
                    "binary": AGENT_BINARY,
                    "host": host,
                    "topic": "N/A",
                    "admin_state_up": true,
                    "availability_zone": null,
                    "configurations": configurations,
                    "created_at": now,
                    "started_at": now,
                    "heartbeat_timestamp": now,
                    "description": null,
                    "resources_synced": null,
                });
                // A concurrent first report of the same host wins; ours is a heartbeat.
                if let Err(e) = store::agent_insert(&mut c, &doc).await {
                    if !matches!(e, store::WriteError::Duplicate) {
                        return Err(dup(e, || super::bug("agent")));
                    }
                }
                tracing::info!(agent.host = %host, "network agent registered");
            }
        }
        drop(c);
        self.agent_list(ctx).await
    }

    fn render_agent(mut doc: Value, now: chrono::NaiveDateTime) -> Value {
        let alive =
            chrono::NaiveDateTime::parse_from_str(s(&doc, "heartbeat_timestamp"), AGENT_TIME)
                .is_ok_and(|t| (now - t).num_seconds() <= AGENT_DOWN_SECS);
        doc["alive"] = json!(alive);
        doc
    }

    /// `GET /v2.0/agents` (`get_agent`, admin only): as Neutron filters collections by
    /// policy, other callers get an empty list (and 404 for one agent), not a 403.
    pub async fn agent_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        if !self.allowed(ctx, "get_agent", &json!({})) {
            return Ok(Vec::new());
        }
        let now = chrono::Utc::now().naive_utc();
        let mut c = self.conn().await?;
        Ok(store::agent_list(&mut c)
            .await?
            .into_iter()
            .map(|d| Self::render_agent(d, now))
            .collect())
    }

    fn agent_not_found(id: &str) -> NeutronError {
        NeutronError::not_found("AgentNotFound", format!("Agent {id} could not be found."))
    }

    /// `GET /v2.0/agents/{id}`.
    pub async fn agent_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        self.agent_list(ctx)
            .await?
            .into_iter()
            .find(|a| s(a, "id") == id)
            .ok_or_else(|| Self::agent_not_found(id))
    }

    /// `DELETE /v2.0/agents/{id}` (`delete_agent`): forget a host (it registers again
    /// on its next heartbeat if it still runs).
    pub async fn agent_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        self.enforce(ctx, "delete_agent", &json!({}))?;
        let mut c = self.conn().await?;
        if !store::agent_delete(&mut c, id).await? {
            return Err(Self::agent_not_found(id));
        }
        Ok(())
    }
}
