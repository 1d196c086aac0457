//! The identity database schema: embedded, numbered migrations in the portable SQL subset
//! `rustack-db` documents. Domains and projects are separate tables (Keystone keeps
//! domains as projects with `is_domain`; the API shape is the same). Migration 2 adds the
//! extensions' tables: security compliance (password history, lockout state), OS-TRUST
//! trusts, application credential access rules (per user, shared by the
//! user's application credentials), policies (+ OS-ENDPOINT-POLICY associations), OAuth1 consumers,
//! OS-EP-FILTER endpoint groups and project associations, and domain configs.

use rustack_db::Migration;

/// Every identity migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "identity_initial",
        sql: r#"
CREATE TABLE domain (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    tags TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE project (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domain(id),
    parent_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL DEFAULT 1,
    tags TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_user (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domain(id),
    enabled BIGINT NOT NULL DEFAULT 1,
    password_hash TEXT,
    default_project_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    UNIQUE (domain_id, name)
);
CREATE TABLE identity_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL REFERENCES domain(id),
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
);
CREATE TABLE user_group_membership (
    user_id TEXT NOT NULL REFERENCES identity_user(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES identity_group(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE TABLE role (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (name, domain_id)
);
CREATE TABLE implied_role (
    prior_role_id TEXT NOT NULL REFERENCES role(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES role(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);
CREATE TABLE assignment (
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES role(id) ON DELETE CASCADE,
    inherited BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited)
);
CREATE INDEX assignment_target ON assignment (target_type, target_id);
CREATE TABLE region (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE service (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE endpoint (
    id TEXT PRIMARY KEY,
    interface TEXT NOT NULL,
    service_id TEXT NOT NULL REFERENCES service(id),
    region_id TEXT,
    url TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE application_credential (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES identity_user(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    description TEXT,
    expires_at TEXT,
    unrestricted BIGINT NOT NULL DEFAULT 0,
    roles TEXT NOT NULL DEFAULT '[]',
    access_rules TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE credential (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES identity_user(id) ON DELETE CASCADE,
    project_id TEXT,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE revocation_event (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    project_id TEXT,
    domain_id TEXT,
    audit_id TEXT,
    issued_before TEXT NOT NULL,
    revoked_at TEXT NOT NULL
);
"#,
    },
    Migration {
        version: 2,
        name: "identity_extensions",
        sql: r#"
CREATE TABLE policy (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE policy_association (
    policy_id TEXT NOT NULL REFERENCES policy(id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL DEFAULT '',
    service_id TEXT NOT NULL DEFAULT '',
    region_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint_id, service_id, region_id)
);
CREATE TABLE oauth1_consumer (
    id TEXT PRIMARY KEY,
    description TEXT,
    secret TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE endpoint_group (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    filters TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE project_endpoint_group (
    endpoint_group_id TEXT NOT NULL REFERENCES endpoint_group(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (endpoint_group_id, project_id)
);
CREATE TABLE project_endpoint (
    endpoint_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, project_id)
);
CREATE TABLE access_rule (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    service TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL
);
CREATE INDEX access_rule_user ON access_rule (user_id);
CREATE TABLE trust (
    id TEXT PRIMARY KEY,
    trustor_user_id TEXT NOT NULL,
    trustee_user_id TEXT NOT NULL,
    project_id TEXT,
    impersonation BIGINT NOT NULL DEFAULT 0,
    expires_at TEXT,
    remaining_uses BIGINT,
    roles TEXT NOT NULL DEFAULT '[]',
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE password_history (
    user_id TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id);
CREATE TABLE user_lockout (
    user_id TEXT PRIMARY KEY,
    failed_auth_count BIGINT NOT NULL DEFAULT 0,
    failed_auth_at TEXT
);
CREATE TABLE domain_config (
    domain_id TEXT NOT NULL,
    grp TEXT NOT NULL,
    opt TEXT NOT NULL,
    value TEXT NOT NULL,
    sensitive BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (domain_id, grp, opt)
);
"#,
    },
];
