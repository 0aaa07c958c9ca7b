//! The worker's side of policy: taking new kits from the hub between
//! requests, judging a request (head + inspected body prefix), and carrying
//! out the verdict (respond, drop, tag and forward).

use io_uring::{opcode, types};
use rampart_policy_loader::Action;

use super::conn::Phase;
use super::Worker;
use crate::http::policy_response::{append_headers, write_policy_response, PolicyResponse};
use crate::policy::Behave;
use crate::reactor::token::{Op, Token};

/// What to do with a judged request.
pub(super) enum Judgement {
    /// Forward it (with the tag headers of matching `tag` policies, if any).
    Forward,
    /// Stop it: policy at this index decides.
    Stop(usize),
}

/// Slot of the control token that means "a policy kit arrived".
pub(super) const POLICY_SLOT: u32 = 2;

impl Worker {
    pub(super) fn arm_policy(&mut self) {
        if self.policy_fd < 0 {
            return;
        }
        let e = opcode::Read::new(
            types::Fd(self.policy_fd),
            (&mut self.policy_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(Token::new(Op::Control, POLICY_SLOT, 0).encode());
        self.push(&e);
    }

    /// The hub sent kits: switch to the newest, hand the others back.
    pub(super) fn on_policy_wake(&mut self, res: i32) {
        if res < 0 && res != -libc::EINTR && res != -libc::EAGAIN {
            tracing::error!(worker = self.id, error = res, "policy eventfd read failed");
        }
        // Counts of a kit about to be replaced are published first.
        self.flush_stats();
        while let Ok(kit) = self.kits.try_recv() {
            tracing::debug!(
                worker = self.id,
                generation = kit.generation,
                "switching policy"
            );
            self.remap_marks(&kit);
            if let Some(old) = self.kit.replace(kit) {
                // Requests collecting their body under the old policy finish
                // under it; only the previous kit is kept for them (a second
                // reload within one collection window judges by the newest).
                if let Some(older) = self.old_kit.replace(old) {
                    let _ = self.retired.try_send(older);
                }
            }
        }
        self.retire_old_kit();
        self.arm_policy();
    }

    /// Frees the previous kit once no request that started under it is
    /// still collecting its body (checked at reloads and every sweep, not per
    /// request).
    pub(super) fn retire_old_kit(&mut self) {
        let Some(old) = self.old_kit.as_ref() else {
            return;
        };
        let gen = old.generation;
        let waiting = self
            .clients
            .iter()
            .any(|c| c.fd >= 0 && c.orig_head.is_some() && c.policy_gen == gen);
        if !waiting {
            if let Some(mut old) = self.old_kit.take() {
                old.metrics.flush();
                // Freed by the hub thread, not here; if its queue is full the
                // old kit is dropped here instead, which is only slower.
                let _ = self.retired.try_send(old);
            }
        }
    }

    /// Lends `f` the worker's storage for (name, value) pairs, filled from
    /// `pairs` (up to its capacity, `limits.max_headers`): a request view
    /// borrows its headers this way without allocating.
    pub(super) fn with_pairs<'h, R>(
        &mut self,
        pairs: impl Iterator<Item = (&'h [u8], &'h [u8])>,
        f: impl FnOnce(&mut Self, &[(&'h [u8], &'h [u8])]) -> R,
    ) -> R {
        let mut storage = std::mem::take(&mut self.pairs);
        // SAFETY: the vector only lends its capacity for this call: entries
        // borrow bytes that outlive it ('h), and it is cleared before it is
        // put back, so no 'static-typed reference outlives what it points to.
        let p: &mut Vec<(&'h [u8], &'h [u8])> = unsafe {
            std::mem::transmute::<
                &mut Vec<(&'static [u8], &'static [u8])>,
                &mut Vec<(&'h [u8], &'h [u8])>,
            >(&mut storage)
        };
        p.clear();
        let room = p.capacity();
        p.extend(pairs.take(room));
        let r = f(self, p);
        p.clear();
        self.pairs = storage;
        r
    }

    /// Judges a request. `headers` are the request's header fields.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn judge(
        &mut self,
        slot: u32,
        method: &[u8],
        target: &[u8],
        headers: &[httparse::Header<'_>],
        body: &[u8],
        chunked: bool,
        body_len: u64,
    ) -> Judgement {
        if self.kit.is_none() {
            return Judgement::Forward;
        }
        let peer = self.clients[slot as usize].peer;
        let peer_trusted = self.trusted(peer);
        let pairs = headers.iter().map(|h| (h.name.as_bytes(), h.value));
        self.with_pairs(pairs, |w, p| {
            let Some(kit) = w.kit.as_mut() else {
                return;
            };
            let t0 = std::time::Instant::now();
            let c = &mut *w.clients[slot as usize];
            let conn = peer_of(peer, c.tls.as_deref());
            let behave = w.beh.as_mut().map(|engine| Behave {
                engine,
                tracked: &mut c.tracked,
                count: true,
                peer_trusted,
            });
            if let Err(e) = kit.judge(method, target, p, body, chunked, conn, body_len, behave) {
                tracing::error!(worker = w.id, error = %e, "policy scan failed; forwarding the request");
            }
            // The event log and policy metrics: one hook, told what was decided.
            w.record_judged(slot, method, target, p, body_len, t0);
        });
        let Some(kit) = self.kit.as_ref() else {
            return Judgement::Forward;
        };
        let v = &kit.verdict;
        if !v.hits.is_empty() {
            self.stats.now.policy_hits += v.hits.len() as u64;
        }
        match v.decision {
            Some(i) => Judgement::Stop(i),
            None => Judgement::Forward,
        }
    }

    /// Judges a request on its head before its body is read: `Some(i)` when
    /// policy `i` stops it whatever the body holds (see
    /// `CompiledPolicy::decided_by_head`), and the event is logged; `None`
    /// otherwise, and the request is judged whole once its body prefix is in
    /// (nothing is logged or counted twice). The dry run never answers early.
    pub(super) fn judge_head(
        &mut self,
        slot: u32,
        method: &[u8],
        target: &[u8],
        headers: &[httparse::Header<'_>],
        declared_len: u64,
    ) -> Option<usize> {
        if self.kit.is_none() || self.enf.monitoring_only() {
            return None;
        }
        let peer = self.clients[slot as usize].peer;
        let peer_trusted = self.trusted(peer);
        let pairs = headers.iter().map(|h| (h.name.as_bytes(), h.value));
        self.with_pairs(pairs, |w, p| {
            let kit = w.kit.as_mut()?;
            let t0 = std::time::Instant::now();
            // Not counted yet: the body may name the user (a login), and the
            // whole request is judged (and counted) when it is in.
            let c = &mut *w.clients[slot as usize];
            let conn = peer_of(peer, c.tls.as_deref());
            let behave = w.beh.as_mut().map(|engine| Behave {
                engine,
                tracked: &mut c.tracked,
                count: false,
                peer_trusted,
            });
            let judged = kit.judge(method, target, p, &[], false, conn, declared_len, behave);
            if let Err(e) = judged {
                tracing::error!(worker = w.id, error = %e, "policy scan failed");
                return None;
            }
            let stop = kit
                .verdict
                .decision
                .filter(|&i| kit.policy.decided_by_head(i))?;
            // Stopped here: counted with what the head said.
            if let Some(engine) = w.beh.as_mut() {
                engine.count(&mut w.clients[slot as usize].tracked);
            }
            let hits = kit.verdict.hits.len() as u64;
            w.record_judged(slot, method, target, p, declared_len, t0);
            w.stats.now.policy_hits += hits;
            Some(stop)
        })
    }

    /// Adds the headers of every matching enforce `tag` policy to the upstream
    /// head in `out[..len]`; returns the new length.
    pub(super) fn tag_head(&self, out: &mut [u8], len: usize) -> usize {
        let Some(kit) = self.kit.as_ref() else {
            return len;
        };
        if self.monitoring() {
            return len;
        }
        let mut len = len;
        for h in kit.verdict.hits.iter().filter(|h| !h.monitor) {
            if let Action::Tag { headers } = &kit.policy.policies[h.policy].action {
                match append_headers(out, len, headers) {
                    Some(n) => len = n,
                    None => tracing::warn!(
                        worker = self.id,
                        "tag headers do not fit in the upstream head"
                    ),
                }
            }
        }
        len
    }

    /// Carries out policy `idx`'s terminating action on the client connection.
    pub(super) fn respond_policy(&mut self, slot: u32, idx: usize) {
        self.stats.now.policy_stops += 1;
        self.traffic
            .tally
            .blocked(self.clients[slot as usize].route);
        // Holds, escalation and deception are decided in `enforce`.
        self.stop_with(slot, idx, true);
    }

    /// Answers with `action` (policy `idx`'s final action) now.
    pub(super) fn respond_with(
        &mut self,
        slot: u32,
        kit: &crate::policy::CoreKit,
        idx: usize,
        action: &Action,
    ) {
        let policy = &kit.policy;
        let p = &policy.policies[idx];
        let (status, template, headers, retry_after): (
            u16,
            &str,
            &[(String, String)],
            Option<u64>,
        ) = match action {
            Action::Block {
                status,
                template,
                headers,
            } => (*status, template, headers, None),
            Action::RateLimit { retry_after_s } => (429, "rate-limited", &[], Some(*retry_after_s)),
            Action::Deceive { template, status } => {
                self.send_deception(slot, kit, idx, template, *status);
                return;
            }
            Action::Drop => {
                tracing::debug!(worker = self.id, policy = %p.id, "dropping connection");
                self.abort_client(slot);
                return;
            }
            _ => (403, "block", &[], None),
        };
        let (content_type, body): (&str, &[u8]) = match policy.template(template) {
            Some(t) => (t.content_type, t.body.as_bytes()),
            None => (
                "application/json",
                br#"{"error":"request blocked","event_id":"{{event_id}}"}"#,
            ),
        };
        let Some((mut out, keep)) = self.local_answer_buffer(slot, status) else {
            return;
        };
        let c = &mut self.clients[slot as usize];
        let r = PolicyResponse {
            status,
            content_type,
            template: body,
            headers,
            retry_after,
            request_id: &c.request_id,
            policy_id: &p.id,
            decoy_token: &[],
            close: !keep,
        };
        match write_policy_response(&r, &mut out) {
            Some(n) => self.send_local_answer(slot, out, n, status, keep),
            None => {
                self.out_pool.give(out);
                tracing::warn!(worker = self.id, policy = %p.id, "policy response does not fit; answering with a plain 403");
                self.respond_error(slot, 403);
            }
        }
    }

    /// Whether the connection can stay open after the gateway answers the
    /// current request itself: the request was read whole (nothing of it is
    /// left to skip), the client speaks keep-alive HTTP/1.1, no body stream
    /// is still open, and the operator did not ask for a close after stops.
    pub(super) fn keeps_connection(&self, slot: u32) -> bool {
        let c = &self.clients[slot as usize];
        !self.draining
            && !self.cfg().enforcement.close_after_stop
            && c.read_whole
            && c.keep_alive
            && c.version == crate::http::Version::Http11
            && c.req_left == super::conn::Remaining::None
            && c.body_scan.is_none()
            && !c.inbox.eof
    }

    /// The buffer for the gateway's own answer to the current request (the
    /// upstream side is dropped first) and whether the connection stays open
    /// after it; `None` when the answer cannot be written (the connection is
    /// gone, closed now, or answered with a canned error instead).
    pub(super) fn local_answer_buffer(
        &mut self,
        slot: u32,
        status: u16,
    ) -> Option<(Box<[u8]>, bool)> {
        self.drop_upstream(slot);
        let c = &mut self.clients[slot as usize];
        if c.fd < 0 {
            return None;
        }
        if c.to_client.inflight {
            self.close_client(slot);
            return None;
        }
        let Some(out) = c.out.take().or_else(|| self.out_pool.take()) else {
            self.respond_error(slot, status);
            return None;
        };
        Some((out, self.keeps_connection(slot)))
    }

    /// Sends the answer written in `out[..n]`; with `keep`, the connection
    /// then reads the next request.
    pub(super) fn send_local_answer(
        &mut self,
        slot: u32,
        out: Box<[u8]>,
        n: usize,
        status: u16,
        keep: bool,
    ) {
        let client_write = Self::ms(self.cfg().timeouts.client_write);
        let c = &mut self.clients[slot as usize];
        c.out_len = n;
        // The send reads `out` from the connection slot, where it stays until
        // the send completes or the connection closes.
        c.to_client.set(&out[..n], &[], 0);
        c.out = Some(out);
        c.deadline = self.now_ms + client_write;
        self.after_local_answer(slot, keep);
        self.count_response(Some(self.clients[slot as usize].route), status);
        self.submit_client_tx(slot);
    }

    /// Sets what happens once the gateway's own answer is written: with
    /// `keep`, the exchange finishes like a relayed one (the next pipelined or
    /// keep-alive request is read); otherwise the connection closes.
    pub(super) fn after_local_answer(&mut self, slot: u32, keep: bool) {
        let c = &mut self.clients[slot as usize];
        if keep {
            c.phase = Phase::Response;
            c.resp_left = super::conn::Remaining::None;
            c.close_after = false;
        } else {
            c.phase = Phase::Closing;
        }
    }

    /// Closes the client connection with a TCP reset (the `drop` action).
    pub(super) fn abort_client(&mut self, slot: u32) {
        super::reset_on_close(self.clients[slot as usize].fd);
        self.close_client(slot);
    }
}

impl Worker {
    /// Judges a request whose body prefix was collected (its head was copied
    /// aside). Returns `true` when a policy stopped it.
    pub(super) fn judge_collected(&mut self, slot: u32) -> bool {
        if self.kit.is_none() {
            return false;
        }
        // Judged by the policy the request started under, if a reload came
        // in between (the kits are swapped back right after).
        let gen = self.clients[slot as usize].policy_gen;
        let use_old = self.old_kit.as_ref().is_some_and(|k| k.generation == gen);
        if use_old {
            std::mem::swap(&mut self.kit, &mut self.old_kit);
        }
        let stopped = self.judge_collected_with_current(slot);
        if use_old {
            std::mem::swap(&mut self.kit, &mut self.old_kit);
        }
        stopped
    }

    fn judge_collected_with_current(&mut self, slot: u32) -> bool {
        let c = &mut self.clients[slot as usize];
        let (head, ib) = match (c.orig_head.take(), c.inspect.take()) {
            (Some(h), Some(ib)) => (h, ib),
            (h, ib) => {
                // Nothing to judge with (cannot happen: both are set together).
                c.orig_head = h;
                c.inspect = ib;
                return false;
            }
        };
        let (head_len, body_len, chunked, declared) = (
            c.orig_head_len,
            c.inspect_len,
            c.req_chunked,
            c.req_declared,
        );
        let mut hdrs = std::mem::take(&mut self.headers);
        let stop = {
            // SAFETY: as in `try_request`: the array lends httparse storage for
            // this block only; every entry is reset below before it is put back.
            let h: &mut [httparse::Header<'_>] = unsafe {
                std::mem::transmute::<&mut [httparse::Header<'static>], &mut [httparse::Header<'_>]>(
                    &mut hdrs[..],
                )
            };
            let mut req = httparse::Request::new(h);
            match req.parse(&head[..head_len]) {
                Ok(httparse::Status::Complete(_)) => {
                    let method = req.method.unwrap_or("").as_bytes();
                    let target = req.path.unwrap_or("").as_bytes();
                    let total = if declared > 0 {
                        declared
                    } else {
                        body_len as u64
                    };
                    let j = self.judge(
                        slot,
                        method,
                        target,
                        req.headers,
                        &ib[..body_len],
                        chunked,
                        total,
                    );
                    match self.dry_run(j) {
                        Judgement::Stop(i) => Some(i),
                        Judgement::Forward => None,
                    }
                }
                // The strict parser accepted these bytes already.
                _ => None,
            }
        };
        super::reset_lent_headers(&mut hdrs);
        self.headers = hdrs;
        self.clients[slot as usize].inspect = Some(ib);
        if let Some(i) = stop {
            self.asm_pool.give(head);
            // The prefix was consumed as it was collected: if it is the whole
            // body, the connection can carry on after the answer.
            let c = &mut self.clients[slot as usize];
            c.read_whole = c.req_left == super::conn::Remaining::None;
            self.respond_policy(slot, i);
            return true;
        }
        if self.wants_body_stream(slot) {
            // The head is judged again when the streamed body ends.
            self.clients[slot as usize].orig_head = Some(head);
            if !self.begin_body_stream(slot) {
                return true;
            }
        } else {
            self.asm_pool.give(head);
        }
        let c = &mut self.clients[slot as usize];
        if let Some(mut out) = c.out.take() {
            let len = c.out_len;
            let n = self.tag_head(&mut out, len);
            let c = &mut self.clients[slot as usize];
            c.out_len = n;
            c.out = Some(out);
        }
        false
    }
}

/// The connection's facts for policies: the address and, over TLS, the
/// ClientHello's fingerprints.
pub(super) fn peer_of(
    ip: std::net::IpAddr,
    tls: Option<&super::tls_link::TlsLink>,
) -> crate::policy::Peer<'_> {
    let facts = tls.map(|t| &t.session.facts);
    crate::policy::Peer {
        ip,
        ja4: facts
            .and_then(|f| f.ja4.as_ref())
            .map(|j| &j.as_bytes()[..]),
        ja3: facts
            .and_then(|f| f.ja3.as_ref())
            .map(|j| &j.as_bytes()[..]),
        tls: [
            facts.and_then(|f| f.version_str()).map(str::as_bytes),
            facts.and_then(|f| f.sni()),
            facts.and_then(|f| f.alpn).map(str::as_bytes),
            facts.and_then(|f| f.client.dn()),
            facts.and_then(|f| f.client.cn()),
        ],
    }
}
