//! Host effects behind narrow traits, each with a Linux implementation and a shared,
//! stateful fake ([`fake::FakeHost`]), as STYLE §6 asks:
//!
//! - [`net::NetOps`]: network namespaces, links (bridge, veth, VXLAN, TAP), addresses,
//!   routes and sysctls; Linux: [`net::LinuxNet`] (iproute2 with JSON output).
//! - [`nft::Firewall`]: nftables, one table applied atomically as one JSON ruleset;
//!   Linux: [`nft::LinuxNft`] (`nft -j -f -`).
//! - [`dhcp::DhcpServer`]: supervised dnsmasq per network with static leases;
//!   Linux: [`dhcp::LinuxDnsmasq`].
//!
//! [`dataplane`] turns the Networking service's resources into the desired host state
//! (a pure function) and reconciles the host toward it through these traits.
//!
//! Commands are run from typed argument vectors ([`cmd::Cmd`]), never through a shell.
//! Operations are synchronous (each is a short command); async callers wrap a reconcile
//! pass in `spawn_blocking`. This crate never touches a database or policy.

pub mod cmd;
pub mod dataplane;
pub mod dhcp;
pub mod error;
pub mod fake;
pub mod net;
pub mod nft;

pub use error::{HostError, Result};
