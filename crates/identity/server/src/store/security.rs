//! Security compliance state: each user's recent password hashes (for
//! `unique_last_password_count`) and failed-authentication count (for lockout).

use rustack_common::Error;
use rustack_db::db_internal;
use sqlx::Row;

use super::{os, s, Store};

impl Store {
    /// Records `hash` as the user's newest password, keeping the newest `keep` (at least
    /// one).
    pub async fn password_history_add(
        &self,
        user_id: &str,
        hash: &str,
        keep: u32,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1,$2,$3)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(super::now_text())
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        let all = self.password_history(user_id).await?;
        for old in all.iter().skip(keep.max(1) as usize) {
            sqlx::query("DELETE FROM password_history WHERE user_id=$1 AND password_hash=$2")
                .bind(user_id)
                .bind(old)
                .execute(self.pool())
                .await
                .map_err(db_internal)?;
        }
        Ok(())
    }

    /// The user's recorded password hashes, newest first.
    pub async fn password_history(&self, user_id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query(
            "SELECT password_hash FROM password_history WHERE user_id=$1 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter().map(|r| s(r, "password_hash")).collect()
    }

    /// The user's failed authentications in a row and when the last one happened.
    pub async fn lockout_get(&self, user_id: &str) -> Result<(i64, Option<String>), Error> {
        let row = sqlx::query("SELECT * FROM user_lockout WHERE user_id=$1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        match row {
            None => Ok((0, None)),
            Some(r) => Ok((
                r.try_get::<i64, _>("failed_auth_count")
                    .map_err(db_internal)?,
                os(&r, "failed_auth_at")?,
            )),
        }
    }

    /// Counts one more failed authentication, now.
    pub async fn lockout_record_failure(&self, user_id: &str) -> Result<(), Error> {
        let (count, _) = self.lockout_get(user_id).await?;
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        sqlx::query("DELETE FROM user_lockout WHERE user_id=$1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_internal)?;
        sqlx::query(
            "INSERT INTO user_lockout (user_id, failed_auth_count, failed_auth_at) VALUES ($1,$2,$3)",
        )
        .bind(user_id)
        .bind(count + 1)
        .bind(super::now_text())
        .execute(&mut *tx)
        .await
        .map_err(db_internal)?;
        tx.commit().await.map_err(db_internal)
    }

    /// Forgets the user's failed authentications (a success, or an administrator's reset).
    pub async fn lockout_clear(&self, user_id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM user_lockout WHERE user_id=$1")
            .bind(user_id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }
}
