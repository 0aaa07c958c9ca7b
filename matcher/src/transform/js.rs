//! `JsDecode`: JavaScript string escapes.

use memchr::memchr;

use super::{hex, utf8, Anomalies};

const SURROGATES: std::ops::RangeInclusive<u32> = 0xD800..=0xDFFF;
const HIGH_SURROGATES: std::ops::RangeInclusive<u32> = 0xD800..=0xDBFF;
const LOW_SURROGATES: std::ops::RangeInclusive<u32> = 0xDC00..=0xDFFF;

/// Reads a `\uHHHH` or `\u{H…}` escape at the start of `esc`: its value
/// (saturated above U+10FFFF) and length. The braced form takes any number of
/// hex digits, as JavaScript does (`\u{000003c}` is `<`).
fn unicode(esc: &[u8]) -> Option<(u32, usize)> {
    let tail = esc.strip_prefix(b"\\u")?;
    if let Some(braced) = tail.strip_prefix(b"{") {
        let digits = braced.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 || braced.get(digits) != Some(&b'}') {
            return None;
        }
        let cp = braced[..digits].iter().fold(0u32, |acc, &b| {
            ((acc << 4) | hex::digit(b).unwrap_or(0)).min(0x11_0000)
        });
        return Some((cp, 2 + 1 + digits + 1));
    }
    Some((hex::fixed::<4>(tail)?, 6))
}

/// Decodes the `\u` escape at the start of `esc`, combining a high surrogate
/// with a following low one; returns the bytes consumed, or `None` (nothing
/// written) for a malformed escape, a lone surrogate or a value above U+10FFFF.
///
/// Lengths: `\uHHHH` (6 bytes) gives at most 3, a pair (12 or more) gives 4,
/// `\u{H…}` gives 1 byte for 5, 2 for 6 (`\u{80}`), 3 for 7, 4 for 9.
fn decode_unicode(esc: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let (cp, len) = unicode(esc)?;
    if HIGH_SURROGATES.contains(&cp) {
        let (low, low_len) = unicode(&esc[len..])?;
        if !LOW_SURROGATES.contains(&low) {
            return None;
        }
        let combined = 0x1_0000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        return utf8::push_scalar(out, combined).then_some(len + low_len);
    }
    if SURROGATES.contains(&cp) {
        return None;
    }
    utf8::push_scalar(out, cp).then_some(len)
}

/// Writes `b` for a two-byte escape.
fn one(out: &mut Vec<u8>, b: u8) -> usize {
    out.push(b);
    2
}

/// Decodes the escape at the start of `esc` (which starts with `\`); returns
/// the bytes consumed.
fn escape(esc: &[u8], out: &mut Vec<u8>, anomalies: &mut Anomalies) -> usize {
    let Some(&c) = esc.get(1) else {
        // A trailing lone backslash.
        out.push(b'\\');
        return 1;
    };
    match c {
        b'x' => match hex::fixed::<2>(&esc[2..]) {
            Some(v) => {
                // `\xHH` is U+00HH: 4 bytes in, at most 2 out.
                utf8::push_scalar(out, v);
                4
            }
            None => {
                *anomalies |= Anomalies::INVALID_ESCAPE;
                out.extend_from_slice(b"\\x");
                2
            }
        },
        b'u' => match decode_unicode(esc, out) {
            Some(len) => len,
            None => {
                *anomalies |= Anomalies::INVALID_ESCAPE;
                out.extend_from_slice(b"\\u");
                2
            }
        },
        b'0'..=b'7' => {
            // Legacy octal: up to three digits starting 0–3, two starting 4–7,
            // so the value is at most 0o377; `\200` and above (4 bytes) give 2.
            let max = if c <= b'3' { 3 } else { 2 };
            let digits = esc[1..]
                .iter()
                .take(max)
                .take_while(|b| (b'0'..=b'7').contains(b))
                .count();
            let v = esc[1..1 + digits]
                .iter()
                .fold(0u32, |acc, &b| acc * 8 + u32::from(b - b'0'));
            utf8::push_scalar(out, v);
            1 + digits
        }
        b'b' => one(out, 0x08),
        b'f' => one(out, 0x0C),
        b'n' => one(out, b'\n'),
        b'r' => one(out, b'\r'),
        b't' => one(out, b'\t'),
        b'v' => one(out, 0x0B),
        // Line continuations vanish.
        b'\n' => 2,
        b'\r' if esc.get(2) == Some(&b'\n') => 3,
        b'\r' => 2,
        // Any other character stands for itself (a multi-byte one's
        // continuation bytes are then copied as ordinary text).
        _ => one(out, c),
    }
}

/// `JsDecode`: `\xHH` and `\uHHHH` (as UTF-8; a surrogate pair becomes one
/// 4-byte character), `\u{H…}`, `\b \f \n \r \t \v`, legacy octal `\0`–`\377`,
/// line continuations removed, `\` before any other character dropped. A
/// malformed `\x`/`\u` escape or a lone surrogate is kept as it is and flags
/// `INVALID_ESCAPE`. A trailing lone `\` is kept.
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

    use crate::transform::testing::{check, run, INVALID, NONE, NUL};
    use crate::transform::Transform;

    #[test]
    fn js_decode_table() {
        check(
            Transform::JsDecode,
            &[
                (b"\\u003cscript\\u003e", b"<script>", NONE),
                (b"\\x3cscript\\x3E", b"<script>", NONE),
                (b"\\xe9", "é".as_bytes(), NONE),
                (b"\\u00E9", "é".as_bytes(), NONE),
                (b"\\uD83D\\uDE00", "😀".as_bytes(), NONE),
                (b"\\u{D83D}\\uDE00", "😀".as_bytes(), NONE),
                (b"\\u{1F600}", "😀".as_bytes(), NONE),
                (b"\\u{3c}", b"<", NONE),
                (b"\\u{0000003c}", b"<", NONE),
                (b"\\u{10FFFF}", "\u{10FFFF}".as_bytes(), NONE),
                (b"\\u{110000}", b"\\u{110000}", INVALID),
                (b"\\u{FFFFFFFFFFFF}", b"\\u{FFFFFFFFFFFF}", INVALID),
                (b"\\u{}", b"\\u{}", INVALID),
                (b"\\u{3c", b"\\u{3c", INVALID),
                (b"\\uD83D", b"\\uD83D", INVALID),
                (b"\\uDE00", b"\\uDE00", INVALID),
                (b"\\uD83Dx", b"\\uD83Dx", INVALID),
                (b"\\uD83D\\u0041", b"\\uD83DA", INVALID),
                (b"\\u12", b"\\u12", INVALID),
                (b"\\x4", b"\\x4", INVALID),
                (b"\\xZZ", b"\\xZZ", INVALID),
                (b"\\b\\f\\n\\r\\t\\v", b"\x08\x0c\n\r\t\x0b", NONE),
                (b"\\0", b"\0", NUL),
                (b"\\08", b"\08", NUL),
                (b"\\101\\102", b"AB", NONE),
                (b"\\74script", b"<script", NONE),
                (b"\\477", b"'7", NONE),
                (b"\\377", b"\xC3\xBF", NONE),
                (b"\\400", b" 0", NONE),
                (b"\\8\\9", b"89", NONE),
                (b"\\q\\'\\\"", b"q'\"", NONE),
                (b"\\\\", b"\\", NONE),
                (b"\\\\x41", b"\\x41", NONE),
                (b"a\\", b"a\\", NONE),
                (b"\\", b"\\", NONE),
                (b"java\\\nscript", b"javascript", NONE),
                (b"java\\\r\nscript", b"javascript", NONE),
                (b"java\\\rscript", b"javascript", NONE),
                (b"\\\xC3\xA9", "é".as_bytes(), NONE),
            ],
        );
    }

    /// How the reference encoder writes one character.
    #[derive(Clone, Copy, Debug)]
    enum CharForm {
        Literal,
        Hex2,
        Unicode4,
        Braced,
        Octal,
        Named,
        Identity,
    }

    fn char_form() -> impl Strategy<Value = CharForm> {
        prop_oneof![
            Just(CharForm::Literal),
            Just(CharForm::Hex2),
            Just(CharForm::Unicode4),
            Just(CharForm::Braced),
            Just(CharForm::Octal),
            Just(CharForm::Named),
            Just(CharForm::Identity),
        ]
    }

    fn js_escape(text: &str, forms: &[CharForm]) -> String {
        let mut escaped = String::new();
        for (i, c) in text.chars().enumerate() {
            let cp = c as u32;
            let named = match c {
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                '\u{8}' => Some("\\b"),
                '\u{b}' => Some("\\v"),
                _ => None,
            };
            // `\c` stands for `c` unless `c` starts an escape or a line break.
            let identity = !matches!(
                c,
                'x' | 'u' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\n' | '\r'
            ) && !c.is_ascii_digit();
            match forms.get(i).copied().unwrap_or(CharForm::Braced) {
                CharForm::Literal if c != '\\' => escaped.push(c),
                CharForm::Hex2 if cp <= 0xFF => escaped.push_str(&format!("\\x{cp:02x}")),
                CharForm::Octal if cp <= 0o377 => escaped.push_str(&format!("\\{cp:03o}")),
                CharForm::Named if named.is_some() => escaped.push_str(named.unwrap_or_default()),
                CharForm::Identity if identity => {
                    escaped.push('\\');
                    escaped.push(c);
                }
                CharForm::Unicode4 => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        escaped.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                _ => escaped.push_str(&format!("\\u{{{cp:x}}}")),
            }
        }
        escaped
    }

    proptest! {
        #[test]
        fn escaped_text_decodes_back(
            text in "(\\PC|[\\\\\n\r\t\u{8}\u{b}0-9xu])*",
            forms in prop::collection::vec(char_form(), 64),
        ) {
            let (decoded, anomalies) = run(Transform::JsDecode, js_escape(&text, &forms).as_bytes());
            prop_assert_eq!(decoded, text.as_bytes());
            prop_assert!(!anomalies.contains(INVALID));
        }
    }
}
