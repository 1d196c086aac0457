//! Images, their properties and tags.
//!
//! Status changes on the data path are compare-and-set on `status` (a second upload
//! to the same image loses the `queued → saving` race and gets 409); metadata writes
//! check and bump `generation`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use rustack_image_api::{ImageStatus, Visibility};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::{i, now_text, oi, os, s, Store};

/// One image as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageRecord {
    /// Image id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Status.
    pub status: ImageStatus,
    /// Visibility.
    pub visibility: Visibility,
    /// Owning project.
    pub owner: Option<String>,
    /// Disk format.
    pub disk_format: Option<String>,
    /// Container format.
    pub container_format: Option<String>,
    /// Data size in bytes.
    pub size: Option<i64>,
    /// Virtual size in bytes.
    pub virtual_size: Option<i64>,
    /// MD5 hex.
    pub checksum: Option<String>,
    /// Multihash algorithm.
    pub os_hash_algo: Option<String>,
    /// Multihash hex.
    pub os_hash_value: Option<String>,
    /// Minimum disk (GB).
    pub min_disk: i64,
    /// Minimum RAM (MB).
    pub min_ram: i64,
    /// Deletion protection.
    pub protected: bool,
    /// Hidden from default lists.
    pub os_hidden: bool,
    /// Where the data lives in the image store (never shown).
    pub location: Option<String>,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
    /// Metadata write generation.
    pub generation: i64,
    /// Additional properties.
    pub properties: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeSet<String>,
}

impl ImageRecord {
    /// A new `queued` image with Glance's defaults.
    pub fn new(id: String, owner: Option<String>) -> ImageRecord {
        let now = now_text();
        ImageRecord {
            id,
            name: None,
            status: ImageStatus::Queued,
            visibility: Visibility::Shared,
            owner,
            disk_format: None,
            container_format: None,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            min_disk: 0,
            min_ram: 0,
            protected: false,
            os_hidden: false,
            location: None,
            created_at: now.clone(),
            updated_at: now,
            generation: 1,
            properties: BTreeMap::new(),
            tags: BTreeSet::new(),
        }
    }
}

/// Who is listing: Glance's `_select_images_query` inputs.
#[derive(Clone, Debug)]
pub struct ListScope {
    /// Admins see every image.
    pub admin: bool,
    /// The caller's project.
    pub project: Option<String>,
    /// Shared images are listed for members with this status (`None` = any).
    pub member_status: Option<String>,
    /// The `visibility` filter (`Some("all")` = every visibility).
    pub visibility: Option<String>,
}

/// Comparison operators of Glance's filter syntax (`gt:2020-01-01T00:00:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `<>`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Neq => "<>",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }
}

/// One list filter. Column names come from the closed set the API layer maps
/// query parameters to, never from the request.
#[derive(Clone, Debug, PartialEq)]
pub enum ListFilter {
    /// A text column compared with a value.
    Text(&'static str, Op, String),
    /// A text column within a set (`in:a,b`).
    TextIn(&'static str, Vec<String>),
    /// An integer column compared with a value.
    Int(&'static str, Op, i64),
    /// A boolean column.
    Bool(&'static str, bool),
    /// The image carries this tag.
    Tag(String),
    /// The image has this property value.
    Property(String, String),
}

enum Bind {
    Text(String),
    Int(i64),
}

fn bind_all<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    binds: &'q [Bind],
) -> Query<'q, Any, AnyArguments<'q>> {
    for bnd in binds {
        q = match bnd {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Int(n) => q.bind(*n),
        };
    }
    q
}

const COLUMNS: &str = "id, name, status, visibility, owner, disk_format, container_format, size, \
    virtual_size, checksum, os_hash_algo, os_hash_value, min_disk, min_ram, protected, os_hidden, \
    location, created_at, updated_at, generation";

fn record(row: &DbRow) -> Result<ImageRecord, Error> {
    let status = s(row, "status")?;
    let visibility = s(row, "visibility")?;
    Ok(ImageRecord {
        id: s(row, "id")?,
        name: os(row, "name")?,
        status: ImageStatus::parse(&status).ok_or_else(|| {
            Error::internal(format!("unknown image status {status:?} in database"))
        })?,
        visibility: Visibility::parse(&visibility).ok_or_else(|| {
            Error::internal(format!("unknown visibility {visibility:?} in database"))
        })?,
        owner: os(row, "owner")?,
        disk_format: os(row, "disk_format")?,
        container_format: os(row, "container_format")?,
        size: oi(row, "size")?,
        virtual_size: oi(row, "virtual_size")?,
        checksum: os(row, "checksum")?,
        os_hash_algo: os(row, "os_hash_algo")?,
        os_hash_value: os(row, "os_hash_value")?,
        min_disk: i(row, "min_disk")?,
        min_ram: i(row, "min_ram")?,
        protected: i(row, "protected")? != 0,
        os_hidden: i(row, "os_hidden")? != 0,
        location: os(row, "location")?,
        created_at: s(row, "created_at")?,
        updated_at: s(row, "updated_at")?,
        generation: i(row, "generation")?,
        properties: BTreeMap::new(),
        tags: BTreeSet::new(),
    })
}

impl Store {
    /// Inserts a new image with its properties and tags; 409 if the id was ever used.
    pub async fn image_insert(&self, img: &ImageRecord) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        sqlx::query(&format!(
            "INSERT INTO images ({COLUMNS}, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 0)"
        ))
        .bind(&img.id)
        .bind(&img.name)
        .bind(img.status.as_str())
        .bind(img.visibility.as_str())
        .bind(&img.owner)
        .bind(&img.disk_format)
        .bind(&img.container_format)
        .bind(img.size)
        .bind(img.virtual_size)
        .bind(&img.checksum)
        .bind(&img.os_hash_algo)
        .bind(&img.os_hash_value)
        .bind(img.min_disk)
        .bind(img.min_ram)
        .bind(b(img.protected))
        .bind(b(img.os_hidden))
        .bind(&img.location)
        .bind(&img.created_at)
        .bind(&img.updated_at)
        .bind(img.generation)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("Image with identifier {} already exists!", img.id)
            })
        })?;
        write_children(&mut tx, img).await?;
        tx.commit().await.map_err(db_internal)
    }

    /// The live (not deleted) image `id` with properties and tags.
    pub async fn image_get(&self, id: &str) -> Result<Option<ImageRecord>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM images WHERE id = $1 AND deleted = 0"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        let Some(row) = row else { return Ok(None) };
        let mut img = record(&row)?;
        self.load_children(std::slice::from_mut(&mut img)).await?;
        Ok(Some(img))
    }

    /// Loads properties and tags into `imgs`.
    pub async fn load_children(&self, imgs: &mut [ImageRecord]) -> Result<(), Error> {
        for chunk in imgs.chunks_mut(400) {
            if chunk.is_empty() {
                continue;
            }
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let ids: Vec<Bind> = chunk.iter().map(|i| Bind::Text(i.id.clone())).collect();
            let idx: HashMap<String, usize> = chunk
                .iter()
                .enumerate()
                .map(|(n, i)| (i.id.clone(), n))
                .collect();
            let sql = format!(
                "SELECT image_id, name, value FROM image_properties WHERE image_id IN ({})",
                placeholders.join(", ")
            );
            let rows = bind_all(sqlx::query(&sql), &ids)
                .fetch_all(self.pool())
                .await
                .map_err(db_internal)?;
            for row in &rows {
                if let Some(&n) = idx.get(&s(row, "image_id")?) {
                    chunk[n]
                        .properties
                        .insert(s(row, "name")?, s(row, "value")?);
                }
            }
            let sql = format!(
                "SELECT image_id, value FROM image_tags WHERE image_id IN ({})",
                placeholders.join(", ")
            );
            let rows = bind_all(sqlx::query(&sql), &ids)
                .fetch_all(self.pool())
                .await
                .map_err(db_internal)?;
            for row in &rows {
                if let Some(&n) = idx.get(&s(row, "image_id")?) {
                    chunk[n].tags.insert(s(row, "value")?);
                }
            }
        }
        Ok(())
    }

    /// Images the scope may list that match every filter, without properties and
    /// tags (callers sort and page, then [`Store::load_children`] for the page).
    pub async fn image_list(
        &self,
        scope: &ListScope,
        filters: &[ListFilter],
    ) -> Result<Vec<ImageRecord>, Error> {
        let mut binds: Vec<Bind> = vec![];
        let ph = |binds: &mut Vec<Bind>, v: Bind| {
            binds.push(v);
            format!("${}", binds.len())
        };
        let mut wh: Vec<String> = vec!["deleted = 0".into(), "status <> 'killed'".into()];
        if !scope.admin {
            let mut any = vec!["visibility IN ('public', 'community')".to_string()];
            if let Some(p) = &scope.project {
                any.push(format!("owner = {}", ph(&mut binds, Bind::Text(p.clone()))));
                let mut member = format!(
                    "visibility = 'shared' AND EXISTS (SELECT 1 FROM image_members m WHERE \
                     m.image_id = images.id AND m.member = {}",
                    ph(&mut binds, Bind::Text(p.clone()))
                );
                if let Some(st) = &scope.member_status {
                    member.push_str(&format!(
                        " AND m.status = {}",
                        ph(&mut binds, Bind::Text(st.clone()))
                    ));
                }
                member.push(')');
                any.push(member);
            }
            wh.push(format!("({})", any.join(" OR ")));
        }
        match (&scope.visibility, &scope.project) {
            (Some(v), _) if v == "all" => {}
            (Some(v), _) => wh.push(format!(
                "visibility = {}",
                ph(&mut binds, Bind::Text(v.clone()))
            )),
            (None, None) => wh.push("visibility <> 'community'".into()),
            (None, Some(p)) => wh.push(format!(
                "(owner = {} OR visibility <> 'community')",
                ph(&mut binds, Bind::Text(p.clone()))
            )),
        }
        for f in filters {
            let clause = match f {
                ListFilter::Text(col, op, v) => {
                    format!("{col} {} {}", op.sql(), ph(&mut binds, Bind::Text(v.clone())))
                }
                ListFilter::TextIn(col, vs) => {
                    if vs.is_empty() {
                        "1 = 0".to_string()
                    } else {
                        let list: Vec<String> = vs
                            .iter()
                            .map(|v| ph(&mut binds, Bind::Text(v.clone())))
                            .collect();
                        format!("{col} IN ({})", list.join(", "))
                    }
                }
                ListFilter::Int(col, op, v) => {
                    format!("{col} {} {}", op.sql(), ph(&mut binds, Bind::Int(*v)))
                }
                ListFilter::Bool(col, v) => format!("{col} = {}", ph(&mut binds, Bind::Int(b(*v)))),
                ListFilter::Tag(t) => format!(
                    "EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = images.id AND t.value = {})",
                    ph(&mut binds, Bind::Text(t.clone()))
                ),
                ListFilter::Property(k, v) => {
                    let k = ph(&mut binds, Bind::Text(k.clone()));
                    let v = ph(&mut binds, Bind::Text(v.clone()));
                    format!(
                        "EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = images.id \
                         AND p.name = {k} AND p.value = {v})"
                    )
                }
            };
            wh.push(clause);
        }
        let sql = format!("SELECT {COLUMNS} FROM images WHERE {}", wh.join(" AND "));
        let rows = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(record).collect()
    }

    /// Rewrites the metadata of `img` (name, visibility, formats, flags, owner,
    /// properties, tags) if its generation is still `img.generation`; false when
    /// another write came first. Status and data columns are left alone.
    pub async fn image_update_metadata(&self, img: &ImageRecord) -> Result<bool, Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        let done = sqlx::query(
            "UPDATE images SET name = $1, visibility = $2, owner = $3, disk_format = $4, \
             container_format = $5, min_disk = $6, min_ram = $7, protected = $8, os_hidden = $9, \
             updated_at = $10, generation = generation + 1 \
             WHERE id = $11 AND deleted = 0 AND generation = $12",
        )
        .bind(&img.name)
        .bind(img.visibility.as_str())
        .bind(&img.owner)
        .bind(&img.disk_format)
        .bind(&img.container_format)
        .bind(img.min_disk)
        .bind(img.min_ram)
        .bind(b(img.protected))
        .bind(b(img.os_hidden))
        .bind(now_text())
        .bind(&img.id)
        .bind(img.generation)
        .execute(&mut *tx)
        .await
        .map_err(db_internal)?
        .rows_affected();
        if done == 0 {
            return Ok(false);
        }
        for table in ["image_properties", "image_tags"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE image_id = $1"))
                .bind(&img.id)
                .execute(&mut *tx)
                .await
                .map_err(db_internal)?;
        }
        write_children(&mut tx, img).await?;
        tx.commit().await.map_err(db_internal)?;
        Ok(true)
    }

    /// Moves `id` from one of `from` to `to` (compare-and-set); false if the image is
    /// gone or in another status. Moving to `queued` clears size and virtual size.
    pub async fn image_set_status(
        &self,
        id: &str,
        from: &[ImageStatus],
        to: ImageStatus,
    ) -> Result<bool, Error> {
        let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let clear = if to == ImageStatus::Queued {
            ", size = NULL, virtual_size = NULL, location = NULL"
        } else {
            ""
        };
        let n = sqlx::query(&format!(
            "UPDATE images SET status = $1, updated_at = $2{clear} WHERE id = $3 AND deleted = 0 \
             AND status IN ({})",
            list.join(", ")
        ))
        .bind(to.as_str())
        .bind(now_text())
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?
        .rows_affected();
        Ok(n > 0)
    }

    /// Records the staged data (size and staging-store location) of an `uploading`
    /// image; the location column holds the staged object until the import moves it.
    pub async fn image_set_staged(
        &self,
        id: &str,
        size: i64,
        location: &str,
    ) -> Result<bool, Error> {
        let n = sqlx::query(
            "UPDATE images SET size = $1, location = $2, updated_at = $3 WHERE id = $4 \
             AND deleted = 0 AND status = 'uploading'",
        )
        .bind(size)
        .bind(location)
        .bind(now_text())
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?
        .rows_affected();
        Ok(n > 0)
    }

    /// Completes an upload or import: `from` → `active` with the data's facts, if the
    /// image is still in `from` (false when it was deleted meanwhile).
    #[allow(clippy::too_many_arguments)]
    pub async fn image_activate(
        &self,
        id: &str,
        from: ImageStatus,
        size: i64,
        virtual_size: Option<i64>,
        checksum: &str,
        hash_algo: &str,
        hash_value: &str,
        location: &str,
    ) -> Result<bool, Error> {
        let n = sqlx::query(
            "UPDATE images SET status = 'active', size = $1, virtual_size = $2, checksum = $3, \
             os_hash_algo = $4, os_hash_value = $5, location = $6, updated_at = $7 \
             WHERE id = $8 AND deleted = 0 AND status = $9",
        )
        .bind(size)
        .bind(virtual_size)
        .bind(checksum)
        .bind(hash_algo)
        .bind(hash_value)
        .bind(location)
        .bind(now_text())
        .bind(id)
        .bind(from.as_str())
        .execute(self.pool())
        .await
        .map_err(db_internal)?
        .rows_affected();
        Ok(n > 0)
    }

    /// Soft-deletes `id` (status `deleted`; the id is never reused) and drops its
    /// properties, tags and members; returns the record as it was, or `None` if it was
    /// already gone.
    pub async fn image_delete(&self, id: &str) -> Result<Option<ImageRecord>, Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM images WHERE id = $1 AND deleted = 0"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_internal)?;
        let Some(row) = row else { return Ok(None) };
        let img = record(&row)?;
        let now = now_text();
        sqlx::query(
            "UPDATE images SET deleted = 1, deleted_at = $1, updated_at = $1, status = 'deleted', \
             location = NULL WHERE id = $2",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_internal)?;
        for table in ["image_properties", "image_tags", "image_members"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE image_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_internal)?;
        }
        tx.commit().await.map_err(db_internal)?;
        Ok(Some(img))
    }

    /// Live images owned by `owner`.
    pub async fn image_count_owned(&self, owner: &str) -> Result<i64, Error> {
        self.scalar(
            "SELECT COUNT(*) AS n FROM images WHERE owner = $1 AND deleted = 0",
            owner,
        )
        .await
    }

    /// Bytes of data stored for `owner`'s live images (active or deactivated).
    pub async fn image_size_used(&self, owner: &str) -> Result<i64, Error> {
        self.scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM images WHERE owner = $1 AND deleted = 0 \
             AND status IN ('active', 'deactivated')",
            owner,
        )
        .await
    }

    /// Bytes staged by `owner` (images in `uploading` or `importing`).
    pub async fn image_staged_used(&self, owner: &str) -> Result<i64, Error> {
        self.scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM images WHERE owner = $1 AND deleted = 0 \
             AND status IN ('uploading', 'importing')",
            owner,
        )
        .await
    }

    /// `owner`'s images currently receiving data.
    pub async fn image_count_uploading(&self, owner: &str) -> Result<i64, Error> {
        self.scalar(
            "SELECT COUNT(*) AS n FROM images WHERE owner = $1 AND deleted = 0 \
             AND status IN ('saving', 'uploading', 'importing')",
            owner,
        )
        .await
    }

    async fn scalar(&self, sql: &str, arg: &str) -> Result<i64, Error> {
        let row = sqlx::query(sql)
            .bind(arg)
            .fetch_one(self.pool())
            .await
            .map_err(db_internal)?;
        i(&row, "n")
    }

    /// Ids and statuses of images left mid-transfer by a previous process.
    pub async fn image_in_flight(&self) -> Result<Vec<(String, ImageStatus)>, Error> {
        let rows = sqlx::query(
            "SELECT id, status FROM images WHERE deleted = 0 \
             AND status IN ('saving', 'uploading', 'importing')",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        let mut out = vec![];
        for row in &rows {
            let st = s(row, "status")?;
            if let Some(st) = ImageStatus::parse(&st) {
                out.push((s(row, "id")?, st));
            }
        }
        Ok(out)
    }

    /// Locations of every live image (for store garbage checks).
    pub async fn image_locations(&self) -> Result<Vec<String>, Error> {
        let rows =
            sqlx::query("SELECT location FROM images WHERE deleted = 0 AND location IS NOT NULL")
                .fetch_all(self.pool())
                .await
                .map_err(db_internal)?;
        rows.iter().map(|r| s(r, "location")).collect()
    }
}

async fn write_children(
    tx: &mut sqlx::Transaction<'_, Any>,
    img: &ImageRecord,
) -> Result<(), Error> {
    for (k, v) in &img.properties {
        sqlx::query("INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(&img.id)
            .bind(k)
            .bind(v)
            .execute(&mut **tx)
            .await
            .map_err(db_internal)?;
    }
    for t in &img.tags {
        sqlx::query("INSERT INTO image_tags (image_id, value) VALUES ($1, $2)")
            .bind(&img.id)
            .bind(t)
            .execute(&mut **tx)
            .await
            .map_err(db_internal)?;
    }
    Ok(())
}
