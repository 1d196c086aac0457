//! Security groups: the planner half that turns ports, groups and rules into two
//! nftables tables in the namespace that holds the bridges, following the layout the
//! data-path recipe proved on these kernels (`NF_CONNTRACK_BRIDGE` is absent, so `ct`
//! cannot be used in a `bridge` table):
//!
//! - `bridge rustack-sg`, hook `forward` at priority -200 (before br_netfilter's FORWARD
//!   at -1; the `input` hook too, for frames to the host): clears the packet mark,
//!   jumps by input TAP to the port's stateless
//!   anti-spoofing chain `sp-<tap>` (which also marks the packet with the port's index in
//!   the high 16 bits), then by output TAP to `mk-<tap>` which ORs the destination
//!   port's index into the low 16 bits.
//! - `inet rustack-sg`: `prerouting` at raw priority sets one conntrack zone per
//!   network (br_netfilter reports the bridge as `iifname` there). Two base chains on
//!   the `forward` hook see bridged IPv4/IPv6 through br_netfilter: `egress` (priority
//!   -10) accepts established/related traffic and Neutron's fixed client allowances,
//!   then dispatches on the high half of the mark to the source port's `out-<tap>`;
//!   `ingress` (priority 0) does the same for the destination port's `in-<tap>` on the
//!   low half (`egress-local` on the `input` hook judges traffic from a port to the
//!   host itself). An `accept` in `egress` ends only that chain, so the destination's
//!   ingress checks still run; a drop anywhere is final. A port chain jumps to the
//!   chains of its groups (`gin-<group>`/`gout-<group>`, one pair per group, holding
//!   the group's rules once however many ports use it), then drops invalid packets
//!   and everything else, as Neutron's iptables driver.
//!
//! Remote groups and address groups become named interval sets (`rg4-<group>`,
//! `rg6-<group>`, `ag4-<group>`, `ag6-<group>`) filled with the members' fixed IPs and
//! allowed-address-pair addresses, so a membership change only rewrites set elements.
//! Fixed allowances follow Neutron's iptables firewall: DHCP and DHCPv6 client traffic
//! out, DHCP/DHCPv6 replies in to the port's addresses (and broadcast / link-local),
//! ICMPv6 MLD query/NS/NA (and RA for ports with IPv6) in, all ICMPv6 but RA out, DHCP
//! server replies and router advertisements from instances dropped.
//!
//! Both tables are replaced together in one nft transaction (they share the mark
//! numbering). [`flush_filters`] compares the previously applied `inet` table with the
//! new one and names the conntrack entries to delete for each removed rule or removed
//! remote-group member, so flows that are no longer allowed are cut.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use serde_json::Value;

use super::model::{Direction, EtherType, Port, SecurityGroupRule, Topology};
use super::naming;
use super::plan::DesiredState;
use crate::net::IpNet;
use crate::nft::{expr, Chain, ConntrackFilter, Family, Hook, IpVersion, Set, Table};

/// The name of both security-group tables (`bridge` and `inet`).
pub const SG_TABLE: &str = "rustack-sg";

/// A port the security-group tables filter, with what the reconciler needs to cut its
/// flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgPort {
    /// Port id.
    pub port_id: String,
    /// Conntrack zone of its network.
    pub zone: u16,
    /// Its fixed IPs and single-address allowed address pairs.
    pub addrs: Vec<IpAddr>,
    /// Its (known) security groups.
    pub groups: Vec<String>,
}

/// The number of an IP protocol as a security group rule names it (`tcp`, `"6"`,
/// `icmp`...). `Ok(None)` means every protocol (`None`, `any`, `0`, `ip`, `hopopt`);
/// `icmp` in an IPv6 rule means ICMPv6, as in Neutron.
pub fn protocol_number(protocol: Option<&str>, ethertype: EtherType) -> Result<Option<u8>, String> {
    let Some(p) = protocol.map(str::trim) else {
        return Ok(None);
    };
    let n: u8 = match p.to_ascii_lowercase().as_str() {
        "" | "any" | "ip" | "hopopt" => 0,
        "icmp" if ethertype == EtherType::Ipv6 => 58,
        "icmp" => 1,
        "igmp" => 2,
        "ipip" => 4,
        "tcp" => 6,
        "egp" => 8,
        "udp" => 17,
        "dccp" => 33,
        "ipv6-encap" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" => 58,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "ospf" => 89,
        "vrrp" => 112,
        "pgm" => 113,
        "sctp" => 132,
        "udplite" => 136,
        other => other
            .parse()
            .map_err(|_| format!("unknown protocol {other:?}"))?,
    };
    Ok((n != 0).then_some(n))
}

/// The nft payload name of protocols with ports.
fn port_proto_name(n: u8) -> Option<&'static str> {
    Some(match n {
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

fn port_proto_number(name: &str) -> Option<u8> {
    Some(match name {
        "tcp" => 6,
        "udp" => 17,
        "dccp" => 33,
        "sctp" => 132,
        "udplite" => 136,
        "icmp" => 1,
        "icmpv6" => 58,
        _ => return None,
    })
}

fn version(e: EtherType) -> IpVersion {
    match e {
        EtherType::Ipv4 => IpVersion::V4,
        EtherType::Ipv6 => IpVersion::V6,
    }
}

/// `fe80::/64` plus the EUI-64 interface id of `mac` (`None` for a malformed MAC).
pub fn link_local(mac: &str) -> Option<Ipv6Addr> {
    let b: Vec<u8> = mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let [b0, b1, b2, b3, b4, b5] = b.as_slice().try_into().ok()?;
    let seg = |hi: u8, lo: u8| (u16::from(hi) << 8) | u16::from(lo);
    Some(Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        seg(b0 ^ 0x02, b1),
        seg(b2, 0xff),
        seg(0xfe, b3),
        seg(b4, b5),
    ))
}

/// A network's conntrack zone: a hash of its id in 1..=65535, probing past zones other
/// networks took (in id order), so zones stay put while networks come and go.
fn zones<'a>(ids: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, u16> {
    let mut sorted: Vec<&str> = ids.collect();
    sorted.sort_unstable();
    let mut used = BTreeSet::new();
    let mut out = BTreeMap::new();
    for id in sorted {
        let mut h: u32 = 0x811c_9dc5;
        for b in id.bytes() {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        // 1..=65535 (zone 0 is the default zone).
        let mut z = u16::try_from(h % 65535).unwrap_or(0) + 1;
        while !used.insert(z) {
            z = if z == u16::MAX { 1 } else { z + 1 };
        }
        out.insert(id, z);
    }
    out
}

/// Set elements without overlaps (nft rejects overlapping interval elements): prefixes
/// inside another are dropped, hosts normalised to their network address.
fn normalise(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    for n in &mut nets {
        n.addr = n.network();
    }
    nets.sort_by_key(|n| (n.prefix, n.addr));
    let mut out: Vec<IpNet> = Vec::new();
    for n in nets {
        if !out
            .iter()
            .any(|o| o.addr.is_ipv4() == n.addr.is_ipv4() && o.contains(n.addr))
        {
            out.push(n);
        }
    }
    out.sort();
    out
}

fn hook(chain_type: &str, hook: &str, priority: i32) -> Option<Hook> {
    Some(Hook {
        chain_type: chain_type.into(),
        hook: hook.into(),
        priority,
        policy: "accept".into(),
    })
}

fn chain(name: String, rules: Vec<Vec<Value>>) -> Chain {
    Chain {
        name,
        hook: None,
        rules,
    }
}

/// Name of a port's ingress (`in-`), egress (`out-`), anti-spoofing (`sp-`) or
/// destination-mark (`mk-`) chain.
pub fn chain_name(kind: &str, port_id: &str) -> String {
    format!("{kind}-{}", naming::tap(port_id))
}

/// Named sets the rules of one plan reference, built on first use.
struct Sets<'a> {
    topo: &'a Topology,
    sets: BTreeMap<String, Set>,
}

impl Sets<'_> {
    /// The set of remote group `gid` (members' fixed IPs and allowed address pairs).
    fn group(&mut self, gid: &str, v: IpVersion) -> String {
        let name = format!("rg{}-{gid}", if v == IpVersion::V4 { 4 } else { 6 });
        if !self.sets.contains_key(&name) {
            let elems = self
                .topo
                .ports
                .iter()
                .filter(|p| p.security_group_ids.iter().any(|g| g == gid))
                .flat_map(|p| {
                    p.fixed_ips
                        .iter()
                        .map(|f| IpNet::host(f.ip_address))
                        .chain(p.allowed_address_pairs.iter().map(|a| a.ip))
                })
                .filter(|n| IpVersion::of(n.addr) == v)
                .collect();
            self.insert(name.clone(), v, elems);
        }
        name
    }

    /// The set of address group `id`.
    fn address_group(&mut self, id: &str, v: IpVersion) -> String {
        let name = format!("ag{}-{id}", if v == IpVersion::V4 { 4 } else { 6 });
        if !self.sets.contains_key(&name) {
            let elems = self
                .topo
                .address_groups
                .iter()
                .filter(|g| g.id == id)
                .flat_map(|g| g.addresses.iter().copied())
                .filter(|n| IpVersion::of(n.addr) == v)
                .collect();
            self.insert(name.clone(), v, elems);
        }
        name
    }

    fn insert(&mut self, name: String, version: IpVersion, elems: Vec<IpNet>) {
        self.sets.insert(
            name.clone(),
            Set {
                name,
                version,
                elements: normalise(elems),
            },
        );
    }
}

/// One security group rule as nft expressions (verdict included), `Ok(None)` when it
/// cannot match anything, `Err` with the reason when it is unusable.
fn render_rule(r: &SecurityGroupRule, sets: &mut Sets<'_>) -> Result<Option<Vec<Value>>, String> {
    let v = version(r.ethertype);
    let mut e = vec![expr::nfproto(v)];
    let icmp = if v == IpVersion::V4 { 1 } else { 58 };
    let as_u8 = |x: u32, what: &str| u8::try_from(x).map_err(|_| format!("{what} {x} > 255"));
    match protocol_number(r.protocol.as_deref(), r.ethertype)? {
        None => {}
        Some(p) => match (port_proto_name(p), r.port_range_min) {
            (Some(name), Some(min)) => {
                let max = r.port_range_max.unwrap_or(min);
                let (min, max) = match (u16::try_from(min), u16::try_from(max)) {
                    (Ok(a), Ok(b)) if a <= b => (a, b),
                    _ => return Err(format!("bad port range {min}-{max}")),
                };
                e.push(expr::port(name, "dport", min, max));
            }
            _ if p == icmp && r.port_range_min.is_some() => {
                if let Some(t) = r.port_range_min {
                    e.push(expr::icmp_type(v, as_u8(t, "ICMP type")?));
                }
                if let Some(c) = r.port_range_max {
                    e.push(expr::icmp_code(v, as_u8(c, "ICMP code")?));
                }
            }
            _ => e.push(expr::l4proto(p)),
        },
    }
    let ingress = r.direction == Direction::Ingress;
    if let Some(g) = &r.remote_group_id {
        let set = sets.group(g, v);
        e.push(if ingress {
            expr::saddr_in(v, &set)
        } else {
            expr::daddr_in(v, &set)
        });
    } else if let Some(g) = &r.remote_address_group_id {
        let set = sets.address_group(g, v);
        e.push(if ingress {
            expr::saddr_in(v, &set)
        } else {
            expr::daddr_in(v, &set)
        });
    } else if let Some(p) = r.remote_ip_prefix {
        if IpVersion::of(p.addr) != v {
            return Ok(None);
        }
        // A /0 prefix is no constraint (as Neutron's iptables driver drops it).
        if p.prefix != 0 {
            e.push(if ingress {
                expr::saddr(p)
            } else {
                expr::daddr(p)
            });
        }
    }
    e.push(expr::accept());
    Ok(Some(e))
}

/// Every address a port may source (per family), as (MAC, prefix) pairs, Neutron's
/// anti-spoofing list: fixed IPs with the port's MAC, allowed address pairs with their
/// MAC (or the port's), and the EUI-64 link-local address of each MAC with IPv6 pairs.
fn spoof_pairs(p: &Port, mac: &str) -> BTreeSet<(String, IpNet)> {
    let mut pairs = BTreeSet::new();
    for a in &p.allowed_address_pairs {
        let m = a
            .mac
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| mac.to_string());
        pairs.insert((m, a.ip));
    }
    for f in &p.fixed_ips {
        pairs.insert((mac.to_string(), IpNet::host(f.ip_address)));
    }
    let v6_macs: BTreeSet<String> = pairs
        .iter()
        .filter(|(_, n)| n.addr.is_ipv6())
        .map(|(m, _)| m.clone())
        .collect();
    for m in v6_macs {
        if let Some(lla) = link_local(&m) {
            pairs.insert((m, IpNet::host(IpAddr::V6(lla))));
        }
    }
    pairs
}

/// The anti-spoofing chain of port `p` (bridge family), marking its packets with
/// `mark` first.
fn spoof_chain(p: &Port, mark: u32) -> Vec<Vec<Value>> {
    let mac = p.mac_address.to_ascii_lowercase();
    let pairs = spoof_pairs(p, &mac);
    let macs: BTreeSet<String> = pairs
        .iter()
        .map(|(m, _)| m.clone())
        .chain([mac.clone()])
        .collect();
    let macs: Vec<String> = macs.into_iter().collect();
    let v4: Vec<&(String, IpNet)> = pairs.iter().filter(|(_, n)| n.addr.is_ipv4()).collect();
    let v6: Vec<&(String, IpNet)> = pairs.iter().filter(|(_, n)| n.addr.is_ipv6()).collect();
    let udp = |s: u16, d: u16| {
        [
            expr::port("udp", "sport", s, s),
            expr::port("udp", "dport", d, d),
        ]
    };
    let any4 = IpNet::host([0, 0, 0, 0].into());
    let mut rules = vec![
        vec![expr::mark_set(mark)],
        vec![
            expr::ether_saddr_not_in(&macs),
            expr::counter(),
            expr::drop(),
        ],
        // VLAN-tagged frames would bypass the inet table (br_netfilter passes untagged
        // IP only).
        vec![
            serde_json::json!({"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": {"set": ["vlan", "8021ad"]}}}),
            expr::counter(),
            expr::drop(),
        ],
    ];
    // ARP: the sender address must be one of the port's IPv4 pairs (or 0.0.0.0, an
    // ARP probe); a port with no IPv4 pair is not restricted (Neutron).
    if v4.is_empty() {
        rules.push(vec![expr::ether_type("arp"), expr::ret()]);
    } else {
        for (m, n) in &v4 {
            rules.push(vec![expr::ether_saddr(m), expr::arp_saddr(*n), expr::ret()]);
        }
        rules.push(vec![
            expr::ether_saddr(&mac),
            expr::arp_saddr(any4),
            expr::ret(),
        ]);
        rules.push(vec![expr::ether_type("arp"), expr::counter(), expr::drop()]);
    }
    // Instances never answer DHCP or advertise routes.
    rules.push(
        [
            vec![expr::ether_type("ip")],
            udp(67, 68).to_vec(),
            vec![expr::counter(), expr::drop()],
        ]
        .concat(),
    );
    rules.push(
        [
            vec![expr::ether_type("ip6")],
            udp(547, 546).to_vec(),
            vec![expr::counter(), expr::drop()],
        ]
        .concat(),
    );
    rules.push(vec![
        expr::ether_type("ip6"),
        expr::icmpv6_types(&[134]),
        expr::counter(),
        expr::drop(),
    ]);
    // IPv4: DHCP discovery from 0.0.0.0, then the pairs.
    rules.push(
        [
            vec![
                expr::ether_type("ip"),
                expr::saddr(any4),
                expr::daddr(IpNet::host([255, 255, 255, 255].into())),
            ],
            udp(68, 67).to_vec(),
            vec![expr::ret()],
        ]
        .concat(),
    );
    if v4.is_empty() {
        rules.push(vec![expr::ether_type("ip"), expr::ret()]);
    } else {
        for (m, n) in &v4 {
            rules.push(vec![expr::ether_saddr(m), expr::saddr(*n), expr::ret()]);
        }
        rules.push(vec![expr::ether_type("ip"), expr::counter(), expr::drop()]);
    }
    // IPv6: DAD and MLD from the unspecified address, then the pairs.
    rules.push(vec![
        expr::ether_type("ip6"),
        expr::saddr(IpNet::host(IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
        expr::daddr(IpNet {
            addr: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0)),
            prefix: 16,
        }),
        expr::icmpv6_types(&[131, 135, 143]),
        expr::ret(),
    ]);
    if v6.is_empty() {
        rules.push(vec![expr::ether_type("ip6"), expr::ret()]);
    } else {
        for (m, n) in &v6 {
            rules.push(vec![expr::ether_saddr(m), expr::saddr(*n), expr::ret()]);
        }
        rules.push(vec![expr::ether_type("ip6"), expr::counter(), expr::drop()]);
    }
    rules
}

/// Add the security-group tables for `topo` to `d` (nothing when no port is filtered).
pub(super) fn plan(topo: &Topology, d: &mut DesiredState) {
    let nets: BTreeSet<&str> = topo.networks.iter().map(|n| n.id.as_str()).collect();
    let mut ports: Vec<&Port> = topo
        .ports
        .iter()
        .filter(|p| {
            p.port_security_enabled
                && !p.device_owner.starts_with("network:")
                && nets.contains(p.network_id.as_str())
        })
        .collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    let before = ports.len();
    ports.dedup_by(|a, b| naming::tap(&a.id) == naming::tap(&b.id));
    if ports.len() != before {
        d.warnings.push(format!(
            "{} ports share a TAP name (11-character id prefix) with another; only the first is filtered",
            before - ports.len()
        ));
    }
    if ports.len() > usize::from(u16::MAX) {
        d.warnings.push(format!(
            "{} filtered ports; only the first {} get security groups",
            ports.len(),
            u16::MAX
        ));
        ports.truncate(usize::from(u16::MAX));
    }
    if ports.is_empty() {
        return;
    }
    let zones = zones(nets.iter().copied());
    let groups: BTreeMap<&str, _> = topo
        .security_groups
        .iter()
        .map(|g| (g.id.as_str(), g))
        .collect();
    let mut sets = Sets {
        topo,
        sets: BTreeMap::new(),
    };

    // One pair of chains per group in use: its rules, canonically ordered (all are
    // allows) and deduplicated.
    let mut group_chains: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
    for gid in ports.iter().flat_map(|p| &p.security_group_ids) {
        let Some(g) = groups.get(gid.as_str()) else {
            continue;
        };
        let (gin, gout) = (format!("gin-{gid}"), format!("gout-{gid}"));
        if group_chains.contains_key(&gin) {
            continue;
        }
        let mut ingress: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut egress: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for r in &g.rules {
            match render_rule(r, &mut sets) {
                Ok(Some(e)) => {
                    let m = match r.direction {
                        Direction::Ingress => &mut ingress,
                        Direction::Egress => &mut egress,
                    };
                    m.insert(Value::Array(e.clone()).to_string(), e);
                }
                Ok(None) => {}
                Err(why) => d.warnings.push(format!(
                    "security group {} rule {}: {why}; skipped",
                    g.id, r.id
                )),
            }
        }
        group_chains.insert(gin, ingress.into_values().collect());
        group_chains.insert(gout, egress.into_values().collect());
    }

    let mut br_chains = Vec::new();
    let mut port_chains = Vec::new();
    let mut from_port = Vec::new();
    let mut to_port = Vec::new();
    let mut egress_jumps = Vec::new();
    let mut ingress_jumps = Vec::new();
    let udp = |s: u16, dp: u16| {
        [
            expr::port("udp", "sport", s, s),
            expr::port("udp", "dport", dp, dp),
        ]
    };
    for (i, p) in ports.iter().enumerate() {
        // 1..=65535 (truncated above).
        let idx = u32::try_from(i + 1).unwrap_or(u32::from(u16::MAX));
        let tap = naming::tap(&p.id);
        let (sp, mk) = (chain_name("sp", &p.id), chain_name("mk", &p.id));
        let (inc, outc) = (chain_name("in", &p.id), chain_name("out", &p.id));
        br_chains.push(chain(sp.clone(), spoof_chain(p, idx << 16)));
        br_chains.push(chain(mk.clone(), vec![vec![expr::mark_or(idx)]]));
        from_port.push((tap.clone(), sp));
        to_port.push((tap, mk));
        egress_jumps.push((idx << 16, outc.clone()));
        ingress_jumps.push((idx, inc.clone()));

        let mut known: Vec<&str> = Vec::new();
        for gid in &p.security_group_ids {
            if !groups.contains_key(gid.as_str()) {
                d.warnings.push(format!(
                    "port {}: security group {gid} is unknown; its rules are not applied",
                    p.id
                ));
            } else if !known.contains(&gid.as_str()) {
                known.push(gid);
            }
        }
        let host = |a: IpAddr| IpNet::host(a);
        let v4: Vec<IpNet> = p
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .filter(IpAddr::is_ipv4)
            .map(host)
            .collect();
        let v6: Vec<IpNet> = p
            .fixed_ips
            .iter()
            .map(|f| f.ip_address)
            .filter(IpAddr::is_ipv6)
            .map(host)
            .collect();

        // Ingress: DHCP replies only to the port's addresses (or broadcast/link-local),
        // router advertisements when it has IPv6, then its groups.
        let mut dhcp4 = v4.clone();
        dhcp4.push(IpNet::host([255, 255, 255, 255].into()));
        let mut dhcp6 = v6.clone();
        dhcp6.push(IpNet {
            addr: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)),
            prefix: 64,
        });
        let mut in_rules = vec![
            [
                vec![expr::nfproto(IpVersion::V4)],
                udp(67, 68).to_vec(),
                vec![expr::daddr_any(IpVersion::V4, &dhcp4), expr::accept()],
            ]
            .concat(),
            [
                vec![expr::nfproto(IpVersion::V6)],
                udp(547, 546).to_vec(),
                vec![expr::daddr_any(IpVersion::V6, &dhcp6), expr::accept()],
            ]
            .concat(),
        ];
        if !v6.is_empty() {
            in_rules.push(vec![expr::icmpv6_types(&[134]), expr::accept()]);
        }
        let mut out_rules = Vec::new();
        for gid in &known {
            in_rules.push(vec![expr::jump(&format!("gin-{gid}"))]);
            out_rules.push(vec![expr::jump(&format!("gout-{gid}"))]);
        }
        for rules in [&mut in_rules, &mut out_rules] {
            rules.push(vec![
                expr::ct_state(&["invalid"]),
                expr::counter(),
                expr::drop(),
            ]);
            rules.push(vec![expr::counter(), expr::drop()]);
        }
        port_chains.push(chain(outc, out_rules));
        port_chains.push(chain(inc, in_rules));

        let zone = zones.get(p.network_id.as_str()).copied().unwrap_or(0);
        let mut addrs: Vec<IpAddr> = p.fixed_ips.iter().map(|f| f.ip_address).collect();
        addrs.extend(
            p.allowed_address_pairs
                .iter()
                .filter(|a| a.ip == IpNet::host(a.ip.addr))
                .map(|a| a.ip.addr),
        );
        addrs.sort();
        addrs.dedup();
        d.sg_ports.insert(
            naming::tap(&p.id),
            SgPort {
                port_id: p.id.clone(),
                zone,
                addrs,
                groups: known.iter().map(|g| g.to_string()).collect(),
            },
        );
    }

    let mut br = vec![Chain {
        name: "forward".into(),
        hook: hook("filter", "forward", -200),
        rules: vec![
            vec![expr::mark_set(0)],
            vec![expr::ifname_vmap("iifname", &from_port)],
            vec![expr::ifname_vmap("oifname", &to_port)],
        ],
    }];
    // Frames for the host itself (not forwarded) get the same anti-spoofing.
    br.push(Chain {
        name: "input".into(),
        hook: hook("filter", "input", -200),
        rules: vec![
            vec![expr::mark_set(0)],
            vec![expr::ifname_vmap("iifname", &from_port)],
        ],
    });
    br.extend(br_chains);
    let established = || vec![expr::ct_state(&["established", "related"]), expr::accept()];
    let mut inet = vec![
        Chain {
            name: "prerouting".into(),
            hook: hook("filter", "prerouting", -300),
            rules: zones
                .iter()
                .map(|(net, z)| vec![expr::iifname(&naming::bridge(net)), expr::ct_zone_set(*z)])
                .collect(),
        },
        // Egress first: its `accept` only ends this chain; the ingress chain, a later
        // base chain on the same hook, still judges the packet.
        Chain {
            name: "egress".into(),
            hook: hook("filter", "forward", -10),
            rules: vec![
                established(),
                [
                    vec![expr::nfproto(IpVersion::V4)],
                    udp(68, 67).to_vec(),
                    vec![expr::accept()],
                ]
                .concat(),
                // Router advertisements from instances never get here (bridge table).
                vec![
                    expr::nfproto(IpVersion::V6),
                    expr::l4proto(58),
                    expr::accept(),
                ],
                [
                    vec![expr::nfproto(IpVersion::V6)],
                    udp(546, 547).to_vec(),
                    vec![expr::accept()],
                ]
                .concat(),
                vec![expr::mark_vmap(0xffff_0000, &egress_jumps)],
            ],
        },
        Chain {
            name: "ingress".into(),
            hook: hook("filter", "forward", 0),
            rules: vec![
                established(),
                vec![expr::icmpv6_types(&[130, 135, 136]), expr::accept()],
                vec![expr::mark_vmap(0x0000_ffff, &ingress_jumps)],
            ],
        },
    ];
    // Traffic from a port to the host itself is egress too (Neutron's INPUT jump).
    let local = Chain {
        name: "egress-local".into(),
        hook: hook("filter", "input", 0),
        rules: inet[1].rules.clone(),
    };
    inet.push(local);
    inet.extend(port_chains);
    inet.extend(group_chains.into_iter().map(|(n, r)| chain(n, r)));
    d.host_tables.push(Table {
        family: Family::Bridge,
        name: SG_TABLE.into(),
        sets: vec![],
        chains: br,
    });
    d.host_tables.push(Table {
        family: Family::Inet,
        name: SG_TABLE.into(),
        sets: sets.sets.into_values().collect(),
        chains: inet,
    });
}

/// What a rule matches, for conntrack deletion: (family, protocol, destination port).
fn rule_scope(rule: &[Value]) -> (Option<IpVersion>, Option<u8>, Option<u16>) {
    let (mut v, mut proto, mut dport) = (None, None, None);
    for e in rule {
        let Some(m) = e.get("match") else { continue };
        let (left, right) = (&m["left"], &m["right"]);
        if let Some(key) = left.pointer("/meta/key").and_then(Value::as_str) {
            match (key, right.as_str()) {
                ("nfproto", Some("ipv4")) => v = Some(IpVersion::V4),
                ("nfproto", Some("ipv6")) => v = Some(IpVersion::V6),
                ("l4proto", _) => proto = right.as_u64().and_then(|n| u8::try_from(n).ok()),
                _ => {}
            }
        } else if let Some(p) = left.pointer("/payload/protocol").and_then(Value::as_str) {
            if let Some(n) = port_proto_number(p) {
                proto = Some(n);
                if left.pointer("/payload/field").and_then(Value::as_str) == Some("dport") {
                    dport = right.as_u64().and_then(|n| u16::try_from(n).ok());
                }
            }
        }
    }
    (v, proto, dport)
}

/// The named sets a rule references (`@name`).
fn rule_sets(rule: &[Value]) -> Vec<String> {
    rule.iter()
        .filter_map(|e| e.pointer("/match/right").and_then(Value::as_str))
        .filter_map(|r| r.strip_prefix('@'))
        .map(str::to_string)
        .collect()
}

/// The conntrack entries to delete when the `inet` security-group table goes from
/// `old` to `new`: for every rule removed from a group's chain, the flows of the group's
/// ports in that direction (narrowed to the rule's family, protocol and single
/// destination port); for a group left by a port, the port's flows in both directions;
/// for every address removed from a remote set, the group's ports' flows with that
/// address; for a port filtered now but not before, all its flows (they were admitted
/// unfiltered).
pub fn flush_filters(
    old: &Table,
    new: &Table,
    ports: &BTreeMap<String, SgPort>,
) -> BTreeSet<ConntrackFilter> {
    let mut out = BTreeSet::new();
    let removed_rules = |name: &str| -> Vec<&Vec<Value>> {
        let new_rules: &[Vec<Value>] = new
            .chain(name)
            .map(|c| c.rules.as_slice())
            .unwrap_or_default();
        old.chain(name)
            .map(|c| c.rules.iter().filter(|r| !new_rules.contains(r)).collect())
            .unwrap_or_default()
    };
    let removed_members = |set: &str| -> Vec<IpAddr> {
        let Some(o) = old.set(set) else {
            return vec![];
        };
        let keep: BTreeSet<IpNet> = new
            .set(set)
            .map(|s| s.elements.iter().copied().collect())
            .unwrap_or_default();
        o.elements
            .iter()
            .filter(|e| !keep.contains(e) && IpNet::host(e.addr) == **e)
            .map(|e| e.addr)
            .collect()
    };
    // Flows of `port` in one direction matching a rule's scope.
    let mut cut = |port: &SgPort, ingress: bool, rule: &[Value]| {
        let (v, protocol, dport) = rule_scope(rule);
        for a in port
            .addrs
            .iter()
            .filter(|a| v.is_none_or(|v| IpVersion::of(**a) == v))
        {
            out.insert(ConntrackFilter {
                zone: Some(port.zone),
                protocol,
                dport,
                src: (!ingress).then_some(*a),
                dst: ingress.then_some(*a),
                ..ConntrackFilter::default()
            });
        }
    };
    let mut member_cuts = Vec::new();
    // Every port of a group reads the same remote sets: diff each set once (per port it
    // was O(ports x set size) allocations per pass, seconds with 1,000 ports).
    let mut removed_by_set: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for port in ports.values() {
        let pid = &port.port_id;
        let (in_name, out_name) = (chain_name("in", pid), chain_name("out", pid));
        if old.chain(&in_name).is_none() {
            cut(port, true, &[]);
            cut(port, false, &[]);
            continue;
        }
        for (name, ingress) in [(in_name, true), (out_name, false)] {
            for rule in removed_rules(&name) {
                cut(port, ingress, rule);
            }
        }
        for g in &port.groups {
            for (name, ingress) in [(format!("gin-{g}"), true), (format!("gout-{g}"), false)] {
                for rule in removed_rules(&name) {
                    cut(port, ingress, rule);
                }
                let rules = new
                    .chain(&name)
                    .map(|c| c.rules.as_slice())
                    .unwrap_or_default();
                for set in rules.iter().flat_map(|r| rule_sets(r)) {
                    let removed = removed_by_set
                        .entry(set)
                        .or_insert_with_key(|set| removed_members(set));
                    for m in removed.iter() {
                        member_cuts.push((port, ingress, *m));
                    }
                }
            }
        }
    }
    for (port, ingress, m) in member_cuts {
        for a in port
            .addrs
            .iter()
            .filter(|a| IpVersion::of(**a) == IpVersion::of(m))
        {
            let (src, dst) = if ingress { (m, *a) } else { (*a, m) };
            out.insert(ConntrackFilter {
                zone: Some(port.zone),
                src: Some(src),
                dst: Some(dst),
                ..ConntrackFilter::default()
            });
        }
    }
    out
}
