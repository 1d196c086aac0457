//! Every SQL statement of the placement service.
//!
//! Concurrency model (the core of placement): a provider's `generation` is bumped in
//! the same transaction as any change to what it offers or what is allocated from it.
//!
//! * Writes that carry a caller's generation (inventories, traits, aggregates) run a
//!   conditional `UPDATE resource_providers SET generation = generation + 1 WHERE uuid
//!   = $1 AND generation = $2`; zero rows means someone else won: 409
//!   `placement.concurrent_update`.
//! * Allocation writes lock first, then check: the consumers (sorted) then every
//!   provider touched (sorted) get their generation bumped before any usage is read,
//!   so on PostgreSQL (READ COMMITTED) the row locks serialise claims on a provider and
//!   the usage read afterwards sees every earlier committed claim; on SQLite the
//!   single pooled connection serialises transactions outright. New allocations are
//!   inserted and `SUM(used) <= (total - reserved) * allocation_ratio` is verified
//!   before commit, so two claims can never over-commit an inventory. A consistent
//!   lock order (consumers, then providers by uuid) keeps PostgreSQL deadlock-free;
//!   a deadlock or serialization failure is still retried.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustack_db::{Db, DbRow, Dialect};
use rustack_placement_api::{codes, Inventory, STANDARD_RESOURCE_CLASSES, STANDARD_TRAITS};
use sqlx::{Any, Row, Transaction};

use crate::error::{PResult, PlacementError};

type Tx<'a> = Transaction<'a, Any>;

/// Reshaper inventories: provider -> (expected generation, inventories).
pub type ReshapeInventories = BTreeMap<String, (i64, BTreeMap<String, Inventory>)>;

/// A resource provider row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Generation.
    pub generation: i64,
    /// Parent uuid.
    pub parent_uuid: Option<String>,
    /// Root uuid.
    pub root_uuid: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// Everything the candidate search and the filtered provider list need, read at once.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Providers by uuid.
    pub providers: BTreeMap<String, Provider>,
    /// Inventories by provider, then class.
    pub inventories: HashMap<String, BTreeMap<String, Inventory>>,
    /// Usage by provider, then class.
    pub usages: HashMap<String, BTreeMap<String, i64>>,
    /// Traits by provider.
    pub traits: HashMap<String, BTreeSet<String>>,
    /// Aggregates by provider.
    pub aggregates: HashMap<String, BTreeSet<String>>,
}

/// A consumer's allocations to write (one entry of `POST /allocations`, or a PUT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerWrite {
    /// Consumer uuid.
    pub consumer: String,
    /// Amount per provider, then class; empty removes everything.
    pub allocations: BTreeMap<String, BTreeMap<String, i64>>,
    /// Project (required unless the consumer exists and allocations are empty).
    pub project_id: String,
    /// User.
    pub user_id: String,
    /// `Some(expected)` to enforce consumer generations (1.28+): `Some(None)` means
    /// "the consumer must not exist".
    pub generation: Option<Option<i64>>,
    /// Consumer type (1.38+).
    pub consumer_type: Option<String>,
}

/// A consumer's allocations as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerAllocs {
    /// Project, user, generation, type (when the consumer exists).
    pub consumer: Option<(String, String, i64, Option<String>)>,
    /// Amount per provider, then class, with the provider generation.
    pub allocations: BTreeMap<String, (i64, BTreeMap<String, i64>)>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn provider_from(row: &DbRow) -> Result<Provider, sqlx::Error> {
    Ok(Provider {
        uuid: row.try_get("uuid")?,
        name: row.try_get("name")?,
        generation: row.try_get("generation")?,
        parent_uuid: row.try_get("parent_uuid")?,
        root_uuid: row.try_get("root_uuid")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn inventory_from(row: &DbRow) -> Result<Inventory, sqlx::Error> {
    let ratio: String = row.try_get("allocation_ratio")?;
    Ok(Inventory {
        total: row.try_get("total")?,
        reserved: row.try_get("reserved")?,
        min_unit: row.try_get("min_unit")?,
        max_unit: row.try_get("max_unit")?,
        step_size: row.try_get("step_size")?,
        allocation_ratio: ratio.parse().unwrap_or(1.0),
    })
}

const PROVIDER_COLS: &str =
    "uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at";

/// True for PostgreSQL deadlocks and serialization failures, which are retried.
fn is_retryable(e: &PlacementError) -> bool {
    e.status == 503
}

fn map_sqlx(e: sqlx::Error) -> PlacementError {
    if let sqlx::Error::Database(db) = &e {
        let code = db.code().map(|c| c.to_string()).unwrap_or_default();
        if code == "40P01" || code == "40001" {
            // Marked 503 internally so the transaction is retried; see `is_retryable`.
            return PlacementError::new(503, codes::CONCURRENT_UPDATE, "retry");
        }
    }
    PlacementError::internal(format!("database error: {e}"))
}

/// The datastore.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

impl Store {
    /// A store over `db` (already migrated).
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn begin(&self) -> PResult<Tx<'static>> {
        self.db.pool().begin().await.map_err(map_sqlx)
    }

    // ----- resource classes and traits -----

    /// Custom resource classes, by name.
    pub async fn custom_classes(&self) -> PResult<Vec<(String, String, Option<String>)>> {
        let rows =
            sqlx::query("SELECT name, created_at, updated_at FROM resource_classes ORDER BY name")
                .fetch_all(self.db.pool())
                .await
                .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    r.try_get("created_at")?,
                    r.try_get("updated_at")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_sqlx)
    }

    /// True if `name` is a standard or existing custom class.
    pub async fn class_exists(&self, name: &str) -> PResult<bool> {
        if STANDARD_RESOURCE_CLASSES.contains(&name) {
            return Ok(true);
        }
        let r = sqlx::query("SELECT name FROM resource_classes WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(map_sqlx)?;
        Ok(r.is_some())
    }

    /// Creates a custom class; `false` if it already existed.
    pub async fn class_create(&self, name: &str) -> PResult<bool> {
        self.name_create("resource_classes", name).await
    }

    /// Deletes a custom class: 404 if absent, 409 if inventories use it.
    pub async fn class_delete(&self, name: &str) -> PResult<()> {
        self.name_delete(
            "resource_classes",
            "SELECT provider_uuid FROM inventories WHERE resource_class = $1 LIMIT 1",
            name,
            format!("Error in delete resource class: Cannot delete resource class {name}. Class is in use in inventory."),
            format!("No such resource class {name}."),
        )
        .await
    }

    /// Inserts `name` into a name-keyed table (`resource_classes`, `traits`); `false`
    /// if it was there.
    async fn name_create(&self, table: &'static str, name: &str) -> PResult<bool> {
        let r = sqlx::query(&format!(
            "INSERT INTO {table} (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
        ))
        .bind(name)
        .bind(now())
        .execute(self.db.pool())
        .await
        .map_err(map_sqlx)?;
        Ok(r.rows_affected() == 1)
    }

    /// Deletes `name` from a name-keyed table in one transaction: 409 (`in_use`) when
    /// `usage_sql` finds a row for it, 404 (`missing`) when it is absent.
    async fn name_delete(
        &self,
        table: &'static str,
        usage_sql: &'static str,
        name: &str,
        in_use: String,
        missing: String,
    ) -> PResult<()> {
        let mut tx = self.begin().await?;
        let used = sqlx::query(usage_sql)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if used.is_some() {
            return Err(PlacementError::conflict(in_use));
        }
        let r = sqlx::query(&format!("DELETE FROM {table} WHERE name = $1"))
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if r.rows_affected() == 0 {
            return Err(PlacementError::not_found(missing));
        }
        tx.commit().await.map_err(map_sqlx)
    }

    /// Renames a custom class everywhere it is used (pre-1.7 `PUT`): 404 if absent,
    /// 409 if the new name exists.
    pub async fn class_rename(&self, from: &str, to: &str) -> PResult<()> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT name FROM resource_classes WHERE name = $1")
            .bind(to)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if exists.is_some() || STANDARD_RESOURCE_CLASSES.contains(&to) {
            return Err(PlacementError::new(
                409,
                codes::DUPLICATE_NAME,
                format!("Resource class already exists: {to}"),
            ));
        }
        let r =
            sqlx::query("UPDATE resource_classes SET name = $2, updated_at = $3 WHERE name = $1")
                .bind(from)
                .bind(to)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        if r.rows_affected() == 0 {
            return Err(PlacementError::not_found(format!(
                "No such resource class {from}."
            )));
        }
        for sql in [
            "UPDATE inventories SET resource_class = $2 WHERE resource_class = $1",
            "UPDATE allocations SET resource_class = $2 WHERE resource_class = $1",
        ] {
            sqlx::query(sql)
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)
    }

    /// Custom traits.
    pub async fn custom_traits(&self) -> PResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM traits ORDER BY name")
            .fetch_all(self.db.pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()
            .map_err(map_sqlx)
    }

    /// Traits associated with at least one provider.
    pub async fn associated_traits(&self) -> PResult<BTreeSet<String>> {
        let rows = sqlx::query("SELECT DISTINCT trait FROM provider_traits")
            .fetch_all(self.db.pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| r.try_get("trait"))
            .collect::<Result<_, _>>()
            .map_err(map_sqlx)
    }

    /// True if `name` is a standard or existing custom trait.
    pub async fn trait_exists(&self, name: &str) -> PResult<bool> {
        if STANDARD_TRAITS.contains(&name) {
            return Ok(true);
        }
        let r = sqlx::query("SELECT name FROM traits WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await
            .map_err(map_sqlx)?;
        Ok(r.is_some())
    }

    /// The names in `names` that are not known traits.
    pub async fn unknown_traits<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
    ) -> PResult<Vec<String>> {
        let mut missing = Vec::new();
        for n in names {
            if !self.trait_exists(n).await? {
                missing.push(n.clone());
            }
        }
        Ok(missing)
    }

    /// Creates a custom trait; `false` if it existed.
    pub async fn trait_create(&self, name: &str) -> PResult<bool> {
        self.name_create("traits", name).await
    }

    /// Deletes a custom trait: 404 if absent, 409 if a provider has it.
    pub async fn trait_delete(&self, name: &str) -> PResult<()> {
        self.name_delete(
            "traits",
            "SELECT provider_uuid FROM provider_traits WHERE trait = $1 LIMIT 1",
            name,
            format!("The trait {name} is in use by a resource provider."),
            format!("No such trait(s): {name}."),
        )
        .await
    }

    // ----- providers -----

    /// One provider.
    pub async fn provider(&self, uuid: &str) -> PResult<Option<Provider>> {
        let r = sqlx::query(&format!(
            "SELECT {PROVIDER_COLS} FROM resource_providers WHERE uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(self.db.pool())
        .await
        .map_err(map_sqlx)?;
        r.as_ref().map(provider_from).transpose().map_err(map_sqlx)
    }

    /// One provider or 404.
    pub async fn provider_or_404(&self, uuid: &str) -> PResult<Provider> {
        self.provider(uuid)
            .await?
            .ok_or_else(|| PlacementError::provider_not_found(uuid))
    }

    /// Creates a provider (its own root unless `parent` is given).
    pub async fn provider_create(
        &self,
        uuid: &str,
        name: &str,
        parent: Option<&str>,
    ) -> PResult<Provider> {
        let mut tx = self.begin().await?;
        let root = match parent {
            Some(p) => {
                let row = sqlx::query("SELECT root_uuid FROM resource_providers WHERE uuid = $1")
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                match row {
                    Some(r) => r.try_get::<String, _>("root_uuid").map_err(map_sqlx)?,
                    None => {
                        return Err(PlacementError::bad_request(format!(
                            "Unable to create resource provider \"{name}\", {uuid}: Object action create failed because: parent provider UUID does not exist."
                        )))
                    }
                }
            }
            None => uuid.to_string(),
        };
        let dup =
            sqlx::query("SELECT uuid, name FROM resource_providers WHERE uuid = $1 OR name = $2")
                .bind(uuid)
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        if !dup.is_empty() {
            let mut which = Vec::new();
            for r in &dup {
                let (u, n): (String, String) = (
                    r.try_get("uuid").map_err(map_sqlx)?,
                    r.try_get("name").map_err(map_sqlx)?,
                );
                if u == uuid {
                    which.push(format!("uuid: {uuid}"));
                }
                if n == name {
                    which.push(format!("name: {name}"));
                }
            }
            which.dedup();
            return Err(PlacementError::new(
                409,
                codes::DUPLICATE_NAME,
                format!(
                    "Conflicting resource provider {} already exists.",
                    which.join(", ")
                ),
            ));
        }
        let ts = now();
        sqlx::query(
            "INSERT INTO resource_providers (uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at) \
             VALUES ($1, $2, 0, $3, $4, $5, $5)",
        )
        .bind(uuid)
        .bind(name)
        .bind(parent.map(String::from))
        .bind(&root)
        .bind(&ts)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if rustack_db::is_unique_violation(&e) {
                PlacementError::new(
                    409,
                    codes::DUPLICATE_NAME,
                    format!("Conflicting resource provider name: {name} already exists."),
                )
            } else {
                map_sqlx(e)
            }
        })?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(Provider {
            uuid: uuid.into(),
            name: name.into(),
            generation: 0,
            parent_uuid: parent.map(String::from),
            root_uuid: root,
            created_at: ts.clone(),
            updated_at: ts,
        })
    }

    /// Renames and/or re-parents a provider. `parent` is `None` to leave it alone,
    /// `Some(None)` to un-parent. Re-parenting an already parented provider needs
    /// `allow_reparenting` (1.37).
    pub async fn provider_update(
        &self,
        uuid: &str,
        name: &str,
        parent: Option<Option<String>>,
        allow_reparenting: bool,
    ) -> PResult<Provider> {
        let mut tx = self.begin().await?;
        let cur = sqlx::query(&format!(
            "SELECT {PROVIDER_COLS} FROM resource_providers WHERE uuid = $1"
        ))
        .bind(uuid)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .as_ref()
        .map(provider_from)
        .transpose()
        .map_err(map_sqlx)?
        .ok_or_else(|| PlacementError::provider_not_found(uuid))?;
        let save_err = |why: &str| {
            PlacementError::bad_request(format!(
                "Unable to save resource provider {uuid}: Object action update failed because: {why}"
            ))
        };
        let mut new_parent = cur.parent_uuid.clone();
        let mut new_root = cur.root_uuid.clone();
        if let Some(p) = parent {
            if p != cur.parent_uuid {
                if cur.parent_uuid.is_some() && !allow_reparenting {
                    return Err(save_err(if p.is_none() {
                        "un-parenting a provider is not currently allowed."
                    } else {
                        "re-parenting a provider is not currently allowed."
                    }));
                }
                match &p {
                    None => new_root = uuid.to_string(),
                    Some(pu) => {
                        if pu == uuid {
                            return Err(save_err(
                                "creating loop in the provider tree is not allowed.",
                            ));
                        }
                        // Walk up from the new parent: meeting ourselves would make a loop.
                        let mut at = Some(pu.clone());
                        let mut root = pu.clone();
                        let mut hops = 0;
                        while let Some(a) = at {
                            let row = sqlx::query("SELECT parent_uuid, root_uuid FROM resource_providers WHERE uuid = $1")
                                .bind(&a)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(map_sqlx)?;
                            let Some(row) = row else {
                                return Err(save_err("parent provider UUID does not exist."));
                            };
                            if a == uuid {
                                return Err(save_err(
                                    "creating loop in the provider tree is not allowed.",
                                ));
                            }
                            root = row.try_get("root_uuid").map_err(map_sqlx)?;
                            at = row.try_get("parent_uuid").map_err(map_sqlx)?;
                            hops += 1;
                            if hops > 1000 {
                                return Err(save_err(
                                    "creating loop in the provider tree is not allowed.",
                                ));
                            }
                        }
                        new_root = root;
                    }
                }
                new_parent = p;
            }
        }
        let ts = now();
        sqlx::query("UPDATE resource_providers SET name = $2, parent_uuid = $3, root_uuid = $4, updated_at = $5 WHERE uuid = $1")
            .bind(uuid)
            .bind(name)
            .bind(new_parent.clone())
            .bind(&new_root)
            .bind(&ts)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if rustack_db::is_unique_violation(&e) {
                    PlacementError::new(409, codes::DUPLICATE_NAME, format!("Conflicting resource provider {name} already exists."))
                } else {
                    map_sqlx(e)
                }
            })?;
        if new_root != cur.root_uuid {
            // Move the whole subtree to the new root.
            let mut frontier = vec![uuid.to_string()];
            while let Some(p) = frontier.pop() {
                let kids =
                    sqlx::query("SELECT uuid FROM resource_providers WHERE parent_uuid = $1")
                        .bind(&p)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(map_sqlx)?;
                for k in kids {
                    let k: String = k.try_get("uuid").map_err(map_sqlx)?;
                    sqlx::query("UPDATE resource_providers SET root_uuid = $2 WHERE uuid = $1")
                        .bind(&k)
                        .bind(&new_root)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_sqlx)?;
                    frontier.push(k);
                }
            }
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(Provider {
            name: name.into(),
            parent_uuid: new_parent,
            root_uuid: new_root,
            updated_at: ts,
            ..cur
        })
    }

    /// Deletes a provider: 409 if it has allocations or children.
    pub async fn provider_delete(&self, uuid: &str) -> PResult<()> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(
            "UPDATE resource_providers SET generation = generation + 1 WHERE uuid = $1",
        )
        .bind(uuid)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        if r.rows_affected() == 0 {
            return Err(PlacementError::not_found(format!(
                "No resource provider with uuid {uuid} found for delete"
            )));
        }
        let allocs =
            sqlx::query("SELECT consumer_uuid FROM allocations WHERE provider_uuid = $1 LIMIT 1")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        if allocs.is_some() {
            return Err(PlacementError::new(
                409,
                codes::PROVIDER_IN_USE,
                format!(
                    "Unable to delete resource provider {uuid}: Resource provider has allocations."
                ),
            ));
        }
        let kids =
            sqlx::query("SELECT uuid FROM resource_providers WHERE parent_uuid = $1 LIMIT 1")
                .bind(uuid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        if kids.is_some() {
            return Err(PlacementError::new(
                409,
                codes::PROVIDER_CANNOT_DELETE_PARENT,
                format!("Unable to delete parent resource provider {uuid}: It has child resource providers."),
            ));
        }
        for sql in [
            "DELETE FROM inventories WHERE provider_uuid = $1",
            "DELETE FROM provider_traits WHERE provider_uuid = $1",
            "DELETE FROM provider_aggregates WHERE provider_uuid = $1",
            "DELETE FROM resource_providers WHERE uuid = $1",
        ] {
            sqlx::query(sql)
                .bind(uuid)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)
    }

    /// Reads everything the candidate search and filtered lists need.
    pub async fn snapshot(&self) -> PResult<Snapshot> {
        let mut tx = self.begin().await?;
        let mut s = Snapshot::default();
        for r in sqlx::query(&format!("SELECT {PROVIDER_COLS} FROM resource_providers"))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
        {
            let p = provider_from(&r).map_err(map_sqlx)?;
            s.providers.insert(p.uuid.clone(), p);
        }
        for r in sqlx::query("SELECT * FROM inventories")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
        {
            let rp: String = r.try_get("provider_uuid").map_err(map_sqlx)?;
            let rc: String = r.try_get("resource_class").map_err(map_sqlx)?;
            s.inventories
                .entry(rp)
                .or_default()
                .insert(rc, inventory_from(&r).map_err(map_sqlx)?);
        }
        for r in sqlx::query(
            "SELECT provider_uuid, resource_class, CAST(SUM(used) AS BIGINT) AS used FROM allocations GROUP BY provider_uuid, resource_class",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(map_sqlx)?
        {
            let rp: String = r.try_get("provider_uuid").map_err(map_sqlx)?;
            let rc: String = r.try_get("resource_class").map_err(map_sqlx)?;
            s.usages
                .entry(rp)
                .or_default()
                .insert(rc, r.try_get("used").map_err(map_sqlx)?);
        }
        for r in sqlx::query("SELECT provider_uuid, trait FROM provider_traits")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
        {
            s.traits
                .entry(r.try_get("provider_uuid").map_err(map_sqlx)?)
                .or_default()
                .insert(r.try_get("trait").map_err(map_sqlx)?);
        }
        for r in sqlx::query("SELECT provider_uuid, aggregate_uuid FROM provider_aggregates")
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
        {
            s.aggregates
                .entry(r.try_get("provider_uuid").map_err(map_sqlx)?)
                .or_default()
                .insert(r.try_get("aggregate_uuid").map_err(map_sqlx)?);
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(s)
    }

    /// Bumps a provider's generation inside `tx`. With `expected`, only if it still
    /// equals that (else 409 concurrent_update). Returns the new generation.
    async fn bump(tx: &mut Tx<'_>, uuid: &str, expected: Option<i64>) -> PResult<i64> {
        let row = match expected {
            Some(g) => sqlx::query(
                "UPDATE resource_providers SET generation = generation + 1, updated_at = $3 \
                 WHERE uuid = $1 AND generation = $2 RETURNING generation",
            )
            .bind(uuid)
            .bind(g)
            .bind(now())
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_sqlx)?,
            None => sqlx::query(
                "UPDATE resource_providers SET generation = generation + 1, updated_at = $2 \
                 WHERE uuid = $1 RETURNING generation",
            )
            .bind(uuid)
            .bind(now())
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_sqlx)?,
        };
        match row {
            Some(r) => r.try_get("generation").map_err(map_sqlx),
            None => {
                let exists = sqlx::query("SELECT uuid FROM resource_providers WHERE uuid = $1")
                    .bind(uuid)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_sqlx)?;
                if exists.is_none() {
                    Err(PlacementError::provider_not_found(uuid))
                } else {
                    Err(PlacementError::concurrent(format!(
                        "resource provider generation conflict: Another thread concurrently updated the resource provider {uuid}; please retry."
                    )))
                }
            }
        }
    }

    // ----- inventories -----

    /// A provider's inventories.
    pub async fn inventories(&self, uuid: &str) -> PResult<BTreeMap<String, Inventory>> {
        let rows = sqlx::query("SELECT * FROM inventories WHERE provider_uuid = $1")
            .bind(uuid)
            .fetch_all(self.db.pool())
            .await
            .map_err(map_sqlx)?;
        let mut out = BTreeMap::new();
        for r in rows {
            out.insert(
                r.try_get("resource_class").map_err(map_sqlx)?,
                inventory_from(&r).map_err(map_sqlx)?,
            );
        }
        Ok(out)
    }

    async fn usage_in(tx: &mut Tx<'_>, uuid: &str) -> PResult<BTreeMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT resource_class, CAST(SUM(used) AS BIGINT) AS used FROM allocations WHERE provider_uuid = $1 GROUP BY resource_class",
        )
        .bind(uuid)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx)?;
        let mut out = BTreeMap::new();
        for r in rows {
            out.insert(
                r.try_get("resource_class").map_err(map_sqlx)?,
                r.try_get("used").map_err(map_sqlx)?,
            );
        }
        Ok(out)
    }

    /// Replaces inventories of `uuid` with `changes` applied: `Some(inv)` sets a class,
    /// `None` removes it; with `replace_all`, classes not mentioned are removed too.
    /// Refuses (409 `placement.inventory.inuse`) to remove a class with allocations or
    /// to shrink capacity below what is used. Returns the new generation and inventories.
    pub async fn inventories_write(
        &self,
        uuid: &str,
        generation: Option<i64>,
        changes: BTreeMap<String, Option<Inventory>>,
        replace_all: bool,
    ) -> PResult<(i64, BTreeMap<String, Inventory>)> {
        let mut tx = self.begin().await?;
        let gen = Self::bump(&mut tx, uuid, generation).await?;
        let used = Self::usage_in(&mut tx, uuid).await?;
        let rows = sqlx::query("SELECT * FROM inventories WHERE provider_uuid = $1")
            .bind(uuid)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let mut current = BTreeMap::new();
        for r in rows {
            current.insert(
                r.try_get::<String, _>("resource_class").map_err(map_sqlx)?,
                inventory_from(&r).map_err(map_sqlx)?,
            );
        }
        let mut next = if replace_all {
            BTreeMap::new()
        } else {
            current.clone()
        };
        for (rc, inv) in changes {
            match inv {
                Some(i) => {
                    next.insert(rc, i);
                }
                None => {
                    next.remove(&rc);
                }
            }
        }
        let mut removed_in_use = Vec::new();
        for rc in current.keys() {
            if !next.contains_key(rc) && used.get(rc).copied().unwrap_or(0) > 0 {
                removed_in_use.push(rc.clone());
            }
        }
        if !removed_in_use.is_empty() {
            return Err(PlacementError::new(
                409,
                codes::INVENTORY_INUSE,
                format!(
                    "update conflict: Inventory for '{}' on resource provider '{uuid}' in use.",
                    removed_in_use.join(", ")
                ),
            ));
        }
        for (rc, inv) in &next {
            let u = used.get(rc).copied().unwrap_or(0);
            if u > inv.capacity() {
                return Err(PlacementError::new(
                    409,
                    codes::INVENTORY_INUSE,
                    format!(
                        "Unable to update inventory for resource provider {uuid}: Invalid inventory for '{rc}' on resource provider '{uuid}'. The reserved value is greater than or equal to total, or capacity is below the {u} in use."
                    ),
                ));
            }
        }
        sqlx::query("DELETE FROM inventories WHERE provider_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        for (rc, i) in &next {
            sqlx::query(
                "INSERT INTO inventories (provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(uuid)
            .bind(rc)
            .bind(i.total)
            .bind(i.reserved)
            .bind(i.min_unit)
            .bind(i.max_unit)
            .bind(i.step_size)
            .bind(i.allocation_ratio.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok((gen, next))
    }

    // ----- traits and aggregates of providers -----

    /// A provider's traits.
    pub async fn provider_traits(&self, uuid: &str) -> PResult<BTreeSet<String>> {
        let rows = sqlx::query("SELECT trait FROM provider_traits WHERE provider_uuid = $1")
            .bind(uuid)
            .fetch_all(self.db.pool())
            .await
            .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| r.try_get("trait"))
            .collect::<Result<_, _>>()
            .map_err(map_sqlx)
    }

    /// Replaces a provider's traits; `generation` `None` skips the check (DELETE).
    pub async fn provider_traits_set(
        &self,
        uuid: &str,
        generation: Option<i64>,
        traits: &BTreeSet<String>,
    ) -> PResult<i64> {
        let mut tx = self.begin().await?;
        let gen = Self::bump(&mut tx, uuid, generation).await?;
        sqlx::query("DELETE FROM provider_traits WHERE provider_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        for t in traits {
            sqlx::query("INSERT INTO provider_traits (provider_uuid, trait) VALUES ($1, $2)")
                .bind(uuid)
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(gen)
    }

    /// A provider's aggregates.
    pub async fn provider_aggregates(&self, uuid: &str) -> PResult<BTreeSet<String>> {
        let rows =
            sqlx::query("SELECT aggregate_uuid FROM provider_aggregates WHERE provider_uuid = $1")
                .bind(uuid)
                .fetch_all(self.db.pool())
                .await
                .map_err(map_sqlx)?;
        rows.iter()
            .map(|r| r.try_get("aggregate_uuid"))
            .collect::<Result<_, _>>()
            .map_err(map_sqlx)
    }

    /// Replaces a provider's aggregates (generation checked when given, 1.19+).
    pub async fn provider_aggregates_set(
        &self,
        uuid: &str,
        generation: Option<i64>,
        aggs: &BTreeSet<String>,
    ) -> PResult<i64> {
        let mut tx = self.begin().await?;
        let gen = Self::bump(&mut tx, uuid, generation).await?;
        sqlx::query("DELETE FROM provider_aggregates WHERE provider_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        for a in aggs {
            sqlx::query(
                "INSERT INTO provider_aggregates (provider_uuid, aggregate_uuid) VALUES ($1, $2)",
            )
            .bind(uuid)
            .bind(a)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        }
        tx.commit().await.map_err(map_sqlx)?;
        Ok(gen)
    }

    // ----- allocations -----

    /// A consumer's allocations (with provider generations).
    pub async fn consumer_allocations(&self, consumer: &str) -> PResult<ConsumerAllocs> {
        let mut out = ConsumerAllocs::default();
        if let Some(r) = sqlx::query(
            "SELECT project_id, user_id, generation, consumer_type FROM consumers WHERE uuid = $1",
        )
        .bind(consumer)
        .fetch_optional(self.db.pool())
        .await
        .map_err(map_sqlx)?
        {
            out.consumer = Some((
                r.try_get("project_id").map_err(map_sqlx)?,
                r.try_get("user_id").map_err(map_sqlx)?,
                r.try_get("generation").map_err(map_sqlx)?,
                r.try_get("consumer_type").map_err(map_sqlx)?,
            ));
        }
        let rows = sqlx::query(
            "SELECT a.provider_uuid, a.resource_class, a.used, p.generation FROM allocations a \
             JOIN resource_providers p ON p.uuid = a.provider_uuid WHERE a.consumer_uuid = $1",
        )
        .bind(consumer)
        .fetch_all(self.db.pool())
        .await
        .map_err(map_sqlx)?;
        for r in rows {
            let rp: String = r.try_get("provider_uuid").map_err(map_sqlx)?;
            let e = out
                .allocations
                .entry(rp)
                .or_insert((r.try_get("generation").map_err(map_sqlx)?, BTreeMap::new()));
            e.1.insert(
                r.try_get("resource_class").map_err(map_sqlx)?,
                r.try_get("used").map_err(map_sqlx)?,
            );
        }
        Ok(out)
    }

    /// Allocations against a provider: consumer -> class -> amount.
    pub async fn provider_allocations(
        &self,
        uuid: &str,
    ) -> PResult<BTreeMap<String, BTreeMap<String, i64>>> {
        let rows = sqlx::query(
            "SELECT consumer_uuid, resource_class, used FROM allocations WHERE provider_uuid = $1",
        )
        .bind(uuid)
        .fetch_all(self.db.pool())
        .await
        .map_err(map_sqlx)?;
        let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for r in rows {
            out.entry(r.try_get("consumer_uuid").map_err(map_sqlx)?)
                .or_default()
                .insert(
                    r.try_get("resource_class").map_err(map_sqlx)?,
                    r.try_get("used").map_err(map_sqlx)?,
                );
        }
        Ok(out)
    }

    /// A provider's usage per class (classes with inventory and no usage show 0).
    pub async fn provider_usages(&self, uuid: &str) -> PResult<BTreeMap<String, i64>> {
        let mut out: BTreeMap<String, i64> = self
            .inventories(uuid)
            .await?
            .into_keys()
            .map(|k| (k, 0))
            .collect();
        let mut tx = self.begin().await?;
        out.extend(Self::usage_in(&mut tx, uuid).await?);
        tx.commit().await.map_err(map_sqlx)?;
        Ok(out)
    }

    /// Totals for a project (and user), grouped by consumer type (`None` = unknown):
    /// type -> (consumer count, class -> amount).
    pub async fn usages(
        &self,
        project_id: &str,
        user_id: Option<&str>,
        consumer_type: Option<&str>,
    ) -> PResult<BTreeMap<Option<String>, (i64, BTreeMap<String, i64>)>> {
        let mut sql = String::from(
            "SELECT c.uuid, c.consumer_type, a.resource_class, a.used FROM allocations a \
             JOIN consumers c ON c.uuid = a.consumer_uuid WHERE c.project_id = $1",
        );
        if user_id.is_some() {
            sql.push_str(" AND c.user_id = $2");
        }
        let mut q = sqlx::query(&sql).bind(project_id);
        if let Some(u) = user_id {
            q = q.bind(u);
        }
        let rows = q.fetch_all(self.db.pool()).await.map_err(map_sqlx)?;
        let mut consumers: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
        let mut out: BTreeMap<Option<String>, (i64, BTreeMap<String, i64>)> = BTreeMap::new();
        for r in rows {
            let ct: Option<String> = r.try_get("consumer_type").map_err(map_sqlx)?;
            match consumer_type {
                Some("all") | None => {}
                Some("unknown") if ct.is_none() => {}
                Some(want) if ct.as_deref() == Some(want) => {}
                Some(_) => continue,
            }
            consumers
                .entry(ct.clone())
                .or_default()
                .insert(r.try_get("uuid").map_err(map_sqlx)?);
            *out.entry(ct)
                .or_default()
                .1
                .entry(r.try_get("resource_class").map_err(map_sqlx)?)
                .or_default() += r.try_get::<i64, _>("used").map_err(map_sqlx)?;
        }
        for (ct, set) in consumers {
            if let Some(e) = out.get_mut(&ct) {
                e.0 = set.len() as i64;
            }
        }
        Ok(out)
    }

    /// Writes allocations for several consumers atomically (see the module docs for
    /// the locking). Errors: 400 unknown provider/class, 409 capacity or constraints,
    /// 409 `placement.concurrent_update` for consumer generation mismatches.
    pub async fn allocations_write(&self, writes: &[ConsumerWrite]) -> PResult<()> {
        self.with_retry(|| self.allocations_write_once(writes, None))
            .await
    }

    /// Reshapes atomically: replaces inventories of the listed providers (with their
    /// generations), then writes the allocations. Capacity is checked once at the end.
    pub async fn reshape(
        &self,
        inventories: &ReshapeInventories,
        writes: &[ConsumerWrite],
    ) -> PResult<()> {
        self.with_retry(|| self.allocations_write_once(writes, Some(inventories)))
            .await
    }

    async fn with_retry<'a, F, Fut>(&'a self, f: F) -> PResult<()>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = PResult<()>> + 'a,
    {
        let mut attempt = 0;
        loop {
            match f().await {
                Err(e) if is_retryable(&e) && attempt < 10 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                }
                Err(e) if is_retryable(&e) => {
                    return Err(PlacementError::concurrent(
                        "Inventory and/or allocations changed while attempting to allocate: Another thread concurrently updated the data. Please retry your update",
                    ))
                }
                other => return other,
            }
        }
    }

    async fn allocations_write_once(
        &self,
        writes: &[ConsumerWrite],
        reshape: Option<&ReshapeInventories>,
    ) -> PResult<()> {
        let mut tx = self.begin().await?;
        let ts = now();
        let mut sorted: Vec<&ConsumerWrite> = writes.iter().collect();
        sorted.sort_by(|a, b| a.consumer.cmp(&b.consumer));
        // 1. Lock consumers, checking generations.
        for w in &sorted {
            let existing = sqlx::query("SELECT generation FROM consumers WHERE uuid = $1")
                .bind(&w.consumer)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_sqlx)?
                .map(|r| r.try_get::<i64, _>("generation"))
                .transpose()
                .map_err(map_sqlx)?;
            match (existing, w.generation) {
                (Some(cur), Some(Some(want))) if cur != want => {
                    return Err(PlacementError::concurrent(format!(
                        "consumer generation conflict - expected {cur} but got {want}"
                    )))
                }
                (Some(cur), Some(None)) => {
                    return Err(PlacementError::concurrent(format!(
                        "consumer generation conflict - expected {cur} but got None"
                    )))
                }
                (None, Some(Some(want))) => {
                    return Err(PlacementError::concurrent(format!(
                        "consumer generation conflict - expected null but got {want}"
                    )))
                }
                _ => {}
            }
            match existing {
                Some(cur) => {
                    let r = sqlx::query(
                        "UPDATE consumers SET generation = generation + 1, project_id = $3, user_id = $4, \
                         consumer_type = COALESCE($5, consumer_type), updated_at = $6 WHERE uuid = $1 AND generation = $2",
                    )
                    .bind(&w.consumer)
                    .bind(cur)
                    .bind(&w.project_id)
                    .bind(&w.user_id)
                    .bind(w.consumer_type.clone())
                    .bind(&ts)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                    if r.rows_affected() == 0 {
                        return Err(PlacementError::concurrent(format!(
                            "consumer generation conflict - expected {cur} but the consumer changed"
                        )));
                    }
                }
                None if w.allocations.is_empty() => {}
                None => {
                    let r = sqlx::query(
                        "INSERT INTO consumers (uuid, project_id, user_id, consumer_type, generation, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 0, $5, $5) ON CONFLICT (uuid) DO NOTHING",
                    )
                    .bind(&w.consumer)
                    .bind(&w.project_id)
                    .bind(&w.user_id)
                    .bind(w.consumer_type.clone())
                    .bind(&ts)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                    if r.rows_affected() == 0 {
                        if w.generation.is_some() {
                            return Err(PlacementError::concurrent(
                                "consumer generation conflict - expected null but the consumer was created concurrently",
                            ));
                        }
                        sqlx::query("UPDATE consumers SET generation = generation + 1, project_id = $2, user_id = $3 WHERE uuid = $1")
                            .bind(&w.consumer)
                            .bind(&w.project_id)
                            .bind(&w.user_id)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_sqlx)?;
                    }
                }
            }
        }
        // 2. Lock every provider touched, in uuid order, before reading usage.
        let mut providers: BTreeSet<String> = BTreeSet::new();
        for w in &sorted {
            for r in sqlx::query(
                "SELECT DISTINCT provider_uuid FROM allocations WHERE consumer_uuid = $1",
            )
            .bind(&w.consumer)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
            {
                providers.insert(r.try_get("provider_uuid").map_err(map_sqlx)?);
            }
            providers.extend(w.allocations.keys().cloned());
        }
        if let Some(inv) = reshape {
            providers.extend(inv.keys().cloned());
        }
        for p in &providers {
            let expected = reshape.and_then(|m| m.get(p)).map(|(g, _)| *g);
            match Self::bump(&mut tx, p, expected).await {
                Err(e) if e.status == 404 => {
                    return Err(PlacementError::bad_request(format!(
                        "Allocation for resource provider '{p}' that does not exist."
                    )))
                }
                other => {
                    other?;
                }
            }
        }
        // 3. Reshape: replace inventories.
        if let Some(inv) = reshape {
            for (p, (_, invs)) in inv {
                sqlx::query("DELETE FROM inventories WHERE provider_uuid = $1")
                    .bind(p)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                for (rc, i) in invs {
                    sqlx::query(
                        "INSERT INTO inventories (provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(p)
                    .bind(rc)
                    .bind(i.total)
                    .bind(i.reserved)
                    .bind(i.min_unit)
                    .bind(i.max_unit)
                    .bind(i.step_size)
                    .bind(i.allocation_ratio.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                }
            }
        }
        // 4. Replace the consumers' allocations.
        for w in &sorted {
            sqlx::query("DELETE FROM allocations WHERE consumer_uuid = $1")
                .bind(&w.consumer)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            for (p, res) in &w.allocations {
                for (rc, used) in res {
                    sqlx::query(
                        "INSERT INTO allocations (consumer_uuid, provider_uuid, resource_class, used, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&w.consumer)
                    .bind(p)
                    .bind(rc)
                    .bind(*used)
                    .bind(&ts)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
                }
            }
            if w.allocations.is_empty() {
                sqlx::query("DELETE FROM consumers WHERE uuid = $1")
                    .bind(&w.consumer)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_sqlx)?;
            }
        }
        // 5. Verify: every new allocation fits its inventory's constraints, and no
        //    touched provider exceeds capacity.
        let mut inventories: HashMap<String, BTreeMap<String, Inventory>> = HashMap::new();
        for p in &providers {
            let rows = sqlx::query("SELECT * FROM inventories WHERE provider_uuid = $1")
                .bind(p)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            let mut m = BTreeMap::new();
            for r in rows {
                m.insert(
                    r.try_get::<String, _>("resource_class").map_err(map_sqlx)?,
                    inventory_from(&r).map_err(map_sqlx)?,
                );
            }
            inventories.insert(p.clone(), m);
        }
        for w in &sorted {
            for (p, res) in &w.allocations {
                for (rc, used) in res {
                    let Some(inv) = inventories.get(p).and_then(|m| m.get(rc)) else {
                        return Err(PlacementError::conflict(format!(
                            "Unable to allocate inventory: Inventory for '{rc}' on resource provider '{p}' invalid."
                        )));
                    };
                    if *used < inv.min_unit
                        || *used > inv.max_unit
                        || *used % inv.step_size.max(1) != 0
                    {
                        return Err(PlacementError::conflict(format!(
                            "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{p}'. The requested amount would violate inventory constraints."
                        )));
                    }
                }
            }
        }
        let touched: BTreeSet<(&String, &String)> = sorted
            .iter()
            .flat_map(|w| {
                w.allocations
                    .iter()
                    .flat_map(|(p, r)| r.keys().map(move |rc| (p, rc)))
            })
            .collect();
        let mut usage_cache: HashMap<String, BTreeMap<String, i64>> = HashMap::new();
        for (p, rc) in touched {
            if !usage_cache.contains_key(p) {
                usage_cache.insert(p.clone(), Self::usage_in(&mut tx, p).await?);
            }
            let used = usage_cache
                .get(p)
                .and_then(|m| m.get(rc))
                .copied()
                .unwrap_or(0);
            let cap = inventories
                .get(p)
                .and_then(|m| m.get(rc))
                .map(Inventory::capacity)
                .unwrap_or(0);
            if used > cap {
                return Err(PlacementError::conflict(format!(
                    "Unable to allocate inventory: Unable to create allocation for '{rc}' on resource provider '{p}'. The requested amount would exceed the capacity."
                )));
            }
        }
        if reshape.is_some() {
            // A reshape may shrink inventories under existing allocations of consumers
            // not in the request: every provider must still fit.
            for p in &providers {
                let used = Self::usage_in(&mut tx, p).await?;
                for (rc, u) in used {
                    let cap = inventories
                        .get(p)
                        .and_then(|m| m.get(&rc))
                        .map(Inventory::capacity);
                    if cap.is_none_or(|c| u > c) {
                        return Err(PlacementError::new(
                            409,
                            codes::INVENTORY_INUSE,
                            format!("Unable to allocate inventory: Inventory for '{rc}' on resource provider '{p}' in use."),
                        ));
                    }
                }
            }
        }
        tx.commit().await.map_err(map_sqlx)
    }

    /// Deletes all of a consumer's allocations (and the consumer); 404 if none.
    pub async fn allocations_delete(&self, consumer: &str) -> PResult<()> {
        let cur = self.consumer_allocations(consumer).await?;
        if cur.allocations.is_empty() {
            return Err(PlacementError::not_found(format!(
                "No allocations for consumer '{consumer}'"
            )));
        }
        let (project, user, _, ct) = cur.consumer.clone().unwrap_or_default();
        self.allocations_write(&[ConsumerWrite {
            consumer: consumer.into(),
            allocations: BTreeMap::new(),
            project_id: project,
            user_id: user,
            generation: None,
            consumer_type: ct,
        }])
        .await
    }

    /// The dialect (for tests and logs).
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }
}
