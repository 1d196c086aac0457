//! DHCP ports: what Neutron's DHCP agent creates for every network with a DHCP-enabled
//! subnet. A `network:dhcp` port (device id `dhcp<host id>-<network id>`, bound to the
//! agent's host) holds one address on each DHCP-enabled subnet; the host data plane
//! puts dnsmasq behind it. Kept in line with the subnets after each subnet write:
//! created with the first DHCP subnet (when `[network] dhcp_ports` is on), given or
//! relieved of addresses as subnets gain or lose DHCP, deleted with the last one (a
//! network delete removes it with the network, as Neutron does).
//!
//! Like Neutron's agent, this runs after the subnet write committed: a failure (an
//! exhausted pool) is logged and the subnet write stands.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use super::port::{allocate_ips, with_retries, IpReq, PortWrite};
use super::{commit, flag, s, touch, Network};
use crate::error::NResult;
use crate::store::{self, Table};

/// `device_owner` of DHCP ports.
pub const DHCP_OWNER: &str = "network:dhcp";

/// A stable UUID-shaped id for a host name (Neutron uses a UUID5 of the host).
fn host_uuid(host: &str) -> String {
    let fnv = |seed: u64| {
        host.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x6c62_272e_07bb_0142));
    format!(
        "{:08x}-{:04x}-5{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl Network {
    /// Whether DHCP ports are created (resolved from `[network] dhcp_ports`).
    pub fn dhcp_ports_enabled(&self) -> bool {
        self.dhcp_ports.load(Ordering::Relaxed)
    }

    /// Turns DHCP port creation on or off (the cloud resolves `dhcp_ports = "auto"`).
    pub fn set_dhcp_ports(&self, on: bool) {
        self.dhcp_ports.store(on, Ordering::Relaxed);
    }

    /// The DHCP port's `device_id` on `network_id` (`dhcp<host id>-<network id>`).
    pub fn dhcp_device_id(&self, network_id: &str) -> String {
        format!("dhcp{}-{network_id}", host_uuid(&self.host))
    }

    /// Brings the DHCP port of `network_id` in line with its subnets; failures are
    /// logged (the subnet write that triggered this stands).
    pub(crate) async fn dhcp_port_sync(&self, network_id: &str) {
        if let Err(e) = self.dhcp_port_sync_inner(network_id).await {
            tracing::warn!(network.id = %network_id, error = %e.error, "DHCP port not updated");
        }
    }

    async fn dhcp_port_sync_inner(&self, network_id: &str) -> NResult<()> {
        let mut c = self.conn().await?;
        let Some(net) = store::get(&mut c, Table::Networks, network_id).await? else {
            return Ok(());
        };
        let dhcp_subnets: BTreeSet<String> =
            store::list(&mut c, Table::Subnets, Some(("network_id", network_id)))
                .await?
                .iter()
                .filter(|sn| flag(sn, "enable_dhcp"))
                .map(|sn| s(sn, "id").to_owned())
                .collect();
        let ports: Vec<Value> = store::list(&mut c, Table::Ports, Some(("network_id", network_id)))
            .await?
            .into_iter()
            .filter(|p| s(p, "device_owner") == DHCP_OWNER)
            .collect();
        drop(c);
        if dhcp_subnets.is_empty() {
            for p in &ports {
                self.delete_port_unchecked(s(p, "id")).await?;
            }
            return Ok(());
        }
        let Some(port) = ports.first() else {
            if self.dhcp_ports_enabled() {
                self.dhcp_port_create(&net, &dhcp_subnets).await?;
            }
            return Ok(());
        };
        let port_id = s(port, "id").to_owned();
        with_retries(|| {
            let port_id = port_id.clone();
            let dhcp_subnets = dhcp_subnets.clone();
            async move {
                let mut tx = self.begin().await?;
                let Some(mut doc) = store::get(&mut tx, Table::Ports, &port_id).await? else {
                    return Ok(());
                };
                let old: Vec<Value> = doc["fixed_ips"].as_array().cloned().unwrap_or_default();
                let (keep, stale): (Vec<Value>, Vec<Value>) = old
                    .into_iter()
                    .partition(|f| dhcp_subnets.contains(s(f, "subnet_id")));
                let have: BTreeSet<&str> = keep.iter().map(|f| s(f, "subnet_id")).collect();
                let missing: Vec<IpReq> = dhcp_subnets
                    .iter()
                    .filter(|sid| !have.contains(sid.as_str()))
                    .map(|sid| IpReq {
                        subnet_id: Some(sid.clone()),
                        ip: None,
                    })
                    .collect();
                if missing.is_empty() && stale.is_empty() {
                    return Ok(());
                }
                for f in &stale {
                    store::release_ip(&mut tx, s(f, "subnet_id"), s(f, "ip_address")).await?;
                }
                let new = allocate_ips(
                    &mut tx,
                    s(&doc, "network_id"),
                    &port_id,
                    s(&doc, "mac_address"),
                    DHCP_OWNER,
                    Some(&missing),
                )
                .await?;
                let mut fixed = keep.clone();
                fixed.extend(new);
                doc["fixed_ips"] = Value::Array(fixed);
                touch(&mut doc);
                store::update(&mut tx, Table::Ports, &doc)
                    .await
                    .map_err(|e| PortWrite::Fail(super::dup(e, || super::bug("dhcp port"))))?;
                commit(tx).await?;
                Ok(())
            }
        })
        .await
    }

    async fn dhcp_port_create(&self, net: &Value, subnets: &BTreeSet<String>) -> NResult<()> {
        let net_id = s(net, "id");
        let mut body = Map::new();
        body.insert("device_owner".into(), json!(DHCP_OWNER));
        body.insert("device_id".into(), json!(self.dhcp_device_id(net_id)));
        body.insert("binding:host_id".into(), json!(self.host));
        let doc = self.port_doc(s(net, "project_id"), net, &body);
        let reqs: Vec<IpReq> = subnets
            .iter()
            .map(|sid| IpReq {
                subnet_id: Some(sid.clone()),
                ip: None,
            })
            .collect();
        let doc = with_retries(|| {
            let doc = doc.clone();
            let reqs = reqs.clone();
            async move {
                let mut tx = self.begin().await?;
                let doc = self.insert_port(&mut tx, doc, Some(&reqs), false).await?;
                commit(tx).await?;
                Ok(doc)
            }
        })
        .await?;
        tracing::info!(port.id = %s(&doc, "id"), network.id = %net_id, "DHCP port created");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::host_uuid;

    #[test]
    fn host_uuid_is_stable_and_uuid_shaped() {
        let a = host_uuid("compute-1");
        assert_eq!(a, host_uuid("compute-1"));
        assert_ne!(a, host_uuid("compute-2"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
