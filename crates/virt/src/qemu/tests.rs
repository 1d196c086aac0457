//! Unit tests of the QEMU driver that need neither root nor QEMU (TAPs go to the
//! shared fake host); the real thing is `tests/host_qemu.rs`.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use rustack_hostops::fake::FakeHost;

use super::*;

fn has_qemu_img() -> bool {
    std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok()
}

fn driver(dir: &Path, fake: &FakeHost) -> QemuDriver {
    let mut cfg = QemuConfig::new(dir);
    cfg.accel = Accel::Tcg;
    cfg.process_timeout = Duration::from_secs(5);
    QemuDriver::with_net_ops(cfg, Arc::new(fake.clone())).unwrap()
}

fn spec(uuid: &str, image: PathBuf) -> InstanceSpec {
    InstanceSpec {
        uuid: uuid.to_string(),
        name: "vm".to_string(),
        vcpus: 1,
        memory_mb: 128,
        root_gb: 1,
        image_path: image,
        image_format: "qcow2".to_string(),
        nics: vec![Nic::for_port(
            "aaaaaaaa-bbbb-cccc",
            "fa:16:3e:00:00:01",
            1450,
        )],
        ..Default::default()
    }
}

fn link_names(fake: &FakeHost) -> Vec<String> {
    fake.link_list(None)
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

#[test]
fn tail() {
    assert_eq!(tail_lines("a\nb\nc\n", Some(2)), "b\nc\n");
    assert_eq!(tail_lines("a\nb\nc", Some(2)), "b\nc");
    assert_eq!(tail_lines("a\nb\n", Some(5)), "a\nb\n");
    assert_eq!(tail_lines("a\nb\n", None), "a\nb\n");
    assert_eq!(tail_lines("a\nb\n", Some(0)), "");
    assert_eq!(tail_lines("", Some(3)), "");
}

#[test]
fn validation_helpers() {
    assert!(safe_rel_path("openstack/latest/meta_data.json"));
    assert!(!safe_rel_path("/etc/passwd"));
    assert!(!safe_rel_path("openstack/../../x"));
    assert!(!safe_rel_path(""));
    assert!(check_uuid("0b6f3b7e-0e4c-4a55-9a53-7f0d3a2b1c00").is_ok());
    assert!(check_uuid("../etc").is_err());
    assert!(check_uuid("").is_err());
}

#[test]
fn config_from_json_with_defaults() {
    let c: QemuConfig = serde_json::from_str(
        r#"{"state_dir": "/srv/c", "accel": "tcg", "soft_reboot_timeout": 5}"#,
    )
    .unwrap();
    assert_eq!(c.accel, Accel::Tcg);
    assert_eq!(c.soft_reboot_timeout, Duration::from_secs(5));
    assert_eq!(c.machine, "pc");
    assert!(serde_json::from_str::<QemuConfig>(r#"{"bogus": 1}"#).is_err());
}

#[tokio::test]
async fn unknown_instances() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeHost::new();
    let drv = driver(d.path(), &fake);
    assert_eq!(drv.name(), "qemu");
    assert_eq!(drv.accel(), ResolvedAccel::Tcg);
    assert!(drv.list().await.unwrap().is_empty());
    assert!(drv.state("nope").await.unwrap_err().is_not_found());
    assert!(drv.state("../../x").await.unwrap_err().is_not_found());
    assert!(drv.power_on("nope").await.unwrap_err().is_not_found());
    assert!(drv
        .console_output("nope", None)
        .await
        .unwrap_err()
        .is_not_found());
    drv.destroy("nope").await.unwrap();
    drv.destroy("../x").await.unwrap();
}

#[tokio::test]
async fn spawn_rejects_bad_specs() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeHost::new();
    let drv = driver(d.path(), &fake);
    let missing = spec("i1", d.path().join("missing.qcow2"));
    assert!(matches!(
        drv.spawn(&missing).await,
        Err(VirtError::InvalidSpec(_))
    ));
    let mut relative = spec("i1", PathBuf::from("img.qcow2"));
    relative.image_format = "qcow2".to_string();
    assert!(drv.spawn(&relative).await.is_err());
    let mut vmdk = spec("i1", d.path().join("x"));
    vmdk.image_format = "vmdk".to_string();
    assert!(matches!(
        drv.spawn(&vmdk).await,
        Err(VirtError::InvalidSpec(_))
    ));
    assert!(matches!(
        drv.spawn(&spec("a/b", d.path().join("x"))).await,
        Err(VirtError::InvalidSpec(_))
    ));
    assert!(drv.list().await.unwrap().is_empty());
    assert_eq!(link_names(&fake), vec!["lo".to_string()]);
}

#[tokio::test]
async fn failed_start_cleans_up_disk_and_taps() {
    if !has_qemu_img() {
        eprintln!("qemu-img not installed; skipped");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let img = d.path().join("base.qcow2");
    std::fs::write(&img, crate::qcow2::empty_image(64 << 20)).unwrap();
    let fake = FakeHost::new();
    let mut cfg = QemuConfig::new(d.path().join("state"));
    cfg.accel = Accel::Tcg;
    // A "QEMU" that fails: spawn must undo the disk and the TAP it created.
    cfg.qemu_binary = "false".to_string();
    let drv = QemuDriver::with_net_ops(cfg, Arc::new(fake.clone())).unwrap();
    let mut s = spec("inst-1", img.clone());
    s.config_drive = Some(vec![(
        "openstack/latest/meta_data.json".to_string(),
        b"{}".to_vec(),
    )]);
    let has_iso = std::process::Command::new("genisoimage")
        .arg("--version")
        .output()
        .is_ok();
    if !has_iso {
        s.config_drive = None;
    }
    let err = drv.spawn(&s).await.unwrap_err();
    assert!(matches!(err, VirtError::Command { .. }), "{err:?}");
    assert!(!drv.paths("inst-1").dir.exists());
    assert_eq!(link_names(&fake), vec!["lo".to_string()]);
    assert!(drv.list().await.unwrap().is_empty());

    // A config drive path escaping the ISO root is refused, with the same cleanup.
    let mut bad = spec("inst-2", img);
    bad.config_drive = Some(vec![("../escape".to_string(), Vec::new())]);
    assert!(matches!(
        drv.spawn(&bad).await,
        Err(VirtError::InvalidSpec(_))
    ));
    assert!(!drv.paths("inst-2").dir.exists());
}

#[tokio::test]
async fn taps_created_with_mtu_and_up_then_deleted() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeHost::new();
    let drv = driver(d.path(), &fake);
    let nic = Nic::for_port("0123456789abcdef", "fa:16:3e:00:00:09", 1450);
    drv.ensure_taps(std::slice::from_ref(&nic)).await.unwrap();
    // Idempotent.
    drv.ensure_taps(std::slice::from_ref(&nic)).await.unwrap();
    let links = fake.link_list(None).unwrap();
    let tap = links.iter().find(|l| l.name == "tap0123456789a").unwrap();
    assert_eq!(tap.kind, LinkKind::Tap);
    assert_eq!(tap.mtu, 1450);
    assert!(tap.up);
    drv.delete_taps(vec![nic.tap_name.clone()]).await.unwrap();
    drv.delete_taps(vec![nic.tap_name.clone()]).await.unwrap();
    assert_eq!(link_names(&fake), vec!["lo".to_string()]);
    fake.fail_next("link_add");
    assert!(matches!(
        drv.ensure_taps(&[nic]).await,
        Err(VirtError::Host { .. })
    ));
}

#[tokio::test]
async fn busy_instance_without_process_has_no_state_yet() {
    let d = tempfile::tempdir().unwrap();
    let fake = FakeHost::new();
    let drv = driver(d.path(), &fake);
    let rec = InstanceRecord {
        spec: spec("busy", d.path().join("img")),
        want_running: true,
        suspended: false,
        volumes: Vec::new(),
        rescue: None,
    };
    tokio::fs::create_dir_all(drv.paths("busy").dir)
        .await
        .unwrap();
    drv.save(&rec).await.unwrap();
    // Not running although it should: crashed.
    assert_eq!(drv.state("busy").await.unwrap(), PowerState::Crashed);
    // ...unless an operation (spawn, restart) is between its steps.
    let lock = drv.lock_for("busy");
    let guard = lock.lock().await;
    assert_eq!(drv.state("busy").await.unwrap(), PowerState::NoState);
    assert_eq!(
        drv.list().await.unwrap(),
        vec![("busy".to_string(), PowerState::NoState)]
    );
    drop(guard);
    // A shut-off instance is shut off; destroy removes it.
    let mut off = rec.clone();
    off.want_running = false;
    drv.save(&off).await.unwrap();
    assert_eq!(drv.state("busy").await.unwrap(), PowerState::Shutdown);
    assert!(matches!(
        drv.pause("busy").await,
        Err(VirtError::InvalidState { op: "pause", .. })
    ));
    drv.destroy("busy").await.unwrap();
    assert!(!drv.paths("busy").dir.exists());
}

fn has_qemu_system() -> bool {
    has_qemu_img()
        && std::process::Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// The command line of the instance's live QEMU.
async fn cmdline(drv: &QemuDriver, uuid: &str) -> String {
    let pid = drv.live_pid(uuid).await.unwrap();
    std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .replace('\0', " ")
}

#[tokio::test]
async fn rescue_boots_the_rescue_disk_and_unrescue_restores_the_root() {
    if !has_qemu_system() {
        eprintln!("qemu-system-x86_64 or qemu-img not installed; skipped");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let fake = FakeHost::new();
    let mut cfg = QemuConfig::new(d.path());
    cfg.accel = Accel::Tcg;
    cfg.process_timeout = Duration::from_secs(5);
    // The guest boots nothing and ignores ACPI: do not wait for a clean shutdown.
    cfg.soft_reboot_timeout = Duration::from_millis(300);
    let drv = QemuDriver::with_net_ops(cfg, Arc::new(fake.clone())).unwrap();
    let img = d.path().join("img.qcow2");
    let rescue_img = d.path().join("rescue.qcow2");
    for i in [&img, &rescue_img] {
        run(&Cmd::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(i.to_string_lossy())
            .arg("16M"))
        .await
        .unwrap();
    }
    // No NICs: no TAP to open, so QEMU runs unprivileged (TCG, nothing to boot).
    let mut s = spec("resc", img.clone());
    s.nics.clear();
    s.memory_mb = 64;
    drv.spawn(&s).await.unwrap();
    let p = drv.paths("resc");
    assert!(!cmdline(&drv, "resc").await.contains("disk.rescue"));
    // Not rescued yet.
    assert!(matches!(
        drv.unrescue("resc").await,
        Err(VirtError::InvalidState { .. })
    ));
    assert!(matches!(
        drv.rescue("resc", &rescue_img, "vmdk").await,
        Err(VirtError::InvalidSpec(_))
    ));

    drv.rescue("resc", &rescue_img, "qcow2").await.unwrap();
    assert_eq!(drv.state("resc").await.unwrap(), PowerState::Running);
    assert!(p.rescue_disk.is_file());
    let c = cmdline(&drv, "resc").await;
    let rescue_at = c.find("id=rescue0").unwrap();
    let root_at = c.find("id=disk0").unwrap();
    assert!(rescue_at < root_at, "{c}");
    assert!(c.contains("virtio-blk-pci,drive=rescue0,id=vda-rescue,bootindex=1"));
    assert!(c.contains("virtio-blk-pci,drive=disk0,id=vda "), "{c}");
    // The rescue overlay is backed by the rescue image; the root disk is untouched.
    let info = run(&Cmd::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(p.rescue_disk.to_string_lossy()))
    .await
    .unwrap();
    assert!(info.contains(&*rescue_img.to_string_lossy()), "{info}");
    assert!(matches!(
        drv.rescue("resc", &rescue_img, "qcow2").await,
        Err(VirtError::InvalidState { .. })
    ));
    // A restart (hard reboot) keeps booting the rescue disk.
    drv.reboot("resc", true).await.unwrap();
    assert!(cmdline(&drv, "resc").await.contains("disk.rescue"));

    drv.unrescue("resc").await.unwrap();
    assert!(!p.rescue_disk.exists());
    let c = cmdline(&drv, "resc").await;
    assert!(!c.contains("rescue"), "{c}");
    assert!(c.contains("virtio-blk-pci,drive=disk0,id=vda,bootindex=1"));
    // Diagnostics of the live guest: one vCPU with a CPU time, the disks by device.
    let diag = drv.diagnostics("resc").await.unwrap();
    assert_eq!(diag.state, Some(PowerState::Running));
    assert_eq!(diag.hypervisor.as_deref(), Some("qemu"));
    assert_eq!(diag.memory_max_mb, Some(64));
    assert_eq!(diag.cpus.len(), 1);
    assert!(diag.cpus[0].time_ns.is_some());
    assert!(diag.uptime_secs.is_some());
    assert!(diag.disks.iter().any(|k| k.device == "vda"), "{diag:?}");
    drv.destroy("resc").await.unwrap();
}
