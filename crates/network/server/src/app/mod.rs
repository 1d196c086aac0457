//! The network service's app layer: one module per resource, each taking the caller's
//! [`AuthContext`], checking Neutron's policy rules against a target built the way
//! Neutron builds it, and calling the datastore. Handlers stay thin.
//!
//! Resources are JSON documents in Neutron's wire shape. Derived attributes (a network's
//! `subnets`, a group's `security_group_rules`) are filled in when rendering; attributes
//! the caller may not read (`get_port:binding:host_id`...) are removed per policy.

pub mod agent;
pub mod dhcp;
pub mod floatingip;
pub mod metering;
pub mod network;
pub mod port;
pub mod quota;
pub mod router;
pub mod secgroup;
pub mod service_type;
pub mod subnet;
pub mod subnetpool;
pub mod tags;

use std::collections::HashMap;

use rustack_api_common::AuthContext;
use rustack_common::Error;
use rustack_db::{db_internal, Db};
use rustack_network_api::NetworkConfig;
use rustack_policy::{Enforcer, RuleDefault};
use serde_json::{json, Map, Value};
use sqlx::pool::PoolConnection;
use sqlx::Any;

use crate::error::{NResult, NeutronError};
use crate::store::{self, Table};

/// The network service's shared state.
pub struct Network {
    pub(crate) db: Db,
    pub(crate) cfg: NetworkConfig,
    pub(crate) enforcer: Enforcer,
    /// Per action prefix (`get_port`), the attribute rules registered (`binding:host_id`).
    attr_rules: HashMap<String, Vec<String>>,
    /// Write generation (see [`agent`]).
    pub(crate) changes: tokio::sync::watch::Sender<u64>,
    /// Whether DHCP ports are created (see [`dhcp`]).
    pub(crate) dhcp_ports: std::sync::atomic::AtomicBool,
    /// The agent host DHCP ports are bound to.
    pub(crate) host: String,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// The key a rewritten `field:` check reads from the target.
pub(crate) fn field_key(check: &str) -> String {
    check
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Neutron registers `field:<collection>:<attr>=<value>` checks (its own FieldCheck);
/// the Enforcer has no such kind, so each is rewritten to a generic check on a key the
/// app layer computes into every target (see [`Network::target`]).
fn rewrite_field_checks(mut defaults: Vec<RuleDefault>) -> Vec<RuleDefault> {
    for d in &mut defaults {
        if d.check_str.starts_with("field:") && !d.check_str.contains(' ') {
            d.check_str = format!("'True':%({})s", field_key(&d.check_str));
        }
    }
    defaults
}

/// The current time as Neutron renders it.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Standard attributes of a new resource owned by `project_id`.
pub(crate) fn standard_attrs(project_id: &str) -> Map<String, Value> {
    let t = now();
    let mut m = Map::new();
    m.insert("id".into(), json!(rustack_common::new_uuid()));
    m.insert("project_id".into(), json!(project_id));
    m.insert("tenant_id".into(), json!(project_id));
    m.insert("description".into(), json!(""));
    m.insert("tags".into(), json!([]));
    m.insert("created_at".into(), json!(t));
    m.insert("updated_at".into(), json!(t));
    m.insert("revision_number".into(), json!(1));
    m
}

/// Bumps a document's revision and `updated_at` before a write.
pub(crate) fn touch(doc: &mut Value) {
    let rev = doc
        .get("revision_number")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    doc["revision_number"] = json!(rev + 1);
    doc["updated_at"] = json!(now());
}

/// A string attribute of a document ("" if absent).
pub(crate) fn s<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A boolean attribute of a document (false if absent).
pub(crate) fn flag(doc: &Value, key: &str) -> bool {
    doc.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn t(v: bool) -> Value {
    json!(if v { "True" } else { "False" })
}

/// Failures opening the service.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database.
    #[error("network database")]
    Db(#[source] rustack_db::DbError),
    /// The policy.
    #[error("network policy")]
    Policy(#[source] rustack_policy::PolicyError),
}

impl Network {
    /// Opens (and migrates) the database and loads the policy.
    pub async fn open(cfg: NetworkConfig, database_url: &str) -> Result<Network, OpenError> {
        let db = Db::connect(database_url).await.map_err(OpenError::Db)?;
        db.migrate(crate::schema::MIGRATIONS)
            .await
            .map_err(OpenError::Db)?;
        let mut enforcer = Enforcer::new(rewrite_field_checks(rustack_policy::defaults::network()))
            .map_err(OpenError::Policy)?;
        if let Some(p) = &cfg.policy_file {
            enforcer.load_overrides_file(p).map_err(OpenError::Policy)?;
        }
        let mut attr_rules: HashMap<String, Vec<String>> = HashMap::new();
        for name in enforcer.rule_names() {
            if let Some((action, attr)) = name.split_once(':') {
                if action.starts_with("get_")
                    || action.starts_with("create_")
                    || action.starts_with("update_")
                {
                    attr_rules
                        .entry(action.to_owned())
                        .or_default()
                        .push(attr.to_owned());
                }
            }
        }
        let dhcp_ports = cfg.dhcp_ports == rustack_network_api::DhcpPortsMode::On;
        let host = cfg.host_name();
        Ok(Network {
            db,
            cfg,
            enforcer,
            attr_rules,
            changes: tokio::sync::watch::Sender::new(0),
            dhcp_ports: dhcp_ports.into(),
            host,
        })
    }

    /// The database (closed on shutdown).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The configuration in force.
    pub fn config(&self) -> &NetworkConfig {
        &self.cfg
    }

    pub(crate) async fn conn(&self) -> NResult<PoolConnection<Any>> {
        Ok(self.db.pool().acquire().await.map_err(db_internal)?)
    }

    /// Every network by id (list calls render ports and subnets against their network).
    pub(crate) async fn networks_by_id(
        &self,
        c: &mut sqlx::AnyConnection,
    ) -> NResult<HashMap<String, Value>> {
        Ok(store::list(c, Table::Networks, None)
            .await?
            .into_iter()
            .map(|n| (n["id"].as_str().unwrap_or_default().to_owned(), n))
            .collect())
    }

    pub(crate) async fn begin(&self) -> NResult<sqlx::Transaction<'static, Any>> {
        Ok(self.db.pool().begin().await.map_err(db_internal)?)
    }

    fn creds(ctx: &AuthContext) -> Value {
        let mut c = ctx.policy_creds();
        c["tenant_id"] = json!(ctx.project_id);
        c
    }

    /// True if `rule` allows `ctx` on `target` (scope mismatches deny).
    pub(crate) fn allowed(&self, ctx: &AuthContext, rule: &str, target: &Value) -> bool {
        match self.enforcer.enforce(rule, target, &Self::creds(ctx)) {
            Ok(v) => v,
            Err(rustack_policy::PolicyError::InvalidScope { .. }) => false,
            Err(e) => {
                tracing::error!(policy.rule = rule, error = %e, "policy check failed");
                false
            }
        }
    }

    /// 403 `PolicyNotAuthorized` unless `rule` allows.
    pub(crate) fn enforce(&self, ctx: &AuthContext, rule: &str, target: &Value) -> NResult<()> {
        if self.allowed(ctx, rule, target) {
            Ok(())
        } else {
            Err(NeutronError::policy(rule))
        }
    }

    /// True if `ctx` is an admin (`context_is_admin`).
    pub(crate) fn is_admin(&self, ctx: &AuthContext) -> bool {
        self.allowed(ctx, "context_is_admin", &json!({}))
    }

    /// The project a new resource belongs to: the body's `project_id`/`tenant_id`
    /// (only an admin may name another project, which policy checks), else the caller's.
    pub(crate) fn owner(&self, ctx: &AuthContext, body: &Map<String, Value>) -> NResult<String> {
        if let (Some(p), Some(t)) = (body.get("project_id"), body.get("tenant_id")) {
            if p != t {
                return Err(NeutronError::bad(
                    "HTTPBadRequest",
                    "'project_id' and 'tenant_id' do not match",
                ));
            }
        }
        let p = body
            .get("project_id")
            .or_else(|| body.get("tenant_id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| ctx.project_id.clone());
        p.ok_or_else(|| {
            NeutronError::bad(
                "HTTPBadRequest",
                "Failed to parse request. Required attribute 'project_id' not specified",
            )
        })
    }

    /// The policy target for a resource document: the document, `tenant_id`, the
    /// parent's owner (`network:project_id`, `security_group:project_id`) and the keys of
    /// the rewritten `field:` checks.
    pub(crate) fn target(&self, kind: &str, doc: &Value, network: Option<&Value>) -> Value {
        let mut t = doc.clone();
        if !t.is_object() {
            t = json!({});
        }
        t["tenant_id"] = doc.get("project_id").cloned().unwrap_or(Value::Null);
        if let Some(net) = network {
            t["network:project_id"] = net.get("project_id").cloned().unwrap_or(Value::Null);
            t["network:tenant_id"] = t["network:project_id"].clone();
        }
        let net = network.or(if kind == "network" { Some(doc) } else { None });
        let shared = net.map(|n| flag(n, "shared")).unwrap_or(false);
        let external = net.map(|n| flag(n, "router:external")).unwrap_or(false);
        t[field_key("field:networks:shared=True")] = self::t(shared);
        t[field_key("field:networks:router:external=True")] = self::t(external);
        t[field_key("field:subnets:router:external=True")] = self::t(external);
        t[field_key("field:port:device_owner=~^network:")] =
            self::t(s(doc, "device_owner").starts_with("network:"));
        t[field_key("field:security_groups:shared=True")] = self::t(false);
        t[field_key("field:security_group_rules:belongs_to_default_sg=True")] =
            self::t(flag(doc, "belongs_to_default_sg"));
        t[field_key("field:subnetpools:shared=True")] =
            self::t(kind == "subnetpool" && flag(doc, "shared"));
        t
    }

    /// Removes attributes `get_<kind>:<attr>` rules hide from `ctx`.
    pub(crate) fn strip(&self, ctx: &AuthContext, kind: &str, doc: &mut Value, target: &Value) {
        let action = format!("get_{kind}");
        if let Some(attrs) = self.attr_rules.get(&action) {
            for attr in attrs {
                if doc.get(attr).is_some()
                    && !self.allowed(ctx, &format!("{action}:{attr}"), target)
                {
                    if let Some(m) = doc.as_object_mut() {
                        m.remove(attr);
                    }
                }
            }
        }
    }

    /// Checks `<action>_<kind>` and each attribute rule for the attributes `body` sets
    /// (on create, only values that differ from the default, as Neutron does).
    pub(crate) fn enforce_write(
        &self,
        ctx: &AuthContext,
        action: &str,
        kind: &str,
        body: &Map<String, Value>,
        target: &Value,
    ) -> NResult<()> {
        let rule = format!("{action}_{kind}");
        self.enforce(ctx, &rule, target)?;
        let Some(attrs) = self.attr_rules.get(&rule) else {
            return Ok(());
        };
        for attr in attrs {
            let set = if let Some(v) = body.get(attr) {
                action != "create" || !is_default(attr, v)
            } else if let Some((top, sub)) = attr.split_once(':') {
                match body.get(top) {
                    Some(Value::Object(m)) => m.contains_key(sub),
                    Some(Value::Array(items)) => items
                        .iter()
                        .any(|i| i.as_object().is_some_and(|m| m.contains_key(sub))),
                    _ => false,
                }
            } else {
                false
            };
            if set {
                self.enforce(ctx, &format!("{rule}:{attr}"), target)?;
            }
        }
        Ok(())
    }

    /// A visible document of `table` by id, or 404 in Neutron's words.
    pub(crate) async fn fetch(&self, table: Table, kind: &str, id: &str) -> NResult<Value> {
        let mut c = self.conn().await?;
        store::get(&mut c, table, id)
            .await?
            .ok_or_else(|| NeutronError::resource_not_found(kind, id))
    }
}

/// Neutron's defaults for attributes with create-time policy rules.
fn is_default(attr: &str, v: &Value) -> bool {
    match attr {
        "shared" | "router:external" => v == &json!(false),
        "port_security_enabled" | "admin_state_up" => v == &json!(true),
        "device_owner" | "device_id" => v == &json!(""),
        "allowed_address_pairs" | "extra_dhcp_opts" => {
            v.as_array().is_some_and(Vec::is_empty) || v.is_null()
        }
        _ => false,
    }
}

/// Wraps a store write error with the caller's 409.
pub(crate) fn dup(e: store::WriteError, on_dup: impl FnOnce() -> NeutronError) -> NeutronError {
    match e {
        store::WriteError::Duplicate => on_dup(),
        store::WriteError::Other(e) => e.into(),
    }
}

/// Commits a transaction.
pub(crate) async fn commit(tx: sqlx::Transaction<'static, Any>) -> NResult<()> {
    tx.commit()
        .await
        .map_err(|e| NeutronError::from(db_internal(e)))
}

/// An internal error for impossible states.
pub(crate) fn bug(msg: impl Into<String>) -> NeutronError {
    Error::internal(msg).into()
}
