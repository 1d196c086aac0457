//! The metadata trees and Nova's path semantics (`nova/api/metadata/base.py`):
//! `posixpath.normpath` on the path, `/openstack/...` for the OpenStack tree, anything
//! else is the EC2 tree (`/latest/...` = `/ec2/latest/...`), a directory prints as its
//! sorted entries one per line (sub-directories with a trailing `/`, `public-keys/0`
//! as `0=<key name>`), a list one item per line, a scalar as itself.

use std::collections::BTreeMap;

use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};

use crate::source::InstanceMetadata;

/// EC2 metadata versions (`VERSIONS` in Nova).
pub const EC2_VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

/// OpenStack metadata versions (`OPENSTACK_VERSIONS` in Nova): Folsom, Grizzly, Havana,
/// Liberty, Newton (two), Ocata, Rocky, Victoria, Epoxy.
pub const OPENSTACK_VERSIONS: &[&str] = &[
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "2020-10-14",
    "2025-04-04",
];

const GRIZZLY: &str = "2013-04-04";
const HAVANA: &str = "2013-10-17";
const LIBERTY: &str = "2015-10-15";
const NEWTON_ONE: &str = "2016-06-30";
const NEWTON_TWO: &str = "2016-10-06";
const VICTORIA: &str = "2020-10-14";

/// What a path resolves to.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `text/plain` body (listings, scalars, user data: raw bytes).
    Text(Vec<u8>),
    /// `application/json` body.
    Json(Vec<u8>),
    /// The password handler (GET reads, POST sets once).
    Password,
}

/// Settings the trees read.
#[derive(Clone, Debug)]
pub struct TreeOptions {
    /// Appended to the host name with a dot when not empty.
    pub dhcp_domain: String,
    /// Static vendor data.
    pub vendordata_static: Value,
    /// Today's date `YYYY-MM-DD`: OpenStack versions after it are not listed.
    pub today: String,
}

/// `posixpath.normpath`, returning the path's tokens after the root.
fn normpath_tokens(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for t in path.split('/') {
        match t {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            t => out.push(t),
        }
    }
    out
}

/// Whether a path normalises to `/` (the unauthenticated version list).
pub fn is_root(path: &str) -> bool {
    normpath_tokens(path).is_empty()
}

/// The root listing: EC2 versions + `latest`.
pub fn root_listing() -> Vec<u8> {
    let mut v: Vec<&str> = EC2_VERSIONS.to_vec();
    v.push("latest");
    v.join("\n").into_bytes()
}

fn at_least(versions: &[&str], required: &str, requested: &str) -> bool {
    let pos = |v: &str| versions.iter().position(|x| *x == v);
    matches!((pos(required), pos(requested)), (Some(a), Some(b)) if b >= a)
}

/// An EC2 tree node.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Dir(BTreeMap<String, Node>),
    List(Vec<String>),
    Scalar(Vec<u8>),
}

fn s(v: impl ToString) -> Node {
    Node::Scalar(v.to_string().into_bytes())
}

fn opt_s(v: Option<impl ToString>) -> Node {
    // Python prints None as "None".
    v.map(s).unwrap_or_else(|| s("None"))
}

impl Node {
    /// `ec2_md_print`.
    fn print(&self) -> Vec<u8> {
        match self {
            Node::Dir(m) => {
                let lines: Vec<String> = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "_name")
                    .map(|(k, v)| match v {
                        Node::Dir(sub) => match sub.get("_name") {
                            Some(Node::Scalar(n)) => String::from_utf8_lossy(n).into_owned(),
                            _ => format!("{k}/"),
                        },
                        _ => k.clone(),
                    })
                    .collect();
                lines.join("\n").into_bytes()
            }
            Node::List(l) => l.join("\n").into_bytes(),
            Node::Scalar(b) => b.clone(),
        }
    }
}

fn hostname(md: &InstanceMetadata, o: &TreeOptions) -> String {
    if o.dhcp_domain.is_empty() {
        md.hostname.clone()
    } else {
        format!("{}.{}", md.hostname, o.dhcp_domain)
    }
}

/// `get_ec2_metadata`: `None` for an unknown version.
fn ec2_tree(
    md: &InstanceMetadata,
    o: &TreeOptions,
    version: &str,
    address: Option<&str>,
) -> Option<Node> {
    let version = if version == "latest" {
        EC2_VERSIONS[EC2_VERSIONS.len() - 1]
    } else {
        version
    };
    if !EC2_VERSIONS.contains(&version) {
        return None;
    }
    let ok = |req: &str| at_least(EC2_VERSIONS, req, version);
    let host = hostname(md, o);
    let fixed = md
        .fixed_ips
        .iter()
        .find(|ip| ip.is_ipv4())
        .map(ToString::to_string);
    let floating = md
        .floating_ips
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut m: BTreeMap<String, Node> = BTreeMap::new();
    m.insert("ami-id".into(), s(&md.ami_id));
    m.insert("ami-launch-index".into(), s(md.launch_index));
    m.insert("ami-manifest-path".into(), s("FIXME"));
    m.insert("instance-id".into(), s(&md.ec2_instance_id));
    m.insert("hostname".into(), s(&host));
    m.insert(
        "local-ipv4".into(),
        opt_s(fixed.or(address.map(str::to_string))),
    );
    m.insert("reservation-id".into(), s(&md.reservation_id));
    m.insert(
        "security-groups".into(),
        Node::List(md.security_groups.clone()),
    );
    if let Some(k) = &md.keypair {
        let key = Node::Dir(BTreeMap::from([
            ("_name".to_string(), s(format!("0={}", k.name))),
            ("openssh-key".to_string(), s(&k.public_key)),
        ]));
        m.insert(
            "public-keys".into(),
            Node::Dir(BTreeMap::from([("0".to_string(), key)])),
        );
    }
    if ok("2007-01-19") {
        m.insert("local-hostname".into(), s(&host));
        m.insert("public-hostname".into(), s(&host));
        m.insert("public-ipv4".into(), s(floating));
    }
    if ok("2007-08-29") {
        m.insert("instance-type".into(), s(&md.flavor_name));
    }
    if ok("2007-12-15") {
        m.insert(
            "block-device-mapping".into(),
            Node::Dir(
                md.block_device_mapping
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v)))
                    .collect(),
            ),
        );
        if let Some(k) = &md.kernel_id {
            m.insert("kernel-id".into(), s(k));
        }
        if let Some(r) = &md.ramdisk_id {
            m.insert("ramdisk-id".into(), s(r));
        }
    }
    if ok("2008-02-01") {
        m.insert(
            "placement".into(),
            Node::Dir(BTreeMap::from([(
                "availability-zone".to_string(),
                opt_s(md.availability_zone.as_ref()),
            )])),
        );
    }
    if ok("2008-09-01") {
        m.insert("instance-action".into(), s("none"));
    }
    let mut data = BTreeMap::from([("meta-data".to_string(), Node::Dir(m))]);
    if let Some(u) = &md.user_data {
        data.insert("user-data".into(), Node::Scalar(u.clone()));
    }
    Some(Node::Dir(data))
}

/// `find_path_in_tree`.
fn find<'a>(mut node: &'a Node, tokens: &[&str]) -> Option<&'a Node> {
    for t in tokens {
        match node {
            Node::Dir(m) => node = m.get(*t)?,
            // Nova indexes a list or a string with the token and fails (a 500 there);
            // nothing lives below a leaf, so this is a 404 here.
            Node::List(_) | Node::Scalar(_) => return None,
        }
    }
    Some(node)
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// `_metadata_as_json` for an OpenStack version.
pub fn meta_data_json(md: &InstanceMetadata, o: &TreeOptions, version: &str) -> Value {
    let ok = |req: &str| at_least(OPENSTACK_VERSIONS, req, version);
    let mut m = serde_json::Map::new();
    m.insert("uuid".into(), json!(md.uuid));
    if !md.meta.is_empty() {
        m.insert("meta".into(), json!(md.meta));
    }
    if let Some(k) = &md.keypair {
        m.insert("public_keys".into(), json!(md.public_keys()));
        m.insert(
            "keys".into(),
            json!([{"name": k.name, "type": k.key_type, "data": k.public_key}]),
        );
    }
    m.insert("hostname".into(), json!(hostname(md, o)));
    m.insert("name".into(), json!(md.name));
    m.insert("launch_index".into(), json!(md.launch_index));
    m.insert("availability_zone".into(), json!(md.availability_zone));
    if ok(GRIZZLY) {
        let mut seed = [0u8; 512];
        rand::thread_rng().fill_bytes(&mut seed);
        m.insert(
            "random_seed".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(seed)),
        );
    }
    if ok(LIBERTY) {
        m.insert("project_id".into(), json!(md.project_id));
    }
    if ok(NEWTON_ONE) {
        m.insert("devices".into(), json!(md.devices));
    }
    if ok(VICTORIA) {
        m.insert("dedicated_cpus".into(), json!(md.dedicated_cpus));
    }
    Value::Object(m)
}

/// The OpenStack tree below a version: `None` = 404.
fn openstack_item(md: &InstanceMetadata, o: &TreeOptions, tokens: &[&str]) -> Option<Item> {
    let first = *tokens.first()?;
    if first == "content" {
        // Injected files (`content/NNNN`) are a config-drive feature rustack does not offer.
        return None;
    }
    let version = if first == "latest" {
        OPENSTACK_VERSIONS[OPENSTACK_VERSIONS.len() - 1]
    } else {
        OPENSTACK_VERSIONS.iter().copied().find(|v| *v == first)?
    };
    let ok = |req: &str| at_least(OPENSTACK_VERSIONS, req, version);
    let path = if tokens.len() == 1 {
        "version".to_string()
    } else {
        tokens[1..].join("/")
    };
    match path.as_str() {
        "version" => {
            let mut l = vec!["meta_data.json"];
            if md.user_data.is_some() {
                l.push("user_data");
            }
            if ok(GRIZZLY) {
                l.push("password");
            }
            if ok(HAVANA) {
                l.push("vendor_data.json");
            }
            if ok(LIBERTY) {
                l.push("network_data.json");
            }
            if ok(NEWTON_TWO) {
                l.push("vendor_data2.json");
            }
            Some(Item::Text(l.join("\n").into_bytes()))
        }
        "meta_data.json" => Some(Item::Json(json_bytes(&meta_data_json(md, o, version)))),
        "user_data" => md.user_data.clone().map(Item::Text),
        "password" if ok(GRIZZLY) => Some(Item::Password),
        "vendor_data.json" if ok(HAVANA) => Some(Item::Json(json_bytes(&o.vendordata_static))),
        "vendor_data2.json" if ok(NEWTON_TWO) => Some(Item::Json(json_bytes(
            &json!({"static": o.vendordata_static}),
        ))),
        // Nova leaves network_data.json as text/plain.
        "network_data.json" => Some(Item::Text(json_bytes(
            md.network_data.as_ref().unwrap_or(&json!({})),
        ))),
        _ => None,
    }
}

/// `InstanceMetadata.lookup`: the item at `path`, `None` for a 404. `address` is the
/// requester's address (`X-Forwarded-For`), EC2 `local-ipv4` when the instance has no
/// fixed IPv4.
pub fn lookup(
    md: &InstanceMetadata,
    o: &TreeOptions,
    path: &str,
    address: Option<&str>,
) -> Option<Item> {
    let mut tokens = normpath_tokens(path);
    if !matches!(tokens.first(), Some(&"ec2") | Some(&"openstack")) {
        tokens.insert(0, "ec2");
    }
    if tokens.len() == 1 {
        let l: Vec<&str> = if tokens[0] == "openstack" {
            OPENSTACK_VERSIONS
                .iter()
                .copied()
                .filter(|v| *v <= o.today.as_str())
                .chain(["latest"])
                .collect()
        } else {
            EC2_VERSIONS.iter().copied().chain(["latest"]).collect()
        };
        return Some(Item::Text(l.join("\n").into_bytes()));
    }
    if tokens[0] == "openstack" {
        return openstack_item(md, o, &tokens[1..]);
    }
    let tree = ec2_tree(md, o, tokens[1], address)?;
    find(&tree, &tokens[2..]).map(|n| Item::Text(n.print()))
}
