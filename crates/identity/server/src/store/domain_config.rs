//! Domain-specific configuration (`/v3/domains/{id}/config`): one row per
//! (domain, group, option) with the option's JSON value; options Keystone marks
//! sensitive (the LDAP password) are stored but never returned.

use rustack_common::Error;
use rustack_db::{b, db_internal, DbRow};
use serde_json::Value;

use super::{bo, s, Store};

/// One stored option.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigOption {
    pub group: String,
    pub option: String,
    pub value: Value,
    pub sensitive: bool,
}

fn option_from(r: &DbRow) -> Result<ConfigOption, Error> {
    let text = s(r, "value")?;
    Ok(ConfigOption {
        group: s(r, "grp")?,
        option: s(r, "opt")?,
        value: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        sensitive: bo(r, "sensitive")?,
    })
}

impl Store {
    /// Every option stored for `domain_id`, sensitive ones included.
    pub async fn domain_config_list(&self, domain_id: &str) -> Result<Vec<ConfigOption>, Error> {
        let rows = sqlx::query("SELECT * FROM domain_config WHERE domain_id=$1 ORDER BY grp, opt")
            .bind(domain_id)
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(option_from).collect()
    }

    /// Writes `options` for `domain_id` in one transaction; when `replace`, the domain's
    /// previous options are dropped first (create replaces, update merges).
    pub async fn domain_config_write(
        &self,
        domain_id: &str,
        options: &[ConfigOption],
        replace: bool,
    ) -> Result<(), Error> {
        let mut tx = self.pool().begin().await.map_err(db_internal)?;
        if replace {
            sqlx::query("DELETE FROM domain_config WHERE domain_id=$1")
                .bind(domain_id)
                .execute(&mut *tx)
                .await
                .map_err(db_internal)?;
        }
        for o in options {
            sqlx::query("DELETE FROM domain_config WHERE domain_id=$1 AND grp=$2 AND opt=$3")
                .bind(domain_id)
                .bind(&o.group)
                .bind(&o.option)
                .execute(&mut *tx)
                .await
                .map_err(db_internal)?;
            sqlx::query(
                "INSERT INTO domain_config (domain_id, grp, opt, value, sensitive) VALUES ($1,$2,$3,$4,$5)",
            )
            .bind(domain_id)
            .bind(&o.group)
            .bind(&o.option)
            .bind(o.value.to_string())
            .bind(b(o.sensitive))
            .execute(&mut *tx)
            .await
            .map_err(db_internal)?;
        }
        tx.commit().await.map_err(db_internal)
    }

    /// Deletes the domain's whole config, one group, or one option of a group.
    pub async fn domain_config_delete(
        &self,
        domain_id: &str,
        group: Option<&str>,
        option: Option<&str>,
    ) -> Result<(), Error> {
        let q = match (group, option) {
            (None, _) => {
                sqlx::query("DELETE FROM domain_config WHERE domain_id=$1").bind(domain_id)
            }
            (Some(g), None) => {
                sqlx::query("DELETE FROM domain_config WHERE domain_id=$1 AND grp=$2")
                    .bind(domain_id)
                    .bind(g)
            }
            (Some(g), Some(o)) => {
                sqlx::query("DELETE FROM domain_config WHERE domain_id=$1 AND grp=$2 AND opt=$3")
                    .bind(domain_id)
                    .bind(g)
                    .bind(o)
            }
        };
        q.execute(self.pool()).await.map_err(db_internal)?;
        Ok(())
    }
}
