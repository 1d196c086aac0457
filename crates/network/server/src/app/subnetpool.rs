//! Subnet pools (`subnet_allocation`): prefixes subnets can be carved from.

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};

use super::{commit, dup, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam::Cidr;
use crate::store::{self, Table};

fn parse_prefixes(raw: &Value) -> NResult<(Vec<String>, u8)> {
    let items = raw.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(NeutronError::bad(
            "InvalidInput",
            "Invalid input for prefixes. Reason: At least one prefix is required.",
        ));
    }
    let mut version = 0;
    let mut out: Vec<Cidr> = Vec::new();
    for p in &items {
        let text = attrs::repr(p);
        let c =
            Cidr::parse(&text)
                .filter(|_| text.contains('/'))
                .ok_or_else(|| {
                    NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for prefixes. Reason: '{text}' is not a valid IP subnet."),
            )
                })?;
        if version != 0 && version != c.version {
            return Err(NeutronError::bad(
                "PrefixVersionMismatch",
                "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
            ));
        }
        version = c.version;
        if !out.iter().any(|o| o.overlaps(&c)) {
            out.push(c);
        }
    }
    Ok((out.iter().map(ToString::to_string).collect(), version))
}

impl Network {
    fn render_pool(&self, ctx: &AuthContext, doc: &Value) -> Option<Value> {
        let target = self.target("subnetpool", doc, None);
        if !self.allowed(ctx, "get_subnetpool", &target) {
            return None;
        }
        let mut out = doc.clone();
        self.strip(ctx, "subnetpool", &mut out, &target);
        Some(out)
    }

    /// `POST /v2.0/subnetpools`.
    pub async fn subnetpool_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SUBNETPOOL, body, true)?;
        let project = self.owner(ctx, &body)?;
        let (prefixes, version) = parse_prefixes(&body["prefixes"])?;
        let width = if version == 4 { 32 } else { 128 };
        let min = body
            .get("min_prefixlen")
            .and_then(Value::as_i64)
            .unwrap_or(if version == 4 { 8 } else { 64 });
        let max = body
            .get("max_prefixlen")
            .and_then(Value::as_i64)
            .unwrap_or(width);
        let default = body
            .get("default_prefixlen")
            .and_then(Value::as_i64)
            .unwrap_or(min);
        if !(min <= default && default <= max && max <= width && min >= 0) {
            return Err(NeutronError::bad(
                "IllegalSubnetPoolPrefixBounds",
                format!("Illegal prefix bounds: prefix_type=default_prefixlen, prefixlen={default}, base_prefix_type=min_prefixlen, base_prefixlen={min}."),
            ));
        }
        let mut doc = Value::Object(standard_attrs(&project));
        doc["name"] = body.get("name").cloned().unwrap_or(json!(""));
        doc["description"] = body.get("description").cloned().unwrap_or(json!(""));
        doc["prefixes"] = json!(prefixes);
        doc["ip_version"] = json!(version);
        doc["min_prefixlen"] = json!(min);
        doc["max_prefixlen"] = json!(max);
        doc["default_prefixlen"] = json!(default);
        doc["shared"] = body.get("shared").cloned().unwrap_or(json!(false));
        doc["is_default"] = body.get("is_default").cloned().unwrap_or(json!(false));
        doc["default_quota"] = body.get("default_quota").cloned().unwrap_or(Value::Null);
        doc["address_scope_id"] = Value::Null;
        self.enforce_write(
            ctx,
            "create",
            "subnetpool",
            &body,
            &self.target("subnetpool", &doc, None),
        )?;
        let mut tx = self.begin().await?;
        store::insert(&mut tx, Table::SubnetPools, &doc, &[])
            .await
            .map_err(|e| {
                dup(e, || {
                    NeutronError::conflict("Conflict", "Subnet pool exists.")
                })
            })?;
        commit(tx).await?;
        tracing::info!(subnetpool.id = %s(&doc, "id"), "subnet pool created");
        self.render_pool(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("subnetpool", s(&doc, "id")))
    }

    async fn visible_pool(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.fetch(Table::SubnetPools, "subnetpool", id).await?;
        if !self.allowed(
            ctx,
            "get_subnetpool",
            &self.target("subnetpool", &doc, None),
        ) {
            return Err(NeutronError::resource_not_found("subnetpool", id));
        }
        Ok(doc)
    }

    /// `GET /v2.0/subnetpools/{id}`.
    pub async fn subnetpool_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.visible_pool(ctx, id).await?;
        self.render_pool(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("subnetpool", id))
    }

    /// `GET /v2.0/subnetpools`.
    pub async fn subnetpool_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let docs = store::list(&mut c, Table::SubnetPools, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_pool(ctx, d))
            .collect())
    }

    /// `PUT /v2.0/subnetpools/{id}`.
    pub async fn subnetpool_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SUBNETPOOL, body, false)?;
        let mut doc = self.visible_pool(ctx, id).await?;
        self.enforce_write(
            ctx,
            "update",
            "subnetpool",
            &body,
            &self.target("subnetpool", &doc, None),
        )?;
        if let Some(p) = body.get("prefixes") {
            let (mut prefixes, version) = parse_prefixes(p)?;
            if i64::from(version) != doc["ip_version"].as_i64().unwrap_or(0) {
                return Err(NeutronError::bad(
                    "PrefixVersionMismatch",
                    "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
                ));
            }
            // Prefixes may only grow: the old ones stay.
            for old in doc["prefixes"].as_array().cloned().unwrap_or_default() {
                let o = attrs::repr(&old);
                if !prefixes.contains(&o) {
                    prefixes.push(o);
                }
            }
            doc["prefixes"] = json!(prefixes);
        }
        for k in [
            "name",
            "description",
            "default_prefixlen",
            "min_prefixlen",
            "max_prefixlen",
            "is_default",
            "default_quota",
        ] {
            if let Some(v) = body.get(k) {
                doc[k] = v.clone();
            }
        }
        touch(&mut doc);
        let mut c = self.conn().await?;
        store::update(&mut c, Table::SubnetPools, &doc)
            .await
            .map_err(|e| dup(e, || super::bug("pool update")))?;
        self.render_pool(ctx, &doc)
            .ok_or_else(|| NeutronError::resource_not_found("subnetpool", id))
    }

    /// `DELETE /v2.0/subnetpools/{id}`.
    pub async fn subnetpool_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_pool(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_subnetpool",
            &self.target("subnetpool", &doc, None),
        )?;
        let mut tx = self.begin().await?;
        if store::list(&mut tx, Table::Subnets, None)
            .await?
            .iter()
            .any(|sn| s(sn, "subnetpool_id") == id)
        {
            return Err(NeutronError::conflict(
                "SubnetPoolInUse",
                format!("Unable to complete operation on subnet pool {id}. Subnet pool {id} cannot be deleted while subnets are allocated from it."),
            ));
        }
        store::delete(&mut tx, Table::SubnetPools, id).await?;
        commit(tx).await?;
        Ok(())
    }
}
