//! Containers: `generic`, `rsa` (`public_key`, `private_key`,
//! `private_key_passphrase`) and `certificate` (`certificate`, `private_key`,
//! `private_key_passphrase`, `intermediates`) groups of secret references, with their
//! secrets sub-resource (generic containers only) and consumers (`{name, URL}`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use rustack_api_common::AuthContext;
use serde_json::{json, Map, Value};

use super::secret::project_of;
use super::{
    json_body, opt_str, page, page_of, paging, param, parse_uuid, query_pairs, ref_id, reply,
    show_time, St,
};
use crate::error::{KmError, KmResult};
use crate::store::{now, ContainerRow};
use crate::KeyManagerService;

const RSA_NAMES: &[&str] = &["public_key", "private_key", "private_key_passphrase"];
const CERT_NAMES: &[&str] = &[
    "certificate",
    "private_key",
    "private_key_passphrase",
    "intermediates",
];

impl KeyManagerService {
    /// Loads a container (404 as Barbican) and enforces `rule` against it.
    pub(crate) async fn container_for(
        &self,
        ctx: &AuthContext,
        id: &str,
        rule: &str,
        op: &str,
    ) -> KmResult<ContainerRow> {
        let Some(id) = parse_uuid(id) else {
            return Err(KmError::not_found(
                "Not Found. Provided container id is invalid.",
            ));
        };
        let c = self
            .store
            .container_get(&id)
            .await
            .map_err(|e| KmError::internal(op, e))?
            .ok_or_else(|| KmError::not_found("Secrets container not found."))?;
        let target = self
            .entity_target(ctx, "container", &c.id, &c.project_id, &c.creator_id, op)
            .await?;
        self.authorize(ctx, rule, op, target)?;
        Ok(c)
    }

    /// A container as Barbican shows it.
    pub(crate) async fn container_view(
        &self,
        base: &str,
        c: &ContainerRow,
        op: &str,
    ) -> KmResult<Value> {
        let refs = self
            .store
            .container_secrets(&c.id)
            .await
            .map_err(|e| KmError::internal(op, e))?;
        let consumers = self
            .store
            .container_consumers(&c.id)
            .await
            .map_err(|e| KmError::internal(op, e))?;
        Ok(json!({
            "status": c.status,
            "updated": show_time(&c.updated_at),
            "name": c.name,
            "consumers": consumers.iter().map(|k| json!({"name": k.name, "URL": k.url})).collect::<Vec<_>>(),
            "created": show_time(&c.created_at),
            "container_ref": format!("{base}/v1/containers/{}", c.id),
            "creator_id": c.creator_id,
            "secret_refs": refs.iter().map(|(n, s)| json!({
                "secret_ref": format!("{base}/v1/secrets/{s}"),
                "name": n,
            })).collect::<Vec<_>>(),
            "type": c.kind,
        }))
    }

    /// Creates a container of `refs` (already checked) in `project`.
    pub(crate) async fn container_store(
        &self,
        project: &str,
        creator: &str,
        name: Option<String>,
        kind: &str,
        refs: &[(String, String)],
        op: &str,
    ) -> KmResult<ContainerRow> {
        let at = now();
        let row = ContainerRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.to_owned(),
            creator_id: creator.to_owned(),
            name,
            kind: kind.to_owned(),
            status: "ACTIVE".into(),
            created_at: at.clone(),
            updated_at: at,
        };
        self.store
            .container_insert(&row, refs)
            .await
            .map_err(|e| KmError::internal(op, e))?;
        Ok(row)
    }
}

/// `(name, secret id)` from a `{name, secret_ref}` object.
fn secret_ref(v: &Value, op: &str) -> KmResult<(String, String)> {
    let inv = |reason: &str, prop: &str| KmError::invalid(op, "Container", reason, prop);
    let Value::Object(m) = v else {
        return Err(inv(&format!("{v} is not of type 'object'"), "secret_refs"));
    };
    let name = opt_str(m, "name", op, "Container", 255)?.unwrap_or_default();
    let Some(r) = opt_str(m, "secret_ref", op, "Container", 255)? else {
        return Err(inv("'secret_ref' is a required property", "secret_ref"));
    };
    Ok((name, ref_id(&r).to_owned()))
}

/// The secret `id` if it is a live secret of `project` (Barbican's
/// `secret_repo.get(id, external_project_id)`, which containers use).
async fn secret_in_project(
    svc: &KeyManagerService,
    project: &str,
    id: &str,
    op: &str,
) -> KmResult<Option<String>> {
    let Some(id) = parse_uuid(id) else {
        return Ok(None);
    };
    let s = svc
        .store
        .secret_get(&id)
        .await
        .map_err(|e| KmError::internal(op, e))?;
    Ok(s.filter(|s| s.project_id == project).map(|s| s.id))
}

/// A container's secret reference must name a secret of the caller's project.
async fn check_secret(
    svc: &KeyManagerService,
    project: &str,
    name: &str,
    id: &str,
    op: &str,
) -> KmResult<String> {
    secret_in_project(svc, project, id, op)
        .await?
        .ok_or_else(|| KmError::not_found(format!("Secret provided for '{name}' doesn't exist.")))
}

/// `POST /v1/containers`.
pub(super) async fn create(State(svc): St, headers: HeaderMap, body: Bytes) -> KmResult<Response> {
    const OP: &str = "Container creation";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "containers:post", OP, json!({}))?;
    let m = json_body(&headers, &body)?;
    let inv = |reason: &str, prop: &str| KmError::invalid(OP, "Container", reason, prop);
    let name = opt_str(&m, "name", OP, "Container", 255)?;
    let kind = match opt_str(&m, "type", OP, "Container", 255)? {
        Some(t) if ["generic", "rsa", "certificate"].contains(&t.as_str()) => t,
        Some(t) => {
            return Err(inv(
                &format!("'{t}' is not one of ['generic', 'rsa', 'certificate']"),
                "type",
            ))
        }
        None => return Err(inv("'type' is a required property", "type")),
    };
    let refs_v = match m.get("secret_refs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(v) => return Err(inv(&format!("{v} is not of type 'array'"), "secret_refs")),
    };
    let mut refs = Vec::new();
    for r in &refs_v {
        refs.push(secret_ref(r, OP)?);
    }
    // Barbican's ContainerValidator, in its order.
    let names: std::collections::BTreeSet<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
    if names.len() != refs.len() {
        return Err(inv(
            "Duplicate reference names are not allowed",
            "secret_refs",
        ));
    }
    let ids: std::collections::BTreeSet<&str> = refs.iter().map(|(_, s)| s.as_str()).collect();
    if ids.len() != refs.len() {
        return Err(inv("Duplicate secret ids are not allowed", "secret_refs"));
    }
    // No spoofing: refs must point at this service (as seen by the caller).
    let base = svc.base_url(&headers);
    let given = refs_v
        .iter()
        .filter_map(|r| r.get("secret_ref").and_then(Value::as_str));
    for r in given {
        if !r.starts_with(&base) {
            return Err(KmError::issue(
                400,
                OP,
                "Provided field value is not supported",
            ));
        }
    }
    let (allowed, required, unsupported, minimum): (&[&str], &[&str], &str, &str) =
        match kind.as_str() {
            "rsa" => (
                RSA_NAMES,
                &["public_key", "private_key"],
                "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
                "The minimum required reference names are 'public_key' and'private_key' for RSA type",
            ),
            "certificate" => (
                CERT_NAMES,
                &["certificate"],
                "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type",
                "The minimum required reference name is 'certificate' for Certificate type",
            ),
            _ => (&[], &[], "", ""),
        };
    if kind != "generic" && !refs.is_empty() {
        if names.iter().any(|n| !allowed.contains(n)) {
            return Err(inv(unsupported, "secret_refs"));
        }
        if required.iter().any(|r| !names.contains(r)) {
            return Err(inv(minimum, "secret_refs"));
        }
    }
    let project = project_of(&ctx, OP)?;
    let mut checked = Vec::new();
    for (n, s) in &refs {
        checked.push((n.clone(), check_secret(&svc, &project, n, s, OP).await?));
    }
    let count = svc
        .store
        .container_count(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    svc.check_quota(&project, 2, count, OP).await?;
    let row = svc
        .container_store(&project, &ctx.user_id, name, &kind, &checked, OP)
        .await?;
    let url = format!("{}/v1/containers/{}", svc.base_url(&headers), row.id);
    let mut resp = reply(StatusCode::CREATED, json!({"container_ref": url}));
    if let Ok(h) = HeaderValue::from_str(&url) {
        resp.headers_mut().insert("location", h);
    }
    Ok(resp)
}

/// `GET /v1/containers` (`name`, `type` filters, paging).
pub(super) async fn list(
    State(svc): St,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Containers(s) retrieval";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "containers:get", OP, json!({}))?;
    let params = query_pairs(q.as_deref());
    let project = project_of(&ctx, OP)?;
    let mut rows = svc
        .store
        .container_list(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    let name = param(&params, "name").filter(|n| !n.is_empty());
    let kind = param(&params, "type").filter(|n| !n.is_empty());
    rows.retain(|c| {
        name.is_none_or(|n| c.name.as_deref() == Some(n)) && kind.is_none_or(|t| c.kind == t)
    });
    let base = svc.base_url(&headers);
    let (offset, limit) = paging(&params);
    let mut items = Vec::new();
    for c in rows.iter().skip(offset).take(limit) {
        items.push(svc.container_view(&base, c, OP).await?);
    }
    Ok(reply(
        StatusCode::OK,
        page_of(
            &base,
            "containers",
            "containers",
            rows.len(),
            items,
            offset,
            limit,
            &params,
        ),
    ))
}

/// `GET /v1/containers/{id}`.
pub(super) async fn show(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Container retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc.container_for(&ctx, &id, "container:get", OP).await?;
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        svc.container_view(&base, &c, OP).await?,
    ))
}

/// `DELETE /v1/containers/{id}`.
pub(super) async fn delete(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    const OP: &str = "Container deletion";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc.container_for(&ctx, &id, "container:delete", OP).await?;
    svc.store
        .container_delete(&c.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `(name, secret id, the ref as given)` from a `{name, secret_ref}` body.
fn named_ref(headers: &HeaderMap, body: &[u8], op: &str) -> KmResult<(String, String, String)> {
    let m = json_body(headers, body)?;
    let given = m
        .get("secret_ref")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (name, id) = secret_ref(&Value::Object(m), op)?;
    Ok((name, id, given))
}

/// `POST /v1/containers/{id}/secrets` (generic containers only).
pub(super) async fn secret_add(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "Container Secret creation";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc
        .container_for(&ctx, &id, "container_secret:post", OP)
        .await?;
    if c.kind != "generic" {
        return Err(KmError::bad_request(
            "Only 'generic' containers can be modified.",
        ));
    }
    let (name, sid, _) = named_ref(&headers, &body, OP)?;
    let project = project_of(&ctx, OP)?;
    let sid = secret_in_project(&svc, &project, &sid, OP)
        .await?
        .ok_or_else(|| KmError::not_found("Secret provided doesn't exist."))?;
    if !svc
        .store
        .container_secret_add(&c.id, &name, &sid)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::new(
            409,
            "Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.",
        ));
    }
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::CREATED,
        json!({"container_ref": format!("{base}/v1/containers/{}", c.id)}),
    ))
}

/// `DELETE /v1/containers/{id}/secrets`.
pub(super) async fn secret_remove(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<StatusCode> {
    const OP: &str = "Container Secret deletion";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc
        .container_for(&ctx, &id, "container_secret:delete", OP)
        .await?;
    if c.kind != "generic" {
        return Err(KmError::bad_request(
            "Only 'generic' containers can be modified.",
        ));
    }
    let (name, sid, given) = named_ref(&headers, &body, OP)?;
    let project = project_of(&ctx, OP)?;
    let sid = secret_in_project(&svc, &project, &sid, OP)
        .await?
        .ok_or_else(|| {
            KmError::not_found(format!(
                "Secret '{name}' with reference '{given}' doesn't exist."
            ))
        })?;
    if !svc
        .store
        .container_secret_remove(&c.id, &name, &sid)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::not_found(
            "Secret provided is not in the container",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

fn consumer_body(headers: &HeaderMap, body: &[u8], op: &str) -> KmResult<(String, String)> {
    let m: Map<String, Value> = json_body(headers, body)?;
    let inv = |reason: &str, prop: &str| KmError::invalid(op, "Consumer", reason, prop);
    let name = opt_str(&m, "name", op, "Consumer", 255)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| inv("'name' is a required property", "name"))?;
    let url = opt_str(&m, "URL", op, "Consumer", 255)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| inv("'URL' is a required property", "URL"))?;
    Ok((name, url))
}

/// `GET /v1/containers/{id}/consumers`.
pub(super) async fn consumers_list(
    State(svc): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "ContainerConsumers(s) retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc
        .container_for(&ctx, &id, "container_consumers:get", OP)
        .await?;
    let params = query_pairs(q.as_deref());
    let (offset, limit) = paging(&params);
    let items: Vec<Value> = svc
        .store
        .container_consumers(&c.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?
        .iter()
        .map(|k| {
            json!({"name": k.name, "URL": k.url, "created": show_time(&k.created_at),
                        "updated": show_time(&k.created_at), "status": "ACTIVE"})
        })
        .collect();
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        page(
            &base,
            &format!("containers/{}/consumers", c.id),
            "consumers",
            items,
            offset,
            limit,
            &[],
        ),
    ))
}

/// `POST /v1/containers/{id}/consumers`: the container, with its consumers.
pub(super) async fn consumer_add(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "ContainerConsumer creation";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc
        .container_for(&ctx, &id, "container_consumers:post", OP)
        .await?;
    let (name, url) = consumer_body(&headers, &body, OP)?;
    let project = project_of(&ctx, OP)?;
    let count = svc
        .store
        .consumer_count(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    svc.check_quota(&project, 3, count, OP).await?;
    svc.store
        .container_consumer_add(&c.id, &project, &name, &url)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        svc.container_view(&base, &c, OP).await?,
    ))
}

/// `DELETE /v1/containers/{id}/consumers`: the container, with its remaining consumers.
pub(super) async fn consumer_remove(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    const OP: &str = "ContainerConsumer deletion";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc
        .container_for(&ctx, &id, "container_consumers:delete", OP)
        .await?;
    let (name, url) = consumer_body(&headers, &body, OP)?;
    if !svc
        .store
        .container_consumer_remove(&c.id, &name, &url)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::not_found("Consumer not found."));
    }
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        svc.container_view(&base, &c, OP).await?,
    ))
}
