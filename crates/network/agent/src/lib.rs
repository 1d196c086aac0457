//! The host network agent (Neutron's linuxbridge + DHCP + L3 agents in one task): it
//! makes the Networking service's resources real on its host.
//!
//! One pass ([`NetworkAgent::pass`]) takes no input but the API: it reads every
//! network, subnet, port, router and floating IP over HTTP ([`topology::fetch`], as
//! the `neutron` service user), converts them ([`topology::to_topology`]), plans the
//! host ([`rustack_hostops::dataplane::plan`]), reconciles it on the blocking pool
//! ([`rustack_hostops::dataplane::Reconciler`]), and reports port status back
//! ([`status`], through the internal `PUT /v2.0/rustack-agent/ports/status`). A pass is
//! a full rebuild, so the first pass after a restart repairs whatever changed while the
//! agent was away, and a pass over a converged host changes nothing.
//!
//! [`NetworkAgent::spawn`] runs a pass at start, every `interval`, and whenever the
//! server's write generation changes (in the all-in-one process the network service
//! hands out a `watch` receiver; an agent on another host only polls).
//!
//! The host side goes through the hostops traits ([`HostBackend`]): Linux in
//! production, [`rustack_hostops::fake::FakeHost`] in tests that need no root.

pub mod client;
pub mod error;
pub mod metadata;
pub mod status;
pub mod topology;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustack_hostops::dataplane::{plan, HostConfig, Reconciler, VtepConfig};
use rustack_hostops::dhcp::{DhcpServer, LinuxDnsmasq};
use rustack_hostops::fake::FakeHost;
use rustack_hostops::net::{LinuxNet, NetOps};
use rustack_hostops::nft::{Firewall, LinuxNft};
use rustack_network_api::NetworkConfig;
use serde_json::Value;
use tracing::Instrument;

pub use client::{Credentials, NetworkClient};
pub use error::AgentError;

/// The host effects an agent uses.
#[derive(Clone)]
pub struct HostBackend {
    /// Namespaces, links, addresses, routes.
    pub net: Arc<dyn NetOps>,
    /// nftables.
    pub fw: Arc<dyn Firewall>,
    /// dnsmasq.
    pub dhcp: Arc<dyn DhcpServer>,
}

impl std::fmt::Debug for HostBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostBackend")
    }
}

impl HostBackend {
    /// The real host: iproute2, nft, dnsmasq with its files under `dhcp_state_dir`.
    pub fn linux(dhcp_state_dir: impl Into<PathBuf>) -> Self {
        HostBackend {
            net: Arc::new(LinuxNet),
            fw: Arc::new(LinuxNft::new()),
            dhcp: Arc::new(LinuxDnsmasq::new(dhcp_state_dir)),
        }
    }

    /// A fake host (clones of `host` share its state).
    pub fn fake(host: &FakeHost) -> Self {
        HostBackend {
            net: Arc::new(host.clone()),
            fw: Arc::new(host.clone()),
            dhcp: Arc::new(host.clone()),
        }
    }
}

/// How an agent behaves.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentOptions {
    /// This host's name (ports bound elsewhere are not reported from here).
    pub host: String,
    /// Planner settings (VTEP, physical interfaces, namespaces).
    pub host_config: HostConfig,
    /// Seconds between full passes.
    pub interval: Duration,
    /// Serves DHCP and routers (a network node). A compute-only agent just carries the
    /// networks (bridges, VXLAN) and plugs instance TAPs.
    pub network_node: bool,
}

impl AgentOptions {
    /// Options from `[network]`: VTEP from `local_ip` and `vxlan_udp_port`, flat
    /// networks from `physical_interface_mappings`, the pass interval, the host name.
    pub fn from_config(cfg: &NetworkConfig) -> Self {
        AgentOptions {
            host: cfg.host_name(),
            host_config: HostConfig {
                vtep: cfg.local_ip.map(|local| VtepConfig {
                    local,
                    dev: None,
                    remote: None,
                    dstport: cfg.vxlan_udp_port,
                }),
                physical_interfaces: cfg.physical_interface_mappings.clone(),
                ..HostConfig::default()
            },
            interval: Duration::from_secs(cfg.agent_interval_secs.max(1)),
            network_node: true,
        }
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassReport {
    /// Host changes made.
    pub changes: usize,
    /// Host steps that failed (retried next pass).
    pub errors: usize,
    /// Ports reported ACTIVE / DOWN this pass (all of them, changed or not).
    pub active: usize,
    /// Ports seen DOWN.
    pub down: usize,
    /// Port statuses the service changed.
    pub status_updates: u64,
    /// Planner warnings and skipped documents.
    pub warnings: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
}

/// The agent.
pub struct NetworkAgent {
    client: NetworkClient,
    host: HostBackend,
    opts: AgentOptions,
    last_warnings: Mutex<BTreeSet<String>>,
    metadata: Option<metadata::MetadataHook>,
}

impl std::fmt::Debug for NetworkAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkAgent")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn text<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

impl NetworkAgent {
    /// An agent reading `client` and acting on `host`.
    pub fn new(client: NetworkClient, host: HostBackend, opts: AgentOptions) -> Arc<Self> {
        Self::build(client, host, opts, None)
    }

    /// An agent that also runs the metadata proxy in the namespaces it builds
    /// (see [`metadata`]).
    pub fn with_metadata(
        client: NetworkClient,
        host: HostBackend,
        opts: AgentOptions,
        metadata: &rustack_metadata::MetadataConfig,
    ) -> Arc<Self> {
        Self::build(
            client,
            host,
            opts,
            Some(metadata::MetadataHook::new(metadata)),
        )
    }

    fn build(
        client: NetworkClient,
        host: HostBackend,
        opts: AgentOptions,
        metadata: Option<metadata::MetadataHook>,
    ) -> Arc<Self> {
        Arc::new(NetworkAgent {
            client,
            host,
            opts,
            last_warnings: Mutex::new(BTreeSet::new()),
            metadata,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &AgentOptions {
        &self.opts
    }

    /// One full pass: read the API, reconcile the host, report port status.
    pub async fn pass(&self) -> Result<PassReport, AgentError> {
        let started = Instant::now();
        let agents = self
            .client
            .agent_report(&self.opts.host, &self.configurations())
            .await?;
        let mut snap = topology::fetch(&self.client).await?;
        snap.agents = agents;
        let conv = topology::to_topology(&snap);
        let mut topo = conv.topology;
        if !self.opts.network_node {
            topo.routers.clear();
            topo.floating_ips.clear();
            topo.ports
                .retain(|p| !p.device_owner.starts_with("network:"));
            for s in &mut topo.subnets {
                s.enable_dhcp = false;
            }
        }
        let desired = plan(&topo, &self.opts.host_config);
        let plan_warnings = desired.warnings.clone();
        let metadata_listeners = desired.metadata_proxies.clone();
        let host = self.host.clone();
        let host_ns = self.opts.host_config.host_netns.clone();
        let (changes, errors, links) = tokio::task::spawn_blocking(move || {
            let report = Reconciler::new(host.net.as_ref(), host.fw.as_ref(), host.dhcp.as_ref())
                .reconcile(&desired);
            let links = host.net.link_list(host_ns.as_deref());
            (report.changes.len(), report.errors.len(), links)
        })
        .await
        .map_err(|e| AgentError::Task(e.to_string()))?;
        let links = links.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot list host links; ports reported DOWN");
            Vec::new()
        });

        // Report ports bound to this host or to none (nova binds every port it plugs).
        let docs: BTreeMap<&str, &Value> = snap.ports.iter().map(|p| (text(p, "id"), p)).collect();
        let statuses = status::port_statuses(&topo, &links);
        // The proxy follows the host: listeners open once their namespace exists.
        let errors = match &self.metadata {
            Some(m) => errors + m.sync(&snap.ports, &metadata_listeners).await,
            None => errors,
        };
        let mut report = PassReport {
            changes,
            errors,
            ..PassReport::default()
        };
        let mut updates = Vec::new();
        for (id, st) in &statuses {
            let Some(doc) = docs.get(id.as_str()) else {
                continue;
            };
            let bound = text(doc, "binding:host_id");
            if !bound.is_empty()
                && bound != self.opts.host
                && !text(doc, "device_owner").starts_with("network:")
            {
                continue;
            }
            if *st == status::ACTIVE {
                report.active += 1;
            } else {
                report.down += 1;
            }
            if text(doc, "status") != *st {
                updates.push((id.clone(), *st));
            }
        }
        if !updates.is_empty() {
            report.status_updates = self.client.port_status_update(&updates).await?;
        }
        report.warnings = conv.skipped;
        report.warnings.extend(plan_warnings);
        self.log_new_warnings(&report.warnings);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// What this agent registers (`GET /v2.0/agents` shows it as `configurations`).
    fn configurations(&self) -> Value {
        let c = &self.opts.host_config;
        serde_json::json!({
            "tunneling_ip": c.vtep.as_ref().map(|v| v.local.to_string()),
            "tunnel_types": if c.vtep.is_some() { vec!["vxlan"] } else { vec![] },
            "interface_mappings": c.physical_interfaces,
            "network_node": self.opts.network_node,
        })
    }

    /// Logs warnings once, when they first appear.
    fn log_new_warnings(&self, warnings: &[String]) {
        let now: BTreeSet<String> = warnings.iter().cloned().collect();
        let mut last = self.last_warnings.lock().unwrap_or_else(|e| e.into_inner());
        for w in now.difference(&last) {
            tracing::warn!(warning = %w, "network agent cannot realise part of the topology");
        }
        *last = now;
    }

    /// Runs passes at start, every interval and on `wake` changes, until `shutdown`.
    pub fn spawn(
        self: Arc<Self>,
        wake: Option<tokio::sync::watch::Receiver<u64>>,
        shutdown: rustack_runtime::Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run(wake, shutdown).await })
    }

    async fn run(
        self: Arc<Self>,
        mut wake: Option<tokio::sync::watch::Receiver<u64>>,
        shutdown: rustack_runtime::Shutdown,
    ) {
        let mut tick = tokio::time::interval(self.opts.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = shutdown.wait();
        tokio::pin!(stop);
        tracing::info!(host = %self.opts.host, interval_s = self.opts.interval.as_secs(), "network agent started");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
                r = changed(&mut wake) => {
                    if r.is_err() {
                        wake = None;
                        continue;
                    }
                    // Coalesce a burst of writes into one pass.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if let Some(w) = &mut wake {
                w.borrow_and_update();
            }
            let span = tracing::info_span!("network_agent_pass");
            match self.pass().instrument(span).await {
                Ok(r) if r.changes > 0 || r.errors > 0 || r.status_updates > 0 => tracing::info!(
                    changes = r.changes,
                    errors = r.errors,
                    ports.active = r.active,
                    ports.down = r.down,
                    status_updates = r.status_updates,
                    duration_ms = r.elapsed.as_millis() as u64,
                    "network agent pass"
                ),
                Ok(r) => tracing::debug!(
                    duration_ms = r.elapsed.as_millis() as u64,
                    "network agent pass: no change"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "network agent pass failed; retrying at the next tick")
                }
            }
            release_freed_memory();
        }
        if let Some(m) = &self.metadata {
            m.shutdown().await;
        }
        tracing::info!("network agent stopped");
    }
}

/// Gives the heap memory a pass freed back to the kernel. A pass builds large transient
/// documents (every port, network and router as JSON, the security-group nft tables of
/// every port, the host's link list); glibc's malloc keeps what they freed in its arenas
/// (small live allocations pin the heap top), so with 1,000 servers `rustack up` sat at
/// ~940 MiB RSS of which ~190 MiB was live (`malloc_trim(0)` from gdb measured it; the
/// 42 MiB without the data plane grows to that live figure). Trimming after each pass
/// keeps the RSS near the live size; it costs a walk of the free lists (milliseconds).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only walks and shrinks glibc's own heap; it has no
    // preconditions, is thread-safe (it takes each arena's lock) and frees nothing live.
    unsafe {
        libc::malloc_trim(0);
    }
}

async fn changed(w: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Result<(), ()> {
    match w {
        Some(w) => w.changed().await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}
