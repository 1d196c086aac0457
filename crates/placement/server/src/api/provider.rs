//! `/resource_providers` and its sub-resources: inventories, traits, aggregates,
//! usages and allocations of one provider.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rustack_placement_api::{codes, Inventory};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    authorize, body, check_params, parse_uuid, query_pairs, single, with_cache_headers, St, Version,
};
use crate::candidates::{self, AggClause, ProviderFilter, TraitClause};
use crate::error::{PResult, PlacementError};
use crate::store::Provider;
use crate::PlacementService;

fn links(v: Version, uuid: &str) -> Value {
    let url = format!("/resource_providers/{uuid}");
    let mut rels = vec!["inventories", "usages"];
    if v.at_least(1) {
        rels.push("aggregates");
    }
    if v.at_least(6) {
        rels.push("traits");
    }
    if v.at_least(11) {
        rels.push("allocations");
    }
    let mut out = vec![json!({"rel": "self", "href": url})];
    for r in rels {
        out.push(json!({"rel": r, "href": format!("{url}/{r}")}));
    }
    Value::Array(out)
}

/// A provider in the shape of version `v`.
pub(crate) fn provider_json(v: Version, p: &Provider) -> Value {
    let mut o = json!({
        "uuid": p.uuid,
        "name": p.name,
        "generation": p.generation,
        "links": links(v, &p.uuid),
    });
    if v.at_least(14) {
        o["parent_provider_uuid"] = json!(p.parent_uuid);
        o["root_provider_uuid"] = json!(p.root_uuid);
    }
    o
}

/// Parses `required` values into clauses (`!T` from 1.22, `in:A,B` from 1.39,
/// repeated parameters from 1.39), checking every trait exists.
pub(crate) async fn parse_required(
    svc: &PlacementService,
    v: Version,
    values: &[&str],
    param: &str,
) -> PResult<Vec<TraitClause>> {
    if values.len() > 1 && !v.at_least(39) {
        return Err(PlacementError::new(
            400,
            codes::ILLEGAL_DUPLICATE_QUERYPARAM,
            format!("Query parameter '{param}' may only appear once."),
        ));
    }
    let mut clauses = Vec::new();
    let mut names = Vec::new();
    for value in values {
        if let Some(rest) = value.strip_prefix("in:").filter(|_| v.at_least(39)) {
            let any: Vec<String> = rest.split(',').map(|s| s.trim().to_string()).collect();
            if any.iter().any(String::is_empty) {
                return Err(PlacementError::bad_query(format!("Invalid query string parameters: Expected '{param}' parameter value of the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}")));
            }
            names.extend(any.clone());
            clauses.push(TraitClause::AnyOf(any));
            continue;
        }
        for t in value.split(',').map(str::trim) {
            if t.is_empty() {
                return Err(PlacementError::bad_query(format!(
                    "Invalid query string parameters: Expected '{param}' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {value}"
                )));
            }
            if let Some(f) = t.strip_prefix('!').filter(|_| v.at_least(22)) {
                names.push(f.to_string());
                clauses.push(TraitClause::Forbidden(f.to_string()));
            } else {
                names.push(t.to_string());
                clauses.push(TraitClause::AnyOf(vec![t.to_string()]));
            }
        }
    }
    let missing = svc.store.unknown_traits(names.iter()).await?;
    if !missing.is_empty() {
        return Err(PlacementError::bad_request(format!(
            "Invalid trait(s) in \"{param}\" parameter: No such trait(s): {}.",
            missing.join(", ")
        )));
    }
    Ok(clauses)
}

/// Parses `member_of` values (`in:` lists; `!` forbidden from 1.32; repeated from 1.24).
pub(crate) fn parse_member_of(v: Version, values: &[&str], param: &str) -> PResult<Vec<AggClause>> {
    if values.len() > 1 && !v.at_least(24) {
        return Err(PlacementError::new(
            400,
            codes::ILLEGAL_DUPLICATE_QUERYPARAM,
            format!("Query parameter '{param}' may only appear once."),
        ));
    }
    let mut out = Vec::new();
    let mut forbidden = Vec::new();
    for value in values {
        let (neg, rest) = match value.strip_prefix('!') {
            Some(r) if v.at_least(32) => (true, r),
            _ => (false, *value),
        };
        let list = rest.strip_prefix("in:").unwrap_or(rest);
        let mut uuids = Vec::new();
        for u in list.split(',') {
            match parse_uuid(u.trim()) {
                Some(u) => uuids.push(u),
                None => {
                    return Err(PlacementError::bad_request(format!(
                        "Invalid query string parameters: Expected '{param}' parameter to contain valid UUID(s). Got: {u}"
                    )))
                }
            }
        }
        if neg {
            forbidden.extend(uuids);
        } else {
            out.push(AggClause::AnyOf(uuids));
        }
    }
    if !forbidden.is_empty() {
        out.push(AggClause::NoneOf(forbidden));
    }
    Ok(out)
}

/// Parses `resources=VCPU:2,MEMORY_MB:512` checking classes exist.
pub(crate) async fn parse_resources(
    svc: &PlacementService,
    value: &str,
    param: &str,
) -> PResult<BTreeMap<String, i64>> {
    let bad = || {
        PlacementError::bad_query(format!(
            "Badly formed {param} parameter. Expected {param} query string parameter in form: ?{param}=VCPU:2,MEMORY_MB:1024. Got: {value}."
        ))
    };
    let mut out = BTreeMap::new();
    for item in value.split(',') {
        let (rc, n) = item.split_once(':').ok_or_else(bad)?;
        let n: i64 = n.trim().parse().map_err(|_| bad())?;
        if n < 1 {
            return Err(PlacementError::bad_query(format!(
                "Requested resource {rc} expected positive integer amount. Got: {n}."
            )));
        }
        let rc = rc.trim().to_string();
        if out.contains_key(&rc) {
            return Err(bad());
        }
        if !svc.store.class_exists(&rc).await? {
            return Err(PlacementError::bad_request(format!(
                "Invalid resource class in resources parameter: No such resource class {rc}."
            )));
        }
        out.insert(rc, n);
    }
    Ok(out)
}

/// `GET /resource_providers`.
pub async fn list(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PResult<Response> {
    authorize(&svc, &headers, "placement:resource_providers:list").await?;
    let params = query_pairs(q.as_deref());
    check_params(&params, |k| match k {
        "name" | "uuid" => true,
        "member_of" => v.at_least(3),
        "resources" => v.at_least(4),
        "in_tree" => v.at_least(14),
        "required" => v.at_least(18),
        _ => false,
    })?;
    let mut f = ProviderFilter {
        name: single(&params, "name")?.map(String::from),
        ..Default::default()
    };
    if let Some(u) = single(&params, "uuid")? {
        f.uuid = Some(parse_uuid(u).ok_or_else(|| {
            PlacementError::bad_request(format!(
                "Invalid query string parameters: '{u}' is not a 'uuid'"
            ))
        })?);
    }
    if let Some(t) = single(&params, "in_tree")? {
        f.in_tree = Some(parse_uuid(t).ok_or_else(|| {
            PlacementError::bad_request(format!(
                "Invalid query string parameters: '{t}' is not a 'uuid'"
            ))
        })?);
    }
    let values = |key: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let member_of = values("member_of");
    if !member_of.is_empty() {
        f.member_of = parse_member_of(v, &member_of, "member_of")?;
    }
    let required = values("required");
    if !required.is_empty() {
        f.required = parse_required(&svc, v, &required, "required").await?;
    }
    if let Some(r) = single(&params, "resources")? {
        f.resources = parse_resources(&svc, r, "resources").await?;
    }
    let snap = svc.store.snapshot().await?;
    let providers = candidates::filter_providers(&snap, &f);
    let last = providers.iter().map(|p| p.updated_at.as_str()).max();
    let body = json!({"resource_providers": providers.iter().map(|p| provider_json(v, p)).collect::<Vec<_>>()});
    Ok(with_cache_headers(v, Json(body).into_response(), last))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderCreate {
    name: String,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    parent_provider_uuid: Option<String>,
}

fn check_name(name: &str) -> PResult<()> {
    if name.is_empty() || name.chars().count() > 200 {
        return Err(PlacementError::bad_request(format!(
            "JSON does not validate: '{name}' is too long or empty (1-200 characters)"
        )));
    }
    Ok(())
}

fn parent_field(
    v: Version,
    parent: Option<String>,
    raw: &Value,
) -> PResult<Option<Option<String>>> {
    if raw.get("parent_provider_uuid").is_none() {
        return Ok(None);
    }
    if !v.at_least(14) {
        return Err(PlacementError::bad_request(
            "JSON does not validate: Additional properties are not allowed ('parent_provider_uuid' was unexpected)",
        ));
    }
    match parent {
        None => Ok(Some(None)),
        Some(p) => parse_uuid(&p).map(|u| Some(Some(u))).ok_or_else(|| {
            PlacementError::bad_request(format!("JSON does not validate: '{p}' is not a 'uuid'"))
        }),
    }
}

/// `POST /resource_providers`.
pub async fn create(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    authorize(&svc, &headers, "placement:resource_providers:create").await?;
    let raw: Value = body(&headers, &bytes)?;
    let b: ProviderCreate = serde_json::from_value(raw.clone())
        .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
    check_name(&b.name)?;
    let uuid = match &b.uuid {
        Some(u) => parse_uuid(u).ok_or_else(|| {
            PlacementError::bad_request(format!("JSON does not validate: '{u}' is not a 'uuid'"))
        })?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let parent = parent_field(v, b.parent_provider_uuid, &raw)?.flatten();
    let p = svc
        .store
        .provider_create(&uuid, &b.name, parent.as_deref())
        .await?;
    let location = format!("/resource_providers/{}", p.uuid);
    let mut resp = if v.at_least(20) {
        with_cache_headers(
            v,
            Json(provider_json(v, &p)).into_response(),
            Some(&p.updated_at),
        )
    } else {
        StatusCode::CREATED.into_response()
    };
    if let Ok(h) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

async fn provider_or_404(svc: &PlacementService, uuid: &str) -> PResult<Provider> {
    svc.store.provider_or_404(uuid).await
}

/// `GET /resource_providers/{uuid}`.
pub async fn show(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<Response> {
    authorize(&svc, &headers, "placement:resource_providers:show").await?;
    let p = provider_or_404(&svc, &uuid).await?;
    Ok(with_cache_headers(
        v,
        Json(provider_json(v, &p)).into_response(),
        Some(&p.updated_at),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderUpdate {
    name: String,
    #[serde(default)]
    parent_provider_uuid: Option<String>,
}

/// `PUT /resource_providers/{uuid}`.
pub async fn update(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    authorize(&svc, &headers, "placement:resource_providers:update").await?;
    provider_or_404(&svc, &uuid).await?;
    let raw: Value = body(&headers, &bytes)?;
    let b: ProviderUpdate = serde_json::from_value(raw.clone())
        .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
    check_name(&b.name)?;
    let parent = parent_field(v, b.parent_provider_uuid, &raw)?;
    let p = svc
        .store
        .provider_update(&uuid, &b.name, parent, v.at_least(37))
        .await?;
    Ok(with_cache_headers(
        v,
        Json(provider_json(v, &p)).into_response(),
        Some(&p.updated_at),
    ))
}

/// `DELETE /resource_providers/{uuid}`.
pub async fn delete(
    State(svc): St,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<StatusCode> {
    authorize(&svc, &headers, "placement:resource_providers:delete").await?;
    svc.store.provider_delete(&uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- inventories -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryBody {
    total: i64,
    #[serde(default)]
    reserved: Option<i64>,
    #[serde(default)]
    min_unit: Option<i64>,
    #[serde(default)]
    max_unit: Option<i64>,
    #[serde(default)]
    step_size: Option<i64>,
    #[serde(default)]
    allocation_ratio: Option<f64>,
}

const DB_MAX_INT: i64 = 2_147_483_647;

fn validate_inventory(v: Version, uuid: &str, rc: &str, b: InventoryBody) -> PResult<Inventory> {
    let inv = Inventory {
        total: b.total,
        reserved: b.reserved.unwrap_or(0),
        min_unit: b.min_unit.unwrap_or(1),
        max_unit: b.max_unit.unwrap_or(DB_MAX_INT),
        step_size: b.step_size.unwrap_or(1),
        allocation_ratio: b.allocation_ratio.unwrap_or(1.0),
    };
    let range = |name: &str, n: i64, min: i64| -> PResult<()> {
        if n < min || n > DB_MAX_INT {
            return Err(PlacementError::bad_request(format!(
                "JSON does not validate: {n} is out of range for '{name}' ({min} - {DB_MAX_INT})"
            )));
        }
        Ok(())
    };
    range("total", inv.total, 1)?;
    range("reserved", inv.reserved, 0)?;
    range("min_unit", inv.min_unit, 1)?;
    range("max_unit", inv.max_unit, 1)?;
    range("step_size", inv.step_size, 1)?;
    if !(0.0..=3.4e38).contains(&inv.allocation_ratio) || inv.allocation_ratio.is_nan() {
        return Err(PlacementError::bad_request(
            "JSON does not validate: allocation_ratio is out of range",
        ));
    }
    let reserved_bad = if v.at_least(26) {
        inv.reserved > inv.total
    } else {
        inv.reserved >= inv.total
    };
    if reserved_bad {
        return Err(PlacementError::bad_request(format!(
            "Unable to update inventory for resource provider {uuid}: Invalid inventory for '{rc}' on resource provider '{uuid}'. The reserved value is greater than or equal to total."
        )));
    }
    if inv.min_unit > inv.max_unit || inv.step_size > inv.max_unit {
        return Err(PlacementError::bad_request(format!(
            "Unable to update inventory for resource provider {uuid}: Invalid inventory for '{rc}' on resource provider '{uuid}'. min_unit, max_unit and step_size are inconsistent."
        )));
    }
    Ok(inv)
}

fn inventory_json(i: &Inventory) -> Value {
    json!({
        "total": i.total,
        "reserved": i.reserved,
        "min_unit": i.min_unit,
        "max_unit": i.max_unit,
        "step_size": i.step_size,
        "allocation_ratio": i.allocation_ratio,
    })
}

fn inventories_json(gen: i64, invs: &BTreeMap<String, Inventory>) -> Value {
    let m: Map<String, Value> = invs
        .iter()
        .map(|(k, i)| (k.clone(), inventory_json(i)))
        .collect();
    json!({"resource_provider_generation": gen, "inventories": m})
}

async fn check_class(svc: &PlacementService, uuid: &str, rc: &str) -> PResult<()> {
    if !svc.store.class_exists(rc).await? {
        return Err(PlacementError::bad_request(format!(
            "Unknown resource class in inventory for resource provider {uuid}: {rc}"
        )));
    }
    Ok(())
}

/// `GET /resource_providers/{uuid}/inventories`.
pub async fn inventories_list(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<Response> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:list",
    )
    .await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let invs = svc.store.inventories(&uuid).await?;
    Ok(with_cache_headers(
        v,
        Json(inventories_json(p.generation, &invs)).into_response(),
        Some(&p.updated_at),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoriesPut {
    resource_provider_generation: i64,
    inventories: BTreeMap<String, InventoryBody>,
}

/// `PUT /resource_providers/{uuid}/inventories`.
pub async fn inventories_put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:update",
    )
    .await?;
    provider_or_404(&svc, &uuid).await?;
    let b: InventoriesPut = body(&headers, &bytes)?;
    let mut changes = BTreeMap::new();
    for (rc, ib) in b.inventories {
        check_class(&svc, &uuid, &rc).await?;
        let inv = validate_inventory(v, &uuid, &rc, ib)?;
        changes.insert(rc, Some(inv));
    }
    let (gen, invs) = svc
        .store
        .inventories_write(&uuid, Some(b.resource_provider_generation), changes, true)
        .await?;
    Ok(Json(inventories_json(gen, &invs)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryCreate {
    resource_class: String,
    total: i64,
    #[serde(default)]
    reserved: Option<i64>,
    #[serde(default)]
    min_unit: Option<i64>,
    #[serde(default)]
    max_unit: Option<i64>,
    #[serde(default)]
    step_size: Option<i64>,
    #[serde(default)]
    allocation_ratio: Option<f64>,
}

/// `POST /resource_providers/{uuid}/inventories` (one class).
pub async fn inventory_create(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:create",
    )
    .await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let b: InventoryCreate = body(&headers, &bytes)?;
    check_class(&svc, &uuid, &b.resource_class).await?;
    let rc = b.resource_class.clone();
    let inv = validate_inventory(
        v,
        &uuid,
        &rc,
        InventoryBody {
            total: b.total,
            reserved: b.reserved,
            min_unit: b.min_unit,
            max_unit: b.max_unit,
            step_size: b.step_size,
            allocation_ratio: b.allocation_ratio,
        },
    )?;
    if svc.store.inventories(&uuid).await?.contains_key(&rc) {
        return Err(PlacementError::conflict(format!(
            "Update conflict: Inventory for '{rc}' on resource provider '{uuid}' already exists."
        )));
    }
    let (gen, invs) = svc
        .store
        .inventories_write(
            &uuid,
            Some(p.generation),
            BTreeMap::from([(rc.clone(), Some(inv))]),
            false,
        )
        .await?;
    let mut body = invs.get(&rc).map(inventory_json).unwrap_or(Value::Null);
    body["resource_provider_generation"] = json!(gen);
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(h) = HeaderValue::from_str(&format!("/resource_providers/{uuid}/inventories/{rc}")) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

/// `DELETE /resource_providers/{uuid}/inventories` (1.5+).
pub async fn inventories_delete(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<StatusCode> {
    if !v.at_least(5) {
        return Err(PlacementError::new(
            405,
            codes::DEFAULT,
            "The method specified is not allowed for this resource: DELETE",
        ));
    }
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:delete",
    )
    .await?;
    provider_or_404(&svc, &uuid).await?;
    svc.store
        .inventories_write(&uuid, None, BTreeMap::new(), true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /resource_providers/{uuid}/inventories/{rc}`.
pub async fn inventory_show(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path((uuid, rc)): Path<(String, String)>,
) -> PResult<Response> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:show",
    )
    .await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let invs = svc.store.inventories(&uuid).await?;
    let inv = invs.get(&rc).ok_or_else(|| {
        PlacementError::not_found(format!("No inventory of class {rc} for {uuid}"))
    })?;
    let mut body = inventory_json(inv);
    body["resource_provider_generation"] = json!(p.generation);
    Ok(with_cache_headers(
        v,
        Json(body).into_response(),
        Some(&p.updated_at),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryPut {
    resource_provider_generation: i64,
    total: i64,
    #[serde(default)]
    reserved: Option<i64>,
    #[serde(default)]
    min_unit: Option<i64>,
    #[serde(default)]
    max_unit: Option<i64>,
    #[serde(default)]
    step_size: Option<i64>,
    #[serde(default)]
    allocation_ratio: Option<f64>,
}

/// `PUT /resource_providers/{uuid}/inventories/{rc}`.
pub async fn inventory_put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path((uuid, rc)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:update",
    )
    .await?;
    provider_or_404(&svc, &uuid).await?;
    let b: InventoryPut = body(&headers, &bytes)?;
    check_class(&svc, &uuid, &rc).await?;
    let inv = validate_inventory(
        v,
        &uuid,
        &rc,
        InventoryBody {
            total: b.total,
            reserved: b.reserved,
            min_unit: b.min_unit,
            max_unit: b.max_unit,
            step_size: b.step_size,
            allocation_ratio: b.allocation_ratio,
        },
    )?;
    let (gen, invs) = svc
        .store
        .inventories_write(
            &uuid,
            Some(b.resource_provider_generation),
            BTreeMap::from([(rc.clone(), Some(inv))]),
            false,
        )
        .await?;
    let mut body = invs.get(&rc).map(inventory_json).unwrap_or(Value::Null);
    body["resource_provider_generation"] = json!(gen);
    Ok(Json(body).into_response())
}

/// `DELETE /resource_providers/{uuid}/inventories/{rc}`.
pub async fn inventory_delete(
    State(svc): St,
    headers: HeaderMap,
    Path((uuid, rc)): Path<(String, String)>,
) -> PResult<StatusCode> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:inventories:delete",
    )
    .await?;
    provider_or_404(&svc, &uuid).await?;
    if !svc.store.inventories(&uuid).await?.contains_key(&rc) {
        return Err(PlacementError::not_found(format!(
            "No inventory of class {rc} found for delete"
        )));
    }
    svc.store
        .inventories_write(&uuid, None, BTreeMap::from([(rc, None)]), false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- traits -----

fn require_version(v: Version, minor: u16) -> PResult<()> {
    if v.at_least(minor) {
        Ok(())
    } else {
        Err(PlacementError::not_found(
            "The resource could not be found.",
        ))
    }
}

/// `GET /resource_providers/{uuid}/traits` (1.6+).
pub async fn traits_list(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<Response> {
    require_version(v, 6)?;
    authorize(&svc, &headers, "placement:resource_providers:traits:list").await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let traits = svc.store.provider_traits(&uuid).await?;
    Ok(with_cache_headers(
        v,
        Json(json!({"traits": traits, "resource_provider_generation": p.generation}))
            .into_response(),
        Some(&p.updated_at),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraitsPut {
    traits: Vec<String>,
    resource_provider_generation: i64,
}

/// `PUT /resource_providers/{uuid}/traits`.
pub async fn traits_put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    require_version(v, 6)?;
    authorize(&svc, &headers, "placement:resource_providers:traits:update").await?;
    provider_or_404(&svc, &uuid).await?;
    let b: TraitsPut = body(&headers, &bytes)?;
    let set: BTreeSet<String> = b.traits.into_iter().collect();
    let missing = svc.store.unknown_traits(set.iter()).await?;
    if !missing.is_empty() {
        return Err(PlacementError::bad_request(format!(
            "No such trait(s): {}.",
            missing.join(", ")
        )));
    }
    let gen = svc
        .store
        .provider_traits_set(&uuid, Some(b.resource_provider_generation), &set)
        .await?;
    Ok(Json(json!({"traits": set, "resource_provider_generation": gen})).into_response())
}

/// `DELETE /resource_providers/{uuid}/traits`.
pub async fn traits_delete(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<StatusCode> {
    require_version(v, 6)?;
    authorize(&svc, &headers, "placement:resource_providers:traits:delete").await?;
    provider_or_404(&svc, &uuid).await?;
    svc.store
        .provider_traits_set(&uuid, None, &BTreeSet::new())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- aggregates -----

fn aggregates_json(v: Version, gen: i64, aggs: &BTreeSet<String>) -> Value {
    let mut o = json!({"aggregates": aggs});
    if v.at_least(19) {
        o["resource_provider_generation"] = json!(gen);
    }
    o
}

/// `GET /resource_providers/{uuid}/aggregates` (1.1+).
pub async fn aggregates_list(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<Response> {
    require_version(v, 1)?;
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:aggregates:list",
    )
    .await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let aggs = svc.store.provider_aggregates(&uuid).await?;
    Ok(with_cache_headers(
        v,
        Json(aggregates_json(v, p.generation, &aggs)).into_response(),
        Some(&p.updated_at),
    ))
}

/// `PUT /resource_providers/{uuid}/aggregates` (a list before 1.19, then with generation).
pub async fn aggregates_put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    require_version(v, 1)?;
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:aggregates:update",
    )
    .await?;
    provider_or_404(&svc, &uuid).await?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct AggPut {
        aggregates: Vec<String>,
        resource_provider_generation: i64,
    }
    let (list, gen) = if v.at_least(19) {
        let b: AggPut = body(&headers, &bytes)?;
        (b.aggregates, Some(b.resource_provider_generation))
    } else {
        (body::<Vec<String>>(&headers, &bytes)?, None)
    };
    let mut set = BTreeSet::new();
    for a in &list {
        let u = parse_uuid(a).ok_or_else(|| {
            PlacementError::bad_request(format!("JSON does not validate: '{a}' is not a 'uuid'"))
        })?;
        if !set.insert(u) {
            return Err(PlacementError::bad_request(format!(
                "JSON does not validate: {list:?} has non-unique elements"
            )));
        }
    }
    let new_gen = svc.store.provider_aggregates_set(&uuid, gen, &set).await?;
    Ok(Json(aggregates_json(v, new_gen, &set)).into_response())
}

// ----- usages and allocations of a provider -----

/// `GET /resource_providers/{uuid}/usages`.
pub async fn usages(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<Response> {
    authorize(&svc, &headers, "placement:resource_providers:usages").await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let usages = svc.store.provider_usages(&uuid).await?;
    Ok(with_cache_headers(
        v,
        Json(json!({"resource_provider_generation": p.generation, "usages": usages}))
            .into_response(),
        None,
    ))
}

/// `GET /resource_providers/{uuid}/allocations`.
pub async fn allocations(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> PResult<Response> {
    authorize(
        &svc,
        &headers,
        "placement:resource_providers:allocations:list",
    )
    .await?;
    let p = provider_or_404(&svc, &uuid).await?;
    let allocs = svc.store.provider_allocations(&uuid).await?;
    let m: Map<String, Value> = allocs
        .into_iter()
        .map(|(c, r)| (c, json!({"resources": r})))
        .collect();
    Ok(with_cache_headers(
        v,
        Json(json!({"resource_provider_generation": p.generation, "allocations": m}))
            .into_response(),
        None,
    ))
}
