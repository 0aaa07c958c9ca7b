//! One load run: `rampart-bench run ... --json FILE` as a child process
//! (pinned to the load CPUs), with the CPU time of the server's processes,
//! the backend's, the generator's and the whole machine's sampled from
//! `/proc` around it; the result is the generator's [`Report`] plus CPU per
//! request and how busy the machine was with anything else.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{interrupt, procfs, servers};
use crate::loadgen::Report;

/// One measured run of one setup under one load.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub setup: String,
    pub load: String,
    /// 1-based round; 0 for single runs (latency vs load, scaling phases).
    pub round: u32,
    pub report: Report,
    /// CPU time (user + system) of the server's processes per response, µs.
    pub server_cpu_us: f64,
    /// The same for the backend (A); `None` when A is the server measured.
    pub backend_cpu_us: Option<f64>,
    /// Machine CPU not explained by the server, the backend or the load
    /// generator, in % of one CPU over the run (other jobs on the box).
    pub foreign_cpu_pct: f64,
}

/// One run to make.
pub struct Job<'a> {
    pub setup: &'a str,
    pub load: &'a str,
    /// 1-based round, 0 outside the rounds.
    pub round: u32,
    /// The server's port.
    pub port: u16,
    /// A's port, unless A is the server measured.
    pub backend: Option<u16>,
    /// The generator's arguments after `run`.
    pub args: &'a [String],
    /// Where the generator writes its report.
    pub json: &'a Path,
    /// Kill the generator after this long.
    pub limit: Duration,
}

/// Everything a run needs to know besides the load's arguments.
#[derive(Clone, Debug)]
pub struct Runner {
    /// The `rampart-bench` binary.
    pub bench: PathBuf,
    /// CPUs the generator is pinned to (`None`: unpinned).
    pub load_cpus: Option<String>,
    /// Where reports and the generator's stderr go.
    pub dir: PathBuf,
    pub clk_tck: u64,
}

#[derive(Default)]
struct Ticks {
    by_pid: BTreeMap<u32, u64>,
}

impl Ticks {
    fn read(pids: &[u32]) -> Ticks {
        Ticks {
            by_pid: pids.iter().map(|&p| (p, procfs::cpu_ticks(&[p]))).collect(),
        }
    }
    /// Ticks used since `before`; processes born in between count whole,
    /// processes gone in between are lost (as in the kit).
    fn since(&self, before: &Ticks) -> u64 {
        self.by_pid
            .iter()
            .map(|(p, t)| t.saturating_sub(before.by_pid.get(p).copied().unwrap_or(0)))
            .sum()
    }
}

/// µs of CPU per request from a tick delta.
pub fn us_per_request(ticks: u64, clk_tck: u64, requests: u64) -> f64 {
    if requests == 0 || clk_tck == 0 {
        return 0.0;
    }
    ticks as f64 * 1e6 / clk_tck as f64 / requests as f64
}

/// Requests the server answered while its CPU was sampled: the measured
/// ones plus the warm-up's, which the report does not count (estimated at
/// the offered rate in open loop, the measured rate in closed loop).
pub fn served_requests(r: &Report) -> u64 {
    let rate = r.offered_rps.unwrap_or(r.throughput_rps);
    r.requests + (r.config.warmup_s * rate).round().max(0.0) as u64
}

/// Busy CPU not explained by the processes we account for, % of one CPU.
pub fn foreign_pct(system: u64, explained: u64, clk_tck: u64, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs <= 0.0 || clk_tck == 0 {
        return 0.0;
    }
    (system.saturating_sub(explained) as f64 / clk_tck as f64 / secs * 100.0).max(0.0)
}

impl Runner {
    /// Runs the generator for `job`.
    pub fn run(&self, job: &Job) -> Result<Sample> {
        let Job {
            setup,
            load,
            round,
            port,
            backend,
            args,
            json,
            limit,
        } = job;
        let (round, port, backend, limit) = (*round, *port, *backend, *limit);
        let srv_pids = procfs::pids_on_port(port);
        if srv_pids.is_empty() {
            bail!("{setup}: nothing listens on 127.0.0.1:{port}");
        }
        let bk_pids = backend.map(procfs::pids_on_port).unwrap_or_default();
        let _ = std::fs::remove_file(json);
        let s0 = Ticks::read(&srv_pids);
        let b0 = Ticks::read(&bk_pids);
        let y0 = procfs::system_busy();
        let k0 = procfs::children_ticks();
        let t0 = Instant::now();

        let mut argv = vec![self.bench.display().to_string(), "run".to_string()];
        argv.extend(args.iter().cloned());
        let argv = servers::pinned_argv(self.load_cpus.as_deref(), &argv);
        let out = self.dir.join(format!("{setup}_{load}_r{round}.out"));
        let err = self.dir.join(format!("{setup}_{load}_r{round}.err"));
        let mut cmd = servers::owned_command(&argv)?;
        cmd.stdout(File::create(&out)?).stderr(File::create(&err)?);
        // Its own process group keeps a terminal's Ctrl-C for us: we stop it.
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting the load generator: {}", argv.join(" ")))?;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if interrupt::interrupted() || t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                interrupt::check()?;
                bail!("{setup}/{load}: load generator still running after {limit:?}; killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let wall = t0.elapsed();
        let k1 = procfs::children_ticks();
        let y1 = procfs::system_busy();
        let s1 = Ticks::read(&union(&srv_pids, &procfs::pids_on_port(port)));
        let b1 = Ticks::read(&union(
            &bk_pids,
            &backend.map(procfs::pids_on_port).unwrap_or_default(),
        ));
        if !status.success() {
            bail!(
                "{setup}/{load}: load generator failed ({status}): {}",
                std::fs::read_to_string(&err).unwrap_or_default().trim()
            );
        }
        let text = std::fs::read_to_string(json)
            .with_context(|| format!("reading the report {}", json.display()))?;
        let report: Report = serde_json::from_str(&text)
            .with_context(|| format!("parsing the report {}", json.display()))?;
        let srv = s1.since(&s0);
        let bk = b1.since(&b0);
        let gen = k1.saturating_sub(k0);
        let served = served_requests(&report);
        Ok(Sample {
            setup: setup.to_string(),
            load: load.to_string(),
            round,
            server_cpu_us: us_per_request(srv, self.clk_tck, served),
            backend_cpu_us: backend.map(|_| us_per_request(bk, self.clk_tck, served)),
            foreign_cpu_pct: foreign_pct(y1.saturating_sub(y0), srv + bk + gen, self.clk_tck, wall),
            report,
        })
    }

    /// Waits (up to `max`) until the server on `port` is idle — two quiet
    /// 100 ms windows — so a slow server still draining the last run's
    /// requests does not steal CPU from the next setup's run.
    pub fn settle(&self, port: u16, max: Duration) -> Result<()> {
        let pids = procfs::pids_on_port(port);
        let end = Instant::now() + max;
        let mut quiet = 0;
        let mut last = procfs::cpu_ticks(&pids);
        while Instant::now() < end && quiet < 2 {
            interrupt::sleep(Duration::from_millis(100))?;
            let now = procfs::cpu_ticks(&pids);
            quiet = if now.saturating_sub(last) <= 1 {
                quiet + 1
            } else {
                0
            };
            last = now;
        }
        Ok(())
    }
}

/// Above this much foreign CPU (% of one CPU) a run counts as disturbed.
pub const DISTURBED_PCT: f64 = 15.0;

/// Waits until the whole machine uses less than `pct` % of one CPU over a
/// one-second window (the servers are idle between runs, so what is busy
/// is someone else), for at most `max`. Returns the last window's %.
pub fn wait_quiet(pct: f64, max: Duration, clk_tck: u64) -> Result<f64> {
    let end = Instant::now() + max;
    loop {
        let (y0, t0) = (procfs::system_busy(), Instant::now());
        interrupt::sleep(Duration::from_secs(1))?;
        let busy = foreign_pct(
            procfs::system_busy().saturating_sub(y0),
            0,
            clk_tck,
            t0.elapsed(),
        );
        if busy < pct || Instant::now() >= end {
            return Ok(busy);
        }
    }
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_request() {
        // 250 ticks at 100 Hz = 2.5 s of CPU over 100k requests = 25 µs each.
        assert!((us_per_request(250, 100, 100_000) - 25.0).abs() < 1e-9);
        assert_eq!(us_per_request(250, 100, 0), 0.0);
    }

    #[test]
    fn warm_up_requests_count_for_cpu() {
        let mut r = Report {
            requests: 10_000,
            throughput_rps: 5_000.0,
            ..Report::default()
        };
        assert_eq!(served_requests(&r), 10_000);
        r.config.warmup_s = 1.0;
        r.offered_rps = Some(4_000.0);
        assert_eq!(served_requests(&r), 14_000);
    }

    #[test]
    fn foreign_cpu() {
        // 10 s, machine busy 1200 ticks, 1100 explained: 1 s of 10 = 10 %.
        let f = foreign_pct(1200, 1100, 100, Duration::from_secs(10));
        assert!((f - 10.0).abs() < 1e-9);
        assert_eq!(foreign_pct(100, 200, 100, Duration::from_secs(1)), 0.0);
    }

    #[test]
    fn tick_deltas_count_new_processes_whole() {
        let before = Ticks {
            by_pid: [(1, 100), (2, 50)].into_iter().collect(),
        };
        let after = Ticks {
            by_pid: [(1, 160), (3, 7)].into_iter().collect(),
        };
        assert_eq!(after.since(&before), 67);
        assert_eq!(union(&[3, 1], &[2, 3]), [1, 2, 3]);
    }
}
