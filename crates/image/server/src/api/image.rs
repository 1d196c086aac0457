//! Images: create, list (filters, sorting, pagination), show, update (both JSON-patch
//! dialects), delete, deactivate/reactivate and tags, with Glance's validation order
//! and messages (`glance/api/v2/images.py` `RequestDeserializer` then
//! `ImagesController`).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use rustack_image_api::{
    ImageList, ImageStatus, Visibility, BASE_PROPERTIES, DISALLOWED_PROPERTIES, PATCH_V2_0,
    PATCH_V2_1, READONLY_PROPERTIES, RESERVED_NAMESPACE, RESERVED_PROPERTIES, SORT_KEYS,
};
use serde_json::{json, Value};

use super::{
    base_url, caller, image_view, json_response, parse_body, query_pairs, read_body, ApiError,
    ApiResult, St, MAX_JSON_BODY,
};
use crate::access::{forbidden, Caller};
use crate::store::image::Op;
use crate::store::{ImageRecord, ListFilter, ListScope};
use crate::ImageService;

/// Attempts at a metadata write that races with other writes before answering 409.
const METADATA_RETRIES: u32 = 5;

fn image_schema(svc: &ImageService) -> Value {
    rustack_image_api::schema::image(&svc.cfg.disk_formats, &svc.cfg.container_formats)
}

fn validate_image(svc: &ImageService, v: &Value) -> Result<(), Error> {
    crate::validate::validate("image", &image_schema(svc), v)
}

fn reserved(key: &str) -> bool {
    RESERVED_PROPERTIES.contains(&key) || key.starts_with(RESERVED_NAMESPACE)
}

/// A property value as stored: strings as they are, `null` (allowed by the custom
/// schema properties) as the empty string, as Glance's `Schema.filter` renders it.
fn property_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn negative(param: &str, v: i64) -> Error {
    Error::bad_request(format!(
        "Invalid value '{v}' for parameter '{param}': Cannot be a negative value."
    ))
}

/// Enforces the property and tag quotas on a record about to be written (413).
fn check_counts(svc: &ImageService, img: &ImageRecord) -> Result<(), Error> {
    let (pq, tq) = (svc.cfg.image_property_quota, svc.cfg.image_tag_quota);
    if pq >= 0 && img.properties.len() as i64 > pq {
        return Err(Error::over_quota(format!(
            "The limit has been exceeded on the number of allowed image properties. \
             Attempted: {}, Maximum: {pq}",
            img.properties.len()
        )));
    }
    if tq >= 0 && img.tags.len() as i64 > tq {
        return Err(Error::over_quota(format!(
            "The limit has been exceeded on the number of allowed image tags. \
             Attempted: {}, Maximum: {tq}",
            img.tags.len()
        )));
    }
    Ok(())
}

/// `publicize_image` / `communitize_image` for a visibility being set.
fn enforce_visibility(
    svc: &ImageService,
    caller: &Caller,
    vis: Visibility,
    target: &Value,
) -> Result<(), Error> {
    let rule = match vis {
        Visibility::Public => "publicize_image",
        Visibility::Community => "communitize_image",
        _ => return Ok(()),
    };
    svc.enforce(caller, rule, target)
}

fn tag_list(v: &Value) -> Result<BTreeSet<String>, Error> {
    match v {
        Value::Array(a) => Ok(a.iter().map(property_value).collect()),
        _ => Err(Error::bad_request("tags must be a list of strings")),
    }
}

fn int_value(name: &str, v: &Value) -> Result<i64, Error> {
    let n = v
        .as_i64()
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .ok_or_else(|| {
            Error::bad_request(format!("Invalid value for '{name}': must be an integer"))
        })?;
    if n < 0 {
        return Err(negative(name, n));
    }
    Ok(n)
}

/// Sets base attribute `key` on `img` (already schema-validated); false if `key` is
/// not a base attribute.
fn set_base(img: &mut ImageRecord, key: &str, v: &Value) -> Result<bool, Error> {
    let opt_str = |v: &Value| v.as_str().map(str::to_string);
    match key {
        "name" => img.name = opt_str(v),
        "visibility" => {
            img.visibility = v
                .as_str()
                .and_then(Visibility::parse)
                .ok_or_else(|| Error::bad_request("Visibility must be one of \"community\", \"public\", \"private\", or \"shared\""))?
        }
        "protected" => img.protected = v.as_bool().unwrap_or(img.protected),
        "os_hidden" => img.os_hidden = v.as_bool().unwrap_or(img.os_hidden),
        "min_ram" => img.min_ram = int_value("min_ram", v)?,
        "min_disk" => img.min_disk = int_value("min_disk", v)?,
        "owner" => img.owner = opt_str(v),
        "tags" => img.tags = tag_list(v)?,
        "disk_format" | "container_format" => {
            if !matches!(img.status, ImageStatus::Queued | ImageStatus::Importing) {
                return Err(Error::forbidden(format!(
                    "Attribute {key} can be only replaced for a queued image."
                )));
            }
            if key == "disk_format" {
                img.disk_format = opt_str(v);
            } else {
                img.container_format = opt_str(v);
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn is_base(key: &str) -> bool {
    BASE_PROPERTIES.contains(&key) || key == "locations"
}

/// `POST /v2/images`.
pub(super) async fn image_create(st: St, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let raw = read_body(body, MAX_JSON_BODY).await?;
    let body = parse_body(&raw)?;
    let img = create_record(&st, &caller, body).await?;
    let mut resp = json_response(StatusCode::CREATED, &image_view(&img));
    let h = resp.headers_mut();
    if let Ok(v) = format!("{}/v2/images/{}", base_url(&st, &headers), img.id).parse() {
        h.insert(axum::http::header::LOCATION, v);
    }
    if !st.cfg.enabled_import_methods.is_empty() {
        if let Ok(v) = st.cfg.enabled_import_methods.join(",").parse() {
            h.insert("openstack-image-import-methods", v);
        }
    }
    Ok(resp)
}

/// Validates an image create document, checks policy and quota, and records the
/// new `queued` image (shared by `POST /v2/images` and import tasks).
pub(super) async fn create_record(
    st: &ImageService,
    caller: &Caller,
    body: Value,
) -> ApiResult<ImageRecord> {
    let Value::Object(mut m) = body else {
        return Err(Error::bad_request(
            "Provided object does not match schema 'image': the request body must be a JSON object",
        )
        .into());
    };
    for key in DISALLOWED_PROPERTIES {
        if m.contains_key(*key) {
            return Err(Error::forbidden(format!("Attribute '{key}' is read-only.")).into());
        }
    }
    validate_image(st, &Value::Object(m.clone()))?;
    for key in READONLY_PROPERTIES {
        if *key != "id" && m.contains_key(*key) {
            return Err(Error::forbidden(format!("Attribute '{key}' is read-only.")).into());
        }
    }
    for key in m.keys() {
        if is_base(key) && key != "locations" {
            continue;
        }
        if key.chars().count() > 255 {
            return Err(Error::bad_request(
                "Custom property should not be greater than 255 characters.",
            )
            .into());
        }
        if key.is_empty() {
            return Err(Error::bad_request("Custom property names must not be empty.").into());
        }
        if reserved(key) || key == "locations" {
            return Err(Error::forbidden(format!("Attribute '{key}' is reserved.")).into());
        }
    }
    let id = match m.remove("id") {
        Some(Value::String(id)) => id.to_lowercase(),
        _ => rustack_common::new_uuid(),
    };
    let owner = match m.remove("owner") {
        Some(Value::String(o)) => Some(o),
        Some(_) => None,
        None => caller.project().map(str::to_string),
    };
    let mut img = ImageRecord::new(id, owner);
    let tags = m.remove("tags");
    for key in BASE_PROPERTIES {
        if let Some(v) = m.remove(*key) {
            set_base(&mut img, key, &v)?;
        }
    }
    if let Some(t) = tags {
        img.tags = tag_list(&t)?;
    }
    img.properties = m
        .iter()
        .map(|(k, v)| (k.clone(), property_value(v)))
        .collect();

    let target =
        json!({"project_id": img.owner, "owner": img.owner, "visibility": img.visibility.as_str()});
    if !st.check(&caller.ctx, "add_image", &target) {
        if img.owner.as_deref() != caller.project() {
            return Err(Error::forbidden(format!(
                "You are not permitted to create images owned by '{}'",
                img.owner.clone().unwrap_or_else(|| "None".into())
            ))
            .into());
        }
        return Err(forbidden("add_image").into());
    }
    enforce_visibility(st, caller, img.visibility, &target)?;
    let limit = st.cfg.image_count_total;
    if limit >= 0 {
        if let Some(owner) = caller.project() {
            let used = st.store.image_count_owned(owner).await?;
            if used + 1 > limit {
                return Err(Error::over_quota(format!(
                    "Project {owner} is over a limit for [Resource image_count_total is over \
                     limit of {limit} due to current usage {used} and delta 1]"
                ))
                .into());
            }
        }
    }
    check_counts(st, &img)?;
    st.store.image_insert(&img).await?;
    tracing::info!(image.id = %img.id, project.id = ?caller.project(), "image created");
    Ok(img)
}

/// `GET /v2/images/{id}`.
pub(super) async fn image_show(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = st.visible_image(&caller, &id).await?;
    Ok(json_response(StatusCode::OK, &image_view(&img)))
}

/// One parsed patch operation.
struct Change {
    op: &'static str,
    path: Vec<String>,
    value: Option<Value>,
}

fn decode_pointer(pointer: &str) -> Result<Vec<String>, Error> {
    let bad = |why: &str| Error::bad_request(format!("Pointer `{pointer}` {why}"));
    if !pointer.starts_with('/') {
        return Err(bad("does not start with \"/\"."));
    }
    let inner = &pointer[1..];
    let adjacent = inner.split('/').skip(1).any(|seg| seg.trim().is_empty()) && inner.contains('/');
    if adjacent && !pointer.ends_with('/') {
        return Err(bad("contains adjacent \"/\"."));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(bad("end with \"/\"."));
    }
    let mut chars = pointer.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.peek(), Some('0') | Some('1')) {
            return Err(bad(
                "contains \"~\" not part of a recognized escape sequence.",
            ));
        }
    }
    Ok(inner
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~").trim().to_string())
        .collect())
}

fn parse_changes(svc: &ImageService, body: &Value, draft4: bool) -> Result<Vec<Change>, Error> {
    let Value::Array(ops) = body else {
        return Err(Error::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let supported = ["add", "remove", "replace"];
    let mut out = vec![];
    for raw in ops {
        let Value::Object(raw) = raw else {
            return Err(Error::bad_request("Operations must be JSON objects."));
        };
        let (op, pointer): (&'static str, &Value) = if draft4 {
            let present: Vec<&&str> = supported.iter().filter(|k| raw.contains_key(**k)).collect();
            match present.as_slice() {
                [one] => (**one, &raw[**one]),
                [] => {
                    return Err(Error::bad_request(
                        "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
                _ => {
                    return Err(Error::bad_request(
                        "Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".",
                    ))
                }
            }
        } else {
            let op = match raw.get("op") {
                None => {
                    return Err(Error::bad_request(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
                    ))
                }
                Some(Value::String(s)) => match supported.iter().find(|x| **x == s) {
                    Some(x) => *x,
                    None => {
                        return Err(Error::bad_request(format!(
                            "Invalid operation: `{s}`. It must be one of the following: add, remove, replace."
                        )))
                    }
                },
                Some(other) => {
                    return Err(Error::bad_request(format!(
                        "Invalid operation: `{other}`. It must be one of the following: add, remove, replace."
                    )))
                }
            };
            let path = raw
                .get("path")
                .ok_or_else(|| Error::bad_request("Unable to find 'path' in JSON Schema change"))?;
            (op, path)
        };
        let pointer = pointer
            .as_str()
            .ok_or_else(|| Error::bad_request("The JSON pointer must be a string."))?;
        let path = decode_pointer(pointer)?;
        let depth = if path[0] == "locations" {
            if op == "replace" {
                1
            } else {
                2
            }
        } else {
            1
        };
        if path.len() != depth {
            return Err(Error::bad_request(format!(
                "Invalid JSON pointer for this resource: '/{}'",
                path.join("/")
            )));
        }
        let value = if op == "remove" {
            None
        } else {
            Some(raw.get("value").cloned().ok_or_else(|| {
                Error::bad_request(format!(
                    "Operation \"{op}\" requires a member named \"value\"."
                ))
            })?)
        };
        let root = path[0].as_str();
        if READONLY_PROPERTIES.contains(&root) {
            return Err(Error::forbidden(format!(
                "Attribute '{root}' is read-only."
            )));
        }
        if reserved(root) {
            return Err(Error::forbidden(format!("Attribute '{root}' is reserved.")));
        }
        if let Some(v) = &value {
            let partial = if path.len() == 1 {
                json!({ root: v })
            } else {
                json!({ root: [v] })
            };
            validate_image(svc, &partial)?;
        }
        out.push(Change { op, path, value });
    }
    Ok(out)
}

fn apply_change(
    svc: &ImageService,
    caller: &Caller,
    img: &mut ImageRecord,
    c: &Change,
    draft4: bool,
) -> Result<(), Error> {
    let root = c.path[0].as_str();
    if root.is_empty() {
        return Err(Error::bad_request(
            "Invalid JSON pointer for this resource: '/'",
        ));
    }
    if root == "locations" {
        let verb = if c.op == "remove" { "remove" } else { "update" };
        return Err(Error::forbidden(format!(
            "It's not allowed to {verb} locations if locations are invisible."
        )));
    }
    if c.op == "replace" && root == "owner" && !caller.is_admin {
        return Err(Error::forbidden("Owner can't be updated by non admin."));
    }
    // ImageAPIPolicy.update_property: visibility has its own rule, then modify_image.
    if root == "visibility" {
        if let Some(vis) = c
            .value
            .as_ref()
            .and_then(Value::as_str)
            .and_then(Visibility::parse)
        {
            enforce_visibility(svc, caller, vis, &ImageService::image_target(caller, img))?;
        }
    }
    svc.enforce_image(caller, img, "modify_image", None)?;
    match c.op {
        "remove" => {
            if is_base(root) {
                return Err(Error::forbidden(format!(
                    "Property {root} may not be removed."
                )));
            }
            if img.properties.remove(root).is_none() {
                return Err(Error::conflict(format!("Property {root} does not exist.")));
            }
        }
        op => {
            let value = c.value.clone().unwrap_or(Value::Null);
            if is_base(root) {
                set_base(img, root, &value)?;
            } else {
                let exists = img.properties.contains_key(root);
                if op == "replace" && !exists {
                    return Err(Error::conflict(format!("Property {root} does not exist.")));
                }
                if op == "add" && exists && draft4 {
                    return Err(Error::conflict(format!("Property {root} already present.")));
                }
                if root.chars().count() > 255 {
                    return Err(Error::bad_request(
                        "Custom property should not be greater than 255 characters.",
                    ));
                }
                img.properties
                    .insert(root.to_string(), property_value(&value));
            }
        }
    }
    Ok(())
}

/// `PATCH /v2/images/{id}`.
pub(super) async fn image_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ctype = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let draft4 = match ctype.as_str() {
        PATCH_V2_0 => true,
        PATCH_V2_1 => false,
        _ => {
            let allowed = format!("{PATCH_V2_0}, {PATCH_V2_1}");
            return Err(ApiError::from(Error::UnsupportedMediaType {
                message: format!("Image PATCH expects Content-Type one of: {allowed}"),
            })
            .with_header("accept-patch", &allowed));
        }
    };
    let raw = read_body(body, MAX_JSON_BODY).await?;
    let body = parse_body(&raw)?;
    let changes = parse_changes(&st, &body, draft4)?;
    // Another metadata write between our read and our write makes the conditional
    // update fail; the changes are then applied again to the fresh image.
    let _lock = st.lock_metadata(&id).await;
    let mut attempts = 0;
    loop {
        let mut img = st.visible_image(&caller, &id).await?;
        for c in &changes {
            apply_change(&st, &caller, &mut img, c, draft4)?;
        }
        if changes.is_empty() {
            break;
        }
        check_counts(&st, &img)?;
        if st.store.image_update_metadata(&img).await? {
            break;
        }
        attempts += 1;
        if attempts >= METADATA_RETRIES {
            return Err(Error::conflict(
                "The image was changed by other requests at the same time; retry.",
            )
            .into());
        }
    }
    // Glance answers with the image it just saved; the caller passed the checks above
    // even if the change (e.g. a new owner) means it could no longer see it.
    let img = st
        .store
        .image_get(&id)
        .await?
        .ok_or_else(|| crate::access::image_not_found(&id))?;
    Ok(json_response(StatusCode::OK, &image_view(&img)))
}

/// `DELETE /v2/images/{id}`.
pub(super) async fn image_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = st.visible_image(&caller, &id).await?;
    st.enforce_image(&caller, &img, "delete_image", None)?;
    if img.protected {
        return Err(
            Error::forbidden(format!("Image {id} is protected and cannot be deleted.")).into(),
        );
    }
    let Some(old) = st.store.image_delete(&id).await? else {
        return Err(Error::not_found(format!("Failed to find image {id} to delete")).into());
    };
    if let Some(loc) = &old.location {
        let store = match old.status {
            ImageStatus::Uploading | ImageStatus::Importing => &st.staging,
            _ => &st.images,
        };
        if let Err(e) = store.delete(loc).await {
            tracing::error!(image.id = %id, error = %e, "deleting image data failed; the file is left behind");
        }
    }
    tracing::info!(image.id = %id, "image deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn change_activation(
    st: St,
    headers: HeaderMap,
    id: String,
    deactivate: bool,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = st.visible_image(&caller, &id).await?;
    let (rule, verb, from, to) = if deactivate {
        (
            "deactivate",
            "deactivate",
            ImageStatus::Active,
            ImageStatus::Deactivated,
        )
    } else {
        (
            "reactivate",
            "reactivate",
            ImageStatus::Deactivated,
            ImageStatus::Active,
        )
    };
    st.enforce_image(&caller, &img, rule, None)?;
    if img.status == to {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if img.status != from || !st.store.image_set_status(&id, &[from], to).await? {
        return Err(Error::forbidden(format!(
            "Not allowed to {verb} image in status '{}'",
            img.status.as_str()
        ))
        .into());
    }
    tracing::info!(image.id = %id, "image {verb}d");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v2/images/{id}/actions/deactivate`.
pub(super) async fn image_deactivate(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    change_activation(st, headers, id, true).await
}

/// `POST /v2/images/{id}/actions/reactivate`.
pub(super) async fn image_reactivate(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    change_activation(st, headers, id, false).await
}

async fn change_tag(
    st: St,
    headers: HeaderMap,
    id: String,
    tag: String,
    add: bool,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    if add {
        validate_image(&st, &json!({"tags": [tag]}))?;
    }
    let verb = if add { "update" } else { "delete" };
    let _lock = st.lock_metadata(&id).await;
    for _ in 0..METADATA_RETRIES {
        let mut img = st.visible_image(&caller, &id).await?;
        st.enforce_image(
            &caller,
            &img,
            "modify_image",
            Some(format!("Not allowed to {verb} tags for image {id}.")),
        )?;
        if add {
            if !img.tags.insert(tag.clone()) {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            let tq = st.cfg.image_tag_quota;
            if tq >= 0 && img.tags.len() as i64 > tq {
                return Err(Error::over_quota(format!(
                    "Image tag limit exceeded for image {id}: The limit has been exceeded on the \
                 number of allowed image tags. Attempted: {}, Maximum: {tq}:",
                    img.tags.len()
                ))
                .into());
            }
        } else if !img.tags.remove(&tag) {
            return Err(Error::not_found("The resource could not be found.").into());
        }
        if st.store.image_update_metadata(&img).await? {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    }
    Err(Error::conflict("The image was changed by other requests at the same time; retry.").into())
}

/// `PUT /v2/images/{id}/tags/{tag}`.
pub(super) async fn tag_add(
    st: St,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    change_tag(st, headers, id, tag, true).await
}

/// `DELETE /v2/images/{id}/tags/{tag}`.
pub(super) async fn tag_delete(
    st: St,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    change_tag(st, headers, id, tag, false).await
}

/// Glance's `split_filter_op`: `op:value`, unless the whole value is an ISO time.
fn split_op(expr: &str) -> (String, String) {
    match expr.split_once(':') {
        Some((op, rest)) if rustack_common::time::parse_iso(expr).is_none() => {
            (op.to_string(), rest.to_string())
        }
        _ => ("eq".into(), expr.to_string()),
    }
}

/// Glance's `split_filter_value_for_quotes`: comma-separated, `"quoted, values"` kept.
fn split_in_values(v: &str) -> Result<Vec<String>, Error> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if quoted {
        return Err(Error::bad_request(format!(
            "Invalid filter value {v}. The quote is not closed."
        )));
    }
    out.push(cur);
    Ok(out)
}

fn parse_op(op: &str) -> Option<Op> {
    Some(match op {
        "eq" => Op::Eq,
        "neq" => Op::Neq,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        _ => return None,
    })
}

const TEXT_OP_COLUMNS: &[&str] = &["name", "id", "status", "container_format", "disk_format"];
const INT_COLUMNS: &[&str] = &["size", "virtual_size", "min_ram", "min_disk"];
const TEXT_EQ_COLUMNS: &[&str] = &["owner", "checksum", "os_hash_value", "os_hash_algo"];

fn column(name: &str, set: &[&'static str]) -> Option<&'static str> {
    set.iter().copied().find(|c| *c == name)
}

fn parse_bool_filter(key: &str, v: &str) -> Result<bool, Error> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(Error::bad_request(format!(
            "Invalid value '{other}' for '{key}' filter. Valid values are 'true' or 'false'."
        ))),
    }
}

fn parse_int(key: &str, v: &str) -> Result<i64, Error> {
    v.trim().parse::<i64>().map_err(|_| {
        Error::bad_request(format!(
            "Invalid value '{v}' for '{key}' filter: an integer is expected."
        ))
    })
}

/// Parsed `GET /v2/images` parameters.
struct ListParams {
    limit: Option<u64>,
    marker: Option<String>,
    member_status: String,
    visibility: Option<String>,
    filters: Vec<ListFilter>,
    sort: Vec<(String, bool)>,
}

fn parse_list_params(pairs: &[(String, String)]) -> Result<ListParams, Error> {
    let first = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
    let limit = match first("limit") {
        None => None,
        Some(l) => {
            let n: i64 = l
                .trim()
                .parse()
                .map_err(|_| Error::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(Error::bad_request("limit param must be positive"));
            }
            Some(n as u64)
        }
    };
    let member_status = first("member_status").unwrap_or_else(|| "accepted".into());
    if !["pending", "accepted", "rejected", "all"].contains(&member_status.as_str()) {
        return Err(Error::bad_request(format!(
            "Invalid status: {member_status}"
        )));
    }
    let visibility = first("visibility");
    if let Some(v) = &visibility {
        if !["community", "public", "private", "shared", "all"].contains(&v.as_str()) {
            return Err(Error::bad_request(format!("Invalid visibility value: {v}")));
        }
    }
    // Sorting: `sort=k1:dir,k2` or repeated `sort_key`/`sort_dir`.
    let keys: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "sort_key")
        .map(|(_, v)| v)
        .collect();
    let dirs: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "sort_dir")
        .map(|(_, v)| v)
        .collect();
    let check_key = |k: &str| -> Result<String, Error> {
        if SORT_KEYS.contains(&k) {
            Ok(k.to_string())
        } else {
            Err(Error::bad_request(format!(
                "Invalid sort key: {k}. It must be one of the following: {}.",
                SORT_KEYS.join(", ")
            )))
        }
    };
    let check_dir = |d: &str| -> Result<bool, Error> {
        match d {
            "asc" => Ok(false),
            "desc" => Ok(true),
            other => Err(Error::bad_request(format!(
                "Invalid sort direction: {other}"
            ))),
        }
    };
    let mut sort: Vec<(String, bool)> = vec![];
    let mut default_desc = true;
    if let Some(s) = first("sort") {
        if !keys.is_empty() || !dirs.is_empty() {
            return Err(Error::bad_request(
                "Old and new sorting syntax cannot be combined",
            ));
        }
        for part in s.trim().split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, ""));
            let d = if d.trim().is_empty() {
                "desc"
            } else {
                d.trim()
            };
            sort.push((check_key(k.trim())?, check_dir(d)?));
        }
    } else {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| check_key(k.trim()))
            .collect::<Result<_, _>>()?;
        let dirs: Vec<bool> = dirs
            .iter()
            .map(|d| check_dir(d.trim()))
            .collect::<Result<_, _>>()?;
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(Error::bad_request(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        if dirs.len() == 1 {
            default_desc = dirs[0];
        }
        let keys = if keys.is_empty() {
            vec!["created_at".to_string()]
        } else {
            keys
        };
        for (n, k) in keys.into_iter().enumerate() {
            let d = dirs.get(n).copied().unwrap_or(default_desc);
            sort.push((k, d));
        }
    }
    for k in ["created_at", "id"] {
        if !sort.iter().any(|(x, _)| x == k) {
            sort.push((k.to_string(), default_desc));
        }
    }

    let mut filters = vec![];
    let mut os_hidden = false;
    let consumed = [
        "limit",
        "marker",
        "member_status",
        "visibility",
        "sort",
        "sort_key",
        "sort_dir",
    ];
    for (k, v) in pairs {
        if consumed.contains(&k.as_str()) {
            continue;
        }
        if k == "tag" {
            filters.push(ListFilter::Tag(v.trim().to_string()));
        } else if k == "os_hidden" {
            os_hidden = parse_bool_filter("os_hidden", &v.to_lowercase())?;
        } else if k == "protected" {
            filters.push(ListFilter::Bool(
                "protected",
                parse_bool_filter("protected", v)?,
            ));
        } else if k == "changes-since" {
            return Err(Error::bad_request(
                "The \"changes-since\" filter is no longer available on v2.",
            ));
        } else if let Some(col) = column(k, TEXT_OP_COLUMNS) {
            let (op, val) = split_op(v);
            match op.as_str() {
                "in" => filters.push(ListFilter::TextIn(col, split_in_values(&val)?)),
                "eq" => filters.push(ListFilter::Text(col, Op::Eq, val)),
                other => {
                    return Err(Error::bad_request(format!(
                        "Unable to filter by unknown operator '{other}'."
                    )))
                }
            }
        } else if k == "created_at" || k == "updated_at" {
            let col = if k == "created_at" {
                "created_at"
            } else {
                "updated_at"
            };
            let (op, val) = split_op(v);
            let t = rustack_common::time::parse_iso(&val).ok_or_else(|| {
                Error::bad_request(format!(
                    "Bad \"{k}\" query filter format. Use ISO 8601 DateTime notation."
                ))
            })?;
            let op = parse_op(&op)
                .ok_or_else(|| Error::bad_request("Unable to filter on a unknown operator."))?;
            filters.push(ListFilter::Text(
                col,
                op,
                rustack_common::time::isotime_micro(t),
            ));
        } else if let Some(base) = k.strip_suffix("_min").or_else(|| k.strip_suffix("_max")) {
            let col = column(base, INT_COLUMNS).ok_or_else(|| {
                Error::bad_request(format!("Unable to filter on a range of '{base}'."))
            })?;
            let n: i64 = v.trim().parse().map_err(|_| {
                Error::bad_request("Unable to filter on a range with a non-numeric value.")
            })?;
            let op = if k.ends_with("_min") {
                Op::Gte
            } else {
                Op::Lte
            };
            filters.push(ListFilter::Int(col, op, n));
        } else if let Some(col) = column(k, INT_COLUMNS) {
            filters.push(ListFilter::Int(col, Op::Eq, parse_int(k, v)?));
        } else if let Some(col) = column(k, TEXT_EQ_COLUMNS) {
            filters.push(ListFilter::Text(col, Op::Eq, v.clone()));
        } else {
            filters.push(ListFilter::Property(k.clone(), v.clone()));
        }
    }
    filters.push(ListFilter::Bool("os_hidden", os_hidden));
    Ok(ListParams {
        limit,
        marker: first("marker"),
        member_status,
        visibility,
        filters,
        sort,
    })
}

fn compare(a: &ImageRecord, b: &ImageRecord, sort: &[(String, bool)]) -> Ordering {
    for (key, desc) in sort {
        let o = match key.as_str() {
            "name" => a.name.cmp(&b.name),
            "status" => a.status.as_str().cmp(b.status.as_str()),
            "container_format" => a.container_format.cmp(&b.container_format),
            "disk_format" => a.disk_format.cmp(&b.disk_format),
            "size" => a.size.cmp(&b.size),
            "id" => a.id.cmp(&b.id),
            "created_at" => a.created_at.cmp(&b.created_at),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            _ => Ordering::Equal,
        };
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// `GET /v2/images`.
pub(super) async fn image_list(
    st: St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let pairs = query_pairs(q.as_deref());
    let params = parse_list_params(&pairs)?;
    st.enforce(
        &caller,
        "get_images",
        &json!({"project_id": caller.project()}),
    )?;
    let scope = ListScope {
        admin: caller.is_admin,
        project: caller.project().map(str::to_string),
        member_status: (params.member_status != "all").then(|| params.member_status.clone()),
        visibility: params.visibility.clone(),
    };
    // Visibility and filters run in SQL; sorting, the marker and the page are applied
    // here, over the matching rows' base columns (properties and tags are loaded for
    // the page only). TODO-robustness (issue 3): keyset pagination in SQL once
    // projects hold many thousands of images.
    let mut all = st.store.image_list(&scope, &params.filters).await?;
    all.retain(|img| {
        st.check(
            &caller.ctx,
            "get_image",
            &ImageService::image_target(&caller, img),
        )
    });
    all.sort_by(|a, b| compare(a, b, &params.sort));
    if let Some(marker) = &params.marker {
        let m = match st.visible_image(&caller, marker).await {
            Ok(m) => m,
            Err(_) => {
                return Err(Error::bad_request(format!("No image found with ID {marker}")).into())
            }
        };
        all.retain(|img| compare(img, &m, &params.sort) == Ordering::Greater);
    }
    let limit = params
        .limit
        .unwrap_or(st.cfg.limit_param_default)
        .min(st.cfg.api_limit_max);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    all.truncate(limit);
    st.store.load_children(&mut all).await?;

    // Links keep the query (one value per key, as Glance's dict(params) does).
    let mut kept: Vec<(String, String)> = vec![];
    for (k, v) in pairs.iter().filter(|(k, _)| k != "marker") {
        match kept.iter_mut().find(|(x, _)| x == k) {
            Some(slot) => slot.1 = v.clone(),
            None => kept.push((k.clone(), v.clone())),
        }
    }
    let encode = |pairs: &[(String, String)]| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let first = if kept.is_empty() {
        "/v2/images".to_string()
    } else {
        format!("/v2/images?{}", encode(&kept))
    };
    let next = match all.last() {
        Some(last) if all.len() == limit => {
            let mut with_marker = kept.clone();
            with_marker.push(("marker".into(), last.id.clone()));
            Some(format!("/v2/images?{}", encode(&with_marker)))
        }
        _ => None,
    };
    let body = ImageList {
        images: all.iter().map(super::image_view).collect(),
        first,
        schema: "/v2/schemas/images".into(),
        next,
    };
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_are_validated_like_glance() {
        assert_eq!(decode_pointer("/name").expect("ok"), vec!["name"]);
        assert_eq!(decode_pointer("/a~1b~0c").expect("ok"), vec!["a/b~c"]);
        assert!(decode_pointer("name").is_err());
        assert!(decode_pointer("/name/").is_err());
        assert!(decode_pointer("/a//b").is_err());
        assert!(decode_pointer("/a~2").is_err());
    }

    #[test]
    fn filter_values() {
        assert_eq!(split_op("in:raw,qcow2"), ("in".into(), "raw,qcow2".into()));
        assert_eq!(split_op("raw"), ("eq".into(), "raw".into()));
        assert_eq!(
            split_op("2020-01-01T00:00:00Z"),
            ("eq".into(), "2020-01-01T00:00:00Z".into())
        );
        assert_eq!(
            split_in_values("a,\"b,c\",d").expect("ok"),
            vec!["a", "b,c", "d"]
        );
        assert!(split_in_values("\"a").is_err());
    }

    #[test]
    fn list_params() {
        let p = |q: &str| parse_list_params(&super::super::query_pairs(Some(q)));
        assert!(p("limit=x").is_err());
        assert!(p("limit=-1").is_err());
        assert!(p("sort=size:desc&sort_key=name").is_err());
        assert!(p("sort_key=bogus").is_err());
        assert!(p("sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc").is_err());
        assert!(p("visibility=everyone").is_err());
        assert!(p("member_status=maybe").is_err());
        assert!(p("changes-since=2020").is_err());
        assert!(p("size_min=abc").is_err());
        assert!(p("name=gt:x").is_err());
        assert!(p("created_at=gt:yesterday").is_err());
        let ok = p("sort=size:desc,name&tag=a&tag=b&size_min=3&foo=bar").expect("ok");
        assert_eq!(ok.sort[0], ("size".to_string(), true));
        assert_eq!(ok.sort[1], ("name".to_string(), true));
        assert!(ok.filters.contains(&ListFilter::Tag("b".into())));
        assert!(ok
            .filters
            .contains(&ListFilter::Property("foo".into(), "bar".into())));
        assert!(ok.filters.contains(&ListFilter::Int("size", Op::Gte, 3)));
    }
}
