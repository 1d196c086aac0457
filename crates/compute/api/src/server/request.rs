//! Request bodies of the servers API, validated the way Nova's JSON schemas
//! (`nova/api/openstack/compute/schemas/servers.py`) and `parameter_types` do, per
//! microversion. Every rejection is a [`Invalid`] carrying Nova's 400 message.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

/// A request that fails validation (HTTP 400), with Nova's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type R<T> = Result<T, Invalid>;

fn invalid_field(field: &str, value: &Value, why: impl std::fmt::Display) -> Invalid {
    Invalid(format!(
        "Invalid input for field/attribute {field}. Value: {}. {why}",
        short(value)
    ))
}

fn short(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 300 {
        s.chars().take(300).collect::<String>() + "..."
    } else {
        s
    }
}

fn not_type(field: &str, v: &Value, ty: &str) -> Invalid {
    invalid_field(field, v, format!("{} is not of type '{ty}'", short_repr(v)))
}

fn short_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// Rejects keys of `obj` outside `allowed` (`additionalProperties: false`).
fn no_extra(obj: &Map<String, Value>, allowed: &[&str]) -> R<()> {
    let extra: Vec<&String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let list = extra
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if extra.len() == 1 { "was" } else { "were" };
    Err(Invalid(format!(
        "Additional properties are not allowed ({list} {verb} unexpected)"
    )))
}

/// Nova's `name` parameter type: a string of 1..=255 printable characters without
/// leading or trailing whitespace.
pub fn validate_name(field: &str, v: &Value) -> R<String> {
    let s = v.as_str().ok_or_else(|| not_type(field, v, "string"))?;
    let n = s.chars().count();
    if n == 0 {
        return Err(invalid_field(field, v, format!("'{s}' is too short")));
    }
    if n > 255 {
        return Err(invalid_field(field, v, format!("'{s}' is too long")));
    }
    if s.trim() != s {
        return Err(invalid_field(
            field,
            v,
            "An invalid 'name' value was provided. The name must be: printable characters. \
             Can not start or end with whitespace.",
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(invalid_field(
            field,
            v,
            "An invalid 'name' value was provided. The name must be: printable characters. \
             Can not start or end with whitespace.",
        ));
    }
    Ok(s.to_string())
}

/// Whether `s` looks like a UUID as oslo's `is_uuid_like` accepts it (dashes optional).
pub fn is_uuid_like(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && (s.len() == 32 || {
            let parts: Vec<usize> = s.split('-').map(str::len).collect();
            parts == [8, 4, 4, 4, 12]
        })
}

/// Canonical lowercase dashed form of a UUID-like string.
pub fn canonical_uuid(s: &str) -> String {
    let hex: String = s
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 32 {
        return s.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `s` is standard base64 (whitespace ignored, `=` padding only at the end).
pub fn is_base64(s: &str) -> bool {
    let cleaned: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !cleaned.len().is_multiple_of(4) {
        return false;
    }
    let pad = cleaned.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2
        && cleaned[..cleaned.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Nova's `boolean` parameter type.
pub fn parse_bool(field: &str, v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes" => Ok(true),
            "False" | "FALSE" | "false" | "0" | "OFF" | "Off" | "off" | "NO" | "No" | "no" => {
                Ok(false)
            }
            _ => Err(invalid_field(
                field,
                v,
                format!("{} is not one of the allowed values", short_repr(v)),
            )),
        },
        _ => Err(invalid_field(
            field,
            v,
            format!("{} is not one of the allowed values", short_repr(v)),
        )),
    }
}

/// Nova's `positive_integer`: an integer or a digit string, at least 1.
pub fn positive_int(field: &str, v: &Value) -> R<u32> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        _ => None,
    }
    .ok_or_else(|| not_type(field, v, "integer, string"))?;
    if n < 1 {
        return Err(invalid_field(
            field,
            v,
            format!("{n} is less than the minimum of 1"),
        ));
    }
    u32::try_from(n).map_err(|_| invalid_field(field, v, "too large"))
}

/// Server metadata: keys `^[a-zA-Z0-9-_:. ]{1,255}$`, string values of at most 255.
pub fn validate_metadata(field: &str, v: &Value) -> R<BTreeMap<String, String>> {
    let obj = v.as_object().ok_or_else(|| not_type(field, v, "object"))?;
    let mut out = BTreeMap::new();
    for (k, val) in obj {
        let key_ok = (1..=255).contains(&k.chars().count())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c));
        if !key_ok {
            return Err(invalid_field(
                field,
                v,
                format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
        let s = val.as_str().ok_or_else(|| not_type(field, val, "string"))?;
        if s.chars().count() > 255 {
            return Err(invalid_field(field, val, format!("'{s}' is too long")));
        }
        out.insert(k.clone(), s.to_string());
    }
    Ok(out)
}

fn access_ip(field: &str, v: &Value, v6: bool) -> R<String> {
    let s = v.as_str().ok_or_else(|| not_type(field, v, "string"))?;
    if s.is_empty() {
        return Ok(String::new());
    }
    // Stored in canonical form, as Nova's IP address fields normalise them
    // (`0000:...:babe:220.12.22.2` is shown as `::babe:dc0c:1602`).
    let normal = if v6 {
        s.parse::<Ipv6Addr>().ok().map(|a| a.to_string())
    } else {
        s.parse::<Ipv4Addr>().ok().map(|a| a.to_string())
    };
    normal.ok_or_else(|| {
        let kind = if v6 { "ipv6" } else { "ipv4" };
        invalid_field(field, v, format!("'{s}' is not a '{kind}'"))
    })
}

fn disk_config(v: &Value) -> R<String> {
    match v.as_str() {
        Some(s @ ("AUTO" | "MANUAL")) => Ok(s.to_string()),
        _ => Err(invalid_field(
            "OS-DCF:diskConfig",
            v,
            format!("{} is not one of ['AUTO', 'MANUAL']", short_repr(v)),
        )),
    }
}

fn description(v: &Value) -> R<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= 255 => {
            if s.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
            {
                return Err(invalid_field("description", v, "invalid characters"));
            }
            Ok(Some(s.clone()))
        }
        Value::String(s) => Err(invalid_field(
            "description",
            v,
            format!("'{s}' is too long"),
        )),
        _ => Err(not_type("description", v, "string, null")),
    }
}

/// One requested NIC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestedNetwork {
    /// Network id (`uuid`).
    pub network_id: Option<String>,
    /// An existing port to bind.
    pub port_id: Option<String>,
    /// A fixed IP to request on the network.
    pub fixed_ip: Option<IpAddr>,
    /// Device tag (2.42+).
    pub tag: Option<String>,
}

/// The `networks` request: explicit NICs, or (2.37+) `auto`/`none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Networks {
    /// Not given (before 2.37): every network the project may use, as Nova does when
    /// exactly one is available.
    Default,
    /// `"auto"`: get-me-a-network.
    Auto,
    /// `"none"`: no NIC.
    None,
    /// Explicit NICs.
    List(Vec<RequestedNetwork>),
}

/// A validated `POST /servers` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCreate {
    /// Display name.
    pub name: String,
    /// Image id (`None`: boot from volume, refused until block storage exists).
    pub image_ref: Option<String>,
    /// Flavor id as sent (looked up by the app layer; `-1` → 400 there).
    pub flavor_ref: String,
    /// Admin password (generated when absent).
    pub admin_pass: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Requested networks.
    pub networks: Networks,
    /// `AUTO` or `MANUAL`.
    pub disk_config: String,
    /// Access IPv4 (`""` when not given).
    pub access_ipv4: String,
    /// Access IPv6.
    pub access_ipv6: String,
    /// Requested availability zone (`zone`, `zone:host`, `zone::node`).
    pub availability_zone: Option<String>,
    /// Key pair name.
    pub key_name: Option<String>,
    /// Config drive requested.
    pub config_drive: bool,
    /// At least this many servers.
    pub min_count: u32,
    /// At most this many.
    pub max_count: u32,
    /// Return `{"reservation_id"}` instead of the server.
    pub return_reservation_id: bool,
    /// Security group names or ids (`default` when empty).
    pub security_groups: Vec<String>,
    /// Base64 user data, as sent.
    pub user_data: Option<String>,
    /// Description (2.19+).
    pub description: Option<String>,
    /// Tags (2.52+).
    pub tags: Vec<String>,
    /// Ids of the certificates trusted to sign the image (2.63+).
    pub trusted_certs: Option<Vec<String>>,
    /// Requested host (2.74+, admin).
    pub host: Option<String>,
    /// Requested hypervisor hostname (2.74+, admin).
    pub hypervisor_hostname: Option<String>,
    /// Hostname (2.90+).
    pub hostname: Option<String>,
    /// Scheduler hint `group`: the server group to join.
    pub group: Option<String>,
    /// Scheduler hints `different_host`.
    pub different_host: Vec<String>,
    /// Scheduler hints `same_host`.
    pub same_host: Vec<String>,
    /// Requested volumes (`block_device_mapping_v2`, or the legacy
    /// `block_device_mapping` converted), destination `volume` only; the image-backed
    /// root (`image` -> `local`) is not listed.
    pub block_devices: Vec<BlockDeviceRequest>,
}

/// One requested volume of a server create (`destination_type = volume`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockDeviceRequest {
    /// `image`, `volume`, `snapshot` or `blank`.
    pub source_type: String,
    /// The source's id (image, volume or snapshot; none for `blank`).
    pub uuid: Option<String>,
    /// Boot order (`Some(0)`: the root disk).
    pub boot_index: Option<i64>,
    /// GiB of the volume to create (image/snapshot/blank sources).
    pub volume_size: Option<i64>,
    /// Delete the volume with the server.
    pub delete_on_termination: bool,
    /// Volume type of the volume to create (2.67).
    pub volume_type: Option<String>,
    /// Device tag (2.32, 2.42+).
    pub tag: Option<String>,
    /// The requested device name (advisory).
    pub device_name: Option<String>,
}

const BDM_V2_KEYS: &[&str] = &[
    "source_type",
    "destination_type",
    "uuid",
    "image_id",
    "boot_index",
    "volume_size",
    "delete_on_termination",
    "device_name",
    "disk_bus",
    "device_type",
    "guest_format",
    "no_device",
    "connection_info",
    "snapshot_id",
    "volume_id",
    "tag",
    "volume_type",
    "encrypted",
    "encryption_secret_uuid",
    "encryption_format",
    "encryption_options",
];

const BDM_V1_KEYS: &[&str] = &[
    "virtual",
    "volume_id",
    "snapshot_id",
    "volume_size",
    "device_name",
    "delete_on_termination",
    "no_device",
    "connection_info",
];

fn bool_like(field: &str, v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
            "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
            _ => Err(invalid_field(
                field,
                v,
                format!("{} is not of type 'boolean'", short_repr(v)),
            )),
        },
        _ => Err(not_type(field, v, "boolean")),
    }
}

fn int_like(field: &str, v: &Value, min: i64) -> R<Option<i64>> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= min => Ok(Some(n)),
        Some(_) => Err(invalid_field(
            field,
            v,
            format!("{} is less than the minimum of {min}", short_repr(v)),
        )),
        None => Err(invalid_field(
            field,
            v,
            format!(
                "{} is not of type 'integer', 'string', 'null'",
                short_repr(v)
            ),
        )),
    }
}

fn bdm_invalid(why: &str) -> Invalid {
    Invalid(format!("Block Device Mapping is Invalid: {why}"))
}

/// Parses `block_device_mapping_v2` / `block_device_mapping` of a create body (Nova's
/// schema, `BlockDeviceDict.from_api` and `_validate_bdm` checks): the volumes to
/// attach, boot sequence checked.
fn parse_block_devices(
    s: &Map<String, Value>,
    minor: u32,
    image_ref: Option<&str>,
) -> R<Vec<BlockDeviceRequest>> {
    if s.contains_key("block_device_mapping") && s.contains_key("block_device_mapping_v2") {
        return Err(Invalid(
            "Using different block_device_mapping syntaxes is not allowed in the same request."
                .into(),
        ));
    }
    let mut out = Vec::new();
    let mut boot_indexes: Vec<i64> = Vec::new();
    if let Some(v) = s.get("block_device_mapping_v2") {
        let key = "block_device_mapping_v2";
        let items = v.as_array().ok_or_else(|| not_type(key, v, "array"))?;
        for it in items {
            let o = it.as_object().ok_or_else(|| not_type(key, it, "object"))?;
            let mut allowed: Vec<&str> = BDM_V2_KEYS.to_vec();
            if !(minor == 32 || minor >= 42) {
                allowed.retain(|k| *k != "tag");
            }
            if minor < 67 {
                allowed.retain(|k| *k != "volume_type");
            }
            if minor < 94 {
                allowed.retain(|k| !k.starts_with("encrypt"));
            }
            no_extra(o, &allowed)?;
            let tag = match o.get("tag") {
                None => None,
                Some(t) => {
                    let ts = t.as_str().ok_or_else(|| not_type("tag", t, "string"))?;
                    if !valid_device_tag(ts) {
                        return Err(invalid_field(
                            "tag",
                            t,
                            format!("'{ts}' is not a valid tag"),
                        ));
                    }
                    Some(ts.to_string())
                }
            };
            let str_enum = |k: &str, allowed: &[&str]| -> R<Option<String>> {
                match o.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(v @ Value::String(x)) => {
                        if allowed.contains(&x.as_str()) {
                            Ok(Some(x.clone()))
                        } else {
                            Err(invalid_field(
                                k,
                                v,
                                format!("'{x}' is not one of {allowed:?}"),
                            ))
                        }
                    }
                    Some(v) => Err(not_type(k, v, "string")),
                }
            };
            let src = str_enum("source_type", &["volume", "image", "snapshot", "blank"])?;
            let dst = str_enum("destination_type", &["local", "volume"])?;
            let uuid = match o.get("uuid") {
                None | Some(Value::Null) => None,
                Some(v @ Value::String(x)) => {
                    let ok = !x.is_empty()
                        && x.len() <= 255
                        && x.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                    if !ok {
                        return Err(invalid_field(
                            "uuid",
                            v,
                            format!("'{x}' does not match '^[a-zA-Z0-9._-]*$'"),
                        ));
                    }
                    Some(x.clone())
                }
                Some(v) => return Err(not_type("uuid", v, "string")),
            };
            let boot_index = match o.get("boot_index") {
                None => None,
                Some(v) => int_like("boot_index", v, i64::MIN)?,
            };
            let volume_size = match o.get("volume_size") {
                None => None,
                Some(v) => int_like("volume_size", v, 1)?,
            };
            let delete_on_termination = match o.get("delete_on_termination") {
                None => false,
                Some(v) => bool_like("delete_on_termination", v)?,
            };
            let volume_type = match o.get("volume_type") {
                None | Some(Value::Null) => None,
                Some(Value::String(x)) if x.len() <= 255 => Some(x.clone()),
                Some(v) => return Err(not_type("volume_type", v, "string")),
            };
            let device_name = o
                .get("device_name")
                .and_then(Value::as_str)
                .map(str::to_string);
            if o.get("no_device")
                .is_some_and(|v| v.as_bool() == Some(true))
            {
                continue;
            }
            let src = src.ok_or_else(|| bdm_invalid("Missing device source type"))?;
            let dst =
                dst.unwrap_or_else(|| if src == "image" { "local" } else { "volume" }.to_string());
            if let Some(b) = boot_index.filter(|b| *b >= 0) {
                boot_indexes.push(b);
            }
            if dst == "local" {
                match src.as_str() {
                    // The image root (the server's imageRef) or an ephemeral/swap disk
                    // from the flavor.
                    "image" => {
                        if boot_index != Some(0) {
                            return Err(bdm_invalid(
                                "Mapping image to local is not supported.",
                            ));
                        }
                        continue;
                    }
                    "blank" => {
                        return Err(bdm_invalid(
                            "local blank devices (ephemeral or swap disks) are not supported by this cloud.",
                        ))
                    }
                    _ => {
                        return Err(bdm_invalid(&format!(
                            "source {src} cannot have a local destination."
                        )))
                    }
                }
            }
            if src != "blank" && uuid.is_none() {
                return Err(bdm_invalid("Missing device UUID."));
            }
            if src == "blank" && volume_size.is_none() {
                return Err(bdm_invalid("Blank volumes need a volume_size."));
            }
            out.push(BlockDeviceRequest {
                source_type: src,
                uuid,
                boot_index,
                volume_size,
                delete_on_termination,
                volume_type,
                tag,
                device_name,
            });
        }
    }
    if let Some(v) = s.get("block_device_mapping") {
        let key = "block_device_mapping";
        let items = v.as_array().ok_or_else(|| not_type(key, v, "array"))?;
        for it in items {
            let o = it.as_object().ok_or_else(|| not_type(key, it, "object"))?;
            no_extra(o, BDM_V1_KEYS)?;
            if o.get("no_device")
                .is_some_and(|v| v.as_bool() == Some(true))
            {
                continue;
            }
            let id = |k: &str| o.get(k).and_then(Value::as_str).filter(|x| !x.is_empty());
            let (src, uuid) = match (id("volume_id"), id("snapshot_id")) {
                (Some(v), _) => ("volume", v.to_string()),
                (None, Some(sn)) => ("snapshot", sn.to_string()),
                (None, None) => {
                    return Err(bdm_invalid(
                        "a legacy mapping needs volume_id or snapshot_id.",
                    ))
                }
            };
            let device_name = id("device_name").map(str::to_string);
            // Legacy: the device named like the root (`vda`) is the boot volume.
            let is_root = device_name
                .as_deref()
                .map(|d| d.trim_start_matches("/dev/"))
                .is_some_and(|d| d == "vda" || d == "sda" || d == "xvda" || d == "hda");
            let boot_index = (is_root || (image_ref.is_none() && out.is_empty())).then_some(0);
            if let Some(b) = boot_index {
                boot_indexes.push(b);
            }
            out.push(BlockDeviceRequest {
                source_type: src.into(),
                uuid: Some(uuid),
                boot_index,
                volume_size: match o.get("volume_size") {
                    None => None,
                    Some(v) => int_like("volume_size", v, 1)?,
                },
                delete_on_termination: match o.get("delete_on_termination") {
                    None => false,
                    Some(v) => bool_like("delete_on_termination", v)?,
                },
                volume_type: None,
                tag: None,
                device_name,
            });
        }
    }
    // The image root counts as boot index 0 when an image is given.
    let image_root = image_ref.is_some() && !out.iter().any(|b| b.boot_index == Some(0));
    if image_root {
        boot_indexes.push(0);
    }
    boot_indexes.sort_unstable();
    boot_indexes.dedup();
    let sequential = boot_indexes.iter().enumerate().all(|(n, b)| *b == n as i64);
    let volume_root = out.iter().filter(|b| b.boot_index == Some(0)).count();
    if !sequential || volume_root > 1 || (image_root && volume_root > 0) {
        return Err(bdm_invalid(
            "Boot sequence for the instance and image/block device mapping combination is not valid.",
        ));
    }
    Ok(out)
}

/// Nova's `tag` parameter type: 1-60 characters without `/` or `,`.
pub fn valid_device_tag(t: &str) -> bool {
    (1..=60).contains(&t.chars().count()) && !t.contains('/') && !t.contains(',')
}

fn networks_list(v: &Value, minor: u32) -> R<Vec<RequestedNetwork>> {
    let items = v
        .as_array()
        .ok_or_else(|| not_type("networks", v, "array"))?;
    let mut out = Vec::new();
    for item in items {
        let obj = item
            .as_object()
            .ok_or_else(|| not_type("networks", item, "object"))?;
        let mut allowed = vec!["fixed_ip", "port", "uuid"];
        // Nova: 2.32-2.36 (schemas create_v232/v233), dropped at 2.37, back at 2.42.
        if (32..=36).contains(&minor) || minor >= 42 {
            allowed.push("tag");
        }
        no_extra(obj, &allowed)?;
        let mut n = RequestedNetwork::default();
        if let Some(u) = obj.get("uuid") {
            let s = u.as_str().ok_or_else(|| not_type("uuid", u, "string"))?;
            if !is_uuid_like(s) {
                if minor >= 37 {
                    return Err(invalid_field("uuid", u, format!("'{s}' is not a 'uuid'")));
                }
                return Err(Invalid(format!(
                    "Bad networks format: network uuid is not in proper format ({s})"
                )));
            }
            n.network_id = Some(canonical_uuid(s));
        }
        if let Some(p) = obj.get("port") {
            match p {
                Value::Null => {}
                Value::String(s) if is_uuid_like(s) => n.port_id = Some(canonical_uuid(s)),
                Value::String(s) => {
                    return Err(invalid_field("port", p, format!("'{s}' is not a 'uuid'")))
                }
                _ => return Err(not_type("port", p, "string, null")),
            }
        }
        if let Some(ip) = obj.get("fixed_ip") {
            match ip {
                Value::Null => {}
                Value::String(s) => {
                    let a = s
                        .parse::<IpAddr>()
                        .map_err(|_| Invalid(format!("Invalid fixed IP address ({s})")))?;
                    n.fixed_ip = Some(a);
                }
                _ => return Err(not_type("fixed_ip", ip, "string")),
            }
        }
        if let Some(t) = obj.get("tag") {
            let s = t.as_str().ok_or_else(|| not_type("tag", t, "string"))?;
            if !valid_device_tag(s) {
                return Err(invalid_field("tag", t, format!("'{s}' is not a valid tag")));
            }
            n.tag = Some(s.to_string());
        }
        if n.port_id.is_some() && n.fixed_ip.is_some() {
            // Nova's message when a port and a fixed IP are both given.
            return Err(Invalid(
                "Specified Fixed IP 'fixed_ip' cannot be used with port 'port': the two \
                 cannot be specified together."
                    .into(),
            ));
        }
        if n.port_id.is_none() && n.network_id.is_none() {
            return Err(Invalid(
                "Bad networks format: network uuid is not in proper format ()".into(),
            ));
        }
        out.push(n);
    }
    Ok(out)
}

/// Nova's `trusted_certs` parameter type (2.63): `null`, or 1-50 unique non-empty
/// strings (the ids of the certificates that may sign the image).
fn trusted_certs(v: &Value) -> R<Option<Vec<String>>> {
    const KEY: &str = "trusted_image_certificates";
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        other => return Err(not_type(KEY, other, "array, null")),
    };
    if items.is_empty() {
        return Err(invalid_field(KEY, v, "[] is too short"));
    }
    if items.len() > 50 {
        return Err(invalid_field(KEY, v, format!("{} is too long", short(v))));
    }
    let mut out: Vec<String> = Vec::new();
    for it in items {
        let x = it.as_str().ok_or_else(|| not_type(KEY, it, "string"))?;
        if x.is_empty() {
            return Err(invalid_field(KEY, it, "'' is too short"));
        }
        if out.iter().any(|o| o == x) {
            return Err(invalid_field(
                KEY,
                v,
                format!("{} has non-unique elements", short(v)),
            ));
        }
        out.push(x.to_string());
    }
    Ok(Some(out))
}

/// Nova's `user_data` (base64, at most 65535 characters).
fn user_data(v: &Value) -> R<String> {
    let u = v
        .as_str()
        .ok_or_else(|| not_type("user_data", v, "string"))?;
    if u.len() > 65535 {
        return Err(invalid_field("user_data", v, "is too long"));
    }
    if !is_base64(u) {
        return Err(invalid_field(
            "user_data",
            v,
            format!("'{u}' is not a 'base64'"),
        ));
    }
    Ok(u.to_string())
}

impl ServerCreate {
    /// Validates a `POST /servers` body at microversion 2.`minor`.
    pub fn parse(body: &Value, minor: u32) -> R<ServerCreate> {
        let top = body
            .as_object()
            .ok_or_else(|| Invalid("The request body is not a JSON object.".into()))?;
        no_extra(
            top,
            &["server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"],
        )?;
        let sv = top
            .get("server")
            .ok_or_else(|| Invalid("'server' is a required property".into()))?;
        let s = sv
            .as_object()
            .ok_or_else(|| not_type("server", sv, "object"))?;
        let mut allowed = vec![
            "name",
            "imageRef",
            "flavorRef",
            "adminPass",
            "metadata",
            "networks",
            "OS-DCF:diskConfig",
            "accessIPv4",
            "accessIPv6",
            "availability_zone",
            "block_device_mapping",
            "block_device_mapping_v2",
            "config_drive",
            "key_name",
            "min_count",
            "max_count",
            "return_reservation_id",
            "security_groups",
            "user_data",
        ];
        if minor < 57 {
            allowed.push("personality");
        }
        if minor >= 19 {
            allowed.push("description");
        }
        if minor >= 52 {
            allowed.push("tags");
        }
        if minor >= 63 {
            allowed.push("trusted_image_certificates");
        }
        if minor >= 74 {
            allowed.extend(["host", "hypervisor_hostname"]);
        }
        if minor >= 90 {
            allowed.push("hostname");
        }
        no_extra(s, &allowed)?;
        for req in ["name", "flavorRef"] {
            if !s.contains_key(req) {
                return Err(Invalid(format!("'{req}' is a required property")));
            }
        }
        if minor >= 37 && !s.contains_key("networks") {
            return Err(Invalid("'networks' is a required property".into()));
        }
        let name = validate_name("name", &s["name"])?;
        let image_ref = match s.get("imageRef") {
            None => None,
            Some(v @ Value::String(x)) => {
                if x.is_empty() {
                    None
                } else if is_uuid_like(x) {
                    Some(canonical_uuid(x))
                } else {
                    return Err(invalid_field(
                        "imageRef",
                        v,
                        format!("'{x}' is not a 'uuid'"),
                    ));
                }
            }
            Some(v) => return Err(not_type("imageRef", v, "string")),
        };
        let flavor_ref = match &s["flavorRef"] {
            Value::String(x) if !x.is_empty() => x.clone(),
            Value::Number(n) => n.to_string(),
            v => {
                return Err(invalid_field(
                    "flavorRef",
                    v,
                    "is not a valid flavor reference",
                ))
            }
        };
        let admin_pass = match s.get("adminPass") {
            None => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(v) => return Err(not_type("adminPass", v, "string")),
        };
        let metadata = match s.get("metadata") {
            None => BTreeMap::new(),
            Some(v) => validate_metadata("metadata", v)?,
        };
        let networks = match s.get("networks") {
            None => Networks::Default,
            Some(Value::String(x)) if minor >= 37 && x == "auto" => Networks::Auto,
            Some(Value::String(x)) if minor >= 37 && x == "none" => Networks::None,
            Some(v @ Value::String(_)) if minor >= 37 => {
                return Err(invalid_field(
                    "networks",
                    v,
                    format!(
                        "{} is not valid under any of the given schemas",
                        short_repr(v)
                    ),
                ))
            }
            Some(v) => Networks::List(networks_list(v, minor)?),
        };
        let disk_config = match s.get("OS-DCF:diskConfig") {
            None => "MANUAL".to_string(),
            Some(v) => disk_config(v)?,
        };
        let access_ipv4 = match s.get("accessIPv4") {
            None => String::new(),
            Some(v) => access_ip("accessIPv4", v, false)?,
        };
        let access_ipv6 = match s.get("accessIPv6") {
            None => String::new(),
            Some(v) => access_ip("accessIPv6", v, true)?,
        };
        let availability_zone = s
            .get("availability_zone")
            .map(|v| validate_name("availability_zone", v))
            .transpose()?;
        let key_name = s
            .get("key_name")
            .map(|v| validate_name("key_name", v))
            .transpose()?;
        let config_drive = s
            .get("config_drive")
            .map(|v| parse_bool("config_drive", v))
            .transpose()?
            .unwrap_or(false);
        let min_count = s
            .get("min_count")
            .map(|v| positive_int("min_count", v))
            .transpose()?;
        let max_count = s
            .get("max_count")
            .map(|v| positive_int("max_count", v))
            .transpose()?;
        let (min_count, max_count) = match (min_count, max_count) {
            (None, None) => (1, 1),
            (Some(a), None) => (a, a),
            (None, Some(b)) => (1, b),
            (Some(a), Some(b)) => (a, b),
        };
        if min_count > max_count {
            return Err(Invalid("min_count must be <= max_count".into()));
        }
        let return_reservation_id = s
            .get("return_reservation_id")
            .map(|v| parse_bool("return_reservation_id", v))
            .transpose()?
            .unwrap_or(false);
        let mut security_groups = Vec::new();
        if let Some(v) = s.get("security_groups") {
            let items = v
                .as_array()
                .ok_or_else(|| not_type("security_groups", v, "array"))?;
            for it in items {
                let o = it
                    .as_object()
                    .ok_or_else(|| not_type("security_groups", it, "object"))?;
                no_extra(o, &["name"])?;
                if let Some(n) = o.get("name") {
                    let n = validate_name("name", n)?;
                    if !security_groups.contains(&n) {
                        security_groups.push(n);
                    }
                }
            }
        }
        let user_data = s.get("user_data").map(user_data).transpose()?;
        let trusted_certs = match s.get("trusted_image_certificates") {
            None => None,
            Some(v) => trusted_certs(v)?,
        };
        let description = match s.get("description") {
            None => None,
            Some(v) => description(v)?,
        };
        let mut tags = Vec::new();
        if let Some(v) = s.get("tags") {
            let items = v.as_array().ok_or_else(|| not_type("tags", v, "array"))?;
            if items.len() > 50 {
                return Err(invalid_field("tags", v, "is too long"));
            }
            for t in items {
                let x = t.as_str().ok_or_else(|| not_type("tags", t, "string"))?;
                if x.is_empty() || x.chars().count() > 60 || x.contains('/') || x.contains(',') {
                    return Err(invalid_field("tags", t, "is not a valid tag"));
                }
                tags.push(x.to_string());
            }
        }
        let opt_name = |k: &str| s.get(k).map(|v| validate_name(k, v)).transpose();
        let host = opt_name("host")?;
        let hypervisor_hostname = opt_name("hypervisor_hostname")?;
        let hostname = match s.get("hostname") {
            None => None,
            Some(v) => {
                let h = v
                    .as_str()
                    .ok_or_else(|| not_type("hostname", v, "string"))?;
                let ok = (1..=63).contains(&h.len())
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                    && !h.starts_with('-');
                if !ok {
                    return Err(invalid_field("hostname", v, "is not a valid hostname"));
                }
                Some(h.to_string())
            }
        };
        let block_devices = parse_block_devices(s, minor, image_ref.as_deref())?;
        if image_ref.is_none() && !block_devices.iter().any(|b| b.boot_index == Some(0)) {
            return Err(Invalid("Missing imageRef attribute".into()));
        }
        // Scheduler hints (`additionalProperties: true`): only the ones acted upon
        // are read; unknown hints are ignored, as upstream.
        let mut group = None;
        let mut different_host = Vec::new();
        let mut same_host = Vec::new();
        for hk in ["os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"] {
            let Some(h) = top.get(hk) else { continue };
            let h = h.as_object().ok_or_else(|| not_type(hk, h, "object"))?;
            if let Some(g) = h.get("group") {
                let gs = g.as_str().ok_or_else(|| not_type("group", g, "string"))?;
                if !is_uuid_like(gs) {
                    return Err(invalid_field("group", g, format!("'{gs}' is not a 'uuid'")));
                }
                group = Some(canonical_uuid(gs));
            }
            for (k, dst) in [
                ("different_host", &mut different_host),
                ("same_host", &mut same_host),
            ] {
                match h.get(k) {
                    None => {}
                    Some(Value::String(x)) => dst.push(x.clone()),
                    Some(Value::Array(a)) => {
                        for x in a {
                            let x = x.as_str().ok_or_else(|| not_type(k, x, "string"))?;
                            dst.push(x.to_string());
                        }
                    }
                    Some(v) => return Err(not_type(k, v, "string, array")),
                }
            }
        }
        Ok(ServerCreate {
            name,
            image_ref,
            flavor_ref,
            admin_pass,
            metadata,
            networks,
            disk_config,
            access_ipv4,
            access_ipv6,
            availability_zone,
            key_name,
            config_drive,
            min_count,
            max_count,
            return_reservation_id,
            security_groups,
            user_data,
            description,
            tags,
            trusted_certs,
            host,
            hypervisor_hostname,
            hostname,
            group,
            different_host,
            same_host,
            block_devices,
        })
    }
}

/// A validated `PUT /servers/{id}` body: only the fields present are changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerUpdate {
    /// New name.
    pub name: Option<String>,
    /// New access IPv4.
    pub access_ipv4: Option<String>,
    /// New access IPv6.
    pub access_ipv6: Option<String>,
    /// New disk config.
    pub disk_config: Option<String>,
    /// New description (`Some(None)` clears it; 2.19+).
    pub description: Option<Option<String>>,
    /// New hostname (2.90+).
    pub hostname: Option<String>,
}

impl ServerUpdate {
    /// Validates a `PUT /servers/{id}` body at 2.`minor`.
    pub fn parse(body: &Value, minor: u32) -> R<ServerUpdate> {
        let top = body
            .as_object()
            .ok_or_else(|| Invalid("The request body is not a JSON object.".into()))?;
        no_extra(top, &["server"])?;
        let sv = top
            .get("server")
            .ok_or_else(|| Invalid("'server' is a required property".into()))?;
        let s = sv
            .as_object()
            .ok_or_else(|| not_type("server", sv, "object"))?;
        let mut allowed = vec!["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
        if minor >= 19 {
            allowed.push("description");
        }
        if minor >= 90 {
            allowed.push("hostname");
        }
        no_extra(s, &allowed)?;
        Ok(ServerUpdate {
            name: s
                .get("name")
                .map(|v| validate_name("name", v))
                .transpose()?,
            access_ipv4: s
                .get("accessIPv4")
                .map(|v| access_ip("accessIPv4", v, false))
                .transpose()?,
            access_ipv6: s
                .get("accessIPv6")
                .map(|v| access_ip("accessIPv6", v, true))
                .transpose()?,
            disk_config: s.get("OS-DCF:diskConfig").map(disk_config).transpose()?,
            description: s.get("description").map(description).transpose()?,
            hostname: s
                .get("hostname")
                .map(|v| validate_name("hostname", v))
                .transpose()?,
        })
    }
}

/// A validated `rebuild` action body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rebuild {
    /// The image to rebuild from.
    pub image_ref: String,
    /// New name.
    pub name: Option<String>,
    /// New admin password (generated when absent).
    pub admin_pass: Option<String>,
    /// Replacement metadata.
    pub metadata: Option<BTreeMap<String, String>>,
    /// New access IPv4.
    pub access_ipv4: Option<String>,
    /// New access IPv6.
    pub access_ipv6: Option<String>,
    /// New disk config.
    pub disk_config: Option<String>,
    /// New description (2.19+).
    pub description: Option<Option<String>>,
    /// New key pair (2.54+; `Some(None)` unsets).
    pub key_name: Option<Option<String>>,
    /// New user data (2.57+).
    pub user_data: Option<Option<String>>,
    /// New trusted image certificates (2.63+; `Some(None)` unsets).
    pub trusted_certs: Option<Option<Vec<String>>>,
}

impl Rebuild {
    /// Validates the value of `{"rebuild": ...}` at 2.`minor`.
    pub fn parse(v: &Value, minor: u32) -> R<Rebuild> {
        let s = v
            .as_object()
            .ok_or_else(|| not_type("rebuild", v, "object"))?;
        let mut allowed = vec![
            "imageRef",
            "name",
            "adminPass",
            "metadata",
            "preserve_ephemeral",
            "OS-DCF:diskConfig",
            "accessIPv4",
            "accessIPv6",
        ];
        if minor < 57 {
            allowed.push("personality");
        }
        if minor >= 19 {
            allowed.push("description");
        }
        if minor >= 54 {
            allowed.push("key_name");
        }
        if minor >= 57 {
            allowed.push("user_data");
        }
        if minor >= 63 {
            allowed.push("trusted_image_certificates");
        }
        no_extra(s, &allowed)?;
        let image = s
            .get("imageRef")
            .ok_or_else(|| Invalid("'imageRef' is a required property".into()))?;
        let image_ref = match image.as_str() {
            Some(x) if is_uuid_like(x) => canonical_uuid(x),
            Some(x) => {
                return Err(invalid_field(
                    "imageRef",
                    image,
                    format!("'{x}' is not a 'uuid'"),
                ))
            }
            None => return Err(not_type("imageRef", image, "string")),
        };
        if let Some(p) = s.get("preserve_ephemeral") {
            parse_bool("preserve_ephemeral", p)?;
        }
        Ok(Rebuild {
            image_ref,
            name: s
                .get("name")
                .map(|v| validate_name("name", v))
                .transpose()?,
            admin_pass: match s.get("adminPass") {
                None => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(v) => return Err(not_type("adminPass", v, "string")),
            },
            metadata: s
                .get("metadata")
                .map(|v| validate_metadata("metadata", v))
                .transpose()?,
            access_ipv4: s
                .get("accessIPv4")
                .map(|v| access_ip("accessIPv4", v, false))
                .transpose()?,
            access_ipv6: s
                .get("accessIPv6")
                .map(|v| access_ip("accessIPv6", v, true))
                .transpose()?,
            disk_config: s.get("OS-DCF:diskConfig").map(disk_config).transpose()?,
            description: s.get("description").map(description).transpose()?,
            key_name: match s.get("key_name") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(v) => Some(Some(validate_name("key_name", v)?)),
            },
            user_data: match s.get("user_data") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(v @ Value::String(_)) => Some(Some(user_data(v)?)),
                Some(v) => return Err(not_type("user_data", v, "string, null")),
            },
            trusted_certs: s
                .get("trusted_image_certificates")
                .map(trusted_certs)
                .transpose()?,
        })
    }
}

/// A server action request (the single key of `POST /servers/{id}/action`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAction {
    /// `os-stop`.
    Stop,
    /// `os-start`.
    Start,
    /// `reboot` (`true`: HARD).
    Reboot { hard: bool },
    /// `rebuild`.
    Rebuild(Box<Rebuild>),
    /// `resize`.
    Resize {
        flavor_ref: String,
        disk_config: Option<String>,
    },
    /// `confirmResize`.
    ConfirmResize,
    /// `revertResize`.
    RevertResize,
    /// `pause`.
    Pause,
    /// `unpause`.
    Unpause,
    /// `suspend`.
    Suspend,
    /// `resume`.
    Resume,
    /// `lock` (reason at 2.73+).
    Lock { reason: Option<String> },
    /// `unlock`.
    Unlock,
    /// `createImage`.
    CreateImage {
        name: String,
        metadata: BTreeMap<String, String>,
    },
    /// `os-getConsoleOutput` (`None`: the whole log).
    ConsoleOutput { length: Option<usize> },
    /// `shelve` (any body, as Nova).
    Shelve,
    /// `shelveOffload` (any body).
    ShelveOffload,
    /// `unshelve`; `availability_zone` from 2.77 (only for a shelved offloaded server).
    Unshelve { availability_zone: Option<String> },
    /// `rescue` {adminPass?, rescue_image_ref?}.
    Rescue {
        admin_pass: Option<String>,
        rescue_image_ref: Option<String>,
    },
    /// `unrescue` (any body).
    Unrescue,
    /// `restore` of a soft-deleted server (any body).
    Restore,
    /// `forceDelete` (any body).
    ForceDelete,
    /// `createBackup` {name, backup_type, rotation, metadata?}.
    CreateBackup {
        name: String,
        backup_type: String,
        rotation: u32,
        metadata: BTreeMap<String, String>,
    },
}

/// Nova's `unshelve` body: anything before 2.77; from 2.77 `null` or
/// `{"availability_zone": <name>}` (required, nothing else).
fn parse_unshelve(v: &Value, minor: u32) -> R<Option<String>> {
    if minor < 77 {
        return Ok(None);
    }
    match v {
        Value::Null => Ok(None),
        Value::Object(o) => {
            no_extra(o, &["availability_zone"])?;
            let az = o
                .get("availability_zone")
                .ok_or_else(|| Invalid("'availability_zone' is a required property".into()))?;
            Ok(Some(validate_name("availability_zone", az)?))
        }
        _ => Err(not_type("unshelve", v, "object, null")),
    }
}

/// Nova's `createBackup` body: `name`, `backup_type` (string), `rotation` (a
/// non-negative integer, or a string of digits), `metadata`.
fn parse_backup(v: &Value) -> R<ServerAction> {
    let o = v
        .as_object()
        .ok_or_else(|| not_type("createBackup", v, "object"))?;
    no_extra(o, &["name", "backup_type", "rotation", "metadata"])?;
    let req = |k: &str| {
        o.get(k)
            .ok_or_else(|| Invalid(format!("'{k}' is a required property")))
    };
    let name = validate_name("name", req("name")?)?;
    let bt = req("backup_type")?;
    let backup_type = bt
        .as_str()
        .ok_or_else(|| not_type("backup_type", bt, "string"))?
        .to_string();
    let r = req("rotation")?;
    let rotation = match r {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        _ => None,
    }
    .and_then(|n| u32::try_from(n).ok())
    .ok_or_else(|| {
        invalid_field(
            "rotation",
            r,
            format!("{} does not match '^[0-9]+$'", short_repr(r)),
        )
    })?;
    let metadata = match o.get("metadata") {
        None => BTreeMap::new(),
        Some(m) => validate_metadata("metadata", m)?,
    };
    Ok(ServerAction::CreateBackup {
        name,
        backup_type,
        rotation,
        metadata,
    })
}

/// Nova's `rescue` body: `null` or `{adminPass?: string, rescue_image_ref?: uuid}`.
fn parse_rescue(v: &Value) -> R<(Option<String>, Option<String>)> {
    let o = match v {
        Value::Null => return Ok((None, None)),
        Value::Object(o) => o,
        _ => return Err(not_type("rescue", v, "object, null")),
    };
    no_extra(o, &["adminPass", "rescue_image_ref"])?;
    let admin_pass = match o.get("adminPass") {
        None => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(p) => return Err(not_type("adminPass", p, "string")),
    };
    let image = match o.get("rescue_image_ref") {
        None => None,
        Some(Value::String(i)) if is_uuid_like(i) => Some(canonical_uuid(i)),
        Some(i @ Value::String(_)) => {
            return Err(invalid_field(
                "rescue_image_ref",
                i,
                format!("{} is not a 'uuid'", short_repr(i)),
            ))
        }
        Some(i) => return Err(not_type("rescue_image_ref", i, "string")),
    };
    Ok((admin_pass, image))
}

fn null_or_empty(action: &str, v: &Value) -> R<()> {
    match v {
        Value::Null => Ok(()),
        Value::Object(o) if o.is_empty() => Ok(()),
        _ => Err(invalid_field(
            action,
            v,
            format!("{} is not of type 'null'", short_repr(v)),
        )),
    }
}

impl ServerAction {
    /// Parses an action body at 2.`minor`; `Ok(None)` for an action rustack does not
    /// know (the caller answers 400 as Nova does for an unknown action).
    pub fn parse(body: &Value, minor: u32) -> R<Option<ServerAction>> {
        let obj = body
            .as_object()
            .ok_or_else(|| Invalid("The request body is not a JSON object.".into()))?;
        if obj.len() != 1 {
            return Err(Invalid("There is no such action".into()));
        }
        let Some((name, v)) = obj.iter().next() else {
            return Err(Invalid("There is no such action".into()));
        };
        Ok(Some(match name.as_str() {
            "os-stop" => {
                null_or_empty(name, v)?;
                ServerAction::Stop
            }
            "os-start" => {
                null_or_empty(name, v)?;
                ServerAction::Start
            }
            "reboot" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| not_type("reboot", v, "object"))?;
                no_extra(o, &["type"])?;
                let t = o
                    .get("type")
                    .ok_or_else(|| Invalid("'type' is a required property".into()))?;
                let hard = match t.as_str() {
                    Some("HARD" | "Hard" | "hard") => true,
                    Some("SOFT" | "Soft" | "soft") => false,
                    _ => {
                        return Err(invalid_field(
                            "type",
                            t,
                            format!(
                                "{} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
                                short_repr(t)
                            ),
                        ))
                    }
                };
                ServerAction::Reboot { hard }
            }
            "rebuild" => ServerAction::Rebuild(Box::new(Rebuild::parse(v, minor)?)),
            "resize" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| not_type("resize", v, "object"))?;
                no_extra(o, &["flavorRef", "OS-DCF:diskConfig"])?;
                let f = o
                    .get("flavorRef")
                    .ok_or_else(|| Invalid("'flavorRef' is a required property".into()))?;
                let flavor_ref = match f {
                    Value::String(x) if !x.is_empty() => x.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(invalid_field(
                            "flavorRef",
                            f,
                            "is not a valid flavor reference",
                        ))
                    }
                };
                ServerAction::Resize {
                    flavor_ref,
                    disk_config: o.get("OS-DCF:diskConfig").map(disk_config).transpose()?,
                }
            }
            "confirmResize" => {
                null_or_empty(name, v)?;
                ServerAction::ConfirmResize
            }
            "revertResize" => {
                null_or_empty(name, v)?;
                ServerAction::RevertResize
            }
            "pause" => {
                null_or_empty(name, v)?;
                ServerAction::Pause
            }
            "unpause" => {
                null_or_empty(name, v)?;
                ServerAction::Unpause
            }
            "suspend" => {
                null_or_empty(name, v)?;
                ServerAction::Suspend
            }
            "resume" => {
                null_or_empty(name, v)?;
                ServerAction::Resume
            }
            "lock" => match v {
                Value::Null => ServerAction::Lock { reason: None },
                Value::Object(o) if minor >= 73 => {
                    no_extra(o, &["locked_reason"])?;
                    let reason = match o.get("locked_reason") {
                        None => None,
                        Some(Value::String(r)) if r.chars().count() <= 255 => Some(r.clone()),
                        Some(r) => return Err(invalid_field("locked_reason", r, "is not valid")),
                    };
                    ServerAction::Lock { reason }
                }
                Value::Object(o) if o.is_empty() => ServerAction::Lock { reason: None },
                _ => return Err(not_type("lock", v, "null")),
            },
            "unlock" => {
                null_or_empty(name, v)?;
                ServerAction::Unlock
            }
            "createImage" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| not_type("createImage", v, "object"))?;
                no_extra(o, &["name", "metadata"])?;
                let n = o
                    .get("name")
                    .ok_or_else(|| Invalid("'name' is a required property".into()))?;
                ServerAction::CreateImage {
                    name: validate_name("name", n)?,
                    metadata: match o.get("metadata") {
                        None => BTreeMap::new(),
                        Some(m) => {
                            let obj = m
                                .as_object()
                                .ok_or_else(|| not_type("metadata", m, "object"))?;
                            let mut out = BTreeMap::new();
                            for (k, val) in obj {
                                let s = match val {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                };
                                out.insert(k.clone(), s);
                            }
                            out
                        }
                    },
                }
            }
            "os-getConsoleOutput" => {
                let o = v
                    .as_object()
                    .ok_or_else(|| not_type("os-getConsoleOutput", v, "object"))?;
                no_extra(o, &["length"])?;
                let length = match o.get("length") {
                    None | Some(Value::Null) => None,
                    Some(l) => {
                        let n = match l {
                            Value::Number(n) => n.as_i64(),
                            Value::String(s) => s.parse::<i64>().ok(),
                            _ => None,
                        }
                        .ok_or_else(|| not_type("length", l, "integer, string, null"))?;
                        if n < -1 {
                            return Err(invalid_field(
                                "length",
                                l,
                                format!("{n} is less than the minimum of -1"),
                            ));
                        }
                        if n == -1 {
                            None
                        } else {
                            Some(usize::try_from(n).unwrap_or(usize::MAX))
                        }
                    }
                };
                ServerAction::ConsoleOutput { length }
            }
            // Nova validates none of these bodies (`{}` schemas).
            "shelve" => ServerAction::Shelve,
            "shelveOffload" => ServerAction::ShelveOffload,
            "unrescue" => ServerAction::Unrescue,
            "restore" => ServerAction::Restore,
            "forceDelete" => ServerAction::ForceDelete,
            "createBackup" => parse_backup(v)?,
            "unshelve" => ServerAction::Unshelve {
                availability_zone: parse_unshelve(v, minor)?,
            },
            "rescue" => {
                let (admin_pass, rescue_image_ref) = parse_rescue(v)?;
                ServerAction::Rescue {
                    admin_pass,
                    rescue_image_ref,
                }
            }
            _ => return Ok(None),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMG: &str = "6b0d4a5e-2a5c-4b0e-9a53-0d0a5e2c4b0e";

    #[test]
    fn shelve_and_rescue_bodies() {
        let p = |v: Value, minor| ServerAction::parse(&v, minor);
        // Nova validates none of these bodies.
        for name in ["shelve", "shelveOffload", "unrescue"] {
            assert!(p(json!({ name: null }), 1).unwrap().is_some());
            assert!(p(json!({ name: {"x": 1} }), 90).unwrap().is_some());
        }
        // unshelve: anything before 2.77; then null or {availability_zone}.
        assert_eq!(
            p(json!({"unshelve": {"availability_zone": "az"}}), 76).unwrap(),
            Some(ServerAction::Unshelve {
                availability_zone: None
            })
        );
        assert_eq!(
            p(json!({"unshelve": {"availability_zone": "az"}}), 77).unwrap(),
            Some(ServerAction::Unshelve {
                availability_zone: Some("az".into())
            })
        );
        assert_eq!(
            p(json!({"unshelve": null}), 77).unwrap(),
            Some(ServerAction::Unshelve {
                availability_zone: None
            })
        );
        for bad in [
            json!({"unshelve": {}}),
            json!({"unshelve": {"availability_zone": "az", "host": "h"}}),
            json!({"unshelve": {"availability_zone": ""}}),
            json!({"unshelve": "az"}),
        ] {
            assert!(p(bad.clone(), 77).is_err(), "{bad}");
        }
        // rescue: null or {adminPass?, rescue_image_ref? (uuid)}.
        assert_eq!(
            p(json!({"rescue": null}), 1).unwrap(),
            Some(ServerAction::Rescue {
                admin_pass: None,
                rescue_image_ref: None
            })
        );
        assert_eq!(
            p(
                json!({"rescue": {"adminPass": "pw", "rescue_image_ref": IMG.to_uppercase()}}),
                1
            )
            .unwrap(),
            Some(ServerAction::Rescue {
                admin_pass: Some("pw".into()),
                rescue_image_ref: Some(IMG.into())
            })
        );
        for bad in [
            json!({"rescue": {"rescue_image_ref": "nope"}}),
            json!({"rescue": {"adminPass": 1}}),
            json!({"rescue": {"other": 1}}),
            json!({"rescue": []}),
        ] {
            assert!(p(bad.clone(), 1).is_err(), "{bad}");
        }
    }

    fn create(server: Value) -> R<ServerCreate> {
        ServerCreate::parse(&json!({ "server": server }), 1)
    }

    #[test]
    fn block_device_mappings() {
        let vol = "11111111-2222-3333-4444-555555555555";
        // Boot from volume without an image.
        let c = create(json!({"name": "s", "imageRef": "", "flavorRef": "1",
            "block_device_mapping_v2": [{"source_type": "volume", "destination_type": "volume",
                "uuid": vol, "boot_index": "0", "delete_on_termination": "true"}]}))
        .unwrap();
        assert_eq!(c.image_ref, None);
        assert_eq!(c.block_devices.len(), 1);
        assert_eq!(c.block_devices[0].boot_index, Some(0));
        assert!(c.block_devices[0].delete_on_termination);
        // The image root (image -> local) is not a volume; a data volume is.
        let c = create(json!({"name": "s", "imageRef": IMG, "flavorRef": "1",
            "block_device_mapping_v2": [
                {"source_type": "image", "destination_type": "local", "uuid": IMG, "boot_index": 0},
                {"source_type": "blank", "destination_type": "volume", "volume_size": 1, "boot_index": -1}]}))
        .unwrap();
        assert_eq!(c.block_devices.len(), 1);
        assert_eq!(c.block_devices[0].source_type, "blank");
        // Legacy mapping: vda is the boot volume.
        let c = create(json!({"name": "s", "flavorRef": "1",
            "block_device_mapping": [{"volume_id": vol, "device_name": "vda"}]}))
        .unwrap();
        assert_eq!(c.block_devices[0].boot_index, Some(0));
        assert_eq!(c.block_devices[0].source_type, "volume");
        // Invalid: bad destination, gap in the boot sequence, two roots, no uuid,
        // no image and no root volume, both syntaxes.
        for bad in [
            json!({"block_device_mapping_v2": [{"source_type": "volume", "destination_type": "invalid", "uuid": vol}], "imageRef": IMG}),
            json!({"block_device_mapping_v2": [{"source_type": "volume", "destination_type": "volume", "uuid": vol, "boot_index": 2}], "imageRef": IMG}),
            json!({"block_device_mapping_v2": [
                {"source_type": "volume", "destination_type": "volume", "uuid": vol, "boot_index": 0},
                {"source_type": "blank", "destination_type": "volume", "volume_size": 1, "boot_index": 0}]}),
            json!({"block_device_mapping_v2": [{"source_type": "volume", "destination_type": "volume", "boot_index": 0}]}),
            json!({"block_device_mapping_v2": [{"source_type": "volume", "destination_type": "volume", "uuid": vol, "boot_index": 1}]}),
            json!({"block_device_mapping": [{"volume_id": vol}], "block_device_mapping_v2": [], "imageRef": IMG}),
        ] {
            let mut srv = bad.clone();
            srv["name"] = json!("s");
            srv["flavorRef"] = json!("1");
            assert!(create(srv).is_err(), "{bad}");
        }
        // volume_type needs 2.67.
        let body = json!({"server": {"name": "s", "flavorRef": "1", "networks": "none", "block_device_mapping_v2": [
            {"source_type": "blank", "destination_type": "volume", "volume_size": 1, "boot_index": 0, "volume_type": "t"}]}});
        assert!(ServerCreate::parse(&body, 66).is_err());
        let c = ServerCreate::parse(&body, 67).unwrap();
        assert_eq!(c.block_devices[0].volume_type.as_deref(), Some("t"));
    }

    #[test]
    fn minimal_create() {
        let c = create(json!({"name": "s1", "imageRef": IMG, "flavorRef": "1"})).unwrap();
        assert_eq!(c.name, "s1");
        assert_eq!(c.image_ref.as_deref(), Some(IMG));
        assert_eq!((c.min_count, c.max_count), (1, 1));
        assert_eq!(c.networks, Networks::Default);
        assert_eq!(c.disk_config, "MANUAL");
    }

    #[test]
    fn tempest_negatives_are_400() {
        let bad = [
            json!({"name": 12345, "imageRef": IMG, "flavorRef": "1"}),
            json!({"name": "a".repeat(256), "imageRef": IMG, "flavorRef": "1"}),
            json!({"name": "", "imageRef": IMG, "flavorRef": "1"}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "metadata": {"k": "v".repeat(256)}}),
            json!({"name": "s", "imageRef": -1, "flavorRef": "1"}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "accessIPv6": "notvalid"}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "accessIPv4": "1.2.3"}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1",
                   "networks": [{"uuid": "a-b-c-d-e-f-g-h-i-j", "fixed_ip": "10.0.0.1"}]}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "bogus": 1}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "min_count": 0}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "min_count": 3, "max_count": 2}),
            json!({"name": "s", "imageRef": IMG, "flavorRef": "1", "user_data": "!!!"}),
            json!({"name": " s", "imageRef": IMG, "flavorRef": "1"}),
            json!({"name": "s", "flavorRef": "1"}),
            json!({"name": "s", "imageRef": IMG}),
        ];
        for b in bad {
            assert!(create(b.clone()).is_err(), "{b}");
        }
        let e = create(json!({"name": 12345, "imageRef": IMG, "flavorRef": "1"})).unwrap_err();
        assert!(e.0.contains("is not of type 'string'"), "{e}");
    }

    #[test]
    fn full_create() {
        let c = ServerCreate::parse(
            &json!({"server": {"name": "s", "imageRef": IMG, "flavorRef": 1,
                "adminPass": "pw", "metadata": {"a": "b"}, "accessIPv4": "1.2.3.4",
                "accessIPv6": "::1", "min_count": "2", "max_count": 3, "key_name": "k",
                "security_groups": [{"name": "default"}, {"name": "web"}, {"name": "web"}],
                "user_data": "aGVsbG8=", "config_drive": "true", "OS-DCF:diskConfig": "AUTO",
                "networks": [{"uuid": IMG, "fixed_ip": "10.0.0.5"}, {"port": IMG}]},
                "os:scheduler_hints": {"group": IMG, "foo": "bar"}}),
            1,
        )
        .unwrap();
        assert_eq!(c.flavor_ref, "1");
        assert_eq!((c.min_count, c.max_count), (2, 3));
        assert_eq!(c.security_groups, vec!["default", "web"]);
        assert!(c.config_drive);
        assert_eq!(c.group.as_deref(), Some(IMG));
        let Networks::List(n) = c.networks else {
            panic!("list")
        };
        assert_eq!(n.len(), 2);
        assert_eq!(n[1].port_id.as_deref(), Some(IMG));
    }

    #[test]
    fn networks_by_microversion() {
        let body = |n: Value| json!({"server": {"name": "s", "imageRef": IMG, "flavorRef": "1", "networks": n}});
        assert_eq!(
            ServerCreate::parse(&body(json!("auto")), 37)
                .unwrap()
                .networks,
            Networks::Auto
        );
        assert_eq!(
            ServerCreate::parse(&body(json!("none")), 37)
                .unwrap()
                .networks,
            Networks::None
        );
        assert!(ServerCreate::parse(&body(json!("auto")), 1).is_err());
        assert!(ServerCreate::parse(&body(json!("some")), 37).is_err());
        let no_nets = json!({"server": {"name": "s", "imageRef": IMG, "flavorRef": "1"}});
        assert!(ServerCreate::parse(&no_nets, 37).is_err());
        assert!(ServerCreate::parse(&no_nets, 36).is_ok());
        let desc =
            json!({"server": {"name": "s", "imageRef": IMG, "flavorRef": "1", "description": "d"}});
        assert!(ServerCreate::parse(&desc, 1).is_err());
        assert!(ServerCreate::parse(&desc, 19).is_ok());
    }

    #[test]
    fn update_and_actions() {
        assert!(ServerUpdate::parse(&json!({"server": {"name": ""}}), 1).is_err());
        assert!(ServerUpdate::parse(&json!({"server": {"name": "x".repeat(256)}}), 1).is_err());
        let u = ServerUpdate::parse(
            &json!({"server": {"accessIPv4": "1.1.1.1", "accessIPv6": "::babe:220.12.22.2"}}),
            1,
        )
        .unwrap();
        assert_eq!(u.access_ipv4.as_deref(), Some("1.1.1.1"));
        assert_eq!(u.access_ipv6.as_deref(), Some("::babe:dc0c:1602"));
        let u = ServerUpdate::parse(
            &json!({"server": {"accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2"}}),
            1,
        )
        .unwrap();
        assert_eq!(u.access_ipv6.as_deref(), Some("::babe:dc0c:1602"));
        assert!(ServerUpdate::parse(&json!({"server": {"description": "d"}}), 1).is_err());
        assert_eq!(
            ServerAction::parse(&json!({"reboot": {"type": "HARD"}}), 1).unwrap(),
            Some(ServerAction::Reboot { hard: true })
        );
        assert!(ServerAction::parse(&json!({"reboot": {"type": "x"}}), 1).is_err());
        assert_eq!(
            ServerAction::parse(&json!({"os-stop": null}), 1).unwrap(),
            Some(ServerAction::Stop)
        );
        assert_eq!(ServerAction::parse(&json!({"fly": null}), 1).unwrap(), None);
        assert_eq!(
            ServerAction::parse(&json!({"os-getConsoleOutput": {"length": "5"}}), 1).unwrap(),
            Some(ServerAction::ConsoleOutput { length: Some(5) })
        );
        assert!(ServerAction::parse(&json!({"createImage": {}}), 1).is_err());
        let r = ServerAction::parse(
            &json!({"rebuild": {"imageRef": IMG, "name": "n", "adminPass": "p",
            "metadata": {"a": "b"}, "accessIPv4": "1.1.1.1"}}),
            1,
        )
        .unwrap();
        assert!(matches!(r, Some(ServerAction::Rebuild(_))));
        assert!(ServerAction::parse(&json!({"rebuild": {"imageRef": "nope"}}), 1).is_err());
    }

    #[test]
    fn uuid_like() {
        assert!(is_uuid_like(IMG));
        assert!(is_uuid_like(&IMG.replace('-', "")));
        assert!(!is_uuid_like("a-b-c-d-e-f-g-h-i-j"));
        assert!(!is_uuid_like("-1"));
        assert_eq!(canonical_uuid(&IMG.replace('-', "").to_uppercase()), IMG);
    }
}
