//! The agent's errors. A failed pass is logged once by the loop and retried at the
//! next tick; host step failures are not errors here (they are in the reconcile report).

/// Why a pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The Identity API refused or failed the service token request.
    #[error("cannot get a token for the network agent")]
    Identity(#[source] rustack_common::Error),
    /// The Networking API could not be reached.
    #[error("request to {url} failed")]
    Http {
        /// URL.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The Networking API answered an error.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Decode {
        /// URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The blocking reconcile task panicked or was cancelled.
    #[error("reconcile task failed: {0}")]
    Task(String),
}
