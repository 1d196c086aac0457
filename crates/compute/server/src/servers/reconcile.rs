//! Leftover reconciliation: what a crash (or a failed undo) left in the other services
//! is found from the facts they keep, and released through their APIs with the `nova`
//! service user.
//!
//! - Placement allocations are keyed by the server's uuid (the consumer). On every
//!   provider of this service's compute nodes, a consumer whose server is deleted, or
//!   is in ERROR without a host (its build never finished; Nova keeps the allocations
//!   of ERROR servers that have a host), or is offloaded (SHELVED_OFFLOADED without a
//!   host, as Nova frees them), loses its allocations.
//! - Ports carry `device_id` = the server's uuid. A `compute:*` port whose server is
//!   deleted, or is in ERROR without a host and does not list the port among its NICs,
//!   is deleted (or unbound when it is one the user passed in at create).
//! - A guest a host's driver still has (disks included) whose server is deleted is
//!   destroyed.
//! - A consumer, port or guest naming no server row at all is only touched in the pass at
//!   start (nothing is building then); later passes leave it alone, since it may be
//!   another client's.
//!
//! Servers with an operation in flight (a build, or their per-server lock held) are
//! skipped, so a pass never races with the build that is about to record its host.
//! Every pass is idempotent and logs what it released. Also here: crash points for
//! the crash test ([`crash_point`]).

use std::sync::OnceLock;

use rustack_common::Error;
use rustack_compute_api::server::state::VmState;
use serde_json::json;

use super::build::NicRequest;
use super::store::{self, Instance};
use super::Servers;

/// What one pass released (for logs and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Consumers (server uuids) whose allocations were removed.
    pub allocations: Vec<String>,
    /// Ports deleted.
    pub ports_deleted: Vec<String>,
    /// Ports unbound (the user's own ports of a server that is gone).
    pub ports_unbound: Vec<String>,
    /// Guests (with their disks) destroyed on a host because their server is gone.
    pub guests_destroyed: Vec<String>,
}

impl Report {
    /// True when the pass released nothing.
    pub fn is_empty(&self) -> bool {
        self == &Report::default()
    }
}

/// The environment variable naming crash points (comma-separated) at which the process
/// aborts, as a `kill -9` would stop it there (`scripts/crash-test.sh`).
pub const CRASH_POINTS_ENV: &str = "RUSTACK_CRASH_AT";

/// Aborts the process when `name` is listed in [`CRASH_POINTS_ENV`]: a deterministic
/// crash between two side effects, for the crash test. Unset (always, outside that
/// test), this is a read of a value cached at the first call.
pub(crate) fn crash_point(name: &str) {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    let points = POINTS.get_or_init(|| {
        std::env::var(CRASH_POINTS_ENV)
            .map(|v| v.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default()
    });
    if points.iter().any(|p| p == name) {
        tracing::error!(
            crash_point = name,
            "crash point reached: aborting the process"
        );
        std::process::abort();
    }
}

/// What a pass does with a row (or the absence of one).
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// A live server that may hold what it holds.
    Keep,
    /// Gone or never built: release what it holds.
    Release,
    /// No row at all: released only when nothing can be in flight.
    Unknown,
}

/// Whether `row`'s allocations and ports are leftovers.
fn verdict(row: Option<&Instance>) -> Verdict {
    match row {
        None => Verdict::Unknown,
        Some(i) if i.deleted || i.vm_state == VmState::Deleted.as_str() => Verdict::Release,
        // ERROR that never got a host (a build that did not finish), or offloaded
        // (Nova frees an offloaded server's allocations; its ports stay in its NICs).
        Some(i)
            if (i.vm_state == VmState::Error.as_str()
                || i.vm_state == VmState::ShelvedOffloaded.as_str())
                && i.host.is_none()
                && i.task_state.is_none() =>
        {
            Verdict::Release
        }
        Some(_) => Verdict::Keep,
    }
}

impl Servers {
    /// One reconciliation pass (see the module docs). `at_start`: nothing is in flight,
    /// so consumers and ports naming no server at all are released too.
    pub async fn reconcile_leftovers(&self, at_start: bool) -> Result<Report, Error> {
        let mut report = Report::default();
        let token = self.service_token().await?;
        let providers: Vec<String> = {
            let mut c = self.compute.conn().await?;
            store::core::nodes(&mut c)
                .await?
                .into_iter()
                .map(|n| n.uuid)
                .collect()
        };
        let mut consumers: Vec<String> = Vec::new();
        for rp in &providers {
            match self.placement.provider_consumers(rp).await {
                Ok(list) => consumers.extend(list),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(Error::from(e)),
            }
        }
        consumers.sort();
        consumers.dedup();
        for consumer in consumers {
            let Some(_g) = self.quiet_lock(&consumer) else {
                continue;
            };
            let row = self.reload(&consumer).await?;
            let release = match verdict(row.as_ref()) {
                Verdict::Keep => false,
                Verdict::Release => true,
                Verdict::Unknown => at_start && self.instance_consumer(&consumer).await,
            };
            if !release {
                continue;
            }
            self.placement
                .delete_allocations(&consumer)
                .await
                .map_err(Error::from)?;
            tracing::warn!(
                instance.id = %consumer,
                vm_state = row.as_ref().map(|i| i.vm_state.as_str()).unwrap_or("none"),
                "reconcile: removed the allocations of a server that is gone or never got a host"
            );
            report.allocations.push(consumer);
        }
        let ports = self.network.list_ports(&token, &[]).await?;
        for p in ports {
            if !p.device_owner.starts_with("compute:") || p.device_id.is_empty() {
                continue;
            }
            let Some(_g) = self.quiet_lock(&p.device_id) else {
                continue;
            };
            let row = self.reload(&p.device_id).await?;
            let release = match verdict(row.as_ref()) {
                Verdict::Keep => false,
                // An ERROR server's recorded NICs stay until it is deleted.
                Verdict::Release => row
                    .as_ref()
                    .is_some_and(|i| i.deleted || !i.nics.iter().any(|n| n.port_id == p.id)),
                Verdict::Unknown => at_start,
            };
            if !release {
                continue;
            }
            // Passed in at create, or attached later: the user's, to unbind.
            let users_own = row.as_ref().is_some_and(|i| {
                serde_json::from_value::<Vec<NicRequest>>(i.requested_networks.clone())
                    .unwrap_or_default()
                    .iter()
                    .any(|r| r.port_id.as_deref() == Some(p.id.as_str()))
                    || i.nics.iter().any(|n| n.port_id == p.id && !n.created)
            });
            if users_own {
                let r = self
                    .network
                    .update_port(
                        &token,
                        &p.id,
                        json!({"device_id": "", "device_owner": "", "binding:host_id": ""}),
                    )
                    .await;
                match r {
                    Ok(_) => {}
                    Err(e) if e.status_code() == 404 => continue,
                    Err(e) => return Err(e),
                }
                tracing::warn!(port.id = %p.id, instance.id = %p.device_id, "reconcile: unbound the port of a server that is gone");
                report.ports_unbound.push(p.id);
            } else {
                self.network.delete_port(&token, &p.id).await?;
                tracing::warn!(port.id = %p.id, instance.id = %p.device_id, "reconcile: deleted the port of a server that is gone");
                report.ports_deleted.push(p.id);
            }
        }
        self.destroy_gone_guests(at_start, &mut report).await?;
        if !report.is_empty() {
            tracing::info!(
                guests_destroyed = report.guests_destroyed.len(),
                allocations = report.allocations.len(),
                ports_deleted = report.ports_deleted.len(),
                ports_unbound = report.ports_unbound.len(),
                "reconcile: leftovers released"
            );
        }
        Ok(report)
    }

    /// Destroys the guests the hosts' drivers list whose server is deleted (or, at
    /// start, has no row).
    async fn destroy_gone_guests(&self, at_start: bool, report: &mut Report) -> Result<(), Error> {
        let mut drivers: Vec<std::sync::Arc<dyn rustack_virt::ComputeDriver>> =
            self.drivers.lock().values().cloned().collect();
        if let Some(d) = self.compute.driver() {
            if !drivers.iter().any(|x| std::sync::Arc::ptr_eq(x, d)) {
                drivers.push(d.clone());
            }
        }
        for d in drivers {
            let guests = match d.list().await {
                Ok(g) => g,
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile: listing a host's guests failed");
                    continue;
                }
            };
            for (uuid, _) in guests {
                let Some(_g) = self.quiet_lock(&uuid) else {
                    continue;
                };
                let gone = match self.reload(&uuid).await? {
                    Some(i) => i.deleted,
                    None => at_start,
                };
                if !gone {
                    continue;
                }
                match d.destroy(&uuid).await {
                    Ok(()) => {
                        tracing::warn!(instance.id = %uuid, "reconcile: destroyed the guest of a deleted server");
                        report.guests_destroyed.push(uuid);
                    }
                    Err(e) => {
                        tracing::warn!(instance.id = %uuid, error = %e, "reconcile: destroying a leftover guest failed")
                    }
                }
            }
        }
        Ok(())
    }

    /// The server's lock when no operation holds it (and no build runs); `None` means
    /// busy: leave the server to its operation.
    fn quiet_lock(&self, uuid: &str) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if self.builds.lock().contains_key(uuid) {
            return None;
        }
        self.lock_for(uuid).try_lock_owned().ok()
    }

    /// Whether Placement records `consumer` as an `INSTANCE` consumer (another
    /// client's consumers of other types are never touched).
    async fn instance_consumer(&self, consumer: &str) -> bool {
        match self.placement.get_allocations(consumer).await {
            Ok(a) => a.consumer_type.as_deref().unwrap_or("INSTANCE") == "INSTANCE",
            Err(e) => {
                tracing::warn!(instance.id = %consumer, error = %e.detail, "reconcile: reading a consumer failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(vm: &str, host: Option<&str>, task: Option<&str>, deleted: bool) -> Instance {
        Instance {
            vm_state: vm.into(),
            host: host.map(String::from),
            task_state: task.map(String::from),
            deleted,
            ..Default::default()
        }
    }

    #[test]
    fn verdicts_match_nova() {
        assert_eq!(verdict(None), Verdict::Unknown);
        assert_eq!(
            verdict(Some(&row("deleted", Some("h"), None, true))),
            Verdict::Release
        );
        // ERROR without a host: the build never finished.
        assert_eq!(
            verdict(Some(&row("error", None, None, false))),
            Verdict::Release
        );
        // ERROR with a host keeps its allocations (Nova).
        assert_eq!(
            verdict(Some(&row("error", Some("h"), None, false))),
            Verdict::Keep
        );
        // An operation in flight (unshelving, deleting...) decides itself.
        assert_eq!(
            verdict(Some(&row("error", None, Some("deleting"), false))),
            Verdict::Keep
        );
        assert_eq!(
            verdict(Some(&row("building", None, Some("scheduling"), false))),
            Verdict::Keep
        );
        assert_eq!(
            verdict(Some(&row("active", Some("h"), None, false))),
            Verdict::Keep
        );
        // Offloaded: nothing allocated (an unshelve in flight has a task).
        assert_eq!(
            verdict(Some(&row("shelved_offloaded", None, None, false))),
            Verdict::Release
        );
        assert_eq!(
            verdict(Some(&row(
                "shelved_offloaded",
                None,
                Some("spawning"),
                false
            ))),
            Verdict::Keep
        );
    }
}
