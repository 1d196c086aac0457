//! The Placement API's routes, the microversion middleware and shared handler helpers.
//!
//! [`microversion_layer`] parses `OpenStack-API-Version: placement 1.x` (absent =
//! 1.0, `latest` = the newest), answers 400 for malformed and 406 for unsupported
//! versions, hands a [`Version`] to handlers, echoes the version with
//! `Vary: OpenStack-API-Version` on every response, and renders [`PlacementError`]s
//! (code only from 1.23, as upstream). Handlers branch on the version only to pick a
//! request schema or a response shape.

mod allocation;
mod provider;
mod resource;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustack_api_common::{AuthContext, RequestId};
use rustack_placement_api::MAX_MINOR;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::error::{PResult, PlacementError};
use crate::PlacementService;

/// The negotiated microversion (`1.minor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u16);

impl Version {
    /// True if this version is at least `1.minor`.
    pub fn at_least(self, minor: u16) -> bool {
        self.0 >= minor
    }
}

type St = axum::extract::State<Arc<PlacementService>>;

/// The whole Placement API.
pub fn router(svc: Arc<PlacementService>) -> Router {
    Router::new()
        .route("/", get(root))
        .route(
            "/resource_providers",
            get(provider::list).post(provider::create),
        )
        .route(
            "/resource_providers/{uuid}",
            get(provider::show)
                .put(provider::update)
                .delete(provider::delete),
        )
        .route(
            "/resource_providers/{uuid}/inventories",
            get(provider::inventories_list)
                .put(provider::inventories_put)
                .post(provider::inventory_create)
                .delete(provider::inventories_delete),
        )
        .route(
            "/resource_providers/{uuid}/inventories/{rc}",
            get(provider::inventory_show)
                .put(provider::inventory_put)
                .delete(provider::inventory_delete),
        )
        .route(
            "/resource_providers/{uuid}/traits",
            get(provider::traits_list)
                .put(provider::traits_put)
                .delete(provider::traits_delete),
        )
        .route(
            "/resource_providers/{uuid}/aggregates",
            get(provider::aggregates_list).put(provider::aggregates_put),
        )
        .route("/resource_providers/{uuid}/usages", get(provider::usages))
        .route(
            "/resource_providers/{uuid}/allocations",
            get(provider::allocations),
        )
        .route(
            "/resource_classes",
            get(resource::classes_list).post(resource::class_create),
        )
        .route(
            "/resource_classes/{name}",
            get(resource::class_show)
                .put(resource::class_put)
                .delete(resource::class_delete),
        )
        .route("/traits", get(resource::traits_list))
        .route(
            "/traits/{name}",
            get(resource::trait_show)
                .put(resource::trait_put)
                .delete(resource::trait_delete),
        )
        .route("/allocations", axum::routing::post(allocation::post))
        .route(
            "/allocations/{consumer}",
            get(allocation::show)
                .put(allocation::put)
                .delete(allocation::delete),
        )
        .route("/usages", get(allocation::usages))
        .route("/allocation_candidates", get(allocation::candidates))
        .route("/reshaper", axum::routing::post(allocation::reshape))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(svc)
        .layer(axum::middleware::from_fn(microversion_layer))
        .layer(axum::middleware::from_fn_with_state(
            "placement",
            rustack_api_common::request_layer,
        ))
}

async fn not_found() -> PlacementError {
    PlacementError::not_found("The resource could not be found.")
}

async fn method_not_allowed(method: Method) -> PlacementError {
    PlacementError::new(
        405,
        rustack_placement_api::codes::DEFAULT,
        format!("The method specified is not allowed for this resource: {method}"),
    )
}

/// Parses the requested version: `Ok(None)` when absent.
fn requested_version(headers: &HeaderMap) -> Result<Option<Version>, PlacementError> {
    for value in headers.get_all("openstack-api-version") {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut it = part.split_whitespace();
            let (Some(svc), Some(ver)) = (it.next(), it.next()) else {
                continue;
            };
            if !svc.eq_ignore_ascii_case("placement") {
                continue;
            }
            if ver.eq_ignore_ascii_case("latest") {
                return Ok(Some(Version(MAX_MINOR)));
            }
            let bad = || PlacementError::bad_request(format!("invalid version string: {ver}"));
            let (major, minor) = ver.split_once('.').ok_or_else(bad)?;
            let major: u16 = major.parse().map_err(|_| bad())?;
            let minor: u16 = minor.parse().map_err(|_| bad())?;
            if major != 1 || minor > MAX_MINOR {
                let mut e = PlacementError::new(
                    406,
                    rustack_placement_api::codes::DEFAULT,
                    format!("Unacceptable version header: {ver}"),
                );
                e.version_bounds = true;
                return Err(e);
            }
            return Ok(Some(Version(minor)));
        }
    }
    Ok(None)
}

/// The microversion middleware (see the module docs).
pub async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let parsed = requested_version(req.headers());
    let parsed = parsed.and_then(|v| {
        if req.method() == Method::GET && !accepts_json(req.headers()) {
            return Err(PlacementError::new(
                406,
                rustack_placement_api::codes::DEFAULT,
                "Only application/json is provided",
            ));
        }
        Ok(v)
    });
    let (version, mut resp) = match parsed {
        Ok(v) => {
            let v = v.unwrap_or(Version(0));
            req.extensions_mut().insert(v);
            (Some(v), next.run(req).await)
        }
        Err(e) => (None, e.into_response()),
    };
    if let Some(err) = resp.extensions_mut().remove::<PlacementError>() {
        let with_code = version.is_some_and(|v| v.at_least(23));
        let body = err.body(request_id.as_deref(), with_code, MAX_MINOR);
        let status = resp.status();
        let mut headers = resp.headers().clone();
        resp = (status, Json(body)).into_response();
        headers.remove("content-length");
        headers.remove("content-type");
        resp.headers_mut().extend(headers);
    }
    let shown = version.unwrap_or(Version(0));
    if let Ok(v) = HeaderValue::from_str(&format!("placement 1.{}", shown.0)) {
        resp.headers_mut().insert("openstack-api-version", v);
    }
    resp.headers_mut()
        .insert("vary", HeaderValue::from_static("openstack-api-version"));
    resp
}

/// True unless an explicit `Accept` header rules JSON out (placement's `check_accept`).
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if accept.trim().is_empty() {
        return true;
    }
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f64>().ok())
                == Some(0.0)
        });
        !refused && matches!(media.as_str(), "application/json" | "application/*" | "*/*")
    })
}

async fn root() -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v1.0",
        "max_version": format!("1.{MAX_MINOR}"),
        "min_version": "1.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": ""}],
    }]}))
}

/// Authenticates and authorizes a request against `rule`.
pub(crate) async fn authorize(
    svc: &PlacementService,
    headers: &HeaderMap,
    rule: &str,
) -> PResult<AuthContext> {
    let ctx = rustack_api_common::auth::authenticate(headers, svc.validator.as_ref()).await?;
    svc.authorize(&ctx, rule, None)?;
    Ok(ctx)
}

/// Parses a JSON body as `T` with placement's 400 messages; requires
/// `Content-Type: application/json` (415 otherwise).
pub(crate) fn body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> PResult<T> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("None");
    if !ct
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(PlacementError::new(
            415,
            rustack_placement_api::codes::DEFAULT,
            format!("The media type {ct} is not supported, use application/json"),
        ));
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| PlacementError::bad_request(format!("Malformed JSON: {e}")))?;
    serde_json::from_value(v)
        .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))
}

/// Query parameters in order, repeated keys kept.
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// 400 for query parameters outside `allowed` (placement's schemas forbid extras).
pub(crate) fn check_params(
    params: &[(String, String)],
    allowed: impl Fn(&str) -> bool,
) -> PResult<()> {
    for (k, _) in params {
        if !allowed(k) {
            return Err(PlacementError::bad_request(format!(
                "Invalid query string parameters: Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
    }
    Ok(())
}

/// The single value of `key` (400 `placement.query.duplicate_key` if repeated).
pub(crate) fn single<'a>(params: &'a [(String, String)], key: &str) -> PResult<Option<&'a str>> {
    let mut it = params.iter().filter(|(k, _)| k == key);
    let first = it.next().map(|(_, v)| v.as_str());
    if it.next().is_some() {
        return Err(PlacementError::new(
            400,
            rustack_placement_api::codes::ILLEGAL_DUPLICATE_QUERYPARAM,
            format!("Query parameter '{key}' may only appear once."),
        ));
    }
    Ok(first)
}

/// Adds 1.15's `last-modified` and `cache-control` headers.
pub(crate) fn with_cache_headers(
    v: Version,
    mut resp: Response,
    modified: Option<&str>,
) -> Response {
    if v.at_least(15) {
        let when = modified
            .and_then(|m| chrono::DateTime::parse_from_rfc3339(m).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_else(chrono::Utc::now);
        if let Ok(h) = HeaderValue::from_str(&when.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        {
            resp.headers_mut().insert("last-modified", h);
        }
        resp.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
    }
    resp
}

/// Normalises a UUID (dashes optional, any case) or fails with `what`.
pub(crate) fn parse_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s).ok().map(|u| u.to_string())
}
