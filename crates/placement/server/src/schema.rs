//! The placement database schema: embedded, numbered, portable migrations (TEXT and
//! BIGINT only; see `rustack-db`). Standard resource classes and traits live in code,
//! only `CUSTOM_*` ones are rows. A provider's `generation` is the optimistic
//! concurrency token every write to its inventories, traits, aggregates and
//! allocations bumps inside the writing transaction.

use rustack_db::Migration;

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "placement_initial",
    sql: "
CREATE TABLE resource_providers (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    generation BIGINT NOT NULL,
    parent_uuid TEXT,
    root_uuid TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX resource_providers_root ON resource_providers (root_uuid);
CREATE INDEX resource_providers_parent ON resource_providers (parent_uuid);
CREATE TABLE resource_classes (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE TABLE traits (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE inventories (
    provider_uuid TEXT NOT NULL,
    resource_class TEXT NOT NULL,
    total BIGINT NOT NULL,
    reserved BIGINT NOT NULL,
    min_unit BIGINT NOT NULL,
    max_unit BIGINT NOT NULL,
    step_size BIGINT NOT NULL,
    allocation_ratio TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, resource_class)
);
CREATE TABLE provider_traits (
    provider_uuid TEXT NOT NULL,
    trait TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, trait)
);
CREATE INDEX provider_traits_trait ON provider_traits (trait);
CREATE TABLE provider_aggregates (
    provider_uuid TEXT NOT NULL,
    aggregate_uuid TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, aggregate_uuid)
);
CREATE TABLE consumers (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    consumer_type TEXT,
    generation BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX consumers_project ON consumers (project_id, user_id);
CREATE TABLE allocations (
    consumer_uuid TEXT NOT NULL,
    provider_uuid TEXT NOT NULL,
    resource_class TEXT NOT NULL,
    used BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (consumer_uuid, provider_uuid, resource_class)
);
CREATE INDEX allocations_provider ON allocations (provider_uuid, resource_class);
",
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_give_the_expected_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = rustack_db::fresh_test_url(dir.path(), "placement_schema")
            .await
            .expect("url");
        let db = rustack_db::Db::connect(&url).await.expect("connect");
        assert_eq!(db.migrate(MIGRATIONS).await.expect("migrate"), 1);
        assert_eq!(db.migrate(MIGRATIONS).await.expect("again"), 1);
        assert_eq!(
            db.tables().await.expect("tables"),
            [
                "allocations",
                "consumers",
                "inventories",
                "provider_aggregates",
                "provider_traits",
                "resource_classes",
                "resource_providers",
                "schema_migrations",
                "traits",
            ]
        );
        assert_eq!(
            db.columns("resource_providers").await.expect("cols"),
            [
                "created_at",
                "generation",
                "name",
                "parent_uuid",
                "root_uuid",
                "updated_at",
                "uuid"
            ]
        );
        db.close().await;
    }
}
