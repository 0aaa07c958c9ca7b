//! Lexical facts about a regex that decide how it may be scanned, and its
//! translation to the `regex`/`fancy-regex` dialect for confirmation.
//!
//! The scanner joins fields with `\n` and scans them in one call with `^`/`$`
//! forced to line mode, so it must know which patterns use anchors (their
//! meaning changes inside a field that itself contains a newline) and which
//! use buffer-edge assertions (`\A`, `\z`, `\Z`, `\G`, which cannot work on a
//! joined buffer at all). Misclassifying a plain pattern as anchored is safe
//! (it only costs a per-field scan); the reverse is not, so the scan is
//! conservative.

/// What the scanner needs to know about a pattern's syntax.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Syntax {
    /// Uses `^` or `$` outside a character class.
    pub line_anchors: bool,
    /// Uses `\A`, `\z`, `\Z` or `\G`.
    pub edge_anchors: bool,
}

/// Scans `pattern` for anchors, skipping escapes, `\Q…\E` and character classes.
pub fn syntax(pattern: &str) -> Syntax {
    let b = pattern.as_bytes();
    let mut out = Syntax::default();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                let c = b[i + 1];
                if c == b'Q' {
                    // Quoted literal run up to \E (or the end).
                    let rest = &b[i + 2..];
                    let end = rest.windows(2).position(|w| w == b"\\E");
                    i = match end {
                        Some(p) => i + 2 + p + 2,
                        None => b.len(),
                    };
                    continue;
                }
                if !in_class && matches!(c, b'A' | b'z' | b'Z' | b'G') {
                    out.edge_anchors = true;
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => {
                in_class = true;
                i += 1;
                // A `]` right after `[` or `[^` is a literal member.
                if i < b.len() && b[i] == b'^' {
                    i += 1;
                }
                if i < b.len() && b[i] == b']' {
                    i += 1;
                }
                continue;
            }
            b']' if in_class => in_class = false,
            b'^' | b'$' if !in_class => out.line_anchors = true,
            _ => {}
        }
        i += 1;
    }
    out
}

/// Rewrites a Hyperscan/PCRE pattern for the `regex` and `fancy-regex` crates.
///
/// The dialects differ in ways that silently change meaning rather than fail:
/// `regex` ≥ 1.10 reads `\<` and `\>` as word boundaries where PCRE reads
/// literal `<` and `>`. Escapes PCRE has and `regex` lacks are spelled out.
pub fn to_rust_regex(pattern: &str, caseless: bool, dotall: bool, multiline: bool) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let flags: String = [(caseless, 'i'), (dotall, 's'), (multiline, 'm')]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
    if !flags.is_empty() {
        out.push_str("(?");
        out.push_str(&flags);
        out.push(')');
    }
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('<') => out.push('<'),
            Some('>') => out.push('>'),
            Some('h') => out.push_str("[\\t ]"),
            Some('H') => out.push_str("[^\\t ]"),
            Some('e') => out.push_str("\\x1B"),
            Some('Z') => out.push_str("(?:\\n?\\z)"),
            Some('/') => out.push('/'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push_str("\\\\"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_found_outside_classes_only() {
        assert_eq!(syntax("abc"), Syntax::default());
        assert!(syntax("^abc").line_anchors);
        assert!(syntax("abc$").line_anchors);
        assert!(!syntax("[^a]bc").line_anchors);
        assert!(!syntax("a[$]b").line_anchors);
        assert!(!syntax("a\\$b").line_anchors);
        assert!(!syntax("[]^]x").line_anchors);
        assert!(syntax("[]x]^").line_anchors);
        assert!(!syntax("\\Q^$\\Ex").line_anchors);
        assert!(syntax("\\Qab\\E$").line_anchors);
    }

    #[test]
    fn edge_assertions_are_found() {
        assert!(syntax("\\Aabc").edge_anchors);
        assert!(syntax("abc\\z").edge_anchors);
        assert!(syntax("abc\\Z").edge_anchors);
        assert!(!syntax("\\\\A").edge_anchors);
        assert!(!syntax("[\\A]").edge_anchors);
    }

    #[test]
    fn pcre_word_escapes_become_literals() {
        let r = to_rust_regex("\\<script\\>", false, false, false);
        assert_eq!(r, "<script>");
        let re = regex::bytes::Regex::new(&r).expect("valid");
        assert!(re.is_match(b"x<script>"));
        let r = to_rust_regex("a\\hb", true, false, false);
        assert_eq!(r, "(?i)a[\\t ]b");
    }
}
