//! OS-TRUST (`/v3/OS-TRUST/trusts`): a trustor delegates some of its roles on a
//! project to a trustee. The trusts are stored, listed and shown as Keystone does;
//! authenticating with a trust (`OS-TRUST:trust` scope) is refused (see
//! docs/api-compat.md).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Value};

use super::roles::role_json;
use super::{body_obj, list, self_link, ApiResult, Fields, St, Q};
use crate::store::assignment::Target;
use crate::store::trust::Trust;
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/OS-TRUST/trusts", get(trust_list).post(trust_create))
        // Tempest's trusts client lists with a trailing slash; Keystone accepts both.
        .route("/v3/OS-TRUST/trusts/", get(trust_list))
        .route(
            "/v3/OS-TRUST/trusts/{id}",
            get(trust_show).head(trust_show).delete(trust_delete),
        )
        .route(
            "/v3/OS-TRUST/trusts/{id}/roles",
            get(trust_roles).head(trust_roles),
        )
        .route(
            "/v3/OS-TRUST/trusts/{id}/roles/{rid}",
            get(trust_role).head(trust_role),
        )
}

fn trust_target(t: &Trust) -> Value {
    json!({"target": {"trust": {"id": t.id, "trustor_user_id": t.trustor_user_id,
                                 "trustee_user_id": t.trustee_user_id, "project_id": t.project_id}}})
}

/// A trust as Keystone renders it; `roles` (full role objects) only when `full`.
async fn trust_json(st: &Identity, h: &HeaderMap, t: &Trust, full: bool) -> Result<Value, Error> {
    let mut v = json!({
        "id": t.id, "trustor_user_id": t.trustor_user_id, "trustee_user_id": t.trustee_user_id,
        "project_id": t.project_id, "impersonation": t.impersonation, "expires_at": t.expires_at,
        "remaining_uses": t.remaining_uses, "allow_redelegation": false,
        "redelegated_trust_id": Value::Null, "redelegation_count": 0,
        "links": self_link(h, &format!("OS-TRUST/trusts/{}", t.id)),
    });
    if full {
        let mut roles = vec![];
        for r in &t.roles {
            if let Ok(role) = st.store.role_require(r).await {
                roles.push(role_json(h, &role));
            }
        }
        v["roles"] = Value::Array(roles);
        v["roles_links"] = json!({"self": format!("{}/v3/OS-TRUST/trusts/{}/roles", super::base_url(h), t.id), "next": null, "previous": null});
    }
    Ok(v)
}

fn no_app_creds(ctx: &rustack_api_common::AuthContext) -> Result<(), Error> {
    if ctx.application_credential_id.is_some() {
        return Err(Error::forbidden(
            "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing trusts.",
        ));
    }
    Ok(())
}

async fn trust_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let trustor = q.get("trustor_user_id").cloned();
    let trustee = q.get("trustee_user_id").cloned();
    match (&trustor, &trustee) {
        (Some(u), _) => st.authorize(
            &ctx,
            "identity:list_trusts_for_trustor",
            &json!({"target": {"trust": {"trustor_user_id": u}}}),
        )?,
        (None, Some(u)) => st.authorize(
            &ctx,
            "identity:list_trusts_for_trustee",
            &json!({"target": {"trust": {"trustee_user_id": u}}}),
        )?,
        (None, None) => st.authorize(&ctx, "identity:list_trusts", &json!({}))?,
    }
    no_app_creds(&ctx)?;
    let mut items = vec![];
    for t in st.store.trust_list().await? {
        let keep = match (&trustor, &trustee) {
            (Some(u), _) => t.trustor_user_id == *u,
            (None, Some(u)) => t.trustee_user_id == *u,
            (None, None) => true,
        };
        if keep {
            items.push(trust_json(&st, &headers, &t, false).await?);
        }
    }
    Ok(Json(list(&headers, "trusts", "OS-TRUST/trusts", items)))
}

async fn trust_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    let mut f = Fields(body_obj(&body, "trust")?);
    f.drop_readonly();
    f.0.remove("id");
    let trustor = f.req_str("trustor_user_id", 64)?;
    let trustee = f.req_str("trustee_user_id", 64)?;
    let project_id = f.opt_str("project_id", 64)?;
    st.authorize(
        &ctx,
        "identity:create_trust",
        &json!({"target": {"trust": {"trustor_user_id": trustor, "trustee_user_id": trustee, "project_id": project_id}}}),
    )?;
    no_app_creds(&ctx)?;
    let impersonation = f
        .opt_bool("impersonation")?
        .ok_or_else(|| Error::bad_request("'impersonation' is a required property"))?;
    let expires_at = match f.opt_str("expires_at", 64)? {
        None => None,
        Some(e) => {
            let t = rustack_common::time::parse_iso(&e).ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input for field 'expires_at': '{e}' is not a valid date-time"
                ))
            })?;
            if t <= chrono::Utc::now() {
                return Err(Error::bad_request(
                    "The expiration date of a trust must be in the future.",
                )
                .into());
            }
            Some(rustack_common::time::isotime_micro(t))
        }
    };
    let remaining_uses = match f.0.remove("remaining_uses") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some_and(|x| x > 0) => n.as_i64(),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'remaining_uses': {other} is not a positive integer"
            ))
            .into())
        }
    };
    let requested = match f.0.remove("roles") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'roles': {other} is not of type 'array'"
            ))
            .into())
        }
    };
    if project_id.is_some() && requested.is_empty() {
        return Err(Error::forbidden(
            "You are not authorized to perform the requested action: At least one role should be specified.",
        )
        .into());
    }
    if ctx.user_id != trustor {
        return Err(Error::forbidden(
            "You are not authorized to perform the requested action: The authenticated user should match the trustor.",
        )
        .into());
    }
    st.store.user_require(&trustee).await?;
    let all = st.store.role_list().await?;
    let mut roles = vec![];
    for r in &requested {
        let role = match (
            r.get("id").and_then(Value::as_str),
            r.get("name").and_then(Value::as_str),
        ) {
            (Some(id), _) => all.iter().find(|x| x.id == id),
            (None, Some(n)) => all.iter().find(|x| x.name == n && x.domain_id.is_none()),
            _ => {
                return Err(Error::bad_request(
                    "Invalid input for field 'roles': each role needs an id or a name",
                )
                .into())
            }
        }
        .ok_or_else(|| Error::not_found(format!("Could not find role: {r}.")))?;
        roles.push(role.id.clone());
    }
    if let Some(p) = &project_id {
        st.store.project_require(p).await?;
        let held: Vec<String> = st
            .effective_roles(&trustor, &Target::Project, p)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        if let Some(missing) = roles.iter().find(|r| !held.contains(r)) {
            return Err(Error::not_found(format!("Could not find role: {missing}.")).into());
        }
    }
    // Redelegation is not offered: refuse what would need it rather than ignore it.
    if f.opt_bool("allow_redelegation")? == Some(true) {
        return Err(Error::forbidden(
            "You are not authorized to perform the requested action: trust redelegation is not supported.",
        )
        .into());
    }
    f.0.remove("redelegation_count");
    let t = Trust {
        id: rustack_common::new_hex_id(),
        trustor_user_id: trustor,
        trustee_user_id: trustee,
        project_id,
        impersonation,
        expires_at,
        remaining_uses,
        roles,
        extra: f.0,
    };
    st.store.trust_create(&t).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"trust": trust_json(&st, &headers, &t, true).await?})),
    ))
}

/// The trust `id` after the policy check `rule` on it (404 first, as Keystone builds
/// the target from the stored trust).
async fn trust_checked(
    st: &Identity,
    headers: &HeaderMap,
    rule: &str,
    id: &str,
) -> Result<Trust, Error> {
    let ctx = st.authenticate(headers).await?;
    let t = st.store.trust_require(id).await?;
    st.authorize(&ctx, rule, &trust_target(&t))?;
    no_app_creds(&ctx)?;
    Ok(t)
}

async fn trust_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let t = trust_checked(&st, &headers, "identity:get_trust", &id).await?;
    Ok(Json(
        json!({"trust": trust_json(&st, &headers, &t, true).await?}),
    ))
}

async fn trust_delete(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let t = trust_checked(&st, &headers, "identity:delete_trust", &id).await?;
    st.store.trust_delete(&t.id).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn trust_roles(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let t = trust_checked(&st, &headers, "identity:list_roles_for_trust", &id).await?;
    let v = trust_json(&st, &headers, &t, true).await?;
    Ok(Json(
        json!({"roles": v["roles"], "links": v["roles_links"]}),
    ))
}

async fn trust_role(
    st: St,
    headers: HeaderMap,
    Path((id, rid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let t = trust_checked(&st, &headers, "identity:get_role_for_trust", &id).await?;
    if !t.roles.contains(&rid) {
        return Err(Error::not_found(format!("Could not find role: {rid}.")).into());
    }
    let role = st.store.role_require(&rid).await?;
    Ok(Json(json!({"role": role_json(&headers, &role)})))
}
