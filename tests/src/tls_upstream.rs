//! A real TLS upstream for tests: rustls over TCP on 127.0.0.1, answering
//! each HTTP/1.1 request with `200` and a body naming the path and the body
//! length it received, on keep-alive connections. Optionally requires a
//! client certificate. Counts connections, requests and resumed handshakes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

/// Counters of a [`TlsUpstream`].
#[derive(Default)]
pub struct TlsCounts {
    pub connections: AtomicUsize,
    pub requests: AtomicUsize,
    pub resumed: AtomicUsize,
    pub handshake_failures: AtomicUsize,
}

/// A TLS upstream running on its own threads until the test ends.
pub struct TlsUpstream {
    addr: SocketAddr,
    pub counts: Arc<TlsCounts>,
}

/// How a [`TlsUpstream`] ends its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// Keep-alive until the peer closes (or 10 s of silence).
    KeepAlive,
    /// After each response: close_notify, then close, as a server whose
    /// keep-alive timeout expired while the connection sat in a pool.
    AfterEachResponse,
}

impl TlsUpstream {
    /// Serves with the PEM `cert`/`key`; `client_ca`: require a client
    /// certificate issued by this CA.
    pub fn start(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> TlsUpstream {
        Self::start_with(cert, key, client_ca, Closing::KeepAlive)
    }

    /// Like [`TlsUpstream::start`], ending connections as `closing` says.
    pub fn start_with(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
        closing: Closing,
    ) -> TlsUpstream {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .expect("cert file")
            .map(|c| c.expect("cert"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(key).expect("key file");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(ca).expect("ca file") {
                    roots.add(c.expect("ca")).expect("add ca");
                }
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .expect("verifier");
                builder.with_client_cert_verifier(v)
            }
            None => builder.with_no_client_auth(),
        };
        let config = Arc::new(builder.with_single_cert(chain, key).expect("server config"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let counts = Arc::new(TlsCounts::default());
        let c = counts.clone();
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { return };
                let (config, c) = (config.clone(), c.clone());
                thread::spawn(move || serve(s, config, &c, closing));
            }
        });
        TlsUpstream { addr, counts }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> usize {
        self.counts.requests.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.counts.connections.load(Ordering::SeqCst)
    }
}

fn serve(s: TcpStream, config: Arc<ServerConfig>, counts: &TlsCounts, closing: Closing) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, s);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            counts.handshake_failures.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    counts.connections.fetch_add(1, Ordering::SeqCst);
    if tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
        counts.resumed.fetch_add(1, Ordering::SeqCst);
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        // A whole head, then its Content-Length body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match tls.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match tls.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..head_end + len);
        counts.requests.fetch_add(1, Ordering::SeqCst);
        let body = format!("{path} {len}");
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
            body.len()
        );
        if tls
            .write_all(resp.as_bytes())
            .and_then(|_| tls.flush())
            .is_err()
        {
            return;
        }
        if closing == Closing::AfterEachResponse {
            // Give the gateway time to pool the connection first.
            thread::sleep(Duration::from_millis(100));
            tls.conn.send_close_notify();
            let _ = tls.flush();
            return;
        }
    }
}
