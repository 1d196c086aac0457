//! The Identity API's routes and the helpers every handler shares: the state extractor,
//! Keystone-style request-body validation (Keystone's JSON schemas accept extra
//! attributes on most resources and store them), links and list envelopes.

mod auth;
mod catalog;
mod creds;
mod domain_config;
mod ep_filter;
mod policy;
mod resource;
mod roles;
mod trust;
mod users;
mod versions;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use rustack_api_common::{Fault, KeystoneStyle};
use rustack_common::Error;
use serde_json::{json, Map, Value};

use crate::Identity;

/// Handler result in Keystone's fault style.
pub(crate) type ApiResult<T> = Result<T, Fault<KeystoneStyle>>;
/// Shared state as handlers see it.
pub(crate) type St = axum::extract::State<Arc<Identity>>;
/// Query parameters.
pub(crate) type Q = axum::extract::Query<HashMap<String, String>>;

/// The whole Identity API.
pub fn router(identity: Arc<Identity>) -> Router {
    Router::new()
        .route("/", get(versions::root))
        .route("/v3", get(versions::v3))
        .route("/v3/", get(versions::v3))
        .merge(auth::routes())
        .merge(resource::routes())
        .merge(users::routes())
        .merge(roles::routes())
        .merge(catalog::routes())
        .merge(creds::routes())
        .merge(policy::routes())
        .merge(ep_filter::routes())
        .merge(domain_config::routes())
        .merge(trust::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(identity)
        .layer(axum::middleware::from_fn_with_state(
            "identity",
            rustack_api_common::request_layer,
        ))
}

async fn not_found() -> Fault<KeystoneStyle> {
    Error::not_found("The resource could not be found.").into()
}

async fn method_not_allowed() -> Fault<KeystoneStyle> {
    Error::MethodNotAllowed {
        message: "The method is not allowed for the requested URL.".into(),
    }
    .into()
}

/// Keystone's policy target for list calls: the caller's own domain when the token is
/// domain-scoped, nothing otherwise (absent keys make domain-reader rules fail, as
/// upstream; present-but-null ones would compare equal to a null domain).
pub(crate) fn list_target(ctx: &rustack_api_common::AuthContext) -> Value {
    match &ctx.domain_id {
        Some(d) => {
            json!({"target": {"domain_id": d, "domain": {"id": d}, "group": {"domain_id": d}}})
        }
        None => json!({}),
    }
}

/// `http://host:port` as the client addressed us (links point back where it came from).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:5000");
    format!("http://{host}")
}

/// `{"self": "<base>/v3/<path>"}`.
pub(crate) fn self_link(headers: &HeaderMap, path: &str) -> Value {
    json!({"self": format!("{}/v3/{}", base_url(headers), path)})
}

/// A list envelope: `{"<key>": [...], "links": {"self", "previous", "next"}}`.
pub(crate) fn list(headers: &HeaderMap, key: &str, path: &str, items: Vec<Value>) -> Value {
    json!({ key: items, "links": {"self": format!("{}/v3/{}", base_url(headers), path), "previous": Value::Null, "next": Value::Null} })
}

/// The object under `key` in a request body (`{"user": {...}}`), or 400.
pub(crate) fn body_obj(body: &[u8], key: &str) -> Result<Map<String, Value>, Error> {
    let v: Value = rustack_api_common::parse_json(body)?;
    match v {
        Value::Object(mut m) => match m.remove(key) {
            Some(Value::Object(o)) => Ok(o),
            Some(_) => Err(Error::bad_request(format!(
                "Invalid input for field '{key}': it must be an object."
            ))),
            None => Err(Error::bad_request(format!(
                "'{key}' is a required property"
            ))),
        },
        _ => Err(Error::bad_request(
            "The request body must be a JSON object.",
        )),
    }
}

/// Field access with Keystone's schema errors.
pub(crate) struct Fields(pub Map<String, Value>);

impl Fields {
    /// Removes and returns a string field; 400 if it has another type, is empty when
    /// `nonempty`, or is longer than `max`.
    pub fn opt_str(&mut self, name: &str, max: usize) -> Result<Option<String>, Error> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() > max => Err(Error::bad_request(format!(
                "Invalid input for field '{name}': '{s}' is too long"
            ))),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Error::bad_request(format!(
                "Invalid input for field '{name}': {other} is not of type 'string'"
            ))),
        }
    }
    /// A required, non-blank string field.
    pub fn req_str(&mut self, name: &str, max: usize) -> Result<String, Error> {
        match self.opt_str(name, max)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(Error::bad_request(format!(
                "Invalid input for field '{name}': it must not be empty"
            ))),
            None => Err(Error::bad_request(format!(
                "'{name}' is a required property"
            ))),
        }
    }
    /// A boolean field.
    pub fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, Error> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(Error::bad_request(format!(
                "Invalid input for field '{name}': {other} is not of type 'boolean'"
            ))),
        }
    }
    /// A list-of-strings field.
    pub fn opt_str_list(&mut self, name: &str) -> Result<Option<Vec<String>>, Error> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(Error::bad_request(format!(
                        "Invalid input for field '{name}': {other} is not of type 'string'"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(Error::bad_request(format!(
                "Invalid input for field '{name}': {other} is not of type 'array'"
            ))),
        }
    }
    /// Fails if any field is left (for resources whose schema forbids extras).
    pub fn deny_rest(&self) -> Result<(), Error> {
        match self.0.keys().next() {
            Some(k) => Err(Error::bad_request(format!("Invalid input for field '{k}': Additional properties are not allowed ('{k}' was unexpected)"))),
            None => Ok(()),
        }
    }
    /// Drops read-only attributes clients may echo back (`id`, `links`).
    pub fn drop_readonly(&mut self) {
        self.0.remove("links");
    }
}

/// Validates a tag list as Keystone does (strings of 1-255 chars, no '/' or ',').
pub(crate) fn check_tags(tags: &[String]) -> Result<(), Error> {
    if tags.len() > 80 {
        return Err(Error::bad_request(
            "Invalid input for field 'tags': too many tags (at most 80)",
        ));
    }
    for t in tags {
        if t.is_empty() || t.chars().count() > 255 || t.contains('/') || t.contains(',') {
            return Err(Error::bad_request(format!(
                "Invalid input for field 'tags': '{t}' is not a valid tag"
            )));
        }
    }
    Ok(())
}

/// Merges `extra` attributes into a rendered resource (Keystone returns them flattened).
pub(crate) fn with_extra(mut v: Value, extra: &Map<String, Value>) -> Value {
    if let Value::Object(m) = &mut v {
        for (k, x) in extra {
            m.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    v
}

/// `enabled` query filter semantics: absent = no filter; Keystone treats "0"/"false" as false.
pub(crate) fn bool_filter(q: &HashMap<String, String>, key: &str) -> Option<bool> {
    q.get(key).map(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "false" | "f" | "no" | "off"
        )
    })
}

/// Keystone's name filters: exact match, or `name__contains`, `__startswith`, `__endswith`
/// (and `__i` variants).
pub(crate) fn name_matches(q: &HashMap<String, String>, key: &str, value: &str) -> bool {
    if let Some(v) = q.get(key) {
        if v != value {
            return false;
        }
    }
    let lower = value.to_lowercase();
    for (suffix, f) in [
        (
            "__contains",
            (|a: &str, b: &str| a.contains(b)) as fn(&str, &str) -> bool,
        ),
        ("__startswith", |a: &str, b: &str| a.starts_with(b)),
        ("__endswith", |a: &str, b: &str| a.ends_with(b)),
    ] {
        if let Some(v) = q.get(&format!("{key}{suffix}")) {
            if !f(value, v) {
                return false;
            }
        }
        if let Some(v) = q.get(&format!("{key}__i{}", &suffix[2..])) {
            if !f(&lower, &v.to_lowercase()) {
                return false;
            }
        }
    }
    true
}

/// bcrypt for bootstrap, with the configured cost.
pub(crate) async fn hash_password_for_bootstrap(
    st: &Identity,
    password: String,
) -> Result<String, Error> {
    users::hash_password(st, password).await
}
