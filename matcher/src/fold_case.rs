//! Turns a trailing `lowercase` transform into a caseless match where that
//! provably finds the same matches, so the field is scanned as it is.
//!
//! Why: packs write `transforms = [..., "lowercase"]` so their patterns can
//! be lowercase, and the default pack does so for most signatures. Each such
//! chain is a group of its own: every JSON value and the whole raw body were
//! copied, lowercased and scanned a second time (measured on a 2 KiB JSON
//! POST: 6.2 KB scanned instead of 3.2 KB). Hyperscan's `HS_FLAG_CASELESS`
//! does the same job inside the one scan of the untransformed field.
//!
//! The two are equal only for some patterns. Matching `P` against
//! `lower(x)` tests each byte `c` of `x` as `lower(c)`; matching `P`
//! caselessly against `x` tests `c` or its other case. For every element of
//! `P` that tests a set of bytes `S` (a literal, a class, the positive set of
//! a negated class), the two agree exactly when every ASCII uppercase letter
//! in `S` has its lowercase letter in `S` too. So the rewrite is made only
//! for patterns that parse, contain no uppercase literal, no class breaking
//! that rule, no `[:upper:]`/`[:lower:]`, no Unicode class and no flag group
//! turning case sensitivity back on. Bytes above 0x7F (`\xe2`) are fine in
//! byte mode, where both `lowercase` and Hyperscan's caseless mode leave
//! them alone; a UTF-8 pattern must be ASCII, since Hyperscan may fold
//! Unicode letters there. Anything the parser does not understand keeps its
//! lowercase chain: being conservative only costs the second scan.

use std::borrow::Cow;

use regex_syntax::ast::{self, Ast, ClassAsciiKind, ClassSet, ClassSetItem, FlagsItemKind};

use crate::signature::{Pattern, Signature};
use crate::transform::Transform;

/// `sigs` with every foldable trailing `lowercase` replaced by the caseless
/// flag (borrowed as they are when none is foldable).
pub(crate) fn fold_trailing_lowercase(sigs: &[Signature]) -> Cow<'_, [Signature]> {
    if !sigs.iter().any(foldable) {
        return Cow::Borrowed(sigs);
    }
    Cow::Owned(
        sigs.iter()
            .map(|s| {
                let mut s = s.clone();
                if foldable(&s) {
                    s.transforms.pop();
                    s.flags.caseless = true;
                }
                s
            })
            .collect(),
    )
}

/// Whether `sig` ends its chain with `lowercase` and its pattern matches the
/// same caselessly on the field as it does on the lowercased field.
pub(crate) fn foldable(sig: &Signature) -> bool {
    if sig.transforms.last() != Some(&Transform::Lowercase) {
        return false;
    }
    match &sig.pattern {
        Pattern::Literal(l) => !l.iter().any(u8::is_ascii_uppercase),
        Pattern::Literals(list) => list.iter().all(|l| !l.iter().any(u8::is_ascii_uppercase)),
        Pattern::Regex(src) => regex_foldable(src, sig.flags.utf8),
    }
}

/// Whether regex `src` (Hyperscan dialect; UTF-8 mode when `utf8`) may be
/// matched caselessly instead of against lowercased input.
pub(crate) fn regex_foldable(src: &str, utf8: bool) -> bool {
    if !src.is_ascii() {
        return false;
    }
    let rust = crate::analyze::to_rust_regex(src, false, false, false);
    // In byte mode a non-ASCII "character" is one byte, never a letter.
    let top = if utf8 { '\x7f' } else { '\u{ff}' };
    match ast::parse::Parser::new().parse(&rust) {
        Ok(tree) => ast_foldable(&tree, top),
        Err(_) => false,
    }
}

fn ast_foldable(node: &Ast, top: char) -> bool {
    let all = |asts: &[Ast]| asts.iter().all(|a| ast_foldable(a, top));
    match node {
        Ast::Empty(_) | Ast::Dot(_) | Ast::Assertion(_) | Ast::ClassPerl(_) => true,
        Ast::Flags(f) => flags_foldable(&f.flags),
        Ast::Literal(l) => l.c <= top && !l.c.is_ascii_uppercase(),
        Ast::ClassUnicode(_) => false,
        Ast::ClassBracketed(b) => class_foldable(&b.kind, top),
        Ast::Repetition(r) => ast_foldable(&r.ast, top),
        Ast::Group(g) => {
            let flags_ok = match &g.kind {
                ast::GroupKind::NonCapturing(f) => flags_foldable(f),
                _ => true,
            };
            flags_ok && ast_foldable(&g.ast, top)
        }
        Ast::Alternation(a) => all(&a.asts),
        Ast::Concat(c) => all(&c.asts),
    }
}

/// A flag group may turn `i` on (harmless) but not off.
fn flags_foldable(flags: &ast::Flags) -> bool {
    let mut negated = false;
    for item in &flags.items {
        match item.kind {
            FlagsItemKind::Negation => negated = true,
            FlagsItemKind::Flag(ast::Flag::CaseInsensitive) if negated => return false,
            FlagsItemKind::Flag(_) => {}
        }
    }
    true
}

/// A bracketed class (its positive set; negation does not matter, see the
/// module doc) keeps the rule: each uppercase letter it holds, it holds in
/// lowercase too.
fn class_foldable(set: &ClassSet, top: char) -> bool {
    let mut bits = [false; 256];
    match set {
        ClassSet::BinaryOp(_) => false,
        ClassSet::Item(item) => {
            collect(item, top, &mut bits)
                && (b'A'..=b'Z').all(|u| !bits[u as usize] || bits[u.to_ascii_lowercase() as usize])
        }
    }
}

/// Adds the bytes `item` names to `bits`; `false` for what cannot be judged
/// (above `top`, Unicode classes, nested negation, case classes).
fn collect(item: &ClassSetItem, top: char, bits: &mut [bool; 256]) -> bool {
    let mut range = |a: char, b: char| {
        if a > top || b > top || a > b {
            return false;
        }
        bits[a as usize..=b as usize].fill(true);
        true
    };
    match item {
        ClassSetItem::Empty(_) => true,
        ClassSetItem::Literal(l) => range(l.c, l.c),
        ClassSetItem::Range(r) => range(r.start.c, r.end.c),
        // These sets hold both cases of every letter they hold (or none).
        ClassSetItem::Perl(_) => true,
        ClassSetItem::Ascii(a) => !matches!(a.kind, ClassAsciiKind::Upper | ClassAsciiKind::Lower),
        ClassSetItem::Unicode(_) => false,
        ClassSetItem::Bracketed(b) => !b.negated && collect_set(&b.kind, top, bits),
        ClassSetItem::Union(u) => u.items.iter().all(|i| collect(i, top, bits)),
    }
}

fn collect_set(set: &ClassSet, top: char, bits: &mut [bool; 256]) -> bool {
    match set {
        ClassSet::BinaryOp(_) => false,
        ClassSet::Item(i) => collect(i, top, bits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_patterns_fold() {
        for p in [
            "union\\s+select",
            "<script[^>]*>",
            "[^a]bc",
            "[a-z0-9_]+=",
            "[a-zA-Z]+x",
            "(?i)select",
            "(?:sleep|benchmark)\\s*\\(",
            "\\bexec\\b",
            "[[:alpha:]]+",
            "[^\\W\\d]z",
            "\\$\\{jndi:",
            "\\x2e\\x2e/",
            "[0-9]{3,}",
            "(?:\\xef\\xbc\\x8e|\\xe2\\x80\\xa4){2}",
            "\\xe2[\\x91-\\x93][\\x80-\\xbf]",
        ] {
            assert!(regex_foldable(p, false), "{p} should fold");
        }
    }

    #[test]
    fn case_dependent_patterns_do_not_fold() {
        for p in [
            "SELECT",
            "[A-Z]",
            "[^A-Z]x",
            "[0-Z]",
            "[[:upper:]]",
            "[[:lower:]]",
            "\\x41",
            "\\p{Lu}",
            "a(?-i)b",
            "(?-i:b)",
            "é",
            "[^[^a]]",
            "(unclosed",
        ] {
            assert!(!regex_foldable(p, false), "{p} should not fold");
        }
        // Hyperscan may fold Unicode letters in UTF-8 mode.
        assert!(!regex_foldable("\\xe9", true));
        assert!(!regex_foldable("[\\x{e0}-\\x{ff}]", true));
        assert!(regex_foldable("abc", true));
    }

    #[test]
    fn only_a_trailing_lowercase_folds() {
        let t = vec![crate::Target {
            kind: crate::FieldKind::ArgValue,
            name: None,
        }];
        let sig =
            |chain: &[Transform]| Signature::regex("s", "abc", t.clone()).with_transforms(chain);
        assert!(foldable(&sig(&[
            Transform::UrlDecode,
            Transform::Lowercase
        ])));
        assert!(!foldable(&sig(&[
            Transform::Lowercase,
            Transform::HtmlEntityDecode
        ])));
        assert!(!foldable(&sig(&[Transform::UrlDecode])));
        let lit = |l: &[u8]| {
            Signature::literal("l", l, t.clone()).with_transforms(&[Transform::Lowercase])
        };
        assert!(foldable(&lit(b"sqlmap/\xff")));
        assert!(!foldable(&lit(b"Nikto")));
        let one = [sig(&[Transform::UrlDecode, Transform::Lowercase])];
        let folded = fold_trailing_lowercase(&one);
        assert_eq!(folded[0].transforms, vec![Transform::UrlDecode]);
        assert!(folded[0].flags.caseless);
        let kept = [sig(&[Transform::Lowercase, Transform::UrlDecode])];
        assert!(matches!(fold_trailing_lowercase(&kept), Cow::Borrowed(_)));
    }
}
