//! Cinder v3's microversion history and what rustack implements of each change.
//!
//! Two maxima are derived from [`HISTORY`]:
//! - [`MAX_MINOR`]: the highest version a request may ask for (every version is
//!   routed; a change rustack lacks answers a clear error where it is used), so that
//!   clients pinned to a version (Nova asks for 3.44 for attachments, 3.42 for online
//!   extend) work;
//! - [`advertised_max_minor`]: the highest version whose every change (and every
//!   earlier change) is [`Support::Implemented`] or [`Support::NotApplicable`]: what
//!   the versions document shows as `version`.

/// How much of a microversion's change rustack implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Implemented as upstream.
    Implemented,
    /// The change only alters an API rustack does not offer at all (that API's
    /// absence is documented on its own); nothing to implement at this version.
    NotApplicable,
    /// Not implemented (the reason is in the entry).
    Missing(&'static str),
}

/// One microversion and what it changed.
#[derive(Clone, Copy, Debug)]
pub struct VersionEntry {
    /// The minor number (`3.minor`).
    pub minor: u16,
    /// What the version changed upstream.
    pub change: &'static str,
    /// What rustack does of it.
    pub support: Support,
}

use Support::{Implemented as I, Missing as M, NotApplicable as NA};

const fn v(minor: u16, change: &'static str, support: Support) -> VersionEntry {
    VersionEntry {
        minor,
        change,
        support,
    }
}

/// Every Cinder v3 microversion, oldest first.
pub const HISTORY: &[VersionEntry] = &[
    v(0, "all v2 APIs; microversions epoch", I),
    v(1, "visibility and protected in os-volume_upload_image", I),
    v(2, "bootable filter parsed as a boolean", I),
    v(3, "user messages API", I),
    v(4, "glance_metadata filter on volume lists", I),
    v(5, "messages pagination", I),
    v(6, "empty name and description allowed", I),
    v(7, "clusters API, cluster_name in service list", I),
    v(
        8,
        "manageable volumes and snapshots",
        M("managing existing backend volumes is not offered"),
    ),
    v(9, "backup update", I),
    v(10, "group_id filter on volume lists", I),
    v(
        11,
        "group types and group specs",
        M("generic volume groups are not implemented"),
    ),
    v(12, "volumes summary", I),
    v(
        13,
        "generic volume groups",
        M("generic volume groups are not implemented"),
    ),
    v(
        14,
        "group snapshots",
        M("generic volume groups are not implemented"),
    ),
    v(
        15,
        "ETag / If-Match on volume metadata",
        M("ETag and If-Match on volume metadata are not implemented"),
    ),
    v(16, "migrate volume to a cluster", NA),
    v(17, "manageable lists take a cluster", NA),
    v(18, "backup project attribute", I),
    v(19, "group snapshot reset_status", NA),
    v(20, "group reset_status", NA),
    v(21, "provider_id in the admin volume view", I),
    v(22, "snapshot list metadata filter", I),
    v(23, "force on volume delete", I),
    v(
        24,
        "workers/cleanup",
        M("workers/cleanup is not offered (the reconciler does it)"),
    ),
    v(25, "volumes in group views", NA),
    v(26, "failover action, cluster filters", NA),
    v(27, "attachments API", I),
    v(28, "get_pools filters", I),
    v(29, "group snapshot list filters", NA),
    v(30, "sort snapshots by name", I),
    v(31, "configurable resource filters", I),
    v(
        32,
        "service set-log/get-log",
        M("dynamic log levels are not offered"),
    ),
    v(33, "resource_filters API", I),
    v(34, "like filters (name~)", I),
    v(35, "volume-type filter on get_pools", I),
    v(36, "metadata in volumes summary", I),
    v(37, "sort backups by name", I),
    v(38, "replication groups", NA),
    v(39, "project_id filter on limits", I),
    v(40, "revert volume to its latest snapshot", I),
    v(41, "user_id in snapshot views", I),
    v(42, "extend in-use volumes", I),
    v(43, "backup metadata", I),
    v(44, "attachment complete", I),
    v(45, "count in list responses", I),
    v(
        46,
        "create from a Nova zero-size image",
        M("Nova snapshot images of volume-backed servers are not read"),
    ),
    v(
        47,
        "create volume from backup",
        M("backups are not implemented"),
    ),
    v(48, "shared_targets and service_uuid", I),
    v(49, "backend state in service list", I),
    v(50, "multiattach", I),
    v(51, "cross-AZ backups", NA),
    v(52, "RESKEY:availability_zones spec", I),
    v(53, "jsonschema request validation", I),
    v(54, "mode on attachment create", I),
    v(
        55,
        "transfer volumes with snapshots",
        M("volume transfers are not implemented"),
    ),
    v(56, "user_id in backup lists", I),
    v(
        57,
        "transfer fields",
        M("volume transfers are not implemented"),
    ),
    v(58, "project_id in group lists", NA),
    v(
        59,
        "transfer pagination",
        M("volume transfers are not implemented"),
    ),
    v(60, "created_at/updated_at filters", I),
    v(61, "cluster_name in the admin volume view", I),
    v(62, "default volume type per project", I),
    v(63, "volume_type_id in volume views", I),
    v(64, "encryption_key_id in volume views", I),
    v(65, "consumes_quota in volume and snapshot views", I),
    v(66, "snapshot in-use volumes without force", I),
    v(67, "URLs without project_id", I),
    v(68, "re-image volume", M("re-image is not implemented")),
    v(69, "null shared_targets", I),
    v(
        70,
        "encrypted volume transfers",
        M("volume transfers are not implemented"),
    ),
    v(
        71,
        "os-extend_volume_completion",
        M("extend completion is not offered (Nova resizes synchronously)"),
    ),
];

/// The highest minor a request may ask for (`3.MAX_MINOR`).
pub const MAX_MINOR: u16 = HISTORY[HISTORY.len() - 1].minor;

/// The highest minor whose change and every earlier change is implemented (or not
/// applicable): the `version` the versions document advertises.
pub fn advertised_max_minor() -> u16 {
    let mut max = 0;
    for e in HISTORY {
        if matches!(e.support, Support::Missing(_)) {
            break;
        }
        max = e.minor;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_contiguous_and_advertised_is_below_served() {
        for (i, e) in HISTORY.iter().enumerate() {
            assert_eq!(usize::from(e.minor), i, "{}", e.change);
        }
        assert_eq!(MAX_MINOR, 71);
        let adv = advertised_max_minor();
        assert!(adv < MAX_MINOR);
        assert!(HISTORY[..=usize::from(adv)]
            .iter()
            .all(|e| !matches!(e.support, Support::Missing(_))));
        assert!(matches!(
            HISTORY[usize::from(adv) + 1].support,
            Support::Missing(_)
        ));
    }
}
