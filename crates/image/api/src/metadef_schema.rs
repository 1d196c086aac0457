//! The JSON schemas of the metadata definitions API (`/v2/schemas/metadefs/*`):
//! namespace, object, property, resource type association and tag, each with its
//! collection schema, and the task schemas (`/v2/schemas/task(s)`). Clients read
//! them to build forms; the names are what Glance answers (`resource_type` serves the
//! `resource_type_association` schema).

use serde_json::{json, Value};

/// The property definition attributes (a JSON-schema subset) shared by property
/// and object schemas.
fn property_definition() -> Value {
    let simple_types = json!(["array", "boolean", "integer", "number", "object", "string", "null"]);
    json!({
        "type": "object",
        "required": ["title", "type"],
        "properties": {
            "name": {"type": "string", "maxLength": 255},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "operators": {"type": "array", "items": {"type": "string"}},
            "type": {"type": "string", "enum": simple_types},
            "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
            "minimum": {"type": "number"},
            "maximum": {"type": "number"},
            "maxLength": {"type": "integer", "minimum": 0},
            "minLength": {"type": "integer", "minimum": 0},
            "pattern": {"type": "string", "format": "regex"},
            "enum": {"type": "array"},
            "readonly": {"type": "boolean"},
            "default": {},
            "items": {"type": "object", "properties": {
                "type": {"type": "string", "enum": simple_types},
                "enum": {"type": "array"}
            }},
            "maxItems": {"type": "integer", "minimum": 0},
            "minItems": {"type": "integer", "minimum": 0},
            "uniqueItems": {"type": "boolean", "default": false},
            "additionalItems": {"type": "boolean"}
        }
    })
}

fn association_properties() -> Value {
    json!({
        "name": {"type": "string", "maxLength": 80,
                 "description": "Resource type names should be aligned with Heat resource types whenever possible."},
        "prefix": {"type": "string", "maxLength": 80,
                   "description": "Prefix added to the namespace's properties when applied to this resource type."},
        "properties_target": {"type": "string", "maxLength": 80,
                              "description": "Where the properties go on resource types with several (e.g. image for volumes)."},
        "created_at": {"type": "string", "readOnly": true, "format": "date-time"},
        "updated_at": {"type": "string", "readOnly": true, "format": "date-time"}
    })
}

fn tag_properties() -> Value {
    json!({
        "name": {"type": "string", "maxLength": 255},
        "created_at": {"type": "string", "readOnly": true, "format": "date-time"},
        "updated_at": {"type": "string", "readOnly": true, "format": "date-time"}
    })
}

fn object_properties() -> Value {
    json!({
        "name": {"type": "string", "maxLength": 255},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object", "additionalProperties": property_definition()},
        "schema": {"type": "string", "readOnly": true},
        "self": {"type": "string", "readOnly": true},
        "created_at": {"type": "string", "readOnly": true, "format": "date-time"},
        "updated_at": {"type": "string", "readOnly": true, "format": "date-time"}
    })
}

fn collection(name: &str, key: &str, item: Value) -> Value {
    json!({
        "name": name,
        "properties": {
            key: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"}
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/namespace`.
pub fn namespace() -> Value {
    json!({
        "name": "namespace",
        "required": ["namespace"],
        "additionalProperties": false,
        "properties": {
            "namespace": {"type": "string", "maxLength": 80,
                          "description": "The unique namespace text."},
            "display_name": {"type": "string", "maxLength": 80,
                             "description": "The user friendly name for the namespace."},
            "description": {"type": "string", "maxLength": 500,
                            "description": "Provides a user friendly description of the namespace."},
            "visibility": {"type": "string", "enum": ["public", "private"],
                           "description": "Scope of namespace accessibility."},
            "protected": {"type": "boolean",
                          "description": "If true, namespace will not be deletable."},
            "owner": {"type": "string", "maxLength": 255, "description": "Owner of the namespace."},
            "created_at": {"type": "string", "readOnly": true, "format": "date-time"},
            "updated_at": {"type": "string", "readOnly": true, "format": "date-time"},
            "schema": {"type": "string", "readOnly": true},
            "self": {"type": "string", "readOnly": true},
            "resource_type_associations": {"type": "array", "items": {
                "type": "object", "properties": association_properties()}},
            "properties": {"type": "object", "additionalProperties": property_definition()},
            "objects": {"type": "array", "items": {"type": "object", "properties": object_properties()}},
            "tags": {"type": "array", "items": {"type": "object", "properties": tag_properties()}}
        },
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/namespaces`.
pub fn namespaces() -> Value {
    collection("namespaces", "namespaces", namespace())
}

/// `GET /v2/schemas/metadefs/resource_type`.
pub fn resource_type_association() -> Value {
    json!({
        "name": "resource_type_association",
        "required": ["name"],
        "additionalProperties": false,
        "properties": association_properties(),
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/resource_types`.
pub fn resource_type_associations() -> Value {
    collection(
        "resource_type_associations",
        "resource_type_associations",
        resource_type_association(),
    )
}

/// `GET /v2/schemas/metadefs/object`.
pub fn object() -> Value {
    json!({
        "name": "object",
        "required": ["name"],
        "additionalProperties": false,
        "properties": object_properties(),
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/objects`.
pub fn objects() -> Value {
    collection("objects", "objects", object())
}

/// `GET /v2/schemas/metadefs/property`.
pub fn property() -> Value {
    let mut p = property_definition();
    if let Some(m) = p.as_object_mut() {
        m.insert("name".into(), json!("property"));
        m.insert("required".into(), json!(["name", "title", "type"]));
        m.insert("additionalProperties".into(), json!(false));
        m.remove("type");
    }
    p
}

/// `GET /v2/schemas/metadefs/properties`.
pub fn properties() -> Value {
    json!({
        "name": "properties",
        "properties": {
            "properties": {"type": "object", "additionalProperties": property_definition()},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"}
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/tag`.
pub fn tag() -> Value {
    json!({
        "name": "tag",
        "required": ["name"],
        "additionalProperties": false,
        "properties": tag_properties(),
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/metadefs/tags`.
pub fn tags() -> Value {
    collection("tags", "tags", tag())
}

/// The metadef schema called `name` under `/v2/schemas/metadefs/`.
pub fn by_name(name: &str) -> Option<Value> {
    Some(match name {
        "namespace" => namespace(),
        "namespaces" => namespaces(),
        "resource_type" => resource_type_association(),
        "resource_types" => resource_type_associations(),
        "object" => object(),
        "objects" => objects(),
        "property" => property(),
        "properties" => properties(),
        "tag" => tag(),
        "tags" => tags(),
        _ => return None,
    })
}

/// `GET /v2/schemas/task`.
pub fn task() -> Value {
    json!({
        "name": "task",
        "properties": {
            "id": {"type": "string", "description": "An identifier for the task"},
            "type": {"type": "string", "enum": ["import", "api_image_import", "location_import"],
                     "description": "The type of task represented by this content"},
            "status": {"type": "string", "enum": ["pending", "processing", "success", "failure"],
                       "description": "The current status of this task"},
            "input": {"type": ["null", "object"], "description": "The parameters required by task, JSON blob"},
            "result": {"type": ["null", "object"], "description": "The result of current task, JSON blob"},
            "owner": {"type": "string", "description": "An identifier for the owner of this task"},
            "message": {"type": "string", "description": "Human-readable informative message only included when appropriate (usually on failure)"},
            "image_id": {"type": "string", "readOnly": true, "description": "Image associated with the task"},
            "request_id": {"type": "string", "readOnly": true, "description": "Human-readable informative request-id"},
            "user_id": {"type": "string", "readOnly": true, "description": "User associated with the task"},
            "expires_at": {"type": ["null", "string"], "description": "Datetime when this resource would be subject to removal"},
            "created_at": {"type": "string", "description": "Datetime when this resource was created"},
            "updated_at": {"type": "string", "description": "Datetime when this resource was updated"},
            "self": {"type": "string"},
            "schema": {"type": "string"}
        },
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/tasks`.
pub fn tasks() -> Value {
    collection("tasks", "tasks", task())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_answers_glances_name() {
        for (path, name) in [
            ("namespace", "namespace"),
            ("namespaces", "namespaces"),
            ("resource_type", "resource_type_association"),
            ("resource_types", "resource_type_associations"),
            ("object", "object"),
            ("objects", "objects"),
            ("property", "property"),
            ("properties", "properties"),
            ("tag", "tag"),
            ("tags", "tags"),
        ] {
            assert_eq!(by_name(path).expect(path)["name"], name);
        }
        assert!(by_name("image").is_none());
        assert_eq!(task()["name"], "task");
        assert_eq!(tasks()["properties"]["tasks"]["items"]["name"], "task");
        assert_eq!(property()["required"], json!(["name", "title", "type"]));
    }
}
