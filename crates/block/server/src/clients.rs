//! What the block storage service needs from other services, over their public APIs:
//! a token of the `cinder` service user (cached, renewed after an hour or a 401),
//! Nova's assisted volume snapshots and `volume-extended` external event (for volumes
//! a QEMU process holds open), and the Image API (through
//! `rustack_image_api::client::ImageClient`, with the caller's token).

use std::time::{Duration, Instant};

use rustack_common::Error;
use rustack_identity_api::{IdentityClient, ServiceCredentials};
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

/// Calls to the Compute API with the `cinder` service user's token.
pub struct ComputeClient {
    base: String,
    http: reqwest::Client,
    token: ServiceToken,
}

impl ComputeClient {
    /// A client for compute at `base` (`http://host:8774/v2.1`).
    pub fn new(base: &str, token: ServiceToken) -> ComputeClient {
        ComputeClient {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            token,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), Error> {
        for attempt in 0..2 {
            let token = self.token.get().await?;
            let mut rb = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                // 2.51 introduced the `volume-extended` event (as Cinder's Nova client
                // sends it); the other calls mean the same at 2.51 as at 2.1.
                .header("openstack-api-version", "compute 2.51")
                .header("x-auth-token", &token);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let r = rb
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("compute API unreachable: {e}")))?;
            let status = r.status().as_u16();
            if status == 401 && attempt == 0 {
                self.token.invalidate().await;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(());
            }
            let text = r.text().await.unwrap_or_default();
            return Err(Error::unavailable(format!(
                "compute API answered {status} to {method} {path}: {}",
                text.chars().take(300).collect::<String>()
            )));
        }
        Err(Error::unavailable(
            "compute API refused the cinder service token",
        ))
    }

    /// `POST /os-assisted-volume-snapshots` (synchronous in rustack).
    pub async fn assisted_snapshot_create(
        &self,
        volume_id: &str,
        snapshot_id: &str,
    ) -> Result<(), Error> {
        let body = json!({"snapshot": {
            "volume_id": volume_id,
            "create_info": {
                "snapshot_id": snapshot_id,
                "type": "qcow2-internal",
                "name": format!("snapshot-{snapshot_id}"),
            }
        }});
        self.send(
            reqwest::Method::POST,
            "/os-assisted-volume-snapshots",
            Some(&body),
        )
        .await
    }

    /// `DELETE /os-assisted-volume-snapshots/{id}?delete_info=...`.
    pub async fn assisted_snapshot_delete(
        &self,
        volume_id: &str,
        snapshot_id: &str,
    ) -> Result<(), Error> {
        let info = json!({
            "volume_id": volume_id,
            "type": "qcow2-internal",
            "name": format!("snapshot-{snapshot_id}"),
        })
        .to_string();
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("delete_info", &info)
            .finish();
        self.send(
            reqwest::Method::DELETE,
            &format!("/os-assisted-volume-snapshots/{snapshot_id}?{q}"),
            None,
        )
        .await
    }

    /// `POST /os-server-external-events` with `volume-extended`.
    pub async fn volume_extended(&self, server_id: &str, volume_id: &str) -> Result<(), Error> {
        let body = json!({"events": [{
            "name": "volume-extended",
            "server_uuid": server_id,
            "tag": volume_id,
        }]});
        self.send(
            reqwest::Method::POST,
            "/os-server-external-events",
            Some(&body),
        )
        .await
    }

    /// Whether server `server_id` exists (`GET /servers/{id}`): `Ok(false)` only on
    /// Nova's 404 `itemNotFound` fault (a deleted server is not shown); anything else,
    /// a 404 from a wrong URL included, is an error, so callers never act on a guess.
    pub async fn server_exists(&self, server_id: &str) -> Result<bool, Error> {
        for attempt in 0..2 {
            let token = self.token.get().await?;
            let r = self
                .http
                .get(format!("{}/servers/{server_id}", self.base))
                .header("x-auth-token", &token)
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("compute API unreachable: {e}")))?;
            match r.status().as_u16() {
                401 if attempt == 0 => {
                    self.token.invalidate().await;
                    continue;
                }
                404 => {
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    if body.get("itemNotFound").is_some() {
                        return Ok(false);
                    }
                    return Err(Error::unavailable(
                        "compute API answered 404 without a Nova fault for a server",
                    ));
                }
                s if (200..300).contains(&s) => return Ok(true),
                s => {
                    return Err(Error::unavailable(format!(
                        "compute API answered {s} for a server"
                    )))
                }
            }
        }
        Err(Error::unavailable(
            "compute API refused the cinder service token",
        ))
    }

    /// Whether Nova has `volume_id` attached to `server_id` (`GET
    /// /servers/{id}/os-volume_attachments/{volume_id}`: 200 or 404).
    pub async fn server_has_volume(&self, server_id: &str, volume_id: &str) -> Result<bool, Error> {
        for attempt in 0..2 {
            let token = self.token.get().await?;
            let r = self
                .http
                .get(format!(
                    "{}/servers/{server_id}/os-volume_attachments/{volume_id}",
                    self.base
                ))
                .header("x-auth-token", &token)
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("compute API unreachable: {e}")))?;
            match r.status().as_u16() {
                401 if attempt == 0 => {
                    self.token.invalidate().await;
                    continue;
                }
                404 => return Ok(false),
                s if (200..300).contains(&s) => return Ok(true),
                s => {
                    return Err(Error::unavailable(format!(
                        "compute API answered {s} for a server's volume attachment"
                    )))
                }
            }
        }
        Err(Error::unavailable(
            "compute API refused the cinder service token",
        ))
    }
}
