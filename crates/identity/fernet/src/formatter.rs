//! Keystone's `TokenFormatter`: payload codec + Fernet, with Keystone's token
//! text conventions (the `=` padding stripped on the way out, restored on the
//! way in) and `issued_at` taken from the Fernet timestamp.
//!
//! The formatter only packs and unpacks. Like Keystone's formatter it does not
//! check expiry or revocation: callers compare [`TokenPayload::expires_at`]
//! with their clock and consult revocation events.

use chrono::{DateTime, Utc};

use crate::fernet::{self, FernetError, MultiFernet};
use crate::payload::{AuthMethods, PayloadCodec, PayloadError, TokenPayload};
use crate::repository::{KeyRepository, KeyRepositoryError};

/// Keystone's default `max_token_size`; longer tokens are logged (not refused).
pub const MAX_TOKEN_SIZE: usize = 255;

/// Keystone's default `[identity] default_domain_id`.
pub const DEFAULT_DOMAIN_ID: &str = "default";

/// Errors creating or validating a token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The token did not authenticate with any key (or is not a Fernet token).
    #[error("could not recognize Fernet token")]
    Unrecognized(#[source] FernetError),
    /// The payload could not be packed or unpacked.
    #[error("invalid token payload")]
    Payload(#[source] PayloadError),
    /// The issue time cannot be represented.
    #[error("token timestamp out of range")]
    TimestampOutOfRange,
}

/// Creates and validates Keystone-compatible Fernet tokens.
#[derive(Debug, Clone)]
pub struct TokenFormatter {
    keys: MultiFernet,
    codec: PayloadCodec,
}

impl TokenFormatter {
    /// A formatter over `keys` (primary first) with `[auth] methods` =
    /// `methods` and the default domain id `"default"`.
    pub fn new(keys: MultiFernet, methods: AuthMethods) -> Self {
        Self {
            keys,
            codec: PayloadCodec::new(methods, DEFAULT_DOMAIN_ID),
        }
    }

    /// Loads the keys from a repository (Keystone re-reads them on every
    /// call; rebuild the formatter after a rotation or sync instead).
    pub fn from_repository(
        repo: &KeyRepository,
        methods: AuthMethods,
    ) -> Result<Self, KeyRepositoryError> {
        Ok(Self::new(repo.load_multi_fernet()?, methods))
    }

    /// Sets `[identity] default_domain_id`, the one non-UUID domain id a
    /// domain-scoped token can carry. Must match the Keystone nodes sharing
    /// the keys.
    pub fn with_default_domain_id(mut self, id: impl Into<String>) -> Self {
        self.codec = PayloadCodec::new(self.codec.methods().clone(), id);
        self
    }

    /// The payload codec in use.
    pub fn codec(&self) -> &PayloadCodec {
        &self.codec
    }

    /// Creates a token issued now (system clock).
    pub fn create(&self, payload: &TokenPayload) -> Result<String, TokenError> {
        self.create_at(payload, Utc::now())
    }

    /// Creates a token whose `issued_at` is `issued_at` (truncated to whole
    /// seconds, the Fernet timestamp's precision).
    pub fn create_at(
        &self,
        payload: &TokenPayload,
        issued_at: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let timestamp =
            u64::try_from(issued_at.timestamp()).map_err(|_| TokenError::TimestampOutOfRange)?;
        let plaintext = self.codec.encode(payload).map_err(TokenError::Payload)?;
        let mut token = self.keys.encrypt(&plaintext, timestamp);
        // Padding is not URL-safe; Keystone strips it.
        token.truncate(token.trim_end_matches('=').len());
        if token.len() > MAX_TOKEN_SIZE {
            tracing::info!(
                token.length = token.len(),
                max_token_size = MAX_TOKEN_SIZE,
                "Fernet token created with length exceeding max_token_size"
            );
        }
        Ok(token)
    }

    /// Authenticates and decodes a token (padding optional), returning the
    /// payload and `issued_at`.
    pub fn validate(&self, token: &str) -> Result<(TokenPayload, DateTime<Utc>), TokenError> {
        let decrypted = self
            .keys
            .decrypt(&fernet::restore_padding(token))
            .map_err(TokenError::Unrecognized)?;
        let payload = self
            .codec
            .decode(&decrypted.plaintext)
            .map_err(TokenError::Payload)?;
        Ok((payload, timestamp_to_datetime(decrypted.timestamp)?))
    }
}

/// The creation time of a token, *without authenticating it* (Keystone's
/// `TokenFormatter.creation_time`). Only for tokens already validated.
pub fn creation_time(token: &str) -> Result<DateTime<Utc>, TokenError> {
    let ts = fernet::unverified_timestamp(&fernet::restore_padding(token))
        .map_err(TokenError::Unrecognized)?;
    timestamp_to_datetime(ts)
}

fn timestamp_to_datetime(ts: u64) -> Result<DateTime<Utc>, TokenError> {
    i64::try_from(ts)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or(TokenError::TimestampOutOfRange)
}

/// Formats a time the way Keystone's API shows token times
/// (`keystone.common.utils.isotime(at, subsecond=True)`): the sub-second
/// part is dropped and printed as zeros, e.g. `2031-05-17T10:20:30.000000Z`.
pub fn keystone_isotime(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S.000000Z").to_string()
}

/// A new audit id as Keystone makes them (`random_urlsafe_str`): the URL-safe
/// base64 of a random UUID4's 16 bytes, padding stripped (22 characters).
pub fn random_audit_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fernet::FernetKey;
    use crate::payload::TokenScope;

    fn formatter() -> TokenFormatter {
        TokenFormatter::new(
            MultiFernet::new(vec![FernetKey::generate()]).unwrap(),
            AuthMethods::default(),
        )
    }

    fn payload(scope: TokenScope) -> TokenPayload {
        TokenPayload {
            user_id: "6c1a2b3d4e5f40718293a4b5c6d7e8f9".into(),
            methods: vec!["token".into(), "password".into()],
            scope,
            expires_at: DateTime::parse_from_rfc3339("2031-05-17T10:20:30.123456Z")
                .unwrap()
                .to_utc(),
            audit_ids: vec![random_audit_id(), random_audit_id()],
        }
    }

    #[test]
    fn roundtrip_every_scope() {
        let f = formatter();
        let issued = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        for scope in [
            TokenScope::Unscoped,
            TokenScope::Domain("0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d".into()),
            TokenScope::Domain("default".into()),
            TokenScope::Project("f0e1d2c3b4a5968778695a4b3c2d1e0f".into()),
            TokenScope::Project("admin-project".into()),
            TokenScope::System("all".into()),
            TokenScope::ApplicationCredential {
                project_id: "f0e1d2c3b4a5968778695a4b3c2d1e0f".into(),
                app_cred_id: "9f8e7d6c5b4a49382716a5b4c3d2e1f0".into(),
            },
            TokenScope::Trust {
                project_id: "service".into(),
                trust_id: "1234567890ab4cdef0123456789abcde".into(),
            },
        ] {
            let p = payload(scope);
            let token = f.create_at(&p, issued).unwrap();
            assert!(!token.contains('='), "padding stripped: {token}");
            assert!(token.starts_with("gAAAAA"));
            let (got, at) = f.validate(&token).unwrap();
            assert_eq!(got, p);
            assert_eq!(at, issued);
            assert_eq!(creation_time(&token).unwrap(), issued);
        }
    }

    #[test]
    fn non_uuid_user_and_default_domain_override() {
        let f = formatter().with_default_domain_id("my-default");
        let mut p = payload(TokenScope::Domain("my-default".into()));
        p.user_id = "ldap-user@example.org".into();
        let (got, _) = f.validate(&f.create(&p).unwrap()).unwrap();
        assert_eq!(got, p);
        let p = payload(TokenScope::Domain("default".into()));
        assert_eq!(
            f.create(&p).unwrap_err(),
            TokenError::Payload(PayloadError::UnpackableDomainId("default".into()))
        );
    }

    #[test]
    fn ids_normalize_like_keystone() {
        let f = formatter();
        let mut p = payload(TokenScope::Project(
            "F0E1D2C3-B4A5-9687-7869-5A4B3C2D1E0F".into(),
        ));
        p.user_id = "{6C1A2B3D-4E5F-4071-8293-A4B5C6D7E8F9}".into();
        let (got, _) = f.validate(&f.create(&p).unwrap()).unwrap();
        assert_eq!(got.user_id, "6c1a2b3d4e5f40718293a4b5c6d7e8f9");
        assert_eq!(
            got.scope,
            TokenScope::Project("f0e1d2c3b4a5968778695a4b3c2d1e0f".into())
        );
    }

    #[test]
    fn tampering_and_wrong_key_are_rejected() {
        let f = formatter();
        let token = f.create(&payload(TokenScope::Unscoped)).unwrap();
        let other = formatter();
        assert!(matches!(
            other.validate(&token),
            Err(TokenError::Unrecognized(_))
        ));
        // flip one character in the middle of the token
        let mut chars: Vec<char> = token.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(matches!(
            f.validate(&tampered),
            Err(TokenError::Unrecognized(_))
        ));
        // truncated
        assert!(f.validate(&token[..token.len() - 4]).is_err());
        assert!(f.validate("").is_err());
        assert!(f.validate("not a token").is_err());
    }

    #[test]
    fn padding_is_restored_before_decrypting() {
        let f = formatter();
        // Try several payload sizes so every padding length occurs.
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..8 {
            let mut p = payload(TokenScope::Unscoped);
            p.audit_ids = (0..n).map(|_| random_audit_id()).collect();
            let token = f.create(&p).unwrap();
            seen.insert(token.len() % 4);
            let padded = crate::fernet::restore_padding(&token);
            assert_eq!(padded.len() % 4, 0);
            assert_eq!(f.validate(&token).unwrap().0, p);
            assert_eq!(f.validate(&padded).unwrap().0, p);
        }
        assert!(seen.len() > 1, "padding lengths covered: {seen:?}");
    }

    #[test]
    fn audit_id_shape() {
        let a = random_audit_id();
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, random_audit_id());
    }

    #[test]
    fn isotime_format() {
        let at = DateTime::parse_from_rfc3339("2031-05-17T10:20:30.999999Z")
            .unwrap()
            .to_utc();
        assert_eq!(keystone_isotime(&at), "2031-05-17T10:20:30.000000Z");
    }
}
