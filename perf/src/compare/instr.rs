//! User-space instructions per request with callgrind (no hardware counters
//! on these VMs), through the peers kit's `instr.sh`: each server runs under
//! valgrind for a short and a long session and Ir/request is the
//! difference over the difference in requests. Rampart no-policy is the
//! kit's `EXTRA`; HAProxy (B), nginx (C) and HAProxy with its stick table
//! (E) its targets (ModSecurity manages a few requests a second under
//! valgrind: minutes per session). Not the pack instances: under valgrind
//! Hyperscan sees no AVX-512, the compiled-pack cache built for the host
//! misses, and the pack would compile under valgrind for many minutes; their
//! inspection cost is counted by `perf/examples/pack_judge.rs`. Full mode
//! only (a few minutes).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{interrupt, servers};

/// One row of the kit's `instr.md`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InstrRow {
    /// Our setup ID (`B`, `R0`).
    pub setup: String,
    pub load: String,
    /// Requests in the short / long session.
    pub requests: (u64, u64),
    pub ir_per_request: Option<f64>,
}

/// Parses `instr.md`; `names` maps the kit's setup names to our IDs (rows
/// with other names are dropped).
pub fn parse(md: &str, names: &BTreeMap<&str, &str>) -> Vec<InstrRow> {
    md.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| setup"))
        .filter_map(|l| {
            let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            if c.len() < 5 {
                return None;
            }
            let setup = names.get(c[0])?;
            let (rs, rl) = c[2].split_once('/')?;
            Some(InstrRow {
                setup: setup.to_string(),
                load: c[1].to_string(),
                requests: (rs.parse().ok()?, rl.parse().ok()?),
                ir_per_request: c[4].parse().ok(),
            })
        })
        .collect()
}

/// What one instr.sh run measures: the kit's `targets` (e.g. `"B C E"`, or
/// none) and one Rampart process started by `cmd` under valgrind, listening
/// on `port`, reported as setup `id`.
pub struct Job<'a> {
    pub targets: &'a str,
    pub cmd: &'a str,
    pub port: u16,
    pub id: &'a str,
}

/// Runs the kit's instr.sh for `job`, loads get and post, with results in
/// `out`. Every server port must be free.
pub fn run(
    kit: &Path,
    peers_work: &Path,
    job: &Job<'_>,
    out: &Path,
    limit: Duration,
) -> Result<Vec<InstrRow>> {
    let script = kit.join("instr.sh");
    if !script.is_file() {
        bail!("{} not found", script.display());
    }
    let argv = vec!["bash".to_string(), script.display().to_string()];
    let log = std::fs::File::create(out.join("instr.log"))?;
    let mut child = servers::owned_command(&argv)?
        .env("PEERS_WORK", peers_work)
        // the kit reads an empty TARGETS as "all of them": a blank means none
        .env(
            "TARGETS",
            if job.targets.is_empty() {
                " "
            } else {
                job.targets
            },
        )
        .env("LOADS", "get post")
        .env("EXTRA", format!("name=rampart port={}", job.port))
        .env("EXTRA_CMD", job.cmd)
        .env("RESULTS", out)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting instr.sh")?;
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if interrupt::interrupted() || t0.elapsed() > limit {
            // The script's EXIT trap stops the servers it started.
            // SAFETY: signals the script's own process group (created for it).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
            let _ = child.wait();
            interrupt::check()?;
            bail!("instr.sh still running after {limit:?}; stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        bail!(
            "instr.sh failed ({status}); see {}",
            out.join("instr.log").display()
        );
    }
    let md = std::fs::read_to_string(out.join("instr.md")).context("reading instr.md")?;
    let names: BTreeMap<&str, &str> = [("B", "B"), ("C", "C"), ("E", "E"), ("rampart", job.id)]
        .into_iter()
        .collect();
    Ok(parse(&md, &names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kits_table() {
        let md =
            "| setup | load | requests short/long | Ir short/long (incl. startup) | Ir/request |
|---|---|---:|---:|---:|
| B | get | 20936/48808 | 837043215/1646120746 | 29028 |
| B | post | 17603/45540 | 802857564/1713010209 | 32579 |
| C | get | 1/2 | 3/4 | 5 |
| rampart | get | 65276/157161 | 826018871/1987169212 | 12637 |
| rampart | post | 10/10 | 1/1 | n/a |
";
        let names = [("B", "B"), ("rampart", "R0")].into_iter().collect();
        let rows = parse(md, &names);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].setup, "B");
        assert_eq!(rows[0].requests, (20936, 48808));
        assert_eq!(rows[0].ir_per_request, Some(29028.0));
        assert_eq!(rows[2].setup, "R0");
        assert_eq!(rows[3].ir_per_request, None);
    }
}
