//! Boot from volume and volumes requested at server create
//! (`block_device_mapping_v2`, legacy `block_device_mapping`).
//!
//! The API validates the requested volumes against Block Storage and Image (Nova's
//! `_validate_bdm` messages) and stores one mapping row per volume in state
//! `requested`. The build then, after the claim and the ports: creates the volumes
//! to be made from an image, a snapshot or nothing (`POST /volumes`, polled until
//! `available` within a deadline), reserves every volume for the server
//! (`POST /attachments`), connects it with this host's connector and completes the
//! attachment; the spawn gets them as `InstanceSpec.volumes` (boot index 0 replaces
//! the image root disk). Every created volume and every attachment is logged as a
//! build step first, so the build's undo deletes them.

use std::time::{Duration, Instant};

use rustack_block_api::client::Tokens;
use rustack_common::Error;
use rustack_compute_api::server::request::BlockDeviceRequest;
use serde_json::{json, Value};

use super::store::{self, Bdm};
use crate::servers::app::Caller;
use crate::servers::store::Instance;
use crate::servers::Servers;

/// Build step: a volume the build created (undo: delete it).
pub const UNDO_VOLUME: &str = "volume";
/// Build step: an attachment the build made (undo: delete it).
pub const UNDO_ATTACHMENT: &str = "attachment";

/// How long the build waits for a new volume to become `available` (Nova:
/// `block_device_allocate_retries` 60 x 3 s).
const VOLUME_WAIT: Duration = Duration::from_secs(180);

fn invalid(why: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Block Device Mapping is Invalid: {why}"))
}

fn gib_ceil(bytes: u64) -> i64 {
    (bytes.div_ceil(1 << 30)).max(1) as i64
}

impl Servers {
    /// Validates the requested volumes of a create (caller's token); the mapping rows
    /// to store (state `requested`, no server yet).
    pub(crate) async fn validate_block_devices(
        &self,
        c: &Caller,
        reqs: &[BlockDeviceRequest],
    ) -> Result<Vec<Bdm>, Error> {
        if reqs.is_empty() {
            return Ok(Vec::new());
        }
        let block = self.block().map_err(|_| {
            invalid("volumes are not available in this cloud (no block storage service).")
        })?;
        self.compute.authorize(
            &c.auth,
            "os_compute_api:servers:create:attach_volume",
            &json!({"project_id": c.auth.project_id, "user_id": c.auth.user_id}),
        )?;
        let service = self.service_token().await?;
        let tokens = Tokens::with_service(&c.token.0, &service);
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (n, r) in reqs.iter().enumerate() {
            let id = r.uuid.clone().unwrap_or_default();
            let mut size = r.volume_size;
            match r.source_type.as_str() {
                "volume" => {
                    if seen.contains(&id) {
                        return Err(invalid(format!("volume {id} is requested twice.")));
                    }
                    seen.push(id.clone());
                    let v = match block.volume_get(tokens, &id).await {
                        Ok(v) => v,
                        Err(Error::NotFound { .. }) | Err(Error::Forbidden { .. }) => {
                            return Err(invalid(format!("failed to get volume {id}.")))
                        }
                        Err(e) => return Err(e),
                    };
                    let status = v["status"].as_str().unwrap_or_default();
                    let multi = v["multiattach"].as_bool().unwrap_or(false);
                    if multi && c.minor < 60 {
                        return Err(Error::bad_request(super::MULTIATTACH_BEFORE_260));
                    }
                    if !(status == "available" || (status == "in-use" && multi)) {
                        return Err(Error::bad_request(format!(
                            "Invalid volume: volume '{id}' status must be 'available'. Currently in '{status}'"
                        )));
                    }
                    let bootable = match &v["bootable"] {
                        Value::Bool(b) => *b,
                        Value::String(s) => s == "true",
                        _ => false,
                    };
                    if r.boot_index == Some(0) && !bootable {
                        return Err(Error::bad_request(format!(
                            "Block Device {id} is not bootable."
                        )));
                    }
                    size = v["size"].as_i64().or(size);
                }
                "snapshot" => {
                    let s = match block.snapshot_get(tokens, &id).await {
                        Ok(s) => s,
                        Err(Error::NotFound { .. }) | Err(Error::Forbidden { .. }) => {
                            return Err(invalid(format!("failed to get snapshot {id}.")))
                        }
                        Err(e) => return Err(e),
                    };
                    if s["status"].as_str() != Some("available") {
                        return Err(invalid(format!("snapshot {id} is not available.")));
                    }
                    size = size.or_else(|| s["size"].as_i64());
                }
                "image" => {
                    let img = self
                        .glance
                        .show(&c.token.0, &id)
                        .await?
                        .ok_or_else(|| invalid(format!("failed to get image {id}.")))?;
                    if img.status != "active" {
                        return Err(Error::bad_request(format!("Image {id} is not active.")));
                    }
                    let need = (img.min_disk as i64).max(img.size.map(gib_ceil).unwrap_or(1));
                    match size {
                        Some(s) if s < need => {
                            return Err(Error::bad_request(format!(
                                "Volume is smaller than the minimum size specified in image metadata. Volume size is {} bytes, minimum size is {} bytes.",
                                s << 30,
                                need << 30
                            )))
                        }
                        Some(_) => {}
                        None => size = Some(need),
                    }
                }
                _ => {}
            }
            out.push(Bdm {
                uuid: uuid::Uuid::new_v4().to_string(),
                instance_uuid: String::new(),
                volume_id: if r.source_type == "volume" {
                    id.clone()
                } else {
                    String::new()
                },
                attachment_id: None,
                device_name: None,
                tag: r.tag.clone(),
                delete_on_termination: r.delete_on_termination,
                boot_index: r.boot_index,
                source_type: r.source_type.clone(),
                source_id: (r.source_type == "image" || r.source_type == "snapshot")
                    .then(|| id.clone()),
                destination_type: "volume".into(),
                volume_size: size,
                volume_type: r.volume_type.clone(),
                connection_info: None,
                state: store::REQUESTED.into(),
                // Keeps the request order among rows made in the same instant.
                created_at: format!("{}#{n:04}", crate::servers::app::now()),
            });
        }
        Ok(out)
    }

    /// Stores the validated mappings of a new server (inside its create transaction).
    pub(crate) async fn store_block_devices(
        conn: &mut sqlx::AnyConnection,
        instance: &str,
        rows: &[Bdm],
    ) -> Result<(), Error> {
        for b in rows {
            let mut b = b.clone();
            b.uuid = uuid::Uuid::new_v4().to_string();
            b.instance_uuid = instance.to_owned();
            store::insert(conn, &b).await?;
        }
        Ok(())
    }

    async fn log_volume_step(&self, uuid: &str, step: &str, data: Value) -> Result<(), Error> {
        let mut c = self.compute.conn().await?;
        crate::servers::store::log_step(
            &mut c,
            uuid,
            step,
            &data.to_string(),
            &crate::servers::app::now(),
        )
        .await
    }

    /// Build step: every requested volume made, reserved and connected on `host`
    /// (not attached to a guest yet: the spawn does that). Device names follow the
    /// request order (`/dev/vda` for the root volume).
    pub(crate) async fn prepare_volumes(&self, i: &Instance, host: &str) -> Result<(), Error> {
        let rows = self.volumes_of(&i.uuid).await?;
        if rows.iter().all(|b| b.state != store::REQUESTED) {
            return Ok(());
        }
        let mut i = i.clone();
        i.host = Some(host.to_owned());
        let i = &i;
        let block = self.block()?;
        let service = self.service_token().await?;
        let user = self
            .user_token_of(&i.uuid)
            .unwrap_or_else(|| service.clone());
        let tokens = Tokens::with_service(&user, &service);
        let driver = self.driver_for(host)?;
        let mut used: Vec<Option<String>> = rows.iter().map(|b| b.device_name.clone()).collect();
        if i.image_ref.is_some() {
            used.push(Some("/dev/vda".into()));
        }
        for mut b in rows.into_iter().filter(|b| b.state == store::REQUESTED) {
            if b.volume_id.is_empty() {
                // No availability zone, as Nova with `cross_az_attach = True`.
                let mut body = json!({
                    "size": b.volume_size.unwrap_or(1),
                    "name": "",
                });
                match (b.source_type.as_str(), &b.source_id) {
                    ("image", Some(img)) => body["imageRef"] = json!(img),
                    ("snapshot", Some(s)) => body["snapshot_id"] = json!(s),
                    _ => {}
                }
                if let Some(t) = &b.volume_type {
                    body["volume_type"] = json!(t);
                }
                let v = block.volume_create(tokens, &body).await?;
                let vid = v["id"]
                    .as_str()
                    .ok_or_else(|| Error::internal("volume create answered without an id"))?
                    .to_owned();
                self.log_volume_step(&i.uuid, UNDO_VOLUME, json!({"volume": vid, "bdm": b.uuid}))
                    .await?;
                b.volume_id = vid;
                let mut c = self.compute.conn().await?;
                store::update(&mut c, &b, &crate::servers::app::now()).await?;
                drop(c);
                self.wait_available(&block, tokens, &b.volume_id).await?;
            }
            let device = if b.boot_index == Some(0) {
                "/dev/vda".to_string()
            } else {
                super::next_device(&used)
            };
            used.push(Some(device.clone()));
            b.device_name = Some(device);
            let att = block
                .attachment_create(tokens, &b.volume_id, &i.uuid, None)
                .await?;
            self.log_volume_step(
                &i.uuid,
                UNDO_ATTACHMENT,
                json!({"attachment": att.id, "bdm": b.uuid}),
            )
            .await?;
            b.attachment_id = Some(att.id.clone());
            b.state = store::ATTACHING.into();
            let mut c = self.compute.conn().await?;
            store::update(&mut c, &b, &crate::servers::app::now()).await?;
            drop(c);
            self.connect_bdm(i, &block, tokens, b, driver.as_ref(), false)
                .await?;
        }
        Ok(())
    }

    async fn wait_available(
        &self,
        block: &rustack_block_api::client::BlockClient,
        tokens: Tokens<'_>,
        id: &str,
    ) -> Result<(), Error> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let v = block.volume_get(tokens, id).await?;
            let status = v["status"].as_str().unwrap_or_default().to_owned();
            if status == "available" {
                return Ok(());
            }
            if status.starts_with("error") || start.elapsed() > VOLUME_WAIT {
                return Err(Error::internal(format!(
                    "Volume {id} did not finish being created even after we waited {} seconds or {attempts} attempts. And its status is {status}.",
                    start.elapsed().as_secs()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Undo of [`UNDO_ATTACHMENT`]: the attachment deleted, the mapping back to
    /// `requested`.
    pub(crate) async fn undo_build_attachment(
        &self,
        uuid: &str,
        data: &Value,
    ) -> Result<(), Error> {
        let block = self.block()?;
        let service = self.service_token().await?;
        let user = self.user_token_of(uuid).unwrap_or_else(|| service.clone());
        let tokens = Tokens::with_service(&user, &service);
        if let Some(a) = data["attachment"].as_str() {
            match block.attachment_delete(tokens, a).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut c = self.compute.conn().await?;
        if let Some(mut b) = store::get(&mut c, data["bdm"].as_str().unwrap_or_default()).await? {
            b.attachment_id = None;
            b.connection_info = None;
            b.device_name = None;
            b.state = store::REQUESTED.into();
            store::update(&mut c, &b, &crate::servers::app::now()).await?;
        }
        Ok(())
    }

    /// Undo of [`UNDO_VOLUME`]: the created volume deleted, the mapping without it.
    pub(crate) async fn undo_build_volume(&self, uuid: &str, data: &Value) -> Result<(), Error> {
        let block = self.block()?;
        let service = self.service_token().await?;
        let user = self.user_token_of(uuid).unwrap_or_else(|| service.clone());
        let tokens = Tokens::with_service(&user, &service);
        if let Some(v) = data["volume"].as_str() {
            // A volume still `creating` cannot be deleted yet: wait for it briefly.
            let _ = self.wait_available(&block, tokens, v).await;
            match block.volume_delete(tokens, v).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut c = self.compute.conn().await?;
        if let Some(mut b) = store::get(&mut c, data["bdm"].as_str().unwrap_or_default()).await? {
            b.volume_id = String::new();
            b.state = store::REQUESTED.into();
            store::update(&mut c, &b, &crate::servers::app::now()).await?;
        }
        Ok(())
    }

    /// The rows of a server that never got past `requested` (a cancelled or failed
    /// build): dropped with the server.
    pub(crate) async fn drop_block_devices(&self, uuid: &str) -> Result<(), Error> {
        let mut c = self.compute.conn().await?;
        store::delete_for_instance(&mut c, uuid).await
    }
}

impl Servers {
    /// `createImage` of a volume-backed server (Nova's `snapshot_volume_backed`): a
    /// forced Block Storage snapshot of every volume and an empty, active image whose
    /// `block_device_mapping` property (with `bdm_v2 = True`) boots a new server from
    /// those snapshots. Returns the image id.
    pub(crate) async fn snapshot_volume_backed(
        &self,
        c: &Caller,
        i: &Instance,
        name: &str,
        metadata: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, Error> {
        self.compute.authorize(
            &c.auth,
            "os_compute_api:servers:create_image:allow_volume_backed",
            &json!({"project_id": i.project_id, "user_id": i.user_id}),
        )?;
        let block = self.block()?;
        let service = self.service_token().await?;
        let tokens = Tokens::with_service(&c.token.0, &service);
        let rows = self.volumes_of(&i.uuid).await?;
        let mut mapping = Vec::new();
        let mut min_disk = 0;
        for b in rows.iter().filter(|b| !b.volume_id.is_empty()) {
            let snap = block
                .snapshot_create(
                    tokens,
                    &json!({"volume_id": b.volume_id, "force": true,
                        "name": format!("snapshot for {name}")}),
                )
                .await?;
            if b.boot_index == Some(0) {
                min_disk = b.volume_size.unwrap_or(0);
            }
            mapping.push(json!({
                "source_type": "snapshot",
                "destination_type": "volume",
                "snapshot_id": snap["id"],
                "volume_id": null,
                "image_id": null,
                "volume_size": b.volume_size,
                "boot_index": b.boot_index,
                "delete_on_termination": b.delete_on_termination,
                "device_name": b.device_name,
                "tag": b.tag,
                "device_type": "disk",
                "disk_bus": "virtio",
                "guest_format": null,
                "no_device": null,
                "volume_type": null,
            }));
        }
        let mut body = crate::servers::clients::snapshot_body(
            name,
            &i.uuid,
            &c.auth.user_id,
            None,
            min_disk.max(0) as u64,
            metadata,
        );
        body["owner"] = json!(i.project_id);
        // An empty image is activated with a zero-length upload, as Nova does.
        body["disk_format"] = json!("raw");
        body["container_format"] = json!("bare");
        body["root_device_name"] = json!("/dev/vda");
        body["block_device_mapping"] = json!(Value::Array(mapping).to_string());
        body["bdm_v2"] = json!("True");
        let image_id = self.glance.create(&service, &body).await?;
        let dir = self.cfg.state_dir.join("snapshots");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::internal(format!("{}: {e}", dir.display())))?;
        let empty = dir.join(format!("{image_id}.empty"));
        tokio::fs::write(&empty, b"")
            .await
            .map_err(|e| Error::internal(format!("{}: {e}", empty.display())))?;
        let res = self.glance.upload(&service, &image_id, &empty).await;
        let _ = tokio::fs::remove_file(&empty).await;
        if let Err(e) = res {
            let _ = self.glance.delete(&service, &image_id).await;
            return Err(e);
        }
        Ok(image_id)
    }
}
