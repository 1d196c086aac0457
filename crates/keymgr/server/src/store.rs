//! Every SQL statement of the key manager. Methods return `sqlx` errors; handlers map
//! them to Barbican's 500 through [`crate::error::KmError::internal`]. Authorization
//! happens in the handlers before these are called (Barbican loads the entity, then
//! enforces policy against it). Ciphertext only ever enters through [`Store::secret_insert`]
//! and [`Store::secret_put_data`] and leaves through [`Store::encrypted_data`].

use rustack_db::Db;
use sqlx::any::AnyRow;
use sqlx::Row as _;

/// A secret's row (without its ciphertext).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRow {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// The user who created it.
    pub creator_id: String,
    /// Name.
    pub name: Option<String>,
    /// `symmetric`, `opaque`...
    pub secret_type: String,
    /// Algorithm.
    pub algorithm: Option<String>,
    /// Bit length.
    pub bit_length: Option<i64>,
    /// Mode.
    pub mode: Option<String>,
    /// Expiration (ISO 8601, UTC, naive).
    pub expiration: Option<String>,
    /// Normalised content type of the stored payload (None before a two-step PUT).
    pub content_type: Option<String>,
    /// `ACTIVE`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

/// A secret consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerRow {
    /// Service type.
    pub service: String,
    /// Resource type.
    pub resource_type: String,
    /// Resource id.
    pub resource_id: String,
    /// Project that registered it.
    pub project_id: String,
    /// Creation time.
    pub created_at: String,
}

/// A container's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRow {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Creator.
    pub creator_id: String,
    /// Name.
    pub name: Option<String>,
    /// `generic`, `rsa`, `certificate`.
    pub kind: String,
    /// `ACTIVE`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

/// A container consumer (`{name, URL}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerConsumerRow {
    /// Consumer name.
    pub name: String,
    /// Consumer URL.
    pub url: String,
    /// Creation time.
    pub created_at: String,
}

/// An order's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Creator.
    pub creator_id: String,
    /// `key`, `asymmetric`.
    pub kind: String,
    /// The order's `meta` as JSON text.
    pub meta: String,
    /// `PENDING`, `ACTIVE`, `ERROR`.
    pub status: String,
    /// The generated secret (key orders).
    pub secret_id: Option<String>,
    /// The generated container (asymmetric orders).
    pub container_id: Option<String>,
    /// Error status code (ERROR orders).
    pub error_status_code: Option<String>,
    /// Error reason (ERROR orders).
    pub error_reason: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

/// An ACL (one operation, `read`) on a secret or container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclRow {
    /// `project-access`.
    pub project_access: bool,
    /// User ids granted the operation.
    pub users: Vec<String>,
    /// Creation time.
    pub created_at: String,
    /// Update time.
    pub updated_at: String,
}

/// Quota values a project overrides (None = the configured default).
pub type QuotaRow = [Option<i64>; 5];

/// The key manager datastore.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// The current time as Barbican shows it (`isoformat()` of a naive UTC time).
pub fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

const SECRET_COLS: &str = "id, project_id, creator_id, name, secret_type, algorithm, bit_length, mode, expiration, content_type, status, created_at, updated_at";

fn secret_row(r: &AnyRow) -> Result<SecretRow, sqlx::Error> {
    Ok(SecretRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        creator_id: r.try_get("creator_id")?,
        name: r.try_get("name")?,
        secret_type: r.try_get("secret_type")?,
        algorithm: r.try_get("algorithm")?,
        bit_length: r.try_get("bit_length")?,
        mode: r.try_get("mode")?,
        expiration: r.try_get("expiration")?,
        content_type: r.try_get("content_type")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn container_row(r: &AnyRow) -> Result<ContainerRow, sqlx::Error> {
    Ok(ContainerRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        creator_id: r.try_get("creator_id")?,
        name: r.try_get("name")?,
        kind: r.try_get("type")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn order_row(r: &AnyRow) -> Result<OrderRow, sqlx::Error> {
    Ok(OrderRow {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        creator_id: r.try_get("creator_id")?,
        kind: r.try_get("type")?,
        meta: r.try_get("meta")?,
        status: r.try_get("status")?,
        secret_id: r.try_get("secret_id")?,
        container_id: r.try_get("container_id")?,
        error_status_code: r.try_get("error_status_code")?,
        error_reason: r.try_get("error_reason")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// A store over `db`.
    pub fn new(db: Db) -> Store {
        Store { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    // ---- project KEKs ------------------------------------------------------------

    /// The wrapped KEK of `project`, made with `make` (and stored) on first use.
    pub async fn project_kek(
        &self,
        project: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, sqlx::Error> {
        if let Some(r) = sqlx::query("SELECT plugin_meta FROM project_keks WHERE project_id = $1")
            .bind(project)
            .fetch_optional(self.db.pool())
            .await?
        {
            return r.try_get("plugin_meta");
        }
        let meta = make();
        let ins = sqlx::query(
            "INSERT INTO project_keks (project_id, plugin_meta, algorithm, bit_length, mode, created_at) \
             VALUES ($1, $2, 'aes', 128, 'cbc', $3)",
        )
        .bind(project)
        .bind(&meta)
        .bind(now())
        .execute(self.db.pool())
        .await;
        match ins {
            Ok(_) => Ok(meta),
            // Another request created it first: use theirs.
            Err(e) if rustack_db::is_unique_violation(&e) => {
                let r = sqlx::query("SELECT plugin_meta FROM project_keks WHERE project_id = $1")
                    .bind(project)
                    .fetch_one(self.db.pool())
                    .await?;
                r.try_get("plugin_meta")
            }
            Err(e) => Err(e),
        }
    }

    // ---- secrets ---------------------------------------------------------------

    /// Inserts a secret and, if given, its `(content_type, cypher_text)`.
    pub async fn secret_insert(
        &self,
        s: &SecretRow,
        data: Option<(&str, &str)>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(&format!(
            "INSERT INTO secrets ({SECRET_COLS}, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0)"
        ))
        .bind(&s.id)
        .bind(&s.project_id)
        .bind(&s.creator_id)
        .bind(&s.name)
        .bind(&s.secret_type)
        .bind(&s.algorithm)
        .bind(s.bit_length)
        .bind(&s.mode)
        .bind(&s.expiration)
        .bind(&s.content_type)
        .bind(&s.status)
        .bind(&s.created_at)
        .bind(&s.updated_at)
        .execute(&mut *tx)
        .await?;
        if let Some((ct, cypher)) = data {
            sqlx::query(
                "INSERT INTO encrypted_data (secret_id, content_type, cypher_text, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&s.id)
            .bind(ct)
            .bind(cypher)
            .bind(&s.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// A live secret by id.
    pub async fn secret_get(&self, id: &str) -> Result<Option<SecretRow>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {SECRET_COLS} FROM secrets WHERE id = $1 AND deleted = 0"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?
        .map(|r| secret_row(&r))
        .transpose()
    }

    /// A project's live secrets, newest first.
    pub async fn secret_list(&self, project: &str) -> Result<Vec<SecretRow>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {SECRET_COLS} FROM secrets WHERE project_id = $1 AND deleted = 0 ORDER BY created_at DESC, id"
        ))
        .bind(project)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(secret_row)
        .collect()
    }

    /// Live secrets whose read ACL lists `user`, newest first.
    pub async fn secret_list_acl(&self, user: &str) -> Result<Vec<SecretRow>, sqlx::Error> {
        let ids = self.acl_entities_for_user("secret", user).await?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(s) = self.secret_get(&id).await? {
                out.push(s);
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(out)
    }

    /// Live secrets of `project` (for quotas).
    pub async fn secret_count(&self, project: &str) -> Result<i64, sqlx::Error> {
        self.count(
            "SELECT COUNT(*) AS n FROM secrets WHERE project_id = $1 AND deleted = 0",
            project,
        )
        .await
    }

    async fn count(&self, sql: &str, project: &str) -> Result<i64, sqlx::Error> {
        sqlx::query(sql)
            .bind(project)
            .fetch_one(self.db.pool())
            .await?
            .try_get("n")
    }

    /// The stored `(content_type, cypher_text)` of a secret.
    pub async fn encrypted_data(&self, id: &str) -> Result<Option<(String, String)>, sqlx::Error> {
        let r = sqlx::query(
            "SELECT content_type, cypher_text FROM encrypted_data WHERE secret_id = $1",
        )
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        r.map(|r| Ok((r.try_get("content_type")?, r.try_get("cypher_text")?)))
            .transpose()
    }

    /// Stores the payload of a secret made without one; false if it already has one.
    pub async fn secret_put_data(
        &self,
        id: &str,
        content_type: &str,
        cypher: &str,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let at = now();
        let ins = sqlx::query(
            "INSERT INTO encrypted_data (secret_id, content_type, cypher_text, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(content_type)
        .bind(cypher)
        .bind(&at)
        .execute(&mut *tx)
        .await;
        match ins {
            Ok(_) => {}
            Err(e) if rustack_db::is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
        sqlx::query("UPDATE secrets SET content_type = $1, updated_at = $2 WHERE id = $3")
            .bind(content_type)
            .bind(&at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Soft-deletes a secret and removes its ciphertext, metadata, consumers and ACLs.
    pub async fn secret_delete(&self, id: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let at = now();
        sqlx::query(
            "UPDATE secrets SET deleted = 1, deleted_at = $1, status = 'DELETED' WHERE id = $2",
        )
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM encrypted_data WHERE secret_id = $1",
            "DELETE FROM secret_metadata WHERE secret_id = $1",
            "DELETE FROM secret_consumers WHERE secret_id = $1",
            "DELETE FROM container_secrets WHERE secret_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM acls WHERE entity_type = 'secret' AND entity_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    // ---- secret metadata -------------------------------------------------------

    /// A secret's metadata, by key.
    pub async fn metadata(&self, id: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query("SELECT meta_key, meta_value FROM secret_metadata WHERE secret_id = $1 ORDER BY meta_key")
            .bind(id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("meta_key")?, r.try_get("meta_value")?)))
            .collect()
    }

    /// Replaces a secret's metadata.
    pub async fn metadata_replace(
        &self,
        id: &str,
        items: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("DELETE FROM secret_metadata WHERE secret_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (k, v) in items {
            sqlx::query(
                "INSERT INTO secret_metadata (secret_id, meta_key, meta_value) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Adds one metadatum; false if the key exists.
    pub async fn metadatum_insert(&self, id: &str, k: &str, v: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "INSERT INTO secret_metadata (secret_id, meta_key, meta_value) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(k)
        .bind(v)
        .execute(self.db.pool())
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if rustack_db::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Updates one metadatum; false if the key does not exist.
    pub async fn metadatum_update(&self, id: &str, k: &str, v: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "UPDATE secret_metadata SET meta_value = $1 WHERE secret_id = $2 AND meta_key = $3",
        )
        .bind(v)
        .bind(id)
        .bind(k)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Deletes one metadatum; false if the key does not exist.
    pub async fn metadatum_delete(&self, id: &str, k: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("DELETE FROM secret_metadata WHERE secret_id = $1 AND meta_key = $2")
            .bind(id)
            .bind(k)
            .execute(self.db.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    // ---- secret consumers ------------------------------------------------------

    /// A secret's consumers, oldest first.
    pub async fn consumers(&self, id: &str) -> Result<Vec<ConsumerRow>, sqlx::Error> {
        sqlx::query(
            "SELECT service, resource_type, resource_id, project_id, created_at FROM secret_consumers \
             WHERE secret_id = $1 ORDER BY created_at, resource_id",
        )
        .bind(id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(ConsumerRow {
                service: r.try_get("service")?,
                resource_type: r.try_get("resource_type")?,
                resource_id: r.try_get("resource_id")?,
                project_id: r.try_get("project_id")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
    }

    /// Registers a consumer (replacing one with the same resource id, as Barbican's
    /// `create_or_update_from`).
    pub async fn consumer_upsert(
        &self,
        id: &str,
        project: &str,
        c: &ConsumerRow,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("DELETE FROM secret_consumers WHERE secret_id = $1 AND resource_id = $2")
            .bind(id)
            .bind(&c.resource_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO secret_consumers (id, secret_id, project_id, service, resource_type, resource_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(id)
        .bind(project)
        .bind(&c.service)
        .bind(&c.resource_type)
        .bind(&c.resource_id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Removes the consumer with these values; false if absent.
    pub async fn consumer_delete(&self, id: &str, c: &ConsumerRow) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "DELETE FROM secret_consumers WHERE secret_id = $1 AND service = $2 AND resource_type = $3 AND resource_id = $4",
        )
        .bind(id)
        .bind(&c.service)
        .bind(&c.resource_type)
        .bind(&c.resource_id)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Consumers registered by `project` (secret and container ones, for quotas).
    pub async fn consumer_count(&self, project: &str) -> Result<i64, sqlx::Error> {
        let a = self
            .count(
                "SELECT COUNT(*) AS n FROM secret_consumers WHERE project_id = $1",
                project,
            )
            .await?;
        let b = self
            .count(
                "SELECT COUNT(*) AS n FROM container_consumers WHERE project_id = $1",
                project,
            )
            .await?;
        Ok(a + b)
    }

    // ---- containers ------------------------------------------------------------

    /// Inserts a container with its `(name, secret_id)` references.
    pub async fn container_insert(
        &self,
        c: &ContainerRow,
        refs: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO containers (id, project_id, creator_id, name, type, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.id)
        .bind(&c.project_id)
        .bind(&c.creator_id)
        .bind(&c.name)
        .bind(&c.kind)
        .bind(&c.status)
        .bind(&c.created_at)
        .bind(&c.updated_at)
        .execute(&mut *tx)
        .await?;
        for (name, sid) in refs {
            sqlx::query(
                "INSERT INTO container_secrets (container_id, name, secret_id) VALUES ($1, $2, $3)",
            )
            .bind(&c.id)
            .bind(name)
            .bind(sid)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// A container by id.
    pub async fn container_get(&self, id: &str) -> Result<Option<ContainerRow>, sqlx::Error> {
        sqlx::query("SELECT * FROM containers WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| container_row(&r))
            .transpose()
    }

    /// A project's containers, newest first.
    pub async fn container_list(&self, project: &str) -> Result<Vec<ContainerRow>, sqlx::Error> {
        sqlx::query("SELECT * FROM containers WHERE project_id = $1 ORDER BY created_at DESC, id")
            .bind(project)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(container_row)
            .collect()
    }

    /// Containers of `project` (for quotas).
    pub async fn container_count(&self, project: &str) -> Result<i64, sqlx::Error> {
        self.count(
            "SELECT COUNT(*) AS n FROM containers WHERE project_id = $1",
            project,
        )
        .await
    }

    /// A container's `(name, secret_id)` references.
    pub async fn container_secrets(&self, id: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
        sqlx::query("SELECT name, secret_id FROM container_secrets WHERE container_id = $1 ORDER BY name, secret_id")
            .bind(id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("secret_id")?)))
            .collect()
    }

    /// Adds a reference; false if it is already there.
    pub async fn container_secret_add(
        &self,
        id: &str,
        name: &str,
        sid: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "INSERT INTO container_secrets (container_id, name, secret_id) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(name)
        .bind(sid)
        .execute(self.db.pool())
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if rustack_db::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a reference; false if absent.
    pub async fn container_secret_remove(
        &self,
        id: &str,
        name: &str,
        sid: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("DELETE FROM container_secrets WHERE container_id = $1 AND name = $2 AND secret_id = $3")
            .bind(id)
            .bind(name)
            .bind(sid)
            .execute(self.db.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Deletes a container, its references, consumers and ACLs.
    pub async fn container_delete(&self, id: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        for sql in [
            "DELETE FROM containers WHERE id = $1",
            "DELETE FROM container_secrets WHERE container_id = $1",
            "DELETE FROM container_consumers WHERE container_id = $1",
            "DELETE FROM acls WHERE entity_type = 'container' AND entity_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// A container's consumers, oldest first.
    pub async fn container_consumers(
        &self,
        id: &str,
    ) -> Result<Vec<ContainerConsumerRow>, sqlx::Error> {
        sqlx::query("SELECT name, url, created_at FROM container_consumers WHERE container_id = $1 ORDER BY created_at, name")
            .bind(id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| {
                Ok(ContainerConsumerRow {
                    name: r.try_get("name")?,
                    url: r.try_get("url")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Registers a container consumer (idempotent).
    pub async fn container_consumer_add(
        &self,
        id: &str,
        project: &str,
        name: &str,
        url: &str,
    ) -> Result<(), sqlx::Error> {
        let r = sqlx::query(
            "INSERT INTO container_consumers (id, container_id, project_id, name, url, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(id)
        .bind(project)
        .bind(name)
        .bind(url)
        .bind(now())
        .execute(self.db.pool())
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if rustack_db::is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes a container consumer; false if absent.
    pub async fn container_consumer_remove(
        &self,
        id: &str,
        name: &str,
        url: &str,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query(
            "DELETE FROM container_consumers WHERE container_id = $1 AND name = $2 AND url = $3",
        )
        .bind(id)
        .bind(name)
        .bind(url)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    // ---- orders ----------------------------------------------------------------

    /// Inserts an order.
    pub async fn order_insert(&self, o: &OrderRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO orders (id, project_id, creator_id, type, meta, status, secret_id, container_id, \
             error_status_code, error_reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&o.id)
        .bind(&o.project_id)
        .bind(&o.creator_id)
        .bind(&o.kind)
        .bind(&o.meta)
        .bind(&o.status)
        .bind(&o.secret_id)
        .bind(&o.container_id)
        .bind(&o.error_status_code)
        .bind(&o.error_reason)
        .bind(&o.created_at)
        .bind(&o.updated_at)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Records an order's outcome.
    pub async fn order_finish(&self, o: &OrderRow) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE orders SET status = $1, secret_id = $2, container_id = $3, error_status_code = $4, \
             error_reason = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&o.status)
        .bind(&o.secret_id)
        .bind(&o.container_id)
        .bind(&o.error_status_code)
        .bind(&o.error_reason)
        .bind(now())
        .bind(&o.id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// An order by id.
    pub async fn order_get(&self, id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
        sqlx::query("SELECT * FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|r| order_row(&r))
            .transpose()
    }

    /// A project's orders, newest first.
    pub async fn order_list(&self, project: &str) -> Result<Vec<OrderRow>, sqlx::Error> {
        sqlx::query("SELECT * FROM orders WHERE project_id = $1 ORDER BY created_at DESC, id")
            .bind(project)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(order_row)
            .collect()
    }

    /// Orders of `project` (for quotas).
    pub async fn order_count(&self, project: &str) -> Result<i64, sqlx::Error> {
        self.count(
            "SELECT COUNT(*) AS n FROM orders WHERE project_id = $1",
            project,
        )
        .await
    }

    /// Deletes an order.
    pub async fn order_delete(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM orders WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    // ---- ACLs ------------------------------------------------------------------

    /// The read ACL of a `secret` or `container`.
    pub async fn acl_get(&self, kind: &str, id: &str) -> Result<Option<AclRow>, sqlx::Error> {
        let r = sqlx::query(
            "SELECT project_access, users, created_at, updated_at FROM acls \
             WHERE entity_type = $1 AND entity_id = $2 AND operation = 'read'",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(self.db.pool())
        .await?;
        r.map(|r| {
            let users: String = r.try_get("users")?;
            Ok(AclRow {
                project_access: rustack_db::get_bool(&r, "project_access")?,
                users: serde_json::from_str(&users).unwrap_or_default(),
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// Sets the read ACL of a `secret` or `container`.
    pub async fn acl_put(&self, kind: &str, id: &str, acl: &AclRow) -> Result<(), sqlx::Error> {
        let users = serde_json::to_string(&acl.users).unwrap_or_else(|_| "[]".into());
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(
            "DELETE FROM acls WHERE entity_type = $1 AND entity_id = $2 AND operation = 'read'",
        )
        .bind(kind)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO acls (entity_type, entity_id, operation, project_access, users, created_at, updated_at) \
             VALUES ($1, $2, 'read', $3, $4, $5, $6)",
        )
        .bind(kind)
        .bind(id)
        .bind(rustack_db::b(acl.project_access))
        .bind(users)
        .bind(&acl.created_at)
        .bind(&acl.updated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Removes the ACLs of a `secret` or `container`.
    pub async fn acl_delete(&self, kind: &str, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM acls WHERE entity_type = $1 AND entity_id = $2")
            .bind(kind)
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    async fn acl_entities_for_user(
        &self,
        kind: &str,
        user: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT entity_id, users FROM acls WHERE entity_type = $1 AND operation = 'read'",
        )
        .bind(kind)
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let users: String = r.try_get("users")?;
            let users: Vec<String> = serde_json::from_str(&users).unwrap_or_default();
            if users.iter().any(|u| u == user) {
                out.push(r.try_get("entity_id")?);
            }
        }
        Ok(out)
    }

    // ---- quotas ----------------------------------------------------------------

    /// A project's quota overrides.
    pub async fn quota_get(&self, project: &str) -> Result<Option<QuotaRow>, sqlx::Error> {
        let r = sqlx::query("SELECT * FROM project_quotas WHERE project_id = $1")
            .bind(project)
            .fetch_optional(self.db.pool())
            .await?;
        r.map(|r| quota_row(&r)).transpose()
    }

    /// Every project's quota overrides, by project id.
    pub async fn quota_list(&self) -> Result<Vec<(String, QuotaRow)>, sqlx::Error> {
        sqlx::query("SELECT * FROM project_quotas ORDER BY created_at, project_id")
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get("project_id")?, quota_row(r)?)))
            .collect()
    }

    /// Sets a project's quota overrides.
    pub async fn quota_put(&self, project: &str, q: &QuotaRow) -> Result<(), sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("DELETE FROM project_quotas WHERE project_id = $1")
            .bind(project)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO project_quotas (project_id, secrets, orders, containers, consumers, cas, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(project)
        .bind(q[0])
        .bind(q[1])
        .bind(q[2])
        .bind(q[3])
        .bind(q[4])
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Removes a project's quota overrides; false if there were none.
    pub async fn quota_delete(&self, project: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("DELETE FROM project_quotas WHERE project_id = $1")
            .bind(project)
            .execute(self.db.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

fn quota_row(r: &AnyRow) -> Result<QuotaRow, sqlx::Error> {
    Ok([
        r.try_get("secrets")?,
        r.try_get("orders")?,
        r.try_get("containers")?,
        r.try_get("consumers")?,
        r.try_get("cas")?,
    ])
}
