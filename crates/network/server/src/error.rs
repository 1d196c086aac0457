//! The network service's error: the shared [`Error`] plus Neutron's exception type
//! (`NetworkNotFound`, `IpAddressGenerationFailure`...), which Neutron puts in the fault
//! body's `type` and some clients match on. Constructors carry neutron-lib's messages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rustack_api_common::fault::{neutron_body, neutron_default_type, FaultStyle, NeutronStyle};
use rustack_common::Error;

/// An app-layer failure with Neutron's exception type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeutronError {
    /// Neutron's exception class name.
    pub kind: &'static str,
    /// Status and message.
    pub error: Error,
}

/// Result of app-layer operations.
pub type NResult<T> = Result<T, NeutronError>;

impl From<Error> for NeutronError {
    fn from(error: Error) -> Self {
        NeutronError {
            kind: neutron_default_type(error.status_code()),
            error,
        }
    }
}

impl From<rustack_network_api::attrs::AttrError> for NeutronError {
    fn from(e: rustack_network_api::attrs::AttrError) -> Self {
        NeutronError {
            kind: e.kind,
            error: Error::bad_request(e.message),
        }
    }
}

impl IntoResponse for NeutronError {
    fn into_response(self) -> Response {
        if let Error::Internal { internal_message } = &self.error {
            tracing::error!(error = %internal_message, "request failed with an internal error");
        }
        let status = StatusCode::from_u16(self.error.status_code())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(neutron_body(self.kind, &self.error))).into_response();
        NeutronStyle::headers(&self.error, resp.headers_mut());
        resp
    }
}

impl NeutronError {
    /// An error of type `kind`.
    pub fn new(kind: &'static str, error: Error) -> Self {
        NeutronError { kind, error }
    }
    /// 400 `BadRequest` ("Bad {resource} request: {msg}.").
    pub fn bad_request(resource: &str, msg: impl std::fmt::Display) -> Self {
        Self::new(
            "BadRequest",
            Error::bad_request(format!("Bad {resource} request: {msg}.")),
        )
    }
    /// 400 `InvalidInput`.
    pub fn invalid_input(msg: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidInput",
            Error::bad_request(format!("Invalid input for operation: {msg}.")),
        )
    }
    /// 400 with a type and verbatim message.
    pub fn bad(kind: &'static str, msg: impl Into<String>) -> Self {
        Self::new(kind, Error::bad_request(msg))
    }
    /// 404 with a type and verbatim message.
    pub fn not_found(kind: &'static str, msg: impl Into<String>) -> Self {
        Self::new(kind, Error::not_found(msg))
    }
    /// 409 with a type and verbatim message.
    pub fn conflict(kind: &'static str, msg: impl Into<String>) -> Self {
        Self::new(kind, Error::conflict(msg))
    }
    /// 403 `PolicyNotAuthorized`.
    pub fn policy(rule: &str) -> Self {
        Self::new(
            "PolicyNotAuthorized",
            Error::forbidden(format!("({rule}) is disallowed by policy")),
        )
    }
    /// 404 for a resource of `kind` (`network`, `port`...) with neutron's message.
    pub fn resource_not_found(kind: &str, id: &str) -> Self {
        match kind {
            "network" => Self::not_found(
                "NetworkNotFound",
                format!("Network {id} could not be found."),
            ),
            "subnet" => {
                Self::not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
            }
            "port" => Self::not_found("PortNotFound", format!("Port {id} could not be found.")),
            "router" => {
                Self::not_found("RouterNotFound", format!("Router {id} could not be found."))
            }
            "floatingip" => Self::not_found(
                "FloatingIPNotFound",
                format!("Floating IP {id} could not be found"),
            ),
            "security_group" => Self::not_found(
                "SecurityGroupNotFound",
                format!("Security group {id} does not exist"),
            ),
            "security_group_rule" => Self::not_found(
                "SecurityGroupRuleNotFound",
                format!("Security group rule {id} does not exist"),
            ),
            "subnetpool" => Self::not_found(
                "SubnetPoolNotFound",
                format!("Subnet pool {id} could not be found."),
            ),
            other => Self::not_found("NotFound", format!("{other} {id} could not be found.")),
        }
    }
}

impl From<NeutronError> for Error {
    fn from(e: NeutronError) -> Self {
        e.error
    }
}
