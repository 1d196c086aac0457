//! The block storage service's configuration (`[block]` in rustack.toml).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Block storage service settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BlockConfig {
    /// Port the Block Storage API listens on (upstream's 8776).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/block.db`.
    pub database_url: Option<String>,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<PathBuf>,
    /// The availability zone volumes are created in (`nova`, Cinder's
    /// `storage_availability_zone` default).
    pub availability_zone: String,
    /// The backend kind: `file` (one qcow2 per volume) or `simulated`.
    pub backend: String,
    /// Where the file backend keeps volumes; default `<data-dir>/volumes`.
    pub volumes_dir: Option<PathBuf>,
    /// Where the filesystem backup driver keeps backups; default `<data-dir>/backups`
    /// (next to `volumes_dir`), or a temporary directory when neither is set.
    pub backups_dir: Option<PathBuf>,
    /// The volume host's name (`os-vol-host-attr:host` is `<host>@<backend>#<pool>`);
    /// empty = the machine's hostname.
    pub host: String,
    /// Default quotas for every project (Cinder's `quota_*` options).
    pub quotas: QuotaDefaults,
    /// A volume `reserved` (an attachment without a connector) for longer than this
    /// many seconds with no live attachment is rolled back to `available` by the
    /// reconciler.
    pub reserved_timeout_secs: u64,
    /// A volume or snapshot in a transitional status (`creating`, `deleting`,
    /// `extending`...) longer than this many seconds is moved to a truthful state by the
    /// periodic reconciler (at start every transitional row is handled at once).
    pub stuck_timeout_secs: u64,
    /// How often the reconciler runs, in seconds.
    pub reconcile_interval_secs: u64,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            port: 8776,
            database_url: None,
            policy_file: None,
            availability_zone: "nova".into(),
            backend: "file".into(),
            volumes_dir: None,
            backups_dir: None,
            host: String::new(),
            quotas: QuotaDefaults::default(),
            reserved_timeout_secs: 3600,
            stuck_timeout_secs: 3600,
            reconcile_interval_secs: 60,
        }
    }
}

/// Default per-project quotas (`-1` = unlimited), Cinder's defaults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaDefaults {
    /// Volumes (`quota_volumes`, 10).
    pub volumes: i64,
    /// Snapshots (`quota_snapshots`, 10).
    pub snapshots: i64,
    /// GiB of volumes and snapshots (`quota_gigabytes`, 1000).
    pub gigabytes: i64,
    /// Backups (`quota_backups`, 10).
    pub backups: i64,
    /// GiB of backups (`quota_backup_gigabytes`, 1000).
    pub backup_gigabytes: i64,
    /// Groups (`quota_groups`, 10).
    pub groups: i64,
    /// Largest single volume in GiB (`per_volume_size_limit`, -1).
    pub per_volume_gigabytes: i64,
}

impl Default for QuotaDefaults {
    fn default() -> Self {
        QuotaDefaults {
            volumes: 10,
            snapshots: 10,
            gigabytes: 1000,
            backups: 10,
            backup_gigabytes: 1000,
            groups: 10,
            per_volume_gigabytes: -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: BlockConfig = serde_json::from_str("{}").expect("empty");
        assert_eq!(c, BlockConfig::default());
        assert_eq!(c.port, 8776);
        assert_eq!(c.availability_zone, "nova");
        assert!(serde_json::from_str::<BlockConfig>(r#"{"prot": 1}"#).is_err());
        let c: BlockConfig =
            serde_json::from_str(r#"{"quotas": {"volumes": 3}}"#).expect("partial quotas");
        assert_eq!(c.quotas.volumes, 3);
        assert_eq!(c.quotas.gigabytes, 1000);
    }
}
