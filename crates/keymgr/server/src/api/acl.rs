//! ACLs on secrets and containers (`/v1/{secrets|containers}/{id}/acl`): the `read`
//! operation's user list and `project-access` flag, which the policy target carries
//! as `target.<kind>.read` and `target.<kind>.read_project_access`. With no ACL a
//! secret reads as `{"read": {"project-access": true}}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rustack_api_common::AuthContext;
use serde_json::{json, Value};

use super::{json_body, reply, show_time, St};
use crate::error::{KmError, KmResult};
use crate::store::{now, AclRow};
use crate::KeyManagerService;

#[derive(Clone, Copy)]
enum Kind {
    Secret,
    Container,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Container => "container",
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Container => "containers",
        }
    }
    fn op(self, what: &str) -> String {
        match self {
            Kind::Secret => format!("SecretACL(s) {what}"),
            Kind::Container => format!("ContainerACL(s) {what}"),
        }
    }
}

/// Loads the entity and enforces `<kind>_acls:<action>`; its id.
async fn entity(
    svc: &KeyManagerService,
    ctx: &AuthContext,
    kind: Kind,
    id: &str,
    action: &str,
    op: &str,
) -> KmResult<String> {
    let rule = format!("{}_acls:{action}", kind.name());
    match kind {
        Kind::Secret => Ok(svc.secret_for(ctx, id, &rule, op).await?.id),
        Kind::Container => Ok(svc.container_for(ctx, id, &rule, op).await?.id),
    }
}

async fn get(
    svc: &KeyManagerService,
    headers: &HeaderMap,
    kind: Kind,
    id: &str,
) -> KmResult<Response> {
    let op = kind.op("retrieval");
    let ctx = svc.authenticate(headers).await?;
    let id = entity(svc, &ctx, kind, id, "get", &op).await?;
    let acl = svc
        .store
        .acl_get(kind.name(), &id)
        .await
        .map_err(|e| KmError::internal(&op, e))?;
    let body = match acl {
        Some(a) => json!({"read": {
            "project-access": a.project_access,
            "users": a.users,
            "created": show_time(&a.created_at),
            "updated": show_time(&a.updated_at),
        }}),
        None => json!({"read": {"project-access": true}}),
    };
    Ok(reply(StatusCode::OK, body))
}

/// The `read` part of an ACL body: (users, project-access), each optional.
fn parse(
    headers: &HeaderMap,
    body: &[u8],
    op: &str,
) -> KmResult<(Option<Vec<String>>, Option<bool>)> {
    let m = json_body(headers, body)?;
    let inv = |reason: &str, prop: &str| KmError::invalid(op, "ACL", reason, prop);
    if let Some(k) = m.keys().find(|k| *k != "read") {
        return Err(inv(
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            k,
        ));
    }
    let Some(read) = m.get("read") else {
        return Ok((None, None));
    };
    let Value::Object(read) = read else {
        return Err(inv(&format!("{read} is not of type 'object'"), "read"));
    };
    if let Some(k) = read
        .keys()
        .find(|k| *k != "users" && *k != "project-access")
    {
        return Err(inv(
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            k,
        ));
    }
    let users = match read.get("users") {
        None => None,
        Some(Value::Array(a)) => {
            let mut out: Vec<String> = Vec::new();
            for u in a {
                match u {
                    Value::String(s) if !s.is_empty() => {
                        if !out.contains(s) {
                            out.push(s.clone());
                        }
                    }
                    other => return Err(inv(&format!("{other} is not of type 'string'"), "users")),
                }
            }
            Some(out)
        }
        Some(v) => return Err(inv(&format!("{v} is not of type 'array'"), "users")),
    };
    let project_access = match read.get("project-access") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(v) => {
            return Err(inv(
                &format!("{v} is not of type 'boolean'"),
                "project-access",
            ))
        }
    };
    Ok((users, project_access))
}

async fn set(
    svc: &KeyManagerService,
    headers: &HeaderMap,
    body: &[u8],
    kind: Kind,
    id: &str,
    merge: bool,
) -> KmResult<Response> {
    let op = kind.op("Update");
    let ctx = svc.authenticate(headers).await?;
    let id = entity(svc, &ctx, kind, id, "put_patch", &op).await?;
    let (users, access) = parse(headers, body, &op)?;
    let existing = svc
        .store
        .acl_get(kind.name(), &id)
        .await
        .map_err(|e| KmError::internal(&op, e))?;
    let at = now();
    let acl = match (merge, existing) {
        (true, Some(e)) => AclRow {
            project_access: access.unwrap_or(e.project_access),
            users: users.unwrap_or(e.users),
            created_at: e.created_at,
            updated_at: at,
        },
        (false, Some(e)) => AclRow {
            project_access: access.unwrap_or(true),
            users: users.unwrap_or_default(),
            created_at: e.created_at,
            updated_at: at,
        },
        (_, None) => AclRow {
            project_access: access.unwrap_or(true),
            users: users.unwrap_or_default(),
            created_at: at.clone(),
            updated_at: at,
        },
    };
    svc.store
        .acl_put(kind.name(), &id, &acl)
        .await
        .map_err(|e| KmError::internal(&op, e))?;
    let base = svc.base_url(headers);
    Ok(reply(
        StatusCode::OK,
        json!({"acl_ref": format!("{base}/v1/{}/{id}/acl", kind.plural())}),
    ))
}

async fn remove(
    svc: &KeyManagerService,
    headers: &HeaderMap,
    kind: Kind,
    id: &str,
) -> KmResult<StatusCode> {
    let op = kind.op("deletion");
    let ctx = svc.authenticate(headers).await?;
    let id = entity(svc, &ctx, kind, id, "delete", &op).await?;
    svc.store
        .acl_delete(kind.name(), &id)
        .await
        .map_err(|e| KmError::internal(&op, e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/secrets/{id}/acl`.
pub(super) async fn secret_get(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    get(&svc, &headers, Kind::Secret, &id).await
}
/// `PUT /v1/secrets/{id}/acl`.
pub(super) async fn secret_put(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    set(&svc, &headers, &body, Kind::Secret, &id, false).await
}
/// `PATCH /v1/secrets/{id}/acl`.
pub(super) async fn secret_patch(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    set(&svc, &headers, &body, Kind::Secret, &id, true).await
}
/// `DELETE /v1/secrets/{id}/acl`.
pub(super) async fn secret_delete(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    remove(&svc, &headers, Kind::Secret, &id).await
}
/// `GET /v1/containers/{id}/acl`.
pub(super) async fn container_get(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    get(&svc, &headers, Kind::Container, &id).await
}
/// `PUT /v1/containers/{id}/acl`.
pub(super) async fn container_put(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    set(&svc, &headers, &body, Kind::Container, &id, false).await
}
/// `PATCH /v1/containers/{id}/acl`.
pub(super) async fn container_patch(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<Response> {
    set(&svc, &headers, &body, Kind::Container, &id, true).await
}
/// `DELETE /v1/containers/{id}/acl`.
pub(super) async fn container_delete(
    State(svc): St,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    remove(&svc, &headers, Kind::Container, &id).await
}
