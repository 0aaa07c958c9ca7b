//! `rampart-bench`'s load generator: HTTP/1.1 over TCP or TLS, keep-alive
//! and pipelining, closed loop (as fast as responses return) or open loop
//! (a fixed request schedule, latency measured from when each request was
//! due, so a stalled server cannot hide its stall — the coordinated-omission
//! correction wrk2 made standard), HDR histograms, request mixes with
//! benign and attack classes, many source addresses and identities.
//!
//! Design, and why:
//! - One `mio` event loop per thread, each owning its connections outright:
//!   no locks, no shared counters; threads merge their histograms and
//!   counters once, at the end. `mio` (epoll) rather than io_uring because
//!   the generator must run wherever the benchmark runs and epoll already
//!   keeps one core ahead of the servers measured here (the ceiling is
//!   measured against the nginx backend alone, see docs/BENCHMARKS.md).
//! - Nothing is allocated per request: every request of the mix is rendered
//!   to bytes before the run, responses are parsed in place with `httparse`
//!   and bodies are skipped, not kept.
//! - Latencies go into `hdrhistogram` histograms (3 significant digits, 1 µs
//!   to 1 h), which merge exactly across threads.
//!
//! Mix files (TOML), see perf/README.md for the full reference:
//!
//! ```toml
//! [[request]]
//! class = "benign"                 # "attack" is the class --attack-ratio picks
//! weight = 20                      # relative share (default 1)
//! method = "GET"
//! path = "/api/orders/{seq}?page={n:1-50}"
//! headers = { Accept = "application/json", Authorization = "Bearer {token}" }
//! body = ''                        # optional; Content-Length is added
//! ```

pub mod args;
pub mod report;

pub use args::RunArgs;
pub use report::Report;

/// Runs `rampart-bench run`: the load, then the table and/or the JSON.
pub fn main(_args: &RunArgs) -> anyhow::Result<()> {
    anyhow::bail!("run is not implemented yet")
}
