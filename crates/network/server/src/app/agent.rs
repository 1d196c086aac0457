//! What the host network agents need from the service beyond the Neutron API, kept
//! narrow and internal:
//!
//! - a wake-up generation ([`Network::subscribe`]) bumped on every successful write to
//!   the API, so an agent in the same process reconciles right away (agents elsewhere
//!   poll);
//! - [`Network::port_status_update`] behind the admin-only
//!   `PUT /v2.0/rustack-agent/ports/status` (Neutron's agents set `status` over RPC; the
//!   public API does not let clients set it). Not listed in `/v2.0/extensions`.

use rustack_api_common::AuthContext;
use serde_json::{json, Value};

use super::{commit, dup, s, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::store::{self, Table};

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
