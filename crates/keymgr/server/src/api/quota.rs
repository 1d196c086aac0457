//! Quotas (`GET /v1/quotas`, the caller's effective quotas; default -1 = unlimited),
//! project quotas (`/v1/project-quotas[/{project_id}]`, admin only) and the
//! secret-store and transport-key endpoints, which a single-store Barbican answers
//! with 404 because multiple backends are not enabled.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rustack_keymgr_api::QUOTA_KINDS;
use serde_json::{json, Map, Value};

use super::secret::project_of;
use super::{json_body, page, paging, query_pairs, reply, St};
use crate::error::{KmError, KmResult};
use crate::store::QuotaRow;

fn quotas_json(q: &[i64; 5]) -> Value {
    let m: Map<String, Value> = QUOTA_KINDS
        .iter()
        .zip(q)
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    Value::Object(m)
}

/// Barbican's `_extract_project_quotas`: every kind, `null` where not set.
fn overrides_json(q: &QuotaRow) -> Value {
    let m: Map<String, Value> = QUOTA_KINDS
        .iter()
        .zip(q)
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    Value::Object(m)
}

/// `GET /v1/quotas`.
pub(super) async fn effective(State(svc): St, headers: HeaderMap) -> KmResult<Response> {
    const OP: &str = "Quotas";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "quotas:get", OP, json!({}))?;
    let project = project_of(&ctx, OP)?;
    let q = svc.effective_quotas(&project, OP).await?;
    Ok(reply(StatusCode::OK, json!({"quotas": quotas_json(&q)})))
}

/// `GET /v1/project-quotas`.
pub(super) async fn list(
    State(svc): St,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Project Quotas";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "project_quotas:get", OP, json!({}))?;
    let params = query_pairs(q.as_deref());
    let items: Vec<Value> = svc
        .store
        .quota_list()
        .await
        .map_err(|e| KmError::internal(OP, e))?
        .iter()
        .map(|(p, q)| json!({"project_id": p, "project_quotas": overrides_json(q)}))
        .collect();
    let (offset, limit) = paging(&params);
    let base = svc.base_url(&headers);
    Ok(reply(
        StatusCode::OK,
        page(
            &base,
            // Barbican's next/previous links say `project_quotas`.
            "project_quotas",
            "project_quotas",
            items,
            offset,
            limit,
            &params,
        ),
    ))
}

/// `GET /v1/project-quotas/{project_id}`.
pub(super) async fn show(
    State(svc): St,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> KmResult<Response> {
    const OP: &str = "Project Quotas";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "project_quotas:get", OP, json!({}))?;
    match svc
        .store
        .quota_get(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        Some(q) => Ok(reply(
            StatusCode::OK,
            json!({"project_quotas": overrides_json(&q)}),
        )),
        None => Err(KmError::not_found("Project quotas not found.")),
    }
}

/// `PUT /v1/project-quotas/{project_id}` `{"project_quotas": {...}}`: 204.
pub(super) async fn set(
    State(svc): St,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> KmResult<StatusCode> {
    const OP: &str = "Project Quotas";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "project_quotas:put", OP, json!({}))?;
    if body.is_empty() {
        return Err(KmError::issue(400, OP, "No data supplied to process."));
    }
    let m = json_body(&headers, &body)?;
    let inv = |reason: &str, prop: &str| KmError::invalid(OP, "Project Quotas", reason, prop);
    let Some(Value::Object(q)) = m.get("project_quotas") else {
        return Err(inv(
            "'project_quotas' is a required property",
            "project_quotas",
        ));
    };
    if let Some(k) = q.keys().find(|k| !QUOTA_KINDS.contains(&k.as_str())) {
        return Err(inv(
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            k,
        ));
    }
    let mut row: QuotaRow = [None; 5];
    for (i, kind) in QUOTA_KINDS.iter().enumerate() {
        match q.get(*kind) {
            None => {}
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v >= -1) => row[i] = n.as_i64(),
            Some(v) => {
                return Err(inv(
                    &format!("{v} is not a valid quota (an integer >= -1)"),
                    kind,
                ))
            }
        }
    }
    svc.store
        .quota_put(&project, &row)
        .await
        .map_err(|e| KmError::internal(OP, e))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/project-quotas/{project_id}`: 204.
pub(super) async fn remove(
    State(svc): St,
    Path(project): Path<String>,
    headers: HeaderMap,
) -> KmResult<StatusCode> {
    const OP: &str = "Project Quotas";
    let ctx = svc.authenticate(&headers).await?;
    svc.authorize(&ctx, "project_quotas:delete", OP, json!({}))?;
    if !svc
        .store
        .quota_delete(&project)
        .await
        .map_err(|e| KmError::internal(OP, e))?
    {
        return Err(KmError::not_found("Project quotas not found."));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Every `/v1/secret-stores` and `/v1/transport_keys` call: authenticated, then 404
/// as a Barbican without multiple backends.
pub(super) async fn stores(State(svc): St, headers: HeaderMap) -> KmResult<Response> {
    svc.authenticate(&headers).await?;
    Err(KmError::not_found(
        "Not Found. Multiple backends support is not enabled in service configuration.",
    ))
}
