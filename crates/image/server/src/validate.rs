//! Validation of request bodies against Glance's JSON schemas, for the subset of
//! JSON Schema those schemas use (`type`, `enum`, `maxLength`, `minLength`, the UUID
//! `pattern`, `items`, `properties`, `additionalProperties`, `required`). Messages
//! follow Python `jsonschema`'s wording, which Glance passes through in its 400s
//! ("Provided object does not match schema 'image': 'x' is not one of [...]").

use rustack_common::Error;
use serde_json::Value;

/// Validates `instance` against `schema`; 400 in Glance's words when it does not match.
pub fn validate(schema_name: &str, schema: &Value, instance: &Value) -> Result<(), Error> {
    check(schema, instance).map_err(|reason| {
        Error::bad_request(format!(
            "Provided object does not match schema '{schema_name}': {reason}"
        ))
    })
}

/// Python's `repr()` of a JSON value, as jsonschema prints instances.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        // jsonschema (draft 4+) accepts 1.0 as an integer.
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

fn check(schema: &Value, v: &Value) -> Result<(), String> {
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
            let list = types
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(format!("{} is not of type {list}", py_repr(v)));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(v) {
            return Err(format!(
                "{} is not one of {}",
                py_repr(v),
                py_repr(&Value::Array(options.clone()))
            ));
        }
    }
    if let Value::String(s) = v {
        let n = s.chars().count() as u64;
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if n > max {
                return Err(format!("{} is too long", py_repr(v)));
            }
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if n < min {
                return Err(format!("{} is too short", py_repr(v)));
            }
        }
        if let Some(Value::String(p)) = schema.get("pattern") {
            // The only pattern Glance's image and member schemas use is the UUID one.
            if p.contains("[0-9a-fA-F]") && !rustack_image_api::schema::is_uuid(s) {
                return Err(format!("{} does not match '{p}'", py_repr(v)));
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, schema.get("items")) {
        for item in items {
            check(item_schema, item)?;
        }
    }
    if let Value::Object(obj) = v {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = schema.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("'{r}' is a required property"));
                }
            }
        }
        let mut extra = vec![];
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(sub, val)?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => extra.push(format!("'{k}'")),
                    Some(sub @ Value::Object(_)) => check(sub, val)?,
                    _ => {}
                },
            }
        }
        if !extra.is_empty() {
            let verb = if extra.len() == 1 { "was" } else { "were" };
            return Err(format!(
                "Additional properties are not allowed ({} {verb} unexpected)",
                extra.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        rustack_image_api::schema::image(&["raw".into()], &["bare".into()])
    }

    #[test]
    fn messages_follow_jsonschema() {
        let s = schema();
        let e = validate("image", &s, &json!({"disk_format": "vhd"})).expect_err("enum");
        assert_eq!(
            e.external_message(),
            "Provided object does not match schema 'image': 'vhd' is not one of [None, 'raw']"
        );
        let e = validate("image", &s, &json!({"protected": "yes"})).expect_err("type");
        assert!(e
            .external_message()
            .ends_with("'yes' is not of type 'boolean'"));
        let e = validate("image", &s, &json!({"foo": 1})).expect_err("extra must be string");
        assert!(e.external_message().ends_with("1 is not of type 'string'"));
        let e = validate("image", &s, &json!({"name": "x".repeat(256)})).expect_err("long");
        assert!(e.external_message().contains("is too long"));
        let e = validate("image", &s, &json!({"ramdisk_id": "nope"})).expect_err("pattern");
        assert!(e.external_message().contains("does not match"));
        assert!(validate(
            "image",
            &s,
            &json!({"name": null, "min_ram": 1, "tags": ["a"], "ramdisk_id": null, "x": "y"})
        )
        .is_ok());
        let e = validate("image", &s, &json!({"tags": [1]})).expect_err("tag type");
        assert_eq!(e.status_code(), 400);
    }
}
