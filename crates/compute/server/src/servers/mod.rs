//! Servers: the `/servers` API and its actions, metadata, instance actions, addresses
//! and interfaces; the scheduler; the build as a logged multi-step operation with an
//! undo per step; deletes; and the power-state sync.
//!
//! Design:
//! - The API layer validates with `rustack_compute_api::server`, checks policy, writes
//!   the new state (vm_state/task_state, optimistic on the row's generation) and answers;
//!   the slow part (scheduling, ports, image, driver) runs in a task per operation.
//! - Operations on one server are serialized by a per-server async lock.
//! - A build records every completed step (claim, port, spawn) with what its undo needs
//!   in `build_steps` before moving on. A failure, a delete while building, or a
//!   restart that finds a build unfinished undoes the logged steps newest first.
//! - Other services are reached through their public APIs with the `nova` service
//!   user's token: Placement (claims), Networking (ports), Image (fetch, snapshots).

pub mod api;
pub mod app;
pub mod backup;
pub mod build;
pub mod clients;
pub mod deferred_delete;
pub mod diagnostics;
pub mod metadata;
pub mod network_actions;
pub mod ops;
pub mod paging;
pub mod power_update;
pub mod precache;
pub mod reconcile;
pub mod rescue;
pub mod scheduler;
pub mod shelve;
pub mod store;
pub mod sync;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustack_common::Error;
use rustack_identity_api::ServiceCredentials;
use rustack_network_api::client::NetworkClient;
use rustack_placement_api::client::PlacementClient;
use rustack_virt::ComputeDriver;

use crate::app::Compute;
use clients::{Glance, ServiceToken};

/// Where the servers work finds the other services and how it behaves.
#[derive(Clone, Debug)]
pub struct ServersConfig {
    /// Identity (`http://host:5000`), for the service token.
    pub identity_url: String,
    /// Networking (`http://host:9696`).
    pub network_url: String,
    /// Image (`http://host:9292`).
    pub image_url: String,
    /// Placement (`http://host:8778`).
    pub placement_url: String,
    /// The `nova` service user.
    pub service_credentials: ServiceCredentials,
    /// Per-host state: the image cache lives in `<state_dir>/images`.
    pub state_dir: PathBuf,
    /// Hosts tried per build before the server goes to ERROR (Nova's
    /// `max_attempts`, 3).
    pub max_build_attempts: u32,
    /// Seconds between power-state sync passes (Nova's `sync_power_state_interval`).
    pub sync_interval: Duration,
}

/// The servers work's state, shared by handlers and tasks.
pub struct Servers {
    pub(crate) compute: Arc<Compute>,
    pub(crate) cfg: ServersConfig,
    pub(crate) token: ServiceToken,
    pub(crate) network: NetworkClient,
    pub(crate) placement: PlacementClient,
    pub(crate) glance: Glance,
    /// Drivers per compute host (the in-process host, plus hosts tests add).
    pub(crate) drivers: Mutex<HashMap<String, Arc<dyn ComputeDriver>>>,
    /// Per-server operation locks.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Builds in progress: set to true to cancel (delete while building).
    pub(crate) builds: Mutex<HashMap<String, Arc<std::sync::atomic::AtomicBool>>>,
    /// Serializes image cache fills per image.
    pub(crate) image_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Counters for the benchmark.
    pub(crate) stats: Mutex<Stats>,
    /// Block Storage and key manager access (volumes).
    pub(crate) block_deps: parking_lot::RwLock<crate::volumes::BlockDeps>,
    /// The token of the user behind a running build or delete, by server (volume
    /// calls need it; never persisted).
    pub(crate) user_tokens: Mutex<HashMap<String, String>>,
    /// True once the passes at start (recovery, reconciliations) are done.
    started: tokio::sync::watch::Sender<bool>,
}

/// Scheduler counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Scheduling decisions made.
    pub decisions: u64,
    /// Microseconds spent deciding (candidates + filters + claim).
    pub decision_micros: u64,
    /// Claims lost to a concurrent claim (409) and retried.
    pub claim_conflicts: u64,
}

impl std::fmt::Debug for Servers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Servers")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Servers {
    /// The servers work over `compute`, reaching the other services as `cfg` says.
    pub fn new(compute: Arc<Compute>, cfg: ServersConfig) -> Result<Arc<Servers>, Error> {
        let placement = PlacementClient::new(&cfg.placement_url)
            .map_err(|e| Error::internal(format!("placement client: {e}")))?;
        let s = Arc::new(Servers {
            token: ServiceToken::new(&cfg.identity_url, cfg.service_credentials.clone())?,
            network: NetworkClient::new(&cfg.network_url)?,
            glance: Glance::new(&cfg.image_url)?,
            placement,
            compute,
            cfg,
            drivers: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            builds: Mutex::new(HashMap::new()),
            image_locks: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            block_deps: parking_lot::RwLock::new(Default::default()),
            user_tokens: Mutex::new(HashMap::new()),
            started: tokio::sync::watch::channel(false).0,
        });
        Ok(s)
    }

    /// Registers the driver of compute host `host`.
    pub fn add_host(&self, host: &str, driver: Arc<dyn ComputeDriver>) {
        self.drivers.lock().insert(host.to_string(), driver);
    }

    /// The driver of `host` (the in-process host's when only one exists).
    pub(crate) fn driver_for(&self, host: &str) -> Result<Arc<dyn ComputeDriver>, Error> {
        if let Some(d) = self.drivers.lock().get(host) {
            return Ok(d.clone());
        }
        self.compute
            .driver()
            .cloned()
            .ok_or_else(|| Error::internal(format!("no compute driver for host {host}")))
    }

    /// The service token (for Networking, Image and Placement calls).
    pub(crate) async fn service_token(&self) -> Result<String, Error> {
        let t = self.token.get().await?;
        self.placement.set_token(t.clone());
        Ok(t)
    }

    /// The lock serializing operations on server `uuid`.
    pub(crate) fn lock_for(&self, uuid: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut l = self.locks.lock();
        if l.len() > 10_000 {
            l.retain(|_, m| Arc::strong_count(m) > 1);
        }
        l.entry(uuid.to_string()).or_default().clone()
    }

    /// Scheduler counters so far.
    pub fn stats(&self) -> Stats {
        *self.stats.lock()
    }

    /// Where cached images live.
    pub(crate) fn image_cache_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("images")
    }

    /// Waits until the passes at start of [`Self::start_background`] are done.
    pub async fn wait_started(&self) {
        let mut rx = self.started.subscribe();
        // Err: the sender is gone, so is `self`; nothing to wait for.
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Starts the background work: restart recovery, the leftover reconciliation, then
    /// the periodic power sync.
    pub fn start_background(self: &Arc<Self>, shutdown: rustack_runtime::Shutdown) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = me.recover().await {
                tracing::error!(error = %e, "servers: restart recovery failed");
            }
            if let Err(e) = me.reconcile_volumes().await {
                tracing::error!(error = %e, "servers: volume mapping reconciliation failed");
            }
            if let Err(e) = me.reconcile_leftovers(true).await {
                tracing::error!(error = %e, "servers: leftover reconciliation at start failed");
            }
            me.started.send_replace(true);
            sync::run(me, shutdown).await;
        });
    }
}

pub(crate) use ops::action as ops_action;
