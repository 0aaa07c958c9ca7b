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

/// Is `name` listed in any Connection header (RFC 9110 §7.6.1)?
fn nominated(headers: &[httparse::Header<'_>], name: &str) -> bool {
    if NEVER_NOMINATED.iter().any(|n| name.eq_ignore_ascii_case(n)) {
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
    for h in head.headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade") {
            // Re-emitted after our Connection header when upgrading.
            continue;
        }
        if is_hop_by_hop(name) || nominated(head.headers, name) {
            continue;
        }
        if ctx.strip_expect && name.eq_ignore_ascii_case("expect") {
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
    for h in head.headers {
        let name = h.name;
        let keep_upgrade = head.switching_protocols && name.eq_ignore_ascii_case("upgrade");
        if !keep_upgrade && (is_hop_by_hop(name) || nominated(head.headers, name)) {
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
