//! The power-state sync (Nova's `_sync_power_states`): periodically compare what each
//! host's driver reports with the database. A guest that died or shut itself down
//! becomes SHUTOFF (power_state SHUTDOWN); a server whose guest vanished from its host
//! is reported as shut down too. Operations in flight win (their task_state is set).
//! At start nothing is killed: running guests keep running and are re-adopted. Every
//! few passes the leftover reconciliation (`reconcile.rs`) runs too.

use std::collections::HashMap;
use std::sync::Arc;

use rustack_common::Error;
use rustack_compute_api::server::state::{self, TaskState, VmState};

use super::store;
use super::Servers;

/// Power-sync passes between two leftover reconciliations
/// ([`Servers::reconcile_leftovers`]).
const RECONCILE_EVERY: u32 = 10;

/// Runs [`Servers::sync_power_states`] every `sync_interval` until `shutdown`, and the
/// leftover reconciliation every [`RECONCILE_EVERY`] passes.
pub async fn run(s: Arc<Servers>, shutdown: rustack_runtime::Shutdown) {
    let wait = shutdown.wait();
    tokio::pin!(wait);
    let mut pass: u32 = 0;
    loop {
        tokio::select! {
            _ = &mut wait => return,
            _ = tokio::time::sleep(s.cfg.sync_interval) => {}
        }
        if let Err(e) = s.sync_power_states().await {
            tracing::warn!(error = %e, "power-state sync failed");
        }
        pass = pass.wrapping_add(1);
        if pass.is_multiple_of(RECONCILE_EVERY) {
            if let Err(e) = s.reconcile_leftovers(false).await {
                tracing::warn!(error = %e, "leftover reconciliation failed");
            }
        }
    }
}

impl Servers {
    /// One pass of the power-state sync; returns how many servers changed.
    pub async fn sync_power_states(&self) -> Result<usize, Error> {
        let rows = {
            let mut c = self.compute.conn().await?;
            store::list_instances(&mut c, None, None, false).await?
        };
        let mut by_host: HashMap<String, Vec<store::Instance>> = HashMap::new();
        for i in rows {
            if let Some(h) = &i.host {
                by_host.entry(h.clone()).or_default().push(i);
            }
        }
        let mut changed = 0;
        for (host, instances) in by_host {
            let Ok(driver) = self.driver_for(&host) else {
                continue;
            };
            let listed: HashMap<String, u8> = match driver.list().await {
                Ok(l) => l.into_iter().map(|(u, p)| (u, p.code())).collect(),
                Err(e) => {
                    tracing::warn!(host = %host, error = %e, "power-state sync: driver list failed");
                    continue;
                }
            };
            for i in instances {
                if i.task_state.is_some() || i.vm_state == VmState::Building.as_str() {
                    continue;
                }
                // Serialize with operations on the server and re-read under the lock.
                let lock = self.lock_for(&i.uuid);
                let Ok(_g) = lock.try_lock() else { continue };
                let power = listed
                    .get(&i.uuid)
                    .copied()
                    .unwrap_or(state::POWER_SHUTDOWN);
                let vm = VmState::parse(&i.vm_state).unwrap_or(VmState::Error);
                let task = i.task_state.as_deref().and_then(TaskState::parse);
                let update = state::sync_power(vm, task, power);
                if update.is_none() && power == i.power_state {
                    continue;
                }
                let res = self
                    .modify(&i.uuid, |x| {
                        if x.task_state.is_some() {
                            return Ok(());
                        }
                        x.power_state = power;
                        if let Some((v, p)) = update {
                            x.vm_state = v.as_str().into();
                            x.power_state = p;
                        }
                        Ok(())
                    })
                    .await;
                match res {
                    Ok(_) => {
                        changed += 1;
                        tracing::info!(instance.id = %i.uuid, power_state = power, "power-state sync updated a server");
                    }
                    Err(e) => {
                        tracing::warn!(instance.id = %i.uuid, error = %e, "power-state sync write failed")
                    }
                }
            }
        }
        Ok(changed)
    }
}
