//! Server operations added by microversions 2.6-2.34: server tags (2.26), remote
//! consoles (2.6/2.8, every console type unavailable on rustack hosts) and the console
//! auth tokens (2.31), `trigger_crash_dump` (2.17), and the move operations (`migrate`,
//! `os-migrateLive`, `evacuate`) with their migration records, `/os-migrations` and
//! `/servers/{id}/migrations` (2.22-2.25, 2.29, 2.30, 2.34).
//!
//! Move operations ask the placement of the server's flavor on every enabled compute
//! host but its own; rustack cannot move a server between hosts yet, so with no other
//! host the answer is Nova's NoValidHost, and with another host it is refused as a
//! pre-check failure (documented in docs/api-compat.md).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustack_common::Error;
use rustack_db::{db_internal, Migration};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::app::{api_time, now, Caller};
use super::store::{self, Instance};
use super::Servers;
use crate::api::{base_url, AppState, Ctx};
use crate::error::{invalid_input, resource_not_found, ApiResult};

/// Migrations 20..=29 of the compute schema (the move-operations range).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 20,
    name: "migrations",
    sql: r#"
CREATE TABLE migrations (id BIGINT PRIMARY KEY, instance_uuid TEXT NOT NULL, status TEXT NOT NULL, migration_type TEXT NOT NULL, source_compute TEXT, project_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX migrations_instance ON migrations (instance_uuid);
"#,
}];

/// Nova's per-server tag limit (`MAX_TAG_COUNT`).
pub const MAX_TAGS: usize = 50;

/// One migration record (Nova's `Migration` object, the fields the API shows).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// Id.
    pub id: i64,
    /// UUID.
    pub uuid: String,
    /// Server.
    pub instance_uuid: String,
    /// `error`, `migrating`, `done`...
    pub status: String,
    /// `migration`, `live-migration`, `evacuation`, `resize`.
    pub migration_type: String,
    /// Source host.
    pub source_compute: Option<String>,
    /// Source node.
    pub source_node: Option<String>,
    /// Destination host.
    pub dest_compute: Option<String>,
    /// Destination node.
    pub dest_node: Option<String>,
    /// Requested destination.
    pub dest_host: Option<String>,
    /// Flavor internal id before (nova shows the ids; `None` if the flavor is gone).
    pub old_instance_type_id: Option<i64>,
    /// Flavor internal id after (a move keeps the flavor).
    pub new_instance_type_id: Option<i64>,
    /// Owner project.
    pub project_id: String,
    /// Requesting user.
    pub user_id: String,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: Option<String>,
}

async fn insert_migration(c: &mut AnyConnection, m: &mut MigrationRecord) -> Result<(), Error> {
    for _ in 0..5 {
        let id: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM migrations")
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(db_internal)?;
        m.id = id;
        let doc = serde_json::to_string(&*m)
            .map_err(|e| Error::internal(format!("migration document: {e}")))?;
        let res = sqlx::query(
            "INSERT INTO migrations (id, instance_uuid, status, migration_type, source_compute, \
             project_id, doc) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&m.instance_uuid)
        .bind(&m.status)
        .bind(&m.migration_type)
        .bind(&m.source_compute)
        .bind(&m.project_id)
        .bind(doc)
        .execute(&mut *c)
        .await;
        match res {
            Ok(_) => return Ok(()),
            Err(e) if rustack_db::is_unique_violation(&e) => continue,
            Err(e) => return Err(db_internal(e)),
        }
    }
    Err(Error::internal("could not allocate a migration id"))
}

/// The internal id of flavor `flavorid` (`None` if it is gone).
async fn flavor_internal_id(c: &mut AnyConnection, flavorid: &str) -> Result<Option<i64>, Error> {
    Ok(crate::store::flavor::get(c, flavorid)
        .await?
        .map(|f| f.internal_id))
}

async fn list_migrations(
    c: &mut AnyConnection,
    instance: Option<&str>,
) -> Result<Vec<MigrationRecord>, Error> {
    let rows = match instance {
        Some(u) => {
            sqlx::query("SELECT doc FROM migrations WHERE instance_uuid = $1 ORDER BY id DESC")
                .bind(u)
                .fetch_all(&mut *c)
                .await
        }
        None => {
            sqlx::query("SELECT doc FROM migrations ORDER BY id DESC")
                .fetch_all(&mut *c)
                .await
        }
    }
    .map_err(db_internal)?;
    rows.iter()
        .map(|r| {
            let d: String = r.try_get("doc").map_err(db_internal)?;
            serde_json::from_str(&d)
                .map_err(|e| Error::internal(format!("corrupt migration document: {e}")))
        })
        .collect()
}

/// Routes of the operations here.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2.1/servers/{id}/tags",
            get(tags_list).put(tags_replace).delete(tags_clear),
        )
        .route(
            "/v2.1/servers/{id}/tags/{tag}",
            get(tag_show).put(tag_add).delete(tag_delete),
        )
        .route("/v2.1/servers/{id}/remote-consoles", post(remote_console))
        .route("/v2.1/os-console-auth-tokens/{token}", get(console_token))
        .route("/v2.1/os-migrations", get(migrations_index))
        .route("/v2.1/servers/{id}/topology", get(server_topology))
        .route(
            "/v2.1/os-aggregates/{id}/images",
            post(super::precache::aggregate_images),
        )
        .route("/v2.1/servers/{id}/migrations", get(server_migrations))
        .route(
            "/v2.1/servers/{id}/migrations/{mid}",
            get(server_migration_show).delete(server_migration_delete),
        )
        .route(
            "/v2.1/servers/{id}/migrations/{mid}/action",
            post(server_migration_action),
        )
}

fn servers(st: &AppState) -> Result<std::sync::Arc<Servers>, Error> {
    st.compute
        .servers()
        .ok_or_else(|| Error::unavailable("This compute API runs without the servers service."))
}

fn caller(ctx: &Ctx) -> Caller {
    Caller {
        auth: ctx.auth.clone(),
        minor: ctx.version.minor,
        request_id: ctx.request_id.clone(),
        token: ctx.token.clone(),
    }
}

fn need(ctx: &Ctx, minor: u32) -> Result<(), Error> {
    if ctx.version.at_least(minor) {
        Ok(())
    } else {
        Err(resource_not_found())
    }
}

fn parse_body(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.is_empty() {
        return Err(Error::bad_request("The request body is empty."));
    }
    serde_json::from_slice(bytes).map_err(|_| Error::bad_request("Malformed request body"))
}

fn invalid_state(action: &str, i: &Instance) -> Error {
    Error::conflict(format!(
        "Cannot '{action}' instance {} while it is in vm_state {}",
        i.uuid, i.vm_state
    ))
}

/// Nova's `tag` parameter type: 1-60 characters, no `/` or `,`.
pub fn valid_tag(t: &str) -> bool {
    let n = t.chars().count();
    (1..=60).contains(&n) && !t.contains('/') && !t.contains(',')
}

// ---- tags (2.26) ----

impl Servers {
    async fn tag_target(&self, c: &Caller, id: &str, rule: &str) -> Result<Instance, Error> {
        self.get_for(c, id, &format!("os_compute_api:os-server-tags:{rule}"))
            .await
    }

    async fn tag_modify(
        &self,
        c: &Caller,
        id: &str,
        rule: &str,
        action: &str,
        f: impl Fn(&mut Vec<String>) -> Result<(), Error>,
    ) -> Result<Instance, Error> {
        let i = self.tag_target(c, id, rule).await?;
        let ok = ["active", "paused", "suspended", "stopped"];
        if !ok.contains(&i.vm_state.as_str()) {
            return Err(invalid_state(action, &i));
        }
        self.modify(&i.uuid, |x| f(&mut x.tags)).await
    }
}

async fn tags_list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    need(&ctx, 26)?;
    let i = servers(&st)?
        .tag_target(&caller(&ctx), &id, "index")
        .await?;
    Ok(Json(json!({ "tags": i.tags })).into_response())
}

async fn tag_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    need(&ctx, 26)?;
    let i = servers(&st)?.tag_target(&caller(&ctx), &id, "show").await?;
    if !i.tags.contains(&tag) {
        return Err(Error::not_found(format!("Server {id} has no tag '{tag}'")).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn tags_replace(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    need(&ctx, 26)?;
    let s = servers(&st)?;
    let v = parse_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    if let Some(k) = obj.keys().find(|k| *k != "tags") {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))
        .into());
    }
    let list = obj
        .get("tags")
        .ok_or_else(|| Error::bad_request("'tags' is a required property"))?;
    let items = list.as_array().ok_or_else(|| {
        invalid_input(format!(
            "tags. Value: {list}. {list} is not of type 'array'"
        ))
    })?;
    if items.len() > MAX_TAGS {
        return Err(invalid_input(format!("tags. Value: {list}. {list} is too long")).into());
    }
    let mut tags: Vec<String> = Vec::new();
    for t in items {
        match t.as_str() {
            Some(x) if valid_tag(x) => {
                if !tags.iter().any(|y| y == x) {
                    tags.push(x.to_string());
                }
            }
            _ => {
                return Err(
                    invalid_input(format!("tags. Value: {t}. {t} is not a valid tag")).into(),
                )
            }
        }
    }
    let i = s
        .tag_modify(&caller(&ctx), &id, "update_all", "update tags", |x| {
            *x = tags.clone();
            Ok(())
        })
        .await?;
    Ok(Json(json!({ "tags": i.tags })).into_response())
}

async fn tags_clear(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    need(&ctx, 26)?;
    servers(&st)?
        .tag_modify(&caller(&ctx), &id, "delete_all", "delete tags", |x| {
            x.clear();
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn tag_add(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    need(&ctx, 26)?;
    let s = servers(&st)?;
    // State and policy first, then the tag (nova's order).
    let i = s.tag_target(&caller(&ctx), &id, "update").await?;
    if !["active", "paused", "suspended", "stopped"].contains(&i.vm_state.as_str()) {
        return Err(invalid_state("update tag", &i).into());
    }
    if !valid_tag(&tag) {
        return Err(Error::bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. \
             Validation error message: '{tag}' is not a valid tag"
        ))
        .into());
    }
    if i.tags.contains(&tag) {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let t2 = tag.clone();
    s.modify(&i.uuid, move |x| {
        if x.tags.contains(&t2) {
            return Ok(());
        }
        if x.tags.len() >= MAX_TAGS {
            return Err(Error::bad_request(format!(
                "The number of tags exceeded the per-server limit {MAX_TAGS}"
            )));
        }
        x.tags.push(t2.clone());
        Ok(())
    })
    .await?;
    let mut r = StatusCode::CREATED.into_response();
    let loc = format!("{}/v2.1/servers/{}/tags/{tag}", base_url(&headers), i.uuid);
    if let Ok(h) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert("location", h);
    }
    Ok(r)
}

async fn tag_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    need(&ctx, 26)?;
    let t2 = tag.clone();
    let uuid = id.clone();
    servers(&st)?
        .tag_modify(&caller(&ctx), &id, "delete", "delete tag", move |x| {
            let before = x.len();
            x.retain(|t| t != &t2);
            if x.len() == before {
                return Err(Error::not_found(format!(
                    "Instance {uuid} has no tag '{t2}'"
                )));
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `tags`, `tags-any`, `not-tags`, `not-tags-any` list filters (comma-separated).
pub fn tags_match(tags: &[String], q: &[(String, String)]) -> bool {
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()))
    };
    let has = |t: &str| tags.iter().any(|x| x == t);
    if let Some(mut all) = get("tags") {
        if !all.all(has) {
            return false;
        }
    }
    if let Some(any) = get("tags-any") {
        let any: Vec<&str> = any.collect();
        if !any.is_empty() && !any.iter().any(|t| has(t)) {
            return false;
        }
    }
    if let Some(not_all) = get("not-tags") {
        let n: Vec<&str> = not_all.collect();
        if !n.is_empty() && n.iter().all(|t| has(t)) {
            return false;
        }
    }
    if let Some(mut not_any) = get("not-tags-any") {
        if not_any.any(has) {
            return false;
        }
    }
    true
}

// ---- consoles (2.6, 2.8, 2.31) ----

/// Validates a legacy `os-get*Console` action body; the console type asked for.
pub fn legacy_console(name: &str, v: &Value) -> Result<String, Error> {
    let allowed: &[&str] = match name {
        "os-getVNCConsole" => &["novnc", "xvpvnc"],
        "os-getSPICEConsole" => &["spice-html5"],
        "os-getRDPConsole" => &["rdp-html5"],
        "os-getSerialConsole" => &["serial"],
        _ => {
            return Err(Error::bad_request(format!(
                "There is no such action: {name}"
            )))
        }
    };
    let o = v
        .as_object()
        .ok_or_else(|| invalid_input(format!("{name}. Value: {v}. {v} is not of type 'object'")))?;
    if let Some(k) = o.keys().find(|k| *k != "type") {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let t = o
        .get("type")
        .ok_or_else(|| Error::bad_request("'type' is a required property"))?;
    match t.as_str() {
        Some(s) if allowed.contains(&s) => Ok(s.to_string()),
        _ => Err(invalid_input(format!(
            "type. Value: {t}. {t} is not one of {allowed:?}"
        ))),
    }
}

/// Every console type is unavailable on rustack hosts (no console proxy is deployed):
/// Nova's `ConsoleTypeUnavailable`.
pub fn console_unavailable(t: &str) -> Error {
    Error::bad_request(format!("Unavailable console type {t}."))
}

async fn remote_console(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    need(&ctx, 6)?;
    let v = parse_body(&body)?;
    let o = v
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    if let Some(k) = o.keys().find(|k| *k != "remote_console") {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))
        .into());
    }
    let rc = o
        .get("remote_console")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::bad_request("'remote_console' is a required property"))?;
    if let Some(k) = rc.keys().find(|k| *k != "protocol" && *k != "type") {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))
        .into());
    }
    let mut protocols = vec!["vnc", "spice", "rdp", "serial"];
    let mut types = vec!["novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"];
    if ctx.version.at_least(8) {
        protocols.push("mks");
        types.push("webmks");
    }
    if ctx.version.at_least(99) {
        types.push("spice-direct");
    }
    let field = |k: &str, allowed: &[&str]| -> Result<String, Error> {
        let x = rc
            .get(k)
            .ok_or_else(|| Error::bad_request(format!("'{k}' is a required property")))?;
        match x.as_str() {
            Some(s) if allowed.contains(&s) => Ok(s.to_string()),
            _ => Err(invalid_input(format!(
                "{k}. Value: {x}. {x} is not one of {allowed:?}"
            ))),
        }
    };
    field("protocol", &protocols)?;
    let kind = field("type", &types)?;
    let s = servers(&st)?;
    let _i = s
        .get_for(&caller(&ctx), &id, "os_compute_api:os-remote-consoles")
        .await?;
    // Nova asks the host's driver, which refuses every disabled console type before
    // looking at the protocol/type pair: no console is enabled on rustack hosts.
    Err(console_unavailable(&kind).into())
}

async fn console_token(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let own = json!({"project_id": ctx.auth.project_id});
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-console-auth-tokens", &own)?;
    // No console tokens are ever issued (no console type is available).
    Err(Error::not_found(format!("The token '{token}' is invalid or has expired")).into())
}

// ---- os-resetState (admin) ----

/// `{"state": "active"|"error"}`, Nova's schema.
fn reset_state_body(body: &Value) -> Result<&'static str, Error> {
    let bad = |why: String| invalid_input(format!("os-resetState. Value: {body}. {why}"));
    let o = body
        .as_object()
        .ok_or_else(|| bad(format!("{body} is not of type 'object'")))?;
    if let Some(k) = o.keys().find(|k| k.as_str() != "state") {
        return Err(bad(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    let Some(v) = o.get("state") else {
        return Err(bad("'state' is a required property".into()));
    };
    match v.as_str() {
        Some("active") => Ok("active"),
        Some("error") => Ok("error"),
        _ => Err(invalid_input(format!(
            "state. Value: {v}. {v} is not one of ['active', 'error']"
        ))),
    }
}

impl Servers {
    /// `os-resetState`: the admin sets `vm_state` (`active` or `error`) and clears the
    /// task state, whatever the server was doing (Nova's admin_state_reset).
    pub async fn reset_state(&self, c: &Caller, id: &str, state: &str) -> Result<(), Error> {
        let i = self
            .get_for(c, id, "os_compute_api:os-admin-actions:reset_state")
            .await?;
        self.modify(&i.uuid, |x| {
            x.vm_state = state.to_string();
            x.task_state = None;
            Ok(())
        })
        .await?;
        tracing::info!(instance.id = %i.uuid, vm_state = state, "state reset by an admin");
        Ok(())
    }
}

// ---- trigger_crash_dump (2.17) ----

impl Servers {
    /// `trigger_crash_dump`: an NMI into the running guest.
    pub async fn trigger_crash_dump(&self, c: &Caller, id: &str) -> Result<(), Error> {
        let i = self
            .get_for(c, id, "os_compute_api:servers:trigger_crash_dump")
            .await?;
        self.check_lock(c, &i)?;
        if i.vm_state != "active" || i.task_state.is_some() {
            return Err(if i.vm_state != "active" {
                invalid_state("trigger_crash_dump", &i)
            } else {
                Error::conflict(format!(
                    "Cannot 'trigger_crash_dump' instance {} while it is in task_state {}",
                    i.uuid,
                    i.task_state.clone().unwrap_or_default()
                ))
            });
        }
        let lock = self.lock_for(&i.uuid);
        let _g = lock.lock().await;
        let action = self.record_action(c, &i, "trigger_crash_dump").await?;
        let host = i.host.clone().unwrap_or_default();
        let r = match self.driver_for(&host) {
            Ok(d) => d.trigger_crash_dump(&i.uuid).await.map_err(|e| match e {
                rustack_virt::VirtError::Unsupported(_) => {
                    Error::bad_request("Triggering crash dump is not supported")
                }
                rustack_virt::VirtError::InvalidState { .. } => {
                    Error::conflict(format!("Instance {} is not running: {e}", i.uuid))
                }
                other => Error::internal(other.to_string()),
            }),
            Err(e) => Err(e),
        };
        match &r {
            Ok(()) => {
                self.finish_action_ok(action, "compute_trigger_crash_dump")
                    .await
            }
            Err(e) => {
                self.finish_action_err(action, "compute_trigger_crash_dump", e)
                    .await
            }
        }
        r
    }
}

// ---- move operations ----

/// A parsed move action.
#[derive(Clone, Debug, PartialEq)]
pub enum MoveAction {
    /// `migrate` (cold).
    Migrate { host: Option<String> },
    /// `os-migrateLive`.
    Live { host: Option<String>, force: bool },
    /// `evacuate` (`shared`: `onSharedStorage`, before 2.14).
    Evacuate {
        host: Option<String>,
        force: bool,
        admin_pass: Option<String>,
        shared: bool,
    },
}

fn bool_param(field: &str, v: &Value) -> Result<bool, Error> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => crate::servers::api::strict_bool(s)
            .filter(|_| {
                matches!(
                    s.as_str(),
                    "True"
                        | "TRUE"
                        | "true"
                        | "1"
                        | "ON"
                        | "On"
                        | "on"
                        | "YES"
                        | "Yes"
                        | "yes"
                        | "False"
                        | "FALSE"
                        | "false"
                        | "0"
                        | "OFF"
                        | "Off"
                        | "off"
                        | "NO"
                        | "No"
                        | "no"
                )
            })
            .ok_or_else(|| {
                invalid_input(format!(
                    "{field}. Value: {v}. {v} is not one of the allowed values"
                ))
            }),
        _ => Err(invalid_input(format!(
            "{field}. Value: {v}. {v} is not of type 'boolean', 'string'"
        ))),
    }
}

fn host_param(v: Option<&Value>) -> Result<Option<String>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 255
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) =>
        {
            Ok(Some(s.clone()))
        }
        Some(x) => Err(invalid_input(format!(
            "host. Value: {x}. {x} is not a valid host"
        ))),
    }
}

fn no_extra(o: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    Ok(())
}

impl MoveAction {
    /// Parses the move actions at 2.`minor` (`Ok(None)`: not a move action).
    pub fn parse(name: &str, v: &Value, minor: u32) -> Result<Option<MoveAction>, Error> {
        match name {
            "migrate" => {
                let host = match v {
                    Value::Null => None,
                    Value::Object(o) if minor >= 56 => {
                        no_extra(o, &["host"])?;
                        host_param(o.get("host"))?
                    }
                    Value::Object(o) => {
                        no_extra(o, &[])?;
                        None
                    }
                    _ => {
                        return Err(invalid_input(format!(
                            "migrate. Value: {v}. {v} is not of type 'object', 'null'"
                        )))
                    }
                };
                Ok(Some(MoveAction::Migrate { host }))
            }
            "os-migrateLive" => {
                let o = v.as_object().ok_or_else(|| {
                    invalid_input(format!(
                        "os-migrateLive. Value: {v}. {v} is not of type 'object'"
                    ))
                })?;
                let mut allowed = vec!["block_migration", "host"];
                let mut required = vec!["block_migration", "host"];
                if minor < 25 {
                    allowed.push("disk_over_commit");
                    required.push("disk_over_commit");
                }
                if (30..68).contains(&minor) {
                    allowed.push("force");
                }
                no_extra(o, &allowed)?;
                for r in required {
                    if !o.contains_key(r) {
                        return Err(Error::bad_request(format!("'{r}' is a required property")));
                    }
                }
                let bm = &o["block_migration"];
                if !(minor >= 25 && bm.as_str() == Some("auto")) {
                    bool_param("block_migration", bm)?;
                }
                if let Some(d) = o.get("disk_over_commit") {
                    bool_param("disk_over_commit", d)?;
                }
                let host = host_param(o.get("host"))?;
                let force = match o.get("force") {
                    Some(f) => bool_param("force", f)?,
                    None => false,
                };
                if force && host.is_none() {
                    return Err(Error::bad_request(
                        "Can't force to a non-provided destination",
                    ));
                }
                Ok(Some(MoveAction::Live { host, force }))
            }
            "evacuate" => {
                let o = v.as_object().ok_or_else(|| {
                    invalid_input(format!("evacuate. Value: {v}. {v} is not of type 'object'"))
                })?;
                let mut allowed = vec!["host", "adminPass"];
                if minor < 14 {
                    allowed.push("onSharedStorage");
                    if !o.contains_key("onSharedStorage") {
                        return Err(Error::bad_request(
                            "'onSharedStorage' is a required property",
                        ));
                    }
                }
                if (29..68).contains(&minor) {
                    allowed.push("force");
                }
                no_extra(o, &allowed)?;
                let shared = match o.get("onSharedStorage") {
                    Some(s) => bool_param("onSharedStorage", s)?,
                    None => false,
                };
                let admin_pass = match o.get("adminPass") {
                    None => None,
                    Some(Value::String(p)) => Some(p.clone()),
                    Some(p) => {
                        return Err(invalid_input(format!(
                            "adminPass. Value: {p}. {p} is not of type 'string'"
                        )))
                    }
                };
                if shared && admin_pass.is_some() {
                    return Err(Error::bad_request(
                        "admin password can't be changed on existing disk",
                    ));
                }
                let host = host_param(o.get("host"))?;
                let force = match o.get("force") {
                    Some(f) => bool_param("force", f)?,
                    None => false,
                };
                if force && host.is_none() {
                    return Err(Error::bad_request(
                        "Can't force to a non-provided destination",
                    ));
                }
                Ok(Some(MoveAction::Evacuate {
                    host,
                    force,
                    admin_pass,
                    shared,
                }))
            }
            _ => Ok(None),
        }
    }
}

/// What a move action answers on success.
pub enum MoveOutcome {
    /// 202, no body.
    Accepted,
    /// 200 with `{"adminPass": ...}` (evacuate before 2.14).
    AdminPass(String),
    /// 200 without a body (evacuate).
    Ok,
}

impl Servers {
    async fn new_migration(
        &self,
        c: &Caller,
        i: &Instance,
        kind: &str,
        dest: Option<&str>,
        status: &str,
    ) -> Result<MigrationRecord, Error> {
        let mut m = self.new_migration_doc(c, i, kind, status).await?;
        m.dest_host = dest.map(String::from);
        let mut conn = self.compute.conn().await?;
        insert_migration(&mut conn, &mut m).await?;
        Ok(m)
    }

    /// A migration record of `i` (not stored), flavors set to its current one.
    async fn new_migration_doc(
        &self,
        c: &Caller,
        i: &Instance,
        kind: &str,
        status: &str,
    ) -> Result<MigrationRecord, Error> {
        let mut m = MigrationRecord {
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: i.uuid.clone(),
            status: status.into(),
            migration_type: kind.into(),
            source_compute: i.host.clone(),
            source_node: i.node.clone(),
            project_id: i.project_id.clone(),
            user_id: c.auth.user_id.clone(),
            created_at: now(),
            updated_at: Some(now()),
            ..MigrationRecord::default()
        };
        let mut conn = self.compute.conn().await?;
        let fid = flavor_internal_id(&mut conn, &i.flavor.flavorid).await?;
        m.old_instance_type_id = fid;
        m.new_instance_type_id = fid;
        Ok(m)
    }

    /// Records the migration of a resize (`migrating`; type `resize`, the new flavor's
    /// internal id), as Nova's os-migrations lists resizes.
    pub(super) async fn record_resize_migration(
        &self,
        c: &Caller,
        i: &Instance,
        new_flavor: &str,
    ) -> Result<(), Error> {
        let mut m = self.new_migration_doc(c, i, "resize", "migrating").await?;
        m.dest_compute = i.host.clone();
        m.dest_node = i.node.clone();
        m.dest_host = i.host.clone();
        let mut conn = self.compute.conn().await?;
        m.new_instance_type_id = flavor_internal_id(&mut conn, new_flavor).await?;
        insert_migration(&mut conn, &mut m).await
    }

    /// Moves the newest resize migration of `uuid` in status `from` to `to`
    /// (`finished` when the resize is done, `confirmed`/`reverted` after). Logged, not
    /// fatal: the server's own state is already right.
    pub(super) async fn advance_resize_migration(&self, uuid: &str, from: &str, to: &str) {
        let res = async {
            let mut conn = self.compute.conn().await?;
            let Some(mut m) = list_migrations(&mut conn, Some(uuid))
                .await?
                .into_iter()
                .find(|m| m.migration_type == "resize" && m.status == from)
            else {
                return Ok(());
            };
            m.status = to.into();
            m.updated_at = Some(now());
            let doc = serde_json::to_string(&m)
                .map_err(|e| Error::internal(format!("migration document: {e}")))?;
            sqlx::query("UPDATE migrations SET status = $1, doc = $2 WHERE id = $3")
                .bind(&m.status)
                .bind(doc)
                .bind(m.id)
                .execute(&mut *conn)
                .await
                .map_err(db_internal)?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = res {
            tracing::warn!(instance.id = uuid, error = %e, "could not update a resize migration record");
        }
    }

    /// Enabled compute hosts other than `exclude`.
    async fn other_hosts(&self, exclude: Option<&str>) -> Result<Vec<String>, Error> {
        let mut conn = self.compute.conn().await?;
        let nodes = store::core::nodes(&mut conn).await?;
        Ok(nodes
            .into_iter()
            .filter(|n| n.enabled && Some(n.host.as_str()) != exclude)
            .map(|n| n.host)
            .collect())
    }

    async fn host_up(&self, host: &str) -> Result<bool, Error> {
        let mut conn = self.compute.conn().await?;
        let nodes = store::core::nodes(&mut conn).await?;
        Ok(nodes.iter().any(|n| n.host == host && n.enabled))
    }

    /// `migrate`, `os-migrateLive` and `evacuate`.
    pub async fn move_server(
        &self,
        c: &Caller,
        id: &str,
        a: MoveAction,
    ) -> Result<MoveOutcome, Error> {
        let rule = match &a {
            MoveAction::Migrate { host: Some(_) } => {
                "os_compute_api:os-migrate-server:migrate:host"
            }
            MoveAction::Migrate { .. } => "os_compute_api:os-migrate-server:migrate",
            MoveAction::Live { host: Some(_), .. } => {
                "os_compute_api:os-migrate-server:migrate_live:host"
            }
            MoveAction::Live { .. } => "os_compute_api:os-migrate-server:migrate_live",
            MoveAction::Evacuate { .. } => "os_compute_api:os-evacuate",
        };
        let i = self.get_for(c, id, rule).await?;
        let (name, states, kind): (&str, &[&str], &str) = match &a {
            MoveAction::Migrate { .. } => ("migrate", &["active", "stopped"], "migration"),
            MoveAction::Live { .. } => ("os-migrateLive", &["active", "paused"], "live-migration"),
            MoveAction::Evacuate { .. } => {
                ("evacuate", &["active", "stopped", "error"], "evacuation")
            }
        };
        if !matches!(a, MoveAction::Evacuate { .. }) {
            self.check_lock(c, &i)?;
        }
        if !states.contains(&i.vm_state.as_str()) {
            return Err(invalid_state(name, &i));
        }
        if let Some(t) = &i.task_state {
            return Err(Error::conflict(format!(
                "Cannot '{name}' instance {} while it is in task_state {t}",
                i.uuid
            )));
        }
        let src = i.host.clone();
        let requested = match &a {
            MoveAction::Migrate { host } => host.clone(),
            MoveAction::Live { host, .. } | MoveAction::Evacuate { host, .. } => host.clone(),
        };
        if let Some(h) = &requested {
            let mut conn = self.compute.conn().await?;
            let known = store::core::nodes(&mut conn)
                .await?
                .iter()
                .any(|n| &n.host == h);
            if !known {
                return Err(match a {
                    MoveAction::Evacuate { .. } => {
                        Error::not_found(format!("Compute host {h} not found."))
                    }
                    _ => Error::bad_request(format!("Compute host {h} could not be found.")),
                });
            }
            if Some(h) == src.as_ref() {
                return Err(match a {
                    MoveAction::Evacuate { .. } => {
                        Error::bad_request("The target host can't be the same one.")
                    }
                    MoveAction::Migrate { .. } => {
                        Error::bad_request("Cannot migrate to the host where the server exists.")
                    }
                    MoveAction::Live { .. } => Error::bad_request(format!(
                        "Unable to migrate instance ({}) to current host ({h}).",
                        i.uuid
                    )),
                });
            }
        }
        if let MoveAction::Evacuate { .. } = a {
            if let Some(h) = &src {
                if self.host_up(h).await? {
                    return Err(Error::bad_request(format!(
                        "Compute service of {h} is still in use."
                    )));
                }
            }
        }
        let action_name = match a {
            MoveAction::Migrate { .. } => "migrate",
            MoveAction::Live { .. } => "live-migration",
            MoveAction::Evacuate { .. } => "evacuate",
        };
        let action = self.record_action(c, &i, action_name).await?;
        let candidates: Vec<String> = self
            .other_hosts(src.as_deref())
            .await?
            .into_iter()
            .filter(|h| requested.as_ref().is_none_or(|r| r == h))
            .collect();
        let failure = if candidates.is_empty() {
            let why = match a {
                MoveAction::Migrate { .. } => "No valid host found for cold migrate",
                MoveAction::Live { .. } => "No valid host found for live migrate",
                MoveAction::Evacuate { .. } => "No valid host found for rebuild",
            };
            Error::bad_request(format!("No valid host was found. {why}"))
        } else {
            // rustack hosts share no storage and cannot copy a running or stopped
            // server yet: the move is refused before anything changes.
            Error::bad_request(format!(
                "Migration pre-check error: moving servers between hosts is not supported by \
                 rustack (candidates: {})",
                candidates.join(", ")
            ))
        };
        self.new_migration(c, &i, kind, requested.as_deref(), "error")
            .await?;
        let event = match a {
            MoveAction::Migrate { .. } => "cold_migrate",
            MoveAction::Live { .. } => "conductor_live_migrate_instance",
            MoveAction::Evacuate { .. } => "rebuild_server",
        };
        self.finish_action_err(action, event, &failure).await;
        if !candidates.is_empty() {
            return Err(failure);
        }
        match a {
            // Nova casts the cold migration to the conductor: 202, then the
            // NoValidHost leaves the server as it was and the failure in the instance
            // action and the migration record.
            MoveAction::Migrate { .. } => Ok(MoveOutcome::Accepted),
            // 2.34+: the checks run asynchronously; the result is in the instance action.
            MoveAction::Live { .. } if c.minor >= 34 => Ok(MoveOutcome::Accepted),
            MoveAction::Live { .. } => Err(failure),
            // Evacuate answers before the conductor runs; its NoValidHost puts the
            // server in ERROR.
            MoveAction::Evacuate {
                admin_pass, shared, ..
            } => {
                self.set_error(&i.uuid, 500, &failure.to_string(), "").await;
                Ok(if c.minor < 14 && !shared {
                    MoveOutcome::AdminPass(
                        admin_pass.unwrap_or_else(|| super::app::random_password(12)),
                    )
                } else {
                    MoveOutcome::Ok
                })
            }
        }
    }

    async fn migration_view_allowed(&self, c: &Caller, rule: &str) -> Result<(), Error> {
        let own = json!({"project_id": c.auth.project_id});
        self.compute.authorize(&c.auth, rule, &own)
    }
}

fn migration_json(m: &MigrationRecord, minor: u32, base: &str, server_view: bool) -> Value {
    let mut v = json!({
        "id": m.id,
        "created_at": api_time(&m.created_at),
        "updated_at": m.updated_at.as_deref().map(api_time),
        "status": m.status,
        "instance_uuid": m.instance_uuid,
        "source_compute": m.source_compute,
        "source_node": m.source_node,
        "dest_compute": m.dest_compute,
        "dest_node": m.dest_node,
        "dest_host": m.dest_host,
    });
    if server_view {
        // /servers/{id}/migrations shows in-progress live migrations with memory and
        // disk progress.
        for k in [
            "memory_total_bytes",
            "memory_processed_bytes",
            "memory_remaining_bytes",
            "disk_total_bytes",
            "disk_processed_bytes",
            "disk_remaining_bytes",
        ] {
            v[k] = Value::Null;
        }
        v["server_uuid"] = json!(m.instance_uuid);
        if let Some(o) = v.as_object_mut() {
            o.remove("instance_uuid");
        }
    } else {
        v["old_instance_type_id"] = json!(m.old_instance_type_id);
        v["new_instance_type_id"] = json!(m.new_instance_type_id);
        if minor >= 23 {
            v["migration_type"] = json!(m.migration_type);
            let in_progress = ["queued", "preparing", "running", "post-migrating"];
            if m.migration_type == "live-migration" && in_progress.contains(&m.status.as_str()) {
                let href = format!(
                    "{base}/v2.1/servers/{}/migrations/{}",
                    m.instance_uuid, m.id
                );
                let bm = format!("{base}/servers/{}/migrations/{}", m.instance_uuid, m.id);
                v["links"] =
                    json!([{"rel": "self", "href": href}, {"rel": "bookmark", "href": bm}]);
            }
        }
    }
    if minor >= 59 {
        v["uuid"] = json!(m.uuid);
    }
    if minor >= 80 {
        v["user_id"] = json!(m.user_id);
        v["project_id"] = json!(m.project_id);
    }
    v
}

async fn migrations_index(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let c = caller(&ctx);
    s.migration_view_allowed(&c, "os_compute_api:os-migrations:index")
        .await?;
    let q: Vec<(String, String)> = q
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.clone())
    };
    let minor = ctx.version.minor;
    // 2.59: paging by uuid and the updated_at window, unknown parameters refused;
    // 2.80: user_id/project_id filters.
    let page = if minor >= 59 {
        let mut filters = vec![
            "hidden",
            "host",
            "instance_uuid",
            "source_compute",
            "status",
            "migration_type",
        ];
        if minor >= 80 {
            filters.extend(["user_id", "project_id"]);
        }
        Some(super::paging::page_query(&q, minor, &filters)?)
    } else {
        None
    };
    let mut conn = s.compute.conn().await?;
    let all = list_migrations(&mut conn, get("instance_uuid").as_deref()).await?;
    let base = base_url(&headers);
    let all: Vec<MigrationRecord> = all
        .into_iter()
        .filter(|m| {
            page.as_ref()
                .is_none_or(|p| p.in_window(Some(m.updated_at.as_deref().unwrap_or(&m.created_at))))
        })
        .filter(|m| minor < 80 || get("user_id").is_none_or(|u| u == m.user_id))
        .filter(|m| minor < 80 || get("project_id").is_none_or(|p| p == m.project_id))
        .collect();
    let items: Vec<&MigrationRecord> = all
        .iter()
        .filter(|m| get("status").is_none_or(|x| x == m.status))
        .filter(|m| {
            get("host").is_none_or(|h| {
                m.source_compute.as_deref() == Some(h.as_str())
                    || m.dest_compute.as_deref() == Some(h.as_str())
            })
        })
        .filter(|m| {
            get("source_compute").is_none_or(|h| m.source_compute.as_deref() == Some(h.as_str()))
        })
        .filter(|m| {
            !ctx.version.at_least(23) || get("migration_type").is_none_or(|t| t == m.migration_type)
        })
        .collect();
    let Some(page) = page else {
        let items: Vec<Value> = items
            .iter()
            .map(|m| migration_json(m, minor, &base, false))
            .collect();
        return Ok(Json(json!({ "migrations": items })).into_response());
    };
    let items = page.page(items, |m| m.uuid.as_str())?;
    let mut body = json!({
        "migrations": items
            .iter()
            .map(|m| migration_json(m, minor, &base, false))
            .collect::<Vec<_>>()
    });
    if let Some(links) = super::paging::next_links(
        &format!("{base}/v2.1"),
        "os-migrations",
        &q,
        &page,
        items.len(),
        items.last().map(|m| m.uuid.as_str()),
    ) {
        body["migrations_links"] = links;
    }
    Ok(Json(body).into_response())
}

/// `GET /servers/{id}/topology` (2.78). rustack guests have no NUMA topology of their
/// own (no `hw:numa_*` placement), so the answer is Nova's for an instance without one.
async fn server_topology(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    need(&ctx, 78)?;
    let s = servers(&st)?;
    s.get_for(&caller(&ctx), &id, "compute:server:topology:index")
        .await?;
    Ok(Json(json!({"nodes": [], "pagesize_kb": null})).into_response())
}

const IN_PROGRESS: &[&str] = &["queued", "preparing", "running", "post-migrating"];

async fn server_migrations(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    need(&ctx, 23)?;
    let s = servers(&st)?;
    let i = s
        .get_for(
            &caller(&ctx),
            &id,
            "os_compute_api:servers:migrations:index",
        )
        .await?;
    let mut conn = s.compute.conn().await?;
    let base = base_url(&headers);
    let items: Vec<Value> = list_migrations(&mut conn, Some(&i.uuid))
        .await?
        .iter()
        .filter(|m| {
            m.migration_type == "live-migration" && IN_PROGRESS.contains(&m.status.as_str())
        })
        .map(|m| migration_json(m, ctx.version.minor, &base, true))
        .collect();
    Ok(Json(json!({ "migrations": items })).into_response())
}

async fn find_live(s: &Servers, uuid: &str, mid: &str) -> Result<Option<MigrationRecord>, Error> {
    let Ok(n) = mid.parse::<i64>() else {
        return Ok(None);
    };
    let mut conn = s.compute.conn().await?;
    Ok(list_migrations(&mut conn, Some(uuid))
        .await?
        .into_iter()
        .find(|m| m.id == n))
}

async fn server_migration_show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, mid)): Path<(String, String)>,
) -> ApiResult<Response> {
    need(&ctx, 23)?;
    let s = servers(&st)?;
    let i = s
        .get_for(&caller(&ctx), &id, "os_compute_api:servers:migrations:show")
        .await?;
    let m = find_live(&s, &i.uuid, &mid).await?.ok_or_else(|| {
        Error::not_found(format!(
            "In-progress live migration {mid} is not found for server {}.",
            i.uuid
        ))
    })?;
    if m.migration_type != "live-migration" {
        return Err(Error::not_found(format!(
            "Migration {mid} for server {} is not live-migration.",
            i.uuid
        ))
        .into());
    }
    if !IN_PROGRESS.contains(&m.status.as_str()) {
        return Err(Error::not_found(format!(
            "Live migration {mid} for server {} is not in progress.",
            i.uuid
        ))
        .into());
    }
    let base = base_url(&headers);
    Ok(
        Json(json!({ "migration": migration_json(&m, ctx.version.minor, &base, true) }))
            .into_response(),
    )
}

async fn server_migration_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, mid)): Path<(String, String)>,
) -> ApiResult<Response> {
    need(&ctx, 24)?;
    let s = servers(&st)?;
    let c = caller(&ctx);
    let i = s
        .get_for(&c, &id, "os_compute_api:servers:migrations:delete")
        .await?;
    s.check_lock(&c, &i)?;
    // No live migration is ever in progress on rustack (none can start).
    if i.task_state.as_deref() != Some("migrating") {
        return Err(Error::conflict(format!(
            "Cannot 'abort live migration' instance {} while it is in task_state {}",
            i.uuid,
            i.task_state.as_deref().unwrap_or("None")
        ))
        .into());
    }
    Err(Error::not_found(format!("Migration {mid} not found for instance {}", i.uuid)).into())
}

async fn server_migration_action(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, mid)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    need(&ctx, 22)?;
    let v = parse_body(&body)?;
    let o = v
        .as_object()
        .ok_or_else(|| Error::bad_request("The request body is not a JSON object."))?;
    if !o.contains_key("force_complete") {
        return Err(Error::bad_request("'force_complete' is a required property").into());
    }
    no_extra(o, &["force_complete"])?;
    if !o["force_complete"].is_null() {
        let x = &o["force_complete"];
        return Err(invalid_input(format!(
            "force_complete. Value: {x}. {x} is not of type 'null'"
        ))
        .into());
    }
    let s = servers(&st)?;
    let c = caller(&ctx);
    let i = s
        .get_for(&c, &id, "os_compute_api:servers:migrations:force_complete")
        .await?;
    s.check_lock(&c, &i)?;
    if i.vm_state != "active" {
        return Err(invalid_state("force_complete", &i).into());
    }
    if i.task_state.as_deref() != Some("migrating") {
        return Err(Error::conflict(format!(
            "Cannot 'force_complete' instance {} while it is in task_state {}",
            i.uuid,
            i.task_state.as_deref().unwrap_or("None")
        ))
        .into());
    }
    Err(Error::bad_request(format!("Migration {mid} not found for instance {}", i.uuid)).into())
}

/// The server actions handled here (`trigger_crash_dump`, the legacy console
/// actions, the move actions); `None` for any other action.
pub(crate) async fn action(
    s: &Servers,
    ctx: &Ctx,
    id: &str,
    v: &Value,
) -> Option<ApiResult<Response>> {
    let (name, body) = v.as_object().filter(|o| o.len() == 1)?.iter().next()?;
    let c = caller(ctx);
    let r: Result<Response, Error> = async {
        match name.as_str() {
            "trigger_crash_dump" if ctx.version.at_least(17) => {
                if !body.is_null() {
                    return Err(invalid_input(format!(
                        "trigger_crash_dump. Value: {body}. {body} is not of type 'null'"
                    )));
                }
                s.trigger_crash_dump(&c, id).await?;
                Ok(StatusCode::ACCEPTED.into_response())
            }
            "os-resetState" => {
                let state = reset_state_body(body)?;
                s.reset_state(&c, id, state).await?;
                Ok(StatusCode::ACCEPTED.into_response())
            }
            "injectNetworkInfo" => {
                // Nova validates no body for this action (`{}` and null both pass).
                // Guests take their network configuration from DHCP and the metadata
                // service, which always serve the current ports: nothing to push.
                s.get_for(
                    &c,
                    id,
                    "os_compute_api:os-admin-actions:inject_network_info",
                )
                .await?;
                Ok(StatusCode::ACCEPTED.into_response())
            }
            "os-getVNCConsole"
            | "os-getSPICEConsole"
            | "os-getRDPConsole"
            | "os-getSerialConsole" => {
                let t = legacy_console(name, body)?;
                s.get_for(&c, id, "os_compute_api:os-remote-consoles")
                    .await?;
                Err(console_unavailable(&t))
            }
            _ => {
                let Some(a) = MoveAction::parse(name, body, ctx.version.minor)? else {
                    return Ok(StatusCode::NOT_IMPLEMENTED.into_response());
                };
                Ok(match s.move_server(&c, id, a).await? {
                    MoveOutcome::Accepted => StatusCode::ACCEPTED.into_response(),
                    MoveOutcome::AdminPass(p) => Json(json!({ "adminPass": p })).into_response(),
                    MoveOutcome::Ok => StatusCode::OK.into_response(),
                })
            }
        }
    }
    .await;
    match r {
        Ok(resp) if resp.status() == StatusCode::NOT_IMPLEMENTED => None,
        Ok(resp) => Some(Ok(resp)),
        Err(e) => Some(Err(e.into())),
    }
}
