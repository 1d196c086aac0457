//! Every SQL statement of the block storage service: a typed document store over the
//! `objects` table (see `schema`). Callers serialise read-modify-write sequences with
//! the service's write lock; each `put` is one upsert.

use rustack_common::Error;
use rustack_db::{db_internal, Db};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::Row;

/// The kinds of document stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A volume.
    Volume,
    /// A snapshot.
    Snapshot,
    /// An attachment.
    Attachment,
    /// A volume type (with its extra specs, access list and encryption spec).
    VolumeType,
    /// A project's quota overrides.
    Quota,
    /// A quota class's limits.
    QuotaClass,
    /// A QoS spec.
    Qos,
    /// A service record (`cinder-scheduler`, `cinder-volume`).
    Service,
    /// A project's default volume type (3.62).
    DefaultType,
    /// A user message (3.3).
    Message,
    /// A volume transfer.
    Transfer,
    /// A backup.
    Backup,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Volume => "volume",
            Kind::Snapshot => "snapshot",
            Kind::Attachment => "attachment",
            Kind::VolumeType => "volume_type",
            Kind::Quota => "quota",
            Kind::QuotaClass => "quota_class",
            Kind::Qos => "qos",
            Kind::Service => "service",
            Kind::DefaultType => "default_type",
            Kind::Message => "message",
            Kind::Transfer => "transfer",
            Kind::Backup => "backup",
        }
    }
}

/// The datastore.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

fn decode<T: DeserializeOwned>(kind: Kind, doc: &str) -> Result<T, Error> {
    serde_json::from_str(doc)
        .map_err(|e| Error::internal(format!("corrupt {} document: {e}", kind.as_str())))
}

impl Store {
    /// A store over `db` (already migrated).
    pub fn new(db: Db) -> Store {
        Store { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The document `id` of `kind`, if any.
    pub async fn get<T: DeserializeOwned>(&self, kind: Kind, id: &str) -> Result<Option<T>, Error> {
        let row = sqlx::query("SELECT doc FROM objects WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_internal)?;
        match row {
            Some(r) => {
                let doc: String = r.try_get("doc").map_err(db_internal)?;
                Ok(Some(decode(kind, &doc)?))
            }
            None => Ok(None),
        }
    }

    /// Every document of `kind` (of `project` when given), oldest write first.
    pub async fn list<T: DeserializeOwned>(
        &self,
        kind: Kind,
        project: Option<&str>,
    ) -> Result<Vec<T>, Error> {
        let rows = match project {
            Some(p) => {
                sqlx::query(
                    "SELECT doc FROM objects WHERE kind = $1 AND project_id = $2 ORDER BY id",
                )
                .bind(kind.as_str())
                .bind(p)
                .fetch_all(self.db.pool())
                .await
            }
            None => {
                sqlx::query("SELECT doc FROM objects WHERE kind = $1 ORDER BY id")
                    .bind(kind.as_str())
                    .fetch_all(self.db.pool())
                    .await
            }
        }
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| {
                let doc: String = r.try_get("doc").map_err(db_internal)?;
                decode(kind, &doc)
            })
            .collect()
    }

    /// Inserts or replaces document `id` of `kind`.
    pub async fn put<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        project: &str,
        doc: &T,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(doc)
            .map_err(|e| Error::internal(format!("encoding {}: {e}", kind.as_str())))?;
        sqlx::query(
            "INSERT INTO objects (kind, id, project_id, updated_at, doc) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, id) DO UPDATE SET project_id = $3, updated_at = $4, doc = $5",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(project)
        .bind(chrono::Utc::now().to_rfc3339())
        .bind(text)
        .execute(self.db.pool())
        .await
        .map_err(db_internal)?;
        Ok(())
    }

    /// Removes document `id` of `kind`; true if it existed.
    pub async fn delete(&self, kind: Kind, id: &str) -> Result<bool, Error> {
        let r = sqlx::query("DELETE FROM objects WHERE kind = $1 AND id = $2")
            .bind(kind.as_str())
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }
}
