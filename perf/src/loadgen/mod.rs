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
mod conn;
pub mod mix;
pub mod report;
pub mod response;
mod stats;
pub mod target;
mod timer;
mod tls;
mod worker;

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use args::RunArgs;
pub use report::Report;

use mix::MixOptions;
use stats::Tally;
use target::Target;

/// Measured duration when neither `--duration` nor `--requests` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Runs `rampart-bench run`: the load, then the table and/or the JSON.
/// Fails (after reporting) when not a single response came back.
pub fn main(args: &RunArgs) -> Result<()> {
    let report = run(args)?;
    let json_stdout = args.json.as_deref() == Some("-");
    if let Some(path) = args.json.as_deref() {
        let text = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        if json_stdout {
            println!("{text}");
        } else {
            write_file(path, &text)?;
        }
    }
    if !args.quiet && !json_stdout {
        print!("{}", report.table());
    } else if !args.quiet {
        eprint!("{}", report.table());
    }
    if report.requests == 0 {
        bail!(
            "no response in the measured window ({} errors: connect {}, closed {}, timeout {}, parse {}, tls {}, io {}){}",
            report.errors.total(),
            report.errors.connect,
            report.errors.closed,
            report.errors.timeout,
            report.errors.parse,
            report.errors.tls,
            report.errors.io,
            match &report.first_error {
                Some(e) => format!("; first error: {e}"),
                None => "; is the target up?".to_string(),
            }
        );
    }
    Ok(())
}

/// Writes `text` to `path` through a temporary file, so a reader never sees
/// half a report and a full disk leaves the old one intact.
fn write_file(path: &str, text: &str) -> Result<()> {
    let tmp = format!("{path}.tmp");
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(text.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .and_then(|()| f.sync_all())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write the report to `{path}`"));
    }
    Ok(())
}

/// Sends the load described by `args` and returns what was measured.
pub fn run(args: &RunArgs) -> Result<Report> {
    let target = Target::parse(&args.url)?;
    if args.connections == 0 || args.threads == 0 || args.pipeline == 0 {
        bail!("--connections, --threads and --pipeline must be at least 1");
    }
    if args.pipeline > 1024 {
        bail!("--pipeline {}: at most 1024", args.pipeline);
    }
    if args.requests == Some(0) {
        bail!("--requests must be at least 1");
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            bail!("--rate {r}: must be a positive number of requests per second");
        }
    }
    if args.timeout.is_zero() {
        bail!("--timeout must be longer than 0");
    }
    let body = match (&args.body, &args.body_file) {
        (Some(b), _) => Some(b.clone().into_bytes()),
        (None, Some(p)) => {
            Some(std::fs::read(p).with_context(|| format!("--body-file `{}`", p.display()))?)
        }
        (None, None) => None,
    };
    let set = mix::build(
        &target,
        &MixOptions {
            mix: args.mix.as_deref(),
            method: &args.method,
            headers: &args.headers,
            body,
            attack_ratio: args.attack_ratio,
            identities: args.identities,
            seed: args.seed,
        },
    )?;
    let sources = match &args.sources {
        Some(s) => target::parse_sources(s)?,
        None => Vec::new(),
    };
    if sources.iter().any(|s| s.is_ipv4() != target.addr.is_ipv4()) {
        bail!(
            "--sources: the addresses must be of the target's family ({})",
            target.addr
        );
    }
    let tls = if target.tls {
        Some(tls::TlsClient::new(
            &target.host,
            args.sni.as_deref(),
            args.ca.as_deref(),
            !args.no_tls_resume,
        )?)
    } else {
        if args.ca.is_some() || args.sni.is_some() {
            bail!("--ca and --sni need an https:// URL");
        }
        None
    };
    // every thread needs a connection, and a share of --requests to finish on
    let threads = args.threads.min(args.connections).min(
        args.requests
            .map_or(usize::MAX, |n| n.min(usize::MAX as u64) as usize),
    );
    let duration = match (args.duration, args.requests) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_DURATION),
    };
    let start = Instant::now();
    let measure_start = start + args.warmup;
    let plan = worker::Plan {
        set: &set,
        addr: target.addr,
        sources: &sources,
        tls: tls.as_ref(),
        blocked_status: &args.blocked_status,
        connections: args.connections,
        pipeline: args.pipeline,
        interval: args
            .rate
            .map(|r| Duration::from_secs_f64(args.connections as f64 / r)),
        timeout: args.timeout,
        reconnect_every: args.reconnect_every,
        start,
        measure_start,
        deadline: duration.map(|d| measure_start + d),
    };
    let tally = std::thread::scope(|scope| -> Result<Tally> {
        let mut handles = Vec::with_capacity(threads);
        for t in 0..threads {
            let conns = share(args.connections, threads, t);
            let quota = args
                .requests
                .map(|n| share(n as usize, threads, t).len() as u64);
            let plan = &plan;
            let h = std::thread::Builder::new()
                .name(format!("bench-{t}"))
                .spawn_scoped(scope, move || worker::run(plan, conns, quota))
                .context("cannot start a load thread")?;
            handles.push(h);
        }
        let mut total = Tally::new(set.classes.len(), &args.blocked_status);
        for h in handles {
            let t = match h.join() {
                Ok(r) => r.context("load thread failed")?,
                Err(_) => bail!("a load thread panicked"),
            };
            total.merge(&t);
        }
        Ok(total)
    })?;
    let mut report = Report {
        tool: "rampart-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        target: args.url.clone(),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        offered_rps: args.rate,
        config: report::RunConfig {
            connections: args.connections,
            threads,
            pipeline: args.pipeline,
            duration_s: duration.map(|d| d.as_secs_f64()),
            requests: args.requests,
            warmup_s: args.warmup.as_secs_f64(),
            rate: args.rate,
            timeout_ms: args.timeout.as_millis() as u64,
            mix: args.mix.clone().unwrap_or_else(|| "single".into()),
            attack_ratio: args.attack_ratio,
            sources: args.sources.clone(),
            reconnect_every: args.reconnect_every,
            tls: target.tls,
        },
        ..Report::default()
    };
    tally.fill(&mut report, &set.classes, args.rate.is_some());
    Ok(report)
}

/// The `k`-th of `parts` near-equal shares of `0..n`.
fn share(n: usize, parts: usize, k: usize) -> std::ops::Range<usize> {
    let base = n / parts;
    let extra = n % parts;
    let start = k * base + k.min(extra);
    start..start + base + usize::from(k < extra)
}
