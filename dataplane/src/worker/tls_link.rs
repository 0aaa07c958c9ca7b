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

use io_uring::opcode;
use io_uring::types;

use super::conn::{Phase, Recv};
use super::inbox::{Inbox, PAUSE_AT};
use super::stats::{TLS_FAILED, TLS_FULL, TLS_PLAINTEXT, TLS_RESUMED};
use super::Worker;
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
                self.clients[slot as usize].tls = Some(Box::new(TlsLink {
                    session,
                    cipher: Inbox::new(),
                    sending: false,
                    batch: 0,
                    kicked: false,
                }));
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
        let was_open = link.session.is_established();
        let mut delivered = false;
        let mut result: Result<(), TlsError> = Ok(());
        let mut plaintext_probe = false;
        loop {
            // SAFETY: the slice is used only before this inbox's next consume.
            let src = unsafe { link.cipher.front(&self.bufs) };
            let fed = if src.is_empty() {
                0
            } else {
                link.session.feed(src)
            };
            if !was_open && link.session.looks_like_plain_http() {
                plaintext_probe = true;
                break;
            }
            link.cipher.consume(fed, &mut self.bufs, &mut self.asm_pool);
            let inbox = &mut c.inbox;
            let pool = &mut self.asm_pool;
            match link
                .session
                .process(&mut |b: &[u8]| inbox.push_plain(b, pool))
            {
                Ok(p) => {
                    delivered |= p.delivered;
                    if p.established {
                        let i = if link.session.facts.resumed {
                            TLS_RESUMED
                        } else {
                            TLS_FULL
                        };
                        self.stats.now.tls[i] += 1;
                    }
                    if p.peer_closed {
                        c.inbox.eof = true;
                        break;
                    }
                    if p.blocked || fed == 0 {
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if plaintext_probe {
            self.stats.now.tls[TLS_PLAINTEXT] += 1;
            self.plaintext_on_tls(slot);
            return;
        }
        if let Err(e) = result {
            self.stats.now.tls[TLS_FAILED] += 1;
            if self.now_ms >= self.tls_log_after {
                self.tls_log_after = self.now_ms + 1000;
                let c = &self.clients[slot as usize];
                tracing::info!(worker = self.id, peer = %c.peer, error = %e, "TLS connection failed");
            }
            self.close_client(slot);
            return;
        }
        let c = &mut self.clients[slot as usize];
        let Some(link) = c.tls.as_mut() else {
            return;
        };
        if link.cipher.eof && link.cipher.is_empty() && !link.session.has_pending() {
            c.inbox.eof = true;
        }
        let eof = c.inbox.eof;
        self.tls_flush(slot);
        if delivered || eof {
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
        if link.sending || c.fd < 0 {
            return;
        }
        if link.session.output().is_empty() && link.batch == 0 && c.to_client.inflight {
            // SAFETY: `to_client`'s ranges stay valid until its send completes,
            // which is not before `advance` below (the worker's rule for `Tx`).
            let [a, b] = unsafe { c.to_client.remaining() };
            let sealed = link.session.seal(a).and_then(|n| {
                Ok(n + if n == a.len() {
                    link.session.seal(b)?
                } else {
                    0
                })
            });
            match sealed {
                Ok(n) => link.batch = n,
                Err(e) => {
                    tracing::debug!(worker = self.id, error = %e, "TLS seal failed");
                    self.close_client(slot);
                    return;
                }
            }
        }
        let out = link.session.output();
        if out.is_empty() {
            return;
        }
        link.sending = true;
        let e = opcode::Send::new(types::Fd(c.fd), out.as_ptr(), out.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(Token::new(Op::ClientSend, slot, c.gen).encode());
        self.push(&e);
    }

    /// A TLS send completed with `res`. Returns the plaintext bytes of
    /// `to_client` now written when a batch finished, or `None` when there
    /// is nothing more for the caller to do.
    pub(super) fn tls_sent(&mut self, slot: u32, res: i32) -> Option<usize> {
        let c = &mut self.clients[slot as usize];
        let link = c.tls.as_mut()?;
        link.sending = false;
        if res < 0 {
            c.to_client.inflight = false;
            self.close_client(slot);
            return None;
        }
        self.stats.now.bytes_out += res as u64;
        link.session.written(res as usize);
        if !link.session.output().is_empty() {
            self.tls_flush(slot);
            return None;
        }
        let batch = std::mem::take(&mut link.batch);
        if batch == 0 {
            // Handshake bytes are out; plaintext may be waiting to be sealed.
            self.tls_flush(slot);
            return None;
        }
        Some(batch)
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
