//! `keystone-manage bootstrap` for rustack: the `Default` domain, the `admin` and
//! `service` projects, the `admin` ⇒ `manager` ⇒ `member` ⇒ `reader` roles and `service`
//! (as current keystone-manage bootstrap makes them), the admin
//! user with `admin` on its project and on the system, region `RegionOne`, and catalog
//! entries for every service the cloud runs. Idempotent: existing rows are kept as they
//! are (passwords are never reset by a restart).

use rustack_common::Error;

use crate::store::assignment::{Actor, Assignment, Role, Target};
use crate::store::catalog::{Endpoint, Region, Service};
use crate::store::identity::User;
use crate::store::resource::{Domain, Project};
use crate::Identity;

/// One catalog entry to register.
#[derive(Clone, Debug)]
pub struct CatalogEntry {
    /// Service type (`identity`, `image`, …).
    pub service_type: String,
    /// Service name (`keystone`, `glance`, …).
    pub name: String,
    /// Public URL (also used for internal and admin).
    pub url: String,
}

/// What bootstrap creates.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    /// The admin user's password.
    pub admin_password: String,
    /// Region id.
    pub region: String,
    /// Catalog entries.
    pub catalog: Vec<CatalogEntry>,
    /// Service users (name, password) to create in the `service` project with the
    /// `service` role, as Kolla registers `glance`, `neutron`, …: services running on
    /// their own validate tokens with them. Existing users keep their password.
    pub service_users: Vec<(String, String)>,
}

impl Identity {
    /// Runs bootstrap; safe to run at every start.
    pub async fn bootstrap(&self, b: &Bootstrap) -> Result<(), Error> {
        let s = &self.store;
        // bcrypt (cost 12 by default) dominates a first start: hash the missing service
        // users' passwords on the blocking pool while the rest of bootstrap runs.
        let mut pending_hashes = std::collections::HashMap::new();
        for (name, password) in &b.service_users {
            if s.user_by_name("default", name).await?.is_none() {
                let (pw, cost) = (password.clone(), self.cfg.bcrypt_cost);
                let task = tokio::task::spawn_blocking(move || {
                    bcrypt::hash(pw, cost).map_err(|e| Error::internal(format!("bcrypt: {e}")))
                });
                pending_hashes.insert(name.as_str(), task);
            }
        }
        if s.domain_get("default").await?.is_none() {
            s.domain_create(&Domain {
                id: "default".into(),
                name: "Default".into(),
                description: "The default domain".into(),
                enabled: true,
                tags: vec![],
                extra: Default::default(),
            })
            .await?;
        }
        let mut project_ids = vec![];
        for name in ["admin", "service"] {
            let p = match s.project_by_name("default", name).await? {
                Some(p) => p,
                None => {
                    let p = Project {
                        id: rustack_common::new_hex_id(),
                        name: name.into(),
                        domain_id: "default".into(),
                        parent_id: None,
                        description: if name == "admin" {
                            "Bootstrap project for initializing the cloud."
                        } else {
                            "Project for the services"
                        }
                        .into(),
                        enabled: true,
                        tags: vec![],
                        extra: Default::default(),
                    };
                    s.project_create(&p).await?;
                    p
                }
            };
            project_ids.push(p.id);
        }
        let mut role_ids = std::collections::HashMap::new();
        for name in ["admin", "manager", "member", "reader", "service"] {
            let r = match s.role_by_name(name).await? {
                Some(r) => r,
                None => {
                    let r = Role {
                        id: rustack_common::new_hex_id(),
                        name: name.into(),
                        domain_id: None,
                        description: String::new(),
                        extra: Default::default(),
                    };
                    s.role_create(&r).await?;
                    r
                }
            };
            role_ids.insert(name, r.id);
        }
        s.implied_role_create(&role_ids["admin"], &role_ids["manager"])
            .await?;
        s.implied_role_create(&role_ids["manager"], &role_ids["member"])
            .await?;
        s.implied_role_create(&role_ids["member"], &role_ids["reader"])
            .await?;
        let admin = match s.user_by_name("default", "admin").await? {
            Some(u) => u,
            None => {
                let hash =
                    crate::api::hash_password_for_bootstrap(self, b.admin_password.clone()).await?;
                let u = User {
                    id: rustack_common::new_hex_id(),
                    name: "admin".into(),
                    domain_id: "default".into(),
                    enabled: true,
                    password_hash: Some(hash),
                    default_project_id: None,
                    extra: Default::default(),
                    created_at: crate::store::now_text(),
                };
                s.user_create(&u).await?;
                u
            }
        };
        for (target, target_id) in [
            (Target::Project, project_ids[0].clone()),
            (Target::System, "all".to_string()),
        ] {
            s.assignment_create(&Assignment {
                actor: Actor::User,
                actor_id: admin.id.clone(),
                target,
                target_id,
                role_id: role_ids["admin"].clone(),
                inherited: false,
            })
            .await?;
        }
        let service_role = role_ids["service"].clone();
        for (name, _) in &b.service_users {
            let user = match s.user_by_name("default", name).await? {
                Some(u) => u,
                None => {
                    let hash = match pending_hashes.remove(name.as_str()) {
                        Some(h) => h
                            .await
                            .map_err(|e| Error::internal(format!("bcrypt task: {e}")))??,
                        None => {
                            return Err(Error::internal(format!(
                                "no password hash for service user {name}"
                            )))
                        }
                    };
                    let u = User {
                        id: rustack_common::new_hex_id(),
                        name: name.clone(),
                        domain_id: "default".into(),
                        enabled: true,
                        password_hash: Some(hash),
                        default_project_id: None,
                        extra: Default::default(),
                        created_at: crate::store::now_text(),
                    };
                    s.user_create(&u).await?;
                    u
                }
            };
            // Kolla grants its service users `admin` on the service project (and
            // `service`): the network agent reads every network and port as `neutron`.
            for role_id in [&service_role, &role_ids["admin"]] {
                s.assignment_create(&Assignment {
                    actor: Actor::User,
                    actor_id: user.id.clone(),
                    target: Target::Project,
                    target_id: project_ids[1].clone(),
                    role_id: role_id.clone(),
                    inherited: false,
                })
                .await?;
            }
        }
        if s.region_get(&b.region).await?.is_none() {
            s.region_create(&Region {
                id: b.region.clone(),
                description: String::new(),
                parent_region_id: None,
                extra: Default::default(),
            })
            .await?;
        }
        let services = s.service_list().await?;
        let endpoints = s.endpoint_list().await?;
        for entry in &b.catalog {
            let service = match services
                .iter()
                .find(|sv| sv.service_type == entry.service_type)
            {
                Some(sv) => sv.clone(),
                None => {
                    let mut extra = serde_json::Map::new();
                    extra.insert("name".into(), entry.name.clone().into());
                    extra.insert(
                        "description".into(),
                        format!("rustack {} service", entry.service_type).into(),
                    );
                    let sv = Service {
                        id: rustack_common::new_hex_id(),
                        service_type: entry.service_type.clone(),
                        enabled: true,
                        extra,
                    };
                    s.service_create(&sv).await?;
                    sv
                }
            };
            for interface in ["public", "internal", "admin"] {
                let existing = endpoints.iter().find(|e| {
                    e.service_id == service.id
                        && e.interface == interface
                        && e.region_id.as_deref() == Some(b.region.as_str())
                });
                match existing {
                    Some(e) if e.url == entry.url => {}
                    Some(e) => {
                        // The bind address changed since the last start: follow it.
                        let mut e = e.clone();
                        e.url = entry.url.clone();
                        s.endpoint_update(&e).await?;
                    }
                    None => {
                        s.endpoint_create(&Endpoint {
                            id: rustack_common::new_hex_id(),
                            interface: interface.into(),
                            service_id: service.id.clone(),
                            region_id: Some(b.region.clone()),
                            url: entry.url.clone(),
                            enabled: true,
                            extra: Default::default(),
                        })
                        .await?;
                    }
                }
            }
        }
        self.bump();
        Ok(())
    }
}
