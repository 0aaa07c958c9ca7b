//! `HtmlEntityDecode`: numeric and named HTML character references.

use memchr::memchr;

use super::{hex, utf8, Anomalies};

/// Named references decoded when followed by `;`. Names are case-sensitive,
/// as in HTML (`&Tab;`, `&NewLine;`, `&Hat;`, `&percnt;`). Every value is no
/// longer than `&` + name.
const NAMED: &[(&[u8], &[u8])] = &[
    (b"amp", b"&"),
    (b"lt", b"<"),
    (b"gt", b">"),
    (b"quot", b"\""),
    (b"apos", b"'"),
    (b"nbsp", b"\xC2\xA0"),
    (b"AMP", b"&"),
    (b"LT", b"<"),
    (b"GT", b">"),
    (b"QUOT", b"\""),
    (b"colon", b":"),
    (b"sol", b"/"),
    (b"bsol", b"\\"),
    (b"lpar", b"("),
    (b"rpar", b")"),
    (b"semi", b";"),
    (b"comma", b","),
    (b"period", b"."),
    (b"equals", b"="),
    (b"plus", b"+"),
    (b"excl", b"!"),
    (b"quest", b"?"),
    (b"num", b"#"),
    (b"dollar", b"$"),
    (b"percnt", b"%"),
    (b"ast", b"*"),
    (b"midast", b"*"),
    (b"commat", b"@"),
    (b"lowbar", b"_"),
    (b"UnderBar", b"_"),
    (b"Tab", b"\t"),
    (b"NewLine", b"\n"),
    (b"grave", b"`"),
    (b"DiacriticalGrave", b"`"),
    (b"lsqb", b"["),
    (b"lbrack", b"["),
    (b"rsqb", b"]"),
    (b"rbrack", b"]"),
    (b"lcub", b"{"),
    (b"lbrace", b"{"),
    (b"rcub", b"}"),
    (b"rbrace", b"}"),
    (b"verbar", b"|"),
    (b"vert", b"|"),
    (b"VerticalLine", b"|"),
    (b"Hat", b"^"),
];

/// References also decoded without `;`, as a prefix of a longer word too
/// (`&ltscript` → `<script`), the way browsers treat the legacy names in text.
/// No name here is a prefix of another.
const LEGACY: &[(&[u8], &[u8])] = &[
    (b"amp", b"&"),
    (b"lt", b"<"),
    (b"gt", b">"),
    (b"quot", b"\""),
    (b"apos", b"'"),
    (b"nbsp", b"\xC2\xA0"),
    (b"AMP", b"&"),
    (b"LT", b"<"),
    (b"GT", b">"),
    (b"QUOT", b"\""),
];

/// Longer than any name in `NAMED`.
const MAX_NAME: usize = 24;

/// Decodes the numeric reference at the start of `esc` (`&#…`); returns the
/// bytes consumed, or `None` (with nothing written) when it is malformed.
fn numeric(esc: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let (radix, start) = match esc.get(2) {
        Some(b'x' | b'X') => (16, 3),
        _ => (10, 2),
    };
    let digits = esc
        .get(start..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| match radix {
            16 => b.is_ascii_hexdigit(),
            _ => b.is_ascii_digit(),
        })
        .count();
    if digits == 0 {
        return None;
    }
    let mut cp: u32 = 0;
    for &b in &esc[start..start + digits] {
        // Saturates above U+10FFFF, however many digits follow.
        cp = (cp * radix + hex::digit(b).unwrap_or(0)).min(0x11_0000);
    }
    let mut end = start + digits;
    if esc.get(end) == Some(&b';') {
        end += 1;
    }
    // `&#` + at least one digit: 3 bytes for U+0–U+9; U+80 needs `&#128` or
    // `&#x80` (5 bytes, 2 out), U+800 six (3 out), U+10000 eight (4 out).
    utf8::push_scalar(out, cp).then_some(end)
}

/// Decodes the named reference at the start of `esc` (`&name`); returns the
/// bytes consumed, or `None` when it is not one this decoder knows.
fn named(esc: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let tail = esc.get(1..).unwrap_or_default();
    let len = tail
        .iter()
        .take(MAX_NAME)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name = &tail[..len];
    if tail.get(len) == Some(&b';') {
        if let Some((_, value)) = NAMED.iter().find(|(n, _)| *n == name) {
            out.extend_from_slice(value);
            return Some(1 + len + 1);
        }
    }
    let (legacy, value) = LEGACY.iter().find(|(n, _)| name.starts_with(n))?;
    out.extend_from_slice(value);
    Some(1 + legacy.len())
}

/// `HtmlEntityDecode`. Numeric references (`&#60;`, `&#x3c`, `;` optional, any
/// number of leading zeros) are decoded as UTF-8; one naming a surrogate or a
/// value above U+10FFFF, or `&#` with no digits, is kept as it is and flags
/// `INVALID_ESCAPE` (browsers would show U+FFFD; `&#0;` decodes to NUL here).
/// Named references are decoded per `NAMED`/`LEGACY`; unknown names are kept
/// without a flag (`AT&T` is ordinary text). One pass: `&amp;lt;` → `&lt;`.
pub(super) fn decode(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut anomalies = Anomalies::NONE;
    let mut rest = input;
    while let Some(at) = memchr(b'&', rest) {
        out.extend_from_slice(&rest[..at]);
        let esc = &rest[at..];
        let decoded = if esc.get(1) == Some(&b'#') {
            let decoded = numeric(esc, out);
            if decoded.is_none() {
                anomalies |= Anomalies::INVALID_ESCAPE;
            }
            decoded
        } else {
            named(esc, out)
        };
        // Not decoded: keep the `&` and carry on right after it; what follows
        // is copied as ordinary text.
        let consumed = decoded.unwrap_or_else(|| {
            out.push(b'&');
            1
        });
        rest = &esc[consumed..];
    }
    out.extend_from_slice(rest);
    anomalies
}
