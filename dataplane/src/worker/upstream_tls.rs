//! TLS to upstream servers, on the worker: after the TCP connect, the
//! connection stays `Handshaking` until the session (as a client) completes
//! its handshake, then the request goes out sealed and the response comes
//! back into the upstream's ordinary inbox as plaintext — the response code
//! above never knows. Shares `TlsLink`'s pump and send logic with client
//! connections; see `tls_link.rs`.

use super::conn::{Recv, UpState};
use super::inbox::PAUSE_AT;
use super::tls_link::{Sent, TlsLink};
use super::Worker;
use crate::reactor::token::{Op, Token};
use crate::tls::TlsSession;
use crate::traffic::UpErr;

impl Worker {
    /// Starts the handshake on a freshly connected upstream `u` of a TLS
    /// cluster; false when the session cannot be set up.
    pub(super) fn up_tls_start(&mut self, u: u32) -> bool {
        let (cl, sv) = (self.ups[u as usize].cluster, self.ups[u as usize].server);
        let Some(config) = self.up_tls.get(cl).and_then(|c| c.clone()) else {
            return false;
        };
        let Some(name) = self.cfg().upstreams[cl]
            .tls
            .as_ref()
            .map(|t| t.name_for(self.clusters[cl].servers[sv].addr))
        else {
            return false;
        };
        let (inbuf, out) = self.tls_buffers.pop().unwrap_or_else(|| {
            (
                vec![0; crate::tls::session::IN_BUF].into_boxed_slice(),
                vec![0; crate::tls::session::OUT_BUF].into_boxed_slice(),
            )
        });
        match TlsSession::client(config, name, inbuf, out) {
            Ok(session) => {
                let up = &mut self.ups[u as usize];
                up.tls = Some(TlsLink::new(session));
                up.state = UpState::Handshaking;
                self.arm_upstream_recv(u);
                // Writes the ClientHello.
                self.up_tls_pump(u, false);
                true
            }
            Err(e) => {
                tracing::warn!(worker = self.id, error = %e, "upstream TLS session setup failed");
                false
            }
        }
    }

    /// Ciphertext in, plaintext out; sends what the session has to say; moves
    /// a finished handshake on to sending the request. `kick`: plaintext is
    /// handed to the response code at the end of the loop turn.
    pub(super) fn up_tls_pump(&mut self, u: u32, kick: bool) {
        let up = &mut self.ups[u as usize];
        let Some(link) = up.tls.as_mut() else {
            return;
        };
        let p = link.pump(&mut up.inbox, &mut self.bufs, &mut self.asm_pool, false);
        let handshaking = up.state == UpState::Handshaking;
        if let Some(e) = p.error {
            if self.now_ms >= self.tls_log_after {
                self.tls_log_after = self.now_ms + 1000;
                let (cl, sv) = (up.cluster, up.server);
                tracing::warn!(worker = self.id, server = %self.clusters[cl].servers[sv].addr, error = %e, "upstream TLS failed");
            }
            if handshaking {
                self.up_tls_handshake_failed(u);
            } else {
                self.up_tls_broke(u);
            }
            return;
        }
        self.up_tls_flush(u);
        let up = &mut self.ups[u as usize];
        if p.established && handshaking {
            up.state = UpState::Busy;
            let slot = up.client;
            self.submit_upstream_tx(slot);
        }
        let up = &mut self.ups[u as usize];
        if (p.delivered || up.inbox.eof) && up.state != UpState::Handshaking {
            if kick {
                if let Some(link) = up.tls.as_mut() {
                    if !link.kicked {
                        link.kicked = true;
                        self.up_tls_kicks.push(u);
                    }
                }
            } else {
                self.after_upstream_bytes(u);
            }
        } else if up.inbox.eof && handshaking {
            self.up_tls_handshake_failed(u);
        }
    }

    /// The handshake failed (or the server closed during it): a failed
    /// connect, retried elsewhere when possible.
    fn up_tls_handshake_failed(&mut self, u: u32) {
        let up = &self.ups[u as usize];
        let (cl, sv, slot) = (up.cluster, up.server, up.client);
        self.count_upstream_error(cl, UpErr::Connect);
        if self.clusters[cl].record_failure(sv, self.now_ms) {
            tracing::warn!(worker = self.id, server = %self.clusters[cl].servers[sv].addr, "upstream server ejected");
        }
        if self.clients[slot as usize].upstream == Some(u) {
            self.drop_upstream(slot);
            self.retry_or_fail(slot, 502, true);
        } else {
            self.close_upstream(u);
        }
    }

    fn up_tls_broke(&mut self, u: u32) {
        let up = &mut self.ups[u as usize];
        if up.state == UpState::Idle {
            let (cl, sv) = (up.cluster, up.server);
            self.clusters[cl].servers[sv].idle.retain(|&x| x != u);
            self.close_upstream(u);
        } else {
            self.upstream_broke(u);
        }
    }

    /// Starts the next send on a TLS upstream, if none is in flight.
    pub(super) fn up_tls_flush(&mut self, u: u32) {
        let up = &mut self.ups[u as usize];
        if up.fd < 0 {
            return;
        }
        let Some(link) = up.tls.as_mut() else {
            return;
        };
        let ud = Token::new(Op::UpstreamSend, u, up.gen).encode();
        // Plaintext is sealed only once the handshake is over and the
        // connection belongs to an exchange.
        let slot = up.client as usize;
        let busy = up.state == UpState::Busy
            && self
                .clients
                .get(slot)
                .is_some_and(|c| c.upstream == Some(u));
        let idle_tx = super::tx::Tx::new();
        let tx = if busy {
            &self.clients[slot].to_upstream
        } else {
            &idle_tx
        };
        match link.next_send(up.fd, tx, ud) {
            Ok(Some(e)) => self.push(&e),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(worker = self.id, error = %e, "upstream TLS seal failed");
                self.up_tls_broke(u);
            }
        }
    }

    /// A TLS upstream send of `n` bytes completed: `Some(m)` when `m`
    /// plaintext bytes of the request are now out (the caller advances
    /// `to_upstream`), `None` when there is nothing more for the caller.
    pub(super) fn up_tls_sent(&mut self, u: u32, n: usize) -> Option<usize> {
        let up = &mut self.ups[u as usize];
        let link = up.tls.as_mut()?;
        match link.sent(n) {
            Sent::Batch(n) => Some(n),
            Sent::More | Sent::Control => {
                self.up_tls_flush(u);
                None
            }
        }
    }

    /// Re-arms a TLS upstream's recv once its ciphertext queue drained.
    pub(super) fn up_tls_resume(&mut self, u: u32) {
        self.up_tls_pump(u, true);
        let up = &self.ups[u as usize];
        if let Some(link) = up.tls.as_ref() {
            if up.fd >= 0
                && up.recv == Recv::Off
                && link.cipher.queued() < PAUSE_AT
                && !link.cipher.eof
            {
                self.arm_upstream_recv(u);
            }
        }
    }

    pub(super) fn up_tls_release(&mut self, u: u32) {
        let Some(mut link) = self.ups[u as usize].tls.take() else {
            return;
        };
        link.cipher.release(&mut self.bufs, &mut self.asm_pool);
        if self.tls_buffers.len() < super::tls_link::BUFFER_POOL {
            self.tls_buffers.push(link.session.into_buffers());
        }
    }

    /// Hands plaintext that arrived while the response code was busy to it.
    pub(super) fn run_up_tls_kicks(&mut self) {
        for _ in 0..4 {
            if self.up_tls_kicks.is_empty() {
                return;
            }
            let mut list = std::mem::take(&mut self.up_tls_kicks);
            for &u in &list {
                let up = &mut self.ups[u as usize];
                if let Some(link) = up.tls.as_mut() {
                    link.kicked = false;
                }
                if up.fd >= 0 {
                    self.after_upstream_bytes(u);
                }
            }
            list.clear();
            if self.up_tls_kicks.is_empty() {
                self.up_tls_kicks = list;
            }
        }
    }
}
