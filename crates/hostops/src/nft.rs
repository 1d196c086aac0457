//! nftables: one table per owner, applied atomically as one JSON ruleset (`nft -j -f -`).
//! Applying a table replaces it entirely in one transaction (`add` + `delete` + `add`
//! with all sets, chains and rules), so a half-applied table is never visible; several
//! tables that depend on each other (the security-group `bridge` table sets the packet
//! marks its `inet` twin dispatches on) are replaced together in one transaction with
//! [`Firewall::tables_apply`].
//!
//! nft 1.0.6 drops table comments, so the kernel cannot tell us which content a table
//! holds. [`LinuxNft`] remembers what it applied (per process); after a restart a
//! table's content is unknown and the reconciler re-applies it once, which is harmless
//! (established NAT and filter flows live in conntrack, not in the table).
//!
//! Conntrack entries are deleted with `conntrack -D` ([`ConntrackFilter`]): removing a
//! security-group rule must also cut the flows it admitted, which conntrack would
//! otherwise keep accepting as established.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::cmd::Cmd;
use crate::error::{HostError, Result};
use crate::net::IpNet;

/// An nftables address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `ip`
    Ip,
    /// `ip6`
    Ip6,
    /// `inet`
    Inet,
    /// `bridge`
    Bridge,
}

impl Family {
    /// The nft keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "bridge" => Family::Bridge,
            _ => return None,
        })
    }
}

/// A base chain's hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// `filter`, `nat`, `route`.
    pub chain_type: String,
    /// `prerouting`, `input`, `forward`, `output`, `postrouting`.
    pub hook: String,
    /// Priority (`dstnat` = -100, `srcnat` = 100, `filter` = 0).
    pub priority: i32,
    /// `accept` or `drop`.
    pub policy: String,
}

/// A chain and its rules; each rule is a list of nft JSON expressions (see [`expr`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// Chain name.
    pub name: String,
    /// Base chain hook; `None` for a regular chain (jump target).
    pub hook: Option<Hook>,
    /// Rules in order.
    pub rules: Vec<Vec<Value>>,
}

/// IP version of a set, a conntrack filter...
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpVersion {
    /// IPv4
    V4,
    /// IPv6
    V6,
}

impl IpVersion {
    /// The version of an address.
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() {
            IpVersion::V4
        } else {
            IpVersion::V6
        }
    }
}

/// A named set of addresses and prefixes (`type ipv4_addr; flags interval`), matched
/// with [`expr::saddr_in`]/[`expr::daddr_in`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    /// Name.
    pub name: String,
    /// Address family of the elements.
    pub version: IpVersion,
    /// Elements; they must not overlap (the planner drops prefixes inside others).
    pub elements: Vec<IpNet>,
}

/// A whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Family.
    pub family: Family,
    /// Name.
    pub name: String,
    /// Named sets.
    pub sets: Vec<Set>,
    /// Chains.
    pub chains: Vec<Chain>,
}

/// A table that exists, and the digest of its content when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableState {
    /// Family.
    pub family: Family,
    /// Name.
    pub name: String,
    /// [`Table::digest`] of the applied content; `None` when unknown.
    pub digest: Option<String>,
}

/// The `nft -j` document that replaces all of `tables` in one transaction.
pub fn tables_to_json(tables: &[Table]) -> Value {
    json!({ "nftables": tables.iter().flat_map(Table::commands).collect::<Vec<_>>() })
}

fn elem(n: &IpNet) -> Value {
    let full = if n.addr.is_ipv4() { 32 } else { 128 };
    if n.prefix == full {
        json!(n.addr.to_string())
    } else {
        json!({"prefix": {"addr": n.network().to_string(), "len": n.prefix}})
    }
}

impl Table {
    /// The `nft -j` document that replaces this table atomically.
    pub fn to_json(&self) -> Value {
        json!({ "nftables": self.commands() })
    }

    fn commands(&self) -> Vec<Value> {
        let fam = self.family.as_str();
        let t = json!({"family": fam, "name": self.name});
        let mut cmds = vec![
            json!({"add": {"table": t}}),
            json!({"delete": {"table": t}}),
            json!({"add": {"table": t}}),
        ];
        for set in &self.sets {
            let mut v = json!({
                "family": fam,
                "table": self.name,
                "name": set.name,
                "type": match set.version {
                    IpVersion::V4 => "ipv4_addr",
                    IpVersion::V6 => "ipv6_addr",
                },
                "flags": ["interval"],
            });
            if !set.elements.is_empty() {
                v["elem"] = Value::Array(set.elements.iter().map(elem).collect());
            }
            cmds.push(json!({"add": {"set": v}}));
        }
        for c in &self.chains {
            let mut chain = json!({"family": fam, "table": self.name, "name": c.name});
            if let Some(h) = &c.hook {
                chain["type"] = json!(h.chain_type);
                chain["hook"] = json!(h.hook);
                chain["prio"] = json!(h.priority);
                chain["policy"] = json!(h.policy);
            }
            cmds.push(json!({"add": {"chain": chain}}));
        }
        for c in &self.chains {
            for r in &c.rules {
                cmds.push(json!({"add": {"rule": {
                    "family": fam, "table": self.name, "chain": c.name, "expr": r
                }}}));
            }
        }
        cmds
    }

    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The set named `name`.
    pub fn set(&self, name: &str) -> Option<&Set> {
        self.sets.iter().find(|c| c.name == name)
    }

    /// A stable digest of the content (FNV-1a of the JSON document), to skip no-op applies.
    pub fn digest(&self) -> String {
        let mut buf = Vec::new();
        self.write_commands(&mut buf, &mut true);
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in buf {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// Append this table's commands to a JSON array being written into `out`, without
    /// copying the rules (the documents of the security-group tables run to hundreds of
    /// KiB; building them as one `Value` costs more than applying them).
    fn write_commands(&self, out: &mut Vec<u8>, first: &mut bool) {
        let mut sep = |out: &mut Vec<u8>| {
            if !std::mem::take(first) {
                out.push(b',');
            }
        };
        let small = Table {
            family: self.family,
            name: self.name.clone(),
            sets: self.sets.clone(),
            chains: self
                .chains
                .iter()
                .map(|c| Chain {
                    name: c.name.clone(),
                    hook: c.hook.clone(),
                    rules: vec![],
                })
                .collect(),
        };
        for c in &small.commands() {
            sep(out);
            // Writing a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, c);
        }
        let fam = Value::from(self.family.as_str());
        let table = Value::from(self.name.as_str());
        for c in &self.chains {
            let chain = Value::from(c.name.as_str());
            for r in &c.rules {
                sep(out);
                out.extend_from_slice(br#"{"add":{"rule":{"family":"#);
                let _ = serde_json::to_writer(&mut *out, &fam);
                out.extend_from_slice(br#","table":"#);
                let _ = serde_json::to_writer(&mut *out, &table);
                out.extend_from_slice(br#","chain":"#);
                let _ = serde_json::to_writer(&mut *out, &chain);
                out.extend_from_slice(br#","expr":"#);
                let _ = serde_json::to_writer(&mut *out, r);
                out.extend_from_slice(b"}}}");
            }
        }
    }
}

/// The `nft -j` document (text) that replaces all of `tables` in one transaction; the
/// same document as [`tables_to_json`], written without building it as a `Value`.
pub fn tables_to_string(tables: &[Table]) -> String {
    let mut out = br#"{"nftables":["#.to_vec();
    let mut first = true;
    for t in tables {
        t.write_commands(&mut out, &mut first);
    }
    out.extend_from_slice(b"]}");
    String::from_utf8_lossy(&out).into_owned()
}

/// nft JSON expression builders for the rules the data plane writes.
pub mod expr {
    use serde_json::{json, Value};

    use super::IpVersion;
    use crate::net::IpNet;

    fn ip_match(field: &str, net: IpNet) -> Value {
        let proto = if net.addr.is_ipv4() { "ip" } else { "ip6" };
        let full = if net.addr.is_ipv4() { 32 } else { 128 };
        let right = if net.prefix == full {
            json!(net.addr.to_string())
        } else {
            json!({"prefix": {"addr": net.network().to_string(), "len": net.prefix}})
        };
        json!({"match": {"op": "==", "left": {"payload": {"protocol": proto, "field": field}}, "right": right}})
    }

    /// `ip saddr <net>`
    pub fn saddr(net: IpNet) -> Value {
        ip_match("saddr", net)
    }

    /// `ip daddr <net>`
    pub fn daddr(net: IpNet) -> Value {
        ip_match("daddr", net)
    }

    /// `iifname <name>` (a trailing `*` is a wildcard).
    pub fn iifname(name: &str) -> Value {
        json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": name}})
    }

    /// `oifname <name>`
    pub fn oifname(name: &str) -> Value {
        json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": name}})
    }

    /// `snat to <addr>`
    pub fn snat(addr: std::net::IpAddr) -> Value {
        json!({"snat": {"addr": addr.to_string()}})
    }

    /// `dnat to <addr>`
    pub fn dnat(addr: std::net::IpAddr) -> Value {
        json!({"dnat": {"addr": addr.to_string()}})
    }

    fn cmp(op: &str, left: Value, right: Value) -> Value {
        json!({"match": {"op": op, "left": left, "right": right}})
    }

    fn meta(key: &str) -> Value {
        json!({"meta": {"key": key}})
    }

    fn payload(protocol: &str, field: &str) -> Value {
        json!({"payload": {"protocol": protocol, "field": field}})
    }

    fn ip_proto(v: IpVersion) -> &'static str {
        match v {
            IpVersion::V4 => "ip",
            IpVersion::V6 => "ip6",
        }
    }

    /// `ip saddr @set` / `ip6 saddr @set`
    pub fn saddr_in(v: IpVersion, set: &str) -> Value {
        cmp(
            "==",
            payload(ip_proto(v), "saddr"),
            json!(format!("@{set}")),
        )
    }

    /// `ip daddr @set` / `ip6 daddr @set`
    pub fn daddr_in(v: IpVersion, set: &str) -> Value {
        cmp(
            "==",
            payload(ip_proto(v), "daddr"),
            json!(format!("@{set}")),
        )
    }

    /// `ip daddr { a, b/n }` (anonymous set; all of one family).
    pub fn daddr_any(v: IpVersion, nets: &[IpNet]) -> Value {
        let elems: Vec<Value> = nets.iter().map(super::elem).collect();
        cmp("==", payload(ip_proto(v), "daddr"), json!({"set": elems}))
    }

    /// `meta nfproto ipv4|ipv6`
    pub fn nfproto(v: IpVersion) -> Value {
        let name = match v {
            IpVersion::V4 => "ipv4",
            IpVersion::V6 => "ipv6",
        };
        cmp("==", meta("nfproto"), json!(name))
    }

    /// `meta l4proto <n>`
    pub fn l4proto(n: u8) -> Value {
        cmp("==", meta("l4proto"), json!(n))
    }

    /// `<proto> sport|dport <port>` or `... <min>-<max>` (`proto` = `tcp`, `udp`,
    /// `sctp`, `dccp`, `udplite`; nft adds the protocol dependency itself).
    pub fn port(proto: &str, field: &str, min: u16, max: u16) -> Value {
        let right = if min == max {
            json!(min)
        } else {
            json!({"range": [min, max]})
        };
        cmp("==", payload(proto, field), right)
    }

    /// `icmp type <t>` / `icmpv6 type <t>`
    pub fn icmp_type(v: IpVersion, t: u8) -> Value {
        cmp("==", payload(icmp_proto(v), "type"), json!(t))
    }

    /// `icmp code <c>` / `icmpv6 code <c>`
    pub fn icmp_code(v: IpVersion, c: u8) -> Value {
        cmp("==", payload(icmp_proto(v), "code"), json!(c))
    }

    /// `icmpv6 type { a, b }`
    pub fn icmpv6_types(types: &[u8]) -> Value {
        cmp("==", payload("icmpv6", "type"), json!({"set": types}))
    }

    fn icmp_proto(v: IpVersion) -> &'static str {
        match v {
            IpVersion::V4 => "icmp",
            IpVersion::V6 => "icmpv6",
        }
    }

    /// `ct state established,related` (or any list of states).
    pub fn ct_state(states: &[&str]) -> Value {
        cmp("in", json!({"ct": {"key": "state"}}), json!(states))
    }

    /// `ct zone set <zone>`
    pub fn ct_zone_set(zone: u16) -> Value {
        json!({"mangle": {"key": {"ct": {"key": "zone"}}, "value": zone}})
    }

    /// `meta mark set <mark>`
    pub fn mark_set(mark: u32) -> Value {
        json!({"mangle": {"key": meta("mark"), "value": mark}})
    }

    /// `meta mark set meta mark | <bits>`
    pub fn mark_or(bits: u32) -> Value {
        json!({"mangle": {"key": meta("mark"), "value": {"|": [meta("mark"), bits]}}})
    }

    /// `meta mark & <mask> vmap { <value>: jump <chain>, ... }`
    pub fn mark_vmap(mask: u32, jumps: &[(u32, String)]) -> Value {
        let data: Vec<Value> = jumps
            .iter()
            .map(|(v, c)| json!([v, {"jump": {"target": c}}]))
            .collect();
        json!({"vmap": {"key": {"&": [meta("mark"), mask]}, "data": {"set": data}}})
    }

    /// `iifname|oifname vmap { "<dev>": jump <chain>, ... }` (`key` = `iifname`/`oifname`).
    pub fn ifname_vmap(key: &str, jumps: &[(String, String)]) -> Value {
        let data: Vec<Value> = jumps
            .iter()
            .map(|(d, c)| json!([d, {"jump": {"target": c}}]))
            .collect();
        json!({"vmap": {"key": meta(key), "data": {"set": data}}})
    }

    /// `ether saddr <mac>`
    pub fn ether_saddr(mac: &str) -> Value {
        cmp("==", payload("ether", "saddr"), json!(mac))
    }

    /// `ether saddr != { <macs> }`
    pub fn ether_saddr_not_in(macs: &[String]) -> Value {
        cmp("!=", payload("ether", "saddr"), json!({"set": macs}))
    }

    /// `ether type <ip|ip6|arp>`
    pub fn ether_type(t: &str) -> Value {
        cmp("==", payload("ether", "type"), json!(t))
    }

    /// `arp saddr ip <net>`
    pub fn arp_saddr(net: IpNet) -> Value {
        cmp("==", payload("arp", "saddr ip"), super::elem(&net))
    }

    /// `jump <chain>`
    pub fn jump(chain: &str) -> Value {
        json!({"jump": {"target": chain}})
    }

    /// `return`
    pub fn ret() -> Value {
        json!({"return": null})
    }

    /// `counter`
    pub fn counter() -> Value {
        json!({"counter": null})
    }

    /// `accept`
    pub fn accept() -> Value {
        json!({"accept": null})
    }

    /// `drop`
    pub fn drop() -> Value {
        json!({"drop": null})
    }
}

/// Which conntrack entries to delete (`conntrack -D`); every field set narrows the
/// match, on the entry's original direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConntrackFilter {
    /// `-w`: conntrack zone.
    pub zone: Option<u16>,
    /// `-f`: family (implied by `src`/`dst` when they are set).
    pub version: Option<IpVersion>,
    /// `-p`: IP protocol number.
    pub protocol: Option<u8>,
    /// `-s`: original source address.
    pub src: Option<IpAddr>,
    /// `-d`: original destination address.
    pub dst: Option<IpAddr>,
    /// `--dport`: original destination port (only with a TCP/UDP/SCTP/DCCP/UDP-Lite
    /// `protocol`).
    pub dport: Option<u16>,
}

impl ConntrackFilter {
    /// The `conntrack -D` command for this filter in `ns`.
    pub fn delete_cmd(&self, ns: Option<&str>) -> Cmd {
        let mut c = Cmd::in_netns(ns, "conntrack").arg("-D");
        if let Some(z) = self.zone {
            c = c.args(["-w".to_string(), z.to_string()]);
        }
        let version = self
            .version
            .or(self.src.map(IpVersion::of))
            .or(self.dst.map(IpVersion::of));
        if let Some(v) = version {
            c = c.args([
                "-f",
                match v {
                    IpVersion::V4 => "ipv4",
                    IpVersion::V6 => "ipv6",
                },
            ]);
        }
        if let Some(p) = self.protocol {
            c = c.args(["-p".to_string(), p.to_string()]);
            if let (Some(port), 6 | 17 | 33 | 132 | 136) = (self.dport, p) {
                c = c.args(["--dport".to_string(), port.to_string()]);
            }
        }
        if let Some(a) = self.src {
            c = c.args(["-s".to_string(), a.to_string()]);
        }
        if let Some(a) = self.dst {
            c = c.args(["-d".to_string(), a.to_string()]);
        }
        c
    }
}

/// The count in conntrack's `N flow entries have been deleted.` message.
fn deleted_count(stderr: &str) -> Option<u32> {
    let i = stderr.find(" flow entries have been deleted")?;
    stderr[..i]
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// nftables tables (and the conntrack table) in a namespace.
pub trait Firewall: Send + Sync {
    /// Tables in `ns`.
    fn table_list(&self, ns: Option<&str>) -> Result<Vec<TableState>>;
    /// The content of a table as this process last applied it (`None`: not applied by
    /// this process, e.g. after a restart).
    fn table_get(&self, ns: Option<&str>, family: Family, name: &str) -> Result<Option<Table>>;
    /// Create or atomically replace a table.
    fn table_apply(&self, ns: Option<&str>, table: &Table) -> Result<()>;
    /// Create or replace several tables in one transaction (all or none).
    fn tables_apply(&self, ns: Option<&str>, tables: &[Table]) -> Result<()>;
    /// Delete a table.
    fn table_delete(&self, ns: Option<&str>, family: Family, name: &str) -> Result<()>;
    /// Delete the conntrack entries matching `filter`; returns how many were deleted
    /// (none matching is not an error).
    fn conntrack_delete(&self, ns: Option<&str>, filter: &ConntrackFilter) -> Result<u32>;
}

/// (namespace, family, table name)
type TableKey = (Option<String>, Family, String);

/// [`Firewall`] on Linux through `nft -j` and `conntrack`.
#[derive(Debug, Default)]
pub struct LinuxNft {
    applied: Mutex<HashMap<TableKey, (String, Table)>>,
}

impl LinuxNft {
    /// A new instance with no memory of applied tables.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(ns: Option<&str>, f: Family, n: &str) -> TableKey {
        (ns.map(str::to_string), f, n.to_string())
    }
}

impl Firewall for LinuxNft {
    fn table_list(&self, ns: Option<&str>) -> Result<Vec<TableState>> {
        let cmd = Cmd::in_netns(ns, "nft").args(["-j", "list", "tables"]);
        let out = cmd.run()?;
        let v: Value = serde_json::from_str(&out).map_err(|e| HostError::Parse {
            command: cmd.display(),
            message: e.to_string(),
        })?;
        let applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        Ok(v.get("nftables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("table"))
            .filter_map(|t| {
                let family = Family::parse(t.get("family")?.as_str()?)?;
                let name = t.get("name")?.as_str()?.to_string();
                let digest = applied
                    .get(&Self::key(ns, family, &name))
                    .map(|(d, _)| d.clone());
                Some(TableState {
                    family,
                    name,
                    digest,
                })
            })
            .collect())
    }

    fn table_get(&self, ns: Option<&str>, family: Family, name: &str) -> Result<Option<Table>> {
        Ok(self
            .applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&Self::key(ns, family, name))
            .map(|(_, t)| t.clone()))
    }

    fn table_apply(&self, ns: Option<&str>, table: &Table) -> Result<()> {
        self.tables_apply(ns, std::slice::from_ref(table))
    }

    fn tables_apply(&self, ns: Option<&str>, tables: &[Table]) -> Result<()> {
        let doc = tables_to_string(tables);
        Cmd::in_netns(ns, "nft")
            .args(["-j", "-f", "-"])
            .run_with_input(Some(doc.as_bytes()))?;
        let mut applied = self.applied.lock().unwrap_or_else(|e| e.into_inner());
        for t in tables {
            applied.insert(Self::key(ns, t.family, &t.name), (t.digest(), t.clone()));
        }
        Ok(())
    }

    fn conntrack_delete(&self, ns: Option<&str>, filter: &ConntrackFilter) -> Result<u32> {
        let cmd = filter.delete_cmd(ns);
        let out = cmd.output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match deleted_count(&stderr) {
            // conntrack exits 1 when nothing matched.
            Some(n) => Ok(n),
            None => Err(HostError::Command {
                command: cmd.display(),
                status: out.status.to_string(),
                stderr: stderr.trim().to_string(),
            }),
        }
    }

    fn table_delete(&self, ns: Option<&str>, family: Family, name: &str) -> Result<()> {
        Cmd::in_netns(ns, "nft")
            .args(["delete", "table", family.as_str(), name])
            .run()?;
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&Self::key(ns, family, name));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_json_replaces_atomically() {
        let t = Table {
            family: Family::Ip,
            name: "rustack-nat".into(),
            sets: vec![],
            chains: vec![Chain {
                name: "postrouting".into(),
                hook: Some(Hook {
                    chain_type: "nat".into(),
                    hook: "postrouting".into(),
                    priority: 100,
                    policy: "accept".into(),
                }),
                rules: vec![vec![
                    expr::saddr("10.0.0.0/24".parse().unwrap()),
                    expr::oifname("qg-1"),
                    expr::snat("203.0.113.2".parse().unwrap()),
                ]],
            }],
        };
        let j = t.to_json();
        let cmds = j["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 5);
        assert!(cmds[1].get("delete").is_some());
        assert_eq!(cmds[3]["add"]["chain"]["prio"], 100);
        assert_eq!(
            cmds[4]["add"]["rule"]["expr"][0]["match"]["right"]["prefix"]["len"],
            24
        );
        assert_eq!(t.digest(), t.clone().digest());
        assert_eq!(
            expr::daddr("1.2.3.4/32".parse().unwrap())["match"]["right"],
            "1.2.3.4"
        );
    }

    #[test]
    fn sets_and_several_tables_in_one_document() {
        let t = |family, elements: Vec<IpNet>| Table {
            family,
            name: "rustack-sg".into(),
            sets: vec![Set {
                name: "rg4-x".into(),
                version: IpVersion::V4,
                elements,
            }],
            chains: vec![],
        };
        let doc = tables_to_json(&[
            t(Family::Bridge, vec![]),
            t(
                Family::Inet,
                vec![
                    "10.0.0.5/32".parse().unwrap(),
                    "10.1.0.0/16".parse().unwrap(),
                ],
            ),
        ]);
        let cmds = doc["nftables"].as_array().unwrap();
        assert_eq!(cmds.len(), 8);
        assert_eq!(cmds[1]["delete"]["table"]["family"], "bridge");
        assert!(
            cmds[3]["add"]["set"].get("elem").is_none(),
            "empty set has no elem"
        );
        assert_eq!(cmds[5]["delete"]["table"]["family"], "inet");
        let set = &cmds[7]["add"]["set"];
        assert_eq!(set["type"], "ipv4_addr");
        assert_eq!(set["flags"][0], "interval");
        assert_eq!(set["elem"][0], "10.0.0.5");
        assert_eq!(set["elem"][1]["prefix"]["len"], 16);
    }

    #[test]
    fn streamed_document_equals_the_value_document() {
        let t = Table {
            family: Family::Inet,
            name: "rustack-sg".into(),
            sets: vec![],
            chains: vec![
                Chain {
                    name: "in \"x\"".into(),
                    hook: None,
                    rules: vec![vec![expr::counter(), expr::drop()], vec![expr::accept()]],
                },
                Chain {
                    name: "fwd".into(),
                    hook: Some(Hook {
                        chain_type: "filter".into(),
                        hook: "forward".into(),
                        priority: 0,
                        policy: "accept".into(),
                    }),
                    rules: vec![vec![expr::jump("in \"x\"")]],
                },
            ],
        };
        let two = [t.clone(), t.clone()];
        let parsed: Value = serde_json::from_str(&tables_to_string(&two)).unwrap();
        assert_eq!(parsed, tables_to_json(&two));
        let mut other = t.clone();
        other.chains[0].rules.pop();
        assert_ne!(t.digest(), other.digest());
    }

    #[test]
    fn conntrack_delete_argv_and_count() {
        let f = ConntrackFilter {
            zone: Some(7),
            protocol: Some(6),
            dport: Some(22),
            dst: Some("10.0.0.5".parse().unwrap()),
            ..ConntrackFilter::default()
        };
        assert_eq!(
            f.delete_cmd(Some("h1")).display(),
            "ip netns exec h1 conntrack -D -w 7 -f ipv4 -p 6 --dport 22 -d 10.0.0.5"
        );
        // A port is only meaningful with a protocol that has ports.
        let icmp = ConntrackFilter {
            protocol: Some(1),
            dport: Some(22),
            src: Some("2001:db8::1".parse().unwrap()),
            ..ConntrackFilter::default()
        };
        assert_eq!(
            icmp.delete_cmd(None).args,
            ["-D", "-f", "ipv6", "-p", "1", "-s", "2001:db8::1"]
        );
        assert_eq!(
            deleted_count(
                "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n"
            ),
            Some(0)
        );
        assert_eq!(
            deleted_count("conntrack v1.4.7 (conntrack-tools): 12 flow entries have been deleted."),
            Some(12)
        );
        assert_eq!(
            deleted_count("conntrack v1.4.7: Operation failed: invalid parameters"),
            None
        );
    }
}
