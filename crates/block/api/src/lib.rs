//! The Block Storage API contract (Cinder v3): what the block storage server, its
//! backends (`rustack-block-agent`) and its clients (compute) share.
//!
//! - [`backend`]: the `VolumeBackend` trait a storage backend implements (the default
//!   one keeps one qcow2 file per volume; a Ceph RBD backend can be added behind the same
//!   trait without changing the API layer).
//! - [`connection`]: the connector a compute host sends and the `connection_info` the
//!   service answers (`driver_volume_type` + `data`), as Cinder and Nova exchange them.
//! - [`config`]: the service's configuration ([`BlockConfig`]).
//! - [`microversion`]: Cinder v3's microversion history and what rustack implements.

pub mod backend;
#[cfg(feature = "client")]
pub mod client;
pub mod config;
pub mod connection;
pub mod microversion;

pub use backend::{
    BackendError, Capabilities, Location, Luks, VolumeBackend, VolumeSource, VolumeSpec,
};
pub use config::{BlockConfig, QuotaDefaults};
pub use connection::{ConnectionInfo, Connector};

/// The catalog service type (`block-storage`; `volumev3` is registered too).
pub const SERVICE_TYPE: &str = "block-storage";
