//! barbican's policy defaults (`barbican/common/policies/*.py`), transcribed from
//! openstack/barbican at [`super::KEY_MANAGER_UPSTREAM_COMMIT`], in registration order
//! (`barbican.common.policies.list_rules()`): `base`, `acls`, `consumers`, `containers`,
//! `orders`, `quotas`, `secretmeta`, `secrets`, `secretstores`, `transportkeys`.
//!
//! Check strings are the current secure-RBAC defaults (the deprecated legacy
//! `creator`/`observer`/`audit` fallbacks are not OR-ed in, but the legacy helper
//! rules `base.py` still registers are kept so operator overrides can use them).
//! barbican evaluates them against a flattened target:
//! `{"enforce_new_defaults": true, "target.secret.project_id", "target.secret.creator_id",
//! "target.secret.read": "read" (only when the caller is in the read ACL),
//! "target.secret.read_project_access": bool}` (likewise `target.container.*`).

use super::{op, Def, PROJECT, UNSCOPED};

/// Rules in barbican's registration order.
pub(super) const RULES: &[Def] = &[
    Def {
        name: "secret_project_match",
        check_str: "project_id:%(target.secret.project_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_project_reader",
        check_str: "role:reader and rule:secret_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_project_member",
        check_str: "role:member and rule:secret_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_project_admin",
        check_str: "role:admin and rule:secret_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_owner",
        check_str: "user_id:%(target.secret.creator_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_is_not_private",
        check_str: "True:%(target.secret.read_project_access)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_acl_read",
        check_str: "'read':%(target.secret.read)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_project_match",
        check_str: "project_id:%(target.container.project_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_project_member",
        check_str: "role:member and rule:container_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_project_admin",
        check_str: "role:admin and rule:container_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_owner",
        check_str: "user_id:%(target.container.creator_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_is_not_private",
        check_str: "True:%(target.container.read_project_access)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_acl_read",
        check_str: "'read':%(target.container.read)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "order_project_match",
        check_str: "project_id:%(target.order.project_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "order_project_member",
        check_str: "role:member and rule:order_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "audit",
        check_str: "role:audit",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "observer",
        check_str: "role:observer",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "creator",
        check_str: "role:creator",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "admin",
        check_str: "role:admin",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "service_admin",
        check_str: "role:key-manager:service-admin",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "all_users",
        check_str: "rule:admin or rule:observer or rule:creator or rule:audit or rule:service_admin",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "all_but_audit",
        check_str: "rule:admin or rule:observer or rule:creator",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "admin_or_creator",
        check_str: "rule:admin or rule:creator",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_creator_user",
        check_str: "user_id:%(target.secret.creator_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_private_read",
        check_str: "'False':%(target.secret.read_project_access)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_non_private_read",
        check_str: "rule:all_users and rule:secret_project_match and not rule:secret_private_read",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_decrypt_non_private_read",
        check_str: "rule:all_but_audit and rule:secret_project_match and not rule:secret_private_read",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_project_creator",
        check_str: "rule:creator and rule:secret_project_match and rule:secret_creator_user",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_project_creator_role",
        check_str: "rule:creator and rule:secret_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_private_read",
        check_str: "'False':%(target.container.read_project_access)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_creator_user",
        check_str: "user_id:%(target.container.creator_id)s",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_non_private_read",
        check_str: "rule:all_users and rule:container_project_match and not rule:container_private_read",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_project_creator",
        check_str: "rule:creator and rule:container_project_match and rule:container_creator_user",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_project_creator_role",
        check_str: "rule:creator and rule:container_project_match",
        scope_types: UNSCOPED,
        description: "",
        operations: &[],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_acls:get",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Retrieve the ACL settings for a given secret.If no ACL is defined for that secret, then Default ACL is returned.",
        operations: &[op("GET", "/v1/secrets/{secret-id}/acl")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_acls:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Delete the ACL settings for a given secret.",
        operations: &[op("DELETE", "/v1/secrets/{secret-id}/acl")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_acls:put_patch",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Create new, replaces, or updates existing ACL for a given secret.",
        operations: &[op("PUT", "/v1/secrets/{secret-id}/acl"), op("PATCH", "/v1/secrets/{secret-id}/acl")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_acls:get",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private))",
        scope_types: PROJECT,
        description: "Retrieve the ACL settings for a given container.",
        operations: &[op("GET", "/v1/containers/{container-id}/acl")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_acls:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private))",
        scope_types: PROJECT,
        description: "Delete ACL for a given container. No content is returned in the case of successful deletion.",
        operations: &[op("DELETE", "/v1/containers/{container-id}/acl")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_acls:put_patch",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private))",
        scope_types: PROJECT,
        description: "Create new or replaces existing ACL for a given container.",
        operations: &[op("PUT", "/v1/containers/{container-id}/acl"), op("PATCH", "/v1/containers/{container-id}/acl")],
        deprecated_for_removal: false,
    },
    Def {
        name: "consumer:get",
        check_str: "True:%(enforce_new_defaults)s and (role:admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private) or rule:container_acl_read)",
        scope_types: PROJECT,
        description: "DEPRECATED: show information for a specific consumer",
        operations: &[op("GET", "/v1/containers/{container-id}/consumers/{consumer-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_consumers:get",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private) or rule:container_acl_read)",
        scope_types: PROJECT,
        description: "List a containers consumers.",
        operations: &[op("GET", "/v1/containers/{container-id}/consumers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_consumers:post",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private) or rule:container_acl_read)",
        scope_types: PROJECT,
        description: "Creates a consumer.",
        operations: &[op("POST", "/v1/containers/{container-id}/consumers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_consumers:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private) or rule:container_acl_read)",
        scope_types: PROJECT,
        description: "Deletes a consumer.",
        operations: &[op("DELETE", "/v1/containers/{container-id}/consumers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_consumers:get",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private) or rule:secret_acl_read)",
        scope_types: PROJECT,
        description: "List consumers for a secret.",
        operations: &[op("GET", "/v1/secrets/{secret-id}/consumers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_consumers:post",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private) or rule:secret_acl_read)",
        scope_types: PROJECT,
        description: "Creates a consumer.",
        operations: &[op("POST", "/v1/secrets/{secrets-id}/consumers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_consumers:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private) or rule:secret_acl_read)",
        scope_types: PROJECT,
        description: "Deletes a consumer.",
        operations: &[op("DELETE", "/v1/secrets/{secrets-id}/consumers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "containers:post",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Creates a container.",
        operations: &[op("POST", "/v1/containers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "containers:get",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Lists a projects containers.",
        operations: &[op("GET", "/v1/containers")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container:get",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private) or rule:container_acl_read)",
        scope_types: PROJECT,
        description: "Retrieves a single container.",
        operations: &[op("GET", "/v1/containers/{container-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private))",
        scope_types: PROJECT,
        description: "Deletes a container.",
        operations: &[op("DELETE", "/v1/containers/{uuid}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_secret:post",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private))",
        scope_types: PROJECT,
        description: "Add a secret to an existing container.",
        operations: &[op("POST", "/v1/containers/{container-id}/secrets")],
        deprecated_for_removal: false,
    },
    Def {
        name: "container_secret:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:container_project_admin or (rule:container_project_member and rule:container_owner) or (rule:container_project_member and  rule:container_is_not_private))",
        scope_types: PROJECT,
        description: "Remove a secret from a container.",
        operations: &[op("DELETE", "/v1/containers/{container-id}/secrets/{secret-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "orders:get",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Gets list of all orders associated with a project.",
        operations: &[op("GET", "/v1/orders")],
        deprecated_for_removal: false,
    },
    Def {
        name: "orders:post",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Creates an order.",
        operations: &[op("POST", "/v1/orders")],
        deprecated_for_removal: false,
    },
    Def {
        name: "orders:put",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Unsupported method for the orders API.",
        operations: &[op("PUT", "/v1/orders")],
        deprecated_for_removal: false,
    },
    Def {
        name: "order:get",
        check_str: "True:%(enforce_new_defaults)s and rule:order_project_member",
        scope_types: PROJECT,
        description: "Retrieves an orders metadata.",
        operations: &[op("GET", "/v1/orders/{order-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "order:delete",
        check_str: "True:%(enforce_new_defaults)s and rule:order_project_member",
        scope_types: PROJECT,
        description: "Deletes an order.",
        operations: &[op("DELETE", "/v1/orders/{order-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "quotas:get",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "List quotas for the project the user belongs to.",
        operations: &[op("GET", "/v1/quotas")],
        deprecated_for_removal: false,
    },
    Def {
        name: "project_quotas:get",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "List quotas for the specified project.",
        operations: &[op("GET", "/v1/project-quotas"), op("GET", "/v1/project-quotas/{uuid}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "project_quotas:put",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "Create or update the configured project quotas for the project with the specified UUID.",
        operations: &[op("PUT", "/v1/project-quotas/{uuid}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "project_quotas:delete",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "Delete the project quotas configuration for the project with the requested UUID.",
        operations: &[op("DELETE", "/v1/quotas}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_meta:get",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private) or rule:secret_acl_read)",
        scope_types: PROJECT,
        description: "metadata/: Lists a secrets user-defined metadata. || metadata/{key}: Retrieves a secrets user-added metadata.",
        operations: &[op("GET", "/v1/secrets/{secret-id}/metadata"), op("GET", "/v1/secrets/{secret-id}/metadata/{meta-key}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_meta:post",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Adds a new key/value pair to the secrets user-defined metadata.",
        operations: &[op("POST", "/v1/secrets/{secret-id}/metadata/{meta-key}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_meta:put",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "metadata/: Sets the user-defined metadata for a secret || metadata/{key}: Updates an existing key/value pair in the secrets user-defined metadata.",
        operations: &[op("PUT", "/v1/secrets/{secret-id}/metadata"), op("PUT", "/v1/secrets/{secret-id}/metadata/{meta-key}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret_meta:delete",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Delete secret user-defined metadata by key.",
        operations: &[op("DELETE", "/v1/secrets/{secret-id}/metadata/{meta-key}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret:decrypt",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private) or rule:secret_acl_read)",
        scope_types: PROJECT,
        description: "Retrieve a secrets payload.",
        operations: &[op("GET", "/v1/secrets/{uuid}/payload")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret:get",
        check_str: "True:%(enforce_new_defaults)s and (role:admin or rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private) or rule:secret_acl_read)",
        scope_types: PROJECT,
        description: "Retrieves a secrets metadata.",
        operations: &[op("GET", "/v1/secrets/{secret-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret:put",
        check_str: "True:%(enforce_new_defaults)s and (rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Add the payload to an existing metadata-only secret.",
        operations: &[op("PUT", "/v1/secrets/{secret-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secret:delete",
        check_str: "True:%(enforce_new_defaults)s and (role:admin or rule:secret_project_admin or (rule:secret_project_member and rule:secret_owner) or (rule:secret_project_member and rule:secret_is_not_private))",
        scope_types: PROJECT,
        description: "Delete a secret by uuid.",
        operations: &[op("DELETE", "/v1/secrets/{secret-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secrets:post",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Creates a Secret entity.",
        operations: &[op("POST", "/v1/secrets")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secrets:get",
        check_str: "True:%(enforce_new_defaults)s and role:member",
        scope_types: PROJECT,
        description: "Lists a projects secrets.",
        operations: &[op("GET", "/v1/secrets")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secretstores:get",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "Get list of available secret store backends.",
        operations: &[op("GET", "/v1/secret-stores")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secretstores:get_global_default",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "Get a reference to the secret store that is used as default secret store backend for the deployment.",
        operations: &[op("GET", "/v1/secret-stores/global-default")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secretstores:get_preferred",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "Get a reference to the preferred secret store if assigned previously.",
        operations: &[op("GET", "/v1/secret-stores/preferred")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secretstore_preferred:post",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "Set a secret store backend to be preferred store backend for their project.",
        operations: &[op("POST", "/v1/secret-stores/{ss-id}/preferred")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secretstore_preferred:delete",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "Remove preferred secret store backend setting for their project.",
        operations: &[op("DELETE", "/v1/secret-stores/{ss-id}/preferred")],
        deprecated_for_removal: false,
    },
    Def {
        name: "secretstore:get",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "Get details of secret store by its ID.",
        operations: &[op("GET", "/v1/secret-stores/{ss-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "transport_key:get",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "Get a specific transport key.",
        operations: &[op("GET", "/v1/transport_keys/{key-id}}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "transport_key:delete",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "Delete a specific transport key.",
        operations: &[op("DELETE", "/v1/transport_keys/{key-id}")],
        deprecated_for_removal: false,
    },
    Def {
        name: "transport_keys:get",
        check_str: "True:%(enforce_new_defaults)s and role:reader",
        scope_types: PROJECT,
        description: "Get a list of all transport keys.",
        operations: &[op("GET", "/v1/transport_keys")],
        deprecated_for_removal: false,
    },
    Def {
        name: "transport_keys:post",
        check_str: "True:%(enforce_new_defaults)s and role:admin",
        scope_types: PROJECT,
        description: "Create a new transport key.",
        operations: &[op("POST", "/v1/transport_keys")],
        deprecated_for_removal: false,
    },
];

#[cfg(test)]
mod tests {
    use crate::Enforcer;
    use serde_json::{json, Value};

    fn enforcer() -> Enforcer {
        Enforcer::new(super::super::key_manager()).expect("no duplicate names")
    }

    fn creds(user: &str, project: &str, roles: &[&str]) -> Value {
        json!({"user_id": user, "project_id": project, "roles": roles})
    }

    fn secret(project: &str, creator: &str, acl_read: bool, project_access: bool) -> Value {
        let mut t = json!({
            "enforce_new_defaults": true,
            "target.secret.project_id": project,
            "target.secret.creator_id": creator,
            "target.secret.read_project_access": project_access,
        });
        if acl_read {
            t["target.secret.read"] = json!("read");
        }
        t
    }

    #[test]
    fn defaults_parse_and_reference_defined_rules() {
        for d in super::super::key_manager() {
            let parsed = crate::parser::parse_rule(&d.check_str);
            assert!(parsed.issues.is_empty(), "{}: {:?}", d.name, parsed.issues);
        }
        assert_eq!(enforcer().validate(), vec![]);
    }

    #[test]
    fn secret_rules_follow_project_owner_and_acl() {
        let e = enforcer();
        let member = creds("alice", "p1", &["member", "reader"]);
        let other_member = creds("bob", "p1", &["member", "reader"]);
        let reader = creds("rita", "p1", &["reader"]);
        let outsider = creds("eve", "p2", &["member", "reader"]);
        let admin = creds("root", "p1", &["admin", "member", "reader"]);
        let open = secret("p1", "alice", false, true);
        let private = secret("p1", "alice", false, false);
        let yes = |rule: &str, t: &Value, c: &Value| e.enforce(rule, t, c).ok() == Some(true);
        assert!(yes("secret:decrypt", &open, &member));
        assert!(yes("secret:decrypt", &open, &other_member));
        assert!(!yes("secret:decrypt", &private, &other_member));
        assert!(yes("secret:decrypt", &private, &member));
        assert!(!yes("secret:decrypt", &open, &reader));
        assert!(!yes("secret:decrypt", &open, &outsider));
        assert!(yes(
            "secret:decrypt",
            &secret("p1", "alice", true, true),
            &outsider
        ));
        assert!(yes("secret:delete", &private, &admin));
        assert!(yes(
            "secrets:post",
            &json!({"enforce_new_defaults": true}),
            &member
        ));
        assert!(!yes(
            "secrets:post",
            &json!({"enforce_new_defaults": true}),
            &reader
        ));
        // Without `enforce_new_defaults` in the target the new rules never match.
        assert!(!yes(
            "secret:decrypt",
            &json!({"target.secret.project_id": "p1"}),
            &member
        ));
    }
}
