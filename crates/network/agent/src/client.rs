//! The agent's typed client of the Networking API: admin reads of whole collections and
//! the internal port-status report. It authenticates with a service user's password
//! (the `neutron` user, admin on the `service` project as Kolla grants it) and renews
//! the token when the API answers 401.

use rustack_identity_api::{IdentityClient, ServiceCredentials};
use serde_json::{json, Value};

use crate::error::AgentError;

/// How the agent authenticates.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A service user's password, exchanged at the Identity API for a token.
    Password {
        /// Identity API (`http://host:5000`).
        identity_url: String,
        /// The user.
        user: ServiceCredentials,
    },
    /// A fixed token (tests).
    Token(String),
}

/// A client of one Networking API endpoint.
pub struct NetworkClient {
    base: String,
    http: reqwest::Client,
    creds: Credentials,
    token: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for NetworkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl NetworkClient {
    /// A client of `base` (`http://host:9696`).
    pub fn new(base: impl Into<String>, creds: Credentials) -> Result<Self, AgentError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .no_proxy()
            .build()
            .map_err(|e| AgentError::Http {
                url: "(client)".into(),
                source: e,
            })?;
        Ok(NetworkClient {
            base: base.into().trim_end_matches('/').to_string(),
            http,
            creds,
            token: tokio::sync::Mutex::new(None),
        })
    }

    async fn token(&self, fresh: bool) -> Result<String, AgentError> {
        let mut t = self.token.lock().await;
        if let (false, Some(t)) = (fresh, t.as_ref()) {
            return Ok(t.clone());
        }
        let new = match &self.creds {
            Credentials::Token(t) => t.clone(),
            Credentials::Password { identity_url, user } => {
                IdentityClient::new(identity_url.clone())
                    .map_err(AgentError::Identity)?
                    .password_token(user)
                    .await
                    .map_err(AgentError::Identity)?
                    .id
            }
        };
        *t = Some(new.clone());
        Ok(new)
    }

    /// Sends a request, renewing the token once on 401; returns the JSON body.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AgentError> {
        let url = format!("{}{path}", self.base);
        for attempt in 0..2 {
            let token = self.token(attempt > 0).await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("x-auth-token", token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let r = req.send().await.map_err(|e| AgentError::Http {
                url: url.clone(),
                source: e,
            })?;
            let status = r.status().as_u16();
            if status == 401 && attempt == 0 {
                continue;
            }
            let text = r.text().await.map_err(|e| AgentError::Http {
                url: url.clone(),
                source: e,
            })?;
            if !(200..300).contains(&status) {
                return Err(AgentError::Status {
                    url,
                    status,
                    body: text.chars().take(300).collect(),
                });
            }
            return serde_json::from_str(&text).map_err(|e| AgentError::Decode {
                url: url.clone(),
                message: e.to_string(),
            });
        }
        Err(AgentError::Status {
            url,
            status: 401,
            body: "the token was refused twice".into(),
        })
    }

    /// Every document of a collection (`networks`, `ports`...), as the token may see it.
    pub async fn list(&self, collection: &str) -> Result<Vec<Value>, AgentError> {
        let key = collection.replace('-', "_");
        let v = self
            .send(reqwest::Method::GET, &format!("/v2.0/{collection}"), None)
            .await?;
        match v.get(&key) {
            Some(Value::Array(a)) => Ok(a.clone()),
            _ => Err(AgentError::Decode {
                url: format!("{}/v2.0/{collection}", self.base),
                message: format!("no '{key}' list in the response"),
            }),
        }
    }

    /// Reports port statuses (`PUT /v2.0/rustack-agent/ports/status`); returns how many
    /// the service changed.
    pub async fn port_status_update(
        &self,
        items: &[(String, &'static str)],
    ) -> Result<u64, AgentError> {
        let ports: Vec<Value> = items
            .iter()
            .map(|(id, st)| json!({"id": id, "status": st}))
            .collect();
        let v = self
            .send(
                reqwest::Method::PUT,
                "/v2.0/rustack-agent/ports/status",
                Some(&json!({ "ports": ports })),
            )
            .await?;
        Ok(v.get("updated").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Registers this host's agent (or refreshes its heartbeat) with its
    /// `configurations`; returns every registered agent.
    pub async fn agent_report(
        &self,
        host: &str,
        configurations: &Value,
    ) -> Result<Vec<Value>, AgentError> {
        let path = format!("/v2.0/rustack-agent/agents/{host}");
        let v = self
            .send(
                reqwest::Method::PUT,
                &path,
                Some(&json!({"agent": {"configurations": configurations}})),
            )
            .await?;
        match v.get("agents") {
            Some(Value::Array(a)) => Ok(a.clone()),
            _ => Err(AgentError::Decode {
                url: format!("{}{path}", self.base),
                message: "no 'agents' list in the response".into(),
            }),
        }
    }
}
