//! Per-policy verdict counters of one core:
//! `rampart_policy_verdicts_total{policy, action, mode}`.
//!
//! The registry handles are looked up when a kit is built (on the hub
//! thread, at start and at every reload), so counting a hit on the core is
//! a plain array increment and the once-a-second flush adds deltas without
//! allocating. A kit flushes what it counted before it is replaced.

use metrics::Counter;
use rampart_policy_loader::{CompiledPolicy, Mode, Verdict};

use crate::events::POLICY_VERDICTS_TOTAL;

pub struct PolicyMetrics {
    /// Indexed by policy; `None` for policies that are off (they never hit).
    handles: Vec<Option<Counter>>,
    counts: Vec<u64>,
    flushed: Vec<u64>,
}

impl PolicyMetrics {
    pub fn new(policy: &CompiledPolicy) -> PolicyMetrics {
        let handles: Vec<Option<Counter>> = policy
            .policies
            .iter()
            .map(|p| {
                (p.mode != Mode::Off).then(|| {
                    metrics::counter!(
                        POLICY_VERDICTS_TOTAL,
                        "policy" => p.id.clone(),
                        "action" => p.action.name(),
                        "mode" => p.mode.as_str(),
                    )
                })
            })
            .collect();
        let n = handles.len();
        PolicyMetrics {
            handles,
            counts: vec![0; n],
            flushed: vec![0; n],
        }
    }

    /// Counts every policy that matched in `verdict`.
    pub fn count(&mut self, verdict: &Verdict) {
        for h in &verdict.hits {
            if let Some(c) = self.counts.get_mut(h.policy) {
                *c += 1;
            }
        }
    }

    /// Adds what changed since the last flush to the registry.
    pub fn flush(&mut self) {
        for (i, h) in self.handles.iter().enumerate() {
            let d = self.counts[i] - self.flushed[i];
            if d > 0 {
                if let Some(h) = h {
                    h.increment(d);
                }
                self.flushed[i] = self.counts[i];
            }
        }
    }
}
