//! Rescue and unrescue (Nova's `os-rescue` actions).
//!
//! `rescue` (ACTIVE, STOPPED, ERROR; not for a volume-backed server, 400 as Nova
//! without 2.87 host support) boots the guest from a fresh disk made from the rescue
//! image (`rescue_image_ref`, default the server's own image) with the server's root
//! disk attached as the second disk, and answers 200 `{"adminPass"}` (Nova's
//! `enable_instance_password` default; the password is not injected into the guest).
//! `unrescue` (RESCUED) boots the guest from its own disks again: ACTIVE.

use std::sync::Arc;

use rustack_common::Error;
use rustack_compute_api::server::state::{self, Action, TaskState, VmState};

use super::app::{random_password, ActionOutcome, Caller};
use super::Servers;

impl Servers {
    /// `rescue`.
    pub(crate) async fn rescue(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
        admin_pass: Option<String>,
        rescue_image_ref: Option<String>,
    ) -> Result<ActionOutcome, Error> {
        let i = self.get_for(c, uuid, "os_compute_api:os-rescue").await?;
        self.remember_user_token(&i.uuid, &c.token.0);
        // Lock and state first (Nova's decorators), then the image.
        self.check_lock(c, &i)?;
        let vm = VmState::parse(&i.vm_state).unwrap_or(VmState::Error);
        let task = i.task_state.as_deref().and_then(TaskState::parse);
        state::check(Action::Rescue, &i.uuid, vm, task).map_err(|e| Error::conflict(e.message))?;
        let token = self.service_token().await?;
        if let Some(r) = &rescue_image_ref {
            let unsupported =
                || Error::bad_request(format!("Requested rescue image '{r}' is not supported"));
            let img = self
                .glance
                .show(&token, r)
                .await
                .map_err(|_| unsupported())?
                .ok_or_else(unsupported)?;
            if img.doc.get("block_device_mapping").is_some() {
                return Err(unsupported());
            }
        }
        if i.image_ref.is_none() {
            return Err(Error::bad_request(format!(
                "Instance {} cannot be rescued: Cannot rescue a volume-backed instance",
                i.uuid
            )));
        }
        let image = rescue_image_ref.or_else(|| i.image_ref.clone());
        let (i, action_id) = self.begin(c, &i, Action::Rescue).await?;
        let password = admin_pass.unwrap_or_else(|| random_password(12));
        let me = self.clone();
        let id = i.uuid.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&id);
            let _g = lock.lock().await;
            let res = async {
                let img = image.ok_or_else(|| Error::internal("rescue without an image"))?;
                let token = me.service_token().await?;
                let (path, format) = me.fetch_image(&token, &img).await?;
                let host = me
                    .reload(&id)
                    .await?
                    .and_then(|i| i.host)
                    .ok_or_else(|| Error::conflict("The server has no host"))?;
                me.driver_for(&host)?
                    .rescue(&id, &path, &format)
                    .await
                    .map_err(|e| Error::internal(format!("rescue: {e}")))?;
                me.modify(&id, |x| {
                    if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                        return Ok(());
                    }
                    x.vm_state = VmState::Rescued.as_str().into();
                    x.task_state = None;
                    x.power_state = state::POWER_RUNNING;
                    Ok(())
                })
                .await
                .map(|_| ())
            }
            .await;
            match res {
                Ok(()) => {
                    me.finish_action_ok(action_id, "compute_rescue_instance")
                        .await
                }
                Err(e) => {
                    tracing::warn!(instance.id = %id, error = %e, "rescue failed");
                    me.finish_action_err(action_id, "compute_rescue_instance", &e)
                        .await;
                    me.settle_after_failure(&id).await;
                }
            }
        });
        Ok(ActionOutcome::Rescued(password))
    }

    /// `unrescue`.
    pub(crate) async fn unrescue(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
    ) -> Result<ActionOutcome, Error> {
        let i = self.get_for(c, uuid, "os_compute_api:os-unrescue").await?;
        let (i, action_id) = self.begin(c, &i, Action::Unrescue).await?;
        let me = self.clone();
        let id = i.uuid.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&id);
            let _g = lock.lock().await;
            let res = async {
                let host = me
                    .reload(&id)
                    .await?
                    .and_then(|i| i.host)
                    .ok_or_else(|| Error::conflict("The server has no host"))?;
                me.driver_for(&host)?
                    .unrescue(&id)
                    .await
                    .map_err(|e| Error::internal(format!("unrescue: {e}")))?;
                me.modify(&id, |x| {
                    if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                        return Ok(());
                    }
                    x.vm_state = VmState::Active.as_str().into();
                    x.task_state = None;
                    x.power_state = state::POWER_RUNNING;
                    Ok(())
                })
                .await
                .map(|_| ())
            }
            .await;
            match res {
                Ok(()) => {
                    me.finish_action_ok(action_id, "compute_unrescue_instance")
                        .await
                }
                Err(e) => {
                    tracing::warn!(instance.id = %id, error = %e, "unrescue failed");
                    me.finish_action_err(action_id, "compute_unrescue_instance", &e)
                        .await;
                    me.settle_after_failure(&id).await;
                }
            }
        });
        Ok(ActionOutcome::Accepted)
    }
}
