//! The admin listener, off the hot path: Prometheus metrics (`/metrics`), liveness
//! (`/healthz`) and readiness (`/readyz`) on a small blocking std::net server, plus the
//! metric names, descriptions and latency buckets the cores report into. Requests
//! under `/api/` go to the admin API ([`crate::admin_api`]) with the connection.
//!
//! The cores never touch this module per request: they keep plain (non-atomic)
//! counters and fixed-bucket histograms locally and add the deltas to the global
//! recorder about once a second. That is why the latency histogram is exposed as
//! `rampart_request_duration_seconds_bucket{le}` *counters* rather than a recorder
//! histogram: a recorder histogram would need a shared atomic (or a lock) per
//! sample on the hot path.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, Unit};
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

/// Total requests whose head was parsed (before any policy decision).
pub const REQUESTS_TOTAL: &str = "rampart_requests_total";
/// Responses sent to clients, by `class` label (`1xx`..`5xx`).
pub const RESPONSES_TOTAL: &str = "rampart_responses_total";
/// Upstream failures, by `kind` label (connect, timeout, reset, bad_response, ...).
pub const UPSTREAM_ERRORS_TOTAL: &str = "rampart_upstream_errors_total";
/// Bytes read from client sockets.
pub const BYTES_RECEIVED_TOTAL: &str = "rampart_bytes_received_total";
/// Bytes written to client sockets.
pub const BYTES_SENT_TOTAL: &str = "rampart_bytes_sent_total";
/// Client connections currently open (gauge).
pub const ACTIVE_CONNECTIONS: &str = "rampart_active_connections";
/// Requests the gateway answered itself with an error, by `status` label.
pub const REJECTED_REQUESTS_TOTAL: &str = "rampart_rejected_requests_total";
/// Latency histogram buckets (cumulative counters with an `le` label).
pub const REQUEST_DURATION_BUCKET: &str = "rampart_request_duration_seconds_bucket";
/// Number of latency samples.
pub const REQUEST_DURATION_COUNT: &str = "rampart_request_duration_seconds_count";
/// Sum of latency samples, in seconds.
pub const REQUEST_DURATION_SUM: &str = "rampart_request_duration_seconds_sum";

/// Upper bounds (seconds) of the request-duration buckets; `+Inf` is implicit.
/// 100 µs .. 10 s in a 1-2.5-5 progression: a loopback proxy hop is tens of µs,
/// a slow upstream is seconds, and 16 buckets keep the per-core array small.
pub const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The `le` label values matching [`LATENCY_BUCKETS_SECONDS`], then `+Inf`.
/// Precomputed so the once-a-second flush does not format floats.
pub const LATENCY_BUCKET_LABELS: [&str; 17] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

/// Index of the first bucket whose bound is >= `seconds` (the `+Inf` slot,
/// `LATENCY_BUCKETS_SECONDS.len()`, if none). A core counts a sample in this one
/// slot and makes the counts cumulative only when it flushes.
pub fn latency_bucket_index(seconds: f64) -> usize {
    LATENCY_BUCKETS_SECONDS
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(LATENCY_BUCKETS_SECONDS.len())
}

/// Time spent judging one request (scan + evaluation), histogram buckets.
pub const INSPECTION_DURATION_BUCKET: &str = "rampart_inspection_duration_seconds_bucket";
/// Number of inspection-time samples.
pub const INSPECTION_DURATION_COUNT: &str = "rampart_inspection_duration_seconds_count";
/// Sum of inspection times in seconds, per worker (gauge, like the latency sum).
pub const INSPECTION_DURATION_SUM: &str = "rampart_inspection_duration_seconds_sum";

/// Upper bounds (seconds) of the inspection-time buckets: 10 µs .. 100 ms
/// (a default-pack scan of a small request is tens of µs).
pub const INSPECTION_BUCKETS_SECONDS: [f64; 13] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,
];

/// The `le` labels of [`INSPECTION_BUCKETS_SECONDS`], then `+Inf`.
pub const INSPECTION_BUCKET_LABELS: [&str; 14] = [
    "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01", "0.025", "0.05", "0.1", "+Inf",
];

/// Errors from setting up the admin side.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The Prometheus recorder could not be built or installed (e.g. a recorder is
    /// already installed in this process).
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(#[from] BuildError),
}

/// Installs the process-wide Prometheus recorder and describes Rampart's metrics.
/// Call once, before the workers start; the returned handle renders `/metrics`.
pub fn install_metrics_recorder() -> Result<PrometheusHandle, AdminError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    describe_metrics();
    Ok(handle)
}

/// Registers HELP/TYPE text for every metric with the current recorder.
pub fn describe_metrics() {
    describe_counter!(REQUESTS_TOTAL, "Requests whose head was parsed.");
    describe_counter!(
        RESPONSES_TOTAL,
        "Responses sent to clients, by status class."
    );
    describe_counter!(
        UPSTREAM_ERRORS_TOTAL,
        "Failures talking to upstreams, by kind."
    );
    describe_counter!(
        BYTES_RECEIVED_TOTAL,
        Unit::Bytes,
        "Bytes read from client connections."
    );
    describe_counter!(
        BYTES_SENT_TOTAL,
        Unit::Bytes,
        "Bytes written to client connections."
    );
    describe_gauge!(ACTIVE_CONNECTIONS, "Client connections currently open.");
    describe_counter!(
        REJECTED_REQUESTS_TOTAL,
        "Requests the gateway answered itself with an error, by status."
    );
    describe_counter!(
        REQUEST_DURATION_BUCKET,
        "Request duration histogram buckets (cumulative counts, le in seconds)."
    );
    describe_counter!(
        REQUEST_DURATION_COUNT,
        "Number of request duration samples."
    );
    describe_counter!(
        INSPECTION_DURATION_BUCKET,
        "Policy inspection time per request, histogram buckets (cumulative, le in seconds)."
    );
    describe_counter!(
        INSPECTION_DURATION_COUNT,
        "Number of requests inspected by policy."
    );
    describe_gauge!(
        INSPECTION_DURATION_SUM,
        Unit::Seconds,
        "Sum of policy inspection times in seconds, per worker."
    );
    describe_counter!(
        crate::events::EVENTS_TOTAL,
        "Security events by outcome: written, dropped_queue_full, dropped_sink_error, suppressed (left out by the per-policy limit, summarised)."
    );
    describe_counter!(
        crate::events::POLICY_VERDICTS_TOTAL,
        "Requests each policy matched, by policy id, its action and its mode."
    );
    crate::policy::intel::describe_metrics();
    describe_counter!(
        REQUEST_DURATION_SUM,
        Unit::Seconds,
        "Sum of request durations in seconds."
    );
}

/// Worker threads answering admin requests. Two is enough for a scraper plus a
/// health checker, and bounds what a flood on the admin port can cost.
const ADMIN_WORKERS: usize = 2;
/// Accepted connections waiting for a worker; beyond this new ones are closed.
const ADMIN_QUEUE: usize = 16;
/// Per-socket read/write timeout so a stuck or slow client cannot pin a worker.
const ADMIN_IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head accepted; admin requests are one line and a Host header.
const ADMIN_MAX_HEAD: usize = 8 * 1024;

struct AdminState {
    metrics: Option<PrometheusHandle>,
    ready: Arc<AtomicBool>,
    hub: Option<crate::policy::hub::Hub>,
    api: Option<Arc<crate::admin_api::Api>>,
    /// Certificate reloads (TLS listeners only): `POST /admin/reload` asks
    /// for one too, as SIGHUP does.
    tls: Option<crate::tls::reload::TlsReloader>,
}

/// How long `POST /admin/reload` waits for the hub (a reload of a large pack
/// set compiles thousands of patterns).
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// Starts the admin listener on `addr` (port 0 picks a free port) and returns the
/// bound address and the accept thread's handle. The thread runs for the life of
/// the process.
pub fn spawn_admin(
    addr: SocketAddr,
    metrics: Option<PrometheusHandle>,
    ready: Arc<AtomicBool>,
    hub: Option<crate::policy::hub::Hub>,
    api: Option<Arc<crate::admin_api::Api>>,
    tls: Option<crate::tls::reload::TlsReloader>,
) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    if let Some(a) = &api {
        a.set_admin_addr(local);
    }
    let state = Arc::new(AdminState {
        metrics,
        ready,
        hub,
        api,
        tls,
    });

    let (tx, rx) = mpsc::sync_channel::<TcpStream>(ADMIN_QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..ADMIN_WORKERS {
        let rx = Arc::clone(&rx);
        let state = Arc::clone(&state);
        thread::Builder::new()
            .name(format!("rampart-admin-{i}"))
            .spawn(move || admin_worker(&rx, &state))?;
    }
    let handle = thread::Builder::new()
        .name("rampart-admin".into())
        .spawn(move || accept_loop(&listener, &tx))?;
    Ok((local, handle))
}

fn accept_loop(listener: &TcpListener, tx: &SyncSender<TcpStream>) {
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(error = %e, "admin accept failed");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut s)) => {
                // Shed load rather than queue without bound; best effort reply.
                let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = s.write_all(&response(503, "text/plain", b"busy\n"));
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

fn admin_worker(rx: &Mutex<Receiver<TcpStream>>, state: &AdminState) {
    loop {
        // Hold the lock only while waiting for one connection.
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(stream) = next else { return };
        if let Err(e) = serve_admin_conn(stream, state) {
            tracing::debug!(error = %e, "admin connection ended with an error");
        }
    }
}

/// Answers exactly one request and closes: scrapes are rare, and keep-alive would
/// let one idle client hold one of the two workers.
fn serve_admin_conn(mut stream: TcpStream, state: &AdminState) -> io::Result<()> {
    stream.set_read_timeout(Some(ADMIN_IO_TIMEOUT))?;
    stream.set_write_timeout(Some(ADMIN_IO_TIMEOUT))?;

    let mut buf = vec![0u8; ADMIN_MAX_HEAD];
    let mut filled = 0;
    let reply = loop {
        if filled == buf.len() {
            break response(431, "text/plain", b"request header too large\n");
        }
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..filled]) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(n)) => {
                let method = req.method.unwrap_or("");
                let path = req.path.unwrap_or("");
                if let Some(api) = state.api.as_ref().filter(|_| path.starts_with("/api/")) {
                    let head = api_head(&req, stream.peer_addr().ok());
                    return crate::admin_api::serve(api, stream, head, &buf[n..filled]);
                }
                break route(state, method, path);
            }
            Err(_) => break response(400, "text/plain", b"bad request\n"),
        }
    };
    stream.write_all(&reply)?;
    stream.flush()
}

/// The owned head the admin API needs (`/api/...` requests).
fn api_head(req: &httparse::Request<'_, '_>, peer: Option<SocketAddr>) -> crate::admin_api::Head {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    crate::admin_api::Head {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        authorization: header("authorization"),
        content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
        peer,
    }
}

fn route(state: &AdminState, method: &str, target: &str) -> Vec<u8> {
    let path = target.split('?').next().unwrap_or(target);
    if path == "/admin/reload" {
        if method != "POST" {
            let mut r = response(405, "text/plain", b"method not allowed\n");
            insert_header(&mut r, "Allow: POST");
            return r;
        }
        // Certificates first: their reload runs on its own thread while the
        // pack compiles. Its outcome is logged and counted
        // (`rampart_tls_reloads_total`); "queued" means a reload that will
        // see the files as they are now is pending.
        let certificates = state
            .tls
            .as_ref()
            .map(|t| if t.request() { "requested" } else { "queued" });
        let Some(hub) = state.hub.as_ref().filter(|h| h.enabled()) else {
            return match certificates {
                Some(c) => response(
                    200,
                    "application/json",
                    serde_json::json!({ "policy": "off", "certificates": c })
                        .to_string()
                        .as_bytes(),
                ),
                None => response(
                    409,
                    "application/json",
                    br#"{"error":"policy inspection is off"}"#,
                ),
            };
        };
        return match hub.reload_and_wait("admin", RELOAD_WAIT) {
            Some(r) => {
                let status = if r.ok { 200 } else { 422 };
                let mut body = r.to_json();
                if let (Some(c), Some(o)) = (certificates, body.as_object_mut()) {
                    o.insert("certificates".into(), c.into());
                }
                response(status, "application/json", body.to_string().as_bytes())
            }
            None => response(
                503,
                "application/json",
                br#"{"error":"a reload is already queued or in progress; retry"}"#,
            ),
        };
    }
    if path == "/admin/policy" && method == "GET" {
        return match &state.hub {
            Some(h) => response(
                200,
                "application/json",
                h.status_json().to_string().as_bytes(),
            ),
            None => response(200, "application/json", br#"{"enabled":false}"#),
        };
    }
    if crate::console::is_console_path(path) && method == "GET" {
        if state.api.is_none() {
            return response(404, "text/plain", b"the console needs the admin API\n");
        }
        let mut r = response(200, "text/html; charset=utf-8", crate::console::INDEX_HTML);
        for h in crate::console::SECURITY_HEADERS {
            insert_header(&mut r, h);
        }
        return r;
    }
    let known = matches!(path, "/metrics" | "/healthz" | "/readyz" | "/admin/policy")
        || crate::console::is_console_path(path);
    if method != "GET" {
        if known {
            let mut r = response(405, "text/plain", b"method not allowed\n");
            insert_header(&mut r, "Allow: GET");
            return r;
        }
        return response(404, "text/plain", b"not found\n");
    }
    match path {
        "/metrics" => match &state.metrics {
            Some(h) => {
                let mut body = Vec::with_capacity(4096);
                match h.render_to_write(&mut body) {
                    Ok(()) => response(200, "text/plain; version=0.0.4", &body),
                    Err(_) => response(500, "text/plain", b"render failed\n"),
                }
            }
            None => response(404, "text/plain", b"metrics disabled\n"),
        },
        "/healthz" => response(200, "text/plain", b"ok\n"),
        "/readyz" => {
            if state.ready.load(Ordering::Acquire) {
                response(200, "text/plain", b"ready\n")
            } else {
                response(503, "text/plain", b"not ready\n")
            }
        }
        _ => response(404, "text/plain", b"not found\n"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Adds one header line right after the status line.
fn insert_header(resp: &mut Vec<u8>, line: &str) {
    if let Some(pos) = resp.windows(2).position(|w| w == b"\r\n") {
        let at = pos + 2;
        let mut ins = line.as_bytes().to_vec();
        ins.extend_from_slice(b"\r\n");
        resp.splice(at..at, ins);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Shutdown;

    fn get(addr: SocketAddr, raw: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        // Longer than ADMIN_IO_TIMEOUT: the stuck-client test waits for it to fire.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let status = head[9..12].parse().unwrap();
        (status, head.to_string(), body.to_string())
    }

    fn req(method: &str, path: &str) -> String {
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n")
    }

    fn local_handle() -> (
        metrics_exporter_prometheus::PrometheusRecorder,
        PrometheusHandle,
    ) {
        let rec = PrometheusBuilder::new().build_recorder();
        let h = rec.handle();
        (rec, h)
    }

    #[test]
    fn health_ready_and_errors() {
        let ready = Arc::new(AtomicBool::new(false));
        let (addr, _t) = spawn_admin(
            "127.0.0.1:0".parse().unwrap(),
            None,
            ready.clone(),
            None,
            None,
            None,
        )
        .unwrap();

        let (st, _, body) = get(addr, &req("GET", "/healthz"));
        assert_eq!((st, body.as_str()), (200, "ok\n"));
        assert_eq!(get(addr, &req("GET", "/readyz")).0, 503);
        ready.store(true, Ordering::Release);
        assert_eq!(get(addr, &req("GET", "/readyz?verbose")).0, 200);
        assert_eq!(get(addr, &req("GET", "/metrics")).0, 404);
        assert_eq!(get(addr, &req("GET", "/nope")).0, 404);
        let (st, head, _) = get(addr, &req("POST", "/healthz"));
        assert_eq!(st, 405);
        assert!(head.contains("Allow: GET"));
        assert_eq!(get(addr, "garbage\0\r\n\r\n").0, 400);
    }

    #[test]
    fn metrics_rendered() {
        let (rec, h) = local_handle();
        metrics::with_local_recorder(&rec, || {
            describe_metrics();
            metrics::counter!(REQUESTS_TOTAL).increment(3);
            metrics::counter!(RESPONSES_TOTAL, "class" => "2xx").increment(2);
            metrics::counter!(REQUEST_DURATION_BUCKET, "le" => LATENCY_BUCKET_LABELS[0])
                .increment(1);
            metrics::gauge!(ACTIVE_CONNECTIONS).set(4.0);
        });
        let ready = Arc::new(AtomicBool::new(true));
        let (addr, _t) = spawn_admin(
            "127.0.0.1:0".parse().unwrap(),
            Some(h),
            ready,
            None,
            None,
            None,
        )
        .unwrap();
        let (st, head, body) = get(addr, &req("GET", "/metrics"));
        assert_eq!(st, 200);
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"));
        assert!(body.contains("rampart_requests_total 3"), "{body}");
        assert!(
            body.contains("rampart_responses_total{class=\"2xx\"} 2"),
            "{body}"
        );
        assert!(
            body.contains("rampart_request_duration_seconds_bucket{le=\"0.0001\"} 1"),
            "{body}"
        );
        assert!(body.contains("rampart_active_connections 4"), "{body}");
        assert!(body.contains("# HELP rampart_requests_total"), "{body}");
    }

    #[test]
    fn stuck_client_does_not_block_others() {
        let ready = Arc::new(AtomicBool::new(true));
        let (addr, _t) = spawn_admin(
            "127.0.0.1:0".parse().unwrap(),
            None,
            ready,
            None,
            None,
            None,
        )
        .unwrap();
        // Occupy both workers with clients that never finish their head.
        let stuck: Vec<TcpStream> = (0..ADMIN_WORKERS)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
                s
            })
            .collect();
        // The read timeout frees a worker; this request must still be answered.
        let (st, _, _) = get(addr, &req("GET", "/healthz"));
        assert_eq!(st, 200);
        for s in stuck {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    #[test]
    fn bucket_index_and_labels_agree() {
        assert_eq!(
            LATENCY_BUCKET_LABELS.len(),
            LATENCY_BUCKETS_SECONDS.len() + 1
        );
        for (b, l) in LATENCY_BUCKETS_SECONDS.iter().zip(LATENCY_BUCKET_LABELS) {
            assert_eq!(l.parse::<f64>().unwrap(), *b);
        }
        assert_eq!(latency_bucket_index(0.0), 0);
        assert_eq!(latency_bucket_index(0.0001), 0);
        assert_eq!(latency_bucket_index(0.0002), 1);
        assert_eq!(latency_bucket_index(11.0), LATENCY_BUCKETS_SECONDS.len());
    }
}
