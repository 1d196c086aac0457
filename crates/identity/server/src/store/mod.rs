//! The identity datastore: every SQL statement of the identity service lives here, one
//! file per table group. Methods return API errors ([`rustack_common::Error`]) with
//! Keystone's messages for not-found and duplicates; policy is checked by the caller
//! before a method runs.

pub mod app_cred;
pub mod assignment;
pub mod catalog;
pub mod domain_config;
pub mod ep_filter;
pub mod identity;
pub mod policy;
pub mod resource;
pub mod revoke;
pub mod security;
pub mod trust;

use rustack_common::Error;
use rustack_db::{db_internal, Db, DbRow};
use serde_json::{Map, Value};
use sqlx::Row;

/// The identity service's datastore.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Wraps a migrated database.
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    /// The underlying database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        self.db.pool()
    }

    /// Runs `statements`, each bound to `id` as `$1`, in one transaction (the cascading
    /// deletes: all or nothing).
    pub(crate) async fn exec_in_tx(&self, statements: &[&str], id: &str) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        for sql in statements {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_internal)?;
        }
        tx.commit().await.map_err(db_internal)
    }
}

/// Reads a TEXT column.
pub(crate) fn s(row: &DbRow, col: &str) -> Result<String, Error> {
    row.try_get::<String, _>(col).map_err(db_internal)
}

/// Reads a nullable TEXT column.
pub(crate) fn os(row: &DbRow, col: &str) -> Result<Option<String>, Error> {
    row.try_get::<Option<String>, _>(col).map_err(db_internal)
}

/// Reads a BIGINT 0/1 column.
pub(crate) fn bo(row: &DbRow, col: &str) -> Result<bool, Error> {
    rustack_db::get_bool(row, col).map_err(db_internal)
}

/// Reads a TEXT column holding a JSON object.
pub(crate) fn obj(row: &DbRow, col: &str) -> Result<Map<String, Value>, Error> {
    let text = s(row, col)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// Reads a TEXT column holding a JSON array of strings.
pub(crate) fn strs(row: &DbRow, col: &str) -> Result<Vec<String>, Error> {
    let text = s(row, col)?;
    Ok(serde_json::from_str::<Vec<String>>(&text).unwrap_or_default())
}

/// Reads a TEXT column holding any JSON value.
pub(crate) fn json_col(row: &DbRow, col: &str) -> Result<Value, Error> {
    let text = s(row, col)?;
    Ok(serde_json::from_str::<Value>(&text).unwrap_or(Value::Null))
}

/// The current time as stored.
pub(crate) fn now_text() -> String {
    rustack_common::time::isotime_micro(chrono::Utc::now())
}
