//! Application credentials and credentials (EC2-style blobs).

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{bo, json_col, obj, os, s, strs, Store};

/// An application credential row; `secret_hash` is bcrypt.
#[derive(Clone, Debug, PartialEq)]
pub struct AppCred {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub secret_hash: String,
    pub description: Option<String>,
    pub expires_at: Option<String>,
    pub unrestricted: bool,
    /// Role ids delegated.
    pub roles: Vec<String>,
    /// Access rules as given (`[{"service","path","method","id"}]`).
    pub access_rules: Value,
}

/// An access rule of a user: what an application credential carrying it may call.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessRule {
    pub id: String,
    pub user_id: String,
    pub service: String,
    pub path: String,
    pub method: String,
}

/// A credential row.
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    pub id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub cred_type: String,
    pub blob: String,
    pub extra: Map<String, Value>,
}

fn app_cred_from(r: &DbRow) -> Result<AppCred, Error> {
    Ok(AppCred {
        id: s(r, "id")?,
        name: s(r, "name")?,
        user_id: s(r, "user_id")?,
        project_id: s(r, "project_id")?,
        secret_hash: s(r, "secret_hash")?,
        description: os(r, "description")?,
        expires_at: os(r, "expires_at")?,
        unrestricted: bo(r, "unrestricted")?,
        roles: strs(r, "roles")?,
        access_rules: json_col(r, "access_rules")?,
    })
}

fn credential_from(r: &DbRow) -> Result<Credential, Error> {
    Ok(Credential {
        id: s(r, "id")?,
        user_id: s(r, "user_id")?,
        project_id: os(r, "project_id")?,
        cred_type: s(r, "type")?,
        blob: s(r, "blob")?,
        extra: obj(r, "extra")?,
    })
}

impl Store {
    /// Inserts an application credential; 409 on a duplicate name for the user.
    pub async fn app_cred_create(&self, a: &AppCred) -> Result<(), Error> {
        sqlx::query("INSERT INTO application_credential (id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, roles, access_rules, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
            .bind(&a.id)
            .bind(&a.name)
            .bind(&a.user_id)
            .bind(&a.project_id)
            .bind(&a.secret_hash)
            .bind(&a.description)
            .bind(&a.expires_at)
            .bind(b(a.unrestricted))
            .bind(serde_json::to_string(&a.roles).unwrap_or_else(|_| "[]".into()))
            .bind(a.access_rules.to_string())
            .bind(super::now_text())
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || "Conflict occurred attempting to store application_credential - Duplicate name.".to_string()))?;
        Ok(())
    }

    /// An application credential by id, or `None`.
    pub async fn app_cred_get(&self, id: &str) -> Result<Option<AppCred>, Error> {
        let row = sqlx::query("SELECT * FROM application_credential WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(app_cred_from).transpose()
    }

    /// An application credential by user and name, or `None`.
    pub async fn app_cred_by_name(
        &self,
        user_id: &str,
        name: &str,
    ) -> Result<Option<AppCred>, Error> {
        let row = sqlx::query("SELECT * FROM application_credential WHERE user_id=$1 AND name=$2")
            .bind(user_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(app_cred_from).transpose()
    }

    /// A user's application credentials.
    pub async fn app_cred_list(&self, user_id: &str) -> Result<Vec<AppCred>, Error> {
        let rows =
            sqlx::query("SELECT * FROM application_credential WHERE user_id=$1 ORDER BY name")
                .bind(user_id)
                .fetch_all(self.pool())
                .await
                .map_err(db_internal)?;
        rows.iter().map(app_cred_from).collect()
    }

    /// Deletes an application credential.
    pub async fn app_cred_delete(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM application_credential WHERE id=$1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// Inserts a credential; 409 on a duplicate id.
    pub async fn credential_create(&self, c: &Credential) -> Result<(), Error> {
        sqlx::query("INSERT INTO credential (id, user_id, project_id, type, blob, extra) VALUES ($1,$2,$3,$4,$5,$6)")
            .bind(&c.id)
            .bind(&c.user_id)
            .bind(&c.project_id)
            .bind(&c.cred_type)
            .bind(&c.blob)
            .bind(serde_json::to_string(&c.extra).unwrap_or_else(|_| "{}".into()))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to store credential - Duplicate ID, {}.", c.id)))?;
        Ok(())
    }

    /// Replaces a credential's mutable fields.
    pub async fn credential_update(&self, c: &Credential) -> Result<(), Error> {
        sqlx::query("UPDATE credential SET user_id=$2, project_id=$3, type=$4, blob=$5, extra=$6 WHERE id=$1")
            .bind(&c.id)
            .bind(&c.user_id)
            .bind(&c.project_id)
            .bind(&c.cred_type)
            .bind(&c.blob)
            .bind(serde_json::to_string(&c.extra).unwrap_or_else(|_| "{}".into()))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// A credential by id, or 404.
    pub async fn credential_require(&self, id: &str) -> Result<Credential, Error> {
        let row = sqlx::query("SELECT * FROM credential WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(credential_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find credential: {id}.")))
    }

    /// All credentials.
    pub async fn credential_list(&self) -> Result<Vec<Credential>, Error> {
        let rows = sqlx::query("SELECT * FROM credential ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(credential_from).collect()
    }

    /// Deletes a credential.
    pub async fn credential_delete(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM credential WHERE id=$1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// The user's access rules.
    pub async fn access_rule_list(&self, user_id: &str) -> Result<Vec<AccessRule>, Error> {
        let rows = sqlx::query("SELECT * FROM access_rule WHERE user_id=$1 ORDER BY id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter()
            .map(|r| {
                Ok(AccessRule {
                    id: s(r, "id")?,
                    user_id: s(r, "user_id")?,
                    service: s(r, "service")?,
                    path: s(r, "path")?,
                    method: s(r, "method")?,
                })
            })
            .collect()
    }

    /// Inserts an access rule.
    pub async fn access_rule_create(&self, a: &AccessRule) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO access_rule (id, user_id, service, path, method) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&a.id)
        .bind(&a.user_id)
        .bind(&a.service)
        .bind(&a.path)
        .bind(&a.method)
        .execute(self.pool())
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "Conflict occurred attempting to store access_rule - Duplicate ID, {}.",
                    a.id
                )
            })
        })?;
        Ok(())
    }

    /// Deletes an access rule.
    pub async fn access_rule_delete(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM access_rule WHERE id=$1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }
}
