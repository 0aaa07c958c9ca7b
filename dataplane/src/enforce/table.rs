//! A fixed-capacity table of client addresses with an expiry each (the
//! escalation denylist, the deceived clients): allocated once, no allocation
//! per insert, constant work per operation.
//!
//! It is set-associative: an address hashes to one bucket of [`WAYS`] entries.
//! An insert takes the address's own entry, else an expired or empty one, else
//! evicts the entry of that bucket that expires first — the table never grows,
//! and a flood of new addresses only pushes out the entries nearest to expiry.
//! The hash is keyed per process so addresses cannot be chosen to collide.

use std::net::IpAddr;

/// Entries per bucket.
pub const WAYS: usize = 8;

/// What is remembered about a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<V: Copy> {
    key: u128,
    /// Milliseconds on the worker's clock; 0 = empty.
    expires_ms: u64,
    pub value: V,
}

pub struct TimedTable<V: Copy> {
    slots: Box<[Entry<V>]>,
    buckets: usize,
    seed: u64,
}

fn key_of(ip: IpAddr) -> u128 {
    match ip {
        // v4 and v4-mapped v6 are the same client.
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl<V: Copy> TimedTable<V> {
    /// A table of at least `capacity` entries (rounded up to whole buckets).
    pub fn new(capacity: usize, seed: u64, empty: V) -> TimedTable<V> {
        let buckets = capacity.div_ceil(WAYS).max(1);
        TimedTable {
            slots: vec![
                Entry {
                    key: 0,
                    expires_ms: 0,
                    value: empty,
                };
                buckets * WAYS
            ]
            .into_boxed_slice(),
            buckets,
            seed: seed | 1,
        }
    }

    fn bucket(&self, key: u128) -> usize {
        let h = ((key as u64) ^ ((key >> 64) as u64).rotate_left(29) ^ self.seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h = h ^ (h >> 31);
        (h % self.buckets as u64) as usize * WAYS
    }

    /// The live entry for `ip`, if any.
    pub fn get(&self, ip: IpAddr, now_ms: u64) -> Option<&V> {
        let key = key_of(ip);
        let b = self.bucket(key);
        self.slots[b..b + WAYS]
            .iter()
            .find(|e| e.expires_ms > now_ms && e.key == key)
            .map(|e| &e.value)
    }

    /// Remembers `ip` until `expires_ms`; returns whether a live entry of
    /// another address was evicted for it.
    pub fn insert(&mut self, ip: IpAddr, expires_ms: u64, now_ms: u64, value: V) -> bool {
        let key = key_of(ip);
        let b = self.bucket(key);
        let bucket = &mut self.slots[b..b + WAYS];
        let mut pick = 0;
        let mut evicts = true;
        for (i, e) in bucket.iter().enumerate() {
            if e.expires_ms > now_ms && e.key == key {
                pick = i;
                evicts = false;
                break;
            }
            if e.expires_ms <= now_ms {
                if evicts {
                    pick = i;
                    evicts = false;
                }
            } else if evicts && e.expires_ms < bucket[pick].expires_ms {
                pick = i;
            }
        }
        bucket[pick] = Entry {
            key,
            expires_ms: expires_ms.max(now_ms + 1),
            value,
        };
        evicts
    }

    /// Forgets `ip`.
    pub fn remove(&mut self, ip: IpAddr) {
        let key = key_of(ip);
        let b = self.bucket(key);
        for e in &mut self.slots[b..b + WAYS] {
            if e.key == key {
                e.expires_ms = 0;
            }
        }
    }

    /// Rewrites or drops every live entry (after a policy reload).
    pub fn retain_map(&mut self, now_ms: u64, mut f: impl FnMut(&V) -> Option<V>) {
        for e in self.slots.iter_mut() {
            if e.expires_ms > now_ms {
                match f(&e.value) {
                    Some(v) => e.value = v,
                    None => e.expires_ms = 0,
                }
            }
        }
    }

    /// Live entries (for tests and metrics; walks the whole table).
    pub fn live(&self, now_ms: u64) -> usize {
        self.slots.iter().filter(|e| e.expires_ms > now_ms).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn entries_expire_and_are_replaced_in_place() {
        let mut t = TimedTable::new(64, 7, 0u32);
        assert!(!t.insert(ip(1), 100, 0, 5));
        assert_eq!(t.get(ip(1), 99), Some(&5));
        assert_eq!(t.get(ip(1), 100), None, "expired at its deadline");
        assert!(!t.insert(ip(1), 200, 10, 6));
        assert_eq!(t.get(ip(1), 50), Some(&6));
        assert_eq!(t.live(50), 1, "same address, one entry");
        t.remove(ip(1));
        assert_eq!(t.get(ip(1), 50), None);
        let v6: IpAddr = "::ffff:0.0.0.9".parse().expect("v6");
        t.insert(ip(9), 100, 0, 1);
        assert_eq!(t.get(v6, 0), Some(&1), "v4-mapped is the same client");
    }

    #[test]
    fn a_full_table_evicts_the_entry_closest_to_expiry_and_never_grows() {
        let mut t = TimedTable::new(WAYS, 1, 0u32);
        for i in 0..WAYS as u32 {
            assert!(!t.insert(ip(i), 1000 + u64::from(i), 0, i));
        }
        assert!(t.insert(ip(100), 5000, 0, 100), "full: evicts");
        assert_eq!(t.get(ip(0), 0), None, "the one expiring first went");
        assert_eq!(t.get(ip(1), 0), Some(&1));
        assert_eq!(t.get(ip(100), 0), Some(&100));
        assert_eq!(t.live(0), WAYS);
        t.retain_map(0, |v| (*v % 2 == 0).then_some(*v + 1));
        assert_eq!(t.get(ip(2), 0), Some(&3));
        assert_eq!(t.get(ip(1), 0), None);
    }
}
