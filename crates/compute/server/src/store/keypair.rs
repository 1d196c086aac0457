//! Key pairs (`key_pairs`), per user, unique by (user, name).

use rustack_common::Error;
use rustack_db::db_internal;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::WriteError;

/// A key pair row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPairRow {
    /// Integer id (shown at 2.1 `show`).
    pub id: i64,
    /// Owner.
    pub user_id: String,
    /// Name, unique per user.
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    /// The OpenSSH public key line or the PEM certificate.
    pub public_key: String,
    /// MD5 (ssh) or SHA-1 (x509) colon-hex fingerprint.
    pub fingerprint: String,
    /// Creation time.
    pub created_at: String,
}

const COLS: &str = "id, user_id, name, type, public_key, fingerprint, created_at";

fn row(r: &AnyRow) -> Result<KeyPairRow, sqlx::Error> {
    Ok(KeyPairRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        key_type: r.try_get("type")?,
        public_key: r.try_get("public_key")?,
        fingerprint: r.try_get("fingerprint")?,
        created_at: r.try_get("created_at")?,
    })
}

/// A user's key pairs ordered by name.
pub async fn list(c: &mut AnyConnection, user_id: &str) -> Result<Vec<KeyPairRow>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM key_pairs WHERE user_id = $1 ORDER BY name"
    ))
    .bind(user_id)
    .fetch_all(&mut *c)
    .await
    .map_err(db_internal)?;
    rows.iter()
        .map(row)
        .collect::<Result<_, _>>()
        .map_err(db_internal)
}

/// How many key pairs a user has.
pub async fn count(c: &mut AnyConnection, user_id: &str) -> Result<i64, Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM key_pairs WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *c)
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(db_internal)
}

/// One key pair.
pub async fn get(
    c: &mut AnyConnection,
    user_id: &str,
    name: &str,
) -> Result<Option<KeyPairRow>, Error> {
    let r = sqlx::query(&format!(
        "SELECT {COLS} FROM key_pairs WHERE user_id = $1 AND name = $2"
    ))
    .bind(user_id)
    .bind(name)
    .fetch_optional(&mut *c)
    .await
    .map_err(db_internal)?;
    r.as_ref().map(row).transpose().map_err(db_internal)
}

/// Inserts a key pair, assigning its id (max + 1). Outside a transaction: a concurrent
/// insert that took the same id is retried; [`WriteError::Duplicate`] only when the
/// user already has a key pair with this name.
pub async fn insert(c: &mut AnyConnection, k: &KeyPairRow) -> Result<i64, WriteError> {
    let mut attempts = 0;
    loop {
        let next: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM key_pairs")
            .fetch_one(&mut *c)
            .await
            .and_then(|r| r.try_get("n"))?;
        let r = sqlx::query(
            "INSERT INTO key_pairs (id, user_id, name, type, public_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(next)
        .bind(&k.user_id)
        .bind(&k.name)
        .bind(&k.key_type)
        .bind(&k.public_key)
        .bind(&k.fingerprint)
        .bind(&k.created_at)
        .execute(&mut *c)
        .await;
        match r.map_err(WriteError::from) {
            Ok(_) => return Ok(next),
            Err(WriteError::Duplicate) => {
                attempts += 1;
                let taken = get(c, &k.user_id, &k.name)
                    .await
                    .map_err(WriteError::Other)?
                    .is_some();
                if taken || attempts >= 10 {
                    return Err(WriteError::Duplicate);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Deletes a key pair; false if it did not exist.
pub async fn delete(c: &mut AnyConnection, user_id: &str, name: &str) -> Result<bool, Error> {
    let r = sqlx::query("DELETE FROM key_pairs WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .execute(&mut *c)
        .await
        .map_err(db_internal)?;
    Ok(r.rows_affected() > 0)
}
