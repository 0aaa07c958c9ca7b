//! `a=1&b=2` splitting for the query string and urlencoded form bodies.

use memchr::memchr;

use crate::FieldKind;

/// Reports each `name=value` pair of `input` as a `name_kind` field (name: the
/// name) and a `value_kind` field (name: the name).
///
/// Pairs are separated by `&`; empty pairs (`a=1&&b=2`) are skipped. The name
/// ends at the first `=`, so values may contain `=`; a pair without `=` is a
/// name with an empty value. Bytes are reported raw: percent- and
/// plus-decoding are signature transforms, so a signature sees exactly what it
/// asks for and a malformed escape cannot stop extraction.
pub fn urlencoded(
    input: &[u8],
    name_kind: FieldKind,
    value_kind: FieldKind,
    visit: &mut impl FnMut(FieldKind, &[u8], &[u8]),
) {
    let mut rest = input;
    while !rest.is_empty() {
        let (pair, next) = match memchr(b'&', rest) {
            Some(amp) => (&rest[..amp], &rest[amp + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match memchr(b'=', pair) {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        visit(name_kind, name, name);
        visit(value_kind, name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::alloc_count::allocations;
    use crate::extract::test_util::{field, fields, recorder, Field, Want};
    use proptest::prelude::*;
    use FieldKind::{ArgName as N, ArgValue as V};

    fn run(input: &str) -> Vec<Field> {
        let mut out = Vec::new();
        urlencoded(input.as_bytes(), N, V, &mut recorder(&mut out));
        out
    }

    #[test]
    fn pairs() {
        let cases: &[(&str, Want<'_>)] = &[
            ("", &[]),
            ("a=1", &[(N, "a", "a"), (V, "a", "1")]),
            (
                "a=1&b=2",
                &[(N, "a", "a"), (V, "a", "1"), (N, "b", "b"), (V, "b", "2")],
            ),
            // No `=`: a name with an empty value.
            ("flag", &[(N, "flag", "flag"), (V, "flag", "")]),
            // Only the first `=` splits.
            ("q=a=b==", &[(N, "q", "q"), (V, "q", "a=b==")]),
            // Empty name, empty value.
            ("=x", &[(N, "", ""), (V, "", "x")]),
            ("x=", &[(N, "x", "x"), (V, "x", "")]),
            ("=", &[(N, "", ""), (V, "", "")]),
            // Empty pairs are skipped, wherever they are.
            (
                "&&a=1&&&b&",
                &[(N, "a", "a"), (V, "a", "1"), (N, "b", "b"), (V, "b", "")],
            ),
            ("&", &[]),
            // Raw bytes: no decoding, no splitting on `;` or `+`.
            (
                "q=%3Cscript%3E&x=a+b;c=d",
                &[
                    (N, "q", "q"),
                    (V, "q", "%3Cscript%3E"),
                    (N, "x", "x"),
                    (V, "x", "a+b;c=d"),
                ],
            ),
            // `%26` is not a separator until decoded, which happens later.
            ("a=1%26b=2", &[(N, "a", "a"), (V, "a", "1%26b=2")]),
            // Duplicates are all reported.
            (
                "id=1&id=2",
                &[
                    (N, "id", "id"),
                    (V, "id", "1"),
                    (N, "id", "id"),
                    (V, "id", "2"),
                ],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(run(input), fields(want), "{input:?}");
        }
    }

    #[test]
    fn kinds_are_the_callers() {
        let mut out = Vec::new();
        urlencoded(
            b"u=admin",
            FieldKind::FormName,
            FieldKind::FormValue,
            &mut recorder(&mut out),
        );
        assert_eq!(
            out,
            vec![
                field(FieldKind::FormName, "u", "u"),
                field(FieldKind::FormValue, "u", "admin")
            ]
        );
    }

    #[test]
    fn binary_bytes_pass_through() {
        let mut got = Vec::new();
        urlencoded(b"\xff\x00=\x80&", N, V, &mut |k, n, v| {
            got.push((k, n.to_vec(), v.to_vec()))
        });
        assert_eq!(
            got,
            vec![
                (N, b"\xff\x00".to_vec(), b"\xff\x00".to_vec()),
                (V, b"\xff\x00".to_vec(), b"\x80".to_vec())
            ]
        );
    }

    proptest! {
        #[test]
        fn any_bytes_no_panic_no_alloc(input in prop::collection::vec(
            prop_oneof![Just(b'&'), Just(b'='), any::<u8>()], 0..256)) {
            let mut count = 0usize;
            let mut bytes = 0usize;
            let ((), allocs) = allocations(|| {
                urlencoded(&input, N, V, &mut |k, n, v| {
                    count += 1;
                    if k == V {
                        bytes += n.len() + v.len();
                    }
                })
            });
            prop_assert_eq!(allocs, 0);
            prop_assert_eq!(count % 2, 0);
            // Pairs are disjoint slices of the input.
            prop_assert!(bytes <= input.len());
        }

        #[test]
        fn rejoined_pairs_rebuild_the_input(pairs in prop::collection::vec(
            ("[a-z%+=]{0,4}", "[a-z%+=]{0,4}"), 0..8)) {
            // Names never contain `=` here so the split is unambiguous.
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .map(|(n, v)| (n.replace('=', ""), v))
                .filter(|(n, v)| !(n.is_empty() && v.is_empty()))
                .collect();
            let input = pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let want: Vec<Field> = pairs
                .iter()
                .flat_map(|(n, v)| [field(N, n, n), field(V, n, v)])
                .collect();
            prop_assert_eq!(run(&input), want);
        }
    }
}
