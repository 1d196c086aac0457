//! A typed client of the Networking API (Neutron v2.0) for other services: what the
//! compute service needs to give servers NICs (ports created, bound, listed by device
//! and deleted), to validate requested networks, to find the networks `auto` may use
//! and to resolve security group names in a project.
//!
//! Every call takes the token to send: the compute service calls with its service
//! user's token (the `service` role passes Neutron's `service_api` rule, as Nova's
//! admin-context calls do) and names the owning project explicitly.

use std::time::Duration;

use rustack_common::Error;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// One fixed IP of a port.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FixedIp {
    /// The subnet.
    pub subnet_id: String,
    /// The address.
    pub ip_address: String,
}

/// A port as the Networking API shows it (the attributes a consumer needs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Port {
    /// Port id.
    pub id: String,
    /// Network id.
    pub network_id: String,
    /// Owning project.
    #[serde(default)]
    pub project_id: String,
    /// MAC address.
    pub mac_address: String,
    /// Fixed IPs.
    #[serde(default)]
    pub fixed_ips: Vec<FixedIp>,
    /// The device using the port (a server id).
    #[serde(default)]
    pub device_id: String,
    /// `compute:<az>`, `network:dhcp`...
    #[serde(default)]
    pub device_owner: String,
    /// `ACTIVE`, `DOWN`, `BUILD`.
    #[serde(default)]
    pub status: String,
    /// Host the port is bound to.
    #[serde(rename = "binding:host_id", default)]
    pub binding_host_id: String,
    /// Security group ids.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// A network (what a consumer needs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Network {
    /// Network id.
    pub id: String,
    /// Name (the server `addresses` label).
    #[serde(default)]
    pub name: String,
    /// Owning project.
    #[serde(default)]
    pub project_id: String,
    /// Shared with every project.
    #[serde(default)]
    pub shared: bool,
    /// External network.
    #[serde(rename = "router:external", default)]
    pub external: bool,
    /// MTU.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Subnet ids.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Status.
    #[serde(default)]
    pub status: String,
}

/// A security group (id and name).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SecurityGroup {
    /// Group id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Owning project.
    #[serde(default)]
    pub project_id: String,
}

/// A floating IP (what a consumer needs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FloatingIp {
    /// Floating IP id.
    pub id: String,
    /// The public address.
    pub floating_ip_address: String,
    /// The fixed address it translates to, when associated.
    #[serde(default)]
    pub fixed_ip_address: Option<String>,
    /// The port it is associated with.
    #[serde(default)]
    pub port_id: Option<String>,
    /// The external network it comes from.
    #[serde(default)]
    pub floating_network_id: String,
    /// Owning project.
    #[serde(default)]
    pub project_id: String,
}

/// How many ids one list query carries (Nova's `MAX_SEARCH_IDS`: URLs stay short).
pub const MAX_SEARCH_IDS: usize = 150;

/// What a new port is created with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortCreate {
    /// Network.
    pub network_id: String,
    /// Owning project (the server's).
    pub project_id: String,
    /// Server id.
    pub device_id: String,
    /// `compute:<az>`.
    pub device_owner: String,
    /// Host to bind to (empty: unbound).
    pub host_id: String,
    /// A fixed IP to request.
    pub fixed_ip: Option<String>,
    /// Security group ids (`None`: the project's default group).
    pub security_groups: Option<Vec<String>>,
    /// Port name.
    pub name: String,
}

/// A client for one Networking endpoint (`http://host:9696`).
#[derive(Clone, Debug)]
pub struct NetworkClient {
    base: String,
    http: reqwest::Client,
}

fn unavailable(e: reqwest::Error) -> Error {
    Error::unavailable(format!("The network service is unavailable: {e}"))
}

/// Neutron's error message from a fault body.
fn neutron_message(v: &Value) -> String {
    v["NeutronError"]["message"]
        .as_str()
        .or_else(|| v["error"]["message"].as_str())
        .unwrap_or("")
        .to_string()
}

impl NetworkClient {
    /// A client for `base` (no trailing `/v2.0`).
    pub fn new(base: impl Into<String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(NetworkClient {
            base: base.into().trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The endpoint this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        let mut req = self
            .http
            .request(method, format!("{}/v2.0/{path}", self.base))
            .header("x-auth-token", token)
            .header("accept", "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(unavailable)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(unavailable)?;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, v))
    }

    fn fail(what: &str, status: u16, v: &Value) -> Error {
        let msg = neutron_message(v);
        match status {
            400 => Error::bad_request(msg),
            404 => Error::not_found(msg),
            409 => Error::conflict(msg),
            401 | 403 => Error::internal(format!(
                "the network service refused {what} ({status}): {msg}"
            )),
            _ => Error::unavailable(format!(
                "The network service answered {status} to {what}: {msg}"
            )),
        }
    }

    fn decode<T: for<'de> Deserialize<'de>>(v: Value, what: &str) -> Result<T, Error> {
        serde_json::from_value(v).map_err(|e| {
            Error::internal(format!(
                "unexpected {what} body from the network service: {e}"
            ))
        })
    }

    /// `GET /v2.0/{path}` as raw JSON; `Ok(None)` on 404 (for consumers that need whole
    /// documents, such as `network_data.json`).
    pub async fn get_raw(&self, token: &str, path: &str) -> Result<Option<Value>, Error> {
        let (s, v) = self
            .call(reqwest::Method::GET, path, token, &[], None)
            .await?;
        match s {
            200 => Ok(Some(v)),
            404 => Ok(None),
            _ => Err(Self::fail("a read", s, &v)),
        }
    }

    /// Creates a port.
    pub async fn create_port(&self, token: &str, p: &PortCreate) -> Result<Port, Error> {
        let mut port = Map::new();
        port.insert("network_id".into(), json!(p.network_id));
        port.insert("project_id".into(), json!(p.project_id));
        port.insert("device_id".into(), json!(p.device_id));
        port.insert("device_owner".into(), json!(p.device_owner));
        if !p.name.is_empty() {
            port.insert("name".into(), json!(p.name));
        }
        if !p.host_id.is_empty() {
            port.insert("binding:host_id".into(), json!(p.host_id));
        }
        if let Some(ip) = &p.fixed_ip {
            port.insert("fixed_ips".into(), json!([{"ip_address": ip}]));
        }
        if let Some(sgs) = &p.security_groups {
            port.insert("security_groups".into(), json!(sgs));
        }
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "ports",
                token,
                &[],
                Some(json!({ "port": port })),
            )
            .await?;
        if s != 201 {
            return Err(Self::fail("a port create", s, &v));
        }
        Self::decode(v["port"].clone(), "port")
    }

    /// Shows a port; `Ok(None)` when it does not exist.
    pub async fn show_port(&self, token: &str, id: &str) -> Result<Option<Port>, Error> {
        let (s, v) = self
            .call(
                reqwest::Method::GET,
                &format!("ports/{id}"),
                token,
                &[],
                None,
            )
            .await?;
        match s {
            200 => Ok(Some(Self::decode(v["port"].clone(), "port")?)),
            404 => Ok(None),
            _ => Err(Self::fail("a port show", s, &v)),
        }
    }

    /// Updates a port with the attributes in `changes` (a `port` object's fields).
    pub async fn update_port(&self, token: &str, id: &str, changes: Value) -> Result<Port, Error> {
        let (s, v) = self
            .call(
                reqwest::Method::PUT,
                &format!("ports/{id}"),
                token,
                &[],
                Some(json!({ "port": changes })),
            )
            .await?;
        if s != 200 {
            return Err(Self::fail("a port update", s, &v));
        }
        Self::decode(v["port"].clone(), "port")
    }

    /// Deletes a port; a missing port is success (idempotent undo).
    pub async fn delete_port(&self, token: &str, id: &str) -> Result<(), Error> {
        let (s, v) = self
            .call(
                reqwest::Method::DELETE,
                &format!("ports/{id}"),
                token,
                &[],
                None,
            )
            .await?;
        match s {
            204 | 404 => Ok(()),
            _ => Err(Self::fail("a port delete", s, &v)),
        }
    }

    /// Ports whose `device_id` is `device_id` (a server's NICs).
    pub async fn list_ports_by_device(
        &self,
        token: &str,
        device_id: &str,
    ) -> Result<Vec<Port>, Error> {
        self.list_ports(token, &[("device_id", device_id)]).await
    }

    /// Ports matching `query` (Neutron's list filters).
    pub async fn list_ports(
        &self,
        token: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Port>, Error> {
        let (s, v) = self
            .call(reqwest::Method::GET, "ports", token, query, None)
            .await?;
        if s != 200 {
            return Err(Self::fail("a port list", s, &v));
        }
        Self::decode(v["ports"].clone(), "ports")
    }

    /// Shows a network; `Ok(None)` when it does not exist.
    pub async fn show_network(&self, token: &str, id: &str) -> Result<Option<Network>, Error> {
        let (s, v) = self
            .call(
                reqwest::Method::GET,
                &format!("networks/{id}"),
                token,
                &[],
                None,
            )
            .await?;
        match s {
            200 => Ok(Some(Self::decode(v["network"].clone(), "network")?)),
            404 => Ok(None),
            _ => Err(Self::fail("a network show", s, &v)),
        }
    }

    /// Networks matching `query` (e.g. `project_id`, `shared=true`).
    pub async fn list_networks(
        &self,
        token: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Network>, Error> {
        let (s, v) = self
            .call(reqwest::Method::GET, "networks", token, query, None)
            .await?;
        if s != 200 {
            return Err(Self::fail("a network list", s, &v));
        }
        Self::decode(v["networks"].clone(), "networks")
    }

    /// The networks a project may attach servers to without naming one: its own plus
    /// the shared ones, external networks excluded (Nova's `_get_available_networks`).
    pub async fn available_networks(
        &self,
        token: &str,
        project_id: &str,
    ) -> Result<Vec<Network>, Error> {
        let mut nets = self
            .list_networks(token, &[("project_id", project_id)])
            .await?;
        for n in self.list_networks(token, &[("shared", "true")]).await? {
            if !nets.iter().any(|m| m.id == n.id) {
                nets.push(n);
            }
        }
        nets.retain(|n| !n.external);
        Ok(nets)
    }

    /// The security group of `project_id` named (or with id) `name_or_id`.
    pub async fn find_security_group(
        &self,
        token: &str,
        project_id: &str,
        name_or_id: &str,
    ) -> Result<Option<SecurityGroup>, Error> {
        let (s, v) = self
            .call(
                reqwest::Method::GET,
                "security-groups",
                token,
                &[
                    ("project_id", project_id),
                    ("fields", "id"),
                    ("fields", "name"),
                    ("fields", "project_id"),
                ],
                None,
            )
            .await?;
        if s != 200 {
            return Err(Self::fail("a security group list", s, &v));
        }
        let groups: Vec<SecurityGroup> =
            Self::decode(v["security_groups"].clone(), "security groups")?;
        if let Some(g) = groups.iter().find(|g| g.id == name_or_id) {
            return Ok(Some(g.clone()));
        }
        let named: Vec<&SecurityGroup> = groups.iter().filter(|g| g.name == name_or_id).collect();
        match named.len() {
            0 => Ok(None),
            1 => Ok(Some(named[0].clone())),
            _ => Err(Error::conflict(format!(
                "Multiple security_group matches found for name '{name_or_id}', use an ID to be more specific."
            ))),
        }
    }
}

impl NetworkClient {
    /// Any Networking API call (`/v2.0/{path}`), answering the status and the JSON body
    /// as Neutron sent them; for consumers that proxy Neutron resources in their own
    /// shapes (Nova's `os-security-groups`, `os-floating-ips`, ...). Only a transport
    /// failure is an error.
    pub async fn request(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        self.call(method, path, token, query, body).await
    }

    /// Floating IPs matching `query` (Neutron's list filters); none when the cloud has
    /// no L3 API (404), as Nova treats it.
    pub async fn list_floating_ips(
        &self,
        token: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<FloatingIp>, Error> {
        let (s, v) = self
            .call(reqwest::Method::GET, "floatingips", token, query, None)
            .await?;
        match s {
            200 => Self::decode(v["floatingips"].clone(), "floating IPs"),
            404 => Ok(Vec::new()),
            _ => Err(Self::fail("a floating IP list", s, &v)),
        }
    }

    /// The floating IPs associated with any of `port_ids`, in queries of at most
    /// [`MAX_SEARCH_IDS`] ports each (no query at all for no ports).
    pub async fn floating_ips_of_ports(
        &self,
        token: &str,
        port_ids: &[String],
    ) -> Result<Vec<FloatingIp>, Error> {
        let mut out = Vec::new();
        for chunk in port_ids.chunks(MAX_SEARCH_IDS) {
            let query: Vec<(&str, &str)> = chunk.iter().map(|p| ("port_id", p.as_str())).collect();
            out.extend(self.list_floating_ips(token, &query).await?);
        }
        Ok(out)
    }

    /// Associates floating IP `id` with `(port_id, fixed_ip_address)`, or disassociates
    /// it with `None`.
    pub async fn set_floating_ip_port(
        &self,
        token: &str,
        id: &str,
        target: Option<(&str, &str)>,
    ) -> Result<FloatingIp, Error> {
        let body = match target {
            Some((port, fixed)) => json!({"port_id": port, "fixed_ip_address": fixed}),
            None => json!({ "port_id": null }),
        };
        let (s, v) = self
            .call(
                reqwest::Method::PUT,
                &format!("floatingips/{id}"),
                token,
                &[],
                Some(json!({ "floatingip": body })),
            )
            .await?;
        if s != 200 {
            return Err(Self::fail("a floating IP update", s, &v));
        }
        Self::decode(v["floatingip"].clone(), "floating IP")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn port_decodes_neutron_body() {
        let v = json!({"id": "p", "network_id": "n", "project_id": "t", "mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.3"}], "device_id": "d",
            "device_owner": "compute:nova", "status": "DOWN", "binding:host_id": "h",
            "security_groups": ["g"], "extra": 1});
        let p: Port = NetworkClient::decode(v, "port").unwrap();
        assert_eq!(p.binding_host_id, "h");
        assert_eq!(p.fixed_ips[0].ip_address, "10.0.0.3");
        let n: Network = NetworkClient::decode(
            json!({"id": "n", "name": "net", "router:external": true}),
            "network",
        )
        .unwrap();
        assert!(n.external && !n.shared);
    }

    #[test]
    fn errors_keep_neutron_messages() {
        let body = json!({"NeutronError": {"type": "IpAddressAlreadyAllocated", "message": "IP taken", "detail": ""}});
        let e = NetworkClient::fail("x", 409, &body);
        assert_eq!(e, Error::conflict("IP taken"));
        assert_eq!(NetworkClient::fail("x", 500, &body).status_code(), 503);
        assert_eq!(NetworkClient::fail("x", 403, &body).status_code(), 500);
    }
}
