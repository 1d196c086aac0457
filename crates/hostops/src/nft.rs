//! nftables: one table per owner, applied atomically as one JSON ruleset (`nft -j -f -`).
//! Applying a table replaces it entirely in one transaction (`add` + `delete` + `add`
//! with all chains and rules), so a half-applied table is never visible.
//!
//! nft 1.0.6 drops table comments, so the kernel cannot tell us which content a table
//! holds. [`LinuxNft`] remembers the digest of what it applied (per process); after a
//! restart a table's digest is unknown and the reconciler re-applies it once, which is
//! harmless (established NAT flows live in conntrack, not in the table).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::cmd::Cmd;
use crate::error::{HostError, Result};

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

/// A whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Family.
    pub family: Family,
    /// Name.
    pub name: String,
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

impl Table {
    /// The `nft -j` document that replaces this table atomically.
    pub fn to_json(&self) -> Value {
        let fam = self.family.as_str();
        let t = json!({"family": fam, "name": self.name});
        let mut cmds = vec![
            json!({"add": {"table": t}}),
            json!({"delete": {"table": t}}),
            json!({"add": {"table": t}}),
        ];
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
        json!({ "nftables": cmds })
    }

    /// A stable digest of the content (FNV-1a of the JSON document), to skip no-op applies.
    pub fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.to_json().to_string().bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// nft JSON expression builders for the rules the data plane writes.
pub mod expr {
    use serde_json::{json, Value};

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

/// nftables tables in a namespace.
pub trait Firewall: Send + Sync {
    /// Tables in `ns`.
    fn table_list(&self, ns: Option<&str>) -> Result<Vec<TableState>>;
    /// Create or atomically replace a table.
    fn table_apply(&self, ns: Option<&str>, table: &Table) -> Result<()>;
    /// Delete a table.
    fn table_delete(&self, ns: Option<&str>, family: Family, name: &str) -> Result<()>;
}

/// (namespace, family, table name)
type TableKey = (Option<String>, Family, String);

/// [`Firewall`] on Linux through `nft -j`.
#[derive(Debug, Default)]
pub struct LinuxNft {
    applied: Mutex<HashMap<TableKey, String>>,
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
                let digest = applied.get(&Self::key(ns, family, &name)).cloned();
                Some(TableState {
                    family,
                    name,
                    digest,
                })
            })
            .collect())
    }

    fn table_apply(&self, ns: Option<&str>, table: &Table) -> Result<()> {
        let doc = table.to_json().to_string();
        Cmd::in_netns(ns, "nft")
            .args(["-j", "-f", "-"])
            .run_with_input(Some(doc.as_bytes()))?;
        self.applied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Self::key(ns, table.family, &table.name), table.digest());
        Ok(())
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
}
