//! The reconciler: reads the host through the traits, diffs it against a
//! [`DesiredState`] and applies the difference. A pass takes no other input, can run at
//! any time (periodically, on wake-up, after an agent restart) and is idempotent: a pass
//! over a converged host makes no change. A failing step is recorded and the pass goes
//! on with independent steps; the next pass retries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::naming;
use super::plan::DesiredState;
use super::secgroup;
use crate::dhcp::{DhcpOutcome, DhcpServer};
use crate::error::HostError;
use crate::net::{LinkInfo, LinkKind, LinkSpec, LinkUpdate, NetOps, Route};
use crate::nft::{ConntrackFilter, Family, Firewall, Table};

/// One change a pass made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Namespace created.
    NetnsAdd(String),
    /// Namespace deleted.
    NetnsDel(String),
    /// Link created (namespace, name).
    LinkAdd(Option<String>, String),
    /// Link attributes changed.
    LinkSet(Option<String>, String, LinkUpdate),
    /// Link deleted.
    LinkDel(Option<String>, String),
    /// Address added (namespace, device, address).
    AddrAdd(String, String, String),
    /// Address removed.
    AddrDel(String, String, String),
    /// Route added or replaced (namespace, destination).
    RouteReplace(String, String),
    /// Route removed.
    RouteDel(String, String),
    /// Sysctl written (namespace, key, value).
    Sysctl(String, String, String),
    /// nft table applied (namespace, table).
    TableApply(String, String),
    /// nft table deleted.
    TableDel(String, String),
    /// dnsmasq started, reloaded or restarted (network id, what happened).
    Dhcp(String, DhcpOutcome),
    /// dnsmasq stopped.
    DhcpStop(String),
    /// Conntrack entries deleted (namespace, filter, how many).
    ConntrackDelete(String, ConntrackFilter, u32),
    /// Flood FDB entry added to a VXLAN device (device, remote VTEP).
    FdbAdd(String, String),
    /// Flood FDB entry removed.
    FdbDel(String, String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = |n: &Option<String>| n.clone().unwrap_or_else(|| "-".into());
        match self {
            Change::NetnsAdd(n) => write!(f, "netns add {n}"),
            Change::NetnsDel(n) => write!(f, "netns del {n}"),
            Change::LinkAdd(n, l) => write!(f, "link add {}/{l}", ns(n)),
            Change::LinkSet(n, l, u) => write!(f, "link set {}/{l} {u:?}", ns(n)),
            Change::LinkDel(n, l) => write!(f, "link del {}/{l}", ns(n)),
            Change::AddrAdd(n, d, a) => write!(f, "addr add {n}/{d} {a}"),
            Change::AddrDel(n, d, a) => write!(f, "addr del {n}/{d} {a}"),
            Change::RouteReplace(n, r) => write!(f, "route replace {n} {r}"),
            Change::RouteDel(n, r) => write!(f, "route del {n} {r}"),
            Change::Sysctl(n, k, v) => write!(f, "sysctl {n} {k}={v}"),
            Change::TableApply(n, t) => write!(f, "nft apply {n} {t}"),
            Change::TableDel(n, t) => write!(f, "nft delete {n} {t}"),
            Change::Dhcp(n, o) => write!(f, "dhcp {n} {o:?}"),
            Change::DhcpStop(n) => write!(f, "dhcp stop {n}"),
            Change::FdbAdd(d, r) => write!(f, "fdb append {d} dst {r}"),
            Change::FdbDel(d, r) => write!(f, "fdb del {d} dst {r}"),
            Change::ConntrackDelete(n, c, k) => {
                let cmd = c.delete_cmd(None).display();
                write!(f, "{cmd} in {n}: {k} entries")
            }
        }
    }
}

/// The result of a pass.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Changes made, in order.
    pub changes: Vec<Change>,
    /// Steps that failed (what was being done, why); the next pass retries them.
    pub errors: Vec<(String, HostError)>,
}

impl ReconcileReport {
    /// No failures.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Applies a [`DesiredState`] through the host traits.
pub struct Reconciler<'a> {
    net: &'a dyn NetOps,
    fw: &'a dyn Firewall,
    dhcp: &'a dyn DhcpServer,
}

/// What a link should look like, beyond its kind.
struct Want<'a> {
    mtu: u32,
    mac: Option<&'a str>,
    master: Option<&'a str>,
}

fn update_for(actual: &LinkInfo, want: &Want<'_>) -> LinkUpdate {
    LinkUpdate {
        up: (!actual.up).then_some(true),
        master: (actual.master.as_deref() != want.master).then(|| want.master.map(str::to_string)),
        mtu: (actual.mtu != want.mtu).then_some(want.mtu),
        mac: want
            .mac
            .filter(|m| actual.mac.as_deref() != Some(m.to_ascii_lowercase().as_str()))
            .map(str::to_string),
    }
}

fn route_matches(want: &Route, have: &Route) -> bool {
    want.dst == have.dst && want.via == have.via && (want.dev.is_none() || want.dev == have.dev)
}

impl<'a> Reconciler<'a> {
    /// A reconciler over these host interfaces (often one [`crate::fake::FakeHost`] or
    /// the three Linux implementations).
    pub fn new(net: &'a dyn NetOps, fw: &'a dyn Firewall, dhcp: &'a dyn DhcpServer) -> Self {
        Reconciler { net, fw, dhcp }
    }

    /// One pass toward `d`.
    pub fn reconcile(&self, d: &DesiredState) -> ReconcileReport {
        let mut r = ReconcileReport::default();
        let span = tracing::info_span!("dataplane_reconcile", namespaces = d.namespaces.len());
        let _g = span.enter();
        self.namespaces_add(d, &mut r);
        self.host_links(d, &mut r);
        self.inner_links(d, &mut r);
        self.addresses(d, &mut r);
        self.routes_and_sysctls(d, &mut r);
        self.tables(d, &mut r);
        self.host_tables(d, &mut r);
        self.dhcp(d, &mut r);
        self.remove_stale(d, &mut r);
        for c in &r.changes {
            tracing::info!(change = %c, "data plane changed");
        }
        for (step, e) in &r.errors {
            tracing::warn!(step = %step, error = %e, "data plane step failed");
        }
        r
    }

    fn step<T>(
        r: &mut ReconcileReport,
        what: impl FnOnce() -> String,
        res: Result<T, HostError>,
    ) -> Option<T> {
        match res {
            Ok(v) => Some(v),
            Err(e) => {
                r.errors.push((what(), e));
                None
            }
        }
    }

    fn links(
        &self,
        ns: Option<&str>,
        r: &mut ReconcileReport,
    ) -> Option<BTreeMap<String, LinkInfo>> {
        let l = Self::step(
            r,
            || format!("list links in {ns:?}"),
            self.net.link_list(ns),
        )?;
        Some(l.into_iter().map(|l| (l.name.clone(), l)).collect())
    }

    fn set(
        &self,
        ns: Option<&str>,
        name: &str,
        actual: &LinkInfo,
        want: &Want<'_>,
        r: &mut ReconcileReport,
    ) {
        let u = update_for(actual, want);
        if u != LinkUpdate::default()
            && Self::step(
                r,
                || format!("set link {name}"),
                self.net.link_set(ns, name, &u),
            )
            .is_some()
        {
            r.changes
                .push(Change::LinkSet(ns.map(str::to_string), name.to_string(), u));
        }
    }

    /// Create `spec` and return what the kernel then reports for it.
    fn add(&self, ns: Option<&str>, spec: &LinkSpec, r: &mut ReconcileReport) -> Option<LinkInfo> {
        Self::step(
            r,
            || format!("add link {}", spec.name),
            self.net.link_add(ns, spec),
        )?;
        r.changes
            .push(Change::LinkAdd(ns.map(str::to_string), spec.name.clone()));
        self.links(ns, r)?.remove(&spec.name)
    }

    fn del(&self, ns: Option<&str>, name: &str, r: &mut ReconcileReport) {
        if Self::step(
            r,
            || format!("delete link {name}"),
            self.net.link_del(ns, name),
        )
        .is_some()
        {
            r.changes
                .push(Change::LinkDel(ns.map(str::to_string), name.to_string()));
        }
    }

    /// Makes the flood entries of VXLAN device `dev` exactly `want`.
    fn fdb(
        &self,
        ns: Option<&str>,
        dev: &str,
        want: &BTreeSet<std::net::IpAddr>,
        r: &mut ReconcileReport,
    ) {
        let Some(have) = Self::step(
            r,
            || format!("list fdb of {dev}"),
            self.net.fdb_list(ns, dev),
        ) else {
            return;
        };
        let have: BTreeSet<_> = have.into_iter().collect();
        for dst in want.difference(&have) {
            if Self::step(
                r,
                || format!("fdb append {dev} dst {dst}"),
                self.net.fdb_append(ns, dev, *dst),
            )
            .is_some()
            {
                r.changes
                    .push(Change::FdbAdd(dev.to_string(), dst.to_string()));
            }
        }
        for dst in have.difference(want) {
            if Self::step(
                r,
                || format!("fdb del {dev} dst {dst}"),
                self.net.fdb_del(ns, dev, *dst),
            )
            .is_some()
            {
                r.changes
                    .push(Change::FdbDel(dev.to_string(), dst.to_string()));
            }
        }
    }

    fn namespaces_add(&self, d: &DesiredState, r: &mut ReconcileReport) {
        let Some(have) = Self::step(r, || "list namespaces".into(), self.net.netns_list()) else {
            return;
        };
        for ns in d.namespaces.iter().filter(|n| !have.contains(n)) {
            if Self::step(r, || format!("add netns {ns}"), self.net.netns_add(ns)).is_some() {
                r.changes.push(Change::NetnsAdd(ns.clone()));
            }
        }
    }

    fn host_links(&self, d: &DesiredState, r: &mut ReconcileReport) {
        let h = d.host_netns.as_deref();
        let Some(mut links) = self.links(h, r) else {
            return;
        };
        for (name, b) in &d.bridges {
            let actual = match links.get(name) {
                Some(l) if l.kind == LinkKind::Bridge => Some(l.clone()),
                Some(_) => {
                    r.errors.push((
                        format!("bridge {name}"),
                        HostError::Invalid(format!("{name} exists and is not a bridge")),
                    ));
                    None
                }
                None => self.add(
                    h,
                    &LinkSpec {
                        name: name.clone(),
                        kind: LinkKind::Bridge,
                        mtu: Some(b.mtu),
                        mac: None,
                    },
                    r,
                ),
            };
            if let Some(a) = actual {
                self.set(
                    h,
                    name,
                    &a,
                    &Want {
                        mtu: b.mtu,
                        mac: None,
                        master: None,
                    },
                    r,
                );
                links.insert(name.clone(), a);
            }
        }
        for (name, v) in &d.vxlans {
            let same = |k: &LinkKind| match k {
                LinkKind::Vxlan(p) => {
                    p.vni == v.params.vni
                        && p.local == v.params.local
                        && p.remote == v.params.remote
                        && p.dstport == v.params.dstport
                }
                _ => false,
            };
            let actual = match links.get(name) {
                Some(l) if same(&l.kind) => Some(l.clone()),
                other => {
                    if other.is_some() {
                        self.del(h, name, r);
                    }
                    let spec = LinkSpec {
                        name: name.clone(),
                        kind: LinkKind::Vxlan(v.params.clone()),
                        mtu: Some(v.mtu),
                        mac: None,
                    };
                    self.add(h, &spec, r)
                }
            };
            if let Some(a) = actual {
                self.set(
                    h,
                    name,
                    &a,
                    &Want {
                        mtu: v.mtu,
                        mac: None,
                        master: Some(&v.bridge),
                    },
                    r,
                );
                self.fdb(h, name, &v.fdb, r);
            }
        }
        for (dev, bridge) in &d.plugs {
            if let Some(a) = links.get(dev) {
                let u = LinkUpdate {
                    up: (!a.up).then_some(true),
                    master: (a.master.as_deref() != Some(bridge)).then(|| Some(bridge.clone())),
                    ..LinkUpdate::default()
                };
                if u != LinkUpdate::default()
                    && Self::step(r, || format!("plug {dev}"), self.net.link_set(h, dev, &u))
                        .is_some()
                {
                    r.changes
                        .push(Change::LinkSet(h.map(str::to_string), dev.clone(), u));
                }
            }
        }
    }

    fn inner_links(&self, d: &DesiredState, r: &mut ReconcileReport) {
        let h = d.host_netns.as_deref();
        let Some(host) = self.links(h, r) else { return };
        let Some(have_ns) = Self::step(r, || "list namespaces".into(), self.net.netns_list())
        else {
            return;
        };
        let have_ns: BTreeSet<String> = have_ns.into_iter().collect();
        for ns in d.namespaces.iter().filter(|n| have_ns.contains(*n)) {
            let Some(inner) = self.links(Some(ns), r) else {
                continue;
            };
            for ((lns, name), leg) in d.veths.range((ns.clone(), String::new())..) {
                if lns != ns {
                    break;
                }
                let outer = host.get(&leg.outer);
                let pair = match (outer, inner.get(name)) {
                    (Some(o), Some(i)) if matches!(o.kind, LinkKind::Veth { .. }) => {
                        Some((o.clone(), i.clone()))
                    }
                    (o, i) => {
                        // Half a pair (or a foreign device in the way): start over.
                        if o.is_some() {
                            self.del(h, &leg.outer, r);
                        }
                        if i.is_some() {
                            self.del(Some(ns), name, r);
                        }
                        let spec = LinkSpec {
                            name: leg.outer.clone(),
                            kind: LinkKind::Veth {
                                peer_name: name.clone(),
                                peer_ns: Some(ns.clone()),
                            },
                            mtu: Some(leg.mtu),
                            mac: None,
                        };
                        self.add(h, &spec, r)
                            .and_then(|o| Some((o, self.links(Some(ns), r)?.remove(name)?)))
                    }
                };
                if let Some((o, i)) = pair {
                    self.set(
                        h,
                        &leg.outer,
                        &o,
                        &Want {
                            mtu: leg.mtu,
                            mac: None,
                            master: Some(&leg.bridge),
                        },
                        r,
                    );
                    self.set(
                        Some(ns),
                        name,
                        &i,
                        &Want {
                            mtu: leg.mtu,
                            mac: Some(&leg.mac),
                            master: None,
                        },
                        r,
                    );
                }
            }
            // Anything else in an owned namespace is stale (a removed router interface...).
            for name in inner.keys() {
                if name != "lo" && !d.veths.contains_key(&(ns.clone(), name.clone())) {
                    self.del(Some(ns), name, r);
                }
            }
        }
    }

    fn addresses(&self, d: &DesiredState, r: &mut ReconcileReport) {
        for (ns, dev) in d.veths.keys() {
            let want = d
                .addrs
                .get(&(ns.clone(), dev.clone()))
                .cloned()
                .unwrap_or_default();
            let Some(have) = Self::step(
                r,
                || format!("list addresses of {ns}/{dev}"),
                self.net.addr_list(Some(ns), dev),
            ) else {
                continue;
            };
            let have: BTreeSet<_> = have.into_iter().collect();
            for a in want.difference(&have) {
                if Self::step(
                    r,
                    || format!("add {a} to {ns}/{dev}"),
                    self.net.addr_add(Some(ns), dev, *a),
                )
                .is_some()
                {
                    r.changes
                        .push(Change::AddrAdd(ns.clone(), dev.clone(), a.to_string()));
                }
            }
            for a in have.difference(&want) {
                if Self::step(
                    r,
                    || format!("remove {a} from {ns}/{dev}"),
                    self.net.addr_del(Some(ns), dev, *a),
                )
                .is_some()
                {
                    r.changes
                        .push(Change::AddrDel(ns.clone(), dev.clone(), a.to_string()));
                }
            }
        }
    }

    fn routes_and_sysctls(&self, d: &DesiredState, r: &mut ReconcileReport) {
        for ns in &d.namespaces {
            let want = d.routes.get(ns).cloned().unwrap_or_default();
            let Some(have) = Self::step(
                r,
                || format!("list routes in {ns}"),
                self.net.route_list(Some(ns)),
            ) else {
                continue;
            };
            for w in want
                .iter()
                .filter(|w| !have.iter().any(|h| route_matches(w, h)))
            {
                if Self::step(
                    r,
                    || format!("route {} in {ns}", w.dst),
                    self.net.route_replace(Some(ns), w),
                )
                .is_some()
                {
                    r.changes
                        .push(Change::RouteReplace(ns.clone(), w.dst.to_string()));
                }
            }
            for h in have
                .iter()
                .filter(|h| !want.iter().any(|w| route_matches(w, h)))
            {
                if Self::step(
                    r,
                    || format!("delete route {} in {ns}", h.dst),
                    self.net.route_del(Some(ns), h),
                )
                .is_some()
                {
                    r.changes
                        .push(Change::RouteDel(ns.clone(), h.dst.to_string()));
                }
            }
        }
        for ((ns, key), value) in &d.sysctls {
            let have = Self::step(
                r,
                || format!("read {key} in {ns}"),
                self.net.sysctl_get(Some(ns), key),
            );
            if have.as_deref() != Some(value.as_str())
                && Self::step(
                    r,
                    || format!("write {key} in {ns}"),
                    self.net.sysctl_set(Some(ns), key, value),
                )
                .is_some()
            {
                r.changes
                    .push(Change::Sysctl(ns.clone(), key.clone(), value.clone()));
            }
        }
    }

    fn tables(&self, d: &DesiredState, r: &mut ReconcileReport) {
        for ns in &d.namespaces {
            let want = d.tables.get(ns).map(Vec::as_slice).unwrap_or_default();
            let Some(have) = Self::step(
                r,
                || format!("list nft tables in {ns}"),
                self.fw.table_list(Some(ns)),
            ) else {
                continue;
            };
            for t in want {
                let digest = t.digest();
                let current = have.iter().any(|h| {
                    h.family == t.family
                        && h.name == t.name
                        && h.digest.as_deref() == Some(digest.as_str())
                });
                if !current
                    && Self::step(
                        r,
                        || format!("apply nft table {} in {ns}", t.name),
                        self.fw.table_apply(Some(ns), t),
                    )
                    .is_some()
                {
                    r.changes
                        .push(Change::TableApply(ns.clone(), t.name.clone()));
                }
            }
            for h in have.iter().filter(|h| {
                h.name.starts_with("rustack-")
                    && !want
                        .iter()
                        .any(|t| t.family == h.family && t.name == h.name)
            }) {
                if Self::step(
                    r,
                    || format!("delete nft table {} in {ns}", h.name),
                    self.fw.table_delete(Some(ns), h.family, &h.name),
                )
                .is_some()
                {
                    r.changes.push(Change::TableDel(ns.clone(), h.name.clone()));
                }
            }
        }
    }

    /// The host namespace's tables (security groups): changed tables are replaced in one
    /// transaction, then conntrack entries no longer allowed are deleted.
    fn host_tables(&self, d: &DesiredState, r: &mut ReconcileReport) {
        let h = d.host_netns.as_deref();
        let label = h.unwrap_or("-").to_string();
        if !d.host_tables.is_empty() {
            // Bridged traffic reaches the inet table only through br_netfilter.
            for key in [
                "net.bridge.bridge-nf-call-iptables",
                "net.bridge.bridge-nf-call-ip6tables",
            ] {
                let have = Self::step(r, || format!("read {key}"), self.net.sysctl_get(h, key));
                if have.as_deref() != Some("1")
                    && Self::step(
                        r,
                        || format!("write {key} (security groups need br_netfilter)"),
                        self.net.sysctl_set(h, key, "1"),
                    )
                    .is_some()
                {
                    r.changes
                        .push(Change::Sysctl(label.clone(), key.into(), "1".into()));
                }
            }
        }
        let Some(have) = Self::step(
            r,
            || format!("list nft tables in {label}"),
            self.fw.table_list(h),
        ) else {
            return;
        };
        let changed: Vec<Table> = d
            .host_tables
            .iter()
            .filter(|t| {
                let digest = t.digest();
                !have.iter().any(|x| {
                    x.family == t.family
                        && x.name == t.name
                        && x.digest.as_deref() == Some(digest.as_str())
                })
            })
            .cloned()
            .collect();
        let new_sg = changed
            .iter()
            .find(|t| t.family == Family::Inet && t.name == secgroup::SG_TABLE);
        let old_sg = match new_sg {
            Some(_) => Self::step(
                r,
                || "read the applied security-group table".into(),
                self.fw.table_get(h, Family::Inet, secgroup::SG_TABLE),
            )
            .flatten(),
            None => None,
        };
        if !changed.is_empty()
            && Self::step(
                r,
                || format!("apply nft tables in {label}"),
                self.fw.tables_apply(h, &changed),
            )
            .is_some()
        {
            for t in &changed {
                r.changes.push(Change::TableApply(
                    label.clone(),
                    format!("{} {}", t.family.as_str(), t.name),
                ));
            }
            // Unknown previous content (first pass of this process): nothing to compare.
            if let (Some(old), Some(new)) = (&old_sg, new_sg) {
                let filters: Vec<ConntrackFilter> = secgroup::flush_filters(old, new, &d.sg_ports)
                    .into_iter()
                    .collect();
                for (f, res) in self.conntrack_delete_all(h, filters) {
                    if let Some(n) =
                        Self::step(r, || format!("delete conntrack entries in {label}"), res)
                    {
                        r.changes.push(Change::ConntrackDelete(label.clone(), f, n));
                    }
                }
            }
        }
        // Only what the planner owns here: the host namespace is shared with others.
        for x in have.iter().filter(|x| {
            x.name == secgroup::SG_TABLE
                && !d
                    .host_tables
                    .iter()
                    .any(|t| t.family == x.family && t.name == x.name)
        }) {
            if Self::step(
                r,
                || format!("delete nft table {} in {label}", x.name),
                self.fw.table_delete(h, x.family, &x.name),
            )
            .is_some()
            {
                r.changes.push(Change::TableDel(
                    label.clone(),
                    format!("{} {}", x.family.as_str(), x.name),
                ));
            }
        }
    }

    /// `conntrack -D` for each filter, a few at a time (each is a process; a rule
    /// removal touches every port of its group), results in the filters' order.
    fn conntrack_delete_all(
        &self,
        ns: Option<&str>,
        filters: Vec<ConntrackFilter>,
    ) -> Vec<(ConntrackFilter, Result<u32, HostError>)> {
        const PARALLEL: usize = 8;
        let mut out = Vec::with_capacity(filters.len());
        for chunk in filters.chunks(PARALLEL) {
            std::thread::scope(|sc| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|f| sc.spawn(move || self.fw.conntrack_delete(ns, f)))
                    .collect();
                for (f, h) in chunk.iter().zip(handles) {
                    let res = h.join().unwrap_or_else(|_| {
                        Err(HostError::Invalid("conntrack worker panicked".into()))
                    });
                    out.push((f.clone(), res));
                }
            });
        }
        out
    }

    fn dhcp(&self, d: &DesiredState, r: &mut ReconcileReport) {
        let Some(have) = Self::step(r, || "list dhcp servers".into(), self.dhcp.dhcp_list()) else {
            return;
        };
        for (name, cfg) in &d.dhcp {
            // A dnsmasq whose namespace was deleted behind our back keeps serving the old,
            // now unreachable namespace: when this pass (re)created the namespace, start over.
            let ns_new = cfg
                .netns
                .as_ref()
                .is_some_and(|ns| r.changes.contains(&Change::NetnsAdd(ns.clone())));
            let running = have.iter().any(|s| s.name == *name && s.pid.is_some());
            if ns_new
                && running
                && Self::step(
                    r,
                    || format!("stop dhcp for {name}"),
                    self.dhcp.dhcp_stop(name),
                )
                .is_some()
            {
                r.changes.push(Change::DhcpStop(name.clone()));
            }
            match Self::step(r, || format!("dhcp for {name}"), self.dhcp.dhcp_ensure(cfg)) {
                Some(DhcpOutcome::Unchanged) | None => {}
                Some(o) => r.changes.push(Change::Dhcp(name.clone(), o)),
            }
        }
        for s in have.iter().filter(|s| !d.dhcp.contains_key(&s.name)) {
            if Self::step(
                r,
                || format!("stop dhcp for {}", s.name),
                self.dhcp.dhcp_stop(&s.name),
            )
            .is_some()
            {
                r.changes.push(Change::DhcpStop(s.name.clone()));
            }
        }
    }

    fn remove_stale(&self, d: &DesiredState, r: &mut ReconcileReport) {
        if let Some(have) = Self::step(r, || "list namespaces".into(), self.net.netns_list()) {
            for ns in have.iter().filter(|n| {
                naming::is_owned_netns(&d.netns_prefix, n) && !d.namespaces.contains(*n)
            }) {
                if Self::step(r, || format!("delete netns {ns}"), self.net.netns_del(ns)).is_some()
                {
                    r.changes.push(Change::NetnsDel(ns.clone()));
                }
            }
        }
        let h = d.host_netns.as_deref();
        if let Some(links) = self.links(h, r) {
            for name in links.keys().filter(|n| naming::is_owned_host_link(n)) {
                if !d.bridges.contains_key(name) && !d.vxlans.contains_key(name) {
                    self.del(h, name, r);
                }
            }
        }
    }
}
