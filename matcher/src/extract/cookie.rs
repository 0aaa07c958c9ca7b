//! `Cookie:` header splitting into cookie names and values.

use memchr::memchr;

use crate::FieldKind;

/// Reports each cookie of a `Cookie` header value as a `CookieName` field
/// (name: the cookie name) and a `CookieValue` field (name: the cookie name).
///
/// Pairs are separated by `;` and trimmed of spaces and tabs, as are the name
/// and value around the first `=` (servers differ on `a = b`, so both sides are
/// normalised the lenient way). One pair of surrounding double quotes is
/// removed from the value (RFC 6265 `cookie-value`). Empty pairs are skipped;
/// a pair without `=` is a name with an empty value. Values are raw (no
/// percent-decoding: that is a signature transform).
pub fn cookies(header_value: &[u8], visit: &mut impl FnMut(FieldKind, &[u8], &[u8])) {
    let mut rest = header_value;
    while !rest.is_empty() {
        let (pair, next) = match memchr(b';', rest) {
            Some(semi) => (&rest[..semi], &rest[semi + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let pair = super::trim(pair);
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match memchr(b'=', pair) {
            Some(eq) => (super::trim(&pair[..eq]), super::trim(&pair[eq + 1..])),
            None => (pair, &pair[pair.len()..]),
        };
        let value = match value {
            [b'"', inner @ .., b'"'] => inner,
            _ => value,
        };
        visit(FieldKind::CookieName, name, name);
        visit(FieldKind::CookieValue, name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::alloc_count::allocations;
    use crate::extract::test_util::{fields, recorder, Field, Want};
    use proptest::prelude::*;
    use FieldKind::{CookieName as N, CookieValue as V};

    fn run(input: &str) -> Vec<Field> {
        let mut out = Vec::new();
        cookies(input.as_bytes(), &mut recorder(&mut out));
        out
    }

    #[test]
    fn pairs() {
        let cases: &[(&str, Want<'_>)] = &[
            ("", &[]),
            ("  ;; \t;", &[]),
            ("sid=abc", &[(N, "sid", "sid"), (V, "sid", "abc")]),
            (
                "sid=abc; theme=dark",
                &[
                    (N, "sid", "sid"),
                    (V, "sid", "abc"),
                    (N, "theme", "theme"),
                    (V, "theme", "dark"),
                ],
            ),
            // Spaces and tabs around pairs, names and values.
            (
                " \ta = b \t;c=d ",
                &[(N, "a", "a"), (V, "a", "b"), (N, "c", "c"), (V, "c", "d")],
            ),
            // One pair of quotes is removed, inner spaces kept.
            ("q=\"a b\"", &[(N, "q", "q"), (V, "q", "a b")]),
            ("q=\"\"x\"\"", &[(N, "q", "q"), (V, "q", "\"x\"")]),
            ("q=\"", &[(N, "q", "q"), (V, "q", "\"")]),
            ("q=\"\"", &[(N, "q", "q"), (V, "q", "")]),
            ("q=\"open", &[(N, "q", "q"), (V, "q", "\"open")]),
            // Only the first `=` splits.
            ("t=a=b=", &[(N, "t", "t"), (V, "t", "a=b=")]),
            // No `=`: a name with an empty value.
            ("flag", &[(N, "flag", "flag"), (V, "flag", "")]),
            ("=v", &[(N, "", ""), (V, "", "v")]),
            // Raw: no decoding, commas are not separators.
            (
                "x=%3Cscript%3E,y=1",
                &[(N, "x", "x"), (V, "x", "%3Cscript%3E,y=1")],
            ),
            // Quotes do not protect a `;` (RFC 6265 forbids it in values).
            (
                "q=\"a;b\"",
                &[
                    (N, "q", "q"),
                    (V, "q", "\"a"),
                    (N, "b\"", "b\""),
                    (V, "b\"", ""),
                ],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(input), fields(want), "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn any_bytes_no_panic_no_alloc(input in prop::collection::vec(
            prop_oneof![Just(b';'), Just(b'='), Just(b'"'), Just(b' '), any::<u8>()], 0..256)) {
            let mut count = 0usize;
            let mut trimmed = true;
            let ((), allocs) = allocations(|| {
                cookies(&input, &mut |_, n, _| {
                    let ows = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
                    trimmed &= !ows(n.first()) && !ows(n.last());
                    count += 1;
                })
            });
            prop_assert_eq!(allocs, 0);
            prop_assert_eq!(count % 2, 0);
            prop_assert!(trimmed);
        }
    }
}
