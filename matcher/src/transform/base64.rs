//! `Base64Decode`: a value that is entirely base64 decoded, anything else copied.
//!
//! Hand-written rather than the `base64` crate: the rules here (either
//! alphabet but not both, padding optional, lenient trailing bits, a minimum
//! length) would need two engines and a custom config, and the crate's
//! allocation-free `decode_slice` writes into a `&mut [u8]`, which would mean
//! zero-filling `out` to a guessed length first. This is one table and a loop
//! that pushes into the caller's buffer.

use memchr::{memchr, memchr2};

use super::Anomalies;

/// Fewer base64 symbols (padding not counted) than this are left alone: they
/// decode to at most two bytes, nothing a signature could match, while short
/// words (`test`, `admin`) are very often valid base64.
pub(super) const MIN_SYMBOLS: usize = 4;

const NOT_BASE64: u8 = 0xFF;

/// Symbol values for both alphabets: `+`/`-` are 62, `/`/`_` are 63.
const SYMBOLS: [u8; 256] = {
    let mut table = [NOT_BASE64; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'-' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'_' as usize] = 63;
    table
};

fn symbol(b: u8) -> Option<u32> {
    match SYMBOLS[usize::from(b)] {
        NOT_BASE64 => None,
        v => Some(u32::from(v)),
    }
}

/// Decodes `input` into `out` if it is valid base64; `None` if it is not
/// (`out` then holds a partial result).
fn decode_into(input: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let data_len = input.len() - input.iter().rev().take_while(|&&b| b == b'=').count();
    let (data, padding) = input.split_at(data_len);
    // Padding, when present, completes the last quantum exactly.
    let shape_ok = match (data.len() % 4, padding.len()) {
        (1, _) => false,
        (_, 0) => true,
        (2, 2) | (3, 1) => true,
        _ => false,
    };
    if !shape_ok || data.len() < MIN_SYMBOLS {
        return None;
    }
    // Not both alphabets (the table accepts either, so check here).
    if memchr2(b'+', b'/', data).is_some() && memchr2(b'-', b'_', data).is_some() {
        return None;
    }
    // An `=` can only be padding, and padding was split off.
    if memchr(b'=', data).is_some() {
        return None;
    }
    let mut quanta = data.chunks_exact(4);
    for quantum in &mut quanta {
        let n = quantum
            .iter()
            .try_fold(0u32, |acc, &b| Some((acc << 6) | symbol(b)?))?;
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    // A final 2 or 3 symbols carry 1 or 2 bytes; their leftover low bits are
    // ignored, as lenient decoders do.
    let tail = quanta.remainder();
    if !tail.is_empty() {
        let n = tail
            .iter()
            .try_fold(0u32, |acc, &b| Some((acc << 6) | symbol(b)?))?;
        let n = n << (6 * (4 - tail.len()));
        out.extend_from_slice(&n.to_be_bytes()[1..tail.len()]);
    }
    Some(())
}

/// `Base64Decode`: when all of `input` is base64 — the standard (`+/`) or the
/// URL-safe (`-_`) alphabet but not a mix, `=` padding optional but correct if
/// present, at least `MIN_SYMBOLS` symbols, no whitespace or line breaks — its
/// decoding (3 bytes per 4 symbols); otherwise `input` unchanged.
pub(super) fn decode(input: &[u8], out: &mut Vec<u8>) -> Anomalies {
    if decode_into(input, out).is_none() {
        out.clear();
        out.extend_from_slice(input);
    }
    Anomalies::NONE
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::MIN_SYMBOLS;
    use crate::transform::testing::{check, run, NONE, NUL};
    use crate::transform::Transform;

    #[test]
    fn base64_decode_table() {
        check(
            Transform::Base64Decode,
            &[
                (b"PHNjcmlwdD4=", b"<script>", NONE),
                (b"PHNjcmlwdD4", b"<script>", NONE),
                (b"YWJj", b"abc", NONE),
                (b"YWJjZA==", b"abcd", NONE),
                (b"YWJjZA", b"abcd", NONE),
                (b"YWJjZGU=", b"abcde", NONE),
                (b"-_-_", b"\xFB\xFF\xBF", NONE),
                (b"+/+/", b"\xFB\xFF\xBF", NONE),
                // Leftover bits of a partial quantum are ignored.
                (b"YWJjZB", b"abcd", NONE),
                // Too short: left alone.
                (b"YWI=", b"YWI=", NONE),
                (b"YQ==", b"YQ==", NONE),
                (b"YQ", b"YQ", NONE),
                (b"", b"", NONE),
                // Not (all) base64: left alone.
                (b"-/+_", b"-/+_", NONE),
                (b"YWJjZA=", b"YWJjZA=", NONE),
                (b"YWJjZ", b"YWJjZ", NONE),
                (b"YWJjZ===", b"YWJjZ===", NONE),
                (b"YWJj====", b"YWJj====", NONE),
                (b"YW=Jj", b"YW=Jj", NONE),
                (b"YWJj ZGVm", b"YWJj ZGVm", NONE),
                (b"YWJj\r\nZGVm", b"YWJj\r\nZGVm", NONE),
                (b"hello world", b"hello world", NONE),
                (b"====", b"====", NONE),
                (b"YWJj\0", b"YWJj\0", NUL),
                (b"AAAA", b"\0\0\0", NUL),
            ],
        );
    }

    /// A reference encoder: `url` picks the alphabet, `pad` the padding.
    fn encode(bytes: &[u8], url: bool, pad: bool) -> Vec<u8> {
        let alphabet: &[u8; 64] = if url {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        } else {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        };
        let mut encoded = Vec::new();
        for chunk in bytes.chunks(3) {
            let mut n = [0u8; 3];
            n[..chunk.len()].copy_from_slice(chunk);
            let n = u32::from_be_bytes([0, n[0], n[1], n[2]]);
            let symbols = chunk.len() + 1;
            for i in 0..4 {
                if i < symbols {
                    encoded.push(alphabet[(n >> (18 - 6 * i) & 0x3F) as usize]);
                } else if pad {
                    encoded.push(b'=');
                }
            }
        }
        encoded
    }

    proptest! {
        #[test]
        fn encoded_bytes_decode_back(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            url in any::<bool>(),
            pad in any::<bool>(),
        ) {
            let encoded = encode(&bytes, url, pad);
            let (decoded, _) = run(Transform::Base64Decode, &encoded);
            let symbols = encoded.iter().filter(|&&b| b != b'=').count();
            if symbols >= MIN_SYMBOLS {
                prop_assert_eq!(decoded, bytes);
            } else {
                prop_assert_eq!(decoded, encoded);
            }
        }

        #[test]
        fn non_base64_is_unchanged(
            input in prop::collection::vec(any::<u8>(), 0..64),
            at in any::<prop::sample::Index>(),
            bad in "[^A-Za-z0-9+/=_-]",
        ) {
            let mut input = input;
            input.insert(at.index(input.len() + 1), bad.as_bytes()[0]);
            let (out, _) = run(Transform::Base64Decode, &input);
            prop_assert_eq!(out, input);
        }
    }
}
