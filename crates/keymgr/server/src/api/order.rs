//! Orders: `key` (a symmetric key from the OS CSPRNG, as `simple_crypto`'s
//! `generate_symmetric`) and `asymmetric` (an RSA key pair stored as a `private` and a
//! `public` secret in an `rsa` container). Barbican runs orders on a worker; rustack
//! fulfils them inside the `POST` (still answering 202 with the `order_ref`), so an
//! order is `ACTIVE` or `ERROR` by the time the caller polls it.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rand::RngCore as _;
use rustack_api_common::AuthContext;
use serde_json::{json, Map, Value};

use super::secret::{project_of, NewSecretFields};
use super::{
    fmt_time, json_body, page, paging, parse_time, parse_uuid, query_pairs, reply, show_time, St,
};
use crate::error::{KmError, KmResult};
use crate::store::{now, OrderRow};
use crate::KeyManagerService;

const OP_CREATE: &str = "Order creation";

fn view(base: &str, o: &OrderRow) -> Value {
    let meta: Value = serde_json::from_str(&o.meta).unwrap_or_else(|_| json!({}));
    let mut v = json!({
        "created": show_time(&o.created_at),
        "creator_id": o.creator_id,
        "meta": meta,
        "order_ref": format!("{base}/v1/orders/{}", o.id),
        "status": o.status,
        "sub_status": "Unknown",
        "sub_status_message": "Unknown",
        "type": o.kind,
        "updated": show_time(&o.updated_at),
    });
    if let Some(s) = &o.secret_id {
        v["secret_ref"] = json!(format!("{base}/v1/secrets/{s}"));
    }
    if let Some(c) = &o.container_id {
        v["container_ref"] = json!(format!("{base}/v1/containers/{c}"));
    }
    if o.status == "ERROR" {
        v["error_status_code"] = json!(o.error_status_code);
        v["error_reason"] = json!(o.error_reason);
    }
    v
}

impl KeyManagerService {
    /// Loads an order of the caller's project (Barbican looks orders up within the
    /// caller's project, so another project's order is a 404) and enforces `rule`.
    async fn order_for(
        &self,
        ctx: &AuthContext,
        id: &str,
        rule: &str,
        op: &str,
    ) -> KmResult<OrderRow> {
        let missing = || KmError::not_found("Order not found.");
        let Some(id) = parse_uuid(id) else {
            return Err(missing());
        };
        let o = self
            .store
            .order_get(&id)
            .await
            .map_err(|e| KmError::internal(op, e))?
            .filter(|o| ctx.project_id.as_deref() == Some(o.project_id.as_str()))
            .ok_or_else(missing)?;
        let target = json!({
            "target.order.project_id": o.project_id,
            "target.order.creator_id": o.creator_id,
        });
        self.authorize(ctx, rule, op, target)?;
        Ok(o)
    }
}

/// Barbican's `TypeOrderValidator`: (type, meta as stored, algorithm, bit length).
fn validate(m: &Map<String, Value>) -> KmResult<(String, Map<String, Value>, String, i64)> {
    let inv = |reason: &str, prop: &str| KmError::invalid(OP_CREATE, "Order", reason, prop);
    let kind = match m.get("type") {
        Some(Value::String(t)) if t == "key" || t == "asymmetric" => t.clone(),
        Some(Value::String(t)) => {
            return Err(inv(
                &format!("'{t}' is not one of ['key', 'asymmetric']"),
                "type",
            ))
        }
        Some(v) => return Err(inv(&format!("{v} is not of type 'string'"), "type")),
        None => return Err(inv("'type' is a required property", "type")),
    };
    let meta = match m.get("meta") {
        Some(Value::Object(o)) => o.clone(),
        Some(v) => return Err(inv(&format!("{v} is not of type 'object'"), "meta")),
        None => return Err(inv("'meta' is a required property", "meta")),
    };
    // The meta is validated as a secret within the order.
    super::secret::validate_new(&meta, OP_CREATE, true)?;
    let label = if kind == "key" {
        "key"
    } else {
        "asymmetric key"
    };
    if meta.get("payload").is_some_and(|p| !p.is_null()) {
        return Err(inv(
            &format!("'payload' not allowed for {kind} type order"),
            "meta",
        ));
    }
    let algorithm = match meta.get("algorithm") {
        Some(Value::String(a)) if !a.is_empty() => a.to_ascii_lowercase(),
        _ => {
            return Err(inv(
                &format!("'algorithm' is required field for {label} type order"),
                "meta",
            ))
        }
    };
    let bits = match meta.get("bit_length").and_then(Value::as_i64) {
        Some(b) if b != 0 => b,
        _ => {
            return Err(inv(
                &format!("'bit_length' is required field for {label} type order"),
                "meta",
            ))
        }
    };
    if bits % 8 != 0 {
        return Err(KmError::issue(
            400,
            OP_CREATE,
            "Provided field value is not supported",
        ));
    }
    Ok((kind, meta, algorithm, bits))
}

fn meta_str(meta: &Map<String, Value>, key: &str) -> Option<String> {
    meta.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// An RSA key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM).
fn rsa_pair(bits: usize) -> Result<(Vec<u8>, Vec<u8>), String> {
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, bits).map_err(|e| e.to_string())?;
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    Ok((private.as_bytes().to_vec(), public.into_bytes()))
}

/// Runs an order to completion, filling its outcome in `o`.
async fn fulfil(
    svc: &KeyManagerService,
    o: &mut OrderRow,
    meta: &Map<String, Value>,
    algorithm: &str,
    bits: i64,
) -> KmResult<()> {
    let fail = |o: &mut OrderRow, reason: String| {
        o.status = "ERROR".into();
        o.error_status_code = Some("400".into());
        o.error_reason = Some(reason);
    };
    let unsupported = format!(
        "Could not find a secret store plugin for generating secret with algorithm '{algorithm}' and bit-length '{bits}'."
    );
    let expiration = meta_str(meta, "expiration")
        .and_then(|e| parse_time(&e))
        .map(fmt_time);
    let name = meta_str(meta, "name");
    if o.kind == "key" {
        let ok = match algorithm {
            "aes" => matches!(bits, 128 | 192 | 256),
            "hmacsha1" | "hmacsha256" | "hmacsha384" | "hmacsha512" => bits <= 4096,
            _ => false,
        };
        if !ok {
            fail(o, unsupported);
            return Ok(());
        }
        let mut key = vec![0u8; (bits / 8) as usize];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let s = svc
            .secret_store(
                &o.project_id,
                &o.creator_id,
                NewSecretFields {
                    name,
                    algorithm: Some(algorithm.to_owned()),
                    bit_length: Some(bits),
                    mode: meta_str(meta, "mode"),
                    expiration,
                    secret_type: "symmetric".into(),
                    payload: Some(("application/octet-stream".into(), key)),
                },
                OP_CREATE,
            )
            .await?;
        o.secret_id = Some(s.id);
        o.status = "ACTIVE".into();
        return Ok(());
    }
    if algorithm != "rsa" || !matches!(bits, 1024 | 2048 | 4096) {
        fail(o, unsupported);
        return Ok(());
    }
    if meta_str(meta, "passphrase").is_some() {
        // TODO-compat: simple_crypto encrypts the private key with the passphrase and
        // stores it as a third secret; rustack does not generate protected keys yet.
        fail(
            o,
            "Passphrase-protected asymmetric keys are not supported.".into(),
        );
        return Ok(());
    }
    let pair = tokio::task::spawn_blocking(move || rsa_pair(bits as usize))
        .await
        .map_err(|e| KmError::internal(OP_CREATE, e))?;
    let (private, public) = match pair {
        Ok(p) => p,
        Err(e) => return Err(KmError::internal(OP_CREATE, e)),
    };
    let mut refs = Vec::new();
    for (kind, bytes) in [("private", private), ("public", public)] {
        let s = svc
            .secret_store(
                &o.project_id,
                &o.creator_id,
                NewSecretFields {
                    name: name.clone(),
                    algorithm: Some("rsa".into()),
                    bit_length: Some(bits),
                    mode: meta_str(meta, "mode"),
                    expiration: expiration.clone(),
                    secret_type: kind.into(),
                    payload: Some(("application/octet-stream".into(), bytes)),
                },
                OP_CREATE,
            )
            .await?;
        refs.push((format!("{kind}_key"), s.id));
    }
    let c = svc
        .container_store(&o.project_id, &o.creator_id, name, "rsa", &refs, OP_CREATE)
        .await?;
    o.container_id = Some(c.id);
    o.status = "ACTIVE".into();
    Ok(())
}

/// `POST /v1/orders`: 202 with the `order_ref`.
pub(super) async fn create(State(svc): St, headers: HeaderMap, body: Bytes) -> KmResult<Response> {
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "orders:post", OP_CREATE, json!({}))?;
    let m = json_body(&headers, &body)?;
    let (kind, meta, algorithm, bits) = validate(&m)?;
    let project = project_of(&ctx, OP_CREATE)?;
    let count = svc
        .store
        .order_count(&project)
        .await
        .map_err(|e| KmError::internal(OP_CREATE, e))?;
    svc.check_quota(&project, 1, count, OP_CREATE).await?;
    let at = now();
    let mut o = OrderRow {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project,
        creator_id: ctx.user_id.clone(),
        kind,
        meta: Value::Object(meta.clone()).to_string(),
        status: "PENDING".into(),
        secret_id: None,
        container_id: None,
        error_status_code: None,
        error_reason: None,
        created_at: at.clone(),
        updated_at: at,
    };
    svc.store
        .order_insert(&o)
        .await
        .map_err(|e| KmError::internal(OP_CREATE, e))?;
    if let Err(e) = fulfil(&svc, &mut o, &meta, &algorithm, bits).await {
        o.status = "ERROR".into();
        o.error_status_code = Some(e.status.to_string());
        o.error_reason = Some(e.description);
    }
    svc.store
        .order_finish(&o)
        .await
        .map_err(|e| KmError::internal(OP_CREATE, e))?;
    let url = format!("{}/v1/orders/{}", svc.base_url(&headers), o.id);
    let mut resp = reply(StatusCode::ACCEPTED, json!({"order_ref": url}));
    if let Ok(h) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

/// `GET /v1/orders`.
pub(super) async fn list(
    State(svc): St,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Order(s) retrieval";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "orders:get", OP, json!({}))?;
    let params = query_pairs(q.as_deref());
    let project = project_of(&ctx, OP)?;
    let base = svc.base_url(&headers);
    let items: Vec<Value> = svc
        .store
        .order_list(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?
        .iter()
        .map(|o| view(&base, o))
        .collect();
    let (offset, limit) = paging(&params);
    Ok(reply(
        StatusCode::OK,
        page(&base, "orders", "orders", items, offset, limit, &params),
    ))
}

/// `GET /v1/orders/{id}`.
pub(super) async fn show(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Order retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let o = svc.order_for(&ctx, &id, "order:get", OP).await?;
    Ok(reply(StatusCode::OK, view(&svc.base_url(&headers), &o)))
}

/// `PUT /v1/orders`: Barbican answers 405 once `orders:put` allows the caller.
pub(super) async fn update(State(svc): St, headers: HeaderMap) -> KmResult<Response> {
    const OP: &str = "Order update";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "orders:put", OP, json!({}))?;
    Err(KmError::new(405, "Order update is not supported."))
}

/// `DELETE /v1/orders/{id}` (the generated secret or container stays).
pub(super) async fn delete(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    const OP: &str = "Order deletion";
    let ctx = svc.authenticate(&headers).await?;
    let o = svc.order_for(&ctx, &id, "order:delete", OP).await?;
    svc.store
        .order_delete(&o.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    Ok(StatusCode::NO_CONTENT)
}
