//! Benchmark (not a timed test; `#[ignore]`): security-group rule update latency to the
//! data plane, rule change -> plan -> reconcile -> nft applied, for 100 ports in 10
//! groups. Run with `scripts/bench-secgroups.sh` (release build), or
//! `cargo test --release -p rustack-hostops --test bench_secgroups -- --ignored --nocapture`.
//!
//! Two figures sets: against the fake host (planner + reconciler cost alone) and, as
//! root, against the real kernel in a namespace this benchmark creates and deletes
//! (`nft -j -f -` and `conntrack -D` included). Prints a table and one JSON line.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use rustack_hostops::dataplane::{
    plan, Change, Direction, EtherType, FixedIp, HostConfig, Network, Port, Reconciler,
    SecurityGroup, SecurityGroupRule, Segment, Topology,
};
use rustack_hostops::dhcp::LinuxDnsmasq;
use rustack_hostops::fake::FakeHost;
use rustack_hostops::net::{LinuxNet, NetOps};
use rustack_hostops::nft::{Family, Firewall, LinuxNft};

const PORTS: usize = 100;
const GROUPS: usize = 10;
const ROUNDS: usize = 40;

fn rule(id: String, dir: Direction, eth: EtherType) -> SecurityGroupRule {
    SecurityGroupRule {
        id,
        direction: dir,
        ethertype: eth,
        ..SecurityGroupRule::default()
    }
}

/// 100 ports on 2 networks; port i is in group i % 10 and in group 0 (a shared
/// "default"); each group: egress v4/v6 anywhere, ingress from its own members (v4/v6),
/// ssh from a CIDR, ICMP, a TCP range.
fn topology() -> Topology {
    let nets = ["net-a", "net-b"].map(|n| format!("{n}-0000-0000-0000-000000000000"));
    let groups = (0..GROUPS)
        .map(|g| {
            let id = format!("sg-{g}");
            let from_self = |eth| SecurityGroupRule {
                remote_group_id: Some(id.clone()),
                ..rule(format!("{id}-self-{eth:?}"), Direction::Ingress, eth)
            };
            SecurityGroup {
                id: id.clone(),
                rules: vec![
                    rule(format!("{id}-e4"), Direction::Egress, EtherType::Ipv4),
                    rule(format!("{id}-e6"), Direction::Egress, EtherType::Ipv6),
                    from_self(EtherType::Ipv4),
                    from_self(EtherType::Ipv6),
                    SecurityGroupRule {
                        protocol: Some("tcp".into()),
                        port_range_min: Some(22),
                        port_range_max: Some(22),
                        remote_ip_prefix: Some("192.0.2.0/24".parse().unwrap()),
                        ..rule(format!("{id}-ssh"), Direction::Ingress, EtherType::Ipv4)
                    },
                    SecurityGroupRule {
                        protocol: Some("icmp".into()),
                        ..rule(format!("{id}-icmp"), Direction::Ingress, EtherType::Ipv4)
                    },
                    SecurityGroupRule {
                        protocol: Some("tcp".into()),
                        port_range_min: Some(8000),
                        port_range_max: Some(8000 + u32::try_from(g).unwrap()),
                        ..rule(format!("{id}-web"), Direction::Ingress, EtherType::Ipv4)
                    },
                ],
            }
        })
        .collect();
    let ports = (0..PORTS)
        .map(|i| Port {
            id: format!("{i:08x}-0000-0000-0000-000000000000"),
            network_id: nets[i % 2].clone(),
            mac_address: format!("fa:16:3e:00:{:02x}:{:02x}", i / 256, i % 256),
            fixed_ips: vec![
                FixedIp {
                    subnet_id: "v4".into(),
                    ip_address: format!("10.{}.{}.{}", 80 + i % 2, i / 200, 10 + i % 200)
                        .parse()
                        .unwrap(),
                },
                FixedIp {
                    subnet_id: "v6".into(),
                    ip_address: format!("2001:db8:{}::{:x}", 80 + i % 2, 16 + i)
                        .parse()
                        .unwrap(),
                },
            ],
            device_owner: "compute:nova".into(),
            device_id: format!("vm-{i}"),
            port_security_enabled: true,
            security_group_ids: if i % GROUPS == 0 {
                vec!["sg-0".into()]
            } else {
                vec!["sg-0".into(), format!("sg-{}", i % GROUPS)]
            },
            allowed_address_pairs: vec![],
        })
        .collect();
    Topology {
        networks: nets
            .iter()
            .map(|n| Network {
                id: n.clone(),
                mtu: 1450,
                segment: Segment::Local,
            })
            .collect(),
        ports,
        security_groups: groups,
        ..Topology::default()
    }
}

struct Stats {
    p50: f64,
    p99: f64,
    max: f64,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        ms(v[i])
    };
    Stats {
        p50: at(0.5),
        p99: at(0.99),
        max: ms(v[v.len() - 1]),
    }
}

/// Alternately add and remove an ICMPv6 rule in group 3 (10 of the 100 ports use it);
/// returns (add latencies, remove latencies, conntrack deletes per removal).
fn rounds(
    rec: &Reconciler<'_>,
    cfg: &HostConfig,
    topo: &mut Topology,
) -> (Vec<Duration>, Vec<Duration>, usize) {
    let (mut add, mut del, mut flushes) = (Vec::new(), Vec::new(), 0);
    for round in 0..ROUNDS {
        let adding = round % 2 == 0;
        if adding {
            topo.security_groups[3].rules.push(SecurityGroupRule {
                protocol: Some("ipv6-icmp".into()),
                ..rule("bench".into(), Direction::Ingress, EtherType::Ipv6)
            });
        } else {
            topo.security_groups[3].rules.pop();
        }
        let t = Instant::now();
        let d = plan(topo, cfg);
        let r = rec.reconcile(&d);
        let took = t.elapsed();
        assert!(r.is_ok(), "{:?}", r.errors);
        assert!(
            r.changes
                .iter()
                .any(|c| matches!(c, Change::TableApply(_, t) if t == "inet rustack-sg")),
            "{:?}",
            r.changes
        );
        if adding {
            add.push(took);
        } else {
            flushes = r
                .changes
                .iter()
                .filter(|c| matches!(c, Change::ConntrackDelete(..)))
                .count();
            del.push(took);
        }
    }
    (add, del, flushes)
}

fn line(what: &str, s: &Stats) {
    println!(
        "{what:<44} p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        s.p50, s.p99, s.max
    );
}

#[test]
#[ignore = "benchmark: scripts/bench-secgroups.sh"]
fn bench_security_group_rule_update_latency() {
    let cfg0 = HostConfig::default();
    let mut topo = topology();
    let d = plan(&topo, &cfg0);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    let nft_rules: usize = d
        .host_tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .sum();
    println!(
        "security groups: {PORTS} ports, {GROUPS} groups, {} nft chains, {nft_rules} nft rules, {} KiB of nft JSON",
        d.host_tables.iter().map(|t| t.chains.len()).sum::<usize>(),
        d.host_tables
            .iter()
            .map(|t| t.to_json().to_string().len())
            .sum::<usize>()
            / 1024
    );

    // Planner alone.
    let mut plans = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(plan(&topo, &cfg0));
        plans.push(t.elapsed());
    }
    let plan_s = stats(plans);
    line("plan (whole host, fake)", &plan_s);

    // Fake host: planner + reconciler, no kernel.
    let h = FakeHost::new();
    let rec = Reconciler::new(&h, &h, &h);
    assert!(rec.reconcile(&plan(&topo, &cfg0)).is_ok());
    let (fa, fd, ff) = rounds(&rec, &cfg0, &mut topo);
    let (fa, fd) = (stats(fa), stats(fd));
    line("rule add -> applied (fake host)", &fa);
    line("rule remove -> applied + flush (fake host)", &fd);

    let mut json = format!(
        r#"{{"ports":{PORTS},"groups":{GROUPS},"nft_rules":{nft_rules},"plan_p50_ms":{:.3},"fake_add_p50_ms":{:.3},"fake_add_p99_ms":{:.3},"fake_remove_p50_ms":{:.3},"fake_remove_p99_ms":{:.3},"conntrack_deletes_per_removal":{ff}"#,
        plan_s.p50, fa.p50, fa.p99, fd.p50, fd.p99
    );

    let root = std::env::var("RUSTACK_HOST_TESTS").as_deref() == Ok("1");
    if root {
        // The real kernel, in a namespace of our own.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let host = format!("rb{:05x}-host", (std::process::id() ^ nanos) & 0xfffff);
        struct Ns(String);
        impl Drop for Ns {
            fn drop(&mut self) {
                let _ = LinuxNet.netns_del(&self.0);
            }
        }
        LinuxNet.netns_add(&host).unwrap();
        let _ns = Ns(host.clone());
        let state = std::env::temp_dir().join(format!("{host}-state"));
        let cfg = HostConfig {
            host_netns: Some(host.clone()),
            netns_prefix: format!("{host}-"),
            ..HostConfig::default()
        };
        let (net, fw, dhcp) = (LinuxNet, LinuxNft::new(), LinuxDnsmasq::new(&state));
        let rec = Reconciler::new(&net, &fw, &dhcp);
        let t = Instant::now();
        let r = rec.reconcile(&plan(&topo, &cfg));
        let first = t.elapsed();
        assert!(r.is_ok(), "{:?}", r.errors);
        let t = Instant::now();
        let r = rec.reconcile(&plan(&topo, &cfg));
        let idle = t.elapsed();
        assert!(r.changes.is_empty(), "{:?}", r.changes);
        let (ka, kd, kf) = rounds(&rec, &cfg, &mut topo);
        topo.security_groups[3].rules.push(SecurityGroupRule {
            protocol: Some("ipv6-icmp".into()),
            ..rule("bench".into(), Direction::Ingress, EtherType::Ipv6)
        });
        let (ka, kd) = (stats(ka), stats(kd));
        println!(
            "{:<44} {:>8.2} ms",
            "first apply, 100 ports (kernel)",
            first.as_secs_f64() * 1e3
        );
        println!(
            "{:<44} {:>8.2} ms",
            "no-op pass (kernel)",
            idle.as_secs_f64() * 1e3
        );
        line("rule add -> nft applied (kernel)", &ka);
        line("rule remove -> nft applied + flush (kernel)", &kd);
        println!("conntrack -D calls per removal: {kf}");
        // The nft transaction alone: the inet table with and without one rule.
        let with = plan(&topo, &cfg).host_tables;
        topo.security_groups[3].rules.pop();
        let without = plan(&topo, &cfg).host_tables;
        let mut applies = Vec::new();
        for i in 0..ROUNDS {
            let t = if i % 2 == 0 { &without } else { &with };
            let inet: Vec<_> = t
                .iter()
                .filter(|t| t.family == Family::Inet)
                .cloned()
                .collect();
            let s = Instant::now();
            fw.tables_apply(Some(&host), &inet).unwrap();
            applies.push(s.elapsed());
        }
        let nft_s = stats(applies);
        line("nft -j -f of the inet table alone (kernel)", &nft_s);
        json.push_str(&format!(
            r#","kernel_first_apply_ms":{:.3},"kernel_noop_pass_ms":{:.3},"kernel_add_p50_ms":{:.3},"kernel_add_p99_ms":{:.3},"kernel_remove_p50_ms":{:.3},"kernel_remove_p99_ms":{:.3},"kernel_nft_apply_p50_ms":{:.3}"#,
            first.as_secs_f64() * 1e3,
            idle.as_secs_f64() * 1e3,
            ka.p50,
            ka.p99,
            kd.p50,
            kd.p99,
            nft_s.p50
        ));
        let _ = std::fs::remove_dir_all(&state);
    } else {
        println!("(kernel figures: run as root with RUSTACK_HOST_TESTS=1)");
    }
    json.push('}');
    println!("{json}");
}
