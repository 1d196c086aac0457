//! Fernet symmetric encryption, as specified at <https://github.com/fernet/spec>
//! and implemented by Python's `cryptography.fernet` (which Keystone uses).
//!
//! A token is the URL-safe base64 encoding of
//! `0x80 || timestamp (u64 BE) || IV (16) || AES-128-CBC/PKCS7 ciphertext || HMAC-SHA256 (32)`,
//! the HMAC covering everything before it. A key is 32 bytes in URL-safe
//! base64: the first 16 bytes sign, the last 16 encrypt.
//!
//! Design constraints:
//! - Decryption performs no TTL or clock-skew check, like Keystone's call to
//!   `MultiFernet.decrypt(token)` without a `ttl`: Keystone decides expiry from
//!   the payload's `expires_at`, not from the Fernet timestamp.
//! - Every failure to authenticate or decrypt is the single opaque
//!   [`FernetError::InvalidToken`], so callers cannot become a padding or
//!   MAC oracle.
//! - Key material never appears in `Debug` output or logs.

use aes::Aes128;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The Fernet format version byte.
pub const VERSION: u8 = 0x80;

const TIMESTAMP_LEN: usize = 8;
const IV_LEN: usize = 16;
const HMAC_LEN: usize = 32;
const BLOCK_LEN: usize = 16;
/// Version byte + timestamp + IV: the header before the ciphertext.
const HEADER_LEN: usize = 1 + TIMESTAMP_LEN + IV_LEN;

type HmacSha256 = Hmac<Sha256>;

/// URL-safe base64 that accepts input with or without `=` padding.
///
/// Tokens travel unpadded (Keystone strips the `=`), keys are stored padded.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Errors from Fernet keys and tokens.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FernetError {
    /// The key is not 32 bytes of URL-safe base64.
    #[error("Fernet key must be 32 url-safe base64-encoded bytes")]
    InvalidKey,
    /// No key could authenticate and decrypt the token (bad encoding, wrong
    /// version byte, HMAC mismatch, bad padding, or a key it was not made with).
    #[error("could not recognize Fernet token")]
    InvalidToken,
    /// A [`MultiFernet`] needs at least one key.
    #[error("no Fernet keys given")]
    NoKeys,
}

/// The authenticated contents of a Fernet token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The decrypted message.
    pub plaintext: Vec<u8>,
    /// The token's creation time in seconds since the Unix epoch (Keystone's
    /// `issued_at`).
    pub timestamp: u64,
}

/// One Fernet key: a 16-byte HMAC-SHA256 signing key and a 16-byte AES-128
/// encryption key.
#[derive(Clone, PartialEq, Eq)]
pub struct FernetKey {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl std::fmt::Debug for FernetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FernetKey(<redacted>)")
    }
}

impl FernetKey {
    /// A new random key from the OS CSPRNG (like `Fernet.generate_key()`).
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self::from_bytes(&raw)
    }

    /// A key from its 32 raw bytes (signing key first).
    pub fn from_bytes(raw: &[u8; 32]) -> Self {
        let mut signing = [0u8; 16];
        let mut encryption = [0u8; 16];
        signing.copy_from_slice(&raw[..16]);
        encryption.copy_from_slice(&raw[16..]);
        Self {
            signing,
            encryption,
        }
    }

    /// Parses the URL-safe base64 text of a key, as found in a key file.
    ///
    /// Surrounding whitespace (such as a trailing newline added by an editor
    /// or a configuration tool) is ignored; padding is optional.
    pub fn from_base64(text: &str) -> Result<Self, FernetError> {
        let raw = URL_SAFE_LENIENT
            .decode(text.trim())
            .map_err(|_| FernetError::InvalidKey)?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| FernetError::InvalidKey)?;
        Ok(Self::from_bytes(&raw))
    }

    /// The key as padded URL-safe base64 (44 characters), the format
    /// `keystone-manage fernet_setup` writes into key files.
    pub fn to_base64(&self) -> String {
        let mut raw = [0u8; 32];
        raw[..16].copy_from_slice(&self.signing);
        raw[16..].copy_from_slice(&self.encryption);
        URL_SAFE_LENIENT.encode(raw)
    }

    /// Encrypts `plaintext` into a padded Fernet token created at `timestamp`
    /// (seconds since the Unix epoch) with a random IV.
    pub fn encrypt(&self, plaintext: &[u8], timestamp: u64) -> String {
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        self.encrypt_with_iv(plaintext, timestamp, iv)
    }

    /// Encrypts with a caller-chosen IV.
    ///
    /// Only for reproducing a known token in tests: reusing an IV with the
    /// same key weakens the encryption. Use [`FernetKey::encrypt`] otherwise.
    pub fn encrypt_with_iv(&self, plaintext: &[u8], timestamp: u64, iv: [u8; IV_LEN]) -> String {
        let ciphertext = cbc::Encryptor::<Aes128>::new(&self.encryption.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let mut data = Vec::with_capacity(HEADER_LEN + ciphertext.len() + HMAC_LEN);
        data.push(VERSION);
        data.extend_from_slice(&timestamp.to_be_bytes());
        data.extend_from_slice(&iv);
        data.extend_from_slice(&ciphertext);
        let tag = self.mac(&data).finalize().into_bytes();
        data.extend_from_slice(&tag);
        URL_SAFE_LENIENT.encode(data)
    }

    /// Authenticates and decrypts a token (padded or not).
    pub fn decrypt(&self, token: &str) -> Result<Decrypted, FernetError> {
        let data = decode_token(token)?;
        self.decrypt_data(&data)
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail for 16 bytes.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.signing)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(data);
        mac
    }

    /// Decrypts already base64-decoded token bytes (checked by `decode_token`
    /// for the version byte and minimum length).
    fn decrypt_data(&self, data: &[u8]) -> Result<Decrypted, FernetError> {
        let (signed, tag) = data.split_at(data.len() - HMAC_LEN);
        self.mac(signed)
            .verify_slice(tag)
            .map_err(|_| FernetError::InvalidToken)?;
        let timestamp = read_timestamp(data);
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&data[1 + TIMESTAMP_LEN..HEADER_LEN]);
        let ciphertext = &signed[HEADER_LEN..];
        if ciphertext.is_empty() || ciphertext.len() % BLOCK_LEN != 0 {
            return Err(FernetError::InvalidToken);
        }
        let plaintext = cbc::Decryptor::<Aes128>::new(&self.encryption.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| FernetError::InvalidToken)?;
        Ok(Decrypted {
            plaintext,
            timestamp,
        })
    }
}

/// Several keys used together, like `cryptography.fernet.MultiFernet`: the
/// first key encrypts, every key is tried in order to decrypt.
#[derive(Debug, Clone)]
pub struct MultiFernet {
    keys: Vec<FernetKey>,
}

impl MultiFernet {
    /// Builds from keys ordered primary first (as [`crate::KeyRepository::load`]
    /// returns them). Fails if `keys` is empty.
    pub fn new(keys: Vec<FernetKey>) -> Result<Self, FernetError> {
        if keys.is_empty() {
            return Err(FernetError::NoKeys);
        }
        Ok(Self { keys })
    }

    /// The key used to encrypt.
    pub fn primary(&self) -> &FernetKey {
        // `new` guarantees at least one key.
        &self.keys[0]
    }

    /// All keys, primary first.
    pub fn keys(&self) -> &[FernetKey] {
        &self.keys
    }

    /// Encrypts with the primary key (padded token).
    pub fn encrypt(&self, plaintext: &[u8], timestamp: u64) -> String {
        self.primary().encrypt(plaintext, timestamp)
    }

    /// Decrypts with the first key that authenticates the token.
    pub fn decrypt(&self, token: &str) -> Result<Decrypted, FernetError> {
        let data = decode_token(token)?;
        self.keys
            .iter()
            .find_map(|key| key.decrypt_data(&data).ok())
            .ok_or(FernetError::InvalidToken)
    }
}

/// Re-adds the `=` padding Keystone strips from tokens (its
/// `TokenFormatter.restore_padding`): pads to a multiple of 4 characters.
pub fn restore_padding(token: &str) -> String {
    let missing = (4 - token.len() % 4) % 4;
    let mut padded = String::with_capacity(token.len() + missing);
    padded.push_str(token);
    padded.push_str(&"=".repeat(missing));
    padded
}

/// Reads a token's creation timestamp *without authenticating it* (Keystone's
/// `TokenFormatter.creation_time`). Use only on tokens already validated.
pub fn unverified_timestamp(token: &str) -> Result<u64, FernetError> {
    let data = decode_token(token)?;
    Ok(read_timestamp(&data))
}

fn read_timestamp(data: &[u8]) -> u64 {
    let mut ts = [0u8; TIMESTAMP_LEN];
    ts.copy_from_slice(&data[1..1 + TIMESTAMP_LEN]);
    u64::from_be_bytes(ts)
}

/// Base64-decodes a token (padding optional) and checks the version byte and
/// that it is long enough to hold a header and an HMAC.
fn decode_token(token: &str) -> Result<Vec<u8>, FernetError> {
    let data = URL_SAFE_LENIENT
        .decode(token)
        .map_err(|_| FernetError::InvalidToken)?;
    if data.len() < HEADER_LEN + HMAC_LEN || data[0] != VERSION {
        return Err(FernetError::InvalidToken);
    }
    Ok(data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // Test vector from the Fernet spec (generate.json / verify.json).
    const SPEC_SECRET: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
    const SPEC_TOKEN: &str = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";
    const SPEC_NOW: u64 = 499_162_800; // 1985-10-26T01:20:00-07:00

    fn spec_key() -> FernetKey {
        FernetKey::from_base64(SPEC_SECRET).unwrap()
    }

    #[test]
    fn spec_generate_vector() {
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let token = spec_key().encrypt_with_iv(b"hello", SPEC_NOW, iv);
        assert_eq!(token, SPEC_TOKEN);
    }

    #[test]
    fn spec_verify_vector_padded_and_unpadded() {
        let key = spec_key();
        for t in [SPEC_TOKEN, SPEC_TOKEN.trim_end_matches('=')] {
            let d = key.decrypt(t).unwrap();
            assert_eq!(d.plaintext, b"hello");
            assert_eq!(d.timestamp, SPEC_NOW);
        }
        assert_eq!(unverified_timestamp(SPEC_TOKEN).unwrap(), SPEC_NOW);
    }

    #[test]
    fn spec_invalid_vectors() {
        let key = spec_key();
        let mut bytes = URL_SAFE_LENIENT.decode(SPEC_TOKEN).unwrap();
        // wrong version byte
        let mut v = bytes.clone();
        v[0] = 0x81;
        assert_eq!(
            key.decrypt(&URL_SAFE_LENIENT.encode(&v)),
            Err(FernetError::InvalidToken)
        );
        // flipped ciphertext bit -> HMAC mismatch
        bytes[30] ^= 1;
        assert_eq!(
            key.decrypt(&URL_SAFE_LENIENT.encode(&bytes)),
            Err(FernetError::InvalidToken)
        );
        // garbage and too-short
        assert_eq!(key.decrypt("%%%"), Err(FernetError::InvalidToken));
        assert_eq!(key.decrypt("gAAAAAAdwJ6w"), Err(FernetError::InvalidToken));
        assert_eq!(key.decrypt(""), Err(FernetError::InvalidToken));
    }

    #[test]
    fn roundtrip_and_wrong_key() {
        let a = FernetKey::generate();
        let b = FernetKey::generate();
        let token = a.encrypt(b"payload bytes of some length..", 42);
        assert_eq!(
            a.decrypt(&token).unwrap().plaintext,
            b"payload bytes of some length.."
        );
        assert_eq!(b.decrypt(&token), Err(FernetError::InvalidToken));
    }

    #[test]
    fn multifernet_tries_every_key_and_encrypts_with_primary() {
        let primary = FernetKey::generate();
        let secondary = FernetKey::generate();
        let staged = FernetKey::generate();
        let multi =
            MultiFernet::new(vec![primary.clone(), secondary.clone(), staged.clone()]).unwrap();
        for key in [&primary, &secondary, &staged] {
            let t = key.encrypt(b"x", 1);
            assert_eq!(multi.decrypt(&t).unwrap().plaintext, b"x");
        }
        let t = multi.encrypt(b"y", 2);
        assert!(primary.decrypt(&t).is_ok());
        assert!(secondary.decrypt(&t).is_err());
        assert_eq!(MultiFernet::new(vec![]).unwrap_err(), FernetError::NoKeys);
    }

    #[test]
    fn key_text_format() {
        let k = FernetKey::generate();
        let text = k.to_base64();
        assert_eq!(text.len(), 44);
        assert!(text.ends_with('='));
        assert_eq!(FernetKey::from_base64(&text).unwrap(), k);
        assert_eq!(FernetKey::from_base64(&format!("{text}\n")).unwrap(), k);
        assert_eq!(
            FernetKey::from_base64("c2hvcnQ="),
            Err(FernetError::InvalidKey)
        );
        assert_eq!(format!("{k:?}"), "FernetKey(<redacted>)");
    }

    #[test]
    fn padding_restoration() {
        assert_eq!(restore_padding("abcd"), "abcd");
        assert_eq!(restore_padding("abcde"), "abcde===");
        assert_eq!(restore_padding("abcdef"), "abcdef==");
        assert_eq!(restore_padding("abcdefg"), "abcdefg=");
        let t = spec_key().encrypt(b"hello world", 7);
        let stripped = t.trim_end_matches('=');
        assert_eq!(restore_padding(stripped), t);
    }
}
