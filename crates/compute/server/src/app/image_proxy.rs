//! The `/images` proxy (deprecated upstream at 2.36): nova's image API answered from the
//! Image service, called with the caller's own token so Glance applies its visibility
//! and policy. Glance's v2 documents are converted to nova's v2.1 image view here.
//! Calls go through `rustack_image_api::client::ImageClient`.

use rustack_common::Error;
use rustack_image_api::client::ImageClient;
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

impl Compute {
    fn images(&self) -> Result<ImageClient, Error> {
        let url = self
            .servers()
            .map(|s| s.cfg.image_url.clone())
            .ok_or_else(|| Error::unavailable("The image service is not configured."))?;
        Ok(ImageClient::with_http(&url, self.http.clone()))
    }

    /// Every image the caller may see.
    pub async fn proxy_image_list(&self, token: &str) -> Result<Vec<ProxyImage>, Error> {
        Ok(self
            .images()?
            .list(token)
            .await?
            .into_iter()
            .map(|doc| ProxyImage { doc })
            .collect())
    }

    /// One image.
    pub async fn proxy_image_get(&self, token: &str, id: &str) -> Result<ProxyImage, Error> {
        Ok(ProxyImage {
            doc: self.images()?.get(token, id).await?,
        })
    }

    /// Deletes an image.
    pub async fn proxy_image_delete(&self, token: &str, id: &str) -> Result<(), Error> {
        self.images()?.delete(token, id).await
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
        let doc = self.images()?.patch(token, id, &Value::Array(ops)).await?;
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
        self.images()?
            .patch(
                token,
                id,
                &json!([{"op": "remove", "path": format!("/{key}")}]),
            )
            .await?;
        Ok(())
    }
}
