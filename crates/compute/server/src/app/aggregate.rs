//! Host aggregates (admin): create/list/show/update/delete, hosts, metadata. The
//! `availability_zone` metadata key puts the aggregate's hosts in that zone (read by
//! `os-availability-zone`, `os-services` and the scheduler).

use std::collections::BTreeMap;

use rustack_api_common::AuthContext;
use rustack_common::Error;
use serde_json::json;

use super::Compute;
use crate::store::{self, aggregate::AggregateRow, WriteError};

pub use crate::store::aggregate::AggregateRow as Aggregate;

fn not_found(id: &str) -> Error {
    Error::not_found(format!("Aggregate {id} could not be found."))
}

fn dup(e: WriteError, msg: String) -> Error {
    match e {
        WriteError::Duplicate => Error::conflict(msg),
        WriteError::Other(e) => e,
    }
}

impl Compute {
    fn aggr_authorize(&self, ctx: &AuthContext, op: &str) -> Result<(), Error> {
        self.authorize(
            ctx,
            &format!("os_compute_api:os-aggregates:{op}"),
            &json!({}),
        )
    }

    async fn aggr_get(&self, id: &str) -> Result<AggregateRow, Error> {
        let mut c = self.conn().await?;
        store::aggregate::get(&mut c, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// `GET /os-aggregates`.
    pub async fn aggregate_list(&self, ctx: &AuthContext) -> Result<Vec<Aggregate>, Error> {
        self.aggr_authorize(ctx, "index")?;
        let mut c = self.conn().await?;
        store::aggregate::list(&mut c).await
    }

    /// `GET /os-aggregates/{id}`.
    pub async fn aggregate_show(&self, ctx: &AuthContext, id: &str) -> Result<Aggregate, Error> {
        self.aggr_authorize(ctx, "show")?;
        self.aggr_get(id).await
    }

    /// `POST /os-aggregates`.
    pub async fn aggregate_create(
        &self,
        ctx: &AuthContext,
        name: &str,
        zone: Option<&str>,
    ) -> Result<Aggregate, Error> {
        self.aggr_authorize(ctx, "create")?;
        let now = store::now();
        let uuid = rustack_common::new_uuid();
        let mut tx = self.begin().await?;
        let id = store::aggregate::insert(&mut tx, &uuid, name, &now)
            .await
            .map_err(|e| dup(e, format!("Aggregate {name} already exists.")))?;
        if let Some(z) = zone {
            store::aggregate::set_metadata(
                &mut tx,
                id,
                &BTreeMap::from([("availability_zone".to_owned(), Some(z.to_owned()))]),
                &now,
            )
            .await?;
        }
        tx.commit().await.map_err(rustack_db::db_internal)?;
        self.aggr_get(&id.to_string()).await
    }

    /// `PUT /os-aggregates/{id}`.
    pub async fn aggregate_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        name: Option<&str>,
        zone: Option<&str>,
    ) -> Result<Aggregate, Error> {
        self.aggr_authorize(ctx, "update")?;
        let a = self.aggr_get(id).await?;
        let now = store::now();
        let mut tx = self.begin().await?;
        if let Some(n) = name {
            store::aggregate::rename(&mut tx, a.id, n, &now)
                .await
                .map_err(|e| dup(e, format!("Aggregate {n} already exists.")))?;
        }
        if let Some(z) = zone {
            store::aggregate::set_metadata(
                &mut tx,
                a.id,
                &BTreeMap::from([("availability_zone".to_owned(), Some(z.to_owned()))]),
                &now,
            )
            .await?;
        }
        tx.commit().await.map_err(rustack_db::db_internal)?;
        self.aggr_get(id).await
    }

    /// `DELETE /os-aggregates/{id}` (400 while it has hosts).
    pub async fn aggregate_delete(&self, ctx: &AuthContext, id: &str) -> Result<(), Error> {
        self.aggr_authorize(ctx, "delete")?;
        let a = self.aggr_get(id).await?;
        if !a.hosts.is_empty() {
            return Err(Error::bad_request(format!(
                "Cannot remove aggregate {id}. Reason: Host aggregate is not empty."
            )));
        }
        let mut c = self.conn().await?;
        store::aggregate::delete(&mut c, a.id).await
    }

    /// `add_host`: the host must run a compute service.
    pub async fn aggregate_add_host(
        &self,
        ctx: &AuthContext,
        id: &str,
        host: &str,
    ) -> Result<Aggregate, Error> {
        self.aggr_authorize(ctx, "add_host")?;
        let a = self.aggr_get(id).await?;
        let known = self
            .services_all()
            .await?
            .iter()
            .any(|s| s.row.host == host && s.row.binary == "nova-compute");
        if !known {
            return Err(Error::not_found(format!(
                "Compute host {host} could not be found."
            )));
        }
        let mut c = self.conn().await?;
        store::aggregate::add_host(&mut c, a.id, host)
            .await
            .map_err(|e| dup(e, format!("Aggregate {id} already has host {host}.")))?;
        drop(c);
        self.aggr_get(id).await
    }

    /// `remove_host`.
    pub async fn aggregate_remove_host(
        &self,
        ctx: &AuthContext,
        id: &str,
        host: &str,
    ) -> Result<Aggregate, Error> {
        self.aggr_authorize(ctx, "remove_host")?;
        let a = self.aggr_get(id).await?;
        let mut c = self.conn().await?;
        if !store::aggregate::remove_host(&mut c, a.id, host).await? {
            return Err(Error::not_found(format!(
                "Cannot remove host {host} in aggregate {id}"
            )));
        }
        drop(c);
        self.aggr_get(id).await
    }

    /// `set_metadata` (a `None` value removes the key).
    pub async fn aggregate_set_metadata(
        &self,
        ctx: &AuthContext,
        id: &str,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate, Error> {
        self.aggr_authorize(ctx, "set_metadata")?;
        let a = self.aggr_get(id).await?;
        let mut c = self.conn().await?;
        store::aggregate::set_metadata(&mut c, a.id, changes, &store::now()).await?;
        drop(c);
        self.aggr_get(id).await
    }
}
