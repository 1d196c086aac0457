//! The Block Storage service (Cinder v3 API), wire-compatible with the parts Tempest's
//! volume tests, the `openstack` CLI and Nova use: volumes (blank, from an image, a
//! snapshot or another volume; encrypted with LUKS keys from the key manager),
//! volume actions, the attachments API Nova's attach flow uses, snapshots, volume
//! types with extra specs, access lists and encryption specs, quotas, limits,
//! availability zones, services and pools.
//!
//! Shape: `store` holds every SQL statement (a document store, see `schema`);
//! `model` the stored resources; `ops` the volume and snapshot work that calls the
//! backend, the key manager, the Image API and Nova, persisting statuses before and
//! after every step; `reconcile` the crash-recovery reconciler; `api` the
//! microversion middleware and thin handlers; `error` Cinder's fault bodies.
//! [`BlockService::open`] prepares the state, [`run`] serves it and starts the
//! reconciler.

pub mod api;
pub mod clients;
pub mod error;
pub mod model;
pub mod ops;
pub mod reconcile;
pub mod schema;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use rustack_api_common::{AuthContext, TokenValidator};
use rustack_block_api::VolumeBackend;
use rustack_db::Db;
use rustack_policy::Enforcer;

pub use error::{BResult, Fault};
pub use rustack_block_api::BlockConfig;
pub use store::Store;

/// Failures starting the block storage service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("block storage database")]
    Db(#[source] rustack_db::DbError),
    /// The policy file is invalid.
    #[error("block storage policy")]
    Policy(#[source] rustack_policy::PolicyError),
    /// Seeding the default volume type or the service records failed.
    #[error("block storage initial records: {0}")]
    Seed(String),
    /// The staging or backup directory could not be prepared.
    #[error("block storage directory {path}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Makes `dir`; when it is the service's own: 0700 and, for the staging dir, removes what a crash left in it (image
/// downloads and upload exports in flight; nothing is in flight at start) and, in the
/// backup dir, partial backups (`.<id>.partial`).
fn prepare_dir(dir: &std::path::Path, own: bool, staging: bool) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| StartError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    if !own {
        return Ok(());
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let leftover = staging || (name.starts_with('.') && name.ends_with(".partial"));
        if leftover && path.is_file() {
            tracing::info!(path = %path.display(), "removing a file a crash left behind");
            std::fs::remove_file(&path).map_err(err)?;
        }
    }
    Ok(())
}

/// What the service calls in other services; `None` makes the feature that needs it
/// answer a clear error (e.g. creating from an image without an Image endpoint).
#[derive(Default)]
pub struct BlockDeps {
    /// The Image API endpoint (`http://host:9292`).
    pub image_url: Option<String>,
    /// The Compute API endpoint (`http://host:8774/v2.1`).
    pub compute_url: Option<String>,
    /// The Identity endpoint, for the `cinder` service user's token.
    pub identity_url: Option<String>,
    /// The `cinder` service user.
    pub service_credentials: Option<rustack_identity_api::ServiceCredentials>,
    /// The key manager (encrypted volumes).
    pub key_manager: Option<Arc<dyn rustack_keymgr_api::KeyManager>>,
}

impl std::fmt::Debug for BlockDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockDeps")
            .field("image_url", &self.image_url)
            .field("compute_url", &self.compute_url)
            .field("identity_url", &self.identity_url)
            .field("key_manager", &self.key_manager.is_some())
            .finish_non_exhaustive()
    }
}

/// The block storage service's shared state.
pub struct BlockService {
    pub(crate) store: Store,
    pub(crate) cfg: BlockConfig,
    pub(crate) enforcer: Enforcer,
    pub(crate) validator: Arc<dyn TokenValidator>,
    pub(crate) backend: Arc<dyn VolumeBackend>,
    pub(crate) image_url: Option<String>,
    pub(crate) compute: Option<clients::ComputeClient>,
    pub(crate) key_manager: Option<Arc<dyn rustack_keymgr_api::KeyManager>>,
    /// Serialises read-modify-write sequences on documents (status checks + writes,
    /// quota checks + inserts). Never held across a backend or network call.
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    /// `<host>@<backend>#<pool>`.
    pub(crate) host: String,
    /// The host name alone.
    pub(crate) hostname: String,
    /// Temporary files (image downloads and exports).
    pub(crate) tmp_dir: std::path::PathBuf,
    /// The filesystem backup driver's directory.
    pub(crate) backups_dir: std::path::PathBuf,
}

impl std::fmt::Debug for BlockService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockService")
            .field("cfg", &self.cfg)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl BlockService {
    /// Opens (and migrates) the database at `database_url`, loads the policy, and
    /// creates the `__DEFAULT__` volume type and the service records on first start.
    pub async fn open(
        cfg: BlockConfig,
        database_url: &str,
        backend: Arc<dyn VolumeBackend>,
        deps: BlockDeps,
        validator: Arc<dyn TokenValidator>,
    ) -> Result<Arc<BlockService>, StartError> {
        let db = Db::connect(database_url).await.map_err(StartError::Db)?;
        db.migrate(schema::MIGRATIONS)
            .await
            .map_err(StartError::Db)?;
        let mut enforcer =
            Enforcer::new(rustack_policy::defaults::block()).map_err(StartError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer
                .load_overrides_file(p)
                .map_err(StartError::Policy)?;
        }
        let hostname = if cfg.host.is_empty() {
            machine_hostname()
        } else {
            cfg.host.clone()
        };
        let backend_name = backend.name().to_string();
        let host = format!("{hostname}@{backend_name}#{backend_name}");
        let compute = match (
            &deps.compute_url,
            &deps.identity_url,
            deps.service_credentials,
        ) {
            (Some(c), Some(i), Some(creds)) => {
                let token = clients::ServiceToken::new(i, creds)
                    .map_err(|e| StartError::Seed(e.external_message().to_string()))?;
                Some(clients::ComputeClient::new(c, token))
            }
            _ => None,
        };
        let tmp_dir = cfg
            .volumes_dir
            .clone()
            .map(|d| d.join(".tmp"))
            .unwrap_or_else(|| std::env::temp_dir().join("rustack-block"));
        let backups_dir = cfg
            .backups_dir
            .clone()
            .or_else(|| {
                cfg.volumes_dir
                    .as_ref()
                    .and_then(|d| d.parent().map(|p| p.join("backups")))
            })
            .unwrap_or_else(|| std::env::temp_dir().join("rustack-block-backups"));
        // Leftovers are removed only from directories of this service's own (the
        // fallbacks under the system temp dir may be shared with another instance).
        prepare_dir(&tmp_dir, cfg.volumes_dir.is_some(), true)?;
        prepare_dir(
            &backups_dir,
            cfg.backups_dir.is_some() || cfg.volumes_dir.is_some(),
            false,
        )?;
        let svc = Arc::new(BlockService {
            store: Store::new(db),
            cfg,
            enforcer,
            validator,
            backend,
            image_url: deps.image_url,
            compute,
            key_manager: deps.key_manager,
            write_lock: tokio::sync::Mutex::new(()),
            host,
            hostname,
            tmp_dir,
            backups_dir,
        });
        ops::seed(&svc)
            .await
            .map_err(|e| StartError::Seed(format!("{:?}", e.error)))?;
        Ok(svc)
    }

    /// The datastore.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration in force.
    pub fn config(&self) -> &BlockConfig {
        &self.cfg
    }

    /// The volume host (`<host>@<backend>#<pool>`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The policy target for `project` and the caller.
    fn target(ctx: &AuthContext, project: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "project_id": project.or(ctx.project_id.as_deref()),
            "user_id": ctx.user_id,
        })
    }

    /// True if `rule` allows `ctx` on `project` (the caller's own when None).
    pub(crate) fn allowed(&self, ctx: &AuthContext, rule: &str, project: Option<&str>) -> bool {
        let mut creds = ctx.policy_creds();
        creds["is_admin"] = serde_json::json!(ctx.has_role("admin"));
        matches!(
            self.enforcer
                .enforce(rule, &Self::target(ctx, project), &creds),
            Ok(true)
        )
    }

    /// Enforces `rule` for `ctx` on `project`; 403 in Cinder's shape if refused.
    pub(crate) fn authorize(
        &self,
        ctx: &AuthContext,
        rule: &str,
        project: Option<&str>,
    ) -> BResult<()> {
        if self.allowed(ctx, rule, project) {
            Ok(())
        } else {
            Err(rustack_common::Error::forbidden(format!(
                "Policy doesn't allow {rule} to be performed."
            ))
            .into())
        }
    }
}

/// A started block storage service.
pub struct Running {
    /// Shared state.
    pub service: Arc<BlockService>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Block Storage API for `service` on `listener` until `shutdown`, and
/// starts the reconciler (once now, then every `reconcile_interval_secs`).
pub fn run(
    service: Arc<BlockService>,
    listener: tokio::net::TcpListener,
    shutdown: rustack_runtime::Shutdown,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    reconcile::spawn(service.clone(), shutdown.clone());
    let task = rustack_runtime::serve(listener, api::router(service.clone()), shutdown);
    Ok(Running {
        service,
        addr,
        task,
    })
}
