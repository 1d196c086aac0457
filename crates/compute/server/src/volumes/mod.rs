//! Volumes on servers (Nova's side of block storage): `os-volume_attachments`, the
//! volumes a (re)spawn passes to the driver, detaching (and deleting
//! `delete_on_termination` volumes) when a server is deleted, assisted volume
//! snapshots, external events, the `/os-volumes` and `/os-snapshots` proxies, and the
//! restart reconciliation of block device mappings.
//!
//! Design (Nova's new-style attach, `compute/api.py` + `virt/block_device.py`):
//! - Attach: volume lookup, `POST /attachments` without a connector (volume
//!   `reserved`), a mapping row `attaching`; then under the server's lock the
//!   connector goes to `PUT /attachments/{id}`, the answered `connection_info` becomes a
//!   `rustack_virt::VolumeAttachment` (the LUKS passphrase is the lowercase hex of the
//!   key manager's key, fetched with the caller's token and never stored), the driver
//!   attaches, the row gets the device and `connection_info` and Cinder completes the
//!   attachment (`in-use`). Any failure undoes it: driver detach, attachment delete,
//!   row removed.
//! - Detach: `os-begin_detaching`, driver detach, attachment delete, row removed; a
//!   driver failure rolls the volume back to `in-use`.
//! - Cinder calls carry the caller's token and the `nova` service user's token as
//!   `X-Service-Token`; background work uses the service token for both.
//! - The attach is synchronous (the 2.1..2.100 answer carries the device), so
//!   `POST` returns once the volume is `in-use`.

pub mod api;
pub mod boot;
pub mod events;
pub mod proxy;
pub mod store;

use std::sync::Arc;

use rustack_block_api::client::{BlockClient, Tokens};
use rustack_block_api::{ConnectionInfo, Connector};
use rustack_common::Error;
use rustack_keymgr_api::KeyManager;
use rustack_virt::{ComputeDriver, VolumeAttachment, VolumeSource};
use serde_json::Value;

use crate::servers::app::Caller;
use crate::servers::store::Instance;
use crate::servers::Servers;
use store::Bdm;

/// What the compute service reaches for volumes: the Block Storage endpoint and the
/// key manager (for encrypted volumes). Set once at wiring time.
#[derive(Default)]
pub struct BlockDeps {
    pub(crate) block: Option<BlockClient>,
    pub(crate) keys: Option<Arc<dyn KeyManager>>,
}

/// An attach request after validation.
#[derive(Clone, Debug, Default)]
pub struct AttachRequest {
    /// The volume.
    pub volume_id: String,
    /// The requested device (advisory, as in Nova since libvirt ignores it).
    pub device: Option<String>,
    /// Device tag (2.49+).
    pub tag: Option<String>,
    /// Delete with the server (2.79+).
    pub delete_on_termination: bool,
}

/// The lowercase hex of key bytes: the LUKS passphrase Nova derives from a volume key.
pub fn passphrase(key: &[u8]) -> String {
    hex::encode(key)
}

/// Nova's 409 for an action refused in the server's current state.
fn invalid_state(action: &str, i: &Instance) -> Error {
    match &i.task_state {
        Some(t) => Error::conflict(format!(
            "Cannot '{action}' instance {} while it is in task_state {t}",
            i.uuid
        )),
        None => Error::conflict(format!(
            "Cannot '{action}' instance {} while it is in vm_state {}",
            i.uuid, i.vm_state
        )),
    }
}

/// The volume operations accept these vm_states (Nova's
/// `check_instance_state` on attach/detach, without the shelved ones).
fn check_state(action: &str, i: &Instance) -> Result<(), Error> {
    let ok = matches!(
        i.vm_state.as_str(),
        "active" | "paused" | "stopped" | "resized" | "suspended"
    ) && i.task_state.is_none();
    if ok {
        Ok(())
    } else {
        Err(invalid_state(action, i))
    }
}

/// The next free `/dev/vdX` after the root disk and the existing mappings.
pub fn next_device(used: &[Option<String>]) -> String {
    for c in b'b'..=b'z' {
        let d = format!("/dev/vd{}", c as char);
        if !used.iter().any(|u| u.as_deref() == Some(d.as_str())) {
            return d;
        }
    }
    format!("/dev/vd{}", used.len())
}

/// Nova's answer to a multiattach volume before 2.60 (`MultiattachNotSupportedOldMicroversion`).
pub(crate) const MULTIATTACH_BEFORE_260: &str =
    "Multiattach volumes are only supported starting with compute API version 2.60.";

impl Servers {
    /// Lets the servers work reach Block Storage at `block_url`
    /// (`http://host:8776/v3`).
    pub fn set_block_storage(&self, block_url: &str) -> Result<(), Error> {
        self.block_deps.write().block = Some(BlockClient::new(block_url)?);
        Ok(())
    }

    /// Lets the servers work read volume keys (encrypted volumes).
    pub fn set_key_manager(&self, keys: Arc<dyn KeyManager>) {
        self.block_deps.write().keys = Some(keys);
    }

    /// The Block Storage client; 503 when the cloud has none.
    pub(crate) fn block(&self) -> Result<BlockClient, Error> {
        self.block_deps
            .read()
            .block
            .clone()
            .ok_or_else(|| Error::unavailable("The block storage service is not available."))
    }

    /// Whether block storage is wired in.
    pub fn has_block_storage(&self) -> bool {
        self.block_deps.read().block.is_some()
    }

    /// Remembers the token of the user behind an operation on server `uuid` (the
    /// background part fetches volume keys with it). In memory only.
    pub fn remember_user_token(&self, uuid: &str, token: &str) {
        if token.is_empty() {
            return;
        }
        let mut m = self.user_tokens.lock();
        if m.len() > 10_000 {
            m.clear();
        }
        m.insert(uuid.to_owned(), token.to_owned());
    }

    /// The remembered user token of server `uuid`.
    pub(crate) fn user_token_of(&self, uuid: &str) -> Option<String> {
        self.user_tokens.lock().get(uuid).cloned()
    }

    /// Forgets the user token of server `uuid` (deleted).
    pub(crate) fn forget_user_token(&self, uuid: &str) {
        self.user_tokens.lock().remove(uuid);
    }

    /// The driver spec of `i` with `flavor` and its volumes (keys fetched with the
    /// remembered user token).
    pub(crate) async fn spec_with_volumes(
        &self,
        i: &Instance,
        flavor: &crate::servers::store::FlavorSnapshot,
        image_path: std::path::PathBuf,
        image_format: String,
    ) -> Result<rustack_virt::InstanceSpec, Error> {
        let mut spec = crate::servers::build::instance_spec(i, flavor, image_path, image_format);
        let user = self.user_token_of(&i.uuid);
        spec.volumes = self.volume_specs(i, user.as_deref()).await?;
        Ok(spec)
    }

    /// `os-extended-volumes:volumes_attached` of server `uuid`: (volume id,
    /// delete_on_termination) in attach order.
    pub async fn volume_refs(&self, uuid: &str) -> Result<Vec<(String, bool)>, Error> {
        Ok(self
            .bdms(uuid)
            .await?
            .into_iter()
            .map(|b| (b.volume_id, b.delete_on_termination))
            .collect())
    }

    async fn bdms(&self, uuid: &str) -> Result<Vec<Bdm>, Error> {
        let mut c = self.compute.conn().await?;
        store::for_instance(&mut c, uuid).await
    }

    /// The mappings of server `uuid` (views, specs).
    pub(crate) async fn volumes_of(&self, uuid: &str) -> Result<Vec<Bdm>, Error> {
        self.bdms(uuid).await
    }

    /// The connector of this compute host for `driver`.
    fn connector(host: &str, driver: &dyn ComputeDriver, mountpoint: Option<&str>) -> Connector {
        Connector {
            host: Some(host.to_owned()),
            ip: Some("127.0.0.1".to_owned()),
            platform: Some(std::env::consts::ARCH.to_owned()),
            os_type: Some(std::env::consts::OS.to_owned()),
            multipath: Some(false),
            mountpoint: mountpoint.map(str::to_owned),
            mode: None,
            rustack_live_file_access: Some(driver.opens_volume_files()),
            other: Default::default(),
        }
    }

    /// The driver's view of one volume from its `connection_info`, with the LUKS
    /// passphrase fetched through the key manager when the data is encrypted.
    pub(crate) async fn volume_attachment(
        &self,
        block: &BlockClient,
        tokens: Tokens<'_>,
        volume_id: &str,
        info: &ConnectionInfo,
        boot_index: Option<u32>,
    ) -> Result<VolumeAttachment, Error> {
        let source = match info.driver_volume_type.as_str() {
            "file" => VolumeSource::File {
                path: info.data["path"]
                    .as_str()
                    .ok_or_else(|| Error::internal("file connection_info without a path"))?
                    .into(),
                format: info.data["format"].as_str().unwrap_or("raw").to_owned(),
            },
            "rbd" => VolumeSource::Rbd {
                pool: info.data["name"]
                    .as_str()
                    .and_then(|n| n.split_once('/'))
                    .map(|(p, _)| p.to_owned())
                    .unwrap_or_default(),
                image: info.data["name"]
                    .as_str()
                    .and_then(|n| n.split_once('/'))
                    .map(|(_, i)| i.to_owned())
                    .unwrap_or_default(),
                hosts: info.data["hosts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .zip(
                        info.data["ports"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .chain(std::iter::repeat(&Value::Null)),
                    )
                    .map(|(h, p)| match p.as_str() {
                        Some(p) => format!("{}:{p}", h.as_str().unwrap_or_default()),
                        None => h.as_str().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                user: info.data["auth_username"].as_str().map(str::to_owned),
            },
            other => {
                return Err(Error::bad_request(format!(
                    "Volume {volume_id} has an unsupported connection type {other}."
                )))
            }
        };
        let encrypted = info.data["encrypted"].as_bool().unwrap_or(false);
        let luks_passphrase = if encrypted {
            let meta = block.encryption_get(tokens, volume_id).await?;
            let key_id = meta["encryption_key_id"].as_str().ok_or_else(|| {
                Error::internal(format!("encrypted volume {volume_id} has no key id"))
            })?;
            let keys = self
                .block_deps
                .read()
                .keys
                .clone()
                .ok_or_else(|| Error::unavailable("The key manager is not available."))?;
            let key = keys.get(tokens.user, key_id).await?;
            Some(passphrase(&key))
        } else {
            None
        };
        Ok(VolumeAttachment {
            volume_id: volume_id.to_owned(),
            source,
            luks_passphrase,
            read_only: info.data["access_mode"].as_str() == Some("ro"),
            boot_index,
        })
    }

    /// The volumes of server `i` for a (re)spawn, boot volume first, keys fetched with
    /// `user_token` (the service token when no user is behind the operation).
    pub(crate) async fn volume_specs(
        &self,
        i: &Instance,
        user_token: Option<&str>,
    ) -> Result<Vec<VolumeAttachment>, Error> {
        let bdms = self.bdms(&i.uuid).await?;
        if bdms.is_empty() {
            return Ok(Vec::new());
        }
        let block = self.block()?;
        let service = self.service_token().await?;
        let user = user_token.unwrap_or(&service).to_owned();
        let tokens = Tokens::with_service(&user, &service);
        let mut out = Vec::new();
        for b in bdms.iter().filter(|b| b.state != store::DETACHING) {
            let Some(ci) = b
                .connection_info
                .as_deref()
                .and_then(|s| serde_json::from_str::<ConnectionInfo>(s).ok())
            else {
                continue;
            };
            let boot = b.boot_index.and_then(|x| u32::try_from(x).ok());
            out.push(
                self.volume_attachment(&block, tokens, &b.volume_id, &ci, boot)
                    .await?,
            );
        }
        Ok(out)
    }

    /// `POST /servers/{id}/os-volume_attachments`.
    pub async fn volume_attach(
        self: &Arc<Self>,
        c: &Caller,
        user_token: &str,
        server: &str,
        req: AttachRequest,
    ) -> Result<Bdm, Error> {
        let i = self
            .get_for(c, server, "os_compute_api:os-volumes-attachments:create")
            .await?;
        self.check_lock(c, &i)?;
        check_state("attach_volume", &i)?;
        let block = self.block()?;
        let service = self.service_token().await?;
        let tokens = Tokens::with_service(user_token, &service);
        let vol = block.volume_get(tokens, &req.volume_id).await?;
        let lock = self.lock_for(&i.uuid);
        let _g = lock.lock().await;
        let existing = self.bdms(&i.uuid).await?;
        if existing.iter().any(|b| b.volume_id == req.volume_id) {
            return Err(Error::bad_request(format!(
                "Invalid volume: volume {} already attached",
                req.volume_id
            )));
        }
        let status = vol["status"].as_str().unwrap_or_default();
        let multiattach = vol["multiattach"].as_bool().unwrap_or(false);
        if multiattach && c.minor < 60 {
            return Err(Error::bad_request(MULTIATTACH_BEFORE_260));
        }
        if !(status == "available" || (status == "in-use" && multiattach)) {
            return Err(Error::bad_request(format!(
                "Invalid volume: volume {} status must be available or in-use with multiattach, but current status is: {status}",
                req.volume_id
            )));
        }
        let used: Vec<Option<String>> = existing.iter().map(|b| b.device_name.clone()).collect();
        let device = next_device(&used);
        let att = block
            .attachment_create(tokens, &req.volume_id, &i.uuid, None)
            .await?;
        let bdm = Bdm {
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: i.uuid.clone(),
            volume_id: req.volume_id.clone(),
            attachment_id: Some(att.id.clone()),
            device_name: Some(device),
            tag: req.tag.clone(),
            delete_on_termination: req.delete_on_termination,
            boot_index: None,
            source_type: "volume".into(),
            destination_type: "volume".into(),
            source_id: None,
            volume_size: vol["size"].as_i64(),
            volume_type: None,
            connection_info: None,
            state: store::ATTACHING.into(),
            created_at: crate::servers::app::now(),
        };
        {
            let mut conn = self.compute.conn().await?;
            if let Err(e) = store::insert(&mut conn, &bdm).await {
                drop(conn);
                let _ = block.attachment_delete(tokens, &att.id).await;
                return Err(e);
            }
        }
        let host = i.host.clone().unwrap_or_default();
        let res = match self.driver_for(&host) {
            Ok(d) => {
                self.connect_bdm(&i, &block, tokens, bdm.clone(), d.as_ref(), true)
                    .await
            }
            Err(e) => Err(e),
        };
        match res {
            Ok(b) => Ok(b),
            Err(e) => {
                tracing::warn!(instance.id = %i.uuid, volume.id = %req.volume_id, error = %e, "volume attach failed; undoing it");
                self.undo_attach(&i, &block, tokens, &bdm).await;
                Err(e)
            }
        }
    }

    /// Attach step 2: connector → connection_info → driver attach (`hotplug`;
    /// otherwise the spawn attaches) → row → complete.
    pub(crate) async fn connect_bdm(
        &self,
        i: &Instance,
        block: &BlockClient,
        tokens: Tokens<'_>,
        mut bdm: Bdm,
        driver: &dyn ComputeDriver,
        hotplug: bool,
    ) -> Result<Bdm, Error> {
        let host = match &i.host {
            Some(h) => h.clone(),
            None => driver.name().to_owned(),
        };
        let att_id = bdm.attachment_id.clone().unwrap_or_default();
        let connector = Self::connector(&host, driver, bdm.device_name.as_deref());
        let att = block.attachment_update(tokens, &att_id, &connector).await?;
        let info = att.connection_info.ok_or_else(|| {
            Error::internal(format!("attachment {att_id} answered no connection_info"))
        })?;
        let boot = bdm.boot_index.and_then(|x| u32::try_from(x).ok());
        let va = self
            .volume_attachment(block, tokens, &bdm.volume_id, &info, boot)
            .await?;
        if hotplug {
            let dev = driver
                .attach_volume(&i.uuid, &va)
                .await
                .map_err(|e| Error::internal(format!("attach_volume: {e}")))?;
            if !dev.is_empty() {
                bdm.device_name = Some(dev);
            }
        }
        bdm.connection_info = Some(
            serde_json::to_string(&info)
                .map_err(|e| Error::internal(format!("connection_info: {e}")))?,
        );
        {
            let mut conn = self.compute.conn().await?;
            store::update(&mut conn, &bdm, &crate::servers::app::now()).await?;
        }
        block.attachment_complete(tokens, &att_id).await?;
        bdm.state = store::ATTACHED.into();
        let mut conn = self.compute.conn().await?;
        store::update(&mut conn, &bdm, &crate::servers::app::now()).await?;
        Ok(bdm)
    }

    /// Undoes a failed attach: driver detach, attachment delete, row removed.
    async fn undo_attach(&self, i: &Instance, block: &BlockClient, tokens: Tokens<'_>, bdm: &Bdm) {
        if let Some(h) = &i.host {
            if let Ok(d) = self.driver_for(h) {
                if let Err(e) = d.detach_volume(&i.uuid, &bdm.volume_id).await {
                    tracing::warn!(instance.id = %i.uuid, volume.id = %bdm.volume_id, error = %e, "undo attach: driver detach failed");
                }
            }
        }
        if let Some(a) = &bdm.attachment_id {
            match block.attachment_delete(tokens, a).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => {
                    tracing::error!(volume.id = %bdm.volume_id, attachment.id = %a, error = %e, "undo attach: attachment delete failed");
                }
            }
        }
        if let Ok(mut c) = self.compute.conn().await {
            let _ = store::delete(&mut c, &bdm.uuid).await;
        }
    }

    /// `GET /servers/{id}/os-volume_attachments`: the server and its mappings.
    pub async fn volume_attachments(
        &self,
        c: &Caller,
        server: &str,
    ) -> Result<(Instance, Vec<Bdm>), Error> {
        let i = self
            .get_for(c, server, "os_compute_api:os-volumes-attachments:index")
            .await?;
        let b = self.bdms(&i.uuid).await?;
        Ok((i, b))
    }

    /// `GET /servers/{id}/os-volume_attachments/{volume}`.
    pub async fn volume_attachment_show(
        &self,
        c: &Caller,
        server: &str,
        volume: &str,
    ) -> Result<Bdm, Error> {
        let i = self
            .get_for(c, server, "os_compute_api:os-volumes-attachments:show")
            .await?;
        self.bdms(&i.uuid)
            .await?
            .into_iter()
            .find(|b| b.volume_id == volume)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Volume {volume} is not attached to the instance {}",
                    i.uuid
                ))
            })
    }

    /// `PUT /servers/{id}/os-volume_attachments/{volume}` with the same volume (2.85):
    /// changes `delete_on_termination`; `id`, `serverId`, `device` and `tag` may only
    /// repeat the current values (Nova's 400 otherwise).
    pub async fn volume_attachment_update(
        &self,
        c: &Caller,
        server: &str,
        volume: &str,
        body: &serde_json::Map<String, Value>,
        delete_on_termination: Option<bool>,
    ) -> Result<(), Error> {
        let i = self
            .get_for(c, server, "os_compute_api:os-volumes-attachments:update")
            .await?;
        self.check_lock(c, &i)?;
        let lock = self.lock_for(&i.uuid);
        let _g = lock.lock().await;
        let mut bdm = self
            .bdms(&i.uuid)
            .await?
            .into_iter()
            .find(|b| b.volume_id == volume)
            .ok_or_else(|| {
                Error::not_found(format!("No volume Block Device Mapping with id {volume}."))
            })?;
        let same = |k: &str, cur: Option<&str>| match body.get(k) {
            None => true,
            Some(v) => v.as_str() == cur,
        };
        if !same("id", Some(volume)) {
            return Err(Error::bad_request("The id property is not mutable"));
        }
        if !same("serverId", Some(i.uuid.as_str())) {
            return Err(Error::bad_request("The serverId property is not mutable"));
        }
        if !same("device", bdm.device_name.as_deref()) {
            return Err(Error::bad_request("The device property is not mutable"));
        }
        if !same("tag", bdm.tag.as_deref()) {
            return Err(Error::bad_request("The tag property is not mutable"));
        }
        if let Some(d) = delete_on_termination {
            bdm.delete_on_termination = d;
            let mut conn = self.compute.conn().await?;
            store::update(&mut conn, &bdm, &crate::servers::app::now()).await?;
        }
        Ok(())
    }

    /// `DELETE /servers/{id}/os-volume_attachments/{volume}`.
    pub async fn volume_detach(
        self: &Arc<Self>,
        c: &Caller,
        user_token: &str,
        server: &str,
        volume: &str,
    ) -> Result<(), Error> {
        let i = self
            .get_for(c, server, "os_compute_api:os-volumes-attachments:delete")
            .await?;
        self.check_lock(c, &i)?;
        check_state("detach_volume", &i)?;
        let lock = self.lock_for(&i.uuid);
        let _g = lock.lock().await;
        let mut bdm = self
            .bdms(&i.uuid)
            .await?
            .into_iter()
            .find(|b| b.volume_id == volume)
            .ok_or_else(|| {
                Error::not_found(format!("No volume Block Device Mapping with id {volume}."))
            })?;
        if bdm.boot_index == Some(0) {
            return Err(Error::bad_request("Cannot detach a root device volume"));
        }
        if bdm.state != store::ATTACHED {
            return Err(Error::bad_request(format!(
                "Invalid volume: volume {volume} is {} and cannot be detached now",
                bdm.state
            )));
        }
        let block = self.block()?;
        let service = self.service_token().await?;
        let tokens = Tokens::with_service(user_token, &service);
        block.begin_detaching(tokens, volume).await?;
        bdm.state = store::DETACHING.into();
        {
            let mut conn = self.compute.conn().await?;
            store::update(&mut conn, &bdm, &crate::servers::app::now()).await?;
        }
        let host = i.host.clone().unwrap_or_default();
        let res = match self.driver_for(&host) {
            Ok(d) => d
                .detach_volume(&i.uuid, volume)
                .await
                .map_err(|e| Error::internal(format!("detach_volume: {e}"))),
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            tracing::warn!(instance.id = %i.uuid, volume.id = %volume, error = %e, "volume detach failed; rolling back");
            let _ = block.roll_detaching(tokens, volume).await;
            bdm.state = store::ATTACHED.into();
            let mut conn = self.compute.conn().await?;
            store::update(&mut conn, &bdm, &crate::servers::app::now()).await?;
            return Err(e);
        }
        self.finish_detach(&block, tokens, &bdm).await
    }

    /// Attachment delete (absent is fine) and the row removed.
    async fn finish_detach(
        &self,
        block: &BlockClient,
        tokens: Tokens<'_>,
        bdm: &Bdm,
    ) -> Result<(), Error> {
        if let Some(a) = &bdm.attachment_id {
            match block.attachment_delete(tokens, a).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut conn = self.compute.conn().await?;
        store::delete(&mut conn, &bdm.uuid).await
    }

    /// After a server's guest is gone (delete): every attachment deleted, and the
    /// `delete_on_termination` volumes deleted. Idempotent.
    pub(crate) async fn release_volumes(&self, uuid: &str) -> Result<(), Error> {
        let bdms = self.bdms(uuid).await?;
        if bdms.is_empty() {
            return Ok(());
        }
        let block = self.block()?;
        let service = self.service_token().await?;
        let user = self.user_tokens.lock().get(uuid).cloned();
        let user = user.unwrap_or_else(|| service.clone());
        let tokens = Tokens::with_service(&user, &service);
        for b in bdms {
            self.finish_detach(&block, tokens, &b).await?;
            if b.delete_on_termination && !b.volume_id.is_empty() {
                match block.volume_delete(tokens, &b.volume_id).await {
                    Ok(()) | Err(Error::NotFound { .. }) => {}
                    Err(e) => {
                        // The server is gone either way; the volume stays for the
                        // user to delete (Nova logs and goes on as well).
                        tracing::warn!(instance.id = %uuid, volume.id = %b.volume_id, error = %e, "deleting a delete_on_termination volume failed");
                    }
                }
            }
        }
        Ok(())
    }

    /// The server holding `volume` attached, with the mapping.
    pub(crate) async fn holder_of(&self, volume: &str) -> Result<Option<(Instance, Bdm)>, Error> {
        let rows = {
            let mut c = self.compute.conn().await?;
            store::for_volume(&mut c, volume).await?
        };
        for b in rows {
            if let Some(i) = self.reload(&b.instance_uuid).await? {
                if !i.deleted {
                    return Ok(Some((i, b)));
                }
            }
        }
        Ok(None)
    }

    /// At start: mappings a restart left half-attached are undone; half-detached ones
    /// are finished; attached ones whose Cinder attachment is gone are dropped.
    pub async fn reconcile_volumes(&self) -> Result<(), Error> {
        let Ok(block) = self.block() else {
            return Ok(());
        };
        let rows = {
            let mut c = self.compute.conn().await?;
            store::all(&mut c).await?
        };
        if rows.is_empty() {
            return Ok(());
        }
        let service = self.service_token().await?;
        let tokens = Tokens::with_service(&service, &service);
        for b in rows {
            // Under the server's lock, re-read: an operation may have settled it.
            let lock = self.lock_for(&b.instance_uuid);
            let _g = lock.lock().await;
            let b = {
                let mut c = self.compute.conn().await?;
                match store::get(&mut c, &b.uuid).await? {
                    Some(b) => b,
                    None => continue,
                }
            };
            let i = self.reload(&b.instance_uuid).await?;
            let res = match (b.state.as_str(), &i) {
                (_, None) => self.finish_detach(&block, tokens, &b).await,
                (_, Some(i)) if i.deleted => self.finish_detach(&block, tokens, &b).await,
                (store::ATTACHING, Some(i)) => {
                    tracing::warn!(instance.id = %i.uuid, volume.id = %b.volume_id, "recovery: undoing an attach interrupted by a restart");
                    self.undo_attach(i, &block, tokens, &b).await;
                    Ok(())
                }
                (store::DETACHING, Some(i)) => {
                    tracing::warn!(instance.id = %i.uuid, volume.id = %b.volume_id, "recovery: finishing a detach interrupted by a restart");
                    if let Some(h) = &i.host {
                        if let Ok(d) = self.driver_for(h) {
                            let _ = d.detach_volume(&i.uuid, &b.volume_id).await;
                        }
                    }
                    self.finish_detach(&block, tokens, &b).await
                }
                (_, Some(i)) => match &b.attachment_id {
                    Some(a) => match block.attachment_get(tokens, a).await {
                        Err(Error::NotFound { .. }) => {
                            tracing::warn!(instance.id = %i.uuid, volume.id = %b.volume_id, "recovery: the attachment is gone; dropping the mapping");
                            let mut c = self.compute.conn().await?;
                            store::delete(&mut c, &b.uuid).await
                        }
                        _ => Ok(()),
                    },
                    None => Ok(()),
                },
            };
            if let Err(e) = res {
                tracing::error!(volume.id = %b.volume_id, error = %e, "recovery: reconciling a volume mapping failed");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_passphrases() {
        assert_eq!(next_device(&[]), "/dev/vdb");
        assert_eq!(
            next_device(&[Some("/dev/vdb".into()), None, Some("/dev/vdd".into())]),
            "/dev/vdc"
        );
        assert_eq!(passphrase(&[0x00, 0xab, 0x10]), "00ab10");
    }
}
