//! The Image API's routes, Glance's version negotiation (`/v2.1/images` is served as
//! `/v2/images`; unknown versions and `/` answer 300 with the version list), and the
//! helpers every handler shares: the error type (webob's JSON error document, plus
//! statuses the shared `Error` has no variant for: 410, 416), authentication, JSON
//! bodies with Glance's messages, query parsing and the image view.

mod data;
mod image;
mod import;
mod member;
mod metadef;
mod misc;
mod task;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use futures::StreamExt;
use rustack_api_common::fault::{glance_title, FaultStyle, GlanceStyle};
use rustack_common::Error;
use serde_json::Value;

use crate::access::Caller;
use crate::store::ImageRecord;
use crate::ImageService;

/// Shared state as handlers see it.
pub(crate) type St = axum::extract::State<Arc<ImageService>>;

/// Largest JSON request body accepted (bytes).
pub(crate) const MAX_JSON_BODY: usize = 1 << 20;

/// An error on its way out of a handler, rendered as Glance renders it.
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    status: Option<StatusCode>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with a status the shared [`Error`] has no variant for.
    pub fn status(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            error: Error::bad_request(message),
            status: Some(status),
            headers: vec![],
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: &str) -> ApiError {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError {
            error,
            status: None,
            headers: vec![],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Error::Internal { internal_message } = &self.error {
            tracing::error!(error = %internal_message, "request failed with an internal error");
        }
        let (status, body) = match self.status {
            Some(status) => {
                let code = status.as_u16();
                let title = glance_title(code);
                (
                    status,
                    serde_json::json!({"message": self.error.external_message(),
                        "code": format!("{code} {title}"), "title": title}),
                )
            }
            None => (
                StatusCode::from_u16(self.error.status_code())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                GlanceStyle::body(&self.error),
            ),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        GlanceStyle::headers(&self.error, resp.headers_mut());
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

/// Handler result.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// The whole Image API.
pub fn router(svc: Arc<ImageService>) -> Router {
    let v2 = Router::new()
        .route(
            "/v2/images",
            get(image::image_list).post(image::image_create),
        )
        .route(
            "/v2/images/{image_id}",
            get(image::image_show)
                .patch(image::image_update)
                .delete(image::image_delete),
        )
        .route(
            "/v2/images/{image_id}/file",
            get(data::image_download).put(data::image_upload),
        )
        .route("/v2/images/{image_id}/stage", put(data::image_stage))
        .route("/v2/images/{image_id}/import", post(import::image_import))
        .route("/v2/images/{image_id}/tasks", get(import::image_tasks))
        .route(
            "/v2/images/{image_id}/actions/deactivate",
            post(image::image_deactivate),
        )
        .route(
            "/v2/images/{image_id}/actions/reactivate",
            post(image::image_reactivate),
        )
        .route(
            "/v2/images/{image_id}/tags/{tag}",
            put(image::tag_add).delete(image::tag_delete),
        )
        .route(
            "/v2/images/{image_id}/members",
            get(member::member_list).post(member::member_create),
        )
        .route(
            "/v2/images/{image_id}/members/{member_id}",
            get(member::member_show)
                .put(member::member_update)
                .delete(member::member_delete),
        )
        .route("/v2/schemas/{name}", get(misc::schema_show))
        .route(
            "/v2/schemas/metadefs/{name}",
            get(misc::metadef_schema_show),
        )
        .route("/v2/tasks", get(task::task_list).post(task::task_create))
        .route("/v2/tasks/{task_id}", get(task::task_show))
        .route(
            "/v2/metadefs/resource_types",
            get(metadef::resource_type_list),
        )
        .route(
            "/v2/metadefs/namespaces",
            get(metadef::namespace_list).post(metadef::namespace_create),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}",
            get(metadef::namespace_show)
                .put(metadef::namespace_update)
                .delete(metadef::namespace_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/resource_types",
            get(metadef::association_list).post(metadef::association_create),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/resource_types/{name}",
            delete(metadef::association_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects",
            get(metadef::object_list)
                .post(metadef::object_create)
                .delete(metadef::objects_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/objects/{name}",
            get(metadef::object_show)
                .put(metadef::object_update)
                .delete(metadef::object_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties",
            get(metadef::property_list)
                .post(metadef::property_create)
                .delete(metadef::properties_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/properties/{name}",
            get(metadef::property_show)
                .put(metadef::property_update)
                .delete(metadef::property_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/tags",
            get(metadef::tag_list)
                .post(metadef::tags_create)
                .delete(metadef::tags_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{namespace}/tags/{name}",
            get(metadef::tag_show)
                .post(metadef::tag_create)
                .put(metadef::tag_update)
                .delete(metadef::tag_delete),
        )
        .route("/v2/info/import", get(import::info_import))
        .route("/v2/info/stores", get(import::info_stores))
        .route("/v2/info/usage", get(import::info_usage))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(svc.clone());
    let negotiated = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(svc.clone(), negotiate))
        .service(v2);
    Router::new()
        .route("/", get(misc::versions_multiple))
        .route("/versions", get(misc::versions_ok))
        .fallback_service(negotiated)
        .with_state(svc)
        .layer(axum::middleware::from_fn_with_state(
            "image",
            rustack_api_common::request_layer,
        ))
}

/// Glance's `VersionNegotiationFilter`: a known version prefix is rewritten to `/v2`,
/// anything else answers the version choices (300).
async fn negotiate(
    axum::extract::State(svc): axum::extract::State<Arc<ImageService>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if !percent_decodes_to_utf8(&path) {
        return ApiError::from(Error::bad_request(
            "Invalid URL: the path is not valid percent-encoded UTF-8.",
        ))
        .into_response();
    }
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    };
    if !rustack_image_api::VERSION_PREFIXES.contains(&first) {
        return misc::versions_response(&svc, req.headers(), StatusCode::MULTIPLE_CHOICES);
    }
    if first != "v2" {
        let new_path = format!("/v2{rest}");
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        if let Ok(uri) = pq.parse() {
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}

/// Whether `path`'s percent-decoding is UTF-8 (axum would otherwise answer a
/// plain-text 400 from its path extractor).
fn percent_decodes_to_utf8(path: &str) -> bool {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).is_ok()
}

async fn not_found() -> ApiError {
    Error::not_found("The resource could not be found.").into()
}

async fn method_not_allowed() -> ApiError {
    Error::MethodNotAllowed {
        message: "The method is not allowed for the requested URL.".into(),
    }
    .into()
}

/// Authenticates the request and builds its [`Caller`].
pub(crate) async fn caller(svc: &ImageService, headers: &HeaderMap) -> Result<Caller, Error> {
    let ctx = rustack_api_common::auth::authenticate(headers, svc.validator.as_ref()).await?;
    Ok(svc.caller(ctx))
}

/// `http://host:port` as the client addressed us, or the configured public endpoint.
pub(crate) fn base_url(svc: &ImageService, headers: &HeaderMap) -> String {
    if let Some(p) = &svc.cfg.public_endpoint {
        return p.trim_end_matches('/').to_string();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:9292");
    format!("http://{host}")
}

/// Reads a whole (small) body; 413 past `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Error::bad_request(format!("Error reading request body: {e}")))?;
        if out.len() + chunk.len() > limit {
            return Err(Error::over_quota(format!(
                "Request body is larger than the {limit} bytes accepted."
            ))
            .into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Glance's JSON body rules: a body is expected, it must parse, and be an object or
/// an array.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::bad_request("Body expected in request."));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Ok(v),
        Ok(_) => Err(Error::bad_request(
            "Unexpected body type. Expected list/dict.",
        )),
        Err(_) => Err(Error::bad_request("Malformed JSON in request body.")),
    }
}

/// Query parameters in order, repeated keys kept (`tag=a&tag=b`).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// A stored timestamp as Glance renders it (`YYYY-MM-DDThh:mm:ssZ`).
pub(crate) fn isotime(stored: &str) -> String {
    rustack_common::time::parse_iso(stored)
        .map(rustack_common::time::isotime_seconds)
        .unwrap_or_else(|| stored.to_string())
}

/// The API view of an image.
pub(crate) fn image_view(img: &ImageRecord) -> rustack_image_api::Image {
    let properties: BTreeMap<String, String> = img
        .properties
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("os_glance_stage_host") && !k.starts_with("os_glance_hash_op_host")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    rustack_image_api::Image {
        id: img.id.clone(),
        name: img.name.clone(),
        status: img.status.as_str().to_string(),
        visibility: img.visibility.as_str().to_string(),
        protected: img.protected,
        os_hidden: img.os_hidden,
        size: img.size.and_then(|s| u64::try_from(s).ok()),
        virtual_size: img.virtual_size.and_then(|s| u64::try_from(s).ok()),
        checksum: img.checksum.clone(),
        os_hash_algo: img.os_hash_algo.clone(),
        os_hash_value: img.os_hash_value.clone(),
        owner: img.owner.clone(),
        disk_format: img.disk_format.clone(),
        container_format: img.container_format.clone(),
        min_ram: img.min_ram,
        min_disk: img.min_disk,
        tags: img.tags.iter().cloned().collect(),
        created_at: isotime(&img.created_at),
        updated_at: isotime(&img.updated_at),
        self_link: format!("/v2/images/{}", img.id),
        file: format!("/v2/images/{}/file", img.id),
        schema: "/v2/schemas/image".into(),
        properties,
    }
}

/// A JSON response with Glance's content type.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => {
            ApiError::from(Error::internal(format!("serializing response: {e}"))).into_response()
        }
    }
}
