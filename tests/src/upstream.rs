//! `TestUpstream`: a small threaded HTTP/1.1 origin server on 127.0.0.1 that records every
//! request it receives and answers with a chosen [`Behaviour`].
//!
//! It parses requests itself (request line, headers, `Content-Length` and chunked bodies)
//! so tests can assert exactly what the proxy forwarded. One thread per connection; dropping
//! the handle stops the accept loop and shuts every open connection down.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Bodies up to this size are stored verbatim in [`RecordedRequest::body`].
pub const MAX_STORED_BODY: usize = 64 * 1024;
/// Largest request head the upstream accepts before dropping the connection.
const MAX_HEAD: usize = 1024 * 1024;
/// Body of the default response.
pub const OK_BODY: &[u8] = br#"{"ok":true}"#;
/// The chunks of the [`Behaviour::Chunked`] response, in order.
pub const CHUNKS: [&[u8]; 3] = [b"{\"chunked\":", b"\"hello ", b"world\"}"];
/// Body of the [`Behaviour::CloseDelimited`] response.
pub const CLOSE_BODY: &[u8] = b"close-delimited body: read until EOF";

/// How the upstream answers each request. Every behaviour honours `Expect: 100-continue`
/// (it sends `100 Continue` before reading the body) and answers `HEAD` without a body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// `200`, `Content-Length`, body `{"ok":true}`, connection kept alive.
    #[default]
    Ok,
    /// `200` with `Transfer-Encoding: chunked`; the decoded body is `CHUNKS` concatenated.
    Chunked,
    /// `200` without `Content-Length`, body [`CLOSE_BODY`], then the connection is closed.
    CloseDelimited,
    /// Like [`Behaviour::Ok`] but waits this many milliseconds before answering.
    Delay(u64),
    /// Streams the body and only counts it (never stores it); answers `{"received":N}`.
    Sink,
    /// Answers a JSON document describing the request (method, target, version, headers).
    EchoHeaders,
    /// For a request carrying `Upgrade`, answers `101 Switching Protocols` and then echoes
    /// every byte back until the peer closes; other requests get [`Behaviour::Ok`].
    Upgrade,
    /// Like [`Behaviour::Ok`] (no `Connection: close` header) but closes the connection
    /// right after each response, as an origin with a short keep-alive timeout would.
    CloseAfterEach,
    /// Answers `413` with `Connection: close` as soon as the head is in, without
    /// reading the body, then closes (as an origin enforcing its own size limit).
    RejectEarly,
    /// Sends a `103 Early Hints` interim response (with a `Link` header), then
    /// [`Behaviour::Ok`].
    EarlyHints,
    /// Like [`Behaviour::Ok`] with the headers of a real application stack
    /// ([`BRANDED_HEADERS`], then `Date`, `Set-Cookie` and `ETag` that change
    /// per response), body [`BRANDED_BODY`].
    Branded,
    /// Answers the first [`Canned`] response whose `path` the request target
    /// starts with; [`Behaviour::Ok`] when none does.
    Respond(&'static [Canned]),
}

/// A fixed response for [`Behaviour::Respond`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canned {
    /// Request targets starting with this get the response.
    pub path: &'static str,
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra header lines (`Name: value`), e.g. a `Content-Encoding`.
    pub headers: &'static [&'static str],
    /// The body.
    pub body: &'static [u8],
    /// 0: `Content-Length`; otherwise chunked, in chunks of this many bytes.
    pub chunk: usize,
    /// Chunked only: pause this long after the first chunk (a slow stream).
    pub stall_ms: u64,
}

/// The stable header lines of a [`Behaviour::Branded`] response, in order.
pub const BRANDED_HEADERS: &[(&str, &str)] = &[
    ("Server", "nginx/1.25.3"),
    ("Content-Type", "application/json; charset=utf-8"),
    ("X-Powered-By", "Express"),
    ("Cache-Control", "no-store"),
    ("Vary", "Origin"),
];
/// Body of the [`Behaviour::Branded`] response.
pub const BRANDED_BODY: &[u8] = br#"{"status":"ok","data":[]}"#;

/// One request as the upstream received it.
#[derive(Clone, Debug, Default)]
pub struct RecordedRequest {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Request target as sent, e.g. `/a?b=c`.
    pub target: String,
    /// Protocol version, e.g. `HTTP/1.1`.
    pub version: String,
    /// Header fields in the order received (names as sent, values as raw bytes).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Decoded body length in bytes.
    pub body_len: u64,
    /// FNV-1a 64 hash of the decoded body (see [`fnv1a`]).
    pub body_hash: u64,
    /// The decoded body when it is at most [`MAX_STORED_BODY`] bytes (never for `Sink`).
    pub body: Option<Vec<u8>>,
    /// Index of the TCP connection (0-based, in accept order) the request came on.
    pub connection: usize,
    /// Whether the body was chunked on the wire.
    pub chunked: bool,
}

impl RecordedRequest {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The single value of header `name` as text, `None` if absent.
    /// Panics if the header appears more than once (tests want to know).
    pub fn header(&self, name: &str) -> Option<String> {
        let values = self.header_values(name);
        assert!(
            values.len() <= 1,
            "header {name} appears {} times in {:?}",
            values.len(),
            self.headers
        );
        values
            .first()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Whether header `name` is present (case-insensitive).
    pub fn has_header(&self, name: &str) -> bool {
        !self.header_values(name).is_empty()
    }
}

/// FNV-1a 64-bit, usable incrementally: start from [`FNV_OFFSET`].
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Extends an FNV-1a 64 hash `h` with `bytes`.
pub fn fnv1a_update(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a 64 hash of `bytes`, the hash stored in [`RecordedRequest::body_hash`].
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_update(FNV_OFFSET, bytes)
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    /// Streams still open, so drop can shut them down.
    open: Vec<TcpStream>,
}

struct Shared {
    behaviour: Behaviour,
    state: Mutex<State>,
    connections: AtomicUsize,
    heads: AtomicUsize,
    body_bytes: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not hide what was recorded.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running test origin server; dropping it stops it.
pub struct TestUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl TestUpstream {
    /// Starts a server on `127.0.0.1:0` answering with `behaviour`.
    pub fn start(behaviour: Behaviour) -> TestUpstream {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_at(addr, behaviour)
            .unwrap_or_else(|e| panic!("TestUpstream: cannot bind 127.0.0.1:0: {e}"))
    }

    /// Starts a server on exactly `addr` (e.g. a port recorded by [`dead_addr`]).
    /// std's `TcpListener::bind` sets `SO_REUSEADDR` on Unix, so a recently used port binds.
    pub fn start_at(addr: SocketAddr, behaviour: Behaviour) -> io::Result<TestUpstream> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour,
            state: Mutex::new(State::default()),
            connections: AtomicUsize::new(0),
            heads: AtomicUsize::new(0),
            body_bytes: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let acc_shared = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("upstream-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, acc_shared))?;
        Ok(TestUpstream {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of every complete request received so far, in completion order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Number of complete requests (head and whole body) received.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Number of request heads received, complete bodies or not.
    pub fn heads_received(&self) -> usize {
        self.shared.heads.load(Ordering::SeqCst)
    }

    /// Number of TCP connections accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Body bytes received so far over all requests, including bodies still in flight.
    pub fn body_bytes(&self) -> usize {
        self.shared.body_bytes.load(Ordering::SeqCst)
    }

    /// Polls until at least `n` complete requests were recorded or `timeout` passes;
    /// returns whether it got there.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.request_count() >= n {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        for s in self.shared.lock().open.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// A `127.0.0.254` address with (very probably) nothing listening: binds port 0, records the
/// port and closes the listener.
pub fn dead_addr() -> SocketAddr {
    // On an address of its own: test servers and gateways bind 127.0.0.1,
    // so a port freed here cannot be handed to one of them while the test
    // still counts on nothing listening there.
    let l = TcpListener::bind("127.0.0.254:0").expect("bind 127.0.0.254:0 for dead_addr");
    let addr = l.local_addr().expect("local_addr of dead_addr listener");
    drop(l);
    addr
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let id = shared.connections.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = stream.try_clone() {
            shared.lock().open.push(clone);
        }
        let s = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name(format!("upstream-conn-{id}"))
            .spawn(move || {
                // Errors end the connection; what was recorded stays recorded.
                let _ = serve_connection(stream, id, &s);
            });
    }
}

/// A parsed request head.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one CRLF- (or LF-) terminated line, without the terminator; `None` on clean EOF.
fn read_line(r: &mut impl BufRead, limit: usize) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r.by_ref().take(limit as u64).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(invalid("line too long or truncated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads a request head; `None` when the peer closed before sending anything.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut budget = MAX_HEAD;
    // Tolerate empty lines before the request line (RFC 9112 §2.2).
    let request_line = loop {
        match read_line(r, budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    budget = budget.saturating_sub(request_line.len());
    let text = String::from_utf8(request_line).map_err(|_| invalid("non-UTF-8 request line"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("bad request line {text:?}")));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, budget)?.ok_or_else(|| invalid("EOF inside head"))?;
        budget = budget.saturating_sub(line.len() + 2);
        if line.is_empty() {
            break;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| invalid("header line without colon"))?;
        let name = String::from_utf8_lossy(&line[..colon]).into_owned();
        let value = trim(&line[colon + 1..]).to_vec();
        headers.push((name, value));
    }
    Ok(Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    }))
}

/// Accumulates a body while it streams in.
struct BodyAcc<'a> {
    len: u64,
    hash: u64,
    stored: Option<Vec<u8>>,
    shared: &'a Shared,
}

impl BodyAcc<'_> {
    fn push(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        self.hash = fnv1a_update(self.hash, bytes);
        self.shared
            .body_bytes
            .fetch_add(bytes.len(), Ordering::SeqCst);
        if let Some(v) = &mut self.stored {
            if v.len() + bytes.len() > MAX_STORED_BODY {
                self.stored = None;
            } else {
                v.extend_from_slice(bytes);
            }
        }
    }
}

fn read_exact_into(r: &mut impl Read, mut n: u64, acc: &mut BodyAcc<'_>) -> io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    while n > 0 {
        let want = n.min(buf.len() as u64) as usize;
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            return Err(invalid("EOF inside body"));
        }
        acc.push(&buf[..got]);
        n -= got as u64;
    }
    Ok(())
}

fn read_chunked(r: &mut impl BufRead, acc: &mut BodyAcc<'_>) -> io::Result<()> {
    loop {
        let line = read_line(r, 4096)?.ok_or_else(|| invalid("EOF before chunk size"))?;
        let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size_text = std::str::from_utf8(trim(size_part)).map_err(|_| invalid("chunk size"))?;
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailer section up to the empty line.
            loop {
                let t = read_line(r, MAX_HEAD)?.ok_or_else(|| invalid("EOF in trailers"))?;
                if t.is_empty() {
                    return Ok(());
                }
            }
        }
        read_exact_into(r, size, acc)?;
        let crlf = read_line(r, 2)?.ok_or_else(|| invalid("EOF after chunk data"))?;
        if !crlf.is_empty() {
            return Err(invalid("chunk data not followed by CRLF"));
        }
    }
}

fn serve_connection(stream: TcpStream, id: usize, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    while !shared.stop.load(Ordering::SeqCst) {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        shared.heads.fetch_add(1, Ordering::SeqCst);
        if shared.behaviour == Behaviour::RejectEarly {
            let body = b"{\"error\":\"too large\"}";
            let out = format!(
                "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            writer.write_all(out.as_bytes())?;
            writer.write_all(body)?;
            // Closing with the body unread makes the kernel send RST to the proxy.
            return Ok(());
        }
        if head.has_token("Expect", "100-continue") {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let mut acc = BodyAcc {
            len: 0,
            hash: FNV_OFFSET,
            stored: (shared.behaviour != Behaviour::Sink).then(Vec::new),
            shared,
        };
        let chunked = head.has_token("Transfer-Encoding", "chunked");
        if chunked {
            read_chunked(&mut reader, &mut acc)?;
        } else if let Some(cl) = head.values("Content-Length").next() {
            let cl: u64 = std::str::from_utf8(cl)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| invalid("bad Content-Length"))?;
            read_exact_into(&mut reader, cl, &mut acc)?;
        }
        let is_head = head.method == "HEAD";
        let upgrade =
            shared.behaviour == Behaviour::Upgrade && head.has_token("Connection", "upgrade");
        let echo = echo_json(&head);
        let received = acc.len;
        let req_target = head.target.clone();
        shared.lock().requests.push(RecordedRequest {
            method: head.method,
            target: head.target,
            version: head.version,
            headers: head.headers,
            body_len: acc.len,
            body_hash: acc.hash,
            body: acc.stored,
            connection: id,
            chunked,
        });

        match shared.behaviour {
            Behaviour::Ok | Behaviour::Upgrade if !upgrade => {
                write_fixed(&mut writer, OK_BODY, is_head)?
            }
            Behaviour::Ok | Behaviour::Upgrade => {
                writer.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                )?;
                return tunnel_echo(reader, writer);
            }
            Behaviour::Branded => {
                let mut out = String::from("HTTP/1.1 200 OK\r\n");
                for (k, v) in BRANDED_HEADERS {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                let n = shared.heads.load(Ordering::SeqCst);
                out.push_str(&format!(
                    "Date: Tue, 24 Nov 2026 10:00:00 GMT\r\nSet-Cookie: sid=s{n}; HttpOnly\r\nETag: \"e{n}\"\r\nContent-Length: {}\r\n\r\n",
                    BRANDED_BODY.len()
                ));
                let mut out = out.into_bytes();
                if !is_head {
                    out.extend_from_slice(BRANDED_BODY);
                }
                writer.write_all(&out)?;
            }
            Behaviour::Delay(ms) => {
                thread::sleep(Duration::from_millis(ms));
                write_fixed(&mut writer, OK_BODY, is_head)?;
            }
            Behaviour::Sink => {
                let body = format!("{{\"received\":{received}}}");
                write_fixed(&mut writer, body.as_bytes(), is_head)?;
            }
            Behaviour::EchoHeaders => write_fixed(&mut writer, echo.as_bytes(), is_head)?,
            Behaviour::Chunked => {
                let mut out =
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        .to_vec();
                if !is_head {
                    for c in CHUNKS {
                        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                        out.extend_from_slice(c);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                }
                writer.write_all(&out)?;
            }
            Behaviour::CloseDelimited => {
                let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
                if !is_head {
                    out.extend_from_slice(CLOSE_BODY);
                }
                writer.write_all(&out)?;
                return writer.shutdown(Shutdown::Both);
            }
            Behaviour::CloseAfterEach => {
                write_fixed(&mut writer, OK_BODY, is_head)?;
                return writer.shutdown(Shutdown::Both);
            }
            // Answered before the body was read (above).
            Behaviour::RejectEarly => {}
            Behaviour::EarlyHints => {
                writer.write_all(
                    b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload; as=style\r\n\r\n",
                )?;
                write_fixed(&mut writer, OK_BODY, is_head)?;
            }
            Behaviour::Respond(list) => {
                match list.iter().find(|c| req_target.starts_with(c.path)) {
                    Some(c) => write_canned(&mut writer, c, is_head)?,
                    None => write_fixed(&mut writer, OK_BODY, is_head)?,
                }
            }
        }
    }
    Ok(())
}

fn write_fixed(w: &mut TcpStream, body: &[u8], is_head: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !is_head {
        out.extend_from_slice(body);
    }
    w.write_all(&out)
}

fn write_canned(w: &mut TcpStream, c: &Canned, is_head: bool) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\n",
        c.status, c.content_type
    );
    for h in c.headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    if c.chunk == 0 {
        out.push_str(&format!("Content-Length: {}\r\n\r\n", c.body.len()));
        let mut out = out.into_bytes();
        if !is_head {
            out.extend_from_slice(c.body);
        }
        return w.write_all(&out);
    }
    out.push_str("Transfer-Encoding: chunked\r\n\r\n");
    w.write_all(out.as_bytes())?;
    if is_head {
        return Ok(());
    }
    for (i, piece) in c.body.chunks(c.chunk).enumerate() {
        let mut b = format!("{:x}\r\n", piece.len()).into_bytes();
        b.extend_from_slice(piece);
        b.extend_from_slice(b"\r\n");
        w.write_all(&b)?;
        if i == 0 && c.stall_ms > 0 {
            thread::sleep(Duration::from_millis(c.stall_ms));
        }
    }
    w.write_all(b"0\r\n\r\n")
}

fn tunnel_echo(reader: BufReader<TcpStream>, mut writer: TcpStream) -> io::Result<()> {
    // Bytes already buffered after the head belong to the tunnel.
    let pending = reader.buffer().to_vec();
    if !pending.is_empty() {
        writer.write_all(&pending)?;
    }
    let mut stream = reader.into_inner();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return writer.shutdown(Shutdown::Write);
        }
        writer.write_all(&buf[..n])?;
    }
}

/// Escapes `s` as a JSON string literal (with quotes).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"method":..,"target":..,"version":..,"headers":[[name,value],..]}`, one header per pair,
/// in received order.
fn echo_json(head: &Head) -> String {
    let headers: Vec<String> = head
        .headers
        .iter()
        .map(|(n, v)| {
            format!(
                "[{},{}]",
                json_string(n),
                json_string(&String::from_utf8_lossy(v))
            )
        })
        .collect();
    format!(
        "{{\"method\":{},\"target\":{},\"version\":{},\"headers\":[{}]}}",
        json_string(&head.method),
        json_string(&head.target),
        json_string(&head.version),
        headers.join(",")
    )
}
