//! Who the client is, behind the reverse proxies the operator trusts (`--trusted-proxy`). Without
//! one, every client of a proxied Lethe would share the proxy's address: one login throttle for
//! all, and the proxy in every audit entry. Only the operator's proxies are believed: a header
//! sent by anyone else is ignored, and the chain is read from the right, so a client cannot put
//! an address of its choice in front of the real one.

use crate::domain::network::IpRange;
use actix_web::HttpRequest;
use std::net::{IpAddr, SocketAddr};

/// The client's address: the peer's, or, when the peer is a trusted proxy, the nearest address in
/// its forwarding chain that is not one of the trusted proxies.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<actix_web::web::Data<super::AppState>>()
        .map(|s| s.config.trusted_proxies.as_slice())
        .unwrap_or_default();
    if !is_trusted(trusted, peer) {
        return Some(peer);
    }
    let headers = req.headers();
    let chain = match headers.get("forwarded").and_then(|v| v.to_str().ok()) {
        Some(forwarded) => forwarded_chain(forwarded),
        None => headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(parse_hop).collect::<Vec<_>>())
            .collect(),
    };
    Some(nearest_untrusted(peer, trusted, &chain))
}

fn is_trusted(trusted: &[IpRange], ip: IpAddr) -> bool {
    trusted.iter().any(|r| r.contains(ip))
}

/// Walks the chain from the right (the hop our proxy saw) to the first address that is not a
/// trusted proxy. A hop that does not parse ends the walk at the last trusted address: what is
/// left of it was written by someone we do not trust.
fn nearest_untrusted(peer: IpAddr, trusted: &[IpRange], chain: &[Option<IpAddr>]) -> IpAddr {
    let mut nearest = peer;
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) if is_trusted(trusted, *ip) => nearest = *ip,
            Some(ip) => return *ip,
            None => return nearest,
        }
    }
    nearest
}

/// The `for=` addresses of a `Forwarded` header (RFC 7239), in order.
fn forwarded_chain(header: &str) -> Vec<Option<IpAddr>> {
    header
        .split(',')
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, value)| parse_hop(value))
        })
        .collect()
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"');
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            raw.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies() -> Vec<IpRange> {
        vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1".parse().unwrap()]
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let chain = [
            Some(ip("198.51.100.1")),
            Some(ip("203.0.113.9")),
            Some(ip("10.0.0.5")),
        ];
        assert_eq!(
            nearest_untrusted(ip("127.0.0.1"), &proxies(), &chain),
            ip("203.0.113.9"),
            "the address the client put first is not believed"
        );
        assert_eq!(
            nearest_untrusted(ip("127.0.0.1"), &proxies(), &[]),
            ip("127.0.0.1")
        );
        assert_eq!(
            nearest_untrusted(ip("127.0.0.1"), &proxies(), &[Some(ip("10.1.1.1"))]),
            ip("10.1.1.1"),
            "all trusted: the farthest proxy"
        );
        assert_eq!(
            nearest_untrusted(
                ip("127.0.0.1"),
                &proxies(),
                &[Some(ip("203.0.113.9")), None]
            ),
            ip("127.0.0.1"),
            "an unreadable hop stops the walk"
        );
    }

    #[test]
    fn headers_are_read_in_both_forms() {
        assert_eq!(
            forwarded_chain(
                "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\""
            ),
            [Some(ip("192.0.2.60")), Some(ip("2001:db8:cafe::17"))]
        );
        assert_eq!(forwarded_chain("for=unknown"), [None]);
        assert_eq!(parse_hop(" 192.0.2.1:4711"), Some(ip("192.0.2.1")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("example.org"), None);
    }
}
