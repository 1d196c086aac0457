//! Registered rule defaults, policy-file overrides and enforcement.
//!
//! Mirrors oslo.policy's `Enforcer` as keystone drives it
//! (`Enforcer.authorize` with `do_raise=True`):
//!
//! * services register [`RuleDefault`]s in code; a policy file (YAML or JSON,
//!   a mapping of rule name to check string) overrides check strings. Names
//!   in the file that no service registered are added as plain rules: they
//!   can be referenced with `rule:NAME` and enforced, but have no scope types;
//! * a registered rule with `scope_types` first checks the token's scope
//!   (system > domain > project, decided as oslo does from the credentials)
//!   and fails with [`PolicyError::InvalidScope`] on a mismatch;
//! * check strings that do not parse fail closed and are logged; they are
//!   also reported by [`Enforcer::validate`], together with references to
//!   undefined rules and reference cycles (oslo `check_rules`);
//! * `rule:NAME` with no such rule falls back to the rule named by
//!   [`Enforcer::default_rule`] (oslo `policy_default_rule`, `"default"`)
//!   when that exists, and fails otherwise.
//!
//! The enforcer is immutable during enforcement (`&self`), so it can be
//! shared behind an `Arc`; reloading a policy file means building or
//! mutating a new enforcer and swapping it in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::parser::{parse_list_rule, parse_rule, Check, ParseIssue, ParsedRule};
use crate::python::{literal_str, percent_format, py_str, py_truthy, FormatError};
use crate::PolicyError;

/// How deep `rule:` references may nest before evaluation gives up (and
/// fails closed). oslo would hit Python's recursion limit on a cycle.
const MAX_RULE_DEPTH: usize = 64;

/// The scope of a token, and the scopes an operation may be called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeType {
    /// A system-scoped token (`system_scope` set, e.g. `"all"`).
    System,
    /// A domain-scoped token (`domain_id` set).
    Domain,
    /// A project-scoped token; also what oslo assumes for unscoped or empty
    /// credentials.
    Project,
}

impl ScopeType {
    /// The name oslo.policy uses (`"system"`, `"domain"`, `"project"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeType::System => "system",
            ScopeType::Domain => "domain",
            ScopeType::Project => "project",
        }
    }

    /// The scope oslo.policy infers from a credentials object: system when
    /// `system_scope` (or a legacy `system` key) is truthy, else domain when
    /// `domain_id` is truthy, else project. Anything that is not an object
    /// counts as project-scoped, as oslo does for empty credentials.
    pub fn of_credentials(creds: &Value) -> ScopeType {
        if creds_get(creds, "system").is_some_and(py_truthy) {
            ScopeType::System
        } else if creds.get("domain_id").is_some_and(py_truthy) {
            ScopeType::Domain
        } else {
            ScopeType::Project
        }
    }
}

impl fmt::Display for ScopeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ScopeType {
    type Err = UnknownScopeType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(ScopeType::System),
            "domain" => Ok(ScopeType::Domain),
            "project" => Ok(ScopeType::Project),
            other => Err(UnknownScopeType(other.to_owned())),
        }
    }
}

/// Error parsing a [`ScopeType`] from a string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope type {0:?} (expected system, domain or project)")]
pub struct UnknownScopeType(pub String);

/// An API operation a rule protects (oslo `DocumentedRuleDefault.operations`),
/// e.g. `GET /v3/users/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template as upstream documents it.
    pub path: String,
}

/// A policy rule registered in code (oslo `RuleDefault` /
/// `DocumentedRuleDefault`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDefault {
    /// Rule name, exactly as upstream (`identity:get_user`, `admin_required`).
    pub name: String,
    /// Default check string in the oslo.policy language.
    pub check_str: String,
    /// Token scopes the operation accepts. Empty means no scope check (oslo
    /// `scope_types=None`).
    pub scope_types: Vec<ScopeType>,
    /// Operator-facing description (empty for internal helper rules).
    pub description: String,
    /// Operations protected by this rule, for documentation and coverage.
    pub operations: Vec<Operation>,
    /// Upstream marked the rule `deprecated_for_removal`: it is still
    /// registered but protects nothing.
    pub deprecated_for_removal: bool,
}

impl RuleDefault {
    /// A rule with no scope types, description or operations.
    pub fn new(name: impl Into<String>, check_str: impl Into<String>) -> RuleDefault {
        RuleDefault {
            name: name.into(),
            check_str: check_str.into(),
            scope_types: Vec::new(),
            description: String::new(),
            operations: Vec::new(),
            deprecated_for_removal: false,
        }
    }

    /// Sets the accepted token scopes.
    pub fn with_scope_types(mut self, scope_types: impl IntoIterator<Item = ScopeType>) -> Self {
        self.scope_types = scope_types.into_iter().collect();
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Adds a protected operation.
    pub fn with_operation(mut self, method: impl Into<String>, path: impl Into<String>) -> Self {
        self.operations.push(Operation {
            method: method.into(),
            path: path.into(),
        });
        self
    }
}

/// A problem found by [`Enforcer::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleIssue {
    /// The rule the problem was found in.
    pub rule: String,
    /// What is wrong.
    pub problem: RuleProblem,
}

/// The kinds of problem [`Enforcer::validate`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleProblem {
    /// The check string (or part of it) did not parse and fails closed.
    Parse(ParseIssue),
    /// `rule:NAME` refers to a rule that does not exist; that check fails
    /// closed (unless a default rule is configured).
    UndefinedRule {
        /// The missing rule name.
        referenced: String,
    },
    /// The rule takes part in a cycle of `rule:` references; evaluation
    /// fails closed when it runs into the cycle.
    Cycle,
}

impl fmt::Display for RuleIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            RuleProblem::Parse(issue) => write!(f, "policy rule {:?}: {issue}", self.rule),
            RuleProblem::UndefinedRule { referenced } => write!(
                f,
                "policy rule {:?} references undefined rule {referenced:?}",
                self.rule
            ),
            RuleProblem::Cycle => {
                write!(
                    f,
                    "policy rule {:?} is part of a cyclical reference",
                    self.rule
                )
            }
        }
    }
}

/// A rule as currently in force: a registered default or an override.
#[derive(Debug, Clone)]
struct ActiveRule {
    check_str: String,
    parsed: ParsedRule,
    overridden: bool,
}

impl ActiveRule {
    fn new(name: &str, check_str: String, parsed: ParsedRule, overridden: bool) -> ActiveRule {
        for issue in &parsed.issues {
            tracing::warn!(
                policy.rule = name,
                policy.check_str = %check_str,
                policy.issue = %issue,
                "policy rule does not parse cleanly; the affected checks never match"
            );
        }
        ActiveRule {
            check_str,
            parsed,
            overridden,
        }
    }
}

/// Evaluates oslo.policy rules against credentials and targets.
///
/// Build one per service from its defaults, optionally apply a policy file,
/// then call [`Enforcer::enforce`] for every API call.
#[derive(Debug, Clone)]
pub struct Enforcer {
    registered: BTreeMap<String, RuleDefault>,
    rules: BTreeMap<String, ActiveRule>,
    enforce_scope: bool,
    default_rule: Option<String>,
}

impl Enforcer {
    /// Registers `defaults`. Scope enforcement is on and the default rule is
    /// `"default"`, as in oslo.policy.
    ///
    /// Fails with [`PolicyError::DuplicateRule`] if a name is registered twice
    /// (oslo `DuplicatePolicyError`).
    pub fn new(defaults: Vec<RuleDefault>) -> Result<Enforcer, PolicyError> {
        let mut registered = BTreeMap::new();
        let mut rules = BTreeMap::new();
        for default in defaults {
            if registered.contains_key(&default.name) {
                return Err(PolicyError::DuplicateRule { rule: default.name });
            }
            let parsed = parse_rule(&default.check_str);
            rules.insert(
                default.name.clone(),
                ActiveRule::new(&default.name, default.check_str.clone(), parsed, false),
            );
            registered.insert(default.name.clone(), default);
        }
        Ok(Enforcer {
            registered,
            rules,
            enforce_scope: true,
            default_rule: Some("default".to_owned()),
        })
    }

    /// Builder form of [`Enforcer::set_enforce_scope`].
    pub fn with_enforce_scope(mut self, enforce_scope: bool) -> Self {
        self.enforce_scope = enforce_scope;
        self
    }

    /// Turns scope enforcement on (the default) or off.
    ///
    /// Off reproduces oslo.policy's old `[oslo_policy] enforce_scope = False`:
    /// a scope mismatch is logged and the check string decides. Current
    /// oslo.policy has removed that option and always enforces scope.
    pub fn set_enforce_scope(&mut self, enforce_scope: bool) {
        self.enforce_scope = enforce_scope;
    }

    /// Whether scope mismatches are rejected.
    pub fn enforce_scope(&self) -> bool {
        self.enforce_scope
    }

    /// Sets the rule consulted when `rule:NAME` names a missing rule (oslo
    /// `[oslo_policy] policy_default_rule`, `"default"`); `None` disables
    /// the fallback.
    pub fn set_default_rule(&mut self, name: Option<&str>) {
        self.default_rule = name.map(str::to_owned);
    }

    /// The name of the fallback rule for missing `rule:` references.
    pub fn default_rule(&self) -> Option<&str> {
        self.default_rule.as_deref()
    }

    /// Applies overrides from the text of a policy file (YAML, or JSON which
    /// is YAML): a mapping of rule name to check string. Later loads win over
    /// earlier ones for the same name. On error nothing is applied.
    ///
    /// As in oslo, a value may also be the legacy list-of-lists syntax, and
    /// a null value (`"rule":` with nothing after it) means *always allow*.
    pub fn load_overrides_from_str(&mut self, text: &str) -> Result<(), PolicyError> {
        self.load_overrides(text, "<string>")
    }

    /// Reads a policy file (`policy.yaml` / `policy.json`) and applies it
    /// like [`Enforcer::load_overrides_from_str`].
    pub fn load_overrides_file(&mut self, path: impl AsRef<Path>) -> Result<(), PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_overrides(&text, &path.display().to_string())
    }

    fn load_overrides(&mut self, text: &str, origin: &str) -> Result<(), PolicyError> {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|source| PolicyError::OverridesSyntax {
                origin: origin.to_owned(),
                source,
            })?;
        let mapping = match doc {
            // oslo: `yaml.safe_load(data) or {}`.
            serde_yaml::Value::Null => serde_yaml::Mapping::new(),
            serde_yaml::Value::Mapping(m) => m,
            _ => {
                return Err(PolicyError::OverridesNotMapping {
                    origin: origin.to_owned(),
                })
            }
        };
        let mut parsed_overrides = Vec::with_capacity(mapping.len());
        for (key, value) in mapping {
            let serde_yaml::Value::String(name) = key else {
                return Err(PolicyError::OverridesNotMapping {
                    origin: origin.to_owned(),
                });
            };
            let (check_str, parsed) = parse_override_value(&name, value, origin)?;
            parsed_overrides.push((name, check_str, parsed));
        }
        for (name, check_str, parsed) in parsed_overrides {
            if let Some(default) = self.registered.get(&name) {
                if default.check_str == check_str {
                    tracing::info!(
                        policy.rule = %name,
                        policy.file = origin,
                        "policy file repeats the default for this rule; the override can be removed"
                    );
                }
            }
            let rule = ActiveRule::new(&name, check_str, parsed, true);
            self.rules.insert(name, rule);
        }
        Ok(())
    }

    /// Drops every override, returning to the registered defaults.
    pub fn clear_overrides(&mut self) {
        self.rules
            .retain(|name, _| self.registered.contains_key(name));
        for (name, default) in &self.registered {
            if self.rules.get(name).is_some_and(|r| r.overridden) {
                let parsed = parse_rule(&default.check_str);
                self.rules.insert(
                    name.clone(),
                    ActiveRule::new(name, default.check_str.clone(), parsed, false),
                );
            }
        }
    }

    /// Decides whether `creds` may perform `rule` on `target`.
    ///
    /// `creds` is the oslo credentials dictionary (see
    /// [`crate::Credentials`]); `target` is the dictionary `%(key)s`
    /// templates are filled from: keystone passes a flattened dictionary
    /// (`{"target.user.id": ..., "user_id": ...}`), and a nested one
    /// (`{"target": {"user": {"id": ...}}}`) works the same.
    ///
    /// Returns `Ok(false)` when the rule denies. Errors:
    /// [`PolicyError::UnknownRule`] when `rule` is neither registered nor
    /// defined by an override (a programming error, oslo
    /// `PolicyNotRegistered`); [`PolicyError::InvalidScope`] when the rule
    /// has scope types, scope enforcement is on and the token's scope is not
    /// among them. Keystone answers both denial kinds with 403.
    pub fn enforce(&self, rule: &str, target: &Value, creds: &Value) -> Result<bool, PolicyError> {
        let Some(active) = self.rules.get(rule) else {
            return Err(PolicyError::UnknownRule {
                rule: rule.to_owned(),
            });
        };
        if let Some(default) = self.registered.get(rule) {
            if !default.scope_types.is_empty() {
                let token_scope = ScopeType::of_credentials(creds);
                if !default.scope_types.contains(&token_scope) {
                    if self.enforce_scope {
                        return Err(PolicyError::InvalidScope {
                            rule: rule.to_owned(),
                            token_scope,
                            allowed: default.scope_types.clone(),
                        });
                    }
                    tracing::warn!(
                        policy.rule = rule,
                        policy.token_scope = %token_scope,
                        "policy rule called with a token scope it does not allow; \
                         scope enforcement is off, so the check string decides"
                    );
                }
            }
        }
        let result = self.eval(&active.parsed.check, target, creds, 0);
        tracing::debug!(
            policy.rule = rule,
            policy.result = result,
            "policy rule evaluated"
        );
        Ok(result)
    }

    /// Every rule name in force (registered defaults and override-only
    /// rules), sorted.
    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.keys().map(String::as_str).collect()
    }

    /// The registered default for `name`, if any.
    pub fn registered(&self, name: &str) -> Option<&RuleDefault> {
        self.registered.get(name)
    }

    /// All registered defaults, sorted by name.
    pub fn registered_defaults(&self) -> impl Iterator<Item = &RuleDefault> {
        self.registered.values()
    }

    /// The check string in force for `name` (the override if any, else the
    /// default). Overrides given in list syntax are shown in oslo's rendering.
    pub fn check_str(&self, name: &str) -> Option<&str> {
        self.rules.get(name).map(|r| r.check_str.as_str())
    }

    /// Whether `name` is currently defined by a policy-file override.
    pub fn is_overridden(&self, name: &str) -> bool {
        self.rules.get(name).is_some_and(|r| r.overridden)
    }

    /// Reports rules that will not behave as written: parse problems,
    /// references to undefined rules and reference cycles (oslo
    /// `check_rules`). An empty result means every rule is well-formed.
    pub fn validate(&self) -> Vec<RuleIssue> {
        let mut issues = Vec::new();
        for (name, rule) in &self.rules {
            for issue in &rule.parsed.issues {
                issues.push(RuleIssue {
                    rule: name.clone(),
                    problem: RuleProblem::Parse(issue.clone()),
                });
            }
            let mut undefined = BTreeSet::new();
            rule.parsed.check.for_each_rule_ref(&mut |r| {
                if !self.rules.contains_key(r) {
                    undefined.insert(r.to_owned());
                }
            });
            issues.extend(undefined.into_iter().map(|referenced| RuleIssue {
                rule: name.clone(),
                problem: RuleProblem::UndefinedRule { referenced },
            }));
            if self.has_cycle(&rule.parsed.check, &mut Vec::new()) {
                issues.push(RuleIssue {
                    rule: name.clone(),
                    problem: RuleProblem::Cycle,
                });
            }
        }
        issues
    }

    /// oslo `_cycle_check`: walks `rule:` references depth-first; each branch
    /// of an and/or gets its own copy of the names seen so far.
    fn has_cycle<'a>(&'a self, check: &'a Check, seen: &mut Vec<&'a str>) -> bool {
        match check {
            Check::Rule(name) => {
                if seen.contains(&name.as_str()) {
                    return true;
                }
                seen.push(name);
                match self.rules.get(name) {
                    Some(rule) => self.has_cycle(&rule.parsed.check, seen),
                    None => false,
                }
            }
            Check::Not(inner) => self.has_cycle(inner, seen),
            Check::And(checks) | Check::Or(checks) => checks.iter().any(|c| {
                let mut branch = seen.clone();
                self.has_cycle(c, &mut branch)
            }),
            Check::Always | Check::Never | Check::Role(_) | Check::Generic { .. } => false,
        }
    }

    /// Looks up a `rule:` reference, falling back to the default rule.
    fn lookup(&self, name: &str) -> Option<&ActiveRule> {
        self.rules.get(name).or_else(|| {
            self.default_rule
                .as_deref()
                .and_then(|default| self.rules.get(default))
        })
    }

    fn eval(&self, check: &Check, target: &Value, creds: &Value, depth: usize) -> bool {
        match check {
            Check::Always => true,
            Check::Never => false,
            Check::Not(inner) => !self.eval(inner, target, creds, depth),
            Check::And(checks) => checks.iter().all(|c| self.eval(c, target, creds, depth)),
            Check::Or(checks) => checks.iter().any(|c| self.eval(c, target, creds, depth)),
            Check::Rule(name) => {
                if depth >= MAX_RULE_DEPTH {
                    tracing::error!(
                        policy.rule = %name,
                        "policy rule references nest too deeply (cycle?); failing closed"
                    );
                    return false;
                }
                match self.lookup(name) {
                    Some(rule) => self.eval(&rule.parsed.check, target, creds, depth + 1),
                    None => false,
                }
            }
            Check::Role(template) => role_check(template, target, creds),
            Check::Generic { kind, value } => generic_check(kind, value, target, creds),
        }
    }
}

/// Fills a check's `%(key)s` template; `None` means the check fails.
fn fill(template: &str, target: &Value) -> Option<String> {
    match percent_format(template, target) {
        Ok(filled) => Some(filled),
        // oslo catches KeyError and fails the check.
        Err(FormatError::MissingKey(_)) => None,
        // oslo lets other formatting errors escape enforce(); we fail closed.
        Err(FormatError::Invalid(reason)) => {
            tracing::warn!(
                policy.template = template,
                reason = %reason,
                "policy check template cannot be filled; the check fails"
            );
            None
        }
    }
}

/// oslo `RoleCheck`.
fn role_check(template: &str, target: &Value, creds: &Value) -> bool {
    let Some(wanted) = fill(template, target) else {
        return false;
    };
    let wanted = wanted.to_lowercase();
    match creds.get("roles") {
        Some(Value::Array(roles)) => roles
            .iter()
            .filter_map(Value::as_str)
            .any(|role| role.to_lowercase() == wanted),
        _ => false,
    }
}

/// oslo `GenericCheck`.
fn generic_check(kind: &str, template: &str, target: &Value, creds: &Value) -> bool {
    let Some(wanted) = fill(template, target) else {
        return false;
    };
    if let Some(literal) = literal_str(kind) {
        return wanted == literal;
    }
    let segments: Vec<&str> = kind.split('.').collect();
    let Some((first, rest)) = segments.split_first() else {
        return false;
    };
    match creds_get(creds, first) {
        Some(value) => descend(value, rest, &wanted),
        None => false,
    }
}

/// A top-level credentials key. oslo copies a truthy `system_scope` into
/// `creds["system"]` before evaluating, for services that still check
/// `system:...`.
fn creds_get<'a>(creds: &'a Value, key: &str) -> Option<&'a Value> {
    if key == "system" {
        if let Some(scope) = creds.get("system_scope").filter(|v| py_truthy(v)) {
            return Some(scope);
        }
    }
    creds.get(key)
}

/// oslo `GenericCheck._find_in_dict` after the first key: lists fan out and
/// match if any element matches.
fn descend(value: &Value, path: &[&str], wanted: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| find_in(item, path, wanted)),
        _ => find_in(value, path, wanted),
    }
}

fn find_in(value: &Value, path: &[&str], wanted: &str) -> bool {
    let Some((key, rest)) = path.split_first() else {
        return wanted == py_str(value);
    };
    // Indexing a non-dict raises TypeError in oslo; we fail the check.
    match value.as_object().and_then(|o| o.get(*key)) {
        Some(next) => descend(next, rest, wanted),
        None => false,
    }
}

/// Converts one value of a policy file to a check string and parse result.
fn parse_override_value(
    name: &str,
    value: serde_yaml::Value,
    origin: &str,
) -> Result<(String, ParsedRule), PolicyError> {
    let invalid = |found: &'static str| PolicyError::InvalidOverride {
        origin: origin.to_owned(),
        rule: name.to_owned(),
        found,
    };
    match value {
        serde_yaml::Value::String(s) => {
            let parsed = parse_rule(&s);
            Ok((s, parsed))
        }
        serde_yaml::Value::Null => {
            tracing::warn!(
                policy.rule = name,
                policy.file = origin,
                "policy override has no value; oslo.policy treats that as always allow"
            );
            let parsed = parse_list_rule(&[]);
            Ok((String::new(), parsed))
        }
        serde_yaml::Value::Sequence(outer) => {
            let mut list = Vec::with_capacity(outer.len());
            for item in outer {
                match item {
                    serde_yaml::Value::String(s) => list.push(vec![s]),
                    serde_yaml::Value::Sequence(inner) => {
                        let mut and_list = Vec::with_capacity(inner.len());
                        for check in inner {
                            match check {
                                serde_yaml::Value::String(s) => and_list.push(s),
                                _ => return Err(invalid("a non-string inside a list rule")),
                            }
                        }
                        list.push(and_list);
                    }
                    _ => return Err(invalid("a non-string inside a list rule")),
                }
            }
            let parsed = parse_list_rule(&list);
            let check_str = match parsed.check {
                Check::Always => String::new(),
                ref check => check.to_string(),
            };
            Ok((check_str, parsed))
        }
        serde_yaml::Value::Bool(_) => Err(invalid("a boolean")),
        serde_yaml::Value::Number(_) => Err(invalid("a number")),
        serde_yaml::Value::Mapping(_) => Err(invalid("a mapping")),
        serde_yaml::Value::Tagged(_) => Err(invalid("a tagged value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enforcer(rules: &[(&str, &str)]) -> Enforcer {
        Enforcer::new(
            rules
                .iter()
                .map(|(n, c)| RuleDefault::new(*n, *c))
                .collect(),
        )
        .expect("no duplicates")
    }

    fn check(rule: &str, target: &Value, creds: &Value) -> bool {
        enforcer(&[("t", rule)])
            .enforce("t", target, creds)
            .expect("registered, unscoped")
    }

    fn project_creds(roles: &[&str]) -> Value {
        json!({"user_id": "u1", "project_id": "p1", "domain_id": null, "system_scope": null,
               "roles": roles})
    }

    #[test]
    fn roles_compare_case_insensitively() {
        assert!(check(
            "role:ADMIN",
            &json!({}),
            &json!({"roles": ["admin"]})
        ));
        assert!(check(
            "role:admin",
            &json!({}),
            &json!({"roles": ["Admin"]})
        ));
        assert!(!check(
            "role:admin",
            &json!({}),
            &json!({"roles": ["reader"]})
        ));
        assert!(!check("role:admin", &json!({}), &json!({})));
        assert!(check(
            "role:%(r)s",
            &json!({"r": "Reader"}),
            &json!({"roles": ["reader"]})
        ));
        assert!(!check(
            "role:%(r)s",
            &json!({}),
            &json!({"roles": ["reader"]})
        ));
    }

    #[test]
    fn generic_checks_substitute_from_nested_and_flat_targets() {
        let creds = project_creds(&["member"]);
        let rule = "project_id:%(target.project.id)s";
        assert!(check(rule, &json!({"target.project.id": "p1"}), &creds));
        assert!(check(
            rule,
            &json!({"target": {"project": {"id": "p1"}}}),
            &creds
        ));
        assert!(!check(
            rule,
            &json!({"target": {"project": {"id": "p2"}}}),
            &creds
        ));
        assert!(!check(rule, &json!({"target": {"project": {}}}), &creds));
        assert!(!check(rule, &json!({}), &creds));
        // Dotted kinds walk the credentials; lists fan out.
        let creds = json!({"token": {"project": {"domain": {"id": "d1"}}},
                           "groups": [{"name": "g0"}, {"name": "g1"}]});
        assert!(check("token.project.domain.id:d1", &json!({}), &creds));
        assert!(!check("token.domain.id:d1", &json!({}), &creds));
        assert!(check("groups.name:g1", &json!({}), &creds));
    }

    #[test]
    fn literal_kinds_follow_python() {
        let empty = json!({});
        assert!(check(
            "'member':%(role)s",
            &json!({"role": "member"}),
            &empty
        ));
        assert!(!check(
            "'member':%(role)s",
            &json!({"role": "admin"}),
            &empty
        ));
        assert!(check("None:%(d)s", &json!({"d": null}), &empty));
        assert!(!check("None:%(d)s", &json!({"d": "x"}), &empty));
        // A missing key fails the check, so `not` of it passes (oslo quirk
        // keystone relies on with `not None:%(target.project.domain_id)s`).
        assert!(check("not None:%(d)s", &empty, &empty));
        assert!(check("True:%(e)s", &json!({"e": true}), &empty));
        // `is_admin:1` matches the number 1, not Python's `True`.
        assert!(check("is_admin:1", &empty, &json!({"is_admin": 1})));
        assert!(!check("is_admin:1", &empty, &json!({"is_admin": true})));
        assert!(check("is_admin:True", &empty, &json!({"is_admin": true})));
    }

    #[test]
    fn system_scope_is_visible_as_system() {
        let creds = json!({"system_scope": "all"});
        assert!(check("system_scope:all", &json!({}), &creds));
        assert!(check("system:all", &json!({}), &creds));
        assert!(!check(
            "system:all",
            &json!({}),
            &json!({"system_scope": null})
        ));
    }

    #[test]
    fn rule_references_and_default_rule() {
        let e = enforcer(&[("a", "rule:b"), ("b", "role:x"), ("c", "rule:missing")]);
        let x = json!({"roles": ["x"]});
        assert_eq!(e.enforce("a", &json!({}), &x).ok(), Some(true));
        assert_eq!(e.enforce("c", &json!({}), &x).ok(), Some(false));
        // With a rule named "default", unknown references fall back to it.
        let mut e = enforcer(&[("c", "rule:missing"), ("default", "role:x")]);
        assert_eq!(e.enforce("c", &json!({}), &x).ok(), Some(true));
        e.set_default_rule(None);
        assert_eq!(e.enforce("c", &json!({}), &x).ok(), Some(false));
    }

    #[test]
    fn cycles_terminate_and_are_reported() {
        let e = enforcer(&[("a", "rule:b"), ("b", "rule:a or role:x"), ("c", "rule:a")]);
        assert_eq!(e.enforce("a", &json!({}), &json!({})).ok(), Some(false));
        let cyclic: Vec<_> = e
            .validate()
            .into_iter()
            .filter(|i| i.problem == RuleProblem::Cycle)
            .map(|i| i.rule)
            .collect();
        assert_eq!(cyclic, ["a", "b", "c"]);
    }

    #[test]
    fn validate_reports_parse_problems_and_undefined_rules() {
        let e = enforcer(&[
            ("ok", "role:x"),
            ("bad", "role:x or"),
            ("undef", "rule:nope or noColon"),
        ]);
        let issues = e.validate();
        assert_eq!(
            issues,
            vec![
                RuleIssue {
                    rule: "bad".into(),
                    problem: RuleProblem::Parse(ParseIssue::Unparsable)
                },
                RuleIssue {
                    rule: "undef".into(),
                    problem: RuleProblem::Parse(ParseIssue::MalformedCheck {
                        token: "noColon".into()
                    })
                },
                RuleIssue {
                    rule: "undef".into(),
                    problem: RuleProblem::UndefinedRule {
                        referenced: "nope".into()
                    }
                },
            ]
        );
        assert_eq!(
            e.enforce("bad", &json!({}), &json!({"roles": ["x"]})).ok(),
            Some(false)
        );
        assert!(issues[0].to_string().contains("\"bad\""));
    }

    #[test]
    fn unknown_and_duplicate_rules_are_errors() {
        let e = enforcer(&[("a", "@")]);
        assert!(matches!(
            e.enforce("nope", &json!({}), &json!({})),
            Err(PolicyError::UnknownRule { rule }) if rule == "nope"
        ));
        let dup = Enforcer::new(vec![RuleDefault::new("a", "@"), RuleDefault::new("a", "!")]);
        assert!(matches!(dup, Err(PolicyError::DuplicateRule { rule }) if rule == "a"));
    }

    #[test]
    fn token_scope_follows_oslo() {
        let of = |v: Value| ScopeType::of_credentials(&v);
        assert_eq!(
            of(json!({"system_scope": "all", "project_id": "p"})),
            ScopeType::System
        );
        assert_eq!(of(json!({"system": "all"})), ScopeType::System);
        assert_eq!(of(json!({"domain_id": "d1"})), ScopeType::Domain);
        // oslo checks domain before project.
        assert_eq!(
            of(json!({"domain_id": "d1", "project_id": "p"})),
            ScopeType::Domain
        );
        assert_eq!(
            of(json!({"domain_id": null, "project_id": "p"})),
            ScopeType::Project
        );
        assert_eq!(of(json!({"system_scope": ""})), ScopeType::Project);
        assert_eq!(of(json!({})), ScopeType::Project);
        assert_eq!("domain".parse::<ScopeType>(), Ok(ScopeType::Domain));
        assert!("all".parse::<ScopeType>().is_err());
    }

    #[test]
    fn scope_enforcement() {
        let mut e = Enforcer::new(vec![
            RuleDefault::new("sys", "@").with_scope_types([ScopeType::System]),
            RuleDefault::new("any", "@"),
        ])
        .expect("valid");
        assert!(e.enforce_scope());
        let project = project_creds(&["admin"]);
        let err = e.enforce("sys", &json!({}), &project);
        assert!(matches!(
            &err,
            Err(PolicyError::InvalidScope { rule, token_scope: ScopeType::Project, allowed })
                if rule == "sys" && allowed == &[ScopeType::System]
        ));
        assert_eq!(
            err.map_err(|e| e.to_string()).err().as_deref(),
            Some("policy rule \"sys\" requires a scope of [system], request was made with project scope")
        );
        assert_eq!(
            e.enforce("sys", &json!({}), &json!({"system_scope": "all"}))
                .ok(),
            Some(true)
        );
        assert_eq!(e.enforce("any", &json!({}), &project).ok(), Some(true));
        e.set_enforce_scope(false);
        assert_eq!(e.enforce("sys", &json!({}), &project).ok(), Some(true));
        // Overrides change the check string, not the registered scope types.
        let mut e = e.with_enforce_scope(true);
        e.load_overrides_from_str("sys: 'role:admin'\nextra: '@'\n")
            .expect("valid yaml");
        assert!(e.enforce("sys", &json!({}), &project).is_err());
        // Override-only rules are never scope checked.
        assert_eq!(e.enforce("extra", &json!({}), &project).ok(), Some(true));
    }

    #[test]
    fn overrides_from_yaml_and_json() {
        let mut e = enforcer(&[("a", "role:admin"), ("b", "role:admin")]);
        let member = project_creds(&["member"]);
        assert_eq!(e.enforce("a", &json!({}), &member).ok(), Some(false));
        e.load_overrides_from_str(
            "# operator policy\n\"a\": \"role:member\"\nnew_rule: \"rule:a and project_id:%(project_id)s\"\n",
        )
        .expect("valid yaml");
        assert_eq!(e.enforce("a", &json!({}), &member).ok(), Some(true));
        assert_eq!(e.enforce("b", &json!({}), &member).ok(), Some(false));
        assert!(e.is_overridden("a") && !e.is_overridden("b"));
        assert_eq!(e.check_str("a"), Some("role:member"));
        // Unknown names become rules of their own.
        assert_eq!(e.rule_names(), ["a", "b", "new_rule"]);
        assert_eq!(
            e.enforce("new_rule", &json!({"project_id": "p1"}), &member)
                .ok(),
            Some(true)
        );
        assert!(e.registered("new_rule").is_none());
        // JSON is YAML; later loads win.
        e.load_overrides_from_str(r#"{"b": "role:member", "a": "!"}"#)
            .expect("valid json");
        assert_eq!(e.enforce("a", &json!({}), &member).ok(), Some(false));
        assert_eq!(e.enforce("b", &json!({}), &member).ok(), Some(true));
        e.clear_overrides();
        assert_eq!(e.rule_names(), ["a", "b"]);
        assert_eq!(e.check_str("a"), Some("role:admin"));
        assert!(!e.is_overridden("a"));
        assert_eq!(e.enforce("a", &json!({}), &member).ok(), Some(false));
        // An empty file is fine.
        e.load_overrides_from_str("").expect("empty");
        e.load_overrides_from_str("# nothing\n")
            .expect("comment only");
    }

    #[test]
    fn override_values_follow_oslo() {
        let mut e = enforcer(&[("a", "role:admin")]);
        let anyone = json!({});
        // A null value means "always" in oslo.
        e.load_overrides_from_str("a:\n").expect("null");
        assert_eq!(e.enforce("a", &json!({}), &anyone).ok(), Some(true));
        // Legacy list syntax: outer or, inner and.
        e.load_overrides_from_str("a: [[\"role:x\", \"role:y\"], \"role:z\"]")
            .expect("list");
        assert_eq!(e.check_str("a"), Some("((role:x and role:y) or role:z)"));
        assert_eq!(
            e.enforce("a", &json!({}), &json!({"roles": ["z"]})).ok(),
            Some(true)
        );
        assert_eq!(
            e.enforce("a", &json!({}), &json!({"roles": ["x"]})).ok(),
            Some(false)
        );
        // Parse errors in overrides are not load errors; they fail closed.
        e.load_overrides_from_str("a: \"role:z or\"")
            .expect("loads");
        assert_eq!(
            e.enforce("a", &json!({}), &json!({"roles": ["z"]})).ok(),
            Some(false)
        );
        assert_eq!(e.validate().len(), 1);
    }

    #[test]
    fn bad_policy_files_are_rejected_atomically() {
        let mut e = enforcer(&[("a", "role:admin")]);
        for (text, want) in [
            ("a: [", "syntax"),
            ("- a\n- b\n", "mapping"),
            ("1: role:x\n", "mapping"),
            ("b: role:x\na: true\n", "value"),
            ("b: role:x\na: 3\n", "value"),
            ("b: role:x\na: {x: y}\n", "value"),
        ] {
            let err = e.load_overrides_from_str(text).expect_err(text);
            let ok = match want {
                "syntax" => matches!(err, PolicyError::OverridesSyntax { .. }),
                "mapping" => matches!(err, PolicyError::OverridesNotMapping { .. }),
                _ => matches!(err, PolicyError::InvalidOverride { ref rule, .. } if rule == "a"),
            };
            assert!(ok, "{text:?}: {err:?}");
        }
        assert_eq!(e.rule_names(), ["a"]);
        assert!(!e.is_overridden("a"));
    }

    #[test]
    fn overrides_from_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "\"a\": \"role:member\"\n").expect("write");
        let mut e = enforcer(&[("a", "role:admin")]);
        e.load_overrides_file(&path).expect("load");
        assert_eq!(e.check_str("a"), Some("role:member"));
        let missing = dir.path().join("missing.yaml");
        let err = e.load_overrides_file(&missing).expect_err("missing");
        assert!(matches!(&err, PolicyError::ReadFile { path, .. } if path == &missing));
        std::fs::write(&path, "a: [").expect("write");
        let err = e.load_overrides_file(&path).expect_err("bad yaml");
        assert!(err.to_string().contains("policy.yaml"), "{err}");
    }

    /// Every evaluation case in the golden file gives oslo's answer.
    #[test]
    fn evaluates_like_oslo() {
        let golden: Value =
            serde_json::from_str(include_str!("../testdata/oslo_golden.json")).expect("golden");
        let cases = golden["eval"].as_array().expect("eval cases");
        assert!(cases.len() > 40);
        for case in cases {
            let rule = case["rule"].as_str().expect("rule");
            assert_eq!(
                check(rule, &case["target"], &case["creds"]),
                case["result"].as_bool().expect("result"),
                "{rule:?} target={} creds={}",
                case["target"],
                case["creds"]
            );
        }
    }
}
