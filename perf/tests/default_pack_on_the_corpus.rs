//! The default pack against the generated traffic corpus: how much benign API
//! traffic it would stop (false positives a security team would have to tune
//! away) and how much of the attack traffic it stops. Prints the numbers and
//! holds them to floors, so a pack change that starts blocking ordinary
//! requests fails the suite.

use std::collections::BTreeMap;

use rampart_perf::corpus::corpus;
use rampart_policy_loader::{load, DryFacts, DryRunner, LoadOptions, PackSource, RawRequest};

#[test]
fn default_pack_stops_attacks_and_spares_benign_traffic() {
    let p = load(&LoadOptions {
        packs: vec![PackSource::EmbeddedDefault],
        ..LoadOptions::default()
    })
    .expect("default pack loads")
    .policy;
    let mut runner = DryRunner::new(&p).expect("runner");
    let facts = DryFacts::default();
    let reqs = corpus(7, 4000);
    let (mut benign, mut benign_stopped, mut attacks, mut attacks_stopped) =
        (0u32, 0u32, 0u32, 0u32);
    let mut fp_by_policy: BTreeMap<String, u32> = BTreeMap::new();
    let mut missed_by_family: BTreeMap<&str, u32> = BTreeMap::new();
    for r in &reqs {
        let raw = RawRequest {
            method: r.method.as_bytes().to_vec(),
            target: r.target.clone(),
            headers: r.headers.clone(),
            body: r.body.clone(),
        };
        let run = runner.run(&raw, &facts, false).expect("judge");
        let stopped = run.verdict.decision;
        match r.attack {
            None => {
                benign += 1;
                if let Some(i) = stopped {
                    if benign_stopped < 3 {
                        let ct = r
                            .headers
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(b"content-type"))
                            .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
                        println!(
                            "false positive {}: {} {} ({ct:?})",
                            p.policies[i].id,
                            r.method,
                            String::from_utf8_lossy(&r.target)
                        );
                    }
                    benign_stopped += 1;
                    *fp_by_policy.entry(p.policies[i].id.clone()).or_default() += 1;
                }
            }
            Some(family) => {
                attacks += 1;
                if stopped.is_some() {
                    attacks_stopped += 1;
                } else {
                    if std::env::var_os("SHOW_MISSED").is_some() {
                        println!(
                            "missed {family}: {} {} body={:?}",
                            r.method,
                            String::from_utf8_lossy(&r.target),
                            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
                        );
                        for (n, v) in &r.headers {
                            println!(
                                "    {}: {}",
                                String::from_utf8_lossy(n),
                                String::from_utf8_lossy(&v[..v.len().min(120)])
                            );
                        }
                    }
                    *missed_by_family.entry(family).or_default() += 1;
                }
            }
        }
    }
    let fp = f64::from(benign_stopped) / f64::from(benign.max(1));
    let tp = f64::from(attacks_stopped) / f64::from(attacks.max(1));
    println!(
        "benign stopped: {benign_stopped}/{benign} ({:.2} %) by {fp_by_policy:?}",
        fp * 100.0
    );
    println!("attacks stopped: {attacks_stopped}/{attacks} ({:.1} %); missed by family: {missed_by_family:?}", tp * 100.0);
    assert!(
        fp < 0.005,
        "the default pack stops {:.2} % of benign requests: {fp_by_policy:?}",
        fp * 100.0
    );
    assert!(
        tp > 0.5,
        "the default pack stops only {:.1} % of attacks: missed {missed_by_family:?}",
        tp * 100.0
    );
}
