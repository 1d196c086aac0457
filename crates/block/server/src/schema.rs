//! The block storage database schema: embedded, numbered, portable migrations.
//!
//! Every resource (volume, snapshot, attachment, volume type, quota set...) is one row
//! of `objects`: its kind, id, owning project, last update time and the resource as a
//! JSON document (the `model` module's types). The service is small (hundreds of rows
//! per project), filters in memory, and serialises writes in the service (see
//! `BlockService::write_lock`), so a document store keeps every status transition a
//! single-row write that is persisted before and after each backend step.

use rustack_db::Migration;

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "block_initial",
    sql: "
CREATE TABLE objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX objects_project ON objects (kind, project_id);
",
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_give_the_expected_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = rustack_db::fresh_test_url(dir.path(), "block_schema")
            .await
            .expect("url");
        let db = rustack_db::Db::connect(&url).await.expect("connect");
        assert_eq!(db.migrate(MIGRATIONS).await.expect("migrate"), 1);
        assert_eq!(db.migrate(MIGRATIONS).await.expect("again"), 1);
        assert_eq!(
            db.tables().await.expect("tables"),
            ["objects", "schema_migrations"]
        );
        assert_eq!(
            db.columns("objects").await.expect("cols"),
            ["doc", "id", "kind", "project_id", "updated_at"]
        );
        db.close().await;
    }
}
