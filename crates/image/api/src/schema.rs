//! The JSON schemas Glance serves under `/v2/schemas/` and validates request bodies
//! against: the image schema (base properties plus the custom properties of the
//! `schema-image.json` Glance ships, `additionalProperties: {"type": "string"}`),
//! the images collection schema, and the member / members schemas.

use serde_json::{json, Map, Value};

const UUID_PATTERN: &str =
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";

/// The base properties of `glance/api/v2/images.py:get_base_properties`, with the
/// configured disk and container formats.
pub fn base_properties(
    disk_formats: &[String],
    container_formats: &[String],
) -> Map<String, Value> {
    let with_null = |v: &[String]| {
        let mut e = vec![Value::Null];
        e.extend(v.iter().map(|s| Value::String(s.clone())));
        Value::Array(e)
    };
    let v = json!({
        "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image", "maxLength": 255},
        "status": {"type": "string", "readOnly": true, "description": "Status of the image",
                   "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"]},
        "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": ["community", "public", "private", "shared"]},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
        "checksum": {"type": ["null", "string"], "readOnly": true, "description": "md5 hash of image contents.", "maxLength": 32},
        "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "description": "Algorithm to calculate the os_hash_value", "maxLength": 64},
        "os_hash_value": {"type": ["null", "string"], "readOnly": true, "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo", "maxLength": 128},
        "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": true, "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": true, "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "description": "Format of the container", "enum": with_null(container_formats)},
        "disk_format": {"type": ["null", "string"], "description": "Format of the disk", "enum": with_null(disk_formats)},
        "created_at": {"type": "string", "readOnly": true, "description": "Date and time of image registration"},
        "updated_at": {"type": "string", "readOnly": true, "description": "Date and time of the last image modification"},
        "tags": {"type": "array", "description": "List of strings related to the image", "items": {"type": "string", "maxLength": 255}},
        "direct_url": {"type": "string", "readOnly": true, "description": "URL to access the image file kept in external store"},
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": true, "description": "An image self url"},
        "file": {"type": "string", "readOnly": true, "description": "An image file url"},
        "stores": {"type": "string", "readOnly": true, "description": "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers."},
        "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
        "locations": {"type": "array", "items": {"type": "object", "properties": {
            "url": {"type": "string", "maxLength": 255},
            "metadata": {"type": "object"},
            "validation_data": {"description": "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties.",
                "type": "object", "writeOnly": true, "additionalProperties": false,
                "properties": {"checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                               "os_hash_algo": {"type": "string", "maxLength": 64},
                               "os_hash_value": {"type": "string", "maxLength": 128}},
                "required": ["os_hash_algo", "os_hash_value"]}},
            "required": ["url", "metadata"]},
            "description": "A set of URLs to access the image file kept in external store"}
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The custom properties of the `etc/schema-image.json` Glance ships (each marked
/// `is_base: false`, as Glance merges them).
pub fn custom_properties() -> Map<String, Value> {
    let v = json!({
        "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN,
            "description": "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.", "is_base": false},
        "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN,
            "description": "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.", "is_base": false},
        "instance_uuid": {"type": "string", "description": "Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)", "is_base": false},
        "architecture": {"description": "Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html", "type": "string", "is_base": false},
        "os_distro": {"description": "Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html", "type": "string", "is_base": false},
        "os_version": {"description": "Operating system version as specified by the distributor.", "type": "string", "is_base": false},
        "description": {"description": "A human-readable string describing this image.", "type": "string", "is_base": false},
        "cinder_encryption_key_id": {"description": "Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image", "type": "string", "is_base": false},
        "cinder_encryption_key_deletion_policy": {"description": "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action", "type": "string", "enum": ["on_image_deletion", "do_not_delete"], "is_base": false}
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `GET /v2/schemas/image`: Glance's `PermissiveSchema('image', ...).raw()`.
pub fn image(disk_formats: &[String], container_formats: &[String]) -> Value {
    let mut props = base_properties(disk_formats, container_formats);
    props.extend(custom_properties());
    json!({
        "name": "image",
        "properties": props,
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

/// `GET /v2/schemas/images`: the collection schema around [`image`].
pub fn images(disk_formats: &[String], container_formats: &[String]) -> Value {
    json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image(disk_formats, container_formats)},
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

fn member_properties() -> Value {
    json!({
        "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
        "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
        "status": {"type": "string", "description": "The status of this image member", "enum": ["pending", "accepted", "rejected"]},
        "schema": {"readOnly": true, "type": "string"}
    })
}

/// `GET /v2/schemas/member` (Glance serves the member schema's `minimal()` form).
pub fn member() -> Value {
    json!({"name": "member", "properties": member_properties()})
}

/// `GET /v2/schemas/members`.
pub fn members() -> Value {
    json!({
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member()},
            "schema": {"type": "string"}
        },
        "links": [{"rel": "describedby", "href": "{schema}"}]
    })
}

/// Whether `s` matches Glance's UUID pattern (hex 8-4-4-4-12, either case).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_have_names_and_formats() {
        let d = vec!["raw".to_string(), "qcow2".to_string()];
        let c = vec!["bare".to_string()];
        let s = image(&d, &c);
        assert_eq!(s["name"], "image");
        assert_eq!(
            s["properties"]["disk_format"]["enum"],
            json!([null, "raw", "qcow2"])
        );
        assert_eq!(s["properties"]["ramdisk_id"]["is_base"], false);
        assert_eq!(s["additionalProperties"]["type"], "string");
        assert_eq!(images(&d, &c)["name"], "images");
        assert_eq!(member()["name"], "member");
        assert_eq!(members()["name"], "members");
    }

    #[test]
    fn uuid_pattern() {
        assert!(is_uuid("00000000-1111-2222-3333-444455556666"));
        assert!(is_uuid("ABCDEF00-1111-2222-3333-444455556666"));
        assert!(!is_uuid("00000000111122223333444455556666"));
        assert!(!is_uuid("0000000g-1111-2222-3333-444455556666"));
    }
}
