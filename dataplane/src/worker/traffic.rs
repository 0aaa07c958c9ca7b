//! This core's share of the traffic view (see `crate::traffic`): the tally the
//! request path adds to, and the once-a-second snapshot handed to the admin
//! side from the metrics flush.

use crate::traffic::{Publisher, Tally, TopClient, UpErr, TOP_CLIENTS};

use super::Worker;

/// Client-table slots looked at per snapshot for the busiest addresses: at
/// most this many slot reads (a copy of three 8-byte windows each) once a
/// second; a table of N tracked addresses is covered every N / this seconds.
pub const TOP_SCAN_BUDGET: usize = 16_384;

pub struct CoreTraffic {
    pub tally: Tally,
    publisher: Option<Publisher>,
    cursor: usize,
    /// The busiest addresses found so far (re-checked every snapshot).
    top: Vec<TopClient>,
    /// The route of the request being started, until it is under way: an
    /// answer given while its connection is still reading the head (413,
    /// no healthy server) counts for this route.
    pub head_route: Option<usize>,
}

impl CoreTraffic {
    pub fn new(routes: usize, clusters: usize, publisher: Option<Publisher>) -> CoreTraffic {
        CoreTraffic {
            tally: Tally::new(routes, clusters),
            publisher,
            cursor: 0,
            top: Vec::with_capacity(TOP_CLIENTS),
            head_route: None,
        }
    }

    /// A request was routed to `route`.
    #[inline]
    pub fn routed(&mut self, route: usize) {
        self.tally.request(route);
        self.head_route = Some(route);
    }
}

impl Worker {
    /// Counts a response of `status`, globally and for `route` (`None`: the
    /// request never got as far as routing).
    pub(super) fn count_response(&mut self, route: Option<usize>, status: u16) {
        self.stats.response(status);
        self.traffic.tally.response(route, status);
    }

    /// Counts a response head relayed from `slot`'s upstream: for its route
    /// and as a response of its cluster.
    pub(super) fn count_upstream_response(&mut self, slot: u32, status: u16) {
        let c = &self.clients[slot as usize];
        let (route, cluster) = (c.route, c.cluster);
        self.count_response(Some(route), status);
        self.traffic.tally.upstream_response(cluster);
    }

    /// Counts an upstream failure of `kind` for `cluster` (and in the global
    /// metrics).
    pub(super) fn count_upstream_error(&mut self, cluster: usize, kind: UpErr) {
        match kind {
            UpErr::Connect => self.stats.now.upstream_connect_errors += 1,
            UpErr::Timeout => self.stats.now.upstream_timeouts += 1,
            UpErr::Protocol => self.stats.now.upstream_protocol_errors += 1,
        }
        self.traffic.tally.upstream_error(cluster, kind);
    }

    /// Copies the tally, the servers' health and the busiest clients into a
    /// free snapshot buffer and hands it over; nothing when no buffer is free.
    pub(super) fn publish_traffic(&mut self) {
        let Some(p) = self.traffic.publisher.as_mut() else {
            return;
        };
        let Some(mut s) = p.buffer() else {
            return;
        };
        s.core = self.id;
        s.at_ms = crate::admin_api::store::now_ms();
        s.routes.copy_from_slice(&self.traffic.tally.routes);
        s.clusters.copy_from_slice(&self.traffic.tally.clusters);
        let now = self.now_ms;
        let mut i = 0;
        for cl in &self.clusters {
            for sv in &cl.servers {
                if let Some(h) = s.servers.get_mut(i) {
                    h.ejected = sv.ejected_until > now;
                    h.ejected_for_ms = sv.ejected_until.saturating_sub(now);
                    h.fails = sv.fails;
                    h.active = sv.active;
                    h.idle = sv.idle.len() as u32;
                }
                i += 1;
            }
        }
        let t = &mut self.traffic;
        s.scanned = match self.beh.as_ref() {
            Some(b) => b.top_clients(&mut t.cursor, TOP_SCAN_BUDGET, &mut t.top),
            None => 0,
        };
        s.top.clear();
        s.top.extend_from_slice(&t.top);
        if let Some(p) = self.traffic.publisher.as_mut() {
            p.publish(s);
        }
    }
}
