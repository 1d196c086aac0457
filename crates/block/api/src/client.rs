//! A typed client for the Block Storage API (Cinder v3, feature `client`): what the
//! compute service needs from Cinder — volumes, the 3.27+ attachments handshake
//! (create without a connector, update with one, complete, delete), the detach guard
//! actions, a volume's encryption metadata, and snapshots — called with the caller's
//! token and, where Nova sends one, the `nova` service user's token as
//! `X-Service-Token` (Cinder refuses some detach paths to a plain user since
//! OSSA-2023-003).
//!
//! The base URL is the versioned endpoint (`http://host:8776/v3`, or with a project id
//! appended, as a catalog may list it); paths are appended to it. Every request sends
//! `OpenStack-API-Version: volume 3.44` unless a call says otherwise.
//!
//! Failures map to [`rustack_common::Error`]: 404 is `NotFound`, 403 `Forbidden`, 409
//! `Conflict`, 400 `BadRequest` (with Cinder's message), 401 `Unauthenticated`, 413
//! `OverQuota`, anything else or a transport failure `Unavailable`.

use std::time::Duration;

use rustack_common::Error;
use serde_json::{json, Value};

use crate::connection::{ConnectionInfo, Connector};

/// The microversion the client speaks by default (Nova's attachment API level).
pub const DEFAULT_MICROVERSION: &str = "3.44";

/// A client for one Block Storage endpoint.
#[derive(Clone, Debug)]
pub struct BlockClient {
    base: String,
    http: reqwest::Client,
}

/// The tokens of one call: the caller's, and optionally a service token.
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    /// The user's (or a service user's) `X-Auth-Token`.
    pub user: &'a str,
    /// `X-Service-Token`: the calling service's own token.
    pub service: Option<&'a str>,
}

impl<'a> Tokens<'a> {
    /// Only a user token.
    pub fn user(user: &'a str) -> Self {
        Tokens {
            user,
            service: None,
        }
    }

    /// A user token with a service token.
    pub fn with_service(user: &'a str, service: &'a str) -> Self {
        Tokens {
            user,
            service: Some(service),
        }
    }
}

/// An attachment as the compute side needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    /// The attachment id.
    pub id: String,
    /// `reserved`, `attaching`, `attached`, ...
    pub status: String,
    /// How to reach the volume, once a connector was given.
    pub connection_info: Option<ConnectionInfo>,
    /// The whole answer.
    pub doc: Value,
}

fn unavailable(e: reqwest::Error) -> Error {
    Error::unavailable(format!("The block storage service is unavailable: {e}"))
}

/// The message of a Cinder fault body (`{"itemNotFound": {"code", "message"}}`).
fn fault_message(body: &Value) -> Option<String> {
    body.as_object()?
        .values()
        .find_map(|v| v["message"].as_str().map(str::to_owned))
        .or_else(|| body["message"].as_str().map(str::to_owned))
}

/// Maps a non-success answer to an [`Error`].
async fn failure(r: reqwest::Response, what: &str) -> Error {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let msg = fault_message(&body);
    match status {
        404 => Error::not_found(msg.unwrap_or_else(|| format!("{what} could not be found."))),
        403 => Error::forbidden(msg.unwrap_or_else(|| "Policy doesn't allow this.".into())),
        409 => Error::conflict(msg.unwrap_or_else(|| "Conflict".into())),
        400 => Error::bad_request(msg.unwrap_or_else(|| "Bad request".into())),
        401 => Error::unauthenticated("The request you have made requires authentication."),
        413 => Error::over_quota(msg.unwrap_or_else(|| "Quota exceeded.".into())),
        s => Error::unavailable(format!(
            "The block storage service answered {s}: {}",
            msg.unwrap_or_default()
        )),
    }
}

/// Cinder answers `connection_info` flat (`driver_volume_type` beside the data
/// keys, as Nova's `_translate_attachment_ref` expects); accept the nested form too.
pub fn parse_connection_info(v: &Value) -> Option<ConnectionInfo> {
    let o = v.as_object()?;
    let kind = o.get("driver_volume_type")?.as_str()?.to_owned();
    if let Some(Value::Object(data)) = o.get("data") {
        return Some(ConnectionInfo {
            driver_volume_type: kind,
            data: data.clone(),
        });
    }
    let mut data = o.clone();
    data.remove("driver_volume_type");
    Some(ConnectionInfo {
        driver_volume_type: kind,
        data,
    })
}

fn attachment_of(v: &Value) -> Result<Attachment, Error> {
    let a = &v["attachment"];
    let id = a["id"]
        .as_str()
        .ok_or_else(|| Error::internal("attachment answer without an id"))?
        .to_owned();
    Ok(Attachment {
        id,
        status: a["status"]
            .as_str()
            .or_else(|| a["attach_status"].as_str())
            .unwrap_or_default()
            .to_owned(),
        connection_info: parse_connection_info(&a["connection_info"]),
        doc: a.clone(),
    })
}

impl BlockClient {
    /// A client for `base` (`http://host:8776/v3`) with its own HTTP client.
    pub fn new(base: &str) -> Result<BlockClient, Error> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(Self::with_http(base, http))
    }

    /// A client for `base` sharing `http`.
    pub fn with_http(base: &str, http: reqwest::Client) -> BlockClient {
        BlockClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// One request: `method path` with `body`, at `microversion`; the JSON answer
    /// (`Null` for an empty body). `what` names the resource in a 404.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        tokens: Tokens<'_>,
        body: Option<&Value>,
        microversion: &str,
        what: &str,
    ) -> Result<Value, Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-auth-token", tokens.user)
            .header("openstack-api-version", format!("volume {microversion}"))
            .header("accept", "application/json");
        if let Some(s) = tokens.service {
            req = req.header("x-service-token", s);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.map_err(unavailable)?;
        if !r.status().is_success() {
            return Err(failure(r, what).await);
        }
        let bytes = r.bytes().await.map_err(unavailable)?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::unavailable(format!("The block storage service answered bad JSON: {e}"))
        })
    }

    async fn get(&self, path: &str, tokens: Tokens<'_>, what: &str) -> Result<Value, Error> {
        self.call(
            reqwest::Method::GET,
            path,
            tokens,
            None,
            DEFAULT_MICROVERSION,
            what,
        )
        .await
    }

    async fn post(
        &self,
        path: &str,
        tokens: Tokens<'_>,
        body: &Value,
        what: &str,
    ) -> Result<Value, Error> {
        self.call(
            reqwest::Method::POST,
            path,
            tokens,
            Some(body),
            DEFAULT_MICROVERSION,
            what,
        )
        .await
    }

    async fn delete(&self, path: &str, tokens: Tokens<'_>, what: &str) -> Result<(), Error> {
        self.call(
            reqwest::Method::DELETE,
            path,
            tokens,
            None,
            DEFAULT_MICROVERSION,
            what,
        )
        .await
        .map(|_| ())
    }

    /// `GET /volumes/{id}`: the volume document.
    pub async fn volume_get(&self, tokens: Tokens<'_>, id: &str) -> Result<Value, Error> {
        let v = self
            .get(&format!("/volumes/{id}"), tokens, &format!("Volume {id}"))
            .await?;
        Ok(v["volume"].clone())
    }

    /// `GET /volumes[/detail]?query`: the volumes (one page; Cinder's own limit).
    pub async fn volume_list(
        &self,
        tokens: Tokens<'_>,
        detail: bool,
        query: &[(String, String)],
    ) -> Result<Vec<Value>, Error> {
        let path = with_query(
            if detail {
                "/volumes/detail"
            } else {
                "/volumes"
            },
            query,
        );
        let v = self.get(&path, tokens, "Volumes").await?;
        Ok(v["volumes"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /volumes` with `{"volume": body}`: the new volume.
    pub async fn volume_create(&self, tokens: Tokens<'_>, body: &Value) -> Result<Value, Error> {
        let v = self
            .post("/volumes", tokens, &json!({ "volume": body }), "Volume")
            .await?;
        Ok(v["volume"].clone())
    }

    /// `DELETE /volumes/{id}`.
    pub async fn volume_delete(&self, tokens: Tokens<'_>, id: &str) -> Result<(), Error> {
        self.delete(&format!("/volumes/{id}"), tokens, &format!("Volume {id}"))
            .await
    }

    /// `POST /volumes/{id}/action` with `body` (one action key).
    pub async fn volume_action(
        &self,
        tokens: Tokens<'_>,
        id: &str,
        body: &Value,
    ) -> Result<Value, Error> {
        self.post(
            &format!("/volumes/{id}/action"),
            tokens,
            body,
            &format!("Volume {id}"),
        )
        .await
    }

    /// `os-begin_detaching`: the volume goes `detaching`.
    pub async fn begin_detaching(&self, tokens: Tokens<'_>, id: &str) -> Result<(), Error> {
        self.volume_action(tokens, id, &json!({"os-begin_detaching": {}}))
            .await
            .map(|_| ())
    }

    /// `os-roll_detaching`: a failed detach puts the volume back `in-use`.
    pub async fn roll_detaching(&self, tokens: Tokens<'_>, id: &str) -> Result<(), Error> {
        self.volume_action(tokens, id, &json!({"os-roll_detaching": {}}))
            .await
            .map(|_| ())
    }

    /// `GET /volumes/{id}/encryption`: the encryption metadata (`encryption_key_id`,
    /// `provider`, `cipher`, `key_size`, `control_location`); `{}` for a plain volume.
    pub async fn encryption_get(&self, tokens: Tokens<'_>, id: &str) -> Result<Value, Error> {
        self.get(
            &format!("/volumes/{id}/encryption"),
            tokens,
            &format!("Volume {id}"),
        )
        .await
    }

    /// `POST /attachments` without a connector: reserves the volume for `instance`.
    pub async fn attachment_create(
        &self,
        tokens: Tokens<'_>,
        volume_id: &str,
        instance: &str,
        mode: Option<&str>,
    ) -> Result<Attachment, Error> {
        let mut a = json!({"volume_uuid": volume_id, "instance_uuid": instance});
        if let Some(m) = mode {
            a["mode"] = json!(m);
        }
        let v = self
            .call(
                reqwest::Method::POST,
                "/attachments",
                tokens,
                Some(&json!({ "attachment": a })),
                // `mode` needs 3.54; without it Nova's 3.44 suffices.
                if mode.is_some() {
                    "3.54"
                } else {
                    DEFAULT_MICROVERSION
                },
                &format!("Volume {volume_id}"),
            )
            .await?;
        attachment_of(&v)
    }

    /// `PUT /attachments/{id}` with a connector: the attachment with its
    /// `connection_info`.
    pub async fn attachment_update(
        &self,
        tokens: Tokens<'_>,
        id: &str,
        connector: &Connector,
    ) -> Result<Attachment, Error> {
        let v = self
            .call(
                reqwest::Method::PUT,
                &format!("/attachments/{id}"),
                tokens,
                Some(&json!({"attachment": {"connector": connector}})),
                DEFAULT_MICROVERSION,
                &format!("Attachment {id}"),
            )
            .await?;
        attachment_of(&v)
    }

    /// `GET /attachments/{id}`.
    pub async fn attachment_get(&self, tokens: Tokens<'_>, id: &str) -> Result<Attachment, Error> {
        let v = self
            .get(
                &format!("/attachments/{id}"),
                tokens,
                &format!("Attachment {id}"),
            )
            .await?;
        attachment_of(&v)
    }

    /// `POST /attachments/{id}/action {"os-complete": null}`: the volume goes `in-use`.
    pub async fn attachment_complete(&self, tokens: Tokens<'_>, id: &str) -> Result<(), Error> {
        self.post(
            &format!("/attachments/{id}/action"),
            tokens,
            &json!({"os-complete": null}),
            &format!("Attachment {id}"),
        )
        .await
        .map(|_| ())
    }

    /// `DELETE /attachments/{id}`: the volume goes `available` when it was the last.
    pub async fn attachment_delete(&self, tokens: Tokens<'_>, id: &str) -> Result<(), Error> {
        self.delete(
            &format!("/attachments/{id}"),
            tokens,
            &format!("Attachment {id}"),
        )
        .await
    }

    /// `POST /snapshots` with `{"snapshot": body}` (`volume_id`, `force`, `name`,
    /// `description`, `metadata`): the new snapshot.
    pub async fn snapshot_create(&self, tokens: Tokens<'_>, body: &Value) -> Result<Value, Error> {
        let v = self
            .post(
                "/snapshots",
                tokens,
                &json!({ "snapshot": body }),
                "Snapshot",
            )
            .await?;
        Ok(v["snapshot"].clone())
    }

    /// `GET /snapshots/{id}`.
    pub async fn snapshot_get(&self, tokens: Tokens<'_>, id: &str) -> Result<Value, Error> {
        let v = self
            .get(
                &format!("/snapshots/{id}"),
                tokens,
                &format!("Snapshot {id}"),
            )
            .await?;
        Ok(v["snapshot"].clone())
    }

    /// `GET /snapshots[/detail]?query`.
    pub async fn snapshot_list(
        &self,
        tokens: Tokens<'_>,
        detail: bool,
        query: &[(String, String)],
    ) -> Result<Vec<Value>, Error> {
        let path = with_query(
            if detail {
                "/snapshots/detail"
            } else {
                "/snapshots"
            },
            query,
        );
        let v = self.get(&path, tokens, "Snapshots").await?;
        Ok(v["snapshots"].as_array().cloned().unwrap_or_default())
    }

    /// `DELETE /snapshots/{id}`.
    pub async fn snapshot_delete(&self, tokens: Tokens<'_>, id: &str) -> Result<(), Error> {
        self.delete(
            &format!("/snapshots/{id}"),
            tokens,
            &format!("Snapshot {id}"),
        )
        .await
    }
}

fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", q.join("&"))
}

/// Percent-encodes a query component (unreserved characters kept).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_info_flat_and_nested() {
        let flat = json!({"driver_volume_type": "file", "path": "/v/x.qcow2", "format": "qcow2"});
        let c = parse_connection_info(&flat).expect("flat");
        assert_eq!(c.driver_volume_type, "file");
        assert_eq!(c.data["path"], "/v/x.qcow2");
        assert!(!c.data.contains_key("driver_volume_type"));
        let nested = json!({"driver_volume_type": "file", "data": {"path": "/p"}});
        let c = parse_connection_info(&nested).expect("nested");
        assert_eq!(c.data["path"], "/p");
        assert!(parse_connection_info(&Value::Null).is_none());
    }

    #[test]
    fn fault_messages_and_queries() {
        let b = json!({"itemNotFound": {"code": 404, "message": "Volume x could not be found."}});
        assert_eq!(
            fault_message(&b).as_deref(),
            Some("Volume x could not be found.")
        );
        assert_eq!(
            with_query("/volumes", &[("name".into(), "a b&c".into())]),
            "/volumes?name=a%20b%26c"
        );
        assert_eq!(with_query("/volumes", &[]), "/volumes");
    }
}
