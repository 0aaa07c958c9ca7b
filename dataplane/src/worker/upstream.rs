//! The upstream side of a worker: taking a pooled connection or opening a fresh
//! one (connect with a linked timeout), sending the request, reading and checking
//! the response head in place, relaying the body, and returning the connection to
//! the pool when the exchange ends cleanly.

use crate::traffic::UpErr;
use io_uring::{cqueue, opcode, squeue, types};

use crate::http::chunked::ChunkedDecoder;
use crate::http::response::{parse_response, ResponseFraming};
use crate::http::rewrite::write_client_response_head;
use crate::http::Parsed;
use crate::reactor::token::{Op, Token};

use super::conn::{Phase, Recv, Remaining, UpState, Upstream};
use super::inbox::{PAUSE_AT, RCVBUF_BUFFERS};
use super::{apply_recv, close_socket, set_nodelay, set_rcvbuf, RecvResult, Worker};

enum RespStep {
    Sent,
    /// Head parsed and rewritten; its body prefix is held for response
    /// policies: (head length, body bytes that came with it).
    Inspect(usize, usize),
    Partial,
    Relay1xx(usize),
    Fail(u16),
}

impl Worker {
    /// Binds an upstream connection to the client's exchange: a pooled one when the
    /// server has one idle, otherwise a fresh connect.
    pub(super) fn acquire_upstream(&mut self, slot: u32) -> Result<(), u16> {
        let (cl, sv) = {
            let c = &self.clients[slot as usize];
            (c.cluster, c.server)
        };
        while let Some(u) = self.clusters[cl].servers[sv].idle.pop() {
            let up = &mut self.ups[u as usize];
            if up.fd < 0 || up.inbox.eof || !up.inbox.is_empty() || up.recv != Recv::Armed {
                // Closed by the server (or sent bytes nobody asked for) while idle.
                self.close_upstream(u);
                continue;
            }
            up.state = UpState::Busy;
            up.client = slot;
            up.reused = true;
            self.clusters[cl].servers[sv].active += 1;
            self.clients[slot as usize].upstream = Some(u);
            self.submit_upstream_tx(slot);
            return Ok(());
        }
        self.connect_upstream(slot)
    }

    fn connect_upstream(&mut self, slot: u32) -> Result<(), u16> {
        let (cl, sv) = {
            let c = &self.clients[slot as usize];
            (c.cluster, c.server)
        };
        let family = self.clusters[cl].servers[sv].sockaddr.ss_family as i32;
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                family,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            self.count_upstream_error(cl, UpErr::Connect);
            return Err(502);
        }
        set_nodelay(fd);
        set_rcvbuf(fd, self.cfg().io.recv_buffer_bytes * RCVBUF_BUFFERS);
        let u = match self.free_ups.pop() {
            Some(u) => u,
            None => {
                if self.ups.len() >= self.cfg().limits.max_connections_per_worker {
                    close_socket(fd);
                    return Err(503);
                }
                self.ups.push(Box::new(Upstream::new()));
                (self.ups.len() - 1) as u32
            }
        };
        let up = &mut self.ups[u as usize];
        up.gen = up.gen.wrapping_add(1);
        up.fd = fd;
        up.cluster = cl;
        up.server = sv;
        up.state = UpState::Connecting;
        up.client = slot;
        up.reused = false;
        up.recv = Recv::Off;
        let gen = up.gen;
        let server = &self.clusters[cl].servers[sv];
        let connect = opcode::Connect::new(
            types::Fd(fd),
            (&server.sockaddr as *const libc::sockaddr_storage).cast(),
            server.sockaddr_len,
        )
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(Token::new(Op::UpstreamConnect, u, gen).encode());
        let timeout = opcode::LinkTimeout::new(&self.connect_ts)
            .build()
            .user_data(Token::new(Op::Ignore, u, 0).encode());
        self.push(&connect);
        self.push(&timeout);
        self.clusters[cl].servers[sv].active += 1;
        self.clients[slot as usize].upstream = Some(u);
        Ok(())
    }

    fn live_upstream(&self, tok: Token) -> bool {
        self.ups
            .get(tok.slot as usize)
            .is_some_and(|u| u.gen == tok.gen && u.fd >= 0)
    }

    pub(super) fn on_upstream_connect(&mut self, tok: Token, res: i32) {
        if !self.live_upstream(tok) {
            return;
        }
        let u = tok.slot;
        let slot = self.ups[u as usize].client;
        if res < 0 {
            let timed_out = res == -libc::ECANCELED;
            let (cl, sv) = (self.ups[u as usize].cluster, self.ups[u as usize].server);
            let kind = if timed_out {
                UpErr::Timeout
            } else {
                UpErr::Connect
            };
            self.count_upstream_error(cl, kind);
            if self.clusters[cl].record_failure(sv, self.now_ms) {
                tracing::warn!(worker = self.id, server = %self.clusters[cl].servers[sv].addr, "upstream server ejected");
            }
            self.drop_upstream(slot);
            self.retry_or_fail(slot, if timed_out { 504 } else { 502 }, true);
            return;
        }
        let cl = self.ups[u as usize].cluster;
        if self.up_tls.get(cl).is_some_and(|t| t.is_some()) {
            if !self.up_tls_start(u) {
                self.count_upstream_error(cl, UpErr::Connect);
                self.drop_upstream(slot);
                self.retry_or_fail(slot, 502, true);
            }
            return;
        }
        self.ups[u as usize].state = UpState::Busy;
        self.arm_upstream_recv(u);
        self.submit_upstream_tx(slot);
    }

    /// After the upstream connection failed before any response byte: retry once
    /// when that is safe, else answer `status`.
    ///
    /// A failed connect sent nothing, so any request may go to another server. A
    /// pooled connection that the server had closed may have swallowed the request,
    /// so only idempotent requests without a body are resent (RFC 9110 §9.2.2).
    pub(super) fn retry_or_fail(&mut self, slot: u32, status: u16, nothing_sent: bool) {
        let now = self.now_ms;
        let c = &mut self.clients[slot as usize];
        if c.fd < 0 {
            return;
        }
        let resend_ok = c.retryable && self.clusters[c.cluster].retry_idempotent;
        let can_retry = !c.retried && !c.got_response && (nothing_sent || resend_ok);
        if can_retry {
            c.retried = true;
            let cl = c.cluster;
            let prev = c.server;
            let avoid = if nothing_sent && self.clusters[cl].servers.len() > 1 {
                Some(prev)
            } else {
                None
            };
            if let Some(sv) = self.clusters[cl].pick(now, avoid) {
                let c = &mut self.clients[slot as usize];
                c.server = sv;
                let out = match c.out.as_ref() {
                    Some(o) => &o[..c.out_len],
                    None => &[][..],
                };
                // SAFETY: `out` is the boxed head buffer owned by this slot; it stays
                // put until the exchange ends, which outlives the send.
                let out: &'static [u8] =
                    unsafe { std::slice::from_raw_parts(out.as_ptr(), out.len()) };
                if let Some(ib) = c.inspect.as_ref() {
                    // SAFETY: as for `out`: the slot owns this buffer until the exchange ends.
                    let ib: &'static [u8] =
                        unsafe { std::slice::from_raw_parts(ib.as_ptr(), c.inspect_len) };
                    c.to_upstream.set(out, ib, 0);
                } else if c.req_sent {
                    c.to_upstream.set(out, &[], 0);
                } else {
                    // SAFETY: used only until this connection's next consume or send
                    // completion (see `Inbox::front`).
                    let front = unsafe { c.inbox.front(&self.bufs) };
                    let body = front.get(c.req_head_len..c.req_first).unwrap_or(&[]);
                    let consume = c.req_first;
                    c.to_upstream.set(out, body, consume);
                }
                c.phase = Phase::SendingRequest;
                match self.acquire_upstream(slot) {
                    Ok(()) => return,
                    Err(s) => {
                        self.respond_error(slot, s);
                        return;
                    }
                }
            }
            self.respond_error(slot, 503);
            return;
        }
        if c.got_response {
            self.close_client(slot);
        } else {
            self.respond_error(slot, status);
        }
    }

    pub(super) fn arm_upstream_recv(&mut self, u: u32) {
        let up = &mut self.ups[u as usize];
        if up.fd < 0 || up.recv != Recv::Off || up.inbox.eof {
            return;
        }
        up.recv = Recv::Armed;
        let (fd, gen) = (up.fd, up.gen);
        self.push_recv(fd, Op::UpstreamRecv, u, gen);
    }

    pub(super) fn resume_upstream_recv(&mut self, u: u32) {
        let up = &self.ups[u as usize];
        if up.tls.is_some() {
            self.up_tls_resume(u);
            return;
        }
        if up.recv == Recv::Off && up.inbox.queued() < PAUSE_AT && up.state != UpState::Connecting {
            self.arm_upstream_recv(u);
        }
    }

    pub(super) fn on_upstream_recv(&mut self, tok: Token, res: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        if let Some(b) = bid {
            self.bufs.taken(b);
        }
        if !self.live_upstream(tok) {
            if let Some(b) = bid {
                self.bufs.recycle(b);
            }
            return;
        }
        let u = tok.slot;
        let up = &mut self.ups[u as usize];
        let inbox = match up.tls.as_mut() {
            Some(link) => &mut link.cipher,
            None => &mut up.inbox,
        };
        let o = apply_recv(&mut self.bufs, inbox, &mut up.recv, res, flags);
        match o.result {
            RecvResult::Applied => {}
            RecvResult::Overflow => {
                self.upstream_broke(u);
                return;
            }
            // A reset upstream ends its stream: whatever it sent is still relayed.
            RecvResult::Failed => match up.tls.as_mut() {
                Some(link) => link.cipher.eof = true,
                None => up.inbox.eof = true,
            },
        }
        if o.starved {
            self.rearm.push((true, u));
        }
        if o.pause {
            self.cancel_recv(tok);
        }
        if self.ups[u as usize].tls.is_some() {
            self.up_tls_pump(u, false);
            return;
        }
        self.after_upstream_bytes(u);
    }

    /// Lets the upstream's owner react to new (plaintext) bytes or EOF.
    pub(super) fn after_upstream_bytes(&mut self, u: u32) {
        let up = &self.ups[u as usize];
        match up.state {
            UpState::Idle => {
                // An idle pooled connection has nothing to say; EOF or stray bytes
                // both mean it is no longer usable.
                if up.inbox.eof || !up.inbox.is_empty() {
                    let (cl, sv) = (up.cluster, up.server);
                    self.clusters[cl].servers[sv].idle.retain(|&x| x != u);
                    self.close_upstream(u);
                }
            }
            UpState::Busy => {
                let slot = up.client;
                self.advance_response(slot);
            }
            UpState::Connecting | UpState::Handshaking => {}
        }
    }

    /// The upstream connection failed mid-exchange in a way that cannot be retried.
    pub(super) fn upstream_broke(&mut self, u: u32) {
        let slot = self.ups[u as usize].client;
        let busy = self.ups[u as usize].state == UpState::Busy;
        if busy && self.clients[slot as usize].upstream == Some(u) {
            self.count_upstream_error(self.ups[u as usize].cluster, UpErr::Protocol);
            self.drop_upstream(slot);
            self.retry_or_fail(slot, 502, false);
        } else {
            self.close_upstream(u);
        }
    }

    pub(super) fn submit_upstream_tx(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        let Some(u) = c.upstream else {
            return;
        };
        let up = &self.ups[u as usize];
        if up.state != UpState::Busy || c.to_upstream.inflight {
            return;
        }
        if c.to_upstream.is_empty() {
            return;
        }
        if up.tls.is_some() {
            // Sealed and sent by the TLS link (see `submit_client_tx`).
            c.to_upstream.inflight = true;
            self.up_tls_flush(u);
            return;
        }
        let e = c
            .to_upstream
            .entry(up.fd, Token::new(Op::UpstreamSend, u, up.gen).encode());
        self.push(&e);
    }

    pub(super) fn on_upstream_send(&mut self, tok: Token, res: i32) {
        if !self.live_upstream(tok) {
            return;
        }
        let u = tok.slot;
        let slot = self.ups[u as usize].client;
        let reused = self.ups[u as usize].reused;
        let mut res = res;
        if let Some(link) = self.ups[u as usize].tls.as_mut() {
            if res < 0 {
                link.sending = false;
                link.batch = 0;
            } else {
                match self.up_tls_sent(u, res as usize) {
                    Some(n) => res = n as i32,
                    None => return,
                }
            }
        }
        let c = &mut self.clients[slot as usize];
        if c.upstream != Some(u) || c.fd < 0 {
            return;
        }
        if res < 0 {
            c.to_upstream.inflight = false;
            if c.req_sent && !self.ups[u as usize].inbox.is_empty() {
                // The upstream answered and stopped reading (its own limit, an auth
                // failure...): its answer is what the client gets, not a 502.
                self.early_response(slot, u);
                return;
            }
            self.count_upstream_error(self.ups[u as usize].cluster, UpErr::Protocol);
            self.drop_upstream(slot);
            // A pooled connection the server closed: resend on a fresh one if safe.
            let nothing_sent = !self.clients[slot as usize].req_sent && !reused;
            self.retry_or_fail(slot, 502, nothing_sent);
            return;
        }
        if !c.to_upstream.advance(res as usize) {
            self.submit_upstream_tx(slot);
            return;
        }
        let consume = c.to_upstream.consume;
        c.to_upstream.set(&[], &[], 0);
        c.inbox.consume(consume, &mut self.bufs, &mut self.asm_pool);
        let read_ms = self.cfg().timeouts.upstream_read.as_millis() as u64;
        let c = &mut self.clients[slot as usize];
        c.req_sent = true;
        match c.phase {
            Phase::SendingRequest | Phase::Body => {
                if c.req_left == Remaining::None {
                    c.phase = Phase::AwaitResponse;
                    c.deadline = self.now_ms + read_ms;
                    self.advance_response(slot);
                } else {
                    c.phase = Phase::Body;
                    self.forward_body(slot);
                }
            }
            Phase::Tunnel => self.tunnel_up(slot),
            _ => {}
        }
        self.resume_client_recv(slot);
    }

    /// Moves the response forward: parse the head, or relay the next run of body.
    pub(super) fn advance_response(&mut self, slot: u32) {
        let c = &self.clients[slot as usize];
        if c.fd < 0 || c.to_client.inflight {
            return;
        }
        let Some(u) = c.upstream else {
            return;
        };
        match c.phase {
            Phase::AwaitResponse => self.response_head(slot, u),
            Phase::InspectResponse => self.collect_response(slot, u),
            Phase::Response | Phase::Tunnel => self.relay_response(slot, u),
            Phase::SendingRequest | Phase::Body => {
                let up = &self.ups[u as usize];
                if !up.inbox.is_empty() && c.req_sent {
                    self.early_response(slot, u);
                } else if up.inbox.eof && up.inbox.is_empty() {
                    self.drop_upstream(slot);
                    self.retry_or_fail(slot, 502, false);
                }
            }
            Phase::Head | Phase::Inspect | Phase::Closing | Phase::Held => {}
        }
    }

    /// The upstream responded before the whole request body went up: stop sending
    /// the body, relay the response, and close both connections afterwards (the
    /// rest of the client's body is never read, so neither side can be reused).
    fn early_response(&mut self, slot: u32, u: u32) {
        let c = &mut self.clients[slot as usize];
        if c.to_client.inflight {
            return;
        }
        c.close_after = true;
        self.response_head(slot, u);
    }

    fn response_head(&mut self, slot: u32, u: u32) {
        loop {
            let max_header = self.cfg().limits.max_header_bytes;
            let resp_need = self.response_inspect_bytes();
            let read_ms = self.cfg().timeouts.upstream_read.as_millis() as u64;
            let draining = self.draining;
            let now = self.now_ms;
            let up = &mut self.ups[u as usize];
            // SAFETY: used only until this connection's next consume or send
            // completion (see `Inbox::front`).
            let buf = unsafe { up.inbox.front(&self.bufs) };
            let eof = up.inbox.eof;
            if buf.is_empty() {
                if eof {
                    self.drop_upstream(slot);
                    self.retry_or_fail(slot, 502, false);
                }
                return;
            }
            let mut hdrs = std::mem::take(&mut self.headers);
            let c = &mut self.clients[slot as usize];
            let step = {
                // SAFETY: as in `try_request`: the entries borrow `buf` only inside this
                // block and are reset right after it.
                let h: &mut [httparse::Header<'_>] = unsafe {
                    std::mem::transmute::<
                        &mut [httparse::Header<'static>],
                        &mut [httparse::Header<'_>],
                    >(&mut hdrs[..])
                };
                match parse_response(buf, h, c.is_head, max_header) {
                    Err(_) => RespStep::Fail(502),
                    Ok(Parsed::Partial) => RespStep::Partial,
                    Ok(Parsed::Complete(head)) if head.informational => {
                        RespStep::Relay1xx(head.head_len)
                    }
                    Ok(Parsed::Complete(head)) => {
                        if head.switching_protocols && !c.upgrade {
                            RespStep::Fail(502)
                        } else {
                            let client_keep = c.keep_alive
                                && !draining
                                && !c.close_after
                                && head.framing != ResponseFraming::UntilClose
                                && !head.switching_protocols;
                            match c.out.as_mut() {
                                None => RespStep::Fail(502),
                                Some(out) => match write_client_response_head(
                                    &head,
                                    buf,
                                    client_keep,
                                    c.version,
                                    &c.request_id,
                                    out,
                                ) {
                                    Err(_) => RespStep::Fail(502),
                                    Ok(n) => {
                                        let inspect = resp_need > 0
                                            && super::response_inspect::inspectable(
                                                &head, c.is_head,
                                            );
                                        let after = &buf[head.head_len..];
                                        // A held prefix never exceeds what is inspected.
                                        let after = if inspect {
                                            &after[..after.len().min(resp_need)]
                                        } else {
                                            after
                                        };
                                        c.resp_chunks = ChunkedDecoder::new();
                                        let mut left = if head.switching_protocols {
                                            Remaining::UntilClose
                                        } else {
                                            match head.framing {
                                                ResponseFraming::None => Remaining::None,
                                                ResponseFraming::Length(n) => Remaining::Length(n),
                                                ResponseFraming::Chunked => Remaining::Chunked,
                                                ResponseFraming::UntilClose => {
                                                    Remaining::UntilClose
                                                }
                                            }
                                        };
                                        let parts = left
                                            .take(&mut c.resp_chunks, after)
                                            .map(|part| (part, left));
                                        match parts {
                                            Err(_) => RespStep::Fail(502),
                                            Ok((part, left)) => {
                                                c.got_response = true;
                                                c.resp_status = head.status;
                                                c.resp_left = left;
                                                c.resp_keep_alive = head.keep_alive
                                                    && head.framing != ResponseFraming::UntilClose;
                                                c.close_after = !client_keep;
                                                c.phase = if head.switching_protocols {
                                                    Phase::Tunnel
                                                } else {
                                                    Phase::Response
                                                };
                                                c.deadline = now + read_ms;
                                                if inspect {
                                                    c.phase = Phase::InspectResponse;
                                                    c.out_len = n;
                                                    c.resp_need = resp_need;
                                                    c.resp_chunked =
                                                        head.framing == ResponseFraming::Chunked;
                                                    RespStep::Inspect(head.head_len, part)
                                                } else {
                                                    c.to_client.set_head_and_body(
                                                        out,
                                                        n,
                                                        &after[..part],
                                                        head.head_len + part,
                                                    );
                                                    RespStep::Sent
                                                }
                                            }
                                        }
                                    }
                                },
                            }
                        }
                    }
                }
            };
            super::reset_lent_headers(&mut hdrs);
            self.headers = hdrs;
            match step {
                RespStep::Sent => {
                    self.learn_response(slot);
                    let c = &self.clients[slot as usize];
                    let (status, cl, sv) = (c.resp_status, c.cluster, c.server);
                    self.count_upstream_response(slot, status);
                    self.clusters[cl].record_success(sv);
                    self.response_status_known(slot, status);
                    self.submit_client_tx(slot);
                    return;
                }
                RespStep::Inspect(head_len, part) => {
                    let c = &self.clients[slot as usize];
                    let (status, cl, sv) = (c.resp_status, c.cluster, c.server);
                    self.count_upstream_response(slot, status);
                    self.clusters[cl].record_success(sv);
                    self.response_status_known(slot, status);
                    self.hold_response(slot, u, &buf[head_len..head_len + part], head_len + part);
                    return;
                }
                RespStep::Relay1xx(len) => {
                    // Interim responses go to the client verbatim (HTTP/1.0 clients
                    // cannot take them: drop those).
                    let c = &mut self.clients[slot as usize];
                    if c.version == crate::http::Version::Http10 {
                        self.ups[u as usize]
                            .inbox
                            .consume(len, &mut self.bufs, &mut self.asm_pool);
                        continue;
                    }
                    c.to_client.set(&buf[..len], &[], len);
                    self.submit_client_tx(slot);
                    return;
                }
                RespStep::Partial => {
                    let up = &mut self.ups[u as usize];
                    match up.inbox.coalesce(&mut self.bufs, &mut self.asm_pool) {
                        Ok(true) => continue,
                        Ok(false) => {
                            if up.inbox.eof {
                                let cl = up.cluster;
                                self.count_upstream_error(cl, UpErr::Protocol);
                                self.drop_upstream(slot);
                                self.retry_or_fail(slot, 502, false);
                            } else {
                                self.resume_upstream_recv(u);
                            }
                            return;
                        }
                        Err(_) => {
                            self.respond_error(slot, 503);
                            return;
                        }
                    }
                }
                RespStep::Fail(status) => {
                    let (cl, sv) = {
                        let c = &self.clients[slot as usize];
                        (c.cluster, c.server)
                    };
                    self.count_upstream_error(cl, UpErr::Protocol);
                    self.clusters[cl].record_failure(sv, self.now_ms);
                    self.respond_error(slot, status);
                    return;
                }
            }
        }
    }

    fn relay_response(&mut self, slot: u32, u: u32) {
        let read_ms = self.cfg().timeouts.upstream_read.as_millis() as u64;
        let idle_ms = self.cfg().timeouts.idle_keepalive.as_millis() as u64;
        let up = &mut self.ups[u as usize];
        // SAFETY: used only until this connection's next consume or send
        // completion (see `Inbox::front`).
        let buf = unsafe { up.inbox.front(&self.bufs) };
        let eof = up.inbox.eof;
        let c = &mut self.clients[slot as usize];
        if buf.is_empty() {
            if eof {
                if c.resp_left == Remaining::UntilClose && c.phase == Phase::Response {
                    c.resp_left = Remaining::None;
                    c.close_after = true;
                    self.finish_exchange(slot);
                } else {
                    // Truncated response (or the tunnel's upstream side closed):
                    // the client cannot be told anything but a close.
                    self.close_client(slot);
                }
            } else {
                self.resume_upstream_recv(u);
            }
            return;
        }
        if c.resp_left == Remaining::None {
            return;
        }
        let part = match c.resp_left.take(&mut c.resp_chunks, buf) {
            Ok(p) => p,
            Err(_) => {
                let cl = c.cluster;
                self.count_upstream_error(cl, UpErr::Protocol);
                self.close_client(slot);
                return;
            }
        };
        c.deadline = self.now_ms
            + if c.phase == Phase::Tunnel {
                idle_ms
            } else {
                read_ms
            };
        c.to_client.set(&buf[..part], &[], part);
        self.submit_client_tx(slot);
    }

    /// The response is fully written: pool or close the upstream connection, then
    /// either serve the next (maybe already buffered) request or close.
    pub(super) fn finish_exchange(&mut self, slot: u32) {
        let now_us = self.now_us;
        let idle_ms = self.cfg().timeouts.idle_keepalive.as_millis() as u64;
        let c = &mut self.clients[slot as usize];
        let latency = now_us.saturating_sub(c.started_us);
        let reusable = c.resp_keep_alive && c.req_left == Remaining::None;
        if let Some(u) = c.upstream.take() {
            let up = &mut self.ups[u as usize];
            let (cl, sv) = (up.cluster, up.server);
            let server = &mut self.clusters[cl].servers[sv];
            server.active = server.active.saturating_sub(1);
            let max_idle = self.clusters[cl].max_idle;
            let server = &mut self.clusters[cl].servers[sv];
            if reusable
                && !self.draining
                && up.inbox.is_empty()
                && !up.inbox.eof
                && up.recv == Recv::Armed
                && server.idle.len() < max_idle
            {
                up.state = UpState::Idle;
                server.idle.push(u);
            } else {
                self.close_upstream(u);
            }
        }
        self.stats.latency(latency);
        self.traffic
            .tally
            .latency(self.clients[slot as usize].route, latency);
        let c = &mut self.clients[slot as usize];
        if let Some(out) = c.out.take() {
            self.out_pool.give(out);
        }
        if let Some(ib) = c.inspect.take() {
            self.inspect_pool.give(ib);
        }
        self.release_response_buf(slot);
        let c = &mut self.clients[slot as usize];
        if c.close_after || self.draining {
            self.close_client_orderly(slot);
            return;
        }
        c.phase = Phase::Head;
        c.served += 1;
        c.head_started = false;
        c.deadline = self.now_ms + idle_ms;
        self.try_request(slot);
    }

    /// Detaches and closes the client's upstream connection, if any.
    pub(super) fn drop_upstream(&mut self, slot: u32) {
        let Some(c) = self.clients.get_mut(slot as usize) else {
            return;
        };
        c.to_upstream.inflight = false;
        if let Some(u) = c.upstream.take() {
            let (cl, sv) = (self.ups[u as usize].cluster, self.ups[u as usize].server);
            let server = &mut self.clusters[cl].servers[sv];
            server.active = server.active.saturating_sub(1);
            self.close_upstream(u);
        }
    }

    pub(super) fn close_upstream(&mut self, u: u32) {
        let up = &mut self.ups[u as usize];
        if up.fd < 0 {
            return;
        }
        close_socket(up.fd);
        up.fd = -1;
        up.gen = up.gen.wrapping_add(1);
        up.recv = Recv::Off;
        up.inbox.release(&mut self.bufs, &mut self.asm_pool);
        self.up_tls_release(u);
        self.free_ups.push(u);
    }
}
