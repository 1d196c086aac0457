//! The one error type every service's app layer returns.
//!
//! Each variant carries an *external* message, safe to show the caller, and errors that
//! are bugs ([`Error::Internal`]) carry only an internal message that is logged and never
//! rendered. The mapping to HTTP status codes and to each service's fault body lives in
//! `rustack-api-common`, in one place.

use std::fmt;

/// A failure the API reports to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The request is malformed or violates the schema (HTTP 400).
    BadRequest { message: String },
    /// No or invalid credentials (HTTP 401).
    Unauthenticated { message: String },
    /// The caller is known but may not do this (HTTP 403).
    Forbidden { message: String },
    /// The resource does not exist or the caller may not learn that it does (HTTP 404).
    NotFound { message: String },
    /// The method is not allowed on this resource (HTTP 405).
    MethodNotAllowed { message: String },
    /// The request conflicts with the resource's state or a uniqueness rule (HTTP 409).
    Conflict { message: String },
    /// A quota or size limit would be exceeded (HTTP 413).
    OverQuota { message: String },
    /// The media type of the body is not accepted (HTTP 415).
    UnsupportedMediaType { message: String },
    /// The operation is known upstream but not implemented here (HTTP 501).
    NotImplemented { message: String },
    /// A dependency is transiently unavailable (HTTP 503).
    Unavailable { message: String },
    /// A bug or an unexpected failure (HTTP 500); the message is only logged.
    Internal { internal_message: String },
}

impl Error {
    /// A 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            message: message.into(),
        }
    }
    /// A 401 with `message`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Error::Unauthenticated {
            message: message.into(),
        }
    }
    /// A 403 with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden {
            message: message.into(),
        }
    }
    /// A 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound {
            message: message.into(),
        }
    }
    /// A 409 with `message`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
        }
    }
    /// A 413 with `message`.
    pub fn over_quota(message: impl Into<String>) -> Self {
        Error::OverQuota {
            message: message.into(),
        }
    }
    /// A 501 with `message`.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Error::NotImplemented {
            message: message.into(),
        }
    }
    /// A 503 with `message`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
        }
    }
    /// A 500; `internal_message` is logged, never shown.
    pub fn internal(internal_message: impl Into<String>) -> Self {
        Error::Internal {
            internal_message: internal_message.into(),
        }
    }

    /// The HTTP status code for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Error::BadRequest { .. } => 400,
            Error::Unauthenticated { .. } => 401,
            Error::Forbidden { .. } => 403,
            Error::NotFound { .. } => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::Conflict { .. } => 409,
            Error::OverQuota { .. } => 413,
            Error::UnsupportedMediaType { .. } => 415,
            Error::NotImplemented { .. } => 501,
            Error::Unavailable { .. } => 503,
            Error::Internal { .. } => 500,
        }
    }

    /// The message safe to show the caller.
    pub fn external_message(&self) -> &str {
        match self {
            Error::BadRequest { message }
            | Error::Unauthenticated { message }
            | Error::Forbidden { message }
            | Error::NotFound { message }
            | Error::MethodNotAllowed { message }
            | Error::Conflict { message }
            | Error::OverQuota { message }
            | Error::UnsupportedMediaType { message }
            | Error::NotImplemented { message }
            | Error::Unavailable { message } => message,
            Error::Internal { .. } => {
                "An unexpected error prevented the server from fulfilling your request."
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Internal { internal_message } => write!(f, "internal error: {internal_message}"),
            other => write!(f, "{} ({})", other.external_message(), other.status_code()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_message_is_never_external() {
        let e = Error::internal("db password=hunter2 leaked");
        assert_eq!(e.status_code(), 500);
        assert!(!e.external_message().contains("hunter2"));
    }

    #[test]
    fn status_codes() {
        assert_eq!(Error::bad_request("x").status_code(), 400);
        assert_eq!(Error::unauthenticated("x").status_code(), 401);
        assert_eq!(Error::forbidden("x").status_code(), 403);
        assert_eq!(Error::not_found("x").status_code(), 404);
        assert_eq!(Error::conflict("x").status_code(), 409);
        assert_eq!(Error::over_quota("x").status_code(), 413);
        assert_eq!(Error::unavailable("x").status_code(), 503);
    }
}
