//! The host side of the metadata service (169.254.169.254), as Neutron's agents lay it
//! out; the proxy itself is `rustack-metadata`, fed from [`DesiredState::metadata_proxies`].
//!
//! - DHCP leg (`enable_isolated_metadata`, `force_metadata` of Neutron's DHCP agent): a
//!   subnet is *isolated* when no router interface holds its gateway address. When
//!   metadata is forced, or enabled for isolated networks and the network has an isolated
//!   DHCP subnet, the DHCP port's interface also gets `169.254.169.254/32` and the proxy
//!   listens there on port 80. Per IPv4 DHCP subnet, the classless static route
//!   (options 121/249) `169.254.169.254/32` goes via the DHCP port's address (forced, or
//!   isolated with isolated metadata on), else via the gateway when the subnet is routed
//!   (the router then answers, below).
//! - Router leg (`enable_metadata_proxy` of the L3 agent): a router with internal
//!   interfaces redirects `169.254.169.254:80` arriving on `qr-*` to its local port 9697
//!   where the proxy listens (`0.0.0.0:9697`), in its `rustack-nat` table; an input rule
//!   in the same table drops that port on every other interface, so the external
//!   network cannot reach the proxy.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Value};

use super::model::{HostConfig, Topology};
use super::naming;
use super::plan::DesiredState;
use crate::net::IpNet;
use crate::nft::{Chain, Family, Hook, Table};

/// The metadata address.
pub const METADATA_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

const ROUTER_INTERFACE_OWNERS: &[&str] = &[
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
];

/// Metadata switches of the DHCP and L3 agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataOptions {
    /// Serve metadata from the DHCP namespace of networks with an isolated subnet
    /// (Neutron's `enable_isolated_metadata`; rustack's default is on, as Kolla's).
    pub enable_isolated_metadata: bool,
    /// Serve metadata from every DHCP namespace and route it there (`force_metadata`).
    pub force_metadata: bool,
    /// Serve metadata from router namespaces (the L3 agent's `enable_metadata_proxy`).
    pub enable_metadata_proxy: bool,
    /// Proxy port in DHCP namespaces (80).
    pub dhcp_port: u16,
    /// Proxy port in router namespaces (9697).
    pub router_port: u16,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            enable_isolated_metadata: true,
            force_metadata: false,
            enable_metadata_proxy: true,
            dhcp_port: 80,
            router_port: 9697,
        }
    }
}

/// Whose guests a proxy listener serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MetadataScope {
    /// A network (listener in its `qdhcp-` namespace).
    Network(String),
    /// A router (listener in its `qrouter-` namespace).
    Router(String),
}

/// One metadata proxy listener the host should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataListener {
    /// Scope of source-address attribution.
    pub scope: MetadataScope,
    /// Address to bind inside the namespace.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
}

fn metadata_net() -> IpNet {
    IpNet::host(IpAddr::V4(METADATA_ADDR))
}

/// Subnet id -> isolated (no router interface holds its gateway address).
fn isolated(topo: &Topology) -> BTreeMap<&str, bool> {
    topo.subnets
        .iter()
        .map(|s| {
            let routed = s.gateway_ip.is_some_and(|gw| {
                topo.ports.iter().any(|p| {
                    ROUTER_INTERFACE_OWNERS.contains(&p.device_owner.as_str())
                        && p.fixed_ips
                            .iter()
                            .any(|f| f.subnet_id == s.id && f.ip_address == gw)
                })
            });
            (s.id.as_str(), !routed)
        })
        .collect()
}

/// Adds the metadata plumbing to a planned state.
pub(super) fn plan(topo: &Topology, cfg: &HostConfig, d: &mut DesiredState) {
    let o = &cfg.metadata;
    let isolated = isolated(topo);
    let subnets: BTreeMap<&str, _> = topo.subnets.iter().map(|s| (s.id.as_str(), s)).collect();
    for (net_id, dhcp) in d.dhcp.iter_mut() {
        let Some(ns) = dhcp.netns.clone() else {
            continue;
        };
        let key = (ns.clone(), dhcp.interface.clone());
        let port_addrs: Vec<IpNet> = d.addrs.get(&key).into_iter().flatten().copied().collect();
        let mut any_isolated = false;
        for s in dhcp.subnets.iter_mut().filter(|s| s.cidr.addr.is_ipv4()) {
            let id = s.tag.strip_prefix("subnet-").unwrap_or(&s.tag);
            let iso = isolated.get(id).copied().unwrap_or(true);
            any_isolated |= iso;
            let dhcp_ip = port_addrs
                .iter()
                .find(|a| {
                    IpNet {
                        addr: a.addr,
                        prefix: s.cidr.prefix,
                    }
                    .network()
                        == s.cidr.network()
                })
                .map(|a| a.addr);
            let gateway = subnets.get(id).and_then(|sub| sub.gateway_ip);
            let via = if o.force_metadata || (iso && o.enable_isolated_metadata) {
                dhcp_ip
            } else if !iso {
                gateway
            } else {
                None
            };
            if let Some(via) = via {
                s.routes.retain(|(dst, _)| *dst != metadata_net());
                s.routes.push((metadata_net(), via));
            }
        }
        if o.force_metadata || (o.enable_isolated_metadata && any_isolated) {
            d.addrs.entry(key).or_default().insert(metadata_net());
            d.metadata_proxies.insert(
                ns,
                MetadataListener {
                    scope: MetadataScope::Network(net_id.clone()),
                    addr: IpAddr::V4(METADATA_ADDR),
                    port: o.dhcp_port,
                },
            );
        }
    }
    if !o.enable_metadata_proxy {
        return;
    }
    for r in &topo.routers {
        let ns = naming::router_netns(&cfg.netns_prefix, &r.id);
        let has_qr = d
            .veths
            .keys()
            .any(|(n, dev)| *n == ns && dev.starts_with("qr-"));
        if !has_qr {
            continue;
        }
        d.metadata_proxies.insert(
            ns.clone(),
            MetadataListener {
                scope: MetadataScope::Router(r.id.clone()),
                addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: o.router_port,
            },
        );
        let tables = d.tables.entry(ns).or_default();
        let pos = match tables.iter().position(|t| t.name == naming::NAT_TABLE) {
            Some(p) => p,
            None => {
                tables.push(nat_table());
                tables.len() - 1
            }
        };
        let nat = &mut tables[pos];
        if let Some(pre) = nat.chains.iter_mut().find(|c| c.name == "prerouting") {
            pre.rules.insert(0, redirect_rule(o.router_port));
        }
        nat.chains.push(Chain {
            name: "input".into(),
            hook: Some(hook("filter", "input", 0)),
            rules: vec![guard_rule(o.router_port)],
        });
    }
}

fn hook(chain_type: &str, hook: &str, priority: i32) -> Hook {
    Hook {
        chain_type: chain_type.into(),
        hook: hook.into(),
        priority,
        policy: "accept".into(),
    }
}

/// An empty NAT table for a router without gateway (same chains as the planner's).
fn nat_table() -> Table {
    let chain = |name: &str, h: &str, prio: i32| Chain {
        name: name.into(),
        hook: Some(hook("nat", h, prio)),
        rules: vec![],
    };
    Table {
        family: Family::Ip,
        name: naming::NAT_TABLE.into(),
        sets: vec![],
        chains: vec![
            chain("prerouting", "prerouting", -100),
            chain("output", "output", -100),
            chain("postrouting", "postrouting", 100),
        ],
    }
}

fn tcp_dport(port: u16) -> Value {
    json!({"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": port}})
}

/// `iifname "qr-*" ip daddr 169.254.169.254 tcp dport 80 redirect to :<port>`
fn redirect_rule(port: u16) -> Vec<Value> {
    vec![
        crate::nft::expr::iifname("qr-*"),
        crate::nft::expr::daddr(metadata_net()),
        tcp_dport(80),
        json!({"redirect": {"port": port}}),
    ]
}

/// `iifname != "qr-*" tcp dport <port> drop`
fn guard_rule(port: u16) -> Vec<Value> {
    vec![
        json!({"match": {"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "qr-*"}}),
        tcp_dport(port),
        json!({"drop": null}),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::dataplane::model::{FixedIp, Network, Port, Router, Segment, Subnet};
    use crate::dataplane::{plan as plan_all, Reconciler};
    use crate::fake::FakeHost;

    const NET: &str = "11111111-aaaa-4aaa-8aaa-000000000001";
    const ROUTER: &str = "33333333-cccc-4ccc-8ccc-000000000003";

    fn port(id: &str, ip: &str, owner: &str, device: &str) -> Port {
        Port {
            id: id.into(),
            network_id: NET.into(),
            mac_address: "fa:16:3e:00:00:99".into(),
            fixed_ips: vec![FixedIp {
                subnet_id: "sub".into(),
                ip_address: ip.parse().unwrap(),
            }],
            device_owner: owner.into(),
            device_id: device.into(),
            ..Port::default()
        }
    }

    /// A network with DHCP and one instance; `routed` adds a router holding the gateway.
    fn topo(routed: bool) -> Topology {
        let mut t = Topology {
            networks: vec![Network {
                id: NET.into(),
                mtu: 1450,
                segment: Segment::Local,
            }],
            subnets: vec![Subnet {
                id: "sub".into(),
                network_id: NET.into(),
                cidr: "10.0.0.0/24".parse().unwrap(),
                gateway_ip: Some("10.0.0.1".parse().unwrap()),
                enable_dhcp: true,
                dns_nameservers: vec![],
                host_routes: vec![],
            }],
            ports: vec![
                port(
                    "dddddddd-0000-0000-0000-000000000002",
                    "10.0.0.2",
                    "network:dhcp",
                    "dhcp",
                ),
                port(
                    "aaaaaaaa-0000-0000-0000-000000000011",
                    "10.0.0.11",
                    "compute:nova",
                    "vm1",
                ),
            ],
            ..Topology::default()
        };
        if routed {
            t.routers.push(Router {
                id: ROUTER.into(),
                enable_snat: false,
                routes: vec![],
            });
            t.ports.push(port(
                "cccccccc-0000-0000-0000-000000000001",
                "10.0.0.1",
                "network:router_interface",
                ROUTER,
            ));
        }
        t
    }

    fn dhcp_key() -> (String, String) {
        (format!("qdhcp-{NET}"), "ns-dddddddd-00".to_string())
    }

    fn cfg(f: impl FnOnce(&mut MetadataOptions)) -> HostConfig {
        let mut c = HostConfig::default();
        f(&mut c.metadata);
        c
    }

    fn addrs(d: &DesiredState) -> Vec<String> {
        d.addrs[&dhcp_key()]
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn isolated_network_is_served_from_the_dhcp_namespace() {
        let d = plan_all(&topo(false), &HostConfig::default());
        assert_eq!(addrs(&d), ["10.0.0.2/24", "169.254.169.254/32"]);
        let opts = d.dhcp[NET].opts_file();
        assert!(
            opts.contains(
                "option:classless-static-route,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1"
            ),
            "{opts}"
        );
        assert!(
            opts.contains("249,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1"),
            "{opts}"
        );
        assert_eq!(
            d.metadata_proxies[&dhcp_key().0],
            MetadataListener {
                scope: MetadataScope::Network(NET.into()),
                addr: "169.254.169.254".parse().unwrap(),
                port: 80,
            }
        );
        assert_eq!(d.metadata_proxies.len(), 1);
        assert!(d.tables.is_empty());
    }

    #[test]
    fn routed_network_is_served_from_the_router() {
        let d = plan_all(&topo(true), &HostConfig::default());
        assert_eq!(
            addrs(&d),
            ["10.0.0.2/24"],
            "not isolated: no metadata address"
        );
        let opts = d.dhcp[NET].opts_file();
        assert!(
            opts.contains("classless-static-route,169.254.169.254/32,10.0.0.1,0.0.0.0/0,10.0.0.1"),
            "route via the router: {opts}"
        );
        let qrouter = format!("qrouter-{ROUTER}");
        assert_eq!(d.metadata_proxies.len(), 1);
        assert_eq!(
            d.metadata_proxies[&qrouter],
            MetadataListener {
                scope: MetadataScope::Router(ROUTER.into()),
                addr: "0.0.0.0".parse().unwrap(),
                port: 9697,
            }
        );
        // A router without gateway still gets a NAT table, holding only the redirect.
        let nat = &d.tables[&qrouter][0];
        assert_eq!(nat.name, naming::NAT_TABLE);
        let rules: Vec<(&str, usize)> = nat
            .chains
            .iter()
            .map(|c| (c.name.as_str(), c.rules.len()))
            .collect();
        assert_eq!(
            rules,
            [
                ("prerouting", 1),
                ("output", 0),
                ("postrouting", 0),
                ("input", 1)
            ]
        );
        let pre = serde_json::to_string(&nat.chains[0].rules[0]).unwrap();
        for part in [
            "\"qr-*\"",
            "169.254.169.254",
            "\"protocol\":\"tcp\"}},\"op\":\"==\",\"right\":80",
            "{\"redirect\":{\"port\":9697}}",
        ] {
            assert!(pre.contains(part), "{part} in {pre}");
        }
        let input = serde_json::to_string(&nat.chains[3].rules[0]).unwrap();
        assert!(
            input.contains("\"op\":\"!=\"") && input.contains("9697") && input.contains("drop"),
            "{input}"
        );
    }

    #[test]
    fn switches() {
        // force_metadata: the DHCP namespace serves even a routed network.
        let d = plan_all(&topo(true), &cfg(|m| m.force_metadata = true));
        assert_eq!(addrs(&d), ["10.0.0.2/24", "169.254.169.254/32"]);
        assert!(d.dhcp[NET]
            .opts_file()
            .contains("169.254.169.254/32,10.0.0.2,"));
        assert_eq!(d.metadata_proxies.len(), 2);
        // Isolated metadata off: an isolated network gets neither address nor route.
        let d = plan_all(&topo(false), &cfg(|m| m.enable_isolated_metadata = false));
        assert_eq!(addrs(&d), ["10.0.0.2/24"]);
        assert!(!d.dhcp[NET].opts_file().contains("169.254"));
        assert!(d.metadata_proxies.is_empty());
        // No router proxy: no listener, no table for a gateway-less router.
        let d = plan_all(&topo(true), &cfg(|m| m.enable_metadata_proxy = false));
        assert!(d.metadata_proxies.is_empty());
        assert!(d.tables.is_empty());
        // A router with no interface serves nobody.
        let mut t = topo(true);
        t.ports
            .retain(|p| p.device_owner != "network:router_interface");
        assert!(plan_all(&t, &HostConfig::default())
            .metadata_proxies
            .keys()
            .all(|ns| ns.starts_with("qdhcp-")));
    }

    #[test]
    fn reconciled_on_the_fake_host() {
        let h = FakeHost::new();
        let rec = Reconciler::new(&h, &h, &h);
        let d = plan_all(&topo(true), &HostConfig::default());
        assert!(rec.reconcile(&d).is_ok());
        assert_eq!(rec.reconcile(&d).changes, vec![], "second pass is a no-op");
        let qrouter = format!("qrouter-{ROUTER}");
        {
            let s = h.lock();
            let t = &s.tables[&(
                Some(qrouter.clone()),
                Family::Ip,
                naming::NAT_TABLE.to_string(),
            )];
            assert_eq!(t.chains[0].rules[0], redirect_rule(9697));
        }
        // The router goes: its namespace and table go; the network becomes isolated and
        // its DHCP namespace takes over (address + route via the DHCP port).
        let d = plan_all(&topo(false), &HostConfig::default());
        let r = rec.reconcile(&d);
        assert!(r.is_ok(), "{:?}", r.errors);
        let s = h.lock();
        assert!(s.tables.is_empty());
        let (ns, dev) = dhcp_key();
        assert!(s.links[&Some(ns)][&dev].addrs.contains(&metadata_net()));
        assert!(s.dhcp[NET]
            .config
            .opts_file()
            .contains("169.254.169.254/32,10.0.0.2"));
    }
}
