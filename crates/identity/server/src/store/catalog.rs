//! Regions, services and endpoints (Keystone's catalog backend).

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{bo, obj, os, s, Store};

/// A region row.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
    pub extra: Map<String, Value>,
}

/// A service row; `name`/`description` live in `extra` as in Keystone.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub id: String,
    pub service_type: String,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

/// An endpoint row.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub interface: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
    pub extra: Map<String, Value>,
}

fn region_from(r: &DbRow) -> Result<Region, Error> {
    Ok(Region {
        id: s(r, "id")?,
        description: s(r, "description")?,
        parent_region_id: os(r, "parent_region_id")?,
        extra: obj(r, "extra")?,
    })
}

fn service_from(r: &DbRow) -> Result<Service, Error> {
    Ok(Service {
        id: s(r, "id")?,
        service_type: s(r, "type")?,
        enabled: bo(r, "enabled")?,
        extra: obj(r, "extra")?,
    })
}

fn endpoint_from(r: &DbRow) -> Result<Endpoint, Error> {
    Ok(Endpoint {
        id: s(r, "id")?,
        interface: s(r, "interface")?,
        service_id: s(r, "service_id")?,
        region_id: os(r, "region_id")?,
        url: s(r, "url")?,
        enabled: bo(r, "enabled")?,
        extra: obj(r, "extra")?,
    })
}

fn text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Inserts a region; 409 on a duplicate id.
    pub async fn region_create(&self, r: &Region) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO region (id, description, parent_region_id, extra) VALUES ($1,$2,$3,$4)",
        )
        .bind(&r.id)
        .bind(&r.description)
        .bind(&r.parent_region_id)
        .bind(text(&r.extra))
        .execute(self.pool())
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "Conflict occurred attempting to store region - Duplicate ID, {}.",
                    r.id
                )
            })
        })?;
        Ok(())
    }

    /// Replaces a region's mutable fields.
    pub async fn region_update(&self, r: &Region) -> Result<(), Error> {
        sqlx::query("UPDATE region SET description=$2, parent_region_id=$3, extra=$4 WHERE id=$1")
            .bind(&r.id)
            .bind(&r.description)
            .bind(&r.parent_region_id)
            .bind(text(&r.extra))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// A region by id, or `None`.
    pub async fn region_get(&self, id: &str) -> Result<Option<Region>, Error> {
        let row = sqlx::query("SELECT * FROM region WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(region_from).transpose()
    }

    /// A region by id, or 404.
    pub async fn region_require(&self, id: &str) -> Result<Region, Error> {
        self.region_get(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Could not find region: {id}.")))
    }

    /// All regions.
    pub async fn region_list(&self) -> Result<Vec<Region>, Error> {
        let rows = sqlx::query("SELECT * FROM region ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(region_from).collect()
    }

    /// Deletes a region; 409 if it has child regions or endpoints.
    pub async fn region_delete(&self, id: &str) -> Result<(), Error> {
        let child = sqlx::query("SELECT id FROM region WHERE parent_region_id=$1 LIMIT 1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        if child.is_some() {
            return Err(Error::conflict(format!(
                "Cannot delete region {id}: it has child regions."
            )));
        }
        self.exec_in_tx(
            &[
                "UPDATE endpoint SET region_id=NULL WHERE region_id=$1",
                "DELETE FROM region WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Inserts a service.
    pub async fn service_create(&self, sv: &Service) -> Result<(), Error> {
        sqlx::query("INSERT INTO service (id, type, enabled, extra) VALUES ($1,$2,$3,$4)")
            .bind(&sv.id)
            .bind(&sv.service_type)
            .bind(b(sv.enabled))
            .bind(text(&sv.extra))
            .execute(self.pool())
            .await
            .map_err(|e| {
                map_err(e, || {
                    format!(
                        "Conflict occurred attempting to store service - Duplicate ID, {}.",
                        sv.id
                    )
                })
            })?;
        Ok(())
    }

    /// Replaces a service's mutable fields.
    pub async fn service_update(&self, sv: &Service) -> Result<(), Error> {
        sqlx::query("UPDATE service SET type=$2, enabled=$3, extra=$4 WHERE id=$1")
            .bind(&sv.id)
            .bind(&sv.service_type)
            .bind(b(sv.enabled))
            .bind(text(&sv.extra))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// A service by id, or 404.
    pub async fn service_require(&self, id: &str) -> Result<Service, Error> {
        let row = sqlx::query("SELECT * FROM service WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(service_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find service: {id}.")))
    }

    /// All services.
    pub async fn service_list(&self) -> Result<Vec<Service>, Error> {
        let rows = sqlx::query("SELECT * FROM service ORDER BY type, id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(service_from).collect()
    }

    /// Deletes a service, its endpoints and the associations naming them.
    pub async fn service_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM project_endpoint WHERE endpoint_id IN (SELECT id FROM endpoint WHERE service_id=$1)",
                "DELETE FROM policy_association WHERE endpoint_id IN (SELECT id FROM endpoint WHERE service_id=$1)",
                "DELETE FROM policy_association WHERE service_id=$1",
                "DELETE FROM endpoint WHERE service_id=$1",
                "DELETE FROM service WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Inserts an endpoint.
    pub async fn endpoint_create(&self, e: &Endpoint) -> Result<(), Error> {
        sqlx::query("INSERT INTO endpoint (id, interface, service_id, region_id, url, enabled, extra) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(&e.id)
            .bind(&e.interface)
            .bind(&e.service_id)
            .bind(&e.region_id)
            .bind(&e.url)
            .bind(b(e.enabled))
            .bind(text(&e.extra))
            .execute(self.pool())
            .await
            .map_err(|er| map_err(er, || format!("Conflict occurred attempting to store endpoint - Duplicate ID, {}.", e.id)))?;
        Ok(())
    }

    /// Replaces an endpoint's mutable fields.
    pub async fn endpoint_update(&self, e: &Endpoint) -> Result<(), Error> {
        sqlx::query("UPDATE endpoint SET interface=$2, service_id=$3, region_id=$4, url=$5, enabled=$6, extra=$7 WHERE id=$1")
            .bind(&e.id)
            .bind(&e.interface)
            .bind(&e.service_id)
            .bind(&e.region_id)
            .bind(&e.url)
            .bind(b(e.enabled))
            .bind(text(&e.extra))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// An endpoint by id, or 404.
    pub async fn endpoint_require(&self, id: &str) -> Result<Endpoint, Error> {
        let row = sqlx::query("SELECT * FROM endpoint WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(endpoint_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find endpoint: {id}.")))
    }

    /// All endpoints.
    pub async fn endpoint_list(&self) -> Result<Vec<Endpoint>, Error> {
        let rows = sqlx::query("SELECT * FROM endpoint ORDER BY service_id, interface, id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(endpoint_from).collect()
    }

    /// Deletes an endpoint with its project and policy associations.
    pub async fn endpoint_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM project_endpoint WHERE endpoint_id=$1",
                "DELETE FROM policy_association WHERE endpoint_id=$1",
                "DELETE FROM endpoint WHERE id=$1",
            ],
            id,
        )
        .await
    }
}
