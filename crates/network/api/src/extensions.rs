//! The API extensions rustack's Networking API implements, exactly: `GET /v2.0/extensions`
//! lists these and nothing else (clients such as Tempest and the openstack CLI decide
//! what to call from this list).

/// One extension as `GET /v2.0/extensions` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The alias clients look for (`router`, `external-net`...).
    pub alias: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    /// What it adds.
    pub description: &'static str,
    /// Upstream's `updated` stamp.
    pub updated: &'static str,
}

const fn ext(
    alias: &'static str,
    name: &'static str,
    description: &'static str,
    updated: &'static str,
) -> Extension {
    Extension {
        alias,
        name,
        description,
        updated,
    }
}

/// Every implemented extension, sorted by alias.
pub const EXTENSIONS: &[Extension] = &[
    ext("agent", "agent", "The agent management extension.", "2013-02-03T10:00:00-00:00"),
    ext("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00"),
    ext("binding", "Port Binding", "Expose port bindings of a virtual port to external application", "2014-02-03T10:00:00-00:00"),
    ext("dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual Routers.", "2014-06-1T10:00:00-00:00"),
    ext("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00"),
    ext("external-net", "Neutron external network", "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00"),
    ext("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)", "2013-03-17T12:00:00-00:00"),
    ext("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00"),
    ext("extraroute-atomic", "Atomically add/remove extra routes", "Edit extra routes of a router on server side by atomically adding/removing extra routes", "2019-07-10T00:00:00-00:00"),
    ext("ip-substring-filtering", "IP address substring filtering", "Provides IP address substring filtering when listing ports", "2017-11-28T09:00:00-00:00"),
    ext("metering", "Neutron Metering", "Neutron Metering extension.", "2013-06-12T10:00:00-00:00"),
    ext("metering_source_and_destination_fields", "Neutron Metering with source and destination filtering", "Neutron Metering extension that enables the use of source and destination IP prefixes to create metering label rules.", "2020-08-21T08:12:00-00:00"),
    ext("net-mtu", "Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00"),
    ext("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a network resource.", "2017-07-12T00:00:00-00:00"),
    ext("pagination", "Pagination support", "Extension that indicates that pagination is enabled.", "2016-06-12T00:00:00-00:00"),
    ext("port-security", "Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    ext("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled.", "2016-09-09T09:09:09-09:09"),
    ext("provider", "Provider Network", "Expose mapping of virtual networks to physical networks", "2012-09-07T10:00:00-00:00"),
    ext("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00"),
    ext("quotas", "Quota management support", "Expose functions for quotas management per project", "2012-07-29T10:00:00-00:00"),
    ext("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00"),
    ext("security-group", "security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00"),
    ext("service-type", "Neutron Service Type Management", "API for retrieving service providers for Neutron advanced services", "2013-01-20T00:00:00-00:00"),
    ext("sorting", "Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00"),
    ext("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00"),
    ext("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources.", "2016-04-11T10:00:00-00:00"),
    ext("standard-attr-tag", "Tag support for resources with standard attribute: subnet, trunk, network_segment_range, router, network, policy, subnetpool, port, security_group, floatingip", "Enables to set tag on resources with standard attribute.", "2017-01-01T00:00:00-00:00"),
    ext("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00"),
    ext("subnet-external-network", "Subnet External Network", "Informs if the subnet is associated to an external network.", "2021-01-08T10:00:00-00:00"),
    ext("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet pool", "2015-03-30T10:00:00-00:00"),
];

/// True if `alias` is implemented.
pub fn is_enabled(alias: &str) -> bool {
    EXTENSIONS.iter().any(|e| e.alias == alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_unique() {
        let aliases: Vec<&str> = EXTENSIONS.iter().map(|e| e.alias).collect();
        let mut sorted = aliases.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(aliases, sorted);
        assert!(is_enabled("router") && !is_enabled("l3-ha"));
    }

    /// The Tempest configuration lists exactly these aliases (`api_extensions`), as a
    /// DevStack lists its cloud's: a new extension must be added there too.
    #[test]
    fn tempest_conf_lists_exactly_these() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../conformance/tempest-full.conf"
        );
        let conf = std::fs::read_to_string(path).expect("tempest-full.conf");
        let listed: Vec<&str> = conf
            .lines()
            .find_map(|l| l.strip_prefix("api_extensions = "))
            .expect("api_extensions in tempest-full.conf")
            .split(',')
            .collect();
        let ours: Vec<&str> = EXTENSIONS.iter().map(|e| e.alias).collect();
        assert_eq!(listed, ours);
    }
}
