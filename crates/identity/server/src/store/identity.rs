//! Users, groups and group membership (Keystone's identity backend, SQL driver).

use rustack_common::Error;
use rustack_db::{b, db_internal, map_err, DbRow};
use serde_json::{Map, Value};

use super::{bo, obj, os, s, Store};

/// A user row. `password_hash` is a bcrypt hash and never leaves the service.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub password_hash: Option<String>,
    pub default_project_id: Option<String>,
    pub extra: Map<String, Value>,
    pub created_at: String,
}

/// A group row.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub extra: Map<String, Value>,
}

fn user_from(r: &DbRow) -> Result<User, Error> {
    Ok(User {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: s(r, "domain_id")?,
        enabled: bo(r, "enabled")?,
        password_hash: os(r, "password_hash")?,
        default_project_id: os(r, "default_project_id")?,
        extra: obj(r, "extra")?,
        created_at: s(r, "created_at")?,
    })
}

fn group_from(r: &DbRow) -> Result<Group, Error> {
    Ok(Group {
        id: s(r, "id")?,
        name: s(r, "name")?,
        domain_id: s(r, "domain_id")?,
        description: s(r, "description")?,
        extra: obj(r, "extra")?,
    })
}

fn text(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

impl Store {
    /// Inserts a user; 409 on a duplicate name in the domain.
    pub async fn user_create(&self, u: &User) -> Result<(), Error> {
        sqlx::query("INSERT INTO identity_user (id, name, domain_id, enabled, password_hash, default_project_id, extra, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)")
            .bind(&u.id)
            .bind(&u.name)
            .bind(&u.domain_id)
            .bind(b(u.enabled))
            .bind(&u.password_hash)
            .bind(&u.default_project_id)
            .bind(text(&u.extra))
            .bind(&u.created_at)
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to store user - Duplicate entry found with name {} at domain ID {}.", u.name, u.domain_id)))?;
        Ok(())
    }

    /// Replaces a user's mutable fields (including the password hash).
    pub async fn user_update(&self, u: &User) -> Result<(), Error> {
        sqlx::query("UPDATE identity_user SET name=$2, enabled=$3, password_hash=$4, default_project_id=$5, extra=$6 WHERE id=$1")
            .bind(&u.id)
            .bind(&u.name)
            .bind(b(u.enabled))
            .bind(&u.password_hash)
            .bind(&u.default_project_id)
            .bind(text(&u.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to update user - Duplicate entry found with name {} at domain ID {}.", u.name, u.domain_id)))?;
        Ok(())
    }

    /// A user by id, or `None`.
    pub async fn user_get(&self, id: &str) -> Result<Option<User>, Error> {
        let row = sqlx::query("SELECT * FROM identity_user WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(user_from).transpose()
    }

    /// A user by id, or 404 in Keystone's words.
    pub async fn user_require(&self, id: &str) -> Result<User, Error> {
        self.user_get(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("Could not find user: {id}.")))
    }

    /// A user by name in a domain, or `None`.
    pub async fn user_by_name(&self, domain_id: &str, name: &str) -> Result<Option<User>, Error> {
        let row = sqlx::query("SELECT * FROM identity_user WHERE domain_id=$1 AND name=$2")
            .bind(domain_id)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref().map(user_from).transpose()
    }

    /// All users, ordered by name.
    pub async fn user_list(&self) -> Result<Vec<User>, Error> {
        let rows = sqlx::query("SELECT * FROM identity_user ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(user_from).collect()
    }

    /// Deletes a user with its grants, memberships, credentials and access rules.
    pub async fn user_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM assignment WHERE actor_type='user' AND actor_id=$1",
                "DELETE FROM user_group_membership WHERE user_id=$1",
                "DELETE FROM application_credential WHERE user_id=$1",
                "DELETE FROM access_rule WHERE user_id=$1",
                "DELETE FROM password_history WHERE user_id=$1",
                "DELETE FROM user_lockout WHERE user_id=$1",
                "DELETE FROM trust WHERE trustor_user_id=$1 OR trustee_user_id=$1",
                "DELETE FROM credential WHERE user_id=$1",
                "DELETE FROM identity_user WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Inserts a group; 409 on a duplicate name in the domain.
    pub async fn group_create(&self, g: &Group) -> Result<(), Error> {
        sqlx::query("INSERT INTO identity_group (id, name, domain_id, description, extra) VALUES ($1,$2,$3,$4,$5)")
            .bind(&g.id)
            .bind(&g.name)
            .bind(&g.domain_id)
            .bind(&g.description)
            .bind(text(&g.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to store group - Duplicate entry found with name {} at domain ID {}.", g.name, g.domain_id)))?;
        Ok(())
    }

    /// Replaces a group's mutable fields.
    pub async fn group_update(&self, g: &Group) -> Result<(), Error> {
        sqlx::query("UPDATE identity_group SET name=$2, description=$3, extra=$4 WHERE id=$1")
            .bind(&g.id)
            .bind(&g.name)
            .bind(&g.description)
            .bind(text(&g.extra))
            .execute(self.pool())
            .await
            .map_err(|e| map_err(e, || format!("Conflict occurred attempting to update group - Duplicate entry found with name {} at domain ID {}.", g.name, g.domain_id)))?;
        Ok(())
    }

    /// A group by id, or 404 in Keystone's words.
    pub async fn group_require(&self, id: &str) -> Result<Group, Error> {
        let row = sqlx::query("SELECT * FROM identity_group WHERE id=$1")
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(db_internal)?;
        row.as_ref()
            .map(group_from)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("Could not find group: {id}.")))
    }

    /// All groups, ordered by name.
    pub async fn group_list(&self) -> Result<Vec<Group>, Error> {
        let rows = sqlx::query("SELECT * FROM identity_group ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(group_from).collect()
    }

    /// Deletes a group with its grants and memberships.
    pub async fn group_delete(&self, id: &str) -> Result<(), Error> {
        self.exec_in_tx(
            &[
                "DELETE FROM assignment WHERE actor_type='group' AND actor_id=$1",
                "DELETE FROM user_group_membership WHERE group_id=$1",
                "DELETE FROM identity_group WHERE id=$1",
            ],
            id,
        )
        .await
    }

    /// Adds a user to a group (idempotent).
    pub async fn membership_add(&self, user_id: &str, group_id: &str) -> Result<(), Error> {
        sqlx::query("INSERT INTO user_group_membership (user_id, group_id) VALUES ($1,$2) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(group_id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(())
    }

    /// Removes a user from a group; false if they were not a member.
    pub async fn membership_remove(&self, user_id: &str, group_id: &str) -> Result<bool, Error> {
        let r = sqlx::query("DELETE FROM user_group_membership WHERE user_id=$1 AND group_id=$2")
            .bind(user_id)
            .bind(group_id)
            .execute(self.pool())
            .await
            .map_err(db_internal)?;
        Ok(r.rows_affected() > 0)
    }

    /// True if the user is in the group.
    pub async fn membership_check(&self, user_id: &str, group_id: &str) -> Result<bool, Error> {
        let row = sqlx::query(
            "SELECT user_id FROM user_group_membership WHERE user_id=$1 AND group_id=$2",
        )
        .bind(user_id)
        .bind(group_id)
        .fetch_optional(self.pool())
        .await
        .map_err(db_internal)?;
        Ok(row.is_some())
    }

    /// Ids of the groups a user is in.
    pub async fn groups_of_user(&self, user_id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT group_id FROM user_group_membership WHERE user_id=$1")
            .bind(user_id)
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(|r| s(r, "group_id")).collect()
    }

    /// Ids of the users in a group.
    pub async fn users_in_group(&self, group_id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT user_id FROM user_group_membership WHERE group_id=$1")
            .bind(group_id)
            .fetch_all(self.pool())
            .await
            .map_err(db_internal)?;
        rows.iter().map(|r| s(r, "user_id")).collect()
    }
}
