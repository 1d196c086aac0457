//! Every failure of the compute service leaves as a Nova fault, rendered in one place:
//! `{"itemNotFound": {"code": 404, "message": ...}}`, `badRequest`, `forbidden`,
//! `conflictingRequest`, `overLimit`, `computeFault`, `serviceUnavailable`... (see
//! `rustack_api_common::fault::NovaStyle`). The app layer returns
//! `rustack_common::Error`; the constructors here carry nova's exact messages.

use rustack_api_common::{Fault, NovaStyle};
use rustack_common::Error;

/// A handler's error: the shared [`Error`] rendered in Nova's fault style.
pub type ApiError = Fault<NovaStyle>;

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// 403 for a policy denial, with nova's `PolicyNotAuthorized` message.
pub fn policy_denied(rule: &str) -> Error {
    Error::forbidden(format!("Policy doesn't allow {rule} to be performed."))
}

/// 404 for an unknown flavor (`FlavorNotFound`).
pub fn flavor_not_found(id: &str) -> Error {
    Error::not_found(format!("Flavor {id} could not be found."))
}

/// 404 for an unknown key pair (`KeypairNotFound`).
pub fn keypair_not_found(user_id: &str, name: &str) -> Error {
    Error::not_found(format!("Keypair {name} not found for user {user_id}"))
}

/// 404 for an unknown server (`InstanceNotFound`).
pub fn instance_not_found(id: &str) -> Error {
    Error::not_found(format!("Instance {id} could not be found."))
}

/// 404 for an unknown server group (`InstanceGroupNotFound`).
pub fn server_group_not_found(id: &str) -> Error {
    Error::not_found(format!("Instance group {id} could not be found."))
}

/// 404 for a route nova does not have.
pub fn resource_not_found() -> Error {
    Error::not_found("The resource could not be found.")
}

/// A request body failing schema validation (nova's `ValidationError` message prefix).
pub fn invalid_input(detail: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("Invalid input for field/attribute {detail}"))
}
