//! `CompressWhitespace` and `Trim`.

use super::{utf8, Anomalies};

/// ASCII whitespace as both transforms mean it: space, tab, LF, VT, FF, CR.
pub(super) fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// `CompressWhitespace`: every run of whitespace becomes one space.
/// Whitespace is ASCII whitespace, the UTF-8 no-break space `C2 A0`, and a
/// 0xA0 byte that is not part of a valid UTF-8 sequence (Latin-1 NBSP) — the
/// 0xA0 inside `à` (`C3 A0`) or `ࠀ` (`E0 A0 80`) is not whitespace.
/// Idempotent.
pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut in_run = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let space = if is_ascii_space(b) || b == 0xA0 {
            1
        } else if b == 0xC2 && input.get(i + 1) == Some(&0xA0) {
            2
        } else {
            0
        };
        if space > 0 {
            if !in_run {
                out.push(b' ');
                in_run = true;
            }
            i += space;
            continue;
        }
        in_run = false;
        // Copy whole UTF-8 sequences so their 0xA0 bytes are not mistaken for
        // whitespace; an invalid byte is copied on its own.
        let len = if b < 0x80 {
            1
        } else {
            utf8::valid_sequence_len(&input[i..]).unwrap_or(1)
        };
        out.extend_from_slice(&input[i..i + len]);
        i += len;
    }
    Anomalies::NONE
}

/// `Trim`: ASCII whitespace (space, tab, LF, VT, FF, CR) removed from both
/// ends. Idempotent.
pub(super) fn trim(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let start = input.iter().position(|&b| !is_ascii_space(b));
    let end = input.iter().rposition(|&b| !is_ascii_space(b));
    if let (Some(start), Some(end)) = (start, end) {
        out.extend_from_slice(&input[start..=end]);
    }
    Anomalies::NONE
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, hostile, run, NONE};
    use crate::transform::Transform;

    #[test]
    fn compress_whitespace_table() {
        check(
            Transform::CompressWhitespace,
            &[
                (b"", b"", NONE),
                (b"a \t\r\n\x0b\x0cb", b"a b", NONE),
                (b"  a  b  ", b" a b ", NONE),
                (b"union\x0bselect", b"union select", NONE),
                (b"a\xA0b", b"a b", NONE),
                (b"a\xC2\xA0b", b"a b", NONE),
                (b"a \xC2\xA0 \xA0\tb", b"a b", NONE),
                // 0xA0 continuing a valid sequence is not whitespace.
                (b"voil\xC3\xA0 !", b"voil\xC3\xA0 !", NONE),
                (b"\xE0\xA0\x80", b"\xE0\xA0\x80", NONE),
                // …but it is once the sequence is broken.
                (b"\xE0\xA0x", b"\xE0 x", NONE),
                (b"\xC3\xC2\xA0", b"\xC3 ", NONE),
                (b"\xC2", b"\xC2", NONE),
            ],
        );
    }

    #[test]
    fn trim_table() {
        check(
            Transform::Trim,
            &[
                (b"", b"", NONE),
                (b"   ", b"", NONE),
                (b"  a b \r\n", b"a b", NONE),
                (b"\x0b\x0ca\x0c", b"a", NONE),
                (b"a", b"a", NONE),
                (b"\xA0a\xC2\xA0", b"\xA0a\xC2\xA0", NONE),
            ],
        );
    }

    proptest! {
        #[test]
        fn compressed_has_no_whitespace_runs(input in hostile()) {
            let (out, _) = run(Transform::CompressWhitespace, &input);
            for pair in out.windows(2) {
                prop_assert!(pair != b"  ", "`{}`", out.escape_ascii());
            }
            for b in [b'\t', b'\n', b'\r', 0x0B, 0x0C] {
                prop_assert!(!out.contains(&b));
            }
        }

        #[test]
        fn compress_leaves_valid_non_space_text_alone(text in "[^\\s\u{a0}]*") {
            let (out, _) = run(Transform::CompressWhitespace, text.as_bytes());
            prop_assert_eq!(out, text.as_bytes());
        }

        #[test]
        fn trimmed_has_no_ascii_space_at_either_end(input in hostile()) {
            let (out, _) = run(Transform::Trim, &input);
            let space = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C));
            prop_assert!(!space(out.first()) && !space(out.last()));
            prop_assert!(out.is_empty() || input.windows(out.len()).any(|w| w == out.as_slice()));
        }
    }
}
