//! Barbican's errors, mapped in one place: every failure is a [`KmError`] (status and
//! the `description` Barbican shows), rendered as Barbican's fault body
//! `{"code": 404, "title": "Not Found", "description": "..."}`. Barbican wraps most
//! failures as `"<Operation> issue seen - <reason>."` ([`KmError::issue`]) and policy
//! refusals as `"<Operation> attempt not allowed - please review your user/project
//! privileges"` ([`KmError::policy`]). A missing or invalid token is keystonemiddleware's
//! 401 (`{"error": {...}}` with `WWW-Authenticate`), as in front of Barbican.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rustack_common::Error;
use serde_json::json;

/// A failed key manager request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmError {
    /// HTTP status.
    pub status: u16,
    /// The `description` shown to the caller.
    pub description: String,
}

/// Result of key manager operations.
pub type KmResult<T> = Result<T, KmError>;

/// The HTTP reason phrase Barbican (webob) puts in `title`.
pub fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl KmError {
    /// An error with `status` and `description`.
    pub fn new(status: u16, description: impl Into<String>) -> Self {
        KmError {
            status,
            description: description.into(),
        }
    }
    /// 400 with a plain description.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(400, description)
    }
    /// 404 with a plain description.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(404, description)
    }
    /// `"<operation> issue seen - <reason>."` with `status` (Barbican's HTTP exceptions).
    pub fn issue(status: u16, operation: &str, reason: &str) -> Self {
        Self::new(status, format!("{operation} issue seen - {reason}."))
    }
    /// A JSON-schema failure (`InvalidObject`): 400.
    pub fn invalid(operation: &str, schema: &str, reason: &str, property: &str) -> Self {
        Self::issue(
            400,
            operation,
            &format!(
                "Provided object does not match schema '{schema}': {reason}. Invalid property: '{property}'"
            ),
        )
    }
    /// 403 for a policy refusal of `operation`.
    pub fn policy(operation: &str) -> Self {
        Self::new(
            403,
            format!("{operation} attempt not allowed - please review your user/project privileges"),
        )
    }
    /// 403 for a reached quota.
    pub fn quota(operation: &str) -> Self {
        Self::issue(
            403,
            operation,
            "Creation not allowed because a quota has been reached",
        )
    }
    /// 401 (missing or invalid token).
    pub fn unauthenticated() -> Self {
        Self::new(401, "The request you have made requires authentication.")
    }
    /// 500 (the internal message is logged once, here).
    pub fn internal(operation: &str, msg: impl std::fmt::Display) -> Self {
        tracing::error!(error = %msg, "key manager request failed with an internal error");
        Self::new(
            500,
            format!("{operation} failure seen - please contact site administrator."),
        )
    }
    /// Maps a shared [`Error`] (authentication, database) for `operation`.
    pub fn from_error(operation: &str, e: &Error) -> Self {
        match e.status_code() {
            401 => Self::unauthenticated(),
            500 => Self::new(
                500,
                format!("{operation} failure seen - please contact site administrator."),
            ),
            s => Self::issue(s, operation, e.external_message()),
        }
    }
}

impl std::fmt::Display for KmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.description)
    }
}

impl std::error::Error for KmError {}

impl IntoResponse for KmError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if self.status == 401 {
            let body = json!({"error": {
                "code": 401,
                "title": "Unauthorized",
                "message": self.description,
            }});
            let mut resp = (status, Json(body)).into_response();
            resp.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Keystone uri=\"\""),
            );
            return resp;
        }
        let body = json!({
            "code": self.status,
            "title": title(self.status),
            "description": self.description,
        });
        (status, Json(body)).into_response()
    }
}
