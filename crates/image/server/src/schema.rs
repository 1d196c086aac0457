//! The image service's embedded migrations (portable SQL: TEXT and BIGINT only,
//! booleans as 0/1, timestamps as ISO-8601 text that sorts chronologically).
//!
//! `images.generation` is bumped by every metadata write (PATCH, tags) so that two
//! concurrent metadata updates cannot silently overwrite each other; data-path status
//! transitions are compare-and-set on `status` instead.

use rustack_db::Migration;

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "images",
        sql: "CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    owner TEXT,
    disk_format TEXT,
    container_format TEXT,
    size BIGINT,
    virtual_size BIGINT,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    min_disk BIGINT NOT NULL,
    min_ram BIGINT NOT NULL,
    protected BIGINT NOT NULL,
    os_hidden BIGINT NOT NULL,
    location TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted BIGINT NOT NULL,
    deleted_at TEXT,
    generation BIGINT NOT NULL
);
CREATE INDEX images_owner_idx ON images (owner);
CREATE INDEX images_status_idx ON images (status);
CREATE TABLE image_properties (
    image_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, name)
);
CREATE TABLE image_tags (
    image_id TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
);
CREATE TABLE image_members (
    image_id TEXT NOT NULL,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member_idx ON image_members (member);
CREATE TABLE image_tasks (
    id TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    user_id TEXT,
    request_id TEXT,
    input TEXT NOT NULL,
    result TEXT,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX image_tasks_image_idx ON image_tasks (image_id);
",
    },
    Migration {
        version: 2,
        name: "metadefs",
        sql: "CREATE TABLE metadef_namespaces (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL UNIQUE,
    display_name TEXT,
    description TEXT,
    visibility TEXT NOT NULL,
    protected BIGINT NOT NULL,
    owner TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE metadef_resource_types (
    name TEXT PRIMARY KEY,
    protected BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE metadef_namespace_resource_types (
    namespace_id TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    prefix TEXT,
    properties_target TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace_id, resource_type)
);
CREATE TABLE metadef_objects (
    namespace_id TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace_id, name)
);
CREATE TABLE metadef_properties (
    namespace_id TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace_id, name)
);
CREATE TABLE metadef_tags (
    namespace_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace_id, name)
);
",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_give_the_expected_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = rustack_db::fresh_test_url(dir.path(), "image_schema")
            .await
            .expect("url");
        let db = rustack_db::Db::connect(&url).await.expect("connect");
        db.migrate(MIGRATIONS).await.expect("migrate");
        let mut tables = db.tables().await.expect("tables");
        tables.retain(|t| t != "schema_migrations");
        assert_eq!(
            tables,
            vec![
                "image_members",
                "image_properties",
                "image_tags",
                "image_tasks",
                "images",
                "metadef_namespace_resource_types",
                "metadef_namespaces",
                "metadef_objects",
                "metadef_properties",
                "metadef_resource_types",
                "metadef_tags",
            ]
        );
        assert_eq!(
            db.columns("image_members").await.expect("cols"),
            vec!["created_at", "image_id", "member", "status", "updated_at"]
        );
        assert_eq!(db.columns("images").await.expect("cols").len(), 22);
        db.close().await;
    }
}
