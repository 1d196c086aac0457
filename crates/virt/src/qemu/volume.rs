//! Volumes of a QEMU guest: the per-instance master key, encrypted LUKS secrets, QEMU
//! names and the `-blockdev`/`-device` arguments and QMP bodies (pure functions, tested
//! without QEMU).
//!
//! Secrets: every instance has 32 random bytes in `<instance dir>/master-key.aes`
//! (0600), loaded at start as `-object secret,id=masterKey0,format=raw,file=...`
//! (libvirt's per-domain master key). A volume's LUKS passphrase is encrypted with
//! AES-256-CBC (PKCS#7) under that key with a random IV; QEMU gets only the ciphertext
//! (`secret` object with `keyid=masterKey0`), on the command line at start and through
//! QMP `object-add` at hot-plug. The instance record keeps that ciphertext, never the
//! passphrase, so a stopped or re-adopted instance starts again with its volumes.
//!
//! Names: QEMU node names are at most 31 characters, so a volume's key is the first
//! 30 letters or digits of its id (the 32 hex digits of a UUID without dashes,
//! truncated): node `v<key>`, device `vol-<key>`, secret `sec-<key>`.
//!
//! Guest device names follow the guest's probe order: `vda` is the root disk (the image
//! overlay or the boot volume), then the ephemeral and swap disks when the flavor has
//! them (the config drive is an IDE CD-ROM), then volumes; a hot-plugged volume gets
//! the first free letter, as the guest kernel assigns it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aes::Aes256;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::VirtError;
use crate::qemu::argv::opt_escape;
use crate::types::{InstanceSpec, VolumeAttachment, VolumeSource};

/// The QOM id of the master key secret.
pub const MASTER_KEY_ID: &str = "masterKey0";

/// A LUKS passphrase encrypted under the instance's master key (base64 fields, as QEMU's
/// `secret` object takes them).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedSecret {
    /// AES-256-CBC ciphertext, base64.
    pub data: String,
    /// The 16-byte IV, base64.
    pub iv: String,
}

impl std::fmt::Debug for EncryptedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptedSecret(..)")
    }
}

/// A volume as the driver remembers it in the instance record: no passphrase, only its
/// ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedVolume {
    /// The volume id (the virtio-blk serial).
    pub volume_id: String,
    /// Where the data is.
    pub source: VolumeSource,
    /// Read-only attach.
    pub read_only: bool,
    /// `Some(0)`: the root disk of a volume-backed server.
    pub boot_index: Option<u32>,
    /// The guest device name reported to Nova (`/dev/vdb`).
    pub device: String,
    /// The LUKS passphrase encrypted under the master key, for encrypted volumes.
    pub secret: Option<EncryptedSecret>,
}

impl AttachedVolume {
    /// The record of `v`, its passphrase encrypted under `master_key`.
    pub fn new(v: &VolumeAttachment, device: String, master_key: &[u8; 32]) -> Self {
        AttachedVolume {
            volume_id: v.volume_id.clone(),
            source: v.source.clone(),
            read_only: v.read_only,
            boot_index: v.boot_index,
            device,
            secret: v
                .luks_passphrase
                .as_ref()
                .map(|p| encrypt_secret(master_key, p.as_bytes())),
        }
    }

    /// Whether this is the boot (root) volume.
    pub fn is_boot(&self) -> bool {
        self.boot_index == Some(0)
    }
}

/// Check what the driver can attach: a file volume in a known format with an absolute
/// path, a usable id, a passphrase for LUKS-in-file formats.
pub fn check_attachment(v: &VolumeAttachment) -> Result<(), VirtError> {
    if volume_key(&v.volume_id).is_empty() {
        return Err(VirtError::InvalidSpec(format!(
            "volume id {:?} has no letters or digits",
            v.volume_id
        )));
    }
    if v.volume_id.contains(',') || v.volume_id.len() > 255 {
        return Err(VirtError::InvalidSpec(format!(
            "bad volume id {:?}",
            v.volume_id
        )));
    }
    match &v.source {
        VolumeSource::File { path, format } => {
            if !path.is_absolute() {
                return Err(VirtError::InvalidSpec(format!(
                    "volume {} path {} is not absolute",
                    v.volume_id,
                    path.display()
                )));
            }
            match (format.as_str(), &v.luks_passphrase) {
                ("qcow2" | "raw", _) => Ok(()),
                ("luks", Some(_)) => Ok(()),
                ("luks", None) => Err(VirtError::InvalidSpec(format!(
                    "volume {} is a LUKS container and no passphrase was given",
                    v.volume_id
                ))),
                (other, _) => Err(VirtError::InvalidSpec(format!(
                    "volume {} format {other:?} is not qcow2, raw or luks",
                    v.volume_id
                ))),
            }
        }
        VolumeSource::Rbd { .. } => Err(VirtError::Unsupported(format!(
            "RBD volume {} on the QEMU driver",
            v.volume_id
        ))),
    }
}

/// The first 30 letters or digits of a volume id, lowercased.
pub fn volume_key(volume_id: &str) -> String {
    volume_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(30)
        .collect()
}

/// The block node name of a volume (at most 31 characters, QEMU's limit).
pub fn node_name(volume_id: &str) -> String {
    format!("v{}", volume_key(volume_id))
}

/// The `-device`/`device_add` id of a volume's virtio-blk device.
pub fn device_id(volume_id: &str) -> String {
    format!("vol-{}", volume_key(volume_id))
}

/// The QOM id of a volume's LUKS secret.
pub fn secret_id(volume_id: &str) -> String {
    format!("sec-{}", volume_key(volume_id))
}

/// Read the instance's master key, creating it (32 random bytes, 0600) when missing.
pub fn load_or_create_master_key(path: &Path) -> Result<[u8; 32], VirtError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            return bytes.as_slice().try_into().map_err(|_| {
                VirtError::io(
                    format!("master key {}", path.display()),
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} bytes instead of 32", bytes.len()),
                    ),
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(VirtError::io(format!("read {}", path.display()), e)),
    }
    let key: [u8; 32] = rand::random();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| VirtError::io(format!("create {}", path.display()), e))?;
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .map_err(|e| VirtError::io(format!("write {}", path.display()), e))?;
    Ok(key)
}

/// Encrypt `plaintext` with AES-256-CBC (PKCS#7) under `key` with a random IV.
pub fn encrypt_secret(key: &[u8; 32], plaintext: &[u8]) -> EncryptedSecret {
    let iv: [u8; 16] = rand::random();
    let ct = cbc::Encryptor::<Aes256>::new(key.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
    EncryptedSecret {
        data: B64.encode(ct),
        iv: B64.encode(iv),
    }
}

/// Decrypt what [`encrypt_secret`] made (offline `qemu-img` use and tests).
pub fn decrypt_secret(key: &[u8; 32], s: &EncryptedSecret) -> Result<Vec<u8>, VirtError> {
    let bad = |what: &str| VirtError::InvalidSpec(format!("unusable volume secret: {what}"));
    let iv: [u8; 16] = B64
        .decode(&s.iv)
        .map_err(|_| bad("IV is not base64"))?
        .as_slice()
        .try_into()
        .map_err(|_| bad("IV is not 16 bytes"))?;
    let ct = B64.decode(&s.data).map_err(|_| bad("data is not base64"))?;
    cbc::Decryptor::<Aes256>::new(key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ct)
        .map_err(|_| bad("wrong key or corrupt data"))
}

/// The `-object` value of the master key.
pub fn master_key_object_arg(path: &Path) -> String {
    format!(
        "secret,id={MASTER_KEY_ID},format=raw,file={}",
        opt_escape(&path.to_string_lossy())
    )
}

/// The `-object` value of a volume's secret (ciphertext only), if encrypted.
pub fn secret_object_arg(v: &AttachedVolume) -> Option<String> {
    v.secret.as_ref().map(|s| {
        format!(
            "secret,id={},data={},keyid={MASTER_KEY_ID},iv={},format=base64",
            secret_id(&v.volume_id),
            s.data,
            s.iv
        )
    })
}

/// The QMP `object-add` arguments of a volume's secret, if encrypted.
pub fn secret_object_qmp(v: &AttachedVolume) -> Option<Value> {
    v.secret.as_ref().map(|s| {
        json!({
            "qom-type": "secret",
            "id": secret_id(&v.volume_id),
            "data": s.data,
            "keyid": MASTER_KEY_ID,
            "iv": s.iv,
            "format": "base64",
        })
    })
}

/// The `blockdev-add` arguments (also the `-blockdev` JSON) of a volume: a format node
/// named [`node_name`] over an inline `file` node.
pub fn blockdev(v: &AttachedVolume) -> Result<Value, VirtError> {
    let VolumeSource::File { path, format } = &v.source else {
        return Err(VirtError::Unsupported(format!(
            "RBD volume {} on the QEMU driver",
            v.volume_id
        )));
    };
    let file = json!({
        "driver": "file",
        "filename": path.to_string_lossy(),
        "aio": "threads",
    });
    let mut node = json!({
        "node-name": node_name(&v.volume_id),
        "read-only": v.read_only,
        "file": file,
    });
    let sec = secret_id(&v.volume_id);
    match (format.as_str(), v.secret.is_some()) {
        // `backing: null`: a volume never opens another file its header might name.
        ("qcow2", true) => {
            node["driver"] = json!("qcow2");
            node["backing"] = Value::Null;
            node["encrypt"] = json!({"format": "luks", "key-secret": sec});
        }
        ("qcow2", false) => {
            node["driver"] = json!("qcow2");
            node["backing"] = Value::Null;
        }
        ("raw", true) | ("luks", true) => {
            node["driver"] = json!("luks");
            node["key-secret"] = json!(sec);
        }
        ("raw", false) => node["driver"] = json!("raw"),
        (other, _) => {
            return Err(VirtError::InvalidSpec(format!(
                "volume {} format {other:?} needs a passphrase or is unknown",
                v.volume_id
            )))
        }
    }
    Ok(node)
}

/// The `-device` value of a volume (`bootindex=1` for the boot volume).
pub fn device_arg(v: &AttachedVolume) -> String {
    let mut s = format!(
        "virtio-blk-pci,drive={},id={},serial={}",
        node_name(&v.volume_id),
        device_id(&v.volume_id),
        opt_escape(&v.volume_id)
    );
    if v.is_boot() {
        s.push_str(",bootindex=1");
    }
    s
}

/// The QMP `device_add` arguments of a hot-plugged volume.
pub fn device_qmp(v: &AttachedVolume) -> Value {
    json!({
        "driver": "virtio-blk-pci",
        "drive": node_name(&v.volume_id),
        "id": device_id(&v.volume_id),
        "serial": v.volume_id,
    })
}

/// `/dev/vd<letters>` for a 0-based disk index (`vda`... `vdz`, `vdaa`...).
pub fn disk_name(index: usize) -> String {
    let mut n = index;
    let mut letters = Vec::new();
    loop {
        letters.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    letters.reverse();
    format!("/dev/vd{}", String::from_utf8_lossy(&letters))
}

/// How many virtio disks precede data volumes: the root disk (image or boot volume),
/// then the ephemeral and swap disks when present.
fn fixed_disks(spec: &InstanceSpec) -> usize {
    1 + usize::from(spec.ephemeral_gb > 0) + usize::from(spec.swap_mb > 0)
}

/// The device name the next data volume gets: the first free letter after the fixed
/// disks.
pub fn next_device(spec: &InstanceSpec, volumes: &[AttachedVolume]) -> String {
    let mut i = fixed_disks(spec);
    loop {
        let name = disk_name(i);
        if !volumes.iter().any(|v| v.device == name) {
            return name;
        }
        i += 1;
    }
}

/// The records of a spec's volumes at spawn: the boot volume is `vda`, data volumes
/// follow the fixed disks in order.
pub fn records_for_spec(
    spec: &InstanceSpec,
    volumes: &[VolumeAttachment],
    master_key: &[u8; 32],
) -> Result<Vec<AttachedVolume>, VirtError> {
    let mut out: Vec<AttachedVolume> = Vec::new();
    if volumes.iter().filter(|v| v.boot_index == Some(0)).count() > 1 {
        return Err(VirtError::InvalidSpec(
            "more than one volume with boot_index 0".to_string(),
        ));
    }
    for v in volumes {
        check_attachment(v)?;
        if out
            .iter()
            .any(|o| node_name(&o.volume_id) == node_name(&v.volume_id))
        {
            return Err(VirtError::InvalidSpec(format!(
                "volume {} is listed twice",
                v.volume_id
            )));
        }
        let device = if v.boot_index == Some(0) {
            disk_name(0)
        } else {
            next_device(spec, &out)
        };
        out.push(AttachedVolume::new(v, device, master_key));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use super::*;

    fn att(id: &str, format: &str, pass: Option<&str>) -> VolumeAttachment {
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

    #[test]
    fn names_fit_qemu_limits() {
        let id = "0b6f3b7e-0e4c-4a55-9a53-7f0d3a2b1c00";
        assert_eq!(node_name(id), "v0b6f3b7e0e4c4a559a537f0d3a2b1c");
        assert_eq!(node_name(id).len(), 31);
        assert_eq!(device_id(id), "vol-0b6f3b7e0e4c4a559a537f0d3a2b1c");
        assert_eq!(secret_id(id), "sec-0b6f3b7e0e4c4a559a537f0d3a2b1c");
        assert_eq!(node_name("Vol_1"), "vvol1");
        assert_eq!(disk_name(0), "/dev/vda");
        assert_eq!(disk_name(1), "/dev/vdb");
        assert_eq!(disk_name(25), "/dev/vdz");
        assert_eq!(disk_name(26), "/dev/vdaa");
        assert_eq!(disk_name(27), "/dev/vdab");
        assert_eq!(disk_name(52), "/dev/vdba");
    }

    #[test]
    fn master_key_and_secret_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("master-key.aes");
        let k1 = load_or_create_master_key(&path).unwrap();
        let k2 = load_or_create_master_key(&path).unwrap();
        assert_eq!(k1, k2);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let pass = "00112233445566778899aabbccddeeff";
        let s = encrypt_secret(&k1, pass.as_bytes());
        assert!(!s.data.contains(pass));
        assert_eq!(B64.decode(&s.data).unwrap().len(), 48);
        assert_eq!(decrypt_secret(&k1, &s).unwrap(), pass.as_bytes());
        // A fresh IV every time.
        assert_ne!(encrypt_secret(&k1, pass.as_bytes()), s);
        let other = [7u8; 32];
        assert!(decrypt_secret(&other, &s)
            .map(|p| p != pass.as_bytes())
            .unwrap_or(true));
        assert!(!format!("{s:?}").contains(&s.data));
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_master_key(&path).is_err());
    }

    #[test]
    fn blockdev_shapes() {
        let key = [1u8; 32];
        let enc = AttachedVolume::new(&att("a1", "qcow2", Some("abcd")), "/dev/vdb".into(), &key);
        let b = blockdev(&enc).unwrap();
        assert_eq!(b["driver"], "qcow2");
        assert_eq!(b["node-name"], "va1");
        assert_eq!(
            b["encrypt"],
            json!({"format": "luks", "key-secret": "sec-a1"})
        );
        assert_eq!(b["file"]["filename"], "/srv/volumes/a1.qcow2");
        assert_eq!(b["file"]["driver"], "file");
        assert_eq!(b["read-only"], false);
        assert!(b.get("backing").is_some_and(Value::is_null));
        let so = secret_object_qmp(&enc).unwrap();
        assert_eq!(so["keyid"], MASTER_KEY_ID);
        assert_eq!(so["format"], "base64");
        assert_eq!(
            decrypt_secret(
                &key,
                &EncryptedSecret {
                    data: so["data"].as_str().unwrap().into(),
                    iv: so["iv"].as_str().unwrap().into()
                }
            )
            .unwrap(),
            b"abcd"
        );
        let arg = secret_object_arg(&enc).unwrap();
        assert!(arg.starts_with("secret,id=sec-a1,data="));
        assert!(!arg.contains("abcd"));

        let mut ro = att("r1", "raw", None);
        ro.read_only = true;
        let ro = AttachedVolume::new(&ro, "/dev/vdc".into(), &key);
        let b = blockdev(&ro).unwrap();
        assert_eq!(b["driver"], "raw");
        assert_eq!(b["read-only"], true);
        assert!(b.get("encrypt").is_none());
        assert!(secret_object_qmp(&ro).is_none());

        let luks = AttachedVolume::new(&att("l1", "luks", Some("x")), "/dev/vdd".into(), &key);
        let b = blockdev(&luks).unwrap();
        assert_eq!(b["driver"], "luks");
        assert_eq!(b["key-secret"], "sec-l1");

        assert!(check_attachment(&att("l2", "luks", None)).is_err());
        assert!(check_attachment(&att("v", "vmdk", None)).is_err());
        assert!(check_attachment(&att("---", "raw", None)).is_err());
        let mut rel = att("rel", "raw", None);
        rel.source = VolumeSource::File {
            path: "rel.qcow2".into(),
            format: "raw".into(),
        };
        assert!(check_attachment(&rel).is_err());
        let rbd = VolumeAttachment {
            source: VolumeSource::Rbd {
                pool: "p".into(),
                image: "i".into(),
                hosts: vec![],
                user: None,
            },
            ..att("rbd", "raw", None)
        };
        assert!(matches!(
            check_attachment(&rbd),
            Err(VirtError::Unsupported(_))
        ));

        assert_eq!(
            device_arg(&enc),
            "virtio-blk-pci,drive=va1,id=vol-a1,serial=a1"
        );
        assert_eq!(
            device_qmp(&enc),
            json!({"driver": "virtio-blk-pci", "drive": "va1", "id": "vol-a1", "serial": "a1"})
        );
    }

    #[test]
    fn device_letters() {
        let key = [0u8; 32];
        let mut spec = InstanceSpec::default();
        let vols = vec![att("a", "qcow2", None), att("b", "qcow2", None)];
        let recs = records_for_spec(&spec, &vols, &key).unwrap();
        assert_eq!(recs[0].device, "/dev/vdb");
        assert_eq!(recs[1].device, "/dev/vdc");
        spec.ephemeral_gb = 1;
        spec.swap_mb = 512;
        let recs = records_for_spec(&spec, &vols, &key).unwrap();
        assert_eq!(recs[0].device, "/dev/vdd");
        assert_eq!(next_device(&spec, &recs), "/dev/vdf");
        // A freed letter is reused first.
        let rest = vec![recs[1].clone()];
        assert_eq!(next_device(&spec, &rest), "/dev/vdd");
        // The boot volume is vda and gets bootindex=1.
        let mut boot = att("root", "qcow2", None);
        boot.boot_index = Some(0);
        let spec = InstanceSpec::default();
        let recs =
            records_for_spec(&spec, &[boot.clone(), att("data", "raw", None)], &key).unwrap();
        assert_eq!(recs[0].device, "/dev/vda");
        assert_eq!(recs[1].device, "/dev/vdb");
        assert!(device_arg(&recs[0]).ends_with(",bootindex=1"));
        assert!(records_for_spec(&spec, &[boot.clone(), boot], &key).is_err());
        assert!(
            records_for_spec(&spec, &[att("x", "raw", None), att("x", "raw", None)], &key).is_err()
        );
    }
}
