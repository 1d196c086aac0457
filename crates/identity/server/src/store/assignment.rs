//! Roles, implied roles and role assignments (Keystone's assignment backend).

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{bo, obj, s, Store};

/// A role row; `domain_id` is `None` for global roles.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub domain_id: Option<String>,
    pub description: String,
    pub extra: Map<String, Value>,
}

/// Who holds an assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    User,
    Group,
}

/// What an assignment is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Project,
    Domain,
    System,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::User => "user",
            Actor::Group => "group",
        }
    }
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Project => "project",
            Target::Domain => "domain",
            Target::System => "system",
        }
    }
}

/// One stored role assignment. System assignments have `target_id == "all"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub actor: Actor,
    pub actor_id: String,
    pub target: Target,
    pub target_id: String,
    pub role_id: String,
    pub inherited: bool,
}

fn role_from(r: &DbRow) -> Result<Role, Error> {
    let d = s(r, "domain_id")?;
    Ok(Role {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: if d.is_empty() { None } else { Some(d) },
        description: s(r, "description")?,
        extra: obj(r, "extra")?,
    })
}

fn assignment_from(r: &DbRow) -> Result<Assignment, Error> {
    let actor = match s(r, "actor_type")?.as_str() {
        "group" => Actor::Group,
        _ => Actor::User,
    };
    let target = match s(r, "target_type")?.as_str() {
        "domain" => Target::Domain,
        "system" => Target::System,
        _ => Target::Project,
    };
    Ok(Assignment {
        actor,
        actor_id: s(r, "actor_id")?,
        target,
        target_id: s(r, "target_id")?,
        role_id: s(r, "role_id")?,
        inherited: bo(r, "inherited")?,
    })
}

impl Store {
    /// Inserts a role; 409 on a duplicate name in the same domain (or globally).
    pub async fn role_create(&self, r: &Role) -> Result<(), Error> {
        sqlx::query("INSERT INTO role (id, name, domain_id, description, extra) VALUES ($1,$2,$3,$4,$5)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(r.domain_id.clone().unwrap_or_default())
            .bind(&r.description)
            .bind(serde_json::to_string(&r.extra).unwrap_or_else(|_| "{}".into()))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to store role - Duplicate entry found with name {}.", r.name)))?;
        Ok(())
    }

    /// Replaces a role's mutable fields.
    pub async fn role_update(&self, r: &Role) -> Result<(), Error> {
        sqlx::query("UPDATE role SET name=$2, description=$3, extra=$4 WHERE id=$1")
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.description)
            .bind(serde_json::to_string(&r.extra).unwrap_or_else(|_| "{}".into()))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to update role - Duplicate entry found with name {}.", r.name)))?;
        Ok(())
    }

    /// A role by id, or 404 in Keystone's words.
    pub async fn role_require(&self, id: &str) -> Result<Role, Error> {
        let row = sqlx::query("SELECT * FROM role WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(role_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find role: {id}.")))
    }

    /// A global role by name, or `None`.
    pub async fn role_by_name(&self, name: &str) -> Result<Option<Role>, Error> {
        let row = sqlx::query("SELECT * FROM role WHERE name=$1 AND domain_id=''")
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(role_from).transpose()
    }

    /// All roles, ordered by name.
    pub async fn role_list(&self) -> Result<Vec<Role>, Error> {
        let rows = sqlx::query("SELECT * FROM role ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(role_from).collect()
    }

    /// Deletes a role with its assignments and implications.
    pub async fn role_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM assignment WHERE role_id=$1",
                "DELETE FROM implied_role WHERE prior_role_id=$1 OR implied_role_id=$1",
                "DELETE FROM role WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Records that `prior` implies `implied` (idempotent).
    pub async fn implied_role_create(&self, prior: &str, implied: &str) -> Result<(), Error> {
        sqlx::query("INSERT INTO implied_role (prior_role_id, implied_role_id) VALUES ($1,$2) ON CONFLICT DO NOTHING")
            .bind(prior)
            .bind(implied)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// Removes an implication; false if it did not exist.
    pub async fn implied_role_delete(&self, prior: &str, implied: &str) -> Result<bool, Error> {
        let r =
            sqlx::query("DELETE FROM implied_role WHERE prior_role_id=$1 AND implied_role_id=$2")
                .bind(prior)
                .bind(implied)
                .execute(self.pool())
                .await
                .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }

    /// Every (prior, implied) pair.
    pub async fn implied_role_list(&self) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query("SELECT prior_role_id, implied_role_id FROM implied_role ORDER BY prior_role_id, implied_role_id")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter()
            .map(|r| Ok((s(r, "prior_role_id")?, s(r, "implied_role_id")?)))
            .collect()
    }

    /// Stores an assignment (idempotent).
    pub async fn assignment_create(&self, a: &Assignment) -> Result<(), Error> {
        sqlx::query("INSERT INTO assignment (actor_type, actor_id, target_type, target_id, role_id, inherited) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING")
            .bind(a.actor.as_str())
            .bind(&a.actor_id)
            .bind(a.target.as_str())
            .bind(&a.target_id)
            .bind(&a.role_id)
            .bind(b(a.inherited))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// Removes an assignment; false if it did not exist.
    pub async fn assignment_delete(&self, a: &Assignment) -> Result<bool, Error> {
        let r = sqlx::query("DELETE FROM assignment WHERE actor_type=$1 AND actor_id=$2 AND target_type=$3 AND target_id=$4 AND role_id=$5 AND inherited=$6")
            .bind(a.actor.as_str())
            .bind(&a.actor_id)
            .bind(a.target.as_str())
            .bind(&a.target_id)
            .bind(&a.role_id)
            .bind(b(a.inherited))
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }

    /// True if the exact assignment exists.
    pub async fn assignment_exists(&self, a: &Assignment) -> Result<bool, Error> {
        let row = sqlx::query("SELECT role_id FROM assignment WHERE actor_type=$1 AND actor_id=$2 AND target_type=$3 AND target_id=$4 AND role_id=$5 AND inherited=$6")
            .bind(a.actor.as_str())
            .bind(&a.actor_id)
            .bind(a.target.as_str())
            .bind(&a.target_id)
            .bind(&a.role_id)
            .bind(b(a.inherited))
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(row.is_some())
    }

    /// Every stored assignment (the role-assignment query engine filters in memory;
    /// assignment tables are small compared with the rest of a cloud).
    pub async fn assignment_list_all(&self) -> Result<Vec<Assignment>, Error> {
        let rows = sqlx::query("SELECT * FROM assignment")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(assignment_from).collect()
    }

    /// The assignments held by the given actors.
    pub async fn assignments_of_actors(
        &self,
        user_id: &str,
        group_ids: &[String],
    ) -> Result<Vec<Assignment>, Error> {
        let rows = sqlx::query("SELECT * FROM assignment WHERE actor_type='user' AND actor_id=$1")
            .bind(user_id)
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        let mut out: Vec<Assignment> =
            rows.iter().map(assignment_from).collect::<Result<_, _>>()?;
        for g in group_ids {
            let rows =
                sqlx::query("SELECT * FROM assignment WHERE actor_type='group' AND actor_id=$1")
                    .bind(g)
                    .fetch_all(self.pool())
                    .await
                    .map_err(db_internal)?;
            for r in &rows {
                out.push(assignment_from(r)?);
            }
        }
        Ok(out)
    }
}
