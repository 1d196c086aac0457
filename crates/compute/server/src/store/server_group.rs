//! Server groups (`server_groups`) and their members (`server_group_members`).

use rustack_common::Error;
use rustack_db::db_internal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::WriteError;

/// A server group row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerGroupRow {
    /// UUID.
    pub id: String,
    /// Creation order.
    pub internal_id: i64,
    /// Name (not unique).
    pub name: String,
    /// Owner project.
    pub project_id: String,
    /// Creator.
    pub user_id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// Rules as a JSON object (`{"max_server_per_host": 2}`).
    pub rules: String,
    /// Creation time.
    pub created_at: String,
}

const COLS: &str = "id, internal_id, name, project_id, user_id, policy, rules, created_at";

fn row(r: &AnyRow) -> Result<ServerGroupRow, sqlx::Error> {
    Ok(ServerGroupRow {
        id: r.try_get("id")?,
        internal_id: r.try_get("internal_id")?,
        name: r.try_get("name")?,
        project_id: r.try_get("project_id")?,
        user_id: r.try_get("user_id")?,
        policy: r.try_get("policy")?,
        rules: r.try_get("rules")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Groups of a project (all projects with `None`), in creation order.
pub async fn list(
    c: &mut AnyConnection,
    project_id: Option<&str>,
) -> Result<Vec<ServerGroupRow>, Error> {
    let rows = match project_id {
        Some(p) => {
            sqlx::query(&format!(
                "SELECT {COLS} FROM server_groups WHERE project_id = $1 ORDER BY internal_id"
            ))
            .bind(p.to_owned())
            .fetch_all(&mut *c)
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLS} FROM server_groups ORDER BY internal_id"
            ))
            .fetch_all(&mut *c)
            .await
        }
    }
    .map_err(db_internal)?;
    rows.iter()
        .map(row)
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// One group.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<ServerGroupRow>, Error> {
    let r = sqlx::query(&format!("SELECT {COLS} FROM server_groups WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    r.as_ref().map(row).transpose().map_err(db_internal)
}

/// How many groups a project (or one of its users) owns.
pub async fn count(
    c: &mut AnyConnection,
    project_id: &str,
    user_id: Option<&str>,
) -> Result<i64, Error> {
    let q = match user_id {
        Some(u) => sqlx::query(
            "SELECT COUNT(*) AS n FROM server_groups WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(u.to_owned()),
        None => sqlx::query("SELECT COUNT(*) AS n FROM server_groups WHERE project_id = $1")
            .bind(project_id),
    };
    q.fetch_one(&mut *c)
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(db_internal)
}

/// Inserts a group, assigning its internal id (max + 1; retried when a concurrent
/// insert took it). Outside a transaction.
pub async fn insert(c: &mut AnyConnection, g: &ServerGroupRow) -> Result<i64, WriteError> {
    let mut attempts = 0;
    loop {
        let next: i64 =
            sqlx::query("SELECT COALESCE(MAX(internal_id), 0) + 1 AS n FROM server_groups")
                .fetch_one(&mut *c)
                .await
                .and_then(|r| r.try_get("n"))?;
        let r = sqlx::query(
            "INSERT INTO server_groups (id, internal_id, name, project_id, user_id, policy, rules, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&g.id)
        .bind(next)
        .bind(&g.name)
        .bind(&g.project_id)
        .bind(&g.user_id)
        .bind(&g.policy)
        .bind(&g.rules)
        .bind(&g.created_at)
        .execute(&mut *c)
        .await;
        match r.map_err(WriteError::from) {
            Ok(_) => return Ok(next),
            Err(WriteError::Duplicate) if attempts < 10 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Deletes a group and its membership rows; false if it did not exist.
pub async fn delete(c: &mut AnyConnection, id: &str) -> Result<bool, Error> {
    sqlx::query("DELETE FROM server_group_members WHERE group_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    let r = sqlx::query("DELETE FROM server_groups WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// Members of a group.
pub async fn members(c: &mut AnyConnection, id: &str) -> Result<Vec<String>, Error> {
    let rows = sqlx::query(
        "SELECT instance_uuid FROM server_group_members WHERE group_id = $1 ORDER BY instance_uuid",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| r.try_get("instance_uuid"))
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// Adds a member (idempotent).
pub async fn add_member(c: &mut AnyConnection, id: &str, instance: &str) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO server_group_members (group_id, instance_uuid) VALUES ($1, $2) \
         ON CONFLICT (group_id, instance_uuid) DO NOTHING",
    )
    .bind(id)
    .bind(instance)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Removes an instance from every group.
pub async fn remove_member(c: &mut AnyConnection, instance: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM server_group_members WHERE instance_uuid = $1")
        .bind(instance)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// The group an instance belongs to.
pub async fn group_of(c: &mut AnyConnection, instance: &str) -> Result<Option<String>, Error> {
    let r = sqlx::query("SELECT group_id FROM server_group_members WHERE instance_uuid = $1")
        .bind(instance)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    r.map(|r| r.try_get("group_id"))
        .transpose()
        .map_err(db_internal)
}
