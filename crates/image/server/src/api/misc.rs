//! Version discovery (`GET /` answers 300 with the versions, `GET /versions` 200, no
//! token needed) and the JSON schemas under `/v2/schemas/` (images, members, tasks
//! and the metadata definitions under `/v2/schemas/metadefs/`).

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rustack_common::Error;

use super::{base_url, caller, json_response, ApiResult, St};
use crate::ImageService;

/// The versions document with `status`.
pub(crate) fn versions_response(
    svc: &ImageService,
    headers: &HeaderMap,
    status: StatusCode,
) -> Response {
    json_response(
        status,
        &rustack_image_api::versions(&base_url(svc, headers)),
    )
}

pub(super) async fn versions_multiple(st: St, headers: HeaderMap) -> Response {
    versions_response(&st, &headers, StatusCode::MULTIPLE_CHOICES)
}

pub(super) async fn versions_ok(st: St, headers: HeaderMap) -> Response {
    versions_response(&st, &headers, StatusCode::OK)
}

pub(super) async fn schema_show(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller(&st, &headers).await?;
    let (d, c) = (&st.cfg.disk_formats, &st.cfg.container_formats);
    let schema = match name.as_str() {
        "image" => rustack_image_api::schema::image(d, c),
        "images" => rustack_image_api::schema::images(d, c),
        "member" => rustack_image_api::schema::member(),
        "members" => rustack_image_api::schema::members(),
        "task" => rustack_image_api::metadef_schema::task(),
        "tasks" => rustack_image_api::metadef_schema::tasks(),
        _ => return Err(Error::not_found("The resource could not be found.").into()),
    };
    Ok(json_response(StatusCode::OK, &schema))
}

/// `GET /v2/schemas/metadefs/{name}`.
pub(super) async fn metadef_schema_show(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    caller(&st, &headers).await?;
    let schema = rustack_image_api::metadef_schema::by_name(&name)
        .ok_or_else(|| Error::not_found("The resource could not be found."))?;
    Ok(json_response(StatusCode::OK, &schema))
}
