//! Server groups: create/list/show/delete with nova's policy names and quotas, and the
//! membership calls the servers code and the scheduler use (a server joins a group at
//! create through the `group` scheduler hint; the scheduler reads a group's policy,
//! rules and members to place servers).

use rustack_api_common::AuthContext;
use rustack_common::Error;
use serde_json::{json, Value};

use super::Compute;
use crate::error::server_group_not_found;
use crate::store::{self, server_group::ServerGroupRow, WriteError};

/// A server group with its members.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerGroup {
    /// The stored group.
    pub group: ServerGroupRow,
    /// Rules (`{}` or `{"max_server_per_host": n}`).
    pub rules: Value,
    /// Member server UUIDs.
    pub members: Vec<String>,
}

/// A validated create request.
#[derive(Clone, Debug)]
pub struct ServerGroupCreate {
    /// Name.
    pub name: String,
    /// Policy.
    pub policy: String,
    /// Rules object.
    pub rules: Value,
}

impl Compute {
    async fn group_with_members(&self, g: ServerGroupRow) -> Result<ServerGroup, Error> {
        let mut c = self.conn().await?;
        let members = store::server_group::members(&mut c, &g.id).await?;
        let rules = serde_json::from_str(&g.rules).unwrap_or_else(|_| json!({}));
        Ok(ServerGroup {
            group: g,
            rules,
            members,
        })
    }

    /// A group by id without policy (scheduler, servers code).
    pub async fn server_group_get(&self, id: &str) -> Result<ServerGroup, Error> {
        let g = {
            let mut c = self.conn().await?;
            store::server_group::get(&mut c, id).await?
        }
        .ok_or_else(|| server_group_not_found(id))?;
        self.group_with_members(g).await
    }

    /// Adds a server to a group (servers code, at create).
    pub async fn server_group_add_member(
        &self,
        group_id: &str,
        instance: &str,
    ) -> Result<(), Error> {
        let mut c = self.conn().await?;
        store::server_group::add_member(&mut c, group_id, instance).await
    }

    /// Removes a server from its group (servers code, at delete).
    pub async fn server_group_remove_member(&self, instance: &str) -> Result<(), Error> {
        let mut c = self.conn().await?;
        store::server_group::remove_member(&mut c, instance).await
    }

    /// The group a server belongs to.
    pub async fn server_group_of(&self, instance: &str) -> Result<Option<ServerGroup>, Error> {
        let id = {
            let mut c = self.conn().await?;
            store::server_group::group_of(&mut c, instance).await?
        };
        match id {
            Some(id) => Ok(Some(self.server_group_get(&id).await?)),
            None => Ok(None),
        }
    }

    /// `GET /os-server-groups` (`all_projects` for admins).
    pub async fn server_group_list(
        &self,
        ctx: &AuthContext,
        all_projects: bool,
    ) -> Result<Vec<ServerGroup>, Error> {
        let project = ctx.project_id.clone().unwrap_or_default();
        self.authorize(
            ctx,
            "os_compute_api:os-server-groups:index",
            &json!({"project_id": project}),
        )?;
        let all = all_projects
            && self.allowed(
                ctx,
                "os_compute_api:os-server-groups:index:all_projects",
                &json!({"project_id": project}),
            );
        let rows = {
            let mut c = self.conn().await?;
            store::server_group::list(&mut c, if all { None } else { Some(&project) }).await?
        };
        let mut out = Vec::with_capacity(rows.len());
        for g in rows {
            out.push(self.group_with_members(g).await?);
        }
        Ok(out)
    }

    /// `GET /os-server-groups/{id}` (404 for another project's group).
    pub async fn server_group_show(
        &self,
        ctx: &AuthContext,
        id: &str,
    ) -> Result<ServerGroup, Error> {
        let g = self.server_group_get(id).await?;
        self.authorize(
            ctx,
            "os_compute_api:os-server-groups:show",
            &json!({"project_id": g.group.project_id}),
        )
        .map_err(|_| server_group_not_found(id))?;
        Ok(g)
    }

    /// `POST /os-server-groups`.
    pub async fn server_group_create(
        &self,
        ctx: &AuthContext,
        req: ServerGroupCreate,
    ) -> Result<ServerGroup, Error> {
        let project = ctx.project_id.clone().unwrap_or_default();
        self.authorize(
            ctx,
            "os_compute_api:os-server-groups:create",
            &json!({"project_id": project, "user_id": ctx.user_id}),
        )?;
        self.quota_check(&project, Some(&ctx.user_id), &[("server_groups", 1)])
            .await
            .map_err(|_| Error::forbidden("Quota exceeded, too many server groups."))?;
        let mut row = ServerGroupRow {
            id: rustack_common::new_uuid(),
            internal_id: 0,
            name: req.name,
            project_id: project,
            user_id: ctx.user_id.clone(),
            policy: req.policy,
            rules: req.rules.to_string(),
            created_at: store::now(),
        };
        let mut c = self.conn().await?;
        match store::server_group::insert(&mut c, &row).await {
            Ok(n) => row.internal_id = n,
            Err(WriteError::Duplicate) => {
                return Err(Error::conflict("Server group already exists."))
            }
            Err(WriteError::Other(e)) => return Err(e),
        }
        drop(c);
        self.group_with_members(row).await
    }

    /// `DELETE /os-server-groups/{id}`.
    pub async fn server_group_delete(&self, ctx: &AuthContext, id: &str) -> Result<(), Error> {
        let g = self.server_group_get(id).await?;
        self.authorize(
            ctx,
            "os_compute_api:os-server-groups:delete",
            &json!({"project_id": g.group.project_id}),
        )
        .map_err(|e| {
            if self.allowed(
                ctx,
                "os_compute_api:os-server-groups:show",
                &json!({"project_id": g.group.project_id}),
            ) {
                e
            } else {
                server_group_not_found(id)
            }
        })?;
        let mut c = self.conn().await?;
        if !store::server_group::delete(&mut c, id).await? {
            return Err(server_group_not_found(id));
        }
        Ok(())
    }
}
