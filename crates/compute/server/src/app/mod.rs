//! The compute service's app layer: one module per resource, each taking the caller's
//! [`AuthContext`], checking nova's policy rule against a target built the way nova
//! builds it (`{"project_id", "user_id"}`), and calling the datastore. Handlers stay
//! thin; microversion differences are resolved in `api`, never here.

pub mod aggregate;
pub mod flavor;
pub mod host;
pub mod image_proxy;
pub mod keypair;
pub mod keys;
pub mod quota;
pub mod server_group;

use std::sync::{Arc, OnceLock};

use rustack_api_common::AuthContext;
use rustack_common::Error;
use rustack_compute_api::ComputeConfig;
use rustack_db::{db_internal, Db};
use rustack_policy::Enforcer;
use serde_json::{json, Value};
use sqlx::pool::PoolConnection;
use sqlx::Any;

use crate::error::policy_denied;

/// What a project currently uses, for quota checks and `GET /limits`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProjectUsage {
    /// Servers (nova's `instances`).
    pub instances: i64,
    /// vCPUs of those servers.
    pub cores: i64,
    /// Memory MB of those servers.
    pub ram: i64,
    /// Server groups (counted by the core from its own table; sources may leave 0).
    pub server_groups: i64,
}

/// Counts a project's (or one user's) servers, cores and RAM. The servers code
/// implements it over its instances table and installs it with
/// [`Compute::set_usage_source`]; until then usage is zero.
#[async_trait::async_trait]
pub trait UsageSource: Send + Sync {
    /// Usage of `project_id`, restricted to `user_id` if given.
    async fn usage(&self, project_id: &str, user_id: Option<&str>) -> Result<ProjectUsage, Error>;
}

/// The compute service's shared state.
pub struct Compute {
    pub(crate) db: Db,
    pub(crate) cfg: ComputeConfig,
    pub(crate) enforcer: Enforcer,
    /// The hypervisor driver of the compute host this process runs (set once at start
    /// by the cloud; absent in an API-only process).
    pub(crate) driver: OnceLock<Arc<dyn rustack_virt::ComputeDriver>>,
    /// Where usage for quotas and limits comes from (the servers code).
    pub(crate) usage: OnceLock<Arc<dyn UsageSource>>,
    /// HTTP client for the `/images` proxy.
    pub(crate) http: reqwest::Client,
    /// The highest microversion served (the advertised maximum unless a test raised it).
    max_minor: std::sync::atomic::AtomicU32,
    /// The servers work (set once at start when this process serves servers).
    pub(crate) servers: OnceLock<Arc<crate::servers::Servers>>,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Failures opening the service.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database.
    #[error("compute database")]
    Db(#[source] rustack_db::DbError),
    /// The policy.
    #[error("compute policy")]
    Policy(#[source] rustack_policy::PolicyError),
    /// Anything else at start-up (bootstrap data).
    #[error("compute start-up: {0}")]
    Startup(String),
}

impl Compute {
    /// Opens (and migrates) the database at `database_url` and loads the policy.
    pub async fn open(cfg: ComputeConfig, database_url: &str) -> Result<Arc<Compute>, OpenError> {
        let db = Db::connect(database_url).await.map_err(OpenError::Db)?;
        Self::open_with_db(cfg, db).await
    }

    /// Like [`Compute::open`] on an already connected database.
    pub async fn open_with_db(cfg: ComputeConfig, db: Db) -> Result<Arc<Compute>, OpenError> {
        db.migrate(&crate::schema::migrations())
            .await
            .map_err(OpenError::Db)?;
        let mut enforcer =
            Enforcer::new(rustack_policy::defaults::compute()).map_err(OpenError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer.load_overrides_file(p).map_err(OpenError::Policy)?;
        }
        Ok(Arc::new(Compute {
            db,
            cfg,
            enforcer,
            driver: OnceLock::new(),
            usage: OnceLock::new(),
            max_minor: std::sync::atomic::AtomicU32::new(
                rustack_compute_api::microversion::max().minor,
            ),
            http: reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .map_err(|e| OpenError::Startup(format!("http client: {e}")))?,
            servers: OnceLock::new(),
        }))
    }

    /// The highest microversion this service serves.
    pub fn max_version(&self) -> rustack_compute_api::ApiVersion {
        rustack_compute_api::ApiVersion::new(
            2,
            self.max_minor.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Serves microversions up to `2.minor` although not every change below it is
    /// implemented: for tests of changes implemented ahead of the advertised maximum.
    /// Never called by the binary.
    #[doc(hidden)]
    pub fn serve_microversions_up_to_for_tests(&self, minor: u32) {
        self.max_minor
            .store(minor, std::sync::atomic::Ordering::Relaxed);
    }

    /// The database (closed on shutdown).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The configuration in force.
    pub fn config(&self) -> &ComputeConfig {
        &self.cfg
    }

    /// Installs the compute driver of this process's host (first call wins).
    pub fn set_driver(&self, driver: Arc<dyn rustack_virt::ComputeDriver>) {
        let _ = self.driver.set(driver);
    }

    /// The compute driver, if this process runs a compute host.
    pub fn driver(&self) -> Option<&Arc<dyn rustack_virt::ComputeDriver>> {
        self.driver.get()
    }

    /// Installs the servers work (first call wins) and makes it the usage source.
    pub fn set_servers(&self, servers: Arc<crate::servers::Servers>) {
        let _ = self.usage.set(servers.clone());
        let _ = self.servers.set(servers);
    }

    /// The servers work, if installed.
    pub fn servers(&self) -> Option<Arc<crate::servers::Servers>> {
        self.servers.get().cloned()
    }

    /// Installs the usage source for quotas and limits (first call wins).
    pub fn set_usage_source(&self, source: Arc<dyn UsageSource>) {
        let _ = self.usage.set(source);
    }

    /// Usage of a project (or one of its users); zeros without a usage source.
    pub async fn project_usage(
        &self,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<ProjectUsage, Error> {
        match self.usage.get() {
            Some(src) => src.usage(project_id, user_id).await,
            None => Ok(ProjectUsage::default()),
        }
    }

    /// A pooled connection (store functions take `&mut AnyConnection`).
    pub async fn conn(&self) -> Result<PoolConnection<Any>, Error> {
        self.db.pool().acquire().await.map_err(db_internal)
    }

    /// A transaction.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, Any>, Error> {
        self.db.pool().begin().await.map_err(db_internal)
    }

    /// The credentials nova's rules are evaluated against: the token's, plus
    /// `is_admin` as nova's RequestContext computes it (`context_is_admin`).
    pub(crate) fn creds(&self, ctx: &AuthContext) -> Value {
        let mut c = ctx.policy_creds();
        let is_admin = self
            .enforcer
            .enforce("context_is_admin", &json!({}), &c)
            .unwrap_or(false);
        c["is_admin"] = json!(is_admin);
        c
    }

    /// True if `rule` allows `ctx` on `target` (a scope mismatch denies).
    pub fn allowed(&self, ctx: &AuthContext, rule: &str, target: &Value) -> bool {
        match self.enforcer.enforce(rule, target, &self.creds(ctx)) {
            Ok(v) => v,
            Err(rustack_policy::PolicyError::InvalidScope { .. }) => false,
            Err(e) => {
                tracing::error!(policy.rule = rule, error = %e, "policy evaluation failed");
                false
            }
        }
    }

    /// 403 unless `rule` allows `ctx` on `target`.
    pub fn authorize(&self, ctx: &AuthContext, rule: &str, target: &Value) -> Result<(), Error> {
        if self.allowed(ctx, rule, target) {
            Ok(())
        } else {
            Err(policy_denied(rule))
        }
    }

    /// nova's default target: the caller's own project and user.
    pub fn own_target(ctx: &AuthContext) -> Value {
        json!({"project_id": ctx.project_id, "user_id": ctx.user_id})
    }

    /// True if the caller passes `context_is_admin`.
    pub fn is_admin(&self, ctx: &AuthContext) -> bool {
        self.allowed(ctx, "context_is_admin", &json!({}))
    }
}
