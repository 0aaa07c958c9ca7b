//! A per-core table of tracked keys with a fixed memory budget and CLOCK eviction.
//!
//! States live in a slab (`Vec<Slot<S>>`) allocated once at its full capacity; a
//! `hashbrown::HashTable<u32>` maps a key to its slot. The index is created with room
//! for twice the slab's capacity, so it stays at most half full: hashbrown then
//! reclaims the tombstones evictions leave by rehashing in place, never by growing.
//! Nothing is allocated after [`Table::with_budget`] (a test checks it over 100k
//! updates with evictions).
//!
//! When the slab is full, a new key takes the slot of a victim chosen by CLOCK: every
//! hit sets the slot's reference bit; the hand clears set bits as it passes and takes
//! the first slot whose bit was clear, looking at no more than [`Table::MAX_SCAN`]
//! slots (then it takes the slot under the hand), so an insertion costs a bounded
//! number of steps even when every key is busy.

use std::mem::size_of;

use hashbrown::HashTable;

use super::hll::mix64;

/// Marks a slot as referenced since the hand last passed it.
const REFERENCED: u64 = 1 << 63;

/// One tracked key and its state.
#[derive(Clone, Copy, Debug)]
struct Slot<S> {
    key: u64,
    /// Time of the last update (ms) in the low 63 bits, reference bit on top.
    stamp: u64,
    state: S,
}

/// A tracked key's state, as [`Table::entry`] hands it out.
pub struct Entry<'a, S> {
    /// The state.
    pub state: &'a mut S,
    /// The time of the previous update (`now` for a new key): windows roll from here.
    pub last_ms: u64,
    /// The key was not tracked before (or had been evicted).
    pub new: bool,
}

/// Fixed-capacity table of key → `S` with CLOCK eviction.
pub struct Table<S> {
    index: HashTable<u32>,
    slots: Vec<Slot<S>>,
    capacity: usize,
    hand: usize,
    evictions: u64,
}

impl<S: Copy + Default> Table<S> {
    /// Slots the hand inspects at most per eviction.
    pub const MAX_SCAN: usize = 64;

    /// Bytes one slot takes in the slab.
    pub const SLOT_BYTES: usize = size_of::<Slot<S>>();

    /// Bytes a table of `capacity` slots allocates (slab plus index).
    pub fn bytes_for(capacity: usize) -> usize {
        capacity * Self::SLOT_BYTES + index_bytes(capacity)
    }

    /// The largest capacity whose allocation fits in `budget` bytes (at least 1).
    pub fn capacity_for(budget: usize) -> usize {
        let (mut lo, mut hi) = (1usize, (budget / Self::SLOT_BYTES).max(1));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if Self::bytes_for(mid) <= budget {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }

    /// A table using at most `budget` bytes, all allocated now.
    pub fn with_budget(budget: usize) -> Self {
        Self::with_capacity(Self::capacity_for(budget))
    }

    /// A table of exactly `capacity` slots (at least 1, at most `u32::MAX`).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, u32::MAX as usize);
        let mut slots: Vec<Slot<S>> = Vec::with_capacity(capacity);
        advise_huge_pages(slots.as_ptr().cast(), capacity * Self::SLOT_BYTES);
        // Filled up front: the slab never reallocates and its pages are touched at
        // startup rather than on the first requests.
        slots.resize(
            capacity,
            Slot {
                key: 0,
                stamp: 0,
                state: S::default(),
            },
        );
        Table {
            index: HashTable::with_capacity(capacity * 2),
            slots,
            capacity,
            hand: 0,
            evictions: 0,
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The most keys it tracks.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Bytes actually allocated (slab plus index).
    pub fn allocated_bytes(&self) -> usize {
        self.slots.capacity() * Self::SLOT_BYTES + self.index.allocation_size()
    }

    /// The state of `key` for reading, with the time of its last update.
    pub fn get(&self, key: u64) -> Option<(&S, u64)> {
        let slots = &self.slots;
        let i = *self
            .index
            .find(mix64(key), |&i| slots[i as usize].key == key)?;
        let s = &slots[i as usize];
        Some((&s.state, s.stamp & !REFERENCED))
    }

    /// The state of `key` for changing without counting it as an update (its
    /// windows are not rolled and its last update time stays).
    pub fn get_mut(&mut self, key: u64) -> Option<&mut S> {
        let slots = &self.slots;
        let i = *self
            .index
            .find(mix64(key), |&i| slots[i as usize].key == key)?;
        Some(&mut self.slots[i as usize].state)
    }

    /// Calls `f(state, last_update_ms)` for up to `n` tracked keys from
    /// position `from` on (wrapping), and returns where the next call should
    /// start. Tracked keys occupy the slab's first `len()` slots.
    pub fn scan(&self, from: usize, n: usize, mut f: impl FnMut(&S, u64)) -> usize {
        let len = self.len();
        if len == 0 {
            return 0;
        }
        let mut i = from % len;
        for _ in 0..n.min(len) {
            let s = &self.slots[i];
            f(&s.state, s.stamp & !REFERENCED);
            i = (i + 1) % len;
        }
        i
    }

    /// The state of `key`, tracking it (evicting another key if full) when new.
    /// Marks it referenced and records `now_ms` as its last update.
    pub fn entry(&mut self, key: u64, now_ms: u64) -> Entry<'_, S> {
        let hash = mix64(key);
        let found = {
            let slots = &self.slots;
            self.index
                .find(hash, |&i| slots[i as usize].key == key)
                .copied()
        };
        let now = now_ms & !REFERENCED;
        let (i, last_ms, new) = match found {
            Some(i) => {
                let last = self.slots[i as usize].stamp & !REFERENCED;
                // A clock that went backwards must not move windows back.
                (i as usize, last.min(now), false)
            }
            None => (self.insert(key, hash), now, true),
        };
        let slot = &mut self.slots[i];
        slot.stamp = now.max(last_ms) | REFERENCED;
        Entry {
            state: &mut slot.state,
            last_ms,
            new,
        }
    }

    /// Takes a slot for a new key: the next free one, or a CLOCK victim.
    fn insert(&mut self, key: u64, hash: u64) -> usize {
        let i = if self.index.len() < self.capacity {
            // Slots are handed out in order until the slab is full; after that the
            // index is always full too, so `len` tells which slot is next.
            self.index.len()
        } else {
            let victim = self.victim();
            let old = self.slots[victim].key;
            let slots = &self.slots;
            if let Ok(e) = self
                .index
                .find_entry(mix64(old), |&i| slots[i as usize].key == old)
            {
                e.remove();
            }
            self.evictions += 1;
            victim
        };
        self.slots[i] = Slot {
            key,
            stamp: 0,
            state: S::default(),
        };
        let slots = &self.slots;
        self.index
            .insert_unique(hash, i as u32, |&j| mix64(slots[j as usize].key));
        i
    }

    fn victim(&mut self) -> usize {
        for _ in 0..Self::MAX_SCAN {
            let h = self.hand;
            self.hand = (self.hand + 1) % self.capacity;
            let s = &mut self.slots[h];
            if s.stamp & REFERENCED == 0 {
                return h;
            }
            s.stamp &= !REFERENCED;
        }
        let h = self.hand;
        self.hand = (self.hand + 1) % self.capacity;
        h
    }
}

/// Asks for transparent huge pages over a large, not yet touched allocation: lookups
/// land on random slots, and with 4 KiB pages nearly every one would also miss the
/// TLB. Advice only (THP may be off); failure changes nothing.
fn advise_huge_pages(ptr: *const u8, len: usize) {
    const PAGE: usize = 4096;
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + len) & !(PAGE - 1);
    if end <= start || end - start < (2 << 20) {
        return;
    }
    // SAFETY: the range lies inside an allocation this table owns; MADV_HUGEPAGE
    // changes no contents and no mapping other than the page size used.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

/// Bytes hashbrown allocates for a `HashTable<u32>` created with room for
/// `2 * capacity` items: buckets are a power of two at most 7/8 full, each a 4-byte
/// slot index plus one control byte, and one extra group of control bytes.
fn index_bytes(capacity: usize) -> usize {
    let items = capacity * 2;
    let buckets = if items < 8 {
        if items < 4 {
            4
        } else {
            8
        }
    } else {
        (items * 8 / 7).next_power_of_two()
    };
    buckets * (size_of::<u32>() + 1) + 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Default)]
    struct Count(u64);

    #[test]
    fn entry_tracks_and_counts() {
        let mut t = Table::<Count>::with_capacity(16);
        for k in 0..10u64 {
            let e = t.entry(k, 5);
            assert!(e.new);
            assert_eq!(e.last_ms, 5);
            e.state.0 += 1;
        }
        let e = t.entry(3, 9);
        assert!(!e.new);
        assert_eq!(e.last_ms, 5);
        e.state.0 += 1;
        assert_eq!(t.get(3).map(|(s, at)| (s.0, at)), Some((2, 9)));
        assert_eq!(t.len(), 10);
        assert!(t.get(99).is_none());
    }

    #[test]
    fn eviction_keeps_the_budget_under_pressure() {
        let budget = 1 << 20;
        let mut t = Table::<[u64; 8]>::with_budget(budget);
        let cap = t.capacity();
        let before = t.allocated_bytes();
        assert!(before <= budget, "{before} > {budget}");
        assert_eq!(before, Table::<[u64; 8]>::bytes_for(cap));
        for k in 0..(5 * cap as u64) {
            t.entry(k.wrapping_mul(0x9e37_79b9_7f4a_7c15), k).state[0] = k;
        }
        assert_eq!(t.len(), cap);
        assert_eq!(t.allocated_bytes(), before);
        assert_eq!(t.evictions(), 4 * cap as u64);
        // Every tracked key's slot and index agree.
        let mut found = 0;
        for k in 0..(5 * cap as u64) {
            if let Some((s, _)) = t.get(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
                assert_eq!(s[0], k);
                found += 1;
            }
        }
        assert_eq!(found, cap);
    }

    #[test]
    fn clock_spares_keys_in_use() {
        let mut t = Table::<Count>::with_capacity(64);
        for k in 0..64u64 {
            t.entry(k, 0);
        }
        // The first eviction clears every bit in one pass and takes slot 0.
        t.entry(1000, 1);
        assert!(t.get(0).is_none());
        // Key 7 is used again before the hand comes back to it.
        t.entry(7, 2);
        for k in 0..10u64 {
            t.entry(2000 + k, 3);
        }
        assert!(t.get(8).is_none() && t.get(11).is_none());
        assert!(t.get(12).is_some());
        assert!(
            t.get(7).is_some(),
            "a key used since the hand passed is spared"
        );
    }
}
