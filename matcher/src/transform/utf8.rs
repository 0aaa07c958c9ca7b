//! UTF-8 helpers, and `Utf8Normalize`: overlong forms decoded, invalid bytes flagged.

use super::Anomalies;

/// Appends `cp` encoded as UTF-8 if it is a Unicode scalar value (not a
/// surrogate, at most U+10FFFF); returns whether it did.
///
/// The encoding takes 1 byte below U+80, 2 below U+800, 3 below U+10000 and 4
/// above: every escape decoded through here is at least that long.
pub(super) fn push_scalar(out: &mut Vec<u8>, cp: u32) -> bool {
    match char::from_u32(cp) {
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            true
        }
        None => false,
    }
}

/// The length of the valid UTF-8 sequence that starts `bytes`, if one does.
pub(super) fn valid_sequence_len(bytes: &[u8]) -> Option<usize> {
    let len = match *bytes.first()? {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let seq = bytes.get(..len)?;
    std::str::from_utf8(seq).ok().map(|_| len)
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// What the (invalid) bytes at the start of `bytes` are.
enum Invalid {
    /// A complete but overlong sequence of this length for this scalar value.
    Overlong(usize, u32),
    /// A complete overlong sequence whose value is not a scalar value.
    OverlongNonScalar,
    /// Anything else: a stray continuation byte, a truncated sequence, an
    /// encoded surrogate, a value above U+10FFFF, a 0xFE/0xFF byte.
    Other,
}

/// Classifies the sequence at the start of `bytes`, which is not valid UTF-8.
/// Lead bytes up to 0xFD (the pre-2003 5- and 6-byte forms) are read, so that
/// `F8 80 80 80 AF` is recognised as an overlong `/` too.
fn classify(bytes: &[u8]) -> Invalid {
    let Some(&lead) = bytes.first() else {
        return Invalid::Other;
    };
    let (len, mut cp, min) = match lead {
        0xC0..=0xDF => (2, u32::from(lead & 0x1F), 0x80),
        0xE0..=0xEF => (3, u32::from(lead & 0x0F), 0x800),
        0xF0..=0xF7 => (4, u32::from(lead & 0x07), 0x1_0000),
        0xF8..=0xFB => (5, u32::from(lead & 0x03), 0x20_0000),
        0xFC..=0xFD => (6, u32::from(lead & 0x01), 0x400_0000),
        _ => return Invalid::Other,
    };
    let Some(rest) = bytes.get(1..len) else {
        return Invalid::Other;
    };
    for &b in rest {
        if !is_continuation(b) {
            return Invalid::Other;
        }
        cp = (cp << 6) | u32::from(b & 0x3F);
    }
    if cp >= min {
        // Complete and shortest-form, yet invalid: a surrogate or out of range.
        return Invalid::Other;
    }
    if char::from_u32(cp).is_some() {
        Invalid::Overlong(len, cp)
    } else {
        Invalid::OverlongNonScalar
    }
}

/// `Utf8Normalize`: valid UTF-8 copied; every overlong sequence replaced by the
/// shortest encoding of its value (always shorter), flagging `OVERLONG_UTF8`;
/// any other invalid byte copied as it is, flagging `INVALID_UTF8`.
pub(super) fn normalize(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut anomalies = Anomalies::NONE;
    let mut rest = input;
    loop {
        let err = match std::str::from_utf8(rest) {
            Ok(_) => {
                out.extend_from_slice(rest);
                return anomalies;
            }
            Err(err) => err,
        };
        let (valid, bad) = rest.split_at(err.valid_up_to());
        out.extend_from_slice(valid);
        let consumed = match classify(bad) {
            Invalid::Overlong(len, cp) => {
                anomalies |= Anomalies::OVERLONG_UTF8;
                push_scalar(out, cp);
                len
            }
            Invalid::OverlongNonScalar => {
                anomalies |= Anomalies::OVERLONG_UTF8 | Anomalies::INVALID_UTF8;
                out.extend_from_slice(&bad[..1]);
                1
            }
            Invalid::Other => {
                anomalies |= Anomalies::INVALID_UTF8;
                out.extend_from_slice(&bad[..1]);
                1
            }
        };
        rest = &bad[consumed..];
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, hostile, run, BAD_UTF8, NONE, NUL, OVERLONG};
    use crate::transform::Transform;

    #[test]
    fn utf8_normalize_table() {
        check(
            Transform::Utf8Normalize,
            &[
                (b"", b"", NONE),
                ("héllo ✓ 😀".as_bytes(), "héllo ✓ 😀".as_bytes(), NONE),
                (b"\xC0\xAF", b"/", OVERLONG),
                (b"\xE0\x80\xAF", b"/", OVERLONG),
                (b"\xF0\x80\x80\xAF", b"/", OVERLONG),
                (b"\xF8\x80\x80\x80\xAF", b"/", OVERLONG),
                (b"\xFC\x80\x80\x80\x80\xAF", b"/", OVERLONG),
                (b"\xC0\xAE\xC0\xAE\xC0\xAF", b"../", OVERLONG),
                (b"\xC1\x81", b"A", OVERLONG),
                (b"\xC0\x80", b"\0", OVERLONG | NUL),
                // Overlong forms of non-ASCII become their shortest form.
                (b"\xE0\x82\x80", b"\xC2\x80", OVERLONG),
                (b"\xF0\x8F\xBF\xBF", b"\xEF\xBF\xBF", OVERLONG),
                // An overlong surrogate is still a surrogate.
                (
                    b"\xF0\x8D\xA0\x80",
                    b"\xF0\x8D\xA0\x80",
                    OVERLONG | BAD_UTF8,
                ),
                (b"\xED\xA0\x80", b"\xED\xA0\x80", BAD_UTF8),
                (b"\xF4\x90\x80\x80", b"\xF4\x90\x80\x80", BAD_UTF8),
                (b"\xC0", b"\xC0", BAD_UTF8),
                (b"\xC0A", b"\xC0A", BAD_UTF8),
                (b"\xE0\x80", b"\xE0\x80", BAD_UTF8),
                (b"\xFF\xFE", b"\xFF\xFE", BAD_UTF8),
                (b"\x80", b"\x80", BAD_UTF8),
                (b"\xC0\xAF\xFF", b"/\xFF", OVERLONG | BAD_UTF8),
            ],
        );
    }

    /// `b` encoded in `len` bytes (2 to 6), overlong for any ASCII byte.
    fn overlong(b: u8, len: usize) -> Vec<u8> {
        let lead = [0, 0, 0xC0, 0xE0, 0xF0, 0xF8, 0xFC][len];
        let mut bytes = vec![lead];
        bytes.extend(std::iter::repeat_n(0x80, len - 2));
        bytes.push(0x80 | (b & 0x3F));
        bytes[len - 2] |= b >> 6;
        bytes
    }

    proptest! {
        #[test]
        fn valid_utf8_is_unchanged(text in "\\PC*") {
            let (out, anomalies) = run(Transform::Utf8Normalize, text.as_bytes());
            prop_assert_eq!(out, text.as_bytes());
            prop_assert_eq!(anomalies, NONE);
        }

        #[test]
        fn overlong_ascii_decodes_back(
            text in "[\\x01-\\x7f]*",
            lens in prop::collection::vec(1usize..=6, 64),
        ) {
            let mut encoded = Vec::new();
            for (i, b) in text.bytes().enumerate() {
                match lens[i % lens.len()] {
                    1 => encoded.push(b),
                    len => encoded.extend(overlong(b, len)),
                }
            }
            let (out, anomalies) = run(Transform::Utf8Normalize, &encoded);
            prop_assert_eq!(out, text.as_bytes());
            prop_assert_eq!(anomalies.contains(OVERLONG), encoded.len() > text.len());
            prop_assert!(!anomalies.contains(BAD_UTF8));
        }

        #[test]
        fn flags_exactly_invalid_input(input in hostile()) {
            let (out, anomalies) = run(Transform::Utf8Normalize, &input);
            let valid = std::str::from_utf8(&input).is_ok();
            prop_assert_eq!(anomalies.contains(BAD_UTF8) || anomalies.contains(OVERLONG), !valid);
            if anomalies.contains(OVERLONG) && !anomalies.contains(BAD_UTF8) {
                prop_assert!(std::str::from_utf8(&out).is_ok());
            }
        }
    }
}
