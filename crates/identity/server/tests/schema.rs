//! The migrated schema is exactly what the datastore code expects (on SQLite, and on
//! PostgreSQL when `RUSTACK_TEST_POSTGRES_URL` is set).

#![allow(clippy::unwrap_used)]

use rustack_db::Db;
use rustack_identity_server::schema::MIGRATIONS;

const EXPECTED: &[(&str, &[&str])] = &[
    (
        "access_rule",
        &["id", "method", "path", "service", "user_id"],
    ),
    (
        "application_credential",
        &[
            "access_rules",
            "created_at",
            "description",
            "expires_at",
            "id",
            "name",
            "project_id",
            "roles",
            "secret_hash",
            "unrestricted",
            "user_id",
        ],
    ),
    (
        "assignment",
        &[
            "actor_id",
            "actor_type",
            "inherited",
            "role_id",
            "target_id",
            "target_type",
        ],
    ),
    (
        "credential",
        &["blob", "extra", "id", "project_id", "type", "user_id"],
    ),
    (
        "domain",
        &["description", "enabled", "extra", "id", "name", "tags"],
    ),
    (
        "domain_config",
        &["domain_id", "grp", "opt", "sensitive", "value"],
    ),
    (
        "endpoint",
        &[
            "enabled",
            "extra",
            "id",
            "interface",
            "region_id",
            "service_id",
            "url",
        ],
    ),
    ("endpoint_group", &["description", "filters", "id", "name"]),
    (
        "identity_group",
        &["description", "domain_id", "extra", "id", "name"],
    ),
    (
        "identity_user",
        &[
            "created_at",
            "default_project_id",
            "domain_id",
            "enabled",
            "extra",
            "id",
            "name",
            "password_hash",
        ],
    ),
    ("implied_role", &["implied_role_id", "prior_role_id"]),
    ("oauth1_consumer", &["description", "extra", "id", "secret"]),
    (
        "password_history",
        &["created_at", "password_hash", "user_id"],
    ),
    ("policy", &["blob", "extra", "id", "type"]),
    (
        "policy_association",
        &["endpoint_id", "policy_id", "region_id", "service_id"],
    ),
    (
        "project",
        &[
            "description",
            "domain_id",
            "enabled",
            "extra",
            "id",
            "name",
            "parent_id",
            "tags",
        ],
    ),
    ("project_endpoint", &["endpoint_id", "project_id"]),
    (
        "project_endpoint_group",
        &["endpoint_group_id", "project_id"],
    ),
    (
        "region",
        &["description", "extra", "id", "parent_region_id"],
    ),
    (
        "revocation_event",
        &[
            "audit_id",
            "domain_id",
            "id",
            "issued_before",
            "project_id",
            "revoked_at",
            "user_id",
        ],
    ),
    ("role", &["description", "domain_id", "extra", "id", "name"]),
    ("schema_migrations", &["applied_at", "name", "version"]),
    ("service", &["enabled", "extra", "id", "type"]),
    (
        "trust",
        &[
            "expires_at",
            "extra",
            "id",
            "impersonation",
            "project_id",
            "remaining_uses",
            "roles",
            "trustee_user_id",
            "trustor_user_id",
        ],
    ),
    ("user_group_membership", &["group_id", "user_id"]),
    (
        "user_lockout",
        &["failed_auth_at", "failed_auth_count", "user_id"],
    ),
];

#[tokio::test]
async fn migrated_schema_matches_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let url = rustack_db::fresh_test_url(dir.path(), "schema")
        .await
        .unwrap();
    let db = Db::connect(&url).await.unwrap();
    let version = db.migrate(MIGRATIONS).await.unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    // Idempotent.
    assert_eq!(db.migrate(MIGRATIONS).await.unwrap(), version);
    let tables = db.tables().await.unwrap();
    let want: Vec<&str> = EXPECTED.iter().map(|(t, _)| *t).collect();
    assert_eq!(tables, want);
    for (table, cols) in EXPECTED {
        assert_eq!(
            db.columns(table).await.unwrap(),
            *cols,
            "columns of {table}"
        );
    }
    // Migration versions are strictly increasing from 1.
    for (i, m) in MIGRATIONS.iter().enumerate() {
        assert_eq!(m.version, i as i64 + 1);
    }
    db.close().await;
}
