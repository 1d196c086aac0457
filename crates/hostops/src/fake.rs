//! A shared, stateful fake host implementing [`NetOps`], [`Firewall`] and [`DhcpServer`].
//! Clones share one state, so a test hands one clone to the code under test and keeps
//! another to inspect and disturb the host. It enforces the kernel rules the reconciler
//! must respect (no duplicate links, masters must be bridges in the same namespace,
//! deleting a veth end deletes its peer, deleting a namespace deletes its links and the
//! peers of its veths), counts mutating calls, and has failure knobs
//! ([`FakeHost::fail_next`], [`FakeHost::kill_dhcp`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::dhcp::{stale_leases, DhcpConfig, DhcpOutcome, DhcpServer, DhcpStatus, Lease};
use crate::error::{HostError, Result};
use crate::net::{IpNet, LinkInfo, LinkKind, LinkSpec, LinkUpdate, NetOps, Route};
use crate::nft::{ConntrackFilter, Family, Firewall, Table, TableState};

type NsKey = Option<String>;

/// A link in the fake.
#[derive(Clone, Debug)]
pub struct FakeLink {
    /// What the kernel would report.
    pub info: LinkInfo,
    /// For veths: the other end.
    pub peer: Option<(NsKey, String)>,
    /// Addresses.
    pub addrs: BTreeSet<IpNet>,
}

/// A dnsmasq instance in the fake.
#[derive(Clone, Debug)]
pub struct FakeDhcp {
    /// Its configuration.
    pub config: DhcpConfig,
    /// Process id while running.
    pub pid: Option<u32>,
    /// `SIGHUP`s received.
    pub reloads: u32,
    /// Times started.
    pub starts: u32,
    /// Leases released (`dhcp_release`) so far, in order: those a configuration change
    /// dropped while the instance ran.
    pub released: Vec<Lease>,
}

/// Everything the fake host holds.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Named namespaces.
    pub netns: BTreeSet<String>,
    /// Links per namespace (`None` = the agent's own).
    pub links: BTreeMap<NsKey, BTreeMap<String, FakeLink>>,
    /// Routes per namespace.
    pub routes: BTreeMap<NsKey, BTreeSet<Route>>,
    /// Sysctls per namespace.
    pub sysctls: BTreeMap<(NsKey, String), String>,
    /// Flood FDB destinations per (namespace, device).
    pub fdb: BTreeMap<(NsKey, String), BTreeSet<std::net::IpAddr>>,
    /// nft tables per namespace.
    pub tables: BTreeMap<(NsKey, Family, String), Table>,
    /// DHCP instances.
    pub dhcp: BTreeMap<String, FakeDhcp>,
    /// `conntrack -D` calls so far, in order (namespace, filter).
    pub conntrack_deletes: Vec<(NsKey, ConntrackFilter)>,
    /// Mutating calls so far, by operation name.
    pub calls: BTreeMap<&'static str, u32>,
    fail: BTreeSet<String>,
    next_pid: u32,
}

/// The fake host (cheap to clone; clones share state).
#[derive(Clone, Debug, Default)]
pub struct FakeHost {
    state: Arc<Mutex<FakeState>>,
}

fn key(ns: Option<&str>) -> NsKey {
    ns.map(str::to_string)
}

fn lo() -> FakeLink {
    FakeLink {
        info: LinkInfo {
            name: "lo".into(),
            kind: LinkKind::Other("loopback".into()),
            mtu: 65536,
            mac: None,
            master: None,
            up: true,
        },
        peer: None,
        addrs: ["127.0.0.1/8"
            .parse()
            .unwrap_or_else(|_| IpNet::host([127, 0, 0, 1].into()))]
        .into(),
    }
}

impl FakeHost {
    /// An empty host (the agent's namespace has only `lo`).
    pub fn new() -> Self {
        let h = FakeHost::default();
        h.lock()
            .links
            .insert(None, [("lo".to_string(), lo())].into());
        h
    }

    /// Lock the state to inspect or change it.
    pub fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make the next call of `op` (a trait method name such as `link_add`) fail.
    pub fn fail_next(&self, op: &str) {
        self.lock().fail.insert(op.to_string());
    }

    /// Simulate dnsmasq `name` dying.
    pub fn kill_dhcp(&self, name: &str) {
        if let Some(d) = self.lock().dhcp.get_mut(name) {
            d.pid = None;
        }
    }

    /// Total mutating calls so far.
    pub fn mutations(&self) -> u32 {
        self.lock().calls.values().sum()
    }

    /// Create a link directly (what compute would do for a TAP), bypassing counters.
    pub fn add_link(&self, ns: Option<&str>, spec: &LinkSpec) -> Result<()> {
        self.lock().link_add(ns, spec)
    }

    fn enter(&self, op: &'static str, mutating: bool) -> Result<MutexGuard<'_, FakeState>> {
        let mut s = self.lock();
        if s.fail.remove(op) {
            return Err(HostError::Injected { op: op.to_string() });
        }
        if mutating {
            *s.calls.entry(op).or_default() += 1;
        }
        Ok(s)
    }
}

impl FakeState {
    fn ns_links(&mut self, ns: Option<&str>) -> Result<&mut BTreeMap<String, FakeLink>> {
        if let Some(n) = ns {
            if !self.netns.contains(n) {
                return Err(HostError::NotFound {
                    kind: "netns",
                    name: n.to_string(),
                });
            }
        }
        Ok(self.links.entry(key(ns)).or_default())
    }

    fn link_mut(&mut self, ns: Option<&str>, name: &str) -> Result<&mut FakeLink> {
        self.ns_links(ns)?
            .get_mut(name)
            .ok_or_else(|| HostError::NotFound {
                kind: "link",
                name: name.to_string(),
            })
    }

    fn link_add(&mut self, ns: Option<&str>, spec: &LinkSpec) -> Result<()> {
        if spec.name.is_empty() || spec.name.len() > 15 {
            return Err(HostError::Invalid(format!(
                "bad interface name {:?}",
                spec.name
            )));
        }
        let exists = |s: &mut Self, ns: Option<&str>, n: &str| -> Result<bool> {
            Ok(s.ns_links(ns)?.contains_key(n))
        };
        if exists(self, ns, &spec.name)? {
            return Err(HostError::AlreadyExists {
                kind: "link",
                name: spec.name.clone(),
            });
        }
        let mk = |name: &str, kind: LinkKind, peer| FakeLink {
            info: LinkInfo {
                name: name.to_string(),
                kind,
                mtu: spec.mtu.unwrap_or(1500),
                mac: spec.mac.clone(),
                master: None,
                up: false,
            },
            peer,
            addrs: BTreeSet::new(),
        };
        match &spec.kind {
            LinkKind::Veth { peer_name, peer_ns } => {
                let pns = peer_ns.as_deref().or(ns);
                if exists(self, pns, peer_name)? || (pns == ns && *peer_name == spec.name) {
                    return Err(HostError::AlreadyExists {
                        kind: "link",
                        name: peer_name.clone(),
                    });
                }
                let reported = LinkKind::Veth {
                    peer_name: String::new(),
                    peer_ns: None,
                };
                let a = mk(
                    &spec.name,
                    reported.clone(),
                    Some((key(pns), peer_name.clone())),
                );
                let mut b = mk(peer_name, reported, Some((key(ns), spec.name.clone())));
                b.info.mac = None;
                self.ns_links(ns)?.insert(spec.name.clone(), a);
                self.ns_links(pns)?.insert(peer_name.clone(), b);
            }
            LinkKind::Vxlan(v) => {
                let mut v = v.clone();
                v.dev = None; // the kernel reports the underlay by index only
                self.ns_links(ns)?
                    .insert(spec.name.clone(), mk(&spec.name, LinkKind::Vxlan(v), None));
            }
            k => {
                self.ns_links(ns)?
                    .insert(spec.name.clone(), mk(&spec.name, k.clone(), None));
            }
        }
        Ok(())
    }

    fn link_del(&mut self, ns: Option<&str>, name: &str) -> Result<()> {
        let l = self
            .ns_links(ns)?
            .remove(name)
            .ok_or_else(|| HostError::NotFound {
                kind: "link",
                name: name.to_string(),
            })?;
        if let Some((pns, pname)) = l.peer {
            if let Some(m) = self.links.get_mut(&pns) {
                m.remove(&pname);
            }
        }
        self.fdb.remove(&(key(ns), name.to_string()));
        if matches!(l.info.kind, LinkKind::Bridge) {
            for p in self.ns_links(ns)?.values_mut() {
                if p.info.master.as_deref() == Some(name) {
                    p.info.master = None;
                }
            }
        }
        let devs: BTreeSet<String> = self.ns_links(ns)?.keys().cloned().collect();
        if let Some(r) = self.routes.get_mut(&key(ns)) {
            r.retain(|r| !matches!(&r.dev, Some(d) if !devs.contains(d)));
        }
        Ok(())
    }
}

impl NetOps for FakeHost {
    fn netns_list(&self) -> Result<Vec<String>> {
        Ok(self
            .enter("netns_list", false)?
            .netns
            .iter()
            .cloned()
            .collect())
    }

    fn netns_add(&self, name: &str) -> Result<()> {
        let mut s = self.enter("netns_add", true)?;
        if !s.netns.insert(name.to_string()) {
            return Err(HostError::AlreadyExists {
                kind: "netns",
                name: name.to_string(),
            });
        }
        s.links
            .insert(Some(name.to_string()), [("lo".to_string(), lo())].into());
        Ok(())
    }

    fn netns_del(&self, name: &str) -> Result<()> {
        let mut s = self.enter("netns_del", true)?;
        if !s.netns.remove(name) {
            return Err(HostError::NotFound {
                kind: "netns",
                name: name.to_string(),
            });
        }
        let k = Some(name.to_string());
        for l in s.links.remove(&k).unwrap_or_default().into_values() {
            if let Some((pns, pname)) = l.peer {
                if let Some(m) = s.links.get_mut(&pns) {
                    m.remove(&pname);
                }
            }
        }
        s.routes.remove(&k);
        s.sysctls.retain(|(n, _), _| *n != k);
        s.tables.retain(|(n, _, _), _| *n != k);
        Ok(())
    }

    fn link_list(&self, ns: Option<&str>) -> Result<Vec<LinkInfo>> {
        let mut s = self.enter("link_list", false)?;
        Ok(s.ns_links(ns)?.values().map(|l| l.info.clone()).collect())
    }

    fn link_add(&self, ns: Option<&str>, spec: &LinkSpec) -> Result<()> {
        self.enter("link_add", true)?.link_add(ns, spec)
    }

    fn link_set(&self, ns: Option<&str>, name: &str, u: &LinkUpdate) -> Result<()> {
        let mut s = self.enter("link_set", true)?;
        if let Some(Some(m)) = &u.master {
            let is_bridge = s
                .ns_links(ns)?
                .get(m)
                .is_some_and(|b| matches!(b.info.kind, LinkKind::Bridge));
            if !is_bridge {
                return Err(HostError::Invalid(format!(
                    "master {m} is not a bridge here"
                )));
            }
        }
        let l = s.link_mut(ns, name)?;
        if let Some(up) = u.up {
            l.info.up = up;
        }
        if let Some(m) = &u.master {
            l.info.master = m.clone();
        }
        if let Some(mtu) = u.mtu {
            l.info.mtu = mtu;
        }
        if let Some(mac) = &u.mac {
            l.info.mac = Some(mac.to_ascii_lowercase());
        }
        Ok(())
    }

    fn link_del(&self, ns: Option<&str>, name: &str) -> Result<()> {
        self.enter("link_del", true)?.link_del(ns, name)
    }

    fn addr_list(&self, ns: Option<&str>, dev: &str) -> Result<Vec<IpNet>> {
        let mut s = self.enter("addr_list", false)?;
        Ok(s.link_mut(ns, dev)?.addrs.iter().copied().collect())
    }

    fn addr_add(&self, ns: Option<&str>, dev: &str, addr: IpNet) -> Result<()> {
        let mut s = self.enter("addr_add", true)?;
        if !s.link_mut(ns, dev)?.addrs.insert(addr) {
            return Err(HostError::AlreadyExists {
                kind: "address",
                name: addr.to_string(),
            });
        }
        Ok(())
    }

    fn addr_del(&self, ns: Option<&str>, dev: &str, addr: IpNet) -> Result<()> {
        let mut s = self.enter("addr_del", true)?;
        if !s.link_mut(ns, dev)?.addrs.remove(&addr) {
            return Err(HostError::NotFound {
                kind: "address",
                name: addr.to_string(),
            });
        }
        Ok(())
    }

    fn route_list(&self, ns: Option<&str>) -> Result<Vec<Route>> {
        let mut s = self.enter("route_list", false)?;
        s.ns_links(ns)?;
        Ok(s.routes
            .get(&key(ns))
            .into_iter()
            .flatten()
            .cloned()
            .collect())
    }

    fn route_replace(&self, ns: Option<&str>, route: &Route) -> Result<()> {
        let mut s = self.enter("route_replace", true)?;
        if let Some(d) = &route.dev {
            s.link_mut(ns, d)?;
        }
        let r = s.routes.entry(key(ns)).or_default();
        r.retain(|x| x.dst != route.dst);
        r.insert(route.clone());
        Ok(())
    }

    fn route_del(&self, ns: Option<&str>, route: &Route) -> Result<()> {
        let mut s = self.enter("route_del", true)?;
        if !s.routes.entry(key(ns)).or_default().remove(route) {
            return Err(HostError::NotFound {
                kind: "route",
                name: route.dst.to_string(),
            });
        }
        Ok(())
    }

    fn sysctl_get(&self, ns: Option<&str>, k: &str) -> Result<String> {
        let mut s = self.enter("sysctl_get", false)?;
        s.ns_links(ns)?;
        Ok(s.sysctls
            .get(&(key(ns), k.to_string()))
            .cloned()
            .unwrap_or_else(|| "0".into()))
    }

    fn sysctl_set(&self, ns: Option<&str>, k: &str, value: &str) -> Result<()> {
        let mut s = self.enter("sysctl_set", true)?;
        s.ns_links(ns)?;
        s.sysctls
            .insert((key(ns), k.to_string()), value.to_string());
        Ok(())
    }

    fn fdb_list(&self, ns: Option<&str>, dev: &str) -> Result<Vec<std::net::IpAddr>> {
        let mut s = self.enter("fdb_list", false)?;
        s.link_mut(ns, dev)?;
        Ok(s.fdb
            .get(&(key(ns), dev.to_string()))
            .map(|f| f.iter().copied().collect())
            .unwrap_or_default())
    }

    fn fdb_append(&self, ns: Option<&str>, dev: &str, dst: std::net::IpAddr) -> Result<()> {
        let mut s = self.enter("fdb_append", true)?;
        s.link_mut(ns, dev)?;
        if !s
            .fdb
            .entry((key(ns), dev.to_string()))
            .or_default()
            .insert(dst)
        {
            return Err(HostError::AlreadyExists {
                kind: "fdb entry",
                name: format!("{dev} dst {dst}"),
            });
        }
        Ok(())
    }

    fn fdb_del(&self, ns: Option<&str>, dev: &str, dst: std::net::IpAddr) -> Result<()> {
        let mut s = self.enter("fdb_del", true)?;
        s.link_mut(ns, dev)?;
        if !s
            .fdb
            .get_mut(&(key(ns), dev.to_string()))
            .is_some_and(|f| f.remove(&dst))
        {
            return Err(HostError::NotFound {
                kind: "fdb entry",
                name: format!("{dev} dst {dst}"),
            });
        }
        Ok(())
    }
}

impl Firewall for FakeHost {
    fn table_list(&self, ns: Option<&str>) -> Result<Vec<TableState>> {
        let mut s = self.enter("table_list", false)?;
        s.ns_links(ns)?;
        let k = key(ns);
        Ok(s.tables
            .iter()
            .filter(|((n, _, _), _)| *n == k)
            .map(|((_, f, name), t)| TableState {
                family: *f,
                name: name.clone(),
                digest: Some(t.digest()),
            })
            .collect())
    }

    fn table_get(&self, ns: Option<&str>, family: Family, name: &str) -> Result<Option<Table>> {
        let s = self.enter("table_get", false)?;
        Ok(s.tables.get(&(key(ns), family, name.to_string())).cloned())
    }

    fn table_apply(&self, ns: Option<&str>, table: &Table) -> Result<()> {
        let mut s = self.enter("table_apply", true)?;
        s.ns_links(ns)?;
        s.tables
            .insert((key(ns), table.family, table.name.clone()), table.clone());
        Ok(())
    }

    fn tables_apply(&self, ns: Option<&str>, tables: &[Table]) -> Result<()> {
        let mut s = self.enter("tables_apply", true)?;
        s.ns_links(ns)?;
        for t in tables {
            s.tables
                .insert((key(ns), t.family, t.name.clone()), t.clone());
        }
        Ok(())
    }

    fn conntrack_delete(&self, ns: Option<&str>, filter: &ConntrackFilter) -> Result<u32> {
        let mut s = self.enter("conntrack_delete", true)?;
        s.ns_links(ns)?;
        s.conntrack_deletes.push((key(ns), filter.clone()));
        Ok(0)
    }

    fn table_delete(&self, ns: Option<&str>, family: Family, name: &str) -> Result<()> {
        let mut s = self.enter("table_delete", true)?;
        s.tables
            .remove(&(key(ns), family, name.to_string()))
            .map(drop)
            .ok_or_else(|| HostError::NotFound {
                kind: "table",
                name: name.to_string(),
            })
    }
}

impl DhcpServer for FakeHost {
    fn dhcp_list(&self) -> Result<Vec<DhcpStatus>> {
        let s = self.enter("dhcp_list", false)?;
        Ok(s.dhcp
            .iter()
            .map(|(n, d)| DhcpStatus {
                name: n.clone(),
                pid: d.pid,
            })
            .collect())
    }

    fn dhcp_ensure(&self, cfg: &DhcpConfig) -> Result<DhcpOutcome> {
        let mut s = self.enter("dhcp_ensure", false)?;
        if let Some(ns) = &cfg.netns {
            if !s.netns.contains(ns) {
                return Err(HostError::NotFound {
                    kind: "netns",
                    name: ns.clone(),
                });
            }
        }
        s.next_pid += 1;
        let pid = 1000 + s.next_pid;
        let outcome = match s.dhcp.get_mut(&cfg.name) {
            Some(d) if d.pid.is_none() => {
                d.config = cfg.clone();
                d.pid = Some(pid);
                d.starts += 1;
                DhcpOutcome::Started
            }
            Some(d) if d.config == *cfg => DhcpOutcome::Unchanged,
            Some(d) => {
                let stale = stale_leases(&d.config.leases, cfg);
                d.released.extend(stale);
                let reload_only = d.config.netns == cfg.netns
                    && d.config.interface == cfg.interface
                    && d.config
                        .subnets
                        .iter()
                        .map(|x| (&x.tag, x.cidr))
                        .eq(cfg.subnets.iter().map(|x| (&x.tag, x.cidr)))
                    && d.config.mtu == cfg.mtu
                    && d.config.domain == cfg.domain;
                d.config = cfg.clone();
                if reload_only {
                    d.reloads += 1;
                    DhcpOutcome::Reloaded
                } else {
                    d.pid = Some(pid);
                    d.starts += 1;
                    DhcpOutcome::Restarted
                }
            }
            None => {
                s.dhcp.insert(
                    cfg.name.clone(),
                    FakeDhcp {
                        config: cfg.clone(),
                        pid: Some(pid),
                        reloads: 0,
                        starts: 1,
                        released: Vec::new(),
                    },
                );
                DhcpOutcome::Started
            }
        };
        if outcome != DhcpOutcome::Unchanged {
            *s.calls.entry("dhcp_ensure").or_default() += 1;
        }
        Ok(outcome)
    }

    fn dhcp_stop(&self, name: &str) -> Result<()> {
        let mut s = self.enter("dhcp_stop", true)?;
        s.dhcp.remove(name);
        Ok(())
    }
}
