//! Rendering [`rustack_common::Error`] into each service's fault body, in one place.
//!
//! A handler returns `Result<T, Fault<S>>` where `S` is its service's [`FaultStyle`];
//! `?` converts the app layer's `Error` via `From`.

use std::marker::PhantomData;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use serde_json::{json, Value};

/// How a service renders faults.
pub trait FaultStyle: Send + Sync + 'static {
    /// The JSON body for `err`.
    fn body(err: &Error) -> Value;
    /// Extra headers for `err` (e.g. `WWW-Authenticate` on 401).
    fn headers(_err: &Error, _headers: &mut HeaderMap) {}
}

/// An error on its way out of a handler, rendered in style `S`.
pub struct Fault<S: FaultStyle> {
    /// The error.
    pub error: Error,
    _style: PhantomData<S>,
}

impl<S: FaultStyle> std::fmt::Debug for Fault<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<S: FaultStyle> From<Error> for Fault<S> {
    fn from(error: Error) -> Self {
        Fault {
            error,
            _style: PhantomData,
        }
    }
}

impl<S: FaultStyle> IntoResponse for Fault<S> {
    fn into_response(self) -> Response {
        if let Error::Internal { internal_message } = &self.error {
            tracing::error!(error = %internal_message, "request failed with an internal error");
        }
        let status = StatusCode::from_u16(self.error.status_code())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(S::body(&self.error))).into_response();
        S::headers(&self.error, resp.headers_mut());
        resp
    }
}

/// Keystone: `{"error": {"code", "title", "message"}}`, `WWW-Authenticate` on 401.
pub struct KeystoneStyle;

/// The HTTP reason phrase Keystone puts in `title`.
pub fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl FaultStyle for KeystoneStyle {
    fn body(err: &Error) -> Value {
        let code = err.status_code();
        json!({"error": {"code": code, "title": title(code), "message": err.external_message()}})
    }
    fn headers(err: &Error, headers: &mut HeaderMap) {
        if matches!(err, Error::Unauthenticated { .. }) {
            headers.insert(
                "www-authenticate",
                HeaderValue::from_static("Keystone uri=\"/identity\""),
            );
        }
    }
}

/// Nova (and Cinder): `{"itemNotFound": {"code": 404, "message": ...}}`.
pub struct NovaStyle;

impl FaultStyle for NovaStyle {
    fn body(err: &Error) -> Value {
        let code = err.status_code();
        if code == 401 {
            return KeystoneStyle::body(err);
        }
        let key = match code {
            400 => "badRequest",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "badMethod",
            409 => "conflictingRequest",
            413 => "overLimit",
            415 => "badMediaType",
            501 => "notImplemented",
            503 => "serviceUnavailable",
            _ => "computeFault",
        };
        json!({ key: {"code": code, "message": err.external_message()} })
    }
    fn headers(err: &Error, headers: &mut HeaderMap) {
        KeystoneStyle::headers(err, headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_shape() {
        let b = KeystoneStyle::body(&Error::not_found("Could not find user: x."));
        assert_eq!(
            b,
            json!({"error": {"code": 404, "title": "Not Found", "message": "Could not find user: x."}})
        );
    }

    #[test]
    fn nova_shape_and_internal_hidden() {
        let b = NovaStyle::body(&Error::internal("secret detail"));
        assert_eq!(b["computeFault"]["code"], 500);
        assert!(!b.to_string().contains("secret"));
        assert_eq!(
            NovaStyle::body(&Error::conflict("c"))["conflictingRequest"]["message"],
            "c"
        );
    }

    #[test]
    fn unauthenticated_has_www_authenticate() {
        let f: Fault<KeystoneStyle> = Error::unauthenticated("nope").into();
        let r = f.into_response();
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
    }
}

/// Glance: webob's JSON error document `{"message", "code": "404 Not Found", "title"}`
/// (what a client sending `Accept: application/json` gets), and Keystone's body with
/// `WWW-Authenticate` on 401 (keystonemiddleware answers those in front of Glance).
/// The message is Glance's explanation without webob's `<br /><br />` template residue.
pub struct GlanceStyle;

/// The reason phrase webob puts in `title` and after the code in `code`.
pub fn glance_title(status: u16) -> &'static str {
    match status {
        410 => "Gone",
        416 => "Requested Range Not Satisfiable",
        other => title(other),
    }
}

impl FaultStyle for GlanceStyle {
    fn body(err: &Error) -> Value {
        let code = err.status_code();
        if code == 401 {
            return KeystoneStyle::body(err);
        }
        let title = glance_title(code);
        json!({"message": err.external_message(), "code": format!("{code} {title}"), "title": title})
    }
    fn headers(err: &Error, headers: &mut HeaderMap) {
        KeystoneStyle::headers(err, headers)
    }
}

#[cfg(test)]
mod glance_tests {
    use super::*;

    #[test]
    fn glance_shape() {
        let b = GlanceStyle::body(&Error::not_found("No image found with ID x"));
        assert_eq!(
            b,
            json!({"message": "No image found with ID x", "code": "404 Not Found", "title": "Not Found"})
        );
        assert_eq!(
            GlanceStyle::body(&Error::unauthenticated("no"))["error"]["code"],
            401
        );
    }
}

/// Neutron: `{"NeutronError": {"type", "message", "detail"}}` (neutron's
/// `api.api_common.convert_exception_to_http_exc` body), Keystone's body with
/// `WWW-Authenticate` on 401 (keystonemiddleware answers those in front of Neutron).
///
/// Neutron's `type` is the exception class name (`NetworkNotFound`,
/// `IpAddressGenerationFailure`...). [`Error`] carries only a message, so this style
/// renders a generic type per status code; the network service carries the exact type
/// alongside the error and renders it with [`neutron_body`].
pub struct NeutronStyle;

/// The `type` Neutron uses when no more specific exception applies.
pub fn neutron_default_type(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "HTTPForbidden",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        409 => "Conflict",
        413 => "OverQuota",
        415 => "HTTPUnsupportedMediaType",
        501 => "HTTPNotImplemented",
        503 => "ServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
}

/// Neutron's fault body for `err` with exception type `kind`.
pub fn neutron_body(kind: &str, err: &Error) -> Value {
    if err.status_code() == 401 {
        return KeystoneStyle::body(err);
    }
    json!({"NeutronError": {"type": kind, "message": err.external_message(), "detail": ""}})
}

impl FaultStyle for NeutronStyle {
    fn body(err: &Error) -> Value {
        neutron_body(neutron_default_type(err.status_code()), err)
    }
    fn headers(err: &Error, headers: &mut HeaderMap) {
        KeystoneStyle::headers(err, headers)
    }
}

#[cfg(test)]
mod neutron_tests {
    use super::*;

    #[test]
    fn neutron_shape() {
        assert_eq!(
            neutron_body(
                "NetworkNotFound",
                &Error::not_found("Network x could not be found.")
            ),
            json!({"NeutronError": {"type": "NetworkNotFound",
                "message": "Network x could not be found.", "detail": ""}})
        );
        assert_eq!(
            NeutronStyle::body(&Error::conflict("c"))["NeutronError"]["type"],
            "Conflict"
        );
        assert_eq!(
            NeutronStyle::body(&Error::unauthenticated("no"))["error"]["code"],
            401
        );
    }
}
