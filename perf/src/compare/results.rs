//! Everything one comparison run produced, saved as `results.json` so the
//! report, plots and docs section can be rendered again (`--from`) without
//! measuring again.

use serde::{Deserialize, Serialize};

use super::check::WafCheck;
use super::instr::InstrRow;
use super::machine::Meta;
use super::matcher::MatcherResult;
use super::measure::Sample;
use super::stats::Row;

/// One open-loop run of the latency-against-offered-load sweep.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LoadPoint {
    pub setup: String,
    /// Offered rate as a fraction of HAProxy's closed-loop maximum.
    pub fraction: f64,
    pub offered_rps: f64,
    /// What the server actually answered.
    pub rps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub errors: u64,
}

impl LoadPoint {
    pub fn from_sample(s: &Sample, fraction: f64, offered: f64) -> LoadPoint {
        let l = &s.report.latency_us;
        LoadPoint {
            setup: s.setup.clone(),
            fraction,
            offered_rps: s.report.offered_rps.unwrap_or(offered),
            rps: s.report.throughput_rps,
            p50_us: l.p50 as f64,
            p90_us: l.p90 as f64,
            p99_us: l.p99 as f64,
            p999_us: l.p999 as f64,
            errors: s.report.errors.total(),
        }
    }
}

/// The whole run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Results {
    pub meta: Meta,
    /// The main table: `(load, setup)` cells in plan order.
    pub rows: Vec<Row>,
    pub waf: Vec<WafCheck>,
    pub latency_vs_load: Vec<LoadPoint>,
    /// 1 worker against 2, unpinned.
    pub scaling: Vec<Row>,
    pub matcher: Option<MatcherResult>,
    pub instr: Vec<InstrRow>,
    /// The generated config of the default-pack instance, for the report.
    pub example_config: String,
    /// What went wrong during the run (failed runs, WAF checks, a busy box).
    pub notes: Vec<String>,
    /// What the numbers themselves say is suspect (errors, non-2xx,
    /// disturbed rounds); derived from the rows, so recomputed by `--from`.
    #[serde(default)]
    pub health: Vec<String>,
    /// Every run, raw.
    pub samples: Vec<Sample>,
}
