//! Ports: fixed IPs with race-free IPAM, MAC generation, security groups, allowed
//! address pairs, port security, extra DHCP options and (admin) binding attributes.
//!
//! Race-freedom: every address is recorded in `ip_allocations` under the primary key
//! `(subnet_id, ip_address)` in the same transaction as the port. A concurrent create
//! that picked the same free address fails that insert; the whole transaction is then
//! retried with a fresh view ([`PortWrite::Retry`]). On SQLite the single pooled
//! connection already serialises the transactions; on PostgreSQL the key does the work.

use std::collections::HashSet;

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::subnet::{cidr_of, is_auto_address, pools_of};
use super::{commit, flag, quota, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam::{self, Cidr};
use crate::store::{self, Table, WriteError};

/// Attempts of a port write that lost an address or MAC race.
const RETRIES: usize = 16;

/// How many free addresses a retried create chooses among at random.
const CANDIDATES: usize = 16;

tokio::task_local! {
    /// The attempt [`with_retries`] is running: the first takes the lowest free address
    /// (predictable allocations), retries after a lost race pick at random among the
    /// first [`CANDIDATES`] free ones so concurrent creates stop colliding.
    static ATTEMPT: usize;
}

/// The outcome of one attempt to write a port.
pub(crate) enum PortWrite {
    /// A concurrent writer took an address or MAC we picked: start again.
    Retry,
    /// A real failure.
    Fail(NeutronError),
}

impl From<NeutronError> for PortWrite {
    fn from(e: NeutronError) -> Self {
        PortWrite::Fail(e)
    }
}

impl From<rustack_common::Error> for PortWrite {
    fn from(e: rustack_common::Error) -> Self {
        PortWrite::Fail(e.into())
    }
}

/// One requested fixed IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IpReq {
    pub subnet_id: Option<String>,
    pub ip: Option<String>,
}

/// Runs `attempt` until it does not ask for a retry.
pub(crate) async fn with_retries<T, F, Fut>(mut attempt: F) -> NResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PortWrite>>,
{
    for n in 0..RETRIES {
        match ATTEMPT.scope(n, attempt()).await {
            Ok(v) => return Ok(v),
            Err(PortWrite::Fail(e)) => return Err(e),
            Err(PortWrite::Retry) => tokio::task::yield_now().await,
        }
    }
    Err(NeutronError::conflict(
        "Conflict",
        "The port could not be written because of concurrent updates; try again.",
    ))
}

fn valid_mac(m: &str) -> bool {
    let parts: Vec<&str> = m.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        // Multicast and all-zero MACs are refused as Neutron does.
        && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0)
        && m != "00:00:00:00:00:00"
}

/// Parses `fixed_ips` from a request.
pub(crate) fn parse_ip_reqs(raw: &Value) -> NResult<Vec<IpReq>> {
    let items = raw.as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for i in &items {
        let obj = i.as_object().ok_or_else(|| {
            NeutronError::bad(
                "InvalidInput",
                format!(
                    "Invalid input for fixed_ips. Reason: Invalid data format for fixed IP: '{i}'."
                ),
            )
        })?;
        if let Some(k) = obj.keys().find(|k| *k != "subnet_id" && *k != "ip_address") {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for fixed_ips. Reason: Unrecognized attribute(s) '{k}'."),
            ));
        }
        let subnet_id = obj
            .get("subnet_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let ip = obj
            .get("ip_address")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(ip) = &ip {
            if ipam::parse_ip(ip).is_none() {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!(
                        "Invalid input for fixed_ips. Reason: '{ip}' is not a valid IP address."
                    ),
                ));
            }
        }
        if subnet_id.is_none() && ip.is_none() {
            return Err(NeutronError::bad(
                "InvalidInput",
                "Invalid input for fixed_ips. Reason: Exactly one of subnet_id or ip_address must be given.",
            ));
        }
        out.push(IpReq { subnet_id, ip });
    }
    if out.len() > 5 {
        return Err(NeutronError::bad(
            "InvalidInput",
            "Exceeded maximum amount of fixed ips per port.",
        ));
    }
    Ok(out)
}

fn exhausted(net_id: &str) -> PortWrite {
    PortWrite::Fail(NeutronError::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {net_id}."),
    ))
}

/// Picks and records a free address of `subnet` for `port_id`.
async fn allocate_any(
    conn: &mut AnyConnection,
    subnet: &Value,
    port_id: &str,
) -> Result<Option<String>, PortWrite> {
    let cidr = cidr_of(subnet).ok_or_else(|| PortWrite::Fail(super::bug("subnet without cidr")))?;
    let used: HashSet<u128> = store::allocated_ips(conn, s(subnet, "id"))
        .await?
        .iter()
        .filter_map(|ip| ipam::parse_ip(ip).map(|x| x.0))
        .collect();
    let gateway = ipam::parse_ip(s(subnet, "gateway_ip")).map(|x| x.0);
    // Candidates: the first few free addresses (at most |used| + CANDIDATES + 1 probes
    // find them); see ATTEMPT for which one is taken.
    let mut free: Vec<u128> = Vec::new();
    for pool in pools_of(subnet) {
        let last = pool
            .end
            .min(pool.start.saturating_add((used.len() + CANDIDATES) as u128));
        for ip in pool.start..=last {
            if free.len() >= CANDIDATES {
                break;
            }
            if !used.contains(&ip) && Some(ip) != gateway {
                free.push(ip);
            }
        }
    }
    if free.is_empty() {
        return Ok(None);
    }
    let pick = if ATTEMPT.try_with(|a| *a).unwrap_or(0) == 0 {
        free[0]
    } else {
        use rand::Rng;
        free[rand::thread_rng().gen_range(0..free.len())]
    };
    let text = ipam::u128_to_string(pick, cidr.version);
    match store::allocate_ip(
        conn,
        s(subnet, "id"),
        &text,
        s(subnet, "network_id"),
        port_id,
    )
    .await
    {
        Ok(()) => Ok(Some(text)),
        Err(WriteError::Duplicate) => Err(PortWrite::Retry),
        Err(WriteError::Other(e)) => Err(e.into()),
    }
}

async fn allocate_specific(
    conn: &mut AnyConnection,
    subnet: &Value,
    ip: &str,
    port_id: &str,
) -> Result<String, PortWrite> {
    let (value, version) = ipam::parse_ip(ip).ok_or_else(|| {
        PortWrite::Fail(NeutronError::bad(
            "InvalidInput",
            format!("'{ip}' is not a valid IP address"),
        ))
    })?;
    let text = ipam::u128_to_string(value, version);
    let taken = || {
        PortWrite::Fail(NeutronError::conflict(
            "IpAddressAlreadyAllocated",
            format!(
                "IP address {text} already allocated in subnet {}",
                s(subnet, "id")
            ),
        ))
    };
    if store::ip_owner(conn, s(subnet, "id"), &text)
        .await?
        .is_some()
    {
        return Err(taken());
    }
    match store::allocate_ip(
        conn,
        s(subnet, "id"),
        &text,
        s(subnet, "network_id"),
        port_id,
    )
    .await
    {
        Ok(()) => Ok(text.clone()),
        Err(WriteError::Duplicate) => Err(taken()),
        Err(WriteError::Other(e)) => Err(e.into()),
    }
}

/// Allocates the port's addresses: `reqs` as asked, or Neutron's default (one IPv4
/// address, one stateful IPv6 address, and an EUI-64 address on every SLAAC subnet).
pub(crate) async fn allocate_ips(
    conn: &mut AnyConnection,
    net_id: &str,
    port_id: &str,
    mac: &str,
    device_owner: &str,
    reqs: Option<&[IpReq]>,
) -> Result<Vec<Value>, PortWrite> {
    let subnets = store::list(conn, Table::Subnets, Some(("network_id", net_id))).await?;
    let mut fixed = Vec::new();
    match reqs {
        Some(reqs) => {
            for r in reqs {
                let subnet = match (&r.subnet_id, &r.ip) {
                    (Some(sid), ip) => {
                        let sn = subnets.iter().find(|x| s(x, "id") == sid).ok_or_else(|| {
                            PortWrite::Fail(NeutronError::bad(
                                "InvalidInput",
                                format!("Invalid input for operation: Failed to create port on network {net_id}, because fixed_ips included invalid subnet {sid}."),
                            ))
                        })?;
                        if let Some(ip) = ip {
                            let inside = ipam::parse_ip(ip)
                                .zip(cidr_of(sn))
                                .is_some_and(|((v, ver), c)| ver == c.version && c.contains(v));
                            if !inside {
                                return Err(PortWrite::Fail(NeutronError::bad(
                                    "InvalidIpForSubnet",
                                    format!("IP address {ip} is not a valid IP for the specified subnet."),
                                )));
                            }
                        }
                        sn
                    }
                    (None, Some(ip)) => {
                        let (v, ver) = ipam::parse_ip(ip).unwrap_or((0, 0));
                        subnets
                            .iter()
                            .find(|x| cidr_of(x).is_some_and(|c| c.version == ver && c.contains(v)))
                            .ok_or_else(|| {
                                PortWrite::Fail(NeutronError::bad(
                                    "InvalidIpForNetwork",
                                    format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                                ))
                            })?
                    }
                    (None, None) => continue,
                };
                let ip = match &r.ip {
                    Some(ip) => allocate_specific(conn, subnet, ip, port_id).await?,
                    None if is_auto_address(subnet) => eui64_of(subnet, mac)?,
                    None => allocate_any(conn, subnet, port_id)
                        .await?
                        .ok_or_else(|| exhausted(net_id))?,
                };
                fixed.push(json!({"subnet_id": s(subnet, "id"), "ip_address": ip}));
            }
        }
        None => {
            let is_router = device_owner.starts_with("network:router");
            for version in [4, 6] {
                let candidates: Vec<&Value> = subnets
                    .iter()
                    .filter(|x| x.get("ip_version").and_then(Value::as_i64) == Some(version))
                    .filter(|x| !is_auto_address(x))
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                let mut got = None;
                for sn in &candidates {
                    if let Some(ip) = allocate_any(conn, sn, port_id).await? {
                        got = Some(json!({"subnet_id": s(sn, "id"), "ip_address": ip}));
                        break;
                    }
                }
                match got {
                    Some(f) => fixed.push(f),
                    None => return Err(exhausted(net_id)),
                }
            }
            if !is_router {
                for sn in subnets.iter().filter(|x| is_auto_address(x)) {
                    let ip = eui64_of(sn, mac)?;
                    fixed.push(json!({"subnet_id": s(sn, "id"), "ip_address": ip}));
                }
            }
        }
    }
    Ok(fixed)
}

fn eui64_of(subnet: &Value, mac: &str) -> Result<String, PortWrite> {
    let c: Cidr =
        cidr_of(subnet).ok_or_else(|| PortWrite::Fail(super::bug("subnet without cidr")))?;
    ipam::eui64(&c, mac)
        .map(|a| ipam::u128_to_string(a, 6))
        .ok_or_else(|| PortWrite::Fail(super::bug("bad mac")))
}

fn random_mac(prefix: &str) -> String {
    use rand::Rng;
    let mut r = rand::thread_rng();
    format!(
        "{prefix}:{:02x}:{:02x}:{:02x}",
        r.gen::<u8>(),
        r.gen::<u8>(),
        r.gen::<u8>()
    )
}

fn parse_pairs(raw: &Value, mac: &str) -> NResult<Value> {
    let items = match raw {
        Value::Null => vec![],
        Value::Array(a) => a.clone(),
        other => {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!(
                    "Invalid input for allowed_address_pairs. Reason: '{}' is not a list.",
                    attrs::repr(other)
                ),
            ))
        }
    };
    if items.len() > 10 {
        return Err(NeutronError::bad(
            "AllowedAddressPairExhausted",
            "The number of allowed address pair exceeds the maximum 10.",
        ));
    }
    let mut out: Vec<Value> = Vec::new();
    for p in &items {
        let ip = p.get("ip_address").and_then(Value::as_str);
        let Some(ip) = ip.filter(|ip| Cidr::parse(ip).is_some()) else {
            return Err(NeutronError::bad(
                "AllowedAddressPairsMissingIP",
                "AllowedAddressPair must contain ip_address",
            ));
        };
        let pmac = p.get("mac_address").and_then(Value::as_str).unwrap_or(mac);
        if !valid_mac(pmac) {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for allowed_address_pairs. Reason: '{pmac}' is not a valid MAC address."),
            ));
        }
        let pair = json!({"ip_address": ip, "mac_address": pmac.to_ascii_lowercase()});
        if out.contains(&pair) {
            return Err(NeutronError::bad(
                "DuplicateAddressPairInRequest",
                format!(
                    "Request contains duplicate address pair: mac_address {pmac} ip_address {ip}."
                ),
            ));
        }
        out.push(pair);
    }
    Ok(Value::Array(out))
}

fn merge_dhcp_opts(existing: &Value, raw: &Value) -> NResult<Value> {
    let mut out: Vec<Value> = existing.as_array().cloned().unwrap_or_default();
    let items = match raw {
        Value::Null => vec![],
        Value::Array(a) => a.clone(),
        _ => {
            return Err(NeutronError::bad(
                "InvalidInput",
                "Invalid input for extra_dhcp_opts. Reason: not a list.",
            ))
        }
    };
    for o in items {
        let name = o.get("opt_name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(NeutronError::bad(
                "InvalidInput",
                "Invalid input for extra_dhcp_opts. Reason: opt_name is required.",
            ));
        }
        let ver = o.get("ip_version").and_then(attrs::to_int).unwrap_or(4);
        out.retain(|e| {
            !(s(e, "opt_name") == name && e.get("ip_version").and_then(Value::as_i64) == Some(ver))
        });
        match o.get("opt_value") {
            None | Some(Value::Null) => {}
            Some(v) => {
                out.push(json!({"opt_name": name, "opt_value": attrs::repr(v), "ip_version": ver}))
            }
        }
    }
    Ok(Value::Array(out))
}

impl Network {
    /// Renders a port for `ctx` (None if not visible).
    pub(crate) fn render_port(
        &self,
        ctx: &AuthContext,
        doc: &Value,
        net: Option<&Value>,
    ) -> Option<Value> {
        let target = self.target("port", doc, net);
        if !self.allowed(ctx, "get_port", &target) {
            return None;
        }
        let mut out = doc.clone();
        self.strip(ctx, "port", &mut out, &target);
        Some(out)
    }

    /// A port visible to `ctx` and its network.
    pub(crate) async fn visible_port(
        &self,
        ctx: &AuthContext,
        id: &str,
    ) -> NResult<(Value, Value)> {
        let doc = self.fetch(Table::Ports, "port", id).await?;
        let net = self
            .fetch(Table::Networks, "network", s(&doc, "network_id"))
            .await?;
        if !self.allowed(ctx, "get_port", &self.target("port", &doc, Some(&net))) {
            return Err(NeutronError::resource_not_found("port", id));
        }
        Ok((doc, net))
    }

    async fn check_security_groups(&self, ctx: &AuthContext, raw: &Value) -> NResult<Vec<String>> {
        let ids: Vec<String> = match raw {
            Value::Null => vec![],
            Value::Array(a) => a.iter().map(attrs::repr).collect(),
            other => {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!(
                        "Invalid input for security_groups. Reason: '{}' is not a list.",
                        attrs::repr(other)
                    ),
                ))
            }
        };
        let mut out = Vec::new();
        for id in ids {
            self.visible_security_group(ctx, &id).await?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Builds and stores a port document (the caller has checked policy): one attempt.
    pub(crate) async fn insert_port(
        &self,
        conn: &mut AnyConnection,
        mut doc: Value,
        reqs: Option<&[IpReq]>,
        mac_given: bool,
    ) -> Result<Value, PortWrite> {
        if !mac_given {
            doc["mac_address"] = json!(random_mac(&self.cfg.base_mac_prefix));
        }
        let id = s(&doc, "id").to_owned();
        let fixed = allocate_ips(
            conn,
            s(&doc, "network_id"),
            &id,
            s(&doc, "mac_address"),
            s(&doc, "device_owner"),
            reqs,
        )
        .await?;
        doc["fixed_ips"] = Value::Array(fixed);
        match store::insert(conn, Table::Ports, &doc, &[]).await {
            Ok(()) => Ok(doc),
            Err(WriteError::Duplicate) if mac_given => {
                Err(PortWrite::Fail(NeutronError::conflict(
                    "MacAddressInUse",
                    format!(
                    "Unable to complete operation for network {}. The mac address {} is in use.",
                    s(&doc, "network_id"),
                    s(&doc, "mac_address")
                ),
                )))
            }
            Err(WriteError::Duplicate) => Err(PortWrite::Retry),
            Err(WriteError::Other(e)) => Err(e.into()),
        }
    }

    /// A new port document with Neutron's defaults (no addresses yet).
    pub(crate) fn port_doc(&self, project: &str, net: &Value, body: &Map<String, Value>) -> Value {
        let mut doc = Value::Object(standard_attrs(project));
        doc["network_id"] = net["id"].clone();
        for (k, v) in [
            ("name", json!("")),
            ("description", json!("")),
            ("admin_state_up", json!(true)),
            ("device_id", json!("")),
            ("device_owner", json!("")),
            ("mac_address", json!("")),
            ("binding:host_id", json!("")),
            ("binding:profile", json!({})),
            ("binding:vnic_type", json!("normal")),
        ] {
            doc[k] = body.get(k).cloned().filter(|v| !v.is_null()).unwrap_or(v);
        }
        doc["status"] = json!("DOWN");
        doc["fixed_ips"] = json!([]);
        doc["allowed_address_pairs"] = json!([]);
        doc["extra_dhcp_opts"] = json!([]);
        doc["security_groups"] = json!([]);
        doc["port_security_enabled"] = body
            .get("port_security_enabled")
            .cloned()
            .unwrap_or(json!(flag(net, "port_security_enabled")));
        set_binding(&mut doc);
        doc
    }

    /// `POST /v2.0/ports` (one port).
    pub async fn port_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::PORT, body, true)?;
        let net_id = body
            .get("network_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let net = self.visible_network(ctx, &net_id).await?;
        let project = self.owner(ctx, &body)?;
        let mut doc = self.port_doc(&project, &net, &body);
        let mac_given = body.contains_key("mac_address");
        if mac_given {
            let m = s(&doc, "mac_address").to_ascii_lowercase();
            if !valid_mac(&m) {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!(
                        "Invalid input for mac_address. Reason: '{m}' is not a valid MAC address."
                    ),
                ));
            }
            doc["mac_address"] = json!(m);
        }
        let reqs = body.get("fixed_ips").map(parse_ip_reqs).transpose()?;
        let psec = flag(&doc, "port_security_enabled");
        let pairs = parse_pairs(
            body.get("allowed_address_pairs").unwrap_or(&Value::Null),
            s(&doc, "mac_address"),
        )?;
        if !psec && pairs.as_array().is_some_and(|a| !a.is_empty()) {
            return Err(NeutronError::conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        doc["allowed_address_pairs"] = pairs;
        doc["extra_dhcp_opts"] = merge_dhcp_opts(
            &json!([]),
            body.get("extra_dhcp_opts").unwrap_or(&Value::Null),
        )?;
        let target = self.target("port", &doc, Some(&net));
        self.enforce_write(ctx, "create", "port", &body, &target)?;
        let sgs = match body.get("security_groups") {
            Some(raw) => self.check_security_groups(ctx, raw).await?,
            None if psec && !s(&doc, "device_owner").starts_with("network:") => {
                vec![self.ensure_default_sg(&project).await?]
            }
            None => vec![],
        };
        if !psec && !sgs.is_empty() {
            return Err(NeutronError::conflict(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        doc["security_groups"] = json!(sgs);
        let doc = with_retries(|| {
            let doc = doc.clone();
            let reqs = reqs.clone();
            let project = project.clone();
            async move {
                let mut tx = self.begin().await?;
                quota::check(&mut tx, "port", &project, 1).await?;
                let doc = self
                    .insert_port(&mut tx, doc, reqs.as_deref(), mac_given)
                    .await?;
                commit(tx).await?;
                Ok(doc)
            }
        })
        .await?;
        tracing::info!(port.id = %s(&doc, "id"), network.id = %net_id, "port created");
        self.render_port(ctx, &doc, Some(&net))
            .ok_or_else(|| NeutronError::resource_not_found("port", s(&doc, "id")))
    }

    /// `POST /v2.0/ports` with `{"ports": [...]}`: all or nothing.
    pub async fn port_create_bulk(
        &self,
        ctx: &AuthContext,
        bodies: &[Map<String, Value>],
    ) -> NResult<Vec<Value>> {
        let mut done: Vec<Value> = Vec::new();
        for b in bodies {
            match self.port_create(ctx, b).await {
                Ok(p) => done.push(p),
                Err(e) => {
                    for p in &done {
                        if let Err(undo) = self.delete_port_unchecked(s(p, "id")).await {
                            tracing::error!(port.id = %s(p, "id"), error = %undo.error, "undoing bulk port create failed");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// `GET /v2.0/ports/{id}`.
    pub async fn port_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let (doc, net) = self.visible_port(ctx, id).await?;
        self.render_port(ctx, &doc, Some(&net))
            .ok_or_else(|| NeutronError::resource_not_found("port", id))
    }

    /// `GET /v2.0/ports`.
    pub async fn port_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let nets = self.networks_by_id(&mut c).await?;
        let docs = store::list(&mut c, Table::Ports, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_port(ctx, d, nets.get(s(d, "network_id"))))
            .collect())
    }

    /// `PUT /v2.0/ports/{id}`.
    pub async fn port_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::PORT, body, false)?;
        let (mut doc, net) = self.visible_port(ctx, id).await?;
        let mut target = self.target("port", &doc, Some(&net));
        if let Some(owner) = body.get("device_owner") {
            // `update_port:device_owner` judges the new owner as well as the old.
            let mut newdoc = doc.clone();
            newdoc["device_owner"] = owner.clone();
            let t2 = self.target("port", &newdoc, Some(&net));
            self.enforce_write(ctx, "update", "port", &body, &t2)?;
            target = t2;
        }
        self.enforce_write(ctx, "update", "port", &body, &target)?;
        if let Some(m) = body.get("mac_address").and_then(Value::as_str) {
            let m = m.to_ascii_lowercase();
            if !valid_mac(&m) {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!(
                        "Invalid input for mac_address. Reason: '{m}' is not a valid MAC address."
                    ),
                ));
            }
            if !s(&doc, "binding:host_id").is_empty() {
                return Err(NeutronError::conflict(
                    "PortBound",
                    format!("Unable to complete operation on port {id}, port is already bound, port type: bridge, old_mac {}, new_mac {m}.", s(&doc, "mac_address")),
                ));
            }
            doc["mac_address"] = json!(m);
        }
        for k in [
            "name",
            "description",
            "admin_state_up",
            "device_id",
            "device_owner",
            "binding:host_id",
            "binding:vnic_type",
            "port_security_enabled",
        ] {
            if let Some(v) = body.get(k) {
                doc[k] = v.clone();
            }
        }
        if let Some(p) = body.get("binding:profile") {
            doc["binding:profile"] = if p.is_null() { json!({}) } else { p.clone() };
        }
        set_binding(&mut doc);
        if let Some(raw) = body.get("allowed_address_pairs") {
            doc["allowed_address_pairs"] = parse_pairs(raw, s(&doc, "mac_address"))?;
        }
        if let Some(raw) = body.get("extra_dhcp_opts") {
            doc["extra_dhcp_opts"] = merge_dhcp_opts(&doc["extra_dhcp_opts"], raw)?;
        }
        if let Some(raw) = body.get("security_groups") {
            doc["security_groups"] = json!(self.check_security_groups(ctx, raw).await?);
        }
        let psec = flag(&doc, "port_security_enabled");
        if !psec
            && doc["allowed_address_pairs"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            return Err(NeutronError::conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        if !psec
            && doc["security_groups"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            return Err(NeutronError::conflict(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        let reqs = body.get("fixed_ips").map(parse_ip_reqs).transpose()?;
        touch(&mut doc);
        let doc = with_retries(|| {
            let mut doc = doc.clone();
            let reqs = reqs.clone();
            async move {
                let mut tx = self.begin().await?;
                if let Some(reqs) = &reqs {
                    // Keep addresses asked for again; release the rest; allocate new ones.
                    let old: Vec<Value> = doc["fixed_ips"].as_array().cloned().unwrap_or_default();
                    let mut keep = Vec::new();
                    let mut fresh = Vec::new();
                    for r in reqs {
                        let hit = old.iter().find(|o| {
                            r.ip.as_deref().is_some_and(|ip| ip == s(o, "ip_address"))
                                && r.subnet_id.as_deref().is_none_or(|sid| sid == s(o, "subnet_id"))
                        });
                        match hit {
                            Some(o) => keep.push(o.clone()),
                            None => fresh.push(r.clone()),
                        }
                    }
                    for o in &old {
                        if !keep.contains(o) {
                            store::release_ip(&mut tx, s(o, "subnet_id"), s(o, "ip_address")).await?;
                        }
                    }
                    let new = allocate_ips(
                        &mut tx,
                        s(&doc, "network_id"),
                        s(&doc, "id"),
                        s(&doc, "mac_address"),
                        s(&doc, "device_owner"),
                        Some(&fresh),
                    )
                    .await?;
                    keep.extend(new);
                    doc["fixed_ips"] = Value::Array(keep);
                }
                match store::update(&mut tx, Table::Ports, &doc).await {
                    Ok(()) => {}
                    Err(WriteError::Duplicate) => {
                        return Err(PortWrite::Fail(NeutronError::conflict(
                            "MacAddressInUse",
                            format!("Unable to complete operation for network {}. The mac address {} is in use.", s(&doc, "network_id"), s(&doc, "mac_address")),
                        )))
                    }
                    Err(WriteError::Other(e)) => return Err(e.into()),
                }
                commit(tx).await?;
                Ok(doc)
            }
        })
        .await?;
        self.render_port(ctx, &doc, Some(&net))
            .ok_or_else(|| NeutronError::resource_not_found("port", id))
    }

    /// `DELETE /v2.0/ports/{id}`.
    pub async fn port_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let (doc, net) = self.visible_port(ctx, id).await?;
        self.enforce(ctx, "delete_port", &self.target("port", &doc, Some(&net)))?;
        let owner = s(&doc, "device_owner");
        if matches!(
            owner,
            "network:router_interface" | "network:router_gateway" | "network:floatingip"
        ) {
            return Err(NeutronError::conflict(
                "ServicePortInUse",
                format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}."),
            ));
        }
        self.delete_port_unchecked(id).await
    }

    /// Deletes a port, its addresses and its floating IP associations (no policy).
    pub(crate) async fn delete_port_unchecked(&self, id: &str) -> NResult<()> {
        let mut tx = self.begin().await?;
        self.delete_port_in(&mut tx, id).await?;
        commit(tx).await
    }

    pub(crate) async fn delete_port_in(&self, conn: &mut AnyConnection, id: &str) -> NResult<()> {
        for mut fip in store::list(conn, Table::FloatingIps, Some(("port_id", id))).await? {
            fip["port_id"] = Value::Null;
            fip["fixed_ip_address"] = Value::Null;
            fip["router_id"] = Value::Null;
            fip["status"] = json!("DOWN");
            touch(&mut fip);
            store::update(conn, Table::FloatingIps, &fip)
                .await
                .map_err(|e| super::dup(e, || super::bug("floating ip")))?;
        }
        store::release_port_ips(conn, id).await?;
        store::delete(conn, Table::Ports, id).await?;
        tracing::info!(port.id = %id, "port deleted");
        Ok(())
    }
}

/// Binding attributes follow `binding:host_id`: unbound until a host is named.
fn set_binding(doc: &mut Value) {
    if s(doc, "binding:host_id").is_empty() {
        doc["binding:vif_type"] = json!("unbound");
        doc["binding:vif_details"] = json!({});
    } else {
        doc["binding:vif_type"] = json!("bridge");
        doc["binding:vif_details"] = json!({"port_filter": true, "connectivity": "l2"});
    }
}
