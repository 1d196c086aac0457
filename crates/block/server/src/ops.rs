//! The work behind the API: lookups with Cinder's visibility rules, quotas, and the
//! volume and snapshot operations that call the backend, the key manager, the Image
//! API and Nova.
//!
//! Crash safety: each operation persists the transitional status (`creating`,
//! `deleting`, `extending`...) before the first backend step and the final status
//! after the last; a crash in between leaves a row the reconciler (`reconcile`)
//! moves to a truthful state. Backend and network calls run in spawned tasks after
//! the API answered 202, as Cinder's volume manager does, and never under the write
//! lock.

use std::sync::Arc;

use rustack_block_api::{Location, Luks, VolumeSource, VolumeSpec};
use rustack_common::Error;
use rustack_keymgr_api::{Consumer, NewSecret};
use serde_json::{json, Value};

use crate::api::Caller;
use crate::error::{bad, internal, over_quota, snapshot_not_found, volume_not_found, BResult};
use crate::model::{
    now_iso, now_secs, Attachment, Limits, Meta, ServiceRecord, Snapshot, Volume, VolumeType,
};
use crate::store::Kind;
use crate::BlockService;

/// The name of the type Cinder creates at first start.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";

/// Creates the `__DEFAULT__` type (when no type exists) and the service records.
pub async fn seed(svc: &BlockService) -> BResult<()> {
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    if types.is_empty() {
        let t = VolumeType {
            id: uuid::Uuid::new_v4().to_string(),
            name: DEFAULT_TYPE.into(),
            description: Some("Default Volume Type".into()),
            is_public: true,
            extra_specs: Meta::new(),
            projects: vec![],
            qos_specs_id: None,
            encryption: None,
        };
        svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    }
    heartbeat(svc).await
}

/// Writes the `cinder-scheduler` and `cinder-volume` service records' heartbeat.
pub async fn heartbeat(svc: &BlockService) -> BResult<()> {
    let _g = svc.write_lock.lock().await;
    let existing: Vec<ServiceRecord> = svc.store.list(Kind::Service, None).await?;
    let wanted = [
        (1, "cinder-scheduler", svc.hostname.clone()),
        (
            2,
            "cinder-volume",
            format!("{}@{}", svc.hostname, svc.backend.name()),
        ),
    ];
    for (id, binary, host) in wanted {
        let mut rec = existing
            .iter()
            .find(|s| s.binary == binary)
            .cloned()
            .unwrap_or(ServiceRecord {
                id,
                binary: binary.into(),
                host: host.clone(),
                zone: svc.cfg.availability_zone.clone(),
                disabled: false,
                disabled_reason: None,
                frozen: false,
                updated_at: now_iso(),
            });
        rec.host = host;
        rec.zone = svc.cfg.availability_zone.clone();
        rec.updated_at = now_iso();
        svc.store
            .put(Kind::Service, &rec.id.to_string(), "", &rec)
            .await?;
    }
    Ok(())
}

/// A volume the caller may see (own project, or any for an admin); 404 otherwise.
pub async fn get_volume(svc: &BlockService, c: &Caller, id: &str) -> BResult<Volume> {
    let v: Option<Volume> = svc.store.get(Kind::Volume, id).await?;
    match v {
        Some(v) if v.project_id == c.project || c.is_admin() => Ok(v),
        _ => Err(volume_not_found(id)),
    }
}

/// A snapshot the caller may see.
pub async fn get_snapshot(svc: &BlockService, c: &Caller, id: &str) -> BResult<Snapshot> {
    let s: Option<Snapshot> = svc.store.get(Kind::Snapshot, id).await?;
    match s {
        Some(s) if s.project_id == c.project || c.is_admin() => Ok(s),
        _ => Err(snapshot_not_found(id)),
    }
}

/// Persists `v` with a fresh `updated_at`.
pub async fn save_volume(svc: &BlockService, v: &mut Volume) -> BResult<()> {
    v.updated_at = Some(now_iso());
    svc.store.put(Kind::Volume, &v.id, &v.project_id, v).await?;
    Ok(())
}

/// Persists `s` with a fresh `updated_at`.
pub async fn save_snapshot(svc: &BlockService, s: &mut Snapshot) -> BResult<()> {
    s.updated_at = Some(now_iso());
    svc.store
        .put(Kind::Snapshot, &s.id, &s.project_id, s)
        .await?;
    Ok(())
}

/// Sets a volume's status (re-reading the row so concurrent edits are kept).
pub async fn set_volume_status(
    svc: &BlockService,
    id: &str,
    f: impl FnOnce(&mut Volume),
) -> BResult<Option<Volume>> {
    let _g = svc.write_lock.lock().await;
    let v: Option<Volume> = svc.store.get(Kind::Volume, id).await?;
    let Some(mut v) = v else { return Ok(None) };
    let before = v.status.clone();
    f(&mut v);
    if v.status != before {
        v.status_changed = now_secs();
    }
    save_volume(svc, &mut v).await?;
    Ok(Some(v))
}

/// Sets a snapshot's fields (re-reading the row).
pub async fn set_snapshot_status(
    svc: &BlockService,
    id: &str,
    f: impl FnOnce(&mut Snapshot),
) -> BResult<Option<Snapshot>> {
    let _g = svc.write_lock.lock().await;
    let s: Option<Snapshot> = svc.store.get(Kind::Snapshot, id).await?;
    let Some(mut s) = s else { return Ok(None) };
    let before = s.status.clone();
    f(&mut s);
    if s.status != before {
        s.status_changed = now_secs();
    }
    save_snapshot(svc, &mut s).await?;
    Ok(Some(s))
}

/// Every attachment of a volume.
pub async fn attachments_of(svc: &BlockService, volume_id: &str) -> BResult<Vec<Attachment>> {
    let all: Vec<Attachment> = svc.store.list(Kind::Attachment, None).await?;
    Ok(all
        .into_iter()
        .filter(|a| a.volume_id == volume_id)
        .collect())
}

/// Every snapshot of a volume.
pub async fn snapshots_of(svc: &BlockService, volume_id: &str) -> BResult<Vec<Snapshot>> {
    let all: Vec<Snapshot> = svc.store.list(Kind::Snapshot, None).await?;
    Ok(all
        .into_iter()
        .filter(|s| s.volume_id == volume_id)
        .collect())
}

/// The volume type named or with id `name_or_id`.
pub async fn find_type(svc: &BlockService, name_or_id: &str) -> BResult<Option<VolumeType>> {
    if let Some(t) = svc
        .store
        .get::<VolumeType>(Kind::VolumeType, name_or_id)
        .await?
    {
        return Ok(Some(t));
    }
    let all: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    Ok(all.into_iter().find(|t| t.name == name_or_id))
}

/// The default type for `project`: the project's default (3.62) or `__DEFAULT__`.
pub async fn default_type(svc: &BlockService, project: &str) -> BResult<VolumeType> {
    if let Some(d) = svc.store.get::<Value>(Kind::DefaultType, project).await? {
        if let Some(id) = d["volume_type_id"].as_str() {
            if let Some(t) = svc.store.get::<VolumeType>(Kind::VolumeType, id).await? {
                return Ok(t);
            }
        }
    }
    match find_type(svc, DEFAULT_TYPE).await? {
        Some(t) => Ok(t),
        None => {
            let all: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
            all.into_iter()
                .next()
                .ok_or_else(|| internal("no volume type exists"))
        }
    }
}

/// The quota resources and their defaults.
pub fn default_limits(svc: &BlockService) -> Vec<(&'static str, i64)> {
    let q = &svc.cfg.quotas;
    vec![
        ("volumes", q.volumes),
        ("snapshots", q.snapshots),
        ("gigabytes", q.gigabytes),
        ("backups", q.backups),
        ("backup_gigabytes", q.backup_gigabytes),
        ("groups", q.groups),
        ("per_volume_gigabytes", q.per_volume_gigabytes),
    ]
}

/// The limits in force for `project`: the `default` quota class over the configured
/// defaults, the project's overrides over both; per-type keys default to -1.
pub async fn effective_limits(
    svc: &BlockService,
    project: &str,
) -> BResult<std::collections::BTreeMap<String, i64>> {
    let mut out = class_limits(svc).await?;
    if let Some(p) = svc.store.get::<Limits>(Kind::Quota, project).await? {
        out.extend(p.limits);
    }
    Ok(out)
}

/// The limits of a project without overrides: the `default` quota class over the
/// configured defaults; per-type keys default to -1.
pub async fn class_limits(svc: &BlockService) -> BResult<std::collections::BTreeMap<String, i64>> {
    let mut out: std::collections::BTreeMap<String, i64> = default_limits(svc)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    for t in &types {
        for r in ["volumes", "gigabytes", "snapshots"] {
            out.insert(format!("{r}_{}", t.name), -1);
        }
    }
    if let Some(c) = svc.store.get::<Limits>(Kind::QuotaClass, "default").await? {
        out.extend(c.limits);
    }
    Ok(out)
}

/// Current usage of `project` (volumes, gigabytes, snapshots, and per type).
pub async fn usage(
    svc: &BlockService,
    project: &str,
) -> BResult<std::collections::BTreeMap<String, i64>> {
    let vols: Vec<Volume> = svc.store.list(Kind::Volume, Some(project)).await?;
    let snaps: Vec<Snapshot> = svc.store.list(Kind::Snapshot, Some(project)).await?;
    let backups: Vec<crate::model::Backup> = svc.store.list(Kind::Backup, Some(project)).await?;
    let types: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    let tname = |id: &str| {
        types
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    let mut u = std::collections::BTreeMap::new();
    let mut add = |k: String, n: i64| *u.entry(k).or_insert(0) += n;
    for v in &vols {
        let size = i64::try_from(v.size).unwrap_or(i64::MAX);
        add("volumes".into(), 1);
        add("gigabytes".into(), size);
        let t = tname(&v.volume_type_id);
        add(format!("volumes_{t}"), 1);
        add(format!("gigabytes_{t}"), size);
    }
    for b in &backups {
        add("backups".into(), 1);
        add(
            "backup_gigabytes".into(),
            i64::try_from(b.size).unwrap_or(i64::MAX),
        );
    }
    for s in &snaps {
        let size = i64::try_from(s.size).unwrap_or(i64::MAX);
        add("snapshots".into(), 1);
        add("gigabytes".into(), size);
        let t = tname(&s.volume_type_id);
        add(format!("snapshots_{t}"), 1);
        add(format!("gigabytes_{t}"), size);
    }
    Ok(u)
}

/// Checks that adding `deltas` to `project`'s usage stays within its limits; 413
/// `overLimit` with Cinder's message otherwise. Call under the write lock.
pub async fn check_quota(
    svc: &BlockService,
    project: &str,
    type_name: &str,
    deltas: &[(&str, i64)],
) -> BResult<()> {
    let limits = effective_limits(svc, project).await?;
    let used = usage(svc, project).await?;
    for (res, delta) in deltas {
        if *delta <= 0 {
            continue;
        }
        if *res == "per_volume_gigabytes" {
            let lim = limits.get("per_volume_gigabytes").copied().unwrap_or(-1);
            if lim >= 0 && *delta > lim {
                return Err(over_quota(format!(
                    "VolumeSizeExceedsLimit: Requested volume size {delta}G is larger than maximum allowed limit {lim}G."
                )));
            }
            continue;
        }
        for key in [res.to_string(), format!("{res}_{type_name}")] {
            let lim = limits.get(&key).copied().unwrap_or(-1);
            if lim < 0 {
                continue;
            }
            let u = used.get(&key).copied().unwrap_or(0);
            if u + delta > lim {
                let msg = match *res {
                    "gigabytes" => format!(
                        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed {key} quota. Requested {delta}G, quota is {lim}G and {u}G has been consumed."
                    ),
                    "snapshots" => format!(
                        "SnapshotLimitExceeded: Maximum number of snapshots allowed ({lim}) exceeded"
                    ),
                    _ => format!(
                        "VolumeLimitExceeded: Maximum number of volumes allowed ({lim}) exceeded for quota '{key}'."
                    ),
                };
                return Err(over_quota(msg));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Encryption keys

/// The LUKS parameters for a volume keyed by `key` under Cinder's cipher spec.
pub fn luks_for(key: &[u8], cipher: Option<&str>, key_size: Option<u32>) -> Luks {
    let cipher = cipher.unwrap_or("aes-xts-plain64");
    let mut parts = cipher.split('-');
    let alg = parts.next().unwrap_or("aes");
    let mode = parts.next().unwrap_or("xts");
    let iv = parts.next().unwrap_or("plain64");
    let (ivgen_alg, ivgen_hash_alg) = match iv.split_once(':') {
        Some((a, h)) => (a.to_string(), Some(h.to_string())),
        None => (iv.to_string(), None),
    };
    // Cinder's key_size for XTS covers both halves: aes-xts with 256 bits is AES-128
    // per half in dm-crypt terms, but QEMU names the cipher by the full key: 256 ->
    // aes-256 (Nova's and os-brick's mapping).
    let bits = key_size.unwrap_or(256);
    Luks {
        passphrase: hex::encode(key),
        cipher_alg: format!("{alg}-{bits}"),
        cipher_mode: mode.to_string(),
        ivgen_alg,
        ivgen_hash_alg,
    }
}

fn key_manager(svc: &BlockService) -> BResult<&Arc<dyn rustack_keymgr_api::KeyManager>> {
    svc.key_manager.as_ref().ok_or_else(|| {
        Error::unavailable("Encrypted volumes need a key manager, and none is configured.").into()
    })
}

fn consumer(volume_id: &str) -> Consumer {
    Consumer {
        service: "volume".into(),
        resource_type: "volume".into(),
        resource_id: volume_id.into(),
    }
}

/// The LUKS parameters of an encrypted volume (its key fetched with `token`).
pub async fn volume_luks(svc: &BlockService, token: &str, v: &Volume) -> BResult<Option<Luks>> {
    let Some(key_id) = &v.encryption_key_id else {
        return Ok(None);
    };
    let t: Option<VolumeType> = svc.store.get(Kind::VolumeType, &v.volume_type_id).await?;
    let enc = t.and_then(|t| t.encryption);
    let km = key_manager(svc)?;
    let key = km.get(token, key_id).await?;
    Ok(Some(luks_for(
        &key,
        enc.as_ref().and_then(|e| e.cipher.as_deref()),
        enc.as_ref().and_then(|e| e.key_size),
    )))
}

/// A new key for volume `volume_id` (or a clone of `clone_of`), with its consumer
/// registered.
async fn new_key(
    svc: &BlockService,
    token: &str,
    volume_id: &str,
    key_size: u32,
    clone_of: Option<&str>,
) -> BResult<String> {
    let km = key_manager(svc)?;
    let id = match clone_of {
        None => km.create_key(token, "aes", key_size, None).await?,
        Some(src) => {
            let payload = km.get(token, src).await?;
            km.store(
                token,
                &NewSecret {
                    name: None,
                    secret_type: "symmetric".into(),
                    algorithm: Some("aes".into()),
                    bit_length: Some(key_size),
                    mode: None,
                    payload,
                },
            )
            .await?
        }
    };
    km.add_consumer(token, &id, &consumer(volume_id)).await?;
    Ok(id)
}

/// Removes a volume's consumer and key (404 = already gone).
async fn drop_key(svc: &BlockService, token: &str, v: &Volume) {
    let (Some(key_id), Some(km)) = (&v.encryption_key_id, &svc.key_manager) else {
        return;
    };
    if let Err(e) = km.remove_consumer(token, key_id, &consumer(&v.id)).await {
        if e.status_code() != 404 {
            tracing::warn!(volume.id = %v.id, error = %e, "removing the key consumer failed");
        }
    }
    if let Err(e) = km.delete(token, key_id, true).await {
        if e.status_code() != 404 {
            tracing::warn!(volume.id = %v.id, error = %e, "deleting the volume key failed");
        }
    }
}

// ---------------------------------------------------------------------------
// Volume create

/// Where a new volume's data comes from, as the API request said.
#[derive(Clone, Debug)]
pub enum CreateSource {
    /// Blank.
    Blank,
    /// An image (id, disk format).
    Image {
        /// Image id.
        id: String,
        /// The image record from the Image API.
        image: Value,
    },
    /// A snapshot.
    Snapshot(Box<Snapshot>),
    /// A volume.
    Volume(Box<Volume>),
}

/// Inserts a `creating` volume (quota checked under the lock) and starts the backend
/// work. `key_size` is Some for an encrypted type.
pub async fn create_volume(
    svc: &Arc<BlockService>,
    c: &Caller,
    mut v: Volume,
    vtype: &VolumeType,
    source: CreateSource,
) -> BResult<Volume> {
    {
        let _g = svc.write_lock.lock().await;
        let size = i64::try_from(v.size).unwrap_or(i64::MAX);
        check_quota(
            svc,
            &v.project_id,
            &vtype.name,
            &[
                ("volumes", 1),
                ("gigabytes", size),
                ("per_volume_gigabytes", size),
            ],
        )
        .await?;
        v.status_changed = now_secs();
        svc.store
            .put(Kind::Volume, &v.id, &v.project_id, &v)
            .await?;
    }
    let svc2 = svc.clone();
    let token = c.token.clone();
    let vtype = vtype.clone();
    let id = v.id.clone();
    tokio::spawn(async move {
        if let Err(msg) = schedule(&svc2, &vtype).await {
            tracing::warn!(volume.id = %id, reason = %msg, "no valid backend for the volume");
            let _ = set_volume_status(&svc2, &id, |v| v.status = "error".into()).await;
            let _ = record_message(&svc2, &id, "VOLUME", "001_002", &msg).await;
            return;
        }
        if let Err(e) = create_work(&svc2, &token, &id, &vtype, source).await {
            tracing::warn!(volume.id = %id, error = %e.error, "volume create failed");
            let msg = e.error.external_message().to_string();
            let _ = set_volume_status(&svc2, &id, |v| v.status = "error".into()).await;
            let _ = record_message(&svc2, &id, "VOLUME", "VOLUME_001_003", &msg).await;
        }
    });
    Ok(v)
}

/// Cinder's capabilities filter over the one backend: extra specs naming a capability
/// (`volume_backend_name`, `storage_protocol`, `vendor_name`, `driver_version`,
/// `pool_name`, optionally prefixed `capabilities:`) must match it (plain equality,
/// `<is> True|False`, `<in> x` substring, `<or> a <or> b`).
async fn schedule(svc: &BlockService, vtype: &VolumeType) -> Result<(), String> {
    let caps = match svc.backend.capabilities().await {
        Ok(c) => c,
        Err(e) => {
            return Err(format!(
                "schedule allocate volume: the backend is unavailable: {e}"
            ))
        }
    };
    for (k, want) in &vtype.extra_specs {
        let key = k.strip_prefix("capabilities:").unwrap_or(k);
        let have = match key {
            "volume_backend_name" => caps.backend_name.clone(),
            "storage_protocol" => caps.storage_protocol.clone(),
            "vendor_name" => caps.vendor_name.clone(),
            "driver_version" => caps.driver_version.clone(),
            "pool_name" => caps.pool_name.clone(),
            "thin_provisioning_support" => caps.thin_provisioning.to_string(),
            _ => continue,
        };
        let want = want.trim();
        let ok = if let Some(v) = want.strip_prefix("<is>") {
            v.trim().eq_ignore_ascii_case(&have)
        } else if let Some(v) = want.strip_prefix("<in>") {
            have.contains(v.trim())
        } else if want.contains("<or>") {
            want.split("<or>")
                .map(str::trim)
                .any(|v| v.eq_ignore_ascii_case(&have))
        } else if key == "storage_protocol" {
            want.eq_ignore_ascii_case(&have)
        } else {
            want == have
        };
        if !ok {
            return Err(format!(
                "schedule allocate volume: Could not find any available weighted backend ({k} = {want} does not match {have})."
            ));
        }
    }
    Ok(())
}

async fn create_work(
    svc: &BlockService,
    token: &str,
    id: &str,
    vtype: &VolumeType,
    source: CreateSource,
) -> BResult<()> {
    let v: Volume = svc
        .store
        .get(Kind::Volume, id)
        .await?
        .ok_or_else(|| volume_not_found(id))?;
    let enc = vtype.encryption.clone();
    let key_size = enc.as_ref().and_then(|e| e.key_size).unwrap_or(256);
    let cipher = enc.as_ref().and_then(|e| e.cipher.clone());
    // The source's key (an encrypted snapshot's or volume's) is cloned so that every
    // volume owns its key; a blank or image volume of an encrypted type gets a new one.
    let (source_key, source_luks, source_loc) = match &source {
        CreateSource::Snapshot(s) => {
            let sv: Volume = svc
                .store
                .get(Kind::Volume, &s.volume_id)
                .await?
                .ok_or_else(|| volume_not_found(&s.volume_id))?;
            let l = volume_luks(svc, token, &sv).await?;
            (sv.encryption_key_id.clone(), l, sv.location.clone())
        }
        CreateSource::Volume(sv) => {
            let l = volume_luks(svc, token, sv).await?;
            (sv.encryption_key_id.clone(), l, sv.location.clone())
        }
        _ => (None, None, None),
    };
    let mut key_id = None;
    let mut luks = None;
    if enc.is_some() || source_key.is_some() {
        let kid = new_key(svc, token, id, key_size, source_key.as_deref()).await?;
        // Persist the key id at once so a failed create can still remove it.
        set_volume_status(svc, id, |v| v.encryption_key_id = Some(kid.clone())).await?;
        let km = key_manager(svc)?;
        let key = km.get(token, &kid).await?;
        luks = Some(luks_for(&key, cipher.as_deref(), Some(key_size)));
        key_id = Some(kid);
    }
    let spec = VolumeSpec {
        id: id.to_string(),
        size_gb: v.size,
    };
    let mut tmp_file = None;
    let mut image_meta = Meta::new();
    let backend_source = match &source {
        CreateSource::Blank => VolumeSource::Blank,
        CreateSource::Image {
            id: image_id,
            image,
        } => {
            let base = svc.image_url.as_deref().ok_or_else(|| {
                Fault::from(Error::unavailable(
                    "Creating a volume from an image needs the Image service, and none is configured.",
                ))
            })?;
            let client = rustack_image_api::client::ImageClient::new(base)?;
            let path = svc.tmp_dir.join(format!("image-{id}"));
            tmp_file = Some(path.clone());
            client.download(token, image_id, &path).await?;
            image_meta = image_metadata_of(image_id, image);
            let format = image["disk_format"].as_str().unwrap_or("raw").to_string();
            // An uploaded encrypted volume carries its key id; open it with that key.
            let img_luks = match image["cinder_encryption_key_id"].as_str() {
                Some(k) => {
                    let km = key_manager(svc)?;
                    let key = km.get(token, k).await?;
                    Some(luks_for(&key, cipher.as_deref(), Some(key_size)))
                }
                None => None,
            };
            VolumeSource::Image {
                path,
                format,
                luks: img_luks,
            }
        }
        CreateSource::Snapshot(s) => VolumeSource::Snapshot {
            volume: source_loc
                .clone()
                .ok_or_else(|| internal("source volume has no location"))?,
            name: format!("snapshot-{}", s.id),
            luks: source_luks.clone(),
        },
        CreateSource::Volume(_) => VolumeSource::Volume {
            volume: source_loc
                .clone()
                .ok_or_else(|| internal("source volume has no location"))?,
            luks: source_luks.clone(),
        },
    };
    let result = svc
        .backend
        .create(&spec, &backend_source, luks.as_ref())
        .await;
    if let Some(p) = tmp_file {
        let _ = tokio::fs::remove_file(&p).await;
    }
    let loc = result.map_err(backend_fault)?;
    let bootable_from_source = match &source {
        CreateSource::Image { .. } => Some(true),
        CreateSource::Volume(sv) => Some(sv.bootable),
        CreateSource::Snapshot(s) => svc
            .store
            .get::<Volume>(Kind::Volume, &s.volume_id)
            .await?
            .map(|sv| sv.bootable),
        CreateSource::Blank => None,
    };
    let inherited_meta = match &source {
        CreateSource::Volume(sv) => Some(sv.image_metadata.clone()),
        CreateSource::Snapshot(s) => svc
            .store
            .get::<Volume>(Kind::Volume, &s.volume_id)
            .await?
            .map(|sv| sv.image_metadata),
        _ => None,
    };
    let updated = set_volume_status(svc, id, |v| {
        v.location = Some(loc.clone());
        v.status = "available".into();
        if let Some(b) = bootable_from_source {
            v.bootable = b;
        }
        if !image_meta.is_empty() {
            v.image_metadata = image_meta;
        } else if let Some(m) = inherited_meta {
            v.image_metadata = m;
        }
        if key_id.is_some() {
            v.encryption_key_id = key_id.clone();
        }
    })
    .await?;
    if updated.is_none() {
        // Deleted while creating: remove what was made.
        let _ = svc.backend.delete(&loc).await;
    }
    Ok(())
}

use crate::error::Fault;

/// A backend failure as an API error.
pub fn backend_fault(e: rustack_block_api::BackendError) -> Fault {
    use rustack_block_api::BackendError as B;
    match e {
        B::NotFound(m) => Error::not_found(m).into(),
        B::NoSpace(m) => Error::over_quota(format!("insufficient capacity: {m}")).into(),
        B::Invalid(m) => Error::bad_request(m).into(),
        B::Busy(m) => Error::conflict(m).into(),
        B::Failed(m) => Error::internal(m).into(),
    }
}

/// The `volume_image_metadata` Cinder copies from an image.
pub fn image_metadata_of(image_id: &str, image: &Value) -> Meta {
    let mut m = Meta::new();
    m.insert("image_id".into(), image_id.to_string());
    let skip = [
        "id",
        "status",
        "file",
        "schema",
        "self",
        "locations",
        "tags",
        "owner",
        "visibility",
        "protected",
        "direct_url",
        "os_hidden",
        "created_at",
        "updated_at",
        "virtual_size",
        "os_hash_algo",
        "os_hash_value",
        "stores",
        "cinder_encryption_key_id",
        "cinder_encryption_key_deletion_policy",
    ];
    if let Some(obj) = image.as_object() {
        for (k, v) in obj {
            if skip.contains(&k.as_str()) {
                continue;
            }
            let key = if k == "name" {
                "image_name"
            } else {
                k.as_str()
            };
            let text = match v {
                Value::Null => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            m.insert(key.to_string(), text);
        }
    }
    m
}

/// Records a user message (3.3) about a failed asynchronous operation.
pub async fn record_message(
    svc: &BlockService,
    resource_id: &str,
    resource_type: &str,
    event: &str,
    detail: &str,
) -> BResult<()> {
    let project = match svc.store.get::<Volume>(Kind::Volume, resource_id).await? {
        Some(v) => v.project_id,
        None => match svc
            .store
            .get::<Snapshot>(Kind::Snapshot, resource_id)
            .await?
        {
            Some(s) => s.project_id,
            None => return Ok(()),
        },
    };
    let now = chrono::Utc::now();
    let m = crate::model::Message {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project.clone(),
        user_message: detail.to_string(),
        message_level: "ERROR".into(),
        resource_type: resource_type.into(),
        resource_uuid: Some(resource_id.to_string()),
        event_id: format!("VOLUME_{event}"),
        created_at: now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        guaranteed_until: (now + chrono::Duration::days(30))
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string(),
    };
    svc.store.put(Kind::Message, &m.id, &project, &m).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Volume delete

/// Starts deleting a volume already set to `deleting` (and its snapshots when
/// `cascade`).
pub fn spawn_delete(svc: &Arc<BlockService>, token: Option<String>, id: String) {
    let svc = svc.clone();
    tokio::spawn(async move {
        if let Err(e) = delete_work(&svc, token.as_deref(), &id).await {
            tracing::warn!(volume.id = %id, error = %e.error, "volume delete failed");
            let _ = set_volume_status(&svc, &id, |v| v.status = "error_deleting".into()).await;
        }
    });
}

/// Deletes a `deleting` volume: data first, then the key, then the rows.
pub async fn delete_work(svc: &BlockService, token: Option<&str>, id: &str) -> BResult<()> {
    let Some(v) = svc.store.get::<Volume>(Kind::Volume, id).await? else {
        return Ok(());
    };
    if let Some(loc) = &v.location {
        // The backend removes the volume's snapshots with it.
        svc.backend.delete(loc).await.map_err(backend_fault)?;
    }
    if let Some(t) = token {
        drop_key(svc, t, &v).await;
    } else if v.encryption_key_id.is_some() {
        tracing::warn!(volume.id = %v.id, "no token to delete the volume's key; key left in the key manager");
    }
    let _g = svc.write_lock.lock().await;
    for s in snapshots_of(svc, id).await? {
        svc.store.delete(Kind::Snapshot, &s.id).await?;
    }
    for a in attachments_of(svc, id).await? {
        svc.store.delete(Kind::Attachment, &a.id).await?;
    }
    let transfers: Vec<crate::model::Transfer> = svc.store.list(Kind::Transfer, None).await?;
    for t in transfers.iter().filter(|t| t.volume_id == id) {
        svc.store.delete(Kind::Transfer, &t.id).await?;
    }
    svc.store.delete(Kind::Volume, id).await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Extend

/// The live attachment (a QEMU process holds the file), if any.
pub async fn live_attachment(svc: &BlockService, volume_id: &str) -> BResult<Option<Attachment>> {
    Ok(attachments_of(svc, volume_id)
        .await?
        .into_iter()
        .find(Attachment::live_file_access))
}

/// Extends a volume set to `extending`: offline through the backend, online (a QEMU
/// process holds it) by telling Nova after the new size is recorded.
pub fn spawn_extend(
    svc: &Arc<BlockService>,
    token: String,
    id: String,
    new_size: u64,
    back_to: String,
) {
    let svc = svc.clone();
    tokio::spawn(async move {
        let r = extend_work(&svc, &token, &id, new_size, &back_to).await;
        if let Err(e) = r {
            tracing::warn!(volume.id = %id, error = %e.error, "volume extend failed");
            let _ = set_volume_status(&svc, &id, |v| v.status = "error_extending".into()).await;
            let _ = record_message(
                &svc,
                &id,
                "VOLUME",
                "VOLUME_001_007",
                e.error.external_message(),
            )
            .await;
        }
    });
}

async fn extend_work(
    svc: &BlockService,
    token: &str,
    id: &str,
    new_size: u64,
    back_to: &str,
) -> BResult<()> {
    let v: Volume = svc
        .store
        .get(Kind::Volume, id)
        .await?
        .ok_or_else(|| volume_not_found(id))?;
    if let Some(a) = live_attachment(svc, id).await? {
        let compute = svc.compute.as_ref().ok_or_else(|| {
            Fault::from(Error::unavailable(
                "Extending an attached volume needs the Compute service, and none is configured.",
            ))
        })?;
        let server = a
            .instance_uuid
            .clone()
            .ok_or_else(|| internal("live attachment without a server"))?;
        set_volume_status(svc, id, |v| v.size = new_size).await?;
        compute.volume_extended(&server, id).await?;
    } else {
        let loc = v
            .location
            .clone()
            .ok_or_else(|| internal("volume has no location"))?;
        let luks = volume_luks(svc, token, &v).await?;
        svc.backend
            .extend(&loc, new_size, luks.as_ref())
            .await
            .map_err(backend_fault)?;
    }
    set_volume_status(svc, id, |v| {
        v.size = new_size;
        v.status = back_to.to_string();
    })
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Snapshots

/// Takes a snapshot already recorded as `creating`.
pub fn spawn_snapshot_create(svc: &Arc<BlockService>, token: String, snap_id: String) {
    let svc = svc.clone();
    tokio::spawn(async move {
        if let Err(e) = snapshot_create_work(&svc, &token, &snap_id).await {
            tracing::warn!(snapshot.id = %snap_id, error = %e.error, "snapshot create failed");
            let _ = set_snapshot_status(&svc, &snap_id, |s| s.status = "error".into()).await;
            let _ = record_message(
                &svc,
                &snap_id,
                "SNAPSHOT",
                "SNAPSHOT_001_003",
                e.error.external_message(),
            )
            .await;
        }
    });
}

async fn snapshot_create_work(svc: &BlockService, token: &str, snap_id: &str) -> BResult<()> {
    let s: Snapshot = svc
        .store
        .get(Kind::Snapshot, snap_id)
        .await?
        .ok_or_else(|| snapshot_not_found(snap_id))?;
    let v: Volume = svc
        .store
        .get(Kind::Volume, &s.volume_id)
        .await?
        .ok_or_else(|| volume_not_found(&s.volume_id))?;
    if live_attachment(svc, &v.id).await?.is_some() {
        let compute = svc.compute.as_ref().ok_or_else(|| {
            Fault::from(Error::unavailable(
                "Snapshotting an attached volume needs the Compute service, and none is configured.",
            ))
        })?;
        compute.assisted_snapshot_create(&v.id, snap_id).await?;
    } else {
        let loc = v
            .location
            .clone()
            .ok_or_else(|| internal("volume has no location"))?;
        let luks = volume_luks(svc, token, &v).await?;
        svc.backend
            .snapshot_create(&loc, &format!("snapshot-{snap_id}"), luks.as_ref())
            .await
            .map_err(backend_fault)?;
    }
    set_snapshot_status(svc, snap_id, |s| {
        s.status = "available".into();
        s.progress = "100%".into();
    })
    .await?;
    Ok(())
}

/// Deletes a snapshot already set to `deleting`.
pub fn spawn_snapshot_delete(svc: &Arc<BlockService>, token: Option<String>, snap_id: String) {
    let svc = svc.clone();
    tokio::spawn(async move {
        if let Err(e) = snapshot_delete_work(&svc, token.as_deref(), &snap_id).await {
            tracing::warn!(snapshot.id = %snap_id, error = %e.error, "snapshot delete failed");
            let _ =
                set_snapshot_status(&svc, &snap_id, |s| s.status = "error_deleting".into()).await;
        }
    });
}

/// Removes a snapshot's data (through Nova when the volume is held open) and row.
pub async fn snapshot_delete_work(
    svc: &BlockService,
    token: Option<&str>,
    snap_id: &str,
) -> BResult<()> {
    let Some(s) = svc.store.get::<Snapshot>(Kind::Snapshot, snap_id).await? else {
        return Ok(());
    };
    if let Some(v) = svc.store.get::<Volume>(Kind::Volume, &s.volume_id).await? {
        if live_attachment(svc, &v.id).await?.is_some() {
            let compute = svc.compute.as_ref().ok_or_else(|| {
                Fault::from(Error::unavailable(
                    "Deleting a snapshot of an attached volume needs the Compute service, and none is configured.",
                ))
            })?;
            compute.assisted_snapshot_delete(&v.id, snap_id).await?;
        } else if let Some(loc) = &v.location {
            let luks = match token {
                Some(t) => volume_luks(svc, t, &v).await?,
                None => None,
            };
            svc.backend
                .snapshot_delete(loc, &format!("snapshot-{snap_id}"), luks.as_ref())
                .await
                .map_err(backend_fault)?;
        }
    }
    let _g = svc.write_lock.lock().await;
    svc.store.delete(Kind::Snapshot, snap_id).await?;
    Ok(())
}

/// The caller-facing JSON of a connection: `{"driver_volume_type", "data"}` for the
/// file backend.
pub fn connection_info(v: &Volume, attachment_id: &str, mode: &str) -> BResult<Value> {
    match &v.location {
        Some(Location::File { path, format }) => Ok(json!({
            "driver_volume_type": "file",
            "data": {
                "path": path,
                "format": format,
                "encrypted": v.encryption_key_id.is_some(),
                "volume_id": v.id,
                "access_mode": mode,
                "attachment_id": attachment_id,
            }
        })),
        Some(Location::Rbd { pool, image }) => Ok(json!({
            "driver_volume_type": "rbd",
            "data": {
                "name": format!("{pool}/{image}"),
                "encrypted": v.encryption_key_id.is_some(),
                "volume_id": v.id,
                "access_mode": mode,
                "attachment_id": attachment_id,
            }
        })),
        None => Err(bad("Volume has no data location (not created).")),
    }
}
