//! The simulated volume backend: volumes are in-memory records (size, LUKS parameters,
//! snapshots) with fake capacity; no file is ever read or created, except that
//! [`VolumeBackend::export`] writes a small placeholder to the path the caller names
//! (the upload path needs some bytes to send to the Image service).
//!
//! It follows the file backend's rules so that service tests mean something:
//! creating an existing id is [`BackendError::Invalid`]; deletes are idempotent;
//! shrinking is refused; a source smaller than nothing or larger than the new volume is
//! refused; an encrypted source must come with its passphrase and the right one
//! (a wrong passphrase fails as `qemu-img` would, with [`BackendError::Failed`]);
//! capacity is thick (the sum of volume sizes; snapshots are free) and an overrun is
//! [`BackendError::NoSpace`].
//!
//! Locations are [`Location::File`] under a path that does not exist on any host
//! (`/simulated-volumes/<id>.qcow2` by default): the simulated compute driver never
//! opens them.
//!
//! Knobs (STYLE §6: a shared, stateful fake, not a per-test mock):
//! [`SimulatedBackend::fail_next`] (the next calls of one operation fail with
//! [`BackendError::Failed`]), [`SimulatedBackend::set_delay`] (every operation sleeps
//! first), [`SimulatedBackend::set_busy`] (a volume held open by a guest: writes fail
//! with [`BackendError::Busy`]) and [`SimulatedBackend::set_total_capacity_gb`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rustack_block_api::backend::{
    BackendError, Capabilities, Location, Luks, VolumeBackend, VolumeSource, VolumeSpec,
};
use serde::{Deserialize, Serialize};

const GIB: u64 = 1024 * 1024 * 1024;

/// Fake capacity and naming of a simulated backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimBackendConfig {
    /// `volume_backend_name` and pool name (default `simulated`).
    pub backend_name: String,
    /// Total capacity in GiB (default 10240).
    pub total_capacity_gb: u64,
    /// The directory the fake locations name (default `/simulated-volumes`; never
    /// created).
    pub root: PathBuf,
}

impl Default for SimBackendConfig {
    fn default() -> Self {
        SimBackendConfig {
            backend_name: "simulated".to_string(),
            total_capacity_gb: 10 * 1024,
            root: PathBuf::from("/simulated-volumes"),
        }
    }
}

/// The operations a failure can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimBackendOp {
    /// `capabilities`.
    Capabilities,
    /// `create`.
    Create,
    /// `delete`.
    Delete,
    /// `extend`.
    Extend,
    /// `snapshot_create`.
    SnapshotCreate,
    /// `snapshot_delete`.
    SnapshotDelete,
    /// `snapshot_revert`.
    SnapshotRevert,
    /// `export`.
    Export,
    /// `usage`.
    Usage,
    /// `list`.
    List,
    /// `cleanup`.
    Cleanup,
}

impl SimBackendOp {
    fn name(self) -> &'static str {
        match self {
            SimBackendOp::Capabilities => "capabilities",
            SimBackendOp::Create => "create",
            SimBackendOp::Delete => "delete",
            SimBackendOp::Extend => "extend",
            SimBackendOp::SnapshotCreate => "snapshot_create",
            SimBackendOp::SnapshotDelete => "snapshot_delete",
            SimBackendOp::SnapshotRevert => "snapshot_revert",
            SimBackendOp::Export => "export",
            SimBackendOp::Usage => "usage",
            SimBackendOp::List => "list",
            SimBackendOp::Cleanup => "cleanup",
        }
    }
}

/// What a test can inspect of one simulated volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimVolume {
    /// Guest-visible size in GiB.
    pub size_gb: u64,
    /// Whether it is LUKS-encrypted.
    pub encrypted: bool,
    /// Snapshot names with the volume size (GiB) at snapshot time.
    pub snapshots: BTreeMap<String, u64>,
    /// Where the data came from: `blank`, `image:<path>`, `snapshot:<volume id>/<name>`,
    /// `volume:<volume id>`.
    pub origin: String,
}

#[derive(Debug)]
struct VolumeRecord {
    info: SimVolume,
    passphrase: Option<String>,
}

#[derive(Debug, Default)]
struct SimState {
    volumes: BTreeMap<String, VolumeRecord>,
    busy: BTreeSet<String>,
    fail_next: HashMap<SimBackendOp, u32>,
    delay: Duration,
    total_capacity_gb: u64,
    cleanups: u32,
}

/// The simulated backend. Share it as `Arc<SimulatedBackend>` (tests keep a handle for
/// the knobs) or `Arc<dyn VolumeBackend>`.
#[derive(Debug)]
pub struct SimulatedBackend {
    config: SimBackendConfig,
    state: Mutex<SimState>,
}

impl Default for SimulatedBackend {
    fn default() -> Self {
        SimulatedBackend::new(SimBackendConfig::default())
    }
}

impl SimulatedBackend {
    /// A backend with no volumes.
    pub fn new(config: SimBackendConfig) -> Self {
        let state = SimState {
            total_capacity_gb: config.total_capacity_gb,
            ..SimState::default()
        };
        SimulatedBackend {
            config,
            state: Mutex::new(state),
        }
    }

    /// Make the next `count` calls of `op` fail with [`BackendError::Failed`].
    pub fn fail_next(&self, op: SimBackendOp, count: u32) {
        self.state.lock().fail_next.insert(op, count);
    }

    /// Make every operation sleep `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().delay = delay;
    }

    /// Mark a volume as held open by a guest (`true`): extend, snapshot, revert and
    /// delete then fail with [`BackendError::Busy`], as a QEMU file lock makes
    /// `qemu-img` fail.
    pub fn set_busy(&self, volume_id: &str, busy: bool) {
        let mut s = self.state.lock();
        if busy {
            s.busy.insert(volume_id.to_string());
        } else {
            s.busy.remove(volume_id);
        }
    }

    /// Change the fake total capacity.
    pub fn set_total_capacity_gb(&self, gb: u64) {
        self.state.lock().total_capacity_gb = gb;
    }

    /// One volume's record, if it exists.
    pub fn volume(&self, volume_id: &str) -> Option<SimVolume> {
        self.state
            .lock()
            .volumes
            .get(volume_id)
            .map(|r| r.info.clone())
    }

    /// How many times [`VolumeBackend::cleanup`] ran.
    pub fn cleanup_count(&self) -> u32 {
        self.state.lock().cleanups
    }

    /// The location this backend gives volume `id`.
    pub fn location_of(&self, id: &str) -> Location {
        Location::File {
            path: self.config.root.join(format!("{id}.qcow2")),
            format: "qcow2".to_string(),
        }
    }

    async fn enter(&self, op: SimBackendOp) -> Result<(), BackendError> {
        let delay = {
            let mut s = self.state.lock();
            if let Some(n) = s.fail_next.get_mut(&op) {
                if *n > 0 {
                    *n -= 1;
                    return Err(BackendError::Failed(format!(
                        "injected failure of simulated {}",
                        op.name()
                    )));
                }
            }
            s.delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }

    /// The volume id a location of this backend names.
    fn id_of(&self, location: &Location) -> Result<String, BackendError> {
        match location {
            Location::File { path, .. } if path.parent() == Some(self.config.root.as_path()) => {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                match name.strip_suffix(".qcow2") {
                    Some(id) if !id.is_empty() => Ok(id.to_string()),
                    _ => Err(BackendError::Invalid(format!(
                        "not a simulated volume location: {}",
                        path.display()
                    ))),
                }
            }
            other => Err(BackendError::Invalid(format!(
                "not a simulated volume location: {other:?}"
            ))),
        }
    }
}

fn check_passphrase(
    source_id: &str,
    stored: Option<&String>,
    given: Option<&Luks>,
) -> Result<(), BackendError> {
    match (stored, given) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(BackendError::Invalid(format!(
            "volume {source_id} is encrypted and no passphrase was given"
        ))),
        (Some(p), Some(l)) if *p == l.passphrase => Ok(()),
        (Some(_), Some(_)) => Err(BackendError::Failed(format!(
            "simulated qemu-img: invalid password for volume {source_id}"
        ))),
    }
}

fn not_found(id: &str) -> BackendError {
    BackendError::NotFound(format!("volume {id}"))
}

fn busy(id: &str) -> BackendError {
    BackendError::Busy(format!("volume {id} is open in a guest"))
}

#[async_trait::async_trait]
impl VolumeBackend for SimulatedBackend {
    fn name(&self) -> &str {
        "simulated"
    }

    async fn capabilities(&self) -> Result<Capabilities, BackendError> {
        self.enter(SimBackendOp::Capabilities).await?;
        let s = self.state.lock();
        let used: u64 = s.volumes.values().map(|v| v.info.size_gb).sum();
        Ok(Capabilities {
            backend_name: self.config.backend_name.clone(),
            pool_name: self.config.backend_name.clone(),
            vendor_name: "rustack".to_string(),
            driver_version: env!("CARGO_PKG_VERSION").to_string(),
            storage_protocol: "file".to_string(),
            total_capacity_gb: s.total_capacity_gb as f64,
            free_capacity_gb: s.total_capacity_gb.saturating_sub(used) as f64,
            thin_provisioning: false,
            snapshots: true,
            multiattach: false,
        })
    }

    async fn create(
        &self,
        spec: &VolumeSpec,
        source: &VolumeSource,
        luks: Option<&Luks>,
    ) -> Result<Location, BackendError> {
        self.enter(SimBackendOp::Create).await?;
        if spec.id.is_empty() || spec.id.contains('/') {
            return Err(BackendError::Invalid(format!(
                "bad volume id {:?}",
                spec.id
            )));
        }
        if spec.size_gb == 0 {
            return Err(BackendError::Invalid(
                "a volume needs at least 1 GiB".into(),
            ));
        }
        let source_ref = match source {
            VolumeSource::Blank | VolumeSource::Image { .. } => None,
            VolumeSource::Snapshot { volume, .. } | VolumeSource::Volume { volume, .. } => {
                Some(self.id_of(volume)?)
            }
        };
        let mut s = self.state.lock();
        if s.volumes.contains_key(&spec.id) {
            return Err(BackendError::Invalid(format!(
                "volume {} already exists",
                spec.id
            )));
        }
        let origin = match (source, &source_ref) {
            (VolumeSource::Blank, _) => "blank".to_string(),
            (VolumeSource::Image { path, format, .. }, _) => {
                if format.is_empty() {
                    return Err(BackendError::Invalid("image without a disk format".into()));
                }
                format!("image:{}", path.display())
            }
            (VolumeSource::Snapshot { name, luks: sl, .. }, Some(src)) => {
                let rec = s.volumes.get(src).ok_or_else(|| not_found(src))?;
                let snap_size = *rec.info.snapshots.get(name).ok_or_else(|| {
                    BackendError::NotFound(format!("snapshot {name} of volume {src}"))
                })?;
                check_passphrase(src, rec.passphrase.as_ref(), sl.as_ref())?;
                if snap_size > spec.size_gb {
                    return Err(BackendError::Invalid(format!(
                        "snapshot {name} is {snap_size} GiB, larger than {} GiB",
                        spec.size_gb
                    )));
                }
                format!("snapshot:{src}/{name}")
            }
            (VolumeSource::Volume { luks: sl, .. }, Some(src)) => {
                let rec = s.volumes.get(src).ok_or_else(|| not_found(src))?;
                check_passphrase(src, rec.passphrase.as_ref(), sl.as_ref())?;
                if rec.info.size_gb > spec.size_gb {
                    return Err(BackendError::Invalid(format!(
                        "volume {src} is {} GiB, larger than {} GiB",
                        rec.info.size_gb, spec.size_gb
                    )));
                }
                format!("volume:{src}")
            }
            (_, None) => return Err(BackendError::Invalid("source without a volume".into())),
        };
        let used: u64 = s.volumes.values().map(|v| v.info.size_gb).sum();
        if used.saturating_add(spec.size_gb) > s.total_capacity_gb {
            return Err(BackendError::NoSpace(format!(
                "{} GiB requested, {} GiB free",
                spec.size_gb,
                s.total_capacity_gb.saturating_sub(used)
            )));
        }
        s.volumes.insert(
            spec.id.clone(),
            VolumeRecord {
                info: SimVolume {
                    size_gb: spec.size_gb,
                    encrypted: luks.is_some(),
                    snapshots: BTreeMap::new(),
                    origin,
                },
                passphrase: luks.map(|l| l.passphrase.clone()),
            },
        );
        Ok(self.location_of(&spec.id))
    }

    async fn delete(&self, location: &Location) -> Result<(), BackendError> {
        self.enter(SimBackendOp::Delete).await?;
        let id = self.id_of(location)?;
        let mut s = self.state.lock();
        if s.busy.contains(&id) && s.volumes.contains_key(&id) {
            return Err(busy(&id));
        }
        s.volumes.remove(&id);
        Ok(())
    }

    async fn extend(
        &self,
        location: &Location,
        new_size_gb: u64,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        self.enter(SimBackendOp::Extend).await?;
        let id = self.id_of(location)?;
        let mut s = self.state.lock();
        if s.busy.contains(&id) {
            return Err(busy(&id));
        }
        let used: u64 = s.volumes.values().map(|v| v.info.size_gb).sum();
        let total = s.total_capacity_gb;
        let rec = s.volumes.get_mut(&id).ok_or_else(|| not_found(&id))?;
        check_passphrase(&id, rec.passphrase.as_ref(), luks)?;
        if new_size_gb < rec.info.size_gb {
            return Err(BackendError::Invalid(format!(
                "cannot shrink volume {id} from {} to {new_size_gb} GiB",
                rec.info.size_gb
            )));
        }
        let growth = new_size_gb - rec.info.size_gb;
        if used.saturating_add(growth) > total {
            return Err(BackendError::NoSpace(format!(
                "{growth} GiB more requested, {} GiB free",
                total.saturating_sub(used)
            )));
        }
        rec.info.size_gb = new_size_gb;
        Ok(())
    }

    async fn snapshot_create(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        self.enter(SimBackendOp::SnapshotCreate).await?;
        let id = self.id_of(location)?;
        let mut s = self.state.lock();
        if s.busy.contains(&id) {
            return Err(busy(&id));
        }
        let rec = s.volumes.get_mut(&id).ok_or_else(|| not_found(&id))?;
        check_passphrase(&id, rec.passphrase.as_ref(), luks)?;
        if rec.info.snapshots.contains_key(name) {
            return Err(BackendError::Invalid(format!(
                "snapshot {name} of volume {id} already exists"
            )));
        }
        rec.info
            .snapshots
            .insert(name.to_string(), rec.info.size_gb);
        Ok(())
    }

    async fn snapshot_delete(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        self.enter(SimBackendOp::SnapshotDelete).await?;
        let id = self.id_of(location)?;
        let mut s = self.state.lock();
        let is_busy = s.busy.contains(&id);
        let Some(rec) = s.volumes.get_mut(&id) else {
            return Ok(());
        };
        if !rec.info.snapshots.contains_key(name) {
            return Ok(());
        }
        if is_busy {
            return Err(busy(&id));
        }
        check_passphrase(&id, rec.passphrase.as_ref(), luks)?;
        rec.info.snapshots.remove(name);
        Ok(())
    }

    async fn snapshot_revert(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        self.enter(SimBackendOp::SnapshotRevert).await?;
        let id = self.id_of(location)?;
        let mut s = self.state.lock();
        if s.busy.contains(&id) {
            return Err(busy(&id));
        }
        let rec = s.volumes.get_mut(&id).ok_or_else(|| not_found(&id))?;
        check_passphrase(&id, rec.passphrase.as_ref(), luks)?;
        let size = *rec
            .info
            .snapshots
            .get(name)
            .ok_or_else(|| BackendError::NotFound(format!("snapshot {name} of volume {id}")))?;
        rec.info.size_gb = size;
        Ok(())
    }

    async fn export(
        &self,
        location: &Location,
        luks: Option<&Luks>,
        out: &Path,
        disk_format: &str,
    ) -> Result<(), BackendError> {
        self.enter(SimBackendOp::Export).await?;
        let id = self.id_of(location)?;
        let content = {
            let s = self.state.lock();
            let rec = s.volumes.get(&id).ok_or_else(|| not_found(&id))?;
            check_passphrase(&id, rec.passphrase.as_ref(), luks)?;
            match disk_format {
                "raw" => {}
                "qcow2" if rec.passphrase.is_none() => {}
                "qcow2" => {
                    return Err(BackendError::Invalid(
                        "an encrypted volume exports only as raw (a LUKS container)".into(),
                    ))
                }
                other => {
                    return Err(BackendError::Invalid(format!(
                        "unsupported export disk format {other}"
                    )))
                }
            }
            format!(
                "rustack simulated volume {id} ({} GiB, {disk_format})\n",
                rec.info.size_gb
            )
        };
        tokio::fs::write(out, content)
            .await
            .map_err(|e| BackendError::Failed(format!("writing {}: {e}", out.display())))
    }

    async fn usage(&self, location: &Location) -> Result<(u64, u64), BackendError> {
        self.enter(SimBackendOp::Usage).await?;
        let id = self.id_of(location)?;
        let s = self.state.lock();
        let rec = s.volumes.get(&id).ok_or_else(|| not_found(&id))?;
        Ok((rec.info.size_gb.saturating_mul(GIB), 0))
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        self.enter(SimBackendOp::List).await?;
        Ok(self.state.lock().volumes.keys().cloned().collect())
    }

    async fn cleanup(&self) -> Result<(), BackendError> {
        self.enter(SimBackendOp::Cleanup).await?;
        self.state.lock().cleanups += 1;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn luks(pass: &str) -> Luks {
        Luks {
            passphrase: pass.to_string(),
            cipher_alg: "aes-256".into(),
            cipher_mode: "xts".into(),
            ivgen_alg: "plain64".into(),
            ivgen_hash_alg: None,
        }
    }

    fn spec(id: &str, size_gb: u64) -> VolumeSpec {
        VolumeSpec {
            id: id.to_string(),
            size_gb,
        }
    }

    #[tokio::test]
    async fn create_extend_snapshot_delete() {
        let b = SimulatedBackend::default();
        let loc = b
            .create(&spec("v1", 2), &VolumeSource::Blank, None)
            .await
            .unwrap();
        assert_eq!(b.id_of(&loc).unwrap(), "v1");
        assert!(matches!(
            b.create(&spec("v1", 2), &VolumeSource::Blank, None).await,
            Err(BackendError::Invalid(_))
        ));
        assert_eq!(b.usage(&loc).await.unwrap().0, 2 * GIB);
        b.extend(&loc, 3, None).await.unwrap();
        assert!(matches!(
            b.extend(&loc, 1, None).await,
            Err(BackendError::Invalid(_))
        ));
        b.snapshot_create(&loc, "snapshot-a", None).await.unwrap();
        assert!(b.snapshot_create(&loc, "snapshot-a", None).await.is_err());
        b.extend(&loc, 5, None).await.unwrap();
        b.snapshot_revert(&loc, "snapshot-a", None).await.unwrap();
        assert_eq!(b.volume("v1").unwrap().size_gb, 3);
        b.snapshot_delete(&loc, "snapshot-a", None).await.unwrap();
        b.snapshot_delete(&loc, "snapshot-a", None).await.unwrap();
        assert!(matches!(
            b.snapshot_revert(&loc, "snapshot-a", None).await,
            Err(BackendError::NotFound(_))
        ));
        assert_eq!(b.list().await.unwrap(), vec!["v1".to_string()]);
        b.delete(&loc).await.unwrap();
        b.delete(&loc).await.unwrap();
        assert!(b.list().await.unwrap().is_empty());
        assert!(matches!(
            b.usage(&loc).await,
            Err(BackendError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn encrypted_sources_need_the_right_passphrase() {
        let b = SimulatedBackend::default();
        let loc = b
            .create(&spec("src", 1), &VolumeSource::Blank, Some(&luks("aa")))
            .await
            .unwrap();
        b.snapshot_create(&loc, "s", Some(&luks("aa")))
            .await
            .unwrap();
        assert!(matches!(
            b.snapshot_create(&loc, "t", None).await,
            Err(BackendError::Invalid(_))
        ));
        let from_snap = |pass: Option<&str>| VolumeSource::Snapshot {
            volume: loc.clone(),
            name: "s".into(),
            luks: pass.map(luks),
        };
        assert!(matches!(
            b.create(&spec("bad", 1), &from_snap(Some("bb")), Some(&luks("cc")))
                .await,
            Err(BackendError::Failed(_))
        ));
        b.create(&spec("new", 2), &from_snap(Some("aa")), Some(&luks("cc")))
            .await
            .unwrap();
        let v = b.volume("new").unwrap();
        assert!(v.encrypted);
        assert_eq!(v.origin, format!("snapshot:src/s"));
        // A clone smaller than its source is refused.
        let clone = VolumeSource::Volume {
            volume: b.location_of("new"),
            luks: Some(luks("cc")),
        };
        assert!(matches!(
            b.create(&spec("small", 1), &clone, None).await,
            Err(BackendError::Invalid(_))
        ));
        b.create(&spec("clone", 2), &clone, None).await.unwrap();
        assert!(!b.volume("clone").unwrap().encrypted);
        // Missing snapshot.
        let missing = VolumeSource::Snapshot {
            volume: loc.clone(),
            name: "nope".into(),
            luks: Some(luks("aa")),
        };
        assert!(matches!(
            b.create(&spec("x", 1), &missing, None).await,
            Err(BackendError::NotFound(_))
        ));
        // Export: an encrypted volume only as raw.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        assert!(matches!(
            b.export(&loc, Some(&luks("aa")), &out, "qcow2").await,
            Err(BackendError::Invalid(_))
        ));
        b.export(&loc, Some(&luks("aa")), &out, "raw")
            .await
            .unwrap();
        assert!(std::fs::read_to_string(&out).unwrap().contains("src"));
    }

    #[tokio::test]
    async fn capacity_knobs_and_busy() {
        let b = SimulatedBackend::new(SimBackendConfig {
            total_capacity_gb: 10,
            ..SimBackendConfig::default()
        });
        let loc = b
            .create(&spec("a", 6), &VolumeSource::Blank, None)
            .await
            .unwrap();
        let caps = b.capabilities().await.unwrap();
        assert_eq!(caps.total_capacity_gb, 10.0);
        assert_eq!(caps.free_capacity_gb, 4.0);
        assert!(matches!(
            b.create(&spec("b", 5), &VolumeSource::Blank, None).await,
            Err(BackendError::NoSpace(_))
        ));
        assert!(matches!(
            b.extend(&loc, 11, None).await,
            Err(BackendError::NoSpace(_))
        ));
        b.set_total_capacity_gb(20);
        b.create(&spec("b", 5), &VolumeSource::Blank, None)
            .await
            .unwrap();

        b.fail_next(SimBackendOp::Create, 1);
        assert!(matches!(
            b.create(&spec("c", 1), &VolumeSource::Blank, None).await,
            Err(BackendError::Failed(_))
        ));
        b.create(&spec("c", 1), &VolumeSource::Blank, None)
            .await
            .unwrap();

        b.set_busy("a", true);
        assert!(matches!(
            b.snapshot_create(&loc, "s", None).await,
            Err(BackendError::Busy(_))
        ));
        assert!(matches!(b.delete(&loc).await, Err(BackendError::Busy(_))));
        b.set_busy("a", false);
        b.delete(&loc).await.unwrap();

        b.cleanup().await.unwrap();
        assert_eq!(b.cleanup_count(), 1);
        let foreign = Location::File {
            path: "/elsewhere/a.qcow2".into(),
            format: "qcow2".into(),
        };
        assert!(matches!(
            b.delete(&foreign).await,
            Err(BackendError::Invalid(_))
        ));
    }
}
