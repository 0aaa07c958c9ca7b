//! Builds the heads we send: the request head for the upstream and the response
//! head for the client. Start lines and every kept field are copied from the
//! bytes we parsed, so what we validated is exactly what goes out; hop-by-hop
//! fields are dropped and the gateway's own fields appended.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::request::{is_hop_by_hop, RequestHead};
use super::response::ResponseHead;
use super::{find_crlf_end, list_elements, Out, Version};

pub struct ForwardContext<'a> {
    pub client_addr: IpAddr,
    /// "http" | "https"
    pub proto: &'static str,
    pub request_id: &'a [u8],
    /// The client is a trusted proxy: keep its forwarding headers and append.
    pub trust_incoming: bool,
    /// The gateway answered 100-continue itself: drop Expect.
    pub strip_expect: bool,
    /// Add `Connection: close`.
    pub close_upstream: bool,
    /// Add our RFC 7239 `Forwarded` element (config `forwarding.add_forwarded`).
    pub add_forwarded: bool,
    /// Response policies read response bodies: drop `Accept-Encoding` so the
    /// upstream answers uncompressed (a client asking for gzip must not hide
    /// a leak from them).
    pub strip_accept_encoding: bool,
}

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("rewritten head does not fit in {capacity} bytes")]
pub struct HeadTooLarge {
    pub capacity: usize,
}

/// Headers a Connection token may never remove. `Connection: content-length`
/// would otherwise strip the framing of a body we still forward verbatim, and
/// `Connection: host` would strip routing: both turn hop-by-hop semantics into a
/// smuggling primitive.
const NEVER_NOMINATED: [&str; 3] = ["content-length", "transfer-encoding", "host"];

/// Is `name` listed in any Connection header (RFC 9110 §7.6.1)? `any_connection`
/// short-circuits the common case so the per-header cost stays O(1) when there
/// is no Connection header to consult.
fn nominated(headers: &[httparse::Header<'_>], any_connection: bool, name: &str) -> bool {
    if !any_connection || NEVER_NOMINATED.iter().any(|n| name.eq_ignore_ascii_case(n)) {
        return false;
    }
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .any(|h| list_elements(h.value).any(|t| t.eq_ignore_ascii_case(name.as_bytes())))
}

/// The start line as received, CRLF included, skipping the one leading CRLF the
/// parsers tolerate.
fn start_line(raw: &[u8]) -> &[u8] {
    let start = if raw.starts_with(b"\r\n") { 2 } else { 0 };
    match find_crlf_end(raw, start) {
        Some(end) => &raw[start..end],
        None => &raw[start..],
    }
}

fn is_forwarding_header(name: &str) -> bool {
    [
        "x-forwarded-for",
        "forwarded",
        "x-forwarded-proto",
        "x-request-id",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

fn write_ip(out: &mut Out<'_>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.put(b".");
                }
                out.put_u64(u64::from(*o));
            }
        }
        // Display for Ipv6Addr does RFC 5952 compression and writes through
        // fmt::Write into our fixed buffer: no allocation.
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Writes the request head to send upstream. `raw` is the buffer `head` was
/// parsed from. Returns the number of bytes written to `out`.
pub fn write_upstream_request_head(
    head: &RequestHead<'_, '_>,
    raw: &[u8],
    ctx: &ForwardContext<'_>,
    out: &mut [u8],
) -> Result<usize, HeadTooLarge> {
    let capacity = out.len();
    let mut o = Out::new(out);
    o.put(start_line(raw));

    let mut incoming_xff = false;
    let mut incoming_fwd = false;
    let mut incoming_proto = false;
    let mut incoming_id = false;
    let any_connection = head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("connection"));
    for h in head.headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade") {
            // Re-emitted after our Connection header when upgrading.
            continue;
        }
        if is_hop_by_hop(name) || nominated(head.headers, any_connection, name) {
            continue;
        }
        if ctx.strip_expect && name.eq_ignore_ascii_case("expect") {
            continue;
        }
        if ctx.strip_accept_encoding && name.eq_ignore_ascii_case("accept-encoding") {
            continue;
        }
        if is_forwarding_header(name) {
            if !ctx.trust_incoming {
                // Untrusted clients do not get to claim an origin address.
                continue;
            }
            if name.eq_ignore_ascii_case("x-forwarded-for") {
                // Merged into our single line below so the chain stays ordered.
                incoming_xff = true;
                continue;
            }
            if name.eq_ignore_ascii_case("forwarded") {
                incoming_fwd = true;
                continue;
            }
            incoming_proto |= name.eq_ignore_ascii_case("x-forwarded-proto");
            incoming_id |= name.eq_ignore_ascii_case("x-request-id");
        }
        o.header(name.as_bytes(), h.value);
    }

    o.put(b"X-Forwarded-For: ");
    if incoming_xff {
        put_joined(&mut o, head.headers, "x-forwarded-for");
        o.put(b", ");
    }
    write_ip(&mut o, ctx.client_addr);
    o.put(b"\r\n");

    if !incoming_proto {
        o.header(b"X-Forwarded-Proto", ctx.proto.as_bytes());
    }

    if ctx.add_forwarded {
        o.put(b"Forwarded: ");
        if incoming_fwd {
            put_joined(&mut o, head.headers, "forwarded");
            o.put(b", ");
        }
        // RFC 7239 §6: IPv6 node names are bracketed and then must be quoted.
        match ctx.client_addr {
            IpAddr::V4(_) => {
                o.put(b"for=");
                write_ip(&mut o, ctx.client_addr);
            }
            IpAddr::V6(_) => {
                o.put(b"for=\"[");
                write_ip(&mut o, ctx.client_addr);
                o.put(b"]\"");
            }
        }
        o.put(b";proto=");
        o.put(ctx.proto.as_bytes());
        o.put(b"\r\n");
    } else if incoming_fwd {
        // A trusted proxy's Forwarded chain is still passed on, without our element.
        o.put(b"Forwarded: ");
        put_joined(&mut o, head.headers, "forwarded");
        o.put(b"\r\n");
    }

    if !incoming_id {
        o.header(b"X-Request-Id", ctx.request_id);
    }

    if head.upgrade {
        // An upgraded connection never returns to the pool, so close_upstream
        // is moot here and `upgrade, close` would only confuse servers.
        o.put(b"Connection: upgrade\r\n");
        for h in head
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("upgrade"))
        {
            o.header(h.name.as_bytes(), h.value);
        }
    } else if ctx.close_upstream {
        o.put(b"Connection: close\r\n");
    }
    o.put(b"\r\n");

    if o.overflowed() {
        Err(HeadTooLarge { capacity })
    } else {
        Ok(o.pos())
    }
}

/// Joins the values of every `name` header with ", " (RFC 9110 §5.3 makes that
/// equivalent to the separate lines).
fn put_joined(o: &mut Out<'_>, headers: &[httparse::Header<'_>], name: &str) {
    let mut first = true;
    for h in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)) {
        if !first {
            o.put(b", ");
        }
        o.put(h.value);
        first = false;
    }
}

/// Writes the response head to send to the client. `raw` is the buffer `head`
/// was parsed from.
///
/// Interim (1xx other than 101) heads get no Connection or X-Request-Id: those
/// belong on the final response.
pub fn write_client_response_head(
    head: &ResponseHead<'_, '_>,
    raw: &[u8],
    client_keep_alive: bool,
    client_version: Version,
    request_id: &[u8],
    out: &mut [u8],
) -> Result<usize, HeadTooLarge> {
    let capacity = out.len();
    let mut o = Out::new(out);
    o.put(start_line(raw));

    let mut upstream_id = false;
    let any_connection = head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("connection"));
    for h in head.headers {
        let name = h.name;
        let keep_upgrade = head.switching_protocols && name.eq_ignore_ascii_case("upgrade");
        if !keep_upgrade && (is_hop_by_hop(name) || nominated(head.headers, any_connection, name)) {
            continue;
        }
        upstream_id |= name.eq_ignore_ascii_case("x-request-id");
        o.header(name.as_bytes(), h.value);
    }

    if head.switching_protocols {
        o.put(b"Connection: upgrade\r\n");
    } else if !head.informational {
        if !client_keep_alive {
            o.put(b"Connection: close\r\n");
        } else if client_version == Version::Http10 {
            // 1.0 clients assume close unless told otherwise.
            o.put(b"Connection: keep-alive\r\n");
        }
    }
    if !head.informational && !upstream_id {
        o.header(b"X-Request-Id", request_id);
    }
    o.put(b"\r\n");

    if o.overflowed() {
        Err(HeadTooLarge { capacity })
    } else {
        Ok(o.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::super::request::{parse_request, HeadLimits};
    use super::super::response::parse_response;
    use super::super::Parsed;
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LIMITS: HeadLimits = HeadLimits {
        max_header_bytes: 8192,
        max_headers: 32,
        max_target_bytes: 2048,
    };

    fn ctx(ip: IpAddr) -> ForwardContext<'static> {
        ForwardContext {
            add_forwarded: true,
            client_addr: ip,
            proto: "https",
            request_id: b"0123456789abcdef",
            trust_incoming: false,
            strip_expect: false,
            close_upstream: false,
            strip_accept_encoding: false,
        }
    }

    fn up(raw: &[u8], c: &ForwardContext<'_>) -> String {
        let mut hdrs = [httparse::EMPTY_HEADER; 32];
        let Ok(Parsed::Complete(h)) = parse_request(raw, &mut hdrs, &LIMITS) else {
            panic!("parse failed");
        };
        let mut out = [0u8; 2048];
        let n = write_upstream_request_head(&h, raw, c, &mut out).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn simple_get_byte_for_byte() {
        let raw = b"GET /a?b HTTP/1.1\r\nHost: api\r\nAccept:  */*\r\nX-Forwarded-For: 6.6.6.6\r\nX-Request-Id: spoof\r\n\r\n";
        assert_eq!(
            up(raw, &ctx(V4)),
            "GET /a?b HTTP/1.1\r\nHost: api\r\nAccept: */*\r\n\
             X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\
             Forwarded: for=192.0.2.7;proto=https\r\nX-Request-Id: 0123456789abcdef\r\n\r\n"
        );
    }

    #[test]
    fn forwarded_can_be_turned_off_but_trusted_chain_passes() {
        let raw = b"GET / HTTP/1.1\r\nHost: api\r\nForwarded: for=1.1.1.1\r\n\r\n";
        let mut c = ctx(V4);
        c.add_forwarded = false;
        assert!(!up(raw, &c).contains("Forwarded: for"), "{}", up(raw, &c));
        c.trust_incoming = true;
        let out = up(raw, &c);
        assert!(out.contains("Forwarded: for=1.1.1.1\r\n"), "{out}");
        assert!(!out.contains("192.0.2.7;proto"), "{out}");
    }

    #[test]
    fn hop_by_hop_and_nominated_dropped() {
        let raw = b"\r\nPOST /p HTTP/1.1\r\nHost: api\r\nConnection: keep-alive, X-Secret, content-length\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: X\r\nProxy-Connection: x\r\nUpgrade: h2c\r\nx-secret: 1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc";
        let mut c = ctx(V4);
        c.strip_expect = true;
        c.close_upstream = true;
        assert_eq!(
            up(raw, &c),
            "POST /p HTTP/1.1\r\nHost: api\r\nContent-Length: 3\r\n\
             X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\
             Forwarded: for=192.0.2.7;proto=https\r\nX-Request-Id: 0123456789abcdef\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn accept_encoding_is_dropped_only_when_asked() {
        let raw = b"GET / HTTP/1.1\r\nHost: api\r\nAccept-Encoding: gzip, br\r\n\r\n";
        let mut c = ctx(V4);
        assert!(up(raw, &c).contains("Accept-Encoding: gzip, br\r\n"));
        c.strip_accept_encoding = true;
        assert!(!up(raw, &c).to_ascii_lowercase().contains("accept-encoding"));
    }

    #[test]
    fn trusted_proxy_appends_ipv6() {
        let raw = b"GET / HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2, 3.3.3.3\r\nForwarded: for=1.1.1.1\r\nX-Forwarded-Proto: http\r\nX-Request-Id: abc\r\n\r\n";
        let mut c = ctx(IpAddr::V6(Ipv6Addr::LOCALHOST));
        c.trust_incoming = true;
        assert_eq!(
            up(raw, &c),
            "GET / HTTP/1.1\r\nHost: api\r\nX-Forwarded-Proto: http\r\nX-Request-Id: abc\r\n\
             X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, ::1\r\n\
             Forwarded: for=1.1.1.1, for=\"[::1]\";proto=https\r\n\r\n"
        );
    }

    #[test]
    fn websocket_upgrade_and_expect_kept() {
        let raw = b"GET /ws HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n";
        let mut c = ctx(V4);
        c.close_upstream = true;
        assert_eq!(
            up(raw, &c),
            "GET /ws HTTP/1.1\r\nHost: api\r\nExpect: 100-continue\r\n\
             X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n\
             Forwarded: for=192.0.2.7;proto=https\r\nX-Request-Id: 0123456789abcdef\r\n\
             Connection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        );
    }

    #[test]
    fn request_head_too_large() {
        let raw = b"GET / HTTP/1.1\r\nHost: api\r\n\r\n";
        let mut hdrs = [httparse::EMPTY_HEADER; 4];
        let Ok(Parsed::Complete(h)) = parse_request(raw, &mut hdrs, &LIMITS) else {
            panic!()
        };
        let mut out = [0u8; 40];
        assert_eq!(
            write_upstream_request_head(&h, raw, &ctx(V4), &mut out),
            Err(HeadTooLarge { capacity: 40 })
        );
    }

    fn down(raw: &[u8], ka: bool, v: Version, id: &[u8]) -> String {
        let mut hdrs = [httparse::EMPTY_HEADER; 32];
        let Ok(Parsed::Complete(h)) = parse_response(raw, &mut hdrs, false, 8192) else {
            panic!("parse failed");
        };
        let mut out = [0u8; 1024];
        let n = write_client_response_head(&h, raw, ka, v, id, &mut out).unwrap();
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn response_rewrites() {
        let raw = b"HTTP/1.1 200 Fine  Thanks\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            down(raw, true, Version::Http11, b"id1"),
            "HTTP/1.1 200 Fine  Thanks\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Request-Id: id1\r\n\r\n"
        );
        assert_eq!(
            down(raw, false, Version::Http11, b"id1"),
            "HTTP/1.1 200 Fine  Thanks\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\nX-Request-Id: id1\r\n\r\n"
        );
        assert_eq!(
            down(raw, true, Version::Http10, b"id1"),
            "HTTP/1.1 200 Fine  Thanks\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Request-Id: id1\r\n\r\n"
        );
        let with_id = b"HTTP/1.1 404 Not Found\r\nX-Request-Id: up\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            down(with_id, true, Version::Http11, b"id1"),
            "HTTP/1.1 404 Not Found\r\nX-Request-Id: up\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn response_101_and_100() {
        let raw = b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n";
        assert_eq!(
            down(raw, false, Version::Http11, b"id"),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nConnection: upgrade\r\nX-Request-Id: id\r\n\r\n"
        );
        assert_eq!(
            down(
                b"HTTP/1.1 100 Continue\r\n\r\n",
                false,
                Version::Http11,
                b"id"
            ),
            "HTTP/1.1 100 Continue\r\n\r\n"
        );
    }
}
