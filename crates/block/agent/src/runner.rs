//! A small runner for `qemu-img` (and, in tests, `qemu-io`): argv only (no shell), a
//! timeout that kills the child, and errors that carry the command line, the exit
//! status and stderr.
//!
//! Secrets never reach argv: the file backend passes passphrases as
//! `--object secret,id=...,format=raw,file=<0600 file>` ([`SecretFile`]), so the
//! command lines logged and put in errors here are safe to show.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustack_block_api::backend::BackendError;

/// Runs one tool with a timeout.
#[derive(Clone, Debug)]
pub struct Runner {
    /// The program (looked up in `PATH`), e.g. `qemu-img`.
    pub program: String,
    /// How long one run may take before the child is killed.
    pub timeout: Duration,
}

impl Runner {
    /// A runner for `program` with `timeout`.
    pub fn new(program: &str, timeout: Duration) -> Self {
        Runner {
            program: program.to_string(),
            timeout,
        }
    }

    /// The same program with another timeout.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Runner {
            program: self.program.clone(),
            timeout,
        }
    }

    /// Run to completion; stdout on success. A failure is classified from stderr:
    /// a held image lock is [`BackendError::Busy`], a full disk
    /// [`BackendError::NoSpace`], a too small target [`BackendError::Invalid`], anything
    /// else [`BackendError::Failed`] with command, status and stderr.
    pub async fn run(&self, args: &[OsString]) -> Result<String, BackendError> {
        let line = self.display(args);
        tracing::debug!(command = %line, "running volume tool");
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| BackendError::Failed(format!("cannot start `{line}`: {e}")))?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(BackendError::Failed(format!("`{line}`: {e}"))),
            Err(_) => {
                // Dropping the future drops the child, which kill_on_drop kills.
                return Err(BackendError::Failed(format!(
                    "`{line}` timed out after {} s",
                    self.timeout.as_secs()
                )));
            }
        };
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let msg = format!("`{line}` failed ({}): {stderr}", out.status);
        Err(classify(&stderr, msg))
    }

    fn display(&self, args: &[OsString]) -> String {
        let mut s = self.program.clone();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

fn classify(stderr: &str, msg: String) -> BackendError {
    if stderr.contains("Failed to get") && stderr.contains("lock") {
        BackendError::Busy(msg)
    } else if stderr.contains("No space left on device") {
        BackendError::NoSpace(msg)
    } else if stderr.contains("output file is smaller than input file") {
        BackendError::Invalid(msg)
    } else {
        BackendError::Failed(msg)
    }
}

/// A passphrase in a 0600 file, removed when dropped: what `--object
/// secret,format=raw,file=...` reads.
#[derive(Debug)]
pub struct SecretFile {
    path: PathBuf,
}

impl SecretFile {
    /// Write `secret` (no newline) to a new file in `dir` readable only by the owner.
    pub fn create(dir: &Path, secret: &str) -> Result<Self, BackendError> {
        let path = dir.join(format!("secret-{}.key", random_hex()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                BackendError::Failed(format!("creating a secret file in {}: {e}", dir.display()))
            })?;
        let guard = SecretFile { path };
        f.write_all(secret.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| BackendError::Failed(format!("writing a secret file: {e}")))?;
        Ok(guard)
    }

    /// The `--object` value defining secret `id` from this file.
    pub fn object(&self, id: &str) -> OsString {
        let mut o = OsString::from(format!("secret,id={id},format=raw,file="));
        o.push(escape_opt(&self.path));
        o
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove a secret file");
            }
        }
    }
}

/// A path as a QEMU option value: commas doubled (QEMU's escape).
pub fn escape_opt(path: &Path) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        out.push(b);
        if b == b',' {
            out.push(b',');
        }
    }
    OsString::from_vec(out)
}

/// 16 random hex digits (temporary names).
pub fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_carry_command_status_and_stderr() {
        let r = Runner::new("sh", Duration::from_secs(10));
        let args: Vec<OsString> = vec!["-c".into(), "echo oops >&2; exit 3".into()];
        let e = r.run(&args).await.unwrap_err().to_string();
        assert!(e.contains("sh -c"), "{e}");
        assert!(e.contains("oops"), "{e}");
        assert!(e.contains('3'), "{e}");
        let args: Vec<OsString> = vec![
            "-c".into(),
            "echo 'Failed to get \"write\" lock' >&2; exit 1".into(),
        ];
        assert!(matches!(r.run(&args).await, Err(BackendError::Busy(_))));
        let ok: Vec<OsString> = vec!["-c".into(), "echo hi".into()];
        assert_eq!(r.run(&ok).await.unwrap(), "hi\n");
    }

    #[tokio::test]
    async fn a_slow_command_times_out() {
        let r = Runner::new("sleep", Duration::from_millis(200));
        let start = std::time::Instant::now();
        let e = r.run(&["30".into()]).await.unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn secret_files_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let s = SecretFile::create(dir.path(), "abcd").unwrap();
        let path = s.path.clone();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "abcd");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(s
            .object("sec0")
            .to_string_lossy()
            .starts_with("secret,id=sec0,format=raw,file=/"));
        drop(s);
        assert!(!path.exists());
        assert_eq!(escape_opt(Path::new("/a,b")), OsString::from("/a,,b"));
    }
}
