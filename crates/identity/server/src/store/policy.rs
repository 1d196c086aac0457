//! Policies (`/v3/policies`: opaque blobs Keystone stores and serves, never enforces) and
//! OAuth1 consumers (`/v3/OS-OAUTH1/consumers`).

use rustack_common::Error;
use rustack_db::{db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{obj, os, s, Store};

/// A policy row; `blob` is whatever the client stored (Keystone does not parse it).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub id: String,
    pub policy_type: String,
    pub blob: String,
    pub extra: Map<String, Value>,
}

/// An OAuth1 consumer row. The secret is kept as given, as Keystone does: OAuth1's
/// HMAC-SHA1 signatures need it in the clear; the API shows it only on create.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    pub id: String,
    pub description: Option<String>,
    pub secret: String,
    pub extra: Map<String, Value>,
}

fn policy_from(r: &DbRow) -> Result<Policy, Error> {
    Ok(Policy {
        id: s(r, "id")?,
        policy_type: s(r, "type")?,
        blob: s(r, "blob")?,
        extra: obj(r, "extra")?,
    })
}

fn consumer_from(r: &DbRow) -> Result<Consumer, Error> {
    Ok(Consumer {
        id: s(r, "id")?,
        description: os(r, "description")?,
        secret: s(r, "secret")?,
        extra: obj(r, "extra")?,
    })
}

fn text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Inserts a policy.
    pub async fn policy_create(&self, p: &Policy) -> Result<(), Error> {
        sqlx::query("INSERT INTO policy (id, type, blob, extra) VALUES ($1,$2,$3,$4)")
            .bind(&p.id)
            .bind(&p.policy_type)
            .bind(&p.blob)
            .bind(text(&p.extra))
            .execute(self.pool())
            .await
            .map_err(|e| {
                map_err(e, || {
                    format!(
                        "Conflict occurred attempting to store policy - Duplicate ID, {}.",
                        p.id
                    )
                })
            })?;
        Ok(())
    }

    /// Replaces a policy's mutable fields.
    pub async fn policy_update(&self, p: &Policy) -> Result<(), Error> {
        sqlx::query("UPDATE policy SET type=$2, blob=$3, extra=$4 WHERE id=$1")
            .bind(&p.id)
            .bind(&p.policy_type)
            .bind(&p.blob)
            .bind(text(&p.extra))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// A policy by id, or 404.
    pub async fn policy_require(&self, id: &str) -> Result<Policy, Error> {
        let row = sqlx::query("SELECT * FROM policy WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(policy_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find policy: {id}.")))
    }

    /// All policies.
    pub async fn policy_list(&self) -> Result<Vec<Policy>, Error> {
        let rows = sqlx::query("SELECT * FROM policy ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(policy_from).collect()
    }

    /// Deletes a policy and its endpoint associations.
    pub async fn policy_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM policy_association WHERE policy_id=$1",
                "DELETE FROM policy WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Associates `policy_id` with an endpoint, a service, or a service in a region
    /// (empty strings for the parts not given), replacing whatever policy held that
    /// slot before (Keystone keeps one policy per slot).
    pub async fn policy_association_set(
        &self,
        policy_id: &str,
        endpoint_id: &str,
        service_id: &str,
        region_id: &str,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        sqlx::query(
            "DELETE FROM policy_association WHERE endpoint_id=$1 AND service_id=$2 AND region_id=$3",
        )
        .bind(endpoint_id)
        .bind(service_id)
        .bind(region_id)
        .execute(&mut *tx)
        .await
        .map_err(db_internal)?;
        sqlx::query(
            "INSERT INTO policy_association (policy_id, endpoint_id, service_id, region_id) VALUES ($1,$2,$3,$4)",
        )
        .bind(policy_id)
        .bind(endpoint_id)
        .bind(service_id)
        .bind(region_id)
        .execute(&mut *tx)
        .await
        .map_err(db_internal)?;
        tx.commit().await.map_err(db_internal)
    }

    /// True if `policy_id` holds exactly that slot.
    pub async fn policy_association_check(
        &self,
        policy_id: &str,
        endpoint_id: &str,
        service_id: &str,
        region_id: &str,
    ) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT policy_id FROM policy_association WHERE policy_id=$1 AND endpoint_id=$2 AND service_id=$3 AND region_id=$4",
        )
        .bind(policy_id)
        .bind(endpoint_id)
        .bind(service_id)
        .bind(region_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(row.is_some())
    }

    /// Removes one association; false if it did not exist.
    pub async fn policy_association_delete(
        &self,
        policy_id: &str,
        endpoint_id: &str,
        service_id: &str,
        region_id: &str,
    ) -> Result<bool, Error> {
        let r = sqlx::query(
            "DELETE FROM policy_association WHERE policy_id=$1 AND endpoint_id=$2 AND service_id=$3 AND region_id=$4",
        )
        .bind(policy_id)
        .bind(endpoint_id)
        .bind(service_id)
        .bind(region_id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }

    /// Every association as `(policy_id, endpoint_id, service_id, region_id)`, empty
    /// strings for the parts not set.
    pub async fn policy_association_list(
        &self,
    ) -> Result<Vec<(String, String, String, String)>, Error> {
        let rows = sqlx::query("SELECT * FROM policy_association")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter()
            .map(|r| {
                Ok((
                    s(r, "policy_id")?,
                    s(r, "endpoint_id")?,
                    s(r, "service_id")?,
                    s(r, "region_id")?,
                ))
            })
            .collect()
    }

    /// Inserts an OAuth1 consumer.
    pub async fn consumer_create(&self, c: &Consumer) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO oauth1_consumer (id, description, secret, extra) VALUES ($1,$2,$3,$4)",
        )
        .bind(&c.id)
        .bind(&c.description)
        .bind(&c.secret)
        .bind(text(&c.extra))
        .execute(self.pool())
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "Conflict occurred attempting to store consumer - Duplicate ID, {}.",
                    c.id
                )
            })
        })?;
        Ok(())
    }

    /// Replaces a consumer's description and extra attributes.
    pub async fn consumer_update(&self, c: &Consumer) -> Result<(), Error> {
        sqlx::query("UPDATE oauth1_consumer SET description=$2, extra=$3 WHERE id=$1")
            .bind(&c.id)
            .bind(&c.description)
            .bind(text(&c.extra))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// A consumer by id, or 404.
    pub async fn consumer_require(&self, id: &str) -> Result<Consumer, Error> {
        let row = sqlx::query("SELECT * FROM oauth1_consumer WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(consumer_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find consumer: {id}.")))
    }

    /// All consumers.
    pub async fn consumer_list(&self) -> Result<Vec<Consumer>, Error> {
        let rows = sqlx::query("SELECT * FROM oauth1_consumer ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(consumer_from).collect()
    }

    /// Deletes a consumer.
    pub async fn consumer_delete(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM oauth1_consumer WHERE id=$1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }
}
