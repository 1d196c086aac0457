//! Unit tests of the simulated driver: transitions, console, knobs.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn spec(uuid: &str) -> InstanceSpec {
    InstanceSpec {
        uuid: uuid.to_string(),
        name: "vm".to_string(),
        vcpus: 1,
        memory_mb: 128,
        root_gb: 1,
        image_format: "qcow2".to_string(),
        nics: vec![Nic::for_port("0123456789abcdef", "fa:16:3e:00:00:01", 1450)],
        ..Default::default()
    }
}

fn driver() -> Arc<SimulatedDriver> {
    Arc::new(SimulatedDriver::new(SimConfig::default()))
}

#[tokio::test]
async fn object_safe_and_named() {
    let d: Arc<dyn ComputeDriver> = driver();
    assert_eq!(d.name(), "simulated");
    let h = d.host_info().await.unwrap();
    assert_eq!(h.hypervisor_type, "QEMU");
    assert_eq!(h.vcpus, 64);
}

#[tokio::test]
async fn capacity_is_configurable() {
    let d = SimulatedDriver::new(SimConfig {
        hostname: "h1".to_string(),
        vcpus: 4,
        memory_mb: 2048,
        disk_gb: 20,
    });
    let h = d.host_info().await.unwrap();
    assert_eq!(
        (h.hostname.as_str(), h.vcpus, h.memory_mb, h.disk_gb),
        ("h1", 4, 2048, 20)
    );
    let cpu: serde_json::Value = serde_json::from_str(&h.cpu_info).unwrap();
    assert_eq!(cpu["topology"]["cores"], 4);
}

#[tokio::test]
async fn lifecycle_transitions() {
    let d = driver();
    d.spawn(&spec("a")).await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Running);
    assert!(matches!(
        d.spawn(&spec("a")).await,
        Err(VirtError::AlreadyExists { .. })
    ));

    d.pause("a").await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Paused);
    assert!(matches!(
        d.pause("a").await,
        Err(VirtError::InvalidState { op: "pause", .. })
    ));
    d.unpause("a").await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Running);
    assert!(d.unpause("a").await.is_err());

    d.suspend("a").await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Suspended);
    assert!(d.pause("a").await.is_err());
    assert!(d.power_on("a").await.is_err());
    d.resume("a").await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Running);

    d.power_off("a", Duration::from_secs(1)).await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Shutdown);
    // Idempotent on a shut-off instance.
    d.power_off("a", Duration::from_secs(1)).await.unwrap();
    assert!(d.pause("a").await.is_err());
    assert!(d.resume("a").await.is_err());
    d.power_on("a").await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Running);

    d.power_off("a", Duration::ZERO).await.unwrap();
    d.reboot("a", false).await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Running);
    d.reboot("a", true).await.unwrap();
    assert_eq!(d.state("a").await.unwrap(), PowerState::Running);

    d.destroy("a").await.unwrap();
    assert!(d.state("a").await.unwrap_err().is_not_found());
    // Destroy is idempotent.
    d.destroy("a").await.unwrap();
    assert!(d.power_on("a").await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn list_and_external_state_changes() {
    let d = driver();
    d.spawn(&spec("b")).await.unwrap();
    d.spawn(&spec("a")).await.unwrap();
    d.set_state("b", PowerState::Crashed).unwrap();
    assert_eq!(
        d.list().await.unwrap(),
        vec![
            ("a".to_string(), PowerState::Running),
            ("b".to_string(), PowerState::Crashed)
        ]
    );
    d.power_on("b").await.unwrap();
    assert_eq!(d.state("b").await.unwrap(), PowerState::Running);
    assert!(d.set_state("zz", PowerState::Running).is_err());
}

#[tokio::test]
async fn console_lines_and_tail() {
    let d = driver();
    d.spawn(&spec("c")).await.unwrap();
    d.reboot("c", true).await.unwrap();
    let all = d.console_output("c", None).await.unwrap();
    assert_eq!(
        all,
        "rustack simulated console: booted c\n\
         rustack simulated console: firmware done, loading the kernel\n\
         rustack simulated console: init started\n\
         rustack simulated console: instance c login:\n\
         rustack simulated console: hard rebooted c\n"
    );
    assert_eq!(
        d.console_output("c", Some(1)).await.unwrap(),
        "rustack simulated console: hard rebooted c\n"
    );
    assert_eq!(d.console_output("c", Some(0)).await.unwrap(), "");
    assert!(d.console_output("x", None).await.is_err());
}

#[tokio::test]
async fn fail_next_is_consumed() {
    let d = driver();
    d.fail_next(SimOp::Spawn, 1);
    assert!(matches!(
        d.spawn(&spec("f")).await,
        Err(VirtError::Injected { op: "spawn" })
    ));
    // The failed spawn left nothing behind; the next one works.
    assert!(d.list().await.unwrap().is_empty());
    d.spawn(&spec("f")).await.unwrap();
    d.fail_next(SimOp::PowerOff, 2);
    assert!(d.power_off("f", Duration::ZERO).await.is_err());
    assert!(d.power_off("f", Duration::ZERO).await.is_err());
    assert_eq!(d.state("f").await.unwrap(), PowerState::Running);
    d.power_off("f", Duration::ZERO).await.unwrap();
}

#[tokio::test]
async fn delay_applies() {
    let d = driver();
    d.set_delay(Duration::from_millis(50));
    let t = Instant::now();
    d.spawn(&spec("d")).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(50));
    d.set_delay(Duration::ZERO);
}

#[tokio::test]
async fn interfaces() {
    let d = driver();
    d.spawn(&spec("i")).await.unwrap();
    let nic = Nic::for_port("fedcba9876543210", "fa:16:3e:00:00:02", 1500);
    assert_eq!(nic.tap_name, "tapfedcba98765");
    d.attach_interface("i", &nic).await.unwrap();
    assert!(d.attach_interface("i", &nic).await.is_err());
    assert_eq!(d.spec("i").unwrap().nics.len(), 2);
    d.detach_interface("i", "0123456789abcdef").await.unwrap();
    assert!(matches!(
        d.detach_interface("i", "0123456789abcdef").await,
        Err(VirtError::InterfaceNotFound { .. })
    ));
    assert_eq!(d.spec("i").unwrap().nics, vec![nic]);
}

#[tokio::test]
async fn resize_keeps_disk_and_rebuild_changes_image() {
    let d = driver();
    d.spawn(&spec("r")).await.unwrap();
    d.power_off("r", Duration::ZERO).await.unwrap();
    let mut big = spec("r");
    big.vcpus = 2;
    big.memory_mb = 512;
    big.root_gb = 5;
    d.resize(&big).await.unwrap();
    assert_eq!(d.state("r").await.unwrap(), PowerState::Running);
    let s = d.spec("r").unwrap();
    assert_eq!((s.vcpus, s.memory_mb, s.root_gb), (2, 512, 5));
    // Revert: back to the small flavor, the disk stays grown.
    d.resize(&spec("r")).await.unwrap();
    let s = d.spec("r").unwrap();
    assert_eq!((s.vcpus, s.memory_mb, s.root_gb), (1, 128, 5));

    let mut rb = spec("r");
    rb.image_path = "/images/other".into();
    d.rebuild(&rb).await.unwrap();
    assert_eq!(d.spec("r").unwrap().image_path, rb.image_path);
    assert!(d.rebuild(&spec("nope")).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn snapshot_writes_qcow2() {
    let dir = tempfile::tempdir().unwrap();
    let d = driver();
    d.spawn(&spec("s")).await.unwrap();
    let dest = dir.path().join("snap.qcow2");
    d.snapshot("s", &dest).await.unwrap();
    let data = std::fs::read(&dest).unwrap();
    assert_eq!(&data[..4], b"QFI\xfb");

    // With an existing qcow2 image file, the snapshot is a copy of it.
    let img = dir.path().join("img.qcow2");
    std::fs::write(&img, crate::qcow2::empty_image(7 << 20)).unwrap();
    let mut s2 = spec("s2");
    s2.image_path = img.clone();
    d.spawn(&s2).await.unwrap();
    let dest2 = dir.path().join("snap2.qcow2");
    d.snapshot("s2", &dest2).await.unwrap();
    assert_eq!(std::fs::read(&dest2).unwrap(), std::fs::read(&img).unwrap());
    assert!(d.snapshot("nope", &dest2).await.unwrap_err().is_not_found());
}

/// Every operation from every state, against the table in the module docs.
#[tokio::test]
async fn transition_table() {
    use PowerState::*;
    #[derive(Clone, Copy, Debug)]
    enum Op {
        PowerOff,
        PowerOn,
        Soft,
        Hard,
        Pause,
        Unpause,
        Suspend,
        Resume,
    }
    // (op, from, Some(to) | None for InvalidState)
    let table: &[(Op, PowerState, Option<PowerState>)] = &[
        (Op::PowerOff, Running, Some(Shutdown)),
        (Op::PowerOff, Paused, Some(Shutdown)),
        (Op::PowerOff, Shutdown, Some(Shutdown)),
        (Op::PowerOff, Crashed, Some(Shutdown)),
        (Op::PowerOff, Suspended, Some(Shutdown)),
        (Op::PowerOn, Running, Some(Running)),
        (Op::PowerOn, Paused, None),
        (Op::PowerOn, Shutdown, Some(Running)),
        (Op::PowerOn, Crashed, Some(Running)),
        (Op::PowerOn, Suspended, None),
        (Op::Soft, Running, Some(Running)),
        (Op::Soft, Shutdown, Some(Running)),
        (Op::Hard, Paused, Some(Running)),
        (Op::Hard, Crashed, Some(Running)),
        (Op::Hard, Suspended, Some(Running)),
        (Op::Pause, Running, Some(Paused)),
        (Op::Pause, Paused, None),
        (Op::Pause, Shutdown, None),
        (Op::Pause, Suspended, None),
        (Op::Unpause, Paused, Some(Running)),
        (Op::Unpause, Running, None),
        (Op::Unpause, Suspended, None),
        (Op::Unpause, Shutdown, None),
        (Op::Suspend, Running, Some(Suspended)),
        (Op::Suspend, Paused, Some(Suspended)),
        (Op::Suspend, Suspended, None),
        (Op::Suspend, Shutdown, None),
        (Op::Resume, Suspended, Some(Running)),
        (Op::Resume, Paused, None),
        (Op::Resume, Running, None),
        (Op::Resume, Shutdown, None),
    ];
    let d = driver();
    d.spawn(&spec("t")).await.unwrap();
    for &(op, from, to) in table {
        d.set_state("t", from).unwrap();
        let r = match op {
            Op::PowerOff => d.power_off("t", Duration::ZERO).await,
            Op::PowerOn => d.power_on("t").await,
            Op::Soft => d.reboot("t", false).await,
            Op::Hard => d.reboot("t", true).await,
            Op::Pause => d.pause("t").await,
            Op::Unpause => d.unpause("t").await,
            Op::Suspend => d.suspend("t").await,
            Op::Resume => d.resume("t").await,
        };
        match to {
            Some(to) => {
                assert!(r.is_ok(), "{op:?} from {from:?}: {r:?}");
                assert_eq!(d.state("t").await.unwrap(), to, "{op:?} from {from:?}");
            }
            None => {
                assert!(
                    matches!(r, Err(VirtError::InvalidState { .. })),
                    "{op:?} from {from:?}: {r:?}"
                );
                assert_eq!(d.state("t").await.unwrap(), from, "{op:?} from {from:?}");
            }
        }
    }
}

fn vol(id: &str, pass: Option<&str>, boot: Option<u32>) -> crate::types::VolumeAttachment {
    crate::types::VolumeAttachment {
        volume_id: id.to_string(),
        source: crate::types::VolumeSource::File {
            path: format!("/simulated-volumes/{id}.qcow2").into(),
            format: "qcow2".to_string(),
        },
        luks_passphrase: pass.map(str::to_string),
        read_only: false,
        boot_index: boot,
    }
}

#[tokio::test]
async fn volumes_attach_detach_extend_snapshot() {
    let d = driver();
    assert!(!d.opens_volume_files());
    let mut s = spec("v1");
    s.swap_mb = 512;
    d.spawn(&s).await.unwrap();
    // vda root, vdb swap.
    assert_eq!(
        d.attach_volume("v1", &vol("a", Some("secret-hex"), None))
            .await
            .unwrap(),
        "/dev/vdc"
    );
    assert_eq!(
        d.attach_volume("v1", &vol("a", Some("secret-hex"), None))
            .await
            .unwrap(),
        "/dev/vdc"
    );
    assert_eq!(
        d.attach_volume("v1", &vol("b", None, None)).await.unwrap(),
        "/dev/vdd"
    );
    let vols = d.volumes("v1");
    assert_eq!(vols.len(), 2);
    assert!(vols[0].encrypted && !vols[1].encrypted);
    // The spec keeps the attachments without passphrases.
    let spec = d.spec("v1").unwrap();
    assert_eq!(spec.volumes.len(), 2);
    assert!(spec.volumes.iter().all(|v| v.luks_passphrase.is_none()));

    d.extend_volume("v1", "a", 2 << 30).await.unwrap();
    assert_eq!(d.volumes("v1")[0].size_bytes, Some(2 << 30));
    assert!(matches!(
        d.extend_volume("v1", "zzz", 1).await,
        Err(VirtError::InvalidSpec(_))
    ));
    d.volume_snapshot_create("v1", "a", "snap-1").await.unwrap();
    assert!(d.volume_snapshot_create("v1", "a", "snap-1").await.is_err());
    assert_eq!(d.volumes("v1")[0].snapshots, vec!["snap-1".to_string()]);
    d.volume_snapshot_delete("v1", "a", "snap-1").await.unwrap();
    d.volume_snapshot_delete("v1", "a", "snap-1").await.unwrap();
    d.volume_snapshot_delete("v1", "zzz", "snap-1")
        .await
        .unwrap();
    assert!(d.volumes("v1")[0].snapshots.is_empty());

    // A shut-off guest cannot extend or snapshot, but attach and detach work.
    d.power_off("v1", Duration::from_secs(1)).await.unwrap();
    assert!(matches!(
        d.extend_volume("v1", "a", 3 << 30).await,
        Err(VirtError::InvalidState { .. })
    ));
    assert!(matches!(
        d.volume_snapshot_create("v1", "a", "s").await,
        Err(VirtError::InvalidState { .. })
    ));
    d.detach_volume("v1", "a").await.unwrap();
    d.detach_volume("v1", "a").await.unwrap();
    d.detach_volume("v1", "never-attached").await.unwrap();
    assert_eq!(d.volumes("v1").len(), 1);
    // The freed letter is reused.
    assert_eq!(
        d.attach_volume("v1", &vol("c", None, None)).await.unwrap(),
        "/dev/vdc"
    );
    assert!(d
        .attach_volume("nope", &vol("c", None, None))
        .await
        .unwrap_err()
        .is_not_found());
    assert!(d
        .detach_volume("nope", "c")
        .await
        .unwrap_err()
        .is_not_found());

    d.fail_next(SimOp::AttachVolume, 1);
    assert!(matches!(
        d.attach_volume("v1", &vol("d", None, None)).await,
        Err(VirtError::Injected {
            op: "attach_volume"
        })
    ));
    d.fail_next(SimOp::DetachVolume, 1);
    assert!(d.detach_volume("v1", "c").await.is_err());
    assert_eq!(d.volumes("v1").len(), 2);
}

#[tokio::test]
async fn spawn_with_volumes_and_boot_volume() {
    let d = driver();
    let mut s = spec("bfv");
    s.image_path = std::path::PathBuf::new();
    s.volumes = vec![vol("data", None, None), vol("root", Some("k"), Some(0))];
    d.spawn(&s).await.unwrap();
    let vols = d.volumes("bfv");
    let root = vols.iter().find(|v| v.volume_id == "root").unwrap();
    assert_eq!(root.device, "/dev/vda");
    assert!(root.boot && root.encrypted);
    let data = vols.iter().find(|v| v.volume_id == "data").unwrap();
    assert_eq!(data.device, "/dev/vdb");
    assert!(d
        .spec("bfv")
        .unwrap()
        .volumes
        .iter()
        .all(|v| v.luks_passphrase.is_none()));
    let mut two_roots = spec("x");
    two_roots.volumes = vec![vol("r1", None, Some(0)), vol("r2", None, Some(0))];
    assert!(matches!(
        d.spawn(&two_roots).await,
        Err(VirtError::InvalidSpec(_))
    ));
    d.destroy("bfv").await.unwrap();
    assert!(d.volumes("bfv").is_empty());
}
