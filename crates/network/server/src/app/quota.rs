//! Quotas: Neutron's default limits per project, admin overrides, usage counted from the
//! resource tables inside the creating transaction.

use rustack_api_common::AuthContext;
use serde_json::{json, Map, Value};
use sqlx::AnyConnection;

use super::Network;
use crate::error::{NResult, NeutronError};
use crate::store::{self, Table};

/// Neutron's `[quotas]` defaults (-1 = unlimited).
pub const DEFAULTS: &[(&str, i64)] = &[
    ("floatingip", 50),
    ("network", 100),
    ("port", 500),
    ("rbac_policy", 10),
    ("router", 10),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("subnet", 100),
    ("subnetpool", -1),
];

fn table(resource: &str) -> Option<Table> {
    Some(match resource {
        "floatingip" => Table::FloatingIps,
        "network" => Table::Networks,
        "port" => Table::Ports,
        "router" => Table::Routers,
        "security_group" => Table::SecurityGroups,
        "security_group_rule" => Table::SecurityGroupRules,
        "subnet" => Table::Subnets,
        "subnetpool" => Table::SubnetPools,
        _ => return None,
    })
}

async fn limits(conn: &mut AnyConnection, project: &str) -> NResult<Vec<(String, i64)>> {
    let overrides = store::quotas(conn, project).await?;
    Ok(DEFAULTS
        .iter()
        .map(|(r, d)| {
            let v = overrides
                .iter()
                .find(|(k, _)| k == r)
                .map(|(_, v)| *v)
                .unwrap_or(*d);
            ((*r).to_owned(), v)
        })
        .collect())
}

/// 409 `OverQuota` if `project` may not create `n` more `resource`s.
pub(crate) async fn check(
    conn: &mut AnyConnection,
    resource: &str,
    project: &str,
    n: i64,
) -> NResult<()> {
    if project.is_empty() {
        return Ok(());
    }
    let limit = limits(conn, project)
        .await?
        .into_iter()
        .find(|(r, _)| r == resource)
        .map(|(_, v)| v)
        .unwrap_or(-1);
    if limit < 0 {
        return Ok(());
    }
    let Some(t) = table(resource) else {
        return Ok(());
    };
    let used = store::count_owned(conn, t, project).await?;
    if used + n > limit {
        return Err(NeutronError::conflict(
            "OverQuota",
            format!("Quota exceeded for resources: ['{resource}']."),
        ));
    }
    Ok(())
}

fn as_map(v: Vec<(String, i64)>) -> Map<String, Value> {
    v.into_iter().map(|(k, v)| (k, json!(v))).collect()
}

impl Network {
    fn quota_target(project: &str) -> Value {
        json!({"project_id": project, "tenant_id": project})
    }

    /// `GET /v2.0/quotas/{project_id}`.
    pub async fn quota_show(&self, ctx: &AuthContext, project: &str) -> NResult<Value> {
        self.enforce(ctx, "get_quota", &Self::quota_target(project))?;
        let mut c = self.conn().await?;
        Ok(Value::Object(as_map(limits(&mut c, project).await?)))
    }

    /// `GET /v2.0/quotas/{project_id}/default`.
    pub async fn quota_default(&self, ctx: &AuthContext, project: &str) -> NResult<Value> {
        self.enforce(ctx, "get_quota", &Self::quota_target(project))?;
        Ok(Value::Object(as_map(
            DEFAULTS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        )))
    }

    /// `GET /v2.0/quotas/{project_id}/details`.
    pub async fn quota_details(&self, ctx: &AuthContext, project: &str) -> NResult<Value> {
        self.enforce(ctx, "get_quota", &Self::quota_target(project))?;
        let mut c = self.conn().await?;
        let mut out = Map::new();
        for (r, limit) in limits(&mut c, project).await? {
            let used = match table(&r) {
                Some(t) => store::count_owned(&mut c, t, project).await?,
                None => 0,
            };
            out.insert(r, json!({"limit": limit, "used": used, "reserved": 0}));
        }
        Ok(Value::Object(out))
    }

    /// `GET /v2.0/quotas` (projects with overrides).
    pub async fn quota_list(&self, ctx: &AuthContext) -> NResult<Vec<Value>> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for p in store::quota_projects(&mut c).await? {
            if !self.allowed(ctx, "get_quota", &Self::quota_target(&p)) {
                continue;
            }
            let mut m = as_map(limits(&mut c, &p).await?);
            m.insert("project_id".into(), json!(p));
            m.insert("tenant_id".into(), json!(p));
            out.push(Value::Object(m));
        }
        Ok(out)
    }

    /// `PUT /v2.0/quotas/{project_id}`.
    pub async fn quota_update(
        &self,
        ctx: &AuthContext,
        project: &str,
        body: &Map<String, Value>,
    ) -> NResult<Value> {
        self.enforce(ctx, "update_quota", &Self::quota_target(project))?;
        let mut c = self.conn().await?;
        for (k, v) in body {
            if !DEFAULTS.iter().any(|(r, _)| r == k) {
                return Err(NeutronError::bad(
                    "HTTPBadRequest",
                    format!("Unrecognized attribute(s) '{k}'"),
                ));
            }
            let limit = rustack_network_api::attrs::to_int(v)
                .filter(|n| *n >= -1)
                .ok_or_else(|| {
                    NeutronError::bad(
                        "InvalidInput",
                        format!(
                            "Invalid input for {k}. Reason: '{}' is not an integer or uuid.",
                            rustack_network_api::attrs::repr(v)
                        ),
                    )
                })?;
            store::set_quota(&mut c, project, k, limit).await?;
        }
        Ok(Value::Object(as_map(limits(&mut c, project).await?)))
    }

    /// `DELETE /v2.0/quotas/{project_id}`.
    pub async fn quota_delete(&self, ctx: &AuthContext, project: &str) -> NResult<()> {
        self.enforce(ctx, "delete_quota", &Self::quota_target(project))?;
        let mut c = self.conn().await?;
        store::delete_quotas(&mut c, project).await?;
        Ok(())
    }
}
