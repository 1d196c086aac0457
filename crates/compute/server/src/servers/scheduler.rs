//! The scheduler: Placement answers "which providers can hold these resources"
//! (`GET /allocation_candidates`), the filters below drop hosts that fail the request's
//! other constraints, the weighers order the rest (spread: most free RAM, then most
//! free vCPUs, as Nova's default RAM and CPU weighers), and the build claims the best
//! candidate in Placement. The claim is atomic in Placement: a lost race is a 409 and
//! the build moves on to the next candidate, so nothing is ever over-committed.
//!
//! Filtering and weighing are pure functions over [`HostState`] so they are tested
//! without a cloud.

use std::collections::BTreeSet;

use rustack_placement_api::{AllocationCandidates, AllocationRequest};

/// What the scheduler knows about a compute host (from the core's tables).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostState {
    /// Resource provider (compute node) uuid.
    pub provider: String,
    /// Compute host name.
    pub host: String,
    /// Hypervisor hostname.
    pub node: String,
    /// Availability zone of the host.
    pub availability_zone: String,
    /// The compute service is enabled (and not forced down).
    pub enabled: bool,
    /// `QEMU`.
    pub hypervisor_type: String,
    /// Free MiB (capacity - used) from Placement.
    pub free_ram_mb: i64,
    /// Free vCPUs from Placement.
    pub free_vcpus: i64,
}

/// The request's constraints besides resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestSpec {
    /// Requested availability zone (the part before `:`).
    pub availability_zone: Option<String>,
    /// Forced host (`zone:host`, or 2.74 `host`).
    pub host: Option<String>,
    /// Forced node.
    pub node: Option<String>,
    /// Hosts to avoid (previous failed attempts, `different_host`).
    pub ignore_hosts: BTreeSet<String>,
    /// Hosts to require (`same_host`).
    pub same_hosts: Option<BTreeSet<String>>,
    /// Affinity group: the hosts its members are on (must use one of them if any).
    pub affinity_hosts: Option<BTreeSet<String>>,
    /// Anti-affinity group: hosts already holding a member.
    pub anti_affinity_hosts: BTreeSet<String>,
    /// `hypervisor_type` image property (`qemu`, `kvm`), if any.
    pub image_hypervisor_type: Option<String>,
    /// `architecture` image property, if any.
    pub image_arch: Option<String>,
}

/// Why a host was dropped (for the NoValidHost log line).
pub fn filter_reason(h: &HostState, spec: &RequestSpec) -> Option<&'static str> {
    if !h.enabled {
        return Some("ComputeFilter");
    }
    if let Some(az) = &spec.availability_zone {
        if &h.availability_zone != az {
            return Some("AvailabilityZoneFilter");
        }
    }
    if let Some(host) = &spec.host {
        if &h.host != host {
            return Some("forced host");
        }
    }
    if let Some(node) = &spec.node {
        if &h.node != node {
            return Some("forced node");
        }
    }
    if spec.ignore_hosts.contains(&h.host) {
        return Some("RetryFilter/DifferentHostFilter");
    }
    if let Some(same) = &spec.same_hosts {
        if !same.contains(&h.host) {
            return Some("SameHostFilter");
        }
    }
    if let Some(aff) = &spec.affinity_hosts {
        if !aff.is_empty() && !aff.contains(&h.host) {
            return Some("ServerGroupAffinityFilter");
        }
    }
    if spec.anti_affinity_hosts.contains(&h.host) {
        return Some("ServerGroupAntiAffinityFilter");
    }
    if let Some(ht) = &spec.image_hypervisor_type {
        let ok = ht.eq_ignore_ascii_case(&h.hypervisor_type)
            || (ht.eq_ignore_ascii_case("kvm") && h.hypervisor_type.eq_ignore_ascii_case("qemu"));
        if !ok {
            return Some("ImagePropertiesFilter");
        }
    }
    if let Some(arch) = &spec.image_arch {
        let a = arch.to_ascii_lowercase();
        if !matches!(a.as_str(), "x86_64" | "amd64" | "x64" | "i686" | "i386") {
            return Some("ImagePropertiesFilter");
        }
    }
    None
}

/// Spread weight: free RAM first (normalised), free vCPUs second, as Nova's
/// `RAMWeigher` and `CPUWeigher` with multiplier 1.0 on normalised values.
fn weight(h: &HostState, max_ram: i64, max_cpu: i64) -> f64 {
    let norm = |v: i64, m: i64| if m <= 0 { 0.0 } else { v as f64 / m as f64 };
    norm(h.free_ram_mb, max_ram) + norm(h.free_vcpus, max_cpu)
}

/// The hosts that pass every filter, best first.
pub fn select<'a>(hosts: &'a [HostState], spec: &RequestSpec) -> Vec<&'a HostState> {
    let mut ok: Vec<&HostState> = hosts
        .iter()
        .filter(|h| filter_reason(h, spec).is_none())
        .collect();
    let max_ram = ok.iter().map(|h| h.free_ram_mb).max().unwrap_or(0);
    let max_cpu = ok.iter().map(|h| h.free_vcpus).max().unwrap_or(0);
    ok.sort_by(|a, b| {
        weight(b, max_ram, max_cpu)
            .partial_cmp(&weight(a, max_ram, max_cpu))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.host.cmp(&b.host))
    });
    ok
}

/// The allocation request of `cands` that uses only `provider` (single-provider trees).
pub fn request_for<'a>(
    cands: &'a AllocationCandidates,
    provider: &str,
) -> Option<&'a AllocationRequest> {
    cands
        .allocation_requests
        .iter()
        .find(|r| r.allocations.contains_key(provider))
}

/// Free amount of `class` on `provider` in the candidates' provider summaries.
pub fn free(cands: &AllocationCandidates, provider: &str, class: &str) -> i64 {
    cands
        .provider_summaries
        .get(provider)
        .and_then(|p| p.resources.get(class))
        .map(|r| r.capacity - r.used)
        .unwrap_or(0)
}

/// Resources a flavor needs in Placement (Nova's `resources_from_flavor`): swap MiB
/// rounds up into DISK_GB.
pub fn flavor_resources(
    vcpus: i64,
    memory_mb: i64,
    root_gb: i64,
    ephemeral_gb: i64,
    swap_mb: i64,
) -> Vec<(&'static str, i64)> {
    let disk = root_gb + ephemeral_gb + (swap_mb + 1023) / 1024;
    let mut r = vec![("VCPU", vcpus), ("MEMORY_MB", memory_mb)];
    if disk > 0 {
        r.push(("DISK_GB", disk));
    }
    r
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn host(name: &str, ram: i64, cpu: i64) -> HostState {
        HostState {
            provider: format!("rp-{name}"),
            host: name.into(),
            node: name.into(),
            availability_zone: "nova".into(),
            enabled: true,
            hypervisor_type: "QEMU".into(),
            free_ram_mb: ram,
            free_vcpus: cpu,
        }
    }

    #[test]
    fn spreads_by_free_ram_then_cpu() {
        let hosts = vec![host("a", 1000, 4), host("b", 4000, 4), host("c", 4000, 8)];
        let order: Vec<&str> = select(&hosts, &RequestSpec::default())
            .iter()
            .map(|h| h.host.as_str())
            .collect();
        assert_eq!(order, vec!["c", "b", "a"]);
    }

    #[test]
    fn filters() {
        let mut disabled = host("d", 9000, 9);
        disabled.enabled = false;
        let mut other_az = host("z", 9000, 9);
        other_az.availability_zone = "az2".into();
        let hosts = vec![host("a", 1, 1), host("b", 1, 1), disabled, other_az];
        let names = |s: &RequestSpec| -> Vec<String> {
            select(&hosts, s).iter().map(|h| h.host.clone()).collect()
        };
        assert_eq!(names(&RequestSpec::default()), vec!["z", "a", "b"]);
        let az = RequestSpec {
            availability_zone: Some("nova".into()),
            ..Default::default()
        };
        assert_eq!(names(&az), vec!["a", "b"]);
        let anti = RequestSpec {
            availability_zone: Some("nova".into()),
            anti_affinity_hosts: ["a".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(names(&anti), vec!["b"]);
        let aff = RequestSpec {
            affinity_hosts: Some(["b".to_string()].into()),
            ..Default::default()
        };
        assert_eq!(names(&aff), vec!["b"]);
        let retry = RequestSpec {
            ignore_hosts: ["a".to_string(), "z".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(names(&retry), vec!["b"]);
        let img = RequestSpec {
            image_hypervisor_type: Some("xen".into()),
            ..Default::default()
        };
        assert!(names(&img).is_empty());
        let img = RequestSpec {
            image_hypervisor_type: Some("kvm".into()),
            image_arch: Some("x86_64".into()),
            ..Default::default()
        };
        assert_eq!(names(&img).len(), 3);
        let forced = RequestSpec {
            host: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(names(&forced), vec!["b"]);
    }

    #[test]
    fn flavor_to_resources() {
        assert_eq!(
            flavor_resources(1, 512, 1, 0, 0),
            vec![("VCPU", 1), ("MEMORY_MB", 512), ("DISK_GB", 1)]
        );
        assert_eq!(
            flavor_resources(2, 64, 0, 0, 1),
            vec![("VCPU", 2), ("MEMORY_MB", 64), ("DISK_GB", 1)]
        );
        assert_eq!(
            flavor_resources(1, 64, 0, 0, 0),
            vec![("VCPU", 1), ("MEMORY_MB", 64)]
        );
    }
}
