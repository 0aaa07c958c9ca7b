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

use super::{
    CLASS, F_AMP, F_ANYDOT, F_BSLASH, F_LF, F_NONASCII, F_NONNUM, F_NUL, F_PCT, F_PLUS, F_SLASH,
    F_SPACE, F_UPPER, F_WS,
};

/// The OR of `CLASS` over `input`.
#[inline]
pub(super) fn classes(input: &[u8]) -> u16 {
    #[cfg(target_arch = "x86_64")]
    if input.len() >= 4 && std::arch::is_x86_feature_detected!("avx2") {
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

/// Bits of the first nibble table pair: single bytes.
const T1: [(u8, u16); 8] = [
    (b'%', F_PCT),
    (b'+', F_PLUS),
    (b'&', F_AMP),
    (b'\\', F_BSLASH),
    (b'.', F_ANYDOT),
    (b'/', F_SLASH),
    (b' ', F_SPACE),
    (0, F_NUL),
];

/// Bits of the second table pair, each a product of a high-nibble set and a
/// low-nibble set: `A-O`, `P-Z` (upper case), `\t..\r`, `0xA0`, the
/// number bytes `0-9`, `-.`, `E`/`e`, and `\n` alone.
const UPPER_A: u8 = 1;
const UPPER_B: u8 = 2;
const WS: u8 = 4;
const NBSP: u8 = 8;
const NUM_DIGIT: u8 = 16;
const NUM_DASH_DOT: u8 = 32;
const NUM_E: u8 = 64;
const LF: u8 = 128;
const NUM: u8 = NUM_DIGIT | NUM_DASH_DOT | NUM_E;

/// The four 16-entry nibble tables: (low 1, high 1, low 2, high 2).
const fn tables() -> [[u8; 16]; 4] {
    let mut t = [[0u8; 16]; 4];
    let mut i = 0;
    while i < T1.len() {
        let b = T1[i].0;
        t[0][(b & 15) as usize] |= 1 << i;
        t[1][(b >> 4) as usize] |= 1 << i;
        i += 1;
    }
    // A-O = 0x41..=0x4f, P-Z = 0x50..=0x5a.
    let mut lo = 1;
    while lo < 16 {
        t[2][lo] |= UPPER_A;
        lo += 1;
    }
    t[3][4] |= UPPER_A;
    lo = 0;
    while lo <= 0xa {
        t[2][lo] |= UPPER_B;
        lo += 1;
    }
    t[3][5] |= UPPER_B;
    // \t \n \v \f \r = 0x09..=0x0d.
    lo = 9;
    while lo <= 0xd {
        t[2][lo] |= WS;
        lo += 1;
    }
    t[3][0] |= WS;
    t[2][0] |= NBSP;
    t[3][0xa] |= NBSP;
    lo = 0;
    while lo <= 9 {
        t[2][lo] |= NUM_DIGIT;
        lo += 1;
    }
    t[3][3] |= NUM_DIGIT;
    t[2][0xd] |= NUM_DASH_DOT;
    t[2][0xe] |= NUM_DASH_DOT;
    t[3][2] |= NUM_DASH_DOT;
    t[2][0xa] |= LF;
    t[3][0] |= LF;
    t[2][5] |= NUM_E;
    t[3][4] |= NUM_E;
    t[3][6] |= NUM_E;
    t
}

const TABLES: [[u8; 16]; 4] = tables();

/// Feature bits from the accumulated lookups: `c1`/`c2` are the ORs of the
/// two tables' class bytes, `high` whether a byte had its top bit set,
/// `nonnum` whether a byte was in no number class.
fn bits(c1: u8, c2: u8, high: bool, nonnum: bool) -> u16 {
    let mut f = 0;
    for (i, &(_, bit)) in T1.iter().enumerate() {
        if c1 & (1 << i) != 0 {
            f |= bit;
        }
    }
    if c2 & (UPPER_A | UPPER_B) != 0 {
        f |= F_UPPER;
    }
    if c2 & (WS | NBSP) != 0 {
        f |= F_WS;
    }
    if c2 & LF != 0 {
        f |= F_LF;
    }
    if high {
        f |= F_NONASCII;
    }
    if nonnum {
        f |= F_NONNUM;
    }
    f
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{bits, NUM, TABLES};

    /// Running ORs over blocks (two 128-bit lanes each when 256 bits wide).
    struct Acc {
        c1: __m256i,
        c2: __m256i,
        nonnum: __m256i,
        any: __m256i,
    }

    /// Classifies `input` (at least 4 bytes).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn classes(input: &[u8]) -> u16 {
        let t = |i: usize| {
            // SAFETY: each table is 16 bytes, an unaligned 128-bit load.
            let v = unsafe { _mm_loadu_si128(TABLES[i].as_ptr().cast()) };
            _mm256_broadcastsi128_si256(v)
        };
        let (lo1, hi1, lo2, hi2) = (t(0), t(1), t(2), t(3));
        let zero = _mm256_setzero_si256();
        let mut acc = Acc {
            c1: zero,
            c2: zero,
            nonnum: zero,
            any: zero,
        };
        let step = |acc: &mut Acc, v: __m256i| {
            let lo = _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f));
            let c1 = _mm256_and_si256(_mm256_shuffle_epi8(lo1, lo), _mm256_shuffle_epi8(hi1, hi));
            let c2 = _mm256_and_si256(_mm256_shuffle_epi8(lo2, lo), _mm256_shuffle_epi8(hi2, hi));
            let num = _mm256_and_si256(c2, _mm256_set1_epi8(NUM as i8));
            acc.c1 = _mm256_or_si256(acc.c1, c1);
            acc.c2 = _mm256_or_si256(acc.c2, c2);
            acc.nonnum = _mm256_or_si256(acc.nonnum, _mm256_cmpeq_epi8(num, zero));
            acc.any = _mm256_or_si256(acc.any, v);
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
            // Two overlapping halves cover every byte; both 128-bit lanes get
            // real bytes of the value, so no lane needs padding.
            // SAFETY (every load below): each reads a window that starts at
            // 0 or ends at n, no wider than n bytes.
            let v = unsafe {
                if n >= 16 {
                    _mm256_set_m128i(
                        _mm_loadu_si128(p.add(n - 16).cast()),
                        _mm_loadu_si128(p.cast()),
                    )
                } else if n >= 8 {
                    let a = p.cast::<i64>().read_unaligned();
                    let b = p.add(n - 8).cast::<i64>().read_unaligned();
                    _mm256_set_epi64x(b, a, b, a)
                } else {
                    let a = p.cast::<i32>().read_unaligned();
                    let b = p.add(n - 4).cast::<i32>().read_unaligned();
                    _mm256_set_epi32(b, a, b, a, b, a, b, a)
                }
            };
            step(&mut acc, v);
        }
        let or_bytes = |v: __m256i| {
            let x = _mm_or_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            let x = _mm_or_si128(x, _mm_srli_si128(x, 8));
            let x = _mm_or_si128(x, _mm_srli_si128(x, 4));
            let x = _mm_or_si128(x, _mm_srli_si128(x, 2));
            let x = _mm_or_si128(x, _mm_srli_si128(x, 1));
            _mm_cvtsi128_si32(x) as u8
        };
        bits(
            or_bytes(acc.c1),
            or_bytes(acc.c2),
            _mm256_movemask_epi8(acc.any) != 0,
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
