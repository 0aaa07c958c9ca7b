//! The downstream side of a worker: accepting connections, reading and checking
//! request heads in place, forwarding request bodies, writing our own responses,
//! and the deadline sweep.

use crate::traffic::UpErr;
use io_uring::cqueue;

use crate::http::canned::{write_error_response, CONTINUE_100};
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{parse_request, BodyFraming, HeadLimits, RequestHead};
use crate::http::rewrite::{write_upstream_request_head, ForwardContext};
use crate::http::{Parsed, Version};
use crate::reactor::token::{Op, Token};

use super::body_stream::BodyRun;
use super::conn::{Client, Phase, Recv, Remaining};
use super::inbox::{PAUSE_AT, RCVBUF_BUFFERS};
use super::policy::Judgement;
use super::{apply_recv, close_socket, set_nodelay, set_rcvbuf, RecvResult, Worker};

/// The outcome of looking at the bytes a client sent.
enum Step {
    /// An exchange started (or an error response is on its way).
    Started,
    /// The head is not complete yet.
    Partial,
    /// Reject with this status and close.
    Reject(u16),
}

fn peer_ip(fd: i32) -> std::net::IpAddr {
    // SAFETY: getpeername writes at most `len` bytes of address into the storage
    // socket2 provides, and socket2 only reads it when the call succeeded.
    let got = unsafe {
        socket2::SockAddr::try_init(|ss, len| {
            if libc::getpeername(fd, ss.cast(), len) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    if let Ok((_, addr)) = got {
        if let Some(a) = addr.as_socket() {
            return a.ip();
        }
    }
    std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
}

impl Worker {
    pub(super) fn ms(d: std::time::Duration) -> u64 {
        d.as_millis() as u64
    }

    pub(super) fn on_accept(&mut self, idx: usize, res: i32, flags: u32) {
        if !cqueue::more(flags) && !self.draining && idx < self.listeners.len() {
            if res < 0 {
                // Out of descriptors (or memory): re-arming at once would spin on the
                // same error; try again at the next sweep.
                self.accept_paused.push(idx);
            } else {
                self.arm_accept(idx);
            }
        }
        if res < 0 {
            // EMFILE/ENFILE/ENOBUFS repeat for every pending connection: log at most
            // once a second so a descriptor shortage cannot flood the log.
            if !self.draining && self.now_ms >= self.accept_log_after {
                self.accept_log_after = self.now_ms + 1000;
                tracing::warn!(worker = self.id, error = %std::io::Error::from_raw_os_error(-res), "accept failed");
            }
            return;
        }
        let fd = res;
        if self.draining || self.live_clients >= self.cfg().limits.max_connections_per_worker {
            self.stats.now.rejected += 1;
            close_socket(fd);
            return;
        }
        set_nodelay(fd);
        set_rcvbuf(fd, self.cfg().io.recv_buffer_bytes * RCVBUF_BUFFERS);
        let slot = match self.free_clients.pop() {
            Some(s) => s,
            None => {
                self.clients.push(Box::new(Client::new()));
                (self.clients.len() - 1) as u32
            }
        };
        let header_read = Self::ms(self.cfg().timeouts.header_read);
        let now = self.now_ms;
        let c = &mut self.clients[slot as usize];
        c.gen = c.gen.wrapping_add(1);
        c.fd = fd;
        c.peer = peer_ip(fd);
        c.phase = Phase::Head;
        c.deadline = now + header_read;
        c.served = 0;
        c.head_started = false;
        c.close_after = false;
        c.upstream = None;
        self.live_clients += 1;
        if idx >= self.tls_from && !self.tls_accept(slot) {
            self.close_client(slot);
            return;
        }
        self.arm_client_recv(slot);
    }

    pub(super) fn arm_client_recv(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        let eof = match &c.tls {
            Some(link) => link.cipher.eof,
            None => c.inbox.eof,
        };
        if c.fd < 0 || c.recv != Recv::Off || eof {
            return;
        }
        c.recv = Recv::Armed;
        let (fd, gen) = (c.fd, c.gen);
        self.push_recv(fd, Op::ClientRecv, slot, gen);
    }

    /// Re-arms a paused recv once the connection has drained what it holds.
    pub(super) fn resume_client_recv(&mut self, slot: u32) {
        let c = &self.clients[slot as usize];
        if c.tls.is_some() {
            self.tls_resume(slot);
            return;
        }
        if c.recv == Recv::Off && c.inbox.queued() < PAUSE_AT {
            self.arm_client_recv(slot);
        }
    }

    pub(super) fn on_client_recv(&mut self, tok: Token, res: i32, flags: u32) {
        let bid = cqueue::buffer_select(flags);
        let slot = tok.slot;
        let live = self
            .clients
            .get(slot as usize)
            .is_some_and(|c| c.gen == tok.gen && c.fd >= 0);
        if let Some(b) = bid {
            self.bufs.taken(b);
        }
        if !live {
            if let Some(b) = bid {
                self.bufs.recycle(b);
            }
            return;
        }
        let c = &mut self.clients[slot as usize];
        let inbox = match c.tls.as_mut() {
            Some(link) => &mut link.cipher,
            None => &mut c.inbox,
        };
        let o = apply_recv(&mut self.bufs, inbox, &mut c.recv, res, flags);
        match o.result {
            RecvResult::Applied => {}
            RecvResult::Overflow => {
                tracing::warn!(worker = self.id, "client receive queue overflow; closing");
                self.close_client(slot);
                return;
            }
            RecvResult::Failed => {
                self.close_client(slot);
                return;
            }
        }
        if res > 0 {
            self.stats.now.bytes_in += res as u64;
        }
        if o.starved {
            self.rearm.push((false, slot));
        }
        if o.pause {
            self.cancel_recv(tok);
        }
        if self.clients[slot as usize].tls.is_some() {
            self.tls_pump(slot, false);
        } else {
            self.advance_client(slot);
        }
    }

    /// Lets the client's state machine react to new bytes or EOF.
    pub(super) fn advance_client(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        match c.phase {
            Phase::Head => self.try_request(slot),
            Phase::Body => self.forward_body(slot),
            Phase::Inspect => self.collect_inspect(slot),
            Phase::Tunnel => self.tunnel_up(slot),
            Phase::SendingRequest
            | Phase::AwaitResponse
            | Phase::InspectResponse
            | Phase::Response => {
                if c.inbox.eof {
                    // The client half-closed after its request: answer, then close.
                    c.close_after = true;
                }
            }
            Phase::Closing => {}
            Phase::Held => {
                if c.inbox.eof {
                    // The held client gave up: nothing more to do for it.
                    self.close_client(slot);
                }
            }
        }
    }

    fn head_limits(&self) -> HeadLimits {
        let l = &self.cfg().limits;
        HeadLimits {
            max_header_bytes: l.max_header_bytes,
            max_headers: l.max_headers,
            max_target_bytes: l.max_target_bytes,
        }
    }

    /// Parses as many requests as the buffered bytes allow (one at a time: the next
    /// pipelined request waits until this one's response is written).
    pub(super) fn try_request(&mut self, slot: u32) {
        loop {
            let now = self.now_ms;
            let (idle_ms, head_ms) = {
                let t = &self.cfg().timeouts;
                (Self::ms(t.idle_keepalive), Self::ms(t.header_read))
            };
            let c = &mut self.clients[slot as usize];
            if c.phase != Phase::Head || c.fd < 0 || c.to_client.inflight {
                return;
            }
            // SAFETY: used only until this connection's next consume or send
            // completion (see `Inbox::front`).
            let buf = unsafe { c.inbox.front(&self.bufs) };
            if buf.is_empty() {
                if c.inbox.eof {
                    self.close_client(slot);
                } else if c.served > 0 {
                    c.deadline = now + idle_ms;
                }
                self.resume_client_recv(slot);
                return;
            }
            let limits = self.head_limits();
            let mut hdrs = std::mem::take(&mut self.headers);
            let step = {
                // SAFETY: the header array only lends httparse storage for this parse.
                // Its entries borrow `buf` for as long as `head` lives, which ends in
                // this block; afterwards every entry is reset below, so no reference
                // typed 'static outlives the bytes it points to.
                let h: &mut [httparse::Header<'_>] = unsafe {
                    std::mem::transmute::<
                        &mut [httparse::Header<'static>],
                        &mut [httparse::Header<'_>],
                    >(&mut hdrs[..])
                };
                match parse_request(buf, h, &limits) {
                    Ok(Parsed::Complete(head)) => match self.start_exchange(slot, &head, buf) {
                        Ok(()) => Step::Started,
                        Err(status) => Step::Reject(status),
                    },
                    Ok(Parsed::Partial) => Step::Partial,
                    Err(e) => Step::Reject(e.status),
                }
            };
            super::reset_lent_headers(&mut hdrs);
            self.headers = hdrs;
            match step {
                Step::Started => {
                    // The request's bytes (head and the body that came with
                    // it) go once the head no longer borrows them: before
                    // collecting the body prefix, or when the gateway
                    // answered the request itself and may read the next one.
                    let c = &mut self.clients[slot as usize];
                    let n = std::mem::take(&mut c.inspect_consume);
                    // (A connection the answer closed released its inbox already.)
                    if n > 0 && c.fd >= 0 {
                        c.inbox.consume(n, &mut self.bufs, &mut self.asm_pool);
                    }
                    if c.phase == Phase::Inspect {
                        self.collect_inspect(slot);
                    }
                    return;
                }
                Step::Reject(status) => {
                    self.stats.now.rejected += 1;
                    self.respond_error(slot, status);
                    return;
                }
                Step::Partial => {
                    let c = &mut self.clients[slot as usize];
                    match c.inbox.coalesce(&mut self.bufs, &mut self.asm_pool) {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(_) => {
                            self.respond_error(slot, 503);
                            return;
                        }
                    }
                    let c = &mut self.clients[slot as usize];
                    if c.inbox.eof {
                        self.close_client(slot);
                        return;
                    }
                    if !c.head_started {
                        c.head_started = true;
                        if c.served > 0 {
                            c.deadline = now + head_ms;
                        }
                    }
                    self.resume_client_recv(slot);
                    return;
                }
            }
        }
    }

    pub(super) fn trusted(&self, ip: std::net::IpAddr) -> bool {
        self.cfg()
            .forwarding
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&ip))
    }

    /// Routes a parsed request, rewrites its head for the upstream and starts sending.
    /// An `Err` is the status to answer with.
    fn start_exchange(
        &mut self,
        slot: u32,
        head: &RequestHead<'_, '_>,
        buf: &'static [u8],
    ) -> Result<(), u16> {
        let (route, cluster) = self
            .shared
            .router
            .pick_route(head.host, head.target)
            .ok_or(404u16)?;
        self.traffic.routed(route);
        let max_body = self.cfg().limits.max_body_bytes;
        if let BodyFraming::Length(n) = head.framing {
            if n > max_body {
                return Err(413);
            }
        }
        let server = self.clusters[cluster]
            .pick(self.now_ms, None)
            .ok_or(503u16)?;
        let trust = self.trusted(self.clients[slot as usize].peer);
        let add_forwarded = self.cfg().forwarding.add_forwarded;
        let upstream_write = Self::ms(self.cfg().timeouts.upstream_write);
        let body_read = Self::ms(self.cfg().timeouts.body_read);
        let inspect = self.cfg().limits.inspect_body_bytes;
        let need = match head.framing {
            BodyFraming::None => 0,
            BodyFraming::Length(len) => (len.min(inspect as u64)) as usize,
            BodyFraming::Chunked => inspect,
        };
        let strip_accept_encoding = self.response_inspect_bytes() > 0;
        let mut out = self.out_pool.take().ok_or(503u16)?;
        let id = self.ids.next();
        let c = &mut self.clients[slot as usize];
        let ctx = ForwardContext {
            client_addr: c.peer,
            proto: "http",
            request_id: &id,
            trust_incoming: trust,
            strip_expect: head.expect_continue,
            close_upstream: false,
            add_forwarded,
            strip_accept_encoding,
        };
        let mut n = match write_upstream_request_head(head, buf, &ctx, &mut out) {
            Ok(n) => n,
            Err(_) => {
                self.out_pool.give(out);
                return Err(431);
            }
        };
        let after = &buf[head.head_len..];
        c.req_chunks = ChunkedDecoder::new();
        let mut left = match head.framing {
            BodyFraming::None => Remaining::None,
            BodyFraming::Length(n) => Remaining::Length(n),
            BodyFraming::Chunked => Remaining::Chunked,
        };
        // Judged bytes never exceed the inspected prefix; what follows it
        // stays in the inbox for the body stream (or is forwarded).
        let part = match left.take(&mut c.req_chunks, &after[..after.len().min(need)]) {
            Ok(p) => p,
            Err(_) => {
                self.out_pool.give(out);
                return Err(400);
            }
        };
        if c.req_chunks.data_bytes() > max_body {
            self.out_pool.give(out);
            return Err(413);
        }
        // A body longer than the prefix is collected (into the buffer the
        // stream starts from) even when the prefix arrived with the head.
        let stream = self.cfg().limits.stream_inspect && self.kit.is_some();
        let collect = (part < need || stream) && left != Remaining::None;
        let mut ib = None;
        if collect {
            match self.inspect_pool.take() {
                Some(mut b) => {
                    b[..part].copy_from_slice(&after[..part]);
                    ib = Some(b);
                }
                None => {
                    self.out_pool.give(out);
                    return Err(503);
                }
            }
        }
        // The head's bytes go back to the ring while the body prefix is
        // collected; the policy needs them then, so keep a copy.
        let mut orig_head = None;
        if collect && self.kit.is_some() {
            match self.asm_pool.take() {
                Some(mut h) if h.len() >= head.head_len => {
                    h[..head.head_len].copy_from_slice(&buf[..head.head_len]);
                    orig_head = Some(h);
                }
                Some(h) => self.asm_pool.give(h),
                None => {}
            }
            if orig_head.is_none() {
                // Forwarding uninspected is not an option for an inline WAF.
                self.out_pool.give(out);
                if let Some(b) = ib {
                    self.inspect_pool.give(b);
                }
                return Err(503);
            }
        }
        let generation = self.kit.as_ref().map_or(0, |k| k.generation);
        let c = &mut self.clients[slot as usize];
        c.policy_gen = generation;
        c.orig_head = orig_head;
        c.orig_head_len = head.head_len;
        c.req_chunked = head.framing == BodyFraming::Chunked;
        c.req_declared = match head.framing {
            BodyFraming::Length(len) => len,
            _ => 0,
        };
        c.inspect = ib;
        c.inspect_len = if collect { part } else { 0 };
        c.inspect_need = need;
        c.inspect_consume = if collect { head.head_len + part } else { 0 };
        c.request_id = id;
        c.keep_alive = head.keep_alive;
        c.version = head.version;
        c.is_head = head.is_head;
        c.upgrade = head.upgrade;
        c.retryable = head.idempotent && head.framing == BodyFraming::None;
        c.retried = false;
        c.cluster = cluster;
        c.server = server;
        c.req_left = left;
        c.req_body_bytes = part as u64;
        c.req_head_len = head.head_len;
        c.req_first = head.head_len + part;
        c.req_sent = false;
        c.got_response = false;
        c.head_started = false;
        c.tracked = crate::behaviour::Tracked::default();
        c.started_us = self.now_us;
        c.route = route;
        // Consumed by `try_request` right after this when answered here.
        c.read_whole = c.req_left == Remaining::None;
        self.traffic.head_route = None;
        if let Some(early) = self.pre_scan(slot, head.headers) {
            // Denylisted, already deceived, or a decoy token: answered unscanned.
            let c = &mut self.clients[slot as usize];
            c.out = Some(out);
            c.out_len = n;
            c.inspect_consume = head.head_len + part;
            self.stats.now.requests += 1;
            self.log_early(slot, head, &early);
            self.act_early(slot, early);
            return Ok(());
        }
        if collect {
            // The body is still to come: an attack in the head that no body
            // could excuse is answered now, without reading (or asking for,
            // with 100-continue) the body.
            let declared = match head.framing {
                BodyFraming::Length(len) => len,
                _ => 0,
            };
            if let Some(i) = self.judge_head(
                slot,
                head.method.as_bytes(),
                head.target.as_bytes(),
                head.headers,
                declared,
            ) {
                let c = &mut self.clients[slot as usize];
                c.out = Some(out);
                c.out_len = n;
                self.stats.now.requests += 1;
                self.respond_policy(slot, i);
                return Ok(());
            }
        }
        if !collect && self.kit.is_some() {
            // Head and whole body (or none) are here: judge before anything
            // reaches the upstream.
            let chunked = head.framing == BodyFraming::Chunked;
            let body_len = match head.framing {
                BodyFraming::Length(len) => len,
                _ => part as u64,
            };
            let j = self.judge(
                slot,
                head.method.as_bytes(),
                head.target.as_bytes(),
                head.headers,
                &after[..part],
                chunked,
                body_len,
            );
            match self.dry_run(j) {
                Judgement::Stop(i) => {
                    let c = &mut self.clients[slot as usize];
                    c.out = Some(out);
                    c.out_len = n;
                    c.inspect_consume = head.head_len + part;
                    self.stats.now.requests += 1;
                    self.respond_policy(slot, i);
                    return Ok(());
                }
                Judgement::Forward => n = self.tag_head(&mut out, n),
            }
        }
        let c = &mut self.clients[slot as usize];
        if !collect {
            c.to_upstream
                .set_head_and_body(&mut out, n, &after[..part], head.head_len + part);
        }
        c.out = Some(out);
        c.out_len = n;
        c.phase = if collect {
            Phase::Inspect
        } else {
            Phase::SendingRequest
        };
        c.deadline = self.now_ms + if collect { body_read } else { upstream_write };
        let send_continue = head.expect_continue && head.framing != BodyFraming::None && part == 0;
        self.stats.now.requests += 1;
        if send_continue && head.version == Version::Http11 {
            // We strip `Expect` and answer it ourselves: the body is ours to inspect
            // before the upstream sees anything.
            let c = &mut self.clients[slot as usize];
            c.to_client.set(CONTINUE_100, &[], 0);
            self.submit_client_tx(slot);
        }
        if collect {
            // Continued in `collect_inspect` once `try_request` has let go of the head.
            return Ok(());
        }
        self.acquire_upstream(slot)
    }

    /// Gathers the body prefix that policy inspection sees whole; once it is complete
    /// (or the body ended), the head and the prefix go upstream in one send.
    pub(super) fn collect_inspect(&mut self, slot: u32) {
        let max_body = self.cfg().limits.max_body_bytes;
        let body_ms = Self::ms(self.cfg().timeouts.body_read);
        let write_ms = Self::ms(self.cfg().timeouts.upstream_write);
        loop {
            let c = &mut self.clients[slot as usize];
            if c.phase != Phase::Inspect {
                return;
            }
            if c.inspect_len >= c.inspect_need || c.req_left == Remaining::None {
                break;
            }
            // SAFETY: used only until this connection's next consume or send
            // completion (see `Inbox::front`).
            let buf = unsafe { c.inbox.front(&self.bufs) };
            if buf.is_empty() {
                if c.inbox.eof {
                    self.close_client(slot);
                } else {
                    c.deadline = self.now_ms + body_ms;
                    self.resume_client_recv(slot);
                }
                return;
            }
            let room = c.inspect_need - c.inspect_len;
            let window = &buf[..buf.len().min(room)];
            let take = match c.req_left.take(&mut c.req_chunks, window) {
                Ok(p) => p,
                Err(_) => {
                    self.stats.now.rejected += 1;
                    self.respond_error(slot, 400);
                    return;
                }
            };
            if c.req_chunks.data_bytes() > max_body {
                self.stats.now.rejected += 1;
                self.respond_error(slot, 413);
                return;
            }
            if let Some(ib) = c.inspect.as_mut() {
                ib[c.inspect_len..c.inspect_len + take].copy_from_slice(&window[..take]);
            }
            c.inspect_len += take;
            c.req_body_bytes += take as u64;
            c.inbox.consume(take, &mut self.bufs, &mut self.asm_pool);
        }
        // The body prefix is complete and contiguous: this is where request-body
        // policies look at it before a byte reaches the upstream.
        if self.judge_collected(slot) {
            return;
        }
        let c = &mut self.clients[slot as usize];
        let (Some(out), Some(ib)) = (c.out.as_ref(), c.inspect.as_ref()) else {
            self.respond_error(slot, 500);
            return;
        };
        c.to_upstream
            .set(&out[..c.out_len], &ib[..c.inspect_len], 0);
        c.phase = Phase::SendingRequest;
        c.deadline = self.now_ms + write_ms;
        if let Err(status) = self.acquire_upstream(slot) {
            self.respond_error(slot, status);
        }
    }

    /// The client's next received bytes, or `None` after dealing with there being
    /// none: close on EOF (the client went away mid-exchange), else resume receiving.
    fn client_bytes(&mut self, slot: u32) -> Option<&'static [u8]> {
        let c = &mut self.clients[slot as usize];
        // SAFETY: callers use the slice only until this connection's next consume
        // or send completion (see `Inbox::front`).
        let buf = unsafe { c.inbox.front(&self.bufs) };
        if !buf.is_empty() {
            return Some(buf);
        }
        if c.inbox.eof {
            self.close_client(slot);
        } else {
            self.resume_client_recv(slot);
        }
        None
    }

    /// Sends the next run of request body bytes upstream.
    pub(super) fn forward_body(&mut self, slot: u32) {
        let max_body = self.cfg().limits.max_body_bytes;
        let body_ms = Self::ms(self.cfg().timeouts.body_read);
        let now = self.now_ms;
        let c = &mut self.clients[slot as usize];
        if c.to_upstream.inflight || c.upstream.is_none() {
            return;
        }
        // An EOF here means the client vanished mid-body: the connection closes
        // and the upstream's truncated request is dropped with it.
        let Some(buf) = self.client_bytes(slot) else {
            return;
        };
        let c = &mut self.clients[slot as usize];
        if matches!(c.req_left, Remaining::None | Remaining::UntilClose) {
            return;
        }
        let part = match self.take_streamed_body(slot, buf) {
            BodyRun::Forward(p) => p,
            BodyRun::Answered => return,
            BodyRun::Malformed => {
                self.stats.now.rejected += 1;
                self.drop_upstream(slot);
                self.respond_error(slot, 400);
                return;
            }
        };
        let c = &mut self.clients[slot as usize];
        c.req_body_bytes += part as u64;
        if c.req_body_bytes > max_body || c.req_chunks.data_bytes() > max_body {
            self.stats.now.rejected += 1;
            self.drop_upstream(slot);
            self.respond_error(slot, 413);
            return;
        }
        c.deadline = now + body_ms;
        c.to_upstream.set(&buf[..part], &[], part);
        self.submit_upstream_tx(slot);
    }

    /// After a 101: client bytes go upstream untouched.
    pub(super) fn tunnel_up(&mut self, slot: u32) {
        let idle = Self::ms(self.cfg().timeouts.idle_keepalive);
        let c = &mut self.clients[slot as usize];
        if c.to_upstream.inflight || c.upstream.is_none() {
            return;
        }
        let Some(buf) = self.client_bytes(slot) else {
            return;
        };
        let c = &mut self.clients[slot as usize];
        c.deadline = self.now_ms + idle;
        c.to_upstream.set(buf, &[], buf.len());
        self.submit_upstream_tx(slot);
    }

    pub(super) fn submit_client_tx(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        if c.tls.is_some() {
            // Sealed and sent by the TLS link; `inflight` marks the plaintext
            // as taken, as `Tx::entry` does for a plain send.
            c.to_client.inflight = true;
            self.tls_flush(slot);
            return;
        }
        let e = c
            .to_client
            .entry(c.fd, Token::new(Op::ClientSend, slot, c.gen).encode());
        self.push(&e);
    }

    pub(super) fn on_client_send(&mut self, tok: Token, res: i32) {
        let slot = tok.slot;
        let Some(c) = self.clients.get_mut(slot as usize) else {
            return;
        };
        if c.gen != tok.gen || c.fd < 0 {
            return;
        }
        let written = if c.tls.is_some() {
            match self.tls_sent(slot, res) {
                Some(plain) => plain,
                None => return,
            }
        } else {
            if res < 0 {
                c.to_client.inflight = false;
                self.close_client(slot);
                return;
            }
            self.stats.now.bytes_out += res as u64;
            res as usize
        };
        let c = &mut self.clients[slot as usize];
        if !c.to_client.advance(written) {
            self.submit_client_tx(slot);
            return;
        }
        let consume = c.to_client.consume;
        if consume > 0 {
            if let Some(u) = c.upstream {
                let up = &mut self.ups[u as usize];
                up.inbox
                    .consume(consume, &mut self.bufs, &mut self.asm_pool);
                self.resume_upstream_recv(u);
            }
        }
        let c = &mut self.clients[slot as usize];
        match c.phase {
            Phase::Closing => self.close_client_orderly(slot),
            Phase::Response if c.resp_left == Remaining::None => self.finish_exchange(slot),
            _ => self.advance_response(slot),
        }
    }

    /// Answers with one of our canned error responses and closes afterwards.
    pub(super) fn respond_error(&mut self, slot: u32, status: u16) {
        let client_write = Self::ms(self.cfg().timeouts.client_write);
        let head_route = self.traffic.head_route.take();
        self.drop_upstream(slot);
        let c = &mut self.clients[slot as usize];
        if c.fd < 0 {
            return;
        }
        if c.to_client.inflight {
            // Something is already being written (a partial response): the only
            // honest signal left is closing the connection.
            self.close_client(slot);
            return;
        }
        let route = if c.phase == Phase::Head {
            head_route
        } else {
            Some(c.route)
        };
        if c.phase == Phase::Head {
            c.request_id = self.ids.next();
        }
        let n = write_error_response(status, &c.request_id, true, &mut c.note);
        c.to_client.set(&c.note[..n], &[], 0);
        c.phase = Phase::Closing;
        c.deadline = self.now_ms + client_write;
        self.count_response(route, status);
        self.submit_client_tx(slot);
        tracing::debug!(worker = self.id, status, "request rejected");
    }

    pub(super) fn close_client(&mut self, slot: u32) {
        self.cancel_hold(slot);
        self.drop_upstream(slot);
        let c = &mut self.clients[slot as usize];
        if c.fd < 0 {
            return;
        }
        close_socket(c.fd);
        c.fd = -1;
        c.gen = c.gen.wrapping_add(1);
        c.recv = Recv::Off;
        c.to_client.inflight = false;
        c.to_upstream.inflight = false;
        c.inbox.release(&mut self.bufs, &mut self.asm_pool);
        self.tls_release(slot);
        let c = &mut self.clients[slot as usize];
        if let Some(out) = c.out.take() {
            self.out_pool.give(out);
        }
        if let Some(ib) = c.inspect.take() {
            self.inspect_pool.give(ib);
        }
        if let Some(h) = c.orig_head.take() {
            self.asm_pool.give(h);
        }
        self.abandon_body_stream(slot);
        self.release_response_buf(slot);
        self.live_clients -= 1;
        self.free_clients.push(slot);
    }

    /// While draining: idle keep-alive connections are closed at once.
    pub(super) fn close_idle_clients(&mut self) {
        for i in 0..self.clients.len() {
            let c = &mut self.clients[i];
            if c.fd >= 0 && c.phase == Phase::Head && !c.to_client.inflight && c.inbox.is_empty() {
                self.close_client_orderly(i as u32);
            }
        }
    }

    /// Acts on every expired deadline. Runs every 100 ms; a linear pass over the
    /// slots is cheap at per-core connection counts and needs no timer structure.
    pub(super) fn sweep(&mut self) {
        let now = self.now_ms;
        self.retire_old_kit();
        if let Some(rx) = &self.tls_updates {
            // New handshakes use the newest; established sessions keep theirs.
            while let Ok(next) = rx.try_recv() {
                self.tls = Some(next);
            }
        }
        while let Some(idx) = self.accept_paused.pop() {
            if !self.draining && idx < self.listeners.len() {
                self.arm_accept(idx);
            }
        }
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            if c.fd < 0 || c.deadline == 0 || c.deadline > now {
                continue;
            }
            let slot = i as u32;
            match c.phase {
                Phase::Head => {
                    if c.inbox.is_empty() && !c.head_started {
                        self.close_client_orderly(slot);
                    } else {
                        // A head that does not complete in time: slowloris or a
                        // broken client. 408 then close.
                        self.stats.now.rejected += 1;
                        self.respond_error(slot, 408);
                    }
                }
                Phase::InspectResponse => self.response_hold_expired(slot),
                Phase::SendingRequest | Phase::AwaitResponse => {
                    let (cl, sv) = (c.cluster, c.server);
                    self.count_upstream_error(cl, UpErr::Timeout);
                    self.clusters[cl].record_failure(sv, now);
                    self.respond_error(slot, 504);
                }
                Phase::Inspect => {
                    // The client stalled mid-body before anything went upstream.
                    self.stats.now.rejected += 1;
                    self.respond_error(slot, 408);
                }
                // Its timer was lost: end the hold now.
                Phase::Held => self.release(slot),
                Phase::Body | Phase::Response | Phase::Tunnel | Phase::Closing => {
                    self.close_client(slot);
                }
            }
        }
        if self.draining {
            self.close_idle_clients();
        }
    }
}
