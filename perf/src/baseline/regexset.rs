//! `regex::bytes::RegexSet` per transform chain: what a Rust WAF without
//! Hyperscan would write. Each field goes through each chain that wants it,
//! then through that chain's set (literals escaped into it).

use rampart_matcher::{apply_chain, Signature, Transform};

use super::{groups, rust_pattern, SigBits, Targets, REGEX_SIZE_LIMIT};
use crate::fields::Fields;

struct Group {
    chain: Vec<Transform>,
    wants: Targets,
    set: regex::bytes::RegexSet,
    /// Set pattern index → signature index.
    sig: Vec<usize>,
}

/// One `RegexSet` per chain.
pub struct RegexSets {
    groups: Vec<Group>,
    targets: Vec<Targets>,
    /// Signatures the `regex` crate rejected (id, reason); not scanned.
    pub excluded: Vec<(String, String)>,
    hits: SigBits,
    a: Vec<u8>,
    b: Vec<u8>,
}

impl RegexSets {
    /// Builds the sets; a pattern the `regex` crate rejects is excluded and listed.
    pub fn new(sigs: &[Signature]) -> Result<RegexSets, regex::Error> {
        let mut excluded = Vec::new();
        let mut out = Vec::new();
        for (chain, members) in groups(sigs) {
            let mut patterns = Vec::new();
            let mut sig = Vec::new();
            let mut wants = Targets::default();
            for i in members {
                let p = rust_pattern(&sigs[i]);
                match regex::bytes::RegexBuilder::new(&p)
                    .unicode(false)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(_) => {
                        patterns.push(p);
                        sig.push(i);
                        wants.add(&sigs[i]);
                    }
                    Err(e) => excluded.push((sigs[i].id.clone(), e.to_string())),
                }
            }
            if patterns.is_empty() {
                continue;
            }
            let set = regex::bytes::RegexSetBuilder::new(&patterns)
                .unicode(false)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()?;
            out.push(Group {
                chain,
                wants,
                set,
                sig,
            });
        }
        Ok(RegexSets {
            groups: out,
            targets: sigs.iter().map(Targets::of).collect(),
            excluded,
            hits: SigBits::new(sigs.len()),
            a: Vec::with_capacity(1 << 16),
            b: Vec::with_capacity(1 << 16),
        })
    }

    /// Scans every field; returns how many distinct signatures matched.
    pub fn scan(&mut self, fields: &Fields) -> usize {
        self.hits.clear();
        for g in &self.groups {
            for (kind, name, value) in fields.iter() {
                if !g.wants.hits(kind, name) {
                    continue;
                }
                let (v, _) = apply_chain(&g.chain, value, &mut self.a, &mut self.b);
                let m = g.set.matches(v);
                if !m.matched_any() {
                    continue;
                }
                for p in m.iter() {
                    let s = g.sig[p];
                    if self.targets[s].hits(kind, name) {
                        self.hits.set(s);
                    }
                }
            }
        }
        self.hits.count()
    }
}
