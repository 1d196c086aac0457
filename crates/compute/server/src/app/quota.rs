//! Quotas as nova's DB quota driver keeps them: limits per project, per user within a
//! project, and per quota class (`default`), falling back to the `[compute.quota]`
//! configuration; usage counted live (servers, cores and RAM from the servers code's
//! [`UsageSource`](super::UsageSource), key pairs and server groups from this crate's
//! tables). `-1` is unlimited.

use std::collections::BTreeMap;

use rustack_api_common::AuthContext;
use rustack_common::Error;
use serde_json::json;

use super::Compute;
use crate::store;

/// Every quota resource nova reports, in its order.
pub const RESOURCES: &[&str] = &[
    "cores",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
    "instances",
    "key_pairs",
    "metadata_items",
    "ram",
    "server_groups",
    "server_group_members",
    "fixed_ips",
    "floating_ips",
    "security_groups",
    "security_group_rules",
];

/// The nova-network resources hidden from 2.36 on.
pub const NETWORK_RESOURCES: &[&str] = &[
    "fixed_ips",
    "floating_ips",
    "security_groups",
    "security_group_rules",
];

/// The personality resources hidden from 2.57 on.
pub const PERSONALITY_RESOURCES: &[&str] = &[
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
];

/// One resource's limit and usage (`detail`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaDetail {
    /// The limit (-1 unlimited).
    pub limit: i64,
    /// Current usage.
    pub in_use: i64,
}

/// A quota check failure: which resource is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverQuota {
    /// The resource.
    pub resource: String,
    /// Requested amount.
    pub requested: i64,
    /// Used before the request.
    pub used: i64,
    /// The limit.
    pub limit: i64,
}

impl Compute {
    /// The configured defaults (class `default` overrides them).
    fn config_default(&self, resource: &str) -> i64 {
        let q = &self.cfg.quota;
        match resource {
            "cores" => q.cores,
            "injected_files" => q.injected_files,
            "injected_file_content_bytes" => q.injected_file_content_bytes,
            "injected_file_path_bytes" => q.injected_file_path_length,
            "instances" => q.instances,
            "key_pairs" => q.key_pairs,
            "metadata_items" => q.metadata_items,
            "ram" => q.ram,
            "server_groups" => q.server_groups,
            "server_group_members" => q.server_group_members,
            _ => -1,
        }
    }

    /// The defaults every project starts with (quota class `default`).
    pub async fn quota_defaults(&self) -> Result<BTreeMap<String, i64>, Error> {
        let mut c = self.conn().await?;
        let class = store::quota::class_limits(&mut c, "default").await?;
        Ok(RESOURCES
            .iter()
            .map(|r| {
                (
                    (*r).to_owned(),
                    class
                        .get(*r)
                        .copied()
                        .unwrap_or_else(|| self.config_default(r)),
                )
            })
            .collect())
    }

    /// The effective limits of a project, or of one user in it.
    pub async fn quota_limits(
        &self,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<BTreeMap<String, i64>, Error> {
        let mut out = self.quota_defaults().await?;
        let mut c = self.conn().await?;
        out.extend(store::quota::limits(&mut c, project_id, None).await?);
        if let Some(u) = user_id {
            out.extend(store::quota::limits(&mut c, project_id, Some(u)).await?);
        }
        Ok(out)
    }

    /// Current usage per resource of a project (or one user in it).
    pub async fn quota_usage(
        &self,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<BTreeMap<String, i64>, Error> {
        let u = self.project_usage(project_id, user_id).await?;
        let mut c = self.conn().await?;
        let key_pairs = match user_id {
            Some(uid) => store::keypair::count(&mut c, uid).await?,
            None => 0,
        };
        let groups = store::server_group::count(&mut c, project_id, user_id).await?;
        let mut out: BTreeMap<String, i64> =
            RESOURCES.iter().map(|r| ((*r).to_owned(), 0)).collect();
        out.insert("instances".into(), u.instances);
        out.insert("cores".into(), u.cores);
        out.insert("ram".into(), u.ram);
        out.insert("key_pairs".into(), key_pairs);
        out.insert("server_groups".into(), groups);
        Ok(out)
    }

    /// Checks that adding `deltas` keeps a project (and user) within its limits.
    pub async fn quota_check(
        &self,
        project_id: &str,
        user_id: Option<&str>,
        deltas: &[(&str, i64)],
    ) -> Result<(), OverQuota> {
        let internal = |resource: &str| OverQuota {
            resource: resource.to_owned(),
            requested: 0,
            used: 0,
            limit: 0,
        };
        let limits = self
            .quota_limits(project_id, user_id)
            .await
            .map_err(|_| internal("unknown"))?;
        let usage = self
            .quota_usage(project_id, user_id)
            .await
            .map_err(|_| internal("unknown"))?;
        for (resource, delta) in deltas {
            let limit = limits.get(*resource).copied().unwrap_or(-1);
            let used = usage.get(*resource).copied().unwrap_or(0);
            if limit >= 0 && used + delta > limit {
                return Err(OverQuota {
                    resource: (*resource).to_owned(),
                    requested: *delta,
                    used,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// `GET /os-quota-sets/{project}` (`detail`: with usage).
    pub async fn quota_show(
        &self,
        ctx: &AuthContext,
        project_id: &str,
        user_id: Option<&str>,
        detail: bool,
    ) -> Result<BTreeMap<String, QuotaDetail>, Error> {
        let rule = if detail {
            "os_compute_api:os-quota-sets:detail"
        } else {
            "os_compute_api:os-quota-sets:show"
        };
        self.authorize(ctx, rule, &json!({"project_id": project_id}))?;
        let limits = self.quota_limits(project_id, user_id).await?;
        let usage = if detail {
            self.quota_usage(project_id, user_id).await?
        } else {
            BTreeMap::new()
        };
        Ok(limits
            .into_iter()
            .map(|(k, limit)| {
                let in_use = usage.get(&k).copied().unwrap_or(0);
                (k, QuotaDetail { limit, in_use })
            })
            .collect())
    }

    /// `GET /os-quota-sets/{project}/defaults`.
    pub async fn quota_defaults_show(
        &self,
        ctx: &AuthContext,
        project_id: &str,
    ) -> Result<BTreeMap<String, i64>, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-quota-sets:defaults",
            &json!({"project_id": project_id}),
        )?;
        self.quota_defaults().await
    }

    /// `PUT /os-quota-sets/{project}`: validates each new limit against usage (unless
    /// `force`) and, for a user, against the project's limit.
    pub async fn quota_update(
        &self,
        ctx: &AuthContext,
        project_id: &str,
        user_id: Option<&str>,
        values: &BTreeMap<String, i64>,
        force: bool,
    ) -> Result<BTreeMap<String, i64>, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-quota-sets:update",
            &json!({"project_id": project_id}),
        )?;
        if !force {
            let usage = self.quota_usage(project_id, user_id).await?;
            let project_limits = self.quota_limits(project_id, None).await?;
            let inf = |v: i64| if v == -1 { i64::MAX } else { v };
            for (k, v) in values {
                let minimum = usage.get(k).copied().unwrap_or(0);
                if inf(*v) < minimum {
                    return Err(Error::bad_request(format!(
                        "Quota limit {v} for {k} must be greater than or equal to already used and reserved {minimum}."
                    )));
                }
                if user_id.is_some() {
                    let maximum = project_limits.get(k).copied().unwrap_or(-1);
                    if inf(*v) > inf(maximum) {
                        return Err(Error::bad_request(format!(
                            "Quota limit {v} for {k} must be less than or equal to {maximum}."
                        )));
                    }
                }
            }
        }
        let mut tx = self.begin().await?;
        for (k, v) in values {
            store::quota::set(&mut tx, project_id, user_id, k, *v).await?;
        }
        tx.commit().await.map_err(rustack_db::db_internal)?;
        self.quota_limits(project_id, user_id).await
    }

    /// `DELETE /os-quota-sets/{project}`: back to the defaults.
    pub async fn quota_delete(
        &self,
        ctx: &AuthContext,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<(), Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-quota-sets:delete",
            &json!({"project_id": project_id}),
        )?;
        let mut c = self.conn().await?;
        store::quota::delete(&mut c, project_id, user_id).await
    }

    /// `GET /os-quota-class-sets/{class}`.
    pub async fn quota_class_show(
        &self,
        ctx: &AuthContext,
        class: &str,
    ) -> Result<BTreeMap<String, i64>, Error> {
        self.authorize(ctx, "os_compute_api:os-quota-class-sets:show", &json!({}))?;
        let mut out: BTreeMap<String, i64> = RESOURCES
            .iter()
            .map(|r| ((*r).to_owned(), self.config_default(r)))
            .collect();
        let mut c = self.conn().await?;
        out.extend(store::quota::class_limits(&mut c, class).await?);
        Ok(out)
    }

    /// `PUT /os-quota-class-sets/{class}`.
    pub async fn quota_class_update(
        &self,
        ctx: &AuthContext,
        class: &str,
        values: &BTreeMap<String, i64>,
    ) -> Result<BTreeMap<String, i64>, Error> {
        self.authorize(ctx, "os_compute_api:os-quota-class-sets:update", &json!({}))?;
        let mut tx = self.begin().await?;
        for (k, v) in values {
            store::quota::class_set(&mut tx, class, k, *v).await?;
        }
        tx.commit().await.map_err(rustack_db::db_internal)?;
        self.quota_class_show(ctx, class).await
    }
}
