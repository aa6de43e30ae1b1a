//! The address ranges a tenant's provider may not lead to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-purpose range `addr` is in, if it is not a public unicast address.
pub fn forbidden_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(addr: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = addr.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) | (192, 168, _) => "private",
        (172, 16..=31, _) => "private",
        (169, 254, _) => "link-local (cloud metadata)",
        (100, 64..=127, _) => "shared (carrier-grade NAT, cloud metadata)",
        (192, 0, 0) => "IETF protocol assignment",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn forbidden_v6(addr: Ipv6Addr) -> Option<&'static str> {
    if addr.is_loopback() {
        return Some("loopback");
    }
    if addr.is_unspecified() {
        return Some("unspecified");
    }
    // Addresses that carry an IPv4 address are judged by it: IPv4-mapped (::ffff:a.b.c.d),
    // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks), IPv4-translated
    // (::ffff:0:a.b.c.d, RFC 2765), well-known NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
    let segments = addr.segments();
    let low_v4 = || Ipv4Addr::from((u32::from(segments[6]) << 16) | u32::from(segments[7]));
    match segments[..6] {
        [0, 0, 0, 0, 0, 0] | [0, 0, 0, 0, 0xffff, 0] | [0, 0, 0, 0, 0, 0xffff] => {
            return forbidden_v4(low_v4());
        }
        [0x64, 0xff9b, 0, 0, 0, 0] => return forbidden_v4(low_v4()),
        _ => {}
    }
    if segments[0] == 0x2002 {
        return forbidden_v4(Ipv4Addr::from(
            (u32::from(segments[1]) << 16) | u32::from(segments[2]),
        ));
    }
    // Translators whose IPv4 address cannot be told without the operator's prefix length or is
    // obfuscated: refused whole.
    if segments[..3] == [0x64, 0xff9b, 1] {
        return Some("local-use NAT64 (64:ff9b:1::/48)");
    }
    if segments[..2] == [0x2001, 0] {
        return Some("Teredo (2001::/32)");
    }
    if segments[..4] == [0x100, 0, 0, 0] {
        return Some("discard-only (100::/64)");
    }
    Some(match segments[0] {
        0xfc00..=0xfdff => "unique-local (cloud metadata)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}
