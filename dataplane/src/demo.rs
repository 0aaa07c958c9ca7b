//! The small built-in demo API behind `rampart demo`: a blocking, thread-per-connection
//! HTTP/1.1 server on loopback (keep-alive, Content-Length and chunked bodies) with a
//! handful of plausible JSON endpoints, and the curl lines the demo prints.
//!
//! It is deliberately simple and independent of the dataplane's parser so the demo
//! exercises the gateway against a separate, ordinary HTTP implementation.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Largest request head (request line + headers) the demo API accepts.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body (after de-chunking).
const MAX_BODY: usize = 1024 * 1024;
/// Idle/read timeout per connection, so abandoned keep-alive connections free
/// their thread.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Concurrent connections; beyond this new ones get a 503 and are closed, so a
/// runaway client cannot spawn unbounded threads.
const MAX_CONNS: usize = 512;
/// Users `1..=USER_COUNT` exist.
const USER_COUNT: u64 = 1000;
/// Products in the catalogue and page size.
const PRODUCT_COUNT: u64 = 42;
const PAGE_SIZE: u64 = 10;
/// The admin port `rampart demo` uses unless told otherwise.
pub const DEMO_ADMIN_PORT: u16 = 9901;

/// Why a request could not be served normally.
#[derive(Debug, thiserror::Error)]
enum ReqError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// Peer closed cleanly between requests.
    #[error("connection closed")]
    Closed,
    /// Malformed or ambiguous framing: answer with this status and close.
    #[error("rejected with {0}: {1}")]
    Reject(u16, &'static str),
}

/// Starts the demo API on `addr` (bound as given; use 127.0.0.1, port 0 picks a
/// free port). Returns the bound address and the accept thread's handle; the
/// server runs for the life of the process.
pub fn spawn_demo_api(addr: SocketAddr) -> io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let state = Arc::new(DemoState {
        next_order: AtomicU64::new(1001),
        conns: AtomicUsize::new(0),
    });
    let handle = thread::Builder::new()
        .name("demo-api".into())
        .spawn(move || accept_loop(&listener, &state))?;
    Ok((local, handle))
}

struct DemoState {
    next_order: AtomicU64,
    conns: AtomicUsize,
}

fn accept_loop(listener: &TcpListener, state: &Arc<DemoState>) {
    for conn in listener.incoming() {
        let mut stream = match conn {
            Ok(s) => s,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if state.conns.fetch_add(1, Ordering::AcqRel) >= MAX_CONNS {
            state.conns.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = stream.write_all(&json_response(503, r#"{"error":"busy"}"#, false, &[]));
            continue;
        }
        let st = Arc::clone(state);
        let spawned = thread::Builder::new()
            .name("demo-conn".into())
            .spawn(move || {
                let _ = serve_conn(stream, &st);
                st.conns.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            state.conns.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A parsed request: just what the routes need.
struct Request {
    method: String,
    target: String,
    body: Vec<u8>,
    keep_alive: bool,
}

/// Buffered reader over the socket; leftover bytes after one request stay in
/// `buf` so pipelined requests work.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads more bytes into the buffer; `Ok(0)` on EOF.
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 8192];
        let n = self.stream.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    /// Removes and returns one CRLF-terminated line (without the CRLF).
    fn line(&mut self, max: usize) -> Result<Vec<u8>, ReqError> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..pos].to_vec();
                self.buf.drain(..pos + 2);
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(ReqError::Reject(400, "line too long"));
            }
            if self.fill()? == 0 {
                return Err(ReqError::Reject(400, "truncated body"));
            }
        }
    }

    /// Removes and returns exactly `n` bytes.
    fn take(&mut self, n: usize) -> Result<Vec<u8>, ReqError> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(ReqError::Reject(400, "truncated body"));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }
}

fn serve_conn(stream: TcpStream, state: &DemoState) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut conn = Conn {
        stream,
        buf: Vec::with_capacity(8192),
    };
    loop {
        match read_request(&mut conn) {
            Ok(req) => {
                let resp = handle(&req, state);
                conn.stream.write_all(&resp)?;
                if !req.keep_alive {
                    break;
                }
            }
            Err(ReqError::Closed) => break,
            Err(ReqError::Io(e)) => return Err(e),
            Err(ReqError::Reject(status, why)) => {
                let body = format!(r#"{{"error":"{why}"}}"#);
                let _ = conn
                    .stream
                    .write_all(&json_response(status, &body, false, &[]));
                break;
            }
        }
    }
    let _ = conn.stream.shutdown(Shutdown::Write);
    // Lingering close: closing with unread input makes the kernel send RST, which
    // can destroy the error response before the client reads it. Drain briefly.
    let _ = conn
        .stream
        .set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while drained < 256 * 1024 {
        match conn.stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}

fn read_request(conn: &mut Conn) -> Result<Request, ReqError> {
    // Read until the head is complete.
    let (head_len, method, target, minor, headers) = loop {
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hdrs);
        match req.parse(&conn.buf) {
            Ok(httparse::Status::Complete(n)) => {
                let headers: Vec<(String, Vec<u8>)> = req
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
                    .collect();
                break (
                    n,
                    req.method.unwrap_or("").to_string(),
                    req.path.unwrap_or("").to_string(),
                    req.version.unwrap_or(1),
                    headers,
                );
            }
            Ok(httparse::Status::Partial) => {
                if conn.buf.len() > MAX_HEAD {
                    return Err(ReqError::Reject(431, "request header too large"));
                }
                let had = conn.buf.len();
                if conn.fill()? == 0 {
                    return Err(if had == 0 {
                        ReqError::Closed
                    } else {
                        ReqError::Reject(400, "truncated request head")
                    });
                }
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ReqError::Reject(431, "too many headers"))
            }
            Err(_) => return Err(ReqError::Reject(400, "malformed request")),
        }
    };
    if head_len > MAX_HEAD {
        return Err(ReqError::Reject(431, "request header too large"));
    }
    conn.buf.drain(..head_len);

    let values = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_ascii_lowercase())
            .collect()
    };
    let te = values("transfer-encoding");
    let cl = values("content-length");
    let connection = values("connection").join(",");
    let keep_alive = if minor == 0 {
        connection.split(',').any(|t| t.trim() == "keep-alive")
    } else {
        !connection.split(',').any(|t| t.trim() == "close")
    };

    // Both framings at once is the classic smuggling vector: refuse (RFC 9112 6.3).
    if !te.is_empty() && !cl.is_empty() {
        return Err(ReqError::Reject(
            400,
            "both Transfer-Encoding and Content-Length",
        ));
    }
    let expects_continue = values("expect").iter().any(|v| v == "100-continue");

    let body = if !te.is_empty() {
        if te.len() != 1 || te[0] != "chunked" {
            return Err(ReqError::Reject(400, "unsupported transfer-encoding"));
        }
        if expects_continue {
            conn.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        read_chunked(conn)?
    } else if !cl.is_empty() {
        // Repeated Content-Length headers must agree and be plain digits.
        let first = &cl[0];
        if cl.iter().any(|v| v != first)
            || first.is_empty()
            || !first.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(ReqError::Reject(400, "invalid content-length"));
        }
        let len: usize = first
            .parse()
            .map_err(|_| ReqError::Reject(400, "invalid content-length"))?;
        if len > MAX_BODY {
            return Err(ReqError::Reject(413, "body too large"));
        }
        if expects_continue && len > 0 {
            conn.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        conn.take(len)?
    } else {
        Vec::new()
    };

    Ok(Request {
        method,
        target,
        body,
        keep_alive,
    })
}

fn read_chunked(conn: &mut Conn) -> Result<Vec<u8>, ReqError> {
    let mut body = Vec::new();
    loop {
        let line = conn.line(1024)?;
        let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let size_str = std::str::from_utf8(size_part)
            .map_err(|_| ReqError::Reject(400, "bad chunk size"))?
            .trim();
        if size_str.is_empty() || !size_str.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReqError::Reject(400, "bad chunk size"));
        }
        let size = usize::from_str_radix(size_str, 16)
            .map_err(|_| ReqError::Reject(400, "bad chunk size"))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                if conn.line(MAX_HEAD)?.is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(ReqError::Reject(413, "body too large"));
        }
        body.extend_from_slice(&conn.take(size)?);
        if !conn.take(2)?.eq(b"\r\n") {
            return Err(ReqError::Reject(400, "bad chunk terminator"));
        }
    }
}

fn handle(req: &Request, state: &DemoState) -> Vec<u8> {
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (req.target.as_str(), ""),
    };
    let ka = req.keep_alive;
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    let allow = |m: &'static str| {
        json_response(
            405,
            r#"{"error":"method not allowed"}"#,
            ka,
            &[("Allow", m)],
        )
    };

    match segs.as_slice() {
        ["api", "health"] => match method {
            "GET" => json_response(200, r#"{"status":"ok"}"#, ka, &[]),
            _ => allow("GET"),
        },
        ["api", "users", id] => match method {
            "GET" => match id.parse::<u64>() {
                Ok(n) if (1..=USER_COUNT).contains(&n) => {
                    json_response(200, &user_json(n), ka, &[])
                }
                Ok(_) => json_response(404, r#"{"error":"user not found"}"#, ka, &[]),
                Err(_) => json_response(400, r#"{"error":"user id must be a number"}"#, ka, &[]),
            },
            _ => allow("GET"),
        },
        ["api", "products"] => match method {
            "GET" => products(query, ka),
            _ => allow("GET"),
        },
        ["api", "login"] => match method {
            "POST" => login(&req.body, ka),
            _ => allow("POST"),
        },
        ["api", "orders"] => match method {
            "POST" => {
                if !json::is_object(&req.body) {
                    return json_response(
                        400,
                        r#"{"error":"body must be a JSON object"}"#,
                        ka,
                        &[],
                    );
                }
                let id = state.next_order.fetch_add(1, Ordering::Relaxed);
                // The body was validated as JSON above, so it can be embedded verbatim.
                let order = String::from_utf8_lossy(&req.body);
                let body = format!(
                    r#"{{"id":{id},"status":"accepted","order":{}}}"#,
                    order.trim()
                );
                json_response(200, &body, ka, &[])
            }
            _ => allow("POST"),
        },
        _ => json_response(404, r#"{"error":"not found"}"#, ka, &[]),
    }
}

fn user_json(id: u64) -> String {
    const NAMES: [&str; 8] = [
        "ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances",
    ];
    let name = NAMES[(id as usize) % NAMES.len()];
    format!(
        r#"{{"id":{id},"username":"{name}{id}","email":"{name}{id}@example.com","role":"{}"}}"#,
        if id == 1 { "admin" } else { "customer" }
    )
}

fn products(query: &str, ka: bool) -> Vec<u8> {
    let mut page = 1u64;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "page" {
            match v.parse::<u64>() {
                Ok(n) if n >= 1 => page = n,
                _ => {
                    return json_response(
                        400,
                        r#"{"error":"page must be a positive integer"}"#,
                        ka,
                        &[],
                    )
                }
            }
        }
    }
    let first = page.saturating_sub(1).saturating_mul(PAGE_SIZE) + 1;
    let last = first.saturating_add(PAGE_SIZE - 1).min(PRODUCT_COUNT);
    let items: Vec<String> = (first..=last)
        .map(|i| {
            format!(
                r#"{{"id":{i},"name":"Widget {i}","price_cents":{},"in_stock":{}}}"#,
                499 + (i * 137) % 5000,
                i % 7 != 0
            )
        })
        .collect();
    let pages = PRODUCT_COUNT.div_ceil(PAGE_SIZE);
    let body = format!(
        r#"{{"page":{page},"pages":{pages},"total":{PRODUCT_COUNT},"items":[{}]}}"#,
        items.join(",")
    );
    json_response(200, &body, ka, &[])
}

fn login(body: &[u8], ka: bool) -> Vec<u8> {
    let Some(fields) = json::object_strings(body) else {
        return json_response(400, r#"{"error":"body must be a JSON object"}"#, ka, &[]);
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    // Not a vendor default pair: the default pack refuses those
    // (RP-INTEL-010), and the demo prints a line that shows it.
    if get("username") == Some("alice") && get("password") == Some("wonderland-42") {
        json_response(
            200,
            r#"{"token":"demo-7f3c9a1e5b2d4c68","token_type":"Bearer","expires_in":3600}"#,
            ka,
            &[],
        )
    } else {
        json_response(
            401,
            r#"{"error":"invalid credentials"}"#,
            ka,
            &[("WWW-Authenticate", "Bearer")],
        )
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn json_response(status: u16, body: &str, keep_alive: bool, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n",
        reason(status),
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in extra {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The curl commands `rampart demo` prints for a gateway on `gateway`, with the
/// admin listener on the same host at [`DEMO_ADMIN_PORT`].
pub fn demo_curl_lines(gateway: SocketAddr) -> Vec<String> {
    let admin = SocketAddr::new(gateway.ip(), DEMO_ADMIN_PORT);
    demo_curl_lines_with_admin(gateway, Some(admin))
}

/// Like [`demo_curl_lines`] with an explicit admin address (`None`: no admin line).
/// Each line is a bash command followed by a comment with the expected result.
pub fn demo_curl_lines_with_admin(gateway: SocketAddr, admin: Option<SocketAddr>) -> Vec<String> {
    let gw = format!("http://{gateway}");
    let mut lines = vec![
        "# Normal API calls, forwarded to the demo API:".to_string(),
        format!("curl -s -i {gw}/api/health    # 200"),
        format!("curl -s -i {gw}/api/users/42    # 200, JSON user"),
        format!("curl -s -i '{gw}/api/products?page=2'    # 200, page 2 of the catalogue"),
        format!(
            "curl -s -i -H 'Content-Type: application/json' -d '{{\"username\":\"alice\",\"password\":\"wonderland-42\"}}' {gw}/api/login    # 200, token"
        ),
        format!(
            "curl -s -i -H 'Content-Type: application/json' -d '{{\"sku\":\"W-7\",\"qty\":2}}' {gw}/api/orders    # 200, order with an id"
        ),
        "# Attacks stopped by the default policy pack (403 with an event id; the API never sees them):".to_string(),
        format!("curl -s -i '{gw}/api/products?q=1%27%20UNION%20SELECT%20username,password%20FROM%20users--'    # 403, SQL injection"),
        format!(
            "curl -s -i -H 'Content-Type: application/json' -d '{{\"sku\":\"<script>alert(document.cookie)</script>\",\"qty\":1}}' {gw}/api/orders    # 403, XSS in a JSON body"
        ),
        format!("curl -s -i '{gw}/api/files?name=..%2f..%2f..%2fetc%2fpasswd'    # 403, path traversal"),
        format!("curl -s -i -A 'sqlmap/1.7.2#stable (https://sqlmap.org)' {gw}/api/users/42    # stopped: attack tool"),
        format!(
            "curl -s -i -H 'Content-Type: application/json' -d '{{\"username\":\"admin\",\"password\":\"admin\"}}' {gw}/api/login    # 403, a vendor default account's password"
        ),
        "# Stopped by the gateway itself (strict HTTP/1.1, no policy needed):".to_string(),
        format!(
            "curl -s -i -H 'Transfer-Encoding: chunked' -H 'Content-Length: 4' --data-binary $'0\\r\\n\\r\\n' {gw}/api/orders    # 400, request smuggling attempt (TE + CL)"
        ),
        format!("curl -s -i -X CONNECT --request-target example.com:443 {gw}/    # 405, CONNECT is not proxied"),
        format!(
            "curl -s -i -H \"X-Pad: $(head -c 20000 /dev/zero | tr '\\0' a)\" {gw}/api/health    # 431, oversized header"
        ),
    ];
    if let Some(a) = admin {
        lines.push("# Metrics and the serving policy on the admin listener:".to_string());
        lines.push(format!("curl -s http://{a}/metrics | grep '^rampart_'"));
        lines.push(format!("curl -s http://{a}/admin/policy"));
        lines.push(format!(
            "curl -s 'http://{a}/api/events?limit=3'    # the latest security events"
        ));
        lines.push(format!(
            "# The operator console: open http://{a}/ in a browser"
        ));
    }
    lines
}

/// A minimal JSON reader: enough to validate a request body and pull the
/// top-level string fields out of an object, without a JSON dependency.
mod json {
    const MAX_DEPTH: usize = 32;

    /// True when `input` is exactly one JSON object (surrounding whitespace allowed).
    pub fn is_object(input: &[u8]) -> bool {
        let mut p = Parser { s: input, i: 0 };
        p.ws();
        if p.peek() != Some(b'{') {
            return false;
        }
        p.value(0, &mut None).is_some() && {
            p.ws();
            p.i == input.len()
        }
    }

    /// The top-level string members of a JSON object, or `None` if `input` is not
    /// a valid JSON object.
    pub fn object_strings(input: &[u8]) -> Option<Vec<(String, String)>> {
        let mut p = Parser { s: input, i: 0 };
        p.ws();
        if p.peek() != Some(b'{') {
            return None;
        }
        let mut out = Some(Vec::new());
        p.value(0, &mut out)?;
        p.ws();
        (p.i == input.len()).then_some(())?;
        out
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.i += 1;
            }
        }
        fn eat(&mut self, b: u8) -> Option<()> {
            (self.peek() == Some(b)).then(|| self.i += 1)
        }
        fn lit(&mut self, word: &[u8]) -> Option<()> {
            self.s
                .get(self.i..self.i + word.len())
                .filter(|w| *w == word)?;
            self.i += word.len();
            Some(())
        }

        /// Parses one value. When `fields` is `Some` and this is the top-level
        /// object, its string members are collected there.
        fn value(
            &mut self,
            depth: usize,
            fields: &mut Option<Vec<(String, String)>>,
        ) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            self.ws();
            match self.peek()? {
                b'{' => {
                    self.i += 1;
                    self.ws();
                    if self.eat(b'}').is_some() {
                        return Some(());
                    }
                    loop {
                        self.ws();
                        let key = self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        if depth == 0 && self.peek() == Some(b'"') {
                            let v = self.string()?;
                            if let Some(f) = fields.as_mut() {
                                f.push((key, v));
                            }
                        } else {
                            self.value(depth + 1, &mut None)?;
                        }
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                return Some(());
                            }
                            _ => return None,
                        }
                    }
                }
                b'[' => {
                    self.i += 1;
                    self.ws();
                    if self.eat(b']').is_some() {
                        return Some(());
                    }
                    loop {
                        self.value(depth + 1, &mut None)?;
                        self.ws();
                        match self.peek()? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                return Some(());
                            }
                            _ => return None,
                        }
                    }
                }
                b'"' => self.string().map(|_| ()),
                b't' => self.lit(b"true"),
                b'f' => self.lit(b"false"),
                b'n' => self.lit(b"null"),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        fn number(&mut self) -> Option<()> {
            let start = self.i;
            self.eat(b'-');
            let digits = |p: &mut Self| {
                let s = p.i;
                while matches!(p.peek(), Some(b'0'..=b'9')) {
                    p.i += 1;
                }
                (p.i > s).then_some(())
            };
            digits(self)?;
            if self.eat(b'.').is_some() {
                digits(self)?;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.i += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.i += 1;
                }
                digits(self)?;
            }
            (self.i > start).then_some(())
        }

        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out = Vec::new();
            loop {
                let b = self.peek()?;
                self.i += 1;
                match b {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let e = self.peek()?;
                        self.i += 1;
                        match e {
                            b'"' | b'\\' | b'/' => out.push(e),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'u' => {
                                let hex = self.s.get(self.i..self.i + 4)?;
                                let hex = std::str::from_utf8(hex).ok()?;
                                let cp = u32::from_str_radix(hex, 16).ok()?;
                                self.i += 4;
                                // Surrogates are replaced: only ASCII credentials matter here.
                                let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
                                let mut tmp = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                            }
                            _ => return None,
                        }
                    }
                    0..=0x1f => return None,
                    _ => out.push(b),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> SocketAddr {
        spawn_demo_api("127.0.0.1:0".parse().unwrap()).unwrap().0
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// Reads one response (Content-Length framed) from `s`: (status, head, body).
    fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> (u16, String, String) {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(buf[..end].to_vec()).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                while buf.len() < end + 4 + len {
                    let mut tmp = [0u8; 4096];
                    let n = s.read(&mut tmp).unwrap();
                    assert!(n > 0, "eof in body");
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = String::from_utf8(buf[end + 4..end + 4 + len].to_vec()).unwrap();
                buf.drain(..end + 4 + len);
                let status = head[9..12].parse().unwrap();
                return (status, head, body);
            }
            let mut tmp = [0u8; 4096];
            let n = s.read(&mut tmp).unwrap();
            assert!(n > 0, "eof in head");
            buf.extend_from_slice(&tmp[..n]);
        }
    }

    fn roundtrip(addr: SocketAddr, raw: &[u8]) -> (u16, String, String) {
        let mut s = connect(addr);
        s.write_all(raw).unwrap();
        read_response(&mut s, &mut Vec::new())
    }

    fn post(path: &str, body: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn keep_alive_and_pipelining() {
        let addr = start();
        let mut s = connect(addr);
        let mut buf = Vec::new();
        s.write_all(b"GET /api/health HTTP/1.1\r\nHost: d\r\n\r\n")
            .unwrap();
        let (st, head, body) = read_response(&mut s, &mut buf);
        assert_eq!(st, 200);
        assert!(head.contains("Connection: keep-alive"));
        assert_eq!(body, r#"{"status":"ok"}"#);
        // Two pipelined requests on the same connection.
        s.write_all(b"GET /api/users/7 HTTP/1.1\r\nHost: d\r\n\r\nGET /api/products?page=5 HTTP/1.1\r\nHost: d\r\n\r\n")
            .unwrap();
        let (st, _, body) = read_response(&mut s, &mut buf);
        assert_eq!(st, 200);
        assert!(body.contains(r#""id":7"#), "{body}");
        let (st, _, body) = read_response(&mut s, &mut buf);
        assert_eq!(st, 200);
        assert!(
            body.contains(r#""page":5"#) && body.contains(r#""id":42"#),
            "{body}"
        );
    }

    #[test]
    fn users_products_and_404() {
        let addr = start();
        assert_eq!(
            roundtrip(addr, b"GET /api/users/0 HTTP/1.1\r\nHost: d\r\n\r\n").0,
            404
        );
        assert_eq!(
            roundtrip(addr, b"GET /api/users/abc HTTP/1.1\r\nHost: d\r\n\r\n").0,
            400
        );
        let (st, _, body) = roundtrip(addr, b"GET /api/products HTTP/1.1\r\nHost: d\r\n\r\n");
        assert_eq!(st, 200);
        assert!(body.contains(r#""page":1"#) && body.contains(r#""pages":5"#));
        assert_eq!(
            roundtrip(
                addr,
                b"GET /api/products?page=x HTTP/1.1\r\nHost: d\r\n\r\n"
            )
            .0,
            400
        );
        let (st, _, body) = roundtrip(addr, b"GET /nothing HTTP/1.1\r\nHost: d\r\n\r\n");
        assert_eq!((st, body.as_str()), (404, r#"{"error":"not found"}"#));
        let (st, head, _) = roundtrip(addr, b"DELETE /api/health HTTP/1.1\r\nHost: d\r\n\r\n");
        assert_eq!(st, 405);
        assert!(head.contains("Allow: GET"));
    }

    #[test]
    fn login() {
        let addr = start();
        let (st, _, body) = roundtrip(
            addr,
            &post(
                "/api/login",
                r#"{"username":"alice","password":"wonderland-42"}"#,
            ),
        );
        assert_eq!(st, 200);
        assert!(body.contains(r#""token""#));
        let (st, _, _) = roundtrip(
            addr,
            &post("/api/login", r#"{"username":"alice","password":"nope"}"#),
        );
        assert_eq!(st, 401);
        assert_eq!(roundtrip(addr, &post("/api/login", "not json")).0, 400);
    }

    #[test]
    fn orders_chunked_and_content_length() {
        let addr = start();
        let (st, _, body) = roundtrip(addr, &post("/api/orders", r#"{"sku":"W-7","qty":2}"#));
        assert_eq!(st, 200);
        assert!(body.contains(r#""order":{"sku":"W-7","qty":2}"#), "{body}");
        assert!(body.contains(r#""id":"#));

        let raw = b"POST /api/orders HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n6;ext=1\r\n{\"a\":1\r\n4\r\n,\"b\"\r\n3\r\n:[]\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n";
        let mut s = connect(addr);
        s.write_all(raw).unwrap();
        let mut buf = Vec::new();
        let (st, _, body) = read_response(&mut s, &mut buf);
        assert_eq!(st, 200);
        assert!(body.contains(r#""order":{"a":1,"b":[]}"#), "{body}");
        // Connection stays usable after a chunked body.
        s.write_all(b"GET /api/health HTTP/1.1\r\nHost: d\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, &mut buf).0, 200);

        assert_eq!(roundtrip(addr, &post("/api/orders", "[1,2]")).0, 400);
    }

    #[test]
    fn expect_continue() {
        let addr = start();
        let mut s = connect(addr);
        let body = r#"{"username":"alice","password":"wonderland-42"}"#;
        write!(
            s,
            "POST /api/login HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        let mut tmp = [0u8; 64];
        let n = s.read(&mut tmp).unwrap();
        assert!(tmp[..n].starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
        let mut buf = tmp[25..n].to_vec();
        s.write_all(body.as_bytes()).unwrap();
        assert_eq!(read_response(&mut s, &mut buf).0, 200);
    }

    #[test]
    fn rejects_ambiguous_framing_and_closes() {
        let addr = start();
        let mut s = connect(addr);
        s.write_all(b"POST /api/orders HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n")
            .unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(text.contains("Connection: close"));

        let raw = b"POST /api/orders HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
        assert_eq!(roundtrip(addr, raw).0, 400);
        let raw = b"POST /api/orders HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(roundtrip(addr, raw).0, 400);
        let raw =
            b"POST /api/orders HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(roundtrip(addr, raw).0, 400);
    }

    #[test]
    fn oversized_head_is_431() {
        let addr = start();
        let mut raw = b"GET /api/health HTTP/1.1\r\nHost: d\r\nX-Pad: ".to_vec();
        raw.extend(std::iter::repeat_n(b'a', 20_000));
        raw.extend_from_slice(b"\r\n\r\n");
        assert_eq!(roundtrip(addr, &raw).0, 431);
    }

    #[test]
    fn http10_closes_by_default() {
        let addr = start();
        let mut s = connect(addr);
        s.write_all(b"GET /api/health HTTP/1.0\r\n\r\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all);
        assert!(
            text.starts_with("HTTP/1.1 200 ") && text.contains("Connection: close"),
            "{text}"
        );
    }

    #[test]
    fn curl_lines_mention_gateway_and_admin() {
        let gw: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let lines = demo_curl_lines(gw);
        assert!(lines
            .iter()
            .any(|l| l.contains("Transfer-Encoding: chunked") && l.contains("# 400")));
        assert!(lines
            .iter()
            .any(|l| l.contains("CONNECT") && l.contains("# 405")));
        assert!(lines
            .iter()
            .any(|l| l.contains("head -c 20000") && l.contains("# 431")));
        assert!(lines
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{DEMO_ADMIN_PORT}/metrics"))));
        let cmds: Vec<_> = lines.iter().filter(|l| l.starts_with("curl")).collect();
        assert!(cmds.iter().all(|l| l.contains("127.0.0.1:")));
        assert!(demo_curl_lines_with_admin(gw, None)
            .iter()
            .all(|l| !l.contains("/metrics")));
    }

    #[test]
    fn json_reader() {
        assert!(json::is_object(
            br#" {"a":[1,-2.5e3,true,null,{"b":"\u00e9\n"}]} "#
        ));
        assert!(!json::is_object(br#"{"a":1,}"#));
        assert!(!json::is_object(br#"{"a":1} x"#));
        assert!(!json::is_object(b"[]"));
        let f =
            json::object_strings(br#"{"username":"de\"mo","n":{"password":"x"},"password":"p"}"#)
                .unwrap();
        assert_eq!(
            f,
            vec![
                ("username".into(), "de\"mo".into()),
                ("password".into(), "p".into())
            ]
        );
        let deep = "[".repeat(100);
        assert!(!json::is_object(format!("{{\"a\":{deep}").as_bytes()));
    }
}
