//! `UrlDecode` (`%XX`, `%uXXXX`) and `PlusToSpace` (form encoding).

use memchr::{memchr, memchr_iter};

use super::{hex, utf8, Anomalies};

/// What a `%` at the start of a slice introduces.
enum Escape {
    /// `%XX`: one byte, 3 input bytes.
    Byte(u8),
    /// `%uXXXX` naming a scalar value: its UTF-8 (1 to 3 bytes) for 6 input bytes.
    Unicode(u32),
    /// Anything else, including `%uD800`-style surrogates.
    Invalid,
}

/// Reads the escape at the start of `esc` (which starts with `%`).
fn escape(esc: &[u8]) -> Escape {
    let tail = esc.get(1..).unwrap_or_default();
    if let Some(v) = hex::fixed::<2>(tail) {
        // Two hex digits are at most 0xFF.
        return Escape::Byte(v as u8);
    }
    if let [b'u' | b'U', digits @ ..] = tail {
        if let Some(cp) = hex::fixed::<4>(digits) {
            if char::from_u32(cp).is_some() {
                return Escape::Unicode(cp);
            }
        }
    }
    Escape::Invalid
}

/// Whether `bytes` contains an escape `UrlDecode` would decode.
fn has_escape(bytes: &[u8]) -> bool {
    memchr_iter(b'%', bytes).any(|at| !matches!(escape(&bytes[at..]), Escape::Invalid))
}

/// `UrlDecode`: `%XX` → byte, `%uXXXX` → UTF-8; a `%` that starts neither is
/// kept (flagging `INVALID_ESCAPE`) and decoding resumes at the next byte, so
/// `%%41` gives `%A`. A result that still holds a decodable escape flags
/// `DOUBLE_ENCODED`. `+` is left alone.
pub(super) fn decode(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    let mut anomalies = Anomalies::NONE;
    let mut rest = input;
    while let Some(at) = memchr(b'%', rest) {
        out.extend_from_slice(&rest[..at]);
        let esc = &rest[at..];
        let consumed = match escape(esc) {
            Escape::Byte(b) => {
                out.push(b);
                3
            }
            Escape::Unicode(cp) => {
                utf8::push_scalar(out, cp);
                6
            }
            Escape::Invalid => {
                anomalies |= Anomalies::INVALID_ESCAPE;
                out.push(b'%');
                1
            }
        };
        rest = &esc[consumed..];
    }
    out.extend_from_slice(rest);
    if has_escape(out) {
        anomalies |= Anomalies::DOUBLE_ENCODED;
    }
    anomalies
}

/// `PlusToSpace`: every `+` becomes a space.
pub(super) fn plus_to_space(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    out.extend(input.iter().map(|&b| if b == b'+' { b' ' } else { b }));
    Anomalies::NONE
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::transform::testing::{check, run, DOUBLE, INVALID, NONE, NUL};
    use crate::transform::Transform;

    #[test]
    fn url_decode_table() {
        check(
            Transform::UrlDecode,
            &[
                (b"", b"", NONE),
                (b"plain", b"plain", NONE),
                (b"a%20b", b"a b", NONE),
                (b"%3Cscript%3e", b"<script>", NONE),
                (b"%252e%252e%252f", b"%2e%2e%2f", DOUBLE),
                (b"%25u0041", b"%u0041", DOUBLE),
                // A surrogate would not decode a second time either.
                (b"%25uD800", b"%uD800", NONE),
                (b"%u0027", b"'", NONE),
                (b"%U0027", b"'", NONE),
                (b"%u00e9", "é".as_bytes(), NONE),
                (b"%uFF1C", "＜".as_bytes(), NONE),
                (b"%uD800", b"%uD800", INVALID),
                (b"%uDFFF%41", b"%uDFFFA", INVALID),
                (b"a%00b", b"a\0b", NUL),
                (b"%u0000", b"\0", NUL),
                (b"%zz", b"%zz", INVALID),
                (b"%4", b"%4", INVALID),
                (b"%4g", b"%4g", INVALID),
                (b"%", b"%", INVALID),
                (b"100%", b"100%", INVALID),
                (b"%u12", b"%u12", INVALID),
                (b"%u12G4", b"%u12G4", INVALID),
                (b"%%41", b"%A", INVALID),
                (b"%%34%31", b"%41", INVALID | DOUBLE),
                (b"a+b", b"a+b", NONE),
                (b"%2B", b"+", NONE),
                (b"%ff%FE", b"\xff\xfe", NONE),
                (b"%c0%af", b"\xc0\xaf", NONE),
            ],
        );
    }

    #[test]
    fn plus_to_space_table() {
        check(
            Transform::PlusToSpace,
            &[
                (b"", b"", NONE),
                (b"a+b++c", b"a b  c", NONE),
                (b"%2B+", b"%2B ", NONE),
            ],
        );
    }

    /// How the reference encoder writes one byte.
    #[derive(Clone, Copy, Debug)]
    enum ByteForm {
        Literal,
        Lower,
        Upper,
    }

    fn percent_encode(bytes: &[u8], forms: &[ByteForm]) -> Vec<u8> {
        let mut encoded = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            match forms.get(i).copied().unwrap_or(ByteForm::Upper) {
                ByteForm::Literal if b != b'%' => encoded.push(b),
                ByteForm::Lower => encoded.extend(format!("%{b:02x}").bytes()),
                _ => encoded.extend(format!("%{b:02X}").bytes()),
            }
        }
        encoded
    }

    fn byte_form() -> impl Strategy<Value = ByteForm> {
        prop_oneof![
            Just(ByteForm::Literal),
            Just(ByteForm::Lower),
            Just(ByteForm::Upper)
        ]
    }

    proptest! {
        #[test]
        fn percent_encoded_bytes_decode_back(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            forms in prop::collection::vec(byte_form(), 64),
        ) {
            let (decoded, _) = run(Transform::UrlDecode, &percent_encode(&bytes, &forms));
            prop_assert_eq!(decoded, bytes);
        }

        #[test]
        fn percent_u_encoded_text_decodes_back(text in "\\PC{0,24}", wide in any::<u64>()) {
            // Each BMP character as %uXXXX or its UTF-8 bytes as %XX.
            let mut encoded = String::new();
            for (i, c) in text.chars().enumerate() {
                if (c as u32) < 0x1_0000 && wide >> (i % 64) & 1 == 1 {
                    encoded.push_str(&format!("%u{:04x}", c as u32));
                } else {
                    let mut buf = [0; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        encoded.push_str(&format!("%{b:02X}"));
                    }
                }
            }
            let (decoded, anomalies) = run(Transform::UrlDecode, encoded.as_bytes());
            prop_assert_eq!(decoded, text.as_bytes());
            prop_assert!(!anomalies.contains(INVALID));
        }

        #[test]
        fn plus_to_space_leaves_no_plus(input in prop::collection::vec(any::<u8>(), 0..64)) {
            let (out, _) = run(Transform::PlusToSpace, &input);
            prop_assert_eq!(out.len(), input.len());
            prop_assert!(!out.contains(&b'+'));
        }
    }
}
