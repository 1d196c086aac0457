//! Services (`services`) and compute nodes (`compute_nodes`): what the compute host
//! registers at start and refreshes periodically, read by `os-services`,
//! `os-hypervisors`, `os-availability-zone` and the scheduler.

use rustack_common::Error;
use rustack_db::{db_internal, get_bool};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A service row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRow {
    /// Integer id (ids before 2.53).
    pub id: i64,
    /// UUID (ids from 2.53).
    pub uuid: String,
    /// Host name.
    pub host: String,
    /// `nova-compute`, `nova-scheduler`, `nova-conductor`.
    pub binary: String,
    /// `compute`, `scheduler`, `conductor`.
    pub topic: String,
    /// Disabled by an admin.
    pub disabled: bool,
    /// Why.
    pub disabled_reason: Option<String>,
    /// Forced down by an admin (2.11).
    pub forced_down: bool,
    /// Last heartbeat.
    pub last_seen_up: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: Option<String>,
}

const SCOLS: &str = "id, uuid, host, binary_name, topic, disabled, disabled_reason, forced_down, last_seen_up, created_at, updated_at";

fn srow(r: &AnyRow) -> Result<ServiceRow, sqlx::Error> {
    Ok(ServiceRow {
        id: r.try_get("id")?,
        uuid: r.try_get("uuid")?,
        host: r.try_get("host")?,
        binary: r.try_get("binary_name")?,
        topic: r.try_get("topic")?,
        disabled: get_bool(r, "disabled")?,
        disabled_reason: r.try_get("disabled_reason")?,
        forced_down: get_bool(r, "forced_down")?,
        last_seen_up: r.try_get("last_seen_up")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Every service by id.
pub async fn services(c: &mut AnyConnection) -> Result<Vec<ServiceRow>, Error> {
    let rows = sqlx::query(&format!("SELECT {SCOLS} FROM services ORDER BY id"))
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(srow)
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// Registers (host, binary) if new and records a heartbeat; returns the row.
pub async fn service_heartbeat(
    c: &mut AnyConnection,
    host: &str,
    binary: &str,
    topic: &str,
    now: &str,
) -> Result<ServiceRow, Error> {
    let existing = sqlx::query(&format!(
        "SELECT {SCOLS} FROM services WHERE host = $1 AND binary_name = $2"
    ))
    .bind(host)
    .bind(binary)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_internal)?;
    if existing.is_none() {
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM services")
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_internal)?;
        sqlx::query(
            "INSERT INTO services (id, uuid, host, binary_name, topic, disabled, disabled_reason, forced_down, last_seen_up, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, NULL, 0, $6, $6, $6) ON CONFLICT (host, binary_name) DO NOTHING",
        )
        .bind(next)
        .bind(rustack_common::new_uuid())
        .bind(host)
        .bind(binary)
        .bind(topic)
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    } else {
        sqlx::query("UPDATE services SET last_seen_up = $1 WHERE host = $2 AND binary_name = $3")
            .bind(now)
            .bind(host)
            .bind(binary)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
    }
    let r = sqlx::query(&format!(
        "SELECT {SCOLS} FROM services WHERE host = $1 AND binary_name = $2"
    ))
    .bind(host)
    .bind(binary)
    .fetch_one(&mut *c)
    .await
    .map_err(db_internal)?;
    srow(&r).map_err(db_internal)
}

/// Sets the admin state of a service; false if it does not exist.
pub async fn service_set(
    c: &mut AnyConnection,
    id: i64,
    disabled: bool,
    reason: Option<&str>,
    forced_down: bool,
    now: &str,
) -> Result<bool, Error> {
    let r = sqlx::query(
        "UPDATE services SET disabled = $1, disabled_reason = $2, forced_down = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(rustack_db::b(disabled))
    .bind(reason)
    .bind(rustack_db::b(forced_down))
    .bind(now)
    .bind(id)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a service and its compute node.
pub async fn service_delete(c: &mut AnyConnection, id: i64) -> Result<bool, Error> {
    sqlx::query("DELETE FROM compute_nodes WHERE service_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    let r = sqlx::query("DELETE FROM services WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// A compute node row.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeRow {
    /// Integer id.
    pub id: i64,
    /// UUID (= the Placement resource provider's).
    pub uuid: String,
    /// Its nova-compute service.
    pub service_id: i64,
    /// Host name.
    pub host: String,
    /// Hypervisor hostname.
    pub hypervisor_hostname: String,
    /// `QEMU`.
    pub hypervisor_type: String,
    /// Encoded version.
    pub hypervisor_version: i64,
    /// Host IP.
    pub host_ip: String,
    /// JSON CPU description.
    pub cpu_info: String,
    /// Physical vCPUs.
    pub vcpus: i64,
    /// Memory MB.
    pub memory_mb: i64,
    /// Disk GB.
    pub local_gb: i64,
    /// Allocated vCPUs.
    pub vcpus_used: i64,
    /// Allocated memory MB.
    pub memory_mb_used: i64,
    /// Allocated disk GB.
    pub local_gb_used: i64,
    /// Guests on the host.
    pub running_vms: i64,
    /// Last refresh.
    pub updated_at: Option<String>,
}

const NCOLS: &str = "id, uuid, service_id, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, cpu_info, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used, running_vms, updated_at";

fn nrow(r: &AnyRow) -> Result<NodeRow, sqlx::Error> {
    Ok(NodeRow {
        id: r.try_get("id")?,
        uuid: r.try_get("uuid")?,
        service_id: r.try_get("service_id")?,
        host: r.try_get("host")?,
        hypervisor_hostname: r.try_get("hypervisor_hostname")?,
        hypervisor_type: r.try_get("hypervisor_type")?,
        hypervisor_version: r.try_get("hypervisor_version")?,
        host_ip: r.try_get("host_ip")?,
        cpu_info: r.try_get("cpu_info")?,
        vcpus: r.try_get("vcpus")?,
        memory_mb: r.try_get("memory_mb")?,
        local_gb: r.try_get("local_gb")?,
        vcpus_used: r.try_get("vcpus_used")?,
        memory_mb_used: r.try_get("memory_mb_used")?,
        local_gb_used: r.try_get("local_gb_used")?,
        running_vms: r.try_get("running_vms")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Every compute node by id.
pub async fn nodes(c: &mut AnyConnection) -> Result<Vec<NodeRow>, Error> {
    let rows = sqlx::query(&format!("SELECT {NCOLS} FROM compute_nodes ORDER BY id"))
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(nrow)
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// Creates or refreshes the node of `n.hypervisor_hostname` (keeping its id and uuid);
/// returns the stored row.
pub async fn node_upsert(c: &mut AnyConnection, n: &NodeRow, now: &str) -> Result<NodeRow, Error> {
    let existing = sqlx::query("SELECT id FROM compute_nodes WHERE hypervisor_hostname = $1")
        .bind(&n.hypervisor_hostname)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    if existing.is_none() {
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM compute_nodes")
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_internal)?;
        sqlx::query(
            "INSERT INTO compute_nodes (id, uuid, service_id, host, hypervisor_hostname, hypervisor_type, hypervisor_version, host_ip, cpu_info, vcpus, memory_mb, local_gb, vcpus_used, memory_mb_used, local_gb_used, running_vms, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, 0, 0, 0, '', '', '', $13, $13)",
        )
        .bind(next)
        .bind(&n.uuid)
        .bind(n.service_id)
        .bind(&n.host)
        .bind(&n.hypervisor_hostname)
        .bind(&n.hypervisor_type)
        .bind(n.hypervisor_version)
        .bind(&n.host_ip)
        .bind(&n.cpu_info)
        .bind(n.vcpus)
        .bind(n.memory_mb)
        .bind(n.local_gb)
        .bind(now)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    } else {
        sqlx::query(
            "UPDATE compute_nodes SET service_id = $1, host = $2, hypervisor_type = $3, hypervisor_version = $4, host_ip = $5, cpu_info = $6, vcpus = $7, memory_mb = $8, local_gb = $9, updated_at = $10 \
             WHERE hypervisor_hostname = $11",
        )
        .bind(n.service_id)
        .bind(&n.host)
        .bind(&n.hypervisor_type)
        .bind(n.hypervisor_version)
        .bind(&n.host_ip)
        .bind(&n.cpu_info)
        .bind(n.vcpus)
        .bind(n.memory_mb)
        .bind(n.local_gb)
        .bind(now)
        .bind(&n.hypervisor_hostname)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    }
    let r = sqlx::query(&format!(
        "SELECT {NCOLS} FROM compute_nodes WHERE hypervisor_hostname = $1"
    ))
    .bind(&n.hypervisor_hostname)
    .fetch_one(&mut *c)
    .await
    .map_err(db_internal)?;
    nrow(&r).map_err(db_internal)
}

/// Records a node's usage.
pub async fn node_usage(
    c: &mut AnyConnection,
    uuid: &str,
    vcpus_used: i64,
    memory_mb_used: i64,
    local_gb_used: i64,
    running_vms: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE compute_nodes SET vcpus_used = $1, memory_mb_used = $2, local_gb_used = $3, running_vms = $4 WHERE uuid = $5",
    )
    .bind(vcpus_used)
    .bind(memory_mb_used)
    .bind(local_gb_used)
    .bind(running_vms)
    .bind(uuid)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Availability zones of hosts from aggregate metadata: (host, zone).
pub async fn host_zones(c: &mut AnyConnection) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query(
        "SELECT h.host, m.value FROM aggregate_hosts h JOIN aggregate_metadata m ON m.aggregate_id = h.aggregate_id \
         WHERE m.key = 'availability_zone'",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| Ok((r.try_get("host")?, r.try_get("value")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_internal)
}
