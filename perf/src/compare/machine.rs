//! What the report says about where it was measured: date, commit, host,
//! CPU, load average, and the versions of every server.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The run's circumstances.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// `YYYY-MM-DD HH:MM` UTC at the start.
    pub started_utc: String,
    pub finished_utc: String,
    /// Wall-clock seconds the whole run took.
    pub elapsed_s: f64,
    /// `short` or `full`.
    pub mode: String,
    /// The harness's command line.
    pub command: String,
    /// `git describe`-ish: short commit, `+dirty` if the tree had changes.
    pub commit: String,
    pub host: String,
    pub cpu: String,
    pub cpus: usize,
    pub load_avg_start: String,
    /// `(name, version)`: the peers kit's versions.txt, then rampart's.
    pub versions: Vec<(String, String)>,
    pub srv_cpus: String,
    pub load_cpus: String,
    pub rounds: u32,
    pub duration_s: f64,
    pub connections: usize,
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS`.
pub fn format_utc(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYYMMDD-HHMMSS` for directory names.
pub fn stamp(secs: u64) -> String {
    format_utc(secs).replace(['-', ':'], "").replace(' ', "-")
}

fn output(prog: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(prog).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !s.is_empty()).then_some(s)
}

/// `versions.txt` of the kit: `name   version` per line.
pub fn parse_versions(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (n, v) = l.trim().split_once(char::is_whitespace)?;
            Some((n.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Fills everything but the timings and the plan.
pub fn describe(repo: &Path, peers_work: &Path, rampart: &Path) -> Meta {
    let repo_s = repo.display().to_string();
    let commit =
        output("git", &["-C", &repo_s, "rev-parse", "--short", "HEAD"]).unwrap_or_default();
    let dirty = output(
        "git",
        &[
            "-C",
            &repo_s,
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .is_some();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let mut versions = std::fs::read_to_string(peers_work.join("versions.txt"))
        .map(|t| parse_versions(&t))
        .unwrap_or_default();
    if let Some(v) = output(&rampart.display().to_string(), &["--version"]) {
        versions.push((
            "rampart".into(),
            v.trim_start_matches("rampart ").to_string(),
        ));
    }
    if let Some(v) = output("rustc", &["--version"]) {
        versions.push(("rustc".into(), v.trim_start_matches("rustc ").to_string()));
    }
    Meta {
        commit: if dirty {
            format!("{commit}+dirty")
        } else {
            commit
        },
        host: output("uname", &["-srm"]).unwrap_or_default(),
        cpu,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        load_avg_start: std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        versions,
        ..Meta::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_795_580_000), "2026-11-25 04:13:20");
        assert_eq!(stamp(1_795_580_000), "20261125-041320");
    }

    #[test]
    fn versions_file() {
        let v = parse_versions("wrk            4.1.0-3+b2\nhaproxy        2.6.12-1+deb12u3\n\n");
        assert_eq!(
            v,
            [
                ("wrk".into(), "4.1.0-3+b2".into()),
                ("haproxy".into(), "2.6.12-1+deb12u3".into())
            ]
        );
    }
}
