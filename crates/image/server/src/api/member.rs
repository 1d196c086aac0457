//! Image members (`/v2/images/{id}/members`): the owner offers a `shared` image to
//! other projects, each member accepts or rejects it. Glance's rules: only shared
//! images have members; the owner adds and removes members (`add_member`,
//! `delete_member`); only the member itself changes its status (`modify_member`);
//! a member sees only its own membership; failures to see a membership are 404.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rustack_common::Error;
use rustack_image_api::{Member, MemberList, MemberStatus, Visibility};
use serde_json::Value;

use super::{caller, isotime, json_response, parse_body, read_body, ApiResult, St, MAX_JSON_BODY};
use crate::access::Caller;
use crate::store::{ImageRecord, MemberRecord};
use crate::ImageService;

fn view(m: &MemberRecord) -> Member {
    Member {
        member_id: m.member.clone(),
        image_id: m.image_id.clone(),
        status: m.status.clone(),
        created_at: isotime(&m.created_at),
        updated_at: isotime(&m.updated_at),
        schema: "/v2/schemas/member".into(),
    }
}

fn only_shared(img: &ImageRecord) -> Result<(), Error> {
    if img.visibility != Visibility::Shared {
        return Err(Error::forbidden("Only shared images have members."));
    }
    Ok(())
}

/// The image, 404 in the members API's words when the caller cannot see it.
async fn lookup(svc: &ImageService, caller: &Caller, id: &str) -> Result<ImageRecord, Error> {
    svc.visible_image(caller, id).await.map_err(|e| match e {
        Error::NotFound { .. } => Error::not_found(format!("Image {id} not found.")),
        other => other,
    })
}

/// The members the caller may see: all for the owner and admins, its own otherwise.
fn viewer_filter<'a>(caller: &'a Caller, img: &ImageRecord) -> Option<&'a str> {
    if caller.is_admin || img.owner.as_deref() == caller.project() {
        None
    } else {
        Some(caller.project().unwrap_or(""))
    }
}

/// `POST /v2/images/{id}/members`.
pub(super) async fn member_create(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let raw = read_body(body, MAX_JSON_BODY).await?;
    let body = parse_body(&raw)?;
    let member = match &body {
        Value::Object(m) => match m.get("member") {
            None => return Err(Error::bad_request("Member to be added not specified").into()),
            Some(Value::String(s)) if s.chars().count() > 255 => {
                return Err(Error::bad_request("Member id must be at most 255 characters.").into())
            }
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | Some(Value::Null) => {
                return Err(Error::bad_request("Member can't be empty").into())
            }
            Some(other) => other.to_string(),
        },
        _ => {
            return Err(Error::bad_request(
                "Expected a member in the form: {\"member\": \"image_id\"}",
            )
            .into())
        }
    };
    let img = lookup(&st, &caller, &id).await?;
    let not_allowed = || Error::forbidden(format!("Not allowed to create members for image {id}."));
    only_shared(&img).map_err(|_| not_allowed())?;
    st.enforce_image(
        &caller,
        &img,
        "add_member",
        Some(not_allowed().external_message().to_string()),
    )?;
    let quota = st.cfg.image_member_quota;
    if quota >= 0 {
        let n = st.store.member_count(&id).await?;
        if n + 1 > quota {
            return Err(Error::over_quota(format!(
                "Image member limit exceeded for image {id}: The limit has been exceeded on the \
                 number of allowed image members for this image. Attempted: {}, Maximum: {quota}:",
                n + 1
            ))
            .into());
        }
    }
    let rec = st.store.member_insert(&id, &member).await?;
    tracing::info!(image.id = %id, member.id = %member, "image member added");
    Ok(json_response(StatusCode::OK, &view(&rec)))
}

/// `GET /v2/images/{id}/members`.
pub(super) async fn member_list(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = lookup(&st, &caller, &id).await?;
    if let Err(e) = only_shared(&img) {
        return Err(Error::forbidden(format!(
            "Not allowed to list members for image {id}: {}",
            e.external_message()
        ))
        .into());
    }
    st.enforce_image(&caller, &img, "get_members", None)?;
    let members = st
        .store
        .member_list(&id, viewer_filter(&caller, &img))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &MemberList {
            members: members.iter().map(view).collect(),
            schema: "/v2/schemas/members".into(),
        },
    ))
}

async fn visible_member(
    st: &ImageService,
    caller: &Caller,
    img: &ImageRecord,
    member: &str,
) -> Result<MemberRecord, Error> {
    let missing = || {
        Error::not_found(format!(
            "{member} not found in the member list of the image {}.",
            img.id
        ))
    };
    if let Some(only) = viewer_filter(caller, img) {
        if only != member {
            return Err(missing());
        }
    }
    st.store
        .member_get(&img.id, member)
        .await?
        .ok_or_else(missing)
}

/// `GET /v2/images/{id}/members/{member}`.
pub(super) async fn member_show(
    st: St,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = lookup(&st, &caller, &id).await?;
    // Glance turns every refusal here into 404.
    only_shared(&img).map_err(|e| Error::not_found(e.external_message().to_string()))?;
    st.enforce_image(&caller, &img, "get_member", None)
        .map_err(|_| {
            Error::not_found(format!(
                "{member} not found in the member list of the image {id}."
            ))
        })?;
    let rec = visible_member(&st, &caller, &img, &member).await?;
    Ok(json_response(StatusCode::OK, &view(&rec)))
}

/// `PUT /v2/images/{id}/members/{member}`.
pub(super) async fn member_update(
    st: St,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let raw = read_body(body, MAX_JSON_BODY).await?;
    let body = parse_body(&raw)?;
    let status = match &body {
        Value::Object(m) => match m.get("status") {
            Some(v) => v.clone(),
            None => return Err(Error::bad_request("Status not specified").into()),
        },
        _ => {
            return Err(Error::bad_request(
                "Expected a status in the form: {\"status\": \"status\"}",
            )
            .into())
        }
    };
    let img = lookup(&st, &caller, &id).await?;
    let not_allowed = || Error::forbidden(format!("Not allowed to update members for image {id}."));
    only_shared(&img).map_err(|_| not_allowed())?;
    st.enforce_image(&caller, &img, "get_member", None)
        .map_err(|_| not_allowed())?;
    visible_member(&st, &caller, &img, &member).await?;
    let mut target = ImageService::image_target(&caller, &img);
    // modify_member checks the membership being changed: `project_id:%(member_id)s`.
    if let Value::Object(t) = &mut target {
        t.insert("member_id".into(), Value::String(member.clone()));
        t.insert("member".into(), Value::String(member.clone()));
    }
    if !st.check(&caller.ctx, "modify_member", &target) {
        return Err(not_allowed().into());
    }
    let status = status
        .as_str()
        .and_then(MemberStatus::parse)
        .ok_or_else(|| {
            Error::bad_request(
                "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".",
            )
        })?;
    let rec = st
        .store
        .member_set_status(&id, &member, status.as_str())
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "{member} not found in the member list of the image {id}."
            ))
        })?;
    tracing::info!(image.id = %id, member.id = %member, member.status = status.as_str(), "image member status changed");
    Ok(json_response(StatusCode::OK, &view(&rec)))
}

/// `DELETE /v2/images/{id}/members/{member}`.
pub(super) async fn member_delete(
    st: St,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    let img = lookup(&st, &caller, &id).await?;
    let not_allowed = || Error::forbidden(format!("Not allowed to delete members for image {id}."));
    only_shared(&img).map_err(|_| not_allowed())?;
    visible_member(&st, &caller, &img, &member).await?;
    st.enforce_image(
        &caller,
        &img,
        "delete_member",
        Some(not_allowed().external_message().to_string()),
    )?;
    st.store.member_delete(&id, &member).await?;
    tracing::info!(image.id = %id, member.id = %member, "image member removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
