//! The Identity service (Keystone v3), wire-compatible: Fernet tokens in Keystone's own
//! format, bcrypt passwords, domains/projects/users/groups/roles/assignments, the service
//! catalog, application credentials, credentials and revocation events, and the
//! extensions Keystone ships: access rules, OS-EC2, OS-EP-FILTER (catalog filtering),
//! policies with OS-ENDPOINT-POLICY, OAuth1 consumers, OS-TRUST trusts (stored, not
//! redeemed) and domain configs.
//!
//! Shape: `store` holds every SQL statement; `token` issues and validates tokens and
//! computes effective roles; `api` holds thin handlers per resource; `bootstrap` is
//! `keystone-manage bootstrap`. [`run`] starts the service on its own listener;
//! [`Identity`] is also the in-process [`TokenValidator`] the other services use in the
//! all-in-one cloud.

pub mod api;
pub mod bootstrap;
pub mod config;
pub mod schema;
pub mod store;
pub mod token;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_db::Db;
use rustack_policy::Enforcer;
use serde_json::Value;

pub use config::IdentityConfig;
pub use store::Store;

/// Failures starting the identity service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("identity database")]
    Db(#[source] rustack_db::DbError),
    /// The Fernet key repository is unusable.
    #[error("fernet key repository")]
    Keys(#[source] rustack_identity_fernet::KeyRepositoryError),
    /// The policy file is invalid.
    #[error("identity policy")]
    Policy(#[source] rustack_policy::PolicyError),
}

/// The running identity service's shared state.
pub struct Identity {
    pub(crate) store: Store,
    pub(crate) cfg: IdentityConfig,
    pub(crate) tokens: token::TokenProvider,
    pub(crate) enforcer: Enforcer,
    /// Bumped on every write; caches keyed on it are invalidated at once.
    generation: AtomicU64,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Opens (and migrates) the database, loads the key repository (creating it if
    /// missing) and the policy.
    pub async fn open(
        cfg: IdentityConfig,
        database_url: &str,
        key_repo: std::path::PathBuf,
    ) -> Result<Arc<Identity>, StartError> {
        let db = Db::connect(database_url).await.map_err(StartError::Db)?;
        db.migrate(schema::MIGRATIONS)
            .await
            .map_err(StartError::Db)?;
        let repo = rustack_identity_fernet::KeyRepository::new(key_repo);
        repo.setup().map_err(StartError::Keys)?;
        let tokens =
            token::TokenProvider::new(repo, cfg.auth_methods.clone()).map_err(StartError::Keys)?;
        let mut enforcer =
            Enforcer::new(rustack_policy::defaults::identity()).map_err(StartError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer
                .load_overrides_file(p)
                .map_err(StartError::Policy)?;
        }
        Ok(Arc::new(Identity {
            store: Store::new(db),
            cfg,
            tokens,
            enforcer,
            generation: AtomicU64::new(1),
        }))
    }

    /// The datastore.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration in force.
    pub fn config(&self) -> &IdentityConfig {
        &self.cfg
    }

    /// The current write generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records that identity data changed: cached validations are dropped.
    pub(crate) fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Validates `X-Auth-Token` into a context (401 if missing or invalid).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthContext, Error> {
        rustack_api_common::auth::authenticate(headers, self).await
    }

    /// Enforces policy `rule` for `ctx` against `target`; 403 in Keystone's words.
    pub fn authorize(&self, ctx: &AuthContext, rule: &str, target: &Value) -> Result<(), Error> {
        let mut creds = ctx.policy_creds();
        if let Value::Object(m) = &mut creds {
            m.insert(
                "token".into(),
                serde_json::json!({
                    "user": {"id": ctx.user_id, "domain": {"id": ctx.user_domain_id}},
                    "project": {"id": ctx.project_id, "domain": {"id": ctx.project_domain_id}},
                    "domain": {"id": ctx.domain_id},
                }),
            );
        }
        match self.enforcer.enforce(rule, target, &creds) {
            Ok(true) => Ok(()),
            Ok(false) | Err(rustack_policy::PolicyError::InvalidScope { .. }) => {
                Err(Error::forbidden(format!(
                    "You are not authorized to perform the requested action: {rule}."
                )))
            }
            Err(e) => Err(Error::internal(format!("policy check {rule}: {e}"))),
        }
    }
}

#[async_trait]
impl TokenValidator for Identity {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        let data = self
            .validate_token(token, false)
            .await
            .map_err(|e| match e {
                Error::NotFound { .. } | Error::Unauthenticated { .. } => {
                    Error::unauthenticated("The request you have made requires authentication.")
                }
                other => other,
            })?;
        Ok(data.auth_context())
    }
}

/// A started identity service.
pub struct Running {
    /// Shared state (also the in-process token validator).
    pub identity: Arc<Identity>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Identity API for `identity` on `listener` until `shutdown`.
pub fn run(
    identity: Arc<Identity>,
    listener: tokio::net::TcpListener,
    shutdown: rustack_runtime::Shutdown,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let task = rustack_runtime::serve(listener, api::router(identity.clone()), shutdown);
    Ok(Running {
        identity,
        addr,
        task,
    })
}
