//! The typed request context built from a validated token, and the seam that validates
//! tokens: in the all-in-one cloud the identity service validates in-process; a service
//! running on its own uses [`RemoteValidator`](crate::auth::TokenValidator) over the
//! Identity API (keystonemiddleware's role).

use async_trait::async_trait;
use axum::http::HeaderMap;
use rustack_common::Error;
use serde_json::{json, Value};

/// The header carrying the caller's token.
pub const X_AUTH_TOKEN: &str = "x-auth-token";
/// The header carrying the token being validated or revoked.
pub const X_SUBJECT_TOKEN: &str = "x-subject-token";

/// Who is calling and with what scope, from a validated token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthContext {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub user_name: String,
    /// The user's domain id.
    pub user_domain_id: String,
    /// The project the token is scoped to.
    pub project_id: Option<String>,
    /// The project's name.
    pub project_name: Option<String>,
    /// The project's domain id.
    pub project_domain_id: Option<String>,
    /// The domain the token is scoped to (domain-scoped tokens only).
    pub domain_id: Option<String>,
    /// `Some("all")` for system-scoped tokens.
    pub system_scope: Option<String>,
    /// Effective role names on the scope (implied roles expanded), lowercase.
    pub roles: Vec<String>,
    /// Effective role ids on the scope.
    pub role_ids: Vec<String>,
    /// The application credential the token was made from, if any.
    pub application_credential_id: Option<String>,
    /// Whether that application credential is restricted.
    pub application_credential_restricted: bool,
    /// The token's audit ids.
    pub audit_ids: Vec<String>,
    /// Authentication methods used to obtain the token.
    pub methods: Vec<String>,
}

impl AuthContext {
    /// True if the context carries `role` (case-insensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// The credentials dictionary oslo.policy rules are evaluated against.
    pub fn policy_creds(&self) -> Value {
        json!({
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "roles": self.roles,
            // keystone's admin_project feature is not configured: every project counts.
            "is_admin_project": true,
        })
    }
}

/// Validates a token into an [`AuthContext`].
#[async_trait]
pub trait TokenValidator: Send + Sync + 'static {
    /// Validates `token`; 401 if it is invalid, expired or revoked.
    async fn validate(&self, token: &str) -> Result<AuthContext, Error>;
}

/// Reads `X-Auth-Token` and validates it with `validator`.
pub async fn authenticate(
    headers: &HeaderMap,
    validator: &dyn TokenValidator,
) -> Result<AuthContext, Error> {
    let token = headers
        .get(X_AUTH_TOKEN)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::unauthenticated("The request you have made requires authentication.")
        })?;
    validator.validate(token).await
}
