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
