//! The Networking API's routes and thin handlers: authenticate, parse the body, call the
//! app layer, and apply Neutron's list semantics (`fields=`, attribute filters, tag
//! filters, sorting, pagination with `<collection>_links`).

mod list;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use rustack_api_common::{AuthContext, TokenValidator};
use rustack_common::Error;
use rustack_network_api::extensions::EXTENSIONS;
use serde_json::{json, Map, Value};

use crate::app::Network;
use crate::error::{NResult, NeutronError};

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The app layer.
    pub network: Arc<Network>,
    /// Validates `X-Auth-Token`.
    pub validator: Arc<dyn TokenValidator>,
}

type St = State<AppState>;
type Params = Query<Vec<(String, String)>>;

/// A collection: URL segment, JSON key (plural), JSON key (singular) = policy kind.
#[derive(Clone, Copy)]
struct Coll {
    path: &'static str,
    plural: &'static str,
    kind: &'static str,
}

const COLLECTIONS: &[Coll] = &[
    Coll {
        path: "networks",
        plural: "networks",
        kind: "network",
    },
    Coll {
        path: "subnets",
        plural: "subnets",
        kind: "subnet",
    },
    Coll {
        path: "ports",
        plural: "ports",
        kind: "port",
    },
    Coll {
        path: "routers",
        plural: "routers",
        kind: "router",
    },
    Coll {
        path: "floatingips",
        plural: "floatingips",
        kind: "floatingip",
    },
    Coll {
        path: "security-groups",
        plural: "security_groups",
        kind: "security_group",
    },
    Coll {
        path: "security-group-rules",
        plural: "security_group_rules",
        kind: "security_group_rule",
    },
    Coll {
        path: "subnetpools",
        plural: "subnetpools",
        kind: "subnetpool",
    },
];

fn coll(path: &str) -> NResult<Coll> {
    COLLECTIONS
        .iter()
        .find(|c| c.path == path)
        .copied()
        .ok_or_else(|| NeutronError::from(Error::not_found("The resource could not be found.")))
}

/// The whole Networking API.
pub fn router(network: Arc<Network>, validator: Arc<dyn TokenValidator>) -> Router {
    Router::new()
        .route("/", get(versions))
        .route("/v2.0", get(v2))
        .route("/v2.0/", get(v2))
        .route("/v2.0/extensions", get(extensions_list))
        .route("/v2.0/extensions/{alias}", get(extension_show))
        .route("/v2.0/quotas", get(quota_list))
        .route(
            "/v2.0/quotas/{project}",
            get(quota_show).put(quota_update).delete(quota_delete),
        )
        .route("/v2.0/quotas/{project}/default", get(quota_default))
        .route("/v2.0/quotas/{project}/details", get(quota_details))
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(remove_interface),
        )
        .route("/v2.0/routers/{id}/add_extraroutes", put(add_extraroutes))
        .route(
            "/v2.0/routers/{id}/remove_extraroutes",
            put(remove_extraroutes),
        )
        .route("/v2.0/rustack-agent/ports/status", put(agent_port_status))
        .route("/v2.0/rustack-agent/agents/{host}", put(agent_report))
        .route(
            "/v2.0/metering/metering-labels",
            get(metering_label_list).post(metering_label_create),
        )
        .route(
            "/v2.0/metering/metering-labels/{id}",
            get(metering_label_show).delete(metering_label_delete),
        )
        .route(
            "/v2.0/metering/metering-label-rules",
            get(metering_rule_list).post(metering_rule_create),
        )
        .route(
            "/v2.0/metering/metering-label-rules/{id}",
            get(metering_rule_show).delete(metering_rule_delete),
        )
        .route("/v2.0/service-providers", get(service_provider_list))
        .route("/v2.0/agents", get(agent_list))
        .route("/v2.0/agents/{id}", get(agent_show).delete(agent_delete))
        .route("/v2.0/{coll}", get(list_h).post(create_h))
        .route(
            "/v2.0/{coll}/{id}",
            get(show_h).put(update_h).delete(delete_h),
        )
        .route(
            "/v2.0/{coll}/{id}/tags",
            get(tags_get).put(tags_put).delete(tags_delete_all),
        )
        .route(
            "/v2.0/{coll}/{id}/tags/{tag}",
            get(tag_get).put(tag_put).delete(tag_delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState {
            network: network.clone(),
            validator,
        })
        .layer(axum::middleware::from_fn_with_state(network, wake_agents))
        .layer(axum::middleware::from_fn_with_state(
            "network",
            rustack_api_common::request_layer,
        ))
}

/// Bumps the write generation after every successful write (not the agent's own
/// status reports), waking in-process agents.
async fn wake_agents(
    State(network): State<Arc<Network>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let write = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS")
        && !req.uri().path().starts_with("/v2.0/rustack-agent/");
    let resp = next.run(req).await;
    if write && resp.status().is_success() {
        network.notify_change();
    }
    resp
}

/// `PUT /v2.0/rustack-agent/ports/status` (internal, admin only): the network agent
/// reports which ports it realised on its host.
async fn agent_port_status(
    State(st): St,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let v: Value = rustack_api_common::parse_json(&body)?;
    let items = Network::parse_port_statuses(&v)?;
    let changed = st.network.port_status_update(&ctx, &items).await?;
    Ok(Json(json!({"updated": changed})))
}

/// `PUT /v2.0/rustack-agent/agents/{host}` (internal, admin only): a network agent's
/// registration and heartbeat, `{"agent": {"configurations": {...}}}`; answers with
/// every agent (how agents learn each other's VXLAN endpoints).
async fn agent_report(
    State(st): St,
    headers: HeaderMap,
    Path(host): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let b = body_obj(&body, "agent")?;
    let conf = match b.get("configurations") {
        Some(Value::Object(m)) => m.clone(),
        None => Map::new(),
        Some(_) => {
            return Err(NeutronError::bad(
                "HTTPBadRequest",
                "Invalid input for configurations. Reason: it must be a dictionary.",
            ))
        }
    };
    let agents = st.network.agent_report(&ctx, &host, &conf).await?;
    Ok(Json(json!({ "agents": agents })))
}

async fn agent_list(
    State(st): St,
    headers: HeaderMap,
    Query(params): Params,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let docs = st.network.agent_list(&ctx).await?;
    let url = format!("{}/v2.0/agents", base_url(&headers));
    let (items, _) = list::apply(docs, &params, &url)?;
    Ok(Json(json!({ "agents": items })))
}

async fn agent_show(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    Ok(Json(
        json!({"agent": st.network.agent_show(&ctx, &id).await?}),
    ))
}

async fn agent_delete(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    let ctx = auth(&st, &headers).await?;
    st.network.agent_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2.0/service-providers` (`service-type`).
async fn service_provider_list(
    State(st): St,
    headers: HeaderMap,
    Query(params): Params,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let docs = st.network.service_provider_list(&ctx);
    let url = format!("{}/v2.0/service-providers", base_url(&headers));
    let (items, links) = list::apply(docs, &params, &url)?;
    let mut out = Map::new();
    out.insert("service_providers".into(), Value::Array(items));
    if let Some(l) = links {
        out.insert("service_providers_links".into(), l);
    }
    Ok(Json(Value::Object(out)))
}

/// A metering collection: `metering_labels` or `metering_label_rules`.
#[derive(Clone, Copy)]
enum Metering {
    Label,
    Rule,
}

impl Metering {
    fn kind(self) -> &'static str {
        match self {
            Metering::Label => "metering_label",
            Metering::Rule => "metering_label_rule",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Metering::Label => "metering_labels",
            Metering::Rule => "metering_label_rules",
        }
    }
    fn path(self) -> &'static str {
        match self {
            Metering::Label => "metering/metering-labels",
            Metering::Rule => "metering/metering-label-rules",
        }
    }
}

async fn metering_list(
    st: AppState,
    headers: HeaderMap,
    params: Vec<(String, String)>,
    m: Metering,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let docs = match m {
        Metering::Label => st.network.metering_label_list(&ctx).await?,
        Metering::Rule => st.network.metering_label_rule_list(&ctx).await?,
    };
    let url = format!("{}/v2.0/{}", base_url(&headers), m.path());
    let (items, links) = list::apply(docs, &params, &url)?;
    let mut out = Map::new();
    out.insert(m.plural().into(), Value::Array(items));
    if let Some(l) = links {
        out.insert(format!("{}_links", m.plural()), l);
    }
    Ok(Json(Value::Object(out)))
}

async fn metering_create(
    st: AppState,
    headers: HeaderMap,
    body: axum::body::Bytes,
    m: Metering,
) -> NResult<Response> {
    let ctx = auth(&st, &headers).await?;
    let b = body_obj(&body, m.kind())?;
    let doc = match m {
        Metering::Label => st.network.metering_label_create(&ctx, &b).await?,
        Metering::Rule => st.network.metering_label_rule_create(&ctx, &b).await?,
    };
    let mut out = Map::new();
    out.insert(m.kind().into(), doc);
    Ok((StatusCode::CREATED, Json(Value::Object(out))).into_response())
}

async fn metering_show(
    st: AppState,
    headers: HeaderMap,
    id: String,
    params: Vec<(String, String)>,
    m: Metering,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let doc = match m {
        Metering::Label => st.network.metering_label_show(&ctx, &id).await?,
        Metering::Rule => st.network.metering_label_rule_show(&ctx, &id).await?,
    };
    let mut out = Map::new();
    out.insert(m.kind().into(), list::select_fields(doc, &params));
    Ok(Json(Value::Object(out)))
}

async fn metering_delete(
    st: AppState,
    headers: HeaderMap,
    id: String,
    m: Metering,
) -> NResult<StatusCode> {
    let ctx = auth(&st, &headers).await?;
    match m {
        Metering::Label => st.network.metering_label_delete(&ctx, &id).await?,
        Metering::Rule => st.network.metering_label_rule_delete(&ctx, &id).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn metering_label_list(
    State(st): St,
    headers: HeaderMap,
    Query(params): Params,
) -> NResult<Json<Value>> {
    metering_list(st, headers, params, Metering::Label).await
}

async fn metering_label_create(
    State(st): St,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> NResult<Response> {
    metering_create(st, headers, body, Metering::Label).await
}

async fn metering_label_show(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Params,
) -> NResult<Json<Value>> {
    metering_show(st, headers, id, params, Metering::Label).await
}

async fn metering_label_delete(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    metering_delete(st, headers, id, Metering::Label).await
}

async fn metering_rule_list(
    State(st): St,
    headers: HeaderMap,
    Query(params): Params,
) -> NResult<Json<Value>> {
    metering_list(st, headers, params, Metering::Rule).await
}

async fn metering_rule_create(
    State(st): St,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> NResult<Response> {
    metering_create(st, headers, body, Metering::Rule).await
}

async fn metering_rule_show(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Params,
) -> NResult<Json<Value>> {
    metering_show(st, headers, id, params, Metering::Rule).await
}

async fn metering_rule_delete(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> NResult<StatusCode> {
    metering_delete(st, headers, id, Metering::Rule).await
}

async fn not_found() -> NeutronError {
    Error::not_found("The resource could not be found.").into()
}

async fn method_not_allowed() -> NeutronError {
    Error::MethodNotAllowed {
        message: "The server could not comply with the request since it is either malformed or otherwise incorrect.".into(),
    }
    .into()
}

async fn auth(st: &AppState, headers: &HeaderMap) -> NResult<AuthContext> {
    Ok(rustack_api_common::auth::authenticate(headers, st.validator.as_ref()).await?)
}

/// `http://host:port` as the client addressed us.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:9696");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}

async fn versions(headers: HeaderMap) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0",
        "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{}/v2.0/", base_url(&headers))}],
    }]}))
}

async fn v2(headers: HeaderMap) -> Json<Value> {
    let base = base_url(&headers);
    let resources: Vec<Value> = COLLECTIONS
        .iter()
        .map(|c| json!({"name": c.kind, "collection": c.plural, "links": [{"rel": "self", "href": format!("{base}/v2.0/{}", c.path)}]}))
        .collect();
    Json(json!({"resources": resources}))
}

fn ext_json(e: &rustack_network_api::extensions::Extension) -> Value {
    json!({"alias": e.alias, "name": e.name, "description": e.description, "updated": e.updated, "links": []})
}

async fn extensions_list(State(st): St, headers: HeaderMap) -> NResult<Json<Value>> {
    auth(&st, &headers).await?;
    Ok(Json(
        json!({"extensions": EXTENSIONS.iter().map(ext_json).collect::<Vec<_>>()}),
    ))
}

async fn extension_show(
    State(st): St,
    headers: HeaderMap,
    Path(alias): Path<String>,
) -> NResult<Json<Value>> {
    auth(&st, &headers).await?;
    let e = EXTENSIONS
        .iter()
        .find(|e| e.alias == alias)
        .ok_or_else(|| {
            NeutronError::from(Error::not_found(format!(
                "Extension with alias {alias} does not exist"
            )))
        })?;
    Ok(Json(json!({"extension": ext_json(e)})))
}

/// Parses the body and returns the object under `key`.
fn body_obj(body: &[u8], key: &str) -> NResult<Map<String, Value>> {
    let v: Value = rustack_api_common::parse_json(body)?;
    match v.get(key) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(NeutronError::bad(
            "HTTPBadRequest",
            format!("Invalid input for {key}. Reason: it must be a dictionary."),
        )),
        None => Err(NeutronError::bad(
            "HTTPBadRequest",
            format!("Unable to find '{key}' in request body"),
        )),
    }
}

async fn list_h(
    State(st): St,
    headers: HeaderMap,
    Path(path): Path<String>,
    Query(params): Params,
) -> NResult<Response> {
    let c = coll(&path)?;
    let ctx = auth(&st, &headers).await?;
    let n = &st.network;
    let docs = match c.kind {
        "network" => n.network_list(&ctx).await?,
        "subnet" => n.subnet_list(&ctx).await?,
        "port" => n.port_list(&ctx).await?,
        "router" => n.router_list(&ctx).await?,
        "floatingip" => n.floatingip_list(&ctx).await?,
        "security_group" => n.security_group_list(&ctx).await?,
        "security_group_rule" => n.security_group_rule_list(&ctx).await?,
        "subnetpool" => n.subnetpool_list(&ctx).await?,
        _ => return Err(Error::not_found("The resource could not be found.").into()),
    };
    let url = format!("{}/v2.0/{}", base_url(&headers), c.path);
    let (items, links) = list::apply(docs, &params, &url)?;
    let mut out = Map::new();
    out.insert(c.plural.into(), Value::Array(items));
    if let Some(l) = links {
        out.insert(format!("{}_links", c.plural), l);
    }
    Ok(Json(Value::Object(out)).into_response())
}

async fn create_one(
    n: &Network,
    ctx: &AuthContext,
    kind: &str,
    b: &Map<String, Value>,
) -> NResult<Value> {
    match kind {
        "network" => n.network_create(ctx, b).await,
        "subnet" => n.subnet_create(ctx, b).await,
        "port" => n.port_create(ctx, b).await,
        "router" => n.router_create(ctx, b).await,
        "floatingip" => n.floatingip_create(ctx, b).await,
        "security_group" => n.security_group_create(ctx, b).await,
        "security_group_rule" => n.security_group_rule_create(ctx, b).await,
        "subnetpool" => n.subnetpool_create(ctx, b).await,
        _ => Err(Error::not_found("The resource could not be found.").into()),
    }
}

async fn create_h(
    State(st): St,
    headers: HeaderMap,
    Path(path): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Response> {
    let c = coll(&path)?;
    let ctx = auth(&st, &headers).await?;
    let v: Value = rustack_api_common::parse_json(&body)?;
    if let Some(items) = v.get(c.plural) {
        // Bulk create: `{"ports": [...]}`.
        let items = items.as_array().cloned().ok_or_else(|| {
            NeutronError::bad(
                "HTTPBadRequest",
                format!("Invalid input for {}. Reason: it must be a list.", c.plural),
            )
        })?;
        let mut bodies = Vec::new();
        for i in items {
            match i.get(c.kind) {
                Some(Value::Object(m)) => bodies.push(m.clone()),
                _ => match i {
                    Value::Object(m) => bodies.push(m),
                    _ => {
                        return Err(NeutronError::bad(
                            "HTTPBadRequest",
                            format!("Unable to find '{}' in request body", c.kind),
                        ))
                    }
                },
            }
        }
        let created = if c.kind == "port" {
            st.network.port_create_bulk(&ctx, &bodies).await?
        } else {
            let mut out = Vec::new();
            for b in &bodies {
                out.push(create_one(&st.network, &ctx, c.kind, b).await?);
            }
            out
        };
        let mut m = Map::new();
        m.insert(c.plural.into(), Value::Array(created));
        return Ok((StatusCode::CREATED, Json(Value::Object(m))).into_response());
    }
    let b = match v.get(c.kind) {
        Some(Value::Object(m)) => m.clone(),
        _ => {
            return Err(NeutronError::bad(
                "HTTPBadRequest",
                format!("Unable to find '{}' in request body", c.kind),
            ))
        }
    };
    let doc = create_one(&st.network, &ctx, c.kind, &b).await?;
    let mut m = Map::new();
    m.insert(c.kind.into(), doc);
    Ok((StatusCode::CREATED, Json(Value::Object(m))).into_response())
}

async fn show_h(
    State(st): St,
    headers: HeaderMap,
    Path((path, id)): Path<(String, String)>,
    Query(params): Params,
) -> NResult<Response> {
    let c = coll(&path)?;
    let ctx = auth(&st, &headers).await?;
    let doc = st.network.show(&ctx, c.kind, &id).await?;
    let doc = list::select_fields(doc, &params);
    let mut m = Map::new();
    m.insert(c.kind.into(), doc);
    Ok(Json(Value::Object(m)).into_response())
}

async fn update_h(
    State(st): St,
    headers: HeaderMap,
    Path((path, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> NResult<Response> {
    let c = coll(&path)?;
    let ctx = auth(&st, &headers).await?;
    let b = body_obj(&body, c.kind)?;
    let n = &st.network;
    let doc = match c.kind {
        "network" => n.network_update(&ctx, &id, &b).await?,
        "subnet" => n.subnet_update(&ctx, &id, &b).await?,
        "port" => n.port_update(&ctx, &id, &b).await?,
        "router" => n.router_update(&ctx, &id, &b).await?,
        "floatingip" => n.floatingip_update(&ctx, &id, &b).await?,
        "security_group" => n.security_group_update(&ctx, &id, &b).await?,
        "security_group_rule" => n.security_group_rule_update(&ctx, &id, &b).await?,
        "subnetpool" => n.subnetpool_update(&ctx, &id, &b).await?,
        _ => return Err(Error::not_found("The resource could not be found.").into()),
    };
    let mut m = Map::new();
    m.insert(c.kind.into(), doc);
    Ok(Json(Value::Object(m)).into_response())
}

async fn delete_h(
    State(st): St,
    headers: HeaderMap,
    Path((path, id)): Path<(String, String)>,
) -> NResult<StatusCode> {
    let c = coll(&path)?;
    let ctx = auth(&st, &headers).await?;
    let n = &st.network;
    match c.kind {
        "network" => n.network_delete(&ctx, &id).await?,
        "subnet" => n.subnet_delete(&ctx, &id).await?,
        "port" => n.port_delete(&ctx, &id).await?,
        "router" => n.router_delete(&ctx, &id).await?,
        "floatingip" => n.floatingip_delete(&ctx, &id).await?,
        "security_group" => n.security_group_delete(&ctx, &id).await?,
        "security_group_rule" => n.security_group_rule_delete(&ctx, &id).await?,
        "subnetpool" => n.subnetpool_delete(&ctx, &id).await?,
        _ => return Err(Error::not_found("The resource could not be found.").into()),
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn add_interface(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let b: Value = rustack_api_common::parse_json(&body)?;
    let b = b.as_object().cloned().unwrap_or_default();
    Ok(Json(st.network.router_add_interface(&ctx, &id, &b).await?))
}

async fn remove_interface(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let b: Value = rustack_api_common::parse_json(&body)?;
    let b = b.as_object().cloned().unwrap_or_default();
    Ok(Json(
        st.network.router_remove_interface(&ctx, &id, &b).await?,
    ))
}

async fn extraroutes(
    st: AppState,
    headers: HeaderMap,
    id: String,
    body: axum::body::Bytes,
    add: bool,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let b = body_obj(&body, "router")?;
    let r = st.network.router_extraroutes(&ctx, &id, &b, add).await?;
    Ok(Json(json!({"router": r})))
}

async fn add_extraroutes(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    extraroutes(st, headers, id, body, true).await
}

async fn remove_extraroutes(
    State(st): St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    extraroutes(st, headers, id, body, false).await
}

fn tag_kind(path: &str) -> NResult<&'static str> {
    let c = coll(path)?;
    if Network::tag_table(c.kind).is_none() {
        return Err(Error::not_found("The resource could not be found.").into());
    }
    Ok(c.kind)
}

async fn tags_get(
    State(st): St,
    headers: HeaderMap,
    Path((path, id)): Path<(String, String)>,
) -> NResult<Json<Value>> {
    let kind = tag_kind(&path)?;
    let ctx = auth(&st, &headers).await?;
    Ok(Json(
        json!({"tags": st.network.tags_list(&ctx, kind, &id).await?}),
    ))
}

async fn tags_put(
    State(st): St,
    headers: HeaderMap,
    Path((path, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    let kind = tag_kind(&path)?;
    let ctx = auth(&st, &headers).await?;
    let v: Value = rustack_api_common::parse_json(&body)?;
    let tags: Vec<String> = v
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(rustack_network_api::attrs::repr).collect())
        .ok_or_else(|| NeutronError::bad("HTTPBadRequest", "Invalid tags body"))?;
    Ok(Json(
        json!({"tags": st.network.tags_replace(&ctx, kind, &id, tags).await?}),
    ))
}

async fn tags_delete_all(
    State(st): St,
    headers: HeaderMap,
    Path((path, id)): Path<(String, String)>,
) -> NResult<StatusCode> {
    let kind = tag_kind(&path)?;
    let ctx = auth(&st, &headers).await?;
    st.network.tag_delete(&ctx, kind, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_get(
    State(st): St,
    headers: HeaderMap,
    Path((path, id, tag)): Path<(String, String, String)>,
) -> NResult<StatusCode> {
    let kind = tag_kind(&path)?;
    let ctx = auth(&st, &headers).await?;
    st.network.tag_check(&ctx, kind, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_put(
    State(st): St,
    headers: HeaderMap,
    Path((path, id, tag)): Path<(String, String, String)>,
) -> NResult<StatusCode> {
    let kind = tag_kind(&path)?;
    let ctx = auth(&st, &headers).await?;
    st.network.tag_add(&ctx, kind, &id, &tag).await?;
    Ok(StatusCode::CREATED)
}

async fn tag_delete(
    State(st): St,
    headers: HeaderMap,
    Path((path, id, tag)): Path<(String, String, String)>,
) -> NResult<StatusCode> {
    let kind = tag_kind(&path)?;
    let ctx = auth(&st, &headers).await?;
    st.network.tag_delete(&ctx, kind, &id, Some(&tag)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn quota_list(State(st): St, headers: HeaderMap) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    Ok(Json(json!({"quotas": st.network.quota_list(&ctx).await?})))
}

async fn quota_show(
    State(st): St,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    Ok(Json(
        json!({"quota": st.network.quota_show(&ctx, &p).await?}),
    ))
}

async fn quota_default(
    State(st): St,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    Ok(Json(
        json!({"quota": st.network.quota_default(&ctx, &p).await?}),
    ))
}

async fn quota_details(
    State(st): St,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    Ok(Json(
        json!({"quota": st.network.quota_details(&ctx, &p).await?}),
    ))
}

async fn quota_update(
    State(st): St,
    headers: HeaderMap,
    Path(p): Path<String>,
    body: axum::body::Bytes,
) -> NResult<Json<Value>> {
    let ctx = auth(&st, &headers).await?;
    let b = body_obj(&body, "quota")?;
    Ok(Json(
        json!({"quota": st.network.quota_update(&ctx, &p, &b).await?}),
    ))
}

async fn quota_delete(
    State(st): St,
    headers: HeaderMap,
    Path(p): Path<String>,
) -> NResult<StatusCode> {
    let ctx = auth(&st, &headers).await?;
    st.network.quota_delete(&ctx, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}
