//! Writes a generated request corpus as raw HTTP/1.1 (a valid pipeline:
//! every body is Content-Length framed) for inspection or replay.
//!
//! `rampart-corpus [--seed 1] [--count 1000] [--out corpus.http]` (stdout without `--out`).

use std::collections::BTreeMap;
use std::io::Write;

use rampart_perf::corpus::corpus;

fn main() {
    let mut seed = 1u64;
    let mut count = 1000usize;
    let mut out: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--seed" => {
                seed = value("--seed")
                    .parse()
                    .unwrap_or_else(|_| die("--seed: not a number"))
            }
            "--count" => {
                count = value("--count")
                    .parse()
                    .unwrap_or_else(|_| die("--count: not a number"))
            }
            "--out" => out = Some(value("--out")),
            "-h" | "--help" => {
                println!("usage: rampart-corpus [--seed N] [--count N] [--out FILE]");
                return;
            }
            other => die(&format!("unknown argument {other}")),
        }
    }
    let reqs = corpus(seed, count);
    let mut bytes = Vec::new();
    let mut families: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &reqs {
        bytes.extend_from_slice(&r.raw());
        if let Some(f) = r.attack {
            *families.entry(f).or_default() += 1;
        }
    }
    let written = match &out {
        Some(path) => std::fs::write(path, &bytes),
        None => std::io::stdout().lock().write_all(&bytes),
    };
    if let Err(e) = written {
        die(&format!("write: {e}"));
    }
    let attacks: usize = families.values().sum();
    eprintln!(
        "{} requests, {} bytes ({} B mean), {} attacks: {:?}",
        reqs.len(),
        bytes.len(),
        bytes.len() / reqs.len().max(1),
        attacks,
        families
    );
}

fn die(msg: &str) -> ! {
    eprintln!("rampart-corpus: {msg}");
    std::process::exit(2)
}
