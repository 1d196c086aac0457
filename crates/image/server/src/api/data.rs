//! Image data: upload (`PUT .../file`), staging for `glance-direct` (`PUT .../stage`)
//! and download (`GET .../file`, with single-range `Range` support), streamed in both
//! directions.
//!
//! An upload claims the image with a compare-and-set `queued → saving` (a second
//! concurrent upload gets 409), streams into the store through
//! [`crate::transfer::receive`], and only then records `active` with the size and
//! digests. If the upload fails or the client goes away (the handler future is
//! dropped), a [`RestoreGuard`] puts the image back to `queued` and the store writer
//! removes its temporary file, as Glance's `_restore` does.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use rustack_image_api::{ImageStatus, HASH_ALGO};

use super::{caller, ApiError, ApiResult, St};
use crate::transfer::{self, TransferError};
use crate::ImageService;

const MIB: u64 = 1 << 20;

/// Puts an image back to `queued` unless disarmed, also when the request is dropped.
pub(crate) struct RestoreGuard {
    svc: Arc<ImageService>,
    id: String,
    from: ImageStatus,
    armed: bool,
}

impl RestoreGuard {
    pub(crate) fn new(svc: Arc<ImageService>, id: &str, from: ImageStatus) -> RestoreGuard {
        RestoreGuard {
            svc,
            id: id.to_string(),
            from,
            armed: true,
        }
    }

    /// Restores now (error paths that can still wait).
    pub(crate) async fn restore(mut self) {
        self.armed = false;
        restore(&self.svc, &self.id, self.from).await;
    }

    /// The transfer completed: nothing to restore.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

async fn restore(svc: &ImageService, id: &str, from: ImageStatus) {
    match svc
        .store
        .image_set_status(id, &[from], ImageStatus::Queued)
        .await
    {
        Ok(true) => {
            tracing::warn!(image.id = %id, from = from.as_str(), "image data transfer did not complete; image restored to queued")
        }
        Ok(false) => {}
        Err(e) => tracing::error!(image.id = %id, error = %e, "restoring image to queued failed"),
    }
}

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (svc, id, from) = (self.svc.clone(), self.id.clone(), self.from);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { restore(&svc, &id, from).await });
        }
    }
}

fn check_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match ct.as_deref() {
        Some("application/octet-stream") => Ok(()),
        other => Err(Error::UnsupportedMediaType {
            message: format!("Invalid content type {}", other.unwrap_or("None")),
        }
        .into()),
    }
}

/// Glance's `_get_image_size`: `x-openstack-image-size`, else `Content-Length`.
fn declared_size(headers: &HeaderMap) -> Result<Option<u64>, Error> {
    let bad = || Error::bad_request("Invalid or missing image size in request headers.");
    let get = |name: &str| headers.get(name).map(|v| v.to_str().map_err(|_| bad()));
    match get("x-openstack-image-size") {
        Some(v) => Ok(Some(v?.trim().parse::<u64>().map_err(|_| bad())?)),
        None => match get("content-length") {
            Some(v) => Ok(v?.trim().parse::<u64>().ok().filter(|n| *n > 0)),
            None => Ok(None),
        },
    }
}

/// Bytes the caller's project may still store under `limit_mib` given `used` bytes;
/// 413 if `declared` bytes would not fit.
fn remaining_quota(
    owner: &str,
    resource: &str,
    limit_mib: i64,
    used: i64,
    declared: Option<u64>,
) -> Result<u64, Error> {
    if limit_mib < 0 {
        return Ok(u64::MAX);
    }
    let limit = (limit_mib as u64).saturating_mul(MIB);
    let used = used.max(0) as u64;
    let delta = declared.unwrap_or(0);
    if used.saturating_add(delta) > limit {
        return Err(Error::over_quota(format!(
            "Project {owner} is over a limit for [Resource {resource} is over limit of {limit_mib} \
             due to current usage {} and delta {}]",
            used / MIB,
            delta / MIB
        )));
    }
    Ok(limit - used)
}

fn transfer_error(e: TransferError, cap: u64) -> ApiError {
    match e {
        TransferError::Source(msg) => {
            Error::bad_request(format!("Error reading image data from the request: {msg}")).into()
        }
        TransferError::TooLarge { what, limit } if limit == cap && what == "image_size_cap" => {
            Error::over_quota(format!(
                "The incoming image is too large: The size of the data will exceed the limit. \
                 {limit} bytes remaining."
            ))
            .into()
        }
        TransferError::TooLarge { what, limit } => Error::over_quota(format!(
            "Image exceeds the storage quota: the {what} limit of {limit} bytes would be exceeded."
        ))
        .into(),
        TransferError::Store(crate::StoreError::Full { .. }) => {
            Error::over_quota("Image storage media is full.").into()
        }
        TransferError::Store(e) => {
            Error::internal(format!("{e}: {:?}", std::error::Error::source(&e))).into()
        }
    }
}

fn missing_formats(img: &crate::store::ImageRecord) -> Result<(), Error> {
    let mut missing = vec![];
    if img.disk_format.is_none() {
        missing.push("disk_format");
    }
    if img.container_format.is_none() {
        missing.push("container_format");
    }
    match missing.len() {
        0 => Ok(()),
        1 => Err(Error::bad_request(format!(
            "Property {} must be set prior to saving data.",
            missing[0]
        ))),
        _ => Err(Error::bad_request(format!(
            "Properties {} must be set prior to saving data.",
            missing.join(", ")
        ))),
    }
}

async fn check_uploading_quota(svc: &ImageService, owner: &str) -> Result<(), Error> {
    let limit = svc.cfg.image_count_uploading;
    if limit < 0 {
        return Ok(());
    }
    let used = svc.store.image_count_uploading(owner).await?;
    // The image being claimed already counts.
    if used > limit {
        return Err(Error::over_quota(format!(
            "Project {owner} is over a limit for [Resource image_count_uploading is over limit \
             of {limit} due to current usage {} and delta 1]",
            used - 1
        )));
    }
    Ok(())
}

/// `PUT /v2/images/{id}/file`.
pub(super) async fn image_upload(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    check_octet_stream(&headers)?;
    let declared = declared_size(&headers)?;
    let img = st.visible_image(&caller, &id).await?;
    st.enforce_image(&caller, &img, "upload_image", None)?;
    let owner = img.owner.clone().unwrap_or_default();
    let used = st.store.image_size_used(&owner).await?;
    let quota_left = remaining_quota(
        &owner,
        "image_size_total",
        st.cfg.image_size_total,
        used,
        declared,
    )?;
    if img.status != ImageStatus::Queued {
        return Err(Error::conflict(format!(
            "Image status transition from {} to saving is not allowed",
            img.status.as_str()
        ))
        .into());
    }
    missing_formats(&img)?;
    if !st
        .store
        .image_set_status(&id, &[ImageStatus::Queued], ImageStatus::Saving)
        .await?
    {
        return Err(Error::conflict(
            "Image status transition from saving to saving is not allowed: another upload to \
             this image is in progress",
        )
        .into());
    }
    let guard = RestoreGuard::new(st.0.clone(), &id, ImageStatus::Saving);
    if let Err(e) = check_uploading_quota(&st, &owner).await {
        guard.restore().await;
        return Err(e.into());
    }
    let cap = st.cfg.image_size_cap;
    let (limit, what) = if quota_left < cap {
        (quota_left, "image_size_total")
    } else {
        (cap, "image_size_cap")
    };
    let started = std::time::Instant::now();
    let received = match transfer::receive(
        st.images.as_ref(),
        &id,
        body.into_data_stream(),
        limit,
        what,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            guard.restore().await;
            tracing::warn!(image.id = %id, error = %e, "image upload failed");
            return Err(transfer_error(e, cap));
        }
    };
    let size = i64::try_from(received.size).unwrap_or(i64::MAX);
    let vsize = transfer::virtual_size(img.disk_format.as_deref(), &received.header, received.size);
    let activated = st
        .store
        .image_activate(
            &id,
            ImageStatus::Saving,
            size,
            vsize,
            &received.md5,
            HASH_ALGO,
            &received.sha512,
            &received.location,
        )
        .await;
    match activated {
        Ok(true) => guard.disarm(),
        Ok(false) => {
            guard.disarm();
            let _ = st.images.delete(&received.location).await;
            return Err(ApiError::status(
                StatusCode::GONE,
                format!(
                    "Image {id} could not be found after upload. The image may have been \
                     deleted during the upload, cleaning up the chunks uploaded."
                ),
            ));
        }
        Err(e) => {
            let _ = st.images.delete(&received.location).await;
            guard.restore().await;
            return Err(e.into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(image.id = %id, image.size = received.size,
        duration_ms = format_args!("{:.0}", secs * 1000.0),
        throughput_mib_s = format_args!("{:.1}", received.size as f64 / MIB as f64 / secs.max(1e-9)),
        "image data uploaded");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /v2/images/{id}/stage`.
pub(super) async fn image_stage(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    if !st
        .cfg
        .enabled_import_methods
        .iter()
        .any(|m| m == "glance-direct")
    {
        return Err(
            Error::not_found("'glance-direct' method is not available at this site.").into(),
        );
    }
    check_octet_stream(&headers)?;
    let declared = declared_size(&headers)?;
    let img = st.visible_image(&caller, &id).await?;
    st.enforce_image(&caller, &img, "modify_image", None)?;
    let owner = img.owner.clone().unwrap_or_default();
    let used = st.store.image_staged_used(&owner).await?;
    let quota_left = remaining_quota(
        &owner,
        "image_stage_total",
        st.cfg.image_stage_total,
        used,
        declared,
    )?;
    if img.status != ImageStatus::Queued
        || !st
            .store
            .image_set_status(&id, &[ImageStatus::Queued], ImageStatus::Uploading)
            .await?
    {
        return Err(Error::conflict(format!(
            "Image status transition from {} to uploading is not allowed",
            img.status.as_str()
        ))
        .into());
    }
    let guard = RestoreGuard::new(st.0.clone(), &id, ImageStatus::Uploading);
    if let Err(e) = check_uploading_quota(&st, &owner).await {
        guard.restore().await;
        return Err(e.into());
    }
    let cap = st.cfg.image_size_cap;
    let (limit, what) = if quota_left < cap {
        (quota_left, "image_stage_total")
    } else {
        (cap, "image_size_cap")
    };
    let received = match transfer::receive(
        st.staging.as_ref(),
        &id,
        body.into_data_stream(),
        limit,
        what,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            guard.restore().await;
            return Err(transfer_error(e, cap));
        }
    };
    let size = i64::try_from(received.size).unwrap_or(i64::MAX);
    match st
        .store
        .image_set_staged(&id, size, &received.location)
        .await
    {
        Ok(true) => guard.disarm(),
        Ok(false) => {
            guard.disarm();
            let _ = st.staging.delete(&received.location).await;
            return Err(ApiError::status(
                StatusCode::GONE,
                format!("Image {id} could not be found after staging its data."),
            ));
        }
        Err(e) => {
            let _ = st.staging.delete(&received.location).await;
            guard.restore().await;
            return Err(e.into());
        }
    }
    tracing::info!(image.id = %id, image.size = received.size, "image data staged");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A parsed single `Range` (webob's `Range.parse` semantics: end exclusive, a negative
/// start is a suffix length).
fn parse_range(value: &str, size: u64) -> Result<(u64, u64), ApiError> {
    let unsatisfiable = |msg: String| ApiError::status(StatusCode::RANGE_NOT_SATISFIABLE, msg);
    if value.contains(',') {
        return Err(Error::bad_request(
            "Requests with multiple ranges are not supported in Glance. You may make multiple \
             single-range requests instead.",
        )
        .into());
    }
    let invalid = || unsatisfiable("Invalid Range header.".into());
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end): (i128, Option<i128>) = if a.is_empty() {
        let n: i128 = b.parse().map_err(|_| invalid())?;
        if n <= 0 {
            return Err(invalid());
        }
        (-n, None)
    } else {
        let s: i128 = a.parse().map_err(|_| invalid())?;
        let e = if b.is_empty() {
            None
        } else {
            let e: i128 = b.parse().map_err(|_| invalid())?;
            if e < s {
                return Err(invalid());
            }
            Some(e + 1)
        };
        (s, e)
    };
    let size_i = size as i128;
    if start >= size_i {
        return Err(unsatisfiable(format!(
            "Invalid start position in Range header. Start position MUST be in the inclusive \
             range [0, {}].",
            size_i - 1
        )));
    }
    let offset = if start >= 0 {
        start
    } else if start.abs() < size_i {
        size_i + start
    } else {
        0
    };
    let stop = match end {
        Some(e) if e < size_i => e,
        _ => size_i,
    };
    Ok((offset as u64, (stop - offset).max(0) as u64))
}

/// `GET /v2/images/{id}/file`.
pub(super) async fn image_download(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = st.visible_image(&caller, &id).await?;
    if img.status == ImageStatus::Deactivated && !caller.is_admin {
        return Err(Error::forbidden(
            "The requested image has been deactivated. Image data download is forbidden.",
        )
        .into());
    }
    st.enforce_image(&caller, &img, "download_image", None)?;
    let (Some(loc), Some(size)) = (
        img.location
            .clone()
            .filter(|_| matches!(img.status, ImageStatus::Active | ImageStatus::Deactivated)),
        img.size,
    ) else {
        // No data yet: Glance answers 204.
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let size = u64::try_from(size).unwrap_or(0);
    let range = match headers.get(header::RANGE) {
        Some(v) => Some(parse_range(v.to_str().unwrap_or(""), size)?),
        None => None,
    };
    let (offset, len) = range.unwrap_or((0, size));
    let stream = match st.images.reader(&loc, offset, Some(len)).await {
        Ok(s) => s,
        Err(crate::StoreError::NotFound { .. }) => {
            tracing::error!(image.id = %id, location = %loc, "active image has no data in the store");
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        Err(e) => return Err(Error::internal(e.to_string()).into()),
    };
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = len.to_string().parse() {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Some(md5) = img.checksum.as_deref().and_then(|c| c.parse().ok()) {
        h.insert("content-md5", md5);
    }
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let last = (offset + len).saturating_sub(1);
        if let Ok(v) = format!("bytes {offset}-{last}/{size}").parse() {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(v: &str, size: u64) -> Option<(u64, u64)> {
        parse_range(v, size).ok()
    }

    #[test]
    fn ranges_follow_webob() {
        assert_eq!(r("bytes=0-4", 10), Some((0, 5)));
        assert_eq!(r("bytes=5-", 10), Some((5, 5)));
        assert_eq!(r("bytes=-3", 10), Some((7, 3)));
        assert_eq!(r("bytes=8-100", 10), Some((8, 2)));
        assert_eq!(r("bytes=10-", 10), None);
        assert_eq!(r("bytes=5-3", 10), None);
        assert_eq!(r("items=0-1", 10), None);
        assert!(parse_range("bytes=0-1,3-4", 10).is_err());
    }

    #[test]
    fn sizes_and_quota() {
        let mut h = HeaderMap::new();
        assert_eq!(declared_size(&h).expect("none"), None);
        h.insert("content-length", "12".parse().expect("v"));
        assert_eq!(declared_size(&h).expect("cl"), Some(12));
        h.insert("x-openstack-image-size", "x".parse().expect("v"));
        assert!(declared_size(&h).is_err());
        assert_eq!(
            remaining_quota("p", "r", -1, 5, None).expect("unlimited"),
            u64::MAX
        );
        assert_eq!(remaining_quota("p", "r", 1, 0, None).expect("left"), MIB);
        assert_eq!(
            remaining_quota("p", "r", 1, 0, Some(2 * MIB))
                .expect_err("over")
                .status_code(),
            413
        );
    }
}
