//! Subnets: CIDR, gateway, allocation pools, DNS servers, host routes, DHCP flag and
//! the IPv6 address modes, validated with Neutron's rules and messages; prefixes can be
//! allocated from a subnet pool.

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};

use super::{commit, dup, flag, quota, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam::{self, Cidr, Pool};
use crate::store::{self, Table};

const IPV6_MODES: &[&str] = &["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

/// Parsed allocation pools of a subnet document.
pub(crate) fn pools_of(doc: &Value) -> Vec<Pool> {
    doc.get("allocation_pools")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some(Pool {
                        start: ipam::parse_ip(p.get("start")?.as_str()?)?.0,
                        end: ipam::parse_ip(p.get("end")?.as_str()?)?.0,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The subnet's CIDR (stored normalised, so parsing cannot fail for stored documents).
pub(crate) fn cidr_of(doc: &Value) -> Option<Cidr> {
    Cidr::parse(s(doc, "cidr"))
}

/// True for subnets whose addresses are derived from the MAC (SLAAC, DHCPv6-stateless).
pub(crate) fn is_auto_address(doc: &Value) -> bool {
    matches!(s(doc, "ipv6_address_mode"), "slaac" | "dhcpv6-stateless")
}

fn pool_json(p: &Pool, v: u8) -> Value {
    json!({"start": ipam::u128_to_string(p.start, v), "end": ipam::u128_to_string(p.end, v)})
}

fn pool_str(p: &Pool, v: u8) -> String {
    format!(
        "{}-{}",
        ipam::u128_to_string(p.start, v),
        ipam::u128_to_string(p.end, v)
    )
}

/// Validates requested pools against `cidr`.
fn parse_pools(raw: &Value, cidr: &Cidr) -> NResult<Vec<Pool>> {
    let items = raw.as_array().cloned().unwrap_or_default();
    let mut pools = Vec::new();
    for item in &items {
        let get = |k: &str| item.get(k).and_then(Value::as_str).and_then(ipam::parse_ip);
        let (Some((start, v1)), Some((end, v2))) = (get("start"), get("end")) else {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for allocation_pools. Reason: Invalid data format for IP pool: '{item}'."),
            ));
        };
        let p = Pool { start, end };
        if v1 != cidr.version || v2 != cidr.version || start > end {
            return Err(NeutronError::bad(
                "InvalidAllocationPool",
                format!("The allocation pool {} is not valid.", pool_str(&p, v1)),
            ));
        }
        if !cidr.contains(start) || !cidr.contains(end) {
            return Err(NeutronError::bad(
                "OutOfBoundsAllocationPool",
                format!(
                    "The allocation pool {} spans beyond the subnet cidr {cidr}.",
                    pool_str(&p, v1)
                ),
            ));
        }
        pools.push(p);
    }
    for (i, a) in pools.iter().enumerate() {
        for b in &pools[i + 1..] {
            if a.start <= b.end && b.start <= a.end {
                return Err(NeutronError::bad(
                    "OverlappingAllocationPools",
                    format!(
                        "Found overlapping allocation pools: {} and {} for subnet {cidr}.",
                        pool_str(a, cidr.version),
                        pool_str(b, cidr.version)
                    ),
                ));
            }
        }
    }
    Ok(pools)
}

fn check_gateway(gw: Option<u128>, cidr: &Cidr, pools: &[Pool]) -> NResult<()> {
    let Some(g) = gw else { return Ok(()) };
    if cidr.version == 4 && cidr.prefix < 31 && (g == cidr.net || g == cidr.last()) {
        return Err(NeutronError::bad(
            "InvalidInput",
            format!(
                "Invalid input for operation: Gateway is not valid on subnet {}.",
                ipam::u128_to_string(g, 4)
            ),
        ));
    }
    for p in pools {
        if g >= p.start && g <= p.end {
            return Err(NeutronError::conflict(
                "GatewayConflictWithAllocationPools",
                format!(
                    "Gateway ip {} conflicts with allocation pool {}.",
                    ipam::u128_to_string(g, cidr.version),
                    pool_str(p, cidr.version)
                ),
            ));
        }
    }
    Ok(())
}

fn check_dns(raw: &Value, version: u8) -> NResult<Value> {
    let items = raw.as_array().cloned().unwrap_or_default();
    if items.len() > 5 {
        return Err(NeutronError::bad(
            "DNSNameServersExhausted",
            "Unable to complete operation for subnet. The number of DNS nameservers exceeds the limit 5.",
        ));
    }
    let mut seen = Vec::new();
    for i in &items {
        let ok = i
            .as_str()
            .and_then(ipam::parse_ip)
            .is_some_and(|(_, v)| v == version);
        if !ok {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!(
                    "Invalid input for dns_nameservers. Reason: '{}' is not a valid nameserver.",
                    attrs::repr(i)
                ),
            ));
        }
        if seen.contains(i) {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!(
                    "Invalid input for dns_nameservers. Reason: Duplicate nameserver '{}'.",
                    attrs::repr(i)
                ),
            ));
        }
        seen.push(i.clone());
    }
    Ok(Value::Array(items))
}

fn check_routes(raw: &Value, attr: &str) -> NResult<Value> {
    let items = raw.as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for r in &items {
        let dest = r
            .get("destination")
            .and_then(Value::as_str)
            .and_then(Cidr::parse);
        let hop = r
            .get("nexthop")
            .and_then(Value::as_str)
            .and_then(ipam::parse_ip);
        match (dest, hop, r.as_object().map(Map::len)) {
            (Some(d), Some((h, v)), Some(2)) if d.version == v => out.push(json!({
                "destination": d.to_string(),
                "nexthop": ipam::u128_to_string(h, v),
            })),
            _ => {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!(
                    "Invalid input for {attr}. Reason: Invalid data format for hostroute: '{r}'."
                ),
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

impl Network {
    /// Renders a subnet for `ctx` (None if not visible).
    pub(crate) fn render_subnet(
        &self,
        ctx: &AuthContext,
        doc: &Value,
        net: Option<&Value>,
    ) -> Option<Value> {
        let target = self.target("subnet", doc, net);
        if !self.allowed(ctx, "get_subnet", &target) {
            return None;
        }
        let mut out = doc.clone();
        out["router:external"] = json!(net.map(|n| flag(n, "router:external")).unwrap_or(false));
        self.strip(ctx, "subnet", &mut out, &target);
        Some(out)
    }

    async fn allocate_from_pool(
        &self,
        ctx: &AuthContext,
        pool_id: &str,
        prefixlen: Option<i64>,
        version: i64,
    ) -> NResult<(Cidr, String)> {
        let pool = self
            .subnetpool_show(ctx, pool_id)
            .await
            .map_err(|_| NeutronError::resource_not_found("subnetpool", pool_id))?;
        let len = prefixlen
            .or_else(|| pool.get("default_prefixlen").and_then(Value::as_i64))
            .unwrap_or(24);
        let ver = pool.get("ip_version").and_then(Value::as_i64).unwrap_or(4);
        if ver != version {
            return Err(NeutronError::invalid_input(format!(
                "Cannot allocate IPv{version} subnet from IPv{ver} subnet pool"
            )));
        }
        let min = pool
            .get("min_prefixlen")
            .and_then(Value::as_i64)
            .unwrap_or(8);
        let max = pool
            .get("max_prefixlen")
            .and_then(Value::as_i64)
            .unwrap_or(32);
        if len < min || len > max {
            return Err(NeutronError::bad(
                "IllegalSubnetPoolPrefixLength",
                format!("Illegal prefix bounds: prefixlen={len}, min_prefixlen={min}, max_prefixlen={max}."),
            ));
        }
        let mut c = self.conn().await?;
        let used: Vec<Cidr> = store::list(&mut c, Table::Subnets, None)
            .await?
            .iter()
            .filter(|sn| s(sn, "subnetpool_id") == pool_id)
            .filter_map(cidr_of)
            .collect();
        let prefixes: Vec<Cidr> = pool
            .get("prefixes")
            .and_then(Value::as_array)
            .map(|p| {
                p.iter()
                    .filter_map(|x| x.as_str().and_then(Cidr::parse))
                    .collect()
            })
            .unwrap_or_default();
        for p in prefixes {
            let width = p.width();
            let len = len as u8;
            if len < p.prefix || len > width {
                continue;
            }
            let step = 1u128 << u32::from(width - len).min(127);
            let mut net = p.net;
            for _ in 0..65536 {
                let cand = Cidr {
                    net,
                    prefix: len,
                    version: p.version,
                };
                if !p.contains(cand.last()) {
                    break;
                }
                if !used.iter().any(|u| u.overlaps(&cand)) {
                    return Ok((cand, pool_id.to_owned()));
                }
                net = match net.checked_add(step) {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        Err(NeutronError::conflict(
            "SubnetAllocationError",
            format!("Failed to allocate subnet: Insufficient prefix space to allocate subnet size /{len}."),
        ))
    }

    /// `POST /v2.0/subnets`.
    pub async fn subnet_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SUBNET, body, true)?;
        let net_id = s(&Value::Object(body.clone()), "network_id").to_owned();
        let net = self.visible_network(ctx, &net_id).await?;
        let project = self.owner(ctx, &body)?;
        let version = body.get("ip_version").and_then(Value::as_i64).unwrap_or(0);
        if version != 4 && version != 6 {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for ip_version. Reason: {version} is not in [4, 6]."),
            ));
        }
        let mut pool_id = body
            .get("subnetpool_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if pool_id.is_none()
            && body.get("cidr").is_none()
            && body.get("use_default_subnetpool") == Some(&json!(true))
        {
            // The pool marked `is_default` for this IP version, as Neutron picks it.
            let mut c = self.conn().await?;
            pool_id = store::list(&mut c, Table::SubnetPools, None)
                .await?
                .into_iter()
                .find(|p| flag(p, "is_default") && p["ip_version"] == json!(version))
                .map(|p| s(&p, "id").to_owned());
            if pool_id.is_none() {
                return Err(NeutronError::bad_request(
                    "subnet",
                    format!("No default subnetpool found for IPv{version}"),
                ));
            }
        }
        let (cidr, subnetpool_id) = match (body.get("cidr").and_then(Value::as_str), pool_id) {
            (Some(text), pool) => {
                let c = Cidr::parse(text).ok_or_else(|| {
                    NeutronError::bad(
                        "InvalidInput",
                        format!(
                            "Invalid input for cidr. Reason: '{text}' is not a valid IP subnet."
                        ),
                    )
                })?;
                if text.contains('/')
                    && c.to_string() != text
                    && ipam::parse_ip(text.split('/').next().unwrap_or("")).map(|x| x.0)
                        != Some(c.net)
                {
                    return Err(NeutronError::bad(
                        "InvalidInput",
                        format!("Invalid input for cidr. Reason: '{text}' isn't a recognized IP subnet cidr, '{c}' is recommended."),
                    ));
                }
                (c, pool)
            }
            (None, Some(pool)) => {
                let (c, p) = self
                    .allocate_from_pool(
                        ctx,
                        &pool,
                        body.get("prefixlen").and_then(Value::as_i64),
                        version,
                    )
                    .await?;
                (c, Some(p))
            }
            (None, None) => {
                return Err(NeutronError::bad(
                    "BadRequest",
                    "Bad subnet request: a subnetpool must be specified in the absence of a cidr.",
                ))
            }
        };
        if i64::from(cidr.version) != version {
            return Err(NeutronError::invalid_input(format!(
                "Cidr {cidr} is not compatible with ip_version {version}"
            )));
        }
        if cidr.prefix == 0 {
            return Err(NeutronError::invalid_input(
                "0 is not allowed as CIDR prefix length",
            ));
        }
        let v = cidr.version;
        let ra = body
            .get("ipv6_ra_mode")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let am = body
            .get("ipv6_address_mode")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for (name, m) in [("ipv6_ra_mode", &ra), ("ipv6_address_mode", &am)] {
            if let Some(m) = m {
                if v == 4 {
                    return Err(NeutronError::invalid_input(format!(
                        "{name} is not valid when ip_version is 4"
                    )));
                }
                if !IPV6_MODES.contains(&m.as_str()) {
                    return Err(NeutronError::bad(
                        "InvalidInput",
                        format!(
                            "Invalid input for {name}. Reason: '{m}' is not in {IPV6_MODES:?}."
                        ),
                    ));
                }
            }
        }
        if let (Some(r), Some(a)) = (&ra, &am) {
            if r != a {
                return Err(NeutronError::invalid_input(format!(
                    "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If both attributes are set, they must be the same value"
                )));
            }
        }
        if matches!(am.as_deref(), Some("slaac" | "dhcpv6-stateless")) && cidr.prefix != 64 {
            return Err(NeutronError::invalid_input(
                "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64",
            ));
        }
        let gateway = match body.get("gateway_ip") {
            None => Some(cidr.net + 1),
            Some(Value::Null) => None,
            Some(g) => {
                let (ip, gv) = g
                    .as_str()
                    .and_then(ipam::parse_ip)
                    .ok_or_else(|| bad_ip("gateway_ip", g))?;
                if gv != v {
                    return Err(bad_ip("gateway_ip", g));
                }
                Some(ip)
            }
        };
        let pools = match body.get("allocation_pools") {
            Some(raw) if raw.as_array().is_some_and(|a| !a.is_empty()) => parse_pools(raw, &cidr)?,
            _ => ipam::default_pools(&cidr, gateway),
        };
        check_gateway(gateway, &cidr, &pools)?;
        let dns = check_dns(body.get("dns_nameservers").unwrap_or(&json!([])), v)?;
        let routes = check_routes(body.get("host_routes").unwrap_or(&json!([])), "host_routes")?;
        if routes.as_array().map_or(0, Vec::len) > 20 {
            return Err(NeutronError::bad(
                "HostRoutesExhausted",
                "Unable to complete operation for subnet. The number of host routes exceeds the limit 20.",
            ));
        }

        let mut doc = Value::Object(standard_attrs(&project));
        doc["name"] = body.get("name").cloned().unwrap_or(json!(""));
        doc["description"] = body.get("description").cloned().unwrap_or(json!(""));
        doc["network_id"] = json!(net_id);
        doc["ip_version"] = json!(version);
        doc["cidr"] = json!(cidr.to_string());
        doc["gateway_ip"] = json!(gateway.map(|g| ipam::u128_to_string(g, v)));
        doc["allocation_pools"] = Value::Array(pools.iter().map(|p| pool_json(p, v)).collect());
        doc["dns_nameservers"] = dns;
        doc["host_routes"] = routes;
        doc["enable_dhcp"] = body.get("enable_dhcp").cloned().unwrap_or(json!(true));
        doc["ipv6_ra_mode"] = json!(ra);
        doc["ipv6_address_mode"] = json!(am);
        doc["subnetpool_id"] = json!(subnetpool_id);
        doc["service_types"] = json!([]);
        doc["segment_id"] = Value::Null;
        let target = self.target("subnet", &doc, Some(&net));
        self.enforce_write(ctx, "create", "subnet", &body, &target)?;

        let mut tx = self.begin().await?;
        quota::check(&mut tx, "subnet", &project, 1).await?;
        for other in store::list(&mut tx, Table::Subnets, Some(("network_id", &net_id))).await? {
            if cidr_of(&other).is_some_and(|o| o.overlaps(&cidr)) {
                return Err(NeutronError::invalid_input(format!(
                    "Requested subnet with cidr: {cidr} for network: {net_id} overlaps with another subnet"
                )));
            }
        }
        store::insert(&mut tx, Table::Subnets, &doc, &[])
            .await
            .map_err(|e| {
                dup(e, || {
                    NeutronError::conflict("Conflict", "Subnet already exists.")
                })
            })?;
        commit(tx).await?;
        tracing::info!(subnet.id = %s(&doc, "id"), network.id = %net_id, "subnet created");
        if flag(&doc, "enable_dhcp") {
            self.dhcp_port_sync(&net_id).await;
        }
        self.render_subnet(ctx, &doc, Some(&net))
            .ok_or_else(|| NeutronError::resource_not_found("subnet", s(&doc, "id")))
    }

    /// A subnet visible to `ctx` and its network.
    pub(crate) async fn visible_subnet(
        &self,
        ctx: &AuthContext,
        id: &str,
    ) -> NResult<(Value, Value)> {
        let doc = self.fetch(Table::Subnets, "subnet", id).await?;
        let net = self
            .fetch(Table::Networks, "network", s(&doc, "network_id"))
            .await?;
        if !self.allowed(ctx, "get_subnet", &self.target("subnet", &doc, Some(&net))) {
            return Err(NeutronError::resource_not_found("subnet", id));
        }
        Ok((doc, net))
    }

    /// `GET /v2.0/subnets/{id}`.
    pub async fn subnet_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let (doc, net) = self.visible_subnet(ctx, id).await?;
        self.render_subnet(ctx, &doc, Some(&net))
            .ok_or_else(|| NeutronError::resource_not_found("subnet", id))
    }

    /// `GET /v2.0/subnets`.
    pub async fn subnet_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let nets = self.networks_by_id(&mut c).await?;
        let docs = store::list(&mut c, Table::Subnets, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_subnet(ctx, d, nets.get(s(d, "network_id"))))
            .collect())
    }

    /// `PUT /v2.0/subnets/{id}`.
    pub async fn subnet_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SUBNET, body, false)?;
        let (mut doc, net) = self.visible_subnet(ctx, id).await?;
        let target = self.target("subnet", &doc, Some(&net));
        self.enforce_write(ctx, "update", "subnet", &body, &target)?;
        let cidr = cidr_of(&doc).ok_or_else(|| super::bug("stored subnet without cidr"))?;
        let v = cidr.version;
        let mut pools = pools_of(&doc);
        if let Some(raw) = body.get("allocation_pools") {
            pools = parse_pools(raw, &cidr)?;
            doc["allocation_pools"] = Value::Array(pools.iter().map(|p| pool_json(p, v)).collect());
        }
        if let Some(g) = body.get("gateway_ip") {
            let gw = match g {
                Value::Null => None,
                _ => {
                    let (ip, gv) = g
                        .as_str()
                        .and_then(ipam::parse_ip)
                        .ok_or_else(|| bad_ip("gateway_ip", g))?;
                    if gv != v {
                        return Err(bad_ip("gateway_ip", g));
                    }
                    Some(ip)
                }
            };
            check_gateway(gw, &cidr, &pools)?;
            doc["gateway_ip"] = json!(gw.map(|x| ipam::u128_to_string(x, v)));
        }
        if let Some(d) = body.get("dns_nameservers") {
            doc["dns_nameservers"] = check_dns(d, v)?;
        }
        if let Some(r) = body.get("host_routes") {
            doc["host_routes"] = check_routes(r, "host_routes")?;
        }
        for k in ["name", "description", "enable_dhcp"] {
            if let Some(x) = body.get(k) {
                doc[k] = x.clone();
            }
        }
        touch(&mut doc);
        let mut c = self.conn().await?;
        store::update(&mut c, Table::Subnets, &doc)
            .await
            .map_err(|e| dup(e, || NeutronError::conflict("Conflict", "conflict")))?;
        drop(c);
        if body.contains_key("enable_dhcp") {
            self.dhcp_port_sync(s(&doc, "network_id")).await;
        }
        self.render_subnet(ctx, &doc, Some(&net))
            .ok_or_else(|| NeutronError::resource_not_found("subnet", id))
    }

    /// `DELETE /v2.0/subnets/{id}`.
    pub async fn subnet_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let (doc, net) = self.visible_subnet(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_subnet",
            &self.target("subnet", &doc, Some(&net)),
        )?;
        let mut tx = self.begin().await?;
        let ports = store::list(
            &mut tx,
            Table::Ports,
            Some(("network_id", s(&doc, "network_id"))),
        )
        .await?;
        let users: Vec<&Value> = ports
            .iter()
            .filter(|p| {
                p.get("fixed_ips")
                    .and_then(Value::as_array)
                    .is_some_and(|f| f.iter().any(|ip| s(ip, "subnet_id") == id))
            })
            .collect();
        if users
            .iter()
            .any(|p| s(p, "device_owner") != "network:dhcp" && !is_auto_address(&doc))
        {
            return Err(NeutronError::conflict(
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            ));
        }
        // Auto-address (SLAAC) allocations and DHCP ports go with the subnet.
        for p in users {
            let mut p = p.clone();
            if let Some(f) = p.get_mut("fixed_ips").and_then(Value::as_array_mut) {
                f.retain(|ip| s(ip, "subnet_id") != id);
            }
            touch(&mut p);
            store::update(&mut tx, Table::Ports, &p)
                .await
                .map_err(|e| dup(e, || super::bug("port")))?;
        }
        store::release_subnet_ips(&mut tx, id).await?;
        store::delete(&mut tx, Table::Subnets, id).await?;
        commit(tx).await?;
        tracing::info!(subnet.id = %id, "subnet deleted");
        self.dhcp_port_sync(s(&doc, "network_id")).await;
        Ok(())
    }
}

fn bad_ip(attr: &str, v: &Value) -> NeutronError {
    NeutronError::bad(
        "InvalidInput",
        format!(
            "Invalid input for {attr}. Reason: '{}' is not a valid IP address.",
            attrs::repr(v)
        ),
    )
}
