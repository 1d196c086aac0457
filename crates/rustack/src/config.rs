//! `rustack.toml`: one section per service plus cloud-wide settings.

use std::path::{Path, PathBuf};

use rustack_block_api::BlockConfig;
use rustack_compute_api::ComputeConfig;
use rustack_identity_server::IdentityConfig;
use rustack_image_api::ImageConfig;
use rustack_keymgr_api::KeyManagerConfig;
use rustack_network_api::NetworkConfig;
pub use rustack_network_api::{DataPlaneMode, DhcpPortsMode};
use rustack_placement_api::PlacementConfig;
use serde::Deserialize;

/// The whole cloud's configuration. Every field has a default; a missing file means
/// all defaults.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RustackConfig {
    /// Cloud-wide settings.
    pub cloud: CloudSection,
    /// The identity service (Keystone).
    pub identity: IdentityConfig,
    /// The image service (Glance).
    pub image: ImageConfig,
    /// The networking service (Neutron).
    pub network: NetworkConfig,
    /// The placement service.
    pub placement: PlacementConfig,
    /// The compute service (Nova).
    pub compute: ComputeConfig,
    /// The block storage service (Cinder).
    pub block_storage: BlockConfig,
    /// The key manager service (Barbican).
    pub key_manager: KeyManagerConfig,
    /// The metadata service (proxy in the network agent; the shared secret is
    /// passwords.yml `metadata_secret`).
    pub metadata: rustack_metadata::MetadataConfig,
    /// What `rustack up` registers at start-up (`[[bootstrap.images]]`).
    pub bootstrap: crate::bootstrap_images::BootstrapSection,
}

/// Cloud-wide settings (`[cloud]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CloudSection {
    /// Region name registered in the catalog.
    pub region: String,
    /// Host name or address put in catalog URLs; default: the bind address
    /// (`127.0.0.1` when binding to `0.0.0.0`).
    pub public_host: Option<String>,
}

impl Default for CloudSection {
    fn default() -> Self {
        CloudSection {
            region: "RegionOne".into(),
            public_host: None,
        }
    }
}

/// Failure to read the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
}

impl RustackConfig {
    /// Reads `path` (TOML).
    pub fn load(path: &Path) -> Result<RustackConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<RustackConfig, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../../../etc/rustack.toml");
        let cfg = RustackConfig::parse(text).expect("etc/rustack.toml parses");
        assert_eq!(cfg, RustackConfig::default());
    }

    #[test]
    fn network_public_section_parses() {
        let cfg = RustackConfig::parse(
            "[network]\nport = 19696\n[network.public_network]\ncidr = \"192.0.2.0/24\"\n",
        )
        .expect("parses");
        assert_eq!(cfg.network.port, 19696);
        let public = cfg.network.public_network.expect("section");
        assert_eq!(public.name, "public");
        assert_eq!(public.cidr, "192.0.2.0/24");
    }

    #[test]
    fn data_plane_settings_parse() {
        let cfg = RustackConfig::parse(
            "[network]\ndata_plane = \"on\"\ndhcp_ports = false\nlocal_ip = \"192.0.2.7\"\nphysical_interface_mappings = { physnet1 = \"eth1\" }\n",
        )
        .expect("parses");
        assert_eq!(cfg.network.data_plane, DataPlaneMode::On);
        assert_eq!(cfg.network.dhcp_ports, DhcpPortsMode::Off);
        assert_eq!(cfg.network.local_ip, Some([192, 0, 2, 7].into()));
        assert_eq!(cfg.network.physical_interface_mappings["physnet1"], "eth1");
        for (text, want) in [
            ("true", DhcpPortsMode::On),
            ("\"auto\"", DhcpPortsMode::Auto),
        ] {
            let c =
                RustackConfig::parse(&format!("[network]\ndhcp_ports = {text}\n")).expect("parses");
            assert_eq!(c.network.dhcp_ports, want);
        }
        assert!(RustackConfig::parse("[network]\ndhcp_ports = \"sometimes\"\n").is_err());
        assert!(RustackConfig::parse("[network]\ndata_plane = \"maybe\"\n").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(RustackConfig::parse("[identity]\ntoken_expiry = 5\n").is_err());
    }
}
