//! The service catalog: `/v3/regions`, `/v3/services`, `/v3/endpoints`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Value};

use super::{body_obj, bool_filter, list, self_link, with_extra, ApiResult, Fields, St, Q};
use crate::store::catalog::{Endpoint, Region, Service};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/regions", get(region_list).post(region_create))
        .route(
            "/v3/regions/{id}",
            get(region_show)
                .patch(region_update)
                .delete(region_delete)
                .put(region_put),
        )
        .route("/v3/services", get(service_list).post(service_create))
        .route(
            "/v3/services/{id}",
            get(service_show)
                .patch(service_update)
                .delete(service_delete),
        )
        .route("/v3/endpoints", get(endpoint_list).post(endpoint_create))
        .route(
            "/v3/endpoints/{id}",
            get(endpoint_show)
                .patch(endpoint_update)
                .delete(endpoint_delete),
        )
}

const INTERFACES: &[&str] = &["public", "internal", "admin"];

fn region_json(h: &HeaderMap, r: &Region) -> Value {
    with_extra(
        json!({"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
                      "links": self_link(h, &format!("regions/{}", r.id))}),
        &r.extra,
    )
}

fn service_json(h: &HeaderMap, s: &Service) -> Value {
    with_extra(
        json!({"id": s.id, "type": s.service_type, "enabled": s.enabled,
                      "links": self_link(h, &format!("services/{}", s.id))}),
        &s.extra,
    )
}

pub(super) fn endpoint_json(h: &HeaderMap, e: &Endpoint) -> Value {
    with_extra(
        json!({"id": e.id, "interface": e.interface, "region": e.region_id, "region_id": e.region_id,
                      "service_id": e.service_id, "url": e.url, "enabled": e.enabled,
                      "links": self_link(h, &format!("endpoints/{}", e.id))}),
        &e.extra,
    )
}

async fn region_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_regions", &json!({}))?;
    let items = st
        .store
        .region_list()
        .await?
        .iter()
        .filter(|r| {
            q.get("parent_region_id")
                .is_none_or(|p| r.parent_region_id.as_deref() == Some(p.as_str()))
        })
        .map(|r| region_json(&headers, r))
        .collect();
    Ok(Json(list(&headers, "regions", "regions", items)))
}

async fn make_region(
    st: &Identity,
    headers: &HeaderMap,
    id: Option<String>,
    body: &[u8],
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, "identity:create_region", &json!({}))?;
    let mut f = Fields(body_obj(body, "region")?);
    f.drop_readonly();
    let body_id = f.opt_str("id", 255)?;
    if let (Some(a), Some(b)) = (&id, &body_id) {
        if a != b {
            return Err(Error::bad_request(
                "Conflicting region IDs specified: the URL and the body differ.",
            )
            .into());
        }
    }
    let parent = f.opt_str("parent_region_id", 255)?;
    if let Some(p) = &parent {
        st.store
            .region_get(p)
            .await?
            .ok_or_else(|| Error::not_found(format!("Could not find region: {p}.")))?;
    }
    let r = Region {
        id: id.or(body_id).unwrap_or_else(rustack_common::new_hex_id),
        description: f.opt_str("description", 255)?.unwrap_or_default(),
        parent_region_id: parent,
        extra: f.0,
    };
    st.store.region_create(&r).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"region": region_json(headers, &r)})),
    ))
}

async fn region_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    make_region(&st, &headers, None, &body).await
}

async fn region_put(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    make_region(&st, &headers, Some(id), &body).await
}

async fn region_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_region", &json!({}))?;
    Ok(Json(
        json!({"region": region_json(&headers, &st.store.region_require(&id).await?)}),
    ))
}

async fn region_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:update_region", &json!({}))?;
    let mut r = st.store.region_require(&id).await?;
    let mut f = Fields(body_obj(&body, "region")?);
    f.drop_readonly();
    f.0.remove("id");
    if let Some(d) = f.opt_str("description", 255)? {
        r.description = d;
    }
    if f.0.contains_key("parent_region_id") {
        let p = f.opt_str("parent_region_id", 255)?;
        if let Some(p) = &p {
            if *p == id {
                return Err(Error::bad_request("A region cannot be its own parent.").into());
            }
            st.store.region_require(p).await?;
        }
        r.parent_region_id = p;
    }
    r.extra.extend(f.0);
    st.store.region_update(&r).await?;
    st.bump();
    Ok(Json(json!({"region": region_json(&headers, &r)})))
}

async fn region_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_region", &json!({}))?;
    st.store.region_require(&id).await?;
    st.store.region_delete(&id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn service_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_services", &json!({}))?;
    let items = st
        .store
        .service_list()
        .await?
        .iter()
        .filter(|s| {
            q.get("type").is_none_or(|t| *t == s.service_type)
                && q.get("name")
                    .is_none_or(|n| s.extra.get("name") == Some(&json!(n)))
        })
        .map(|s| service_json(&headers, s))
        .collect();
    Ok(Json(list(&headers, "services", "services", items)))
}

async fn service_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_service", &json!({}))?;
    let mut f = Fields(body_obj(&body, "service")?);
    f.drop_readonly();
    f.0.remove("id");
    let service_type = f.req_str("type", 255)?;
    let enabled = f.opt_bool("enabled")?.unwrap_or(true);
    if let Some(n) = f.0.get("name") {
        if !n.is_string() {
            return Err(Error::bad_request(
                "Invalid input for field 'name': it is not of type 'string'",
            )
            .into());
        }
    }
    let s = Service {
        id: rustack_common::new_hex_id(),
        service_type,
        enabled,
        extra: f.0,
    };
    st.store.service_create(&s).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"service": service_json(&headers, &s)})),
    ))
}

async fn service_show(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_service", &json!({}))?;
    Ok(Json(
        json!({"service": service_json(&headers, &st.store.service_require(&id).await?)}),
    ))
}

async fn service_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:update_service", &json!({}))?;
    let mut s = st.store.service_require(&id).await?;
    let mut f = Fields(body_obj(&body, "service")?);
    f.drop_readonly();
    f.0.remove("id");
    if let Some(t) = f.opt_str("type", 255)? {
        s.service_type = t;
    }
    if let Some(e) = f.opt_bool("enabled")? {
        s.enabled = e;
    }
    s.extra.extend(f.0);
    st.store.service_update(&s).await?;
    st.bump();
    Ok(Json(json!({"service": service_json(&headers, &s)})))
}

async fn service_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_service", &json!({}))?;
    st.store.service_require(&id).await?;
    st.store.service_delete(&id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn endpoint_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_endpoints", &json!({}))?;
    let enabled = bool_filter(&q, "enabled");
    let items = st
        .store
        .endpoint_list()
        .await?
        .iter()
        .filter(|e| {
            q.get("interface").is_none_or(|i| *i == e.interface)
                && q.get("service_id").is_none_or(|s| *s == e.service_id)
                && q.get("region_id")
                    .is_none_or(|r| e.region_id.as_deref() == Some(r.as_str()))
                && enabled.is_none_or(|x| x == e.enabled)
        })
        .map(|e| endpoint_json(&headers, e))
        .collect();
    Ok(Json(list(&headers, "endpoints", "endpoints", items)))
}

fn check_url(url: &str) -> Result<(), Error> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "Invalid input for field 'url': '{url}' is not a valid URL"
        )))
    }
}

fn check_interface(i: &str) -> Result<(), Error> {
    if INTERFACES.contains(&i) {
        Ok(())
    } else {
        Err(Error::bad_request(format!("Invalid input for field 'interface': '{i}' is not one of ['admin', 'internal', 'public']")))
    }
}

/// Keystone creates a region an endpoint names if it does not exist yet (the legacy
/// `region` attribute's behaviour, kept for `region_id` too).
async fn ensure_region(st: &Identity, id: &str) -> Result<(), Error> {
    if st.store.region_get(id).await?.is_none() {
        st.store
            .region_create(&Region {
                id: id.to_string(),
                description: String::new(),
                parent_region_id: None,
                extra: Default::default(),
            })
            .await?;
    }
    Ok(())
}

async fn endpoint_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_endpoint", &json!({}))?;
    let mut f = Fields(body_obj(&body, "endpoint")?);
    f.drop_readonly();
    f.0.remove("id");
    let interface = f.req_str("interface", 8)?;
    check_interface(&interface)?;
    let url = f.req_str("url", 225)?;
    check_url(&url)?;
    let service_id = f.req_str("service_id", 64)?;
    st.store
        .service_require(&service_id)
        .await
        .map_err(|_| Error::bad_request(format!("Could not find service: {service_id}.")))?;
    let region_id = match (f.opt_str("region_id", 255)?, f.opt_str("region", 255)?) {
        (Some(r), _) | (None, Some(r)) => Some(r),
        _ => None,
    };
    if let Some(r) = &region_id {
        ensure_region(&st, r).await?;
    }
    let e = Endpoint {
        id: rustack_common::new_hex_id(),
        interface,
        service_id,
        region_id,
        url,
        enabled: f.opt_bool("enabled")?.unwrap_or(true),
        extra: f.0,
    };
    st.store.endpoint_create(&e).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"endpoint": endpoint_json(&headers, &e)})),
    ))
}

async fn endpoint_show(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_endpoint", &json!({}))?;
    Ok(Json(
        json!({"endpoint": endpoint_json(&headers, &st.store.endpoint_require(&id).await?)}),
    ))
}

async fn endpoint_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:update_endpoint", &json!({}))?;
    let mut e = st.store.endpoint_require(&id).await?;
    let mut f = Fields(body_obj(&body, "endpoint")?);
    f.drop_readonly();
    f.0.remove("id");
    if let Some(i) = f.opt_str("interface", 8)? {
        check_interface(&i)?;
        e.interface = i;
    }
    if let Some(u) = f.opt_str("url", 225)? {
        check_url(&u)?;
        e.url = u;
    }
    if let Some(s) = f.opt_str("service_id", 64)? {
        st.store
            .service_require(&s)
            .await
            .map_err(|_| Error::bad_request(format!("Could not find service: {s}.")))?;
        e.service_id = s;
    }
    if let Some(r) = f.opt_str("region_id", 255)?.or(f.opt_str("region", 255)?) {
        ensure_region(&st, &r).await?;
        e.region_id = Some(r);
    }
    if let Some(x) = f.opt_bool("enabled")? {
        e.enabled = x;
    }
    e.extra.extend(f.0);
    st.store.endpoint_update(&e).await?;
    st.bump();
    Ok(Json(json!({"endpoint": endpoint_json(&headers, &e)})))
}

async fn endpoint_delete(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_endpoint", &json!({}))?;
    st.store.endpoint_require(&id).await?;
    st.store.endpoint_delete(&id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}
