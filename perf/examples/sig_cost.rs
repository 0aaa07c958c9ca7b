//! Which of the default pack's signatures make scanning a request expensive:
//! compiles each signature alone, scans the peers kit's benign `get` or
//! `post` request (as `pack_judge` builds them) with it, and lists the
//! costliest, with the whole pack's scan time for comparison.
//!
//! Hyperscan's cost per byte depends far more on a few patterns (short
//! literal factors that fire all the time, wide character classes that keep
//! automata alive) than on the number of patterns; this finds them.
//!
//! ```sh
//! cargo run --release -p rampart-perf --example sig_cost -- post 20
//! ```

use std::time::Instant;

use rampart_matcher::{Matcher, Pattern, RequestView, ScanLimits, Scanner};
use rampart_policy_loader::{load, LoadOptions, PackSource};

const POST_BODY: &str = include_str!("pack_judge_body.json");

fn time_scan(m: &Matcher, view: &RequestView<'_>, rounds: usize) -> f64 {
    let mut s = Scanner::new(m, ScanLimits::default()).expect("scanner");
    let mut out = s.new_matches();
    s.scan_request(view, &mut out).expect("scan");
    let started = Instant::now();
    for _ in 0..rounds {
        s.scan_request(view, &mut out).expect("scan");
    }
    started.elapsed().as_nanos() as f64 / rounds as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "post".into());
    let top: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let policy = load(&LoadOptions {
        packs: vec![PackSource::EmbeddedDefault],
        ..LoadOptions::default()
    })
    .expect("default pack loads")
    .policy;
    let body = POST_BODY.trim_end().as_bytes();
    let len = body.len().to_string();
    let mut headers: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"localhost"),
        (b"User-Agent", b"peers-bench/1.0"),
        (b"Accept", b"application/json"),
    ];
    let view = if kind == "post" {
        headers.push((b"Content-Type", b"application/json"));
        headers.push((b"Content-Length", len.as_bytes()));
        RequestView {
            method: b"POST",
            target: b"/",
            headers: &headers,
            body,
        }
    } else {
        RequestView {
            method: b"GET",
            target: b"/",
            headers: &headers,
            body: b"",
        }
    };
    let rounds = if kind == "post" { 2_000 } else { 20_000 };
    let whole = time_scan(&policy.matcher, &view, rounds);
    // A signature's own cost: its time alone less that of a never-matching
    // literal with the same fields and transforms (which pays for extracting
    // and normalising the fields, and for the scan calls).
    let mut costs: Vec<(f64, &str)> = policy
        .signatures
        .iter()
        .filter_map(|info| {
            let m = Matcher::compile(std::slice::from_ref(&info.signature)).ok()?;
            let mut null = info.signature.clone();
            null.pattern = Pattern::Literal(b"\x01\x02never\x03".to_vec());
            let n = Matcher::compile(&[null]).ok()?;
            let own = time_scan(&m, &view, rounds / 4) - time_scan(&n, &view, rounds / 4);
            Some((own, info.signature.id.as_str()))
        })
        .collect();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    // By family (the id up to its first dot), compiled together: Hyperscan
    // costs are not additive, a family's database shows what it adds.
    let mut families: Vec<&str> = policy
        .signatures
        .iter()
        .map(|i| i.signature.id.split('.').next().unwrap_or(""))
        .collect();
    families.sort_unstable();
    families.dedup();
    let mut by_family: Vec<(f64, &str, usize)> = families
        .iter()
        .filter_map(|f| {
            let sigs: Vec<_> = policy
                .signatures
                .iter()
                .filter(|i| i.signature.id.split('.').next() == Some(f))
                .map(|i| i.signature.clone())
                .collect();
            let m = Matcher::compile(&sigs).ok()?;
            Some((time_scan(&m, &view, rounds / 4), *f, sigs.len()))
        })
        .collect();
    by_family.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ns, f, n) in &by_family {
        println!("family {f:<12} {n:>4} signatures {ns:>8.0} ns");
    }
    println!(
        "{kind}: whole pack {whole:.0} ns per scan; the {top} costliest of {} signatures alone (beyond extracting their fields):",
        costs.len()
    );
    for (ns, id) in costs.iter().take(top) {
        println!("{ns:>8.0} ns  {id}");
    }
}
