//! The Key Manager API contract (Barbican v1): what the key manager server and its
//! clients (block storage creates and deletes volume keys, compute reads them to open
//! encrypted volumes) share.
//!
//! [`KeyManager`] is castellan's key manager interface as Cinder and Nova use it. Its
//! implementation over HTTP (`client::KeyManagerClient`, feature `client`) calls the
//! Barbican v1 API with the caller's token, as castellan does with the request context,
//! so a volume's key belongs to the volume's project.

use std::path::PathBuf;

use rustack_common::Error;
use serde::{Deserialize, Serialize};

/// The catalog service type.
pub const SERVICE_TYPE: &str = "key-manager";
/// The catalog service name.
pub const SERVICE_NAME: &str = "barbican";
/// The newest microversion (`key-manager 1.2`): 1.1 added secret consumers, 1.2
/// refuses deleting a secret that has consumers unless `?force=true`.
pub const MAX_MINOR: u16 = 2;
/// The secret types Barbican accepts.
pub const SECRET_TYPES: &[&str] = &[
    "symmetric",
    "passphrase",
    "private",
    "public",
    "certificate",
    "opaque",
];

/// Key manager settings (`[key_manager]` in rustack.toml; Barbican's `[quotas]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct KeyManagerConfig {
    /// Port the Key Manager API listens on (upstream's 9311).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/keymgr.db`.
    pub database_url: Option<String>,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<PathBuf>,
    /// The base of the refs the API returns (`http://host:9311`, Barbican's
    /// `host_href`); default: built from the request's `Host`.
    pub public_url: Option<String>,
    /// Default secrets per project (-1 = unlimited).
    pub quota_secrets: i64,
    /// Default orders per project (-1 = unlimited).
    pub quota_orders: i64,
    /// Default containers per project (-1 = unlimited).
    pub quota_containers: i64,
    /// Default consumers per project (-1 = unlimited).
    pub quota_consumers: i64,
    /// Default certificate authorities per project (-1 = unlimited).
    pub quota_cas: i64,
}

impl Default for KeyManagerConfig {
    fn default() -> Self {
        KeyManagerConfig {
            port: 9311,
            database_url: None,
            policy_file: None,
            public_url: None,
            quota_secrets: -1,
            quota_orders: -1,
            quota_containers: -1,
            quota_consumers: -1,
            quota_cas: -1,
        }
    }
}

/// The quota kinds Barbican knows, in its order.
pub const QUOTA_KINDS: &[&str] = &["secrets", "orders", "containers", "consumers", "cas"];

/// A secret to store (castellan `store`): used to clone a key for a new volume made
/// from an encrypted snapshot, volume or image.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSecret {
    /// Name (optional in Barbican).
    pub name: Option<String>,
    /// Barbican `secret_type` (`symmetric`, `passphrase`, `opaque`, ...).
    pub secret_type: String,
    /// `algorithm` (`aes`).
    pub algorithm: Option<String>,
    /// `bit_length` (256).
    pub bit_length: Option<u32>,
    /// `mode` (`xts`, `cbc`).
    pub mode: Option<String>,
    /// The raw payload bytes.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("name", &self.name)
            .field("secret_type", &self.secret_type)
            .field("algorithm", &self.algorithm)
            .field("bit_length", &self.bit_length)
            .field("mode", &self.mode)
            .field("payload", &"<redacted>")
            .finish()
    }
}

/// A secret consumer (Barbican 1.1 `secret consumers`): registers that a resource
/// depends on the secret, which then cannot be deleted without `force` (1.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// The consuming service's type (`volume`, `image`).
    pub service: String,
    /// The resource type (`volume`).
    pub resource_type: String,
    /// The resource id (the volume id).
    pub resource_id: String,
}

/// Castellan-shaped key manager operations. `token` is the caller's Keystone token
/// (the request's user; a service token for background work). Errors: `NotFound` when
/// the secret does not exist or the caller may not see it, `Forbidden`, `Conflict`
/// (deleting a consumed secret), `Unavailable` when the key manager cannot be reached.
#[async_trait::async_trait]
pub trait KeyManager: Send + Sync {
    /// Generate a symmetric key (`algorithm` e.g. `aes`, `bit_length` e.g. 256) and
    /// return its secret id (the UUID at the end of the secret ref).
    async fn create_key(
        &self,
        token: &str,
        algorithm: &str,
        bit_length: u32,
        name: Option<&str>,
    ) -> Result<String, Error>;

    /// Store a given secret; returns its id.
    async fn store(&self, token: &str, secret: &NewSecret) -> Result<String, Error>;

    /// The raw payload bytes of a secret.
    async fn get(&self, token: &str, secret_id: &str) -> Result<Vec<u8>, Error>;

    /// Delete a secret (with `force`, even when it has consumers).
    async fn delete(&self, token: &str, secret_id: &str, force: bool) -> Result<(), Error>;

    /// Register a consumer of a secret (idempotent).
    async fn add_consumer(
        &self,
        token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<(), Error>;

    /// Remove a consumer of a secret (absent consumer: success).
    async fn remove_consumer(
        &self,
        token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<(), Error>;
}

#[cfg(feature = "client")]
pub mod client;
