//! The test server itself, checked with raw sockets: if it did not do what
//! the load generator's tests say it does, those tests would prove nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::pki::pki;
use super::test_server::{Behaviour, Reply, TestServer};

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

fn last(method: &str, path: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
}

/// Writes `raw` in one go and reads until the server closes.
fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(raw.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status lines in a stream of responses (bodies run into the next
/// status line: they end without a line break).
fn status_lines(text: &str) -> Vec<&str> {
    text.match_indices("HTTP/1.1 ")
        .map(|(i, _)| {
            let rest = &text[i..];
            &rest[..rest.find("\r\n").unwrap_or(rest.len())]
        })
        .collect()
}

#[test]
fn pipelined_requests_are_answered_in_order_with_the_status_of_their_path() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok())
            .route("/s/404", Reply::status(404))
            .route("/s/429", Reply::status(429)),
    );
    let raw = get("/s/404") + &get("/a?x=1") + &get("/s/429") + &last("GET", "/b");
    let text = exchange(srv.addr(), &raw);
    assert_eq!(
        status_lines(&text),
        [
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 429 Too Many Requests",
            "HTTP/1.1 200 OK"
        ],
        "{text}"
    );
    assert_eq!(srv.requests(), 4);
    assert_eq!(srv.requests_on("/s/"), 2);
    assert_eq!(srv.requests_on("/a"), 1);
    // One write carried all four: they waited together.
    assert!(srv.max_outstanding() >= 2, "{}", srv.max_outstanding());
    assert_eq!(srv.max_per_connection(), 4);
    assert_eq!(srv.connections(), 1);
    let log = srv.log();
    assert_eq!(log[1].target, "/a?x=1");
    assert_eq!(log[1].path, "/a");
    assert_eq!(log[1].header("host"), Some("t"));
}

#[test]
fn request_bodies_are_read_by_content_length() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let raw = "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello".to_string()
        + &last("GET", "/q");
    let text = exchange(srv.addr(), &raw);
    assert_eq!(status_lines(&text).len(), 2, "{text}");
    let log = srv.log();
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].body, b"hello");
    assert_eq!(log[1].path, "/q");
}

#[test]
fn chunked_bodies_are_framed_as_chunks() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().body(250).chunked(100)));
    let text = exchange(srv.addr(), &last("GET", "/"));
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    let x = |n| "x".repeat(n);
    assert_eq!(
        body,
        format!(
            "64\r\n{}\r\n64\r\n{}\r\n32\r\n{}\r\n0\r\n\r\n",
            x(100),
            x(100),
            x(50)
        )
    );
}

#[test]
fn interim_responses_trailers_and_close_delimited_bodies() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok())
            .route("/t", Reply::ok().body(5).chunked_with_trailers(3).interim())
            .route("/c", Reply::ok().body(7).until_close()),
    );
    let text = exchange(srv.addr(), &(get("/t") + &get("/c") + &get("/never")));
    assert_eq!(
        text,
        "HTTP/1.1 100 Continue\r\n\r\n\
         HTTP/1.1 200 OK\r\nServer: loadgen-test\r\nTransfer-Encoding: chunked\r\n\r\n\
         3;name=\"v\"\r\nxxx\r\n2;name=\"v\"\r\nxx\r\n0;end\r\nX-Checksum: 0123abcd\r\nX-Other: 1\r\n\r\n\
         HTTP/1.1 200 OK\r\nServer: loadgen-test\r\n\r\nxxxxxxx"
    );
}

#[test]
fn trickled_responses_arrive_whole() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().body(1000).trickle()));
    let text = exchange(srv.addr(), &last("GET", "/"));
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 1000"), "{head}");
    assert_eq!(body, "x".repeat(1000));
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok().body(500))
            .route("/204", Reply::status(204))
            .route("/304", Reply::status(304).body(1234)),
    );
    let raw =
        "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n".to_string() + &get("/204") + &last("GET", "/304");
    let text = exchange(srv.addr(), &raw);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nServer: loadgen-test\r\nContent-Length: 500\r\n\r\n\
         HTTP/1.1 204 No Content\r\nServer: loadgen-test\r\n\r\n\
         HTTP/1.1 304 Not Modified\r\nServer: loadgen-test\r\nContent-Length: 1234\r\n\r\n"
    );
}

#[test]
fn connection_close_replies_close_the_connection() {
    let srv = TestServer::start(Behaviour::new(Reply::ok().close()));
    // Two requests, but the first answer closes: the second is never answered.
    let text = exchange(srv.addr(), &(get("/1") + &get("/2")));
    assert_eq!(status_lines(&text), ["HTTP/1.1 200 OK"], "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
}

#[test]
fn every_nth_request_is_dropped_unanswered() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()).drop_every(3));
    // Requests 1 and 2 are answered, 3 is dropped together with 4 behind it.
    let text = exchange(
        srv.addr(),
        &(get("/1") + &get("/2") + &get("/3") + &get("/4")),
    );
    assert_eq!(status_lines(&text).len(), 2, "{text}");
    assert_eq!(srv.dropped(), 2);
    assert_eq!(srv.drops(), 1);
    // The count runs over connections: the next connection's first request
    // is number 5, its second number 6 is dropped.
    let text = exchange(srv.addr(), &(get("/5") + &get("/6")));
    assert_eq!(status_lines(&text).len(), 1, "{text}");
    assert_eq!(srv.dropped(), 3);
    assert_eq!(srv.drops(), 2);
}

#[test]
fn garbage_is_not_http() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()).route("/g", Reply::garbage()));
    let text = exchange(srv.addr(), &(get("/g") + &last("GET", "/ok")));
    assert!(text.starts_with("SSH-2.0-"), "{text}");
    assert_eq!(status_lines(&text), ["HTTP/1.1 200 OK"], "{text}");
    assert_eq!(srv.garbage_sent(), 1);
}

#[test]
fn what_is_not_http_gets_400_and_a_close() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let text = exchange(srv.addr(), "\x16\x03\x01\x00\x05hello\r\n\r\n");
    assert_eq!(
        text,
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(srv.requests(), 0);
}

#[test]
fn delays_and_the_stall_hold_answers_back() {
    let srv = TestServer::start(
        Behaviour::new(Reply::ok())
            .route("/slow", Reply::ok().delay(Duration::from_millis(50)))
            .stall_at(2, Duration::from_millis(300)),
    );
    let t = Instant::now();
    exchange(srv.addr(), &last("GET", "/slow"));
    assert!(t.elapsed() >= Duration::from_millis(50));
    assert_eq!(srv.stalled(), 0);
    // The second request starts the stall: its answer waits it out, and so
    // does any other answer due before it ends.
    let t = Instant::now();
    let other = std::thread::spawn({
        let addr = srv.addr();
        move || {
            std::thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            exchange(addr, &last("GET", "/"));
            t.elapsed()
        }
    });
    exchange(srv.addr(), &last("GET", "/"));
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(other.join().expect("other") >= Duration::from_millis(200));
    assert_eq!(srv.stalled(), 2);
    // After the stall, answers are prompt again (not counted as stalled).
    exchange(srv.addr(), &last("GET", "/"));
    assert_eq!(srv.stalled(), 2);
}

#[test]
fn connections_and_peers_are_counted() {
    let srv = TestServer::start(Behaviour::new(Reply::ok()));
    let a = TcpStream::connect(srv.addr()).expect("a");
    let b = TcpStream::connect(srv.addr()).expect("b");
    exchange(srv.addr(), &last("GET", "/"));
    assert_eq!(srv.connections(), 3);
    assert_eq!(srv.max_open(), 3);
    assert_eq!(
        srv.peers().into_iter().collect::<Vec<_>>(),
        [std::net::IpAddr::from([127, 0, 0, 1])]
    );
    drop((a, b));
}

#[test]
fn the_tls_server_answers_over_rustls() {
    let p = pki();
    let srv = TestServer::start_tls(Behaviour::new(Reply::status(403)), &p.cert, &p.key);
    assert!(srv.url("/x").starts_with("https://127.0.0.1:"));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&p.ca).expect("ca") {
        roots.add(c.expect("ca cert")).expect("add");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let sock = TcpStream::connect(srv.addr()).expect("connect");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(last("GET", "/x").as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{text}");
    assert_eq!(srv.tls_handshakes(), 1);
    assert_eq!(srv.requests_on("/x"), 1);
}
