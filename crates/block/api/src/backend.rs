//! The storage backend interface of the block storage service.
//!
//! A backend stores volume data and answers where a compute host finds it. Every
//! operation is offline with respect to guests: when a QEMU process holds a volume open
//! (an in-use volume attached by the QEMU driver), the block storage service does not
//! call the backend for snapshots or extends but asks compute to do them through QMP
//! (Nova's assisted volume snapshots and the `volume-extended` external event).
//!
//! Crash safety: a backend never leaves a partly written volume under a volume's real
//! name: it writes to a temporary name and renames, and [`VolumeBackend::cleanup`]
//! removes leftovers at start.
//!
//! Secrets: [`Luks`] carries the passphrase of an encrypted volume; implementations pass
//! it to tools through files (0600) or secret objects, never on a command line, and
//! never log it (`Debug` redacts it).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Failures of a backend operation.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The volume (or snapshot) does not exist on the backend.
    #[error("not found on the backend: {0}")]
    NotFound(String),
    /// Not enough space on the backend.
    #[error("insufficient capacity: {0}")]
    NoSpace(String),
    /// The request cannot be done by this backend (e.g. LUKS2, shrinking).
    #[error("invalid for this backend: {0}")]
    Invalid(String),
    /// The volume is in use by another process (a file lock held by QEMU).
    #[error("volume busy: {0}")]
    Busy(String),
    /// A tool or I/O failure (command, exit status and stderr in the message; never a
    /// secret).
    #[error("backend failure: {0}")]
    Failed(String),
}

/// What the block storage service asks a backend to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// The volume id (the backend names its data after it: `<id>.qcow2`).
    pub id: String,
    /// Size in GiB as the guest must see it (for LUKS, the payload size).
    pub size_gb: u64,
}

/// The LUKS (version 1) parameters and passphrase of an encrypted volume. The
/// passphrase is the lowercase hex of the key manager's key bytes (Nova's and
/// Cinder's rule), so the key alone opens the volume.
#[derive(Clone, PartialEq, Eq)]
pub struct Luks {
    /// Lowercase hex of the raw key bytes.
    pub passphrase: String,
    /// QEMU's `cipher-alg` (`aes-256` for Cinder's `aes-xts-plain64` with key size 256).
    pub cipher_alg: String,
    /// QEMU's `cipher-mode` (`xts`, `cbc`).
    pub cipher_mode: String,
    /// QEMU's `ivgen-alg` (`plain64`, `essiv`).
    pub ivgen_alg: String,
    /// QEMU's `ivgen-hash-alg` for `essiv` (e.g. `sha256`).
    pub ivgen_hash_alg: Option<String>,
}

impl std::fmt::Debug for Luks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Luks")
            .field("passphrase", &"<redacted>")
            .field("cipher_alg", &self.cipher_alg)
            .field("cipher_mode", &self.cipher_mode)
            .field("ivgen_alg", &self.ivgen_alg)
            .field("ivgen_hash_alg", &self.ivgen_hash_alg)
            .finish()
    }
}

/// Where a volume's data lives: stored by the service with the volume (as JSON) and
/// handed back to the backend on every later operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Location {
    /// A file on the volume host.
    File {
        /// Absolute path.
        path: PathBuf,
        /// `qcow2` (LUKS inside as `encrypt.format=luks` when encrypted) or `raw`.
        format: String,
    },
    /// A Ceph RBD image (a future backend).
    Rbd {
        /// Pool.
        pool: String,
        /// Image name.
        image: String,
    },
}

/// Where a new volume's data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// Zeroes.
    Blank,
    /// An image file readable on this host (the Image service's store, or a download).
    Image {
        /// Path of the image data.
        path: PathBuf,
        /// Its disk format (`raw`, `qcow2`, `vmdk`, `vdi`, `vhd`...; what `qemu-img`
        /// reads).
        format: String,
        /// When the image is itself a LUKS container (an uploaded encrypted volume):
        /// its parameters and passphrase.
        luks: Option<Luks>,
    },
    /// A snapshot of another volume.
    Snapshot {
        /// The source volume's location.
        volume: Location,
        /// The snapshot's backend name (`snapshot-<snapshot id>`).
        name: String,
        /// The source volume's LUKS, when encrypted.
        luks: Option<Luks>,
    },
    /// A copy of another volume (clone).
    Volume {
        /// The source volume's location.
        volume: Location,
        /// The source volume's LUKS, when encrypted.
        luks: Option<Luks>,
    },
}

/// What a backend reports for the scheduler, `get_pools` and `capabilities`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `volume_backend_name` (e.g. `file`).
    pub backend_name: String,
    /// The pool name (`file`).
    pub pool_name: String,
    /// `vendor_name` (`rustack`).
    pub vendor_name: String,
    /// `driver_version`.
    pub driver_version: String,
    /// `storage_protocol` (`file`; Cinder's NFS reports `nfs`, RBD `ceph`).
    pub storage_protocol: String,
    /// Total capacity in GiB.
    pub total_capacity_gb: f64,
    /// Free capacity in GiB.
    pub free_capacity_gb: f64,
    /// Thin provisioning (qcow2 is thin).
    pub thin_provisioning: bool,
    /// Snapshots supported.
    pub snapshots: bool,
    /// More than one attachment at a time supported.
    pub multiattach: bool,
}

/// A storage backend. Implementations: the file backend (one qcow2 per volume, what
/// `rustack up` uses) and a simulated backend (no data, for scale tests) in
/// `rustack-block-agent`.
#[async_trait::async_trait]
pub trait VolumeBackend: Send + Sync {
    /// Short backend name (`file`, `simulated`).
    fn name(&self) -> &str;

    /// Capacity and features.
    async fn capabilities(&self) -> Result<Capabilities, BackendError>;

    /// Create a volume of `spec.size_gb` from `source`, LUKS-formatted with `luks` when
    /// given (the new volume's own key; a source's key comes with the source).
    /// Crash-safe: data is written under a temporary name and renamed at the end.
    /// Creating an id that already exists fails with [`BackendError::Invalid`].
    async fn create(
        &self,
        spec: &VolumeSpec,
        source: &VolumeSource,
        luks: Option<&Luks>,
    ) -> Result<Location, BackendError>;

    /// Remove a volume and its snapshots. Idempotent: an absent volume is success.
    async fn delete(&self, location: &Location) -> Result<(), BackendError>;

    /// Grow a volume that no guest holds open to `new_size_gb` (guest-visible size).
    async fn extend(
        &self,
        location: &Location,
        new_size_gb: u64,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError>;

    /// Take a snapshot named `name` (`snapshot-<snapshot id>`) of a volume no guest
    /// holds open.
    async fn snapshot_create(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError>;

    /// Delete a snapshot. Idempotent.
    async fn snapshot_delete(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError>;

    /// Revert a volume to a snapshot (Cinder 3.40 `revert`).
    async fn snapshot_revert(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError>;

    /// Write the volume's data to `out` in `disk_format` (`raw`, `qcow2`) for an upload
    /// to the Image service. An encrypted volume is written as a raw LUKS container
    /// under the same passphrase (`disk_format` must then be `raw`).
    async fn export(
        &self,
        location: &Location,
        luks: Option<&Luks>,
        out: &Path,
        disk_format: &str,
    ) -> Result<(), BackendError>;

    /// The virtual (guest-visible) size in bytes and the bytes used on the backend.
    async fn usage(&self, location: &Location) -> Result<(u64, u64), BackendError>;

    /// The ids of every volume the backend holds (for orphan reconciliation).
    async fn list(&self) -> Result<Vec<String>, BackendError>;

    /// Remove temporaries a crash left behind. Called once at start, before any create.
    async fn cleanup(&self) -> Result<(), BackendError>;
}
