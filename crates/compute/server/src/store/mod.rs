//! Every SQL statement of the compute service, one file per table group. Functions take
//! a connection (a pool connection or an open transaction) so the app layer decides
//! transaction bounds; callers check policy first.

pub mod aggregate;
pub mod flavor;
pub mod host;
pub mod keypair;
pub mod quota;
pub mod server_group;

use rustack_db::{db_internal, is_unique_violation};

/// A write failed on a uniqueness rule (the caller maps it to the right 409).
#[derive(Debug)]
pub enum WriteError {
    /// A UNIQUE/PRIMARY KEY constraint fired.
    Duplicate,
    /// Anything else.
    Other(rustack_common::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        if is_unique_violation(&e) {
            WriteError::Duplicate
        } else {
            WriteError::Other(db_internal(e))
        }
    }
}

/// The current time as nova renders it (`2026-01-01T00:00:00.000000`, no zone; the
/// API layer formats per resource).
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}
