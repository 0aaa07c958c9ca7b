//! One core's view of an upstream cluster: balancing, passive health and the idle
//! keep-alive connections it holds to each server.

use std::net::SocketAddr;

use crate::config::{Balance, UpstreamCluster};

/// A server as this core sees it.
pub struct ServerState {
    pub addr: SocketAddr,
    pub sockaddr: libc::sockaddr_storage,
    pub sockaddr_len: libc::socklen_t,
    /// Requests in flight from this core (for least-connections).
    pub active: u32,
    /// Consecutive failures; reset by any success.
    pub fails: u32,
    /// Monotonic ms until which the server is ejected (0 = healthy).
    pub ejected_until: u64,
    /// Idle keep-alive upstream connection slots, most recently used last.
    pub idle: Vec<u32>,
}

pub struct ClusterState {
    pub servers: Vec<ServerState>,
    balance: Balance,
    rr_next: usize,
    max_fails: u32,
    fail_timeout_ms: u64,
    pub max_idle: usize,
    pub retry_idempotent: bool,
}

pub fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let sa: socket2::SockAddr = (*addr).into();
    // SAFETY: sockaddr_storage is plain old data; zeroed is a valid value, and we copy
    // at most its size from socket2's storage of the same type.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = sa.len();
    // SAFETY: `sa.as_ptr()` points at `len` valid bytes, `len <= size_of::<sockaddr_storage>()`.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
            len as usize,
        );
    }
    (storage, len)
}

impl ClusterState {
    pub fn new(spec: &UpstreamCluster) -> ClusterState {
        ClusterState {
            servers: spec
                .servers
                .iter()
                .map(|addr| {
                    let (sockaddr, sockaddr_len) = to_sockaddr(addr);
                    ServerState {
                        addr: *addr,
                        sockaddr,
                        sockaddr_len,
                        active: 0,
                        fails: 0,
                        ejected_until: 0,
                        idle: Vec::with_capacity(spec.max_idle_per_server),
                    }
                })
                .collect(),
            balance: spec.balance,
            rr_next: 0,
            max_fails: spec.max_fails.max(1),
            fail_timeout_ms: spec.fail_timeout.as_millis() as u64,
            max_idle: spec.max_idle_per_server,
            retry_idempotent: spec.retry_idempotent,
        }
    }

    fn healthy(&self, i: usize, now_ms: u64) -> bool {
        self.servers[i].ejected_until <= now_ms
    }

    /// Picks a server, skipping ejected ones and `avoid` (the one that just failed).
    /// `None` when every server is ejected: the caller answers 503.
    pub fn pick(&mut self, now_ms: u64, avoid: Option<usize>) -> Option<usize> {
        let n = self.servers.len();
        let eligible = |s: &Self, i: usize| s.healthy(i, now_ms) && Some(i) != avoid;
        match self.balance {
            Balance::RoundRobin => {
                for k in 0..n {
                    let i = (self.rr_next + k) % n;
                    if eligible(self, i) {
                        self.rr_next = (i + 1) % n;
                        return Some(i);
                    }
                }
                None
            }
            Balance::LeastConnections => {
                let start = self.rr_next % n.max(1);
                let mut best: Option<usize> = None;
                for k in 0..n {
                    let i = (start + k) % n;
                    if eligible(self, i)
                        && best.is_none_or(|b| self.servers[i].active < self.servers[b].active)
                    {
                        best = Some(i);
                    }
                }
                self.rr_next = self.rr_next.wrapping_add(1);
                best
            }
        }
    }

    pub fn record_success(&mut self, i: usize) {
        let s = &mut self.servers[i];
        s.fails = 0;
        s.ejected_until = 0;
    }

    /// Counts a failure; returns true when it ejected the server.
    pub fn record_failure(&mut self, i: usize, now_ms: u64) -> bool {
        let max_fails = self.max_fails;
        let timeout = self.fail_timeout_ms;
        let s = &mut self.servers[i];
        s.fails += 1;
        if s.fails >= max_fails && s.ejected_until <= now_ms {
            s.ejected_until = now_ms + timeout;
            // After the ejection the server gets one trial request; another failure
            // ejects it again at once.
            s.fails = max_fails - 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(n: usize, balance: Balance) -> UpstreamCluster {
        UpstreamCluster {
            name: "t".into(),
            servers: (0..n)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 10000 + i as u16)))
                .collect(),
            balance,
            max_idle_per_server: 4,
            max_fails: 2,
            fail_timeout: Duration::from_secs(10),
            retry_idempotent: true,
            tls: None,
        }
    }

    #[test]
    fn round_robin_skips_ejected() {
        let mut c = ClusterState::new(&spec(3, Balance::RoundRobin));
        assert_eq!(c.pick(0, None), Some(0));
        assert_eq!(c.pick(0, None), Some(1));
        assert!(!c.record_failure(2, 0));
        assert!(c.record_failure(2, 0));
        assert_eq!(c.pick(0, None), Some(0));
        assert_eq!(c.pick(0, None), Some(1));
        assert_eq!(c.pick(0, None), Some(0));
        // back after the fail timeout
        assert_eq!(c.pick(10_000, Some(0)), Some(1));
        assert_eq!(c.pick(10_000, None), Some(2));
    }

    #[test]
    fn least_connections_prefers_idle_server() {
        let mut c = ClusterState::new(&spec(2, Balance::LeastConnections));
        c.servers[0].active = 5;
        assert_eq!(c.pick(0, None), Some(1));
        c.servers[1].active = 9;
        assert_eq!(c.pick(0, None), Some(0));
    }

    #[test]
    fn all_ejected_is_none() {
        let mut c = ClusterState::new(&spec(1, Balance::RoundRobin));
        c.record_failure(0, 5);
        c.record_failure(0, 5);
        assert_eq!(c.pick(6, None), None);
        assert_eq!(c.pick(10_005, None), Some(0));
    }
}
