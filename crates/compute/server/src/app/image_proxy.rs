//! The `/images` proxy (deprecated upstream at 2.36): nova's image API answered from the
//! Image service, called with the caller's own token so Glance applies its visibility
//! and policy. Glance's v2 documents are converted to nova's v2.1 image view here.
//!
//! TODO-compat: one typed Image API client (crates/image/api `client`) should serve
//! both this proxy and the servers work; this module speaks the few calls it needs.

use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::Compute;

/// Glance attributes that are not image properties (nova's `metadata`).
const CORE: &[&str] = &[
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "owner",
    "size",
    "virtual_size",
    "min_ram",
    "min_disk",
    "created_at",
    "updated_at",
    "tags",
    "container_format",
    "disk_format",
    "file",
    "schema",
    "self",
    "locations",
    "direct_url",
    "os_hidden",
    "stores",
];

/// An image as nova's image API needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyImage {
    /// The Glance document.
    pub doc: Value,
}

impl ProxyImage {
    /// The id.
    pub fn id(&self) -> &str {
        self.doc["id"].as_str().unwrap_or_default()
    }

    /// The non-core properties (nova's `metadata`), stringified.
    pub fn metadata(&self) -> Map<String, Value> {
        self.doc
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !CORE.contains(&k.as_str()))
                    .map(|(k, v)| {
                        let s = match v {
                            Value::String(s) => json!(s),
                            other => json!(other.to_string()),
                        };
                        (k.clone(), s)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// nova's status for Glance's.
    pub fn status(&self) -> (&'static str, i64) {
        match self.doc["status"].as_str().unwrap_or("") {
            "active" => ("ACTIVE", 100),
            "queued" | "uploading" | "importing" => ("SAVING", 25),
            "saving" => ("SAVING", 50),
            "deleted" | "pending_delete" => ("DELETED", 0),
            "killed" => ("ERROR", 0),
            _ => ("UNKNOWN", 0),
        }
    }
}

fn unavailable(e: reqwest::Error) -> Error {
    Error::unavailable(format!("The image service is unavailable: {e}"))
}

async fn check(resp: reqwest::Response, id: Option<&str>) -> Result<reqwest::Response, Error> {
    let st = resp.status().as_u16();
    match st {
        200..=299 => Ok(resp),
        404 => Err(Error::not_found(match id {
            Some(id) => format!("Image {id} could not be found."),
            None => "Image not found.".into(),
        })),
        403 => Err(Error::forbidden("Not authorized for image.")),
        401 => Err(Error::unauthenticated(
            "The request you have made requires authentication.",
        )),
        409 => Err(Error::conflict(
            resp.text().await.unwrap_or_else(|_| "Conflict".into()),
        )),
        400 => Err(Error::bad_request(
            resp.text().await.unwrap_or_else(|_| "Bad request".into()),
        )),
        _ => Err(Error::unavailable(format!(
            "The image service answered {st}"
        ))),
    }
}

impl Compute {
    fn image_url(&self) -> Result<String, Error> {
        self.servers()
            .map(|s| s.cfg.image_url.clone())
            .ok_or_else(|| Error::unavailable("The image service is not configured."))
    }

    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Every image the caller may see (Glance pages followed).
    pub async fn proxy_image_list(&self, token: &str) -> Result<Vec<ProxyImage>, Error> {
        let base = self.image_url()?;
        let mut out = Vec::new();
        let mut next = Some("/v2/images?limit=1000".to_owned());
        while let Some(path) = next.take() {
            let resp = self
                .http()
                .get(format!("{base}{path}"))
                .header("x-auth-token", token)
                .send()
                .await
                .map_err(unavailable)?;
            let v: Value = check(resp, None).await?.json().await.map_err(unavailable)?;
            for i in v["images"].as_array().cloned().unwrap_or_default() {
                out.push(ProxyImage { doc: i });
            }
            next = v["next"].as_str().map(str::to_owned);
        }
        Ok(out)
    }

    /// One image.
    pub async fn proxy_image_get(&self, token: &str, id: &str) -> Result<ProxyImage, Error> {
        let base = self.image_url()?;
        let resp = self
            .http()
            .get(format!("{base}/v2/images/{id}"))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(unavailable)?;
        let doc: Value = check(resp, Some(id))
            .await?
            .json()
            .await
            .map_err(unavailable)?;
        Ok(ProxyImage { doc })
    }

    /// Deletes an image.
    pub async fn proxy_image_delete(&self, token: &str, id: &str) -> Result<(), Error> {
        let base = self.image_url()?;
        let resp = self
            .http()
            .delete(format!("{base}/v2/images/{id}"))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(unavailable)?;
        check(resp, Some(id)).await?;
        Ok(())
    }

    /// Replaces the image's properties with `meta` (`replace`) or merges `meta` into them.
    pub async fn proxy_image_set_metadata(
        &self,
        token: &str,
        id: &str,
        meta: &Map<String, Value>,
        replace: bool,
    ) -> Result<ProxyImage, Error> {
        let img = self.proxy_image_get(token, id).await?;
        let current = img.metadata();
        let limit = self
            .quota_limits(img.doc["owner"].as_str().unwrap_or_default(), None)
            .await?
            .get("metadata_items")
            .copied()
            .unwrap_or(-1);
        let mut ops = Vec::new();
        if replace {
            for k in current.keys().filter(|k| !meta.contains_key(*k)) {
                ops.push(json!({"op": "remove", "path": format!("/{k}")}));
            }
        }
        let mut count = if replace { 0 } else { current.len() };
        for (k, v) in meta {
            if CORE.contains(&k.as_str()) {
                return Err(Error::bad_request(format!(
                    "Invalid metadata key {k}: it is an image attribute."
                )));
            }
            let op = if current.contains_key(k) {
                "replace"
            } else {
                "add"
            };
            if !current.contains_key(k) || replace {
                count += 1;
            }
            ops.push(json!({"op": op, "path": format!("/{k}"), "value": v}));
        }
        if limit >= 0 && count as i64 > limit {
            return Err(Error::forbidden("Quota exceeded for metadata items."));
        }
        let base = self.image_url()?;
        let resp = self
            .http()
            .patch(format!("{base}/v2/images/{id}"))
            .header("x-auth-token", token)
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(Value::Array(ops).to_string())
            .send()
            .await
            .map_err(unavailable)?;
        let doc: Value = check(resp, Some(id))
            .await?
            .json()
            .await
            .map_err(unavailable)?;
        Ok(ProxyImage { doc })
    }

    /// Removes one property.
    pub async fn proxy_image_delete_key(
        &self,
        token: &str,
        id: &str,
        key: &str,
    ) -> Result<(), Error> {
        let img = self.proxy_image_get(token, id).await?;
        if !img.metadata().contains_key(key) {
            return Err(Error::not_found(format!(
                "Image {id} has no metadata key {key}."
            )));
        }
        let base = self.image_url()?;
        let resp = self
            .http()
            .patch(format!("{base}/v2/images/{id}"))
            .header("x-auth-token", token)
            .header(
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(json!([{"op": "remove", "path": format!("/{key}")}]).to_string())
            .send()
            .await
            .map_err(unavailable)?;
        check(resp, Some(id)).await?;
        Ok(())
    }
}
