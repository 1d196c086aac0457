//! The Image API (Glance v2) contract: configuration, wire types, the JSON schemas
//! Glance serves under `/v2/schemas/*` (openstackclient reads them), the attribute
//! name lists the API refuses or protects, and the version document.
//!
//! Wire compatibility rules: field names, status names and schema documents are
//! Glance's own (`glance/api/v2/images.py`, `image_members.py`, `schema.py` and the
//! `etc/schema-image.json` Glance ships). Images carry arbitrary string properties
//! next to the base attributes, so [`Image`] flattens a property map into the object.

#![recursion_limit = "256"]

#[cfg(feature = "client")]
pub mod client;
pub mod config;
pub mod metadef_schema;
pub mod schema;

use std::collections::BTreeMap;

use serde::Serialize;

pub use config::ImageConfig;

/// The media type of Glance's RFC 6902 JSON-patch dialect (`op`/`path`).
pub const PATCH_V2_1: &str = "application/openstack-images-v2.1-json-patch";
/// The media type of Glance's older patch dialect (`{"replace": "/name", ...}`).
pub const PATCH_V2_0: &str = "application/openstack-images-v2.0-json-patch";

/// Attributes a create request may not carry at all (403 "read-only").
pub const DISALLOWED_PROPERTIES: &[&str] = &["direct_url", "self", "file", "schema", "stores"];
/// Attributes only the service sets (403 "read-only" on create and patch).
pub const READONLY_PROPERTIES: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
];
/// Names no property may have (403 "reserved").
pub const RESERVED_PROPERTIES: &[&str] = &["location", "deleted", "deleted_at"];
/// The namespace reserved for Glance's own bookkeeping properties.
pub const RESERVED_NAMESPACE: &str = "os_glance";
/// The base (non-property) attributes of an image.
pub const BASE_PROPERTIES: &[&str] = &[
    "checksum",
    "created_at",
    "container_format",
    "disk_format",
    "id",
    "min_disk",
    "min_ram",
    "name",
    "size",
    "virtual_size",
    "status",
    "tags",
    "owner",
    "updated_at",
    "visibility",
    "protected",
    "os_hidden",
];
/// Keys `sort_key`/`sort=` accept.
pub const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];
/// The hash algorithm Glance reports in `os_hash_algo` (its `hashing_algorithm` default).
pub const HASH_ALGO: &str = "sha512";

/// An image's lifecycle status (Glance's `Image.valid_state_targets`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageStatus {
    /// Created, no data yet.
    Queued,
    /// Data is being uploaded.
    Saving,
    /// Data is present and usable.
    Active,
    /// An upload failed (not produced by rustack: failed uploads return to `queued`).
    Killed,
    /// Deleted (never listed or shown).
    Deleted,
    /// Data staged for `glance-direct` import.
    Uploading,
    /// An import is moving data into the store.
    Importing,
    /// Deleted with delayed delete (not produced by rustack).
    PendingDelete,
    /// Data download is refused to non-admins.
    Deactivated,
}

impl ImageStatus {
    /// Every status, in Glance's schema order.
    pub const ALL: [ImageStatus; 9] = [
        ImageStatus::Queued,
        ImageStatus::Saving,
        ImageStatus::Active,
        ImageStatus::Killed,
        ImageStatus::Deleted,
        ImageStatus::Uploading,
        ImageStatus::Importing,
        ImageStatus::PendingDelete,
        ImageStatus::Deactivated,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Saving => "saving",
            ImageStatus::Active => "active",
            ImageStatus::Killed => "killed",
            ImageStatus::Deleted => "deleted",
            ImageStatus::Uploading => "uploading",
            ImageStatus::Importing => "importing",
            ImageStatus::PendingDelete => "pending_delete",
            ImageStatus::Deactivated => "deactivated",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<ImageStatus> {
        ImageStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether Glance allows moving from `self` to `to`.
    pub fn can_become(self, to: ImageStatus) -> bool {
        use ImageStatus::*;
        let targets: &[ImageStatus] = match self {
            Queued => &[Saving, Uploading, Importing, Active, Deleted],
            Saving => &[Active, Killed, Deleted, Queued],
            Uploading => &[Importing, Queued, Deleted],
            Importing => &[Active, Deleted, Queued],
            Active => &[PendingDelete, Deleted, Deactivated],
            Killed => &[Deleted],
            PendingDelete => &[Deleted, Active],
            Deleted => &[],
            Deactivated => &[Active, Deleted],
        };
        targets.contains(&to)
    }
}

/// Who may see an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every project.
    Public,
    /// Every project, but listed only for its owner unless asked for.
    Community,
    /// The owner and the projects it is shared with (Glance's default).
    Shared,
    /// The owner only.
    Private,
}

impl Visibility {
    /// Every visibility, in Glance's schema order.
    pub const ALL: [Visibility; 4] = [
        Visibility::Community,
        Visibility::Public,
        Visibility::Private,
        Visibility::Shared,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Community => "community",
            Visibility::Shared => "shared",
            Visibility::Private => "private",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Visibility> {
        Visibility::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A member project's answer to a share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberStatus {
    /// Not answered yet (the image is not listed for the member by default).
    Pending,
    /// Accepted (listed for the member).
    Accepted,
    /// Refused.
    Rejected,
}

impl MemberStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<MemberStatus> {
        [
            MemberStatus::Pending,
            MemberStatus::Accepted,
            MemberStatus::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// An image as `GET /v2/images/{id}` renders it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Image {
    /// Image id (UUID).
    pub id: String,
    /// Name (may be null).
    pub name: Option<String>,
    /// Lifecycle status.
    pub status: String,
    /// Visibility.
    pub visibility: String,
    /// Deletion protection.
    pub protected: bool,
    /// Hidden from default listings.
    pub os_hidden: bool,
    /// Size of the data in bytes (null without data).
    pub size: Option<u64>,
    /// Virtual disk size in bytes, when known.
    pub virtual_size: Option<u64>,
    /// MD5 of the data.
    pub checksum: Option<String>,
    /// Multihash algorithm (`sha512`).
    pub os_hash_algo: Option<String>,
    /// Multihash hex digest.
    pub os_hash_value: Option<String>,
    /// Owning project.
    pub owner: Option<String>,
    /// Disk format.
    pub disk_format: Option<String>,
    /// Container format.
    pub container_format: Option<String>,
    /// Minimum RAM in MB.
    pub min_ram: i64,
    /// Minimum disk in GB.
    pub min_disk: i64,
    /// Tags.
    pub tags: Vec<String>,
    /// Creation time (`YYYY-MM-DDThh:mm:ssZ`).
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// `/v2/images/{id}`.
    #[serde(rename = "self")]
    pub self_link: String,
    /// `/v2/images/{id}/file`.
    pub file: String,
    /// `/v2/schemas/image`.
    pub schema: String,
    /// Additional properties (string values), flattened into the object.
    #[serde(flatten)]
    pub properties: BTreeMap<String, String>,
}

/// `GET /v2/images`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ImageList {
    /// The page.
    pub images: Vec<Image>,
    /// The first page's link (with the query, less `marker`).
    pub first: String,
    /// `/v2/schemas/images`.
    pub schema: String,
    /// The next page's link, when the page is full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// An image membership.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Member {
    /// The member project.
    pub member_id: String,
    /// The image.
    pub image_id: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Last update time.
    pub updated_at: String,
    /// `/v2/schemas/member`.
    pub schema: String,
}

/// `GET /v2/images/{id}/members`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemberList {
    /// Members the caller may see.
    pub members: Vec<Member>,
    /// `/v2/schemas/members`.
    pub schema: String,
}

/// The API versions Glance advertises (without cache or multi-store support), newest
/// first as Glance lists them; `base` is `http://host:port`.
pub fn versions(base: &str) -> serde_json::Value {
    let href = format!("{}/v2/", base.trim_end_matches('/'));
    let v = |id: &str, status: &str| serde_json::json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]});
    let mut list = vec![
        v("v2.15", "SUPPORTED"),
        v("v2.9", "SUPPORTED"),
        v("v2.17", "CURRENT"),
    ];
    for minor in (0..=7).rev() {
        list.push(v(&format!("v2.{minor}"), "SUPPORTED"));
    }
    serde_json::json!({ "versions": list })
}

/// One Image API operation: its name (as the handler), method, path template and the
/// Glance policy rule that guards it (`None` when only authentication, or nothing, is
/// needed). The authorization-matrix test checks every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Operation name.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    /// Policy rule.
    pub rule: Option<&'static str>,
}

const fn op(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    rule: Option<&'static str>,
) -> Operation {
    Operation {
        name,
        method,
        path,
        rule,
    }
}

/// Every operation the image service serves.
pub const OPERATIONS: &[Operation] = &[
    op("versions", "GET", "/", None),
    op("versions_explicit", "GET", "/versions", None),
    op("image_list", "GET", "/v2/images", Some("get_images")),
    op("image_create", "POST", "/v2/images", Some("add_image")),
    op(
        "image_show",
        "GET",
        "/v2/images/{image_id}",
        Some("get_image"),
    ),
    op(
        "image_update",
        "PATCH",
        "/v2/images/{image_id}",
        Some("modify_image"),
    ),
    op(
        "image_delete",
        "DELETE",
        "/v2/images/{image_id}",
        Some("delete_image"),
    ),
    op(
        "image_upload",
        "PUT",
        "/v2/images/{image_id}/file",
        Some("upload_image"),
    ),
    op(
        "image_download",
        "GET",
        "/v2/images/{image_id}/file",
        Some("download_image"),
    ),
    op(
        "image_stage",
        "PUT",
        "/v2/images/{image_id}/stage",
        Some("modify_image"),
    ),
    op(
        "image_import",
        "POST",
        "/v2/images/{image_id}/import",
        Some("modify_image"),
    ),
    op(
        "image_tasks",
        "GET",
        "/v2/images/{image_id}/tasks",
        Some("get_image"),
    ),
    op(
        "image_deactivate",
        "POST",
        "/v2/images/{image_id}/actions/deactivate",
        Some("deactivate"),
    ),
    op(
        "image_reactivate",
        "POST",
        "/v2/images/{image_id}/actions/reactivate",
        Some("reactivate"),
    ),
    op(
        "tag_add",
        "PUT",
        "/v2/images/{image_id}/tags/{tag}",
        Some("modify_image"),
    ),
    op(
        "tag_delete",
        "DELETE",
        "/v2/images/{image_id}/tags/{tag}",
        Some("modify_image"),
    ),
    op(
        "member_list",
        "GET",
        "/v2/images/{image_id}/members",
        Some("get_members"),
    ),
    op(
        "member_create",
        "POST",
        "/v2/images/{image_id}/members",
        Some("add_member"),
    ),
    op(
        "member_show",
        "GET",
        "/v2/images/{image_id}/members/{member_id}",
        Some("get_member"),
    ),
    op(
        "member_update",
        "PUT",
        "/v2/images/{image_id}/members/{member_id}",
        Some("modify_member"),
    ),
    op(
        "member_delete",
        "DELETE",
        "/v2/images/{image_id}/members/{member_id}",
        Some("delete_member"),
    ),
    op("schema_show", "GET", "/v2/schemas/{name}", None),
    op("info_import", "GET", "/v2/info/import", None),
    op("info_stores", "GET", "/v2/info/stores", None),
    op("info_usage", "GET", "/v2/info/usage", None),
    op(
        "metadef_schema_show",
        "GET",
        "/v2/schemas/metadefs/{name}",
        None,
    ),
    op("task_list", "GET", "/v2/tasks", Some("get_tasks")),
    op("task_create", "POST", "/v2/tasks", Some("add_task")),
    op("task_show", "GET", "/v2/tasks/{task_id}", Some("get_task")),
    op(
        "resource_type_list",
        "GET",
        "/v2/metadefs/resource_types",
        Some("list_metadef_resource_types"),
    ),
    op(
        "namespace_list",
        "GET",
        "/v2/metadefs/namespaces",
        Some("get_metadef_namespaces"),
    ),
    op(
        "namespace_create",
        "POST",
        "/v2/metadefs/namespaces",
        Some("add_metadef_namespace"),
    ),
    op(
        "namespace_show",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}",
        Some("get_metadef_namespace"),
    ),
    op(
        "namespace_update",
        "PUT",
        "/v2/metadefs/namespaces/{namespace_name}",
        Some("modify_metadef_namespace"),
    ),
    op(
        "namespace_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}",
        Some("delete_metadef_namespace"),
    ),
    op(
        "association_list",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/resource_types",
        Some("get_metadef_resource_type"),
    ),
    op(
        "association_create",
        "POST",
        "/v2/metadefs/namespaces/{namespace_name}/resource_types",
        Some("add_metadef_resource_type_association"),
    ),
    op(
        "association_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/resource_types/{resource_type}",
        Some("remove_metadef_resource_type_association"),
    ),
    op(
        "object_list",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/objects",
        Some("get_metadef_objects"),
    ),
    op(
        "object_create",
        "POST",
        "/v2/metadefs/namespaces/{namespace_name}/objects",
        Some("add_metadef_object"),
    ),
    op(
        "objects_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/objects",
        Some("delete_metadef_namespace"),
    ),
    op(
        "object_show",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/objects/{object_name}",
        Some("get_metadef_object"),
    ),
    op(
        "object_update",
        "PUT",
        "/v2/metadefs/namespaces/{namespace_name}/objects/{object_name}",
        Some("modify_metadef_object"),
    ),
    op(
        "object_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/objects/{object_name}",
        Some("delete_metadef_object"),
    ),
    op(
        "property_list",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/properties",
        Some("get_metadef_properties"),
    ),
    op(
        "property_create",
        "POST",
        "/v2/metadefs/namespaces/{namespace_name}/properties",
        Some("add_metadef_property"),
    ),
    op(
        "properties_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/properties",
        Some("delete_metadef_namespace"),
    ),
    op(
        "property_show",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/properties/{property_name}",
        Some("get_metadef_property"),
    ),
    op(
        "property_update",
        "PUT",
        "/v2/metadefs/namespaces/{namespace_name}/properties/{property_name}",
        Some("modify_metadef_property"),
    ),
    op(
        "property_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/properties/{property_name}",
        Some("remove_metadef_property"),
    ),
    op(
        "metadef_tag_list",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/tags",
        Some("get_metadef_tags"),
    ),
    op(
        "metadef_tags_create",
        "POST",
        "/v2/metadefs/namespaces/{namespace_name}/tags",
        Some("add_metadef_tags"),
    ),
    op(
        "metadef_tags_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/tags",
        Some("delete_metadef_tags"),
    ),
    op(
        "metadef_tag_create",
        "POST",
        "/v2/metadefs/namespaces/{namespace_name}/tags/{tag_name}",
        Some("add_metadef_tag"),
    ),
    op(
        "metadef_tag_show",
        "GET",
        "/v2/metadefs/namespaces/{namespace_name}/tags/{tag_name}",
        Some("get_metadef_tag"),
    ),
    op(
        "metadef_tag_update",
        "PUT",
        "/v2/metadefs/namespaces/{namespace_name}/tags/{tag_name}",
        Some("modify_metadef_tag"),
    ),
    op(
        "metadef_tag_delete",
        "DELETE",
        "/v2/metadefs/namespaces/{namespace_name}/tags/{tag_name}",
        Some("delete_metadef_tag"),
    ),
];

/// Version path prefixes Glance's version negotiation accepts (`/v2.1/images` is
/// served as `/v2/images`).
pub const VERSION_PREFIXES: &[&str] = &[
    "v2", "v2.0", "v2.1", "v2.2", "v2.3", "v2.4", "v2.5", "v2.6", "v2.7", "v2.9", "v2.15", "v2.17",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_transitions_follow_glance() {
        assert!(ImageStatus::Queued.can_become(ImageStatus::Saving));
        assert!(ImageStatus::Saving.can_become(ImageStatus::Queued));
        assert!(!ImageStatus::Active.can_become(ImageStatus::Saving));
        assert!(ImageStatus::Deactivated.can_become(ImageStatus::Active));
        for s in ImageStatus::ALL {
            assert_eq!(ImageStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(Visibility::parse("shared"), Some(Visibility::Shared));
        assert_eq!(Visibility::parse("all"), None);
        assert_eq!(
            MemberStatus::parse("accepted"),
            Some(MemberStatus::Accepted)
        );
    }

    #[test]
    fn image_flattens_properties() {
        let mut properties = BTreeMap::new();
        properties.insert("os_distro".to_string(), "debian".to_string());
        let img = Image {
            id: "i".into(),
            name: None,
            status: "queued".into(),
            visibility: "shared".into(),
            protected: false,
            os_hidden: false,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            owner: Some("p".into()),
            disk_format: None,
            container_format: None,
            min_ram: 0,
            min_disk: 0,
            tags: vec![],
            created_at: "t".into(),
            updated_at: "t".into(),
            self_link: "/v2/images/i".into(),
            file: "/v2/images/i/file".into(),
            schema: "/v2/schemas/image".into(),
            properties,
        };
        let v = serde_json::to_value(&img).expect("json");
        assert_eq!(v["os_distro"], "debian");
        assert_eq!(v["self"], "/v2/images/i");
        assert!(v["size"].is_null());
    }

    #[test]
    fn versions_document_has_current_v2() {
        let v = versions("http://h:9292");
        let list = v["versions"].as_array().expect("list");
        assert_eq!(list.len(), 11);
        assert!(list
            .iter()
            .any(|x| x["status"] == "CURRENT" && x["links"][0]["href"] == "http://h:9292/v2/"));
    }
}
