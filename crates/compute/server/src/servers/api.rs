//! Thin handlers of `/servers` and its sub-resources: parse and validate, call the app
//! layer, render the body for the request's microversion.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::server::view::{self, BodyKind, RenderOptions};
use rustack_compute_api::server::{ServerAction, ServerCreate, ServerUpdate};
use serde_json::{json, Map, Value};

use super::app::{api_time, ActionOutcome, Caller};
use super::store::Instance;
use super::Servers;
use crate::api::{base_url, AppState, Ctx};
use crate::error::ApiResult;

/// Routes of the servers work.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/servers", get(list).post(create))
        .route("/v2.1/servers/detail", get(detail))
        .route("/v2.1/servers/{id}", get(show).put(update).delete(delete))
        .route("/v2.1/servers/{id}/action", post(action))
        .route(
            "/v2.1/servers/{id}/metadata",
            get(md_list).post(md_create).put(md_replace),
        )
        .route(
            "/v2.1/servers/{id}/metadata/{key}",
            get(md_show).put(md_update).delete(md_delete),
        )
        .route("/v2.1/servers/{id}/os-instance-actions", get(actions_list))
        .route(
            "/v2.1/servers/{id}/os-instance-actions/{req}",
            get(action_show),
        )
        .route("/v2.1/servers/{id}/ips", get(ips))
        .route("/v2.1/servers/{id}/ips/{label}", get(ips_by_label))
        .route(
            "/v2.1/servers/{id}/os-interface",
            get(iface_list).post(iface_attach),
        )
        .route(
            "/v2.1/servers/{id}/os-interface/{port}",
            get(iface_show).delete(iface_detach),
        )
        .route("/v2.1/servers/{id}/os-security-groups", get(server_sgs))
        // Nova's `os-volumes_boot` alias of `/servers` (removed at 2.103).
        .route("/v2.1/os-volumes_boot", get(list).post(create))
        .route("/v2.1/os-volumes_boot/detail", get(detail))
        .route(
            "/v2.1/os-volumes_boot/{id}",
            get(show).put(update).delete(delete),
        )
}

/// oslo's `bool_from_string(strict=True)`.
pub fn strict_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

fn servers(st: &AppState) -> Result<Arc<Servers>, Error> {
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

fn opts(st: &AppState, ctx: &Ctx, headers: &HeaderMap, i: Option<&Instance>) -> RenderOptions {
    let base = base_url(headers);
    let t = match i {
        Some(i) => json!({"project_id": i.project_id, "user_id": i.user_id}),
        None => json!({"project_id": ctx.auth.project_id, "user_id": ctx.auth.user_id}),
    };
    RenderOptions {
        minor: ctx.version.minor,
        extended_attrs: st.compute.allowed(
            &ctx.auth,
            "os_compute_api:os-extended-server-attributes",
            &t,
        ),
        host_status: st
            .compute
            .allowed(&ctx.auth, "os_compute_api:servers:show:host_status", &t),
        fault_details: st.compute.is_admin(&ctx.auth),
        self_base: format!("{base}/v2.1"),
        bookmark_base: base,
    }
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

fn invalid(e: rustack_compute_api::server::Invalid) -> Error {
    Error::bad_request(e.0)
}

async fn render_one(
    s: &Servers,
    st: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    i: &Instance,
    kind: BodyKind,
) -> Result<Value, Error> {
    let mut v = s.view(i).await?;
    super::network_actions::add_floating(&mut v, i, &s.floating_map(&[i]).await);
    Ok(view::render(&v, kind, &opts(st, ctx, headers, Some(i))))
}

async fn create(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let v = parse_body(&body)?;
    let req = ServerCreate::parse(&v, ctx.version.minor).map_err(invalid)?;
    let created = s.create(&caller(&ctx), req).await?;
    if created.return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": created.reservation_id})),
        )
            .into_response());
    }
    let first = created
        .servers
        .first()
        .ok_or_else(|| Error::internal("create made no server"))?;
    let o = opts(&st, &ctx, &headers, Some(first));
    let links =
        view::render_brief(&s.view_with(first, BTreeMap::new(), vec![]), &o)["links"].clone();
    let server = json!({
        "id": first.uuid,
        "links": links,
        "OS-DCF:diskConfig": first.disk_config,
        "security_groups": first.security_groups.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "adminPass": created.admin_pass,
    });
    let mut resp = (StatusCode::ACCEPTED, Json(json!({ "server": server }))).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("{}/servers/{}", o.self_base, first.uuid)) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

async fn list_impl(
    st: AppState,
    ctx: Ctx,
    headers: HeaderMap,
    raw: Option<String>,
    detail: bool,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let q = query(raw);
    let page = s.list(&caller(&ctx), &q, detail).await?;
    let o = opts(&st, &ctx, &headers, None);
    let mut items = Vec::with_capacity(page.len());
    if detail {
        let floating = s.floating_map(&page.iter().collect::<Vec<_>>()).await;
        let mut conn = s.compute.conn().await?;
        for i in &page {
            let md = super::store::get_metadata(&mut conn, &i.uuid).await?;
            let groups = if ctx.version.minor >= 71 {
                super::store::core::groups_of(&mut conn, &i.uuid).await?
            } else {
                vec![]
            };
            let mut v = s.view_with(i, md, groups);
            super::network_actions::add_floating(&mut v, i, &floating);
            v.volumes = crate::volumes::store::for_instance(&mut conn, &i.uuid)
                .await?
                .into_iter()
                .map(|b| (b.volume_id, b.delete_on_termination))
                .collect();
            let mut oi = o.clone();
            oi.extended_attrs = st.compute.allowed(
                &ctx.auth,
                "os_compute_api:os-extended-server-attributes",
                &json!({"project_id": i.project_id, "user_id": i.user_id}),
            );
            items.push(view::render(&v, BodyKind::Show, &oi));
        }
    } else {
        for i in &page {
            items.push(view::render_brief(
                &s.view_with(i, BTreeMap::new(), vec![]),
                &o,
            ));
        }
    }
    let mut body = Map::new();
    let limit_given = q.iter().any(|(k, _)| k == "limit");
    let limit: usize = q
        .iter()
        .rev()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1000);
    if (limit_given && page.len() == limit && limit > 0) || page.len() == 1000 {
        if let Some(last) = page.last() {
            let mut params: Vec<(String, String)> =
                q.iter().filter(|(k, _)| k != "marker").cloned().collect();
            params.push(("marker".into(), last.uuid.clone()));
            let qs = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish();
            let path = if detail { "servers/detail" } else { "servers" };
            body.insert(
                "servers_links".into(),
                json!([{"rel": "next", "href": format!("{}/{path}?{qs}", o.self_base)}]),
            );
        }
    }
    body.insert("servers".into(), Value::Array(items));
    Ok(Json(Value::Object(body)).into_response())
}

async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list_impl(st, ctx, headers, raw, false).await
}

async fn detail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    list_impl(st, ctx, headers, raw, true).await
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let i = s
        .get_for(&caller(&ctx), &id, "os_compute_api:servers:show")
        .await?;
    let body = render_one(&s, &st, &ctx, &headers, &i, BodyKind::Show).await?;
    Ok(Json(json!({ "server": body })).into_response())
}

async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let v = parse_body(&body)?;
    let u = ServerUpdate::parse(&v, ctx.version.minor).map_err(invalid)?;
    let i = s.update(&caller(&ctx), &id, u).await?;
    let body = render_one(&s, &st, &ctx, &headers, &i, BodyKind::Update).await?;
    Ok(Json(json!({ "server": body })).into_response())
}

async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    s.delete(&caller(&ctx), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn action(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let v = parse_body(&body)?;
    if let Some(r) = super::ops_action(&s, &ctx, &id, &v).await {
        return r;
    }
    if let Some(r) = super::network_actions::action(&s, &ctx, &id, &v).await {
        return r;
    }
    let Some(a) = ServerAction::parse(&v, ctx.version.minor).map_err(invalid)? else {
        // Nova looks the server up first, then refuses the unknown action.
        s.get_for(&caller(&ctx), &id, "os_compute_api:servers:show")
            .await?;
        return Err(Error::bad_request(
            "There is no such action: ".to_string()
                + &v.as_object()
                    .and_then(|o| o.keys().next().cloned())
                    .unwrap_or_default(),
        )
        .into());
    };
    // Nova answers confirmResize with 204, every other accepted action with 202.
    let accepted = if matches!(a, ServerAction::ConfirmResize) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    let out = s.action(&caller(&ctx), &id, a).await?;
    Ok(match out {
        ActionOutcome::Accepted => accepted.into_response(),
        ActionOutcome::Console(output) => Json(json!({ "output": output })).into_response(),
        ActionOutcome::Rescued(pass) => Json(json!({ "adminPass": pass })).into_response(),
        ActionOutcome::Rebuilt(i, admin_pass) => {
            let mut body = render_one(&s, &st, &ctx, &headers, &i, BodyKind::Rebuild).await?;
            body["adminPass"] = json!(admin_pass);
            (StatusCode::ACCEPTED, Json(json!({ "server": body }))).into_response()
        }
        ActionOutcome::Image(image_id) => {
            let base = base_url(&headers);
            if ctx.version.minor >= 45 {
                (StatusCode::ACCEPTED, Json(json!({ "image_id": image_id }))).into_response()
            } else {
                let mut r = StatusCode::ACCEPTED.into_response();
                if let Ok(h) = HeaderValue::from_str(&format!("{base}/v2.1/images/{image_id}")) {
                    r.headers_mut().insert("location", h);
                }
                r
            }
        }
    })
}

fn md_body(v: &Value, key: &str) -> Result<BTreeMap<String, String>, Error> {
    let obj = v
        .as_object()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    if obj.len() != 1 || !obj.contains_key(key) {
        return Err(Error::bad_request(format!(
            "'{key}' is a required property"
        )));
    }
    rustack_compute_api::server::request::validate_metadata(key, &obj[key]).map_err(invalid)
}

async fn md_list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let (_, md) = s
        .metadata_get(&caller(&ctx), &id, "os_compute_api:server-metadata:index")
        .await?;
    Ok(Json(json!({ "metadata": md })).into_response())
}

async fn md_create(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let items = md_body(&parse_body(&body)?, "metadata")?;
    let md = s
        .metadata_set(
            &caller(&ctx),
            &id,
            items,
            false,
            "os_compute_api:server-metadata:create",
        )
        .await?;
    Ok(Json(json!({ "metadata": md })).into_response())
}

async fn md_replace(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let items = md_body(&parse_body(&body)?, "metadata")?;
    let md = s
        .metadata_set(
            &caller(&ctx),
            &id,
            items,
            true,
            "os_compute_api:server-metadata:update_all",
        )
        .await?;
    Ok(Json(json!({ "metadata": md })).into_response())
}

async fn md_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let (_, md) = s
        .metadata_get(&caller(&ctx), &id, "os_compute_api:server-metadata:show")
        .await?;
    let v = md
        .get(&key)
        .ok_or_else(|| Error::not_found("Metadata item was not found"))?;
    Ok(Json(json!({ "meta": { key: v } })).into_response())
}

async fn md_update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let v = parse_body(&body)?;
    let meta = v
        .get("meta")
        .ok_or_else(|| Error::bad_request("'meta' is a required property"))?;
    let obj = meta
        .as_object()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    if obj.len() > 1 {
        return Err(Error::bad_request("Request body contains too many items").into());
    }
    let items =
        rustack_compute_api::server::request::validate_metadata("meta", meta).map_err(invalid)?;
    if !items.contains_key(&key) {
        return Err(Error::bad_request("Request body and URI mismatch").into());
    }
    s.metadata_set(
        &caller(&ctx),
        &id,
        items.clone(),
        false,
        "os_compute_api:server-metadata:update",
    )
    .await?;
    Ok(Json(json!({ "meta": items })).into_response())
}

async fn md_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    s.metadata_delete(&caller(&ctx), &id, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The action's `updated_at` (2.58): when its last event finished, else its start.
fn action_updated(a: &super::store::ActionRecord) -> &str {
    a.finish_time.as_deref().unwrap_or(&a.start_time)
}

fn action_json(a: &super::store::ActionRecord, minor: u32) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.instance_uuid,
        "message": a.message,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": api_time(&a.start_time),
        "user_id": a.user_id,
    });
    if minor >= 58 {
        v["updated_at"] = json!(api_time(action_updated(a)));
    }
    v
}

async fn actions_list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let minor = ctx.version.minor;
    let params: crate::api::params::Params = q
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    // 2.58: paging by request id and the updated_at window; unknown parameters 400.
    let page = if minor >= 58 {
        Some(super::paging::page_query(&params, minor, &[])?)
    } else {
        None
    };
    let acts = s.actions_list(&caller(&ctx), &id).await?;
    let Some(page) = page else {
        let items: Vec<Value> = acts.iter().map(|a| action_json(a, minor)).collect();
        return Ok(Json(json!({ "instanceActions": items })).into_response());
    };
    let acts: Vec<_> = acts
        .into_iter()
        .filter(|a| page.in_window(Some(action_updated(a))))
        .collect();
    let acts = page.page(acts, |a| a.request_id.as_str())?;
    let items: Vec<Value> = acts.iter().map(|a| action_json(a, minor)).collect();
    let mut body = json!({ "instanceActions": items });
    let self_base = format!("{}/v2.1", base_url(&headers));
    if let Some(links) = super::paging::next_links(
        &self_base,
        &format!("servers/{id}/os-instance-actions"),
        &params,
        &page,
        acts.len(),
        acts.last().map(|a| a.request_id.as_str()),
    ) {
        body["links"] = links;
    }
    Ok(Json(body).into_response())
}

async fn action_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, req)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let minor = ctx.version.minor;
    let (a, events, details, inst) = s.action_show(&caller(&ctx), &id, &req).await?;
    let mut body = action_json(&a, minor);
    if events {
        // The host an event ran on is the server's compute host (2.62: shown to those
        // allowed the event details, its obfuscated `hostId` to everyone).
        let host = inst
            .host
            .clone()
            .or_else(|| s.compute.config().host.clone())
            .unwrap_or_default();
        let project = if a.project_id.is_empty() {
            inst.project_id.as_str()
        } else {
            a.project_id.as_str()
        };
        let ev: Vec<Value> = a
            .events
            .iter()
            .map(|e| {
                let mut v = json!({
                    "event": e.event,
                    "start_time": api_time(&e.start_time),
                    "finish_time": e.finish_time.as_deref().map(api_time),
                    "result": e.result,
                });
                if details {
                    v["traceback"] = json!(e.traceback);
                }
                if minor >= 62 {
                    if details {
                        v["host"] = json!(host);
                    }
                    v["hostId"] = json!(super::app::host_id(project, Some(&host)));
                }
                // 2.84: the failure's message (`null` for a success).
                if minor >= 84 && details {
                    v["details"] = json!(e.traceback);
                }
                v
            })
            .collect();
        body["events"] = Value::Array(ev);
    }
    Ok(Json(json!({ "instanceAction": body })).into_response())
}

async fn ips(State(st): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> ApiResult<Response> {
    let s = servers(&st)?;
    let i = s
        .get_for(&caller(&ctx), &id, "os_compute_api:ips:index")
        .await?;
    let mut v = s.view_with(&i, BTreeMap::new(), vec![]);
    super::network_actions::add_floating(&mut v, &i, &s.floating_map(&[&i]).await);
    Ok(Json(json!({ "addresses": view::render_addresses(&v, false) })).into_response())
}

async fn ips_by_label(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, label)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let i = s
        .get_for(&caller(&ctx), &id, "os_compute_api:ips:show")
        .await?;
    let mut v = s.view_with(&i, BTreeMap::new(), vec![]);
    super::network_actions::add_floating(&mut v, &i, &s.floating_map(&[&i]).await);
    let all = view::render_addresses(&v, false);
    let items = all
        .get(&label)
        .cloned()
        .ok_or_else(|| Error::not_found("Network label not found"))?;
    Ok(Json(json!({ label: items })).into_response())
}

fn iface_json(p: &rustack_network_api::client::Port, minor: u32, tag: Option<&str>) -> Value {
    let mut v = json!({
        "port_state": p.status,
        "fixed_ips": p.fixed_ips.iter().map(|f| json!({"subnet_id": f.subnet_id, "ip_address": f.ip_address})).collect::<Vec<_>>(),
        "port_id": p.id,
        "net_id": p.network_id,
        "mac_addr": p.mac_address,
    });
    if minor >= 70 {
        v["tag"] = json!(tag);
    }
    v
}

async fn iface_list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let i = s
        .get_for(
            &caller(&ctx),
            &id,
            "os_compute_api:os-attach-interfaces:list",
        )
        .await?;
    let token = s.service_token().await?;
    let ports = s.network.list_ports_by_device(&token, &i.uuid).await?;
    let items: Vec<Value> = ports
        .iter()
        .map(|p| {
            iface_json(
                p,
                ctx.version.minor,
                i.nics
                    .iter()
                    .find(|n| n.port_id == p.id)
                    .and_then(|n| n.tag.as_deref()),
            )
        })
        .collect();
    Ok(Json(json!({ "interfaceAttachments": items })).into_response())
}

async fn iface_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let i = s
        .get_for(
            &caller(&ctx),
            &id,
            "os_compute_api:os-attach-interfaces:show",
        )
        .await?;
    let token = s.service_token().await?;
    let p = s
        .network
        .show_port(&token, &port)
        .await?
        .filter(|p| p.device_id == i.uuid)
        .ok_or_else(|| {
            Error::not_found(
                format!("Instance {} is not attached to port {port}.", i.uuid)
                    .replace("is not attached to port", "does not have port"),
            )
        })?;
    let tag = i
        .nics
        .iter()
        .find(|n| n.port_id == p.id)
        .and_then(|n| n.tag.clone());
    Ok(
        Json(json!({ "interfaceAttachment": iface_json(&p, ctx.version.minor, tag.as_deref()) }))
            .into_response(),
    )
}

async fn iface_attach(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let v = parse_body(&body)?;
    let req = v
        .get("interfaceAttachment")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let obj = req
        .as_object()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    let mut allowed = vec!["net_id", "port_id", "fixed_ips"];
    if ctx.version.minor >= 49 {
        allowed.push("tag");
    }
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))
        .into());
    }
    let net_id = obj.get("net_id").and_then(Value::as_str).map(String::from);
    let port_id = obj.get("port_id").and_then(Value::as_str).map(String::from);
    if net_id.is_some() && port_id.is_some() {
        return Err(Error::bad_request("Must not input both network_id and port_id").into());
    }
    let fixed_ip = obj
        .get("fixed_ips")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|f| f["ip_address"].as_str())
        .map(String::from);
    if fixed_ip.is_some() && net_id.is_none() {
        return Err(Error::bad_request("A network ID must be given with fixed_ips").into());
    }
    let tag = obj.get("tag").and_then(Value::as_str).map(String::from);
    let p = s
        .interface_attach(&caller(&ctx), &id, net_id, port_id, fixed_ip, tag.clone())
        .await?;
    Ok(
        Json(json!({ "interfaceAttachment": iface_json(&p, ctx.version.minor, tag.as_deref()) }))
            .into_response(),
    )
}

async fn iface_detach(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, port)): Path<(String, String)>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    s.interface_detach(&caller(&ctx), &id, &port).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn server_sgs(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let s = servers(&st)?;
    let i = s
        .get_for(&caller(&ctx), &id, "os_compute_api:os-security-groups:list")
        .await?;
    let groups = crate::api::network_proxy::server_security_groups(&s, &i.uuid).await?;
    Ok(Json(json!({ "security_groups": groups })).into_response())
}
