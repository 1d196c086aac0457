//! The compute service in the binary: choosing the hypervisor driver, opening the
//! service with its bootstrap flavors, attaching the servers work (scheduler, builds)
//! and the compute host of this process (registration and Placement reports).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustack_compute_api::ComputeConfig;
use rustack_compute_server::app::host::HostReporter;
use rustack_compute_server::servers::{Servers, ServersConfig};
use rustack_compute_server::Compute;
use rustack_identity_api::ServiceCredentials;
use rustack_virt::ComputeDriver;

/// Where the compute service finds the others.
#[derive(Clone, Debug)]
pub struct ComputeEndpoints {
    /// Identity (`http://host:5000`).
    pub identity_url: String,
    /// Image (`http://host:9292`).
    pub image_url: String,
    /// Networking (`http://host:9696`).
    pub network_url: String,
    /// Placement (`http://host:8778`).
    pub placement_url: String,
    /// Block Storage (`http://host:8776/v3`), when the cloud has it.
    pub block_url: Option<String>,
    /// Key Manager (`http://host:9311`), when the cloud has it.
    pub key_manager_url: Option<String>,
}

/// The state directory of this compute host.
pub fn state_dir(cfg: &ComputeConfig, data_dir: &Path) -> PathBuf {
    cfg.state_dir
        .clone()
        .unwrap_or_else(|| data_dir.join("compute"))
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(binary).is_file()))
}

/// The configured driver: `qemu`, `simulated`, or `auto` (QEMU when
/// `qemu-system-x86_64` is on the PATH and we run as root, else simulated).
pub fn driver(cfg: &ComputeConfig, data_dir: &Path) -> anyhow::Result<Arc<dyn ComputeDriver>> {
    let dir = state_dir(cfg, data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let qemu = match cfg.driver.as_str() {
        "qemu" => true,
        "simulated" => false,
        "auto" => {
            let root = is_root();
            let has_qemu = on_path("qemu-system-x86_64");
            let pick = root && has_qemu;
            tracing::info!(
                compute.driver = if pick { "qemu" } else { "simulated" },
                root,
                qemu_on_path = has_qemu,
                "compute driver auto-selected (qemu needs root and qemu-system-x86_64)"
            );
            pick
        }
        other => anyhow::bail!(
            "[compute] driver = {other:?}: expected \"qemu\", \"simulated\" or \"auto\""
        ),
    };
    if qemu {
        let mut qc = rustack_virt::qemu::QemuConfig::new(dir);
        qc.hostname = cfg.host.clone();
        let d = rustack_virt::qemu::QemuDriver::new(qc)
            .map_err(|e| anyhow::anyhow!("starting the QEMU driver: {e}"))?;
        Ok(Arc::new(d))
    } else {
        let mut sc = rustack_virt::sim::SimConfig::default();
        if let Some(h) = &cfg.host {
            sc.hostname = h.clone();
        }
        Ok(Arc::new(rustack_virt::sim::SimulatedDriver::new(sc)))
    }
}

/// True when the process runs with effective uid 0.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Opens the compute service on `database_url` with the bootstrap flavors.
pub async fn open(cfg: &ComputeConfig, database_url: &str) -> anyhow::Result<Arc<Compute>> {
    let compute = Compute::open(cfg.clone(), database_url)
        .await
        .map_err(anyhow::Error::new)
        .context("starting the compute service")?;
    let created = compute
        .ensure_flavors(&rustack_compute_server::app::flavor::bootstrap_flavors())
        .await
        .map_err(|e| anyhow::anyhow!("creating the bootstrap flavors: {e}"))?;
    if created > 0 {
        tracing::info!(flavors = created, "bootstrap flavors created");
    }
    Ok(compute)
}

/// Attaches the servers work and this process's compute host (driver, registration,
/// periodic Placement reports) and starts their background tasks.
pub fn attach_host(
    compute: &Arc<Compute>,
    driver: Arc<dyn ComputeDriver>,
    endpoints: &ComputeEndpoints,
    nova_password: String,
    data_dir: &Path,
    shutdown: rustack_runtime::Shutdown,
) -> anyhow::Result<Arc<Servers>> {
    let creds = ServiceCredentials {
        username: "nova".into(),
        password: nova_password,
        domain_name: "Default".into(),
        project_name: "service".into(),
    };
    compute.set_driver(driver.clone());
    let servers = Servers::new(
        compute.clone(),
        ServersConfig {
            identity_url: endpoints.identity_url.clone(),
            network_url: endpoints.network_url.clone(),
            image_url: endpoints.image_url.clone(),
            placement_url: endpoints.placement_url.clone(),
            service_credentials: creds.clone(),
            state_dir: state_dir(compute.config(), data_dir),
            max_build_attempts: 3,
            sync_interval: Duration::from_secs(10),
        },
    )
    .map_err(|e| anyhow::anyhow!("starting the servers work: {e}"))?;
    if let Some(u) = &endpoints.block_url {
        servers
            .set_block_storage(u)
            .map_err(|e| anyhow::anyhow!("block storage client: {e}"))?;
    }
    if let Some(u) = &endpoints.key_manager_url {
        let keys = rustack_keymgr_api::client::KeyManagerClient::new(u)
            .map_err(|e| anyhow::anyhow!("key manager client: {e}"))?;
        servers.set_key_manager(Arc::new(keys));
    }
    compute.set_servers(servers.clone());
    servers.start_background(shutdown.clone());
    let reporter = HostReporter::with_service_user(
        compute.clone(),
        driver,
        &endpoints.placement_url,
        &endpoints.identity_url,
        creds,
    )
    .map_err(|e| anyhow::anyhow!("compute host reporter: {e}"))?;
    tokio::spawn(reporter.run(shutdown));
    Ok(servers)
}

/// The `nova` service user's password from passwords.yml.
pub fn nova_password(
    passwords: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<String> {
    passwords
        .get("nova_keystone_password")
        .cloned()
        .context("passwords.yml lacks nova_keystone_password")
}

/// The public URL of every service type in the catalog, read with a token of the
/// service user `creds` (how a service running on its own finds the others).
pub async fn catalog_urls(
    identity_url: &str,
    creds: ServiceCredentials,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let client = rustack_identity_api::IdentityClient::new(identity_url)
        .map_err(|e| anyhow::anyhow!("identity client: {e}"))?;
    let user = creds.username.clone();
    let token = client
        .password_token(&creds)
        .await
        .map_err(|e| anyhow::anyhow!("authenticating as {user}: {e}"))?;
    let catalog = client
        .catalog(&token.id)
        .await
        .map_err(|e| anyhow::anyhow!("reading the catalog: {e}"))?;
    let mut urls = std::collections::BTreeMap::new();
    for service in catalog.as_array().into_iter().flatten() {
        let Some(kind) = service["type"].as_str() else {
            continue;
        };
        let public = service["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["interface"] == "public")
            .and_then(|e| e["url"].as_str());
        if let Some(u) = public {
            urls.entry(kind.to_owned())
                .or_insert_with(|| u.trim_end_matches('/').to_owned());
        }
    }
    Ok(urls)
}

/// A Block Storage catalog URL without its project segment (`.../v3/<project>` →
/// `.../v3`): compute calls it with each user's token, and Cinder serves `/v3/...` for
/// any project (3.67).
fn block_root(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((head, last)) if last != "v3" && head.ends_with("/v3") => head.to_owned(),
        _ => url.to_owned(),
    }
}

/// The other services' endpoints from the catalog, as the `nova` service user sees it.
pub async fn endpoints_from_catalog(
    identity_url: &str,
    nova_password: String,
) -> anyhow::Result<ComputeEndpoints> {
    let urls = catalog_urls(
        identity_url,
        ServiceCredentials {
            username: "nova".into(),
            password: nova_password,
            domain_name: "Default".into(),
            project_name: "service".into(),
        },
    )
    .await?;
    let find = |kind: &str| -> anyhow::Result<String> {
        urls.get(kind)
            .cloned()
            .with_context(|| format!("no public {kind} endpoint in the catalog"))
    };
    Ok(ComputeEndpoints {
        identity_url: identity_url.to_owned(),
        image_url: find("image")?,
        network_url: find("network")?,
        placement_url: find("placement")?,
        block_url: find("block-storage")
            .or_else(|_| find("volumev3"))
            .ok()
            .map(|u| block_root(&u)),
        key_manager_url: find("key-manager").ok(),
    })
}
