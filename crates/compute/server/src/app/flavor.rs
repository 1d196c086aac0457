//! Flavors: list (with nova's visibility rules and filters), show, create/delete (admin),
//! extra specs and project access for private flavors, plus the idempotent bootstrap of
//! the default flavors.
//!
//! Visibility as nova's DB layer applies it: admins see every flavor (or only public
//! ones, per `is_public`); everyone else sees enabled public flavors plus the private
//! ones their project was granted. Any flavor can be shown by id.

use std::collections::{BTreeMap, HashSet};

use rustack_api_common::AuthContext;
use rustack_common::Error;

use super::Compute;
use crate::error::flavor_not_found;
use crate::store::{self, flavor::FlavorRow, WriteError};

pub use crate::store::flavor::FlavorRow as Flavor;

/// The `is_public` list filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicFilter {
    /// Only public flavors (the default).
    Public,
    /// Only private flavors.
    Private,
    /// Both (`is_public=none`, admins only).
    All,
}

/// What `GET /flavors` asks for.
#[derive(Clone, Debug)]
pub struct FlavorQuery {
    /// `is_public` (honoured for admins only, as nova does).
    pub is_public: PublicFilter,
    /// `minRam`.
    pub min_ram: Option<i64>,
    /// `minDisk`.
    pub min_disk: Option<i64>,
    /// `sort_key` (nova's column names; default `flavorid`).
    pub sort_key: String,
    /// `sort_dir` (`asc` default).
    pub descending: bool,
    /// `limit`.
    pub limit: Option<usize>,
    /// `marker` (a flavor id).
    pub marker: Option<String>,
}

impl Default for FlavorQuery {
    fn default() -> Self {
        FlavorQuery {
            is_public: PublicFilter::Public,
            min_ram: None,
            min_disk: None,
            sort_key: "flavorid".into(),
            descending: false,
            limit: None,
            marker: None,
        }
    }
}

/// Sort keys nova accepts for flavors.
pub const SORT_KEYS: &[&str] = &[
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

/// A validated create request.
#[derive(Clone, Debug)]
pub struct FlavorCreate {
    /// Name.
    pub name: String,
    /// Id (a UUID is generated when absent).
    pub id: Option<String>,
    /// RAM MB.
    pub ram: i64,
    /// vCPUs.
    pub vcpus: i64,
    /// Root disk GB.
    pub disk: i64,
    /// Ephemeral GB.
    pub ephemeral: i64,
    /// Swap MB.
    pub swap: i64,
    /// rxtx factor.
    pub rxtx_factor: f64,
    /// Public.
    pub is_public: bool,
    /// Description (2.55).
    pub description: Option<String>,
}

fn cmp_key(a: &FlavorRow, b: &FlavorRow, key: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let o = match key {
        "created_at" | "updated_at" => a.created_at.cmp(&b.created_at),
        "description" => a.description.cmp(&b.description),
        "disabled" => a.disabled.cmp(&b.disabled),
        "ephemeral_gb" => a.ephemeral_gb.cmp(&b.ephemeral_gb),
        "id" | "vcpu_weight" => a.internal_id.cmp(&b.internal_id),
        "is_public" => a.is_public.cmp(&b.is_public),
        "memory_mb" => a.memory_mb.cmp(&b.memory_mb),
        "name" => a.name.cmp(&b.name),
        "root_gb" => a.root_gb.cmp(&b.root_gb),
        "rxtx_factor" => a
            .rxtx_factor
            .partial_cmp(&b.rxtx_factor)
            .unwrap_or(Ordering::Equal),
        "swap" => a.swap.cmp(&b.swap),
        "vcpus" => a.vcpus.cmp(&b.vcpus),
        _ => a.flavorid.cmp(&b.flavorid),
    };
    // Ties break on the internal id, as nova's paginate_query adds `id`.
    o.then(a.internal_id.cmp(&b.internal_id))
}

impl Compute {
    /// A flavor by id (no policy: any authenticated caller may show any flavor, and the
    /// servers code looks flavors up with it).
    pub async fn flavor_get(&self, flavorid: &str) -> Result<Flavor, Error> {
        let mut c = self.conn().await?;
        store::flavor::get(&mut c, flavorid)
            .await?
            .ok_or_else(|| flavor_not_found(flavorid))
    }

    /// A flavor's extra specs (no policy; for the servers code).
    pub async fn flavor_extra_specs_get(
        &self,
        flavorid: &str,
    ) -> Result<BTreeMap<String, String>, Error> {
        let mut c = self.conn().await?;
        store::flavor::extra_specs(&mut c, flavorid).await
    }

    /// True if `project_id` may use `flavor` (public, or granted).
    pub async fn flavor_usable_by(&self, flavor: &Flavor, project_id: &str) -> Result<bool, Error> {
        if flavor.is_public {
            return Ok(true);
        }
        let mut c = self.conn().await?;
        Ok(store::flavor::projects(&mut c, &flavor.flavorid)
            .await?
            .iter()
            .any(|p| p == project_id))
    }

    /// `GET /flavors[/detail]`: the page and whether the page was full (for links).
    pub async fn flavor_list(
        &self,
        ctx: &AuthContext,
        q: &FlavorQuery,
    ) -> Result<Vec<Flavor>, Error> {
        if !SORT_KEYS.contains(&q.sort_key.as_str()) {
            return Err(Error::bad_request(format!(
                "Sort key supplied is invalid: {}",
                q.sort_key
            )));
        }
        let admin = self.is_admin(ctx);
        let mut c = self.conn().await?;
        let all = store::flavor::list(&mut c).await?;
        let granted: HashSet<String> = if admin {
            HashSet::new()
        } else {
            let project = ctx.project_id.clone().unwrap_or_default();
            store::flavor::all_access(&mut c)
                .await?
                .into_iter()
                .filter(|(_, p)| *p == project)
                .map(|(f, _)| f)
                .collect()
        };
        let mut out: Vec<Flavor> = all
            .into_iter()
            .filter(|f| {
                if admin {
                    match q.is_public {
                        PublicFilter::Public => f.is_public,
                        PublicFilter::Private => !f.is_public,
                        PublicFilter::All => true,
                    }
                } else {
                    !f.disabled && (f.is_public || granted.contains(&f.flavorid))
                }
            })
            .filter(|f| q.min_ram.is_none_or(|m| f.memory_mb >= m))
            .filter(|f| q.min_disk.is_none_or(|m| f.root_gb >= m))
            .collect();
        out.sort_by(|a, b| {
            let o = cmp_key(a, b, &q.sort_key);
            if q.descending {
                o.reverse()
            } else {
                o
            }
        });
        if let Some(marker) = &q.marker {
            let pos = out
                .iter()
                .position(|f| &f.flavorid == marker)
                .ok_or_else(|| {
                    Error::bad_request(format!("Marker {marker} could not be found."))
                })?;
            out.drain(..=pos);
        }
        if let Some(limit) = q.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    /// `POST /flavors` (admin).
    pub async fn flavor_create(
        &self,
        ctx: &AuthContext,
        req: FlavorCreate,
    ) -> Result<Flavor, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-manage:create",
            &Self::own_target(ctx),
        )?;
        self.flavor_insert(req).await
    }

    /// Inserts a flavor (no policy; bootstrap and `flavor_create`).
    pub async fn flavor_insert(&self, req: FlavorCreate) -> Result<Flavor, Error> {
        let id = req.id.clone().unwrap_or_else(rustack_common::new_uuid);
        let mut row = FlavorRow {
            flavorid: id.clone(),
            internal_id: 0,
            name: req.name.clone(),
            memory_mb: req.ram,
            vcpus: req.vcpus,
            root_gb: req.disk,
            ephemeral_gb: req.ephemeral,
            swap: req.swap,
            rxtx_factor: req.rxtx_factor,
            is_public: req.is_public,
            disabled: false,
            description: req.description.clone(),
            created_at: store::now(),
        };
        let mut tx = self.begin().await?;
        if store::flavor::get(&mut tx, &id).await?.is_some() {
            return Err(Error::conflict(format!(
                "Flavor with ID {id} already exists."
            )));
        }
        if store::flavor::get_by_name(&mut tx, &req.name)
            .await?
            .is_some()
        {
            return Err(Error::conflict(format!(
                "Flavor with name {} already exists.",
                req.name
            )));
        }
        match store::flavor::insert(&mut tx, &row).await {
            Ok(n) => row.internal_id = n,
            Err(WriteError::Duplicate) => {
                return Err(Error::conflict(format!(
                    "Flavor with ID {id} already exists."
                )))
            }
            Err(WriteError::Other(e)) => return Err(e),
        }
        tx.commit().await.map_err(rustack_db::db_internal)?;
        Ok(row)
    }

    /// `DELETE /flavors/{id}` (admin).
    pub async fn flavor_delete(&self, ctx: &AuthContext, flavorid: &str) -> Result<(), Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-manage:delete",
            &Self::own_target(ctx),
        )?;
        let mut tx = self.begin().await?;
        if !store::flavor::delete(&mut tx, flavorid).await? {
            return Err(flavor_not_found(flavorid));
        }
        tx.commit().await.map_err(rustack_db::db_internal)?;
        Ok(())
    }

    /// `PUT /flavors/{id}` (2.55, admin): the description only.
    pub async fn flavor_update(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
        description: Option<&str>,
    ) -> Result<Flavor, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-manage:update",
            &Self::own_target(ctx),
        )?;
        let mut c = self.conn().await?;
        if !store::flavor::set_description(&mut c, flavorid, description, &store::now()).await? {
            return Err(flavor_not_found(flavorid));
        }
        drop(c);
        self.flavor_get(flavorid).await
    }

    /// `GET /flavors/{id}/os-extra_specs`.
    pub async fn flavor_extra_specs_list(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
    ) -> Result<BTreeMap<String, String>, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-extra-specs:index",
            &Self::own_target(ctx),
        )?;
        self.flavor_get(flavorid).await?;
        self.flavor_extra_specs_get(flavorid).await
    }

    /// `GET /flavors/{id}/os-extra_specs/{key}`.
    pub async fn flavor_extra_spec_show(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
        key: &str,
    ) -> Result<String, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-extra-specs:show",
            &Self::own_target(ctx),
        )?;
        self.flavor_get(flavorid).await?;
        self.flavor_extra_specs_get(flavorid)
            .await?
            .remove(key)
            .ok_or_else(|| spec_not_found(flavorid, key))
    }

    /// `POST /flavors/{id}/os-extra_specs` (`create`) and `PUT .../{key}` (`update`).
    pub async fn flavor_extra_specs_set(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
        specs: &BTreeMap<String, String>,
        update: bool,
    ) -> Result<(), Error> {
        let rule = if update {
            "os_compute_api:os-flavor-extra-specs:update"
        } else {
            "os_compute_api:os-flavor-extra-specs:create"
        };
        self.authorize(ctx, rule, &Self::own_target(ctx))?;
        let mut tx = self.begin().await?;
        if store::flavor::get(&mut tx, flavorid).await?.is_none() {
            return Err(flavor_not_found(flavorid));
        }
        store::flavor::set_extra_specs(&mut tx, flavorid, specs).await?;
        tx.commit().await.map_err(rustack_db::db_internal)?;
        Ok(())
    }

    /// `DELETE /flavors/{id}/os-extra_specs/{key}`.
    pub async fn flavor_extra_spec_delete(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
        key: &str,
    ) -> Result<(), Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-extra-specs:delete",
            &Self::own_target(ctx),
        )?;
        let mut c = self.conn().await?;
        if store::flavor::get(&mut c, flavorid).await?.is_none() {
            return Err(flavor_not_found(flavorid));
        }
        if !store::flavor::delete_extra_spec(&mut c, flavorid, key).await? {
            return Err(spec_not_found(flavorid, key));
        }
        Ok(())
    }

    /// `GET /flavors/{id}/os-flavor-access`.
    pub async fn flavor_access_list(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
    ) -> Result<Vec<String>, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-access",
            &Self::own_target(ctx),
        )?;
        let f = self.flavor_get(flavorid).await?;
        if f.is_public {
            return Err(Error::not_found(
                "Access list not available for public flavors.",
            ));
        }
        let mut c = self.conn().await?;
        store::flavor::projects(&mut c, flavorid).await
    }

    /// `addTenantAccess`; `reject_public` is the 2.7 check.
    pub async fn flavor_access_add(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
        project_id: &str,
        reject_public: bool,
    ) -> Result<Vec<String>, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-access:add_tenant_access",
            &Self::own_target(ctx),
        )?;
        let f = self.flavor_get(flavorid).await?;
        if f.is_public && reject_public {
            return Err(Error::conflict("Can not add access to a public flavor."));
        }
        let mut c = self.conn().await?;
        match store::flavor::add_project(&mut c, flavorid, project_id).await {
            Ok(()) => {}
            Err(WriteError::Duplicate) => {
                return Err(Error::conflict(format!(
                    "Flavor access already exists for flavor {flavorid} and project {project_id} combination."
                )))
            }
            Err(WriteError::Other(e)) => return Err(e),
        }
        store::flavor::projects(&mut c, flavorid).await
    }

    /// `removeTenantAccess`.
    pub async fn flavor_access_remove(
        &self,
        ctx: &AuthContext,
        flavorid: &str,
        project_id: &str,
    ) -> Result<Vec<String>, Error> {
        self.authorize(
            ctx,
            "os_compute_api:os-flavor-access:remove_tenant_access",
            &Self::own_target(ctx),
        )?;
        self.flavor_get(flavorid).await?;
        let mut c = self.conn().await?;
        if !store::flavor::remove_project(&mut c, flavorid, project_id).await? {
            return Err(Error::not_found(format!(
                "Flavor access not found for {flavorid} / {project_id} combination."
            )));
        }
        store::flavor::projects(&mut c, flavorid).await
    }

    /// Creates each flavor that does not exist yet (by id), leaving existing ones
    /// alone: safe at every start.
    pub async fn ensure_flavors(&self, flavors: &[FlavorCreate]) -> Result<usize, Error> {
        let mut created = 0;
        for f in flavors {
            let id = f.id.clone().unwrap_or_default();
            let exists = {
                let mut c = self.conn().await?;
                store::flavor::get(&mut c, &id).await?.is_some()
                    || store::flavor::get_by_name(&mut c, &f.name).await?.is_some()
            };
            if !exists {
                self.flavor_insert(f.clone()).await?;
                created += 1;
            }
        }
        Ok(created)
    }
}

fn spec_not_found(flavorid: &str, key: &str) -> Error {
    Error::not_found(format!(
        "Flavor {flavorid} has no extra specs with key {key}."
    ))
}

/// The flavors `rustack up` creates: Kolla's init-runonce set plus two small ones for
/// the test guest (Tempest's `flavor_ref` 42 and `flavor_ref_alt` 84).
pub fn bootstrap_flavors() -> Vec<FlavorCreate> {
    let f = |id: &str, name: &str, vcpus: i64, ram: i64, disk: i64| FlavorCreate {
        name: name.into(),
        id: Some(id.into()),
        ram,
        vcpus,
        disk,
        ephemeral: 0,
        swap: 0,
        rxtx_factor: 1.0,
        is_public: true,
        description: None,
    };
    vec![
        f("1", "m1.tiny", 1, 512, 1),
        f("2", "m1.small", 1, 2048, 20),
        f("3", "m1.medium", 2, 4096, 40),
        f("4", "m1.large", 4, 8192, 80),
        f("5", "m1.xlarge", 8, 16384, 160),
        f("42", "rustack.nano", 1, 128, 1),
        f("84", "rustack.micro", 1, 192, 2),
    ]
}
