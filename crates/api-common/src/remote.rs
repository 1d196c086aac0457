//! Token validation over the Identity API, for a service running apart from identity
//! (keystonemiddleware's role): a service token obtained with the service user's
//! password, and a cache of validated tokens (`cache_seconds`, keystonemiddleware's
//! `token_cache_time`, 300 s by default), so a token revoked at identity may be accepted
//! here until its cache entry expires, exactly as upstream.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustack_common::Error;
use rustack_identity_api::{IdentityClient, ServiceCredentials};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{AuthContext, TokenValidator};

/// Validates tokens at a remote Identity endpoint.
pub struct RemoteValidator {
    client: IdentityClient,
    creds: ServiceCredentials,
    cache_ttl: Duration,
    service_token: Mutex<Option<(String, Instant)>>,
    cache: Mutex<HashMap<String, (Instant, AuthContext)>>,
}

impl RemoteValidator {
    /// A validator for the Identity API at `identity_url`.
    pub fn new(
        identity_url: &str,
        creds: ServiceCredentials,
        cache_ttl: Duration,
    ) -> Result<Self, Error> {
        Ok(RemoteValidator {
            client: IdentityClient::new(identity_url)?,
            creds,
            cache_ttl,
            service_token: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        })
    }

    async fn service_token(&self, renew: bool) -> Result<String, Error> {
        let mut st = self.service_token.lock().await;
        if let Some((t, at)) = st.as_ref() {
            // Renew well before Keystone's default 24 h expiry.
            if !renew && at.elapsed() < Duration::from_secs(3600) {
                return Ok(t.clone());
            }
        }
        let issued = self.client.password_token(&self.creds).await?;
        *st = Some((issued.id.clone(), Instant::now()));
        Ok(issued.id)
    }
}

/// Builds the request context from a Keystone `token` body.
pub fn context_from_token(t: &Value) -> AuthContext {
    let s = |v: &Value| v.as_str().map(String::from);
    AuthContext {
        user_id: s(&t["user"]["id"]).unwrap_or_default(),
        user_name: s(&t["user"]["name"]).unwrap_or_default(),
        user_domain_id: s(&t["user"]["domain"]["id"]).unwrap_or_default(),
        project_id: s(&t["project"]["id"]),
        project_name: s(&t["project"]["name"]),
        project_domain_id: s(&t["project"]["domain"]["id"]),
        domain_id: s(&t["domain"]["id"]),
        system_scope: (t["system"]["all"] == Value::Bool(true)).then(|| "all".to_string()),
        roles: t["roles"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x["name"].as_str())
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default(),
        role_ids: t["roles"]
            .as_array()
            .map(|r| r.iter().filter_map(|x| s(&x["id"])).collect())
            .unwrap_or_default(),
        application_credential_id: s(&t["application_credential"]["id"]),
        application_credential_restricted: t["application_credential"]["restricted"]
            == Value::Bool(true),
        audit_ids: t["audit_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(s).collect())
            .unwrap_or_default(),
        methods: t["methods"]
            .as_array()
            .map(|a| a.iter().filter_map(s).collect())
            .unwrap_or_default(),
    }
}

#[async_trait]
impl TokenValidator for RemoteValidator {
    async fn validate(&self, token: &str) -> Result<AuthContext, Error> {
        if let Some((at, ctx)) = self.cache.lock().await.get(token) {
            if at.elapsed() < self.cache_ttl {
                return Ok(ctx.clone());
            }
        }
        let mut service = self.service_token(false).await?;
        let mut answer = self.client.validate(&service, token).await;
        if answer.is_err() {
            // The service token may have expired or been revoked: renew once.
            service = self.service_token(true).await?;
            answer = self.client.validate(&service, token).await;
        }
        let body = answer?.ok_or_else(|| {
            Error::unauthenticated("The request you have made requires authentication.")
        })?;
        let ctx = context_from_token(&body);
        if !self.cache_ttl.is_zero() {
            let mut cache = self.cache.lock().await;
            if cache.len() > 10_000 {
                let ttl = self.cache_ttl;
                cache.retain(|_, (at, _)| at.elapsed() < ttl);
            }
            cache.insert(token.to_string(), (Instant::now(), ctx.clone()));
        }
        Ok(ctx)
    }
}
