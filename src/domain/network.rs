//! Address ranges: the proxies whose forwarding headers are believed, the network a client
//! belongs to (its /24 or /64), which login delays are counted per, and the blocks of IANA's
//! special-purpose registries (`special_addresses`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address and a prefix length, e.g. `10.0.0.0/8` or `2001:db8::/32`; a bare address is its
/// own range (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpRange {
        IpRange {
            base: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    pub const fn v6(segments: [u16; 8], prefix: u8) -> IpRange {
        let [a, b, c, d, e, f, g, h] = segments;
        IpRange {
            base: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the range, an IPv4 address written as IPv6 (`::ffff:a.b.c.d`, how a
    /// dual-stack socket reports IPv4 peers) counting as the IPv4 address it is.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.holds(canonical(ip))
    }

    /// Whether `ip` is in the range exactly as written: `::ffff:a.b.c.d` is an IPv6 address here,
    /// as the special-purpose registries (which list that block) need.
    pub fn holds(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                mask_v4(ip, self.prefix) == mask_v4(base, self.prefix)
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                mask_v6(ip, self.prefix) == mask_v6(base, self.prefix)
            }
            _ => false,
        }
    }

    /// Whether the range is written as its network address (no host bits set).
    pub fn is_network_address(&self) -> bool {
        match self.base {
            IpAddr::V4(base) => mask_v4(base, self.prefix) == base,
            IpAddr::V6(base) => mask_v6(base, self.prefix) == base,
        }
    }

    /// The network a client is counted in: its IPv4 /24 or IPv6 /64 (one home, one office, one
    /// mobile carrier's customer).
    pub fn client_network(ip: IpAddr) -> IpRange {
        match canonical(ip) {
            IpAddr::V4(v4) => IpRange {
                base: IpAddr::V4(mask_v4(v4, 24)),
                prefix: 24,
            },
            IpAddr::V6(v6) => IpRange {
                base: IpAddr::V6(mask_v6(v6, 64)),
                prefix: 64,
            },
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`, how a dual-stack socket reports IPv4
/// peers) is treated as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let bits = u32::from(ip);
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(bits & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(bits & mask)
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{raw}' is not an IP address or a range like 10.0.0.0/8"))?;
        let base = canonical(base);
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("'{raw}': the prefix length must be 0 to {max}")),
            },
        };
        Ok(IpRange { base, prefix })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses_only() {
        let r: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(r.contains(ip("10.200.3.4")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(r.contains(ip("::ffff:10.1.2.3")), "an IPv4-mapped peer");
        let one: IpRange = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
    }

    #[test]
    fn bad_ranges_say_why() {
        for bad in [
            "",
            "10.0.0.0/33",
            "2001:db8::/129",
            "example.org",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn clients_are_counted_per_network() {
        let a = IpRange::client_network(ip("198.51.100.7"));
        assert_eq!(a, IpRange::client_network(ip("198.51.100.200")));
        assert_ne!(a, IpRange::client_network(ip("198.51.101.7")));
        assert_eq!(a.to_string(), "198.51.100.0/24");
        let b = IpRange::client_network(ip("2001:db8:1:2:3:4:5:6"));
        assert_eq!(b.to_string(), "2001:db8:1:2::/64");
    }
}
