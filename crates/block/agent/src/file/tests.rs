//! File backend tests against the real `qemu-img` and `qemu-io` (no root needed).
//! When `qemu-img` is missing they print a note and pass: the file backend cannot be
//! exercised on such a host.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use super::*;

const MARKER: &[u8] = b"rustack-volume-marker-7f3a9c";

fn have_tools() -> bool {
    let ok = |p: &str| Command::new(p).arg("--version").output().is_ok();
    if ok("qemu-img") && ok("qemu-io") {
        true
    } else {
        eprintln!("qemu-img/qemu-io not installed: skipping a file backend test");
        false
    }
}

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

struct Env {
    dir: tempfile::TempDir,
    backend: FileBackend,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let backend = FileBackend::new(dir.path().join("volumes"))
        .unwrap()
        .with_luks_iter_time_ms(10);
    Env { dir, backend }
}

impl Env {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run `qemu-io` on a volume (through its LUKS layer when `pass` is given) or on
    /// a raw LUKS container (`driver = "luks"`); returns success and the output.
    fn qemu_io(&self, path: &Path, driver: &str, pass: Option<&str>, cmd: &str) -> (bool, String) {
        let mut c = Command::new("qemu-io");
        let mut opts = format!("driver={driver},");
        if let Some(p) = pass {
            let sf = self.file("test-secret");
            std::fs::write(&sf, p).unwrap();
            c.arg("--object")
                .arg(format!("secret,id=s0,format=raw,file={}", sf.display()));
            opts.push_str(if driver == "qcow2" {
                "encrypt.key-secret=s0,"
            } else {
                "key-secret=s0,"
            });
        }
        opts.push_str(&format!("file.filename={}", path.display()));
        let out = c
            .arg("--image-opts")
            .arg(opts)
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // qemu-io exits 0 even when a -c command fails: read the output too.
        let ok = out.status.success()
            && !text.contains("Pattern verification failed")
            && !text.contains("can't open")
            && !text.contains("failed");
        (ok, text)
    }

    fn write_marker(&self, path: &Path, pass: Option<&str>, offset: u64) {
        let m = self.file("marker");
        std::fs::write(&m, &MARKER.repeat(512 / MARKER.len() + 1)[..512]).unwrap();
        let (ok, out) = self.qemu_io(
            path,
            "qcow2",
            pass,
            &format!("write -s {} {offset} 512", m.display()),
        );
        assert!(ok, "{out}");
    }

    fn pattern(&self, path: &Path, pass: Option<&str>, write: bool, byte: u8) -> (bool, String) {
        let verb = if write { "write" } else { "read" };
        self.qemu_io(path, "qcow2", pass, &format!("{verb} -P {byte:#x} 1M 64k"))
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn path_of(loc: &Location) -> PathBuf {
    match loc {
        Location::File { path, .. } => path.clone(),
        Location::Rbd { .. } => panic!("not a file location"),
    }
}

#[tokio::test]
async fn blank_volume_lifecycle() {
    if !have_tools() {
        return;
    }
    let e = env();
    let b = &e.backend;
    let loc = b
        .create(&spec("vol-1", 1), &VolumeSource::Blank, None)
        .await
        .unwrap();
    let path = path_of(&loc);
    assert_eq!(path, b.dir().join("vol-1.qcow2"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (virt, used) = b.usage(&loc).await.unwrap();
    assert_eq!(virt, GIB);
    assert!(used > 0 && used < 10 * 1024 * 1024, "{used}");
    assert_eq!(b.list().await.unwrap(), vec!["vol-1".to_string()]);
    assert!(matches!(
        b.create(&spec("vol-1", 1), &VolumeSource::Blank, None)
            .await,
        Err(BackendError::Invalid(_))
    ));
    assert!(matches!(
        b.create(&spec("../x", 1), &VolumeSource::Blank, None).await,
        Err(BackendError::Invalid(_))
    ));

    // Extend grows; shrinking is refused; the same size is a no-op.
    b.extend(&loc, 2, None).await.unwrap();
    assert_eq!(b.usage(&loc).await.unwrap().0, 2 * GIB);
    b.extend(&loc, 2, None).await.unwrap();
    assert!(matches!(
        b.extend(&loc, 1, None).await,
        Err(BackendError::Invalid(_))
    ));

    let caps = b.capabilities().await.unwrap();
    assert!(caps.total_capacity_gb > 0.0);
    assert!(caps.free_capacity_gb <= caps.total_capacity_gb);
    assert_eq!(caps.backend_name, "file");

    // A location outside the directory is refused, not deleted.
    let foreign = Location::File {
        path: e.file("vol-1.qcow2"),
        format: "qcow2".into(),
    };
    std::fs::write(e.file("vol-1.qcow2"), b"keep").unwrap();
    assert!(matches!(
        b.delete(&foreign).await,
        Err(BackendError::Invalid(_))
    ));
    assert!(e.file("vol-1.qcow2").exists());

    b.delete(&loc).await.unwrap();
    assert!(!path.exists());
    b.delete(&loc).await.unwrap();
    assert!(b.list().await.unwrap().is_empty());
    assert!(matches!(
        b.usage(&loc).await,
        Err(BackendError::NotFound(_))
    ));
    assert!(matches!(
        b.extend(&loc, 3, None).await,
        Err(BackendError::NotFound(_))
    ));
}

#[tokio::test]
async fn encrypted_round_trip() {
    if !have_tools() {
        return;
    }
    let e = env();
    let b = &e.backend;
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let loc = b
        .create(&spec("enc", 1), &VolumeSource::Blank, Some(&luks(key)))
        .await
        .unwrap();
    let path = path_of(&loc);
    // No secret file is left behind.
    assert_eq!(std::fs::read_dir(b.dir().join("tmp")).unwrap().count(), 0);

    e.write_marker(&path, Some(key), 0);
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !contains(&bytes, MARKER),
        "marker readable in the file bytes"
    );
    assert!(!contains(&bytes, key.as_bytes()));

    let (ok, out) = e.qemu_io(&path, "qcow2", Some(key), "read -v 0 64");
    assert!(ok, "{out}");
    assert!(out.contains("rustack.volume.m"), "{out}");
    let wrong = "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let (ok, out) = e.qemu_io(&path, "qcow2", Some(wrong), "read 0 512");
    assert!(!ok, "a wrong passphrase opened the volume: {out}");
    assert!(out.contains("Invalid password"), "{out}");

    // Export: a raw LUKS container under the same passphrase.
    let out_path = e.file("export.luks");
    assert!(matches!(
        b.export(&loc, Some(&luks(key)), &out_path, "qcow2").await,
        Err(BackendError::Invalid(_))
    ));
    b.export(&loc, Some(&luks(key)), &out_path, "raw")
        .await
        .unwrap();
    let (ok, out) = e.qemu_io(&out_path, "luks", Some(key), "read -v 0 64");
    assert!(ok && out.contains("rustack.volume.m"), "{out}");
    assert!(!contains(&std::fs::read(&out_path).unwrap(), MARKER));

    // That container is a valid encrypted image source; the new volume gets its
    // own key.
    let key2 = "aa".repeat(32);
    let src = VolumeSource::Image {
        path: out_path.clone(),
        format: "raw".into(),
        luks: Some(luks(key)),
    };
    let loc2 = b
        .create(&spec("from-image", 1), &src, Some(&luks(&key2)))
        .await
        .unwrap();
    let (ok, out) = e.qemu_io(&path_of(&loc2), "qcow2", Some(&key2), "read -v 0 64");
    assert!(ok && out.contains("rustack.volume.m"), "{out}");
    let (ok, _) = e.qemu_io(&path_of(&loc2), "qcow2", Some(key), "read 0 512");
    assert!(!ok, "the new volume opened with the source's key");

    // A clone of an encrypted volume, decrypted (unencrypted target).
    let clone = VolumeSource::Volume {
        volume: loc.clone(),
        luks: Some(luks(key)),
    };
    let loc3 = b
        .create(&spec("plain-clone", 1), &clone, None)
        .await
        .unwrap();
    assert!(contains(&std::fs::read(path_of(&loc3)).unwrap(), MARKER));

    // Extend through the LUKS layer: the payload is what grows.
    assert!(b.extend(&loc, 2, Some(&luks(wrong))).await.is_err());
    b.extend(&loc, 2, Some(&luks(key))).await.unwrap();
    assert_eq!(b.usage(&loc).await.unwrap().0, 2 * GIB);
    // A clone smaller than its source is refused and leaves nothing behind.
    assert!(matches!(
        b.create(&spec("small", 1), &clone, None).await,
        Err(BackendError::Invalid(_))
    ));
    assert!(!b.path_of("small").exists());
    assert_eq!(std::fs::read_dir(b.dir().join("tmp")).unwrap().count(), 0);
}

#[tokio::test]
async fn snapshots_and_volumes_from_them() {
    if !have_tools() {
        return;
    }
    let e = env();
    let b = &e.backend;
    let key = "0f".repeat(32);
    let k = Some(key.as_str());
    let loc = b
        .create(&spec("src", 1), &VolumeSource::Blank, Some(&luks(&key)))
        .await
        .unwrap();
    let path = path_of(&loc);
    let (ok, out) = e.pattern(&path, k, true, 0x5a);
    assert!(ok, "{out}");
    b.snapshot_create(&loc, "snapshot-1", Some(&luks(&key)))
        .await
        .unwrap();
    assert!(matches!(
        b.snapshot_create(&loc, "snapshot-1", Some(&luks(&key)))
            .await,
        Err(BackendError::Invalid(_))
    ));
    let (ok, out) = e.pattern(&path, k, true, 0x33);
    assert!(ok, "{out}");

    // The new volume has the snapshot-time data, under its own key.
    let key2 = "1e".repeat(32);
    let from_snap = VolumeSource::Snapshot {
        volume: loc.clone(),
        name: "snapshot-1".into(),
        luks: Some(luks(&key)),
    };
    let loc2 = b
        .create(&spec("from-snap", 1), &from_snap, Some(&luks(&key2)))
        .await
        .unwrap();
    let (ok, out) = e.pattern(&path_of(&loc2), Some(&key2), false, 0x5a);
    assert!(ok, "{out}");
    let (ok, _) = e.pattern(&path_of(&loc2), Some(&key2), false, 0x33);
    assert!(!ok);

    // A missing snapshot is NotFound and leaves nothing.
    let missing = VolumeSource::Snapshot {
        volume: loc.clone(),
        name: "snapshot-2".into(),
        luks: Some(luks(&key)),
    };
    assert!(matches!(
        b.create(&spec("none", 1), &missing, None).await,
        Err(BackendError::NotFound(_))
    ));
    assert!(!b.path_of("none").exists());

    // Revert brings the snapshot-time data back.
    let (ok, _) = e.pattern(&path, k, false, 0x33);
    assert!(ok);
    b.snapshot_revert(&loc, "snapshot-1", Some(&luks(&key)))
        .await
        .unwrap();
    let (ok, out) = e.pattern(&path, k, false, 0x5a);
    assert!(ok, "{out}");
    assert!(matches!(
        b.snapshot_revert(&loc, "snapshot-2", Some(&luks(&key)))
            .await,
        Err(BackendError::NotFound(_))
    ));

    // Delete is idempotent, also for a missing volume.
    b.snapshot_delete(&loc, "snapshot-1", Some(&luks(&key)))
        .await
        .unwrap();
    assert!(b.snapshot_names(&path).await.unwrap().is_empty());
    b.snapshot_delete(&loc, "snapshot-1", Some(&luks(&key)))
        .await
        .unwrap();
    b.delete(&loc).await.unwrap();
    b.snapshot_delete(&loc, "snapshot-1", None).await.unwrap();
    assert!(matches!(
        b.snapshot_create(&loc, "x", None).await,
        Err(BackendError::NotFound(_))
    ));
}

#[tokio::test]
async fn images_exports_and_plain_snapshots() {
    if !have_tools() {
        return;
    }
    let e = env();
    let b = &e.backend;
    // A raw image with a marker at offset 0, converted into a larger volume.
    let img = e.file("image.raw");
    let mut data = MARKER.to_vec();
    data.resize(1024 * 1024, 0);
    std::fs::write(&img, &data).unwrap();
    let src = VolumeSource::Image {
        path: img.clone(),
        format: "raw".into(),
        luks: None,
    };
    let loc = b.create(&spec("img", 1), &src, None).await.unwrap();
    assert_eq!(b.usage(&loc).await.unwrap().0, GIB);
    assert!(contains(&std::fs::read(path_of(&loc)).unwrap(), MARKER));
    let missing = VolumeSource::Image {
        path: e.file("nope.raw"),
        format: "raw".into(),
        luks: None,
    };
    assert!(matches!(
        b.create(&spec("x", 1), &missing, None).await,
        Err(BackendError::NotFound(_))
    ));
    let bad_format = VolumeSource::Image {
        path: img.clone(),
        format: "raw,driver=file".into(),
        luks: None,
    };
    assert!(matches!(
        b.create(&spec("x", 1), &bad_format, None).await,
        Err(BackendError::Invalid(_))
    ));

    // An image with a backing file is refused: it would copy a host file in.
    let base = e.file("host-secret.raw");
    std::fs::write(&base, MARKER).unwrap();
    let overlay = e.file("overlay.qcow2");
    let st = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(&overlay)
        .status()
        .unwrap();
    assert!(st.success());
    let backed = VolumeSource::Image {
        path: overlay,
        format: "qcow2".into(),
        luks: None,
    };
    assert!(matches!(
        b.create(&spec("backed", 1), &backed, None).await,
        Err(BackendError::Invalid(_))
    ));
    assert!(!b.path_of("backed").exists());

    // Unencrypted snapshots.
    b.snapshot_create(&loc, "s1", None).await.unwrap();
    e.write_marker(&path_of(&loc), None, 0);
    b.snapshot_delete(&loc, "s1", None).await.unwrap();

    // Export as raw and as qcow2.
    let raw = e.file("out.raw");
    b.export(&loc, None, &raw, "raw").await.unwrap();
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), GIB);
    let q = e.file("out.qcow2");
    b.export(&loc, None, &q, "qcow2").await.unwrap();
    assert_eq!(&std::fs::read(&q).unwrap()[..4], b"QFI\xfb");
    assert!(matches!(
        b.export(&loc, None, &e.file("o.vmdk"), "vmdk").await,
        Err(BackendError::Invalid(_))
    ));

    // An unencrypted source into an encrypted volume.
    let key = "ab".repeat(32);
    let loc2 = b
        .create(&spec("img-enc", 1), &src, Some(&luks(&key)))
        .await
        .unwrap();
    assert!(!contains(&std::fs::read(path_of(&loc2)).unwrap(), MARKER));
    let (ok, out) = e.qemu_io(&path_of(&loc2), "qcow2", Some(&key), "read -v 0 64");
    assert!(ok && out.contains("rustack.volume.m"), "{out}");
}

#[tokio::test]
async fn cleanup_removes_crash_leftovers() {
    if !have_tools() {
        return;
    }
    let e = env();
    let b = &e.backend;
    let loc = b
        .create(&spec("kept", 1), &VolumeSource::Blank, None)
        .await
        .unwrap();
    let tmp = b.dir().join("tmp");
    // What a crash mid-create leaves: a half-written volume and a secret file.
    std::fs::write(tmp.join("lost.0123456789abcdef.qcow2"), b"partial").unwrap();
    std::fs::write(tmp.join("secret-0123456789abcdef.key"), b"00ff").unwrap();
    std::fs::create_dir(tmp.join("junk")).unwrap();
    // Temporaries are never listed as volumes.
    assert_eq!(b.list().await.unwrap(), vec!["kept".to_string()]);
    b.cleanup().await.unwrap();
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    assert!(path_of(&loc).exists());
    b.cleanup().await.unwrap();

    // A new backend on the same directory finds the volume.
    let again = FileBackend::new(b.dir().to_path_buf()).unwrap();
    assert_eq!(again.list().await.unwrap(), vec!["kept".to_string()]);
}
