//! Per-core counters, published to the `metrics` registry once a second.
//!
//! Counting happens in plain fields of the worker (no atomics shared between
//! cores on the hot path); the flush adds deltas to the registry's handles, which
//! are looked up once at startup so the flush itself does not allocate.

use metrics::{Counter, Gauge};

use crate::admin::{INSPECTION_BUCKETS_SECONDS, INSPECTION_BUCKET_LABELS, LATENCY_BUCKETS_SECONDS};

const NB: usize = LATENCY_BUCKETS_SECONDS.len();
const NI: usize = INSPECTION_BUCKETS_SECONDS.len();

#[derive(Default)]
pub struct Counts {
    pub requests: u64,
    pub responses: [u64; 5],
    pub rejected: u64,
    pub upstream_connect_errors: u64,
    pub upstream_timeouts: u64,
    pub upstream_protocol_errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub lat_buckets: [u64; NB],
    pub lat_count: u64,
    pub lat_sum_us: u64,
    /// Policies that matched (every hit, monitor included).
    pub policy_hits: u64,
    /// Requests a policy stopped (answered, dropped).
    pub policy_stops: u64,
    /// Request bodies scanned as a stream beyond the inspected prefix.
    pub body_streams: u64,
    /// Long bodies refused (503) because every body stream was in use.
    pub body_streams_exhausted: u64,
    /// Responses whose body prefix response policies inspected.
    pub responses_inspected: u64,
    /// Time spent judging requests: per-bucket counts (not cumulative), count, sum.
    pub insp_buckets: [u64; NI],
    pub insp_count: u64,
    pub insp_sum_ns: u64,
    /// Events the core's ring had no room for.
    pub events_dropped: u64,
    /// Events the per-policy limit left out (summarised instead).
    pub events_suppressed: u64,
    /// TLS handshakes by outcome, in the order of [`TLS_OUTCOMES`].
    pub tls: [u64; 4],
}

/// `outcome` labels of `rampart_tls_handshakes_total`.
pub const TLS_OUTCOMES: [&str; 4] = ["full", "resumed", "failed", "plaintext"];
pub const TLS_FULL: usize = 0;
pub const TLS_RESUMED: usize = 1;
pub const TLS_FAILED: usize = 2;
pub const TLS_PLAINTEXT: usize = 3;

pub struct Stats {
    pub now: Counts,
    flushed: Counts,
    pub active_connections: u64,
    h: Handles,
}

struct Handles {
    requests: Counter,
    responses: [Counter; 5],
    rejected: Counter,
    up_connect: Counter,
    up_timeout: Counter,
    up_protocol: Counter,
    bytes_in: Counter,
    bytes_out: Counter,
    lat: Vec<Counter>,
    lat_count: Counter,
    lat_sum: Gauge,
    active: Gauge,
    policy_hits: Counter,
    policy_stops: Counter,
    body_streams: Counter,
    body_streams_exhausted: Counter,
    responses_inspected: Counter,
    insp: Vec<Counter>,
    insp_count: Counter,
    insp_sum: Gauge,
    events_dropped: Counter,
    events_suppressed: Counter,
    tls: [Counter; 4],
}

impl Stats {
    pub fn new(worker: usize) -> Stats {
        let w = worker.to_string();
        let lat = LATENCY_BUCKETS_SECONDS
            .iter()
            .map(|le| metrics::counter!("rampart_request_duration_seconds_bucket", "le" => le.to_string()))
            .chain(std::iter::once(metrics::counter!(
                "rampart_request_duration_seconds_bucket",
                "le" => "+Inf"
            )))
            .collect();
        Stats {
            now: Counts::default(),
            flushed: Counts::default(),
            active_connections: 0,
            h: Handles {
                requests: metrics::counter!("rampart_requests_total"),
                responses: ["1xx", "2xx", "3xx", "4xx", "5xx"]
                    .map(|c| metrics::counter!("rampart_responses_total", "class" => c)),
                rejected: metrics::counter!("rampart_rejected_requests_total"),
                up_connect: metrics::counter!("rampart_upstream_errors_total", "kind" => "connect"),
                up_timeout: metrics::counter!("rampart_upstream_errors_total", "kind" => "timeout"),
                up_protocol: metrics::counter!("rampart_upstream_errors_total", "kind" => "protocol"),
                bytes_in: metrics::counter!("rampart_bytes_received_total"),
                bytes_out: metrics::counter!("rampart_bytes_sent_total"),
                lat,
                lat_count: metrics::counter!("rampart_request_duration_seconds_count"),
                lat_sum: metrics::gauge!("rampart_request_duration_seconds_sum", "worker" => w.clone()),
                active: metrics::gauge!("rampart_active_connections", "worker" => w.clone()),
                insp: INSPECTION_BUCKET_LABELS
                    .iter()
                    .map(|le| metrics::counter!(crate::admin::INSPECTION_DURATION_BUCKET, "le" => *le))
                    .collect(),
                insp_count: metrics::counter!(crate::admin::INSPECTION_DURATION_COUNT),
                insp_sum: metrics::gauge!(crate::admin::INSPECTION_DURATION_SUM, "worker" => w),
                events_dropped: metrics::counter!(
                    crate::events::EVENTS_TOTAL,
                    "outcome" => "dropped_queue_full"
                ),
                events_suppressed: metrics::counter!(
                    crate::events::EVENTS_TOTAL,
                    "outcome" => "suppressed"
                ),
                tls: TLS_OUTCOMES
                    .map(|o| metrics::counter!("rampart_tls_handshakes_total", "outcome" => o)),
                policy_hits: metrics::counter!("rampart_policy_hits_total"),
                policy_stops: metrics::counter!("rampart_policy_stops_total"),
                body_streams: metrics::counter!("rampart_body_streams_total"),
                body_streams_exhausted: metrics::counter!("rampart_body_streams_exhausted_total"),
                responses_inspected: metrics::counter!("rampart_responses_inspected_total"),
            },
        }
    }

    pub fn response(&mut self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.now.responses[class] += 1;
    }

    pub fn latency(&mut self, us: u64) {
        let secs = us as f64 / 1e6;
        let i = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(NB);
        if i < NB {
            self.now.lat_buckets[i] += 1;
        }
        self.now.lat_count += 1;
        self.now.lat_sum_us += us;
    }

    /// Counts one request's inspection time.
    pub fn inspection(&mut self, d: std::time::Duration) {
        let ns = d.as_nanos().min(u128::from(u64::MAX)) as u64;
        let secs = ns as f64 / 1e9;
        if let Some(i) = INSPECTION_BUCKETS_SECONDS.iter().position(|&le| secs <= le) {
            self.now.insp_buckets[i] += 1;
        }
        self.now.insp_count += 1;
        self.now.insp_sum_ns += ns;
    }

    /// Adds what changed since the last flush to the shared registry.
    pub fn flush(&mut self) {
        let (n, f, h) = (&self.now, &mut self.flushed, &self.h);
        h.requests.increment(n.requests - f.requests);
        for i in 0..5 {
            h.responses[i].increment(n.responses[i] - f.responses[i]);
        }
        h.rejected.increment(n.rejected - f.rejected);
        h.up_connect
            .increment(n.upstream_connect_errors - f.upstream_connect_errors);
        h.up_timeout
            .increment(n.upstream_timeouts - f.upstream_timeouts);
        h.up_protocol
            .increment(n.upstream_protocol_errors - f.upstream_protocol_errors);
        h.bytes_in.increment(n.bytes_in - f.bytes_in);
        h.bytes_out.increment(n.bytes_out - f.bytes_out);
        h.policy_hits.increment(n.policy_hits - f.policy_hits);
        h.policy_stops.increment(n.policy_stops - f.policy_stops);
        h.body_streams.increment(n.body_streams - f.body_streams);
        h.body_streams_exhausted
            .increment(n.body_streams_exhausted - f.body_streams_exhausted);
        h.responses_inspected
            .increment(n.responses_inspected - f.responses_inspected);
        // Prometheus buckets are cumulative.
        let mut cum_now = 0;
        let mut cum_then = 0;
        for i in 0..NB {
            cum_now += n.lat_buckets[i];
            cum_then += f.lat_buckets[i];
            h.lat[i].increment(cum_now - cum_then);
        }
        h.lat[NB].increment(n.lat_count - f.lat_count);
        h.lat_count.increment(n.lat_count - f.lat_count);
        h.lat_sum.set(n.lat_sum_us as f64 / 1e6);
        h.active.set(self.active_connections as f64);
        let (mut cum_now, mut cum_then) = (0, 0);
        for i in 0..NI {
            cum_now += n.insp_buckets[i];
            cum_then += f.insp_buckets[i];
            h.insp[i].increment(cum_now - cum_then);
        }
        h.insp[NI].increment(n.insp_count - f.insp_count);
        h.insp_count.increment(n.insp_count - f.insp_count);
        h.insp_sum.set(n.insp_sum_ns as f64 / 1e9);
        h.events_dropped
            .increment(n.events_dropped - f.events_dropped);
        h.events_suppressed
            .increment(n.events_suppressed - f.events_suppressed);
        for i in 0..TLS_OUTCOMES.len() {
            h.tls[i].increment(n.tls[i] - f.tls[i]);
        }
        f.tls = n.tls;
        f.requests = n.requests;
        f.responses = n.responses;
        f.rejected = n.rejected;
        f.upstream_connect_errors = n.upstream_connect_errors;
        f.upstream_timeouts = n.upstream_timeouts;
        f.upstream_protocol_errors = n.upstream_protocol_errors;
        f.bytes_in = n.bytes_in;
        f.bytes_out = n.bytes_out;
        f.lat_buckets = n.lat_buckets;
        f.lat_count = n.lat_count;
        f.lat_sum_us = n.lat_sum_us;
        f.policy_hits = n.policy_hits;
        f.policy_stops = n.policy_stops;
        f.body_streams = n.body_streams;
        f.body_streams_exhausted = n.body_streams_exhausted;
        f.responses_inspected = n.responses_inspected;
        f.insp_buckets = n.insp_buckets;
        f.insp_count = n.insp_count;
        f.insp_sum_ns = n.insp_sum_ns;
        f.events_dropped = n.events_dropped;
        f.events_suppressed = n.events_suppressed;
    }
}
