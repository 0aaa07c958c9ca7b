//! A real HTTP/1.1 server (plain TCP or rustls) with a known response time
//! and a known failure pattern, for testing the load generator against it:
//! replies chosen per request path (status, delay, Content-Length or chunked
//! body, `Connection: close`, garbage instead of HTTP), every Nth request
//! dropped unanswered, one global stall, and counters of what it received
//! (requests per path, the requests themselves, peers, connections, how many
//! pipelined requests waited at once).
//!
//! One thread per connection, std sockets: the server must be obviously right
//! rather than fast, and the loads in the tests are small.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConnection, StreamOwned};

/// How many received requests [`TestServer::log`] keeps (the first ones).
const LOG_LIMIT: usize = 20_000;

/// What the server sends back for a request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    /// Body length in bytes (`x` repeated); none for HEAD, 1xx, 204 and 304.
    pub body_len: usize,
    /// `Transfer-Encoding: chunked` with chunks of this size, each its own write.
    pub chunk: Option<usize>,
    /// Send `Connection: close` and close after the response.
    pub close: bool,
    /// Wait this long before answering (a slow backend).
    pub delay: Duration,
    /// Write the head and the body in small pieces with pauses between
    /// them, so the client must assemble a response from several reads.
    pub trickle: bool,
    /// Answer with bytes that are not HTTP at all.
    pub garbage: bool,
    /// Send a `100 Continue` interim response first.
    pub interim: bool,
    /// Chunked only: a chunk extension on each chunk and a trailer field
    /// after the last.
    pub trailers: bool,
    /// No Content-Length and no chunking: the body ends when the server
    /// closes the connection.
    pub until_close: bool,
}

impl Reply {
    /// A prompt response with this status and a 16-byte body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body_len: 16,
            chunk: None,
            close: false,
            delay: Duration::ZERO,
            trickle: false,
            garbage: false,
            interim: false,
            trailers: false,
            until_close: false,
        }
    }

    /// `200` with a 16-byte body.
    pub fn ok() -> Reply {
        Reply::status(200)
    }

    /// Not an HTTP response: an SSH banner and some text.
    pub fn garbage() -> Reply {
        Reply {
            garbage: true,
            ..Reply::ok()
        }
    }

    pub fn body(mut self, len: usize) -> Reply {
        self.body_len = len;
        self
    }

    pub fn chunked(mut self, chunk: usize) -> Reply {
        self.chunk = Some(chunk.max(1));
        self
    }

    pub fn close(mut self) -> Reply {
        self.close = true;
        self
    }

    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn interim(mut self) -> Reply {
        self.interim = true;
        self
    }

    /// Chunked with extensions and a trailer (chunks of `chunk` bytes).
    pub fn chunked_with_trailers(mut self, chunk: usize) -> Reply {
        self.chunk = Some(chunk.max(1));
        self.trailers = true;
        self
    }

    pub fn until_close(mut self) -> Reply {
        self.until_close = true;
        self
    }

    pub fn trickle(mut self) -> Reply {
        self.trickle = true;
        self
    }
}

/// The server's behaviour: a reply per path prefix, failures, a stall.
#[derive(Clone, Debug)]
pub struct Behaviour {
    default: Reply,
    routes: Vec<(String, Reply)>,
    drop_every: Option<u64>,
    stall: Option<(u64, Duration)>,
}

impl Behaviour {
    /// Every request gets `default` unless a route says otherwise.
    pub fn new(default: Reply) -> Behaviour {
        Behaviour {
            default,
            routes: Vec::new(),
            drop_every: None,
            stall: None,
        }
    }

    /// Requests whose path starts with `prefix` get `reply` (first match wins).
    pub fn route(mut self, prefix: &str, reply: Reply) -> Behaviour {
        self.routes.push((prefix.to_owned(), reply));
        self
    }

    /// Every `n`th request the server receives (counted over all
    /// connections) is not answered: its connection is closed instead.
    pub fn drop_every(mut self, n: u64) -> Behaviour {
        self.drop_every = Some(n.max(1));
        self
    }

    /// When the `request`th request arrives the whole server stalls for
    /// `length`: no response is written until the stall is over.
    pub fn stall_at(mut self, request: u64, length: Duration) -> Behaviour {
        self.stall = Some((request.max(1), length));
        self
    }

    fn reply_for(&self, path: &str) -> &Reply {
        self.routes
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
            .map(|(_, r)| r)
            .unwrap_or(&self.default)
    }
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// The target's path, without the query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
    /// Which connection (numbered from 1 in accept order) carried it.
    pub conn: u64,
}

impl Seen {
    /// The value of header `name` (case-insensitive), the first if repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times header `name` was sent.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
    max_open: AtomicU64,
    max_outstanding: AtomicU64,
    max_per_connection: AtomicU64,
    /// Requests received and never answered because the server dropped
    /// their connection (`drop_every`).
    dropped: AtomicU64,
    /// Connections closed that way.
    drops: AtomicU64,
    garbage_sent: AtomicU64,
    /// Responses held back by the stall.
    stalled: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_resumed: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    per_path: BTreeMap<String, u64>,
    per_conn: BTreeMap<u64, u64>,
    peers: BTreeSet<IpAddr>,
    log: Vec<Seen>,
}

struct Shared {
    behaviour: Behaviour,
    counts: Counts,
    stall_start: OnceLock<Instant>,
}

/// A running test server; it lives until the test process ends.
pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
}

impl TestServer {
    /// Plain HTTP on 127.0.0.1, a free port.
    pub fn start(behaviour: Behaviour) -> TestServer {
        Self::spawn(behaviour, None)
    }

    /// HTTPS on 127.0.0.1 with the PEM certificate chain and key.
    pub fn start_tls(behaviour: Behaviour, cert: &Path, key: &Path) -> TestServer {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .expect("cert file")
            .map(|c| c.expect("cert"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).expect("key file");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        Self::spawn(behaviour, Some(Arc::new(config)))
    }

    fn spawn(behaviour: Behaviour, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            behaviour,
            counts: Counts::default(),
            stall_start: OnceLock::new(),
        });
        let s = shared.clone();
        let is_tls = tls.is_some();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(peer) = stream.peer_addr() else {
                    continue;
                };
                // Counted here, in accept order, so a test that has
                // connected sees its connection counted.
                let c = &s.counts;
                let conn = c.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let open = c.open.fetch_add(1, Ordering::SeqCst) + 1;
                c.max_open.fetch_max(open, Ordering::SeqCst);
                c.state.lock().expect("state").peers.insert(peer.ip());
                let (s, tls) = (s.clone(), tls.clone());
                thread::spawn(move || {
                    serve_connection(stream, &s, tls, peer, conn);
                    s.counts.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        TestServer {
            addr,
            tls: is_tls,
            shared,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT{path}` (`https` for a TLS server).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    fn counts(&self) -> &Counts {
        &self.shared.counts
    }

    /// Requests received (complete heads and bodies), answered or not.
    pub fn requests(&self) -> u64 {
        self.counts().requests.load(Ordering::SeqCst)
    }

    /// Requests received whose path starts with `prefix`.
    pub fn requests_on(&self, prefix: &str) -> u64 {
        let st = self.counts().state.lock().expect("state");
        st.per_path
            .iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Connections accepted (for TLS: including failed handshakes).
    pub fn connections(&self) -> u64 {
        self.counts().connections.load(Ordering::SeqCst)
    }

    /// The most connections that were open at the same time.
    pub fn max_open(&self) -> u64 {
        self.counts().max_open.load(Ordering::SeqCst)
    }

    /// The most requests one connection had received and not yet answered
    /// at the same time: 1 without pipelining, the depth with it.
    pub fn max_outstanding(&self) -> u64 {
        self.counts().max_outstanding.load(Ordering::SeqCst)
    }

    /// The most requests carried by one connection.
    pub fn max_per_connection(&self) -> u64 {
        self.counts().max_per_connection.load(Ordering::SeqCst)
    }

    /// Requests left unanswered because their connection was dropped.
    pub fn dropped(&self) -> u64 {
        self.counts().dropped.load(Ordering::SeqCst)
    }

    /// Connections dropped with requests unanswered.
    pub fn drops(&self) -> u64 {
        self.counts().drops.load(Ordering::SeqCst)
    }

    /// Garbage (non-HTTP) answers sent.
    pub fn garbage_sent(&self) -> u64 {
        self.counts().garbage_sent.load(Ordering::SeqCst)
    }

    /// Responses the stall held back.
    pub fn stalled(&self) -> u64 {
        self.counts().stalled.load(Ordering::SeqCst)
    }

    /// Completed TLS handshakes.
    pub fn tls_handshakes(&self) -> u64 {
        self.counts().tls_handshakes.load(Ordering::SeqCst)
    }

    /// Completed TLS handshakes that resumed an earlier session.
    pub fn tls_resumed(&self) -> u64 {
        self.counts().tls_resumed.load(Ordering::SeqCst)
    }

    /// Distinct peer (source) addresses that connected.
    pub fn peers(&self) -> BTreeSet<IpAddr> {
        self.counts().state.lock().expect("state").peers.clone()
    }

    /// The first requests received, in arrival order.
    pub fn log(&self) -> Vec<Seen> {
        self.counts().state.lock().expect("state").log.clone()
    }
}

/// The byte stream a connection is served over: a TCP socket, or rustls on one.
trait Wire: Read + Write {
    fn set_nonblocking(&mut self, on: bool) -> io::Result<()>;
}

impl Wire for TcpStream {
    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }
}

impl Wire for StreamOwned<ServerConnection, TcpStream> {
    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        self.sock.set_nonblocking(on)
    }
}

fn serve_connection(
    stream: TcpStream,
    shared: &Shared,
    tls: Option<Arc<rustls::ServerConfig>>,
    peer: SocketAddr,
    conn: u64,
) {
    let c = &shared.counts;
    // No test runs for long: a forgotten connection must not keep a thread.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_nodelay(true);
    match tls {
        None => {
            let mut s = stream;
            serve(&mut s, shared, peer, conn);
        }
        Some(config) => {
            if let Ok(sc) = ServerConnection::new(config) {
                let mut s = StreamOwned::new(sc, stream);
                let mut ok = true;
                while s.conn.is_handshaking() {
                    if s.conn.complete_io(&mut s.sock).is_err() {
                        ok = false;
                        break;
                    }
                }
                if ok {
                    c.tls_handshakes.fetch_add(1, Ordering::SeqCst);
                    if s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                        c.tls_resumed.fetch_add(1, Ordering::SeqCst);
                    }
                    serve(&mut s, shared, peer, conn);
                }
            }
        }
    }
}

/// Reads requests and answers them in order. Before answering one it takes
/// in whatever else has already arrived, so `max_outstanding` sees how many
/// requests the client had in flight.
fn serve(w: &mut dyn Wire, shared: &Shared, peer: SocketAddr, conn: u64) {
    let c = &shared.counts;
    let mut buf: Vec<u8> = Vec::new();
    let mut pending: VecDeque<(Seen, bool)> = VecDeque::new();
    let mut tmp = vec![0u8; 64 * 1024];
    loop {
        if take_requests(shared, &mut buf, &mut pending, peer, conn).is_err() {
            return reject(w);
        }
        if pending.is_empty() {
            match w.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
            continue;
        }
        // Take in what is already there without waiting for more.
        if w.set_nonblocking(true).is_err() {
            return;
        }
        let mut eof = false;
        loop {
            match w.read(&mut tmp) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        if w.set_nonblocking(false).is_err() {
            return;
        }
        if take_requests(shared, &mut buf, &mut pending, peer, conn).is_err() {
            return reject(w);
        }
        let Some((seen, drop)) = pending.pop_front() else {
            continue;
        };
        if drop {
            c.dropped
                .fetch_add(1 + pending.len() as u64, Ordering::SeqCst);
            c.drops.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let reply = shared.behaviour.reply_for(&seen.path).clone();
        let client_close = seen
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match answer(w, shared, &seen, &reply) {
            Ok(()) if !reply.close && !reply.until_close && !client_close => {}
            _ => return,
        }
        if eof && pending.is_empty() {
            return;
        }
    }
}

/// What a web server says to bytes that are not HTTP (such as a TLS
/// ClientHello): 400, then it closes.
fn reject(w: &mut dyn Wire) {
    let _ =
        w.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = w.flush();
}

/// Moves the complete requests at the start of `buf` to `pending` (each
/// with whether to drop it), counting them; `Err` if `buf` is not HTTP.
fn take_requests(
    shared: &Shared,
    buf: &mut Vec<u8>,
    pending: &mut VecDeque<(Seen, bool)>,
    peer: SocketAddr,
    conn: u64,
) -> Result<(), ()> {
    let c = &shared.counts;
    while let Some((seen, used)) = parse_request(buf, peer, conn)? {
        buf.drain(..used);
        let drop = register(shared, &seen);
        pending.push_back((seen, drop));
    }
    c.max_outstanding
        .fetch_max(pending.len() as u64, Ordering::SeqCst);
    Ok(())
}

/// Counts a received request; true if it is to be dropped unanswered.
fn register(shared: &Shared, seen: &Seen) -> bool {
    let c = &shared.counts;
    let n = c.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some((at, _)) = shared.behaviour.stall {
        if n == at {
            let _ = shared.stall_start.set(Instant::now());
        }
    }
    {
        let mut st = c.state.lock().expect("state");
        *st.per_path.entry(seen.path.clone()).or_default() += 1;
        let on_conn = st.per_conn.entry(seen.conn).or_default();
        *on_conn += 1;
        c.max_per_connection.fetch_max(*on_conn, Ordering::SeqCst);
        if st.log.len() < LOG_LIMIT {
            st.log.push(seen.clone());
        }
    }
    shared.behaviour.drop_every.is_some_and(|k| n % k == 0)
}

/// One complete request at the start of `buf` and its length; `Ok(None)`
/// if more bytes are needed, `Err` if it is not HTTP.
fn parse_request(buf: &[u8], peer: SocketAddr, conn: u64) -> Result<Option<(Seen, usize)>, ()> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let body_len = match headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        Some((_, v)) => v.trim().parse::<usize>().map_err(|_| ())?,
        None => 0,
    };
    if buf.len() < head_len + body_len {
        return Ok(None);
    }
    let target = req.path.unwrap_or("").to_owned();
    let path = target.split('?').next().unwrap_or("").to_owned();
    let seen = Seen {
        method: req.method.unwrap_or("").to_owned(),
        target,
        path,
        headers,
        body: buf[head_len..head_len + body_len].to_vec(),
        peer,
        conn,
    };
    Ok(Some((seen, head_len + body_len)))
}

fn answer(w: &mut dyn Wire, shared: &Shared, seen: &Seen, reply: &Reply) -> io::Result<()> {
    if !reply.delay.is_zero() {
        thread::sleep(reply.delay);
    }
    wait_out_stall(shared);
    if reply.garbage {
        shared.counts.garbage_sent.fetch_add(1, Ordering::SeqCst);
        w.write_all(b"SSH-2.0-OpenSSH_9.6\r\nthis is not an HTTP response\r\n\r\n")?;
        return w.flush();
    }
    let status = reply.status;
    // RFC 9112 6.3: no body after HEAD, 1xx, 204 and 304, whatever the headers say.
    let bodiless = seen.method == "HEAD" || status < 200 || status == 204 || status == 304;
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    head.push_str("Server: loadgen-test\r\n");
    if status != 204 && !(100..200).contains(&status) && !reply.until_close {
        match reply.chunk {
            Some(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
            // A 304's and a HEAD response's Content-Length describe the body a
            // GET would have had; none follows.
            None => head.push_str(&format!("Content-Length: {}\r\n", reply.body_len)),
        }
    }
    if reply.close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let body = vec![b'x'; if bodiless { 0 } else { reply.body_len }];
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    if reply.interim {
        pieces.push(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec());
    }
    match (reply.chunk, bodiless) {
        (Some(size), false) => {
            pieces.push(head.into_bytes());
            let ext = if reply.trailers { ";name=\"v\"" } else { "" };
            for part in body.chunks(size) {
                let mut p = format!("{:x}{ext}\r\n", part.len()).into_bytes();
                p.extend_from_slice(part);
                p.extend_from_slice(b"\r\n");
                pieces.push(p);
            }
            if reply.trailers {
                pieces.push(b"0;end\r\nX-Checksum: 0123abcd\r\nX-Other: 1\r\n\r\n".to_vec());
            } else {
                pieces.push(b"0\r\n\r\n".to_vec());
            }
        }
        _ => {
            let mut all = head.into_bytes();
            all.extend_from_slice(&body);
            if reply.trickle {
                // Cut the head in the middle of a line, the body in three.
                let cuts = [7, all.len() / 3, all.len() / 2, all.len() * 5 / 6];
                let mut from = 0;
                for cut in cuts {
                    if cut > from && cut < all.len() {
                        pieces.push(all[from..cut].to_vec());
                        from = cut;
                    }
                }
                pieces.push(all[from..].to_vec());
            } else {
                pieces.push(all);
            }
        }
    }
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        w.write_all(&p)?;
        w.flush()?;
        if (reply.trickle || reply.chunk.is_some() || reply.interim) && i + 1 < n {
            thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(())
}

/// While the stall lasts, nothing is written: every answer waits for its end.
fn wait_out_stall(shared: &Shared) {
    let (Some((_, length)), Some(start)) = (shared.behaviour.stall, shared.stall_start.get())
    else {
        return;
    };
    let end = *start + length;
    let now = Instant::now();
    if now < end {
        shared.counts.stalled.fetch_add(1, Ordering::SeqCst);
        thread::sleep(end - now);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Other",
    }
}
