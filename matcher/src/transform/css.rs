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
