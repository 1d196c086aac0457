//! The planner's input: the Networking service's resources, reduced to what the data
//! plane needs, and this host's configuration. The agent builds these from the API
//! documents (`provider:segmentation_id`, `fixed_ips`, `device_owner`...).
//!
//! Ids are Neutron's UUID strings.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::net::IpNet;

/// How a network is carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Tenant network over VXLAN.
    Vxlan {
        /// Its VNI (`provider:segmentation_id`).
        vni: u32,
    },
    /// Provider network on a host interface (`provider:physical_network`).
    Flat {
        /// Physical network label, mapped to an interface by [`HostConfig`].
        physical_network: String,
    },
    /// Only on this host (no uplink).
    Local,
}

/// A network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// Id.
    pub id: String,
    /// MTU (`mtu`).
    pub mtu: u32,
    /// Segment.
    pub segment: Segment,
}

/// A subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// Id.
    pub id: String,
    /// Its network.
    pub network_id: String,
    /// CIDR.
    pub cidr: IpNet,
    /// Gateway.
    pub gateway_ip: Option<IpAddr>,
    /// `enable_dhcp`.
    pub enable_dhcp: bool,
    /// `dns_nameservers`.
    pub dns_nameservers: Vec<IpAddr>,
    /// `host_routes` (destination, next hop).
    pub host_routes: Vec<(IpNet, IpAddr)>,
}

/// One entry of a port's `fixed_ips`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedIp {
    /// Subnet.
    pub subnet_id: String,
    /// Address.
    pub ip_address: IpAddr,
}

/// A port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Id.
    pub id: String,
    /// Network.
    pub network_id: String,
    /// `mac_address`.
    pub mac_address: String,
    /// `fixed_ips`.
    pub fixed_ips: Vec<FixedIp>,
    /// `device_owner` (`network:dhcp`, `network:router_interface`,
    /// `network:router_gateway`, `compute:nova`...).
    pub device_owner: String,
    /// `device_id` (the router for router ports).
    pub device_id: String,
}

/// A router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Router {
    /// Id.
    pub id: String,
    /// `external_gateway_info.enable_snat`.
    pub enable_snat: bool,
    /// `routes` (extraroute): destination, next hop.
    pub routes: Vec<(IpNet, IpAddr)>,
}

/// A floating IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingIp {
    /// Id.
    pub id: String,
    /// `floating_ip_address`.
    pub floating_ip_address: IpAddr,
    /// `fixed_ip_address` (associated when set).
    pub fixed_ip_address: Option<IpAddr>,
    /// `router_id`.
    pub router_id: Option<String>,
}

/// Everything the planner reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// Networks.
    pub networks: Vec<Network>,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Ports.
    pub ports: Vec<Port>,
    /// Routers.
    pub routers: Vec<Router>,
    /// Floating IPs.
    pub floating_ips: Vec<FloatingIp>,
}

/// This host's VXLAN endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtepConfig {
    /// Local underlay address.
    pub local: IpAddr,
    /// Underlay device.
    pub dev: Option<String>,
    /// Unicast remote VTEP.
    // TODO-correctness (issue 4): several remotes need l2population-style FDB entries
    // (`bridge fdb append 00:00:00:00:00:00 dev vxlan-N dst R`); one remote for now.
    pub remote: Option<IpAddr>,
    /// UDP port (4789).
    pub dstport: u16,
}

/// This host's data-plane configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Namespace holding bridges and TAPs (`None`: the agent's own; tests use a namespace
    /// they create so nothing touches the real host).
    pub host_netns: Option<String>,
    /// Prefix of every namespace the data plane owns (empty in production; tests use a
    /// unique prefix so parallel runs never see, or delete, each other's namespaces).
    pub netns_prefix: String,
    /// VXLAN endpoint; without it tenant networks stay on this host.
    pub vtep: Option<VtepConfig>,
    /// Physical network label -> host interface, for flat networks.
    pub physical_interfaces: BTreeMap<String, String>,
    /// DHCP domain (`openstacklocal`).
    pub dhcp_domain: String,
    /// DHCP lease time (Neutron's `dhcp_lease_duration`, 86400).
    pub dhcp_lease_secs: u32,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            host_netns: None,
            netns_prefix: String::new(),
            vtep: None,
            physical_interfaces: BTreeMap::new(),
            dhcp_domain: "openstacklocal".into(),
            dhcp_lease_secs: 86400,
        }
    }
}
