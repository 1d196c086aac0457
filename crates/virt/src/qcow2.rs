//! A minimal qcow2 (version 3) writer for empty images: header, one refcount table
//! cluster, one refcount block and an all-zero L1 table. The simulated driver uses it
//! for snapshots when there is no image file to copy; `qemu-img check` accepts it.

const CLUSTER_BITS: u32 = 16;
const CLUSTER: usize = 1 << CLUSTER_BITS;
/// Guest bytes one L1 entry maps: a cluster of 8-byte L2 entries, each a cluster.
const L1_ENTRY_SPAN: u64 = (CLUSTER as u64) * (CLUSTER as u64 / 8);
/// The single L1 cluster holds 8192 entries: 4 TiB.
const MAX_SIZE: u64 = L1_ENTRY_SPAN * (CLUSTER as u64 / 8);

/// An empty qcow2 image of `size` guest bytes (clamped to 4 TiB, rounded up to 512).
pub fn empty_image(size: u64) -> Vec<u8> {
    let size = size.clamp(512, MAX_SIZE).div_ceil(512) * 512;
    let l1_size = size.div_ceil(L1_ENTRY_SPAN);
    let refcount_table = CLUSTER as u64;
    let refcount_block = 2 * CLUSTER as u64;
    let l1_table = 3 * CLUSTER as u64;
    let mut img = vec![0u8; 4 * CLUSTER];
    let mut h = Vec::with_capacity(112);
    h.extend_from_slice(b"QFI\xfb");
    h.extend_from_slice(&3u32.to_be_bytes()); // version
    h.extend_from_slice(&0u64.to_be_bytes()); // backing file offset
    h.extend_from_slice(&0u32.to_be_bytes()); // backing file size
    h.extend_from_slice(&CLUSTER_BITS.to_be_bytes());
    h.extend_from_slice(&size.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes()); // no encryption
    h.extend_from_slice(&(l1_size as u32).to_be_bytes());
    h.extend_from_slice(&l1_table.to_be_bytes());
    h.extend_from_slice(&refcount_table.to_be_bytes());
    h.extend_from_slice(&1u32.to_be_bytes()); // refcount table clusters
    h.extend_from_slice(&0u32.to_be_bytes()); // snapshots
    h.extend_from_slice(&0u64.to_be_bytes()); // snapshots offset
    h.extend_from_slice(&0u64.to_be_bytes()); // incompatible features
    h.extend_from_slice(&0u64.to_be_bytes()); // compatible features
    h.extend_from_slice(&0u64.to_be_bytes()); // autoclear features
    h.extend_from_slice(&4u32.to_be_bytes()); // refcount order: 16-bit refcounts
    h.extend_from_slice(&104u32.to_be_bytes()); // header length
    h.extend_from_slice(&[0u8; 8]); // end of header extensions
    img[..h.len()].copy_from_slice(&h);
    let rt = refcount_table as usize;
    img[rt..rt + 8].copy_from_slice(&refcount_block.to_be_bytes());
    let rb = refcount_block as usize;
    for cluster in 0..4 {
        img[rb + 2 * cluster..rb + 2 * cluster + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    img
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let img = empty_image(1 << 30);
        assert_eq!(&img[..4], b"QFI\xfb");
        assert_eq!(u32::from_be_bytes([img[4], img[5], img[6], img[7]]), 3);
        let mut size = [0u8; 8];
        size.copy_from_slice(&img[24..32]);
        assert_eq!(u64::from_be_bytes(size), 1 << 30);
        // 1 GiB needs two L1 entries of 512 MiB each.
        assert_eq!(u32::from_be_bytes([img[36], img[37], img[38], img[39]]), 2);
        assert_eq!(img.len(), 4 * CLUSTER);
    }

    #[test]
    fn qemu_img_check_accepts_it() {
        if std::process::Command::new("qemu-img")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("qemu-img not installed; skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.qcow2");
        std::fs::write(&p, empty_image(3 << 30)).unwrap();
        let out = std::process::Command::new("qemu-img")
            .args(["check", "-f", "qcow2"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let info = std::process::Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(&p)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(v["virtual-size"], 3u64 << 30);
        assert_eq!(v["format"], "qcow2");
    }
}
