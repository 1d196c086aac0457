//! Volume types (with extra specs, project access for private types, the
//! `__DEFAULT__` type and `/types/default`), encryption types, and QoS specs (stored,
//! associated and returned, never enforced: rustack's file backend has no I/O
//! throttling).
//!
//! Encryption: providers `luks` and the legacy class names
//! (`nova.volume.encryptors.luks.LuksEncryptor`,
//! `os_brick.encryptors.luks.LuksEncryptor`) are stored as `luks`; `luks2` and
//! `plain` (and anything else) are refused with 400: QEMU's LUKS driver inside qcow2
//! implements LUKS version 1 only, and `plain` (dm-crypt without a header) has no QEMU
//! block driver. Cipher defaults to `aes-xts-plain64`, key size to 256, control
//! location to `front-end`; `back-end` is refused (there is no storage-side
//! encryption).

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::{
    accepted, begin, body_obj, ok, parse_bool, query_pairs, Caller, St, UrlProject, Version,
};
use crate::error::{bad, conflict, type_not_found, BResult, Fault};
use crate::model::{now_iso, Encryption, Meta, QosSpec, Volume, VolumeType};
use crate::ops;
use crate::store::Kind;
use crate::BlockService;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

fn view(svc: &BlockService, c: &Caller, t: &VolumeType, create: bool) -> Value {
    let mut o = json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
    });
    if svc.allowed(&c.ctx, "volume_extension:access_types_extra_specs", None) {
        o["extra_specs"] = json!(t.extra_specs);
    }
    if !create && svc.allowed(&c.ctx, "volume_extension:access_types_qos_specs_id", None) {
        o["qos_specs_id"] = json!(t.qos_specs_id);
    }
    o
}

fn visible(c: &Caller, t: &VolumeType) -> bool {
    t.is_public || c.is_admin() || t.projects.contains(&c.project)
}

async fn get_type(svc: &BlockService, c: &Caller, id: &str) -> BResult<VolumeType> {
    match svc.store.get::<VolumeType>(Kind::VolumeType, id).await? {
        Some(t) if visible(c, &t) => Ok(t),
        _ => Err(type_not_found(id)),
    }
}

/// `GET /types` (`is_public`: `true`, `false`, `None` = both, admin only).
pub async fn list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:type_get_all", None)?;
    let params = query_pairs(raw.as_deref());
    let is_public = params
        .iter()
        .find(|(k, _)| k == "is_public")
        .map(|(_, v)| v.to_ascii_lowercase());
    let all: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    let mut items: Vec<Value> = all
        .iter()
        .filter(|t| visible(&c, t))
        .filter(|t| match (is_public.as_deref(), c.is_admin()) {
            (Some("none"), true) => true,
            (Some("false"), true) => !t.is_public,
            (Some("false"), false) => !t.is_public && t.projects.contains(&c.project),
            (_, true) => t.is_public,
            (_, false) => true,
        })
        .filter(|t| {
            params.iter().all(|(k, v)| match k.as_str() {
                "extra_specs" => super::volumes::parse_meta_filter(v)
                    .map(|m| m.iter().all(|(mk, mv)| t.extra_specs.get(mk) == Some(mv)))
                    .unwrap_or(false),
                _ => true,
            })
        })
        .map(|t| view(&svc, &c, t, false))
        .collect();
    let spec = super::volumes::sort_spec(&params)?;
    if params.iter().any(|(k, _)| k == "sort" || k == "sort_key") {
        super::volumes::sort_views(&mut items, &spec);
    }
    let (page, _) = super::volumes::paginate(items, &params, &c.collection_url("types"), |m| {
        Fault::from(Error::not_found(format!("Marker {m} could not be found.")))
    })?;
    Ok(ok(json!({"volume_types": page})))
}

/// `GET /types/{id}`.
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:type_get", None)?;
    let t = get_type(&svc, &c, &id).await?;
    Ok(ok(json!({"volume_type": view(&svc, &c, &t, false)})))
}

/// `GET /types/default`.
pub async fn default_type(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:type_get", None)?;
    let t = ops::default_type(&svc, &c.project).await?;
    Ok(ok(json!({"volume_type": view(&svc, &c, &t, false)})))
}

fn parse_specs(v: Option<&Value>) -> BResult<Meta> {
    match v {
        None | Some(Value::Null) => Ok(Meta::new()),
        Some(Value::Object(m)) => {
            let mut out = Meta::new();
            for (k, val) in m {
                if k.is_empty() || k.chars().count() > 255 {
                    return Err(bad(
                        "Invalid input for field/attribute extra_specs: key length must be 1..255.",
                    ));
                }
                let s = match val {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    other => {
                        return Err(bad(format!(
                            "Invalid input for field/attribute extra_specs. Value: {other}."
                        )))
                    }
                };
                if s.chars().count() > 255 {
                    return Err(bad(
                        "Invalid input for field/attribute extra_specs: value too long.",
                    ));
                }
                out.insert(k.clone(), s);
            }
            Ok(out)
        }
        Some(_) => Err(bad(
            "Invalid input for field/attribute extra_specs: must be an object.",
        )),
    }
}

fn text_field(m: &Map<String, Value>, k: &str, max: usize) -> BResult<Option<String>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(o) => Err(bad(format!(
            "Invalid input for field/attribute {k}. Value: {o}."
        ))),
    }
}

/// `POST /types`.
pub async fn create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:type_create", None)?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("volume_type") else {
        return Err(bad(
            "Missing required element 'volume_type' in request body.",
        ));
    };
    let name = text_field(req, "name", 255)?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("Volume type name can not be empty."))?;
    let description = text_field(req, "description", 255)?;
    let is_public = match req
        .get("os-volume-type-access:is_public")
        .or(req.get("is_public"))
    {
        Some(v) => parse_bool(v, "is_public")?,
        None => true,
    };
    let extra_specs = parse_specs(req.get("extra_specs"))?;
    let _g = svc.write_lock.lock().await;
    if ops::find_type(&svc, &name).await?.is_some() {
        return Err(conflict(format!("Volume Type {name} already exists.")));
    }
    let t = VolumeType {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        description,
        is_public,
        extra_specs,
        projects: vec![],
        qos_specs_id: None,
        encryption: None,
    };
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(ok(json!({"volume_type": view(&svc, &c, &t, true)})))
}

/// `PUT /types/{id}`.
pub async fn update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:type_update", None)?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("volume_type") else {
        return Err(bad(
            "Missing required element 'volume_type' in request body.",
        ));
    };
    let name = text_field(req, "name", 255)?;
    let description = text_field(req, "description", 255)?;
    let is_public = match req.get("is_public") {
        Some(v) => Some(parse_bool(v, "is_public")?),
        None => None,
    };
    if name.is_none() && !req.contains_key("description") && is_public.is_none() {
        return Err(bad(
            "Specify volume type name, description, is_public or a combination thereof.",
        ));
    }
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    if let Some(n) = name {
        if n.trim().is_empty() {
            return Err(bad("Volume type name can not be empty."));
        }
        if t.name == ops::DEFAULT_TYPE && n != t.name {
            return Err(bad("The default volume type cannot be renamed."));
        }
        if let Some(other) = ops::find_type(&svc, &n).await? {
            if other.id != t.id {
                return Err(conflict(format!("Volume Type {n} already exists.")));
            }
        }
        t.name = n;
    }
    if req.contains_key("description") {
        t.description = description;
    }
    if let Some(pb) = is_public {
        t.is_public = pb;
    }
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    let mut out = view(&svc, &c, &t, true);
    if let Some(o) = out.as_object_mut() {
        o.remove("os-volume-type-access:is_public");
    }
    Ok(ok(json!({"volume_type": out})))
}

/// `DELETE /types/{id}`.
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:type_delete", None)?;
    let _g = svc.write_lock.lock().await;
    let t = get_type(&svc, &c, &id).await?;
    if t.name == ops::DEFAULT_TYPE {
        return Err(bad("The default volume type cannot be deleted."));
    }
    let vols: Vec<Volume> = svc.store.list(Kind::Volume, None).await?;
    if vols.iter().any(|v| v.volume_type_id == t.id) {
        return Err(bad(format!("Target volume type is still in use. Volume Type {id} deletion is not allowed with volumes present with the type.")));
    }
    svc.store.delete(Kind::VolumeType, &t.id).await?;
    Ok(accepted())
}

/// `POST /types/{id}/action` (`addProjectAccess`, `removeProjectAccess`).
pub async fn action(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    let b = body_obj(&bytes)?;
    let (name, arg) = b
        .iter()
        .next()
        .ok_or_else(|| bad("Malformed request body"))?;
    let project = arg
        .get("project")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Access list requires 'project'."))?
        .to_string();
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    match name.as_str() {
        "addProjectAccess" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_type_access:addProjectAccess",
                None,
            )?;
            if t.is_public {
                return Err(bad("Invalid volume type: Type access modification is not applicable to public volume type."));
            }
            if t.projects.contains(&project) {
                return Err(conflict(format!(
                    "Volume type access for {id} / {project} combination already exists."
                )));
            }
            t.projects.push(project);
        }
        "removeProjectAccess" => {
            svc.authorize(
                &c.ctx,
                "volume_extension:volume_type_access:removeProjectAccess",
                None,
            )?;
            if t.is_public {
                return Err(bad("Invalid volume type: Type access modification is not applicable to public volume type."));
            }
            let before = t.projects.len();
            t.projects.retain(|p| *p != project);
            if t.projects.len() == before {
                return Err(Error::not_found(format!(
                    "Volume type access not found for {id} / {project} combination."
                ))
                .into());
            }
        }
        other => return Err(bad(format!("There is no such action: {other}"))),
    }
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(accepted())
}

/// `GET /types/{id}/os-volume-type-access`.
pub async fn access_list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(
        &c.ctx,
        "volume_extension:volume_type_access:get_all_for_type",
        None,
    )?;
    let t = get_type(&svc, &c, &id).await?;
    if t.is_public {
        return Err(Error::not_found(format!(
            "Volume type access for public type {id} does not exist."
        ))
        .into());
    }
    let items: Vec<Value> = t
        .projects
        .iter()
        .map(|p| json!({"volume_type_id": t.id, "project_id": p}))
        .collect();
    Ok(ok(json!({"volume_type_access": items})))
}

// ---------------------------------------------------------------------------
// Extra specs

/// `GET /types/{id}/extra_specs`.
pub async fn specs_list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:types_extra_specs:index", None)?;
    let t = get_type(&svc, &c, &id).await?;
    Ok(ok(json!({"extra_specs": t.extra_specs})))
}

async fn type_in_use(svc: &BlockService, id: &str) -> BResult<bool> {
    let vols: Vec<Volume> = svc.store.list(Kind::Volume, None).await?;
    Ok(vols.iter().any(|v| v.volume_type_id == id))
}

/// `POST /types/{id}/extra_specs`.
pub async fn specs_create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:types_extra_specs:create", None)?;
    let b = body_obj(&bytes)?;
    let specs = match b.get("extra_specs") {
        Some(v @ Value::Object(_)) => parse_specs(Some(v))?,
        _ => {
            return Err(bad(
                "Malformed request body: extra_specs must be an object.",
            ))
        }
    };
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    if type_in_use(&svc, &id).await?
        && specs
            .keys()
            .any(|k| k == "volume_backend_name" || k == "multiattach")
    {
        return Err(bad("Volume Type is currently in use."));
    }
    t.extra_specs.extend(specs.clone());
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(ok(json!({"extra_specs": specs})))
}

/// `GET /types/{id}/extra_specs/{key}`.
pub async fn spec_show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:types_extra_specs:show", None)?;
    let t = get_type(&svc, &c, &id).await?;
    let val = t.extra_specs.get(&key).ok_or_else(|| {
        Fault::from(Error::not_found(format!(
            "Volume Type {id} has no extra specs with key {key}."
        )))
    })?;
    Ok(ok(json!({ key: val })))
}

/// `PUT /types/{id}/extra_specs/{key}`.
pub async fn spec_update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:types_extra_specs:update", None)?;
    let b = body_obj(&bytes)?;
    let specs = parse_specs(Some(&Value::Object(b)))?;
    if specs.len() != 1 {
        return Err(bad("Request body contains too many items."));
    }
    if !specs.contains_key(&key) {
        return Err(bad("Request body and URI mismatch"));
    }
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    t.extra_specs.extend(specs.clone());
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(ok(json!(specs)))
}

/// `DELETE /types/{id}/extra_specs/{key}`.
pub async fn spec_delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:types_extra_specs:delete", None)?;
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    if t.extra_specs.remove(&key).is_none() {
        return Err(Error::not_found(format!(
            "Volume Type {id} has no extra specs with key {key}."
        ))
        .into());
    }
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(accepted())
}

// ---------------------------------------------------------------------------
// Encryption types

fn encryption_view(t: &VolumeType, e: &Encryption) -> Value {
    json!({
        "volume_type_id": t.id,
        "encryption_id": e.encryption_id,
        "key_size": e.key_size,
        "provider": e.provider,
        "control_location": e.control_location,
        "cipher": e.cipher,
        "deleted": false,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
        "deleted_at": null,
    })
}

/// Normalises an encryption provider; 400 for what rustack cannot open.
pub(crate) fn normalize_provider(p: &str) -> BResult<String> {
    match p {
        "luks" | "LuksEncryptor" | "nova.volume.encryptors.luks.LuksEncryptor"
        | "os_brick.encryptors.luks.LuksEncryptor" => Ok("luks".into()),
        "luks2" | "Luks2Encryptor" | "os_brick.encryptors.luks.Luks2Encryptor" => Err(bad(
            "Invalid input received: encryption provider 'luks2' is not supported: volumes are LUKS (version 1) inside qcow2, which QEMU opens itself; use provider 'luks'.",
        )),
        "plain" | "CryptsetupEncryptor" | "nova.volume.encryptors.cryptsetup.CryptsetupEncryptor"
        | "os_brick.encryptors.cryptsetup.CryptsetupEncryptor" => Err(bad(
            "Invalid input received: encryption provider 'plain' (dm-crypt without a header) is not supported; use provider 'luks'.",
        )),
        other => Err(bad(format!(
            "Invalid input received: unknown encryption provider '{other}'; use 'luks'."
        ))),
    }
}

/// The LUKS2 and plain (cryptsetup) providers, refused on the type itself.
fn is_refused_format(p: &str) -> bool {
    matches!(
        p,
        "luks2"
            | "Luks2Encryptor"
            | "os_brick.encryptors.luks.Luks2Encryptor"
            | "plain"
            | "CryptsetupEncryptor"
            | "nova.volume.encryptors.cryptsetup.CryptsetupEncryptor"
            | "os_brick.encryptors.cryptsetup.CryptsetupEncryptor"
    )
}

fn parse_encryption(
    req: &Map<String, Value>,
    existing: Option<&Encryption>,
) -> BResult<Encryption> {
    let provider =
        match req.get("provider") {
            // Stored as given (Tempest reads back `LuksEncryptor`); the volume-level
            // encryption metadata Nova reads shows the normalized `luks`.
            // luks2 and plain are refused at once; another unknown provider is
            // stored (as Cinder does) and refused when a volume of the type is
            // created.
            Some(Value::String(p)) => match normalize_provider(p) {
                Ok(_) => p.clone(),
                Err(e) if is_refused_format(p) => return Err(e),
                Err(_) => p.clone(),
            },
            Some(_) => return Err(bad("Invalid input for field/attribute provider.")),
            None => match existing {
                Some(e) => e.provider.clone(),
                None => return Err(bad(
                    "Invalid input for field/attribute provider. 'provider' is a required property",
                )),
            },
        };
    let cipher = match req.get("cipher") {
        Some(Value::String(c)) => {
            if !c.starts_with("aes-") {
                return Err(bad(format!(
                    "Invalid input received: cipher '{c}' is not supported; use aes-xts-plain64."
                )));
            }
            Some(c.clone())
        }
        Some(Value::Null) => Some("aes-xts-plain64".into()),
        Some(_) => return Err(bad("Invalid input for field/attribute cipher.")),
        None => existing
            .and_then(|e| e.cipher.clone())
            .or(Some("aes-xts-plain64".into())),
    };
    let key_size = match req.get("key_size") {
        Some(Value::Number(n)) => {
            let k = n
                .as_u64()
                .ok_or_else(|| bad("Invalid input for field/attribute key_size."))?;
            if ![128, 256, 512].contains(&k) {
                return Err(bad(format!(
                    "Invalid input received: key_size {k} must be 128, 256 or 512."
                )));
            }
            Some(u32::try_from(k).unwrap_or(256))
        }
        Some(Value::Null) => Some(256),
        Some(_) => return Err(bad("Invalid input for field/attribute key_size.")),
        None => existing.and_then(|e| e.key_size).or(Some(256)),
    };
    let control_location = match req.get("control_location") {
        Some(Value::String(s)) if s == "front-end" => s.clone(),
        // Stored as Cinder does; creating a volume of such a type is refused (there
        // is no storage-side encryption).
        Some(Value::String(s)) if s == "back-end" => s.clone(),
        Some(_) => {
            return Err(bad(
                "Invalid input received: Valid control location are: ['front-end', 'back-end']",
            ))
        }
        None => existing
            .map(|e| e.control_location.clone())
            .unwrap_or_else(|| "front-end".into()),
    };
    Ok(Encryption {
        encryption_id: existing
            .map(|e| e.encryption_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        provider,
        cipher,
        key_size,
        control_location,
        created_at: existing
            .map(|e| e.created_at.clone())
            .unwrap_or_else(now_iso),
        updated_at: existing.map(|_| now_iso()),
    })
}

/// `GET /types/{id}/encryption` (`{}` when the type is not encrypted).
pub async fn encryption_show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:volume_type_encryption:get", None)?;
    let t = get_type(&svc, &c, &id).await?;
    Ok(ok(match &t.encryption {
        Some(e) => encryption_view(&t, e),
        None => json!({}),
    }))
}

/// `GET /types/{id}/encryption/{key}` (one field, `{key: value}`).
pub async fn encryption_show_key(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, key)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:volume_type_encryption:get", None)?;
    let t = get_type(&svc, &c, &id).await?;
    let e = t.encryption.as_ref().ok_or_else(|| {
        Fault::from(Error::not_found(format!(
            "Volume type encryption for type {id} does not exist."
        )))
    })?;
    let v = encryption_view(&t, e);
    let val = v.get(&key).cloned().ok_or_else(|| {
        Fault::from(Error::not_found(format!(
            "Encryption spec {key} not found."
        )))
    })?;
    Ok(ok(json!({ key: val })))
}

/// `POST /types/{id}/encryption`.
pub async fn encryption_create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(
        &c.ctx,
        "volume_extension:volume_type_encryption:create",
        None,
    )?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("encryption") else {
        return Err(bad(
            "Missing required element 'encryption' in request body.",
        ));
    };
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    if t.encryption.is_some() {
        return Err(bad(format!(
            "Volume type encryption for type {id} already exists."
        )));
    }
    if type_in_use(&svc, &id).await? {
        return Err(bad("Cannot create encryption specs. Volume type in use."));
    }
    let e = parse_encryption(req, None)?;
    t.encryption = Some(e.clone());
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    let mut out = encryption_view(&t, &e);
    if let Some(o) = out.as_object_mut() {
        for k in ["deleted", "created_at", "updated_at", "deleted_at"] {
            o.remove(k);
        }
    }
    Ok(ok(json!({"encryption": out})))
}

/// `PUT /types/{id}/encryption/{encryption_id}`.
pub async fn encryption_update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, _eid)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(
        &c.ctx,
        "volume_extension:volume_type_encryption:update",
        None,
    )?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("encryption") else {
        return Err(bad(
            "Missing required element 'encryption' in request body.",
        ));
    };
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    let existing = t.encryption.clone().ok_or_else(|| {
        Fault::from(Error::not_found(format!(
            "Volume type encryption for type {id} does not exist."
        )))
    })?;
    if type_in_use(&svc, &id).await? {
        return Err(bad("Cannot update encryption specs. Volume type in use."));
    }
    let e = parse_encryption(req, Some(&existing))?;
    t.encryption = Some(e.clone());
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    let mut out = Map::new();
    for k in ["key_size", "provider", "control_location", "cipher"] {
        if req.contains_key(k) {
            let full = encryption_view(&t, &e);
            out.insert(k.into(), full[k].clone());
        }
    }
    Ok(ok(json!({"encryption": out})))
}

/// `DELETE /types/{id}/encryption/{encryption_id}`.
pub async fn encryption_delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path((id, _eid)): Path<(String, String)>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(
        &c.ctx,
        "volume_extension:volume_type_encryption:delete",
        None,
    )?;
    let _g = svc.write_lock.lock().await;
    let mut t = get_type(&svc, &c, &id).await?;
    if t.encryption.is_none() {
        return Err(Error::not_found(format!(
            "Volume type encryption for type {id} does not exist."
        ))
        .into());
    }
    if type_in_use(&svc, &id).await? {
        return Err(bad("Cannot delete encryption specs. Volume type in use."));
    }
    t.encryption = None;
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(accepted())
}

// ---------------------------------------------------------------------------
// QoS specs (stored and returned, not enforced)

fn qos_view(q: &QosSpec) -> Value {
    json!({"id": q.id, "name": q.name, "consumer": q.consumer, "specs": q.specs})
}

async fn get_qos(svc: &BlockService, id: &str) -> BResult<QosSpec> {
    svc.store
        .get(Kind::Qos, id)
        .await?
        .ok_or_else(|| Error::not_found(format!("QoS spec {id} could not be found.")).into())
}

/// `GET /qos-specs`.
pub async fn qos_list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:get_all", None)?;
    let all: Vec<QosSpec> = svc.store.list(Kind::Qos, None).await?;
    Ok(ok(
        json!({"qos_specs": all.iter().map(qos_view).collect::<Vec<_>>()}),
    ))
}

/// `POST /qos-specs`.
pub async fn qos_create(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:create", None)?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("qos_specs") else {
        return Err(bad("Missing required element 'qos_specs' in request body."));
    };
    let mut specs = parse_specs(Some(&Value::Object(req.clone())))?;
    let name = specs
        .remove("name")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("Please specify a name for QoS specs."))?;
    let consumer = specs
        .remove("consumer")
        .unwrap_or_else(|| "back-end".into());
    if !["front-end", "back-end", "both"].contains(&consumer.as_str()) {
        return Err(bad(format!(
            "Invalid QoS consumer {consumer}: valid are front-end, back-end, both."
        )));
    }
    let _g = svc.write_lock.lock().await;
    let all: Vec<QosSpec> = svc.store.list(Kind::Qos, None).await?;
    if all.iter().any(|q| q.name == name) {
        return Err(conflict(format!("QoS Specs {name} already exists.")));
    }
    let q = QosSpec {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        consumer,
        specs,
    };
    svc.store.put(Kind::Qos, &q.id, "", &q).await?;
    let links = c.links("qos-specs", &q.id);
    Ok(ok(json!({"qos_specs": qos_view(&q), "links": links})))
}

/// `GET /qos-specs/{id}`.
pub async fn qos_show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:get", None)?;
    let q = get_qos(&svc, &id).await?;
    Ok(ok(
        json!({"qos_specs": qos_view(&q), "links": c.links("qos-specs", &q.id)}),
    ))
}

/// `PUT /qos-specs/{id}` (set keys).
pub async fn qos_update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:update", None)?;
    let b = body_obj(&bytes)?;
    let specs =
        parse_specs(Some(b.get("qos_specs").ok_or_else(|| {
            bad("Missing required element 'qos_specs' in request body.")
        })?))?;
    let _g = svc.write_lock.lock().await;
    let mut q = get_qos(&svc, &id).await?;
    for (k, v) in &specs {
        if k == "consumer" {
            q.consumer = v.clone();
        } else {
            q.specs.insert(k.clone(), v.clone());
        }
    }
    svc.store.put(Kind::Qos, &q.id, "", &q).await?;
    Ok(ok(json!({"qos_specs": specs})))
}

async fn qos_users(svc: &BlockService, id: &str) -> BResult<Vec<VolumeType>> {
    let all: Vec<VolumeType> = svc.store.list(Kind::VolumeType, None).await?;
    Ok(all
        .into_iter()
        .filter(|t| t.qos_specs_id.as_deref() == Some(id))
        .collect())
}

/// `DELETE /qos-specs/{id}` (`force`).
pub async fn qos_delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:delete", None)?;
    let force = query_pairs(raw.as_deref())
        .iter()
        .any(|(k, v)| k == "force" && (v == "True" || v == "true" || v == "1"));
    let _g = svc.write_lock.lock().await;
    get_qos(&svc, &id).await?;
    let users = qos_users(&svc, &id).await?;
    if !users.is_empty() && !force {
        return Err(bad(format!(
            "QoS Specs {id} is still associated with entities."
        )));
    }
    for mut t in users {
        t.qos_specs_id = None;
        svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    }
    svc.store.delete(Kind::Qos, &id).await?;
    Ok(accepted())
}

/// `GET /qos-specs/{id}/associations`.
pub async fn qos_associations(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:get", None)?;
    get_qos(&svc, &id).await?;
    let items: Vec<Value> = qos_users(&svc, &id)
        .await?
        .iter()
        .map(|t| json!({"association_type": "volume_type", "name": t.name, "id": t.id}))
        .collect();
    Ok(ok(json!({"qos_associations": items})))
}

async fn qos_assoc(
    svc: &BlockService,
    c: &Caller,
    id: &str,
    raw: Option<&str>,
    set: bool,
) -> BResult<Response> {
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:update", None)?;
    let tid = query_pairs(raw)
        .into_iter()
        .find(|(k, _)| k == "vol_type_id")
        .map(|(_, v)| v)
        .ok_or_else(|| bad("Volume Type id must not be None."))?;
    let _g = svc.write_lock.lock().await;
    get_qos(svc, id).await?;
    let mut t = get_type(svc, c, &tid).await?;
    if set {
        if let Some(other) = &t.qos_specs_id {
            if other != id {
                return Err(bad(format!(
                    "Type {tid} is already associated with another qos specs: {other}"
                )));
            }
        }
        t.qos_specs_id = Some(id.to_string());
    } else {
        t.qos_specs_id = None;
    }
    svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    Ok(accepted())
}

/// `GET /qos-specs/{id}/associate?vol_type_id=`.
pub async fn qos_associate(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    qos_assoc(&svc, &c, &id, raw.as_deref(), true).await
}

/// `GET /qos-specs/{id}/disassociate?vol_type_id=`.
pub async fn qos_disassociate(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    qos_assoc(&svc, &c, &id, raw.as_deref(), false).await
}

/// `GET /qos-specs/{id}/disassociate_all`.
pub async fn qos_disassociate_all(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:update", None)?;
    let _g = svc.write_lock.lock().await;
    get_qos(&svc, &id).await?;
    for mut t in qos_users(&svc, &id).await? {
        t.qos_specs_id = None;
        svc.store.put(Kind::VolumeType, &t.id, "", &t).await?;
    }
    Ok(accepted())
}

/// `PUT /qos-specs/{id}/delete_keys`.
pub async fn qos_delete_keys(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(id): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:qos_specs_manage:update", None)?;
    let b = body_obj(&bytes)?;
    let keys: Vec<String> = b
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Missing required element 'keys' in request body."))?
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let _g = svc.write_lock.lock().await;
    let mut q = get_qos(&svc, &id).await?;
    for k in &keys {
        if q.specs.remove(k).is_none() {
            return Err(Error::not_found(format!("QoS spec {id} has no key {k}.")).into());
        }
    }
    svc.store.put(Kind::Qos, &q.id, "", &q).await?;
    Ok(axum::http::StatusCode::ACCEPTED.into_response())
}

// ---------------------------------------------------------------------------
// Default types per project (3.62)

fn require_62(c: &Caller) -> BResult<()> {
    if c.version.at_least(62) {
        Ok(())
    } else {
        Err(Error::not_found("The resource could not be found.").into())
    }
}

/// `PUT /default-types/{project}`.
pub async fn default_set(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_62(&c)?;
    svc.authorize(
        &c.ctx,
        "volume_extension:default_set_or_update",
        Some(&project),
    )?;
    let b = body_obj(&bytes)?;
    let name = b
        .get("default_type")
        .and_then(|d| d.get("volume_type"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            bad("Missing required element 'default_type' with 'volume_type' in request body.")
        })?;
    let t = ops::find_type(&svc, name)
        .await?
        .ok_or_else(|| type_not_found(name))?;
    let doc = json!({"project_id": project, "volume_type_id": t.id});
    svc.store
        .put(Kind::DefaultType, &project, &project, &doc)
        .await?;
    Ok(ok(json!({"default_type": doc})))
}

/// `GET /default-types/{project}`.
pub async fn default_get(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_62(&c)?;
    svc.authorize(&c.ctx, "volume_extension:default_get", Some(&project))?;
    let d: Value = svc
        .store
        .get(Kind::DefaultType, &project)
        .await?
        .ok_or_else(|| {
            Fault::from(Error::not_found(format!(
                "Default type for project {project} not found."
            )))
        })?;
    Ok(ok(json!({"default_type": d})))
}

/// `GET /default-types`.
pub async fn default_list(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_62(&c)?;
    svc.authorize(&c.ctx, "volume_extension:default_get_all", None)?;
    let all: Vec<Value> = svc.store.list(Kind::DefaultType, None).await?;
    Ok(ok(json!({"default_types": all})))
}

/// `DELETE /default-types/{project}`.
pub async fn default_unset(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    require_62(&c)?;
    svc.authorize(&c.ctx, "volume_extension:default_unset", Some(&project))?;
    svc.store.delete(Kind::DefaultType, &project).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}
