//! `CompressWhitespace` and `Trim`.

use super::{utf8, Anomalies};

/// ASCII whitespace as both transforms mean it: space, tab, LF, VT, FF, CR.
fn is_ascii_space(b: u8) -> bool {
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
