//! Response policies on the relay path: when the loaded policy has response
//! policies, a text-like response's head is held while the first
//! `inspect_response_bytes` of its body are collected into a pooled buffer;
//! then the kit judges status, headers and that prefix, masks matched
//! fragments in place (same length, so framing stays valid) or replaces the
//! whole response with a block policy's answer, and the head and prefix go to
//! the client, the rest of the body streaming on uninspected.
//!
//! Not inspected: bodies with a `Content-Encoding` (compressed bytes hide
//! their text), non-text content types, event streams, HEAD answers and
//! bodiless statuses. A prefix that has not filled within
//! [`RESPONSE_HOLD_MS`] is judged on what has arrived, so a slowly streamed
//! response is delayed by at most that. Without response policies nothing
//! here runs and nothing is held.

use crate::http::response::{ResponseFraming, ResponseHead};
use crate::policy::ResponseVerdict;
use crate::traffic::UpErr;

use super::conn::{Phase, Remaining};
use super::Worker;

/// Longest a response is held waiting for its prefix to fill (checked by
/// the 100 ms sweep); then what has arrived is judged and sent.
pub(super) const RESPONSE_HOLD_MS: u64 = 1000;

/// Whether a response's body is held for response policies (the kit has some).
pub(super) fn inspectable(head: &ResponseHead<'_, '_>, request_was_head: bool) -> bool {
    if request_was_head
        || head.informational
        || head.switching_protocols
        || matches!(head.status, 204 | 304)
        || matches!(
            head.framing,
            ResponseFraming::None | ResponseFraming::Length(0)
        )
    {
        return false;
    }
    let mut text = true;
    for h in head.headers {
        if h.name.eq_ignore_ascii_case("content-encoding") {
            if !h.value.trim_ascii().eq_ignore_ascii_case(b"identity") {
                return false;
            }
        } else if h.name.eq_ignore_ascii_case("content-type") {
            text = text_like(h.value);
        }
    }
    text
}

/// JSON, XML, HTML, text, JavaScript, forms: where data leaks are readable.
fn text_like(ct: &[u8]) -> bool {
    let ct = ct.trim_ascii();
    // Server-sent events never "fill" a prefix: holding them would stall them.
    if ct.len() >= 17 && ct[..17].eq_ignore_ascii_case(b"text/event-stream") {
        return false;
    }
    let has = |needle: &[u8]| {
        ct.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    ct.len() >= 5 && ct[..5].eq_ignore_ascii_case(b"text/")
        || has(b"json")
        || has(b"xml")
        || has(b"html")
        || has(b"javascript")
        || has(b"x-www-form-urlencoded")
        || has(b"graphql")
}

impl Worker {
    /// How much of a response body response policies inspect (0: none, as
    /// when no response policy is loaded).
    pub(super) fn response_inspect_bytes(&self) -> usize {
        if self.kit.as_ref().is_some_and(|k| k.inspects_responses()) {
            self.cfg().limits.inspect_response_bytes
        } else {
            0
        }
    }

    /// The upstream's response status is known for the request in `slot`:
    /// the behaviour counters take it (4xx/404 ratios, login failures).
    pub(super) fn response_status_known(&mut self, slot: u32, status: u16) {
        if let Some(engine) = self.beh.as_mut() {
            engine.on_response(&self.clients[slot as usize].tracked, status);
        }
    }

    /// Starts holding a response: `first` are the body bytes that came with
    /// the head, `consume` the upstream inbox bytes (head + those) to let go.
    pub(super) fn hold_response(&mut self, slot: u32, u: u32, first: &[u8], consume: usize) {
        let Some(mut b) = self.resp_pool.take() else {
            // Relaying unread would defeat the policy; the pool is sized like
            // the request-body pool, so this means the core is overloaded.
            tracing::warn!(
                worker = self.id,
                "no buffer to hold a response for inspection; answering 503"
            );
            self.stats.now.rejected += 1;
            self.respond_error(slot, 503);
            return;
        };
        b[..first.len()].copy_from_slice(first);
        let hold = RESPONSE_HOLD_MS.min(Self::ms(self.cfg().timeouts.upstream_read));
        let c = &mut self.clients[slot as usize];
        c.resp_buf = Some(b);
        c.resp_len = first.len();
        c.deadline = self.now_ms + hold;
        self.ups[u as usize]
            .inbox
            .consume(consume, &mut self.bufs, &mut self.asm_pool);
        self.collect_response(slot, u);
    }

    /// Collects the held body prefix as upstream bytes arrive; judges it once
    /// complete (or once the body ended).
    pub(super) fn collect_response(&mut self, slot: u32, u: u32) {
        loop {
            let c = &mut self.clients[slot as usize];
            if c.phase != Phase::InspectResponse || c.fd < 0 {
                return;
            }
            if c.resp_len >= c.resp_need || c.resp_left == Remaining::None {
                break;
            }
            let up = &mut self.ups[u as usize];
            // SAFETY: used only until this connection's next consume or send
            // completion (see `Inbox::front`).
            let buf = unsafe { up.inbox.front(&self.bufs) };
            if buf.is_empty() {
                if !up.inbox.eof {
                    self.resume_upstream_recv(u);
                    return;
                }
                if c.resp_left == Remaining::UntilClose {
                    c.resp_left = Remaining::None;
                    c.close_after = true;
                    break;
                }
                // Truncated before the prefix was complete: nothing was sent
                // yet, so the client can still be told.
                let cl = c.cluster;
                self.count_upstream_error(cl, UpErr::Protocol);
                self.respond_error(slot, 502);
                return;
            }
            let room = c.resp_need - c.resp_len;
            let window = &buf[..buf.len().min(room)];
            let take = match c.resp_left.take(&mut c.resp_chunks, window) {
                Ok(n) if n > 0 => n,
                _ => {
                    let cl = c.cluster;
                    self.count_upstream_error(cl, UpErr::Protocol);
                    self.respond_error(slot, 502);
                    return;
                }
            };
            let Some(b) = c.resp_buf.as_mut() else {
                self.respond_error(slot, 500);
                return;
            };
            b[c.resp_len..c.resp_len + take].copy_from_slice(&window[..take]);
            c.resp_len += take;
            self.ups[u as usize]
                .inbox
                .consume(take, &mut self.bufs, &mut self.asm_pool);
        }
        self.judge_response(slot);
    }

    /// The hold time ran out (sweep): judge what has arrived and send it;
    /// the rest relays uninspected under the usual read deadline.
    pub(super) fn response_hold_expired(&mut self, slot: u32) {
        let read_ms = Self::ms(self.cfg().timeouts.upstream_read);
        self.clients[slot as usize].deadline = self.now_ms + read_ms;
        self.judge_response(slot);
    }

    /// Judges the held response and sends it (masked), or answers with the
    /// deciding block policy instead.
    fn judge_response(&mut self, slot: u32) {
        let Some(mut kit) = self.kit.take() else {
            self.release_held(slot);
            return;
        };
        let c = &mut self.clients[slot as usize];
        let (Some(out), Some(mut b)) = (c.out.as_ref(), c.resp_buf.take()) else {
            self.kit = Some(kit);
            self.respond_error(slot, 500);
            return;
        };
        let (status, chunked, len) = (c.resp_status, c.resp_chunked, c.resp_len);
        let head = &out[..c.out_len];
        let mut hdrs = std::mem::take(&mut self.headers);
        let mut pairs = std::mem::take(&mut self.pairs);
        let judged = {
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
            p.clear();
            let mut resp = httparse::Response::new(h);
            // We wrote this head ourselves.
            if let Ok(httparse::Status::Complete(_)) = resp.parse(head) {
                p.extend(
                    resp.headers
                        .iter()
                        .take(p.capacity())
                        .map(|h| (h.name.as_bytes(), h.value)),
                );
            }
            let judged = kit.judge_response(status, p, &mut b[..len], chunked);
            p.clear();
            judged
        };
        super::reset_lent_headers(&mut hdrs);
        self.headers = hdrs;
        self.pairs = pairs;
        self.stats.now.responses_inspected += 1;
        self.stats.now.policy_hits += kit.verdict.hits.len() as u64;
        self.kit = Some(kit);
        self.clients[slot as usize].resp_buf = Some(b);
        match judged {
            Ok(ResponseVerdict::Block(i)) => {
                // The upstream's answer is discarded half-read: its connection
                // cannot be reused.
                self.drop_upstream(slot);
                self.respond_policy(slot, i);
            }
            Ok(ResponseVerdict::Pass { masked }) => {
                if masked > 0 {
                    tracing::debug!(worker = self.id, masked, "response fragments masked");
                }
                self.release_held(slot);
            }
            Err(e) => {
                tracing::error!(worker = self.id, error = %e, "response scan failed; relaying the response");
                self.release_held(slot);
            }
        }
    }

    /// Sends the held head and body prefix; the rest relays as usual.
    fn release_held(&mut self, slot: u32) {
        let read_ms = Self::ms(self.cfg().timeouts.upstream_read);
        let c = &mut self.clients[slot as usize];
        c.deadline = self.now_ms + read_ms;
        let (Some(out), Some(b)) = (c.out.as_ref(), c.resp_buf.as_ref()) else {
            self.respond_error(slot, 500);
            return;
        };
        c.to_client.set(&out[..c.out_len], &b[..c.resp_len], 0);
        c.phase = Phase::Response;
        self.submit_client_tx(slot);
    }

    /// Gives the held-response buffer back (the exchange or connection ended).
    pub(super) fn release_response_buf(&mut self, slot: u32) {
        if let Some(b) = self.clients[slot as usize].resp_buf.take() {
            self.resp_pool.give(b);
        }
    }
}
