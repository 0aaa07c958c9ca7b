//! Basic proxying through the real binary: exact forwarding, forwarding headers, hop-by-hop
//! stripping, keep-alive reuse on both sides, pipelining, HEAD, HTTP/1.0 and Upgrade.

use rampart_tests::client::get_request;
use rampart_tests::upstream::OK_BODY;
use rampart_tests::{Behaviour, Gateway, RawConn, TestUpstream};
use std::time::Duration;

fn setup(b: Behaviour) -> (TestUpstream, Gateway) {
    let up = TestUpstream::start(b);
    let gw = Gateway::proxy(up.addr(), &[]);
    (up, gw)
}

#[test]
fn get_is_forwarded_exactly() {
    let (up, gw) = setup(Behaviour::Ok);
    let r = RawConn::open(gw.addr()).roundtrip(
        b"GET /v1/users/42?fields=a,b&x=%20y HTTP/1.1\r\nHost: api.example.test\r\nAccept: application/json\r\nUser-Agent: e2e\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, OK_BODY);
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1, "upstream saw {reqs:?}");
    let q = &reqs[0];
    assert_eq!(q.method, "GET");
    assert_eq!(q.target, "/v1/users/42?fields=a,b&x=%20y");
    assert_eq!(q.version, "HTTP/1.1");
    assert_eq!(q.header("host").as_deref(), Some("api.example.test"));
    assert_eq!(q.header("accept").as_deref(), Some("application/json"));
    assert_eq!(q.header("user-agent").as_deref(), Some("e2e"));
    assert_eq!(q.body_len, 0);
}

#[test]
fn post_2k_json_is_forwarded_exactly() {
    let (up, gw) = setup(Behaviour::Ok);
    let mut json = String::from("{\"items\":[");
    while json.len() < 2048 - 40 {
        json.push_str("{\"id\":1,\"v\":\"abc\"},");
    }
    json.push_str("{\"id\":0}],\"pad\":\"");
    while json.len() < 2048 - 2 {
        json.push('x');
    }
    json.push_str("\"}");
    assert_eq!(json.len(), 2048);
    let req = format!(
        "POST /api/items?x=1 HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    );
    let r = RawConn::open(gw.addr()).roundtrip(req.as_bytes());
    assert_eq!(r.status, 200);
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    let q = &reqs[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.target, "/api/items?x=1");
    assert_eq!(q.body.as_deref(), Some(json.as_bytes()));
    assert_eq!(q.header("content-length").as_deref(), Some("2048"));
    assert_eq!(
        q.header("content-type").as_deref(),
        Some("application/json")
    );
}

#[test]
fn forwarding_headers_and_request_id_are_added() {
    let (up, gw) = setup(Behaviour::Ok);
    let r = RawConn::open(gw.addr()).roundtrip(&get_request("/fwd"));
    assert_eq!(r.status, 200);
    let q = &up.requests()[0];
    assert_eq!(q.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(q.header("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        q.header("forwarded").as_deref(),
        Some("for=127.0.0.1;proto=http")
    );
    let id = q.header("x-request-id").expect("upstream got X-Request-Id");
    assert_eq!(id.len(), 16, "X-Request-Id {id:?} is not 16 chars");
    assert!(
        id.bytes().all(|b| b.is_ascii_hexdigit()),
        "X-Request-Id {id:?} is not hex"
    );
    assert_eq!(
        r.header("x-request-id").as_deref(),
        Some(id.as_str()),
        "client must see the same X-Request-Id"
    );
}

#[test]
fn request_ids_differ_between_requests() {
    let (up, gw) = setup(Behaviour::Ok);
    let mut c = RawConn::open(gw.addr());
    for _ in 0..3 {
        assert_eq!(c.roundtrip(&get_request("/")).status, 200);
    }
    let mut ids: Vec<String> = up
        .requests()
        .iter()
        .map(|q| q.header("x-request-id").expect("X-Request-Id"))
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids repeat: {ids:?}");
}

#[test]
fn hop_by_hop_headers_are_removed() {
    let (up, gw) = setup(Behaviour::Ok);
    let r = RawConn::open(gw.addr()).roundtrip(
        b"GET /hop HTTP/1.1\r\nHost: x\r\nConnection: foo\r\nFoo: x\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let q = &up.requests()[0];
    for h in ["foo", "keep-alive", "proxy-connection"] {
        assert!(
            !q.has_header(h),
            "{h} reached the upstream: {:?}",
            q.headers
        );
    }
    for v in q.header_values("connection") {
        let v = String::from_utf8_lossy(v).to_ascii_lowercase();
        assert!(!v.contains("foo"), "Connection: {v} forwarded");
    }
    assert_eq!(q.header("x-kept").as_deref(), Some("yes"));
}

#[test]
fn spoofed_x_forwarded_for_is_replaced() {
    let (up, gw) = setup(Behaviour::Ok);
    let r = RawConn::open(gw.addr()).roundtrip(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let q = &up.requests()[0];
    assert_eq!(
        q.header_values("x-forwarded-for"),
        vec![&b"127.0.0.1"[..]],
        "XFF must be replaced, not appended"
    );
    let fwd: Vec<String> = q
        .header_values("forwarded")
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        fwd.iter().all(|v| !v.contains("6.6.6.6")),
        "spoofed Forwarded kept: {fwd:?}"
    );
}

#[test]
fn fifty_requests_on_one_client_connection_reuse_upstream() {
    let (up, gw) = setup(Behaviour::Ok);
    let mut c = RawConn::open(gw.addr());
    for i in 0..50 {
        let r = c.roundtrip(&get_request(&format!("/ka/{i}")));
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, OK_BODY);
    }
    assert_eq!(up.request_count(), 50);
    let conns = up.connections();
    assert!(
        (1..=2).contains(&conns),
        "upstream saw {conns} connections for 50 keep-alive requests"
    );
}

#[test]
fn separate_client_connections_share_pooled_upstream_connections() {
    let (up, gw) = setup(Behaviour::Ok);
    for i in 0..10 {
        let mut c = RawConn::open(gw.addr());
        assert_eq!(c.roundtrip(&get_request(&format!("/c/{i}"))).status, 200);
    }
    assert_eq!(up.request_count(), 10);
    let conns = up.connections();
    assert!(
        conns <= 2,
        "upstream saw {conns} connections for 10 clients"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (up, gw) = setup(Behaviour::EchoHeaders);
    let mut c = RawConn::open(gw.addr());
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.extend_from_slice(&get_request(&format!("/pipe/{i}")));
    }
    c.send(&batch).expect("send pipelined batch");
    for i in 0..5 {
        let r = c.read_response().expect("pipelined response");
        assert_eq!(r.status, 200, "response {i}");
        let want = format!("\"target\":\"/pipe/{i}\"");
        assert!(
            r.text().contains(&want),
            "response {i} out of order: {}",
            r.text()
        );
    }
    assert_eq!(up.request_count(), 5);
}

#[test]
fn head_gets_headers_without_body() {
    let (up, gw) = setup(Behaviour::Ok);
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").as_deref(), Some("11"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(r.body.is_empty());
    // No stray body bytes: the next response on the connection parses cleanly.
    let r2 = c.roundtrip(&get_request("/after-head"));
    assert_eq!(r2.status, 200);
    assert_eq!(r2.body, OK_BODY);
    assert_eq!(up.requests()[0].method, "HEAD");
}

#[test]
fn http10_request_is_answered_then_closed() {
    let (_up, gw) = setup(Behaviour::Ok);
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(b"GET /old HTTP/1.0\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, OK_BODY);
    assert!(c.is_closed(), "HTTP/1.0 without keep-alive must be closed");
}

#[test]
fn http10_keep_alive_is_kept_open() {
    let (up, gw) = setup(Behaviour::Ok);
    let mut c = RawConn::open(gw.addr());
    let req = b"GET /old HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(c.roundtrip(req).status, 200);
    assert!(!c.is_closed_within(Duration::from_millis(300)));
    assert_eq!(c.roundtrip(req).status, 200);
    assert_eq!(up.request_count(), 2);
}

#[test]
fn upgrade_tunnels_bytes_both_ways() {
    let (up, gw) = setup(Behaviour::Upgrade);
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert_eq!(r.status, 101);
    assert!(r.has_token("upgrade", "websocket"), "{:?}", r.headers);
    let q = &up.requests()[0];
    assert_eq!(q.target, "/ws");
    assert!(q.has_header("upgrade"), "Upgrade must reach the upstream");
    for msg in [&b"hello through the tunnel"[..], &[0u8, 1, 2, 255, 254][..]] {
        c.send(msg).expect("send in tunnel");
        assert_eq!(c.read_raw(msg.len()).expect("echo back"), msg);
    }
    let big = vec![b'z'; 48 * 1024];
    c.send(&big).expect("send 48 KiB in tunnel");
    assert_eq!(c.read_raw(big.len()).expect("echo back 48 KiB"), big);
}

#[test]
fn interim_responses_are_relayed_to_http11_clients_only() {
    let up = TestUpstream::start(Behaviour::EarlyHints);
    let gw = Gateway::proxy(up.addr(), &[]);
    let mut c = RawConn::open(gw.addr());
    let r = c.roundtrip(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.interim.len(), 1, "the 103 was not relayed");
    assert_eq!(r.interim[0].status, 103);
    assert!(r.interim[0]
        .header("link")
        .is_some_and(|l| l.contains("rel=preload")));
    // The connection is still in step: the next exchange works.
    assert_eq!(c.roundtrip(&get_request("/again")).status, 200);

    // HTTP/1.0 cannot take interim responses: only the final one arrives.
    let mut old = RawConn::open(gw.addr());
    let r = old.roundtrip(b"GET /page HTTP/1.0\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(r.interim.is_empty(), "a 1xx was sent to an HTTP/1.0 client");
}
