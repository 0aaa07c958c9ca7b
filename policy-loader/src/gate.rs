//! Which policies can hold at all, given a few facts about a request that
//! cost next to nothing to establish: which signatures matched, which of the
//! headers the pack tests are present, and the method.
//!
//! Most of a pack's policies are "signature X (or Y) matched, and …" or
//! "header H is present and …": on a benign request none of them can hold,
//! yet walking their condition trees would be most of what evaluation
//! costs. A policy's *gate* is a conjunction of disjunctions of such facts
//! ("one of these signatures matched" and "one of these headers is
//! present"…), each derived from the condition tree as a necessary
//! condition. The evaluator looks only at the policies gated by a matched
//! signature (or not gated by signatures at all) and skips those whose other
//! gates are closed, so skipping never changes a verdict.

use rampart_matcher::Matches;

use crate::model::{Cond, ListKey, Policy};

/// One fact a gate can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    /// The signature matched.
    Sig(u32),
    /// The header (index into [`Gates::headers`]) is present.
    Header(u8),
    /// The method is this one (index into [`Gates::methods`]).
    Method(u8),
}

/// The facts of one request the gates are read against.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestFacts {
    headers: u64,
    methods: u64,
}

/// The gates of a pack's policies, computed once when it is loaded.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    /// Per policy: disjunctions that must each hold (signature-only ones first).
    gates: Vec<Vec<Vec<Atom>>>,
    /// Words of a policy bitset.
    words: usize,
    /// Policies with no signature-only gate (bitset).
    ungated: Vec<u64>,
    /// Per signature: the policies whose first gate names it (bitset, `words` each).
    by_sig: Vec<u64>,
    /// Lowercase header names tested by gates (at most 64).
    headers: Vec<Vec<u8>>,
    /// Methods tested by gates (at most 64).
    methods: Vec<Vec<u8>>,
}

/// Interns `name` into `names` (at most 64 entries); `None` when full.
fn intern(names: &mut Vec<Vec<u8>>, name: &[u8]) -> Option<u8> {
    if let Some(i) = names.iter().position(|n| n.as_slice() == name) {
        return Some(i as u8);
    }
    if names.len() >= 64 {
        return None;
    }
    names.push(name.to_vec());
    Some((names.len() - 1) as u8)
}

impl Gates {
    pub(crate) fn of(policies: &[Policy], signatures: usize) -> Gates {
        let mut headers = Vec::new();
        let mut methods = Vec::new();
        let gates: Vec<Vec<Vec<Atom>>> = policies
            .iter()
            .map(|p| {
                let mut g = gate(&p.condition, &mut headers, &mut methods);
                for d in &mut g {
                    d.sort_unstable();
                    d.dedup();
                }
                // Signature-only disjunctions first: they decide candidacy.
                g.sort_by_key(|d| !d.iter().all(|a| matches!(a, Atom::Sig(_))));
                g
            })
            .collect();
        let words = policies.len().div_ceil(64);
        let mut ungated = vec![0u64; words];
        let mut by_sig = vec![0u64; words * signatures];
        for (i, g) in gates.iter().enumerate() {
            match g.first() {
                Some(d) if d.iter().all(|a| matches!(a, Atom::Sig(_))) => {
                    for a in d {
                        if let Atom::Sig(s) = a {
                            if let Some(w) = by_sig.get_mut(*s as usize * words + i / 64) {
                                *w |= 1 << (i % 64);
                            }
                        }
                    }
                }
                _ => ungated[i / 64] |= 1 << (i % 64),
            }
        }
        Gates {
            gates,
            words,
            ungated,
            by_sig,
            headers,
            methods,
        }
    }

    /// Whether the gates were computed for `n` policies (they are not when a
    /// caller built the policy list by hand after loading).
    pub(crate) fn covers(&self, n: usize) -> bool {
        self.gates.len() == n
    }

    /// The facts of a request with this method and these headers.
    pub(crate) fn facts(&self, method: &[u8], headers: &[(&[u8], &[u8])]) -> RequestFacts {
        let mut f = RequestFacts::default();
        for (i, m) in self.methods.iter().enumerate() {
            if m.as_slice() == method {
                f.methods |= 1 << i;
            }
        }
        if !self.headers.is_empty() {
            for (name, _) in headers {
                for (i, h) in self.headers.iter().enumerate() {
                    if h.len() == name.len() && h.eq_ignore_ascii_case(name) {
                        f.headers |= 1 << i;
                    }
                }
            }
        }
        f
    }

    /// Fills `out` with the policies that may hold given the matched
    /// signatures (their other gates still to be checked with [`Gates::open`]).
    pub(crate) fn candidates(&self, matches: &Matches, out: &mut Vec<u64>) {
        out.clear();
        out.extend_from_slice(&self.ungated);
        if matches.is_empty() {
            return;
        }
        for s in matches.signatures() {
            let at = s as usize * self.words;
            if let Some(set) = self.by_sig.get(at..at + self.words) {
                for (o, w) in out.iter_mut().zip(set) {
                    *o |= w;
                }
            }
        }
    }

    /// Whether policy `i` may hold (`false` is exact: it cannot).
    #[inline]
    pub(crate) fn open(&self, i: usize, matches: &Matches, facts: RequestFacts) -> bool {
        let Some(g) = self.gates.get(i) else {
            return true;
        };
        g.iter().all(|d| {
            d.iter().any(|a| match *a {
                Atom::Sig(s) => matches.matched(s),
                Atom::Header(h) => facts.headers & (1 << h) != 0,
                Atom::Method(m) => facts.methods & (1 << m) != 0,
            })
        })
    }
}

/// Necessary conditions for `c` to hold: every returned disjunction must
/// have a true atom. Empty when nothing cheap is necessary.
fn gate(c: &Cond, headers: &mut Vec<Vec<u8>>, methods: &mut Vec<Vec<u8>>) -> Vec<Vec<Atom>> {
    match c {
        Cond::Signature { resolved, .. } | Cond::SignatureTag { resolved, .. } => {
            vec![resolved.iter().map(|&s| Atom::Sig(s)).collect()]
        }
        // A header test (any test, presence included) needs the header; so
        // does a list lookup keyed by a header.
        Cond::Header(name, _)
        | Cond::List {
            key: ListKey::Header(name),
            ..
        } => match intern(headers, &name.to_ascii_lowercase()) {
            Some(h) => vec![vec![Atom::Header(h)]],
            None => Vec::new(),
        },
        Cond::Cookie(..) => match intern(headers, b"cookie") {
            Some(h) => vec![vec![Atom::Header(h)]],
            None => Vec::new(),
        },
        Cond::Method(set) => {
            let mut d = Vec::with_capacity(set.len());
            for m in set {
                match intern(methods, m) {
                    Some(i) => d.push(Atom::Method(i)),
                    None => return Vec::new(),
                }
            }
            vec![d]
        }
        // Every part must hold: every part's gates are necessary.
        Cond::All(v) => v.iter().flat_map(|c| gate(c, headers, methods)).collect(),
        // One part must hold: one disjunction of the union of one gate per
        // part (the first: signature-only when there is one), if every part
        // has a gate.
        Cond::Any(v) => {
            let mut all = Vec::new();
            for c in v {
                let mut g = gate(c, headers, methods);
                g.sort_by_key(|d| !d.iter().all(|a| matches!(a, Atom::Sig(_))));
                match g.into_iter().next() {
                    Some(d) => all.extend(d),
                    None => return Vec::new(),
                }
            }
            vec![all]
        }
        // A negation, a reference to another policy, a score threshold and
        // the other tests can hold without any of these facts.
        _ => Vec::new(),
    }
}
