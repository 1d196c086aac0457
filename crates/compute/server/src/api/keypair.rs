//! `/os-keypairs`: 2.1 (200 on create, 202 on delete), 2.2 (`type`, 201, 204), 2.10
//! (`user_id` for admins), 2.35 (`limit`/`marker`, `keypairs_links`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::ApiVersion;
use serde_json::{json, Map, Value};

use super::params::{self, Params};
use super::{base_url, AppState, Ctx};
use crate::app::keypair::{KeyPair, KeyPairCreate};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/os-keypairs", get(list).post(create))
        .route("/v2.1/os-keypairs/{name}", get(show).delete(delete))
}

fn view(k: &KeyPair, v: ApiVersion, fields: &[&str]) -> Value {
    let mut m = Map::new();
    for f in fields {
        let val = match *f {
            "name" => json!(k.name),
            "public_key" => json!(k.public_key),
            "fingerprint" => json!(k.fingerprint),
            "user_id" => json!(k.user_id),
            "id" => json!(k.id),
            "created_at" => json!(k.created_at),
            "deleted" => json!(false),
            _ => Value::Null,
        };
        m.insert((*f).to_owned(), val);
    }
    if v.at_least(2) {
        m.insert("type".into(), json!(k.key_type));
    }
    Value::Object(m)
}

/// `user_id` from the query at 2.10+.
fn query_user(p: &Params, v: ApiVersion) -> Option<String> {
    if v.at_least(10) {
        p.iter()
            .find(|(k, _)| k == "user_id")
            .map(|(_, u)| u.clone())
    } else {
        None
    }
}

fn parse_create(body: &Value, v: ApiVersion) -> Result<KeyPairCreate, Error> {
    let k = params::wrapped(body, "keypair")?;
    if let Some(o) = body.as_object() {
        params::no_extra_keys(o, &["keypair"])?;
    }
    let mut allowed = vec!["name", "public_key"];
    if v.at_least(2) {
        allowed.push("type");
    }
    if v.at_least(10) {
        allowed.push("user_id");
    }
    params::no_extra_keys(k, &allowed)?;
    let name = match k.get("name") {
        Some(Value::String(s))
            if !s.is_empty()
                && s.chars().count() <= 255
                && s.trim() == s
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_- ".contains(c)) =>
        {
            s.clone()
        }
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute name. Value: {other}. {other} does not match '^[_\\- a-zA-Z0-9]+$'"
            )))
        }
        None => {
            return Err(Error::bad_request(
                "Invalid input for field/attribute keypair. 'name' is a required property",
            ))
        }
    };
    let key_type = match k.get("type") {
        None => "ssh".to_owned(),
        Some(Value::String(s)) if s == "ssh" || s == "x509" => s.clone(),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute type. Value: {other}. {other} is not one of ['ssh', 'x509']"
            )))
        }
    };
    let public_key = match k.get("public_key") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute public_key. Value: {other}. {other} is not of type 'string'"
            )))
        }
    };
    let user_id = match k.get("user_id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(Error::bad_request(format!(
                "Invalid input for field/attribute user_id. Value: {other}. {other} is not of type 'string'"
            )))
        }
    };
    Ok(KeyPairCreate {
        name,
        key_type,
        public_key,
        user_id,
    })
}

async fn create(State(st): State<AppState>, ctx: Ctx, body: Bytes) -> ApiResult<Response> {
    let req = parse_create(&params::json_body(&body)?, ctx.version)?;
    let (k, private_key) = st.compute.keypair_create(&ctx.auth, req).await?;
    let mut out = view(
        &k,
        ctx.version,
        &["name", "public_key", "fingerprint", "user_id"],
    );
    if let Some(pk) = private_key {
        out["private_key"] = json!(pk);
    }
    let status = if ctx.version.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": out}))).into_response())
}

async fn list(
    State(st): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(&p, ctx.version, &["user_id", "limit", "marker"])?;
    let user = query_user(&p, ctx.version);
    let (limit, marker) = if ctx.version.at_least(35) {
        let (l, m) = params::limit_and_marker(&p)?;
        (Some(l), m)
    } else {
        (None, None)
    };
    let keys = st
        .compute
        .keypair_list(&ctx.auth, user.as_deref(), limit, marker.as_deref())
        .await?;
    let items: Vec<Value> = keys
        .iter()
        .map(|k| json!({"keypair": view(k, ctx.version, &["name", "public_key", "fingerprint"])}))
        .collect();
    let mut body = json!({"keypairs": items});
    if let (Some(l), Some(last)) = (limit, keys.last()) {
        if l > 0 && keys.len() == l {
            let mut href = format!(
                "{}/v2.1/os-keypairs?limit={l}&marker={}",
                base_url(&headers),
                last.name
            );
            if let Some(u) = &user {
                href.push_str(&format!("&user_id={u}"));
            }
            body["keypairs_links"] = json!([{"rel": "next", "href": href}]);
        }
    }
    Ok(Json(body))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<Json<Value>> {
    params::check_query_v275(&p, ctx.version, &["user_id"])?;
    let user = query_user(&p, ctx.version);
    let k = st
        .compute
        .keypair_show(&ctx.auth, user.as_deref(), &name)
        .await?;
    let mut out = view(
        &k,
        ctx.version,
        &[
            "name",
            "public_key",
            "fingerprint",
            "user_id",
            "created_at",
            "deleted",
            "deleted_at",
            "id",
            "updated_at",
        ],
    );
    out["deleted_at"] = Value::Null;
    out["updated_at"] = Value::Null;
    Ok(Json(json!({"keypair": out})))
}

async fn delete(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> ApiResult<StatusCode> {
    params::check_query_v275(&p, ctx.version, &["user_id"])?;
    let user = query_user(&p, ctx.version);
    st.compute
        .keypair_delete(&ctx.auth, user.as_deref(), &name)
        .await?;
    Ok(if ctx.version.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}
