//! One TLS server connection as a sans-I/O state machine over fixed buffers:
//! ciphertext goes in with [`TlsSession::feed`], plaintext comes out through
//! [`TlsSession::process`], plaintext is sealed with [`TlsSession::seal`] and
//! the bytes to write are [`TlsSession::output`].
//!
//! rustls (its unbuffered API) runs the handshake; once it completes, the
//! traffic secrets move to [`RecordKey`]s and every record is opened and sealed
//! in place in this session's two buffers — no allocation per request. Key
//! updates go back through rustls's `KernelConnection`.

use std::sync::Arc;

use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::kernel::KernelConnection;
use rustls::pki_types::ServerName;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{ClientConfig, CommonState, ProtocolVersion, ServerConfig};

use crate::fingerprint::{ClientHello, Ja3, Ja4};

use super::client_subject::{ClientSubject, SubjectError};

use super::record::{
    self, record_len, RecordError, RecordKey, Version, ALERT, APPLICATION_DATA, HANDSHAKE,
    MAX_FRAGMENT, MAX_RECORD,
};

/// Bytes of ciphertext a session holds while assembling records: one record
/// of the largest size with room to spare, so a partly received record never
/// has to wait for the buffer to drain.
pub const IN_BUF: usize = 32 * 1024;
/// Bytes of ciphertext waiting to be written: two full records, or a whole
/// server handshake flight with a long certificate chain.
pub const OUT_BUF: usize = 2 * (MAX_FRAGMENT + record::OVERHEAD) + 8 * 1024;

/// A session's record buffers (ciphertext in, ciphertext out), pooled per core.
pub type SessionBuffers = (Box<[u8]>, Box<[u8]>);

/// Why a TLS connection ends with an error.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("handshake failed: {0}")]
    Handshake(#[from] rustls::Error),
    #[error("{0}")]
    Record(#[from] RecordError),
    #[error("TLS record of {0} bytes exceeds the limit")]
    RecordTooLong(usize),
    #[error("the handshake does not fit the output buffer")]
    OutputFull,
    #[error("peer sent alert {0}")]
    Alert(u8),
    #[error("unexpected handshake message {0} after the handshake")]
    Renegotiation(u8),
    #[error("client sent early data, which is not enabled")]
    EarlyData,
    #[error("{0}")]
    ClientSubject(#[from] SubjectError),
}

/// What one [`TlsSession::process`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Plaintext was handed to the sink.
    pub delivered: bool,
    /// The handshake completed during this call.
    pub established: bool,
    /// The peer closed its side (close_notify): no more plaintext will come.
    pub peer_closed: bool,
    /// Decrypted plaintext is waiting for the sink to make room.
    pub blocked: bool,
}

/// Longest SNI host name kept (DNS names are at most 253 bytes).
pub const SNI_MAX: usize = 253;

/// What the handshake revealed, for policies, events and metrics.
#[derive(Clone, Copy)]
pub struct HandshakeFacts {
    /// Fingerprints of the ClientHello (`None`: it spanned several records
    /// or could not be parsed, and rustls decided what to make of it).
    pub ja4: Option<Ja4>,
    pub ja3: Option<Ja3>,
    sni: [u8; SNI_MAX],
    sni_len: u8,
    pub version: Option<ProtocolVersion>,
    pub cipher_suite: Option<rustls::CipherSuite>,
    /// Negotiated ALPN protocol (`http/1.1`), if any.
    pub alpn: Option<&'static str>,
    /// The session was resumed from a ticket.
    pub resumed: bool,
    /// The verified client certificate's subject (`[tls] client_auth`).
    pub client: ClientSubject,
}

impl Default for HandshakeFacts {
    fn default() -> Self {
        HandshakeFacts {
            ja4: None,
            ja3: None,
            sni: [0; SNI_MAX],
            sni_len: 0,
            version: None,
            cipher_suite: None,
            alpn: None,
            resumed: false,
            client: ClientSubject::default(),
        }
    }
}

impl HandshakeFacts {
    /// Records what the completed handshake negotiated; returns the version.
    fn learn(&mut self, c: &CommonState) -> Version {
        self.version = c.protocol_version();
        self.cipher_suite = c.negotiated_cipher_suite().map(|s| s.suite());
        self.alpn = c.alpn_protocol().and_then(known_alpn);
        self.resumed = matches!(c.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
        match c.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => Version::Tls13,
            _ => Version::Tls12,
        }
    }

    /// The negotiated version as policies and events name it.
    pub fn version_str(&self) -> Option<&'static str> {
        match self.version? {
            ProtocolVersion::TLSv1_3 => Some("1.3"),
            ProtocolVersion::TLSv1_2 => Some("1.2"),
            _ => None,
        }
    }

    /// The server name the client asked for (SNI), as sent.
    pub fn sni(&self) -> Option<&[u8]> {
        (self.sni_len > 0).then(|| &self.sni[..usize::from(self.sni_len)])
    }

    fn observe_hello(&mut self, record: &[u8]) {
        let Ok(hello) = ClientHello::from_record(record) else {
            return;
        };
        self.ja4 = Some(Ja4::of(&hello));
        self.ja3 = Some(Ja3::of(&hello));
        if let Some(name) = hello.server_name().filter(|n| n.len() <= SNI_MAX) {
            self.sni[..name.len()].copy_from_slice(name);
            self.sni_len = name.len() as u8;
        }
    }
}

// The open state is the one every record uses; it lives inline (the session
// itself is boxed per connection) so opening a record needs no extra pointer.
#[allow(clippy::large_enum_variant)]
enum State {
    Handshake(Handshake),
    Open {
        kernel: Kernel,
        rx: RecordKey,
        tx: RecordKey,
        version: Version,
    },
    Failed,
}

/// rustls's handshake state: we terminate clients' TLS (server) and open
/// TLS to upstreams (client).
enum Handshake {
    Server(Box<UnbufferedServerConnection>),
    Client(Box<UnbufferedClientConnection>),
}

/// What rustls keeps after the handshake: the key schedule for key updates
/// (and, as a client, the place session tickets go).
enum Kernel {
    Server(Box<KernelConnection<ServerConnectionData>>),
    Client(Box<KernelConnection<ClientConnectionData>>),
}

impl Kernel {
    fn update_rx_secret(
        &mut self,
    ) -> Result<(u64, rustls::ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_rx_secret(),
            Kernel::Client(k) => k.update_rx_secret(),
        }
    }

    fn update_tx_secret(
        &mut self,
    ) -> Result<(u64, rustls::ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_tx_secret(),
            Kernel::Client(k) => k.update_tx_secret(),
        }
    }
}

/// Runs rustls's unbuffered handshake over the session's buffers until it
/// completes (`Ok(true)`) or needs more input (`Ok(false)`). A macro because
/// rustls gives the server and client connections the same method with
/// different types and no common trait.
macro_rules! drive_handshake {
    ($s:ident, $conn:ident, $sink:ident, $p:ident) => {{
        loop {
            let UnbufferedStatus { discard, state } =
                $conn.process_tls_records(&mut $s.inbuf[$s.in_start..$s.in_end]);
            let state = match state {
                Ok(st) => st,
                Err(e) => break Err(TlsError::from(e)),
            };
            let mut done = false;
            let mut wait = false;
            let mut fail = None;
            match state {
                ConnectionState::EncodeTlsData(mut enc) => {
                    match enc.encode(&mut $s.out[$s.out_end..]) {
                        Ok(n) => $s.out_end += n,
                        Err(EncodeError::InsufficientSize(_)) => fail = Some(TlsError::OutputFull),
                        Err(EncodeError::AlreadyEncoded) => {}
                    }
                }
                // What was encoded goes out in order behind anything already
                // queued, so it counts as transmitted now.
                ConnectionState::TransmitTlsData(t) => t.done(),
                ConnectionState::BlockedHandshake => wait = true,
                ConnectionState::ReadTraffic(mut rt) => {
                    while let Some(rec) = rt.next_record() {
                        match rec {
                            Ok(rec) => {
                                let n = if $s.early.is_empty() {
                                    $sink(rec.payload)
                                } else {
                                    0
                                };
                                $p.delivered |= n > 0;
                                $s.early.extend_from_slice(&rec.payload[n..]);
                            }
                            Err(e) => {
                                fail = Some(TlsError::from(e));
                                break;
                            }
                        }
                    }
                }
                ConnectionState::WriteTraffic(_) => done = true,
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    $s.peer_closed = true;
                    wait = true;
                }
                ConnectionState::ReadEarlyData(_) => fail = Some(TlsError::EarlyData),
                _ => wait = true,
            }
            $s.in_start += discard;
            if $s.in_start == $s.in_end {
                $s.in_start = 0;
                $s.in_end = 0;
            }
            if let Some(e) = fail {
                break Err(e);
            }
            if done {
                break Ok(true);
            }
            if wait {
                break Ok(false);
            }
        }
    }};
}

pub struct TlsSession {
    state: State,
    inbuf: Box<[u8]>,
    in_start: usize,
    in_end: usize,
    /// Opened plaintext not yet taken by the sink, inside `inbuf`.
    pending: Option<(usize, usize)>,
    /// Plaintext rustls decrypted itself at the end of the handshake (a
    /// request sent right behind the client's Finished) that the sink could
    /// not take at once. Handshake-time only.
    early: Vec<u8>,
    out: Box<[u8]>,
    out_start: usize,
    out_end: usize,
    peer_closed: bool,
    pub facts: HandshakeFacts,
    /// The first record (the ClientHello) was fingerprinted.
    first_record_seen: bool,
    /// `process` has run on some input.
    processed: bool,
}

impl TlsSession {
    /// A session for a new connection under `config`. Its buffers come from
    /// the caller (pooled per core) and are given back by [`TlsSession::into_buffers`].
    pub fn new(
        config: Arc<ServerConfig>,
        inbuf: Box<[u8]>,
        out: Box<[u8]>,
    ) -> Result<TlsSession, TlsError> {
        debug_assert!(inbuf.len() >= MAX_RECORD && out.len() >= 2 * record::OVERHEAD);
        let conn = UnbufferedServerConnection::new(config)?;
        Ok(Self::with_state(
            State::Handshake(Handshake::Server(Box::new(conn))),
            inbuf,
            out,
        ))
    }

    /// A session opening TLS to a server named `name` (an upstream). Its first
    /// [`TlsSession::process`] call writes the ClientHello to the output.
    pub fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        inbuf: Box<[u8]>,
        out: Box<[u8]>,
    ) -> Result<TlsSession, TlsError> {
        let conn = UnbufferedClientConnection::new(config, name)?;
        let mut s = Self::with_state(
            State::Handshake(Handshake::Client(Box::new(conn))),
            inbuf,
            out,
        );
        // Nothing to fingerprint: we sent this hello.
        s.first_record_seen = true;
        Ok(s)
    }

    fn with_state(state: State, inbuf: Box<[u8]>, out: Box<[u8]>) -> TlsSession {
        TlsSession {
            state,
            inbuf,
            in_start: 0,
            in_end: 0,
            pending: None,
            early: Vec::new(),
            out,
            out_start: 0,
            out_end: 0,
            peer_closed: false,
            facts: HandshakeFacts::default(),
            first_record_seen: false,
            processed: false,
        }
    }

    pub fn into_buffers(self) -> SessionBuffers {
        (self.inbuf, self.out)
    }

    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Takes as many ciphertext bytes of `src` as fit; the rest waits.
    pub fn feed(&mut self, src: &[u8]) -> usize {
        if self.pending.is_none() && self.in_start > 0 && self.inbuf.len() - self.in_end < src.len()
        {
            self.inbuf.copy_within(self.in_start..self.in_end, 0);
            self.in_end -= self.in_start;
            self.in_start = 0;
        }
        let n = src.len().min(self.inbuf.len() - self.in_end);
        self.inbuf[self.in_end..self.in_end + n].copy_from_slice(&src[..n]);
        self.in_end += n;
        n
    }

    /// Decrypted plaintext is still waiting for the sink.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some() || !self.early.is_empty()
    }

    /// Nothing was processed yet and the first byte is an ASCII capital: a
    /// plain HTTP request on a TLS port (a TLS record starts with 22).
    pub fn looks_like_plain_http(&self) -> bool {
        matches!(self.state, State::Handshake(Handshake::Server(_)))
            && !self.processed
            && self.in_end > self.in_start
            && self.inbuf[self.in_start].is_ascii_uppercase()
    }

    /// Ciphertext waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_start..self.out_end]
    }

    /// `n` bytes of [`TlsSession::output`] were written.
    pub fn written(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out_end);
        if self.out_start == self.out_end {
            self.out_start = 0;
            self.out_end = 0;
        }
    }

    /// Runs the handshake or opens records, handing plaintext to `sink`, which
    /// returns how much it took. Stops when the input is used up or the sink
    /// is full.
    pub fn process(&mut self, sink: &mut dyn FnMut(&[u8]) -> usize) -> Result<Progress, TlsError> {
        let mut p = Progress::default();
        self.processed |= self.in_end > self.in_start;
        if !self.early.is_empty() {
            let n = sink(&self.early);
            p.delivered |= n > 0;
            self.early.drain(..n);
            if !self.early.is_empty() {
                p.blocked = true;
                return Ok(p);
            }
        }
        if matches!(self.state, State::Handshake(_)) {
            self.handshake(sink, &mut p)?;
            if p.blocked || !self.is_established() {
                return Ok(p);
            }
        }
        self.open_records(sink, &mut p)?;
        p.peer_closed = self.peer_closed;
        Ok(p)
    }

    fn handshake(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> usize,
        p: &mut Progress,
    ) -> Result<(), TlsError> {
        if !self.first_record_seen {
            // Fingerprinted in place, before rustls parses it.
            let buf = &self.inbuf[self.in_start..self.in_end];
            match record_len(buf) {
                Some(len) if buf.len() >= len => {
                    self.first_record_seen = true;
                    self.facts.observe_hello(&buf[..len]);
                }
                _ => {}
            }
        }
        let finished = match &mut self.state {
            State::Handshake(Handshake::Server(conn)) => drive_handshake!(self, conn, sink, p),
            State::Handshake(Handshake::Client(conn)) => drive_handshake!(self, conn, sink, p),
            _ => return Ok(()),
        };
        match finished {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                self.state = State::Failed;
                return Err(e);
            }
        }
        // Handshake complete: the rest of the connection runs on our records.
        let (version, secrets, kernel) = match std::mem::replace(&mut self.state, State::Failed) {
            State::Handshake(Handshake::Server(conn)) => {
                let version = self.facts.learn(&conn);
                // rustls verified this chain (or restored it from the ticket of
                // the session it resumed); the kernel connection no longer has it.
                if let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) {
                    self.facts.client = ClientSubject::of(leaf)?;
                }
                let (secrets, kernel) = conn.dangerous_into_kernel_connection()?;
                (version, secrets, Kernel::Server(Box::new(kernel)))
            }
            State::Handshake(Handshake::Client(conn)) => {
                let version = self.facts.learn(&conn);
                let (secrets, kernel) = conn.dangerous_into_kernel_connection()?;
                (version, secrets, Kernel::Client(Box::new(kernel)))
            }
            _ => return Ok(()),
        };
        let rx = RecordKey::new(version, secrets.rx.0, &secrets.rx.1)?;
        let tx = RecordKey::new(version, secrets.tx.0, &secrets.tx.1)?;
        self.state = State::Open {
            kernel,
            rx,
            tx,
            version,
        };
        p.established = true;
        if !self.early.is_empty() {
            p.blocked = true;
        }
        Ok(())
    }

    fn open_records(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> usize,
        p: &mut Progress,
    ) -> Result<(), TlsError> {
        loop {
            if let Some((s, e)) = self.pending {
                let n = sink(&self.inbuf[s..e]);
                p.delivered |= n > 0;
                if s + n < e {
                    self.pending = Some((s + n, e));
                    p.blocked = true;
                    return Ok(());
                }
                self.pending = None;
                if self.in_start == self.in_end {
                    self.in_start = 0;
                    self.in_end = 0;
                }
            }
            if self.peer_closed {
                return Ok(());
            }
            let avail = &self.inbuf[self.in_start..self.in_end];
            let Some(len) = record_len(avail) else {
                return Ok(());
            };
            if len > MAX_RECORD {
                self.state = State::Failed;
                return Err(TlsError::RecordTooLong(len));
            }
            if avail.len() < len {
                if self.in_start > 0 && self.inbuf.len() - self.in_start < len {
                    // Make room for the rest of this record.
                    self.inbuf.copy_within(self.in_start..self.in_end, 0);
                    self.in_end -= self.in_start;
                    self.in_start = 0;
                }
                return Ok(());
            }
            let State::Open {
                kernel,
                rx,
                tx,
                version,
            } = &mut self.state
            else {
                return Ok(());
            };
            let at = self.in_start;
            let rec = &mut self.inbuf[at..at + len];
            let opened = match rx.open(rec) {
                Ok(o) => o,
                Err(e) => {
                    self.state = State::Failed;
                    return Err(e.into());
                }
            };
            self.in_start += len;
            let body = at + opened.start..at + opened.end;
            match opened.content_type {
                APPLICATION_DATA => {
                    if !body.is_empty() {
                        self.pending = Some((body.start, body.end));
                    } else if self.in_start == self.in_end {
                        self.in_start = 0;
                        self.in_end = 0;
                    }
                }
                ALERT => {
                    // close_notify (level warning, description 0) ends the
                    // client's side; any other alert ends the connection.
                    let desc = self.inbuf.get(body.start + 1).copied().unwrap_or(255);
                    if desc == 0 {
                        self.peer_closed = true;
                    } else {
                        self.state = State::Failed;
                        return Err(TlsError::Alert(desc));
                    }
                }
                HANDSHAKE if *version == Version::Tls13 => {
                    // Post-handshake messages, possibly several in one record:
                    // KeyUpdate (24) from either side, NewSessionTicket (4)
                    // from a server we are the client of.
                    let mut at = body.start;
                    while at < body.end {
                        let Some(h) = self.inbuf.get(at..at + 4) else {
                            self.state = State::Failed;
                            return Err(TlsError::Renegotiation(0));
                        };
                        let (kind, len) =
                            (h[0], u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize);
                        let end = at + 4 + len;
                        if end > body.end {
                            self.state = State::Failed;
                            return Err(TlsError::Renegotiation(kind));
                        }
                        match (kind, &mut *kernel) {
                            (24, _) if len == 1 => {
                                let requested = self.inbuf[at + 4] == 1;
                                let (seq, secret) = kernel.update_rx_secret()?;
                                *rx = RecordKey::new(Version::Tls13, seq, &secret)?;
                                if requested {
                                    let n = tx.seal(
                                        HANDSHAKE,
                                        &[24, 0, 0, 1, 0],
                                        &mut self.out[self.out_end..],
                                    )?;
                                    self.out_end += n;
                                    let (seq, secret) = kernel.update_tx_secret()?;
                                    *tx = RecordKey::new(Version::Tls13, seq, &secret)?;
                                }
                            }
                            (4, Kernel::Client(k)) => {
                                // Kept by rustls for resuming the next connection.
                                k.handle_new_session_ticket(&self.inbuf[at + 4..end])?;
                            }
                            _ => {
                                self.state = State::Failed;
                                return Err(TlsError::Renegotiation(kind));
                            }
                        }
                        at = end;
                    }
                }
                other => {
                    self.state = State::Failed;
                    return Err(TlsError::Renegotiation(other));
                }
            }
        }
    }

    /// Queues a close_notify alert (the orderly end of the session) in the
    /// output; `false` when the session is not open or the output is full.
    /// Without it a client cannot tell our close from a truncation attack.
    pub fn close_notify(&mut self) -> bool {
        let State::Open { tx, .. } = &mut self.state else {
            return false;
        };
        // Level warning (1), description close_notify (0).
        match tx.seal(ALERT, &[1, 0], &mut self.out[self.out_end..]) {
            Ok(n) => {
                self.out_end += n;
                true
            }
            Err(_) => false,
        }
    }

    /// Seals as much of `plain` as fits into the output buffer, in records of
    /// up to 16 KiB; returns the plaintext bytes taken.
    pub fn seal(&mut self, plain: &[u8]) -> Result<usize, TlsError> {
        let State::Open { tx, .. } = &mut self.state else {
            return Ok(0);
        };
        let mut taken = 0;
        while taken < plain.len() {
            let room = self.out.len() - self.out_end;
            if room <= record::OVERHEAD {
                break;
            }
            let chunk = (plain.len() - taken)
                .min(MAX_FRAGMENT)
                .min(room - record::OVERHEAD);
            let n = tx.seal(
                APPLICATION_DATA,
                &plain[taken..taken + chunk],
                &mut self.out[self.out_end..],
            )?;
            self.out_end += n;
            taken += chunk;
        }
        Ok(taken)
    }
}

fn known_alpn(p: &[u8]) -> Option<&'static str> {
    match p {
        b"http/1.1" => Some("http/1.1"),
        b"http/1.0" => Some("http/1.0"),
        b"h2" => Some("h2"),
        _ => None,
    }
}
