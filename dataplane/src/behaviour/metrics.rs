//! One core's behaviour metrics: what its counter tables hold and evict and
//! what crosses the exchange, published with the core's other statistics
//! (once a second, off the request path).

use super::counters::CounterStats;

/// Metric handles, registered when the engine is built, and the values last
/// published (counters are published as increments).
pub struct BehaviourMetrics {
    tracked_ips: metrics::Gauge,
    tracked_keys: metrics::Gauge,
    table_bytes: metrics::Gauge,
    evictions: [metrics::Counter; 2],
    messages: [metrics::Counter; 3],
    last: CounterStats,
}

impl BehaviourMetrics {
    /// Handles for core `core`.
    pub fn new(core: usize) -> BehaviourMetrics {
        let worker = core.to_string();
        BehaviourMetrics {
            tracked_ips: metrics::gauge!("rampart_behaviour_tracked", "table" => "client_ip", "worker" => worker.clone()),
            tracked_keys: metrics::gauge!("rampart_behaviour_tracked", "table" => "keys", "worker" => worker.clone()),
            table_bytes: metrics::gauge!("rampart_behaviour_table_bytes", "worker" => worker),
            evictions: [
                metrics::counter!("rampart_behaviour_evictions_total", "table" => "client_ip"),
                metrics::counter!("rampart_behaviour_evictions_total", "table" => "keys"),
            ],
            messages: [
                metrics::counter!("rampart_behaviour_exchange_messages_total", "outcome" => "sent"),
                metrics::counter!("rampart_behaviour_exchange_messages_total", "outcome" => "received"),
                metrics::counter!("rampart_behaviour_exchange_messages_total", "outcome" => "dropped"),
            ],
            last: CounterStats::default(),
        }
    }

    /// Publishes `now` (this core's current statistics).
    pub fn publish(&mut self, now: CounterStats) {
        self.tracked_ips.set(now.ips as f64);
        self.tracked_keys.set(now.keys as f64);
        self.table_bytes.set(now.bytes as f64);
        let last = &self.last;
        self.evictions[0].increment(now.ip_evictions.saturating_sub(last.ip_evictions));
        self.evictions[1].increment(now.key_evictions.saturating_sub(last.key_evictions));
        let (n, l) = (&now.exchange, &last.exchange);
        self.messages[0].increment(n.sent.saturating_sub(l.sent));
        self.messages[1].increment(n.received.saturating_sub(l.received));
        self.messages[2].increment(n.dropped.saturating_sub(l.dropped));
        self.last = now;
    }
}
