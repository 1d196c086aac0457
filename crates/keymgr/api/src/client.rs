//! A typed client for the Key Manager API (Barbican v1, feature `client`): the
//! castellan-shaped [`KeyManager`] operations block storage and compute need, called with
//! the token the caller supplies so a secret belongs to the caller's project.
//!
//! `create_key` follows castellan's Barbican backend: it places a `key` order, polls it
//! until it is `ACTIVE` (a short deadline), takes the secret id from the order's
//! `secret_ref` and then deletes the order. Failures map to [`rustack_common::Error`]:
//! Barbican's 404 is `NotFound`, 403 `Forbidden`, 409 `Conflict`, 400/415 `BadRequest`
//! (with Barbican's `description`; the 400 refusing to delete a consumed secret is
//! `Conflict`), 401 `Unauthenticated`, 413 `OverQuota`, anything else or a transport
//! failure `Unavailable`.

use std::time::Duration;

use base64::Engine as _;
use rustack_common::Error;
use serde_json::{json, Value};

use crate::{Consumer, KeyManager, NewSecret};

/// The microversion header value the consumer calls need.
const V1_1: &str = "key-manager 1.1";
/// How long `create_key` waits for its order to become `ACTIVE`.
const ORDER_DEADLINE: Duration = Duration::from_secs(30);

/// A client for one Key Manager endpoint (`http://host:9311`).
#[derive(Clone, Debug)]
pub struct KeyManagerClient {
    base: String,
    http: reqwest::Client,
}

fn unavailable(e: reqwest::Error) -> Error {
    Error::unavailable(format!("The key manager is unavailable: {e}"))
}

/// The last path segment of a Barbican ref (`…/v1/secrets/<uuid>`), as barbicanclient
/// resolves refs.
pub fn ref_id(r: &str) -> &str {
    r.trim_end_matches('/').rsplit('/').next().unwrap_or(r)
}

/// Maps a non-success answer to an [`Error`] (`what` names the resource in a 404).
async fn failure(r: reqwest::Response, what: &str) -> Error {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let msg = body["description"].as_str().map(str::to_owned);
    match status {
        404 => Error::not_found(msg.unwrap_or_else(|| format!("{what} not found."))),
        403 => Error::forbidden(msg.unwrap_or_else(|| "Forbidden to access the secret.".into())),
        409 => Error::conflict(msg.unwrap_or_else(|| "Conflict".into())),
        // Barbican refuses deleting a consumed secret (1.2) with a 400.
        400 if msg.as_deref().is_some_and(|m| m.contains("has consumers")) => {
            Error::conflict(msg.unwrap_or_default())
        }
        400 | 415 => Error::bad_request(msg.unwrap_or_else(|| "Bad request".into())),
        401 => Error::unauthenticated("The request you have made requires authentication."),
        413 => Error::over_quota(msg.unwrap_or_else(|| "Quota exceeded.".into())),
        s => Error::unavailable(format!("The key manager answered {s}")),
    }
}

impl KeyManagerClient {
    /// A client for `base_url` (`http://host:9311`; a trailing `/v1` is accepted) with
    /// its own HTTP client.
    pub fn new(base_url: &str) -> Result<KeyManagerClient, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(Self::with_http(base_url, http))
    }

    /// A client for `base_url` sharing `http`.
    pub fn with_http(base_url: &str, http: reqwest::Client) -> KeyManagerClient {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        KeyManagerClient {
            base: base.to_owned(),
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.base)
    }

    /// `GET /v1/orders/{id}` as JSON.
    pub async fn order_get(&self, token: &str, order_id: &str) -> Result<Value, Error> {
        let r = self
            .http
            .get(self.url(&format!("/orders/{order_id}")))
            .header("x-auth-token", token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Order").await);
        }
        r.json().await.map_err(unavailable)
    }

    /// `DELETE /v1/orders/{id}`.
    pub async fn order_delete(&self, token: &str, order_id: &str) -> Result<(), Error> {
        let r = self
            .http
            .delete(self.url(&format!("/orders/{order_id}")))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Order").await);
        }
        Ok(())
    }

    /// `GET /v1/secrets/{id}`: the secret's metadata as JSON.
    pub async fn secret_get(&self, token: &str, secret_id: &str) -> Result<Value, Error> {
        let r = self
            .http
            .get(self.url(&format!("/secrets/{secret_id}")))
            .header("x-auth-token", token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Secret").await);
        }
        r.json().await.map_err(unavailable)
    }

    async fn consumer_call(
        &self,
        method: reqwest::Method,
        token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<reqwest::Response, Error> {
        self.http
            .request(method, self.url(&format!("/secrets/{secret_id}/consumers")))
            .header("x-auth-token", token)
            .header("openstack-api-version", V1_1)
            .json(consumer)
            .send()
            .await
            .map_err(unavailable)
    }
}

#[async_trait::async_trait]
impl KeyManager for KeyManagerClient {
    async fn create_key(
        &self,
        token: &str,
        algorithm: &str,
        bit_length: u32,
        name: Option<&str>,
    ) -> Result<String, Error> {
        let mut meta = json!({
            "algorithm": algorithm,
            "bit_length": bit_length,
            "payload_content_type": "application/octet-stream",
        });
        if let Some(n) = name {
            meta["name"] = json!(n);
        }
        let r = self
            .http
            .post(self.url("/orders"))
            .header("x-auth-token", token)
            .json(&json!({"type": "key", "meta": meta}))
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Order").await);
        }
        let v: Value = r.json().await.map_err(unavailable)?;
        let order_ref = v["order_ref"]
            .as_str()
            .ok_or_else(|| Error::unavailable("The key manager returned no order_ref"))?;
        let order_id = ref_id(order_ref).to_owned();
        let deadline = tokio::time::Instant::now() + ORDER_DEADLINE;
        let mut delay = Duration::from_millis(20);
        let secret_id = loop {
            let o = self.order_get(token, &order_id).await?;
            match o["status"].as_str() {
                Some("ACTIVE") => {
                    let sref = o["secret_ref"].as_str().ok_or_else(|| {
                        Error::unavailable("The key manager's active order has no secret_ref")
                    })?;
                    break ref_id(sref).to_owned();
                }
                Some("ERROR") => {
                    let reason = o["error_reason"].as_str().unwrap_or("unknown error");
                    return Err(Error::unavailable(format!(
                        "The key manager failed to create a key: {reason}"
                    )));
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::unavailable(format!(
                    "The key manager's order {order_id} did not become ACTIVE in time"
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        };
        // As castellan: the order is only the means to the key.
        self.order_delete(token, &order_id).await?;
        Ok(secret_id)
    }

    async fn store(&self, token: &str, secret: &NewSecret) -> Result<String, Error> {
        let mut body = json!({
            "secret_type": secret.secret_type,
            "payload": base64::engine::general_purpose::STANDARD.encode(&secret.payload),
            "payload_content_type": "application/octet-stream",
            "payload_content_encoding": "base64",
        });
        if let Some(n) = &secret.name {
            body["name"] = json!(n);
        }
        if let Some(a) = &secret.algorithm {
            body["algorithm"] = json!(a);
        }
        if let Some(b) = secret.bit_length {
            body["bit_length"] = json!(b);
        }
        if let Some(m) = &secret.mode {
            body["mode"] = json!(m);
        }
        let r = self
            .http
            .post(self.url("/secrets"))
            .header("x-auth-token", token)
            .json(&body)
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Secret").await);
        }
        let v: Value = r.json().await.map_err(unavailable)?;
        let sref = v["secret_ref"]
            .as_str()
            .ok_or_else(|| Error::unavailable("The key manager returned no secret_ref"))?;
        Ok(ref_id(sref).to_owned())
    }

    async fn get(&self, token: &str, secret_id: &str) -> Result<Vec<u8>, Error> {
        let r = self
            .http
            .get(self.url(&format!("/secrets/{secret_id}/payload")))
            .header("x-auth-token", token)
            .header("accept", "application/octet-stream")
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Secret").await);
        }
        Ok(r.bytes().await.map_err(unavailable)?.to_vec())
    }

    async fn delete(&self, token: &str, secret_id: &str, force: bool) -> Result<(), Error> {
        let mut url = self.url(&format!("/secrets/{secret_id}"));
        if force {
            url.push_str("?force=true");
        }
        let r = self
            .http
            .delete(url)
            .header("x-auth-token", token)
            .header("openstack-api-version", "key-manager 1.2")
            .send()
            .await
            .map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, "Secret").await);
        }
        Ok(())
    }

    async fn add_consumer(
        &self,
        token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<(), Error> {
        let r = self
            .consumer_call(reqwest::Method::POST, token, secret_id, consumer)
            .await?;
        if !r.status().is_success() {
            return Err(failure(r, "Secret").await);
        }
        Ok(())
    }

    async fn remove_consumer(
        &self,
        token: &str,
        secret_id: &str,
        consumer: &Consumer,
    ) -> Result<(), Error> {
        let r = self
            .consumer_call(reqwest::Method::DELETE, token, secret_id, consumer)
            .await?;
        // Barbican answers 404 for a consumer that is not registered; castellan treats
        // removing an absent consumer as done, but a missing secret is still an error.
        if r.status().as_u16() == 404 {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let desc = body["description"].as_str().unwrap_or_default();
            if desc.contains("onsumer") {
                return Ok(());
            }
            return Err(Error::not_found(if desc.is_empty() {
                "Secret not found.".to_owned()
            } else {
                desc.to_owned()
            }));
        }
        if !r.status().is_success() {
            return Err(failure(r, "Secret").await);
        }
        Ok(())
    }
}
