//! Differential test: for generated patterns, flags, transform chains and
//! field values, the matcher's (signature, field) set equals a naive check of
//! every signature against every normalised field with the `regex` crate.

use std::collections::BTreeSet;

use proptest::prelude::*;
use rampart_matcher::{
    FieldKind as K, Matcher, RequestView, ScanLimits, Scanner, SigFlags, Signature, Target,
    Transform,
};

/// Patterns over a small alphabet so that matches, near-misses and
/// cross-field spans are all common.
fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("c".to_string()),
        Just("A".to_string()),
        Just("%".to_string()),
        Just(" ".to_string()),
        Just(".".to_string()),
        Just("[ab]".to_string()),
        Just("[^a]".to_string()),
        Just("\\d".to_string()),
        Just("\\n".to_string()),
        // Classes whose meaning under case folding differs from their
        // meaning on a lowercased value (a trailing `lowercase` may be
        // turned into a caseless scan only where the two agree).
        Just("B".to_string()),
        Just("[A-Z]".to_string()),
        Just("[a-zA-Z]".to_string()),
        Just("[^A-Z]".to_string()),
        Just("[0-Z]".to_string()),
        Just("[[:upper:]]".to_string()),
        Just("[^ab]".to_string()),
        Just("(?i:b)".to_string()),
        Just("\\xe9".to_string()),
        // Number bytes: values made only of them are scanned only by the
        // signatures that could match one (see `numeric.rs`).
        Just("1".to_string()),
        Just("-".to_string()),
        Just("e".to_string()),
        Just("E".to_string()),
        Just("\\.".to_string()),
        Just("[0-9]".to_string()),
        Just("[e-f]".to_string()),
        Just("\\D".to_string()),
    ]
}

fn quantified() -> impl Strategy<Value = String> {
    (
        atom(),
        prop_oneof![Just(""), Just("?"), Just("*"), Just("+"), Just("{1,3}")],
    )
        .prop_map(|(a, q)| format!("{a}{q}"))
}

fn pattern() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(quantified(), 1..5),
        proptest::collection::vec(quantified(), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, b, start, end)| {
            let mut p = a.concat();
            if !b.is_empty() {
                p = format!("(?:{p}|{})", b.concat());
            }
            format!(
                "{}{p}{}",
                if start { "^" } else { "" },
                if end { "$" } else { "" }
            )
        })
        .prop_filter("must not match the empty string", |p| {
            regex::bytes::Regex::new(&format!("(?-u){p}")).is_ok_and(|r| !r.is_match(b""))
        })
}

fn chain() -> impl Strategy<Value = Vec<Transform>> {
    proptest::collection::vec(
        prop_oneof![
            Just(Transform::UrlDecode),
            Just(Transform::Lowercase),
            Just(Transform::RemoveNulls),
            Just(Transform::CompressWhitespace),
            Just(Transform::PlusToSpace),
        ],
        0..3,
    )
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![any_value(), number_value()]
}

/// A value of number bytes only (`0-9 . e E -`), as JSON numbers and
/// numeric query arguments are.
fn number_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'1'),
            Just(b'7'),
            Just(b'0'),
            Just(b'.'),
            Just(b'e'),
            Just(b'E'),
            Just(b'-'),
        ],
        0..8,
    )
}

fn any_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'a'),
            Just(b'b'),
            Just(b'c'),
            Just(b'A'),
            Just(b'B'),
            Just(b'Z'),
            Just(0xe9u8),
            Just(0xc9u8),
            Just(b'1'),
            Just(b'%'),
            Just(b'4'),
            Just(b'1'),
            Just(b' '),
            Just(b'\n'),
            Just(b'+'),
            Just(b'.'),
            Just(b'e'),
            Just(b'-'),
            Just(0u8),
        ],
        0..14,
    )
}

#[derive(Debug, Clone)]
struct Case {
    sigs: Vec<(String, SigFlags, Vec<Transform>)>,
    values: Vec<Vec<u8>>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((pattern(), any::<(bool, bool, bool)>(), chain()), 1..5),
        proptest::collection::vec(value(), 1..6),
    )
        .prop_map(|(sigs, values)| Case {
            sigs: sigs
                .into_iter()
                .map(|(p, (caseless, multiline, dotall), c)| {
                    (
                        p,
                        SigFlags {
                            caseless,
                            multiline,
                            dotall,
                            ..SigFlags::default()
                        },
                        c,
                    )
                })
                .collect(),
            values,
        })
}

fn normalise(chain: &[Transform], v: &[u8]) -> Vec<u8> {
    let mut cur = v.to_vec();
    for t in chain {
        let mut out = Vec::new();
        t.apply(&cur, &mut out);
        cur = out;
    }
    cur
}

/// The oracle: `regex` in byte mode with the same flags on each field alone.
fn oracle(case: &Case) -> BTreeSet<(usize, usize)> {
    let mut out = BTreeSet::new();
    for (si, (p, f, chain)) in case.sigs.iter().enumerate() {
        let flags = format!(
            "(?{}{}{}-u)",
            if f.caseless { "i" } else { "" },
            if f.multiline { "m" } else { "" },
            if f.dotall { "s" } else { "" }
        );
        let re = regex::bytes::Regex::new(&format!("{flags}{p}")).expect("oracle regex");
        for (fi, v) in case.values.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            let n = normalise(chain, v);
            if re.is_match(&n) || pcre_dollar_extra(p, f, &re, &n) {
                out.insert((si, fi));
            }
        }
    }
    out
}

/// PCRE's (and Hyperscan's) non-multiline `$` also matches before a final
/// newline; `regex` does not. Emulate that one difference.
fn pcre_dollar_extra(p: &str, f: &SigFlags, re: &regex::bytes::Regex, n: &[u8]) -> bool {
    !f.multiline && p.ends_with('$') && n.last() == Some(&b'\n') && {
        let _ = re;
        let flags = format!(
            "(?{}{}-u)",
            if f.caseless { "i" } else { "" },
            if f.dotall { "s" } else { "" }
        );
        let body = &p[..p.len() - 1];
        regex::bytes::Regex::new(&format!("{flags}{body}\\n\\z")).is_ok_and(|r| r.is_match(n))
            || regex::bytes::Regex::new(&format!("{flags}(?:{body})\\z"))
                .is_ok_and(|r| r.is_match(&n[..n.len() - 1]))
    }
}

fn matcher_result(case: &Case) -> BTreeSet<(usize, usize)> {
    let sigs: Vec<Signature> = case
        .sigs
        .iter()
        .enumerate()
        .map(|(i, (p, f, chain))| {
            Signature::regex(
                format!("s{i}"),
                p.clone(),
                vec![Target::all(K::HeaderValue)],
            )
            .with_flags(*f)
            .with_transforms(chain)
        })
        .collect();
    let m = Matcher::compile(&sigs).expect("compile");
    let mut s = Scanner::new(&m, ScanLimits::default()).expect("scanner");
    let names: Vec<String> = (0..case.values.len()).map(|i| format!("h{i}")).collect();
    let headers: Vec<(&[u8], &[u8])> = names
        .iter()
        .zip(&case.values)
        .map(|(n, v)| (n.as_bytes(), &v[..]))
        .collect();
    let view = RequestView {
        method: b"GET",
        target: b"/",
        headers: &headers,
        body: b"",
    };
    let mut out = s.new_matches();
    s.scan_request(&view, &mut out).expect("scan");
    out.iter()
        .map(|x| {
            let name = String::from_utf8_lossy(out.name(x)).into_owned();
            (
                x.signature as usize,
                name[1..].parse::<usize>().expect("h<i>"),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn matcher_agrees_with_naive_regex(case in case()) {
        prop_assert_eq!(matcher_result(&case), oracle(&case), "case: {:?}", case);
    }
}
