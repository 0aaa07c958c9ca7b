//! Masking for response policies with `action = "mask"`: every fragment of
//! the response body that one of the policy's signatures matches is
//! overwritten with `*` of the same length, so the body's length (and its
//! framing) stays what the upstream declared.
//!
//! Hyperscan reports where a match ends, not every occurrence, so each
//! signature a mask policy uses gets a `regex` twin that finds the fragments.
//! The twin is compiled from the signature's pattern with its caseless flag
//! (or a `lowercase` transform) as case-insensitivity; other transforms are
//! not applied to the body before masking. Build one [`Masker`] per core: a
//! regex's match cache then stays on that core.
//!
//! Signatures tagged `luhn` mask only fragments whose digits pass the Luhn
//! checksum (card numbers), so order ids and phone numbers of the same shape
//! stay readable.

use rampart_matcher::{Matches, Pattern, Signature, Transform};

use crate::eval::Verdict;
use crate::model::{Action, Cond, PolicyPhase};
use crate::policy::CompiledPolicy;

/// The tag that makes masking check the Luhn digit.
pub const LUHN_TAG: &str = "luhn";

/// The regex twin of a signature, for locating fragments to mask.
pub fn mask_regex(sig: &Signature) -> Result<regex::bytes::Regex, String> {
    let caseless = sig.flags.caseless || sig.transforms.contains(&Transform::Lowercase);
    let src = match &sig.pattern {
        Pattern::Regex(s) => s.clone(),
        Pattern::Literal(l) => escape(l),
        Pattern::Literals(list) => list.iter().map(|l| escape(l)).collect::<Vec<_>>().join("|"),
    };
    regex::bytes::RegexBuilder::new(&src)
        .case_insensitive(caseless)
        .dot_matches_new_line(sig.flags.dotall)
        .multi_line(sig.flags.multiline)
        .unicode(sig.flags.utf8)
        .build()
        .map_err(|e| e.to_string().lines().last().unwrap_or("invalid").to_owned())
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4);
    for &b in bytes {
        s.push_str(&format!("\\x{b:02x}"));
    }
    s
}

/// Indexes of the signatures a condition refers to.
pub(crate) fn condition_signatures(c: &Cond, out: &mut Vec<u32>) {
    match c {
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| condition_signatures(c, out)),
        Cond::Not(c) => condition_signatures(c, out),
        Cond::Signature { resolved, .. } | Cond::SignatureTag { resolved, .. } => {
            out.extend(resolved.iter().copied())
        }
        _ => {}
    }
}

/// Per-core masking state for one compiled policy.
#[derive(Debug)]
pub struct Masker {
    /// Per policy index: the signatures whose fragments its mask replaces.
    sigs: Vec<Vec<u32>>,
    /// Per signature index: its regex twin (only for mask signatures).
    regexes: Vec<Option<regex::bytes::Regex>>,
    /// Per signature index: mask only Luhn-valid fragments.
    luhn: Vec<bool>,
}

impl Masker {
    /// Compiles the regex twins of every signature a mask policy uses
    /// (the loader has checked that they compile).
    pub fn new(policy: &CompiledPolicy) -> Masker {
        let n = policy.signatures.len();
        let mut regexes: Vec<Option<regex::bytes::Regex>> = vec![None; n];
        let mut sigs = vec![Vec::new(); policy.policies.len()];
        for (i, p) in policy.policies.iter().enumerate() {
            if p.phase != PolicyPhase::Response || p.action != Action::Mask {
                continue;
            }
            let mut list = Vec::new();
            condition_signatures(&p.condition, &mut list);
            list.sort_unstable();
            list.dedup();
            for &s in &list {
                if let Some(info) = policy.signatures.get(s as usize) {
                    if regexes[s as usize].is_none() {
                        regexes[s as usize] = mask_regex(&info.signature).ok();
                    }
                }
            }
            sigs[i] = list;
        }
        let luhn = policy
            .signatures
            .iter()
            .map(|s| s.tags.iter().any(|t| t == LUHN_TAG))
            .collect();
        Masker {
            sigs,
            regexes,
            luhn,
        }
    }

    /// Calls `mask(start, end)` for every fragment of `body` to overwrite,
    /// for each enforce `mask` hit in `verdict` whose signatures matched.
    /// Returns how many fragments there were.
    pub fn fragments(
        &self,
        verdict: &Verdict,
        matches: &Matches,
        body: &[u8],
        mut mask: impl FnMut(usize, usize),
    ) -> usize {
        let mut n = 0;
        for h in verdict.hits.iter().filter(|h| !h.monitor) {
            let Some(list) = self.sigs.get(h.policy) else {
                continue;
            };
            for &s in list {
                if !matches.matched(s) {
                    continue;
                }
                let Some(Some(re)) = self.regexes.get(s as usize) else {
                    continue;
                };
                let luhn = self.luhn.get(s as usize).copied().unwrap_or(false);
                for m in re.find_iter(body) {
                    if m.is_empty() || (luhn && !luhn_valid(m.as_bytes())) {
                        continue;
                    }
                    mask(m.start(), m.end());
                    n += 1;
                }
            }
        }
        n
    }

    /// Overwrites the fragments [`Masker::fragments`] finds with `*`.
    pub fn mask_in_place(&self, verdict: &Verdict, matches: &Matches, body: &mut [u8]) -> usize {
        let mut spans = [(0usize, 0usize); 64];
        let mut total = 0;
        // Fragments are gathered in batches (the body is borrowed while they
        // are found), then overwritten; a masked fragment does not match
        // again (and a pattern that matches `*` cannot loop forever).
        for _ in 0..64 {
            let mut k = 0;
            let found = self.fragments(verdict, matches, body, |s, e| {
                if k < spans.len() {
                    spans[k] = (s, e);
                    k += 1;
                }
            });
            for &(s, e) in &spans[..k] {
                body[s..e].fill(b'*');
            }
            total += k;
            if found <= k || k == 0 {
                break;
            }
        }
        total
    }
}

/// Whether the digits of `s` (separators ignored) pass the Luhn check, with
/// 12 to 19 of them (card number lengths).
pub fn luhn_valid(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut count = 0;
    for &b in s.iter().rev() {
        if !b.is_ascii_digit() {
            continue;
        }
        let mut d = u32::from(b - b'0');
        if count % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        count += 1;
    }
    (12..=19).contains(&count) && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::luhn_valid;

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"4111 1111 1111 1111"));
        assert!(luhn_valid(b"5500-0000-0000-0004"));
        assert!(luhn_valid(b"378282246310005"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b"1234"));
    }
}
