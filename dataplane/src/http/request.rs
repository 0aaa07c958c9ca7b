//! Strict, zero-copy parsing of a client's request head and the decisions that
//! follow from it (body framing, persistence, expectations, upgrade). Anything
//! that two reasonable HTTP implementations could read differently is rejected
//! with the status the gateway should answer.

use super::{
    is_tchar, is_token, leading_skip, list_elements, parse_decimal_u64, scan_head, Parsed, Scan,
    ScanError, Version,
};

#[derive(Clone, Copy, Debug)]
pub struct HeadLimits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_target_bytes: usize,
}

/// Slack allowed on the request line beyond the target itself: method, two SP,
/// version and CRLF. Generous for any registered method name.
const REQUEST_LINE_SLACK: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug)]
pub struct RequestHead<'b, 'h> {
    pub method: &'b str,
    pub target: &'b str,
    pub version: Version,
    /// Only the filled headers, in wire order.
    pub headers: &'h [httparse::Header<'b>],
    /// Bytes of (optional skipped CRLF +) request line + headers + final CRLF.
    pub head_len: usize,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub upgrade: bool,
    pub host: &'b [u8],
    pub is_head: bool,
    pub idempotent: bool,
    pub has_hop_by_hop: bool,
}

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("{status} {reason}")]
pub struct RequestError {
    pub status: u16,
    pub reason: &'static str,
}

const fn err(status: u16, reason: &'static str) -> RequestError {
    RequestError { status, reason }
}

fn bad(reason: &'static str) -> RequestError {
    err(400, reason)
}

impl From<ScanError> for RequestError {
    fn from(e: ScanError) -> Self {
        bad(e.reason())
    }
}

/// Header names the upstream rewrite always drops (RFC 9110 §7.6.1 plus the
/// non-standard Proxy-Connection that some clients still send).
pub(crate) const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Parses a request head at the start of `buf`.
///
/// `headers.len()` is the header-count limit. On `Complete`, bytes after
/// `head_len` (body or a pipelined request) are untouched.
pub fn parse_request<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [httparse::Header<'b>],
    limits: &HeadLimits,
) -> Result<Parsed<RequestHead<'b, 'h>>, RequestError> {
    let Some(start) = leading_skip(buf)? else {
        return Ok(Parsed::Partial);
    };
    let line_limit = limits.max_target_bytes.saturating_add(REQUEST_LINE_SLACK);
    let (head_end, line_end) = match scan_head(buf, start, limits.max_header_bytes, false)? {
        Scan::Complete {
            head_end,
            first_line_end,
        } => (head_end, first_line_end),
        Scan::Partial { first_line_end } => {
            // Decide 414 before 431: a client with a long URL should learn that,
            // not that its headers are too big.
            match first_line_end {
                Some(e) if e - start > line_limit => return Err(err(414, "request line too long")),
                None if buf.len().min(limits.max_header_bytes) - start > line_limit => {
                    return Err(err(414, "request line too long"))
                }
                _ => {}
            }
            if buf.len() >= limits.max_header_bytes {
                return Err(err(431, "request head too large"));
            }
            return Ok(Parsed::Partial);
        }
    };
    if line_end - start > line_limit {
        return Err(err(414, "request line too long"));
    }
    if head_end > limits.max_header_bytes {
        return Err(err(431, "request head too large"));
    }

    // httparse only sees the validated head, so it can never read into the body
    // or re-decide where lines end.
    let head_bytes = &buf[start..head_end];
    let mut req = httparse::Request::new(headers);
    match req.parse(head_bytes) {
        Ok(httparse::Status::Complete(n)) if n == head_bytes.len() => {}
        Ok(_) => return Err(bad("malformed head")),
        Err(httparse::Error::TooManyHeaders) => return Err(err(431, "too many headers")),
        Err(httparse::Error::Version) => {
            return Err(version_error(&buf[start..line_end]));
        }
        Err(httparse::Error::HeaderName) => return Err(bad("invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(bad("invalid header value")),
        Err(httparse::Error::Token) => return Err(bad("invalid request line")),
        Err(_) => return Err(bad("malformed head")),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(bad("malformed request line"));
    };
    let headers: &'h [httparse::Header<'b>] = req.headers;
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };

    if !is_token(method.as_bytes()) {
        return Err(bad("invalid method"));
    }
    if method == "CONNECT" {
        return Err(err(405, "not a forward proxy"));
    }
    if target.len() > limits.max_target_bytes {
        return Err(err(414, "target too long"));
    }
    let target_host = classify_target(method, target.as_bytes())?;

    let mut host: Option<&'b [u8]> = None;
    let mut f = FramingFields::default();
    let mut upgrade_header = false;
    let mut expect_continue = false;
    let mut has_hop_by_hop = false;

    for h in headers {
        let name = h.name;
        if is_hop_by_hop(name) {
            has_hop_by_hop = true;
        }
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(bad("multiple Host headers"));
            }
            if !valid_authority(h.value) {
                return Err(bad("invalid Host"));
            }
            host = Some(h.value);
        } else if f.observe(buf, name, h.value, true).map_err(bad)? {
            // A framing field, taken by `f`.
        } else if name.eq_ignore_ascii_case("upgrade") {
            upgrade_header = true;
        } else if name.eq_ignore_ascii_case("expect") {
            if h.value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(err(417, "unsupported expectation"));
            }
        }
    }

    let host = match (host, version) {
        (Some(h), _) => h,
        (None, Version::Http11) => return Err(bad("missing Host")),
        (None, Version::Http10) => b"",
    };
    // RFC 9112 §3.2.2: with absolute-form the target's authority wins over Host.
    let host = target_host.unwrap_or(host);

    let framing = if f.saw_te {
        if version == Version::Http10 {
            // RFC 9112 §6.1: an HTTP/1.0 peer cannot have meant chunked framing.
            return Err(bad("Transfer-Encoding in HTTP/1.0 request"));
        }
        if f.content_length.is_some() {
            // The textbook CL.TE / TE.CL smuggling setup: refuse instead of
            // picking a winner the upstream might not agree with.
            return Err(bad("both Transfer-Encoding and Content-Length"));
        }
        f.te.finish()?;
        BodyFraming::Chunked
    } else {
        match f.content_length {
            Some(0) | None => BodyFraming::None,
            Some(n) => BodyFraming::Length(n),
        }
    };

    let keep_alive = f.keep_alive(version);
    // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 must be ignored.
    let expect_continue = expect_continue && version == Version::Http11;
    let upgrade = version == Version::Http11 && f.conn_upgrade && upgrade_header;

    Ok(Parsed::Complete(RequestHead {
        method,
        target,
        version,
        headers,
        head_len: head_end,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
        host,
        is_head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
        ),
        has_hop_by_hop,
    }))
}

/// httparse reports any unknown version the same way; a well-formed but
/// unsupported `HTTP/x.y` deserves 505, garbage deserves 400.
fn version_error(line: &[u8]) -> RequestError {
    // Only a request line of exactly three SP-separated parts has a version to
    // judge; `GET /  HTTP/1.1` is malformed, not "unsupported".
    if line.iter().filter(|&&b| b == b' ').count() != 2 {
        return bad("malformed request line");
    }
    let v = match line.iter().rposition(|&b| b == b' ') {
        Some(p) => &line[p + 1..],
        None => line,
    };
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            err(505, "HTTP version not supported")
        }
        _ => bad("invalid HTTP version"),
    }
}

/// Validates the request-target form; returns the authority for absolute-form.
fn classify_target<'b>(method: &str, t: &'b [u8]) -> Result<Option<&'b [u8]>, RequestError> {
    // httparse lets obs-text through in the target; RFC 3986 does not, and a
    // target we forward verbatim must mean the same thing upstream.
    if !t.iter().all(|&b| (0x21..=0x7e).contains(&b)) || t.contains(&b'#') {
        return Err(bad("invalid request target"));
    }
    match t {
        [b'/', ..] => Ok(None),
        b"*" if method == "OPTIONS" => Ok(None),
        b"*" => Err(bad("asterisk-form only valid for OPTIONS")),
        _ => {
            let rest = strip_prefix_ci(t, b"http://").or_else(|| strip_prefix_ci(t, b"https://"));
            let Some(rest) = rest else {
                // authority-form is CONNECT-only (already refused); anything
                // else is not a request-target at all.
                return Err(bad("invalid request target form"));
            };
            let end = rest
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .unwrap_or(rest.len());
            let authority = &rest[..end];
            if authority.contains(&b'@') || !valid_authority(authority) {
                return Err(bad("invalid authority in request target"));
            }
            Ok(Some(authority))
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2): reg-name or IP-literal, no userinfo,
/// no whitespace. Empty is refused: we route on it.
pub(crate) fn valid_authority(v: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = v.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let lit = &rest[..close];
        if lit.is_empty()
            || !lit
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'v' | b'V'))
        {
            return false;
        }
        let after = &rest[close + 1..];
        match after {
            [] => (lit, None),
            [b':', port @ ..] => (lit, Some(port)),
            _ => return false,
        }
    } else {
        match v.iter().position(|&b| b == b':') {
            Some(p) => (&v[..p], Some(&v[p + 1..])),
            None => (v, None),
        }
    };
    if host.is_empty() {
        return false;
    }
    let reg_ok = v.starts_with(b"[")
        || host.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'%'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                )
        });
    // An empty port after ':' is allowed by RFC 3986; a non-digit one is not.
    reg_ok && port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit))
}

/// Content-Length must be exactly `1*DIGIT`. RFC 9110 would tolerate OWS around
/// it (httparse strips it), but whitespace games in framing headers are a classic
/// smuggling probe (`Content-Length:  5`, `Content-Length: 5 `), and no honest
/// client sends them. So on the raw line we allow only the conventional single SP
/// after the colon (or none) and nothing after the digits.
pub(crate) fn parse_content_length(buf: &[u8], value: &[u8]) -> Option<u64> {
    let (lead, trail) = super::raw_ows(buf, value)?;
    if !(lead.is_empty() || lead == b" ") || !trail.is_empty() {
        return None;
    }
    parse_decimal_u64(value)
}

/// The header fields that decide a message's framing and persistence, gathered
/// the same way for requests and responses: Content-Length (duplicates must be
/// byte-identical), every Transfer-Encoding line, and the Connection tokens.
#[derive(Default)]
pub(crate) struct FramingFields<'b> {
    pub(crate) content_length: Option<u64>,
    content_length_raw: &'b [u8],
    pub(crate) te: TeState,
    pub(crate) saw_te: bool,
    pub(crate) conn_close: bool,
    pub(crate) conn_keep_alive: bool,
    pub(crate) conn_upgrade: bool,
}

impl<'b> FramingFields<'b> {
    /// Takes the header if it is a framing field. `Ok(false)`: not one of ours.
    /// `strict_tokens` rejects malformed Connection tokens (requests); responses
    /// are read leniently there because only `close`/`keep-alive` matter.
    pub(crate) fn observe(
        &mut self,
        buf: &[u8],
        name: &str,
        value: &'b [u8],
        strict_tokens: bool,
    ) -> Result<bool, &'static str> {
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(buf, value).ok_or("invalid Content-Length")?;
            // `5` and `05` agree numerically, but an upstream that reads leading
            // zeros differently (octal, say) would not: duplicates must be identical.
            if self.content_length.is_some() && self.content_length_raw != value {
                return Err("conflicting Content-Length");
            }
            self.content_length = Some(n);
            self.content_length_raw = value;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            self.saw_te = true;
            self.te.add_line(value);
        } else if name.eq_ignore_ascii_case("connection") {
            for t in list_elements(value) {
                if t.is_empty() {
                    continue;
                }
                if strict_tokens && !is_token(t) {
                    return Err("invalid Connection");
                }
                self.conn_close |= t.eq_ignore_ascii_case(b"close");
                self.conn_keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                self.conn_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
            }
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Whether the sender lets the connection persist (RFC 9112 §9.3).
    pub(crate) fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.conn_close,
            Version::Http10 => self.conn_keep_alive && !self.conn_close,
        }
    }
}

/// Accumulates the Transfer-Encoding codings across all TE lines.
#[derive(Default)]
pub(crate) struct TeState {
    pub(crate) empty_or_invalid: bool,
    pub(crate) unknown: bool,
    pub(crate) chunked_count: u32,
    pub(crate) last_is_chunked: bool,
}

impl TeState {
    pub(crate) fn add_line(&mut self, value: &[u8]) {
        for coding in list_elements(value) {
            // Codings with parameters (`gzip;q=1`) have no business in a request
            // and complicate the "is chunked last" question: refuse them.
            if coding.is_empty() || !coding.iter().all(|&b| is_tchar(b)) {
                self.empty_or_invalid = true;
                self.last_is_chunked = false;
                continue;
            }
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            if chunked {
                self.chunked_count += 1;
            } else if !["gzip", "deflate", "compress", "x-gzip", "x-compress"]
                .iter()
                .any(|k| coding.eq_ignore_ascii_case(k.as_bytes()))
            {
                self.unknown = true;
            }
            self.last_is_chunked = chunked;
        }
    }

    /// Framing errors (400) take precedence over "unknown coding" (501): if we
    /// cannot even tell where the body ends, that is the client's fault.
    fn finish(&self) -> Result<(), RequestError> {
        if self.empty_or_invalid {
            return Err(bad("invalid Transfer-Encoding"));
        }
        if self.chunked_count > 1 {
            return Err(bad("chunked applied more than once"));
        }
        if !self.last_is_chunked {
            return Err(bad("Transfer-Encoding does not end in chunked"));
        }
        if self.unknown {
            return Err(err(501, "unsupported transfer coding"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_header_bytes: 8192,
        max_headers: 32,
        max_target_bytes: 2048,
    };

    fn parse_with<R>(
        buf: &[u8],
        limits: &HeadLimits,
        f: impl FnOnce(Result<Parsed<RequestHead<'_, '_>>, RequestError>) -> R,
    ) -> R {
        let mut hdrs = [httparse::EMPTY_HEADER; 32];
        let n = limits.max_headers.min(32);
        f(parse_request(buf, &mut hdrs[..n], limits))
    }

    fn ok(buf: &[u8], check: impl FnOnce(&RequestHead<'_, '_>)) {
        parse_with(buf, &LIMITS, |r| match r {
            Ok(Parsed::Complete(h)) => check(&h),
            Ok(Parsed::Partial) => panic!("partial: {:?}", String::from_utf8_lossy(buf)),
            Err(e) => panic!("error {e}: {:?}", String::from_utf8_lossy(buf)),
        })
    }

    fn status_with(buf: &[u8], limits: &HeadLimits) -> Option<u16> {
        parse_with(buf, limits, |r| match r {
            Ok(Parsed::Complete(_)) => None,
            Ok(Parsed::Partial) => Some(0),
            Err(e) => Some(e.status),
        })
    }

    /// 0 = partial, None = complete
    fn status(buf: &[u8]) -> Option<u16> {
        status_with(buf, &LIMITS)
    }

    fn rejects(buf: &[u8], code: u16) {
        assert_eq!(
            status(buf),
            Some(code),
            "expected {code} for {:?}",
            String::from_utf8_lossy(buf)
        );
    }

    // ---- valid requests ----

    #[test]
    fn get_with_query() {
        let b = b"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
        ok(b, |h| {
            assert_eq!(h.method, "GET");
            assert_eq!(h.target, "/a/b?x=1&y=%20");
            assert_eq!(h.version, Version::Http11);
            assert_eq!(h.headers.len(), 2);
            assert_eq!(h.head_len, b.len());
            assert_eq!(h.framing, BodyFraming::None);
            assert!(h.keep_alive && !h.expect_continue && !h.upgrade && !h.is_head);
            assert!(h.idempotent && !h.has_hop_by_hop);
            assert_eq!(h.host, b"example.com");
        });
    }

    #[test]
    fn post_with_content_length_and_pipelined_bytes() {
        let b = b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
        ok(b, |h| {
            assert_eq!(h.framing, BodyFraming::Length(5));
            assert_eq!(h.head_len, b.len() - "helloGET / HTTP/1.1\r\n".len());
            assert!(!h.idempotent);
        });
    }

    #[test]
    fn zero_length_is_none_and_duplicates_identical_ok() {
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::None),
        );
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\ncontent-length:7\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Length(7)),
        );
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Length(u64::MAX)),
        );
    }

    #[test]
    fn chunked_and_codings() {
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Chunked),
        );
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip ,\tCHUNKED\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Chunked),
        );
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Chunked),
        );
    }

    #[test]
    fn http10_keep_alive_and_no_host() {
        ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", |h| {
            assert_eq!(h.version, Version::Http10);
            assert!(h.keep_alive);
            assert_eq!(h.host, b"");
            assert!(h.has_hop_by_hop);
        });
        ok(b"GET / HTTP/1.0\r\n\r\n", |h| assert!(!h.keep_alive));
        ok(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", |h| {
            assert_eq!(h.host, b"a")
        });
        ok(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n",
            |h| assert!(!h.keep_alive),
        );
    }

    #[test]
    fn absolute_form_uses_target_authority() {
        ok(
            b"GET http://api.example.com:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n",
            |h| {
                assert_eq!(h.target, "http://api.example.com:8080/x?y");
                assert_eq!(h.host, b"api.example.com:8080");
            },
        );
        ok(b"GET HTTPS://[::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", |h| {
            assert_eq!(h.host, b"[::1]:443")
        });
        rejects(b"GET http://user@evil/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
        rejects(b"GET http:///x HTTP/1.1\r\nHost: x\r\n\r\n", 400);
        rejects(b"GET ftp://a/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    }

    #[test]
    fn options_asterisk() {
        ok(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", |h| {
            assert_eq!(h.target, "*");
            assert!(h.idempotent);
        });
        rejects(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    }

    #[test]
    fn websocket_upgrade() {
        let b = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n";
        ok(b, |h| {
            assert!(h.upgrade);
            assert!(h.has_hop_by_hop);
        });
        // Upgrade header without the Connection token is not an upgrade.
        ok(
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
            |h| assert!(!h.upgrade),
        );
        ok(
            b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            |h| assert!(!h.upgrade),
        );
    }

    #[test]
    fn expect_continue() {
        ok(
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
            |h| assert!(h.expect_continue),
        );
        ok(
            b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            |h| assert!(!h.expect_continue),
        );
        rejects(b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417);
    }

    #[test]
    fn head_method_and_single_leading_crlf() {
        let b = b"\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n";
        ok(b, |h| {
            assert!(h.is_head);
            assert_eq!(h.head_len, b.len());
        });
        rejects(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
    }

    #[test]
    fn partial_heads() {
        let full = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(status(&full[..n]), Some(0), "prefix {n}");
        }
        assert_eq!(status(full), None);
    }

    #[test]
    fn zero_copy() {
        let b = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        let range = b.as_ptr_range();
        ok(b, |h| {
            for p in [h.method.as_ptr(), h.target.as_ptr(), h.host.as_ptr()] {
                assert!(range.contains(&p));
            }
        });
    }

    // ---- limits ----

    #[test]
    fn header_size_limits() {
        let small = HeadLimits {
            max_header_bytes: 64,
            max_headers: 4,
            max_target_bytes: 32,
        };
        // Partial and already at the limit.
        let mut long = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        long.resize(64, b'a');
        assert_eq!(status_with(&long, &small), Some(431));
        // Complete but longer than the limit.
        let mut c = long.clone();
        c.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status_with(&c, &small), Some(431));
        // Exactly at the limit is fine.
        let mut exact = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        exact.resize(60, b'a');
        exact.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status_with(&exact, &small), None);
        // Too many headers.
        let many = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n";
        let lim = HeadLimits {
            max_header_bytes: 1024,
            ..small
        };
        assert_eq!(status_with(many, &lim), Some(431));
    }

    #[test]
    fn target_limits() {
        let lim = HeadLimits {
            max_header_bytes: 1024,
            max_headers: 8,
            max_target_bytes: 32,
        };
        let mut t = b"GET /".to_vec();
        t.resize(5 + 32, b'a');
        t.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(status_with(&t, &lim), Some(414));
        // Partial request line with no LF within max_target + 64 bytes.
        let mut p = b"GET /".to_vec();
        p.resize(32 + 64 + 1, b'a');
        assert_eq!(status_with(&p, &lim), Some(414));
        let mut p2 = b"GET /".to_vec();
        p2.resize(32 + 64, b'a');
        assert_eq!(status_with(&p2, &lim), Some(0));
        // Target exactly at the limit is fine.
        let mut ok_t = b"GET /".to_vec();
        ok_t.resize(4 + 32, b'a');
        ok_t.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(status_with(&ok_t, &lim), None);
    }

    // ---- syntax rejections ----

    #[test]
    fn bare_lf_and_cr() {
        rejects(b"GET / HTTP/1.1\nHost: h\n\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\n\n", 400);
        rejects(b"GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400);
    }

    #[test]
    fn control_bytes() {
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 400);
        rejects(b"GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x0bb\r\n\r\n", 400);
        rejects(b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length:\x0b5\r\n\r\n",
            400,
        );
        // HTAB inside a value is fine.
        ok(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\r\n\r\n", |h| {
            assert_eq!(h.headers[1].value, b"a\tb")
        });
    }

    #[test]
    fn obs_fold_and_name_rules() {
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nX Y: v\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
    }

    #[test]
    fn request_line_rules() {
        rejects(b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400);
        rejects(b"GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(b"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400);
        rejects(
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            405,
        );
        rejects(
            b"GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
            400,
        );
    }

    #[test]
    fn versions() {
        rejects(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
        rejects(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505);
        rejects(b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505);
        rejects(b"GET / HTTP/11\r\nHost: h\r\n\r\n", 400);
    }

    #[test]
    fn host_rules() {
        rejects(b"GET / HTTP/1.1\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
        rejects(b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400);
        ok(b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", |h| {
            assert_eq!(h.host, b"[2001:db8::1]:8443")
        });
        ok(b"GET / HTTP/1.1\r\nHost:  a.b-c_d:80 \r\n\r\n", |h| {
            assert_eq!(h.host, b"a.b-c_d:80")
        });
    }

    // ---- framing / smuggling ----

    #[test]
    fn content_length_syntax() {
        for v in [
            &b"+5"[..],
            b"-5",
            b" 5",
            b"5 ",
            b"0x5",
            b"5,5",
            b"5, 5",
            b"5 5",
            b"",
            b"5.0",
            b"18446744073709551616",
            b"99999999999999999999999",
            b"\t5",
        ] {
            let mut b = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ".to_vec();
            b.extend_from_slice(v);
            b.extend_from_slice(b"\r\n\r\n");
            rejects(&b, 400);
        }
        // No space after the colon is fine.
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:5\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Length(5)),
        );
    }

    #[test]
    fn conflicting_content_length() {
        rejects(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            400,
        );
        rejects(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n",
            400,
        );
    }

    #[test]
    fn cl_te_and_te_cl() {
        rejects(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
            400,
        );
        rejects(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
            400,
        );
        rejects(
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
        );
    }

    #[test]
    fn te_te_obfuscations() {
        let base = b"POST / HTTP/1.1\r\nHost: h\r\n";
        let cases: &[(&[u8], u16)] = &[
            (b"Transfer-Encoding : chunked", 400),
            (b"Transfer-Encoding: xchunked", 400),
            (b"Transfer-Encoding: chunked, chunked", 400),
            (
                b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
                400,
            ),
            (b"Transfer-Encoding: chunked, gzip", 400),
            (b"Transfer-Encoding: gzip", 400),
            (b"Transfer-Encoding: chunked,", 400),
            (b"Transfer-Encoding: ,chunked", 400),
            (b"Transfer-Encoding: gzip,,chunked", 400),
            (b"Transfer-Encoding:", 400),
            (b"Transfer-Encoding: chunked;q=1", 400),
            (b"Transfer-Encoding: \"chunked\"", 400),
            (b"Transfer-Encoding: chunked\r\n X: y", 400),
            (b"Transfer-Encoding:\tchunked\x0b", 400),
            (b"Transfer-Encoding\n: chunked", 400),
            (b"Transfer-Encoding: br, chunked", 501),
            (b"Transfer-Encoding: identity, chunked", 501),
        ];
        for (hdr, code) in cases {
            let mut b = base.to_vec();
            b.extend_from_slice(hdr);
            b.extend_from_slice(b"\r\n\r\n");
            rejects(&b, *code);
        }
        // Tolerated: OWS around commas and case.
        ok(
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: x-gzip , ChUnKeD\r\n\r\n",
            |h| assert_eq!(h.framing, BodyFraming::Chunked),
        );
    }

    #[test]
    fn hop_by_hop_flag() {
        for hdr in [
            "TE: trailers",
            "Trailer: X",
            "Keep-Alive: 1",
            "Proxy-Connection: x",
            "Upgrade: h2c",
        ] {
            let b = format!("GET / HTTP/1.1\r\nHost: h\r\n{hdr}\r\n\r\n");
            ok(b.as_bytes(), |h| assert!(h.has_hop_by_hop, "{hdr}"));
        }
    }

    #[test]
    fn invalid_connection_token() {
        rejects(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: a b\r\n\r\n", 400);
        ok(
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: , close,\r\n\r\n",
            |h| assert!(!h.keep_alive),
        );
    }

    #[test]
    fn error_display() {
        let e = RequestError {
            status: 400,
            reason: "bad",
        };
        assert_eq!(e.to_string(), "400 bad");
    }
}
