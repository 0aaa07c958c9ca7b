//! Request and response bodies through the proxy: chunked both ways, close-delimited
//! responses, `Expect: 100-continue`, and a 100 MiB streamed upload with bounded memory.

use rampart_tests::client::get_request;
use rampart_tests::upstream::{CHUNKS, CLOSE_BODY};
use rampart_tests::{Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn chunked_request_body_is_forwarded_decoded() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(
        b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1,\r\n1b\r\n\"b\":\"abcdefghijklmnopq\"}   \r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let q = &up.requests()[0];
    assert_eq!(
        q.body.as_deref(),
        Some(&b"{\"a\":1,\"b\":\"abcdefghijklmnopq\"}   "[..]),
        "upstream got a different body"
    );
    // The connection stays usable after a chunked body.
    assert_eq!(c.roundtrip(&get_request("/next")).status, 200);
    assert_eq!(up.requests()[1].target, "/next");
}

#[test]
fn chunked_response_reaches_the_client_decodable() {
    let up = TestUpstream::start(Behaviour::Chunked);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    for _ in 0..2 {
        let r = c.roundtrip(&get_request("/chunked-response"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, CHUNKS.concat());
    }
}

#[test]
fn close_delimited_response_is_delivered_then_client_closed() {
    let up = TestUpstream::start(Behaviour::CloseDelimited);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(&get_request("/close"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, CLOSE_BODY);
    // Either the gateway forwarded it close-delimited (then the read above consumed the
    // close) or re-framed it; in both cases the client connection must end.
    assert!(
        r.close_delimited || c.is_closed(),
        "client connection stayed open"
    );
}

#[test]
fn expect_100_continue_gets_interim_then_final() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    c.send(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("send head");
    let interim = c.read_message("POST").expect("read 100 Continue");
    assert_eq!(interim.status, 100, "expected 100 Continue first");
    c.send(b"hello world").expect("send body");
    let r = c.read_response().expect("final response");
    assert_eq!(r.status, 200);
    let q = &up.requests()[0];
    assert_eq!(q.body.as_deref(), Some(&b"hello world"[..]));
}

#[test]
fn hundred_mib_upload_streams_with_bounded_memory() {
    const TOTAL: u64 = 100 * 1024 * 1024;
    let up = TestUpstream::start(Behaviour::Sink);
    let gw = Gateway::proxy(up.addr(), &[]);
    // Warm up, then take the idle RSS.
    assert_eq!(
        RawConn::open(gw.addr())
            .roundtrip(&get_request("/warm"))
            .status,
        200
    );
    let idle_kib = gw.rss_kib();

    // Sample RSS while the upload runs.
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

    let start = Instant::now();
    let mut c = RawConn::open(gw.addr());
    c.send(
        format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n").as_bytes(),
    )
    .expect("send head");
    let block = [0x5au8; 64 * 1024];
    let mut sent = 0u64;
    while sent < TOTAL {
        c.send(&block).expect("send body block");
        sent += block.len() as u64;
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "upload too slow: {sent} bytes in 20 s"
        );
    }
    let r = c.read_response().expect("response to the upload");
    done.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler thread");
    assert_eq!(r.status, 200, "body: {}", r.text());
    assert_eq!(r.text(), format!("{{\"received\":{TOTAL}}}"));
    let reqs = up.requests();
    let q = reqs
        .iter()
        .find(|q| q.method == "PUT")
        .expect("the upstream saw the upload");
    assert_eq!(q.body_len, TOTAL, "upstream counted a different length");

    let peak_kib = peak.load(Ordering::SeqCst).max(gw.rss_kib());
    let hwm_kib = gw.hwm_kib();
    let growth_kib = peak_kib.saturating_sub(idle_kib);
    println!(
        "idle {idle_kib} KiB, peak sampled {peak_kib} KiB, VmHWM {hwm_kib} KiB, growth {growth_kib} KiB, {:?}",
        start.elapsed()
    );
    assert!(
        growth_kib < 40 * 1024,
        "RSS grew by {growth_kib} KiB during a 100 MiB upload (must stream)"
    );
    assert!(
        hwm_kib.saturating_sub(idle_kib) < 40 * 1024,
        "VmHWM {hwm_kib} KiB is 40 MiB over the idle {idle_kib} KiB"
    );
}

/// Polls `f` every 10 ms until it holds or `timeout` passes.
fn eventually(timeout: Duration, f: impl Fn() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    f()
}

#[test]
fn body_prefix_is_collected_before_anything_goes_upstream() {
    const TOTAL: usize = 200 * 1024;
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .limit("inspect_body_bytes", 64 * 1024)
            .render(),
    );
    let mut c = RawConn::open(gw.addr());
    c.send(
        format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n").as_bytes(),
    )
    .expect("send head");
    c.send(&[b'a'; 10 * 1024]).expect("first 10 KiB");
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        up.heads_received(),
        0,
        "the upstream saw the request before its 64 KiB body prefix was complete"
    );
    c.send(&[b'b'; 60 * 1024]).expect("next 60 KiB");
    assert!(
        eventually(Duration::from_secs(3), || up.heads_received() == 1),
        "the request did not go upstream once the prefix was complete"
    );
    c.send(&[b'c'; TOTAL - 70 * 1024]).expect("rest");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body_len as usize, TOTAL, "body bytes lost or added");
}

#[test]
fn chunked_body_prefix_is_collected_and_forwarded_intact() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .limit("inspect_body_bytes", 4096)
            .render(),
    );
    let mut c = RawConn::open(gw.addr());
    c.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n")
        .expect("head");
    let chunk = [b'z'; 1024];
    c.send(&chunk).expect("chunk");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        up.heads_received(),
        0,
        "forwarded before the prefix was complete"
    );
    let mut rest = Vec::new();
    rest.extend_from_slice(b"\r\n");
    for _ in 0..9 {
        rest.extend_from_slice(b"400\r\n");
        rest.extend_from_slice(&chunk);
        rest.extend_from_slice(b"\r\n");
    }
    rest.extend_from_slice(b"0\r\n\r\n");
    c.send(&rest).expect("rest");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    let reqs = up.requests();
    assert_eq!(reqs[0].body_len, 10 * 1024);
}

#[test]
fn upstream_refusing_before_the_body_is_relayed_not_502() {
    let up = TestUpstream::start(Behaviour::RejectEarly);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .limit("inspect_body_bytes", 4096)
            .render(),
    );
    let mut c = RawConn::open(gw.addr());
    let total = 8 * 1024 * 1024;
    c.send(
        format!("PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n").as_bytes(),
    )
    .expect("head");
    let block = [b'b'; 64 * 1024];
    for _ in 0..(total / block.len()) {
        if c.send(&block).is_err() {
            break;
        }
    }
    let r = c.read_response().expect("a response, not a reset");
    assert_eq!(r.status, 413, "body: {}", r.text());
    assert!(
        r.text().contains("too large"),
        "not the upstream's answer: {}",
        r.text()
    );
    assert!(
        c.is_closed(),
        "the connection must close: the rest of the body was never read"
    );
}
