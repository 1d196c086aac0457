//! External events (`os-server-external-events`) and assisted volume snapshots
//! (`os-assisted-volume-snapshots`): what Block Storage and Networking tell the
//! compute service, and what Block Storage asks it to do for volumes a guest holds
//! open.
//!
//! rustack's assisted snapshot is synchronous and internal (`qcow2-internal`): the
//! driver takes a qcow2 internal snapshot of the attached volume through QMP and the
//! answer means it is done, so Block Storage needs no `os-update_snapshot_status`
//! callback.

use rustack_block_api::client::Tokens;
use rustack_common::Error;
use rustack_compute_api::server::request::{canonical_uuid, is_uuid_like};

use crate::servers::Servers;

/// GiB in bytes.
const GIB: u64 = 1 << 30;

impl Servers {
    /// Whether `server` names an existing server (an event for any other is 404).
    pub async fn external_event_target(&self, server: &str) -> bool {
        is_uuid_like(server)
            && matches!(self.reload(&canonical_uuid(server)).await, Ok(Some(i)) if !i.deleted)
    }

    /// Handles one external event; the per-event code Nova answers: 200 accepted,
    /// 404 no such server, 422 the server has no host. As in Nova, what the event
    /// asks for happens after the answer's decision (a `volume-extended` for a volume
    /// the server does not have is accepted and logged).
    pub async fn external_event(&self, name: &str, server: &str, tag: Option<&str>) -> u16 {
        if !is_uuid_like(server) {
            return 404;
        }
        let uuid = canonical_uuid(server);
        let i = match self.reload(&uuid).await {
            Ok(Some(i)) if !i.deleted => i,
            _ => return 404,
        };
        let Some(host) = i.host.clone() else {
            return 422;
        };
        match name {
            "power-update" => {
                self.power_update(&uuid, &host, tag.unwrap_or_default())
                    .await
            }
            "volume-extended" => {
                let vol = tag.unwrap_or_default();
                let bdms = self.volumes_of(&uuid).await.unwrap_or_default();
                if !bdms.iter().any(|b| b.volume_id == vol) {
                    tracing::warn!(instance.id = %uuid, volume.id = %vol, "volume-extended for a volume the server does not have; ignored");
                } else if let Err(e) = self.extend_attached(&uuid, &host, vol).await {
                    // Accepted as Nova does (the work is its compute host's); the
                    // failure is logged there.
                    tracing::error!(instance.id = %uuid, volume.id = %vol, error = %e, "volume-extended: resizing the guest's disk failed");
                }
            }
            other => {
                tracing::info!(instance.id = %uuid, event = other, tag = tag.unwrap_or_default(), "external event received");
            }
        }
        200
    }

    async fn extend_attached(&self, uuid: &str, host: &str, volume: &str) -> Result<(), Error> {
        let block = self.block()?;
        let service = self.service_token().await?;
        let v = block
            .volume_get(Tokens::with_service(&service, &service), volume)
            .await?;
        let size = v["size"]
            .as_u64()
            .ok_or_else(|| Error::internal(format!("volume {volume} answered no size")))?;
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        self.driver_for(host)?
            .extend_volume(uuid, volume, size * GIB)
            .await
            .map_err(|e| Error::internal(format!("extend_volume: {e}")))
    }

    async fn snapshot_target(
        &self,
        volume: &str,
    ) -> Result<(String, std::sync::Arc<dyn rustack_virt::ComputeDriver>), Error> {
        let (i, _) = self.holder_of(volume).await?.ok_or_else(|| {
            Error::bad_request(format!("No volume Block Device Mapping with id {volume}."))
        })?;
        let host = i.host.clone().ok_or_else(|| {
            Error::conflict(format!("Instance {} is not ready: it has no host.", i.uuid))
        })?;
        Ok((i.uuid, self.driver_for(&host)?))
    }

    /// `POST /os-assisted-volume-snapshots` (`qcow2-internal`): an internal snapshot
    /// `name` of `volume` taken by the guest's driver.
    pub async fn assisted_snapshot_create(&self, volume: &str, name: &str) -> Result<(), Error> {
        let (uuid, d) = self.snapshot_target(volume).await?;
        let lock = self.lock_for(&uuid);
        let _g = lock.lock().await;
        d.volume_snapshot_create(&uuid, volume, name)
            .await
            .map_err(|e| Error::internal(format!("volume_snapshot_create: {e}")))
    }

    /// `DELETE /os-assisted-volume-snapshots/{id}`: deletes internal snapshot `name`.
    pub async fn assisted_snapshot_delete(&self, volume: &str, name: &str) -> Result<(), Error> {
        let (uuid, d) = self.snapshot_target(volume).await?;
        let lock = self.lock_for(&uuid);
        let _g = lock.lock().await;
        d.volume_snapshot_delete(&uuid, volume, name)
            .await
            .map_err(|e| Error::internal(format!("volume_snapshot_delete: {e}")))
    }
}
