//! Volume hot-plug of the QEMU driver through QMP (the [`crate::ComputeDriver`] volume
//! methods delegate here; the instance lock is held by the caller).
//!
//! Attach: `object-add` of the LUKS secret (ciphertext under the instance's master
//! key), `blockdev-add` of the format node over a `file` node, `device_add
//! virtio-blk-pci` with the volume id as serial; a failed step undoes the earlier ones.
//! An instance without a QEMU process only records the volume: its next start opens it
//! from the command line. Detach: `device_del`, wait for the guest to release the
//! device (`DEVICE_DELETED` naming it; [`QemuConfig::volume_detach_attempts`] tries of
//! [`QemuConfig::volume_detach_timeout`] each, as Nova), then `blockdev-del` and
//! `object-del`. Extend and internal snapshots act on the volume's block node while the
//! guest runs; with no QEMU process (a stopped guest) they run `qemu-img` on the file
//! instead, the LUKS passphrase decrypted from the record into a 0600 file in the
//! instance directory that is removed right after (never on a command line).
//!
//! [`QemuConfig::volume_detach_attempts`]: super::QemuConfig::volume_detach_attempts
//! [`QemuConfig::volume_detach_timeout`]: super::QemuConfig::volume_detach_timeout

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rustack_hostops::cmd::Cmd;
use serde_json::{json, Value};

use crate::error::VirtError;
use crate::qemu::argv::opt_escape;
use crate::qemu::paths::InstanceRecord;
use crate::qemu::qmp::Qmp;
use crate::qemu::volume::{self, AttachedVolume};
use crate::qemu::{qmp_err, run, QemuDriver};
use crate::types::{VolumeAttachment, VolumeSource};

/// Whether a QMP error says the thing is already gone.
fn gone(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("not found") || m.contains("failed to find") || m.contains("does not exist")
}

/// A decrypted passphrase in a 0600 file, removed on drop.
struct PassFile(PathBuf);

impl PassFile {
    fn create(dir: &std::path::Path, secret: &[u8]) -> Result<Self, VirtError> {
        let path = dir.join(format!("volume-secret.{:016x}", rand::random::<u64>()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| VirtError::io(format!("create {}", path.display()), e))?;
        let guard = PassFile(path);
        f.write_all(secret)
            .map_err(|e| VirtError::io(format!("write {}", guard.0.display()), e))?;
        Ok(guard)
    }
}

impl Drop for PassFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl QemuDriver {
    /// Run `qemu-img <verb> [--object secret] --image-opts <volume> <tail>` on a
    /// volume no QEMU process holds.
    async fn offline_qemu_img(
        &self,
        uuid: &str,
        av: &AttachedVolume,
        verb: &str,
        tail: &[String],
    ) -> Result<String, VirtError> {
        let VolumeSource::File { path, format } = &av.source else {
            return Err(VirtError::Unsupported(format!(
                "RBD volume {} on the QEMU driver",
                av.volume_id
            )));
        };
        let mut cmd = Cmd::new(&self.cfg.qemu_img).arg(verb);
        let file = format!("file.filename={}", opt_escape(&path.to_string_lossy()));
        let mut pass_file = None;
        let opts = match &av.secret {
            Some(secret) => {
                let p = self.paths(uuid);
                let key = volume::load_or_create_master_key(&p.master_key)?;
                let pass = volume::decrypt_secret(&key, secret)?;
                let pf = PassFile::create(&p.dir, &pass)?;
                cmd = cmd.arg("--object").arg(format!(
                    "secret,id=sec0,format=raw,file={}",
                    opt_escape(&pf.0.to_string_lossy())
                ));
                pass_file = Some(pf);
                if format == "qcow2" {
                    format!("driver=qcow2,encrypt.key-secret=sec0,{file}")
                } else {
                    format!("driver=luks,key-secret=sec0,{file}")
                }
            }
            None if format == "qcow2" => format!("driver=qcow2,{file}"),
            None => format!("driver=raw,{file}"),
        };
        let cmd = cmd.arg("--image-opts").arg(opts).args(tail.iter().cloned());
        let r = run(&cmd).await;
        drop(pass_file);
        r
    }

    fn find_volume<'a>(rec: &'a InstanceRecord, volume_id: &str) -> Option<&'a AttachedVolume> {
        let node = volume::node_name(volume_id);
        rec.volumes
            .iter()
            .find(|v| volume::node_name(&v.volume_id) == node)
    }

    fn not_attached(uuid: &str, volume_id: &str) -> VirtError {
        VirtError::InvalidSpec(format!(
            "volume {volume_id} is not attached to instance {uuid}"
        ))
    }

    pub(super) async fn attach_volume_locked(
        &self,
        uuid: &str,
        v: &VolumeAttachment,
    ) -> Result<String, VirtError> {
        volume::check_attachment(v)?;
        let mut rec = self.load(uuid).await?;
        if let Some(existing) = Self::find_volume(&rec, &v.volume_id) {
            return Ok(existing.device.clone());
        }
        let key = volume::load_or_create_master_key(&self.paths(uuid).master_key)?;
        let device = volume::next_device(&rec.spec, &rec.volumes);
        let mut av = AttachedVolume::new(v, device.clone(), &key);
        // Hot-plugged volumes are data disks whatever the request says.
        av.boot_index = None;
        let blockdev = volume::blockdev(&av)?;
        if self.live_pid(uuid).await.is_some() {
            let mut q = self.qmp(uuid).await?;
            let secret = volume::secret_object_qmp(&av);
            if let Some(s) = secret.clone() {
                q.execute("object-add", Some(s))
                    .await
                    .map_err(|f| qmp_err(uuid, "object-add", f))?;
            }
            let node = volume::node_name(&av.volume_id);
            let plugged = async {
                q.execute("blockdev-add", Some(blockdev))
                    .await
                    .map_err(|f| qmp_err(uuid, "blockdev-add", f))?;
                if let Err(f) = q.execute("device_add", Some(volume::device_qmp(&av))).await {
                    let _ = q
                        .execute("blockdev-del", Some(json!({ "node-name": node })))
                        .await;
                    return Err(qmp_err(uuid, "device_add", f));
                }
                Ok::<(), VirtError>(())
            }
            .await;
            if let Err(e) = plugged {
                if secret.is_some() {
                    let _ = q
                        .execute(
                            "object-del",
                            Some(json!({ "id": volume::secret_id(&av.volume_id) })),
                        )
                        .await;
                }
                return Err(e);
            }
        }
        rec.volumes.push(av);
        self.save(&rec).await?;
        tracing::info!(instance.id = %uuid, volume.id = %v.volume_id, device = %device, "volume attached");
        Ok(device)
    }

    pub(super) async fn detach_volume_locked(
        &self,
        uuid: &str,
        volume_id: &str,
    ) -> Result<(), VirtError> {
        let mut rec = self.load(uuid).await?;
        let Some(av) = Self::find_volume(&rec, volume_id).cloned() else {
            return Ok(());
        };
        if self.live_pid(uuid).await.is_some() {
            let mut q = self.qmp(uuid).await?;
            self.unplug_device(uuid, &mut q, &av).await?;
            let node = volume::node_name(&av.volume_id);
            if let Err(f) = q
                .execute("blockdev-del", Some(json!({ "node-name": node })))
                .await
            {
                if !gone(&f.0) {
                    return Err(qmp_err(uuid, "blockdev-del", f));
                }
            }
            if av.secret.is_some() {
                if let Err(f) = q
                    .execute(
                        "object-del",
                        Some(json!({ "id": volume::secret_id(&av.volume_id) })),
                    )
                    .await
                {
                    if !gone(&f.0) {
                        return Err(qmp_err(uuid, "object-del", f));
                    }
                }
            }
        }
        let node = volume::node_name(volume_id);
        rec.volumes
            .retain(|v| volume::node_name(&v.volume_id) != node);
        self.save(&rec).await?;
        tracing::info!(instance.id = %uuid, volume.id = %volume_id, "volume detached");
        Ok(())
    }

    /// `device_del` until the guest releases the device (or it is not there).
    async fn unplug_device(
        &self,
        uuid: &str,
        q: &mut Qmp,
        av: &AttachedVolume,
    ) -> Result<(), VirtError> {
        let dev = volume::device_id(&av.volume_id);
        let attempts = self.cfg.volume_detach_attempts.max(1);
        for attempt in 1..=attempts {
            match q.execute("device_del", Some(json!({ "id": dev }))).await {
                Ok(_) => {}
                Err(f) if gone(&f.0) => return Ok(()),
                // A repeated request while the guest still considers the first one.
                Err(f) if f.0.contains("in the process of unplug") => {}
                Err(f) => return Err(qmp_err(uuid, "device_del", f)),
            }
            let d = dev.clone();
            match q
                .wait_event(
                    "DEVICE_DELETED",
                    move |data| data.get("device").and_then(Value::as_str) == Some(d.as_str()),
                    self.cfg.volume_detach_timeout,
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(f) if f.0.starts_with("no DEVICE_DELETED") => {
                    tracing::warn!(
                        instance.id = %uuid,
                        volume.id = %av.volume_id,
                        attempt,
                        attempts,
                        "guest has not released the volume yet"
                    );
                }
                Err(f) => return Err(qmp_err(uuid, "device_del", f)),
            }
        }
        Err(VirtError::Timeout {
            what: format!(
                "instance {uuid} to release volume {} (DEVICE_DELETED)",
                av.volume_id
            ),
            secs: self.cfg.volume_detach_timeout.as_secs() * u64::from(attempts),
        })
    }

    pub(super) async fn extend_volume_locked(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> Result<(), VirtError> {
        let rec = self.load(uuid).await?;
        let av = Self::find_volume(&rec, volume_id)
            .ok_or_else(|| Self::not_attached(uuid, volume_id))?;
        if self.live_pid(uuid).await.is_none() {
            self.offline_qemu_img(uuid, av, "resize", &[new_size_bytes.to_string()])
                .await?;
            return Ok(());
        }
        let mut q = self.qmp(uuid).await?;
        q.execute(
            "block_resize",
            Some(json!({
                "node-name": volume::node_name(&av.volume_id),
                "size": new_size_bytes,
            })),
        )
        .await
        .map_err(|f| qmp_err(uuid, "block_resize", f))?;
        Ok(())
    }

    pub(super) async fn volume_snapshot_locked(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
        delete: bool,
    ) -> Result<(), VirtError> {
        if name.is_empty() {
            return Err(VirtError::InvalidSpec("empty snapshot name".to_string()));
        }
        let rec = self.load(uuid).await?;
        let Some(av) = Self::find_volume(&rec, volume_id) else {
            return if delete {
                Ok(())
            } else {
                Err(Self::not_attached(uuid, volume_id))
            };
        };
        if !matches!(&av.source, VolumeSource::File { format, .. } if format == "qcow2") {
            return Err(VirtError::Unsupported(format!(
                "internal snapshots of volume {volume_id}: only qcow2 volumes have them"
            )));
        }
        if self.live_pid(uuid).await.is_none() {
            let flag = if delete { "-d" } else { "-c" };
            return match self
                .offline_qemu_img(uuid, av, "snapshot", &[flag.to_string(), name.to_string()])
                .await
            {
                Ok(_) => Ok(()),
                Err(VirtError::Command { stderr, .. }) if delete && gone(&stderr) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let mut q = self.qmp(uuid).await?;
        let command = if delete {
            "blockdev-snapshot-delete-internal-sync"
        } else {
            "blockdev-snapshot-internal-sync"
        };
        let args = json!({ "device": volume::node_name(&av.volume_id), "name": name });
        match q.execute(command, Some(args)).await {
            Ok(_) => Ok(()),
            Err(f) if delete && gone(&f.0) => Ok(()),
            Err(f) => Err(qmp_err(uuid, command, f)),
        }
    }
}

#[cfg(test)]
mod tests;
