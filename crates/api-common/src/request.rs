//! The per-request middleware: a request id (`req-<uuid>`) in the request's extensions
//! and the `x-openstack-request-id` response header, and one log line per request with
//! method, path, status, duration and request id (never headers or bodies: they carry
//! tokens and passwords).

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The response header carrying the request id.
pub const X_OPENSTACK_REQUEST_ID: &str = "x-openstack-request-id";

/// The id of the request being served, as `req-<uuid4>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A fresh request id.
    pub fn new() -> Self {
        RequestId(format!("req-{}", uuid::Uuid::new_v4()))
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware (use with `axum::middleware::from_fn_with_state(service_name, request_layer)`).
pub async fn request_layer(
    axum::extract::State(service): axum::extract::State<&'static str>,
    mut req: Request,
    next: Next,
) -> Response {
    let id = RequestId::new();
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let span = tracing::info_span!("request", request.id = %id.0, service);
    let mut resp = {
        use tracing::Instrument;
        next.run(req).instrument(span.clone()).await
    };
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert(X_OPENSTACK_REQUEST_ID, v);
    }
    let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        parent: &span,
        http.method = %method,
        http.path = %path,
        http.status = resp.status().as_u16(),
        duration_ms = format_args!("{duration_ms:.2}"),
        "{method} {path} {}",
        resp.status().as_u16()
    );
    resp
}
