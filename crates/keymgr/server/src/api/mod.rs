//! The Key Manager API's routes, the microversion middleware and shared handler helpers.
//!
//! [`microversion_layer`] parses `OpenStack-API-Version: key-manager 1.x` (absent =
//! 1.0, `latest` = 1.2), answers 400 for malformed and 406 for unsupported versions,
//! hands a [`Version`] to handlers and echoes the version with
//! `Vary: OpenStack-API-Version`. Handlers branch on the version only to pick a
//! response shape (1.0 hides `consumers`) or the 1.2 delete rule.

mod acl;
mod container;
mod order;
mod quota;
mod secret;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustack_api_common::AuthContext;
use rustack_keymgr_api::MAX_MINOR;
use serde_json::{json, Map, Value};

use crate::error::{KmError, KmResult};
use crate::store::SecretRow;
use crate::KeyManagerService;

/// The negotiated microversion (`1.minor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u16);

impl Version {
    /// True if this version is at least `1.minor`.
    pub fn at_least(self, minor: u16) -> bool {
        self.0 >= minor
    }
}

type St = axum::extract::State<Arc<KeyManagerService>>;

/// The whole Key Manager API.
pub fn router(svc: Arc<KeyManagerService>) -> Router {
    use axum::routing::post;
    Router::new()
        .route("/", get(versions))
        .route("/v1", get(version_v1))
        .route("/v1/", get(version_v1))
        .route("/v1/secrets", get(secret::list).post(secret::create))
        .route("/v1/secrets/", get(secret::list).post(secret::create))
        .route(
            "/v1/secrets/{id}",
            get(secret::show).put(secret::put).delete(secret::delete),
        )
        .route("/v1/secrets/{id}/payload", get(secret::payload))
        .route(
            "/v1/secrets/{id}/consumers",
            get(secret::consumers_list)
                .post(secret::consumer_add)
                .delete(secret::consumer_remove),
        )
        .route(
            "/v1/secrets/{id}/consumers/",
            get(secret::consumers_list)
                .post(secret::consumer_add)
                .delete(secret::consumer_remove),
        )
        .route(
            "/v1/secrets/{id}/metadata",
            get(secret::metadata_get)
                .put(secret::metadata_put)
                .post(secret::metadatum_add),
        )
        .route(
            "/v1/secrets/{id}/metadata/",
            get(secret::metadata_get)
                .put(secret::metadata_put)
                .post(secret::metadatum_add),
        )
        .route(
            "/v1/secrets/{id}/metadata/{key}",
            get(secret::metadatum_get)
                .put(secret::metadatum_put)
                .delete(secret::metadatum_delete),
        )
        .route(
            "/v1/secrets/{id}/acl",
            get(acl::secret_get)
                .put(acl::secret_put)
                .patch(acl::secret_patch)
                .delete(acl::secret_delete),
        )
        .route(
            "/v1/containers",
            get(container::list).post(container::create),
        )
        .route(
            "/v1/containers/",
            get(container::list).post(container::create),
        )
        .route(
            "/v1/containers/{id}",
            get(container::show).delete(container::delete),
        )
        .route(
            "/v1/containers/{id}/secrets",
            post(container::secret_add).delete(container::secret_remove),
        )
        .route(
            "/v1/containers/{id}/consumers",
            get(container::consumers_list)
                .post(container::consumer_add)
                .delete(container::consumer_remove),
        )
        .route(
            "/v1/containers/{id}/consumers/",
            get(container::consumers_list)
                .post(container::consumer_add)
                .delete(container::consumer_remove),
        )
        .route(
            "/v1/containers/{id}/acl",
            get(acl::container_get)
                .put(acl::container_put)
                .patch(acl::container_patch)
                .delete(acl::container_delete),
        )
        .route(
            "/v1/orders",
            get(order::list).post(order::create).put(order::update),
        )
        .route(
            "/v1/orders/",
            get(order::list).post(order::create).put(order::update),
        )
        .route("/v1/orders/{id}", get(order::show).delete(order::delete))
        .route("/v1/quotas", get(quota::effective))
        .route("/v1/project-quotas", get(quota::list))
        .route(
            "/v1/project-quotas/{project}",
            get(quota::show).put(quota::set).delete(quota::remove),
        )
        .route("/v1/secret-stores", get(quota::stores))
        .route("/v1/secret-stores/global-default", get(quota::stores))
        .route("/v1/secret-stores/preferred", get(quota::stores))
        .route("/v1/secret-stores/{id}", get(quota::stores))
        .route(
            "/v1/secret-stores/{id}/preferred",
            post(quota::stores).delete(quota::stores),
        )
        .route("/v1/transport_keys", get(quota::stores).post(quota::stores))
        .route(
            "/v1/transport_keys/{id}",
            get(quota::stores).delete(quota::stores),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(svc)
        .layer(axum::middleware::from_fn(microversion_layer))
        .layer(axum::middleware::from_fn_with_state(
            "key-manager",
            rustack_api_common::request_layer,
        ))
}

async fn not_found() -> KmError {
    KmError::not_found("The resource could not be found.")
}

async fn method_not_allowed() -> KmError {
    KmError::new(405, "The method is not allowed for the requested URL.")
}

/// Parses the requested version: `Ok(None)` when absent.
fn requested_version(headers: &HeaderMap) -> Result<Option<Version>, KmError> {
    for value in headers.get_all("openstack-api-version") {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut it = part.split_whitespace();
            let (Some(svc), Some(ver)) = (it.next(), it.next()) else {
                continue;
            };
            if !svc.eq_ignore_ascii_case("key-manager") {
                continue;
            }
            if ver.eq_ignore_ascii_case("latest") {
                return Ok(Some(Version(MAX_MINOR)));
            }
            let bad = || KmError::bad_request(format!("Invalid version string: {ver}"));
            let (major, minor) = ver.split_once('.').ok_or_else(bad)?;
            let major: u16 = major.parse().map_err(|_| bad())?;
            let minor: u16 = minor.parse().map_err(|_| bad())?;
            if major != 1 || minor > MAX_MINOR {
                return Err(KmError::new(
                    406,
                    format!(
                        "Version {ver} is not supported by the API. Minimum is 1.0 and maximum is 1.{MAX_MINOR}."
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
        Err(e) => (Version(0), e.into_response()),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("key-manager 1.{}", shown.0)) {
        resp.headers_mut().insert("openstack-api-version", v);
    }
    resp.headers_mut()
        .insert("vary", HeaderValue::from_static("OpenStack-API-Version"));
    resp
}

fn version_info(base: &str, v: Version) -> Value {
    let mut info = json!({
        "id": "v1",
        "status": "CURRENT",
        "min_version": "1.0",
        "max_version": format!("1.{MAX_MINOR}"),
        "links": [
            {"rel": "self", "href": format!("{base}/v1/")},
            {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
        ],
    });
    if !v.at_least(1) {
        if let Some(m) = info.as_object_mut() {
            m.remove("min_version");
            m.remove("max_version");
            m.insert("status".into(), json!("stable"));
            m.insert(
                "media-types".into(),
                json!([{"base": "application/json",
                        "type": "application/vnd.openstack.key-manager-v1+json"}]),
            );
        }
    }
    info
}

async fn versions(
    axum::extract::State(svc): St,
    axum::Extension(v): axum::Extension<Version>,
    headers: HeaderMap,
) -> Response {
    let base = svc.base_url(&headers);
    let body = if v.at_least(1) {
        json!({"versions": [version_info(&base, v)]})
    } else {
        json!({"versions": {"values": [version_info(&base, v)]}})
    };
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

async fn version_v1(
    axum::extract::State(svc): St,
    axum::Extension(v): axum::Extension<Version>,
    headers: HeaderMap,
) -> KmResult<Json<Value>> {
    svc.authenticate(&headers).await?;
    Ok(Json(
        json!({"version": version_info(&svc.base_url(&headers), v)}),
    ))
}

impl KeyManagerService {
    /// The base of the refs: the configured public URL or `http://<Host>`.
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(u) = &self.cfg.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost:9311");
        format!("http://{host}")
    }

    /// Validates the request's token (401 otherwise).
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> KmResult<AuthContext> {
        rustack_api_common::auth::authenticate(headers, self.validator.as_ref())
            .await
            .map_err(|_| KmError::unauthenticated())
    }

    /// Barbican's flattened policy target for a secret or container as seen by `ctx`
    /// (ACL users and project access, owner project and creator).
    pub(crate) async fn entity_target(
        &self,
        ctx: &AuthContext,
        kind: &str,
        id: &str,
        project_id: &str,
        creator_id: &str,
        operation: &str,
    ) -> KmResult<Value> {
        let acl = self
            .store
            .acl_get(kind, id)
            .await
            .map_err(|e| KmError::internal(operation, e))?;
        let mut t = Map::new();
        t.insert(format!("target.{kind}.project_id"), json!(project_id));
        t.insert(format!("target.{kind}.creator_id"), json!(creator_id));
        match acl {
            Some(a) => {
                if a.users.iter().any(|u| u == &ctx.user_id) {
                    t.insert(format!("target.{kind}.read"), json!("read"));
                }
                t.insert(
                    format!("target.{kind}.read_project_access"),
                    json!(a.project_access),
                );
            }
            None => {
                t.insert(format!("target.{kind}.read_project_access"), json!(true));
            }
        }
        Ok(Value::Object(t))
    }

    /// Loads a live secret (404 as Barbican for a bad id or a missing secret) and
    /// enforces `rule` against it.
    pub(crate) async fn secret_for(
        &self,
        ctx: &AuthContext,
        id: &str,
        rule: &str,
        operation: &str,
    ) -> KmResult<SecretRow> {
        let s = self.secret_lookup(id, operation).await?;
        let target = self
            .entity_target(
                ctx,
                "secret",
                &s.id,
                &s.project_id,
                &s.creator_id,
                operation,
            )
            .await?;
        self.authorize(ctx, rule, operation, target)?;
        Ok(s)
    }

    /// Loads a live, unexpired secret.
    pub(crate) async fn secret_lookup(&self, id: &str, operation: &str) -> KmResult<SecretRow> {
        let Some(id) = parse_uuid(id) else {
            return Err(KmError::not_found(
                "Not Found. Provided secret id is invalid.",
            ));
        };
        let s = self
            .store
            .secret_get(&id)
            .await
            .map_err(|e| KmError::internal(operation, e))?
            .filter(|s| !expired(s.expiration.as_deref()))
            .ok_or_else(|| KmError::not_found("Secret not found."))?;
        Ok(s)
    }

    /// Enforces a quota kind (index into `QUOTA_KINDS`) given the current count.
    pub(crate) async fn check_quota(
        &self,
        project: &str,
        kind: usize,
        current: i64,
        operation: &str,
    ) -> KmResult<()> {
        let limit = self.effective_quotas(project, operation).await?[kind];
        if limit >= 0 && current >= limit {
            return Err(KmError::quota(operation));
        }
        Ok(())
    }

    /// The quotas in force for `project`.
    pub(crate) async fn effective_quotas(
        &self,
        project: &str,
        operation: &str,
    ) -> KmResult<[i64; 5]> {
        let c = &self.cfg;
        let mut q = [
            c.quota_secrets,
            c.quota_orders,
            c.quota_containers,
            c.quota_consumers,
            c.quota_cas,
        ];
        if let Some(o) = self
            .store
            .quota_get(project)
            .await
            .map_err(|e| KmError::internal(operation, e))?
        {
            for (slot, v) in q.iter_mut().zip(o) {
                if let Some(v) = v {
                    *slot = v;
                }
            }
        }
        Ok(q)
    }
}

/// True if `expiration` (naive UTC ISO 8601) is in the past.
pub(crate) fn expired(expiration: Option<&str>) -> bool {
    let Some(e) = expiration else { return false };
    chrono::NaiveDateTime::parse_from_str(e, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t < chrono::Utc::now().naive_utc())
        .unwrap_or(false)
}

/// Parses an ISO 8601 time (with or without zone; a zone is converted to UTC) into
/// Barbican's naive UTC form.
pub(crate) fn parse_time(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.naive_utc());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Formats a naive UTC time as Barbican shows it.
pub(crate) fn fmt_time(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// A stored time as Barbican shows it: `isoformat()` of a whole-second time (its
/// MySQL/PostgreSQL columns keep no fraction); rustack keeps microseconds for ordering.
pub(crate) fn show_time(t: &str) -> String {
    t.split('.').next().unwrap_or(t).to_owned()
}

/// Normalises a UUID (any case, dashes optional).
pub(crate) fn parse_uuid(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s).ok().map(|u| u.to_string())
}

/// The last segment of a ref (`…/secrets/<uuid>`), as Barbican's `get_id_from_ref`.
pub(crate) fn ref_id(r: &str) -> &str {
    r.trim_end_matches('/').rsplit('/').next().unwrap_or(r)
}

/// Query parameters in order.
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The last value of `key`.
pub(crate) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Barbican's `clean_paging_values`: offset >= 0 (default 0), 1 <= limit <= 100
/// (default 10); unparsable values fall back to the defaults.
pub(crate) fn paging(params: &[(String, String)]) -> (usize, usize) {
    let offset = param(params, "offset")
        .and_then(|o| o.parse::<i64>().ok())
        .map(|o| o.max(0) as usize)
        .unwrap_or(0);
    let limit = param(params, "limit")
        .and_then(|l| l.parse::<i64>().ok())
        .map(|l| l.clamp(1, 100) as usize)
        .unwrap_or(10);
    (offset, limit)
}

/// A page of `items` (all matches) with Barbican's `total`, `next` and `previous` links.
pub(crate) fn page(
    base: &str,
    resource: &str,
    key: &str,
    items: Vec<Value>,
    offset: usize,
    limit: usize,
    params: &[(String, String)],
) -> Value {
    let total = items.len();
    let shown: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    page_of(base, resource, key, total, shown, offset, limit, params)
}

/// A page given the `shown` items (already cut at `offset`/`limit`) and the `total`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn page_of(
    base: &str,
    resource: &str,
    key: &str,
    total: usize,
    shown: Vec<Value>,
    offset: usize,
    limit: usize,
    params: &[(String, String)],
) -> Value {
    let mut out = Map::new();
    let extra: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().filter(|(k, _)| k != "limit" && k != "offset"))
        .finish();
    let link = |off: usize| {
        let mut s = format!("{base}/v1/{resource}?limit={limit}&offset={off}");
        if !extra.is_empty() {
            s.push('&');
            s.push_str(&extra);
        }
        s
    };
    if !shown.is_empty() {
        if offset > 0 {
            out.insert("previous".into(), json!(link(offset.saturating_sub(limit))));
        }
        if total > offset + limit {
            out.insert("next".into(), json!(link(offset + limit)));
        }
    }
    out.insert(key.into(), Value::Array(shown));
    out.insert("total".into(), json!(total));
    Value::Object(out)
}

/// True if the request's `Content-Type` is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a JSON object body; 415 unless `Content-Type: application/json`, 400
/// `Malformed JSON` otherwise.
pub(crate) fn json_body(headers: &HeaderMap, bytes: &[u8]) -> KmResult<Map<String, Value>> {
    if !is_json(headers) {
        return Err(KmError::new(
            415,
            "Unexpected content type. Expected content types are: ['application/json']",
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(KmError::bad_request("Malformed JSON")),
    }
}

/// A JSON response with `status`.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// An optional string field (`null` allowed when `nullable`); 400 in Barbican's
/// schema-failure shape otherwise.
pub(crate) fn opt_str(
    m: &Map<String, Value>,
    key: &str,
    op: &str,
    schema: &str,
    max: usize,
) -> KmResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(KmError::invalid(
            op,
            schema,
            &format!("'{s}' is too long"),
            key,
        )),
        Some(v) => Err(KmError::invalid(
            op,
            schema,
            &format!("{v} is not of type 'string'"),
            key,
        )),
    }
}
