//! Issuing and validating tokens: authentication methods, scoping, effective roles
//! (groups, inheritance, implied roles), revocation events, the catalog, and the token
//! body exactly as Keystone renders it.
//!
//! A token carries only what Keystone's Fernet payload carries (user, methods, scope,
//! expiry, audit ids); everything else is looked up at validation, so disabling a user,
//! removing a role or deleting a project takes effect on the next validation. Validated
//! tokens are cached in memory keyed on the service's write generation: any identity
//! write drops the whole cache.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeZone, Utc};
use parking_lot::{Mutex, RwLock};
use rustack_api_common::AuthContext;
use rustack_common::time::isotime_micro;
use rustack_common::Error;
use rustack_identity_fernet::{
    AuthMethods, KeyRepository, KeyRepositoryError, TokenFormatter, TokenPayload, TokenScope,
};
use serde_json::{json, Value};

use crate::store::app_cred::AppCred;
use crate::store::assignment::{Role, Target};
use crate::store::identity::User;
use crate::store::resource::{Domain, Project};
use crate::store::revoke::RevocationEvent;
use crate::Identity;

/// The Fernet formatter, reloaded when the key repository changes on disk.
pub struct TokenProvider {
    repo: KeyRepository,
    methods: Vec<String>,
    state: RwLock<(Option<SystemTime>, TokenFormatter)>,
    cache: Mutex<HashMap<String, (u64, Instant, TokenData)>>,
    snapshot: Mutex<Option<(u64, std::sync::Arc<Snapshot>)>>,
}

fn repo_mtime(repo: &KeyRepository) -> Option<SystemTime> {
    std::fs::metadata(repo.path())
        .and_then(|m| m.modified())
        .ok()
}

impl TokenProvider {
    /// Loads the keys of `repo`.
    pub fn new(repo: KeyRepository, methods: Vec<String>) -> Result<Self, KeyRepositoryError> {
        let formatter =
            TokenFormatter::from_repository(&repo, AuthMethods::new(methods.iter().cloned()))?;
        let mtime = repo_mtime(&repo);
        Ok(TokenProvider {
            repo,
            methods,
            state: RwLock::new((mtime, formatter)),
            cache: Mutex::new(HashMap::new()),
            snapshot: Mutex::new(None),
        })
    }

    /// Reloads the keys if the repository changed on disk (a rotation, or a sync from
    /// another node); cached validations go with the old keys.
    fn refresh(&self) {
        let now = repo_mtime(&self.repo);
        if self.state.read().0 == now {
            return;
        }
        match TokenFormatter::from_repository(
            &self.repo,
            AuthMethods::new(self.methods.iter().cloned()),
        ) {
            Ok(f) => {
                *self.state.write() = (now, f);
                self.cache.lock().clear();
                tracing::info!(key_repository = %self.repo.path().display(), "reloaded fernet keys");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reload fernet keys; keeping the old ones")
            }
        }
    }

    fn create(&self, payload: &TokenPayload) -> Result<(String, DateTime<Utc>), Error> {
        self.refresh();
        let st = self.state.read();
        let token =
            st.1.create(payload)
                .map_err(|e| Error::internal(format!("token create: {e}")))?;
        let (_, issued) =
            st.1.validate(&token)
                .map_err(|e| Error::internal(format!("token re-read: {e}")))?;
        Ok((token, issued))
    }

    fn decode(&self, token: &str) -> Result<(TokenPayload, DateTime<Utc>), Error> {
        self.refresh();
        self.state
            .read()
            .1
            .validate(token)
            .map_err(|_| Error::not_found(format!("Could not find token: {}.", short(token))))
    }
}

fn short(token: &str) -> String {
    token.chars().take(12).collect::<String>() + "..."
}

/// What a token is scoped to, with the looked-up resources.
#[derive(Clone, Debug)]
pub enum Scope {
    Unscoped,
    Project { project: Project, domain: Domain },
    Domain(Domain),
    System,
}

/// A validated token with everything needed to render it.
#[derive(Clone, Debug)]
pub struct TokenData {
    pub token: String,
    pub user: User,
    pub user_domain: Domain,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    pub scope: Scope,
    pub roles: Vec<Role>,
    pub app_cred: Option<AppCred>,
}

impl TokenData {
    /// The typed context other services see.
    pub fn auth_context(&self) -> AuthContext {
        let (project_id, project_name, project_domain_id, domain_id, system_scope) =
            match &self.scope {
                Scope::Project { project, .. } => (
                    Some(project.id.clone()),
                    Some(project.name.clone()),
                    Some(project.domain_id.clone()),
                    None,
                    None,
                ),
                Scope::Domain(d) => (None, None, None, Some(d.id.clone()), None),
                Scope::System => (None, None, None, None, Some("all".to_string())),
                Scope::Unscoped => (None, None, None, None, None),
            };
        AuthContext {
            user_id: self.user.id.clone(),
            user_name: self.user.name.clone(),
            user_domain_id: self.user.domain_id.clone(),
            project_id,
            project_name,
            project_domain_id,
            domain_id,
            system_scope,
            roles: self.roles.iter().map(|r| r.name.to_lowercase()).collect(),
            role_ids: self.roles.iter().map(|r| r.id.clone()).collect(),
            application_credential_id: self.app_cred.as_ref().map(|a| a.id.clone()),
            application_credential_restricted: self
                .app_cred
                .as_ref()
                .map(|a| !a.unrestricted)
                .unwrap_or(false),
            audit_ids: self.audit_ids.clone(),
            methods: self.methods.clone(),
        }
    }

    /// The `token` object Keystone returns on issue and validation.
    pub fn body(&self, catalog: Option<Value>) -> Value {
        let mut t = json!({
            "methods": self.methods,
            "user": {
                "domain": {"id": self.user_domain.id, "name": self.user_domain.name},
                "id": self.user.id,
                "name": self.user.name,
                "password_expires_at": Value::Null,
            },
            "audit_ids": self.audit_ids,
            "expires_at": isotime_micro(self.expires_at),
            "issued_at": isotime_micro(self.issued_at),
        });
        let m = t.as_object_mut().expect("json! object literal");
        match &self.scope {
            Scope::Project { project, domain } => {
                m.insert("project".into(), json!({"domain": {"id": domain.id, "name": domain.name}, "id": project.id, "name": project.name}));
                m.insert("is_domain".into(), json!(false));
            }
            Scope::Domain(d) => {
                m.insert("domain".into(), json!({"id": d.id, "name": d.name}));
            }
            Scope::System => {
                m.insert("system".into(), json!({"all": true}));
            }
            Scope::Unscoped => {}
        }
        if !matches!(self.scope, Scope::Unscoped) {
            m.insert(
                "roles".into(),
                Value::Array(
                    self.roles
                        .iter()
                        .map(|r| json!({"id": r.id, "name": r.name}))
                        .collect(),
                ),
            );
            if let Some(c) = catalog {
                m.insert("catalog".into(), c);
            }
        }
        if let Some(ac) = &self.app_cred {
            m.insert(
                "application_credential".into(),
                json!({"id": ac.id, "name": ac.name, "restricted": !ac.unrestricted}),
            );
        }
        json!({ "token": t })
    }

    fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { project, .. } => Some(&project.id),
            _ => None,
        }
    }
}

/// The scope a caller asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestedScope {
    None,
    Project(String),
    Domain(String),
    System,
}

/// The identity a caller proved.
pub struct Authenticated {
    pub user: User,
    pub methods: Vec<String>,
    /// Set when rescoping an existing token: its expiry and audit chain carry over.
    pub parent: Option<(DateTime<Utc>, String)>,
    pub app_cred: Option<AppCred>,
}

/// A random audit id as Keystone makes them.
pub fn new_audit_id() -> String {
    rustack_identity_fernet::random_audit_id()
}

impl Identity {
    /// Issues a token for `auth` with `scope`, returning the token and its rendered data.
    pub async fn issue_token(
        &self,
        auth: Authenticated,
        scope: RequestedScope,
    ) -> Result<TokenData, Error> {
        let unauthorized =
            || Error::unauthenticated("The request you have made requires authentication.");
        let user = auth.user;
        let user_domain = self
            .store
            .domain_require(&user.domain_id)
            .await
            .map_err(|_| unauthorized())?;
        if !user.enabled || !user_domain.enabled {
            return Err(unauthorized());
        }
        let mut scope = scope;
        if scope == RequestedScope::None {
            if let Some(ac) = &auth.app_cred {
                scope = RequestedScope::Project(ac.project_id.clone());
            } else if let Some(p) = &user.default_project_id {
                // Keystone scopes to the default project when the user may use it.
                if !self
                    .effective_roles(&user.id, &Target::Project, p)
                    .await?
                    .is_empty()
                {
                    scope = RequestedScope::Project(p.clone());
                }
            }
        }
        if let Some(ac) = &auth.app_cred {
            if scope != RequestedScope::Project(ac.project_id.clone()) {
                return Err(unauthorized());
            }
        }
        let (token_scope, resolved, roles) = match scope {
            RequestedScope::None => (TokenScope::Unscoped, Scope::Unscoped, vec![]),
            RequestedScope::Project(pid) => {
                let project = self
                    .store
                    .project_get(&pid)
                    .await?
                    .ok_or_else(unauthorized)?;
                let domain = self.store.domain_require(&project.domain_id).await?;
                if !project.enabled || !domain.enabled {
                    return Err(unauthorized());
                }
                let roles = self
                    .effective_roles(&user.id, &Target::Project, &pid)
                    .await?;
                if roles.is_empty() {
                    return Err(Error::unauthenticated(format!(
                        "User {} has no access to project {}",
                        user.id, pid
                    )));
                }
                let scope = match &auth.app_cred {
                    Some(ac) => TokenScope::ApplicationCredential {
                        project_id: pid.clone(),
                        app_cred_id: ac.id.clone(),
                    },
                    None => TokenScope::Project(pid.clone()),
                };
                (scope, Scope::Project { project, domain }, roles)
            }
            RequestedScope::Domain(did) => {
                let domain = self
                    .store
                    .domain_get(&did)
                    .await?
                    .ok_or_else(unauthorized)?;
                if !domain.enabled {
                    return Err(unauthorized());
                }
                let roles = self
                    .effective_roles(&user.id, &Target::Domain, &did)
                    .await?;
                if roles.is_empty() {
                    return Err(Error::unauthenticated(format!(
                        "User {} has no access to domain {}",
                        user.id, did
                    )));
                }
                (TokenScope::Domain(did), Scope::Domain(domain), roles)
            }
            RequestedScope::System => {
                let roles = self
                    .effective_roles(&user.id, &Target::System, "all")
                    .await?;
                if roles.is_empty() {
                    return Err(Error::unauthenticated(format!(
                        "User {} has no access to the system",
                        user.id
                    )));
                }
                (TokenScope::System("all".into()), Scope::System, roles)
            }
        };
        let roles = match &auth.app_cred {
            Some(ac) => {
                let granted: HashSet<&str> = roles.iter().map(|r| r.id.as_str()).collect();
                if !ac.roles.iter().all(|r| granted.contains(r.as_str())) {
                    return Err(unauthorized());
                }
                self.expand_roles(ac.roles.iter().cloned().collect())
                    .await?
            }
            None => roles,
        };
        let now = Utc::now();
        let mut expires_at = now + chrono::Duration::seconds(self.cfg.token_expiration as i64);
        let mut audit_ids = vec![new_audit_id()];
        if let Some((parent_expiry, chain)) = auth.parent {
            expires_at = parent_expiry;
            audit_ids.push(chain);
        }
        if let Some(ac) = &auth.app_cred {
            if let Some(exp) = ac
                .expires_at
                .as_deref()
                .and_then(rustack_common::time::parse_iso)
            {
                expires_at = expires_at.min(exp);
            }
        }
        // The payload stores a float; render from the same truncated value at issue and
        // validation so both bodies are identical.
        let expires_at = Utc
            .timestamp_micros(expires_at.timestamp_micros())
            .single()
            .unwrap_or(expires_at);
        let payload = TokenPayload {
            user_id: user.id.clone(),
            methods: auth.methods.clone(),
            scope: token_scope,
            expires_at,
            audit_ids: audit_ids.clone(),
        };
        let (token, issued_at) = self.tokens.create(&payload)?;
        let (decoded, _) = self.tokens.decode(&token)?;
        let expires_at = decoded.expires_at;
        Ok(TokenData {
            token,
            user,
            user_domain,
            methods: auth.methods,
            audit_ids,
            expires_at,
            issued_at,
            scope: resolved,
            roles,
            app_cred: auth.app_cred,
        })
    }

    /// Validates `token`: 404 if it is malformed, expired, revoked or its user, scope or
    /// roles are gone (Keystone's answer for `GET /v3/auth/tokens`).
    pub async fn validate_token(
        &self,
        token: &str,
        allow_expired: bool,
    ) -> Result<TokenData, Error> {
        self.tokens.refresh();
        let gen = self.generation();
        let ttl = Duration::from_secs(self.cfg.token_cache_seconds);
        if let Some((g, at, data)) = self.tokens.cache.lock().get(token) {
            if *g == gen && at.elapsed() < ttl && data.expires_at > Utc::now() {
                return Ok(data.clone());
            }
        }
        let not_found = || Error::not_found(format!("Could not find token: {}.", short(token)));
        let (payload, issued_at) = self.tokens.decode(token)?;
        let expires_at = payload.expires_at;
        if expires_at <= Utc::now() && !allow_expired {
            return Err(not_found());
        }
        let user = self
            .store
            .user_get(&payload.user_id)
            .await?
            .ok_or_else(not_found)?;
        let user_domain = self
            .store
            .domain_get(&user.domain_id)
            .await?
            .ok_or_else(not_found)?;
        if !user.enabled || !user_domain.enabled {
            return Err(not_found());
        }
        let mut app_cred = None;
        let (scope, roles) = match &payload.scope {
            TokenScope::Unscoped => (Scope::Unscoped, vec![]),
            TokenScope::Project(pid)
            | TokenScope::ApplicationCredential {
                project_id: pid, ..
            } => {
                let project = self.store.project_get(pid).await?.ok_or_else(not_found)?;
                let domain = self
                    .store
                    .domain_get(&project.domain_id)
                    .await?
                    .ok_or_else(not_found)?;
                if !project.enabled || !domain.enabled {
                    return Err(not_found());
                }
                let mut roles = self
                    .effective_roles(&user.id, &Target::Project, pid)
                    .await?;
                if let TokenScope::ApplicationCredential { app_cred_id, .. } = &payload.scope {
                    let ac = self
                        .store
                        .app_cred_get(app_cred_id)
                        .await?
                        .ok_or_else(not_found)?;
                    let granted: HashSet<String> = roles.iter().map(|r| r.id.clone()).collect();
                    if !ac.roles.iter().all(|r| granted.contains(r)) {
                        return Err(not_found());
                    }
                    roles = self
                        .expand_roles(ac.roles.iter().cloned().collect())
                        .await?;
                    app_cred = Some(ac);
                }
                (Scope::Project { project, domain }, roles)
            }
            TokenScope::Domain(did) => {
                let domain = self.store.domain_get(did).await?.ok_or_else(not_found)?;
                if !domain.enabled {
                    return Err(not_found());
                }
                (
                    Scope::Domain(domain),
                    self.effective_roles(&user.id, &Target::Domain, did).await?,
                )
            }
            TokenScope::System(_) => (
                Scope::System,
                self.effective_roles(&user.id, &Target::System, "all")
                    .await?,
            ),
            // Trusts are not implemented: a trust token from an upstream Keystone sharing
            // the key repository is refused.
            TokenScope::Trust { .. } => return Err(not_found()),
        };
        if !matches!(scope, Scope::Unscoped) && roles.is_empty() {
            return Err(not_found());
        }
        let data = TokenData {
            token: token.to_string(),
            user,
            user_domain,
            methods: payload.methods,
            audit_ids: payload.audit_ids,
            expires_at,
            issued_at,
            scope,
            roles,
            app_cred,
        };
        if self.is_revoked(&data).await? {
            return Err(not_found());
        }
        let mut cache = self.tokens.cache.lock();
        if cache.len() > 10_000 {
            cache.retain(|_, (g, _, _)| *g == gen);
            if cache.len() > 10_000 {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), (gen, Instant::now(), data.clone()));
        Ok(data)
    }

    async fn is_revoked(&self, t: &TokenData) -> Result<bool, Error> {
        let issued = t.issued_at.timestamp();
        let (project_id, project_domain) = match &t.scope {
            Scope::Project { project, .. } => {
                (Some(project.id.as_str()), Some(project.domain_id.as_str()))
            }
            _ => (None, None),
        };
        let scope_domain = match &t.scope {
            Scope::Domain(d) => Some(d.id.as_str()),
            _ => None,
        };
        let snap = self.snapshot().await?;
        for e in &snap.revocations {
            let before = rustack_common::time::parse_iso(&e.issued_before)
                .map(|d| d.timestamp())
                .unwrap_or(i64::MAX);
            if issued > before {
                continue;
            }
            if e.user_id.as_deref().is_some_and(|u| u != t.user.id) {
                continue;
            }
            if e.project_id
                .as_deref()
                .is_some_and(|p| Some(p) != project_id)
            {
                continue;
            }
            if let Some(d) = e.domain_id.as_deref() {
                let hit =
                    Some(d) == scope_domain || Some(d) == project_domain || d == t.user.domain_id;
                if !hit {
                    continue;
                }
            }
            if e.audit_id
                .as_deref()
                .is_some_and(|a| !t.audit_ids.iter().any(|x| x == a))
            {
                continue;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Records a revocation event and drops cached validations.
    pub async fn revoke(
        &self,
        user_id: Option<&str>,
        project_id: Option<&str>,
        domain_id: Option<&str>,
        audit_id: Option<&str>,
    ) -> Result<(), Error> {
        let now = Utc::now();
        self.store
            .revocation_add(&RevocationEvent {
                id: rustack_common::new_hex_id(),
                user_id: user_id.map(String::from),
                project_id: project_id.map(String::from),
                domain_id: domain_id.map(String::from),
                audit_id: audit_id.map(String::from),
                issued_before: isotime_micro(now),
                revoked_at: isotime_micro(now),
            })
            .await?;
        // Events older than the token lifetime match nothing that still validates.
        let cutoff = now - chrono::Duration::seconds(self.cfg.token_expiration as i64 + 3600);
        self.store.revocation_prune(&isotime_micro(cutoff)).await?;
        self.bump();
        Ok(())
    }

    /// The roles a user effectively has on a target: direct and via groups, inherited
    /// from the project's domain and parent projects, with implied roles expanded.
    pub async fn effective_roles(
        &self,
        user_id: &str,
        target: &Target,
        target_id: &str,
    ) -> Result<Vec<Role>, Error> {
        let groups = self.store.groups_of_user(user_id).await?;
        let assignments = self.store.assignments_of_actors(user_id, &groups).await?;
        let mut ids = BTreeSet::new();
        let (inherit_domain, ancestors) = if *target == Target::Project {
            let mut ancestors = vec![];
            let project = self.store.project_get(target_id).await?;
            let domain = project.as_ref().map(|p| p.domain_id.clone());
            let mut parent = project.and_then(|p| p.parent_id);
            let mut guard = 0;
            while let Some(pid) = parent {
                guard += 1;
                if guard > 64 {
                    break;
                }
                ancestors.push(pid.clone());
                parent = self
                    .store
                    .project_get(&pid)
                    .await?
                    .and_then(|p| p.parent_id);
            }
            (domain, ancestors)
        } else {
            (None, vec![])
        };
        for a in &assignments {
            let direct = a.target == *target && a.target_id == target_id && !a.inherited;
            let inherited = a.inherited
                && ((a.target == Target::Domain
                    && inherit_domain.as_deref() == Some(a.target_id.as_str()))
                    || (a.target == Target::Project && ancestors.contains(&a.target_id)));
            if direct || inherited {
                ids.insert(a.role_id.clone());
            }
        }
        self.expand_roles(ids).await
    }

    /// Expands role ids with every role they imply (transitively), as role rows.
    pub async fn expand_roles(&self, ids: BTreeSet<String>) -> Result<Vec<Role>, Error> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let snap = self.snapshot().await?;
        let implied = &snap.implied;
        let mut all = ids.clone();
        let mut frontier: Vec<String> = ids.into_iter().collect();
        while let Some(r) = frontier.pop() {
            for (p, i) in implied.iter() {
                if *p == r && all.insert(i.clone()) {
                    frontier.push(i.clone());
                }
            }
        }
        // Domain-specific roles only ever act through the global roles they imply: they
        // never appear in a token (as in Keystone).
        Ok(snap
            .roles
            .iter()
            .filter(|r| all.contains(&r.id) && r.domain_id.is_none())
            .cloned()
            .collect())
    }

    /// The catalog for a token (endpoint URL templates filled in for project scope;
    /// templated endpoints left out otherwise, as Keystone does).
    pub async fn catalog(&self, data: &TokenData) -> Result<Value, Error> {
        let snap = self.snapshot().await?;
        let (services, endpoints) = (&snap.services, &snap.endpoints);
        let project_id = data.project_id();
        // OS-EP-FILTER: a project with endpoint associations sees only those endpoints
        // (and only the services left with one); without any it sees them all.
        let only: Option<std::collections::HashSet<String>> = project_id
            .map(|p| {
                crate::store::ep_filter::project_endpoint_ids(
                    p,
                    endpoints,
                    &snap.project_endpoints,
                    &snap.endpoint_groups,
                    &snap.project_endpoint_groups,
                )
            })
            .filter(|ids| !ids.is_empty());
        let mut out = vec![];
        for sv in services.iter().filter(|s| s.enabled) {
            let mut eps = vec![];
            for e in endpoints.iter().filter(|e| {
                e.enabled
                    && e.service_id == sv.id
                    && only.as_ref().is_none_or(|ids| ids.contains(&e.id))
            }) {
                let Some(url) = fill_url(&e.url, project_id) else {
                    continue;
                };
                eps.push(json!({
                    "id": e.id,
                    "interface": e.interface,
                    "region": e.region_id,
                    "region_id": e.region_id,
                    "url": url,
                }));
            }
            if only.is_some() && eps.is_empty() {
                continue;
            }
            out.push(json!({
                "endpoints": eps,
                "id": sv.id,
                "type": sv.service_type,
                "name": sv.extra.get("name").cloned().unwrap_or(json!("")),
            }));
        }
        Ok(Value::Array(out))
    }
}

/// The small, hot tables every validation reads, loaded once per write generation.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub roles: Vec<Role>,
    pub implied: Vec<(String, String)>,
    pub revocations: Vec<RevocationEvent>,
    pub services: Vec<crate::store::catalog::Service>,
    pub endpoints: Vec<crate::store::catalog::Endpoint>,
    /// OS-EP-FILTER `(endpoint_id, project_id)` associations.
    pub project_endpoints: Vec<(String, String)>,
    /// OS-EP-FILTER endpoint groups.
    pub endpoint_groups: Vec<crate::store::ep_filter::EndpointGroup>,
    /// OS-EP-FILTER `(endpoint_group_id, project_id)` associations.
    pub project_endpoint_groups: Vec<(String, String)>,
}

impl Identity {
    /// The current [`Snapshot`], reloaded after any identity write.
    pub async fn snapshot(&self) -> Result<std::sync::Arc<Snapshot>, Error> {
        let gen = self.generation();
        if let Some((g, snap)) = self.tokens.snapshot.lock().as_ref() {
            if *g == gen {
                return Ok(snap.clone());
            }
        }
        let snap = std::sync::Arc::new(Snapshot {
            roles: self.store.role_list().await?,
            implied: self.store.implied_role_list().await?,
            revocations: self.store.revocation_list().await?,
            services: self.store.service_list().await?,
            endpoints: self.store.endpoint_list().await?,
            project_endpoints: self.store.project_endpoint_list().await?,
            endpoint_groups: self.store.endpoint_group_list().await?,
            project_endpoint_groups: self.store.project_endpoint_group_list().await?,
        });
        *self.tokens.snapshot.lock() = Some((gen, snap.clone()));
        Ok(snap)
    }
}

/// Fills `$(project_id)s`/`$(tenant_id)s` (and `%(...)s`) in an endpoint URL.
pub fn fill_url(url: &str, project_id: Option<&str>) -> Option<String> {
    let mut out = url.to_string();
    for key in ["project_id", "tenant_id"] {
        for pat in [format!("$({key})s"), format!("%({key})s")] {
            if out.contains(&pat) {
                out = out.replace(&pat, project_id?);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_templates() {
        assert_eq!(
            fill_url("http://h/v1/AUTH_$(project_id)s", Some("p")),
            Some("http://h/v1/AUTH_p".into())
        );
        assert_eq!(
            fill_url("http://h/v3/%(tenant_id)s", Some("p")),
            Some("http://h/v3/p".into())
        );
        assert_eq!(fill_url("http://h/v1/AUTH_$(project_id)s", None), None);
        assert_eq!(
            fill_url("http://h:5000", None),
            Some("http://h:5000".into())
        );
    }
}
