//! The Key Manager API contract (Barbican v1): what the key manager server and its
//! clients (block storage creates and deletes volume keys, compute reads them to open
//! encrypted volumes) share.
//!
//! [`KeyManager`] is castellan's key manager interface as Cinder and Nova use it. Its
//! implementation over HTTP (`client::KeyManagerClient`, feature `client`) calls the
//! Barbican v1 API with the caller's token, as castellan does with the request context,
//! so a volume's key belongs to the volume's project.

use rustack_common::Error;
use serde::{Deserialize, Serialize};

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
