//! Aho-Corasick for the keyword signatures plus every regex signature run on
//! its own: the other common design. Per chain: one automaton for the
//! case-sensitive literals, one for the caseless, then `Regex::is_match` for
//! each regex signature that targets the field and has not matched yet.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rampart_matcher::{apply_chain, Pattern, Signature, Transform};

use super::{groups, SigBits, Targets, REGEX_SIZE_LIMIT};
use crate::fields::Fields;

struct Automaton {
    ac: AhoCorasick,
    /// Automaton pattern index → signature index.
    sig: Vec<usize>,
}

struct Group {
    chain: Vec<Transform>,
    wants: Targets,
    automata: Vec<Automaton>,
    regexes: Vec<(usize, regex::bytes::Regex)>,
}

/// Aho-Corasick + individual regexes, per chain.
pub struct AhoRegex {
    groups: Vec<Group>,
    targets: Vec<Targets>,
    /// Signatures the `regex` crate rejected (id, reason); not scanned.
    pub excluded: Vec<(String, String)>,
    hits: SigBits,
    a: Vec<u8>,
    b: Vec<u8>,
}

fn automaton(
    entries: Vec<(&[u8], usize)>,
    caseless: bool,
) -> Result<Option<Automaton>, aho_corasick::BuildError> {
    if entries.is_empty() {
        return Ok(None);
    }
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(caseless)
        .build(entries.iter().map(|(l, _)| l))?;
    Ok(Some(Automaton {
        ac,
        sig: entries.iter().map(|(_, s)| *s).collect(),
    }))
}

impl AhoRegex {
    /// Builds the automata and regexes; a regex the `regex` crate rejects is excluded and listed.
    pub fn new(sigs: &[Signature]) -> Result<AhoRegex, aho_corasick::BuildError> {
        let mut excluded = Vec::new();
        let mut out = Vec::new();
        for (chain, members) in groups(sigs) {
            let (mut exact, mut folded) = (Vec::new(), Vec::new());
            let mut regexes = Vec::new();
            let mut wants = Targets::default();
            for i in members {
                let s = &sigs[i];
                let lits: Vec<&[u8]> = match &s.pattern {
                    Pattern::Literal(l) => vec![l.as_slice()],
                    Pattern::Literals(list) => list.iter().map(Vec::as_slice).collect(),
                    Pattern::Regex(p) => {
                        match regex::bytes::RegexBuilder::new(p)
                            .unicode(false)
                            .case_insensitive(s.flags.caseless)
                            .dot_matches_new_line(s.flags.dotall)
                            .multi_line(s.flags.multiline)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                        {
                            Ok(re) => {
                                regexes.push((i, re));
                                wants.add(s);
                            }
                            Err(e) => excluded.push((s.id.clone(), e.to_string())),
                        }
                        continue;
                    }
                };
                wants.add(s);
                let dst = if s.flags.caseless {
                    &mut folded
                } else {
                    &mut exact
                };
                dst.extend(lits.into_iter().map(|l| (l, i)));
            }
            let automata = [automaton(exact, false)?, automaton(folded, true)?]
                .into_iter()
                .flatten()
                .collect();
            out.push(Group {
                chain,
                wants,
                automata,
                regexes,
            });
        }
        Ok(AhoRegex {
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
                for a in &g.automata {
                    for m in a.ac.find_overlapping_iter(v) {
                        let s = a.sig[m.pattern().as_usize()];
                        if self.targets[s].hits(kind, name) {
                            self.hits.set(s);
                        }
                    }
                }
                for (s, re) in &g.regexes {
                    if !self.hits.get(*s) && self.targets[*s].hits(kind, name) && re.is_match(v) {
                        self.hits.set(*s);
                    }
                }
            }
        }
        self.hits.count()
    }
}
