//! The authorization matrix: every Identity API operation × persona (project admin,
//! project member, project reader, a member of another project, anonymous), with the
//! status upstream Keystone's default policy gives. A coverage test fails when a policy
//! rule the handlers enforce has no row here.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};

use reqwest::Method;
use rustack_test_utils::TestCloud;
use serde_json::{json, Value};

/// What a row needs created fresh (by the admin) before each persona's attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fresh {
    None,
    User,
    Project,
    Group,
    Role,
    DomainRole,
    Region,
    Service,
    Endpoint,
    /// A credential owned by the member.
    Credential,
    /// An application credential of the member.
    AppCred,
    /// A disabled domain.
    Domain,
    /// A tag on project P.
    Tag,
    /// reader ⇒ a fresh role implication.
    Implied,
    /// A grant of the fresh role to T on P.
    GrantPU,
    /// A system grant of the fresh role to T.
    GrantSU,
    /// A system grant of the fresh role to group G.
    GrantSG,
    /// T added to G.
    Membership,
    /// A token of the member's (validated/revoked as subject).
    MemberToken,
    /// A policy blob.
    Policy,
    /// An OAuth1 consumer.
    Consumer,
    /// An endpoint group.
    EndpointGroup,
    /// An EC2 credential of the member (its access key).
    Ec2,
    /// An access rule of the member, used by no application credential.
    AccessRule,
    /// A trust from the member (trustor) to T on P.
    Trust,
}

struct Row {
    rule: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    fresh: Fresh,
    /// Expected status for admin, member, reader, other.
    expect: [u16; 4],
}

fn row(
    rule: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    fresh: Fresh,
    expect: [u16; 4],
) -> Row {
    Row {
        rule,
        method,
        path,
        body,
        fresh,
        expect,
    }
}

const ADMIN_ONLY_200: [u16; 4] = [200, 403, 403, 403];
const ADMIN_ONLY_201: [u16; 4] = [201, 403, 403, 403];
const ADMIN_ONLY_204: [u16; 4] = [204, 403, 403, 403];
/// The admin passes policy and learns the thing does not exist; the others do not.
const NOT_FOUND_FOR_ADMIN: [u16; 4] = [404, 403, 403, 403];

fn rows() -> Vec<Row> {
    use Fresh as F;
    use Method as M;
    vec![
        // Users.
        row(
            "identity:list_users",
            M::GET,
            "/v3/users",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_user",
            M::GET,
            "/v3/users/{M}",
            None,
            F::None,
            [200, 200, 403, 403],
        ),
        row(
            "identity:create_user",
            M::POST,
            "/v3/users",
            Some(json!({"user": {"name": "{UNIQ}"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_user",
            M::PATCH,
            "/v3/users/{X}",
            Some(json!({"user": {"description": "x"}})),
            F::User,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_user",
            M::DELETE,
            "/v3/users/{X}",
            None,
            F::User,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_user_projects",
            M::GET,
            "/v3/users/{M}/projects",
            None,
            F::None,
            [200, 200, 403, 403],
        ),
        row(
            "identity:list_groups_for_user",
            M::GET,
            "/v3/users/{M}/groups",
            None,
            F::None,
            [200, 200, 403, 403],
        ),
        // Projects and tags.
        row(
            "identity:list_projects",
            M::GET,
            "/v3/projects",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_project",
            M::GET,
            "/v3/projects/{P}",
            None,
            F::None,
            [200, 200, 200, 403],
        ),
        row(
            "identity:create_project",
            M::POST,
            "/v3/projects",
            Some(json!({"project": {"name": "{UNIQ}"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_project",
            M::PATCH,
            "/v3/projects/{P}",
            Some(json!({"project": {"description": "d"}})),
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_project",
            M::DELETE,
            "/v3/projects/{X}",
            None,
            F::Project,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_project_tags",
            M::GET,
            "/v3/projects/{P}/tags",
            None,
            F::None,
            [200, 200, 200, 403],
        ),
        row(
            "identity:get_project_tag",
            M::GET,
            "/v3/projects/{P}/tags/{X}",
            None,
            F::Tag,
            [204, 204, 204, 403],
        ),
        row(
            "identity:create_project_tag",
            M::PUT,
            "/v3/projects/{P}/tags/{UNIQ}",
            None,
            F::None,
            [201, 403, 403, 403],
        ),
        row(
            "identity:update_project_tags",
            M::PUT,
            "/v3/projects/{P}/tags",
            Some(json!({"tags": ["a"]})),
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_project_tag",
            M::DELETE,
            "/v3/projects/{P}/tags/{X}",
            None,
            F::Tag,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:delete_project_tags",
            M::DELETE,
            "/v3/projects/{P}/tags",
            None,
            F::None,
            ADMIN_ONLY_204,
        ),
        // Domains.
        row(
            "identity:list_domains",
            M::GET,
            "/v3/domains",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_domain",
            M::GET,
            "/v3/domains/default",
            None,
            F::None,
            [200, 200, 200, 200],
        ),
        row(
            "identity:create_domain",
            M::POST,
            "/v3/domains",
            Some(json!({"domain": {"name": "{UNIQ}"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_domain",
            M::PATCH,
            "/v3/domains/{X}",
            Some(json!({"domain": {"description": "d"}})),
            F::Domain,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_domain",
            M::DELETE,
            "/v3/domains/{X}",
            None,
            F::Domain,
            ADMIN_ONLY_204,
        ),
        // Groups.
        row(
            "identity:list_groups",
            M::GET,
            "/v3/groups",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_group",
            M::GET,
            "/v3/groups/{G}",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_group",
            M::POST,
            "/v3/groups",
            Some(json!({"group": {"name": "{UNIQ}"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_group",
            M::PATCH,
            "/v3/groups/{X}",
            Some(json!({"group": {"description": "d"}})),
            F::Group,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_group",
            M::DELETE,
            "/v3/groups/{X}",
            None,
            F::Group,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_users_in_group",
            M::GET,
            "/v3/groups/{G}/users",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:add_user_to_group",
            M::PUT,
            "/v3/groups/{X}/users/{T}",
            None,
            F::Group,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:check_user_in_group",
            M::HEAD,
            "/v3/groups/{G}/users/{T}",
            None,
            F::Membership,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:remove_user_from_group",
            M::DELETE,
            "/v3/groups/{G}/users/{T}",
            None,
            F::Membership,
            ADMIN_ONLY_204,
        ),
        // Roles.
        row(
            "identity:list_roles",
            M::GET,
            "/v3/roles",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_role",
            M::GET,
            "/v3/roles/{READER}",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_role",
            M::POST,
            "/v3/roles",
            Some(json!({"role": {"name": "{UNIQ}"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_role",
            M::PATCH,
            "/v3/roles/{X}",
            Some(json!({"role": {"description": "d"}})),
            F::Role,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_role",
            M::DELETE,
            "/v3/roles/{X}",
            None,
            F::Role,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:create_domain_role",
            M::POST,
            "/v3/roles",
            Some(json!({"role": {"name": "{UNIQ}", "domain_id": "default"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:get_domain_role",
            M::GET,
            "/v3/roles/{X}",
            None,
            F::DomainRole,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:update_domain_role",
            M::PATCH,
            "/v3/roles/{X}",
            Some(json!({"role": {"description": "d"}})),
            F::DomainRole,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_domain_role",
            M::DELETE,
            "/v3/roles/{X}",
            None,
            F::DomainRole,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_implied_roles",
            M::GET,
            "/v3/roles/{MEMBER}/implies",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_implied_role",
            M::PUT,
            "/v3/roles/{X}/implies/{READER}",
            None,
            F::Role,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:get_implied_role",
            M::GET,
            "/v3/roles/{X}/implies/{READER}",
            None,
            F::Implied,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:check_implied_role",
            M::HEAD,
            "/v3/roles/{X}/implies/{READER}",
            None,
            F::Implied,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:delete_implied_role",
            M::DELETE,
            "/v3/roles/{X}/implies/{READER}",
            None,
            F::Implied,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_role_inference_rules",
            M::GET,
            "/v3/role_inferences",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        // Grants and assignments.
        row(
            "identity:create_grant",
            M::PUT,
            "/v3/projects/{P}/users/{T}/roles/{X}",
            None,
            F::Role,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:check_grant",
            M::HEAD,
            "/v3/projects/{P}/users/{T}/roles/{X}",
            None,
            F::GrantPU,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_grants",
            M::GET,
            "/v3/projects/{P}/users/{M}/roles",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:revoke_grant",
            M::DELETE,
            "/v3/projects/{P}/users/{T}/roles/{X}",
            None,
            F::GrantPU,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:create_system_grant_for_user",
            M::PUT,
            "/v3/system/users/{T}/roles/{X}",
            None,
            F::Role,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:check_system_grant_for_user",
            M::HEAD,
            "/v3/system/users/{T}/roles/{X}",
            None,
            F::GrantSU,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_system_grants_for_user",
            M::GET,
            "/v3/system/users/{T}/roles",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:revoke_system_grant_for_user",
            M::DELETE,
            "/v3/system/users/{T}/roles/{X}",
            None,
            F::GrantSU,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:create_system_grant_for_group",
            M::PUT,
            "/v3/system/groups/{G}/roles/{X}",
            None,
            F::Role,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:check_system_grant_for_group",
            M::HEAD,
            "/v3/system/groups/{G}/roles/{X}",
            None,
            F::GrantSG,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_system_grants_for_group",
            M::GET,
            "/v3/system/groups/{G}/roles",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:revoke_system_grant_for_group",
            M::DELETE,
            "/v3/system/groups/{G}/roles/{X}",
            None,
            F::GrantSG,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_role_assignments",
            M::GET,
            "/v3/role_assignments",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:list_role_assignments_for_tree",
            M::GET,
            "/v3/role_assignments?scope.project.id={P}&include_subtree=true",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        // Catalog.
        row(
            "identity:list_regions",
            M::GET,
            "/v3/regions",
            None,
            F::None,
            [200, 200, 200, 200],
        ),
        row(
            "identity:get_region",
            M::GET,
            "/v3/regions/RegionOne",
            None,
            F::None,
            [200, 200, 200, 200],
        ),
        row(
            "identity:create_region",
            M::POST,
            "/v3/regions",
            Some(json!({"region": {"description": "r"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_region",
            M::PATCH,
            "/v3/regions/{X}",
            Some(json!({"region": {"description": "d"}})),
            F::Region,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_region",
            M::DELETE,
            "/v3/regions/{X}",
            None,
            F::Region,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_services",
            M::GET,
            "/v3/services",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_service",
            M::GET,
            "/v3/services/{X}",
            None,
            F::Service,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_service",
            M::POST,
            "/v3/services",
            Some(json!({"service": {"type": "{UNIQ}"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_service",
            M::PATCH,
            "/v3/services/{X}",
            Some(json!({"service": {"enabled": true}})),
            F::Service,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_service",
            M::DELETE,
            "/v3/services/{X}",
            None,
            F::Service,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_endpoints",
            M::GET,
            "/v3/endpoints",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_endpoint",
            M::GET,
            "/v3/endpoints/{X}",
            None,
            F::Endpoint,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_endpoint",
            M::POST,
            "/v3/endpoints",
            Some(
                json!({"endpoint": {"service_id": "{SVC}", "interface": "public", "url": "http://127.0.0.1:1/"}}),
            ),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:update_endpoint",
            M::PATCH,
            "/v3/endpoints/{X}",
            Some(json!({"endpoint": {"enabled": true}})),
            F::Endpoint,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_endpoint",
            M::DELETE,
            "/v3/endpoints/{X}",
            None,
            F::Endpoint,
            ADMIN_ONLY_204,
        ),
        // Credentials (the member's own).
        row(
            "identity:list_credentials",
            M::GET,
            "/v3/credentials",
            None,
            F::None,
            [200, 200, 200, 200],
        ),
        row(
            "identity:get_credential",
            M::GET,
            "/v3/credentials/{X}",
            None,
            F::Credential,
            [200, 200, 403, 403],
        ),
        row(
            "identity:create_credential",
            M::POST,
            "/v3/credentials",
            Some(json!({"credential": {"user_id": "{M}", "type": "cert", "blob": "b"}})),
            F::None,
            [201, 201, 403, 403],
        ),
        row(
            "identity:update_credential",
            M::PATCH,
            "/v3/credentials/{X}",
            Some(json!({"credential": {"blob": "c"}})),
            F::Credential,
            [200, 200, 403, 403],
        ),
        row(
            "identity:delete_credential",
            M::DELETE,
            "/v3/credentials/{X}",
            None,
            F::Credential,
            [204, 204, 403, 403],
        ),
        // Application credentials (the member's own; creating needs to be that user).
        row(
            "identity:list_application_credentials",
            M::GET,
            "/v3/users/{M}/application_credentials",
            None,
            F::None,
            [200, 200, 403, 403],
        ),
        row(
            "identity:get_application_credential",
            M::GET,
            "/v3/users/{M}/application_credentials/{X}",
            None,
            F::AppCred,
            [200, 200, 403, 403],
        ),
        row(
            "identity:create_application_credential",
            M::POST,
            "/v3/users/{M}/application_credentials",
            Some(json!({"application_credential": {"name": "{UNIQ}"}})),
            F::None,
            [403, 201, 403, 403],
        ),
        row(
            "identity:delete_application_credential",
            M::DELETE,
            "/v3/users/{M}/application_credentials/{X}",
            None,
            F::AppCred,
            [204, 204, 403, 403],
        ),
        // Tokens (the subject is a token of the member's).
        row(
            "identity:validate_token",
            M::GET,
            "/v3/auth/tokens",
            None,
            F::MemberToken,
            [200, 200, 403, 403],
        ),
        // Policies and OS-ENDPOINT-POLICY.
        row(
            "identity:list_policies",
            M::GET,
            "/v3/policies",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_policy",
            M::POST,
            "/v3/policies",
            Some(json!({"policy": {"blob": "b", "type": "t"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:get_policy",
            M::GET,
            "/v3/policies/{X}",
            None,
            F::Policy,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:update_policy",
            M::PATCH,
            "/v3/policies/{X}",
            Some(json!({"policy": {"type": "t2"}})),
            F::Policy,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_policy",
            M::DELETE,
            "/v3/policies/{X}",
            None,
            F::Policy,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:create_policy_association_for_endpoint",
            M::PUT,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/endpoints/nope",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:check_policy_association_for_endpoint",
            M::GET,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/endpoints/nope",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:delete_policy_association_for_endpoint",
            M::DELETE,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/endpoints/nope",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:create_policy_association_for_service",
            M::PUT,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/services/{SVC}",
            None,
            F::Policy,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:check_policy_association_for_service",
            M::GET,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/services/{SVC}",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:delete_policy_association_for_service",
            M::DELETE,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/services/{SVC}",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:create_policy_association_for_region_and_service",
            M::PUT,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/services/{SVC}/regions/nope",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:check_policy_association_for_region_and_service",
            M::GET,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/services/{SVC}/regions/nope",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:delete_policy_association_for_region_and_service",
            M::DELETE,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/services/{SVC}/regions/nope",
            None,
            F::Policy,
            NOT_FOUND_FOR_ADMIN,
        ),
        // The service association made above reaches the fresh endpoint of {SVC}.
        row(
            "identity:get_policy_for_endpoint",
            M::GET,
            "/v3/endpoints/{X}/OS-ENDPOINT-POLICY/policy",
            None,
            F::Endpoint,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:list_endpoints_for_policy",
            M::GET,
            "/v3/policies/{X}/OS-ENDPOINT-POLICY/endpoints",
            None,
            F::Policy,
            ADMIN_ONLY_200,
        ),
        // OAuth1 consumers.
        row(
            "identity:list_consumers",
            M::GET,
            "/v3/OS-OAUTH1/consumers",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_consumer",
            M::POST,
            "/v3/OS-OAUTH1/consumers",
            Some(json!({"consumer": {"description": "d"}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:get_consumer",
            M::GET,
            "/v3/OS-OAUTH1/consumers/{X}",
            None,
            F::Consumer,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:update_consumer",
            M::PATCH,
            "/v3/OS-OAUTH1/consumers/{X}",
            Some(json!({"consumer": {"description": "d2"}})),
            F::Consumer,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_consumer",
            M::DELETE,
            "/v3/OS-OAUTH1/consumers/{X}",
            None,
            F::Consumer,
            ADMIN_ONLY_204,
        ),
        // OS-EC2 credentials of the member.
        row(
            "identity:ec2_list_credentials",
            M::GET,
            "/v3/users/{M}/credentials/OS-EC2",
            None,
            F::None,
            [200, 200, 403, 403],
        ),
        row(
            "identity:ec2_create_credential",
            M::POST,
            "/v3/users/{M}/credentials/OS-EC2",
            Some(json!({"tenant_id": "{P}"})),
            F::None,
            [201, 201, 403, 403],
        ),
        row(
            "identity:ec2_get_credential",
            M::GET,
            "/v3/users/{M}/credentials/OS-EC2/{X}",
            None,
            F::Ec2,
            [200, 200, 403, 403],
        ),
        row(
            "identity:ec2_delete_credential",
            M::DELETE,
            "/v3/users/{M}/credentials/OS-EC2/{X}",
            None,
            F::Ec2,
            [204, 204, 403, 403],
        ),
        // Access rules (owner or system reader: a project admin is neither).
        row(
            "identity:list_access_rules",
            M::GET,
            "/v3/users/{M}/access_rules",
            None,
            F::None,
            [403, 200, 403, 403],
        ),
        row(
            "identity:get_access_rule",
            M::GET,
            "/v3/users/{M}/access_rules/{X}",
            None,
            F::AccessRule,
            [403, 200, 403, 403],
        ),
        row(
            "identity:delete_access_rule",
            M::DELETE,
            "/v3/users/{M}/access_rules/{X}",
            None,
            F::AccessRule,
            [403, 204, 403, 403],
        ),
        // OS-EP-FILTER.
        row(
            "identity:list_endpoint_groups",
            M::GET,
            "/v3/OS-EP-FILTER/endpoint_groups",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:create_endpoint_group",
            M::POST,
            "/v3/OS-EP-FILTER/endpoint_groups",
            Some(json!({"endpoint_group": {"name": "{UNIQ}", "filters": {"interface": "admin"}}})),
            F::None,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:get_endpoint_group",
            M::GET,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}",
            None,
            F::EndpointGroup,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:update_endpoint_group",
            M::PATCH,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}",
            Some(json!({"endpoint_group": {"name": "n2"}})),
            F::EndpointGroup,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_endpoint_group",
            M::DELETE,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}",
            None,
            F::EndpointGroup,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:list_projects_associated_with_endpoint_group",
            M::GET,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}/projects",
            None,
            F::EndpointGroup,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:list_endpoints_associated_with_endpoint_group",
            M::GET,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}/endpoints",
            None,
            F::EndpointGroup,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_endpoint_group_in_project",
            M::GET,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}/projects/{P}",
            None,
            F::EndpointGroup,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:add_endpoint_group_to_project",
            M::PUT,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}/projects/{P}",
            None,
            F::EndpointGroup,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:remove_endpoint_group_from_project",
            M::DELETE,
            "/v3/OS-EP-FILTER/endpoint_groups/{X}/projects/{P}",
            None,
            F::EndpointGroup,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:list_endpoint_groups_for_project",
            M::GET,
            "/v3/OS-EP-FILTER/projects/{P}/endpoint_groups",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:list_endpoints_for_project",
            M::GET,
            "/v3/OS-EP-FILTER/projects/{P}/endpoints",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:add_endpoint_to_project",
            M::PUT,
            "/v3/OS-EP-FILTER/projects/{P}/endpoints/{X}",
            None,
            F::Endpoint,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:check_endpoint_in_project",
            M::GET,
            "/v3/OS-EP-FILTER/projects/{P}/endpoints/{X}",
            None,
            F::Endpoint,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:remove_endpoint_from_project",
            M::DELETE,
            "/v3/OS-EP-FILTER/projects/{P}/endpoints/{X}",
            None,
            F::Endpoint,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:list_projects_for_endpoint",
            M::GET,
            "/v3/OS-EP-FILTER/endpoints/{X}/projects",
            None,
            F::Endpoint,
            ADMIN_ONLY_200,
        ),
        // Domain configs.
        row(
            "identity:create_domain_config",
            M::PUT,
            "/v3/domains/{X}/config",
            Some(json!({"config": {"identity": {"driver": "sql"}}})),
            F::Domain,
            ADMIN_ONLY_201,
        ),
        row(
            "identity:get_domain_config",
            M::GET,
            "/v3/domains/{X}/config",
            None,
            F::Domain,
            NOT_FOUND_FOR_ADMIN,
        ),
        row(
            "identity:update_domain_config",
            M::PATCH,
            "/v3/domains/{X}/config",
            Some(json!({"config": {"identity": {"driver": "sql"}}})),
            F::Domain,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:delete_domain_config",
            M::DELETE,
            "/v3/domains/{X}/config",
            None,
            F::Domain,
            ADMIN_ONLY_204,
        ),
        row(
            "identity:get_domain_config_default",
            M::GET,
            "/v3/domains/config/default",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_security_compliance_domain_config",
            M::GET,
            "/v3/domains/default/config/security_compliance",
            None,
            F::None,
            [200, 200, 200, 200],
        ),
        // OS-TRUST (creating is for the trustor alone, admins included).
        row(
            "identity:create_trust",
            M::POST,
            "/v3/OS-TRUST/trusts",
            Some(
                json!({"trust": {"trustor_user_id": "{M}", "trustee_user_id": "{T}", "project_id": "{P}", "impersonation": false, "roles": [{"name": "member"}]}}),
            ),
            F::None,
            [403, 201, 403, 403],
        ),
        row(
            "identity:list_trusts",
            M::GET,
            "/v3/OS-TRUST/trusts",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:list_trusts_for_trustor",
            M::GET,
            "/v3/OS-TRUST/trusts?trustor_user_id={M}",
            None,
            F::None,
            [200, 200, 403, 403],
        ),
        row(
            "identity:list_trusts_for_trustee",
            M::GET,
            "/v3/OS-TRUST/trusts?trustee_user_id={T}",
            None,
            F::None,
            ADMIN_ONLY_200,
        ),
        row(
            "identity:get_trust",
            M::GET,
            "/v3/OS-TRUST/trusts/{X}",
            None,
            F::Trust,
            [200, 200, 403, 403],
        ),
        row(
            "identity:list_roles_for_trust",
            M::GET,
            "/v3/OS-TRUST/trusts/{X}/roles",
            None,
            F::Trust,
            [200, 200, 403, 403],
        ),
        row(
            "identity:get_role_for_trust",
            M::GET,
            "/v3/OS-TRUST/trusts/{X}/roles/{MEMBER}",
            None,
            F::Trust,
            [200, 200, 403, 403],
        ),
        row(
            "identity:delete_trust",
            M::DELETE,
            "/v3/OS-TRUST/trusts/{X}",
            None,
            F::Trust,
            [204, 204, 403, 403],
        ),
        row(
            "identity:check_token",
            M::HEAD,
            "/v3/auth/tokens",
            None,
            F::MemberToken,
            [200, 200, 403, 403],
        ),
        row(
            "identity:revoke_token",
            M::DELETE,
            "/v3/auth/tokens",
            None,
            F::MemberToken,
            [204, 204, 403, 403],
        ),
    ]
}

struct World {
    ids: HashMap<&'static str, String>,
    member_password: String,
}

async fn fresh(c: &TestCloud, admin: &str, w: &World, f: Fresh, n: usize) -> Option<String> {
    let uniq = format!("fresh{n}");
    let post = |path: &'static str, body: Value| async move {
        let r = c.call(Method::POST, path, Some(admin), Some(body)).await;
        assert!(r.status.is_success(), "fresh {path}: {}", r.raw);
        r.body
    };
    Some(match f {
        Fresh::None => return None,
        Fresh::User => post("/v3/users", json!({"user": {"name": uniq}})).await["user"]["id"].as_str()?.to_string(),
        Fresh::Project => post("/v3/projects", json!({"project": {"name": uniq}})).await["project"]["id"].as_str()?.to_string(),
        Fresh::Group => post("/v3/groups", json!({"group": {"name": uniq}})).await["group"]["id"].as_str()?.to_string(),
        Fresh::Role | Fresh::Implied | Fresh::GrantPU | Fresh::GrantSU | Fresh::GrantSG => {
            let id = post("/v3/roles", json!({"role": {"name": uniq}})).await["role"]["id"].as_str()?.to_string();
            let (p, o, g, reader) = (&w.ids["P"], &w.ids["T"], &w.ids["G"], &w.ids["READER"]);
            let path = match f {
                Fresh::Implied => format!("/v3/roles/{id}/implies/{reader}"),
                Fresh::GrantPU => format!("/v3/projects/{p}/users/{o}/roles/{id}"),
                Fresh::GrantSU => format!("/v3/system/users/{o}/roles/{id}"),
                Fresh::GrantSG => format!("/v3/system/groups/{g}/roles/{id}"),
                _ => return Some(id),
            };
            let r = c.call(Method::PUT, &path, Some(admin), None).await;
            assert!(r.status.is_success(), "{path}: {}", r.raw);
            id
        }
        Fresh::DomainRole => post("/v3/roles", json!({"role": {"name": uniq, "domain_id": "default"}})).await["role"]["id"].as_str()?.to_string(),
        Fresh::Region => post("/v3/regions", json!({"region": {"description": uniq}})).await["region"]["id"].as_str()?.to_string(),
        Fresh::Service => post("/v3/services", json!({"service": {"type": uniq}})).await["service"]["id"].as_str()?.to_string(),
        Fresh::Endpoint => post("/v3/endpoints", json!({"endpoint": {"service_id": w.ids["SVC"], "interface": "internal", "url": "http://127.0.0.1:2/"}})).await["endpoint"]["id"].as_str()?.to_string(),
        Fresh::Credential => post("/v3/credentials", json!({"credential": {"user_id": w.ids["M"], "type": "cert", "blob": uniq}})).await["credential"]["id"].as_str()?.to_string(),
        Fresh::AppCred => {
            let r = c
                .call(Method::POST, &format!("/v3/users/{}/application_credentials", w.ids["M"]), Some(&w.ids["MTOKEN"]), Some(json!({"application_credential": {"name": uniq}})))
                .await;
            assert_eq!(r.status, 201, "{}", r.raw);
            r.body["application_credential"]["id"].as_str()?.to_string()
        }
        Fresh::Domain => {
            let id = post("/v3/domains", json!({"domain": {"name": uniq, "enabled": false}})).await["domain"]["id"].as_str()?.to_string();
            id
        }
        Fresh::Tag => {
            let r = c.call(Method::PUT, &format!("/v3/projects/{}/tags/{uniq}", w.ids["P"]), Some(admin), None).await;
            assert_eq!(r.status, 201);
            uniq
        }
        Fresh::Membership => {
            let r = c.call(Method::PUT, &format!("/v3/groups/{}/users/{}", w.ids["G"], w.ids["T"]), Some(admin), None).await;
            assert_eq!(r.status, 204);
            String::new()
        }
        Fresh::Policy => post("/v3/policies", json!({"policy": {"blob": uniq, "type": "t"}})).await["policy"]["id"].as_str()?.to_string(),
        Fresh::Consumer => post("/v3/OS-OAUTH1/consumers", json!({"consumer": {"description": uniq}})).await["consumer"]["id"].as_str()?.to_string(),
        Fresh::EndpointGroup => post("/v3/OS-EP-FILTER/endpoint_groups", json!({"endpoint_group": {"name": uniq, "filters": {"interface": "admin"}}})).await["endpoint_group"]["id"].as_str()?.to_string(),
        Fresh::Ec2 => {
            let r = c
                .call(Method::POST, &format!("/v3/users/{}/credentials/OS-EC2", w.ids["M"]), Some(&w.ids["MTOKEN"]), Some(json!({"tenant_id": w.ids["P"]})))
                .await;
            assert_eq!(r.status, 201, "{}", r.raw);
            r.body["credential"]["access"].as_str()?.to_string()
        }
        Fresh::AccessRule => {
            let m = &w.ids["M"];
            let r = c
                .call(Method::POST, &format!("/v3/users/{m}/application_credentials"), Some(&w.ids["MTOKEN"]), Some(json!({"application_credential": {"name": uniq, "access_rules": [{"service": "compute", "path": format!("/{uniq}"), "method": "GET"}]}})))
                .await;
            assert_eq!(r.status, 201, "{}", r.raw);
            let ac = &r.body["application_credential"];
            let r2 = c
                .call(Method::DELETE, &format!("/v3/users/{m}/application_credentials/{}", ac["id"].as_str()?), Some(&w.ids["MTOKEN"]), None)
                .await;
            assert_eq!(r2.status, 204, "{}", r2.raw);
            ac["access_rules"][0]["id"].as_str()?.to_string()
        }
        Fresh::Trust => {
            let body = json!({"trust": {"trustor_user_id": w.ids["M"], "trustee_user_id": w.ids["T"], "project_id": w.ids["P"], "impersonation": false, "roles": [{"name": "member"}]}});
            let r = c.call(Method::POST, "/v3/OS-TRUST/trusts", Some(&w.ids["MTOKEN"]), Some(body)).await;
            assert_eq!(r.status, 201, "{}", r.raw);
            r.body["trust"]["id"].as_str()?.to_string()
        }
        Fresh::MemberToken => {
            let r = c.password_token(&w.ids["M"], &w.member_password, Some(json!({"project": {"id": w.ids["P"]}}))).await;
            r.header("x-subject-token")
        }
    })
}

fn fill(s: &str, w: &World, x: &str, uniq: &str) -> String {
    let mut out = s.replace("{X}", x).replace("{UNIQ}", uniq);
    for (k, v) in &w.ids {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[tokio::test]
async fn authorization_matrix() {
    let c = TestCloud::start().await;
    let admin = c.admin_token().await;
    let (m, p, mtoken) = c.persona(&admin, "m-user", "member", None).await;
    let (_, _, rtoken) = c.persona(&admin, "r-user", "reader", Some(&p)).await;
    let (o, _, otoken) = c.persona(&admin, "o-user", "member", None).await;
    let g = c
        .call(
            Method::POST,
            "/v3/groups",
            Some(&admin),
            Some(json!({"group": {"name": "matrix-group"}})),
        )
        .await
        .body["group"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let svc = c
        .call(
            Method::POST,
            "/v3/services",
            Some(&admin),
            Some(json!({"service": {"type": "matrix"}})),
        )
        .await
        .body["service"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = HashMap::new();
    ids.insert("M", m);
    ids.insert("P", p);
    // Grants and memberships target a bystander, not a persona: changing a user's
    // grants revokes that user's tokens.
    let _ = o;
    ids.insert("T", c.create_user(&admin, "t-user", "pw").await);
    ids.insert("G", g);
    ids.insert("SVC", svc);
    ids.insert("READER", c.role_id(&admin, "reader").await);
    ids.insert("MEMBER", c.role_id(&admin, "member").await);
    ids.insert("MTOKEN", mtoken.clone());
    let w = World {
        ids,
        member_password: "pw-secret".into(),
    };
    let personas: [(&str, Option<&str>); 5] = [
        ("admin", Some(&admin)),
        ("member", Some(&mtoken)),
        ("reader", Some(&rtoken)),
        ("other", Some(&otoken)),
        ("anonymous", None),
    ];
    let mut failures = vec![];
    let mut n = 0;
    for r in rows() {
        for (i, (persona, token)) in personas.iter().enumerate() {
            n += 1;
            let uniq = format!("m{n}");
            let x = fresh(&c, &admin, &w, r.fresh, n).await.unwrap_or_default();
            let path = fill(r.path, &w, &x, &uniq);
            let body = r.body.as_ref().map(|b| {
                serde_json::from_str::<Value>(&fill(&b.to_string(), &w, &x, &uniq)).unwrap()
            });
            let extra: Vec<(&str, &str)> = if r.fresh == Fresh::MemberToken {
                vec![("X-Subject-Token", x.as_str())]
            } else {
                vec![]
            };
            let resp = c
                .call_with(r.method.clone(), &path, *token, body, &extra)
                .await;
            let want = if i == 4 { 401 } else { r.expect[i] };
            if resp.status.as_u16() != want {
                failures.push(format!(
                    "{} {} {} as {persona}: got {} want {want}: {}",
                    r.rule,
                    r.method,
                    path,
                    resp.status.as_u16(),
                    resp.raw
                ));
            }
            if want == 403 && resp.status == 403 && r.method != Method::HEAD {
                let msg = resp.body["error"]["message"].as_str().unwrap_or("");
                if !msg.contains(r.rule) && r.rule != "identity:create_application_credential" {
                    failures.push(format!(
                        "{} as {persona}: 403 message should name the rule: {msg}",
                        r.rule
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every policy rule the handlers enforce has a row in the matrix.
#[test]
fn matrix_covers_every_enforced_rule() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut enforced = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, _) in text.match_indices("\"identity:") {
            let rest = &text[i + 1..];
            let end = rest.find('"').unwrap();
            enforced.insert(rest[..end].to_string());
        }
    }
    let covered: BTreeSet<String> = rows().iter().map(|r| r.rule.to_string()).collect();
    let missing: Vec<_> = enforced.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "rules without a matrix row: {missing:?}"
    );
    assert!(
        enforced.len() > 80,
        "found only {} rules: is the scan broken?",
        enforced.len()
    );
}
