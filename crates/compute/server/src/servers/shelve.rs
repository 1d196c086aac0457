//! Shelve, shelve offload and unshelve (Nova's `os-shelve` actions).
//!
//! - `shelve` (ACTIVE, STOPPED, PAUSED, SUSPENDED): the guest is powered off and, for an
//!   image-backed server, its root disk is uploaded to a snapshot image named
//!   `<server>-shelved` made at request time (as Nova's API does); the server is then
//!   SHELVED and, because rustack's `shelved_offload_time` is 0 (DevStack's default),
//!   offloaded in the same task. A volume-backed server is offloaded directly.
//! - offload (`shelveOffload` from SHELVED, or the end of a shelve): the driver instance
//!   is destroyed, the ports stay on the server but lose their host binding, the
//!   Placement allocation is removed and host/node are cleared: SHELVED_OFFLOADED.
//! - `unshelve` (SHELVED or SHELVED_OFFLOADED; 2.77 `availability_zone` only when
//!   offloaded): a SHELVED guest is powered on where it is; an offloaded one is scheduled
//!   again (claim), spawned from the shelved image (or its volumes), its ports bound to
//!   the new host. The shelved image is deleted once the guest runs. A failed unshelve
//!   leaves the server SHELVED_OFFLOADED with the error in the instance action, as
//!   Nova's conductor does on NoValidHost.
//!
//! Every step runs in a task under the server's lock; task states follow Nova's
//! (`shelving`, `shelving_image_pending_upload`, `shelving_image_uploading`,
//! `shelving_offloading`, `unshelving`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustack_common::Error;
use rustack_compute_api::server::state::{self, Action, TaskState, VmState};
use serde_json::json;

use super::app::{now, ActionOutcome, Caller};
use super::store::{Instance, Shelved};
use super::Servers;

/// Nova's message for an availability zone given to unshelve a server that is not
/// offloaded (`UnshelveInstanceInvalidState`).
fn az_needs_offloaded(i: &Instance) -> Error {
    Error::conflict(format!(
        "Specifying an availability zone or a host when unshelving server \"{}\" with \
         status \"{}\" is not supported. The server status must be SHELVED_OFFLOADED.",
        i.uuid, i.vm_state
    ))
}

impl Servers {
    /// `shelve`.
    pub(crate) async fn shelve(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
    ) -> Result<ActionOutcome, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-shelve:shelve")
            .await?;
        self.remember_user_token(&i.uuid, &c.token.0);
        let (i, action_id) = self.begin(c, &i, Action::Shelve).await?;
        // The snapshot image exists before the answer, as Nova's API creates it.
        let image_id = if i.image_ref.is_some() {
            match self.create_shelved_image(c, &i).await {
                Ok(id) => Some(id),
                Err(e) => {
                    self.settle_task(&i.uuid).await;
                    self.finish_action_err(action_id, "compute_shelve_instance", &e)
                        .await;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let me = self.clone();
        let id = i.uuid.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&id);
            let _g = lock.lock().await;
            let event = if image_id.is_some() {
                "compute_shelve_instance"
            } else {
                "compute_shelve_offload_instance"
            };
            match me.shelve_task(&id, image_id.as_deref()).await {
                Ok(()) => me.finish_action_ok(action_id, event).await,
                Err(e) => {
                    tracing::warn!(instance.id = %id, error = %e, "shelve failed");
                    me.finish_action_err(action_id, event, &e).await;
                    me.settle_after_failure(&id).await;
                }
            }
        });
        Ok(ActionOutcome::Accepted)
    }

    /// `shelveOffload`.
    pub(crate) async fn shelve_offload(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
    ) -> Result<ActionOutcome, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-shelve:shelve_offload")
            .await?;
        let (i, action_id) = self.begin(c, &i, Action::ShelveOffload).await?;
        let me = self.clone();
        let id = i.uuid.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&id);
            let _g = lock.lock().await;
            match me.offload(&id).await {
                Ok(()) => {
                    me.finish_action_ok(action_id, "compute_shelve_offload_instance")
                        .await
                }
                Err(e) => {
                    tracing::warn!(instance.id = %id, error = %e, "shelve offload failed");
                    me.finish_action_err(action_id, "compute_shelve_offload_instance", &e)
                        .await;
                    me.settle_after_failure(&id).await;
                }
            }
        });
        Ok(ActionOutcome::Accepted)
    }

    /// `unshelve` (`availability_zone`: 2.77, only for a shelved offloaded server).
    pub(crate) async fn unshelve(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
        availability_zone: Option<String>,
    ) -> Result<ActionOutcome, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-shelve:unshelve")
            .await?;
        self.remember_user_token(&i.uuid, &c.token.0);
        // Lock and state first (Nova's decorators), then the zone.
        self.check_lock(c, &i)?;
        let vm = VmState::parse(&i.vm_state).unwrap_or(VmState::Error);
        let task = i.task_state.as_deref().and_then(TaskState::parse);
        state::check(Action::Unshelve, &i.uuid, vm, task)
            .map_err(|e| Error::conflict(e.message))?;
        if let Some(az) = &availability_zone {
            if vm != VmState::ShelvedOffloaded {
                return Err(az_needs_offloaded(&i));
            }
            if !self.zone_available(az).await? {
                return Err(Error::bad_request(
                    "The requested availability zone is not available",
                ));
            }
        }
        let (i, action_id) = self.begin(c, &i, Action::Unshelve).await?;
        if let Some(az) = &availability_zone {
            self.modify(&i.uuid, |x| {
                x.requested_az = Some(az.clone());
                x.availability_zone = az.clone();
                Ok(())
            })
            .await?;
        }
        let me = self.clone();
        let id = i.uuid.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&id);
            let _g = lock.lock().await;
            match me.unshelve_task(&id).await {
                Ok(()) => {
                    me.finish_action_ok(action_id, "compute_unshelve_instance")
                        .await
                }
                Err(e) => {
                    tracing::warn!(instance.id = %id, error = %e, "unshelve failed");
                    me.finish_action_err(action_id, "compute_unshelve_instance", &e)
                        .await;
                    me.settle_after_failure(&id).await;
                }
            }
        });
        Ok(ActionOutcome::Accepted)
    }

    /// Whether `az` is a zone with an enabled compute host (Nova's
    /// `get_availability_zones(get_only_available=True)`).
    async fn zone_available(&self, az: &str) -> Result<bool, Error> {
        let mut conn = self.compute.conn().await?;
        let nodes = super::store::core::nodes(&mut conn).await?;
        for n in nodes.iter().filter(|n| n.enabled) {
            let zone = super::store::core::host_zone(&mut conn, &n.host)
                .await?
                .unwrap_or_else(|| self.compute.config().default_availability_zone.clone());
            if zone == az {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The `<name>-shelved` snapshot image (queued, filled by the shelve task).
    async fn create_shelved_image(&self, c: &Caller, i: &Instance) -> Result<String, Error> {
        let token = self.service_token().await?;
        let base = match &i.image_ref {
            Some(id) => self.glance.show(&token, id).await?,
            None => None,
        };
        let mut body = super::clients::snapshot_body(
            &format!("{}-shelved", i.name),
            &i.uuid,
            &c.auth.user_id,
            base.as_ref(),
            i.flavor.root_gb.max(0) as u64,
            &Default::default(),
        );
        body["owner"] = json!(i.project_id);
        self.glance.create(&token, &body).await
    }

    /// Power off, upload the snapshot, SHELVED, then offload.
    async fn shelve_task(&self, uuid: &str, image_id: Option<&str>) -> Result<(), Error> {
        let i = self
            .reload(uuid)
            .await?
            .ok_or_else(|| crate::error::instance_not_found(uuid))?;
        let host = i
            .host
            .clone()
            .ok_or_else(|| Error::conflict("The server has no host"))?;
        let d = self.driver_for(&host)?;
        let virt = |e: rustack_virt::VirtError| Error::internal(format!("shelve: {e}"));
        // A paused or suspended guest is stopped outright (nothing to shut down cleanly).
        d.power_off(uuid, Duration::from_secs(60))
            .await
            .map_err(virt)?;
        if let Some(image_id) = image_id {
            self.set_task_state(uuid, TaskState::ShelvingImagePendingUpload)
                .await?;
            let token = self.service_token().await?;
            let dir = self.cfg.state_dir.join("snapshots");
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| Error::internal(format!("{}: {e}", dir.display())))?;
            let dest: PathBuf = dir.join(format!("{image_id}.qcow2"));
            self.set_task_state(uuid, TaskState::ShelvingImageUploading)
                .await?;
            let res = async {
                d.snapshot(uuid, &dest).await.map_err(virt)?;
                self.glance.upload(&token, image_id, &dest).await
            }
            .await;
            let _ = tokio::fs::remove_file(&dest).await;
            if let Err(e) = res {
                let _ = self.glance.delete(&token, image_id).await;
                return Err(e);
            }
        }
        let shelved = Shelved {
            image_id: image_id.map(String::from),
            at: now(),
            host: Some(host.clone()),
        };
        self.modify(uuid, |x| {
            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                return Err(Error::conflict("deleted while shelving"));
            }
            x.vm_state = VmState::Shelved.as_str().into();
            x.task_state = Some(TaskState::ShelvingOffloading.as_str().into());
            x.power_state = state::POWER_SHUTDOWN;
            x.shelved = Some(shelved.clone());
            Ok(())
        })
        .await?;
        // `shelved_offload_time = 0`: offload at once.
        self.offload(uuid).await
    }

    /// Destroy the guest, unbind the ports, free the allocation: SHELVED_OFFLOADED.
    pub(crate) async fn offload(&self, uuid: &str) -> Result<(), Error> {
        let i = self
            .reload(uuid)
            .await?
            .ok_or_else(|| crate::error::instance_not_found(uuid))?;
        self.set_task_state(uuid, TaskState::ShelvingOffloading)
            .await?;
        if let Some(h) = &i.host {
            let d = self.driver_for(h)?;
            // Powered off first so the image of a guest shelved long ago is consistent.
            let _ = d.power_off(uuid, Duration::from_secs(60)).await;
            d.destroy(uuid)
                .await
                .map_err(|e| Error::internal(format!("shelve offload: destroy: {e}")))?;
        }
        let token = self.service_token().await?;
        for n in &i.nics {
            let r = self
                .network
                .update_port(&token, &n.port_id, json!({"binding:host_id": ""}))
                .await;
            if let Err(e) = r {
                if e.status_code() != 404 {
                    return Err(e);
                }
            }
        }
        self.placement
            .delete_allocations(uuid)
            .await
            .map_err(Error::from)?;
        let at = now();
        self.modify(uuid, |x| {
            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                return Err(Error::conflict("deleted while offloading"));
            }
            x.vm_state = VmState::ShelvedOffloaded.as_str().into();
            x.task_state = None;
            x.power_state = state::POWER_SHUTDOWN;
            x.host = None;
            x.node = None;
            x.provider = None;
            let mut s = x.shelved.clone().unwrap_or(Shelved {
                image_id: None,
                at: at.clone(),
                host: None,
            });
            s.host = None;
            x.shelved = Some(s);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Back to ACTIVE: power on where it is (SHELVED) or schedule and spawn
    /// (SHELVED_OFFLOADED); the shelved image is deleted once the guest runs.
    async fn unshelve_task(&self, uuid: &str) -> Result<(), Error> {
        let i = self
            .reload(uuid)
            .await?
            .ok_or_else(|| crate::error::instance_not_found(uuid))?;
        let token = self.service_token().await?;
        let virt = |e: rustack_virt::VirtError| Error::internal(format!("unshelve: {e}"));
        let shelved_image = i.shelved.as_ref().and_then(|s| s.image_id.clone());
        if i.vm_state == VmState::Shelved.as_str() {
            let host = i
                .host
                .clone()
                .ok_or_else(|| Error::conflict("The server has no host"))?;
            self.set_task_state(uuid, TaskState::PoweringOn).await?;
            self.driver_for(&host)?.power_on(uuid).await.map_err(virt)?;
        } else {
            let chosen = self.schedule_for(&i).await?;
            let res: Result<(), Error> = async {
                let az = if i.requested_az.is_some() {
                    i.availability_zone.clone()
                } else {
                    chosen.availability_zone.clone()
                };
                let i = self
                    .modify(uuid, |x| {
                        x.host = Some(chosen.host.clone());
                        x.node = Some(chosen.node.clone());
                        x.provider = Some(chosen.provider.clone());
                        x.availability_zone = az.clone();
                        x.task_state = Some(TaskState::Spawning.as_str().into());
                        Ok(())
                    })
                    .await?;
                let (path, format) = match (&i.image_ref, &shelved_image) {
                    (Some(_), Some(img)) => self.fetch_image(&token, img).await?,
                    // The shelved image is gone (or never was): the original image.
                    (Some(img), None) => self.fetch_image(&token, img).await?,
                    (None, _) => (PathBuf::new(), "raw".to_string()),
                };
                let d = self.driver_for(&chosen.host)?;
                let spec = self.spec_with_volumes(&i, &i.flavor, path, format).await?;
                d.spawn(&spec).await.map_err(virt)?;
                for n in &i.nics {
                    if let Err(e) = self
                        .network
                        .update_port(&token, &n.port_id, json!({"binding:host_id": chosen.host}))
                        .await
                    {
                        let _ = d.destroy(uuid).await;
                        return Err(e);
                    }
                }
                Ok(())
            }
            .await;
            if let Err(e) = res {
                // Undo the claim: the server stays offloaded.
                let _ = self.placement.delete_allocations(uuid).await;
                let _ = self
                    .modify(uuid, |x| {
                        x.host = None;
                        x.node = None;
                        x.provider = None;
                        Ok(())
                    })
                    .await;
                return Err(e);
            }
        }
        if let Some(img) = &shelved_image {
            if let Err(e) = self.glance.delete(&token, img).await {
                if e.status_code() != 404 {
                    tracing::warn!(instance.id = uuid, image.id = %img, error = %e, "could not delete the shelved image");
                }
            }
        }
        self.modify(uuid, |x| {
            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                return Ok(());
            }
            x.vm_state = VmState::Active.as_str().into();
            x.task_state = None;
            x.power_state = state::POWER_RUNNING;
            x.shelved = None;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Sets the task state unless a delete took over.
    pub(crate) async fn set_task_state(&self, uuid: &str, t: TaskState) -> Result<(), Error> {
        self.modify(uuid, |x| {
            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                return Err(Error::conflict("the server is being deleted"));
            }
            x.task_state = Some(t.as_str().into());
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Clears the task state (unless deleting).
    pub(crate) async fn settle_task(&self, uuid: &str) {
        let _ = self
            .modify(uuid, |x| {
                if x.task_state.as_deref() != Some(TaskState::Deleting.as_str()) {
                    x.task_state = None;
                }
                Ok(())
            })
            .await;
    }

    /// After a failed lifecycle step: the task state is cleared and, when the guest
    /// still exists, the power state re-read (the vm_state is what the step reached).
    pub(crate) async fn settle_after_failure(&self, uuid: &str) {
        let power = match self.reload(uuid).await {
            Ok(Some(i)) => match &i.host {
                Some(h) => match self.driver_for(h) {
                    Ok(d) => d.state(uuid).await.ok(),
                    Err(_) => None,
                },
                None => None,
            },
            _ => None,
        };
        let _ = self
            .modify(uuid, |x| {
                if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                    return Ok(());
                }
                x.task_state = None;
                if let Some(p) = power {
                    x.power_state = p.code();
                }
                Ok(())
            })
            .await;
    }
}
