//! Network namespaces, links, addresses, routes and sysctls: the [`NetOps`] trait, its
//! value types and the Linux implementation ([`LinuxNet`], iproute2 with JSON output).
//!
//! Every operation names its namespace as `Option<&str>`: `None` is the namespace the
//! agent runs in, `Some(name)` a named namespace under `/run/netns`. Operations are
//! plain kernel operations (adding an existing link fails); idempotence is the
//! reconciler's job, which lists first.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde_json::Value;

use crate::cmd::Cmd;
use crate::error::{HostError, Result};

/// An address with a prefix length (`10.0.0.2/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpNet {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// `addr/prefix`; `None` when the prefix is too long for the family.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// A host route/address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        IpNet {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }

    /// The IPv4 netmask (`255.255.255.0`); `None` for IPv6.
    pub fn netmask_v4(&self) -> Option<std::net::Ipv4Addr> {
        match self.addr {
            IpAddr::V4(_) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                Some(m.into())
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpNet {
            addr: ip,
            prefix: self.prefix,
        }
        .network()
            == self.network()
            && ip.is_ipv4() == self.addr.is_ipv4()
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| format!("bad address in {s:?}"))?;
        let prefix = match p {
            Some(p) => p.parse().map_err(|_| format!("bad prefix in {s:?}"))?,
            None => IpNet::host(addr).prefix,
        };
        IpNet::new(addr, prefix).ok_or_else(|| format!("prefix too long in {s:?}"))
    }
}

/// What kind of link to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge,
    /// A veth pair; this end is created in the operation's namespace, the peer in
    /// `peer_ns` (`None`: the same namespace) under `peer_name`.
    Veth {
        /// Name of the other end.
        peer_name: String,
        /// Namespace of the other end.
        peer_ns: Option<String>,
    },
    /// A VXLAN device.
    Vxlan(VxlanParams),
    /// A persistent TAP (`ip tuntap add mode tap vnet_hdr`), as QEMU's `-netdev tap` opens.
    Tap,
    /// Anything else the kernel reports (`tun`, `dummy`, `device` for physical NICs...).
    Other(String),
}

/// VXLAN parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanParams {
    /// The VNI.
    pub vni: u32,
    /// Local VTEP address.
    pub local: Option<IpAddr>,
    /// Unicast remote VTEP (`None`: none; remotes then come from the FDB).
    pub remote: Option<IpAddr>,
    /// UDP destination port (4789).
    pub dstport: u16,
    /// Underlay device.
    pub dev: Option<String>,
}

/// A link to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// What it is.
    pub kind: LinkKind,
    /// MTU, if not the default.
    pub mtu: Option<u32>,
    /// MAC address, if not random.
    pub mac: Option<String>,
}

/// A link as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface name.
    pub name: String,
    /// Kind (for veths, `peer_name` is empty and `peer_ns` unknown: the kernel reports
    /// only an index in another namespace).
    pub kind: LinkKind,
    /// MTU.
    pub mtu: u32,
    /// MAC address (lowercase), if any.
    pub mac: Option<String>,
    /// Bridge this link is enslaved to.
    pub master: Option<String>,
    /// Administratively up.
    pub up: bool,
}

/// Changes to an existing link; `None` fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkUpdate {
    /// Set up (`true`) or down.
    pub up: Option<bool>,
    /// Enslave to this bridge (`Some(None)`: release from its bridge).
    pub master: Option<Option<String>>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// New MAC.
    pub mac: Option<String>,
}

/// An IPv4/IPv6 route of the main table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Destination (`0.0.0.0/0` for the default route).
    pub dst: IpNet,
    /// Next hop.
    pub via: Option<IpAddr>,
    /// Output device.
    pub dev: Option<String>,
}

/// Network namespaces, links, addresses, routes and sysctls.
pub trait NetOps: Send + Sync {
    /// Named namespaces.
    fn netns_list(&self) -> Result<Vec<String>>;
    /// Create a named namespace and bring its `lo` up.
    fn netns_add(&self, name: &str) -> Result<()>;
    /// Delete a named namespace (its links go with it; [`LinuxNet`] first ends the
    /// processes running in it, such as dnsmasq).
    fn netns_del(&self, name: &str) -> Result<()>;
    /// Links in a namespace (including `lo`).
    fn link_list(&self, ns: Option<&str>) -> Result<Vec<LinkInfo>>;
    /// Create a link (down).
    fn link_add(&self, ns: Option<&str>, spec: &LinkSpec) -> Result<()>;
    /// Change a link.
    fn link_set(&self, ns: Option<&str>, name: &str, update: &LinkUpdate) -> Result<()>;
    /// Delete a link (for a veth, both ends).
    fn link_del(&self, ns: Option<&str>, name: &str) -> Result<()>;
    /// Addresses of a device, link-local (scope link) ones excluded.
    fn addr_list(&self, ns: Option<&str>, dev: &str) -> Result<Vec<IpNet>>;
    /// Add an address.
    fn addr_add(&self, ns: Option<&str>, dev: &str, addr: IpNet) -> Result<()>;
    /// Remove an address.
    fn addr_del(&self, ns: Option<&str>, dev: &str, addr: IpNet) -> Result<()>;
    /// Routes of the main table that were added by someone (connected routes the kernel
    /// creates for addresses are left out).
    fn route_list(&self, ns: Option<&str>) -> Result<Vec<Route>>;
    /// Add or replace a route.
    fn route_replace(&self, ns: Option<&str>, route: &Route) -> Result<()>;
    /// Delete a route.
    fn route_del(&self, ns: Option<&str>, route: &Route) -> Result<()>;
    /// Read a sysctl (`net.ipv4.ip_forward`).
    fn sysctl_get(&self, ns: Option<&str>, key: &str) -> Result<String>;
    /// Write a sysctl.
    fn sysctl_set(&self, ns: Option<&str>, key: &str, value: &str) -> Result<()>;
    /// The flood destinations of a VXLAN device: the `dst` of its all-zero-MAC FDB
    /// entries (`bridge fdb show dev <dev>`).
    fn fdb_list(&self, ns: Option<&str>, dev: &str) -> Result<Vec<IpAddr>>;
    /// Add a flood destination (`bridge fdb append 00:00:00:00:00:00 dev <dev> dst <dst>`).
    fn fdb_append(&self, ns: Option<&str>, dev: &str, dst: IpAddr) -> Result<()>;
    /// Remove a flood destination.
    fn fdb_del(&self, ns: Option<&str>, dev: &str, dst: IpAddr) -> Result<()>;
}

/// The all-zero MAC of flood (broadcast/unknown) FDB entries.
pub const FLOOD_MAC: &str = "00:00:00:00:00:00";

/// `bridge [-n <ns>] fdb <op> 00:00:00:00:00:00 dev <dev> dst <dst>`.
pub fn fdb_cmd(ns: Option<&str>, op: &str, dev: &str, dst: IpAddr) -> Cmd {
    let c = Cmd::new("bridge");
    let c = match ns {
        Some(ns) => c.args(["-n", ns]),
        None => c,
    };
    c.args(["fdb", op, FLOOD_MAC, "dev", dev, "dst"])
        .arg(dst.to_string())
}

/// [`NetOps`] on Linux through iproute2 (`ip -j`) and `sysctl`.
#[derive(Clone, Debug, Default)]
pub struct LinuxNet;

/// The `ip` command that creates `spec` in `ns`.
pub fn link_add_cmd(ns: Option<&str>, spec: &LinkSpec) -> Cmd {
    let mut c = match &spec.kind {
        LinkKind::Tap => Cmd::ip(ns).args([
            "tuntap", "add", "dev", &spec.name, "mode", "tap", "vnet_hdr",
        ]),
        _ => Cmd::ip(ns).args(["link", "add", &spec.name]),
    };
    if !matches!(spec.kind, LinkKind::Tap) {
        if let Some(mtu) = spec.mtu {
            c = c.arg("mtu").arg(mtu.to_string());
        }
        if let Some(mac) = &spec.mac {
            c = c.args(["address", mac]);
        }
    }
    match &spec.kind {
        LinkKind::Bridge => c.args(["type", "bridge"]),
        LinkKind::Veth { peer_name, peer_ns } => {
            c = c.args(["type", "veth", "peer", "name", peer_name]);
            if let Some(mtu) = spec.mtu {
                c = c.arg("mtu").arg(mtu.to_string());
            }
            match peer_ns {
                Some(p) => c.args(["netns", p]),
                None => c,
            }
        }
        LinkKind::Vxlan(v) => {
            c = c.args(["type", "vxlan", "id"]).arg(v.vni.to_string());
            if let Some(l) = v.local {
                c = c.arg("local").arg(l.to_string());
            }
            if let Some(r) = v.remote {
                c = c.arg("remote").arg(r.to_string());
            }
            if let Some(d) = &v.dev {
                c = c.args(["dev", d]);
            }
            c.arg("dstport").arg(v.dstport.to_string())
        }
        LinkKind::Tap => c,
        LinkKind::Other(k) => c.args(["type", k]),
    }
}

/// The `ip` commands that apply `update` to `name` (empty when nothing changes).
pub fn link_set_cmd(ns: Option<&str>, name: &str, u: &LinkUpdate) -> Option<Cmd> {
    let mut c = Cmd::ip(ns).args(["link", "set", "dev", name]);
    let n = c.args.len();
    if let Some(mtu) = u.mtu {
        c = c.arg("mtu").arg(mtu.to_string());
    }
    if let Some(mac) = &u.mac {
        c = c.args(["address", mac]);
    }
    match &u.master {
        Some(Some(m)) => c = c.args(["master", m]),
        Some(None) => c = c.arg("nomaster"),
        None => {}
    }
    match u.up {
        Some(true) => c = c.arg("up"),
        Some(false) => c = c.arg("down"),
        None => {}
    }
    (c.args.len() > n).then_some(c)
}

/// The `ip route` arguments naming `route` (after `add`/`replace`/`del`).
pub fn route_args(route: &Route) -> Vec<String> {
    let mut a = vec![route.dst.to_string()];
    if let Some(v) = route.via {
        a.push("via".into());
        a.push(v.to_string());
    }
    if let Some(d) = &route.dev {
        a.push("dev".into());
        a.push(d.clone());
    }
    a
}

fn json(cmd: &Cmd) -> Result<Vec<Value>> {
    let out = cmd.run()?;
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(&out) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(_) => Err(HostError::Parse {
            command: cmd.display(),
            message: "expected a JSON array".into(),
        }),
        Err(e) => Err(HostError::Parse {
            command: cmd.display(),
            message: e.to_string(),
        }),
    }
}

fn parse_link(v: &Value) -> Option<LinkInfo> {
    let name = v.get("ifname")?.as_str()?.to_string();
    let info = v.get("linkinfo");
    let kind_s = info
        .and_then(|i| i.get("info_kind"))
        .and_then(Value::as_str)
        .unwrap_or("device");
    let data = info.and_then(|i| i.get("info_data"));
    let kind = match kind_s {
        "bridge" => LinkKind::Bridge,
        "veth" => LinkKind::Veth {
            peer_name: String::new(),
            peer_ns: None,
        },
        "vxlan" => {
            let d = data?;
            let ip = |k: &str| {
                d.get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
            };
            LinkKind::Vxlan(VxlanParams {
                vni: d.get("id").and_then(Value::as_u64).unwrap_or(0) as u32,
                local: ip("local"),
                remote: ip("remote"),
                dstport: d.get("port").and_then(Value::as_u64).unwrap_or(0) as u16,
                dev: None,
            })
        }
        "tun" if data.and_then(|d| d.get("type")).and_then(Value::as_str) == Some("tap") => {
            LinkKind::Tap
        }
        other => LinkKind::Other(other.to_string()),
    };
    let flags = v.get("flags").and_then(Value::as_array);
    Some(LinkInfo {
        name,
        kind,
        mtu: v.get("mtu").and_then(Value::as_u64).unwrap_or(0) as u32,
        mac: v
            .get("address")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase),
        master: v.get("master").and_then(Value::as_str).map(str::to_string),
        up: flags.is_some_and(|f| f.iter().any(|x| x.as_str() == Some("UP"))),
    })
}

/// Ends every process inside namespace `name` (dnsmasq, a metadata proxy, anything a
/// previous agent left behind, as neutron-netns-cleanup does) before it is deleted:
/// deleting a namespace only unmounts its name, so its processes would keep running
/// with nothing left to reach them. `ip netns pids` finds them by their
/// `/proc/<pid>/ns/net`; they get SIGKILL (the namespace is going away, there is
/// nothing to shut down cleanly) and up to a second to exit. Our own process is never
/// signalled. Failures are logged: the namespace is deleted anyway.
fn kill_netns_processes(name: &str) {
    let pids: Vec<u32> = match Cmd::new("ip").args(["netns", "pids", name]).run() {
        Ok(out) => out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .filter(|p| *p != std::process::id())
            .collect(),
        Err(e) => {
            tracing::debug!(netns = name, error = %e, "cannot list the processes of a namespace");
            return;
        }
    };
    if pids.is_empty() {
        return;
    }
    tracing::info!(netns = name, pids = ?pids, "ending the processes of a namespace before deleting it");
    let kill = Cmd::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string));
    if let Err(e) = kill.run() {
        // A process that exited meanwhile makes kill fail; the others were signalled.
        tracing::debug!(netns = name, error = %e, "kill reported an error");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while pids.iter().any(|p| process_alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Whether `pid` runs (a zombie, dead but not yet reaped by its parent, does not).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

impl NetOps for LinuxNet {
    fn netns_list(&self) -> Result<Vec<String>> {
        let v = json(&Cmd::new("ip").args(["-j", "netns", "list"]))?;
        Ok(v.iter()
            .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_string))
            .collect())
    }

    fn netns_add(&self, name: &str) -> Result<()> {
        Cmd::new("ip").args(["netns", "add", name]).run()?;
        Cmd::ip(Some(name))
            .args(["link", "set", "lo", "up"])
            .run()?;
        Ok(())
    }

    fn netns_del(&self, name: &str) -> Result<()> {
        kill_netns_processes(name);
        Cmd::new("ip").args(["netns", "del", name]).run().map(drop)
    }

    fn link_list(&self, ns: Option<&str>) -> Result<Vec<LinkInfo>> {
        let cmd = Cmd::ip(ns).args(["-d", "-j", "link", "show"]);
        Ok(json(&cmd)?.iter().filter_map(parse_link).collect())
    }

    fn link_add(&self, ns: Option<&str>, spec: &LinkSpec) -> Result<()> {
        link_add_cmd(ns, spec).run()?;
        if let (LinkKind::Tap, Some(mtu)) = (&spec.kind, spec.mtu) {
            Cmd::ip(ns)
                .args(["link", "set", "dev", &spec.name, "mtu"])
                .arg(mtu.to_string())
                .run()?;
        }
        if let (LinkKind::Tap, Some(mac)) = (&spec.kind, &spec.mac) {
            Cmd::ip(ns)
                .args(["link", "set", "dev", &spec.name, "address", mac])
                .run()?;
        }
        Ok(())
    }

    fn link_set(&self, ns: Option<&str>, name: &str, update: &LinkUpdate) -> Result<()> {
        match link_set_cmd(ns, name, update) {
            Some(c) => c.run().map(drop),
            None => Ok(()),
        }
    }

    fn link_del(&self, ns: Option<&str>, name: &str) -> Result<()> {
        Cmd::ip(ns)
            .args(["link", "del", "dev", name])
            .run()
            .map(drop)
    }

    fn addr_list(&self, ns: Option<&str>, dev: &str) -> Result<Vec<IpNet>> {
        let cmd = Cmd::ip(ns).args(["-j", "addr", "show", "dev", dev]);
        let mut out = Vec::new();
        for l in json(&cmd)? {
            for a in l
                .get("addr_info")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if a.get("scope").and_then(Value::as_str) == Some("link") {
                    continue;
                }
                let addr = a
                    .get("local")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok());
                let prefix = a.get("prefixlen").and_then(Value::as_u64);
                if let (Some(addr), Some(prefix)) = (addr, prefix) {
                    out.extend(IpNet::new(addr, prefix as u8));
                }
            }
        }
        Ok(out)
    }

    fn addr_add(&self, ns: Option<&str>, dev: &str, addr: IpNet) -> Result<()> {
        Cmd::ip(ns)
            .args(["addr", "add"])
            .arg(addr.to_string())
            .args(["dev", dev])
            .run()
            .map(drop)
    }

    fn addr_del(&self, ns: Option<&str>, dev: &str, addr: IpNet) -> Result<()> {
        Cmd::ip(ns)
            .args(["addr", "del"])
            .arg(addr.to_string())
            .args(["dev", dev])
            .run()
            .map(drop)
    }

    fn route_list(&self, ns: Option<&str>) -> Result<Vec<Route>> {
        let mut out = Vec::new();
        for fam in ["-4", "-6"] {
            let cmd = Cmd::ip(ns).args([fam, "-j", "route", "show", "table", "main"]);
            for r in json(&cmd)? {
                let proto = r.get("protocol").and_then(Value::as_str).unwrap_or("boot");
                if !matches!(proto, "boot" | "static") {
                    continue;
                }
                let Some(dst) = r.get("dst").and_then(Value::as_str) else {
                    continue;
                };
                let dst = if dst == "default" {
                    if fam == "-4" { "0.0.0.0/0" } else { "::/0" }.to_string()
                } else {
                    dst.to_string()
                };
                let Ok(dst) = dst.parse() else { continue };
                out.push(Route {
                    dst,
                    via: r
                        .get("gateway")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok()),
                    dev: r.get("dev").and_then(Value::as_str).map(str::to_string),
                });
            }
        }
        Ok(out)
    }

    fn route_replace(&self, ns: Option<&str>, route: &Route) -> Result<()> {
        Cmd::ip(ns)
            .args(["route", "replace"])
            .args(route_args(route))
            .run()
            .map(drop)
    }

    fn route_del(&self, ns: Option<&str>, route: &Route) -> Result<()> {
        Cmd::ip(ns)
            .args(["route", "del"])
            .args(route_args(route))
            .run()
            .map(drop)
    }

    fn sysctl_get(&self, ns: Option<&str>, key: &str) -> Result<String> {
        Ok(Cmd::in_netns(ns, "sysctl")
            .args(["-n", key])
            .run()?
            .trim()
            .to_string())
    }

    fn sysctl_set(&self, ns: Option<&str>, key: &str, value: &str) -> Result<()> {
        Cmd::in_netns(ns, "sysctl")
            .arg("-qw")
            .arg(format!("{key}={value}"))
            .run()
            .map(drop)
    }

    fn fdb_list(&self, ns: Option<&str>, dev: &str) -> Result<Vec<IpAddr>> {
        let c = Cmd::new("bridge");
        let c = match ns {
            Some(ns) => c.args(["-n", ns]),
            None => c,
        };
        let cmd = c.args(["-j", "fdb", "show", "dev", dev]);
        Ok(json(&cmd)?
            .iter()
            .filter(|e| e.get("mac").and_then(Value::as_str) == Some(FLOOD_MAC))
            .filter_map(|e| e.get("dst")?.as_str()?.parse().ok())
            .collect())
    }

    fn fdb_append(&self, ns: Option<&str>, dev: &str, dst: IpAddr) -> Result<()> {
        fdb_cmd(ns, "append", dev, dst).run().map(drop)
    }

    fn fdb_del(&self, ns: Option<&str>, dev: &str, dst: IpAddr) -> Result<()> {
        fdb_cmd(ns, "del", dev, dst).run().map(drop)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fdb_flood_entry_command() {
        let c = fdb_cmd(
            Some("h1"),
            "append",
            "vxlan-7",
            "192.0.2.9".parse().unwrap(),
        );
        assert_eq!(
            c.display(),
            "bridge -n h1 fdb append 00:00:00:00:00:00 dev vxlan-7 dst 192.0.2.9"
        );
        assert_eq!(
            fdb_cmd(None, "del", "vxlan-7", "192.0.2.9".parse().unwrap()).display(),
            "bridge fdb del 00:00:00:00:00:00 dev vxlan-7 dst 192.0.2.9"
        );
    }

    #[test]
    fn ipnet_parse_and_math() {
        let n: IpNet = "10.10.0.7/24".parse().unwrap();
        assert_eq!(n.network().to_string(), "10.10.0.0");
        assert_eq!(n.netmask_v4().unwrap().to_string(), "255.255.255.0");
        assert!(n.contains("10.10.0.200".parse().unwrap()));
        assert!(!n.contains("10.10.1.1".parse().unwrap()));
        assert_eq!(
            "1.2.3.4".parse::<IpNet>().unwrap().to_string(),
            "1.2.3.4/32"
        );
        assert!("1.2.3.4/33".parse::<IpNet>().is_err());
        assert_eq!(
            "0.0.0.0/0".parse::<IpNet>().unwrap().network().to_string(),
            "0.0.0.0"
        );
    }

    #[test]
    fn vxlan_and_veth_argument_vectors() {
        let spec = LinkSpec {
            name: "vxlan-100".into(),
            kind: LinkKind::Vxlan(VxlanParams {
                vni: 100,
                local: Some("198.51.100.1".parse().unwrap()),
                remote: Some("198.51.100.2".parse().unwrap()),
                dstport: 4789,
                dev: Some("ul0".into()),
            }),
            mtu: Some(1450),
            mac: None,
        };
        assert_eq!(
            link_add_cmd(Some("cn1"), &spec).display(),
            "ip -n cn1 link add vxlan-100 mtu 1450 type vxlan id 100 local 198.51.100.1 remote 198.51.100.2 dev ul0 dstport 4789"
        );
        let veth = LinkSpec {
            name: "tapabc".into(),
            kind: LinkKind::Veth {
                peer_name: "ns-abc".into(),
                peer_ns: Some("qdhcp-x".into()),
            },
            mtu: Some(1450),
            mac: None,
        };
        assert_eq!(
            link_add_cmd(None, &veth).args,
            [
                "link", "add", "tapabc", "mtu", "1450", "type", "veth", "peer", "name", "ns-abc",
                "mtu", "1450", "netns", "qdhcp-x"
            ]
        );
        let tap = LinkSpec {
            name: "tap1".into(),
            kind: LinkKind::Tap,
            mtu: Some(1450),
            mac: None,
        };
        assert_eq!(
            link_add_cmd(None, &tap).display(),
            "ip tuntap add dev tap1 mode tap vnet_hdr"
        );
    }

    #[test]
    fn link_set_and_route_arguments() {
        let u = LinkUpdate {
            up: Some(true),
            master: Some(Some("brq1".into())),
            mtu: Some(1450),
            mac: None,
        };
        assert_eq!(
            link_set_cmd(Some("n"), "tap1", &u).unwrap().display(),
            "ip -n n link set dev tap1 mtu 1450 master brq1 up"
        );
        assert!(link_set_cmd(None, "x", &LinkUpdate::default()).is_none());
        let r = Route {
            dst: "0.0.0.0/0".parse().unwrap(),
            via: Some("203.0.113.1".parse().unwrap()),
            dev: None,
        };
        assert_eq!(route_args(&r), ["0.0.0.0/0", "via", "203.0.113.1"]);
    }

    #[test]
    fn parses_ip_json_links() {
        let v: Value = serde_json::from_str(r#"{"ifindex":5,"ifname":"vxlan-7","flags":["BROADCAST","UP"],"mtu":1450,"master":"brq1","address":"AA:bb:cc:dd:ee:ff","linkinfo":{"info_kind":"vxlan","info_data":{"id":7,"local":"198.51.100.1","port":4789}}}"#).unwrap();
        let l = parse_link(&v).unwrap();
        assert_eq!(l.master.as_deref(), Some("brq1"));
        assert!(l.up);
        assert_eq!(l.mac.as_deref(), Some("aa:bb:cc:dd:ee:ff"));
        assert!(matches!(
            l.kind,
            LinkKind::Vxlan(VxlanParams {
                vni: 7,
                dstport: 4789,
                remote: None,
                ..
            })
        ));
    }
}
