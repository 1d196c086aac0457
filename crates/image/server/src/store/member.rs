//! Image memberships (the projects a `shared` image is offered to).

use rustack_common::Error;
use rustack_db::{db_internal, map_err, DbRow};

use super::{now_text, s, Store};

/// One membership as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// The image.
    pub image_id: String,
    /// The member project.
    pub member: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    /// Creation time (stored form).
    pub created_at: String,
    /// Update time (stored form).
    pub updated_at: String,
}

fn record(row: &DbRow) -> Result<MemberRecord, Error> {
    Ok(MemberRecord {
        image_id: s(row, "image_id")?,
        member: s(row, "member")?,
        status: s(row, "status")?,
        created_at: s(row, "created_at")?,
        updated_at: s(row, "updated_at")?,
    })
}

impl Store {
    /// Adds `member` to `image_id` as `pending`; 409 if it is already a member.
    pub async fn member_insert(&self, image_id: &str, member: &str) -> Result<MemberRecord, Error> {
        let now = now_text();
        let rec = MemberRecord {
            image_id: image_id.to_string(),
            member: member.to_string(),
            status: "pending".into(),
            created_at: now.clone(),
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO image_members (image_id, member, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&rec.image_id)
        .bind(&rec.member)
        .bind(&rec.status)
        .bind(&rec.created_at)
        .bind(&rec.updated_at)
        .execute(self.pool())
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("Member {member} is duplicated for image {image_id}")
            })
        })?;
        Ok(rec)
    }

    /// The membership of `member` in `image_id`.
    pub async fn member_get(
        &self,
        image_id: &str,
        member: &str,
    ) -> Result<Option<MemberRecord>, Error> {
        let row = sqlx::query(
            "SELECT image_id, member, status, created_at, updated_at FROM image_members \
             WHERE image_id = $1 AND member = $2",
        )
        .bind(image_id)
        .bind(member)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        row.as_ref().map(record).transpose()
    }

    /// Members of `image_id`, oldest first; only `only_member`'s own record when given
    /// (a member sees its own membership, the owner and admins see all).
    pub async fn member_list(
        &self,
        image_id: &str,
        only_member: Option<&str>,
    ) -> Result<Vec<MemberRecord>, Error> {
        let rows =
            match only_member {
                Some(m) => sqlx::query(
                    "SELECT image_id, member, status, created_at, updated_at FROM image_members \
                 WHERE image_id = $1 AND member = $2",
                )
                .bind(image_id)
                .bind(m)
                .fetch_all(self.pool())
                .await,
                None => sqlx::query(
                    "SELECT image_id, member, status, created_at, updated_at FROM image_members \
                 WHERE image_id = $1 ORDER BY created_at, member",
                )
                .bind(image_id)
                .fetch_all(self.pool())
                .await,
            }
            .map_err(db_internal)?;
        rows.iter().map(record).collect()
    }

    /// Members of `image_id`.
    pub async fn member_count(&self, image_id: &str) -> Result<i64, Error> {
        let rows = self.member_list(image_id, None).await?;
        Ok(rows.len() as i64)
    }

    /// Sets a membership's status; the updated record, or `None` if it is gone.
    pub async fn member_set_status(
        &self,
        image_id: &str,
        member: &str,
        status: &str,
    ) -> Result<Option<MemberRecord>, Error> {
        sqlx::query(
            "UPDATE image_members SET status = $1, updated_at = $2 WHERE image_id = $3 AND member = $4",
        )
        .bind(status)
        .bind(now_text())
        .bind(image_id)
        .bind(member)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        self.member_get(image_id, member).await
    }

    /// Removes a membership; false if there was none.
    pub async fn member_delete(&self, image_id: &str, member: &str) -> Result<bool, Error> {
        let n = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
            .bind(image_id)
            .bind(member)
            .execute(self.pool())
            .await
            .map_err(db_internal)?
            .rows_affected();
        Ok(n > 0)
    }
}
