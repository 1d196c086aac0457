//! Host facts for [`HostInfo`](crate::types::HostInfo) and the accelerator probe.

use std::path::Path;

/// QEMU's version (`QEMU emulator version 10.0.2 (Debian ...)`) as Nova encodes it:
/// major * 1_000_000 + minor * 1_000 + micro.
pub fn parse_qemu_version(out: &str) -> Option<u64> {
    let rest = out.split("version ").nth(1)?;
    let v = rest.split_whitespace().next()?;
    let mut parts = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u64>()
            .ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let micro = parts.next().flatten().unwrap_or(0);
    Some(major * 1_000_000 + minor * 1_000 + micro)
}

/// `MemTotal` of `/proc/meminfo` in MiB.
pub fn parse_meminfo_mb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Total size in GiB from `df -P -k DIR` output.
pub fn parse_df_gb(df: &str) -> Option<u64> {
    let line = df.lines().nth(1)?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / (1024 * 1024))
}

/// Nova-style `cpu_info` JSON from `/proc/cpuinfo`.
pub fn cpu_info_json(cpuinfo: &str, cores: u32) -> String {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().map(str::trim) == Some(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let features: Vec<String> = field("flags")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    serde_json::json!({
        "arch": std::env::consts::ARCH,
        "model": field("model name"),
        "vendor": field("vendor_id"),
        "topology": {"sockets": 1, "cores": cores, "threads": 1},
        "features": features,
    })
    .to_string()
}

/// Whether KVM can run stock guest kernels here: `/dev/kvm` opens read-write and the
/// KVM implementation is Intel VT-x or AMD-V. `kvm_pvm` (a paravirtualized KVM found on
/// some cloud VMs) opens fine but hangs stock Debian kernels, so it counts as unusable.
pub fn kvm_usable(dev_kvm: &Path, sys_module: &Path) -> bool {
    let opens = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev_kvm)
        .is_ok();
    let hw = sys_module.join("kvm_intel").exists() || sys_module.join("kvm_amd").exists();
    let pvm = sys_module.join("kvm_pvm").exists();
    opens && hw && !pvm
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_qemu_version(
                "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright"
            ),
            Some(10_000_002)
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 7.2.19"),
            Some(7_002_019)
        );
        assert_eq!(parse_qemu_version("garbage"), None);
    }

    #[test]
    fn meminfo_and_df() {
        assert_eq!(
            parse_meminfo_mb("MemTotal:       24592012 kB\nMemFree: 1 kB\n"),
            Some(24015)
        );
        assert_eq!(
            parse_df_gb("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 103081248 1 2 1% /\n"),
            Some(98)
        );
        assert_eq!(parse_df_gb(""), None);
    }

    #[test]
    fn cpu_info() {
        let v: serde_json::Value = serde_json::from_str(&cpu_info_json(
            "vendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t\t: fpu vme sse2\n",
            2,
        ))
        .unwrap();
        assert_eq!(v["vendor"], "GenuineIntel");
        assert_eq!(v["model"], "Xeon");
        assert_eq!(v["features"][2], "sse2");
        assert_eq!(v["topology"]["cores"], 2);
    }

    #[test]
    fn kvm_probe_rules() {
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("kvm");
        std::fs::write(&dev, b"").unwrap();
        let sys = d.path().join("module");
        std::fs::create_dir_all(sys.join("kvm")).unwrap();
        assert!(!kvm_usable(&dev, &sys), "no vendor module");
        std::fs::create_dir_all(sys.join("kvm_intel")).unwrap();
        assert!(kvm_usable(&dev, &sys));
        std::fs::create_dir_all(sys.join("kvm_pvm")).unwrap();
        assert!(!kvm_usable(&dev, &sys), "PVM hangs stock kernels");
        assert!(!kvm_usable(&d.path().join("missing"), &sys));
    }
}
