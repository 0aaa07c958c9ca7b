//! One thread's tally of a run — histograms and counters it owns alone —
//! and how the threads' tallies become one [`Report`].

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::report::{ClassCounts, Errors, Latency, Outcomes, Report};

/// Highest status code tallied one by one; anything above lands in the last slot.
const STATUS_SLOTS: usize = 600;

/// How a request that got no response failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Closed,
    Io,
    Timeout,
    Parse,
    Tls,
}

/// A thread's measurements.
pub struct Tally {
    pub latency: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
    status: Vec<u64>,
    blocked: Vec<bool>,
    pub outcomes: Outcomes,
    pub classes: Vec<ClassCounts>,
    pub errors: Errors,
    pub requests: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connections_opened: u64,
    /// Seconds this thread measured for.
    pub elapsed_s: f64,
    /// What the first failure said (connect and socket errors, TLS alerts).
    pub first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 1 h at 3 significant digits: ~200 KiB, allocated once per
    // thread. Constant bounds that hdrhistogram accepts: this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid constant histogram bounds")
}

impl Tally {
    pub fn new(classes: usize, blocked_status: &[u16]) -> Tally {
        let mut blocked = vec![false; STATUS_SLOTS];
        for &s in blocked_status {
            if let Some(b) = blocked.get_mut(s as usize) {
                *b = true;
            }
        }
        Tally {
            latency: histogram(),
            uncorrected: histogram(),
            status: vec![0; STATUS_SLOTS],
            blocked,
            outcomes: Outcomes::default(),
            classes: vec![ClassCounts::default(); classes],
            errors: Errors::default(),
            requests: 0,
            bytes_sent: 0,
            bytes_received: 0,
            connections_opened: 0,
            elapsed_s: 0.0,
            first_error: None,
        }
    }

    /// A response arrived: `corrected_us` from when it was due, `actual_us`
    /// from when it was written.
    pub fn response(&mut self, status: u16, class: u16, corrected_us: u64, actual_us: u64) {
        self.requests += 1;
        self.latency.saturating_record(corrected_us.max(1));
        self.uncorrected.saturating_record(actual_us.max(1));
        let slot = (status as usize).min(STATUS_SLOTS - 1);
        self.status[slot] += 1;
        let c = &mut self.classes[class as usize];
        c.responses += 1;
        if self.blocked[slot] {
            self.outcomes.blocked += 1;
            c.blocked += 1;
        } else if status < 400 {
            self.outcomes.passed += 1;
            c.passed += 1;
        } else if status < 500 {
            self.outcomes.client_error += 1;
        } else {
            self.outcomes.server_error += 1;
        }
    }

    /// A request failed without a response (or a connection failed to open:
    /// `class` is then `None`).
    pub fn failure(&mut self, kind: Failure, class: Option<u16>) {
        let e = &mut self.errors;
        match kind {
            Failure::Connect => e.connect += 1,
            Failure::Closed => e.closed += 1,
            Failure::Io => e.io += 1,
            Failure::Timeout => e.timeout += 1,
            Failure::Parse => e.parse += 1,
            Failure::Tls => e.tls += 1,
        }
        if let Some(c) = class {
            self.classes[c as usize].failed += 1;
        }
    }

    /// Adds another thread's tally to this one.
    pub fn merge(&mut self, o: &Tally) {
        let _ = self.latency.add(&o.latency);
        let _ = self.uncorrected.add(&o.uncorrected);
        for (a, b) in self.status.iter_mut().zip(&o.status) {
            *a += b;
        }
        let (a, b) = (&mut self.outcomes, &o.outcomes);
        a.passed += b.passed;
        a.blocked += b.blocked;
        a.client_error += b.client_error;
        a.server_error += b.server_error;
        for (a, b) in self.classes.iter_mut().zip(&o.classes) {
            a.responses += b.responses;
            a.passed += b.passed;
            a.blocked += b.blocked;
            a.failed += b.failed;
        }
        let (a, b) = (&mut self.errors, &o.errors);
        a.connect += b.connect;
        a.closed += b.closed;
        a.io += b.io;
        a.timeout += b.timeout;
        a.parse += b.parse;
        a.tls += b.tls;
        self.requests += o.requests;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.connections_opened += o.connections_opened;
        self.elapsed_s = self.elapsed_s.max(o.elapsed_s);
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
    }

    /// The report fields this tally fills (the caller adds target and config).
    pub fn fill(&self, r: &mut Report, class_names: &[String], open_loop: bool) {
        r.elapsed_s = self.elapsed_s;
        r.requests = self.requests;
        r.throughput_rps = if self.elapsed_s > 0.0 {
            self.requests as f64 / self.elapsed_s
        } else {
            0.0
        };
        r.bytes_sent = self.bytes_sent;
        r.bytes_received = self.bytes_received;
        r.connections_opened = self.connections_opened;
        r.latency_us = latency(&self.latency);
        r.uncorrected_latency_us = open_loop.then(|| latency(&self.uncorrected));
        r.status = self
            .status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code.to_string(), *n))
            .collect::<BTreeMap<_, _>>();
        r.outcomes = self.outcomes.clone();
        r.classes = class_names
            .iter()
            .cloned()
            .zip(self.classes.iter().cloned())
            .collect();
        r.errors = self.errors.clone();
        r.first_error.clone_from(&self.first_error);
    }
}

/// Percentiles of `h` (all zero when it is empty).
pub fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let q = |p: f64| h.value_at_quantile(p / 100.0);
    let points = [
        0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95,
        99.99, 100.0,
    ];
    Latency {
        mean: h.mean(),
        stdev: h.stdev(),
        p50: q(50.0),
        p75: q(75.0),
        p90: q(90.0),
        p99: q(99.0),
        p999: q(99.9),
        p9999: q(99.99),
        max: h.max(),
        distribution: points.iter().map(|&p| (p, q(p))).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_classes_and_merge() {
        let mut a = Tally::new(2, &[403, 429]);
        a.response(200, 0, 1000, 900);
        a.response(403, 1, 500, 500);
        a.response(404, 0, 10, 10);
        a.failure(Failure::Closed, Some(1));
        let mut b = Tally::new(2, &[403, 429]);
        b.response(503, 0, 2_000_000, 2_000_000);
        b.failure(Failure::Connect, None);
        a.merge(&b);
        let mut r = Report::default();
        a.fill(&mut r, &["benign".into(), "attack".into()], false);
        assert_eq!(r.requests, 4);
        assert_eq!(
            (
                r.outcomes.passed,
                r.outcomes.blocked,
                r.outcomes.client_error,
                r.outcomes.server_error
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(r.status["403"], 1);
        assert_eq!(
            (r.classes["attack"].blocked, r.classes["attack"].failed),
            (1, 1)
        );
        assert_eq!(
            (r.errors.closed, r.errors.connect, r.errors.total()),
            (1, 1, 2)
        );
        assert!(r.latency_us.max >= 1_990_000, "{}", r.latency_us.max);
        assert!(r.uncorrected_latency_us.is_none());
    }
}
