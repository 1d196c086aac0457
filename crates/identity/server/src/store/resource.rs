//! Domains and projects (Keystone's resource backend).

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{bo, obj, os, s, strs, Store};

/// A domain row.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub extra: Map<String, Value>,
}

/// A project row.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub parent_id: Option<String>,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub extra: Map<String, Value>,
}

fn domain_from(r: &DbRow) -> Result<Domain, Error> {
    Ok(Domain {
        id: s(r, "id")?,
        name: s(r, "name")?,
        description: s(r, "description")?,
        enabled: bo(r, "enabled")?,
        tags: strs(r, "tags")?,
        extra: obj(r, "extra")?,
    })
}

fn project_from(r: &DbRow) -> Result<Project, Error> {
    Ok(Project {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: s(r, "domain_id")?,
        parent_id: os(r, "parent_id")?,
        description: s(r, "description")?,
        enabled: bo(r, "enabled")?,
        tags: strs(r, "tags")?,
        extra: obj(r, "extra")?,
    })
}

fn to_text(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Store {
    /// Inserts a domain; 409 on a duplicate name.
    pub async fn domain_create(&self, d: &Domain) -> Result<(), Error> {
        sqlx::query("INSERT INTO domain (id, name, description, enabled, tags, extra) VALUES ($1,$2,$3,$4,$5,$6)")
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.description)
            .bind(b(d.enabled))
            .bind(to_text(&d.tags))
            .bind(to_text(&d.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to store domain - Duplicate entry found with name {}.", d.name)))?;
        Ok(())
    }

    /// Replaces a domain's mutable fields.
    pub async fn domain_update(&self, d: &Domain) -> Result<(), Error> {
        sqlx::query("UPDATE domain SET name=$2, description=$3, enabled=$4, tags=$5, extra=$6 WHERE id=$1")
            .bind(&d.id)
            .bind(&d.name)
            .bind(&d.description)
            .bind(b(d.enabled))
            .bind(to_text(&d.tags))
            .bind(to_text(&d.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to update domain - Duplicate entry found with name {}.", d.name)))?;
        Ok(())
    }

    /// A domain by id, or `None`.
    pub async fn domain_get(&self, id: &str) -> Result<Option<Domain>, Error> {
        let row = sqlx::query("SELECT * FROM domain WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(domain_from).transpose()
    }

    /// A domain by id, or 404 in Keystone's words.
    pub async fn domain_require(&self, id: &str) -> Result<Domain, Error> {
        self.domain_get(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Could not find domain: {id}.")))
    }

    /// A domain by name, or `None`.
    pub async fn domain_by_name(&self, name: &str) -> Result<Option<Domain>, Error> {
        let row = sqlx::query("SELECT * FROM domain WHERE name=$1")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(domain_from).transpose()
    }

    /// All domains, ordered by name.
    pub async fn domain_list(&self) -> Result<Vec<Domain>, Error> {
        let rows = sqlx::query("SELECT * FROM domain ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(domain_from).collect()
    }

    /// Deletes a domain and everything in it (projects, users, groups, roles, grants,
    /// its config and its projects' endpoint associations).
    pub async fn domain_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM assignment WHERE target_type='domain' AND target_id=$1",
                "DELETE FROM assignment WHERE target_type='project' AND target_id IN (SELECT id FROM project WHERE domain_id=$1)",
                "DELETE FROM assignment WHERE actor_type='user' AND actor_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM assignment WHERE actor_type='group' AND actor_id IN (SELECT id FROM identity_group WHERE domain_id=$1)",
                "DELETE FROM assignment WHERE role_id IN (SELECT id FROM role WHERE domain_id=$1)",
                "DELETE FROM implied_role WHERE prior_role_id IN (SELECT id FROM role WHERE domain_id=$1) OR implied_role_id IN (SELECT id FROM role WHERE domain_id=$1)",
                "DELETE FROM role WHERE domain_id=$1",
                "DELETE FROM user_group_membership WHERE user_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM user_group_membership WHERE group_id IN (SELECT id FROM identity_group WHERE domain_id=$1)",
                "DELETE FROM application_credential WHERE user_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM credential WHERE user_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM access_rule WHERE user_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM password_history WHERE user_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM user_lockout WHERE user_id IN (SELECT id FROM identity_user WHERE domain_id=$1)",
                "DELETE FROM trust WHERE trustor_user_id IN (SELECT id FROM identity_user WHERE domain_id=$1) OR trustee_user_id IN (SELECT id FROM identity_user WHERE domain_id=$1) OR project_id IN (SELECT id FROM project WHERE domain_id=$1)",
                "DELETE FROM identity_user WHERE domain_id=$1",
                "DELETE FROM identity_group WHERE domain_id=$1",
                "DELETE FROM project_endpoint WHERE project_id IN (SELECT id FROM project WHERE domain_id=$1)",
                "DELETE FROM project_endpoint_group WHERE project_id IN (SELECT id FROM project WHERE domain_id=$1)",
                "DELETE FROM project WHERE domain_id=$1",
                "DELETE FROM domain_config WHERE domain_id=$1",
                "DELETE FROM domain WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Inserts a project; 409 on a duplicate name in the domain.
    pub async fn project_create(&self, p: &Project) -> Result<(), Error> {
        sqlx::query("INSERT INTO project (id, name, domain_id, parent_id, description, enabled, tags, extra) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)")
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.domain_id)
            .bind(&p.parent_id)
            .bind(&p.description)
            .bind(b(p.enabled))
            .bind(to_text(&p.tags))
            .bind(to_text(&p.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : {}.", p.name)))?;
        Ok(())
    }

    /// Replaces a project's mutable fields.
    pub async fn project_update(&self, p: &Project) -> Result<(), Error> {
        sqlx::query("UPDATE project SET name=$2, description=$3, enabled=$4, tags=$5, extra=$6 WHERE id=$1")
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(b(p.enabled))
            .bind(to_text(&p.tags))
            .bind(to_text(&p.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to update project - it is not permitted to have two projects with the same name in the same domain : {}.", p.name)))?;
        Ok(())
    }

    /// A project by id, or `None`.
    pub async fn project_get(&self, id: &str) -> Result<Option<Project>, Error> {
        let row = sqlx::query("SELECT * FROM project WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(project_from).transpose()
    }

    /// A project by id, or 404 in Keystone's words.
    pub async fn project_require(&self, id: &str) -> Result<Project, Error> {
        self.project_get(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Could not find project: {id}.")))
    }

    /// A project by name in a domain, or `None`.
    pub async fn project_by_name(
        &self,
        domain_id: &str,
        name: &str,
    ) -> Result<Option<Project>, Error> {
        let row = sqlx::query("SELECT * FROM project WHERE domain_id=$1 AND name=$2")
            .bind(domain_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(project_from).transpose()
    }

    /// All projects, ordered by name.
    pub async fn project_list(&self) -> Result<Vec<Project>, Error> {
        let rows = sqlx::query("SELECT * FROM project ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(project_from).collect()
    }

    /// True if any project names `id` as parent.
    pub async fn project_has_children(&self, id: &str) -> Result<bool, Error> {
        let row = sqlx::query("SELECT id FROM project WHERE parent_id=$1 LIMIT 1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(row.is_some())
    }

    /// Deletes a project, its grants, application credentials and endpoint associations.
    pub async fn project_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM assignment WHERE target_type='project' AND target_id=$1",
                "DELETE FROM application_credential WHERE project_id=$1",
                "DELETE FROM trust WHERE project_id=$1",
                "UPDATE identity_user SET default_project_id=NULL WHERE default_project_id=$1",
                "DELETE FROM project_endpoint WHERE project_id=$1",
                "DELETE FROM project_endpoint_group WHERE project_id=$1",
                "DELETE FROM project WHERE id=$1",
            ],
            id,
        )
        .await
    }
}
