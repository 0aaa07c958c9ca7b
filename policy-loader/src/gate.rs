//! Which policies can hold at all, given a few facts about a request that
//! cost next to nothing to establish: which signatures matched, which of the
//! headers the pack tests are present, the method, whether there is a query
//! string, behaviour counters and request measures, evasion anomalies, and
//! which of the pack's path and host patterns match.
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
//! gives all of them. Host globs (`dev.**`, `*.internal`: a few dozen in the
//! default pack) get a set of their own the same way, searched over the Host
//! header without its port.
//!
//! A policy is indexed under every atom of its most selective disjunction,
//! so a request's candidates are the union of the sets of its true atoms;
//! the rest of a candidate's gate is checked before its condition is.

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
    /// The host glob (index into the gates' host set) matches the host.
    Host(u16),
    /// The target has a non-empty query string.
    Query,
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

// `Gates::measures` has a bit per request measure.
const _: () = assert!(REQUEST_MEASURES <= 8);

/// The facts of one request the gates are read against.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestFacts<'a> {
    headers: u64,
    methods: u64,
    /// Anomalies seen, one bit per [`ANOMALY_KINDS`] entry.
    anomalies: u8,
    /// Behaviour counters by id (missing entries read 0).
    counters: &'a [u64],
    /// The request measures the gates test (the others read 0), by id.
    measures: [u64; REQUEST_MEASURES as usize],
    /// Path patterns that match, a bitset (empty when the set was not run).
    paths: &'a [u64],
    /// Host globs that match, a bitset (empty when the set was not run).
    hosts: &'a [u64],
    /// The target has a non-empty query string.
    query: bool,
}

impl RequestFacts<'_> {
    /// A counter or request measure, as a condition reads it.
    fn counter(&self, c: Counter) -> u64 {
        if c.is_request_measure() {
            self.measures.get(c.0 as usize).copied().unwrap_or(0)
        } else {
            self.counters.get(c.0 as usize).copied().unwrap_or(0)
        }
    }
}

/// The gates of a pack's policies, computed once when it is loaded.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    /// Per policy: disjunctions that must each hold (signature-only ones first).
    gates: Vec<Vec<Vec<Atom>>>,
    /// Words of a policy bitset.
    words: usize,
    /// Policies without any gate (bitset): always looked at.
    ungated: Vec<u64>,
    /// Per signature: the policies whose first gate names it (bitset, `words` each).
    by_sig: Vec<u64>,
    /// Per header: the policies whose first gate names it (bitset, `words` each).
    by_header: Vec<u64>,
    /// Per method: the policies whose first gate names it (bitset, `words` each).
    by_method: Vec<u64>,
    /// Per counter comparison: the policies whose first gate names it.
    by_counter: Vec<u64>,
    /// Per anomaly: the policies whose first gate names it.
    by_anomaly: Vec<u64>,
    /// Per path pattern: the policies whose first gate names it.
    by_path: Vec<u64>,
    /// Per host glob: the policies whose first gate names it.
    by_host: Vec<u64>,
    /// The policies whose first gate names the query string.
    by_query: Vec<u64>,
    /// Request measures some counter comparison reads (bit per measure id).
    measures: u8,
    /// Lowercase header names tested by gates (at most 64).
    headers: Vec<Vec<u8>>,
    /// Methods tested by gates (at most 64).
    methods: Vec<Vec<u8>>,
    /// Counter comparisons tested by gates (behaviour counters and
    /// request measures).
    counters: Vec<(Counter, Cmp, u64)>,
    /// Every path glob and regex the gates test, as one set.
    paths: Option<SetGate>,
    /// Every host glob the gates test, as one set.
    hosts: Option<SetGate>,
}

/// The path patterns (or host globs) of a pack, compiled into one set.
#[derive(Debug)]
struct SetGate {
    re: meta::Regex,
    /// Tells evaluators whose scratch was made for another set.
    id: u64,
}

/// An evaluator's per-core scratch for [`Gates::match_paths`] or
/// [`Gates::match_hosts`].
#[derive(Debug)]
pub(crate) struct SetScratch {
    owner: u64,
    cache: meta::Cache,
    set: PatternSet,
    bits: Vec<u64>,
}

impl SetScratch {
    /// The patterns that matched in the last search.
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
    /// Regex sources of host globs; `None`: host tests are not gates.
    hosts: Option<Vec<String>>,
}

/// Most path patterns in the set; a pack with more does without path gates.
const MAX_PATH_PATTERNS: usize = 4096;

/// A glob as an anchored regex that matches exactly what the glob matches
/// with separator `sep` (`*` stops at it, `**` does not), ignoring ASCII
/// case when `caseless` (as [`Glob::matches_caseless`]).
fn glob_regex(g: &Glob, sep: u8, caseless: bool) -> String {
    let mut out = String::from("(?s-u)\\A");
    for part in g.parts() {
        match part {
            GlobPart::Lit(l) => {
                for &b in l {
                    if caseless && b.is_ascii_alphabetic() {
                        let (u, w) = (b.to_ascii_uppercase(), b.to_ascii_lowercase());
                        out.push_str(&format!("[\\x{u:02x}\\x{w:02x}]"));
                    } else {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
            }
            GlobPart::Star => out.push_str(&format!("[^\\x{sep:02x}]*")),
            GlobPart::DoubleStar => out.push_str(".*"),
        }
    }
    out.push_str("\\z");
    out
}

/// Compiles path patterns as `regex::bytes::RegexSet` would.
fn build_set(sources: &[String]) -> Option<SetGate> {
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
    Some(SetGate {
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
        let derive = |paths: bool, hosts: bool| {
            let mut cx = Interner {
                headers: Vec::new(),
                methods: Vec::new(),
                counters: Vec::new(),
                paths: paths.then(Vec::new),
                hosts: hosts.then(Vec::new),
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
        // A set that does not build (too large) leaves its tests in the
        // condition trees only: derive again without them.
        let sets = |cx: &mut Interner| {
            let build = |src: Option<Vec<String>>| match src {
                Some(v) if !v.is_empty() => Some(build_set(&v).ok_or(())),
                _ => None,
            };
            (build(cx.paths.take()), build(cx.hosts.take()))
        };
        let (mut gates, mut cx) = derive(true, true);
        let (mut paths, mut hosts) = sets(&mut cx);
        if matches!(paths, Some(Err(()))) || matches!(hosts, Some(Err(()))) {
            let keep = |s: &Option<Result<SetGate, ()>>| !matches!(s, Some(Err(())));
            (gates, cx) = derive(keep(&paths), keep(&hosts));
            (paths, hosts) = sets(&mut cx);
        }
        let (paths, hosts) = (paths.and_then(Result::ok), hosts.and_then(Result::ok));
        let Interner {
            headers,
            methods,
            counters,
            ..
        } = cx;
        let words = policies.len().div_ceil(64);
        let path_patterns = paths.as_ref().map_or(0, |p| p.re.pattern_len());
        let host_patterns = hosts.as_ref().map_or(0, |p| p.re.pattern_len());
        let mut ungated = vec![0u64; words];
        let mut by_sig = vec![0u64; words * signatures];
        let mut by_header = vec![0u64; words * headers.len()];
        let mut by_method = vec![0u64; words * methods.len()];
        let mut by_counter = vec![0u64; words * counters.len()];
        let mut by_anomaly = vec![0u64; words * ANOMALY_KINDS.len()];
        let mut by_path = vec![0u64; words * path_patterns];
        let mut by_host = vec![0u64; words * host_patterns];
        let mut by_query = vec![0u64; words];
        // A policy is indexed under every atom of its most selective
        // disjunction: it is a candidate exactly when one of them is true.
        for (i, g) in gates.iter().enumerate() {
            let bit = 1u64 << (i % 64);
            let Some(d) = g.first() else {
                ungated[i / 64] |= bit;
                continue;
            };
            for a in d {
                let (set, at) = match *a {
                    Atom::Sig(s) => (&mut by_sig, s as usize),
                    Atom::Header(h) => (&mut by_header, h as usize),
                    Atom::Method(m) => (&mut by_method, m as usize),
                    Atom::Counter(k) => (&mut by_counter, k as usize),
                    Atom::Anomaly(b) => (&mut by_anomaly, b as usize),
                    Atom::Path(k) => (&mut by_path, k as usize),
                    Atom::Host(k) => (&mut by_host, k as usize),
                    Atom::Query => (&mut by_query, 0),
                };
                match set.get_mut(at * words + i / 64) {
                    Some(w) => *w |= bit,
                    // Cannot happen (every atom was interned with its
                    // set); were it to, the policy must stay looked at.
                    None => ungated[i / 64] |= bit,
                }
            }
        }
        let measures = counters
            .iter()
            .filter(|(c, _, _)| c.is_request_measure())
            .fold(0u8, |m, (c, _, _)| m | (1 << c.0));
        Gates {
            gates,
            words,
            ungated,
            by_sig,
            by_header,
            by_method,
            by_counter,
            by_anomaly,
            by_path,
            by_host,
            by_query,
            measures,
            headers,
            methods,
            counters,
            paths,
            hosts,
        }
    }

    /// Runs the path set over `path` into `scratch` (made or remade for
    /// this set as needed: only when the policy changed).
    pub(crate) fn match_paths(&self, path: &[u8], scratch: &mut Option<SetScratch>) {
        search(&self.paths, path, scratch);
    }

    /// Runs the host set over `host` (the Host header without its port)
    /// into `scratch`.
    pub(crate) fn match_hosts(&self, host: &[u8], scratch: &mut Option<SetScratch>) {
        search(&self.hosts, host, scratch);
    }
}

/// One overlapping search of `set` over `input` into `scratch`.
fn search(set: &Option<SetGate>, input: &[u8], scratch: &mut Option<SetScratch>) {
    let Some(ps) = set else {
        if let Some(s) = scratch.as_mut() {
            s.bits.clear();
        }
        return;
    };
    let s = match scratch {
        Some(s) if s.owner == ps.id => s,
        _ => scratch.insert(SetScratch {
            owner: ps.id,
            cache: ps.re.create_cache(),
            set: PatternSet::new(ps.re.pattern_len()),
            bits: vec![0; ps.re.pattern_len().div_ceil(64)],
        }),
    };
    s.set.clear();
    ps.re
        .which_overlapping_matches_with(&mut s.cache, &Input::new(input), &mut s.set);
    s.bits.fill(0);
    for p in s.set.iter() {
        let k = p.as_usize();
        s.bits[k / 64] |= 1 << (k % 64);
    }
}

impl Gates {
    /// Whether the gates were computed for `n` policies (they are not when a
    /// caller built the policy list by hand after loading).
    pub(crate) fn covers(&self, n: usize) -> bool {
        self.gates.len() == n
    }

    /// Request measures the gates read (bit per measure id): the caller
    /// computes only those for [`Gates::facts`].
    pub(crate) fn measures_read(&self) -> u8 {
        self.measures
    }

    /// The facts of a request: its method, headers and query, the
    /// counters and measures, the path and host set results, the matches.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn facts<'a>(
        &self,
        method: &[u8],
        headers: &[(&[u8], &[u8])],
        query: bool,
        counters: &'a [u64],
        measures: [u64; REQUEST_MEASURES as usize],
        paths: &'a [u64],
        hosts: &'a [u64],
        matches: &Matches,
    ) -> RequestFacts<'a> {
        let mut f = RequestFacts {
            counters,
            measures,
            paths,
            hosts,
            query,
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
        for (k, &(c, cmp, v)) in self.counters.iter().enumerate() {
            if cmp.test(facts.counter(c), v) {
                add(&self.by_counter, k);
            }
        }
        let mut left = facts.anomalies;
        while left != 0 {
            add(&self.by_anomaly, left.trailing_zeros() as usize);
            left &= left - 1;
        }
        for (found, sets) in [(facts.paths, &self.by_path), (facts.hosts, &self.by_host)] {
            for (w, &bits) in found.iter().enumerate() {
                let mut left = bits;
                while left != 0 {
                    add(sets, w * 64 + left.trailing_zeros() as usize);
                    left &= left - 1;
                }
            }
        }
        if facts.query {
            add(&self.by_query, 0);
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
                Atom::Counter(k) => self
                    .counters
                    .get(k as usize)
                    .is_none_or(|&(c, cmp, v)| cmp.test(facts.counter(c), v)),
                Atom::Anomaly(b) => facts.anomalies & (1 << b) != 0,
                Atom::Path(k) => bit(facts.paths, k),
                Atom::Host(k) => bit(facts.hosts, k),
                Atom::Query => facts.query,
            })
        })
    }
}

fn bit(bits: &[u64], k: u16) -> bool {
    bits.get(usize::from(k) / 64)
        .is_some_and(|w| w & (1 << (k % 64)) != 0)
}

/// How selective a disjunction is, best first: as selective as its least
/// selective atom. Signatures rarely match a benign request; anomalies, path
/// and host patterns, counter thresholds and query strings seldom or
/// sometimes; the headers a pack tests and the methods it names are mostly
/// there.
fn rank(d: &[Atom]) -> u8 {
    d.iter()
        .map(|a| match a {
            Atom::Sig(_) => 0,
            Atom::Anomaly(_) => 1,
            Atom::Path(_) | Atom::Host(_) => 2,
            Atom::Counter(_) | Atom::Query => 3,
            Atom::Header(_) => 4,
            Atom::Method(_) => 5,
        })
        .max()
        .unwrap_or(6)
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
        // A behaviour counter or a request measure, read as the evaluator
        // reads it.
        Cond::Counter {
            counter,
            cmp,
            value,
            ..
        } if counters.len() < usize::from(u16::MAX) => {
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
            let sources: Vec<String> = globs.iter().map(|g| glob_regex(g, b'/', false)).collect();
            set_gate(cx.paths.as_mut(), sources, Atom::Path)
        }
        Cond::PathRegex(re) => {
            set_gate(cx.paths.as_mut(), vec![re.as_str().to_owned()], Atom::Path)
        }
        Cond::Host(globs) => {
            let sources: Vec<String> = globs.iter().map(|g| glob_regex(g, b'.', true)).collect();
            set_gate(cx.hosts.as_mut(), sources, Atom::Host)
        }
        // An argument test needs an argument named so: a query string.
        Cond::Arg(..) => vec![vec![Atom::Query]],
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

/// One disjunction: one of these patterns of a set (paths or hosts)
/// matches (none when that set's tests are not gates).
fn set_gate(
    patterns: Option<&mut Vec<String>>,
    sources: Vec<String>,
    atom: fn(u16) -> Atom,
) -> Vec<Vec<Atom>> {
    let Some(paths) = patterns else {
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
        d.push(atom(k as u16));
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
    /// when its regex does; and the same for hosts (separator `.`, ASCII
    /// case ignored) over `.`, `a`, `A`, `b` and a non-ASCII byte.
    #[test]
    fn glob_regexes_match_what_globs_match() {
        let cases: [(&[&str], &[&str], u8, bool); 2] = [
            (
                &["/", "a", "*", "**", "\u{e9}"],
                &["/", "a", "b", "\u{e9}"],
                b'/',
                false,
            ),
            (
                &[".", "a", "B", "*", "**", "\u{c9}"],
                &[".", "a", "A", "b", "\u{e9}"],
                b'.',
                true,
            ),
        ];
        for (pieces, letters, sep, caseless) in cases {
            let globs = strings(pieces, 4);
            let inputs = strings(letters, 5);
            for g in &globs {
                let glob = Glob::path(g);
                let re = regex::bytes::Regex::new(&glob_regex(&glob, sep, caseless))
                    .expect("translated glob");
                for p in &inputs {
                    let by_glob = if caseless {
                        glob.matches_caseless(p.as_bytes(), sep)
                    } else {
                        glob.matches(p.as_bytes(), sep)
                    };
                    assert_eq!(by_glob, re.is_match(p.as_bytes()), "glob {g:?} on {p:?}");
                }
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
                .map(|g| glob_regex(&Glob::path(g), b'/', false)),
        )
        .collect();
        let set = build_set(&sources).expect("set builds");
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
            paths: build_set(&sources[..1]),
            ..Gates::default()
        };
        other.match_paths(b"/admin", &mut scratch);
        let s = scratch.expect("scratch");
        assert_ne!(Some(s.owner), first);
        assert_eq!(s.bits(), &[1]);
    }
}
