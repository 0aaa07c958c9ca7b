//! The TLS side of a client connection: ciphertext from the socket goes
//! through the connection's [`TlsSession`] into its ordinary inbox as
//! plaintext, and what the state machine writes with `to_client` is sealed
//! before it goes out. The HTTP code above never knows the difference.
//!
//! Ciphertext arrives in ring buffers queued on the link's own inbox (so
//! back-pressure works as for plain connections), is copied into the
//! session's record buffer and opened in place, and the plaintext is appended
//! to the client's inbox. One send is in flight at a time: either handshake
//! bytes, or a batch of sealed records whose plaintext length is remembered
//! so `to_client` advances by it when the ciphertext is out.

use io_uring::{opcode, squeue, types};

use super::conn::{Phase, Recv};
use super::inbox::{Inbox, PAUSE_AT};
use super::stats::{TLS_FAILED, TLS_FULL, TLS_PLAINTEXT, TLS_RESUMED};
use super::tx::Tx;
use super::Worker;
use crate::reactor::bufring::BufRing;
use crate::reactor::pool::BufPool;
use crate::reactor::token::{Op, Token};
use crate::tls::{TlsError, TlsSession};

/// A client connection's TLS state.
pub struct TlsLink {
    pub session: TlsSession,
    /// Ciphertext ring buffers not yet copied into the session.
    pub cipher: Inbox,
    /// A send of `session.output()` is in flight.
    pub sending: bool,
    /// Plaintext bytes of `to_client` sealed into the output being sent.
    pub batch: usize,
    /// Queued for a deferred `advance_client` (see `Worker::run_tls_kicks`).
    pub kicked: bool,
}

/// Free session buffers kept per core (beyond this they are freed).
pub const BUFFER_POOL: usize = 1024;

/// What one [`TlsLink::pump`] did.
#[derive(Default)]
pub struct Pumped {
    /// Plaintext reached the connection's inbox.
    pub delivered: bool,
    /// The handshake completed now.
    pub established: bool,
    /// Plain HTTP arrived where a ClientHello was expected.
    pub plain_http: bool,
    pub error: Option<TlsError>,
}

/// How a send of the link's output ended.
pub enum Sent {
    /// More ciphertext is waiting: send again.
    More,
    /// Handshake or alert bytes went out; no plaintext was covered.
    Control,
    /// A batch of sealed plaintext is out: advance the `Tx` by this much.
    Batch(usize),
}

impl TlsLink {
    pub fn new(session: TlsSession) -> Box<TlsLink> {
        Box::new(TlsLink {
            session,
            cipher: Inbox::new(),
            sending: false,
            batch: 0,
            kicked: false,
        })
    }

    /// Moves received ciphertext into the session and plaintext into
    /// `plain`; marks `plain` at EOF when the peer's side is over.
    pub fn pump(
        &mut self,
        plain: &mut Inbox,
        bufs: &mut BufRing,
        pool: &mut BufPool,
        probe_plain_http: bool,
    ) -> Pumped {
        let mut out = Pumped::default();
        let was_open = self.session.is_established();
        loop {
            // SAFETY: the slice is used only before this inbox's next consume.
            let src = unsafe { self.cipher.front(bufs) };
            let fed = if src.is_empty() {
                0
            } else {
                self.session.feed(src)
            };
            if probe_plain_http && !was_open && self.session.looks_like_plain_http() {
                out.plain_http = true;
                return out;
            }
            self.cipher.consume(fed, bufs, pool);
            match self
                .session
                .process(&mut |b: &[u8]| plain.push_plain(b, pool))
            {
                Ok(p) => {
                    out.delivered |= p.delivered;
                    out.established |= p.established;
                    if p.peer_closed {
                        plain.eof = true;
                        break;
                    }
                    if p.blocked || fed == 0 {
                        break;
                    }
                }
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
        if self.cipher.eof && self.cipher.is_empty() && !self.session.has_pending() {
            plain.eof = true;
        }
        out
    }

    /// Seals the next batch of `tx`'s plaintext when nothing is being sent,
    /// then builds the send of whatever output is waiting (`None`: nothing).
    pub fn next_send(
        &mut self,
        fd: i32,
        tx: &Tx,
        user_data: u64,
    ) -> Result<Option<squeue::Entry>, TlsError> {
        if self.sending {
            return Ok(None);
        }
        if self.session.output().is_empty() && self.batch == 0 && tx.inflight {
            // SAFETY: `tx`'s ranges stay valid until its send completes, which
            // is not before the batch is accounted (the worker's rule for `Tx`).
            let [a, b] = unsafe { tx.remaining() };
            let n = self.session.seal(a)?;
            let m = if n == a.len() {
                self.session.seal(b)?
            } else {
                0
            };
            self.batch = n + m;
        }
        let out = self.session.output();
        if out.is_empty() {
            return Ok(None);
        }
        self.sending = true;
        Ok(Some(
            opcode::Send::new(types::Fd(fd), out.as_ptr(), out.len() as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build()
                .user_data(user_data),
        ))
    }

    /// `n` bytes of the output were written.
    pub fn sent(&mut self, n: usize) -> Sent {
        self.sending = false;
        self.session.written(n);
        if !self.session.output().is_empty() {
            return Sent::More;
        }
        match std::mem::take(&mut self.batch) {
            0 => Sent::Control,
            b => Sent::Batch(b),
        }
    }
}

impl Worker {
    /// A new TLS connection on `slot`; false when it cannot be set up.
    pub(super) fn tls_accept(&mut self, slot: u32) -> bool {
        let Some(setup) = self.tls.as_ref() else {
            return false;
        };
        let (inbuf, out) = self.tls_buffers.pop().unwrap_or_else(|| {
            (
                vec![0; crate::tls::session::IN_BUF].into_boxed_slice(),
                vec![0; crate::tls::session::OUT_BUF].into_boxed_slice(),
            )
        });
        match TlsSession::new(setup.server.clone(), inbuf, out) {
            Ok(session) => {
                self.clients[slot as usize].tls = Some(TlsLink::new(session));
                true
            }
            Err(e) => {
                tracing::warn!(worker = self.id, error = %e, "TLS session setup failed");
                false
            }
        }
    }

    /// Drops a closed connection's TLS state, keeping its buffers for the
    /// next one (a send may still read the output buffer until it completes,
    /// so it is not freed while the worker runs unless the pool is full).
    /// Closes a connection the gateway is done with (response sent on a
    /// closing connection, idle keep-alive timeout, drain): a TLS client
    /// gets close_notify first, so it can tell the end of the session from
    /// a truncation. Best effort: one non-blocking send of the 24–31 byte
    /// alert, skipped when a send is in flight, lost when the socket buffer
    /// is full; the core never waits. Refusals that must not look orderly
    /// (`drop`, errors) call `close_client` directly.
    pub(super) fn close_client_orderly(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        if let Some(link) = c.tls.as_mut() {
            if c.fd >= 0 && !c.to_client.inflight && !link.sending && link.session.close_notify() {
                let out = link.session.output();
                // SAFETY: send(2) on the slot's open socket, from a buffer
                // that lives across the call; MSG_DONTWAIT keeps it from
                // blocking, MSG_NOSIGNAL from raising SIGPIPE.
                let _ = unsafe {
                    libc::send(
                        c.fd,
                        out.as_ptr().cast(),
                        out.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
            }
        }
        self.close_client(slot);
    }

    pub(super) fn tls_release(&mut self, slot: u32) {
        let Some(mut link) = self.clients[slot as usize].tls.take() else {
            return;
        };
        link.cipher.release(&mut self.bufs, &mut self.asm_pool);
        if self.tls_buffers.len() < BUFFER_POOL {
            self.tls_buffers.push(link.session.into_buffers());
        }
    }

    /// Moves ciphertext into the session and plaintext out of it; sends what
    /// the handshake produced. `kick`: new plaintext is handed to the state
    /// machine at the end of the loop turn instead of now (the caller is
    /// itself inside the state machine).
    pub(super) fn tls_pump(&mut self, slot: u32, kick: bool) {
        let c = &mut self.clients[slot as usize];
        let Some(link) = c.tls.as_mut() else {
            return;
        };
        let p = link.pump(&mut c.inbox, &mut self.bufs, &mut self.asm_pool, true);
        if p.established {
            let i = if link.session.facts.resumed {
                TLS_RESUMED
            } else {
                TLS_FULL
            };
            self.stats.now.tls[i] += 1;
        }
        if p.plain_http {
            self.stats.now.tls[TLS_PLAINTEXT] += 1;
            self.plaintext_on_tls(slot);
            return;
        }
        if let Some(e) = p.error {
            self.stats.now.tls[TLS_FAILED] += 1;
            if self.now_ms >= self.tls_log_after {
                self.tls_log_after = self.now_ms + 1000;
                let c = &self.clients[slot as usize];
                tracing::info!(worker = self.id, peer = %c.peer, error = %e, "TLS connection failed");
            }
            self.close_client(slot);
            return;
        }
        let eof = self.clients[slot as usize].inbox.eof;
        self.tls_flush(slot);
        if p.delivered || eof {
            if kick {
                let c = &mut self.clients[slot as usize];
                if let Some(link) = c.tls.as_mut() {
                    if !link.kicked {
                        link.kicked = true;
                        self.tls_kicks.push(slot);
                    }
                }
            } else {
                self.advance_client(slot);
            }
        }
    }

    /// Plain HTTP sent to a TLS port: answer in plain HTTP (as nginx does) so
    /// whoever misconfigured the client sees why, then close.
    fn plaintext_on_tls(&mut self, slot: u32) {
        self.tls_release(slot);
        let c = &mut self.clients[slot as usize];
        c.phase = Phase::Head;
        self.respond_error(slot, 400);
    }

    /// Starts a send if none is in flight: pending handshake or alert bytes
    /// first, else the next batch of `to_client` plaintext, sealed.
    pub(super) fn tls_flush(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        let Some(link) = c.tls.as_mut() else {
            return;
        };
        if c.fd < 0 {
            return;
        }
        let ud = Token::new(Op::ClientSend, slot, c.gen).encode();
        match link.next_send(c.fd, &c.to_client, ud) {
            Ok(Some(e)) => self.push(&e),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(worker = self.id, error = %e, "TLS seal failed");
                self.close_client(slot);
            }
        }
    }

    /// A TLS send completed with `res`. Returns the plaintext bytes of
    /// `to_client` now written when a batch finished, or `None` when there
    /// is nothing more for the caller to do.
    pub(super) fn tls_sent(&mut self, slot: u32, res: i32) -> Option<usize> {
        let c = &mut self.clients[slot as usize];
        let link = c.tls.as_mut()?;
        if res < 0 {
            link.sending = false;
            c.to_client.inflight = false;
            self.close_client(slot);
            return None;
        }
        self.stats.now.bytes_out += res as u64;
        match link.sent(res as usize) {
            Sent::Batch(n) => Some(n),
            // More ciphertext, or handshake bytes out and plaintext perhaps
            // waiting to be sealed.
            Sent::More | Sent::Control => {
                self.tls_flush(slot);
                None
            }
        }
    }

    /// Re-arms the TLS connection's recv once its ciphertext queue drained.
    pub(super) fn tls_resume(&mut self, slot: u32) {
        self.tls_pump(slot, true);
        let c = &self.clients[slot as usize];
        if let Some(link) = c.tls.as_ref() {
            if c.recv == Recv::Off && link.cipher.queued() < PAUSE_AT && !link.cipher.eof {
                self.arm_client_recv(slot);
            }
        }
    }

    /// Hands plaintext that arrived while the state machine was busy to it.
    pub(super) fn run_tls_kicks(&mut self) {
        // Bounded: a kick can queue at most one more per connection.
        for _ in 0..4 {
            if self.tls_kicks.is_empty() {
                return;
            }
            let mut list = std::mem::take(&mut self.tls_kicks);
            for &slot in &list {
                let c = &mut self.clients[slot as usize];
                let live = c.fd >= 0;
                if let Some(link) = c.tls.as_mut() {
                    link.kicked = false;
                }
                if live {
                    self.advance_client(slot);
                }
            }
            list.clear();
            if self.tls_kicks.is_empty() {
                self.tls_kicks = list;
            }
        }
    }
}
