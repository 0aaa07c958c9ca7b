//! The client address behind trusted proxies, from `Forwarded` (RFC 7239) or
//! `X-Forwarded-For`, as [`ClientIpHeader`] says.
//!
//! Only a peer in `[forwarding] trusted_proxies` is believed at all: anyone
//! else's headers are the client's own words and the peer is the client. The
//! hops are read right to left (the nearest proxy appends last), trusted
//! proxies are skipped, and the first untrusted address is the client; hops
//! further left were written by that client and could be anything. A
//! malformed, empty, obfuscated (`_hidden`) or `unknown` node where the client
//! should be leaves the peer as the client: nothing to the left of it can be
//! believed. When every hop is a trusted proxy, the leftmost one is the client.
//! Several headers of one kind read as one list, in order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Which header names the client behind a trusted proxy
/// (`[behaviour] client_ip_header`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// Whichever of the two is present. When both are and they name different
    /// clients, `X-Forwarded-For` (what most proxies write): a proxy that
    /// writes only one of them passes the other through from the client
    /// unchanged, and that one could say anything.
    #[default]
    Auto,
    /// `Forwarded` only.
    Forwarded,
    /// `X-Forwarded-For` only.
    XForwardedFor,
}

/// The client address for a request from `peer` (see the module doc).
pub fn client_ip(
    peer: IpAddr,
    peer_trusted: bool,
    headers: &[(&[u8], &[u8])],
    trusted: &[IpNet],
    source: ClientIpHeader,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !peer_trusted {
        return peer;
    }
    let fwd = || walk(peer, headers, trusted, b"forwarded", forwarded_hops);
    let xff = || walk(peer, headers, trusted, b"x-forwarded-for", xff_hops);
    match source {
        ClientIpHeader::Forwarded => fwd().unwrap_or(peer),
        ClientIpHeader::XForwardedFor => xff().unwrap_or(peer),
        ClientIpHeader::Auto => match (fwd(), xff()) {
            (_, Some(x)) => x,
            (Some(f), None) => f,
            (None, None) => peer,
        },
    }
}

/// The client by the headers named `name`; `None` when there are none.
fn walk(
    peer: IpAddr,
    headers: &[(&[u8], &[u8])],
    trusted: &[IpNet],
    name: &[u8],
    hops: fn(&[u8], &mut Walk<'_>),
) -> Option<IpAddr> {
    let mut walk = Walk {
        trusted,
        cand: Cand::None,
        leftmost: None,
    };
    let mut present = false;
    for (_, v) in headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
        present = true;
        hops(v, &mut walk);
    }
    present.then(|| match walk.cand {
        Cand::Addr(ip) => ip,
        Cand::Bad => peer,
        Cand::None => walk.leftmost.unwrap_or(peer),
    })
}

fn xff_hops(v: &[u8], walk: &mut Walk<'_>) {
    for item in v.split(|&c| c == b',') {
        walk.hop(node(trim(item)));
    }
}

/// One left-to-right pass that ends with the answer a right-to-left walk
/// would give: the last untrusted hop, unless a bad hop comes after it.
struct Walk<'t> {
    trusted: &'t [IpNet],
    cand: Cand,
    leftmost: Option<IpAddr>,
}

enum Cand {
    None,
    Addr(IpAddr),
    Bad,
}

impl Walk<'_> {
    fn hop(&mut self, addr: Option<IpAddr>) {
        match addr {
            Some(ip) => {
                self.leftmost.get_or_insert(ip);
                if !self.trusted.iter().any(|n| n.contains(&ip)) {
                    self.cand = Cand::Addr(ip);
                }
            }
            None => self.cand = Cand::Bad,
        }
    }
}

/// Feeds the `for=` node of each element of one `Forwarded` value; an element
/// without `for=` is a hop whose client is unknown.
fn forwarded_hops(v: &[u8], walk: &mut Walk<'_>) {
    let mut i = 0;
    while i <= v.len() {
        // One element: up to an unquoted ','.
        let mut node_of_element: Option<Option<IpAddr>> = None;
        let mut quoted = false;
        let mut pair_start = i;
        let mut j = i;
        loop {
            let c = v.get(j).copied();
            match c {
                Some(b'"') => quoted = !quoted,
                Some(b'\\') if quoted => j += 1,
                Some(b';') | Some(b',') | None if !quoted || c.is_none() => {
                    let pair = trim(&v[pair_start..j.min(v.len())]);
                    if let Some(eq) = pair.iter().position(|&c| c == b'=') {
                        if trim(&pair[..eq]).eq_ignore_ascii_case(b"for") {
                            node_of_element = Some(node(unquote(trim(&pair[eq + 1..]))));
                        }
                    }
                    pair_start = j + 1;
                    if c != Some(b';') {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        walk.hop(node_of_element.flatten());
        i = j + 1;
    }
}

fn unquote(v: &[u8]) -> &[u8] {
    match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    }
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// An address node: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`,
/// `[2001:db8::1]:8080`, or a bare IPv6 address. `None` for anything else
/// (including `unknown` and obfuscated `_name` identifiers).
fn node(v: &[u8]) -> Option<IpAddr> {
    if let Some(rest) = v.strip_prefix(b"[") {
        let end = rest.iter().position(|&c| c == b']')?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || valid_port(after.strip_prefix(b":")?)) {
            return None;
        }
        let ip: Ipv6Addr = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        return Some(IpAddr::V6(ip).to_canonical());
    }
    let s = std::str::from_utf8(v).ok()?;
    match s.bytes().filter(|&c| c == b':').count() {
        0 => s.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        1 => {
            let (host, port) = s.split_once(':')?;
            if !valid_port(port.as_bytes()) {
                return None;
            }
            host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        }
        _ => s
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical()),
    }
}

/// A port number, or an RFC 7239 obfuscated port (`_abc`).
fn valid_port(p: &[u8]) -> bool {
    match p.first() {
        Some(b'_') => p[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-')),
        Some(_) => {
            p.len() <= 5
                && p.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(p).is_ok_and(|s| s.parse::<u16>().is_ok())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PEER: &str = "10.0.0.5";

    fn resolve(headers: &[(&str, &str)], trusted: &[&str]) -> IpAddr {
        resolve_by(headers, trusted, ClientIpHeader::Auto)
    }

    fn resolve_by(headers: &[(&str, &str)], trusted: &[&str], by: ClientIpHeader) -> IpAddr {
        let h: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        let t = nets(trusted);
        let peer = ip(PEER);
        let peer_trusted = t.iter().any(|n| n.contains(&peer));
        client_ip(peer, peer_trusted, &h, &t, by)
    }

    #[test]
    fn spoofed_headers_from_an_untrusted_peer_are_ignored() {
        let h = [("X-Forwarded-For", "1.2.3.4"), ("Forwarded", "for=5.6.7.8")];
        assert_eq!(resolve(&h, &["192.168.0.0/16"]), ip(PEER));
        assert_eq!(resolve(&h, &[]), ip(PEER));
    }

    #[test]
    fn xff_chain_skips_trusted_hops_from_the_right() {
        let t = ["10.0.0.0/8"];
        // The client forged "6.6.6.6"; the proxy appended the real 203.0.113.9.
        let h = [("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.1.1.1")];
        assert_eq!(resolve(&h, &t), ip("203.0.113.9"));
        // Several headers are one list, in order.
        let h = [
            ("x-forwarded-for", "6.6.6.6"),
            ("X-Forwarded-For", "203.0.113.9 , 10.2.2.2"),
        ];
        assert_eq!(resolve(&h, &t), ip("203.0.113.9"));
        // Ports and bracketed IPv6.
        let h = [("X-Forwarded-For", "[2001:db8::7]:443, 10.1.1.1:80")];
        assert_eq!(resolve(&h, &t), ip("2001:db8::7"));
        // Every hop trusted: the leftmost is the client.
        let h = [("X-Forwarded-For", "10.9.9.9, 10.1.1.1")];
        assert_eq!(resolve(&h, &t), ip("10.9.9.9"));
        // No header at all: the peer.
        assert_eq!(resolve(&[], &t), ip(PEER));
        // IPv4-mapped IPv6 compares as IPv4.
        let h = [("X-Forwarded-For", "::ffff:198.51.100.1")];
        assert_eq!(resolve(&h, &t), ip("198.51.100.1"));
    }

    #[test]
    fn malformed_hops_fall_back_to_the_peer() {
        let t = ["10.0.0.0/8"];
        for bad in [
            "not-an-ip",
            "1.2.3.4, garbage",
            "1.2.3.4,,10.1.1.1",
            "1.2.3.4:99999",
            "",
            "unknown",
        ] {
            let h = [("X-Forwarded-For", bad)];
            assert_eq!(resolve(&h, &t), ip(PEER), "{bad:?}");
        }
        // Garbage left of the client does not matter: it is never reached.
        let h = [("X-Forwarded-For", "garbage, 203.0.113.9, 10.1.1.1")];
        assert_eq!(resolve(&h, &t), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_rfc7239_nodes() {
        let t = ["10.0.0.0/8"];
        let h = [(
            "Forwarded",
            r#"for=6.6.6.6, For="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1, for=10.1.1.1"#,
        )];
        assert_eq!(resolve(&h, &t), ip("2001:db8:cafe::17"));
        let h = [("Forwarded", r#"for="192.0.2.60:8080";proto=http"#)];
        assert_eq!(resolve(&h, &t), ip("192.0.2.60"));
        let h = [("Forwarded", r#"for="[2001:db8::1]""#)];
        assert_eq!(resolve(&h, &t), ip("2001:db8::1"));
        // Both present: X-Forwarded-For unless configured otherwise (a
        // proxy writing only XFF passes a forged Forwarded through).
        let h = [
            ("Forwarded", "for=192.0.2.66"),
            ("X-Forwarded-For", "198.51.100.1, 10.0.0.9"),
        ];
        assert_eq!(resolve(&h, &t), ip("198.51.100.1"));
        assert_eq!(
            resolve_by(&h, &t, ClientIpHeader::Forwarded),
            ip("192.0.2.66")
        );
        assert_eq!(
            resolve_by(&h, &t, ClientIpHeader::XForwardedFor),
            ip("198.51.100.1")
        );
        // Configured to one header, the other is never read.
        let h = [("X-Forwarded-For", "198.51.100.1")];
        assert_eq!(resolve_by(&h, &t, ClientIpHeader::Forwarded), ip(PEER));
        let h = [("Forwarded", "for=192.0.2.1")];
        assert_eq!(resolve_by(&h, &t, ClientIpHeader::XForwardedFor), ip(PEER));
        // Several Forwarded headers form one list.
        let h = [
            ("Forwarded", "for=192.0.2.1"),
            ("forwarded", "for=10.3.3.3;proto=https"),
        ];
        assert_eq!(resolve(&h, &t), ip("192.0.2.1"));
    }

    #[test]
    fn forwarded_obfuscated_or_missing_nodes_keep_the_peer() {
        let t = ["10.0.0.0/8"];
        for v in [
            "for=_hidden",
            "for=unknown",
            "for=192.0.2.1, for=_gazonk",
            "proto=https",
            r#"for="[2001:db8::1"#,
            r#"for="[2001:db8::1]:x""#,
            "for=2001:db8::zz",
        ] {
            let h = [("Forwarded", v)];
            assert_eq!(resolve(&h, &t), ip(PEER), "{v:?}");
        }
        // Obfuscated left of the client is never reached; an obfuscated port is fine.
        let h = [("Forwarded", "for=_x, for=\"192.0.2.9:_p1\", for=10.1.1.1")];
        assert_eq!(resolve(&h, &t), ip("192.0.2.9"));
    }
}
