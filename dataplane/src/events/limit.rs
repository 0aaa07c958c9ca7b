//! Per-policy event limits: at most N events a second for each policy on a
//! core; the rest are counted and summarised, not formatted.
//!
//! A policy that matches every request of a flood (a monitor-mode host
//! check, a rate policy watching one busy client, a block rule under
//! attack) would otherwise write a full event per request: formatting them
//! costs more CPU than judging the request, and a log of a million identical
//! lines tells the operator no more than the first hundred and a count.
//! This is the `threshold: type limit` of IDS rules: the first N in each
//! second are logged in full, the rest only counted, and every second a
//! summary line per policy says how many were left out, so nothing is lost
//! from the record. The decision itself (block, rate limit, tag) is never
//! affected: only its logging is.
//!
//! The state is one small slot per policy of the kit (indexed like the
//! compiled policy), owned by the core: no sharing, no hashing, no
//! allocation per request.

/// One policy's window and the suppressed count not yet summarised.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// The second (of the worker's clock) the counts below belong to.
    second: u64,
    /// Events logged in that second.
    logged: u32,
    /// Events suppressed since the last summary.
    suppressed: u64,
    /// When the first of those was suppressed (worker clock, ms).
    first_ms: u64,
}

/// A core's per-policy event limits for one compiled policy.
#[derive(Debug, Default)]
pub struct EventLimiter {
    slots: Vec<Slot>,
    /// Some slot has a suppressed count to summarise.
    pending: bool,
}

impl EventLimiter {
    /// Limits for a compiled policy of `policies` policies (off the hot
    /// path: this allocates).
    pub fn new(policies: usize) -> EventLimiter {
        EventLimiter {
            slots: vec![Slot::default(); policies],
            pending: false,
        }
    }

    /// Whether an event keyed by `policy` may be logged now, `per_second`
    /// being the limit (0: no limit). A refused one is counted for the next
    /// summary.
    pub fn admit(&mut self, policy: usize, now_ms: u64, per_second: u32) -> bool {
        if per_second == 0 {
            return true;
        }
        let Some(s) = self.slots.get_mut(policy) else {
            return true;
        };
        let second = now_ms / 1000;
        if s.second != second {
            s.second = second;
            s.logged = 0;
        }
        if s.logged < per_second {
            s.logged += 1;
            return true;
        }
        if s.suppressed == 0 {
            s.first_ms = now_ms;
        }
        s.suppressed += 1;
        self.pending = true;
        false
    }

    /// Hands each policy's suppressed count (policy index, count, when the
    /// first was suppressed) to `f` and clears it.
    pub fn drain(&mut self, mut f: impl FnMut(usize, u64, u64)) {
        if !self.pending {
            return;
        }
        self.pending = false;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.suppressed > 0 {
                f(i, s.suppressed, s.first_ms);
                s.suppressed = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_per_policy_and_per_second() {
        let mut l = EventLimiter::new(3);
        let admitted = (0..10).filter(|_| l.admit(1, 5_000, 4)).count();
        assert_eq!(admitted, 4);
        // Another policy has its own budget.
        assert!(l.admit(2, 5_001, 4));
        // The next second starts afresh.
        assert_eq!((0..10).filter(|_| l.admit(1, 6_000, 4)).count(), 4);
        let mut seen = Vec::new();
        l.drain(|i, n, first| seen.push((i, n, first)));
        assert_eq!(seen, vec![(1, 12, 5_000)]);
        // Drained: nothing to summarise until the next suppression.
        l.drain(|_, _, _| panic!("drained twice"));
        assert!(!l.admit(1, 6_500, 4));
        l.drain(|i, n, first| seen.push((i, n, first)));
        assert_eq!(seen.last(), Some(&(1, 1, 6_500)));
    }

    #[test]
    fn no_limit_and_unknown_policies_log_everything() {
        let mut l = EventLimiter::new(1);
        assert!((0..1000).all(|_| l.admit(0, 1, 0)));
        assert!((0..1000).all(|_| l.admit(7, 1, 1)));
        l.drain(|_, _, _| panic!("nothing was suppressed"));
    }
}
