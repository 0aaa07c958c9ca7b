//! Matcher benchmark: Rampart's `scan_request` against raw Hyperscan (the
//! ceiling), `regex::RegexSet` and Aho-Corasick + regex, single-threaded, on
//! the same generated corpus and signature set; plus compile times and
//! allocations per scan.
//!
//! `cargo run -p rampart-perf --release --bin matcher-bench -- [--signatures 1000] [--requests 20000] [--seconds 3] [--seed 1] [--only rampart,raw,regexset,aho]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rampart_matcher::{Matcher, Pattern, ScanLimits, Scanner};
use rampart_perf::baseline::{AhoRegex, RawHyperscan, RegexSets};
use rampart_perf::corpus::{corpus, WireRequest};
use rampart_perf::fields::Fields;
use rampart_perf::sigset::{chains, signatures};

/// Counts allocations while `COUNTING` is on.
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards every call to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Args {
    signatures: usize,
    requests: usize,
    seconds: f64,
    seed: u64,
    only: Vec<String>,
}

fn die(msg: &str) -> ! {
    eprintln!("matcher-bench: {msg}");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        signatures: 1000,
        requests: 20_000,
        seconds: 3.0,
        seed: 1,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{flag} needs a value")))
        };
        let num = |s: String| {
            s.parse::<f64>()
                .unwrap_or_else(|_| die(&format!("not a number: {s}")))
        };
        match flag.as_str() {
            "--signatures" => a.signatures = num(value()) as usize,
            "--requests" => a.requests = num(value()) as usize,
            "--seconds" => a.seconds = num(value()),
            "--seed" => a.seed = num(value()) as u64,
            "--only" => a.only = value().split(',').map(str::to_string).collect(),
            "-h" | "--help" => {
                println!("usage: matcher-bench [--signatures N] [--requests N] [--seconds S] [--seed N] [--only rampart,raw,regexset,aho]");
                std::process::exit(0);
            }
            other => die(&format!("unknown argument {other}")),
        }
    }
    if a.requests == 0 || a.seconds <= 0.0 {
        die("--requests and --seconds must be positive");
    }
    a
}

/// What one engine did in its timed window.
struct Run {
    requests: usize,
    bytes: usize,
    elapsed: Duration,
    flagged: usize,
}

impl Run {
    fn gbps(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / 1e9
    }
    fn ns_per_request(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.requests as f64
    }
}

/// Calls `scan(i)` over the corpus round-robin: a warm-up of a fifth of the
/// budget, then the timed window of `seconds` (clock read every 16 requests).
/// `scan` returns the number of signatures that matched request `i`.
fn timed(sizes: &[usize], seconds: f64, mut scan: impl FnMut(usize) -> usize) -> Run {
    let n = sizes.len();
    let warm = Instant::now();
    let mut i = 0;
    while warm.elapsed().as_secs_f64() < seconds / 5.0 {
        for _ in 0..16 {
            black_box(scan(i % n));
            i += 1;
        }
    }
    let budget = Duration::from_secs_f64(seconds);
    let (mut requests, mut bytes, mut flagged) = (0, 0, 0);
    let start = Instant::now();
    let mut i = 0;
    loop {
        for _ in 0..16 {
            let k = i % n;
            if black_box(scan(k)) > 0 {
                flagged += 1;
            }
            bytes += sizes[k];
            requests += 1;
            i += 1;
        }
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return Run {
                requests,
                bytes,
                elapsed,
                flagged,
            };
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let args = parse_args();
    let want = |e: &str| args.only.is_empty() || args.only.iter().any(|o| o == e);

    let reqs = corpus(args.seed, args.requests);
    // Every engine reads the same bytes: each request's wire bytes, its
    // fields as slices of them (as the dataplane hands them over).
    let wires: Vec<WireRequest> = reqs.iter().map(WireRequest::new).collect();
    let refs: Vec<Vec<(&[u8], &[u8])>> = wires.iter().map(WireRequest::header_refs).collect();
    let sizes: Vec<usize> = wires.iter().map(|w| w.raw.len()).collect();
    let total_bytes: usize = sizes.iter().sum();
    let attacks = reqs.iter().filter(|r| r.attack.is_some()).count();

    let sigs = signatures(args.signatures);
    let regexes = sigs
        .iter()
        .filter(|s| matches!(s.pattern, Pattern::Regex(_)))
        .count();
    let lists = sigs
        .iter()
        .filter(|s| matches!(s.pattern, Pattern::Literals(_)))
        .count();
    let list_entries: usize = sigs
        .iter()
        .map(|s| match &s.pattern {
            Pattern::Literals(l) => l.len(),
            _ => 0,
        })
        .sum();

    // Compile: three cold compiles, then three loads from a warm cache.
    let mut compile_times = Vec::new();
    let mut matcher = None;
    for _ in 0..3 {
        let t = Instant::now();
        let m = Matcher::compile(&sigs).unwrap_or_else(|e| die(&format!("compile: {e}")));
        compile_times.push(t.elapsed());
        matcher = Some(m);
    }
    let matcher = matcher.expect("compiled three times");
    let cache_dir = tempfile::tempdir().expect("temp dir for the compile cache");
    Matcher::compile_cached(&sigs, cache_dir.path()).expect("cache fill");
    let mut cached_times = Vec::new();
    let mut all_from_cache = true;
    for _ in 0..3 {
        let t = Instant::now();
        let (m, outcome) =
            Matcher::compile_cached(&sigs, cache_dir.path()).expect("cached compile");
        cached_times.push(t.elapsed());
        all_from_cache &= m.report().from_cache;
        if let Some(w) = outcome.warning {
            eprintln!("cache warning: {w}");
        }
    }
    let report = matcher.report().clone();

    let mut scanner = Scanner::new(&matcher, ScanLimits::default()).expect("scanner");
    let mut out = scanner.new_matches();

    // Detection quality, and the warm-up pass for the allocation count.
    let (mut caught, mut false_pos) = (0, 0);
    for ((r, w), h) in reqs.iter().zip(&wires).zip(&refs) {
        scanner.scan_request(&w.view(h), &mut out).expect("scan");
        match (r.attack.is_some(), out.is_empty()) {
            (true, false) => caught += 1,
            (false, false) => false_pos += 1,
            _ => {}
        }
    }
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for (w, h) in wires.iter().zip(&refs) {
        scanner.scan_request(&w.view(h), &mut out).expect("scan");
    }
    COUNTING.store(false, Ordering::Relaxed);
    let allocs = ALLOCS.load(Ordering::Relaxed) as f64 / reqs.len() as f64;

    println!("# matcher-bench");
    println!(
        "signatures: {} ({} regex, {} single literals, {} literal lists with {} entries), {} transform chains",
        sigs.len(),
        regexes,
        sigs.len() - regexes - lists,
        lists,
        list_entries,
        chains(&sigs).len()
    );
    println!(
        "rampart: {} groups, {} databases ({:.1} MiB), {} prefiltered, {} body signatures not streamed",
        report.groups,
        report.databases,
        report.database_bytes as f64 / (1 << 20) as f64,
        report.prefiltered.len(),
        report.not_streamed.len()
    );
    println!(
        "corpus: seed {}, {} requests, {:.1} MiB, {} B/request mean, {} attacks ({:.1}%)",
        args.seed,
        reqs.len(),
        total_bytes as f64 / (1 << 20) as f64,
        total_bytes / reqs.len(),
        attacks,
        100.0 * attacks as f64 / reqs.len() as f64
    );
    println!(
        "detection (rampart): attacks flagged {}/{} ({:.1}%), benign flagged {}/{} ({:.2}%)",
        caught,
        attacks,
        100.0 * caught as f64 / attacks.max(1) as f64,
        false_pos,
        reqs.len() - attacks,
        100.0 * false_pos as f64 / (reqs.len() - attacks).max(1) as f64
    );
    println!(
        "compile: Matcher::compile median {} ({}), compile_cached warm median {} ({}){}",
        ms(median(compile_times.clone())),
        compile_times
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", "),
        ms(median(cached_times.clone())),
        cached_times
            .iter()
            .map(|d| ms(*d))
            .collect::<Vec<_>>()
            .join(", "),
        if all_from_cache {
            ""
        } else {
            " — NOT from cache"
        }
    );
    println!("allocations per scanned request (rampart, warm): {allocs:.3}");

    let mut rows: Vec<(&str, Run)> = Vec::new();
    if want("rampart") {
        let run = timed(&sizes, args.seconds, |i| {
            scanner
                .scan_request(&wires[i].view(&refs[i]), &mut out)
                .expect("scan");
            out.len()
        });
        rows.push(("rampart scan_request", run));
    }
    if want("raw") {
        let mut raw =
            RawHyperscan::new(&sigs).unwrap_or_else(|e| die(&format!("raw hyperscan: {e}")));
        let run = timed(&sizes, args.seconds, |i| {
            raw.scan(&wires[i].raw).expect("raw scan")
        });
        rows.push(("raw hyperscan (2 dbs, raw bytes)", run));
    }
    let mut fields = Fields::with_capacity(1 << 16);
    if want("regexset") {
        let mut sets = RegexSets::new(&sigs).unwrap_or_else(|e| die(&format!("regex set: {e}")));
        report_excluded("regexset", &sets.excluded);
        let run = timed(&sizes, args.seconds, |i| {
            fields.extract(&wires[i].view(&refs[i]));
            sets.scan(&fields)
        });
        rows.push(("regex::RegexSet per chain", run));
    }
    if want("aho") {
        let mut aho = AhoRegex::new(&sigs).unwrap_or_else(|e| die(&format!("aho-corasick: {e}")));
        report_excluded("aho", &aho.excluded);
        let run = timed(&sizes, args.seconds, |i| {
            fields.extract(&wires[i].view(&refs[i]));
            aho.scan(&fields)
        });
        rows.push(("aho-corasick + regex", run));
    }

    let rampart = rows
        .iter()
        .find(|(n, _)| n.starts_with("rampart"))
        .map(|(_, r)| r.gbps());
    println!();
    println!("| engine | requests | s | GB/s | ns/request | flagged % | rampart ÷ engine |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, r) in &rows {
        let ratio = match rampart {
            Some(g) if !name.starts_with("rampart") => format!("{:.2}×", g / r.gbps()),
            _ => "—".into(),
        };
        println!(
            "| {} | {} | {:.2} | {:.3} | {:.0} | {:.2} | {} |",
            name,
            r.requests,
            r.elapsed.as_secs_f64(),
            r.gbps(),
            r.ns_per_request(),
            100.0 * r.flagged as f64 / r.requests as f64,
            ratio
        );
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let ratio_to = |prefix: &str| {
        let r = rows.iter().find(|(n, _)| n.starts_with(prefix))?;
        Some(rampart? / r.1.gbps())
    };
    if let Some(x) = ratio_to("raw") {
        println!(
            "target rampart ≥ 0.8× raw hyperscan: {:.2}× — {}",
            x,
            verdict(x >= 0.8)
        );
    }
    if let Some(x) = ratio_to("regex::") {
        println!(
            "target rampart ≥ 5× RegexSet: {:.2}× — {}",
            x,
            verdict(x >= 5.0)
        );
    }
    if let Some(x) = ratio_to("aho") {
        println!(
            "target rampart ≥ 3× aho-corasick + regex: {:.2}× — {}",
            x,
            verdict(x >= 3.0)
        );
    }
    let c = median(compile_times).as_secs_f64();
    let w = median(cached_times).as_secs_f64();
    println!(
        "target compile ≤ 1 s (for 1,000): {:.3} s — {}",
        c,
        verdict(c <= 1.0)
    );
    println!(
        "target warm-cache compile ≤ 100 ms: {:.1} ms — {}",
        w * 1e3,
        verdict(w <= 0.1 && all_from_cache)
    );
    println!(
        "target 0 allocations per request: {allocs:.3} — {}",
        verdict(allocs == 0.0)
    );
}

fn report_excluded(engine: &str, excluded: &[(String, String)]) {
    if excluded.is_empty() {
        println!("{engine}: no signature excluded (all compile with the regex crate)");
        return;
    }
    println!(
        "{engine}: {} signature(s) excluded (the regex crate rejects them):",
        excluded.len()
    );
    for (id, why) in excluded {
        println!("  {id}: {}", why.lines().last().unwrap_or(why));
    }
}
