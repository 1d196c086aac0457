//! Quota limits: per project (`user_id` = ''), per user within a project, and per
//! quota class (`default`).

use std::collections::BTreeMap;

use rustack_common::Error;
use rustack_db::db_internal;
use sqlx::{AnyConnection, Row};

/// The limits set for a project (`user_id` None) or one of its users.
pub async fn limits(
    c: &mut AnyConnection,
    project_id: &str,
    user_id: Option<&str>,
) -> Result<BTreeMap<String, i64>, Error> {
    let rows = sqlx::query(
        "SELECT resource, hard_limit FROM quotas WHERE project_id = $1 AND user_id = $2",
    )
    .bind(project_id)
    .bind(user_id.unwrap_or(""))
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_internal)
}

/// Sets one limit.
pub async fn set(
    c: &mut AnyConnection,
    project_id: &str,
    user_id: Option<&str>,
    resource: &str,
    limit: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO quotas (project_id, user_id, resource, hard_limit) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (project_id, user_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
    )
    .bind(project_id)
    .bind(user_id.unwrap_or(""))
    .bind(resource)
    .bind(limit)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Removes a project's limits (and its users' ones), or one user's.
pub async fn delete(
    c: &mut AnyConnection,
    project_id: &str,
    user_id: Option<&str>,
) -> Result<(), Error> {
    let q = match user_id {
        Some(u) => sqlx::query("DELETE FROM quotas WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(u.to_owned()),
        None => sqlx::query("DELETE FROM quotas WHERE project_id = $1").bind(project_id),
    };
    q.execute(&mut *c).await.map_err(db_internal)?;
    Ok(())
}

/// The limits of a quota class.
pub async fn class_limits(
    c: &mut AnyConnection,
    class: &str,
) -> Result<BTreeMap<String, i64>, Error> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM quota_classes WHERE class_name = $1")
        .bind(class)
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(db_internal)
}

/// Sets one class limit.
pub async fn class_set(
    c: &mut AnyConnection,
    class: &str,
    resource: &str,
    limit: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3) \
         ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
    )
    .bind(class)
    .bind(resource)
    .bind(limit)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}
