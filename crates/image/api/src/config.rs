//! The image service's configuration (`[image]` in rustack.toml). Names follow
//! glance-api.conf where an option exists there; every field has Glance's default.

use std::path::PathBuf;

use serde::Deserialize;

/// Image service settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImageConfig {
    /// Port the Image API listens on (Glance's 9292).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/image.db`.
    pub database_url: Option<String>,
    /// Filesystem store directory (Glance's `filesystem_store_datadir`); default
    /// `<data-dir>/images`. Staged (`glance-direct`) data lives in its `staging/`.
    pub filesystem_store_datadir: Option<PathBuf>,
    /// Accepted `disk_format` values (`[image_format] disk_formats`).
    pub disk_formats: Vec<String>,
    /// Accepted `container_format` values (`[image_format] container_formats`).
    pub container_formats: Vec<String>,
    /// Largest image accepted, in bytes (`image_size_cap`, 1 TiB).
    pub image_size_cap: u64,
    /// Images a project may own (keystone limit `image_count_total`); -1 = unlimited.
    pub image_count_total: i64,
    /// Total MiB of image data a project may store (`image_size_total`); -1 = unlimited.
    pub image_size_total: i64,
    /// Total MiB a project may have staged (`image_stage_total`); -1 = unlimited.
    pub image_stage_total: i64,
    /// Images a project may be uploading at once (`image_count_uploading`); -1 = unlimited.
    pub image_count_uploading: i64,
    /// Members per image (`image_member_quota`); -1 = unlimited.
    pub image_member_quota: i64,
    /// Additional properties per image (`image_property_quota`); -1 = unlimited.
    pub image_property_quota: i64,
    /// Tags per image (`image_tag_quota`); -1 = unlimited.
    pub image_tag_quota: i64,
    /// Page size when `limit` is not given (`limit_param_default`).
    pub limit_param_default: u64,
    /// Largest page size (`api_limit_max`).
    pub api_limit_max: u64,
    /// Import methods offered by `/v2/info/import` (`enabled_import_methods`):
    /// `glance-direct` and `web-download` are supported.
    pub enabled_import_methods: Vec<String>,
    /// Seconds `web-download` waits to connect and for response headers before
    /// answering 400 (the data itself then streams without a deadline).
    pub web_download_timeout: u64,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<PathBuf>,
    /// URL put in the versions document (Glance's `public_endpoint`); default: the
    /// `Host` the client used.
    pub public_endpoint: Option<String>,
}

impl Default for ImageConfig {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        ImageConfig {
            port: 9292,
            database_url: None,
            filesystem_store_datadir: None,
            disk_formats: strings(&[
                "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
            ]),
            container_formats: strings(&[
                "ami",
                "ari",
                "aki",
                "bare",
                "ovf",
                "ova",
                "docker",
                "compressed",
            ]),
            image_size_cap: 1_099_511_627_776,
            image_count_total: -1,
            image_size_total: -1,
            image_stage_total: -1,
            image_count_uploading: -1,
            image_member_quota: 128,
            image_property_quota: 128,
            image_tag_quota: 128,
            limit_param_default: 25,
            api_limit_max: 1000,
            enabled_import_methods: strings(&["glance-direct", "web-download"]),
            web_download_timeout: 10,
            policy_file: None,
            public_endpoint: None,
        }
    }
}
