//! From samples to table rows: medians over rounds, min..max, ratios to the
//! load's base setup (HAProxy), errors summed, the worst foreign CPU.

use serde::{Deserialize, Serialize};

use super::measure::{Sample, DISTURBED_PCT};

/// One `(setup, load)` cell, aggregated over its rounds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub setup: String,
    pub load: String,
    pub rounds: usize,
    /// Rounds left out because other processes disturbed them.
    #[serde(default)]
    pub dropped: usize,
    /// Median, min and max of the rounds' req/s.
    pub rps: f64,
    pub rps_min: f64,
    pub rps_max: f64,
    /// `rps / base's rps` for the same load.
    pub vs_base: Option<f64>,
    /// Medians over rounds of each percentile, µs.
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub server_cpu_us: f64,
    pub backend_cpu_us: Option<f64>,
    /// Failed requests (connect, closed, timeout, ...) over all rounds.
    pub errors: u64,
    /// Responses with a status outside 2xx over all rounds.
    pub non_2xx: u64,
    /// Responses counted as blocked (403/429) over all rounds (disturbed
    /// ones included, as for errors).
    pub blocked: u64,
    pub foreign_cpu_pct_max: f64,
    /// The latency distribution `(percentile, µs)` of the median round.
    pub distribution: Vec<(f64, u64)>,
}

/// The median (mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn non_2xx(s: &Sample) -> u64 {
    s.report
        .status
        .iter()
        .filter(|(code, _)| !code.starts_with('2'))
        .map(|(_, n)| n)
        .sum()
}

/// Aggregates the samples of one `(setup, load)` cell (rounds ≥ 1).
pub fn row(all: &[&Sample]) -> Row {
    let Some(first) = all.first() else {
        return Row::default();
    };
    // Rounds that other processes disturbed are left out while at least one
    // clean round remains: they measure the neighbours, not the server.
    let clean: Vec<&Sample> = all
        .iter()
        .copied()
        .filter(|s| s.foreign_cpu_pct <= DISTURBED_PCT)
        .collect();
    let samples: &[&Sample] = if clean.is_empty() { all } else { &clean };
    let get = |f: &dyn Fn(&Sample) -> f64| samples.iter().map(|s| f(s)).collect::<Vec<_>>();
    let rps = get(&|s| s.report.throughput_rps);
    let med = median(&rps);
    // The round whose throughput is closest to the median gives the curve.
    let mid = samples
        .iter()
        .min_by(|a, b| {
            (a.report.throughput_rps - med)
                .abs()
                .total_cmp(&(b.report.throughput_rps - med).abs())
        })
        .expect("non-empty");
    Row {
        setup: first.setup.clone(),
        load: first.load.clone(),
        rounds: samples.len(),
        dropped: all.len() - samples.len(),
        rps: med,
        rps_min: rps.iter().copied().fold(f64::INFINITY, f64::min),
        rps_max: rps.iter().copied().fold(0.0, f64::max),
        vs_base: None,
        p50_us: median(&get(&|s| s.report.latency_us.p50 as f64)),
        p90_us: median(&get(&|s| s.report.latency_us.p90 as f64)),
        p99_us: median(&get(&|s| s.report.latency_us.p99 as f64)),
        p999_us: median(&get(&|s| s.report.latency_us.p999 as f64)),
        server_cpu_us: median(&get(&|s| s.server_cpu_us)),
        backend_cpu_us: first
            .backend_cpu_us
            .map(|_| median(&get(&|s| s.backend_cpu_us.unwrap_or(0.0)))),
        errors: all.iter().map(|s| s.report.errors.total()).sum(),
        non_2xx: all.iter().map(|s| non_2xx(s)).sum(),
        blocked: all.iter().map(|s| s.report.outcomes.blocked).sum(),
        foreign_cpu_pct_max: get(&|s| s.foreign_cpu_pct).into_iter().fold(0.0, f64::max),
        distribution: mid.report.latency_us.distribution.clone(),
    }
}

/// Rows for every `(load, setup)` in `order`, with ratios to each load's
/// base setup (`base(load)`); cells without samples are skipped.
pub fn rows(
    samples: &[Sample],
    order: &[(&str, &str)],
    base: impl Fn(&str) -> &'static str,
) -> Vec<Row> {
    let mut out: Vec<Row> = order
        .iter()
        .filter_map(|(load, setup)| {
            let cell: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.load == *load && s.setup == *setup)
                .collect();
            (!cell.is_empty()).then(|| row(&cell))
        })
        .collect();
    let bases: Vec<(String, f64)> = out
        .iter()
        .filter(|r| r.setup == base(&r.load))
        .map(|r| (r.load.clone(), r.rps))
        .collect();
    for r in &mut out {
        r.vs_base = bases
            .iter()
            .find(|(l, _)| *l == r.load)
            .filter(|(_, b)| *b > 0.0)
            .map(|(_, b)| r.rps / b);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::loadgen::report::{Errors, Latency, Outcomes};
    use crate::loadgen::Report;

    /// A synthetic sample: `rps` over 10 s, p99 = 2 × p50.
    pub fn sample(setup: &str, load: &str, round: u32, rps: f64, p50: u64) -> Sample {
        let requests = (rps * 10.0) as u64;
        let mut status = std::collections::BTreeMap::new();
        status.insert("200".to_string(), requests);
        Sample {
            setup: setup.into(),
            load: load.into(),
            round,
            report: Report {
                tool: "rampart-bench".into(),
                mode: "closed".into(),
                elapsed_s: 10.0,
                requests,
                throughput_rps: rps,
                latency_us: Latency {
                    p50,
                    p90: p50 * 3 / 2,
                    p99: p50 * 2,
                    p999: p50 * 3,
                    max: p50 * 5,
                    distribution: vec![
                        (0.0, p50 / 2),
                        (50.0, p50),
                        (99.0, p50 * 2),
                        (100.0, p50 * 5),
                    ],
                    ..Latency::default()
                },
                status,
                outcomes: Outcomes {
                    passed: requests,
                    ..Outcomes::default()
                },
                errors: Errors::default(),
                ..Report::default()
            },
            server_cpu_us: 1e6 / rps,
            backend_cpu_us: Some(8.0),
            foreign_cpu_pct: round as f64,
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn rows_take_medians_and_ratios_to_the_base() {
        let mut samples = vec![
            sample("B", "get", 1, 40_000.0, 1500),
            sample("B", "get", 2, 38_000.0, 1600),
            sample("B", "get", 3, 42_000.0, 1400),
            sample("RP", "get", 1, 30_000.0, 2000),
            sample("RP", "get", 2, 34_000.0, 1800),
            sample("RP", "get", 3, 32_000.0, 1900),
            sample("HT", "tls", 1, 30_000.0, 2000),
            sample("RTP", "tls", 1, 45_000.0, 1000),
        ];
        samples[4].report.errors.timeout = 2;
        samples[4].report.status.insert("503".into(), 7);
        samples[4].report.outcomes.blocked = 1;
        let order = [
            ("get", "B"),
            ("get", "RP"),
            ("get", "X"),
            ("tls", "HT"),
            ("tls", "RTP"),
        ];
        let base = |l: &str| if l == "tls" { "HT" } else { "B" };
        let r = rows(&samples, &order, base);
        assert_eq!(r.len(), 4, "the cell without samples is skipped");
        assert_eq!(r[0].rps, 40_000.0);
        assert_eq!((r[0].rps_min, r[0].rps_max), (38_000.0, 42_000.0));
        assert_eq!(r[0].vs_base, Some(1.0));
        assert_eq!(r[1].rps, 32_000.0);
        assert_eq!(r[1].vs_base, Some(0.8));
        assert_eq!(r[1].p50_us, 1900.0);
        assert_eq!(r[1].p99_us, 3800.0);
        assert_eq!((r[1].errors, r[1].non_2xx, r[1].blocked), (2, 7, 1));
        assert_eq!(r[1].foreign_cpu_pct_max, 3.0);
        assert_eq!(r[1].rounds, 3);
        // The distribution is the median round's (round 3, 32k req/s).
        assert_eq!(r[1].distribution[1], (50.0, 1900));
        assert_eq!(r[3].vs_base, Some(1.5));
        assert_eq!(r[1].dropped, 0);
        assert_eq!(r[1].backend_cpu_us, Some(8.0));
    }

    #[test]
    fn disturbed_rounds_are_left_out_while_a_clean_one_remains() {
        let mut samples = vec![
            sample("B", "get", 1, 40_000.0, 1500),
            sample("B", "get", 2, 20_000.0, 3000),
            sample("B", "get", 3, 41_000.0, 1400),
        ];
        samples[1].foreign_cpu_pct = 60.0;
        samples[1].report.errors.closed = 1;
        let r = rows(&samples, &[("get", "B")], |_| "B");
        assert_eq!((r[0].rounds, r[0].dropped), (2, 1));
        assert_eq!(r[0].rps, 40_500.0);
        assert_eq!(r[0].rps_min, 40_000.0);
        assert_eq!(r[0].errors, 1, "errors of a dropped round still count");
        assert_eq!(r[0].foreign_cpu_pct_max, 3.0);
        // All disturbed: all kept, and the foreign CPU says so.
        for s in &mut samples {
            s.foreign_cpu_pct = 50.0;
        }
        let r = rows(&samples, &[("get", "B")], |_| "B");
        assert_eq!((r[0].rounds, r[0].dropped), (3, 0));
        assert_eq!(r[0].foreign_cpu_pct_max, 50.0);
    }
}
