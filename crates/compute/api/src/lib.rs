//! The Compute API (Nova v2.1) contract: the service configuration and the microversion
//! table (nova's `REST_API_VERSION_HISTORY` as data, with what rustack implements), plus
//! the version negotiation rules every handler's [`ApiVersion`] comes from.
//!
//! This crate depends only on serde: the server renders wire shapes, clients and the
//! binary read the configuration.

pub mod config;
pub mod extensions;
pub mod microversion;
pub mod server;

pub use config::{ComputeConfig, QuotaDefaults};
pub use microversion::{ApiVersion, VersionError};
