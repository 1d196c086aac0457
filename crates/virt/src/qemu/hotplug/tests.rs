//! Volume hot-plug against a fake QMP monitor (a unix socket server speaking enough
//! QMP) and a stand-in process whose command line names the instance directory, so
//! the driver treats the instance as running. No QEMU, no root.

#![allow(clippy::unwrap_used)]

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustack_hostops::fake::FakeHost;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::qemu::paths::InstanceRecord;
use crate::qemu::volume::{decrypt_secret, load_or_create_master_key, EncryptedSecret};
use crate::qemu::{Accel, QemuConfig, QemuDriver};
use crate::types::{InstanceSpec, VolumeAttachment, VolumeSource};
use crate::{ComputeDriver, VirtError};

/// What the fake monitor does.
#[derive(Default)]
struct Behaviour {
    /// The guest never answers `device_del`.
    ignore_unplug: bool,
    /// Commands that fail, with their error description.
    fail: Vec<(String, String)>,
}

#[derive(Clone, Default)]
struct FakeQmp {
    log: Arc<Mutex<Vec<Value>>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl FakeQmp {
    fn start(sock: &Path) -> Self {
        let fake = FakeQmp::default();
        let listener = UnixListener::bind(sock).unwrap();
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let f = f.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let greeting = json!({"QMP": {"version": {}, "capabilities": []}});
                    let _ = w.write_all(format!("{greeting}\n").as_bytes()).await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let msg: Value = serde_json::from_str(&line).unwrap();
                        let cmd = msg["execute"].as_str().unwrap_or("").to_string();
                        let mut out = Vec::new();
                        let failure = f
                            .behaviour
                            .lock()
                            .fail
                            .iter()
                            .find(|(c, _)| *c == cmd)
                            .map(|(_, d)| d.clone());
                        if cmd != "qmp_capabilities" && cmd != "query-status" {
                            f.log.lock().push(msg.clone());
                        }
                        if let Some(desc) = failure {
                            out.push(json!({"error": {"class": "GenericError", "desc": desc}}));
                        } else if cmd == "query-status" {
                            out.push(json!({"return": {"status": "running", "running": true}}));
                        } else {
                            out.push(json!({"return": {}}));
                            if cmd == "device_del" && !f.behaviour.lock().ignore_unplug {
                                let id = msg["arguments"]["id"].clone();
                                out.push(json!({"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/x/virtio-backend"}}));
                                out.push(
                                    json!({"event": "DEVICE_DELETED", "data": {"device": id}}),
                                );
                            }
                        }
                        for m in out {
                            if w.write_all(format!("{m}\n").as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        fake
    }

    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.log.lock())
    }
}

fn commands(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|m| m["execute"].as_str().unwrap().to_string())
        .collect()
}

/// A process whose command line contains the instance directory (the driver's liveness
/// check), killed when dropped.
struct StandIn(std::process::Child);

impl Drop for StandIn {
    fn drop(&mut self) {
        // The whole group: `sh` and its `sleep` (which would otherwise outlive the test
        // holding the test harness's output pipe).
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    driver: QemuDriver,
    qmp: FakeQmp,
    _proc: Option<StandIn>,
}

fn volume(id: &str, format: &str, pass: Option<&str>) -> VolumeAttachment {
    VolumeAttachment {
        volume_id: id.to_string(),
        source: VolumeSource::File {
            path: PathBuf::from(format!("/srv/volumes/{id}.qcow2")),
            format: format.to_string(),
        },
        luks_passphrase: pass.map(str::to_string),
        read_only: false,
        boot_index: None,
    }
}

async fn setup(uuid: &str, running: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = QemuConfig::new(dir.path());
    cfg.accel = Accel::Tcg;
    cfg.volume_detach_attempts = 2;
    cfg.volume_detach_timeout = Duration::from_millis(200);
    let driver = QemuDriver::with_net_ops(cfg, Arc::new(FakeHost::new())).unwrap();
    let p = driver.paths(uuid);
    tokio::fs::create_dir_all(&p.dir).await.unwrap();
    let rec = InstanceRecord {
        spec: InstanceSpec {
            uuid: uuid.to_string(),
            ephemeral_gb: 1,
            ..Default::default()
        },
        want_running: running,
        suspended: false,
        volumes: Vec::new(),
        rescue: None,
    };
    driver.save(&rec).await.unwrap();
    let qmp = FakeQmp::start(&p.qmp_sock);
    let proc = if running {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 600; :")
            .arg(p.dir.as_os_str())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        std::fs::write(&p.pidfile, child.id().to_string()).unwrap();
        Some(StandIn(child))
    } else {
        None
    };
    Setup {
        _dir: dir,
        driver,
        qmp,
        _proc: proc,
    }
}

const UUID: &str = "0b6f3b7e-0e4c-4a55-9a53-7f0d3a2b1c00";
const VOL: &str = "5e1a6c2e-8d1b-4f5e-9b7a-1c2d3e4f5a6b";
const PASS: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[tokio::test]
async fn attach_extend_snapshot_detach_encrypted_volume() {
    let s = setup(UUID, true).await;
    let d = &s.driver;
    assert!(d.opens_volume_files());
    let dev = d
        .attach_volume(UUID, &volume(VOL, "qcow2", Some(PASS)))
        .await
        .unwrap();
    // vda root, vdb ephemeral: the volume is vdc.
    assert_eq!(dev, "/dev/vdc");
    let log = s.qmp.take();
    assert_eq!(
        commands(&log),
        vec!["object-add", "blockdev-add", "device_add"]
    );
    let node = "v5e1a6c2e8d1b4f5e9b7a1c2d3e4f5a";
    let obj = &log[0]["arguments"];
    assert_eq!(obj["qom-type"], "secret");
    assert_eq!(obj["keyid"], "masterKey0");
    assert_eq!(obj["format"], "base64");
    // The ciphertext decrypts to the passphrase with the instance's master key.
    let key = load_or_create_master_key(&d.paths(UUID).master_key).unwrap();
    let secret = EncryptedSecret {
        data: obj["data"].as_str().unwrap().to_string(),
        iv: obj["iv"].as_str().unwrap().to_string(),
    };
    assert_eq!(decrypt_secret(&key, &secret).unwrap(), PASS.as_bytes());
    let bd = &log[1]["arguments"];
    assert_eq!(bd["node-name"], node);
    assert_eq!(bd["driver"], "qcow2");
    assert_eq!(bd["encrypt"]["format"], "luks");
    assert_eq!(bd["encrypt"]["key-secret"], obj["id"]);
    assert_eq!(
        bd["file"]["filename"],
        format!("/srv/volumes/{VOL}.qcow2").as_str()
    );
    let da = &log[2]["arguments"];
    assert_eq!(da["driver"], "virtio-blk-pci");
    assert_eq!(da["drive"], node);
    assert_eq!(da["serial"], VOL);
    let dev_id = da["id"].as_str().unwrap().to_string();
    assert!(dev_id.starts_with("vol-"));
    // The passphrase is in no QMP message and not in the instance record.
    assert!(!serde_json::to_string(&log).unwrap().contains(PASS));
    let record = std::fs::read_to_string(d.paths(UUID).record).unwrap();
    assert!(!record.contains(PASS));
    assert!(record.contains(VOL));

    // Idempotent.
    let again = d
        .attach_volume(UUID, &volume(VOL, "qcow2", Some(PASS)))
        .await
        .unwrap();
    assert_eq!(again, "/dev/vdc");
    assert!(s.qmp.take().is_empty());
    // A second, read-only raw volume.
    let mut ro = volume("vol-two", "raw", None);
    ro.read_only = true;
    assert_eq!(d.attach_volume(UUID, &ro).await.unwrap(), "/dev/vdd");
    let log = s.qmp.take();
    assert_eq!(commands(&log), vec!["blockdev-add", "device_add"]);
    assert_eq!(log[0]["arguments"]["read-only"], true);
    assert_eq!(log[0]["arguments"]["driver"], "raw");

    d.extend_volume(UUID, VOL, 3 << 30).await.unwrap();
    let log = s.qmp.take();
    assert_eq!(
        log[0],
        json!({"execute": "block_resize", "arguments": {"node-name": node, "size": 3u64 << 30}})
    );
    assert!(d.extend_volume(UUID, "other", 1 << 30).await.is_err());

    d.volume_snapshot_create(UUID, VOL, "snapshot-1")
        .await
        .unwrap();
    d.volume_snapshot_delete(UUID, VOL, "snapshot-1")
        .await
        .unwrap();
    let log = s.qmp.take();
    assert_eq!(
        log[0],
        json!({"execute": "blockdev-snapshot-internal-sync", "arguments": {"device": node, "name": "snapshot-1"}})
    );
    assert_eq!(log[1]["execute"], "blockdev-snapshot-delete-internal-sync");
    // Deleting a snapshot QEMU does not have is success; raw volumes have none.
    s.qmp.behaviour.lock().fail = vec![(
        "blockdev-snapshot-delete-internal-sync".to_string(),
        "Snapshot with name 'x' and id '' does not exist in device".to_string(),
    )];
    d.volume_snapshot_delete(UUID, VOL, "x").await.unwrap();
    assert!(matches!(
        d.volume_snapshot_create(UUID, "vol-two", "s").await,
        Err(VirtError::Unsupported(_))
    ));
    s.qmp.behaviour.lock().fail.clear();
    s.qmp.take();

    // Detach: device_del, DEVICE_DELETED, blockdev-del, object-del.
    d.detach_volume(UUID, VOL).await.unwrap();
    let log = s.qmp.take();
    assert_eq!(
        commands(&log),
        vec!["device_del", "blockdev-del", "object-del"]
    );
    assert_eq!(log[0]["arguments"]["id"], dev_id.as_str());
    assert_eq!(log[1]["arguments"]["node-name"], node);
    d.detach_volume(UUID, VOL).await.unwrap();
    assert!(s.qmp.take().is_empty());
    // The freed letter is reused.
    assert_eq!(
        d.attach_volume(UUID, &volume("third", "qcow2", None))
            .await
            .unwrap(),
        "/dev/vdc"
    );
}

#[tokio::test]
async fn detach_times_out_when_the_guest_ignores_it() {
    let s = setup(UUID, true).await;
    let d = &s.driver;
    d.attach_volume(UUID, &volume(VOL, "qcow2", None))
        .await
        .unwrap();
    s.qmp.take();
    s.qmp.behaviour.lock().ignore_unplug = true;
    let err = d.detach_volume(UUID, VOL).await.unwrap_err();
    assert!(matches!(err, VirtError::Timeout { .. }), "{err:?}");
    // Two attempts (the configured count), and the volume stays attached.
    assert_eq!(commands(&s.qmp.take()), vec!["device_del", "device_del"]);
    let rec = d.load(UUID).await.unwrap();
    assert_eq!(rec.volumes.len(), 1);

    // A device QEMU no longer has counts as unplugged.
    s.qmp.behaviour.lock().fail = vec![(
        "device_del".to_string(),
        "Device 'vol-x' not found".to_string(),
    )];
    d.detach_volume(UUID, VOL).await.unwrap();
    assert!(d.load(UUID).await.unwrap().volumes.is_empty());
}

#[tokio::test]
async fn failed_plug_is_undone() {
    let s = setup(UUID, true).await;
    let d = &s.driver;
    s.qmp.behaviour.lock().fail = vec![("device_add".to_string(), "Bus full".to_string())];
    let err = d
        .attach_volume(UUID, &volume(VOL, "qcow2", Some(PASS)))
        .await
        .unwrap_err();
    assert!(matches!(err, VirtError::Qmp { .. }), "{err:?}");
    assert_eq!(
        commands(&s.qmp.take()),
        vec![
            "object-add",
            "blockdev-add",
            "device_add",
            "blockdev-del",
            "object-del"
        ]
    );
    assert!(d.load(UUID).await.unwrap().volumes.is_empty());
}

#[tokio::test]
async fn stopped_instance_records_volumes_for_its_next_start() {
    let s = setup(UUID, false).await;
    let d = &s.driver;
    let dev = d
        .attach_volume(UUID, &volume(VOL, "qcow2", Some(PASS)))
        .await
        .unwrap();
    assert_eq!(dev, "/dev/vdc");
    assert!(s.qmp.take().is_empty());
    // Without QEMU, extend runs qemu-img on the file (here missing: the command's
    // error comes back).
    assert!(matches!(
        d.extend_volume(UUID, VOL, 2 << 30).await,
        Err(VirtError::Command { .. })
    ));
    // A new driver on the same state directory (re-adoption) knows the volume and
    // starts the guest with it.
    let cfg = d.config().clone();
    let d2 = QemuDriver::with_net_ops(cfg.clone(), Arc::new(FakeHost::new())).unwrap();
    let rec = d2.load(UUID).await.unwrap();
    assert_eq!(rec.volumes.len(), 1);
    let p = d2.paths(UUID);
    let args =
        crate::qemu::argv::qemu_args(&cfg, d2.accel(), &rec.spec, &p, &rec.volumes, false).unwrap();
    let joined = args.join(" ");
    assert!(joined.contains("serial=5e1a6c2e-8d1b-4f5e-9b7a-1c2d3e4f5a6b"));
    assert!(joined.contains("keyid=masterKey0"));
    assert!(!joined.contains(PASS));
    // Detach of a stopped instance only forgets the volume.
    d2.detach_volume(UUID, VOL).await.unwrap();
    assert!(s.qmp.take().is_empty());
    assert!(d2.load(UUID).await.unwrap().volumes.is_empty());
    // Unknown instance.
    assert!(d2
        .attach_volume("nope", &volume(VOL, "qcow2", None))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(matches!(
        d2.attach_volume(UUID, &volume(VOL, "vmdk", None)).await,
        Err(VirtError::InvalidSpec(_))
    ));
}

#[tokio::test]
async fn boot_from_volume_needs_no_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = QemuConfig::new(dir.path());
    cfg.accel = Accel::Tcg;
    // A QEMU that fails to start: the spawn gets as far as starting it.
    cfg.qemu_binary = "false".to_string();
    let d = QemuDriver::with_net_ops(cfg, Arc::new(FakeHost::new())).unwrap();
    let mut root = volume("root-vol", "qcow2", None);
    root.boot_index = Some(0);
    let spec = InstanceSpec {
        uuid: UUID.to_string(),
        vcpus: 1,
        memory_mb: 128,
        volumes: vec![root],
        ..Default::default()
    };
    let err = d.spawn(&spec).await.unwrap_err();
    assert!(matches!(err, VirtError::Command { .. }), "{err:?}");
    // Without a boot volume the missing image is refused first.
    let spec = InstanceSpec {
        volumes: vec![],
        ..spec
    };
    assert!(matches!(
        d.spawn(&spec).await,
        Err(VirtError::InvalidSpec(_))
    ));
}

fn qemu_img(args: &[&str]) -> String {
    let out = std::process::Command::new("qemu-img")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn stopped_instance_extends_and_snapshots_the_file_with_qemu_img() {
    if std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("qemu-img not installed; skipped");
        return;
    }
    let s = setup(UUID, false).await;
    let d = &s.driver;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vol.qcow2");
    let pass_file = dir.path().join("pass");
    std::fs::write(&pass_file, PASS).unwrap();
    let secret = format!("secret,id=s0,format=raw,file={}", pass_file.display());
    qemu_img(&[
        "create",
        "-q",
        "--object",
        &secret,
        "-f",
        "qcow2",
        "-o",
        "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10",
        file.to_str().unwrap(),
        "1G",
    ]);
    let mut v = volume(VOL, "qcow2", Some(PASS));
    v.source = VolumeSource::File {
        path: file.clone(),
        format: "qcow2".to_string(),
    };
    d.attach_volume(UUID, &v).await.unwrap();
    d.extend_volume(UUID, VOL, 2 << 30).await.unwrap();
    let info: Value = serde_json::from_str(&qemu_img(&[
        "info",
        "--output=json",
        file.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(info["virtual-size"], 2u64 << 30);
    d.volume_snapshot_create(UUID, VOL, "snapshot-a")
        .await
        .unwrap();
    let info = qemu_img(&["info", "--output=json", file.to_str().unwrap()]);
    assert!(info.contains("snapshot-a"), "{info}");
    d.volume_snapshot_delete(UUID, VOL, "snapshot-a")
        .await
        .unwrap();
    d.volume_snapshot_delete(UUID, VOL, "snapshot-a")
        .await
        .unwrap();
    let info = qemu_img(&["info", "--output=json", file.to_str().unwrap()]);
    assert!(!info.contains("snapshot-a"), "{info}");
    // The decrypted passphrase file is gone; nothing went through QMP.
    let leftovers: Vec<_> = std::fs::read_dir(d.paths(UUID).dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("volume-secret"))
        .collect();
    assert!(leftovers.is_empty());
    assert!(s.qmp.take().is_empty());
}
