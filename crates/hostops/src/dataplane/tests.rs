//! Planner and reconciler tests against the shared fake host.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use super::*;
use crate::dhcp::DhcpOutcome;
use crate::fake::FakeHost;
use crate::net::{LinkKind, LinkSpec, NetOps};

const NET: &str = "11111111-aaaa-4aaa-8aaa-000000000001";
const EXT: &str = "22222222-bbbb-4bbb-8bbb-000000000002";
const ROUTER: &str = "33333333-cccc-4ccc-8ccc-000000000003";

fn port(id: &str, net: &str, mac: &str, subnet: &str, ip: &str, owner: &str, device: &str) -> Port {
    Port {
        id: id.into(),
        network_id: net.into(),
        mac_address: mac.into(),
        fixed_ips: vec![FixedIp {
            subnet_id: subnet.into(),
            ip_address: ip.parse().unwrap(),
        }],
        device_owner: owner.into(),
        device_id: device.into(),
        ..Port::default()
    }
}

fn topology() -> Topology {
    Topology {
        networks: vec![
            Network {
                id: NET.into(),
                mtu: 1450,
                segment: Segment::Vxlan { vni: 100 },
            },
            Network {
                id: EXT.into(),
                mtu: 1500,
                segment: Segment::Flat {
                    physical_network: "public".into(),
                },
            },
        ],
        subnets: vec![
            Subnet {
                id: "sub-tenant".into(),
                network_id: NET.into(),
                cidr: "10.10.0.0/24".parse().unwrap(),
                gateway_ip: Some("10.10.0.1".parse().unwrap()),
                enable_dhcp: true,
                dns_nameservers: vec![],
                host_routes: vec![],
            },
            Subnet {
                id: "sub-ext".into(),
                network_id: EXT.into(),
                cidr: "203.0.113.0/24".parse().unwrap(),
                gateway_ip: Some("203.0.113.1".parse().unwrap()),
                enable_dhcp: false,
                dns_nameservers: vec![],
                host_routes: vec![],
            },
        ],
        ports: vec![
            port(
                "dddddddd-0000-0000-0000-000000000002",
                NET,
                "fa:16:3e:00:00:02",
                "sub-tenant",
                "10.10.0.2",
                "network:dhcp",
                "dhcp",
            ),
            port(
                "aaaaaaaa-0000-0000-0000-000000000011",
                NET,
                "fa:16:3e:00:00:11",
                "sub-tenant",
                "10.10.0.11",
                "compute:nova",
                "vm1",
            ),
            port(
                "bbbbbbbb-0000-0000-0000-000000000012",
                NET,
                "FA:16:3E:00:00:12",
                "sub-tenant",
                "10.10.0.12",
                "compute:nova",
                "vm2",
            ),
            port(
                "cccccccc-0000-0000-0000-000000000001",
                NET,
                "fa:16:3e:00:00:01",
                "sub-tenant",
                "10.10.0.1",
                "network:router_interface",
                ROUTER,
            ),
            port(
                "eeeeeeee-0000-0000-0000-000000000002",
                EXT,
                "fa:16:3e:00:01:02",
                "sub-ext",
                "203.0.113.2",
                "network:router_gateway",
                ROUTER,
            ),
        ],
        routers: vec![Router {
            id: ROUTER.into(),
            enable_snat: true,
            routes: vec![],
        }],
        floating_ips: vec![FloatingIp {
            id: "fip1".into(),
            floating_ip_address: "203.0.113.50".parse().unwrap(),
            fixed_ip_address: Some("10.10.0.11".parse().unwrap()),
            router_id: Some(ROUTER.into()),
        }],
        ..Topology::default()
    }
}

fn host_cfg() -> HostConfig {
    HostConfig {
        vtep: Some(VtepConfig {
            local: "198.51.100.1".parse().unwrap(),
            dev: Some("ul0".into()),
            remote: None,
            dstport: 4789,
        }),
        physical_interfaces: BTreeMap::from([("public".to_string(), "eth1".to_string())]),
        ..HostConfig::default()
    }
}

fn pass(h: &FakeHost, d: &DesiredState) -> Vec<Change> {
    let r = Reconciler::new(h, h, h).reconcile(d);
    assert!(r.is_ok(), "errors: {:?}", r.errors);
    r.changes
}

#[test]
fn plan_follows_neutron_layout() {
    let d = plan(&topology(), &host_cfg());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    assert_eq!(
        d.bridges.keys().collect::<Vec<_>>(),
        ["brq11111111-aa", "brq22222222-bb"]
    );
    let vx = &d.vxlans["vxlan-100"];
    assert_eq!(
        (vx.params.vni, vx.bridge.as_str(), vx.mtu),
        (100, "brq11111111-aa", 1450)
    );
    assert_eq!(d.plugs["eth1"], "brq22222222-bb");
    assert_eq!(d.plugs["tapaaaaaaaa-00"], "brq11111111-aa");
    assert!(
        !d.plugs.contains_key("tapdddddddd-00"),
        "network ports are veth legs, not plugs"
    );
    let qdhcp = format!("qdhcp-{NET}");
    let qrouter = format!("qrouter-{ROUTER}");
    assert_eq!(
        d.namespaces.iter().cloned().collect::<Vec<_>>(),
        [qdhcp.clone(), qrouter.clone()]
    );
    let leg = &d.veths[&(qdhcp.clone(), "ns-dddddddd-00".to_string())];
    assert_eq!(
        (leg.outer.as_str(), leg.bridge.as_str(), leg.mac.as_str()),
        ("tapdddddddd-00", "brq11111111-aa", "fa:16:3e:00:00:02")
    );
    assert_eq!(
        d.addrs[&(qdhcp.clone(), "ns-dddddddd-00".to_string())]
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["10.10.0.2/24"]
    );
    let dhcp = &d.dhcp[NET];
    assert_eq!(dhcp.netns.as_deref(), Some(qdhcp.as_str()));
    // Every port but the DHCP port gets a static lease (router interfaces too, as Neutron).
    assert_eq!(
        dhcp.hosts_file(),
        "fa:16:3e:00:00:01,host-10-10-0-1.openstacklocal,10.10.0.1\n\
         fa:16:3e:00:00:11,host-10-10-0-11.openstacklocal,10.10.0.11\n\
         fa:16:3e:00:00:12,host-10-10-0-12.openstacklocal,10.10.0.12\n"
    );
    assert_eq!(
        dhcp.subnets[0].router.map(|r| r.to_string()).as_deref(),
        Some("10.10.0.1")
    );
    // Router: legs, forwarding, default route, floating IP on qg, NAT table.
    assert!(d
        .veths
        .contains_key(&(qrouter.clone(), "qr-cccccccc-00".to_string())));
    let qg = (qrouter.clone(), "qg-eeeeeeee-00".to_string());
    assert_eq!(d.veths[&qg].bridge, "brq22222222-bb");
    assert_eq!(
        d.addrs[&qg]
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["203.0.113.2/24", "203.0.113.50/32"]
    );
    assert_eq!(
        d.sysctls[&(qrouter.clone(), "net.ipv4.ip_forward".to_string())],
        "1"
    );
    let routes: Vec<_> = d.routes[&qrouter].iter().collect();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].dst.to_string(), "0.0.0.0/0");
    assert_eq!(
        routes[0].via.map(|v| v.to_string()).as_deref(),
        Some("203.0.113.1")
    );
    let nat = &d.tables[&qrouter][0];
    assert_eq!(nat.name, "rustack-nat");
    let rules: Vec<usize> = nat.chains.iter().map(|c| c.rules.len()).collect();
    assert_eq!(
        rules,
        [2, 1, 2, 1],
        "metadata redirect + DNAT in prerouting, DNAT in output; FIP SNAT before subnet \
         SNAT; the metadata port guard in input"
    );
    let post = serde_json::to_string(&nat.chains[2].rules).unwrap();
    assert!(post.find("203.0.113.50").unwrap() < post.find("\"len\":24").unwrap());
}

#[test]
fn plan_reports_what_it_cannot_place() {
    let mut t = topology();
    t.ports.retain(|p| p.device_owner != "network:dhcp");
    let d = plan(&t, &HostConfig::default());
    assert!(d.dhcp.is_empty());
    assert!(d.vxlans.is_empty(), "no VTEP: tenant networks stay local");
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    assert!(d
        .warnings
        .iter()
        .any(|w| w.contains("no network:dhcp port")));
    assert!(d.warnings.iter().any(|w| w.contains("\"public\"")));
}

#[test]
fn reconcile_converges_then_changes_nothing() {
    let h = FakeHost::new();
    h.add_link(
        None,
        &LinkSpec {
            name: "eth1".into(),
            kind: LinkKind::Other("device".into()),
            mtu: Some(1500),
            mac: None,
        },
    )
    .unwrap();
    let d = plan(&topology(), &host_cfg());
    let first = pass(&h, &d);
    assert!(first.len() > 20, "{first:?}");
    let m = h.mutations();
    assert_eq!(pass(&h, &d), vec![], "second pass is a no-op");
    assert_eq!(h.mutations(), m);
    let s = h.lock();
    let host = &s.links[&None];
    assert_eq!(
        host["vxlan-100"].info.master.as_deref(),
        Some("brq11111111-aa")
    );
    assert_eq!(host["eth1"].info.master.as_deref(), Some("brq22222222-bb"));
    assert_eq!(
        host["tapdddddddd-00"].info.master.as_deref(),
        Some("brq11111111-aa")
    );
    let qdhcp = Some(format!("qdhcp-{NET}"));
    let ns_leg = &s.links[&qdhcp]["ns-dddddddd-00"];
    assert_eq!(
        (ns_leg.info.mac.as_deref(), ns_leg.info.mtu, ns_leg.info.up),
        (Some("fa:16:3e:00:00:02"), 1450, true)
    );
    assert_eq!(s.dhcp[NET].starts, 1);
    assert_eq!(s.tables.len(), 1);
}

#[test]
fn removed_resources_are_torn_down() {
    let h = FakeHost::new();
    let mut t = topology();
    pass(&h, &plan(&t, &host_cfg()));
    // Remove the router and the tenant network's DHCP; keep both networks.
    t.routers.clear();
    t.floating_ips.clear();
    t.ports.retain(|p| p.device_owner.starts_with("compute"));
    let d = plan(&t, &host_cfg());
    let changes = pass(&h, &d);
    assert!(
        changes.contains(&Change::NetnsDel(format!("qrouter-{ROUTER}"))),
        "{changes:?}"
    );
    assert!(changes.contains(&Change::NetnsDel(format!("qdhcp-{NET}"))));
    assert!(changes.contains(&Change::DhcpStop(NET.into())));
    assert_eq!(pass(&h, &d), vec![]);
    {
        let s = h.lock();
        assert!(s.netns.is_empty());
        assert!(s.dhcp.is_empty());
        assert!(s.tables.is_empty());
        assert!(
            !s.links[&None].contains_key("tapdddddddd-00"),
            "veth peers go with their namespace"
        );
    }
    // Everything gone: only lo remains.
    pass(&h, &plan(&Topology::default(), &host_cfg()));
    assert_eq!(h.lock().links[&None].keys().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn router_interface_removal_deletes_only_that_leg() {
    let h = FakeHost::new();
    let mut t = topology();
    pass(&h, &plan(&t, &host_cfg()));
    t.ports
        .retain(|p| p.device_owner != "network:router_interface");
    let d = plan(&t, &host_cfg());
    let changes = pass(&h, &d);
    let qrouter = format!("qrouter-{ROUTER}");
    assert!(
        changes.contains(&Change::LinkDel(
            Some(qrouter.clone()),
            "qr-cccccccc-00".into()
        )),
        "{changes:?}"
    );
    assert!(
        changes.contains(&Change::TableApply(qrouter.clone(), "rustack-nat".into())),
        "SNAT rule for the subnet goes"
    );
    assert!(
        changes.contains(&Change::Dhcp(NET.into(), DhcpOutcome::Reloaded)),
        "its lease goes"
    );
    assert!(!h.lock().links[&None].contains_key("tapcccccccc-00"));
    assert_eq!(pass(&h, &d), vec![]);
}

#[test]
fn restarted_agent_finds_a_converged_host_and_restarts_dead_dnsmasq() {
    let h = FakeHost::new();
    let d = plan(&topology(), &host_cfg());
    pass(&h, &d);
    // A new agent process: a fresh reconciler over the same host.
    let again = FakeHost::clone(&h);
    assert_eq!(pass(&again, &d), vec![]);
    h.kill_dhcp(NET);
    assert_eq!(
        pass(&again, &d),
        vec![Change::Dhcp(NET.into(), DhcpOutcome::Started)]
    );
    assert_eq!(h.lock().dhcp[NET].starts, 2);
    // A new port: reload, not restart.
    let mut t = topology();
    t.ports.push(port(
        "ffffffff-0000-0000-0000-000000000013",
        NET,
        "fa:16:3e:00:00:13",
        "sub-tenant",
        "10.10.0.13",
        "compute:nova",
        "vm3",
    ));
    let d2 = plan(&t, &host_cfg());
    assert_eq!(
        pass(&h, &d2),
        vec![Change::Dhcp(NET.into(), DhcpOutcome::Reloaded)]
    );
    assert_eq!(h.lock().dhcp[NET].reloads, 1);
}

#[test]
fn drift_is_repaired() {
    let h = FakeHost::new();
    let d = plan(&topology(), &host_cfg());
    pass(&h, &d);
    let qdhcp = format!("qdhcp-{NET}");
    h.link_del(Some(&qdhcp), "ns-dddddddd-00").unwrap(); // takes the host end too
    h.link_del(None, "brq22222222-bb").unwrap();
    h.addr_add(
        Some(&format!("qrouter-{ROUTER}")),
        "qr-cccccccc-00",
        "10.99.0.1/24".parse().unwrap(),
    )
    .unwrap();
    h.sysctl_set(
        Some(&format!("qrouter-{ROUTER}")),
        "net.ipv4.ip_forward",
        "0",
    )
    .unwrap();
    let changes = pass(&h, &d);
    assert!(
        changes.contains(&Change::LinkAdd(None, "tapdddddddd-00".into())),
        "{changes:?}"
    );
    assert!(changes.contains(&Change::LinkAdd(None, "brq22222222-bb".into())));
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::AddrDel(_, _, a) if a == "10.99.0.1/24")));
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::Sysctl(_, _, v) if v == "1")));
    assert_eq!(pass(&h, &d), vec![]);
    let s = h.lock();
    assert_eq!(
        s.links[&None]["tapeeeeeeee-00"].info.master.as_deref(),
        Some("brq22222222-bb"),
        "gateway leg re-plugged"
    );
}

#[test]
fn instance_taps_are_plugged_when_they_appear_and_never_deleted() {
    let h = FakeHost::new();
    let d = plan(&topology(), &host_cfg());
    pass(&h, &d);
    h.add_link(
        None,
        &LinkSpec {
            name: "tapaaaaaaaa-00".into(),
            kind: LinkKind::Tap,
            mtu: Some(1450),
            mac: None,
        },
    )
    .unwrap();
    let changes = pass(&h, &d);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        h.lock().links[&None]["tapaaaaaaaa-00"]
            .info
            .master
            .as_deref(),
        Some("brq11111111-aa")
    );
    pass(&h, &plan(&Topology::default(), &host_cfg()));
    let s = h.lock();
    assert!(
        s.links[&None].contains_key("tapaaaaaaaa-00"),
        "compute owns instance TAPs"
    );
    assert_eq!(s.links[&None]["tapaaaaaaaa-00"].info.master, None);
}

#[test]
fn foreign_namespaces_and_links_are_left_alone() {
    let h = FakeHost::new();
    h.netns_add("qdhcp-of-someone-else").unwrap();
    h.netns_add("t1-qdhcp-x").unwrap();
    h.add_link(
        None,
        &LinkSpec {
            name: "eth0".into(),
            kind: LinkKind::Other("device".into()),
            mtu: None,
            mac: None,
        },
    )
    .unwrap();
    let cfg = HostConfig {
        netns_prefix: "t2-".into(),
        ..host_cfg()
    };
    let d = plan(&topology(), &cfg);
    assert!(d.namespaces.iter().all(|n| n.starts_with("t2-q")));
    pass(&h, &d);
    pass(&h, &plan(&Topology::default(), &cfg));
    let s = h.lock();
    assert_eq!(
        s.netns.iter().collect::<Vec<_>>(),
        ["qdhcp-of-someone-else", "t1-qdhcp-x"]
    );
    assert!(s.links[&None].contains_key("eth0"));
}

#[test]
fn a_failed_step_is_reported_and_retried_next_pass() {
    let h = FakeHost::new();
    let d = plan(&topology(), &host_cfg());
    h.fail_next("table_apply");
    h.fail_next("netns_add");
    let r = Reconciler::new(&h, &h, &h).reconcile(&d);
    assert!(
        r.errors
            .iter()
            .any(|(step, _)| step.starts_with("add netns")),
        "{:?}",
        r.errors
    );
    assert!(!r.changes.is_empty(), "independent steps still ran");
    let second = Reconciler::new(&h, &h, &h).reconcile(&d);
    assert!(second.is_ok(), "{:?}", second.errors);
    assert!(!second.changes.is_empty());
    assert_eq!(pass(&h, &d), vec![]);
}

#[test]
fn vxlan_parameter_change_recreates_the_device() {
    let h = FakeHost::new();
    pass(&h, &plan(&topology(), &host_cfg()));
    let mut cfg = host_cfg();
    cfg.vtep.as_mut().unwrap().remote = Some("198.51.100.2".parse().unwrap());
    let changes = pass(&h, &plan(&topology(), &cfg));
    assert_eq!(
        changes[..2],
        [
            Change::LinkDel(None, "vxlan-100".into()),
            Change::LinkAdd(None, "vxlan-100".into())
        ]
    );
    let s = h.lock();
    assert!(
        matches!(&s.links[&None]["vxlan-100"].info.kind, LinkKind::Vxlan(p) if p.remote.is_some())
    );
}

#[test]
fn dnsmasq_is_restarted_when_its_namespace_was_recreated() {
    let h = FakeHost::new();
    let d = plan(&topology(), &host_cfg());
    pass(&h, &d);
    // Someone deletes the namespace; the fake's dnsmasq, like a real one, keeps running.
    h.netns_del(&format!("qdhcp-{NET}")).unwrap();
    let changes = pass(&h, &d);
    assert!(
        changes.contains(&Change::NetnsAdd(format!("qdhcp-{NET}"))),
        "{changes:?}"
    );
    assert!(changes.contains(&Change::DhcpStop(NET.into())));
    assert!(changes.contains(&Change::Dhcp(NET.into(), DhcpOutcome::Started)));
    assert_eq!(pass(&h, &d), vec![]);
}

#[test]
fn vxlan_floods_to_every_remote_vtep_through_fdb_entries() {
    let h = FakeHost::new();
    h.add_link(
        None,
        &LinkSpec {
            name: "eth1".into(),
            kind: LinkKind::Other("device".into()),
            mtu: Some(1500),
            mac: None,
        },
    )
    .unwrap();
    let mut topo = topology();
    let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
    // The local VTEP in the list (every agent registers) is ignored.
    topo.remote_vteps = vec![ip("198.51.100.2"), ip("198.51.100.3"), ip("198.51.100.1")];
    let d = plan(&topo, &host_cfg());
    assert_eq!(
        d.vxlans["vxlan-100"]
            .fdb
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [ip("198.51.100.2"), ip("198.51.100.3")]
    );
    let first = pass(&h, &d);
    assert!(first.contains(&Change::FdbAdd("vxlan-100".into(), "198.51.100.2".into())));
    assert!(first.contains(&Change::FdbAdd("vxlan-100".into(), "198.51.100.3".into())));
    assert!(pass(&h, &d).is_empty(), "converged");
    // A host leaves and another joins: one entry each way, the device stays.
    topo.remote_vteps = vec![ip("198.51.100.3"), ip("198.51.100.4")];
    let changes = pass(&h, &plan(&topo, &host_cfg()));
    assert_eq!(
        changes,
        vec![
            Change::FdbAdd("vxlan-100".into(), "198.51.100.4".into()),
            Change::FdbDel("vxlan-100".into(), "198.51.100.2".into()),
        ]
    );
    assert_eq!(
        NetOps::fdb_list(&h, None, "vxlan-100").unwrap(),
        vec![ip("198.51.100.3"), ip("198.51.100.4")]
    );
}

#[test]
fn deleted_and_changed_ports_have_their_dnsmasq_leases_released() {
    let h = FakeHost::new();
    pass(&h, &plan(&topology(), &host_cfg()));
    assert!(h.lock().dhcp[NET].released.is_empty());
    // vm1's port is deleted and vm2's port gets another MAC: both old bindings are
    // released (dhcp_release) so their addresses are free for the next guest at once.
    let mut t = topology();
    t.ports.retain(|p| p.device_id != "vm1");
    for p in &mut t.ports {
        if p.device_id == "vm2" {
            p.mac_address = "fa:16:3e:00:00:22".into();
        }
    }
    assert_eq!(
        pass(&h, &plan(&t, &host_cfg())),
        vec![Change::Dhcp(NET.into(), DhcpOutcome::Reloaded)]
    );
    let released: Vec<(String, String)> = h.lock().dhcp[NET]
        .released
        .iter()
        .map(|l| (l.mac.to_ascii_lowercase(), l.ip.to_string()))
        .collect();
    assert_eq!(
        released,
        vec![
            ("fa:16:3e:00:00:11".to_string(), "10.10.0.11".to_string()),
            ("fa:16:3e:00:00:12".to_string(), "10.10.0.12".to_string()),
        ]
    );
    // A pass with nothing changed releases nothing more.
    pass(&h, &plan(&t, &host_cfg()));
    assert_eq!(h.lock().dhcp[NET].released.len(), 2);
}
