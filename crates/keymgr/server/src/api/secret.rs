//! Secrets: create (one step with a payload, or two steps with `PUT`), list with
//! Barbican's filters and paging, show (metadata, or the payload for a non-JSON
//! `Accept`, deprecated upstream), payload, delete (1.2 refuses a consumed secret
//! without `?force=true`), secret consumers (1.1) and user metadata.
//!
//! Payloads are normalised as Barbican does (`text/plain` stored as UTF-8,
//! `application/octet-stream` and `application/pkcs8` given base64-encoded) and
//! encrypted with the project's KEK before they reach the store. Handlers never log
//! payloads.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine as _;
use rustack_api_common::AuthContext;
use serde_json::{json, Map, Value};

use super::{
    expired, fmt_time, json_body, opt_str, page, page_of, paging, param, parse_time, query_pairs,
    reply, show_time, St, Version,
};
use crate::error::{KmError, KmResult};
use crate::store::{now, ConsumerRow, SecretRow};
use crate::KeyManagerService;

const PLAIN: &[&str] = &[
    "text/plain",
    "text/plain;charset=utf-8",
    "text/plain; charset=utf-8",
];
const BINARY: &[&str] = &["application/octet-stream", "application/pkcs8"];

/// Barbican's `normalize_content_type`: the internal type, or None if unsupported.
pub(crate) fn normalize_content_type(ct: &str) -> Option<&'static str> {
    let parts: Vec<String> = ct
        .split(';')
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    let mime = parts.first().map(String::as_str).unwrap_or("");
    if let Some(cs) = parts.get(1) {
        let charset = cs.split_once('=').map(|(_, v)| v.trim());
        if charset != Some("utf-8") {
            return None;
        }
        return (mime == "text/plain").then_some("text/plain");
    }
    match mime {
        "text/plain" => Some("text/plain"),
        "application/octet-stream" => Some("application/octet-stream"),
        "application/pkcs8" => Some("application/pkcs8"),
        _ => None,
    }
}

fn supported_list() -> String {
    let all: Vec<String> = PLAIN
        .iter()
        .chain(BINARY)
        .map(|s| format!("'{s}'"))
        .collect();
    format!("[{}]", all.join(", "))
}

/// A secret as Barbican shows it (consumers only from 1.1).
pub(crate) fn view(base: &str, s: &SecretRow, consumers: Option<&[ConsumerRow]>) -> Value {
    let mut v = json!({
        "status": s.status,
        "created": show_time(&s.created_at),
        "updated": show_time(&s.updated_at),
        "expiration": s.expiration.as_deref().map(show_time),
        "algorithm": s.algorithm,
        "bit_length": s.bit_length,
        "mode": s.mode,
        "name": s.name,
        "secret_ref": format!("{base}/v1/secrets/{}", s.id),
        "secret_type": s.secret_type,
        "creator_id": s.creator_id,
    });
    if let Some(ct) = &s.content_type {
        v["content_types"] = json!({"default": ct});
    }
    if let Some(cs) = consumers {
        v["consumers"] = Value::Array(cs.iter().map(consumer_view).collect());
    }
    v
}

fn consumer_view(c: &ConsumerRow) -> Value {
    json!({"service": c.service, "resource_type": c.resource_type, "resource_id": c.resource_id})
}

async fn consumers_of(svc: &KeyManagerService, id: &str, op: &str) -> KmResult<Vec<ConsumerRow>> {
    svc.store
        .consumers(id)
        .await
        .map_err(|e| KmError::internal(op, e))
}

async fn shown(
    svc: &KeyManagerService,
    base: &str,
    s: &SecretRow,
    v: Version,
    op: &str,
) -> KmResult<Value> {
    if v.at_least(1) {
        let cs = consumers_of(svc, &s.id, op).await?;
        Ok(view(base, s, Some(&cs)))
    } else {
        Ok(view(base, s, None))
    }
}

/// The validated fields of a secret to create.
pub(crate) struct NewSecretFields {
    pub name: Option<String>,
    pub algorithm: Option<String>,
    pub bit_length: Option<i64>,
    pub mode: Option<String>,
    pub expiration: Option<String>,
    pub secret_type: String,
    /// `(normalised content type, raw payload bytes)`.
    pub payload: Option<(String, Vec<u8>)>,
}

/// Barbican's `NewSecretValidator` plus payload normalisation, for a secret
/// (`nested = false`) or an order's `meta` (`nested`: schema `Secret' within 'Order`).
pub(crate) fn validate_new(
    m: &Map<String, Value>,
    op: &str,
    nested: bool,
) -> KmResult<NewSecretFields> {
    let schema = if nested {
        "Secret' within 'Order"
    } else {
        "Secret"
    };
    let inv = |reason: &str, prop: &str| KmError::invalid(op, schema, reason, prop);
    let name = opt_str(m, "name", op, schema, 255)?
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let algorithm = opt_str(m, "algorithm", op, schema, 255)?;
    let mode = opt_str(m, "mode", op, schema, 255)?;
    let bit_length = match m.get("bit_length") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() => {
            let b = n.as_i64().unwrap_or(0);
            if b < 1 {
                return Err(inv(
                    &format!("{b} is less than the minimum of 1"),
                    "bit_length",
                ));
            }
            if b > 32767 {
                return Err(inv(
                    &format!("{b} is greater than the maximum of 32767"),
                    "bit_length",
                ));
            }
            Some(b)
        }
        Some(v) => return Err(inv(&format!("{v} is not of type 'integer'"), "bit_length")),
    };
    let secret_type = match opt_str(m, "secret_type", op, schema, 80)? {
        None => "opaque".to_owned(),
        Some(t) if rustack_keymgr_api::SECRET_TYPES.contains(&t.as_str()) => t,
        Some(t) => {
            let all: Vec<String> = rustack_keymgr_api::SECRET_TYPES
                .iter()
                .map(|s| format!("'{s}'"))
                .collect();
            return Err(inv(
                &format!("'{t}' is not one of [{}]", all.join(", ")),
                "secret_type",
            ));
        }
    };
    let expiration = match opt_str(m, "expiration", op, schema, 255)? {
        Some(e) if !e.trim().is_empty() => {
            let t =
                parse_time(&e).ok_or_else(|| inv("Invalid date for 'expiration'", "expiration"))?;
            if t <= chrono::Utc::now().naive_utc() {
                return Err(inv("'expiration' is before current time", "expiration"));
            }
            Some(fmt_time(t))
        }
        _ => None,
    };
    let content_type = opt_str(m, "payload_content_type", op, schema, 255)?;
    let encoding = match opt_str(m, "payload_content_encoding", op, schema, 255)? {
        Some(e) if e != "base64" => {
            return Err(inv(
                &format!("'{e}' is not one of ['base64']"),
                "payload_content_encoding",
            ))
        }
        e => e,
    };
    let payload = match m.get("payload") {
        None => {
            if m.contains_key("payload_content_type") {
                if !nested {
                    return Err(inv(
                        "payload must be provided when payload_content_type is specified",
                        "payload",
                    ));
                }
                if content_type
                    .as_deref()
                    .is_some_and(|ct| normalize_content_type(ct).is_none())
                {
                    return Err(inv(
                        &format!("payload_content_type is not one of {}", supported_list()),
                        "payload_content_type",
                    ));
                }
            }
            None
        }
        Some(Value::String(p)) => {
            let Some(ct) = content_type.as_deref() else {
                return Err(inv(
                    "If 'payload' is supplied, 'payload_content_type' must also be supplied.",
                    "payload_content_type",
                ));
            };
            let Some(norm) = normalize_content_type(ct) else {
                return Err(inv(
                    &format!("payload_content_type is not one of {}", supported_list()),
                    "payload_content_type",
                ));
            };
            let binary = norm != "text/plain";
            match (binary, encoding.as_deref()) {
                (true, Some("base64")) | (false, None) => {}
                (true, _) => {
                    return Err(inv(
                        "payload_content_encoding is not one of ['base64', 'binary']",
                        "payload_content_encoding",
                    ))
                }
                (false, _) => {
                    return Err(inv(
                        "payload_content_encoding is not one of None",
                        "payload_content_encoding",
                    ))
                }
            }
            let p = p.trim();
            if p.is_empty() {
                return Err(inv("If 'payload' specified, must be non empty", "payload"));
            }
            if p.len() > 20_000 {
                return Err(KmError::issue(
                    413,
                    op,
                    "Provided information too large to process",
                ));
            }
            let bytes = if binary {
                base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .map_err(|_| inv("Invalid payload for payload_content_encoding", "payload"))?
            } else {
                p.as_bytes().to_vec()
            };
            Some((norm.to_owned(), bytes))
        }
        Some(v) => return Err(inv(&format!("{v} is not of type 'string'"), "payload")),
    };
    Ok(NewSecretFields {
        name,
        algorithm,
        bit_length,
        mode,
        expiration,
        secret_type,
        payload,
    })
}

impl KeyManagerService {
    /// Creates a secret in `project` for `creator` (payload encrypted with the
    /// project's KEK); its id. Quota is the caller's to check.
    pub(crate) async fn secret_store(
        &self,
        project: &str,
        creator: &str,
        f: NewSecretFields,
        op: &str,
    ) -> KmResult<SecretRow> {
        let at = now();
        let row = SecretRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.to_owned(),
            creator_id: creator.to_owned(),
            name: f.name,
            secret_type: f.secret_type,
            algorithm: f.algorithm,
            bit_length: f.bit_length,
            mode: f.mode,
            expiration: f.expiration,
            content_type: f.payload.as_ref().map(|(ct, _)| ct.clone()),
            status: "ACTIVE".into(),
            created_at: at.clone(),
            updated_at: at,
        };
        let cypher = match &f.payload {
            Some((ct, bytes)) => Some((ct.clone(), self.encrypt_for(project, bytes, op).await?)),
            None => None,
        };
        self.store
            .secret_insert(&row, cypher.as_ref().map(|(a, b)| (a.as_str(), b.as_str())))
            .await
            .map_err(|e| KmError::internal(op, e))?;
        Ok(row)
    }

    async fn encrypt_for(&self, project: &str, bytes: &[u8], op: &str) -> KmResult<String> {
        let meta = self
            .store
            .project_kek(project, || self.crypto.new_project_kek())
            .await
            .map_err(|e| KmError::internal(op, e))?;
        self.crypto
            .encrypt(&meta, bytes)
            .map_err(|e| KmError::internal(op, e))
    }

    async fn decrypt_of(&self, s: &SecretRow, op: &str) -> KmResult<Option<Vec<u8>>> {
        let Some((_, cypher)) = self
            .store
            .encrypted_data(&s.id)
            .await
            .map_err(|e| KmError::internal(op, e))?
        else {
            return Ok(None);
        };
        let meta = self
            .store
            .project_kek(&s.project_id, || self.crypto.new_project_kek())
            .await
            .map_err(|e| KmError::internal(op, e))?;
        self.crypto
            .decrypt(&meta, &cypher)
            .map(Some)
            .map_err(|e| KmError::internal(op, e))
    }
}

/// `POST /v1/secrets`.
pub(super) async fn create(State(svc): St, headers: HeaderMap, body: Bytes) -> KmResult<Response> {
    const OP: &str = "Secret creation";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "secrets:post", OP, json!({}))?;
    let m = json_body(&headers, &body)?;
    let fields = validate_new(&m, OP, false)?;
    let project = project_of(&ctx, OP)?;
    let count = svc
        .store
        .secret_count(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    svc.check_quota(&project, 0, count, OP).await?;
    let row = svc.secret_store(&project, &ctx.user_id, fields, OP).await?;
    let url = format!("{}/v1/secrets/{}", svc.base_url(&headers), row.id);
    let mut resp = reply(StatusCode::CREATED, json!({"secret_ref": url}));
    if let Ok(h) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

/// The caller's project (Barbican needs a project-scoped token).
pub(crate) fn project_of(ctx: &AuthContext, op: &str) -> KmResult<String> {
    ctx.project_id.clone().ok_or_else(|| KmError::policy(op))
}

fn valid_date_filter(f: &str) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    for part in f.split(',') {
        let (op, t) = ["gte:", "gt:", "lte:", "lt:"]
            .iter()
            .find_map(|p| {
                part.strip_prefix(p)
                    .map(|rest| (p.trim_end_matches(':'), rest))
            })
            .unwrap_or(("eq", part));
        if parse_time(t).is_none() {
            return false;
        }
        let clash = match op {
            "gt" | "gte" => seen
                .iter()
                .any(|s| matches!(*s, "gt" | "gte" | "eq") && !(op == "gt" && *s == "eq")),
            "lt" | "lte" => seen
                .iter()
                .any(|s| matches!(*s, "lt" | "lte" | "eq") && !(op == "lt" && *s == "eq")),
            _ => seen.iter().any(|s| matches!(*s, "eq" | "gte" | "lte")),
        };
        if clash {
            return false;
        }
        seen.push(op);
    }
    true
}

fn date_matches(f: &str, value: Option<&str>) -> bool {
    let Some(v) = value.and_then(parse_time) else {
        return false;
    };
    f.split(',').all(|part| {
        let (op, t) = ["gte:", "gt:", "lte:", "lt:"]
            .iter()
            .find_map(|p| {
                part.strip_prefix(p)
                    .map(|rest| (p.trim_end_matches(':'), rest))
            })
            .unwrap_or(("eq", part));
        let Some(t) = parse_time(t) else { return false };
        match op {
            "gt" => v > t,
            "gte" => v >= t,
            "lt" => v < t,
            "lte" => v <= t,
            _ => v == t,
        }
    })
}

const SORT_KEYS: &[&str] = &[
    "algorithm",
    "bit_length",
    "created",
    "expiration",
    "mode",
    "name",
    "secret_type",
    "status",
    "updated",
];

fn parse_sort(s: &str) -> Option<Vec<(String, bool)>> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for part in s.split(',') {
        let (k, d) = match part.split(':').collect::<Vec<_>>().as_slice() {
            [k] => (*k, "asc"),
            [k, d] => (*k, *d),
            _ => return None,
        };
        if !SORT_KEYS.contains(&k)
            || !matches!(d, "asc" | "desc")
            || out.iter().any(|(o, _)| o == k)
        {
            return None;
        }
        out.push((k.to_owned(), d == "desc"));
    }
    Some(out)
}

fn sort_value(s: &SecretRow, key: &str) -> (Option<String>, Option<i64>) {
    match key {
        "algorithm" => (s.algorithm.clone(), None),
        "bit_length" => (None, s.bit_length),
        "created" => (Some(s.created_at.clone()), None),
        "expiration" => (s.expiration.clone(), None),
        "mode" => (s.mode.clone(), None),
        "name" => (s.name.clone(), None),
        "secret_type" => (Some(s.secret_type.clone()), None),
        "status" => (Some(s.status.clone()), None),
        _ => (Some(s.updated_at.clone()), None),
    }
}

/// `GET /v1/secrets`.
pub(super) async fn list(
    State(svc): St,
    Extension(v): Extension<Version>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Secret(s) retrieval";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "secrets:get", OP, json!({}))?;
    let params = query_pairs(q.as_deref());
    let bad = || KmError::issue(400, OP, "URI provided invalid query string parameters");
    for key in ["created", "updated", "expiration"] {
        if let Some(f) = param(&params, key).filter(|f| !f.is_empty()) {
            if !valid_date_filter(f) {
                return Err(bad());
            }
        }
    }
    let sort = match param(&params, "sort").filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_sort(s).ok_or_else(bad)?),
        None => None,
    };
    let acl_only = param(&params, "acl_only").is_some_and(|a| a.eq_ignore_ascii_case("true"));
    let mut rows = if acl_only {
        svc.store.secret_list_acl(&ctx.user_id).await
    } else {
        let project = project_of(&ctx, OP)?;
        svc.store.secret_list(&project).await
    }
    .map_err(|e| KmError::internal(OP, e))?;
    let name = param(&params, "name").filter(|n| !n.is_empty());
    let alg = param(&params, "alg").filter(|n| !n.is_empty());
    let mode = param(&params, "mode").filter(|n| !n.is_empty());
    let bits = param(&params, "bits")
        .and_then(|b| b.parse::<i64>().ok())
        .unwrap_or(0);
    let stype = param(&params, "secret_type").filter(|n| !n.is_empty());
    rows.retain(|s| {
        !expired(s.expiration.as_deref())
            && name.is_none_or(|n| s.name.as_deref() == Some(n))
            && alg.is_none_or(|a| s.algorithm.as_deref() == Some(a))
            && mode.is_none_or(|m| s.mode.as_deref() == Some(m))
            && (bits == 0 || s.bit_length == Some(bits))
            && stype.is_none_or(|t| s.secret_type == t)
            && param(&params, "created")
                .filter(|f| !f.is_empty())
                .is_none_or(|f| date_matches(f, Some(&s.created_at)))
            && param(&params, "updated")
                .filter(|f| !f.is_empty())
                .is_none_or(|f| date_matches(f, Some(&s.updated_at)))
            && param(&params, "expiration")
                .filter(|f| !f.is_empty())
                .is_none_or(|f| date_matches(f, s.expiration.as_deref()))
    });
    if let Some(keys) = sort {
        rows.sort_by(|a, b| {
            for (k, desc) in &keys {
                let o = sort_value(a, k).cmp(&sort_value(b, k));
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let base = svc.base_url(&headers);
    let (offset, limit) = paging(&params);
    // Consumers are only loaded for the page shown.
    let mut items = Vec::new();
    for s in rows.iter().skip(offset).take(limit) {
        items.push(shown(&svc, &base, s, v, OP).await?);
    }
    Ok(reply(
        StatusCode::OK,
        page_of(
            &base,
            "secrets",
            "secrets",
            rows.len(),
            items,
            offset,
            limit,
            &params,
        ),
    ))
}

/// True for a JSON (or absent) `Accept`, Barbican's `is_json_request_accept`.
fn wants_json(headers: &HeaderMap) -> bool {
    match headers.get("accept").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(a) => {
            let a = a.trim();
            a.is_empty() || a == "application/json" || a == "*/*"
        }
    }
}

/// `GET /v1/secrets/{id}`: metadata, or the payload for a non-JSON `Accept`.
pub(super) async fn show(
    State(svc): St,
    Extension(v): Extension<Version>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    let ctx = svc.authenticate(&headers).await?;
    if !wants_json(&headers) {
        return payload_response(&svc, &ctx, &id, &headers, "Secret retrieval").await;
    }
    const OP: &str = "Secret retrieval";
    let s = svc.secret_for(&ctx, &id, "secret:get", OP).await?;
    let base = svc.base_url(&headers);
    Ok(reply(StatusCode::OK, shown(&svc, &base, &s, v, OP).await?))
}

/// `GET /v1/secrets/{id}/payload`.
pub(super) async fn payload(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    let ctx = svc.authenticate(&headers).await?;
    payload_response(&svc, &ctx, &id, &headers, "Secret payload retrieval").await
}

async fn payload_response(
    svc: &KeyManagerService,
    ctx: &AuthContext,
    id: &str,
    headers: &HeaderMap,
    op: &str,
) -> KmResult<Response> {
    let s = svc.secret_for(ctx, id, "secret:decrypt", op).await?;
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let Some(bytes) = svc.decrypt_of(&s, op).await? else {
        return Err(KmError::not_found(
            "Not Found. Sorry but your secret has no payload.",
        ));
    };
    if normalize_content_type(&accept).is_none() {
        return Err(KmError::issue(406, op, "Wrong payload content-type"));
    }
    let mut resp = (StatusCode::OK, bytes).into_response();
    if let Ok(h) = HeaderValue::from_str(&accept) {
        resp.headers_mut().insert("content-type", h);
    }
    Ok(resp)
}

/// `PUT /v1/secrets/{id}`: the payload of a secret created without one.
pub(super) async fn put(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<StatusCode> {
    const OP: &str = "Secret update";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret:put", OP).await?;
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bare = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if bare != "application/octet-stream" && bare != "text/plain" {
        if bare.is_empty() || bare == "application/json" {
            return Err(KmError::new(
                415,
                format!("Content-Type of '{ct}' is not supported for PUT."),
            ));
        }
        return Err(KmError::new(
            415,
            "Unexpected content type. Expected content types are: ['application/octet-stream', 'text/plain']",
        ));
    }
    if body.is_empty() {
        return Err(KmError::issue(400, OP, "No data supplied to process."));
    }
    if body.len() > 20_000 {
        return Err(KmError::issue(
            413,
            OP,
            "Provided information too large to process",
        ));
    }
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let Some(norm) = normalize_content_type(&ct) else {
        return Err(KmError::issue(
            400,
            OP,
            "Provided field value is not supported",
        ));
    };
    let bytes = match (norm, encoding) {
        ("text/plain", None) => body.to_vec(),
        ("text/plain", Some(e)) => {
            return Err(KmError::issue(
                400,
                OP,
                &format!("content-encoding of '{e}' not supported"),
            ))
        }
        (_, Some(e)) if e.eq_ignore_ascii_case("base64") => {
            base64::engine::general_purpose::STANDARD
                .decode(body.trim_ascii())
                .map_err(|_| KmError::issue(400, OP, "Unable to decode request data."))?
        }
        (_, None) => body.to_vec(),
        (_, Some(e)) => {
            return Err(KmError::issue(
                400,
                OP,
                &format!("content-encoding of '{e}' not supported"),
            ))
        }
    };
    let has = svc
        .store
        .encrypted_data(&s.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?
        .is_some();
    if has {
        return Err(KmError::new(
            409,
            "Secret already has data, cannot modify it.",
        ));
    }
    let cypher = svc.encrypt_for(&s.project_id, &bytes, OP).await?;
    if !svc
        .store
        .secret_put_data(&s.id, norm, &cypher)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::new(
            409,
            "Secret already has data, cannot modify it.",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// oslo `bool_from_string(strict=True)`.
fn strict_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// `DELETE /v1/secrets/{id}` (`?force=true` from 1.2 for a consumed secret).
pub(super) async fn delete(
    State(svc): St,
    Extension(v): Extension<Version>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    const OP: &str = "Secret deletion";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret:delete", OP).await?;
    if v.at_least(2) {
        let params = query_pairs(q.as_deref());
        let force = match param(&params, "force") {
            Some(f) => strict_bool(f).ok_or_else(|| {
                KmError::issue(400, OP, "URI provided invalid query string parameters")
            })?,
            None => false,
        };
        if !force && !consumers_of(&svc, &s.id, OP).await?.is_empty() {
            return Err(KmError::issue(
                400,
                OP,
                "Secret cannot be deleted as it has consumers.",
            ));
        }
    }
    svc.store
        .secret_delete(&s.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    tracing::info!(secret.id = %s.id, project.id = %s.project_id, "deleted secret");
    Ok(StatusCode::NO_CONTENT)
}

// ---- consumers ------------------------------------------------------------------

fn consumer_body(headers: &HeaderMap, body: &[u8], op: &str) -> KmResult<ConsumerRow> {
    let m = json_body(headers, body)?;
    let mut vals = Vec::new();
    for key in ["service", "resource_type", "resource_id"] {
        match m.get(key) {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => vals.push(s.clone()),
            Some(Value::String(_)) => {
                return Err(KmError::invalid(
                    op,
                    "Secret Consumer",
                    &format!("'{key}' must be a non-empty string of at most 255 characters"),
                    key,
                ))
            }
            Some(v) => {
                return Err(KmError::invalid(
                    op,
                    "Secret Consumer",
                    &format!("{v} is not of type 'string'"),
                    key,
                ))
            }
            None => {
                return Err(KmError::invalid(
                    op,
                    "Secret Consumer",
                    &format!("'{key}' is a required property"),
                    key,
                ))
            }
        }
    }
    let mut it = vals.into_iter();
    Ok(ConsumerRow {
        service: it.next().unwrap_or_default(),
        resource_type: it.next().unwrap_or_default(),
        resource_id: it.next().unwrap_or_default(),
        project_id: String::new(),
        created_at: String::new(),
    })
}

/// `GET /v1/secrets/{id}/consumers`.
pub(super) async fn consumers_list(
    State(svc): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "SecretConsumers(s) retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc
        .secret_for(&ctx, &id, "secret_consumers:get", OP)
        .await?;
    let params = query_pairs(q.as_deref());
    let (offset, limit) = paging(&params);
    let items: Vec<Value> = consumers_of(&svc, &s.id, OP)
        .await?
        .iter()
        .map(|c| {
            let mut v = consumer_view(c);
            v["created"] = json!(show_time(&c.created_at));
            v["updated"] = json!(show_time(&c.created_at));
            v["status"] = json!("ACTIVE");
            v
        })
        .collect();
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        page(
            &base,
            &format!("secrets/{}/consumers", s.id),
            "consumers",
            items,
            offset,
            limit,
            &[],
        ),
    ))
}

/// `POST /v1/secrets/{id}/consumers`: the secret, with its consumers.
pub(super) async fn consumer_add(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "SecretConsumer creation";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc
        .secret_for(&ctx, &id, "secret_consumers:post", OP)
        .await?;
    let c = consumer_body(&headers, &body, OP)?;
    let project = project_of(&ctx, OP)?;
    let count = svc
        .store
        .consumer_count(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    svc.check_quota(&project, 3, count, OP).await?;
    svc.store
        .consumer_upsert(&s.id, &project, &c)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    let base = svc.base_url(&headers);
    let mut resp = reply(
        StatusCode::OK,
        shown(&svc, &base, &s, Version(1), OP).await?,
    );
    if let Ok(h) = HeaderValue::from_str(&format!("{base}/v1/secrets/{}/consumers", s.id)) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

/// `DELETE /v1/secrets/{id}/consumers`: the secret, with its remaining consumers.
pub(super) async fn consumer_remove(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "SecretConsumer deletion";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc
        .secret_for(&ctx, &id, "secret_consumers:delete", OP)
        .await?;
    let c = consumer_body(&headers, &body, OP)?;
    let existing = consumers_of(&svc, &s.id, OP).await?;
    let Some(found) = existing.iter().find(|e| {
        e.service == c.service
            && e.resource_type == c.resource_type
            && e.resource_id == c.resource_id
    }) else {
        return Err(KmError::not_found("Consumer not found."));
    };
    let caller = ctx.project_id.as_deref().unwrap_or_default();
    if found.project_id != caller && s.project_id != caller {
        return Err(KmError::new(
            403,
            "Not Allowed. Sorry, only the creator of a consumer can delete it.",
        ));
    }
    svc.store
        .consumer_delete(&s.id, &c)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        shown(&svc, &base, &s, Version(1), OP).await?,
    ))
}

// ---- metadata -------------------------------------------------------------------

fn meta_string(m: &Map<String, Value>, key: &str, op: &str) -> KmResult<String> {
    match m.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(KmError::issue(
            400,
            op,
            "Invalid Metadata. Keys and Values must be Strings.",
        )),
    }
}

/// `GET /v1/secrets/{id}/metadata`.
pub(super) async fn metadata_get(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Secret metadata retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret_meta:get", OP).await?;
    let items = svc
        .store
        .metadata(&s.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    let m: Map<String, Value> = items.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(reply(StatusCode::OK, json!({"metadata": m})))
}

/// `PUT /v1/secrets/{id}/metadata`: replaces all user metadata.
pub(super) async fn metadata_put(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "Secret metadata creation";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret_meta:put", OP).await?;
    let m = json_body(&headers, &body)?;
    let Some(Value::Object(meta)) = m.get("metadata") else {
        return Err(KmError::invalid(
            OP,
            "Secret Metadata",
            "'metadata' is a required property",
            "metadata",
        ));
    };
    let mut items = Vec::new();
    for (k, v) in meta {
        let Value::String(v) = v else {
            return Err(KmError::issue(
                400,
                OP,
                "Invalid Metadata. Keys and Values must be Strings.",
            ));
        };
        items.push((k.to_lowercase(), v.clone()));
    }
    svc.store
        .metadata_replace(&s.id, &items)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::CREATED,
        json!({"metadata_ref": format!("{base}/v1/secrets/{}/metadata", s.id)}),
    ))
}

/// `POST /v1/secrets/{id}/metadata`: adds one `{key, value}`.
pub(super) async fn metadatum_add(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "Secret metadatum creation";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret_meta:post", OP).await?;
    let m = json_body(&headers, &body)?;
    let key = meta_string(&m, "key", OP)?.to_lowercase();
    let value = meta_string(&m, "value", OP)?;
    if !svc
        .store
        .metadatum_insert(&s.id, &key, &value)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::new(
            409,
            "Conflict. Key in request is already in the secret metadata",
        ));
    }
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::CREATED,
        json!({"metadata_ref": format!("{base}/v1/secrets/{}/metadata/{key}", s.id)}),
    ))
}

/// `GET /v1/secrets/{id}/metadata/{key}`.
pub(super) async fn metadatum_get(
    State(svc): St,
    Path((id, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Secret metadatum retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret_meta:get", OP).await?;
    let key = key.to_lowercase();
    let items = svc
        .store
        .metadata(&s.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    match items.into_iter().find(|(k, _)| *k == key) {
        Some((k, v)) => Ok(reply(StatusCode::OK, json!({"key": k, "value": v}))),
        None => Err(KmError::not_found("Secret metadata not found.")),
    }
}

/// `PUT /v1/secrets/{id}/metadata/{key}`.
pub(super) async fn metadatum_put(
    State(svc): St,
    Path((id, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "Secret metadatum update";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret_meta:put", OP).await?;
    let m = json_body(&headers, &body)?;
    let body_key = meta_string(&m, "key", OP)?.to_lowercase();
    let value = meta_string(&m, "value", OP)?;
    let key = key.to_lowercase();
    let exists = svc
        .store
        .metadata(&s.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?
        .iter()
        .any(|(k, _)| *k == key);
    if !exists {
        return Err(KmError::not_found("Secret metadata not found."));
    }
    if body_key != key {
        // Barbican answers 409 here, and its message is cut short by a missing `+`
        // in the source; kept verbatim for wire compatibility.
        return Err(KmError::new(
            409,
            "Key in request data does not match key in the ",
        ));
    }
    if !svc
        .store
        .metadatum_update(&s.id, &key, &value)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::not_found("Secret metadata not found."));
    }
    Ok(reply(StatusCode::OK, json!({"key": key, "value": value})))
}

/// `DELETE /v1/secrets/{id}/metadata/{key}`.
pub(super) async fn metadatum_delete(
    State(svc): St,
    Path((id, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    const OP: &str = "Secret metadatum removal";
    let ctx = svc.authenticate(&headers).await?;
    let s = svc.secret_for(&ctx, &id, "secret_meta:delete", OP).await?;
    if !svc
        .store
        .metadatum_delete(&s.id, &key.to_lowercase())
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::not_found("Secret metadata not found."));
    }
    Ok(StatusCode::NO_CONTENT)
}
