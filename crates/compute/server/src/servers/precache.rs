//! Image precaching by aggregate (2.81): `POST /os-aggregates/{id}/images` with
//! `{"cache": [{"id": image}, ...]}`, validated as Nova's schema and controller do, then
//! answered 202 while the images are fetched into this compute service's image cache
//! (the one builds use) in the background, as Nova's conductor casts the work to the
//! aggregate's computes. A failed fetch is logged, as Nova logs it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use rustack_compute_api::server::request::{canonical_uuid, is_uuid_like};
use serde_json::json;

use super::Servers;
use crate::api::{AppState, Ctx};
use crate::error::{invalid_input, resource_not_found, ApiResult};

/// Parses the body: 1+ unique image ids (`cache[].id`, UUIDs).
fn parse(body: &[u8]) -> Result<Vec<String>, Error> {
    let v = crate::api::params::json_body(body)?;
    let top = v
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    crate::api::params::no_extra_keys(top, &["cache"])?;
    let cache = top
        .get("cache")
        .ok_or_else(|| Error::bad_request("'cache' is a required property"))?;
    let items = cache.as_array().ok_or_else(|| {
        invalid_input(format!(
            "cache. Value: {cache}. {cache} is not of type 'array'"
        ))
    })?;
    if items.is_empty() {
        return Err(invalid_input("cache. Value: []. [] is too short"));
    }
    let mut ids = Vec::with_capacity(items.len());
    for it in items {
        let o = it.as_object().ok_or_else(|| {
            invalid_input(format!("cache. Value: {it}. {it} is not of type 'object'"))
        })?;
        crate::api::params::no_extra_keys(o, &["id"])?;
        let id = o
            .get("id")
            .ok_or_else(|| Error::bad_request("'id' is a required property"))?;
        match id.as_str() {
            Some(s) if is_uuid_like(s) => ids.push(canonical_uuid(s)),
            _ => {
                return Err(invalid_input(format!(
                    "id. Value: {id}. {id} is not a 'uuid'"
                )))
            }
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != ids.len() {
        return Err(Error::bad_request("Duplicate images in request"));
    }
    Ok(ids)
}

/// `POST /os-aggregates/{id}/images`.
pub(crate) async fn aggregate_images(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if !ctx.version.at_least(81) {
        return Err(resource_not_found().into());
    }
    st.compute
        .authorize(&ctx.auth, "compute:aggregates:images", &json!({}))?;
    if id.parse::<i64>().is_err() {
        return Err(Error::bad_request("Invalid input received: id must be an integer").into());
    }
    let images = parse(&body)?;
    let aggregate = st.compute.aggregate_show(&ctx.auth, &id).await?;
    let servers = st
        .compute
        .servers()
        .ok_or_else(|| Error::unavailable("This compute API runs without the servers service."))?;
    if !aggregate.hosts.is_empty() {
        tokio::spawn(precache(servers, images));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn precache(servers: Arc<Servers>, images: Vec<String>) {
    let token = match servers.service_token().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "image precache: no service token");
            return;
        }
    };
    for image in images {
        match servers.fetch_image(&token, &image).await {
            Ok(_) => tracing::info!(image.id = %image, "image precached"),
            Err(e) => tracing::warn!(image.id = %image, error = %e, "image precache failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn body_validation() {
        let id = "0b2ef1b4-3b5c-4b3c-9c07-7a3ad7d0a1c2";
        let ok = json!({"cache": [{"id": id}]}).to_string();
        assert_eq!(parse(ok.as_bytes()).ok(), Some(vec![id.to_string()]));
        for bad in [
            json!({}),
            json!({"cache": []}),
            json!({"cache": [{"id": "nope"}]}),
            json!({"cache": [{"id": id, "x": 1}]}),
            json!({"cache": [{"id": id}], "x": 1}),
            json!({"cache": [{"id": id}, {"id": id}]}),
            Value::Null,
        ] {
            let e = parse(bad.to_string().as_bytes()).err();
            assert_eq!(e.map(|e| e.status_code()), Some(400), "{bad}");
        }
    }
}
