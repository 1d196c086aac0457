//! Request parsing shared by the handlers: query parameters, nova's `limit`/`marker`,
//! and the loosely typed body values nova's JSON schemas accept (integers given as
//! strings, booleans given as `"true"`/`"yes"`...).

use rustack_common::Error;
use serde_json::Value;

/// Query parameters in request order.
pub type Params = Vec<(String, String)>;

/// The last value of `key`.
pub fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// nova's `osapi_max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// nova's `get_limit_and_marker`: the effective page size and the marker.
pub fn limit_and_marker(p: &Params) -> Result<(usize, Option<String>), Error> {
    let limit = match param(p, "limit") {
        None => MAX_LIMIT,
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| Error::bad_request("limit param must be an integer"))?;
            if n < 0 {
                return Err(Error::bad_request("limit param must be positive"));
            }
            (n as usize).min(MAX_LIMIT)
        }
    };
    Ok((limit, param(p, "marker").map(str::to_owned)))
}

/// From 2.75 Nova's query schemas refuse parameters they do not list
/// (`additionalProperties: false`): 400 for a key outside `allowed`.
pub fn check_query_v275(
    p: &Params,
    v: rustack_compute_api::ApiVersion,
    allowed: &[&str],
) -> Result<(), Error> {
    if !v.at_least(75) {
        return Ok(());
    }
    match p.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

/// oslo's `bool_from_string(strict=True)`.
pub fn strict_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// A JSON value nova's `parameter_types.boolean` accepts.
pub fn body_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => strict_bool(s),
        _ => None,
    }
}

/// An integer given as a JSON integer or a string of digits, within [min, max];
/// 400 with nova's validation message otherwise.
pub fn body_int(field: &str, v: &Value, min: i64, max: i64) -> Result<i64, Error> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'integer', 'string'"
        ))
    })?;
    if n < min {
        return Err(Error::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {n}. {n} is less than the minimum of {min}"
        )));
    }
    if n > max {
        return Err(Error::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {n}. {n} is greater than the maximum of {max}"
        )));
    }
    Ok(n)
}

/// The object under `key` of a request body; 400 if the body is not `{key: {...}}`.
pub fn wrapped<'a>(
    body: &'a Value,
    key: &str,
) -> Result<&'a serde_json::Map<String, Value>, Error> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {}. '{key}' is a required property",
            body
        ))
    })
}

/// Rejects keys outside `allowed` (nova's `additionalProperties: False`).
pub fn no_extra_keys(obj: &serde_json::Map<String, Value>, allowed: &[&str]) -> Result<(), Error> {
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Error::bad_request(format!(
            "Additional properties are not allowed ('{k}' was unexpected)"
        )));
    }
    Ok(())
}

/// A string field of 1..=max characters without leading/trailing whitespace.
pub fn name_field(field: &str, v: &Value, max: usize) -> Result<String, Error> {
    let s = v.as_str().ok_or_else(|| {
        Error::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'string'"
        ))
    })?;
    let n = s.chars().count();
    if n == 0 || n > max || s.trim() != s || s.chars().any(|c| c.is_control()) {
        return Err(Error::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {s}. '{s}' does not match the required pattern"
        )));
    }
    Ok(s.to_owned())
}

/// The request body as JSON (400 when malformed).
pub fn json_body(bytes: &[u8]) -> Result<Value, Error> {
    rustack_api_common::parse_json(bytes)
}
