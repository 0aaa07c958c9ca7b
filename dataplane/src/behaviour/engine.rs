//! One core's behaviour engine as the request path uses it: reads a request's
//! identity, turns it into counter keys, counts the request (or only reads the
//! counters when another judging of the same request counts it), feeds the
//! upstream's response status back, and runs the cross-core exchange.
//!
//! Owned by the worker, not by the policy kit: a reload replaces the kit, and
//! the counts must survive it. Nothing here allocates after [`Engine::new`].

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;

use super::counters::{CoreCounters, CounterStats, RequestKeys};
use super::identity::{Identity, IdentityConfig, IdentityExtractor, RequestParts};

/// What one request's judgings learnt about it, kept with the request (in its
/// connection slot) from its first judging to its response.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracked {
    /// The request's counter keys, as its last judging computed them.
    pub keys: RequestKeys,
    /// The request has been counted (a request is counted once, however many
    /// times it is judged: head, whole, body end).
    pub counted: bool,
}

/// What a judging sees: the identity and the counter values, after this
/// request when it was counted.
pub struct Observed<'r> {
    /// The request's identity.
    pub identity: Identity<'r>,
    /// Counter values indexed by `Counter` id (request measures stay 0: the
    /// evaluator measures those itself).
    pub counters: &'r [u64],
}

/// One core's identity extractor, counters and hashing key.
pub struct Engine {
    extractor: IdentityExtractor,
    counters: Option<CoreCounters>,
    values: Vec<u64>,
    /// Keyed hashing of identities into counter keys (SipHash with a random
    /// key per process: a client cannot choose values that collide).
    hash: RandomState,
    /// Failure statuses of each login route, in `RequestKeys` form.
    failure: Vec<[u16; 4]>,
    epoch: Instant,
    metrics: Option<super::metrics::BehaviourMetrics>,
    last: Last,
}

/// Copies of the last observed request's loggable identity (the event log
/// reads them right after the judging, when the extractor's buffers may
/// already be reused by a later judging).
struct Last {
    ip: IpAddr,
    user: [u8; 128],
    user_len: usize,
    token: [u8; 32],
    token_len: usize,
}

impl Last {
    fn set(&mut self, id: &Identity<'_>) {
        self.ip = id.client_ip;
        let user = id.user.or(id.jwt_sub).unwrap_or_default();
        self.user_len = user.len().min(self.user.len());
        self.user[..self.user_len].copy_from_slice(&user[..self.user_len]);
        let token = id.token.unwrap_or_default();
        self.token_len = token.len().min(self.token.len());
        self.token[..self.token_len].copy_from_slice(&token[..self.token_len]);
    }
}

impl Engine {
    /// An engine for one core. `counters` is `None` when `[behaviour]` is
    /// disabled: identities are still read (policies test them), nothing is
    /// counted. `hash` must be the same on every core (a key's owner is
    /// chosen by its hash), as must `token_key`.
    pub fn new(
        identity: &IdentityConfig,
        trusted_proxies: &[IpNet],
        token_key: &[u8; 32],
        hash: RandomState,
        mut counters: Option<CoreCounters>,
        epoch: Instant,
    ) -> Engine {
        let failure = identity
            .login
            .iter()
            .map(|r| {
                let mut f = [0u16; 4];
                for (slot, s) in f.iter_mut().zip(&r.failure_status) {
                    *slot = *s;
                }
                f
            })
            .collect();
        let metrics = counters
            .as_mut()
            .map(|c| super::metrics::BehaviourMetrics::new(c.exchange_mut().me()));
        Engine {
            last: Last {
                ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                user: [0; 128],
                user_len: 0,
                token: [0; 32],
                token_len: 0,
            },
            metrics,
            extractor: IdentityExtractor::new(identity, trusted_proxies, token_key),
            counters,
            values: vec![0; rampart_policy_loader::measures::COUNTERS.len()],
            hash,
            failure,
            epoch,
        }
    }

    /// Milliseconds since the engines' shared epoch (the counters' clock).
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Reads `req`'s identity and counters. With `count`, a request not yet
    /// counted is counted now (its keys replace the ones kept in `tracked`);
    /// otherwise the counters are only read.
    pub fn observe<'r>(
        &'r mut self,
        req: &RequestParts<'r>,
        count: bool,
        tracked: &mut Tracked,
    ) -> Observed<'r> {
        let now = self.now_ms();
        let identity = self.extractor.extract(req);
        let keys = keys(&self.hash, &self.failure, req.target, &identity);
        if let Some(c) = self.counters.as_mut() {
            if count && !tracked.counted {
                c.on_request(now, &keys, &mut self.values);
                tracked.counted = true;
            } else {
                c.peek(now, &keys, &mut self.values);
            }
        }
        tracked.keys = keys;
        self.last.set(&identity);
        Observed {
            identity,
            counters: &self.values,
        }
    }

    /// Counts a request with the keys its last judging left in `tracked`
    /// (one stopped on its head, whose body is never read).
    pub fn count(&mut self, tracked: &mut Tracked) {
        if tracked.counted {
            return;
        }
        let now = self.now_ms();
        if let Some(c) = self.counters.as_mut() {
            c.on_request(now, &tracked.keys, &mut self.values);
            tracked.counted = true;
        }
    }

    /// Feeds the upstream's response status for a counted request.
    pub fn on_response(&mut self, tracked: &Tracked, status: u16) {
        if !tracked.counted {
            return;
        }
        let now = self.now_ms();
        if let Some(c) = self.counters.as_mut() {
            c.on_response(now, &tracked.keys, status);
        }
    }

    /// Runs the cross-core exchange; call once per loop turn.
    pub fn poll(&mut self) {
        let now = self.now_ms();
        if let Some(c) = self.counters.as_mut() {
            c.poll(now);
        }
    }

    /// How long the worker may sleep before [`Engine::poll`] is due (queued
    /// cross-core messages wait at most a sync interval), or `None`.
    pub fn poll_within_ms(&self) -> Option<u64> {
        self.counters
            .as_ref()
            .and_then(CoreCounters::poll_within_ms)
    }

    /// The loggable identity of the last observed request.
    pub fn last_identity(&self) -> crate::events::record::EventIdentity<'_> {
        let l = &self.last;
        crate::events::record::EventIdentity {
            ip: l.ip,
            user: (l.user_len > 0).then(|| &l.user[..l.user_len]),
            token: (l.token_len > 0).then(|| &l.token[..l.token_len]),
        }
    }

    /// The counter values the last observed request was judged with.
    pub fn last_counters(&self) -> &[u64] {
        &self.values
    }

    /// Publishes the counters' statistics as metrics (once a second, with
    /// the worker's other statistics).
    pub fn flush_metrics(&mut self) {
        if let (Some(m), Some(c)) = (self.metrics.as_mut(), self.counters.as_ref()) {
            m.publish(c.stats());
        }
    }

    /// The busiest client addresses by requests (see
    /// [`CoreCounters::top_ips`]); nothing without counters.
    pub fn top_clients(
        &self,
        cursor: &mut usize,
        budget: usize,
        out: &mut Vec<crate::traffic::TopClient>,
    ) -> u64 {
        let Some(c) = self.counters.as_ref() else {
            out.clear();
            return 0;
        };
        let hash = &self.hash;
        c.top_ips(self.now_ms(), cursor, budget, out, |a| ip_key(hash, a))
    }

    /// The counters' table and exchange statistics (`None` when disabled).
    pub fn stats(&self) -> Option<CounterStats> {
        self.counters.as_ref().map(CoreCounters::stats)
    }
}

/// The counter key of a client address.
fn ip_key(hash: &RandomState, ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(a) => hash.hash_one(a.octets()),
        IpAddr::V6(a) => hash.hash_one(a.octets()),
    }
}

/// The counter keys of a request with this identity.
fn keys(hash: &RandomState, failure: &[[u16; 4]], target: &[u8], id: &Identity<'_>) -> RequestKeys {
    let h = |b: &[u8]| hash.hash_one(b);
    let (path, query) = match memchr::memchr(b'?', target) {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &[][..]),
    };
    let (route, object) = route_and_object(hash, path);
    RequestKeys {
        client_ip: ip_key(hash, id.client_ip),
        client_addr: Some(id.client_ip),
        api_key: id.api_key.map(h),
        token: id.token.map(h),
        // A login names its user; otherwise a verified-or-not JWT subject
        // stands for the user (rates per user, not per login).
        user: id.user.or(id.jwt_sub).map(h),
        password: id.password.map(h),
        route: Some(route),
        path: h(path),
        object_id: object,
        page: page(query),
        is_login: id.login_route.is_some(),
        failure_statuses: id
            .login_route
            .and_then(|i| failure.get(i).copied())
            .unwrap_or_default(),
    }
}

/// The route template (the path with id-like segments replaced, so
/// `/users/17/orders` and `/users/18/orders` are one route) and the hash
/// of the last id-like segment (the object the request addresses).
fn route_and_object(hash: &RandomState, path: &[u8]) -> (u32, Option<u64>) {
    let mut route = hash.build_hasher();
    let mut object = None;
    for seg in path.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        if is_object_id(seg) {
            route.write_u8(0xff);
            object = Some(hash.hash_one(seg));
        } else {
            route.write(seg);
            route.write_u8(b'/');
        }
    }
    (route.finish() as u32, object)
}

/// Whether a path segment names an object: all digits, a UUID, or a long hex
/// or base64url-ish token (≥ 16 characters with at least one digit).
fn is_object_id(seg: &[u8]) -> bool {
    if seg.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if seg.len() == 36
        && seg.iter().enumerate().all(|(i, &b)| {
            matches!(i, 8 | 13 | 18 | 23) == (b == b'-') && (b == b'-' || b.is_ascii_hexdigit())
        })
    {
        return true;
    }
    seg.len() >= 16
        && seg.iter().any(u8::is_ascii_digit)
        && seg
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The pagination position a query asks for: `page`, `offset`, `start` or
/// `skip` as a number.
fn page(query: &[u8]) -> Option<u64> {
    for pair in query.split(|&b| b == b'&') {
        let (name, value) = match memchr::memchr(b'=', pair) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => continue,
        };
        let known = [&b"page"[..], b"offset", b"start", b"skip"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n));
        if !known || value.is_empty() || value.len() > 18 {
            continue;
        }
        if value.iter().all(u8::is_ascii_digit) {
            return Some(
                value
                    .iter()
                    .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(
            &IdentityConfig::default(),
            &[],
            &[7; 32],
            RandomState::new(),
            Some(CoreCounters::new(
                1024 * 1024,
                super::super::exchange::Exchange::mesh(1, 10, 16)
                    .pop()
                    .expect("one core"),
            )),
            Instant::now(),
        )
    }

    #[test]
    fn object_ids_and_route_templates() {
        let e = engine();
        let (r1, o1) = route_and_object(&e.hash, b"/users/17/orders");
        let (r2, o2) = route_and_object(&e.hash, b"/users/18/orders");
        let (r3, o3) = route_and_object(&e.hash, b"/users/me/orders");
        assert_eq!(r1, r2);
        assert_ne!(o1, o2);
        assert!(o1.is_some() && o3.is_none());
        assert_ne!(r1, r3);
        let (_, u) = route_and_object(&e.hash, b"/doc/3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert!(u.is_some());
        assert!(!is_object_id(b"orders"));
        assert!(!is_object_id(b"abcdefghijklmnopq"));
        assert!(is_object_id(b"a1b2c3d4e5f6a7b8c9"));
    }

    #[test]
    fn pages_from_the_query() {
        assert_eq!(page(b"page=12&x=1"), Some(12));
        assert_eq!(page(b"x=1&OFFSET=400"), Some(400));
        assert_eq!(page(b"page=abc&skip=3"), Some(3));
        assert_eq!(page(b"cursor=zz"), None);
        assert_eq!(page(b"page=99999999999999999999"), None);
    }

    #[test]
    fn a_request_is_counted_once_however_often_it_is_judged() {
        let mut e = engine();
        let headers: [(&[u8], &[u8]); 1] = [(b"host", b"a")];
        let req = RequestParts {
            method: b"GET",
            target: b"/x",
            headers: &headers,
            body: b"",
            peer: "192.0.2.9".parse().expect("ip"),
            peer_trusted: false,
        };
        let id = rampart_policy_loader::measures::Counter::parse("client.ip.rate_10s")
            .expect("counter")
            .0 as usize;
        for n in 1..=3u64 {
            let mut t = Tracked::default();
            // Head judged (read only), then the whole request (counted), then
            // the body end (read only).
            e.observe(&req, false, &mut t);
            e.observe(&req, true, &mut t);
            let seen = e.observe(&req, false, &mut t).counters[id];
            assert_eq!(seen, n);
            assert!(t.counted);
            e.count(&mut t);
        }
        let mut t = Tracked::default();
        e.observe(&req, false, &mut t);
        e.count(&mut t);
        assert_eq!(e.observe(&req, false, &mut t).counters[id], 4);
    }
}
