//! Which signatures can match inside a value made only of number characters
//! (`0-9`, `.`, `e`, `E`, `-`): a JSON number, `?page=2&id=17`.
//!
//! Why: API requests are full of numbers (ids, quantities, prices, page
//! sizes; 65 of the 140 JSON values of the benchmark's order POST), and every
//! one was copied into the merged buffers and scanned by every signature,
//! although an SQL-injection or XSS pattern cannot match `11.37`. A
//! signature that needs some other byte in every match is left out of the
//! number groups (see `compile::MergeClass::numeric`); a number is scanned
//! only by the few that could match it (`^\s*-?[0-9]{20,}\s*$`, numeric
//! overflow). The matches are the same: a field made of number characters
//! gives no match to a signature whose every match holds another byte, and a
//! match that would span a field separator is never a real one.
//!
//! The test is done on the `regex-syntax` HIR of the pattern, conservatively:
//! a pattern that does not parse, or any construct the walk does not know,
//! counts as able to match a number. Case does not matter: the alphabet is
//! closed under ASCII case (`e`/`E`), so a caseless signature needs a byte
//! outside it exactly when its case-sensitive form does.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::analyze::to_rust_regex;
use crate::signature::{Pattern, Signature};

/// The bytes of a number value.
pub(crate) const fn is_number_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'-')
}

/// Whether `sig` could match a value made only of number bytes.
pub(crate) fn can_match_number(sig: &Signature) -> bool {
    match &sig.pattern {
        Pattern::Literal(l) => l.iter().all(|&b| is_number_byte(b)),
        Pattern::Literals(list) => list.iter().any(|l| l.iter().all(|&b| is_number_byte(b))),
        Pattern::Regex(src) => {
            let rust = to_rust_regex(
                src,
                sig.flags.caseless,
                sig.flags.dotall,
                sig.flags.multiline,
            );
            let parsed = regex_syntax::ParserBuilder::new()
                .unicode(sig.flags.utf8)
                .utf8(false)
                .build()
                .parse(&rust);
            match parsed {
                Ok(hir) => !needs_other_byte(&hir),
                Err(_) => true,
            }
        }
    }
}

/// Whether every match of `h` contains a byte that is not a number byte.
fn needs_other_byte(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(l) => l.0.iter().any(|&b| !is_number_byte(b)),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .all(|r| (r.start()..=r.end()).all(|b| !is_number_byte(b))),
        HirKind::Class(Class::Unicode(c)) => c.ranges().iter().all(|r| {
            // Number bytes are ASCII: a range above it holds none.
            let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
            lo > 0x7f || (lo..=hi.min(0x7f)).all(|b| !is_number_byte(b as u8))
        }),
        HirKind::Repetition(r) => r.min >= 1 && needs_other_byte(&r.sub),
        HirKind::Capture(c) => needs_other_byte(&c.sub),
        HirKind::Concat(parts) => parts.iter().any(needs_other_byte),
        HirKind::Alternation(alts) => alts.iter().all(needs_other_byte),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldKind;
    use crate::signature::{SigFlags, Target};

    fn regex(src: &str, caseless: bool) -> Signature {
        Signature::regex("t", src, vec![Target::all(FieldKind::JsonValue)]).with_flags(SigFlags {
            caseless,
            ..SigFlags::default()
        })
    }

    #[test]
    fn patterns_that_need_another_byte_are_told_apart() {
        let cannot = [
            r"union\s+select",
            r"<script",
            r"(?:'|--)\s*or\s+1",
            r"[;|]\s*id",
            r"\bsleep\s*\(",
            r"a+|b",
            r"[^0-9.eE-]",
            r"\s",
        ];
        for src in cannot {
            assert!(!can_match_number(&regex(src, false)), "{src}");
            assert!(!can_match_number(&regex(src, true)), "{src} caseless");
        }
        let can = [
            r"^\s*-?[0-9]{20,}(?:\.[0-9]+)?\s*$",
            r"\d{16}",
            r"1e9",
            r"E",
            r"x*",
            r"(?:a|1)",
            r".",
            r"[^a]",
            r"\D",
            r"\b-1\b",
            // Not understood by regex-syntax: assumed able to.
            r"(?<=a)b",
        ];
        for src in can {
            assert!(can_match_number(&regex(src, false)), "{src}");
        }
    }

    #[test]
    fn literals_are_judged_byte_by_byte() {
        let lit = |l: &[u8]| Signature::literal("t", l, vec![Target::all(FieldKind::JsonValue)]);
        assert!(can_match_number(&lit(b"-1.5e3")));
        assert!(!can_match_number(&lit(b"1 1")));
        let list = |l: &[&[u8]]| Signature {
            pattern: Pattern::Literals(l.iter().map(|x| x.to_vec()).collect()),
            ..regex("", false)
        };
        assert!(!can_match_number(&list(&[b"sqlmap", b"nikto"])));
        assert!(can_match_number(&list(&[b"sqlmap", b"007"])));
    }

    /// The claim the groups rely on, checked against the real engine: a
    /// pattern judged unable to match a number finds nothing in any short
    /// number string.
    #[test]
    fn what_is_judged_unable_finds_nothing_in_numbers() {
        let numbers: Vec<String> = {
            let alphabet = ["0", "1", "9", ".", "e", "E", "-"];
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..4 {
                last = last
                    .iter()
                    .flat_map(|s| alphabet.iter().map(move |a| format!("{s}{a}")))
                    .collect();
                all.extend(last.iter().cloned());
            }
            all
        };
        let mut unable = 0;
        for src in [
            r"[a-d]?e",
            r"(?:x|e1)",
            r"\w+",
            r"[^\d]",
            r"-\s?1",
            r"\.{2}",
            r"e\s",
            r"(?:1|2)+[a-d]",
            r"[f-z]e",
            r"(?:-1|x)y?z",
        ] {
            let sig = regex(src, true);
            let re = regex::bytes::RegexBuilder::new(src)
                .case_insensitive(true)
                .build()
                .expect("regex");
            let found = numbers.iter().any(|n| re.is_match(n.as_bytes()));
            if !can_match_number(&sig) {
                unable += 1;
                assert!(!found, "{src} was judged unable but matches a number");
            } else {
                assert!(found, "{src} can match a number: some short one shows it");
            }
        }
        assert_eq!(unable, 4, "the list exercises both verdicts");
    }
}
