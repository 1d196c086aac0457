//! The network service's configuration (`[network]` in rustack.toml).

use std::collections::BTreeMap;
use std::net::IpAddr;

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
    /// Whether `rustack up` runs the host data plane (bridges, VXLAN, dnsmasq, router
    /// namespaces): `auto` when root (or CAP_NET_ADMIN) and `ip`, `nft`, `dnsmasq` exist,
    /// `on` to fail start-up when it cannot, `off` for API only.
    pub data_plane: DataPlaneMode,
    /// Create a `network:dhcp` port per network with DHCP-enabled subnets (what
    /// Neutron's DHCP agent does): `auto` = when the data plane runs (always for
    /// `rustack serve network`, whose agents run elsewhere), `true`, `false`.
    pub dhcp_ports: DhcpPortsMode,
    /// Physical network label -> host interface for flat networks (Kolla's
    /// `physical_interface_mappings`, e.g. `{physnet1 = "eth1"}`). Empty by default: a
    /// flat network (the bootstrap `public` one too) is then a bridge with no uplink,
    /// so a real NIC is never taken over unless named here.
    pub physical_interface_mappings: BTreeMap<String, String>,
    /// This host's VXLAN tunnel endpoint address (Neutron's `[vxlan] local_ip`); unset:
    /// tenant networks stay on this host.
    pub local_ip: Option<IpAddr>,
    /// VXLAN UDP port (the IANA 4789).
    pub vxlan_udp_port: u16,
    /// Seconds between two full reconcile passes of the network agent (it also runs on
    /// every write when in the same process).
    pub agent_interval_secs: u64,
    /// The agent's host name (`binding:host_id`, the DHCP port's `device_id`); default:
    /// the system host name.
    pub host: Option<String>,
}

impl NetworkConfig {
    /// The agent's host name: `host`, else the kernel's host name, else `localhost`.
    pub fn host_name(&self) -> String {
        self.host
            .clone()
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| "localhost".into())
    }
}

/// `[network] data_plane`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DataPlaneMode {
    /// Run it when possible; otherwise one log line and API only.
    #[default]
    Auto,
    /// Run it or fail start-up.
    On,
    /// API only.
    Off,
}

/// `[network] dhcp_ports`: `"auto"`, `true` or `false`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DhcpPortsMode {
    /// When the data plane runs.
    #[default]
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

impl<'de> Deserialize<'de> for DhcpPortsMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(DhcpPortsMode::On),
            Raw::Bool(false) => Ok(DhcpPortsMode::Off),
            Raw::Text(t) => match t.as_str() {
                "auto" => Ok(DhcpPortsMode::Auto),
                "true" => Ok(DhcpPortsMode::On),
                "false" => Ok(DhcpPortsMode::Off),
                other => Err(serde::de::Error::custom(format!(
                    "dhcp_ports must be \"auto\", true or false, not {other:?}"
                ))),
            },
        }
    }
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
            data_plane: DataPlaneMode::Auto,
            dhcp_ports: DhcpPortsMode::Auto,
            physical_interface_mappings: BTreeMap::new(),
            local_ip: None,
            vxlan_udp_port: 4789,
            agent_interval_secs: 10,
            host: None,
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
