//! Block device mappings: which volume is attached to which server, through which
//! Block Storage attachment, as which device, and how to reach its data
//! (`connection_info` without any key material).
//!
//! A row is written `attaching` before the driver attach and becomes `attached` once
//! Cinder completed the attachment; a detach marks it `detaching` first. Rows left in
//! `attaching`/`detaching` by a restart are settled by the restart reconciliation.

use rustack_common::Error;
use rustack_db::{db_internal, Migration};
use sqlx::{AnyConnection, Row};

/// The block device mapping migrations (versions 30..=39 belong to the volumes work).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 30,
    name: "block_device_mappings",
    sql: r#"
CREATE TABLE block_device_mappings (uuid TEXT PRIMARY KEY, instance_uuid TEXT NOT NULL, volume_id TEXT NOT NULL, attachment_id TEXT, device_name TEXT, tag TEXT, delete_on_termination BIGINT NOT NULL, boot_index BIGINT, source_type TEXT NOT NULL, source_id TEXT, destination_type TEXT NOT NULL, volume_size BIGINT, volume_type TEXT, connection_info TEXT, state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT);
CREATE INDEX block_device_mappings_instance ON block_device_mappings (instance_uuid);
CREATE INDEX block_device_mappings_volume ON block_device_mappings (volume_id);
"#,
}];

/// `requested`: asked for at server create; the build makes (or finds) the volume.
pub const REQUESTED: &str = "requested";
/// `attaching`: reserved in Cinder, the driver attach may not have happened.
pub const ATTACHING: &str = "attaching";
/// `attached`: Cinder's attachment is complete.
pub const ATTACHED: &str = "attached";
/// `detaching`: a detach began.
pub const DETACHING: &str = "detaching";

/// One block device mapping row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bdm {
    /// The mapping's own id (`bdm_uuid` at 2.89).
    pub uuid: String,
    /// The server.
    pub instance_uuid: String,
    /// The volume.
    pub volume_id: String,
    /// Cinder's attachment id.
    pub attachment_id: Option<String>,
    /// `/dev/vdb`...
    pub device_name: Option<String>,
    /// Device tag (2.49).
    pub tag: Option<String>,
    /// Delete the volume with the server.
    pub delete_on_termination: bool,
    /// Boot order (`Some(0)`: the root disk).
    pub boot_index: Option<i64>,
    /// `volume`, `image`, `snapshot`, `blank`.
    pub source_type: String,
    /// The image or snapshot a volume is made from.
    pub source_id: Option<String>,
    /// `volume`.
    pub destination_type: String,
    /// GiB.
    pub volume_size: Option<i64>,
    /// The volume type of a volume to create.
    pub volume_type: Option<String>,
    /// Cinder's connection_info (`{"driver_volume_type", "data"}`) as JSON, no keys.
    pub connection_info: Option<String>,
    /// [`ATTACHING`], [`ATTACHED`] or [`DETACHING`].
    pub state: String,
    /// Creation time.
    pub created_at: String,
}

fn row(r: &sqlx::any::AnyRow) -> Result<Bdm, Error> {
    let g = |k: &str| r.try_get::<Option<String>, _>(k).map_err(db_internal);
    Ok(Bdm {
        uuid: r.try_get("uuid").map_err(db_internal)?,
        instance_uuid: r.try_get("instance_uuid").map_err(db_internal)?,
        volume_id: r.try_get("volume_id").map_err(db_internal)?,
        attachment_id: g("attachment_id")?,
        device_name: g("device_name")?,
        tag: g("tag")?,
        delete_on_termination: r
            .try_get::<i64, _>("delete_on_termination")
            .map_err(db_internal)?
            != 0,
        boot_index: r.try_get("boot_index").map_err(db_internal)?,
        source_type: r.try_get("source_type").map_err(db_internal)?,
        source_id: g("source_id")?,
        destination_type: r.try_get("destination_type").map_err(db_internal)?,
        volume_size: r.try_get("volume_size").map_err(db_internal)?,
        volume_type: g("volume_type")?,
        connection_info: g("connection_info")?,
        state: r.try_get("state").map_err(db_internal)?,
        created_at: r.try_get("created_at").map_err(db_internal)?,
    })
}

/// Inserts a mapping.
pub async fn insert(c: &mut AnyConnection, b: &Bdm) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO block_device_mappings (uuid, instance_uuid, volume_id, attachment_id, device_name, tag, delete_on_termination, boot_index, source_type, destination_type, volume_size, connection_info, state, created_at, source_id, volume_type) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&b.uuid)
    .bind(&b.instance_uuid)
    .bind(&b.volume_id)
    .bind(&b.attachment_id)
    .bind(&b.device_name)
    .bind(&b.tag)
    .bind(i64::from(b.delete_on_termination))
    .bind(b.boot_index)
    .bind(&b.source_type)
    .bind(&b.destination_type)
    .bind(b.volume_size)
    .bind(&b.connection_info)
    .bind(&b.state)
    .bind(&b.created_at)
    .bind(&b.source_id)
    .bind(&b.volume_type)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Writes every mutable column of `b`.
pub async fn update(c: &mut AnyConnection, b: &Bdm, at: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE block_device_mappings SET volume_id = $11, attachment_id = $1, device_name = $2, tag = $3, delete_on_termination = $4, boot_index = $5, volume_size = $6, connection_info = $7, state = $8, updated_at = $9 WHERE uuid = $10",
    )
    .bind(&b.attachment_id)
    .bind(&b.device_name)
    .bind(&b.tag)
    .bind(i64::from(b.delete_on_termination))
    .bind(b.boot_index)
    .bind(b.volume_size)
    .bind(&b.connection_info)
    .bind(&b.state)
    .bind(at)
    .bind(&b.uuid)
    .bind(&b.volume_id)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Deletes a mapping.
pub async fn delete(c: &mut AnyConnection, uuid: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM block_device_mappings WHERE uuid = $1")
        .bind(uuid)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// The mappings of a server, boot volume first, then in attach order.
pub async fn for_instance(c: &mut AnyConnection, instance: &str) -> Result<Vec<Bdm>, Error> {
    let rows = sqlx::query(
        "SELECT * FROM block_device_mappings WHERE instance_uuid = $1 ORDER BY created_at, uuid",
    )
    .bind(instance)
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    let mut out = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
    // Boot volume first; others keep their attach order (stable sort).
    out.sort_by_key(|b| b.boot_index.map_or(i64::MAX, |i| i.max(0)));
    Ok(out)
}

/// Deletes every mapping of a server that holds no Block Storage attachment (the
/// others wait for the reconciliation to delete their attachment first).
pub async fn delete_for_instance(c: &mut AnyConnection, instance: &str) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM block_device_mappings WHERE instance_uuid = $1 AND attachment_id IS NULL",
    )
    .bind(instance)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

/// Reads one mapping.
pub async fn get(c: &mut AnyConnection, uuid: &str) -> Result<Option<Bdm>, Error> {
    let r = sqlx::query("SELECT * FROM block_device_mappings WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    r.as_ref().map(row).transpose()
}

/// The mappings of a volume (on any server).
pub async fn for_volume(c: &mut AnyConnection, volume: &str) -> Result<Vec<Bdm>, Error> {
    let rows = sqlx::query("SELECT * FROM block_device_mappings WHERE volume_id = $1")
        .bind(volume)
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter().map(row).collect()
}

/// Every mapping not `attached` (restart reconciliation).
pub async fn unsettled(c: &mut AnyConnection) -> Result<Vec<Bdm>, Error> {
    let rows = sqlx::query("SELECT * FROM block_device_mappings WHERE state <> 'attached'")
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter().map(row).collect()
}

/// Every mapping (restart reconciliation).
pub async fn all(c: &mut AnyConnection) -> Result<Vec<Bdm>, Error> {
    let rows = sqlx::query("SELECT * FROM block_device_mappings")
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter().map(row).collect()
}
