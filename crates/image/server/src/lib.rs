//! The Image service (Glance v2), wire-compatible: images with arbitrary properties
//! and tags, streamed upload and download with MD5 + SHA-512 multihash, HTTP Range,
//! members and visibility (public, community, shared, private), deactivation,
//! interoperable import (`glance-direct`, `web-download`), quotas, metadata
//! definitions (`/v2/metadefs`, with a built-in catalog), the tasks API, and Glance's
//! JSON schemas and policy rules.
//!
//! Shape: `store` holds every SQL statement; `blob` is the narrow [`ImageStore`]
//! interface with the filesystem implementation; `access` decides visibility and
//! policy the way Glance's DB layer and `ImageAPIPolicy` do; `api` holds thin
//! handlers per resource; `transfer` is the streaming data path shared by upload,
//! stage and import. [`ImageService::open`] prepares the state (database, stores,
//! crash recovery), [`run`] serves it.

pub mod access;
pub mod api;
pub mod blob;
pub mod metadef_catalog;
pub mod schema;
pub mod store;
pub mod transfer;
pub mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustack_api_common::TokenValidator;
use rustack_common::Error;
use rustack_db::Db;
use rustack_image_api::{ImageConfig, ImageStatus};
use rustack_policy::Enforcer;

pub use blob::{BlobWriter, FilesystemStore, ImageStore, StoreError};
pub use store::Store;

/// Failures starting the image service.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("image database")]
    Db(#[source] rustack_db::DbError),
    /// The image store directory is unusable.
    #[error("image store")]
    Store(#[source] StoreError),
    /// The policy file is invalid.
    #[error("image policy")]
    Policy(#[source] rustack_policy::PolicyError),
    /// Recovering from an interrupted run failed.
    #[error("image service recovery: {0}")]
    Recovery(String),
}

/// The running image service's shared state.
pub struct ImageService {
    pub(crate) store: Store,
    pub(crate) cfg: ImageConfig,
    pub(crate) images: Arc<dyn ImageStore>,
    pub(crate) staging: Arc<dyn ImageStore>,
    pub(crate) enforcer: Enforcer,
    pub(crate) validator: Arc<dyn TokenValidator>,
    pub(crate) http: reqwest::Client,
    /// Serialises metadata read-modify-writes per image within this process (striped);
    /// the `generation` check still catches writers in other processes.
    meta_locks: Vec<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl ImageService {
    /// Opens (and migrates) the database at `database_url`, the filesystem store at
    /// `data_dir` (staging in `data_dir/staging`), loads the policy, and recovers from
    /// an interrupted previous run: partial data is removed and images caught
    /// mid-upload go back to `queued` (mid-import ones to `uploading` if their staged
    /// data survived), as Glance restores them.
    pub async fn open(
        cfg: ImageConfig,
        database_url: &str,
        data_dir: PathBuf,
        validator: Arc<dyn TokenValidator>,
    ) -> Result<Arc<ImageService>, StartError> {
        let images: Arc<dyn ImageStore> =
            Arc::new(FilesystemStore::new(&data_dir).map_err(StartError::Store)?);
        let staging_dir = data_dir.join("staging");
        let staging_store = FilesystemStore::new(&staging_dir).map_err(StartError::Store)?;
        Self::open_with_stores(
            cfg,
            database_url,
            images,
            Arc::new(staging_store),
            validator,
        )
        .await
    }

    /// Like [`ImageService::open`] with any image and staging stores.
    pub async fn open_with_stores(
        cfg: ImageConfig,
        database_url: &str,
        images: Arc<dyn ImageStore>,
        staging: Arc<dyn ImageStore>,
        validator: Arc<dyn TokenValidator>,
    ) -> Result<Arc<ImageService>, StartError> {
        let db = Db::connect(database_url).await.map_err(StartError::Db)?;
        db.migrate(schema::MIGRATIONS)
            .await
            .map_err(StartError::Db)?;
        let mut enforcer =
            Enforcer::new(rustack_policy::defaults::image()).map_err(StartError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer
                .load_overrides_file(p)
                .map_err(StartError::Policy)?;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(cfg.web_download_timeout))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| StartError::Recovery(format!("http client: {e}")))?;
        let svc = Arc::new(ImageService {
            store: Store::new(db),
            cfg,
            images,
            staging,
            enforcer,
            validator,
            http,
            meta_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        });
        svc.recover().await?;
        Ok(svc)
    }

    async fn recover(&self) -> Result<(), StartError> {
        let err = |e: Error| StartError::Recovery(e.to_string());
        let removed = self
            .images
            .cleanup_incomplete()
            .await
            .map_err(StartError::Store)?
            + self
                .staging
                .cleanup_incomplete()
                .await
                .map_err(StartError::Store)?;
        if removed > 0 {
            tracing::warn!(
                files = removed,
                "removed partial image data left by an interrupted run"
            );
        }
        for (id, status) in self.store.image_in_flight().await.map_err(err)? {
            let to = match status {
                ImageStatus::Importing | ImageStatus::Uploading
                    if transfer::staged_exists(self, &id).await =>
                {
                    ImageStatus::Uploading
                }
                _ => ImageStatus::Queued,
            };
            if to == status {
                continue;
            }
            self.store
                .image_set_status(&id, &[status], to)
                .await
                .map_err(err)?;
            tracing::warn!(image.id = %id, from = status.as_str(), to = to.as_str(),
                "image was mid-transfer when the service stopped; restored");
        }
        self.store.task_fail_unfinished().await.map_err(err)?;
        let loaded = metadef_catalog::load(&self.store).await.map_err(err)?;
        if loaded > 0 {
            tracing::info!(
                namespaces = loaded,
                "loaded the built-in metadata definitions"
            );
        }
        Ok(())
    }

    /// Holds the metadata write lock of `image_id` until the guard is dropped.
    pub(crate) async fn lock_metadata(&self, image_id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        image_id.hash(&mut h);
        let n = (h.finish() % self.meta_locks.len() as u64) as usize;
        self.meta_locks[n].lock().await
    }

    /// The datastore.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration in force.
    pub fn config(&self) -> &ImageConfig {
        &self.cfg
    }
}

/// A started image service.
pub struct Running {
    /// Shared state.
    pub service: Arc<ImageService>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Image API for `service` on `listener` until `shutdown`.
pub fn run(
    service: Arc<ImageService>,
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
