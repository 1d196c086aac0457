//! The stored resources (documents of the `objects` table) and their status words.
//!
//! Statuses are Cinder's: a volume is `creating` -> `available` | `error`;
//! `available` -> `reserved` | `attaching` -> `in-use`; `in-use` -> `detaching` ->
//! `available`; `extending`, `retyping`, `uploading`, `reverting`, `deleting`,
//! `error_deleting`, `error_extending`... Snapshots: `creating` -> `available` |
//! `error`, `deleting` -> gone | `error_deleting`.

use std::collections::BTreeMap;

use rustack_block_api::{Connector, Location};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// String metadata (`metadata`, image metadata, extra specs).
pub type Meta = BTreeMap<String, String>;

/// Every volume status Cinder defines (a `status` list filter outside these is 400).
pub const VOLUME_STATUSES: &[&str] = &[
    "creating",
    "available",
    "reserved",
    "attaching",
    "detaching",
    "in-use",
    "maintenance",
    "deleting",
    "awaiting-transfer",
    "error",
    "error_deleting",
    "backing-up",
    "restoring-backup",
    "error_backing-up",
    "error_restoring",
    "error_extending",
    "downloading",
    "uploading",
    "retyping",
    "extending",
    "reverting",
    "error_managing",
    "managing",
];

/// A volume.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    /// Id (UUID).
    pub id: String,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Size in GiB.
    pub size: u64,
    /// Status (see the module docs).
    pub status: String,
    /// The status before an action that rolls back to it (e.g. `uploading`).
    #[serde(default)]
    pub previous_status: Option<String>,
    /// `attached` or `detached`.
    pub attach_status: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Volume type id.
    pub volume_type_id: String,
    /// Source snapshot.
    pub snapshot_id: Option<String>,
    /// Source volume.
    pub source_volid: Option<String>,
    /// Bootable flag.
    pub bootable: bool,
    /// Read-only flag (admin metadata `readonly`).
    pub readonly: bool,
    /// Whether the read-only flag was ever set (Cinder then shows `readonly` in the
    /// view's metadata as `"True"`/`"False"`).
    #[serde(default)]
    pub readonly_shown: bool,
    /// Multiattach allowed (from the type's `multiattach` spec).
    pub multiattach: bool,
    /// User metadata.
    pub metadata: Meta,
    /// Image metadata (`volume_image_metadata`).
    pub image_metadata: Meta,
    /// The key manager secret of an encrypted volume.
    pub encryption_key_id: Option<String>,
    /// Where the backend keeps the data (None until created).
    pub location: Option<Location>,
    /// The host, `<host>@<backend>#<pool>`.
    pub host: String,
    /// Creation time (ISO-8601).
    pub created_at: String,
    /// Last update time.
    pub updated_at: Option<String>,
    /// Unix seconds of the last status change (for the reconciler's timeouts).
    #[serde(default)]
    pub status_changed: i64,
    /// Migration status (always null: migration is not offered).
    #[serde(default)]
    pub migration_status: Option<String>,
}

/// A snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// Id.
    pub id: String,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// The volume it is of.
    pub volume_id: String,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Size in GiB (the volume's at snapshot time).
    pub size: u64,
    /// Status.
    pub status: String,
    /// Progress (`0%`, `100%`).
    pub progress: String,
    /// Metadata.
    pub metadata: Meta,
    /// Creation time.
    pub created_at: String,
    /// Last update.
    pub updated_at: Option<String>,
    /// Unix seconds of the last status change.
    #[serde(default)]
    pub status_changed: i64,
    /// The volume type at snapshot time (for per-type quotas).
    #[serde(default)]
    pub volume_type_id: String,
}

/// An attachment (3.27), also recorded by the legacy `os-attach` flow.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    /// Id.
    pub id: String,
    /// The volume.
    pub volume_id: String,
    /// The volume's project.
    pub project_id: String,
    /// The server (Nova instance) it is for.
    pub instance_uuid: Option<String>,
    /// `reserved`, `attaching`, `attached`, `detached`, `error_attaching`.
    pub attach_status: String,
    /// `rw` or `ro`.
    pub attach_mode: String,
    /// The compute host's connector, once given.
    pub connector: Option<Connector>,
    /// The connection info answered.
    pub connection_info: Option<Value>,
    /// The attach host name.
    pub attached_host: Option<String>,
    /// The guest device.
    pub mountpoint: Option<String>,
    /// Attach time.
    pub attach_time: Option<String>,
    /// Detach time.
    pub detach_time: Option<String>,
    /// Creation time (unix seconds; for the reserved timeout).
    #[serde(default)]
    pub created: i64,
}

impl Attachment {
    /// True if a QEMU process on the attach host holds the file open.
    pub fn live_file_access(&self) -> bool {
        self.connector
            .as_ref()
            .and_then(|c| c.rustack_live_file_access)
            .unwrap_or(false)
            && self.attach_status != "detached"
    }
}

/// A volume type's encryption spec.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Encryption {
    /// Id.
    pub encryption_id: String,
    /// `luks`.
    pub provider: String,
    /// `aes-xts-plain64`...
    pub cipher: Option<String>,
    /// Bits.
    pub key_size: Option<u32>,
    /// `front-end` or `back-end`.
    pub control_location: String,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: Option<String>,
}

/// A volume type.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VolumeType {
    /// Id.
    pub id: String,
    /// Name (unique).
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Public.
    pub is_public: bool,
    /// Extra specs.
    pub extra_specs: Meta,
    /// Projects with access to a private type.
    pub projects: Vec<String>,
    /// Associated QoS spec.
    pub qos_specs_id: Option<String>,
    /// Encryption spec.
    pub encryption: Option<Encryption>,
}

/// A QoS spec (stored and returned, never enforced).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QosSpec {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `front-end`, `back-end` or `both`.
    pub consumer: String,
    /// The specs.
    pub specs: Meta,
}

/// A project's quota overrides or a quota class (resource -> limit).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    /// Overridden limits.
    pub limits: BTreeMap<String, i64>,
}

/// A service record.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ServiceRecord {
    /// Numeric id.
    pub id: i64,
    /// `cinder-scheduler`, `cinder-volume`.
    pub binary: String,
    /// `<host>` or `<host>@file`.
    pub host: String,
    /// AZ.
    pub zone: String,
    /// Disabled.
    pub disabled: bool,
    /// Why.
    pub disabled_reason: Option<String>,
    /// Frozen (volume services).
    pub frozen: bool,
    /// Last heartbeat.
    pub updated_at: String,
}

/// A user message (3.3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// Id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// What happened.
    pub user_message: String,
    /// `ERROR`.
    pub message_level: String,
    /// `VOLUME`, `SNAPSHOT`.
    pub resource_type: String,
    /// The resource.
    pub resource_uuid: Option<String>,
    /// Cinder's event id (`VOLUME_VOLUME_001_002`).
    pub event_id: String,
    /// Creation.
    pub created_at: String,
    /// Expiry.
    pub guaranteed_until: String,
}

/// A volume transfer: the volume waits in `awaiting-transfer` until another
/// project accepts it with the auth key (stored salted and hashed).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Transfer {
    /// Id.
    pub id: String,
    /// The volume.
    pub volume_id: String,
    /// The giving project.
    pub project_id: String,
    /// Name.
    pub name: Option<String>,
    /// Salt of the auth key hash.
    pub salt: String,
    /// SHA-256 (hex) of salt + auth key.
    pub crypt_hash: String,
    /// Creation time.
    pub created_at: String,
    /// Transfer without the volume's snapshots (3.55).
    pub no_snapshots: bool,
    /// Accepted (kept only in the answer; accepted transfers are removed).
    pub accepted: bool,
    /// The receiving project once accepted.
    pub destination_project_id: Option<String>,
}

/// A backup (the filesystem backup driver: one file per backup).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Backup {
    /// Id.
    pub id: String,
    /// Owner project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// The backed-up volume.
    pub volume_id: String,
    /// The snapshot backed up, if any (not supported: always None).
    pub snapshot_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `creating`, `available`, `deleting`, `restoring`, `error`, `error_deleting`.
    pub status: String,
    /// Size in GiB (the volume's).
    pub size: u64,
    /// The container name (a label here).
    pub container: Option<String>,
    /// Availability zone.
    pub availability_zone: String,
    /// Why it failed.
    pub fail_reason: Option<String>,
    /// Metadata (3.43).
    pub metadata: Meta,
    /// The volume's user metadata at backup time (restored with the data).
    #[serde(default)]
    pub volume_metadata: Meta,
    /// The data file and its format (`qcow2`, or `raw` LUKS for encrypted volumes).
    pub path: Option<std::path::PathBuf>,
    /// Disk format of the file.
    pub format: String,
    /// A clone of the volume's key, for an encrypted volume.
    pub encryption_key_id: Option<String>,
    /// The volume type of the source (to restore encrypted backups).
    pub volume_type_id: String,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: Option<String>,
    /// Unix seconds of the last status change.
    #[serde(default)]
    pub status_changed: i64,
}

/// Now, ISO-8601 with microseconds as Cinder shows it (`2026-12-07T14:00:00.000000`).
pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// Now in unix seconds.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
