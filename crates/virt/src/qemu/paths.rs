//! The files of one instance under `<state_dir>/instances/<uuid>/`, and the persisted
//! record (spec + desired power state) the driver re-adopts guests from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::qemu::volume::AttachedVolume;
use crate::types::InstanceSpec;

/// Paths of one instance's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstancePaths {
    /// The instance directory.
    pub dir: PathBuf,
    /// Root disk: qcow2 overlay over the cached image.
    pub disk: PathBuf,
    /// Ephemeral disk (blank qcow2), when the flavor has one.
    pub ephemeral: PathBuf,
    /// Swap disk (blank qcow2), when the flavor has one.
    pub swap: PathBuf,
    /// Config drive (ISO 9660, label `config-2`).
    pub config_drive: PathBuf,
    /// Serial console log.
    pub console_log: PathBuf,
    /// Interactive serial console (unix socket, one client at a time).
    pub serial_sock: PathBuf,
    /// QMP socket.
    pub qmp_sock: PathBuf,
    /// QEMU's pid file.
    pub pidfile: PathBuf,
    /// The persisted [`InstanceRecord`].
    pub record: PathBuf,
    /// The 32-byte master key that QEMU decrypts volume secrets with (0600).
    pub master_key: PathBuf,
    /// While rescued: the qcow2 overlay over the rescue image the guest boots from.
    pub rescue_disk: PathBuf,
}

impl InstancePaths {
    /// The paths of `uuid` under `state_dir`.
    pub fn new(state_dir: &Path, uuid: &str) -> Self {
        let dir = state_dir.join("instances").join(uuid);
        InstancePaths {
            disk: dir.join("disk"),
            ephemeral: dir.join("disk.eph0"),
            swap: dir.join("disk.swap"),
            config_drive: dir.join("disk.config"),
            console_log: dir.join("console.log"),
            serial_sock: dir.join("serial.sock"),
            qmp_sock: dir.join("qmp.sock"),
            pidfile: dir.join("qemu.pid"),
            record: dir.join("instance.json"),
            master_key: dir.join("master-key.aes"),
            rescue_disk: dir.join("disk.rescue"),
            dir,
        }
    }
}

/// What the driver remembers about an instance across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The spec it runs with (NICs as currently attached; config drive contents dropped).
    pub spec: InstanceSpec,
    /// Whether it should be running (a dead process is then reported as crashed).
    pub want_running: bool,
    /// Suspended: vCPUs stopped by `suspend` (reported as suspended, not paused).
    pub suspended: bool,
    /// Attached volumes in attach order, passphrases only as ciphertext under the
    /// master key (the spec's `volumes` are not stored).
    #[serde(default)]
    pub volumes: Vec<AttachedVolume>,
    /// Rescued: the guest boots from `disk.rescue` (made from this image) with its own
    /// root disk second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescue: Option<RescueImage>,
}

/// The image a rescued instance's rescue disk was made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescueImage {
    /// The cached image file.
    pub path: PathBuf,
    /// `qcow2` or `raw`.
    pub format: String,
}
