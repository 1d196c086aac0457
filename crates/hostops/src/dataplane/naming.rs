//! Device and namespace names, as Neutron's linuxbridge/DHCP/L3 agents spell them.
//! Interface names are at most 15 bytes: a 3-byte prefix plus 11 characters of the id.

fn id11(id: &str) -> String {
    id.chars().take(11).collect()
}

/// The bridge of a network: `brq<network id[..11]>`.
pub fn bridge(network_id: &str) -> String {
    format!("brq{}", id11(network_id))
}

/// The VXLAN device of a VNI: `vxlan-<vni>`.
pub fn vxlan(vni: u32) -> String {
    format!("vxlan-{vni}")
}

/// The host-side device of a port: `tap<port id[..11]>` (also what Nova/os-vif names a
/// VM's TAP, and the bridge end of DHCP and router legs).
pub fn tap(port_id: &str) -> String {
    format!("tap{}", id11(port_id))
}

/// A DHCP port's interface inside its namespace: `ns-<port id[..11]>`.
pub fn dhcp_interface(port_id: &str) -> String {
    format!("ns-{}", id11(port_id))
}

/// A router interface inside the router namespace: `qr-<port id[..11]>`.
pub fn router_interface(port_id: &str) -> String {
    format!("qr-{}", id11(port_id))
}

/// A router's gateway interface: `qg-<port id[..11]>`.
pub fn router_gateway(port_id: &str) -> String {
    format!("qg-{}", id11(port_id))
}

/// A network's DHCP namespace: `<prefix>qdhcp-<network id>`.
pub fn dhcp_netns(prefix: &str, network_id: &str) -> String {
    format!("{prefix}qdhcp-{network_id}")
}

/// A router's namespace: `<prefix>qrouter-<router id>`.
pub fn router_netns(prefix: &str, router_id: &str) -> String {
    format!("{prefix}qrouter-{router_id}")
}

/// Whether namespace `name` belongs to the data plane with this prefix.
pub fn is_owned_netns(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| n.starts_with("qdhcp-") || n.starts_with("qrouter-"))
}

/// Whether a host-namespace link belongs to the data plane.
pub fn is_owned_host_link(name: &str) -> bool {
    name.starts_with("brq") || name.starts_with("vxlan-")
}

/// The NAT table of a router namespace.
pub const NAT_TABLE: &str = "rustack-nat";

/// Neutron's DHCP host name for an address: `host-10-0-0-5`.
pub fn dhcp_hostname(ip: std::net::IpAddr) -> String {
    format!("host-{}", ip.to_string().replace(['.', ':'], "-"))
}
