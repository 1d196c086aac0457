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
pub use types::{
    CpuDiagnostics, Diagnostics, DiskDiagnostics, HostInfo, InstanceSpec, Nic, NicDiagnostics,
    PowerState, VolumeAttachment, VolumeSource,
};

use std::sync::Arc;

/// Which driver a compute host runs, as configuration (`driver = "qemu"` plus the
/// [`qemu::QemuConfig`] fields, or `driver = "simulated"` plus [`sim::SimConfig`]'s).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum DriverConfig {
    /// Real guests under QEMU.
    Qemu(qemu::QemuConfig),
    /// The in-memory simulated driver.
    Simulated(sim::SimConfig),
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig::Simulated(sim::SimConfig::default())
    }
}

impl DriverConfig {
    /// Build the configured driver.
    pub fn build(&self) -> Result<Arc<dyn ComputeDriver>, VirtError> {
        Ok(match self {
            DriverConfig::Qemu(c) => Arc::new(qemu::QemuDriver::new(c.clone())?),
            DriverConfig::Simulated(c) => Arc::new(sim::SimulatedDriver::new(c.clone())),
        })
    }
}

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

    /// Hot-plug a volume into a running (or paused) guest: QEMU opens the volume itself
    /// (`blockdev-add`, with a LUKS secret object when encrypted) and the guest gets a
    /// virtio-blk disk whose serial is the volume id. Idempotent: attaching a volume
    /// that is already attached succeeds. Returns the guest device name the driver
    /// expects (`/dev/vdb`, ...), which Nova reports as `device`.
    async fn attach_volume(
        &self,
        uuid: &str,
        volume: &VolumeAttachment,
    ) -> Result<String, VirtError> {
        let _ = volume;
        Err(VirtError::Unsupported(format!(
            "attach_volume to {uuid} on a {} host",
            self.name()
        )))
    }

    /// Hot-unplug a volume: `device_del`, wait for the guest to release it
    /// (`DEVICE_DELETED`, retried as Nova's `device_detach_attempts`), then close it
    /// (`blockdev-del`, secret removed). Idempotent: a volume that is not attached is
    /// success. A guest that never releases the device gives [`VirtError::Timeout`]
    /// and keeps the device.
    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), VirtError> {
        let _ = volume_id;
        Err(VirtError::Unsupported(format!(
            "detach_volume from {uuid} on a {} host",
            self.name()
        )))
    }

    /// Grow an attached volume to `new_size_bytes` as the guest sees it (QMP
    /// `block_resize`; for LUKS the payload size).
    async fn extend_volume(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> Result<(), VirtError> {
        let _ = (volume_id, new_size_bytes);
        Err(VirtError::Unsupported(format!(
            "extend_volume of {uuid} on a {} host",
            self.name()
        )))
    }

    /// Take an internal qcow2 snapshot named `name` of an attached volume while the
    /// guest runs (QMP `blockdev-snapshot-internal-sync`): what Nova's assisted volume
    /// snapshots do for file volumes that QEMU holds open.
    async fn volume_snapshot_create(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        let _ = (volume_id, name);
        Err(VirtError::Unsupported(format!(
            "volume_snapshot_create on {uuid} on a {} host",
            self.name()
        )))
    }

    /// Delete the internal snapshot `name` of an attached volume while the guest runs
    /// (QMP `blockdev-snapshot-delete-internal-sync`). Idempotent.
    async fn volume_snapshot_delete(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        let _ = (volume_id, name);
        Err(VirtError::Unsupported(format!(
            "volume_snapshot_delete on {uuid} on a {} host",
            self.name()
        )))
    }

    /// Whether this driver's guests hold volume files open themselves (QEMU does; the
    /// simulated driver does not). The block storage service learns it from the
    /// connector (`rustack_live_file_access`) and then snapshots or extends in-use
    /// volumes through the compute API instead of touching the file.
    fn opens_volume_files(&self) -> bool {
        false
    }

    /// Boot the instance from a fresh disk made from `image` (format `image_format`,
    /// qcow2 or raw) with its own root disk attached as the second disk (Nova's
    /// rescue). The instance's disks are kept (no password is injected). Works from
    /// running, shut down or crashed; a rescued instance reports
    /// [`PowerState::Running`].
    async fn rescue(&self, uuid: &str, image: &Path, image_format: &str) -> Result<(), VirtError> {
        let _ = (image, image_format);
        Err(VirtError::Unsupported(format!(
            "rescue of {uuid} on a {} host",
            self.name()
        )))
    }

    /// Leave rescue: stop the rescue boot, drop its disk and boot from the original
    /// root disk. [`VirtError::InvalidState`] when the instance is not rescued.
    async fn unrescue(&self, uuid: &str) -> Result<(), VirtError> {
        Err(VirtError::Unsupported(format!(
            "unrescue of {uuid} on a {} host",
            self.name()
        )))
    }

    /// Figures about a guest (Nova's server diagnostics).
    async fn diagnostics(&self, uuid: &str) -> Result<Diagnostics, VirtError> {
        Err(VirtError::Unsupported(format!(
            "diagnostics of {uuid} on a {} host",
            self.name()
        )))
    }

    /// Inject an NMI into the running guest, which makes a guest configured for it
    /// write a crash dump (Nova's `trigger_crash_dump`).
    async fn trigger_crash_dump(&self, uuid: &str) -> Result<(), VirtError> {
        Err(VirtError::Unsupported(format!(
            "trigger_crash_dump of {uuid} on a {} host",
            self.name()
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn driver_config_selects_the_driver() {
        let c: DriverConfig =
            serde_json::from_str(r#"{"driver": "simulated", "vcpus": 8, "hostname": "h"}"#)
                .unwrap();
        let d = c.build().unwrap();
        assert_eq!(d.name(), "simulated");
        assert!(
            serde_json::from_str::<DriverConfig>(r#"{"driver": "simulated", "bogus": 1}"#).is_err()
        );
        assert!(serde_json::from_str::<DriverConfig>(r#"{"driver": "xen"}"#).is_err());

        let dir = tempfile::tempdir().unwrap();
        let c: DriverConfig = serde_json::from_value(serde_json::json!({
            "driver": "qemu",
            "state_dir": dir.path(),
            "accel": "tcg",
        }))
        .unwrap();
        let d = c.build().unwrap();
        assert_eq!(d.name(), "qemu");
        assert!(dir.path().join("instances").is_dir());
        assert_eq!(DriverConfig::default().build().unwrap().name(), "simulated");
    }
}
