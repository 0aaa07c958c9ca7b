//! Which byte classes a value contains: the OR over its bytes of
//! [`super::CLASS`], the one pass every field makes before its chains run.
//!
//! Every field of every request goes through this, so it is vectorised: with
//! AVX2 a 32-byte block is classified with two nibble lookups per table
//! (`vpshufb`, the "shufti" technique Hyperscan itself uses for character
//! classes) instead of 32 dependent table loads. The scalar fold is the
//! reference and the fallback on CPUs without AVX2; tests check that both
//! agree on every byte value and on random values of every length.
//!
//! Classification is an OR over bytes, so blocks may overlap: a value of 20
//! bytes is read as two overlapping 16-byte halves and the tail of a long one
//! as the last 32 bytes, with no padding copy and no byte read outside it.
//! Values under 16 bytes take the scalar fold, which is as fast there.

use super::{
    CLASS, F_AMP, F_ANYDOT, F_BSLASH, F_LF, F_NONASCII, F_NONNUM, F_NUL, F_PCT, F_PLUS, F_SLASH,
    F_SPACE, F_UPPER, F_WS,
};

/// The OR of `CLASS` over `input`.
#[inline]
pub(super) fn classes(input: &[u8]) -> u16 {
    // Below 16 bytes the table fold is as fast: the vector path's fixed
    // cost (table loads, the final fold) is what a short value pays
    // (measured on the default pack's JSON POST, whose values are short).
    #[cfg(target_arch = "x86_64")]
    if input.len() >= 16 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above), the only
        // requirement of the target-feature function.
        return unsafe { avx2::classes(input) };
    }
    scalar(input)
}

/// The reference: one table lookup per byte.
pub(super) fn scalar(input: &[u8]) -> u16 {
    input.iter().fold(0u16, |acc, &b| acc | CLASS[b as usize])
}

/// A set of bytes written as a product of a set of high nibbles and a set
/// of low nibbles (the form one `vpshufb` pair can test), and the bit it
/// sets: bits 0–7 in the first table pair, 8–15 in the second, so the two
/// accumulated bytes side by side are the feature bits themselves.
struct Product {
    bit: u32,
    hi: (u8, u8),
    lo: &'static [u8],
}

const ALL_NIBBLES: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// Bits 5 and 6 are features the pair searches add later (`F_DOT`,
/// `F_SLASH2`), never byte classes, so here they carry the second halves of
/// two classes that are not one product: `P-Z` and the 0xA0 no-break space.
const TEMP_UPPER: u16 = 1 << 5;
const TEMP_NBSP: u16 = 1 << 6;

const fn p(bit: u32, hi: (u8, u8), lo: &'static [u8]) -> Product {
    Product { bit, hi, lo }
}

const A_TO_O: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const P_TO_Z: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const DIGITS: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

const PRODUCTS: &[Product] = &[
    p(0, (2, 2), &[5]),                 // %
    p(1, (2, 2), &[0xb]),               // +
    p(2, (4, 4), A_TO_O),               // A-O
    p(3, (2, 2), &[6]),                 // &
    p(4, (5, 5), &[0xc]),               // backslash
    p(5, (5, 5), P_TO_Z),               // P-Z (TEMP_UPPER)
    p(6, (0xa, 0xa), &[0]),             // 0xA0 (TEMP_NBSP)
    p(7, (0, 0), &[0]),                 // NUL
    p(8, (0, 0), &[9, 10, 11, 12, 13]), // \t..\r
    p(9, (8, 15), ALL_NIBBLES),         // 0x80..=0xFF
    p(11, (2, 2), &[0xf]),              // /
    p(12, (2, 2), &[0]),                // space
    p(13, (2, 2), &[0xe]),              // .
    p(15, (0, 0), &[0xa]),              // \n
];

/// The number bytes (`0-9`, `-.`, `E`/`e`) as products of a third table
/// pair: a byte in none of them makes the value a non-number.
const NUMBER: &[Product] = &[
    p(0, (3, 3), DIGITS),
    p(1, (2, 2), &[0xd, 0xe]),
    p(2, (4, 4), &[5]),
    p(2, (6, 6), &[5]),
];

// The products above write the feature bits by position.
const _: () = assert!(
    F_PCT == 1 << 0
        && F_PLUS == 1 << 1
        && F_UPPER == 1 << 2
        && F_AMP == 1 << 3
        && F_BSLASH == 1 << 4
        && F_NUL == 1 << 7
        && F_WS == 1 << 8
        && F_NONASCII == 1 << 9
        && F_SLASH == 1 << 11
        && F_SPACE == 1 << 12
        && F_ANYDOT == 1 << 13
        && F_LF == 1 << 15
);

/// Low-nibble and high-nibble tables for products whose bits lie in
/// `first..first + 8`, each 16 entries written twice (one per 128-bit lane
/// of an AVX2 register, which `vpshufb` looks up separately).
const fn tables(products: &[Product], first: u32) -> [[u8; 32]; 2] {
    let mut t = [[0u8; 32]; 2];
    let mut i = 0;
    while i < products.len() {
        let p = &products[i];
        if p.bit >= first && p.bit < first + 8 {
            let bit = 1u8 << (p.bit - first);
            let mut j = 0;
            while j < p.lo.len() {
                t[0][p.lo[j] as usize] |= bit;
                t[0][16 + p.lo[j] as usize] |= bit;
                j += 1;
            }
            let mut h = p.hi.0;
            while h <= p.hi.1 {
                t[1][h as usize] |= bit;
                t[1][16 + h as usize] |= bit;
                h += 1;
            }
        }
        i += 1;
    }
    t
}

/// (low, high) tables: feature bits 0–7, 8–15, and the number classes.
const LOW: [[u8; 32]; 2] = tables(PRODUCTS, 0);
const HIGH: [[u8; 32]; 2] = tables(PRODUCTS, 8);
const NUM: [[u8; 32]; 2] = tables(NUMBER, 0);

/// Feature bits from the accumulated class bits: the temporary halves
/// folded into their features; `nonnum` when a byte was in no number class.
fn finish(classes: u16, nonnum: bool) -> u16 {
    let mut f = classes & !(TEMP_UPPER | TEMP_NBSP);
    if classes & TEMP_UPPER != 0 {
        f |= F_UPPER;
    }
    if classes & TEMP_NBSP != 0 {
        f |= F_WS;
    }
    if nonnum {
        f |= F_NONNUM;
    }
    f
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{finish, HIGH, LOW, NUM};

    /// Running ORs over blocks.
    struct Acc {
        low: __m256i,
        high: __m256i,
        nonnum: __m256i,
    }

    /// Classifies `input` (at least 16 bytes).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn classes(input: &[u8]) -> u16 {
        // SAFETY: each table is 32 bytes, read with an unaligned load.
        let t = |t: &[u8; 32]| unsafe { _mm256_loadu_si256(t.as_ptr().cast()) };
        let (low_lo, low_hi) = (t(&LOW[0]), t(&LOW[1]));
        let (high_lo, high_hi) = (t(&HIGH[0]), t(&HIGH[1]));
        let (num_lo, num_hi) = (t(&NUM[0]), t(&NUM[1]));
        let zero = _mm256_setzero_si256();
        let nibble = _mm256_set1_epi8(0x0f);
        let mut acc = Acc {
            low: zero,
            high: zero,
            nonnum: zero,
        };
        let step = |acc: &mut Acc, v: __m256i| {
            let lo = _mm256_and_si256(v, nibble);
            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
            let look = |l: __m256i, h: __m256i| {
                _mm256_and_si256(_mm256_shuffle_epi8(l, lo), _mm256_shuffle_epi8(h, hi))
            };
            acc.low = _mm256_or_si256(acc.low, look(low_lo, low_hi));
            acc.high = _mm256_or_si256(acc.high, look(high_lo, high_hi));
            let num = look(num_lo, num_hi);
            acc.nonnum = _mm256_or_si256(acc.nonnum, _mm256_cmpeq_epi8(num, zero));
        };
        let n = input.len();
        let p = input.as_ptr();
        if n >= 32 {
            let mut i = 0;
            while i + 32 <= n {
                // SAFETY: bytes i..i+32 lie inside `input`.
                step(&mut acc, unsafe { _mm256_loadu_si256(p.add(i).cast()) });
                i += 32;
            }
            if i < n {
                // The last 32 bytes, overlapping bytes already classified.
                // SAFETY: n >= 32, so n-32..n lies inside `input`.
                step(&mut acc, unsafe {
                    _mm256_loadu_si256(p.add(n - 32).cast())
                });
            }
        } else {
            // Two overlapping halves cover every byte (16 <= n < 32).
            // SAFETY: 0..16 and n-16..n lie inside `input`.
            let v = unsafe {
                _mm256_set_m128i(
                    _mm_loadu_si128(p.add(n - 16).cast()),
                    _mm_loadu_si128(p.cast()),
                )
            };
            step(&mut acc, v);
        }
        // Both lanes folded, the two class bytes side by side in 16-bit
        // lanes, then the lanes ORed together.
        let fold =
            |v: __m256i| _mm_or_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let (low, high) = (fold(acc.low), fold(acc.high));
        let x = _mm_or_si128(_mm_unpacklo_epi8(low, high), _mm_unpackhi_epi8(low, high));
        let x = _mm_or_si128(x, _mm_srli_si128(x, 8));
        let x = _mm_or_si128(x, _mm_srli_si128(x, 4));
        let x = _mm_or_si128(x, _mm_srli_si128(x, 2));
        finish(
            _mm_cvtsi128_si32(x) as u16,
            _mm256_movemask_epi8(acc.nonnum) != 0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_byte_value_is_classified_as_the_table_says() {
        for b in 0..=255u8 {
            // Every length a path handles differently, the byte at each end
            // and in the middle, among bytes of no class but "number".
            for n in [
                1usize, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100,
            ] {
                for at in [0, n / 2, n - 1] {
                    let mut v = vec![b'7'; n];
                    v[at] = b;
                    assert_eq!(
                        classes(&v),
                        scalar(&v),
                        "byte {b:#04x} at {at} of {n}: {:016b} vs {:016b}",
                        classes(&v),
                        scalar(&v)
                    );
                }
            }
        }
    }

    #[test]
    fn the_empty_value_has_no_class() {
        assert_eq!(classes(b""), 0);
    }

    proptest! {
        #[test]
        fn random_values_match_the_scalar_fold(v in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(classes(&v), scalar(&v));
        }

        #[test]
        fn text_values_match_the_scalar_fold(v in "[ -~\t\r\n]{0,120}") {
            prop_assert_eq!(classes(v.as_bytes()), scalar(v.as_bytes()));
        }
    }
}
