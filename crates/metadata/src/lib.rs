//! The instance metadata service for 169.254.169.254, split as upstream splits it:
//!
//! - [`server`]: the metadata API (Nova's, `nova/api/metadata`): verifies the proxy's
//!   signed headers and serves the OpenStack tree (`/openstack/<version>/meta_data.json`,
//!   `network_data.json`, `user_data`, `vendor_data*.json`, `password`) and the EC2 tree
//!   (`/<version>/meta-data/...`) from an [`InstanceSource`] the compute service
//!   implements. Compute mounts [`server::router`] on its metadata port (8775).
//! - [`proxy`]: the metadata proxy (Neutron's): listens inside every `qdhcp-`/`qrouter-`
//!   namespace from one process, attributes each request to an instance by (network or
//!   router, source address) and forwards it to the metadata API with the signed headers.
//!   The network agent owns it: it publishes the [`proxy::Attribution`] table and the
//!   listener set.
//! - [`network_data`]: builds `network_data.json` from an instance's ports.
//!
//! Both halves share [`MetadataConfig`] (the secret is Kolla's `metadata_secret`).

pub mod config;
pub mod netns;
pub mod network_data;
pub mod proxy;
pub mod server;
pub mod sign;
pub mod source;
pub mod tree;

pub use config::MetadataConfig;
pub use proxy::{
    attribution_channel, Attribution, Context, ListenerSpec, MetadataProxy, Owner, PortRecord,
};
pub use source::{InstanceMetadata, InstanceSource, KeyPair, SourceError};
