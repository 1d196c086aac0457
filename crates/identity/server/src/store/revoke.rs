//! Token revocation events, as Keystone records them: a token is revoked if it was
//! issued at or before an event's `issued_before` and every field the event sets matches.

use rustack_common::Error;
use rustack_db::{db_internal, DbRow};

use super::{os, s, Store};

/// One revocation event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationEvent {
    pub id: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub domain_id: Option<String>,
    pub audit_id: Option<String>,
    /// ISO-8601 with microseconds; tokens issued at or before this are revoked.
    pub issued_before: String,
    pub revoked_at: String,
}

fn event_from(r: &DbRow) -> Result<RevocationEvent, Error> {
    Ok(RevocationEvent {
        id: s(r, "id")?,
        user_id: os(r, "user_id")?,
        project_id: os(r, "project_id")?,
        domain_id: os(r, "domain_id")?,
        audit_id: os(r, "audit_id")?,
        issued_before: s(r, "issued_before")?,
        revoked_at: s(r, "revoked_at")?,
    })
}

impl Store {
    /// Records a revocation event.
    pub async fn revocation_add(&self, e: &RevocationEvent) -> Result<(), Error> {
        sqlx::query("INSERT INTO revocation_event (id, user_id, project_id, domain_id, audit_id, issued_before, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(&e.id)
            .bind(&e.user_id)
            .bind(&e.project_id)
            .bind(&e.domain_id)
            .bind(&e.audit_id)
            .bind(&e.issued_before)
            .bind(&e.revoked_at)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// Every revocation event.
    pub async fn revocation_list(&self) -> Result<Vec<RevocationEvent>, Error> {
        let rows = sqlx::query("SELECT * FROM revocation_event")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(event_from).collect()
    }

    /// Drops events older than `cutoff` (tokens issued before it have expired anyway).
    pub async fn revocation_prune(&self, cutoff: &str) -> Result<u64, Error> {
        let r = sqlx::query("DELETE FROM revocation_event WHERE revoked_at < $1")
            .bind(cutoff)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(r.rows_affected())
    }
}
