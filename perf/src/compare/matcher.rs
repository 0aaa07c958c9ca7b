//! The matcher benchmark (`matcher-bench`: Rampart's `scan_request` against
//! raw Hyperscan on the generated corpus, one core) run as a child process,
//! and its output parsed into GB/s, ns per request and compile times.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{interrupt, servers};

/// One engine's line of the result table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Engine {
    pub name: String,
    pub gbps: f64,
    pub ns_per_request: f64,
}

/// What the harness keeps of a matcher-bench run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MatcherResult {
    /// The command line, for the report.
    pub command: String,
    /// "signatures: ..." line (what was compiled).
    pub signatures: String,
    pub engines: Vec<Engine>,
    /// `Matcher::compile` median, ms (cold).
    pub compile_ms: Option<f64>,
    /// `compile_cached` from a warm cache, median, ms.
    pub cached_ms: Option<f64>,
    pub allocations_per_request: Option<f64>,
}

fn number_before(s: &str, unit: &str) -> Option<f64> {
    let i = s.find(unit)?;
    s[..i].split_whitespace().last()?.parse().ok()
}

/// Parses matcher-bench's stdout.
pub fn parse(out: &str) -> Result<MatcherResult> {
    let mut r = MatcherResult::default();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("signatures: ") {
            r.signatures = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("compile: ") {
            // compile: Matcher::compile median 929.1 ms (...), compile_cached warm median 12.3 ms (...)
            r.compile_ms = rest
                .split_once("Matcher::compile median")
                .and_then(|(_, t)| number_before(t, "ms"));
            r.cached_ms = rest
                .split_once("warm median")
                .and_then(|(_, t)| number_before(t, "ms"));
        } else if let Some(rest) =
            line.strip_prefix("allocations per scanned request (rampart, warm): ")
        {
            r.allocations_per_request = rest.trim().parse().ok();
        } else if line.starts_with("| ") && !line.starts_with("| engine") {
            // | name | requests | s | GB/s | ns/request | flagged % | ratio |
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells.len() >= 5 {
                if let (Ok(gbps), Ok(ns)) = (cells[3].parse(), cells[4].parse()) {
                    r.engines.push(Engine {
                        name: cells[0].to_string(),
                        gbps,
                        ns_per_request: ns,
                    });
                }
            }
        }
    }
    if r.engines.is_empty() {
        bail!("no result table in matcher-bench's output");
    }
    Ok(r)
}

/// Runs `matcher-bench` pinned to `cpus` and parses its output.
pub fn run(
    bin: &Path,
    cpus: Option<&str>,
    args: &[String],
    limit: Duration,
) -> Result<MatcherResult> {
    let mut argv = vec![bin.display().to_string()];
    argv.extend(args.iter().cloned());
    let argv = servers::pinned_argv(cpus, &argv);
    let mut child = servers::owned_command(&argv)?
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", argv.join(" ")))?;
    let t0 = Instant::now();
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if interrupt::interrupted() || t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            interrupt::check()?;
            bail!("matcher-bench still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "matcher-bench failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut r = parse(&String::from_utf8_lossy(&out.stdout))?;
    r.command = argv.join(" ");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "# matcher-bench
signatures: 1000 (250 regex, 500 single literals, 250 literal lists with 5000 entries), 6 transform chains
rampart: 7 groups, 9 databases (3.1 MiB), 0 prefiltered, 0 body signatures not streamed
compile: Matcher::compile median 929.1 ms (931.0 ms, 929.1 ms, 920.3 ms), compile_cached warm median 12.4 ms (12.4 ms, 12.1 ms, 13.0 ms)
allocations per scanned request (rampart, warm): 0.000

| engine | requests | s | GB/s | ns/request | flagged % | rampart ÷ engine |
|---|---:|---:|---:|---:|---:|---:|
| rampart scan_request | 450000 | 3.00 | 0.205 | 6650 | 5.10 | — |
| raw hyperscan (2 dbs, raw bytes) | 750000 | 3.00 | 0.340 | 4000 | 6.00 | 0.60× |

target rampart ≥ 0.8× raw hyperscan: 0.60× — NOT met
";

    #[test]
    fn parses_the_table_and_compile_times() {
        let r = parse(OUT).unwrap();
        assert_eq!(r.engines.len(), 2);
        assert_eq!(r.engines[0].name, "rampart scan_request");
        assert_eq!(r.engines[0].gbps, 0.205);
        assert_eq!(r.engines[1].ns_per_request, 4000.0);
        assert_eq!(r.compile_ms, Some(929.1));
        assert_eq!(r.cached_ms, Some(12.4));
        assert_eq!(r.allocations_per_request, Some(0.0));
        assert!(r.signatures.starts_with("1000 "));
    }

    #[test]
    fn output_without_a_table_is_an_error() {
        assert!(parse("compile: nothing\n").is_err());
    }
}
