//! The engines Rampart is compared with, on the same signatures and corpus:
//! raw Hyperscan over the request bytes (the ceiling), `regex::RegexSet` per
//! chain over extracted fields, and Aho-Corasick + individual regexes.

mod aho;
mod raw;
mod regexset;

pub use aho::AhoRegex;
pub use raw::RawHyperscan;
pub use regexset::RegexSets;

use rampart_matcher::{FieldKind, Pattern, Signature, Transform};

/// Where one signature looks, in a form cheap to test per field.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    any: u32,
    named: Vec<(FieldKind, Vec<u8>)>,
}

impl Targets {
    /// The targets of `sig`.
    pub fn of(sig: &Signature) -> Targets {
        let mut t = Targets::default();
        t.add(sig);
        t
    }

    /// Adds `sig`'s targets (for a group's union).
    pub fn add(&mut self, sig: &Signature) {
        for target in &sig.targets {
            match &target.name {
                None => self.any |= target.kind.bit(),
                Some(n) => {
                    let n = n.to_ascii_lowercase().into_bytes();
                    if !self.named.iter().any(|(k, m)| *k == target.kind && *m == n) {
                        self.named.push((target.kind, n));
                    }
                }
            }
        }
    }

    /// Whether the field `(kind, name)` is looked at.
    pub fn hits(&self, kind: FieldKind, name: &[u8]) -> bool {
        self.any & kind.bit() != 0
            || self
                .named
                .iter()
                .any(|(k, n)| *k == kind && n.eq_ignore_ascii_case(name))
    }
}

/// A signature set grouped by transform chain, as every field-aware engine needs it.
pub fn groups(sigs: &[Signature]) -> Vec<(Vec<Transform>, Vec<usize>)> {
    let mut out: Vec<(Vec<Transform>, Vec<usize>)> = Vec::new();
    for (i, s) in sigs.iter().enumerate() {
        match out.iter_mut().find(|(c, _)| *c == s.transforms) {
            Some((_, members)) => members.push(i),
            None => out.push((s.transforms.clone(), vec![i])),
        }
    }
    out
}

/// A literal as `regex`-crate syntax (bytes outside ASCII as `\xHH`, which
/// matches the raw byte with Unicode off).
pub fn escape_bytes(lit: &[u8]) -> String {
    match std::str::from_utf8(lit) {
        Ok(s) if s.is_ascii() => regex::escape(s),
        _ => lit.iter().map(|b| format!(r"\x{b:02x}")).collect(),
    }
}

/// A signature's pattern in `regex`-crate syntax, flags inline.
pub fn rust_pattern(sig: &Signature) -> String {
    let f = sig.flags;
    let mut flags = String::new();
    for (on, c) in [(f.caseless, 'i'), (f.dotall, 's'), (f.multiline, 'm')] {
        if on {
            flags.push(c);
        }
    }
    let body = match &sig.pattern {
        Pattern::Regex(p) => p.clone(),
        Pattern::Literal(l) => escape_bytes(l),
        Pattern::Literals(list) => {
            let alts: Vec<String> = list.iter().map(|l| escape_bytes(l)).collect();
            format!("(?:{})", alts.join("|"))
        }
    };
    if flags.is_empty() {
        body
    } else {
        format!("(?{flags}){body}")
    }
}

/// Size limit for compiled `regex` programs: the default (10 MiB) is too
/// small for the big literal lists; raised so nothing is excluded for size.
pub const REGEX_SIZE_LIMIT: usize = 512 << 20;

/// A set of signature indexes, cleared per request.
#[derive(Clone, Debug)]
pub struct SigBits(Vec<u64>);

impl SigBits {
    pub fn new(n: usize) -> SigBits {
        SigBits(vec![0; n.div_ceil(64)])
    }

    pub fn clear(&mut self) {
        self.0.fill(0);
    }

    /// Sets `i`; whether it was newly set.
    pub fn set(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, 1u64 << (i % 64));
        let new = self.0[w] & b == 0;
        self.0[w] |= b;
        new
    }

    pub fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use rampart_matcher::{Matcher, ScanLimits, Scanner};

    use super::*;
    use crate::corpus::{corpus, header_refs};
    use crate::fields::Fields;
    use crate::sigset::signatures;

    /// The field-aware baselines flag the same requests as Rampart (they do
    /// the same work), so comparing their speed is fair.
    #[test]
    fn baselines_agree_with_rampart() {
        let sigs = signatures(500);
        let m = Matcher::compile(&sigs).expect("compile");
        let mut scanner = Scanner::new(&m, ScanLimits::default()).expect("scanner");
        let mut out = scanner.new_matches();
        let mut sets = RegexSets::new(&sigs).expect("regex sets");
        let mut aho = AhoRegex::new(&sigs).expect("aho");
        let mut raw = RawHyperscan::new(&sigs).expect("raw");
        assert!(sets.excluded.is_empty(), "{:?}", sets.excluded);
        assert!(aho.excluded.is_empty(), "{:?}", aho.excluded);
        let reqs = corpus(7, 3000);
        let refs = header_refs(&reqs);
        let mut fields = Fields::with_capacity(1 << 16);
        let (mut same_sets, mut same_aho, mut raw_hits, mut rampart_hits) = (0, 0, 0, 0);
        for (r, h) in reqs.iter().zip(&refs) {
            let view = r.view(h);
            scanner.scan_request(&view, &mut out).expect("scan");
            let mut want: Vec<u32> = out.signatures().collect();
            want.sort();
            fields.extract(&view);
            let n_sets = sets.scan(&fields);
            let n_aho = aho.scan(&fields);
            same_sets += usize::from(n_sets == want.len());
            same_aho += usize::from(n_aho == want.len());
            if n_sets != want.len() {
                let names: Vec<&str> = want.iter().filter_map(|&i| m.signature_id(i)).collect();
                eprintln!(
                    "regexset {n_sets} vs rampart {names:?}\n{}",
                    String::from_utf8_lossy(&r.raw()).escape_debug()
                );
            }
            rampart_hits += usize::from(!want.is_empty());
            raw_hits += usize::from(raw.scan(&r.raw()).expect("raw scan") > 0);
        }
        eprintln!("same count: regexset {same_sets}, aho {same_aho} of {}; flagged: rampart {rampart_hits}, raw {raw_hits}", reqs.len());
        assert!(same_sets * 100 >= reqs.len() * 99, "{same_sets}");
        assert!(same_aho * 100 >= reqs.len() * 99, "{same_aho}");
        assert!(rampart_hits > 0 && raw_hits > 0);
    }
}
