//! Flavors, their extra specs and project access (`flavors`, `flavor_extra_specs`,
//! `flavor_projects`). Flavors are few; callers filter, sort and page in memory.

use std::collections::BTreeMap;

use rustack_common::Error;
use rustack_db::{b, db_internal, get_bool};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::WriteError;

/// A flavor row.
#[derive(Clone, Debug, PartialEq)]
pub struct FlavorRow {
    /// The API id (nova's `flavorid`).
    pub flavorid: String,
    /// Creation order (nova's integer `id`).
    pub internal_id: i64,
    /// Unique name.
    pub name: String,
    /// RAM in MB.
    pub memory_mb: i64,
    /// vCPUs.
    pub vcpus: i64,
    /// Root disk GB.
    pub root_gb: i64,
    /// Ephemeral disk GB.
    pub ephemeral_gb: i64,
    /// Swap MB.
    pub swap: i64,
    /// Deprecated network rate factor.
    pub rxtx_factor: f64,
    /// Visible to every project.
    pub is_public: bool,
    /// Disabled flavors are hidden from non-admins.
    pub disabled: bool,
    /// Free text (2.55).
    pub description: Option<String>,
    /// Creation time.
    pub created_at: String,
}

const COLS: &str = "flavorid, internal_id, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at";

fn row(r: &AnyRow) -> Result<FlavorRow, sqlx::Error> {
    Ok(FlavorRow {
        flavorid: r.try_get("flavorid")?,
        internal_id: r.try_get("internal_id")?,
        name: r.try_get("name")?,
        memory_mb: r.try_get("memory_mb")?,
        vcpus: r.try_get("vcpus")?,
        root_gb: r.try_get("root_gb")?,
        ephemeral_gb: r.try_get("ephemeral_gb")?,
        swap: r.try_get("swap")?,
        rxtx_factor: r
            .try_get::<String, _>("rxtx_factor")?
            .parse()
            .unwrap_or(1.0),
        is_public: get_bool(r, "is_public")?,
        disabled: get_bool(r, "disabled")?,
        description: r.try_get("description")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Every flavor, in creation order.
pub async fn list(c: &mut AnyConnection) -> Result<Vec<FlavorRow>, Error> {
    let rows = sqlx::query(&format!("SELECT {COLS} FROM flavors ORDER BY internal_id"))
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(row)
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// One flavor by API id.
pub async fn get(c: &mut AnyConnection, flavorid: &str) -> Result<Option<FlavorRow>, Error> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM flavors WHERE flavorid = $1"))
        .bind(flavorid)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    r.as_ref().map(row).transpose().map_err(db_internal)
}

/// One flavor by name.
pub async fn get_by_name(c: &mut AnyConnection, name: &str) -> Result<Option<FlavorRow>, Error> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM flavors WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    r.as_ref().map(row).transpose().map_err(db_internal)
}

/// Inserts a flavor; its `internal_id` is assigned here (max + 1).
pub async fn insert(c: &mut AnyConnection, f: &FlavorRow) -> Result<i64, WriteError> {
    let next: i64 = sqlx::query("SELECT COALESCE(MAX(internal_id), 0) + 1 AS n FROM flavors")
        .fetch_one(&mut *c)
        .await
        .and_then(|r| r.try_get("n"))?;
    sqlx::query(
        "INSERT INTO flavors (flavorid, internal_id, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&f.flavorid)
    .bind(next)
    .bind(&f.name)
    .bind(f.memory_mb)
    .bind(f.vcpus)
    .bind(f.root_gb)
    .bind(f.ephemeral_gb)
    .bind(f.swap)
    .bind(f.rxtx_factor.to_string())
    .bind(b(f.is_public))
    .bind(b(f.disabled))
    .bind(&f.description)
    .bind(&f.created_at)
    .execute(&mut *c)
    .await?;
    Ok(next)
}

/// Sets a flavor's description; false if it does not exist.
pub async fn set_description(
    c: &mut AnyConnection,
    flavorid: &str,
    description: Option<&str>,
    now: &str,
) -> Result<bool, Error> {
    let r = sqlx::query("UPDATE flavors SET description = $1, updated_at = $2 WHERE flavorid = $3")
        .bind(description)
        .bind(now)
        .bind(flavorid)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a flavor with its extra specs and access list; false if it did not exist.
pub async fn delete(c: &mut AnyConnection, flavorid: &str) -> Result<bool, Error> {
    for sql in [
        "DELETE FROM flavor_extra_specs WHERE flavorid = $1",
        "DELETE FROM flavor_projects WHERE flavorid = $1",
    ] {
        sqlx::query(sql)
            .bind(flavorid)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
    }
    let r = sqlx::query("DELETE FROM flavors WHERE flavorid = $1")
        .bind(flavorid)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// A flavor's extra specs.
pub async fn extra_specs(
    c: &mut AnyConnection,
    flavorid: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let rows = sqlx::query("SELECT key, value FROM flavor_extra_specs WHERE flavorid = $1")
        .bind(flavorid)
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_internal)
}

/// Creates or replaces extra specs.
pub async fn set_extra_specs(
    c: &mut AnyConnection,
    flavorid: &str,
    specs: &BTreeMap<String, String>,
) -> Result<(), Error> {
    for (k, v) in specs {
        sqlx::query(
            "INSERT INTO flavor_extra_specs (flavorid, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (flavorid, key) DO UPDATE SET value = excluded.value",
        )
        .bind(flavorid)
        .bind(k)
        .bind(v)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    }
    Ok(())
}

/// Deletes one extra spec; false if it did not exist.
pub async fn delete_extra_spec(
    c: &mut AnyConnection,
    flavorid: &str,
    key: &str,
) -> Result<bool, Error> {
    let r = sqlx::query("DELETE FROM flavor_extra_specs WHERE flavorid = $1 AND key = $2")
        .bind(flavorid)
        .bind(key)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// Projects with access to a private flavor.
pub async fn projects(c: &mut AnyConnection, flavorid: &str) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT project_id FROM flavor_projects WHERE flavorid = $1 ORDER BY project_id",
    )
    .bind(flavorid)
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| r.try_get("project_id"))
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// Every (flavor, project) access pair.
pub async fn all_access(c: &mut AnyConnection) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::query("SELECT flavorid, project_id FROM flavor_projects")
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| Ok((r.try_get("flavorid")?, r.try_get("project_id")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_internal)
}

/// Grants a project access.
pub async fn add_project(
    c: &mut AnyConnection,
    flavorid: &str,
    project_id: &str,
) -> Result<(), WriteError> {
    sqlx::query("INSERT INTO flavor_projects (flavorid, project_id) VALUES ($1, $2)")
        .bind(flavorid)
        .bind(project_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Revokes a project's access; false if it had none.
pub async fn remove_project(
    c: &mut AnyConnection,
    flavorid: &str,
    project_id: &str,
) -> Result<bool, Error> {
    let r = sqlx::query("DELETE FROM flavor_projects WHERE flavorid = $1 AND project_id = $2")
        .bind(flavorid)
        .bind(project_id)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}
