//! `network_data.json` from a list of ports, in Nova's format
//! (`nova/virt/netutils.py:get_network_metadata`): one `links` entry per port with at
//! least one subnet, one `networks` entry for the first IPv4 and the first IPv6 subnet of
//! each port that has an address there, and the DNS servers as `services`.
//!
//! On a subnet served by DHCP the network entry is `ipv4_dhcp`/`ipv6_dhcp` (no static
//! address) and the link's `mtu` is null (the guest learns it from DHCP); otherwise it
//! carries `ip_address`, `netmask`, `routes` (default route via the gateway, then host
//! routes) and `services`, and the link carries the network MTU. An IPv6 subnet with an
//! `ipv6_address_mode` is `ipv6_<mode>` with its static address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{json, Value};

/// An IP network `addr/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Address (any address inside the network).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR"))?;
        let addr: IpAddr = a.parse().map_err(|_| format!("{s:?}: bad address"))?;
        let prefix: u8 = p.parse().map_err(|_| format!("{s:?}: bad prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("{s:?}: prefix longer than {max}"));
        }
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    /// The netmask (`255.255.255.0`, `ffff:ffff:ffff:ffff::`).
    pub fn netmask(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(_) => {
                let m = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(m))
            }
            IpAddr::V6(_) => {
                let m = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(m))
            }
        }
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        match (self.addr, self.netmask()) {
            (IpAddr::V4(a), IpAddr::V4(m)) => {
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(m)))
            }
            (IpAddr::V6(a), IpAddr::V6(m)) => {
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & u128::from(m)))
            }
            (a, _) => a,
        }
    }
}

/// A subnet of a port's network, with the port's addresses on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSubnet {
    /// Subnet CIDR.
    pub cidr: Cidr,
    /// `gateway_ip`.
    pub gateway: Option<IpAddr>,
    /// `dns_nameservers`.
    pub dns_nameservers: Vec<IpAddr>,
    /// `host_routes`: destination, next hop.
    pub host_routes: Vec<(Cidr, IpAddr)>,
    /// The port's fixed IPs on this subnet.
    pub ips: Vec<IpAddr>,
    /// `enable_dhcp` (IPv4) / DHCP served (IPv6 stateful).
    pub enable_dhcp: bool,
    /// `ipv6_address_mode` (`slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`).
    pub ipv6_address_mode: Option<String>,
}

/// One port of the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// Port id (`vif_id`).
    pub port_id: String,
    /// `mac_address`.
    pub mac_address: String,
    /// Network MTU.
    pub mtu: Option<u32>,
    /// Network id.
    pub network_id: String,
    /// Guest-visible device name (`devname`: `tap<port id[..11]>`); `None` names the link
    /// `interface<N>` as Nova does without one.
    pub devname: Option<String>,
    /// VIF type shown as the link `type` (`bridge` for rustack's Linux bridges; Nova
    /// shows `phy` for types outside its legacy list).
    pub vif_type: String,
    /// Subnets of the port's network, in the network's order.
    pub subnets: Vec<PortSubnet>,
}

impl PortInfo {
    /// A port as Nova sees it, from the Networking API documents of the port, its network
    /// and (at least) the subnets of its fixed IPs: the subnets the port has addresses
    /// on, in `fixed_ips` order, with those addresses; link name `tap<port id[..11]>`,
    /// VIF type `bridge`. Malformed addresses are skipped.
    pub fn from_neutron(port: &Value, network: &Value, subnets: &[Value]) -> PortInfo {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let ip = |v: &Value| v.as_str().and_then(|s| s.parse::<IpAddr>().ok());
        let port_id = text(port, "id");
        let mut out: Vec<(String, PortSubnet)> = Vec::new();
        let fixed = port.get("fixed_ips").and_then(Value::as_array);
        for f in fixed.into_iter().flatten() {
            let (sid, Some(addr)) = (text(f, "subnet_id"), f.get("ip_address").and_then(ip)) else {
                continue;
            };
            if let Some((_, s)) = out.iter_mut().find(|(id, _)| *id == sid) {
                s.ips.push(addr);
                continue;
            }
            let Some(doc) = subnets.iter().find(|s| text(s, "id") == sid) else {
                continue;
            };
            let Ok(cidr) = text(doc, "cidr").parse::<Cidr>() else {
                continue;
            };
            let routes = doc.get("host_routes").and_then(Value::as_array);
            out.push((
                sid,
                PortSubnet {
                    cidr,
                    gateway: doc.get("gateway_ip").and_then(ip),
                    dns_nameservers: doc
                        .get("dns_nameservers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(ip)
                        .collect(),
                    host_routes: routes
                        .into_iter()
                        .flatten()
                        .filter_map(|r| {
                            let dst = text(r, "destination").parse::<Cidr>().ok()?;
                            Some((dst, r.get("nexthop").and_then(ip)?))
                        })
                        .collect(),
                    ips: vec![addr],
                    enable_dhcp: doc
                        .get("enable_dhcp")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    ipv6_address_mode: doc
                        .get("ipv6_address_mode")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                },
            ));
        }
        PortInfo {
            devname: Some(format!(
                "tap{}",
                port_id.chars().take(11).collect::<String>()
            )),
            port_id,
            mac_address: text(port, "mac_address"),
            mtu: network
                .get("mtu")
                .and_then(Value::as_u64)
                .and_then(|m| u32::try_from(m).ok()),
            network_id: text(port, "network_id"),
            vif_type: "bridge".into(),
            subnets: out.into_iter().map(|(_, s)| s).collect(),
        }
    }
}

fn dns_services(s: &PortSubnet) -> Vec<Value> {
    s.dns_nameservers
        .iter()
        .map(|d| json!({"type": "dns", "address": d.to_string()}))
        .collect()
}

fn net_entry(p: &PortInfo, s: &PortSubnet, n: usize, link: &str) -> Value {
    let v = if s.cidr.addr.is_ipv4() { 4 } else { 6 };
    let mode = s.ipv6_address_mode.as_deref().filter(|_| v == 6);
    if mode.is_none() && s.enable_dhcp {
        return json!({
            "id": format!("network{n}"),
            "type": format!("ipv{v}_dhcp"),
            "link": link,
            "network_id": p.network_id,
        });
    }
    let net_type = match mode {
        Some(m) => format!("ipv{v}_{m}"),
        None => format!("ipv{v}"),
    };
    let mut routes = Vec::new();
    if let Some(gw) = s.gateway {
        let any = if v == 4 { "0.0.0.0" } else { "::" };
        routes.push(json!({"network": any, "netmask": any, "gateway": gw.to_string()}));
    }
    for (dst, via) in &s.host_routes {
        routes.push(json!({
            "network": dst.network().to_string(),
            "netmask": dst.netmask().to_string(),
            "gateway": via.to_string(),
        }));
    }
    json!({
        "id": format!("network{n}"),
        "type": net_type,
        "link": link,
        "ip_address": s.ips.first().map(ToString::to_string),
        "netmask": s.cidr.netmask().to_string(),
        "routes": routes,
        "network_id": p.network_id,
        "services": dns_services(s),
    })
}

/// `network_data.json` for these ports (in the instance's interface order).
pub fn network_data(ports: &[PortInfo]) -> Value {
    let mut links = Vec::new();
    let mut nets = Vec::new();
    let mut services: Vec<Value> = Vec::new();
    for (ifc, p) in ports.iter().filter(|p| !p.subnets.is_empty()).enumerate() {
        let v4 = p.subnets.iter().find(|s| s.cidr.addr.is_ipv4());
        let v6 = p.subnets.iter().find(|s| s.cidr.addr.is_ipv6());
        if v4.is_none() && v6.is_none() {
            continue;
        }
        let link_id = p
            .devname
            .clone()
            .unwrap_or_else(|| format!("interface{ifc}"));
        // With a DHCP server on the network the guest gets the MTU from DHCP.
        let mtu = if p.subnets.iter().any(|s| s.enable_dhcp) {
            None
        } else {
            p.mtu
        };
        links.push(json!({
            "id": link_id,
            "vif_id": p.port_id,
            "type": p.vif_type,
            "mtu": mtu,
            "ethernet_mac_address": p.mac_address,
        }));
        for s in [v4, v6].into_iter().flatten().filter(|s| !s.ips.is_empty()) {
            nets.push(net_entry(p, s, nets.len(), &link_id));
            for d in dns_services(s) {
                if !services.contains(&d) {
                    services.push(d);
                }
            }
        }
    }
    json!({"links": links, "networks": nets, "services": services})
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn subnet(cidr: &str, ip: &str, dhcp: bool) -> PortSubnet {
        PortSubnet {
            cidr: cidr.parse().unwrap(),
            gateway: Some(
                if cidr.contains(':') {
                    "2001:db8::1"
                } else {
                    "10.0.0.1"
                }
                .parse()
                .unwrap(),
            ),
            dns_nameservers: vec!["10.0.0.53".parse().unwrap()],
            host_routes: vec![(
                "192.168.5.0/24".parse().unwrap(),
                "10.0.0.254".parse().unwrap(),
            )],
            ips: vec![ip.parse().unwrap()],
            enable_dhcp: dhcp,
            ipv6_address_mode: None,
        }
    }

    fn port(subnets: Vec<PortSubnet>) -> PortInfo {
        PortInfo {
            port_id: "p1".into(),
            mac_address: "fa:16:3e:00:00:11".into(),
            mtu: Some(1450),
            network_id: "n1".into(),
            devname: Some("tapp1".into()),
            vif_type: "bridge".into(),
            subnets,
        }
    }

    #[test]
    fn static_ipv4_matches_nova_shape() {
        let v = network_data(&[port(vec![subnet("10.0.0.0/24", "10.0.0.5", false)])]);
        assert_eq!(
            v,
            json!({
                "links": [{"id": "tapp1", "vif_id": "p1", "type": "bridge", "mtu": 1450,
                           "ethernet_mac_address": "fa:16:3e:00:00:11"}],
                "networks": [{"id": "network0", "type": "ipv4", "link": "tapp1",
                              "ip_address": "10.0.0.5", "netmask": "255.255.255.0",
                              "routes": [
                                  {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
                                  {"network": "192.168.5.0", "netmask": "255.255.255.0", "gateway": "10.0.0.254"}],
                              "network_id": "n1",
                              "services": [{"type": "dns", "address": "10.0.0.53"}]}],
                "services": [{"type": "dns", "address": "10.0.0.53"}]
            })
        );
    }

    #[test]
    fn dhcp_subnets_and_ipv6_modes() {
        let mut v6 = subnet("2001:db8::/64", "2001:db8::5", false);
        v6.ipv6_address_mode = Some("slaac".into());
        v6.dns_nameservers.clear();
        let mut p2 = port(vec![subnet("10.1.0.0/16", "10.1.0.9", true), v6]);
        p2.port_id = "p2".into();
        p2.devname = None;
        let v = network_data(&[port(vec![]), p2]);
        let links = v["links"].as_array().unwrap();
        assert_eq!(links.len(), 1, "a port without subnets has no link");
        assert_eq!(links[0]["id"], "interface0");
        assert_eq!(links[0]["mtu"], Value::Null, "DHCP gives the MTU");
        let nets = v["networks"].as_array().unwrap();
        assert_eq!(
            nets[0],
            json!({"id": "network0", "type": "ipv4_dhcp", "link": "interface0", "network_id": "n1"})
        );
        assert_eq!(nets[1]["type"], "ipv6_slaac");
        assert_eq!(nets[1]["netmask"], "ffff:ffff:ffff:ffff::");
        assert_eq!(nets[1]["routes"][0]["network"], "::");
        assert_eq!(
            v["services"],
            json!([{"type": "dns", "address": "10.0.0.53"}]),
            "DNS of DHCP subnets is listed too, as Nova does"
        );
    }

    #[test]
    fn from_neutron_documents() {
        let port = json!({
            "id": "0123456789abcdef", "network_id": "n1", "mac_address": "fa:16:3e:00:00:05",
            "fixed_ips": [
                {"subnet_id": "s4", "ip_address": "10.0.0.5"},
                {"subnet_id": "s6", "ip_address": "2001:db8::5"},
                {"subnet_id": "gone", "ip_address": "10.9.9.9"}
            ]
        });
        let network = json!({"id": "n1", "mtu": 1450});
        let subnets = [
            json!({"id": "s4", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "enable_dhcp": false,
                   "dns_nameservers": ["10.0.0.53"],
                   "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.254"}]}),
            json!({"id": "s6", "cidr": "2001:db8::/64", "gateway_ip": null, "enable_dhcp": true,
                   "ipv6_address_mode": "slaac", "dns_nameservers": [], "host_routes": []}),
        ];
        let p = PortInfo::from_neutron(&port, &network, &subnets);
        assert_eq!(p.devname.as_deref(), Some("tap0123456789a"));
        assert_eq!((p.mtu, p.subnets.len()), (Some(1450), 2));
        assert_eq!(p.subnets[0].host_routes.len(), 1);
        let v = network_data(&[p]);
        assert_eq!(
            v["links"][0]["mtu"],
            Value::Null,
            "a DHCP subnet on the port"
        );
        assert_eq!(v["networks"][0]["type"], "ipv4");
        assert_eq!(v["networks"][0]["ip_address"], "10.0.0.5");
        assert_eq!(v["networks"][0]["routes"][1]["network"], "192.168.0.0");
        assert_eq!(v["networks"][1]["type"], "ipv6_slaac");
        assert_eq!(
            v["networks"][1]["routes"],
            json!([]),
            "no gateway, no default route"
        );
    }

    #[test]
    fn cidr_parsing() {
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        let c: Cidr = "10.0.0.77/26".parse().unwrap();
        assert_eq!(c.network().to_string(), "10.0.0.64");
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().netmask().to_string(),
            "0.0.0.0"
        );
    }
}
