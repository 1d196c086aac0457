//! Tasks: the import tasks of an image (`GET /v2/images/{id}/tasks`) and the
//! tasks API (`/v2/tasks`).

use rustack_common::Error;
use rustack_db::{db_internal, DbRow};
use serde_json::Value;

use super::{now_text, os, s, Store};

/// One task as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Task id.
    pub id: String,
    /// The image it works on.
    pub image_id: String,
    /// Glance's task type (`api_image_import`).
    pub task_type: String,
    /// `pending`, `processing`, `success` or `failure`.
    pub status: String,
    /// Owning project.
    pub owner: Option<String>,
    /// The user who started it.
    pub user_id: Option<String>,
    /// The request that started it.
    pub request_id: Option<String>,
    /// The import request.
    pub input: Value,
    /// Result document, when finished.
    pub result: Option<Value>,
    /// Failure message (empty when none).
    pub message: String,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
}

const TASK_COLUMNS: &str = "id, image_id, type, status, owner, user_id, request_id, input, \
     result, message, created_at, updated_at";

fn record(row: &DbRow) -> Result<TaskRecord, Error> {
    let input = s(row, "input")?;
    let result = os(row, "result")?;
    Ok(TaskRecord {
        id: s(row, "id")?,
        image_id: s(row, "image_id")?,
        task_type: s(row, "type")?,
        status: s(row, "status")?,
        owner: os(row, "owner")?,
        user_id: os(row, "user_id")?,
        request_id: os(row, "request_id")?,
        input: serde_json::from_str(&input).unwrap_or(Value::Null),
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        message: s(row, "message")?,
        created_at: s(row, "created_at")?,
        updated_at: s(row, "updated_at")?,
    })
}

impl Store {
    /// Records a new `processing` task.
    pub async fn task_insert(&self, t: &TaskRecord) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO image_tasks (id, image_id, type, status, owner, user_id, request_id, \
             input, result, message, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&t.id)
        .bind(&t.image_id)
        .bind(&t.task_type)
        .bind(&t.status)
        .bind(&t.owner)
        .bind(&t.user_id)
        .bind(&t.request_id)
        .bind(t.input.to_string())
        .bind(t.result.as_ref().map(|r| r.to_string()))
        .bind(&t.message)
        .bind(&t.created_at)
        .bind(&t.updated_at)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(())
    }

    /// Finishes a task with `status` (`success`/`failure`) and `message`.
    pub async fn task_finish(&self, id: &str, status: &str, message: &str) -> Result<(), Error> {
        sqlx::query(
            "UPDATE image_tasks SET status = $1, message = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(message)
        .bind(now_text())
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(())
    }

    /// Finishes a task with `status`, `message` and a result document.
    pub async fn task_finish_with_result(
        &self,
        id: &str,
        status: &str,
        message: &str,
        result: &Value,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE image_tasks SET status = $1, message = $2, result = $3, updated_at = $4 \
             WHERE id = $5",
        )
        .bind(status)
        .bind(message)
        .bind(result.to_string())
        .bind(now_text())
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(())
    }

    /// The task `id`.
    pub async fn task_get(&self, id: &str) -> Result<Option<TaskRecord>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM image_tasks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        row.as_ref().map(record).transpose()
    }

    /// Every task (of `owner` when given), oldest first.
    pub async fn task_list(&self, owner: Option<&str>) -> Result<Vec<TaskRecord>, Error> {
        let rows = match owner {
            Some(o) => {
                sqlx::query(&format!(
                "SELECT {TASK_COLUMNS} FROM image_tasks WHERE owner = $1 ORDER BY created_at, id"
            ))
                .bind(o)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {TASK_COLUMNS} FROM image_tasks ORDER BY created_at, id"
                ))
                .fetch_all(self.pool())
                .await
            }
        }
        .map_err(db_internal)?;
        rows.iter().map(record).collect()
    }

    /// The tasks of `image_id`, oldest first.
    pub async fn tasks_for_image(&self, image_id: &str) -> Result<Vec<TaskRecord>, Error> {
        let rows = sqlx::query(
            "SELECT id, image_id, type, status, owner, user_id, request_id, input, result, \
             message, created_at, updated_at FROM image_tasks WHERE image_id = $1 ORDER BY created_at",
        )
        .bind(image_id)
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter().map(record).collect()
    }

    /// Marks tasks a previous process left `processing` as failed.
    pub async fn task_fail_unfinished(&self) -> Result<u64, Error> {
        let n = sqlx::query(
            "UPDATE image_tasks SET status = 'failure', message = $1, updated_at = $2 \
             WHERE status IN ('pending', 'processing')",
        )
        .bind("The image service restarted while the task was running.")
        .bind(now_text())
        .execute(self.pool())
        .await
        .map_err(db_internal)?
        .rows_affected();
        Ok(n)
    }
}
