//! oslo.policy-compatible authorization for rustack services.
//!
//! OpenStack services decide "may this caller do this?" with oslo.policy:
//! every API operation has a named rule (`identity:get_user`,
//! `os_compute_api:servers:create`) whose check string, in a small rule
//! language, is evaluated against the caller's credentials and the target
//! resource. Defaults live in code; operators override them with a
//! `policy.yaml`. This crate reproduces that machinery so that upstream rule
//! names, default check strings and operators' policy files behave the same
//! in rustack.
//!
//! * [`parser`]: the rule language (`@`, `!`, `rule:`, `role:`, generic
//!   `KIND:MATCH` checks with `%(key)s` templates, `and`/`or`/`not`,
//!   parentheses), ported from `oslo_policy/_parser.py` including its
//!   precedence and fail-closed error handling.
//! * [`Enforcer`]: registered [`RuleDefault`]s plus policy-file overrides,
//!   scope enforcement and evaluation (`oslo_policy/policy.py`,
//!   `_checks.py`).
//! * [`defaults`]: upstream's in-code defaults per service (keystone today).
//! * [`Credentials`]: builds the credentials dictionary the way oslo.context
//!   and keystone do.
//!
//! Design constraints:
//! * Compatibility over cleanliness: where oslo.policy has quirks that
//!   policy files can observe (Python `str()` of values, literal kinds such
//!   as `None:%(x)s`, fail-closed parsing) we copy them; deviations are
//!   documented where they occur (external `http:` checks are not
//!   supported).
//! * Credentials and targets are `serde_json::Value` dictionaries, as in
//!   oslo, so handlers can pass whatever upstream passes.
//! * Evaluation is pure and synchronous; the [`Enforcer`] is immutable while
//!   enforcing and cheap to share.
//!
//! ```
//! use rustack_policy::{defaults, Credentials, Enforcer};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), rustack_policy::PolicyError> {
//! let enforcer = Enforcer::new(defaults::identity())?;
//! let admin = Credentials {
//!     user_id: Some("u1".into()),
//!     project_id: Some("p1".into()),
//!     roles: vec!["admin".into(), "member".into(), "reader".into()],
//!     ..Credentials::default()
//! };
//! let target = json!({"target": {"project": {"domain_id": "default"}}});
//! assert!(enforcer.enforce("identity:create_project", &target, &admin.to_value())?);
//! # Ok(())
//! # }
//! ```

mod credentials;
pub mod defaults;
mod enforcer;
pub mod parser;
mod python;

use std::path::PathBuf;

pub use credentials::Credentials;
pub use enforcer::{
    Enforcer, Operation, RuleDefault, RuleIssue, RuleProblem, ScopeType, UnknownScopeType,
};

/// Errors from building an [`Enforcer`], loading policy files and enforcing.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// [`Enforcer::enforce`] was asked about a rule nobody defined: a
    /// programming error in the caller (oslo `PolicyNotRegistered`).
    #[error("policy rule {rule:?} is not registered")]
    UnknownRule {
        /// The rule name asked for.
        rule: String,
    },
    /// The token's scope is not one the rule accepts (oslo `InvalidScope`);
    /// keystone answers 403.
    #[error(
        "policy rule {rule:?} requires a scope of [{}], request was made with {token_scope} scope",
        scope_list(.allowed)
    )]
    InvalidScope {
        /// The rule being enforced.
        rule: String,
        /// The scope inferred from the credentials.
        token_scope: ScopeType,
        /// The rule's scope types.
        allowed: Vec<ScopeType>,
    },
    /// The same rule name was registered twice (oslo `DuplicatePolicyError`).
    #[error("policy rule {rule:?} is registered more than once")]
    DuplicateRule {
        /// The duplicated name.
        rule: String,
    },
    /// A policy file could not be read.
    #[error("failed to read policy file {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A policy file is not valid YAML (or JSON).
    #[error("policy overrides from {origin} are not valid YAML or JSON")]
    OverridesSyntax {
        /// File path, or `<string>`.
        origin: String,
        /// The parser's complaint.
        #[source]
        source: serde_yaml::Error,
    },
    /// A policy file's top level is not a mapping with string keys.
    #[error("policy overrides from {origin} must be a mapping of rule names to check strings")]
    OverridesNotMapping {
        /// File path, or `<string>`.
        origin: String,
    },
    /// A rule's value in a policy file is neither a check string, a list
    /// rule nor empty.
    #[error("policy override {rule:?} from {origin} must be a check string, found {found}")]
    InvalidOverride {
        /// File path, or `<string>`.
        origin: String,
        /// The rule name.
        rule: String,
        /// What was found instead.
        found: &'static str,
    },
}

fn scope_list(scopes: &[ScopeType]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
