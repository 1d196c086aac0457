//! The metadata API (Nova's `nova/api/metadata/handler.py` with
//! `[neutron] service_metadata_proxy = true`): every request comes from the metadata
//! proxy carrying `X-Instance-ID`, `X-Tenant-ID`, `X-Instance-ID-Signature` and
//! `X-Forwarded-For`. The compute service mounts [`router`] on its metadata port (8775)
//! with its own [`InstanceSource`].
//!
//! Status codes as Nova: `/` lists versions without any header; a missing or repeated
//! header is 400, a bad signature 403 (compared in constant time), an unknown instance,
//! a project mismatch or an unknown path 404, a source failure 500. Error bodies are
//! webob's: plain text, or `{"code", "title", "message"}` JSON when the client accepts
//! JSON.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::config::MetadataConfig;
use crate::sign;
use crate::source::InstanceSource;
use crate::tree::{self, Item, TreeOptions};

/// Header names the proxy sets.
pub mod headers {
    /// The instance UUID.
    pub const INSTANCE_ID: &str = "x-instance-id";
    /// The instance's project.
    pub const TENANT_ID: &str = "x-tenant-id";
    /// Hex HMAC-SHA256 of the instance UUID with the shared secret.
    pub const SIGNATURE: &str = "x-instance-id-signature";
    /// The guest's address.
    pub const FORWARDED_FOR: &str = "x-forwarded-for";
}

/// Longest password a guest may post (Nova: 4 chunks of 255).
const MAX_PASSWORD: usize = 4 * 255;

struct Api {
    source: Arc<dyn InstanceSource>,
    secret: String,
    dhcp_domain: String,
    vendordata_static: serde_json::Value,
}

/// The metadata API router (serve it on the metadata port; any path, any method).
pub fn router(cfg: &MetadataConfig, source: Arc<dyn InstanceSource>) -> Router {
    let api = Arc::new(Api {
        source,
        secret: cfg.shared_secret.clone(),
        dhcp_domain: cfg.dhcp_domain.clone(),
        vendordata_static: cfg.vendordata_static.clone(),
    });
    Router::new().fallback(handle).with_state(api)
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

/// A webob-style error response.
fn fault(status: StatusCode, detail: &str, json: bool) -> Response {
    if json {
        let body = serde_json::json!({
            "code": status.as_u16(),
            "title": reason(status),
            "message": detail,
        });
        return (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    let body = format!(
        "{} {}\n\n{}\n\n   ",
        status.as_u16(),
        reason(status),
        detail
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

fn not_found(json: bool) -> Response {
    fault(
        StatusCode::NOT_FOUND,
        "The resource could not be found.",
        json,
    )
}

fn body(content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// One header as a string: `Ok(None)` when absent, `Err` when repeated or not UTF-8.
fn one<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut it = h.get_all(name).iter();
    let Some(v) = it.next() else {
        return Ok(None);
    };
    if it.next().is_some() {
        return Err(());
    }
    v.to_str().map(Some).map_err(|_| ())
}

async fn handle(State(api): State<Arc<Api>>, req: Request) -> Response {
    let (parts, req_body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let json = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    let bad = |m: &str| fault(StatusCode::BAD_REQUEST, m, json);
    if tree::is_root(&path) {
        return body("text/plain; charset=UTF-8", tree::root_listing());
    }
    let h = &parts.headers;
    let (Ok(instance_id), Ok(tenant_id), Ok(signature), Ok(address)) = (
        one(h, headers::INSTANCE_ID),
        one(h, headers::TENANT_ID),
        one(h, headers::SIGNATURE),
        one(h, headers::FORWARDED_FOR),
    ) else {
        return bad("Multiple X-Instance-ID, X-Tenant-ID, X-Instance-ID-Signature or X-Forwarded-For headers found within request.");
    };
    let Some(instance_id) = instance_id else {
        return bad("X-Instance-ID header is missing from request.");
    };
    let Some(signature) = signature else {
        return bad("X-Instance-ID-Signature header is missing from request.");
    };
    let Some(tenant_id) = tenant_id else {
        return bad("X-Tenant-ID header is missing from request.");
    };
    // X-Forwarded-For may be a list; the first entry is the guest.
    let address = address.map(|a| a.split(',').next().unwrap_or("").trim());
    if !sign::verify(&api.secret, instance_id, signature) {
        tracing::warn!(
            instance.id = instance_id,
            remote.addr = address.unwrap_or(""),
            "metadata request with an invalid proxy signature"
        );
        return fault(
            StatusCode::FORBIDDEN,
            "Invalid proxy request signature.",
            json,
        );
    }
    let md = match api.source.instance(instance_id).await {
        Ok(Some(md)) if md.project_id == tenant_id => md,
        Ok(Some(_)) => {
            tracing::warn!(
                instance.id = instance_id,
                project.id = tenant_id,
                "metadata request whose project does not own the instance"
            );
            return not_found(json);
        }
        Ok(None) => return not_found(json),
        Err(e) => {
            tracing::error!(instance.id = instance_id, error = %e, "metadata lookup failed");
            return fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unknown error has occurred. Please try your request again.",
                json,
            );
        }
    };
    let opts = TreeOptions {
        dhcp_domain: api.dhcp_domain.clone(),
        vendordata_static: api.vendordata_static.clone(),
        today: chrono::Utc::now().format("%Y-%m-%d").to_string(),
    };
    match tree::lookup(&md, &opts, &path, address) {
        None => not_found(json),
        Some(Item::Text(b)) => body("text/plain; charset=UTF-8", b),
        Some(Item::Json(b)) => body("application/json", b),
        Some(Item::Password) => match parts.method {
            Method::GET | Method::HEAD => body(
                "text/plain; charset=UTF-8",
                md.password.unwrap_or_default().into_bytes(),
            ),
            Method::POST => {
                if md.password.as_deref().is_some_and(|p| !p.is_empty()) {
                    return fault(
                        StatusCode::CONFLICT,
                        "There was a conflict when trying to complete your request.",
                        json,
                    );
                }
                let Ok(bytes) = axum::body::to_bytes(req_body, MAX_PASSWORD).await else {
                    return bad("Request is too large.");
                };
                let password = String::from_utf8_lossy(&bytes);
                match api.source.set_password(instance_id, &password).await {
                    Ok(()) => body("text/plain; charset=UTF-8", Vec::new()),
                    Err(e) => {
                        tracing::error!(instance.id = instance_id, error = %e, "storing the instance password failed");
                        fault(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "An unknown error has occurred. Please try your request again.",
                            json,
                        )
                    }
                }
            }
            _ => bad("GET and POST only are supported."),
        },
    }
}
