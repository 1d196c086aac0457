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
use super::{json_body, opt_str, page, param, paging, parse_uuid, query_pairs, ref_id, reply, St};
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
            return Err(KmError::not_found("Not Found. Provided container id is invalid."));
        };
        let c = self
            .store
            .container_get(&id)
            .await
            .map_err(|e| KmError::internal(op, e))?
            .ok_or_else(|| KmError::not_found("Container not found."))?;
        let target = self
            .entity_target(ctx, "container", &c.id, &c.project_id, &c.creator_id, op)
            .await?;
        self.authorize(ctx, rule, op, target)?;
        Ok(c)
    }

    /// A container as Barbican shows it.
    pub(crate) async fn container_view(&self, base: &str, c: &ContainerRow, op: &str) -> KmResult<Value> {
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
            "updated": c.updated_at,
            "name": c.name,
            "consumers": consumers.iter().map(|k| json!({"name": k.name, "URL": k.url})).collect::<Vec<_>>(),
            "created": c.created_at,
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

/// Checks that the caller may use the secret `id` in a container (the secret must be
/// in the caller's project, as Barbican's `secret_repo.get(id, project)`).
async fn check_secret(
    svc: &KeyManagerService,
    project: &str,
    name: &str,
    id: &str,
    op: &str,
) -> KmResult<String> {
    let missing = || KmError::not_found(format!("Secret provided for '{name}' doesn't exist."));
    let Some(id) = parse_uuid(id) else {
        return Err(missing());
    };
    let s = svc
        .store
        .secret_get(&id)
        .await
        .map_err(|e| KmError::internal(op, e))?
        .ok_or_else(missing)?;
    if s.project_id != project {
        return Err(missing());
    }
    Ok(s.id)
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
    if kind != "generic" {
        let allowed = if kind == "rsa" { RSA_NAMES } else { CERT_NAMES };
        let mut names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(bad) = names.iter().find(|n| !allowed.contains(n)) {
            return Err(inv(
                &format!("invalid secret_refs name '{bad}' for a {kind} container"),
                "secret_refs",
            ));
        }
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(inv("Duplicate reference names are not allowed", "secret_refs"));
        }
        let required: &[&str] = if kind == "rsa" {
            &["private_key", "public_key"]
        } else {
            &["certificate"]
        };
        if let Some(r) = required.iter().find(|r| !names.contains(r)) {
            return Err(inv(&format!("'{r}' is a required secret_refs name"), "secret_refs"));
        }
    } else {
        let mut pairs: Vec<(&str, &str)> = refs.iter().map(|(n, s)| (n.as_str(), s.as_str())).collect();
        pairs.sort_unstable();
        if pairs.windows(2).any(|w| w[0] == w[1]) {
            return Err(inv("Duplicate secret ids are not allowed", "secret_refs"));
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
    rows.retain(|c| name.is_none_or(|n| c.name.as_deref() == Some(n)) && kind.is_none_or(|t| c.kind == t));
    let base = svc.base_url(&headers);
    let (offset, limit) = paging(&params);
    let mut items = Vec::new();
    for (i, c) in rows.iter().enumerate() {
        if i >= offset && i < offset + limit {
            items.push(svc.container_view(&base, c, OP).await?);
        } else {
            items.push(Value::Null);
        }
    }
    Ok(reply(
        StatusCode::OK,
        page(&base, "containers", "containers", items, offset, limit, &params),
    ))
}

/// `GET /v1/containers/{id}`.
pub(super) async fn show(State(svc): St, Path(id): Path<String>, headers: HeaderMap) -> KmResult<Response> {
    const OP: &str = "Container retrieval";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc.container_for(&ctx, &id, "container:get", OP).await?;
    let base = svc.base_url(&headers);
    Ok(reply(StatusCode::OK, svc.container_view(&base, &c, OP).await?))
}

/// `DELETE /v1/containers/{id}`.
pub(super) async fn delete(State(svc): St, Path(id): Path<String>, headers: HeaderMap) -> KmResult<StatusCode> {
    const OP: &str = "Container deletion";
    let ctx = svc.authenticate(&headers).await?;
    let c = svc.container_for(&ctx, &id, "container:delete", OP).await?;
    svc.store
        .container_delete(&c.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    Ok(StatusCode::NO_CONTENT)
}

fn named_ref(headers: &HeaderMap, body: &[u8], op: &str) -> KmResult<(String, String)> {
    let m = json_body(headers, body)?;
    secret_ref(&Value::Object(m), op)
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
    let c = svc.container_for(&ctx, &id, "container_secret:post", OP).await?;
    if c.kind != "generic" {
        return Err(KmError::bad_request("Only 'generic' containers can be modified."));
    }
    let (name, sid) = named_ref(&headers, &body, OP)?;
    let sid = check_secret(&svc, &c.project_id, &name, &sid, OP).await?;
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
    let c = svc.container_for(&ctx, &id, "container_secret:delete", OP).await?;
    if c.kind != "generic" {
        return Err(KmError::bad_request("Only 'generic' containers can be modified."));
    }
    let (name, sid) = named_ref(&headers, &body, OP)?;
    let sid = parse_uuid(&sid).unwrap_or(sid);
    if !svc
        .store
        .container_secret_remove(&c.id, &name, &sid)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::not_found(
            "Secret provided doesn't exist in the container",
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
    let c = svc.container_for(&ctx, &id, "container_consumers:get", OP).await?;
    let params = query_pairs(q.as_deref());
    let (offset, limit) = paging(&params);
    let items: Vec<Value> = svc
        .store
        .container_consumers(&c.id)
        .await
        .map_err(|e| KmError::internal(OP, e))?
        .iter()
        .map(|k| json!({"name": k.name, "URL": k.url, "created": k.created_at,
                        "updated": k.created_at, "status": "ACTIVE"}))
        .collect();
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        page(&base, &format!("containers/{}/consumers", c.id), "consumers", items, offset, limit, &[]),
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
    let c = svc.container_for(&ctx, &id, "container_consumers:post", OP).await?;
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
    Ok(reply(StatusCode::OK, svc.container_view(&base, &c, OP).await?))
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
    let c = svc.container_for(&ctx, &id, "container_consumers:delete", OP).await?;
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
    Ok(reply(StatusCode::OK, svc.container_view(&base, &c, OP).await?))
}
