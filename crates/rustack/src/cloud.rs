//! Starting the all-in-one cloud: every service rustack has, in this process, on the
//! embedded default (SQLite files under the data dir).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustack_block_server::{BlockDeps, BlockService};
use rustack_identity_server::bootstrap::{Bootstrap, CatalogEntry};
use rustack_identity_server::Identity;
use rustack_image_server::ImageService;
use rustack_keymgr_server::KeyManagerService;
use rustack_network_server::Network;
use rustack_placement_server::PlacementService;

use crate::config::RustackConfig;
use crate::files;

/// How to start a cloud.
#[derive(Clone, Debug)]
pub struct CloudOptions {
    /// Where state lives.
    pub data_dir: PathBuf,
    /// Address every service binds.
    pub bind: IpAddr,
    /// Port overrides (tests use 0 = any free port); `None` = the configured port.
    pub identity_port: Option<u16>,
    /// Image API port override (like `identity_port`).
    pub image_port: Option<u16>,
    /// Networking API port override (like `identity_port`).
    pub network_port: Option<u16>,
    /// Placement API port override (like `identity_port`).
    pub placement_port: Option<u16>,
    /// Compute API port override (like `identity_port`).
    pub compute_port: Option<u16>,
    /// Block Storage API port override (like `identity_port`).
    pub block_storage_port: Option<u16>,
    /// Key Manager API port override (like `identity_port`).
    pub key_manager_port: Option<u16>,
    /// Configuration.
    pub config: RustackConfig,
}

/// A running cloud.
pub struct RunningCloud {
    /// The identity service state (in-process token validator for the others).
    pub identity: Arc<Identity>,
    /// The Identity API's URL (`http://host:port`).
    pub identity_url: String,
    /// The image service state.
    pub image: Arc<ImageService>,
    /// The Image API's URL (`http://host:port`).
    pub image_url: String,
    /// The network service state.
    pub network: Arc<Network>,
    /// The Networking API's URL (`http://host:port`).
    pub network_url: String,
    /// The `public` external network created at start-up (`[network.public_network]`).
    pub public_network_id: Option<String>,
    /// (name, id) of the images `[[bootstrap.images]]` asked for (and `cirros`, the
    /// demo image).
    pub bootstrap_images: Vec<(String, String)>,
    /// The demo resources created by this start (`None`: demo off, or created by an
    /// earlier start).
    pub demo: Option<crate::bootstrap_demo::DemoResources>,
    /// The placement service state.
    pub placement: Arc<PlacementService>,
    /// The Placement API's URL (`http://host:port`).
    pub placement_url: String,
    /// The compute service state.
    pub compute: Arc<rustack_compute_server::Compute>,
    /// The Compute API's root URL (`http://host:port`; the catalog has `/v2.1`).
    pub compute_url: String,
    /// The block storage service state.
    pub block: Arc<BlockService>,
    /// The Block Storage API's root URL (`http://host:port`; the catalog has
    /// `/v3/$(project_id)s`).
    pub block_url: String,
    /// The key manager service state.
    pub key_manager: Arc<KeyManagerService>,
    /// The Key Manager API's URL (`http://host:port`).
    pub key_manager_url: String,
    /// Whether the network data plane (the in-process network agent) runs.
    pub data_plane: bool,
    /// The admin password from passwords.yml.
    pub admin_password: String,
    /// Files written for operators.
    pub openrc: PathBuf,
    /// clouds.yaml path.
    pub clouds_yaml: PathBuf,
    trigger: rustack_runtime::ShutdownTrigger,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    agent: Option<tokio::task::JoinHandle<()>>,
}

impl RunningCloud {
    /// Stops every service and waits for in-flight requests to finish.
    pub async fn shutdown(self) {
        self.trigger.trigger();
        if let Some(a) = self.agent {
            let _ = a.await;
        }
        for t in self.tasks {
            let _ = t.await;
        }
        self.identity.store().db().close().await;
        self.image.store().db().close().await;
        self.network.db().close().await;
        self.placement.store().db().close().await;
        self.compute.db().close().await;
        self.block.store().db().close().await;
        self.key_manager.store().db().close().await;
    }
}

fn url_host(bind: IpAddr, cfg: &RustackConfig) -> String {
    if let Some(h) = &cfg.cloud.public_host {
        return h.clone();
    }
    match bind {
        IpAddr::V4(v) if v.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v) if v.is_unspecified() => "[::1]".into(),
        IpAddr::V6(v) => format!("[{v}]"),
        other => other.to_string(),
    }
}

/// The service users bootstrap creates (Kolla's names), with their passwords from
/// passwords.yml: what a service started with `rustack serve` authenticates as.
pub fn service_users(
    passwords: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    SERVICE_USERS
        .iter()
        .filter_map(|(user, key)| passwords.get(*key).map(|p| (user.to_string(), p.clone())))
        .collect()
}

/// (service user, passwords.yml key) for the services that can run on their own.
pub const SERVICE_USERS: &[(&str, &str)] = &[
    ("glance", "glance_keystone_password"),
    ("neutron", "neutron_keystone_password"),
    ("placement", "placement_keystone_password"),
    ("nova", "nova_keystone_password"),
    ("cinder", "cinder_keystone_password"),
    ("barbican", "barbican_keystone_password"),
];

/// Creates the data dir (0700).
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", dir.display()))?;
    Ok(())
}

/// The Fernet key repository path for a config and data dir.
pub fn key_repo(cfg: &RustackConfig, data_dir: &Path) -> PathBuf {
    cfg.identity
        .fernet_key_repository
        .clone()
        .unwrap_or_else(|| data_dir.join("fernet-keys"))
}

/// Starts every service; on first start runs the set-up (passwords, keys, bootstrap,
/// openrc/clouds.yaml). Restarting keeps all state and secrets.
pub async fn start(opts: CloudOptions) -> anyhow::Result<RunningCloud> {
    prepare_data_dir(&opts.data_dir)?;
    let cfg = &opts.config;
    let passwords = files::ensure_passwords(&opts.data_dir.join("passwords.yml"))?;
    let admin_password = passwords
        .get("keystone_admin_password")
        .cloned()
        .context("passwords.yml lacks keystone_admin_password")?;

    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let port = opts.identity_port.unwrap_or(cfg.identity.port);
    let listener = rustack_runtime::bind(
        "identity",
        opts.bind,
        port,
        "--identity-port or [identity] port in the config",
    )
    .await?;
    let actual_port = listener.local_addr()?.port();
    let host = url_host(opts.bind, cfg);
    let identity_url = format!("http://{host}:{actual_port}");
    let image_listener = rustack_runtime::bind(
        "image",
        opts.bind,
        opts.image_port.unwrap_or(cfg.image.port),
        "--image-port or [image] port in the config",
    )
    .await?;
    let image_url = format!("http://{host}:{}", image_listener.local_addr()?.port());
    let network_listener = rustack_runtime::bind(
        "network",
        opts.bind,
        opts.network_port.unwrap_or(cfg.network.port),
        "--network-port or [network] port in the config",
    )
    .await?;
    let network_url = format!("http://{host}:{}", network_listener.local_addr()?.port());
    let placement_listener = rustack_runtime::bind(
        "placement",
        opts.bind,
        opts.placement_port.unwrap_or(cfg.placement.port),
        "--placement-port or [placement] port in the config",
    )
    .await?;
    let placement_url = format!("http://{host}:{}", placement_listener.local_addr()?.port());
    let compute_listener = rustack_runtime::bind(
        "compute",
        opts.bind,
        opts.compute_port.unwrap_or(cfg.compute.port),
        "--compute-port or [compute] port in the config",
    )
    .await?;
    let compute_url = format!("http://{host}:{}", compute_listener.local_addr()?.port());
    let block_listener = rustack_runtime::bind(
        "block storage",
        opts.bind,
        opts.block_storage_port.unwrap_or(cfg.block_storage.port),
        "--block-storage-port or [block_storage] port in the config",
    )
    .await?;
    let block_url = format!("http://{host}:{}", block_listener.local_addr()?.port());
    let key_manager_listener = rustack_runtime::bind(
        "key manager",
        opts.bind,
        opts.key_manager_port.unwrap_or(cfg.key_manager.port),
        "--key-manager-port or [key_manager] port in the config",
    )
    .await?;
    let key_manager_url = format!(
        "http://{host}:{}",
        key_manager_listener.local_addr()?.port()
    );

    let db_url = cfg
        .identity
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data_dir.join("identity.db").display()));
    let identity = Identity::open(cfg.identity.clone(), &db_url, key_repo(cfg, &opts.data_dir))
        .await
        .map_err(anyhow::Error::new)
        .context("starting the identity service")?;
    identity
        .bootstrap(&Bootstrap {
            admin_password: admin_password.clone(),
            region: cfg.cloud.region.clone(),
            catalog: vec![
                CatalogEntry {
                    service_type: "identity".into(),
                    name: "keystone".into(),
                    url: identity_url.clone(),
                },
                CatalogEntry {
                    service_type: "image".into(),
                    name: "glance".into(),
                    url: image_url.clone(),
                },
                CatalogEntry {
                    service_type: "network".into(),
                    name: "neutron".into(),
                    url: network_url.clone(),
                },
                CatalogEntry {
                    service_type: "placement".into(),
                    name: "placement".into(),
                    url: placement_url.clone(),
                },
                CatalogEntry {
                    service_type: "compute".into(),
                    name: "nova".into(),
                    url: format!("{compute_url}/v2.1"),
                },
                CatalogEntry {
                    service_type: "block-storage".into(),
                    name: "cinder".into(),
                    url: format!("{block_url}/v3/$(project_id)s"),
                },
                CatalogEntry {
                    service_type: "volumev3".into(),
                    name: "cinderv3".into(),
                    url: format!("{block_url}/v3/$(project_id)s"),
                },
                CatalogEntry {
                    service_type: "key-manager".into(),
                    name: "barbican".into(),
                    url: key_manager_url.clone(),
                },
            ],
            service_users: service_users(&passwords),
        })
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap failed: {e}"))?;

    let image_db = cfg
        .image
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data_dir.join("image.db").display()));
    let image_dir = cfg
        .image
        .filesystem_store_datadir
        .clone()
        .unwrap_or_else(|| opts.data_dir.join("images"));
    let image = ImageService::open(cfg.image.clone(), &image_db, image_dir, identity.clone())
        .await
        .map_err(anyhow::Error::new)
        .context("starting the image service")?;

    let network_db = cfg
        .network
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", opts.data_dir.join("network.db").display()));
    let data_plane = crate::dataplane::decide(&cfg.network)?;
    let network = Arc::new(
        Network::open(cfg.network.clone(), &network_db)
            .await
            .map_err(anyhow::Error::new)
            .context("starting the network service")?,
    );
    if cfg.network.dhcp_ports == rustack_network_api::DhcpPortsMode::Auto {
        network.set_dhcp_ports(data_plane);
    }
    let (demo_on, demo_image) = crate::bootstrap_demo::plan(&cfg.bootstrap, &opts.data_dir);
    let public_cfg =
        crate::bootstrap_demo::public_network(cfg.network.public_network.as_ref(), demo_on);
    let (public_network_id, demo) = match &public_cfg {
        Some(public) => {
            let admin_project = identity
                .store()
                .project_by_name("default", "admin")
                .await
                .map_err(|e| anyhow::anyhow!("looking up the admin project: {e}"))?
                .context("the admin project is missing after bootstrap")?;
            let id = rustack_network_server::bootstrap::ensure_public_network(
                &network,
                public,
                &admin_project.id,
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating the public network: {}", e.error))?;
            let demo = if demo_on {
                crate::bootstrap_demo::ensure(&network, &opts.data_dir, &admin_project.id, &id)
                    .await?
            } else {
                None
            };
            (Some(id), demo)
        }
        None => (None, None),
    };
    // With the demo and the data plane, the public network is reachable from this host
    // unless the operator mapped its physical network to a real interface.
    let mut agent_network_cfg = cfg.network.clone();
    if let (true, true, Some(public)) = (data_plane, demo_on, &public_cfg) {
        if !agent_network_cfg
            .physical_interface_mappings
            .contains_key(&public.physical_network)
        {
            // A cloud whose floating IPs the host cannot reach still serves: say why.
            let uplink = crate::bootstrap_demo::host_gateway(public).and_then(|gw| {
                crate::bootstrap_demo::ensure_host_uplink(&rustack_hostops::net::LinuxNet, gw)
            });
            match uplink {
                Ok(dev) => {
                    agent_network_cfg
                        .physical_interface_mappings
                        .insert(public.physical_network.clone(), dev);
                }
                Err(e) => {
                    tracing::warn!("the public network is not reachable from this host: {e:#}")
                }
            }
        }
    }

    let placement_db =
        cfg.placement.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", opts.data_dir.join("placement.db").display())
        });
    let placement = PlacementService::open(cfg.placement.clone(), &placement_db, identity.clone())
        .await
        .map_err(anyhow::Error::new)
        .context("starting the placement service")?;

    let compute = crate::compute::open(
        &cfg.compute,
        &cfg.compute
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", opts.data_dir.join("compute.db").display())),
    )
    .await?;
    let compute_driver = crate::compute::driver(&cfg.compute, &opts.data_dir)?;

    let key_manager = open_key_manager(
        cfg,
        &opts.data_dir,
        &format!(
            "sqlite://{}",
            opts.data_dir.join("key-manager.db").display()
        ),
        identity.clone(),
    )
    .await?;
    let block = open_block(
        cfg,
        &opts.data_dir,
        &format!("sqlite://{}", opts.data_dir.join("block.db").display()),
        BlockEndpoints {
            identity_url: identity_url.clone(),
            image_url: Some(image_url.clone()),
            compute_url: Some(format!("{compute_url}/v2.1")),
            key_manager_url: Some(key_manager_url.clone()),
        },
        &passwords,
        identity.clone(),
    )
    .await?;

    let openrc = opts.data_dir.join("admin-openrc.sh");
    let clouds = opts.data_dir.join("clouds.yaml");
    files::write_private(
        &openrc,
        &files::admin_openrc(&identity_url, &admin_password, &cfg.cloud.region),
    )?;
    files::write_private(
        &clouds,
        &files::clouds_yaml(&identity_url, &admin_password, &cfg.cloud.region),
    )?;

    // Serve only once everything is open and the operator files exist: a client that
    // reaches any endpoint finds the whole cloud there.
    let running = rustack_identity_server::run(identity.clone(), listener, shutdown.clone())?;
    let image_running = rustack_image_server::run(image.clone(), image_listener, shutdown.clone())?;
    let network_running = rustack_network_server::run(
        network.clone(),
        identity.clone(),
        network_listener,
        shutdown.clone(),
    )?;
    let placement_running =
        rustack_placement_server::run(placement.clone(), placement_listener, shutdown.clone())?;
    let servers = crate::compute::attach_host(
        &compute,
        compute_driver,
        &crate::compute::ComputeEndpoints {
            identity_url: identity_url.clone(),
            image_url: image_url.clone(),
            network_url: network_url.clone(),
            placement_url: placement_url.clone(),
            block_url: Some(format!("{block_url}/v3")),
            key_manager_url: Some(key_manager_url.clone()),
        },
        crate::compute::nova_password(&passwords)?,
        &opts.data_dir,
        shutdown.clone(),
    )?;
    let compute_running = rustack_compute_server::run(
        compute.clone(),
        identity.clone(),
        compute_listener,
        shutdown.clone(),
    )?;
    let key_manager_running =
        rustack_keymgr_server::run(key_manager.clone(), key_manager_listener, shutdown.clone())?;
    let block_running = rustack_block_server::run(block.clone(), block_listener, shutdown.clone())?;
    let agent = if data_plane {
        Some(crate::dataplane::start_agent(
            &agent_network_cfg,
            &opts.data_dir,
            &network_url,
            &identity_url,
            crate::dataplane::neutron_password(&passwords)?,
            Some(crate::dataplane::metadata_config(
                &cfg.metadata,
                &passwords,
            )?),
            Some(network.subscribe()),
            shutdown.clone(),
        )?)
    } else {
        None
    };

    // The compute metadata API (nova's 8775), where the network agent's proxy forwards
    // guests' requests: served when the data plane (and so the proxy) runs.
    let mut tasks = Vec::new();
    if data_plane {
        let mcfg = crate::dataplane::metadata_config(&cfg.metadata, &passwords)?;
        let port = mcfg
            .nova_metadata_url
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse::<u16>().ok())
            .unwrap_or(8775);
        let listener = rustack_runtime::bind(
            "compute metadata",
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port,
            "[metadata] nova_metadata_url in the config",
        )
        .await?;
        tasks.push(rustack_runtime::serve(
            listener,
            servers.metadata_router(&mcfg),
            shutdown.clone(),
        ));
    }

    // After the services serve: registration goes through the Image API.
    let mut images = cfg.bootstrap.images.clone();
    images.extend(demo_image);
    let bootstrap_images =
        crate::bootstrap_images::register(&images, &identity_url, &image_url, &admin_password)
            .await
            .context("registering [[bootstrap.images]]");
    let bootstrap_images = match bootstrap_images {
        Ok(v) => v,
        Err(e) => {
            // Everything already serves: stop it rather than leave a half-started cloud.
            trigger.trigger();
            return Err(e);
        }
    };

    Ok(RunningCloud {
        identity,
        identity_url,
        bootstrap_images,
        image,
        image_url,
        network,
        network_url,
        public_network_id,
        demo,
        placement,
        placement_url,
        compute,
        compute_url,
        block,
        block_url,
        key_manager,
        key_manager_url,
        data_plane,
        admin_password,
        openrc,
        clouds_yaml: clouds,
        trigger,
        tasks: vec![
            running.task,
            image_running.task,
            network_running.task,
            placement_running.task,
            compute_running.task,
            key_manager_running.task,
            block_running.task,
        ]
        .into_iter()
        .chain(tasks)
        .collect(),
        agent,
    })
}

/// Where the block storage service finds the services it calls.
struct BlockEndpoints {
    identity_url: String,
    image_url: Option<String>,
    compute_url: Option<String>,
    key_manager_url: Option<String>,
}

/// Opens the key manager: its database and its master key-encryption key
/// (`<data dir>/key-manager/kek`, 0600; back it up: without it no secret can be read).
async fn open_key_manager(
    cfg: &RustackConfig,
    data_dir: &Path,
    default_db: &str,
    validator: Arc<dyn rustack_api_common::TokenValidator>,
) -> anyhow::Result<Arc<KeyManagerService>> {
    let db = cfg
        .key_manager
        .database_url
        .clone()
        .unwrap_or_else(|| default_db.to_string());
    KeyManagerService::open(
        cfg.key_manager.clone(),
        &db,
        &data_dir.join("key-manager").join("kek"),
        validator,
    )
    .await
    .map_err(anyhow::Error::new)
    .context("starting the key manager service")
}

/// The volume backend `[block_storage] backend` names: `file` (one qcow2 per volume under
/// `volumes_dir`, default `<data dir>/volumes`) or `simulated` (no data; scale tests).
fn block_backend(
    cfg: &RustackConfig,
    data_dir: &Path,
) -> anyhow::Result<Arc<dyn rustack_block_api::VolumeBackend>> {
    match cfg.block_storage.backend.as_str() {
        "file" => {
            let dir = cfg
                .block_storage
                .volumes_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("volumes"));
            let b = rustack_block_agent::FileBackend::new(dir.clone()).map_err(|e| {
                anyhow::anyhow!("the file volume backend at {}: {e}", dir.display())
            })?;
            Ok(Arc::new(b))
        }
        "simulated" => Ok(Arc::new(rustack_block_agent::SimulatedBackend::new(
            rustack_block_agent::SimBackendConfig::default(),
        ))),
        other => {
            anyhow::bail!("[block_storage] backend = {other:?}: expected \"file\" or \"simulated\"")
        }
    }
}

/// Opens the block storage service with its backend; it calls the Image, Compute and Key
/// Manager APIs (the latter with the request's token, as castellan does) and the Compute
/// API as the `cinder` service user.
async fn open_block(
    cfg: &RustackConfig,
    data_dir: &Path,
    default_db: &str,
    endpoints: BlockEndpoints,
    passwords: &std::collections::BTreeMap<String, String>,
    validator: Arc<dyn rustack_api_common::TokenValidator>,
) -> anyhow::Result<Arc<BlockService>> {
    let db = cfg
        .block_storage
        .database_url
        .clone()
        .unwrap_or_else(|| default_db.to_string());
    let password = passwords
        .get("cinder_keystone_password")
        .cloned()
        .context("passwords.yml lacks cinder_keystone_password")?;
    let key_manager: Option<Arc<dyn rustack_keymgr_api::KeyManager>> =
        match &endpoints.key_manager_url {
            Some(url) => Some(Arc::new(
                rustack_keymgr_api::client::KeyManagerClient::new(url)
                    .map_err(|e| anyhow::anyhow!("key manager client: {e}"))?,
            )),
            None => None,
        };
    let deps = BlockDeps {
        image_url: endpoints.image_url,
        compute_url: endpoints.compute_url,
        identity_url: Some(endpoints.identity_url),
        service_credentials: Some(rustack_identity_api::ServiceCredentials {
            username: "cinder".into(),
            password,
            domain_name: "Default".into(),
            project_name: "service".into(),
        }),
        key_manager,
    };
    // The service keeps the resolved directories (orphan reconciliation, backups).
    let mut block_cfg = cfg.block_storage.clone();
    if block_cfg.volumes_dir.is_none() && block_cfg.backend == "file" {
        block_cfg.volumes_dir = Some(data_dir.join("volumes"));
    }
    if block_cfg.backups_dir.is_none() {
        block_cfg.backups_dir = Some(data_dir.join("backups"));
    }
    BlockService::open(
        block_cfg,
        &db,
        block_backend(cfg, data_dir)?,
        deps,
        validator,
    )
    .await
    .map_err(anyhow::Error::new)
    .context("starting the block storage service")
}

/// A service that can run on its own (`rustack serve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ServiceKind {
    /// Keystone v3.
    Identity,
    /// Glance v2.
    Image,
    /// Neutron v2.0 (API).
    Network,
    /// Placement 1.x.
    Placement,
    /// Nova v2.1 (API, scheduler and this host's compute driver).
    Compute,
    /// Cinder v3 (API, scheduler and this host's volume backend).
    BlockStorage,
    /// Barbican v1.
    KeyManager,
}

/// How to start one service on its own.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Which service.
    pub service: ServiceKind,
    /// State directory (its passwords.yml must be the one the identity host generated:
    /// copy it, as Kolla distributes passwords.yml to every host).
    pub data_dir: PathBuf,
    /// Address to bind.
    pub bind: IpAddr,
    /// Port override (`None` = the configured port).
    pub port: Option<u16>,
    /// The Identity API (`http://host:5000`); required for every service but identity.
    pub identity_url: Option<String>,
    /// Configuration.
    pub config: RustackConfig,
}

/// One service running on its own.
pub struct Served {
    /// Its URL (`http://host:port`).
    pub url: String,
    trigger: rustack_runtime::ShutdownTrigger,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Stops the service, finishing in-flight requests.
    pub async fn shutdown(self) {
        self.trigger.trigger();
        let _ = self.task.await;
    }
}

/// Starts one service alone. Services other than identity validate tokens over the
/// Identity API as their Kolla service user (`glance`, `neutron`, created by identity's
/// bootstrap with the passwords in passwords.yml), caching validations for
/// `token_cache_seconds` of the identity section (keystonemiddleware's 300 s).
/// Catalog entries for services on other hosts are registered by the operator
/// (`openstack endpoint create`), as Kolla's service-ks-register does.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<Served> {
    prepare_data_dir(&opts.data_dir)?;
    let cfg = &opts.config;
    let passwords = files::ensure_passwords(&opts.data_dir.join("passwords.yml"))?;
    let (name, default_port, option) = match opts.service {
        ServiceKind::Identity => ("identity", cfg.identity.port, "--port or [identity] port"),
        ServiceKind::Image => ("image", cfg.image.port, "--port or [image] port"),
        ServiceKind::Network => ("network", cfg.network.port, "--port or [network] port"),
        ServiceKind::Placement => (
            "placement",
            cfg.placement.port,
            "--port or [placement] port",
        ),
        ServiceKind::Compute => ("compute", cfg.compute.port, "--port or [compute] port"),
        ServiceKind::BlockStorage => (
            "block storage",
            cfg.block_storage.port,
            "--port or [block_storage] port",
        ),
        ServiceKind::KeyManager => (
            "key manager",
            cfg.key_manager.port,
            "--port or [key_manager] port",
        ),
    };
    let listener =
        rustack_runtime::bind(name, opts.bind, opts.port.unwrap_or(default_port), option).await?;
    let url = format!(
        "http://{}:{}",
        url_host(opts.bind, cfg),
        listener.local_addr()?.port()
    );
    let (trigger, shutdown) = rustack_runtime::shutdown_channel();
    let db_url = |configured: &Option<String>, file: &str| {
        configured
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", opts.data_dir.join(file).display()))
    };
    let remote = |user: &str| -> anyhow::Result<Arc<dyn rustack_api_common::TokenValidator>> {
        let identity_url = opts
            .identity_url
            .clone()
            .context("--identity-url is required to run this service on its own")?;
        let (_, key) = SERVICE_USERS
            .iter()
            .find(|(u, _)| *u == user)
            .context("no service user for this service")?;
        let password = passwords
            .get(*key)
            .cloned()
            .with_context(|| format!("passwords.yml lacks {key}"))?;
        let creds = rustack_identity_api::ServiceCredentials {
            username: user.to_string(),
            password,
            domain_name: "Default".into(),
            project_name: "service".into(),
        };
        let ttl = std::time::Duration::from_secs(cfg.identity.token_cache_seconds);
        let v = rustack_api_common::remote::RemoteValidator::new(&identity_url, creds, ttl)
            .map_err(|e| anyhow::anyhow!("token validator: {e}"))?;
        Ok(Arc::new(v))
    };
    let task = match opts.service {
        ServiceKind::Identity => {
            let identity = Identity::open(
                cfg.identity.clone(),
                &db_url(&cfg.identity.database_url, "identity.db"),
                key_repo(cfg, &opts.data_dir),
            )
            .await
            .map_err(anyhow::Error::new)
            .context("starting the identity service")?;
            let admin_password = passwords
                .get("keystone_admin_password")
                .cloned()
                .context("passwords.yml lacks keystone_admin_password")?;
            identity
                .bootstrap(&Bootstrap {
                    admin_password,
                    region: cfg.cloud.region.clone(),
                    catalog: vec![CatalogEntry {
                        service_type: "identity".into(),
                        name: "keystone".into(),
                        url: url.clone(),
                    }],
                    service_users: service_users(&passwords),
                })
                .await
                .map_err(|e| anyhow::anyhow!("bootstrap failed: {e}"))?;
            rustack_identity_server::run(identity, listener, shutdown)?.task
        }
        ServiceKind::Image => {
            let dir = cfg
                .image
                .filesystem_store_datadir
                .clone()
                .unwrap_or_else(|| opts.data_dir.join("images"));
            let image = ImageService::open(
                cfg.image.clone(),
                &db_url(&cfg.image.database_url, "image.db"),
                dir,
                remote("glance")?,
            )
            .await
            .map_err(anyhow::Error::new)
            .context("starting the image service")?;
            rustack_image_server::run(image, listener, shutdown)?.task
        }
        ServiceKind::Network => {
            if cfg.network.public_network.is_some() {
                tracing::warn!("[network.public_network] is only created by `rustack up`; create it with the openstack CLI");
            }
            let network = Network::open(
                cfg.network.clone(),
                &db_url(&cfg.network.database_url, "network.db"),
            )
            .await
            .map_err(anyhow::Error::new)
            .context("starting the network service")?;
            // Agents run on other hosts: DHCP ports unless switched off.
            if cfg.network.dhcp_ports == rustack_network_api::DhcpPortsMode::Auto {
                network.set_dhcp_ports(true);
            }
            rustack_network_server::run(Arc::new(network), remote("neutron")?, listener, shutdown)?
                .task
        }
        ServiceKind::Placement => {
            let placement = PlacementService::open(
                cfg.placement.clone(),
                &db_url(&cfg.placement.database_url, "placement.db"),
                remote("placement")?,
            )
            .await
            .map_err(anyhow::Error::new)
            .context("starting the placement service")?;
            rustack_placement_server::run(placement, listener, shutdown)?.task
        }
        ServiceKind::Compute => {
            let identity_url = opts
                .identity_url
                .clone()
                .context("--identity-url is required to run this service on its own")?;
            let compute = crate::compute::open(
                &cfg.compute,
                &db_url(&cfg.compute.database_url, "compute.db"),
            )
            .await?;
            let driver = crate::compute::driver(&cfg.compute, &opts.data_dir)?;
            // The other services are found in the catalog, as nova finds them.
            let catalog = crate::compute::endpoints_from_catalog(
                &identity_url,
                crate::compute::nova_password(&passwords)?,
            )
            .await?;
            crate::compute::attach_host(
                &compute,
                driver,
                &catalog,
                crate::compute::nova_password(&passwords)?,
                &opts.data_dir,
                shutdown.clone(),
            )?;
            rustack_compute_server::run(compute, remote("nova")?, listener, shutdown)?.task
        }
        ServiceKind::KeyManager => {
            let key_manager = open_key_manager(
                cfg,
                &opts.data_dir,
                &db_url(&None, "key-manager.db"),
                remote("barbican")?,
            )
            .await?;
            rustack_keymgr_server::run(key_manager, listener, shutdown)?.task
        }
        ServiceKind::BlockStorage => {
            let identity_url = opts
                .identity_url
                .clone()
                .context("--identity-url is required to run this service on its own")?;
            // The other services are found in the catalog, as cinder finds them.
            let catalog = crate::compute::catalog_urls(
                &identity_url,
                rustack_identity_api::ServiceCredentials {
                    username: "cinder".into(),
                    password: passwords
                        .get("cinder_keystone_password")
                        .cloned()
                        .context("passwords.yml lacks cinder_keystone_password")?,
                    domain_name: "Default".into(),
                    project_name: "service".into(),
                },
            )
            .await?;
            let block = open_block(
                cfg,
                &opts.data_dir,
                &db_url(&None, "block.db"),
                BlockEndpoints {
                    identity_url,
                    image_url: catalog.get("image").cloned(),
                    compute_url: catalog.get("compute").cloned(),
                    key_manager_url: catalog.get("key-manager").cloned(),
                },
                &passwords,
                remote("cinder")?,
            )
            .await?;
            rustack_block_server::run(block, listener, shutdown)?.task
        }
    };
    Ok(Served { url, trigger, task })
}
