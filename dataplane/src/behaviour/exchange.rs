//! Cross-core transport for keys that can arrive on any core.
//!
//! API keys, tokens, users, password hashes and routes are each *owned* by one core,
//! [`owner`]`(kind, key, n)`. The owner keeps the authoritative windows; another core
//! keeps a shadow (the owner's last answer plus its own increments not yet
//! acknowledged) and sends its increments to the owner as [`Msg::Update`]s. The owner
//! applies them and answers each sender with the key's new totals ([`Msg::Reply`]).
//!
//! Transport: one bounded single-producer single-consumer ring (`rtrb`) per ordered
//! pair of cores, built once by [`Exchange::mesh`]. Messages for a destination are
//! buffered in a fixed batch of [`BATCH`] and pushed as one slice when the batch is
//! full, when `key_sync_interval` has passed since the last flush, or — for replies —
//! at the end of the poll that produced them. A ring without room for the whole batch
//! drops it (counted in [`ExchangeStats::dropped`]); nothing ever blocks or allocates
//! after construction.
//!
//! Staleness (I = `key_sync_interval`, L = the longest worker loop turn, i.e. the
//! longest gap between two polls of a core):
//! - an increment made at time `t` on a non-owner core is in the owner's windows by
//!   `t + I + 2L` (up to `I + L` until its batch is flushed, up to `L` until the owner
//!   polls);
//! - the core that made it sees it at once (its shadow counts it locally);
//! - every other core holding a shadow of the key sees it by `t + I + 3L`: the owner
//!   answers all of them at the end of the poll that applied it;
//! - increments the owner counts itself (requests arriving on the owner core) reach
//!   the other cores with the owner's next answer, i.e. within `I + 3L` of the next
//!   increment any other core makes for that key;
//! - a core that has never seen a key starts from its own count until its first
//!   answer (`I + 3L` after its first request for the key).
//!
//! `dataplane/tests/behaviour_exchange.rs` checks both bounds with deterministic clocks.

use rtrb::{Consumer, Producer, RingBuffer};

use super::hll::mix64;
use super::window::Rate;

/// Messages buffered per destination before a flush.
pub const BATCH: usize = 64;

/// A kind of cross-core key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum KeyKind {
    /// An API key.
    ApiKey = 0,
    /// A (hashed) bearer token.
    Token = 1,
    /// A username.
    User = 2,
    /// A password hash.
    Password = 3,
    /// A route template.
    Route = 4,
}

impl KeyKind {
    /// Every kind, in index order.
    pub const ALL: [KeyKind; 5] = [
        KeyKind::ApiKey,
        KeyKind::Token,
        KeyKind::User,
        KeyKind::Password,
        KeyKind::Route,
    ];

    /// Index for per-kind arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The core owning `key` of `kind` among `n` cores. Uses other bits than the tables'
/// index hash, so a core's table still spreads its own keys over all buckets.
#[inline]
pub fn owner(kind: KeyKind, key: u64, n: usize) -> usize {
    let h = mix64(key ^ (0x7f4a_7c15_9e37_79b9u64.wrapping_mul(kind as u64 + 1))) >> 32;
    ((h * n as u64) >> 32) as usize
}

/// Increments a core sends to a key's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// Kind of key.
    pub kind: KeyKind,
    /// The key.
    pub key: u64,
    /// Requests to count.
    pub requests: u32,
    /// Failures to count (auth failures of a user).
    pub failures: u32,
    /// A value for the key's distinct count (0: none).
    pub distinct: u64,
}

/// The owner's totals for a key, answering updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Kind of key.
    pub kind: KeyKind,
    /// The key.
    pub key: u64,
    /// The owner's first window (its buckets, so the receiver can let it decay).
    pub a: Rate,
    /// The owner's second window.
    pub b: Rate,
    /// When the owner last rolled `a` and `b`.
    pub at_ms: u64,
    /// The owner's distinct estimate.
    pub distinct: u32,
    /// Requests of the receiver's updates this reply includes.
    pub acked_requests: u32,
    /// Failures of the receiver's updates this reply includes.
    pub acked_failures: u32,
}

/// One message between two cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Increments for the owner.
    Update(Update),
    /// Totals from the owner.
    Reply(Reply),
}

/// Counts of one core's exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExchangeStats {
    /// Batches pushed to other cores.
    pub batches: u64,
    /// Messages pushed.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// Messages dropped because a ring was full.
    pub dropped: u64,
}

/// Called with the destination core after a batch was pushed to it (e.g. to write an
/// eventfd that wakes it). Set once at startup.
pub type Wake = Box<dyn FnMut(usize) + Send>;

struct Out {
    batch: Vec<Msg>,
    has_reply: bool,
}

/// One core's end of the exchange mesh.
pub struct Exchange {
    me: usize,
    n: usize,
    interval_ms: u64,
    last_flush_ms: u64,
    tx: Vec<Option<Producer<Msg>>>,
    rx: Vec<Option<Consumer<Msg>>>,
    out: Vec<Out>,
    wake: Option<Wake>,
    stats: ExchangeStats,
}

impl Exchange {
    /// Builds the mesh for `n` cores: `result[i]` belongs to core `i`. Each ordered
    /// pair gets a ring of `ring_capacity` messages (at least [`BATCH`]).
    pub fn mesh(n: usize, interval_ms: u64, ring_capacity: usize) -> Vec<Exchange> {
        let n = n.max(1);
        let cap = ring_capacity.max(BATCH);
        let mut ends: Vec<Exchange> = (0..n)
            .map(|me| Exchange {
                me,
                n,
                interval_ms: interval_ms.max(1),
                last_flush_ms: 0,
                tx: (0..n).map(|_| None).collect(),
                rx: (0..n).map(|_| None).collect(),
                out: (0..n)
                    .map(|_| Out {
                        batch: Vec::with_capacity(BATCH),
                        has_reply: false,
                    })
                    .collect(),
                wake: None,
                stats: ExchangeStats::default(),
            })
            .collect();
        for from in 0..n {
            for to in 0..n {
                if from != to {
                    let (p, c) = RingBuffer::new(cap);
                    ends[from].tx[to] = Some(p);
                    ends[to].rx[from] = Some(c);
                }
            }
        }
        ends
    }

    /// This core's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.n
    }

    /// The sync interval (ms).
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// Sets the callback run after each batch pushed to another core.
    pub fn set_wake(&mut self, wake: Wake) {
        self.wake = Some(wake);
    }

    /// Counts so far.
    pub fn stats(&self) -> ExchangeStats {
        self.stats
    }

    /// Queues an update for core `to`, adding it to a queued update for the same key
    /// and distinct value when there is one. Flushes when the batch is full; `dropped`
    /// sees the messages of a batch the ring had no room for.
    pub fn send_update(&mut self, to: usize, u: Update, dropped: &mut impl FnMut(&Msg)) {
        let out = &mut self.out[to];
        for m in out.batch.iter_mut() {
            if let Msg::Update(q) = m {
                if q.kind == u.kind && q.key == u.key && q.distinct == u.distinct {
                    q.requests = q.requests.saturating_add(u.requests);
                    q.failures = q.failures.saturating_add(u.failures);
                    return;
                }
            }
        }
        self.push(to, Msg::Update(u), dropped);
    }

    /// Queues a reply for core `to`, replacing a queued reply for the same key (the
    /// new totals include the old ones; the acknowledgements add up).
    pub fn send_reply(&mut self, to: usize, r: Reply, dropped: &mut impl FnMut(&Msg)) {
        let out = &mut self.out[to];
        out.has_reply = true;
        for m in out.batch.iter_mut() {
            if let Msg::Reply(q) = m {
                if q.kind == r.kind && q.key == r.key {
                    let acked_requests = q.acked_requests.saturating_add(r.acked_requests);
                    let acked_failures = q.acked_failures.saturating_add(r.acked_failures);
                    *q = Reply {
                        acked_requests,
                        acked_failures,
                        ..r
                    };
                    return;
                }
            }
        }
        self.push(to, Msg::Reply(r), dropped);
    }

    fn push(&mut self, to: usize, m: Msg, dropped: &mut impl FnMut(&Msg)) {
        self.out[to].batch.push(m);
        if self.out[to].batch.len() >= BATCH {
            self.flush_to(to, dropped);
        }
    }

    fn flush_to(&mut self, to: usize, dropped: &mut impl FnMut(&Msg)) {
        let out = &mut self.out[to];
        out.has_reply = false;
        if out.batch.is_empty() {
            return;
        }
        let Some(tx) = self.tx[to].as_mut() else {
            out.batch.clear();
            return;
        };
        let n = out.batch.len() as u64;
        if tx.push_entire_slice(&out.batch).is_ok() {
            self.stats.batches += 1;
            self.stats.sent += n;
            if let Some(w) = self.wake.as_mut() {
                w(to);
            }
        } else {
            self.stats.dropped += n;
            for m in &out.batch {
                dropped(m);
            }
        }
        out.batch.clear();
    }

    /// Pushes queued batches: every batch holding a reply, and all of them when the
    /// sync interval has passed since the last full flush.
    pub fn flush(&mut self, now_ms: u64, dropped: &mut impl FnMut(&Msg)) {
        let due = now_ms.saturating_sub(self.last_flush_ms) >= self.interval_ms;
        if due {
            self.last_flush_ms = now_ms;
        }
        for to in 0..self.n {
            if due || self.out[to].has_reply {
                self.flush_to(to, dropped);
            }
        }
    }

    /// Messages are queued for another core (the owner's loop should turn
    /// again within the sync interval to send them).
    pub fn pending(&self) -> bool {
        self.out.iter().any(|o| !o.batch.is_empty())
    }

    /// Hands every message waiting from other cores to `f(from, msg)`.
    pub fn drain(&mut self, mut f: impl FnMut(&mut Exchange, usize, Msg)) {
        for from in 0..self.n {
            while let Some(Ok(m)) = self.rx[from].as_mut().map(|c| c.pop()) {
                self.stats.received += 1;
                f(self, from, m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_spread_and_are_stable() {
        let n = 4;
        let mut per = [0usize; 4];
        for k in 0..10_000u64 {
            let o = owner(KeyKind::User, k, n);
            assert_eq!(o, owner(KeyKind::User, k, n));
            per[o] += 1;
        }
        for c in per {
            assert!((2_000..3_000).contains(&c), "{per:?}");
        }
        assert_eq!(owner(KeyKind::Route, 7, 1), 0);
    }

    #[test]
    fn a_full_ring_drops_the_batch_and_counts_it() {
        let mut ends = Exchange::mesh(2, 10, BATCH);
        let mut lost = 0;
        let u = |k| Update {
            kind: KeyKind::ApiKey,
            key: k,
            requests: 1,
            failures: 0,
            distinct: 0,
        };
        // The first full batch fills the ring; the second has no room.
        for k in 0..(2 * BATCH as u64) {
            ends[0].send_update(1, u(k), &mut |_| lost += 1);
        }
        assert_eq!(lost, BATCH);
        let s = ends[0].stats();
        assert_eq!(
            (s.sent, s.dropped, s.batches),
            (BATCH as u64, BATCH as u64, 1)
        );
        let mut got = 0;
        ends[1].drain(|_, from, _| {
            assert_eq!(from, 0);
            got += 1;
        });
        assert_eq!(got, BATCH);
    }

    #[test]
    fn updates_for_one_key_coalesce() {
        let mut ends = Exchange::mesh(2, 10, 1024);
        for _ in 0..10 {
            ends[0].send_update(
                1,
                Update {
                    kind: KeyKind::Route,
                    key: 3,
                    requests: 1,
                    failures: 0,
                    distinct: 0,
                },
                &mut |_| {},
            );
        }
        ends[0].flush(10, &mut |_| {});
        let mut msgs = Vec::new();
        ends[1].drain(|_, _, m| msgs.push(m));
        assert_eq!(msgs.len(), 1);
        assert!(matches!(msgs[0], Msg::Update(u) if u.requests == 10));
    }
}
