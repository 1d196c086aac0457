//! The compute service's schema.
//!
//! Migration versions are split between the engineers working on this crate so their
//! migrations never collide: versions 1..=9 belong to the core (flavors, keypairs,
//! quotas, server groups, services, compute nodes, aggregates), versions 10..=19 to the
//! servers work (instances, actions, build steps...). Keep each range's migrations in
//! version order inside [`MIGRATIONS`]; the list is sorted before use.
//!
//! Portable SQL only (TEXT/BIGINT, `$n` placeholders; see `rustack-db`). Booleans are
//! BIGINT 0/1, timestamps ISO-8601 TEXT, JSON TEXT.

use rustack_db::Migration;

/// Core tables (versions 1..=9).
const CORE: &[Migration] = &[Migration {
    version: 1,
    name: "compute_core",
    sql: r#"
CREATE TABLE flavors (flavorid TEXT PRIMARY KEY, internal_id BIGINT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, memory_mb BIGINT NOT NULL, vcpus BIGINT NOT NULL, root_gb BIGINT NOT NULL, ephemeral_gb BIGINT NOT NULL, swap BIGINT NOT NULL, rxtx_factor TEXT NOT NULL, is_public BIGINT NOT NULL, disabled BIGINT NOT NULL, description TEXT, created_at TEXT NOT NULL, updated_at TEXT);
CREATE TABLE flavor_extra_specs (flavorid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (flavorid, key));
CREATE TABLE flavor_projects (flavorid TEXT NOT NULL, project_id TEXT NOT NULL, PRIMARY KEY (flavorid, project_id));
CREATE TABLE key_pairs (id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, public_key TEXT NOT NULL, fingerprint TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (user_id, name));
CREATE TABLE quotas (project_id TEXT NOT NULL, user_id TEXT NOT NULL, resource TEXT NOT NULL, hard_limit BIGINT NOT NULL, PRIMARY KEY (project_id, user_id, resource));
CREATE TABLE quota_classes (class_name TEXT NOT NULL, resource TEXT NOT NULL, hard_limit BIGINT NOT NULL, PRIMARY KEY (class_name, resource));
CREATE TABLE server_groups (id TEXT PRIMARY KEY, internal_id BIGINT NOT NULL UNIQUE, name TEXT NOT NULL, project_id TEXT NOT NULL, user_id TEXT NOT NULL, policy TEXT NOT NULL, rules TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX server_groups_project ON server_groups (project_id);
CREATE TABLE server_group_members (group_id TEXT NOT NULL, instance_uuid TEXT NOT NULL, PRIMARY KEY (group_id, instance_uuid));
CREATE INDEX server_group_members_instance ON server_group_members (instance_uuid);
CREATE TABLE services (id BIGINT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, host TEXT NOT NULL, binary_name TEXT NOT NULL, topic TEXT NOT NULL, disabled BIGINT NOT NULL, disabled_reason TEXT, forced_down BIGINT NOT NULL, last_seen_up TEXT, created_at TEXT NOT NULL, updated_at TEXT, UNIQUE (host, binary_name));
CREATE TABLE compute_nodes (id BIGINT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, service_id BIGINT NOT NULL, host TEXT NOT NULL, hypervisor_hostname TEXT NOT NULL UNIQUE, hypervisor_type TEXT NOT NULL, hypervisor_version BIGINT NOT NULL, host_ip TEXT NOT NULL, cpu_info TEXT NOT NULL, vcpus BIGINT NOT NULL, memory_mb BIGINT NOT NULL, local_gb BIGINT NOT NULL, vcpus_used BIGINT NOT NULL, memory_mb_used BIGINT NOT NULL, local_gb_used BIGINT NOT NULL, running_vms BIGINT NOT NULL, cpu_allocation_ratio TEXT NOT NULL, ram_allocation_ratio TEXT NOT NULL, disk_allocation_ratio TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT);
CREATE TABLE aggregates (id BIGINT PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, updated_at TEXT);
CREATE TABLE aggregate_hosts (aggregate_id BIGINT NOT NULL, host TEXT NOT NULL, PRIMARY KEY (aggregate_id, host));
CREATE TABLE aggregate_metadata (aggregate_id BIGINT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (aggregate_id, key));
"#,
}];

/// Servers tables (versions 10..=19), owned by the servers work.
const SERVERS: &[Migration] = crate::servers::store::MIGRATIONS;
const MOVES: &[Migration] = crate::servers::ops::MIGRATIONS;
/// Block device mappings (versions 30..=39), owned by the volumes work.
const VOLUMES: &[Migration] = crate::volumes::store::MIGRATIONS;

/// Every migration, in version order.
pub fn migrations() -> Vec<Migration> {
    let mut all: Vec<Migration> = CORE
        .iter()
        .chain(SERVERS)
        .chain(MOVES)
        .chain(VOLUMES)
        .copied()
        .collect();
    all.sort_by_key(|m| m.version);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_respected() {
        assert!(CORE.iter().all(|m| (1..=9).contains(&m.version)));
        assert!(SERVERS.iter().all(|m| (10..=19).contains(&m.version)));
        assert!(MOVES.iter().all(|m| (20..=29).contains(&m.version)));
        assert!(VOLUMES.iter().all(|m| (30..=39).contains(&m.version)));
    }

    #[tokio::test]
    async fn migrations_give_expected_schema() {
        let dir = tempfile::tempdir().expect("dir");
        let url = rustack_db::fresh_test_url(dir.path(), "computeschema")
            .await
            .expect("url");
        let db = rustack_db::Db::connect(&url).await.expect("db");
        db.migrate(&migrations()).await.expect("migrate");
        let tables = db.tables().await.expect("tables");
        for t in [
            "aggregate_hosts",
            "aggregate_metadata",
            "aggregates",
            "block_device_mappings",
            "compute_nodes",
            "flavor_extra_specs",
            "flavor_projects",
            "flavors",
            "key_pairs",
            "quota_classes",
            "quotas",
            "server_group_members",
            "server_groups",
            "services",
        ] {
            assert!(tables.iter().any(|x| x == t), "{t} missing from {tables:?}");
        }
        // Idempotent.
        db.migrate(&migrations()).await.expect("again");
    }
}
