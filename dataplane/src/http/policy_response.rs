//! Responses a policy decides (block, rate limit, deception), rendered from a
//! pack template straight into the connection's buffer: two passes over the
//! template (length, then bytes) and no allocation.

use super::canned::reason_phrase;
use super::Out;

/// What goes into a policy response besides the template.
pub struct PolicyResponse<'a> {
    /// Status code.
    pub status: u16,
    /// Content type of the template.
    pub content_type: &'a str,
    /// Template body with `{{placeholders}}`.
    pub template: &'a [u8],
    /// Extra headers from the action.
    pub headers: &'a [(String, String)],
    /// `Retry-After` seconds, for rate limits.
    pub retry_after: Option<u64>,
    /// Request id (also the event id).
    pub request_id: &'a [u8],
    /// The deciding policy.
    pub policy_id: &'a str,
    /// What `{{decoy_token}}` renders as (empty outside deception).
    pub decoy_token: &'a [u8],
    /// The connection closes after this response (`Connection: close`).
    pub close: bool,
}

/// The value of a placeholder, or `None` to leave it as written.
fn placeholder<'a>(
    name: &[u8],
    r: &'a PolicyResponse<'_>,
    status: &'a [u8],
    decoy: &'a [u8],
) -> Option<&'a [u8]> {
    Some(match name {
        b"event_id" | b"request_id" => r.request_id,
        b"policy_id" => r.policy_id.as_bytes(),
        b"status" => status,
        b"decoy_token" => decoy,
        _ => return None,
    })
}

/// Walks the template, calling `emit` for every piece of output.
fn render(r: &PolicyResponse<'_>, status: &[u8], decoy: &[u8], mut emit: impl FnMut(&[u8])) {
    let t = r.template;
    let mut i = 0;
    while i < t.len() {
        match memchr::memmem::find(&t[i..], b"{{") {
            None => {
                emit(&t[i..]);
                return;
            }
            Some(k) => {
                emit(&t[i..i + k]);
                let open = i + k;
                match memchr::memmem::find(&t[open + 2..], b"}}") {
                    Some(len) => {
                        let name = &t[open + 2..open + 2 + len];
                        match placeholder(name, r, status, decoy) {
                            Some(v) => emit(v),
                            None => emit(&t[open..open + 2 + len + 2]),
                        }
                        i = open + 2 + len + 2;
                    }
                    None => {
                        emit(&t[open..]);
                        return;
                    }
                }
            }
        }
    }
}

/// Writes the whole response (with `Connection: close` when `r.close`) and
/// returns its length, or `None` if it does not fit in `out`.
pub fn write_policy_response(r: &PolicyResponse<'_>, out: &mut [u8]) -> Option<usize> {
    let mut status_buf = [0u8; 3];
    let s = r.status.clamp(100, 999);
    status_buf[0] = b'0' + (s / 100) as u8;
    status_buf[1] = b'0' + (s / 10 % 10) as u8;
    status_buf[2] = b'0' + (s % 10) as u8;
    let decoy = r.decoy_token;
    let mut body_len = 0usize;
    render(r, &status_buf, decoy, |b| body_len += b.len());
    let mut o = Out::new(out);
    o.put(b"HTTP/1.1 ");
    o.put(&status_buf);
    o.put(b" ");
    o.put(reason_phrase(s).as_bytes());
    o.put(b"\r\nContent-Type: ");
    o.put(r.content_type.as_bytes());
    o.put(b"\r\nContent-Length: ");
    o.put_u64(body_len as u64);
    if r.close {
        o.put(b"\r\nConnection: close");
    }
    o.put(b"\r\nCache-Control: no-store\r\nX-Request-Id: ");
    o.put(r.request_id);
    o.put(b"\r\n");
    if let Some(secs) = r.retry_after {
        o.put(b"Retry-After: ");
        o.put_u64(secs);
        o.put(b"\r\n");
    }
    for (k, v) in r.headers {
        o.header(k.as_bytes(), v.as_bytes());
    }
    o.put(b"\r\n");
    render(r, &status_buf, decoy, |b| o.put(b));
    o.finish()
}

/// Writes a deception: the status and body of a policy response, dressed in
/// the header lines the upstream sends on this route (`learned`, each
/// `Name: value\r\n`; before anything was learned, just the template's
/// `Content-Type`), with `Date` (when given), `Content-Length` and the
/// request id the gateway adds to every relayed response. No `Connection`
/// header, as on a relayed keep-alive response; the caller closes after it.
///
/// A masked value in `learned` (a zero byte, then its length) is filled from
/// `noise` (random characters; as many as the value had, at most
/// `noise.len()`).
pub fn write_deception(
    r: &PolicyResponse<'_>,
    learned: Option<&[u8]>,
    date: Option<&[u8]>,
    noise: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let mut status_buf = [0u8; 3];
    let s = r.status.clamp(100, 999);
    status_buf[0] = b'0' + (s / 100) as u8;
    status_buf[1] = b'0' + (s / 10 % 10) as u8;
    status_buf[2] = b'0' + (s % 10) as u8;
    let mut body_len = 0usize;
    render(r, &status_buf, r.decoy_token, |b| body_len += b.len());
    let mut o = Out::new(out);
    o.put(b"HTTP/1.1 ");
    o.put(&status_buf);
    o.put(b" ");
    o.put(reason_phrase(s).as_bytes());
    o.put(b"\r\n");
    match learned {
        Some(mut lines) => {
            while let Some(i) = memchr::memchr(0, lines) {
                o.put(&lines[..i]);
                let n = lines.get(i + 1).map_or(0, |&n| n as usize);
                o.put(&noise[..n.min(noise.len())]);
                lines = lines.get(i + 2..).unwrap_or(&[]);
            }
            o.put(lines);
        }
        None => {
            o.put(b"Content-Type: ");
            o.put(r.content_type.as_bytes());
            o.put(b"\r\n");
        }
    }
    if let Some(d) = date {
        o.header(b"Date", d);
    }
    o.put(b"Content-Length: ");
    o.put_u64(body_len as u64);
    o.put(b"\r\n");
    o.header(b"X-Request-Id", r.request_id);
    o.put(b"\r\n");
    render(r, &status_buf, r.decoy_token, |b| o.put(b));
    o.finish()
}

/// Inserts `headers` before the blank line ending the head in `out[..len]`;
/// returns the new length, or `None` if they do not fit.
pub fn append_headers(out: &mut [u8], len: usize, headers: &[(String, String)]) -> Option<usize> {
    if len < 2 || out.get(len - 2..len) != Some(b"\r\n") {
        return None;
    }
    let extra: usize = headers.iter().map(|(k, v)| k.len() + 2 + v.len() + 2).sum();
    if len + extra > out.len() {
        return None;
    }
    let mut pos = len - 2;
    for (k, v) in headers {
        for part in [k.as_bytes(), b": ", v.as_bytes(), b"\r\n"] {
            out[pos..pos + part.len()].copy_from_slice(part);
            pos += part.len();
        }
    }
    out[pos..pos + 2].copy_from_slice(b"\r\n");
    Some(pos + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_with_lengths_that_match() {
        let headers = vec![("X-Reason".to_owned(), "policy".to_owned())];
        let r = PolicyResponse {
            status: 403,
            content_type: "application/json",
            template: br#"{"e":"{{event_id}}","p":"{{policy_id}}","s":{{status}},"x":"{{unknown}}","t":"{{decoy_token}}"#,
            headers: &headers,
            retry_after: Some(30),
            request_id: b"abcd",
            policy_id: "RP-1",
            decoy_token: b"rpd_abcd",
            close: true,
        };
        let mut buf = [0u8; 1024];
        let n = write_policy_response(&r, &mut buf).expect("fits");
        let text = std::str::from_utf8(&buf[..n]).expect("utf8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(head.contains("\r\nRetry-After: 30"));
        assert!(head.contains("\r\nX-Reason: policy"));
        assert_eq!(
            body,
            r#"{"e":"abcd","p":"RP-1","s":403,"x":"{{unknown}}","t":"rpd_abcd"#
        );
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(write_policy_response(&r, &mut [0u8; 40]).is_none());
    }

    #[test]
    fn deceptions_wear_the_learned_headers() {
        let r = PolicyResponse {
            status: 200,
            content_type: "text/plain",
            template: br#"{"token":"{{decoy_token}}"}"#,
            headers: &[],
            retry_after: None,
            request_id: b"rid1",
            policy_id: "RP-1",
            decoy_token: b"tok",
            close: false,
        };
        let mut buf = [0u8; 512];
        let learned = b"Server: nginx\r\nSet-Cookie: sid=\0\x05; HttpOnly\r\n";
        let n =
            write_deception(&r, Some(learned), Some(b"DATE"), b"abcdefgh", &mut buf).expect("fits");
        assert_eq!(
            std::str::from_utf8(&buf[..n]).expect("utf8"),
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nSet-Cookie: sid=abcde; HttpOnly\r\nDate: DATE\r\nContent-Length: 15\r\nX-Request-Id: rid1\r\n\r\n{\"token\":\"tok\"}"
        );
        let n = write_deception(&r, None, None, b"", &mut buf).expect("fits");
        let text = std::str::from_utf8(&buf[..n]).expect("utf8");
        assert!(
            text.starts_with(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n"
            ),
            "{text}"
        );
        assert!(write_deception(&r, Some(learned), None, b"", &mut [0u8; 30]).is_none());
    }

    #[test]
    fn tag_headers_go_before_the_blank_line() {
        let mut buf = [0u8; 128];
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        buf[..head.len()].copy_from_slice(head);
        let n = append_headers(
            &mut buf,
            head.len(),
            &[("X-Rampart-Suspect".into(), "sqli".into())],
        )
        .expect("fits");
        assert_eq!(
            &buf[..n],
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Rampart-Suspect: sqli\r\n\r\n"
        );
    }
}
