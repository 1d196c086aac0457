//! A typed client for the Image API (feature `client`): what other services need from
//! Glance — list, show, create, upload, download, patch, delete — called with a token
//! the caller supplies (the user's for proxies, a service user's for builds).
//!
//! Failures map to [`rustack_common::Error`]: Glance's 404 is `NotFound`, 403
//! `Forbidden`, 409 `Conflict`, 400 `BadRequest` (with Glance's message), anything
//! else or a transport failure `Unavailable`.

use std::path::Path;

use rustack_common::Error;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::PATCH_V2_1;

/// A client for one Image API endpoint (`http://host:9292`).
#[derive(Clone, Debug)]
pub struct ImageClient {
    base: String,
    http: reqwest::Client,
}

fn unavailable(e: reqwest::Error) -> Error {
    Error::unavailable(format!("The image service is unavailable: {e}"))
}

/// Maps a non-success answer to an [`Error`] (`id` names the image in a 404).
async fn failure(r: reqwest::Response, id: Option<&str>) -> Error {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let msg = body["message"].as_str().map(str::to_owned);
    match status {
        404 => Error::not_found(match id {
            Some(id) => format!("Image {id} could not be found."),
            None => "Image not found.".into(),
        }),
        403 => Error::forbidden(msg.unwrap_or_else(|| "Not authorized for image.".into())),
        409 => Error::conflict(msg.unwrap_or_else(|| "Conflict".into())),
        400 => Error::bad_request(msg.unwrap_or_else(|| "Bad request".into())),
        401 => Error::unauthenticated("The request you have made requires authentication."),
        413 => Error::over_quota(msg.unwrap_or_else(|| "Quota exceeded for images.".into())),
        s => Error::unavailable(format!("The image service answered {s}")),
    }
}

impl ImageClient {
    /// A client for `base` with its own HTTP client.
    pub fn new(base: &str) -> Result<ImageClient, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(Self::with_http(base, http))
    }

    /// A client for `base` sharing `http`.
    pub fn with_http(base: &str, http: reqwest::Client) -> ImageClient {
        ImageClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Every image the token may see (`GET /v2/images`, pages followed).
    pub async fn list(&self, token: &str) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        let mut next = Some("/v2/images?limit=1000".to_owned());
        while let Some(path) = next.take() {
            let r = self
                .http
                .get(format!("{}{path}", self.base))
                .header("x-auth-token", token)
                .send()
                .await
                .map_err(unavailable)?;
            if !r.status().is_success() {
                return Err(failure(r, None).await);
            }
            let v: Value = r.json().await.map_err(unavailable)?;
            out.extend(v["images"].as_array().cloned().unwrap_or_default());
            next = v["next"].as_str().map(str::to_owned);
        }
        Ok(out)
    }

    /// `GET /v2/images/{id}`.
    pub async fn get(&self, token: &str, id: &str) -> Result<Value, Error> {
        let r = self
            .http
            .get(format!("{}/v2/images/{id}", self.base))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, Some(id)).await);
        }
        r.json().await.map_err(unavailable)
    }

    /// `POST /v2/images` with Image API create attributes; the new image.
    pub async fn create(&self, token: &str, body: &Value) -> Result<Value, Error> {
        let r = self
            .http
            .post(format!("{}/v2/images", self.base))
            .header("x-auth-token", token)
            .json(body)
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, None).await);
        }
        r.json().await.map_err(unavailable)
    }

    /// `PATCH /v2/images/{id}` with RFC 6902 operations (Glance's v2.1 patch dialect).
    pub async fn patch(&self, token: &str, id: &str, ops: &Value) -> Result<Value, Error> {
        let r = self
            .http
            .patch(format!("{}/v2/images/{id}", self.base))
            .header("x-auth-token", token)
            .header("content-type", PATCH_V2_1)
            .body(ops.to_string())
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, Some(id)).await);
        }
        r.json().await.map_err(unavailable)
    }

    /// `DELETE /v2/images/{id}`.
    pub async fn delete(&self, token: &str, id: &str) -> Result<(), Error> {
        let r = self
            .http
            .delete(format!("{}/v2/images/{id}", self.base))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, Some(id)).await);
        }
        Ok(())
    }

    /// `PUT /v2/images/{id}/file` with the contents of `path`.
    pub async fn upload(&self, token: &str, id: &str, path: &Path) -> Result<(), Error> {
        let data = tokio::fs::read(path)
            .await
            .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
        let r = self
            .http
            .put(format!("{}/v2/images/{id}/file", self.base))
            .header("x-auth-token", token)
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, Some(id)).await);
        }
        Ok(())
    }

    /// `GET /v2/images/{id}/file` streamed into `dest`: (bytes, MD5 hex).
    pub async fn download(
        &self,
        token: &str,
        id: &str,
        dest: &Path,
    ) -> Result<(u64, String), Error> {
        use md5::Digest as _;
        let mut r = self
            .http
            .get(format!("{}/v2/images/{id}/file", self.base))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(unavailable)?;
        if r.status().as_u16() == 204 {
            return Err(Error::conflict(format!("Image {id} has no data.")));
        }
        if !r.status().is_success() {
            return Err(failure(r, Some(id)).await);
        }
        let mut f = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::internal(format!("creating {}: {e}", dest.display())))?;
        let mut md5 = md5::Md5::new();
        let mut n = 0u64;
        while let Some(chunk) = r.chunk().await.map_err(unavailable)? {
            md5.update(&chunk);
            n += chunk.len() as u64;
            f.write_all(&chunk)
                .await
                .map_err(|e| Error::internal(format!("writing {}: {e}", dest.display())))?;
        }
        f.sync_all()
            .await
            .map_err(|e| Error::internal(format!("syncing {}: {e}", dest.display())))?;
        Ok((n, hex::encode(md5.finalize())))
    }
}
