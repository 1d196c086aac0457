//! Nova's network proxy APIs, answered from the Networking API with the caller's own
//! token, in Nova's shapes and with Nova's errors: `os-security-groups`,
//! `os-security-group-rules`, `os-floating-ips`, `os-floating-ip-pools`, `os-networks`
//! and `os-tenant-networks`.
//!
//! They are served at 2.1-2.35 and answer 404 from 2.36 (Nova's
//! `MAX_PROXY_API_SUPPORT_VERSION`); the nova-network-only operations (creating,
//! deleting and associating networks) answer 410 at every version, as Nova does since
//! nova-network left. Nova shows only ingress rules; the ports of a rule without a
//! range read 1-65535 (TCP/UDP) or -1 (others).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use reqwest::Method;
use rustack_common::Error;
use rustack_network_api::client::NetworkClient;
use serde_json::{json, Map, Value};

use super::{AppState, Ctx};
use crate::error::{invalid_input, resource_not_found, ApiResult};
use crate::servers::Servers;

/// The last microversion serving the proxy APIs (Nova's `MAX_PROXY_API_SUPPORT_VERSION`).
pub const MAX_PROXY_MINOR: u32 = 35;

/// The pool `POST /os-floating-ips` without a pool allocates from (Nova's
/// `[neutron] default_floating_pool` as DevStack sets it).
pub const DEFAULT_FLOATING_POOL: &str = "public";

/// Routes of the proxy APIs.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-security-groups", get(sg_list).post(sg_create))
        .route(
            "/v2.1/os-security-groups/{id}",
            get(sg_show).put(sg_update).delete(sg_delete),
        )
        .route("/v2.1/os-security-group-rules", post(rule_create))
        .route(
            "/v2.1/os-security-group-rules/{id}",
            axum::routing::delete(rule_delete),
        )
        .route("/v2.1/os-floating-ips", get(fip_list).post(fip_create))
        .route(
            "/v2.1/os-floating-ips/{id}",
            get(fip_show).delete(fip_delete),
        )
        .route("/v2.1/os-floating-ip-pools", get(pools))
        .route("/v2.1/os-networks", get(networks_list).post(gone))
        .route("/v2.1/os-networks/add", post(gone))
        .route("/v2.1/os-networks/{id}", get(network_show).delete(gone))
        .route("/v2.1/os-networks/{id}/action", post(gone))
        .route(
            "/v2.1/os-tenant-networks",
            get(tenant_networks_list).post(gone),
        )
        .route(
            "/v2.1/os-tenant-networks/{id}",
            get(tenant_network_show).delete(gone),
        )
}

/// What nova-network-only operations answer now.
async fn gone() -> Response {
    (
        StatusCode::GONE,
        Json(json!({"computeFault": {"code": 410,
            "message": "This resource is no longer available.  No forwarding address is given."}})),
    )
        .into_response()
}

fn servers(st: &AppState) -> Result<Arc<Servers>, Error> {
    st.compute
        .servers()
        .ok_or_else(|| Error::unavailable("This compute API runs without the servers service."))
}

/// 404 past 2.35, then the policy check on the caller's own project.
fn gate(st: &AppState, ctx: &Ctx, rule: &str) -> Result<(), Error> {
    if ctx.version.at_least(MAX_PROXY_MINOR + 1) {
        return Err(resource_not_found());
    }
    st.compute.authorize(
        &ctx.auth,
        rule,
        &json!({"project_id": ctx.auth.project_id, "user_id": ctx.auth.user_id}),
    )
}

/// A Networking call with the caller's token.
async fn neutron(
    st: &AppState,
    ctx: &Ctx,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(u16, Value), Error> {
    servers(st)?
        .network
        .request(&ctx.token.0, method, path, query, body)
        .await
}

fn neutron_message(v: &Value) -> String {
    v["NeutronError"]["message"]
        .as_str()
        .or_else(|| v["error"]["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn neutron_type(v: &Value) -> &str {
    v["NeutronError"]["type"].as_str().unwrap_or_default()
}

/// An answer no branch expected: Nova lets the client exception through (500); the
/// dependency failing is 503 here.
fn unexpected(what: &str, status: u16, v: &Value) -> Error {
    Error::unavailable(format!(
        "The network service answered {status} to {what}: {}",
        neutron_message(v)
    ))
}

fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn query(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn parse_body(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.is_empty() {
        return Err(Error::bad_request("The request body is empty."));
    }
    serde_json::from_slice(bytes).map_err(|_| Error::bad_request("Malformed request body"))
}

// ---- security groups ----

/// Name and owner of the groups rules refer to, by id.
type GroupNames = HashMap<String, Option<(String, String)>>;

fn group_label(g: &Value) -> (String, String) {
    (
        g["name"].as_str().unwrap_or_default().to_string(),
        g["project_id"]
            .as_str()
            .or_else(|| g["tenant_id"].as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

/// `(from_port, to_port)` of a Neutron rule as Nova shows them.
fn rule_ports(r: &Value) -> (Value, Value) {
    let min = &r["port_range_min"];
    let max = &r["port_range_max"];
    match r["protocol"].as_str() {
        Some(p) if min.is_null() && max.is_null() => {
            if ["tcp", "udp"].contains(&p.to_ascii_lowercase().as_str()) {
                (json!(1), json!(65535))
            } else {
                (json!(-1), json!(-1))
            }
        }
        _ => (min.clone(), max.clone()),
    }
}

/// A Neutron rule in Nova's shape; `None` when its remote group is gone.
fn format_rule(r: &Value, names: &GroupNames) -> Option<Value> {
    let (from, to) = rule_ports(r);
    let mut out = json!({
        "id": r["id"],
        "parent_group_id": r["security_group_id"],
        "ip_protocol": r["protocol"],
        "from_port": from,
        "to_port": to,
        "group": {},
        "ip_range": {},
    });
    match r["remote_group_id"].as_str() {
        Some(g) => {
            let (name, tenant) = names.get(g).cloned().flatten()?;
            out["group"] = json!({"name": name, "tenant_id": tenant});
        }
        None => {
            let cidr = r["remote_ip_prefix"]
                .as_str()
                .filter(|c| !c.is_empty())
                .unwrap_or("0.0.0.0/0");
            out["ip_range"] = json!({ "cidr": cidr });
        }
    }
    Some(out)
}

fn format_group(g: &Value, names: &GroupNames) -> Value {
    let rules: Vec<Value> = g["security_group_rules"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["direction"] == "ingress")
                .filter_map(|r| format_rule(r, names))
                .collect()
        })
        .unwrap_or_default();
    let (name, tenant) = group_label(g);
    json!({
        "id": g["id"],
        "description": g["description"].as_str().unwrap_or_default(),
        "name": name,
        "tenant_id": tenant,
        "rules": rules,
    })
}

/// Names of the groups `groups`' rules refer to (the groups themselves first, then one
/// lookup per other group).
async fn group_names(st: &AppState, ctx: &Ctx, groups: &[Value]) -> Result<GroupNames, Error> {
    group_names_with(&servers(st)?.network, &ctx.token.0, groups).await
}

async fn group_names_with(
    client: &NetworkClient,
    token: &str,
    groups: &[Value],
) -> Result<GroupNames, Error> {
    let mut names: GroupNames = groups
        .iter()
        .filter_map(|g| Some((g["id"].as_str()?.to_string(), Some(group_label(g)))))
        .collect();
    for g in groups {
        for r in g["security_group_rules"].as_array().into_iter().flatten() {
            let Some(rg) = r["remote_group_id"].as_str() else {
                continue;
            };
            if names.contains_key(rg) {
                continue;
            }
            let found = match sg_get_with(client, token, rg).await {
                Ok(x) => Some(group_label(&x)),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            names.insert(rg.to_string(), found);
        }
    }
    Ok(names)
}

/// `GET security-groups/{id}` (404 as Nova's `SecurityGroupNotFound`).
async fn sg_get(st: &AppState, ctx: &Ctx, id: &str) -> Result<Value, Error> {
    sg_get_with(&servers(st)?.network, &ctx.token.0, id).await
}

async fn sg_get_with(client: &NetworkClient, token: &str, id: &str) -> Result<Value, Error> {
    let (s, v) = client
        .request(
            token,
            Method::GET,
            &format!("security-groups/{id}"),
            &[],
            None,
        )
        .await?;
    match s {
        200 => Ok(v["security_group"].clone()),
        404 => Err(Error::not_found(neutron_message(&v))),
        _ => Err(unexpected("a security group show", s, &v)),
    }
}

/// The security groups on the ports of server `server` in Nova's shape (with their
/// ingress rules), sorted by owner and name: `GET /servers/{id}/os-security-groups`,
/// served at every microversion.
pub(crate) async fn server_security_groups(s: &Servers, server: &str) -> Result<Vec<Value>, Error> {
    let token = s.service_token().await?;
    let ports = s.network.list_ports_by_device(&token, server).await?;
    let mut ids: Vec<String> = Vec::new();
    for p in &ports {
        for g in &p.security_groups {
            if !ids.contains(g) {
                ids.push(g.clone());
            }
        }
    }
    let mut groups = Vec::new();
    for chunk in ids.chunks(rustack_network_api::client::MAX_SEARCH_IDS) {
        let q: Vec<(&str, &str)> = chunk.iter().map(|i| ("id", i.as_str())).collect();
        let (st, v) = s
            .network
            .request(&token, Method::GET, "security-groups", &q, None)
            .await?;
        if st != 200 {
            return Err(unexpected("a security group list", st, &v));
        }
        groups.extend(v["security_groups"].as_array().cloned().unwrap_or_default());
    }
    let names = group_names_with(&s.network, &token, &groups).await?;
    Ok(sort_groups(
        groups.iter().map(|g| format_group(g, &names)).collect(),
    ))
}

fn validate_sg_id(id: &str) -> Result<(), Error> {
    if is_uuid_like(id) {
        Ok(())
    } else {
        Err(Error::bad_request("Security group id should be uuid"))
    }
}

/// Nova's `common.limited`: `offset` and `limit` (non-negative integers) over a list.
fn limited(items: Vec<Value>, q: &[(String, String)]) -> Result<Vec<Value>, Error> {
    let get = |k: &str| -> Result<Option<usize>, Error> {
        match q.iter().rev().find(|(kk, _)| kk == k) {
            None => Ok(None),
            Some((_, v)) => v.parse::<usize>().map(Some).map_err(|_| {
                invalid_input(format!("{k}. Value: {v}. '{v}' does not match '^[0-9]+$'"))
            }),
        }
    };
    let offset = get("offset")?.unwrap_or(0);
    let limit = match get("limit")? {
        None | Some(0) => 1000,
        Some(n) => n.min(1000),
    };
    Ok(items.into_iter().skip(offset).take(limit).collect())
}

fn sort_groups(mut groups: Vec<Value>) -> Vec<Value> {
    groups.sort_by(|a, b| {
        let k = |g: &Value| {
            (
                g["tenant_id"].as_str().unwrap_or_default().to_string(),
                g["name"].as_str().unwrap_or_default().to_string(),
            )
        };
        k(a).cmp(&k(b))
    });
    groups
}

async fn sg_list(
    State(st): State<AppState>,
    ctx: Ctx,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:get")?;
    let q = query(raw);
    let all = st.compute.is_admin(&ctx.auth) && q.iter().any(|(k, _)| k == "all_tenants");
    let project = ctx.auth.project_id.clone().unwrap_or_default();
    let filter: Vec<(&str, &str)> = if all {
        vec![]
    } else {
        vec![("project_id", project.as_str())]
    };
    let (s, v) = neutron(&st, &ctx, Method::GET, "security-groups", &filter, None).await?;
    if s != 200 {
        return Err(unexpected("a security group list", s, &v).into());
    }
    let raw_groups = limited(
        v["security_groups"].as_array().cloned().unwrap_or_default(),
        &q,
    )?;
    let names = group_names(&st, &ctx, &raw_groups).await?;
    let groups: Vec<Value> = raw_groups.iter().map(|g| format_group(g, &names)).collect();
    Ok(Json(json!({ "security_groups": sort_groups(groups) })).into_response())
}

async fn sg_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:show")?;
    validate_sg_id(&id)?;
    let g = sg_get(&st, &ctx, &id).await?;
    let names = group_names(&st, &ctx, std::slice::from_ref(&g)).await?;
    Ok(Json(json!({ "security_group": format_group(&g, &names) })).into_response())
}

/// `{"security_group": {"name", "description"}}` (both strings of at most 255).
fn sg_body(bytes: &[u8]) -> Result<(String, String), Error> {
    let v = parse_body(bytes)?;
    let g = v
        .get("security_group")
        .ok_or_else(|| Error::bad_request("'security_group' is a required property"))?;
    let o = g.as_object().ok_or_else(|| {
        invalid_input(format!(
            "security_group. Value: {g}. {g} is not of type 'object'"
        ))
    })?;
    let field = |k: &str| -> Result<String, Error> {
        let x = o
            .get(k)
            .ok_or_else(|| Error::bad_request(format!("'{k}' is a required property")))?;
        match x {
            Value::String(s) if s.chars().count() <= 255 => Ok(s.clone()),
            Value::String(s) => Err(invalid_input(format!("{k}. Value: {s}. '{s}' is too long"))),
            _ => Err(invalid_input(format!(
                "{k}. Value: {x}. {x} is not of type 'string'"
            ))),
        }
    };
    Ok((field("name")?, field("description")?))
}

async fn sg_create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:create")?;
    let (name, description) = sg_body(&body)?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::POST,
        "security-groups",
        &[],
        Some(json!({"security_group": {"name": name, "description": description}})),
    )
    .await?;
    match s {
        201 | 200 => {
            let g = v["security_group"].clone();
            let names = group_names(&st, &ctx, std::slice::from_ref(&g)).await?;
            Ok(Json(json!({ "security_group": format_group(&g, &names) })).into_response())
        }
        400 | 401 => Err(Error::bad_request(neutron_message(&v)).into()),
        409 => Err(Error::forbidden(neutron_message(&v)).into()),
        _ => Err(unexpected("a security group create", s, &v).into()),
    }
}

async fn sg_update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:update")?;
    validate_sg_id(&id)?;
    sg_get(&st, &ctx, &id).await?;
    let (name, description) = sg_body(&body)?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::PUT,
        &format!("security-groups/{id}"),
        &[],
        Some(json!({"security_group": {"name": name, "description": description}})),
    )
    .await?;
    match s {
        200 => {
            let g = v["security_group"].clone();
            let names = group_names(&st, &ctx, std::slice::from_ref(&g)).await?;
            Ok(Json(json!({ "security_group": format_group(&g, &names) })).into_response())
        }
        400 | 401 | 409 => Err(Error::bad_request(neutron_message(&v)).into()),
        404 => Err(Error::not_found(neutron_message(&v)).into()),
        _ => Err(unexpected("a security group update", s, &v).into()),
    }
}

async fn sg_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:delete")?;
    validate_sg_id(&id)?;
    sg_get(&st, &ctx, &id).await?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::DELETE,
        &format!("security-groups/{id}"),
        &[],
        None,
    )
    .await?;
    match s {
        204 | 200 => Ok(StatusCode::ACCEPTED.into_response()),
        404 => Err(Error::not_found(neutron_message(&v)).into()),
        409 | 400 => Err(Error::bad_request(neutron_message(&v)).into()),
        _ => Err(unexpected("a security group delete", s, &v).into()),
    }
}

// ---- security group rules ----

/// A rule as Nova builds it before sending it to Neutron.
#[derive(Clone, Debug, Default, PartialEq)]
struct NovaRule {
    group_id: Option<String>,
    cidr: Option<String>,
    protocol: Option<String>,
    from_port: Option<i64>,
    to_port: Option<i64>,
}

fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Nova's `parse_cidr`: the whole IPv4 space when empty, else a valid `addr/prefix`.
fn parse_cidr(v: &Value) -> Result<String, Error> {
    let raw = match v {
        Value::Null => return Ok("0.0.0.0/0".into()),
        Value::String(s) if s.is_empty() => return Ok("0.0.0.0/0".into()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let cidr: String = form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let bad = || Error::bad_request(format!("{cidr} is not a valid IP network."));
    let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match prefix.parse::<u8>() {
        Ok(p) if p <= max => Ok(cidr),
        _ => Err(bad()),
    }
}

/// Nova's `_new_ingress_rule`; `Ok(None)` when a CIDR rule lacks protocol or ports.
fn new_ingress_rule(
    protocol: &Value,
    from: &Value,
    to: &Value,
    group_id: Option<String>,
    cidr: Option<String>,
) -> Result<Option<NovaRule>, Error> {
    let mut rule = NovaRule::default();
    let proto = (!protocol.is_null()).then(|| text_of(protocol));
    let proto_upper = proto.as_deref().unwrap_or_default().to_ascii_uppercase();
    let (mut from, mut to) = (from.clone(), to.clone());
    let is_cidr = group_id.is_none() && cidr.is_some();
    if let Some(g) = group_id {
        rule.group_id = Some(g);
        if from.is_null() && to.is_null() {
            if proto_upper == "ICMP" {
                (from, to) = (json!(-1), json!(-1));
            } else if proto_upper == "TCP" || proto_upper == "UDP" {
                (from, to) = (json!(1), json!(65535));
            }
        }
    } else {
        rule.cidr = cidr;
    }
    let proto_given = proto.as_deref().is_some_and(|p| !p.is_empty());
    if proto_given && !from.is_null() && !to.is_null() {
        let (Some(f), Some(t)) = (to_int(&from), to_int(&to)) else {
            return Err(Error::bad_request(if proto_upper == "ICMP" {
                "Invalid input received: Type and Code must be integers for ICMP protocol type"
            } else {
                "Invalid input received: To and From ports must be integers"
            }));
        };
        if !["TCP", "UDP", "ICMP"].contains(&proto_upper.as_str()) {
            return Err(Error::bad_request(format!(
                "Invalid IP protocol {}.",
                proto.unwrap_or_default()
            )));
        }
        let range = |msg: String| Error::bad_request(format!("Invalid port range {f}:{t}. {msg}"));
        if (proto_upper == "TCP" || proto_upper == "UDP") && f > t {
            return Err(range(
                "Former value cannot be greater than the later".into(),
            ));
        }
        if (proto_upper == "TCP" || proto_upper == "UDP") && (f < 1 || t > 65535) {
            return Err(range(format!(
                "Valid {proto_upper} ports should be between 1-65535"
            )));
        }
        if proto_upper == "ICMP" && !((-1..=255).contains(&f) && (-1..=255).contains(&t)) {
            return Err(range("For ICMP, the type:code must be valid".into()));
        }
        rule.protocol = proto;
        rule.from_port = Some(f);
        rule.to_port = Some(t);
    } else if is_cidr {
        return Ok(None);
    }
    Ok(Some(rule))
}

/// Whether `group` (a Neutron group) already has a rule equal to `new` as Nova
/// compares them.
fn rule_exists(group: &Value, new: &NovaRule) -> bool {
    group["security_group_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["direction"] == "ingress")
        .any(|r| {
            let (from, to) = rule_ports(r);
            let cidr = r["remote_ip_prefix"]
                .as_str()
                .filter(|c| !c.is_empty())
                .unwrap_or("0.0.0.0/0");
            r["remote_group_id"].as_str() == new.group_id.as_deref()
                && Some(cidr) == new.cidr.as_deref()
                && from.as_i64() == new.from_port
                && to.as_i64() == new.to_port
                && r["protocol"].as_str() == new.protocol.as_deref()
        })
}

async fn rule_create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:rule:create")?;
    let v = parse_body(&body)?;
    let r = v
        .get("security_group_rule")
        .ok_or_else(|| Error::bad_request("'security_group_rule' is a required property"))?;
    let o = r.as_object().ok_or_else(|| {
        invalid_input(format!(
            "security_group_rule. Value: {r}. {r} is not of type 'object'"
        ))
    })?;
    let parent = match o.get("parent_group_id") {
        None => return Err(Error::bad_request("'parent_group_id' is a required property").into()),
        Some(Value::String(s)) if is_uuid_like(s) => s.clone(),
        Some(x) => {
            return Err(invalid_input(format!(
                "parent_group_id. Value: {}. {x} is not a 'uuid'",
                text_of(x)
            ))
            .into())
        }
    };
    let group_id = match o.get("group_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_uuid_like(s) => Some(s.clone()),
        Some(x) => {
            return Err(invalid_input(format!(
                "group_id. Value: {}. {x} is not a 'uuid'",
                text_of(x)
            ))
            .into())
        }
    };
    let null = Value::Null;
    let security_group = sg_get(&st, &ctx, &parent).await?;
    let source = match &group_id {
        Some(g) => Some(sg_get(&st, &ctx, g).await?),
        None => None,
    };
    let cidr = if group_id.is_none() {
        Some(parse_cidr(o.get("cidr").unwrap_or(&null))?)
    } else {
        None
    };
    let rule = new_ingress_rule(
        o.get("ip_protocol").unwrap_or(&null),
        o.get("from_port").unwrap_or(&null),
        o.get("to_port").unwrap_or(&null),
        group_id.clone(),
        cidr,
    )?
    .ok_or_else(|| Error::bad_request("Not enough parameters to build a valid rule."))?;
    if let Some(c) = &rule.cidr {
        if let Some((net, prefix)) = c.split_once('/') {
            if net != "0.0.0.0" && net != "::" && prefix == "0" {
                return Err(
                    Error::bad_request(format!("Bad prefix for network in cidr {c}")).into(),
                );
            }
        }
    }
    if rule_exists(&security_group, &rule) {
        return Err(
            Error::bad_request(format!("This rule already exists in group {parent}")).into(),
        );
    }
    let ethertype = match &rule.cidr {
        Some(c) if c.contains(':') => "IPv6",
        _ => "IPv4",
    };
    let mut nr = Map::new();
    nr.insert("direction".into(), json!("ingress"));
    nr.insert("protocol".into(), json!(rule.protocol));
    nr.insert("ethertype".into(), json!(ethertype));
    nr.insert("remote_ip_prefix".into(), json!(rule.cidr));
    nr.insert("security_group_id".into(), json!(parent));
    nr.insert("remote_group_id".into(), json!(rule.group_id));
    if let Some(f) = rule.from_port.filter(|p| *p != -1) {
        nr.insert("port_range_min".into(), json!(f));
    }
    if let Some(t) = rule.to_port.filter(|p| *p != -1) {
        nr.insert("port_range_max".into(), json!(t));
    }
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::POST,
        "security-group-rules",
        &[],
        Some(json!({ "security_group_rule": nr })),
    )
    .await?;
    let created = match s {
        201 | 200 => v["security_group_rule"].clone(),
        404 => return Err(Error::not_found(neutron_message(&v)).into()),
        409 => return Err(Error::forbidden(neutron_message(&v)).into()),
        400 => return Err(Error::bad_request(neutron_message(&v)).into()),
        _ => return Err(unexpected("a security group rule create", s, &v).into()),
    };
    let mut names = GroupNames::new();
    if let (Some(g), Some(src)) = (&group_id, &source) {
        names.insert(g.clone(), Some(group_label(src)));
    }
    let body = format_rule(&created, &names).unwrap_or_else(|| json!({}));
    Ok(Json(json!({ "security_group_rule": body })).into_response())
}

async fn rule_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-security-groups:rule:delete")?;
    validate_sg_id(&id)?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::GET,
        &format!("security-group-rules/{id}"),
        &[],
        None,
    )
    .await?;
    let rule = match s {
        200 => v["security_group_rule"].clone(),
        404 => return Err(Error::not_found(neutron_message(&v)).into()),
        _ => return Err(unexpected("a security group rule show", s, &v).into()),
    };
    sg_get(
        &st,
        &ctx,
        rule["security_group_id"].as_str().unwrap_or_default(),
    )
    .await?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::DELETE,
        &format!("security-group-rules/{id}"),
        &[],
        None,
    )
    .await?;
    match s {
        204 | 200 => Ok(StatusCode::ACCEPTED.into_response()),
        404 => Err(Error::not_found(neutron_message(&v)).into()),
        409 => Err(Error::conflict(neutron_message(&v)).into()),
        _ => Err(unexpected("a security group rule delete", s, &v).into()),
    }
}

// ---- floating IPs ----

/// A Neutron floating IP in Nova's shape, given its network and its port (if any).
fn fip_view(f: &Value, network: Option<&Value>, port: Option<&Value>) -> Value {
    let pool = network
        .and_then(|n| n["name"].as_str().filter(|s| !s.is_empty()))
        .or_else(|| f["floating_network_id"].as_str())
        .unwrap_or_default();
    json!({
        "fixed_ip": f["fixed_ip_address"],
        "id": f["id"],
        "instance_id": port.and_then(|p| p["device_id"].as_str()).filter(|d| !d.is_empty()),
        "ip": f["floating_ip_address"],
        "pool": pool,
    })
}

/// A floating IP with its network and port, as Nova's `get_floating_ip` reads it.
async fn fip_get(st: &AppState, ctx: &Ctx, id: &str) -> Result<Value, Error> {
    let not_found = || Error::not_found(format!("Floating IP not found for ID {id}"));
    let (s, v) = neutron(
        st,
        ctx,
        Method::GET,
        &format!("floatingips/{id}"),
        &[],
        None,
    )
    .await?;
    let f = match s {
        200 => v["floatingip"].clone(),
        404 | 400 => return Err(not_found()),
        _ => return Err(unexpected("a floating IP show", s, &v)),
    };
    let net = show_one(st, ctx, "networks", f["floating_network_id"].as_str()).await?;
    let port = show_one(st, ctx, "ports", f["port_id"].as_str()).await?;
    Ok(fip_view(&f, net.as_ref(), port.as_ref()))
}

/// `GET {collection}/{id}`'s object, `None` for no id or 404.
async fn show_one(
    st: &AppState,
    ctx: &Ctx,
    collection: &str,
    id: Option<&str>,
) -> Result<Option<Value>, Error> {
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    let (s, v) = neutron(
        st,
        ctx,
        Method::GET,
        &format!("{collection}/{id}"),
        &[],
        None,
    )
    .await?;
    let key = collection.trim_end_matches('s');
    match s {
        200 => Ok(Some(v[key].clone())),
        404 => Ok(None),
        _ => Err(unexpected(&format!("a {key} show"), s, &v)),
    }
}

async fn fip_list(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-floating-ips:list")?;
    let project = ctx.auth.project_id.clone().unwrap_or_default();
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::GET,
        "floatingips",
        &[("project_id", &project)],
        None,
    )
    .await?;
    let fips = match s {
        200 => v["floatingips"].as_array().cloned().unwrap_or_default(),
        404 => vec![],
        _ => return Err(unexpected("a floating IP list", s, &v).into()),
    };
    if fips.is_empty() {
        return Ok(Json(json!({ "floating_ips": [] })).into_response());
    }
    let mut nets: HashMap<String, Value> = HashMap::new();
    for f in &fips {
        let Some(n) = f["floating_network_id"].as_str() else {
            continue;
        };
        if !nets.contains_key(n) {
            if let Some(net) = show_one(&st, &ctx, "networks", Some(n)).await? {
                nets.insert(n.to_string(), net);
            }
        }
    }
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::GET,
        "ports",
        &[("project_id", &project)],
        None,
    )
    .await?;
    if s != 200 {
        return Err(unexpected("a port list", s, &v).into());
    }
    let ports: HashMap<String, Value> = v["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?.to_string(), p.clone())))
        .collect();
    let items: Vec<Value> = fips
        .iter()
        .map(|f| {
            fip_view(
                f,
                f["floating_network_id"].as_str().and_then(|n| nets.get(n)),
                f["port_id"].as_str().and_then(|p| ports.get(p)),
            )
        })
        .collect();
    Ok(Json(json!({ "floating_ips": items })).into_response())
}

async fn fip_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-floating-ips:show")?;
    let f = fip_get(&st, &ctx, &id).await?;
    Ok(Json(json!({ "floating_ip": f })).into_response())
}

async fn fip_create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-floating-ips:create")?;
    let v = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|_| Error::bad_request("Malformed request body"))?
    };
    let pool = match &v {
        Value::Null => None,
        Value::Object(o) => match o.get("pool") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(x) => {
                return Err(invalid_input(format!(
                    "pool. Value: {x}. {x} is not of type 'string', 'null'"
                ))
                .into())
            }
        },
        other => {
            return Err(invalid_input(format!(
                "Value: {other}. {other} is not of type 'object', 'null'"
            ))
            .into())
        }
    };
    let name = pool
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_FLOATING_POOL.to_string());
    let key = if is_uuid_like(&name) { "id" } else { "name" };
    let (s, nv) = neutron(
        &st,
        &ctx,
        Method::GET,
        "networks",
        &[("router:external", "True"), (key, &name)],
        None,
    )
    .await?;
    if s != 200 {
        return Err(unexpected("a network list", s, &nv).into());
    }
    let nets = nv["networks"].as_array().cloned().unwrap_or_default();
    let net = match nets.len() {
        0 => return Err(Error::not_found("Floating IP pool not found.").into()),
        1 => nets[0].clone(),
        _ => {
            return Err(Error::bad_request(format!(
                "Multiple floating IP pools matches found for name '{name}'"
            ))
            .into())
        }
    };
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::POST,
        "floatingips",
        &[],
        Some(json!({"floatingip": {"floating_network_id": net["id"]}})),
    )
    .await?;
    match s {
        201 | 200 => {
            let f = v["floatingip"].clone();
            Ok(Json(json!({ "floating_ip": fip_view(&f, Some(&net), None) })).into_response())
        }
        _ => {
            let t = neutron_type(&v);
            let msg = if t.contains("IpAddressGenerationFailure")
                || t.contains("ExternalIpAddressExhausted")
            {
                Error::not_found(match &pool {
                    Some(p) => format!("No more floating IPs in pool {p}."),
                    None => "No more floating IPs available.".into(),
                })
            } else if t.contains("OverQuota") {
                Error::forbidden(match &pool {
                    Some(p) => format!("IP allocation over quota in pool {p}."),
                    None => "IP allocation over quota.".into(),
                })
            } else if s == 400 {
                Error::bad_request(neutron_message(&v))
            } else {
                unexpected("a floating IP create", s, &v)
            };
            Err(msg.into())
        }
    }
}

async fn fip_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-floating-ips:delete")?;
    let f = fip_get(&st, &ctx, &id).await?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::DELETE,
        &format!("floatingips/{id}"),
        &[],
        None,
    )
    .await?;
    match s {
        204 | 200 => Ok(StatusCode::ACCEPTED.into_response()),
        404 => Err(Error::not_found(format!(
            "Floating IP not found for address {}.",
            f["ip"].as_str().unwrap_or_default()
        ))
        .into()),
        403 => Err(Error::forbidden(neutron_message(&v)).into()),
        _ => Err(unexpected("a floating IP delete", s, &v).into()),
    }
}

async fn pools(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    if ctx.version.at_least(MAX_PROXY_MINOR + 1) {
        return Err(resource_not_found().into());
    }
    st.compute
        .authorize(&ctx.auth, "os_compute_api:os-floating-ip-pools", &json!({}))?;
    let (s, v) = neutron(
        &st,
        &ctx,
        Method::GET,
        "networks",
        &[("router:external", "True")],
        None,
    )
    .await?;
    if s != 200 {
        return Err(unexpected("a network list", s, &v).into());
    }
    let items: Vec<Value> = v["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let name = n["name"].as_str().filter(|x| !x.is_empty());
            json!({ "name": name.or_else(|| n["id"].as_str()) })
        })
        .collect();
    Ok(Json(json!({ "floating_ip_pools": items })).into_response())
}

// ---- networks ----

const NETWORK_FIELDS: &[&str] = &[
    "cidr",
    "netmask",
    "gateway",
    "broadcast",
    "dns1",
    "dns2",
    "cidr_v6",
    "gateway_v6",
    "netmask_v6",
];

const NETWORK_ADMIN_FIELDS: &[&str] = &[
    "created_at",
    "updated_at",
    "deleted_at",
    "deleted",
    "injected",
    "bridge",
    "vlan",
    "vpn_public_address",
    "vpn_public_port",
    "vpn_private_address",
    "dhcp_start",
    "project_id",
    "host",
    "bridge_interface",
    "multi_host",
    "priority",
    "rxtx_base",
    "mtu",
    "dhcp_server",
    "enable_dhcp",
    "share_address",
];

/// `os-networks`' shape: the id and the name; every nova-network field is null.
fn network_view(n: &Value, admin: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), n["id"].clone());
    m.insert("label".into(), n["name"].clone());
    for f in NETWORK_FIELDS {
        m.insert((*f).into(), Value::Null);
    }
    if admin {
        for f in NETWORK_ADMIN_FIELDS {
            m.insert((*f).into(), Value::Null);
        }
    }
    Value::Object(m)
}

/// `os-tenant-networks`' shape (`cidr` is the string `"None"`, as Nova always showed).
fn tenant_network_view(n: &Value) -> Value {
    json!({"id": n["id"], "cidr": "None", "label": n["name"]})
}

async fn list_networks(st: &AppState, ctx: &Ctx) -> Result<Vec<Value>, Error> {
    let (s, v) = neutron(st, ctx, Method::GET, "networks", &[], None).await?;
    if s != 200 {
        return Err(unexpected("a network list", s, &v));
    }
    Ok(v["networks"].as_array().cloned().unwrap_or_default())
}

async fn get_network(st: &AppState, ctx: &Ctx, id: &str) -> Result<Value, Error> {
    show_one(st, ctx, "networks", Some(id))
        .await?
        .ok_or_else(|| Error::not_found("Network not found"))
}

async fn networks_list(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-networks:list")?;
    let admin = st.compute.is_admin(&ctx.auth);
    let items: Vec<Value> = list_networks(&st, &ctx)
        .await?
        .iter()
        .map(|n| network_view(n, admin))
        .collect();
    Ok(Json(json!({ "networks": items })).into_response())
}

async fn network_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-networks:show")?;
    let n = get_network(&st, &ctx, &id).await?;
    let admin = st.compute.is_admin(&ctx.auth);
    Ok(Json(json!({ "network": network_view(&n, admin) })).into_response())
}

async fn tenant_networks_list(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-tenant-networks:list")?;
    let items: Vec<Value> = list_networks(&st, &ctx)
        .await?
        .iter()
        .map(tenant_network_view)
        .collect();
    Ok(Json(json!({ "networks": items })).into_response())
}

async fn tenant_network_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    gate(&st, &ctx, "os_compute_api:os-tenant-networks:show")?;
    let n = get_network(&st, &ctx, &id).await?;
    Ok(Json(json!({ "network": tenant_network_view(&n) })).into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_nova_shows_them() {
        let r = json!({"id": "r", "security_group_id": "g", "protocol": "tcp",
            "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null,
            "remote_group_id": null, "direction": "ingress"});
        let v = format_rule(&r, &GroupNames::new()).unwrap();
        assert_eq!(v["from_port"], 1);
        assert_eq!(v["to_port"], 65535);
        assert_eq!(v["ip_range"]["cidr"], "0.0.0.0/0");
        assert_eq!(v["group"], json!({}));
        let r = json!({"id": "r", "security_group_id": "g", "protocol": "icmp",
            "remote_group_id": "other", "direction": "ingress"});
        assert!(format_rule(&r, &GroupNames::new()).is_none());
        let mut names = GroupNames::new();
        names.insert("other".into(), Some(("web".into(), "p".into())));
        let v = format_rule(&r, &names).unwrap();
        assert_eq!(v["from_port"], -1);
        assert_eq!(v["group"], json!({"name": "web", "tenant_id": "p"}));
        // Egress rules are not shown.
        let g = json!({"id": "g", "name": "x", "description": "d", "project_id": "p",
            "security_group_rules": [{"id": "e", "direction": "egress", "protocol": null}]});
        assert_eq!(format_group(&g, &names)["rules"], json!([]));
    }

    #[test]
    fn ingress_rules_are_validated_as_nova_does() {
        let c = Some("0.0.0.0/0".to_string());
        let ok = new_ingress_rule(&json!("tcp"), &json!("22"), &json!(22), None, c.clone())
            .unwrap()
            .unwrap();
        assert_eq!((ok.from_port, ok.to_port), (Some(22), Some(22)));
        let err = |p: Value, f: Value, t: Value| {
            new_ingress_rule(&p, &f, &t, None, c.clone())
                .unwrap_err()
                .to_string()
        };
        assert!(err(json!("tcp"), json!("a"), json!(1)).contains("must be integers"));
        assert!(err(json!("abc"), json!(1), json!(1)).contains("Invalid IP protocol abc."));
        assert!(err(json!("tcp"), json!(23), json!(22)).contains("cannot be greater"));
        assert!(err(json!("udp"), json!(0), json!(22)).contains("between 1-65535"));
        assert!(err(json!("icmp"), json!(256), json!(0)).contains("type:code"));
        // A CIDR rule needs protocol and ports; a group rule opens the protocol.
        assert_eq!(
            new_ingress_rule(&json!("tcp"), &Value::Null, &Value::Null, None, c.clone()).unwrap(),
            None
        );
        let g = new_ingress_rule(
            &json!("tcp"),
            &Value::Null,
            &Value::Null,
            Some("g".into()),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!((g.from_port, g.to_port), (Some(1), Some(65535)));
    }

    #[test]
    fn cidrs_parse_as_nova_does() {
        assert_eq!(parse_cidr(&Value::Null).unwrap(), "0.0.0.0/0");
        assert_eq!(parse_cidr(&json!("10.0.0.0%2F8")).unwrap(), "10.0.0.0/8");
        assert!(parse_cidr(&json!("10.0.0.0")).is_err());
        assert!(parse_cidr(&json!("10.0.0.0/33")).is_err());
        assert!(parse_cidr(&json!("fd00::/64")).is_ok());
    }

    #[test]
    fn networks_show_only_id_and_label() {
        let n = json!({"id": "n", "name": "private", "shared": false});
        let v = network_view(&n, false);
        assert_eq!(v["label"], "private");
        assert!(v["cidr"].is_null());
        assert!(v.get("mtu").is_none());
        assert!(network_view(&n, true).get("mtu").is_some());
        assert_eq!(tenant_network_view(&n)["cidr"], "None");
    }
}
