//! The compute driver interface: what the compute agent asks of a hypervisor.
//!
//! [`ComputeDriver`] is object safe (`Arc<dyn ComputeDriver>`) and async (via
//! `async-trait`). Two implementations:
//!
//! - [`qemu::QemuDriver`]: real guests under QEMU (KVM when it works, TCG otherwise),
//!   one directory per instance under the state directory, QMP for power actions and
//!   hot-plug, persistent TAPs created through `rustack-hostops`. QEMU runs daemonized
//!   with a pidfile so guests survive agent restarts; a new driver re-adopts them.
//! - [`sim::SimulatedDriver`]: an in-memory state machine with the same semantics, fake
//!   capacity and failure knobs; no host access.
//!
//! This crate never touches a database or policy (STYLE §2).

pub mod error;
pub mod qcow2;
pub mod qemu;
pub mod sim;
pub mod types;

use std::path::Path;
use std::time::Duration;

pub use error::VirtError;
pub use types::{HostInfo, InstanceSpec, Nic, PowerState};

/// A hypervisor as the compute agent sees it. Instances are named by their UUID.
///
/// All operations are idempotent where the name says so (`destroy`); others fail with
/// [`VirtError::NotFound`] for an unknown instance and [`VirtError::InvalidState`] when
/// the instance is not in a state the operation applies to.
#[async_trait::async_trait]
pub trait ComputeDriver: Send + Sync {
    /// `"qemu"` or `"simulated"`.
    fn name(&self) -> &'static str;

    /// Capacity and identity of this host (the hypervisor record).
    async fn host_info(&self) -> Result<HostInfo, VirtError>;

    /// Create the disks and TAPs of a new instance and start it; returns once the guest
    /// process runs (not once the guest OS has booted).
    async fn spawn(&self, spec: &InstanceSpec) -> Result<(), VirtError>;

    /// Stop the guest and remove everything of it (process, TAPs, disks, sockets, logs).
    /// Idempotent: an unknown instance is success.
    async fn destroy(&self, uuid: &str) -> Result<(), VirtError>;

    /// Graceful shutdown (ACPI power button), forced off after `timeout`.
    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<(), VirtError>;

    /// Start a shut-off instance with its existing disks.
    async fn power_on(&self, uuid: &str) -> Result<(), VirtError>;

    /// Reboot: `hard` kills and restarts the guest process; soft is a graceful shutdown
    /// followed by a start, falling back to hard when the guest ignores the request.
    async fn reboot(&self, uuid: &str, hard: bool) -> Result<(), VirtError>;

    /// Pause the vCPUs (guest memory stays in the process).
    async fn pause(&self, uuid: &str) -> Result<(), VirtError>;

    /// Resume a paused instance.
    async fn unpause(&self, uuid: &str) -> Result<(), VirtError>;

    /// Suspend the instance (state reported as [`PowerState::Suspended`]).
    async fn suspend(&self, uuid: &str) -> Result<(), VirtError>;

    /// Resume a suspended instance.
    async fn resume(&self, uuid: &str) -> Result<(), VirtError>;

    /// The power state of one instance; [`VirtError::NotFound`] if unknown.
    async fn state(&self, uuid: &str) -> Result<PowerState, VirtError>;

    /// Every instance this host knows, with its power state (re-adoption, state sync).
    async fn list(&self) -> Result<Vec<(String, PowerState)>, VirtError>;

    /// The serial console log, or its last `tail_lines` lines.
    async fn console_output(
        &self,
        uuid: &str,
        tail_lines: Option<usize>,
    ) -> Result<String, VirtError>;

    /// Write a standalone qcow2 copy of the root disk to `dest`.
    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<(), VirtError>;

    /// Replace the root disk with a fresh one from `spec.image_path`, keep the TAPs, and
    /// boot.
    async fn rebuild(&self, spec: &InstanceSpec) -> Result<(), VirtError>;

    /// Apply a new flavor (vCPUs, memory; the root disk only grows) and boot. Revert is
    /// a resize back to the old flavor.
    async fn resize(&self, spec: &InstanceSpec) -> Result<(), VirtError>;

    /// Hot-plug a NIC (creates its TAP).
    async fn attach_interface(&self, uuid: &str, nic: &Nic) -> Result<(), VirtError>;

    /// Hot-unplug the NIC of `port_id` (deletes its TAP).
    async fn detach_interface(&self, uuid: &str, port_id: &str) -> Result<(), VirtError>;
}
