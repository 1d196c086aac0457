//! Policy defaults registered in code, one function per service.
//!
//! Each table is a transcription of upstream's in-code defaults: rule names,
//! check strings and scope types must stay byte-identical to upstream so that
//! operators' policy files and upstream documentation apply unchanged. Only
//! the *current* defaults are carried; upstream's `DeprecatedRule` fallbacks
//! are not (see below).
//!
//! # Identity (keystone)
//!
//! [`identity`] is keystone's `keystone/common/policies/*.py` at
//! [`IDENTITY_UPSTREAM_COMMIT`] (openstack/keystone master, July 2026), in
//! keystone's registration order: `base.py` helper rules first, then one
//! block per module.
//!
//! Scope and new-defaults behaviour on keystone master:
//!
//! * keystone does not set `[oslo_policy] enforce_scope` or
//!   `enforce_new_defaults` itself and requires oslo.policy >= 4.5.0, whose
//!   defaults for both are `True` (flipped in oslo.policy 4.4.0, 2024.2).
//!   oslo.policy master has since removed `enforce_scope` altogether: any
//!   rule with `scope_types` is always scope-checked. The comment in
//!   keystone's `base.py` saying `enforce_scope` defaults to false is stale.
//! * rustack matches that: [`crate::Enforcer`] enforces scope by default
//!   (it can be switched off for old-style deployments), and since only the
//!   new check strings are registered, behaviour equals
//!   `enforce_new_defaults = True`; the deprecated check strings cannot be
//!   OR-ed back in.
//! * project-scoped `admin` tokens keep working for cloud administration
//!   (creating projects, users, roles, services, endpoints...), which Tempest
//!   and the `openstack` CLI rely on: upstream's admin rules are
//!   `rule:admin_required` (`role:admin or is_admin:1`) and list `project`
//!   among their `scope_types` (keystone's "admin is admin everywhere"
//!   model). No local deviation was needed for that. Domain-scoped tokens,
//!   however, are rejected by rules whose scope types are `system`/`project`
//!   only (e.g. `identity:create_domain`), as upstream.

mod block;
mod compute;
mod identity;
mod image;
mod key_manager;
mod network;
mod placement;

use crate::enforcer::{Operation, RuleDefault, ScopeType};

/// The openstack/keystone commit the [`identity`] defaults were read from.
pub const IDENTITY_UPSTREAM_COMMIT: &str = "30ef2ffa65a3486ef882f00538e20f2253c57d4c";

/// Every rule keystone registers: the `base.py` helper rules
/// (`admin_required`, `service_role`, `service_or_admin`, `owner`,
/// `admin_or_owner`, `token_subject`, `admin_or_token_subject`,
/// `service_admin_or_token_subject`, `domain_managed_target_role`) and all
/// `identity:*` rules with their current secure-RBAC defaults.
///
/// `identity:revocation_list` is still registered upstream but marked
/// `deprecated_for_removal` (the API it protected now answers 410/403); it
/// is included with that flag set.
pub fn identity() -> Vec<RuleDefault> {
    identity::RULES.iter().map(Def::to_rule_default).collect()
}

/// The openstack/glance commit the [`image`] defaults were read from.
pub const IMAGE_UPSTREAM_COMMIT: &str = "c76abb08e2bc82582389059dcbbc234293ce13b9";

/// Every rule glance registers (`glance.policies.list_rules()`): the `base.py`
/// helper rules (`default`, `context_is_admin`, `service_api`) and the image,
/// member, location, task, metadef, cache and discovery rules with their current
/// secure-RBAC defaults (glance's `enforce_new_defaults = True` behaviour; the
/// deprecated `rule:default` fallbacks are not carried).
///
/// Glance keeps the legacy rule names without a service prefix (`get_image`,
/// `add_member`, `publicize_image`); all non-helper rules are project-scoped.
pub fn image() -> Vec<RuleDefault> {
    image::RULES.iter().map(Def::to_rule_default).collect()
}

/// The openstack/neutron commit the [`network`] defaults were read from.
pub const NETWORK_UPSTREAM_COMMIT: &str = "2131d26f73262ec89a5d3e3e0d65521df4908e65";

/// Every rule neutron registers (`neutron.conf.policies.list_rules()`): the `base.py`
/// helper rules (`context_is_admin`, `owner`, `admin_only`, `shared`, `network_owner`,
/// `sg_owner`, `ext_parent_owner`...) and every resource rule (`create_network`,
/// `get_port:binding:host_id`, `add_router_interface`...) with its current secure-RBAC
/// default (neutron's `enforce_new_defaults = True`; deprecated fallbacks not carried).
///
/// Neutron keeps rule names without a service prefix; attribute rules are named
/// `<action>:<attribute>` (`create_network:shared`).
pub fn network() -> Vec<RuleDefault> {
    network::RULES.iter().map(Def::to_rule_default).collect()
}

/// The openstack/nova commit the [`compute`] defaults were read from.
pub const COMPUTE_UPSTREAM_COMMIT: &str = "00a030403f672b975364c855b7d25b40ef83e757";

/// Every rule nova registers (`nova.policies.list_rules()`): the `base.py` helper rules
/// (`context_is_admin`, `project_member_api`, `project_reader_or_admin`,
/// `service_or_admin`...) and every `os_compute_api:*` rule with its current
/// secure-RBAC default (deprecated fallbacks not carried). nova's check strings use
/// `is_admin:True`, which the compute service puts in the credentials it evaluates.
pub fn compute() -> Vec<RuleDefault> {
    compute::RULES.iter().map(Def::to_rule_default).collect()
}

/// The openstack/placement commit the [`placement`] defaults were read from.
pub const PLACEMENT_UPSTREAM_COMMIT: &str = "7ad9ef078b490423ac6605e805fad2b75c8f2107";

/// Every rule placement registers (`placement.policies.list_rules()`): the `base.py`
/// helper rules (`admin_api`, `service_api`, `admin_or_service_api`,
/// `project_reader_api`, `admin_or_project_reader_or_service_api`) and every
/// `placement:*` rule with its current secure-RBAC default (deprecated `role:admin`
/// fallbacks not carried).
pub fn placement() -> Vec<RuleDefault> {
    placement::RULES.iter().map(Def::to_rule_default).collect()
}

/// The openstack/cinder commit the [`block`] defaults were read from.
pub const BLOCK_UPSTREAM_COMMIT: &str = "ab09bc39dbcd4d5b301f2f5da8fcfd9e5ef1fe8c";

/// Every rule cinder registers (`cinder.policies.list_rules()`): the `base.py` helper
/// rules (`admin_or_owner`, `context_is_admin`, `admin_api`,
/// `xena_system_admin_or_project_reader`, `xena_system_admin_or_project_member`...) and
/// every `volume:*`, `volume_extension:*`, `backup:*`, `group:*`, `message:*`... rule with
/// its current default (deprecated fallbacks not carried). cinder's check strings use
/// `is_admin:True`, which the block storage service puts in the credentials it evaluates.
pub fn block() -> Vec<RuleDefault> {
    block::RULES.iter().map(Def::to_rule_default).collect()
}

/// The openstack/barbican commit the [`key_manager`] defaults were read from.
pub const KEY_MANAGER_UPSTREAM_COMMIT: &str = "2d1ea8606784cb7e1147e869a79f6be7e8466236";

/// Every rule barbican registers (`barbican.common.policies.list_rules()`): the `base.py`
/// helper rules (`secret_project_match`, `secret_owner`, `secret_acl_read`,
/// `container_project_member`, the legacy `creator`/`observer`/`audit` helpers...) and
/// every `secret:*`, `secrets:*`, `container*`, `order*`, `quotas:*`, `project_quotas:*`,
/// `secret_meta:*`, `*consumers:*`, `secretstore*` and `transport_key*` rule with its
/// current secure-RBAC default (deprecated fallbacks not carried). The check strings
/// reference `%(enforce_new_defaults)s` and flattened `target.secret.*` keys, which the
/// key manager puts in the target it evaluates.
pub fn key_manager() -> Vec<RuleDefault> {
    key_manager::RULES
        .iter()
        .map(Def::to_rule_default)
        .collect()
}

/// One row of a defaults table.
struct Def {
    name: &'static str,
    check_str: &'static str,
    scope_types: &'static [ScopeType],
    description: &'static str,
    operations: &'static [(&'static str, &'static str)],
    deprecated_for_removal: bool,
}

impl Def {
    fn to_rule_default(&self) -> RuleDefault {
        RuleDefault {
            name: self.name.to_owned(),
            check_str: self.check_str.to_owned(),
            scope_types: self.scope_types.to_vec(),
            description: self.description.to_owned(),
            operations: self
                .operations
                .iter()
                .map(|(method, path)| Operation {
                    method: (*method).to_owned(),
                    path: (*path).to_owned(),
                })
                .collect(),
            deprecated_for_removal: self.deprecated_for_removal,
        }
    }
}

/// An operation entry in a table.
const fn op(method: &'static str, path: &'static str) -> (&'static str, &'static str) {
    (method, path)
}

/// `scope_types=None` upstream.
const UNSCOPED: &[ScopeType] = &[];
/// `scope_types=['project']`.
const PROJECT: &[ScopeType] = &[ScopeType::Project];
/// `scope_types=['system', 'project']`.
const SYSTEM_PROJECT: &[ScopeType] = &[ScopeType::System, ScopeType::Project];
/// `scope_types=['system', 'domain', 'project']`.
const SYSTEM_DOMAIN_PROJECT: &[ScopeType] =
    &[ScopeType::System, ScopeType::Domain, ScopeType::Project];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Enforcer, PolicyError};
    use serde_json::{json, Value};

    fn golden() -> Value {
        serde_json::from_str(include_str!("../../testdata/oslo_golden.json")).expect("golden")
    }

    fn keystone() -> Enforcer {
        Enforcer::new(identity()).expect("no duplicate names")
    }

    #[test]
    fn every_default_parses_and_references_defined_rules() {
        let defaults = identity();
        for d in &defaults {
            let parsed = crate::parser::parse_rule(&d.check_str);
            assert!(parsed.issues.is_empty(), "{}: {:?}", d.name, parsed.issues);
        }
        assert_eq!(keystone().validate(), vec![]);
    }

    /// The table equals what keystone's own modules register (extracted by
    /// importing them; see testdata/gen_oslo_golden.py): same names, order,
    /// check strings, scope types and deprecation flags.
    #[test]
    fn table_matches_upstream_registration() {
        let golden = golden();
        assert_eq!(golden["keystone_commit"], IDENTITY_UPSTREAM_COMMIT);
        let upstream = golden["keystone"]["rules"].as_array().expect("rules");
        let ours = identity();
        assert_eq!(ours.len(), upstream.len());
        for (d, u) in ours.iter().zip(upstream) {
            assert_eq!(d.name, u["name"].as_str().expect("name"));
            assert_eq!(
                d.check_str,
                u["check_str"].as_str().expect("check_str"),
                "{}",
                d.name
            );
            let scopes: Vec<&str> = d.scope_types.iter().map(|s| s.as_str()).collect();
            let upstream_scopes: Vec<&str> = u["scope_types"]
                .as_array()
                .expect("scopes")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(scopes, upstream_scopes, "{}", d.name);
            assert_eq!(
                d.deprecated_for_removal,
                u["deprecated_for_removal"].as_bool().expect("flag"),
                "{}",
                d.name
            );
        }
    }

    /// Every keystone rule, for every persona and target in the golden file,
    /// evaluates as oslo.policy evaluates it (check strings only; scope is
    /// tested separately). Targets are given both nested and flattened.
    #[test]
    fn keystone_rules_evaluate_like_oslo() {
        let golden = golden();
        let ks = &golden["keystone"];
        let enforcer = keystone().with_enforce_scope(false);
        let order = |key: &str| -> Vec<String> {
            ks[key]
                .as_array()
                .expect("order")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let (personas, targets) = (order("persona_order"), order("target_order"));
        let results = ks["results"].as_array().expect("results");
        let rules = ks["rules"].as_array().expect("rules");
        let mut compared = 0;
        for (rule, row) in rules.iter().zip(results) {
            let name = rule["name"].as_str().expect("name");
            let row = row.as_str().expect("row").as_bytes();
            for (p, persona) in personas.iter().enumerate() {
                let creds = &ks["personas"][persona];
                for (t, target_name) in targets.iter().enumerate() {
                    let target = &ks["targets"][target_name];
                    let want = row[p * targets.len() + t] == b'1';
                    for form in [target.clone(), flatten(target)] {
                        let got = enforcer.enforce(name, &form, creds).expect("registered");
                        assert_eq!(
                            got, want,
                            "{name} persona={persona} target={target_name} {form}"
                        );
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 50_000, "{compared}");
    }

    /// keystone.common.utils.flatten_dict.
    fn flatten(value: &Value) -> Value {
        fn walk(prefix: &str, value: &Value, out: &mut serde_json::Map<String, Value>) {
            if let Value::Object(map) = value {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if v.is_object() {
                        walk(&key, v, out);
                    } else {
                        out.insert(key, v.clone());
                    }
                }
            }
        }
        let mut out = serde_json::Map::new();
        walk("", value, &mut out);
        Value::Object(out)
    }

    #[test]
    fn known_rules_have_upstream_check_strings() {
        let e = keystone();
        let expect = |name: &str, check_str: &str, scopes: &[ScopeType]| {
            let d = e
                .registered(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(d.check_str, check_str, "{name}");
            assert_eq!(d.scope_types, scopes, "{name}");
        };
        expect("admin_required", "role:admin or is_admin:1", UNSCOPED);
        expect(
            "service_or_admin",
            "rule:admin_required or rule:service_role",
            UNSCOPED,
        );
        expect("owner", "user_id:%(user_id)s", UNSCOPED);
        expect(
            "token_subject",
            "user_id:%(target.token.user_id)s",
            UNSCOPED,
        );
        expect(
            "identity:get_user",
            "(rule:admin_required) or (role:reader and system_scope:all) or \
             (role:reader and token.domain.id:%(target.user.domain_id)s) or \
             user_id:%(target.user.id)s",
            SYSTEM_DOMAIN_PROJECT,
        );
        expect(
            "identity:create_project",
            "(rule:admin_required) or (role:manager and domain_id:%(target.project.domain_id)s \
             and not None:%(target.project.domain_id)s)",
            SYSTEM_DOMAIN_PROJECT,
        );
        expect(
            "identity:list_role_assignments",
            "(rule:admin_required) or (role:reader and system_scope:all) or \
             (role:reader and domain_id:%(target.domain_id)s)",
            SYSTEM_DOMAIN_PROJECT,
        );
        expect(
            "identity:create_application_credential",
            "user_id:%(user_id)s",
            PROJECT,
        );
        expect(
            "identity:validate_token",
            "rule:admin_required or (role:reader and system_scope:all) or \
             rule:service_role or rule:token_subject",
            SYSTEM_DOMAIN_PROJECT,
        );
        expect(
            "identity:create_role",
            "rule:admin_required",
            SYSTEM_PROJECT,
        );
        expect("identity:get_region", "", SYSTEM_DOMAIN_PROJECT);
        expect("identity:get_auth_catalog", "", UNSCOPED);
        expect(
            "identity:create_trust",
            "user_id:%(target.trust.trustor_user_id)s",
            PROJECT,
        );
        // Still registered upstream, but deprecated for removal (the OS-PKI
        // revocation list API is gone).
        expect(
            "identity:revocation_list",
            "rule:service_or_admin",
            SYSTEM_PROJECT,
        );
        assert!(e
            .registered("identity:revocation_list")
            .is_some_and(|d| d.deprecated_for_removal));
        assert_eq!(
            e.rule_names()
                .iter()
                .filter(|n| n.starts_with("identity:"))
                .count(),
            194
        );
        assert_eq!(
            identity()
                .iter()
                .filter(|d| d.deprecated_for_removal)
                .count(),
            1
        );
        // Rules upstream has removed stay removed.
        for gone in [
            "identity:check_token_deprecated",
            "identity:get_project_endpoint_group",
        ] {
            assert!(e.registered(gone).is_none(), "{gone}");
        }
        let get_user = e.registered("identity:get_user").expect("present");
        assert!(get_user
            .operations
            .iter()
            .any(|o| o.method == "GET" && o.path == "/v3/users/{user_id}"));
    }

    // Personas, built the way keystone's RequestContext renders them.

    const ALL_ROLES: &[&str] = &["admin", "manager", "member", "reader"];

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    fn system(user: &str, r: &[&str]) -> Value {
        Credentials {
            user_id: Some(user.into()),
            user_domain_id: Some("default".into()),
            system_scope: Some("all".into()),
            roles: roles(r),
            token: Some(json!({"user": {"id": user, "domain": {"id": "default"}},
                               "system": {"all": true}})),
            ..Credentials::default()
        }
        .to_value()
    }

    fn project(user: &str, project: &str, domain: &str, r: &[&str]) -> Value {
        Credentials {
            user_id: Some(user.into()),
            user_domain_id: Some(domain.into()),
            project_id: Some(project.into()),
            project_domain_id: Some(domain.into()),
            roles: roles(r),
            token: Some(json!({"user": {"id": user, "domain": {"id": domain}},
                               "project": {"id": project, "domain": {"id": domain}}})),
            ..Credentials::default()
        }
        .to_value()
    }

    fn domain(user: &str, domain: &str, r: &[&str]) -> Value {
        Credentials {
            user_id: Some(user.into()),
            user_domain_id: Some(domain.into()),
            domain_id: Some(domain.into()),
            roles: roles(r),
            token: Some(json!({"user": {"id": user, "domain": {"id": domain}},
                               "domain": {"id": domain}})),
            ..Credentials::default()
        }
        .to_value()
    }

    /// Ok(true) / Ok(false) / "scope" for InvalidScope.
    fn decide(
        e: &Enforcer,
        rule: &str,
        target: &Value,
        creds: &Value,
    ) -> Result<bool, &'static str> {
        match e.enforce(rule, target, creds) {
            Ok(b) => Ok(b),
            Err(PolicyError::InvalidScope { .. }) => Err("scope"),
            Err(other) => panic!("{rule}: {other}"),
        }
    }

    #[test]
    fn persona_matrix() {
        let e = keystone();
        let system_admin = system("sa", ALL_ROLES);
        let system_reader = system("sr", &["reader"]);
        let project_admin = project("pa", "p1", "d1", ALL_ROLES);
        let project_manager = project("pm", "p1", "d1", &["manager", "member", "reader"]);
        let member = project("u1", "p1", "d1", &["member", "reader"]);
        let reader = project("u2", "p1", "d1", &["reader"]);
        let other = project("u3", "p2", "d2", &["member", "reader"]);
        let domain_admin = domain("da", "d1", ALL_ROLES);
        let domain_manager = domain("dm", "d1", &["manager", "member", "reader"]);
        let domain_reader = domain("dr", "d1", &["reader"]);
        let service = project("nova", "service", "default", &["service"]);
        let anonymous = json!({});

        let new_project_d1 = json!({"target": {"project": {"domain_id": "d1"}}});
        let new_project_d2 = json!({"target": {"project": {"domain_id": "d2"}}});
        let new_user_d1 = json!({"target": {"user": {"domain_id": "d1"}}});
        let new_user_d2 = json!({"target": {"user": {"domain_id": "d2"}}});
        let p1 = json!({"target": {"project": {"id": "p1", "domain_id": "d1"}}});
        let u1 = json!({"user_id": "u1", "target": {"user": {"id": "u1", "domain_id": "d1"}}});
        let nothing = json!({});

        let cases: &[(&str, &Value, &Value, Result<bool, &str>)] = &[
            // Cloud admin work: system admin and project-scoped admin alike.
            (
                "identity:create_project",
                &new_project_d1,
                &system_admin,
                Ok(true),
            ),
            (
                "identity:create_project",
                &new_project_d1,
                &project_admin,
                Ok(true),
            ),
            (
                "identity:create_user",
                &new_user_d2,
                &project_admin,
                Ok(true),
            ),
            ("identity:create_role", &nothing, &project_admin, Ok(true)),
            ("identity:create_domain", &nothing, &project_admin, Ok(true)),
            (
                "identity:create_service",
                &nothing,
                &project_admin,
                Ok(true),
            ),
            (
                "identity:create_endpoint",
                &nothing,
                &project_admin,
                Ok(true),
            ),
            (
                "identity:create_grant",
                &json!({"target": {"role": {"name": "admin"}}}),
                &project_admin,
                Ok(true),
            ),
            (
                "identity:list_role_assignments",
                &nothing,
                &project_admin,
                Ok(true),
            ),
            ("identity:list_users", &nothing, &project_admin, Ok(true)),
            // System reader reads, does not write.
            ("identity:list_users", &nothing, &system_reader, Ok(true)),
            ("identity:get_project", &p1, &system_reader, Ok(true)),
            (
                "identity:create_user",
                &new_user_d1,
                &system_reader,
                Ok(false),
            ),
            (
                "identity:create_domain",
                &nothing,
                &system_reader,
                Ok(false),
            ),
            // Domain-scoped personas.
            (
                "identity:create_domain",
                &nothing,
                &domain_admin,
                Err("scope"),
            ),
            (
                "identity:create_role",
                &nothing,
                &domain_admin,
                Err("scope"),
            ),
            (
                "identity:create_user",
                &new_user_d2,
                &domain_admin,
                Ok(true),
            ),
            (
                "identity:create_user",
                &new_user_d1,
                &domain_manager,
                Ok(true),
            ),
            (
                "identity:create_user",
                &new_user_d2,
                &domain_manager,
                Ok(false),
            ),
            (
                "identity:create_project",
                &new_project_d1,
                &domain_manager,
                Ok(true),
            ),
            (
                "identity:create_project",
                &new_project_d2,
                &domain_manager,
                Ok(false),
            ),
            (
                "identity:list_users",
                &json!({"target": {"domain_id": "d1"}}),
                &domain_reader,
                Ok(true),
            ),
            (
                "identity:list_users",
                &json!({"target": {"domain_id": "d2"}}),
                &domain_reader,
                Ok(false),
            ),
            ("identity:get_project", &p1, &domain_reader, Ok(true)),
            (
                "identity:create_project",
                &new_project_d1,
                &domain_reader,
                Ok(false),
            ),
            // `not domain_id:None` needs domain_id present and null when not
            // domain-scoped: a project manager may not list roles.
            ("identity:list_roles", &nothing, &domain_manager, Ok(true)),
            ("identity:list_roles", &nothing, &project_manager, Ok(false)),
            // Project users.
            (
                "identity:create_project",
                &new_project_d1,
                &member,
                Ok(false),
            ),
            ("identity:get_project", &p1, &member, Ok(true)),
            ("identity:get_project", &p1, &reader, Ok(true)),
            ("identity:get_project", &p1, &other, Ok(false)),
            ("identity:get_user", &u1, &member, Ok(true)),
            ("identity:get_user", &u1, &other, Ok(false)),
            ("identity:update_user", &u1, &member, Ok(false)),
            ("identity:list_users", &nothing, &member, Ok(false)),
            (
                "identity:create_application_credential",
                &u1,
                &member,
                Ok(true),
            ),
            (
                "identity:create_application_credential",
                &u1,
                &other,
                Ok(false),
            ),
            (
                "identity:create_application_credential",
                &u1,
                &system_admin,
                Err("scope"),
            ),
            (
                "identity:create_trust",
                &json!({"target": {"trust": {"trustor_user_id": "u1"}}}),
                &member,
                Ok(true),
            ),
            (
                "identity:create_trust",
                &nothing,
                &system_admin,
                Err("scope"),
            ),
            (
                "identity:validate_token",
                &json!({"target": {"token": {"user_id": "u1"}}}),
                &member,
                Ok(true),
            ),
            (
                "identity:validate_token",
                &json!({"target": {"token": {"user_id": "u1"}}}),
                &other,
                Ok(false),
            ),
            (
                "identity:validate_token",
                &json!({"target": {"token": {"user_id": "u1"}}}),
                &service,
                Ok(true),
            ),
            ("identity:list_revoke_events", &nothing, &service, Ok(true)),
            ("identity:list_revoke_events", &nothing, &member, Ok(false)),
            // Anonymous (empty credentials count as project scope in oslo).
            ("identity:get_region", &nothing, &anonymous, Ok(true)),
            ("identity:get_auth_catalog", &nothing, &anonymous, Ok(true)),
            (
                "identity:create_project",
                &new_project_d1,
                &anonymous,
                Ok(false),
            ),
            ("identity:get_user", &u1, &anonymous, Ok(false)),
            ("identity:validate_token", &nothing, &anonymous, Ok(false)),
        ];
        for (rule, target, creds, want) in cases {
            let persona = creds["user_id"].as_str().unwrap_or("anonymous");
            assert_eq!(
                decide(&e, rule, target, creds),
                *want,
                "{rule} as {persona} on {target}"
            );
        }
    }

    #[test]
    fn overriding_a_keystone_rule() {
        let mut e = keystone();
        let member = project("u1", "p1", "d1", &["member", "reader"]);
        let target = json!({"target": {"project": {"domain_id": "d1"}}});
        assert_eq!(
            e.enforce("identity:create_project", &target, &member).ok(),
            Some(false)
        );
        e.load_overrides_from_str(
            "\"identity:create_project\": \"rule:admin_required or role:member\"\n",
        )
        .expect("valid");
        assert_eq!(
            e.enforce("identity:create_project", &target, &member).ok(),
            Some(true)
        );
        // Overriding a helper rule changes every rule that references it.
        e.load_overrides_from_str("admin_required: \"role:cloud-admin\"\n")
            .expect("valid");
        let admin = project("pa", "p1", "d1", &["admin"]);
        assert_eq!(
            e.enforce("identity:create_role", &json!({}), &admin).ok(),
            Some(false)
        );
        let cloud_admin = project("ca", "p1", "d1", &["cloud-admin"]);
        assert_eq!(
            e.enforce("identity:create_role", &json!({}), &cloud_admin)
                .ok(),
            Some(true)
        );
    }

    #[test]
    fn compute_defaults_parse_and_evaluate() {
        let defaults = compute();
        for d in &defaults {
            let parsed = crate::parser::parse_rule(&d.check_str);
            assert!(parsed.issues.is_empty(), "{}: {:?}", d.name, parsed.issues);
        }
        let e = Enforcer::new(defaults).expect("no duplicate names");
        assert_eq!(e.validate(), vec![]);
        let member = json!({"project_id": "p1", "user_id": "u1", "roles": ["member", "reader"], "is_admin": false});
        let admin = json!({"project_id": "p9", "user_id": "a", "roles": ["admin", "member", "reader"], "is_admin": true});
        let own = json!({"project_id": "p1", "user_id": "u1"});
        assert_eq!(
            e.enforce("os_compute_api:servers:create", &own, &member)
                .ok(),
            Some(true)
        );
        let other = json!({"project_id": "p2", "user_id": "u2"});
        assert_eq!(
            e.enforce("os_compute_api:servers:show", &other, &member)
                .ok(),
            Some(false)
        );
        assert_eq!(
            e.enforce("os_compute_api:servers:show", &other, &admin)
                .ok(),
            Some(true)
        );
        assert_eq!(
            e.enforce("os_compute_api:os-flavor-manage:create", &own, &member)
                .ok(),
            Some(false)
        );
        assert_eq!(
            e.enforce("os_compute_api:os-flavor-manage:create", &own, &admin)
                .ok(),
            Some(true)
        );
        assert_eq!(
            e.enforce("os_compute_api:os-keypairs:create", &own, &member)
                .ok(),
            Some(true)
        );
        assert_eq!(
            e.enforce("os_compute_api:os-keypairs:create", &other, &member)
                .ok(),
            Some(false)
        );
        assert_eq!(
            e.registered("os_compute_api:os-keypairs:create")
                .map(|d| d.check_str.as_str()),
            Some("(rule:context_is_admin) or user_id:%(user_id)s")
        );
    }

    #[test]
    fn network_defaults_parse_and_evaluate() {
        let defaults = network();
        for d in &defaults {
            let parsed = crate::parser::parse_rule(&d.check_str);
            assert!(parsed.issues.is_empty(), "{}: {:?}", d.name, parsed.issues);
        }
        let e = Enforcer::new(defaults).expect("no duplicate names");
        assert_eq!(e.validate(), vec![]);
        let member = json!({"project_id": "p1", "roles": ["member", "reader"]});
        let t = json!({"project_id": "p1", "tenant_id": "p1"});
        assert_eq!(e.enforce("create_network", &t, &member).ok(), Some(true));
        assert_eq!(
            e.enforce("create_network:shared", &t, &member).ok(),
            Some(false)
        );
        let other = json!({"project_id": "p2", "tenant_id": "p2"});
        assert_eq!(e.enforce("get_network", &other, &member).ok(), Some(false));
        // neutron's `field:networks:shared=True` is a FieldCheck neutron registers
        // itself; the Enforcer treats it as a generic check that never matches, so
        // the network service decides shared/external visibility in its app layer.
        let shared = json!({"project_id": "p2", "shared": true});
        assert_eq!(e.enforce("get_network", &shared, &member).ok(), Some(false));
    }
}
