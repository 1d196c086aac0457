//! Values the compute driver interface exchanges: host capacity, power states (with
//! Nova's numbers), NICs and the description of an instance to run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The hypervisor record of this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name (the hypervisor hostname and the compute service host).
    pub hostname: String,
    /// Physical CPUs usable by guests.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Disk space in GiB under the state directory.
    pub disk_gb: u64,
    /// `"QEMU"`.
    pub hypervisor_type: String,
    /// Version as Nova encodes it: major * 1_000_000 + minor * 1_000 + micro.
    pub hypervisor_version: u64,
    /// CPU description as a JSON string (Nova's `cpu_info`).
    pub cpu_info: String,
}

/// Power state of an instance, with Nova's numeric values (`nova/compute/power_state.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum PowerState {
    /// Unknown or not started.
    NoState = 0,
    /// Running.
    Running = 1,
    /// vCPUs stopped, memory kept.
    Paused = 3,
    /// Powered off.
    Shutdown = 4,
    /// The guest process died unexpectedly.
    Crashed = 6,
    /// Suspended.
    Suspended = 7,
}

impl PowerState {
    /// Nova's number (`OS-EXT-STS:power_state`).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The state for Nova's number.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => PowerState::NoState,
            1 => PowerState::Running,
            3 => PowerState::Paused,
            4 => PowerState::Shutdown,
            6 => PowerState::Crashed,
            7 => PowerState::Suspended,
            _ => return None,
        })
    }

    /// Lowercase name (`running`, `shutdown`...).
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::NoState => "nostate",
            PowerState::Running => "running",
            PowerState::Paused => "paused",
            PowerState::Shutdown => "shutdown",
            PowerState::Crashed => "crashed",
            PowerState::Suspended => "suspended",
        }
    }
}

/// A guest NIC bound to a Neutron port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// The port's id.
    pub port_id: String,
    /// The port's MAC (the guest side; the TAP keeps a random MAC).
    pub mac: String,
    /// MTU of the port's network.
    pub mtu: u32,
    /// Host TAP name: `tap` + the first 11 characters of the port id (what the network
    /// agent enslaves to the network's bridge).
    pub tap_name: String,
}

impl Nic {
    /// A NIC for a port, with the TAP name derived from the port id.
    pub fn for_port(port_id: &str, mac: &str, mtu: u32) -> Self {
        Nic {
            port_id: port_id.to_string(),
            mac: mac.to_string(),
            mtu,
            tap_name: tap_name(port_id),
        }
    }
}

/// `tap` + the first 11 characters of the port id (15 bytes, the kernel's limit).
pub fn tap_name(port_id: &str) -> String {
    let prefix: String = port_id.chars().take(11).collect();
    format!("tap{prefix}")
}

/// Everything a driver needs to run an instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// Instance UUID (names the instance on this host).
    pub uuid: String,
    /// Display name (the guest hostname comes from metadata, not from here).
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Root disk in GiB (0: the image's virtual size).
    pub root_gb: u64,
    /// Ephemeral disk in GiB (0: none).
    pub ephemeral_gb: u64,
    /// Swap in MiB (0: none).
    pub swap_mb: u64,
    /// The cached image file on this host (qcow2 or raw).
    pub image_path: PathBuf,
    /// The image's disk format (`qcow2` or `raw`).
    pub image_format: String,
    /// NICs in guest order.
    pub nics: Vec<Nic>,
    /// Config drive files (path inside the ISO, e.g. `openstack/latest/meta_data.json`,
    /// and content); `None`: no config drive.
    pub config_drive: Option<Vec<(String, Vec<u8>)>>,
    /// Volumes attached at start, in attach order (stop/start, reboot and re-adoption
    /// rebuild them from the stored block device mappings). A volume with
    /// `boot_index = Some(0)` replaces the image root disk (boot from volume: then
    /// `image_path` is empty and no root disk file is made).
    #[serde(default)]
    pub volumes: Vec<VolumeAttachment>,
}

/// How a guest reaches one volume's data: what the block storage service's
/// `connection_info` says (the `rustack-block-api` `ConnectionInfo`, flattened for the
/// driver so that `virt` needs no block crate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum VolumeSource {
    /// A file on this host that QEMU opens itself (`driver_volume_type = "file"`).
    File {
        /// Absolute path of the volume file.
        path: PathBuf,
        /// `qcow2` or `raw` (the container of the guest-visible data; LUKS lives
        /// inside a qcow2 as `encrypt.format=luks`, or is the raw file's format when
        /// `format = "luks"`).
        format: String,
    },
    /// A Ceph RBD image that QEMU opens with librbd (`driver_volume_type = "rbd"`);
    /// drivers may answer [`crate::VirtError::Unsupported`].
    Rbd {
        /// Pool name.
        pool: String,
        /// Image name.
        image: String,
        /// Monitor addresses (`host:port`).
        hosts: Vec<String>,
        /// Ceph user (`auth_username`), if auth is on.
        user: Option<String>,
    },
}

/// One volume attached (or to attach) to a guest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    /// The volume's id: the virtio-blk serial the guest sees (`/dev/disk/by-id/virtio-<id[..20]>`).
    pub volume_id: String,
    /// Where the data is.
    pub source: VolumeSource,
    /// For a LUKS-encrypted volume: the passphrase (lowercase hex of the key bytes, as
    /// Nova derives it from the key manager's key). Drivers pass it to QEMU as a secret
    /// object encrypted with a per-instance master key; never on a command line or in a
    /// log (`Debug` redacts it).
    pub luks_passphrase: Option<String>,
    /// Read-only attach (Cinder's `access_mode = "ro"`).
    pub read_only: bool,
    /// Boot order: `Some(0)` is the root disk of a volume-backed server (boot from
    /// volume); `None` for a data volume.
    pub boot_index: Option<u32>,
}

impl std::fmt::Debug for VolumeAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeAttachment")
            .field("volume_id", &self.volume_id)
            .field("source", &self.source)
            .field(
                "luks_passphrase",
                &self.luks_passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("read_only", &self.read_only)
            .field("boot_index", &self.boot_index)
            .finish()
    }
}

/// What a driver can tell about a running instance (Nova's `Diagnostics` object, the
/// 2.48 standardized shape). `None` is an honest "not known here".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Power state (`running`, `paused`, `shutdown`...).
    pub state: Option<PowerState>,
    /// The hypervisor (`kvm` or `qemu` for TCG; `None` when unknown).
    pub hypervisor: Option<String>,
    /// Seconds since the guest process started.
    pub uptime_secs: Option<u64>,
    /// Whether a config drive is attached.
    pub config_drive: bool,
    /// Memory of the guest in MiB.
    pub memory_max_mb: Option<u64>,
    /// Memory the guest uses in MiB (needs a balloon driver: usually `None`).
    pub memory_used_mb: Option<u64>,
    /// One entry per vCPU.
    pub cpus: Vec<CpuDiagnostics>,
    /// One entry per NIC, in guest order.
    pub nics: Vec<NicDiagnostics>,
    /// One entry per disk, in guest order.
    pub disks: Vec<DiskDiagnostics>,
}

/// One vCPU's figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuDiagnostics {
    /// vCPU index.
    pub id: u32,
    /// CPU time used, in nanoseconds.
    pub time_ns: Option<u64>,
    /// Utilisation in percent.
    pub utilisation: Option<u32>,
}

/// One NIC's counters, from the guest's point of view (`rx` = received by the guest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicDiagnostics {
    /// The guest MAC.
    pub mac_address: String,
    /// Host device name (the TAP).
    pub device: String,
    /// Bytes received.
    pub rx_octets: Option<u64>,
    /// Receive errors.
    pub rx_errors: Option<u64>,
    /// Received packets dropped.
    pub rx_drop: Option<u64>,
    /// Packets received.
    pub rx_packets: Option<u64>,
    /// Bytes sent.
    pub tx_octets: Option<u64>,
    /// Send errors.
    pub tx_errors: Option<u64>,
    /// Sent packets dropped.
    pub tx_drop: Option<u64>,
    /// Packets sent.
    pub tx_packets: Option<u64>,
}

/// One disk's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskDiagnostics {
    /// Guest device name (`vda`).
    pub device: String,
    /// Bytes read.
    pub read_bytes: Option<u64>,
    /// Read operations.
    pub read_requests: Option<u64>,
    /// Bytes written.
    pub write_bytes: Option<u64>,
    /// Write operations.
    pub write_requests: Option<u64>,
    /// Failed operations.
    pub errors_count: Option<u64>,
}
