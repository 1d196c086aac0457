//! Policies (`/v3/policies`), their OS-ENDPOINT-POLICY associations, and OAuth1
//! consumers (`/v3/OS-OAUTH1/consumers`). Keystone stores policy blobs for other
//! services to fetch and never enforces them; rustack does the same.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use rustack_common::Error;
use serde_json::{json, Value};

use super::{body_obj, list, self_link, with_extra, ApiResult, Fields, St, Q};
use crate::store::catalog::Endpoint;
use crate::store::policy::{Consumer, Policy};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/policies", get(policy_list).post(policy_create))
        .route(
            "/v3/policies/{id}",
            get(policy_show).patch(policy_update).delete(policy_delete),
        )
        .route(
            "/v3/policies/{id}/OS-ENDPOINT-POLICY/endpoints",
            get(policy_endpoints),
        )
        .route(
            "/v3/policies/{id}/OS-ENDPOINT-POLICY/endpoints/{eid}",
            get(assoc_endpoint_check)
                .head(assoc_endpoint_check)
                .put(assoc_endpoint_create)
                .delete(assoc_endpoint_delete),
        )
        .route(
            "/v3/policies/{id}/OS-ENDPOINT-POLICY/services/{sid}",
            get(assoc_service_check)
                .head(assoc_service_check)
                .put(assoc_service_create)
                .delete(assoc_service_delete),
        )
        .route(
            "/v3/policies/{id}/OS-ENDPOINT-POLICY/services/{sid}/regions/{rid}",
            get(assoc_region_check)
                .head(assoc_region_check)
                .put(assoc_region_create)
                .delete(assoc_region_delete),
        )
        .route(
            "/v3/endpoints/{eid}/OS-ENDPOINT-POLICY/policy",
            get(endpoint_policy).head(endpoint_policy),
        )
        .route(
            "/v3/OS-OAUTH1/consumers",
            get(consumer_list).post(consumer_create),
        )
        .route(
            "/v3/OS-OAUTH1/consumers/{id}",
            get(consumer_show)
                .patch(consumer_update)
                .delete(consumer_delete),
        )
}

fn policy_json(h: &HeaderMap, p: &Policy) -> Value {
    with_extra(
        json!({"id": p.id, "type": p.policy_type, "blob": p.blob,
               "links": self_link(h, &format!("policies/{}", p.id))}),
        &p.extra,
    )
}

async fn policy_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_policies", &json!({}))?;
    let items = st
        .store
        .policy_list()
        .await?
        .iter()
        .filter(|p| q.get("type").is_none_or(|t| *t == p.policy_type))
        .map(|p| policy_json(&headers, p))
        .collect();
    Ok(Json(list(&headers, "policies", "policies", items)))
}

async fn policy_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_policy", &json!({}))?;
    let mut f = Fields(body_obj(&body, "policy")?);
    f.drop_readonly();
    f.0.remove("id");
    let p = Policy {
        id: rustack_common::new_hex_id(),
        blob: f.req_str("blob", usize::MAX)?,
        policy_type: f.req_str("type", 255)?,
        extra: f.0,
    };
    st.store.policy_create(&p).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"policy": policy_json(&headers, &p)})),
    ))
}

async fn policy_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_policy", &json!({}))?;
    let p = st.store.policy_require(&id).await?;
    Ok(Json(json!({"policy": policy_json(&headers, &p)})))
}

async fn policy_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:update_policy", &json!({}))?;
    let mut p = st.store.policy_require(&id).await?;
    let mut f = Fields(body_obj(&body, "policy")?);
    f.drop_readonly();
    if let Some(v) = f.0.remove("id") {
        if v != json!(id) {
            return Err(Error::bad_request("Cannot change policy ID").into());
        }
    }
    if let Some(b) = f.opt_str("blob", usize::MAX)? {
        p.blob = b;
    }
    if let Some(t) = f.opt_str("type", 255)? {
        p.policy_type = t;
    }
    p.extra.extend(f.0);
    st.store.policy_update(&p).await?;
    Ok(Json(json!({"policy": policy_json(&headers, &p)})))
}

async fn policy_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_policy", &json!({}))?;
    st.store.policy_require(&id).await?;
    st.store.policy_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The association slot a request names: `(endpoint_id, service_id, region_id)`,
/// empty for the parts a route does not carry.
type Slot = (String, String, String);

/// Checks policy `action`, then that the policy and everything the slot names exist.
async fn slot_checked(
    st: &Identity,
    headers: &HeaderMap,
    action: &str,
    policy_id: &str,
    slot: &Slot,
) -> Result<(), Error> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, action, &json!({}))?;
    st.store.policy_require(policy_id).await?;
    let (e, s, r) = slot;
    if !e.is_empty() {
        st.store.endpoint_require(e).await?;
    }
    if !s.is_empty() {
        st.store.service_require(s).await?;
    }
    if !r.is_empty() {
        st.store.region_require(r).await?;
    }
    Ok(())
}

async fn assoc_put(
    st: &Identity,
    h: &HeaderMap,
    action: &str,
    pid: &str,
    slot: Slot,
) -> ApiResult<StatusCode> {
    slot_checked(st, h, action, pid, &slot).await?;
    st.store
        .policy_association_set(pid, &slot.0, &slot.1, &slot.2)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn assoc_get(
    st: &Identity,
    h: &HeaderMap,
    action: &str,
    pid: &str,
    slot: Slot,
) -> ApiResult<StatusCode> {
    slot_checked(st, h, action, pid, &slot).await?;
    if st
        .store
        .policy_association_check(pid, &slot.0, &slot.1, &slot.2)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("Could not find policy association: policy {pid}.")).into())
    }
}

async fn assoc_del(
    st: &Identity,
    h: &HeaderMap,
    action: &str,
    pid: &str,
    slot: Slot,
) -> ApiResult<StatusCode> {
    slot_checked(st, h, action, pid, &slot).await?;
    if st
        .store
        .policy_association_delete(pid, &slot.0, &slot.1, &slot.2)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!("Could not find policy association: policy {pid}.")).into())
    }
}

fn e_slot(e: String) -> Slot {
    (e, String::new(), String::new())
}

fn s_slot(s: String) -> Slot {
    (String::new(), s, String::new())
}

async fn assoc_endpoint_create(
    st: St,
    h: HeaderMap,
    Path((id, e)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assoc_put(
        &st,
        &h,
        "identity:create_policy_association_for_endpoint",
        &id,
        e_slot(e),
    )
    .await
}

async fn assoc_endpoint_check(
    st: St,
    h: HeaderMap,
    Path((id, e)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assoc_get(
        &st,
        &h,
        "identity:check_policy_association_for_endpoint",
        &id,
        e_slot(e),
    )
    .await
}

async fn assoc_endpoint_delete(
    st: St,
    h: HeaderMap,
    Path((id, e)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assoc_del(
        &st,
        &h,
        "identity:delete_policy_association_for_endpoint",
        &id,
        e_slot(e),
    )
    .await
}

async fn assoc_service_create(
    st: St,
    h: HeaderMap,
    Path((id, s)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assoc_put(
        &st,
        &h,
        "identity:create_policy_association_for_service",
        &id,
        s_slot(s),
    )
    .await
}

async fn assoc_service_check(
    st: St,
    h: HeaderMap,
    Path((id, s)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assoc_get(
        &st,
        &h,
        "identity:check_policy_association_for_service",
        &id,
        s_slot(s),
    )
    .await
}

async fn assoc_service_delete(
    st: St,
    h: HeaderMap,
    Path((id, s)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    assoc_del(
        &st,
        &h,
        "identity:delete_policy_association_for_service",
        &id,
        s_slot(s),
    )
    .await
}

async fn assoc_region_create(
    st: St,
    h: HeaderMap,
    Path((id, s, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    assoc_put(
        &st,
        &h,
        "identity:create_policy_association_for_region_and_service",
        &id,
        (String::new(), s, r),
    )
    .await
}

async fn assoc_region_check(
    st: St,
    h: HeaderMap,
    Path((id, s, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    assoc_get(
        &st,
        &h,
        "identity:check_policy_association_for_region_and_service",
        &id,
        (String::new(), s, r),
    )
    .await
}

async fn assoc_region_delete(
    st: St,
    h: HeaderMap,
    Path((id, s, r)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    assoc_del(
        &st,
        &h,
        "identity:delete_policy_association_for_region_and_service",
        &id,
        (String::new(), s, r),
    )
    .await
}

/// The policy in force for `e` as Keystone resolves it: an association with the
/// endpoint itself, else with its service in its region or a parent region (nearest
/// first), else with its service alone.
async fn effective_policy(st: &Identity, e: &Endpoint) -> Result<Option<String>, Error> {
    let assocs = st.store.policy_association_list().await?;
    if let Some(a) = assocs.iter().find(|a| a.1 == e.id) {
        return Ok(Some(a.0.clone()));
    }
    let mut region = e.region_id.clone();
    let mut seen = 0;
    while let Some(r) = region {
        if let Some(a) = assocs
            .iter()
            .find(|a| a.1.is_empty() && a.2 == e.service_id && a.3 == r)
        {
            return Ok(Some(a.0.clone()));
        }
        // A region loop cannot be created through the API; the bound is a guard.
        seen += 1;
        if seen > 64 {
            break;
        }
        region = st
            .store
            .region_get(&r)
            .await?
            .and_then(|x| x.parent_region_id);
    }
    Ok(assocs
        .iter()
        .find(|a| a.1.is_empty() && a.2 == e.service_id && a.3.is_empty())
        .map(|a| a.0.clone()))
}

async fn endpoint_policy(
    st: St,
    headers: HeaderMap,
    Path(eid): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_policy_for_endpoint", &json!({}))?;
    let e = st.store.endpoint_require(&eid).await?;
    let pid = effective_policy(&st, &e)
        .await?
        .ok_or_else(|| Error::not_found(format!("No policy is associated with endpoint {eid}.")))?;
    let p = st.store.policy_require(&pid).await?;
    Ok(Json(json!({"policy": policy_json(&headers, &p)})))
}

async fn policy_endpoints(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_endpoints_for_policy", &json!({}))?;
    st.store.policy_require(&id).await?;
    let mut items = vec![];
    for e in st.store.endpoint_list().await? {
        if effective_policy(&st, &e).await?.as_deref() == Some(id.as_str()) {
            items.push(super::catalog::endpoint_json(&headers, &e));
        }
    }
    Ok(Json(list(
        &headers,
        "endpoints",
        &format!("policies/{id}/OS-ENDPOINT-POLICY/endpoints"),
        items,
    )))
}

fn consumer_json(h: &HeaderMap, c: &Consumer) -> Value {
    with_extra(
        json!({"id": c.id, "description": c.description,
               "links": self_link(h, &format!("OS-OAUTH1/consumers/{}", c.id))}),
        &c.extra,
    )
}

async fn consumer_list(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_consumers", &json!({}))?;
    let items = st
        .store
        .consumer_list()
        .await?
        .iter()
        .map(|c| consumer_json(&headers, c))
        .collect();
    Ok(Json(list(
        &headers,
        "consumers",
        "OS-OAUTH1/consumers",
        items,
    )))
}

async fn consumer_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_consumer", &json!({}))?;
    let mut f = Fields(body_obj(&body, "consumer")?);
    f.drop_readonly();
    f.0.remove("id");
    f.0.remove("secret");
    let description = f.opt_str("description", 65535)?;
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
    let c = Consumer {
        id: rustack_common::new_hex_id(),
        description,
        secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw),
        extra: f.0,
    };
    st.store.consumer_create(&c).await?;
    let mut v = consumer_json(&headers, &c);
    v["secret"] = json!(c.secret);
    Ok((StatusCode::CREATED, Json(json!({"consumer": v}))))
}

async fn consumer_show(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_consumer", &json!({}))?;
    let c = st.store.consumer_require(&id).await?;
    Ok(Json(json!({"consumer": consumer_json(&headers, &c)})))
}

async fn consumer_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:update_consumer", &json!({}))?;
    let mut f = Fields(body_obj(&body, "consumer")?);
    f.drop_readonly();
    if f.0.is_empty() {
        return Err(Error::bad_request(
            "Invalid input for field 'consumer': {} does not have enough properties",
        )
        .into());
    }
    if f.0.contains_key("secret") {
        return Err(Error::bad_request(
            "Invalid input for field 'consumer': the secret of a consumer cannot be updated",
        )
        .into());
    }
    if let Some(v) = f.0.remove("id") {
        if v != json!(id) {
            return Err(Error::bad_request("Cannot change consumer ID").into());
        }
    }
    let mut c = st.store.consumer_require(&id).await?;
    if f.0.contains_key("description") {
        c.description = f.opt_str("description", 65535)?;
    }
    c.extra.extend(f.0);
    st.store.consumer_update(&c).await?;
    Ok(Json(json!({"consumer": consumer_json(&headers, &c)})))
}

async fn consumer_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_consumer", &json!({}))?;
    st.store.consumer_require(&id).await?;
    st.store.consumer_delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
