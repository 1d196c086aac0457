//! The QEMU command line of an instance: a pure function of the configuration, the
//! resolved accelerator, the spec and the instance paths (unit-tested without QEMU).

use crate::qemu::paths::InstancePaths;
use crate::qemu::volume::{self, AttachedVolume};
use crate::qemu::{QemuConfig, ResolvedAccel};
use crate::types::{InstanceSpec, Nic};

/// Escape a value for QEMU's `key=value,...` option syntax (a comma is doubled).
pub fn opt_escape(s: &str) -> String {
    s.replace(',', ",,")
}

/// A QEMU identifier from a port id: letters, digits and `-` only, at most 11 characters.
fn port_key(nic: &Nic) -> String {
    nic.port_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(11)
        .collect()
}

/// The `-netdev` id of a NIC.
pub fn netdev_id(nic: &Nic) -> String {
    format!("net-{}", port_key(nic))
}

/// The `-device` id of a NIC.
pub fn nic_device_id(nic: &Nic) -> String {
    format!("nic-{}", port_key(nic))
}

/// `-netdev` value of a NIC (persistent TAP created beforehand, no helper scripts,
/// no vhost: this host kernel has no VHOST_NET).
pub fn netdev_arg(nic: &Nic) -> String {
    format!(
        "tap,id={},ifname={},script=no,downscript=no,vnet_hdr=on",
        netdev_id(nic),
        opt_escape(&nic.tap_name)
    )
}

/// `-device` value of a NIC.
pub fn nic_device_arg(nic: &Nic) -> String {
    format!(
        "virtio-net-pci,netdev={},mac={},id={}",
        netdev_id(nic),
        opt_escape(&nic.mac),
        nic_device_id(nic)
    )
}

fn drive(path: &std::path::Path, id: &str, extra: &str) -> String {
    format!(
        "file={},if=none,id={id},format=qcow2,cache=writeback,aio=threads{extra}",
        opt_escape(&path.to_string_lossy())
    )
}

/// Whether `s` looks like a UUID (`-uuid` sets the SMBIOS system UUID from it).
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The full argument vector (without the program) that starts `spec` daemonized, with
/// its attached `volumes` (a boot volume replaces the image root disk). Volume secrets
/// appear only as ciphertext under the master key (`-object secret,...,keyid=`).
/// `rescued`: the guest boots from the rescue disk (vda) and sees its own root disk
/// second (vdb), as Nova's libvirt rescue.
pub fn qemu_args(
    cfg: &QemuConfig,
    accel: ResolvedAccel,
    spec: &InstanceSpec,
    p: &InstancePaths,
    volumes: &[AttachedVolume],
    rescued: bool,
) -> Result<Vec<String>, crate::VirtError> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    push(
        "-name",
        format!("guest=instance-{},debug-threads=on", opt_escape(&spec.uuid)),
    );
    if is_uuid(&spec.uuid) {
        push("-uuid", spec.uuid.clone());
    }
    push("-machine", opt_escape(&cfg.machine));
    match accel {
        ResolvedAccel::Kvm => {
            push("-accel", "kvm".to_string());
            push(
                "-cpu",
                cfg.cpu_model.clone().unwrap_or_else(|| "host".to_string()),
            );
        }
        ResolvedAccel::Tcg => {
            push("-accel", "tcg".to_string());
            if let Some(cpu) = &cfg.cpu_model {
                push("-cpu", cpu.clone());
            }
        }
    }
    push("-m", spec.memory_mb.max(16).to_string());
    push("-smp", spec.vcpus.max(1).to_string());
    push("-display", "none".to_string());
    push("-vga", "none".to_string());
    a.push("-no-user-config".to_string());
    a.push("-nodefaults".to_string());
    // A guest that powers itself off stays as a process in state `shutdown`, so the
    // driver can tell that from a crash.
    a.push("-no-shutdown".to_string());
    let mut push = |k: &str, v: String| {
        a.push(k.to_string());
        a.push(v);
    };
    push("-object", volume::master_key_object_arg(&p.master_key));
    for v in volumes {
        if let Some(o) = volume::secret_object_arg(v) {
            push("-object", o);
        }
    }
    // The root disk first (the guest's vda): the boot volume or the image overlay.
    let (boot, data): (Vec<&AttachedVolume>, Vec<&AttachedVolume>) =
        volumes.iter().partition(|v| v.is_boot());
    if rescued {
        push("-drive", drive(&p.rescue_disk, "rescue0", ""));
        push(
            "-device",
            "virtio-blk-pci,drive=rescue0,id=vda-rescue,bootindex=1".to_string(),
        );
    }
    let root_boot = if rescued { "" } else { ",bootindex=1" };
    match boot.first() {
        Some(_) if rescued => {
            return Err(crate::VirtError::Unsupported(
                "rescue of a volume-backed instance".to_string(),
            ))
        }
        Some(b) => {
            push("-blockdev", volume::blockdev(b)?.to_string());
            push("-device", volume::device_arg(b));
        }
        None => {
            push("-drive", drive(&p.disk, "disk0", ""));
            push(
                "-device",
                format!("virtio-blk-pci,drive=disk0,id=vda{root_boot}"),
            );
        }
    }
    if spec.ephemeral_gb > 0 {
        push("-drive", drive(&p.ephemeral, "disk1", ""));
        push("-device", "virtio-blk-pci,drive=disk1,id=vdb".to_string());
    }
    if spec.swap_mb > 0 {
        push("-drive", drive(&p.swap, "disk2", ""));
        push("-device", "virtio-blk-pci,drive=disk2,id=vdc".to_string());
    }
    if spec.config_drive.is_some() {
        push(
            "-drive",
            format!(
                "file={},if=none,id=cdrom0,format=raw,readonly=on,media=cdrom",
                opt_escape(&p.config_drive.to_string_lossy())
            ),
        );
        push("-device", "ide-cd,drive=cdrom0,id=cd0".to_string());
    }
    for v in data {
        push("-blockdev", volume::blockdev(v)?.to_string());
        push("-device", volume::device_arg(v));
    }
    for nic in &spec.nics {
        push("-netdev", netdev_arg(nic));
        push("-device", nic_device_arg(nic));
    }
    push(
        "-chardev",
        format!(
            "socket,id=ser0,path={},server=on,wait=off,logfile={},logappend=on",
            opt_escape(&p.serial_sock.to_string_lossy()),
            opt_escape(&p.console_log.to_string_lossy())
        ),
    );
    push("-serial", "chardev:ser0".to_string());
    push(
        "-qmp",
        format!(
            "unix:{},server=on,wait=off",
            opt_escape(&p.qmp_sock.to_string_lossy())
        ),
    );
    push("-pidfile", p.pidfile.to_string_lossy().into_owned());
    a.push("-daemonize".to_string());
    Ok(a)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec() -> InstanceSpec {
        InstanceSpec {
            uuid: "0b6f3b7e-0e4c-4a55-9a53-7f0d3a2b1c00".to_string(),
            name: "vm1".to_string(),
            vcpus: 2,
            memory_mb: 256,
            root_gb: 1,
            image_format: "qcow2".to_string(),
            nics: vec![Nic::for_port(
                "5e1a6c2e-8d1b-4f5e-9b7a-1c2d3e4f5a6b",
                "fa:16:3e:11:22:33",
                1450,
            )],
            ..Default::default()
        }
    }

    fn pos(a: &[String], k: &str, v: &str) -> bool {
        a.windows(2).any(|w| w[0] == k && w[1] == v)
    }

    #[test]
    fn tcg_command_line() {
        let cfg = QemuConfig::new("/var/lib/rustack/compute");
        let s = spec();
        let p = InstancePaths::new(Path::new("/var/lib/rustack/compute"), &s.uuid);
        let a = qemu_args(&cfg, ResolvedAccel::Tcg, &s, &p, &[], false).unwrap();
        assert!(pos(&a, "-accel", "tcg"));
        assert!(!a.contains(&"-cpu".to_string()));
        assert!(pos(&a, "-m", "256"));
        assert!(pos(&a, "-smp", "2"));
        assert!(pos(&a, "-uuid", &s.uuid));
        assert!(pos(&a, "-machine", "pc"));
        assert!(pos(
            &a,
            "-netdev",
            "tap,id=net-5e1a6c2e-8d,ifname=tap5e1a6c2e-8d,script=no,downscript=no,vnet_hdr=on"
        ));
        assert!(pos(
            &a,
            "-device",
            "virtio-net-pci,netdev=net-5e1a6c2e-8d,mac=fa:16:3e:11:22:33,id=nic-5e1a6c2e-8d"
        ));
        let dir = "/var/lib/rustack/compute/instances/0b6f3b7e-0e4c-4a55-9a53-7f0d3a2b1c00";
        assert!(pos(
            &a,
            "-drive",
            &format!("file={dir}/disk,if=none,id=disk0,format=qcow2,cache=writeback,aio=threads")
        ));
        assert!(pos(
            &a,
            "-qmp",
            &format!("unix:{dir}/qmp.sock,server=on,wait=off")
        ));
        assert!(pos(&a, "-chardev", &format!("socket,id=ser0,path={dir}/serial.sock,server=on,wait=off,logfile={dir}/console.log,logappend=on")));
        assert!(pos(&a, "-pidfile", &format!("{dir}/qemu.pid")));
        assert_eq!(a.last().unwrap(), "-daemonize");
        assert!(a.contains(&"-no-shutdown".to_string()));
        // No optional disks.
        assert!(!a
            .iter()
            .any(|x| x.contains("cdrom0") || x.contains("disk1")));
    }

    #[test]
    fn kvm_optional_disks_and_escaping() {
        let mut cfg = QemuConfig::new("/srv/a,b");
        cfg.cpu_model = None;
        let mut s = spec();
        s.uuid = "not-a-uuid".to_string();
        s.ephemeral_gb = 1;
        s.swap_mb = 512;
        s.config_drive = Some(vec![]);
        let p = InstancePaths::new(Path::new("/srv/a,b"), &s.uuid);
        let a = qemu_args(&cfg, ResolvedAccel::Kvm, &s, &p, &[], false).unwrap();
        assert!(pos(&a, "-accel", "kvm"));
        assert!(pos(&a, "-cpu", "host"));
        assert!(!a.contains(&"-uuid".to_string()));
        assert!(a
            .iter()
            .any(|x| x.starts_with("file=/srv/a,,b/instances/not-a-uuid/disk.eph0,")));
        assert!(a
            .iter()
            .any(|x| x.starts_with("file=/srv/a,,b/instances/not-a-uuid/disk.swap,")));
        assert!(pos(&a, "-device", "ide-cd,drive=cdrom0,id=cd0"));
        assert!(pos(&a, "-device", "virtio-blk-pci,drive=disk2,id=vdc"));
    }

    #[test]
    fn volumes_on_the_command_line() {
        use crate::types::{VolumeAttachment, VolumeSource};
        let cfg = QemuConfig::new("/srv/c");
        let mut s = spec();
        s.image_path = std::path::PathBuf::new();
        let p = InstancePaths::new(Path::new("/srv/c"), &s.uuid);
        let att = |id: &str, boot: Option<u32>, pass: Option<&str>| VolumeAttachment {
            volume_id: id.to_string(),
            source: VolumeSource::File {
                path: format!("/srv/v/{id}.qcow2").into(),
                format: "qcow2".to_string(),
            },
            luks_passphrase: pass.map(str::to_string),
            read_only: false,
            boot_index: boot,
        };
        let key = [9u8; 32];
        let vols = volume::records_for_spec(
            &s,
            &[
                att("data1", None, Some("s3cr3tpass")),
                att("root1", Some(0), None),
            ],
            &key,
        )
        .unwrap();
        let a = qemu_args(&cfg, ResolvedAccel::Tcg, &s, &p, &vols, false).unwrap();
        let joined = a.join(" ");
        assert!(!joined.contains("s3cr3tpass"));
        // No image root disk; the boot volume is the first disk with bootindex=1.
        assert!(!joined.contains("id=disk0"));
        assert!(pos(
            &a,
            "-device",
            "virtio-blk-pci,drive=vroot1,id=vol-root1,serial=root1,bootindex=1"
        ));
        assert!(pos(
            &a,
            "-device",
            "virtio-blk-pci,drive=vdata1,id=vol-data1,serial=data1"
        ));
        let dev = |needle: &str| a.iter().position(|x| x.contains(needle)).unwrap();
        assert!(dev("drive=vroot1") < dev("drive=vdata1"));
        assert!(pos(
            &a,
            "-object",
            &format!(
                "secret,id=masterKey0,format=raw,file=/srv/c/instances/{}/master-key.aes",
                s.uuid
            )
        ));
        // The volume secret follows the master key and names it.
        assert!(dev("id=masterKey0") < dev("secret,id=sec-data1"));
        assert!(a[dev("secret,id=sec-data1")].contains("keyid=masterKey0,iv="));
        let bd: serde_json::Value =
            serde_json::from_str(&a[dev("\"node-name\":\"vdata1\"")]).unwrap();
        assert_eq!(bd["encrypt"]["key-secret"], "sec-data1");
        assert_eq!(vols[0].device, "/dev/vdb");
        assert_eq!(vols[1].device, "/dev/vda");
    }

    #[test]
    fn rescue_boots_the_rescue_disk_with_the_root_disk_second() {
        let cfg = QemuConfig::new("/srv/c");
        let s = spec();
        let p = InstancePaths::new(Path::new("/srv/c"), &s.uuid);
        let a = qemu_args(&cfg, ResolvedAccel::Tcg, &s, &p, &[], true).unwrap();
        let dir = format!("/srv/c/instances/{}", s.uuid);
        assert!(pos(
            &a,
            "-drive",
            &format!(
                "file={dir}/disk.rescue,if=none,id=rescue0,format=qcow2,cache=writeback,aio=threads"
            )
        ));
        assert!(pos(
            &a,
            "-device",
            "virtio-blk-pci,drive=rescue0,id=vda-rescue,bootindex=1"
        ));
        // The original root disk is still there, second and not bootable.
        assert!(pos(&a, "-device", "virtio-blk-pci,drive=disk0,id=vda"));
        let dev = |needle: &str| a.iter().position(|x| x.contains(needle)).unwrap();
        assert!(dev("drive=rescue0") < dev("drive=disk0"));
        assert_eq!(a.iter().filter(|x| x.contains("bootindex")).count(), 1);
        // Not rescued: the root disk boots.
        let a = qemu_args(&cfg, ResolvedAccel::Tcg, &s, &p, &[], false).unwrap();
        assert!(pos(
            &a,
            "-device",
            "virtio-blk-pci,drive=disk0,id=vda,bootindex=1"
        ));
        assert!(!a.iter().any(|x| x.contains("rescue")));
    }
}
