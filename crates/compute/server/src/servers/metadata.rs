//! The metadata API's view of servers: [`InstanceSource`] over the instances table, the
//! key pair given at boot and the server's ports as the Networking API shows them
//! (`network_data.json`). The network agent's proxy forwards guests' requests to the
//! router built by [`Servers::metadata_router`], served on the compute metadata port.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use rustack_metadata::network_data::{network_data, PortInfo};
use rustack_metadata::{InstanceMetadata, InstanceSource, KeyPair, MetadataConfig, SourceError};
use serde_json::Value;

use super::store;
use super::Servers;

/// An [`InstanceSource`] over a [`Servers`].
pub struct ServerSource(pub Arc<Servers>);

impl Servers {
    /// The metadata API (`rustack_metadata::server::router`) over these servers.
    pub fn metadata_router(self: &Arc<Self>, cfg: &MetadataConfig) -> axum::Router {
        rustack_metadata::server::router(cfg, Arc::new(ServerSource(self.clone())))
    }
}

fn unavailable(e: impl std::fmt::Display) -> SourceError {
    SourceError::Unavailable(e.to_string())
}

#[async_trait]
impl InstanceSource for ServerSource {
    async fn instance(&self, instance_id: &str) -> Result<Option<InstanceMetadata>, SourceError> {
        let s = &self.0;
        let (inst, meta) = {
            let mut c = s.compute.conn().await.map_err(unavailable)?;
            let Some(i) = store::get_instance(&mut c, instance_id, false)
                .await
                .map_err(unavailable)?
            else {
                return Ok(None);
            };
            let meta = store::get_metadata(&mut c, instance_id)
                .await
                .map_err(unavailable)?;
            (i, meta)
        };
        let token = s.service_token().await.map_err(unavailable)?;
        let mut ports = Vec::new();
        for nic in &inst.nics {
            let Some(port) = s
                .network
                .get_raw(&token, &format!("ports/{}", nic.port_id))
                .await
                .map_err(unavailable)?
            else {
                continue;
            };
            let port = port["port"].clone();
            let network = s
                .network
                .get_raw(&token, &format!("networks/{}", nic.network_id))
                .await
                .map_err(unavailable)?
                .map(|n| n["network"].clone())
                .unwrap_or(Value::Null);
            let mut subnets = Vec::new();
            for f in port["fixed_ips"].as_array().into_iter().flatten() {
                if let Some(sid) = f["subnet_id"].as_str() {
                    if let Some(sub) = s
                        .network
                        .get_raw(&token, &format!("subnets/{sid}"))
                        .await
                        .map_err(unavailable)?
                    {
                        subnets.push(sub["subnet"].clone());
                    }
                }
            }
            ports.push(PortInfo::from_neutron(&port, &network, &subnets));
        }
        let user_data = inst.user_data.as_deref().and_then(|u| {
            let cleaned: String = u.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .ok()
        });
        let short = |id: i64| format!("{id:08x}");
        Ok(Some(InstanceMetadata {
            uuid: inst.uuid.clone(),
            name: inst.name.clone(),
            hostname: inst.hostname.clone(),
            project_id: inst.project_id.clone(),
            availability_zone: (!inst.availability_zone.is_empty())
                .then(|| inst.availability_zone.clone()),
            launch_index: inst.launch_index,
            reservation_id: inst.reservation_id.clone(),
            ec2_instance_id: format!("i-{}", short(inst.internal_id)),
            ami_id: format!("ami-{}", short(inst.internal_id)),
            kernel_id: None,
            ramdisk_id: None,
            flavor_name: inst.flavor.name.clone(),
            keypair: match (&inst.key_name, &inst.key_data) {
                (Some(n), Some(k)) => Some(KeyPair {
                    name: n.clone(),
                    key_type: if k.starts_with("-----BEGIN") {
                        "x509"
                    } else {
                        "ssh"
                    }
                    .into(),
                    public_key: k.clone(),
                }),
                _ => None,
            },
            user_data,
            meta,
            security_groups: inst.security_groups.clone(),
            fixed_ips: inst
                .nics
                .iter()
                .flat_map(|n| n.ips.iter())
                .filter_map(|ip| ip.parse().ok())
                .collect(),
            floating_ips: vec![],
            block_device_mapping: [
                ("ami".to_string(), "vda".to_string()),
                ("root".to_string(), "/dev/vda".to_string()),
            ]
            .into_iter()
            .collect(),
            network_data: (!ports.is_empty()).then(|| network_data(&ports)),
            devices: vec![],
            dedicated_cpus: vec![],
            password: inst.password.clone(),
        }))
    }

    async fn set_password(&self, instance_id: &str, password: &str) -> Result<(), SourceError> {
        self.0
            .store_password(instance_id, password)
            .await
            .map_err(unavailable)
    }
}
