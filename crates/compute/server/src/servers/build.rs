//! The build and the other long operations, as logged steps with undos.
//!
//! Build: claim (Placement) → ports (Networking) → image (per-host cache) → spawn
//! (driver) → ACTIVE. Each completed step is appended to `build_steps` with what its undo
//! needs before the next starts; on failure the logged steps are undone newest first, so
//! no allocation, port or disk leaks. A spawn failure is retried on another host (up to
//! `max_build_attempts`), like Nova's reschedule. A delete while building sets a flag the
//! build checks between steps. After a control-plane restart, [`Servers::recover`]
//! undoes unfinished builds and puts them in ERROR.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustack_common::Error;
use rustack_compute_api::server::state::{self, Action, TaskState, VmState};
use rustack_compute_api::server::Rebuild;
use rustack_network_api::client::PortCreate;
use rustack_placement_api::client::CandidateQuery;
use rustack_virt::{InstanceSpec, Nic as VirtNic, PowerState};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::app::now;
use super::scheduler::{self, HostState, RequestSpec};
use super::store::{self, FlavorSnapshot, Instance, Nic};
use super::Servers;

/// One NIC the build must provide.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicRequest {
    /// Network to create a port on.
    pub network_id: Option<String>,
    /// Existing port to bind.
    pub port_id: Option<String>,
    /// Fixed IP.
    pub fixed_ip: Option<String>,
    /// Device tag.
    pub tag: Option<String>,
}

/// Extra input of an action task.
#[derive(Debug)]
pub enum Extra {
    /// None.
    None,
    /// Rebuild request.
    Rebuild(Box<Rebuild>),
    /// Target flavor id.
    Resize(String),
    /// The image to upload the snapshot to.
    Snapshot(String),
}

/// Why a build attempt failed.
enum BuildFailure {
    /// Deleted while building.
    Cancelled,
    /// No host could take it.
    NoValidHost(String),
    /// A step failed on `host` (retry elsewhere if the step was the spawn).
    Failed {
        host: Option<String>,
        error: Error,
        retry: bool,
    },
}

const UNDO_CLAIM: &str = "claim";
const UNDO_PORT: &str = "port";
const UNDO_BIND: &str = "bind";
const UNDO_SPAWN: &str = "spawn";
/// Every `compute:*` port whose device_id is the server, except the user's own ports
/// listed in `keep`.
const UNDO_PORTS: &str = "ports";

impl Servers {
    /// Starts the build of `uuid` in a task.
    pub(crate) fn spawn_build(self: &Arc<Self>, uuid: String, action_id: i64, admin_pass: String) {
        let flag = Arc::new(AtomicBool::new(false));
        self.builds.lock().insert(uuid.clone(), flag.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&uuid);
            let _g = lock.lock().await;
            me.build(&uuid, action_id, &admin_pass, &flag).await;
            me.builds.lock().remove(&uuid);
            // A delete that raced with the end of the build (flag set after the last
            // check): finish it here, still under the server's lock.
            if flag.load(Ordering::SeqCst) {
                if let Ok(Some(i)) = me.reload(&uuid).await {
                    if !i.deleted {
                        if let Err(e) = me.destroy_everything(&uuid).await {
                            tracing::error!(instance.id = %uuid, error = %e, "delete after the build failed");
                        }
                    }
                }
            }
        });
    }

    async fn build(
        self: &Arc<Self>,
        uuid: &str,
        action_id: i64,
        _admin_pass: &str,
        cancel: &AtomicBool,
    ) {
        let started = Instant::now();
        let mut tried: Vec<String> = Vec::new();
        let attempts = self.cfg.max_build_attempts.max(1);
        let mut last_err: Option<(u16, String, String)> = None;
        for attempt in 1..=attempts {
            match self.build_attempt(uuid, &tried, cancel).await {
                Ok(()) => {
                    tracing::info!(
                        instance.id = uuid,
                        duration_ms = started.elapsed().as_millis() as u64,
                        attempt,
                        "server is active"
                    );
                    self.finish_action_ok(action_id, "compute_build_and_run_instance")
                        .await;
                    return;
                }
                Err(BuildFailure::Cancelled) => {
                    self.rollback(uuid).await;
                    if let Err(e) = self.finish_delete(uuid).await {
                        tracing::error!(instance.id = uuid, error = %e, "delete after a cancelled build failed");
                    }
                    return;
                }
                Err(BuildFailure::NoValidHost(why)) => {
                    self.rollback(uuid).await;
                    tracing::warn!(instance.id = uuid, reason = %why, "no valid host");
                    last_err = Some((
                        500,
                        "No valid host was found. There are not enough hosts available.".into(),
                        why,
                    ));
                    break;
                }
                Err(BuildFailure::Failed { host, error, retry }) => {
                    tracing::warn!(instance.id = uuid, host = ?host, attempt, error = %error, "build attempt failed");
                    self.rollback(uuid).await;
                    last_err = Some((
                        500,
                        format!("Build of instance {uuid} aborted: {}", error_text(&error)),
                        error.to_string(),
                    ));
                    if let Some(h) = host {
                        tried.push(h);
                    }
                    if !retry {
                        break;
                    }
                    if attempt == attempts {
                        last_err = Some((
                            500,
                            format!("Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance {uuid}."),
                            error.to_string(),
                        ));
                    }
                }
            }
            if cancel.load(Ordering::SeqCst) {
                let _ = self.finish_delete(uuid).await;
                return;
            }
        }
        if cancel.load(Ordering::SeqCst) {
            let _ = self.finish_delete(uuid).await;
            return;
        }
        let (code, msg, details) =
            last_err.unwrap_or((500, "Unknown build failure".into(), String::new()));
        self.set_error(uuid, code, &msg, &details).await;
        let e = Error::internal(details);
        self.finish_action_err(action_id, "compute_build_and_run_instance", &e)
            .await;
    }

    async fn log(&self, uuid: &str, step: &str, data: serde_json::Value) -> Result<(), Error> {
        let mut conn = self.compute.conn().await?;
        store::log_step(&mut conn, uuid, step, &data.to_string(), &now()).await
    }

    fn fail(host: Option<&str>, error: Error, retry: bool) -> BuildFailure {
        BuildFailure::Failed {
            host: host.map(String::from),
            error,
            retry,
        }
    }

    /// Hosts with their zone and state, for the scheduler.
    async fn host_states(&self) -> Result<Vec<HostState>, Error> {
        let mut conn = self.compute.conn().await?;
        let nodes = store::core::nodes(&mut conn).await?;
        let mut out = Vec::new();
        for n in nodes {
            let az = store::core::host_zone(&mut conn, &n.host)
                .await?
                .unwrap_or_else(|| self.compute.config().default_availability_zone.clone());
            out.push(HostState {
                provider: n.uuid,
                host: n.host,
                node: n.node,
                availability_zone: az,
                enabled: n.enabled,
                hypervisor_type: n.hypervisor_type,
                free_ram_mb: 0,
                free_vcpus: 0,
            });
        }
        Ok(out)
    }

    /// Scheduler + claim outside a build (unshelve): the chosen host, or Nova's
    /// `No valid host was found.` error.
    pub(crate) async fn schedule_for(&self, i: &Instance) -> Result<HostState, Error> {
        self.schedule(i, &[]).await.map_err(|f| match f {
            BuildFailure::NoValidHost(why) => {
                Error::bad_request(format!("No valid host was found. {why}"))
            }
            BuildFailure::Cancelled => Error::conflict("The server is being deleted"),
            BuildFailure::Failed { error, .. } => error,
        })
    }

    /// Scheduler + claim: returns the chosen host.
    async fn schedule(&self, i: &Instance, tried: &[String]) -> Result<HostState, BuildFailure> {
        let t0 = Instant::now();
        let f = &i.flavor;
        // A volume-backed server's root disk is the volume: no local disk is claimed.
        let root_gb = if i.image_ref.is_some() { f.root_gb } else { 0 };
        let resources =
            scheduler::flavor_resources(f.vcpus, f.memory_mb, root_gb, f.ephemeral_gb, f.swap);
        let mut spec = RequestSpec {
            availability_zone: i.requested_az.clone(),
            host: i
                .scheduler_hints
                .get("_force_host")
                .and_then(|v| v.as_str())
                .map(String::from),
            node: i
                .scheduler_hints
                .get("_force_node")
                .and_then(|v| v.as_str())
                .map(String::from),
            ignore_hosts: tried.iter().cloned().collect(),
            ..Default::default()
        };
        let lookup_hosts =
            |ids: &[String], rows: &[Instance]| -> std::collections::BTreeSet<String> {
                rows.iter()
                    .filter(|r| ids.contains(&r.uuid))
                    .filter_map(|r| r.host.clone())
                    .collect()
            };
        let mut conn = self
            .compute
            .conn()
            .await
            .map_err(|e| Self::fail(None, e, false))?;
        if let Some(g) = &i.group {
            let policy = store::core::group(&mut conn, g)
                .await
                .map_err(|e| Self::fail(None, e, false))?
                .map(|(_, p)| p);
            let members = store::core::group_members(&mut conn, g)
                .await
                .map_err(|e| Self::fail(None, e, false))?;
            let others: Vec<String> = members.into_iter().filter(|m| m != &i.uuid).collect();
            let rows = store::list_instances(&mut conn, None, None, false)
                .await
                .map_err(|e| Self::fail(None, e, false))?;
            let hosts = lookup_hosts(&others, &rows);
            match policy.as_deref() {
                Some("affinity") => spec.affinity_hosts = Some(hosts),
                Some("anti-affinity") => spec.anti_affinity_hosts = hosts,
                _ => {}
            }
        }
        let diff: Vec<String> = i
            .scheduler_hints
            .get("different_host")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let same: Vec<String> = i
            .scheduler_hints
            .get("same_host")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        if !diff.is_empty() || !same.is_empty() {
            let rows = store::list_instances(&mut conn, None, None, false)
                .await
                .map_err(|e| Self::fail(None, e, false))?;
            spec.ignore_hosts.extend(lookup_hosts(&diff, &rows));
            if !same.is_empty() {
                spec.same_hosts = Some(lookup_hosts(&same, &rows));
            }
        }
        drop(conn);
        let token = self
            .service_token()
            .await
            .map_err(|e| Self::fail(None, e, false))?;
        if let Some(img) = &i.image_ref {
            if let Ok(Some(info)) = self.glance.show(&token, img).await {
                spec.image_hypervisor_type = info.doc["hypervisor_type"].as_str().map(String::from);
                spec.image_arch = info.doc["architecture"].as_str().map(String::from);
            }
        }
        let mut hosts = self
            .host_states()
            .await
            .map_err(|e| Self::fail(None, e, false))?;
        for _round in 0..5 {
            let q = CandidateQuery::resources(resources.iter().map(|(k, v)| (*k, *v))).limit(1000);
            let cands = self
                .placement
                .allocation_candidates(&q)
                .await
                .map_err(|e| Self::fail(None, Error::from(e), false))?;
            for h in hosts.iter_mut() {
                h.free_ram_mb = scheduler::free(&cands, &h.provider, "MEMORY_MB");
                h.free_vcpus = scheduler::free(&cands, &h.provider, "VCPU");
            }
            let eligible: Vec<HostState> = hosts
                .iter()
                .filter(|h| cands.provider_summaries.contains_key(&h.provider))
                .cloned()
                .collect();
            let chosen = scheduler::select(&eligible, &spec);
            if chosen.is_empty() {
                return Err(BuildFailure::NoValidHost(format!(
                    "{} candidates from placement, {} hosts known, none passed the filters",
                    cands.allocation_requests.len(),
                    hosts.len()
                )));
            }
            let mut conflict = false;
            for h in chosen {
                let Some(req) = scheduler::request_for(&cands, &h.provider) else {
                    continue;
                };
                match self
                    .placement
                    .claim(&i.uuid, req, &i.project_id, &i.user_id)
                    .await
                {
                    Ok(()) => {
                        let snapshot = {
                            let mut s = self.stats.lock();
                            s.decisions += 1;
                            s.decision_micros += t0.elapsed().as_micros() as u64;
                            *s
                        };
                        if snapshot.decisions % 10 == 0 {
                            tracing::info!(
                                decisions = snapshot.decisions,
                                decision_us_total = snapshot.decision_micros,
                                claim_conflicts = snapshot.claim_conflicts,
                                "scheduler stats"
                            );
                        }
                        return Ok(h.clone());
                    }
                    Err(e) if e.status == 409 => {
                        self.stats.lock().claim_conflicts += 1;
                        conflict = true;
                        // Another claim won this host: the next candidate.
                    }
                    Err(e) => return Err(Self::fail(None, Error::from(e), false)),
                }
            }
            if !conflict {
                break;
            }
        }
        Err(BuildFailure::NoValidHost(
            "every claim lost a race for capacity".into(),
        ))
    }

    async fn build_attempt(
        self: &Arc<Self>,
        uuid: &str,
        tried: &[String],
        cancel: &AtomicBool,
    ) -> Result<(), BuildFailure> {
        let check = |stage: &str| -> Result<(), BuildFailure> {
            if cancel.load(Ordering::SeqCst) {
                tracing::info!(instance.id = uuid, stage, "build cancelled by a delete");
                return Err(BuildFailure::Cancelled);
            }
            Ok(())
        };
        let e0 = |e: Error| Self::fail(None, e, false);
        let i = self
            .reload(uuid)
            .await
            .map_err(e0)?
            .ok_or(BuildFailure::Cancelled)?;
        self.set_task(uuid, Some(TaskState::Scheduling))
            .await
            .map_err(e0)?;
        check("scheduling")?;
        // 1. Claim. Its undo is logged first: the allocation is keyed by the server's
        // uuid, so the undo needs nothing the claim returns, and a crash right after
        // the claim leaves a step the restart recovery undoes.
        self.log(uuid, UNDO_CLAIM, json!({})).await.map_err(e0)?;
        let host = self.schedule(&i, tried).await?;
        super::reconcile::crash_point("build.after_claim");
        let h = Some(host.host.as_str());
        let az = if i.requested_az.is_some() {
            i.availability_zone.clone()
        } else {
            host.availability_zone.clone()
        };
        self.modify(uuid, |x| {
            x.host = Some(host.host.clone());
            x.node = Some(host.node.clone());
            x.provider = Some(host.provider.clone());
            x.availability_zone = az.clone();
            x.task_state = Some(TaskState::Networking.as_str().into());
            Ok(())
        })
        .await
        .map_err(|e| Self::fail(h, e, false))?;
        check("networking")?;
        // 2. Ports.
        let token = self
            .service_token()
            .await
            .map_err(|e| Self::fail(h, e, false))?;
        let reqs: Vec<NicRequest> =
            serde_json::from_value(i.requested_networks.clone()).unwrap_or_default();
        let mut sg_ids = Vec::new();
        for sg in &i.security_groups {
            match self
                .network
                .find_security_group(&token, &i.project_id, sg)
                .await
            {
                Ok(Some(g)) => sg_ids.push(g.id),
                Ok(None) => {}
                Err(e) => return Err(Self::fail(h, e, false)),
            }
        }
        // The ports' undo is logged before the first port exists: ports carry
        // device_id = the server's uuid, so the undo finds what a crash left between a
        // port's create and its own log entry (the user's own ports are unbound, not
        // deleted).
        let keep: Vec<&String> = reqs.iter().filter_map(|r| r.port_id.as_ref()).collect();
        self.log(uuid, UNDO_PORTS, json!({ "keep": keep }))
            .await
            .map_err(|e| Self::fail(h, e, false))?;
        let mut nics: Vec<Nic> = Vec::new();
        for r in &reqs {
            check("networking")?;
            let port = if let Some(pid) = &r.port_id {
                self.log(uuid, UNDO_BIND, json!({"port": pid}))
                    .await
                    .map_err(|e| Self::fail(h, e, false))?;
                let p = self
                    .network
                    .update_port(
                        &token,
                        pid,
                        json!({"device_id": uuid, "device_owner": format!("compute:{az}")}),
                    )
                    .await
                    .map_err(|e| Self::fail(h, e, false))?;
                (p, false)
            } else {
                let net = r.network_id.clone().unwrap_or_default();
                let p = self
                    .network
                    .create_port(
                        &token,
                        &PortCreate {
                            network_id: net,
                            project_id: i.project_id.clone(),
                            device_id: uuid.to_string(),
                            device_owner: format!("compute:{az}"),
                            // Bound to the host once its TAP exists (below), so the
                            // network agent plugs it as soon as it is told.
                            host_id: String::new(),
                            fixed_ip: r.fixed_ip.clone(),
                            security_groups: if sg_ids.is_empty() {
                                None
                            } else {
                                Some(sg_ids.clone())
                            },
                            name: String::new(),
                        },
                    )
                    .await
                    .map_err(|e| Self::fail(h, e, false))?;
                super::reconcile::crash_point("build.after_port");
                self.log(uuid, UNDO_PORT, json!({"port": p.id}))
                    .await
                    .map_err(|e| Self::fail(h, e, false))?;
                (p, true)
            };
            let (p, created) = port;
            let net = self
                .network
                .show_network(&token, &p.network_id)
                .await
                .map_err(|e| Self::fail(h, e, false))?;
            nics.push(Nic {
                port_id: p.id.clone(),
                network_id: p.network_id.clone(),
                network_name: net.as_ref().map(|n| n.name.clone()).unwrap_or_default(),
                mac: p.mac_address.clone(),
                ips: p.fixed_ips.iter().map(|f| f.ip_address.clone()).collect(),
                mtu: net.and_then(|n| n.mtu).unwrap_or(1500),
                created,
                tag: r.tag.clone(),
            });
        }
        self.modify(uuid, |x| {
            x.nics = nics.clone();
            x.task_state = Some(TaskState::Spawning.as_str().into());
            Ok(())
        })
        .await
        .map_err(|e| Self::fail(h, e, false))?;
        check("spawning")?;
        // 3. Volumes: made, reserved and connected (boot from volume).
        self.prepare_volumes(&i, &host.host)
            .await
            .map_err(|e| Self::fail(h, e, false))?;
        check("spawning")?;
        // 4. Image into the host's cache.
        let (image_path, image_format) = match &i.image_ref {
            Some(img) => self
                .fetch_image(&token, img)
                .await
                .map_err(|e| Self::fail(h, e, true))?,
            None => (PathBuf::new(), "raw".to_string()),
        };
        check("spawning")?;
        // 5. Spawn.
        let driver = self
            .driver_for(&host.host)
            .map_err(|e| Self::fail(h, e, false))?;
        let i = self
            .reload(uuid)
            .await
            .map_err(e0)?
            .ok_or(BuildFailure::Cancelled)?;
        let mut spec = instance_spec(&i, &i.flavor, image_path, image_format);
        let user = self.user_token_of(uuid);
        spec.volumes = self
            .volume_specs(&i, user.as_deref())
            .await
            .map_err(|e| Self::fail(h, e, false))?;
        self.log(uuid, UNDO_SPAWN, json!({"host": host.host}))
            .await
            .map_err(|e| Self::fail(h, e, false))?;
        if let Err(e) = driver.spawn(&spec).await {
            return Err(Self::fail(
                h,
                Error::internal(format!("spawn failed: {e}")),
                true,
            ));
        }
        // The TAPs exist now: binding the ports to this host is the write that wakes the
        // network agent, which plugs them into the network's bridge before the guest's
        // DHCP client gives up (Nova binds first and waits for `network-vif-plugged`).
        for nic in &i.nics {
            self.network
                .update_port(&token, &nic.port_id, json!({"binding:host_id": host.host}))
                .await
                .map_err(|e| Self::fail(h, e, false))?;
        }
        check("spawned")?;
        // 6. ACTIVE.
        self.modify(uuid, |x| {
            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                return Err(Error::conflict("deleted while building"));
            }
            x.vm_state = VmState::Active.as_str().into();
            x.task_state = None;
            x.power_state = state::POWER_RUNNING;
            x.launched_at = Some(now());
            x.progress = 100;
            x.fault = None;
            Ok(())
        })
        .await
        .map_err(|_| BuildFailure::Cancelled)?;
        let mut conn = self.compute.conn().await.map_err(e0)?;
        store::clear_steps(&mut conn, uuid).await.map_err(e0)?;
        Ok(())
    }

    async fn set_task(&self, uuid: &str, t: Option<TaskState>) -> Result<(), Error> {
        self.modify(uuid, |x| {
            if x.task_state.as_deref() != Some(TaskState::Deleting.as_str()) {
                x.task_state = t.map(|t| t.as_str().to_string());
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Undoes every logged step of `uuid`, newest first. Each undo is idempotent.
    pub(crate) async fn rollback(&self, uuid: &str) {
        let steps = match self.compute.conn().await {
            Ok(mut c) => store::done_steps(&mut c, uuid).await.unwrap_or_default(),
            Err(_) => vec![],
        };
        let token = self.service_token().await.ok();
        for s in steps {
            let data: serde_json::Value = serde_json::from_str(&s.data).unwrap_or_default();
            let res: Result<(), Error> = async {
                match s.step.as_str() {
                    UNDO_SPAWN => {
                        let host = data["host"].as_str().unwrap_or_default();
                        self.driver_for(host)?
                            .destroy(uuid)
                            .await
                            .map_err(|e| Error::internal(format!("destroy: {e}")))
                    }
                    UNDO_PORT => {
                        let t = token
                            .clone()
                            .ok_or_else(|| Error::unavailable("no service token"))?;
                        self.network
                            .delete_port(&t, data["port"].as_str().unwrap_or_default())
                            .await
                    }
                    UNDO_PORTS => {
                        let t = token
                            .clone()
                            .ok_or_else(|| Error::unavailable("no service token"))?;
                        let keep: Vec<String> =
                            serde_json::from_value(data["keep"].clone()).unwrap_or_default();
                        for p in self.network.list_ports_by_device(&t, uuid).await? {
                            if p.device_owner.starts_with("compute:") && !keep.contains(&p.id) {
                                self.network.delete_port(&t, &p.id).await?;
                            }
                        }
                        Ok(())
                    }
                    UNDO_BIND => {
                        let t = token
                            .clone()
                            .ok_or_else(|| Error::unavailable("no service token"))?;
                        self.network
                            .update_port(
                                &t,
                                data["port"].as_str().unwrap_or_default(),
                                json!({"device_id": "", "device_owner": "", "binding:host_id": ""}),
                            )
                            .await
                            .map(|_| ())
                            .or_else(|e| {
                                if e.status_code() == 404 {
                                    Ok(())
                                } else {
                                    Err(e)
                                }
                            })
                    }
                    crate::volumes::boot::UNDO_ATTACHMENT => {
                        self.undo_build_attachment(uuid, &data).await
                    }
                    crate::volumes::boot::UNDO_VOLUME => self.undo_build_volume(uuid, &data).await,
                    UNDO_CLAIM => {
                        self.service_token().await?;
                        self.placement
                            .delete_allocations(uuid)
                            .await
                            .map_err(Error::from)
                    }
                    _ => Ok(()),
                }
            }
            .await;
            match res {
                Ok(()) => {
                    if let Ok(mut c) = self.compute.conn().await {
                        let _ = store::undo_step(&mut c, uuid, s.seq).await;
                    }
                }
                Err(e) => {
                    tracing::error!(instance.id = uuid, step = %s.step, error = %e, "undo failed; kept in the log for the next recovery")
                }
            }
        }
        let _ = self
            .modify(uuid, |x| {
                x.host = None;
                x.node = None;
                x.provider = None;
                x.nics.clear();
                x.power_state = state::POWER_NOSTATE;
                Ok(())
            })
            .await;
    }

    /// Soft-deletes the row after everything was released.
    pub(crate) async fn finish_delete(&self, uuid: &str) -> Result<(), Error> {
        self.forget_user_token(uuid);
        self.drop_block_devices(uuid).await?;
        let mut c = self.compute.conn().await?;
        store::clear_steps(&mut c, uuid).await?;
        store::core::remove_member_everywhere(&mut c, uuid).await?;
        drop(c);
        self.modify(uuid, |x| {
            x.vm_state = VmState::Deleted.as_str().into();
            x.task_state = None;
            x.power_state = state::POWER_NOSTATE;
            x.deleted = true;
            let t = now();
            x.deleted_at = Some(t.clone());
            x.terminated_at = Some(t);
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Delete of a built (or failed) server: guest, ports, allocation, row.
    pub(crate) async fn destroy_everything(&self, uuid: &str) -> Result<(), Error> {
        let i = self
            .reload(uuid)
            .await?
            .ok_or_else(|| crate::error::instance_not_found(uuid))?;
        // A build log left by an interrupted build is undone first.
        self.rollback_if_logged(uuid).await;
        if let Some(h) = &i.host {
            self.driver_for(h)?
                .destroy(uuid)
                .await
                .map_err(|e| Error::internal(format!("destroy: {e}")))?;
        }
        // The guest is gone: its volumes are released (and deleted when asked). Block
        // Storage failing does not keep the server alive (as Nova): the mappings stay
        // and the restart reconciliation finishes them.
        if let Err(e) = self.release_volumes(uuid).await {
            tracing::error!(instance.id = uuid, error = %e, "releasing the server's volumes failed; left for reconciliation");
        }
        let token = self.service_token().await?;
        for n in &i.nics {
            if n.created {
                self.network.delete_port(&token, &n.port_id).await?;
            } else {
                let r = self
                    .network
                    .update_port(
                        &token,
                        &n.port_id,
                        json!({"device_id": "", "device_owner": "", "binding:host_id": ""}),
                    )
                    .await;
                if let Err(e) = r {
                    if e.status_code() != 404 {
                        return Err(e);
                    }
                }
            }
        }
        // Ports created for the server but not yet recorded on it (crash windows).
        for p in self.network.list_ports_by_device(&token, uuid).await? {
            if p.device_owner.starts_with("compute:")
                && !i.nics.iter().any(|n| n.port_id == p.id && !n.created)
            {
                self.network.delete_port(&token, &p.id).await?;
            }
        }
        self.placement
            .delete_allocations(uuid)
            .await
            .map_err(Error::from)?;
        // A shelved server's snapshot image goes with it (as Nova's delete).
        if let Some(img) = i.shelved.as_ref().and_then(|s| s.image_id.as_deref()) {
            if let Err(e) = self.glance.delete(&token, img).await {
                if e.status_code() != 404 {
                    tracing::warn!(instance.id = uuid, image.id = img, error = %e, "could not delete the shelved image");
                }
            }
        }
        self.finish_delete(uuid).await
    }

    async fn rollback_if_logged(&self, uuid: &str) {
        let has = match self.compute.conn().await {
            Ok(mut c) => !store::done_steps(&mut c, uuid)
                .await
                .unwrap_or_default()
                .is_empty(),
            Err(_) => false,
        };
        if has {
            self.rollback(uuid).await;
        }
    }

    /// Ensures image `id` is in this host's cache; returns (path, format).
    pub(crate) async fn fetch_image(
        &self,
        token: &str,
        id: &str,
    ) -> Result<(PathBuf, String), Error> {
        let info = self
            .glance
            .show(token, id)
            .await?
            .ok_or_else(|| Error::bad_request(format!("Image {id} could not be found.")))?;
        let format = if info.disk_format == "qcow2" {
            "qcow2"
        } else {
            "raw"
        }
        .to_string();
        let dir = self.image_cache_dir();
        let path = dir.join(id);
        let lock = self
            .image_locks
            .lock()
            .entry(id.to_string())
            .or_default()
            .clone();
        let _g = lock.lock().await;
        if tokio::fs::metadata(&path).await.is_ok() {
            return Ok((path, format));
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        let tmp = dir.join(format!(".{id}.{}.part", uuid::Uuid::new_v4().simple()));
        let res = self.glance.download(token, id, &tmp).await;
        let (size, md5) = match res {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let bad = info.checksum.as_deref().is_some_and(|c| c != md5)
            || info.size.is_some_and(|s| s != size);
        if bad {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(Error::internal(format!(
                "image {id} failed verification (size or checksum mismatch)"
            )));
        }
        tokio::fs::rename(&tmp, &path).await.map_err(|e| {
            Error::internal(format!("renaming {} into the cache: {e}", tmp.display()))
        })?;
        Ok((path, format))
    }

    /// Runs an action's work in a task.
    pub(crate) fn spawn_action(
        self: &Arc<Self>,
        uuid: String,
        action: Action,
        action_id: i64,
        extra: Extra,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&uuid);
            let _g = lock.lock().await;
            let event = format!("compute_{}", action.method());
            match me.run_action(&uuid, action, extra).await {
                Ok(()) => me.finish_action_ok(action_id, &event).await,
                Err(e) => {
                    tracing::warn!(instance.id = %uuid, action = action.method(), error = %e, "server action failed");
                    me.finish_action_err(action_id, &event, &e).await;
                    // Back to a stable state matching the guest.
                    let power = match me.reload(&uuid).await {
                        Ok(Some(i)) => match (
                            &i.host,
                            me.driver_for(i.host.as_deref().unwrap_or_default()),
                        ) {
                            (Some(_), Ok(d)) => d.state(&uuid).await.ok(),
                            _ => None,
                        },
                        _ => None,
                    };
                    let _ = me
                        .modify(&uuid, |x| {
                            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                                return Ok(());
                            }
                            x.task_state = None;
                            if let Some(p) = power {
                                x.power_state = p.code();
                                x.vm_state = match p {
                                    PowerState::Running => VmState::Active,
                                    PowerState::Paused => VmState::Paused,
                                    PowerState::Suspended => VmState::Suspended,
                                    _ => VmState::Stopped,
                                }
                                .as_str()
                                .into();
                            }
                            Ok(())
                        })
                        .await;
                }
            }
        });
    }

    async fn run_action(&self, uuid: &str, action: Action, extra: Extra) -> Result<(), Error> {
        let i = self
            .reload(uuid)
            .await?
            .ok_or_else(|| crate::error::instance_not_found(uuid))?;
        let host = i
            .host
            .clone()
            .ok_or_else(|| Error::conflict("The server has no host"))?;
        let d = self.driver_for(&host)?;
        let from = VmState::parse(&i.vm_state).unwrap_or(VmState::Error);
        let virt =
            |e: rustack_virt::VirtError| Error::internal(format!("{}: {e}", action.method()));
        let mut new_flavor: Option<FlavorSnapshot> = None;
        let mut old_flavor: Option<FlavorSnapshot> = None;
        match action {
            Action::Stop => d
                .power_off(uuid, Duration::from_secs(60))
                .await
                .map_err(virt)?,
            Action::Start => d.power_on(uuid).await.map_err(virt)?,
            Action::RebootSoft => d.reboot(uuid, false).await.map_err(virt)?,
            Action::RebootHard => {
                // A stopped or errored guest may be gone from the driver: respawn it.
                match d.reboot(uuid, true).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {
                        let token = self.service_token().await?;
                        let (p, f) = match &i.image_ref {
                            Some(img) => self.fetch_image(&token, img).await?,
                            None => (PathBuf::new(), "raw".into()),
                        };
                        d.spawn(&self.spec_with_volumes(&i, &i.flavor, p, f).await?)
                            .await
                            .map_err(virt)?;
                    }
                    Err(e) => return Err(virt(e)),
                }
            }
            Action::Pause => d.pause(uuid).await.map_err(virt)?,
            Action::Unpause => d.unpause(uuid).await.map_err(virt)?,
            Action::Suspend => d.suspend(uuid).await.map_err(virt)?,
            Action::Resume => d.resume(uuid).await.map_err(virt)?,
            Action::Rebuild => {
                let token = self.service_token().await?;
                let (p, f) = match &i.image_ref {
                    Some(img) => self.fetch_image(&token, img).await?,
                    // Volume-backed: the root volume is kept as it is.
                    None => (PathBuf::new(), "raw".into()),
                };
                d.rebuild(&self.spec_with_volumes(&i, &i.flavor, p, f).await?)
                    .await
                    .map_err(virt)?;
                if from == VmState::Stopped {
                    let _ = d.power_off(uuid, Duration::from_secs(0)).await;
                }
            }
            Action::Resize => {
                let fid = match extra {
                    Extra::Resize(f) => f,
                    _ => return Err(Error::internal("resize without a flavor")),
                };
                let fl = self.compute.flavor_get(&fid).await?;
                let extra_specs = self.compute.flavor_extra_specs_get(&fl.flavorid).await?;
                let nf = FlavorSnapshot {
                    flavorid: fl.flavorid,
                    name: fl.name,
                    vcpus: fl.vcpus,
                    memory_mb: fl.memory_mb,
                    root_gb: fl.root_gb,
                    ephemeral_gb: fl.ephemeral_gb,
                    swap: fl.swap,
                    extra_specs,
                };
                self.reallocate(&i, &nf).await?;
                let token = self.service_token().await?;
                let (p, f) = match &i.image_ref {
                    Some(img) => self.fetch_image(&token, img).await?,
                    None => (PathBuf::new(), "raw".into()),
                };
                if let Err(e) = d
                    .resize(&self.spec_with_volumes(&i, &nf, p, f).await?)
                    .await
                {
                    let _ = self.reallocate(&i, &i.flavor).await;
                    return Err(virt(e));
                }
                // Nova's finish_resize powers on only what was not stopped.
                if from == VmState::Stopped {
                    let _ = d.power_off(uuid, Duration::ZERO).await;
                }
                old_flavor = Some(i.flavor.clone());
                new_flavor = Some(nf);
            }
            Action::ConfirmResize => {}
            Action::RevertResize => {
                let old = i
                    .old_flavor
                    .clone()
                    .ok_or_else(|| Error::conflict("No resize to revert"))?;
                self.reallocate(&i, &old).await?;
                let token = self.service_token().await?;
                let (p, f) = match &i.image_ref {
                    Some(img) => self.fetch_image(&token, img).await?,
                    None => (PathBuf::new(), "raw".into()),
                };
                d.resize(&self.spec_with_volumes(&i, &old, p, f).await?)
                    .await
                    .map_err(virt)?;
                // A server resized while stopped stays off (Nova's finish_revert_resize).
                if i.power_state == state::POWER_SHUTDOWN {
                    let _ = d.power_off(uuid, Duration::ZERO).await;
                }
                new_flavor = Some(old);
            }
            Action::CreateImage => {
                let image_id = match extra {
                    Extra::Snapshot(id) => id,
                    _ => return Err(Error::internal("snapshot without an image")),
                };
                let token = self.service_token().await?;
                let dir = self.cfg.state_dir.join("snapshots");
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| Error::internal(format!("{}: {e}", dir.display())))?;
                let dest = dir.join(format!("{image_id}.qcow2"));
                self.modify(uuid, |x| {
                    x.task_state = Some(TaskState::ImageUploading.as_str().into());
                    Ok(())
                })
                .await?;
                let res = async {
                    d.snapshot(uuid, &dest).await.map_err(virt)?;
                    self.glance.upload(&token, &image_id, &dest).await
                }
                .await;
                let _ = tokio::fs::remove_file(&dest).await;
                if let Err(e) = res {
                    let _ = self.glance.delete(&token, &image_id).await;
                    return Err(e);
                }
            }
            Action::Delete | Action::UpdateMetadata | Action::Interface => {}
            // Run by `servers::shelve` and `servers::rescue`, never through here.
            Action::Shelve
            | Action::ShelveOffload
            | Action::Unshelve
            | Action::Rescue
            | Action::Unrescue => {
                return Err(Error::internal(format!(
                    "{} is not a generic action",
                    action.method()
                )))
            }
        }
        let power = d
            .state(uuid)
            .await
            .map(|p| p.code())
            .unwrap_or_else(|_| action.power_outcome(from, i.power_state));
        self.modify(uuid, |x| {
            if x.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                return Ok(());
            }
            x.vm_state = match action {
                // A resize of a stopped server ends stopped (Nova's confirm/revert).
                Action::ConfirmResize | Action::RevertResize if power == state::POWER_SHUTDOWN => {
                    VmState::Stopped
                }
                _ => action.outcome(from),
            }
            .as_str()
            .into();
            x.task_state = None;
            x.power_state = power;
            match action {
                Action::Resize => {
                    if let Some(nf) = &new_flavor {
                        x.flavor = nf.clone();
                    }
                    x.old_flavor = old_flavor.clone();
                }
                Action::ConfirmResize => x.old_flavor = None,
                Action::RevertResize => {
                    if let Some(nf) = &new_flavor {
                        x.flavor = nf.clone();
                    }
                    x.old_flavor = None;
                }
                Action::Rebuild => x.launched_at = Some(now()),
                _ => {}
            }
            Ok(())
        })
        .await?;
        // The resize's migration record follows (os-migrations).
        match action {
            Action::Resize => {
                self.advance_resize_migration(uuid, "migrating", "finished")
                    .await
            }
            Action::ConfirmResize => {
                self.advance_resize_migration(uuid, "finished", "confirmed")
                    .await
            }
            Action::RevertResize => {
                self.advance_resize_migration(uuid, "finished", "reverted")
                    .await
            }
            _ => {}
        }
        Ok(())
    }

    /// Replaces the server's allocation with `flavor`'s amounts on the same provider
    /// (Placement refuses atomically when it does not fit).
    async fn reallocate(&self, i: &Instance, flavor: &FlavorSnapshot) -> Result<(), Error> {
        let provider = i
            .provider
            .clone()
            .ok_or_else(|| Error::conflict("The server has no allocation"))?;
        self.service_token().await?;
        let cur = self
            .placement
            .get_allocations(&i.uuid)
            .await
            .map_err(Error::from)?;
        let res = scheduler::flavor_resources(
            flavor.vcpus,
            flavor.memory_mb,
            if i.image_ref.is_some() {
                flavor.root_gb
            } else {
                0
            },
            flavor.ephemeral_gb,
            flavor.swap,
        );
        let mut allocs = std::collections::BTreeMap::new();
        allocs.insert(
            provider,
            rustack_placement_api::ProviderAllocation {
                generation: None,
                resources: res.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            },
        );
        self.placement
            .put_allocations(
                &i.uuid,
                &allocs,
                &i.project_id,
                &i.user_id,
                cur.consumer_generation,
                "INSTANCE",
            )
            .await
            .map_err(|e| {
                if e.status == 409 {
                    Error::bad_request(format!("No valid host was found. {}", e.detail))
                } else {
                    Error::from(e)
                }
            })
    }

    /// At start: unfinished builds are rolled back into ERROR, deletes are finished,
    /// other interrupted operations settle on the guest's real state.
    pub async fn recover(self: &Arc<Self>) -> Result<(), Error> {
        let rows = {
            let mut c = self.compute.conn().await?;
            store::unfinished(&mut c).await?
        };
        for i in rows {
            if self.builds.lock().contains_key(&i.uuid) {
                continue;
            }
            let lock = self.lock_for(&i.uuid);
            let _g = lock.lock().await;
            if i.task_state.as_deref() == Some(TaskState::Deleting.as_str()) {
                if let Err(e) = self.destroy_everything(&i.uuid).await {
                    tracing::error!(instance.id = %i.uuid, error = %e, "recovery: delete failed");
                }
                continue;
            }
            if i.vm_state == VmState::Building.as_str() {
                tracing::warn!(instance.id = %i.uuid, "recovery: rolling back a build interrupted by a restart");
                self.rollback(&i.uuid).await;
                self.set_error(
                    &i.uuid,
                    500,
                    "Build of instance aborted: the control plane restarted during the build.",
                    "",
                )
                .await;
                continue;
            }
            let power = match &i.host {
                Some(h) => match self.driver_for(h) {
                    Ok(d) => d.state(&i.uuid).await.ok(),
                    Err(_) => None,
                },
                None => None,
            };
            let _ = self
                .modify(&i.uuid, |x| {
                    x.task_state = None;
                    if let Some(p) = power {
                        x.power_state = p.code();
                        if x.vm_state != VmState::Resized.as_str() {
                            x.vm_state = match p {
                                PowerState::Running => VmState::Active,
                                PowerState::Paused => VmState::Paused,
                                PowerState::Suspended => VmState::Suspended,
                                _ => VmState::Stopped,
                            }
                            .as_str()
                            .into();
                        }
                    }
                    Ok(())
                })
                .await;
        }
        Ok(())
    }
}

fn error_text(e: &Error) -> String {
    match e {
        Error::Internal { internal_message } => internal_message.clone(),
        other => other.external_message().to_string(),
    }
}

/// The driver's description of server `i` with `flavor`.
pub(crate) fn instance_spec(
    i: &Instance,
    flavor: &FlavorSnapshot,
    image_path: PathBuf,
    image_format: String,
) -> InstanceSpec {
    InstanceSpec {
        uuid: i.uuid.clone(),
        name: i.name.clone(),
        vcpus: flavor.vcpus.max(1) as u32,
        memory_mb: flavor.memory_mb.max(1) as u64,
        root_gb: flavor.root_gb.max(0) as u64,
        ephemeral_gb: flavor.ephemeral_gb.max(0) as u64,
        swap_mb: flavor.swap.max(0) as u64,
        image_path,
        image_format,
        nics: i
            .nics
            .iter()
            .map(|n| VirtNic::for_port(&n.port_id, &n.mac, n.mtu))
            .collect(),
        config_drive: None,
        volumes: Vec::new(),
    }
}
