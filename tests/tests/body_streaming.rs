//! Request bodies longer than `inspect_body_bytes`, end to end: the rest of
//! the body is scanned as a stream, and a request a policy stops never reaches
//! the (counting) upstream complete.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rampart_tests::upstream::fnv1a;
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};

const SIGNATURES: &str = r#"
[[signature]]
id = "sqli.union"
pattern = 'union\s+select'
fields = ["body"]
transforms = ["lowercase"]

[[signature]]
id = "lfi.passwd"
literal = "/etc/passwd"
fields = ["body"]
"#;

const POLICIES: &str = r#"
[[policy]]
id = "T-SQLI"
name = "union select in a body"
severity = "critical"
condition = { signature = "sqli.union" }
action = "block"

[[policy]]
id = "T-LFI"
name = "passwd in a body, only for POST"
severity = "high"
condition = { all = [{ method = ["POST"] }, { signature = "lfi.passwd" }] }
action = "block"
"#;

fn write_pack(dir: &Path, monitor: bool) {
    std::fs::create_dir_all(dir.join("signatures")).expect("mkdir");
    std::fs::create_dir_all(dir.join("policies")).expect("mkdir");
    std::fs::create_dir_all(dir.join("responses")).expect("mkdir");
    std::fs::write(
        dir.join("responses/block.json"),
        r#"{"blocked":true,"policy":"{{policy_id}}"}"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("pack.toml"),
        "name = \"streams\"\nversion = \"1.0.0\"\n",
    )
    .expect("write");
    std::fs::write(dir.join("signatures/s.toml"), SIGNATURES).expect("write");
    std::fs::write(dir.join("policies/p.toml"), POLICIES).expect("write");
    if monitor {
        std::fs::write(
            dir.join("overlay.toml"),
            "[[override]]\npolicy = \"T-SQLI\"\nmode = \"monitor\"\n",
        )
        .expect("write");
    }
}

fn config(up: &TestUpstream, pack: &Path) -> GatewayConfig {
    let overlay = pack.join("overlay.toml");
    let mut policy = format!("packs = [{:?}]\nwatch = false", pack.display().to_string());
    if overlay.exists() {
        policy.push_str(&format!("\noverlay = {:?}", overlay.display().to_string()));
    }
    GatewayConfig::new(up.addr()).policy(&policy)
}

/// `n` bytes of benign JSON-ish filler (no pattern of the pack in it).
fn filler(n: usize) -> Vec<u8> {
    let words: [&[u8]; 6] = [
        b"alpha ", b"bravo ", b"union ", b"select ", b"delta ", b"echo ",
    ];
    let mut out = Vec::with_capacity(n + 8);
    let mut x: u32 = 7;
    while out.len() < n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let w = words[(x >> 16) as usize % words.len()];
        // "union " directly followed by "select " is the attack: never emit it.
        if w == b"select " && out.ends_with(b"union ") {
            continue;
        }
        out.extend_from_slice(w);
    }
    out.truncate(n);
    if out.ends_with(b"union") || out.ends_with(b"union ") {
        let l = out.len();
        out[l - 1] = b'x';
    }
    out
}

fn json_body(pad: usize, tail: &str) -> Vec<u8> {
    let mut b = b"{\"pad\":\"".to_vec();
    b.extend_from_slice(&filler(pad));
    b.extend_from_slice(format!("\",\"q\":\"{tail}\"}}").as_bytes());
    b
}

fn post_head(path: &str, content_type: &str, len: usize) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: api.test\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\n\r\n")
}

fn chunked_head(path: &str, content_type: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: api.test\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n")
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut c = format!("{:x}\r\n", data.len()).into_bytes();
    c.extend_from_slice(data);
    c.extend_from_slice(b"\r\n");
    c
}

/// Sends `body` in pieces of `piece` bytes, pausing now and then so the
/// gateway sees many reads.
fn send_paced(c: &mut RawConn, body: &[u8], piece: usize) {
    for (i, p) in body.chunks(piece).enumerate() {
        if c.send(p).is_err() {
            // The gateway may answer and close before the whole body is in.
            return;
        }
        if i % 8 == 7 {
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// The upstream got the request's head (the body was streaming) but never
/// a complete request.
fn assert_never_complete(up: &TestUpstream) {
    thread::sleep(Duration::from_millis(200));
    assert_eq!(up.request_count(), 0, "the upstream got a complete request");
}

#[test]
fn an_attack_after_200_kib_of_json_is_blocked_before_the_request_completes() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let gw = Gateway::run_config(&config(&up, dir.path()).render());
    let body = json_body(200 * 1024, "1 UNION SELECT password FROM users");
    let mut c = RawConn::open(gw.addr());
    c.send(post_head("/api", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut c, &body, 16 * 1024);
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        up.heads_received() >= 1,
        "the prefix went upstream while the rest streamed"
    );
    assert_never_complete(&up);
    // A benign body of the same size still goes through whole.
    let body = json_body(200 * 1024, "just text");
    let mut c = RawConn::open(gw.addr());
    c.send(post_head("/api", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut c, &body, 16 * 1024);
    assert_eq!(c.read_response().expect("response").status, 200);
    assert!(up.wait_for_requests(1, Duration::from_secs(2)));
    let q = &up.requests()[0];
    assert_eq!(q.body_len, body.len() as u64);
    assert_eq!(q.body_hash, fnv1a(&body));
}

#[test]
fn an_attack_after_200_kib_of_a_chunked_form_is_blocked() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let gw = Gateway::run_config(&config(&up, dir.path()).render());
    let mut data = b"pad=".to_vec();
    data.extend_from_slice(&filler(200 * 1024));
    data.extend_from_slice(b"&q=cat+/etc/passwd");
    let mut wire = Vec::new();
    for piece in data.chunks(10_000) {
        wire.extend_from_slice(&chunk(piece));
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let mut c = RawConn::open(gw.addr());
    c.send(chunked_head("/form", "application/x-www-form-urlencoded").as_bytes())
        .expect("head");
    send_paced(&mut c, &wire, 16 * 1024);
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_never_complete(&up);
}

#[test]
fn an_attack_split_across_reads_and_chunks_is_found() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let gw = Gateway::run_config(&config(&up, dir.path()).render());
    // Content-Length: the pattern split between two reads far past the prefix,
    // and once exactly across the end of the 128 KiB prefix.
    for split_at in [300 * 1024, 128 * 1024 - 3] {
        let mut body = filler(split_at);
        body.extend_from_slice(b"UNION   SELECT");
        body.extend_from_slice(&filler(50 * 1024));
        let cut = split_at + 7;
        let mut c = RawConn::open(gw.addr());
        c.send(post_head("/up", "text/plain", body.len()).as_bytes())
            .expect("head");
        send_paced(&mut c, &body[..cut], 32 * 1024);
        thread::sleep(Duration::from_millis(100));
        send_paced(&mut c, &body[cut..], 32 * 1024);
        let r = c.read_response().expect("response");
        assert_eq!(r.status, 403, "split at {split_at}: {}", r.text());
    }
    // Chunked: the pattern split across two chunks sent apart.
    let mut c = RawConn::open(gw.addr());
    c.send(chunked_head("/up", "text/plain").as_bytes())
        .expect("head");
    let pad = filler(250 * 1024);
    for piece in pad.chunks(8 * 1024) {
        c.send(&chunk(piece)).expect("chunk");
    }
    c.send(&chunk(b" uni")).expect("chunk");
    thread::sleep(Duration::from_millis(100));
    c.send(&chunk(b"on select 1")).expect("chunk");
    c.send(b"0\r\n\r\n").expect("end");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_never_complete(&up);
}

#[test]
fn a_benign_10_mib_body_passes_intact() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let gw = Gateway::run_config(&config(&up, dir.path()).render());
    let body = filler(10 * 1024 * 1024);
    let mut c = RawConn::open(gw.addr());
    c.send(post_head("/big", "text/plain", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut c, &body, 64 * 1024);
    assert_eq!(c.read_response().expect("response").status, 200);
    // And chunked, on the same connection.
    c.send(chunked_head("/big", "text/plain").as_bytes())
        .expect("head");
    let mut wire = Vec::new();
    for piece in body.chunks(100_000) {
        wire.extend_from_slice(&chunk(piece));
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    send_paced(&mut c, &wire, 64 * 1024);
    assert_eq!(c.read_response().expect("response").status, 200);
    assert!(up.wait_for_requests(2, Duration::from_secs(5)));
    for q in up.requests() {
        assert_eq!(q.body_len, body.len() as u64);
        assert_eq!(q.body_hash, fnv1a(&body), "the upstream got other bytes");
    }
    assert!(up.requests()[1].chunked);
}

#[test]
fn monitor_mode_forwards_a_streamed_attack() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), true);
    let gw = Gateway::run_config(&config(&up, dir.path()).render());
    let body = json_body(200 * 1024, "1 UNION SELECT password");
    let mut c = RawConn::open(gw.addr());
    c.send(post_head("/api", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut c, &body, 16 * 1024);
    assert_eq!(c.read_response().expect("response").status, 200);
    assert!(up.wait_for_requests(1, Duration::from_secs(2)));
    assert_eq!(up.requests()[0].body_hash, fnv1a(&body));
}

#[test]
fn with_stream_inspect_off_the_rest_of_the_body_is_not_inspected() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let cfg = config(&up, dir.path()).limit_toml("stream_inspect", "false");
    let gw = Gateway::run_config(&cfg.render());
    // Documented risk: past the prefix, nothing is looked at.
    let body = json_body(200 * 1024, "1 UNION SELECT password");
    let mut c = RawConn::open(gw.addr());
    c.send(post_head("/api", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut c, &body, 16 * 1024);
    assert_eq!(c.read_response().expect("response").status, 200);
    // Within the prefix it still is.
    let body = json_body(1024, "1 UNION SELECT password");
    let r = RawConn::open(gw.addr()).roundtrip(
        &[
            post_head("/api", "application/json", body.len()).as_bytes(),
            &body,
        ]
        .concat(),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn a_long_body_without_a_free_stream_gets_503() {
    let up = TestUpstream::start(Behaviour::Ok);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let cfg = config(&up, dir.path())
        .workers(1)
        .limit("stream_inspect_per_worker", 1);
    let gw = Gateway::run_config(&cfg.render());
    let body = json_body(300 * 1024, "fine");
    // The first long body takes the only stream and stays open.
    let mut first = RawConn::open(gw.addr());
    first
        .send(post_head("/a", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut first, &body[..200 * 1024], 16 * 1024);
    thread::sleep(Duration::from_millis(200));
    let mut second = RawConn::open(gw.addr());
    second
        .send(post_head("/b", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut second, &body[..200 * 1024], 16 * 1024);
    assert_eq!(second.read_response().expect("response").status, 503);
    send_paced(&mut first, &body[200 * 1024..], 16 * 1024);
    assert_eq!(first.read_response().expect("response").status, 200);
    // The stream went back to the pool.
    let mut third = RawConn::open(gw.addr());
    third
        .send(post_head("/c", "application/json", body.len()).as_bytes())
        .expect("head");
    send_paced(&mut third, &body, 16 * 1024);
    assert_eq!(third.read_response().expect("response").status, 200);
}

#[test]
fn a_100_mib_upload_streams_through_inspection_with_bounded_memory() {
    const TOTAL: u64 = 100 * 1024 * 1024;
    let up = TestUpstream::start(Behaviour::Sink);
    let dir = tempfile::tempdir().expect("tmp");
    write_pack(dir.path(), false);
    let gw = Gateway::run_config(&config(&up, dir.path()).render());
    let warm = json_body(300 * 1024, "warm");
    let mut c = RawConn::open(gw.addr());
    c.send(post_head("/warm", "application/json", warm.len()).as_bytes())
        .expect("head");
    send_paced(&mut c, &warm, 64 * 1024);
    assert_eq!(c.read_response().expect("warm").status, 200);
    let idle_kib = gw.rss_kib();
    let pid = gw.pid();
    let peak = Arc::new(AtomicU64::new(idle_kib));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let rss = rampart_tests::gateway::proc_status_kib(pid, "VmRSS:");
                peak.fetch_max(rss, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut c = RawConn::open(gw.addr());
    c.send(
        format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {TOTAL}\r\n\r\n")
            .as_bytes(),
    )
    .expect("head");
    let block = filler(64 * 1024);
    let mut sent = 0u64;
    while sent < TOTAL {
        c.send(&block).expect("block");
        sent += block.len() as u64;
    }
    let r = c.read_response().expect("response");
    done.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), format!("{{\"received\":{TOTAL}}}"));
    let growth = peak.load(Ordering::SeqCst).saturating_sub(idle_kib);
    println!("idle {idle_kib} KiB, growth {growth} KiB");
    assert!(
        growth < 40 * 1024,
        "RSS grew by {growth} KiB while streaming 100 MiB through inspection"
    );
}
