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
