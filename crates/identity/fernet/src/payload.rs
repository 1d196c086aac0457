//! Keystone token payloads: the typed view and the msgpack wire form that
//! Keystone's `keystone/token/token_formatters.py` packs inside a Fernet token.
//!
//! A payload is a msgpack array: the payload version, then per-version
//! fields. Conventions shared by the versions (all reproduced byte for byte):
//! - ids that parse as a UUID (by Python's `uuid.UUID(str)` rules) travel as
//!   `[true, <16 raw bytes>]`, other ids as `[false, <str>]`, and decode to
//!   32 lowercase hex digits (so a hyphenated UUID id comes back unhyphenated,
//!   as it does in Keystone);
//! - the domain id of a domain-scoped token and the trust id are bare: 16 raw
//!   bytes, or (domain only) the configured default domain id as a string;
//! - auth methods are an integer bitmask over `[auth] methods` ([`AuthMethods`]);
//! - `expires_at` is a float of seconds since the epoch, microsecond precision;
//! - audit ids are the raw bytes behind their unpadded URL-safe base64.
//!
//! Decoding is lenient where Keystone is: tokens packed by msgpack < 1.0
//! (Ussuri and older, where every byte string was a msgpack `str`) decode the
//! same as current ones, and trailing fields a newer release may append are
//! ignored.

use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rmpv::Value;

/// Keystone's default `[auth] methods`, in order (Keystone 30.0.0 / 2025.2+;
/// earlier releases lack `ec2credential`, which only adds the highest bit).
pub const KEYSTONE_DEFAULT_AUTH_METHODS: &[&str] = &[
    "external",
    "password",
    "token",
    "oauth1",
    "mapped",
    "application_credential",
    "ec2credential",
];

/// Payload version numbers used by Keystone (`_PAYLOAD_CLASSES`).
pub mod version {
    /// `UnscopedPayload`.
    pub const UNSCOPED: u64 = 0;
    /// `DomainScopedPayload`.
    pub const DOMAIN_SCOPED: u64 = 1;
    /// `ProjectScopedPayload`.
    pub const PROJECT_SCOPED: u64 = 2;
    /// `TrustScopedPayload`.
    pub const TRUST_SCOPED: u64 = 3;
    /// `FederatedUnscopedPayload`.
    pub const FEDERATED_UNSCOPED: u64 = 4;
    /// `FederatedProjectScopedPayload`.
    pub const FEDERATED_PROJECT_SCOPED: u64 = 5;
    /// `FederatedDomainScopedPayload`.
    pub const FEDERATED_DOMAIN_SCOPED: u64 = 6;
    /// `OauthScopedPayload` (OAuth 1.0a).
    pub const OAUTH_SCOPED: u64 = 7;
    /// `SystemScopedPayload`.
    pub const SYSTEM_SCOPED: u64 = 8;
    /// `ApplicationCredentialScopedPayload`.
    pub const APPLICATION_CREDENTIAL_SCOPED: u64 = 9;
    /// `Oauth2CredentialsScopedPayload` (OAuth 2.0 mTLS).
    pub const OAUTH2_CREDENTIALS_SCOPED: u64 = 10;
}

/// Errors packing or unpacking a payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    /// The payload bytes are not a payload Keystone could have produced.
    #[error("malformed token payload: {0}")]
    Malformed(String),
    /// A Keystone payload version this crate does not implement (federated,
    /// OAuth 1.0a, OAuth 2.0 mTLS).
    #[error("unsupported token payload version {0}")]
    UnsupportedVersion(u64),
    /// Not a payload version Keystone knows.
    #[error("not a recognized Fernet payload version: {0}")]
    UnknownVersion(u64),
    /// An auth method that is not in the configured `[auth] methods`.
    #[error("auth method {0:?} is not in the configured auth methods")]
    UnknownAuthMethod(String),
    /// A domain id that is neither a UUID nor the default domain id cannot be
    /// packed (Keystone fails the same way).
    #[error("domain id {0:?} is neither a UUID nor the default domain id")]
    UnpackableDomainId(String),
    /// Trust ids must be UUIDs.
    #[error("trust id {0:?} is not a UUID")]
    NonUuidTrustId(String),
    /// An audit id that is not URL-safe base64.
    #[error("audit id {0:?} is not url-safe base64")]
    InvalidAuditId(String),
    /// `expires_at` outside what a token can carry.
    #[error("expires_at is out of range")]
    ExpiryOutOfRange,
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// No scope (payload version 0).
    Unscoped,
    /// A domain id (version 1).
    Domain(String),
    /// A project id (version 2).
    Project(String),
    /// The system; Keystone only issues `"all"` (version 8).
    System(String),
    /// An application credential, with its project (version 9).
    ApplicationCredential {
        /// The project the credential is scoped to.
        project_id: String,
        /// The application credential id.
        app_cred_id: String,
    },
    /// A trust, with the project it delegates (version 3).
    Trust {
        /// The trust's project.
        project_id: String,
        /// The trust id (a UUID).
        trust_id: String,
    },
}

impl TokenScope {
    /// The payload version Keystone uses for this scope.
    pub fn payload_version(&self) -> u64 {
        match self {
            TokenScope::Unscoped => version::UNSCOPED,
            TokenScope::Domain(_) => version::DOMAIN_SCOPED,
            TokenScope::Project(_) => version::PROJECT_SCOPED,
            TokenScope::System(_) => version::SYSTEM_SCOPED,
            TokenScope::ApplicationCredential { .. } => version::APPLICATION_CREDENTIAL_SCOPED,
            TokenScope::Trust { .. } => version::TRUST_SCOPED,
        }
    }
}

/// The contents of a Keystone Fernet token (everything but `issued_at`,
/// which is the Fernet timestamp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPayload {
    /// The user id.
    pub user_id: String,
    /// Auth methods used. On decode they come back in Keystone's order:
    /// descending bit value, i.e. reverse `[auth] methods` order.
    pub methods: Vec<String>,
    /// The scope.
    pub scope: TokenScope,
    /// Expiry, microsecond precision. Keystone's API renders it with
    /// [`crate::keystone_isotime`], which drops the sub-second part.
    pub expires_at: DateTime<Utc>,
    /// Audit ids (22-character unpadded URL-safe base64), this token's first.
    pub audit_ids: Vec<String>,
}

/// The ordered `[auth] methods` list that gives each method its bit: the
/// n-th method (from 0) is `1 << n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMethods {
    methods: Vec<String>,
}

impl Default for AuthMethods {
    /// [`KEYSTONE_DEFAULT_AUTH_METHODS`].
    fn default() -> Self {
        Self {
            methods: KEYSTONE_DEFAULT_AUTH_METHODS
                .iter()
                .map(|m| m.to_string())
                .collect(),
        }
    }
}

impl AuthMethods {
    /// The most methods a 64-bit mask can hold.
    pub const MAX: usize = 63;

    /// A method list as configured in `[auth] methods` (order matters: it
    /// must match every Keystone that shares the key repository). Lists longer
    /// than [`AuthMethods::MAX`] are truncated.
    pub fn new<S: AsRef<str>>(methods: impl IntoIterator<Item = S>) -> Self {
        Self {
            methods: methods
                .into_iter()
                .map(|m| m.as_ref().to_string())
                .take(Self::MAX)
                .collect(),
        }
    }

    /// The configured methods, in order.
    pub fn as_slice(&self) -> &[String] {
        &self.methods
    }

    /// The bitmask for `methods` (Keystone's `convert_method_list_to_integer`).
    ///
    /// Unlike Keystone, which silently drops unknown methods and adds up
    /// repeated ones, an unknown method is an error and repeats count once.
    pub fn to_bitmask<S: AsRef<str>>(&self, methods: &[S]) -> Result<u64, PayloadError> {
        let mut mask = 0u64;
        for method in methods {
            let method = method.as_ref();
            let mut found = false;
            for (i, configured) in self.methods.iter().enumerate() {
                if configured == method {
                    mask |= 1 << i;
                    found = true;
                }
            }
            if !found {
                return Err(PayloadError::UnknownAuthMethod(method.to_string()));
            }
        }
        Ok(mask)
    }

    /// The methods in `mask` (Keystone's `convert_integer_to_method_list`,
    /// quirks included: methods come out highest bit first, and a bit above
    /// the configured methods makes the lower ones unreadable, as it does in
    /// Keystone).
    pub fn from_bitmask(&self, mask: u64) -> Vec<String> {
        let mut remaining = mask;
        let mut out = Vec::new();
        for (i, method) in self.methods.iter().enumerate().rev() {
            let bit = 1u64 << i;
            if remaining / bit == 1 {
                out.push(method.clone());
                remaining -= bit;
            }
        }
        out
    }
}

/// Parses `id` the way Python's `uuid.UUID(id)` does, returning its 16 bytes.
///
/// Python strips every `urn:` and `uuid:`, then leading/trailing braces, then
/// every hyphen, requires 32 characters and parses them with `int(s, 16)`,
/// which also accepts surrounding whitespace, a sign, a `0x` prefix and `_`
/// between digits.
///
/// TODO-compat: `int()` also accepts non-ASCII Unicode digits; such ids are
/// treated as non-UUIDs here.
pub fn python_uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let s = id.replace("urn:", "").replace("uuid:", "");
    let s = s.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if s.chars().count() != 32 {
        return None;
    }
    let value = python_hex_int(&s)?;
    Some(value.to_be_bytes())
}

/// Python's `int(s, 16)` over a 32-character string. (A `-` sign cannot
/// occur: `uuid.UUID` removes hyphens before calling `int`.)
fn python_hex_int(s: &str) -> Option<u128> {
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    let s = s.trim_matches(is_space);
    let s = s.strip_prefix('+').unwrap_or(s);
    let (s, prefixed) = match s.get(..2) {
        Some("0x") | Some("0X") => (&s[2..], true),
        _ => (s, false),
    };
    let mut value: u128 = 0;
    let mut digits = 0usize;
    let mut prev_underscore = prefixed; // "0x_1" is valid, "_1" is not
    let mut first = true;
    for c in s.chars() {
        if c == '_' {
            if (first && !prefixed) || (prev_underscore && !first) {
                return None;
            }
            prev_underscore = true;
            first = false;
            continue;
        }
        let d = c.to_digit(16)?;
        value = value.checked_mul(16)?.checked_add(u128::from(d))?;
        digits += 1;
        prev_underscore = false;
        first = false;
    }
    if digits == 0 || (prev_underscore && !first) {
        return None;
    }
    Some(value)
}

fn uuid_hex(bytes: &[u8]) -> Result<String, PayloadError> {
    if bytes.len() != 16 {
        return Err(PayloadError::Malformed(format!(
            "expected 16 bytes of UUID, got {}",
            bytes.len()
        )));
    }
    Ok(hex::encode(bytes))
}

/// `(is_stored_as_bytes, value)`: Keystone's `attempt_convert_uuid_hex_to_bytes`.
fn pack_id(id: &str) -> Value {
    match python_uuid_bytes(id) {
        Some(b) => Value::Array(vec![Value::Boolean(true), Value::Binary(b.to_vec())]),
        None => Value::Array(vec![Value::Boolean(false), Value::from(id)]),
    }
}

/// The bytes of a msgpack bin or str (old msgpack packed bytes as str).
fn raw_bytes<'a>(v: &'a Value, what: &str) -> Result<&'a [u8], PayloadError> {
    match v {
        Value::Binary(b) => Ok(b),
        Value::String(s) => Ok(s.as_bytes()),
        other => Err(PayloadError::Malformed(format!(
            "{what}: expected bytes, got {other}"
        ))),
    }
}

fn text(v: &Value, what: &str) -> Result<String, PayloadError> {
    let bytes = raw_bytes(v, what)?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| PayloadError::Malformed(format!("{what}: not UTF-8")))
}

/// Keystone's `_convert_or_decode` over a `(is_stored_as_bytes, value)` pair.
fn unpack_id(v: &Value, what: &str) -> Result<String, PayloadError> {
    let pair = match v {
        Value::Array(pair) if pair.len() == 2 => pair,
        other => {
            return Err(PayloadError::Malformed(format!(
                "{what}: expected a pair, got {other}"
            )))
        }
    };
    match &pair[0] {
        Value::Boolean(true) => uuid_hex(raw_bytes(&pair[1], what)?),
        Value::Boolean(false) => text(&pair[1], what),
        other => Err(PayloadError::Malformed(format!(
            "{what}: expected a bool, got {other}"
        ))),
    }
}

/// Seconds since the epoch as Keystone computes them: whole microseconds
/// divided by 10^6 (`timedelta.total_seconds()`).
fn pack_expiry(at: &DateTime<Utc>) -> Value {
    // Exact in f64 for any date within ±285 years of 1970 (< 2^53 µs), and
    // int/int true division in Python rounds the same way f64 division does.
    Value::F64(at.timestamp_micros() as f64 / 1e6)
}

/// Python's `datetime.fromtimestamp(t, utc)`: round the fraction to whole
/// microseconds, half to even.
fn unpack_expiry(v: &Value) -> Result<DateTime<Utc>, PayloadError> {
    let (secs, micros) = match v {
        Value::F64(f) => split_float_seconds(*f)?,
        Value::F32(f) => split_float_seconds(f64::from(*f))?,
        Value::Integer(i) => (i.as_i64().ok_or(PayloadError::ExpiryOutOfRange)?, 0),
        other => {
            return Err(PayloadError::Malformed(format!(
                "expires_at: expected a number, got {other}"
            )))
        }
    };
    DateTime::from_timestamp(secs, micros * 1000).ok_or(PayloadError::ExpiryOutOfRange)
}

fn split_float_seconds(t: f64) -> Result<(i64, u32), PayloadError> {
    if !t.is_finite() || t.abs() > 1e15 {
        return Err(PayloadError::ExpiryOutOfRange);
    }
    let mut int_part = t.trunc();
    let mut frac = ((t - int_part) * 1e6).round_ties_even();
    if frac >= 1e6 {
        frac -= 1e6;
        int_part += 1.0;
    } else if frac < 0.0 {
        frac += 1e6;
        int_part -= 1.0;
    }
    // Both casts are in range: |int_part| <= 1e15 and 0 <= frac < 1e6.
    Ok((int_part as i64, frac as u32))
}

/// Keystone's `random_urlsafe_str_to_bytes`: base64url-decode after restoring
/// padding; like Python it tolerates non-zero trailing bits.
fn pack_audit_id(id: &str) -> Result<Value, PayloadError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT
        .decode(id.trim_end_matches('='))
        .map(Value::Binary)
        .map_err(|_| PayloadError::InvalidAuditId(id.to_string()))
}

fn unpack_audit_ids(v: &Value) -> Result<Vec<String>, PayloadError> {
    match v {
        Value::Array(ids) => ids
            .iter()
            .map(|id| raw_bytes(id, "audit id").map(|b| URL_SAFE_NO_PAD.encode(b)))
            .collect(),
        other => Err(PayloadError::Malformed(format!(
            "audit_ids: expected a list, got {other}"
        ))),
    }
}

/// Packs and unpacks payloads for one Keystone configuration.
#[derive(Debug, Clone)]
pub struct PayloadCodec {
    methods: AuthMethods,
    default_domain_id: String,
}

impl PayloadCodec {
    /// A codec for `[auth] methods` = `methods` and `[identity]
    /// default_domain_id` = `default_domain_id` (Keystone's default is
    /// `"default"`).
    pub fn new(methods: AuthMethods, default_domain_id: impl Into<String>) -> Self {
        Self {
            methods,
            default_domain_id: default_domain_id.into(),
        }
    }

    /// The auth method list.
    pub fn methods(&self) -> &AuthMethods {
        &self.methods
    }

    /// The default domain id.
    pub fn default_domain_id(&self) -> &str {
        &self.default_domain_id
    }

    /// Packs a payload into msgpack bytes, identical to what Keystone's
    /// `msgpack.packb((version,) + payload_class.assemble(...))` produces.
    pub fn encode(&self, p: &TokenPayload) -> Result<Vec<u8>, PayloadError> {
        let user = pack_id(&p.user_id);
        let methods = Value::from(self.methods.to_bitmask(&p.methods)?);
        let expires = pack_expiry(&p.expires_at);
        let audit = Value::Array(
            p.audit_ids
                .iter()
                .map(|a| pack_audit_id(a))
                .collect::<Result<_, _>>()?,
        );
        let version = Value::from(p.scope.payload_version());
        let fields = match &p.scope {
            TokenScope::Unscoped => vec![version, user, methods, expires, audit],
            TokenScope::Domain(domain_id) => {
                let domain = match python_uuid_bytes(domain_id) {
                    Some(b) => Value::Binary(b.to_vec()),
                    None if *domain_id == self.default_domain_id => Value::from(domain_id.as_str()),
                    None => return Err(PayloadError::UnpackableDomainId(domain_id.clone())),
                };
                vec![version, user, methods, domain, expires, audit]
            }
            TokenScope::Project(project_id) => {
                vec![version, user, methods, pack_id(project_id), expires, audit]
            }
            TokenScope::System(system) => {
                vec![
                    version,
                    user,
                    methods,
                    Value::from(system.as_str()),
                    expires,
                    audit,
                ]
            }
            TokenScope::ApplicationCredential {
                project_id,
                app_cred_id,
            } => vec![
                version,
                user,
                methods,
                pack_id(project_id),
                expires,
                audit,
                pack_id(app_cred_id),
            ],
            TokenScope::Trust {
                project_id,
                trust_id,
            } => {
                let trust = python_uuid_bytes(trust_id)
                    .ok_or_else(|| PayloadError::NonUuidTrustId(trust_id.clone()))?;
                vec![
                    version,
                    user,
                    methods,
                    pack_id(project_id),
                    expires,
                    audit,
                    Value::Binary(trust.to_vec()),
                ]
            }
        };
        let mut out = Vec::with_capacity(96);
        rmpv::encode::write_value(&mut out, &Value::Array(fields))
            .map_err(|e| PayloadError::Malformed(format!("msgpack encoding failed: {e}")))?;
        Ok(out)
    }

    /// Unpacks msgpack payload bytes (Keystone's `validate_token` minus the
    /// Fernet layer).
    pub fn decode(&self, bytes: &[u8]) -> Result<TokenPayload, PayloadError> {
        let mut rd = bytes;
        let value = rmpv::decode::read_value(&mut rd)
            .map_err(|e| PayloadError::Malformed(format!("invalid msgpack: {e}")))?;
        if !rd.is_empty() {
            return Err(PayloadError::Malformed(
                "trailing bytes after payload".into(),
            ));
        }
        let items = match value {
            Value::Array(items) => items,
            other => {
                return Err(PayloadError::Malformed(format!(
                    "expected an array, got {other}"
                )))
            }
        };
        let version = items
            .first()
            .and_then(Value::as_u64)
            .ok_or_else(|| PayloadError::Malformed("missing payload version".into()))?;
        let f = &items[1..];
        // Newer releases may append fields; only a short payload is an error.
        let need = match version {
            version::UNSCOPED => 4,
            version::DOMAIN_SCOPED | version::PROJECT_SCOPED | version::SYSTEM_SCOPED => 5,
            version::TRUST_SCOPED | version::APPLICATION_CREDENTIAL_SCOPED => 6,
            version::FEDERATED_UNSCOPED
            | version::FEDERATED_PROJECT_SCOPED
            | version::FEDERATED_DOMAIN_SCOPED
            | version::OAUTH_SCOPED
            | version::OAUTH2_CREDENTIALS_SCOPED => {
                return Err(PayloadError::UnsupportedVersion(version))
            }
            other => return Err(PayloadError::UnknownVersion(other)),
        };
        if f.len() < need {
            return Err(PayloadError::Malformed(format!(
                "payload version {version} has {} fields, expected {need}",
                f.len()
            )));
        }
        let user_id = unpack_id(&f[0], "user_id")?;
        let mask = f[1].as_u64().ok_or_else(|| {
            PayloadError::Malformed(format!("methods: expected an integer, got {}", f[1]))
        })?;
        let methods = self.methods.from_bitmask(mask);
        let (scope, expiry, audit) = match version {
            version::UNSCOPED => (TokenScope::Unscoped, &f[2], &f[3]),
            version::DOMAIN_SCOPED => {
                (TokenScope::Domain(self.unpack_domain(&f[2])?), &f[3], &f[4])
            }
            version::PROJECT_SCOPED => (
                TokenScope::Project(unpack_id(&f[2], "project_id")?),
                &f[3],
                &f[4],
            ),
            version::SYSTEM_SCOPED => (TokenScope::System(text(&f[2], "system")?), &f[3], &f[4]),
            version::APPLICATION_CREDENTIAL_SCOPED => (
                TokenScope::ApplicationCredential {
                    project_id: unpack_id(&f[2], "project_id")?,
                    app_cred_id: unpack_id(&f[5], "app_cred_id")?,
                },
                &f[3],
                &f[4],
            ),
            // TRUST_SCOPED; the other versions returned above.
            _ => (
                TokenScope::Trust {
                    project_id: unpack_id(&f[2], "project_id")?,
                    trust_id: uuid_hex(raw_bytes(&f[5], "trust_id")?)?,
                },
                &f[3],
                &f[4],
            ),
        };
        Ok(TokenPayload {
            user_id,
            methods,
            scope,
            expires_at: unpack_expiry(expiry)?,
            audit_ids: unpack_audit_ids(audit)?,
        })
    }

    /// A domain-scoped payload's bare domain id: 16 UUID bytes, or the default
    /// domain id as a string.
    fn unpack_domain(&self, v: &Value) -> Result<String, PayloadError> {
        let bytes = raw_bytes(v, "domain_id")?;
        let is_default = bytes == self.default_domain_id.as_bytes();
        // A msgpack str equal to the default domain id is that id even if it
        // happens to be 16 bytes long; anything else 16 bytes long is a UUID.
        if bytes.len() == 16 && !(matches!(v, Value::String(_)) && is_default) {
            return uuid_hex(bytes);
        }
        if is_default {
            return Ok(self.default_domain_id.clone());
        }
        Err(PayloadError::Malformed(
            "domain_id is neither a UUID nor the default domain id".into(),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn python_uuid_rules() {
        let hex = "6c1a2b3d4e5f40718293a4b5c6d7e8f9";
        let want = hex::decode(hex).unwrap();
        for form in [
            hex.to_string(),
            hex.to_uppercase(),
            "6c1a2b3d-4e5f-4071-8293-a4b5c6d7e8f9".into(),
            "{6c1a2b3d-4e5f-4071-8293-a4b5c6d7e8f9}".into(),
            "urn:uuid:6c1a2b3d-4e5f-4071-8293-a4b5c6d7e8f9".into(),
        ] {
            assert_eq!(python_uuid_bytes(&form).unwrap().to_vec(), want, "{form}");
        }
        for not_uuid in [
            "default",
            "admin",
            "",
            "6c1a2b3d4e5f40718293a4b5c6d7e8f",
            "zz1a2b3d4e5f40718293a4b5c6d7e8f9",
        ] {
            assert_eq!(python_uuid_bytes(not_uuid), None, "{not_uuid}");
        }
        // int(s, 16) quirks over 32 characters
        assert_eq!(
            python_uuid_bytes("0x1a2b3d4e5f40718293a4b5c6d7e8f9"),
            Some(0x1a2b3d4e5f40718293a4b5c6d7e8f9u128.to_be_bytes())
        );
        assert_eq!(
            python_uuid_bytes("+02b3d4e5f40718293a4b5c6d7e8f9ab"),
            Some(0x2b3d4e5f40718293a4b5c6d7e8f9abu128.to_be_bytes())
        );
        assert_eq!(
            python_uuid_bytes("1_2b3d4e5f40718293a4b5c6d7e8f9ab"),
            Some(0x12b3d4e5f40718293a4b5c6d7e8f9abu128.to_be_bytes())
        );
        assert_eq!(python_uuid_bytes("1__b3d4e5f40718293a4b5c6d7e8f9ab"), None);
        assert_eq!(python_uuid_bytes("_12b3d4e5f40718293a4b5c6d7e8f9ab"), None);
        assert_eq!(python_uuid_bytes("12b3d4e5f40718293a4b5c6d7e8f9ab_"), None);
        assert_eq!(
            python_uuid_bytes(" 2b3d4e5f40718293a4b5c6d7e8f9ab "),
            Some(0x2b3d4e5f40718293a4b5c6d7e8f9abu128.to_be_bytes())
        );
        assert_eq!(python_uuid_bytes("-2b3d4e5f40718293a4b5c6d7e8f9abc"), None);
        // hyphens are removed before the length check, so no '-' sign survives
        assert_eq!(python_uuid_bytes("-0000000000000000000000000000000"), None);
    }

    #[test]
    fn method_bitmask_matches_keystone() {
        let m = AuthMethods::default();
        assert_eq!(m.to_bitmask(&["password"]).unwrap(), 2);
        assert_eq!(m.to_bitmask(&["password", "token"]).unwrap(), 6);
        assert_eq!(m.to_bitmask(&["token", "password", "token"]).unwrap(), 6);
        assert_eq!(m.to_bitmask::<&str>(&[]).unwrap(), 0);
        assert_eq!(m.to_bitmask(KEYSTONE_DEFAULT_AUTH_METHODS).unwrap(), 127);
        assert_eq!(
            m.to_bitmask(&["totp"]).unwrap_err(),
            PayloadError::UnknownAuthMethod("totp".into())
        );
        assert_eq!(m.from_bitmask(6), ["token", "password"]);
        assert_eq!(m.from_bitmask(0), Vec::<String>::new());
        assert_eq!(m.from_bitmask(32), ["application_credential"]);
        // Keystone quirk: an unknown high bit hides everything below it.
        assert_eq!(m.from_bitmask(128 + 2), Vec::<String>::new());
        // Pre-2025.2 list decodes the first six bits identically.
        let old = AuthMethods::new(&KEYSTONE_DEFAULT_AUTH_METHODS[..6]);
        assert_eq!(old.from_bitmask(34), ["application_credential", "password"]);
    }

    #[test]
    fn expiry_float_roundtrip_and_rounding() {
        let at = DateTime::parse_from_rfc3339("2031-05-17T10:20:30.123456Z")
            .unwrap()
            .to_utc();
        let v = pack_expiry(&at);
        assert_eq!(v, Value::F64(1_936_779_630.123456));
        assert_eq!(unpack_expiry(&v).unwrap(), at);
        // half-even rounding of the microsecond fraction, integers accepted
        assert_eq!(
            unpack_expiry(&Value::F64(1.5)).unwrap().timestamp_micros(),
            1_500_000
        );
        assert_eq!(
            unpack_expiry(&Value::F64(-0.25))
                .unwrap()
                .timestamp_micros(),
            -250_000
        );
        assert_eq!(unpack_expiry(&Value::from(7u64)).unwrap().timestamp(), 7);
        assert!(unpack_expiry(&Value::F64(f64::NAN)).is_err());
        assert!(unpack_expiry(&Value::Nil).is_err());
    }

    #[test]
    fn audit_ids() {
        let id = "AQIDBAUGBwgJCgsMDQ4PEA";
        let packed = pack_audit_id(id).unwrap();
        assert_eq!(packed, Value::Binary((1..=16).collect()));
        assert_eq!(unpack_audit_ids(&Value::Array(vec![packed])).unwrap(), [id]);
        assert!(pack_audit_id("not base64!").is_err());
    }

    fn codec() -> PayloadCodec {
        PayloadCodec::new(AuthMethods::default(), "default")
    }

    #[test]
    fn appended_fields_are_ignored_and_short_payloads_rejected() {
        let c = codec();
        let p = TokenPayload {
            user_id: "u".into(),
            methods: vec!["password".into()],
            scope: TokenScope::Project("p".into()),
            expires_at: DateTime::from_timestamp(2_000_000_000, 0).unwrap(),
            audit_ids: vec!["AQIDBAUGBwgJCgsMDQ4PEA".into()],
        };
        let bytes = c.encode(&p).unwrap();
        let Value::Array(mut items) = rmpv::decode::read_value(&mut &bytes[..]).unwrap() else {
            panic!("not an array")
        };
        items.push(Value::Array(vec![
            Value::Boolean(false),
            Value::from("thumbprint"),
        ]));
        let mut longer = Vec::new();
        rmpv::encode::write_value(&mut longer, &Value::Array(items.clone())).unwrap();
        assert_eq!(c.decode(&longer).unwrap(), p);
        items.truncate(4);
        let mut shorter = Vec::new();
        rmpv::encode::write_value(&mut shorter, &Value::Array(items)).unwrap();
        assert!(matches!(
            c.decode(&shorter).unwrap_err(),
            PayloadError::Malformed(_)
        ));
        let mut trailing = bytes.clone();
        trailing.push(0xc0);
        assert!(matches!(
            c.decode(&trailing).unwrap_err(),
            PayloadError::Malformed(_)
        ));
    }

    #[test]
    fn legacy_str_encoded_bytes_decode() {
        // msgpack < 1.0 packed bytes as str; the uuid bytes are not UTF-8.
        let uuid = hex::decode("6c1a2b3d4e5f40718293a4b5c6d7e8f9").unwrap();
        let raw_str = |b: &[u8]| {
            let mut out = vec![0xa0 | b.len() as u8];
            out.extend_from_slice(b);
            out
        };
        let mut bytes = vec![0x96, 0x01, 0x92, 0xc3];
        bytes.extend(raw_str(&uuid));
        bytes.push(0x02); // methods: password
        bytes.extend(raw_str(b"default"));
        bytes.extend([0xcb]);
        bytes.extend(2_000_000_000.5f64.to_be_bytes());
        bytes.push(0x91);
        bytes.extend(raw_str(&[0xc1; 16]));
        let p = codec().decode(&bytes).unwrap();
        assert_eq!(p.user_id, "6c1a2b3d4e5f40718293a4b5c6d7e8f9");
        assert_eq!(p.scope, TokenScope::Domain("default".into()));
        assert_eq!(p.methods, ["password"]);
        assert_eq!(p.expires_at.timestamp_micros(), 2_000_000_000_500_000);
        assert_eq!(p.audit_ids, ["wcHBwcHBwcHBwcHBwcHBwQ"]);
    }

    #[test]
    fn versions_and_lengths() {
        let c = codec();
        for v in [4u64, 5, 6, 7, 10] {
            let mut b = Vec::new();
            rmpv::encode::write_value(&mut b, &Value::Array(vec![Value::from(v)])).unwrap();
            assert_eq!(
                c.decode(&b).unwrap_err(),
                PayloadError::UnsupportedVersion(v)
            );
        }
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, &Value::Array(vec![Value::from(11u64)])).unwrap();
        assert_eq!(c.decode(&b).unwrap_err(), PayloadError::UnknownVersion(11));
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, &Value::Array(vec![Value::from(2u64), Value::Nil]))
            .unwrap();
        assert!(matches!(
            c.decode(&b).unwrap_err(),
            PayloadError::Malformed(_)
        ));
        assert!(matches!(
            c.decode(&[0xc1]).unwrap_err(),
            PayloadError::Malformed(_)
        ));
    }
}
