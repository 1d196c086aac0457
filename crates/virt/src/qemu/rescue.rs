//! Rescue and diagnostics of the QEMU driver (the [`crate::ComputeDriver`] methods
//! delegate here).
//!
//! Rescue: the guest is shut down (gracefully for up to
//! [`QemuConfig::soft_reboot_timeout`](super::QemuConfig::soft_reboot_timeout)), a
//! qcow2 overlay `disk.rescue` is made over the rescue image, and QEMU starts again
//! booting from it (vda, `bootindex=1`) with the instance's own root disk as vdb; the
//! record's `rescue` keeps this across agent restarts and power actions. Unrescue
//! stops the guest, removes `disk.rescue` and starts it from its own disks. A
//! volume-backed instance cannot be rescued (as Nova without `COMPUTE_RESCUE_BFV`).
//!
//! Diagnostics read only cheap sources: QMP `query-cpus-fast` for the vCPU threads and
//! their CPU time from `/proc/<pid>/task/<tid>/stat`, `query-blockstats` for the disks,
//! the TAP counters in `/sys/class/net/<tap>/statistics` (swapped to the guest's point
//! of view; unknown when the TAPs live in another network namespace) and the process
//! start time for the uptime. What is not known is `None`.

use std::path::Path;
use std::time::Duration;

use rustack_hostops::cmd::Cmd;
use serde_json::Value;

use crate::error::VirtError;
use crate::qemu::paths::RescueImage;
use crate::qemu::{remove_file_opt, run, QemuDriver, ResolvedAccel};
use crate::types::{CpuDiagnostics, Diagnostics, DiskDiagnostics, NicDiagnostics, PowerState};

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on Linux).
const USER_HZ: u64 = 100;

/// `(utime, stime, starttime)` in clock ticks from a `/proc/<pid>[/task/<tid>]/stat`
/// line (the command name may hold spaces and parentheses: fields count from the last
/// `)`).
pub fn parse_proc_stat(stat: &str) -> Option<(u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15, starttime 22.
    let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok());
    Some((n(14)?, n(15)?, n(22)?))
}

/// The disks of a QMP `query-blockstats` answer (devices with a guest-visible id,
/// named by it: `vda`, `vdb`, `vol-<id>`...).
pub fn disks_from_blockstats(v: &Value) -> Vec<DiskDiagnostics> {
    let Some(list) = v.as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|d| {
            let qdev = d.get("qdev").and_then(Value::as_str).unwrap_or_default();
            // `/machine/peripheral/vda/virtio-backend` or just `vda`.
            let id = qdev
                .strip_prefix("/machine/peripheral/")
                .unwrap_or(qdev)
                .split('/')
                .next()
                .unwrap_or_default();
            if id.is_empty() || id.starts_with("cd") {
                return None;
            }
            let s = d.get("stats")?;
            let n = |k: &str| s.get(k).and_then(Value::as_u64);
            let errors = match (n("failed_rd_operations"), n("failed_wr_operations")) {
                (Some(r), Some(w)) => Some(r + w),
                _ => None,
            };
            Some(DiskDiagnostics {
                device: id.to_string(),
                read_bytes: n("rd_bytes"),
                read_requests: n("rd_operations"),
                write_bytes: n("wr_bytes"),
                write_requests: n("wr_operations"),
                errors_count: errors,
            })
        })
        .collect()
}

/// The uptime in seconds of a process that started `start_ticks` after boot, given
/// `/proc/uptime`.
pub fn uptime_secs(proc_uptime: &str, start_ticks: u64) -> Option<u64> {
    let up: f64 = proc_uptime.split_whitespace().next()?.parse().ok()?;
    let started = start_ticks / USER_HZ;
    Some((up as u64).saturating_sub(started))
}

fn read_counter(dir: &Path, name: &str) -> Option<u64> {
    std::fs::read_to_string(dir.join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl QemuDriver {
    pub(crate) async fn rescue_impl(
        &self,
        uuid: &str,
        image: &Path,
        image_format: &str,
    ) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        if rec.rescue.is_some() {
            return Err(VirtError::InvalidState {
                uuid: uuid.to_string(),
                op: "rescue",
                state: "rescued".to_string(),
            });
        }
        if rec.volumes.iter().any(|v| v.is_boot()) {
            return Err(VirtError::Unsupported(format!(
                "rescue of volume-backed instance {uuid}"
            )));
        }
        if !matches!(image_format, "qcow2" | "raw") {
            return Err(VirtError::InvalidSpec(format!(
                "image format {image_format:?} is not qcow2 or raw"
            )));
        }
        if !image.is_absolute() || !image.is_file() {
            return Err(VirtError::InvalidSpec(format!(
                "rescue image {} is not an existing file with an absolute path",
                image.display()
            )));
        }
        self.stop_process(uuid, self.cfg.soft_reboot_timeout)
            .await?;
        let p = self.paths(uuid);
        remove_file_opt(&p.rescue_disk).await?;
        run(&Cmd::new(&self.cfg.qemu_img)
            .args(["create", "-q", "-f", "qcow2", "-F", image_format, "-b"])
            .arg(image.to_string_lossy())
            .arg(p.rescue_disk.to_string_lossy()))
        .await?;
        rec.rescue = Some(RescueImage {
            path: image.to_path_buf(),
            format: image_format.to_string(),
        });
        if let Err(e) = self.restart(&mut rec, Duration::ZERO).await {
            // Back to the instance's own disks, left shut down.
            rec.rescue = None;
            rec.want_running = false;
            let _ = self.save(&rec).await;
            let _ = remove_file_opt(&p.rescue_disk).await;
            return Err(e);
        }
        tracing::info!(instance.id = %uuid, image = %image.display(), "instance rescued");
        Ok(())
    }

    pub(crate) async fn unrescue_impl(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        if rec.rescue.is_none() {
            let state = self.power_state_of(&rec).await;
            return Err(VirtError::InvalidState {
                uuid: uuid.to_string(),
                op: "unrescue",
                state: state.as_str().to_string(),
            });
        }
        self.stop_process(uuid, Duration::ZERO).await?;
        rec.rescue = None;
        remove_file_opt(&self.paths(uuid).rescue_disk).await?;
        self.restart(&mut rec, Duration::ZERO).await
    }

    pub(crate) async fn diagnostics_impl(&self, uuid: &str) -> Result<Diagnostics, VirtError> {
        let rec = self.load(uuid).await?;
        let state = self.observed_state(&rec).await;
        let p = self.paths(uuid);
        let pid = self.live_pid(uuid).await;
        let spec = &rec.spec;
        let mut d = Diagnostics {
            state: Some(state),
            hypervisor: Some(
                match self.accel {
                    ResolvedAccel::Kvm => "kvm",
                    ResolvedAccel::Tcg => "qemu",
                }
                .to_string(),
            ),
            config_drive: p.config_drive.exists(),
            memory_max_mb: Some(spec.memory_mb),
            ..Default::default()
        };
        let running = pid.is_some() && state != PowerState::Shutdown;
        if let (Some(pid), true) = (pid, running) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            let up = std::fs::read_to_string("/proc/uptime").ok();
            if let (Some(stat), Some(up)) = (stat, up) {
                d.uptime_secs = parse_proc_stat(&stat).and_then(|(_, _, st)| uptime_secs(&up, st));
            }
            if let Ok(cpus) = self.qmp_exec(uuid, "query-cpus-fast", None).await {
                for c in cpus.as_array().into_iter().flatten() {
                    let id = c.get("cpu-index").and_then(Value::as_u64).unwrap_or(0) as u32;
                    let time_ns = c
                        .get("thread-id")
                        .and_then(Value::as_u64)
                        .and_then(|tid| {
                            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()
                        })
                        .and_then(|s| parse_proc_stat(&s))
                        .map(|(u, s, _)| (u + s) * (1_000_000_000 / USER_HZ));
                    d.cpus.push(CpuDiagnostics {
                        id,
                        time_ns,
                        utilisation: None,
                    });
                }
            }
            if let Ok(stats) = self.qmp_exec(uuid, "query-blockstats", None).await {
                d.disks = disks_from_blockstats(&stats);
            }
        }
        if d.cpus.is_empty() {
            d.cpus = (0..spec.vcpus)
                .map(|id| CpuDiagnostics {
                    id,
                    time_ns: None,
                    utilisation: None,
                })
                .collect();
        }
        // TAP counters are the host's view: the guest receives what the TAP sends.
        let in_root_ns = self.cfg.netns.is_none();
        for n in &spec.nics {
            let dir = Path::new("/sys/class/net")
                .join(&n.tap_name)
                .join("statistics");
            let c = |name: &str| {
                if in_root_ns {
                    read_counter(&dir, name)
                } else {
                    None
                }
            };
            d.nics.push(NicDiagnostics {
                mac_address: n.mac.clone(),
                device: n.tap_name.clone(),
                rx_octets: c("tx_bytes"),
                rx_errors: c("tx_errors"),
                rx_drop: c("tx_dropped"),
                rx_packets: c("tx_packets"),
                tx_octets: c("rx_bytes"),
                tx_errors: c("rx_errors"),
                tx_drop: c("rx_dropped"),
                tx_packets: c("rx_packets"),
            });
        }
        Ok(d)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proc_stat_fields_count_from_the_last_parenthesis() {
        // pid (comm with ) and spaces) state ppid ... utime=14 stime=15 ... starttime=22
        let line = "4242 (qemu (x) sys) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 123456 0 0";
        assert_eq!(parse_proc_stat(line), Some((250, 50, 123456)));
        assert_eq!(parse_proc_stat("garbage"), None);
        assert_eq!(parse_proc_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn uptime_from_start_ticks() {
        assert_eq!(uptime_secs("1000.50 3000.00\n", 40_000), Some(600));
        assert_eq!(uptime_secs("10.0 1.0", 40_000), Some(0));
        assert_eq!(uptime_secs("", 1), None);
    }

    #[test]
    fn blockstats_name_disks_by_guest_device() {
        let v = json!([
            {"device": "disk0", "qdev": "/machine/peripheral/vda/virtio-backend",
             "stats": {"rd_bytes": 4096, "rd_operations": 2, "wr_bytes": 512,
                       "wr_operations": 1, "failed_rd_operations": 1,
                       "failed_wr_operations": 0}},
            {"device": "cdrom0", "qdev": "/machine/peripheral/cd0", "stats": {}},
            {"device": "", "qdev": "vol-abc", "stats": {"rd_bytes": 7}}
        ]);
        let d = disks_from_blockstats(&v);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].device, "vda");
        assert_eq!(d[0].read_bytes, Some(4096));
        assert_eq!(d[0].read_requests, Some(2));
        assert_eq!(d[0].write_bytes, Some(512));
        assert_eq!(d[0].write_requests, Some(1));
        assert_eq!(d[0].errors_count, Some(1));
        assert_eq!(d[1].device, "vol-abc");
        assert_eq!(d[1].read_bytes, Some(7));
        assert_eq!(d[1].errors_count, None);
        assert!(disks_from_blockstats(&json!({"not": "a list"})).is_empty());
    }
}
