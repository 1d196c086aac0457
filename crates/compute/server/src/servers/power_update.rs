//! The `power-update` external event (2.76): the power of a server changed outside
//! the compute service (Nova's `ComputeManager.power_update`). `POWER_OFF` moves an
//! ACTIVE server with no task to STOPPED, `POWER_ON` a STOPPED one to ACTIVE; other
//! states, a task in progress or another tag leave it alone. Nova only records the
//! new state (its ironic driver is told); rustack's drivers are told too, so the
//! periodic power sync agrees with the record.

use std::time::Duration;

use rustack_compute_api::server::state::{self, VmState};

use super::Servers;

impl Servers {
    /// Applies a `power-update` event with `tag` to server `uuid` on `host`.
    pub(crate) async fn power_update(&self, uuid: &str, host: &str, tag: &str) {
        let lock = self.lock_for(uuid);
        let _g = lock.lock().await;
        let Ok(Some(i)) = self.reload(uuid).await else {
            return;
        };
        if i.task_state.is_some() {
            tracing::info!(instance.id = %uuid, tag, "power-update ignored: a task is in progress");
            return;
        }
        let (from, to, power) = match tag {
            "POWER_OFF" => (VmState::Active, VmState::Stopped, state::POWER_SHUTDOWN),
            "POWER_ON" => (VmState::Stopped, VmState::Active, state::POWER_RUNNING),
            other => {
                tracing::info!(instance.id = %uuid, tag = other, "power-update with an unknown tag ignored");
                return;
            }
        };
        if i.vm_state != from.as_str() {
            return;
        }
        let res = match self.driver_for(host) {
            Ok(d) if to == VmState::Stopped => d
                .power_off(uuid, Duration::from_secs(60))
                .await
                .map_err(|e| e.to_string()),
            Ok(d) => d.power_on(uuid).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = res {
            tracing::warn!(instance.id = %uuid, tag, error = %e, "power-update: the driver could not follow");
        }
        let _ = self
            .modify(uuid, |x| {
                if x.task_state.is_none() && x.vm_state == from.as_str() {
                    x.vm_state = to.as_str().into();
                    x.power_state = power;
                }
                Ok(())
            })
            .await;
    }
}
