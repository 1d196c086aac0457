//! Roles, implied roles, grants (`/v3/{projects,domains,system}/.../roles/...`,
//! `OS-INHERIT`) and `GET /v3/role_assignments`.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Value};

use super::{
    base_url, body_obj, list, name_matches, self_link, with_extra, ApiResult, Fields, St, Q,
};
use crate::store::assignment::{Actor, Assignment, Role, Target};
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/roles", get(role_list).post(role_create))
        .route(
            "/v3/roles/{id}",
            get(role_show).patch(role_update).delete(role_delete),
        )
        .route("/v3/roles/{id}/implies", get(implies_list))
        .route(
            "/v3/roles/{prior}/implies/{implied}",
            put(implies_create)
                .get(implies_show)
                .head(implies_check)
                .delete(implies_delete),
        )
        .route("/v3/role_inferences", get(role_inferences))
        .route("/v3/role_assignments", get(role_assignments))
        .route("/v3/projects/{tid}/users/{aid}/roles", get(grants_pu))
        .route("/v3/projects/{tid}/groups/{aid}/roles", get(grants_pg))
        .route("/v3/domains/{tid}/users/{aid}/roles", get(grants_du))
        .route("/v3/domains/{tid}/groups/{aid}/roles", get(grants_dg))
        .route("/v3/system/users/{aid}/roles", get(grants_su))
        .route("/v3/system/groups/{aid}/roles", get(grants_sg))
        .route(
            "/v3/projects/{tid}/users/{aid}/roles/{rid}",
            put(grant_pu).head(check_pu).get(check_pu).delete(revoke_pu),
        )
        .route(
            "/v3/projects/{tid}/groups/{aid}/roles/{rid}",
            put(grant_pg).head(check_pg).get(check_pg).delete(revoke_pg),
        )
        .route(
            "/v3/domains/{tid}/users/{aid}/roles/{rid}",
            put(grant_du).head(check_du).get(check_du).delete(revoke_du),
        )
        .route(
            "/v3/domains/{tid}/groups/{aid}/roles/{rid}",
            put(grant_dg).head(check_dg).get(check_dg).delete(revoke_dg),
        )
        .route(
            "/v3/system/users/{aid}/roles/{rid}",
            put(grant_su).head(check_su).get(check_su).delete(revoke_su),
        )
        .route(
            "/v3/system/groups/{aid}/roles/{rid}",
            put(grant_sg).head(check_sg).get(check_sg).delete(revoke_sg),
        )
        .route(
            "/v3/OS-INHERIT/domains/{tid}/users/{aid}/roles/inherited_to_projects",
            get(igrants_du),
        )
        .route(
            "/v3/OS-INHERIT/domains/{tid}/groups/{aid}/roles/inherited_to_projects",
            get(igrants_dg),
        )
        .route(
            "/v3/OS-INHERIT/projects/{tid}/users/{aid}/roles/inherited_to_projects",
            get(igrants_pu),
        )
        .route(
            "/v3/OS-INHERIT/projects/{tid}/groups/{aid}/roles/inherited_to_projects",
            get(igrants_pg),
        )
        .route(
            "/v3/OS-INHERIT/domains/{tid}/users/{aid}/roles/{rid}/inherited_to_projects",
            put(igrant_du)
                .head(icheck_du)
                .get(icheck_du)
                .delete(irevoke_du),
        )
        .route(
            "/v3/OS-INHERIT/domains/{tid}/groups/{aid}/roles/{rid}/inherited_to_projects",
            put(igrant_dg)
                .head(icheck_dg)
                .get(icheck_dg)
                .delete(irevoke_dg),
        )
        .route(
            "/v3/OS-INHERIT/projects/{tid}/users/{aid}/roles/{rid}/inherited_to_projects",
            put(igrant_pu)
                .head(icheck_pu)
                .get(icheck_pu)
                .delete(irevoke_pu),
        )
        .route(
            "/v3/OS-INHERIT/projects/{tid}/groups/{aid}/roles/{rid}/inherited_to_projects",
            put(igrant_pg)
                .head(icheck_pg)
                .get(icheck_pg)
                .delete(irevoke_pg),
        )
}

/// A role as Keystone renders it.
pub(crate) fn role_json(h: &HeaderMap, r: &Role) -> Value {
    with_extra(
        json!({"id": r.id, "name": r.name, "domain_id": r.domain_id, "description": r.description, "options": {},
               "links": self_link(h, &format!("roles/{}", r.id))}),
        &r.extra,
    )
}

fn role_target(r: &Role) -> Value {
    json!({"target": {"role": {"id": r.id, "domain_id": r.domain_id}}})
}

async fn role_list(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_roles", &json!({}))?;
    let dom = q.get("domain_id").cloned();
    let items = st
        .store
        .role_list()
        .await?
        .iter()
        .filter(|r| name_matches(&q, "name", &r.name) && r.domain_id == dom)
        .map(|r| role_json(&headers, r))
        .collect();
    Ok(Json(list(&headers, "roles", "roles", items)))
}

async fn role_create(
    st: St,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    let mut f = Fields(body_obj(&body, "role")?);
    f.drop_readonly();
    f.0.remove("id");
    f.0.remove("options");
    let domain_id = f.opt_str("domain_id", 64)?;
    let rule = if domain_id.is_some() {
        "identity:create_domain_role"
    } else {
        "identity:create_role"
    };
    st.authorize(
        &ctx,
        rule,
        &json!({"target": {"role": {"domain_id": domain_id}}}),
    )?;
    if let Some(d) = &domain_id {
        st.store.domain_require(d).await?;
    }
    let r = Role {
        id: rustack_common::new_hex_id(),
        name: f.req_str("name", 255)?,
        domain_id,
        description: f.opt_str("description", 255)?.unwrap_or_default(),
        extra: f.0,
    };
    st.store.role_create(&r).await?;
    st.bump();
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": role_json(&headers, &r)})),
    ))
}

async fn role_show(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let r = st.store.role_require(&id).await?;
    let rule = if r.domain_id.is_some() {
        "identity:get_domain_role"
    } else {
        "identity:get_role"
    };
    st.authorize(&ctx, rule, &role_target(&r))?;
    Ok(Json(json!({"role": role_json(&headers, &r)})))
}

async fn role_update(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let mut r = st.store.role_require(&id).await?;
    let rule = if r.domain_id.is_some() {
        "identity:update_domain_role"
    } else {
        "identity:update_role"
    };
    st.authorize(&ctx, rule, &role_target(&r))?;
    let mut f = Fields(body_obj(&body, "role")?);
    f.drop_readonly();
    f.0.remove("id");
    f.0.remove("options");
    if let Some(v) = f.0.remove("domain_id") {
        if v != json!(r.domain_id) {
            return Err(Error::bad_request("Cannot change Domain ID").into());
        }
    }
    if let Some(n) = f.opt_str("name", 255)? {
        r.name = n;
    }
    if let Some(d) = f.opt_str("description", 255)? {
        r.description = d;
    }
    r.extra.extend(f.0);
    st.store.role_update(&r).await?;
    st.bump();
    Ok(Json(json!({"role": role_json(&headers, &r)})))
}

async fn role_delete(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    let r = st.store.role_require(&id).await?;
    let rule = if r.domain_id.is_some() {
        "identity:delete_domain_role"
    } else {
        "identity:delete_role"
    };
    st.authorize(&ctx, rule, &role_target(&r))?;
    let holders: BTreeSet<String> = st
        .store
        .assignment_list_all()
        .await?
        .into_iter()
        .filter(|a| a.role_id == id && a.actor == Actor::User)
        .map(|a| a.actor_id)
        .collect();
    st.store.role_delete(&id).await?;
    for u in holders {
        st.revoke(Some(&u), None, None, None).await?;
    }
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

fn role_ref(h: &HeaderMap, r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "links": self_link(h, &format!("roles/{}", r.id))})
}

async fn implies_list(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_implied_roles", &json!({}))?;
    let prior = st.store.role_require(&id).await?;
    let mut implies = vec![];
    for (p, i) in st.store.implied_role_list().await? {
        if p == id {
            implies.push(role_ref(&headers, &st.store.role_require(&i).await?));
        }
    }
    Ok(Json(
        json!({"role_inference": {"prior_role": role_ref(&headers, &prior), "implies": implies},
                   "links": self_link(&headers, &format!("roles/{id}/implies"))}),
    ))
}

async fn implies_body(
    st: &Identity,
    headers: &HeaderMap,
    prior: &str,
    implied: &str,
) -> Result<Value, Error> {
    let p = st.store.role_require(prior).await?;
    let i = st.store.role_require(implied).await?;
    Ok(
        json!({"role_inference": {"prior_role": role_ref(headers, &p), "implies": role_ref(headers, &i)},
              "links": self_link(headers, &format!("roles/{prior}/implies/{implied}"))}),
    )
}

async fn implies_create(
    st: St,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_implied_role", &json!({}))?;
    let body = implies_body(&st, &headers, &prior, &implied).await?;
    if prior == implied {
        return Err(Error::forbidden(format!("{prior} cannot imply itself.")).into());
    }
    // Refuse cycles: the implied role must not (transitively) imply the prior one.
    let pairs = st.store.implied_role_list().await?;
    let mut seen = BTreeSet::new();
    let mut frontier = vec![implied.clone()];
    while let Some(r) = frontier.pop() {
        if r == prior {
            return Err(Error::forbidden(format!(
                "Role {implied} implying {prior} would create a loop."
            ))
            .into());
        }
        for (p, i) in &pairs {
            if *p == r && seen.insert(i.clone()) {
                frontier.push(i.clone());
            }
        }
    }
    st.store.implied_role_create(&prior, &implied).await?;
    st.bump();
    Ok((StatusCode::CREATED, Json(body)))
}

async fn implied_exists(st: &Identity, prior: &str, implied: &str) -> Result<(), Error> {
    st.store.role_require(prior).await?;
    st.store.role_require(implied).await?;
    if st
        .store
        .implied_role_list()
        .await?
        .iter()
        .any(|(p, i)| p == prior && i == implied)
    {
        Ok(())
    } else {
        Err(Error::not_found(format!(
            "{prior} does not imply {implied}."
        )))
    }
}

async fn implies_show(
    st: St,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:get_implied_role", &json!({}))?;
    implied_exists(&st, &prior, &implied).await?;
    Ok(Json(implies_body(&st, &headers, &prior, &implied).await?))
}

async fn implies_check(
    st: St,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:check_implied_role", &json!({}))?;
    implied_exists(&st, &prior, &implied).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn implies_delete(
    st: St,
    headers: HeaderMap,
    Path((prior, implied)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:delete_implied_role", &json!({}))?;
    implied_exists(&st, &prior, &implied).await?;
    st.store.implied_role_delete(&prior, &implied).await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn role_inferences(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:list_role_inference_rules", &json!({}))?;
    let roles = st.store.role_list().await?;
    let find = |id: &str| {
        roles
            .iter()
            .find(|r| r.id == id)
            .map(|r| role_ref(&headers, r))
            .unwrap_or(json!({"id": id}))
    };
    let mut by_prior: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for (p, i) in st.store.implied_role_list().await? {
        by_prior.entry(p).or_default().push(find(&i));
    }
    let items: Vec<Value> = by_prior
        .into_iter()
        .map(|(p, imp)| json!({"prior_role": find(&p), "implies": imp}))
        .collect();
    Ok(Json(
        json!({"role_inferences": items, "links": self_link(&headers, "role_inferences")}),
    ))
}

/// A grant route's parts.
struct GrantRef {
    target: Target,
    target_id: String,
    actor: Actor,
    actor_id: String,
    inherited: bool,
}

/// Checks that the target, actor and role exist, and builds the policy target.
async fn grant_target(st: &Identity, g: &GrantRef, role_id: Option<&str>) -> Result<Value, Error> {
    let mut t = serde_json::Map::new();
    match g.target {
        Target::Project => {
            let p = st.store.project_require(&g.target_id).await?;
            t.insert(
                "project".into(),
                json!({"id": p.id, "domain_id": p.domain_id}),
            );
        }
        Target::Domain => {
            let d = st.store.domain_require(&g.target_id).await?;
            t.insert("domain".into(), json!({"id": d.id}));
        }
        Target::System => {}
    }
    match g.actor {
        Actor::User => {
            let u = st.store.user_require(&g.actor_id).await?;
            t.insert("user".into(), json!({"id": u.id, "domain_id": u.domain_id}));
        }
        Actor::Group => {
            let gr = st.store.group_require(&g.actor_id).await?;
            t.insert(
                "group".into(),
                json!({"id": gr.id, "domain_id": gr.domain_id}),
            );
        }
    }
    if let Some(r) = role_id {
        let role = st.store.role_require(r).await?;
        t.insert(
            "role".into(),
            json!({"id": role.id, "domain_id": role.domain_id}),
        );
    }
    Ok(json!({"target": t}))
}

fn rule(g: &GrantRef, op: &str) -> &'static str {
    match (g.target, op) {
        (Target::System, "create") => {
            if g.actor == Actor::User {
                "identity:create_system_grant_for_user"
            } else {
                "identity:create_system_grant_for_group"
            }
        }
        (Target::System, "check") => {
            if g.actor == Actor::User {
                "identity:check_system_grant_for_user"
            } else {
                "identity:check_system_grant_for_group"
            }
        }
        (Target::System, "revoke") => {
            if g.actor == Actor::User {
                "identity:revoke_system_grant_for_user"
            } else {
                "identity:revoke_system_grant_for_group"
            }
        }
        (Target::System, _) => {
            if g.actor == Actor::User {
                "identity:list_system_grants_for_user"
            } else {
                "identity:list_system_grants_for_group"
            }
        }
        (_, "create") => "identity:create_grant",
        (_, "check") => "identity:check_grant",
        (_, "revoke") => "identity:revoke_grant",
        _ => "identity:list_grants",
    }
}

fn assignment(g: &GrantRef, role_id: &str) -> Assignment {
    Assignment {
        actor: g.actor,
        actor_id: g.actor_id.clone(),
        target: g.target,
        target_id: g.target_id.clone(),
        role_id: role_id.to_string(),
        inherited: g.inherited,
    }
}

async fn do_grant(
    st: &Identity,
    headers: &HeaderMap,
    g: GrantRef,
    role_id: String,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(headers).await?;
    let t = grant_target(st, &g, Some(&role_id)).await?;
    st.authorize(&ctx, rule(&g, "create"), &t)?;
    st.store
        .assignment_create(&assignment(&g, &role_id))
        .await?;
    st.bump();
    Ok(StatusCode::NO_CONTENT)
}

async fn do_check(
    st: &Identity,
    headers: &HeaderMap,
    g: GrantRef,
    role_id: String,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(headers).await?;
    let t = grant_target(st, &g, Some(&role_id)).await?;
    st.authorize(&ctx, rule(&g, "check"), &t)?;
    if st
        .store
        .assignment_exists(&assignment(&g, &role_id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(format!(
            "Could not find role assignment with role: {role_id}, {}: {}, {}: {}.",
            g.actor.as_str(),
            g.actor_id,
            g.target.as_str(),
            g.target_id
        ))
        .into())
    }
}

async fn do_revoke(
    st: &Identity,
    headers: &HeaderMap,
    g: GrantRef,
    role_id: String,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(headers).await?;
    let t = grant_target(st, &g, Some(&role_id)).await?;
    st.authorize(&ctx, rule(&g, "revoke"), &t)?;
    if !st
        .store
        .assignment_delete(&assignment(&g, &role_id))
        .await?
    {
        return Err(Error::not_found(format!(
            "Could not find role assignment with role: {role_id}, {}: {}, {}: {}.",
            g.actor.as_str(),
            g.actor_id,
            g.target.as_str(),
            g.target_id
        ))
        .into());
    }
    let users = match g.actor {
        Actor::User => vec![g.actor_id.clone()],
        Actor::Group => st.store.users_in_group(&g.actor_id).await?,
    };
    let project = (g.target == Target::Project && !g.inherited).then_some(g.target_id.as_str());
    for u in users {
        st.revoke(Some(&u), project, None, None).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn do_list(st: &Identity, headers: &HeaderMap, g: GrantRef) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(headers).await?;
    let t = grant_target(st, &g, None).await?;
    st.authorize(&ctx, rule(&g, "list"), &t)?;
    let roles = st.store.role_list().await?;
    let items: Vec<Value> = st
        .store
        .assignment_list_all()
        .await?
        .into_iter()
        .filter(|a| {
            a.actor == g.actor
                && a.actor_id == g.actor_id
                && a.target == g.target
                && a.target_id == g.target_id
                && a.inherited == g.inherited
        })
        .filter_map(|a| {
            roles
                .iter()
                .find(|r| r.id == a.role_id)
                .map(|r| role_json(headers, r))
        })
        .collect();
    Ok(Json(list(headers, "roles", "roles", items)))
}

macro_rules! grant_handlers {
    ($grant:ident, $check:ident, $revoke:ident, $list:ident, $target:expr, $actor:expr, $inh:expr) => {
        async fn $grant(
            st: St,
            headers: HeaderMap,
            Path((tid, aid, rid)): Path<(String, String, String)>,
        ) -> ApiResult<StatusCode> {
            do_grant(
                &st,
                &headers,
                GrantRef {
                    target: $target,
                    target_id: tid,
                    actor: $actor,
                    actor_id: aid,
                    inherited: $inh,
                },
                rid,
            )
            .await
        }
        async fn $check(
            st: St,
            headers: HeaderMap,
            Path((tid, aid, rid)): Path<(String, String, String)>,
        ) -> ApiResult<StatusCode> {
            do_check(
                &st,
                &headers,
                GrantRef {
                    target: $target,
                    target_id: tid,
                    actor: $actor,
                    actor_id: aid,
                    inherited: $inh,
                },
                rid,
            )
            .await
        }
        async fn $revoke(
            st: St,
            headers: HeaderMap,
            Path((tid, aid, rid)): Path<(String, String, String)>,
        ) -> ApiResult<StatusCode> {
            do_revoke(
                &st,
                &headers,
                GrantRef {
                    target: $target,
                    target_id: tid,
                    actor: $actor,
                    actor_id: aid,
                    inherited: $inh,
                },
                rid,
            )
            .await
        }
        async fn $list(
            st: St,
            headers: HeaderMap,
            Path((tid, aid)): Path<(String, String)>,
        ) -> ApiResult<Json<Value>> {
            do_list(
                &st,
                &headers,
                GrantRef {
                    target: $target,
                    target_id: tid,
                    actor: $actor,
                    actor_id: aid,
                    inherited: $inh,
                },
            )
            .await
        }
    };
}

macro_rules! system_handlers {
    ($grant:ident, $check:ident, $revoke:ident, $list:ident, $actor:expr) => {
        async fn $grant(
            st: St,
            headers: HeaderMap,
            Path((aid, rid)): Path<(String, String)>,
        ) -> ApiResult<StatusCode> {
            do_grant(
                &st,
                &headers,
                GrantRef {
                    target: Target::System,
                    target_id: "all".into(),
                    actor: $actor,
                    actor_id: aid,
                    inherited: false,
                },
                rid,
            )
            .await
        }
        async fn $check(
            st: St,
            headers: HeaderMap,
            Path((aid, rid)): Path<(String, String)>,
        ) -> ApiResult<StatusCode> {
            do_check(
                &st,
                &headers,
                GrantRef {
                    target: Target::System,
                    target_id: "all".into(),
                    actor: $actor,
                    actor_id: aid,
                    inherited: false,
                },
                rid,
            )
            .await
        }
        async fn $revoke(
            st: St,
            headers: HeaderMap,
            Path((aid, rid)): Path<(String, String)>,
        ) -> ApiResult<StatusCode> {
            do_revoke(
                &st,
                &headers,
                GrantRef {
                    target: Target::System,
                    target_id: "all".into(),
                    actor: $actor,
                    actor_id: aid,
                    inherited: false,
                },
                rid,
            )
            .await
        }
        async fn $list(
            st: St,
            headers: HeaderMap,
            Path(aid): Path<String>,
        ) -> ApiResult<Json<Value>> {
            do_list(
                &st,
                &headers,
                GrantRef {
                    target: Target::System,
                    target_id: "all".into(),
                    actor: $actor,
                    actor_id: aid,
                    inherited: false,
                },
            )
            .await
        }
    };
}

grant_handlers!(
    grant_pu,
    check_pu,
    revoke_pu,
    grants_pu,
    Target::Project,
    Actor::User,
    false
);
grant_handlers!(
    grant_pg,
    check_pg,
    revoke_pg,
    grants_pg,
    Target::Project,
    Actor::Group,
    false
);
grant_handlers!(
    grant_du,
    check_du,
    revoke_du,
    grants_du,
    Target::Domain,
    Actor::User,
    false
);
grant_handlers!(
    grant_dg,
    check_dg,
    revoke_dg,
    grants_dg,
    Target::Domain,
    Actor::Group,
    false
);
grant_handlers!(
    igrant_pu,
    icheck_pu,
    irevoke_pu,
    igrants_pu,
    Target::Project,
    Actor::User,
    true
);
grant_handlers!(
    igrant_pg,
    icheck_pg,
    irevoke_pg,
    igrants_pg,
    Target::Project,
    Actor::Group,
    true
);
grant_handlers!(
    igrant_du,
    icheck_du,
    irevoke_du,
    igrants_du,
    Target::Domain,
    Actor::User,
    true
);
grant_handlers!(
    igrant_dg,
    icheck_dg,
    irevoke_dg,
    igrants_dg,
    Target::Domain,
    Actor::Group,
    true
);
system_handlers!(grant_su, check_su, revoke_su, grants_su, Actor::User);
system_handlers!(grant_sg, check_sg, revoke_sg, grants_sg, Actor::Group);

/// (target kind code, target id).
type TargetKey = (u8, String);

/// One row of `GET /v3/role_assignments` before rendering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    actor: (u8, String),
    target: (u8, String),
    role_id: String,
    inherited: bool,
    /// For effective rows derived from a group: the group.
    via_group: Option<String>,
    /// For effective rows derived from an inherited grant: the original target.
    via_target: Option<(u8, String)>,
}

fn actor_code(a: Actor) -> u8 {
    match a {
        Actor::User => 0,
        Actor::Group => 1,
    }
}

fn target_code(t: Target) -> u8 {
    match t {
        Target::Project => 0,
        Target::Domain => 1,
        Target::System => 2,
    }
}

/// `GET /v3/role_assignments` with Keystone's filters, `effective` and `include_names`.
async fn role_assignments(st: St, headers: HeaderMap, q: Q) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(&headers).await?;
    let f_user = q.get("user.id").cloned();
    let f_group = q.get("group.id").cloned();
    let f_role = q.get("role.id").cloned();
    let f_project = q.get("scope.project.id").cloned();
    let f_domain = q.get("scope.domain.id").cloned();
    let f_system = q.get("scope.system").cloned();
    let f_inherited = q.get("scope.OS-INHERIT:inherited_to").cloned();
    let effective = q.contains_key("effective");
    let include_names = q.contains_key("include_names");
    let include_subtree = q.contains_key("include_subtree");
    if effective && f_group.is_some() {
        return Err(Error::bad_request(
            "Combining effective and group filter will always result in an empty list.",
        )
        .into());
    }
    if [f_project.is_some(), f_domain.is_some(), f_system.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return Err(Error::bad_request("Specify one of domain, project or system scope.").into());
    }
    let mut project_domain = None;
    if let Some(p) = &f_project {
        project_domain = st.store.project_get(p).await?.map(|p| p.domain_id);
    }
    st.authorize(
        &ctx,
        if include_subtree { "identity:list_role_assignments_for_tree" } else { "identity:list_role_assignments" },
        &match &ctx.domain_id {
            Some(d) => json!({"target": {"domain_id": d, "project": {"domain_id": project_domain.clone().unwrap_or_else(|| d.clone())}}}),
            None => json!({}),
        },
    )?;
    let all = st.store.assignment_list_all().await?;
    let projects = st.store.project_list().await?;
    let mut rows: Vec<Row> = vec![];
    if !effective {
        for a in &all {
            rows.push(Row {
                actor: (actor_code(a.actor), a.actor_id.clone()),
                target: (target_code(a.target), a.target_id.clone()),
                role_id: a.role_id.clone(),
                inherited: a.inherited,
                via_group: None,
                via_target: None,
            });
        }
    } else {
        // Expand groups to users, inherited grants to projects, then implied roles.
        let mut base: Vec<Row> = vec![];
        for a in &all {
            let users: Vec<(String, Option<String>)> = match a.actor {
                Actor::User => vec![(a.actor_id.clone(), None)],
                Actor::Group => st
                    .store
                    .users_in_group(&a.actor_id)
                    .await?
                    .into_iter()
                    .map(|u| (u, Some(a.actor_id.clone())))
                    .collect(),
            };
            let targets: Vec<(TargetKey, Option<TargetKey>)> = if a.inherited {
                let origin = (target_code(a.target), a.target_id.clone());
                let mut out = vec![];
                match a.target {
                    Target::Domain => {
                        for p in projects.iter().filter(|p| p.domain_id == a.target_id) {
                            out.push(((0, p.id.clone()), Some(origin.clone())));
                        }
                    }
                    Target::Project => {
                        let mut frontier = vec![a.target_id.clone()];
                        while let Some(x) = frontier.pop() {
                            for c in projects
                                .iter()
                                .filter(|c| c.parent_id.as_deref() == Some(x.as_str()))
                            {
                                out.push(((0, c.id.clone()), Some(origin.clone())));
                                frontier.push(c.id.clone());
                            }
                        }
                    }
                    Target::System => {}
                }
                out
            } else {
                vec![((target_code(a.target), a.target_id.clone()), None)]
            };
            for (u, g) in &users {
                for (t, via) in &targets {
                    base.push(Row {
                        actor: (0, u.clone()),
                        target: t.clone(),
                        role_id: a.role_id.clone(),
                        inherited: false,
                        via_group: g.clone(),
                        via_target: via.clone(),
                    });
                }
            }
        }
        let snap = st.snapshot().await?;
        let implied = &snap.implied;
        let domain_roles: BTreeSet<&str> = snap
            .roles
            .iter()
            .filter(|r| r.domain_id.is_some())
            .map(|r| r.id.as_str())
            .collect();
        for r in base {
            let mut seen = BTreeSet::new();
            let mut frontier = vec![r.role_id.clone()];
            seen.insert(r.role_id.clone());
            while let Some(x) = frontier.pop() {
                for (p, i) in implied.iter() {
                    if *p == x && seen.insert(i.clone()) {
                        frontier.push(i.clone());
                    }
                }
            }
            for role in seen {
                // Domain-specific roles are never effective themselves (Keystone).
                if domain_roles.contains(role.as_str()) {
                    continue;
                }
                rows.push(Row {
                    role_id: role,
                    ..r.clone()
                });
            }
        }
    }
    let subtree: Option<BTreeSet<String>> = match (&f_project, include_subtree) {
        (Some(p), true) => {
            let mut s = BTreeSet::from([p.clone()]);
            let mut frontier = vec![p.clone()];
            while let Some(x) = frontier.pop() {
                for c in projects
                    .iter()
                    .filter(|c| c.parent_id.as_deref() == Some(x.as_str()))
                {
                    s.insert(c.id.clone());
                    frontier.push(c.id.clone());
                }
            }
            Some(s)
        }
        _ => None,
    };
    rows.retain(|r| {
        f_user.as_ref().is_none_or(|u| r.actor == (0, u.clone()))
            && f_group.as_ref().is_none_or(|g| r.actor == (1, g.clone()))
            && f_role.as_ref().is_none_or(|x| r.role_id == *x)
            && f_project.as_ref().is_none_or(|p| {
                r.target.0 == 0
                    && subtree
                        .as_ref()
                        .map_or(r.target.1 == *p, |s| s.contains(&r.target.1))
            })
            && f_domain.as_ref().is_none_or(|d| r.target == (1, d.clone()))
            && f_system.as_ref().is_none_or(|_| r.target.0 == 2)
            && f_inherited.as_ref().is_none_or(|_| r.inherited)
    });
    rows.sort();
    rows.dedup();
    let base = base_url(&headers);
    let snap = st.snapshot().await?;
    let mut items = vec![];
    for r in rows {
        let mut v = json!({});
        let role = snap.roles.iter().find(|x| x.id == r.role_id);
        v["role"] = json!({"id": r.role_id});
        if include_names {
            if let Some(role) = role {
                v["role"]["name"] = json!(role.name);
                if let Some(d) = &role.domain_id {
                    v["role"]["domain"] = domain_ref(&st, d).await;
                }
            }
        }
        let actor_key = if r.actor.0 == 0 { "user" } else { "group" };
        v[actor_key] = json!({"id": r.actor.1});
        if include_names {
            let (name, dom) = if r.actor.0 == 0 {
                st.store
                    .user_get(&r.actor.1)
                    .await?
                    .map(|u| (u.name, u.domain_id))
                    .unwrap_or_default()
            } else {
                st.store
                    .group_require(&r.actor.1)
                    .await
                    .map(|g| (g.name, g.domain_id))
                    .unwrap_or_default()
            };
            v[actor_key]["name"] = json!(name);
            v[actor_key]["domain"] = domain_ref(&st, &dom).await;
        }
        match r.target.0 {
            0 => {
                v["scope"] = json!({"project": {"id": r.target.1}});
                if include_names {
                    if let Some(p) = st.store.project_get(&r.target.1).await? {
                        v["scope"]["project"]["name"] = json!(p.name);
                        v["scope"]["project"]["domain"] = domain_ref(&st, &p.domain_id).await;
                    }
                }
            }
            1 => {
                v["scope"] = json!({"domain": {"id": r.target.1}});
                if include_names {
                    if let Some(d) = st.store.domain_get(&r.target.1).await? {
                        v["scope"]["domain"]["name"] = json!(d.name);
                    }
                }
            }
            _ => v["scope"] = json!({"system": {"all": true}}),
        }
        if r.inherited {
            v["scope"]["OS-INHERIT:inherited_to"] = json!("projects");
        }
        let (ta, ti) = match &r.via_target {
            Some((c, id)) => (*c, id.clone()),
            None => r.target.clone(),
        };
        let (aa, ai) = match &r.via_group {
            Some(g) => ("groups", g.clone()),
            None => (
                if r.actor.0 == 0 { "users" } else { "groups" },
                r.actor.1.clone(),
            ),
        };
        let link = match ta {
            0 => format!("{base}/v3/projects/{ti}/{aa}/{ai}/roles/{}", r.role_id),
            1 => format!("{base}/v3/domains/{ti}/{aa}/{ai}/roles/{}", r.role_id),
            _ => format!("{base}/v3/system/{aa}/{ai}/roles/{}", r.role_id),
        };
        let link = if r.inherited || r.via_target.is_some() {
            format!(
                "{}/v3/OS-INHERIT{}/inherited_to_projects",
                base,
                &link[base.len() + 3..]
            )
        } else {
            link
        };
        v["links"] = json!({"assignment": link});
        if let Some(g) = &r.via_group {
            v["links"]["membership"] = json!(format!("{base}/v3/groups/{g}/users/{}", r.actor.1));
        }
        items.push(v);
    }
    Ok(Json(
        json!({"role_assignments": items, "links": {"self": format!("{base}/v3/role_assignments"), "previous": null, "next": null}}),
    ))
}

async fn domain_ref(st: &Identity, id: &str) -> Value {
    match st.store.domain_get(id).await {
        Ok(Some(d)) => json!({"id": d.id, "name": d.name}),
        _ => json!({"id": id}),
    }
}
