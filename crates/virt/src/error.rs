//! Errors of compute drivers. Each variant carries what is needed to act on it without
//! the log: the instance, the command line and its stderr, the QMP command.

use std::io;

/// A failed driver operation.
#[derive(Debug, thiserror::Error)]
pub enum VirtError {
    /// The driver does not know this instance.
    #[error("instance {uuid} not found on this host")]
    NotFound {
        /// The instance UUID.
        uuid: String,
    },
    /// The instance exists already (spawn of a known UUID).
    #[error("instance {uuid} already exists on this host")]
    AlreadyExists {
        /// The instance UUID.
        uuid: String,
    },
    /// The operation does not apply to the instance's current state.
    #[error("cannot {op} instance {uuid} while it is {state}")]
    InvalidState {
        /// The instance UUID.
        uuid: String,
        /// The operation (`pause`, `power_on`...).
        op: &'static str,
        /// Its current state (`running`, `shutdown`...).
        state: String,
    },
    /// The instance has no NIC for this port.
    #[error("instance {uuid} has no interface for port {port_id}")]
    InterfaceNotFound {
        /// The instance UUID.
        uuid: String,
        /// The port.
        port_id: String,
    },
    /// The spec cannot be run (missing image, bad name, shrinking disk...).
    #[error("invalid instance spec: {0}")]
    InvalidSpec(String),
    /// A file operation failed.
    #[error("{context}")]
    Io {
        /// What we were doing, with the path.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A host command failed.
    #[error("`{cmdline}` failed: {stderr}")]
    Command {
        /// The command line, for humans.
        cmdline: String,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// A host operation through `rustack-hostops` failed.
    #[error("{context}")]
    Host {
        /// What we were doing.
        context: String,
        /// The host error.
        #[source]
        source: rustack_hostops::HostError,
    },
    /// QMP failed (cannot connect, protocol error, or the command returned an error).
    #[error("QMP {command} on instance {uuid}: {message}")]
    Qmp {
        /// The instance UUID.
        uuid: String,
        /// The QMP command.
        command: String,
        /// What went wrong (QMP's error description).
        message: String,
    },
    /// Timed out waiting for something (guest shutdown, QEMU start).
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long.
        secs: u64,
    },
    /// This driver cannot do that.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A failure injected into the simulated driver by a test.
    #[error("injected failure in {op}")]
    Injected {
        /// The operation that failed.
        op: &'static str,
    },
}

impl VirtError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        VirtError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this is [`VirtError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, VirtError::NotFound { .. })
    }
}
