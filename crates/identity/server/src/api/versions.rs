//! Version discovery: `GET /` (300 with the versions list) and `GET /v3`.

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::base_url;

fn v3_entry(headers: &HeaderMap) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", base_url(headers))}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /`: 300 Multiple Choices with the v3 entry.
pub(super) async fn root(headers: HeaderMap) -> impl IntoResponse {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [v3_entry(&headers)]}})),
    )
}

/// `GET /v3`.
pub(super) async fn v3_handler(headers: HeaderMap) -> impl IntoResponse {
    Json(json!({"version": v3_entry(&headers)}))
}

pub(super) use v3_handler as v3;
