//! Fixed-capacity sorted value lists, and the writers that print value lists
//! into a hash or a formatter: what lets the fingerprints be computed on the
//! stack, without allocating.

use std::fmt;

use sha2::Digest;

/// Lowercase hex digits.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Up to `N` values, sorted ascending. Values past the first `N` are dropped:
/// the caller documents what that means for its fingerprint.
pub(crate) struct Sorted<const N: usize> {
    vals: [u16; N],
    len: usize,
}

impl<const N: usize> Sorted<N> {
    /// Keeps the first `N` values of `iter`, sorted.
    pub(crate) fn collect(iter: impl Iterator<Item = u16>) -> Self {
        let mut vals = [0u16; N];
        let mut len = 0;
        for (slot, v) in vals.iter_mut().zip(iter) {
            *slot = v;
            len += 1;
        }
        vals[..len].sort_unstable();
        Sorted { vals, len }
    }

    pub(crate) fn as_slice(&self) -> &[u16] {
        &self.vals[..self.len]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Writes `vals` as 4-digit lowercase hex, comma separated (`002f,0035`).
pub(crate) fn write_hex_list(
    w: &mut impl fmt::Write,
    vals: impl Iterator<Item = u16>,
) -> fmt::Result {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            w.write_char(',')?;
        }
        let b = v.to_be_bytes();
        let digits = [
            HEX[(b[0] >> 4) as usize],
            HEX[(b[0] & 0xf) as usize],
            HEX[(b[1] >> 4) as usize],
            HEX[(b[1] & 0xf) as usize],
        ];
        for d in digits {
            w.write_char(d as char)?;
        }
    }
    Ok(())
}

/// Writes `vals` in decimal, dash separated (`4865-4866`).
pub(crate) fn write_dec_list<T: fmt::Display>(
    w: &mut impl fmt::Write,
    vals: impl Iterator<Item = T>,
) -> fmt::Result {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            w.write_char('-')?;
        }
        write!(w, "{v}")?;
    }
    Ok(())
}

/// A `fmt::Write` that feeds a digest, so a fingerprint's text is hashed as
/// it is printed, never held.
pub(crate) struct DigestWriter<'d, D>(pub(crate) &'d mut D);

impl<D: Digest> fmt::Write for DigestWriter<'_, D> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Lowercase hex of `bytes` into `out` (two digits a byte, as many as fit).
pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 0xf) as usize];
    }
}
