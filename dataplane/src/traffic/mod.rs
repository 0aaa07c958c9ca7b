//! Traffic analysis without touching the hot path: each core counts into its
//! own fixed-size [`Tally`] (a few array increments per request), and once a
//! second, from its metrics flush, copies it into a [`CoreSnapshot`] it hands
//! to the admin side (`admin_api/traffic.rs`), which merges the cores.
//!
//! The hand-off never blocks and never allocates: every core owns three
//! snapshot buffers, allocated at startup, that circulate between two bounded
//! channels ([`Publisher`] on the core, [`Feed`] on the admin side). A core
//! with no free buffer (the admin side is behind) skips that second; counts
//! are cumulative, so nothing is lost, the admin side sees them a second later.

pub mod hist;

use std::net::IpAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use hist::BUCKETS;

/// Busiest client addresses each core reports per snapshot.
pub const TOP_CLIENTS: usize = 20;
/// Snapshot buffers per core.
const BUFFERS: usize = 3;

/// One route's counts on one core. Index `routes.len()` of a tally counts
/// requests answered before a route was known (bad heads, unknown routes).
#[derive(Clone, Copy, Debug)]
pub struct RouteTally {
    pub requests: u64,
    /// Responses by status class, 1xx..5xx.
    pub classes: [u64; 5],
    /// Requests a policy stopped.
    pub blocked: u64,
    /// Exchange durations (request head to response written), see [`hist`].
    pub latency: [u64; BUCKETS],
    pub latency_sum_us: u64,
}

impl Default for RouteTally {
    fn default() -> Self {
        RouteTally {
            requests: 0,
            classes: [0; 5],
            blocked: 0,
            latency: [0; BUCKETS],
            latency_sum_us: 0,
        }
    }
}

/// One upstream cluster's outcomes on one core.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterTally {
    /// Response heads received from its servers.
    pub responses: u64,
    pub connect_errors: u64,
    pub timeouts: u64,
    pub protocol_errors: u64,
}

/// Kinds of upstream failure, as counted per cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpErr {
    Connect,
    Timeout,
    Protocol,
}

/// A core's running counts (since start), in plain fields.
pub struct Tally {
    pub routes: Vec<RouteTally>,
    pub clusters: Vec<ClusterTally>,
}

impl Tally {
    /// Room for `routes` routes (plus the unrouted row) and `clusters` clusters.
    pub fn new(routes: usize, clusters: usize) -> Tally {
        Tally {
            routes: vec![RouteTally::default(); routes + 1],
            clusters: vec![ClusterTally::default(); clusters],
        }
    }

    fn row(&mut self, route: Option<usize>) -> &mut RouteTally {
        let last = self.routes.len() - 1;
        let i = route.map_or(last, |r| r.min(last));
        &mut self.routes[i]
    }

    #[inline]
    pub fn request(&mut self, route: usize) {
        self.row(Some(route)).requests += 1;
    }

    /// A response of `status`; `route` is `None` before routing.
    #[inline]
    pub fn response(&mut self, route: Option<usize>, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.row(route).classes[class] += 1;
    }

    #[inline]
    pub fn blocked(&mut self, route: usize) {
        self.row(Some(route)).blocked += 1;
    }

    #[inline]
    pub fn latency(&mut self, route: usize, us: u64) {
        let r = self.row(Some(route));
        r.latency[hist::bucket(us)] += 1;
        r.latency_sum_us += us;
    }

    #[inline]
    pub fn upstream_response(&mut self, cluster: usize) {
        if let Some(c) = self.clusters.get_mut(cluster) {
            c.responses += 1;
        }
    }

    #[inline]
    pub fn upstream_error(&mut self, cluster: usize, kind: UpErr) {
        if let Some(c) = self.clusters.get_mut(cluster) {
            match kind {
                UpErr::Connect => c.connect_errors += 1,
                UpErr::Timeout => c.timeouts += 1,
                UpErr::Protocol => c.protocol_errors += 1,
            }
        }
    }
}

/// One server's passive health as one core sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerHealth {
    /// Out of rotation on this core (too many consecutive failures).
    pub ejected: bool,
    /// How much longer it stays out (ms).
    pub ejected_for_ms: u64,
    /// Consecutive failures.
    pub fails: u32,
    /// Requests in flight to it.
    pub active: u32,
    /// Idle keep-alive connections to it.
    pub idle: u32,
}

/// A busy client address and its request counts (behaviour engine windows).
#[derive(Clone, Copy, Debug)]
pub struct TopClient {
    pub addr: IpAddr,
    /// Requests in the last second, minute and ten minutes (sliding estimates).
    pub rate_1s: u64,
    pub requests_1m: u64,
    pub requests_10m: u64,
}

/// What one core publishes once a second. Every vector has its final length
/// (or capacity, for `top`) from the start: filling one never allocates.
pub struct CoreSnapshot {
    pub core: usize,
    /// Unix ms when it was taken.
    pub at_ms: u64,
    pub routes: Vec<RouteTally>,
    pub clusters: Vec<ClusterTally>,
    /// Every cluster's servers, cluster after cluster (config order).
    pub servers: Vec<ServerHealth>,
    /// Busiest addresses, busiest first; empty without behaviour counters.
    pub top: Vec<TopClient>,
    /// Client-table slots looked at to find them.
    pub scanned: u64,
}

impl CoreSnapshot {
    fn new(core: usize, routes: usize, clusters: usize, servers: usize) -> CoreSnapshot {
        CoreSnapshot {
            core,
            at_ms: 0,
            routes: vec![RouteTally::default(); routes + 1],
            clusters: vec![ClusterTally::default(); clusters],
            servers: vec![ServerHealth::default(); servers],
            top: Vec::with_capacity(TOP_CLIENTS),
            scanned: 0,
        }
    }
}

/// A core's end of the hand-off.
pub struct Publisher {
    tx: SyncSender<Box<CoreSnapshot>>,
    free: Receiver<Box<CoreSnapshot>>,
    /// A buffer the admin side had no room for, reused next time.
    kept: Option<Box<CoreSnapshot>>,
}

impl Publisher {
    /// A buffer to fill, or `None` when every buffer is with the admin side.
    pub fn buffer(&mut self) -> Option<Box<CoreSnapshot>> {
        self.kept.take().or_else(|| self.free.try_recv().ok())
    }

    /// Hands a filled buffer over; never blocks.
    pub fn publish(&mut self, s: Box<CoreSnapshot>) {
        match self.tx.try_send(s) {
            Ok(()) => {}
            Err(TrySendError::Full(s)) | Err(TrySendError::Disconnected(s)) => self.kept = Some(s),
        }
    }
}

/// The admin side's end of every core's hand-off.
pub struct Feed {
    pub cores: Vec<CoreFeed>,
}

/// One core's channels, admin side.
pub struct CoreFeed {
    pub rx: Receiver<Box<CoreSnapshot>>,
    back: SyncSender<Box<CoreSnapshot>>,
}

impl CoreFeed {
    /// Returns a spent buffer to its core.
    pub fn give_back(&self, s: Box<CoreSnapshot>) {
        // Room for every buffer there is: this cannot be full.
        let _ = self.back.try_send(s);
    }
}

/// Channels and buffers for `cores` cores, sized for `routes` routes and the
/// clusters' server counts.
pub fn channels(cores: usize, routes: usize, cluster_servers: &[usize]) -> (Vec<Publisher>, Feed) {
    let servers: usize = cluster_servers.iter().sum();
    let mut pubs = Vec::with_capacity(cores);
    let mut feeds = Vec::with_capacity(cores);
    for core in 0..cores {
        let (tx, rx) = sync_channel(BUFFERS - 1);
        let (back, free) = sync_channel(BUFFERS + 1);
        for _ in 0..BUFFERS {
            let _ = back.try_send(Box::new(CoreSnapshot::new(
                core,
                routes,
                cluster_servers.len(),
                servers,
            )));
        }
        pubs.push(Publisher {
            tx,
            free,
            kept: None,
        });
        feeds.push(CoreFeed { rx, back });
    }
    (pubs, Feed { cores: feeds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_circulate_without_blocking() {
        let (mut pubs, feed) = channels(1, 2, &[1]);
        let p = &mut pubs[0];
        // Three buffers; the channel holds two: the third is kept, and a
        // fourth publish finds no buffer until the admin side gives one back.
        for n in 0..3 {
            let mut b = p.buffer().expect("buffer");
            b.routes[0].requests = n;
            p.publish(b);
        }
        assert!(p.kept.is_some());
        let b = p.buffer().expect("the kept one");
        p.publish(b);
        let first = feed.cores[0].rx.try_recv().unwrap();
        assert_eq!(first.routes[0].requests, 0);
        feed.cores[0].give_back(first);
        assert!(p.buffer().is_some());
        assert_eq!(first_len(&feed), 1);
    }

    fn first_len(feed: &Feed) -> usize {
        feed.cores[0].rx.try_iter().count()
    }

    #[test]
    fn unknown_routes_and_clusters_are_absorbed() {
        let mut t = Tally::new(2, 1);
        t.request(0);
        t.request(7);
        t.response(None, 404);
        t.response(Some(1), 200);
        t.upstream_error(5, UpErr::Connect);
        t.upstream_error(0, UpErr::Timeout);
        t.latency(1, 300);
        assert_eq!(t.routes[0].requests, 1);
        assert_eq!(t.routes[2].requests, 1);
        assert_eq!(t.routes[2].classes[3], 1);
        assert_eq!(t.routes[1].classes[1], 1);
        assert_eq!(t.clusters[0].timeouts, 1);
        assert_eq!(t.routes[1].latency.iter().sum::<u64>(), 1);
    }
}
