//! What the servers work needs from other services, over their public APIs: a service
//! token for the `nova` service user (cached, renewed on 401), and the few Image API
//! calls of the build and of snapshots (show, download to a file, create, upload,
//! delete).

use std::path::Path;
use std::time::{Duration, Instant};

use rustack_common::Error;
use rustack_identity_api::{IdentityClient, ServiceCredentials};
use rustack_image_api::client::ImageClient;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// A service user's token, obtained with its password and renewed before expiry.
pub struct ServiceToken {
    identity: IdentityClient,
    creds: ServiceCredentials,
    cached: Mutex<Option<(String, Instant)>>,
}

impl ServiceToken {
    /// A token source for `creds` at the Identity endpoint `identity_url`.
    pub fn new(identity_url: &str, creds: ServiceCredentials) -> Result<Self, Error> {
        Ok(ServiceToken {
            identity: IdentityClient::new(identity_url)?,
            creds,
            cached: Mutex::new(None),
        })
    }

    /// The current token (issued on first use, renewed after an hour).
    pub async fn get(&self) -> Result<String, Error> {
        let mut c = self.cached.lock().await;
        if let Some((t, at)) = c.as_ref() {
            if at.elapsed() < Duration::from_secs(3600) {
                return Ok(t.clone());
            }
        }
        let issued = self.identity.password_token(&self.creds).await?;
        *c = Some((issued.id.clone(), Instant::now()));
        Ok(issued.id)
    }

    /// Forgets the cached token (after a 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

/// An image as the build needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// Id.
    pub id: String,
    /// `active`, `queued`...
    pub status: String,
    /// `qcow2`, `raw`...
    pub disk_format: String,
    /// Bytes.
    pub size: Option<u64>,
    /// MD5 of the data.
    pub checksum: Option<String>,
    /// Multihash algorithm.
    pub hash_algo: Option<String>,
    /// Multihash value.
    pub hash_value: Option<String>,
    /// Minimum RAM MiB.
    pub min_ram: u64,
    /// Minimum disk GiB.
    pub min_disk: u64,
    /// The whole image document.
    pub doc: Value,
}

/// The Image API calls of the servers work: the shared typed client
/// (`rustack_image_api::client::ImageClient`) with the answers the build needs
/// (an invisible image is `None`, deleting a missing image succeeds).
#[derive(Clone, Debug)]
pub struct Glance {
    client: ImageClient,
}

/// The image service refusing the compute service's own token is not the caller's
/// authentication failure: it is a dependency failing (503), never a 401 to the user.
fn service_side(e: Error) -> Error {
    match e {
        Error::Unauthenticated { .. } => {
            Error::unavailable("The image service refused the compute service's token.")
        }
        e => e,
    }
}

impl Glance {
    /// A client for `base` (`http://host:9292`); requests may take up to 10 minutes
    /// (image data).
    pub fn new(base: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(Glance {
            client: ImageClient::with_http(base, http),
        })
    }

    /// `GET /v2/images/{id}`; `Ok(None)` when the caller cannot see it.
    pub async fn show(&self, token: &str, id: &str) -> Result<Option<ImageInfo>, Error> {
        let v = match self.client.get(token, id).await {
            Ok(v) => v,
            Err(Error::NotFound { .. } | Error::Forbidden { .. }) => return Ok(None),
            Err(e) => return Err(service_side(e)),
        };
        let s = |k: &str| v[k].as_str().map(String::from);
        Ok(Some(ImageInfo {
            id: s("id").unwrap_or_default(),
            status: s("status").unwrap_or_default(),
            disk_format: s("disk_format").unwrap_or_default(),
            size: v["size"].as_u64(),
            checksum: s("checksum"),
            hash_algo: s("os_hash_algo"),
            hash_value: s("os_hash_value"),
            min_ram: v["min_ram"].as_u64().unwrap_or(0),
            min_disk: v["min_disk"].as_u64().unwrap_or(0),
            doc: v,
        }))
    }

    /// Downloads the image data to `dest`, returning (bytes, md5 hex).
    pub async fn download(
        &self,
        token: &str,
        id: &str,
        dest: &Path,
    ) -> Result<(u64, String), Error> {
        self.client
            .download(token, id, dest)
            .await
            .map_err(service_side)
    }

    /// Creates a queued image with `body` (Image API create attributes); returns its id.
    /// The image service's quota refusal (413) is Nova's 403.
    pub async fn create(&self, token: &str, body: &Value) -> Result<String, Error> {
        let v = match self.client.create(token, body).await {
            Ok(v) => v,
            Err(Error::OverQuota { .. }) => {
                return Err(Error::forbidden("Quota exceeded for images."))
            }
            Err(e) => return Err(service_side(e)),
        };
        v["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Error::internal("image create answered without an id"))
    }

    /// Uploads `path` as the data of image `id`.
    pub async fn upload(&self, token: &str, id: &str, path: &Path) -> Result<(), Error> {
        self.client
            .upload(token, id, path)
            .await
            .map_err(service_side)
    }

    /// Every image the token may see (documents as the Image API answers them).
    pub async fn list(&self, token: &str) -> Result<Vec<Value>, Error> {
        self.client.list(token).await.map_err(service_side)
    }

    /// Deletes image `id` (a failed snapshot); a missing image is success.
    pub async fn delete(&self, token: &str, id: &str) -> Result<(), Error> {
        match self.client.delete(token, id).await {
            Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(service_side(e)),
        }
    }
}

/// The Image API body of a snapshot of a server.
pub fn snapshot_body(
    name: &str,
    server_id: &str,
    user_id: &str,
    base: Option<&ImageInfo>,
    min_disk: u64,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Value {
    let mut body = json!({
        "name": name,
        "container_format": "bare",
        "disk_format": "qcow2",
        "visibility": "private",
        "min_disk": min_disk,
        "min_ram": base.map(|b| b.min_ram).unwrap_or(0),
        "image_type": "snapshot",
        "instance_uuid": server_id,
        "user_id": user_id,
    });
    if let Some(b) = base {
        body["base_image_ref"] = json!(b.id);
    }
    for (k, v) in metadata {
        // Reserved attributes of the Image API cannot be set as properties.
        if !matches!(
            k.as_str(),
            "id" | "name"
                | "status"
                | "visibility"
                | "container_format"
                | "disk_format"
                | "min_disk"
                | "min_ram"
                | "owner"
                | "protected"
                | "size"
                | "checksum"
                | "created_at"
                | "updated_at"
                | "file"
                | "schema"
                | "self"
                | "tags"
                | "direct_url"
                | "locations"
                | "virtual_size"
                | "os_hidden"
        ) {
            body[k] = json!(v);
        }
    }
    body
}
