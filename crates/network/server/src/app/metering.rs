//! Network metering (`metering`, `metering_source_and_destination_fields`): labels and
//! their rules under `/v2.0/metering/`. Neutron's metering agent counts the traffic of
//! routers matching a label's rules (iptables counters in the router namespaces, sent
//! to the notification bus); rustack stores and serves labels and rules with Neutron's
//! shapes, checks and policies, but counts nothing (it has no notification bus).
//!
//! Labels and rules have no standard attributes (no timestamps, revisions or tags), as
//! upstream: the stored documents carry them for the datastore, the rendered ones not.
//! A rule's stored `project_id` is its label's owner (the policy target); Neutron does
//! not show it.

use std::net::IpAddr;

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};

use super::{commit, dup, s, standard_attrs, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam::Cidr;
use crate::store::{self, Table};

/// The attributes a label shows.
const LABEL_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "shared",
    "project_id",
    "tenant_id",
];

/// The attributes a rule shows.
const RULE_FIELDS: &[&str] = &[
    "id",
    "metering_label_id",
    "direction",
    "remote_ip_prefix",
    "source_ip_prefix",
    "destination_ip_prefix",
    "excluded",
];

const PREFIX_FIELDS: &[&str] = &[
    "remote_ip_prefix",
    "source_ip_prefix",
    "destination_ip_prefix",
];

fn pick(doc: &Value, fields: &[&str]) -> Value {
    let mut out = Map::new();
    for f in fields {
        out.insert((*f).to_owned(), doc.get(*f).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

fn label_not_found(id: &str) -> NeutronError {
    NeutronError::not_found(
        "MeteringLabelNotFound",
        format!("Metering label '{id}' does not exist."),
    )
}

fn rule_not_found(id: &str) -> NeutronError {
    NeutronError::not_found(
        "MeteringLabelRuleNotFound",
        format!("Metering label rule '{id}' does not exist."),
    )
}

/// An IP prefix as Python's `ipaddress.ip_interface` accepts it (an address, with or
/// without `/len`; host bits allowed), rendered as netaddr keeps it (`10.0.0.1/24`,
/// a bare address gets the full length); the reason Python gives when invalid.
pub(crate) fn parse_prefix(text: &str) -> Result<String, String> {
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{text}' does not appear to be an IPv4 or IPv6 interface"))?;
    let width: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => width,
        Some(l) => match l.parse::<u8>() {
            Ok(p) if p <= width && !l.starts_with('+') => p,
            _ => return Err(format!("'{l}' is not a valid netmask")),
        },
    };
    Ok(format!("{ip}/{prefix}"))
}

impl Network {
    fn render_label(&self, ctx: &AuthContext, doc: &Value) -> Option<Value> {
        let target = self.target("metering_label", doc, None);
        self.allowed(ctx, "get_metering_label", &target)
            .then(|| pick(doc, LABEL_FIELDS))
    }

    fn render_rule(&self, ctx: &AuthContext, doc: &Value) -> Option<Value> {
        let target = self.target("metering_label_rule", doc, None);
        self.allowed(ctx, "get_metering_label_rule", &target)
            .then(|| pick(doc, RULE_FIELDS))
    }

    /// The stored label `id` if `ctx` may read it, else Neutron's 404.
    async fn visible_metering_label(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let mut c = self.conn().await?;
        let doc = store::get(&mut c, Table::MeteringLabels, id)
            .await?
            .ok_or_else(|| label_not_found(id))?;
        let target = self.target("metering_label", &doc, None);
        if !self.allowed(ctx, "get_metering_label", &target) {
            return Err(label_not_found(id));
        }
        Ok(doc)
    }

    async fn visible_metering_rule(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let mut c = self.conn().await?;
        let doc = store::get(&mut c, Table::MeteringLabelRules, id)
            .await?
            .ok_or_else(|| rule_not_found(id))?;
        let target = self.target("metering_label_rule", &doc, None);
        if !self.allowed(ctx, "get_metering_label_rule", &target) {
            return Err(rule_not_found(id));
        }
        Ok(doc)
    }

    /// `POST /v2.0/metering/metering-labels`.
    pub async fn metering_label_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::METERING_LABEL, body, true)?;
        let project = self.owner(ctx, &body)?;
        let mut doc = Value::Object(standard_attrs(&project));
        doc["name"] = body.get("name").cloned().unwrap_or(json!(""));
        doc["description"] = body.get("description").cloned().unwrap_or(json!(""));
        doc["shared"] = body.get("shared").cloned().unwrap_or(json!(false));
        self.enforce_write(
            ctx,
            "create",
            "metering_label",
            &body,
            &self.target("metering_label", &doc, None),
        )?;
        let mut c = self.conn().await?;
        store::insert(&mut c, Table::MeteringLabels, &doc, &[])
            .await
            .map_err(|e| dup(e, || super::bug("metering label id collision")))?;
        tracing::info!(metering_label.id = %s(&doc, "id"), "metering label created");
        Ok(pick(&doc, LABEL_FIELDS))
    }

    /// `GET /v2.0/metering/metering-labels/{id}`.
    pub async fn metering_label_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.visible_metering_label(ctx, id).await?;
        self.render_label(ctx, &doc)
            .ok_or_else(|| label_not_found(id))
    }

    /// `GET /v2.0/metering/metering-labels`.
    pub async fn metering_label_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let docs = store::list(&mut c, Table::MeteringLabels, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_label(ctx, d))
            .collect())
    }

    /// `DELETE /v2.0/metering/metering-labels/{id}`: the label and its rules.
    pub async fn metering_label_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_metering_label(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_metering_label",
            &self.target("metering_label", &doc, None),
        )?;
        let mut tx = self.begin().await?;
        for rule in store::list(
            &mut tx,
            Table::MeteringLabelRules,
            Some(("metering_label_id", id)),
        )
        .await?
        {
            store::delete(&mut tx, Table::MeteringLabelRules, s(&rule, "id")).await?;
        }
        if !store::delete(&mut tx, Table::MeteringLabels, id).await? {
            return Err(label_not_found(id));
        }
        commit(tx).await?;
        tracing::info!(metering_label.id = %id, "metering label deleted");
        Ok(())
    }

    /// `POST /v2.0/metering/metering-label-rules`.
    pub async fn metering_label_rule_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::METERING_LABEL_RULE, body, true)?;
        let project = self.owner(ctx, &body)?;
        let direction = s(&Value::Object(body.clone()), "direction").to_owned();
        if direction != "ingress" && direction != "egress" {
            return Err(NeutronError::bad(
                "InvalidInput",
                format!("Invalid input for direction. Reason: {direction} is not in valid_values."),
            ));
        }
        // The rule's own policy check first (on the caller's project, as Neutron
        // fills `tenant_id` from the context), then the label must be visible.
        let mut doc = Value::Object(standard_attrs(&project));
        self.enforce_write(
            ctx,
            "create",
            "metering_label_rule",
            &body,
            &self.target("metering_label_rule", &doc, None),
        )?;
        let label_id = s(&Value::Object(body.clone()), "metering_label_id").to_owned();
        let label = self.visible_metering_label(ctx, &label_id).await?;
        let mut prefixes = Map::new();
        for f in PREFIX_FIELDS {
            let v = match body.get(*f) {
                Some(Value::String(t)) if !t.is_empty() => {
                    json!(parse_prefix(t).map_err(|reason| NeutronError::bad(
                        "Invalid",
                        format!("{f}: {t} is invalid [{reason}].")
                    ))?)
                }
                _ => Value::Null,
            };
            prefixes.insert((*f).to_owned(), v);
        }
        if !prefixes["remote_ip_prefix"].is_null()
            && (!prefixes["source_ip_prefix"].is_null()
                || !prefixes["destination_ip_prefix"].is_null())
        {
            return Err(NeutronError::bad(
                "Invalid",
                "Cannot use 'remote-ip-prefix' in conjunction with 'source-ip-prefix' or 'destination-ip-prefix'.",
            ));
        }
        if prefixes.values().all(Value::is_null) {
            return Err(NeutronError::bad(
                "Invalid",
                "You must define at least one of the following parameters 'remote_ip_prefix', or 'source_ip_prefix' or 'destination_ip_prefix'.",
            ));
        }
        let excluded = body.get("excluded").cloned().unwrap_or(json!(false));
        doc["project_id"] = label["project_id"].clone();
        doc["tenant_id"] = label["project_id"].clone();
        doc["metering_label_id"] = json!(label_id);
        doc["direction"] = json!(direction);
        doc["excluded"] = excluded.clone();
        for (k, v) in &prefixes {
            doc[k.as_str()] = v.clone();
        }
        let mut tx = self.begin().await?;
        // Neutron refuses a rule whose remote prefix overlaps another of the same
        // label, direction and exclusion.
        if let Some(new) = prefixes["remote_ip_prefix"].as_str().and_then(Cidr::parse) {
            let others = store::list(
                &mut tx,
                Table::MeteringLabelRules,
                Some(("metering_label_id", &label_id)),
            )
            .await?;
            let clash = others.iter().any(|o| {
                s(o, "direction") == direction
                    && o.get("excluded") == Some(&excluded)
                    && o["remote_ip_prefix"]
                        .as_str()
                        .and_then(Cidr::parse)
                        .is_some_and(|c| c.overlaps(&new))
            });
            if clash {
                return Err(NeutronError::conflict(
                    "MeteringLabelRuleOverlaps",
                    format!(
                        "Metering label rule with remote_ip_prefix '{}' overlaps another.",
                        s(&doc, "remote_ip_prefix")
                    ),
                ));
            }
        }
        store::insert(&mut tx, Table::MeteringLabelRules, &doc, &[])
            .await
            .map_err(|e| dup(e, || super::bug("metering label rule id collision")))?;
        commit(tx).await?;
        tracing::info!(metering_label_rule.id = %s(&doc, "id"), metering_label.id = %label_id, "metering label rule created");
        Ok(pick(&doc, RULE_FIELDS))
    }

    /// `GET /v2.0/metering/metering-label-rules/{id}`.
    pub async fn metering_label_rule_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        let doc = self.visible_metering_rule(ctx, id).await?;
        self.render_rule(ctx, &doc)
            .ok_or_else(|| rule_not_found(id))
    }

    /// `GET /v2.0/metering/metering-label-rules`.
    pub async fn metering_label_rule_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let docs = store::list(&mut c, Table::MeteringLabelRules, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_rule(ctx, d))
            .collect())
    }

    /// `DELETE /v2.0/metering/metering-label-rules/{id}`.
    pub async fn metering_label_rule_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_metering_rule(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_metering_label_rule",
            &self.target("metering_label_rule", &doc, None),
        )?;
        let mut c = self.conn().await?;
        if !store::delete(&mut c, Table::MeteringLabelRules, id).await? {
            return Err(rule_not_found(id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_prefix;

    #[test]
    fn prefixes_as_neutron_stores_them() {
        assert_eq!(parse_prefix("10.0.0.0/24").as_deref(), Ok("10.0.0.0/24"));
        assert_eq!(parse_prefix("10.0.0.7/24").as_deref(), Ok("10.0.0.7/24"));
        assert_eq!(parse_prefix("10.0.0.7").as_deref(), Ok("10.0.0.7/32"));
        assert_eq!(parse_prefix("fd02:0::/64").as_deref(), Ok("fd02::/64"));
        assert!(parse_prefix("10.0.0.0/33").is_err());
        assert!(parse_prefix("nonsense").is_err());
    }
}
