//! The host side of the block storage service: implementations of
//! [`rustack_block_api::VolumeBackend`].
//!
//! - [`SimulatedBackend`]: volumes as in-memory records (sizes, snapshots, fake
//!   capacity, failure knobs); no host access. For tests and scale runs.
//! - [`FileBackend`]: one qcow2 file per volume in a directory, LUKS inside the qcow2
//!   for encrypted volumes, internal qcow2 snapshots, all through `qemu-img`.
//!
//! Neither touches a database or policy (STYLE §2): the block storage server owns the
//! volume records and hands each call the [`rustack_block_api::Location`] it stored.

pub mod file;
pub mod runner;
pub mod sim;

pub use file::FileBackend;
pub use sim::{SimBackendConfig, SimBackendOp, SimulatedBackend};
