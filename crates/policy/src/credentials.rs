//! A typed way to build the credentials dictionary rules are checked against.
//!
//! oslo.policy takes credentials as a plain dictionary; what keys exist is a
//! contract between oslo.context (`RequestContext.to_policy_values()`) and the
//! rules. Keystone's defaults depend on details of that contract: for example
//! `identity:list_roles` contains `not domain_id:None`, which only works if
//! `domain_id` is *present and null* for tokens that are not domain-scoped
//! (a missing key would make `domain_id:None` false and the `not` true).
//! [`Credentials::to_value`] therefore always emits every key, with `null`
//! for unset values, exactly like keystone's `RequestContext`.

use serde_json::{json, Value};

/// The caller's identity and token scope, as oslo.context hands them to
/// oslo.policy, plus keystone's `token` extension.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// Authenticated user.
    pub user_id: Option<String>,
    /// Domain that owns the user.
    pub user_domain_id: Option<String>,
    /// Project the token is scoped to.
    pub project_id: Option<String>,
    /// Domain that owns the scoped project.
    pub project_domain_id: Option<String>,
    /// Domain the token is scoped to (domain-scoped tokens only).
    pub domain_id: Option<String>,
    /// `"all"` for system-scoped tokens.
    pub system_scope: Option<String>,
    /// Effective role names on the scope (implied roles included).
    pub roles: Vec<String>,
    /// Whether the scoped project is the cloud's admin project (oslo.context
    /// defaults this to true).
    pub is_admin_project: bool,
    /// Service user of a service token sent alongside the user token.
    pub service_user_id: Option<String>,
    /// Domain of the service user.
    pub service_user_domain_id: Option<String>,
    /// Project of the service token.
    pub service_project_id: Option<String>,
    /// Domain of the service token's project.
    pub service_project_domain_id: Option<String>,
    /// Roles of the service token.
    pub service_roles: Vec<String>,
    /// Keystone only: the token body as rendered in
    /// `GET /v3/auth/tokens` (the object under `"token"`), which keystone
    /// rules read through paths like `token.project.domain.id`.
    pub token: Option<Value>,
}

impl Default for Credentials {
    /// Empty (anonymous) credentials with oslo.context's defaults.
    fn default() -> Self {
        Credentials {
            user_id: None,
            user_domain_id: None,
            project_id: None,
            project_domain_id: None,
            domain_id: None,
            system_scope: None,
            roles: Vec::new(),
            is_admin_project: true,
            service_user_id: None,
            service_user_domain_id: None,
            service_project_id: None,
            service_project_domain_id: None,
            service_roles: Vec::new(),
            token: None,
        }
    }
}

impl Credentials {
    /// The credentials dictionary for [`crate::Enforcer::enforce`]: every
    /// `to_policy_values()` key (null when unset), plus `token` when set.
    pub fn to_value(&self) -> Value {
        let mut value = json!({
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "system_scope": self.system_scope,
            "domain_id": self.domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "roles": self.roles,
            "is_admin_project": self.is_admin_project,
            "service_user_id": self.service_user_id,
            "service_user_domain_id": self.service_user_domain_id,
            "service_project_id": self.service_project_id,
            "service_project_domain_id": self.service_project_domain_id,
            "service_roles": self.service_roles,
        });
        if let (Some(token), Some(map)) = (&self.token, value.as_object_mut()) {
            map.insert("token".to_owned(), token.clone());
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_values_are_present_as_null() {
        let creds = Credentials {
            user_id: Some("u1".into()),
            project_id: Some("p1".into()),
            roles: vec!["member".into()],
            ..Credentials::default()
        }
        .to_value();
        let map = creds.as_object().expect("object");
        assert_eq!(map.len(), 13);
        assert_eq!(creds["domain_id"], Value::Null);
        assert_eq!(creds["system_scope"], Value::Null);
        assert_eq!(creds["roles"], json!(["member"]));
        assert_eq!(creds["is_admin_project"], json!(true));
        assert!(creds.get("token").is_none());

        let with_token = Credentials {
            token: Some(json!({"project": {"domain": {"id": "d1"}}})),
            ..Credentials::default()
        }
        .to_value();
        assert_eq!(with_token["token"]["project"]["domain"]["id"], "d1");
    }
}
