//! DHCP servers: one supervised dnsmasq per network, configured Neutron-style with static
//! leases only (`--dhcp-range=<tag>,<net>,static,...`), a hosts file written from a typed
//! lease list and an options file (router, DNS, classless static routes, MTU).
//!
//! [`DhcpServer::dhcp_ensure`] is the whole supervisor contract and is idempotent: it
//! (re)writes the files, sends `SIGHUP` when only leases/options changed (dnsmasq re-reads
//! both files), restarts dnsmasq when its command line changed, and starts it when it is
//! not running (never started, or died). The reconciler calls it on every pass, so a
//! dead dnsmasq is restarted within one reconcile period.
//!
//! A lease that leaves the configuration (port deleted, MAC or address changed) is also
//! dropped from the running dnsmasq's lease database with `dhcp_release` (dnsmasq-utils),
//! as Neutron's DHCP agent does: otherwise dnsmasq keeps the old binding until it expires
//! and refuses the address to the next MAC that gets it (the new guest's DHCP then takes
//! ~17 s of retries instead of ~4 s). See [`stale_leases`].
//!
//! dnsmasq daemonizes and writes a pid file, so it survives an agent restart and the
//! agent finds it again by its state directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd::Cmd;
use crate::error::{HostError, Result};
use crate::net::IpNet;

/// One static lease (a line of the hosts file).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lease {
    /// MAC address.
    pub mac: String,
    /// Host name (without domain).
    pub hostname: String,
    /// Address.
    pub ip: IpAddr,
}

/// A subnet dnsmasq serves, with its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpSubnet {
    /// Tag naming the subnet in the options file (`subnet-<id>`).
    pub tag: String,
    /// The subnet.
    pub cidr: IpNet,
    /// Lease time in seconds.
    pub lease_secs: u32,
    /// Default gateway (option 3, and `0.0.0.0/0` in the classless routes).
    pub router: Option<IpAddr>,
    /// DNS servers (option 6).
    pub dns_servers: Vec<IpAddr>,
    /// Classless static routes besides the default one (options 121 and 249).
    pub routes: Vec<(IpNet, IpAddr)>,
}

/// Everything one dnsmasq instance serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpConfig {
    /// Instance name (the network id); also the state directory name.
    pub name: String,
    /// Namespace dnsmasq runs in.
    pub netns: Option<String>,
    /// Interface it serves.
    pub interface: String,
    /// Subnets (IPv4; IPv6 modes are TODO-compat).
    pub subnets: Vec<DhcpSubnet>,
    /// Static leases.
    pub leases: Vec<Lease>,
    /// MTU pushed with option 26.
    pub mtu: Option<u32>,
    /// DNS domain (`openstacklocal`).
    pub domain: String,
}

impl DhcpConfig {
    /// The hosts file: `mac,hostname.domain,ip` per lease, sorted.
    pub fn hosts_file(&self) -> String {
        let mut l = self.leases.clone();
        l.sort();
        l.iter()
            .map(|l| format!("{},{}.{},{}\n", l.mac, l.hostname, self.domain, l.ip))
            .collect()
    }

    /// The options file.
    pub fn opts_file(&self) -> String {
        let mut s = String::new();
        for sub in &self.subnets {
            let t = &sub.tag;
            if let Some(r) = sub.router {
                s += &format!("tag:{t},option:router,{r}\n");
            }
            if !sub.dns_servers.is_empty() {
                let d: Vec<String> = sub.dns_servers.iter().map(ToString::to_string).collect();
                s += &format!("tag:{t},option:dns-server,{}\n", d.join(","));
            }
            let mut routes: Vec<String> = sub
                .routes
                .iter()
                .map(|(n, via)| format!("{n},{via}"))
                .collect();
            if let Some(r) = sub.router {
                // RFC 3442: with option 121 present the client ignores option 3.
                routes.push(format!("0.0.0.0/0,{r}"));
            }
            if !sub.routes.is_empty() {
                s += &format!(
                    "tag:{t},option:classless-static-route,{}\n",
                    routes.join(",")
                );
                s += &format!("tag:{t},249,{}\n", routes.join(","));
            }
        }
        s
    }

    /// dnsmasq's arguments for state directory `dir`.
    pub fn args(&self, dir: &Path) -> Vec<String> {
        let f = |n: &str| dir.join(n).display().to_string();
        let mut a = vec![
            "--no-hosts".to_string(),
            "--no-resolv".into(),
            format!("--pid-file={}", f("pid")),
            format!("--dhcp-hostsfile={}", f("host")),
            format!("--addn-hosts={}", f("addn_hosts")),
            format!("--dhcp-optsfile={}", f("opts")),
            format!("--dhcp-leasefile={}", f("leases")),
            "--dhcp-match=set:ipxe,175".into(),
            "--local-service".into(),
            "--bind-dynamic".into(),
            format!("--interface={}", self.interface),
            "--except-interface=lo".into(),
        ];
        for s in &self.subnets {
            let mask = s
                .cidr
                .netmask_v4()
                .map(|m| m.to_string())
                .unwrap_or_else(|| s.cidr.prefix.to_string());
            a.push(format!(
                "--dhcp-range=set:{},{},static,{},{}s",
                s.tag,
                s.cidr.network(),
                mask,
                s.lease_secs
            ));
        }
        if let Some(m) = self.mtu {
            a.push(format!("--dhcp-option-force=option:mtu,{m}"));
        }
        a.extend([
            "--dhcp-lease-max=16777216".to_string(),
            "--conf-file=/dev/null".into(),
            format!("--domain={}", self.domain),
            "--user=root".into(),
            "--group=root".into(),
            "--log-dhcp".into(),
            format!("--log-facility={}", f("dnsmasq.log")),
        ]);
        a
    }
}

/// The IPv4 leases of dnsmasq's lease file (`<expiry> <mac> <ip> <hostname> <client-id>`
/// per line; IPv6 lines and the `duid` line are skipped).
pub fn parse_lease_file(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _expiry = f.next()?;
            let mac = f.next()?;
            let ip: IpAddr = f.next()?.parse().ok()?;
            let hostname = f.next().unwrap_or("*");
            (ip.is_ipv4() && mac.contains(':')).then(|| Lease {
                mac: mac.to_ascii_lowercase(),
                hostname: hostname.to_string(),
                ip,
            })
        })
        .collect()
}

/// The IPv4 leases of `held` whose (MAC, address) pair `cfg` no longer serves: what has to
/// be released (Neutron's `_release_unused_leases`).
pub fn stale_leases(held: &[Lease], cfg: &DhcpConfig) -> Vec<Lease> {
    let mut out: Vec<Lease> = held
        .iter()
        .filter(|h| {
            h.ip.is_ipv4()
                && !cfg
                    .leases
                    .iter()
                    .any(|l| l.ip == h.ip && l.mac.eq_ignore_ascii_case(&h.mac))
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What [`DhcpServer::dhcp_ensure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhcpOutcome {
    /// Running with this configuration already.
    Unchanged,
    /// Leases or options changed; `SIGHUP` sent.
    Reloaded,
    /// Was not running; started.
    Started,
    /// Command line changed; stopped and started.
    Restarted,
}

/// An instance the server knows about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpStatus {
    /// Instance name.
    pub name: String,
    /// Its process id, when running.
    pub pid: Option<u32>,
}

/// Supervised DHCP servers.
pub trait DhcpServer: Send + Sync {
    /// Instances with state on this host (running or not).
    fn dhcp_list(&self) -> Result<Vec<DhcpStatus>>;
    /// Make instance `cfg.name` run with `cfg` (see the module docs). Leases the running
    /// instance holds that `cfg` no longer has are released ([`stale_leases`]).
    fn dhcp_ensure(&self, cfg: &DhcpConfig) -> Result<DhcpOutcome>;
    /// Stop an instance and forget its state.
    fn dhcp_stop(&self, name: &str) -> Result<()>;
}

/// [`DhcpServer`] with dnsmasq processes; state in `<state_dir>/<name>/`.
#[derive(Clone, Debug)]
pub struct LinuxDnsmasq {
    state_dir: PathBuf,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> HostError {
    let path = path.display().to_string();
    move |source| HostError::Io { op, path, source }
}

/// Write `content` to `path` unless it holds it already; whether it changed.
fn write_if_changed(path: &Path, content: &str) -> Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(content) {
        return Ok(false);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).map_err(io("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename", path))?;
    Ok(true)
}

impl LinuxDnsmasq {
    /// Instances live under `state_dir` (created on demand).
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        LinuxDnsmasq {
            state_dir: state_dir.into(),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.state_dir.join(name)
    }

    /// The pid of the dnsmasq serving `name`, if it runs: the pid file names a live
    /// process whose command line is dnsmasq with this pid file (not a reused pid).
    fn running_pid(&self, name: &str) -> Option<u32> {
        let pidfile = self.dir(name).join("pid");
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive_with(pid, &pidfile.display().to_string()).then_some(pid)
    }

    fn start(&self, cfg: &DhcpConfig, dir: &Path) -> Result<()> {
        let pidfile = dir.join("pid");
        let _ = std::fs::remove_file(&pidfile);
        Cmd::in_netns(cfg.netns.as_deref(), "dnsmasq")
            .args(cfg.args(dir))
            .run()?;
        // dnsmasq's parent exits once the daemon is set up; the pid file follows quickly.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.running_pid(&cfg.name).is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(HostError::Start {
            what: format!("dnsmasq for {}", cfg.name),
            message: format!("no live process in {} after 5 s", pidfile.display()),
        })
    }

    /// Release the leases the running instance holds that `cfg` no longer serves
    /// (`ip netns exec <ns> dhcp_release <iface> <ip> <mac>`). Best effort: a failure is
    /// logged (the lease then expires on its own) and never fails the reconcile.
    fn release_stale(&self, cfg: &DhcpConfig, dir: &Path) {
        let held = match std::fs::read_to_string(dir.join("leases")) {
            Ok(text) => parse_lease_file(&text),
            Err(_) => return,
        };
        for l in stale_leases(&held, cfg) {
            let r = Cmd::in_netns(cfg.netns.as_deref(), "dhcp_release")
                .args([cfg.interface.clone(), l.ip.to_string(), l.mac.clone()])
                .run();
            if let Err(e) = r {
                tracing::warn!(dhcp = %cfg.name, ip = %l.ip, mac = %l.mac, error = %e,
                    "dhcp_release failed; the lease expires on its own");
            }
        }
    }

    fn kill(&self, name: &str, pid: u32) -> Result<()> {
        let pidfile = self.dir(name).join("pid").display().to_string();
        Cmd::new("kill")
            .args(["-s", "TERM"])
            .arg(pid.to_string())
            .run()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !alive_with(pid, &pidfile) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Cmd::new("kill")
            .args(["-s", "KILL"])
            .arg(pid.to_string())
            .run()
            .map(drop)
    }
}

/// Whether `pid` is a live (not zombie) process whose command line mentions `marker`.
fn alive_with(pid: u32, marker: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    // A zombie has an empty command line.
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains("dnsmasq") && cmdline.contains(marker)
}

impl DhcpServer for LinuxDnsmasq {
    fn dhcp_list(&self) -> Result<Vec<DhcpStatus>> {
        let rd = match std::fs::read_dir(&self.state_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read dir", &self.state_dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            if e.path().join("args").exists() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = self.running_pid(&name);
                out.push(DhcpStatus { name, pid });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn dhcp_ensure(&self, cfg: &DhcpConfig) -> Result<DhcpOutcome> {
        let dir = self.dir(&cfg.name);
        std::fs::create_dir_all(&dir).map_err(io("create dir", &dir))?;
        let mut files_changed = write_if_changed(&dir.join("host"), &cfg.hosts_file())?;
        files_changed |= write_if_changed(&dir.join("opts"), &cfg.opts_file())?;
        write_if_changed(&dir.join("addn_hosts"), "")?;
        let mut argv = cfg.args(&dir);
        argv.insert(0, format!("netns={}", cfg.netns.as_deref().unwrap_or("")));
        let args_changed = write_if_changed(&dir.join("args"), &(argv.join("\n") + "\n"))?;
        let running = self.running_pid(&cfg.name);
        if running.is_some() && (files_changed || args_changed) {
            self.release_stale(cfg, &dir);
        }
        match running {
            Some(pid) if args_changed => {
                self.kill(&cfg.name, pid)?;
                self.start(cfg, &dir)?;
                Ok(DhcpOutcome::Restarted)
            }
            Some(pid) if files_changed => {
                Cmd::new("kill")
                    .args(["-s", "HUP"])
                    .arg(pid.to_string())
                    .run()?;
                Ok(DhcpOutcome::Reloaded)
            }
            Some(_) => Ok(DhcpOutcome::Unchanged),
            None => {
                self.start(cfg, &dir)?;
                Ok(DhcpOutcome::Started)
            }
        }
    }

    fn dhcp_stop(&self, name: &str) -> Result<()> {
        if let Some(pid) = self.running_pid(name) {
            self.kill(name, pid)?;
        }
        let dir = self.dir(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &dir)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg() -> DhcpConfig {
        DhcpConfig {
            name: "net1".into(),
            netns: Some("qdhcp-net1".into()),
            interface: "ns-abc".into(),
            subnets: vec![DhcpSubnet {
                tag: "subnet-s1".into(),
                cidr: "10.10.0.0/24".parse().unwrap(),
                lease_secs: 86400,
                router: Some("10.10.0.1".parse().unwrap()),
                dns_servers: vec!["10.10.0.2".parse().unwrap()],
                routes: vec![(
                    "169.254.169.254/32".parse().unwrap(),
                    "10.10.0.2".parse().unwrap(),
                )],
            }],
            leases: vec![
                Lease {
                    mac: "fa:16:3e:00:00:12".into(),
                    hostname: "host-10-10-0-12".into(),
                    ip: "10.10.0.12".parse().unwrap(),
                },
                Lease {
                    mac: "fa:16:3e:00:00:11".into(),
                    hostname: "host-10-10-0-11".into(),
                    ip: "10.10.0.11".parse().unwrap(),
                },
            ],
            mtu: Some(1450),
            domain: "openstacklocal".into(),
        }
    }

    #[test]
    fn files_match_neutron_layout() {
        let c = cfg();
        assert_eq!(
            c.hosts_file(),
            "fa:16:3e:00:00:11,host-10-10-0-11.openstacklocal,10.10.0.11\nfa:16:3e:00:00:12,host-10-10-0-12.openstacklocal,10.10.0.12\n"
        );
        assert_eq!(
            c.opts_file(),
            "tag:subnet-s1,option:router,10.10.0.1\n\
             tag:subnet-s1,option:dns-server,10.10.0.2\n\
             tag:subnet-s1,option:classless-static-route,169.254.169.254/32,10.10.0.2,0.0.0.0/0,10.10.0.1\n\
             tag:subnet-s1,249,169.254.169.254/32,10.10.0.2,0.0.0.0/0,10.10.0.1\n"
        );
        let a = c.args(Path::new("/s/net1"));
        assert!(a.contains(
            &"--dhcp-range=set:subnet-s1,10.10.0.0,static,255.255.255.0,86400s".to_string()
        ));
        assert!(a.contains(&"--interface=ns-abc".to_string()));
        assert!(a.contains(&"--dhcp-hostsfile=/s/net1/host".to_string()));
        assert!(a.contains(&"--dhcp-option-force=option:mtu,1450".to_string()));
    }

    #[test]
    fn stale_leases_are_the_removed_and_changed_ones() {
        let c = cfg();
        let file = "1700000000 fa:16:3e:00:00:11 10.10.0.11 host-10-10-0-11 *\n\
                    1700000000 FA:16:3E:00:00:99 10.10.0.12 old-guest 01:fa:16:3e:00:00:99\n\
                    1700000000 fa:16:3e:00:00:13 10.10.0.13 gone *\n\
                    duid 00:01:00:01:2a:2b:2c:2d\n\
                    1700000000 1234 fd00::5 v6host 00:01\n";
        let held = parse_lease_file(file);
        assert_eq!(held.len(), 3, "{held:?}");
        let stale = stale_leases(&held, &c);
        let pairs: Vec<(String, String)> = stale
            .iter()
            .map(|l| (l.mac.clone(), l.ip.to_string()))
            .collect();
        // .11 is still served with its MAC; .12 moved to another MAC; .13's port is gone.
        assert_eq!(
            pairs,
            vec![
                ("fa:16:3e:00:00:13".to_string(), "10.10.0.13".to_string()),
                ("fa:16:3e:00:00:99".to_string(), "10.10.0.12".to_string()),
            ]
        );
        assert!(stale_leases(&parse_lease_file(""), &c).is_empty());
    }

    #[test]
    fn linux_list_of_missing_state_dir_is_empty() {
        let d = LinuxDnsmasq::new("/nonexistent/rustack-hostops-test");
        assert!(d.dhcp_list().unwrap().is_empty());
        assert_eq!(d.running_pid("x"), None);
    }
}
