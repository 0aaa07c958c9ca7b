//! `CssDecode`: CSS backslash escapes.

use memchr::memchr;

use super::{hex, utf8, Anomalies};

/// Decodes the escape at the start of `esc` (which starts with `\`); returns
/// the bytes consumed.
fn escape(esc: &[u8], out: &mut Vec<u8>, anomalies: &mut Anomalies) -> usize {
    let Some(&c) = esc.get(1) else {
        // A trailing lone backslash.
        out.push(b'\\');
        return 1;
    };
    if c.is_ascii_hexdigit() {
        let digits = esc[1..]
            .iter()
            .take(6)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let end = 1 + digits;
        let cp = esc[1..end]
            .iter()
            .fold(0u32, |acc, &b| (acc << 4) | hex::digit(b).unwrap_or(0));
        // `\` + n digits is n + 1 bytes: U+80 needs two digits (3 bytes, 2
        // out), U+800 three (4, 3 out), U+10000 five (6, 4 out).
        if cp == 0 || !utf8::push_scalar(out, cp) {
            *anomalies |= Anomalies::INVALID_ESCAPE;
            out.extend_from_slice(&esc[..end]);
            return end;
        }
        // One whitespace after the digits ends the escape and is consumed
        // (CRLF counts as one).
        return match esc.get(end..) {
            Some([b'\r', b'\n', ..]) => end + 2,
            Some([b' ' | b'\t' | b'\n' | b'\r' | 0x0C, ..]) => end + 1,
            _ => end,
        };
    }
    match c {
        // An escaped newline is a line continuation: both vanish.
        b'\r' if esc.get(2) == Some(&b'\n') => 3,
        b'\n' | b'\r' | 0x0C => 2,
        // Any other character stands for itself.
        _ => {
            out.push(c);
            2
        }
    }
}

/// `CssDecode`: `\` + 1–6 hex digits → that code point as UTF-8, one following
/// whitespace consumed; `\0`, a surrogate or a value above U+10FFFF (where
/// browsers substitute U+FFFD, which could be longer than the escape) is kept
/// as it is and flags `INVALID_ESCAPE`. `\` + newline is removed; `\` before
/// any other character is dropped. A trailing lone `\` is kept.
pub(super) fn decode(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut anomalies = Anomalies::NONE;
    let mut rest = input;
    while let Some(at) = memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        let esc = &rest[at..];
        let consumed = escape(esc, out, &mut anomalies);
        rest = &esc[consumed..];
    }
    out.extend_from_slice(rest);
    anomalies
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, run, INVALID, NONE};
    use crate::transform::Transform;

    #[test]
    fn css_decode_table() {
        check(
            Transform::CssDecode,
            &[
                (b"\\3c script", b"<script", NONE),
                (b"\\3C\\73 cript", b"<script", NONE),
                (b"\\00003c", b"<", NONE),
                (b"\\00003cx", b"<x", NONE),
                // Six digits at most: the seventh is text.
                (b"\\0000410", b"A0", NONE),
                (b"\\0000003c", b"\\0000003c", INVALID),
                (b"\\0", b"\\0", INVALID),
                (b"\\110000", b"\\110000", INVALID),
                (b"\\d800 x", b"\\d800 x", INVALID),
                (b"\\3c\r\nx", b"<x", NONE),
                (b"\\3c\tx", b"<x", NONE),
                (b"\\3c\x0cx", b"<x", NONE),
                (b"\\3c  x", b"< x", NONE),
                (b"\\65 xpression", b"expression", NONE),
                (b"expre\\ssion", b"expression", NONE),
                (b"\\1F600", "😀".as_bytes(), NONE),
                (b"\\80", b"\xC2\x80", NONE),
                (b"a\\\nb", b"ab", NONE),
                (b"a\\\r\nb", b"ab", NONE),
                (b"a\\\x0cb", b"ab", NONE),
                (b"\\\"\\'", b"\"'", NONE),
                (b"\\\\", b"\\", NONE),
                (b"\\g", b"g", NONE),
                (b"a\\", b"a\\", NONE),
                (b"\\\xC3\xA9", "é".as_bytes(), NONE),
            ],
        );
    }

    fn css_escape(text: &str, escape: u64) -> String {
        let mut escaped = String::new();
        for (i, c) in text.chars().enumerate() {
            let cp = c as u32;
            let wanted = escape >> (i % 64) & 1 == 1;
            if c == '\\' || (wanted && cp != 0) {
                // Always ended by a space, so following text cannot extend it.
                escaped.push_str(&format!("\\{cp:x} "));
            } else {
                escaped.push(c);
            }
        }
        escaped
    }

    proptest! {
        #[test]
        fn escaped_text_decodes_back(text in "(\\PC|[\\\\ 0-9a-f])*", escape in any::<u64>()) {
            let (decoded, anomalies) = run(Transform::CssDecode, css_escape(&text, escape).as_bytes());
            prop_assert_eq!(decoded, text.as_bytes());
            prop_assert!(!anomalies.contains(INVALID));
        }
    }
}
