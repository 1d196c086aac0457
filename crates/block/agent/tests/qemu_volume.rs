//! Cross-crate check that QEMU opens a LUKS volume made by [`FileBackend`] with exactly
//! what the QEMU compute driver hands it: the master key object, the volume secret
//! encrypted under it, and the `-blockdev` JSON, both on the command line (a spawn)
//! and through QMP `object-add`/`blockdev-add` (a hot-plug). It uses
//! `qemu-storage-daemon` (same block layer as `qemu-system`, no root, no guest) and
//! reads the data back over an NBD export on a unix socket. Skipped with a note when
//! `qemu-storage-daemon`, `qemu-img` or `qemu-io` is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustack_block_agent::FileBackend;
use rustack_block_api::backend::{Location, Luks, VolumeBackend, VolumeSource, VolumeSpec};
use rustack_virt::qemu::qmp::Qmp;
use rustack_virt::qemu::volume::{self, AttachedVolume};
use rustack_virt::types::{VolumeAttachment, VolumeSource as VirtSource};

const MARKER: &[u8] = b"rustack-qsd-marker-51c2";
const KEY: &str = "5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99";

fn have_tools() -> bool {
    let ok = |p: &str| Command::new(p).arg("--version").output().is_ok();
    let all = ok("qemu-storage-daemon") && ok("qemu-img") && ok("qemu-io");
    if !all {
        eprintln!("qemu-storage-daemon/qemu-img/qemu-io missing: skipping");
    }
    all
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(path: &Path, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if path.exists() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("qemu-storage-daemon exited ({status}): {err}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{} did not appear", path.display()))
}

/// Read the first bytes of the NBD export `name` through `qemu-io`.
fn nbd_read(sock: &Path, name: &str) -> String {
    let out = Command::new("qemu-io")
        .args(["-r", "-f", "raw"])
        .arg(format!("nbd+unix:///{name}?socket={}", sock.display()))
        .args(["-c", "read -v 0 64"])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn encrypted_volume(dir: &Path) -> (FileBackend, PathBuf) {
    let backend = FileBackend::new(dir.join("volumes"))
        .unwrap()
        .with_luks_iter_time_ms(10);
    let img = dir.join("image.raw");
    let mut data = MARKER.to_vec();
    data.resize(1 << 20, 0);
    std::fs::write(&img, &data).unwrap();
    let luks = Luks {
        passphrase: KEY.to_string(),
        cipher_alg: "aes-256".into(),
        cipher_mode: "xts".into(),
        ivgen_alg: "plain64".into(),
        ivgen_hash_alg: None,
    };
    let src = VolumeSource::Image {
        path: img,
        format: "raw".into(),
        luks: None,
    };
    let loc = backend
        .create(
            &VolumeSpec {
                id: "3c6e0b8a-1f2d-4e5f-8a9b-0c1d2e3f4a5b".into(),
                size_gb: 1,
            },
            &src,
            Some(&luks),
        )
        .await
        .unwrap();
    let Location::File { path, .. } = loc else {
        panic!("file location expected")
    };
    assert!(!std::fs::read(&path)
        .unwrap()
        .windows(MARKER.len())
        .any(|w| w == MARKER));
    (backend, path)
}

fn attached(path: &Path, master_key: &[u8; 32]) -> AttachedVolume {
    let att = VolumeAttachment {
        volume_id: "3c6e0b8a-1f2d-4e5f-8a9b-0c1d2e3f4a5b".into(),
        source: VirtSource::File {
            path: path.to_path_buf(),
            format: "qcow2".into(),
        },
        luks_passphrase: Some(KEY.to_string()),
        read_only: true,
        boot_index: None,
    };
    volume::check_attachment(&att).unwrap();
    AttachedVolume::new(&att, "/dev/vdb".into(), master_key)
}

#[tokio::test]
async fn qemu_opens_the_encrypted_volume_from_the_command_line() {
    if !have_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_backend, path) = encrypted_volume(dir.path()).await;
    let key_path = dir.path().join("master-key.aes");
    let key = volume::load_or_create_master_key(&key_path).unwrap();
    let av = attached(&path, &key);
    let nbd = dir.path().join("nbd.sock");
    let node = volume::node_name(&av.volume_id);
    let mut child = Command::new("qemu-storage-daemon")
        .arg("--object")
        .arg(volume::master_key_object_arg(&key_path))
        .arg("--object")
        .arg(volume::secret_object_arg(&av).unwrap())
        .arg("--blockdev")
        .arg(volume::blockdev(&av).unwrap().to_string())
        .arg("--nbd-server")
        .arg(format!("addr.type=unix,addr.path={}", nbd.display()))
        .arg("--export")
        .arg(format!("type=nbd,id=exp0,node-name={node},name=vol"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let r = wait_for(&nbd, &mut child);
    let _d = Daemon(child);
    r.unwrap();
    let out = nbd_read(&nbd, "vol");
    assert!(out.contains("rustack.qsd.mark"), "{out}");

    // Another instance's master key cannot decrypt the secret: QEMU refuses to start.
    let other_path = dir.path().join("other-key.aes");
    let other = volume::load_or_create_master_key(&other_path).unwrap();
    assert_ne!(other, key);
    let out = Command::new("qemu-storage-daemon")
        .arg("--object")
        .arg(volume::master_key_object_arg(&other_path))
        .arg("--object")
        .arg(volume::secret_object_arg(&av).unwrap())
        .arg("--blockdev")
        .arg(volume::blockdev(&av).unwrap().to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn qemu_hot_plugs_the_encrypted_volume_over_qmp() {
    if !have_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_backend, path) = encrypted_volume(dir.path()).await;
    let key_path = dir.path().join("master-key.aes");
    let key = volume::load_or_create_master_key(&key_path).unwrap();
    let av = attached(&path, &key);
    let qmp_sock = dir.path().join("qmp.sock");
    let nbd = dir.path().join("nbd.sock");
    let mut child = Command::new("qemu-storage-daemon")
        .arg("--object")
        .arg(volume::master_key_object_arg(&key_path))
        .arg("--chardev")
        .arg(format!(
            "socket,id=mon0,path={},server=on,wait=off",
            qmp_sock.display()
        ))
        .arg("--monitor")
        .arg("chardev=mon0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let r = wait_for(&qmp_sock, &mut child);
    let _d = Daemon(child);
    r.unwrap();
    let mut q = Qmp::connect(&qmp_sock, Duration::from_secs(10))
        .await
        .unwrap();
    q.execute("object-add", volume::secret_object_qmp(&av))
        .await
        .unwrap();
    q.execute("blockdev-add", Some(volume::blockdev(&av).unwrap()))
        .await
        .unwrap();
    let node = volume::node_name(&av.volume_id);
    q.execute(
        "nbd-server-start",
        Some(serde_json::json!({"addr": {"type": "unix", "data": {"path": nbd}}})),
    )
    .await
    .unwrap();
    q.execute(
        "block-export-add",
        Some(serde_json::json!({"type": "nbd", "id": "exp0", "node-name": node, "name": "vol"})),
    )
    .await
    .unwrap();
    let out = nbd_read(&nbd, "vol");
    assert!(out.contains("rustack.qsd.mark"), "{out}");
    // Unplug: the export, then the node and the secret go away.
    q.execute("block-export-del", Some(serde_json::json!({"id": "exp0"})))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match q
            .execute("blockdev-del", Some(serde_json::json!({"node-name": node})))
            .await
        {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline && e.0.contains("in use") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("blockdev-del: {}", e.0),
        }
    }
    q.execute(
        "object-del",
        Some(serde_json::json!({"id": volume::secret_id(&av.volume_id)})),
    )
    .await
    .unwrap();
}
