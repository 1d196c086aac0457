//! The Networking service (Neutron v2.0 API), wire-compatible: networks, subnets, ports
//! with race-free IPAM, routers, floating IPs, security groups, subnet pools, quotas and
//! tags, with Neutron's policy rules, error types and list semantics.
//!
//! Shape: `store` holds every SQL statement; `app` is the app layer (policy + logic per
//! resource); `api` holds thin handlers; `ipam` is pure address arithmetic. [`run`]
//! serves the API on a listener. This is the API layer only: every resource carries a
//! `revision_number` (bumped on each write) and a `status` so a host agent can later
//! reconcile bridges, DHCP and routers from the database.

pub mod api;
pub mod app;
pub mod bootstrap;
pub mod error;
pub mod ipam;
pub mod schema;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use rustack_api_common::TokenValidator;

pub use app::{Network, OpenError};
pub use error::NeutronError;
pub use rustack_network_api::NetworkConfig;

/// A started network service.
pub struct Running {
    /// Shared state.
    pub network: Arc<Network>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server task.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves the Networking API for `network` on `listener` until `shutdown`, validating
/// tokens with `validator`.
pub fn run(
    network: Arc<Network>,
    validator: Arc<dyn TokenValidator>,
    listener: tokio::net::TcpListener,
    shutdown: rustack_runtime::Shutdown,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let task = rustack_runtime::serve(listener, api::router(network.clone(), validator), shutdown);
    Ok(Running {
        network,
        addr,
        task,
    })
}
