//! `/resource_classes` (1.2+) and `/traits` (1.6+): the standard names from
//! os-resource-classes and os-traits plus `CUSTOM_*` ones.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rustack_placement_api::{is_custom_name, STANDARD_RESOURCE_CLASSES, STANDARD_TRAITS};
use serde::Deserialize;
use serde_json::json;

use super::{authorize, body, check_params, query_pairs, single, with_cache_headers, St, Version};
use crate::error::{PResult, PlacementError};

fn gate(v: Version, minor: u16) -> PResult<()> {
    if v.at_least(minor) {
        Ok(())
    } else {
        Err(PlacementError::not_found(
            "The resource could not be found.",
        ))
    }
}

fn class_json(name: &str) -> serde_json::Value {
    json!({"name": name, "links": [{"rel": "self", "href": format!("/resource_classes/{name}")}]})
}

fn with_location(mut resp: Response, loc: &str) -> Response {
    if let Ok(h) = HeaderValue::from_str(loc) {
        resp.headers_mut().insert("location", h);
    }
    resp
}

/// `GET /resource_classes`.
pub async fn classes_list(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
) -> PResult<Response> {
    gate(v, 2)?;
    authorize(&svc, &headers, "placement:resource_classes:list").await?;
    let mut names: Vec<String> = STANDARD_RESOURCE_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(svc.store.custom_classes().await?.into_iter().map(|c| c.0));
    let list: Vec<_> = names.iter().map(|n| class_json(n)).collect();
    Ok(with_cache_headers(
        v,
        Json(json!({"resource_classes": list})).into_response(),
        None,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassBody {
    name: String,
}

fn check_custom_class(name: &str) -> PResult<()> {
    if !is_custom_name(name) {
        return Err(PlacementError::bad_request(format!(
            "JSON does not validate: '{name}' does not match '^CUSTOM\\\\_[A-Z0-9_]+$'"
        )));
    }
    Ok(())
}

/// `POST /resource_classes`.
pub async fn class_create(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    gate(v, 2)?;
    authorize(&svc, &headers, "placement:resource_classes:create").await?;
    let b: ClassBody = body(&headers, &bytes)?;
    check_custom_class(&b.name)?;
    if !svc.store.class_create(&b.name).await? {
        return Err(PlacementError::new(
            409,
            rustack_placement_api::codes::DUPLICATE_NAME,
            format!("Conflicting resource class already exists: {}", b.name),
        ));
    }
    Ok(with_location(
        StatusCode::CREATED.into_response(),
        &format!("/resource_classes/{}", b.name),
    ))
}

/// `GET /resource_classes/{name}`.
pub async fn class_show(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PResult<Response> {
    gate(v, 2)?;
    authorize(&svc, &headers, "placement:resource_classes:show").await?;
    if !svc.store.class_exists(&name).await? {
        return Err(PlacementError::not_found(format!(
            "No such resource class {name}."
        )));
    }
    Ok(with_cache_headers(
        v,
        Json(class_json(&name)).into_response(),
        None,
    ))
}

/// `PUT /resource_classes/{name}`: from 1.7 a bodiless create-or-verify (201/204);
/// before, a rename of a custom class.
pub async fn class_put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: axum::body::Bytes,
) -> PResult<Response> {
    gate(v, 2)?;
    authorize(&svc, &headers, "placement:resource_classes:update").await?;
    if !v.at_least(7) {
        let b: ClassBody = body(&headers, &bytes)?;
        check_custom_class(&b.name)?;
        if STANDARD_RESOURCE_CLASSES.contains(&name.as_str()) {
            return Err(PlacementError::bad_request(format!(
                "Cannot update standard resource class {name}"
            )));
        }
        svc.store.class_rename(&name, &b.name).await?;
        return Ok(Json(class_json(&b.name)).into_response());
    }
    if STANDARD_RESOURCE_CLASSES.contains(&name.as_str()) {
        return Err(PlacementError::bad_request(format!(
            "Cannot update standard resource class {name}"
        )));
    }
    check_custom_class(&name)?;
    let created = svc.store.class_create(&name).await?;
    let resp = if created {
        StatusCode::CREATED.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    Ok(with_location(resp, &format!("/resource_classes/{name}")))
}

/// `DELETE /resource_classes/{name}`.
pub async fn class_delete(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PResult<StatusCode> {
    gate(v, 2)?;
    authorize(&svc, &headers, "placement:resource_classes:delete").await?;
    if STANDARD_RESOURCE_CLASSES.contains(&name.as_str()) {
        return Err(PlacementError::bad_request(format!(
            "Cannot delete standard resource class {name}."
        )));
    }
    svc.store.class_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /traits?name=startswith:X|in:A,B&associated=true|false`.
pub async fn traits_list(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> PResult<Response> {
    gate(v, 6)?;
    authorize(&svc, &headers, "placement:traits:list").await?;
    let params = query_pairs(q.as_deref());
    check_params(&params, |k| k == "name" || k == "associated")?;
    let mut names: Vec<String> = STANDARD_TRAITS.iter().map(|s| s.to_string()).collect();
    names.extend(svc.store.custom_traits().await?);
    if let Some(filter) = single(&params, "name")? {
        if let Some(prefix) = filter.strip_prefix("startswith:") {
            names.retain(|n| n.starts_with(prefix));
        } else if let Some(list) = filter.strip_prefix("in:") {
            let want: Vec<&str> = list.split(',').collect();
            names.retain(|n| want.contains(&n.as_str()));
        } else {
            return Err(PlacementError::bad_request(format!(
                "Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: \"{filter}\""
            )));
        }
    }
    if let Some(assoc) = single(&params, "associated")? {
        let want = match assoc {
            "true" => true,
            "false" => false,
            other => {
                return Err(PlacementError::bad_request(format!(
                    "Invalid query string parameters: '{other}' is not one of ['true', 'false']"
                )))
            }
        };
        let used = svc.store.associated_traits().await?;
        names.retain(|n| used.contains(n) == want);
    }
    names.sort();
    Ok(with_cache_headers(
        v,
        Json(json!({"traits": names})).into_response(),
        None,
    ))
}

/// `GET /traits/{name}`: 204 if it exists.
pub async fn trait_show(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PResult<Response> {
    gate(v, 6)?;
    authorize(&svc, &headers, "placement:traits:show").await?;
    if !svc.store.trait_exists(&name).await? {
        return Err(PlacementError::not_found(format!(
            "No such trait(s): {name}."
        )));
    }
    Ok(with_cache_headers(
        v,
        StatusCode::NO_CONTENT.into_response(),
        None,
    ))
}

/// `PUT /traits/{name}`: creates a custom trait (201) or confirms it (204).
pub async fn trait_put(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PResult<Response> {
    gate(v, 6)?;
    authorize(&svc, &headers, "placement:traits:update").await?;
    let loc = format!("/traits/{name}");
    if STANDARD_TRAITS.contains(&name.as_str()) {
        return Ok(with_location(StatusCode::NO_CONTENT.into_response(), &loc));
    }
    if !is_custom_name(&name) {
        return Err(PlacementError::bad_request(
            "The trait is invalid. A valid trait must be no longer than 255 characters, start with the prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\"",
        ));
    }
    let created = svc.store.trait_create(&name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    Ok(with_location(status.into_response(), &loc))
}

/// `DELETE /traits/{name}` (custom, unused traits only).
pub async fn trait_delete(
    State(svc): St,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> PResult<StatusCode> {
    gate(v, 6)?;
    authorize(&svc, &headers, "placement:traits:delete").await?;
    if STANDARD_TRAITS.contains(&name.as_str()) {
        return Err(PlacementError::bad_request(format!(
            "Cannot delete standard trait {name}."
        )));
    }
    svc.store.trait_delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
