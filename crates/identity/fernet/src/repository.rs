//! A Fernet key repository laid out exactly as `keystone-manage fernet_setup`
//! and `keystone-manage fernet_rotate` manage it, so a directory can be copied
//! between Keystone and rustack in either direction.
//!
//! Layout: one key per file, named by a non-negative integer, holding the key
//! as URL-safe base64 text. Key `0` is the *staged* key (the next primary,
//! already accepted for validation so rotated repositories can be synced to
//! other nodes safely); the highest number is the *primary* key (encrypts);
//! every other number is a *secondary* key (validates only). Files whose name
//! is not an integer (such as the `0.tmp` left by an interrupted rotation) and
//! empty files are ignored, as Keystone ignores them.
//!
//! Design constraints:
//! - Rotation follows Keystone's `FernetUtils.rotate_keys` step for step:
//!   write `0.tmp`, rename `0` to `max + 1`, rename `0.tmp` to `0`, then delete
//!   the lowest-numbered keys until `max_active_keys - 1` numbered keys are
//!   left besides the new staged key. Every intermediate state is a valid
//!   repository; renames are atomic.
//! - Keystone quirk kept on purpose: with `max_active_keys = 1` the purge also
//!   deletes the just-promoted primary, leaving only the staged key `0`.
//! - The directory is created `0700` and key files are written `0600`
//!   without touching the process umask (other threads may be creating files).
//! - Unix-only (modes, as Keystone).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::fernet::{FernetError, FernetKey, MultiFernet};

/// Keystone's default for `[fernet_tokens] max_active_keys`.
pub const DEFAULT_MAX_ACTIVE_KEYS: usize = 3;

/// The id of the staged key.
pub const STAGED_KEY_ID: u64 = 0;

const TMP_KEY_FILE: &str = "0.tmp";

/// Errors reading or changing a key repository.
#[derive(Debug, thiserror::Error)]
pub enum KeyRepositoryError {
    /// A filesystem operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// What was being done ("read key file", "rename", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key file does not hold a valid Fernet key.
    #[error("invalid Fernet key in {}", path.display())]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// Why it is invalid.
        #[source]
        source: FernetError,
    },
    /// Two file names denote the same key number (for example `1` and `01`).
    #[error("key number {id} is given by more than one file in {}", path.display())]
    DuplicateKeyId {
        /// The repository directory.
        path: PathBuf,
        /// The ambiguous key number.
        id: u64,
    },
    /// The repository holds no keys (run setup first).
    #[error("no Fernet keys found in {}; set up the key repository first", path.display())]
    NoKeys {
        /// The repository directory.
        path: PathBuf,
    },
    /// Rotation needs a staged key `0` to promote.
    #[error("no staged key 0 in {}; set up the key repository first", path.display())]
    NoStagedKey {
        /// The repository directory.
        path: PathBuf,
    },
    /// `max_active_keys` must be at least 1 (Keystone's option minimum).
    #[error("max_active_keys must be at least 1, got {0}")]
    InvalidMaxActiveKeys(usize),
}

/// What [`KeyRepository::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The number the staged key was promoted to (the new primary).
    pub new_primary: u64,
    /// Key numbers deleted as excess, lowest first.
    pub purged: Vec<u64>,
}

/// A Fernet key repository directory (Keystone's `[fernet_tokens]
/// key_repository`).
#[derive(Debug, Clone)]
pub struct KeyRepository {
    path: PathBuf,
}

impl KeyRepository {
    /// A repository at `path` (nothing is read until a method is called).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The repository directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Like `keystone-manage fernet_setup` with the default `max_active_keys`:
    /// see [`KeyRepository::setup_with_max_active_keys`].
    pub fn setup(&self) -> Result<bool, KeyRepositoryError> {
        self.setup_with_max_active_keys(DEFAULT_MAX_ACTIVE_KEYS)
    }

    /// Like `keystone-manage fernet_setup`: creates the directory (`0700`) if
    /// missing and, unless a staged key `0` already exists, writes one and
    /// rotates once, which leaves keys `0` (staged) and `1` (primary) in an
    /// empty repository. Returns whether anything was done; a second call is a
    /// no-op.
    pub fn setup_with_max_active_keys(
        &self,
        max_active_keys: usize,
    ) -> Result<bool, KeyRepositoryError> {
        if max_active_keys == 0 {
            return Err(KeyRepositoryError::InvalidMaxActiveKeys(max_active_keys));
        }
        self.create_directory()?;
        let staged = self.path.join("0");
        if staged.exists() {
            tracing::info!(
                key_repository = %self.path.display(),
                "key repository is already initialized"
            );
            return Ok(false);
        }
        self.write_tmp_key()?;
        self.rename(&self.path.join(TMP_KEY_FILE), &staged)?;
        self.rotate(max_active_keys)?;
        Ok(true)
    }

    /// Like `keystone-manage fernet_rotate`: promotes the staged key `0` to
    /// primary as `highest + 1`, writes a new staged key `0`, and deletes the
    /// lowest-numbered keys beyond `max_active_keys` (staged key included in
    /// the count).
    pub fn rotate(&self, max_active_keys: usize) -> Result<Rotation, KeyRepositoryError> {
        if max_active_keys == 0 {
            return Err(KeyRepositoryError::InvalidMaxActiveKeys(max_active_keys));
        }
        let mut files = self.key_files()?;
        tracing::info!(
            key_repository = %self.path.display(),
            key_count = files.len(),
            "starting Fernet key rotation"
        );
        // Keystone would crash half-way without a (non-empty) staged key; refuse
        // before changing anything instead.
        if !files.contains_key(&STAGED_KEY_ID) {
            return Err(KeyRepositoryError::NoStagedKey {
                path: self.path.clone(),
            });
        }
        let current_primary = files.keys().next_back().copied().unwrap_or(STAGED_KEY_ID);
        let new_primary = current_primary + 1;

        self.write_tmp_key()?;
        let promoted = self.path.join(new_primary.to_string());
        self.rename(&self.path.join("0"), &promoted)?;
        files.remove(&STAGED_KEY_ID);
        files.insert(new_primary, promoted);
        self.rename(&self.path.join(TMP_KEY_FILE), &self.path.join("0"))?;
        tracing::info!(
            key_repository = %self.path.display(),
            key.id = new_primary,
            "promoted staged key to primary"
        );

        // `files` now holds every numbered key but the new staged one.
        let mut purged = Vec::new();
        while files.len() > max_active_keys - 1 {
            let Some((id, path)) = files.pop_first() else {
                break;
            };
            fs::remove_file(&path).map_err(|source| KeyRepositoryError::Io {
                op: "remove excess key",
                path: path.clone(),
                source,
            })?;
            tracing::info!(key_repository = %self.path.display(), key.id = id, "purged excess key");
            purged.push(id);
        }
        self.sync_dir()?;
        Ok(Rotation {
            new_primary,
            purged,
        })
    }

    /// Loads every key, ordered as Keystone hands them to `MultiFernet`:
    /// highest number (primary) first, staged key `0` last.
    pub fn load(&self) -> Result<Vec<FernetKey>, KeyRepositoryError> {
        Ok(self
            .load_with_ids()?
            .into_iter()
            .map(|(_, key)| key)
            .collect())
    }

    /// Like [`KeyRepository::load`], with each key's number.
    pub fn load_with_ids(&self) -> Result<Vec<(u64, FernetKey)>, KeyRepositoryError> {
        self.warn_if_world_accessible();
        let files = self.key_files()?;
        let mut keys = Vec::with_capacity(files.len());
        for (id, path) in files.into_iter().rev() {
            let text = read_key_text(&path)?;
            let key =
                FernetKey::from_base64(&text).map_err(|source| KeyRepositoryError::InvalidKey {
                    path: path.clone(),
                    source,
                })?;
            keys.push((id, key));
        }
        if keys.is_empty() {
            return Err(KeyRepositoryError::NoKeys {
                path: self.path.clone(),
            });
        }
        Ok(keys)
    }

    /// Loads the keys as a [`MultiFernet`] (primary first).
    pub fn load_multi_fernet(&self) -> Result<MultiFernet, KeyRepositoryError> {
        let keys = self.load()?;
        MultiFernet::new(keys).map_err(|_| KeyRepositoryError::NoKeys {
            path: self.path.clone(),
        })
    }

    /// The numbers of the keys present (non-empty files with integer names),
    /// ascending.
    pub fn key_ids(&self) -> Result<Vec<u64>, KeyRepositoryError> {
        Ok(self.key_files()?.into_keys().collect())
    }

    /// Non-empty regular files with integer names, by number (Keystone's
    /// `_get_key_files`).
    fn key_files(&self) -> Result<BTreeMap<u64, PathBuf>, KeyRepositoryError> {
        let entries = fs::read_dir(&self.path).map_err(|source| KeyRepositoryError::Io {
            op: "list key repository",
            path: self.path.clone(),
            source,
        })?;
        let mut files = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|source| KeyRepositoryError::Io {
                op: "list key repository",
                path: self.path.clone(),
                source,
            })?;
            let Some(id) = entry.file_name().to_str().and_then(parse_key_id) else {
                continue;
            };
            let path = entry.path();
            // Follows symlinks, like os.path.isfile.
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(_) => continue,
            };
            if !meta.is_file() {
                continue;
            }
            if meta.len() == 0 {
                tracing::warn!(path = %path.display(), "ignoring empty key found in key repository");
                continue;
            }
            if files.insert(id, path).is_some() {
                return Err(KeyRepositoryError::DuplicateKeyId {
                    path: self.path.clone(),
                    id,
                });
            }
        }
        Ok(files)
    }

    fn create_directory(&self) -> Result<(), KeyRepositoryError> {
        if self.path.exists() {
            return Ok(());
        }
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|source| KeyRepositoryError::Io {
                op: "create parent directory of",
                path: self.path.clone(),
                source,
            })?;
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.path)
            .map_err(|source| KeyRepositoryError::Io {
                op: "create key repository",
                path: self.path.clone(),
                source,
            })?;
        // The umask may have removed bits we want; it cannot add any, but be
        // explicit so the result does not depend on the environment.
        fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700)).map_err(|source| {
            KeyRepositoryError::Io {
                op: "set permissions on",
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Writes a fresh key to `0.tmp`, readable by the owner only.
    fn write_tmp_key(&self) -> Result<(), KeyRepositoryError> {
        let path = self.path.join(TMP_KEY_FILE);
        let io_err = |op: &'static str| {
            let path = path.clone();
            move |source| KeyRepositoryError::Io { op, path, source }
        };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err("create temporary key"))?;
        // A leftover 0.tmp from an interrupted rotation keeps its old mode.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_err("set permissions on"))?;
        let written = file
            .write_all(FernetKey::generate().to_base64().as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(source) = written {
            // Do not leave a half-written key behind (Keystone removes it too).
            let _ = fs::remove_file(&path);
            return Err(KeyRepositoryError::Io {
                op: "write temporary key",
                path,
                source,
            });
        }
        tracing::info!(path = %path.display(), "created a new temporary key");
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), KeyRepositoryError> {
        fs::rename(from, to).map_err(|source| KeyRepositoryError::Io {
            op: "rename key",
            path: from.to_path_buf(),
            source,
        })
    }

    /// Makes the renames durable.
    fn sync_dir(&self) -> Result<(), KeyRepositoryError> {
        fs::File::open(&self.path)
            .and_then(|d| d.sync_all())
            .map_err(|source| KeyRepositoryError::Io {
                op: "sync",
                path: self.path.clone(),
                source,
            })
    }

    fn warn_if_world_accessible(&self) {
        if let Ok(meta) = fs::metadata(&self.path) {
            if meta.permissions().mode() & 0o005 != 0 {
                tracing::warn!(
                    key_repository = %self.path.display(),
                    "key repository is world readable"
                );
            }
        }
    }
}

fn read_key_text(path: &Path) -> Result<String, KeyRepositoryError> {
    fs::read_to_string(path).map_err(|source| KeyRepositoryError::Io {
        op: "read key file",
        path: path.to_path_buf(),
        source,
    })
}

/// Parses a key file name as Keystone's `int(filename)` would for the names
/// that occur in practice: ASCII decimal digits, leading zeros allowed.
///
/// TODO-compat: Python's `int()` also accepts a sign, surrounding whitespace,
/// `_` separators and non-ASCII digits; such names are ignored here.
fn parse_key_id(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn names(repo: &KeyRepository) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(repo.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
        v
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn setup_creates_staged_and_primary_with_modes_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(tmp.path().join("nested/fernet-keys"));
        assert!(repo.setup().unwrap());
        assert_eq!(names(&repo), ["0", "1"]);
        assert_eq!(mode(repo.path()), 0o700);
        for n in ["0", "1"] {
            let p = repo.path().join(n);
            assert_eq!(mode(&p), 0o600);
            let text = fs::read_to_string(&p).unwrap();
            assert_eq!(text.len(), 44, "Fernet.generate_key() format, no newline");
            FernetKey::from_base64(&text).unwrap();
        }
        let before = repo.load().unwrap();
        assert!(!repo.setup().unwrap());
        assert_eq!(repo.load().unwrap(), before);
    }

    #[test]
    fn rotate_promotes_staged_key_and_loads_primary_first() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(tmp.path());
        repo.setup().unwrap();
        let staged = fs::read_to_string(tmp.path().join("0")).unwrap();
        let primary = fs::read_to_string(tmp.path().join("1")).unwrap();
        let r = repo.rotate(3).unwrap();
        assert_eq!(
            r,
            Rotation {
                new_primary: 2,
                purged: vec![]
            }
        );
        assert_eq!(fs::read_to_string(tmp.path().join("2")).unwrap(), staged);
        assert_eq!(fs::read_to_string(tmp.path().join("1")).unwrap(), primary);
        assert_ne!(fs::read_to_string(tmp.path().join("0")).unwrap(), staged);
        assert_eq!(mode(&tmp.path().join("0")), 0o600);
        let ids: Vec<u64> = repo
            .load_with_ids()
            .unwrap()
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ids, [2, 1, 0]);
        assert_eq!(
            repo.load().unwrap()[0],
            FernetKey::from_base64(&staged).unwrap()
        );
    }

    #[test]
    fn rotation_file_names_match_keystone_manage() {
        // Same table as tests/fixtures/keystone/rotation.json (made by
        // keystone's FernetUtils); the integration test checks it too.
        let expect: &[(usize, &[&[u64]])] = &[
            (1, &[&[0], &[0], &[0], &[0]]),
            (2, &[&[0, 1], &[0, 2], &[0, 3], &[0, 4]]),
            (3, &[&[0, 1], &[0, 1, 2], &[0, 2, 3], &[0, 3, 4]]),
            (
                5,
                &[
                    &[0, 1],
                    &[0, 1, 2],
                    &[0, 1, 2, 3],
                    &[0, 1, 2, 3, 4],
                    &[0, 2, 3, 4, 5],
                ],
            ),
        ];
        for (max, steps) in expect {
            let tmp = tempfile::tempdir().unwrap();
            let repo = KeyRepository::new(tmp.path().join("k"));
            repo.setup_with_max_active_keys(*max).unwrap();
            for (i, step) in steps.iter().enumerate() {
                if i > 0 {
                    repo.rotate(*max).unwrap();
                }
                assert_eq!(
                    repo.key_ids().unwrap(),
                    *step,
                    "max_active_keys={max} step {i}"
                );
            }
        }
    }

    #[test]
    fn ignores_tmp_non_numeric_and_empty_files() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = KeyRepository::new(tmp.path());
        repo.setup().unwrap();
        fs::write(tmp.path().join("0.tmp"), "garbage").unwrap();
        fs::write(tmp.path().join("README"), "x").unwrap();
        fs::write(tmp.path().join("7"), "").unwrap();
        fs::create_dir(tmp.path().join("9")).unwrap();
        assert_eq!(repo.key_ids().unwrap(), [0, 1]);
        assert_eq!(repo.load().unwrap().len(), 2);
        // A leftover 0.tmp is simply overwritten by the next rotation.
        assert_eq!(repo.rotate(3).unwrap().new_primary, 2);
        assert!(!tmp.path().join("0.tmp").exists());
    }

    #[test]
    fn errors_carry_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = KeyRepository::new(tmp.path().join("missing"));
        let err = missing.load().unwrap_err();
        assert!(matches!(err, KeyRepositoryError::Io { .. }));
        assert!(err.to_string().contains("missing"), "{err}");

        let repo = KeyRepository::new(tmp.path());
        assert!(matches!(
            repo.load().unwrap_err(),
            KeyRepositoryError::NoKeys { .. }
        ));
        assert!(matches!(
            repo.rotate(3).unwrap_err(),
            KeyRepositoryError::NoStagedKey { .. }
        ));
        assert!(matches!(
            repo.rotate(0).unwrap_err(),
            KeyRepositoryError::InvalidMaxActiveKeys(0)
        ));

        fs::write(tmp.path().join("3"), "not a key").unwrap();
        let err = repo.load().unwrap_err();
        assert!(matches!(err, KeyRepositoryError::InvalidKey { .. }));
        assert!(err.to_string().ends_with("/3"), "{err}");

        fs::write(tmp.path().join("03"), FernetKey::generate().to_base64()).unwrap();
        assert!(matches!(
            repo.load().unwrap_err(),
            KeyRepositoryError::DuplicateKeyId { id: 3, .. }
        ));
    }

    #[test]
    fn key_id_parsing() {
        assert_eq!(parse_key_id("0"), Some(0));
        assert_eq!(parse_key_id("12"), Some(12));
        assert_eq!(parse_key_id("012"), Some(12));
        assert_eq!(parse_key_id("0.tmp"), None);
        assert_eq!(parse_key_id(""), None);
        assert_eq!(parse_key_id("-1"), None);
    }
}
