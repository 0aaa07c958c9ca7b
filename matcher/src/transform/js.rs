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
