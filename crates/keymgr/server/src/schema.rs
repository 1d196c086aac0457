//! The key manager database schema: embedded, numbered, portable migrations (TEXT and
//! BIGINT only; see `rustack-db`), laid out like Barbican's model: `project_keks`
//! holds each project's KEK wrapped by the master KEK (`kek_data.plugin_meta`),
//! `encrypted_data` each secret's ciphertext under its project's KEK. Secret rows are
//! soft deleted (`deleted = 1`) as Barbican does; their ciphertext, metadata,
//! consumers and ACLs are removed for good.

use rustack_db::Migration;

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "keymgr_initial",
    sql: "
CREATE TABLE project_keks (
    project_id TEXT PRIMARY KEY,
    plugin_meta TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    bit_length BIGINT NOT NULL,
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE secrets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    name TEXT,
    secret_type TEXT NOT NULL,
    algorithm TEXT,
    bit_length BIGINT,
    mode TEXT,
    expiration TEXT,
    content_type TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted BIGINT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX secrets_project ON secrets (project_id, deleted);
CREATE TABLE encrypted_data (
    secret_id TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    cypher_text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE secret_metadata (
    secret_id TEXT NOT NULL,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (secret_id, meta_key)
);
CREATE TABLE secret_consumers (
    id TEXT PRIMARY KEY,
    secret_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    service TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (secret_id, resource_id)
);
CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    name TEXT,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX containers_project ON containers (project_id);
CREATE TABLE container_secrets (
    container_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    UNIQUE (container_id, name, secret_id)
);
CREATE TABLE container_consumers (
    id TEXT PRIMARY KEY,
    container_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (container_id, name, url)
);
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    creator_id TEXT NOT NULL,
    type TEXT NOT NULL,
    meta TEXT NOT NULL,
    status TEXT NOT NULL,
    secret_id TEXT,
    container_id TEXT,
    error_status_code TEXT,
    error_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX orders_project ON orders (project_id);
CREATE TABLE acls (
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    project_access BIGINT NOT NULL,
    users TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, operation)
);
CREATE TABLE project_quotas (
    project_id TEXT PRIMARY KEY,
    secrets BIGINT,
    orders BIGINT,
    containers BIGINT,
    consumers BIGINT,
    cas BIGINT,
    created_at TEXT NOT NULL
);
",
}];
