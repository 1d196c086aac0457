//! [`MetadataConfig`]: what the metadata API and the metadata proxy need. The compute
//! service owns its `[compute]` metadata listen port (8775, nova's `metadata_listen_port`);
//! this type only says where the proxy forwards to and how both sides sign.

use std::time::Duration;

use serde::Deserialize;

/// Metadata settings shared by the API (compute side) and the proxy (network agent side).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Shared secret of the signed `X-Instance-ID-Signature` header (Neutron's
    /// `metadata_proxy_shared_secret`, Nova's `[neutron] metadata_proxy_shared_secret`).
    /// Never read from a config file: the binary fills it from `passwords.yml` key
    /// `metadata_secret` (Kolla's name).
    #[serde(skip)]
    pub shared_secret: String,
    /// Where the proxy forwards requests: the metadata API of the compute service
    /// (Neutron's `nova_metadata_host`/`nova_metadata_port`). Default
    /// `http://127.0.0.1:8775`.
    pub nova_metadata_url: String,
    /// Port the proxy listens on inside `qdhcp-` namespaces, on 169.254.169.254 (80).
    pub dhcp_port: u16,
    /// Port the proxy listens on inside `qrouter-` namespaces (9697); the router's NAT
    /// table redirects 169.254.169.254:80 arriving on `qr-*` to it.
    pub router_port: u16,
    /// Domain appended to the instance host name (Nova's `[api] dhcp_domain`, default
    /// `novalocal`; empty for none).
    pub dhcp_domain: String,
    /// Static vendor data served as `vendor_data.json` and under `static` in
    /// `vendor_data2.json` (Nova's `StaticJSON` provider); an empty object by default.
    pub vendordata_static: serde_json::Value,
    /// Timeout of one forwarded request, in seconds (10).
    pub proxy_timeout_secs: u64,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            shared_secret: String::new(),
            nova_metadata_url: "http://127.0.0.1:8775".into(),
            dhcp_port: 80,
            router_port: 9697,
            dhcp_domain: "novalocal".into(),
            vendordata_static: serde_json::json!({}),
            proxy_timeout_secs: 10,
        }
    }
}

impl MetadataConfig {
    /// The proxy's per-request timeout.
    pub fn proxy_timeout(&self) -> Duration {
        Duration::from_secs(self.proxy_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults_and_rejects_unknown_keys() {
        let c: MetadataConfig = toml_like(r#"{"nova_metadata_url": "http://10.0.0.1:8775"}"#);
        assert_eq!(c.nova_metadata_url, "http://10.0.0.1:8775");
        assert_eq!((c.dhcp_port, c.router_port), (80, 9697));
        assert_eq!(c.dhcp_domain, "novalocal");
        assert!(serde_json::from_str::<MetadataConfig>(r#"{"bogus": 1}"#).is_err());
        assert!(
            serde_json::from_str::<MetadataConfig>(r#"{"shared_secret": "x"}"#).is_err(),
            "the secret never comes from a config file"
        );
    }

    fn toml_like(s: &str) -> MetadataConfig {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}"))
    }
}
