//! `restore` and `forceDelete` (Nova's `os-deferred-delete` actions).
//!
//! rustack deletes at once (Nova's default `reclaim_instance_interval = 0`), so no
//! server is ever SOFT_DELETED: `restore` always meets Nova's state check (409
//! "Cannot 'restore' instance X while it is in vm_state Y"), and `forceDelete` is a
//! delete that Nova allows in any vm_state but not while a task runs.

use std::sync::Arc;

use rustack_common::Error;
use rustack_compute_api::server::state::VmState;

use super::app::{ActionOutcome, Caller};
use super::Servers;

impl Servers {
    /// `restore`.
    pub(crate) async fn restore(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
    ) -> Result<ActionOutcome, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-deferred-delete:restore")
            .await?;
        self.check_lock(c, &i)?;
        // Never soft-deleted here (see the module documentation).
        if i.vm_state != VmState::SoftDeleted.as_str() {
            return Err(Error::conflict(format!(
                "Cannot 'restore' instance {} while it is in vm_state {}",
                i.uuid, i.vm_state
            )));
        }
        // A soft-deleted row could only come from another deployment's data.
        Err(Error::conflict(format!(
            "Instance {} cannot be restored: rustack does not keep soft-deleted servers",
            i.uuid
        )))
    }

    /// `forceDelete`.
    pub(crate) async fn force_delete(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
    ) -> Result<ActionOutcome, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-deferred-delete:force")
            .await?;
        self.check_lock(c, &i)?;
        if let Some(t) = &i.task_state {
            return Err(Error::conflict(format!(
                "Cannot 'forceDelete' instance {} while it is in task_state {t}",
                i.uuid
            )));
        }
        self.delete(c, uuid).await?;
        Ok(ActionOutcome::Accepted)
    }
}
