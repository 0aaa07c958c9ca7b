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
