//! The Key Manager service (Barbican v1 API, microversions 1.0 - 1.2), wire-compatible:
//! secrets (one- and two-step, payloads by content type, metadata, consumers),
//! containers (generic, rsa, certificate) with consumers, orders (`key` and
//! `asymmetric`), ACLs, quotas and project quotas, and the secret-store endpoints of a
//! single-store deployment.
//!
//! Shape: `store` holds every SQL statement; `crypto` is Barbican's `simple_crypto`
//! (master KEK file, per-project KEKs, Fernet-encrypted payloads); `api` holds the
//! microversion middleware and thin handlers; `error` renders Barbican's fault bodies.
//! Authorization is oslo.policy with Barbican's in-code defaults
//! (`rustack_policy::defaults::key_manager`) evaluated against Barbican's flattened
//! target (`target.secret.project_id`, `target.secret.read`...).
//! [`KeyManagerService::open`] prepares the state, [`run`] serves it.

pub mod api;
pub mod crypto;
pub mod error;
pub mod schema;
pub mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustack_api_common::{AuthContext, TokenValidator};
use rustack_db::Db;
use rustack_policy::Enforcer;
use serde_json::{json, Value};

pub use crypto::Crypto;
pub use error::KmError;
pub use rustack_keymgr_api::KeyManagerConfig;
pub use store::Store;

/// Failures starting the key manager.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("key manager database")]
    Db(#[source] rustack_db::DbError),
    /// The policy file is invalid.
    #[error("key manager policy")]
    Policy(#[source] rustack_policy::PolicyError),
    /// The master KEK could not be loaded or created.
    #[error("key manager master KEK")]
    Kek(#[source] crypto::CryptoError),
}

/// The key manager's shared state.
pub struct KeyManagerService {
    pub(crate) store: Store,
    pub(crate) crypto: Crypto,
    pub(crate) cfg: KeyManagerConfig,
    pub(crate) enforcer: Enforcer,
    pub(crate) validator: Arc<dyn TokenValidator>,
}

impl std::fmt::Debug for KeyManagerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManagerService")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl KeyManagerService {
    /// Loads (creating on first start, mode 0600) the master KEK at `kek_path`, opens
    /// and migrates the database at `database_url` and loads the policy.
    pub async fn open(
        cfg: KeyManagerConfig,
        database_url: &str,
        kek_path: &Path,
        validator: Arc<dyn TokenValidator>,
    ) -> Result<Arc<KeyManagerService>, StartError> {
        let crypto = Crypto::open(kek_path).map_err(StartError::Kek)?;
        let db = Db::connect(database_url).await.map_err(StartError::Db)?;
        db.migrate(schema::MIGRATIONS)
            .await
            .map_err(StartError::Db)?;
        let mut enforcer =
            Enforcer::new(rustack_policy::defaults::key_manager()).map_err(StartError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer
                .load_overrides_file(p)
                .map_err(StartError::Policy)?;
        }
        Ok(Arc::new(KeyManagerService {
            store: Store::new(db),
            crypto,
            cfg,
            enforcer,
            validator,
        }))
    }

    /// The datastore.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration in force.
    pub fn config(&self) -> &KeyManagerConfig {
        &self.cfg
    }

    /// Enforces `rule` for `ctx` against Barbican's flattened `target` (to which
    /// `enforce_new_defaults: true` is added); 403 naming `operation` if refused.
    pub(crate) fn authorize(
        &self,
        ctx: &AuthContext,
        rule: &str,
        operation: &str,
        mut target: Value,
    ) -> Result<(), KmError> {
        if let Some(m) = target.as_object_mut() {
            m.insert("enforce_new_defaults".into(), json!(true));
        }
        match self.enforcer.enforce(rule, &target, &ctx.policy_creds()) {
            Ok(true) => Ok(()),
            Ok(false) | Err(rustack_policy::PolicyError::InvalidScope { .. }) => {
                Err(KmError::policy(operation))
            }
            Err(e) => Err(KmError::internal(operation, format!("policy {rule}: {e}"))),
        }
    }
}

/// A started key manager.
pub struct Running {
    /// Shared state.
    pub service: Arc<KeyManagerService>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Key Manager API for `service` on `listener` until `shutdown`.
pub fn run(
    service: Arc<KeyManagerService>,
    listener: tokio::net::TcpListener,
    shutdown: rustack_runtime::Shutdown,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let task = rustack_runtime::serve(listener, api::router(service.clone()), shutdown);
    Ok(Running {
        service,
        addr,
        task,
    })
}
