//! The Block Storage API's routes, the microversion middleware and shared handler
//! helpers.
//!
//! Every route is served both under `/v3/{project_id}/...` and `/v3/...` (3.67): a
//! request-rewriting layer in front of the router strips a project id segment (any
//! second segment that is not a top-level collection name) and remembers it; a
//! project id that is not the caller's is a 400 "Malformed request url", as Cinder.
//!
//! [`microversion_layer`] parses `OpenStack-API-Version: volume 3.x` (absent = 3.0,
//! `latest` = the newest), answers 400 for malformed and 406 for unsupported versions,
//! hands a [`Version`] to handlers, and sets `OpenStack-API-Version` and `Vary` on
//! every response, errors included.

mod actions;
mod attachments;
mod backups;
mod misc;
mod quotas;
mod snapshots;
mod transfers;
mod types;
mod volumes;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use rustack_api_common::AuthContext;
use rustack_block_api::microversion::MAX_MINOR;
use rustack_common::Error;
use serde_json::Value;

use crate::error::{bad, BResult, Fault};
use crate::BlockService;

/// Finishes deleting a backup (file, then row) for the reconciler; the backup's cloned
/// key stays in the key manager when no user token is at hand.
pub async fn backup_delete_work(svc: &BlockService, id: &str) -> BResult<()> {
    backups::delete_work(svc, None, id).await
}

/// The negotiated microversion (`3.minor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u16);

impl Version {
    /// True if this version is at least `3.minor`.
    pub fn at_least(self, minor: u16) -> bool {
        self.0 >= minor
    }
}

/// The project id the URL carried (`/v3/{project_id}/...`), if any.
#[derive(Clone, Debug)]
pub struct UrlProject(pub String);

type St = axum::extract::State<Arc<BlockService>>;

/// Top-level collection names (a second path segment that is none of these is a
/// project id).
const COLLECTIONS: &[&str] = &[
    "volumes",
    "snapshots",
    "types",
    "attachments",
    "extensions",
    "limits",
    "os-availability-zone",
    "os-quota-sets",
    "os-quota-class-sets",
    "os-services",
    "os-hosts",
    "scheduler-stats",
    "capabilities",
    "qos-specs",
    "messages",
    "os-volume-transfer",
    "volume-transfers",
    "backups",
    "groups",
    "group_types",
    "group_snapshots",
    "default-types",
    "workers",
    "clusters",
    "manageable_volumes",
    "manageable_snapshots",
    "resource_filters",
    "os-volume-manage",
    "os-snapshot-manage",
];

/// The whole Block Storage API.
pub fn router(svc: Arc<BlockService>) -> Router {
    let inner = Router::new()
        .route("/", get(misc::versions))
        .route("/v3", get(misc::v3_version))
        .route("/v3/", get(misc::v3_version))
        .route("/v3/extensions", get(misc::extensions))
        .route("/v3/limits", get(misc::limits))
        .route("/v3/os-availability-zone", get(misc::availability_zones))
        .route("/v3/volumes", get(volumes::list).post(volumes::create))
        .route("/v3/volumes/detail", get(volumes::detail))
        .route("/v3/volumes/summary", get(volumes::summary))
        .route(
            "/v3/volumes/{id}",
            get(volumes::show)
                .put(volumes::update)
                .delete(volumes::delete),
        )
        .route("/v3/volumes/{id}/action", post(actions::action))
        .route("/v3/volumes/{id}/encryption", get(volumes::encryption))
        .route(
            "/v3/volumes/{id}/encryption/{key}",
            get(volumes::encryption_key),
        )
        .route(
            "/v3/volumes/{id}/metadata",
            get(volumes::metadata_get)
                .post(volumes::metadata_post)
                .put(volumes::metadata_put),
        )
        .route(
            "/v3/volumes/{id}/metadata/{key}",
            get(volumes::metadata_item_get)
                .put(volumes::metadata_item_put)
                .delete(volumes::metadata_item_delete),
        )
        .route(
            "/v3/attachments",
            get(attachments::list).post(attachments::create),
        )
        .route("/v3/attachments/detail", get(attachments::detail))
        .route(
            "/v3/attachments/{id}",
            get(attachments::show)
                .put(attachments::update)
                .delete(attachments::delete),
        )
        .route("/v3/attachments/{id}/action", post(attachments::action))
        .route(
            "/v3/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route("/v3/snapshots/detail", get(snapshots::detail))
        .route(
            "/v3/snapshots/{id}",
            get(snapshots::show)
                .put(snapshots::update)
                .delete(snapshots::delete),
        )
        .route("/v3/snapshots/{id}/action", post(snapshots::action))
        .route(
            "/v3/snapshots/{id}/metadata",
            get(snapshots::metadata_get)
                .post(snapshots::metadata_post)
                .put(snapshots::metadata_put),
        )
        .route(
            "/v3/snapshots/{id}/metadata/{key}",
            get(snapshots::metadata_item_get)
                .put(snapshots::metadata_item_put)
                .delete(snapshots::metadata_item_delete),
        )
        .route("/v3/types", get(types::list).post(types::create))
        .route("/v3/types/default", get(types::default_type))
        .route(
            "/v3/types/{id}",
            get(types::show).put(types::update).delete(types::delete),
        )
        .route("/v3/types/{id}/action", post(types::action))
        .route(
            "/v3/types/{id}/os-volume-type-access",
            get(types::access_list),
        )
        .route(
            "/v3/types/{id}/extra_specs",
            get(types::specs_list).post(types::specs_create),
        )
        .route(
            "/v3/types/{id}/extra_specs/{key}",
            get(types::spec_show)
                .put(types::spec_update)
                .delete(types::spec_delete),
        )
        .route(
            "/v3/types/{id}/encryption",
            get(types::encryption_show).post(types::encryption_create),
        )
        .route(
            "/v3/types/{id}/encryption/{eid}",
            get(types::encryption_show_key)
                .put(types::encryption_update)
                .delete(types::encryption_delete),
        )
        .route(
            "/v3/os-volume-transfer",
            get(transfers::list).post(transfers::create),
        )
        .route("/v3/os-volume-transfer/detail", get(transfers::detail))
        .route(
            "/v3/os-volume-transfer/{id}",
            get(transfers::show).delete(transfers::delete),
        )
        .route(
            "/v3/os-volume-transfer/{id}/accept",
            post(transfers::accept),
        )
        .route(
            "/v3/volume-transfers",
            get(transfers::list).post(transfers::create),
        )
        .route("/v3/volume-transfers/detail", get(transfers::detail))
        .route(
            "/v3/volume-transfers/{id}",
            get(transfers::show).delete(transfers::delete),
        )
        .route("/v3/volume-transfers/{id}/accept", post(transfers::accept))
        .route("/v3/backups", get(backups::list).post(backups::create))
        .route("/v3/backups/detail", get(backups::detail))
        .route(
            "/v3/backups/{id}",
            get(backups::show)
                .put(backups::update)
                .delete(backups::delete),
        )
        .route("/v3/backups/{id}/action", post(backups::action))
        .route("/v3/backups/{id}/restore", post(backups::restore))
        .route("/v3/default-types", get(types::default_list))
        .route(
            "/v3/default-types/{project}",
            get(types::default_get)
                .put(types::default_set)
                .delete(types::default_unset),
        )
        .route(
            "/v3/qos-specs",
            get(types::qos_list).post(types::qos_create),
        )
        .route(
            "/v3/qos-specs/{id}",
            get(types::qos_show)
                .put(types::qos_update)
                .delete(types::qos_delete),
        )
        .route(
            "/v3/qos-specs/{id}/associations",
            get(types::qos_associations),
        )
        .route("/v3/qos-specs/{id}/associate", get(types::qos_associate))
        .route(
            "/v3/qos-specs/{id}/disassociate",
            get(types::qos_disassociate),
        )
        .route(
            "/v3/qos-specs/{id}/disassociate_all",
            get(types::qos_disassociate_all),
        )
        .route(
            "/v3/qos-specs/{id}/delete_keys",
            put(types::qos_delete_keys),
        )
        .route(
            "/v3/os-quota-sets/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route(
            "/v3/os-quota-sets/{project}/defaults",
            get(quotas::defaults),
        )
        .route(
            "/v3/os-quota-class-sets/{class}",
            get(quotas::class_show).put(quotas::class_update),
        )
        .route("/v3/os-services", get(misc::services))
        .route("/v3/os-services/{action}", put(misc::service_action))
        .route("/v3/os-hosts", get(misc::hosts))
        .route("/v3/os-hosts/{host}", get(misc::host_show))
        .route("/v3/scheduler-stats/get_pools", get(misc::pools))
        .route("/v3/capabilities/{host}", get(misc::capabilities))
        .route("/v3/messages", get(misc::messages))
        .route(
            "/v3/messages/{id}",
            get(misc::message_show).delete(misc::message_delete),
        )
        .route("/v3/clusters", get(misc::clusters))
        .route("/v3/clusters/detail", get(misc::clusters))
        .route("/v3/resource_filters", get(misc::resource_filters))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(svc)
        .layer(axum::middleware::from_fn(microversion_layer));
    Router::new()
        .fallback_service(inner)
        .layer(axum::middleware::map_request(strip_project))
        .layer(axum::middleware::from_fn_with_state(
            "block-storage",
            rustack_api_common::request_layer,
        ))
}

async fn not_found() -> Fault {
    Error::not_found("The resource could not be found.").into()
}

async fn method_not_allowed() -> Response {
    raw_fault(
        405,
        "badMethod",
        "The method is not allowed for this resource.",
    )
}

/// A fault body for statuses `rustack_common::Error` has no variant for (405, 406).
fn raw_fault(code: u16, key: &str, message: &str) -> Response {
    let status = axum::http::StatusCode::from_u16(code)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ key: {"code": code, "message": message} });
    (status, axum::Json(body)).into_response()
}

/// Strips `/v3/{project_id}` to `/v3` and records the project (see module docs).
async fn strip_project(mut req: Request) -> Request {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/v3/") else {
        return req;
    };
    let (seg, tail) = match rest.split_once('/') {
        Some((s, t)) => (s, Some(t)),
        None => (rest, None),
    };
    if seg.is_empty() || COLLECTIONS.contains(&seg) {
        return req;
    }
    let project = seg.to_string();
    let new_path = match tail {
        Some(t) => format!("/v3/{t}"),
        None => "/v3/".to_string(),
    };
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
            req.extensions_mut().insert(UrlProject(project));
        }
    }
    req
}

/// Parses the requested version: `Ok(None)` when absent; a ready error response
/// otherwise (400 malformed, 406 unsupported).
fn requested_version(headers: &HeaderMap) -> Result<Option<Version>, (u16, &'static str, String)> {
    for value in headers.get_all("openstack-api-version") {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut it = part.split_whitespace();
            let (Some(svc), Some(ver)) = (it.next(), it.next()) else {
                continue;
            };
            if !svc.eq_ignore_ascii_case("volume") {
                continue;
            }
            if ver.eq_ignore_ascii_case("latest") {
                return Ok(Some(Version(MAX_MINOR)));
            }
            let badv = || {
                (
                    400,
                    "badRequest",
                    format!("Invalid API version request string {ver}."),
                )
            };
            let (major, minor) = ver.split_once('.').ok_or_else(badv)?;
            let major: u16 = major.parse().map_err(|_| badv())?;
            let minor: u16 = minor.parse().map_err(|_| badv())?;
            if major != 3 || minor > MAX_MINOR {
                return Err((
                    406,
                    "computeFault",
                    format!(
                        "Version {ver} is not supported by the API. Minimum is 3.0 and maximum is 3.{MAX_MINOR}."
                    ),
                ));
            }
            return Ok(Some(Version(minor)));
        }
    }
    Ok(None)
}

/// The microversion middleware (see the module docs).
pub async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let (shown, mut resp) = match requested_version(req.headers()) {
        Ok(v) => {
            let v = v.unwrap_or(Version(0));
            req.extensions_mut().insert(v);
            (v, next.run(req).await)
        }
        Err((code, key, msg)) => (Version(0), raw_fault(code, key, &msg)),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("volume 3.{}", shown.0)) {
        resp.headers_mut().insert("openstack-api-version", v);
    }
    resp.headers_mut()
        .insert("vary", HeaderValue::from_static("OpenStack-API-Version"));
    resp
}

/// A request's caller: the validated context, the raw token (for calls to other
/// services on the caller's behalf), the version and the URL base for links.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The validated token's context.
    pub ctx: AuthContext,
    /// The caller's token.
    pub token: String,
    /// The negotiated version.
    pub version: Version,
    /// `http://host:port` as the client addressed us.
    pub origin: String,
    /// The caller's project ("" for unscoped tokens).
    pub project: String,
}

impl Caller {
    /// True for an admin (Cinder's `context.is_admin`).
    pub fn is_admin(&self) -> bool {
        self.ctx.has_role("admin")
    }

    /// `self` and `bookmark` links for `collection/id`.
    pub fn links(&self, collection: &str, id: &str) -> Value {
        serde_json::json!([
            {"href": format!("{}/v3/{}/{collection}/{id}", self.origin, self.project), "rel": "self"},
            {"href": format!("{}/{}/{collection}/{id}", self.origin, self.project), "rel": "bookmark"},
        ])
    }

    /// The URL of a collection (for `next` links).
    pub fn collection_url(&self, collection: &str) -> String {
        format!("{}/v3/{}/{collection}", self.origin, self.project)
    }
}

/// Authenticates the request and checks a URL project id against the token's.
pub(crate) async fn caller(
    svc: &BlockService,
    headers: &HeaderMap,
    version: Version,
    url_project: Option<&UrlProject>,
) -> BResult<Caller> {
    let ctx = rustack_api_common::auth::authenticate(headers, svc.validator.as_ref()).await?;
    let token = headers
        .get(rustack_api_common::X_AUTH_TOKEN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let project = ctx.project_id.clone().unwrap_or_default();
    if let Some(UrlProject(p)) = url_project {
        if *p != project {
            return Err(bad("Malformed request url"));
        }
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    Ok(Caller {
        ctx,
        token,
        version,
        origin: format!("http://{host}"),
        project,
    })
}

/// Parses a JSON body as an object.
pub(crate) fn body_obj(bytes: &[u8]) -> BResult<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(bad("Malformed request body")),
    }
}

/// Query parameters in order.
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Common extractor bundle: state, version, url project, headers.
pub(crate) async fn begin(
    svc: &BlockService,
    headers: &HeaderMap,
    v: Option<axum::Extension<Version>>,
    p: Option<axum::Extension<UrlProject>>,
) -> BResult<Caller> {
    let version = v.map(|e| e.0).unwrap_or(Version(0));
    caller(svc, headers, version, p.as_ref().map(|e| &e.0)).await
}

/// Parses a `true`/`false` style flag as Cinder's `strutils.bool_from_string(strict)`.
pub(crate) fn parse_bool(v: &Value, field: &str) -> BResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Ok(true),
            "false" | "0" | "no" | "n" | "off" | "f" => Ok(false),
            _ => Err(bad(format!(
                "Invalid input for field/attribute {field}. Value: {s}. Expected a boolean."
            ))),
        },
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        other => Err(bad(format!(
            "Invalid input for field/attribute {field}. Value: {other}. Expected a boolean."
        ))),
    }
}

/// `202 Accepted` with no body.
pub(crate) fn accepted() -> Response {
    axum::http::StatusCode::ACCEPTED.into_response()
}

/// `200` with a JSON body.
pub(crate) fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// A status with a JSON body.
pub(crate) fn with_status(code: u16, v: Value) -> Response {
    let status = axum::http::StatusCode::from_u16(code).unwrap_or(axum::http::StatusCode::OK);
    (status, axum::Json(v)).into_response()
}
