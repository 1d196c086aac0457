//! The compute service's configuration (`[compute]` in rustack.toml).

use std::path::PathBuf;

use serde::Deserialize;

/// Compute service settings. Every field has a documented default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// Port the Compute API listens on (Nova's 8774).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/compute.db`.
    pub database_url: Option<String>,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<PathBuf>,
    /// The hypervisor driver: `qemu`, `simulated`, or `auto` (qemu when
    /// `qemu-system-x86_64` exists and the process runs as root, else simulated).
    pub driver: String,
    /// Where instance disks, sockets and console logs live; default `<data-dir>/compute`.
    pub state_dir: Option<PathBuf>,
    /// This compute host's name (nova's `host`); default the machine's hostname.
    pub host: Option<String>,
    /// The availability zone of hosts not in an aggregate with one
    /// (nova's `default_availability_zone`, `nova`).
    pub default_availability_zone: String,
    /// vCPU overcommit reported to Placement (nova's `initial_cpu_allocation_ratio`, 4.0).
    pub cpu_allocation_ratio: f64,
    /// Memory overcommit (nova's `initial_ram_allocation_ratio`, 1.0).
    pub ram_allocation_ratio: f64,
    /// Disk overcommit (nova's `initial_disk_allocation_ratio`, 1.0).
    pub disk_allocation_ratio: f64,
    /// Memory kept for the host (nova's `reserved_host_memory_mb`, 512).
    pub reserved_host_memory_mb: u64,
    /// Disk kept for the host in MB (nova's `reserved_host_disk_mb`, 0).
    pub reserved_host_disk_mb: u64,
    /// vCPUs kept for the host (nova's `reserved_host_cpus`, 0).
    pub reserved_host_cpus: u64,
    /// Seconds between resource reports to Placement (nova's
    /// `update_resources_interval`, 60).
    pub update_resources_interval: u64,
    /// Default quota limits (nova's `[quota]` section).
    pub quota: QuotaDefaults,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            port: 8774,
            database_url: None,
            policy_file: None,
            driver: "auto".into(),
            state_dir: None,
            host: None,
            default_availability_zone: "nova".into(),
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_host_memory_mb: 512,
            reserved_host_disk_mb: 0,
            reserved_host_cpus: 0,
            update_resources_interval: 60,
            quota: QuotaDefaults::default(),
        }
    }
}

/// Nova's `[quota]` defaults (-1 = unlimited).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaDefaults {
    /// Servers per project (10).
    pub instances: i64,
    /// vCPUs per project (20).
    pub cores: i64,
    /// Memory MB per project (51200).
    pub ram: i64,
    /// Metadata items per server (128).
    pub metadata_items: i64,
    /// Injected files per server (5).
    pub injected_files: i64,
    /// Bytes per injected file (10240).
    pub injected_file_content_bytes: i64,
    /// Path length of an injected file (255).
    pub injected_file_path_length: i64,
    /// Key pairs per user (100).
    pub key_pairs: i64,
    /// Server groups per project (10).
    pub server_groups: i64,
    /// Servers per server group (10).
    pub server_group_members: i64,
}

impl Default for QuotaDefaults {
    fn default() -> Self {
        QuotaDefaults {
            instances: 10,
            cores: 20,
            ram: 51200,
            metadata_items: 128,
            injected_files: 5,
            injected_file_content_bytes: 10240,
            injected_file_path_length: 255,
            key_pairs: 100,
            server_groups: 10,
            server_group_members: 10,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_nova() {
        let c = ComputeConfig::default();
        assert_eq!(c.port, 8774);
        assert_eq!(c.driver, "auto");
        assert_eq!(c.cpu_allocation_ratio, 4.0);
        assert_eq!(c.quota.instances, 10);
        assert_eq!(c.quota.key_pairs, 100);
    }
}
