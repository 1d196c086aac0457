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

#[cfg(test)]
mod tests {
    use super::*;
    use rustack_hostops::dataplane::Port;
    use rustack_hostops::net::LinkKind;

    fn port(id: &str, owner: &str) -> Port {
        Port {
            id: id.into(),
            network_id: "net1".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            device_owner: owner.into(),
            ..Port::default()
        }
    }

    fn link(name: &str, master: Option<&str>, up: bool) -> LinkInfo {
        LinkInfo {
            name: name.into(),
            kind: LinkKind::Tap,
            mtu: 1450,
            mac: None,
            master: master.map(str::to_string),
            up,
        }
    }

    #[test]
    fn active_only_when_the_device_is_up_on_its_bridge() {
        let topo = Topology {
            ports: vec![
                port("plugged", "compute:nova"),
                port("unplugged", "compute:nova"),
                port("down", "compute:nova"),
                port("absent", "network:dhcp"),
                port("fip", "network:floatingip"),
            ],
            ..Topology::default()
        };
        let br = naming::bridge("net1");
        let links = vec![
            link(&naming::tap("plugged"), Some(&br), true),
            link(&naming::tap("unplugged"), None, true),
            link(&naming::tap("down"), Some(&br), false),
        ];
        let s = port_statuses(&topo, &links);
        assert_eq!(s["plugged"], ACTIVE);
        assert_eq!(s["unplugged"], DOWN);
        assert_eq!(s["down"], DOWN);
        assert_eq!(s["absent"], DOWN);
        assert!(!s.contains_key("fip"), "floating IP ports are not reported");
    }
}
