//! The identity service's configuration (`[identity]` in rustack.toml).

use std::path::PathBuf;

use serde::Deserialize;

/// Keystone's default `[auth] methods`, in the order that defines the token payload's
/// method bitmask (1, 2, 4, …).
pub const DEFAULT_AUTH_METHODS: &[&str] = rustack_identity_fernet::KEYSTONE_DEFAULT_AUTH_METHODS;

/// Identity service settings. Every field has a documented default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Port the Identity API listens on (Keystone's 5000).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/identity.db`.
    pub database_url: Option<String>,
    /// Token lifetime in seconds (Keystone's `[token] expiration`, 86400).
    pub token_expiration: u64,
    /// bcrypt cost for new password hashes (Keystone's `[identity] password_hash_rounds`, 12).
    pub bcrypt_cost: u32,
    /// Fernet key repository; default `<data-dir>/fernet-keys`.
    pub fernet_key_repository: Option<PathBuf>,
    /// Keys kept by `rustack identity fernet-rotate` (Keystone's `max_active_keys`, 3).
    pub max_active_keys: usize,
    /// Enabled auth methods, in Keystone's bitmask order.
    pub auth_methods: Vec<String>,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<PathBuf>,
    /// Seconds a validated token stays in the in-process validation cache (any identity
    /// write invalidates the whole cache at once).
    pub token_cache_seconds: u64,
    /// Failed password authentications in a row that lock a user out (Keystone's
    /// `[security_compliance] lockout_failure_attempts`; unset = never).
    pub lockout_failure_attempts: Option<u32>,
    /// Seconds a lockout lasts (Keystone's `[security_compliance] lockout_duration`, 1800).
    pub lockout_duration: u64,
    /// How many of a user's last passwords a self-service change may not reuse
    /// (Keystone's `[security_compliance] unique_last_password_count`; 0 = off). An
    /// administrator setting a password is not held to it.
    pub unique_last_password_count: u32,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            port: 5000,
            database_url: None,
            token_expiration: 86400,
            bcrypt_cost: 12,
            fernet_key_repository: None,
            max_active_keys: 3,
            auth_methods: DEFAULT_AUTH_METHODS.iter().map(|s| s.to_string()).collect(),
            policy_file: None,
            token_cache_seconds: 300,
            lockout_failure_attempts: None,
            lockout_duration: 1800,
            unique_last_password_count: 0,
        }
    }
}
