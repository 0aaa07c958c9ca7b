//! The worker's side of enforcement: holding a connection on a ring timer
//! (tarpit, deception delayed like the upstream would be), deception dressed
//! in what the upstream sends on the route, the per-core escalation denylist
//! and deceived-client table consulted before a request is scanned, decoy
//! tokens, and the global dry run.
//!
//! Everything here is sized at start (tables, learned headers, counters) and
//! runs without allocating; a held connection costs one timeout on the ring
//! and its slot, and at most `tarpit_max_per_core` are held at once.

use io_uring::{opcode, types};
use rampart_policy_loader::{Action, Mode};

use super::conn::Phase;
use super::policy::Judgement;
use super::Worker;
use crate::enforce::date::http_date_now;
use crate::enforce::decoy::{Decoys, MAX_TOKEN};
use crate::enforce::learn::Learning;
use crate::enforce::table::TimedTable;
use crate::enforce::{EnforcementConfig, Rng};
use crate::http::policy_response::{write_deception, PolicyResponse};
use crate::policy::CoreKit;
use crate::reactor::token::{Op, Token};

/// A held connection whose timer got lost is released by the sweep this
/// long after its delay.
const HOLD_SLACK_MS: u64 = 5000;
/// Answer to a request presenting a decoy token.
const DECOY_REFUSAL: &[u8] = br#"{"error":"invalid_token"}"#;

/// A hold in progress; lives in the client slot, which also keeps the
/// timespec the timeout was submitted with.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hold {
    ts: types::Timespec,
    armed: bool,
    policy: u32,
    policy_gen: u64,
}

/// What the timed tables remember about a client.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    policy: u32,
    route: u32,
    /// Kit generation `policy` indexes into.
    gen: u64,
}

const NO_MARK: Mark = Mark {
    policy: 0,
    route: 0,
    gen: 0,
};

/// Why a request is answered before it is scanned.
pub(super) enum Early {
    /// The client is on the escalation denylist: this policy's action again.
    Deny(usize),
    /// The client was deceived on this route: the same deception again.
    Deceive(usize),
    /// The request presents a decoy token.
    Decoy,
}

#[derive(Clone, Copy)]
enum Count {
    Held = 0,
    HoldOverflow,
    Deceived,
    Escalated,
    Denylisted,
    DecoyRefused,
    WouldStop,
}
const COUNTS: [&str; 7] = [
    "held",
    "hold_overflow",
    "deceived",
    "escalated",
    "denylisted",
    "decoy_refused",
    "would_stop",
];

/// Per-core enforcement counters, flushed with the worker's other stats.
pub struct EnforceStats {
    now: [u64; 7],
    flushed: [u64; 7],
    handles: Vec<metrics::Counter>,
}

impl EnforceStats {
    fn new() -> EnforceStats {
        EnforceStats {
            now: [0; 7],
            flushed: [0; 7],
            handles: COUNTS
                .iter()
                .map(|k| metrics::counter!("rampart_enforcement_total", "kind" => *k))
                .collect(),
        }
    }

    fn bump(&mut self, c: Count) {
        self.now[c as usize] += 1;
    }

    pub fn flush(&mut self) {
        for i in 0..COUNTS.len() {
            self.handles[i].increment(self.now[i] - self.flushed[i]);
        }
        self.flushed = self.now;
    }
}

/// One core's enforcement state.
pub struct Enforcer {
    monitor: bool,
    held: usize,
    max_held: usize,
    remember_ms: u64,
    max_delay_ms: u64,
    denylist: TimedTable<Mark>,
    deceived: TimedTable<Mark>,
    learning: Learning,
    decoys: Decoys,
    rng: Rng,
    pub stats: EnforceStats,
}

impl Enforcer {
    pub fn new(
        cfg: &EnforcementConfig,
        monitor: bool,
        routes: usize,
        secret: &[u8; 32],
        worker: usize,
    ) -> Enforcer {
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&secret[24..]);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed =
            u64::from_le_bytes(seed) ^ (worker as u64).wrapping_mul(0x9E37_79B9) ^ u64::from(nanos);
        let mut rng = Rng::new(seed);
        Enforcer {
            monitor,
            held: 0,
            max_held: cfg.tarpit_max_per_core,
            remember_ms: cfg.deceive_remember.as_millis() as u64,
            max_delay_ms: cfg.deceive_max_delay.as_millis() as u64,
            denylist: TimedTable::new(cfg.denylist_capacity, rng.next_u64(), NO_MARK),
            deceived: TimedTable::new(cfg.denylist_capacity, rng.next_u64(), NO_MARK),
            learning: Learning::new(routes, cfg.learn_every),
            decoys: Decoys::new(secret),
            rng,
            stats: EnforceStats::new(),
        }
    }
}

impl Enforcer {
    /// The global dry run is on (nothing is enforced).
    pub(super) fn monitoring_only(&self) -> bool {
        self.monitor
    }
}

impl Worker {
    /// The global dry run: a stop is counted as "would stop" and the request
    /// goes on untouched.
    pub(super) fn dry_run(&mut self, j: Judgement) -> Judgement {
        match j {
            Judgement::Stop(_) if self.enf.monitor => {
                self.enf.stats.bump(Count::WouldStop);
                Judgement::Forward
            }
            j => j,
        }
    }

    /// Whether the global dry run is on.
    pub(super) fn monitoring(&self) -> bool {
        self.enf.monitor
    }

    /// Before a request is scanned: a denylisted client, a client deceived
    /// on this route, or a decoy token is answered without scanning.
    pub(super) fn pre_scan(
        &mut self,
        slot: u32,
        headers: &[httparse::Header<'_>],
    ) -> Option<Early> {
        if self.enf.monitor {
            return None;
        }
        let gen = self.kit.as_ref()?.generation;
        let c = &self.clients[slot as usize];
        let (peer, route, now) = (c.peer, c.route, self.now_ms);
        if let Some(m) = self.enf.denylist.get(peer, now) {
            if m.gen == gen {
                return Some(Early::Deny(m.policy as usize));
            }
        }
        if let Some(m) = self.enf.deceived.get(peer, now) {
            if m.gen == gen && m.route as usize == route {
                return Some(Early::Deceive(m.policy as usize));
            }
        }
        let decoy = headers.iter().any(|h| {
            (h.name.eq_ignore_ascii_case("authorization") || h.name.eq_ignore_ascii_case("cookie"))
                && self.enf.decoys.find_in(h.value)
        });
        decoy.then_some(Early::Decoy)
    }

    /// Logs a request [`Worker::pre_scan`] picked out, as the event log does
    /// for judged ones: the policy that put the client on the denylist (or
    /// deceived it) is the hit; a decoy token has none.
    pub(super) fn log_early(
        &mut self,
        slot: u32,
        head: &crate::http::request::RequestHead<'_, '_>,
        early: &Early,
    ) {
        let (policy, action) = match *early {
            Early::Deny(i) => (Some(i), "denylisted"),
            Early::Deceive(i) => (Some(i), "deceive"),
            Early::Decoy => (None, "decoy_refused"),
        };
        let Some(kit) = self.kit.as_mut() else {
            return;
        };
        kit.unscanned(policy);
        let body_len = match head.framing {
            crate::http::request::BodyFraming::Length(n) => n,
            _ => 0,
        };
        let pairs = head.headers.iter().map(|h| (h.name.as_bytes(), h.value));
        self.with_pairs(pairs, |w, p| {
            let Some(kit) = w.kit.as_mut() else {
                return;
            };
            let req = super::events::Judged {
                client: &w.clients[slot as usize],
                method: head.method.as_bytes(),
                target: head.target.as_bytes(),
                headers: p,
                body_len,
                started: None,
                behaviour: None,
            };
            super::events::record(
                kit,
                &req,
                action,
                true,
                &mut w.stats,
                w.events.as_mut(),
                &w.shared,
                w.now_ms,
            );
        });
    }

    /// Answers a request [`Worker::pre_scan`] picked out.
    pub(super) fn act_early(&mut self, slot: u32, early: Early) {
        self.stats.now.policy_stops += 1;
        self.traffic
            .tally
            .blocked(self.clients[slot as usize].route);
        match early {
            Early::Deny(i) => {
                self.enf.stats.bump(Count::Denylisted);
                self.stop_with(slot, i, false);
            }
            Early::Deceive(i) => self.stop_with(slot, i, false),
            Early::Decoy => {
                self.enf.stats.bump(Count::DecoyRefused);
                self.send_dressed(
                    slot,
                    401,
                    "application/json",
                    DECOY_REFUSAL,
                    "decoy-token",
                    &[],
                );
            }
        }
    }

    /// Carries out policy `idx` of the current kit; `fresh` when a scan
    /// decided it (only then does it escalate and mark the client).
    pub(super) fn stop_with(&mut self, slot: u32, idx: usize, fresh: bool) {
        let Some(kit) = self.kit.take() else {
            self.respond_error(slot, 403);
            return;
        };
        self.carry_out(slot, &kit, idx, fresh);
        self.kit = Some(kit);
    }

    fn carry_out(&mut self, slot: u32, kit: &CoreKit, idx: usize, fresh: bool) {
        let Some(p) = kit.policy.policies.get(idx) else {
            self.respond_error(slot, 403);
            return;
        };
        let c = &self.clients[slot as usize];
        let (peer, now) = (c.peer, self.now_ms);
        let mark = Mark {
            policy: idx as u32,
            route: c.route as u32,
            gen: kit.generation,
        };
        if fresh && p.mode == Mode::Enforce {
            if let Some(ms) = p.escalate_ms {
                self.enf.denylist.insert(peer, now + ms, now, mark);
                self.enf.stats.bump(Count::Escalated);
            }
            let deceives = match &p.action {
                Action::Deceive { .. } => true,
                Action::Tarpit { then, .. } => matches!(**then, Action::Deceive { .. }),
                _ => false,
            };
            if deceives {
                self.enf
                    .deceived
                    .insert(peer, now + self.enf.remember_ms, now, mark);
                self.enf.stats.bump(Count::Deceived);
            }
        }
        match &p.action {
            Action::Tarpit { delay_ms, then } => {
                if !self.hold(slot, *delay_ms, idx, kit.generation) {
                    self.respond_with(slot, kit, idx, then);
                }
            }
            a @ Action::Deceive { .. } => {
                let route = self.clients[slot as usize].route;
                let cap = self.enf.max_delay_ms;
                let delay = self
                    .enf
                    .learning
                    .sample_delay_ms(route, &mut self.enf.rng, cap);
                if delay == 0 || !self.hold(slot, delay, idx, kit.generation) {
                    self.respond_with(slot, kit, idx, a);
                }
            }
            a => self.respond_with(slot, kit, idx, a),
        }
    }

    /// Holds the connection for `delay_ms` on a ring timeout; `false` when
    /// the core holds its maximum already (the caller acts at once).
    fn hold(&mut self, slot: u32, delay_ms: u64, idx: usize, gen: u64) -> bool {
        if self.enf.held >= self.enf.max_held {
            self.enf.stats.bump(Count::HoldOverflow);
            return false;
        }
        self.drop_upstream(slot);
        let now = self.now_ms;
        let c = &mut self.clients[slot as usize];
        if c.fd < 0 || c.to_client.inflight {
            return false;
        }
        c.phase = Phase::Held;
        c.deadline = now + delay_ms + HOLD_SLACK_MS;
        c.hold = Hold {
            ts: types::Timespec::new()
                .sec(delay_ms / 1000)
                .nsec((delay_ms % 1000 * 1_000_000) as u32),
            armed: true,
            policy: idx as u32,
            policy_gen: gen,
        };
        // The kernel copies the timespec when the timeout is prepared; it
        // stays in the boxed slot regardless.
        let e = opcode::Timeout::new(&c.hold.ts as *const types::Timespec)
            .build()
            .user_data(Token::new(Op::Timer, slot, c.gen).encode());
        self.push(&e);
        self.enf.held += 1;
        self.enf.stats.bump(Count::Held);
        true
    }

    /// A hold's timer completed (normally with `-ETIME`).
    pub(super) fn on_timer(&mut self, tok: Token, _res: i32) {
        let live = self.clients.get(tok.slot as usize).is_some_and(|c| {
            c.gen == tok.gen && c.fd >= 0 && c.phase == Phase::Held && c.hold.armed
        });
        if live {
            self.release(tok.slot);
        }
    }

    /// Ends a hold: the policy's final action (tarpit's `then`, or the
    /// deception) is carried out now, under the kit the hold began with.
    pub(super) fn release(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        let h = c.hold;
        if h.armed {
            c.hold.armed = false;
            self.enf.held = self.enf.held.saturating_sub(1);
        }
        let old = self
            .old_kit
            .as_ref()
            .is_some_and(|k| k.generation == h.policy_gen);
        let kit = if old {
            self.old_kit.take()
        } else {
            self.kit.take()
        };
        match kit {
            Some(kit) if kit.generation == h.policy_gen => {
                let idx = h.policy as usize;
                match kit.policy.policies.get(idx).map(|p| &p.action) {
                    Some(Action::Tarpit { then, .. }) => self.respond_with(slot, &kit, idx, then),
                    Some(a) => self.respond_with(slot, &kit, idx, a),
                    None => self.respond_error(slot, 403),
                }
                self.put_kit(kit, old);
            }
            Some(kit) => {
                // The policy was reloaded twice during the hold: its kit is gone.
                self.put_kit(kit, old);
                self.respond_error(slot, 403);
            }
            None => self.respond_error(slot, 403),
        }
    }

    fn put_kit(&mut self, kit: CoreKit, old: bool) {
        if old {
            self.old_kit = Some(kit);
        } else {
            self.kit = Some(kit);
        }
    }

    /// A held connection is closing (client gone, drain): stop its timer.
    pub(super) fn cancel_hold(&mut self, slot: u32) {
        let c = &mut self.clients[slot as usize];
        if c.fd < 0 || !c.hold.armed {
            return;
        }
        c.hold.armed = false;
        self.enf.held = self.enf.held.saturating_sub(1);
        let target = Token::new(Op::Timer, slot, c.gen).encode();
        let e = opcode::TimeoutRemove::new(target)
            .build()
            .user_data(Token::new(Op::Ignore, slot, 0).encode());
        self.push(&e);
    }

    /// Draining: every held connection gets its final answer now instead of
    /// keeping the drain waiting for its timer.
    pub(super) fn release_all_holds(&mut self) {
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            if c.fd >= 0 && c.phase == Phase::Held && c.hold.armed {
                let slot = i as u32;
                let target = Token::new(Op::Timer, slot, c.gen).encode();
                let e = opcode::TimeoutRemove::new(target)
                    .build()
                    .user_data(Token::new(Op::Ignore, slot, 0).encode());
                self.push(&e);
                self.release(slot);
            }
        }
    }

    /// Answers with a deception for policy `idx`.
    pub(super) fn send_deception(
        &mut self,
        slot: u32,
        kit: &CoreKit,
        idx: usize,
        template: &str,
        status: u16,
    ) {
        let p = &kit.policy.policies[idx];
        let (content_type, body): (&str, &[u8]) = match kit.policy.template(template) {
            Some(t) => (t.content_type, t.body.as_bytes()),
            None => ("application/json", b"{}"),
        };
        let mut token = [0u8; MAX_TOKEN];
        let mut token_len = 0;
        if memchr::memmem::find(body, b"{{decoy_token}}").is_some() {
            let now_s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let subject = self.enf.rng.next_u64();
            token_len = self.enf.decoys.mint(subject, now_s, &mut token);
        }
        self.send_dressed(slot, status, content_type, body, &p.id, &token[..token_len]);
    }

    /// Writes a response dressed in the route's learned upstream headers.
    fn send_dressed(
        &mut self,
        slot: u32,
        status: u16,
        content_type: &str,
        body: &[u8],
        policy_id: &str,
        decoy_token: &[u8],
    ) {
        let Some((mut out, keep)) = self.local_answer_buffer(slot, status) else {
            return;
        };
        let c = &mut self.clients[slot as usize];
        let shape = self.enf.learning.route(c.route);
        let learned = shape.and_then(|s| s.lines());
        let date = (learned.is_none() || shape.is_some_and(|s| s.has_date)).then(http_date_now);
        let r = PolicyResponse {
            status,
            content_type,
            template: body,
            headers: &[],
            retry_after: None,
            request_id: &c.request_id,
            policy_id,
            decoy_token,
            close: !keep,
        };
        // Fresh characters for the values that change per response.
        let mut noise = [0u8; 64];
        for chunk in noise.chunks_mut(16) {
            let mut x = self.enf.rng.next_u64();
            for b in chunk {
                *b = b"0123456789abcdef"[(x & 15) as usize];
                x >>= 4;
            }
        }
        match write_deception(&r, learned, date.as_ref().map(|d| &d[..]), &noise, &mut out) {
            Some(n) => self.send_local_answer(slot, out, n, status, keep),
            None => {
                self.out_pool.give(out);
                tracing::warn!(worker = self.id, policy = %policy_id, "deception does not fit; answering with a plain 403");
                self.respond_error(slot, 403);
            }
        }
    }

    /// A relayed response head is out: learn the route's shape from it.
    pub(super) fn learn_response(&mut self, slot: u32) {
        if self.enf.monitor || self.kit.is_none() {
            return;
        }
        let c = &self.clients[slot as usize];
        let Some(out) = c.out.as_deref() else {
            return;
        };
        let latency = self.now_us.saturating_sub(c.started_us);
        self.enf
            .learning
            .observe(c.route, c.resp_status, out, latency);
    }

    /// A new kit replaces the current one: denylisted and deceived clients
    /// stay marked when their policy (by id) still exists and still stops
    /// requests in enforce mode; other entries are dropped.
    pub(super) fn remap_marks(&mut self, new: &CoreKit) {
        let Some(old) = self.kit.as_ref() else {
            return;
        };
        let (old_gen, new_gen, now) = (old.generation, new.generation, self.now_ms);
        let map = |m: &Mark| -> Option<Mark> {
            if m.gen != old_gen {
                return None;
            }
            let id = &old.policy.policies.get(m.policy as usize)?.id;
            let i =
                new.policy.policies.iter().position(|p| {
                    &p.id == id && p.mode == Mode::Enforce && p.action.terminates()
                })?;
            Some(Mark {
                policy: i as u32,
                gen: new_gen,
                ..*m
            })
        };
        self.enf.denylist.retain_map(now, map);
        self.enf.deceived.retain_map(now, map);
    }
}
