//! OS-EP-FILTER: endpoint groups (a filter over endpoint attributes) and the project
//! associations with endpoints and endpoint groups that restrict a project's catalog.

use rustack_common::Error;
use rustack_db::{db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{obj, s, Store};

/// An endpoint group row: `filters` maps endpoint attributes (`service_id`,
/// `region_id`, `interface`) to the value an endpoint must have.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub filters: Map<String, Value>,
}

fn group_from(r: &DbRow) -> Result<EndpointGroup, Error> {
    Ok(EndpointGroup {
        id: s(r, "id")?,
        name: s(r, "name")?,
        description: s(r, "description")?,
        filters: obj(r, "filters")?,
    })
}

fn text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Inserts an endpoint group.
    pub async fn endpoint_group_create(&self, g: &EndpointGroup) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO endpoint_group (id, name, description, filters) VALUES ($1,$2,$3,$4)",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(text(&g.filters))
        .execute(self.pool())
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "Conflict occurred attempting to store endpoint_group - Duplicate ID, {}.",
                    g.id
                )
            })
        })?;
        Ok(())
    }

    /// Replaces an endpoint group's mutable fields.
    pub async fn endpoint_group_update(&self, g: &EndpointGroup) -> Result<(), Error> {
        sqlx::query("UPDATE endpoint_group SET name=$2, description=$3, filters=$4 WHERE id=$1")
            .bind(&g.id)
            .bind(&g.name)
            .bind(&g.description)
            .bind(text(&g.filters))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// An endpoint group by id, or 404.
    pub async fn endpoint_group_require(&self, id: &str) -> Result<EndpointGroup, Error> {
        let row = sqlx::query("SELECT * FROM endpoint_group WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(group_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find Endpoint Group: {id}.")))
    }

    /// All endpoint groups.
    pub async fn endpoint_group_list(&self) -> Result<Vec<EndpointGroup>, Error> {
        let rows = sqlx::query("SELECT * FROM endpoint_group ORDER BY name, id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(group_from).collect()
    }

    /// Deletes an endpoint group and its project associations.
    pub async fn endpoint_group_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM project_endpoint_group WHERE endpoint_group_id=$1",
                "DELETE FROM endpoint_group WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Associates a project with an endpoint group (idempotent).
    pub async fn project_endpoint_group_add(
        &self,
        group_id: &str,
        project_id: &str,
    ) -> Result<(), Error> {
        if self
            .project_endpoint_group_check(group_id, project_id)
            .await?
        {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO project_endpoint_group (endpoint_group_id, project_id) VALUES ($1,$2)",
        )
        .bind(group_id)
        .bind(project_id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(())
    }

    /// True if the project is associated with the endpoint group.
    pub async fn project_endpoint_group_check(
        &self,
        group_id: &str,
        project_id: &str,
    ) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT project_id FROM project_endpoint_group WHERE endpoint_group_id=$1 AND project_id=$2",
        )
        .bind(group_id)
        .bind(project_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(row.is_some())
    }

    /// Removes an association; false if there was none.
    pub async fn project_endpoint_group_remove(
        &self,
        group_id: &str,
        project_id: &str,
    ) -> Result<bool, Error> {
        let r = sqlx::query(
            "DELETE FROM project_endpoint_group WHERE endpoint_group_id=$1 AND project_id=$2",
        )
        .bind(group_id)
        .bind(project_id)
        .execute(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }

    /// Every `(endpoint_group_id, project_id)` association.
    pub async fn project_endpoint_group_list(&self) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT endpoint_group_id, project_id FROM project_endpoint_group ORDER BY endpoint_group_id, project_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| Ok((s(r, "endpoint_group_id")?, s(r, "project_id")?)))
            .collect()
    }

    /// Associates a project with an endpoint (idempotent).
    pub async fn project_endpoint_add(
        &self,
        endpoint_id: &str,
        project_id: &str,
    ) -> Result<(), Error> {
        if self.project_endpoint_check(endpoint_id, project_id).await? {
            return Ok(());
        }
        sqlx::query("INSERT INTO project_endpoint (endpoint_id, project_id) VALUES ($1,$2)")
            .bind(endpoint_id)
            .bind(project_id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// True if the project is associated with the endpoint.
    pub async fn project_endpoint_check(
        &self,
        endpoint_id: &str,
        project_id: &str,
    ) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT project_id FROM project_endpoint WHERE endpoint_id=$1 AND project_id=$2",
        )
        .bind(endpoint_id)
        .bind(project_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(row.is_some())
    }

    /// Removes an association; false if there was none.
    pub async fn project_endpoint_remove(
        &self,
        endpoint_id: &str,
        project_id: &str,
    ) -> Result<bool, Error> {
        let r = sqlx::query("DELETE FROM project_endpoint WHERE endpoint_id=$1 AND project_id=$2")
            .bind(endpoint_id)
            .bind(project_id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }

    /// Every `(endpoint_id, project_id)` association.
    pub async fn project_endpoint_list(&self) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT endpoint_id, project_id FROM project_endpoint ORDER BY endpoint_id, project_id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(db_internal)?;
        rows.iter()
            .map(|r| Ok((s(r, "endpoint_id")?, s(r, "project_id")?)))
            .collect()
    }
}

/// True if endpoint `e` passes every filter of an endpoint group (`service_id`,
/// `region_id`, `interface`; an unknown key never matches).
pub fn group_matches(filters: &Map<String, Value>, e: &crate::store::catalog::Endpoint) -> bool {
    filters.iter().all(|(k, v)| {
        let have = match k.as_str() {
            "service_id" => Some(e.service_id.as_str()),
            "region_id" => e.region_id.as_deref(),
            "interface" => Some(e.interface.as_str()),
            _ => return false,
        };
        have.is_some_and(|h| v.as_str() == Some(h))
    })
}

/// The ids of the endpoints associated with `project_id`, directly or through its
/// endpoint groups (Keystone's `list_endpoints_for_project`). Empty means the project
/// has no filter and sees the whole catalog.
pub fn project_endpoint_ids(
    project_id: &str,
    endpoints: &[crate::store::catalog::Endpoint],
    direct: &[(String, String)],
    groups: &[EndpointGroup],
    group_links: &[(String, String)],
) -> std::collections::HashSet<String> {
    let mut ids: std::collections::HashSet<String> = direct
        .iter()
        .filter(|(_, p)| p == project_id)
        .filter(|(e, _)| endpoints.iter().any(|x| x.id == *e))
        .map(|(e, _)| e.clone())
        .collect();
    for (gid, _) in group_links.iter().filter(|(_, p)| p == project_id) {
        if let Some(g) = groups.iter().find(|g| g.id == *gid) {
            ids.extend(
                endpoints
                    .iter()
                    .filter(|e| group_matches(&g.filters, e))
                    .map(|e| e.id.clone()),
            );
        }
    }
    ids
}
