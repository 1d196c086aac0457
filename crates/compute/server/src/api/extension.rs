//! `GET /extensions` and `/extensions/{alias}`: nova's fixed v2 extension list.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use rustack_common::Error;
use rustack_compute_api::extensions::{Extension, EXTENSIONS};
use serde_json::{json, Value};

use super::{AppState, Ctx};
use crate::error::ApiResult;

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.1/extensions", get(list))
        .route("/v2.1/extensions/{alias}", get(show))
}

fn view(e: &Extension) -> Value {
    let (alias, name, description, updated) = e;
    json!({
        "alias": alias,
        "name": name,
        "description": description,
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": updated,
        "links": [],
    })
}

async fn list(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<Value>> {
    st.compute
        .authorize(&ctx.auth, "os_compute_api:extensions", &json!({}))?;
    Ok(Json(
        json!({"extensions": EXTENSIONS.iter().map(view).collect::<Vec<_>>()}),
    ))
}

async fn show(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(alias): Path<String>,
) -> ApiResult<Json<Value>> {
    st.compute
        .authorize(&ctx.auth, "os_compute_api:extensions", &json!({}))?;
    let e = EXTENSIONS
        .iter()
        .find(|e| e.0 == alias)
        .ok_or_else(|| Error::not_found("The resource could not be found."))?;
    Ok(Json(json!({"extension": view(e)})))
}
