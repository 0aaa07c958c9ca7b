//! Strict request framing: every ambiguous or malformed request is answered with the
//! expected 4xx/5xx, the client connection is closed, and the upstream never sees it.
//!
//! For head-level errors the upstream must not even receive a head (`heads_received`
//! unchanged). For malformed *chunked bodies* the gateway may already have forwarded the
//! head before the bad chunk arrives; there the client must get a 400 or a closed
//! connection, and the upstream must never receive a *complete* request
//! (`request_count` unchanged).

use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use std::time::Duration;

/// Sends `raw` (write errors tolerated: the gateway may close early) and asserts the
/// response status is `status`, the connection is then closed and nothing reached the
/// upstream.
fn rejects(raw: &[u8], status: u16) {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::proxy(up.addr(), &[]);
    rejects_on(&up, &gw, raw, status);
}

fn rejects_on(up: &TestUpstream, gw: &Gateway, raw: &[u8], status: u16) {
    let mut c = RawConn::open(gw.addr());
    let _ = c.send(raw);
    let r = c
        .read_response()
        .unwrap_or_else(|e| panic!("no response (want {status}): {e}"));
    assert_eq!(r.status, status, "body: {}", r.text());
    assert!(c.is_closed(), "connection must be closed after a {status}");
    // Give a wrongly forwarded request time to show up before checking.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(up.heads_received(), 0, "request reached the upstream");
    assert_eq!(up.request_count(), 0, "request reached the upstream");
    // The gateway still serves well-formed traffic afterwards.
    let ok = RawConn::open(gw.addr()).roundtrip(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(ok.status, 200);
}

/// For malformed chunked bodies: a 400 or a closed connection, and no complete request
/// upstream.
fn rejects_body(raw: &[u8]) {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    let _ = c.send(raw);
    match c.read_response() {
        Ok(r) => {
            assert_eq!(r.status, 400, "body: {}", r.text());
            assert!(c.is_closed(), "connection must be closed after a 400");
        }
        Err(_) => assert!(c.is_closed(), "no 400 and the connection stayed open"),
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        up.request_count(),
        0,
        "upstream received a complete request from a malformed chunked body"
    );
}

#[test]
fn cl_te_smuggling_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
        400,
    );
}

#[test]
fn te_cl_smuggling_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn differing_content_lengths_are_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn content_length_with_plus_sign_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
        400,
    );
}

#[test]
fn hex_content_length_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
        400,
    );
}

#[test]
fn overflowing_content_length_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 184467440737095516160\r\n\r\nhello",
        400,
    );
}

#[test]
fn non_chunked_final_transfer_encoding_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nhello",
        400,
    );
}

#[test]
fn double_chunked_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn unknown_transfer_coding_is_not_implemented() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn space_before_colon_is_rejected() {
    rejects(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn obs_fold_is_rejected() {
    rejects(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
        400,
    );
}

#[test]
fn bare_lf_line_endings_are_rejected() {
    rejects(b"GET / HTTP/1.1\nHost: x\n\n", 400);
}

#[test]
fn nul_in_header_is_rejected() {
    rejects(b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n", 400);
}

#[test]
fn invalid_chunk_size_is_rejected() {
    rejects_body(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
}

#[test]
fn overflowing_chunk_size_is_rejected() {
    rejects_body(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn bad_chunk_extension_is_rejected() {
    rejects_body(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"unterminated\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn long_target_is_uri_too_long() {
    let target = format!("/{}", "a".repeat(20 * 1024));
    rejects(
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        414,
    );
}

#[test]
fn forty_kib_of_headers_is_too_large() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..40 {
        req.push_str(&format!("X-Fill-{i:02}: {}\r\n", "v".repeat(1100)));
    }
    req.push_str("\r\n");
    assert!(req.len() > 40 * 1024);
    rejects(req.as_bytes(), 431);
}

#[test]
fn two_hundred_headers_is_too_many() {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    req.push_str("\r\n");
    rejects(req.as_bytes(), 431);
}

#[test]
fn connect_is_not_allowed() {
    rejects(
        b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n",
        405,
    );
}

#[test]
fn http11_without_host_is_rejected() {
    rejects(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400);
}

#[test]
fn two_hosts_are_rejected() {
    rejects(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

#[test]
fn http2_version_is_not_supported() {
    rejects(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
}

#[test]
fn body_over_max_body_bytes_is_too_large() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .limit("max_body_bytes", 1024 * 1024)
            .render(),
    );
    // The head announces 2 MiB; the gateway must refuse on the head alone.
    rejects_on(
        &up,
        &gw,
        format!(
            "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        )
        .as_bytes(),
        413,
    );
}

#[test]
fn chunked_body_over_max_body_bytes_never_completes_upstream() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .limit("max_body_bytes", 1024 * 1024)
            .render(),
    );
    let mut c = RawConn::open(gw.addr());
    let _ = c.send(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("10000\r\n{}\r\n", "c".repeat(0x10000));
    for _ in 0..32 {
        if c.send(chunk.as_bytes()).is_err() {
            break;
        }
    }
    let _ = c.send(b"0\r\n\r\n");
    match c.read_response() {
        Ok(r) => assert_eq!(r.status, 413, "body: {}", r.text()),
        Err(_) => assert!(c.is_closed(), "no 413 and the connection stayed open"),
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(up.request_count(), 0, "a 2 MiB chunked body got through");
}

/// A client that keeps uploading after the gateway refused its request must still
/// read the refusal: the 413 is written before the connection is closed, so it
/// is queued at the client ahead of the reset that closing with unread data causes.
#[test]
fn refusal_reaches_a_client_still_sending_its_body() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .limit("max_body_bytes", 1024 * 1024)
            .render(),
    );
    for round in 0..3 {
        let mut c = RawConn::open(gw.addr());
        let total = 4 * 1024 * 1024;
        let head = format!("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n");
        c.send(head.as_bytes()).expect("head");
        let block = [b'u'; 64 * 1024];
        // Keep sending like a real uploader; errors are expected once the gateway
        // stops reading.
        for _ in 0..(total / block.len()) {
            if c.send(&block).is_err() {
                break;
            }
        }
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("round {round}: the 413 was lost: {e}"));
        assert_eq!(r.status, 413, "round {round}");
    }
    assert_eq!(up.request_count(), 0);
}
