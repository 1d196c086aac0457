//! OS-TRUST trusts: a trustor's delegation of some of its roles on a project to a
//! trustee.

use rustack_common::Error;
use rustack_db::{b, db_internal, DbRow};
use serde_json::{Map, Value};
use sqlx::Row;

use super::{bo, obj, os, s, strs, Store};

/// A trust row; `roles` are role ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Trust {
    pub id: String,
    pub trustor_user_id: String,
    pub trustee_user_id: String,
    pub project_id: Option<String>,
    pub impersonation: bool,
    pub expires_at: Option<String>,
    pub remaining_uses: Option<i64>,
    pub roles: Vec<String>,
    pub extra: Map<String, Value>,
}

fn trust_from(r: &DbRow) -> Result<Trust, Error> {
    Ok(Trust {
        id: s(r, "id")?,
        trustor_user_id: s(r, "trustor_user_id")?,
        trustee_user_id: s(r, "trustee_user_id")?,
        project_id: os(r, "project_id")?,
        impersonation: bo(r, "impersonation")?,
        expires_at: os(r, "expires_at")?,
        remaining_uses: r
            .try_get::<Option<i64>, _>("remaining_uses")
            .map_err(db_internal)?,
        roles: strs(r, "roles")?,
        extra: obj(r, "extra")?,
    })
}

impl Store {
    /// Inserts a trust.
    pub async fn trust_create(&self, t: &Trust) -> Result<(), Error> {
        sqlx::query("INSERT INTO trust (id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, remaining_uses, roles, extra) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
            .bind(&t.id)
            .bind(&t.trustor_user_id)
            .bind(&t.trustee_user_id)
            .bind(&t.project_id)
            .bind(b(t.impersonation))
            .bind(&t.expires_at)
            .bind(t.remaining_uses)
            .bind(serde_json::to_string(&t.roles).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&t.extra).unwrap_or_else(|_| "{}".into()))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// A trust by id, or 404.
    pub async fn trust_require(&self, id: &str) -> Result<Trust, Error> {
        let row = sqlx::query("SELECT * FROM trust WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(trust_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find trust: {id}.")))
    }

    /// All trusts.
    pub async fn trust_list(&self) -> Result<Vec<Trust>, Error> {
        let rows = sqlx::query("SELECT * FROM trust ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(trust_from).collect()
    }

    /// Deletes a trust.
    pub async fn trust_delete(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM trust WHERE id=$1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }
}
