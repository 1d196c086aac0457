//! Security-group planner and reconciler tests (fake host).
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use super::secgroup::{chain_name, flush_filters, link_local, protocol_number, SG_TABLE};
use super::*;
use crate::fake::FakeHost;
use crate::net::IpNet;
use crate::nft::{expr, ConntrackFilter, Family, IpVersion, Table};

const NET: &str = "11111111-aaaa-4aaa-8aaa-000000000001";
const NET2: &str = "44444444-aaaa-4aaa-8aaa-000000000004";
const VM1: &str = "aaaaaaaa-0000-0000-0000-000000000011";
const VM2: &str = "bbbbbbbb-0000-0000-0000-000000000012";
const VM3: &str = "cccccccc-0000-0000-0000-000000000013";
const DEFAULT: &str = "sg-default";
const WEB: &str = "sg-web";

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn vm(id: &str, mac: &str, ips: &[&str], groups: &[&str]) -> Port {
    Port {
        id: id.into(),
        network_id: NET.into(),
        mac_address: mac.into(),
        fixed_ips: ips
            .iter()
            .map(|ip| FixedIp {
                subnet_id: if ip.contains(':') { "sub6" } else { "sub4" }.into(),
                ip_address: ip.parse().unwrap(),
            })
            .collect(),
        device_owner: "compute:nova".into(),
        device_id: format!("vm-{id}"),
        port_security_enabled: true,
        security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
        allowed_address_pairs: vec![],
    }
}

fn rule(id: &str, dir: Direction, eth: EtherType) -> SecurityGroupRule {
    SecurityGroupRule {
        id: id.into(),
        direction: dir,
        ethertype: eth,
        ..SecurityGroupRule::default()
    }
}

/// Neutron's default group: ingress from members of the group, egress anywhere.
fn default_group() -> SecurityGroup {
    let from_group = |id: &str, eth| SecurityGroupRule {
        remote_group_id: Some(DEFAULT.into()),
        ..rule(id, Direction::Ingress, eth)
    };
    SecurityGroup {
        id: DEFAULT.into(),
        rules: vec![
            from_group("r1", EtherType::Ipv4),
            from_group("r2", EtherType::Ipv6),
            rule("r3", Direction::Egress, EtherType::Ipv4),
            rule("r4", Direction::Egress, EtherType::Ipv6),
        ],
    }
}

fn ssh_rule() -> SecurityGroupRule {
    SecurityGroupRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_ip_prefix: Some(net("192.0.2.0/24")),
        ..rule("ssh", Direction::Ingress, EtherType::Ipv4)
    }
}

fn topo() -> Topology {
    Topology {
        networks: vec![Network {
            id: NET.into(),
            mtu: 1450,
            segment: Segment::Local,
        }],
        subnets: vec![Subnet {
            id: "sub4".into(),
            network_id: NET.into(),
            cidr: net("10.10.0.0/24"),
            gateway_ip: None,
            enable_dhcp: false,
            dns_nameservers: vec![],
            host_routes: vec![],
        }],
        ports: vec![
            vm(VM1, "fa:16:3e:00:00:11", &["10.10.0.11"], &[DEFAULT]),
            vm(VM2, "FA:16:3E:00:00:12", &["10.10.0.12"], &[DEFAULT, WEB]),
        ],
        security_groups: vec![
            default_group(),
            SecurityGroup {
                id: WEB.into(),
                rules: vec![ssh_rule()],
            },
        ],
        ..Topology::default()
    }
}

fn tables(d: &DesiredState) -> (&Table, &Table) {
    assert_eq!(d.host_tables.len(), 2, "{:?}", d.host_tables);
    let br = d
        .host_tables
        .iter()
        .find(|t| t.family == Family::Bridge && t.name == SG_TABLE)
        .unwrap();
    let inet = d
        .host_tables
        .iter()
        .find(|t| t.family == Family::Inet && t.name == SG_TABLE)
        .unwrap();
    (br, inet)
}

fn rules<'a>(t: &'a Table, kind: &str, port: &str) -> &'a [Vec<Value>] {
    &t.chain(&chain_name(kind, port))
        .unwrap_or_else(|| panic!("no {kind} chain for {port}"))
        .rules
}

fn group<'a>(t: &'a Table, dir: &str, gid: &str) -> &'a [Vec<Value>] {
    &t.chain(&format!("{dir}-{gid}"))
        .unwrap_or_else(|| panic!("no {dir} chain for {gid}"))
        .rules
}

fn has(rules: &[Vec<Value>], want: &[Value]) -> bool {
    rules.iter().any(|r| r.as_slice() == want)
}

fn cfg() -> HostConfig {
    HostConfig::default()
}

#[test]
fn protocols_by_name_and_number() {
    use EtherType::*;
    assert_eq!(protocol_number(None, Ipv4), Ok(None));
    assert_eq!(protocol_number(Some("any"), Ipv4), Ok(None));
    assert_eq!(protocol_number(Some("0"), Ipv4), Ok(None));
    assert_eq!(protocol_number(Some("tcp"), Ipv4), Ok(Some(6)));
    assert_eq!(protocol_number(Some("UDP"), Ipv6), Ok(Some(17)));
    assert_eq!(protocol_number(Some("132"), Ipv4), Ok(Some(132)));
    assert_eq!(protocol_number(Some("icmp"), Ipv4), Ok(Some(1)));
    assert_eq!(protocol_number(Some("icmp"), Ipv6), Ok(Some(58)));
    assert_eq!(protocol_number(Some("ipv6-icmp"), Ipv6), Ok(Some(58)));
    assert_eq!(protocol_number(Some("icmpv6"), Ipv6), Ok(Some(58)));
    assert_eq!(protocol_number(Some("vrrp"), Ipv4), Ok(Some(112)));
    assert!(protocol_number(Some("bogus"), Ipv4).is_err());
    assert!(protocol_number(Some("256"), Ipv4).is_err());
}

#[test]
fn link_local_is_eui64_of_the_mac() {
    assert_eq!(
        link_local("fa:16:3e:00:00:12").unwrap().to_string(),
        "fe80::f816:3eff:fe00:12"
    );
    assert!(link_local("fa:16:3e:00:12").is_none());
}

#[test]
fn default_group_allows_members_in_and_everything_out() {
    let d = plan(&topo(), &cfg());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let (br, inet) = tables(&d);

    // Remote group set: both members' addresses.
    let set = inet.set(&format!("rg4-{DEFAULT}")).unwrap();
    assert_eq!(set.elements, [net("10.10.0.11/32"), net("10.10.0.12/32")]);
    let gin = group(inet, "gin", DEFAULT);
    assert!(has(
        gin,
        &[
            expr::nfproto(IpVersion::V4),
            expr::saddr_in(IpVersion::V4, &format!("rg4-{DEFAULT}")),
            expr::accept()
        ]
    ));
    // Port chains: DHCP replies to the port's own address, its groups, default drop.
    let inr = rules(inet, "in", VM1);
    assert!(has(
        inr,
        &[
            expr::nfproto(IpVersion::V4),
            expr::port("udp", "sport", 67, 67),
            expr::port("udp", "dport", 68, 68),
            expr::daddr_any(
                IpVersion::V4,
                &[net("10.10.0.11/32"), net("255.255.255.255/32")]
            ),
            expr::accept()
        ]
    ));
    let n = inr.len();
    assert_eq!(inr[n - 3], [expr::jump(&format!("gin-{DEFAULT}"))]);
    assert_eq!(
        inr[n - 2],
        [expr::ct_state(&["invalid"]), expr::counter(), expr::drop()]
    );
    assert_eq!(inr[n - 1], [expr::counter(), expr::drop()]);
    assert_eq!(
        rules(inet, "out", VM1),
        [
            vec![expr::jump(&format!("gout-{DEFAULT}"))],
            vec![expr::ct_state(&["invalid"]), expr::counter(), expr::drop()],
            vec![expr::counter(), expr::drop()]
        ]
    );
    // ssh: WEB's chain, which only VM2 jumps to.
    let ssh = [
        expr::nfproto(IpVersion::V4),
        expr::port("tcp", "dport", 22, 22),
        expr::saddr(net("192.0.2.0/24")),
        expr::accept(),
    ];
    assert_eq!(group(inet, "gin", WEB), [ssh.to_vec()]);
    assert!(!inr.contains(&vec![expr::jump(&format!("gin-{WEB}"))]));
    assert!(rules(inet, "in", VM2).contains(&vec![expr::jump(&format!("gin-{WEB}"))]));

    // Egress: any IPv4 and IPv6.
    let gout = group(inet, "gout", DEFAULT);
    assert!(has(gout, &[expr::nfproto(IpVersion::V4), expr::accept()]));
    assert!(has(gout, &[expr::nfproto(IpVersion::V6), expr::accept()]));

    // Stateful, Neutron's fixed allowances, egress judged before ingress.
    let egress = inet.chain("egress").unwrap();
    let ingress = inet.chain("ingress").unwrap();
    assert!(egress.hook.as_ref().unwrap().priority < ingress.hook.as_ref().unwrap().priority);
    let est = vec![expr::ct_state(&["established", "related"]), expr::accept()];
    assert_eq!(egress.rules[0], est);
    assert_eq!(ingress.rules[0], est);
    assert_eq!(
        ingress.rules[1],
        [expr::icmpv6_types(&[130, 135, 136]), expr::accept()]
    );
    assert!(has(
        &egress.rules,
        &[
            expr::nfproto(IpVersion::V4),
            expr::port("udp", "sport", 68, 68),
            expr::port("udp", "dport", 67, 67),
            expr::accept()
        ]
    ));

    // Bridge: dispatch by TAP, port index in the marks.
    let fwd = &br.chain("forward").unwrap().rules;
    assert_eq!(fwd[0], [expr::mark_set(0)]);
    assert_eq!(
        fwd[1],
        [expr::ifname_vmap(
            "iifname",
            &[
                ("tapaaaaaaaa-00".into(), chain_name("sp", VM1)),
                ("tapbbbbbbbb-00".into(), chain_name("sp", VM2))
            ]
        )]
    );
    assert_eq!(rules(br, "sp", VM2)[0], [expr::mark_set(2 << 16)]);
    assert_eq!(rules(br, "mk", VM2), [vec![expr::mark_or(2)]]);
    assert_eq!(
        egress.rules.last().unwrap(),
        &[expr::mark_vmap(
            0xffff_0000,
            &[
                (1 << 16, chain_name("out", VM1)),
                (2 << 16, chain_name("out", VM2))
            ]
        )]
    );
    assert_eq!(
        ingress.rules.last().unwrap(),
        &[expr::mark_vmap(
            0xffff,
            &[(1, chain_name("in", VM1)), (2, chain_name("in", VM2))]
        )]
    );
    // One conntrack zone per network, set before conntrack (raw priority).
    let pre = inet.chain("prerouting").unwrap();
    assert_eq!(pre.hook.as_ref().unwrap().priority, -300);
    assert_eq!(pre.rules.len(), 1);
    assert_eq!(pre.rules[0][0], expr::iifname("brq11111111-aa"));
    assert_eq!(
        br.chain("forward").unwrap().hook.as_ref().unwrap().priority,
        -200
    );
    // Traffic to the host itself: same anti-spoofing and egress rules.
    let input = br.chain("input").unwrap();
    assert_eq!(input.hook.as_ref().unwrap().hook, "input");
    assert_eq!(input.rules[1], fwd[1]);
    let local = inet.chain("egress-local").unwrap();
    assert_eq!(local.hook.as_ref().unwrap().hook, "input");
    assert_eq!(local.rules, egress.rules);
}

#[test]
fn anti_spoofing_allows_only_own_mac_and_addresses() {
    let d = plan(&topo(), &cfg());
    let (br, _) = tables(&d);
    let sp = rules(br, "sp", VM2);
    let mac = "fa:16:3e:00:00:12"; // lower-cased from the API's upper case
    assert_eq!(
        sp[1],
        [
            expr::ether_saddr_not_in(&[mac.to_string()]),
            expr::counter(),
            expr::drop()
        ]
    );
    assert!(has(
        sp,
        &[
            expr::ether_saddr(mac),
            expr::saddr(net("10.10.0.12/32")),
            expr::ret()
        ]
    ));
    assert!(has(
        sp,
        &[
            expr::ether_saddr(mac),
            expr::arp_saddr(net("10.10.0.12/32")),
            expr::ret()
        ]
    ));
    assert!(has(
        sp,
        &[expr::ether_type("ip"), expr::counter(), expr::drop()]
    ));
    assert!(has(
        sp,
        &[expr::ether_type("arp"), expr::counter(), expr::drop()]
    ));
    // DHCP server replies and router advertisements from an instance are dropped.
    assert!(has(
        sp,
        &[
            expr::ether_type("ip"),
            expr::port("udp", "sport", 67, 67),
            expr::port("udp", "dport", 68, 68),
            expr::counter(),
            expr::drop()
        ]
    ));
    assert!(has(
        sp,
        &[
            expr::ether_type("ip6"),
            expr::icmpv6_types(&[134]),
            expr::counter(),
            expr::drop()
        ]
    ));
    // No IPv6 address: IPv6 is not source-checked (as Neutron), only MAC-checked.
    assert!(has(sp, &[expr::ether_type("ip6"), expr::ret()]));
    // The DHCP client may speak before it has an address.
    let dhcp_discover = sp
        .iter()
        .position(|r| r.contains(&expr::saddr(net("0.0.0.0/32"))) && r.contains(&expr::ret()));
    let ip_drop = sp
        .iter()
        .position(|r| r.as_slice() == [expr::ether_type("ip"), expr::counter(), expr::drop()]);
    assert!(dhcp_discover.unwrap() < ip_drop.unwrap());
}

#[test]
fn allowed_address_pairs_extend_spoofing_and_remote_groups() {
    let mut t = topo();
    t.ports[0].allowed_address_pairs = vec![
        AddressPair {
            ip: net("10.10.0.100/32"),
            mac: None,
        },
        AddressPair {
            ip: net("10.20.0.0/24"),
            mac: Some("FA:16:3E:99:99:99".into()),
        },
        // Inside the pair above: dropped from the set (nft rejects overlaps).
        AddressPair {
            ip: net("10.20.0.7/32"),
            mac: None,
        },
    ];
    let d = plan(&t, &cfg());
    let (br, inet) = tables(&d);
    let sp = rules(br, "sp", VM1);
    assert_eq!(
        sp[1][0],
        expr::ether_saddr_not_in(&["fa:16:3e:00:00:11".into(), "fa:16:3e:99:99:99".into()])
    );
    for (mac, n) in [
        ("fa:16:3e:00:00:11", "10.10.0.100/32"),
        ("fa:16:3e:99:99:99", "10.20.0.0/24"),
        ("fa:16:3e:00:00:11", "10.10.0.11/32"),
    ] {
        assert!(
            has(
                sp,
                &[expr::ether_saddr(mac), expr::saddr(net(n)), expr::ret()]
            ),
            "{mac} {n}"
        );
    }
    // The pair's (different) MAC may not use the port's fixed IP.
    assert!(!has(
        sp,
        &[
            expr::ether_saddr("fa:16:3e:99:99:99"),
            expr::saddr(net("10.10.0.11/32")),
            expr::ret()
        ]
    ));
    assert_eq!(
        inet.set(&format!("rg4-{DEFAULT}")).unwrap().elements,
        [
            net("10.10.0.11/32"),
            net("10.10.0.12/32"),
            net("10.10.0.100/32"),
            net("10.20.0.0/24")
        ]
    );
    assert_eq!(
        d.sg_ports["tapaaaaaaaa-00"].addrs,
        [
            "10.10.0.11".parse::<std::net::IpAddr>().unwrap(),
            "10.10.0.100".parse().unwrap(),
            "10.20.0.7".parse().unwrap()
        ]
    );
}

#[test]
fn port_security_off_means_no_filtering() {
    let mut t = topo();
    t.ports[1].port_security_enabled = false;
    let d = plan(&t, &cfg());
    let (br, inet) = tables(&d);
    assert!(br.chain(&chain_name("sp", VM2)).is_none());
    assert!(inet.chain(&chain_name("in", VM2)).is_none());
    assert!(inet.chain(&chain_name("in", VM1)).is_some());
    assert!(!d.sg_ports.contains_key("tapbbbbbbbb-00"));
    t.ports[0].port_security_enabled = false;
    let d = plan(&t, &cfg());
    assert!(d.host_tables.is_empty());
    // Network-owned ports are never filtered.
    let mut t = topo();
    t.ports[0].device_owner = "network:dhcp".into();
    t.ports[1].device_owner = "network:router_interface".into();
    assert!(plan(&t, &cfg()).host_tables.is_empty());
}

#[test]
fn icmp_rules_match_type_and_code() {
    let mut t = topo();
    t.security_groups[1].rules = vec![
        SecurityGroupRule {
            protocol: Some("icmp".into()),
            port_range_min: Some(8),
            port_range_max: Some(0),
            ..rule("echo", Direction::Ingress, EtherType::Ipv4)
        },
        SecurityGroupRule {
            protocol: Some("icmp".into()),
            ..rule("any-icmp6", Direction::Ingress, EtherType::Ipv6)
        },
        SecurityGroupRule {
            protocol: Some("ipv6-icmp".into()),
            port_range_min: Some(128),
            ..rule("echo6", Direction::Egress, EtherType::Ipv6)
        },
        SecurityGroupRule {
            protocol: Some("icmp".into()),
            port_range_min: Some(300),
            ..rule("bad", Direction::Ingress, EtherType::Ipv4)
        },
    ];
    let d = plan(&t, &cfg());
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    assert!(d.warnings[0].contains("bad"));
    let (_, inet) = tables(&d);
    let inr = group(inet, "gin", WEB);
    assert!(has(
        inr,
        &[
            expr::nfproto(IpVersion::V4),
            expr::icmp_type(IpVersion::V4, 8),
            expr::icmp_code(IpVersion::V4, 0),
            expr::accept()
        ]
    ));
    assert!(has(
        inr,
        &[
            expr::nfproto(IpVersion::V6),
            expr::l4proto(58),
            expr::accept()
        ]
    ));
    assert!(has(
        group(inet, "gout", WEB),
        &[
            expr::nfproto(IpVersion::V6),
            expr::icmp_type(IpVersion::V6, 128),
            expr::accept()
        ]
    ));
}

#[test]
fn port_ranges_other_protocols_and_address_groups() {
    let mut t = topo();
    t.address_groups = vec![AddressGroup {
        id: "ag1".into(),
        addresses: vec![net("198.51.100.0/24"), net("2001:db8::/64")],
    }];
    t.security_groups[1].rules = vec![
        SecurityGroupRule {
            protocol: Some("udp".into()),
            port_range_min: Some(5000),
            port_range_max: Some(5100),
            remote_address_group_id: Some("ag1".into()),
            ..rule("udp", Direction::Ingress, EtherType::Ipv4)
        },
        SecurityGroupRule {
            protocol: Some("112".into()),
            remote_ip_prefix: Some(net("0.0.0.0/0")),
            ..rule("vrrp", Direction::Ingress, EtherType::Ipv4)
        },
        SecurityGroupRule {
            protocol: Some("tcp".into()),
            port_range_min: Some(443),
            port_range_max: Some(443),
            remote_ip_prefix: Some(net("2001:db8:1::/48")),
            ..rule("https6-out", Direction::Egress, EtherType::Ipv6)
        },
    ];
    let d = plan(&t, &cfg());
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let (_, inet) = tables(&d);
    let inr = group(inet, "gin", WEB);
    assert!(has(
        inr,
        &[
            expr::nfproto(IpVersion::V4),
            expr::port("udp", "dport", 5000, 5100),
            expr::saddr_in(IpVersion::V4, "ag4-ag1"),
            expr::accept()
        ]
    ));
    assert_eq!(
        inet.set("ag4-ag1").unwrap().elements,
        [net("198.51.100.0/24")]
    );
    // A /0 remote prefix is no constraint.
    assert!(has(
        inr,
        &[
            expr::nfproto(IpVersion::V4),
            expr::l4proto(112),
            expr::accept()
        ]
    ));
    assert!(has(
        group(inet, "gout", WEB),
        &[
            expr::nfproto(IpVersion::V6),
            expr::port("tcp", "dport", 443, 443),
            expr::daddr(net("2001:db8:1::/48")),
            expr::accept()
        ]
    ));
}

#[test]
fn ipv6_port_gets_link_local_ra_and_dhcpv6() {
    let mut t = topo();
    t.ports[0] = vm(
        VM1,
        "fa:16:3e:00:00:11",
        &["10.10.0.11", "2001:db8::11"],
        &[DEFAULT],
    );
    let d = plan(&t, &cfg());
    let (br, inet) = tables(&d);
    let sp = rules(br, "sp", VM1);
    let mac = "fa:16:3e:00:00:11";
    for a in ["2001:db8::11/128", "fe80::f816:3eff:fe00:11/128"] {
        assert!(
            has(
                sp,
                &[expr::ether_saddr(mac), expr::saddr(net(a)), expr::ret()]
            ),
            "{a}"
        );
    }
    assert!(has(
        sp,
        &[expr::ether_type("ip6"), expr::counter(), expr::drop()]
    ));
    // DAD / MLD from :: to ff02::/16.
    assert!(sp
        .iter()
        .any(|r| r.contains(&expr::icmpv6_types(&[131, 135, 143]))));
    let inr = rules(inet, "in", VM1);
    assert!(has(inr, &[expr::icmpv6_types(&[134]), expr::accept()]));
    assert!(has(
        inr,
        &[
            expr::nfproto(IpVersion::V6),
            expr::port("udp", "sport", 547, 547),
            expr::port("udp", "dport", 546, 546),
            expr::daddr_any(IpVersion::V6, &[net("2001:db8::11/128"), net("fe80::/64")]),
            expr::accept()
        ]
    ));
    assert_eq!(
        inet.set(&format!("rg6-{DEFAULT}")).unwrap().elements,
        [net("2001:db8::11/128")]
    );
    // VM2 has no IPv6 address: no RA rule.
    assert!(!has(
        rules(inet, "in", VM2),
        &[expr::icmpv6_types(&[134]), expr::accept()]
    ));
    assert!(has(
        &inet.chain("egress").unwrap().rules,
        &[
            expr::nfproto(IpVersion::V6),
            expr::l4proto(58),
            expr::accept()
        ]
    ));
}

#[test]
fn zones_are_per_network_and_stable() {
    let mut t = topo();
    t.networks.push(Network {
        id: NET2.into(),
        mtu: 1450,
        segment: Segment::Local,
    });
    let mut p3 = vm(VM3, "fa:16:3e:00:00:13", &["10.10.0.11"], &[DEFAULT]);
    p3.network_id = NET2.into();
    t.ports.push(p3);
    let d = plan(&t, &cfg());
    let z1 = d.sg_ports["tapaaaaaaaa-00"].zone;
    let z3 = d.sg_ports["tapcccccccc-00"].zone;
    assert_ne!(z1, z3, "overlapping addresses live in different zones");
    assert_ne!(z1, 0);
    assert_eq!(d.sg_ports["tapbbbbbbbb-00"].zone, z1);
    let (_, inet) = tables(&d);
    assert_eq!(inet.chain("prerouting").unwrap().rules.len(), 2);
    // Removing the other network keeps this network's zone.
    t.networks.pop();
    t.ports.pop();
    assert_eq!(plan(&t, &cfg()).sg_ports["tapaaaaaaaa-00"].zone, z1);
}

#[test]
fn unknown_groups_and_bad_ranges_are_warnings() {
    let mut t = topo();
    t.ports[0].security_group_ids.push("nope".into());
    t.security_groups[1].rules.push(SecurityGroupRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(100),
        port_range_max: Some(10),
        ..rule("backwards", Direction::Ingress, EtherType::Ipv4)
    });
    let d = plan(&t, &cfg());
    assert_eq!(d.warnings.len(), 2, "{:?}", d.warnings);
    // The port is still filtered (default deny) with the rules that are usable.
    let (_, inet) = tables(&d);
    assert!(inet.chain(&chain_name("in", VM1)).is_some());
}

#[test]
fn flush_filters_follow_removed_rules_and_members() {
    let t = topo();
    let old = plan(&t, &cfg());
    let mut t2 = t.clone();
    t2.security_groups[1].rules.clear(); // ssh rule removed
    t2.ports[0].security_group_ids.clear(); // VM1 leaves the default group
    let new = plan(&t2, &cfg());
    let f = flush_filters(tables(&old).1, tables(&new).1, &new.sg_ports);
    let zone = new.sg_ports["tapbbbbbbbb-00"].zone;
    let ip = |s: &str| Some(s.parse().unwrap());
    let want: Vec<ConntrackFilter> = vec![
        // ssh into VM2
        ConntrackFilter {
            zone: Some(zone),
            protocol: Some(6),
            dport: Some(22),
            dst: ip("10.10.0.12"),
            ..ConntrackFilter::default()
        },
        // VM1's rules all went: its flows in both directions (IPv4 and IPv6 rules).
        ConntrackFilter {
            zone: Some(zone),
            dst: ip("10.10.0.11"),
            ..ConntrackFilter::default()
        },
        ConntrackFilter {
            zone: Some(zone),
            src: ip("10.10.0.11"),
            ..ConntrackFilter::default()
        },
        // VM2 no longer admits VM1 (removed from the remote group).
        ConntrackFilter {
            zone: Some(zone),
            src: ip("10.10.0.11"),
            dst: ip("10.10.0.12"),
            ..ConntrackFilter::default()
        },
    ];
    for w in &want {
        assert!(f.contains(w), "missing {w:?} in {f:?}");
    }
    assert_eq!(f.len(), want.len(), "{f:?}");
    // Nothing removed: nothing to flush.
    assert!(flush_filters(tables(&new).1, tables(&new).1, &new.sg_ports).is_empty());
}

#[test]
fn reconciler_applies_updates_one_table_and_flushes() {
    let h = FakeHost::new();
    let mut t = topo();
    let changes = pass(&h, &plan(&t, &cfg()));
    // Both tables in one transaction, br_netfilter switched on.
    assert_eq!(h.lock().calls.get("tables_apply"), Some(&1));
    assert!(changes.contains(&Change::TableApply("-".into(), "bridge rustack-sg".into())));
    assert!(changes.contains(&Change::TableApply("-".into(), "inet rustack-sg".into())));
    assert!(changes.contains(&Change::Sysctl(
        "-".into(),
        "net.bridge.bridge-nf-call-iptables".into(),
        "1".into()
    )));
    // The first apply has nothing to compare with (and new ports get their flows cut
    // only when a previous table existed).
    assert!(h.lock().conntrack_deletes.is_empty());
    assert_eq!(pass(&h, &plan(&t, &cfg())), vec![], "idempotent");

    // Allow ICMP: only the inet table changes, nothing to flush.
    t.security_groups[1].rules.push(SecurityGroupRule {
        protocol: Some("icmp".into()),
        ..rule("icmp", Direction::Ingress, EtherType::Ipv4)
    });
    let changes = pass(&h, &plan(&t, &cfg()));
    assert_eq!(
        changes,
        vec![Change::TableApply("-".into(), "inet rustack-sg".into())]
    );
    assert!(h.lock().conntrack_deletes.is_empty());

    // Remove it again: one table update + the ICMP flows into VM2 cut.
    t.security_groups[1].rules.pop();
    let before = h.lock().calls.get("tables_apply").copied();
    let changes = pass(&h, &plan(&t, &cfg()));
    assert_eq!(
        h.lock().calls.get("tables_apply").copied(),
        before.map(|n| n + 1)
    );
    assert_eq!(changes.len(), 2, "{changes:?}");
    let want = ConntrackFilter {
        zone: plan(&t, &cfg())
            .sg_ports
            .get("tapbbbbbbbb-00")
            .map(|p| p.zone),
        protocol: Some(1),
        dst: Some("10.10.0.12".parse().unwrap()),
        ..ConntrackFilter::default()
    };
    assert_eq!(h.lock().conntrack_deletes, vec![(None, want)]);
    assert_eq!(pass(&h, &plan(&t, &cfg())), vec![], "idempotent");

    // A third port: both tables (mark numbering) in one transaction.
    t.ports
        .push(vm(VM3, "fa:16:3e:00:00:13", &["10.10.0.13"], &[DEFAULT]));
    let before = h.lock().calls.get("tables_apply").copied().unwrap_or(0);
    let changes = pass(&h, &plan(&t, &cfg()));
    assert_eq!(h.lock().calls["tables_apply"], before + 1);
    assert_eq!(
        changes
            .iter()
            .filter(|c| matches!(c, Change::TableApply(..)))
            .count(),
        2
    );

    // Nothing filtered any more: both tables deleted.
    for p in &mut t.ports {
        p.port_security_enabled = false;
    }
    let changes = pass(&h, &plan(&t, &cfg()));
    assert!(changes.contains(&Change::TableDel("-".into(), "bridge rustack-sg".into())));
    assert!(changes.contains(&Change::TableDel("-".into(), "inet rustack-sg".into())));
    assert!(h.lock().tables.is_empty());
    assert_eq!(pass(&h, &plan(&t, &cfg())), vec![]);
}

#[test]
fn failed_apply_is_retried_without_losing_the_flush() {
    let h = FakeHost::new();
    let mut t = topo();
    pass(&h, &plan(&t, &cfg()));
    t.security_groups[1].rules.clear();
    h.fail_next("tables_apply");
    let r = Reconciler::new(&h, &h, &h).reconcile(&plan(&t, &cfg()));
    assert_eq!(r.errors.len(), 1);
    assert!(h.lock().conntrack_deletes.is_empty());
    let changes = pass(&h, &plan(&t, &cfg()));
    assert!(changes
        .iter()
        .any(|c| matches!(c, Change::ConntrackDelete(_, f, _) if f.dport == Some(22))));
}

fn pass(h: &FakeHost, d: &DesiredState) -> Vec<Change> {
    let r = Reconciler::new(h, h, h).reconcile(d);
    assert!(r.is_ok(), "errors: {:?}", r.errors);
    r.changes
}
