//! The matcher on the generated API corpus: `Scanner::scan_request` per
//! request with 500 and 1,000 signatures, and the raw-Hyperscan ceiling (one
//! scan of each request's bytes per database) for 1,000. Throughput in bytes
//! of raw HTTP requests. The fuller comparison (regex baselines, compile
//! times, allocations) is `matcher-bench`.
//!
//! `cargo bench -p rampart-perf --bench matcher`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rampart_matcher::{Matcher, ScanLimits, Scanner};
use rampart_perf::baseline::RawHyperscan;
use rampart_perf::corpus::{corpus, WireRequest};
use rampart_perf::sigset::signatures;

const REQUESTS: usize = 2000;

fn scan(c: &mut Criterion) {
    let reqs = corpus(1, REQUESTS);
    // Fields as slices of each request's wire bytes, as the dataplane has them.
    let wires: Vec<WireRequest> = reqs.iter().map(WireRequest::new).collect();
    let refs: Vec<Vec<(&[u8], &[u8])>> = wires.iter().map(WireRequest::header_refs).collect();
    let bytes: usize = wires.iter().map(|w| w.raw.len()).sum();
    let mut g = c.benchmark_group("matcher");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    for n in [500, 1000] {
        let m = Matcher::compile(&signatures(n)).expect("signature set compiles");
        let mut scanner = Scanner::new(&m, ScanLimits::default()).expect("scanner");
        let mut out = scanner.new_matches();
        g.bench_function(format!("scan_request/{n}"), |b| {
            b.iter(|| {
                let mut hits = 0;
                for (w, h) in wires.iter().zip(&refs) {
                    scanner.scan_request(&w.view(h), &mut out).expect("scan");
                    hits += out.len();
                }
                black_box(hits)
            })
        });
    }
    let mut raw = RawHyperscan::new(&signatures(1000)).expect("raw databases compile");
    g.bench_function("raw_hyperscan/1000", |b| {
        b.iter(|| {
            let mut hits = 0;
            for w in &wires {
                hits += raw.scan(&w.raw).expect("scan");
            }
            black_box(hits)
        })
    });
    g.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
