//! The agent's half of the metadata service: it owns the metadata proxy
//! ([`rustack_metadata::MetadataProxy`]) and, after each reconcile pass, publishes the
//! attribution table built from the port documents (network/router + fixed IP ->
//! `device_id`, `project_id`) and makes the proxy's listeners match the planner's
//! [`DesiredState::metadata_proxies`](rustack_hostops::dataplane::DesiredState) (so a
//! listener opens only once its namespace and address exist, and closes with them).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use rustack_hostops::dataplane::metadata::{MetadataListener, MetadataScope};
use rustack_metadata::{
    attribution_channel, Attribution, ListenerSpec, MetadataConfig, MetadataProxy, PortRecord,
};
use serde_json::Value;
use tokio::sync::watch;

/// The metadata proxy and the table it reads.
pub struct MetadataHook {
    proxy: MetadataProxy,
    table: watch::Sender<Arc<Attribution>>,
}

impl std::fmt::Debug for MetadataHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetadataHook")
    }
}

fn text(doc: &Value, key: &str) -> String {
    doc.get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The attribution table of a port list (API documents).
pub fn attribution(ports: &[Value]) -> Attribution {
    let records: Vec<PortRecord> = ports
        .iter()
        .map(|p| PortRecord {
            network_id: text(p, "network_id"),
            device_owner: text(p, "device_owner"),
            device_id: text(p, "device_id"),
            project_id: match text(p, "project_id") {
                id if id.is_empty() => text(p, "tenant_id"),
                id => id,
            },
            fixed_ips: p
                .get("fixed_ips")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.get("ip_address")?.as_str()?.parse::<IpAddr>().ok())
                .collect(),
        })
        .collect();
    Attribution::from_ports(&records)
}

/// The proxy listeners for the planned ones.
pub fn listener_specs(planned: &BTreeMap<String, MetadataListener>) -> Vec<ListenerSpec> {
    planned
        .iter()
        .map(|(ns, l)| {
            let mut spec = match &l.scope {
                MetadataScope::Network(n) => ListenerSpec::dhcp(ns, n, l.port),
                MetadataScope::Router(r) => ListenerSpec::router(ns, r, l.port),
            };
            spec.addr.set_ip(l.addr);
            spec
        })
        .collect()
}

impl MetadataHook {
    /// A proxy forwarding to `cfg.nova_metadata_url` with `cfg.shared_secret`.
    pub fn new(cfg: &MetadataConfig) -> Self {
        let (table, rx) = attribution_channel();
        MetadataHook {
            proxy: MetadataProxy::new(cfg, rx),
            table,
        }
    }

    /// Publishes the table for `ports` and reconciles the listeners; returns the number
    /// of listeners that could not be opened (retried next pass).
    pub async fn sync(
        &self,
        ports: &[Value],
        planned: &BTreeMap<String, MetadataListener>,
    ) -> usize {
        self.table.send_replace(Arc::new(attribution(ports)));
        self.proxy
            .reconcile(&listener_specs(planned))
            .await
            .errors
            .len()
    }

    /// Closes every listener.
    pub async fn shutdown(&self) {
        self.proxy.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rustack_metadata::Context;
    use serde_json::json;

    #[test]
    fn table_and_listeners_from_documents() {
        let ports = vec![
            json!({"network_id": "n1", "device_owner": "compute:nova", "device_id": "vm1",
                   "project_id": "p1", "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.5"}]}),
            json!({"network_id": "n1", "device_owner": "network:router_interface", "device_id": "r1",
                   "tenant_id": "p1", "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.1"}]}),
        ];
        let t = attribution(&ports);
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        let o = t.lookup(&Context::Router("r1".into()), ip).unwrap();
        assert_eq!(
            (o.instance_id.as_str(), o.project_id.as_str()),
            ("vm1", "p1")
        );
        assert!(t.lookup(&Context::Network("n1".into()), ip).is_some());

        let planned = BTreeMap::from([(
            "qrouter-r1".to_string(),
            MetadataListener {
                scope: MetadataScope::Router("r1".into()),
                addr: "0.0.0.0".parse().unwrap(),
                port: 9697,
            },
        )]);
        let specs = listener_specs(&planned);
        assert_eq!(specs, [ListenerSpec::router("qrouter-r1", "r1", 9697)]);
    }
}
