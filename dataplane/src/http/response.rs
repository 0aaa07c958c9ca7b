//! Strict, zero-copy parsing of an upstream's response head and its message
//! framing (RFC 9112 §6.3). The upstream is trusted more than clients, but a
//! response we mis-frame desynchronises the pooled connection and lets one
//! client read another's response, so ambiguity is still an error.

use super::request::{is_hop_by_hop, FramingFields};
use super::{leading_skip, scan_head, Parsed, Scan, ScanError, Version};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    None,
    Length(u64),
    Chunked,
    /// Body runs until the upstream closes; the connection cannot be reused.
    UntilClose,
}

#[derive(Debug)]
pub struct ResponseHead<'b, 'h> {
    pub status: u16,
    pub version: Version,
    pub headers: &'h [httparse::Header<'b>],
    pub head_len: usize,
    pub framing: ResponseFraming,
    /// The upstream lets us reuse the connection after this response.
    pub keep_alive: bool,
    /// 1xx other than 101: another head follows on the same exchange.
    pub informational: bool,
    pub switching_protocols: bool,
    pub has_hop_by_hop: bool,
}

#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("invalid upstream response: {reason}")]
pub struct ResponseError {
    pub reason: &'static str,
}

const fn rerr(reason: &'static str) -> ResponseError {
    ResponseError { reason }
}

impl From<ScanError> for ResponseError {
    fn from(e: ScanError) -> Self {
        rerr(e.reason())
    }
}

/// Parses a response head at the start of `buf`. `request_was_head` matters
/// because a response to HEAD never has a body whatever its headers say.
pub fn parse_response<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [httparse::Header<'b>],
    request_was_head: bool,
    max_header_bytes: usize,
) -> Result<Parsed<ResponseHead<'b, 'h>>, ResponseError> {
    // Same single-CRLF tolerance as for requests: some servers emit a stray CRLF
    // after a body, but more than that means we lost framing.
    let Some(start) = leading_skip(buf)? else {
        return Ok(Parsed::Partial);
    };
    // Reason phrases may contain HTAB (RFC 9112 §4).
    let head_end = match scan_head(buf, start, max_header_bytes, true)? {
        Scan::Complete { head_end, .. } => head_end,
        Scan::Partial { .. } => {
            if buf.len() >= max_header_bytes {
                return Err(rerr("response head too large"));
            }
            return Ok(Parsed::Partial);
        }
    };
    if head_end > max_header_bytes {
        return Err(rerr("response head too large"));
    }

    let head_bytes = &buf[start..head_end];
    let mut resp = httparse::Response::new(headers);
    match resp.parse(head_bytes) {
        Ok(httparse::Status::Complete(n)) if n == head_bytes.len() => {}
        Ok(_) => return Err(rerr("malformed head")),
        Err(httparse::Error::TooManyHeaders) => return Err(rerr("too many headers")),
        Err(httparse::Error::Version) => return Err(rerr("unsupported HTTP version")),
        Err(httparse::Error::Status) => return Err(rerr("invalid status code")),
        Err(httparse::Error::HeaderName) => return Err(rerr("invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(rerr("invalid header value")),
        Err(_) => return Err(rerr("malformed head")),
    }
    let (Some(code), Some(minor)) = (resp.code, resp.version) else {
        return Err(rerr("malformed status line"));
    };
    if !(100..=999).contains(&code) {
        return Err(rerr("invalid status code"));
    }
    let headers: &'h [httparse::Header<'b>] = resp.headers;
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };

    let mut f = FramingFields::default();
    let mut has_hop_by_hop = false;
    for h in headers {
        let name = h.name;
        if is_hop_by_hop(name) {
            has_hop_by_hop = true;
        }
        f.observe(buf, name, h.value, false).map_err(rerr)?;
    }

    if f.saw_te {
        if f.content_length.is_some() {
            return Err(rerr("both Transfer-Encoding and Content-Length"));
        }
        if version == Version::Http10 {
            return Err(rerr("Transfer-Encoding in HTTP/1.0 response"));
        }
        if f.te.empty_or_invalid || f.te.chunked_count > 1 {
            return Err(rerr("invalid Transfer-Encoding"));
        }
    }

    let informational = (100..200).contains(&code) && code != 101;
    let switching_protocols = code == 101;
    let mut keep_alive = f.keep_alive(version);
    let framing = if request_was_head || (100..200).contains(&code) || code == 204 || code == 304 {
        ResponseFraming::None
    } else if f.saw_te {
        if f.te.last_is_chunked {
            ResponseFraming::Chunked
        } else {
            // RFC 9112 §6.3 rule 4: only the close delimits such a body.
            ResponseFraming::UntilClose
        }
    } else {
        match f.content_length {
            Some(0) => ResponseFraming::None,
            Some(n) => ResponseFraming::Length(n),
            None => ResponseFraming::UntilClose,
        }
    };
    if framing == ResponseFraming::UntilClose || switching_protocols {
        // After 101 the connection is a tunnel, never returned to the pool.
        keep_alive = false;
    }

    Ok(Parsed::Complete(ResponseHead {
        status: code,
        version,
        headers,
        head_len: head_end,
        framing,
        keep_alive,
        informational,
        switching_protocols,
        has_hop_by_hop,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Summary = (u16, ResponseFraming, bool, bool, bool, bool, usize);

    fn parse(buf: &[u8], head_req: bool) -> Result<Option<Summary>, ResponseError> {
        let mut hdrs = [httparse::EMPTY_HEADER; 16];
        match parse_response(buf, &mut hdrs, head_req, 4096)? {
            Parsed::Partial => Ok(None),
            Parsed::Complete(h) => Ok(Some((
                h.status,
                h.framing,
                h.keep_alive,
                h.informational,
                h.switching_protocols,
                h.has_hop_by_hop,
                h.head_len,
            ))),
        }
    }

    fn framing(buf: &[u8], head_req: bool) -> (ResponseFraming, bool) {
        let r = parse(buf, head_req).unwrap().unwrap();
        (r.1, r.2)
    }

    #[test]
    fn content_length_and_chunked() {
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false),
            (ResponseFraming::Length(12), true)
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            (ResponseFraming::None, true)
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false
            ),
            (ResponseFraming::Chunked, true)
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                false
            ),
            (ResponseFraming::Length(3), true)
        );
    }

    #[test]
    fn bodyless_statuses_and_head() {
        for s in [
            &b"204 No Content"[..],
            b"304 Not Modified",
            b"100 Continue",
            b"103 Early Hints",
        ] {
            let mut b = b"HTTP/1.1 ".to_vec();
            b.extend_from_slice(s);
            b.extend_from_slice(b"\r\nContent-Length: 10\r\n\r\n");
            assert_eq!(framing(&b, false).0, ResponseFraming::None);
        }
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true),
            (ResponseFraming::None, true)
        );
        assert_eq!(
            framing(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                true
            ),
            (ResponseFraming::None, true)
        );
        let r = parse(b"HTTP/1.1 100 Continue\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(r.3 && !r.4);
    }

    #[test]
    fn switching_protocols() {
        let r = parse(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.0, 101);
        assert_eq!(r.1, ResponseFraming::None);
        assert!(!r.2 && !r.3 && r.4 && r.5);
    }

    #[test]
    fn until_close() {
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\n\r\n", false),
            (ResponseFraming::UntilClose, false)
        );
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
            (ResponseFraming::UntilClose, false)
        );
    }

    #[test]
    fn keep_alive_rules() {
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n";
        assert!(!framing(close, false).1);
        assert!(!framing(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false).1);
        let ka10 = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n";
        assert!(framing(ka10, false).1);
    }

    #[test]
    fn rejections() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1 \r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\n",
            b"HTTP/1.1 200 OK\rX: y\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
            b"HTTP/2.0 200 OK\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 099 OK\r\n\r\n",
            b"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ];
        for b in bad {
            assert!(parse(b, false).is_err(), "{:?}", String::from_utf8_lossy(b));
        }
        // HTAB in the reason phrase is allowed.
        assert!(parse(b"HTTP/1.1 200 O\tK\r\nContent-Length: 0\r\n\r\n", false).is_ok());
    }

    #[test]
    fn partial_and_size_limit() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nnext";
        for n in 0..full.len() - 4 {
            assert_eq!(parse(&full[..n], false), Ok(None), "prefix {n}");
        }
        assert_eq!(parse(full, false).unwrap().unwrap().6, full.len() - 4);
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(4096, b'a');
        assert!(parse(&big, false).is_err());
        big.extend_from_slice(b"\r\n\r\n");
        assert!(parse(&big, false).is_err());
        let mut hdrs = [httparse::EMPTY_HEADER; 1];
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
            &mut hdrs,
            false,
            4096
        )
        .is_err());
    }
}
