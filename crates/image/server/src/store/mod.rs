//! The image datastore: every SQL statement of the image service lives here, one file
//! per table group (`image`, `member`, `task`, `metadef`). Methods return API errors with
//! Glance's messages for duplicates; visibility and policy are decided by the caller
//! (`crate::access`) before a method runs, except for listing, whose visibility rules
//! are part of the query (Glance's `_select_images_query`).

pub mod image;
pub mod member;
pub mod metadef;
pub mod task;

use rustack_common::Error;
use rustack_db::{db_internal, Db, DbRow};
use sqlx::Row;

pub use image::{ImageRecord, ListFilter, ListScope};
pub use member::MemberRecord;
pub use task::TaskRecord;

/// The image service's datastore.
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
}

/// Reads a TEXT column.
pub(crate) fn s(row: &DbRow, col: &str) -> Result<String, Error> {
    row.try_get::<String, _>(col).map_err(db_internal)
}

/// Reads a nullable TEXT column.
pub(crate) fn os(row: &DbRow, col: &str) -> Result<Option<String>, Error> {
    row.try_get::<Option<String>, _>(col).map_err(db_internal)
}

/// Reads a BIGINT column.
pub(crate) fn i(row: &DbRow, col: &str) -> Result<i64, Error> {
    row.try_get::<i64, _>(col).map_err(db_internal)
}

/// Reads a nullable BIGINT column.
pub(crate) fn oi(row: &DbRow, col: &str) -> Result<Option<i64>, Error> {
    row.try_get::<Option<i64>, _>(col).map_err(db_internal)
}

/// The current time as stored (microseconds, sorts chronologically).
pub fn now_text() -> String {
    rustack_common::time::isotime_micro(chrono::Utc::now())
}
