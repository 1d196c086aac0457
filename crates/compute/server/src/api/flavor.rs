//! `/flavors`: list/detail/show, create/delete (and 2.55 update), extra specs and
//! flavor access. The newest shape is rendered once; older microversions drop or
//! convert fields in [`flavor_view`].

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{base_url, AppState, Ctx};
use crate::app::flavor::{Flavor, FlavorCreate, FlavorQuery, PublicFilter};
use crate::error::ApiResult;

/// nova's `MAX_INT` for flavor sizes.
const MAX_INT: i64 = 2_147_483_647;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/flavors", get(list).post(create))
        .route("/v2.1/flavors/detail", get(detail))
        .route("/v2.1/flavors/{id}", get(show).delete(delete).put(update))
        .route("/v2.1/flavors/{id}/action", post(action))
        .route("/v2.1/flavors/{id}/os-flavor-access", get(access_list))
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            get(specs_list).post(specs_create),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(spec_show).put(spec_update).delete(spec_delete),
        )
}

fn links(base: &str, kind: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/v2.1/{kind}/{id}")},
        {"rel": "bookmark", "href": format!("{base}/{kind}/{id}")},
    ])
}

/// A flavor as nova renders it at `v` (`detail` = the show/detail shape).
pub fn flavor_view(
    f: &Flavor,
    base: &str,
    v: ApiVersion,
    detail: bool,
    extra_specs: Option<&BTreeMap<String, String>>,
) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(f.flavorid));
    m.insert("name".into(), json!(f.name));
    if detail {
        m.insert("ram".into(), json!(f.memory_mb));
        m.insert("disk".into(), json!(f.root_gb));
        m.insert("vcpus".into(), json!(f.vcpus));
        m.insert("OS-FLV-EXT-DATA:ephemeral".into(), json!(f.ephemeral_gb));
        if !v.at_least(102) {
            m.insert("OS-FLV-DISABLED:disabled".into(), json!(f.disabled));
            m.insert("rxtx_factor".into(), json!(f.rxtx_factor));
        }
        m.insert("os-flavor-access:is_public".into(), json!(f.is_public));
        let swap = if f.swap == 0 && !v.at_least(75) {
            json!("")
        } else {
            json!(f.swap)
        };
        m.insert("swap".into(), swap);
        if v.at_least(61) {
            if let Some(specs) = extra_specs {
                m.insert("extra_specs".into(), json!(specs));
            }
        }
    }
    if v.at_least(55) {
        m.insert("description".into(), json!(f.description));
    }
    m.insert("links".into(), links(base, "flavors", &f.flavorid));
    Value::Object(m)
}

fn query(p: &Params) -> Result<FlavorQuery, Error> {
    let mut q = FlavorQuery::default();
    if let Some(s) = params::param(p, "is_public") {
        q.is_public = if s.eq_ignore_ascii_case("none") {
            PublicFilter::All
        } else {
            match params::strict_bool(s) {
                Some(true) => PublicFilter::Public,
                Some(false) => PublicFilter::Private,
                None => {
                    return Err(Error::bad_request(format!(
                        "Invalid is_public filter [{s}]"
                    )))
                }
            }
        };
    }
    for (key, slot) in [("minRam", &mut q.min_ram), ("minDisk", &mut q.min_disk)] {
        if let Some(s) = params::param(p, key) {
            *slot = Some(
                s.parse()
                    .map_err(|_| Error::bad_request(format!("Invalid {key} filter [{s}]")))?,
            );
        }
    }
    if let Some(k) = params::param(p, "sort_key") {
        q.sort_key = k.to_owned();
    }
    match params::param(p, "sort_dir") {
        None | Some("asc") => {}
        Some("desc") => q.descending = true,
        Some(_) => {
            return Err(Error::bad_request(
                "Unknown sort direction, must be 'desc' or 'asc'",
            ))
        }
    }
    let (limit, marker) = params::limit_and_marker(p)?;
    q.limit = Some(limit);
    q.marker = marker;
    Ok(q)
}

async fn list_common(
    st: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    p: &Params,
    detail: bool,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(
        p,
        ctx.version,
        &[
            "sort_key",
            "sort_dir",
            "is_public",
            "minRam",
            "minDisk",
            "limit",
            "marker",
        ],
    )?;
    let q = query(p)?;
    let limit = q.limit.unwrap_or(params::MAX_LIMIT);
    let flavors = st.compute.flavor_list(&ctx.auth, &q).await?;
    let base = base_url(headers);
    let mut items = Vec::with_capacity(flavors.len());
    for f in &flavors {
        let specs = if detail && ctx.version.at_least(61) {
            Some(st.compute.flavor_extra_specs_get(&f.flavorid).await?)
        } else {
            None
        };
        items.push(flavor_view(f, &base, ctx.version, detail, specs.as_ref()));
    }
    let mut body = json!({"flavors": items});
    if limit > 0 && flavors.len() == limit {
        if let Some(last) = flavors.last() {
            let path = if detail { "flavors/detail" } else { "flavors" };
            body["flavors_links"] = json!([{
                "rel": "next",
                "href": format!("{base}/v2.1/{path}?limit={limit}&marker={}", last.flavorid),
            }]);
        }
    }
    Ok(Json(body))
}

async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    list_common(&st, &ctx, &headers, &p, false).await
}

async fn detail(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    list_common(&st, &ctx, &headers, &p, true).await
}

async fn render_one(
    st: &AppState,
    ctx: &Ctx,
    headers: &HeaderMap,
    f: &Flavor,
) -> ApiResult<Json<Value>> {
    let specs = if ctx.version.at_least(61) {
        Some(st.compute.flavor_extra_specs_get(&f.flavorid).await?)
    } else {
        None
    };
    Ok(Json(json!({"flavor": flavor_view(
        f,
        &base_url(headers),
        ctx.version,
        true,
        specs.as_ref()
    )})))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = st.compute.flavor_get(&id).await?;
    render_one(&st, &ctx, &headers, &f).await
}

fn parse_create(body: &Value, v: ApiVersion) -> Result<FlavorCreate, Error> {
    let f = params::wrapped(body, "flavor")?;
    let mut allowed = vec![
        "name",
        "id",
        "ram",
        "vcpus",
        "disk",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    if v.at_least(55) {
        allowed.push("description");
    }
    params::no_extra_keys(f, &allowed)?;
    let required = |k: &str| {
        f.get(k).ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for field/attribute flavor. Value: {body}. '{k}' is a required property"
            ))
        })
    };
    let name = params::name_field("name", required("name")?, 255)?;
    let id = match f.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 255
                && s.trim() == s
                && s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ". _-".contains(c)) =>
        {
            Some(s.clone())
        }
        // Nova's schema also takes a number (Tempest sends integers), stored as text.
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute id. Value: {other}. {other} does not match the required pattern"
            )))
        }
    };
    let opt_int = |k: &str, min: i64| -> Result<i64, Error> {
        match f.get(k) {
            None => Ok(0),
            Some(v) => params::body_int(k, v, min, MAX_INT),
        }
    };
    let rxtx_factor = match f.get("rxtx_factor") {
        None => 1.0,
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            }
            .filter(|n| *n > 0.0 && *n <= 3.40282e38)
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input for field/attribute rxtx_factor. Value: {v}."
                ))
            })?;
            n
        }
    };
    let is_public = match f.get("os-flavor-access:is_public") {
        None => true,
        Some(v) => params::body_bool(v).ok_or_else(|| {
            Error::bad_request(format!(
                "Invalid input for field/attribute os-flavor-access:is_public. Value: {v}. {v} is not of type 'boolean', 'string'"
            ))
        })?,
    };
    let description = match f.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 65535 => Some(s.clone()),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute description. Value: {other}."
            )))
        }
    };
    Ok(FlavorCreate {
        name,
        id,
        ram: params::body_int("ram", required("ram")?, 1, MAX_INT)?,
        vcpus: params::body_int("vcpus", required("vcpus")?, 1, MAX_INT)?,
        disk: params::body_int("disk", required("disk")?, 0, MAX_INT)?,
        ephemeral: opt_int("OS-FLV-EXT-DATA:ephemeral", 0)?,
        swap: opt_int("swap", 0)?,
        rxtx_factor,
        is_public,
        description,
    })
}

async fn create(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    // Policy before validation, as nova checks `os-flavor-manage:create` first.
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-flavor-manage:create",
        &crate::app::Compute::own_target(&ctx.auth),
    )?;
    let req = parse_create(&params::json_body(&body)?, ctx.version)?;
    let f = st.compute.flavor_create(&ctx.auth, req).await?;
    render_one(&st, &ctx, &headers, &f).await
}

async fn update(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if !ctx.version.at_least(55) {
        return Err(Error::MethodNotAllowed {
            message: "The server could not comply with the request since it is either malformed or otherwise incorrect.".into(),
        }
        .into());
    }
    let v = params::json_body(&body)?;
    let f = params::wrapped(&v, "flavor")?;
    params::no_extra_keys(f, &["description"])?;
    let description =
        match f.get("description") {
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            _ => return Err(Error::bad_request(
                "Invalid input for field/attribute flavor. 'description' is a required property",
            )
            .into()),
        };
    let f = st
        .compute
        .flavor_update(&ctx.auth, &id, description.as_deref())
        .await?;
    render_one(&st, &ctx, &headers, &f).await
}

async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    st.compute.flavor_delete(&ctx.auth, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

fn access_view(flavorid: &str, projects: &[String]) -> Value {
    json!({"flavor_access": projects
        .iter()
        .map(|p| json!({"flavor_id": flavorid, "tenant_id": p}))
        .collect::<Vec<_>>()})
}

async fn access_list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let projects = st.compute.flavor_access_list(&ctx.auth, &id).await?;
    Ok(Json(access_view(&id, &projects)))
}

async fn action(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let v = params::json_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    let (name, args) = obj
        .iter()
        .next()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    let tenant = || -> Result<String, Error> {
        let a = args.as_object().ok_or_else(|| {
            Error::bad_request(format!("Invalid input for field/attribute {name}."))
        })?;
        params::no_extra_keys(a, &["tenant"])?;
        match a.get("tenant") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(s.clone()),
            _ => Err(Error::bad_request(format!(
                "Invalid input for field/attribute {name}. 'tenant' is a required property"
            ))),
        }
    };
    let projects = match name.as_str() {
        "addTenantAccess" => {
            let t = tenant()?;
            st.compute
                .flavor_access_add(&ctx.auth, &id, &t, ctx.version.at_least(7))
                .await?
        }
        "removeTenantAccess" => {
            let t = tenant()?;
            st.compute.flavor_access_remove(&ctx.auth, &id, &t).await?
        }
        other => return Err(Error::not_found(format!("There is no such action: {other}")).into()),
    };
    Ok(Json(access_view(&id, &projects)).into_response())
}

/// Validates an extra specs object: keys `[a-zA-Z0-9-_:. ]{1,255}`, values strings,
/// numbers or booleans (stored as text, as nova's `str()` does).
fn parse_specs(obj: &Map<String, Value>) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let key_ok = !k.is_empty()
            && k.len() <= 255
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute extra_specs. Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        let s = match v {
            Value::String(s) if s.chars().count() <= 255 => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
            other => {
                return Err(Error::bad_request(format!(
                    "Invalid input for field/attribute {k}. Value: {other}. {other} is not of type 'string', 'number', 'boolean'"
                )))
            }
        };
        out.insert(k.clone(), s);
    }
    Ok(out)
}

async fn specs_list(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let specs = st.compute.flavor_extra_specs_list(&ctx.auth, &id).await?;
    Ok(Json(json!({"extra_specs": specs})))
}

async fn specs_create(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-flavor-extra-specs:create",
        &crate::app::Compute::own_target(&ctx.auth),
    )?;
    let v = params::json_body(&body)?;
    let obj = params::wrapped(&v, "extra_specs")?;
    params::no_extra_keys(v.as_object().unwrap_or(&Map::new()), &["extra_specs"])?;
    let specs = parse_specs(obj)?;
    st.compute
        .flavor_extra_specs_set(&ctx.auth, &id, &specs, false)
        .await?;
    Ok(Json(json!({"extra_specs": specs})))
}

async fn spec_show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let value = st
        .compute
        .flavor_extra_spec_show(&ctx.auth, &id, &key)
        .await?;
    Ok(Json(json!({ key: value })))
}

async fn spec_update(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    st.compute.authorize(
        &ctx.auth,
        "os_compute_api:os-flavor-extra-specs:update",
        &crate::app::Compute::own_target(&ctx.auth),
    )?;
    let v = params::json_body(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::bad_request("Malformed request body"))?;
    if obj.len() > 1 {
        return Err(Error::bad_request("Request body contains too many items").into());
    }
    if !obj.contains_key(&key) {
        return Err(Error::bad_request("Request body and URI mismatch").into());
    }
    let specs = parse_specs(obj)?;
    st.compute
        .flavor_extra_specs_set(&ctx.auth, &id, &specs, true)
        .await?;
    Ok(Json(json!(specs)))
}

async fn spec_delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    st.compute
        .flavor_extra_spec_delete(&ctx.auth, &id, &key)
        .await?;
    // Nova answers 200 (with no body), not 202.
    Ok(StatusCode::OK)
}
