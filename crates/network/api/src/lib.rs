//! The Networking API's contract (Neutron v2.0): the service configuration, the
//! extensions rustack implements, and the attribute maps that say, per resource, which
//! attributes a client may set on create and update and how they are validated, as
//! neutron-lib's `api/definitions` do. The server validates every request body against
//! these maps before its app layer runs.

pub mod attrs;
pub mod client;
pub mod config;
pub mod extensions;

pub use config::{DataPlaneMode, DhcpPortsMode, NetworkConfig, PublicNetworkConfig};
