//! The Placement service (placement API 1.0 - 1.39), wire-compatible: resource
//! providers in trees, resource classes, inventories, traits, aggregates, consumers
//! with generations and types, allocations, usages, allocation candidates (granular
//! groups, nested trees, `same_subtree`, `root_required`, any-traits) and the reshaper.
//!
//! Shape: `store` holds every SQL statement and the transactional claim logic (see its
//! module docs for why claims can never over-commit); `candidates` is the pure
//! candidate search over a snapshot; `api` holds the microversion middleware and thin
//! handlers; `error` renders placement's fault bodies. [`PlacementService::open`]
//! prepares the state, [`run`] serves it.

pub mod api;
pub mod candidates;
pub mod error;
pub mod schema;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use rustack_api_common::{AuthContext, TokenValidator};
use rustack_db::Db;
use rustack_policy::Enforcer;

pub use error::PlacementError;
pub use rustack_placement_api::PlacementConfig;
pub use store::Store;

/// Failures starting the placement service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("placement database")]
    Db(#[source] rustack_db::DbError),
    /// The policy file is invalid.
    #[error("placement policy")]
    Policy(#[source] rustack_policy::PolicyError),
}

/// The placement service's shared state.
pub struct PlacementService {
    pub(crate) store: Store,
    pub(crate) cfg: PlacementConfig,
    pub(crate) enforcer: Enforcer,
    pub(crate) validator: Arc<dyn TokenValidator>,
}

impl std::fmt::Debug for PlacementService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacementService")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl PlacementService {
    /// Opens (and migrates) the database at `database_url` and loads the policy.
    pub async fn open(
        cfg: PlacementConfig,
        database_url: &str,
        validator: Arc<dyn TokenValidator>,
    ) -> Result<Arc<PlacementService>, StartError> {
        let db = Db::connect(database_url).await.map_err(StartError::Db)?;
        db.migrate(schema::MIGRATIONS)
            .await
            .map_err(StartError::Db)?;
        let mut enforcer =
            Enforcer::new(rustack_policy::defaults::placement()).map_err(StartError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer
                .load_overrides_file(p)
                .map_err(StartError::Policy)?;
        }
        Ok(Arc::new(PlacementService {
            store: Store::new(db),
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
    pub fn config(&self) -> &PlacementConfig {
        &self.cfg
    }

    /// Enforces `rule` for `ctx` (target: the caller's own project, as placement's
    /// `context.can` does); 403 in placement's shape if refused.
    pub(crate) fn authorize(
        &self,
        ctx: &AuthContext,
        rule: &str,
        target_project: Option<&str>,
    ) -> Result<(), PlacementError> {
        let target = serde_json::json!({
            "project_id": target_project.or(ctx.project_id.as_deref()),
            "user_id": ctx.user_id,
        });
        match self.enforcer.enforce(rule, &target, &ctx.policy_creds()) {
            Ok(true) => Ok(()),
            Ok(false) | Err(rustack_policy::PolicyError::InvalidScope { .. }) => {
                Err(PlacementError::policy(rule))
            }
            Err(e) => Err(PlacementError::internal(format!("policy {rule}: {e}"))),
        }
    }
}

/// A started placement service.
pub struct Running {
    /// Shared state.
    pub service: Arc<PlacementService>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Placement API for `service` on `listener` until `shutdown`.
pub fn run(
    service: Arc<PlacementService>,
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
