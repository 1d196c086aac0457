//! The tasks API (`/v2/tasks`): list and show every task (import tasks started by
//! `POST /v2/images/{id}/import` included) and create `import` tasks, Glance's
//! older way to import an image from a URL: the task creates the image from
//! `input.image_properties`, downloads `input.import_from` into it and reports the
//! image in `result.image_id`. Access is admin-only by default
//! (`tasks_api_access`). As for `web-download`, a URL that cannot be reached is
//! refused at create with 400 (newer Glance does the same) instead of a task that
//! fails later.

use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rustack_common::Error;
use rustack_image_api::ImageStatus;
use serde_json::{json, Value};

use super::import::{fetch, import_from_web, uri_passes_filter};
use super::{
    caller, isotime, json_response, parse_body, query_pairs, read_body, ApiResult, St,
    MAX_JSON_BODY,
};
use crate::access::Caller;
use crate::store::{now_text, TaskRecord};
use crate::ImageService;

fn task_not_found(id: &str) -> Error {
    Error::not_found(format!("Task with the given id {id} was not found"))
}

/// The list view (Glance leaves `input`, `result` and `message` out of lists).
fn summary(t: &TaskRecord) -> Value {
    json!({"id": t.id, "type": t.task_type, "status": t.status, "owner": t.owner,
        "expires_at": null, "created_at": isotime(&t.created_at),
        "updated_at": isotime(&t.updated_at), "self": format!("/v2/tasks/{}", t.id),
        "schema": "/v2/schemas/task"})
}

fn detail(t: &TaskRecord) -> Value {
    let mut v = summary(t);
    if let Some(m) = v.as_object_mut() {
        m.insert("input".into(), t.input.clone());
        m.insert("result".into(), t.result.clone().unwrap_or(Value::Null));
        m.insert("message".into(), json!(t.message));
        m.insert("image_id".into(), json!(t.image_id));
        m.insert("request_id".into(), json!(t.request_id));
        m.insert("user_id".into(), json!(t.user_id));
    }
    v
}

/// Enforces `tasks_api_access` and the granular `rule`.
fn enforce(svc: &ImageService, caller: &Caller, rule: &str) -> Result<(), Error> {
    let target = json!({"project_id": caller.project(), "owner": caller.project()});
    svc.enforce(caller, "tasks_api_access", &target)?;
    svc.enforce(caller, rule, &target)
}

/// `GET /v2/tasks`: `status`, `type`, `sort_dir` (`created_at` order, newest first
/// by default), `limit` and `marker`.
pub(super) async fn task_list(
    st: St,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    enforce(&st, &caller, "get_tasks")?;
    let (mut status, mut kind, mut marker, mut limit) = (None, None, None, None);
    let mut desc = true;
    for (k, v) in query_pairs(q.as_deref()) {
        match k.as_str() {
            "status" => status = Some(v),
            "type" => kind = Some(v),
            "marker" => marker = Some(v),
            "limit" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| Error::bad_request("limit param must be an integer"))?;
                limit = Some(n);
            }
            "sort_dir" => match v.as_str() {
                "asc" => desc = false,
                "desc" => desc = true,
                _ => return Err(Error::bad_request(format!("Invalid sort direction: {v}")).into()),
            },
            "sort_key"
                if !["created_at", "updated_at", "id", "type", "status"].contains(&v.as_str()) =>
            {
                return Err(Error::bad_request(format!("Invalid sort key: {v}")).into());
            }
            _ => {}
        }
    }
    let owner = if caller.is_admin {
        None
    } else {
        caller.project()
    };
    let mut tasks = st.store.task_list(owner).await?;
    if desc {
        tasks.reverse();
    }
    tasks.retain(|t| {
        status.as_deref().is_none_or(|s| s == t.status)
            && kind.as_deref().is_none_or(|k| k == t.task_type)
    });
    if let Some(m) = &marker {
        let pos = tasks
            .iter()
            .position(|t| &t.id == m)
            .ok_or_else(|| task_not_found(m))?;
        tasks.drain(..=pos);
    }
    let mut next = None;
    if let Some(l) = limit {
        if tasks.len() > l {
            tasks.truncate(l);
            next = tasks.last().map(|t| format!("/v2/tasks?marker={}", t.id));
        }
    }
    let mut body = json!({"tasks": tasks.iter().map(summary).collect::<Vec<_>>(),
        "first": "/v2/tasks", "schema": "/v2/schemas/tasks"});
    if let (Some(n), Some(m)) = (next, body.as_object_mut()) {
        m.insert("next".into(), json!(n));
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET /v2/tasks/{task_id}`.
pub(super) async fn task_show(
    st: St,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    enforce(&st, &caller, "get_task")?;
    let t = st
        .store
        .task_get(&id)
        .await?
        .ok_or_else(|| task_not_found(&id))?;
    if !caller.is_admin && t.owner.as_deref() != caller.project() {
        return Err(task_not_found(&id).into());
    }
    Ok(json_response(StatusCode::OK, &detail(&t)))
}

/// Checks a create body: `{"type": "import", "input": {"import_from",
/// "import_from_format", "image_properties"}}`; returns the input.
fn validate_create(body: &Value) -> Result<Value, Error> {
    let m = body.as_object().ok_or_else(|| {
        Error::bad_request("Provided object does not match schema 'task': not an object")
    })?;
    if let Some(k) = m.keys().find(|k| !["type", "input"].contains(&k.as_str())) {
        return Err(Error::forbidden(format!("Attribute '{k}' is read-only.")));
    }
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(v) => {
            return Err(Error::bad_request(format!(
                "Provided object does not match schema 'task': {v} is not of type 'string'"
            )))
        }
        None => return Err(Error::bad_request("Task type is required.")),
    };
    if kind != "import" {
        return Err(Error::bad_request(format!(
            "Task type {kind} is not supported."
        )));
    }
    let input = match m.get("input") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => return Err(Error::bad_request("Task input is required.")),
    };
    for key in ["import_from", "import_from_format", "image_properties"] {
        if input.get(key).is_none() {
            return Err(Error::bad_request(format!(
                "Input does not contain '{key}' field"
            )));
        }
    }
    if !input["image_properties"].is_object() {
        return Err(Error::bad_request(
            "Input field 'image_properties' must be an object",
        ));
    }
    Ok(input)
}

/// `POST /v2/tasks`.
pub(super) async fn task_create(st: St, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let caller = caller(&st, &headers).await?;
    enforce(&st, &caller, "add_task")?;
    let raw = read_body(body, MAX_JSON_BODY).await?;
    let input = validate_create(&parse_body(&raw)?)?;
    let uri = input["import_from"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !uri_passes_filter(&uri) {
        return Err(
            Error::bad_request(format!("URI for import does not pass filtering: {uri}")).into(),
        );
    }
    let download = fetch(&st, &uri).await?;
    let img = super::image::create_record(&st, &caller, input["image_properties"].clone()).await?;
    if !st
        .store
        .image_set_status(&img.id, &[ImageStatus::Queued], ImageStatus::Importing)
        .await?
    {
        return Err(Error::conflict(format!(
            "Image {} was changed while the import task started",
            img.id
        ))
        .into());
    }
    let now = now_text();
    let task = TaskRecord {
        id: rustack_common::new_uuid(),
        image_id: img.id.clone(),
        task_type: "import".into(),
        status: "processing".into(),
        owner: caller.project().map(str::to_string),
        user_id: Some(caller.ctx.user_id.clone()),
        request_id: None,
        input,
        result: None,
        message: String::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    st.store.task_insert(&task).await?;
    let svc = st.0.clone();
    let (task_id, image_id, disk_format) = (task.id.clone(), img.id.clone(), img.disk_format);
    tokio::spawn(async move {
        let outcome = import_from_web(&svc, &image_id, download, disk_format.as_deref()).await;
        let stored = match outcome {
            Ok(()) => {
                tracing::info!(task.id = %task_id, image.id = %image_id, "import task finished");
                svc.store
                    .task_finish_with_result(
                        &task_id,
                        "success",
                        "",
                        &json!({ "image_id": image_id }),
                    )
                    .await
            }
            Err(e) => {
                tracing::warn!(task.id = %task_id, image.id = %image_id, error = %e,
                    "import task failed; image restored to queued");
                let _ = svc
                    .store
                    .image_set_status(&image_id, &[ImageStatus::Importing], ImageStatus::Queued)
                    .await;
                svc.store.task_finish(&task_id, "failure", &e).await
            }
        };
        if let Err(e) = stored {
            tracing::error!(task.id = %task_id, error = %e, "recording the task's outcome failed");
        }
    });
    Ok(json_response(StatusCode::CREATED, &detail(&task)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_are_checked() {
        let ok = json!({"type": "import", "input": {"import_from": "http://x/y",
            "import_from_format": "qcow2", "image_properties": {"name": "n"}}});
        assert!(validate_create(&ok).is_ok());
        assert!(validate_create(&json!({"type": "clone", "input": {}})).is_err());
        assert!(validate_create(&json!({"type": "import"})).is_err());
        assert!(
            validate_create(&json!({"type": "import", "input": {"import_from": "x"}})).is_err()
        );
        assert!(matches!(
            validate_create(&json!({"type": "import", "input": {}, "status": "x"})),
            Err(Error::Forbidden { .. })
        ));
    }
}
