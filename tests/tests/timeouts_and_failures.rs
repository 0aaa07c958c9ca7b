//! Timeouts and upstream failures: slowloris heads, a dead upstream (502 then recovery),
//! a slow upstream (504) and pooled connections closed by the upstream (transparent retry).

use rampart_tests::client::get_request;
use rampart_tests::{dead_addr, Behaviour, Gateway, GatewayConfig, RawConn, TestUpstream};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn slowloris_head_is_cut_while_others_are_served() {
    let up = TestUpstream::start(Behaviour::Ok);
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .timeout("header_read", "1s")
            .render(),
    );
    let mut slow = RawConn::open(gw.addr());
    let start = Instant::now();
    slow.send(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ")
        .expect("send half a head");

    // Meanwhile another client is served normally.
    let mut other = RawConn::open(gw.addr());
    for i in 0..5 {
        let r = other.roundtrip(&get_request(&format!("/other/{i}")));
        assert_eq!(r.status, 200, "concurrent client request {i}");
        thread::sleep(Duration::from_millis(100));
    }

    let closed = slow.is_closed_within(Duration::from_secs(3).saturating_sub(start.elapsed()));
    let elapsed = start.elapsed();
    assert!(closed, "stalled head still open after {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed too early ({elapsed:?}) for header_read = 1s"
    );
    let pending = String::from_utf8_lossy(slow.pending()).into_owned();
    assert!(
        pending.is_empty() || pending.starts_with("HTTP/1.1 408"),
        "unexpected bytes to the slow client: {pending:?}"
    );
    assert_eq!(
        up.heads_received(),
        5,
        "the partial head reached the upstream"
    );
}

#[test]
fn dead_upstream_gives_502_then_recovers() {
    let dead = dead_addr();
    let gw = Gateway::run_config(
        &GatewayConfig::new(dead)
            .timeout("upstream_connect", "500ms")
            .fail_timeout("1s")
            .render(),
    );
    let start = Instant::now();
    let r = RawConn::open(gw.addr()).roundtrip(&get_request("/down"));
    let took = start.elapsed();
    assert_eq!(r.status, 502, "body: {}", r.text());
    assert!(took < Duration::from_secs(2), "502 took {took:?}");
    let body: String = r.text().chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        body.contains("\"error\":\"bad_gateway\""),
        "502 body: {body}"
    );
    assert!(
        body.contains("\"event_id\""),
        "502 body lacks event_id: {body}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "502 content-type: {:?}",
        r.header("content-type")
    );

    // Bring the upstream up on the very port; traffic must flow again within fail_timeout
    // (1 s) plus a margin.
    let up = TestUpstream::start_at(dead, Behaviour::Ok).expect("rebind the dead port");
    let revived = Instant::now();
    loop {
        let r = RawConn::open(gw.addr()).roundtrip(&get_request("/up-again"));
        if r.status == 200 {
            break;
        }
        assert!(
            revived.elapsed() < Duration::from_secs(4),
            "still {} {:?} after the upstream came back",
            r.status,
            revived.elapsed()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(up.request_count() >= 1);
}

#[test]
fn slow_upstream_gives_504() {
    let up = TestUpstream::start(Behaviour::Delay(2000));
    let gw = Gateway::run_config(
        &GatewayConfig::new(up.addr())
            .timeout("upstream_read", "500ms")
            .render(),
    );
    let start = Instant::now();
    let r = RawConn::open(gw.addr()).roundtrip(&get_request("/slow"));
    let took = start.elapsed();
    assert_eq!(r.status, 504, "body: {}", r.text());
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1800),
        "504 after {took:?} for upstream_read = 500ms"
    );
}

#[test]
fn pooled_connection_closed_by_upstream_is_retried() {
    let up = TestUpstream::start(Behaviour::CloseAfterEach);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    for i in 0..20 {
        let r = c.roundtrip(&get_request(&format!("/retry/{i}")));
        assert_eq!(r.status, 200, "request {i}: body {}", r.text());
        // Alternate: immediately (racing the upstream's FIN) and after it has landed.
        if i % 2 == 1 {
            thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(up.request_count(), 20);
    assert!(
        up.connections() >= 20,
        "each request needs a fresh upstream connection"
    );
}
