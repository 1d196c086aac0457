//! Metadata definitions (`/v2/metadefs`): namespaces with their resource type
//! associations, objects, property definitions and tags, and the resource types.
//!
//! Glance's rules: a namespace is visible to admins, to its owner, and to everyone
//! when `public`; an invisible namespace (and everything in it) answers 404. Reads
//! use the `get_metadef_*` rules, writes the admin-only `*_metadef_*` defaults
//! (403 on a visible namespace). Protected namespaces cannot be deleted (403).

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::{
    caller, isotime, json_response, parse_body, query_pairs, read_body, ApiResult, St,
    MAX_JSON_BODY,
};
use crate::access::{forbidden, Caller};
use crate::metadef_catalog::{from_document, strip_name};
use crate::store::metadef::{AssociationRecord, DocKind, DocRecord, NamespaceRecord};
use crate::store::now_text;
use crate::ImageService;

const NS_KEYS: &[&str] = &[
    "namespace",
    "display_name",
    "description",
    "visibility",
    "protected",
    "owner",
    "resource_type_associations",
    "properties",
    "objects",
    "tags",
    "created_at",
    "updated_at",
    "schema",
    "self",
];

const PROPERTY_TYPES: &[&str] = &[
    "array", "boolean", "integer", "number", "object", "string", "null",
];

const PROPERTY_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "operators",
    "type",
    "required",
    "minimum",
    "maximum",
    "maxLength",
    "minLength",
    "pattern",
    "enum",
    "readonly",
    "default",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "additionalItems",
];

fn schema_error(schema: &str, detail: impl std::fmt::Display) -> Error {
    Error::bad_request(format!(
        "Provided object does not match schema '{schema}': {detail}"
    ))
}

fn ns_not_found(name: &str) -> Error {
    Error::not_found(format!(
        "Metadata definition namespace={name} was not found."
    ))
}

fn child_not_found(kind: DocKind, name: &str, ns: &str) -> Error {
    let what = match kind {
        DocKind::Object => "object",
        DocKind::Property => "property",
        DocKind::Tag => "tag",
    };
    Error::not_found(format!(
        "The metadata definition {what} with name={name} was not found in namespace={ns}."
    ))
}

fn as_object<'a>(schema: &str, v: &'a Value) -> Result<&'a Map<String, Value>, Error> {
    v.as_object()
        .ok_or_else(|| schema_error(schema, format!("{v} is not of type 'object'")))
}

/// Checks an optional string field's type and length.
fn opt_string(
    schema: &str,
    m: &Map<String, Value>,
    key: &str,
    max: usize,
    required: bool,
) -> Result<(), Error> {
    match m.get(key) {
        None if required => Err(schema_error(
            schema,
            format!("'{key}' is a required property"),
        )),
        None => Ok(()),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(schema_error(schema, format!("'{s}' is too long")))
        }
        Some(Value::String(s)) if required && s.is_empty() => {
            Err(schema_error(schema, format!("'{key}' must not be empty")))
        }
        Some(Value::String(_)) => Ok(()),
        Some(v) => Err(schema_error(schema, format!("{v} is not of type 'string'"))),
    }
}

fn check_unknown(schema: &str, m: &Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(schema_error(
            schema,
            format!("Additional properties are not allowed ('{k}' was unexpected)"),
        )),
        None => Ok(()),
    }
}

/// A property definition (`name` is required when `with_name`).
fn validate_property(def: &Value, with_name: bool) -> Result<(), Error> {
    let m = as_object("property", def)?;
    check_unknown("property", m, PROPERTY_KEYS)?;
    opt_string("property", m, "name", 255, with_name)?;
    opt_string("property", m, "title", usize::MAX, true)?;
    opt_string("property", m, "description", usize::MAX, false)?;
    opt_string("property", m, "type", 16, true)?;
    let t = m.get("type").and_then(Value::as_str).unwrap_or_default();
    if !PROPERTY_TYPES.contains(&t) {
        return Err(schema_error(
            "property",
            format!("'{t}' is not one of {PROPERTY_TYPES:?}"),
        ));
    }
    for k in ["enum", "operators", "required"] {
        if let Some(v) = m.get(k) {
            if !v.is_array() {
                return Err(schema_error(
                    "property",
                    format!("{v} is not of type 'array'"),
                ));
            }
        }
    }
    for k in ["minimum", "maximum"] {
        if let Some(v) = m.get(k) {
            if !v.is_number() {
                return Err(schema_error(
                    "property",
                    format!("{v} is not of type 'number'"),
                ));
            }
        }
    }
    for k in ["maxLength", "minLength", "maxItems", "minItems"] {
        if let Some(v) = m.get(k) {
            if v.as_u64().is_none() {
                return Err(schema_error(
                    "property",
                    format!("{v} is not a non-negative integer"),
                ));
            }
        }
    }
    for k in ["readonly", "uniqueItems", "additionalItems"] {
        if let Some(v) = m.get(k) {
            if !v.is_boolean() {
                return Err(schema_error(
                    "property",
                    format!("{v} is not of type 'boolean'"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_properties_map(v: &Value) -> Result<(), Error> {
    for def in as_object("property", v)?.values() {
        validate_property(def, false)?;
    }
    Ok(())
}

fn validate_object(doc: &Value) -> Result<(), Error> {
    let m = as_object("object", doc)?;
    check_unknown(
        "object",
        m,
        &[
            "name",
            "description",
            "required",
            "properties",
            "created_at",
            "updated_at",
            "schema",
            "self",
        ],
    )?;
    opt_string("object", m, "name", 255, true)?;
    opt_string("object", m, "description", usize::MAX, false)?;
    if let Some(r) = m.get("required") {
        if !r.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            return Err(schema_error(
                "object",
                format!("{r} is not of type 'array'"),
            ));
        }
    }
    if let Some(p) = m.get("properties") {
        validate_properties_map(p)?;
    }
    Ok(())
}

fn validate_tag(doc: &Value) -> Result<(), Error> {
    let m = as_object("tag", doc)?;
    check_unknown("tag", m, &["name", "created_at", "updated_at"])?;
    opt_string("tag", m, "name", 255, true)
}

fn validate_association(doc: &Value) -> Result<(), Error> {
    let m = as_object("resource_type_association", doc)?;
    check_unknown(
        "resource_type_association",
        m,
        &[
            "name",
            "prefix",
            "properties_target",
            "created_at",
            "updated_at",
        ],
    )?;
    opt_string("resource_type_association", m, "name", 80, true)?;
    opt_string("resource_type_association", m, "prefix", 80, false)?;
    opt_string(
        "resource_type_association",
        m,
        "properties_target",
        80,
        false,
    )
}

/// A namespace document of a create (`full`: with its children) or an update.
fn validate_namespace(doc: &Value, full: bool) -> Result<(), Error> {
    let m = as_object("namespace", doc)?;
    check_unknown("namespace", m, NS_KEYS)?;
    opt_string("namespace", m, "namespace", 80, true)?;
    opt_string("namespace", m, "display_name", 80, false)?;
    opt_string("namespace", m, "description", 500, false)?;
    opt_string("namespace", m, "owner", 255, false)?;
    match m.get("visibility") {
        None => {}
        Some(Value::String(v)) if v == "public" || v == "private" => {}
        Some(v) => {
            return Err(schema_error(
                "namespace",
                format!("{v} is not one of ['public', 'private']"),
            ))
        }
    }
    if let Some(p) = m.get("protected") {
        if !p.is_boolean() {
            return Err(schema_error(
                "namespace",
                format!("{p} is not of type 'boolean'"),
            ));
        }
    }
    if !full {
        return Ok(());
    }
    let list = |k: &str| -> Result<Vec<Value>, Error> {
        match m.get(k) {
            None => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(v) => Err(schema_error(
                "namespace",
                format!("{v} is not of type 'array'"),
            )),
        }
    };
    for a in list("resource_type_associations")? {
        validate_association(&a)?;
    }
    for o in list("objects")? {
        validate_object(&o)?;
    }
    for t in list("tags")? {
        validate_tag(&t)?;
    }
    if let Some(p) = m.get("properties") {
        validate_properties_map(p)?;
    }
    Ok(())
}

/// Reads and parses a JSON body.
async fn json_body(body: Body) -> Result<Value, Error> {
    let raw = read_body(body, MAX_JSON_BODY)
        .await
        .map_err(|_| Error::bad_request("Request body is too large."))?;
    parse_body(&raw)
}

fn ns_target(ns: &NamespaceRecord) -> Value {
    json!({"project_id": ns.owner, "owner": ns.owner, "visibility": ns.visibility,
        "namespace": ns.namespace, "protected": ns.protected})
}

fn project_target(caller: &Caller) -> Value {
    json!({"project_id": caller.project(), "owner": caller.project()})
}

/// Glance's DB visibility of a namespace.
fn ns_visible(caller: &Caller, ns: &NamespaceRecord) -> bool {
    caller.is_admin
        || ns.visibility == "public"
        || (ns.owner.is_some() && ns.owner.as_deref() == caller.project())
}

impl ImageService {
    /// The namespace `name` if the caller may see it and `rule` allows the action:
    /// 404 when it is invisible (or `get_metadef_namespace` refuses it), 403 when
    /// only `rule` refuses.
    async fn namespace_for(
        &self,
        caller: &Caller,
        name: &str,
        rule: &str,
    ) -> Result<NamespaceRecord, Error> {
        // Glance's words differ between reads and writes.
        let missing = || {
            if rule.starts_with("get_") {
                ns_not_found(name)
            } else {
                Error::not_found(format!("Namespace {name} not found"))
            }
        };
        let ns = self.store.ns_get(name).await?.ok_or_else(missing)?;
        if !ns_visible(caller, &ns) {
            return Err(missing());
        }
        let target = ns_target(&ns);
        if self.check(&caller.ctx, rule, &target) {
            return Ok(ns);
        }
        if !self.check(&caller.ctx, "get_metadef_namespace", &target) {
            return Err(missing());
        }
        Err(forbidden(rule))
    }
}

fn association_view(a: &AssociationRecord) -> Value {
    let mut v = json!({"name": a.name, "created_at": isotime(&a.created_at),
        "updated_at": isotime(&a.updated_at)});
    if let Some(m) = v.as_object_mut() {
        if let Some(p) = &a.prefix {
            m.insert("prefix".into(), json!(p));
        }
        if let Some(t) = &a.properties_target {
            m.insert("properties_target".into(), json!(t));
        }
    }
    v
}

fn object_view(ns: &str, d: &DocRecord) -> Value {
    let mut v = d.body.as_object().cloned().unwrap_or_default();
    v.insert("name".into(), json!(d.name));
    v.insert("schema".into(), json!("/v2/schemas/metadefs/object"));
    v.insert(
        "self".into(),
        json!(format!("/v2/metadefs/namespaces/{ns}/objects/{}", d.name)),
    );
    v.insert("created_at".into(), json!(isotime(&d.created_at)));
    v.insert("updated_at".into(), json!(isotime(&d.updated_at)));
    Value::Object(v)
}

fn property_view(d: &DocRecord) -> Value {
    let mut v = d.body.as_object().cloned().unwrap_or_default();
    v.insert("name".into(), json!(d.name));
    Value::Object(v)
}

fn tag_view(d: &DocRecord) -> Value {
    json!({"name": d.name, "created_at": isotime(&d.created_at),
        "updated_at": isotime(&d.updated_at)})
}

/// A namespace's own attributes (list form).
fn ns_base_view(ns: &NamespaceRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("namespace".into(), json!(ns.namespace));
    if let Some(d) = &ns.display_name {
        m.insert("display_name".into(), json!(d));
    }
    if let Some(d) = &ns.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("visibility".into(), json!(ns.visibility));
    m.insert("protected".into(), json!(ns.protected));
    if let Some(o) = &ns.owner {
        m.insert("owner".into(), json!(o));
    }
    m.insert("created_at".into(), json!(isotime(&ns.created_at)));
    m.insert("updated_at".into(), json!(isotime(&ns.updated_at)));
    m.insert("schema".into(), json!("/v2/schemas/metadefs/namespace"));
    m.insert(
        "self".into(),
        json!(format!("/v2/metadefs/namespaces/{}", ns.namespace)),
    );
    m
}

impl ImageService {
    /// The list view: the attributes and the resource type associations.
    async fn ns_list_view(&self, ns: &NamespaceRecord) -> Result<Value, Error> {
        let mut m = ns_base_view(ns);
        let assocs = self.store.associations(&ns.id).await?;
        if !assocs.is_empty() {
            m.insert(
                "resource_type_associations".into(),
                Value::Array(assocs.iter().map(association_view).collect()),
            );
        }
        Ok(Value::Object(m))
    }

    /// The detail view: the list view plus properties, objects and tags.
    async fn ns_detail_view(&self, ns: &NamespaceRecord) -> Result<Value, Error> {
        let mut v = self.ns_list_view(ns).await?;
        let props = self.store.docs(DocKind::Property, &ns.id).await?;
        let objects = self.store.docs(DocKind::Object, &ns.id).await?;
        let tags = self.store.docs(DocKind::Tag, &ns.id).await?;
        if let Some(m) = v.as_object_mut() {
            if !props.is_empty() {
                let p: Map<String, Value> = props
                    .iter()
                    .map(|d| (d.name.clone(), d.body.clone()))
                    .collect();
                m.insert("properties".into(), Value::Object(p));
            }
            if !objects.is_empty() {
                m.insert(
                    "objects".into(),
                    Value::Array(
                        objects
                            .iter()
                            .map(|o| object_view(&ns.namespace, o))
                            .collect(),
                    ),
                );
            }
            if !tags.is_empty() {
                m.insert(
                    "tags".into(),
                    Value::Array(tags.iter().map(tag_view).collect()),
                );
            }
        }
        Ok(v)
    }
}

// ---------------------------------------------------------------- namespaces

/// `GET /v2/metadefs/namespaces`: `visibility`, `resource_types` (comma-separated,
/// any of), `limit`, `marker`, `sort_key` (`created_at`, `namespace`, ...) and
/// `sort_dir` (default `created_at` `desc`).
pub(super) async fn namespace_list(
    st: St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    st.enforce(&caller, "get_metadef_namespaces", &project_target(&caller))?;
    let mut visibility = None;
    let mut resource_types: Vec<String> = vec![];
    let mut limit: Option<usize> = None;
    let mut marker = None;
    let mut sort_key = "created_at".to_string();
    let mut sort_dir = "desc".to_string();
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "visibility" => {
                if v != "public" && v != "private" {
                    return Err(Error::bad_request(format!("Invalid visibility value: {v}")).into());
                }
                visibility = Some(v);
            }
            "resource_types" => resource_types.extend(v.split(',').map(|s| s.trim().to_string())),
            "limit" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| Error::bad_request("limit param must be an integer"))?;
                if n < 0 {
                    return Err(Error::bad_request("limit param must be positive").into());
                }
                limit = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            "marker" => marker = Some(v),
            "sort_key" => {
                if ![
                    "created_at",
                    "updated_at",
                    "namespace",
                    "display_name",
                    "visibility",
                    "protected",
                    "owner",
                ]
                .contains(&v.as_str())
                {
                    return Err(Error::bad_request(format!("Invalid sort key: {v}.")).into());
                }
                sort_key = v;
            }
            "sort_dir" => {
                if v != "asc" && v != "desc" {
                    return Err(Error::bad_request(format!("Invalid sort direction: {v}")).into());
                }
                sort_dir = v;
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    for ns in st.store.ns_list().await? {
        if !ns_visible(&caller, &ns)
            || !st.check(&caller.ctx, "get_metadef_namespace", &ns_target(&ns))
        {
            continue;
        }
        if visibility.as_deref().is_some_and(|v| v != ns.visibility) {
            continue;
        }
        if !resource_types.is_empty() {
            let assocs = st.store.associations(&ns.id).await?;
            if !assocs.iter().any(|a| resource_types.contains(&a.name)) {
                continue;
            }
        }
        all.push(ns);
    }
    let key = |ns: &NamespaceRecord| -> String {
        match sort_key.as_str() {
            "updated_at" => ns.updated_at.clone(),
            "namespace" => ns.namespace.clone(),
            "display_name" => ns.display_name.clone().unwrap_or_default(),
            "visibility" => ns.visibility.clone(),
            "protected" => ns.protected.to_string(),
            "owner" => ns.owner.clone().unwrap_or_default(),
            _ => ns.created_at.clone(),
        }
    };
    all.sort_by(|a, b| {
        let o = key(a)
            .cmp(&key(b))
            .then_with(|| a.namespace.cmp(&b.namespace));
        if sort_dir == "desc" {
            o.reverse()
        } else {
            o
        }
    });
    if let Some(m) = &marker {
        let pos = all
            .iter()
            .position(|ns| &ns.namespace == m)
            .ok_or_else(|| ns_not_found(m))?;
        all.drain(..=pos);
    }
    let mut next = None;
    if let Some(l) = limit {
        if all.len() > l {
            all.truncate(l);
            next = all.last().map(|ns| {
                format!(
                    "/v2/metadefs/namespaces?marker={}",
                    form_urlencoded::byte_serialize(ns.namespace.as_bytes()).collect::<String>()
                )
            });
        }
    }
    let mut items = Vec::with_capacity(all.len());
    for ns in &all {
        items.push(st.ns_list_view(ns).await?);
    }
    let mut body = json!({"namespaces": items, "first": "/v2/metadefs/namespaces",
        "schema": "/v2/schemas/metadefs/namespaces"});
    if let (Some(n), Some(m)) = (next, body.as_object_mut()) {
        m.insert("next".into(), json!(n));
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v2/metadefs/namespaces`.
pub(super) async fn namespace_create(
    st: St,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_namespace(&doc, true)?;
    let owner = doc
        .get("owner")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| caller.project().map(str::to_string));
    let (ns, contents) = from_document(&doc, owner);
    st.enforce(&caller, "add_metadef_namespace", &ns_target(&ns))?;
    st.store.ns_insert(&ns, &contents).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &st.ns_detail_view(&ns).await?,
    ))
}

/// `GET /v2/metadefs/namespaces/{namespace}`.
pub(super) async fn namespace_show(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "get_metadef_namespace")
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &st.ns_detail_view(&ns).await?,
    ))
}

/// `PUT /v2/metadefs/namespaces/{namespace}`: replaces the attributes (a new
/// `namespace` renames it; absent ones are cleared or defaulted as at create); the
/// children are kept.
pub(super) async fn namespace_update(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_namespace(&doc, false)?;
    let mut ns = st
        .namespace_for(&caller, &name, "modify_metadef_namespace")
        .await?;
    // Glance replaces the attributes: what the body leaves out is cleared or
    // takes its create default.
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    ns.namespace = text("namespace").unwrap_or(ns.namespace);
    ns.display_name = text("display_name");
    ns.description = text("description");
    ns.visibility = text("visibility").unwrap_or_else(|| "private".into());
    ns.protected = doc
        .get("protected")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ns.owner = text("owner").or_else(|| caller.project().map(str::to_string));
    ns.updated_at = now_text();
    st.store.ns_update(&ns).await?;
    Ok(json_response(
        StatusCode::OK,
        &st.ns_detail_view(&ns).await?,
    ))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}`: 403 while protected.
pub(super) async fn namespace_delete(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "delete_metadef_namespace")
        .await?;
    if ns.protected {
        return Err(Error::forbidden(format!(
            "Metadata definition namespace {name} is protected and cannot be deleted."
        ))
        .into());
    }
    st.store.ns_delete(&ns.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------ resource types

/// `GET /v2/metadefs/resource_types`.
pub(super) async fn resource_type_list(st: St, headers: HeaderMap) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    st.enforce(
        &caller,
        "list_metadef_resource_types",
        &project_target(&caller),
    )?;
    let types: Vec<Value> = st
        .store
        .resource_types()
        .await?
        .iter()
        .map(|t| {
            json!({"name": t.name, "created_at": isotime(&t.created_at),
                "updated_at": isotime(&t.updated_at)})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "resource_types": types }),
    ))
}

/// `GET /v2/metadefs/namespaces/{namespace}/resource_types`.
pub(super) async fn association_list(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "get_metadef_resource_type")
        .await?;
    let assocs: Vec<Value> = st
        .store
        .associations(&ns.id)
        .await?
        .iter()
        .map(association_view)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "resource_type_associations": assocs }),
    ))
}

/// `POST /v2/metadefs/namespaces/{namespace}/resource_types` (an unknown resource
/// type is registered, as Glance does).
pub(super) async fn association_create(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_association(&doc)?;
    let ns = st
        .namespace_for(&caller, &name, "add_metadef_resource_type_association")
        .await?;
    let now = now_text();
    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    let a = AssociationRecord {
        name: field("name").unwrap_or_default(),
        prefix: field("prefix"),
        properties_target: field("properties_target"),
        created_at: now.clone(),
        updated_at: now,
    };
    st.store.association_insert(&ns, &a).await?;
    Ok(json_response(StatusCode::CREATED, &association_view(&a)))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/resource_types/{name}`.
pub(super) async fn association_delete(
    st: St,
    headers: HeaderMap,
    Path((name, rt)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "remove_metadef_resource_type_association")
        .await?;
    if !st.store.association_delete(&ns.id, &rt).await? {
        return Err(Error::not_found(format!(
            "The metadata definition resource-type association of resource-type={rt} to \
             namespace={name}, was not found."
        ))
        .into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ------------------------------------------------------------------- objects

/// `GET /v2/metadefs/namespaces/{namespace}/objects`.
pub(super) async fn object_list(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "get_metadef_objects")
        .await?;
    let objects: Vec<Value> = st
        .store
        .docs(DocKind::Object, &ns.id)
        .await?
        .iter()
        .map(|o| object_view(&ns.namespace, o))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"objects": objects, "schema": "/v2/schemas/metadefs/objects"}),
    ))
}

fn new_doc(name: String, body: Value) -> DocRecord {
    let now = now_text();
    DocRecord {
        name,
        body,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// `POST /v2/metadefs/namespaces/{namespace}/objects`.
pub(super) async fn object_create(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_object(&doc)?;
    let ns = st
        .namespace_for(&caller, &name, "add_metadef_object")
        .await?;
    let d = new_doc(
        doc["name"].as_str().unwrap_or_default().to_string(),
        strip_name(&doc),
    );
    st.store.doc_insert(DocKind::Object, &ns, &d).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &object_view(&ns.namespace, &d),
    ))
}

/// The child `child` of `kind` in a namespace the caller may act on with `rule`.
async fn child(
    st: &ImageService,
    caller: &Caller,
    ns_name: &str,
    kind: DocKind,
    child: &str,
    rule: &str,
) -> Result<(NamespaceRecord, DocRecord), Error> {
    let ns = st.namespace_for(caller, ns_name, rule).await?;
    let d = st
        .store
        .doc_get(kind, &ns.id, child)
        .await?
        .ok_or_else(|| child_not_found(kind, child, ns_name))?;
    Ok((ns, d))
}

/// `GET /v2/metadefs/namespaces/{namespace}/objects/{name}`.
pub(super) async fn object_show(
    st: St,
    headers: HeaderMap,
    Path((name, object)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let (ns, d) = child(
        &st,
        &caller,
        &name,
        DocKind::Object,
        &object,
        "get_metadef_object",
    )
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &object_view(&ns.namespace, &d),
    ))
}

/// `PUT /v2/metadefs/namespaces/{namespace}/objects/{name}`: replaces the object
/// (a new `name` renames it).
pub(super) async fn object_update(
    st: St,
    headers: HeaderMap,
    Path((name, object)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_object(&doc)?;
    let (ns, old) = child(
        &st,
        &caller,
        &name,
        DocKind::Object,
        &object,
        "modify_metadef_object",
    )
    .await?;
    let d = DocRecord {
        name: doc["name"].as_str().unwrap_or_default().to_string(),
        body: strip_name(&doc),
        created_at: old.created_at,
        updated_at: now_text(),
    };
    st.store
        .doc_update(DocKind::Object, &ns, &object, &d)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &object_view(&ns.namespace, &d),
    ))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/objects/{name}`.
pub(super) async fn object_delete(
    st: St,
    headers: HeaderMap,
    Path((name, object)): Path<(String, String)>,
) -> ApiResult<Response> {
    delete_child(
        st,
        headers,
        name,
        DocKind::Object,
        object,
        "delete_metadef_object",
    )
    .await
}

async fn delete_child(
    st: St,
    headers: HeaderMap,
    ns_name: String,
    kind: DocKind,
    name: String,
    rule: &str,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st.namespace_for(&caller, &ns_name, rule).await?;
    if !st.store.doc_delete(kind, &ns.id, &name).await? {
        return Err(child_not_found(kind, &name, &ns_name).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- properties

/// `GET /v2/metadefs/namespaces/{namespace}/properties`.
pub(super) async fn property_list(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "get_metadef_properties")
        .await?;
    let props: Map<String, Value> = st
        .store
        .docs(DocKind::Property, &ns.id)
        .await?
        .iter()
        .map(|d| (d.name.clone(), d.body.clone()))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "properties": props }),
    ))
}

/// `POST /v2/metadefs/namespaces/{namespace}/properties`.
pub(super) async fn property_create(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_property(&doc, true)?;
    let ns = st
        .namespace_for(&caller, &name, "add_metadef_property")
        .await?;
    let d = new_doc(
        doc["name"].as_str().unwrap_or_default().to_string(),
        strip_name(&doc),
    );
    st.store.doc_insert(DocKind::Property, &ns, &d).await?;
    Ok(json_response(StatusCode::CREATED, &property_view(&d)))
}

/// `GET /v2/metadefs/namespaces/{namespace}/properties/{name}`; with
/// `?resource_type=`, `name` may omit that resource type's prefix.
pub(super) async fn property_show(
    st: St,
    headers: HeaderMap,
    Path((name, prop)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st
        .namespace_for(&caller, &name, "get_metadef_property")
        .await?;
    let mut lookup = prop.clone();
    if let Some((_, rt)) = query_pairs(q.as_deref())
        .into_iter()
        .find(|(k, _)| k == "resource_type")
    {
        let assoc = st
            .store
            .associations(&ns.id)
            .await?
            .into_iter()
            .find(|a| a.name == rt)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "The metadata definition resource-type association of resource-type={rt} \
                     to namespace={name}, was not found."
                ))
            })?;
        if let Some(p) = assoc.prefix.filter(|p| !p.is_empty()) {
            match prop.strip_prefix(&p) {
                Some(rest) => lookup = rest.to_string(),
                None => {
                    return Err(Error::not_found(format!(
                        "Property {prop} does not start with the expected resource type \
                         association prefix of '{p}'."
                    ))
                    .into())
                }
            }
        }
    }
    let d = st
        .store
        .doc_get(DocKind::Property, &ns.id, &lookup)
        .await?
        .ok_or_else(|| child_not_found(DocKind::Property, &prop, &name))?;
    Ok(json_response(StatusCode::OK, &property_view(&d)))
}

/// `PUT /v2/metadefs/namespaces/{namespace}/properties/{name}`.
pub(super) async fn property_update(
    st: St,
    headers: HeaderMap,
    Path((name, prop)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_property(&doc, true)?;
    let (ns, old) = child(
        &st,
        &caller,
        &name,
        DocKind::Property,
        &prop,
        "modify_metadef_property",
    )
    .await?;
    let d = DocRecord {
        name: doc["name"].as_str().unwrap_or_default().to_string(),
        body: strip_name(&doc),
        created_at: old.created_at,
        updated_at: now_text(),
    };
    st.store
        .doc_update(DocKind::Property, &ns, &prop, &d)
        .await?;
    Ok(json_response(StatusCode::OK, &property_view(&d)))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/properties/{name}`.
pub(super) async fn property_delete(
    st: St,
    headers: HeaderMap,
    Path((name, prop)): Path<(String, String)>,
) -> ApiResult<Response> {
    delete_child(
        st,
        headers,
        name,
        DocKind::Property,
        prop,
        "remove_metadef_property",
    )
    .await
}

// ---------------------------------------------------------------------- tags

/// `GET /v2/metadefs/namespaces/{namespace}/tags`.
pub(super) async fn tag_list(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let ns = st.namespace_for(&caller, &name, "get_metadef_tags").await?;
    let tags: Vec<Value> = st
        .store
        .docs(DocKind::Tag, &ns.id)
        .await?
        .iter()
        .map(tag_view)
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "tags": tags })))
}

/// `POST /v2/metadefs/namespaces/{namespace}/tags`: replaces the tags with
/// `{"tags": [{"name"}...]}`, or adds them with `X-Openstack-Append: true`.
pub(super) async fn tags_create(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    let m = as_object("tags", &doc)?;
    check_unknown("tags", m, &["tags"])?;
    let list = match m.get("tags") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => return Err(schema_error("tags", format!("{v} is not of type 'array'")).into()),
        None => return Err(schema_error("tags", "'tags' is a required property").into()),
    };
    let mut docs: Vec<DocRecord> = Vec::with_capacity(list.len());
    for t in &list {
        validate_tag(t)?;
        let n = t["name"].as_str().unwrap_or_default().to_string();
        if docs.iter().any(|d| d.name.eq_ignore_ascii_case(&n)) {
            return Err(Error::conflict(format!(
                "A metadata tag with name={n} already exists in namespace={name}. (Please \
                 note that metadata tag names are case insensitive)."
            ))
            .into());
        }
        docs.push(new_doc(n, Value::Null));
    }
    let append = headers
        .get("x-openstack-append")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let ns = st.namespace_for(&caller, &name, "add_metadef_tags").await?;
    st.store
        .docs_replace(DocKind::Tag, &ns, &docs, append)
        .await?;
    let out: Vec<Value> = docs.iter().map(|d| json!({"name": d.name})).collect();
    Ok(json_response(StatusCode::CREATED, &json!({ "tags": out })))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/objects`: every object.
pub(super) async fn objects_delete(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    delete_all(&st, &caller, &name, DocKind::Object, None).await
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/properties`: every property
/// definition.
pub(super) async fn properties_delete(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    delete_all(&st, &caller, &name, DocKind::Property, None).await
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/tags`: every tag.
pub(super) async fn tags_delete(
    st: St,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    delete_all(
        &st,
        &caller,
        &name,
        DocKind::Tag,
        Some("delete_metadef_tags"),
    )
    .await
}

/// Deletes every child of `kind` as Glance does, through the namespace:
/// `delete_metadef_namespace` (and `rule`) must allow it, and a protected namespace
/// refuses (403).
async fn delete_all(
    st: &ImageService,
    caller: &Caller,
    name: &str,
    kind: DocKind,
    rule: Option<&str>,
) -> ApiResult<Response> {
    let ns = st
        .namespace_for(caller, name, "delete_metadef_namespace")
        .await?;
    if let Some(r) = rule {
        st.enforce(caller, r, &ns_target(&ns))?;
    }
    if ns.protected {
        return Err(Error::forbidden(format!(
            "Metadata definition namespace {name} is protected and cannot be deleted."
        ))
        .into());
    }
    st.store.docs_delete_all(kind, &ns.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v2/metadefs/namespaces/{namespace}/tags/{tag}`.
pub(super) async fn tag_create(
    st: St,
    headers: HeaderMap,
    Path((name, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    if tag.is_empty() || tag.chars().count() > 255 {
        return Err(schema_error("tag", format!("'{tag}' is not a valid tag name")).into());
    }
    let ns = st.namespace_for(&caller, &name, "add_metadef_tag").await?;
    let d = new_doc(tag, Value::Null);
    st.store.doc_insert(DocKind::Tag, &ns, &d).await?;
    Ok(json_response(StatusCode::CREATED, &tag_view(&d)))
}

/// `GET /v2/metadefs/namespaces/{namespace}/tags/{tag}`.
pub(super) async fn tag_show(
    st: St,
    headers: HeaderMap,
    Path((name, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let (_, d) = child(&st, &caller, &name, DocKind::Tag, &tag, "get_metadef_tag").await?;
    Ok(json_response(StatusCode::OK, &tag_view(&d)))
}

/// `PUT /v2/metadefs/namespaces/{namespace}/tags/{tag}`: renames the tag.
pub(super) async fn tag_update(
    st: St,
    headers: HeaderMap,
    Path((name, tag)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let doc = json_body(body).await?;
    validate_tag(&doc)?;
    let (ns, old) = child(
        &st,
        &caller,
        &name,
        DocKind::Tag,
        &tag,
        "modify_metadef_tag",
    )
    .await?;
    let d = DocRecord {
        name: doc["name"].as_str().unwrap_or_default().to_string(),
        body: Value::Null,
        created_at: old.created_at,
        updated_at: now_text(),
    };
    st.store.doc_update(DocKind::Tag, &ns, &tag, &d).await?;
    Ok(json_response(StatusCode::OK, &tag_view(&d)))
}

/// `DELETE /v2/metadefs/namespaces/{namespace}/tags/{tag}`.
pub(super) async fn tag_delete(
    st: St,
    headers: HeaderMap,
    Path((name, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    delete_child(st, headers, name, DocKind::Tag, tag, "delete_metadef_tag").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_documents_are_checked_like_the_schema() {
        assert!(validate_namespace(&json!({"namespace": "a"}), true).is_ok());
        assert!(validate_namespace(&json!({}), true).is_err());
        assert!(validate_namespace(&json!({"namespace": "a", "bogus": 1}), true).is_err());
        assert!(
            validate_namespace(&json!({"namespace": "a", "visibility": "shared"}), true).is_err()
        );
        assert!(validate_namespace(&json!({"namespace": "x".repeat(81)}), true).is_err());
        assert!(validate_namespace(
            &json!({"namespace": "a", "properties": {"p": {"title": "P"}}}),
            true
        )
        .is_err());
        assert!(
            validate_property(&json!({"name": "p", "title": "P", "type": "string"}), true).is_ok()
        );
        assert!(validate_property(&json!({"title": "P", "type": "string"}), true).is_err());
        assert!(
            validate_property(&json!({"name": "p", "title": "P", "type": "text"}), true).is_err()
        );
        assert!(validate_object(&json!({"name": "o", "required": "x"})).is_err());
        assert!(validate_tag(&json!({"name": ""})).is_err());
    }
}
