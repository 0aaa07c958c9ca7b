//! Which policies can hold at all, given a few facts about a request that
//! cost next to nothing to establish: which signatures matched, which of the
//! headers the pack tests are present, the method, behaviour counters,
//! evasion anomalies, and which of the pack's path patterns match.
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
//!
//! Path patterns: the default pack has a dozen policies on paths (`/admin/**`,
//! `path_regex = "(?i)^/(?:phpmyadmin|…)"`), about a hundred globs and
//! regexes in all, and tried one by one they cost more than the rest of a
//! benign request's evaluation. Every glob (translated exactly: `*` is
//! `[^/]*`, `**` is `.*`, the rest literal bytes, anchored at both ends) and
//! every path regex goes into one `regex-automata` set, built with the
//! options `regex::bytes` uses for its own sets, so pattern `k` matches in the
//! set exactly when it matches alone. One overlapping search over the path
//! gives all of them.

use std::sync::atomic::{AtomicU64, Ordering};

use rampart_matcher::Matches;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::{meta, Input, MatchKind, PatternSet};

use crate::eval::anomaly;
use crate::glob::{Glob, Part as GlobPart};
use crate::measures::{Anomaly, Counter, REQUEST_MEASURES};
use crate::model::{Cmp, Cond, ListKey, Policy};

/// One fact a gate can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    /// The signature matched.
    Sig(u32),
    /// The header (index into [`Gates::headers`]) is present.
    Header(u8),
    /// The method is this one (index into [`Gates::methods`]).
    Method(u8),
    /// A behaviour counter comparison holds (index into [`Gates::counters`]).
    Counter(u16),
    /// The anomaly was seen (its position in [`ANOMALY_KINDS`]).
    Anomaly(u8),
    /// The path pattern (index into the gates' path set) matches the path.
    Path(u16),
}

/// Every anomaly a condition can test, in bit order.
const ANOMALY_KINDS: [Anomaly; 7] = [
    Anomaly::DoubleEncoded,
    Anomaly::InvalidEscape,
    Anomaly::InvalidUtf8,
    Anomaly::OverlongUtf8,
    Anomaly::NulByte,
    Anomaly::BodyMalformed,
    Anomaly::FieldsTruncated,
];

/// The facts of one request the gates are read against.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestFacts<'a> {
    headers: u64,
    methods: u64,
    /// Anomalies seen, one bit per [`ANOMALY_KINDS`] entry.
    anomalies: u8,
    /// Behaviour counters by id (missing entries read 0).
    counters: &'a [u64],
    /// Path patterns that match, a bitset (empty when the set was not run).
    paths: &'a [u64],
}

/// The gates of a pack's policies, computed once when it is loaded.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    /// Per policy: disjunctions that must each hold (signature-only ones first).
    gates: Vec<Vec<Vec<Atom>>>,
    /// Words of a policy bitset.
    words: usize,
    /// Policies whose first gate is not of one kind of atom (bitset): always looked at.
    ungated: Vec<u64>,
    /// Per signature: the policies whose first gate names it (bitset, `words` each).
    by_sig: Vec<u64>,
    /// Per header: the policies whose first gate names it (bitset, `words` each).
    by_header: Vec<u64>,
    /// Per method: the policies whose first gate names it (bitset, `words` each).
    by_method: Vec<u64>,
    /// Lowercase header names tested by gates (at most 64).
    headers: Vec<Vec<u8>>,
    /// Methods tested by gates (at most 64).
    methods: Vec<Vec<u8>>,
    /// Behaviour counter comparisons tested by gates.
    counters: Vec<(Counter, Cmp, u64)>,
    /// Every path glob and regex the gates test, as one set.
    paths: Option<PathSet>,
}

/// The path patterns of a pack, compiled into one set.
#[derive(Debug)]
struct PathSet {
    re: meta::Regex,
    /// Tells evaluators whose scratch was made for another set.
    id: u64,
}

/// An evaluator's per-core scratch for [`Gates::match_paths`].
#[derive(Debug)]
pub(crate) struct PathScratch {
    owner: u64,
    cache: meta::Cache,
    set: PatternSet,
    bits: Vec<u64>,
}

impl PathScratch {
    /// The patterns that matched in the last [`Gates::match_paths`].
    pub(crate) fn bits(&self) -> &[u64] {
        &self.bits
    }
}

/// What gate derivation interns while walking the condition trees.
struct Interner {
    headers: Vec<Vec<u8>>,
    methods: Vec<Vec<u8>>,
    counters: Vec<(Counter, Cmp, u64)>,
    /// Regex sources of path patterns; `None`: path tests are not gates.
    paths: Option<Vec<String>>,
}

/// Most path patterns in the set; a pack with more does without path gates.
const MAX_PATH_PATTERNS: usize = 4096;

/// A path glob as an anchored regex that matches exactly the same paths.
fn glob_regex(g: &Glob) -> String {
    let mut out = String::from("(?s-u)\\A");
    for part in g.parts() {
        match part {
            GlobPart::Lit(l) => {
                for b in l {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            GlobPart::Star => out.push_str("[^/]*"),
            GlobPart::DoubleStar => out.push_str(".*"),
        }
    }
    out.push_str("\\z");
    out
}

/// Compiles path patterns as `regex::bytes::RegexSet` would.
fn build_path_set(sources: &[String]) -> Option<PathSet> {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let config = meta::Config::new()
        .nfa_size_limit(Some(10 * (1 << 20)))
        .hybrid_cache_capacity(2 * (1 << 20))
        .match_kind(MatchKind::All)
        .utf8_empty(false)
        .which_captures(WhichCaptures::None);
    let re = meta::Builder::new()
        .configure(config)
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .build_many(sources)
        .ok()?;
    Some(PathSet {
        re,
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
    })
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
        let derive = |paths: bool| {
            let mut cx = Interner {
                headers: Vec::new(),
                methods: Vec::new(),
                counters: Vec::new(),
                paths: paths.then(Vec::new),
            };
            let gates: Vec<Vec<Vec<Atom>>> = policies
                .iter()
                .map(|p| {
                    let mut g = gate(&p.condition, &mut cx);
                    for d in &mut g {
                        d.sort_unstable();
                        d.dedup();
                    }
                    // The most selective disjunction first: it decides candidacy.
                    g.sort_by_key(|d| rank(d));
                    g
                })
                .collect();
            (gates, cx)
        };
        let (mut gates, mut cx) = derive(true);
        let sources = cx.paths.take().unwrap_or_default();
        let paths = if sources.is_empty() {
            None
        } else {
            build_path_set(&sources)
        };
        if paths.is_none() && !sources.is_empty() {
            // Path tests stay in the condition trees only.
            (gates, cx) = derive(false);
        }
        let Interner {
            headers,
            methods,
            counters,
            ..
        } = cx;
        let words = policies.len().div_ceil(64);
        let mut ungated = vec![0u64; words];
        let mut by_sig = vec![0u64; words * signatures];
        let mut by_header = vec![0u64; words * headers.len()];
        let mut by_method = vec![0u64; words * methods.len()];
        for (i, g) in gates.iter().enumerate() {
            let bit = 1u64 << (i % 64);
            match g.first() {
                Some(d) if rank(d) < 3 => {
                    for a in d {
                        let (set, at) = match *a {
                            Atom::Sig(s) => (&mut by_sig, s as usize),
                            Atom::Header(h) => (&mut by_header, h as usize),
                            Atom::Method(m) => (&mut by_method, m as usize),
                            Atom::Counter(_) | Atom::Anomaly(_) | Atom::Path(_) => continue,
                        };
                        if let Some(w) = set.get_mut(at * words + i / 64) {
                            *w |= bit;
                        }
                    }
                }
                _ => ungated[i / 64] |= bit,
            }
        }
        Gates {
            gates,
            words,
            ungated,
            by_sig,
            by_header,
            by_method,
            headers,
            methods,
            counters,
            paths,
        }
    }

    /// Runs the path set over `path` into `scratch` (made or remade for
    /// this set as needed: only when the policy changed).
    pub(crate) fn match_paths(&self, path: &[u8], scratch: &mut Option<PathScratch>) {
        let Some(ps) = &self.paths else {
            if let Some(s) = scratch.as_mut() {
                s.bits.clear();
            }
            return;
        };
        let s = match scratch {
            Some(s) if s.owner == ps.id => s,
            _ => scratch.insert(PathScratch {
                owner: ps.id,
                cache: ps.re.create_cache(),
                set: PatternSet::new(ps.re.pattern_len()),
                bits: vec![0; ps.re.pattern_len().div_ceil(64)],
            }),
        };
        s.set.clear();
        ps.re
            .which_overlapping_matches_with(&mut s.cache, &Input::new(path), &mut s.set);
        s.bits.fill(0);
        for p in s.set.iter() {
            let k = p.as_usize();
            s.bits[k / 64] |= 1 << (k % 64);
        }
    }

    /// Whether the gates were computed for `n` policies (they are not when a
    /// caller built the policy list by hand after loading).
    pub(crate) fn covers(&self, n: usize) -> bool {
        self.gates.len() == n
    }

    /// The facts of a request with this method and these headers.
    pub(crate) fn facts<'a>(
        &self,
        method: &[u8],
        headers: &[(&[u8], &[u8])],
        counters: &'a [u64],
        paths: &'a [u64],
        matches: &Matches,
    ) -> RequestFacts<'a> {
        let mut f = RequestFacts {
            counters,
            paths,
            ..RequestFacts::default()
        };
        for (i, a) in ANOMALY_KINDS.into_iter().enumerate() {
            if anomaly(a, matches) {
                f.anomalies |= 1 << i;
            }
        }
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
    pub(crate) fn candidates(
        &self,
        matches: &Matches,
        facts: RequestFacts<'_>,
        out: &mut Vec<u64>,
    ) {
        out.clear();
        out.extend_from_slice(&self.ungated);
        let words = self.words;
        let mut add = |sets: &[u64], at: usize| {
            if let Some(set) = sets.get(at * words..(at + 1) * words) {
                for (o, w) in out.iter_mut().zip(set) {
                    *o |= w;
                }
            }
        };
        for (bits, sets) in [
            (facts.headers, &self.by_header),
            (facts.methods, &self.by_method),
        ] {
            let mut left = bits;
            while left != 0 {
                add(sets, left.trailing_zeros() as usize);
                left &= left - 1;
            }
        }
        if !matches.is_empty() {
            for s in matches.signatures() {
                add(&self.by_sig, s as usize);
            }
        }
    }

    /// Whether policy `i` may hold (`false` is exact: it cannot).
    #[inline]
    pub(crate) fn open(&self, i: usize, matches: &Matches, facts: RequestFacts<'_>) -> bool {
        let Some(g) = self.gates.get(i) else {
            return true;
        };
        g.iter().all(|d| {
            d.iter().any(|a| match *a {
                Atom::Sig(s) => matches.matched(s),
                Atom::Header(h) => facts.headers & (1 << h) != 0,
                Atom::Method(m) => facts.methods & (1 << m) != 0,
                Atom::Counter(k) => self.counters.get(k as usize).is_none_or(|&(c, cmp, v)| {
                    cmp.test(facts.counters.get(c.0 as usize).copied().unwrap_or(0), v)
                }),
                Atom::Anomaly(b) => facts.anomalies & (1 << b) != 0,
                Atom::Path(k) => facts
                    .paths
                    .get(usize::from(k) / 64)
                    .is_some_and(|w| w & (1 << (k % 64)) != 0),
            })
        })
    }
}

/// How selective a disjunction is, best first: signatures only (they rarely
/// match), headers only, methods only, anything else (3).
fn rank(d: &[Atom]) -> u8 {
    let all = |f: fn(&Atom) -> bool| d.iter().all(f);
    if all(|a| matches!(a, Atom::Sig(_))) {
        0
    } else if all(|a| matches!(a, Atom::Header(_))) {
        1
    } else if all(|a| matches!(a, Atom::Method(_))) {
        2
    } else {
        3
    }
}

/// Necessary conditions for `c` to hold: every returned disjunction must
/// have a true atom. Empty when nothing cheap is necessary.
fn gate(c: &Cond, cx: &mut Interner) -> Vec<Vec<Atom>> {
    let Interner {
        headers,
        methods,
        counters,
        ..
    } = cx;
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
        // A behaviour counter (not a measure of the request itself, which
        // the evaluator computes) is read as the evaluator reads it.
        Cond::Counter {
            counter,
            cmp,
            value,
            ..
        } if counter.0 >= REQUEST_MEASURES && counters.len() < usize::from(u16::MAX) => {
            let k = match counters.iter().position(|x| *x == (*counter, *cmp, *value)) {
                Some(k) => k,
                None => {
                    counters.push((*counter, *cmp, *value));
                    counters.len() - 1
                }
            };
            vec![vec![Atom::Counter(k as u16)]]
        }
        Cond::Anomaly(a) => match ANOMALY_KINDS.iter().position(|k| k == a) {
            Some(b) => vec![vec![Atom::Anomaly(b as u8)]],
            None => Vec::new(),
        },
        Cond::Path(globs) | Cond::Route(globs) => {
            let sources: Vec<String> = globs.iter().map(glob_regex).collect();
            path_gate(cx, sources)
        }
        Cond::PathRegex(re) => path_gate(cx, vec![re.as_str().to_owned()]),
        // Every part must hold: every part's gates are necessary.
        Cond::All(v) => v.iter().flat_map(|c| gate(c, cx)).collect(),
        // One part must hold: one disjunction of the union of one gate per
        // part (the first: signature-only when there is one), if every part
        // has a gate.
        Cond::Any(v) => {
            let mut all = Vec::new();
            for c in v {
                let mut g = gate(c, cx);
                g.sort_by_key(|d| rank(d));
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

/// One disjunction: one of these path patterns matches (none when path
/// tests are not gates).
fn path_gate(cx: &mut Interner, sources: Vec<String>) -> Vec<Vec<Atom>> {
    let Some(paths) = cx.paths.as_mut() else {
        return Vec::new();
    };
    let mut d = Vec::with_capacity(sources.len());
    for src in sources {
        let k = match paths.iter().position(|p| *p == src) {
            Some(k) => k,
            None if paths.len() < MAX_PATH_PATTERNS => {
                paths.push(src);
                paths.len() - 1
            }
            None => return Vec::new(),
        };
        d.push(Atom::Path(k as u16));
    }
    vec![d]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string over an alphabet, up to a length.
    fn strings(alphabet: &[&str], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    /// The translation is exact: on every short path over `/`, `a`, `b` and
    /// a non-ASCII byte, each glob of up to four pieces matches exactly
    /// when its regex does.
    #[test]
    fn glob_regexes_match_what_globs_match() {
        let globs = strings(&["/", "a", "*", "**", "\u{e9}"], 4);
        let paths = strings(&["/", "a", "b", "\u{e9}"], 5);
        for g in &globs {
            let glob = Glob::path(g);
            let re = regex::bytes::Regex::new(&glob_regex(&glob)).expect("translated glob");
            for p in &paths {
                assert_eq!(
                    glob.matches(p.as_bytes(), b'/'),
                    re.is_match(p.as_bytes()),
                    "glob {g:?} on {p:?}"
                );
            }
        }
    }

    /// The set finds exactly the patterns that match alone, and a scratch
    /// made for one set is remade for another.
    #[test]
    fn the_path_set_agrees_with_each_pattern_alone() {
        let sources: Vec<String> = [
            "(?i)^/(?:admin|internal)(?:/|$)",
            "(?i)(?:^|/)(?:swagger|openapi)(?:\\.json)?$",
            "^/v[0-9]+/",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(
            ["/admin/**", "/*/debug/**", "/v0"]
                .iter()
                .map(|g| glob_regex(&Glob::path(g))),
        )
        .collect();
        let set = build_path_set(&sources).expect("set builds");
        let singles: Vec<regex::bytes::Regex> = sources
            .iter()
            .map(|s| regex::bytes::Regex::new(s).expect("regex"))
            .collect();
        let gates = Gates {
            paths: Some(set),
            ..Gates::default()
        };
        let mut scratch = None;
        for path in [
            "/",
            "/admin",
            "/ADMIN/x",
            "/administrator",
            "/api/openapi.json",
            "/v2/users",
            "/x/debug/y",
            "/x/y/debug/z",
            "/v0",
            "/v0/",
            "/internal/\u{e9}",
        ] {
            gates.match_paths(path.as_bytes(), &mut scratch);
            let bits = scratch.as_ref().expect("scratch").bits();
            for (k, re) in singles.iter().enumerate() {
                assert_eq!(
                    bits[k / 64] & (1 << (k % 64)) != 0,
                    re.is_match(path.as_bytes()),
                    "pattern {} on {path}",
                    sources[k]
                );
            }
        }
        let first = scratch.as_ref().map(|s| s.owner);
        let other = Gates {
            paths: build_path_set(&sources[..1]),
            ..Gates::default()
        };
        other.match_paths(b"/admin", &mut scratch);
        let s = scratch.expect("scratch");
        assert_ne!(Some(s.owner), first);
        assert_eq!(s.bits(), &[1]);
    }
}
