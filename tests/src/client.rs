//! Raw HTTP/1.1 client helpers: [`RawConn`] writes exactly the bytes a test gives it and
//! parses responses strictly (Content-Length, chunked with decoding, close-delimited, 1xx).
//!
//! Every socket operation is bounded by a timeout ([`IO_TIMEOUT`] unless changed).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Default read/write/connect timeout of a [`RawConn`].
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response head accepted.
const MAX_HEAD: usize = 256 * 1024;

/// One parsed HTTP response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// Version from the status line, e.g. `HTTP/1.1`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Header fields in order (names as sent, raw values).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Decoded body (chunked framing removed).
    pub body: Vec<u8>,
    /// Interim (1xx other than 101) responses received before this one, in order.
    pub interim: Vec<Response>,
    /// Whether the body was delimited by the connection closing.
    pub close_delimited: bool,
    /// Whether the body used chunked framing on the wire.
    pub chunked: bool,
}

impl Response {
    /// Every value of header `name` (case-insensitive) as text.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The first value of header `name` as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_values(name).into_iter().next()
    }

    /// Whether header `name` carries the comma-separated `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw TCP connection to a server with HTTP/1.1 response parsing, in the
/// clear or over TLS (a rustls client, see [`RawConn::connect_tls`]).
pub struct RawConn {
    stream: TcpStream,
    tls: Option<Box<rustls::ClientConnection>>,
    /// Bytes read from the socket but not consumed yet.
    buf: Vec<u8>,
    timeout: Duration,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl RawConn {
    /// Connects to `addr` with [`IO_TIMEOUT`] on connect, reads and writes.
    pub fn connect(addr: SocketAddr) -> io::Result<RawConn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        let mut c = RawConn {
            stream,
            tls: None,
            buf: Vec::new(),
            timeout: IO_TIMEOUT,
        };
        c.set_timeout(IO_TIMEOUT)?;
        Ok(c)
    }

    /// Connects to `addr` (IPv4) from the local address `from` (e.g.
    /// `127.0.0.2`, to look like another client), with [`IO_TIMEOUT`]s.
    pub fn connect_from(from: std::net::Ipv4Addr, addr: SocketAddr) -> io::Result<RawConn> {
        use std::os::fd::FromRawFd;
        let SocketAddr::V4(to) = addr else {
            return Err(invalid("connect_from: IPv4 only"));
        };
        let sin = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: a fresh socket owned by the TcpStream built from it below (or
        // closed on error); the address structs live across the calls.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let stream = TcpStream::from_raw_fd(fd);
            let local = sin(from, 0);
            if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
                return Err(io::Error::last_os_error());
            }
            let remote = sin(*to.ip(), to.port());
            if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
                return Err(io::Error::last_os_error());
            }
            stream.set_nodelay(true)?;
            let mut c = RawConn {
                stream,
                tls: None,
                buf: Vec::new(),
                timeout: IO_TIMEOUT,
            };
            c.set_timeout(IO_TIMEOUT)?;
            Ok(c)
        }
    }

    /// Connects to `addr` and completes a TLS handshake for `server_name`.
    pub fn connect_tls(
        addr: SocketAddr,
        config: std::sync::Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> io::Result<RawConn> {
        let mut c = RawConn::connect(addr)?;
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| invalid(e.to_string()))?;
        let mut tls = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        while tls.is_handshaking() {
            tls.complete_io(&mut c.stream)?;
        }
        c.tls = Some(Box::new(tls));
        Ok(c)
    }

    /// The TLS client state (negotiated version, ALPN, resumption...).
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        self.tls.as_deref()
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.tls.as_deref_mut() {
            Some(t) => match rustls::Stream::new(t, &mut self.stream).read(buf) {
                // A peer that closes without close_notify ends the stream too.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
            None => self.stream.read(buf),
        }
    }

    /// Connects or panics with a message naming `addr`.
    pub fn open(addr: SocketAddr) -> RawConn {
        RawConn::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    /// Changes the read/write timeout.
    pub fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.timeout = t;
        self.stream.set_read_timeout(Some(t))?;
        self.stream.set_write_timeout(Some(t))
    }

    /// The underlying stream (e.g. for `shutdown`).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.tls.as_deref_mut() {
            Some(t) => {
                let mut s = rustls::Stream::new(t, &mut self.stream);
                s.write_all(bytes)?;
                s.flush()
            }
            None => {
                self.stream.write_all(bytes)?;
                self.stream.flush()
            }
        }
    }

    /// Half-closes the write side.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Reads more bytes into the buffer; returns how many (0 = EOF).
    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 64 * 1024];
        let n = self.read_some(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n).collect()
    }

    /// Reads one CRLF-terminated line (without CRLF); bare LF is an error.
    fn read_line(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                if pos == 0 || self.buf[pos - 1] != b'\r' {
                    return Err(invalid("line ending is a bare LF"));
                }
                let mut line = self.take(pos + 1);
                line.truncate(pos - 1);
                return Ok(line);
            }
            if self.buf.len() > limit {
                return Err(invalid("line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a line",
                ));
            }
        }
    }

    /// Reads one response head (status line and headers).
    fn read_head(&mut self) -> io::Result<Response> {
        let status_line = self.read_line(MAX_HEAD)?;
        let text =
            String::from_utf8(status_line).map_err(|_| invalid("status line is not UTF-8"))?;
        let mut parts = text.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
        if !version.starts_with("HTTP/1.") {
            return Err(invalid(format!("bad status line {text:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .filter(|s| (100..1000).contains(s))
            .ok_or_else(|| invalid(format!("bad status code in {text:?}")))?;
        let reason = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        let mut size = text.len();
        loop {
            let line = self.read_line(MAX_HEAD)?;
            if line.is_empty() {
                break;
            }
            size += line.len() + 2;
            if size > MAX_HEAD {
                return Err(invalid("response head too large"));
            }
            if matches!(line.first(), Some(b' ' | b'\t')) {
                return Err(invalid("obs-fold in response"));
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or_else(|| invalid("header without colon"))?;
            let name = String::from_utf8(line[..colon].to_vec())
                .map_err(|_| invalid("header name not UTF-8"))?;
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
                return Err(invalid(format!("bad header name {name:?}")));
            }
            let value = line[colon + 1..].trim_ascii().to_vec();
            headers.push((name, value));
        }
        Ok(Response {
            version,
            status,
            reason,
            headers,
            ..Response::default()
        })
    }

    fn read_exact_body(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("closed after {} of {n} body bytes", self.buf.len()),
                ));
            }
        }
        out.extend(self.buf.drain(..n));
        Ok(())
    }

    fn read_chunked_body(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let line = self.read_line(4096)?;
            let size_part = line.split(|&b| b == b';').next().unwrap_or(&[]);
            let size_text = std::str::from_utf8(size_part.trim_ascii())
                .map_err(|_| invalid("chunk size not ASCII"))?;
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
            if size == 0 {
                loop {
                    if self.read_line(MAX_HEAD)?.is_empty() {
                        return Ok(());
                    }
                }
            }
            self.read_exact_body(size, out)?;
            if !self.read_line(2)?.is_empty() {
                return Err(invalid("chunk data not followed by CRLF"));
            }
        }
    }

    /// Reads the next message, 1xx included, as the answer to a request with `method`
    /// (`HEAD` responses have no body).
    pub fn read_message(&mut self, method: &str) -> io::Result<Response> {
        let mut r = self.read_head()?;
        let no_body = method.eq_ignore_ascii_case("HEAD")
            || r.status < 200
            || r.status == 204
            || r.status == 304;
        if no_body {
            return Ok(r);
        }
        let te = r.header_values("Transfer-Encoding");
        let cl = r.header_values("Content-Length");
        let mut body = Vec::new();
        if !te.is_empty() {
            if !cl.is_empty() {
                return Err(invalid(
                    "response has both Transfer-Encoding and Content-Length",
                ));
            }
            if !r.has_token("Transfer-Encoding", "chunked") {
                return Err(invalid(format!(
                    "unsupported response Transfer-Encoding {te:?}"
                )));
            }
            r.chunked = true;
            self.read_chunked_body(&mut body)?;
        } else if let Some(first) = cl.first() {
            if cl.iter().any(|v| v != first) {
                return Err(invalid(format!("conflicting Content-Length {cl:?}")));
            }
            let n: usize = first
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {first:?}")))?;
            self.read_exact_body(n, &mut body)?;
        } else {
            r.close_delimited = true;
            body = std::mem::take(&mut self.buf);
            body.extend(self.read_until_closed()?);
        }
        r.body = body;
        Ok(r)
    }

    /// Reads the final response to a `GET`-like request, collecting 1xx interim responses
    /// (except `101`, which is final) into [`Response::interim`].
    pub fn read_response(&mut self) -> io::Result<Response> {
        self.read_response_to("GET")
    }

    /// Like [`RawConn::read_response`] for a request with `method` (matters for `HEAD`).
    pub fn read_response_to(&mut self, method: &str) -> io::Result<Response> {
        let mut interim = Vec::new();
        loop {
            let r = self.read_message(method)?;
            if r.status < 200 && r.status != 101 {
                interim.push(r);
                continue;
            }
            return Ok(Response { interim, ..r });
        }
    }

    /// Sends `request` and reads the final response (panics with context on failure).
    pub fn roundtrip(&mut self, request: &[u8]) -> Response {
        self.send(request).expect("send request");
        let method = request
            .split(|&b| b == b' ')
            .next()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_default();
        self.read_response_to(&method)
            .unwrap_or_else(|e| panic!("reading response to {:?}: {e}", preview(request)))
    }

    /// Reads everything until the peer closes (EOF or reset), bounded by the timeout per read.
    pub fn read_until_closed(&mut self) -> io::Result<Vec<u8>> {
        let mut out = std::mem::take(&mut self.buf);
        let mut tmp = [0u8; 64 * 1024];
        loop {
            match self.read_some(&mut tmp) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads exactly `n` raw bytes (e.g. tunnelled data after a `101`).
    pub fn read_raw(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        self.read_exact_body(n, &mut out)?;
        Ok(out)
    }

    /// Whether the peer closes the connection (EOF or reset) within `within`. Any bytes
    /// arriving meanwhile are kept in the buffer.
    pub fn is_closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut tmp = [0u8; 16 * 1024];
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            if self.stream.set_read_timeout(Some(left)).is_err() {
                break true;
            }
            match self.read_some(&mut tmp) {
                Ok(0) => break true,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break true,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break false
                }
                Err(_) => break true,
            }
        };
        let _ = self.stream.set_read_timeout(Some(self.timeout));
        result
    }

    /// Whether the peer closes the connection within 2 seconds.
    pub fn is_closed(&mut self) -> bool {
        self.is_closed_within(Duration::from_secs(2))
    }

    /// Bytes received but not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// First 120 bytes of a request, for panic messages.
pub fn preview(bytes: &[u8]) -> String {
    let end = bytes.len().min(120);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `GET path` over a fresh connection with `Connection: close`; the final response.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<Response> {
    let mut c = RawConn::connect(addr)?;
    c.send(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
    c.read_response()
}

/// A `GET` request with `Host: example.test` and nothing else.
pub fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: example.test\r\n\r\n").into_bytes()
}

/// The value of the Prometheus sample `name` whose labels contain `label`
/// (e.g. `outcome="failed"`) in a `/metrics` text; 0 when absent.
pub fn metric_value(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
