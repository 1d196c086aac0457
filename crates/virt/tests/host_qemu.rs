//! Host test of the QEMU driver on the real kernel with real QEMU (TCG).
//! Opt-in: needs root and runs only with `RUSTACK_HOST_TESTS=1` (scripts/host-tests.sh
//! installs QEMU and builds the test image); otherwise it prints a note and passes.
//!
//! Containment: the driver runs with `netns` set to a namespace this test creates, so
//! the TAPs and QEMU live there, enslaved (as the network agent would) to a bridge in
//! that namespace; dnsmasq (static lease) and a metadata responder (busybox httpd on
//! 169.254.169.254) run there too. Nothing is configured in the root namespace.
//!
//! The test measures the "physical floor" (bare QEMU with the same disk and NIC, launch
//! to the guest's `RUSTACK-GUEST-UP` marker) against `spawn()` to the same marker.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustack_virt::qemu::{Accel, QemuConfig, QemuDriver};
use rustack_virt::{ComputeDriver, InstanceSpec, Nic, PowerState};

fn enabled() -> bool {
    let on = std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("note: skipping host_qemu: set RUSTACK_HOST_TESTS=1 and run as root");
    }
    on
}

fn ok(args: &[&str]) -> String {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn image_dir() -> PathBuf {
    if let Ok(d) = std::env::var("RUSTACK_TEST_IMAGE_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_string());
    let dir = PathBuf::from(home).join(".cache/rustack-ci/images");
    if !dir.join("rustack-test.qcow2").exists() {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-image.sh");
        let st = Command::new(script).arg(&dir).status().unwrap();
        assert!(st.success(), "build-test-image.sh failed");
    }
    dir
}

/// Removes everything the test created, also when it panics.
struct Guard {
    ns: String,
    root: PathBuf,
    children: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // QEMU processes (daemonized: by pid file).
        let mut pidfiles = vec![self.root.join("bare.pid")];
        if let Ok(rd) = std::fs::read_dir(self.root.join("state/instances")) {
            for e in rd.flatten() {
                pidfiles.push(e.path().join("qemu.pid"));
            }
        }
        for p in pidfiles {
            if let Ok(pid) = std::fs::read_to_string(&p) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn count(text: &str, pat: &str) -> usize {
    text.matches(pat).count()
}

/// Poll `f` until it returns `Some`, or panic after `within`.
async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until the console holds `n` boot markers; the time it took.
async fn wait_markers(d: &dyn ComputeDriver, uuid: &str, n: usize) -> Duration {
    let t = Instant::now();
    wait_for("guest marker", Duration::from_secs(180), || async {
        let out = d.console_output(uuid, None).await.unwrap();
        (count(&out, "RUSTACK-GUEST-UP") >= n).then_some(())
    })
    .await;
    t.elapsed()
}

/// Run a shell command on the guest through the serial socket; its output.
fn guest_exec(sock: &Path, cmd: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let n: u32 = 4000 + std::process::id() % 1000;
    let end = format!("__E{}__", n + 1);
    s.write_all(format!("\necho __B$(({n}+1))__; {cmd}; echo __E$(({n}+1))__\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
            Err(_) => {}
        }
        if String::from_utf8_lossy(&buf).contains(&end) {
            break;
        }
    }
    let out = String::from_utf8_lossy(&buf).replace('\r', "");
    let begin = format!("__B{}__\n", n + 1);
    match (out.rfind(&begin), out.rfind(&end)) {
        (Some(i), Some(j)) if j > i => out[i + begin.len()..j].to_string(),
        _ => panic!("no answer from the guest to {cmd:?}: {out}"),
    }
}

fn links(ns: &str) -> String {
    ok(&["ip", "-n", ns, "-o", "link", "show"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_driver_lifecycle_on_the_real_host() {
    if !enabled() {
        return;
    }
    let images = image_dir();
    let image = images.join("rustack-test.qcow2");
    let image_alt = images.join("rustack-test-alt.qcow2");
    let tag = format!("{:05x}", std::process::id() & 0xfffff);
    let ns = format!("rvt{tag}");
    let root = tempfile::Builder::new()
        .prefix("rvt")
        .tempdir()
        .unwrap()
        .keep();
    let mut guard = Guard {
        ns: ns.clone(),
        root: root.clone(),
        children: Vec::new(),
    };

    // The "host" namespace: bridge with the gateway and the metadata address.
    ok(&["ip", "netns", "add", &ns]);
    ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
    ok(&["ip", "-n", &ns, "link", "add", "br0", "type", "bridge"]);
    ok(&["ip", "-n", &ns, "link", "set", "br0", "up"]);
    ok(&["ip", "-n", &ns, "addr", "add", "10.99.0.1/24", "dev", "br0"]);
    ok(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        "169.254.169.254/32",
        "dev",
        "br0",
    ]);
    let mac = "fa:16:3e:99:00:10";
    let mac2 = "fa:16:3e:99:00:11";
    let dnsmasq = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "dnsmasq",
            "--keep-in-foreground",
            "--port=0",
        ])
        .args([
            "--no-resolv",
            "--no-hosts",
            "--interface=br0",
            "--bind-interfaces",
        ])
        .args(["--dhcp-range=10.99.0.0,static,255.255.255.0,600s"])
        .arg(format!("--dhcp-host={mac},10.99.0.10,guest1"))
        .arg(format!("--dhcp-host={mac2},10.99.0.11,guest1b"))
        .args([
            "--dhcp-option=option:router,10.99.0.1",
            "--conf-file=/dev/null",
        ])
        .arg(format!(
            "--dhcp-leasefile={}",
            root.join("leases").display()
        ))
        .arg(format!("--pid-file={}", root.join("dnsmasq.pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    guard.children.push(dnsmasq);
    // Metadata: static files served by busybox httpd on 169.254.169.254:80.
    let md = root.join("md");
    std::fs::create_dir_all(md.join("openstack/latest")).unwrap();
    std::fs::create_dir_all(md.join("latest/meta-data/public-keys/0")).unwrap();
    std::fs::write(
        md.join("openstack/latest/meta_data.json"),
        r#"{"uuid": "meta-uuid", "hostname": "guest-one", "name": "guest-one"}"#,
    )
    .unwrap();
    // A real key pair when ssh-keygen exists (the guest's dropbear accepts it).
    let key = root.join("id_ed25519");
    let have_ssh = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test@rustack", "-f"])
        .arg(&key)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && Command::new("ssh").arg("-V").output().is_ok();
    let pubkey = if have_ssh {
        std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    } else {
        "ssh-ed25519 AAAAC3Nza-rustack-test-key test@rustack".to_string()
    };
    std::fs::write(
        md.join("latest/meta-data/public-keys/0/openssh-key"),
        &pubkey,
    )
    .unwrap();
    let httpd = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "169.254.169.254:80",
            "-h",
        ])
        .arg(&md)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    guard.children.push(httpd);

    // The driver (and its accelerator choice, used for the floor too).
    let state_dir = root.join("state");
    let mut cfg = QemuConfig::new(&state_dir);
    cfg.accel = Accel::Auto;
    cfg.netns = Some(ns.clone());
    cfg.soft_reboot_timeout = Duration::from_secs(30);
    let drv = Arc::new(QemuDriver::new(cfg.clone()).unwrap());
    if Path::new("/sys/module/kvm_pvm").exists() || !Path::new("/dev/kvm").exists() {
        assert_eq!(
            drv.accel(),
            rustack_virt::qemu::ResolvedAccel::Tcg,
            "no KVM, or a KVM (kvm_pvm) that cannot run stock kernels: TCG"
        );
    }
    println!("accelerator: {:?}", drv.accel());
    // 1. The physical floor: bare QEMU, same disk kind and NIC, launch -> marker.
    let bare_disk = root.join("bare.qcow2");
    let (img_s, bare_s) = (image.display().to_string(), bare_disk.display().to_string());
    ok(&[
        "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", &img_s, &bare_s, "1G",
    ]);
    let bare_tap = format!("tapbare{tag}");
    ok(&[
        "ip", "-n", &ns, "tuntap", "add", "dev", &bare_tap, "mode", "tap", "vnet_hdr",
    ]);
    ok(&[
        "ip", "-n", &ns, "link", "set", &bare_tap, "master", "br0", "up",
    ]);
    let bare_log = root.join("bare.log");
    let accel = match drv.accel() {
        rustack_virt::qemu::ResolvedAccel::Kvm => "kvm",
        rustack_virt::qemu::ResolvedAccel::Tcg => "tcg",
    };
    let t0 = Instant::now();
    ok(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-m",
        "256",
        "-display",
        "none",
        "-no-user-config",
        "-nodefaults",
        "-drive",
        &format!("file={},if=virtio,format=qcow2", bare_disk.display()),
        "-netdev",
        &format!("tap,id=n0,ifname={bare_tap},script=no,downscript=no"),
        "-device",
        &format!("virtio-net-pci,netdev=n0,mac={mac}"),
        "-serial",
        &format!("file:{}", bare_log.display()),
        "-pidfile",
        &root.join("bare.pid").display().to_string(),
        "-daemonize",
    ]);
    wait_for("bare marker", Duration::from_secs(180), || async {
        let s = std::fs::read_to_string(&bare_log).unwrap_or_default();
        s.contains("RUSTACK-GUEST-UP").then_some(())
    })
    .await;
    let floor = t0.elapsed();
    let bare_pid = std::fs::read_to_string(root.join("bare.pid")).unwrap();
    ok(&["kill", "-KILL", bare_pid.trim()]);
    let _ = std::fs::remove_file(root.join("bare.pid"));
    ok(&["ip", "-n", &ns, "link", "del", &bare_tap]);

    // 2. spawn() -> marker.
    let d: Arc<dyn ComputeDriver> = drv.clone();
    let info = d.host_info().await.unwrap();
    assert_eq!(info.hypervisor_type, "QEMU");
    assert!(info.hypervisor_version >= 7_000_000, "{info:?}");
    assert!(info.memory_mb > 0 && info.vcpus > 0);

    let uuid = format!("0b6f3b7e-0e4c-4a55-9a53-7f0d3a2{tag}");
    let port1 = format!("{tag}aa-1111-2222-3333-444455556666");
    let nic = Nic::for_port(&port1, mac, 1450);
    let spec = InstanceSpec {
        uuid: uuid.clone(),
        name: "guest1".to_string(),
        vcpus: 1,
        memory_mb: 256,
        root_gb: 1,
        image_path: image.clone(),
        image_format: "qcow2".to_string(),
        nics: vec![nic.clone()],
        config_drive: Some(vec![(
            "openstack/latest/meta_data.json".to_string(),
            br#"{"uuid": "cd"}"#.to_vec(),
        )]),
        ..Default::default()
    };
    let t1 = Instant::now();
    d.spawn(&spec).await.unwrap();
    let spawn_returned = t1.elapsed();
    // What the network agent does: enslave the port's TAP to the network's bridge.
    ok(&[
        "ip",
        "-n",
        &ns,
        "link",
        "set",
        &nic.tap_name,
        "master",
        "br0",
    ]);
    assert!(links(&ns).contains(&nic.tap_name));
    assert!(links(&ns).contains("mtu 1450"));
    wait_markers(d.as_ref(), &uuid, 1).await;
    let to_marker = t1.elapsed();
    println!(
        "BOOT physical floor (bare QEMU launch -> RUSTACK-GUEST-UP): {:.2}s; \
         spawn() returned after {:.2}s; spawn() -> RUSTACK-GUEST-UP: {:.2}s",
        floor.as_secs_f64(),
        spawn_returned.as_secs_f64(),
        to_marker.as_secs_f64()
    );
    let console = d.console_output(&uuid, None).await.unwrap();
    assert!(
        console.contains("RUSTACK-GUEST-UP ip=10.99.0.10"),
        "{console}"
    );
    assert!(
        console.contains("RUSTACK-METADATA hostname=guest-one uuid=meta-uuid"),
        "{console}"
    );
    assert!(
        console.contains(&format!("RUSTACK-PUBKEY {pubkey}")),
        "{console}"
    );
    assert!(console.contains("image=rustack-test "), "{console}");
    let tail = d.console_output(&uuid, Some(3)).await.unwrap();
    assert!(tail.lines().count() <= 3 && console.ends_with(&tail));
    // The guest's web server answers its hostname through the bridge.
    let page = ok(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://10.99.0.10/",
    ]);
    assert_eq!(page.trim(), "guest-one");
    // SSH with the metadata key (dropbear; host key generated on first connection).
    if have_ssh {
        let t = Instant::now();
        let key_s = key.display().to_string();
        let out = ok(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "ssh",
            "-i",
            &key_s,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=60",
            "-o",
            "LogLevel=ERROR",
            "root@10.99.0.10",
            "hostname",
        ]);
        assert_eq!(out.trim(), "guest-one");
        println!(
            "ssh root@guest with the metadata key: {:.2}s",
            t.elapsed().as_secs_f64()
        );
    }
    // The config drive is an ISO labelled config-2 attached as a CD-ROM.
    let cd = drv.paths(&uuid).config_drive;
    let iso = std::fs::read(&cd).unwrap();
    assert_eq!(&iso[0x8001..0x8006], b"CD001");
    assert_eq!(&iso[0x8028..0x8030], b"config-2");
    assert_eq!(
        guest_exec(&drv.paths(&uuid).serial_sock, "cat /sys/block/sr0/size").trim(),
        (iso.len() / 512).to_string()
    );

    // 3. Power actions.
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Running);
    d.pause(&uuid).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Paused);
    assert!(d.pause(&uuid).await.is_err());
    d.unpause(&uuid).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Running);
    d.suspend(&uuid).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Suspended);
    assert!(d.unpause(&uuid).await.is_err());
    d.resume(&uuid).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Running);

    let t = Instant::now();
    d.power_off(&uuid, Duration::from_secs(30)).await.unwrap();
    let off = t.elapsed();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Shutdown);
    assert!(
        d.console_output(&uuid, None)
            .await
            .unwrap()
            .contains("RUSTACK-GUEST-POWEROFF"),
        "the guest handled the ACPI power button"
    );
    println!("graceful power_off took {:.2}s", off.as_secs_f64());
    assert!(!drv.paths(&uuid).qmp_sock.exists());
    assert!(d.pause(&uuid).await.is_err());
    d.power_on(&uuid).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Running);
    wait_markers(d.as_ref(), &uuid, 2).await;

    d.reboot(&uuid, true).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Running);
    let hard = wait_markers(d.as_ref(), &uuid, 3).await;
    d.reboot(&uuid, false).await.unwrap();
    let soft = wait_markers(d.as_ref(), &uuid, 4).await;
    let console = d.console_output(&uuid, None).await.unwrap();
    assert_eq!(
        count(&console, "RUSTACK-GUEST-POWEROFF"),
        2,
        "soft reboot went through ACPI"
    );
    println!(
        "hard reboot -> marker {:.2}s; soft reboot -> marker {:.2}s",
        hard.as_secs_f64(),
        soft.as_secs_f64()
    );

    // 4. Snapshot: a standalone qcow2.
    let snap = root.join("snap.qcow2");
    d.snapshot(&uuid, &snap).await.unwrap();
    assert_eq!(d.state(&uuid).await.unwrap(), PowerState::Running);
    let info: serde_json::Value = serde_json::from_str(&ok(&[
        "qemu-img",
        "info",
        "--output=json",
        &snap.display().to_string(),
    ]))
    .unwrap();
    assert_eq!(info["format"], "qcow2");
    assert!(info.get("backing-filename").is_none(), "{info}");
    assert_eq!(info["virtual-size"], 1u64 << 30);

    // 5. NIC hot-plug.
    let port2 = format!("{tag}bb-1111-2222-3333-444455556666");
    let nic2 = Nic::for_port(&port2, mac2, 1400);
    d.attach_interface(&uuid, &nic2).await.unwrap();
    assert!(links(&ns).contains(&nic2.tap_name));
    let sock = drv.paths(&uuid).serial_sock;
    let netdevs = guest_exec(&sock, "sleep 1; ls /sys/class/net");
    assert!(netdevs.contains("eth1"), "{netdevs}");
    assert!(d.attach_interface(&uuid, &nic2).await.is_err());
    d.detach_interface(&uuid, &port2).await.unwrap();
    assert!(!links(&ns).contains(&nic2.tap_name));
    let netdevs = guest_exec(&sock, "ls /sys/class/net");
    assert!(!netdevs.contains("eth1"), "{netdevs}");
    assert!(d.detach_interface(&uuid, &port2).await.is_err());

    // 6. Resize (grow the disk, more memory) and rebuild with the other image.
    let mut bigger = spec.clone();
    bigger.vcpus = 2;
    bigger.memory_mb = 320;
    bigger.root_gb = 2;
    d.resize(&bigger).await.unwrap();
    wait_markers(d.as_ref(), &uuid, 5).await;
    let disk: serde_json::Value = serde_json::from_str(&ok(&[
        "qemu-img",
        "info",
        "-U",
        "--output=json",
        &drv.paths(&uuid).disk.display().to_string(),
    ]))
    .unwrap();
    assert_eq!(disk["virtual-size"], 2u64 << 30);
    assert_eq!(guest_exec(&sock, "nproc").trim(), "2");
    let mut alt = bigger.clone();
    alt.image_path = image_alt.clone();
    d.rebuild(&alt).await.unwrap();
    wait_markers(d.as_ref(), &uuid, 6).await;
    let console = d.console_output(&uuid, Some(20)).await.unwrap();
    assert!(console.contains("image=rustack-test-alt"), "{console}");

    // 7. Re-adoption: a new driver on the same state dir finds the running guest.
    let pid = std::fs::read_to_string(drv.paths(&uuid).pidfile).unwrap();
    drop(d);
    drop(drv);
    let drv2 = QemuDriver::new(cfg).unwrap();
    assert_eq!(
        drv2.list().await.unwrap(),
        vec![(uuid.clone(), PowerState::Running)]
    );
    drv2.pause(&uuid).await.unwrap();
    assert_eq!(drv2.state(&uuid).await.unwrap(), PowerState::Paused);

    // 8. Destroy leaves nothing behind; twice is fine.
    drv2.destroy(&uuid).await.unwrap();
    drv2.destroy(&uuid).await.unwrap();
    // The process is gone (at most a zombie until init reaps it).
    wait_for("QEMU to be reaped", Duration::from_secs(10), || async {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
        (!String::from_utf8_lossy(&cmdline).contains(&uuid)).then_some(())
    })
    .await;
    assert!(!links(&ns).contains(&nic.tap_name));
    assert!(!drv2.paths(&uuid).dir.exists());
    assert!(drv2.list().await.unwrap().is_empty());
    assert!(drv2.state(&uuid).await.unwrap_err().is_not_found());

    // 9. Config drive only (no NIC, so no metadata service): the guest mounts the
    // ISO labelled config-2 and reads its metadata from it, as cloud-init would.
    let uuid_cd = format!("{uuid}-cd");
    let spec_cd = InstanceSpec {
        uuid: uuid_cd.clone(),
        name: "guest-cd".to_string(),
        vcpus: 1,
        memory_mb: 256,
        image_path: image.clone(),
        image_format: "qcow2".to_string(),
        config_drive: Some(vec![
            (
                "openstack/latest/meta_data.json".to_string(),
                br#"{"uuid": "cd-uuid", "hostname": "from-config-drive", "public_keys": {"k": "ssh-ed25519 AAAACDkey test"}}"#.to_vec(),
            ),
            ("openstack/latest/user_data".to_string(), b"#!/bin/sh\n".to_vec()),
        ]),
        ..Default::default()
    };
    drv2.spawn(&spec_cd).await.unwrap();
    wait_markers(&drv2, &uuid_cd, 1).await;
    let console = drv2.console_output(&uuid_cd, None).await.unwrap();
    assert!(
        console.contains("RUSTACK-CONFIG-DRIVE meta_data.json user_data"),
        "{console}"
    );
    assert!(
        console.contains("RUSTACK-METADATA hostname=from-config-drive uuid=cd-uuid"),
        "{console}"
    );
    assert!(
        console.contains("RUSTACK-PUBKEY ssh-ed25519 AAAACDkey test"),
        "{console}"
    );
    drv2.destroy(&uuid_cd).await.unwrap();
    assert!(drv2.list().await.unwrap().is_empty());
    drop(guard);
}
