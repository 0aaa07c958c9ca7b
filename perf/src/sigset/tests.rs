//! The set compiles at every size the benchmarks use, stays realistic (six
//! chains, a quarter regexes), and detects the corpus' attacks but not its
//! benign traffic.

use std::collections::{BTreeMap, HashSet};

use rampart_matcher::{Matcher, Pattern, ScanLimits, Scanner};

use super::*;
use crate::corpus::{corpus, header_refs};

#[test]
fn exact_sizes_unique_ids_and_few_chains() {
    assert!(max_signatures() >= 2000, "{}", max_signatures());
    for n in [100, 250, 500, 1000, 1500, 2000] {
        let s = signatures(n);
        assert_eq!(s.len(), n);
        let ids: HashSet<&str> = s.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), n, "duplicate ids at n = {n}");
        let regexes = s
            .iter()
            .filter(|s| matches!(s.pattern, Pattern::Regex(_)))
            .count();
        assert_eq!(regexes, n / 4);
        assert!(chains(&s).len() <= 6, "{:?}", chains(&s));
        let lists: Vec<usize> = s
            .iter()
            .filter_map(|s| match &s.pattern {
                Pattern::Literals(l) => Some(l.len()),
                _ => None,
            })
            .collect();
        assert!(
            lists.iter().filter(|&&l| l >= 100).count() >= 5,
            "{lists:?}"
        );
        assert_eq!(signatures(n), s, "deterministic");
    }
}

#[test]
fn compiles_at_every_benchmark_size() {
    for n in [100, 500, 1000, 2000] {
        let m = Matcher::compile(&signatures(n)).unwrap_or_else(|e| panic!("n = {n}: {e}"));
        assert_eq!(m.len(), n);
    }
}

#[test]
fn hand_rules_are_in_the_common_subset() {
    for s in signatures(2000) {
        if let Pattern::Regex(p) = &s.pattern {
            regex::bytes::RegexBuilder::new(p)
                .unicode(false)
                .case_insensitive(s.flags.caseless)
                .build()
                .unwrap_or_else(|e| panic!("{}: {e}", s.id));
        }
    }
}

#[test]
fn detects_attacks_and_spares_benign_traffic() {
    let sigs = signatures(1000);
    let m = Matcher::compile(&sigs).expect("compile");
    let mut scanner = Scanner::new(&m, ScanLimits::default()).expect("scanner");
    let mut out = scanner.new_matches();
    let reqs = corpus(1, 20_000);
    let refs = header_refs(&reqs);
    let (mut attacks, mut caught, mut benign, mut fp) = (0, 0, 0, 0);
    let mut missed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut false_positives = Vec::new();
    for (r, h) in reqs.iter().zip(&refs) {
        scanner.scan_request(&r.view(h), &mut out).expect("scan");
        let hit = !out.is_empty();
        match r.attack {
            Some(family) => {
                attacks += 1;
                if hit {
                    caught += 1;
                } else {
                    missed
                        .entry(family)
                        .or_default()
                        .push(String::from_utf8_lossy(&r.raw()).into_owned());
                }
            }
            None => {
                benign += 1;
                if hit {
                    fp += 1;
                    let ids: Vec<String> = out
                        .iter()
                        .map(|x| {
                            format!(
                                "{} in {}[{}] `{}`",
                                m.signature_id(x.signature).unwrap_or("?"),
                                x.kind,
                                String::from_utf8_lossy(out.name(x)),
                                String::from_utf8_lossy(out.fragment(x))
                            )
                        })
                        .collect();
                    false_positives.push(ids.join(", "));
                }
            }
        }
    }
    let rate = caught as f64 / attacks as f64;
    let fp_rate = fp as f64 / benign as f64;
    for (family, reqs) in &missed {
        eprintln!("missed {family}: {}", reqs.len());
        for r in reqs.iter().take(3) {
            eprintln!("---\n{}", r.escape_debug());
        }
    }
    for f in false_positives.iter().take(30) {
        eprintln!("false positive: {f}");
    }
    eprintln!("attacks caught {caught}/{attacks} ({rate:.3}); false positives {fp}/{benign} ({fp_rate:.4})");
    assert!(rate >= 0.80, "attack hit rate {rate:.3}");
    assert!(fp_rate <= 0.02, "false-positive rate {fp_rate:.4}");
}
