//! Where the metadata API gets instance data: [`InstanceSource`], implemented by the
//! compute service (from its instances, keypairs and the ports it bound). The data is a
//! plain [`InstanceMetadata`] value; nothing here knows about compute's storage.

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;
use serde_json::Value;

/// A keypair injected into the instance (`key_name` at boot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// Keypair name.
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    /// The public key (OpenSSH format for `ssh`).
    pub public_key: String,
}

/// Everything the metadata trees show about one instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceMetadata {
    /// Instance UUID (`uuid`).
    pub uuid: String,
    /// Display name (`name`).
    pub name: String,
    /// Host name without domain (Nova's `instance.hostname`); the API appends
    /// [`crate::MetadataConfig::dhcp_domain`].
    pub hostname: String,
    /// Owning project; a proxied request whose `X-Tenant-ID` differs is a 404.
    pub project_id: String,
    /// Availability zone (`None` renders as JSON null and EC2 `None`, as Nova).
    pub availability_zone: Option<String>,
    /// `launch_index` (`ami-launch-index`).
    pub launch_index: u32,
    /// Reservation id (`r-xxxxxxxx`).
    pub reservation_id: String,
    /// EC2 instance id (`i-xxxxxxxx`).
    pub ec2_instance_id: String,
    /// EC2 image id (`ami-xxxxxxxx`).
    pub ami_id: String,
    /// EC2 kernel id (`aki-...`), when the image has one.
    pub kernel_id: Option<String>,
    /// EC2 ramdisk id (`ari-...`), when the image has one.
    pub ramdisk_id: Option<String>,
    /// Flavor name (`instance-type`).
    pub flavor_name: String,
    /// The keypair given at boot (`key_name`); Nova shows only one.
    pub keypair: Option<KeyPair>,
    /// `user_data`, decoded from the API's base64 (raw bytes, served as is).
    pub user_data: Option<Vec<u8>>,
    /// Server metadata (`meta`).
    pub meta: BTreeMap<String, String>,
    /// Security group names (`security-groups`).
    pub security_groups: Vec<String>,
    /// Fixed addresses, first IPv4 is `local-ipv4`.
    pub fixed_ips: Vec<IpAddr>,
    /// Floating addresses, first is `public-ipv4`.
    pub floating_ips: Vec<IpAddr>,
    /// EC2 `block-device-mapping` (`ami` -> `vda`, `root` -> `/dev/vda`, ...).
    pub block_device_mapping: BTreeMap<String, String>,
    /// `network_data.json` (build it with [`crate::network_data::network_data`]);
    /// `None` serves `{}` as Nova does for an instance without network info.
    pub network_data: Option<Value>,
    /// `devices` (tagged device metadata, Nova's shape; usually empty).
    pub devices: Vec<Value>,
    /// `dedicated_cpus` (pinned host CPUs; usually empty).
    pub dedicated_cpus: Vec<u32>,
    /// The encrypted admin password posted by the guest (`password`), if any.
    pub password: Option<String>,
}

impl InstanceMetadata {
    /// `public_keys` of `meta_data.json`: keypair name -> public key.
    pub fn public_keys(&self) -> BTreeMap<String, String> {
        self.keypair
            .iter()
            .map(|k| (k.name.clone(), k.public_key.clone()))
            .collect()
    }
}

/// A failure of the instance source (logged; the guest sees a 500 as from Nova).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Storage or a dependency failed.
    #[error("instance source unavailable: {0}")]
    Unavailable(String),
    /// The operation is not supported by this source.
    #[error("not supported by this instance source: {0}")]
    Unsupported(&'static str),
}

/// Instance data for the metadata API; the compute service implements it.
#[async_trait]
pub trait InstanceSource: Send + Sync + 'static {
    /// The instance with this UUID, `None` when there is none (404).
    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceMetadata>, SourceError>;

    /// Stores the password a guest posts to `/openstack/<v>/password` (Nova keeps it in
    /// system metadata; once set it cannot be overwritten through this path).
    async fn set_password(&self, instance_id: &str, password: &str) -> Result<(), SourceError> {
        let _ = (instance_id, password);
        Err(SourceError::Unsupported("password"))
    }
}
