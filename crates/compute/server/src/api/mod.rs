//! The Compute API's router and thin handlers.
//!
//! Every `/v2.1/...` route (except the version document) goes through [`api_layer`]:
//! it authenticates `X-Auth-Token` (401 first, as keystonemiddleware answers before
//! nova), negotiates the microversion (400 malformed, 406 out of range), and echoes the
//! version back in `OpenStack-API-Version` and `X-OpenStack-Nova-API-Version` with
//! `Vary`. Handlers receive both as a [`Ctx`]. The outermost layers add
//! `x-openstack-request-id` and the same value as `x-compute-request-id` to every
//! response.
//!
//! Each resource module exposes `routes() -> Router<AppState>` with its full paths;
//! [`api_routes`] merges them.

pub mod aggregate;
pub mod audit_log;
pub mod extension;
pub mod flavor;
pub mod host;
pub mod hosts_legacy;
pub mod image;
pub mod keypair;
pub mod limits;
pub mod network_proxy;
pub mod params;
pub mod quota;
pub mod server_group;
pub mod usage;
pub mod version;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rustack_api_common::{AuthContext, RequestId, TokenValidator};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;

use crate::app::Compute;
use crate::error::{resource_not_found, ApiError, ApiResult};

/// The response header carrying the request id under nova's own name (the id
/// `os-instance-actions` records).
pub const X_COMPUTE_REQUEST_ID: &str = "x-compute-request-id";

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The app layer.
    pub compute: Arc<Compute>,
    /// Validates `X-Auth-Token`.
    pub validator: Arc<dyn TokenValidator>,
}

/// The authenticated caller, the negotiated microversion and the request id of a
/// `/v2.1` request (put in place by [`api_layer`]).
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Who is calling.
    pub auth: AuthContext,
    /// The negotiated microversion.
    pub version: ApiVersion,
    /// `req-<uuid>`, as in `x-compute-request-id`.
    pub request_id: String,
    /// The caller's own token (forwarded to Block Storage and the key manager, as
    /// Nova forwards the request context's token).
    pub token: UserToken,
}

/// A caller's Keystone token; `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserToken(pub String);

impl std::fmt::Debug for UserToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserToken(<redacted>)")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .ok_or_else(|| Error::internal("route without the compute api layer"))?;
        let version = parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(rustack_compute_api::microversion::MIN);
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let token = UserToken(
            parts
                .headers
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        );
        Ok(Ctx {
            auth,
            version,
            request_id,
            token,
        })
    }
}

/// The whole Compute API.
pub fn router(compute: Arc<Compute>, validator: Arc<dyn TokenValidator>) -> Router {
    use tower::ServiceExt;
    // Nova also serves every URL with the project id after the version
    // (`/v2.1/{project_id}/servers`, what older catalogs carry): strip it before routing.
    let inner = routes(compute, validator).map_request(strip_project_id);
    Router::new().fallback_service(inner)
}

/// `/v2.1/<32 hex>/rest` → `/v2.1/rest` (keystone project ids are 32 hex characters;
/// no collection name looks like one).
fn strip_project_id(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v2.1/") else {
        return req;
    };
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if first.len() != 32 || !first.bytes().all(|b| b.is_ascii_hexdigit()) {
        return req;
    }
    let mut new = format!("/v2.1/{tail}");
    if tail.is_empty() {
        new.pop();
    }
    if let Some(q) = req.uri().query() {
        new.push('?');
        new.push_str(q);
    }
    if let Ok(uri) = new.parse() {
        *req.uri_mut() = uri;
    }
    req
}

fn routes(compute: Arc<Compute>, validator: Arc<dyn TokenValidator>) -> Router {
    let state = AppState { compute, validator };
    Router::new()
        .route("/", get(version::versions))
        .route("/v2", get(version::v20))
        .route("/v2/", get(version::v20))
        .route("/v2.1", get(version::v21))
        .route("/v2.1/", get(version::v21))
        .merge(
            api_routes()
                .fallback(not_found)
                .method_not_allowed_fallback(method_not_allowed)
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    api_layer,
                )),
        )
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            "compute",
            rustack_api_common::request_layer,
        ))
        .layer(axum::middleware::map_response(compute_request_id))
}

/// Every authenticated `/v2.1/...` route, from each resource module.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(aggregate::routes())
        .merge(audit_log::routes())
        .merge(hosts_legacy::routes())
        .merge(extension::routes())
        .merge(flavor::routes())
        .merge(host::routes())
        .merge(image::routes())
        .merge(keypair::routes())
        .merge(limits::routes())
        .merge(network_proxy::routes())
        .merge(quota::routes())
        .merge(server_group::routes())
        .merge(usage::routes())
        .merge(crate::servers::api::routes())
        .merge(crate::servers::diagnostics::routes())
        .merge(crate::servers::ops::routes())
        .merge(crate::volumes::api::routes())
}

async fn not_found() -> ApiError {
    resource_not_found().into()
}

async fn method_not_allowed() -> ApiError {
    Error::MethodNotAllowed {
        message: "The server could not comply with the request since it is either malformed or otherwise incorrect.".into(),
    }
    .into()
}

/// Copies `x-openstack-request-id` to `x-compute-request-id` (nova sends both).
async fn compute_request_id(mut resp: Response) -> Response {
    if let Some(v) = resp
        .headers()
        .get(rustack_api_common::X_OPENSTACK_REQUEST_ID)
        .cloned()
    {
        resp.headers_mut().insert(X_COMPUTE_REQUEST_ID, v);
    }
    resp
}

/// Authentication, microversion negotiation and the version response headers.
pub async fn api_layer(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let auth =
        match rustack_api_common::auth::authenticate(req.headers(), st.validator.as_ref()).await {
            Ok(a) => a,
            Err(e) => return ApiError::from(e).into_response(),
        };
    let version = match version::requested(req.headers(), st.compute.max_version()) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    req.extensions_mut().insert(auth);
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    version::echo(version, resp.headers_mut());
    resp
}

/// `http://host:port` as the client addressed us.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:8774");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// Parses a JSON request body with nova-style 400s.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    Ok(rustack_api_common::parse_json(bytes)?)
}
