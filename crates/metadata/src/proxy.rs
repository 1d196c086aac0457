//! The metadata proxy (Neutron's `neutron/agent/metadata` + the haproxy it spawns per
//! namespace), as one in-process server with a listener in every namespace:
//!
//! - on `169.254.169.254:<dhcp_port>` (80) inside each `qdhcp-<network>` namespace that
//!   serves metadata (isolated networks),
//! - on `0.0.0.0:<router_port>` (9697) inside each `qrouter-<router>` namespace, where the
//!   router's NAT table redirects `169.254.169.254:80` arriving on `qr-*` interfaces.
//!
//! A request is attributed by (listener context, source address) through the
//! [`Attribution`] table its owner (the network agent) publishes on a watch channel:
//! network or router -> guest address -> instance and project. Unknown sources and ports
//! without a `device_id` get 404 without contacting the metadata API. Known ones are
//! forwarded to the metadata API with `X-Instance-ID`, `X-Tenant-ID`,
//! `X-Instance-ID-Signature` and `X-Forwarded-For` (headers the guest sent with those
//! names are never passed on), and the answer is returned as is.
//!
//! [`MetadataProxy::reconcile`] keeps the listener set equal to the wanted one: it opens
//! missing listeners (see [`crate::netns`]), closes unwanted ones, and reopens a listener
//! whose namespace disappeared or was recreated, so no socket pins a deleted namespace.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::{oneshot, watch, Mutex};
use tokio::task::JoinHandle;

use crate::config::MetadataConfig;
use crate::netns::{self, NetnsId};
use crate::server::headers;
use crate::sign;

/// The well-known metadata address.
pub const METADATA_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Largest request body forwarded (a posted password is at most 1020 bytes).
const MAX_BODY: usize = 64 * 1024;

/// Where a listener sits: the scope in which a source address identifies a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    /// A `qdhcp-` namespace: the network id.
    Network(String),
    /// A `qrouter-` namespace: the router id (its interface networks).
    Router(String),
}

/// The instance a request is attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The port's `device_id`.
    pub instance_id: String,
    /// The port's `project_id`.
    pub project_id: String,
}

/// A port as the attribution table needs it (from the Networking service's port list).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRecord {
    /// `network_id`.
    pub network_id: String,
    /// `device_owner`.
    pub device_owner: String,
    /// `device_id` (the instance for `compute:*` ports, the router for router ports).
    pub device_id: String,
    /// `project_id`.
    pub project_id: String,
    /// Addresses of `fixed_ips`.
    pub fixed_ips: Vec<IpAddr>,
}

/// `(context, source address) -> instance`: how the proxy identifies the guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    entries: HashMap<(Context, IpAddr), Owner>,
}

impl Attribution {
    /// An empty table (every request is a 404).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry.
    pub fn insert(&mut self, context: Context, ip: IpAddr, owner: Owner) {
        self.entries.insert((context, ip), owner);
    }

    /// The instance behind `ip` in `context`.
    pub fn lookup(&self, context: &Context, ip: IpAddr) -> Option<&Owner> {
        self.entries.get(&(context.clone(), ip))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The table for a port list, as Neutron's proxy resolves it: in a network, the port
    /// with that fixed IP; behind a router, the port with that fixed IP on any network
    /// the router has an interface on. Only ports with a `device_id` whose owner is not a
    /// `network:*` service count (a port without instance answers 404).
    pub fn from_ports(ports: &[PortRecord]) -> Self {
        let mut t = Attribution::new();
        let mut router_nets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for p in ports {
            if p.device_owner.starts_with("network:router_interface") && !p.device_id.is_empty() {
                router_nets
                    .entry(p.device_id.as_str())
                    .or_default()
                    .insert(p.network_id.as_str());
            }
        }
        for p in ports {
            if p.device_id.is_empty() || p.device_owner.starts_with("network:") {
                continue;
            }
            let owner = Owner {
                instance_id: p.device_id.clone(),
                project_id: p.project_id.clone(),
            };
            for ip in &p.fixed_ips {
                t.insert(Context::Network(p.network_id.clone()), *ip, owner.clone());
                for (router, nets) in &router_nets {
                    if nets.contains(p.network_id.as_str()) {
                        t.insert(Context::Router((*router).to_string()), *ip, owner.clone());
                    }
                }
            }
        }
        t
    }
}

/// The sending half the owner keeps, and the receiving half for [`MetadataProxy::new`].
pub fn attribution_channel() -> (
    watch::Sender<Arc<Attribution>>,
    watch::Receiver<Arc<Attribution>>,
) {
    watch::channel(Arc::new(Attribution::new()))
}

/// One wanted listener.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerSpec {
    /// Namespace name (`qdhcp-<net>`, `qrouter-<id>`, with the data plane's prefix);
    /// `None` = the proxy's own namespace (tests).
    pub netns: Option<String>,
    /// Address to bind.
    pub addr: SocketAddr,
    /// Attribution scope.
    pub context: Context,
}

impl ListenerSpec {
    /// The listener of a `qdhcp-` namespace: `169.254.169.254:<port>`.
    pub fn dhcp(netns: &str, network_id: &str, port: u16) -> Self {
        ListenerSpec {
            netns: Some(netns.to_string()),
            addr: SocketAddr::new(IpAddr::V4(METADATA_ADDR), port),
            context: Context::Network(network_id.to_string()),
        }
    }

    /// The listener of a `qrouter-` namespace: `0.0.0.0:<port>` (the NAT redirect
    /// rewrites the destination to the `qr-` address the request came in on).
    pub fn router(netns: &str, router_id: &str, port: u16) -> Self {
        ListenerSpec {
            netns: Some(netns.to_string()),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            context: Context::Router(router_id.to_string()),
        }
    }
}

/// What one [`MetadataProxy::reconcile`] pass did.
#[derive(Debug, Default)]
pub struct ProxyReport {
    /// Listeners opened.
    pub added: Vec<ListenerSpec>,
    /// Listeners closed (unwanted, or their namespace is gone or was recreated).
    pub removed: Vec<ListenerSpec>,
    /// Listeners that could not be opened (retried by the next pass).
    pub errors: Vec<(ListenerSpec, String)>,
}

struct Shared {
    secret: String,
    upstream: String,
    client: reqwest::Client,
    table: watch::Receiver<Arc<Attribution>>,
}

struct Running {
    local: SocketAddr,
    netns_id: Option<NetnsId>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The metadata proxy: a set of listeners sharing one attribution table and upstream.
pub struct MetadataProxy {
    shared: Arc<Shared>,
    netns_dir: PathBuf,
    running: Mutex<BTreeMap<ListenerSpec, Running>>,
}

impl MetadataProxy {
    /// A proxy forwarding to `cfg.nova_metadata_url`, signing with `cfg.shared_secret`,
    /// attributing with the latest table on `table`. No listener is open until
    /// [`MetadataProxy::reconcile`].
    pub fn new(cfg: &MetadataConfig, table: watch::Receiver<Arc<Attribution>>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(cfg.proxy_timeout())
            .no_proxy()
            .build()
            .unwrap_or_default();
        MetadataProxy {
            shared: Arc::new(Shared {
                secret: cfg.shared_secret.clone(),
                upstream: cfg.nova_metadata_url.trim_end_matches('/').to_string(),
                client,
                table,
            }),
            netns_dir: PathBuf::from("/run/netns"),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Uses `dir` instead of `/run/netns` to find namespaces.
    pub fn with_netns_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.netns_dir = dir.into();
        self
    }

    /// Open listeners and the address each is bound to (the real port when the spec
    /// asked for port 0).
    pub async fn listeners(&self) -> Vec<(ListenerSpec, SocketAddr)> {
        self.running
            .lock()
            .await
            .iter()
            .map(|(s, r)| (s.clone(), r.local))
            .collect()
    }

    /// Makes the open listeners exactly `wanted`; idempotent.
    pub async fn reconcile(&self, wanted: &[ListenerSpec]) -> ProxyReport {
        let wanted: BTreeSet<&ListenerSpec> = wanted.iter().collect();
        let mut report = ProxyReport::default();
        let mut running = self.running.lock().await;
        let stale: Vec<ListenerSpec> = running
            .iter()
            .filter(|(spec, r)| {
                !wanted.contains(spec)
                    || spec.netns.as_deref().is_some_and(|ns| {
                        netns::netns_id(&netns::netns_path(&self.netns_dir, ns)) != r.netns_id
                    })
            })
            .map(|(s, _)| s.clone())
            .collect();
        for spec in stale {
            if let Some(r) = running.remove(&spec) {
                stop(r).await;
                tracing::info!(netns = spec.netns.as_deref().unwrap_or(""), addr = %spec.addr, "metadata proxy listener closed");
                report.removed.push(spec);
            }
        }
        for spec in wanted {
            if running.contains_key(spec) {
                continue;
            }
            match self.start(spec).await {
                Ok(r) => {
                    tracing::info!(netns = spec.netns.as_deref().unwrap_or(""), addr = %r.local, "metadata proxy listening");
                    running.insert(spec.clone(), r);
                    report.added.push(spec.clone());
                }
                Err(e) => {
                    tracing::warn!(netns = spec.netns.as_deref().unwrap_or(""), addr = %spec.addr, error = %e, "metadata proxy cannot listen");
                    report.errors.push((spec.clone(), e.to_string()));
                }
            }
        }
        report
    }

    /// Closes every listener.
    pub async fn shutdown(&self) {
        self.reconcile(&[]).await;
    }

    async fn start(&self, spec: &ListenerSpec) -> std::io::Result<Running> {
        let path = spec
            .netns
            .as_deref()
            .map(|ns| netns::netns_path(&self.netns_dir, ns));
        let addr = spec.addr;
        let (std_listener, netns_id) =
            tokio::task::spawn_blocking(move || netns::bind_in_netns(path.as_deref(), addr))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let local = listener.local_addr()?;
        let app = Router::new().fallback(forward).with_state(Listener {
            shared: self.shared.clone(),
            context: spec.context.clone(),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "metadata proxy listener failed");
            }
        });
        Ok(Running {
            local,
            netns_id,
            stop: tx,
            task,
        })
    }
}

/// Stops a listener: the socket closes at once; connections in flight get a short grace.
async fn stop(r: Running) {
    let _ = r.stop.send(());
    let mut task = r.task;
    if tokio::time::timeout(Duration::from_secs(5), &mut task)
        .await
        .is_err()
    {
        task.abort();
    }
}

#[derive(Clone)]
struct Listener {
    shared: Arc<Shared>,
    context: Context,
}

fn plain(status: StatusCode, detail: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body = format!("{} {reason}\n\n{detail}\n\n   ", status.as_u16());
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

async fn forward(
    State(l): State<Listener>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let ip = peer.ip().to_canonical();
    let owner = l.shared.table.borrow().lookup(&l.context, ip).cloned();
    let Some(owner) = owner else {
        tracing::debug!(remote.addr = %ip, context = ?l.context, "metadata request from an unknown address");
        return plain(StatusCode::NOT_FOUND, "The resource could not be found.");
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return plain(StatusCode::BAD_REQUEST, "Request is too large.");
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{path}", l.shared.upstream);
    let mut rb = l
        .shared
        .client
        .request(parts.method.clone(), url)
        .header(headers::INSTANCE_ID, &owner.instance_id)
        .header(headers::TENANT_ID, &owner.project_id)
        .header(
            headers::SIGNATURE,
            sign::sign(&l.shared.secret, &owner.instance_id),
        )
        .header(headers::FORWARDED_FOR, ip.to_string())
        .body(bytes);
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = parts.headers.get(&name) {
            rb = rb.header(name, v.clone());
        }
    }
    let resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(instance.id = %owner.instance_id, error = %e, "metadata API unreachable");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The metadata service is not available.",
            );
        }
    };
    let status = resp.status();
    let ctype = resp.headers().get(header::CONTENT_TYPE).cloned();
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(instance.id = %owner.instance_id, error = %e, "metadata API answer cut short");
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The metadata service is not available.",
            );
        }
    };
    tracing::debug!(instance.id = %owner.instance_id, remote.addr = %ip, path, status = status.as_u16(), "metadata request proxied");
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        ctype.unwrap_or(HeaderValue::from_static("text/plain")),
    );
    r
}
