//! The planner: a pure function from [`Topology`] + [`HostConfig`] to [`DesiredState`].
//! No I/O, so every rule of the layout is unit-tested here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::model::{HostConfig, Port, Segment, Subnet, Topology};
use super::naming;
use super::secgroup::{self, SgPort};
use crate::dhcp::{DhcpConfig, DhcpSubnet, Lease};
use crate::net::{IpNet, Route, VxlanParams};
use crate::nft::{expr, Chain, Family, Hook, Table};

/// A bridge in the host namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeDev {
    /// MTU.
    pub mtu: u32,
}

/// A VXLAN device in the host namespace, enslaved to a bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanDev {
    /// Parameters.
    pub params: VxlanParams,
    /// MTU.
    pub mtu: u32,
    /// Bridge.
    pub bridge: String,
    /// Remote VTEPs flooded through all-zero FDB entries.
    pub fdb: BTreeSet<IpAddr>,
}

/// A veth pair from a bridge in the host namespace into an owned namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethLeg {
    /// Host-side name (`tap...`), enslaved to `bridge`.
    pub outer: String,
    /// Bridge.
    pub bridge: String,
    /// MAC of the inner end (the port's MAC).
    pub mac: String,
    /// MTU of both ends.
    pub mtu: u32,
}

/// What the host should look like.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Namespace holding bridges (`None`: the agent's own).
    pub host_netns: Option<String>,
    /// Prefix of owned namespaces.
    pub netns_prefix: String,
    /// Owned namespaces.
    pub namespaces: BTreeSet<String>,
    /// Bridges by name.
    pub bridges: BTreeMap<String, BridgeDev>,
    /// VXLAN devices by name.
    pub vxlans: BTreeMap<String, VxlanDev>,
    /// Veth legs by (owned namespace, inner name).
    pub veths: BTreeMap<(String, String), VethLeg>,
    /// Existing host devices (instance TAPs, physical NICs) to enslave when present:
    /// device -> bridge.
    pub plugs: BTreeMap<String, String>,
    /// Addresses by (owned namespace, device).
    pub addrs: BTreeMap<(String, String), BTreeSet<IpNet>>,
    /// Static routes by owned namespace.
    pub routes: BTreeMap<String, BTreeSet<Route>>,
    /// Sysctls by (owned namespace, key).
    pub sysctls: BTreeMap<(String, String), String>,
    /// nft tables by owned namespace.
    pub tables: BTreeMap<String, Vec<Table>>,
    /// nft tables of the host namespace (the security groups: see
    /// [`super::secgroup`]); applied together in one transaction.
    pub host_tables: Vec<Table>,
    /// Ports the security-group tables filter, by TAP name (for conntrack flushes).
    pub sg_ports: BTreeMap<String, SgPort>,
    /// dnsmasq instances by name (network id).
    pub dhcp: BTreeMap<String, DhcpConfig>,
    /// Metadata proxy listeners by owned namespace (the agent hands them to the proxy).
    pub metadata_proxies: BTreeMap<String, super::metadata::MetadataListener>,
    /// Things the planner could not place (logged by the agent).
    pub warnings: Vec<String>,
}

const OWNER_DHCP: &str = "network:dhcp";
const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";

/// The addresses of `port` with their subnets' prefix lengths.
fn port_addrs(port: &Port, subnets: &BTreeMap<&str, &Subnet>) -> BTreeSet<IpNet> {
    port.fixed_ips
        .iter()
        .filter_map(|f| {
            let s = subnets.get(f.subnet_id.as_str())?;
            IpNet::new(f.ip_address, s.cidr.prefix)
        })
        .collect()
}

fn nat_hook(hook: &str, priority: i32) -> Option<Hook> {
    Some(Hook {
        chain_type: "nat".into(),
        hook: hook.into(),
        priority,
        policy: "accept".into(),
    })
}

/// Compute the desired host state.
pub fn plan(topo: &Topology, cfg: &HostConfig) -> DesiredState {
    let mut d = DesiredState {
        host_netns: cfg.host_netns.clone(),
        netns_prefix: cfg.netns_prefix.clone(),
        ..DesiredState::default()
    };
    let subnets: BTreeMap<&str, &Subnet> =
        topo.subnets.iter().map(|s| (s.id.as_str(), s)).collect();
    let networks: BTreeMap<&str, _> = topo.networks.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut ports: Vec<&Port> = topo.ports.iter().collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));

    for net in networks.values() {
        let br = naming::bridge(&net.id);
        d.bridges.insert(br.clone(), BridgeDev { mtu: net.mtu });
        match &net.segment {
            Segment::Vxlan { vni } => {
                if let Some(v) = &cfg.vtep {
                    d.vxlans.insert(
                        naming::vxlan(*vni),
                        VxlanDev {
                            params: VxlanParams {
                                vni: *vni,
                                local: Some(v.local),
                                remote: v.remote,
                                dstport: v.dstport,
                                dev: v.dev.clone(),
                            },
                            mtu: net.mtu,
                            bridge: br.clone(),
                            fdb: topo
                                .remote_vteps
                                .iter()
                                .copied()
                                .chain(v.remote)
                                .filter(|r| *r != v.local)
                                .collect(),
                        },
                    );
                }
            }
            Segment::Flat { physical_network } => match cfg.physical_interfaces.get(physical_network) {
                Some(dev) => {
                    d.plugs.insert(dev.clone(), br.clone());
                }
                None => d.warnings.push(format!(
                    "network {}: physical network {physical_network:?} has no interface on this host",
                    net.id
                )),
            },
            Segment::Local => {}
        }
        let net_ports: Vec<&Port> = ports
            .iter()
            .copied()
            .filter(|p| p.network_id == net.id)
            .collect();
        // Instance ports: enslave their TAP when compute has created it.
        for p in &net_ports {
            if !p.device_owner.starts_with("network:") {
                d.plugs.insert(naming::tap(&p.id), br.clone());
            }
        }
        // DHCP: IPv4 subnets with enable_dhcp, served from the network's DHCP port.
        // TODO-compat (issue 4): IPv6 (SLAAC/dhcpv6-stateless) and extra_dhcp_opts.
        let dhcp_subnets: Vec<&Subnet> = topo
            .subnets
            .iter()
            .filter(|s| s.network_id == net.id && s.enable_dhcp && s.cidr.addr.is_ipv4())
            .collect();
        if dhcp_subnets.is_empty() {
            continue;
        }
        let Some(dport) = net_ports.iter().find(|p| p.device_owner == OWNER_DHCP) else {
            d.warnings.push(format!(
                "network {}: DHCP is enabled but there is no network:dhcp port",
                net.id
            ));
            continue;
        };
        let ns = naming::dhcp_netns(&cfg.netns_prefix, &net.id);
        let inner = naming::dhcp_interface(&dport.id);
        d.namespaces.insert(ns.clone());
        d.veths.insert(
            (ns.clone(), inner.clone()),
            VethLeg {
                outer: naming::tap(&dport.id),
                bridge: br.clone(),
                mac: dport.mac_address.clone(),
                mtu: net.mtu,
            },
        );
        d.addrs
            .insert((ns.clone(), inner.clone()), port_addrs(dport, &subnets));
        let dhcp_ids: BTreeSet<&str> = dhcp_subnets.iter().map(|s| s.id.as_str()).collect();
        let leases = net_ports
            .iter()
            .filter(|p| p.id != dport.id)
            .flat_map(|p| {
                p.fixed_ips
                    .iter()
                    .filter(|f| dhcp_ids.contains(f.subnet_id.as_str()))
                    .map(|f| Lease {
                        mac: p.mac_address.to_ascii_lowercase(),
                        hostname: naming::dhcp_hostname(f.ip_address),
                        ip: f.ip_address,
                    })
            })
            .collect();
        d.dhcp.insert(
            net.id.clone(),
            DhcpConfig {
                name: net.id.clone(),
                netns: Some(ns),
                interface: inner,
                subnets: dhcp_subnets
                    .iter()
                    .map(|s| DhcpSubnet {
                        tag: format!("subnet-{}", s.id),
                        cidr: IpNet {
                            addr: s.cidr.network(),
                            prefix: s.cidr.prefix,
                        },
                        lease_secs: cfg.dhcp_lease_secs,
                        router: s.gateway_ip,
                        dns_servers: s.dns_nameservers.clone(),
                        routes: s.host_routes.clone(),
                    })
                    .collect(),
                leases,
                mtu: Some(net.mtu),
                domain: cfg.dhcp_domain.clone(),
            },
        );
    }

    for r in &topo.routers {
        let ns = naming::router_netns(&cfg.netns_prefix, &r.id);
        d.namespaces.insert(ns.clone());
        d.sysctls
            .insert((ns.clone(), "net.ipv4.ip_forward".into()), "1".into());
        let mut leg = |p: &Port, inner: String| -> Option<BTreeSet<IpNet>> {
            let Some(net) = networks.get(p.network_id.as_str()) else {
                d.warnings.push(format!(
                    "router {}: port {} is on an unknown network",
                    r.id, p.id
                ));
                return None;
            };
            d.veths.insert(
                (ns.clone(), inner.clone()),
                VethLeg {
                    outer: naming::tap(&p.id),
                    bridge: naming::bridge(&net.id),
                    mac: p.mac_address.clone(),
                    mtu: net.mtu,
                },
            );
            let a = port_addrs(p, &subnets);
            d.addrs.insert((ns.clone(), inner), a.clone());
            Some(a)
        };
        let mut internal: Vec<IpNet> = Vec::new();
        for p in ports
            .iter()
            .filter(|p| p.device_owner == OWNER_ROUTER_INTERFACE && p.device_id == r.id)
        {
            if let Some(a) = leg(p, naming::router_interface(&p.id)) {
                internal.extend(a.iter().filter(|a| a.addr.is_ipv4()).map(|a| IpNet {
                    addr: a.network(),
                    prefix: a.prefix,
                }));
            }
        }
        let gw = ports
            .iter()
            .find(|p| p.device_owner == OWNER_ROUTER_GATEWAY && p.device_id == r.id);
        let mut routes = BTreeSet::new();
        for (dst, via) in &r.routes {
            routes.insert(Route {
                dst: *dst,
                via: Some(*via),
                dev: None,
            });
        }
        if let Some(gw) = gw {
            let qg = naming::router_gateway(&gw.id);
            let Some(mut gw_addrs) = leg(gw, qg.clone()) else {
                continue;
            };
            let gw_v4 = gw.fixed_ips.iter().find(|f| f.ip_address.is_ipv4());
            if let Some(ext_gw) = gw_v4
                .and_then(|f| subnets.get(f.subnet_id.as_str()))
                .and_then(|s| s.gateway_ip)
            {
                routes.insert(Route {
                    dst: IpNet {
                        addr: IpAddr::from([0, 0, 0, 0]),
                        prefix: 0,
                    },
                    via: Some(ext_gw),
                    dev: Some(qg.clone()),
                });
            }
            let mut pre = Vec::new();
            let mut post = Vec::new();
            for f in topo
                .floating_ips
                .iter()
                .filter(|f| f.router_id.as_deref() == Some(r.id.as_str()))
            {
                let Some(fixed) = f.fixed_ip_address else {
                    continue;
                };
                // The router answers ARP for the floating IP on its gateway leg.
                gw_addrs.insert(IpNet::host(f.floating_ip_address));
                pre.push(vec![
                    expr::daddr(IpNet::host(f.floating_ip_address)),
                    expr::dnat(fixed),
                ]);
                post.push(vec![
                    expr::saddr(IpNet::host(fixed)),
                    expr::oifname(&qg),
                    expr::snat(f.floating_ip_address),
                ]);
            }
            if let (true, Some(f)) = (r.enable_snat, gw_v4) {
                for n in &internal {
                    post.push(vec![
                        expr::saddr(*n),
                        expr::oifname(&qg),
                        expr::snat(f.ip_address),
                    ]);
                }
            }
            d.addrs.insert((ns.clone(), qg.clone()), gw_addrs);
            if !pre.is_empty() || !post.is_empty() {
                // TODO-compat (issue 4): hairpin masquerade. (The metadata redirect is added by
                // `super::metadata`.)
                d.tables.entry(ns.clone()).or_default().push(Table {
                    family: Family::Ip,
                    name: naming::NAT_TABLE.into(),
                    sets: vec![],
                    chains: vec![
                        Chain {
                            name: "prerouting".into(),
                            hook: nat_hook("prerouting", -100),
                            rules: pre.clone(),
                        },
                        Chain {
                            name: "output".into(),
                            hook: nat_hook("output", -100),
                            rules: pre,
                        },
                        Chain {
                            name: "postrouting".into(),
                            hook: nat_hook("postrouting", 100),
                            rules: post,
                        },
                    ],
                });
            }
        }
        d.routes.insert(ns, routes);
    }
    secgroup::plan(topo, &mut d);
    super::metadata::plan(topo, cfg, &mut d);
    d
}
