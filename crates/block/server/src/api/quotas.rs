//! Quota sets (`/os-quota-sets/{project}`, `/defaults`, `?usage=true`) and quota
//! classes (`/os-quota-class-sets/{class}`; only the `default` class affects limits,
//! as in Cinder). Quotas are enforced on volume and snapshot create and on extend.

use axum::extract::{Path, RawQuery};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::{begin, body_obj, ok, query_pairs, St, UrlProject, Version};
use crate::error::{bad, BResult};
use crate::model::Limits;
use crate::ops;
use crate::store::Kind;

type V = Option<Extension<Version>>;
type P = Option<Extension<UrlProject>>;

/// `GET /os-quota-sets/{project}` (`?usage=true`).
pub async fn show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:quotas:show", Some(&project))?;
    let usage = query_pairs(raw.as_deref()).iter().any(|(k, v)| {
        k == "usage" && matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "t")
    });
    let limits = ops::effective_limits(&svc, &project).await?;
    let used = ops::usage(&svc, &project).await?;
    let mut qs = Map::new();
    qs.insert("id".into(), json!(project));
    for (k, lim) in &limits {
        if usage {
            qs.insert(
                k.clone(),
                json!({"limit": lim, "in_use": used.get(k).copied().unwrap_or(0), "reserved": 0, "allocated": 0}),
            );
        } else {
            qs.insert(k.clone(), json!(lim));
        }
    }
    Ok(ok(json!({"quota_set": qs})))
}

/// `GET /os-quota-sets/{project}/defaults`.
pub async fn defaults(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:quotas:show", Some(&project))?;
    let mut base = ops::class_limits(&svc).await?;
    base.insert("id".into(), 0);
    let mut qs: Map<String, Value> = base.into_iter().map(|(k, v)| (k, json!(v))).collect();
    qs.insert("id".into(), json!(project));
    Ok(ok(json!({"quota_set": qs})))
}

fn parse_limits(req: &Map<String, Value>, known: &[String]) -> BResult<Vec<(String, i64)>> {
    let mut out = vec![];
    for (k, v) in req {
        if k == "tenant_id" || k == "id" || k == "class_name" {
            continue;
        }
        if !known.contains(k) {
            return Err(bad(format!("Bad key(s) in quota set: {k}")));
        }
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| bad(format!("Quota {k} must be an integer, got {v}.")))?;
        if n < -1 {
            return Err(bad(format!(
                "Quota limit {n} for {k} must be greater than or equal to -1."
            )));
        }
        out.push((k.clone(), n));
    }
    Ok(out)
}

/// `PUT /os-quota-sets/{project}`.
pub async fn update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:quotas:update", Some(&project))?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("quota_set") else {
        return Err(bad("Missing required element 'quota_set' in request body."));
    };
    let _g = svc.write_lock.lock().await;
    let current = ops::effective_limits(&svc, &project).await?;
    let known: Vec<String> = current.keys().cloned().collect();
    let changes = parse_limits(req, &known)?;
    let used = ops::usage(&svc, &project).await?;
    for (k, n) in &changes {
        let u = used.get(k).copied().unwrap_or(0);
        if *n >= 0 && k != "per_volume_gigabytes" && *n < u {
            return Err(bad(format!("Quota limit {n} for {k} must be greater than or equal to already used and reserved {u}.")));
        }
    }
    let mut l: Limits = svc
        .store
        .get(Kind::Quota, &project)
        .await?
        .unwrap_or_default();
    for (k, n) in changes {
        l.limits.insert(k, n);
    }
    svc.store.put(Kind::Quota, &project, &project, &l).await?;
    let limits = ops::effective_limits(&svc, &project).await?;
    Ok(ok(json!({"quota_set": limits})))
}

/// `DELETE /os-quota-sets/{project}` (back to the defaults).
pub async fn delete(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(project): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:quotas:delete", Some(&project))?;
    let _g = svc.write_lock.lock().await;
    svc.store.delete(Kind::Quota, &project).await?;
    Ok(axum::response::IntoResponse::into_response(
        axum::http::StatusCode::OK,
    ))
}

/// `GET /os-quota-class-sets/{class}`.
pub async fn class_show(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(class): Path<String>,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:quota_classes:get", None)?;
    let mut l = ops::class_limits(&svc).await?;
    if class != "default" {
        if let Some(own) = svc.store.get::<Limits>(Kind::QuotaClass, &class).await? {
            l.extend(own.limits);
        }
    }
    let mut qs: Map<String, Value> = l.into_iter().map(|(k, v)| (k, json!(v))).collect();
    qs.insert("id".into(), json!(class));
    Ok(ok(json!({"quota_class_set": qs})))
}

/// `PUT /os-quota-class-sets/{class}`.
pub async fn class_update(
    axum::extract::State(svc): St,
    headers: HeaderMap,
    v: V,
    p: P,
    Path(class): Path<String>,
    bytes: axum::body::Bytes,
) -> BResult<Response> {
    let c = begin(&svc, &headers, v, p).await?;
    svc.authorize(&c.ctx, "volume_extension:quota_classes:update", None)?;
    let b = body_obj(&bytes)?;
    let Some(Value::Object(req)) = b.get("quota_class_set") else {
        return Err(bad(
            "Missing required element 'quota_class_set' in request body.",
        ));
    };
    let _g = svc.write_lock.lock().await;
    let known: Vec<String> = ops::class_limits(&svc).await?.keys().cloned().collect();
    let changes = parse_limits(req, &known)?;
    let mut l: Limits = svc
        .store
        .get(Kind::QuotaClass, &class)
        .await?
        .unwrap_or_default();
    for (k, n) in changes {
        l.limits.insert(k, n);
    }
    svc.store.put(Kind::QuotaClass, &class, "", &l).await?;
    let mut eff = ops::class_limits(&svc).await?;
    eff.extend(l.limits);
    Ok(ok(json!({"quota_class_set": eff})))
}
