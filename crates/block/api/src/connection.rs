//! The attach handshake's data, in Cinder's and Nova's shapes.
//!
//! A compute host sends a [`Connector`] (`PUT /v3/attachments/{id}` with
//! `{"attachment": {"connector": {...}}}`, or `os-initialize_connection`); the service
//! answers [`ConnectionInfo`]: `{"driver_volume_type": "file", "data": {...}}`.
//! `driver_volume_type = "file"` is rustack's (QEMU opens the file on the host itself;
//! docs/api-compat.md); an RBD backend would answer Cinder's exact `rbd` dictionary.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a compute host tells the block storage service about itself (os-brick's
/// connector properties).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    /// The compute host's name.
    #[serde(default)]
    pub host: Option<String>,
    /// Its address.
    #[serde(default)]
    pub ip: Option<String>,
    /// `x86_64`.
    #[serde(default)]
    pub platform: Option<String>,
    /// `linux`.
    #[serde(default)]
    pub os_type: Option<String>,
    /// Multipath wanted.
    #[serde(default)]
    pub multipath: Option<bool>,
    /// The device the guest sees (Nova adds it after attach).
    #[serde(default)]
    pub mountpoint: Option<String>,
    /// `ro` or `rw`.
    #[serde(default)]
    pub mode: Option<String>,
    /// rustack: whether a process on that host (QEMU) holds the volume's file open
    /// while attached. When true the block storage service snapshots and extends the
    /// in-use volume through the compute API (QMP), never by touching the file.
    #[serde(default)]
    pub rustack_live_file_access: Option<bool>,
    /// Anything else the client sent (kept and echoed, as Cinder stores the connector).
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// The answer to a connector: how to reach the volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// `file` (rustack's file backend) or `rbd`.
    pub driver_volume_type: String,
    /// For `file`: `{"path", "format", "encrypted", "volume_id", "access_mode",
    /// "attachment_id"}`; `format` is `qcow2` or `raw`, and `encrypted` says the data is
    /// LUKS inside it (the key comes from `GET /v3/volumes/{id}/encryption` and the key
    /// manager).
    pub data: serde_json::Map<String, Value>,
}
