//! The Placement API contract: configuration, the microversion history (one table,
//! data only), the standard resource classes and traits, the error codes placement
//! puts in its fault bodies, the wire types of the resources, and (module [`client`])
//! a typed HTTP client for the calls a compute service makes.
//!
//! Wire compatibility: field names, shapes and codes are openstack/placement's
//! (`placement/handlers/*.py`, `placement/schemas/*.py`, `api-ref/source`).

pub mod client;
mod traits;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use traits::STANDARD_TRAITS;

/// The catalog service type.
pub const SERVICE_TYPE: &str = "placement";

/// Placement service settings (`[placement]` in rustack.toml).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementConfig {
    /// Port the Placement API listens on (upstream's 8778).
    pub port: u16,
    /// Database URL; default `sqlite://<data-dir>/placement.db`.
    pub database_url: Option<String>,
    /// A policy.yaml with rule overrides.
    pub policy_file: Option<PathBuf>,
    /// `[placement] max_allocation_candidates` upstream: an upper bound on the
    /// candidates one request considers (-1 = unlimited).
    pub max_allocation_candidates: i64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            port: 8778,
            database_url: None,
            policy_file: None,
            max_allocation_candidates: -1,
        }
    }
}

/// One microversion and what it added (placement's `rest_api_version_history.rst`).
#[derive(Clone, Copy, Debug)]
pub struct VersionEntry {
    /// The minor number (all placement microversions are `1.x`).
    pub minor: u16,
    /// What the version changed.
    pub change: &'static str,
}

/// The microversions rustack implements, oldest first. The last entry is the
/// advertised maximum; only versions whose every behaviour exists here are listed.
pub const VERSION_HISTORY: &[VersionEntry] = &[
    VersionEntry {
        minor: 0,
        change: "Initial version: providers, inventories, allocations, usages.",
    },
    VersionEntry {
        minor: 1,
        change: "Resource provider aggregates.",
    },
    VersionEntry {
        minor: 2,
        change: "Custom resource classes (/resource_classes).",
    },
    VersionEntry {
        minor: 3,
        change: "member_of on GET /resource_providers.",
    },
    VersionEntry {
        minor: 4,
        change: "resources= capacity filter on GET /resource_providers.",
    },
    VersionEntry {
        minor: 5,
        change: "DELETE /resource_providers/{uuid}/inventories.",
    },
    VersionEntry {
        minor: 6,
        change: "Traits (/traits, /resource_providers/{uuid}/traits).",
    },
    VersionEntry {
        minor: 7,
        change: "PUT /resource_classes/{name} is a bodiless create-or-verify.",
    },
    VersionEntry {
        minor: 8,
        change: "project_id and user_id required on PUT /allocations.",
    },
    VersionEntry {
        minor: 9,
        change: "GET /usages.",
    },
    VersionEntry {
        minor: 10,
        change: "GET /allocation_candidates.",
    },
    VersionEntry {
        minor: 11,
        change: "allocations link on providers.",
    },
    VersionEntry {
        minor: 12,
        change: "Dict-shaped PUT/GET /allocations/{consumer} and allocation_requests.",
    },
    VersionEntry {
        minor: 13,
        change: "POST /allocations for several consumers at once.",
    },
    VersionEntry {
        minor: 14,
        change: "Nested providers: parent/root uuids, in_tree filter.",
    },
    VersionEntry {
        minor: 15,
        change: "last-modified and cache-control headers.",
    },
    VersionEntry {
        minor: 16,
        change: "limit on GET /allocation_candidates.",
    },
    VersionEntry {
        minor: 17,
        change: "required traits on GET /allocation_candidates; traits in provider summaries.",
    },
    VersionEntry {
        minor: 18,
        change: "required traits on GET /resource_providers.",
    },
    VersionEntry {
        minor: 19,
        change: "Aggregates carry the provider generation.",
    },
    VersionEntry {
        minor: 20,
        change: "POST /resource_providers returns 200 with the provider.",
    },
    VersionEntry {
        minor: 21,
        change: "member_of on GET /allocation_candidates.",
    },
    VersionEntry {
        minor: 22,
        change: "Forbidden traits (!TRAIT).",
    },
    VersionEntry {
        minor: 23,
        change: "code in error responses.",
    },
    VersionEntry {
        minor: 24,
        change: "Repeated member_of parameters (AND).",
    },
    VersionEntry {
        minor: 25,
        change: "Granular (numbered) request groups and group_policy.",
    },
    VersionEntry {
        minor: 26,
        change: "reserved may equal total.",
    },
    VersionEntry {
        minor: 27,
        change: "provider_summaries list every inventoried class.",
    },
    VersionEntry {
        minor: 28,
        change: "Consumer generations.",
    },
    VersionEntry {
        minor: 29,
        change: "Nested providers in allocation candidates.",
    },
    VersionEntry {
        minor: 30,
        change: "POST /reshaper.",
    },
    VersionEntry {
        minor: 31,
        change: "in_tree on GET /allocation_candidates.",
    },
    VersionEntry {
        minor: 32,
        change: "Forbidden aggregates (member_of=!...).",
    },
    VersionEntry {
        minor: 33,
        change: "String request group suffixes.",
    },
    VersionEntry {
        minor: 34,
        change: "mappings in allocation requests.",
    },
    VersionEntry {
        minor: 35,
        change: "root_required on GET /allocation_candidates.",
    },
    VersionEntry {
        minor: 36,
        change: "same_subtree and resourceless request groups.",
    },
    VersionEntry {
        minor: 37,
        change: "Re-parenting and un-parenting providers.",
    },
    VersionEntry {
        minor: 38,
        change: "consumer_type on allocations and usages.",
    },
    VersionEntry {
        minor: 39,
        change: "any-traits (in:) in required.",
    },
];

/// The highest minor version served (`1.MAX_MINOR`).
pub const MAX_MINOR: u16 = VERSION_HISTORY[VERSION_HISTORY.len() - 1].minor;

/// The standard resource classes of os-resource-classes 1.1.0, in its order.
pub const STANDARD_RESOURCE_CLASSES: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

/// Error codes of placement's fault bodies (`placement/errors.py`).
pub mod codes {
    /// Anything without a more specific code.
    pub const DEFAULT: &str = "placement.undefined_code";
    /// Inventory cannot change: allocations use it.
    pub const INVENTORY_INUSE: &str = "placement.inventory.inuse";
    /// A generation did not match.
    pub const CONCURRENT_UPDATE: &str = "placement.concurrent_update";
    /// A name or uuid is taken.
    pub const DUPLICATE_NAME: &str = "placement.duplicate_name";
    /// The provider has allocations.
    pub const PROVIDER_IN_USE: &str = "placement.resource_provider.inuse";
    /// The provider has children.
    pub const PROVIDER_CANNOT_DELETE_PARENT: &str =
        "placement.resource_provider.cannot_delete_parent";
    /// A provider named in the request does not exist.
    pub const RESOURCE_PROVIDER_NOT_FOUND: &str = "placement.resource_provider.not_found";
    /// A query parameter appears twice where it may not.
    pub const ILLEGAL_DUPLICATE_QUERYPARAM: &str = "placement.query.duplicate_key";
    /// A query parameter has a bad value.
    pub const QUERYPARAM_BAD_VALUE: &str = "placement.query.bad_value";
    /// A query parameter lacks its value.
    pub const QUERYPARAM_MISSING_VALUE: &str = "placement.query.missing_value";
}

/// A link in a provider's `links`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Link {
    /// Relation (`self`, `inventories`...).
    pub rel: String,
    /// Path.
    pub href: String,
}

/// A resource provider as `GET /resource_providers/{uuid}` shows it (1.14+ fields optional).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceProvider {
    /// UUID.
    pub uuid: String,
    /// Unique name.
    pub name: String,
    /// Generation, bumped on every change to inventories, traits, aggregates, allocations.
    pub generation: i64,
    /// Parent provider (1.14+).
    #[serde(default)]
    pub parent_provider_uuid: Option<String>,
    /// Root of the provider's tree (1.14+).
    #[serde(default)]
    pub root_provider_uuid: Option<String>,
    /// Links.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// One resource class's inventory on a provider.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Inventory {
    /// Total amount.
    pub total: i64,
    /// Amount not available to consumers.
    #[serde(default)]
    pub reserved: i64,
    /// Smallest amount one allocation may take.
    #[serde(default = "one")]
    pub min_unit: i64,
    /// Largest amount one allocation may take.
    #[serde(default = "max_int")]
    pub max_unit: i64,
    /// Allocations must be multiples of this.
    #[serde(default = "one")]
    pub step_size: i64,
    /// Overcommit ratio: capacity = (total - reserved) * allocation_ratio.
    #[serde(default = "ratio_one")]
    pub allocation_ratio: f64,
}

fn one() -> i64 {
    1
}
fn max_int() -> i64 {
    i64::from(i32::MAX)
}
fn ratio_one() -> f64 {
    1.0
}

impl Inventory {
    /// An inventory of `total` with placement's defaults for everything else.
    pub fn with_total(total: i64) -> Self {
        Inventory {
            total,
            reserved: 0,
            min_unit: 1,
            max_unit: max_int(),
            step_size: 1,
            allocation_ratio: 1.0,
        }
    }

    /// How much may be allocated in total: `(total - reserved) * allocation_ratio`,
    /// truncated as placement does.
    pub fn capacity(&self) -> i64 {
        ((self.total - self.reserved) as f64 * self.allocation_ratio) as i64
    }
}

/// `GET/PUT /resource_providers/{uuid}/inventories`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Inventories {
    /// The provider's generation.
    pub resource_provider_generation: i64,
    /// Inventory per resource class.
    pub inventories: BTreeMap<String, Inventory>,
}

/// Resources a consumer holds on one provider.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ProviderAllocation {
    /// The provider's generation (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// Amount per resource class.
    pub resources: BTreeMap<String, i64>,
}

/// `GET /allocations/{consumer_uuid}` (1.38 shape; older fields optional).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct ConsumerAllocations {
    /// Allocations per provider uuid.
    pub allocations: BTreeMap<String, ProviderAllocation>,
    /// Owning project (absent when the consumer has no allocations).
    #[serde(default)]
    pub project_id: Option<String>,
    /// Owning user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Consumer generation (1.28+); `None` when the consumer does not exist.
    #[serde(default)]
    pub consumer_generation: Option<i64>,
    /// Consumer type (1.38+).
    #[serde(default)]
    pub consumer_type: Option<String>,
}

/// `PUT /allocations/{consumer_uuid}` body (1.38 shape).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AllocationsPut {
    /// Allocations per provider uuid (empty removes all at 1.28+).
    pub allocations: BTreeMap<String, ProviderAllocation>,
    /// Owning project.
    pub project_id: String,
    /// Owning user.
    pub user_id: String,
    /// The generation the caller last saw; `None` for a new consumer.
    pub consumer_generation: Option<i64>,
    /// Consumer type (`INSTANCE`, `MIGRATION`...).
    pub consumer_type: String,
}

/// One way to satisfy an allocation-candidates request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AllocationRequest {
    /// Resources per provider uuid (ready to PUT as allocations).
    pub allocations: BTreeMap<String, ProviderAllocation>,
    /// Which providers satisfied which request group suffix (1.34+; `""` = unsuffixed).
    #[serde(default)]
    pub mappings: BTreeMap<String, Vec<String>>,
}

/// Capacity and usage of one class in a provider summary.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResourceSummary {
    /// `(total - reserved) * allocation_ratio`.
    pub capacity: i64,
    /// Currently allocated.
    pub used: i64,
}

/// A provider in `provider_summaries`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProviderSummary {
    /// Per class capacity and usage.
    pub resources: BTreeMap<String, ResourceSummary>,
    /// Traits (1.17+).
    #[serde(default)]
    pub traits: Vec<String>,
    /// Parent (1.29+).
    #[serde(default)]
    pub parent_provider_uuid: Option<String>,
    /// Root (1.29+).
    #[serde(default)]
    pub root_provider_uuid: Option<String>,
}

/// `GET /allocation_candidates` response.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct AllocationCandidates {
    /// Candidate allocations, best first.
    pub allocation_requests: Vec<AllocationRequest>,
    /// Every provider that appears in a candidate (and, 1.29+, their trees).
    pub provider_summaries: BTreeMap<String, ProviderSummary>,
}

/// True if `name` is a syntactically valid custom resource class or trait
/// (`CUSTOM_` then `[A-Z0-9_]+`, at most 255 characters).
pub fn is_custom_name(name: &str) -> bool {
    name.len() <= 255
        && name.strip_prefix("CUSTOM_").is_some_and(|r| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_contiguous() {
        for (i, v) in VERSION_HISTORY.iter().enumerate() {
            assert_eq!(usize::from(v.minor), i);
        }
        const { assert!(MAX_MINOR >= 36) };
    }

    #[test]
    fn capacity_truncates() {
        let mut inv = Inventory::with_total(10);
        inv.reserved = 3;
        inv.allocation_ratio = 1.5;
        assert_eq!(inv.capacity(), 10);
        assert!(is_custom_name("CUSTOM_GOLD_1"));
        assert!(!is_custom_name("CUSTOM_"));
        assert!(!is_custom_name("CUSTOM_lower"));
        assert!(!is_custom_name("GOLD"));
        assert!(STANDARD_TRAITS.contains(&"COMPUTE_STATUS_DISABLED"));
    }
}
