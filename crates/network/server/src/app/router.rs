//! Routers: external gateway (a gateway port on an external network, SNAT flag),
//! interfaces added and removed by subnet or by port, and extra routes (`extraroute`,
//! `extraroute-atomic`). Interfaces are ports with `device_owner =
//! network:router_interface` and `device_id` = the router.

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::port::{with_retries, IpReq, PortWrite};
use super::subnet::cidr_of;
use super::{commit, dup, flag, quota, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam::{self, Cidr};
use crate::store::{self, Table};

/// Neutron's `max_routes` default.
const MAX_ROUTES: usize = 30;

const OWNER_INTERFACE: &str = "network:router_interface";
const OWNER_GATEWAY: &str = "network:router_gateway";

impl Network {
    /// A router visible to `ctx`.
    pub(crate) async fn visible_router(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.fetch(Table::Routers, "router", id).await?;
        if !self.allowed(ctx, "get_router", &self.target("router", &doc, None)) {
            return Err(NeutronError::resource_not_found("router", id));
        }
        Ok(doc)
    }

    fn render_router(&self, ctx: &AuthContext, doc: &Value) -> Option<Value> {
        let target = self.target("router", doc, None);
        if !self.allowed(ctx, "get_router", &target) {
            return None;
        }
        let mut out = doc.clone();
        // `dvr`: routers stored before the attribute existed are centralized.
        if out.get("distributed").is_none() {
            out["distributed"] = json!(false);
        }
        self.strip(ctx, "router", &mut out, &target);
        Some(out)
    }

    async fn router_ports(
        conn: &mut AnyConnection,
        router_id: &str,
        owner: &str,
    ) -> NResult<Vec<Value>> {
        Ok(
            store::list(conn, Table::Ports, Some(("device_id", router_id)))
                .await?
                .into_iter()
                .filter(|p| s(p, "device_owner") == owner)
                .collect(),
        )
    }

    /// Sets, changes or clears (`info` null) the router's gateway inside `conn`'s
    /// transaction; returns the new `external_gateway_info`.
    async fn apply_gateway(
        &self,
        ctx: &AuthContext,
        conn: &mut AnyConnection,
        router: &Value,
        info: &Value,
    ) -> Result<Value, PortWrite> {
        let rid = s(router, "id").to_owned();
        let old_ports = Self::router_ports(conn, &rid, OWNER_GATEWAY).await?;
        if info.is_null() || info.as_object().is_some_and(Map::is_empty) {
            let fips = store::list(conn, Table::FloatingIps, None).await?;
            if fips.iter().any(|f| s(f, "router_id") == rid) {
                return Err(PortWrite::Fail(NeutronError::conflict(
                    "RouterExternalGatewayInUseByFloatingIp",
                    format!("Gateway cannot be updated for router {rid}, since a gateway to external network {} is required by one or more floating IPs.", router["external_gateway_info"]["network_id"].as_str().unwrap_or("")),
                )));
            }
            for p in &old_ports {
                self.delete_port_in(conn, s(p, "id")).await?;
            }
            return Ok(Value::Null);
        }
        let obj = info.as_object().cloned().unwrap_or_default();
        if let Some(k) = obj.keys().find(|k| {
            !matches!(
                k.as_str(),
                "network_id" | "enable_snat" | "external_fixed_ips"
            )
        }) {
            return Err(PortWrite::Fail(NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for external_gateway_info. Reason: Unexpected keys supplied: {k}."),
            )));
        }
        let net_id = obj
            .get("network_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if net_id.is_empty() {
            return Err(PortWrite::Fail(NeutronError::bad(
                "InvalidInput",
                "Invalid input for external_gateway_info. Reason: network_id is required.",
            )));
        }
        let net = match store::get(conn, Table::Networks, &net_id).await? {
            Some(n) if self.allowed(ctx, "get_network", &self.target("network", &n, None)) => n,
            _ => {
                return Err(PortWrite::Fail(NeutronError::resource_not_found(
                    "network", &net_id,
                )))
            }
        };
        if !flag(&net, "router:external") {
            return Err(PortWrite::Fail(NeutronError::bad_request(
                "router",
                format!("Network {net_id} is not an external network"),
            )));
        }
        let snat = match obj.get("enable_snat") {
            None => true,
            Some(v) => attrs::to_bool(v).ok_or_else(|| {
                PortWrite::Fail(NeutronError::bad(
                    "InvalidInput",
                    "Invalid input for enable_snat.",
                ))
            })?,
        };
        let reqs = obj
            .get("external_fixed_ips")
            .map(super::port::parse_ip_reqs)
            .transpose()?;
        let same = old_ports
            .first()
            .filter(|p| s(p, "network_id") == net_id && reqs.is_none());
        let fixed = match same {
            Some(p) => p["fixed_ips"].clone(),
            None => {
                for p in &old_ports {
                    self.delete_port_in(conn, s(p, "id")).await?;
                }
                let mut pbody = Map::new();
                pbody.insert("device_owner".into(), json!(OWNER_GATEWAY));
                pbody.insert("device_id".into(), json!(rid));
                pbody.insert("port_security_enabled".into(), json!(false));
                let doc = self.port_doc("", &net, &pbody);
                let doc = self.insert_port(conn, doc, reqs.as_deref(), false).await?;
                doc["fixed_ips"].clone()
            }
        };
        Ok(json!({"network_id": net_id, "enable_snat": snat, "external_fixed_ips": fixed}))
    }

    /// `POST /v2.0/routers`.
    pub async fn router_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::ROUTER, body, true)?;
        let project = self.owner(ctx, &body)?;
        let mut doc = Value::Object(standard_attrs(&project));
        doc["name"] = body.get("name").cloned().unwrap_or(json!(""));
        doc["description"] = body.get("description").cloned().unwrap_or(json!(""));
        doc["admin_state_up"] = body.get("admin_state_up").cloned().unwrap_or(json!(true));
        doc["status"] = json!("ACTIVE");
        doc["external_gateway_info"] = Value::Null;
        doc["routes"] = json!([]);
        // `dvr`: admins may ask for a distributed router (the data plane still
        // realises it in one namespace on the network node, see docs/api-compat.md).
        let mut body = body;
        if body.get("distributed").is_some_and(Value::is_null) {
            body.remove("distributed");
        }
        doc["distributed"] = body.get("distributed").cloned().unwrap_or(json!(false));
        let target = self.target("router", &doc, None);
        self.enforce_write(ctx, "create", "router", &body, &target)?;
        let info = body
            .get("external_gateway_info")
            .cloned()
            .unwrap_or(Value::Null);
        let doc = with_retries(|| {
            let mut doc = doc.clone();
            let info = info.clone();
            let project = project.clone();
            async move {
                let mut tx = self.begin().await?;
                quota::check(&mut tx, "router", &project, 1).await?;
                store::insert(&mut tx, Table::Routers, &doc, &[])
                    .await
                    .map_err(|e| dup(e, || NeutronError::conflict("Conflict", "Router exists.")))?;
                if !info.is_null() {
                    doc["external_gateway_info"] =
                        self.apply_gateway(ctx, &mut tx, &doc, &info).await?;
                    store::update(&mut tx, Table::Routers, &doc)
                        .await
                        .map_err(|e| dup(e, || super::bug("router update")))?;
                }
                commit(tx).await?;
                Ok(doc)
            }
        })
        .await?;
        tracing::info!(router.id = %s(&doc, "id"), "router created");
        self.render_router(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("router", s(&doc, "id")))
    }

    /// `GET /v2.0/routers/{id}`.
    pub async fn router_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.visible_router(ctx, id).await?;
        self.render_router(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("router", id))
    }

    /// `GET /v2.0/routers`.
    pub async fn router_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let docs = store::list(&mut c, Table::Routers, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_router(ctx, d))
            .collect())
    }

    async fn validate_routes(
        &self,
        conn: &mut AnyConnection,
        router_id: &str,
        raw: &Value,
    ) -> NResult<Value> {
        let items = match raw {
            Value::Null => vec![],
            Value::Array(a) => a.clone(),
            other => {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!(
                        "Invalid input for routes. Reason: '{}' is not a list.",
                        attrs::repr(other)
                    ),
                ))
            }
        };
        if items.len() > MAX_ROUTES {
            return Err(NeutronError::bad(
                "RoutesExhausted",
                format!("Unable to complete operation for {router_id}. The number of routes exceeds the maximum {MAX_ROUTES}."),
            ));
        }
        let mut connected: Vec<Cidr> = Vec::new();
        let mut own_ips: Vec<String> = Vec::new();
        let mut ports = Self::router_ports(conn, router_id, OWNER_INTERFACE).await?;
        ports.extend(Self::router_ports(conn, router_id, OWNER_GATEWAY).await?);
        for p in &ports {
            for f in p["fixed_ips"].as_array().cloned().unwrap_or_default() {
                own_ips.push(s(&f, "ip_address").to_owned());
                if let Some(sn) = store::get(conn, Table::Subnets, s(&f, "subnet_id")).await? {
                    connected.extend(cidr_of(&sn));
                }
            }
        }
        let mut out: Vec<Value> = Vec::new();
        for r in &items {
            let dest = r
                .get("destination")
                .and_then(Value::as_str)
                .and_then(Cidr::parse);
            let hop = r
                .get("nexthop")
                .and_then(Value::as_str)
                .and_then(ipam::parse_ip);
            let (Some(d), Some((h, v))) = (dest, hop) else {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!("Invalid input for routes. Reason: Invalid data format for hostroute: '{r}'."),
                ));
            };
            let hop_text = ipam::u128_to_string(h, v);
            let routes_text = Value::Array(items.clone()).to_string();
            if !connected.iter().any(|c| c.version == v && c.contains(h)) {
                return Err(NeutronError::bad(
                    "InvalidRoutes",
                    format!("Invalid format for routes: {routes_text}, the nexthop is not connected with router"),
                ));
            }
            if own_ips.contains(&hop_text) {
                return Err(NeutronError::bad(
                    "InvalidRoutes",
                    format!(
                        "Invalid format for routes: {routes_text}, the nexthop is used by router"
                    ),
                ));
            }
            let route = json!({"destination": d.to_string(), "nexthop": hop_text});
            if !out.contains(&route) {
                out.push(route);
            }
        }
        Ok(Value::Array(out))
    }

    /// `PUT /v2.0/routers/{id}`.
    pub async fn router_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let mut body = attrs::validate(attrs::ROUTER, body, false)?;
        if body.get("distributed").is_some_and(Value::is_null) {
            body.remove("distributed");
        }
        let doc = self.visible_router(ctx, id).await?;
        self.enforce_write(
            ctx,
            "update",
            "router",
            &body,
            &self.target("router", &doc, None),
        )?;
        // As Neutron's DVR mixin: `distributed` changes only on a router that is
        // administratively down.
        if let Some(d) = body.get("distributed") {
            let current = doc.get("distributed").cloned().unwrap_or(json!(false));
            if *d != current && super::flag(&doc, "admin_state_up") {
                return Err(NeutronError::bad_request(
                    "router",
                    "Cannot change the 'distributed' attribute of active routers. Please set router admin_state_up to False prior to upgrade",
                ));
            }
        }
        let doc = with_retries(|| {
            let mut doc = doc.clone();
            let body = body.clone();
            async move {
                let mut tx = self.begin().await?;
                for k in ["name", "description", "admin_state_up", "distributed"] {
                    if let Some(v) = body.get(k) {
                        doc[k] = v.clone();
                    }
                }
                if let Some(info) = body.get("external_gateway_info") {
                    doc["external_gateway_info"] =
                        self.apply_gateway(ctx, &mut tx, &doc, info).await?;
                }
                if let Some(r) = body.get("routes") {
                    doc["routes"] = self.validate_routes(&mut tx, id, r).await?;
                }
                touch(&mut doc);
                store::update(&mut tx, Table::Routers, &doc)
                    .await
                    .map_err(|e| dup(e, || super::bug("router update")))?;
                commit(tx).await?;
                Ok(doc)
            }
        })
        .await?;
        self.render_router(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("router", id))
    }

    /// `PUT /v2.0/routers/{id}/add_extraroutes` and `remove_extraroutes`.
    pub async fn router_extraroutes(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
        add: bool,
    ) -> NResult<Value> {
        let doc = self.visible_router(ctx, id).await?;
        let rule = if add {
            "add_extraroutes"
        } else {
            "remove_extraroutes"
        };
        self.enforce(ctx, rule, &self.target("router", &doc, None))?;
        let given = body
            .get("routes")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| {
                NeutronError::bad(
                    "HTTPBadRequest",
                    "Failed to parse request. Required attribute 'routes' not specified",
                )
            })?;
        let mut routes = doc["routes"].as_array().cloned().unwrap_or_default();
        let mut c = self.conn().await?;
        let given = self
            .validate_routes_lenient(&mut c, id, &given, add)
            .await?;
        drop(c);
        if add {
            for r in given {
                if !routes.contains(&r) {
                    routes.push(r);
                }
            }
        } else {
            routes.retain(|r| !given.contains(r));
        }
        let mut m = Map::new();
        m.insert("routes".into(), Value::Array(routes));
        self.router_update_admin_routes(ctx, id, m).await
    }

    async fn validate_routes_lenient(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        given: &[Value],
        check: bool,
    ) -> NResult<Vec<Value>> {
        if check {
            return Ok(self
                .validate_routes(conn, id, &Value::Array(given.to_vec()))
                .await?
                .as_array()
                .cloned()
                .unwrap_or_default());
        }
        Ok(given
            .iter()
            .filter_map(|r| {
                let d = Cidr::parse(r.get("destination")?.as_str()?)?;
                let (h, v) = ipam::parse_ip(r.get("nexthop")?.as_str()?)?;
                Some(json!({"destination": d.to_string(), "nexthop": ipam::u128_to_string(h, v)}))
            })
            .collect())
    }

    async fn router_update_admin_routes(
        &self,
        ctx: &AuthContext,
        id: &str,
        m: Map<String, Value>,
    ) -> NResult<Value> {
        let mut doc = self.visible_router(ctx, id).await?;
        let mut tx = self.begin().await?;
        doc["routes"] = self.validate_routes(&mut tx, id, &m["routes"]).await?;
        touch(&mut doc);
        store::update(&mut tx, Table::Routers, &doc)
            .await
            .map_err(|e| dup(e, || super::bug("router update")))?;
        commit(tx).await?;
        self.render_router(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("router", id))
    }

    /// `DELETE /v2.0/routers/{id}`.
    pub async fn router_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_router(ctx, id).await?;
        self.enforce(ctx, "delete_router", &self.target("router", &doc, None))?;
        let mut tx = self.begin().await?;
        if !Self::router_ports(&mut tx, id, OWNER_INTERFACE)
            .await?
            .is_empty()
        {
            return Err(NeutronError::conflict(
                "RouterInUse",
                format!("Router {id} still has ports"),
            ));
        }
        for p in Self::router_ports(&mut tx, id, OWNER_GATEWAY).await? {
            self.delete_port_in(&mut tx, s(&p, "id")).await?;
        }
        store::delete(&mut tx, Table::Routers, id).await?;
        commit(tx).await?;
        tracing::info!(router.id = %id, "router deleted");
        Ok(())
    }

    async fn check_overlap(
        conn: &mut AnyConnection,
        router_id: &str,
        new: &[Value],
    ) -> NResult<()> {
        let mut existing: Vec<(String, Cidr)> = Vec::new();
        for p in Self::router_ports(conn, router_id, OWNER_INTERFACE).await? {
            for f in p["fixed_ips"].as_array().cloned().unwrap_or_default() {
                if let Some(sn) = store::get(conn, Table::Subnets, s(&f, "subnet_id")).await? {
                    if let Some(c) = cidr_of(&sn) {
                        existing.push((s(&sn, "id").to_owned(), c));
                    }
                }
            }
        }
        for sn in new {
            let Some(c) = cidr_of(sn) else { continue };
            for (id, e) in &existing {
                if id == s(sn, "id") {
                    return Err(NeutronError::bad_request(
                        "router",
                        format!("Router already has a port on subnet {id}"),
                    ));
                }
                if e.overlaps(&c) {
                    return Err(NeutronError::bad_request(
                        "router",
                        format!(
                            "Cidr {c} of subnet {} overlaps with cidr {e} of subnet {id}",
                            s(sn, "id")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn interface_info(router: &Value, port: &Value) -> Value {
        let subnet_ids: Vec<Value> = port["fixed_ips"]
            .as_array()
            .map(|f| f.iter().map(|x| x["subnet_id"].clone()).collect())
            .unwrap_or_default();
        json!({
            "id": router["id"],
            "tenant_id": router["project_id"],
            "project_id": router["project_id"],
            "port_id": port["id"],
            "network_id": port["network_id"],
            "subnet_id": subnet_ids.first().cloned().unwrap_or(Value::Null),
            "subnet_ids": subnet_ids,
        })
    }

    fn interface_ids(body: &Map<String, Value>) -> NResult<(Option<String>, Option<String>)> {
        let subnet = body
            .get("subnet_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let port = body
            .get("port_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((subnet, port))
    }

    /// `PUT /v2.0/routers/{id}/add_router_interface`.
    pub async fn router_add_interface(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let router = self.visible_router(ctx, id).await?;
        self.enforce(
            ctx,
            "add_router_interface",
            &self.target("router", &router, None),
        )?;
        match Self::interface_ids(body)? {
            (Some(_), Some(_)) => Err(NeutronError::bad_request(
                "router",
                "Cannot specify both subnet-id and port-id",
            )),
            (None, None) => Err(NeutronError::bad_request(
                "router",
                "Either subnet_id or port_id must be specified",
            )),
            (Some(subnet_id), None) => {
                let (subnet, net) = self.visible_subnet(ctx, &subnet_id).await?;
                let Some(gw) = subnet
                    .get("gateway_ip")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                else {
                    return Err(NeutronError::bad_request(
                        "router",
                        "Subnet for router interface must have a gateway IP",
                    ));
                };
                let port = with_retries(|| {
                    let subnet = subnet.clone();
                    let net = net.clone();
                    let gw = gw.clone();
                    let router = router.clone();
                    async move {
                        let mut tx = self.begin().await?;
                        Self::check_overlap(&mut tx, id, std::slice::from_ref(&subnet)).await?;
                        let mut pbody = Map::new();
                        pbody.insert("device_owner".into(), json!(OWNER_INTERFACE));
                        pbody.insert("device_id".into(), json!(id));
                        let mut doc = self.port_doc(s(&router, "project_id"), &net, &pbody);
                        doc["security_groups"] = json!([]);
                        let reqs = [IpReq {
                            subnet_id: Some(s(&subnet, "id").to_owned()),
                            ip: Some(gw),
                        }];
                        let doc = self.insert_port(&mut tx, doc, Some(&reqs), false).await?;
                        self.bump_router(&mut tx, id).await?;
                        commit(tx).await?;
                        Ok(doc)
                    }
                })
                .await?;
                tracing::info!(router.id = %id, subnet.id = %subnet_id, port.id = %s(&port, "id"), "router interface added");
                Ok(Self::interface_info(&router, &port))
            }
            (None, Some(port_id)) => {
                let (mut port, _net) = self.visible_port(ctx, &port_id).await?;
                if !s(&port, "device_id").is_empty() || !s(&port, "device_owner").is_empty() {
                    return Err(NeutronError::conflict(
                        "PortInUse",
                        format!(
                            "Unable to complete operation on port {port_id} for network {}. Port already has an attached device {}.",
                            s(&port, "network_id"),
                            s(&port, "device_id")
                        ),
                    ));
                }
                let fixed = port["fixed_ips"].as_array().cloned().unwrap_or_default();
                if fixed.is_empty() {
                    return Err(NeutronError::bad_request(
                        "router",
                        "Router port must have at least one fixed IP",
                    ));
                }
                let mut tx = self.begin().await?;
                let mut subnets = Vec::new();
                for f in &fixed {
                    if let Some(sn) = store::get(&mut tx, Table::Subnets, s(f, "subnet_id")).await?
                    {
                        subnets.push(sn);
                    }
                }
                Self::check_overlap(&mut tx, id, &subnets).await?;
                port["device_id"] = json!(id);
                port["device_owner"] = json!(OWNER_INTERFACE);
                touch(&mut port);
                store::update(&mut tx, Table::Ports, &port)
                    .await
                    .map_err(|e| dup(e, || super::bug("port update")))?;
                self.bump_router(&mut tx, id).await?;
                commit(tx).await?;
                tracing::info!(router.id = %id, port.id = %port_id, "router interface added");
                Ok(Self::interface_info(&router, &port))
            }
        }
    }

    async fn bump_router(&self, conn: &mut AnyConnection, id: &str) -> NResult<()> {
        if let Some(mut r) = store::get(conn, Table::Routers, id).await? {
            touch(&mut r);
            store::update(conn, Table::Routers, &r)
                .await
                .map_err(|e| dup(e, || super::bug("router revision")))?;
        }
        Ok(())
    }

    /// `PUT /v2.0/routers/{id}/remove_router_interface`.
    pub async fn router_remove_interface(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let router = self.visible_router(ctx, id).await?;
        self.enforce(
            ctx,
            "remove_router_interface",
            &self.target("router", &router, None),
        )?;
        let (subnet_id, port_id) = Self::interface_ids(body)?;
        let mut tx = self.begin().await?;
        let ports = Self::router_ports(&mut tx, id, OWNER_INTERFACE).await?;
        let has_subnet = |p: &Value, sid: &str| {
            p["fixed_ips"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| s(x, "subnet_id") == sid))
        };
        let port = match (&subnet_id, &port_id) {
            (_, Some(pid)) => {
                let p = ports
                    .iter()
                    .find(|p| s(p, "id") == pid)
                    .cloned()
                    .ok_or_else(|| {
                        NeutronError::not_found(
                            "RouterInterfaceNotFound",
                            format!("Router {id} does not have an interface with id {pid}"),
                        )
                    })?;
                if let Some(sid) = &subnet_id {
                    if !has_subnet(&p, sid) {
                        return Err(NeutronError::conflict(
                            "SubnetMismatchForPort",
                            format!("Subnet {sid} does not match with the port {pid}"),
                        ));
                    }
                }
                p
            }
            (Some(sid), None) => ports
                .iter()
                .find(|p| has_subnet(p, sid))
                .cloned()
                .ok_or_else(|| {
                    NeutronError::not_found(
                        "RouterInterfaceNotFoundForSubnet",
                        format!("Router {id} has no interface on subnet {sid}"),
                    )
                })?,
            (None, None) => {
                return Err(NeutronError::bad_request(
                    "router",
                    "Either subnet_id or port_id must be specified",
                ))
            }
        };
        // Routes and floating IPs that need this interface keep it in place.
        let mut cidrs = Vec::new();
        for f in port["fixed_ips"].as_array().cloned().unwrap_or_default() {
            if let Some(sn) = store::get(&mut tx, Table::Subnets, s(&f, "subnet_id")).await? {
                cidrs.extend(cidr_of(&sn).map(|c| (s(&sn, "id").to_owned(), c)));
            }
        }
        for r in router["routes"].as_array().cloned().unwrap_or_default() {
            if let Some((h, _)) = ipam::parse_ip(s(&r, "nexthop")) {
                if let Some((sid, _)) = cidrs.iter().find(|(_, c)| c.contains(h)) {
                    return Err(NeutronError::conflict(
                        "RouterInterfaceInUseByRoute",
                        format!("Router interface for subnet {sid} on router {id} cannot be deleted, as it is required by one or more routes."),
                    ));
                }
            }
        }
        for fip in store::list(&mut tx, Table::FloatingIps, None).await? {
            if s(&fip, "router_id") != id {
                continue;
            }
            if let Some((h, _)) = ipam::parse_ip(s(&fip, "fixed_ip_address")) {
                if let Some((sid, _)) = cidrs.iter().find(|(_, c)| c.contains(h)) {
                    return Err(NeutronError::conflict(
                        "RouterInterfaceInUseByFloatingIP",
                        format!("Router interface for subnet {sid} on router {id} cannot be deleted, as it is required by one or more floating IPs."),
                    ));
                }
            }
        }
        self.delete_port_in(&mut tx, s(&port, "id")).await?;
        self.bump_router(&mut tx, id).await?;
        commit(tx).await?;
        tracing::info!(router.id = %id, port.id = %s(&port, "id"), "router interface removed");
        Ok(Self::interface_info(&router, &port))
    }
}
