//! Compute API microversions as data.
//!
//! [`HISTORY`] lists every microversion nova defines (its `REST_API_VERSION_HISTORY`)
//! with whether rustack implements the change. The advertised maximum ([`max`]) is the
//! highest version such that every change up to and including it is implemented: a
//! client asking for it gets exactly upstream's behaviour for every version below.
//! Raise it by flipping `implemented` in the table when a change lands (and update
//! docs/api-compat.md).
//!
//! Negotiation ([`negotiate`]) follows nova: the `OpenStack-API-Version: compute X.Y`
//! header wins over the legacy `X-OpenStack-Nova-API-Version: X.Y`; no header means the
//! minimum (2.1); `latest` means the maximum; a malformed string is a 400 and a
//! well-formed one outside [min, max] a 406, with nova's messages.

use std::fmt;

/// A requested or supported microversion (`2.37`). Ordered by (major, minor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major number (always 2 for the v2.1 API).
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl ApiVersion {
    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> ApiVersion {
        ApiVersion { major, minor }
    }

    /// True if this is `2.minor` or newer (handlers write `v.at_least(37)`).
    pub fn at_least(self, minor: u32) -> bool {
        self >= ApiVersion::new(2, minor)
    }

    /// Parses `X.Y` as nova does (`^([1-9]\d*)\.([1-9]\d*|0)$`); `latest` is not
    /// handled here.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (major, minor) = s.split_once('.')?;
        let num = |p: &str, zero_ok: bool| -> Option<u32> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if p.starts_with('0') && !(zero_ok && p == "0") {
                return None;
            }
            p.parse().ok()
        };
        Some(ApiVersion::new(num(major, false)?, num(minor, true)?))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// One microversion of the history.
#[derive(Clone, Copy, Debug)]
pub struct VersionEntry {
    /// The version (`2.minor`).
    pub version: ApiVersion,
    /// What it changes, as nova's history describes it.
    pub description: &'static str,
    /// Whether rustack implements the change.
    pub implemented: bool,
}

const fn v(minor: u32, description: &'static str, implemented: bool) -> VersionEntry {
    VersionEntry {
        version: ApiVersion::new(2, minor),
        description,
        implemented,
    }
}

/// The lowest version served (and the default when a request names none).
pub const MIN: ApiVersion = ApiVersion::new(2, 1);

/// Every microversion nova defines (2.1 to 2.104), oldest first.
pub const HISTORY: &[VersionEntry] = &[
    v(1, "Initial version. Equivalent to v2.0 code", true),
    v(2, "Adds (keypair) type parameter for os-keypairs plugin Fixes success status code for create/delete a keypair method", true),
    v(3, "Exposes additional os-extended-server-attributes Exposes delete_on_termination for os-extended-volumes", true),
    v(4, "Exposes reserved field in os-fixed-ips.", true),
    v(5, "Allow server search option ip6 for non-admin", true),
    v(6, "Consolidate the APIs for getting remote consoles", true),
    v(7, "Check flavor type before add tenant access.", true),
    v(8, "Add new protocol for VM console (mks)", true),
    v(9, "Exposes lock information in server details.", true),
    v(10, "Allow admins to query, create and delete keypairs owned by any user.", true),
    v(11, "Exposes forced_down attribute for os-services", true),
    v(12, "Exposes VIF net_id in os-virtual-interfaces", true),
    v(13, "Add project id and user id information for os-server-groups API", true),
    v(14, "Remove onSharedStorage from evacuate request body and remove adminPass from the response body", true),
    v(15, "Add soft-affinity and soft-anti-affinity policies", true),
    v(16, "Exposes host_status for servers/detail and servers/{server_id}", true),
    v(17, "Add trigger_crash_dump to server actions", true),
    v(18, "Makes project_id optional in v2.1", true),
    v(19, "Allow user to set and get the server description", true),
    v(20, "Add attach and detach volume operations for instances in shelved and shelved_offloaded state", true),
    v(21, "Make os-instance-actions read deleted instances", true),
    v(22, "Add API to force live migration to complete", true),
    v(23, "Add index/show API for server migrations. Also add migration_type for /os-migrations and add ref link for it when the migration is an in progress live migration.", true),
    v(24, "Add API to cancel a running live migration", true),
    v(25, "Make block_migration support 'auto' and remove disk_over_commit for os-migrateLive.", true),
    v(26, "Adds support of server tags", true),
    v(27, "Adds support for new-style microversion headers while keeping support for the original style.", true),
    v(28, "Changes compute_node.cpu_info from string to object", true),
    v(29, "Add a force flag in evacuate request body and change the behaviour for the host flag by calling the scheduler.", true),
    v(30, "Add a force flag in live-migrate request body and change the behaviour for the host flag by calling the scheduler.", true),
    v(31, "Fix os-console-auth-tokens to work for all console types.", true),
    v(32, "Add tag to networks and block_device_mapping_v2 in server boot request body.", true),
    v(33, "Add pagination support for hypervisors.", true),
    v(34, "Checks before live-migration are made in asynchronous way. os-Migratelive Action does not throw badRequest in case of pre-checks failure. Verification result is available over instance-actions.", true),
    v(35, "Adds keypairs pagination support.", true),
    v(36, "Deprecates all the API which proxy to another service and fping API.", true),
    v(37, "Adds support for auto-allocating networking, otherwise known as \"Get me a Network\". Also enforces server.networks.uuid to be in UUID format.", true),
    v(38, "Add a condition to return HTTPBadRequest if invalid status is provided for listing servers.", true),
    v(39, "Deprecates image-metadata proxy API", true),
    v(40, "Adds simple tenant usage pagination support.", true),
    v(41, "Return uuid attribute for aggregates.", true),
    v(42, "In the context of device tagging at instance boot time, re-introduce the tag attribute that, due to bugs, was lost starting with version 2.33 for block devices and starting with version 2.37 for network interfaces.", true),
    v(43, "Deprecate os-hosts API", true),
    v(44, "The servers action addFixedIp, removeFixedIp, addFloatingIp, removeFloatingIp and os-virtual-interfaces APIs are deprecated.", true),
    v(45, "The createImage and createBackup APIs no longer return a Location header in the response for the snapshot image, they now return a json dict in the response body with an image_id key and uuid value.", true),
    v(46, "Return ``X-OpenStack-Request-ID`` header on requests.", true),
    v(47, "When displaying server details, display the flavor as a dict rather than a link.  If the user is prevented from retrieving the flavor extra-specs by policy, simply omit the field from the output.", true),
    v(48, "Standardize VM diagnostics info.", true),
    v(49, "Support tagged attachment of network interfaces and block devices.", true),
    v(50, "Exposes ``server_groups`` and ``server_group_members`` keys in GET & PUT ``os-quota-class-sets`` APIs response. Also filter out Network related quotas from ``os-quota-class-sets`` API", true),
    v(51, "Adds new event name to external-events (volume-extended). Also, non-admins can see instance action event details except for the traceback field.", true),
    v(52, "Adds support for applying tags when creating a server.", true),
    v(53, "Service and compute node (hypervisor) database ids are hidden. The os-services and os-hypervisors APIs now return a uuid in the id field, and takes a uuid in requests. PUT and GET requests and responses are also changed.", true),
    v(54, "Enable reset key pair while rebuilding instance.", true),
    v(55, "Added flavor.description to GET/POST/PUT flavors APIs.", true),
    v(56, "Add a host parameter in migrate request body in order to enable users to specify a target host in cold migration. The target host is checked by the scheduler.", true),
    v(57, "Deprecated personality files from POST /servers and the rebuild server action APIs. Added the ability to pass new user_data to the rebuild server action API. Personality / file injection related limits and quota resources are also removed.", true),
    v(58, "Add pagination support and changes-since filter for os-instance-actions API.", true),
    v(59, "Add pagination support and changes-since filter for os-migrations API. And the os-migrations API now returns both the id and the uuid in response.", true),
    v(60, "Add support for attaching a single volume to multiple instances.", true),
    v(61, "Exposes flavor extra_specs in the flavor representation. Flavor extra_specs will be included in Response body of GET, POST, PUT /flavors APIs.", true),
    v(62, "Add ``host`` and ``hostId`` fields to instance action detail API responses.", true),
    v(63, "Add support for applying trusted certificates when creating or rebuilding a server.", true),
    v(64, "Add support for the \"max_server_per_host\" policy rule for ``anti-affinity`` server group policy, the ``policies`` and ``metadata`` fields are removed and the ``policy`` (required) and ``rules`` (optional) fields are added in response body of GET, POST /os-server-groups APIs and GET /os-server-groups/{group_id} API.", true),
    v(65, "Add support for abort live migrations in ``queued`` and ``preparing`` status.", true),
    v(66, "Add ``changes-before`` to support users to specify the ``updated_at`` time to filter nova resources, the resources include the servers API, os-instance-action API and os-migrations API.", true),
    v(67, "Adds the optional ``volume_type`` field to the ``block_device_mapping_v2`` parameter when creating a server.", true),
    v(68, "Remove support for forced live migration and evacuate server actions.", true),
    v(69, "Add support for returning minimal constructs for ``GET /servers``, ``GET /servers/detail``, ``GET /servers/{server_id}`` and ``GET /os-services`` when there is a transient unavailability condition in the deployment like an infrastructure failure.", true),
    v(70, "Exposes virtual device tags in the response of the ``os-volume_attachments`` and ``os-interface`` APIs.", true),
    v(71, "Adds the ``server_groups`` field to ``GET /servers/{id}``, ``PUT /servers/{server_id}`` and ``POST /servers/{server_id}/action`` (rebuild) responses.", true),
    v(72, "Add support for neutron ports with resource request during server create. Server move operations are not yet supported for servers with such ports.", true),
    v(73, "Adds support for specifying a reason when locking the server and exposes this via the response from ``GET /servers/detail``, ``GET /servers/{server_id}``, ``PUT servers/{server_id}`` and ``POST /servers/{server_id}/action`` where the action is rebuild. It also supports ``locked`` as a filter/sort parameter for ``GET /servers/detail`` and ``GET /servers``.", true),
    v(74, "Add support for specifying ``host`` and/or ``hypervisor_hostname`` in request body to ``POST /servers``. Allow users to specify which host/node they want their servers to land on and still be validated by the scheduler.", true),
    v(75, "Multiple API cleanup listed below: - 400 for unknown param for query param and for request body. - Making server representation always consistent among GET, PUT and Rebuild serevr APIs response. - Change the default return value of swap field from the empty string to 0 (integer) in flavor APIs. - Return ``servers`` field always in the response of GET hypervisors API even there are no servers on hypervisor.", true),
    v(76, "Adds ``power-update`` event to ``os-server-external-events`` API. The changes to the power state of an instance caused by this event can be viewed through ``GET /servers/{server_id}/os-instance-actions`` and ``GET /servers/{server_id}/os-instance-actions/{request_id}``.", true),
    v(77, "Add support for specifying ``availability_zone`` to unshelve of a shelved offload server.", true),
    v(78, "Adds new API ``GET /servers/{server_id}/topology`` which shows NUMA topology of a given server.", true),
    v(79, "Adds support for specifying ``delete_on_termination`` field in the request body to ``POST /servers/{server_id}/os-volume_attachments`` and exposes this via the response from ``POST /servers/{server_id}/os-volume_attachments``, ``GET /servers/{server_id}/os-volume_attachments`` and ``GET /servers/{server_id}/os-volume_attachments/{volume_id}``.", true),
    v(80, "Adds support for optional query parameters ``user_id`` and ``project_id`` to the ``GET /os-migrations`` API and exposes ``user_id`` and ``project_id`` via the response from ``GET /os-migrations``, ``GET /servers/{server_id}/migrations``, and ``GET /servers/{server_id}/migrations/{migration_id}``.", true),
    v(81, "Adds support for image cache management by aggregate by adding ``POST /os-aggregates/{aggregate_id}/images``.", true),
    v(82, "Adds ``accelerator-request-bound`` event to ``os-server-external-events`` API. This event is sent by Cyborg to indicate completion of ARQ binding. The ARQs can be obtained from Cyborg with ``GET /v2/accelerator_requests?instance={uuid}``", true),
    v(83, "Allow more filter parameters for ``GET /servers/detail`` and ``GET /servers`` for non-admin.", false),
    v(84, "Adds ``details`` field to instance action events.", true),
    v(85, "Add support for ``PUT /servers/{server_id}/os-volume_attachments/{volume_id}`` which supports specifying the ``delete_on_termination`` field in the request body to change the attached volume's flag.", true),
    v(86, "Add support for validation of known extra specs to the ``POST /flavors/{flavor_id}/os-extra_specs`` and ``PUT /flavors/{flavor_id}/os-extra_specs/{id}`` APIs.", false),
    v(87, "Adds support for rescuing boot from volume instances when the compute host reports the COMPUTE_RESCUE_BFV capability trait.", false),
    v(88, "Drop statistics-style fields from the ``/os-hypervisors/detail`` and ``/os-hypervisors/{hypervisor_id}`` APIs, and remove the ``/os-hypervisors/statistics`` and ``/os-hypervisors/{hypervisor_id}/uptime`` APIs entirely.", false),
    v(89, "Add ``attachment_id``, ``bdm_uuid`` and remove ``id`` from the responses of ``GET  /servers/{server_id}/os-volume_attachments`` and ``GET /servers/{server_id}/os-volume_attachments/{volume_id}``", true),
    v(90, "Add support for requesting a specific hostname when creating, updating or rebuilding an instance. The ``OS-EXT-SRV-ATTR:hostname`` attribute is now returned in various server responses regardless of policy configuration.", false),
    v(91, "Add support to unshelve instance to a specific host and to pin/unpin AZ.", false),
    v(92, "Drop generation of keypair, add keypair name validation on ``POST /os-keypairs`` and allow including @ and dot (.) characters in keypair name.", false),
    v(93, "Add support for volume backed server rebuild.", false),
    v(94, "Allow FQDN in server hostname.", false),
    v(95, "Evacuate will now stop instance at destination.", false),
    v(96, "Add support for returning pinned_availability_zone in ``server show``, ``server list --long``, ``server update``, and ``server rebuild`` responses.", false),
    v(97, "Adds new API ``GET /servers/{server_id}/shares`` which shows shares attachments of a given server. ``GET /servers/{server_id}/shares/{share_id} which gives details about a share attachment. ``POST /servers/{server_id}/shares/{share_id} which create an attachment. ``DELETE /servers/{server_id}/shares/{share_id} which delete an attachment.", false),
    v(98, "Add support for returning embedded image properties in ``server show``, ``server list --long``, `server update``, and in the ``server rebuild`` responses.", false),
    v(99, "Add the spice-direct console type to the spice console protocol.", false),
    v(100, "Add support for returning associated scheduler_hints in ``GET /servers/{server_id}``, ``GET /servers/detail``, ``PUT /servers/{server_id}`` and ``POST /server/{server_id}/action`` (rebuild) responses.", false),
    v(101, "Attaching a volume via ``POST /servers/{server_id}/os-volume_attachments`` returns HTTP 202 Accepted instead of HTTP 200 and a volumeAttachment response.", false),
    v(102, "Add support for filtering flavors by name. Remove the deprecated ``rxtx_factor`` and ``OS-FLV-DISABLED:disabled`` fields and filters from various flavors APIs and restrict additional query string parameters for all APIs.", false),
    v(103, "Remove the ``/os-volumes_boot`` API", false),
    v(104, "Add support for updating ``pinned_availability_zone`` via ``PUT /servers/{server_id}`` to unpin or re-pin a server's availability zone.", false),];

/// The advertised maximum: the last version of the unbroken implemented prefix.
pub fn max() -> ApiVersion {
    let mut max = MIN;
    for e in HISTORY {
        if !e.implemented {
            break;
        }
        max = e.version;
    }
    max
}

/// Why a request's version cannot be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionError {
    /// Malformed version string (nova answers 400).
    Invalid(String),
    /// Outside [min, max] (nova answers 406): the requested version and the maximum.
    Unsupported(ApiVersion, ApiVersion),
}

impl VersionError {
    /// The HTTP status nova answers with.
    pub fn status(&self) -> u16 {
        match self {
            VersionError::Invalid(_) => 400,
            VersionError::Unsupported(..) => 406,
        }
    }
}

impl fmt::Display for VersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionError::Invalid(s) => write!(
                f,
                "API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
            VersionError::Unsupported(v, max) => write!(
                f,
                "Version {v} is not supported by the API. Minimum is {MIN} and maximum is {max}."
            ),
        }
    }
}

/// The `compute` entry of an `OpenStack-API-Version` header value
/// (`compute 2.37`, possibly among other services, comma separated).
fn compute_entry(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let mut it = part.split_whitespace();
        let service = it.next()?;
        if service.eq_ignore_ascii_case("compute") {
            Some(it.next().unwrap_or(""))
        } else {
            None
        }
    })
}

/// The version a request asks for, from the values of its `OpenStack-API-Version`
/// (`new`) and `X-OpenStack-Nova-API-Version` (`legacy`) headers.
pub fn negotiate(new: Option<&str>, legacy: Option<&str>) -> Result<ApiVersion, VersionError> {
    negotiate_up_to(new, legacy, max())
}

/// [`negotiate`] against an explicit maximum (the service's; tests serve versions
/// beyond the advertised one to exercise changes that are implemented early).
pub fn negotiate_up_to(
    new: Option<&str>,
    legacy: Option<&str>,
    max: ApiVersion,
) -> Result<ApiVersion, VersionError> {
    let requested = new
        .and_then(compute_entry)
        .or(legacy.map(str::trim))
        .map(str::trim);
    let Some(s) = requested else {
        return Ok(MIN);
    };
    if s.eq_ignore_ascii_case("latest") {
        return Ok(max);
    }
    let v = ApiVersion::parse(s).ok_or_else(|| VersionError::Invalid(s.to_owned()))?;
    if v < MIN || v > max {
        return Err(VersionError::Unsupported(v, max));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_consecutive_and_starts_implemented() {
        for (i, e) in HISTORY.iter().enumerate() {
            assert_eq!(e.version, ApiVersion::new(2, i as u32 + 1));
            assert!(!e.description.is_empty());
        }
        assert_eq!(HISTORY.len(), 104);
        assert!(HISTORY[0].implemented);
        assert!(max() >= MIN);
    }

    /// docs/api-compat.md's microversion table says what the code says.
    #[test]
    fn docs_table_matches_history() {
        let doc = include_str!("../../../../docs/api-compat.md");
        for e in HISTORY {
            let prefix = format!("| {} | ", e.version);
            let line = doc
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("docs/api-compat.md lacks a row for {}", e.version));
            let want = if e.implemented { "| yes |" } else { "| no |" };
            assert!(
                line.trim_end().ends_with(want),
                "docs/api-compat.md row for {} should end with {want}: {line}",
                e.version
            );
        }
    }

    #[test]
    fn parse_like_nova() {
        assert_eq!(ApiVersion::parse("2.10"), Some(ApiVersion::new(2, 10)));
        assert_eq!(ApiVersion::parse("2.0"), Some(ApiVersion::new(2, 0)));
        for bad in ["2", "2.", ".1", "02.1", "2.01", "2.1.1", "a.b", "", "2.-1"] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
        assert!(ApiVersion::new(2, 10) > ApiVersion::new(2, 9));
        assert!(ApiVersion::new(2, 37).at_least(37));
        assert!(!ApiVersion::new(2, 36).at_least(37));
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(None, None), Ok(MIN));
        assert_eq!(negotiate(None, Some("latest")), Ok(max()));
        assert_eq!(negotiate(Some("compute latest"), None), Ok(max()));
        assert_eq!(negotiate(Some("compute 2.1"), Some("junk")), Ok(MIN));
        assert_eq!(
            negotiate(Some("volume 3.5, compute 2.1"), None),
            Ok(ApiVersion::new(2, 1))
        );
        // A new-style header for another service leaves the legacy header in charge.
        assert_eq!(negotiate(Some("volume 3.5"), Some("2.1")), Ok(MIN));
        assert_eq!(
            negotiate(None, Some("2.x")),
            Err(VersionError::Invalid("2.x".into()))
        );
        let e = negotiate(None, Some("3.0")).expect_err("too new");
        assert_eq!(e.status(), 406);
        assert_eq!(
            e.to_string(),
            format!(
                "Version 3.0 is not supported by the API. Minimum is 2.1 and maximum is {}.",
                max()
            )
        );
        assert_eq!(
            negotiate(None, Some("2.0")).map_err(|e| e.status()),
            Err(406)
        );
        assert_eq!(
            negotiate(Some("compute 2.x"), None).map_err(|e| e.status()),
            Err(400)
        );
    }
}
