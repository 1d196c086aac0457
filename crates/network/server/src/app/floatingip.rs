//! Floating IPs: an address on an external network (held by a port with
//! `device_owner = network:floatingip`), associated with a fixed IP of a port that a
//! router with a gateway on that external network can reach.

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::port::{with_retries, IpReq, PortWrite};
use super::subnet::cidr_of;
use super::{commit, dup, flag, quota, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam;
use crate::store::{self, Table};

impl Network {
    fn render_fip(&self, ctx: &AuthContext, doc: &Value) -> Option<Value> {
        let target = self.target("floatingip", doc, None);
        if !self.allowed(ctx, "get_floatingip", &target) {
            return None;
        }
        let mut out = doc.clone();
        self.strip(ctx, "floatingip", &mut out, &target);
        Some(out)
    }

    async fn visible_fip(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.fetch(Table::FloatingIps, "floatingip", id).await?;
        if !self.allowed(
            ctx,
            "get_floatingip",
            &self.target("floatingip", &doc, None),
        ) {
            return Err(NeutronError::resource_not_found("floatingip", id));
        }
        Ok(doc)
    }

    /// Resolves `port_id`/`fixed_ip_address` into `(port, fixed ip, router id)`.
    async fn association(
        conn: &mut AnyConnection,
        fip: &Value,
        port: &Value,
        fixed: Option<&str>,
    ) -> NResult<(String, String)> {
        let port_id = s(port, "id");
        let v4: Vec<Value> = port["fixed_ips"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|f| ipam::parse_ip(s(f, "ip_address")).is_some_and(|(_, v)| v == 4))
            .collect();
        let chosen = match fixed {
            Some(ip) => v4
                .iter()
                .find(|f| s(f, "ip_address") == ip)
                .cloned()
                .ok_or_else(|| {
                    NeutronError::bad_request(
                        "floatingip",
                        format!("Port {port_id} does not have fixed ip {ip}"),
                    )
                })?,
            None => v4.first().cloned().ok_or_else(|| {
                NeutronError::bad_request(
                    "floatingip",
                    format!("No IPv4 addresses found on the port {port_id}"),
                )
            })?,
        };
        let ext = s(fip, "floating_network_id");
        let subnet_id = s(&chosen, "subnet_id");
        let mut router_id = None;
        for r in store::list(conn, Table::Routers, None).await? {
            if r["external_gateway_info"]["network_id"].as_str() != Some(ext) {
                continue;
            }
            let attached = store::list(conn, Table::Ports, Some(("device_id", s(&r, "id"))))
                .await?
                .iter()
                .any(|p| {
                    s(p, "device_owner") == "network:router_interface"
                        && p["fixed_ips"]
                            .as_array()
                            .is_some_and(|f| f.iter().any(|x| s(x, "subnet_id") == subnet_id))
                });
            if attached {
                router_id = Some(s(&r, "id").to_owned());
                break;
            }
        }
        let Some(router_id) = router_id else {
            return Err(NeutronError::not_found(
                "ExternalGatewayForFloatingIPNotFound",
                format!("External network {ext} is not reachable from subnet {subnet_id}. Therefore, cannot associate Port {port_id} with a Floating IP."),
            ));
        };
        let ip = s(&chosen, "ip_address").to_owned();
        for other in store::list(conn, Table::FloatingIps, Some(("port_id", port_id))).await? {
            if s(&other, "id") != s(fip, "id") && s(&other, "fixed_ip_address") == ip {
                return Err(NeutronError::conflict(
                    "FloatingIPPortAlreadyAssociated",
                    format!(
                        "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {ip}, as that fixed IP already has a floating IP on external network {ext}.",
                        s(fip, "floating_ip_address"),
                        s(fip, "id")
                    ),
                ));
            }
        }
        Ok((ip, router_id))
    }

    /// The port a request associates, checked for visibility before any transaction
    /// starts (a transaction holds SQLite's only connection).
    async fn requested_port(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Option<Value>> {
        match body.get("port_id") {
            Some(Value::String(pid)) => Ok(Some(self.visible_port(ctx, pid).await?.0)),
            _ => Ok(None),
        }
    }

    async fn apply_association(
        conn: &mut AnyConnection,
        doc: &mut Value,
        body: &Map<String, Value>,
        port: Option<&Value>,
    ) -> NResult<()> {
        match (body.get("port_id"), port) {
            (Some(Value::String(pid)), Some(port)) => {
                let fixed = body.get("fixed_ip_address").and_then(Value::as_str);
                let (ip, router) = Self::association(conn, doc, port, fixed).await?;
                doc["port_id"] = json!(pid);
                doc["fixed_ip_address"] = json!(ip);
                doc["router_id"] = json!(router);
                doc["status"] = json!("ACTIVE");
            }
            (Some(Value::Null), _) => {
                doc["port_id"] = Value::Null;
                doc["fixed_ip_address"] = Value::Null;
                doc["router_id"] = Value::Null;
                doc["status"] = json!("DOWN");
            }
            _ => {}
        }
        Ok(())
    }

    /// `POST /v2.0/floatingips`.
    pub async fn floatingip_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::FLOATINGIP, body, true)?;
        let project = self.owner(ctx, &body)?;
        let net_id = body
            .get("floating_network_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let net = self.visible_network(ctx, &net_id).await?;
        if !flag(&net, "router:external") {
            return Err(NeutronError::bad_request(
                "floatingip",
                format!("Network {net_id} is not a valid external network"),
            ));
        }
        let mut doc = Value::Object(standard_attrs(&project));
        doc["floating_network_id"] = json!(net_id);
        doc["description"] = body.get("description").cloned().unwrap_or(json!(""));
        doc["floating_ip_address"] = Value::Null;
        doc["port_id"] = Value::Null;
        doc["fixed_ip_address"] = Value::Null;
        doc["router_id"] = Value::Null;
        doc["status"] = json!("DOWN");
        self.enforce_write(
            ctx,
            "create",
            "floatingip",
            &body,
            &self.target("floatingip", &doc, None),
        )?;
        let reqs = match (
            body.get("subnet_id").and_then(Value::as_str),
            body.get("floating_ip_address").and_then(Value::as_str),
        ) {
            (None, None) => {
                // Only IPv4 subnets carry floating IPs.
                let mut c = self.conn().await?;
                let v4 = store::list(&mut c, Table::Subnets, Some(("network_id", &net_id)))
                    .await?
                    .into_iter()
                    .filter(|x| cidr_of(x).is_some_and(|c| c.version == 4))
                    .map(|x| s(&x, "id").to_owned())
                    .collect::<Vec<_>>();
                if v4.is_empty() {
                    return Err(NeutronError::bad_request(
                        "floatingip",
                        format!("Network {net_id} does not contain any IPv4 subnet"),
                    ));
                }
                None
            }
            (sid, ip) => Some(vec![IpReq {
                subnet_id: sid.map(str::to_owned),
                ip: ip.map(str::to_owned),
            }]),
        };
        let port = self.requested_port(ctx, &body).await?;
        let doc = with_retries(|| {
            let mut doc = doc.clone();
            let reqs = reqs.clone();
            let port = port.clone();
            let net = net.clone();
            let body = body.clone();
            let project = project.clone();
            async move {
                let mut tx = self.begin().await?;
                quota::check(&mut tx, "floatingip", &project, 1).await?;
                let mut pbody = Map::new();
                pbody.insert("device_owner".into(), json!("network:floatingip"));
                pbody.insert("device_id".into(), doc["id"].clone());
                pbody.insert("port_security_enabled".into(), json!(false));
                let pdoc = self.port_doc("", &net, &pbody);
                if reqs.is_none() {
                    // Pick from the IPv4 subnets only (a default allocation would also
                    // take IPv6 addresses).
                    let v4: Vec<IpReq> =
                        store::list(&mut tx, Table::Subnets, Some(("network_id", s(&net, "id"))))
                            .await?
                            .into_iter()
                            .filter(|x| cidr_of(x).is_some_and(|c| c.version == 4))
                            .map(|x| IpReq {
                                subnet_id: Some(s(&x, "id").to_owned()),
                                ip: None,
                            })
                            .collect();
                    let mut last = None;
                    for r in v4 {
                        match self
                            .insert_port(
                                &mut tx,
                                pdoc.clone(),
                                Some(std::slice::from_ref(&r)),
                                false,
                            )
                            .await
                        {
                            Ok(p) => {
                                last = Some(Ok(p));
                                break;
                            }
                            Err(PortWrite::Fail(e)) if e.kind == "IpAddressGenerationFailure" => {
                                last = Some(Err(PortWrite::Fail(e)))
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    let port =
                        last.unwrap_or_else(|| Err(PortWrite::Fail(super::bug("no subnet"))))?;
                    doc["floating_ip_address"] = port["fixed_ips"][0]["ip_address"].clone();
                } else {
                    let port = self
                        .insert_port(&mut tx, pdoc, reqs.as_deref(), false)
                        .await?;
                    doc["floating_ip_address"] = port["fixed_ips"][0]["ip_address"].clone();
                }
                Self::apply_association(&mut tx, &mut doc, &body, port.as_ref()).await?;
                store::insert(&mut tx, Table::FloatingIps, &doc, &[])
                    .await
                    .map_err(|e| {
                        dup(e, || {
                            NeutronError::conflict("Conflict", "Floating IP exists.")
                        })
                    })?;
                commit(tx).await?;
                Ok(doc)
            }
        })
        .await?;
        tracing::info!(floatingip.id = %s(&doc, "id"), "floating IP created");
        self.render_fip(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("floatingip", s(&doc, "id")))
    }

    /// `GET /v2.0/floatingips/{id}`.
    pub async fn floatingip_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.visible_fip(ctx, id).await?;
        self.render_fip(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("floatingip", id))
    }

    /// `GET /v2.0/floatingips`.
    pub async fn floatingip_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let docs = store::list(&mut c, Table::FloatingIps, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_fip(ctx, d))
            .collect())
    }

    /// `PUT /v2.0/floatingips/{id}`.
    pub async fn floatingip_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::FLOATINGIP, body, false)?;
        let mut doc = self.visible_fip(ctx, id).await?;
        self.enforce_write(
            ctx,
            "update",
            "floatingip",
            &body,
            &self.target("floatingip", &doc, None),
        )?;
        let port = self.requested_port(ctx, &body).await?;
        let mut tx = self.begin().await?;
        Self::apply_association(&mut tx, &mut doc, &body, port.as_ref()).await?;
        if let Some(d) = body.get("description") {
            doc["description"] = d.clone();
        }
        touch(&mut doc);
        store::update(&mut tx, Table::FloatingIps, &doc)
            .await
            .map_err(|e| dup(e, || super::bug("fip update")))?;
        commit(tx).await?;
        self.render_fip(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("floatingip", id))
    }

    /// `DELETE /v2.0/floatingips/{id}`.
    pub async fn floatingip_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_fip(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_floatingip",
            &self.target("floatingip", &doc, None),
        )?;
        let mut tx = self.begin().await?;
        for p in store::list(&mut tx, Table::Ports, Some(("device_id", id))).await? {
            if s(&p, "device_owner") == "network:floatingip" {
                store::release_port_ips(&mut tx, s(&p, "id")).await?;
                store::delete(&mut tx, Table::Ports, s(&p, "id")).await?;
            }
        }
        store::delete(&mut tx, Table::FloatingIps, id).await?;
        commit(tx).await?;
        tracing::info!(floatingip.id = %id, "floating IP deleted");
        Ok(())
    }
}
