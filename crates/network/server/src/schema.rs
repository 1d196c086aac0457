//! The network service's schema: one table per resource with the resource document as
//! JSON in `body` (the API representation minus derived fields) plus the columns queries
//! and uniqueness rules need. `revision_number` is Neutron's per-resource generation:
//! every write bumps it, so a host agent can reconcile by comparing revisions.
//!
//! Uniqueness that must hold under concurrency is enforced by the database:
//! `ip_allocations` (one address per subnet), `ports (network_id, mac_address)`,
//! `security_groups.default_for` (one `default` group per project),
//! `security_group_rules.fingerprint` (no duplicate rules) and `segments` (one VNI or
//! flat physical network per network). Metering labels and their rules (`metering`) are
//! documents like the rest; a label's rules go with it.

use rustack_db::Migration;

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "network_initial",
        sql: r#"
CREATE TABLE networks (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE segments (network_type TEXT NOT NULL, physical_network TEXT NOT NULL, segmentation_id BIGINT NOT NULL, network_id TEXT NOT NULL, PRIMARY KEY (network_type, physical_network, segmentation_id));
CREATE TABLE subnets (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, network_id TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX subnets_network_id ON subnets (network_id);
CREATE TABLE ports (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, network_id TEXT NOT NULL, device_id TEXT NOT NULL, device_owner TEXT NOT NULL, mac_address TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX ports_network_mac ON ports (network_id, mac_address);
CREATE INDEX ports_device_id ON ports (device_id);
CREATE TABLE ip_allocations (subnet_id TEXT NOT NULL, ip_address TEXT NOT NULL, network_id TEXT NOT NULL, port_id TEXT NOT NULL, PRIMARY KEY (subnet_id, ip_address));
CREATE INDEX ip_allocations_port_id ON ip_allocations (port_id);
CREATE TABLE routers (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE floatingips (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, floating_network_id TEXT NOT NULL, port_id TEXT, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE security_groups (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, default_for TEXT UNIQUE, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE security_group_rules (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, security_group_id TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX security_group_rules_sg ON security_group_rules (security_group_id);
CREATE TABLE subnetpools (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE quotas (project_id TEXT NOT NULL, resource TEXT NOT NULL, hard_limit BIGINT NOT NULL, PRIMARY KEY (project_id, resource));
"#,
    },
    Migration {
        version: 2,
        name: "network_agents",
        sql: r#"
CREATE TABLE agents (id TEXT PRIMARY KEY, agent_type TEXT NOT NULL, host TEXT NOT NULL, body TEXT NOT NULL, UNIQUE (agent_type, host));
"#,
    },
    Migration {
        version: 3,
        name: "network_metering",
        sql: r#"
CREATE TABLE metering_labels (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE metering_label_rules (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, metering_label_id TEXT NOT NULL, revision_number BIGINT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX metering_label_rules_label ON metering_label_rules (metering_label_id);
"#,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrations_give_expected_schema() {
        let dir = tempfile::tempdir().expect("dir");
        let url = rustack_db::fresh_test_url(dir.path(), "netschema")
            .await
            .expect("url");
        let db = rustack_db::Db::connect(&url).await.expect("db");
        db.migrate(MIGRATIONS).await.expect("migrate");
        let tables = db.tables().await.expect("tables");
        for t in [
            "agents",
            "floatingips",
            "ip_allocations",
            "metering_label_rules",
            "metering_labels",
            "networks",
            "ports",
            "quotas",
            "routers",
            "security_group_rules",
            "security_groups",
            "segments",
            "subnetpools",
            "subnets",
        ] {
            assert!(tables.iter().any(|x| x == t), "{t} missing: {tables:?}");
        }
        assert_eq!(
            db.columns("ip_allocations").await.expect("cols"),
            vec!["ip_address", "network_id", "port_id", "subnet_id"]
        );
        db.close().await;
    }
}
