//! The data plane's input, built from the Networking API: the API documents of every
//! network, subnet, port, router and floating IP (read with the agent's admin token)
//! become the planner's [`Topology`].
//!
//! Layout for those who extend it: [`fetch`] reads the collections into an
//! [`ApiSnapshot`] (one field per collection, raw documents); [`to_topology`] converts
//! it with one small function per resource (`network`, `subnet`, `port`...). To feed a
//! new planner field (security groups, metadata...), add the collection to
//! `ApiSnapshot` + `fetch`, a converter here, and fill the field in `to_topology`. A
//! document that cannot be converted is skipped with a note in
//! [`Converted::skipped`]; it never fails the pass.

use std::net::IpAddr;

use rustack_hostops::dataplane::{
    AddressPair, Direction, EtherType, FixedIp, FloatingIp, Network, Port, Router, SecurityGroup,
    SecurityGroupRule, Segment, Subnet, Topology,
};
use rustack_hostops::net::IpNet;
use serde_json::Value;

use crate::client::NetworkClient;
use crate::error::AgentError;

/// The API documents a pass reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiSnapshot {
    /// `GET /v2.0/networks`.
    pub networks: Vec<Value>,
    /// `GET /v2.0/subnets`.
    pub subnets: Vec<Value>,
    /// `GET /v2.0/ports`.
    pub ports: Vec<Value>,
    /// `GET /v2.0/routers`.
    pub routers: Vec<Value>,
    /// `GET /v2.0/floatingips`.
    pub floatingips: Vec<Value>,
    /// `GET /v2.0/security-groups` (each with its `security_group_rules`).
    pub security_groups: Vec<Value>,
    /// The registered network agents (the answer to this agent's heartbeat).
    pub agents: Vec<Value>,
}

/// Reads every collection the planner needs (concurrently).
pub async fn fetch(client: &NetworkClient) -> Result<ApiSnapshot, AgentError> {
    let (networks, subnets, ports, routers, floatingips, security_groups) = tokio::try_join!(
        client.list("networks"),
        client.list("subnets"),
        client.list("ports"),
        client.list("routers"),
        client.list("floatingips"),
        client.list("security-groups"),
    )?;
    Ok(ApiSnapshot {
        networks,
        subnets,
        ports,
        routers,
        floatingips,
        security_groups,
        agents: Vec::new(),
    })
}

/// A converted snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Converted {
    /// The planner's input.
    pub topology: Topology,
    /// Documents left out, and why.
    pub skipped: Vec<String>,
}

fn text<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

fn ip(v: &Value) -> Option<IpAddr> {
    v.as_str()?.parse().ok()
}

/// `[{"destination": cidr, "nexthop": ip}]` (host routes, extra routes).
fn routes(v: Option<&Value>) -> Vec<(IpNet, IpAddr)> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let dst: IpNet = text(r, "destination").parse().ok()?;
                    Some((dst, ip(r.get("nexthop")?)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A network (an error for segment types the data plane does not carry).
pub fn network(doc: &Value) -> Result<Network, String> {
    let id = text(doc, "id").to_owned();
    let mtu = doc
        .get("mtu")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(1500);
    let segment = match text(doc, "provider:network_type") {
        "vxlan" => {
            let vni = doc
                .get("provider:segmentation_id")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| format!("network {id}: vxlan without a segmentation id"))?;
            Segment::Vxlan { vni }
        }
        "flat" => Segment::Flat {
            physical_network: text(doc, "provider:physical_network").to_owned(),
        },
        "local" => Segment::Local,
        "" => {
            return Err(format!(
                "network {id}: no provider attributes (is the agent's token admin?)"
            ))
        }
        other => {
            return Err(format!(
                "network {id}: network type {other:?} is not carried"
            ))
        }
    };
    Ok(Network { id, mtu, segment })
}

/// A subnet.
pub fn subnet(doc: &Value) -> Result<Subnet, String> {
    let id = text(doc, "id").to_owned();
    let cidr: IpNet = text(doc, "cidr")
        .parse()
        .map_err(|_| format!("subnet {id}: bad cidr {:?}", text(doc, "cidr")))?;
    Ok(Subnet {
        network_id: text(doc, "network_id").to_owned(),
        cidr,
        gateway_ip: doc.get("gateway_ip").and_then(ip),
        enable_dhcp: doc
            .get("enable_dhcp")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        dns_nameservers: doc
            .get("dns_nameservers")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(ip).collect())
            .unwrap_or_default(),
        host_routes: routes(doc.get("host_routes")),
        id,
    })
}

/// A port.
pub fn port(doc: &Value) -> Result<Port, String> {
    let id = text(doc, "id").to_owned();
    let fixed_ips = doc
        .get("fixed_ips")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    Some(FixedIp {
                        subnet_id: text(f, "subnet_id").to_owned(),
                        ip_address: ip(f.get("ip_address")?)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if text(doc, "mac_address").is_empty() {
        return Err(format!("port {id}: no MAC address"));
    }
    let allowed_address_pairs = doc
        .get("allowed_address_pairs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    let ip = text(p, "ip_address")
                        .parse()
                        .map_err(|e| format!("port {id}: allowed address pair: {e}"))?;
                    let mac = Some(text(p, "mac_address").to_owned()).filter(|m| !m.is_empty());
                    Ok(AddressPair { ip, mac })
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(Port {
        network_id: text(doc, "network_id").to_owned(),
        mac_address: text(doc, "mac_address").to_owned(),
        fixed_ips,
        device_owner: text(doc, "device_owner").to_owned(),
        device_id: text(doc, "device_id").to_owned(),
        // Absent means enabled (Neutron's default; the port-security extension adds it).
        port_security_enabled: doc
            .get("port_security_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        security_group_ids: doc
            .get("security_groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        allowed_address_pairs,
        id,
    })
}

/// A security group rule.
pub fn security_group_rule(doc: &Value) -> Result<SecurityGroupRule, String> {
    let id = text(doc, "id").to_owned();
    let direction = match text(doc, "direction") {
        "ingress" => Direction::Ingress,
        "egress" => Direction::Egress,
        other => return Err(format!("rule {id}: direction {other:?}")),
    };
    let ethertype = match text(doc, "ethertype") {
        "IPv4" => EtherType::Ipv4,
        "IPv6" => EtherType::Ipv6,
        other => return Err(format!("rule {id}: ethertype {other:?}")),
    };
    let protocol = match doc.get("protocol") {
        Some(Value::String(p)) => Some(p.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let port = |key: &str| {
        doc.get(key)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
    };
    let opt = |key: &str| Some(text(doc, key).to_owned()).filter(|v| !v.is_empty());
    let remote_ip_prefix = opt("remote_ip_prefix")
        .map(|p| {
            p.parse()
                .map_err(|e| format!("rule {id}: remote_ip_prefix: {e}"))
        })
        .transpose()?;
    Ok(SecurityGroupRule {
        direction,
        ethertype,
        protocol,
        port_range_min: port("port_range_min"),
        port_range_max: port("port_range_max"),
        remote_ip_prefix,
        remote_group_id: opt("remote_group_id"),
        remote_address_group_id: opt("remote_address_group_id"),
        id,
    })
}

/// A security group with its `security_group_rules`; a rule that cannot be converted is
/// left out (noted in `skipped`), the rest of the group still applies.
pub fn security_group(doc: &Value, skipped: &mut Vec<String>) -> SecurityGroup {
    let rules = doc
        .get("security_group_rules")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    SecurityGroup {
        id: text(doc, "id").to_owned(),
        rules: convert(rules, security_group_rule, skipped),
    }
}

/// A router.
pub fn router(doc: &Value) -> Result<Router, String> {
    let gw = doc.get("external_gateway_info").filter(|g| g.is_object());
    Ok(Router {
        id: text(doc, "id").to_owned(),
        enable_snat: gw
            .map(|g| {
                g.get("enable_snat")
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            })
            .unwrap_or(false),
        routes: routes(doc.get("routes")),
    })
}

/// A floating IP.
pub fn floating_ip(doc: &Value) -> Result<FloatingIp, String> {
    let id = text(doc, "id").to_owned();
    let floating_ip_address = doc
        .get("floating_ip_address")
        .and_then(ip)
        .ok_or_else(|| format!("floating ip {id}: no address"))?;
    Ok(FloatingIp {
        floating_ip_address,
        fixed_ip_address: doc.get("fixed_ip_address").and_then(ip),
        router_id: Some(text(doc, "router_id").to_owned()).filter(|r| !r.is_empty()),
        id,
    })
}

/// The VXLAN endpoints of the live agents (`configurations.tunneling_ip`), this
/// host's included (the planner leaves out its own).
pub fn remote_vteps(agents: &[Value]) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = agents
        .iter()
        .filter(|a| a.get("alive").and_then(Value::as_bool).unwrap_or(false))
        .filter_map(|a| ip(a.get("configurations")?.get("tunneling_ip")?))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn convert<T>(
    docs: &[Value],
    f: fn(&Value) -> Result<T, String>,
    skipped: &mut Vec<String>,
) -> Vec<T> {
    docs.iter()
        .filter_map(|d| f(d).map_err(|e| skipped.push(e)).ok())
        .collect()
}

/// Converts a snapshot. Subnets, ports and floating IPs of networks that were skipped
/// go with them (the planner only sees consistent input).
pub fn to_topology(snap: &ApiSnapshot) -> Converted {
    let mut skipped = Vec::new();
    let networks = convert(&snap.networks, network, &mut skipped);
    let known = |net: &str| networks.iter().any(|n| n.id == net);
    let subnets: Vec<Subnet> = convert(&snap.subnets, subnet, &mut skipped)
        .into_iter()
        .filter(|s| known(&s.network_id))
        .collect();
    let ports: Vec<Port> = convert(&snap.ports, port, &mut skipped)
        .into_iter()
        .filter(|p| known(&p.network_id))
        .collect();
    let security_groups = snap
        .security_groups
        .iter()
        .map(|g| security_group(g, &mut skipped))
        .collect();
    let topology = Topology {
        security_groups,
        routers: convert(&snap.routers, router, &mut skipped),
        floating_ips: convert(&snap.floatingips, floating_ip, &mut skipped),
        remote_vteps: remote_vteps(&snap.agents),
        networks,
        subnets,
        ports,
        ..Topology::default()
    };
    Converted { topology, skipped }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn snapshot() -> ApiSnapshot {
        ApiSnapshot {
            networks: vec![
                json!({"id": "net-vx", "mtu": 1450, "provider:network_type": "vxlan", "provider:segmentation_id": 42}),
                json!({"id": "net-ext", "mtu": 1500, "provider:network_type": "flat", "provider:physical_network": "public"}),
                json!({"id": "net-vlan", "mtu": 1500, "provider:network_type": "vlan", "provider:segmentation_id": 7}),
            ],
            subnets: vec![
                json!({"id": "sn1", "network_id": "net-vx", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1",
                       "enable_dhcp": true, "dns_nameservers": ["192.0.2.53"],
                       "host_routes": [{"destination": "198.51.100.0/24", "nexthop": "10.0.0.254"}]}),
                json!({"id": "sn-ext", "network_id": "net-ext", "cidr": "172.24.4.0/24", "gateway_ip": null, "enable_dhcp": false}),
                json!({"id": "sn-vlan", "network_id": "net-vlan", "cidr": "10.7.0.0/24", "enable_dhcp": true}),
                json!({"id": "sn-bad", "network_id": "net-vx", "cidr": "not-a-cidr"}),
            ],
            ports: vec![
                json!({"id": "p1", "network_id": "net-vx", "mac_address": "fa:16:3e:00:00:01",
                       "fixed_ips": [{"subnet_id": "sn1", "ip_address": "10.0.0.5"}],
                       "device_owner": "compute:nova", "device_id": "vm1"}),
                json!({"id": "p-vlan", "network_id": "net-vlan", "mac_address": "fa:16:3e:00:00:02", "fixed_ips": []}),
            ],
            routers: vec![
                json!({"id": "r1", "external_gateway_info": {"network_id": "net-ext"},
                       "routes": [{"destination": "203.0.113.0/24", "nexthop": "10.0.0.9"}]}),
                json!({"id": "r2", "external_gateway_info": {"network_id": "net-ext", "enable_snat": false}}),
                json!({"id": "r3", "external_gateway_info": null}),
            ],
            floatingips: vec![
                json!({"id": "f1", "floating_ip_address": "172.24.4.10", "fixed_ip_address": "10.0.0.5", "router_id": "r1"}),
                json!({"id": "f2", "floating_ip_address": "172.24.4.11", "fixed_ip_address": null, "router_id": null}),
            ],
            security_groups: vec![],
            agents: vec![],
        }
    }

    #[test]
    fn documents_become_the_planner_input() {
        let c = to_topology(&snapshot());
        let t = &c.topology;
        assert_eq!(
            t.networks,
            vec![
                Network {
                    id: "net-vx".into(),
                    mtu: 1450,
                    segment: Segment::Vxlan { vni: 42 }
                },
                Network {
                    id: "net-ext".into(),
                    mtu: 1500,
                    segment: Segment::Flat {
                        physical_network: "public".into()
                    }
                },
            ]
        );
        let sn1 = &t.subnets[0];
        assert_eq!(sn1.cidr, "10.0.0.0/24".parse().unwrap());
        assert_eq!(sn1.gateway_ip, Some("10.0.0.1".parse().unwrap()));
        assert!(sn1.enable_dhcp);
        assert_eq!(
            sn1.dns_nameservers,
            vec!["192.0.2.53".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            sn1.host_routes,
            vec![(
                "198.51.100.0/24".parse().unwrap(),
                "10.0.0.254".parse().unwrap()
            )]
        );
        assert_eq!(t.subnets[1].gateway_ip, None);
        assert_eq!(
            t.subnets.len(),
            2,
            "the vlan network's and the bad subnet are left out"
        );
        assert_eq!(t.ports.len(), 1);
        let p = &t.ports[0];
        assert_eq!(
            (p.id.as_str(), p.device_owner.as_str(), p.device_id.as_str()),
            ("p1", "compute:nova", "vm1")
        );
        assert_eq!(
            p.fixed_ips,
            vec![FixedIp {
                subnet_id: "sn1".into(),
                ip_address: "10.0.0.5".parse().unwrap()
            }]
        );
        assert_eq!(
            t.routers
                .iter()
                .map(|r| (r.id.as_str(), r.enable_snat))
                .collect::<Vec<_>>(),
            vec![("r1", true), ("r2", false), ("r3", false)]
        );
        assert_eq!(
            t.routers[0].routes,
            vec![(
                "203.0.113.0/24".parse().unwrap(),
                "10.0.0.9".parse().unwrap()
            )]
        );
        assert_eq!(
            t.floating_ips[0].fixed_ip_address,
            Some("10.0.0.5".parse().unwrap())
        );
        assert_eq!(t.floating_ips[0].router_id.as_deref(), Some("r1"));
        assert_eq!(t.floating_ips[1].router_id, None);
        assert_eq!(c.skipped.len(), 2, "{:?}", c.skipped);
        assert!(c.skipped.iter().any(|s| s.contains("\"vlan\"")));
        assert!(c.skipped.iter().any(|s| s.contains("sn-bad")));
    }

    #[test]
    fn ports_and_security_groups_carry_the_security_data() {
        let mut snap = snapshot();
        snap.ports = vec![
            json!({"id": "p1", "network_id": "net-vx", "mac_address": "fa:16:3e:00:00:01",
                   "fixed_ips": [{"subnet_id": "sn1", "ip_address": "10.0.0.5"}],
                   "device_owner": "compute:nova", "device_id": "vm1",
                   "port_security_enabled": true, "security_groups": ["sg1"],
                   "allowed_address_pairs": [{"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:00:00:01"},
                                             {"ip_address": "10.1.0.0/24"}]}),
            json!({"id": "p2", "network_id": "net-vx", "mac_address": "fa:16:3e:00:00:02",
                   "port_security_enabled": false, "security_groups": [], "allowed_address_pairs": []}),
            json!({"id": "p3", "network_id": "net-vx", "mac_address": "fa:16:3e:00:00:03",
                   "allowed_address_pairs": [{"ip_address": "not-an-ip"}]}),
        ];
        snap.security_groups = vec![json!({"id": "sg1", "security_group_rules": [
            {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
             "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "192.0.2.0/24",
             "remote_group_id": null, "security_group_id": "sg1"},
            {"id": "r2", "direction": "ingress", "ethertype": "IPv6", "protocol": null,
             "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null,
             "remote_group_id": "sg1", "security_group_id": "sg1"},
            {"id": "r3", "direction": "sideways", "ethertype": "IPv4"}
        ]})];
        let c = to_topology(&snap);
        let t = &c.topology;
        assert_eq!(t.ports.len(), 2, "{:?}", c.skipped);
        assert!(c.skipped.iter().any(|s| s.contains("p3")));
        assert!(c.skipped.iter().any(|s| s.contains("r3")));
        let p1 = &t.ports[0];
        assert!(p1.port_security_enabled);
        assert_eq!(p1.security_group_ids, vec!["sg1".to_string()]);
        assert_eq!(
            p1.allowed_address_pairs,
            vec![
                AddressPair {
                    ip: "10.0.0.100/32".parse().unwrap(),
                    mac: Some("fa:16:3e:00:00:01".into())
                },
                AddressPair {
                    ip: "10.1.0.0/24".parse().unwrap(),
                    mac: None
                }
            ]
        );
        assert!(!t.ports[1].port_security_enabled);
        let g = &t.security_groups[0];
        assert_eq!(g.rules.len(), 2);
        assert_eq!(
            g.rules[0],
            SecurityGroupRule {
                id: "r1".into(),
                direction: Direction::Ingress,
                ethertype: EtherType::Ipv4,
                protocol: Some("tcp".into()),
                port_range_min: Some(22),
                port_range_max: Some(22),
                remote_ip_prefix: Some("192.0.2.0/24".parse().unwrap()),
                remote_group_id: None,
                remote_address_group_id: None,
            }
        );
        assert_eq!(g.rules[1].remote_group_id.as_deref(), Some("sg1"));
        assert_eq!(g.rules[1].protocol, None);
        // The plan filters p1 and leaves p2 alone.
        let d = rustack_hostops::dataplane::plan(t, &Default::default());
        assert!(d.sg_ports.contains_key("tapp1"));
        assert!(!d.sg_ports.contains_key("tapp2"));
    }

    #[test]
    fn live_agents_give_the_remote_vteps() {
        let agents = vec![
            json!({"host": "a", "alive": true, "configurations": {"tunneling_ip": "192.0.2.2"}}),
            json!({"host": "b", "alive": false, "configurations": {"tunneling_ip": "192.0.2.3"}}),
            json!({"host": "c", "alive": true, "configurations": {"tunneling_ip": null}}),
            json!({"host": "d", "alive": true, "configurations": {"tunneling_ip": "192.0.2.1"}}),
        ];
        assert_eq!(
            remote_vteps(&agents),
            vec![
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "192.0.2.2".parse().unwrap()
            ]
        );
        let mut snap = snapshot();
        snap.agents = agents;
        assert_eq!(to_topology(&snap).topology.remote_vteps.len(), 2);
    }

    #[test]
    fn a_network_without_provider_attributes_says_why() {
        let e = network(&json!({"id": "n", "mtu": 1450})).unwrap_err();
        assert!(e.contains("admin"), "{e}");
        let e = network(&json!({"id": "n", "provider:network_type": "vxlan"})).unwrap_err();
        assert!(e.contains("segmentation"), "{e}");
    }

    #[test]
    fn the_plan_of_a_converted_snapshot_serves_dhcp_and_plugs_the_port() {
        let mut snap = snapshot();
        snap.ports.push(json!({"id": "pdhcp", "network_id": "net-vx", "mac_address": "fa:16:3e:00:00:03",
            "fixed_ips": [{"subnet_id": "sn1", "ip_address": "10.0.0.2"}], "device_owner": "network:dhcp", "device_id": "dhcpx-net-vx"}));
        let t = to_topology(&snap).topology;
        let d = rustack_hostops::dataplane::plan(&t, &Default::default());
        let dhcp = &d.dhcp["net-vx"];
        assert_eq!(dhcp.leases.len(), 1);
        assert_eq!(dhcp.leases[0].ip, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert!(d
            .plugs
            .contains_key(&rustack_hostops::dataplane::naming::tap("p1")));
    }
}
