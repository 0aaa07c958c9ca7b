//! Response policies end to end: a real upstream answers with card numbers,
//! stack traces and SQL errors; the client gets them masked (same length,
//! valid framing), blocked, or untouched, as the policies say.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use rampart_tests::upstream::fnv1a;
use rampart_tests::{Behaviour, Canned, Gateway, GatewayConfig, RawConn, TestUpstream};

const SIGNATURES: &str = r#"
[[signature]]
id = "leak.pan"
pattern = '\b(?:4[0-9]{3}|5[1-5][0-9]{2})(?:[ -]?[0-9]{4}){3}\b'
fields = ["response.body"]
tags = ["luhn"]

[[signature]]
id = "leak.python-trace"
literal = "Traceback (most recent call last)"
fields = ["response.body"]

[[signature]]
id = "leak.mysql"
literal = "You have an error in your SQL syntax"
fields = ["response.body"]
"#;

const POLICIES: &str = r#"
[[policy]]
id = "R-PAN"
name = "mask card numbers"
severity = "high"
phase = "response"
condition = { signature = "leak.pan" }
action = "mask"

[[policy]]
id = "R-TRACE"
name = "block stack traces in server errors"
severity = "medium"
phase = "response"
condition = { all = [{ response_status = "5xx" }, { signature = "leak.python-trace" }] }
action = "block"

[[policy]]
id = "R-SQL"
name = "mask SQL errors (monitor)"
severity = "medium"
phase = "response"
mode = "monitor"
condition = { signature = "leak.mysql" }
action = "mask"
"#;

const PAN_JSON: &[u8] =
    br#"{"name":"Ann","card":"4111 1111 1111 1111","backup":"5500-0000-0000-0004","order":"4111111111111112"}"#;
const PAN_MASKED: &[u8] =
    br#"{"name":"Ann","card":"*******************","backup":"*******************","order":"4111111111111112"}"#;
const TRACE: &[u8] =
    b"{\"error\":\"Traceback (most recent call last):\\n  File \\\"app.py\\\", line 3\"}";
const SQL: &[u8] = b"<p>You have an error in your SQL syntax; check the manual near 'x'</p>";

fn write_pack(dir: &Path) {
    std::fs::create_dir_all(dir.join("signatures")).expect("mkdir");
    std::fs::create_dir_all(dir.join("policies")).expect("mkdir");
    std::fs::create_dir_all(dir.join("responses")).expect("mkdir");
    std::fs::write(
        dir.join("pack.toml"),
        "name = \"resp\"\nversion = \"1.0.0\"\n",
    )
    .expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("policies/p.toml"), POLICIES).expect("write");
    std::fs::write(
        dir.join("responses/block.json"),
        r#"{"blocked":true,"policy":"{{policy_id}}"}"#,
    )
    .expect("write");
}

fn canned(
    path: &'static str,
    status: u16,
    ct: &'static str,
    body: &'static [u8],
    chunk: usize,
) -> Canned {
    Canned {
        path,
        status,
        content_type: ct,
        headers: &[],
        body,
        chunk,
        stall_ms: 0,
    }
}

fn big_clean() -> &'static [u8] {
    let mut b = Vec::with_capacity(2 << 20);
    let mut i = 0u32;
    while b.len() < 2 << 20 {
        b.extend_from_slice(format!("line {i} of a long clean report\n").as_bytes());
        i += 1;
    }
    Box::leak(b.into_boxed_slice())
}

fn big_with_late_pan() -> &'static [u8] {
    let mut b = b"first 4111111111111111 then ".to_vec();
    b.extend(std::iter::repeat_n(b'x', 100 * 1024));
    b.extend_from_slice(b" late 4111111111111111 end");
    Box::leak(b.into_boxed_slice())
}

fn upstream() -> TestUpstream {
    let list: Vec<Canned> = vec![
        canned("/card-chunked", 200, "application/json", PAN_JSON, 7),
        canned("/card", 200, "application/json; charset=utf-8", PAN_JSON, 0),
        Canned {
            headers: &["Content-Encoding: gzip"],
            ..canned("/gzip", 200, "application/json", PAN_JSON, 0)
        },
        canned("/binary", 200, "application/octet-stream", PAN_JSON, 0),
        canned("/events", 200, "text/event-stream", PAN_JSON, 16),
        canned("/trace-ok", 200, "application/json", TRACE, 0),
        canned("/trace", 500, "application/json", TRACE, 0),
        canned("/sql", 200, "text/html", SQL, 0),
        canned("/large-clean", 200, "text/plain", big_clean(), 0),
        canned("/large-chunked", 200, "text/plain", big_clean(), 4000),
        canned("/late", 200, "text/plain", big_with_late_pan(), 0),
        Canned {
            stall_ms: 5000,
            ..canned(
                "/slow",
                200,
                "text/plain",
                b"card 4111111111111111 sent first, the rest much later",
                22,
            )
        },
    ];
    TestUpstream::start(Behaviour::Respond(Box::leak(list.into_boxed_slice())))
}

fn gateway(up: &TestUpstream, pack: &Path) -> Gateway {
    let cfg = GatewayConfig::new(up.addr()).policy(&format!(
        "packs = [{:?}]\nwatch = false",
        pack.display().to_string()
    ));
    Gateway::run_config(&cfg.render())
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: api.test\r\n\r\n").into_bytes()
}

#[test]
fn card_numbers_are_masked_with_the_same_length_and_valid_framing() {
    let up = upstream();
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path());
    let gw = gateway(&up, dir.path());
    // Several exchanges on one keep-alive connection: a wrong length would
    // break the next response's parse.
    let mut c = RawConn::open(gw.addr());
    for _ in 0..2 {
        let r = c.roundtrip(&get("/card"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-length").as_deref(),
            Some(PAN_JSON.len().to_string().as_str())
        );
        assert_eq!(r.body, PAN_MASKED, "{}", r.text());
        // Chunked in 7-byte chunks: every number is split across chunks.
        let r = c.roundtrip(&get("/card-chunked"));
        assert_eq!(r.status, 200);
        assert!(r.chunked);
        assert_eq!(r.body, PAN_MASKED, "{}", r.text());
    }
    let r = c.roundtrip(&get("/clean"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{\"ok\":true}");
}

#[test]
fn a_stack_trace_in_a_server_error_is_replaced_by_the_block_template() {
    let up = upstream();
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path());
    let gw = gateway(&up, dir.path());
    let r = RawConn::open(gw.addr()).roundtrip(&get("/trace"));
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), r#"{"blocked":true,"policy":"R-TRACE"}"#);
    assert!(!r.text().contains("Traceback"));
    // The same body with a 200 is not a server error: untouched.
    let r = RawConn::open(gw.addr()).roundtrip(&get("/trace-ok"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, TRACE);
}

#[test]
fn monitor_policies_compressed_and_binary_bodies_are_left_untouched() {
    let up = upstream();
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path());
    let gw = gateway(&up, dir.path());
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(&get("/sql"));
    assert_eq!((r.status, r.body.as_slice()), (200, SQL), "monitor mode");
    // Documented: encoded and binary bodies are not inspected.
    let r = c.roundtrip(&get("/gzip"));
    assert_eq!(r.body, PAN_JSON);
    let r = c.roundtrip(&get("/binary"));
    assert_eq!(r.body, PAN_JSON);
    // Server-sent events are never held (they would stall).
    let r = c.roundtrip(&get("/events"));
    assert_eq!(r.body, PAN_JSON);
    // A client's Accept-Encoding is not passed on while response policies
    // are loaded, so an upstream that compresses on request answers plain.
    let r = c.roundtrip(b"GET /clean HTTP/1.1\r\nHost: api.test\r\nAccept-Encoding: gzip\r\n\r\n");
    assert_eq!(r.status, 200);
    let seen = up.requests();
    let last = seen.last().expect("request");
    assert!(
        !last.has_header("accept-encoding"),
        "{} {:?}",
        last.target,
        last.headers
    );
}

#[test]
fn large_responses_pass_intact_and_only_the_prefix_is_masked() {
    let up = upstream();
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path());
    let gw = gateway(&up, dir.path());
    let clean = big_clean();
    let mut c = RawConn::open(gw.addr());
    for path in ["/large-clean", "/large-chunked"] {
        let r = c.roundtrip(&get(path));
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), clean.len(), "{path}");
        assert_eq!(fnv1a(&r.body), fnv1a(clean), "{path} changed");
    }
    // Masking covers the inspected prefix (64 KiB by default); a number
    // further in is beyond it (docs/OPERATIONS.md).
    let r = c.roundtrip(&get("/late"));
    let body = r.text();
    assert!(
        body.starts_with("first **************** then "),
        "{}",
        &body[..40]
    );
    assert!(body.ends_with(" late 4111111111111111 end"));
}

#[test]
fn without_response_policies_responses_are_not_held() {
    let up = upstream();
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path());
    std::fs::write(
        dir.path().join("policies/p.toml"),
        "[[policy]]\nid = \"Q\"\nname = \"q\"\nseverity = \"low\"\ncondition = { path = \"/never\" }\naction = \"block\"\n",
    )
    .expect("write");
    let gw = gateway(&up, dir.path());
    let r = RawConn::open(gw.addr())
        .roundtrip(b"GET /card HTTP/1.1\r\nHost: api.test\r\nAccept-Encoding: gzip\r\n\r\n");
    assert_eq!(r.body, PAN_JSON);
    let seen = up.requests();
    assert!(seen.last().expect("request").has_header("accept-encoding"));
    let metrics = rampart_tests::client::get(gw.admin_addr(), "/metrics").expect("metrics");
    let text = metrics.text();
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("rampart_responses_inspected_total") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[test]
fn a_slow_response_is_judged_on_what_arrived_within_the_hold_time() {
    let up = upstream();
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path());
    let gw = gateway(&up, dir.path());
    let mut c = RawConn::open(gw.addr());
    c.send(&get("/slow")).expect("send");
    let started = Instant::now();
    let mut s = c.stream();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The upstream stalls 5 s after its first chunk; the gateway holds the
    // response at most 1 s, so the head and the (masked) first chunk arrive
    // well before the stall ends.
    while started.elapsed() < Duration::from_millis(4000) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if got.windows(21).any(|w| w == b"card **************** ") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("card **************** "),
        "the first chunk, masked, before the stall ends: {text}"
    );
}
