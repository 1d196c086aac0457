//! Server actions that change a server's networking through the Networking API, and the
//! floating IPs shown in a server's `addresses`.
//!
//! - `addFloatingIp`/`removeFloatingIp` (2.1-2.43): associate a floating IP found by
//!   address with the port holding the chosen fixed IP, or disassociate it.
//! - `addFixedIp`/`removeFixedIp` (multinic, 2.1-2.43): one more fixed IP on the
//!   server's port on a network, or one fewer. Nova casts these to the compute host and
//!   answers 202 whatever happens; rustack does the port update before answering but
//!   keeps the 202 and logs a failure, as the cast would.
//! - `addSecurityGroup`/`removeSecurityGroup` (every version): the group, found by name
//!   or id in the caller's project, added to or removed from every port of the server.
//!
//! From 2.44 the floating and fixed IP actions are gone (404), as Nova's
//! `api_version("2.1", "2.43")` decorators make them: the gate is the single
//! [`ACTIONS_MAX_MINOR`] check in [`NetworkAction::parse`].
//!
//! Floating IPs are not cached with the server (Neutron sends rustack no
//! `network-changed` events): bodies that show addresses ask Neutron for the floating IPs
//! of the ports of the servers they render, in one query per [`MAX_SEARCH_IDS`] ports,
//! so a page of 1000 servers costs a handful of calls and no call per server.
//! Floating IPs associated from the Networking API directly (openstacksdk's
//! `create_server(auto_ip=True)`) show up the same way.
//!
//! [`MAX_SEARCH_IDS`]: rustack_network_api::client::MAX_SEARCH_IDS

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use rustack_compute_api::server::view::{Address, ServerView};
use rustack_network_api::client::FloatingIp;
use serde_json::{json, Map, Value};

use super::app::Caller;
use super::store::Instance;
use super::Servers;
use crate::api::Ctx;
use crate::error::{invalid_input, resource_not_found, ApiResult};

/// The last microversion with the floating and fixed IP actions (2.43).
pub const ACTIONS_MAX_MINOR: u32 = 43;

/// A validated networking action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkAction {
    /// `addFloatingIp`.
    AddFloatingIp {
        /// The floating address.
        address: String,
        /// The fixed address to translate to (the first IPv4 when absent).
        fixed_address: Option<String>,
    },
    /// `removeFloatingIp`.
    RemoveFloatingIp {
        /// The floating address.
        address: String,
    },
    /// `addFixedIp`.
    AddFixedIp {
        /// The network to take the address from.
        network_id: String,
    },
    /// `removeFixedIp`.
    RemoveFixedIp {
        /// The fixed address to release.
        address: String,
    },
    /// `addSecurityGroup`.
    AddSecurityGroup {
        /// Group name or id.
        name: String,
    },
    /// `removeSecurityGroup`.
    RemoveSecurityGroup {
        /// Group name or id.
        name: String,
    },
}

/// Nova's `ip_address` parameter type: an IPv4 or IPv6 address.
fn ip_address(field: &str, v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => Ok(s.clone()),
        Value::String(_) => Err(invalid_input(format!(
            "{field}. Value: {}. {v} is not valid under any of the given schemas",
            v.as_str().unwrap_or_default()
        ))),
        _ => Err(invalid_input(format!(
            "{field}. Value: {v}. {v} is not of type 'string'"
        ))),
    }
}

/// The action's object, with only `allowed` keys and every `required` one.
fn members<'a>(
    action: &str,
    v: &'a Value,
    allowed: &[&str],
    required: &str,
) -> Result<&'a Map<String, Value>, Error> {
    let o = v.as_object().ok_or_else(|| {
        invalid_input(format!("{action}. Value: {v}. {v} is not of type 'object'"))
    })?;
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    if !o.contains_key(required) {
        return Err(Error::bad_request(format!(
            "'{required}' is a required property"
        )));
    }
    Ok(o)
}

/// `addSecurityGroup`/`removeSecurityGroup`'s `name` (schema, then Nova's `_parse`).
fn group_name(action: &str, v: &Value) -> Result<String, Error> {
    let o = v
        .as_object()
        .ok_or_else(|| Error::bad_request("Missing parameter dict"))?;
    let Some(n) = o.get("name") else {
        return Err(Error::bad_request("'name' is a required property"));
    };
    if let Some(k) = o.keys().find(|k| *k != "name") {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let name = match n {
        Value::String(s) if s.is_empty() => {
            return Err(invalid_input(format!(
                "{action}/name. Value: . '' should be non-empty"
            )))
        }
        Value::String(s) => s.clone(),
        _ => {
            return Err(invalid_input(format!(
                "{action}/name. Value: {n}. {n} is not of type 'string'"
            )))
        }
    };
    if name.trim().is_empty() {
        return Err(Error::bad_request("Security group name cannot be empty"));
    }
    Ok(name)
}

impl NetworkAction {
    /// Parses action `name` with value `v` at 2.`minor`; `Ok(None)` when it is not a
    /// networking action at that version.
    pub fn parse(name: &str, v: &Value, minor: u32) -> Result<Option<NetworkAction>, Error> {
        let ip_actions = minor <= ACTIONS_MAX_MINOR;
        Ok(Some(match name {
            "addFloatingIp" if ip_actions => {
                let o = members(name, v, &["address", "fixed_address"], "address")?;
                NetworkAction::AddFloatingIp {
                    address: ip_address("address", &o["address"])?,
                    fixed_address: o
                        .get("fixed_address")
                        .map(|f| ip_address("fixed_address", f))
                        .transpose()?,
                }
            }
            "removeFloatingIp" if ip_actions => {
                let o = members(name, v, &["address"], "address")?;
                NetworkAction::RemoveFloatingIp {
                    address: ip_address("address", &o["address"])?,
                }
            }
            "addFixedIp" if ip_actions => {
                let o = members(name, v, &["networkId"], "networkId")?;
                let n = &o["networkId"];
                let network_id = match n {
                    Value::String(s) if (1..=36).contains(&s.chars().count()) => s.clone(),
                    Value::Number(x) => x.to_string(),
                    _ => {
                        return Err(invalid_input(format!(
                            "networkId. Value: {n}. {n} is not valid"
                        )))
                    }
                };
                NetworkAction::AddFixedIp { network_id }
            }
            "removeFixedIp" if ip_actions => {
                let o = members(name, v, &["address"], "address")?;
                NetworkAction::RemoveFixedIp {
                    address: ip_address("address", &o["address"])?,
                }
            }
            "addSecurityGroup" => NetworkAction::AddSecurityGroup {
                name: group_name(name, v)?,
            },
            "removeSecurityGroup" => NetworkAction::RemoveSecurityGroup {
                name: group_name(name, v)?,
            },
            _ => return Ok(None),
        }))
    }
}

/// The networking actions' hook in `POST /servers/{id}/action`: `None` when the body
/// is not one of them.
pub(crate) async fn action(
    s: &Servers,
    ctx: &Ctx,
    id: &str,
    v: &Value,
) -> Option<ApiResult<Response>> {
    let (name, body) = v.as_object().filter(|o| o.len() == 1)?.iter().next()?;
    let c = Caller {
        auth: ctx.auth.clone(),
        minor: ctx.version.minor,
        request_id: ctx.request_id.clone(),
        token: ctx.token.clone(),
    };
    let a = match NetworkAction::parse(name, body, ctx.version.minor) {
        Ok(Some(a)) => a,
        Ok(None) => {
            if matches!(
                name.as_str(),
                "addFloatingIp" | "removeFloatingIp" | "addFixedIp" | "removeFixedIp"
            ) {
                // Gone from 2.44: Nova finds no method for the version.
                return Some(Err(resource_not_found().into()));
            }
            return None;
        }
        Err(e) => return Some(Err(e.into())),
    };
    Some(
        s.network_action(&c, id, a)
            .await
            .map(|()| StatusCode::ACCEPTED.into_response())
            .map_err(Into::into),
    )
}

/// Neutron's error message in a fault body.
fn neutron_message(v: &Value) -> String {
    v["NeutronError"]["message"]
        .as_str()
        .or_else(|| v["error"]["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Floating addresses by (port id, fixed address).
pub type FloatingMap = HashMap<(String, String), Vec<String>>;

/// Adds the floating addresses of `map` after the fixed address each translates to,
/// under the same network label and with the same MAC (Nova's network info cache).
pub fn add_floating(v: &mut ServerView, i: &Instance, map: &FloatingMap) {
    if map.is_empty() {
        return;
    }
    for nic in &i.nics {
        let Some((_, addrs)) = v.addresses.iter_mut().find(|(l, _)| *l == nic.network_name) else {
            continue;
        };
        for ip in &nic.ips {
            let Some(fips) = map.get(&(nic.port_id.clone(), ip.clone())) else {
                continue;
            };
            let at = addrs
                .iter()
                .position(|a| a.addr == *ip && a.kind == "fixed")
                .map_or(addrs.len(), |p| p + 1);
            for (k, f) in fips.iter().enumerate() {
                if addrs.iter().any(|a| a.addr == *f && a.kind == "floating") {
                    continue;
                }
                addrs.insert(
                    at + k,
                    Address {
                        version: if f.contains(':') { 6 } else { 4 },
                        addr: f.clone(),
                        kind: "floating",
                        mac: nic.mac.clone(),
                    },
                );
            }
        }
    }
}

impl Servers {
    /// The floating IPs on the ports of `instances`, in as few Networking calls as
    /// [`MAX_SEARCH_IDS`](rustack_network_api::client::MAX_SEARCH_IDS) allows. Best
    /// effort: with Networking unreachable the servers show their fixed addresses only.
    pub(crate) async fn floating_map(&self, instances: &[&Instance]) -> FloatingMap {
        let ports: Vec<String> = instances
            .iter()
            .flat_map(|i| i.nics.iter().map(|n| n.port_id.clone()))
            .collect();
        let mut map = FloatingMap::new();
        if ports.is_empty() {
            return map;
        }
        let fips = match self.service_token().await {
            Ok(t) => self.network.floating_ips_of_ports(&t, &ports).await,
            Err(e) => Err(e),
        };
        match fips {
            Ok(fips) => {
                for f in fips {
                    if let (Some(p), Some(fixed)) = (f.port_id, f.fixed_ip_address) {
                        map.entry((p, fixed))
                            .or_default()
                            .push(f.floating_ip_address);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "servers: floating IPs unavailable; addresses show fixed IPs only");
            }
        }
        map
    }

    /// Runs a networking action.
    pub async fn network_action(
        &self,
        c: &Caller,
        id: &str,
        a: NetworkAction,
    ) -> Result<(), Error> {
        match a {
            NetworkAction::AddFloatingIp {
                address,
                fixed_address,
            } => self.add_floating_ip(c, id, &address, fixed_address).await,
            NetworkAction::RemoveFloatingIp { address } => {
                self.remove_floating_ip(c, id, &address).await
            }
            NetworkAction::AddFixedIp { network_id } => {
                let i = self
                    .get_for(c, id, "os_compute_api:os-multinic:add")
                    .await?;
                if let Err(e) = self.add_fixed_ip(&i, &network_id).await {
                    tracing::warn!(instance.id = %i.uuid, network.id = %network_id, error = %e, "addFixedIp failed");
                }
                Ok(())
            }
            NetworkAction::RemoveFixedIp { address } => {
                let i = self
                    .get_for(c, id, "os_compute_api:os-multinic:remove")
                    .await?;
                if let Err(e) = self.remove_fixed_ip(&i, &address).await {
                    tracing::warn!(instance.id = %i.uuid, error = %e, "removeFixedIp failed");
                }
                Ok(())
            }
            NetworkAction::AddSecurityGroup { name } => {
                self.security_group_change(c, id, &name, true).await
            }
            NetworkAction::RemoveSecurityGroup { name } => {
                self.security_group_change(c, id, &name, false).await
            }
        }
    }

    /// The floating IP with `address` as the caller sees it (Nova's
    /// `_get_floating_ip_by_address` with the request's token).
    async fn floating_ip_by_address(&self, c: &Caller, address: &str) -> Result<FloatingIp, Error> {
        let not_found =
            || Error::not_found(format!("Floating IP not found for address {address}."));
        if address.is_empty() {
            return Err(not_found());
        }
        let (status, v) = self
            .network
            .request(
                &c.token.0,
                reqwest::Method::GET,
                "floatingips",
                &[("floating_ip_address", address)],
                None,
            )
            .await?;
        if status == 404 {
            return Err(not_found());
        }
        if status != 200 {
            return Err(Error::unavailable(format!(
                "The network service answered {status} to a floating IP list: {}",
                neutron_message(&v)
            )));
        }
        let mut fips: Vec<FloatingIp> = serde_json::from_value(v["floatingips"].clone())
            .map_err(|e| Error::internal(format!("unexpected floating IP list: {e}")))?;
        match fips.len() {
            0 => Err(not_found()),
            1 => Ok(fips.remove(0)),
            _ => Err(Error::conflict(format!(
                "Multiple floating IPs are found for address {address}."
            ))),
        }
    }

    async fn add_floating_ip(
        &self,
        c: &Caller,
        id: &str,
        address: &str,
        fixed_address: Option<String>,
    ) -> Result<(), Error> {
        let i = self
            .get_for(c, id, "os_compute_api:os-floating-ips:add")
            .await?;
        if i.nics.is_empty() {
            return Err(Error::bad_request("Instance network is not ready yet"));
        }
        let fixed: Vec<(&str, &str)> = i
            .nics
            .iter()
            .flat_map(|n| {
                n.ips
                    .iter()
                    .map(move |ip| (n.port_id.as_str(), ip.as_str()))
            })
            .collect();
        if fixed.is_empty() {
            return Err(Error::bad_request("No fixed IPs associated to instance"));
        }
        let (port, fixed_address) = match fixed_address {
            Some(f) => fixed
                .iter()
                .find(|(_, ip)| *ip == f)
                .map(|(p, ip)| (p.to_string(), ip.to_string()))
                .ok_or_else(|| {
                    Error::bad_request("Specified fixed address not assigned to instance")
                })?,
            None => fixed
                .iter()
                .find(|(_, ip)| ip.parse::<std::net::Ipv4Addr>().is_ok())
                .map(|(p, ip)| (p.to_string(), ip.to_string()))
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "Unable to associate floating IP {address} to any fixed IPs for instance {id}. \
                         Instance has no fixed IPv4 addresses to associate."
                    ))
                })?,
        };
        let fip = self
            .floating_ip_by_address(c, address)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } => Error::not_found("floating IP not found"),
                other => other,
            })?;
        let (status, v) = self
            .network
            .request(
                &c.token.0,
                reqwest::Method::PUT,
                &format!("floatingips/{}", fip.id),
                &[],
                Some(json!({"floatingip": {"port_id": port, "fixed_ip_address": fixed_address}})),
            )
            .await?;
        match status {
            200 => {
                tracing::info!(instance.id = %i.uuid, floatingip.id = %fip.id, port.id = %port, "floating IP associated");
                Ok(())
            }
            403 => Err(Error::forbidden(neutron_message(&v))),
            _ => Err(Error::bad_request(format!(
                "Unable to associate floating IP {address} to fixed IP {fixed_address} for \
                 instance {id}. Error: {}",
                neutron_message(&v)
            ))),
        }
    }

    async fn remove_floating_ip(&self, c: &Caller, id: &str, address: &str) -> Result<(), Error> {
        let fip = self.floating_ip_by_address(c, address).await?;
        // The server the floating IP is on, if any and visible to the caller.
        let mut owner: Option<Instance> = None;
        if let Some(port_id) = fip.port_id.as_deref() {
            let token = self.service_token().await?;
            if let Some(p) = self.network.show_port(&token, port_id).await? {
                if !p.device_id.is_empty() {
                    owner = Some(
                        self.get_for(c, &p.device_id, "os_compute_api:os-floating-ips:remove")
                            .await?,
                    );
                }
            }
        }
        if owner.is_none() {
            self.compute
                .authorize(&c.auth, "os_compute_api:os-floating-ips:remove", &json!({}))?;
        }
        match owner {
            Some(i) if i.uuid == id && fip.port_id.is_some() => {
                let (status, v) = self
                    .network
                    .request(
                        &c.token.0,
                        reqwest::Method::PUT,
                        &format!("floatingips/{}", fip.id),
                        &[],
                        Some(json!({"floatingip": {"port_id": null}})),
                    )
                    .await?;
                match status {
                    200 => {
                        tracing::info!(instance.id = %i.uuid, floatingip.id = %fip.id, "floating IP disassociated");
                        Ok(())
                    }
                    403 => Err(Error::forbidden(neutron_message(&v))),
                    404 => Err(Error::not_found(neutron_message(&v))),
                    _ => Err(Error::unavailable(format!(
                        "The network service answered {status} to a floating IP update: {}",
                        neutron_message(&v)
                    ))),
                }
            }
            _ => Err(Error::conflict(format!(
                "Floating IP {address} is not associated with instance {id}."
            ))),
        }
    }

    /// Re-reads the server's ports into its NIC records (fixed IPs changed).
    async fn refresh_nic_ips(&self, uuid: &str, token: &str) -> Result<(), Error> {
        let ports = self.network.list_ports_by_device(token, uuid).await?;
        self.modify(uuid, move |x| {
            for nic in &mut x.nics {
                if let Some(p) = ports.iter().find(|p| p.id == nic.port_id) {
                    nic.ips = p.fixed_ips.iter().map(|f| f.ip_address.clone()).collect();
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn add_fixed_ip(&self, i: &Instance, network_id: &str) -> Result<(), Error> {
        let token = self.service_token().await?;
        let net = self
            .network
            .show_network(&token, network_id)
            .await?
            .filter(|n| !n.subnets.is_empty())
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Network could not be found for instance {}.",
                    i.uuid
                ))
            })?;
        let ports = self
            .network
            .list_ports(
                &token,
                &[("device_id", &i.uuid), ("network_id", network_id)],
            )
            .await?;
        for p in &ports {
            for subnet in &net.subnets {
                let mut ips: Vec<Value> = p
                    .fixed_ips
                    .iter()
                    .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address}))
                    .collect();
                ips.push(json!({ "subnet_id": subnet }));
                match self
                    .network
                    .update_port(&token, &p.id, json!({ "fixed_ips": ips }))
                    .await
                {
                    Ok(_) => return self.refresh_nic_ips(&i.uuid, &token).await,
                    Err(e) => {
                        tracing::debug!(port.id = %p.id, subnet.id = %subnet, error = %e, "no fixed IP from this subnet");
                    }
                }
            }
        }
        Err(Error::not_found(format!(
            "Network could not be found for instance {}.",
            i.uuid
        )))
    }

    async fn remove_fixed_ip(&self, i: &Instance, address: &str) -> Result<(), Error> {
        let token = self.service_token().await?;
        let ports = self.network.list_ports_by_device(&token, &i.uuid).await?;
        let Some(p) = ports
            .iter()
            .find(|p| p.fixed_ips.iter().any(|f| f.ip_address == address))
        else {
            return Err(Error::bad_request(format!(
                "Instance {} does not have fixed IP '{address}'.",
                i.uuid
            )));
        };
        let ips: Vec<Value> = p
            .fixed_ips
            .iter()
            .filter(|f| f.ip_address != address)
            .map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address}))
            .collect();
        self.network
            .update_port(&token, &p.id, json!({ "fixed_ips": ips }))
            .await?;
        self.refresh_nic_ips(&i.uuid, &token).await
    }

    async fn security_group_change(
        &self,
        c: &Caller,
        id: &str,
        name: &str,
        add: bool,
    ) -> Result<(), Error> {
        let rule = if add {
            "os_compute_api:os-security-groups:add"
        } else {
            "os_compute_api:os-security-groups:remove"
        };
        let i = self.get_for(c, id, rule).await?;
        let token = self.service_token().await?;
        let project = c.auth.project_id.clone().unwrap_or_default();
        let group = self
            .network
            .find_security_group(&token, &project, name)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Security group {name} is not found for project {project}"
                ))
            })?;
        let ports = self.network.list_ports_by_device(&token, &i.uuid).await?;
        if ports.is_empty() {
            return Err(Error::not_found(format!(
                "instance_id {} could not be found as device id on any ports",
                i.uuid
            )));
        }
        let mut changed = false;
        for p in &ports {
            let mut groups = p.security_groups.clone();
            if add {
                if p.fixed_ips.is_empty() {
                    return Err(Error::bad_request(
                        "Network requires port_security_enabled and subnet associated in order \
                         to apply security groups.",
                    ));
                }
                if groups.contains(&group.id) {
                    continue;
                }
                groups.push(group.id.clone());
            } else {
                if !groups.contains(&group.id) {
                    continue;
                }
                groups.retain(|g| *g != group.id);
            }
            let (status, v) = self
                .network
                .request(
                    &token,
                    reqwest::Method::PUT,
                    &format!("ports/{}", p.id),
                    &[],
                    Some(json!({"port": {"security_groups": groups}})),
                )
                .await?;
            match status {
                200 => changed = true,
                400 if add => return Err(Error::bad_request(neutron_message(&v))),
                409 if add => return Err(Error::conflict(neutron_message(&v))),
                404 => return Err(Error::not_found(neutron_message(&v))),
                _ => {
                    return Err(Error::unavailable(format!(
                        "The network service answered {status} to a port update: {}",
                        neutron_message(&v)
                    )))
                }
            }
        }
        if !add && !changed {
            return Err(Error::not_found(format!(
                "Security group {name} not associated with the instance {}",
                i.uuid
            )));
        }
        let gname = group.name.clone();
        let gid = group.id.clone();
        self.modify(&i.uuid, move |x| {
            if add {
                if !x.security_groups.iter().any(|g| *g == gname || *g == gid) {
                    x.security_groups.push(gname.clone());
                }
            } else {
                x.security_groups.retain(|g| *g != gname && *g != gid);
            }
            Ok(())
        })
        .await?;
        tracing::info!(instance.id = %i.uuid, security_group.id = %group.id, add, "security group changed on the server's ports");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_gates_ip_actions_at_2_44() {
        let body = json!({"address": "172.24.4.10"});
        assert!(matches!(
            NetworkAction::parse("addFloatingIp", &body, 43).unwrap(),
            Some(NetworkAction::AddFloatingIp { .. })
        ));
        assert_eq!(
            NetworkAction::parse("addFloatingIp", &body, 44).unwrap(),
            None
        );
        assert_eq!(
            NetworkAction::parse("removeFixedIp", &body, 44).unwrap(),
            None
        );
        // Security group actions stay.
        assert_eq!(
            NetworkAction::parse("addSecurityGroup", &json!({"name": "web"}), 90).unwrap(),
            Some(NetworkAction::AddSecurityGroup { name: "web".into() })
        );
        assert_eq!(
            NetworkAction::parse("pause", &Value::Null, 1).unwrap(),
            None
        );
    }

    #[test]
    fn parse_rejects_bad_bodies() {
        let e = |name: &str, v: Value| NetworkAction::parse(name, &v, 1).unwrap_err();
        assert!(e("addFloatingIp", json!({"address": ""}))
            .to_string()
            .contains("not valid under any of the given schemas"));
        assert!(e("addFloatingIp", json!({"address": "1.2.3.4", "x": 1}))
            .to_string()
            .contains("'x' was unexpected"));
        assert!(e("addFloatingIp", json!({}))
            .to_string()
            .contains("'address' is a required property"));
        assert!(e("addSecurityGroup", json!({"name": "  "}))
            .to_string()
            .contains("cannot be empty"));
        assert!(e("addSecurityGroup", json!({"name": ""}))
            .to_string()
            .contains("should be non-empty"));
        assert!(e("addFixedIp", json!({"networkId": ""}))
            .to_string()
            .contains("networkId"));
        assert_eq!(
            NetworkAction::parse("addFixedIp", &json!({"networkId": 7}), 1).unwrap(),
            Some(NetworkAction::AddFixedIp {
                network_id: "7".into()
            })
        );
    }

    #[test]
    fn floating_entries_follow_their_fixed_address() {
        let i = Instance {
            nics: vec![super::super::store::Nic {
                port_id: "p1".into(),
                network_name: "private".into(),
                mac: "fa:16:3e:00:00:01".into(),
                ips: vec!["10.0.0.3".into(), "fd00::3".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let fixed = |a: &str| Address {
            version: if a.contains(':') { 6 } else { 4 },
            addr: a.into(),
            kind: "fixed",
            mac: "fa:16:3e:00:00:01".into(),
        };
        let mut v = ServerView {
            addresses: vec![("private".into(), vec![fixed("10.0.0.3"), fixed("fd00::3")])],
            ..Default::default()
        };
        let mut map = FloatingMap::new();
        map.insert(("p1".into(), "10.0.0.3".into()), vec!["172.24.4.9".into()]);
        add_floating(&mut v, &i, &map);
        add_floating(&mut v, &i, &map);
        let addrs = &v.addresses[0].1;
        assert_eq!(addrs.len(), 3);
        assert_eq!(addrs[1].addr, "172.24.4.9");
        assert_eq!(addrs[1].kind, "floating");
        assert_eq!(addrs[1].mac, "fa:16:3e:00:00:01");
        assert_eq!(addrs[2].addr, "fd00::3");
    }
}
