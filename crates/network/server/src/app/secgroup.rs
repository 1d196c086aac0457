//! Security groups and rules, with a `default` group per project created on first use
//! (upstream's four default rules: all egress, and ingress from the group itself, for
//! IPv4 and IPv6). Rule validation follows Neutron's order and messages; duplicates are
//! refused by a unique fingerprint column, so concurrent duplicates cannot both land.

use rustack_api_common::AuthContext;
use rustack_network_api::attrs;
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::{commit, dup, quota, s, standard_attrs, touch, Network};
use crate::error::{NResult, NeutronError};
use crate::ipam::Cidr;
use crate::store::{self, Table, WriteError};

/// Protocol names Neutron accepts, with their IANA numbers.
const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

fn normalize_protocol(raw: &Value) -> NResult<Option<String>> {
    let text = match raw {
        Value::Null => return Ok(None),
        Value::String(s) if s.is_empty() || s.eq_ignore_ascii_case("any") => return Ok(None),
        Value::String(s) => s.to_ascii_lowercase(),
        Value::Number(n) => n.to_string(),
        other => attrs::repr(other),
    };
    if PROTOCOLS.iter().any(|(n, _)| *n == text) {
        return Ok(Some(text));
    }
    if let Ok(n) = text.parse::<i64>() {
        if (0..=255).contains(&n) {
            return Ok(Some(n.to_string()));
        }
    }
    let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
    Err(NeutronError::bad(
        "SecurityGroupRuleInvalidProtocol",
        format!(
            "Security group rule protocol {text} not supported. Only protocol values {names:?} and integer representations [0 to 255] are supported."
        ),
    ))
}

fn port_value(raw: Option<&Value>) -> NResult<Option<i64>> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match attrs::to_int(v) {
            Some(p) if (0..=65535).contains(&p) => Ok(Some(p)),
            _ => Err(NeutronError::bad(
                "InvalidInput",
                format!(
                    "Invalid input for operation: Invalid value for port {}.",
                    attrs::repr(v)
                ),
            )),
        },
    }
}

fn protocol_number(p: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == p)
        .map(|(_, v)| *v)
        .or_else(|| p.parse().ok())
}

/// A validated rule's defining values.
struct Rule {
    direction: String,
    ethertype: String,
    protocol: Option<String>,
    min: Option<i64>,
    max: Option<i64>,
    prefix: Option<String>,
    remote_group: Option<String>,
}

impl Rule {
    fn fingerprint(&self, sg: &str) -> String {
        // Protocol aliases (icmpv6/ipv6-icmp/58) fingerprint alike, as Neutron compares them.
        let proto = self
            .protocol
            .as_deref()
            .and_then(protocol_number)
            .map(|n| n.to_string())
            .unwrap_or_default();
        format!(
            "{sg}|{}|{}|{proto}|{}|{}|{}|{}",
            self.direction,
            self.ethertype,
            self.min.map(|v| v.to_string()).unwrap_or_default(),
            self.max.map(|v| v.to_string()).unwrap_or_default(),
            self.prefix.as_deref().unwrap_or(""),
            self.remote_group.as_deref().unwrap_or("")
        )
    }
}

fn validate_rule(body: &Map<String, Value>) -> NResult<Rule> {
    let direction = body
        .get("direction")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if direction != "ingress" && direction != "egress" {
        return Err(NeutronError::bad(
            "InvalidInput",
            format!(
                "Invalid input for direction. Reason: {direction} is not in ['ingress', 'egress']."
            ),
        ));
    }
    let ethertype = match body.get("ethertype") {
        None | Some(Value::Null) => "IPv4".to_owned(),
        Some(v) => match attrs::repr(v).to_ascii_lowercase().as_str() {
            "ipv4" => "IPv4".to_owned(),
            "ipv6" => "IPv6".to_owned(),
            _ => {
                return Err(NeutronError::bad(
                    "SecurityGroupRuleInvalidEtherType",
                    format!(
                        "Security group rule for ethertype '{}' not supported. Allowed values are ['IPv4', 'IPv6'].",
                        attrs::repr(v)
                    ),
                ))
            }
        },
    };
    let protocol = normalize_protocol(body.get("protocol").unwrap_or(&Value::Null))?;
    let min = port_value(body.get("port_range_min"))?;
    let max = port_value(body.get("port_range_max"))?;
    let prefix = match body.get("remote_ip_prefix") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let text = attrs::repr(v);
            let c = Cidr::parse(&text).filter(|_| {
                // A bare integer ("256") parses nowhere in Neutron; neither here.
                text.contains('.') || text.contains(':')
            });
            let Some(c) = c else {
                return Err(NeutronError::bad(
                    "InvalidInput",
                    format!("Invalid input for remote_ip_prefix. Reason: '{text}' is not a valid IP subnet."),
                ));
            };
            let want = if ethertype == "IPv4" { 4 } else { 6 };
            if c.version != want {
                return Err(NeutronError::bad(
                    "SecurityGroupRuleParameterConflict",
                    format!("Conflicting value ethertype {ethertype} for CIDR {text}"),
                ));
            }
            // Neutron keeps the address as given (host bits included) and adds the
            // mask when absent: 10.2.3.124/24 stays, 192.0.2.7 becomes 192.0.2.7/32.
            // The data plane matches on the network part.
            Some(prefix_as_given(&text, &c))
        }
    };
    let remote_group = body
        .get("remote_group_id")
        .filter(|v| !v.is_null())
        .map(attrs::repr);
    if prefix.is_some() && remote_group.is_some() {
        return Err(NeutronError::bad(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    match protocol.as_deref() {
        Some("tcp" | "udp" | "sctp" | "dccp" | "udplite" | "6" | "17" | "132" | "33" | "136") => {
            if min == Some(0) || max == Some(0) {
                return Err(NeutronError::bad(
                    "SecurityGroupInvalidPortValue",
                    "Invalid value for port 0",
                ));
            }
            match (min, max) {
                (None, None) => {}
                (Some(a), Some(b)) if a <= b => {}
                _ => {
                    return Err(NeutronError::bad(
                        "SecurityGroupInvalidPortRange",
                        "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                    ))
                }
            }
        }
        Some("icmp" | "icmpv6" | "ipv6-icmp" | "1" | "58") => {
            for (field, attr, v) in [
                ("type", "port_range_min", min),
                ("code", "port_range_max", max),
            ] {
                if let Some(v) = v {
                    if !(0..=255).contains(&v) {
                        return Err(NeutronError::bad(
                            "SecurityGroupInvalidIcmpValue",
                            format!(
                                "Invalid value for ICMP {field} ({attr}) {v}. It must be 0 to 255."
                            ),
                        ));
                    }
                }
            }
            if min.is_none() {
                if let Some(v) = max {
                    return Err(NeutronError::bad(
                        "SecurityGroupMissingIcmpType",
                        format!("ICMP code (port-range-max) {v} is provided but ICMP type (port-range-min) is missing."),
                    ));
                }
            }
        }
        Some(p) => {
            if min.is_some() || max.is_some() {
                return Err(NeutronError::bad(
                    "SecurityGroupInvalidProtocolForPortRange",
                    format!("Invalid protocol {p} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP."),
                ));
            }
        }
        None => {
            if min.is_some() || max.is_some() {
                return Err(NeutronError::bad(
                    "SecurityGroupProtocolRequiredWithPorts",
                    "Must also specify protocol if port range is given.",
                ));
            }
        }
    }
    Ok(Rule {
        direction,
        ethertype,
        protocol,
        min,
        max,
        prefix,
        remote_group,
    })
}

fn rule_doc(project: &str, sg: &str, r: &Rule, description: &Value) -> Value {
    let mut doc = Value::Object(standard_attrs(project));
    doc["security_group_id"] = json!(sg);
    doc["direction"] = json!(r.direction);
    doc["ethertype"] = json!(r.ethertype);
    doc["protocol"] = json!(r.protocol);
    doc["port_range_min"] = json!(r.min);
    doc["port_range_max"] = json!(r.max);
    doc["remote_ip_prefix"] = json!(r.prefix);
    doc["remote_group_id"] = json!(r.remote_group);
    doc["description"] = if description.is_null() {
        json!("")
    } else {
        description.clone()
    };
    doc
}

async fn insert_rule(
    conn: &mut AnyConnection,
    doc: &Value,
    fingerprint: String,
) -> Result<(), WriteError> {
    store::insert(
        conn,
        Table::SecurityGroupRules,
        doc,
        &[("fingerprint", Some(fingerprint))],
    )
    .await
}

impl Network {
    /// The id of `project`'s `default` group, creating it (with upstream's default
    /// rules) on first use. Safe under concurrency: the unique `default_for` column lets
    /// only one creator win; the others read the winner's id.
    pub(crate) async fn ensure_default_sg(&self, project: &str) -> NResult<String> {
        let mut c = self.conn().await?;
        if let Some(id) = store::default_sg(&mut c, project).await? {
            return Ok(id);
        }
        drop(c);
        let mut doc = Value::Object(standard_attrs(project));
        let id = s(&doc, "id").to_owned();
        doc["name"] = json!("default");
        doc["description"] = json!("Default security group");
        let mut tx = self.begin().await?;
        match store::insert(
            &mut tx,
            Table::SecurityGroups,
            &doc,
            &[("default_for", Some(project.to_owned()))],
        )
        .await
        {
            Ok(()) => {}
            Err(WriteError::Duplicate) => {
                drop(tx);
                let mut c = self.conn().await?;
                return store::default_sg(&mut c, project)
                    .await?
                    .ok_or_else(|| super::bug("default security group vanished"));
            }
            Err(WriteError::Other(e)) => return Err(e.into()),
        }
        for (direction, ethertype, remote) in [
            ("egress", "IPv4", None),
            ("egress", "IPv6", None),
            ("ingress", "IPv4", Some(id.clone())),
            ("ingress", "IPv6", Some(id.clone())),
        ] {
            let r = Rule {
                direction: direction.into(),
                ethertype: ethertype.into(),
                protocol: None,
                min: None,
                max: None,
                prefix: None,
                remote_group: remote,
            };
            let rd = rule_doc(project, &id, &r, &json!(""));
            insert_rule(&mut tx, &rd, r.fingerprint(&id))
                .await
                .map_err(|e| dup(e, || super::bug("duplicate default rule")))?;
        }
        commit(tx).await?;
        tracing::info!(security_group.id = %id, project.id = %project, "default security group created");
        Ok(id)
    }

    fn render_sg(&self, ctx: &AuthContext, doc: &Value, rules: &[Value]) -> Option<Value> {
        let target = self.target("security_group", doc, None);
        if !self.allowed(ctx, "get_security_group", &target) {
            return None;
        }
        let mut out = doc.clone();
        let id = s(doc, "id");
        out["security_group_rules"] = Value::Array(
            rules
                .iter()
                .filter(|r| s(r, "security_group_id") == id)
                .cloned()
                .collect(),
        );
        self.strip(ctx, "security_group", &mut out, &target);
        Some(out)
    }

    /// A security group visible to `ctx`.
    pub(crate) async fn visible_security_group(
        &self,
        ctx: &AuthContext,
        id: &str,
    ) -> NResult<Value> {
        let doc = {
            let mut c = self.conn().await?;
            store::get(&mut c, Table::SecurityGroups, id).await?
        }
        .ok_or_else(|| NeutronError::resource_not_found("security_group", id))?;
        if !self.allowed(
            ctx,
            "get_security_group",
            &self.target("security_group", &doc, None),
        ) {
            return Err(NeutronError::resource_not_found("security_group", id));
        }
        Ok(doc)
    }

    async fn ensure_caller_default(&self, ctx: &AuthContext) -> NResult<()> {
        if let Some(p) = &ctx.project_id {
            self.ensure_default_sg(p).await?;
        }
        Ok(())
    }

    /// `POST /v2.0/security-groups`.
    pub async fn security_group_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SECURITY_GROUP, body, true)?;
        let project = self.owner(ctx, &body)?;
        if body.get("name").and_then(Value::as_str) == Some("default") {
            self.ensure_default_sg(&project).await?;
            return Err(NeutronError::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let mut doc = Value::Object(standard_attrs(&project));
        doc["name"] = body.get("name").cloned().unwrap_or(json!(""));
        doc["description"] = body.get("description").cloned().unwrap_or(json!(""));
        let target = self.target("security_group", &doc, None);
        self.enforce_write(ctx, "create", "security_group", &body, &target)?;
        self.ensure_default_sg(&project).await?;
        let id = s(&doc, "id").to_owned();
        let mut tx = self.begin().await?;
        quota::check(&mut tx, "security_group", &project, 1).await?;
        store::insert(
            &mut tx,
            Table::SecurityGroups,
            &doc,
            &[("default_for", None)],
        )
        .await
        .map_err(|e| {
            dup(e, || {
                NeutronError::conflict("Conflict", "Security group already exists.")
            })
        })?;
        let mut rules = Vec::new();
        for ethertype in ["IPv4", "IPv6"] {
            let r = Rule {
                direction: "egress".into(),
                ethertype: ethertype.into(),
                protocol: None,
                min: None,
                max: None,
                prefix: None,
                remote_group: None,
            };
            let rd = rule_doc(&project, &id, &r, &json!(""));
            insert_rule(&mut tx, &rd, r.fingerprint(&id))
                .await
                .map_err(|e| dup(e, || super::bug("duplicate egress rule")))?;
            rules.push(rd);
        }
        commit(tx).await?;
        tracing::info!(security_group.id = %id, "security group created");
        self.render_sg(ctx, &doc, &rules)
            .ok_or_else(|| NeutronError::resource_not_found("security_group", &id))
    }

    /// `GET /v2.0/security-groups/{id}`.
    pub async fn security_group_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        self.ensure_caller_default(ctx).await?;
        let doc = self.visible_security_group(ctx, id).await?;
        let mut c = self.conn().await?;
        let rules = store::list(
            &mut c,
            Table::SecurityGroupRules,
            Some(("security_group_id", id)),
        )
        .await?;
        self.render_sg(ctx, &doc, &rules)
            .ok_or_else(|| NeutronError::resource_not_found("security_group", id))
    }

    /// `GET /v2.0/security-groups`.
    pub async fn security_group_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        self.ensure_caller_default(ctx).await?;
        let mut c = self.conn().await?;
        let rules = store::list(&mut c, Table::SecurityGroupRules, None).await?;
        let docs = store::list(&mut c, Table::SecurityGroups, None).await?;
        Ok(docs
            .iter()
            .filter_map(|d| self.render_sg(ctx, d, &rules))
            .collect())
    }

    /// `PUT /v2.0/security-groups/{id}`.
    pub async fn security_group_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SECURITY_GROUP, body, false)?;
        let mut doc = self.visible_security_group(ctx, id).await?;
        self.enforce_write(
            ctx,
            "update",
            "security_group",
            &body,
            &self.target("security_group", &doc, None),
        )?;
        if s(&doc, "name") == "default" && body.get("name").is_some_and(|n| n != "default") {
            return Err(NeutronError::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        if s(&doc, "name") != "default"
            && body.get("name").and_then(Value::as_str) == Some("default")
        {
            return Err(NeutronError::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        for (k, v) in &body {
            doc[k.as_str()] = v.clone();
        }
        touch(&mut doc);
        let mut c = self.conn().await?;
        store::update(&mut c, Table::SecurityGroups, &doc)
            .await
            .map_err(|e| dup(e, || NeutronError::conflict("Conflict", "conflict")))?;
        drop(c);
        self.security_group_show(ctx, id).await
    }

    /// `DELETE /v2.0/security-groups/{id}`.
    pub async fn security_group_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let doc = self.visible_security_group(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_security_group",
            &self.target("security_group", &doc, None),
        )?;
        let mut tx = self.begin().await?;
        if store::default_sg(&mut tx, s(&doc, "project_id"))
            .await?
            .as_deref()
            == Some(id)
            && !self.is_admin(ctx)
        {
            return Err(NeutronError::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        let ports = store::list(&mut tx, Table::Ports, None).await?;
        if ports.iter().any(|p| {
            p.get("security_groups")
                .and_then(Value::as_array)
                .is_some_and(|g| g.iter().any(|x| x == id))
        }) {
            return Err(NeutronError::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        store::delete_rules_of(&mut tx, id).await?;
        store::delete(&mut tx, Table::SecurityGroups, id).await?;
        commit(tx).await?;
        tracing::info!(security_group.id = %id, "security group deleted");
        Ok(())
    }

    fn rule_target(&self, rule: &Value, sg: &Value) -> Value {
        let mut t = self.target("security_group_rule", rule, None);
        t["security_group:project_id"] = sg.get("project_id").cloned().unwrap_or(Value::Null);
        t["security_group:tenant_id"] = t["security_group:project_id"].clone();
        t
    }

    /// `POST /v2.0/security-group-rules`.
    pub async fn security_group_rule_create(
        &self,
        ctx: &AuthContext,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SECURITY_GROUP_RULE, body, true)?;
        let sg_id = body
            .get("security_group_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        self.ensure_caller_default(ctx).await?;
        let sg = self.visible_security_group(ctx, &sg_id).await?;
        let rule = validate_rule(&body)?;
        if let Some(rg) = &rule.remote_group {
            self.visible_security_group(ctx, rg).await?;
        }
        let project = match body.get("project_id").or_else(|| body.get("tenant_id")) {
            Some(p) => attrs::repr(p),
            None => s(&sg, "project_id").to_owned(),
        };
        let doc = rule_doc(
            &project,
            &sg_id,
            &rule,
            body.get("description").unwrap_or(&Value::Null),
        );
        self.enforce_write(
            ctx,
            "create",
            "security_group_rule",
            &body,
            &self.rule_target(&doc, &sg),
        )?;
        let fp = rule.fingerprint(&sg_id);
        let mut tx = self.begin().await?;
        quota::check(&mut tx, "security_group_rule", &project, 1).await?;
        match insert_rule(&mut tx, &doc, fp.clone()).await {
            Ok(()) => {}
            Err(WriteError::Duplicate) => {
                drop(tx);
                let mut c = self.conn().await?;
                let existing = store::rule_by_fingerprint(&mut c, &fp)
                    .await?
                    .unwrap_or_default();
                return Err(NeutronError::conflict(
                    "SecurityGroupRuleExists",
                    format!("Security group rule already exists. Rule id is {existing}."),
                ));
            }
            Err(WriteError::Other(e)) => return Err(e.into()),
        }
        let mut sgdoc = sg.clone();
        touch(&mut sgdoc);
        store::update(&mut tx, Table::SecurityGroups, &sgdoc)
            .await
            .map_err(|e| dup(e, || super::bug("sg revision")))?;
        commit(tx).await?;
        tracing::info!(security_group_rule.id = %s(&doc, "id"), security_group.id = %sg_id, "security group rule created");
        Ok(doc)
    }

    async fn visible_rule(&self, ctx: &AuthContext, id: &str) -> NResult<(Value, Value)> {
        let doc = self
            .fetch(Table::SecurityGroupRules, "security_group_rule", id)
            .await?;
        let sg = self
            .fetch(
                Table::SecurityGroups,
                "security_group",
                s(&doc, "security_group_id"),
            )
            .await
            .map_err(|_| NeutronError::resource_not_found("security_group_rule", id))?;
        if !self.allowed(ctx, "get_security_group_rule", &self.rule_target(&doc, &sg)) {
            return Err(NeutronError::resource_not_found("security_group_rule", id));
        }
        Ok((doc, sg))
    }

    /// `GET /v2.0/security-group-rules/{id}`.
    pub async fn security_group_rule_show(&self, ctx: &AuthContext, id: &str) -> NResult<Value> {
        Ok(self.visible_rule(ctx, id).await?.0)
    }

    /// `GET /v2.0/security-group-rules`.
    pub async fn security_group_rule_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        self.ensure_caller_default(ctx).await?;
        let mut c = self.conn().await?;
        let sgs: std::collections::HashMap<String, Value> =
            store::list(&mut c, Table::SecurityGroups, None)
                .await?
                .into_iter()
                .map(|g| (s(&g, "id").to_owned(), g))
                .collect();
        let rules = store::list(&mut c, Table::SecurityGroupRules, None).await?;
        Ok(rules
            .into_iter()
            .filter(|r| {
                sgs.get(s(r, "security_group_id")).is_some_and(|sg| {
                    self.allowed(ctx, "get_security_group_rule", &self.rule_target(r, sg))
                })
            })
            .collect())
    }

    /// `PUT /v2.0/security-group-rules/{id}` (only `description` may change).
    pub async fn security_group_rule_update(
        &self,
        ctx: &AuthContext,
        id: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        let body = attrs::validate(attrs::SECURITY_GROUP_RULE, body, false)?;
        let (mut doc, sg) = self.visible_rule(ctx, id).await?;
        self.enforce_write(
            ctx,
            "update",
            "security_group_rule",
            &body,
            &self.rule_target(&doc, &sg),
        )?;
        if let Some(d) = body.get("description") {
            doc["description"] = d.clone();
        }
        touch(&mut doc);
        let mut c = self.conn().await?;
        store::update(&mut c, Table::SecurityGroupRules, &doc)
            .await
            .map_err(|e| dup(e, || super::bug("rule update")))?;
        Ok(doc)
    }

    /// `DELETE /v2.0/security-group-rules/{id}`.
    pub async fn security_group_rule_delete(&self, ctx: &AuthContext, id: &str) -> NResult<()> {
        let (doc, sg) = self.visible_rule(ctx, id).await?;
        self.enforce(
            ctx,
            "delete_security_group_rule",
            &self.rule_target(&doc, &sg),
        )?;
        let mut tx = self.begin().await?;
        store::delete(&mut tx, Table::SecurityGroupRules, id).await?;
        let mut sgdoc = sg.clone();
        touch(&mut sgdoc);
        store::update(&mut tx, Table::SecurityGroups, &sgdoc)
            .await
            .map_err(|e| dup(e, || super::bug("sg revision")))?;
        commit(tx).await?;
        Ok(())
    }
}

/// `remote_ip_prefix` as Neutron stores it: the given address in canonical form with its
/// mask (added when absent), host bits kept; `c` is the parsed prefix (for the length).
fn prefix_as_given(text: &str, c: &Cidr) -> String {
    let addr = text.split_once('/').map_or(text, |(a, _)| a);
    match addr.parse::<std::net::IpAddr>() {
        Ok(a) => format!("{a}/{}", c.prefix),
        Err(_) => c.to_string(),
    }
}
