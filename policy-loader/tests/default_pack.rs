//! The default pack embedded in the binary: it loads, it is as large as
//! promised, every policy carries a `match` and a `no_match` example, and
//! every example gets the verdict its policy promises (`rampart-policy test
//! --self` in the test suite).

use rampart_policy_loader::{load, self_test, LoadOptions, Mode, PackSource};

#[test]
fn the_default_pack_loads_and_every_example_passes() {
    let loaded = load(&LoadOptions {
        packs: vec![PackSource::EmbeddedDefault],
        ..LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("the embedded default pack does not load:\n{e}"));
    let p = loaded.policy;
    assert!(
        p.policies.len() >= 300,
        "the default pack has {} policies; at least 300 are promised",
        p.policies.len()
    );
    assert!(p
        .policies
        .iter()
        .all(|x| x.mode != Mode::Off || !x.examples.is_empty()));
    let r = self_test(&p).expect("self test runs");
    let failures: Vec<String> = r
        .failures
        .iter()
        .map(|f| format!("{} ({}): {}", f.policy, f.at, f.message))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} examples fail:\n{}",
        failures.len(),
        r.examples,
        failures.join("\n")
    );
    assert!(
        r.missing.is_empty(),
        "policies without both a match and a no_match example: {:?}",
        r.missing
    );
    assert!(r.examples >= 2 * p.policies.len());
}

#[test]
fn the_pack_on_disk_is_the_embedded_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs/default");
    let disk = load(&LoadOptions {
        packs: vec![PackSource::Dir(dir)],
        ..LoadOptions::default()
    })
    .expect("packs/default loads");
    let embedded = load(&LoadOptions {
        packs: vec![PackSource::EmbeddedDefault],
        ..LoadOptions::default()
    })
    .expect("embedded loads");
    assert!(disk.policy.changes_since(&embedded.policy).is_empty());
    assert_eq!(disk.policy.policies.len(), embedded.policy.policies.len());
}

/// Which verdicts of the default pack the gateway may give on the head alone
/// (printed: how far into the evaluation order head-only verdicts are final).
#[test]
fn head_final_verdicts_of_the_default_pack() {
    let p = load(&LoadOptions {
        packs: vec![PackSource::EmbeddedDefault],
        ..LoadOptions::default()
    })
    .expect("loads")
    .policy;
    let finals: Vec<&str> = (0..p.policies.len())
        .filter(|&i| p.decided_by_head(i))
        .map(|i| p.policies[i].id.as_str())
        .collect();
    println!(
        "head-final: {} of {}: {finals:?}",
        finals.len(),
        p.policies.len()
    );
    // Attacks in the target and in headers stop a request before its body
    // is read: the scanner User-Agent and path traversal policies at least.
    for id in ["RP-TOOL-001", "RP-PT-001", "RP-SQLI-001", "RP-XSS-001"] {
        let (i, _) = p.policy(id).unwrap_or_else(|| panic!("{id} exists"));
        assert!(p.decided_by_head(i), "{id} decides on the head");
    }
}
