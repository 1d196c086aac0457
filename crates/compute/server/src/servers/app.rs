//! The servers app layer: policy, validation against the store and other services,
//! state transitions, and the conversion of rows into `ServerView`s. Slow work is
//! handed to `build` as tasks.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustack_api_common::AuthContext;
use rustack_common::Error;
use rustack_compute_api::server::request::{canonical_uuid, is_uuid_like};
use rustack_compute_api::server::state::{self, Action, TaskState, VmState};
use rustack_compute_api::server::view::{Address, FlavorInfo, ServerView};
use rustack_compute_api::server::{Networks, Rebuild, ServerCreate, ServerUpdate};
use serde_json::{json, Value};
use sha2::Digest as _;

use super::store::{self, ActionRecord, FaultRecord, FlavorSnapshot, Instance};
use super::Servers;
use crate::error::instance_not_found;

/// Who calls, at which microversion, with which request id.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's context.
    pub auth: AuthContext,
    /// 2.minor.
    pub minor: u32,
    /// `req-...`.
    pub request_id: String,
    /// The caller's token (volume work; never logged).
    pub token: crate::api::UserToken,
}

/// Nova's timestamp format in server bodies (`2026-01-01T00:00:00Z`).
pub fn api_time(db: &str) -> String {
    let base = db.split('.').next().unwrap_or(db);
    format!("{}Z", base.trim_end_matches('Z'))
}

pub(crate) fn now() -> String {
    crate::store::now()
}

fn target(i: &Instance) -> Value {
    json!({"project_id": i.project_id, "user_id": i.user_id})
}

/// `hostId`: sha224 of project id + host (empty without a host), as Nova.
pub fn host_id(project_id: &str, host: Option<&str>) -> String {
    match host {
        Some(h) if !h.is_empty() => {
            hex::encode(sha2::Sha224::digest(format!("{project_id}{h}").as_bytes()))
        }
        _ => String::new(),
    }
}

pub(crate) fn random_password(len: usize) -> String {
    use rand::Rng as _;
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut r = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[r.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// The result of a create.
#[derive(Clone, Debug)]
pub struct Created {
    /// The servers (first is the one answered).
    pub servers: Vec<Instance>,
    /// The admin password.
    pub admin_pass: String,
    /// The reservation id.
    pub reservation_id: String,
    /// Answer with the reservation id only.
    pub return_reservation_id: bool,
}

/// The last `length` `\n`-separated pieces of a console log, as Nova's compute
/// manager cuts it (`_tail_log`: a log ending in a newline counts the empty piece
/// after it, so `length = 3` gives two full lines and the newline).
pub fn nova_tail(log: &str, length: Option<usize>) -> String {
    let Some(n) = length else {
        return log.to_string();
    };
    let pieces: Vec<&str> = log.split('\n').collect();
    pieces[pieces.len().saturating_sub(n)..].join("\n")
}

/// What an action answered.
#[derive(Debug)]
pub enum ActionOutcome {
    /// 202, no body.
    Accepted,
    /// 200 `{"output": ...}`.
    Console(String),
    /// 202 with the server body (rebuild) and the new admin password.
    Rebuilt(Box<Instance>, String),
    /// 202 with `Location` of the new image.
    Image(String),
    /// 200 `{"adminPass": ...}` (rescue).
    Rescued(String),
}

fn vm(i: &Instance) -> VmState {
    VmState::parse(&i.vm_state).unwrap_or(VmState::Error)
}

fn task(i: &Instance) -> Option<TaskState> {
    i.task_state.as_deref().and_then(TaskState::parse)
}

/// Nova's status filter values at and after 2.38 must be known.
const FILTER_KEYS: &[&str] = &[
    "name",
    "status",
    "image",
    "flavor",
    "changes-since",
    "changes-before",
    "limit",
    "marker",
    "host",
    "node",
    "all_tenants",
    "project_id",
    "tenant_id",
    "user_id",
    "sort_key",
    "sort_dir",
    "deleted",
    "ip",
    "ip6",
    "reservation_id",
    "availability_zone",
    "key_name",
    "locked",
    "description",
    "vm_state",
    "task_state",
    "power_state",
    "access_ip_v4",
    "access_ip_v6",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "config_drive",
    "created_at",
    "launched_at",
    "terminated_at",
    "uuid",
    "hostname",
    "launch_index",
    "progress",
    "kernel_id",
    "ramdisk_id",
    "root_device_name",
    "image_ref",
    "flavor_ref",
    "display_name",
    "display_description",
    "pinned_availability_zone",
];

fn parse_time(field: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    let bad = || {
        Error::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {s}. '{s}' is not a 'date-time'"
        ))
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(bad);
    }
    Err(bad())
}

fn db_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A tiny regex subset as Nova's name filter uses it (`re.search`): `.` any char,
/// `[a-z0-9]`/`[^...]` classes, `*`/`+`/`?` on the previous item, `^`/`$` anchors, `\`
/// escapes; other characters literal.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    #[derive(Clone)]
    enum Tok {
        Any,
        Lit(char),
        /// Ranges (a single char is `(c, c)`), negated.
        Class(Vec<(char, char)>, bool),
    }
    let mut toks: Vec<(Tok, bool)> = Vec::new();
    let mut anchored_start = false;
    let mut anchored_end = false;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '^' && i == 0 {
            anchored_start = true;
        } else if c == '$' && i == chars.len() - 1 {
            anchored_end = true;
        } else if c == '*' || c == '+' || c == '?' {
            if let Some(last) = toks.last_mut() {
                last.1 = true;
                if c == '+' {
                    let t = last.0.clone();
                    toks.insert(toks.len() - 1, (t, false));
                }
            }
        } else if c == '\\' && i + 1 < chars.len() {
            i += 1;
            toks.push((Tok::Lit(chars[i]), false));
        } else if c == '.' {
            toks.push((Tok::Any, false));
        } else if c == '[' && chars[i + 1..].contains(&']') {
            i += 1;
            let negated = chars.get(i) == Some(&'^');
            if negated {
                i += 1;
            }
            let mut ranges = Vec::new();
            let mut first = true;
            while i < chars.len() && (chars[i] != ']' || first) {
                let mut lo = chars[i];
                if lo == '\\' && i + 1 < chars.len() {
                    i += 1;
                    lo = chars[i];
                }
                if i + 2 < chars.len() && chars[i + 1] == '-' && chars[i + 2] != ']' {
                    ranges.push((lo, chars[i + 2]));
                    i += 3;
                } else {
                    ranges.push((lo, lo));
                    i += 1;
                }
                first = false;
            }
            toks.push((Tok::Class(ranges, negated), false));
        } else {
            toks.push((Tok::Lit(c), false));
        }
        i += 1;
    }
    fn m(toks: &[(Tok, bool)], s: &[char], end: bool) -> bool {
        match toks.split_first() {
            None => !end || s.is_empty(),
            Some(((t, star), rest)) => {
                let ok = |c: char| match t {
                    Tok::Any => true,
                    Tok::Lit(l) => *l == c,
                    Tok::Class(r, neg) => r.iter().any(|(a, b)| (*a..=*b).contains(&c)) != *neg,
                };
                if *star {
                    if m(rest, s, end) {
                        return true;
                    }
                    let mut k = 0;
                    while k < s.len() && ok(s[k]) {
                        k += 1;
                        if m(rest, &s[k..], end) {
                            return true;
                        }
                    }
                    false
                } else {
                    !s.is_empty() && ok(s[0]) && m(rest, &s[1..], end)
                }
            }
        }
    }
    let s: Vec<char> = name.chars().collect();
    if anchored_start {
        return m(&toks, &s, anchored_end);
    }
    (0..=s.len()).any(|k| m(&toks, &s[k..], anchored_end))
}

impl Servers {
    fn authorize(&self, c: &Caller, rule: &str, t: &Value) -> Result<(), Error> {
        self.compute.authorize(&c.auth, rule, t)
    }

    /// The server `uuid` if the caller may see it (404 otherwise, as Nova's
    /// project-scoped lookup), after checking `rule` on it.
    pub async fn get_for(&self, c: &Caller, uuid: &str, rule: &str) -> Result<Instance, Error> {
        self.get_visible(c, uuid, rule, false).await
    }

    /// [`Servers::get_for`] for `os-instance-actions`: from 2.21 deleted servers too.
    async fn get_for_actions(&self, c: &Caller, uuid: &str, rule: &str) -> Result<Instance, Error> {
        self.get_visible(c, uuid, rule, c.minor >= 21).await
    }

    async fn get_visible(
        &self,
        c: &Caller,
        uuid: &str,
        rule: &str,
        with_deleted: bool,
    ) -> Result<Instance, Error> {
        if !is_uuid_like(uuid) {
            return Err(instance_not_found(uuid));
        }
        let uuid = canonical_uuid(uuid);
        let mut conn = self.compute.conn().await?;
        let i = store::get_instance(&mut conn, &uuid, with_deleted)
            .await?
            .ok_or_else(|| instance_not_found(&uuid))?;
        let admin = self.compute.is_admin(&c.auth);
        if !admin && c.auth.project_id.as_deref() != Some(i.project_id.as_str()) {
            return Err(instance_not_found(&uuid));
        }
        self.authorize(c, rule, &target(&i))?;
        Ok(i)
    }

    /// Reads the current row (after a write elsewhere).
    pub(crate) async fn reload(&self, uuid: &str) -> Result<Option<Instance>, Error> {
        let mut conn = self.compute.conn().await?;
        store::get_instance(&mut conn, uuid, true).await
    }

    /// Applies `f` to the current row and writes it, retrying lost optimistic races.
    pub(crate) async fn modify(
        &self,
        uuid: &str,
        f: impl Fn(&mut Instance) -> Result<(), Error>,
    ) -> Result<Instance, Error> {
        for _ in 0..20 {
            let mut conn = self.compute.conn().await?;
            let mut i = store::get_instance(&mut conn, uuid, true)
                .await?
                .ok_or_else(|| instance_not_found(uuid))?;
            f(&mut i)?;
            i.updated_at = now();
            if let Some(n) = store::update_instance(&mut conn, &i).await? {
                return Ok(n);
            }
        }
        Err(Error::conflict(format!(
            "Instance {uuid} is being updated concurrently; try again."
        )))
    }

    /// Records an instance action; returns its id.
    pub(crate) async fn record_action(
        &self,
        c: &Caller,
        i: &Instance,
        action: &str,
    ) -> Result<i64, Error> {
        let mut conn = self.compute.conn().await?;
        store::insert_action(
            &mut conn,
            &ActionRecord {
                id: 0,
                instance_uuid: i.uuid.clone(),
                action: action.into(),
                request_id: c.request_id.clone(),
                user_id: c.auth.user_id.clone(),
                project_id: c.auth.project_id.clone().unwrap_or_default(),
                start_time: now(),
                finish_time: None,
                message: None,
                events: vec![],
            },
        )
        .await
    }

    /// Quota limit of `resource` for a project (override, class default, config).
    async fn quota(&self, project_id: &str, resource: &str, default: i64) -> Result<i64, Error> {
        let mut conn = self.compute.conn().await?;
        if let Some(v) = store::core::quota_limit(&mut conn, project_id, "", resource).await? {
            return Ok(v);
        }
        Ok(store::core::quota_class(&mut conn, resource)
            .await?
            .unwrap_or(default))
    }

    /// 2.74 `host`/`hypervisor_hostname` of a create, checked as Nova does before
    /// scheduling: not combined with `zone:host:node`, and naming a known compute
    /// host / node (400 `Compute host ... could not be found.` otherwise).
    async fn check_requested_destination(&self, req: &ServerCreate) -> Result<(), Error> {
        if req
            .availability_zone
            .as_deref()
            .is_some_and(|z| z.contains(':'))
        {
            return Err(Error::bad_request(
                "One mechanism with host and/or hypervisor_hostname and another mechanism \
                 with zone:host:node are mutually exclusive.",
            ));
        }
        let mut conn = self.compute.conn().await?;
        let nodes = store::core::nodes(&mut conn).await?;
        let not_found =
            |h: &str| Error::bad_request(format!("Compute host {h} could not be found."));
        match (req.host.as_deref(), req.hypervisor_hostname.as_deref()) {
            (Some(h), node) => {
                if !nodes.iter().any(|n| n.host == h) {
                    return Err(not_found(h));
                }
                if let Some(nd) = node {
                    if !nodes.iter().any(|n| n.host == h && n.node == nd) {
                        return Err(not_found(h));
                    }
                }
            }
            (None, Some(nd)) => {
                if !nodes.iter().any(|n| n.node == nd) {
                    return Err(not_found(nd));
                }
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// `POST /servers`.
    pub async fn create(self: &Arc<Self>, c: &Caller, req: ServerCreate) -> Result<Created, Error> {
        let project_id = c.auth.project_id.clone().ok_or_else(|| {
            Error::forbidden("Servers can only be created with a project-scoped token.")
        })?;
        let mut t = json!({"project_id": project_id, "user_id": c.auth.user_id});
        if let Some(az) = &req.availability_zone {
            t["availability_zone"] = json!(az);
        }
        self.authorize(c, "os_compute_api:servers:create", &t)?;
        // Forced host (`zone:host[:node]` or 2.74 host/node) is admin only.
        let (mut az, mut forced_host, mut forced_node) = (
            req.availability_zone.clone(),
            req.host.clone(),
            req.hypervisor_hostname.clone(),
        );
        if let Some(z) = &req.availability_zone {
            let parts: Vec<&str> = z.splitn(3, ':').collect();
            if parts.len() > 1 {
                az = (!parts[0].is_empty()).then(|| parts[0].to_string());
                forced_host = (!parts[1].is_empty())
                    .then(|| parts[1].to_string())
                    .or(forced_host);
                if parts.len() == 3 && !parts[2].is_empty() {
                    forced_node = Some(parts[2].to_string());
                }
                self.authorize(c, "os_compute_api:servers:create:forced_host", &t)?;
            }
        }
        if req.trusted_certs.is_some() {
            // Nova checks the policy only when certificates are given; a server booted
            // from a volume has no image to verify.
            self.authorize(c, "os_compute_api:servers:create:trusted_certs", &t)?;
            if req.image_ref.is_none() {
                return Err(Error::bad_request(
                    "Image certificate validation is not supported when booting from volume",
                ));
            }
        }
        if req.host.is_some() || req.hypervisor_hostname.is_some() {
            self.authorize(c, "compute:servers:create:requested_destination", &t)
                .or_else(|_| self.authorize(c, "os_compute_api:servers:create:forced_host", &t))?;
            self.check_requested_destination(&req).await?;
        }
        if let Some(z) = &az {
            let mut conn = self.compute.conn().await?;
            let zones = store::core::zones(&mut conn).await?;
            if z != &self.compute.config().default_availability_zone && !zones.contains(z) {
                return Err(Error::bad_request(
                    "The requested availability zone is not available".to_string(),
                ));
            }
        }
        // Flavor.
        let flavor = match self.compute.flavor_get(&req.flavor_ref).await {
            Ok(f) => f,
            Err(Error::NotFound { .. }) => {
                return Err(Error::bad_request("Invalid flavorRef provided."))
            }
            Err(e) => return Err(e),
        };
        if flavor.disabled || !self.compute.flavor_usable_by(&flavor, &project_id).await? {
            return Err(Error::bad_request("Invalid flavorRef provided."));
        }
        let extra_specs = self
            .compute
            .flavor_extra_specs_get(&flavor.flavorid)
            .await?;
        let snapshot = FlavorSnapshot {
            flavorid: flavor.flavorid.clone(),
            name: flavor.name.clone(),
            vcpus: flavor.vcpus,
            memory_mb: flavor.memory_mb,
            root_gb: flavor.root_gb,
            ephemeral_gb: flavor.ephemeral_gb,
            swap: flavor.swap,
            extra_specs,
        };
        // Volumes (validated with the caller's token), then the image: a server whose
        // boot index 0 is a volume is volume-backed and has no image (`image: ""`).
        let block_devices = self.validate_block_devices(c, &req.block_devices).await?;
        let volume_backed = block_devices.iter().any(|b| b.boot_index == Some(0));
        // Image (visible to the caller's project: the service token sees all, so check
        // ownership/visibility from the document).
        let token = self.service_token().await?;
        let image = match req.image_ref.clone().filter(|_| !volume_backed) {
            None => None,
            Some(image_id) => {
                let image = self
                    .glance
                    .show(&token, &image_id)
                    .await?
                    .filter(|img| {
                        let vis = img.doc["visibility"].as_str().unwrap_or("");
                        vis == "public"
                            || vis == "community"
                            || vis == "shared"
                            || img.doc["owner"].as_str() == Some(project_id.as_str())
                            || self.compute.is_admin(&c.auth)
                    })
                    .ok_or_else(|| {
                        Error::bad_request(format!("Image {image_id} could not be found."))
                    })?;
                if image.status != "active" {
                    return Err(Error::bad_request(format!(
                        "Image {image_id} is not active."
                    )));
                }
                if image.min_ram > flavor.memory_mb as u64 {
                    return Err(Error::bad_request(
                        "Flavor's memory is too small for requested image.",
                    ));
                }
                if flavor.root_gb > 0 && image.min_disk > flavor.root_gb as u64 {
                    return Err(Error::bad_request(
                        "Flavor's disk is too small for requested image.",
                    ));
                }
                if flavor.root_gb > 0 {
                    if let Some(size) = image.size {
                        if size > (flavor.root_gb as u64) << 30 {
                            return Err(Error::bad_request(
                                "Flavor's disk is too small for requested image.",
                            ));
                        }
                    }
                }
                Some(image)
            }
        };
        // Key pair.
        let key_data = match &req.key_name {
            None => None,
            Some(k) => {
                let mut conn = self.compute.conn().await?;
                Some(
                    store::core::keypair(&mut conn, &c.auth.user_id, k)
                        .await?
                        .ok_or_else(|| {
                            Error::bad_request("Invalid key_name provided.".to_string())
                        })?,
                )
            }
        };
        // Metadata quota.
        let md_limit = self
            .quota(
                &project_id,
                "metadata_items",
                self.compute.config().quota.metadata_items,
            )
            .await?;
        if md_limit >= 0 && req.metadata.len() as i64 > md_limit {
            return Err(Error::forbidden(format!(
                "Quota exceeded for metadata_items: Requested {}, but already used 0 of {md_limit} metadata_items"
            , req.metadata.len())));
        }
        // Networks: validate now (400/409 before 202), create ports during the build.
        let requested = self
            .validate_networks(&token, &project_id, &req.networks)
            .await?;
        // Security groups must exist in the project.
        for sg in &req.security_groups {
            if self
                .network
                .find_security_group(&token, &project_id, sg)
                .await?
                .is_none()
            {
                return Err(Error::bad_request(format!(
                    "Security group {sg} not found for project {project_id}."
                )));
            }
        }
        // Server group.
        if let Some(g) = &req.group {
            let mut conn = self.compute.conn().await?;
            match store::core::group(&mut conn, g).await? {
                Some((owner, _)) if owner == project_id || self.compute.is_admin(&c.auth) => {}
                _ => return Err(Error::bad_request(format!("Invalid server group {g}"))),
            }
        }
        // Quotas: instances, cores, ram (403 as Nova on create).
        let usage = self.usage_of(&project_id, None).await?;
        let q = &self.compute.config().quota;
        let limits = [
            (
                "instances",
                self.quota(&project_id, "instances", q.instances).await?,
                usage.0,
                1,
            ),
            (
                "cores",
                self.quota(&project_id, "cores", q.cores).await?,
                usage.1,
                flavor.vcpus,
            ),
            (
                "ram",
                self.quota(&project_id, "ram", q.ram).await?,
                usage.2,
                flavor.memory_mb,
            ),
        ];
        let mut count = req.max_count as i64;
        for (_, limit, used, per) in &limits {
            if *limit >= 0 && *per > 0 {
                count = count.min((limit - used) / per);
            }
        }
        if count < req.min_count as i64 {
            let over: Vec<&str> = limits
                .iter()
                .filter(|(_, limit, used, per)| {
                    *limit >= 0 && used + per * req.min_count as i64 > *limit
                })
                .map(|(n, ..)| *n)
                .collect();
            let (name, limit, used, per) = limits
                .iter()
                .find(|(n, ..)| over.first() == Some(n))
                .copied()
                .unwrap_or(limits[0]);
            return Err(Error::forbidden(format!(
                "Quota exceeded for {}: Requested {}, but already used {used} of {limit} {name}",
                over.join(", "),
                per * req.min_count as i64
            )));
        }
        let count = count.max(1) as u32;
        if count > 1 && block_devices.iter().any(|b| b.source_type == "volume") {
            return Err(Error::bad_request(
                "Cannot attach one or more volumes to multiple instances",
            ));
        }
        let admin_pass = req
            .admin_pass
            .clone()
            .unwrap_or_else(|| random_password(12));
        let reservation_id = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut servers = Vec::new();
        let requested_json =
            serde_json::to_value(&requested).map_err(|e| Error::internal(e.to_string()))?;
        let mut hints = serde_json::Map::new();
        if let Some(g) = &req.group {
            hints.insert("group".into(), json!(g));
        }
        if !req.different_host.is_empty() {
            hints.insert("different_host".into(), json!(req.different_host));
        }
        if !req.same_host.is_empty() {
            hints.insert("same_host".into(), json!(req.same_host));
        }
        for index in 0..count {
            let uuid = uuid::Uuid::new_v4().to_string();
            let name = if count > 1 {
                format!("{}-{}", req.name, index + 1)
            } else {
                req.name.clone()
            };
            let hostname = req
                .hostname
                .clone()
                .unwrap_or_else(|| sanitize_hostname(&name));
            let ts = now();
            let inst = Instance {
                uuid: uuid.clone(),
                project_id: project_id.clone(),
                user_id: c.auth.user_id.clone(),
                name,
                description: req.description.clone(),
                vm_state: VmState::Building.as_str().into(),
                task_state: Some(TaskState::Scheduling.as_str().into()),
                power_state: state::POWER_NOSTATE,
                availability_zone: az.clone().unwrap_or_default(),
                requested_az: az.clone(),
                image_ref: image.as_ref().map(|img| img.id.clone()),
                flavor: snapshot.clone(),
                key_name: req.key_name.clone(),
                key_data: key_data.clone(),
                user_data: req.user_data.clone(),
                access_ipv4: req.access_ipv4.clone(),
                access_ipv6: req.access_ipv6.clone(),
                disk_config: req.disk_config.clone(),
                config_drive: req.config_drive,
                reservation_id: reservation_id.clone(),
                launch_index: index,
                hostname,
                security_groups: if req.security_groups.is_empty() {
                    vec!["default".into()]
                } else {
                    req.security_groups.clone()
                },
                requested_networks: requested_json.clone(),
                scheduler_hints: hints.clone(),
                group: req.group.clone(),
                tags: req.tags.clone(),
                trusted_certs: req.trusted_certs.clone(),
                created_at: ts.clone(),
                updated_at: ts,
                // Forced destination travels in the hints document.
                host: None,
                node: None,
                ..Default::default()
            };
            let mut inst = inst;
            if let Some(h) = &forced_host {
                inst.scheduler_hints.insert("_force_host".into(), json!(h));
            }
            if let Some(n) = &forced_node {
                inst.scheduler_hints.insert("_force_node".into(), json!(n));
            }
            let mut tx = self.compute.begin().await?;
            let inst = store::insert_instance(&mut tx, &inst).await?;
            store::set_metadata(&mut tx, &uuid, &req.metadata, true).await?;
            Servers::store_block_devices(&mut tx, &uuid, &block_devices).await?;
            if let Some(g) = &req.group {
                store::core::add_group_member(&mut tx, g, &uuid).await?;
            }
            tx.commit().await.map_err(rustack_db::db_internal)?;
            let action = self.record_action(c, &inst, "create").await?;
            servers.push((inst, action));
        }
        for (inst, action) in &servers {
            self.remember_user_token(&inst.uuid, &c.token.0);
            self.spawn_build(inst.uuid.clone(), *action, admin_pass.clone());
        }
        Ok(Created {
            servers: servers.into_iter().map(|(i, _)| i).collect(),
            admin_pass,
            reservation_id,
            return_reservation_id: req.return_reservation_id,
        })
    }

    /// Checks requested networks/ports exist and are usable by the project; returns the
    /// NIC requests for the build (`[]` for none).
    async fn validate_networks(
        &self,
        token: &str,
        project_id: &str,
        nets: &Networks,
    ) -> Result<Vec<super::build::NicRequest>, Error> {
        use super::build::NicRequest;
        let mut out = Vec::new();
        match nets {
            Networks::None => {}
            Networks::Default | Networks::Auto => {
                let avail = self.network.available_networks(token, project_id).await?;
                match avail.len() {
                    0 => {
                        if matches!(nets, Networks::Auto) {
                            return Err(Error::bad_request(
                                "Unable to automatically allocate a network for project: no network is available (auto-allocated topology is not supported).",
                            ));
                        }
                    }
                    1 => out.push(NicRequest {
                        network_id: Some(avail[0].id.clone()),
                        ..Default::default()
                    }),
                    _ => return Err(Error::conflict(
                        "Multiple possible networks found, use a Network ID to be more specific.",
                    )),
                }
            }
            Networks::List(list) => {
                for n in list {
                    if let Some(port_id) = &n.port_id {
                        let port = self
                            .network
                            .show_port(token, port_id)
                            .await?
                            .filter(|p| p.project_id == project_id)
                            .ok_or_else(|| {
                                Error::not_found(format!("Port id {port_id} could not be found."))
                            })?;
                        if !port.device_id.is_empty() {
                            return Err(Error::conflict(format!(
                                "Port {port_id} is still in use."
                            )));
                        }
                        out.push(NicRequest {
                            port_id: Some(port_id.clone()),
                            network_id: Some(port.network_id),
                            tag: n.tag.clone(),
                            ..Default::default()
                        });
                    } else if let Some(net_id) = &n.network_id {
                        let net = self
                            .network
                            .show_network(token, net_id)
                            .await?
                            .filter(|x| x.project_id == project_id || x.shared)
                            .ok_or_else(|| {
                                Error::bad_request(format!("Network {net_id} could not be found."))
                            })?;
                        if net.subnets.is_empty() {
                            return Err(Error::bad_request(format!(
                                "Network {net_id} requires a subnet in order to boot instances on."
                            )));
                        }
                        out.push(NicRequest {
                            network_id: Some(net.id),
                            fixed_ip: n.fixed_ip.map(|ip| ip.to_string()),
                            tag: n.tag.clone(),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// (instances, cores, ram) of a project (or user).
    pub async fn usage_of(
        &self,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<(i64, i64, i64), Error> {
        let mut conn = self.compute.conn().await?;
        store::usage(&mut conn, project_id, user_id).await
    }

    /// The body data of a server.
    pub async fn view(&self, i: &Instance) -> Result<ServerView, Error> {
        let mut conn = self.compute.conn().await?;
        let metadata = store::get_metadata(&mut conn, &i.uuid).await?;
        let groups = store::core::groups_of(&mut conn, &i.uuid).await?;
        drop(conn);
        let mut v = self.view_with(i, metadata, groups);
        v.volumes = self.volume_refs(&i.uuid).await?;
        Ok(v)
    }

    pub(crate) fn view_with(
        &self,
        i: &Instance,
        metadata: BTreeMap<String, String>,
        server_groups: Vec<String>,
    ) -> ServerView {
        let mut addresses: Vec<(String, Vec<Address>)> = Vec::new();
        for nic in &i.nics {
            let items: Vec<Address> = nic
                .ips
                .iter()
                .map(|ip| Address {
                    version: if ip.contains(':') { 6 } else { 4 },
                    addr: ip.clone(),
                    kind: "fixed",
                    mac: nic.mac.clone(),
                })
                .collect();
            match addresses.iter_mut().find(|(l, _)| *l == nic.network_name) {
                Some((_, v)) => v.extend(items),
                None => addresses.push((nic.network_name.clone(), items)),
            }
        }
        let fault = i
            .fault
            .as_ref()
            .map(|f| rustack_compute_api::server::view::Fault {
                code: f.code,
                message: f.message.clone(),
                details: (!f.details.is_empty()).then(|| f.details.clone()),
                created: api_time(&f.created),
            });
        ServerView {
            id: i.uuid.clone(),
            name: i.name.clone(),
            project_id: i.project_id.clone(),
            user_id: i.user_id.clone(),
            vm_state: VmState::parse(&i.vm_state),
            task_state: task(i),
            power_state: i.power_state,
            image_id: i.image_ref.clone(),
            image_properties: BTreeMap::new(),
            flavor: FlavorInfo {
                id: i.flavor.flavorid.clone(),
                name: i.flavor.name.clone(),
                vcpus: i.flavor.vcpus as u32,
                ram: i.flavor.memory_mb as u64,
                disk: i.flavor.root_gb as u64,
                ephemeral: i.flavor.ephemeral_gb as u64,
                swap: i.flavor.swap as u64,
                extra_specs: i.flavor.extra_specs.clone(),
            },
            metadata,
            addresses,
            host_id: host_id(&i.project_id, i.host.as_deref()),
            host: i.host.clone(),
            node: i.node.clone(),
            instance_name: format!("instance-{:08x}", i.internal_id),
            created: api_time(&i.created_at),
            updated: api_time(&i.updated_at),
            launched_at: i.launched_at.clone(),
            terminated_at: i.terminated_at.clone(),
            access_ipv4: i.access_ipv4.clone(),
            access_ipv6: i.access_ipv6.clone(),
            disk_config: i.disk_config.clone(),
            availability_zone: i.availability_zone.clone(),
            pinned_availability_zone: i.requested_az.clone(),
            config_drive: i.config_drive,
            key_name: i.key_name.clone(),
            security_groups: i.security_groups.clone(),
            volumes: vec![],
            progress: i.progress,
            fault,
            locked: i.locked,
            locked_reason: i.locked_reason.clone(),
            description: i.description.clone(),
            tags: i.tags.clone(),
            reservation_id: i.reservation_id.clone(),
            launch_index: i.launch_index,
            hostname: i.hostname.clone(),
            user_data: i.user_data.clone(),
            server_groups,
            scheduler_hints: i
                .scheduler_hints
                .iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            trusted_image_certificates: i.trusted_certs.clone(),
            host_status: if i.host.is_some() {
                "UP".into()
            } else {
                String::new()
            },
        }
    }

    /// `GET /servers[/detail]`: the page of servers matching the query, in order.
    pub async fn list(
        &self,
        c: &Caller,
        q: &[(String, String)],
        detail: bool,
    ) -> Result<Vec<Instance>, Error> {
        let rule = if detail {
            "os_compute_api:servers:detail"
        } else {
            "os_compute_api:servers:index"
        };
        let own = json!({"project_id": c.auth.project_id, "user_id": c.auth.user_id});
        self.authorize(c, rule, &own)?;
        let get = |k: &str| {
            q.iter()
                .rev()
                .find(|(kk, _)| kk == k)
                .map(|(_, v)| v.as_str())
        };
        let all_tenants_rule = if detail {
            "os_compute_api:servers:detail:get_all_tenants"
        } else {
            "os_compute_api:servers:index:get_all_tenants"
        };
        let admin_filters =
            self.compute
                .allowed(&c.auth, "os_compute_api:servers:allow_all_filters", &own);
        if c.minor >= 75 {
            for (k, _) in q {
                if !FILTER_KEYS.contains(&k.as_str()) {
                    return Err(Error::bad_request(format!(
                        "Additional properties are not allowed ('{k}' was unexpected)"
                    )));
                }
            }
        }
        let all_tenants = match get("all_tenants") {
            None => false,
            Some("") => true,
            Some(v) => crate::servers::api::strict_bool(v).ok_or_else(|| {
                Error::bad_request(format!(
                    "Invalid input for field/attribute all_tenants. Value: {v}."
                ))
            })?,
        };
        // Nova checks the rule only when `all_tenants` is asked for, and refuses (403)
        // rather than falling back to the caller's own servers.
        if all_tenants {
            self.authorize(c, all_tenants_rule, &own)?;
        }
        let project_filter = if all_tenants {
            get("project_id").or(get("tenant_id")).map(String::from)
        } else {
            Some(c.auth.project_id.clone().unwrap_or_default())
        };
        // Validation of paging and time filters first (400s).
        let limit = match get("limit") {
            None => 1000usize,
            Some(s) => {
                let n: i64 = s
                    .parse()
                    .map_err(|_| Error::bad_request("limit param must be an integer"))?;
                if n < 0 {
                    return Err(Error::bad_request("limit param must be positive"));
                }
                // `limit=0` is an empty page, as Nova's database query answers.
                (n as usize).min(1000)
            }
        };
        let changes_since = get("changes-since")
            .map(|s| parse_time("changes-since", s))
            .transpose()?;
        let changes_before = get("changes-before")
            .map(|s| parse_time("changes-before", s))
            .transpose()?;
        if let (Some(a), Some(b)) = (changes_since, changes_before) {
            if a > b {
                return Err(Error::bad_request(
                    "The value of changes-since must be less than or equal to changes-before.",
                ));
            }
        }
        let deleted_req = match get("deleted") {
            Some(v) if admin_filters => crate::servers::api::strict_bool(v).unwrap_or(false),
            _ => false,
        };
        let statuses: Vec<String> = q
            .iter()
            .filter(|(k, _)| k == "status")
            .map(|(_, v)| v.clone())
            .collect();
        if c.minor >= 38 {
            for s in &statuses {
                if !state::known_status(s) {
                    return Err(Error::bad_request("Invalid status value".to_string()));
                }
            }
        }
        let with_deleted = deleted_req || changes_since.is_some() || changes_before.is_some();
        let host = get("host").filter(|_| admin_filters);
        let mut conn = self.compute.conn().await?;
        let mut all =
            store::list_instances(&mut conn, project_filter.as_deref(), host, with_deleted).await?;
        drop(conn);
        let name = get("name");
        let image = get("image").map(|s| s.rsplit('/').next().unwrap_or(s).to_string());
        let flavor = get("flavor").map(|s| s.rsplit('/').next().unwrap_or(s).to_string());
        let status_pairs: Vec<(VmState, Option<TaskState>)> = statuses
            .iter()
            .flat_map(|s| state::states_for_status(s))
            .collect();
        let wants_deleted_status = statuses.iter().any(|s| s.eq_ignore_ascii_case("deleted"));
        let reservation = get("reservation_id");
        let node = get("node").filter(|_| admin_filters);
        let az = get("availability_zone");
        let key_name = get("key_name");
        let ip = get("ip");
        let ip6 = get("ip6");
        let user = get("user_id").filter(|_| admin_filters || c.minor >= 83);
        let locked = get("locked").and_then(crate::servers::api::strict_bool);
        all.retain(|i| {
            if c.minor >= 26 && !crate::servers::ops::tags_match(&i.tags, q) {
                return false;
            }
            if let Some(n) = name {
                if !name_matches(n, &i.name) {
                    return false;
                }
            }
            if let Some(img) = &image {
                if i.image_ref.as_deref() != Some(img.as_str()) {
                    return false;
                }
            }
            if let Some(f) = &flavor {
                if &i.flavor.flavorid != f {
                    return false;
                }
            }
            if !statuses.is_empty() {
                let matched =
                    status_pairs.contains(&(vm(i), task(i))) || (wants_deleted_status && i.deleted);
                if !matched {
                    return false;
                }
            }
            if i.deleted
                && !(deleted_req
                    || wants_deleted_status
                    || changes_since.is_some()
                    || changes_before.is_some())
            {
                return false;
            }
            if let Some(t) = changes_since {
                if db_time(&i.updated_at).is_some_and(|u| u < t) {
                    return false;
                }
            }
            if let Some(t) = changes_before {
                if db_time(&i.updated_at).is_some_and(|u| u > t) {
                    return false;
                }
            }
            if let Some(r) = reservation {
                if i.reservation_id != r {
                    return false;
                }
            }
            if let Some(n) = node {
                if i.node.as_deref() != Some(n) {
                    return false;
                }
            }
            if let Some(z) = az {
                if i.availability_zone != z {
                    return false;
                }
            }
            if let Some(k) = key_name {
                if i.key_name.as_deref() != Some(k) {
                    return false;
                }
            }
            if let Some(p) = ip {
                if !i
                    .nics
                    .iter()
                    .flat_map(|n| n.ips.iter())
                    .any(|a| !a.contains(':') && name_matches(p, a))
                {
                    return false;
                }
            }
            if let Some(p) = ip6 {
                if !i
                    .nics
                    .iter()
                    .flat_map(|n| n.ips.iter())
                    .any(|a| a.contains(':') && name_matches(p, a))
                {
                    return false;
                }
            }
            if let Some(u) = user {
                if i.user_id != u {
                    return false;
                }
            }
            if let Some(l) = locked {
                if i.locked != l {
                    return false;
                }
            }
            true
        });
        // Sort (default created_at desc); nova accepts several keys.
        let keys: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "sort_key")
            .map(|(_, v)| v.as_str())
            .collect();
        let dirs: Vec<&str> = q
            .iter()
            .filter(|(k, _)| k == "sort_dir")
            .map(|(_, v)| v.as_str())
            .collect();
        for d in &dirs {
            if !matches!(*d, "asc" | "desc") {
                return Err(Error::bad_request(format!(
                    "Invalid input for field/attribute sort_dir. Value: {d}."
                )));
            }
        }
        if !keys.is_empty() {
            for k in &keys {
                if !matches!(
                    *k,
                    "created_at"
                        | "updated_at"
                        | "display_name"
                        | "uuid"
                        | "vm_state"
                        | "task_state"
                        | "power_state"
                        | "launched_at"
                        | "terminated_at"
                        | "availability_zone"
                        | "key_name"
                        | "host"
                        | "node"
                        | "image_ref"
                        | "instance_type_id"
                        | "project_id"
                        | "user_id"
                        | "hostname"
                        | "launch_index"
                        | "display_description"
                        | "access_ip_v4"
                        | "access_ip_v6"
                        | "config_drive"
                        | "progress"
                        | "locked"
                        | "kernel_id"
                        | "ramdisk_id"
                        | "root_device_name"
                        | "id"
                ) {
                    return Err(Error::bad_request(format!(
                        "Invalid input for field/attribute sort_key. Value: {k}."
                    )));
                }
            }
            all.sort_by(|a, b| {
                let mut o = std::cmp::Ordering::Equal;
                for (n, k) in keys.iter().enumerate() {
                    let field = |i: &Instance| -> String {
                        match *k {
                            "updated_at" => i.updated_at.clone(),
                            "display_name" => i.name.clone(),
                            "uuid" => i.uuid.clone(),
                            "vm_state" => i.vm_state.clone(),
                            "task_state" => i.task_state.clone().unwrap_or_default(),
                            "power_state" => i.power_state.to_string(),
                            "launched_at" => i.launched_at.clone().unwrap_or_default(),
                            "availability_zone" => i.availability_zone.clone(),
                            "key_name" => i.key_name.clone().unwrap_or_default(),
                            "host" => i.host.clone().unwrap_or_default(),
                            "node" => i.node.clone().unwrap_or_default(),
                            "image_ref" => i.image_ref.clone().unwrap_or_default(),
                            "project_id" => i.project_id.clone(),
                            "user_id" => i.user_id.clone(),
                            "hostname" => i.hostname.clone(),
                            "id" | "launch_index" => format!("{:020}", i.internal_id),
                            _ => i.created_at.clone(),
                        }
                    };
                    let mut this = field(a).cmp(&field(b));
                    if dirs.get(n).copied().unwrap_or("desc") == "desc" {
                        this = this.reverse();
                    }
                    o = o.then(this);
                }
                o.then(b.internal_id.cmp(&a.internal_id))
            });
        }
        // Marker.
        if let Some(m) = get("marker") {
            let pos = all
                .iter()
                .position(|i| i.uuid == m)
                .ok_or_else(|| Error::bad_request(format!("marker [{m}] not found")))?;
            all.drain(..=pos);
        }
        all.truncate(limit);
        Ok(all)
    }

    /// `PUT /servers/{id}`.
    pub async fn update(&self, c: &Caller, uuid: &str, u: ServerUpdate) -> Result<Instance, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:servers:update")
            .await?;
        self.modify(&i.uuid, |x| {
            if let Some(n) = &u.name {
                x.name = n.clone();
            }
            if let Some(a) = &u.access_ipv4 {
                x.access_ipv4 = a.clone();
            }
            if let Some(a) = &u.access_ipv6 {
                x.access_ipv6 = a.clone();
            }
            if let Some(d) = &u.disk_config {
                x.disk_config = d.clone();
            }
            if let Some(d) = &u.description {
                x.description = d.clone();
            }
            if let Some(h) = &u.hostname {
                x.hostname = h.clone();
            }
            Ok(())
        })
        .await
    }

    pub(crate) fn check_lock(&self, c: &Caller, i: &Instance) -> Result<(), Error> {
        if i.locked && !self.compute.is_admin(&c.auth) {
            return Err(Error::conflict(format!("Instance {} is locked", i.uuid)));
        }
        Ok(())
    }

    /// `DELETE /servers/{id}`: 204 at once; the work (or the build's cancellation)
    /// runs in the background.
    pub async fn delete(self: &Arc<Self>, c: &Caller, uuid: &str) -> Result<(), Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:servers:delete")
            .await?;
        self.check_lock(c, &i)?;
        if task(&i) == Some(TaskState::Deleting) {
            return Ok(());
        }
        let action = self.record_action(c, &i, "delete").await?;
        self.remember_user_token(&i.uuid, &c.token.0);
        let building = self.builds.lock().get(&i.uuid).cloned();
        self.modify(&i.uuid, |x| {
            x.task_state = Some(TaskState::Deleting.as_str().into());
            Ok(())
        })
        .await?;
        if let Some(flag) = building {
            // The build notices between steps, undoes what it did and deletes.
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            self.finish_action_ok(action, "compute_terminate_instance")
                .await;
            return Ok(());
        }
        let me = self.clone();
        let id = i.uuid.clone();
        tokio::spawn(async move {
            let lock = me.lock_for(&id);
            let _g = lock.lock().await;
            let res = me.destroy_everything(&id).await;
            match res {
                Ok(()) => {
                    me.finish_action_ok(action, "compute_terminate_instance")
                        .await
                }
                Err(e) => {
                    tracing::error!(instance.id = %id, error = %e, "server delete failed");
                    me.finish_action_err(action, "compute_terminate_instance", &e)
                        .await;
                    let _ = me
                        .modify(&id, |x| {
                            x.vm_state = VmState::Error.as_str().into();
                            x.task_state = None;
                            Ok(())
                        })
                        .await;
                }
            }
        });
        Ok(())
    }

    pub(crate) async fn finish_action_ok(&self, id: i64, event: &str) {
        self.finish_action(id, event, None).await
    }

    pub(crate) async fn finish_action_err(&self, id: i64, event: &str, e: &Error) {
        self.finish_action(id, event, Some(e)).await
    }

    async fn finish_action(&self, id: i64, event: &str, e: Option<&Error>) {
        let t = now();
        let ev = store::ActionEvent {
            event: event.into(),
            start_time: t.clone(),
            finish_time: Some(t.clone()),
            result: Some(if e.is_some() { "Error" } else { "Success" }.into()),
            traceback: e.map(|e| e.to_string()),
        };
        let res = async {
            let mut conn = self.compute.conn().await?;
            store::finish_action(&mut conn, id, &t, e.map(|_| "Error"), &[ev]).await
        }
        .await;
        if let Err(err) = res {
            tracing::warn!(error = %err, "could not record an instance action's end");
        }
    }

    /// Starts `action` on `i`: lock and state checks, task_state set, action recorded.
    pub(crate) async fn begin(
        &self,
        c: &Caller,
        i: &Instance,
        action: Action,
    ) -> Result<(Instance, i64), Error> {
        self.check_lock(c, i)?;
        state::check(action, &i.uuid, vm(i), task(i)).map_err(|e| Error::conflict(e.message))?;
        let expected_gen = i.generation;
        let t = action.task();
        let updated = self
            .modify(&i.uuid, |x| {
                if x.generation != expected_gen {
                    // Re-check against the fresh row.
                    state::check(action, &x.uuid, vm(x), task(x))
                        .map_err(|e| Error::conflict(e.message))?;
                }
                if t.is_some() {
                    x.task_state = t.map(|t| t.as_str().to_string());
                }
                Ok(())
            })
            .await?;
        let id = self.record_action(c, i, action.record_name()).await?;
        Ok((updated, id))
    }

    /// `POST /servers/{id}/action`.
    pub async fn action(
        self: &Arc<Self>,
        c: &Caller,
        uuid: &str,
        a: rustack_compute_api::server::ServerAction,
    ) -> Result<ActionOutcome, Error> {
        use rustack_compute_api::server::ServerAction as A;
        let (rule, act) = match &a {
            // Shelve and rescue live in `servers::shelve` / `servers::rescue`.
            A::Shelve => return self.shelve(c, uuid).await,
            A::ShelveOffload => return self.shelve_offload(c, uuid).await,
            A::Unshelve { availability_zone } => {
                return self.unshelve(c, uuid, availability_zone.clone()).await
            }
            A::Rescue {
                admin_pass,
                rescue_image_ref,
            } => {
                return self
                    .rescue(c, uuid, admin_pass.clone(), rescue_image_ref.clone())
                    .await
            }
            A::Unrescue => return self.unrescue(c, uuid).await,
            A::Restore => return self.restore(c, uuid).await,
            A::ForceDelete => return self.force_delete(c, uuid).await,
            A::CreateBackup {
                name,
                backup_type,
                rotation,
                metadata,
            } => {
                return self
                    .create_backup(c, uuid, name, backup_type, *rotation, metadata)
                    .await
            }
            A::Stop => ("os_compute_api:servers:stop", Some(Action::Stop)),
            A::Start => ("os_compute_api:servers:start", Some(Action::Start)),
            A::Reboot { hard: true } => ("os_compute_api:servers:reboot", Some(Action::RebootHard)),
            A::Reboot { hard: false } => {
                ("os_compute_api:servers:reboot", Some(Action::RebootSoft))
            }
            A::Rebuild(_) => ("os_compute_api:servers:rebuild", Some(Action::Rebuild)),
            A::Resize { .. } => ("os_compute_api:servers:resize", Some(Action::Resize)),
            A::ConfirmResize => (
                "os_compute_api:servers:confirm_resize",
                Some(Action::ConfirmResize),
            ),
            A::RevertResize => (
                "os_compute_api:servers:revert_resize",
                Some(Action::RevertResize),
            ),
            A::Pause => ("os_compute_api:os-pause-server:pause", Some(Action::Pause)),
            A::Unpause => (
                "os_compute_api:os-pause-server:unpause",
                Some(Action::Unpause),
            ),
            A::Suspend => (
                "os_compute_api:os-suspend-server:suspend",
                Some(Action::Suspend),
            ),
            A::Resume => (
                "os_compute_api:os-suspend-server:resume",
                Some(Action::Resume),
            ),
            A::CreateImage { .. } => (
                "os_compute_api:servers:create_image",
                Some(Action::CreateImage),
            ),
            A::Lock { .. } => ("os_compute_api:os-lock-server:lock", None),
            A::Unlock => ("os_compute_api:os-lock-server:unlock", None),
            A::ConsoleOutput { .. } => ("os_compute_api:os-console-output", None),
        };
        let i = self.get_for(c, uuid, rule).await?;
        self.remember_user_token(&i.uuid, &c.token.0);
        match a {
            A::Lock { reason } => {
                let by = if c.auth.project_id.as_deref() == Some(i.project_id.as_str()) {
                    "owner"
                } else {
                    "admin"
                };
                self.modify(&i.uuid, |x| {
                    x.locked = true;
                    x.locked_by = Some(by.into());
                    x.locked_reason = reason.clone();
                    Ok(())
                })
                .await?;
                let id = self.record_action(c, &i, "lock").await?;
                self.finish_action_ok(id, "compute_lock_instance").await;
                return Ok(ActionOutcome::Accepted);
            }
            A::Unlock => {
                if i.locked
                    && i.locked_by.as_deref() == Some("admin")
                    && c.auth.project_id.as_deref() == Some(i.project_id.as_str())
                {
                    self.authorize(
                        c,
                        "os_compute_api:os-lock-server:unlock:unlock_override",
                        &target(&i),
                    )?;
                }
                self.modify(&i.uuid, |x| {
                    x.locked = false;
                    x.locked_by = None;
                    x.locked_reason = None;
                    Ok(())
                })
                .await?;
                let id = self.record_action(c, &i, "unlock").await?;
                self.finish_action_ok(id, "compute_unlock_instance").await;
                return Ok(ActionOutcome::Accepted);
            }
            A::ConsoleOutput { length } => {
                if vm(&i) == VmState::Building || i.host.is_none() {
                    return Err(Error::conflict(format!(
                        "Cannot 'get_console_output' instance {} while it is in vm_state {}",
                        i.uuid, i.vm_state
                    )));
                }
                let driver = self.driver_for(i.host.as_deref().unwrap_or_default())?;
                let out = driver.console_output(&i.uuid, None).await.map_err(|e| {
                    Error::conflict(format!("Console log output could not be retrieved: {e}"))
                })?;
                return Ok(ActionOutcome::Console(nova_tail(&out, length)));
            }
            _ => {}
        }
        let act = act.ok_or_else(|| Error::internal("action without state transition"))?;
        // Synchronous validation of the action's arguments before any state change.
        match &a {
            A::Rebuild(r) => {
                if r.trusted_certs.is_some() {
                    self.authorize(
                        c,
                        "os_compute_api:servers:rebuild:trusted_certs",
                        &target(&i),
                    )?;
                    if i.image_ref.is_none() && matches!(r.trusted_certs, Some(Some(_))) {
                        return Err(Error::bad_request(
                            "Image certificate validation is not supported for volume-backed servers.",
                        ));
                    }
                }
                if i.image_ref.is_none() {
                    // Volume-backed (before 2.93): only the image the root volume was
                    // made from; the root volume itself is kept.
                    let root_image = self
                        .volumes_of(&i.uuid)
                        .await?
                        .into_iter()
                        .find(|b| b.boot_index == Some(0))
                        .and_then(|b| b.source_id);
                    if root_image.as_deref() != Some(r.image_ref.as_str()) {
                        return Err(Error::bad_request(
                            "Unable to rebuild with a different image for a volume-backed server.",
                        ));
                    }
                }
                let token = self.service_token().await?;
                let img = self
                    .glance
                    .show(&token, &r.image_ref)
                    .await?
                    .ok_or_else(|| {
                        Error::bad_request(format!("Image {} could not be found.", r.image_ref))
                    })?;
                if img.status != "active" {
                    return Err(Error::bad_request(format!(
                        "Image {} is not active.",
                        r.image_ref
                    )));
                }
                if let Some(md) = &r.metadata {
                    let lim = self
                        .quota(
                            &i.project_id,
                            "metadata_items",
                            self.compute.config().quota.metadata_items,
                        )
                        .await?;
                    if lim >= 0 && md.len() as i64 > lim {
                        return Err(Error::forbidden("Quota exceeded for metadata_items"));
                    }
                }
            }
            A::Resize { flavor_ref, .. } => {
                let f = match self.compute.flavor_get(flavor_ref).await {
                    Ok(f) => f,
                    Err(Error::NotFound { .. }) => {
                        return Err(Error::bad_request("Unable to locate requested flavor."))
                    }
                    Err(e) => return Err(e),
                };
                if f.flavorid == i.flavor.flavorid {
                    return Err(Error::bad_request(
                        "When resizing, instances must change flavor!",
                    ));
                }
                if f.root_gb < i.flavor.root_gb {
                    return Err(Error::bad_request(
                        "Resize error: Unable to resize disk down.",
                    ));
                }
                // Nova counts the growth against the project's cores/ram quota (403).
                let usage = self.usage_of(&i.project_id, None).await?;
                let q = &self.compute.config().quota;
                for (name, default, used, delta) in [
                    ("cores", q.cores, usage.1, f.vcpus - i.flavor.vcpus),
                    ("ram", q.ram, usage.2, f.memory_mb - i.flavor.memory_mb),
                ] {
                    let limit = self.quota(&i.project_id, name, default).await?;
                    if delta > 0 && limit >= 0 && used + delta > limit {
                        return Err(Error::forbidden(format!(
                            "Quota exceeded for {name}: Requested {delta}, but already used \
                             {used} of {limit} {name}"
                        )));
                    }
                }
            }
            _ => {}
        }
        let (i, action_id) = self.begin(c, &i, act).await?;
        match a {
            A::Rebuild(r) => {
                let admin_pass = r.admin_pass.clone().unwrap_or_else(|| random_password(12));
                let i = self.apply_rebuild_request(&i, &r).await?;
                self.spawn_action(
                    i.uuid.clone(),
                    act,
                    action_id,
                    super::build::Extra::Rebuild(r.clone()),
                );
                Ok(ActionOutcome::Rebuilt(Box::new(i), admin_pass))
            }
            A::Resize {
                flavor_ref,
                disk_config,
            } => {
                // `OS-DCF:diskConfig` given with the resize is the server's from now on.
                if let Some(d) = disk_config {
                    self.modify(&i.uuid, |x| {
                        x.disk_config = d.clone();
                        Ok(())
                    })
                    .await?;
                }
                self.record_resize_migration(c, &i, &flavor_ref).await?;
                self.spawn_action(
                    i.uuid.clone(),
                    act,
                    action_id,
                    super::build::Extra::Resize(flavor_ref),
                );
                Ok(ActionOutcome::Accepted)
            }
            A::CreateImage { name, metadata } if i.image_ref.is_none() => {
                // Volume-backed: snapshots of the volumes, an image pointing at them.
                let res = self.snapshot_volume_backed(c, &i, &name, &metadata).await;
                let _ = self
                    .modify(&i.uuid, |x| {
                        x.task_state = None;
                        Ok(())
                    })
                    .await;
                match res {
                    Ok(image_id) => {
                        self.finish_action_ok(action_id, "compute_snapshot_instance")
                            .await;
                        Ok(ActionOutcome::Image(image_id))
                    }
                    Err(e) => {
                        self.finish_action_err(action_id, "compute_snapshot_instance", &e)
                            .await;
                        Err(e)
                    }
                }
            }
            A::CreateImage { name, metadata } => {
                let token = self.service_token().await?;
                let base = match &i.image_ref {
                    Some(id) => self.glance.show(&token, id).await?,
                    None => None,
                };
                let body = super::clients::snapshot_body(
                    &name,
                    &i.uuid,
                    &c.auth.user_id,
                    base.as_ref(),
                    i.flavor.root_gb as u64,
                    &metadata,
                );
                let mut body = body;
                body["owner"] = json!(i.project_id);
                let image_id = match self.glance.create(&token, &body).await {
                    Ok(id) => id,
                    Err(e) => {
                        let _ = self
                            .modify(&i.uuid, |x| {
                                x.task_state = None;
                                Ok(())
                            })
                            .await;
                        self.finish_action_err(action_id, "compute_snapshot_instance", &e)
                            .await;
                        return Err(e);
                    }
                };
                self.spawn_action(
                    i.uuid.clone(),
                    act,
                    action_id,
                    super::build::Extra::Snapshot(image_id.clone()),
                );
                Ok(ActionOutcome::Image(image_id))
            }
            _ => {
                self.spawn_action(i.uuid.clone(), act, action_id, super::build::Extra::None);
                Ok(ActionOutcome::Accepted)
            }
        }
    }

    async fn apply_rebuild_request(&self, i: &Instance, r: &Rebuild) -> Result<Instance, Error> {
        let mut conn = self.compute.conn().await?;
        if let Some(md) = &r.metadata {
            store::set_metadata(&mut conn, &i.uuid, md, true).await?;
        }
        drop(conn);
        let key_data = match &r.key_name {
            Some(Some(k)) => {
                let mut conn = self.compute.conn().await?;
                Some(Some(
                    store::core::keypair(&mut conn, &i.user_id, k)
                        .await?
                        .ok_or_else(|| Error::bad_request("Invalid key_name provided."))?,
                ))
            }
            Some(None) => Some(None),
            None => None,
        };
        self.modify(&i.uuid, |x| {
            // A volume-backed server stays one (its root is the volume).
            if x.image_ref.is_some() {
                x.image_ref = Some(r.image_ref.clone());
            }
            if let Some(n) = &r.name {
                x.name = n.clone();
            }
            if let Some(a) = &r.access_ipv4 {
                x.access_ipv4 = a.clone();
            }
            if let Some(a) = &r.access_ipv6 {
                x.access_ipv6 = a.clone();
            }
            if let Some(d) = &r.disk_config {
                x.disk_config = d.clone();
            }
            if let Some(d) = &r.description {
                x.description = d.clone();
            }
            if let Some(k) = &r.key_name {
                x.key_name = k.clone();
            }
            if let Some(kd) = &key_data {
                x.key_data = kd.clone();
            }
            if let Some(u) = &r.user_data {
                x.user_data = u.clone();
            }
            if let Some(t) = &r.trusted_certs {
                x.trusted_certs = t.clone();
            }
            Ok(())
        })
        .await
    }

    /// Metadata of a visible server (`rule` checked).
    pub async fn metadata_get(
        &self,
        c: &Caller,
        uuid: &str,
        rule: &str,
    ) -> Result<(Instance, BTreeMap<String, String>), Error> {
        let i = self.get_for(c, uuid, rule).await?;
        let mut conn = self.compute.conn().await?;
        let md = store::get_metadata(&mut conn, &i.uuid).await?;
        Ok((i, md))
    }

    /// Replaces (`replace`) or merges metadata; returns the resulting metadata.
    pub async fn metadata_set(
        &self,
        c: &Caller,
        uuid: &str,
        items: BTreeMap<String, String>,
        replace: bool,
        rule: &str,
    ) -> Result<BTreeMap<String, String>, Error> {
        let i = self.get_for(c, uuid, rule).await?;
        self.check_lock(c, &i)?;
        state::check(Action::UpdateMetadata, &i.uuid, vm(&i), task(&i))
            .map_err(|e| Error::conflict(e.message))?;
        let current = {
            let mut conn = self.compute.conn().await?;
            store::get_metadata(&mut conn, &i.uuid).await?
        };
        let mut merged = if replace { BTreeMap::new() } else { current };
        merged.extend(items.clone());
        let lim = self
            .quota(
                &i.project_id,
                "metadata_items",
                self.compute.config().quota.metadata_items,
            )
            .await?;
        if lim >= 0 && merged.len() as i64 > lim {
            return Err(Error::forbidden(format!(
                "Quota exceeded for metadata_items: Requested {}, but already used 0 of {lim} metadata_items",
                merged.len()
            )));
        }
        let mut conn = self.compute.conn().await?;
        store::set_metadata(&mut conn, &i.uuid, &merged, true).await?;
        drop(conn);
        self.modify(&i.uuid, |_| Ok(())).await?;
        Ok(merged)
    }

    /// Deletes one key (404 when absent).
    pub async fn metadata_delete(&self, c: &Caller, uuid: &str, key: &str) -> Result<(), Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:server-metadata:delete")
            .await?;
        self.check_lock(c, &i)?;
        state::check(Action::UpdateMetadata, &i.uuid, vm(&i), task(&i))
            .map_err(|e| Error::conflict(e.message))?;
        let mut conn = self.compute.conn().await?;
        if !store::delete_metadata_key(&mut conn, &i.uuid, key).await? {
            return Err(Error::not_found("Metadata item was not found"));
        }
        drop(conn);
        self.modify(&i.uuid, |_| Ok(())).await?;
        Ok(())
    }

    /// `os-instance-actions` list.
    pub async fn actions_list(&self, c: &Caller, uuid: &str) -> Result<Vec<ActionRecord>, Error> {
        let i = self
            .get_for_actions(c, uuid, "os_compute_api:os-instance-actions:list")
            .await?;
        let mut conn = self.compute.conn().await?;
        store::list_actions(&mut conn, &i.uuid).await
    }

    /// `os-instance-actions/{request_id}` (events shown when the policy allows).
    pub async fn action_show(
        &self,
        c: &Caller,
        uuid: &str,
        request_id: &str,
    ) -> Result<(ActionRecord, bool, bool, Instance), Error> {
        let i = self
            .get_for_actions(c, uuid, "os_compute_api:os-instance-actions:show")
            .await?;
        let mut conn = self.compute.conn().await?;
        let a = store::get_action(&mut conn, &i.uuid, request_id)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "Action for request_id {request_id} on instance {} not found",
                    i.uuid
                ))
            })?;
        let events_allowed = self.compute.allowed(
            &c.auth,
            "os_compute_api:os-instance-actions:events",
            &target(&i),
        );
        // From 2.51 everyone sees the events; the traceback stays with those the
        // events policy allows.
        let events = events_allowed || c.minor >= 51;
        let details = events_allowed
            && self.compute.allowed(
                &c.auth,
                "os_compute_api:os-instance-actions:events:details",
                &target(&i),
            );
        Ok((a, events, details, i))
    }

    /// Records a fault and puts the server in ERROR.
    pub(crate) async fn set_error(&self, uuid: &str, code: u16, message: &str, details: &str) {
        let r = self
            .modify(uuid, |x| {
                x.vm_state = VmState::Error.as_str().into();
                x.task_state = None;
                x.fault = Some(FaultRecord {
                    code,
                    message: message.into(),
                    details: details.into(),
                    created: now(),
                });
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::error!(instance.id = uuid, error = %e, "could not record a server fault");
        }
    }
}

/// Nova's `sanitize_hostname`: lowercase, spaces and underscores to dashes, only
/// `[a-z0-9.-]`, at most 63 characters, no leading/trailing dots or dashes.
pub fn sanitize_hostname(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    let s: String = s.chars().take(63).collect();
    let s = s.trim_matches(|c| c == '.' || c == '-').to_string();
    if s.is_empty() {
        "server".into()
    } else {
        s
    }
}

impl Servers {
    /// `POST /servers/{id}/os-interface`: a new port on `net_id` (or the given port) is
    /// bound to the server's host and hot-plugged.
    pub async fn interface_attach(
        &self,
        c: &Caller,
        uuid: &str,
        net_id: Option<String>,
        port_id: Option<String>,
        fixed_ip: Option<String>,
        tag: Option<String>,
    ) -> Result<rustack_network_api::client::Port, Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-attach-interfaces:create")
            .await?;
        self.check_lock(c, &i)?;
        state::check(Action::Interface, &i.uuid, vm(&i), task(&i))
            .map_err(|e| Error::conflict(e.message))?;
        let lock = self.lock_for(&i.uuid);
        let _g = lock.lock().await;
        let host = i
            .host
            .clone()
            .ok_or_else(|| Error::conflict("The server has no host"))?;
        let token = self.service_token().await?;
        let owner = format!("compute:{}", i.availability_zone);
        let (port, created) = match (port_id, net_id) {
            (Some(pid), _) => {
                let p = self
                    .network
                    .show_port(&token, &pid)
                    .await?
                    .filter(|p| p.project_id == i.project_id || self.compute.is_admin(&c.auth))
                    .ok_or_else(|| Error::not_found(format!("Port {pid} could not be found.")))?;
                if !p.device_id.is_empty() {
                    return Err(Error::conflict(format!("Port {pid} is still in use.")));
                }
                let p = self
                    .network
                    .update_port(
                        &token,
                        &pid,
                        json!({"device_id": i.uuid, "device_owner": owner}),
                    )
                    .await?;
                (p, false)
            }
            (None, net) => {
                let net = match net {
                    Some(n) => n,
                    None => {
                        let avail = self
                            .network
                            .available_networks(&token, &i.project_id)
                            .await?;
                        match avail.as_slice() {
                            [one] => one.id.clone(),
                            [] => return Err(Error::bad_request("No network is available to attach.")),
                            _ => return Err(Error::conflict("Multiple possible networks found, use a Network ID to be more specific.")),
                        }
                    }
                };
                let n = self
                    .network
                    .show_network(&token, &net)
                    .await?
                    .filter(|n| n.project_id == i.project_id || n.shared)
                    .ok_or_else(|| {
                        Error::not_found(format!("Network {net} could not be found."))
                    })?;
                let p = self
                    .network
                    .create_port(
                        &token,
                        &rustack_network_api::client::PortCreate {
                            network_id: n.id,
                            project_id: i.project_id.clone(),
                            device_id: i.uuid.clone(),
                            device_owner: owner.clone(),
                            // Bound once the TAP exists (below).
                            host_id: String::new(),
                            fixed_ip,
                            security_groups: None,
                            name: String::new(),
                        },
                    )
                    .await?;
                (p, true)
            }
        };
        let net = self.network.show_network(&token, &port.network_id).await?;
        let nic = store::Nic {
            port_id: port.id.clone(),
            network_id: port.network_id.clone(),
            network_name: net.as_ref().map(|n| n.name.clone()).unwrap_or_default(),
            mac: port.mac_address.clone(),
            ips: port
                .fixed_ips
                .iter()
                .map(|f| f.ip_address.clone())
                .collect(),
            mtu: net.and_then(|n| n.mtu).unwrap_or(1500),
            created,
            tag,
        };
        let driver = self.driver_for(&host)?;
        if let Err(e) = driver
            .attach_interface(
                &i.uuid,
                &rustack_virt::Nic::for_port(&nic.port_id, &nic.mac, nic.mtu),
            )
            .await
        {
            if created {
                let _ = self.network.delete_port(&token, &port.id).await;
            } else {
                let _ = self
                    .network
                    .update_port(
                        &token,
                        &port.id,
                        json!({"device_id": "", "device_owner": "", "binding:host_id": ""}),
                    )
                    .await;
            }
            return Err(Error::internal(format!("attach_interface: {e}")));
        }
        // The TAP exists: binding the port wakes the network agent to plug it.
        let port = self
            .network
            .update_port(&token, &port.id, json!({"binding:host_id": host}))
            .await?;
        self.modify(&i.uuid, |x| {
            x.nics.push(nic.clone());
            Ok(())
        })
        .await?;
        let id = self.record_action(c, &i, "attach_interface").await?;
        self.finish_action_ok(id, "compute_attach_interface").await;
        Ok(port)
    }

    /// `DELETE /servers/{id}/os-interface/{port_id}`.
    pub async fn interface_detach(
        &self,
        c: &Caller,
        uuid: &str,
        port_id: &str,
    ) -> Result<(), Error> {
        let i = self
            .get_for(c, uuid, "os_compute_api:os-attach-interfaces:delete")
            .await?;
        self.check_lock(c, &i)?;
        state::check(Action::Interface, &i.uuid, vm(&i), task(&i))
            .map_err(|e| Error::conflict(e.message))?;
        let lock = self.lock_for(&i.uuid);
        let _g = lock.lock().await;
        let nic = i
            .nics
            .iter()
            .find(|n| n.port_id == port_id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("Port {port_id} is not attached")))?;
        if let Some(h) = &i.host {
            match self.driver_for(h)?.detach_interface(&i.uuid, port_id).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(Error::internal(format!("detach_interface: {e}"))),
            }
        }
        let token = self.service_token().await?;
        if nic.created {
            self.network.delete_port(&token, port_id).await?;
        } else {
            let _ = self
                .network
                .update_port(
                    &token,
                    port_id,
                    json!({"device_id": "", "device_owner": "", "binding:host_id": ""}),
                )
                .await;
        }
        self.modify(&i.uuid, |x| {
            x.nics.retain(|n| n.port_id != port_id);
            Ok(())
        })
        .await?;
        let id = self.record_action(c, &i, "detach_interface").await?;
        self.finish_action_ok(id, "compute_detach_interface").await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::app::UsageSource for Servers {
    async fn usage(
        &self,
        project_id: &str,
        user_id: Option<&str>,
    ) -> Result<crate::app::ProjectUsage, Error> {
        let (instances, cores, ram) = self.usage_of(project_id, user_id).await?;
        Ok(crate::app::ProjectUsage {
            instances,
            cores,
            ram,
            server_groups: 0,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn console_tail_as_nova() {
        let log = "a\nb\nc\nd\n";
        assert_eq!(nova_tail(log, None), log);
        assert_eq!(nova_tail(log, Some(3)), "c\nd\n");
        assert_eq!(nova_tail(log, Some(3)).split('\n').count(), 3);
        assert_eq!(nova_tail(log, Some(1)), "");
        assert_eq!(nova_tail(log, Some(0)), "");
        assert_eq!(nova_tail(log, Some(50)), log);
        assert_eq!(nova_tail("x\ny", Some(1)), "y");
    }

    #[test]
    fn name_filter_is_a_search() {
        assert!(name_matches("srv", "my-srv-1"));
        assert!(name_matches("^my", "my-srv-1"));
        assert!(!name_matches("^srv", "my-srv-1"));
        assert!(name_matches("srv-1$", "my-srv-1"));
        assert!(name_matches("m.*1", "my-srv-1"));
        assert!(!name_matches("zzz", "my-srv-1"));
        assert!(name_matches("", "x"));
        // Tempest's `^.*\-instance\-[0-9]+$`.
        assert!(name_matches(r"^.*\-instance\-[0-9]+$", "t-instance-123"));
        assert!(!name_matches(r"^.*\-instance\-[0-9]+$", "t-instance-12a"));
        assert!(name_matches("^[^0-9]+$", "abc"));
        assert!(!name_matches("^[^0-9]+$", "ab1"));
    }

    #[test]
    fn hostnames_and_host_ids() {
        assert_eq!(sanitize_hostname("My Server_1"), "my-server-1");
        assert_eq!(sanitize_hostname("--"), "server");
        assert_eq!(host_id("p", None), "");
        assert_eq!(host_id("p", Some("h")).len(), 56);
        assert_eq!(
            api_time("2026-01-01T10:00:00.123456"),
            "2026-01-01T10:00:00Z"
        );
    }

    #[test]
    fn time_filters() {
        assert!(parse_time("changes-since", "2011/01/01").is_err());
        assert!(parse_time("changes-since", "2011-01-01T00:00:00Z").is_ok());
        assert!(parse_time("changes-since", "2011-01-01").is_ok());
    }
}
