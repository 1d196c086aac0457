//! The network service's configuration (`[network]` in rustack.toml).

use serde::Deserialize;

/// Network service settings. Every field has a documented default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Port the Networking API listens on (Neutron's 9696).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/network.db`.
    pub database_url: Option<String>,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<std::path::PathBuf>,
    /// MTU of the physical network (Neutron's `global_physnet_mtu`, 1500). Tenant
    /// (VXLAN) networks get this minus 50 bytes of encapsulation overhead.
    pub global_physnet_mtu: u32,
    /// Neutron's `base_mac`: generated MAC addresses start with these three octets.
    pub base_mac_prefix: String,
    /// First and last VXLAN VNI handed to tenant networks (ML2 `vni_ranges`).
    pub vni_min: u32,
    /// Last VXLAN VNI.
    pub vni_max: u32,
    /// Opt-in: create a shared-nothing `public` flat external network with one subnet at
    /// start-up (what devstack does for Tempest's `public_network_id`). Off by default.
    pub public_network: Option<PublicNetworkConfig>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            port: 9696,
            database_url: None,
            policy_file: None,
            global_physnet_mtu: 1500,
            base_mac_prefix: "fa:16:3e".into(),
            vni_min: 1,
            vni_max: 65535,
            public_network: None,
        }
    }
}

/// The external network created at start-up when `[network.public_network]` is present.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PublicNetworkConfig {
    /// Network name (`public`).
    pub name: String,
    /// Physical network label of the flat provider network (`public`).
    pub physical_network: String,
    /// The subnet's CIDR (`172.24.4.0/24`, devstack's default).
    pub cidr: String,
    /// The subnet's gateway; default the CIDR's first address.
    pub gateway_ip: Option<String>,
    /// First address of the allocation pool; default: all but the gateway.
    pub pool_start: Option<String>,
    /// Last address of the allocation pool.
    pub pool_end: Option<String>,
}

impl Default for PublicNetworkConfig {
    fn default() -> Self {
        PublicNetworkConfig {
            name: "public".into(),
            physical_network: "public".into(),
            cidr: "172.24.4.0/24".into(),
            gateway_ip: None,
            pool_start: None,
            pool_end: None,
        }
    }
}
