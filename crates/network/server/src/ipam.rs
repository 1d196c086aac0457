//! Address arithmetic for IPAM, pure and unit-tested: CIDRs, allocation pools, the
//! default pool of a subnet, overlap checks and EUI-64 addresses for SLAAC. IPv4 and
//! IPv6 are both carried as `u128` with a bit width so one code path serves both.
//!
//! Race-freedom is not this module's job: the datastore records each allocation under a
//! `(subnet_id, ip_address)` primary key, so two concurrent creates cannot both commit
//! the same address (see `app::port`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP network: address bits, prefix length and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub net: u128,
    /// Prefix length.
    pub prefix: u8,
    /// 4 or 6.
    pub version: u8,
}

/// The bit width of an IP version.
pub fn bits(version: u8) -> u8 {
    if version == 4 {
        32
    } else {
        128
    }
}

/// An address as `(value, version)`.
pub fn ip_to_u128(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 4),
        IpAddr::V6(v) => (u128::from(v), 6),
    }
}

/// The address `value` of `version` as text (IPv6 in its compressed form).
pub fn u128_to_string(value: u128, version: u8) -> String {
    if version == 4 {
        Ipv4Addr::from(value as u32).to_string()
    } else {
        Ipv6Addr::from(value).to_string()
    }
}

/// Parses an address of either version.
pub fn parse_ip(s: &str) -> Option<(u128, u8)> {
    s.parse::<IpAddr>().ok().map(ip_to_u128)
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n`; `strict` refuses host bits (neutron's subnet
    /// `cidr` is normalised, not refused, so callers pass `false` and render
    /// [`Cidr::to_string`]). A bare address is a host route (/32, /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let (value, version) = parse_ip(addr)?;
        let width = bits(version);
        let prefix = prefix.unwrap_or(width);
        if prefix > width {
            return None;
        }
        Some(Cidr {
            net: value & mask(prefix, width),
            prefix,
            version,
        })
    }

    /// The number of bits of this version.
    pub fn width(&self) -> u8 {
        bits(self.version)
    }

    /// The last address of the network.
    pub fn last(&self) -> u128 {
        self.net | !mask(self.prefix, self.width()) & max_value(self.width())
    }

    /// True if `ip` lies in this network.
    pub fn contains(&self, ip: u128) -> bool {
        ip >= self.net && ip <= self.last()
    }

    /// True if the two networks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.version == other.version && self.net <= other.last() && other.net <= self.last()
    }

    /// The number of addresses (saturating).
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(self.width() - self.prefix);
        if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            u128_to_string(self.net, self.version),
            self.prefix
        )
    }
}

fn max_value(width: u8) -> u128 {
    if width >= 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    let host = u32::from(width - prefix);
    let all = max_value(width);
    if host >= 128 {
        0
    } else {
        all & !((1u128 << host) - 1)
    }
}

/// An inclusive address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// First address.
    pub start: u128,
    /// Last address.
    pub end: u128,
}

/// Neutron's default allocation pools for `cidr` with `gateway`: every usable address
/// (IPv4 without network and broadcast; IPv6 without the subnet-router anycast address)
/// except the gateway, split around it.
pub fn default_pools(cidr: &Cidr, gateway: Option<u128>) -> Vec<Pool> {
    let (first, last) = if cidr.version == 4 {
        if cidr.prefix >= 31 {
            (cidr.net, cidr.last())
        } else {
            (cidr.net + 1, cidr.last() - 1)
        }
    } else if cidr.prefix >= 127 {
        (cidr.net, cidr.last())
    } else {
        (cidr.net + 1, cidr.last())
    };
    let mut pools = Vec::new();
    match gateway {
        Some(g) if g >= first && g <= last => {
            if g > first {
                pools.push(Pool {
                    start: first,
                    end: g - 1,
                });
            }
            if g < last {
                pools.push(Pool {
                    start: g + 1,
                    end: last,
                });
            }
        }
        _ => pools.push(Pool {
            start: first,
            end: last,
        }),
    }
    pools
}

/// The EUI-64 address of `mac` in `prefix` (SLAAC, `/64` prefixes).
pub fn eui64(prefix: &Cidr, mac: &str) -> Option<u128> {
    let octets: Vec<u8> = mac
        .split(':')
        .map(|o| u8::from_str_radix(o, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    if octets.len() != 6 {
        return None;
    }
    let iid: [u8; 8] = [
        octets[0] ^ 0x02,
        octets[1],
        octets[2],
        0xff,
        0xfe,
        octets[3],
        octets[4],
        octets[5],
    ];
    Some(prefix.net | u128::from(u64::from_be_bytes(iid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> u128 {
        parse_ip(s).expect("ip").0
    }

    #[test]
    fn parses_and_normalises() {
        let c = Cidr::parse("10.0.0.5/24").expect("cidr");
        assert_eq!(c.to_string(), "10.0.0.0/24");
        assert_eq!(c.last(), ip("10.0.0.255"));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("banana/8").is_none());
        let v6 = Cidr::parse("2001:db8::/64").expect("v6");
        assert_eq!(v6.last(), ip("2001:db8::ffff:ffff:ffff:ffff"));
        assert_eq!(
            Cidr::parse("0.0.0.0/0").expect("any").last(),
            ip("255.255.255.255")
        );
        assert_eq!(Cidr::parse("::/0").expect("any6").last(), u128::MAX);
    }

    #[test]
    fn overlap() {
        let a = Cidr::parse("10.0.0.0/24").expect("a");
        let b = Cidr::parse("10.0.0.128/25").expect("b");
        let c = Cidr::parse("10.0.1.0/24").expect("c");
        assert!(a.overlaps(&b) && !a.overlaps(&c));
    }

    #[test]
    fn default_pools_skip_gateway() {
        let c = Cidr::parse("10.0.0.0/28").expect("c");
        let p = default_pools(&c, Some(ip("10.0.0.1")));
        assert_eq!(
            p,
            vec![Pool {
                start: ip("10.0.0.2"),
                end: ip("10.0.0.14")
            }]
        );
        let p = default_pools(&c, Some(ip("10.0.0.5")));
        assert_eq!(p.len(), 2);
        let v6 = Cidr::parse("2001:db8::/64").expect("v6");
        let p = default_pools(&v6, Some(ip("2001:db8::1")));
        assert_eq!(p[0].start, ip("2001:db8::2"));
        assert_eq!(p[0].end, ip("2001:db8::ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn eui64_matches_rfc4291() {
        let c = Cidr::parse("2001:db8::/64").expect("c");
        let a = eui64(&c, "fa:16:3e:11:22:33").expect("eui");
        assert_eq!(u128_to_string(a, 6), "2001:db8::f816:3eff:fe11:2233");
    }
}
