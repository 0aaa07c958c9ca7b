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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, run, INVALID, NONE, NUL};
    use crate::transform::Transform;

    #[test]
    fn numeric_references() {
        check(
            Transform::HtmlEntityDecode,
            &[
                (b"&#x3C;script&#62;", b"<script>", NONE),
                (b"&#60", b"<", NONE),
                (b"&#60script", b"<script", NONE),
                (b"&#0000060;", b"<", NONE),
                (b"&#x0003c", b"<", NONE),
                (b"&#X3C;", b"<", NONE),
                (b"&#x3c;&#x3C;", b"<<", NONE),
                (b"&#1;", b"\x01", NONE),
                (b"&#0;", b"\0", NUL),
                (b"&#128;", b"\xC2\x80", NONE),
                (b"&#x800", "\u{800}".as_bytes(), NONE),
                (b"&#x1F600;", "😀".as_bytes(), NONE),
                (b"&#x10FFFF", "\u{10FFFF}".as_bytes(), NONE),
                (b"&#x110000;", b"&#x110000;", INVALID),
                (
                    b"&#99999999999999999999;",
                    b"&#99999999999999999999;",
                    INVALID,
                ),
                (b"&#xD800;", b"&#xD800;", INVALID),
                (b"&#55296;", b"&#55296;", INVALID),
                (b"&#;", b"&#;", INVALID),
                (b"&#x;", b"&#x;", INVALID),
                (b"&#xZZ;", b"&#xZZ;", INVALID),
                (b"&#", b"&#", INVALID),
                (b"&#&#60;", b"&#<", INVALID),
            ],
        );
    }

    #[test]
    fn named_references() {
        check(
            Transform::HtmlEntityDecode,
            &[
                (b"&lt;script&gt;", b"<script>", NONE),
                (b"&ltscript&gt", b"<script>", NONE),
                (b"&LT;&GT;&AMP;&QUOT;", b"<>&\"", NONE),
                (b"&quot&apos&amp", b"\"'&", NONE),
                (b"&nbsp;", b"\xC2\xA0", NONE),
                (b"&nbsp", b"\xC2\xA0", NONE),
                (b"&ampx;", b"&x;", NONE),
                (
                    b"javascript&colon;alert&lpar;1&rpar;",
                    b"javascript:alert(1)",
                    NONE,
                ),
                (b"&colon", b"&colon", NONE),
                (b"&Tab;&NewLine;", b"\t\n", NONE),
                (b"&tab;", b"&tab;", NONE),
                (
                    b"&sol;&bsol;&semi;&comma;&period;&equals;&plus;",
                    b"/\\;,.=+",
                    NONE,
                ),
                (
                    b"&excl;&num;&dollar;&percnt;&ast;&grave;&Hat;",
                    b"!#$%*`^",
                    NONE,
                ),
                (b"&lsqb;&rsqb;&lcub;&rcub;&verbar;", b"[]{}|", NONE),
                (b"&lbrack;&rbrack;&lbrace;&rbrace;&vert;", b"[]{}|", NONE),
                (b"AT&T", b"AT&T", NONE),
                (b"&unknown;", b"&unknown;", NONE),
                (b"&;", b"&;", NONE),
                (b"&", b"&", NONE),
                (b"&amp;lt;", b"&lt;", NONE),
                (
                    b"&verylongnamethatisnotanentityatall;",
                    b"&verylongnamethatisnotanentityatall;",
                    NONE,
                ),
                (
                    b"&ltverylongnamethatisnotanentityatall",
                    b"<verylongnamethatisnotanentityatall",
                    NONE,
                ),
            ],
        );
    }

    /// How the reference encoder writes one character.
    #[derive(Clone, Copy, Debug)]
    enum CharForm {
        Literal,
        Decimal,
        Hex,
        ZeroPaddedHex,
        Named,
    }

    fn char_form() -> impl Strategy<Value = CharForm> {
        prop_oneof![
            Just(CharForm::Literal),
            Just(CharForm::Decimal),
            Just(CharForm::Hex),
            Just(CharForm::ZeroPaddedHex),
            Just(CharForm::Named),
        ]
    }

    fn html_escape(text: &str, forms: &[CharForm]) -> String {
        let mut escaped = String::new();
        for (i, c) in text.chars().enumerate() {
            let form = forms.get(i).copied().unwrap_or(CharForm::Hex);
            let named = match c {
                '<' => Some("&lt;"),
                '&' => Some("&amp;"),
                ':' => Some("&colon;"),
                '\t' => Some("&Tab;"),
                _ => None,
            };
            match (form, named) {
                (CharForm::Literal, _) if c != '&' => escaped.push(c),
                (CharForm::Named, Some(name)) => escaped.push_str(name),
                (CharForm::Decimal, _) => escaped.push_str(&format!("&#{};", c as u32)),
                (CharForm::ZeroPaddedHex, _) => escaped.push_str(&format!("&#X{:08x};", c as u32)),
                _ => escaped.push_str(&format!("&#x{:X};", c as u32)),
            }
        }
        escaped
    }

    proptest! {
        #[test]
        fn escaped_text_decodes_back(
            text in "(\\PC|[<&:\t])*",
            forms in prop::collection::vec(char_form(), 64),
        ) {
            let (decoded, anomalies) =
                run(Transform::HtmlEntityDecode, html_escape(&text, &forms).as_bytes());
            prop_assert_eq!(decoded, text.as_bytes());
            prop_assert!(!anomalies.contains(INVALID));
        }
    }
}
