//! Port status as the agent sees it on its host: a port is `ACTIVE` when its device is
//! realised (the `tap<port>` link exists in the host namespace, is up and enslaved to
//! its network's bridge: a DHCP or router leg the reconciler built, or an instance TAP
//! compute created and the reconciler plugged), `DOWN` otherwise, as Neutron's
//! linuxbridge agent reports them. Floating IP ports have no device and are not
//! reported (Neutron shows them `N/A`).

use std::collections::BTreeMap;

use rustack_hostops::dataplane::{naming, Topology};
use rustack_hostops::net::LinkInfo;

/// `status` of an active port.
pub const ACTIVE: &str = "ACTIVE";
/// `status` of a port whose device is missing.
pub const DOWN: &str = "DOWN";

/// Port id -> status for every port of `topo` with a device, given the links of the
/// host namespace.
pub fn port_statuses(topo: &Topology, host_links: &[LinkInfo]) -> BTreeMap<String, &'static str> {
    let links: BTreeMap<&str, &LinkInfo> =
        host_links.iter().map(|l| (l.name.as_str(), l)).collect();
    topo.ports
        .iter()
        .filter(|p| p.device_owner != "network:floatingip")
        .map(|p| {
            let bridge = naming::bridge(&p.network_id);
            let up = links
                .get(naming::tap(&p.id).as_str())
                .is_some_and(|l| l.up && l.master.as_deref() == Some(bridge.as_str()));
            (p.id.clone(), if up { ACTIVE } else { DOWN })
        })
        .collect()
}
