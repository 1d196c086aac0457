//! The QEMU driver: one daemonized QEMU process per instance.
//!
//! Per instance, `<state_dir>/instances/<uuid>/` holds:
//!
//! | file | what |
//! |---|---|
//! | `instance.json` | the spec and desired power state ([`paths::InstanceRecord`]) |
//! | `disk` | qcow2 overlay whose backing file is the absolute image path |
//! | `disk.eph0`, `disk.swap` | blank qcow2 disks when the flavor has them (unformatted) |
//! | `disk.config` | config drive, ISO 9660 labelled `config-2` (genisoimage or xorriso) |
//! | `console.log` | everything the guest wrote to its serial port |
//! | `serial.sock` | the interactive serial console (one client at a time) |
//! | `qmp.sock` | QMP |
//! | `qemu.pid` | QEMU's pid |
//! | `master-key.aes` | 32 random bytes (0600): QEMU's `masterKey0`, which decrypts volume secrets |
//! | `disk.rescue` | while rescued: qcow2 overlay over the rescue image, booted first ([`rescue`]) |
//!
//! Volumes (see [`volume`] and the hot-plug module): attached volumes are recorded in
//! `instance.json` with their LUKS passphrase only as ciphertext under the master key;
//! every start opens them with `-blockdev`/`-device virtio-blk-pci` (a boot volume,
//! `boot_index = 0`, replaces the image root disk), and QMP hot-plugs and unplugs them
//! on a running guest.
//!
//! QEMU runs with `-daemonize -pidfile`, so guests survive an agent restart; a new
//! driver on the same state directory re-adopts them (`list()` reads the instance
//! directories, pid files and QMP `query-status`). A pid counts as the instance's only
//! if `/proc/<pid>/cmdline` names the instance (no pid-reuse confusion) and it is not a
//! zombie. QEMU runs with `-no-shutdown`: a guest that powers itself off stays as a
//! process in run state `shutdown`; a process that vanished while the instance should
//! run is reported as crashed.
//!
//! Power actions go through QMP: power off = `system_powerdown` (ACPI), waiting up to the
//! timeout for the guest, then `quit` (then SIGKILL); pause/unpause = `stop`/`cont`;
//! suspend = `stop` plus a persisted mark (memory is not saved to disk, so a host
//! reboot loses a suspended guest's memory; TODO-robustness: migrate to a file);
//! hard reboot = kill and start again with the same disks; soft reboot = graceful power
//! off with [`QemuConfig::soft_reboot_timeout`], forced when it runs out, then start.
//!
//! NICs: the driver creates the persistent TAP `tap<port[..11]>` (MTU of the port, up,
//! random MAC, `vnet_hdr`) through `rustack-hostops` before QEMU opens it; the network
//! agent enslaves it to the network's bridge. Hot-plug uses QMP
//! `netdev_add`/`device_add` and `device_del` (waiting for `DEVICE_DELETED`)/`netdev_del`.
//!
//! Operations on one instance are serialized by a per-instance async lock. Host
//! commands are typed argument vectors; failures carry the command line and stderr.
//! Accelerator: `auto` picks KVM only when the host's KVM can run stock kernels (see
//! [`host::kvm_usable`]: `/dev/kvm` opens and the implementation is VT-x/AMD-V, not
//! `kvm_pvm`) and a machine-less QEMU initializes it; else TCG (multi-threaded TCG is
//! QEMU's default for x86 guests on x86 hosts), which is what the dev and CI machines get.
//!
//! Deployment note: QEMU daemonizes into its own session, but it stays in the agent's
//! cgroup; a systemd unit running the agent needs `KillMode=process` for guests to
//! survive an agent restart. TODO-robustness: `console.log` grows without bound (QEMU
//! appends; truncating it in place is safe) and is not rotated yet.

pub mod argv;
pub mod host;
mod hotplug;
pub mod paths;
pub mod qmp;
pub mod rescue;
pub mod volume;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustack_hostops::cmd::Cmd;
use rustack_hostops::net::{LinkKind, LinkSpec, LinkUpdate, LinuxNet, NetOps};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::VirtError;
use crate::qemu::paths::{InstancePaths, InstanceRecord};
use crate::qemu::qmp::Qmp;
use crate::types::{HostInfo, InstanceSpec, Nic, PowerState, VolumeAttachment};
use crate::ComputeDriver;

/// Which accelerator to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM when it can run stock kernels here, else TCG.
    #[default]
    Auto,
    /// KVM (`-accel kvm -cpu host`).
    Kvm,
    /// TCG emulation (`-accel tcg`).
    Tcg,
}

/// The accelerator actually used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolvedAccel {
    /// KVM.
    Kvm,
    /// TCG.
    Tcg,
}

/// Configuration of the QEMU driver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QemuConfig {
    /// Where instance directories live (`<state_dir>/instances/<uuid>`).
    pub state_dir: PathBuf,
    /// Accelerator (default `auto`).
    pub accel: Accel,
    /// The QEMU system emulator (default `qemu-system-x86_64`).
    pub qemu_binary: String,
    /// `qemu-img` (default `qemu-img`).
    pub qemu_img: String,
    /// Machine type (default `pc`: PCI hot-plug on the root bus through ACPI).
    pub machine: String,
    /// CPU model (`None`: `host` with KVM, QEMU's default with TCG).
    pub cpu_model: Option<String>,
    /// Network namespace the TAPs are created in and QEMU runs in (`None`: the agent's
    /// own). Tests and multi-host simulations put each "host" in a namespace.
    pub netns: Option<String>,
    /// Hypervisor host name (`None`: the kernel's host name).
    pub hostname: Option<String>,
    /// How long a soft reboot waits for the guest to power off before forcing it.
    #[serde(with = "secs")]
    pub soft_reboot_timeout: Duration,
    /// How long QEMU may take to start (daemonize) or to exit after `quit`.
    #[serde(with = "secs")]
    pub process_timeout: Duration,
    /// Timeout of one QMP exchange.
    #[serde(with = "secs")]
    pub qmp_timeout: Duration,
    /// How many times a volume detach sends `device_del` (Nova's
    /// `device_detach_attempts`, default 8).
    pub volume_detach_attempts: u32,
    /// How long each detach attempt waits for `DEVICE_DELETED` (Nova's
    /// `device_detach_timeout`, default 20 s).
    #[serde(with = "secs")]
    pub volume_detach_timeout: Duration,
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

impl Default for QemuConfig {
    fn default() -> Self {
        QemuConfig::new("/var/lib/rustack/compute")
    }
}

impl QemuConfig {
    /// Defaults with this state directory.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        QemuConfig {
            state_dir: state_dir.into(),
            accel: Accel::Auto,
            qemu_binary: "qemu-system-x86_64".to_string(),
            qemu_img: "qemu-img".to_string(),
            machine: "pc".to_string(),
            cpu_model: None,
            netns: None,
            hostname: None,
            soft_reboot_timeout: Duration::from_secs(60),
            process_timeout: Duration::from_secs(30),
            qmp_timeout: Duration::from_secs(10),
            volume_detach_attempts: 8,
            volume_detach_timeout: Duration::from_secs(20),
        }
    }
}

/// The QEMU compute driver.
pub struct QemuDriver {
    cfg: QemuConfig,
    accel: ResolvedAccel,
    net: Arc<dyn NetOps>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for QemuDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuDriver")
            .field("cfg", &self.cfg)
            .field("accel", &self.accel)
            .finish_non_exhaustive()
    }
}

/// A state-dir-relative unix socket path must fit `sun_path` (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Serial console bytes `console_output` reads at most (the end of the log).
const CONSOLE_MAX_BYTES: u64 = 1 << 20;

fn check_uuid(uuid: &str) -> Result<(), VirtError> {
    let ok = !uuid.is_empty()
        && uuid.len() <= 64
        && uuid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(VirtError::InvalidSpec(format!(
            "instance uuid {uuid:?} must be 1-64 letters, digits, '-' or '_'"
        )))
    }
}

fn qmp_err(uuid: &str, command: &str, f: qmp::QmpFailure) -> VirtError {
    VirtError::Qmp {
        uuid: uuid.to_string(),
        command: command.to_string(),
        message: f.0,
    }
}

fn host_err(context: String) -> impl FnOnce(rustack_hostops::HostError) -> VirtError {
    move |source| VirtError::Host { context, source }
}

/// Run a command to completion; stdout, or a `Command` error with stderr.
async fn run(c: &Cmd) -> Result<String, VirtError> {
    tracing::debug!(command = %c.display(), "running host command");
    let out = tokio::process::Command::new(&c.program)
        .args(&c.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| VirtError::Command {
            cmdline: c.display(),
            stderr: format!("cannot run: {e}"),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(VirtError::Command {
            cmdline: c.display(),
            stderr: format!(
                "{} ({})",
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            ),
        })
    }
}

/// Whether QEMU can initialize KVM: a machine-less QEMU with `-accel kvm` started and
/// told to quit over QMP on stdin (bounded by `timeout`, so a wedged probe cannot hang
/// the agent's start).
fn kvm_probe(qemu: &str) -> bool {
    let cmd = Cmd::new("timeout").args([
        "10",
        qemu,
        "-accel",
        "kvm",
        "-machine",
        "none",
        "-nodefaults",
        "-display",
        "none",
        "-qmp",
        "stdio",
    ]);
    let input = br#"{"execute":"qmp_capabilities"}{"execute":"quit"}"#;
    match cmd.run_with_input(Some(input)) {
        Ok(_) => true,
        Err(e) => {
            tracing::info!(error = %e, "KVM probe failed; using TCG");
            false
        }
    }
}

/// Whether `pid` is a live (non-zombie) process whose command line contains `marker`.
fn pid_alive(pid: u32, marker: &str) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    if !String::from_utf8_lossy(&cmdline).contains(marker) {
        return false;
    }
    match std::fs::read_to_string(proc_dir.join("stat")) {
        // The state follows the parenthesized command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
        Err(_) => false,
    }
}

async fn read_file_opt(path: &Path) -> Result<Option<Vec<u8>>, VirtError> {
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VirtError::io(format!("read {}", path.display()), e)),
    }
}

async fn remove_file_opt(path: &Path) -> Result<(), VirtError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VirtError::io(format!("remove {}", path.display()), e)),
    }
}

/// Last `tail` lines of `text` (all when `None`).
pub fn tail_lines(text: &str, tail: Option<usize>) -> String {
    let Some(n) = tail else {
        return text.to_string();
    };
    if n == 0 {
        return String::new();
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut start = 0;
    let mut seen = 0;
    for (i, _) in body.rmatch_indices('\n') {
        seen += 1;
        if seen == n {
            start = i + 1;
            break;
        }
    }
    text[start..].to_string()
}

/// Whether the spec boots from a volume (no image root disk).
fn has_boot_volume(spec: &InstanceSpec) -> bool {
    spec.volumes.iter().any(|v| v.boot_index == Some(0))
}

/// Whether a config drive path is a safe relative path.
fn safe_rel_path(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && path.is_relative()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

impl QemuDriver {
    /// A driver managing guests through the host's iproute2.
    pub fn new(cfg: QemuConfig) -> Result<Self, VirtError> {
        Self::with_net_ops(cfg, Arc::new(LinuxNet))
    }

    /// A driver creating TAPs through `net` (tests pass a fake).
    pub fn with_net_ops(cfg: QemuConfig, net: Arc<dyn NetOps>) -> Result<Self, VirtError> {
        let accel = match cfg.accel {
            Accel::Kvm => ResolvedAccel::Kvm,
            Accel::Tcg => ResolvedAccel::Tcg,
            Accel::Auto => {
                if host::kvm_usable(Path::new("/dev/kvm"), Path::new("/sys/module"))
                    && kvm_probe(&cfg.qemu_binary)
                {
                    ResolvedAccel::Kvm
                } else {
                    ResolvedAccel::Tcg
                }
            }
        };
        let instances = cfg.state_dir.join("instances");
        std::fs::create_dir_all(&instances)
            .map_err(|e| VirtError::io(format!("create {}", instances.display()), e))?;
        // The state dir must be absolute: QEMU and qemu-img get absolute paths.
        let state_dir = std::fs::canonicalize(&cfg.state_dir)
            .map_err(|e| VirtError::io(format!("resolve {}", cfg.state_dir.display()), e))?;
        let probe = InstancePaths::new(&state_dir, &"x".repeat(36));
        if probe.serial_sock.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(VirtError::InvalidSpec(format!(
                "state_dir {} is too long for unix socket paths",
                state_dir.display()
            )));
        }
        tracing::info!(
            state_dir = %state_dir.display(),
            accel = ?accel,
            "QEMU compute driver ready"
        );
        Ok(QemuDriver {
            cfg: QemuConfig { state_dir, ..cfg },
            accel,
            net,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The accelerator in use.
    pub fn accel(&self) -> ResolvedAccel {
        self.accel
    }

    /// The configuration (state dir made absolute).
    pub fn config(&self) -> &QemuConfig {
        &self.cfg
    }

    /// The files of an instance.
    pub fn paths(&self, uuid: &str) -> InstancePaths {
        InstancePaths::new(&self.cfg.state_dir, uuid)
    }

    fn lock_for(&self, uuid: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .entry(uuid.to_string())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone()
    }

    async fn load(&self, uuid: &str) -> Result<InstanceRecord, VirtError> {
        check_uuid(uuid).map_err(|_| VirtError::NotFound {
            uuid: uuid.to_string(),
        })?;
        let p = self.paths(uuid);
        let Some(bytes) = read_file_opt(&p.record).await? else {
            return Err(VirtError::NotFound {
                uuid: uuid.to_string(),
            });
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            VirtError::io(
                format!("parse {}", p.record.display()),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
    }

    async fn save(&self, rec: &InstanceRecord) -> Result<(), VirtError> {
        let p = self.paths(&rec.spec.uuid);
        let mut stored = rec.clone();
        // Config drive contents may hold user data; they live in disk.config only.
        if stored.spec.config_drive.is_some() {
            stored.spec.config_drive = Some(Vec::new());
        }
        // Volumes live in `rec.volumes` (passphrases only as ciphertext); the spec's
        // copies carry plaintext passphrases and are never written.
        stored.spec.volumes.clear();
        let bytes = serde_json::to_vec_pretty(&stored).map_err(|e| {
            VirtError::io(
                "serialize instance record",
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        let tmp = p.record.with_extension("json.tmp");
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| VirtError::io(format!("write {}", tmp.display()), e))?;
        tokio::fs::rename(&tmp, &p.record)
            .await
            .map_err(|e| VirtError::io(format!("rename {}", tmp.display()), e))
    }

    /// The live QEMU pid of an instance, if any.
    async fn live_pid(&self, uuid: &str) -> Option<u32> {
        let p = self.paths(uuid);
        let text = tokio::fs::read_to_string(&p.pidfile).await.ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let marker = p.dir.to_string_lossy().into_owned();
        pid_alive(pid, &marker).then_some(pid)
    }

    async fn qmp(&self, uuid: &str) -> Result<Qmp, VirtError> {
        Qmp::connect(&self.paths(uuid).qmp_sock, self.cfg.qmp_timeout)
            .await
            .map_err(|f| qmp_err(uuid, "connect", f))
    }

    async fn qmp_exec(
        &self,
        uuid: &str,
        command: &str,
        args: Option<Value>,
    ) -> Result<Value, VirtError> {
        let mut q = self.qmp(uuid).await?;
        q.execute(command, args)
            .await
            .map_err(|f| qmp_err(uuid, command, f))
    }

    /// QMP run state of a live instance (`running`, `paused`, `shutdown`...).
    async fn run_status(&self, uuid: &str) -> Result<String, VirtError> {
        let mut q = self.qmp(uuid).await?;
        q.status()
            .await
            .map_err(|f| qmp_err(uuid, "query-status", f))
    }

    async fn power_state_of(&self, rec: &InstanceRecord) -> PowerState {
        let uuid = &rec.spec.uuid;
        if self.live_pid(uuid).await.is_none() {
            return if rec.want_running {
                PowerState::Crashed
            } else {
                PowerState::Shutdown
            };
        }
        match self.run_status(uuid).await.as_deref() {
            Ok("running") => PowerState::Running,
            Ok("paused") if rec.suspended => PowerState::Suspended,
            Ok("paused") => PowerState::Paused,
            Ok("suspended") => PowerState::Suspended,
            Ok("shutdown") => PowerState::Shutdown,
            Ok("internal-error" | "guest-panicked" | "io-error") => PowerState::Crashed,
            Ok(_) => PowerState::NoState,
            Err(e) => {
                tracing::warn!(instance.id = %uuid, error = %e, "cannot query QEMU status");
                PowerState::NoState
            }
        }
    }

    /// The power state as `state()`/`list()` report it: while another operation holds
    /// the instance (a spawn or restart between its steps), a missing process means
    /// "no state yet", not a crash.
    async fn observed_state(&self, rec: &InstanceRecord) -> PowerState {
        let lock = self.lock_for(&rec.spec.uuid);
        let busy = lock.try_lock().is_err();
        if busy && self.live_pid(&rec.spec.uuid).await.is_none() {
            return PowerState::NoState;
        }
        self.power_state_of(rec).await
    }

    async fn wait_exit(&self, uuid: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.live_pid(uuid).await.is_none() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stop the QEMU process: graceful (ACPI) for up to `graceful`, then `quit`, then
    /// SIGKILL. Leaves no process, pid file or sockets behind.
    async fn stop_process(&self, uuid: &str, graceful: Duration) -> Result<(), VirtError> {
        let p = self.paths(uuid);
        if let Some(_pid) = self.live_pid(uuid).await {
            if !graceful.is_zero() && self.run_status(uuid).await.ok().as_deref() == Some("running")
            {
                match self.qmp_exec(uuid, "system_powerdown", None).await {
                    Ok(_) => {
                        let deadline = Instant::now() + graceful;
                        while Instant::now() < deadline {
                            if self.live_pid(uuid).await.is_none() {
                                break;
                            }
                            if self.run_status(uuid).await.ok().as_deref() == Some("shutdown") {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(instance.id = %uuid, error = %e, "ACPI powerdown failed; forcing")
                    }
                }
            }
            if self.live_pid(uuid).await.is_some() {
                // `quit` closes the connection as QEMU exits; errors are expected.
                let _ = self.qmp_exec(uuid, "quit", None).await;
            }
            if !self.wait_exit(uuid, self.cfg.process_timeout).await {
                if let Some(pid) = self.live_pid(uuid).await {
                    tracing::warn!(instance.id = %uuid, pid, "QEMU ignored quit; killing it");
                    let _ = run(&Cmd::new("kill").args(["-KILL", &pid.to_string()])).await;
                }
                if !self.wait_exit(uuid, self.cfg.process_timeout).await {
                    return Err(VirtError::Timeout {
                        what: format!("QEMU of instance {uuid} to exit"),
                        secs: self.cfg.process_timeout.as_secs() * 2,
                    });
                }
            }
        }
        remove_file_opt(&p.pidfile).await?;
        remove_file_opt(&p.qmp_sock).await?;
        remove_file_opt(&p.serial_sock).await?;
        Ok(())
    }

    async fn net_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn NetOps, Option<&str>) -> Result<T, VirtError> + Send + 'static,
    ) -> Result<T, VirtError> {
        let net = self.net.clone();
        let ns = self.cfg.netns.clone();
        tokio::task::spawn_blocking(move || f(net.as_ref(), ns.as_deref()))
            .await
            .map_err(|e| VirtError::io("host network task", std::io::Error::other(e)))?
    }

    /// Create (or fix) the TAPs of these NICs: up, MTU of the port, MAC-less.
    async fn ensure_taps(&self, nics: &[Nic]) -> Result<(), VirtError> {
        let nics = nics.to_vec();
        self.net_call(move |net, ns| {
            let links = net
                .link_list(ns)
                .map_err(host_err("list links".to_string()))?;
            for nic in &nics {
                if !links.iter().any(|l| l.name == nic.tap_name) {
                    let spec = LinkSpec {
                        name: nic.tap_name.clone(),
                        kind: LinkKind::Tap,
                        mtu: Some(nic.mtu),
                        mac: None,
                    };
                    net.link_add(ns, &spec)
                        .map_err(host_err(format!("create TAP {}", nic.tap_name)))?;
                }
                let update = LinkUpdate {
                    up: Some(true),
                    mtu: (nic.mtu > 0).then_some(nic.mtu),
                    ..Default::default()
                };
                net.link_set(ns, &nic.tap_name, &update)
                    .map_err(host_err(format!("set up TAP {}", nic.tap_name)))?;
            }
            Ok(())
        })
        .await
    }

    /// Delete these TAPs if they exist.
    async fn delete_taps(&self, taps: Vec<String>) -> Result<(), VirtError> {
        self.net_call(move |net, ns| {
            let links = net
                .link_list(ns)
                .map_err(host_err("list links".to_string()))?;
            for tap in &taps {
                if links.iter().any(|l| &l.name == tap) {
                    net.link_del(ns, tap)
                        .map_err(host_err(format!("delete TAP {tap}")))?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Start QEMU for a recorded instance (disks exist); returns once it daemonized.
    async fn start_process(&self, rec: &InstanceRecord) -> Result<(), VirtError> {
        let spec = &rec.spec;
        let p = self.paths(&spec.uuid);
        // Instances spawned before volume support get their master key now.
        volume::load_or_create_master_key(&p.master_key)?;
        remove_file_opt(&p.pidfile).await?;
        remove_file_opt(&p.qmp_sock).await?;
        remove_file_opt(&p.serial_sock).await?;
        self.ensure_taps(&spec.nics).await?;
        let args = argv::qemu_args(
            &self.cfg,
            self.accel,
            spec,
            &p,
            &rec.volumes,
            rec.rescue.is_some(),
        )?;
        let cmd = Cmd::in_netns(self.cfg.netns.as_deref(), &self.cfg.qemu_binary).args(args);
        let started = Instant::now();
        match tokio::time::timeout(self.cfg.process_timeout, run(&cmd)).await {
            Ok(r) => {
                r?;
            }
            Err(_) => {
                return Err(VirtError::Timeout {
                    what: format!("QEMU of instance {} to start", spec.uuid),
                    secs: self.cfg.process_timeout.as_secs(),
                })
            }
        }
        if self.live_pid(&spec.uuid).await.is_none() {
            return Err(VirtError::Command {
                cmdline: cmd.display(),
                stderr: "QEMU daemonized but its pid file names no live process".to_string(),
            });
        }
        tracing::info!(
            instance.id = %spec.uuid,
            duration_ms = started.elapsed().as_millis() as u64,
            "QEMU started"
        );
        Ok(())
    }

    async fn image_virtual_size(&self, image: &Path, format: &str) -> Result<u64, VirtError> {
        let out = run(&Cmd::new(&self.cfg.qemu_img)
            .args(["info", "-U", "--output=json", "-f", format])
            .arg(image.to_string_lossy()))
        .await?;
        let v: Value = serde_json::from_str(&out).map_err(|e| VirtError::Command {
            cmdline: format!("{} info {}", self.cfg.qemu_img, image.display()),
            stderr: format!("unparsable output: {e}"),
        })?;
        v.get("virtual-size")
            .and_then(Value::as_u64)
            .ok_or_else(|| VirtError::Command {
                cmdline: format!("{} info {}", self.cfg.qemu_img, image.display()),
                stderr: "no virtual-size in output".to_string(),
            })
    }

    fn check_image(spec: &InstanceSpec) -> Result<(), VirtError> {
        if !matches!(spec.image_format.as_str(), "qcow2" | "raw") {
            return Err(VirtError::InvalidSpec(format!(
                "image format {:?} is not qcow2 or raw",
                spec.image_format
            )));
        }
        if !spec.image_path.is_absolute() || !spec.image_path.is_file() {
            return Err(VirtError::InvalidSpec(format!(
                "image {} is not an existing file with an absolute path",
                spec.image_path.display()
            )));
        }
        Ok(())
    }

    /// Create the root disk overlay (at least the image's virtual size).
    async fn create_root_disk(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        let p = self.paths(&spec.uuid);
        remove_file_opt(&p.disk).await?;
        let virt = self
            .image_virtual_size(&spec.image_path, &spec.image_format)
            .await?;
        let size = virt.max(spec.root_gb << 30);
        run(&Cmd::new(&self.cfg.qemu_img)
            .args([
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                &spec.image_format,
                "-b",
            ])
            .arg(spec.image_path.to_string_lossy())
            .arg(p.disk.to_string_lossy())
            .arg(size.to_string()))
        .await?;
        Ok(())
    }

    async fn create_blank(&self, path: &Path, bytes: u64) -> Result<(), VirtError> {
        if path.exists() {
            return Ok(());
        }
        run(&Cmd::new(&self.cfg.qemu_img)
            .args(["create", "-q", "-f", "qcow2"])
            .arg(path.to_string_lossy())
            .arg(bytes.to_string()))
        .await?;
        Ok(())
    }

    async fn create_extra_disks(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        let p = self.paths(&spec.uuid);
        if spec.ephemeral_gb > 0 {
            self.create_blank(&p.ephemeral, spec.ephemeral_gb << 30)
                .await?;
        }
        if spec.swap_mb > 0 {
            self.create_blank(&p.swap, spec.swap_mb << 20).await?;
        }
        Ok(())
    }

    /// Write the config drive ISO (label `config-2`) from the spec's files.
    async fn create_config_drive(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        let p = self.paths(&spec.uuid);
        remove_file_opt(&p.config_drive).await?;
        let Some(files) = &spec.config_drive else {
            return Ok(());
        };
        let src = p.dir.join("config-drive.src");
        let _ = tokio::fs::remove_dir_all(&src).await;
        for (rel, data) in files {
            if !safe_rel_path(rel) {
                return Err(VirtError::InvalidSpec(format!(
                    "config drive path {rel:?} is not a relative path"
                )));
            }
            let f = src.join(rel);
            if let Some(parent) = f.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| VirtError::io(format!("create {}", parent.display()), e))?;
            }
            tokio::fs::write(&f, data)
                .await
                .map_err(|e| VirtError::io(format!("write {}", f.display()), e))?;
        }
        tokio::fs::create_dir_all(&src)
            .await
            .map_err(|e| VirtError::io(format!("create {}", src.display()), e))?;
        let flags = [
            "-o",
            &p.config_drive.to_string_lossy(),
            "-ldots",
            "-allow-lowercase",
            "-allow-multidot",
            "-l",
            "-publisher",
            "rustack",
            "-quiet",
            "-J",
            "-r",
            "-V",
            "config-2",
            &src.to_string_lossy(),
        ]
        .map(str::to_string);
        let genisoimage = Cmd::new("genisoimage").args(flags.clone());
        let result = match run(&genisoimage).await {
            Err(VirtError::Command { stderr, .. }) if stderr.starts_with("cannot run") => {
                run(&Cmd::new("xorriso").args(["-as", "mkisofs"]).args(flags)).await
            }
            r => r,
        };
        let _ = tokio::fs::remove_dir_all(&src).await;
        result.map(|_| ())
    }

    async fn destroy_locked(&self, uuid: &str) -> Result<(), VirtError> {
        let p = self.paths(uuid);
        let rec = match self.load(uuid).await {
            Ok(r) => Some(r),
            Err(VirtError::NotFound { .. }) => None,
            // An unreadable record: still remove the process and the files.
            Err(e) => {
                tracing::warn!(instance.id = %uuid, error = %e, "destroying an instance with an unreadable record");
                None
            }
        };
        self.stop_process(uuid, Duration::ZERO).await?;
        if let Some(rec) = &rec {
            self.delete_taps(rec.spec.nics.iter().map(|n| n.tap_name.clone()).collect())
                .await?;
        }
        match tokio::fs::remove_dir_all(&p.dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VirtError::io(format!("remove {}", p.dir.display()), e)),
        }
    }

    async fn spawn_locked(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        let p = self.paths(&spec.uuid);
        if p.record.exists() {
            return Err(VirtError::AlreadyExists {
                uuid: spec.uuid.clone(),
            });
        }
        tokio::fs::create_dir_all(&p.dir)
            .await
            .map_err(|e| VirtError::io(format!("create {}", p.dir.display()), e))?;
        let master_key = volume::load_or_create_master_key(&p.master_key)?;
        let volumes = volume::records_for_spec(spec, &spec.volumes, &master_key)?;
        if !volumes.iter().any(|v| v.is_boot()) {
            self.create_root_disk(spec).await?;
        }
        self.create_extra_disks(spec).await?;
        self.create_config_drive(spec).await?;
        let mut stored = spec.clone();
        stored.volumes.clear();
        let rec = InstanceRecord {
            spec: stored,
            want_running: true,
            suspended: false,
            volumes,
            rescue: None,
        };
        self.save(&rec).await?;
        self.start_process(&rec).await
    }

    /// Stop (forced), then start again with the record's spec.
    async fn restart(&self, rec: &mut InstanceRecord, graceful: Duration) -> Result<(), VirtError> {
        self.stop_process(&rec.spec.uuid, graceful).await?;
        rec.want_running = true;
        rec.suspended = false;
        self.save(rec).await?;
        self.start_process(rec).await
    }

    async fn require_status(
        &self,
        uuid: &str,
        op: &'static str,
        allowed: &[&str],
        rec: &InstanceRecord,
    ) -> Result<String, VirtError> {
        let invalid = |state: PowerState| VirtError::InvalidState {
            uuid: uuid.to_string(),
            op,
            state: state.as_str().to_string(),
        };
        if self.live_pid(uuid).await.is_none() {
            return Err(invalid(if rec.want_running {
                PowerState::Crashed
            } else {
                PowerState::Shutdown
            }));
        }
        let status = self.run_status(uuid).await?;
        if allowed.contains(&status.as_str()) {
            Ok(status)
        } else {
            Err(invalid(self.power_state_of(rec).await))
        }
    }
}

#[async_trait::async_trait]
impl ComputeDriver for QemuDriver {
    fn name(&self) -> &'static str {
        "qemu"
    }

    async fn host_info(&self) -> Result<HostInfo, VirtError> {
        let hostname = match &self.cfg.hostname {
            Some(h) => h.clone(),
            None => tokio::fs::read_to_string("/proc/sys/kernel/hostname")
                .await
                .map_err(|e| VirtError::io("read /proc/sys/kernel/hostname", e))?
                .trim()
                .to_string(),
        };
        let vcpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let meminfo = tokio::fs::read_to_string("/proc/meminfo")
            .await
            .map_err(|e| VirtError::io("read /proc/meminfo", e))?;
        let memory_mb = host::parse_meminfo_mb(&meminfo).unwrap_or(0);
        let df = run(&Cmd::new("df")
            .args(["-P", "-k"])
            .arg(self.cfg.state_dir.to_string_lossy()))
        .await?;
        let disk_gb = host::parse_df_gb(&df).unwrap_or(0);
        let version = run(&Cmd::new(&self.cfg.qemu_binary).arg("--version")).await?;
        let hypervisor_version = host::parse_qemu_version(&version).unwrap_or(0);
        let cpuinfo = tokio::fs::read_to_string("/proc/cpuinfo")
            .await
            .unwrap_or_default();
        Ok(HostInfo {
            hostname,
            vcpus,
            memory_mb,
            disk_gb,
            hypervisor_type: "QEMU".to_string(),
            hypervisor_version,
            cpu_info: host::cpu_info_json(&cpuinfo, vcpus),
        })
    }

    async fn spawn(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        check_uuid(&spec.uuid)?;
        if !has_boot_volume(spec) {
            Self::check_image(spec)?;
        }
        for nic in &spec.nics {
            if nic.tap_name.is_empty() || nic.tap_name.len() > 15 {
                return Err(VirtError::InvalidSpec(format!(
                    "TAP name {:?} must be 1-15 bytes",
                    nic.tap_name
                )));
            }
        }
        let lock = self.lock_for(&spec.uuid);
        let _g = lock.lock().await;
        let started = Instant::now();
        let r = self.spawn_locked(spec).await;
        match &r {
            Ok(()) => tracing::info!(
                instance.id = %spec.uuid,
                duration_ms = started.elapsed().as_millis() as u64,
                "instance spawned"
            ),
            Err(VirtError::AlreadyExists { .. }) => {}
            Err(e) => {
                tracing::warn!(instance.id = %spec.uuid, error = %e, "spawn failed; cleaning up");
                if let Err(e2) = self.destroy_locked(&spec.uuid).await {
                    tracing::warn!(instance.id = %spec.uuid, error = %e2, "cleanup after failed spawn failed");
                }
            }
        }
        r
    }

    async fn destroy(&self, uuid: &str) -> Result<(), VirtError> {
        if check_uuid(uuid).is_err() {
            return Ok(());
        }
        let lock = self.lock_for(uuid);
        let r = {
            let _g = lock.lock().await;
            self.destroy_locked(uuid).await
        };
        if r.is_ok() {
            self.locks.lock().remove(uuid);
            tracing::info!(instance.id = %uuid, "instance destroyed");
        }
        r
    }

    async fn power_off(&self, uuid: &str, timeout: Duration) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        self.stop_process(uuid, timeout).await?;
        rec.want_running = false;
        rec.suspended = false;
        self.save(&rec).await
    }

    async fn power_on(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        if self.live_pid(uuid).await.is_some() {
            match self.run_status(uuid).await?.as_str() {
                "running" => {
                    if !rec.want_running {
                        rec.want_running = true;
                        self.save(&rec).await?;
                    }
                    return Ok(());
                }
                "paused" | "suspended" => {
                    let state = self.power_state_of(&rec).await;
                    return Err(VirtError::InvalidState {
                        uuid: uuid.to_string(),
                        op: "power_on",
                        state: state.as_str().to_string(),
                    });
                }
                // Powered off from inside (`-no-shutdown` keeps the process): restart.
                _ => {}
            }
        }
        self.restart(&mut rec, Duration::ZERO).await
    }

    async fn reboot(&self, uuid: &str, hard: bool) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        let graceful = if hard {
            Duration::ZERO
        } else {
            self.cfg.soft_reboot_timeout
        };
        self.restart(&mut rec, graceful).await
    }

    async fn pause(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let rec = self.load(uuid).await?;
        self.require_status(uuid, "pause", &["running"], &rec)
            .await?;
        self.qmp_exec(uuid, "stop", None).await.map(|_| ())
    }

    async fn unpause(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let rec = self.load(uuid).await?;
        if rec.suspended {
            return Err(VirtError::InvalidState {
                uuid: uuid.to_string(),
                op: "unpause",
                state: PowerState::Suspended.as_str().to_string(),
            });
        }
        self.require_status(uuid, "unpause", &["paused"], &rec)
            .await?;
        self.qmp_exec(uuid, "cont", None).await.map(|_| ())
    }

    async fn suspend(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        let status = self
            .require_status(uuid, "suspend", &["running", "paused"], &rec)
            .await?;
        if rec.suspended {
            return Err(VirtError::InvalidState {
                uuid: uuid.to_string(),
                op: "suspend",
                state: PowerState::Suspended.as_str().to_string(),
            });
        }
        if status == "running" {
            self.qmp_exec(uuid, "stop", None).await?;
        }
        rec.suspended = true;
        self.save(&rec).await
    }

    async fn resume(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        if !rec.suspended {
            let state = self.power_state_of(&rec).await;
            return Err(VirtError::InvalidState {
                uuid: uuid.to_string(),
                op: "resume",
                state: state.as_str().to_string(),
            });
        }
        self.require_status(uuid, "resume", &["paused"], &rec)
            .await?;
        self.qmp_exec(uuid, "cont", None).await?;
        rec.suspended = false;
        self.save(&rec).await
    }

    async fn state(&self, uuid: &str) -> Result<PowerState, VirtError> {
        let rec = self.load(uuid).await?;
        Ok(self.observed_state(&rec).await)
    }

    async fn list(&self) -> Result<Vec<(String, PowerState)>, VirtError> {
        let dir = self.cfg.state_dir.join("instances");
        let mut rd = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| VirtError::io(format!("read {}", dir.display()), e))?;
        let mut uuids = Vec::new();
        while let Some(e) = rd
            .next_entry()
            .await
            .map_err(|e| VirtError::io(format!("read {}", dir.display()), e))?
        {
            if let Some(name) = e.file_name().to_str() {
                uuids.push(name.to_string());
            }
        }
        uuids.sort();
        let mut out = Vec::new();
        for uuid in uuids {
            match self.load(&uuid).await {
                Ok(rec) => out.push((uuid, self.observed_state(&rec).await)),
                // A directory without a record: a spawn in progress or a leftover.
                Err(VirtError::NotFound { .. }) => {}
                Err(e) => {
                    tracing::warn!(instance.id = %uuid, error = %e, "unreadable instance record")
                }
            }
        }
        Ok(out)
    }

    async fn console_output(&self, uuid: &str, tail: Option<usize>) -> Result<String, VirtError> {
        self.load(uuid).await?;
        let path = self.paths(uuid).console_log;
        let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            let len = f.metadata()?.len();
            if len > CONSOLE_MAX_BYTES {
                f.seek(SeekFrom::Start(len - CONSOLE_MAX_BYTES))?;
            }
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await
        .map_err(|e| VirtError::io("console task", std::io::Error::other(e)))?
        .map_err(|e| VirtError::io(format!("read console log of {uuid}"), e))?;
        Ok(tail_lines(&String::from_utf8_lossy(&bytes), tail))
    }

    async fn snapshot(&self, uuid: &str, dest: &Path) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let rec = self.load(uuid).await?;
        if rec.volumes.iter().any(|v| v.is_boot()) {
            // Nova snapshots a volume-backed server through the volume service.
            return Err(VirtError::Unsupported(format!(
                "image snapshot of volume-backed instance {uuid}"
            )));
        }
        let p = self.paths(uuid);
        // A running guest is paused while its disk is copied (crash-consistent image).
        let was_running = self.live_pid(uuid).await.is_some()
            && self.run_status(uuid).await.ok().as_deref() == Some("running");
        if was_running {
            self.qmp_exec(uuid, "stop", None).await?;
        }
        let tmp = dest.with_extension("part");
        let r = run(&Cmd::new(&self.cfg.qemu_img)
            .args(["convert", "-U", "-f", "qcow2", "-O", "qcow2"])
            .arg(p.disk.to_string_lossy())
            .arg(tmp.to_string_lossy()))
        .await;
        if was_running {
            if let Err(e) = self.qmp_exec(uuid, "cont", None).await {
                tracing::warn!(instance.id = %uuid, error = %e, "cannot resume after snapshot");
            }
        }
        if let Err(e) = r {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|e| VirtError::io(format!("rename to {}", dest.display()), e))
    }

    async fn rebuild(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        let lock = self.lock_for(&spec.uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(&spec.uuid).await?;
        // Volumes given with the rebuild replace the recorded ones; none given keeps
        // what is attached (a rebuild does not detach volumes).
        if !spec.volumes.is_empty() {
            let key = volume::load_or_create_master_key(&self.paths(&spec.uuid).master_key)?;
            rec.volumes = volume::records_for_spec(&rec.spec, &spec.volumes, &key)?;
        }
        let boot_volume = rec.volumes.iter().any(|v| v.is_boot());
        if !boot_volume {
            Self::check_image(spec)?;
        }
        self.stop_process(&spec.uuid, Duration::ZERO).await?;
        rec.spec.image_path = spec.image_path.clone();
        rec.spec.image_format = spec.image_format.clone();
        rec.spec.name = spec.name.clone();
        rec.spec.config_drive = spec.config_drive.clone();
        rec.spec.root_gb = rec.spec.root_gb.max(spec.root_gb);
        if !boot_volume {
            self.create_root_disk(&rec.spec).await?;
        }
        self.create_config_drive(&rec.spec).await?;
        self.restart(&mut rec, Duration::ZERO).await
    }

    async fn resize(&self, spec: &InstanceSpec) -> Result<(), VirtError> {
        let lock = self.lock_for(&spec.uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(&spec.uuid).await?;
        self.stop_process(&spec.uuid, Duration::ZERO).await?;
        let p = self.paths(&spec.uuid);
        let boot_volume = rec.volumes.iter().any(|v| v.is_boot());
        if spec.root_gb > rec.spec.root_gb && !boot_volume {
            let current = self.image_virtual_size(&p.disk, "qcow2").await?;
            let want = spec.root_gb << 30;
            if want > current {
                run(&Cmd::new(&self.cfg.qemu_img)
                    .args(["resize", "-q", "-f", "qcow2"])
                    .arg(p.disk.to_string_lossy())
                    .arg(want.to_string()))
                .await?;
            }
            rec.spec.root_gb = spec.root_gb;
        }
        rec.spec.vcpus = spec.vcpus;
        rec.spec.memory_mb = spec.memory_mb;
        rec.spec.ephemeral_gb = spec.ephemeral_gb;
        rec.spec.swap_mb = spec.swap_mb;
        self.create_extra_disks(&rec.spec).await?;
        self.restart(&mut rec, Duration::ZERO).await
    }

    async fn attach_interface(&self, uuid: &str, nic: &Nic) -> Result<(), VirtError> {
        if nic.tap_name.is_empty() || nic.tap_name.len() > 15 {
            return Err(VirtError::InvalidSpec(format!(
                "TAP name {:?} must be 1-15 bytes",
                nic.tap_name
            )));
        }
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        if rec.spec.nics.iter().any(|n| n.port_id == nic.port_id) {
            return Err(VirtError::InvalidSpec(format!(
                "port {} is already attached to instance {uuid}",
                nic.port_id
            )));
        }
        self.ensure_taps(std::slice::from_ref(nic)).await?;
        if self.live_pid(uuid).await.is_some() {
            let plug = async {
                let mut q = self.qmp(uuid).await?;
                q.execute(
                    "netdev_add",
                    Some(json!({
                        "type": "tap",
                        "id": argv::netdev_id(nic),
                        "ifname": nic.tap_name,
                        "script": "no",
                        "downscript": "no",
                        "vnet_hdr": true,
                    })),
                )
                .await
                .map_err(|f| qmp_err(uuid, "netdev_add", f))?;
                if let Err(f) = q
                    .execute(
                        "device_add",
                        Some(json!({
                            "driver": "virtio-net-pci",
                            "netdev": argv::netdev_id(nic),
                            "mac": nic.mac,
                            "id": argv::nic_device_id(nic),
                        })),
                    )
                    .await
                {
                    let _ = q
                        .execute("netdev_del", Some(json!({"id": argv::netdev_id(nic)})))
                        .await;
                    return Err(qmp_err(uuid, "device_add", f));
                }
                Ok::<(), VirtError>(())
            };
            if let Err(e) = plug.await {
                let _ = self.delete_taps(vec![nic.tap_name.clone()]).await;
                return Err(e);
            }
        }
        rec.spec.nics.push(nic.clone());
        self.save(&rec).await
    }

    async fn attach_volume(
        &self,
        uuid: &str,
        volume: &VolumeAttachment,
    ) -> Result<String, VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        self.attach_volume_locked(uuid, volume).await
    }

    async fn detach_volume(&self, uuid: &str, volume_id: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        self.detach_volume_locked(uuid, volume_id).await
    }

    async fn extend_volume(
        &self,
        uuid: &str,
        volume_id: &str,
        new_size_bytes: u64,
    ) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        self.extend_volume_locked(uuid, volume_id, new_size_bytes)
            .await
    }

    async fn volume_snapshot_create(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        self.volume_snapshot_locked(uuid, volume_id, name, false)
            .await
    }

    async fn volume_snapshot_delete(
        &self,
        uuid: &str,
        volume_id: &str,
        name: &str,
    ) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        self.volume_snapshot_locked(uuid, volume_id, name, true)
            .await
    }

    fn opens_volume_files(&self) -> bool {
        true
    }

    async fn rescue(&self, uuid: &str, image: &Path, image_format: &str) -> Result<(), VirtError> {
        self.rescue_impl(uuid, image, image_format).await
    }

    async fn unrescue(&self, uuid: &str) -> Result<(), VirtError> {
        self.unrescue_impl(uuid).await
    }

    async fn diagnostics(&self, uuid: &str) -> Result<crate::Diagnostics, VirtError> {
        self.diagnostics_impl(uuid).await
    }

    async fn trigger_crash_dump(&self, uuid: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let rec = self.load(uuid).await?;
        self.require_status(uuid, "trigger_crash_dump", &["running"], &rec)
            .await?;
        self.qmp_exec(uuid, "inject-nmi", None).await.map(|_| ())
    }

    async fn detach_interface(&self, uuid: &str, port_id: &str) -> Result<(), VirtError> {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let mut rec = self.load(uuid).await?;
        let Some(nic) = rec.spec.nics.iter().find(|n| n.port_id == port_id).cloned() else {
            return Err(VirtError::InterfaceNotFound {
                uuid: uuid.to_string(),
                port_id: port_id.to_string(),
            });
        };
        if self.live_pid(uuid).await.is_some() {
            let dev = argv::nic_device_id(&nic);
            let mut q = self.qmp(uuid).await?;
            match q.execute("device_del", Some(json!({"id": dev}))).await {
                Ok(_) => {
                    // Two DEVICE_DELETED events arrive; the one naming the device counts.
                    let dev2 = dev.clone();
                    q.wait_event(
                        "DEVICE_DELETED",
                        move |d| d.get("device").and_then(Value::as_str) == Some(dev2.as_str()),
                        self.cfg.qmp_timeout,
                    )
                    .await
                    .map_err(|f| qmp_err(uuid, "device_del", f))?;
                }
                // Not plugged (e.g. QEMU restarted since): nothing to unplug.
                Err(f) if f.0.contains("not found") => {}
                Err(f) => return Err(qmp_err(uuid, "device_del", f)),
            }
            if let Err(f) = q
                .execute("netdev_del", Some(json!({"id": argv::netdev_id(&nic)})))
                .await
            {
                if !f.0.contains("not found") {
                    return Err(qmp_err(uuid, "netdev_del", f));
                }
            }
        }
        self.delete_taps(vec![nic.tap_name.clone()]).await?;
        rec.spec.nics.retain(|n| n.port_id != port_id);
        self.save(&rec).await
    }
}

#[cfg(test)]
mod tests;
