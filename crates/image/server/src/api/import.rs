//! Interoperable image import (`POST /v2/images/{id}/import`) with the
//! `glance-direct` (data staged by `PUT .../stage`) and `web-download` methods, the
//! import tasks of an image, and the discovery documents `/v2/info/import`,
//! `/v2/info/stores` (404: multiple stores are not enabled) and `/v2/info/usage`.
//!
//! The import runs as a background task after the 202, as in Glance. For
//! `web-download` the remote server is contacted before answering: a URL that cannot
//! be reached within `web_download_timeout` seconds (there is no internet on many
//! rustack hosts) gets a 400 saying so instead of a silently failing task.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rustack_common::Error;
use rustack_image_api::{ImageStatus, HASH_ALGO};
use serde_json::{json, Value};

use super::{caller, isotime, json_response, parse_body, read_body, ApiResult, St, MAX_JSON_BODY};
use crate::store::TaskRecord;
use crate::transfer;
use crate::ImageService;

/// `GET /v2/info/import`.
pub(super) async fn info_import(st: St, headers: HeaderMap) -> ApiResult<Response> {
    caller(&st, &headers).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"import-methods": {"description": "Import methods available.", "type": "array",
            "value": st.cfg.enabled_import_methods}}),
    ))
}

/// `GET /v2/info/stores`: Glance answers 404 unless multiple stores are enabled.
pub(super) async fn info_stores(st: St, headers: HeaderMap) -> ApiResult<Response> {
    caller(&st, &headers).await?;
    Err(Error::not_found("Multi backend is not supported at this site.").into())
}

/// `GET /v2/info/usage`: the caller's project usage against its limits (MiB for sizes).
pub(super) async fn info_usage(st: St, headers: HeaderMap) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let p = caller.project().unwrap_or_default().to_string();
    let mib = |b: i64| b / (1 << 20);
    let c = &st.cfg;
    let body = json!({"usage": {
        "image_size_total": {"limit": c.image_size_total, "usage": mib(st.store.image_size_used(&p).await?)},
        "image_stage_total": {"limit": c.image_stage_total, "usage": mib(st.store.image_staged_used(&p).await?)},
        "image_count_total": {"limit": c.image_count_total, "usage": st.store.image_count_owned(&p).await?},
        "image_count_uploading": {"limit": c.image_count_uploading, "usage": st.store.image_count_uploading(&p).await?},
    }});
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /v2/images/{id}/tasks`.
pub(super) async fn image_tasks(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    st.visible_image(&caller, &id).await?;
    let tasks: Vec<Value> = st
        .store
        .tasks_for_image(&id)
        .await?
        .iter()
        .map(|t| {
            json!({"id": t.id, "type": t.task_type, "status": t.status, "owner": t.owner,
                "expires_at": null, "created_at": isotime(&t.created_at),
                "updated_at": isotime(&t.updated_at), "deleted_at": null, "deleted": false,
                "image_id": t.image_id, "request_id": t.request_id, "user_id": t.user_id,
                "input": t.input, "result": t.result, "message": t.message})
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "tasks": tasks })))
}

fn validate_import_body(
    svc: &ImageService,
    body: &Value,
) -> Result<(String, Option<String>), Error> {
    let method = body
        .get("method")
        .ok_or_else(|| Error::bad_request("Import request requires a 'method' field."))?;
    let name = method
        .get("name")
        .ok_or_else(|| Error::bad_request("Import request requires a 'name' field."))?;
    let name = name.as_str().unwrap_or_default().to_string();
    if !svc.cfg.enabled_import_methods.contains(&name) {
        return Err(Error::bad_request(format!(
            "Unknown import method name '{name}'."
        )));
    }
    for key in ["all_stores_must_succeed", "all_stores"] {
        if let Some(v) = body.get(key) {
            if !v.is_boolean() {
                return Err(Error::bad_request(format!(
                    "'{key}' must be boolean value only"
                )));
            }
        }
    }
    if body.get("all_stores_must_succeed") == Some(&Value::Bool(false)) {
        return Err(Error::bad_request(
            "All_stores_must_succeed can only be set with enabled_backends None",
        ));
    }
    if body.get("stores").is_some_and(|s| !s.is_null()) {
        return Err(Error::bad_request(
            "Store selection is not available: multiple stores are not enabled.",
        ));
    }
    let uri = method
        .get("uri")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((name, uri))
}

/// Glance's `validate_import_uri` with its default filters (http/https, a host).
pub(super) fn uri_passes_filter(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    matches!(scheme, "http" | "https") && !host.is_empty() && !host.starts_with(':')
}

/// `POST /v2/images/{id}/import`.
pub(super) async fn image_import(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let raw = read_body(body, MAX_JSON_BODY).await?;
    let body = parse_body(&raw)?;
    let (method, uri) = validate_import_body(&st, &body)?;
    let img = st.visible_image(&caller, &id).await?;
    let owner = img.owner.clone().unwrap_or_default();
    if st.cfg.image_size_total >= 0 {
        let used = st.store.image_size_used(&owner).await?;
        let limit = st.cfg.image_size_total;
        if used > limit.saturating_mul(1 << 20) {
            return Err(Error::over_quota(format!(
                "Project {owner} is over a limit for [Resource image_size_total is over limit of \
                 {limit} due to current usage {} and delta 0]",
                used >> 20
            ))
            .into());
        }
    }
    if img.status == ImageStatus::Active {
        return Err(Error::conflict("Image with status active cannot be target for import").into());
    }
    if method == "web-download" && img.status != ImageStatus::Queued {
        return Err(Error::conflict(format!(
            "Image needs to be in 'queued' state to use '{method}' method"
        ))
        .into());
    }
    if method == "glance-direct" && img.status != ImageStatus::Uploading {
        return Err(Error::conflict(
            "Image needs to be staged before 'glance-direct' method can be used",
        )
        .into());
    }
    if img.container_format.is_none() {
        return Err(Error::conflict("'container_format' needs to be set before import").into());
    }
    if img.disk_format.is_none() {
        return Err(Error::conflict("'disk_format' needs to be set before import").into());
    }
    st.enforce_image(&caller, &img, "modify_image", None)?;

    let from = if method == "web-download" {
        ImageStatus::Queued
    } else {
        ImageStatus::Uploading
    };
    let mut download = None;
    if method == "web-download" {
        let uri = uri.unwrap_or_default();
        if !uri_passes_filter(&uri) {
            return Err(Error::bad_request(format!(
                "URI for web-download does not pass filtering: {uri}"
            ))
            .into());
        }
        download = Some(fetch(&st, &uri).await?);
    }
    if !st
        .store
        .image_set_status(&id, &[from], ImageStatus::Importing)
        .await?
    {
        return Err(Error::conflict(format!(
            "New operation on image '{id}' is not permitted as prior operation is still in progress"
        ))
        .into());
    }
    let now = crate::store::now_text();
    let task = TaskRecord {
        id: rustack_common::new_uuid(),
        image_id: id.clone(),
        task_type: "api_image_import".into(),
        status: "processing".into(),
        owner: caller.project().map(str::to_string),
        user_id: Some(caller.ctx.user_id.clone()),
        request_id: None,
        input: json!({"image_id": id, "import_req": body, "backend": [null]}),
        result: None,
        message: String::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    st.store.task_insert(&task).await?;
    let svc = st.0.clone();
    let staged = img.location.clone();
    let disk_format = img.disk_format.clone();
    tokio::spawn(async move {
        let outcome = match download {
            Some(resp) => import_from_web(&svc, &id, resp, disk_format.as_deref()).await,
            None => import_staged(&svc, &id, staged, disk_format.as_deref()).await,
        };
        let (status, message) = match &outcome {
            Ok(()) => ("success", String::new()),
            Err(e) => ("failure", e.clone()),
        };
        if let Err(e) = outcome {
            tracing::warn!(image.id = %id, task.id = %task.id, error = %e, "image import failed; image restored to queued");
            let _ = svc
                .store
                .image_set_status(&id, &[ImageStatus::Importing], ImageStatus::Queued)
                .await;
        } else {
            tracing::info!(image.id = %id, task.id = %task.id, "image imported");
        }
        let _ = svc.store.task_finish(&task.id, status, &message).await;
    });
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Contacts `uri` and waits for the response headers, within the configured timeout.
pub(super) async fn fetch(svc: &ImageService, uri: &str) -> Result<reqwest::Response, Error> {
    let secs = svc.cfg.web_download_timeout;
    let unreachable = |why: String| {
        Error::bad_request(format!(
            "URI for web-download is not reachable: {uri}: {why}"
        ))
    };
    let resp = tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        svc.http.get(uri).send(),
    )
    .await
    .map_err(|_| unreachable(format!("no response within {secs} seconds")))?
    .map_err(|e| unreachable(error_chain(&e)))?;
    if !resp.status().is_success() {
        return Err(unreachable(format!(
            "the server answered {}",
            resp.status()
        )));
    }
    Ok(resp)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

async fn finish(
    svc: &ImageService,
    id: &str,
    r: transfer::Received,
    disk_format: Option<&str>,
) -> Result<(), String> {
    let size = i64::try_from(r.size).unwrap_or(i64::MAX);
    let vsize = transfer::virtual_size(disk_format, &r.header, r.size);
    let done = svc
        .store
        .image_activate(
            id,
            ImageStatus::Importing,
            size,
            vsize,
            &r.md5,
            HASH_ALGO,
            &r.sha512,
            &r.location,
        )
        .await
        .map_err(|e| e.to_string())?;
    if !done {
        let _ = svc.images.delete(&r.location).await;
        return Err(format!("image {id} was deleted during the import"));
    }
    Ok(())
}

fn size_limit(svc: &ImageService) -> u64 {
    svc.cfg.image_size_cap
}

async fn import_staged(
    svc: &Arc<ImageService>,
    id: &str,
    staged: Option<String>,
    disk_format: Option<&str>,
) -> Result<(), String> {
    let loc = staged.ok_or_else(|| format!("image {id} has no staged data"))?;
    let source = svc
        .staging
        .reader(&loc, 0, None)
        .await
        .map_err(|e| e.to_string())?;
    let r = transfer::receive(
        svc.images.as_ref(),
        id,
        source,
        size_limit(svc),
        "image_size_cap",
    )
    .await
    .map_err(|e| e.to_string());
    // The staged data is consumed either way (Glance deletes it after the import).
    let _ = svc.staging.delete(&loc).await;
    finish(svc, id, r?, disk_format).await
}

pub(super) async fn import_from_web(
    svc: &Arc<ImageService>,
    id: &str,
    resp: reqwest::Response,
    disk_format: Option<&str>,
) -> Result<(), String> {
    let source = Box::pin(futures::stream::unfold(Some(resp), |resp| async move {
        let mut resp = resp?;
        match resp.chunk().await {
            Ok(Some(c)) => Some((Ok::<Bytes, String>(c), Some(resp))),
            Ok(None) => None,
            Err(e) => Some((Err(error_chain(&e)), None)),
        }
    }));
    let r = transfer::receive(
        svc.images.as_ref(),
        id,
        source,
        size_limit(svc),
        "image_size_cap",
    )
    .await
    .map_err(|e| e.to_string())?;
    finish(svc, id, r, disk_format).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_filter() {
        assert!(uri_passes_filter("http://example.com/x.img"));
        assert!(uri_passes_filter("https://u:p@example.com:8443/x"));
        assert!(!uri_passes_filter("file:///etc/passwd"));
        assert!(!uri_passes_filter("ftp://example.com/x"));
        assert!(!uri_passes_filter("http:///x"));
        assert!(!uri_passes_filter("example.com"));
    }
}
