//! The file backend: one qcow2 file per volume, `<dir>/<volume id>.qcow2` (mode 0600),
//! which QEMU on the same host opens itself (Cinder's NFS driver with
//! `nfs_qcow2_volumes = True`, minus the mount).
//!
//! - Encrypted volumes are LUKS1 inside the qcow2 (`encrypt.format=luks`), formatted at
//!   creation with the volume's own passphrase; a copy from an encrypted source is
//!   decrypted and re-encrypted with the new key in the same `qemu-img convert`.
//! - Snapshots are qcow2 internal snapshots (`qemu-img snapshot -c/-d/-a`); a volume
//!   from a snapshot is `qemu-img convert -l snapshot.name=...`.
//! - Crash safety: new volumes are made in `<dir>/tmp/` (same filesystem) and renamed
//!   into place; [`VolumeBackend::cleanup`] empties `tmp/`.
//! - Secrets: passphrases reach `qemu-img` only as `--object secret,...,file=<0600
//!   file in tmp/>`, removed right after the command ([`SecretFile`]).
//! - Every command goes through [`Runner`] (timeout, errors with command, status and
//!   stderr; a lock held by a running QEMU is [`BackendError::Busy`]).
//!
//! Snapshot create and delete on one volume are serialized (a per-volume lock), as
//! qcow2 internal snapshot updates must not race.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustack_block_api::backend::{
    BackendError, Capabilities, Location, Luks, VolumeBackend, VolumeSource, VolumeSpec,
};

use crate::runner::{escape_opt, random_hex, Runner, SecretFile};

const GIB: u64 = 1024 * 1024 * 1024;

/// The file backend. Build it with [`FileBackend::new`], then call
/// [`VolumeBackend::cleanup`] once before serving.
#[derive(Debug)]
pub struct FileBackend {
    dir: PathBuf,
    tmp: PathBuf,
    qemu_img: Runner,
    /// Timeout of the commands that copy data (`convert`).
    copy_timeout: Duration,
    /// LUKS PBKDF iteration time in ms for new volumes (`None`: QEMU's default, 2000).
    luks_iter_time_ms: Option<u64>,
    locks: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl FileBackend {
    /// A backend keeping volumes in `dir` (created with mode 0700 when missing, with its
    /// `tmp/` subdirectory).
    pub fn new(dir: PathBuf) -> Result<Self, BackendError> {
        let tmp = dir.join("tmp");
        for d in [&dir, &tmp] {
            std::fs::create_dir_all(d).map_err(|e| {
                BackendError::Failed(format!("creating volume directory {}: {e}", d.display()))
            })?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                BackendError::Failed(format!("setting the mode of {}: {e}", d.display()))
            })?;
        }
        Ok(FileBackend {
            dir,
            tmp,
            qemu_img: Runner::new("qemu-img", Duration::from_secs(120)),
            copy_timeout: Duration::from_secs(4 * 3600),
            luks_iter_time_ms: None,
            locks: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Use a shorter LUKS key derivation time for new volumes (tests: each open of an
    /// encrypted image otherwise costs about 2 s of CPU).
    pub fn with_luks_iter_time_ms(mut self, ms: u64) -> Self {
        self.luks_iter_time_ms = Some(ms);
        self
    }

    /// Change the timeouts of metadata commands and of data copies.
    pub fn with_timeouts(mut self, command: Duration, copy: Duration) -> Self {
        self.qemu_img = self.qemu_img.with_timeout(command);
        self.copy_timeout = copy;
        self
    }

    /// The volume directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where volume `id` lives.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.qcow2"))
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone()
    }

    /// The path of a location of this backend (a qcow2 file directly in `dir`) and
    /// the volume id it names.
    fn own_path(&self, location: &Location) -> Result<(PathBuf, String), BackendError> {
        match location {
            Location::File { path, format } if format == "qcow2" => {
                let id = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".qcow2"))
                    .filter(|id| valid_id(id))
                    .map(str::to_string);
                match id {
                    Some(id) if path.parent() == Some(self.dir.as_path()) => Ok((path.clone(), id)),
                    _ => Err(BackendError::Invalid(format!(
                        "{} is not a volume of the file backend in {}",
                        path.display(),
                        self.dir.display()
                    ))),
                }
            }
            other => Err(BackendError::Invalid(format!(
                "the file backend cannot use location {other:?}"
            ))),
        }
    }

    fn secret(&self, luks: &Luks) -> Result<SecretFile, BackendError> {
        check_luks(luks)?;
        SecretFile::create(&self.tmp, &luks.passphrase)
    }

    /// `qemu-img info --output=json -U` (no secret needed, even for encrypted qcow2).
    async fn info(&self, path: &Path) -> Result<serde_json::Value, BackendError> {
        self.info_as(path, "qcow2").await
    }

    /// `qemu-img info` of a file read as `format`.
    async fn info_as(&self, path: &Path, format: &str) -> Result<serde_json::Value, BackendError> {
        let args = vec![
            "info".into(),
            "--output=json".into(),
            "-U".into(),
            "-f".into(),
            format.into(),
            path.as_os_str().to_owned(),
        ];
        let out = self.qemu_img.run(&args).await?;
        serde_json::from_str(&out).map_err(|e| {
            BackendError::Failed(format!(
                "unreadable qemu-img info of {}: {e}",
                path.display()
            ))
        })
    }

    async fn snapshot_names(&self, path: &Path) -> Result<Vec<String>, BackendError> {
        let info = self.info(path).await?;
        Ok(info
            .get("snapshots")
            .and_then(|s| s.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.get("name").and_then(|n| n.as_str()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn luks_create_opts(&self, luks: &Luks, secret_id: &str, prefix: &str) -> String {
        let mut o = format!(
            "{prefix}key-secret={secret_id},{prefix}cipher-alg={},{prefix}cipher-mode={},{prefix}ivgen-alg={}",
            luks.cipher_alg, luks.cipher_mode, luks.ivgen_alg
        );
        if let Some(h) = &luks.ivgen_hash_alg {
            o.push_str(&format!(",{prefix}ivgen-hash-alg={h}"));
        }
        if let Some(ms) = self.luks_iter_time_ms {
            o.push_str(&format!(",{prefix}iter-time={ms}"));
        }
        o
    }

    /// Create an empty qcow2 of `size` bytes at `path` (LUKS-formatted with `luks`).
    async fn qcow2_create(
        &self,
        path: &Path,
        size: u64,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let mut args: Vec<OsString> = vec!["create".into(), "-q".into()];
        let _secret = match luks {
            Some(l) => {
                let s = self.secret(l)?;
                args.push("--object".into());
                args.push(s.object("sec0"));
                args.push("-f".into());
                args.push("qcow2".into());
                args.push("-o".into());
                args.push(
                    format!(
                        "encrypt.format=luks,{}",
                        self.luks_create_opts(l, "sec0", "encrypt.")
                    )
                    .into(),
                );
                Some(s)
            }
            None => {
                args.extend(["-f".into(), "qcow2".into()]);
                None
            }
        };
        args.push(path.as_os_str().to_owned());
        args.push(size.to_string().into());
        self.qemu_img.run(&args).await?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            BackendError::Failed(format!("setting the mode of {}: {e}", path.display()))
        })
    }

    /// Arguments naming an existing qcow2 volume as an image (with its secret `id`).
    fn image_arg(path: &Path, secret_id: Option<&str>) -> OsString {
        let mut o = OsString::from("driver=qcow2,");
        if let Some(id) = secret_id {
            o.push(format!("encrypt.key-secret={id},"));
        }
        o.push("file.filename=");
        o.push(escape_opt(path));
        o
    }

    /// Fill the new volume at `target` (already created) from `source`.
    async fn fill(
        &self,
        target: &Path,
        target_luks: Option<&Luks>,
        source: &VolumeSource,
    ) -> Result<(), BackendError> {
        let mut args: Vec<OsString> = vec!["convert".into()];
        let mut secrets = Vec::new();
        if let Some(l) = target_luks {
            let s = self.secret(l)?;
            args.push("--object".into());
            args.push(s.object("sec0"));
            secrets.push(s);
        }
        let (src_path, src_luks, snapshot, image_format) = match source {
            VolumeSource::Blank => return Ok(()),
            VolumeSource::Image { path, format, luks } => {
                if !path.is_file() {
                    return Err(BackendError::NotFound(format!("image {}", path.display())));
                }
                (path.clone(), luks.as_ref(), None, Some(format.as_str()))
            }
            VolumeSource::Snapshot { volume, name, luks } => {
                let (path, id) = self.own_path(volume)?;
                if !path.is_file() {
                    return Err(BackendError::NotFound(format!("volume {id}")));
                }
                if !self.snapshot_names(&path).await?.iter().any(|n| n == name) {
                    return Err(BackendError::NotFound(format!(
                        "snapshot {name} of volume {id}"
                    )));
                }
                (path, luks.as_ref(), Some(name.as_str()), None)
            }
            VolumeSource::Volume { volume, luks } => {
                let (path, id) = self.own_path(volume)?;
                if !path.is_file() {
                    return Err(BackendError::NotFound(format!("volume {id}")));
                }
                (path, luks.as_ref(), None, None)
            }
        };
        if let Some(l) = src_luks {
            let s = self.secret(l)?;
            args.push("--object".into());
            args.push(s.object("sec1"));
            secrets.push(s);
        }
        if image_format.is_none() {
            // The source may be open in a running guest: internal snapshots are
            // copy-on-write, and a clone of an in-use volume is Cinder's behaviour too.
            args.push("-U".into());
        }
        if let Some(name) = snapshot {
            check_snapshot_name(name)?;
            args.push("-l".into());
            args.push(format!("snapshot.name={name}").into());
        }
        args.extend(["-n".into(), "--target-is-zero".into()]);
        match (image_format, src_luks) {
            (Some(fmt), Some(_)) => {
                // A raw LUKS container (an uploaded encrypted volume), or a qcow2 with
                // LUKS inside.
                let mut o = OsString::from(match fmt {
                    "qcow2" => "driver=qcow2,encrypt.key-secret=sec1,file.filename=",
                    "raw" | "luks" => "driver=luks,key-secret=sec1,file.filename=",
                    other => {
                        return Err(BackendError::Invalid(format!(
                            "an encrypted image must be raw (LUKS) or qcow2, not {other}"
                        )))
                    }
                });
                o.push(escape_opt(&src_path));
                args.push("--image-opts".into());
                args.push(o);
            }
            (Some(fmt), None) => {
                check_word("disk format", fmt)?;
                self.check_standalone_image(&src_path, fmt).await?;
                args.extend(["-f".into(), fmt.into(), src_path.as_os_str().to_owned()]);
            }
            (None, luks) => {
                args.push("--image-opts".into());
                args.push(Self::image_arg(&src_path, luks.map(|_| "sec1")));
            }
        }
        args.push("--target-image-opts".into());
        args.push(Self::image_arg(target, target_luks.map(|_| "sec0")));
        self.qemu_img
            .with_timeout(self.copy_timeout)
            .run(&args)
            .await?;
        drop(secrets);
        Ok(())
    }

    /// Refuse an image that refers to other files (a backing file or an external data
    /// file): converting it would copy host files the image names into the volume.
    async fn check_standalone_image(&self, path: &Path, format: &str) -> Result<(), BackendError> {
        if format == "raw" {
            return Ok(());
        }
        let info = self.info_as(path, format).await?;
        let data_file = info.pointer("/format-specific/data/data-file").is_some();
        if info.get("backing-filename").is_some() || data_file {
            return Err(BackendError::Invalid(format!(
                "image {} refers to another file (backing or data file)",
                path.display()
            )));
        }
        Ok(())
    }

    async fn snapshot_cmd(
        &self,
        path: &Path,
        flag: &str,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        check_snapshot_name(name)?;
        let mut args: Vec<OsString> = vec!["snapshot".into()];
        let _secret = match luks {
            Some(l) => {
                let s = self.secret(l)?;
                args.push("--object".into());
                args.push(s.object("sec0"));
                Some(s)
            }
            None => None,
        };
        args.push("--image-opts".into());
        args.push(Self::image_arg(path, luks.map(|_| "sec0")));
        args.push(flag.into());
        args.push(name.into());
        self.qemu_img.run(&args).await.map(|_| ())
    }
}

/// Volume ids name files: letters, digits, `-` and `_` only.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A value spliced into a QEMU option string: no `,` or `=` (option injection).
fn check_word(what: &str, v: &str) -> Result<(), BackendError> {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        Ok(())
    } else {
        Err(BackendError::Invalid(format!("bad {what} {v:?}")))
    }
}

fn check_snapshot_name(name: &str) -> Result<(), BackendError> {
    check_word("snapshot name", name)
}

fn check_luks(luks: &Luks) -> Result<(), BackendError> {
    check_word("cipher algorithm", &luks.cipher_alg)?;
    check_word("cipher mode", &luks.cipher_mode)?;
    check_word("IV generator", &luks.ivgen_alg)?;
    if let Some(h) = &luks.ivgen_hash_alg {
        check_word("IV generator hash", h)?;
    }
    if luks.passphrase.is_empty() {
        return Err(BackendError::Invalid("empty LUKS passphrase".into()));
    }
    Ok(())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> BackendError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        BackendError::NoSpace(format!("{what} {}: {e}", path.display()))
    } else {
        BackendError::Failed(format!("{what} {}: {e}", path.display()))
    }
}

fn sync_dir(dir: &Path) -> Result<(), BackendError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing", dir, e))
}

/// Total and free bytes of the filesystem holding `dir`.
fn statvfs(dir: &Path) -> Result<(u64, u64), BackendError> {
    let st = nix::sys::statvfs::statvfs(dir)
        .map_err(|e| io_err("statvfs of", dir, std::io::Error::from(e)))?;
    let frsize = st.fragment_size() as u64;
    Ok((
        (st.blocks() as u64).saturating_mul(frsize),
        (st.blocks_available() as u64).saturating_mul(frsize),
    ))
}

fn gb(bytes: u64) -> f64 {
    // Two decimals, as Cinder reports.
    ((bytes as f64 / GIB as f64) * 100.0).floor() / 100.0
}

#[async_trait::async_trait]
impl VolumeBackend for FileBackend {
    fn name(&self) -> &str {
        "file"
    }

    async fn capabilities(&self) -> Result<Capabilities, BackendError> {
        let (total, free) = statvfs(&self.dir)?;
        Ok(Capabilities {
            backend_name: "file".to_string(),
            pool_name: "file".to_string(),
            vendor_name: "rustack".to_string(),
            driver_version: env!("CARGO_PKG_VERSION").to_string(),
            storage_protocol: "file".to_string(),
            total_capacity_gb: gb(total),
            free_capacity_gb: gb(free),
            thin_provisioning: true,
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
        if !valid_id(&spec.id) {
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
        let size = spec
            .size_gb
            .checked_mul(GIB)
            .ok_or_else(|| BackendError::Invalid(format!("size {} GiB", spec.size_gb)))?;
        let path = self.path_of(&spec.id);
        if path.exists() {
            return Err(BackendError::Invalid(format!(
                "volume {} already exists",
                spec.id
            )));
        }
        let tmp = self.tmp.join(format!("{}.{}.qcow2", spec.id, random_hex()));
        let result = async {
            self.qcow2_create(&tmp, size, luks).await?;
            self.fill(&tmp, luks, source).await?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_err("syncing", &tmp, e))?;
            // The id may have been created meanwhile by a racing call: never replace.
            if path.exists() {
                return Err(BackendError::Invalid(format!(
                    "volume {} already exists",
                    spec.id
                )));
            }
            std::fs::rename(&tmp, &path).map_err(|e| io_err("renaming into", &path, e))?;
            sync_dir(&self.dir)
        }
        .await;
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        tracing::info!(volume.id = %spec.id, size_gb = spec.size_gb, encrypted = luks.is_some(), "created volume file");
        Ok(Location::File {
            path,
            format: "qcow2".to_string(),
        })
    }

    async fn delete(&self, location: &Location) -> Result<(), BackendError> {
        let (path, id) = self.own_path(location)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir)?;
                tracing::info!(volume.id = %id, "deleted volume file");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("deleting", &path, e)),
        }
    }

    async fn extend(
        &self,
        location: &Location,
        new_size_gb: u64,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let (path, id) = self.own_path(location)?;
        if !path.is_file() {
            return Err(BackendError::NotFound(format!("volume {id}")));
        }
        let new_size = new_size_gb
            .checked_mul(GIB)
            .ok_or_else(|| BackendError::Invalid(format!("size {new_size_gb} GiB")))?;
        let current = self
            .info(&path)
            .await?
            .get("virtual-size")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| BackendError::Failed(format!("no virtual size for volume {id}")))?;
        if new_size < current {
            return Err(BackendError::Invalid(format!(
                "cannot shrink volume {id} from {current} to {new_size} bytes"
            )));
        }
        if new_size == current {
            return Ok(());
        }
        let mut args: Vec<OsString> = vec!["resize".into()];
        let _secret = match luks {
            Some(l) => {
                let s = self.secret(l)?;
                args.push("--object".into());
                args.push(s.object("sec0"));
                Some(s)
            }
            None => None,
        };
        args.push("--image-opts".into());
        args.push(Self::image_arg(&path, luks.map(|_| "sec0")));
        args.push(new_size.to_string().into());
        self.qemu_img.run(&args).await?;
        Ok(())
    }

    async fn snapshot_create(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let (path, id) = self.own_path(location)?;
        let lock = self.lock_for(&id);
        let _g = lock.lock().await;
        if !path.is_file() {
            return Err(BackendError::NotFound(format!("volume {id}")));
        }
        if self.snapshot_names(&path).await?.iter().any(|n| n == name) {
            return Err(BackendError::Invalid(format!(
                "snapshot {name} of volume {id} already exists"
            )));
        }
        self.snapshot_cmd(&path, "-c", name, luks).await
    }

    async fn snapshot_delete(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let (path, id) = self.own_path(location)?;
        let lock = self.lock_for(&id);
        let _g = lock.lock().await;
        if !path.is_file() || !self.snapshot_names(&path).await?.iter().any(|n| n == name) {
            return Ok(());
        }
        self.snapshot_cmd(&path, "-d", name, luks).await
    }

    async fn snapshot_revert(
        &self,
        location: &Location,
        name: &str,
        luks: Option<&Luks>,
    ) -> Result<(), BackendError> {
        let (path, id) = self.own_path(location)?;
        let lock = self.lock_for(&id);
        let _g = lock.lock().await;
        if !path.is_file() {
            return Err(BackendError::NotFound(format!("volume {id}")));
        }
        if !self.snapshot_names(&path).await?.iter().any(|n| n == name) {
            return Err(BackendError::NotFound(format!(
                "snapshot {name} of volume {id}"
            )));
        }
        self.snapshot_cmd(&path, "-a", name, luks).await
    }

    async fn export(
        &self,
        location: &Location,
        luks: Option<&Luks>,
        out: &Path,
        disk_format: &str,
    ) -> Result<(), BackendError> {
        let (path, id) = self.own_path(location)?;
        if !path.is_file() {
            return Err(BackendError::NotFound(format!("volume {id}")));
        }
        let mut args: Vec<OsString> = vec!["convert".into()];
        let _secret = match luks {
            Some(l) => {
                if disk_format != "raw" {
                    return Err(BackendError::Invalid(format!(
                        "an encrypted volume exports only as raw (a LUKS container), not {disk_format}"
                    )));
                }
                let s = self.secret(l)?;
                args.push("--object".into());
                args.push(s.object("sec0"));
                args.push("--image-opts".into());
                args.push(Self::image_arg(&path, Some("sec0")));
                args.extend(["-O".into(), "luks".into(), "-o".into()]);
                args.push(self.luks_create_opts(l, "sec0", "").into());
                Some(s)
            }
            None => {
                if disk_format != "raw" && disk_format != "qcow2" {
                    return Err(BackendError::Invalid(format!(
                        "unsupported export disk format {disk_format}"
                    )));
                }
                args.extend(["-f".into(), "qcow2".into(), path.as_os_str().to_owned()]);
                args.extend(["-O".into(), disk_format.into()]);
                None
            }
        };
        args.push(out.as_os_str().to_owned());
        self.qemu_img
            .with_timeout(self.copy_timeout)
            .run(&args)
            .await?;
        Ok(())
    }

    async fn usage(&self, location: &Location) -> Result<(u64, u64), BackendError> {
        let (path, id) = self.own_path(location)?;
        if !path.is_file() {
            return Err(BackendError::NotFound(format!("volume {id}")));
        }
        let info = self.info(&path).await?;
        let virt = info.get("virtual-size").and_then(|v| v.as_u64());
        let used = info
            .get("actual-size")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        match virt {
            Some(v) => Ok((v, used)),
            None => Err(BackendError::Failed(format!(
                "no virtual size for volume {id}"
            ))),
        }
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| io_err("listing", &self.dir, e))?;
        let mut ids = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_err("listing", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name.strip_suffix(".qcow2") {
                if valid_id(id) && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                    ids.push(id.to_string());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn cleanup(&self) -> Result<(), BackendError> {
        let rd = std::fs::read_dir(&self.tmp).map_err(|e| io_err("listing", &self.tmp, e))?;
        let mut removed = 0u32;
        for entry in rd {
            let entry = entry.map_err(|e| io_err("listing", &self.tmp, e))?;
            let p = entry.path();
            let r = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match r {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing", &p, e)),
            }
        }
        if removed > 0 {
            tracing::info!(count = removed, dir = %self.tmp.display(), "removed leftover volume temporaries");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
