//! Per-core request/event id generator: 16 lowercase hex chars, unique across
//! cores within a process and, with overwhelming probability, across restarts.

use std::io::Read as _;
use std::sync::OnceLock;

/// Process-wide random key, read once at startup.
fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let mut b = [0u8; 8];
        let urandom = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
        if urandom.is_ok() {
            return u64::from_le_bytes(b);
        }
        // Fallback: time and pid differ between restarts, which is what matters.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        mix(nanos ^ (u64::from(std::process::id()) << 32))
    })
}

/// splitmix64's finaliser: every step (xor-shift, odd multiply) is a bijection
/// on u64, so distinct inputs always give distinct ids.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub struct RequestIdGen {
    seed: u64,
    /// Core index in the top 16 bits, counter in the low 48.
    next: u64,
}

impl RequestIdGen {
    pub fn new(core: u16) -> Self {
        RequestIdGen {
            seed: process_seed(),
            next: u64::from(core) << 48,
        }
    }

    /// Next id. `core << 48 | counter` is unique per process (2^48 ids per core
    /// before the counter would wrap into the next core's space; it wraps within
    /// its own 48 bits instead), and xoring with the seed and mixing is a
    /// bijection, so uniqueness survives while ids stay unguessable-looking and
    /// differ between restarts.
    // The API is fixed by the reactor; this is not (and must not be) an iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> [u8; 16] {
        let v = self.next;
        let core_bits = v & !((1u64 << 48) - 1);
        self.next = core_bits | (v.wrapping_add(1) & ((1u64 << 48) - 1));
        let id = mix(v ^ self.seed);
        let mut out = [0u8; 16];
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = HEX[((id >> (60 - 4 * i)) & 0xf) as usize];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_unique_across_cores() {
        let mut seen = std::collections::HashSet::new();
        for core in 0..4u16 {
            let mut g = RequestIdGen::new(core);
            for _ in 0..10_000 {
                let id = g.next();
                assert!(id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
                assert!(seen.insert(id), "duplicate id");
            }
        }
    }

    #[test]
    fn counter_wraps_within_core_space() {
        let mut g = RequestIdGen::new(7);
        g.next = (7u64 << 48) | ((1u64 << 48) - 1);
        let _ = g.next();
        assert_eq!(g.next, 7u64 << 48);
    }

    #[test]
    fn mix_differs_for_neighbours() {
        assert_ne!(mix(1), mix(2));
    }
}
