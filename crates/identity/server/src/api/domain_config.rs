//! Domain-specific configuration (`/v3/domains/{id}/config[/{group}[/{option}]]`) and
//! the defaults (`/v3/domains/config[/{group}[/{option}]]/default`), as Keystone's
//! domain config API: only the `identity` and `ldap` groups and Keystone's list of
//! options are accepted; the LDAP password is stored but never shown. rustack keeps
//! every identity in SQL, so a stored config is served back, not acted upon.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use super::{ApiResult, St};
use crate::store::domain_config::ConfigOption;
use crate::Identity;

pub(super) fn routes() -> Router<std::sync::Arc<Identity>> {
    Router::new()
        .route("/v3/domains/config/default", get(default_all))
        .route("/v3/domains/config/{group}/default", get(default_group))
        .route(
            "/v3/domains/config/{group}/{option}/default",
            get(default_option),
        )
        .route(
            "/v3/domains/{id}/config",
            get(show_all)
                .head(show_all)
                .put(create)
                .patch(update_all)
                .delete(delete_all),
        )
        .route(
            "/v3/domains/{id}/config/{group}",
            get(show_group)
                .head(show_group)
                .patch(update_group)
                .delete(delete_group),
        )
        .route(
            "/v3/domains/{id}/config/{group}/{option}",
            get(show_option)
                .head(show_option)
                .patch(update_option)
                .delete(delete_option),
        )
}

/// Keystone's whitelisted options with the defaults Keystone ships for them.
fn defaults() -> Vec<(&'static str, &'static str, Value)> {
    let n = Value::Null;
    vec![
        ("identity", "driver", json!("sql")),
        ("identity", "list_limit", n.clone()),
        ("ldap", "url", json!("ldap://localhost")),
        ("ldap", "user", n.clone()),
        ("ldap", "suffix", json!("cn=example,cn=com")),
        ("ldap", "query_scope", json!("one")),
        ("ldap", "page_size", json!(0)),
        ("ldap", "alias_dereferencing", json!("default")),
        ("ldap", "debug_level", n.clone()),
        ("ldap", "chase_referrals", n.clone()),
        ("ldap", "user_tree_dn", n.clone()),
        ("ldap", "user_filter", n.clone()),
        ("ldap", "user_objectclass", json!("inetOrgPerson")),
        ("ldap", "user_id_attribute", json!("cn")),
        ("ldap", "user_name_attribute", json!("sn")),
        ("ldap", "user_mail_attribute", json!("mail")),
        ("ldap", "user_description_attribute", json!("description")),
        ("ldap", "user_pass_attribute", json!("userPassword")),
        ("ldap", "user_enabled_attribute", json!("enabled")),
        ("ldap", "user_enabled_invert", json!(false)),
        ("ldap", "user_enabled_mask", json!(0)),
        ("ldap", "user_enabled_default", json!("True")),
        (
            "ldap",
            "user_attribute_ignore",
            json!(["default_project_id"]),
        ),
        ("ldap", "user_default_project_id_attribute", n.clone()),
        ("ldap", "user_enabled_emulation", json!(false)),
        ("ldap", "user_enabled_emulation_dn", n.clone()),
        (
            "ldap",
            "user_enabled_emulation_use_group_config",
            json!(false),
        ),
        ("ldap", "user_additional_attribute_mapping", json!([])),
        ("ldap", "group_tree_dn", n.clone()),
        ("ldap", "group_filter", n.clone()),
        ("ldap", "group_objectclass", json!("groupOfNames")),
        ("ldap", "group_id_attribute", json!("cn")),
        ("ldap", "group_name_attribute", json!("ou")),
        ("ldap", "group_members_are_ids", json!(false)),
        ("ldap", "group_member_attribute", json!("member")),
        ("ldap", "group_desc_attribute", json!("description")),
        ("ldap", "group_attribute_ignore", json!([])),
        ("ldap", "group_additional_attribute_mapping", json!([])),
        ("ldap", "tls_cacertfile", n.clone()),
        ("ldap", "tls_cacertdir", n.clone()),
        ("ldap", "use_tls", json!(false)),
        ("ldap", "tls_req_cert", json!("demand")),
        ("ldap", "use_pool", json!(true)),
        ("ldap", "pool_size", json!(10)),
        ("ldap", "pool_retry_max", json!(3)),
        ("ldap", "pool_retry_delay", json!(0.1)),
        ("ldap", "pool_connection_timeout", json!(-1)),
        ("ldap", "pool_connection_lifetime", json!(600)),
        ("ldap", "use_auth_pool", json!(true)),
        ("ldap", "auth_pool_size", json!(100)),
        ("ldap", "auth_pool_connection_lifetime", json!(60)),
    ]
}

/// Options Keystone stores apart and never returns.
const SENSITIVE: &[(&str, &str)] = &[("ldap", "password")];

fn invalid(reason: impl std::fmt::Display) -> Error {
    Error::forbidden(format!("Invalid domain specific configuration: {reason}."))
}

fn is_sensitive(group: &str, option: &str) -> bool {
    SENSITIVE.contains(&(group, option))
}

/// 403 unless `group` (and `option`, when given) is one Keystone accepts.
fn check_group_option(group: &str, option: Option<&str>) -> Result<(), Error> {
    let d = defaults();
    let known_group =
        d.iter().any(|(g, _, _)| *g == group) || SENSITIVE.iter().any(|(g, _)| *g == group);
    if !known_group {
        return Err(invalid(format!(
            "Group {group} is not supported for domain specific configurations"
        )));
    }
    if let Some(o) = option {
        if !d.iter().any(|(g, op, _)| *g == group && *op == o) && !is_sensitive(group, o) {
            return Err(invalid(format!(
                "Option {o} in group {group} is not supported for domain specific configurations"
            )));
        }
    }
    Ok(())
}

/// Validates a request's `config` (`{group: {option: value}}`, none empty) into rows.
fn parse_config(config: &Value) -> Result<Vec<ConfigOption>, Error> {
    let groups = match config {
        Value::Object(m) if !m.is_empty() => m,
        _ => return Err(invalid("No options specified")),
    };
    let mut out = vec![];
    for (g, opts) in groups {
        let opts = match opts {
            Value::Object(o) if !o.is_empty() => o,
            _ => {
                return Err(invalid(format!(
                "The value of group {g} specified in the config should be a dictionary of options"
            )))
            }
        };
        for (o, v) in opts {
            check_group_option(g, Some(o))?;
            out.push(ConfigOption {
                group: g.clone(),
                option: o.clone(),
                value: v.clone(),
                sensitive: is_sensitive(g, o),
            });
        }
    }
    Ok(out)
}

/// Rows as `{group: {option: value}}`, sensitive ones left out.
fn to_config(rows: &[ConfigOption]) -> Map<String, Value> {
    let mut out = Map::new();
    for r in rows.iter().filter(|r| !r.sensitive) {
        if let Value::Object(g) = out
            .entry(r.group.clone())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            g.insert(r.option.clone(), r.value.clone());
        }
    }
    out
}

/// The `config` object of a request body (`{}` when absent, as Keystone reads it).
fn body_config(body: &[u8]) -> Result<Value, Error> {
    let v: Value = rustack_api_common::parse_json(body)?;
    Ok(v.get("config").cloned().unwrap_or_else(|| json!({})))
}

async fn default_all(st: St, headers: HeaderMap) -> ApiResult<Json<Value>> {
    default_config(&st, &headers, None, None).await
}

async fn default_group(
    st: St,
    headers: HeaderMap,
    Path(group): Path<String>,
) -> ApiResult<Json<Value>> {
    default_config(&st, &headers, Some(&group), None).await
}

async fn default_option(
    st: St,
    headers: HeaderMap,
    Path((group, option)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    default_config(&st, &headers, Some(&group), Some(&option)).await
}

async fn default_config(
    st: &Identity,
    headers: &HeaderMap,
    group: Option<&str>,
    option: Option<&str>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, "identity:get_domain_config_default", &json!({}))?;
    if let Some(g) = group {
        check_group_option(g, option)?;
    }
    let d = defaults();
    if let (Some(g), Some(o)) = (group, option) {
        let v = d
            .iter()
            .find(|(dg, dop, _)| *dg == g && *dop == o)
            .map(|(_, _, v)| v.clone())
            .ok_or_else(|| {
                invalid(format!(
                    "Reading the default for option {o} in group {g} is not supported"
                ))
            })?;
        return Ok(Json(json!({"config": {o: v}})));
    }
    let rows: Vec<ConfigOption> = d
        .into_iter()
        .filter(|(g, _, _)| group.is_none_or(|x| x == *g))
        .map(|(g, o, v)| ConfigOption {
            group: g.into(),
            option: o.into(),
            value: v,
            sensitive: false,
        })
        .collect();
    Ok(Json(json!({"config": to_config(&rows)})))
}

/// `could not find ...` in Keystone's words.
fn config_not_found(domain_id: &str, group: Option<&str>, option: Option<&str>) -> Error {
    let what = match (group, option) {
        (Some(g), Some(o)) => format!("option {o} in group {g}"),
        (Some(g), None) => format!("group {g}"),
        _ => "any options".to_string(),
    };
    Error::not_found(format!(
        "Could not find {what} in domain configuration for domain {domain_id}."
    ))
}

async fn show(
    st: &Identity,
    headers: &HeaderMap,
    id: &str,
    group: Option<&str>,
    option: Option<&str>,
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(headers).await?;
    if group == Some("security_compliance") {
        st.authorize(
            &ctx,
            "identity:get_security_compliance_domain_config",
            &json!({}),
        )?;
        st.store.domain_require(id).await?;
        return security_compliance(id, option)
            .map(Json)
            .map_err(Into::into);
    }
    st.authorize(&ctx, "identity:get_domain_config", &json!({}))?;
    st.store.domain_require(id).await?;
    if let Some(g) = group {
        check_group_option(g, option)?;
    }
    let rows: Vec<ConfigOption> = st
        .store
        .domain_config_list(id)
        .await?
        .into_iter()
        .filter(|r| !r.sensitive)
        .filter(|r| group.is_none_or(|g| g == r.group) && option.is_none_or(|o| o == r.option))
        .collect();
    if rows.is_empty() {
        return Err(config_not_found(id, group, option).into());
    }
    if let (Some(o), [r]) = (option, rows.as_slice()) {
        return Ok(Json(json!({"config": {o: r.value}})));
    }
    Ok(Json(json!({"config": to_config(&rows)})))
}

/// The readable security-compliance options (default domain only, as Keystone):
/// rustack enforces no password regex, so both are null.
fn security_compliance(id: &str, option: Option<&str>) -> Result<Value, Error> {
    if id != "default" {
        return Err(invalid("Reading security compliance information for any domain other than the default domain is not allowed or supported"));
    }
    let readable = ["password_regex", "password_regex_description"];
    match option {
        Some(o) if !readable.contains(&o) => Err(invalid(
            "Reading security compliance values other than password_regex and password_regex_description is not allowed",
        )),
        Some(o) => Ok(json!({"config": {o: Value::Null}})),
        None => Ok(
            json!({"config": {"security_compliance": {"password_regex": null, "password_regex_description": null}}}),
        ),
    }
}

async fn show_all(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    show(&st, &headers, &id, None, None).await
}

async fn show_group(
    st: St,
    headers: HeaderMap,
    Path((id, group)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    show(&st, &headers, &id, Some(&group), None).await
}

async fn show_option(
    st: St,
    headers: HeaderMap,
    Path((id, group, option)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    show(&st, &headers, &id, Some(&group), Some(&option)).await
}

/// `PUT /v3/domains/{id}/config`: replaces the whole config; 201 when the domain had
/// none, 200 otherwise.
async fn create(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ctx = st.authenticate(&headers).await?;
    st.authorize(&ctx, "identity:create_domain_config", &json!({}))?;
    st.store.domain_require(&id).await?;
    let rows = parse_config(&body_config(&body)?)?;
    let had = !st.store.domain_config_list(&id).await?.is_empty();
    st.store.domain_config_write(&id, &rows, true).await?;
    let now = st.store.domain_config_list(&id).await?;
    let status = if had {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(json!({"config": to_config(&now)}))))
}

async fn update(
    st: &Identity,
    headers: &HeaderMap,
    id: &str,
    group: Option<&str>,
    option: Option<&str>,
    body: &[u8],
) -> ApiResult<Json<Value>> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, "identity:update_domain_config", &json!({}))?;
    st.store.domain_require(id).await?;
    let mut config = body_config(body)?;
    if let (Some(g), Some(_)) = (group, option) {
        // An option update carries `{option: value}`; seen as a one-option group.
        config = json!({ g: config });
    }
    let rows = parse_config(&config)?;
    if let Some(g) = group {
        check_group_option(g, option)?;
        let only_group = rows.iter().all(|r| r.group == g);
        let only_option = option.is_none_or(|o| rows.iter().all(|r| r.option == o));
        if !only_group || !only_option {
            return Err(invalid(match option {
                Some(o) => format!("Trying to update option {o} in group {g}, so that, and only that, option must be specified  in the config"),
                None => format!("Trying to update group {g}, so that, and only that, group must be specified in the config"),
            })
            .into());
        }
        let current = st.store.domain_config_list(id).await?;
        let exists = current
            .iter()
            .any(|r| r.group == g && option.is_none_or(|o| o == r.option));
        if !exists {
            return Err(config_not_found(id, group, option).into());
        }
    }
    st.store.domain_config_write(id, &rows, false).await?;
    let now = st.store.domain_config_list(id).await?;
    Ok(Json(json!({"config": to_config(&now)})))
}

async fn update_all(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    update(&st, &headers, &id, None, None, &body).await
}

async fn update_group(
    st: St,
    headers: HeaderMap,
    Path((id, group)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    update(&st, &headers, &id, Some(&group), None, &body).await
}

async fn update_option(
    st: St,
    headers: HeaderMap,
    Path((id, group, option)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    update(&st, &headers, &id, Some(&group), Some(&option), &body).await
}

async fn delete(
    st: &Identity,
    headers: &HeaderMap,
    id: &str,
    group: Option<&str>,
    option: Option<&str>,
) -> ApiResult<StatusCode> {
    let ctx = st.authenticate(headers).await?;
    st.authorize(&ctx, "identity:delete_domain_config", &json!({}))?;
    st.store.domain_require(id).await?;
    if let Some(g) = group {
        check_group_option(g, option)?;
        let current = st.store.domain_config_list(id).await?;
        let exists = current
            .iter()
            .any(|r| r.group == g && option.is_none_or(|o| o == r.option));
        if !exists {
            return Err(config_not_found(id, group, option).into());
        }
    }
    st.store.domain_config_delete(id, group, option).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_all(st: St, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    delete(&st, &headers, &id, None, None).await
}

async fn delete_group(
    st: St,
    headers: HeaderMap,
    Path((id, group)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete(&st, &headers, &id, Some(&group), None).await
}

async fn delete_option(
    st: St,
    headers: HeaderMap,
    Path((id, group, option)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    delete(&st, &headers, &id, Some(&group), Some(&option)).await
}
