//! Version discovery (`GET /`, `GET /v2.1/`) and the microversion headers.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rustack_common::Error;
use rustack_compute_api::microversion::{self, ApiVersion, VersionError};
use serde_json::{json, Value};

use super::base_url;
use crate::error::ApiError;

/// The new-style version header.
pub const OPENSTACK_API_VERSION: &str = "openstack-api-version";
/// The legacy nova version header.
pub const X_OPENSTACK_NOVA_API_VERSION: &str = "x-openstack-nova-api-version";

/// The version a request asks for; 400 (`badRequest`) or 406 (`computeFault`, the key
/// nova's fault map gives codes it does not name) with nova's messages otherwise.
pub fn requested(headers: &HeaderMap, max: ApiVersion) -> Result<ApiVersion, Box<Response>> {
    let get = |name: &str| {
        let vals: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if vals.is_empty() {
            None
        } else {
            Some(vals.join(","))
        }
    };
    let new = get(OPENSTACK_API_VERSION);
    let legacy = get(X_OPENSTACK_NOVA_API_VERSION);
    microversion::negotiate_up_to(new.as_deref(), legacy.as_deref(), max).map_err(|e| match e {
        VersionError::Invalid(_) => {
            Box::new(ApiError::from(Error::bad_request(e.to_string())).into_response())
        }
        VersionError::Unsupported(..) => Box::new(
            (
                StatusCode::NOT_ACCEPTABLE,
                Json(json!({"computeFault": {"code": 406, "message": e.to_string()}})),
            )
                .into_response(),
        ),
    })
}

/// Adds the negotiated version to a response, as nova does for every versioned call.
pub fn echo(version: ApiVersion, headers: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&format!("compute {version}")) {
        headers.insert(OPENSTACK_API_VERSION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        headers.insert(X_OPENSTACK_NOVA_API_VERSION, v);
    }
    headers.append("vary", HeaderValue::from_static("OpenStack-API-Version"));
    headers.append(
        "vary",
        HeaderValue::from_static("X-OpenStack-Nova-API-Version"),
    );
}

fn v21_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": microversion::max().to_string(),
        "min_version": microversion::MIN.to_string(),
        "updated": "2013-07-23T11:33:21Z",
    })
    .as_object()
    .map(|m| {
        let mut m = m.clone();
        m.insert(
            "links".into(),
            json!([{"rel": "self", "href": format!("{base}/v2.1/")}]),
        );
        Value::Object(m)
    })
    .unwrap_or(Value::Null)
}

/// `GET /`: every API version (v2.0 is listed as nova lists it, deprecated).
pub async fn versions(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({"versions": [
        {
            "id": "v2.0",
            "status": "DEPRECATED",
            "version": "",
            "min_version": "",
            "updated": "2025-07-04T12:00:00Z",
            "links": [{"rel": "self", "href": format!("{base}/v2/")}],
        },
        v21_doc(&base),
    ]}))
}

/// `GET /v2/`: the (deprecated) v2.0 version document the version list links to.
pub async fn v20(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({"version": {
        "id": "v2.0",
        "status": "DEPRECATED",
        "version": "",
        "min_version": "",
        "updated": "2025-07-04T12:00:00Z",
        "links": [
            {"rel": "self", "href": format!("{base}/v2/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2",
        }],
    }}))
}

/// `GET /v2.1/`: the v2.1 version document.
pub async fn v21(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    Json(json!({"version": {
        "id": "v2.1",
        "status": "CURRENT",
        "version": microversion::max().to_string(),
        "min_version": microversion::MIN.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{base}/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1",
        }],
    }}))
}
