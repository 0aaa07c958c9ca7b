//! Request bodies longer than the inspected prefix: every forwarded body byte
//! goes through a scanner stream, and the read that completes the body is held
//! back until the stream is finished and the request judged again with every
//! match. A request a policy stops then never reaches the upstream complete:
//! its upstream connection is reset (not pooled) and the client gets the
//! policy's answer.
//!
//! Streams come from a bounded pool in the per-core kit (pre-opened at kit
//! build time); a long body that finds none free is answered 503.

use super::conn::Remaining;
use super::policy::Judgement;
use super::Worker;
use crate::policy::{BodyScan, CoreKit};

/// The kit a request that started under policy generation `gen` is judged
/// by: the current one, or the one the last reload replaced.
fn kit_for<'k>(
    kit: &'k mut Option<CoreKit>,
    old: &'k mut Option<CoreKit>,
    gen: u64,
) -> Option<&'k mut CoreKit> {
    match kit {
        Some(k) if k.generation == gen => Some(k),
        _ => old.as_mut().filter(|k| k.generation == gen),
    }
}

/// What happened to a run of body bytes.
pub(super) enum BodyRun {
    /// Forward this many bytes.
    Forward(usize),
    /// The request was answered (stopped, or refused); nothing to forward.
    Answered,
    /// The bytes break the body's framing.
    Malformed,
}

impl Worker {
    /// Whether the body of the request in `slot` must be streamed: more body
    /// follows the inspected prefix and the request's kit streams bodies.
    /// Called with that kit in `self.kit`.
    pub(super) fn wants_body_stream(&self, slot: u32) -> bool {
        let c = &self.clients[slot as usize];
        c.req_left != Remaining::None
            && self.cfg().limits.stream_inspect
            && self.kit.as_ref().is_some_and(|k| k.streams_bodies())
    }

    /// Starts the body stream right after the prefix was judged (by the kit in
    /// `self.kit`). Returns `false` when the request was answered instead (no
    /// free stream: 503).
    pub(super) fn begin_body_stream(&mut self, slot: u32) -> bool {
        let Some(kit) = self.kit.as_mut() else {
            return true;
        };
        let c = &mut self.clients[slot as usize];
        let prefix = match c.inspect.as_ref() {
            Some(ib) => &ib[..c.inspect_len],
            None => &[][..],
        };
        match kit.begin_body(prefix, c.req_chunked) {
            Ok(Some(scan)) => {
                c.body_scan = Some(scan);
                self.stats.now.body_streams += 1;
                true
            }
            Ok(None) => {
                self.stats.now.body_streams_exhausted += 1;
                self.stats.now.rejected += 1;
                tracing::warn!(
                    worker = self.id,
                    "every body stream is in use; refusing a long body (limits.stream_inspect_per_worker)"
                );
                self.respond_error(slot, 503);
                false
            }
            Err(e) => {
                // The same choice as a failed prefix scan: log and go on.
                tracing::error!(worker = self.id, error = %e, "body stream scan failed; the rest of the body is not inspected");
                if let Some(h) = c.orig_head.take() {
                    self.asm_pool.give(h);
                }
                true
            }
        }
    }

    /// Takes the body bytes at the front of `buf` (advancing the framing),
    /// feeding their data to the request's body stream; when they complete
    /// the body, judges the request again before they may be forwarded.
    pub(super) fn take_streamed_body(&mut self, slot: u32, buf: &[u8]) -> BodyRun {
        let c = &mut self.clients[slot as usize];
        let Some(mut scan) = c.body_scan.take() else {
            return match c.req_left.take(&mut c.req_chunks, buf) {
                Ok(n) => BodyRun::Forward(n),
                Err(_) => BodyRun::Malformed,
            };
        };
        let gen = scan.generation();
        let Some(kit) = kit_for(&mut self.kit, &mut self.old_kit, gen) else {
            // Two reloads while this body streamed: the policy it began under
            // is gone, and forwarding the rest uninspected is not an option.
            self.stats.now.rejected += 1;
            self.respond_error(slot, 503);
            return BodyRun::Answered;
        };
        let mut failed = None;
        let taken = c.req_left.take_with(&mut c.req_chunks, buf, |data| {
            if failed.is_none() {
                if let Err(e) = kit.feed_body(&mut scan, data) {
                    failed = Some(e);
                }
            }
        });
        if let Some(e) = failed {
            tracing::error!(worker = self.id, error = %e, "body stream scan failed");
        }
        let n = match taken {
            Ok(n) => n,
            Err(_) => {
                kit.end_body(scan, true);
                return BodyRun::Malformed;
            }
        };
        if c.req_left != Remaining::None {
            c.body_scan = Some(scan);
            return BodyRun::Forward(n);
        }
        // These bytes complete the body: they wait for the verdict.
        match self.judge_body_end(slot, scan) {
            Judgement::Forward => BodyRun::Forward(n),
            Judgement::Stop(i) => {
                self.reset_upstream(slot);
                self.respond_policy(slot, i);
                BodyRun::Answered
            }
        }
    }

    /// Finishes the stream and judges head + every body match, by the kit the
    /// request started under; gives the scan and the head copy back.
    fn judge_body_end(&mut self, slot: u32, mut scan: Box<BodyScan>) -> Judgement {
        let gen = scan.generation();
        let use_old = self.kit.as_ref().is_none_or(|k| k.generation != gen);
        if use_old {
            std::mem::swap(&mut self.kit, &mut self.old_kit);
        }
        let judged = self.judge_body_end_with_current(slot, &mut scan);
        if let Some(kit) = self.kit.as_mut() {
            kit.end_body(scan, false);
        }
        if use_old {
            std::mem::swap(&mut self.kit, &mut self.old_kit);
        }
        let c = &mut self.clients[slot as usize];
        if let Some(h) = c.orig_head.take() {
            self.asm_pool.give(h);
        }
        judged
    }

    fn judge_body_end_with_current(&mut self, slot: u32, scan: &mut BodyScan) -> Judgement {
        let peer_trusted = self.trusted(self.clients[slot as usize].peer);
        let Some(kit) = self.kit.as_mut() else {
            return Judgement::Forward;
        };
        let c = &mut self.clients[slot as usize];
        let Some(head) = c.orig_head.as_ref() else {
            return Judgement::Forward;
        };
        let head = &head[..c.orig_head_len];
        let body_len = if c.req_chunked {
            c.req_chunks.data_bytes()
        } else {
            c.req_declared
        };
        let peer = super::policy::peer_of(c.peer, c.tls.as_deref());
        let behave = self.beh.as_mut().map(|engine| crate::policy::Behave {
            engine,
            tracked: &mut c.tracked,
            count: true,
            peer_trusted,
        });
        let mut hdrs = std::mem::take(&mut self.headers);
        let mut pairs = std::mem::take(&mut self.pairs);
        {
            // SAFETY: as in `try_request` and `judge`: the header array and the
            // pair vector lend storage for this block only; their entries borrow
            // `head` and are cleared below before they are put back.
            let h: &mut [httparse::Header<'_>] = unsafe {
                std::mem::transmute::<&mut [httparse::Header<'static>], &mut [httparse::Header<'_>]>(
                    &mut hdrs[..],
                )
            };
            let p: &mut Vec<(&[u8], &[u8])> = unsafe {
                std::mem::transmute::<
                    &mut Vec<(&'static [u8], &'static [u8])>,
                    &mut Vec<(&[u8], &[u8])>,
                >(&mut pairs)
            };
            let mut req = httparse::Request::new(h);
            // The strict parser accepted these bytes already.
            if let Ok(httparse::Status::Complete(_)) = req.parse(head) {
                p.clear();
                p.extend(
                    req.headers
                        .iter()
                        .take(p.capacity())
                        .map(|h| (h.name.as_bytes(), h.value)),
                );
                let method = req.method.unwrap_or("").as_bytes();
                let target = req.path.unwrap_or("").as_bytes();
                if let Err(e) = kit.judge_body_end(scan, method, target, p, peer, body_len, behave)
                {
                    tracing::error!(worker = self.id, error = %e, "body stream scan failed at the end of the body");
                }
            }
            p.clear();
        }
        super::reset_lent_headers(&mut hdrs);
        self.headers = hdrs;
        self.pairs = pairs;
        let v = &kit.verdict;
        let new_hits = v.hits.len().saturating_sub(scan.prefix_hits());
        self.stats.now.policy_hits += new_hits as u64;
        match v.decision {
            Some(i) => Judgement::Stop(i),
            None => Judgement::Forward,
        }
    }

    /// Gives back the body scan of a request that ends before its body did
    /// (the connection closes).
    pub(super) fn abandon_body_stream(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        let Some(scan) = c.body_scan.take() else {
            return;
        };
        if let Some(kit) = kit_for(&mut self.kit, &mut self.old_kit, scan.generation()) {
            kit.end_body(scan, true);
        }
    }

    /// Closes the request's upstream connection with a TCP reset: the
    /// upstream must not take a truncated request for a complete one (or wait
    /// for the rest), and the connection is never pooled.
    pub(super) fn reset_upstream(&mut self, slot: u32) {
        if let Some(u) = self.clients[slot as usize].upstream {
            super::reset_on_close(self.ups[u as usize].fd);
        }
        self.drop_upstream(slot);
    }
}
