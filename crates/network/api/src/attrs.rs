//! Attribute maps: per resource, which attributes a client may send on create (`POST`)
//! and update (`PUT`), which are required, and how each is converted and validated.
//! This is neutron-lib's `RESOURCE_ATTRIBUTE_MAP` model: request bodies are checked here,
//! with neutron's messages, before the app layer sees them.

use serde_json::{Map, Value};

/// How an attribute's value is converted and validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    /// A string of at most this many characters.
    Str(usize),
    /// A string, or null.
    OptStr(usize),
    /// A boolean (`true`, `"True"`, `1` and the like are accepted, as neutron converts).
    Bool,
    /// A boolean or null (neutron-lib `convert_to_boolean_if_not_none`).
    OptBool,
    /// An integer (a numeric string is accepted).
    Int,
    /// An integer or null.
    OptInt,
    /// A UUID.
    Uuid,
    /// A UUID or null.
    OptUuid,
    /// An IP address or null.
    OptIp,
    /// A list (its items are checked by the app layer).
    List,
    /// An object (checked by the app layer).
    Dict,
    /// An object or null.
    OptDict,
    /// Any JSON value (checked by the app layer).
    Any,
}

/// One attribute of a resource.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    /// Wire name.
    pub name: &'static str,
    /// Settable on create.
    pub post: bool,
    /// Settable on update.
    pub put: bool,
    /// Required on create.
    pub required: bool,
    /// Conversion/validation.
    pub conv: Conv,
}

const fn a(name: &'static str, post: bool, put: bool, required: bool, conv: Conv) -> Attr {
    Attr {
        name,
        post,
        put,
        required,
        conv,
    }
}

const NAME: Attr = a("name", true, true, false, Conv::Str(255));
const DESCRIPTION: Attr = a("description", true, true, false, Conv::Str(255));
const TENANT: Attr = a("tenant_id", true, false, false, Conv::Str(255));
const PROJECT: Attr = a("project_id", true, false, false, Conv::Str(255));

/// `network`.
pub const NETWORK: &[Attr] = &[
    NAME,
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("admin_state_up", true, true, false, Conv::Bool),
    a("shared", true, true, false, Conv::Bool),
    a("router:external", true, true, false, Conv::Bool),
    a("mtu", true, true, false, Conv::Int),
    a("port_security_enabled", true, true, false, Conv::Bool),
    a("provider:network_type", true, false, false, Conv::Str(255)),
    a(
        "provider:physical_network",
        true,
        false,
        false,
        Conv::OptStr(64),
    ),
    a("provider:segmentation_id", true, false, false, Conv::OptInt),
];

/// `subnet`.
pub const SUBNET: &[Attr] = &[
    NAME,
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("network_id", true, false, true, Conv::Uuid),
    a("ip_version", true, false, true, Conv::Int),
    a("cidr", true, false, false, Conv::OptStr(64)),
    a("gateway_ip", true, true, false, Conv::OptIp),
    a("allocation_pools", true, true, false, Conv::List),
    a("dns_nameservers", true, true, false, Conv::List),
    a("host_routes", true, true, false, Conv::List),
    a("enable_dhcp", true, true, false, Conv::Bool),
    a("ipv6_ra_mode", true, false, false, Conv::OptStr(32)),
    a("ipv6_address_mode", true, false, false, Conv::OptStr(32)),
    a("subnetpool_id", true, false, false, Conv::OptUuid),
    a("prefixlen", true, false, false, Conv::Int),
    a("use_default_subnetpool", true, false, false, Conv::Bool),
];

/// `port`.
pub const PORT: &[Attr] = &[
    NAME,
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("network_id", true, false, true, Conv::Uuid),
    a("admin_state_up", true, true, false, Conv::Bool),
    a("mac_address", true, true, false, Conv::Str(17)),
    a("fixed_ips", true, true, false, Conv::List),
    a("device_id", true, true, false, Conv::Str(255)),
    a("device_owner", true, true, false, Conv::Str(255)),
    a("security_groups", true, true, false, Conv::Any),
    a("allowed_address_pairs", true, true, false, Conv::Any),
    a("extra_dhcp_opts", true, true, false, Conv::Any),
    a("port_security_enabled", true, true, false, Conv::Bool),
    a("binding:host_id", true, true, false, Conv::Str(255)),
    a("binding:profile", true, true, false, Conv::OptDict),
    a("binding:vnic_type", true, true, false, Conv::Str(64)),
];

/// `router`.
pub const ROUTER: &[Attr] = &[
    NAME,
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("admin_state_up", true, true, false, Conv::Bool),
    a("external_gateway_info", true, true, false, Conv::OptDict),
    a("routes", false, true, false, Conv::Any),
    a("distributed", true, true, false, Conv::OptBool),
];

/// `floatingip`.
pub const FLOATINGIP: &[Attr] = &[
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("floating_network_id", true, false, true, Conv::Uuid),
    a("port_id", true, true, false, Conv::OptUuid),
    a("fixed_ip_address", true, true, false, Conv::OptIp),
    a("floating_ip_address", true, false, false, Conv::OptIp),
    a("subnet_id", true, false, false, Conv::OptUuid),
];

/// `security_group`.
pub const SECURITY_GROUP: &[Attr] = &[NAME, DESCRIPTION, TENANT, PROJECT];

/// `security_group_rule`.
pub const SECURITY_GROUP_RULE: &[Attr] = &[
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("security_group_id", true, false, true, Conv::Uuid),
    a("direction", true, false, true, Conv::Str(16)),
    a("ethertype", true, false, false, Conv::Any),
    a("protocol", true, false, false, Conv::Any),
    a("port_range_min", true, false, false, Conv::Any),
    a("port_range_max", true, false, false, Conv::Any),
    a("remote_ip_prefix", true, false, false, Conv::Any),
    a("remote_group_id", true, false, false, Conv::Any),
];

/// `subnetpool`.
pub const SUBNETPOOL: &[Attr] = &[
    NAME,
    DESCRIPTION,
    TENANT,
    PROJECT,
    a("prefixes", true, true, true, Conv::List),
    a("default_prefixlen", true, true, false, Conv::Int),
    a("min_prefixlen", true, true, false, Conv::Int),
    a("max_prefixlen", true, true, false, Conv::Int),
    a("shared", true, false, false, Conv::Bool),
    a("is_default", true, true, false, Conv::Bool),
    a("default_quota", true, true, false, Conv::OptInt),
];

/// `metering_label` (`metering`; labels cannot be updated).
pub const METERING_LABEL: &[Attr] = &[
    a("name", true, false, false, Conv::Str(255)),
    a("description", true, false, false, Conv::Str(1024)),
    TENANT,
    PROJECT,
    a("shared", true, false, false, Conv::Bool),
];

/// `metering_label_rule` (`metering` with `metering_source_and_destination_fields`).
pub const METERING_LABEL_RULE: &[Attr] = &[
    TENANT,
    PROJECT,
    a("metering_label_id", true, false, true, Conv::Uuid),
    a("direction", true, false, true, Conv::Str(16)),
    a("excluded", true, false, false, Conv::Bool),
    a("remote_ip_prefix", true, false, false, Conv::OptStr(64)),
    a("source_ip_prefix", true, false, false, Conv::OptStr(64)),
    a(
        "destination_ip_prefix",
        true,
        false,
        false,
        Conv::OptStr(64),
    ),
];

/// A request attribute failed validation; `kind` is neutron's exception type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrError {
    /// `HTTPBadRequest` (structure) or `InvalidInput` (a value).
    pub kind: &'static str,
    /// Neutron's message.
    pub message: String,
}

fn invalid(attr: &str, reason: String) -> AttrError {
    AttrError {
        kind: "InvalidInput",
        message: format!("Invalid input for {attr}. Reason: {reason}."),
    }
}

fn bad(message: String) -> AttrError {
    AttrError {
        kind: "HTTPBadRequest",
        message,
    }
}

/// Renders a JSON value as neutron quotes it in messages (`'abc'`, `5`, `None`).
pub fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

/// neutron-lib `convert_to_boolean`.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// neutron-lib `convert_to_int`.
pub fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// True if `s` is a UUID in any of the forms neutron accepts (dashed, 36 characters).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

fn convert(attr: &Attr, v: &Value) -> Result<Value, AttrError> {
    let name = attr.name;
    let not_string = || invalid(name, format!("'{}' is not a valid string", repr(v)));
    let check_len = |s: &str, max: usize| {
        if s.chars().count() > max {
            Err(invalid(
                name,
                format!("'{s}' exceeds maximum length of {max}"),
            ))
        } else {
            Ok(Value::String(s.to_owned()))
        }
    };
    match attr.conv {
        Conv::Str(max) => match v {
            Value::String(s) => check_len(s, max),
            _ => Err(not_string()),
        },
        Conv::OptStr(max) => match v {
            Value::Null => Ok(Value::Null),
            Value::String(s) => check_len(s, max),
            _ => Err(not_string()),
        },
        Conv::Bool => to_bool(v).map(Value::Bool).ok_or_else(|| {
            invalid(
                name,
                format!("'{}' cannot be converted to boolean", repr(v)),
            )
        }),
        Conv::OptBool => match v {
            Value::Null => Ok(Value::Null),
            _ => to_bool(v).map(Value::Bool).ok_or_else(|| {
                invalid(
                    name,
                    format!("'{}' cannot be converted to boolean", repr(v)),
                )
            }),
        },
        Conv::Int => to_int(v)
            .map(Value::from)
            .ok_or_else(|| invalid(name, format!("'{}' is not an integer", repr(v)))),
        Conv::OptInt => match v {
            Value::Null => Ok(Value::Null),
            _ => to_int(v)
                .map(Value::from)
                .ok_or_else(|| invalid(name, format!("'{}' is not an integer", repr(v)))),
        },
        Conv::Uuid => match v {
            Value::String(s) if is_uuid(s) => Ok(v.clone()),
            _ => Err(invalid(name, format!("'{}' is not a valid UUID", repr(v)))),
        },
        Conv::OptUuid => match v {
            Value::Null => Ok(Value::Null),
            Value::String(s) if is_uuid(s) => Ok(v.clone()),
            _ => Err(invalid(name, format!("'{}' is not a valid UUID", repr(v)))),
        },
        Conv::OptIp => match v {
            Value::Null => Ok(Value::Null),
            Value::String(s) if s.parse::<std::net::IpAddr>().is_ok() => Ok(v.clone()),
            _ => Err(invalid(
                name,
                format!("'{}' is not a valid IP address", repr(v)),
            )),
        },
        Conv::List => match v {
            Value::Array(_) => Ok(v.clone()),
            _ => Err(invalid(name, format!("'{}' is not a list", repr(v)))),
        },
        Conv::Dict => match v {
            Value::Object(_) => Ok(v.clone()),
            _ => Err(invalid(name, format!("'{}' is not a dictionary", repr(v)))),
        },
        Conv::OptDict => match v {
            Value::Null | Value::Object(_) => Ok(v.clone()),
            _ => Err(invalid(name, format!("'{}' is not a dictionary", repr(v)))),
        },
        Conv::Any => Ok(v.clone()),
    }
}

/// Validates one resource body (the object under `"network"` etc.) for create
/// (`create = true`) or update, returning it with values converted.
pub fn validate(
    attrs: &[Attr],
    body: &Map<String, Value>,
    create: bool,
) -> Result<Map<String, Value>, AttrError> {
    let mut unknown: Vec<&str> = body
        .keys()
        .filter(|k| !attrs.iter().any(|a| a.name == k.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        let list = unknown
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(bad(format!("Unrecognized attribute(s) {list}")));
    }
    let mut out = Map::new();
    for attr in attrs {
        match body.get(attr.name) {
            None => {
                if create && attr.required {
                    return Err(bad(format!(
                        "Failed to parse request. Required attribute '{}' not specified",
                        attr.name
                    )));
                }
            }
            Some(v) => {
                if create && !attr.post {
                    return Err(bad(format!(
                        "Attribute '{}' not allowed in POST",
                        attr.name
                    )));
                }
                if !create && !attr.put {
                    return Err(bad(format!(
                        "Cannot update read-only attribute {}",
                        attr.name
                    )));
                }
                out.insert(attr.name.to_owned(), convert(attr, v)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn unknown_required_and_conversions() {
        let e = validate(NETWORK, &obj(json!({"nam": "x"})), true).expect_err("unknown");
        assert_eq!(e.message, "Unrecognized attribute(s) 'nam'");
        let e = validate(SUBNET, &obj(json!({"cidr": "10.0.0.0/24"})), true).expect_err("req");
        assert!(e.message.contains("Required attribute 'network_id'"));
        let ok = validate(NETWORK, &obj(json!({"admin_state_up": "False"})), true).expect("ok");
        assert_eq!(ok["admin_state_up"], json!(false));
        let e = validate(PORT, &obj(json!({"network_id": "x"})), false).expect_err("ro");
        assert_eq!(e.message, "Cannot update read-only attribute network_id");
        let e = validate(NETWORK, &obj(json!({"shared": "maybe"})), true).expect_err("bool");
        assert_eq!(e.kind, "InvalidInput");
        assert!(is_uuid("6b0e0c9b-1a9e-4b8c-9a56-6f1f0f1e2d3c"));
    }
}
