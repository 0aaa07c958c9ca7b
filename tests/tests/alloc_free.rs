//! Steady-state allocation check, in-process: after warm-up, 10,000 keep-alive GETs through
//! the dataplane must not allocate at all.
//!
//! A counting `#[global_allocator]` sees every thread of this process: the dataplane's
//! workers, the upstream and the client here. The upstream and the client use fixed
//! buffers only, so any allocation counted during the measured phase is the dataplane's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rampart_dataplane::config::{Config, Workers};
use rampart_dataplane::events::{EventsConfig, SinkKind};
use rampart_dataplane::policy::PolicyConfig;
/// The allocation counter is process-wide: the tests take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
use rampart_dataplane::server::Server;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to `System` for every operation; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
const REQUEST: &[u8] = b"GET /alloc HTTP/1.1\r\nHost: alloc.test\r\n\r\n";

/// The default pack, with its behaviour policies in monitor mode (see the
/// overlay): thousands of requests from one address are what they stop, and
/// these tests measure steady state. The counters are still updated and read
/// and the policies evaluated on every request.
fn pack_policy() -> PolicyConfig {
    PolicyConfig {
        overlay: Some(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../perf/overlays/single-client-load.toml"),
        ),
        // The hub's file watcher (on its own thread) would poll the overlay:
        // allocations this test counts but that are not the worker's.
        watch: false,
        ..PolicyConfig::default()
    }
}

/// One-thread upstream: reads into a fixed buffer, answers `RESPONSE` per request once
/// its `Content-Length` body (if any) is in. Allocation-free once the connection is accepted.
fn upstream(listener: TcpListener, stop: Arc<AtomicBool>, response: &'static [u8]) {
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        if s.set_read_timeout(Some(Duration::from_secs(20))).is_err() {
            return;
        }
        let mut len = 0usize;
        // Body bytes of the current request still to skip; its answer is
        // owed once they are in (answering earlier would be an early response).
        let mut skip = 0usize;
        let mut owe = false;
        loop {
            let n = match s.read(&mut buf[len..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            len += n;
            let mut start = 0;
            loop {
                let t = skip.min(len - start);
                start += t;
                skip -= t;
                if skip > 0 {
                    break;
                }
                if owe {
                    if s.write_all(response).is_err() {
                        return;
                    }
                    owe = false;
                }
                match find(&buf[start..len], b"\r\n\r\n") {
                    Some(end) => {
                        skip = content_length(&buf[start..start + end + 2]).unwrap_or(0);
                        owe = true;
                        start += end + 4;
                    }
                    None => break,
                }
            }
            buf.copy_within(start..len, 0);
            len -= start;
            if len == buf.len() {
                break;
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the decimal `Content-Length` out of a response head, without allocating.
fn content_length(head: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\r\ncontent-length:";
    let pos = head
        .windows(KEY.len())
        .position(|w| w.eq_ignore_ascii_case(KEY))?;
    let mut n = 0usize;
    let mut seen = false;
    for &b in &head[pos + KEY.len()..] {
        match b {
            b' ' | b'\t' if !seen => {}
            b'0'..=b'9' => {
                n = n * 10 + usize::from(b - b'0');
                seen = true;
            }
            _ => break,
        }
    }
    seen.then_some(n)
}

/// Sends `count` requests one at a time on `s`, reading each full response
/// (which must start with `status_line`) into `buf`.
fn run_requests_expecting<S: Read + Write>(
    s: &mut S,
    buf: &mut [u8],
    count: usize,
    request: &[u8],
    status_line: &[u8],
) {
    for i in 0..count {
        s.write_all(request).expect("write request");
        let mut len = 0usize;
        loop {
            let n = s.read(&mut buf[len..]).expect("read response");
            assert!(n > 0, "gateway closed the connection at request {i}");
            len += n;
            if let Some(end) = find(&buf[..len], b"\r\n\r\n") {
                assert!(
                    buf.starts_with(status_line),
                    "request {i}: not {}",
                    String::from_utf8_lossy(status_line)
                );
                let cl = content_length(&buf[..end + 2]).expect("response has Content-Length");
                let total = end + 4 + cl;
                while len < total {
                    let n = s.read(&mut buf[len..]).expect("read body");
                    assert!(n > 0, "closed inside body at request {i}");
                    len += n;
                }
                assert_eq!(len, total, "extra bytes after response {i}");
                break;
            }
        }
    }
}

/// How the measured requests are sent.
#[derive(Clone, Copy, PartialEq)]
enum Traffic {
    /// Keep-alive requests that are forwarded.
    KeepAlive,
    /// Requests a policy blocks (answered on the same keep-alive connection).
    Blocked,
}

/// Allocations while serving 10,000 keep-alive `request`s after a warm-up.
fn steady_state_allocations(policy: PolicyConfig, request: &[u8]) -> u64 {
    steady_state_allocations_with(policy, None, Traffic::KeepAlive, request)
}

/// Like [`steady_state_allocations`], with an event log config and a kind of traffic.
fn steady_state_allocations_with(
    policy: PolicyConfig,
    events: Option<EventsConfig>,
    traffic: Traffic,
    request: &[u8],
) -> u64 {
    let measured = if traffic == Traffic::Blocked {
        3_000
    } else {
        10_000
    };
    measure(policy, events, traffic, request, 1_000, measured, RESPONSE)
}

/// Allocations while serving `measured` keep-alive `request`s after `warm` of them.
fn steady_state_allocations_n(
    policy: PolicyConfig,
    request: &[u8],
    warm: usize,
    measured: usize,
    response: &'static [u8],
) -> u64 {
    measure(
        policy,
        None,
        Traffic::KeepAlive,
        request,
        warm,
        measured,
        response,
    )
}

/// Allocations while serving `measured` `request`s after `warm` of them.
fn measure(
    policy: PolicyConfig,
    events: Option<EventsConfig>,
    traffic: Traffic,
    request: &[u8],
    warm: usize,
    measured: usize,
    response: &'static [u8],
) -> u64 {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let up_listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let up_addr = up_listener.local_addr().expect("upstream addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_up = Arc::clone(&stop);
    let up_thread = thread::spawn(move || upstream(up_listener, stop_up, response));

    let listen: SocketAddr = "127.0.0.1:0".parse().expect("literal addr");
    let mut config = Config::quick(listen, &format!("http://{up_addr}"), Workers::Count(1))
        .expect("quick config");
    config.admin = None;
    config.policy = policy;
    if let Some(e) = events {
        config.events = e;
    }
    let server = Server::start(config).expect("start the dataplane in-process");
    let gw = server.listen_addrs()[0];

    let mut client = TcpStream::connect_timeout(&gw, Duration::from_secs(5)).expect("connect");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    client
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    client.set_nodelay(true).expect("nodelay");
    let mut buf = [0u8; 16 * 1024];

    let status: &[u8] = if traffic == Traffic::Blocked {
        b"HTTP/1.1 403"
    } else {
        b"HTTP/1.1 200"
    };
    run_requests_expecting(&mut client, &mut buf, warm, request, status);
    let before = ALLOCS.load(Ordering::SeqCst);
    run_requests_expecting(&mut client, &mut buf, measured, request, status);
    let after = ALLOCS.load(Ordering::SeqCst);

    drop(client);
    server.shutdown();
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect_timeout(&up_addr, Duration::from_secs(1));
    let _ = up_thread.join();
    after - before
}

#[test]
fn steady_state_keep_alive_gets_do_not_allocate() {
    let delta = steady_state_allocations(PolicyConfig::disabled(), REQUEST);
    println!("allocations during 10,000 steady-state keep-alive GETs: {delta}");
    assert_eq!(delta, 0, "the steady state allocated {delta} times");
}

/// With the embedded default pack, every request is scanned and judged on
/// the core: that must not allocate either.
#[test]
fn judging_requests_with_the_default_pack_does_not_allocate() {
    let request = b"GET /api/v1/orders/1234/items?page=2&sort=desc&q=blue+shoes HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\nAccept: application/json\r\nCookie: session=abc123; theme=dark\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.sig\r\n\r\n";
    // One judging thread is enough: the test serialises requests anyway, and
    // the hub's file watcher has nothing to watch with the embedded pack.
    let delta = steady_state_allocations(pack_policy(), request);
    println!("allocations during 10,000 judged keep-alive GETs: {delta}");
    assert_eq!(delta, 0, "judging allocated {delta} times");
}

/// Bodies longer than the inspected prefix are streamed through the scanner
/// (pooled streams, copied matches, a second verdict): no allocation either.
#[test]
fn streaming_long_bodies_through_inspection_does_not_allocate() {
    let mut request = format!(
        "POST /upload HTTP/1.1\r\nHost: api.example.test\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        200 * 1024
    )
    .into_bytes();
    let words = [&b"lorem "[..], b"ipsum ", b"dolor ", b"sit ", b"amet "];
    let mut i = 0;
    let body_start = request.len();
    while request.len() - body_start < 200 * 1024 {
        request.extend_from_slice(words[i % words.len()]);
        i += 1;
    }
    request.truncate(body_start + 200 * 1024);
    let delta = steady_state_allocations_n(pack_policy(), &request, 100, 400, RESPONSE);
    println!("allocations during 400 streamed 200 KiB bodies: {delta}");
    assert_eq!(delta, 0, "streaming bodies allocated {delta} times");
}

/// Responses judged by the default pack's response policies, with a card
/// number masked in every one: holding, scanning and masking do not allocate.
#[test]
fn masking_responses_with_the_default_pack_does_not_allocate() {
    const LEAKY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nContent-Type: application/json\r\n\r\n{\"card\":\"4111 1111 1111 1111\",\"ok\":true}xx";
    let delta = steady_state_allocations_n(
        pack_policy(),
        b"GET /account HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
        500,
        3_000,
        LEAKY,
    );
    println!("allocations during 3,000 masked responses: {delta}");
    assert_eq!(delta, 0, "masking allocated {delta} times");
}

/// An event log in a temporary directory (events to stdout would land in the
/// test output), logging every allowed request too when `sample_all`. No
/// per-policy limit: every event is formatted, so a formatting allocation
/// cannot hide behind suppression.
fn file_events(dir: &std::path::Path, sample_all: bool) -> EventsConfig {
    EventsConfig {
        sink: SinkKind::File(dir.join("events.log")),
        sample_allowed: if sample_all { 1.0 } else { 0.0 },
        per_policy_per_second: 0,
        ..EventsConfig::default()
    }
}

/// Every judged request formats an event and queues it for the writer
/// (sampling allowed requests at 100%): the core's side stays allocation-free,
/// and so does the writer's once its buffers exist.
#[test]
fn logging_every_request_does_not_allocate() {
    let request = b"GET /api/v1/orders/1234/items?page=2&sort=desc&q=blue+shoes&token=abc HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\nAccept: application/json\r\n\r\n";
    let dir = tempfile::tempdir().expect("tmp");
    let delta = steady_state_allocations_with(
        pack_policy(),
        Some(file_events(dir.path(), true)),
        Traffic::KeepAlive,
        request,
    );
    println!("allocations during 10,000 logged keep-alive GETs: {delta}");
    assert_eq!(delta, 0, "logging allocated {delta} times");
    let log = std::fs::read_to_string(dir.path().join("events.log")).expect("event log");
    assert!(
        log.lines().count() >= 11_000,
        "{} events",
        log.lines().count()
    );
}

/// The same traffic with a per-policy event limit of 5 a second: nearly
/// every event is suppressed and counted, and summaries are written once a
/// second; that path does not allocate either.
#[test]
fn suppressing_events_over_the_limit_does_not_allocate() {
    let request = b"GET /api/v1/orders/1234/items?page=2&sort=desc&q=blue+shoes HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\nAccept: application/json\r\n\r\n";
    let dir = tempfile::tempdir().expect("tmp");
    let events = EventsConfig {
        per_policy_per_second: 5,
        ..file_events(dir.path(), true)
    };
    let delta =
        steady_state_allocations_with(pack_policy(), Some(events), Traffic::KeepAlive, request);
    println!("allocations during 10,000 keep-alive GETs, events limited: {delta}");
    assert_eq!(delta, 0, "suppressing events allocated {delta} times");
    let log = std::fs::read_to_string(dir.path().join("events.log")).expect("event log");
    let (summaries, events) = log
        .lines()
        .partition::<Vec<&str>, _>(|l| l.starts_with("{\"summary\""));
    assert!(events.len() < 1_000, "{} events logged", events.len());
    assert!(!summaries.is_empty(), "no summary of the suppressed events");
}

/// Attacks blocked by the default pack and logged, each on its own
/// connection (a block closes it).
#[test]
fn blocking_and_logging_attacks_does_not_allocate() {
    let request = b"GET /search?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users-- HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: Mozilla/5.0\r\n\r\n";
    let dir = tempfile::tempdir().expect("tmp");
    let delta = steady_state_allocations_with(
        pack_policy(),
        Some(file_events(dir.path(), false)),
        Traffic::Blocked,
        request,
    );
    println!("allocations during 3,000 blocked and logged attacks: {delta}");
    assert_eq!(delta, 0, "blocking and logging allocated {delta} times");
    let log = std::fs::read_to_string(dir.path().join("events.log")).expect("event log");
    assert!(
        log.lines().count() >= 4_000,
        "{} events",
        log.lines().count()
    );
}

/// `openssl s_client` as a TLS client in another process (its allocations
/// are not this process's): stdin carries requests, stdout responses.
struct SClient {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::process::ChildStdout,
}

impl Read for SClient {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Write for SClient {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stdin.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stdin.flush()
    }
}

/// With TLS, after the handshake: records are opened and sealed in place in
/// the connection's buffers, so a request allocates nothing either.
#[test]
fn tls_keep_alive_requests_do_not_allocate() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tmp");
    let ck = rcgen::generate_simple_self_signed(vec!["api.test".to_string()]).expect("cert");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write");

    let up_listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let up_addr = up_listener.local_addr().expect("upstream addr");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_up = Arc::clone(&stop);
    let up_thread = thread::spawn(move || upstream(up_listener, stop_up, RESPONSE));

    let listen: SocketAddr = "127.0.0.1:0".parse().expect("literal addr");
    let mut config = Config::quick(listen, &format!("http://{up_addr}"), Workers::Count(1))
        .expect("quick config");
    config.admin = None;
    config.policy = pack_policy();
    config.tls_listeners = vec![listen];
    config.tls = Some(rampart_dataplane::tls::TlsConfig {
        certificates: vec![rampart_dataplane::tls::CertSpec {
            cert,
            key,
            server_names: Vec::new(),
            at: [(0, 0); 2],
        }],
        // The file watcher (its own thread) would allocate while it looks.
        watch: false,
        ..Default::default()
    });
    let server = Server::start(config).expect("start the dataplane in-process");
    let tls_addr = server.listen_addrs()[1];

    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-nocommands", "-connect"])
        .arg(tls_addr.to_string())
        .args(["-servername", "api.test"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl s_client (tests/run.sh installs openssl)");
    let mut client = SClient {
        stdin: child.stdin.take().expect("stdin"),
        stdout: child.stdout.take().expect("stdout"),
        child,
    };
    let request = b"GET /api/v1/orders/1234/items?page=2 HTTP/1.1\r\nHost: api.test\r\nUser-Agent: orders-sync/2.1\r\nAccept: application/json\r\n\r\n";
    let mut buf = [0u8; 16 * 1024];
    run_requests_expecting(&mut client, &mut buf, 1_000, request, b"HTTP/1.1 200");
    let before = ALLOCS.load(Ordering::SeqCst);
    run_requests_expecting(&mut client, &mut buf, 10_000, request, b"HTTP/1.1 200");
    let after = ALLOCS.load(Ordering::SeqCst);

    let _ = client.child.kill();
    let _ = client.child.wait();
    server.shutdown();
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect_timeout(&up_addr, Duration::from_secs(1));
    let _ = up_thread.join();
    let delta = after - before;
    println!("allocations during 10,000 judged keep-alive GETs over TLS: {delta}");
    assert_eq!(delta, 0, "TLS requests allocated {delta} times");
}
