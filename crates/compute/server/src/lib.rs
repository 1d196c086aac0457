//! The Compute service (Nova v2.1 API): flavors, keypairs, quotas and limits, server
//! groups, availability zones, hypervisors and services, the `/images` proxy, and
//! servers with their actions, the scheduler and the build, driving a `rustack-virt`
//! compute driver.
//!
//! Shape (as the network and image services): `store` holds every SQL statement (one
//! file per table group); `app` is the app layer (policy + logic per resource, taking the
//! caller's `AuthContext`); `api` holds thin handlers and the router, with microversion
//! negotiation and token auth in one layer; `error` renders every failure in Nova's
//! fault style. [`Compute::open`] prepares the state, [`run`] serves it.

pub mod api;
pub mod app;
pub mod error;
pub mod schema;
pub mod servers;
pub mod store;
pub mod volumes;

use std::net::SocketAddr;
use std::sync::Arc;

use rustack_api_common::TokenValidator;

pub use app::{Compute, OpenError, ProjectUsage, UsageSource};
pub use error::ApiError;
pub use rustack_compute_api::ComputeConfig;

/// A started compute service.
pub struct Running {
    /// Shared state.
    pub compute: Arc<Compute>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Compute API for `compute` on `listener` until `shutdown`, validating
/// tokens with `validator`.
pub fn run(
    compute: Arc<Compute>,
    validator: Arc<dyn TokenValidator>,
    listener: tokio::net::TcpListener,
    shutdown: rustack_runtime::Shutdown,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let task = rustack_runtime::serve(listener, api::router(compute.clone(), validator), shutdown);
    Ok(Running {
        compute,
        addr,
        task,
    })
}
