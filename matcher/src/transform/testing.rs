//! Helpers for the transforms' tests: running one, table checks, hostile inputs.

use proptest::prelude::*;

use super::{Anomalies, Transform};

pub(super) const NONE: Anomalies = Anomalies::NONE;
pub(super) const DOUBLE: Anomalies = Anomalies::DOUBLE_ENCODED;
pub(super) const INVALID: Anomalies = Anomalies::INVALID_ESCAPE;
pub(super) const BAD_UTF8: Anomalies = Anomalies::INVALID_UTF8;
pub(super) const OVERLONG: Anomalies = Anomalies::OVERLONG_UTF8;
pub(super) const NUL: Anomalies = Anomalies::NUL_BYTE;

/// `t` applied to `input` in a fresh buffer.
pub(super) fn run(t: Transform, input: &[u8]) -> (Vec<u8>, Anomalies) {
    let mut out = Vec::new();
    let anomalies = t.apply(input, &mut out);
    (out, anomalies)
}

/// Asserts each (input, output, anomalies) row, showing bytes escaped.
pub(super) fn check(t: Transform, cases: &[(&[u8], &[u8], Anomalies)]) {
    for &(input, want, want_anomalies) in cases {
        let (got, anomalies) = run(t, input);
        assert_eq!(
            (got.escape_ascii().to_string(), anomalies),
            (want.escape_ascii().to_string(), want_anomalies),
            "{t} on `{}`",
            input.escape_ascii()
        );
    }
}

/// Fragments that exercise the decoders' special cases when strung together.
const FRAGMENTS: &[&[u8]] = &[
    b"%",
    b"%2",
    b"%25",
    b"%u",
    b"%U",
    b"00",
    b"0",
    b"3c",
    b"41",
    b"D8",
    b"dc",
    b"fF",
    b"&",
    b"&#",
    b"&#x",
    b"&#X",
    b";",
    b"amp",
    b"lt",
    b"nbsp",
    b"Tab",
    b"\\",
    b"\\u",
    b"\\x",
    b"\\u{",
    b"{",
    b"}",
    b"/",
    b".",
    b"..",
    b"./",
    b"../",
    b" ",
    b"\t",
    b"\r\n",
    b"\n",
    b"\x0b",
    b"\xa0",
    b"\xc2",
    b"\xc2\xa0",
    b"\xc3\xa0",
    b"\xc0",
    b"\xc1",
    b"\xaf",
    b"\x80",
    b"\xe0\x80",
    b"\xe0\xa0",
    b"\xed\xa0\x80",
    b"\xf0\x80\x80",
    b"\xf4\x90",
    b"\xf8",
    b"\xfc",
    b"\xff",
    b"\0",
    b"=",
    b"==",
    b"+",
    b"-",
    b"_",
    b"YWJj",
    b"A",
    b"z",
    b"7",
    b"377",
    b"ABCDEF",
];

/// Bytes built from `FRAGMENTS` and random bytes.
fn fragmented() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
}

/// Attacker-shaped input: random bytes, or strings of escape fragments.
pub(super) fn hostile() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..96), fragmented(),]
}
