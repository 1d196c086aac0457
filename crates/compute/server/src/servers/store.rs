//! SQL of the servers work: instances (a JSON document of the whole record plus the
//! columns that are filtered or sorted on), their metadata, the NICs the build made
//! or bound, the instance actions with their events, and the build step log.
//!
//! Every state change of an instance goes through [`update_instance`], an optimistic
//! write guarded by the row's `generation`: two concurrent writers never both win.

use std::collections::BTreeMap;

use rustack_common::Error;
use rustack_db::{db_internal, Migration};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

/// Migrations 10..=19 of the compute schema (the servers range).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 10,
    name: "servers",
    sql: r#"
CREATE TABLE instances (uuid TEXT PRIMARY KEY, internal_id BIGINT NOT NULL UNIQUE, project_id TEXT NOT NULL, user_id TEXT NOT NULL, display_name TEXT NOT NULL, host TEXT, vm_state TEXT NOT NULL, task_state TEXT, deleted BIGINT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT, generation BIGINT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX instances_project ON instances (project_id, deleted);
CREATE INDEX instances_host ON instances (host, deleted);
CREATE TABLE instance_metadata (instance_uuid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (instance_uuid, key));
CREATE TABLE instance_actions (id BIGINT PRIMARY KEY, instance_uuid TEXT NOT NULL, action TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT NOT NULL, project_id TEXT NOT NULL, start_time TEXT NOT NULL, finish_time TEXT, message TEXT, events TEXT NOT NULL);
CREATE INDEX instance_actions_instance ON instance_actions (instance_uuid);
CREATE TABLE build_steps (instance_uuid TEXT NOT NULL, seq BIGINT NOT NULL, step TEXT NOT NULL, data TEXT NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (instance_uuid, seq));
"#,
}];

/// The flavor an instance was built with (copied, as Nova keeps `instance.flavor`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlavorSnapshot {
    /// Flavor id.
    pub flavorid: String,
    /// Name.
    pub name: String,
    /// vCPUs.
    pub vcpus: i64,
    /// MiB.
    pub memory_mb: i64,
    /// GiB.
    pub root_gb: i64,
    /// GiB.
    pub ephemeral_gb: i64,
    /// MiB.
    pub swap: i64,
    /// Extra specs.
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
}

/// One NIC of an instance (Nova's network info cache entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    /// Port id.
    pub port_id: String,
    /// Network id.
    pub network_id: String,
    /// Network name (the `addresses` label).
    pub network_name: String,
    /// MAC.
    pub mac: String,
    /// Fixed IPs.
    pub ips: Vec<String>,
    /// MTU.
    pub mtu: u32,
    /// Whether the build created the port (deleted with the server) or it was given.
    pub created: bool,
    /// Device tag.
    #[serde(default)]
    pub tag: Option<String>,
}

/// A fault recorded on an instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// Code.
    pub code: u16,
    /// Message.
    pub message: String,
    /// Details.
    pub details: String,
    /// When.
    pub created: String,
}

/// Where a shelved server's guest went (Nova's `shelved_*` system metadata).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shelved {
    /// The `<name>-shelved` snapshot image (none for a volume-backed server).
    pub image_id: Option<String>,
    /// When it was shelved.
    pub at: String,
    /// The host that keeps the powered-off guest until it is offloaded.
    pub host: Option<String>,
}

/// An instance row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// UUID.
    pub uuid: String,
    /// Sequential id (`instance-%08x`).
    pub internal_id: i64,
    /// Owner.
    pub project_id: String,
    /// Creator.
    pub user_id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `vm_state`.
    pub vm_state: String,
    /// `task_state`.
    pub task_state: Option<String>,
    /// power_state number.
    pub power_state: u8,
    /// Compute host.
    pub host: Option<String>,
    /// Hypervisor hostname.
    pub node: Option<String>,
    /// Resource provider the allocation is on.
    pub provider: Option<String>,
    /// Availability zone the server is in.
    pub availability_zone: String,
    /// The AZ the user asked for.
    pub requested_az: Option<String>,
    /// Image.
    pub image_ref: Option<String>,
    /// Flavor.
    pub flavor: FlavorSnapshot,
    /// Previous flavor during a resize.
    pub old_flavor: Option<FlavorSnapshot>,
    /// New flavor during a resize.
    pub new_flavor: Option<FlavorSnapshot>,
    /// Key pair name.
    pub key_name: Option<String>,
    /// Key pair public key.
    pub key_data: Option<String>,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// Access IPv4.
    pub access_ipv4: String,
    /// Access IPv6.
    pub access_ipv6: String,
    /// `AUTO`/`MANUAL`.
    pub disk_config: String,
    /// Config drive.
    pub config_drive: bool,
    /// Locked.
    pub locked: bool,
    /// `admin` or `owner`.
    pub locked_by: Option<String>,
    /// Reason.
    pub locked_reason: Option<String>,
    /// `r-xxxxxxxx`.
    pub reservation_id: String,
    /// Index in a multi-create.
    pub launch_index: u32,
    /// Guest hostname.
    pub hostname: String,
    /// Progress.
    pub progress: u8,
    /// Security group names.
    pub security_groups: Vec<String>,
    /// Requested NICs (JSON of the request, for the build).
    pub requested_networks: serde_json::Value,
    /// Scheduler hints.
    pub scheduler_hints: serde_json::Map<String, serde_json::Value>,
    /// Server group.
    pub group: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Certificates trusted to sign the image (2.63).
    #[serde(default)]
    pub trusted_certs: Option<Vec<String>>,
    /// NICs.
    pub nics: Vec<Nic>,
    /// Fault.
    pub fault: Option<FaultRecord>,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: String,
    /// Launched.
    pub launched_at: Option<String>,
    /// Terminated.
    pub terminated_at: Option<String>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Deleted at.
    pub deleted_at: Option<String>,
    /// While shelved: the snapshot image, when, and the host keeping the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shelved: Option<Shelved>,
    /// The encrypted password the guest posted to the metadata service
    /// (`os-server-password`; Nova's `password_*` system metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Optimistic concurrency counter.
    pub generation: i64,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Instance, Error> {
    let doc: String = r.try_get("doc").map_err(db_internal)?;
    let mut i: Instance = serde_json::from_str(&doc)
        .map_err(|e| Error::internal(format!("corrupt instance document: {e}")))?;
    i.generation = r.try_get("generation").map_err(db_internal)?;
    Ok(i)
}

fn doc(i: &Instance) -> Result<String, Error> {
    serde_json::to_string(i).map_err(|e| Error::internal(format!("instance document: {e}")))
}

/// Inserts a new instance (its `internal_id` is assigned here); returns it.
pub async fn insert_instance(c: &mut AnyConnection, i: &Instance) -> Result<Instance, Error> {
    let mut i = i.clone();
    for _attempt in 0..5 {
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(internal_id), 0) + 1 AS n FROM instances")
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_internal)?;
        i.internal_id = next;
        i.generation = 1;
        let res = sqlx::query(
            "INSERT INTO instances (uuid, internal_id, project_id, user_id, display_name, host, \
             vm_state, task_state, deleted, created_at, updated_at, deleted_at, generation, doc) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, NULL, 1, $11)",
        )
        .bind(&i.uuid)
        .bind(i.internal_id)
        .bind(&i.project_id)
        .bind(&i.user_id)
        .bind(&i.name)
        .bind(&i.host)
        .bind(&i.vm_state)
        .bind(&i.task_state)
        .bind(&i.created_at)
        .bind(&i.updated_at)
        .bind(doc(&i)?)
        .execute(&mut *c)
        .await;
        match res {
            Ok(_) => return Ok(i),
            Err(e) if rustack_db::is_unique_violation(&e) => continue,
            Err(e) => return Err(db_internal(e)),
        }
    }
    Err(Error::internal("could not allocate an instance id"))
}

/// Writes `i` if its row still has `i.generation`; returns the stored instance (with
/// the new generation) or `Ok(None)` when someone else wrote first.
pub async fn update_instance(
    c: &mut AnyConnection,
    i: &Instance,
) -> Result<Option<Instance>, Error> {
    let mut n = i.clone();
    n.generation = i.generation + 1;
    let res = sqlx::query(
        "UPDATE instances SET display_name = $1, host = $2, vm_state = $3, task_state = $4, \
         deleted = $5, updated_at = $6, deleted_at = $7, generation = $8, doc = $9 \
         WHERE uuid = $10 AND generation = $11",
    )
    .bind(&n.name)
    .bind(&n.host)
    .bind(&n.vm_state)
    .bind(&n.task_state)
    .bind(i64::from(n.deleted))
    .bind(&n.updated_at)
    .bind(&n.deleted_at)
    .bind(n.generation)
    .bind(doc(&n)?)
    .bind(&n.uuid)
    .bind(i.generation)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok((res.rows_affected() == 1).then_some(n))
}

/// The instance with `uuid` (deleted ones too when `with_deleted`).
pub async fn get_instance(
    c: &mut AnyConnection,
    uuid: &str,
    with_deleted: bool,
) -> Result<Option<Instance>, Error> {
    let sql = if with_deleted {
        "SELECT doc, generation FROM instances WHERE uuid = $1"
    } else {
        "SELECT doc, generation FROM instances WHERE uuid = $1 AND deleted = 0"
    };
    let row = sqlx::query(sql)
        .bind(uuid)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
    row.as_ref().map(from_row).transpose()
}

/// Instances, optionally of one project and/or host, deleted ones included or not.
pub async fn list_instances(
    c: &mut AnyConnection,
    project_id: Option<&str>,
    host: Option<&str>,
    with_deleted: bool,
) -> Result<Vec<Instance>, Error> {
    let mut sql = String::from("SELECT doc, generation FROM instances WHERE 1 = 1");
    let mut binds: Vec<&str> = Vec::new();
    if let Some(p) = project_id {
        binds.push(p);
        sql.push_str(&format!(" AND project_id = ${}", binds.len()));
    }
    if let Some(h) = host {
        binds.push(h);
        sql.push_str(&format!(" AND host = ${}", binds.len()));
    }
    if !with_deleted {
        sql.push_str(" AND deleted = 0");
    }
    sql.push_str(" ORDER BY created_at DESC, internal_id DESC");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(&mut *c).await.map_err(db_internal)?;
    rows.iter().map(from_row).collect()
}

/// Instances whose `vm_state`/`task_state` say an operation is in flight (restart
/// recovery).
pub async fn unfinished(c: &mut AnyConnection) -> Result<Vec<Instance>, Error> {
    let rows = sqlx::query(
        "SELECT doc, generation FROM instances WHERE deleted = 0 AND \
         (vm_state = 'building' OR task_state IS NOT NULL)",
    )
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter().map(from_row).collect()
}

/// Usage of a project (or user): (instances, cores, ram).
pub async fn usage(
    c: &mut AnyConnection,
    project_id: &str,
    user_id: Option<&str>,
) -> Result<(i64, i64, i64), Error> {
    let rows = match user_id {
        Some(u) => sqlx::query(
            "SELECT doc, generation FROM instances WHERE project_id = $1 AND user_id = $2 AND deleted = 0",
        )
        .bind(project_id)
        .bind(u)
        .fetch_all(&mut *c)
        .await,
        None => sqlx::query(
            "SELECT doc, generation FROM instances WHERE project_id = $1 AND deleted = 0",
        )
        .bind(project_id)
        .fetch_all(&mut *c)
        .await,
    }
    .map_err(db_internal)?;
    let mut out = (0, 0, 0);
    for r in &rows {
        let i = from_row(r)?;
        out.0 += 1;
        out.1 += i.flavor.vcpus;
        out.2 += i.flavor.memory_mb;
    }
    Ok(out)
}

/// Metadata of an instance.
pub async fn get_metadata(
    c: &mut AnyConnection,
    uuid: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let rows = sqlx::query("SELECT key, value FROM instance_metadata WHERE instance_uuid = $1")
        .bind(uuid)
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("key").map_err(db_internal)?,
                r.try_get::<String, _>("value").map_err(db_internal)?,
            ))
        })
        .collect()
}

/// Replaces (`replace`) or merges the metadata of an instance.
pub async fn set_metadata(
    c: &mut AnyConnection,
    uuid: &str,
    items: &BTreeMap<String, String>,
    replace: bool,
) -> Result<(), Error> {
    if replace {
        sqlx::query("DELETE FROM instance_metadata WHERE instance_uuid = $1")
            .bind(uuid)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
    }
    for (k, v) in items {
        sqlx::query("DELETE FROM instance_metadata WHERE instance_uuid = $1 AND key = $2")
            .bind(uuid)
            .bind(k)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
        sqlx::query(
            "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
        )
        .bind(uuid)
        .bind(k)
        .bind(v)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    }
    Ok(())
}

/// Deletes one metadata key; false if it did not exist.
pub async fn delete_metadata_key(
    c: &mut AnyConnection,
    uuid: &str,
    key: &str,
) -> Result<bool, Error> {
    let r = sqlx::query("DELETE FROM instance_metadata WHERE instance_uuid = $1 AND key = $2")
        .bind(uuid)
        .bind(key)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}

/// An event of an instance action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionEvent {
    /// `compute_stop_instance`...
    pub event: String,
    /// Start.
    pub start_time: String,
    /// Finish.
    pub finish_time: Option<String>,
    /// `Success`/`Error`.
    pub result: Option<String>,
    /// Error text (admins).
    pub traceback: Option<String>,
}

/// An instance action (`os-instance-actions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionRecord {
    /// Row id.
    pub id: i64,
    /// Server.
    pub instance_uuid: String,
    /// `create`, `reboot`...
    pub action: String,
    /// The request id.
    pub request_id: String,
    /// Who.
    pub user_id: String,
    /// Project.
    pub project_id: String,
    /// When.
    pub start_time: String,
    /// Finished.
    pub finish_time: Option<String>,
    /// `Error` on failure.
    pub message: Option<String>,
    /// Events.
    pub events: Vec<ActionEvent>,
}

/// Records an action start; returns its id.
pub async fn insert_action(c: &mut AnyConnection, a: &ActionRecord) -> Result<i64, Error> {
    for _ in 0..5 {
        let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM instance_actions")
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_internal)?;
        let res = sqlx::query(
            "INSERT INTO instance_actions (id, instance_uuid, action, request_id, user_id, project_id, \
             start_time, finish_time, message, events) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, '[]')",
        )
        .bind(id)
        .bind(&a.instance_uuid)
        .bind(&a.action)
        .bind(&a.request_id)
        .bind(&a.user_id)
        .bind(&a.project_id)
        .bind(&a.start_time)
        .execute(&mut *c)
        .await;
        match res {
            Ok(_) => return Ok(id),
            Err(e) if rustack_db::is_unique_violation(&e) => continue,
            Err(e) => return Err(db_internal(e)),
        }
    }
    Err(Error::internal("could not allocate an action id"))
}

/// Finishes an action with its events (`message = Some("Error")` on failure).
pub async fn finish_action(
    c: &mut AnyConnection,
    id: i64,
    finish: &str,
    message: Option<&str>,
    events: &[ActionEvent],
) -> Result<(), Error> {
    let ev = serde_json::to_string(events).map_err(|e| Error::internal(e.to_string()))?;
    sqlx::query(
        "UPDATE instance_actions SET finish_time = $1, message = $2, events = $3 WHERE id = $4",
    )
    .bind(finish)
    .bind(message)
    .bind(ev)
    .bind(id)
    .execute(&mut *c)
    .await
    .map_err(db_internal)?;
    Ok(())
}

fn action_from_row(r: &sqlx::any::AnyRow) -> Result<ActionRecord, Error> {
    let events: String = r.try_get("events").map_err(db_internal)?;
    Ok(ActionRecord {
        id: r.try_get("id").map_err(db_internal)?,
        instance_uuid: r.try_get("instance_uuid").map_err(db_internal)?,
        action: r.try_get("action").map_err(db_internal)?,
        request_id: r.try_get("request_id").map_err(db_internal)?,
        user_id: r.try_get("user_id").map_err(db_internal)?,
        project_id: r.try_get("project_id").map_err(db_internal)?,
        start_time: r.try_get("start_time").map_err(db_internal)?,
        finish_time: r.try_get("finish_time").map_err(db_internal)?,
        message: r.try_get("message").map_err(db_internal)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
    })
}

/// Actions of an instance, newest first.
pub async fn list_actions(c: &mut AnyConnection, uuid: &str) -> Result<Vec<ActionRecord>, Error> {
    let rows =
        sqlx::query("SELECT * FROM instance_actions WHERE instance_uuid = $1 ORDER BY id DESC")
            .bind(uuid)
            .fetch_all(&mut *c)
            .await
            .map_err(db_internal)?;
    rows.iter().map(action_from_row).collect()
}

/// One action by request id.
pub async fn get_action(
    c: &mut AnyConnection,
    uuid: &str,
    request_id: &str,
) -> Result<Option<ActionRecord>, Error> {
    let row = sqlx::query(
        "SELECT * FROM instance_actions WHERE instance_uuid = $1 AND request_id = $2 ORDER BY id DESC",
    )
    .bind(uuid)
    .bind(request_id)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_internal)?;
    row.as_ref().map(action_from_row).transpose()
}

/// A step of a build in the durable log: what was done, with the data its undo needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// Order.
    pub seq: i64,
    /// Step name (`claim`, `port`, `image`, `spawn`).
    pub step: String,
    /// JSON the undo needs (provider, port id, ...).
    pub data: String,
    /// `done` or `undone`.
    pub state: String,
}

/// Appends a done step to an instance's build log.
pub async fn log_step(
    c: &mut AnyConnection,
    uuid: &str,
    step: &str,
    data: &str,
    at: &str,
) -> Result<(), Error> {
    let seq: i64 = sqlx::query(
        "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM build_steps WHERE instance_uuid = $1",
    )
    .bind(uuid)
    .fetch_one(&mut *c)
    .await
    .and_then(|r| r.try_get("n"))
    .map_err(db_internal)?;
    sqlx::query("INSERT INTO build_steps (instance_uuid, seq, step, data, state, at) VALUES ($1, $2, $3, $4, 'done', $5)")
        .bind(uuid)
        .bind(seq)
        .bind(step)
        .bind(data)
        .bind(at)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// The steps of an instance's log still `done` (not undone), newest first.
pub async fn done_steps(c: &mut AnyConnection, uuid: &str) -> Result<Vec<StepRecord>, Error> {
    let rows = sqlx::query(
        "SELECT seq, step, data, state FROM build_steps WHERE instance_uuid = $1 AND state = 'done' ORDER BY seq DESC",
    )
    .bind(uuid)
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| {
            Ok(StepRecord {
                seq: r.try_get("seq").map_err(db_internal)?,
                step: r.try_get("step").map_err(db_internal)?,
                data: r.try_get("data").map_err(db_internal)?,
                state: r.try_get("state").map_err(db_internal)?,
            })
        })
        .collect()
}

/// Marks a step undone.
pub async fn undo_step(c: &mut AnyConnection, uuid: &str, seq: i64) -> Result<(), Error> {
    sqlx::query("UPDATE build_steps SET state = 'undone' WHERE instance_uuid = $1 AND seq = $2")
        .bind(uuid)
        .bind(seq)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Forgets the log of a finished build (it will never be undone).
pub async fn clear_steps(c: &mut AnyConnection, uuid: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM build_steps WHERE instance_uuid = $1")
        .bind(uuid)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(())
}

/// Reads of the core's tables the servers work needs (key pairs, hosts, zones, groups).
pub mod core {
    use std::collections::BTreeSet;

    use rustack_common::Error;
    use rustack_db::db_internal;
    use sqlx::{AnyConnection, Row};

    /// The public key of `user_id`'s key pair `name`.
    pub async fn keypair(
        c: &mut AnyConnection,
        user_id: &str,
        name: &str,
    ) -> Result<Option<String>, Error> {
        let row = sqlx::query("SELECT public_key FROM key_pairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_internal)?;
        row.map(|r| r.try_get::<String, _>("public_key").map_err(db_internal))
            .transpose()
    }

    /// A compute node joined with its service: (uuid, host, node, hypervisor_type,
    /// enabled).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct NodeRow {
        /// Provider uuid.
        pub uuid: String,
        /// Host.
        pub host: String,
        /// Hypervisor hostname.
        pub node: String,
        /// Hypervisor type.
        pub hypervisor_type: String,
        /// Service enabled and not forced down.
        pub enabled: bool,
    }

    /// Every compute node with its service state.
    pub async fn nodes(c: &mut AnyConnection) -> Result<Vec<NodeRow>, Error> {
        let rows = sqlx::query(
            "SELECT n.uuid, n.host, n.hypervisor_hostname, n.hypervisor_type, s.disabled, s.forced_down \
             FROM compute_nodes n LEFT JOIN services s ON s.id = n.service_id",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| {
                let disabled: Option<i64> = r.try_get("disabled").map_err(db_internal)?;
                let forced: Option<i64> = r.try_get("forced_down").map_err(db_internal)?;
                Ok(NodeRow {
                    uuid: r.try_get("uuid").map_err(db_internal)?,
                    host: r.try_get("host").map_err(db_internal)?,
                    node: r.try_get("hypervisor_hostname").map_err(db_internal)?,
                    hypervisor_type: r.try_get("hypervisor_type").map_err(db_internal)?,
                    enabled: disabled.unwrap_or(0) == 0 && forced.unwrap_or(0) == 0,
                })
            })
            .collect()
    }

    /// The availability zone of `host` from its aggregates' `availability_zone`
    /// metadata, if any.
    pub async fn host_zone(c: &mut AnyConnection, host: &str) -> Result<Option<String>, Error> {
        let row = sqlx::query(
            "SELECT m.value FROM aggregate_hosts h JOIN aggregate_metadata m ON m.aggregate_id = h.aggregate_id \
             WHERE h.host = $1 AND m.key = 'availability_zone'",
        )
        .bind(host)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
        row.map(|r| r.try_get::<String, _>("value").map_err(db_internal))
            .transpose()
    }

    /// Every availability zone named by an aggregate.
    pub async fn zones(c: &mut AnyConnection) -> Result<BTreeSet<String>, Error> {
        let rows = sqlx::query(
            "SELECT DISTINCT value FROM aggregate_metadata WHERE key = 'availability_zone'",
        )
        .fetch_all(&mut *c)
        .await
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("value").map_err(db_internal))
            .collect()
    }

    /// A server group: (project_id, policy) if it exists.
    pub async fn group(c: &mut AnyConnection, id: &str) -> Result<Option<(String, String)>, Error> {
        let row = sqlx::query("SELECT project_id, policy FROM server_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await
            .map_err(db_internal)?;
        row.map(|r| {
            Ok((
                r.try_get::<String, _>("project_id").map_err(db_internal)?,
                r.try_get::<String, _>("policy").map_err(db_internal)?,
            ))
        })
        .transpose()
    }

    /// Members of a group.
    pub async fn group_members(c: &mut AnyConnection, id: &str) -> Result<Vec<String>, Error> {
        let rows =
            sqlx::query("SELECT instance_uuid FROM server_group_members WHERE group_id = $1")
                .bind(id)
                .fetch_all(&mut *c)
                .await
                .map_err(db_internal)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("instance_uuid").map_err(db_internal))
            .collect()
    }

    /// Adds a member to a group (idempotent).
    pub async fn add_group_member(
        c: &mut AnyConnection,
        id: &str,
        uuid: &str,
    ) -> Result<(), Error> {
        sqlx::query("DELETE FROM server_group_members WHERE group_id = $1 AND instance_uuid = $2")
            .bind(id)
            .bind(uuid)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
        sqlx::query("INSERT INTO server_group_members (group_id, instance_uuid) VALUES ($1, $2)")
            .bind(id)
            .bind(uuid)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// Removes a deleted server from every group.
    pub async fn remove_member_everywhere(c: &mut AnyConnection, uuid: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM server_group_members WHERE instance_uuid = $1")
            .bind(uuid)
            .execute(&mut *c)
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// The groups a server is in.
    pub async fn groups_of(c: &mut AnyConnection, uuid: &str) -> Result<Vec<String>, Error> {
        let rows =
            sqlx::query("SELECT group_id FROM server_group_members WHERE instance_uuid = $1")
                .bind(uuid)
                .fetch_all(&mut *c)
                .await
                .map_err(db_internal)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("group_id").map_err(db_internal))
            .collect()
    }

    /// A project's (or user's) quota override for `resource`, if set.
    pub async fn quota_limit(
        c: &mut AnyConnection,
        project_id: &str,
        user_id: &str,
        resource: &str,
    ) -> Result<Option<i64>, Error> {
        let row = sqlx::query(
            "SELECT hard_limit FROM quotas WHERE project_id = $1 AND user_id = $2 AND resource = $3",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(resource)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
        row.map(|r| r.try_get::<i64, _>("hard_limit").map_err(db_internal))
            .transpose()
    }

    /// The `default` quota class value for `resource`, if set.
    pub async fn quota_class(c: &mut AnyConnection, resource: &str) -> Result<Option<i64>, Error> {
        let row = sqlx::query(
            "SELECT hard_limit FROM quota_classes WHERE class_name = 'default' AND resource = $1",
        )
        .bind(resource)
        .fetch_optional(&mut *c)
        .await
        .map_err(db_internal)?;
        row.map(|r| r.try_get::<i64, _>("hard_limit").map_err(db_internal))
            .transpose()
    }
}
