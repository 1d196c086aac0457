//! Cinder's fault bodies, rendered in one place: every handler returns
//! [`Fault`] (`{"itemNotFound": {"code": 404, "message": ...}}`, `badRequest`,
//! `overLimit`, `forbidden`, `conflictingRequest`...; Cinder shares Nova's fault
//! names), and the microversion middleware adds the version header to errors too.

use rustack_common::Error;

/// A failed request, in Cinder's fault style.
pub type Fault = rustack_api_common::Fault<rustack_api_common::NovaStyle>;

/// Result of handlers and of the app layer.
pub type BResult<T> = Result<T, Fault>;

/// 404 for a volume.
pub fn volume_not_found(id: &str) -> Fault {
    Error::not_found(format!("Volume {id} could not be found.")).into()
}

/// 404 for a snapshot.
pub fn snapshot_not_found(id: &str) -> Fault {
    Error::not_found(format!("Snapshot {id} could not be found.")).into()
}

/// 404 for a volume type.
pub fn type_not_found(id: &str) -> Fault {
    Error::not_found(format!("Volume type {id} could not be found.")).into()
}

/// 404 for an attachment.
pub fn attachment_not_found(id: &str) -> Fault {
    Error::not_found(format!("Volume attachment {id} could not be found.")).into()
}

/// 400.
pub fn bad(msg: impl Into<String>) -> Fault {
    Error::bad_request(msg).into()
}

/// 409.
pub fn conflict(msg: impl Into<String>) -> Fault {
    Error::conflict(msg).into()
}

/// 400 for an action on a volume in the wrong status (Cinder's `InvalidVolume`).
pub fn invalid_volume(msg: impl std::fmt::Display) -> Fault {
    Error::bad_request(format!("Invalid volume: {msg}")).into()
}

/// 413 `overLimit` for an exceeded quota.
pub fn over_quota(msg: impl Into<String>) -> Fault {
    Error::over_quota(msg).into()
}

/// 500 with a logged internal message.
pub fn internal(msg: impl Into<String>) -> Fault {
    Error::internal(msg).into()
}
