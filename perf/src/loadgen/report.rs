//! What one load run measured, as the table a human reads and the JSON the
//! harness (`rampart-bench compare`) and the tests read back.
//!
//! The JSON shape is a contract: `compare` deserialises it into [`Report`],
//! so add fields, never rename them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The result of one `rampart-bench run`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Always `"rampart-bench"`.
    pub tool: String,
    /// The crate version that produced the report.
    pub version: String,
    /// The URL the load was sent to.
    pub target: String,
    /// `"closed"` (each connection keeps `pipeline` requests in flight) or
    /// `"open"` (requests are sent on a fixed schedule at `offered_rps`).
    pub mode: String,
    /// The settings the run used.
    pub config: RunConfig,
    /// Length of the measured window in seconds (warm-up excluded).
    pub elapsed_s: f64,
    /// Responses completed inside the measured window.
    pub requests: u64,
    /// `requests / elapsed_s`.
    pub throughput_rps: f64,
    /// The open-loop schedule's rate; `None` in closed loop.
    pub offered_rps: Option<f64>,
    /// Bytes written to / read from the sockets in the measured window
    /// (plaintext bytes for TLS).
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Connections opened in the measured window (reconnects included).
    pub connections_opened: u64,
    /// Latency of completed requests. In open loop this is measured from the
    /// moment the schedule meant the request to be sent (coordinated omission
    /// corrected, as wrk2 does); in closed loop from the moment it was written.
    pub latency_us: Latency,
    /// Open loop only: the same requests measured from the moment they were
    /// actually written (what an uncorrected tool would report).
    pub uncorrected_latency_us: Option<Latency>,
    /// Responses by status code (`"200"`, `"403"`, ...).
    pub status: BTreeMap<String, u64>,
    /// Responses by outcome: see [`Outcomes`].
    pub outcomes: Outcomes,
    /// Per request class of the mix (`"benign"`, `"attack"`, ...): how each
    /// class fared. A run without a mix has one class, `"default"`.
    pub classes: BTreeMap<String, ClassCounts>,
    /// Failures by kind: see [`Errors`].
    pub errors: Errors,
    /// The message of the first connect, socket or TLS error, to say why.
    #[serde(default)]
    pub first_error: Option<String>,
}

/// The settings of a run, echoed so a report stands on its own.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    pub connections: usize,
    pub threads: usize,
    pub pipeline: usize,
    /// Measured duration in seconds; `None` when the run stopped after `requests`.
    pub duration_s: Option<f64>,
    /// Stop after this many responses; `None` when the run was timed.
    pub requests: Option<u64>,
    pub warmup_s: f64,
    /// Open-loop rate, requests per second for the whole run.
    pub rate: Option<f64>,
    pub timeout_ms: u64,
    /// The mix used: a file path, a built-in name, or `"single"` for one
    /// request built from the URL and `--method/--header/--body`.
    pub mix: String,
    /// Share of requests drawn from the mix's `attack` class, if set.
    pub attack_ratio: Option<f64>,
    /// Source addresses connections were bound to (`None`: the kernel's choice).
    pub sources: Option<String>,
    /// Requests per connection before it is closed and reopened (0: never).
    pub reconnect_every: u64,
    pub tls: bool,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub mean: f64,
    pub stdev: f64,
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
    /// `(percentile, microseconds)` at 0, 10, 20, ... 90, 95, 99, 99.5, 99.9,
    /// 99.95, 99.99, 100: enough points to plot the distribution.
    pub distribution: Vec<(f64, u64)>,
}

/// Responses by what they mean for a security gateway.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcomes {
    /// 1xx/2xx/3xx: the request went through.
    pub passed: u64,
    /// A status in `--blocked-status` (default 403 and 429): stopped.
    pub blocked: u64,
    /// Any other 4xx.
    pub client_error: u64,
    /// 5xx.
    pub server_error: u64,
}

/// How one request class of the mix fared.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClassCounts {
    /// Responses received for requests of this class.
    pub responses: u64,
    pub passed: u64,
    pub blocked: u64,
    /// Requests of this class that got no response (any error kind).
    pub failed: u64,
}

/// Failures by kind. A request that fails is counted once, under the first
/// failure that hit it; requests in flight on a connection that fails are
/// each counted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Errors {
    /// The connection could not be established (refused, unreachable).
    pub connect: u64,
    /// The server closed the connection with requests still unanswered
    /// (EOF, or a reset: a gateway's silent `drop` looks like this).
    pub closed: u64,
    /// Reading or writing the socket failed for another reason.
    pub io: u64,
    /// No complete response within `--timeout`.
    pub timeout: u64,
    /// The response could not be parsed as HTTP/1.1.
    pub parse: u64,
    /// The TLS handshake or a record failed.
    pub tls: u64,
}

impl Errors {
    /// All failures together.
    pub fn total(&self) -> u64 {
        self.connect + self.closed + self.io + self.timeout + self.parse + self.tls
    }
}

impl Report {
    /// The human-readable table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_us;
        let _ = writeln!(s, "target      {} ({} loop)", self.target, self.mode);
        let _ = writeln!(
            s,
            "load        {} connections, {} threads, pipeline {}, mix {}{}",
            self.config.connections,
            self.config.threads,
            self.config.pipeline,
            self.config.mix,
            self.offered_rps
                .map(|r| format!(", offered {r:.0} req/s"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "requests    {} in {:.2} s = {:.0} req/s, {:.1} MB/s in, {:.1} MB/s out, {} connections opened",
            self.requests,
            self.elapsed_s,
            self.throughput_rps,
            mb_per_s(self.bytes_received, self.elapsed_s),
            mb_per_s(self.bytes_sent, self.elapsed_s),
            self.connections_opened
        );
        let _ = writeln!(s, "latency     {}", latency_line(l));
        if let Some(u) = &self.uncorrected_latency_us {
            let _ = writeln!(s, "uncorrected {}", latency_line(u));
        }
        let codes: Vec<String> = self
            .status
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            s,
            "status      {}",
            if codes.is_empty() {
                "-".into()
            } else {
                codes.join(", ")
            }
        );
        let o = &self.outcomes;
        let _ = writeln!(
            s,
            "outcomes    passed {}, blocked {}, other 4xx {}, 5xx {}",
            o.passed, o.blocked, o.client_error, o.server_error
        );
        if self.classes.len() > 1 || !self.classes.contains_key("default") {
            for (name, c) in &self.classes {
                let _ = writeln!(
                    s,
                    "  {name:<9} {} responses: passed {}, blocked {}, failed {}",
                    c.responses, c.passed, c.blocked, c.failed
                );
            }
        }
        let e = &self.errors;
        let _ = writeln!(
            s,
            "errors      {} (connect {}, closed {}, io {}, timeout {}, parse {}, tls {})",
            e.total(),
            e.connect,
            e.closed,
            e.io,
            e.timeout,
            e.parse,
            e.tls
        );
        if let Some(first) = &self.first_error {
            let _ = writeln!(s, "first error {first}");
        }
        s
    }
}

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    }
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {} p90 {} p99 {} p99.9 {} max {} (mean {}, stdev {})",
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.p999),
        us(l.max),
        us(l.mean as u64),
        us(l.stdev as u64)
    )
}

/// Microseconds as a short human string: `850us`, `1.27ms`, `2.01s`.
pub fn us(v: u64) -> String {
    if v < 1_000 {
        format!("{v}us")
    } else if v < 1_000_000 {
        format!("{:.2}ms", v as f64 / 1e3)
    } else {
        format!("{:.2}s", v as f64 / 1e6)
    }
}
