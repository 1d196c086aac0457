//! Host aggregates (`aggregates`, `aggregate_hosts`, `aggregate_metadata`); the
//! availability zone is the `availability_zone` metadata key, as in nova.

use std::collections::BTreeMap;

use rustack_common::Error;
use rustack_db::db_internal;
use sqlx::{AnyConnection, Row};

use super::WriteError;

/// An aggregate with its hosts and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateRow {
    /// Integer id.
    pub id: i64,
    /// UUID (shown from 2.41).
    pub uuid: String,
    /// Unique name.
    pub name: String,
    /// Member hosts.
    pub hosts: Vec<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: Option<String>,
}

async fn fill(
    c: &mut AnyConnection,
    id: i64,
    uuid: String,
    name: String,
    created_at: String,
    updated_at: Option<String>,
) -> Result<AggregateRow, Error> {
    let hosts =
        sqlx::query("SELECT host FROM aggregate_hosts WHERE aggregate_id = $1 ORDER BY host")
            .bind(id)
            .fetch_all(&mut *c)
            .await
            .map_err(db_internal)?
            .iter()
            .map(|r| r.try_get("host"))
            .collect::<Result<_, _>>()
            .map_err(db_internal)?;
    let metadata = sqlx::query("SELECT key, value FROM aggregate_metadata WHERE aggregate_id = $1")
        .bind(id)
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?
        .iter()
        .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_internal)?;
    Ok(AggregateRow {
        id,
        uuid,
        name,
        hosts,
        metadata,
        created_at,
        updated_at,
    })
}

/// Every aggregate by id.
pub async fn list(c: &mut AnyConnection) -> Result<Vec<AggregateRow>, Error> {
    let rows =
        sqlx::query("SELECT id, uuid, name, created_at, updated_at FROM aggregates ORDER BY id")
            .fetch_all(&mut *c)
            .await
            .map_err(db_internal)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(
            fill(
                c,
                r.try_get("id").map_err(db_internal)?,
                r.try_get("uuid").map_err(db_internal)?,
                r.try_get("name").map_err(db_internal)?,
                r.try_get("created_at").map_err(db_internal)?,
                r.try_get("updated_at").map_err(db_internal)?,
            )
            .await?,
        );
    }
    Ok(out)
}

/// One aggregate by integer id or uuid.
pub async fn get(c: &mut AnyConnection, id: &str) -> Result<Option<AggregateRow>, Error> {
    Ok(list(c)
        .await?
        .into_iter()
        .find(|a| a.id.to_string() == id || a.uuid == id))
}

/// Creates an aggregate; returns its id.
pub async fn insert(
    c: &mut AnyConnection,
    uuid: &str,
    name: &str,
    now: &str,
) -> Result<i64, WriteError> {
    let next: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM aggregates")
        .fetch_one(&mut *c)
        .await
        .and_then(|r| r.try_get("n"))?;
    sqlx::query("INSERT INTO aggregates (id, uuid, name, created_at, updated_at) VALUES ($1, $2, $3, $4, NULL)")
        .bind(next)
        .bind(uuid)
        .bind(name)
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(next)
}

/// Renames an aggregate.
pub async fn rename(
    c: &mut AnyConnection,
    id: i64,
    name: &str,
    now: &str,
) -> Result<(), WriteError> {
    sqlx::query("UPDATE aggregates SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Sets (`Some`) or removes (`None`) metadata keys.
pub async fn set_metadata(
    c: &mut AnyConnection,
    id: i64,
    changes: &BTreeMap<String, Option<String>>,
    now: &str,
) -> Result<(), Error> {
    for (k, v) in changes {
        match v {
            Some(v) => sqlx::query(
                "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(id)
            .bind(k)
            .bind(v)
            .execute(&mut *c)
            .await,
            None => {
                sqlx::query("DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
                    .bind(id)
                    .bind(k)
                    .execute(&mut *c)
                    .await
            }
        }
        .map_err(db_internal)?;
    }
    sqlx::query("UPDATE aggregates SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Adds a host.
pub async fn add_host(c: &mut AnyConnection, id: i64, host: &str) -> Result<(), WriteError> {
    sqlx::query("INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)")
        .bind(id)
        .bind(host)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Removes a host; false if it was not a member.
pub async fn remove_host(c: &mut AnyConnection, id: i64, host: &str) -> Result<bool, Error> {
    let r = sqlx::query("DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
        .bind(id)
        .bind(host)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// Deletes an aggregate and its metadata.
pub async fn delete(c: &mut AnyConnection, id: i64) -> Result<(), Error> {
    for sql in [
        "DELETE FROM aggregate_metadata WHERE aggregate_id = $1",
        "DELETE FROM aggregate_hosts WHERE aggregate_id = $1",
        "DELETE FROM aggregates WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
    }
    Ok(())
}
