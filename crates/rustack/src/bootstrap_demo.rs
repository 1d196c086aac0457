//! The demo resources `rustack up` creates on first start (`[bootstrap] demo`, on by
//! default), so that the first five minutes need nothing else: what DevStack and Kolla's
//! init-runonce set up for a first server.
//!
//! - a `demo-net` tenant network with `demo-subnet` (10.0.0.0/24, gateway 10.0.0.1, DNS
//!   8.8.8.8: init-runonce's values) and a `demo-router` whose gateway is on the `public`
//!   external network and which has an interface on `demo-subnet`;
//! - ingress ICMP and SSH (IPv4) in the admin project's `default` security group;
//! - the image `cirros`, when a file for it is given (`demo_image`; `scripts/up.sh` builds
//!   the test guest from Debian packages), registered by [`crate::bootstrap_images`];
//! - with the data plane and no uplink configured for the public network, a veth pair
//!   that makes the public network reachable from the host (see [`ensure_host_uplink`]).
//!
//! Everything belongs to the `admin` project, as init-runonce does, so the admin-openrc
//! user's `openstack server create --network demo-net` finds the network and its default
//! security group lets ping and SSH in. The resources are created through the network
//! service's application layer as an admin of that project (the same checks as the API),
//! like the public network bootstrap, and only once: a marker file in the data dir
//! records that the demo was set up, so a restart creates nothing again and whatever an
//! operator deleted stays deleted. A start interrupted half-way finishes the set on the
//! next start (each resource is looked up by name before it is created).
//!
//! Kolla's init-runonce run afterwards finds `cirros` in the image list and stops at its
//! "run once" check, so none of its names (demo-net, demo-router, demo-subnet, public1,
//! mykey, the flavors) can clash. For the same reason the demo needs its image: without
//! a `cirros` image to register (no `demo_image` file, no `[[bootstrap.images]]` entry
//! of that name) a first start creates none of it and says so in one log line, since
//! init-runonce would then go on to create a second `demo-net` and fail on the
//! ambiguous name. Once set up (the marker), later starts keep the public network
//! reachable from the host whether or not the image file is given again.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustack_api_common::AuthContext;
use rustack_hostops::net::{IpNet, LinkKind, LinkSpec, LinkUpdate, NetOps};
use rustack_network_api::PublicNetworkConfig;
use rustack_network_server::{Network, NeutronError};
use serde_json::{json, Map, Value};

/// Name of the demo tenant network.
pub const DEMO_NETWORK: &str = "demo-net";
/// Name of the demo subnet.
pub const DEMO_SUBNET: &str = "demo-subnet";
/// Name of the demo router.
pub const DEMO_ROUTER: &str = "demo-router";
/// The demo subnet's CIDR (init-runonce's `DEMO_NET_CIDR`).
pub const DEMO_CIDR: &str = "10.0.0.0/24";
/// The demo subnet's gateway (init-runonce's `DEMO_NET_GATEWAY`).
pub const DEMO_GATEWAY: &str = "10.0.0.1";
/// The demo subnet's DNS server (init-runonce's `DEMO_NET_DNS`).
pub const DEMO_DNS: &str = "8.8.8.8";
/// Name the demo image is registered under.
pub const DEMO_IMAGE: &str = "cirros";
/// The host end of the public network's uplink veth (holds the gateway address).
pub const UPLINK_HOST: &str = "rustack-pub";
/// The bridge end of the uplink veth (the public network's physical interface).
pub const UPLINK_BRIDGE: &str = "rustack-pub-br";
/// Marker file (in the data dir) written once the demo resources exist.
const MARKER: &str = "demo-bootstrap.json";

/// The demo resources' ids.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DemoResources {
    /// `demo-net`.
    pub network_id: String,
    /// `demo-subnet`.
    pub subnet_id: String,
    /// `demo-router`.
    pub router_id: String,
    /// The admin project's `default` security group.
    pub security_group_id: String,
}

/// Whether the demo runs on this start, and the `cirros` image to register with it.
/// Active when `[bootstrap] demo` is on and either a `cirros` image can be registered
/// (see [`demo_image`] and the module docs) or an earlier start set the demo up.
pub fn plan(
    section: &crate::bootstrap_images::BootstrapSection,
    data_dir: &Path,
) -> (bool, Option<crate::bootstrap_images::BootstrapImage>) {
    if !section.demo {
        return (false, None);
    }
    let image = demo_image(section.demo_image.as_ref(), &section.images);
    let configured = section.images.iter().any(|i| i.name == DEMO_IMAGE);
    let active = image.is_some() || configured || data_dir.join(MARKER).exists();
    if !active {
        tracing::warn!(
            "demo resources not created: no image to register as `cirros` (pass --demo-image FILE or set [bootstrap] demo_image; scripts/up.sh does); set [bootstrap] demo = false to silence this"
        );
    }
    (active, image)
}

/// The public network `rustack up` creates: `[network.public_network]` when configured,
/// else (with the demo on) devstack's default (`public`, 172.24.4.0/24).
pub fn public_network(
    configured: Option<&PublicNetworkConfig>,
    demo: bool,
) -> Option<PublicNetworkConfig> {
    match configured {
        Some(p) => Some(p.clone()),
        None if demo => Some(PublicNetworkConfig::default()),
        None => None,
    }
}

/// The admin context the demo resources are created as (owner: `project_id`).
fn admin(project_id: &str) -> AuthContext {
    AuthContext {
        user_id: "rustack-demo-bootstrap".into(),
        project_id: Some(project_id.to_owned()),
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        ..AuthContext::default()
    }
}

fn net_err(what: &str) -> impl FnOnce(NeutronError) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("demo bootstrap: {what}: {}", e.error)
}

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .context("the network service returned a resource without an id")
}

/// Creates the demo network, subnet, router and security-group rules in `project_id`
/// unless the data dir's marker says it was done; returns their ids (`None` when the
/// marker exists: a restart leaves everything as the operator left it).
pub async fn ensure(
    network: &Network,
    data_dir: &Path,
    project_id: &str,
    public_network_id: &str,
) -> anyhow::Result<Option<DemoResources>> {
    let marker = data_dir.join(MARKER);
    if marker.exists() {
        return Ok(None);
    }
    let ctx = admin(project_id);
    let mine = |v: &Value, name: &str| v["name"] == name && v["project_id"] == project_id;

    let network_id = match network
        .network_list(&ctx)
        .await
        .map_err(net_err("listing networks"))?
        .iter()
        .find(|n| mine(n, DEMO_NETWORK))
    {
        Some(n) => id_of(n)?,
        None => id_of(
            &network
                .network_create(&ctx, &body(json!({"name": DEMO_NETWORK})))
                .await
                .map_err(net_err("creating demo-net"))?,
        )?,
    };

    let subnet_id = match network
        .subnet_list(&ctx)
        .await
        .map_err(net_err("listing subnets"))?
        .iter()
        .find(|s| mine(s, DEMO_SUBNET) && s["network_id"] == network_id.as_str())
    {
        Some(s) => id_of(s)?,
        None => id_of(
            &network
                .subnet_create(
                    &ctx,
                    &body(json!({
                        "name": DEMO_SUBNET,
                        "network_id": network_id,
                        "ip_version": 4,
                        "cidr": DEMO_CIDR,
                        "gateway_ip": DEMO_GATEWAY,
                        "dns_nameservers": [DEMO_DNS],
                    })),
                )
                .await
                .map_err(net_err("creating demo-subnet"))?,
        )?,
    };

    let router_id = match network
        .router_list(&ctx)
        .await
        .map_err(net_err("listing routers"))?
        .iter()
        .find(|r| mine(r, DEMO_ROUTER))
    {
        Some(r) => id_of(r)?,
        None => id_of(
            &network
                .router_create(
                    &ctx,
                    &body(json!({
                        "name": DEMO_ROUTER,
                        "external_gateway_info": {"network_id": public_network_id},
                    })),
                )
                .await
                .map_err(net_err("creating demo-router"))?,
        )?,
    };
    let attached = network
        .port_list(&ctx)
        .await
        .map_err(net_err("listing ports"))?
        .iter()
        .any(|p| {
            p["device_id"] == router_id.as_str()
                && p["fixed_ips"]
                    .as_array()
                    .is_some_and(|ips| ips.iter().any(|ip| ip["subnet_id"] == subnet_id.as_str()))
        });
    if !attached {
        network
            .router_add_interface(&ctx, &router_id, &body(json!({"subnet_id": subnet_id})))
            .await
            .map_err(net_err("adding demo-subnet to demo-router"))?;
    }

    // Listing as the project makes its default group exist (as Neutron does).
    let group = network
        .security_group_list(&ctx)
        .await
        .map_err(net_err("listing security groups"))?
        .into_iter()
        .find(|g| mine(g, "default"))
        .context("demo bootstrap: the admin project has no default security group")?;
    let security_group_id = id_of(&group)?;
    for (protocol, port) in [("icmp", None), ("tcp", Some(22))] {
        let present = group["security_group_rules"]
            .as_array()
            .is_some_and(|rules| {
                rules
                    .iter()
                    .any(|r| allows_from_anywhere(r, protocol, port))
            });
        if present {
            continue;
        }
        let mut rule = json!({
            "security_group_id": security_group_id,
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": protocol,
        });
        if let Some(p) = port {
            rule["port_range_min"] = json!(p);
            rule["port_range_max"] = json!(p);
        }
        network
            .security_group_rule_create(&ctx, &body(rule))
            .await
            .map_err(net_err("adding a rule to the default security group"))?;
    }

    let demo = DemoResources {
        network_id,
        subnet_id,
        router_id,
        security_group_id,
    };
    let text = serde_json::to_string_pretty(&demo).context("serialising the demo marker")?;
    std::fs::write(&marker, text).with_context(|| format!("writing {}", marker.display()))?;
    tracing::info!(
        network.id = %demo.network_id,
        router.id = %demo.router_id,
        security_group.id = %demo.security_group_id,
        "demo resources created (demo-net, demo-subnet, demo-router, ping and SSH in the default security group)"
    );
    Ok(Some(demo))
}

/// Whether rule `r` lets IPv4 `protocol` (and `port`, for TCP) in from any address.
fn allows_from_anywhere(r: &Value, protocol: &str, port: Option<u16>) -> bool {
    let any_source = r["remote_group_id"].is_null()
        && (r["remote_ip_prefix"].is_null() || r["remote_ip_prefix"] == "0.0.0.0/0");
    let ports = match port {
        None => true,
        Some(p) => {
            let min = r["port_range_min"].as_u64();
            let max = r["port_range_max"].as_u64();
            match (min, max) {
                (None, None) => true,
                (Some(a), Some(b)) => a <= u64::from(p) && u64::from(p) <= b,
                _ => false,
            }
        }
    };
    r["direction"] == "ingress"
        && r["ethertype"] == "IPv4"
        && (r["protocol"] == protocol || r["protocol"].is_null())
        && any_source
        && ports
}

/// The address the host takes on the public network: the subnet's gateway
/// (`gateway_ip`, else the CIDR's first address), with the CIDR's prefix length.
pub fn host_gateway(public: &PublicNetworkConfig) -> anyhow::Result<IpNet> {
    let cidr: IpNet = public
        .cidr
        .parse()
        .map_err(|e: String| anyhow::anyhow!("[network.public_network] cidr: {e}"))?;
    let gateway: IpAddr = match &public.gateway_ip {
        Some(g) => g
            .parse()
            .with_context(|| format!("[network.public_network] gateway_ip {g:?}"))?,
        None => match cidr.network() {
            IpAddr::V4(v) => IpAddr::V4((u32::from(v).wrapping_add(1)).into()),
            IpAddr::V6(v) => IpAddr::V6((u128::from(v).wrapping_add(1)).into()),
        },
    };
    IpNet::new(gateway, cidr.prefix).context("[network.public_network]: bad prefix length")
}

/// Makes the public network reachable from this host, as DevStack's `br-ex` holding
/// 172.24.4.1 does: a veth pair whose host end ([`UPLINK_HOST`]) holds the public
/// subnet's gateway address and whose other end ([`UPLINK_BRIDGE`]) becomes the public
/// network's physical interface (the network agent enslaves it to the network's bridge).
/// Routers' gateway ports and floating IPs are then one hop from the host, so `ping` and
/// `ssh` to a floating IP work from it. Idempotent; the pair stays when rustack stops
/// (like `br-ex`). Returns the interface to map the public physical network to.
pub fn ensure_host_uplink(net: &dyn NetOps, gateway: IpNet) -> anyhow::Result<String> {
    let links = net
        .link_list(None)
        .map_err(|e| anyhow::anyhow!("listing host links: {e}"))?;
    if !links.iter().any(|l| l.name == UPLINK_HOST) {
        net.link_add(
            None,
            &LinkSpec {
                name: UPLINK_HOST.into(),
                kind: LinkKind::Veth {
                    peer_name: UPLINK_BRIDGE.into(),
                    peer_ns: None,
                },
                mtu: None,
                mac: None,
            },
        )
        .map_err(|e| anyhow::anyhow!("creating the public uplink {UPLINK_HOST}: {e}"))?;
    }
    for dev in [UPLINK_HOST, UPLINK_BRIDGE] {
        net.link_set(
            None,
            dev,
            &LinkUpdate {
                up: Some(true),
                ..LinkUpdate::default()
            },
        )
        .map_err(|e| anyhow::anyhow!("setting {dev} up: {e}"))?;
    }
    let addrs = net
        .addr_list(None, UPLINK_HOST)
        .map_err(|e| anyhow::anyhow!("listing addresses of {UPLINK_HOST}: {e}"))?;
    if !addrs.contains(&gateway) {
        net.addr_add(None, UPLINK_HOST, gateway)
            .map_err(|e| anyhow::anyhow!("adding {gateway} to {UPLINK_HOST}: {e}"))?;
    }
    tracing::info!(interface = UPLINK_HOST, address = %gateway, "public network reachable from this host");
    Ok(UPLINK_BRIDGE.to_string())
}

/// The `cirros` image `rustack up` registers with the demo on: `demo_image` unless an
/// image of that name is already configured; `None` when no file was given, or (with
/// one log line) when it does not exist.
pub fn demo_image(
    file: Option<&PathBuf>,
    configured: &[crate::bootstrap_images::BootstrapImage],
) -> Option<crate::bootstrap_images::BootstrapImage> {
    if configured.iter().any(|i| i.name == DEMO_IMAGE) {
        return None;
    }
    let file = file?;
    if !file.is_file() {
        tracing::warn!(file = %file.display(), "demo image file missing (scripts/build-test-image.sh builds it): no `cirros` image registered");
        return None;
    }
    Some(crate::bootstrap_images::BootstrapImage {
        name: DEMO_IMAGE.into(),
        file: file.clone(),
        disk_format: "qcow2".into(),
        container_format: "bare".into(),
        visibility: "public".into(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rustack_hostops::fake::FakeHost;

    #[test]
    fn host_gateway_defaults_to_first_address() {
        let p = PublicNetworkConfig::default();
        assert_eq!(host_gateway(&p).unwrap().to_string(), "172.24.4.1/24");
        let p = PublicNetworkConfig {
            cidr: "203.0.113.0/24".into(),
            gateway_ip: Some("203.0.113.254".into()),
            ..PublicNetworkConfig::default()
        };
        assert_eq!(host_gateway(&p).unwrap().to_string(), "203.0.113.254/24");
        let bad = PublicNetworkConfig {
            cidr: "nope".into(),
            ..PublicNetworkConfig::default()
        };
        assert!(host_gateway(&bad).is_err());
    }

    #[test]
    fn public_network_defaults_only_with_demo() {
        assert_eq!(public_network(None, false), None);
        assert_eq!(
            public_network(None, true),
            Some(PublicNetworkConfig::default())
        );
        let own = PublicNetworkConfig {
            cidr: "198.51.100.0/24".into(),
            ..PublicNetworkConfig::default()
        };
        assert_eq!(public_network(Some(&own), true), Some(own.clone()));
        assert_eq!(public_network(Some(&own), false), Some(own));
    }

    #[test]
    fn uplink_is_created_once() {
        let host = FakeHost::default();
        let gw = host_gateway(&PublicNetworkConfig::default()).unwrap();
        assert_eq!(ensure_host_uplink(&host, gw).unwrap(), UPLINK_BRIDGE);
        assert_eq!(ensure_host_uplink(&host, gw).unwrap(), UPLINK_BRIDGE);
        let links = host.link_list(None).unwrap();
        assert_eq!(links.iter().filter(|l| l.name == UPLINK_HOST).count(), 1);
        assert!(links.iter().any(|l| l.name == UPLINK_BRIDGE && l.up));
        assert_eq!(host.addr_list(None, UPLINK_HOST).unwrap(), vec![gw]);
    }

    #[test]
    fn rule_matching() {
        let icmp = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp",
            "remote_ip_prefix": null, "remote_group_id": null});
        assert!(allows_from_anywhere(&icmp, "icmp", None));
        assert!(!allows_from_anywhere(&icmp, "tcp", Some(22)));
        let ssh_range = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 1, "port_range_max": 1024, "remote_ip_prefix": "0.0.0.0/0",
            "remote_group_id": null});
        assert!(allows_from_anywhere(&ssh_range, "tcp", Some(22)));
        let from_group = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": null,
            "remote_ip_prefix": null, "remote_group_id": "g"});
        assert!(!allows_from_anywhere(&from_group, "icmp", None));
        let v6 = json!({"direction": "ingress", "ethertype": "IPv6", "protocol": "icmp",
            "remote_ip_prefix": null, "remote_group_id": null});
        assert!(!allows_from_anywhere(&v6, "icmp", None));
    }

    #[test]
    fn demo_image_needs_an_existing_file_and_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.qcow2");
        assert!(demo_image(Some(&f), &[]).is_none());
        std::fs::write(&f, b"x").unwrap();
        let img = demo_image(Some(&f), &[]).unwrap();
        assert_eq!(img.name, "cirros");
        assert_eq!(img.disk_format, "qcow2");
        assert!(demo_image(None, &[]).is_none());
        assert!(demo_image(Some(&f), &[img]).is_none());
    }
}
