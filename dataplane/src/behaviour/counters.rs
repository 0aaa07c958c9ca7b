//! One core's behaviour counters: what a request and its response add, and the
//! counter values a policy sees.
//!
//! Per core: a [`Table`] of client addresses (exact when connections are steered by
//! source address, see `steering.rs`), and one table per cross-core key kind (API key,
//! token, user, password hash, route) holding the owner's windows for the keys this
//! core owns and shadows for the others (see `exchange.rs`). Call
//! [`CoreCounters::on_request`] once per request, [`CoreCounters::on_response`] once
//! per response (with the same [`RequestKeys`]) and [`CoreCounters::poll`] once per
//! loop turn. None of them allocates.
//!
//! Units: rates and counts are events in the window; `*_ratio_*` counters are percent
//! (0..=100, e.g. 25 = a quarter); `timing_regularity_1m` is 0..=100 (100 = a
//! perfectly regular timer); distinct counts are HyperLogLog estimates (18 % standard
//! error per client address, 13 % per user and password; see `hll.rs`).

use rampart_policy_loader::measures::COUNTERS;

use super::exchange::{owner, Exchange, KeyKind, Msg, Reply, Update};
use super::hll::WindowedHll;
use super::table::Table;
use super::window::{percent, Peak, Rate, Regularity, Window};

/// Counter ids (indexes into `COUNTERS` and into `Facts.counters`).
pub mod id {
    /// `client.ip.rate_1s`
    pub const IP_RATE_1S: usize = 7;
    /// `client.ip.rate_10s`
    pub const IP_RATE_10S: usize = 8;
    /// `client.ip.rate_1m`
    pub const IP_RATE_1M: usize = 9;
    /// `client.ip.rate_10m`
    pub const IP_RATE_10M: usize = 10;
    /// `client.ip.errors_4xx_1m`
    pub const IP_ERRORS_4XX_1M: usize = 11;
    /// `client.ip.not_found_ratio_1m`
    pub const IP_NOT_FOUND_RATIO_1M: usize = 12;
    /// `client.ip.distinct_paths_1m`
    pub const IP_DISTINCT_PATHS_1M: usize = 13;
    /// `client.ip.auth_failures_5m`
    pub const IP_AUTH_FAILURES_5M: usize = 14;
    /// `client.ip.auth_failure_ratio_5m`
    pub const IP_AUTH_FAILURE_RATIO_5M: usize = 15;
    /// `client.ip.distinct_users_10m`
    pub const IP_DISTINCT_USERS_10M: usize = 16;
    /// `client.ip.distinct_object_ids_1m`
    pub const IP_DISTINCT_OBJECT_IDS_1M: usize = 17;
    /// `client.ip.pagination_depth_10m`
    pub const IP_PAGINATION_DEPTH_10M: usize = 18;
    /// `client.ip.timing_regularity_1m`
    pub const IP_TIMING_REGULARITY_1M: usize = 19;
    /// `client.key.rate_1m`
    pub const KEY_RATE_1M: usize = 20;
    /// `client.token.rate_1m`
    pub const TOKEN_RATE_1M: usize = 21;
    /// `client.user.rate_1m`
    pub const USER_RATE_1M: usize = 22;
    /// `user.auth_failures_10m`
    pub const USER_AUTH_FAILURES_10M: usize = 23;
    /// `user.distinct_ips_1h`
    pub const USER_DISTINCT_IPS_1H: usize = 24;
    /// `password.distinct_users_10m`
    pub const PASSWORD_DISTINCT_USERS_10M: usize = 25;
    /// `route.rate_1s`
    pub const ROUTE_RATE_1S: usize = 26;
    /// `route.rate_1m`
    pub const ROUTE_RATE_1M: usize = 27;
    /// One past the last behaviour counter: the length `out` needs.
    pub const END: usize = 28;
}

/// `[behaviour]` settings of the counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterConfig {
    /// Count behaviour at all.
    pub enabled: bool,
    /// Bytes of counter tables per worker, allocated at startup.
    pub memory_per_core: usize,
    /// Steer connections to workers by client address (`steering.rs`).
    pub steer_by_address: bool,
    /// How often a core sends increments of keys another core owns (ms).
    pub key_sync_interval_ms: u64,
}

impl Default for CounterConfig {
    fn default() -> Self {
        CounterConfig {
            enabled: true,
            memory_per_core: 64 << 20,
            steer_by_address: true,
            key_sync_interval_ms: 10,
        }
    }
}

/// Default statuses that make a login response an authentication failure.
pub const DEFAULT_AUTH_FAILURE_STATUSES: [u16; 2] = [401, 403];

/// What one request contributes: hashes of its identities (any 64-bit hash; they are
/// mixed again here) and the request facts the counters need. `Copy`, so the worker
/// can keep it with the exchange for [`CoreCounters::on_response`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestKeys {
    /// The client address (after trusted-proxy resolution).
    pub client_ip: u64,
    /// The address itself (kept with its counters for the traffic view).
    pub client_addr: Option<std::net::IpAddr>,
    /// API key.
    pub api_key: Option<u64>,
    /// Bearer token.
    pub token: Option<u64>,
    /// Username (from a login or a JWT subject).
    pub user: Option<u64>,
    /// Password hash of a login.
    pub password: Option<u64>,
    /// Route template id.
    pub route: Option<u32>,
    /// The path (distinct paths per client).
    pub path: u64,
    /// The object id the request addresses (the last numeric or UUID path segment).
    pub object_id: Option<u64>,
    /// Pagination position (`page`, `offset`, or the number of cursor steps).
    pub page: Option<u64>,
    /// The request is a login attempt.
    pub is_login: bool,
    /// Statuses that mean the login failed; all 0: [`DEFAULT_AUTH_FAILURE_STATUSES`].
    pub failure_statuses: [u16; 4],
}

impl RequestKeys {
    /// Whether a response with `status` is an authentication failure.
    pub fn auth_failed(&self, status: u16) -> bool {
        if !self.is_login {
            return false;
        }
        if self.failure_statuses == [0; 4] {
            DEFAULT_AUTH_FAILURE_STATUSES.contains(&status)
        } else {
            self.failure_statuses.contains(&status)
        }
    }
}

/// Per client address.
#[derive(Clone, Copy, Debug, Default)]
pub struct IpState {
    /// The address whose key this is (for the traffic view's top clients).
    addr: Option<std::net::IpAddr>,
    last_request_ms: u64,
    rate_1s: Rate,
    rate_10s: Rate,
    rate_1m: Rate,
    rate_10m: Rate,
    responses_1m: Rate,
    errors_4xx_1m: Rate,
    not_found_1m: Rate,
    logins_5m: Rate,
    auth_failures_5m: Rate,
    paths_1m: WindowedHll<16>,
    object_ids_1m: WindowedHll<16>,
    users_10m: WindowedHll<16>,
    pagination_10m: Peak,
    timing_1m: Regularity,
}

impl IpState {
    fn roll(&mut self, last: u64, now: u64) {
        if last == now {
            return;
        }
        self.rate_1s.roll(Window::S1, last, now);
        self.rate_10s.roll(Window::S10, last, now);
        self.rate_1m.roll(Window::M1, last, now);
        self.rate_10m.roll(Window::M10, last, now);
        self.responses_1m.roll(Window::M1, last, now);
        self.errors_4xx_1m.roll(Window::M1, last, now);
        self.not_found_1m.roll(Window::M1, last, now);
        self.logins_5m.roll(Window::M5, last, now);
        self.auth_failures_5m.roll(Window::M5, last, now);
        self.paths_1m.roll(Window::M1, last, now);
        self.object_ids_1m.roll(Window::M1, last, now);
        self.users_10m.roll(Window::M10, last, now);
        self.pagination_10m.roll(Window::M10, last, now);
        self.timing_1m.roll(Window::M1, last, now);
    }

    fn write(&mut self, now: u64, out: &mut [u64]) {
        out[id::IP_RATE_1S] = self.rate_1s.get(Window::S1, now);
        out[id::IP_RATE_10S] = self.rate_10s.get(Window::S10, now);
        out[id::IP_RATE_1M] = self.rate_1m.get(Window::M1, now);
        out[id::IP_RATE_10M] = self.rate_10m.get(Window::M10, now);
        out[id::IP_ERRORS_4XX_1M] = self.errors_4xx_1m.get(Window::M1, now);
        out[id::IP_NOT_FOUND_RATIO_1M] = percent(
            self.not_found_1m.get(Window::M1, now),
            self.responses_1m.get(Window::M1, now),
        );
        out[id::IP_DISTINCT_PATHS_1M] = self.paths_1m.get();
        out[id::IP_AUTH_FAILURES_5M] = self.auth_failures_5m.get(Window::M5, now);
        out[id::IP_AUTH_FAILURE_RATIO_5M] = percent(
            self.auth_failures_5m.get(Window::M5, now),
            self.logins_5m.get(Window::M5, now),
        );
        out[id::IP_DISTINCT_USERS_10M] = self.users_10m.get();
        out[id::IP_DISTINCT_OBJECT_IDS_1M] = self.object_ids_1m.get();
        out[id::IP_PAGINATION_DEPTH_10M] = self.pagination_10m.get();
        out[id::IP_TIMING_REGULARITY_1M] = self.timing_1m.get();
    }
}

/// Per cross-core key: the owner's windows when this core owns the key, otherwise a
/// shadow (local increments not yet acknowledged, plus the owner's last answer).
///
/// Windows by kind — `a`: requests (1 min; route: 1 s); `b`: user auth failures
/// (10 min), route requests (1 min); `distinct`: a user's client addresses (1 h), a
/// password's users (10 min).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyState {
    a: Rate,
    b: Rate,
    distinct: WindowedHll<32>,
    owner_a: Rate,
    owner_b: Rate,
    owner_at_ms: u64,
    owner_distinct: u32,
    /// On the owner: cores holding a shadow (bit `core % 64`), told of new totals.
    subscribers: u64,
}

/// The windows of a key kind: (`a`, `b`, `distinct`).
fn windows(kind: KeyKind) -> (Window, Window, Window) {
    match kind {
        KeyKind::ApiKey | KeyKind::Token => (Window::M1, Window::M1, Window::M1),
        KeyKind::User => (Window::M1, Window::M10, Window::H1),
        KeyKind::Password => (Window::M1, Window::M1, Window::M10),
        KeyKind::Route => (Window::S1, Window::M1, Window::M1),
    }
}

impl KeyState {
    /// Counts requests and failures (a route's `b` counts its requests over 1 min).
    fn add(&mut self, kind: KeyKind, requests: u32, failures: u32) {
        self.a.add(requests);
        self.b.add(if kind == KeyKind::Route {
            requests
        } else {
            failures
        });
    }

    /// Takes back counts the owner acknowledged, or that were dropped.
    fn sub(&mut self, kind: KeyKind, requests: u32, failures: u32) {
        self.a.sub(requests);
        self.b.sub(if kind == KeyKind::Route {
            requests
        } else {
            failures
        });
    }

    fn roll(&mut self, kind: KeyKind, last: u64, now: u64) {
        if last == now {
            return;
        }
        let (wa, wb, wd) = windows(kind);
        self.a.roll(wa, last, now);
        self.b.roll(wb, last, now);
        self.distinct.roll(wd, last, now);
    }

    /// The key's values at `now` as (a, b, distinct), from the owner's windows or,
    /// for a shadow, the owner's last answer let decay plus local pending counts.
    fn values(&mut self, kind: KeyKind, owned: bool, now: u64) -> (u64, u64, u64) {
        let (wa, wb, wd) = windows(kind);
        let a = self.a.get(wa, now);
        let b = self.b.get(wb, now);
        let d = if matches!(kind, KeyKind::User | KeyKind::Password) {
            self.distinct.get()
        } else {
            0
        };
        if owned {
            return (a, b, d);
        }
        let oa = self.owner_a.peek(wa, self.owner_at_ms, now);
        let ob = self.owner_b.peek(wb, self.owner_at_ms, now);
        let od = if now.saturating_sub(self.owner_at_ms) < wd.0 {
            self.owner_distinct as u64
        } else {
            0
        };
        (oa + a, ob + b, od.max(d))
    }
}

/// Budget shares of the tables, in 1/1000 of `memory_per_core` (routes get a fixed
/// [`ROUTE_SLOTS`]).
const SHARES: [(KeyKind, usize); 4] = [
    (KeyKind::ApiKey, 50),
    (KeyKind::Token, 75),
    (KeyKind::User, 75),
    (KeyKind::Password, 50),
];
/// The rest (750/1000) tracks client addresses.
const IP_SHARE: usize = 750;
/// Route templates tracked per core.
pub const ROUTE_SLOTS: usize = 4096;

/// Messages per ordered pair of cores in the exchange rings.
pub const RING_MESSAGES: usize = 4096;

/// One core's behaviour counters.
pub struct CoreCounters {
    ips: Table<IpState>,
    keys: [Table<KeyState>; 5],
    exchange: Exchange,
    me: usize,
    n: usize,
}

/// Sizes and counts of one core's counters, for metrics and the benches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterStats {
    /// Client addresses tracked.
    pub ips: usize,
    /// Client addresses the table holds at most.
    pub ip_capacity: usize,
    /// Client addresses evicted.
    pub ip_evictions: u64,
    /// Keys tracked, all kinds.
    pub keys: usize,
    /// Keys evicted, all kinds.
    pub key_evictions: u64,
    /// Bytes allocated by all tables.
    pub bytes: usize,
    /// The exchange's counts.
    pub exchange: super::exchange::ExchangeStats,
}

impl CoreCounters {
    /// Counters for `n` cores sharing `memory_per_core` bytes each: `result[i]` runs
    /// on core `i`. Allocates everything now.
    pub fn mesh(n: usize, memory_per_core: usize, key_sync_interval_ms: u64) -> Vec<Self> {
        Exchange::mesh(n, key_sync_interval_ms, RING_MESSAGES)
            .into_iter()
            .map(|ex| CoreCounters::new(memory_per_core, ex))
            .collect()
    }

    /// One core's counters over its end of the exchange.
    pub fn new(memory_per_core: usize, exchange: Exchange) -> Self {
        let route_bytes = Table::<KeyState>::bytes_for(ROUTE_SLOTS);
        let rest = memory_per_core.saturating_sub(route_bytes);
        let share = |s: usize| rest / 1000 * s;
        let key_table = |kind: KeyKind| {
            SHARES
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(Table::with_capacity(ROUTE_SLOTS), |(_, s)| {
                    Table::with_budget(share(*s))
                })
        };
        CoreCounters {
            ips: Table::with_budget(share(IP_SHARE)),
            keys: KeyKind::ALL.map(key_table),
            me: exchange.me(),
            n: exchange.cores(),
            exchange,
        }
    }

    /// Bytes one tracked client address takes (its slot plus its share of the index).
    pub fn bytes_per_ip() -> usize {
        Table::<IpState>::SLOT_BYTES
    }

    /// Bytes a table for `clients` client addresses allocates.
    pub fn bytes_for_ips(clients: usize) -> usize {
        Table::<IpState>::bytes_for(clients)
    }

    /// The exchange, e.g. to set its wake callback.
    pub fn exchange_mut(&mut self) -> &mut Exchange {
        &mut self.exchange
    }

    /// Sizes and counts.
    pub fn stats(&self) -> CounterStats {
        CounterStats {
            ips: self.ips.len(),
            ip_capacity: self.ips.capacity(),
            ip_evictions: self.ips.evictions(),
            keys: self.keys.iter().map(Table::len).sum(),
            key_evictions: self.keys.iter().map(Table::evictions).sum(),
            bytes: self.ips.allocated_bytes()
                + self.keys.iter().map(Table::allocated_bytes).sum::<usize>(),
            exchange: self.exchange.stats(),
        }
    }

    /// The busiest client addresses by requests in the last minute, into
    /// `out` (busiest first, at most its capacity; it is cleared first, and
    /// never grows). Looks at the addresses in `out` on entry (last call's
    /// winners, so a busy client stays found) and at up to `budget` slots of
    /// the address table from `*cursor` on, which advances: a full table is
    /// covered every `len / budget` calls. Returns the slots looked at.
    pub fn top_ips(
        &self,
        now_ms: u64,
        cursor: &mut usize,
        budget: usize,
        out: &mut Vec<crate::traffic::TopClient>,
        key_of: impl Fn(std::net::IpAddr) -> u64,
    ) -> u64 {
        let cap = out.capacity();
        if cap == 0 {
            return 0;
        }
        let value = |s: &IpState, last: u64| -> Option<crate::traffic::TopClient> {
            let addr = s.addr?;
            let get = |r: &Rate, w: Window| {
                let mut r = *r;
                r.roll(w, last, now_ms);
                r.get(w, now_ms)
            };
            let requests_1m = get(&s.rate_1m, Window::M1);
            (requests_1m > 0).then(|| crate::traffic::TopClient {
                addr,
                rate_1s: get(&s.rate_1s, Window::S1),
                requests_1m,
                requests_10m: get(&s.rate_10m, Window::M10),
            })
        };
        // Keep the current list's entries, refreshed, then offer the scan's.
        let mut kept = 0;
        for i in 0..out.len() {
            let addr = out[i].addr;
            let fresh = self
                .ips
                .get(key_of(addr))
                .and_then(|(s, last)| (s.addr == Some(addr)).then(|| value(s, last)).flatten());
            if let Some(v) = fresh {
                out[kept] = v;
                kept += 1;
            }
        }
        out.truncate(kept);
        let mut looked = 0u64;
        *cursor = self.ips.scan(*cursor, budget, |s, last| {
            looked += 1;
            if let Some(v) = value(s, last) {
                offer(out, v);
            }
        });
        out.sort_unstable_by_key(|c| std::cmp::Reverse(c.requests_1m));
        looked
    }

    /// Counts a request at `now_ms` and writes every behaviour counter into `out`
    /// (indexed by `Counter` id; needs at least [`id::END`] entries — shorter slices
    /// get only the counters that fit). Counters of identities the request lacks are 0.
    pub fn on_request(&mut self, now_ms: u64, k: &RequestKeys, out: &mut [u64]) {
        let mut buf = [0u64; id::END];
        {
            let e = self.ips.entry(k.client_ip, now_ms);
            let s = e.state;
            s.roll(e.last_ms, now_ms);
            if e.new {
                s.addr = k.client_addr;
            }
            if !e.new && s.last_request_ms != 0 {
                s.timing_1m
                    .observe(Window::M1, now_ms.saturating_sub(s.last_request_ms));
            }
            s.last_request_ms = now_ms;
            s.rate_1s.add(1);
            s.rate_10s.add(1);
            s.rate_1m.add(1);
            s.rate_10m.add(1);
            s.paths_1m.insert(k.path);
            if let Some(o) = k.object_id {
                s.object_ids_1m.insert(o);
            }
            if let Some(u) = k.user {
                s.users_10m.insert(u);
            }
            if let Some(p) = k.page {
                s.pagination_10m.observe(p);
            }
            s.write(now_ms, &mut buf);
        }
        // (kind, key, the value its distinct count takes)
        let keyed = [
            (KeyKind::ApiKey, k.api_key, 0),
            (KeyKind::Token, k.token, 0),
            (KeyKind::User, k.user, k.client_ip),
            (KeyKind::Password, k.password, k.user.unwrap_or(0)),
            (KeyKind::Route, k.route.map(u64::from), 0),
        ];
        for (kind, key, distinct) in keyed {
            let Some(key) = key else { continue };
            let requests = u32::from(kind != KeyKind::Password);
            let (a, b, d) = self.count(now_ms, kind, key, requests, 0, distinct);
            write_key(&mut buf, kind, (a, b, d));
        }
        let lo = id::IP_RATE_1S.min(out.len());
        let hi = id::END.min(out.len());
        out[lo..hi].copy_from_slice(&buf[lo..hi]);
    }

    /// Counts the response to a request counted by [`CoreCounters::on_request`]:
    /// 4xx errors, 404/405 (the not-found ratio counts both), and on a login request
    /// the attempt and, when `status` is one of its failure statuses, the failure
    /// (per client address and per user).
    pub fn on_response(&mut self, now_ms: u64, k: &RequestKeys, status: u16) {
        let failed = k.auth_failed(status);
        {
            let e = self.ips.entry(k.client_ip, now_ms);
            let s = e.state;
            s.roll(e.last_ms, now_ms);
            s.responses_1m.add(1);
            if (400..500).contains(&status) {
                s.errors_4xx_1m.add(1);
            }
            if status == 404 || status == 405 {
                s.not_found_1m.add(1);
            }
            if k.is_login {
                s.logins_5m.add(1);
                if failed {
                    s.auth_failures_5m.add(1);
                }
            }
        }
        if let (true, Some(user)) = (failed, k.user) {
            self.count(now_ms, KeyKind::User, user, 0, 1, 0);
        }
    }

    /// Adds to a cross-core key and returns its (a, b, distinct) view.
    fn count(
        &mut self,
        now: u64,
        kind: KeyKind,
        key: u64,
        requests: u32,
        failures: u32,
        distinct: u64,
    ) -> (u64, u64, u64) {
        let to = owner(kind, key, self.n);
        let owned = to == self.me;
        let table = &mut self.keys[kind.index()];
        let e = table.entry(key, now);
        let s = e.state;
        s.roll(kind, e.last_ms, now);
        s.add(kind, requests, failures);
        if distinct != 0 {
            s.distinct.insert(distinct);
        }
        let view = s.values(kind, owned, now);
        if !owned {
            let u = Update {
                kind,
                key,
                requests,
                failures,
                distinct,
            };
            let keys = &mut self.keys;
            self.exchange.send_update(to, u, &mut |m| undo(keys, m));
        } else if s.subscribers != 0 {
            // The owner's own counts reach the cores holding a shadow as
            // they do when another core counts: otherwise a shadow would lag
            // by everything counted here since its last update's answer.
            let r = Reply {
                kind,
                key,
                a: s.a,
                b: s.b,
                at_ms: now,
                distinct: if matches!(kind, KeyKind::User | KeyKind::Password) {
                    s.distinct.get().min(u32::MAX as u64) as u32
                } else {
                    0
                },
                acked_requests: 0,
                acked_failures: 0,
            };
            let subscribers = s.subscribers;
            for c in 0..self.n {
                if c != self.me && subscribers & (1 << (c % 64)) != 0 {
                    self.exchange.send_reply(c, r, &mut |_| {});
                }
            }
        }
        view
    }

    /// Once per loop turn: applies updates and replies from other cores, answers the
    /// updates and flushes batches that are due.
    pub fn poll(&mut self, now_ms: u64) {
        let keys = &mut self.keys;
        let (me, n) = (self.me, self.n);
        self.exchange.drain(|ex, from, m| match m {
            Msg::Update(u) => {
                let kind = u.kind;
                let e = keys[kind.index()].entry(u.key, now_ms);
                let s = e.state;
                s.roll(kind, e.last_ms, now_ms);
                s.add(kind, u.requests, u.failures);
                if u.distinct != 0 {
                    s.distinct.insert(u.distinct);
                }
                s.subscribers |= 1 << (from % 64);
                let r = Reply {
                    kind,
                    key: u.key,
                    a: s.a,
                    b: s.b,
                    at_ms: now_ms,
                    distinct: if matches!(kind, KeyKind::User | KeyKind::Password) {
                        s.distinct.get().min(u32::MAX as u64) as u32
                    } else {
                        0
                    },
                    acked_requests: u.requests,
                    acked_failures: u.failures,
                };
                // A reply that finds the ring full is lost: the sender's pending
                // counts then expire with their windows.
                ex.send_reply(from, r, &mut |_| {});
                // Every other core holding a shadow hears the new totals too (batched
                // with this poll's replies, one per key per core), so no shadow lags
                // the owner by more than a sync interval and a few loop turns.
                let others = Reply {
                    acked_requests: 0,
                    acked_failures: 0,
                    ..r
                };
                for c in 0..n {
                    if c != me && c != from && s.subscribers & (1 << (c % 64)) != 0 {
                        ex.send_reply(c, others, &mut |_| {});
                    }
                }
            }
            Msg::Reply(r) => {
                let kind = r.kind;
                let table = &mut keys[kind.index()];
                // Totals for a key this core no longer tracks are not worth a slot.
                if r.acked_requests == 0 && r.acked_failures == 0 && table.get(r.key).is_none() {
                    return;
                }
                let e = table.entry(r.key, now_ms);
                let s = e.state;
                s.roll(kind, e.last_ms, now_ms);
                s.sub(kind, r.acked_requests, r.acked_failures);
                if r.at_ms >= s.owner_at_ms {
                    s.owner_a = r.a;
                    s.owner_b = r.b;
                    s.owner_at_ms = r.at_ms;
                    s.owner_distinct = r.distinct;
                }
            }
        });
        self.exchange.flush(now_ms, &mut |m| undo(keys, m));
    }

    /// How long the caller's loop may sleep before [`CoreCounters::poll`] is
    /// due again: the sync interval while messages wait to be sent, else
    /// `None` (nothing is due).
    pub fn poll_within_ms(&self) -> Option<u64> {
        self.exchange.pending().then(|| self.exchange.interval_ms())
    }

    /// The values of every behaviour counter for these keys now, without counting
    /// anything (for tests and diagnostics).
    pub fn peek(&self, now_ms: u64, k: &RequestKeys, out: &mut [u64]) {
        let mut buf = [0u64; id::END];
        if let Some((s, last)) = self.ips.get(k.client_ip) {
            let mut s = *s;
            s.roll(last, now_ms);
            s.write(now_ms, &mut buf);
        }
        let keyed = [
            (KeyKind::ApiKey, k.api_key),
            (KeyKind::Token, k.token),
            (KeyKind::User, k.user),
            (KeyKind::Password, k.password),
            (KeyKind::Route, k.route.map(u64::from)),
        ];
        for (kind, key) in keyed {
            let Some(key) = key else { continue };
            let Some((s, last)) = self.keys[kind.index()].get(key) else {
                continue;
            };
            let mut s = *s;
            s.roll(kind, last, now_ms);
            let (a, b, d) = s.values(kind, owner(kind, key, self.n) == self.me, now_ms);
            write_key(&mut buf, kind, (a, b, d));
        }
        let lo = id::IP_RATE_1S.min(out.len());
        let hi = id::END.min(out.len());
        out[lo..hi].copy_from_slice(&buf[lo..hi]);
    }
}

/// Writes a key's (a, b, distinct) view into the counters it stands for.
/// Puts `v` into `out` if it is busier than its least busy entry, never
/// growing `out` beyond its capacity; an address already there is skipped.
fn offer(out: &mut Vec<crate::traffic::TopClient>, v: crate::traffic::TopClient) {
    if out.iter().any(|o| o.addr == v.addr) {
        return;
    }
    if out.len() < out.capacity() {
        out.push(v);
        return;
    }
    if let Some((i, least)) = out.iter().enumerate().min_by_key(|(_, o)| o.requests_1m) {
        if v.requests_1m > least.requests_1m {
            out[i] = v;
        }
    }
}

fn write_key(buf: &mut [u64; id::END], kind: KeyKind, (a, b, d): (u64, u64, u64)) {
    match kind {
        KeyKind::ApiKey => buf[id::KEY_RATE_1M] = a,
        KeyKind::Token => buf[id::TOKEN_RATE_1M] = a,
        KeyKind::User => {
            buf[id::USER_RATE_1M] = a;
            buf[id::USER_AUTH_FAILURES_10M] = b;
            buf[id::USER_DISTINCT_IPS_1H] = d;
        }
        KeyKind::Password => buf[id::PASSWORD_DISTINCT_USERS_10M] = d,
        KeyKind::Route => {
            buf[id::ROUTE_RATE_1S] = a;
            buf[id::ROUTE_RATE_1M] = b;
        }
    }
}

/// A dropped update never reaches the owner: take it back from the local shadow so the
/// view does not count it forever.
fn undo(keys: &mut [Table<KeyState>; 5], m: &Msg) {
    if let Msg::Update(u) = m {
        // Not rolled: the entry's windows move only with its recorded last update.
        if let Some(e) = keys[u.kind.index()].get_mut(u.key) {
            e.sub(u.kind, u.requests, u.failures);
        }
    }
}

/// Checks that [`id`] matches `COUNTERS` (a test asserts it).
pub fn ids_match_counters() -> bool {
    let named = [
        (id::IP_RATE_1S, "client.ip.rate_1s"),
        (id::IP_RATE_10S, "client.ip.rate_10s"),
        (id::IP_RATE_1M, "client.ip.rate_1m"),
        (id::IP_RATE_10M, "client.ip.rate_10m"),
        (id::IP_ERRORS_4XX_1M, "client.ip.errors_4xx_1m"),
        (id::IP_NOT_FOUND_RATIO_1M, "client.ip.not_found_ratio_1m"),
        (id::IP_DISTINCT_PATHS_1M, "client.ip.distinct_paths_1m"),
        (id::IP_AUTH_FAILURES_5M, "client.ip.auth_failures_5m"),
        (
            id::IP_AUTH_FAILURE_RATIO_5M,
            "client.ip.auth_failure_ratio_5m",
        ),
        (id::IP_DISTINCT_USERS_10M, "client.ip.distinct_users_10m"),
        (
            id::IP_DISTINCT_OBJECT_IDS_1M,
            "client.ip.distinct_object_ids_1m",
        ),
        (
            id::IP_PAGINATION_DEPTH_10M,
            "client.ip.pagination_depth_10m",
        ),
        (
            id::IP_TIMING_REGULARITY_1M,
            "client.ip.timing_regularity_1m",
        ),
        (id::KEY_RATE_1M, "client.key.rate_1m"),
        (id::TOKEN_RATE_1M, "client.token.rate_1m"),
        (id::USER_RATE_1M, "client.user.rate_1m"),
        (id::USER_AUTH_FAILURES_10M, "user.auth_failures_10m"),
        (id::USER_DISTINCT_IPS_1H, "user.distinct_ips_1h"),
        (
            id::PASSWORD_DISTINCT_USERS_10M,
            "password.distinct_users_10m",
        ),
        (id::ROUTE_RATE_1S, "route.rate_1s"),
        (id::ROUTE_RATE_1M, "route.rate_1m"),
    ];
    COUNTERS.len() == id::END && named.iter().all(|(i, n)| COUNTERS.get(*i) == Some(n))
}
