//! `rustack`: the OpenStack-compatible cloud in one binary.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rustack::cloud::{self, CloudOptions};
use rustack::config::RustackConfig;

/// rustack: an OpenStack-compatible cloud (Keystone v3 today) in one binary.
#[derive(Parser, Debug)]
#[command(name = "rustack", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every command that touches state shares.
#[derive(clap::Args, Debug, Clone)]
struct Common {
    /// State directory: SQLite databases, Fernet keys, passwords.yml, admin-openrc.sh,
    /// clouds.yaml. Default: $RUSTACK_DATA_DIR, else $XDG_DATA_HOME/rustack, else
    /// ~/.local/share/rustack.
    #[arg(long, env = "RUSTACK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see etc/rustack.toml); default: <data-dir>/rustack.toml if present.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the all-in-one cloud in the foreground (every service in one process).
    ///
    /// On first start this generates passwords.yml, the Fernet key repository, bootstraps
    /// identity (Default domain, admin/service projects, admin/member/reader roles, admin
    /// user, RegionOne, catalog) and writes admin-openrc.sh and clouds.yaml (cloud
    /// `rustack-admin`) into the data dir. Restarts keep all state. Stops on SIGTERM/SIGINT.
    Up {
        #[command(flatten)]
        common: Common,
        /// Address every service listens on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Identity API port (Keystone's 5000).
        #[arg(long)]
        identity_port: Option<u16>,
        /// Image API port (Glance's 9292).
        #[arg(long)]
        image_port: Option<u16>,
        /// Networking API port (Neutron's 9696).
        #[arg(long)]
        network_port: Option<u16>,
        /// Placement API port (8778).
        #[arg(long)]
        placement_port: Option<u16>,
        /// Compute API port (Nova's 8774).
        #[arg(long)]
        compute_port: Option<u16>,
        /// Block Storage API port (Cinder's 8776).
        #[arg(long)]
        block_storage_port: Option<u16>,
        /// Key Manager API port (Barbican's 9311).
        #[arg(long)]
        key_manager_port: Option<u16>,
        /// Image file registered as `cirros` with the demo resources on (overrides
        /// `[bootstrap] demo_image`; scripts/up.sh passes the test guest it builds).
        #[arg(long, env = "RUSTACK_DEMO_IMAGE")]
        demo_image: Option<PathBuf>,
    },
    /// Run one service on its own, for multi-host deployments (Kolla's one container
    /// per service).
    ///
    /// `identity` bootstraps like `rustack up` (with only itself in the catalog) and
    /// creates the service users (`glance`, `neutron`, `placement`, `nova`, `cinder`,
    /// `barbican`). The other services validate
    /// tokens over the Identity API at --identity-url as their service user, with the
    /// password from <data-dir>/passwords.yml (copy the identity host's file). Register
    /// their endpoints with `openstack endpoint create`.
    Serve {
        /// The service to run.
        #[arg(value_enum)]
        service: rustack::cloud::ServiceKind,
        #[command(flatten)]
        common: Common,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Port (default: the service's upstream port from the config).
        #[arg(long)]
        port: Option<u16>,
        /// Identity API URL (e.g. http://10.0.0.1:5000); required for image and network.
        #[arg(long)]
        identity_url: Option<String>,
    },
    /// Run a host agent on its own (multi-host deployments).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Identity service administration (like keystone-manage).
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AgentCommand {
    /// The network agent: makes the networks, subnets, ports, routers and floating IPs
    /// of the Networking API at --network-url real on this host (bridges, VXLAN,
    /// dnsmasq, router namespaces) and reports port status. Needs root (or
    /// CAP_NET_ADMIN) and ip, nft, dnsmasq. Authenticates as the `neutron` service user
    /// with the password from <data-dir>/passwords.yml (copy the identity host's file).
    /// Uses [network] physical_interface_mappings, local_ip, vxlan_udp_port,
    /// agent_interval_secs and host from the config; polls every agent_interval_secs.
    Network {
        #[command(flatten)]
        common: Common,
        /// Networking API URL (e.g. http://10.0.0.1:9696).
        #[arg(long)]
        network_url: String,
        /// Identity API URL (e.g. http://10.0.0.1:5000).
        #[arg(long)]
        identity_url: String,
        /// Carry networks and plug instance TAPs only (no DHCP servers, no routers).
        #[arg(long)]
        compute_only: bool,
    },
    /// Remove all host networking the data plane made on this host (qdhcp-/qrouter-
    /// namespaces and their dnsmasq, brq* bridges, vxlan-* devices, rustack-* nftables
    /// tables), like neutron-netns-cleanup. Refuses while an agent or cloud with the
    /// data plane runs here. Instance TAPs and physical interfaces are left alone.
    Cleanup {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
enum IdentityCommand {
    /// Rotate the Fernet keys (keystone-manage fernet_rotate): the staged key becomes
    /// primary, a new staged key is made, the oldest keys beyond max_active_keys go.
    /// A running cloud picks the new keys up by itself.
    FernetRotate {
        #[command(flatten)]
        common: Common,
    },
    /// Create the Fernet key repository if it does not exist (keystone-manage fernet_setup).
    FernetSetup {
        #[command(flatten)]
        common: Common,
    },
}

fn data_dir(common: &Common) -> anyhow::Result<PathBuf> {
    if let Some(d) = &common.data_dir {
        return Ok(d.clone());
    }
    if let Ok(x) = std::env::var("XDG_DATA_HOME") {
        if !x.is_empty() {
            return Ok(PathBuf::from(x).join("rustack"));
        }
    }
    let home = std::env::var("HOME").context("HOME is not set; pass --data-dir")?;
    Ok(PathBuf::from(home).join(".local/share/rustack"))
}

fn load_config(common: &Common, data_dir: &std::path::Path) -> anyhow::Result<RustackConfig> {
    let path = match &common.config {
        Some(p) => Some(p.clone()),
        None => Some(data_dir.join("rustack.toml")).filter(|p| p.exists()),
    };
    match path {
        Some(p) => Ok(RustackConfig::load(&p)?),
        None => Ok(RustackConfig::default()),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    rustack_runtime::init_tracing("info,sqlx=warn");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rustack: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rustack: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Up {
            common,
            bind,
            identity_port,
            image_port,
            network_port,
            placement_port,
            compute_port,
            block_storage_port,
            key_manager_port,
            demo_image,
        } => {
            let started = Instant::now();
            let dir = data_dir(&common)?;
            let mut config = load_config(&common, &dir)?;
            if demo_image.is_some() {
                config.bootstrap.demo_image = demo_image;
            }
            let running = cloud::start(CloudOptions {
                data_dir: dir.clone(),
                bind,
                identity_port,
                image_port,
                network_port,
                placement_port,
                compute_port,
                block_storage_port,
                key_manager_port,
                config,
            })
            .await?;
            println!("rustack is up in {} ms", started.elapsed().as_millis());
            println!("  identity   {}/v3", running.identity_url);
            println!("  image      {}/v2", running.image_url);
            println!("  network    {}/v2.0", running.network_url);
            println!(
                "  data plane {}",
                if running.data_plane {
                    "on (network agent in this process)"
                } else {
                    "off (API only)"
                }
            );
            println!("  placement  {}", running.placement_url);
            println!("  compute    {}/v2.1", running.compute_url);
            println!("  volume     {}/v3", running.block_url);
            println!("  key manager {}/v1", running.key_manager_url);
            if let Some(id) = &running.public_network_id {
                println!("  public network {id}");
            }
            for (name, id) in &running.bootstrap_images {
                println!("  image {name} {id}");
            }
            if let Some(d) = &running.demo {
                println!(
                    "  demo network demo-net {} (demo-subnet {}, demo-router {}; ping and SSH allowed in the default security group)",
                    d.network_id,
                    rustack::bootstrap_demo::DEMO_CIDR,
                    d.router_id
                );
            }
            println!("  data dir   {}", dir.display());
            println!();
            println!("Use it with the openstack CLI:");
            println!("  source {}            # or:", running.openrc.display());
            println!(
                "  export OS_CLIENT_CONFIG_FILE={} OS_CLOUD=rustack-admin",
                running.clouds_yaml.display()
            );
            println!("  openstack token issue");
            if running.bootstrap_images.iter().any(|(n, _)| n == "cirros") {
                println!("  openstack keypair create --private-key mykey.pem mykey");
                println!("  openstack server create --image cirros --flavor m1.tiny --network demo-net --key-name mykey --wait vm1");
                println!("  openstack floating ip create public; openstack server add floating ip vm1 <address>");
                println!("  ssh -i mykey.pem cirros@<address>");
            }
            let signal = rustack_runtime::termination_signal().await;
            tracing::info!(signal, "shutting down");
            running.shutdown().await;
            Ok(())
        }
        Command::Serve {
            service,
            common,
            bind,
            port,
            identity_url,
        } => {
            let dir = data_dir(&common)?;
            let config = load_config(&common, &dir)?;
            let served = cloud::serve(cloud::ServeOptions {
                service,
                data_dir: dir,
                bind,
                port,
                identity_url,
                config,
            })
            .await?;
            println!("rustack {service:?} is up at {}", served.url);
            let signal = rustack_runtime::termination_signal().await;
            tracing::info!(signal, "shutting down");
            served.shutdown().await;
            Ok(())
        }
        Command::Agent {
            command:
                AgentCommand::Network {
                    common,
                    network_url,
                    identity_url,
                    compute_only,
                },
        } => {
            let dir = data_dir(&common)?;
            let mut config = load_config(&common, &dir)?;
            // An agent exists to run the data plane: "auto" means "on" here.
            if config.network.data_plane == rustack::config::DataPlaneMode::Auto {
                config.network.data_plane = rustack::config::DataPlaneMode::On;
            }
            if !rustack::dataplane::decide(&config.network)? {
                anyhow::bail!("[network] data_plane = \"off\": nothing for the agent to do");
            }
            cloud::prepare_data_dir(&dir)?;
            let passwords = rustack::files::ensure_passwords(&dir.join("passwords.yml"))?;
            let (trigger, shutdown) = rustack_runtime::shutdown_channel();
            let task = rustack::dataplane::start_agent_with(
                &config.network,
                &dir,
                &network_url,
                &identity_url,
                rustack::dataplane::neutron_password(&passwords)?,
                Some(rustack::dataplane::metadata_config(
                    &config.metadata,
                    &passwords,
                )?),
                !compute_only,
                None,
                shutdown,
            )?;
            println!("rustack network agent is running (Networking API {network_url})");
            let signal = rustack_runtime::termination_signal().await;
            tracing::info!(signal, "shutting down");
            trigger.trigger();
            let _ = task.await;
            Ok(())
        }
        Command::Agent {
            command: AgentCommand::Cleanup { common },
        } => {
            let dir = data_dir(&common)?;
            let config = load_config(&common, &dir)?;
            let (changes, errors) = rustack::dataplane::cleanup(&config.network, &dir)?;
            println!("data plane cleanup: {changes} change(s)");
            if !errors.is_empty() {
                for e in &errors {
                    eprintln!("  failed: {e}");
                }
                anyhow::bail!("{} cleanup step(s) failed", errors.len());
            }
            Ok(())
        }
        Command::Identity {
            command: IdentityCommand::FernetRotate { common },
        } => {
            let dir = data_dir(&common)?;
            let config = load_config(&common, &dir)?;
            let repo = rustack_identity_fernet::KeyRepository::new(cloud::key_repo(&config, &dir));
            let r = repo
                .rotate(config.identity.max_active_keys)
                .context("rotating fernet keys")?;
            println!("rotated fernet keys in {}: {:?}", repo.path().display(), r);
            Ok(())
        }
        Command::Identity {
            command: IdentityCommand::FernetSetup { common },
        } => {
            let dir = data_dir(&common)?;
            cloud::prepare_data_dir(&dir)?;
            let config = load_config(&common, &dir)?;
            let repo = rustack_identity_fernet::KeyRepository::new(cloud::key_repo(&config, &dir));
            let created = repo.setup().context("creating the fernet key repository")?;
            println!(
                "{} {}",
                if created {
                    "created"
                } else {
                    "already present:"
                },
                repo.path().display()
            );
            Ok(())
        }
    }
}
