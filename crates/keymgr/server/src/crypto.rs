//! Secrets at rest, as Barbican's `simple_crypto` plugin: a master key-encryption key
//! (a Fernet key file, mode 0600; more keys may follow on later lines for rotation,
//! the first encrypts), a per-project KEK (a fresh Fernet key, stored in the database
//! encrypted under the master KEK) and each payload encrypted with its project's KEK,
//! stored base64-encoded. Nothing here logs or formats key material or payloads.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rustack_identity_fernet::fernet::{FernetKey, MultiFernet};

/// Failures loading the master KEK.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The KEK file could not be read, created or protected.
    #[error("master KEK file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The KEK file holds no valid Fernet key.
    #[error("master KEK file {path} holds no valid Fernet key")]
    Invalid {
        /// The file.
        path: PathBuf,
    },
}

/// A payload could not be decrypted (wrong KEK or corrupted data).
#[derive(Debug, thiserror::Error)]
#[error("secret data could not be decrypted")]
pub struct DecryptError;

/// The master KEK ring.
pub struct Crypto {
    master: MultiFernet,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto(<redacted>)")
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Crypto {
    /// Loads the master KEK from `path`, creating it (a new Fernet key, mode 0600) when
    /// it does not exist; an existing file's mode is tightened to 0600.
    pub fn open(path: &Path) -> Result<Crypto, CryptoError> {
        let io = |source| CryptoError::Io {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            f.write_all(format!("{}\n", FernetKey::generate().to_base64()).as_bytes())
                .map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let text = std::fs::read_to_string(path).map_err(io)?;
        let keys: Vec<FernetKey> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| FernetKey::from_base64(l).ok())
            .collect();
        let master = MultiFernet::new(keys).map_err(|_| CryptoError::Invalid {
            path: path.to_owned(),
        })?;
        Ok(Crypto { master })
    }

    /// A new project KEK, wrapped by the master KEK (`kek_data.plugin_meta`).
    pub fn new_project_kek(&self) -> String {
        let kek = FernetKey::generate();
        self.master.encrypt(kek.to_base64().as_bytes(), now_secs())
    }

    fn project_kek(&self, plugin_meta: &str) -> Result<FernetKey, DecryptError> {
        let raw = self.master.decrypt(plugin_meta).map_err(|_| DecryptError)?;
        let text = std::str::from_utf8(&raw.plaintext).map_err(|_| DecryptError)?;
        FernetKey::from_base64(text).map_err(|_| DecryptError)
    }

    /// Encrypts `payload` under the project KEK `plugin_meta` wraps; the stored
    /// `cypher_text` (base64 of the Fernet token).
    pub fn encrypt(&self, plugin_meta: &str, payload: &[u8]) -> Result<String, DecryptError> {
        let kek = self.project_kek(plugin_meta)?;
        let token = kek.encrypt(payload, now_secs());
        Ok(base64::engine::general_purpose::STANDARD.encode(token.as_bytes()))
    }

    /// Decrypts a stored `cypher_text` with the project KEK `plugin_meta` wraps.
    pub fn decrypt(&self, plugin_meta: &str, cypher_text: &str) -> Result<Vec<u8>, DecryptError> {
        let kek = self.project_kek(plugin_meta)?;
        let token = base64::engine::general_purpose::STANDARD
            .decode(cypher_text)
            .map_err(|_| DecryptError)?;
        let token = std::str::from_utf8(&token).map_err(|_| DecryptError)?;
        Ok(kek.decrypt(token).map_err(|_| DecryptError)?.plaintext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kek_file_is_created_0600_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/kek");
        let c = Crypto::open(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let meta = c.new_project_kek();
        let ct = c.encrypt(&meta, b"top secret").expect("encrypt");
        assert!(!ct.contains("top secret"));
        // Reopening reads the same master key.
        let again = Crypto::open(&path).expect("reopen");
        assert_eq!(again.decrypt(&meta, &ct).expect("decrypt"), b"top secret");
        // Another master key cannot unwrap the project KEK.
        let other = Crypto::open(&dir.path().join("other")).expect("other");
        assert!(other.decrypt(&meta, &ct).is_err());
    }
}
