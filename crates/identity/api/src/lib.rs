//! The Identity API's typed client, for services that run apart from identity (the
//! split deployment): obtaining a service token with a password, and validating a
//! caller's token (`GET /v3/auth/tokens`), as keystonemiddleware does.

use rustack_common::Error;
use serde_json::{json, Value};

/// Password credentials of a service user (Keystone's `[keystone_authtoken]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Domain (name) of the user and project.
    pub domain_name: String,
    /// Project name to scope to (`service`).
    pub project_name: String,
}

/// A token as the Identity API returns it: the `X-Subject-Token` and the `token` body.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuedToken {
    /// The token.
    pub id: String,
    /// The `token` object.
    pub body: Value,
}

/// A client for one Identity endpoint (`http://host:5000`).
#[derive(Clone, Debug)]
pub struct IdentityClient {
    base: String,
    http: reqwest::Client,
}

impl IdentityClient {
    /// A client for `base` (no trailing `/v3`).
    pub fn new(base: impl Into<String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::internal(format!("http client: {e}")))?;
        Ok(IdentityClient {
            base: base.into().trim_end_matches('/').to_string(),
            http,
        })
    }

    fn unavailable(e: reqwest::Error) -> Error {
        Error::unavailable(format!("The identity service is unavailable: {e}"))
    }

    /// Issues a project-scoped password token (no catalog).
    pub async fn password_token(&self, c: &ServiceCredentials) -> Result<IssuedToken, Error> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": c.username, "password": c.password, "domain": {"name": c.domain_name}}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.domain_name}}},
        }});
        let r = self
            .http
            .post(format!("{}/v3/auth/tokens?nocatalog", self.base))
            .json(&body)
            .send()
            .await
            .map_err(Self::unavailable)?;
        let status = r.status().as_u16();
        let id = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let v: Value = r.json().await.map_err(Self::unavailable)?;
        match (status, id) {
            (201, Some(id)) => Ok(IssuedToken {
                id,
                body: v["token"].clone(),
            }),
            (401, _) => Err(Error::internal(
                "the service user's credentials were refused by the identity service",
            )),
            (s, _) => Err(Error::unavailable(format!(
                "identity answered {s} to the service token request"
            ))),
        }
    }

    /// Validates `subject` with the service's `token`; `Ok(None)` when it is invalid.
    pub async fn validate(&self, token: &str, subject: &str) -> Result<Option<Value>, Error> {
        let r = self
            .http
            .get(format!("{}/v3/auth/tokens?nocatalog", self.base))
            .header("x-auth-token", token)
            .header("x-subject-token", subject)
            .send()
            .await
            .map_err(Self::unavailable)?;
        match r.status().as_u16() {
            200 => {
                let v: Value = r.json().await.map_err(Self::unavailable)?;
                Ok(Some(v["token"].clone()))
            }
            404 => Ok(None),
            401 | 403 => Err(Error::internal(
                "the service token may not validate tokens (needs the service or admin role)",
            )),
            s => Err(Error::unavailable(format!(
                "identity answered {s} to a token validation"
            ))),
        }
    }

    /// `GET /v3/auth/catalog` for `token`: the `catalog` array.
    pub async fn catalog(&self, token: &str) -> Result<Value, Error> {
        let r = self
            .http
            .get(format!("{}/v3/auth/catalog", self.base))
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(Self::unavailable)?;
        match r.status().as_u16() {
            200 => {
                let v: Value = r.json().await.map_err(Self::unavailable)?;
                Ok(v["catalog"].clone())
            }
            s => Err(Error::unavailable(format!(
                "identity answered {s} to a catalog request"
            ))),
        }
    }
}
