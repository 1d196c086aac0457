//! The error every host operation returns. Each variant carries the context needed to
//! act on it without the log: the command line (rendered for humans only; commands are
//! always run from typed argument vectors, never through a shell) and its stderr.

use std::io;

/// A failed host operation.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for humans.
        command: String,
        /// Exit status as text (`exit status: 2`, `signal: 9`).
        status: String,
        /// The command's stderr, trimmed.
        stderr: String,
    },
    /// A command could not be started (missing binary, permissions).
    #[error("cannot run `{command}`")]
    Spawn {
        /// The command line, for humans.
        command: String,
        /// Why the spawn failed.
        #[source]
        source: io::Error,
    },
    /// A command's output was not what we expect from it.
    #[error("cannot parse the output of `{command}`: {message}")]
    Parse {
        /// The command line, for humans.
        command: String,
        /// What was wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What we were doing (`write`, `read`, `create dir`).
        op: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The object an operation names does not exist (fake; Linux reports a `Command` error).
    #[error("{kind} {name} does not exist")]
    NotFound {
        /// `netns`, `link`, `address`...
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The object an operation would create exists already (fake).
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// `netns`, `link`...
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// An invalid request (bad name, bridge master that is not a bridge...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A failure injected into the fake by a test.
    #[error("injected failure in {op}")]
    Injected {
        /// The operation that failed.
        op: String,
    },
    /// A supervised process did not come up.
    #[error("{what} did not start: {message}")]
    Start {
        /// The process (`dnsmasq for <name>`).
        what: String,
        /// Why we think so.
        message: String,
    },
}

/// Result alias for host operations.
pub type Result<T, E = HostError> = std::result::Result<T, E>;
