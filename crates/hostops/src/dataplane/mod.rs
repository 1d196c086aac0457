//! The network data plane of one host, in two halves:
//!
//! - [`plan`]: a pure function from the Networking service's resources ([`model`]) and
//!   this host's configuration to the [`plan::DesiredState`] of the host: a bridge per
//!   network, a VXLAN device per tenant network, a `qdhcp-` namespace with a veth leg on
//!   the bridge and a dnsmasq per network with DHCP, a `qrouter-` namespace per router
//!   with its legs, routes and NAT table.
//! - [`reconcile`]: diffs that desired state against the host (read through the
//!   [`crate::net::NetOps`], [`crate::nft::Firewall`] and [`crate::dhcp::DhcpServer`]
//!   traits) and applies the difference. It is idempotent (a second pass changes nothing),
//!   removes what it owns and no longer wants, and never touches what it does not own:
//!   only namespaces named `<prefix>qdhcp-*`/`<prefix>qrouter-*`, and in the host
//!   namespace only `brq*` bridges and `vxlan-*` devices. Instance TAPs and physical NICs
//!   are only enslaved to bridges, never created or deleted.
//!
//! - [`secgroup`]: the security-group part of the plan (a `bridge` + an `inet` nftables
//!   table in the namespace holding the bridges) and the conntrack entries to delete when
//!   rules or remote-group members go away.
//!
//! Names follow Neutron's linuxbridge agent (see [`naming`]) so operators recognise them.

pub mod metadata;
pub mod model;
pub mod naming;
pub mod plan;
pub mod reconcile;
pub mod secgroup;

pub use model::{
    AddressGroup, AddressPair, Direction, EtherType, FixedIp, FloatingIp, HostConfig, Network,
    Port, Router, SecurityGroup, SecurityGroupRule, Segment, Subnet, Topology, VtepConfig,
};
pub use plan::{plan, DesiredState};
pub use reconcile::{Change, ReconcileReport, Reconciler};

#[cfg(test)]
mod sg_tests;
#[cfg(test)]
mod tests;
