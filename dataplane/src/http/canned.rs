//! The gateway's own responses: interim 100 Continue and short JSON errors.
//! Written straight into the caller's buffer so that rejecting a request costs
//! no allocation, even under a flood of bad requests.

use super::Out;

pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Longest request id echoed back; ours are 16 bytes, the cap only bounds what a
/// caller might pass through from elsewhere.
const MAX_ID: usize = 64;

/// Methods advertised in the `Allow` header of our 405: the only 405 we emit is
/// for CONNECT, and RFC 9110 §15.5.6 requires Allow on a 405.
const ALLOW: &[u8] = b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE";

/// Standard reason phrase (RFC 9110 §15); "Unknown" for unregistered codes.
pub fn reason_phrase(status: u16) -> &'static str {
    status_text(status).0
}

/// (reason phrase, JSON error slug)
fn status_text(status: u16) -> (&'static str, &'static str) {
    match status {
        100 => ("Continue", "continue"),
        101 => ("Switching Protocols", "switching_protocols"),
        200 => ("OK", "ok"),
        204 => ("No Content", "no_content"),
        301 => ("Moved Permanently", "moved_permanently"),
        302 => ("Found", "found"),
        304 => ("Not Modified", "not_modified"),
        400 => ("Bad Request", "bad_request"),
        401 => ("Unauthorized", "unauthorized"),
        403 => ("Forbidden", "forbidden"),
        404 => ("Not Found", "not_found"),
        405 => ("Method Not Allowed", "method_not_allowed"),
        408 => ("Request Timeout", "request_timeout"),
        411 => ("Length Required", "length_required"),
        413 => ("Content Too Large", "content_too_large"),
        414 => ("URI Too Long", "uri_too_long"),
        415 => ("Unsupported Media Type", "unsupported_media_type"),
        417 => ("Expectation Failed", "expectation_failed"),
        429 => ("Too Many Requests", "too_many_requests"),
        431 => (
            "Request Header Fields Too Large",
            "request_header_fields_too_large",
        ),
        500 => ("Internal Server Error", "internal_server_error"),
        501 => ("Not Implemented", "not_implemented"),
        502 => ("Bad Gateway", "bad_gateway"),
        503 => ("Service Unavailable", "service_unavailable"),
        504 => ("Gateway Timeout", "gateway_timeout"),
        505 => ("HTTP Version Not Supported", "http_version_not_supported"),
        _ => ("Unknown", "error"),
    }
}

/// Only bytes that are safe both in a header value and inside a JSON string
/// without escaping; anything else is dropped (ids are hex, so this never
/// bites for ours, but it keeps a foreign id from injecting headers or JSON).
fn id_byte_ok(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
}

fn put_id(o: &mut Out<'_>, id: &[u8]) {
    for b in id.iter().copied().filter(|&b| id_byte_ok(b)).take(MAX_ID) {
        o.put(&[b]);
    }
}

fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

/// Writes a complete short JSON error response and returns its length. `out` of
/// at least 512 bytes always suffices; a smaller one trips a debug assertion
/// and in release yields a response truncated at `out.len()`.
pub fn write_error_response(status: u16, request_id: &[u8], close: bool, out: &mut [u8]) -> usize {
    // A non-3-digit status would produce an invalid status line.
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let (reason, slug) = status_text(status);
    let id_len = request_id
        .iter()
        .filter(|&&b| id_byte_ok(b))
        .take(MAX_ID)
        .count();
    // {"error":"<slug>","status":NNN,"event_id":"<id>"}
    let body_len = br#"{"error":"","status":,"event_id":""}"#.len() + slug.len() + 3 + id_len;

    debug_assert!(out.len() >= 512, "error response buffer too small");
    let mut o = Out::new(out);
    o.put(b"HTTP/1.1 ");
    o.put_u64(u64::from(status));
    o.put(b" ");
    o.put(reason.as_bytes());
    o.put(b"\r\nContent-Type: application/json\r\nContent-Length: ");
    o.put_u64(body_len as u64);
    o.put(b"\r\n");
    if close {
        o.put(b"Connection: close\r\n");
    }
    if status == 405 {
        o.header(b"Allow", ALLOW);
    }
    o.put(b"X-Request-Id: ");
    put_id(&mut o, request_id);
    o.put(b"\r\n\r\n{\"error\":\"");
    o.put(slug.as_bytes());
    o.put(b"\",\"status\":");
    o.put_u64(u64::from(status));
    o.put(b",\"event_id\":\"");
    put_id(&mut o, request_id);
    o.put(b"\"}");
    debug_assert_eq!(decimal_len(u64::from(status)), 3);
    o.pos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(status: u16, id: &[u8], close: bool) -> String {
        let mut out = [0u8; 512];
        let n = write_error_response(status, id, close, &mut out);
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn bad_request_byte_for_byte() {
        let body = r#"{"error":"bad_request","status":400,"event_id":"00ff00ff00ff00ff"}"#;
        assert_eq!(
            render(400, b"00ff00ff00ff00ff", true),
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\nX-Request-Id: 00ff00ff00ff00ff\r\n\r\n{body}",
                body.len()
            )
        );
    }

    #[test]
    fn all_covered_statuses_are_consistent() {
        for s in [
            400, 404, 405, 408, 411, 413, 414, 417, 431, 500, 501, 502, 503, 504, 505,
        ] {
            assert_ne!(reason_phrase(s), "Unknown", "{s}");
            let r = render(s, b"0123456789abcdef", s != 404);
            let (head, body) = r.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {s} {}\r\n", reason_phrase(s))));
            assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
            assert_eq!(head.contains("Connection: close"), s != 404);
            assert_eq!(head.contains("\r\nAllow: "), s == 405);
            assert!(body.contains(&format!("\"status\":{s},")));
        }
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(799), "Unknown");
    }

    #[test]
    fn hostile_id_is_sanitised() {
        let r = render(502, b"a\"b\r\nX-Evil: 1\\", false);
        assert!(r.contains("X-Request-Id: abX-Evil:1\r\n"));
        assert!(r.ends_with(r#""event_id":"abX-Evil:1"}"#));
        let long = [b'a'; 300];
        let mut out = [0u8; 512];
        let n = write_error_response(503, &long, true, &mut out);
        assert!(n < 512);
    }

    #[test]
    fn continue_constant() {
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
