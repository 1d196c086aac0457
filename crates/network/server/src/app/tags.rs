//! Tags on resources with standard attributes (`standard-attr-tag`).

use rustack_api_common::AuthContext;
use serde_json::{json, Value};

use super::{dup, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::store::{self, Table};

/// Tags are at most 255 characters and may not contain commas (list filters split on them).
fn check_tag(tag: &str) -> NResult<()> {
    if tag.is_empty() || tag.chars().count() > 255 || tag.contains(',') {
        return Err(NeutronError::bad(
            "InvalidInput",
            format!("Invalid input for tags. Reason: '{tag}' is not a valid tag."),
        ));
    }
    Ok(())
}

impl Network {
    /// The table of a taggable resource kind.
    pub(crate) fn tag_table(kind: &str) -> Option<Table> {
        Some(match kind {
            "network" => Table::Networks,
            "subnet" => Table::Subnets,
            "port" => Table::Ports,
            "router" => Table::Routers,
            "floatingip" => Table::FloatingIps,
            "security_group" => Table::SecurityGroups,
            "subnetpool" => Table::SubnetPools,
            _ => return None,
        })
    }

    async fn tagged(
        &self,
        ctx: &AuthContext,
        kind: &str,
        id: &str,
        action: &str,
    ) -> NResult<(Table, Value)> {
        let table =
            Self::tag_table(kind).ok_or_else(|| NeutronError::resource_not_found(kind, id))?;
        // Visibility first (404), then the tag rule (403), as Neutron orders them.
        let shown = self.show(ctx, kind, id).await?;
        self.enforce(
            ctx,
            &format!("{action}_{kind}:tags"),
            &self.target(kind, &shown, None),
        )?;
        let mut c = self.conn().await?;
        let doc = store::get(&mut c, table, id)
            .await?
            .ok_or_else(|| NeutronError::resource_not_found(kind, id))?;
        Ok((table, doc))
    }

    async fn save_tags(
        &self,
        table: Table,
        mut doc: Value,
        tags: Vec<String>,
    ) -> NResult<Vec<String>> {
        doc["tags"] = json!(tags);
        touch(&mut doc);
        let mut c = self.conn().await?;
        store::update(&mut c, table, &doc)
            .await
            .map_err(|e| dup(e, || super::bug("tag update")))?;
        Ok(tags)
    }

    fn tags_of(doc: &Value) -> Vec<String> {
        doc["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `GET /v2.0/{resources}/{id}/tags`.
    pub async fn tags_list(&self, ctx: &AuthContext, kind: &str, id: &str) -> NResult<Vec<String>> {
        let (_, doc) = self.tagged(ctx, kind, id, "get").await?;
        Ok(Self::tags_of(&doc))
    }

    /// `GET /v2.0/{resources}/{id}/tags/{tag}`: Ok if present, 404 `TagNotFound` if not.
    pub async fn tag_check(
        &self,
        ctx: &AuthContext,
        kind: &str,
        id: &str,
        tag: &str,
    ) -> NResult<()> {
        let (_, doc) = self.tagged(ctx, kind, id, "get").await?;
        if Self::tags_of(&doc).iter().any(|t| t == tag) {
            Ok(())
        } else {
            Err(NeutronError::not_found(
                "TagNotFound",
                format!("Tag {tag} could not be found for {kind} {id}."),
            ))
        }
    }

    /// `PUT /v2.0/{resources}/{id}/tags` (replace all).
    pub async fn tags_replace(
        &self,
        ctx: &AuthContext,
        kind: &str,
        id: &str,
        tags: Vec<String>,
    ) -> NResult<Vec<String>> {
        for t in &tags {
            check_tag(t)?;
        }
        let (table, doc) = self.tagged(ctx, kind, id, "update").await?;
        let mut uniq: Vec<String> = Vec::new();
        for t in tags {
            if !uniq.contains(&t) {
                uniq.push(t);
            }
        }
        self.save_tags(table, doc, uniq).await
    }

    /// `PUT /v2.0/{resources}/{id}/tags/{tag}`.
    pub async fn tag_add(&self, ctx: &AuthContext, kind: &str, id: &str, tag: &str) -> NResult<()> {
        check_tag(tag)?;
        let (table, doc) = self.tagged(ctx, kind, id, "create").await?;
        let mut tags = Self::tags_of(&doc);
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
            self.save_tags(table, doc, tags).await?;
        }
        Ok(())
    }

    /// `DELETE /v2.0/{resources}/{id}/tags[/{tag}]`.
    pub async fn tag_delete(
        &self,
        ctx: &AuthContext,
        kind: &str,
        id: &str,
        tag: Option<&str>,
    ) -> NResult<()> {
        let (table, doc) = self.tagged(ctx, kind, id, "delete").await?;
        let mut tags = Self::tags_of(&doc);
        match tag {
            Some(tag) => {
                if !tags.iter().any(|t| t == tag) {
                    return Err(NeutronError::not_found(
                        "TagNotFound",
                        format!("Tag {tag} could not be found for {kind} {id}."),
                    ));
                }
                tags.retain(|t| t != tag);
            }
            None => tags.clear(),
        }
        self.save_tags(table, doc, tags).await?;
        Ok(())
    }

    /// Shows any resource kind (the dispatcher the API layer and tags use).
    pub async fn show(&self, ctx: &AuthContext, kind: &str, id: &str) -> NResult<Value> {
        match kind {
            "network" => self.network_show(ctx, id).await,
            "subnet" => self.subnet_show(ctx, id).await,
            "port" => self.port_show(ctx, id).await,
            "router" => self.router_show(ctx, id).await,
            "floatingip" => self.floatingip_show(ctx, id).await,
            "security_group" => self.security_group_show(ctx, id).await,
            "security_group_rule" => self.security_group_rule_show(ctx, id).await,
            "subnetpool" => self.subnetpool_show(ctx, id).await,
            other => Err(NeutronError::resource_not_found(other, id)),
        }
    }
}
