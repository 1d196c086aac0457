//! The server body as Nova renders it (`nova/api/openstack/compute/views/servers.py`),
//! per microversion and per caller: one function builds the newest shape and the
//! microversion table below decides which keys an older request sees. Tempest validates
//! these bodies against `additionalProperties: false` schemas, so a key appears only
//! when the requested microversion has it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::state::{has_progress, status, TaskState, VmState};

/// Microversions at which the server body changed (`minor` of 2.minor).
pub mod versions {
    /// 2.3: admins see the extended `OS-EXT-SRV-ATTR:*` attributes.
    pub const EXTENDED_ATTRS: u32 = 3;
    /// 2.9: `locked`.
    pub const LOCKED: u32 = 9;
    /// 2.16: `host_status` (admins).
    pub const HOST_STATUS: u32 = 16;
    /// 2.19: `description`.
    pub const DESCRIPTION: u32 = 19;
    /// 2.26: `tags`.
    pub const TAGS: u32 = 26;
    /// 2.47: the flavor is embedded instead of linked.
    pub const FLAVOR_EMBEDDED: u32 = 47;
    /// 2.63: `trusted_image_certificates`.
    pub const TRUSTED_CERTS: u32 = 63;
    /// 2.71: `server_groups`.
    pub const SERVER_GROUPS: u32 = 71;
    /// 2.73: `locked_reason`.
    pub const LOCKED_REASON: u32 = 73;
    /// 2.75: update and rebuild answer with the full show body.
    pub const FULL_UPDATE_BODY: u32 = 75;
    /// 2.96: `pinned_availability_zone`.
    pub const PINNED_AZ: u32 = 96;
    /// 2.98: image properties embedded.
    pub const IMAGE_PROPERTIES: u32 = 98;
    /// 2.100: `scheduler_hints`.
    pub const SCHEDULER_HINTS: u32 = 100;
    /// The newest server-body change this module renders.
    pub const NEWEST: u32 = 100;
}

/// One address of a server on a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// 4 or 6.
    pub version: u8,
    /// The address.
    pub addr: String,
    /// `fixed` or `floating`.
    pub kind: &'static str,
    /// The port's MAC.
    pub mac: String,
}

/// The flavor as stored with the instance (embedded from 2.47).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlavorInfo {
    /// Flavor id.
    pub id: String,
    /// Flavor name.
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// MiB.
    pub ram: u64,
    /// GiB.
    pub disk: u64,
    /// GiB.
    pub ephemeral: u64,
    /// MiB.
    pub swap: u64,
    /// Extra specs.
    pub extra_specs: BTreeMap<String, String>,
}

/// The fault of an ERROR server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// HTTP-like code (500 for build failures).
    pub code: u16,
    /// Message.
    pub message: String,
    /// Details (admins only).
    pub details: Option<String>,
    /// When.
    pub created: String,
}

/// Everything the server body shows, read from the store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerView {
    /// Server UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owner project.
    pub project_id: String,
    /// Creator.
    pub user_id: String,
    /// vm_state.
    pub vm_state: Option<VmState>,
    /// task_state.
    pub task_state: Option<TaskState>,
    /// power_state number.
    pub power_state: u8,
    /// Image id (`None`: booted from volume → `""`).
    pub image_id: Option<String>,
    /// Image properties (2.98).
    pub image_properties: BTreeMap<String, String>,
    /// Flavor.
    pub flavor: FlavorInfo,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Addresses by network label, in port order.
    pub addresses: Vec<(String, Vec<Address>)>,
    /// `hostId` (sha224 of project + host, or empty).
    pub host_id: String,
    /// Compute host.
    pub host: Option<String>,
    /// Hypervisor hostname.
    pub node: Option<String>,
    /// `instance-%08x` name.
    pub instance_name: String,
    /// Created (ISO 8601, `Z`).
    pub created: String,
    /// Updated.
    pub updated: String,
    /// Launched (`OS-SRV-USG:launched_at`, no zone, microseconds).
    pub launched_at: Option<String>,
    /// Terminated.
    pub terminated_at: Option<String>,
    /// Access IPv4 (`""` when unset).
    pub access_ipv4: String,
    /// Access IPv6.
    pub access_ipv6: String,
    /// `AUTO`/`MANUAL`.
    pub disk_config: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Pinned AZ (the one requested).
    pub pinned_availability_zone: Option<String>,
    /// Config drive (`"True"` or `""`).
    pub config_drive: bool,
    /// Key pair.
    pub key_name: Option<String>,
    /// Security group names.
    pub security_groups: Vec<String>,
    /// Attached volumes: (volume id, delete_on_termination).
    pub volumes: Vec<(String, bool)>,
    /// Progress 0..=100.
    pub progress: u8,
    /// Fault (ERROR).
    pub fault: Option<Fault>,
    /// Locked.
    pub locked: bool,
    /// Lock reason.
    pub locked_reason: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Reservation id (`r-xxxxxxxx`).
    pub reservation_id: String,
    /// Index in a multi-create.
    pub launch_index: u32,
    /// Guest hostname.
    pub hostname: String,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// Server groups the server belongs to.
    pub server_groups: Vec<String>,
    /// Scheduler hints given at create.
    pub scheduler_hints: Map<String, Value>,
    /// Certificates trusted to sign the image (2.63; `None`: not set).
    pub trusted_image_certificates: Option<Vec<String>>,
    /// Host status (`UP`, `DOWN`, `MAINTENANCE`, `UNKNOWN`, `""`).
    pub host_status: String,
}

/// Which response the body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `GET /servers/{id}` and `/servers/detail`.
    Show,
    /// `PUT /servers/{id}`.
    Update,
    /// The `rebuild` action.
    Rebuild,
}

/// Who asks and how: the request's microversion and the policy decisions that gate
/// attributes.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// 2.minor.
    pub minor: u32,
    /// `os_compute_api:os-extended-server-attributes` passed (admins).
    pub extended_attrs: bool,
    /// `os_compute_api:servers:show:host_status` passed.
    pub host_status: bool,
    /// Admin: fault details shown.
    pub fault_details: bool,
    /// `http://host:port/v2.1` (self links).
    pub self_base: String,
    /// `http://host:port` (bookmark links).
    pub bookmark_base: String,
}

fn links(o: &RenderOptions, collection: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{}/{collection}/{id}", o.self_base)},
        {"rel": "bookmark", "href": format!("{}/{collection}/{id}", o.bookmark_base)},
    ])
}

fn bookmark(o: &RenderOptions, collection: &str, id: &str) -> Value {
    json!([{"rel": "bookmark", "href": format!("{}/{collection}/{id}", o.bookmark_base)}])
}

/// The `{"id", "links", "name"}` entry of `GET /servers`.
pub fn render_brief(v: &ServerView, o: &RenderOptions) -> Value {
    json!({"id": v.id, "name": v.name, "links": links(o, "servers", &v.id)})
}

/// The `addresses` object (`extended`: with `OS-EXT-IPS:type` and MAC).
pub fn render_addresses(v: &ServerView, extended: bool) -> Value {
    let mut m = Map::new();
    for (label, addrs) in &v.addresses {
        let items: Vec<Value> = addrs
            .iter()
            .map(|a| {
                if extended {
                    json!({"version": a.version, "addr": a.addr,
                        "OS-EXT-IPS:type": a.kind, "OS-EXT-IPS-MAC:mac_addr": a.mac})
                } else {
                    json!({"version": a.version, "addr": a.addr})
                }
            })
            .collect();
        match m.get_mut(label) {
            Some(Value::Array(existing)) => existing.extend(items),
            _ => {
                m.insert(label.clone(), Value::Array(items));
            }
        }
    }
    Value::Object(m)
}

/// The API status of the server.
pub fn server_status(v: &ServerView) -> &'static str {
    match v.vm_state {
        Some(vm) => status(vm, v.task_state),
        None => "UNKNOWN",
    }
}

/// The full server body for `kind` at the options' microversion.
pub fn render(v: &ServerView, kind: BodyKind, o: &RenderOptions) -> Value {
    use versions::*;
    let minor = o.minor;
    let full = kind == BodyKind::Show || minor >= FULL_UPDATE_BODY;
    let st = server_status(v);
    let mut m = Map::new();
    m.insert("id".into(), json!(v.id));
    m.insert("name".into(), json!(v.name));
    m.insert("status".into(), json!(st));
    m.insert("tenant_id".into(), json!(v.project_id));
    m.insert("user_id".into(), json!(v.user_id));
    m.insert("metadata".into(), json!(v.metadata));
    m.insert("hostId".into(), json!(v.host_id));
    let image = match &v.image_id {
        None => json!(""),
        Some(id) => {
            let mut img = json!({"id": id, "links": bookmark(o, "images", id)});
            if minor >= IMAGE_PROPERTIES && kind == BodyKind::Show {
                img["properties"] = json!(v.image_properties);
            }
            img
        }
    };
    m.insert("image".into(), image);
    let flavor = if minor >= FLAVOR_EMBEDDED {
        let f = &v.flavor;
        let mut fj = json!({"vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
            "ephemeral": f.ephemeral, "swap": f.swap, "original_name": f.name});
        // Extra specs are shown to callers allowed to see them (everyone by default).
        fj["extra_specs"] = json!(f.extra_specs);
        fj
    } else {
        json!({"id": v.flavor.id, "links": bookmark(o, "flavors", &v.flavor.id)})
    };
    m.insert("flavor".into(), flavor);
    m.insert("created".into(), json!(v.created));
    m.insert("updated".into(), json!(v.updated));
    m.insert(
        "addresses".into(),
        render_addresses(v, kind == BodyKind::Show || minor >= FULL_UPDATE_BODY),
    );
    m.insert("accessIPv4".into(), json!(v.access_ipv4));
    m.insert("accessIPv6".into(), json!(v.access_ipv6));
    m.insert("links".into(), links(o, "servers", &v.id));
    m.insert("OS-DCF:diskConfig".into(), json!(v.disk_config));
    if has_progress(st) {
        m.insert("progress".into(), json!(v.progress));
    }
    if st == "ERROR" || st == "DELETED" {
        if let Some(f) = &v.fault {
            let mut fj = json!({"code": f.code, "created": f.created, "message": f.message});
            if o.fault_details || f.code != 500 {
                if let Some(d) = &f.details {
                    fj["details"] = json!(d);
                }
            }
            m.insert("fault".into(), fj);
        }
    }
    if minor >= LOCKED {
        m.insert("locked".into(), json!(v.locked));
    }
    if minor >= LOCKED_REASON {
        m.insert("locked_reason".into(), json!(v.locked_reason));
    }
    if minor >= DESCRIPTION {
        m.insert("description".into(), json!(v.description));
    }
    if minor >= TAGS {
        m.insert("tags".into(), json!(v.tags));
    }
    if minor >= TRUSTED_CERTS {
        m.insert(
            "trusted_image_certificates".into(),
            json!(v.trusted_image_certificates),
        );
    }
    // 2.71 adds `server_groups` to the show, update and rebuild bodies alike.
    if minor >= SERVER_GROUPS {
        m.insert("server_groups".into(), json!(v.server_groups));
    }
    if kind == BodyKind::Rebuild {
        // Rebuild answers with the key pair from 2.54 and the user data from 2.57.
        if minor >= 54 {
            m.insert("key_name".into(), json!(v.key_name));
        }
        if minor >= 57 {
            m.insert("user_data".into(), json!(v.user_data));
        }
    }
    if full {
        m.insert(
            "OS-EXT-AZ:availability_zone".into(),
            json!(v.availability_zone),
        );
        m.insert(
            "config_drive".into(),
            json!(if v.config_drive { "True" } else { "" }),
        );
        m.insert("key_name".into(), json!(v.key_name));
        m.insert("OS-SRV-USG:launched_at".into(), json!(v.launched_at));
        m.insert("OS-SRV-USG:terminated_at".into(), json!(v.terminated_at));
        if !v.security_groups.is_empty() {
            let groups: Vec<Value> = v
                .security_groups
                .iter()
                .map(|n| json!({"name": n}))
                .collect();
            m.insert("security_groups".into(), Value::Array(groups));
        }
        m.insert(
            "OS-EXT-STS:task_state".into(),
            json!(v.task_state.map(|t| t.as_str())),
        );
        m.insert(
            "OS-EXT-STS:vm_state".into(),
            json!(v.vm_state.map(|s| s.as_str()).unwrap_or("")),
        );
        m.insert("OS-EXT-STS:power_state".into(), json!(v.power_state));
        let vols: Vec<Value> = v
            .volumes
            .iter()
            .map(|(id, dot)| {
                if minor >= EXTENDED_ATTRS {
                    json!({"id": id, "delete_on_termination": dot})
                } else {
                    json!({"id": id})
                }
            })
            .collect();
        m.insert(
            "os-extended-volumes:volumes_attached".into(),
            Value::Array(vols),
        );
        if o.extended_attrs {
            m.insert("OS-EXT-SRV-ATTR:host".into(), json!(v.host));
            m.insert(
                "OS-EXT-SRV-ATTR:instance_name".into(),
                json!(v.instance_name),
            );
            m.insert("OS-EXT-SRV-ATTR:hypervisor_hostname".into(), json!(v.node));
            if minor >= EXTENDED_ATTRS {
                m.insert(
                    "OS-EXT-SRV-ATTR:reservation_id".into(),
                    json!(v.reservation_id),
                );
                m.insert("OS-EXT-SRV-ATTR:launch_index".into(), json!(v.launch_index));
                m.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(v.hostname));
                m.insert("OS-EXT-SRV-ATTR:kernel_id".into(), json!(""));
                m.insert("OS-EXT-SRV-ATTR:ramdisk_id".into(), json!(""));
                m.insert("OS-EXT-SRV-ATTR:root_device_name".into(), json!("/dev/vda"));
                // Rebuild shows it as `user_data` instead (2.57).
                if kind != BodyKind::Rebuild {
                    m.insert("OS-EXT-SRV-ATTR:user_data".into(), json!(v.user_data));
                }
            }
        } else if minor >= 90 {
            // 2.90 shows the hostname to every caller.
            m.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(v.hostname));
        }
        // Update and rebuild show it from 2.75 (`full`), with the same policy.
        if minor >= HOST_STATUS && o.host_status {
            m.insert("host_status".into(), json!(v.host_status));
        }
        if minor >= PINNED_AZ {
            m.insert(
                "pinned_availability_zone".into(),
                json!(v.pinned_availability_zone),
            );
        }
        if minor >= SCHEDULER_HINTS {
            m.insert(
                "scheduler_hints".into(),
                Value::Object(v.scheduler_hints.clone()),
            );
        }
    }
    Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opts(minor: u32, admin: bool) -> RenderOptions {
        RenderOptions {
            minor,
            extended_attrs: admin,
            host_status: admin,
            fault_details: admin,
            self_base: "http://h/v2.1".into(),
            bookmark_base: "http://h".into(),
        }
    }

    fn sample() -> ServerView {
        ServerView {
            id: "u".into(),
            name: "n".into(),
            vm_state: Some(VmState::Active),
            image_id: Some("i".into()),
            flavor: FlavorInfo {
                id: "1".into(),
                ..Default::default()
            },
            addresses: vec![(
                "net".into(),
                vec![Address {
                    version: 4,
                    addr: "10.0.0.3".into(),
                    kind: "fixed",
                    mac: "fa:16:3e:00:00:01".into(),
                }],
            )],
            ..Default::default()
        }
    }

    /// The keys Tempest's 2.1 `server_detail` schema allows.
    const V21_DETAIL: &[&str] = &[
        "id",
        "name",
        "status",
        "image",
        "flavor",
        "fault",
        "user_id",
        "tenant_id",
        "created",
        "updated",
        "progress",
        "metadata",
        "links",
        "addresses",
        "hostId",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
        "key_name",
        "security_groups",
        "OS-SRV-USG:launched_at",
        "OS-SRV-USG:terminated_at",
        "OS-EXT-AZ:availability_zone",
        "OS-EXT-STS:task_state",
        "OS-EXT-STS:vm_state",
        "OS-EXT-STS:power_state",
        "OS-EXT-SRV-ATTR:host",
        "OS-EXT-SRV-ATTR:instance_name",
        "OS-EXT-SRV-ATTR:hypervisor_hostname",
        "os-extended-volumes:volumes_attached",
        "config_drive",
    ];
    const V21_UPDATE: &[&str] = &[
        "id",
        "name",
        "status",
        "image",
        "flavor",
        "fault",
        "user_id",
        "tenant_id",
        "created",
        "updated",
        "progress",
        "metadata",
        "links",
        "addresses",
        "hostId",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
    ];

    #[test]
    fn v21_show_has_only_schema_keys() {
        for admin in [false, true] {
            let mut s = sample();
            s.security_groups = vec!["default".into()];
            let b = render(&s, BodyKind::Show, &opts(1, admin));
            for k in b.as_object().unwrap().keys() {
                assert!(V21_DETAIL.contains(&k.as_str()), "unexpected {k}");
            }
            assert_eq!(b["status"], "ACTIVE");
            assert_eq!(b["progress"], 0);
            assert_eq!(b["addresses"]["net"][0]["OS-EXT-IPS:type"], "fixed");
            assert_eq!(b.get("OS-EXT-SRV-ATTR:host").is_some(), admin);
        }
        let u = render(&sample(), BodyKind::Update, &opts(1, true));
        for k in u.as_object().unwrap().keys() {
            assert!(V21_UPDATE.contains(&k.as_str()), "unexpected {k}");
        }
        assert!(u["addresses"]["net"][0].get("OS-EXT-IPS:type").is_none());
    }

    #[test]
    fn microversion_keys() {
        let b = render(&sample(), BodyKind::Show, &opts(19, false));
        assert_eq!(b["locked"], false);
        assert!(b.get("description").is_some());
        assert!(b.get("tags").is_none());
        let b = render(&sample(), BodyKind::Show, &opts(47, false));
        assert!(b["flavor"].get("id").is_none());
        assert_eq!(b["flavor"]["original_name"], "");
        let mut s = sample();
        s.vm_state = Some(VmState::Stopped);
        let b = render(&s, BodyKind::Update, &opts(1, false));
        assert!(b.get("progress").is_none());
    }

    #[test]
    fn fault_only_on_error() {
        let mut s = sample();
        s.fault = Some(Fault {
            code: 500,
            message: "No valid host was found. ".into(),
            details: Some("trace".into()),
            created: "2026-01-01T00:00:00Z".into(),
        });
        assert!(render(&s, BodyKind::Show, &opts(1, false))
            .get("fault")
            .is_none());
        s.vm_state = Some(VmState::Error);
        let b = render(&s, BodyKind::Show, &opts(1, false));
        assert_eq!(b["fault"]["code"], 500);
        assert!(b["fault"].get("details").is_none());
        let b = render(&s, BodyKind::Show, &opts(1, true));
        assert_eq!(b["fault"]["details"], "trace");
    }

    /// 2.63 certificates, 2.71 groups in every body, 2.75 full update/rebuild bodies.
    #[test]
    fn update_and_rebuild_bodies_by_microversion() {
        let mut s = sample();
        s.trusted_image_certificates = Some(vec!["c1".into()]);
        let b = render(&s, BodyKind::Show, &opts(62, false));
        assert!(b.get("trusted_image_certificates").is_none());
        let b = render(&s, BodyKind::Rebuild, &opts(63, false));
        assert_eq!(b["trusted_image_certificates"], json!(["c1"]));
        s.trusted_image_certificates = None;
        let b = render(&s, BodyKind::Update, &opts(63, false));
        assert_eq!(b["trusted_image_certificates"], Value::Null);

        for kind in [BodyKind::Update, BodyKind::Rebuild] {
            let b = render(&s, kind, &opts(70, true));
            assert!(b.get("server_groups").is_none());
            let b = render(&s, kind, &opts(71, true));
            assert_eq!(b["server_groups"], json!([]));
            // Before 2.75 update/rebuild leave out the show-only attributes.
            for k in ["OS-EXT-AZ:availability_zone", "config_drive", "host_status"] {
                assert!(b.get(k).is_none(), "{k} at 2.71");
            }
            // The key pair: rebuild shows it from 2.54, update from 2.75.
            assert_eq!(b.get("key_name").is_some(), kind == BodyKind::Rebuild);
            let b = render(&s, kind, &opts(75, true));
            for k in [
                "OS-EXT-AZ:availability_zone",
                "key_name",
                "host_status",
                "OS-EXT-SRV-ATTR:host",
                "os-extended-volumes:volumes_attached",
            ] {
                assert!(b.get(k).is_some(), "{k} at 2.75");
            }
            assert_eq!(b["addresses"]["net"][0]["OS-EXT-IPS:type"], "fixed");
            assert_eq!(
                b.get("OS-EXT-SRV-ATTR:user_data").is_some(),
                kind == BodyKind::Update
            );
        }
        let mut s = sample();
        s.key_name = Some("k".into());
        s.user_data = Some("aGk=".into());
        let b = render(&s, BodyKind::Rebuild, &opts(53, false));
        assert!(b.get("key_name").is_none() && b.get("user_data").is_none());
        let b = render(&s, BodyKind::Rebuild, &opts(54, false));
        assert_eq!(b["key_name"], "k");
        assert!(b.get("user_data").is_none());
        let b = render(&s, BodyKind::Rebuild, &opts(57, false));
        assert_eq!(b["user_data"], "aGk=");
        let b = render(&s, BodyKind::Update, &opts(57, false));
        assert!(b.get("key_name").is_none() && b.get("user_data").is_none());
    }
}
