//! Every SQL statement of the network service. Resources are stored as JSON documents
//! with a few indexed columns (see `schema`); the functions here take a connection (a
//! pool connection or an open transaction) so the app layer decides transaction bounds.
//! Callers check policy before calling (the app layer does, per request).

use rustack_common::Error;
use rustack_db::{db_internal, is_unique_violation};
use serde_json::Value;
use sqlx::{AnyConnection, Row};

/// A resource table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `networks`.
    Networks,
    /// `subnets`.
    Subnets,
    /// `ports`.
    Ports,
    /// `routers`.
    Routers,
    /// `floatingips`.
    FloatingIps,
    /// `security_groups`.
    SecurityGroups,
    /// `security_group_rules`.
    SecurityGroupRules,
    /// `subnetpools`.
    SubnetPools,
    /// `metering_labels`.
    MeteringLabels,
    /// `metering_label_rules`.
    MeteringLabelRules,
}

impl Table {
    /// The table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Networks => "networks",
            Table::Subnets => "subnets",
            Table::Ports => "ports",
            Table::Routers => "routers",
            Table::FloatingIps => "floatingips",
            Table::SecurityGroups => "security_groups",
            Table::SecurityGroupRules => "security_group_rules",
            Table::SubnetPools => "subnetpools",
            Table::MeteringLabels => "metering_labels",
            Table::MeteringLabelRules => "metering_label_rules",
        }
    }

    /// Columns copied from the document on every write (string attributes).
    fn doc_columns(self) -> &'static [&'static str] {
        match self {
            Table::Subnets => &["network_id"],
            Table::Ports => &["network_id", "device_id", "device_owner", "mac_address"],
            Table::FloatingIps => &["floating_network_id", "port_id"],
            Table::SecurityGroupRules => &["security_group_id"],
            Table::MeteringLabelRules => &["metering_label_id"],
            _ => &[],
        }
    }
}

/// A write failed on a uniqueness rule (the caller maps it to the right 409).
#[derive(Debug)]
pub enum WriteError {
    /// A UNIQUE/PRIMARY KEY constraint fired.
    Duplicate,
    /// Anything else.
    Other(Error),
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Duplicate => Error::conflict("The resource already exists."),
            WriteError::Other(e) => e,
        }
    }
}

fn write_err(e: sqlx::Error) -> WriteError {
    if is_unique_violation(&e) {
        WriteError::Duplicate
    } else {
        WriteError::Other(db_internal(e))
    }
}

fn parse(body: &str) -> Result<Value, Error> {
    serde_json::from_str(body).map_err(|e| Error::internal(format!("stored document: {e}")))
}

fn col_value(doc: &Value, col: &str) -> Option<String> {
    match doc.get(col) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Inserts `doc` (which carries `id`, `project_id`, `revision_number`, `created_at`,
/// `updated_at`); `extra` sets columns that are not document attributes.
pub async fn insert(
    conn: &mut AnyConnection,
    table: Table,
    doc: &Value,
    extra: &[(&str, Option<String>)],
) -> Result<(), WriteError> {
    let mut cols = vec![
        "id",
        "project_id",
        "revision_number",
        "body",
        "created_at",
        "updated_at",
    ];
    let mut vals: Vec<Option<String>> = vec![
        col_value(doc, "id"),
        Some(col_value(doc, "project_id").unwrap_or_default()),
    ];
    let doc_cols = table.doc_columns();
    cols.extend(doc_cols.iter().copied());
    cols.extend(extra.iter().map(|(c, _)| *c));
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        table.name(),
        cols.join(", "),
        placeholders.join(", ")
    );
    let rev = doc
        .get("revision_number")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut q = sqlx::query(&sql)
        .bind(vals.remove(0))
        .bind(vals.remove(0))
        .bind(rev)
        .bind(doc.to_string())
        .bind(col_value(doc, "created_at").unwrap_or_default())
        .bind(col_value(doc, "updated_at").unwrap_or_default());
    for c in doc_cols {
        let v = col_value(doc, c);
        // NOT NULL string columns of ports default to "" as neutron's do.
        let v = if table == Table::Ports {
            Some(v.unwrap_or_default())
        } else {
            v
        };
        q = q.bind(v);
    }
    for (_, v) in extra {
        q = q.bind(v.clone());
    }
    q.execute(&mut *conn).await.map_err(write_err)?;
    Ok(())
}

/// Replaces the stored document of `doc["id"]` (its revision and columns with it).
pub async fn update(conn: &mut AnyConnection, table: Table, doc: &Value) -> Result<(), WriteError> {
    let doc_cols = table.doc_columns();
    let mut sets = vec![
        "revision_number = $1".to_string(),
        "body = $2".to_string(),
        "updated_at = $3".to_string(),
        "project_id = $4".to_string(),
    ];
    for (i, c) in doc_cols.iter().enumerate() {
        sets.push(format!("{c} = ${}", i + 5));
    }
    let sql = format!(
        "UPDATE {} SET {} WHERE id = ${}",
        table.name(),
        sets.join(", "),
        doc_cols.len() + 5
    );
    let mut q = sqlx::query(&sql)
        .bind(
            doc.get("revision_number")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        )
        .bind(doc.to_string())
        .bind(col_value(doc, "updated_at").unwrap_or_default())
        .bind(col_value(doc, "project_id").unwrap_or_default());
    for c in doc_cols {
        let v = col_value(doc, c);
        let v = if table == Table::Ports {
            Some(v.unwrap_or_default())
        } else {
            v
        };
        q = q.bind(v);
    }
    q = q.bind(col_value(doc, "id"));
    q.execute(&mut *conn).await.map_err(write_err)?;
    Ok(())
}

/// One document by id.
pub async fn get(conn: &mut AnyConnection, table: Table, id: &str) -> Result<Option<Value>, Error> {
    let sql = format!("SELECT body FROM {} WHERE id = $1", table.name());
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_internal)?;
    match row {
        Some(r) => Ok(Some(parse(
            &r.try_get::<String, _>("body").map_err(db_internal)?,
        )?)),
        None => Ok(None),
    }
}

/// Every document, or those whose column `col` equals `value`.
pub async fn list(
    conn: &mut AnyConnection,
    table: Table,
    filter: Option<(&str, &str)>,
) -> Result<Vec<Value>, Error> {
    let rows = match filter {
        Some((col, value)) => {
            let sql = format!(
                "SELECT body FROM {} WHERE {col} = $1 ORDER BY created_at, id",
                table.name()
            );
            sqlx::query(&sql)
                .bind(value.to_owned())
                .fetch_all(&mut *conn)
                .await
        }
        None => {
            let sql = format!("SELECT body FROM {} ORDER BY created_at, id", table.name());
            sqlx::query(&sql).fetch_all(&mut *conn).await
        }
    }
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>("body").map_err(db_internal)?))
        .collect()
}

/// Deletes one row; true if it existed.
pub async fn delete(conn: &mut AnyConnection, table: Table, id: &str) -> Result<bool, Error> {
    let sql = format!("DELETE FROM {} WHERE id = $1", table.name());
    let r = sqlx::query(&sql)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// The number of rows of `table` owned by `project_id` (quota usage).
pub async fn count_owned(
    conn: &mut AnyConnection,
    table: Table,
    project_id: &str,
) -> Result<i64, Error> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE project_id = $1",
        table.name()
    );
    sqlx::query(&sql)
        .bind(project_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .map_err(db_internal)
}

/// The addresses allocated in `subnet_id`.
pub async fn allocated_ips(
    conn: &mut AnyConnection,
    subnet_id: &str,
) -> Result<Vec<String>, Error> {
    let rows = sqlx::query("SELECT ip_address FROM ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("ip_address").map_err(db_internal))
        .collect()
}

/// The port holding `ip` in `subnet_id`, if any.
pub async fn ip_owner(
    conn: &mut AnyConnection,
    subnet_id: &str,
    ip: &str,
) -> Result<Option<String>, Error> {
    let row =
        sqlx::query("SELECT port_id FROM ip_allocations WHERE subnet_id = $1 AND ip_address = $2")
            .bind(subnet_id)
            .bind(ip)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_internal)?;
    row.map(|r| r.try_get::<String, _>("port_id").map_err(db_internal))
        .transpose()
}

/// Records an allocation; [`WriteError::Duplicate`] if the address is taken.
pub async fn allocate_ip(
    conn: &mut AnyConnection,
    subnet_id: &str,
    ip: &str,
    network_id: &str,
    port_id: &str,
) -> Result<(), WriteError> {
    sqlx::query(
        "INSERT INTO ip_allocations (subnet_id, ip_address, network_id, port_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(subnet_id)
    .bind(ip)
    .bind(network_id)
    .bind(port_id)
    .execute(&mut *conn)
    .await
    .map_err(write_err)?;
    Ok(())
}

/// Releases every address of `port_id`.
pub async fn release_port_ips(conn: &mut AnyConnection, port_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM ip_allocations WHERE port_id = $1")
        .bind(port_id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// How many addresses of `subnet_id` are allocated.
pub async fn count_subnet_allocations(
    conn: &mut AnyConnection,
    subnet_id: &str,
) -> Result<i64, Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id)
        .fetch_one(&mut *conn)
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .map_err(db_internal)
}

/// Reserves a segment (VNI, or a flat physical network with id 0).
pub async fn insert_segment(
    conn: &mut AnyConnection,
    network_type: &str,
    physical_network: &str,
    segmentation_id: i64,
    network_id: &str,
) -> Result<(), WriteError> {
    sqlx::query(
        "INSERT INTO segments (network_type, physical_network, segmentation_id, network_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(network_type)
    .bind(physical_network)
    .bind(segmentation_id)
    .bind(network_id)
    .execute(&mut *conn)
    .await
    .map_err(write_err)?;
    Ok(())
}

/// The segmentation ids of `network_type` in use.
pub async fn used_segments(
    conn: &mut AnyConnection,
    network_type: &str,
) -> Result<Vec<i64>, Error> {
    let rows = sqlx::query("SELECT segmentation_id FROM segments WHERE network_type = $1")
        .bind(network_type)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>("segmentation_id").map_err(db_internal))
        .collect()
}

/// Frees the segments of `network_id`.
pub async fn delete_segments(conn: &mut AnyConnection, network_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM segments WHERE network_id = $1")
        .bind(network_id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// The id of `project_id`'s default security group, if created.
pub async fn default_sg(
    conn: &mut AnyConnection,
    project_id: &str,
) -> Result<Option<String>, Error> {
    let row = sqlx::query("SELECT id FROM security_groups WHERE default_for = $1")
        .bind(project_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_internal)?;
    row.map(|r| r.try_get::<String, _>("id").map_err(db_internal))
        .transpose()
}

/// The rule with `fingerprint`, if any.
pub async fn rule_by_fingerprint(
    conn: &mut AnyConnection,
    fingerprint: &str,
) -> Result<Option<String>, Error> {
    let row = sqlx::query("SELECT id FROM security_group_rules WHERE fingerprint = $1")
        .bind(fingerprint)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_internal)?;
    row.map(|r| r.try_get::<String, _>("id").map_err(db_internal))
        .transpose()
}

/// Deletes every rule of a group.
pub async fn delete_rules_of(conn: &mut AnyConnection, sg_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM security_group_rules WHERE security_group_id = $1")
        .bind(sg_id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Project quota overrides as `(resource, limit)`.
pub async fn quotas(
    conn: &mut AnyConnection,
    project_id: &str,
) -> Result<Vec<(String, i64)>, Error> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
        .bind(project_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("resource").map_err(db_internal)?,
                r.try_get::<i64, _>("hard_limit").map_err(db_internal)?,
            ))
        })
        .collect()
}

/// Every project with quota overrides.
pub async fn quota_projects(conn: &mut AnyConnection) -> Result<Vec<String>, Error> {
    let rows = sqlx::query("SELECT DISTINCT project_id FROM quotas ORDER BY project_id")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("project_id").map_err(db_internal))
        .collect()
}

/// Sets one quota override.
pub async fn set_quota(
    conn: &mut AnyConnection,
    project_id: &str,
    resource: &str,
    limit: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = $3",
    )
    .bind(project_id)
    .bind(resource)
    .bind(limit)
    .execute(&mut *conn)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Drops a project's overrides.
pub async fn delete_quotas(conn: &mut AnyConnection, project_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM quotas WHERE project_id = $1")
        .bind(project_id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Releases every address of `subnet_id`.
pub async fn release_subnet_ips(conn: &mut AnyConnection, subnet_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Releases one address.
pub async fn release_ip(conn: &mut AnyConnection, subnet_id: &str, ip: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM ip_allocations WHERE subnet_id = $1 AND ip_address = $2")
        .bind(subnet_id)
        .bind(ip)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// The agent registered as (`agent_type`, `host`), if any.
pub async fn agent_by_host(
    conn: &mut AnyConnection,
    agent_type: &str,
    host: &str,
) -> Result<Option<Value>, Error> {
    let row = sqlx::query("SELECT body FROM agents WHERE agent_type = $1 AND host = $2")
        .bind(agent_type)
        .bind(host)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_internal)?;
    row.map(|r| parse(&r.try_get::<String, _>("body").map_err(db_internal)?))
        .transpose()
}

/// Inserts an agent document (`id`, `agent_type`, `host`).
pub async fn agent_insert(conn: &mut AnyConnection, doc: &Value) -> Result<(), WriteError> {
    sqlx::query("INSERT INTO agents (id, agent_type, host, body) VALUES ($1, $2, $3, $4)")
        .bind(col_value(doc, "id"))
        .bind(col_value(doc, "agent_type"))
        .bind(col_value(doc, "host"))
        .bind(doc.to_string())
        .execute(&mut *conn)
        .await
        .map_err(write_err)?;
    Ok(())
}

/// Replaces an agent document (by `id`).
pub async fn agent_update(conn: &mut AnyConnection, doc: &Value) -> Result<(), Error> {
    sqlx::query("UPDATE agents SET body = $1 WHERE id = $2")
        .bind(doc.to_string())
        .bind(col_value(doc, "id"))
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Every agent, by host.
pub async fn agent_list(conn: &mut AnyConnection) -> Result<Vec<Value>, Error> {
    let rows = sqlx::query("SELECT body FROM agents ORDER BY host, agent_type")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>("body").map_err(db_internal)?))
        .collect()
}

/// Deletes an agent; true if it existed.
pub async fn agent_delete(conn: &mut AnyConnection, id: &str) -> Result<bool, Error> {
    let r = sqlx::query("DELETE FROM agents WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}
