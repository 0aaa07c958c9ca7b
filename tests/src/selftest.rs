//! Self-tests of the helpers: `TestUpstream` driven directly with `RawConn`, no gateway.
//! Run with `cargo test -p rampart-tests --lib`.

use crate::client::{get_request, RawConn};
use crate::config::GatewayConfig;
use crate::upstream::{dead_addr, fnv1a, Behaviour, TestUpstream, CHUNKS, CLOSE_BODY, OK_BODY};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn get_is_answered_and_recorded() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Thing: 1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, OK_BODY);
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].target, "/a?b=c");
    assert_eq!(reqs[0].version, "HTTP/1.1");
    assert_eq!(reqs[0].header("x-thing").as_deref(), Some("1"));
    assert_eq!(reqs[0].body_len, 0);
    assert_eq!(up.connections(), 1);
}

#[test]
fn keep_alive_reuses_one_connection() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut c = RawConn::open(up.addr());
    for i in 0..5 {
        let r = c.roundtrip(&get_request(&format!("/{i}")));
        assert_eq!(r.status, 200);
    }
    assert_eq!(up.request_count(), 5);
    assert_eq!(up.connections(), 1);
    let targets: Vec<String> = up.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/0", "/1", "/2", "/3", "/4"]);
}

#[test]
fn content_length_body_recorded() {
    let up = TestUpstream::start(Behaviour::Ok);
    let body = vec![b'x'; 2048];
    let mut req = format!(
        "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = RawConn::open(up.addr()).roundtrip(&req);
    assert_eq!(r.status, 200);
    let rec = &up.requests()[0];
    assert_eq!(rec.body_len, 2048);
    assert_eq!(rec.body.as_deref(), Some(&body[..]));
    assert_eq!(rec.body_hash, fnv1a(&body));
    assert!(!rec.chunked);
}

#[test]
fn chunked_request_is_decoded() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let rec = &up.requests()[0];
    assert!(rec.chunked);
    assert_eq!(rec.body.as_deref(), Some(&b"hello world"[..]));
    // The connection is still usable afterwards.
    assert_eq!(c.roundtrip(&get_request("/after")).status, 200);
    assert_eq!(up.connections(), 1);
}

#[test]
fn chunked_response_is_decoded() {
    let up = TestUpstream::start(Behaviour::Chunked);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(&get_request("/"));
    assert_eq!(r.status, 200);
    assert!(r.chunked);
    assert_eq!(r.body, CHUNKS.concat());
    // And again on the same connection.
    assert_eq!(c.roundtrip(&get_request("/")).body, CHUNKS.concat());
}

#[test]
fn head_response_has_no_body() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").as_deref(), Some("11"));
    assert!(r.body.is_empty());
    assert_eq!(c.roundtrip(&get_request("/")).body, OK_BODY);
}

#[test]
fn expect_100_continue_is_honoured() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut c = RawConn::open(up.addr());
    c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .expect("send head");
    let interim = c.read_message("POST").expect("read 100");
    assert_eq!(interim.status, 100);
    assert_eq!(up.request_count(), 0, "upstream must wait for the body");
    c.send(b"body").expect("send body");
    let r = c.read_response().expect("final response");
    assert_eq!(r.status, 200);
    assert_eq!(up.requests()[0].body.as_deref(), Some(&b"body"[..]));
}

#[test]
fn interim_responses_are_collected() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(
        b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.interim.len(), 1);
    assert_eq!(r.interim[0].status, 100);
}

#[test]
fn close_delimited_response_then_closed() {
    let up = TestUpstream::start(Behaviour::CloseDelimited);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(&get_request("/"));
    assert_eq!(r.status, 200);
    assert!(r.close_delimited);
    assert_eq!(r.body, CLOSE_BODY);
    assert!(c.is_closed());
}

#[test]
fn close_after_each_closes_without_header() {
    let up = TestUpstream::start(Behaviour::CloseAfterEach);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(&get_request("/"));
    assert_eq!(r.status, 200);
    assert!(r.header("connection").is_none());
    assert!(c.is_closed());
}

#[test]
fn delay_delays() {
    let up = TestUpstream::start(Behaviour::Delay(300));
    let t = Instant::now();
    let r = RawConn::open(up.addr()).roundtrip(&get_request("/"));
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[test]
fn sink_counts_without_storing() {
    let up = TestUpstream::start(Behaviour::Sink);
    let mut c = RawConn::open(up.addr());
    let total: usize = 3 * 1024 * 1024;
    c.send(format!("PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n").as_bytes())
        .expect("send head");
    let block = [7u8; 64 * 1024];
    for _ in 0..total / block.len() {
        c.send(&block).expect("send block");
    }
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("{{\"received\":{total}}}"));
    let rec = &up.requests()[0];
    assert_eq!(rec.body_len, total as u64);
    assert!(rec.body.is_none());
}

#[test]
fn echo_headers_describes_request() {
    let up = TestUpstream::start(Behaviour::EchoHeaders);
    let r =
        RawConn::open(up.addr()).roundtrip(b"GET /echo HTTP/1.1\r\nHost: h\r\nX-A: \"q\"\r\n\r\n");
    let text = r.text();
    assert!(text.contains(r#""target":"/echo""#), "{text}");
    assert!(text.contains(r#"["X-A","\"q\""]"#), "{text}");
}

#[test]
fn upgrade_then_echo_tunnel() {
    let up = TestUpstream::start(Behaviour::Upgrade);
    let mut c = RawConn::open(up.addr());
    let r = c.roundtrip(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
    assert_eq!(r.status, 101);
    c.send(b"ping-1").expect("send in tunnel");
    assert_eq!(c.read_raw(6).expect("echo"), b"ping-1");
    c.send(b"pong-22").expect("send in tunnel");
    assert_eq!(c.read_raw(7).expect("echo"), b"pong-22");
}

#[test]
fn partial_request_is_not_counted() {
    let up = TestUpstream::start(Behaviour::Ok);
    let mut s = TcpStream::connect(up.addr()).expect("connect");
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .expect("write");
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(2);
    while up.heads_received() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(up.heads_received(), 1);
    assert_eq!(up.request_count(), 0);
}

#[test]
fn dead_addr_refuses_and_start_at_rebinds() {
    let addr = dead_addr();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
    let up = TestUpstream::start_at(addr, Behaviour::Ok).expect("rebind recorded port");
    assert_eq!(up.addr(), addr);
    assert_eq!(RawConn::open(addr).roundtrip(&get_request("/")).status, 200);
}

#[test]
fn drop_stops_the_server() {
    let up = TestUpstream::start(Behaviour::Ok);
    let addr = up.addr();
    let mut c = RawConn::open(addr);
    assert_eq!(c.roundtrip(&get_request("/")).status, 200);
    drop(up);
    assert!(c.is_closed());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn config_renders_keys() {
    let up = dead_addr();
    let text = GatewayConfig::new(up)
        .timeout("header_read", "1s")
        .limit("max_body_bytes", 1024)
        .fail_timeout("1s")
        .render();
    assert!(text.contains("header_read = \"1s\""), "{text}");
    assert!(text.contains("max_body_bytes = 1024"), "{text}");
    assert!(text.contains(&format!("\"http://{up}\"")), "{text}");
}
