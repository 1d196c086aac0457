//! Networks: create (with a VXLAN VNI or a flat provider segment), show, list, update,
//! delete (refused while ports other than DHCP ports remain, as Neutron does).

use std::collections::HashMap;

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};

use super::{commit, dup, flag, quota, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::store::{self, Table};

/// VXLAN encapsulation overhead subtracted from the physical MTU (IPv4 outer header).
const VXLAN_OVERHEAD: i64 = 50;

impl Network {
    fn max_mtu(&self, network_type: &str) -> i64 {
        let phys = i64::from(self.cfg.global_physnet_mtu);
        if network_type == "vxlan" {
            phys - VXLAN_OVERHEAD
        } else {
            phys
        }
    }

    /// Renders a network for `ctx` (None if not visible).
    pub(crate) fn render_network(
        &self,
        ctx: &AuthContext,
        doc: &Value,
        subnets: &HashMap<String, Vec<String>>,
    ) -> Option<Value> {
        let target = self.target("network", doc, None);
        if !self.allowed(ctx, "get_network", &target) {
            return None;
        }
        let mut out = doc.clone();
        out["subnets"] = json!(subnets.get(s(doc, "id")).cloned().unwrap_or_default());
        self.strip(ctx, "network", &mut out, &target);
        Some(out)
    }

    async fn subnet_index(&self) -> NResult<HashMap<String, Vec<String>>> {
        let mut c = self.conn().await?;
        let mut idx: HashMap<String, Vec<String>> = HashMap::new();
        for sn in store::list(&mut c, Table::Subnets, None).await? {
            idx.entry(s(&sn, "network_id").to_owned())
                .or_default()
                .push(s(&sn, "id").to_owned());
        }
        Ok(idx)
    }

    /// `POST /v2.0/networks`.
    pub async fn network_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::NETWORK, body, true)?;
        let project = self.owner(ctx, &body)?;
        let mut doc = Value::Object(standard_attrs(&project));
        let network_type = body
            .get("provider:network_type")
            .and_then(Value::as_str)
            .unwrap_or("vxlan")
            .to_owned();
        if !matches!(network_type.as_str(), "vxlan" | "flat") {
            return Err(NeutronError::invalid_input(format!(
                "network_type value '{network_type}' not supported"
            )));
        }
        let physnet = body
            .get("provider:physical_network")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if network_type == "flat" && physnet.is_none() {
            return Err(NeutronError::invalid_input(
                "physical_network required for flat provider network",
            ));
        }
        if network_type == "vxlan" && physnet.is_some() {
            return Err(NeutronError::invalid_input(
                "provider:physical_network specified for vxlan network",
            ));
        }
        let max_mtu = self.max_mtu(&network_type);
        let mtu = body.get("mtu").and_then(Value::as_i64).unwrap_or(max_mtu);
        if mtu > max_mtu {
            return Err(NeutronError::invalid_input(format!(
                "Requested MTU is too big, maximum is {max_mtu}"
            )));
        }
        if mtu < 68 {
            return Err(NeutronError::invalid_input(
                "Invalid input for mtu. Reason: '{mtu}' is too small - must be at least '68'",
            ));
        }
        for (k, v) in [
            ("name", json!("")),
            ("admin_state_up", json!(true)),
            ("shared", json!(false)),
            ("router:external", json!(false)),
            ("port_security_enabled", json!(true)),
            ("description", json!("")),
        ] {
            doc[k] = body.get(k).cloned().unwrap_or(v);
        }
        doc["mtu"] = json!(mtu);
        doc["status"] = json!("ACTIVE");
        doc["provider:network_type"] = json!(network_type);
        doc["provider:physical_network"] = json!(physnet);
        doc["provider:segmentation_id"] = Value::Null;
        let target = self.target("network", &doc, None);
        self.enforce_write(ctx, "create", "network", &body, &target)?;

        let id = s(&doc, "id").to_owned();
        let mut tx = self.begin().await?;
        quota::check(&mut tx, "network", &project, 1).await?;
        if network_type == "flat" {
            let pn = physnet.clone().unwrap_or_default();
            store::insert_segment(&mut tx, "flat", &pn, 0, &id)
                .await
                .map_err(|e| {
                    dup(e, || {
                        NeutronError::conflict(
                            "FlatNetworkInUse",
                            format!(
                                "Unable to create the flat network. Physical network {pn} is in use."
                            ),
                        )
                    })
                })?;
        } else {
            let wanted = body.get("provider:segmentation_id").and_then(Value::as_i64);
            let vni = match wanted {
                Some(v) if !(1..=16_777_215).contains(&v) => {
                    return Err(NeutronError::invalid_input(format!(
                        "provider:segmentation_id {v} out of range (1 through 16777215)"
                    )))
                }
                Some(v) => v,
                None => {
                    let used: std::collections::HashSet<i64> =
                        store::used_segments(&mut tx, "vxlan")
                            .await?
                            .into_iter()
                            .collect();
                    (i64::from(self.cfg.vni_min)..=i64::from(self.cfg.vni_max))
                        .find(|v| !used.contains(v))
                        .ok_or_else(|| {
                            NeutronError::conflict(
                                "NoNetworkAvailable",
                                "Unable to create the network. No tenant network is available for allocation.",
                            )
                        })?
                }
            };
            store::insert_segment(&mut tx, "vxlan", "", vni, &id)
                .await
                .map_err(|e| {
                    dup(e, || {
                        NeutronError::conflict(
                            "TunnelIdInUse",
                            format!("Unable to create the network. The tunnel ID {vni} is in use."),
                        )
                    })
                })?;
            doc["provider:segmentation_id"] = json!(vni);
        }
        store::insert(&mut tx, Table::Networks, &doc, &[])
            .await
            .map_err(|e| {
                dup(e, || {
                    NeutronError::conflict("Conflict", "Network already exists.")
                })
            })?;
        commit(tx).await?;
        tracing::info!(network.id = %id, project.id = %project, "network created");
        let mut out = doc.clone();
        out["subnets"] = json!([]);
        let target = self.target("network", &doc, None);
        self.strip(ctx, "network", &mut out, &target);
        Ok(out)
    }

    /// A network visible to `ctx`, unrendered.
    pub(crate) async fn visible_network(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.fetch(Table::Networks, "network", id).await?;
        if !self.allowed(ctx, "get_network", &self.target("network", &doc, None)) {
            return Err(NeutronError::resource_not_found("network", id));
        }
        Ok(doc)
    }

    /// `GET /v2.0/networks/{id}`.
    pub async fn network_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.visible_network(ctx, id).await?;
        let idx = self.subnet_index().await?;
        self.render_network(ctx, &doc, &idx)
            .ok_or_else(|| NeutronError::resource_not_found("network", id))
    }

    /// `GET /v2.0/networks`.
    pub async fn network_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let idx = self.subnet_index().await?;
        let mut c = self.conn().await?;
        let docs = store::list(&mut c, Table::Networks, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_network(ctx, d, &idx))
            .collect())
    }

    /// `PUT /v2.0/networks/{id}`.
    pub async fn network_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::NETWORK, body, false)?;
        let mut doc = self.visible_network(ctx, id).await?;
        let target = self.target("network", &doc, None);
        self.enforce_write(ctx, "update", "network", &body, &target)?;
        if let Some(mtu) = body.get("mtu").and_then(Value::as_i64) {
            let max = self.max_mtu(s(&doc, "provider:network_type"));
            if mtu > max || mtu < 68 {
                return Err(NeutronError::invalid_input(format!(
                    "Requested MTU is too big, maximum is {max}"
                )));
            }
        }
        if body.get("router:external") == Some(&json!(false)) && flag(&doc, "router:external") {
            let mut c = self.conn().await?;
            let ports = store::list(&mut c, Table::Ports, Some(("network_id", id))).await?;
            if ports.iter().any(|p| {
                matches!(
                    s(p, "device_owner"),
                    "network:router_gateway" | "network:floatingip"
                )
            }) {
                return Err(NeutronError::conflict(
                    "ExternalNetworkInUse",
                    format!("External network {id} cannot be updated to be made non-external, since it has existing gateway ports."),
                ));
            }
        }
        for (k, v) in &body {
            doc[k.as_str()] = v.clone();
        }
        touch(&mut doc);
        let mut c = self.conn().await?;
        store::update(&mut c, Table::Networks, &doc)
            .await
            .map_err(|e| dup(e, || NeutronError::conflict("Conflict", "conflict")))?;
        drop(c);
        self.network_show(ctx, id).await
    }

    /// `DELETE /v2.0/networks/{id}`.
    pub async fn network_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_network(ctx, id).await?;
        self.enforce(ctx, "delete_network", &self.target("network", &doc, None))?;
        let mut tx = self.begin().await?;
        // As Neutron's L3 plugin does first: floating IPs of this (external) network
        // that no port uses go, whoever owns them, with their `network:floatingip`
        // ports; an associated one keeps the network in use.
        let fips = store::list(
            &mut tx,
            Table::FloatingIps,
            Some(("floating_network_id", id)),
        )
        .await?;
        for fip in fips
            .iter()
            .filter(|f| f.get("port_id").is_none_or(Value::is_null))
        {
            let fip_id = s(fip, "id");
            for p in store::list(&mut tx, Table::Ports, Some(("device_id", fip_id))).await? {
                if s(&p, "device_owner") == "network:floatingip" {
                    store::release_port_ips(&mut tx, s(&p, "id")).await?;
                    store::delete(&mut tx, Table::Ports, s(&p, "id")).await?;
                }
            }
            store::delete(&mut tx, Table::FloatingIps, fip_id).await?;
            tracing::info!(floatingip.id = %fip_id, network.id = %id, "unassociated floating IP deleted with its network");
        }
        let ports = store::list(&mut tx, Table::Ports, Some(("network_id", id))).await?;
        if ports.iter().any(|p| s(p, "device_owner") != "network:dhcp") {
            return Err(NeutronError::conflict(
                "NetworkInUse",
                format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
            ));
        }
        for p in &ports {
            store::release_port_ips(&mut tx, s(p, "id")).await?;
            store::delete(&mut tx, Table::Ports, s(p, "id")).await?;
        }
        for sn in store::list(&mut tx, Table::Subnets, Some(("network_id", id))).await? {
            store::delete(&mut tx, Table::Subnets, s(&sn, "id")).await?;
        }
        store::delete_segments(&mut tx, id).await?;
        store::delete(&mut tx, Table::Networks, id).await?;
        commit(tx).await?;
        tracing::info!(network.id = %id, "network deleted");
        Ok(())
    }
}
