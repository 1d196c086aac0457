//! Whether this host can run the network data plane, and starting the network agent
//! (in `rustack up`, and alone with `rustack agent network`).
//!
//! The data plane needs root or `CAP_NET_ADMIN` and the `ip`, `nft` and `dnsmasq`
//! commands. `[network] data_plane = "auto"` runs it when possible and otherwise logs
//! one line and serves the API only; `"on"` fails start-up with the reason; `"off"` never
//! runs it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustack_network_agent::{AgentOptions, Credentials, HostBackend, NetworkAgent, NetworkClient};
use rustack_network_api::{DataPlaneMode, NetworkConfig};

/// Why the data plane cannot run on this host, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if !has_net_admin() {
        return Some("not root and no CAP_NET_ADMIN".into());
    }
    let missing: Vec<&str> = ["ip", "nft", "dnsmasq"]
        .into_iter()
        .filter(|c| find_command(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Some(format!("{} not found in PATH", missing.join(", ")));
    }
    None
}

/// Effective capabilities include CAP_NET_ADMIN (bit 12), as root's do.
fn has_net_admin() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 12) != 0)
}

fn find_command(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Where one process per host holds the data plane (two agents on one host would each
/// remove the other's bridges and namespaces as stale).
const HOST_LOCK_PATH: &str = "/run/rustack/network-agent.lock";

static HOST_LOCK: std::sync::OnceLock<nix::fcntl::Flock<std::fs::File>> =
    std::sync::OnceLock::new();

/// Takes this host's data-plane lock for the life of the process.
fn take_host_lock() -> Result<(), String> {
    if HOST_LOCK.get().is_some() {
        return Ok(());
    }
    let l = lock_file(Path::new(HOST_LOCK_PATH))?;
    let _ = HOST_LOCK.set(l);
    Ok(())
}

/// An exclusive `flock` on `path` (created if needed), without waiting.
fn lock_file(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        if e == nix::errno::Errno::EWOULDBLOCK {
            format!(
                "another rustack process runs the network data plane on this host ({} is locked)",
                path.display()
            )
        } else {
            format!("cannot lock {}: {e}", path.display())
        }
    })
}

/// Decides from `[network] data_plane` whether to run the data plane here: `Ok(false)`
/// after logging why not (auto), an error when `on` cannot be honoured. Running it takes
/// the host's data-plane lock (one agent per host).
pub fn decide(cfg: &NetworkConfig) -> anyhow::Result<bool> {
    let reason = match cfg.data_plane {
        DataPlaneMode::Off => None,
        _ => unavailable_reason().or_else(|| take_host_lock().err()),
    };
    match (cfg.data_plane, reason) {
        (DataPlaneMode::Off, _) => Ok(false),
        (_, None) => Ok(true),
        (DataPlaneMode::Auto, Some(reason)) => {
            tracing::warn!(
                "data plane disabled: {reason}; running API-only; set [network] data_plane = \"on\" to require it"
            );
            Ok(false)
        }
        (DataPlaneMode::On, Some(reason)) => {
            anyhow::bail!(
                "[network] data_plane = \"on\" but the data plane cannot run here: {reason}"
            )
        }
    }
}

/// Starts the network agent on the real host: it reads `network_url` as the `neutron`
/// service user (password from passwords.yml), keeps dnsmasq files under
/// `<data_dir>/dhcp`, and wakes on `wake` when given. With `metadata` it also runs the
/// metadata proxy (see [`metadata_config`]).
#[allow(clippy::too_many_arguments)]
pub fn start_agent(
    cfg: &NetworkConfig,
    data_dir: &Path,
    network_url: &str,
    identity_url: &str,
    neutron_password: String,
    metadata: Option<rustack_metadata::MetadataConfig>,
    wake: Option<tokio::sync::watch::Receiver<u64>>,
    shutdown: rustack_runtime::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    start_agent_with(
        cfg,
        data_dir,
        network_url,
        identity_url,
        neutron_password,
        metadata,
        true,
        wake,
        shutdown,
    )
}

/// [`start_agent`] choosing whether this host is a network node (DHCP and routers).
#[allow(clippy::too_many_arguments)]
pub fn start_agent_with(
    cfg: &NetworkConfig,
    data_dir: &Path,
    network_url: &str,
    identity_url: &str,
    neutron_password: String,
    metadata: Option<rustack_metadata::MetadataConfig>,
    network_node: bool,
    wake: Option<tokio::sync::watch::Receiver<u64>>,
    shutdown: rustack_runtime::Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let creds = Credentials::Password {
        identity_url: identity_url.to_string(),
        user: rustack_identity_api::ServiceCredentials {
            username: "neutron".into(),
            password: neutron_password,
            domain_name: "Default".into(),
            project_name: "service".into(),
        },
    };
    let client = NetworkClient::new(network_url, creds)
        .map_err(|e| anyhow::anyhow!("network agent client: {e}"))?;
    let backend = HostBackend::linux(data_dir.join("dhcp"));
    let opts = AgentOptions {
        network_node,
        ..AgentOptions::from_config(cfg)
    };
    let agent: Arc<NetworkAgent> = match metadata {
        Some(m) => NetworkAgent::with_metadata(client, backend, opts, &m),
        None => NetworkAgent::new(client, backend, opts),
    };
    Ok(agent.spawn(wake, shutdown))
}

/// Removes every piece of host networking the data plane owns (`rustack agent
/// cleanup`, like neutron-netns-cleanup plus neutron-linuxbridge-cleanup): `qdhcp-*`
/// and `qrouter-*` namespaces with their dnsmasq processes, `brq*` bridges, `vxlan-*`
/// devices and the `rustack-*` nftables tables. It is one reconcile pass towards an
/// empty topology, so it removes exactly what a running agent would remove, and it
/// holds the host's data-plane lock (it refuses while an agent runs). Instance TAPs
/// and physical interfaces are never deleted. Returns (changes made, failures).
pub fn cleanup(cfg: &NetworkConfig, data_dir: &Path) -> anyhow::Result<(usize, Vec<String>)> {
    if let Some(reason) = unavailable_reason() {
        anyhow::bail!("cannot clean up the data plane: {reason}");
    }
    take_host_lock().map_err(anyhow::Error::msg)?;
    let backend = HostBackend::linux(data_dir.join("dhcp"));
    let opts = AgentOptions::from_config(cfg);
    let desired = rustack_hostops::dataplane::plan(
        &rustack_hostops::dataplane::Topology::default(),
        &opts.host_config,
    );
    let report = rustack_hostops::dataplane::Reconciler::new(
        backend.net.as_ref(),
        backend.fw.as_ref(),
        backend.dhcp.as_ref(),
    )
    .reconcile(&desired);
    for c in &report.changes {
        tracing::info!(change = ?c, "data plane cleanup");
    }
    let errors = report
        .errors
        .iter()
        .map(|(what, e)| format!("{what}: {e}"))
        .collect();
    Ok((report.changes.len(), errors))
}

/// `[metadata]` with the shared secret from passwords.yml `metadata_secret` (Kolla's
/// name for Neutron's and Nova's `metadata_proxy_shared_secret`).
pub fn metadata_config(
    cfg: &rustack_metadata::MetadataConfig,
    passwords: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<rustack_metadata::MetadataConfig> {
    let secret = passwords
        .get("metadata_secret")
        .context("passwords.yml lacks metadata_secret")?;
    Ok(rustack_metadata::MetadataConfig {
        shared_secret: secret.clone(),
        ..cfg.clone()
    })
}

/// The `neutron` service user's password from passwords.yml.
pub fn neutron_password(
    passwords: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<String> {
    passwords
        .get("neutron_keystone_password")
        .cloned()
        .context("passwords.yml lacks neutron_keystone_password")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_data_plane_per_host() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("run/network-agent.lock");
        let held = lock_file(&path).expect("first lock");
        let e = lock_file(&path).expect_err("second lock refused");
        assert!(e.contains("another rustack process"), "{e}");
        drop(held);
        assert!(lock_file(&path).is_ok(), "free again once released");
    }

    #[test]
    fn off_never_runs_and_never_locks() {
        let cfg = NetworkConfig {
            data_plane: DataPlaneMode::Off,
            ..NetworkConfig::default()
        };
        assert!(!decide(&cfg).expect("off is fine"));
        assert!(HOST_LOCK.get().is_none());
    }
}
