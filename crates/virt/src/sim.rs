//! The simulated compute driver: an in-memory state machine with the semantics of the
//! QEMU driver and no host access (STYLE §6: a shared, stateful fake with failure
//! knobs, not a per-test mock).
//!
//! Transitions (both drivers):
//!
//! | operation | from | to |
//! |---|---|---|
//! | `spawn` | (unknown) | running |
//! | `power_off` | any | shutdown (no-op when shut down) |
//! | `power_on` | shutdown, crashed, nostate, running (no-op) | running |
//! | `reboot` (soft or hard) | any | running |
//! | `pause` / `unpause` | running / paused | paused / running |
//! | `suspend` / `resume` | running, paused / suspended | suspended / running |
//! | `rebuild`, `resize` | any | running |
//! | `rescue` | running, shutdown, crashed, nostate (not rescued) | running (rescued) |
//! | `unrescue` | rescued | running |
//! | `destroy` | any, or unknown | (unknown) |
//!
//! Every other combination is [`VirtError::InvalidState`]. The console receives a short
//! boot transcript at spawn (four lines, the first `rustack simulated console: booted
//! <uuid>`), then one line per event. `snapshot` copies the image
//! file when it is a qcow2 file that exists, else writes a small empty qcow2.
//!
//! Volumes: attached volumes live in memory per instance with the device name the QEMU
//! driver would report (`/dev/vda` root or boot volume, then ephemeral and swap, then
//! volumes, first free letter), their size after `extend_volume` and their internal
//! snapshots; passphrases are never kept (only whether the volume is encrypted).
//! Attach is idempotent; detach of an unknown volume is success; extend and volume
//! snapshots need a running or paused guest, as with QEMU. `opens_volume_files()` is
//! false: the block storage service works on volume data itself.
//!
//! Knobs: [`SimulatedDriver::fail_next`] (the next call of one operation fails with
//! [`VirtError::Injected`]), [`SimulatedDriver::set_delay`] (every operation sleeps
//! first), [`SimulatedDriver::set_state`] (a guest that changes state by itself, e.g.
//! shuts itself down or crashes).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::VirtError;
use crate::qemu::volume::disk_name;
use crate::types::{HostInfo, InstanceSpec, Nic, PowerState, VolumeAttachment};
use crate::ComputeDriver;

/// Fake capacity and identity of a simulated host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Host name (default `sim-host`).
    pub hostname: String,
    /// vCPUs (default 64).
    pub vcpus: u32,
    /// Memory in MiB (default 262144).
    pub memory_mb: u64,
    /// Disk in GiB (default 10240).
    pub disk_gb: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            hostname: "sim-host".to_string(),
            vcpus: 64,
            memory_mb: 256 * 1024,
            disk_gb: 10 * 1024,
        }
    }
}

/// The operations a failure can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimOp {
    /// `spawn`.
    Spawn,
    /// `destroy`.
    Destroy,
    /// `power_off`.
    PowerOff,
    /// `power_on`.
    PowerOn,
    /// `reboot`.
    Reboot,
    /// `pause`.
    Pause,
    /// `unpause`.
    Unpause,
    /// `suspend`.
    Suspend,
    /// `resume`.
    Resume,
    /// `snapshot`.
    Snapshot,
    /// `rebuild`.
    Rebuild,
    /// `resize`.
    Resize,
    /// `attach_interface`.
    AttachInterface,
    /// `detach_interface`.
    DetachInterface,
    /// `trigger_crash_dump`.
    TriggerCrashDump,
    /// `attach_volume`.
    AttachVolume,
    /// `detach_volume`.
    DetachVolume,
    /// `extend_volume`.
    ExtendVolume,
    /// `volume_snapshot_create`.
    VolumeSnapshotCreate,
    /// `volume_snapshot_delete`.
    VolumeSnapshotDelete,
    /// `rescue`.
    Rescue,
    /// `unrescue`.
    Unrescue,
    /// `diagnostics`.
    Diagnostics,
}

impl SimOp {
    fn name(self) -> &'static str {
        match self {
            SimOp::Spawn => "spawn",
            SimOp::Destroy => "destroy",
            SimOp::PowerOff => "power_off",
            SimOp::PowerOn => "power_on",
            SimOp::Reboot => "reboot",
            SimOp::Pause => "pause",
            SimOp::Unpause => "unpause",
            SimOp::Suspend => "suspend",
            SimOp::Resume => "resume",
            SimOp::Snapshot => "snapshot",
            SimOp::Rebuild => "rebuild",
            SimOp::Resize => "resize",
            SimOp::AttachInterface => "attach_interface",
            SimOp::DetachInterface => "detach_interface",
            SimOp::TriggerCrashDump => "trigger_crash_dump",
            SimOp::AttachVolume => "attach_volume",
            SimOp::DetachVolume => "detach_volume",
            SimOp::ExtendVolume => "extend_volume",
            SimOp::VolumeSnapshotCreate => "volume_snapshot_create",
            SimOp::VolumeSnapshotDelete => "volume_snapshot_delete",
            SimOp::Rescue => "rescue",
            SimOp::Unrescue => "unrescue",
            SimOp::Diagnostics => "diagnostics",
        }
    }
}

/// A volume attached to a simulated instance (what tests can inspect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimVolume {
    /// The volume id.
    pub volume_id: String,
    /// The guest device name reported on attach (`/dev/vdb`).
    pub device: String,
    /// Read-only attach.
    pub read_only: bool,
    /// Whether a LUKS passphrase came with it (the passphrase itself is not kept).
    pub encrypted: bool,
    /// The boot volume of a volume-backed instance.
    pub boot: bool,
    /// The size the guest sees after `extend_volume` (`None`: never extended).
    pub size_bytes: Option<u64>,
    /// Internal snapshots taken through the driver.
    pub snapshots: Vec<String>,
}

#[derive(Debug)]
struct SimInstance {
    spec: InstanceSpec,
    state: PowerState,
    console: Vec<String>,
    volumes: Vec<SimVolume>,
    /// The rescue image while rescued.
    rescue: Option<std::path::PathBuf>,
}

impl SimInstance {
    /// The first free device letter after the root, ephemeral and swap disks.
    fn next_device(&self) -> String {
        let mut i =
            1 + usize::from(self.spec.ephemeral_gb > 0) + usize::from(self.spec.swap_mb > 0);
        loop {
            let name = disk_name(i);
            if !self.volumes.iter().any(|v| v.device == name) {
                return name;
            }
            i += 1;
        }
    }

    /// Record `v` (idempotent) and return its device name; the spec keeps a copy
    /// without the passphrase.
    fn attach(&mut self, v: &VolumeAttachment, boot: bool) -> String {
        if let Some(existing) = self.volumes.iter().find(|x| x.volume_id == v.volume_id) {
            return existing.device.clone();
        }
        let device = if boot {
            disk_name(0)
        } else {
            self.next_device()
        };
        self.volumes.push(SimVolume {
            volume_id: v.volume_id.clone(),
            device: device.clone(),
            read_only: v.read_only,
            encrypted: v.luks_passphrase.is_some(),
            boot,
            size_bytes: None,
            snapshots: Vec::new(),
        });
        let mut stored = v.clone();
        stored.luks_passphrase = None;
        if !boot {
            stored.boot_index = None;
        }
        self.spec.volumes.retain(|x| x.volume_id != v.volume_id);
        self.spec.volumes.push(stored);
        device
    }
}

#[derive(Debug, Default)]
struct SimState {
    instances: BTreeMap<String, SimInstance>,
    fail_next: HashMap<SimOp, u32>,
    delay: Duration,
}

/// The simulated driver. Share it as `Arc<SimulatedDriver>` (tests keep a handle for the
/// knobs) or `Arc<dyn ComputeDriver>`.
#[derive(Debug, Default)]
pub struct SimulatedDriver {
    config: SimConfig,
    state: Mutex<SimState>,
}

impl SimulatedDriver {
    /// A simulated host with this capacity and no instances.
    pub fn new(config: SimConfig) -> Self {
        SimulatedDriver {
            config,
            state: Mutex::new(SimState::default()),
        }
    }

    /// Make the next `count` calls of `op` fail with [`VirtError::Injected`] (after the
    /// delay, before any state change).
    pub fn fail_next(&self, op: SimOp, count: u32) {
        *self.state.lock().fail_next.entry(op).or_insert(0) += count;
    }

    /// Make every operation sleep this long first (zero: no delay).
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().delay = delay;
    }

    /// Change an instance's power state behind the driver's back (a guest that shut
    /// itself down or crashed).
    pub fn set_state(&self, uuid: &str, state: PowerState) -> Result<(), VirtError> {
        let mut s = self.state.lock();
        let inst = s.instances.get_mut(uuid).ok_or_else(|| not_found(uuid))?;
        inst.state = state;
        inst.console.push(format!(
            "rustack simulated console: {} {uuid}",
            state.as_str()
        ));
        Ok(())
    }

    /// The volumes attached to an instance, in attach order (empty for an unknown one).
    pub fn volumes(&self, uuid: &str) -> Vec<SimVolume> {
        self.state
            .lock()
            .instances
            .get(uuid)
            .map(|i| i.volumes.clone())
            .unwrap_or_default()
    }

    /// The rescue image an instance boots from while rescued (`None`: not rescued or
    /// unknown).
    pub fn rescue_image(&self, uuid: &str) -> Option<std::path::PathBuf> {
        self.state
            .lock()
            .instances
            .get(uuid)
            .and_then(|i| i.rescue.clone())
    }

    /// The spec the instance currently runs with (NICs as attached), if it exists.
    pub fn spec(&self, uuid: &str) -> Option<InstanceSpec> {
        self.state
            .lock()
            .instances
            .get(uuid)
            .map(|i| i.spec.clone())
    }

    async fn enter(&self, op: SimOp) -> Result<(), VirtError> {
        let delay = self.state.lock().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut s = self.state.lock();
        if let Some(n) = s.fail_next.get_mut(&op) {
            if *n > 0 {
                *n -= 1;
                return Err(VirtError::Injected { op: op.name() });
            }
        }
        Ok(())
    }

    /// Apply `f` to an existing instance under the lock.
    fn with<T>(
        &self,
        uuid: &str,
        f: impl FnOnce(&mut SimInstance) -> Result<T, VirtError>,
    ) -> Result<T, VirtError> {
        let mut s = self.state.lock();
        let inst = s.instances.get_mut(uuid).ok_or_else(|| not_found(uuid))?;
        f(inst)
    }

    /// Move `uuid` to `to` if its state is one of `from`, logging `event` on the console.
    fn transition(
        &self,
        uuid: &str,
        op: &'static str,
        from: &[PowerState],
        to: PowerState,
        event: &str,
    ) -> Result<(), VirtError> {
        self.with(uuid, |inst| {
            if !from.contains(&inst.state) {
                return Err(invalid_state(uuid, op, inst.state));
            }
            inst.state = to;
            inst.console
                .push(format!("rustack simulated console: {event} {uuid}"));
            Ok(())
        })
    }
}

/// What a new simulated guest writes to its console: a few lines, as a booting guest
/// would (clients such as Tempest expect more than a line or two).
fn boot_transcript(uuid: &str) -> Vec<String> {
    [
        format!("booted {uuid}"),
        "firmware done, loading the kernel".to_string(),
        "init started".to_string(),
        format!("instance {uuid} login:"),
    ]
    .into_iter()
    .map(|l| format!("rustack simulated console: {l}"))
    .collect()
}

fn not_found(uuid: &str) -> VirtError {
    VirtError::NotFound {
        uuid: uuid.to_string(),
    }
}

fn not_attached(uuid: &str, volume_id: &str) -> VirtError {
    VirtError::InvalidSpec(format!(
        "volume {volume_id} is not attached to instance {uuid}"
    ))
}

fn invalid_state(uuid: &str, op: &'static str, state: PowerState) -> VirtError {
    VirtError::InvalidState {
        uuid: uuid.to_string(),
        op,
        state: state.as_str().to_string(),
    }
}

const ALL: [PowerState; 6] = [
    PowerState::NoState,
    PowerState::Running,
    PowerState::Paused,
    PowerState::Shutdown,
    PowerState::Crashed,
    PowerState::Suspended,
];

#[async_trait::async_trait]
impl ComputeDriver for SimulatedDriver {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn host_info(&self) -> Result<HostInfo, VirtError> {
        let c = &self.config;
        Ok(HostInfo {
            hostname: c.hostname.clone(),
            vcpus: c.vcpus,
            memory_mb: c.memory_mb,
            disk_gb: c.disk_gb,
            hypervisor_type: "QEMU".to_string(),
            hypervisor_version: 10_000_002,
            cpu_info: serde_json::json!({
                "arch": "x86_64",
                "model": "simulated",
                "vendor": "rustack",
                "topology": {"sockets": 1, "cores": c.vcpus, "threads": 1},
                "features": [],
            })
            .to_string(),
        })
    }

    async fn spawn(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        self.enter(SimOp::Spawn).await?;
        if spec.uuid.is_empty() {
            return Err(VirtError::InvalidSpec("empty instance uuid".to_string()));
        }
        let mut s = self.state.lock();
        if s.instances.contains_key(&spec.uuid) {
            return Err(VirtError::AlreadyExists {
                uuid: spec.uuid.clone(),
            });
        }
        if spec
            .volumes
            .iter()
            .filter(|v| v.boot_index == Some(0))
            .count()
            > 1
        {
            return Err(VirtError::InvalidSpec(
                "more than one volume with boot_index 0".to_string(),
            ));
        }
        let mut inst = SimInstance {
            spec: InstanceSpec {
                volumes: Vec::new(),
                ..spec.clone()
            },
            state: PowerState::Running,
            console: boot_transcript(&spec.uuid),
            volumes: Vec::new(),
            rescue: None,
        };
        // The boot volume takes vda whatever its position in the list.
        for v in spec.volumes.iter().filter(|v| v.boot_index == Some(0)) {
            inst.attach(v, true);
        }
        for v in spec.volumes.iter().filter(|v| v.boot_index != Some(0)) {
            inst.attach(v, false);
        }
        s.instances.insert(spec.uuid.clone(), inst);
        Ok(())
    }

    async fn destroy(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Destroy).await?;
        self.state.lock().instances.remove(uuid);
        Ok(())
    }

    async fn power_off(&self, uuid: &str, _timeout: Duration) -> Result<(), VirtError> {
        self.enter(SimOp::PowerOff).await?;
        self.transition(uuid, "power_off", &ALL, PowerState::Shutdown, "powered off")
    }

    async fn power_on(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::PowerOn).await?;
        self.transition(
            uuid,
            "power_on",
            &[
                PowerState::Shutdown,
                PowerState::Crashed,
                PowerState::NoState,
                PowerState::Running,
            ],
            PowerState::Running,
            "booted",
        )
    }

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<(), VirtError> {
        self.enter(SimOp::Reboot).await?;
        let event = if hard { "hard rebooted" } else { "rebooted" };
        self.transition(uuid, "reboot", &ALL, PowerState::Running, event)
    }

    async fn pause(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Pause).await?;
        self.transition(
            uuid,
            "pause",
            &[PowerState::Running],
            PowerState::Paused,
            "paused",
        )
    }

    async fn unpause(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Unpause).await?;
        self.transition(
            uuid,
            "unpause",
            &[PowerState::Paused],
            PowerState::Running,
            "unpaused",
        )
    }

    async fn suspend(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Suspend).await?;
        self.transition(
            uuid,
            "suspend",
            &[PowerState::Running, PowerState::Paused],
            PowerState::Suspended,
            "suspended",
        )
    }

    async fn resume(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Resume).await?;
        self.transition(
            uuid,
            "resume",
            &[PowerState::Suspended],
            PowerState::Running,
            "resumed",
        )
    }

    async fn state(&self, uuid: &str) -> Result<PowerState, VirtError> {
        self.with(uuid, |i| Ok(i.state))
    }

    async fn list(&self) -> Result<Vec<(String, PowerState)>, VirtError> {
        Ok(self
            .state
            .lock()
            .instances
            .iter()
            .map(|(k, v)| (k.clone(), v.state))
            .collect())
    }

    async fn console_output(
        &self,
        uuid: &str,
        tail_lines: Option<usize>,
    ) -> Result<String, VirtError> {
        self.with(uuid, |i| {
            let skip = match tail_lines {
                Some(n) => i.console.len().saturating_sub(n),
                None => 0,
            };
            let mut out = String::new();
            for line in &i.console[skip..] {
                out.push_str(line);
                out.push('\n');
            }
            Ok(out)
        })
    }

    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<(), VirtError> {
        self.enter(SimOp::Snapshot).await?;
        let spec = self.with(uuid, |i| Ok(i.spec.clone()))?;
        let copy = spec.image_format == "qcow2" && spec.image_path.is_file();
        let dest = dest.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if copy {
                std::fs::copy(&spec.image_path, &dest).map(|_| ())
            } else {
                let size = spec.root_gb.max(1) << 30;
                std::fs::write(&dest, crate::qcow2::empty_image(size))
            }
            .map_err(|e| VirtError::io(format!("write snapshot {}", dest.display()), e))
        })
        .await
        .map_err(|e| VirtError::io("snapshot task", std::io::Error::other(e)))?
    }

    async fn rebuild(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        self.enter(SimOp::Rebuild).await?;
        self.with(&spec.uuid, |i| {
            i.spec.image_path = spec.image_path.clone();
            i.spec.image_format = spec.image_format.clone();
            i.spec.config_drive = spec.config_drive.clone();
            i.spec.name = spec.name.clone();
            i.state = PowerState::Running;
            i.console
                .push(format!("rustack simulated console: rebuilt {}", spec.uuid));
            Ok(())
        })
    }

    async fn resize(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        self.enter(SimOp::Resize).await?;
        self.with(&spec.uuid, |i| {
            i.spec.vcpus = spec.vcpus;
            i.spec.memory_mb = spec.memory_mb;
            // The root disk never shrinks (a revert keeps the grown disk), as in QEMU.
            i.spec.root_gb = i.spec.root_gb.max(spec.root_gb);
            i.spec.ephemeral_gb = spec.ephemeral_gb;
            i.spec.swap_mb = spec.swap_mb;
            i.state = PowerState::Running;
            i.console.push(format!(
                "rustack simulated console: resized {} vcpus={} memory_mb={}",
                spec.uuid, spec.vcpus, spec.memory_mb
            ));
            Ok(())
        })
    }

    async fn attach_interface(&self, uuid: &str, nic: &Nic) -> Result<(), VirtError> {
        self.enter(SimOp::AttachInterface).await?;
        self.with(uuid, |i| {
            if i.spec.nics.iter().any(|n| n.port_id == nic.port_id) {
                return Err(VirtError::InvalidSpec(format!(
                    "port {} is already attached to instance {uuid}",
                    nic.port_id
                )));
            }
            i.spec.nics.push(nic.clone());
            Ok(())
        })
    }

    async fn trigger_crash_dump(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::TriggerCrashDump).await?;
        self.with(uuid, |i| {
            if i.state != PowerState::Running {
                return Err(invalid_state(uuid, "trigger_crash_dump", i.state));
            }
            i.console
                .push(format!("rustack simulated console: NMI received {uuid}"));
            Ok(())
        })
    }

    async fn attach_volume(
        &self,
        uuid: &str,
        volume: &VolumeAttachment,
    ) -> Result<String, VirtError> {
        self.enter(SimOp::AttachVolume).await?;
        if volume.volume_id.is_empty() {
            return Err(VirtError::InvalidSpec("empty volume id".to_string()));
        }
        self.with(uuid, |i| {
            let device = i.attach(volume, false);
            i.console.push(format!(
                "rustack simulated console: attached volume {} as {device}",
                volume.volume_id
            ));
            Ok(device)
        })
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), VirtError> {
        self.enter(SimOp::DetachVolume).await?;
        self.with(uuid, |i| {
            let before = i.volumes.len();
            i.volumes.retain(|v| v.volume_id != volume_id);
            i.spec.volumes.retain(|v| v.volume_id != volume_id);
            if i.volumes.len() != before {
                i.console.push(format!(
                    "rustack simulated console: detached volume {volume_id}"
                ));
            }
            Ok(())
        })
    }

    async fn extend_volume(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> Result<(), VirtError> {
        self.enter(SimOp::ExtendVolume).await?;
        self.with(uuid, |i| {
            if !matches!(i.state, PowerState::Running | PowerState::Paused) {
                return Err(invalid_state(uuid, "extend_volume", i.state));
            }
            let v = i
                .volumes
                .iter_mut()
                .find(|v| v.volume_id == volume_id)
                .ok_or_else(|| not_attached(uuid, volume_id))?;
            v.size_bytes = Some(new_size_bytes);
            Ok(())
        })
    }

    async fn volume_snapshot_create(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        self.enter(SimOp::VolumeSnapshotCreate).await?;
        self.with(uuid, |i| {
            if !matches!(i.state, PowerState::Running | PowerState::Paused) {
                return Err(invalid_state(uuid, "volume_snapshot_create", i.state));
            }
            let v = i
                .volumes
                .iter_mut()
                .find(|v| v.volume_id == volume_id)
                .ok_or_else(|| not_attached(uuid, volume_id))?;
            if v.snapshots.iter().any(|s| s == name) {
                return Err(VirtError::InvalidSpec(format!(
                    "volume {volume_id} already has a snapshot named {name}"
                )));
            }
            v.snapshots.push(name.to_string());
            Ok(())
        })
    }

    async fn volume_snapshot_delete(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        self.enter(SimOp::VolumeSnapshotDelete).await?;
        self.with(uuid, |i| {
            if let Some(v) = i.volumes.iter_mut().find(|v| v.volume_id == volume_id) {
                if !v.snapshots.iter().any(|s| s == name) {
                    return Ok(());
                }
                if !matches!(i.state, PowerState::Running | PowerState::Paused) {
                    return Err(invalid_state(uuid, "volume_snapshot_delete", i.state));
                }
                v.snapshots.retain(|s| s != name);
            }
            Ok(())
        })
    }

    fn opens_volume_files(&self) -> bool {
        false
    }

    async fn rescue(&self, uuid: &str, image: &Path, image_format: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Rescue).await?;
        if !matches!(image_format, "qcow2" | "raw") {
            return Err(VirtError::InvalidSpec(format!(
                "image format {image_format:?} is not qcow2 or raw"
            )));
        }
        self.with(uuid, |i| {
            if i.rescue.is_some() {
                return Err(invalid_state(uuid, "rescue", i.state));
            }
            if !matches!(
                i.state,
                PowerState::Running
                    | PowerState::Shutdown
                    | PowerState::Crashed
                    | PowerState::NoState
            ) {
                return Err(invalid_state(uuid, "rescue", i.state));
            }
            i.rescue = Some(image.to_path_buf());
            i.state = PowerState::Running;
            i.console.push(format!(
                "rustack simulated console: rescued {uuid} from {}",
                image.display()
            ));
            Ok(())
        })
    }

    async fn unrescue(&self, uuid: &str) -> Result<(), VirtError> {
        self.enter(SimOp::Unrescue).await?;
        self.with(uuid, |i| {
            if i.rescue.take().is_none() {
                return Err(invalid_state(uuid, "unrescue", i.state));
            }
            i.state = PowerState::Running;
            i.console
                .push(format!("rustack simulated console: unrescued {uuid}"));
            Ok(())
        })
    }

    async fn diagnostics(&self, uuid: &str) -> Result<crate::Diagnostics, VirtError> {
        self.enter(SimOp::Diagnostics).await?;
        self.with(uuid, |i| {
            let running = i.state == PowerState::Running;
            let fixed = 1 + usize::from(i.spec.ephemeral_gb > 0) + usize::from(i.spec.swap_mb > 0);
            let mut disks: Vec<String> = (0..fixed)
                .map(|n| disk_name(n).trim_start_matches("/dev/").to_string())
                .collect();
            disks.extend(
                i.volumes
                    .iter()
                    .filter(|v| !v.boot)
                    .map(|v| v.device.trim_start_matches("/dev/").to_string()),
            );
            // Simulated guests do no I/O: zero counters, known shapes.
            Ok(crate::Diagnostics {
                state: Some(i.state),
                hypervisor: Some("qemu".into()),
                uptime_secs: running.then_some(0),
                config_drive: i.spec.config_drive.is_some(),
                memory_max_mb: Some(i.spec.memory_mb),
                memory_used_mb: None,
                cpus: (0..i.spec.vcpus)
                    .map(|id| crate::CpuDiagnostics {
                        id,
                        time_ns: Some(0),
                        utilisation: None,
                    })
                    .collect(),
                nics: i
                    .spec
                    .nics
                    .iter()
                    .map(|n| crate::NicDiagnostics {
                        mac_address: n.mac.clone(),
                        device: n.tap_name.clone(),
                        rx_octets: Some(0),
                        rx_errors: Some(0),
                        rx_drop: Some(0),
                        rx_packets: Some(0),
                        tx_octets: Some(0),
                        tx_errors: Some(0),
                        tx_drop: Some(0),
                        tx_packets: Some(0),
                    })
                    .collect(),
                disks: disks
                    .into_iter()
                    .map(|device| crate::DiskDiagnostics {
                        device,
                        read_bytes: Some(0),
                        read_requests: Some(0),
                        write_bytes: Some(0),
                        write_requests: Some(0),
                        errors_count: Some(0),
                    })
                    .collect(),
            })
        })
    }

    async fn detach_interface(&self, uuid: &str, port_id: &str) -> Result<(), VirtError> {
        self.enter(SimOp::DetachInterface).await?;
        self.with(uuid, |i| {
            let before = i.spec.nics.len();
            i.spec.nics.retain(|n| n.port_id != port_id);
            if i.spec.nics.len() == before {
                return Err(VirtError::InterfaceNotFound {
                    uuid: uuid.to_string(),
                    port_id: port_id.to_string(),
                });
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
