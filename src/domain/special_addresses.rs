//! Which IP addresses are special-purpose, as IANA's registries list them. Outgoing requests to
//! operator-given URLs (webhooks) may reach only addresses that are in none of these blocks.
//!
//! Transcribed for issue 15 on 2026-11-27 from:
//! - the IANA IPv4 Special-Purpose Address Registry
//!   <https://www.iana.org/assignments/iana-ipv4-special-registry/>
//! - the IANA IPv6 Special-Purpose Address Registry
//!   <https://www.iana.org/assignments/iana-ipv6-special-registry/>
//! - for what those two leave to other registries: multicast (the IPv4 Multicast Address Space
//!   Registry's 224.0.0.0/4) and the IANA IPv6 Address Space Registry, whose blocks outside
//!   `2000::/3` (Global Unicast) are reserved, unique-local, link-local, the deprecated site-local
//!   `fec0::/10` or multicast; they hold the IPv4-compatible `::a.b.c.d` and the IPv4-translated
//!   `::ffff:0:a.b.c.d` forms too.
//!
//! Every block is refused, also the few the registry marks globally reachable: those are anycast
//! service addresses (PCP, TURN, AS112, AMT, DNS-SD) and identifier spaces, never a webhook
//! receiver, and the IPv6 forms that carry an IPv4 address inside (NAT64 `64:ff9b::/96`, Teredo
//! `2001::/32`, 6to4 `2002::/16`) would let a request reach any IPv4 address, private ones
//! included, through a translator.

use super::network::IpRange;
use std::net::IpAddr;

/// One registry entry: a block and the registry's name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub range: IpRange,
    pub name: &'static str,
    /// Where it is defined, as the registry cites it.
    pub reference: &'static str,
}

const fn v4(
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    prefix: u8,
    name: &'static str,
    reference: &'static str,
) -> Block {
    Block {
        range: IpRange::v4(a, b, c, d, prefix),
        name,
        reference,
    }
}

const fn v6(segments: [u16; 8], prefix: u8, name: &'static str, reference: &'static str) -> Block {
    Block {
        range: IpRange::v6(segments, prefix),
        name,
        reference,
    }
}

pub const IPV4: &[Block] = &[
    v4(0, 0, 0, 0, 8, "\"This network\"", "RFC 791"),
    v4(0, 0, 0, 0, 32, "\"This host on this network\"", "RFC 1122"),
    v4(10, 0, 0, 0, 8, "Private-Use", "RFC 1918"),
    v4(100, 64, 0, 0, 10, "Shared Address Space", "RFC 6598"),
    v4(127, 0, 0, 0, 8, "Loopback", "RFC 1122"),
    v4(169, 254, 0, 0, 16, "Link Local", "RFC 3927"),
    v4(172, 16, 0, 0, 12, "Private-Use", "RFC 1918"),
    v4(192, 0, 0, 0, 24, "IETF Protocol Assignments", "RFC 6890"),
    v4(
        192,
        0,
        0,
        0,
        29,
        "IPv4 Service Continuity Prefix",
        "RFC 7335",
    ),
    v4(192, 0, 0, 8, 32, "IPv4 dummy address", "RFC 7600"),
    v4(
        192,
        0,
        0,
        9,
        32,
        "Port Control Protocol Anycast",
        "RFC 7723",
    ),
    v4(
        192,
        0,
        0,
        10,
        32,
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
    ),
    v4(192, 0, 0, 170, 32, "NAT64/DNS64 Discovery", "RFC 8880"),
    v4(192, 0, 0, 171, 32, "NAT64/DNS64 Discovery", "RFC 8880"),
    v4(192, 0, 2, 0, 24, "Documentation (TEST-NET-1)", "RFC 5737"),
    v4(192, 31, 196, 0, 24, "AS112-v4", "RFC 7535"),
    v4(192, 52, 193, 0, 24, "AMT", "RFC 7450"),
    v4(
        192,
        88,
        99,
        0,
        24,
        "Deprecated (6to4 Relay Anycast)",
        "RFC 7526",
    ),
    v4(192, 88, 99, 2, 32, "6a44-relay anycast address", "RFC 6751"),
    v4(192, 168, 0, 0, 16, "Private-Use", "RFC 1918"),
    v4(
        192,
        175,
        48,
        0,
        24,
        "Direct Delegation AS112 Service",
        "RFC 7534",
    ),
    v4(198, 18, 0, 0, 15, "Benchmarking", "RFC 2544"),
    v4(
        198,
        51,
        100,
        0,
        24,
        "Documentation (TEST-NET-2)",
        "RFC 5737",
    ),
    v4(203, 0, 113, 0, 24, "Documentation (TEST-NET-3)", "RFC 5737"),
    v4(240, 0, 0, 0, 4, "Reserved", "RFC 1112"),
    v4(255, 255, 255, 255, 32, "Limited Broadcast", "RFC 8190"),
    // IPv4 Multicast Address Space Registry.
    v4(224, 0, 0, 0, 4, "Multicast", "RFC 5771"),
];

/// The IPv6 Special-Purpose Address Registry, in its order, then the IPv6 Address Space
/// Registry's blocks outside Global Unicast (`2000::/3`).
pub const IPV6: &[Block] = &[
    v6(
        [0, 0, 0, 0, 0, 0, 0, 1],
        128,
        "Loopback Address",
        "RFC 4291",
    ),
    v6([0; 8], 128, "Unspecified Address", "RFC 4291"),
    v6(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        "IPv4-mapped Address",
        "RFC 4291",
    ),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-IPv6 Translat.",
        "RFC 6052",
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "IPv4-IPv6 Translat.",
        "RFC 8215",
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        64,
        "Discard-Only Address Block",
        "RFC 6666",
    ),
    v6(
        [0x100, 0, 0, 1, 0, 0, 0, 0],
        64,
        "Dummy IPv6 Prefix",
        "RFC 9780",
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF Protocol Assignments",
        "RFC 2928",
    ),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "TEREDO", "RFC 4380"),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 1],
        128,
        "Port Control Protocol Anycast",
        "RFC 7723",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 2],
        128,
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 3],
        128,
        "DNS-SD Service Registration Protocol Anycast",
        "RFC 9665",
    ),
    v6(
        [0x2001, 2, 0, 0, 0, 0, 0, 0],
        48,
        "Benchmarking",
        "RFC 5180",
    ),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT", "RFC 7450"),
    v6(
        [0x2001, 4, 0x112, 0, 0, 0, 0, 0],
        48,
        "AS112-v6",
        "RFC 7535",
    ),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        "Deprecated (previously ORCHID)",
        "RFC 4843",
    ),
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2", "RFC 7343"),
    v6(
        [0x2001, 0x30, 0, 0, 0, 0, 0, 0],
        28,
        "Drone Remote ID Protocol Entity Tags (DETs) Prefix",
        "RFC 9374",
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "Documentation",
        "RFC 3849",
    ),
    v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16, "6to4", "RFC 3056"),
    v6(
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "Direct Delegation AS112 Service",
        "RFC 7534",
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "Documentation",
        "RFC 9637",
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "Segment Routing (SRv6) SIDs",
        "RFC 9602",
    ),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "Unique-Local", "RFC 4193"),
    v6(
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        "Link-Local Unicast",
        "RFC 4291",
    ),
    // IPv6 Address Space Registry: everything but 2000::/3 is not global unicast.
    v6(
        [0; 8],
        8,
        "Reserved by IETF (IPv4-compatible and -translated forms)",
        "RFC 4291",
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        8,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0x200, 0, 0, 0, 0, 0, 0, 0],
        7,
        "Reserved by IETF",
        "RFC 4048",
    ),
    v6(
        [0x400, 0, 0, 0, 0, 0, 0, 0],
        6,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0x800, 0, 0, 0, 0, 0, 0, 0],
        5,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0x1000, 0, 0, 0, 0, 0, 0, 0],
        4,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0x4000, 0, 0, 0, 0, 0, 0, 0],
        3,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0x6000, 0, 0, 0, 0, 0, 0, 0],
        3,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0x8000, 0, 0, 0, 0, 0, 0, 0],
        3,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xa000, 0, 0, 0, 0, 0, 0, 0],
        3,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xc000, 0, 0, 0, 0, 0, 0, 0],
        3,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xe000, 0, 0, 0, 0, 0, 0, 0],
        4,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xf000, 0, 0, 0, 0, 0, 0, 0],
        5,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xf800, 0, 0, 0, 0, 0, 0, 0],
        6,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xfe00, 0, 0, 0, 0, 0, 0, 0],
        9,
        "Reserved by IETF",
        "RFC 4291",
    ),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "Reserved by IETF (formerly Site-Local)",
        "RFC 3879",
    ),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "Multicast", "RFC 4291"),
];

/// The most specific special-purpose block `ip` falls in, or None for an ordinary address.
pub fn block_of(ip: IpAddr) -> Option<(&'static str, &'static str)> {
    // An IPv4 block never holds an IPv6 address nor the other way round, so both lists are
    // searched; `holds` keeps `::ffff:a.b.c.d` in the IPv6 registry's IPv4-mapped block.
    IPV4.iter()
        .chain(IPV6)
        .filter(|b| b.range.holds(ip))
        .max_by_key(|b| b.range.prefix())
        .map(|b| (b.name, b.reference))
}

/// Whether an outgoing request may go to `ip`: it is in no special-purpose block.
pub fn is_ordinary(ip: IpAddr) -> bool {
    block_of(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> bool {
        !is_ordinary(s.parse().unwrap())
    }

    #[test]
    fn every_range_the_issue_names_is_refused() {
        for ip in [
            // NAT64, with the metadata address inside, and the local-use prefix.
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a9fe:a9fe",
            // 6to4 of 127.0.0.1 and of 10.0.0.1.
            "2002:7f00:1::",
            "2002:a00:1::1",
            // IPv4-compatible, IPv4-mapped and IPv4-translated forms.
            "::127.0.0.1",
            "::169.254.169.254",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::ffff:0:127.0.0.1",
            "::ffff:0:8.8.8.8",
            // Teredo and the rest of 2001::/23.
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:1ff:ffff::1",
            // Deprecated site-local, discard-only, ULA, link-local, loopback, unspecified.
            "fec0::1",
            "feff::1",
            "100::1",
            "100::ffff:ffff:ffff:ffff",
            "fd00::1",
            "fe80::1",
            "::1",
            "::",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            // IPv4.
            "192.0.0.1",
            "192.0.0.255",
            "192.88.99.1",
            "192.88.99.255",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn ordinary_addresses_next_to_the_blocks_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2a00:1450:4001:80b::200e",
            "2606:4700:4700::1111",
            "2001:200::1",
            "2003::1",
            "3ffe::1",
        ] {
            assert!(!refused(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn the_most_specific_entry_names_the_block() {
        assert_eq!(
            block_of("2001::1".parse().unwrap()),
            Some(("TEREDO", "RFC 4380"))
        );
        assert_eq!(
            block_of("192.0.0.9".parse().unwrap()),
            Some(("Port Control Protocol Anycast", "RFC 7723"))
        );
        assert_eq!(
            block_of("fec0::1".parse().unwrap()).map(|b| b.0),
            Some("Reserved by IETF (formerly Site-Local)")
        );
    }

    #[test]
    fn every_block_is_written_as_its_network_address() {
        // A block with host bits set would be a typo in the transcription.
        for b in IPV4.iter().chain(IPV6) {
            assert!(b.range.is_network_address(), "{b:?}");
        }
        // Each list holds its own family, with prefixes that fit it.
        let v4: Vec<String> = IPV4.iter().map(|b| b.range.to_string()).collect();
        assert!(v4.iter().all(|r| !r.contains(':')), "{v4:?}");
        assert!(IPV4.iter().all(|b| b.range.prefix() <= 32));
        assert!(IPV6.iter().all(|b| b.range.to_string().contains(':')));
        assert!(IPV6.iter().all(|b| b.range.prefix() <= 128));
    }
}
