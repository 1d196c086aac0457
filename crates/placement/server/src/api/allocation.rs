//! Allocations (`/allocations`, `/allocations/{consumer}`), `/usages`,
//! `/allocation_candidates` and `/reshaper`.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rustack_placement_api::{codes, Inventory};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::provider::{parse_member_of, parse_required, parse_resources};
use super::{
    authorize, body, check_params, parse_uuid, query_pairs, single, with_cache_headers, St, Version,
};
use crate::candidates::{self, CandidateRequest, RequestGroup};
use crate::error::{PResult, PlacementError};
use crate::store::ConsumerWrite;
use crate::PlacementService;

/// Project and user recorded for consumers written before 1.8 without them
/// (`[placement] incomplete_consumer_project_id` upstream).
const INCOMPLETE_CONSUMER_ID: &str = "00000000-0000-0000-0000-000000000000";

fn consumer_uuid(s: &str) -> PResult<String> {
    parse_uuid(s)
        .ok_or_else(|| PlacementError::bad_request(format!("Malformed consumer_uuid: {s}")))
}

/// `GET /allocations/{consumer}`.
pub async fn show(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(consumer): Path<String>,
) -> PResult<Response> {
    authorize(&svc, &headers, "placement:allocations:list").await?;
    let consumer = consumer_uuid(&consumer)?;
    let c = svc.store.consumer_allocations(&consumer).await?;
    let allocs: Map<String, Value> = c
        .allocations
        .iter()
        .map(|(rp, (gen, res))| (rp.clone(), json!({"generation": gen, "resources": res})))
        .collect();
    let mut out = json!({"allocations": allocs});
    if let (Some((project, user, gen, ct)), false) = (&c.consumer, c.allocations.is_empty()) {
        if v.at_least(12) {
            out["project_id"] = json!(project);
            out["user_id"] = json!(user);
        }
        if v.at_least(28) {
            out["consumer_generation"] = json!(gen);
        }
        if v.at_least(38) {
            out["consumer_type"] = json!(ct.clone().unwrap_or_else(|| "unknown".into()));
        }
    }
    Ok(with_cache_headers(v, Json(out).into_response(), None))
}

/// The 1.12+ dict form of one consumer's allocations.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcesOnly {
    resources: BTreeMap<String, i64>,
    #[serde(default)]
    #[allow(dead_code)]
    generation: Option<i64>,
}

/// The body of a PUT (1.12+) or one value of a POST.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictAllocations {
    allocations: BTreeMap<String, ResourcesOnly>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default = "missing_gen")]
    consumer_generation: Option<Option<i64>>,
    #[serde(default)]
    consumer_type: Option<String>,
}

fn missing_gen() -> Option<Option<i64>> {
    None
}

/// Converts a dict-form request into a write, enforcing version-dependent required
/// fields.
async fn dict_write(
    svc: &PlacementService,
    v: Version,
    consumer: &str,
    raw: &Value,
    d: DictAllocations,
) -> PResult<ConsumerWrite> {
    let has = |k: &str| raw.get(k).is_some();
    let required = |k: &str| {
        PlacementError::bad_request(format!(
            "JSON does not validate: '{k}' is a required property"
        ))
    };
    if !has("project_id") {
        return Err(required("project_id"));
    }
    if !has("user_id") {
        return Err(required("user_id"));
    }
    let generation = if v.at_least(28) {
        if !has("consumer_generation") {
            return Err(required("consumer_generation"));
        }
        Some(d.consumer_generation.flatten())
    } else if has("consumer_generation") {
        return Err(PlacementError::bad_request(
            "JSON does not validate: Additional properties are not allowed ('consumer_generation' was unexpected)",
        ));
    } else {
        None
    };
    if v.at_least(38) {
        if !has("consumer_type") {
            return Err(required("consumer_type"));
        }
    } else if has("consumer_type") {
        return Err(PlacementError::bad_request(
            "JSON does not validate: Additional properties are not allowed ('consumer_type' was unexpected)",
        ));
    }
    if let Some(ct) = &d.consumer_type {
        let ok = !ct.is_empty()
            && ct.len() <= 255
            && ct
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(PlacementError::bad_request(format!(
                "JSON does not validate: '{ct}' does not match '^[A-Z0-9_]+$'"
            )));
        }
    }
    if d.allocations.is_empty() && !v.at_least(28) {
        return Err(PlacementError::bad_request(
            "JSON does not validate: {} does not have enough properties",
        ));
    }
    let mut allocations = BTreeMap::new();
    for (rp, r) in d.allocations {
        let rp_uuid = parse_uuid(&rp).ok_or_else(|| {
            PlacementError::bad_request(format!(
                "JSON does not validate: '{rp}' does not match any of the regexes"
            ))
        })?;
        allocations.insert(rp_uuid, resources(svc, r.resources).await?);
    }
    Ok(ConsumerWrite {
        consumer: consumer.into(),
        allocations,
        project_id: d
            .project_id
            .unwrap_or_else(|| INCOMPLETE_CONSUMER_ID.into()),
        user_id: d.user_id.unwrap_or_else(|| INCOMPLETE_CONSUMER_ID.into()),
        generation,
        consumer_type: d.consumer_type,
    })
}

async fn resources(
    svc: &PlacementService,
    r: BTreeMap<String, i64>,
) -> PResult<BTreeMap<String, i64>> {
    if r.is_empty() {
        return Err(PlacementError::bad_request(
            "JSON does not validate: {} does not have enough properties",
        ));
    }
    for (rc, n) in &r {
        if *n < 1 {
            return Err(PlacementError::bad_request(format!(
                "JSON does not validate: {n} is less than the minimum of 1"
            )));
        }
        if !svc.store.class_exists(rc).await? {
            return Err(PlacementError::bad_request(format!(
                "Unable to allocate inventory: No such resource class {rc}."
            )));
        }
    }
    Ok(r)
}

/// `PUT /allocations/{consumer}`.
pub async fn put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(consumer): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<StatusCode> {
    authorize(&svc, &headers, "placement:allocations:update").await?;
    let consumer = consumer_uuid(&consumer)?;
    let raw: Value = body(&headers, &bytes)?;
    let write = if v.at_least(12) {
        let d: DictAllocations = serde_json::from_value(raw.clone())
            .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
        dict_write(&svc, v, &consumer, &raw, d).await?
    } else {
        legacy_write(&svc, v, &consumer, &raw).await?
    };
    svc.store.allocations_write(&[write]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The pre-1.12 list form: `{"allocations": [{"resource_provider": {"uuid"}, "resources"}]}`.
async fn legacy_write(
    svc: &PlacementService,
    v: Version,
    consumer: &str,
    raw: &Value,
) -> PResult<ConsumerWrite> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rp {
        uuid: String,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        resource_provider: Rp,
        resources: BTreeMap<String, i64>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Legacy {
        allocations: Vec<Item>,
        #[serde(default)]
        project_id: Option<String>,
        #[serde(default)]
        user_id: Option<String>,
    }
    let l: Legacy = serde_json::from_value(raw.clone())
        .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
    if v.at_least(8) && (l.project_id.is_none() || l.user_id.is_none()) {
        return Err(PlacementError::bad_request(
            "JSON does not validate: 'project_id' and 'user_id' are required properties",
        ));
    }
    if l.allocations.is_empty() {
        return Err(PlacementError::bad_request(
            "JSON does not validate: [] is too short",
        ));
    }
    let mut allocations: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for it in l.allocations {
        let rp = parse_uuid(&it.resource_provider.uuid).ok_or_else(|| {
            PlacementError::bad_request(format!(
                "JSON does not validate: '{}' is not a 'uuid'",
                it.resource_provider.uuid
            ))
        })?;
        allocations
            .entry(rp)
            .or_default()
            .extend(resources(svc, it.resources).await?);
    }
    Ok(ConsumerWrite {
        consumer: consumer.into(),
        allocations,
        project_id: l
            .project_id
            .unwrap_or_else(|| INCOMPLETE_CONSUMER_ID.into()),
        user_id: l.user_id.unwrap_or_else(|| INCOMPLETE_CONSUMER_ID.into()),
        generation: None,
        consumer_type: None,
    })
}

/// `POST /allocations` (1.13+): several consumers atomically.
pub async fn post(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> PResult<StatusCode> {
    if !v.at_least(13) {
        return Err(PlacementError::new(
            405,
            codes::DEFAULT,
            "The method specified is not allowed for this resource: POST",
        ));
    }
    authorize(&svc, &headers, "placement:allocations:manage").await?;
    let raw: BTreeMap<String, Value> = body(&headers, &bytes)?;
    if raw.is_empty() {
        return Err(PlacementError::bad_request(
            "JSON does not validate: {} does not have enough properties",
        ));
    }
    let mut writes = Vec::new();
    for (c, item) in raw {
        let consumer = consumer_uuid(&c)?;
        let d: DictAllocations = serde_json::from_value(item.clone())
            .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
        writes.push(dict_write(&svc, v, &consumer, &item, d).await?);
    }
    svc.store.allocations_write(&writes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /allocations/{consumer}`.
pub async fn delete(
    State(svc): St,
    headers: HeaderMap,
    Path(consumer): Path<String>,
) -> PResult<StatusCode> {
    authorize(&svc, &headers, "placement:allocations:delete").await?;
    let consumer = consumer_uuid(&consumer)?;
    svc.store.allocations_delete(&consumer).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /usages?project_id=..&user_id=..&consumer_type=..` (1.9+).
pub async fn usages(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PResult<Response> {
    if !v.at_least(9) {
        return Err(PlacementError::not_found(
            "The resource could not be found.",
        ));
    }
    let ctx = rustack_api_common::auth::authenticate(&headers, svc.validator.as_ref()).await?;
    let params = query_pairs(q.as_deref());
    check_params(&params, |k| {
        k == "project_id" || k == "user_id" || (k == "consumer_type" && v.at_least(38))
    })?;
    let project = single(&params, "project_id")?.ok_or_else(|| {
        PlacementError::bad_request(
            "Invalid query string parameters: 'project_id' is a required property",
        )
    })?;
    svc.authorize(&ctx, "placement:usages", Some(project))?;
    let user = single(&params, "user_id")?;
    let ct = single(&params, "consumer_type")?;
    let groups = svc.store.usages(project, user, ct).await?;
    let out = if v.at_least(38) {
        let mut m = Map::new();
        let mut merge = |key: String, count: i64, res: &BTreeMap<String, i64>| {
            let e = m.entry(key).or_insert_with(|| json!({"consumer_count": 0}));
            e["consumer_count"] = json!(e["consumer_count"].as_i64().unwrap_or(0) + count);
            for (rc, n) in res {
                e[rc] = json!(e[rc].as_i64().unwrap_or(0) + n);
            }
        };
        for (t, (count, res)) in &groups {
            let key = match ct {
                Some("all") => "all".to_string(),
                _ => t.clone().unwrap_or_else(|| "unknown".into()),
            };
            merge(key, *count, res);
        }
        json!({"usages": m})
    } else {
        let mut total: BTreeMap<String, i64> = BTreeMap::new();
        for (_, res) in groups.values() {
            for (rc, n) in res {
                *total.entry(rc.clone()).or_default() += n;
            }
        }
        json!({"usages": total})
    };
    Ok(with_cache_headers(v, Json(out).into_response(), None))
}

/// Splits `resources1`, `required_NET` etc. into (base, suffix).
fn split_suffix(key: &str) -> Option<(&'static str, &str)> {
    for base in ["resources", "required", "member_of", "in_tree"] {
        if let Some(rest) = key.strip_prefix(base) {
            return Some((base, rest));
        }
    }
    None
}

fn valid_suffix(v: Version, s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    if !v.at_least(25) {
        return false;
    }
    if v.at_least(33) {
        s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    } else {
        s.bytes().all(|b| b.is_ascii_digit())
    }
}

/// `GET /allocation_candidates` (1.10+).
pub async fn candidates(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PResult<Response> {
    if !v.at_least(10) {
        return Err(PlacementError::not_found(
            "The resource could not be found.",
        ));
    }
    authorize(&svc, &headers, "placement:allocation_candidates:list").await?;
    let params = query_pairs(q.as_deref());
    let mut req = CandidateRequest::default();
    let mut by_key: BTreeMap<(&'static str, String), Vec<&str>> = BTreeMap::new();
    for (k, val) in &params {
        match k.as_str() {
            "limit" if v.at_least(16) => {}
            "group_policy" if v.at_least(25) => {}
            "root_required" if v.at_least(35) => {}
            "same_subtree" if v.at_least(36) => {}
            _ => match split_suffix(k) {
                Some((base, sfx))
                    if valid_suffix(v, sfx)
                        && match base {
                            "required" => v.at_least(17),
                            "member_of" => v.at_least(21),
                            "in_tree" => v.at_least(31),
                            _ => true,
                        } =>
                {
                    by_key.entry((base, sfx.to_string())).or_default().push(val);
                }
                _ => {
                    return Err(PlacementError::bad_request(format!(
                        "Invalid query string parameters: Additional properties are not allowed ('{k}' was unexpected)"
                    )))
                }
            },
        }
    }
    for ((base, sfx), vals) in &by_key {
        let param = format!("{base}{sfx}");
        let g = req.groups.entry(sfx.clone()).or_default();
        match *base {
            "resources" => {
                if vals.len() > 1 {
                    return Err(PlacementError::new(
                        400,
                        codes::ILLEGAL_DUPLICATE_QUERYPARAM,
                        format!("Query parameter '{param}' may only appear once."),
                    ));
                }
                g.resources = parse_resources(&svc, vals[0], &param).await?;
            }
            "required" => g.required = parse_required(&svc, v, vals, &param).await?,
            "member_of" => g.member_of = parse_member_of(v, vals, &param)?,
            _ => {
                if vals.len() > 1 {
                    return Err(PlacementError::new(
                        400,
                        codes::ILLEGAL_DUPLICATE_QUERYPARAM,
                        format!("Query parameter '{param}' may only appear once."),
                    ));
                }
                g.in_tree = Some(parse_uuid(vals[0]).ok_or_else(|| {
                    PlacementError::bad_request(format!(
                        "Invalid query string parameters: Expected '{param}' parameter to be a format of uuid. Got: {}",
                        vals[0]
                    ))
                })?);
            }
        }
    }
    if !req.groups.values().any(|g| !g.resources.is_empty()) {
        return Err(PlacementError::bad_request(
            "There must be at least one resources or resources[$S] parameter.",
        ));
    }
    if let Some(l) = single(&params, "limit")? {
        let n: usize = l.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            PlacementError::bad_request(format!(
                "Invalid query string parameters: '{l}' does not match '^[1-9][0-9]*$'"
            ))
        })?;
        req.limit = Some(n);
    }
    let suffixed = req.groups.keys().filter(|k| !k.is_empty()).count();
    match single(&params, "group_policy")? {
        Some("isolate") => req.isolate = true,
        Some("none") => {}
        Some(other) => {
            return Err(PlacementError::bad_request(format!(
                "Invalid query string parameters: '{other}' is not one of ['none', 'isolate']"
            )))
        }
        None if suffixed > 1 => {
            return Err(PlacementError::bad_request(
                "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.",
            ))
        }
        None => {}
    }
    let root_required: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "root_required")
        .map(|(_, v)| v.as_str())
        .collect();
    if !root_required.is_empty() {
        req.root_required = parse_required(&svc, v, &root_required, "root_required").await?;
    }
    for (k, val) in &params {
        if k != "same_subtree" {
            continue;
        }
        let list: Vec<String> = val.split(',').map(|s| s.trim().to_string()).collect();
        for s in &list {
            if s.is_empty() || !req.groups.contains_key(s) {
                return Err(PlacementError::bad_request(format!(
                    "Real suffixes should be specified in same_subtree: {s:?} not found in [{}].",
                    req.groups
                        .keys()
                        .filter(|k| !k.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        req.same_subtree.push(list);
    }
    // Resourceless suffixed groups are only meaningful inside same_subtree (1.36).
    for (sfx, g) in &req.groups {
        if !sfx.is_empty()
            && g.resources.is_empty()
            && !req.same_subtree.iter().any(|l| l.contains(sfx))
        {
            return Err(PlacementError::bad_request(format!(
                "All request groups must specify resources unless they are in same_subtree. Resourceless suffixed group: {sfx}"
            )));
        }
    }
    if svc.cfg.max_allocation_candidates > 0 {
        req.max_candidates = Some(svc.cfg.max_allocation_candidates as usize);
    }
    let snap = svc.store.snapshot().await?;
    let mut found = candidates::search(&snap, &req);
    if !v.at_least(29) {
        // Before nested support, a candidate may only use root providers.
        found.retain(|c| {
            c.allocations.keys().all(|rp| {
                snap.providers
                    .get(rp)
                    .is_some_and(|p| p.parent_uuid.is_none())
            })
        });
    }
    let requested: Vec<&String> = req
        .groups
        .values()
        .flat_map(|g: &RequestGroup| g.resources.keys())
        .collect();
    let body = render_candidates(v, &snap, &found, &requested);
    Ok(with_cache_headers(v, Json(body).into_response(), None))
}

fn render_candidates(
    v: Version,
    snap: &crate::store::Snapshot,
    found: &[candidates::Candidate],
    requested: &[&String],
) -> Value {
    let mut requests = Vec::new();
    let mut in_requests = std::collections::BTreeSet::new();
    for c in found {
        in_requests.extend(c.allocations.keys().cloned());
        in_requests.extend(c.mappings.values().flatten().cloned());
        let allocations = if v.at_least(12) {
            let m: Map<String, Value> = c
                .allocations
                .iter()
                .map(|(rp, r)| (rp.clone(), json!({"resources": r})))
                .collect();
            Value::Object(m)
        } else {
            Value::Array(
                c.allocations
                    .iter()
                    .map(|(rp, r)| json!({"resource_provider": {"uuid": rp}, "resources": r}))
                    .collect(),
            )
        };
        let mut r = json!({"allocations": allocations});
        if v.at_least(34) {
            r["mappings"] = json!(c.mappings);
        }
        requests.push(r);
    }
    // 1.29+: every provider of the trees involved.
    let mut summarised = in_requests.clone();
    if v.at_least(29) {
        let roots: std::collections::BTreeSet<&String> = in_requests
            .iter()
            .filter_map(|rp| snap.providers.get(rp).map(|p| &p.root_uuid))
            .collect();
        summarised.extend(
            snap.providers
                .values()
                .filter(|p| roots.contains(&p.root_uuid))
                .map(|p| p.uuid.clone()),
        );
    }
    let mut summaries = Map::new();
    for rp in &summarised {
        let Some(p) = snap.providers.get(rp) else {
            continue;
        };
        let empty = BTreeMap::new();
        let invs: &BTreeMap<String, Inventory> = snap.inventories.get(rp).unwrap_or(&empty);
        let mut res = Map::new();
        for (rc, inv) in invs {
            if !v.at_least(27) && !requested.contains(&rc) {
                continue;
            }
            let used = snap
                .usages
                .get(rp)
                .and_then(|u| u.get(rc))
                .copied()
                .unwrap_or(0);
            res.insert(
                rc.clone(),
                json!({"capacity": inv.capacity(), "used": used}),
            );
        }
        let mut s = json!({"resources": res});
        if v.at_least(17) {
            s["traits"] = json!(snap.traits.get(rp).cloned().unwrap_or_default());
        }
        if v.at_least(29) {
            s["parent_provider_uuid"] = json!(p.parent_uuid);
            s["root_provider_uuid"] = json!(p.root_uuid);
        }
        summaries.insert(rp.clone(), s);
    }
    json!({"allocation_requests": requests, "provider_summaries": summaries})
}

/// `POST /reshaper` (1.30+).
pub async fn reshape(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> PResult<StatusCode> {
    if !v.at_least(30) {
        return Err(PlacementError::not_found(
            "The resource could not be found.",
        ));
    }
    authorize(&svc, &headers, "placement:reshaper:reshape").await?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct InvBody {
        resource_provider_generation: i64,
        inventories: BTreeMap<String, Value>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reshape {
        inventories: BTreeMap<String, InvBody>,
        allocations: BTreeMap<String, Value>,
    }
    let b: Reshape = body(&headers, &bytes)?;
    let mut inventories = BTreeMap::new();
    for (rp, ib) in b.inventories {
        let uuid = parse_uuid(&rp).ok_or_else(|| {
            PlacementError::bad_request(format!("JSON does not validate: '{rp}' is not a 'uuid'"))
        })?;
        svc.store.provider_or_404(&uuid).await.map_err(|_| {
            PlacementError::new(
                400,
                codes::RESOURCE_PROVIDER_NOT_FOUND,
                format!("Resource provider '{uuid}' in inventories not found"),
            )
        })?;
        let mut invs = BTreeMap::new();
        for (rc, inv) in ib.inventories {
            if !svc.store.class_exists(&rc).await? {
                return Err(PlacementError::bad_request(format!(
                    "Unknown resource class in inventory for resource provider {uuid}: {rc}"
                )));
            }
            let i: Inventory = serde_json::from_value(inv)
                .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
            if i.total < 1
                || i.reserved < 0
                || i.reserved > i.total
                || i.min_unit < 1
                || i.step_size < 1
                || i.min_unit > i.max_unit
            {
                return Err(PlacementError::bad_request(format!(
                    "Unable to update inventory for resource provider {uuid}: Invalid inventory for '{rc}'."
                )));
            }
            invs.insert(rc, i);
        }
        inventories.insert(uuid, (ib.resource_provider_generation, invs));
    }
    let mut writes = Vec::new();
    for (c, item) in b.allocations {
        let consumer = consumer_uuid(&c)?;
        let d: DictAllocations = serde_json::from_value(item.clone())
            .map_err(|e| PlacementError::bad_request(format!("JSON does not validate: {e}")))?;
        writes.push(dict_write(&svc, v, &consumer, &item, d).await?);
    }
    svc.store.reshape(&inventories, &writes).await?;
    Ok(StatusCode::NO_CONTENT)
}
