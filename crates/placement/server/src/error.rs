//! Placement's errors, mapped in one place: every failure is a [`PlacementError`]
//! (status, placement error code, detail). Handlers return it; its response carries
//! the error in an extension and the microversion middleware
//! ([`crate::api::microversion_layer`]) renders the body in placement's shape,
//! `{"errors": [{"status", "title", "detail", "code", "request_id"}]}`, because only
//! the middleware knows the request id and whether the microversion (1.23+) shows
//! `code`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use rustack_placement_api::codes;
use serde_json::{json, Value};

/// A failed placement request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementError {
    /// HTTP status.
    pub status: u16,
    /// Placement error code (`placement.concurrent_update`...).
    pub code: &'static str,
    /// The detail shown to the caller.
    pub detail: String,
    /// For 406s from microversion parsing: add `min_version`/`max_version`.
    pub version_bounds: bool,
}

/// Result of placement operations.
pub type PResult<T> = Result<T, PlacementError>;

impl PlacementError {
    /// An error with `status`, `code` and `detail`.
    pub fn new(status: u16, code: &'static str, detail: impl Into<String>) -> Self {
        PlacementError {
            status,
            code,
            detail: detail.into(),
            version_bounds: false,
        }
    }
    /// 400 with the default code.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, codes::DEFAULT, detail)
    }
    /// 400 for a query parameter with a bad value.
    pub fn bad_query(detail: impl Into<String>) -> Self {
        Self::new(400, codes::QUERYPARAM_BAD_VALUE, detail)
    }
    /// 404 with the default code.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, codes::DEFAULT, detail)
    }
    /// 409 with the default code.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(409, codes::DEFAULT, detail)
    }
    /// 409 `placement.concurrent_update`.
    pub fn concurrent(detail: impl Into<String>) -> Self {
        Self::new(409, codes::CONCURRENT_UPDATE, detail)
    }
    /// 403 for a policy refusal.
    pub fn policy(rule: &str) -> Self {
        Self::new(
            403,
            codes::DEFAULT,
            format!("Policy does not allow {rule} to be performed."),
        )
    }
    /// The "resource provider not found" 404 placement's handlers produce.
    pub fn provider_not_found(uuid: &str) -> Self {
        Self::not_found(format!("No resource provider with uuid {uuid} found"))
    }
    /// 500 (the internal message is logged once, here).
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        tracing::error!(error = %msg, "placement request failed with an internal error");
        Self::new(
            500,
            codes::DEFAULT,
            "An unexpected error prevented the server from fulfilling your request.",
        )
    }

    fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            409 => "Conflict",
            415 => "Unsupported Media Type",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// webob's explanation, which precedes the detail in the rendered body.
    fn explanation(&self) -> &'static str {
        match self.status {
            400 => "The server could not comply with the request since it is either malformed or otherwise incorrect.",
            401 => "This server could not verify that you are authorized to access the document you requested.",
            403 => "Access was denied to this resource.",
            404 => "The resource could not be found.",
            405 => "The method is not allowed for this resource.",
            406 => "The resource could not be generated that was acceptable to your request.",
            409 => "There was a conflict when trying to complete your request.",
            415 => "The request media type is not supported by this server.",
            _ => "The server has either erred or is incapable of performing the requested operation.",
        }
    }

    /// The `errors` body.
    pub fn body(&self, request_id: Option<&str>, with_code: bool, max_minor: u16) -> Value {
        let mut e = json!({
            "status": self.status,
            "title": self.title(),
            "detail": format!("{}\n\n {}  ", self.explanation(), self.detail),
        });
        if with_code {
            e["code"] = json!(self.code);
        }
        if let Some(id) = request_id {
            e["request_id"] = json!(id);
        }
        if self.version_bounds {
            e["max_version"] = json!(format!("1.{max_minor}"));
            e["min_version"] = json!("1.0");
        }
        json!({ "errors": [e] })
    }
}

impl From<Error> for PlacementError {
    fn from(e: Error) -> Self {
        match e {
            Error::Internal { internal_message } => PlacementError::internal(internal_message),
            other => PlacementError::new(
                other.status_code(),
                codes::DEFAULT,
                other.external_message(),
            ),
        }
    }
}

impl From<sqlx::Error> for PlacementError {
    fn from(e: sqlx::Error) -> Self {
        PlacementError::internal(format!("database error: {e}"))
    }
}

impl IntoResponse for PlacementError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = status.into_response();
        if self.status == 401 {
            resp.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Keystone uri=\"\""),
            );
        }
        resp.extensions_mut().insert(self);
        resp
    }
}
