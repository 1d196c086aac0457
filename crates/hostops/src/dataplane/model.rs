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

/// A port. Build it with `..Port::default()` so fields added later keep your code
/// compiling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// `port_security_enabled`. `false` (the default here, so ports built without
    /// security data stay unfiltered) means no security groups and no anti-spoofing.
    pub port_security_enabled: bool,
    /// `security_groups`: ids of the groups whose rules apply to the port.
    pub security_group_ids: Vec<String>,
    /// `allowed_address_pairs`: extra sources the port may use.
    pub allowed_address_pairs: Vec<AddressPair>,
}

/// One entry of a port's `allowed_address_pairs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPair {
    /// `ip_address`: an address (host prefix) or a CIDR.
    pub ip: IpNet,
    /// `mac_address`; `None` means the port's own MAC.
    pub mac: Option<String>,
}

/// `direction` of a security group rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Traffic to the instance.
    #[default]
    Ingress,
    /// Traffic from the instance.
    Egress,
}

/// `ethertype` of a security group rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EtherType {
    /// `IPv4`
    #[default]
    Ipv4,
    /// `IPv6`
    Ipv6,
}

/// A security group rule, as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroupRule {
    /// Id.
    pub id: String,
    /// `direction`.
    pub direction: Direction,
    /// `ethertype`.
    pub ethertype: EtherType,
    /// `protocol` as the API holds it: `None`/`"any"` for every protocol, a name
    /// (`tcp`, `icmp`, `ipv6-icmp`...) or a number (`"6"`); see
    /// `dataplane::secgroup::protocol_number`.
    pub protocol: Option<String>,
    /// `port_range_min` (the ICMP type for ICMP rules).
    pub port_range_min: Option<u32>,
    /// `port_range_max` (the ICMP code for ICMP rules).
    pub port_range_max: Option<u32>,
    /// `remote_ip_prefix`.
    pub remote_ip_prefix: Option<IpNet>,
    /// `remote_group_id`: the rule matches the addresses of that group's member ports.
    pub remote_group_id: Option<String>,
    /// `remote_address_group_id`: the rule matches that address group's addresses.
    pub remote_address_group_id: Option<String>,
}

/// A security group and its rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityGroup {
    /// Id.
    pub id: String,
    /// `security_group_rules`.
    pub rules: Vec<SecurityGroupRule>,
}

/// An address group (`remote_address_group_id` of rules).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressGroup {
    /// Id.
    pub id: String,
    /// `addresses`.
    pub addresses: Vec<IpNet>,
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

/// Everything the planner reads. Build it with `..Topology::default()` so fields added
/// later keep your code compiling. Ports of remote security groups must be present
/// even when they live on other hosts (their addresses fill the remote-group sets).
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
    /// Security groups (those of this host's ports and their remote groups).
    pub security_groups: Vec<SecurityGroup>,
    /// Address groups referenced by security group rules.
    pub address_groups: Vec<AddressGroup>,
    /// VXLAN endpoints of the other hosts (their agents' `local_ip`): every VXLAN
    /// device floods broadcast/unknown traffic to each through an all-zero FDB entry
    /// (l2population-style head-end replication). This host's own address is ignored.
    pub remote_vteps: Vec<IpAddr>,
}

/// This host's VXLAN endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtepConfig {
    /// Local underlay address.
    pub local: IpAddr,
    /// Underlay device.
    pub dev: Option<String>,
    /// A unicast remote VTEP set on the device itself (`remote`); several hosts are
    /// reached through [`Topology::remote_vteps`] FDB entries instead.
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
    /// Metadata service plumbing (169.254.169.254 on DHCP legs, router redirect).
    pub metadata: super::metadata::MetadataOptions,
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
            metadata: super::metadata::MetadataOptions::default(),
        }
    }
}
