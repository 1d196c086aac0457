//! Compute hosts: registration and resource reporting (nova-compute's resource tracker),
//! and the admin views over them (`os-services`, `os-hypervisors`,
//! `os-availability-zone`).
//!
//! At start a compute host records its `nova-compute` service and its compute node
//! (from [`ComputeDriver::host_info`](rustack_virt::ComputeDriver::host_info)), ensures
//! a Placement resource provider with the node's uuid and name, and sets its VCPU,
//! MEMORY_MB and DISK_GB inventory with the configured allocation ratios and reserved
//! amounts. [`HostReporter::run`] repeats the heartbeat every 10 s and the inventory
//! and usage refresh every `update_resources_interval`. The control plane's own
//! services (`nova-scheduler`, `nova-conductor`) are registered in zone `internal`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rustack_api_common::AuthContext;
use rustack_common::Error;
use rustack_placement_api::client::PlacementClient;
use rustack_placement_api::Inventory;
use rustack_virt::ComputeDriver;
use serde_json::json;

use super::Compute;
use crate::store::{self, host::NodeRow, host::ServiceRow};

/// A service is `up` when its last heartbeat is this recent (nova's
/// `service_down_time`, 60 s).
pub const SERVICE_DOWN_TIME_SECS: i64 = 60;

/// Heartbeat period (nova's `report_interval`, 10 s).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// The zone of the control plane's services.
pub const INTERNAL_ZONE: &str = "internal";

/// A service with its derived state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The stored row.
    pub row: ServiceRow,
    /// `up` unless the heartbeat is stale or the service is forced down.
    pub up: bool,
    /// Its availability zone.
    pub zone: String,
}

/// A compute node with its service.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypervisor {
    /// The node.
    pub node: NodeRow,
    /// Its nova-compute service.
    pub service: Option<Service>,
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// The primary address of this machine (for `host_ip`), loopback when unknown.
fn host_ip() -> String {
    // Connecting a UDP socket sends nothing; it only selects the outgoing address.
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

impl Compute {
    /// This host's name: `[compute] host`, else the driver's hostname.
    pub fn host_name(&self, info_hostname: &str) -> String {
        self.cfg
            .host
            .clone()
            .unwrap_or_else(|| info_hostname.to_owned())
    }

    /// Records the control plane's services (`nova-scheduler`, `nova-conductor`) on
    /// `host` with a heartbeat.
    pub async fn register_control_services(&self, host: &str) -> Result<(), Error> {
        let now = store::now();
        let mut c = self.conn().await?;
        for (binary, topic) in [
            ("nova-scheduler", "scheduler"),
            ("nova-conductor", "conductor"),
        ] {
            store::host::service_heartbeat(&mut c, host, binary, topic, &now).await?;
        }
        Ok(())
    }

    /// Records this compute host (service + node) from the driver's host info; returns
    /// the node (its uuid is the Placement provider's).
    pub async fn register_compute_host(
        &self,
        driver: &dyn ComputeDriver,
    ) -> Result<NodeRow, Error> {
        let info = driver
            .host_info()
            .await
            .map_err(|e| Error::internal(format!("compute driver host info: {e}")))?;
        let host = self.host_name(&info.hostname);
        let now = store::now();
        let mut tx = self.begin().await?;
        let svc =
            store::host::service_heartbeat(&mut tx, &host, "nova-compute", "compute", &now).await?;
        let node = store::host::node_upsert(
            &mut tx,
            &NodeRow {
                id: 0,
                uuid: rustack_common::new_uuid(),
                service_id: svc.id,
                host: host.clone(),
                hypervisor_hostname: host.clone(),
                hypervisor_type: info.hypervisor_type.clone(),
                hypervisor_version: i64::try_from(info.hypervisor_version).unwrap_or(0),
                host_ip: host_ip(),
                cpu_info: info.cpu_info.clone(),
                vcpus: i64::from(info.vcpus),
                memory_mb: i64::try_from(info.memory_mb).unwrap_or(i64::MAX),
                local_gb: i64::try_from(info.disk_gb).unwrap_or(i64::MAX),
                vcpus_used: 0,
                memory_mb_used: 0,
                local_gb_used: 0,
                running_vms: 0,
                updated_at: None,
            },
            &now,
        )
        .await?;
        tx.commit().await.map_err(rustack_db::db_internal)?;
        tracing::info!(
            host = %host,
            node.uuid = %node.uuid,
            vcpus = node.vcpus,
            memory_mb = node.memory_mb,
            disk_gb = node.local_gb,
            driver = driver.name(),
            "compute host registered"
        );
        Ok(node)
    }

    /// The Placement inventory of a node with this service's ratios and reservations.
    pub fn node_inventory(&self, node: &NodeRow) -> BTreeMap<String, Inventory> {
        let c = &self.cfg;
        let inv = |total: i64, reserved: i64, ratio: f64| Inventory {
            total: total.max(1),
            reserved: reserved.min(total.max(1) - 1).max(0),
            min_unit: 1,
            max_unit: total.max(1),
            step_size: 1,
            allocation_ratio: ratio,
        };
        let reserved_disk_gb = i64::try_from(c.reserved_host_disk_mb.div_ceil(1024)).unwrap_or(0);
        BTreeMap::from([
            (
                "VCPU".to_owned(),
                inv(
                    node.vcpus,
                    i64::try_from(c.reserved_host_cpus).unwrap_or(0),
                    c.cpu_allocation_ratio,
                ),
            ),
            (
                "MEMORY_MB".to_owned(),
                inv(
                    node.memory_mb,
                    i64::try_from(c.reserved_host_memory_mb).unwrap_or(0),
                    c.ram_allocation_ratio,
                ),
            ),
            (
                "DISK_GB".to_owned(),
                inv(node.local_gb, reserved_disk_gb, c.disk_allocation_ratio),
            ),
        ])
    }

    /// Ensures the node's resource provider and sets its inventory; then records the
    /// provider's usages on the node (what `os-hypervisors` shows).
    pub async fn report_node(
        &self,
        placement: &PlacementClient,
        node: &NodeRow,
        running_vms: i64,
    ) -> Result<(), Error> {
        let perr = |e: rustack_placement_api::client::ApiError| {
            Error::unavailable(format!("placement: {}", e.detail))
        };
        placement
            .ensure_provider(&node.uuid, &node.hypervisor_hostname, None)
            .await
            .map_err(perr)?;
        placement
            .set_inventories(&node.uuid, self.node_inventory(node))
            .await
            .map_err(perr)?;
        let usages = placement.provider_usages(&node.uuid).await.map_err(perr)?;
        let get = |k: &str| usages.get(k).copied().unwrap_or(0);
        let mut c = self.conn().await?;
        store::host::node_usage(
            &mut c,
            &node.uuid,
            get("VCPU"),
            get("MEMORY_MB"),
            get("DISK_GB"),
            running_vms,
        )
        .await
    }

    /// Every service with its state and zone.
    pub async fn services_all(&self) -> Result<Vec<Service>, Error> {
        let mut c = self.conn().await?;
        let rows = store::host::services(&mut c).await?;
        let zones: HashMap<String, String> =
            store::host::host_zones(&mut c).await?.into_iter().collect();
        let now = chrono::Utc::now();
        Ok(rows
            .into_iter()
            .map(|row| {
                let fresh = row
                    .last_seen_up
                    .as_deref()
                    .and_then(parse_time)
                    .is_some_and(|t| (now - t).num_seconds() <= SERVICE_DOWN_TIME_SECS);
                let zone = if row.binary == "nova-compute" {
                    zones
                        .get(&row.host)
                        .cloned()
                        .unwrap_or_else(|| self.cfg.default_availability_zone.clone())
                } else {
                    INTERNAL_ZONE.to_owned()
                };
                Service {
                    up: fresh && !row.forced_down,
                    zone,
                    row,
                }
            })
            .collect())
    }

    /// `GET /os-services` (`host`, `binary` filters).
    pub async fn service_list(
        &self,
        ctx: &AuthContext,
        host: Option<&str>,
        binary: Option<&str>,
    ) -> Result<Vec<Service>, Error> {
        self.authorize(ctx, "os_compute_api:os-services:list", &json!({}))?;
        Ok(self
            .services_all()
            .await?
            .into_iter()
            .filter(|s| host.is_none_or(|h| s.row.host == h))
            .filter(|s| binary.is_none_or(|b| s.row.binary == b))
            .collect())
    }

    /// Finds a service by (host, binary); 404 as nova words it.
    pub async fn service_find(&self, host: &str, binary: &str) -> Result<Service, Error> {
        self.services_all()
            .await?
            .into_iter()
            .find(|s| s.row.host == host && s.row.binary == binary)
            .ok_or_else(|| {
                Error::not_found(format!("Could not find binary {binary} on host {host}."))
            })
    }

    /// Finds a service by integer id or uuid.
    pub async fn service_by_id(&self, id: &str) -> Result<Service, Error> {
        self.services_all()
            .await?
            .into_iter()
            .find(|s| s.row.uuid == id || s.row.id.to_string() == id)
            .ok_or_else(|| Error::not_found(format!("Service {id} could not be found.")))
    }

    /// Sets a service's admin state (`os-services` enable/disable/force-down).
    pub async fn service_update(
        &self,
        ctx: &AuthContext,
        svc: &Service,
        disabled: bool,
        reason: Option<&str>,
        forced_down: bool,
    ) -> Result<Service, Error> {
        self.authorize(ctx, "os_compute_api:os-services:update", &json!({}))?;
        let mut c = self.conn().await?;
        store::host::service_set(
            &mut c,
            svc.row.id,
            disabled,
            reason,
            forced_down,
            &store::now(),
        )
        .await?;
        drop(c);
        self.service_by_id(&svc.row.uuid).await
    }

    /// `DELETE /os-services/{id}`.
    pub async fn service_delete(&self, ctx: &AuthContext, id: &str) -> Result<(), Error> {
        self.authorize(ctx, "os_compute_api:os-services:delete", &json!({}))?;
        let svc = self.service_by_id(id).await?;
        let mut c = self.conn().await?;
        store::host::service_delete(&mut c, svc.row.id).await?;
        Ok(())
    }

    /// Every hypervisor (`rule` is the `os-hypervisors` rule for the operation).
    pub async fn hypervisor_list(
        &self,
        ctx: &AuthContext,
        rule: &str,
    ) -> Result<Vec<Hypervisor>, Error> {
        self.authorize(ctx, rule, &json!({}))?;
        let services = self.services_all().await?;
        let mut c = self.conn().await?;
        let nodes = store::host::nodes(&mut c).await?;
        Ok(nodes
            .into_iter()
            .map(|node| Hypervisor {
                service: services
                    .iter()
                    .find(|s| s.row.id == node.service_id)
                    .cloned(),
                node,
            })
            .collect())
    }

    /// (uuid, name) of the servers on `host` (`os-hypervisors/{pattern}/servers`).
    pub async fn host_servers(&self, host: &str) -> Result<Vec<(String, String)>, Error> {
        let mut c = self.conn().await?;
        Ok(
            crate::servers::store::list_instances(&mut c, None, Some(host), false)
                .await?
                .into_iter()
                .map(|i| (i.uuid, i.name))
                .collect(),
        )
    }

    /// Availability zones: (zone, available, hosts with their services) — the
    /// `internal` zone included when `detail`.
    pub async fn availability_zones(
        &self,
        ctx: &AuthContext,
        detail: bool,
    ) -> Result<Vec<(String, bool, Vec<Service>)>, Error> {
        let rule = if detail {
            "os_compute_api:os-availability-zone:detail"
        } else {
            "os_compute_api:os-availability-zone:list"
        };
        self.authorize(ctx, rule, &json!({}))?;
        let mut zones: BTreeMap<String, (bool, Vec<Service>)> = BTreeMap::new();
        for s in self.services_all().await? {
            if s.zone == INTERNAL_ZONE && !detail {
                continue;
            }
            let e = zones.entry(s.zone.clone()).or_insert((false, Vec::new()));
            if !s.row.disabled {
                e.0 = true;
            }
            e.1.push(s);
        }
        let mut out: Vec<(String, bool, Vec<Service>)> =
            zones.into_iter().map(|(z, (a, s))| (z, a, s)).collect();
        // nova lists the internal zone first in detail.
        out.sort_by_key(|(z, _, _)| (z != INTERNAL_ZONE, z.clone()));
        Ok(out)
    }
}

/// Keeps a compute host registered: heartbeats and Placement reports.
pub struct HostReporter {
    /// The service.
    pub compute: Arc<Compute>,
    /// This host's driver.
    pub driver: Arc<dyn ComputeDriver>,
    /// Placement, with a token source.
    pub placement: PlacementClient,
    /// Fetches a fresh service token for Placement.
    pub token: Arc<dyn Fn() -> futures_token::TokenFuture + Send + Sync>,
}

/// The boxed future type of [`HostReporter::token`].
pub mod futures_token {
    /// A token (or why not).
    pub type TokenFuture = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<String, rustack_common::Error>> + Send>,
    >;
}

impl HostReporter {
    /// A reporter authenticating to Placement as a service user (`nova`).
    pub fn with_service_user(
        compute: Arc<Compute>,
        driver: Arc<dyn ComputeDriver>,
        placement_url: &str,
        identity_url: &str,
        creds: rustack_identity_api::ServiceCredentials,
    ) -> Result<HostReporter, Error> {
        let placement = PlacementClient::new(placement_url)
            .map_err(|e| Error::internal(format!("placement client: {}", e.detail)))?;
        let token = Arc::new(crate::servers::clients::ServiceToken::new(
            identity_url,
            creds,
        )?);
        Ok(HostReporter {
            compute,
            driver,
            placement,
            token: Arc::new(move || {
                let t = token.clone();
                Box::pin(async move { t.get().await })
            }),
        })
    }

    /// Registers the host and reports once; errors are logged and retried by
    /// [`HostReporter::run`].
    pub async fn report_once(&self) -> Result<NodeRow, Error> {
        let node = self
            .compute
            .register_compute_host(self.driver.as_ref())
            .await?;
        self.compute.register_control_services(&node.host).await?;
        let token = (self.token)().await?;
        self.placement.set_token(token);
        let running = self
            .driver
            .list()
            .await
            .map(|l| l.len() as i64)
            .unwrap_or(0);
        self.compute
            .report_node(&self.placement, &node, running)
            .await?;
        Ok(node)
    }

    /// Reports now and then periodically until `shutdown`.
    pub async fn run(self, shutdown: rustack_runtime::Shutdown) {
        let every = Duration::from_secs(self.compute.cfg.update_resources_interval.max(1));
        let mut last_full: Option<tokio::time::Instant> = None;
        loop {
            let due = last_full.is_none_or(|t| t.elapsed() >= every);
            if due {
                match self.report_once().await {
                    Ok(_) => last_full = Some(tokio::time::Instant::now()),
                    Err(e) => tracing::warn!(error = %e, "compute host report failed; retrying"),
                }
            } else if let Ok(info) = self.driver.host_info().await {
                let host = self.compute.host_name(&info.hostname);
                let now = store::now();
                if let Ok(mut c) = self.compute.conn().await {
                    for (b, t) in [
                        ("nova-compute", "compute"),
                        ("nova-scheduler", "scheduler"),
                        ("nova-conductor", "conductor"),
                    ] {
                        if let Err(e) =
                            store::host::service_heartbeat(&mut c, &host, b, t, &now).await
                        {
                            tracing::warn!(error = %e, "service heartbeat failed");
                        }
                    }
                }
            }
            let wait = if last_full.is_some() {
                REPORT_INTERVAL
            } else {
                Duration::from_secs(2)
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.clone().wait() => return,
            }
        }
    }
}
