//! IP/CIDR sets of millions of entries: parsed without allocating per line,
//! flattened into disjoint segments that each name their most specific entry,
//! and looked up with one bucket jump plus a short binary search.
//!
//! IPv4 is kept as `u32` and IPv6 as `u128`, separately, so an IPv4-heavy
//! feed costs 9 bytes per segment. An IPv6 entry inside `::ffff:0:0/96`
//! (IPv4-mapped) is stored as the IPv4 network it maps, and a mapped client
//! address is looked up as IPv4: `0.0.0.0/0` covers every IPv4 client however
//! it arrived, `::/0` every genuine IPv6 client.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The entry a lookup matched: the most specific network of the list that
/// contains the address (host bits of the written network are cleared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpEntry {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length (32 or 128 for a single address).
    pub prefix: u8,
}

impl fmt::Display for IpEntry {
    /// `203.0.113.0/24`; a single address prints without a prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == full {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// A parsed list line: a network in its own address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    V4(u32, u8),
    V6(u128, u8),
}

/// Why a line is not a network.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NetError {
    NotAnAddress,
    Prefix { max: u8 },
}

/// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `addr/n`. IPv4 takes a
/// hand-written path (the common case in big feeds); IPv6 uses the standard
/// parser. Host bits are cleared by the caller's flattening.
pub(crate) fn parse_net(s: &[u8]) -> Result<Net, NetError> {
    let (addr, prefix) = match memchr::memchr(b'/', s) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let prefix = match prefix {
        None => None,
        Some(p) => Some(parse_prefix(p).ok_or(NetError::NotAnAddress)?),
    };
    if let Some(v4) = parse_v4(addr) {
        let p = prefix.unwrap_or(32);
        if p > 32 {
            return Err(NetError::Prefix { max: 32 });
        }
        return Ok(Net::V4(v4, p));
    }
    let v6: Ipv6Addr = std::str::from_utf8(addr)
        .ok()
        .and_then(|a| a.parse().ok())
        .ok_or(NetError::NotAnAddress)?;
    let p = prefix.unwrap_or(128);
    if p > 128 {
        return Err(NetError::Prefix { max: 128 });
    }
    Ok(v6_net(u128::from(v6), p))
}

/// An IPv6 network, as IPv4 when it lies inside `::ffff:0:0/96`.
fn v6_net(v: u128, p: u8) -> Net {
    if p >= 96 && v >> 32 == 0xffff {
        Net::V4(v as u32, p - 96)
    } else {
        Net::V6(v, p)
    }
}

fn parse_prefix(p: &[u8]) -> Option<u8> {
    if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = p.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
    u8::try_from(n).ok()
}

fn parse_v4(s: &[u8]) -> Option<u32> {
    let mut out = 0u32;
    let mut parts = 0;
    for part in s.split(|&b| b == b'.') {
        // No leading zeros (`010` is octal to some tools), at most 3 digits.
        if part.is_empty()
            || part.len() > 3
            || (part.len() > 1 && part[0] == b'0')
            || !part.iter().all(u8::is_ascii_digit)
        {
            return None;
        }
        let v = part.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
        if v > 255 {
            return None;
        }
        out = out << 8 | v;
        parts += 1;
    }
    (parts == 4).then_some(out)
}

/// An address width: `u32` for IPv4, [`V6`] for IPv6.
trait Key: Copy + Ord + Default {
    fn succ(self) -> Option<Self>;
    /// The first and last address of `self/prefix`.
    fn range(self, prefix: u8) -> (Self, Self);
    /// Bits needed to write `self - min`.
    fn span_bits(self, min: Self) -> u32;
    fn bucket(self, min: Self, shift: u32) -> usize;
    /// The first address of bucket `b`.
    fn bucket_start(min: Self, b: usize, shift: u32) -> Self;
    /// The low `shift` bits of `self - min` (its place in its bucket); only
    /// used when `shift <= 8`.
    fn offset(self, min: Self, shift: u32) -> u8;
}

impl Key for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn range(self, prefix: u8) -> (Self, Self) {
        let host = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        (self & !host, self | host)
    }
    fn span_bits(self, min: Self) -> u32 {
        u32::BITS - (self - min).leading_zeros()
    }
    #[inline]
    fn bucket(self, min: Self, shift: u32) -> usize {
        (self - min).checked_shr(shift).unwrap_or(0) as usize
    }
    fn bucket_start(min: Self, b: usize, shift: u32) -> Self {
        min + (b as u32).checked_shl(shift).unwrap_or(0)
    }
    #[inline]
    fn offset(self, min: Self, shift: u32) -> u8 {
        ((self - min) & ((1u32 << shift) - 1)) as u8
    }
}

/// An IPv6 address as two `u64` halves (high first, so the derived order
/// is the numeric one): a segment is 24 bytes instead of the 32 a 16-byte
/// aligned `u128` would take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct V6(u64, u64);

impl From<u128> for V6 {
    #[inline]
    fn from(v: u128) -> V6 {
        V6((v >> 64) as u64, v as u64)
    }
}

impl From<V6> for u128 {
    #[inline]
    fn from(v: V6) -> u128 {
        u128::from(v.0) << 64 | u128::from(v.1)
    }
}

impl Key for V6 {
    fn succ(self) -> Option<Self> {
        u128::from(self).checked_add(1).map(V6::from)
    }
    fn range(self, prefix: u8) -> (Self, Self) {
        let v = u128::from(self);
        let host = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        (V6::from(v & !host), V6::from(v | host))
    }
    fn span_bits(self, min: Self) -> u32 {
        u128::BITS - (u128::from(self) - u128::from(min)).leading_zeros()
    }
    #[inline]
    fn bucket(self, min: Self, shift: u32) -> usize {
        (u128::from(self) - u128::from(min))
            .checked_shr(shift)
            .unwrap_or(0) as usize
    }
    fn bucket_start(min: Self, b: usize, shift: u32) -> Self {
        V6::from(u128::from(min) + (b as u128).checked_shl(shift).unwrap_or(0))
    }
    #[inline]
    fn offset(self, min: Self, shift: u32) -> u8 {
        ((u128::from(self) - u128::from(min)) & ((1u128 << shift) - 1)) as u8
    }
}

/// Asks for transparent huge pages for a large, still empty vector's
/// capacity, before it is written: random lookups in a list of millions of
/// entries otherwise pay a TLB miss (a page walk) on top of each cache miss.
/// Only a hint: without THP (or with `never`) the pages stay 4 KiB.
fn huge_pages<T>(v: &Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = v.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > first {
        // SAFETY: the range lies inside the vector's own allocation, and
        // MADV_HUGEPAGE changes how its pages are backed, never their
        // contents or the mapping.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

/// Tag of a segment no entry covers.
const GAP: u8 = u8::MAX;

/// Where the owner of the address space changes: from `start` up to the
/// next segment's start, addresses belong to the entry `start/tag` (its
/// network is the start with host bits cleared, so no entry table is
/// needed), or to none when `tag` is [`GAP`].
#[derive(Clone, Copy, Debug)]
struct Seg<K> {
    start: K,
    tag: u8,
}

/// Segments in address order (8 bytes each for IPv4, 24 for IPv6), with a
/// bucket index over the address range: a bucket owned by one entry (or by
/// none) holds that owner's tag, so most lookups read one index entry and
/// nothing else; a bucket where the owner changes points at its first
/// segment, and the lookup reads a few neighbouring segments (usually one
/// cache line) too.
#[derive(Clone, Debug, Default)]
struct Segments<K> {
    segs: Vec<Seg<K>>,
    /// Per bucket: [`PACKED`] with the owners written in (see
    /// [`Segments::pack`]), or the position of the segment holding the
    /// bucket's first address.
    index: Vec<u64>,
    min: K,
    shift: u32,
}

/// Index buckets per segment: most buckets then have one owner, answered
/// from the index alone (one memory access); the others point at their
/// first segment.
const BUCKETS_PER_SEGMENT: usize = 2;
/// Largest index: 16 M buckets (64 MiB), a /24 per bucket for IPv4.
const MAX_BUCKETS_LOG2: u32 = 24;
/// Index entry flag: the bucket's owners are written in the entry.
const PACKED: u64 = 1 << 63;
/// Owner changes a packed entry holds besides the bucket's first owner.
const PACKED_CHANGES: usize = 3;
/// In a position entry (bits 32..48): segments starting inside the bucket;
/// this value means "many, search on".
const COUNT_MAX: u64 = 0xffff;

impl<K: Key> Segments<K> {
    /// Flattens networks (`(first, last, prefix)`) into segments owned by
    /// the most specific network covering them. CIDR networks are either
    /// nested or disjoint, so after sorting by start (widest first) a stack
    /// of the open networks is enough: the owner changes where a network
    /// starts and just after one ends.
    fn build(mut nets: Vec<(K, K, u8)>) -> Segments<K> {
        nets.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        nets.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let mut segs: Vec<Seg<K>> = Vec::with_capacity(nets.len() * 2);
        let mut stack: Vec<(K, K, u8)> = Vec::new();
        let emit = |segs: &mut Vec<Seg<K>>, start: K, tag: u8| match segs.last_mut() {
            // An entry starting where another one ended takes over there.
            Some(last) if last.start == start => last.tag = tag,
            _ => segs.push(Seg { start, tag }),
        };
        let close = |segs: &mut Vec<Seg<K>>, stack: &mut Vec<(K, K, u8)>| {
            if let Some((_, hi, _)) = stack.pop() {
                if let Some(after) = hi.succ() {
                    let owner = stack.last().map_or(GAP, |t| t.2);
                    emit(segs, after, owner);
                }
            }
        };
        for net in nets {
            while stack.last().is_some_and(|top| top.1 < net.0) {
                close(&mut segs, &mut stack);
            }
            emit(&mut segs, net.0, net.2);
            stack.push(net);
        }
        while !stack.is_empty() {
            close(&mut segs, &mut stack);
        }
        let mut s = Segments {
            segs: Vec::with_capacity(segs.len()),
            ..Segments::default()
        };
        huge_pages(&s.segs);
        s.segs.extend_from_slice(&segs);
        s.build_index();
        s
    }

    fn build_index(&mut self) {
        let (Some(first), Some(last)) = (self.segs.first(), self.segs.last()) else {
            return;
        };
        let (min, max) = (first.start, last.start);
        let want = (self.segs.len() * BUCKETS_PER_SEGMENT).max(1);
        let log2 = (usize::BITS - (want - 1).leading_zeros()).min(MAX_BUCKETS_LOG2);
        self.min = min;
        self.shift = max.span_bits(min).saturating_sub(log2);
        let buckets = max.bucket(min, self.shift) + 1;
        self.index = Vec::with_capacity(buckets);
        huge_pages(&self.index);
        let mut i = 0usize;
        for b in 0..buckets {
            let at = K::bucket_start(min, b, self.shift);
            while i + 1 < self.segs.len() && self.segs[i + 1].start <= at {
                i += 1;
            }
            // Segments starting inside this bucket (after its first address).
            // The last bucket also answers every address past it, where an
            // offset would wrap: it is packed only if its owner never changes.
            let inside = if b + 1 < buckets {
                let end = K::bucket_start(min, b + 1, self.shift);
                self.segs[i + 1..]
                    .iter()
                    .take(PACKED_CHANGES + 1)
                    .take_while(|s| s.start < end)
                    .count()
            } else if i + 1 == self.segs.len() {
                0
            } else {
                PACKED_CHANGES + 1
            };
            let entry = self.pack(i, inside).unwrap_or_else(|| {
                // Position and, when the bucket is not the last, how many
                // segments start inside it (so the search reads only those).
                let count = if b + 1 < buckets {
                    let end = K::bucket_start(min, b + 1, self.shift);
                    let n = self.segs[i + 1..].partition_point(|s| s.start < end);
                    (n as u64).min(COUNT_MAX)
                } else {
                    COUNT_MAX
                };
                i as u64 | count << 32
            });
            self.index.push(entry);
        }
    }

    /// A bucket whose owner never changes, or (when a bucket spans at most
    /// 256 addresses, as for a big IPv4 list) changes at most
    /// [`PACKED_CHANGES`] times, is answered from its index entry alone:
    /// bit 63 set, the first owner's tag in bits 0..8, the number of
    /// changes in bits 8..10, then per change its offset in the bucket and
    /// the new owner's tag (8 bits each).
    fn pack(&self, first: usize, inside: usize) -> Option<u64> {
        if inside > PACKED_CHANGES || (inside > 0 && self.shift > 8) {
            return None;
        }
        let mut e = PACKED | u64::from(self.segs[first].tag) | (inside as u64) << 8;
        for (j, s) in self.segs[first + 1..=first + inside].iter().enumerate() {
            let off = s.start.offset(self.min, self.shift);
            e |= (u64::from(off) | u64::from(s.tag) << 8) << (10 + 16 * j);
        }
        Some(e)
    }

    #[inline]
    fn lookup(&self, k: K) -> Option<(K, u8)> {
        if self.index.is_empty() || k < self.min {
            return None;
        }
        let b = k.bucket(self.min, self.shift).min(self.index.len() - 1);
        let e = self.index[b];
        let tag = if e & PACKED != 0 {
            let mut tag = e as u8;
            let changes = (e >> 8 & 3) as usize;
            if changes > 0 {
                let off = k.offset(self.min, self.shift);
                for j in 0..changes {
                    let c = e >> (10 + 16 * j);
                    if off >= c as u8 {
                        tag = (c >> 8) as u8;
                    }
                }
            }
            tag
        } else {
            // The segment holding the bucket's first address starts at or
            // before k; the owner is the last of it and the segments
            // starting inside the bucket that starts at or before k.
            let (segs, lo) = (&self.segs[..], e as u32 as usize);
            let count = (e >> 32 & COUNT_MAX) as usize;
            if count < COUNT_MAX as usize {
                let bucket = &segs[lo..=lo + count];
                bucket[bucket.partition_point(|s| s.start <= k).saturating_sub(1)].tag
            } else {
                // Gallop, then binary search: a bucket with many segments
                // costs log of their number, not a scan.
                let mut step = 1;
                while lo + step < segs.len() && segs[lo + step].start <= k {
                    step *= 2;
                }
                let from = lo + step / 2;
                let to = (lo + step).min(segs.len());
                let n = segs[from..to].partition_point(|s| s.start <= k);
                segs[from + n.saturating_sub(1)].tag
            }
        };
        // The owner contains k, so its network is k with the host bits cleared.
        (tag != GAP).then(|| (k.range(tag).0, tag))
    }

    fn entries_segments(&self) -> usize {
        self.segs.iter().filter(|s| s.tag != GAP).count()
    }

    fn heap_bytes(&self) -> usize {
        self.segs.capacity() * std::mem::size_of::<Seg<K>>() + self.index.capacity() * 8
    }
}

/// An IP/CIDR list ready for lookups.
#[derive(Clone, Debug, Default)]
pub struct IpSet {
    v4: Segments<u32>,
    v6: Segments<V6>,
    entries: usize,
}

/// Collects networks, then builds an [`IpSet`].
#[derive(Debug, Default)]
pub(crate) struct IpSetBuilder {
    v4: Vec<(u32, u32, u8)>,
    v6: Vec<(V6, V6, u8)>,
}

impl IpSetBuilder {
    pub fn push(&mut self, net: Net) {
        match net {
            Net::V4(a, p) => {
                let (lo, hi) = a.range(p);
                self.v4.push((lo, hi, p));
            }
            Net::V6(a, p) => {
                let (lo, hi) = V6::from(a).range(p);
                self.v6.push((lo, hi, p));
            }
        }
    }

    pub fn build(self) -> IpSet {
        let entries = self.v4.len() + self.v6.len();
        IpSet {
            v4: Segments::build(self.v4),
            v6: Segments::build(self.v6),
            entries,
        }
    }
}

impl IpSet {
    /// Builds a set from networks (tests and benchmarks; lists parse files).
    pub fn from_nets(nets: impl IntoIterator<Item = (IpAddr, u8)>) -> IpSet {
        let mut b = IpSetBuilder::default();
        for (addr, p) in nets {
            b.push(match addr {
                IpAddr::V4(a) => Net::V4(u32::from(a), p.min(32)),
                IpAddr::V6(a) => v6_net(u128::from(a), p.min(128)),
            });
        }
        b.build()
    }

    /// The most specific entry containing `ip`, if any.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<IpEntry> {
        match ip {
            IpAddr::V4(a) => self.lookup_v4(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => self.lookup_v4(u32::from(v4)),
                None => self
                    .v6
                    .lookup(V6::from(u128::from(a)))
                    .map(|(n, p)| IpEntry {
                        addr: IpAddr::V6(Ipv6Addr::from(u128::from(n))),
                        prefix: p,
                    }),
            },
        }
    }

    #[inline]
    fn lookup_v4(&self, a: u32) -> Option<IpEntry> {
        self.v4.lookup(a).map(|(n, p)| IpEntry {
            addr: IpAddr::V4(Ipv4Addr::from(n)),
            prefix: p,
        })
    }

    /// Entries as written (duplicates included).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Disjoint address ranges an entry owns after flattening (IPv4, IPv6).
    pub fn segments(&self) -> (usize, usize) {
        (self.v4.entries_segments(), self.v6.entries_segments())
    }

    /// Memory held, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(lines: &[&str]) -> IpSet {
        let mut b = IpSetBuilder::default();
        for l in lines {
            b.push(parse_net(l.as_bytes()).expect(l));
        }
        b.build()
    }

    fn at(s: &IpSet, ip: &str) -> Option<String> {
        s.lookup(ip.parse().expect(ip)).map(|e| e.to_string())
    }

    #[test]
    fn parses_networks_and_rejects_bad_ones() {
        assert_eq!(parse_net(b"203.0.113.0/24"), Ok(Net::V4(0xcb00_7100, 24)));
        assert_eq!(parse_net(b"10.0.0.1"), Ok(Net::V4(0x0a00_0001, 32)));
        assert_eq!(
            parse_net(b"::ffff:10.0.0.0/104"),
            Ok(Net::V4(0x0a00_0000, 8))
        );
        assert_eq!(
            parse_net(b"2001:db8::/32"),
            Ok(Net::V6(0x2001_0db8 << 96, 32))
        );
        assert_eq!(parse_net(b"10.0.0.0/33"), Err(NetError::Prefix { max: 32 }));
        assert_eq!(parse_net(b"::/129"), Err(NetError::Prefix { max: 128 }));
        for bad in [
            "10.0.0",
            "10.0.0.256",
            "10.0.0.01",
            "10.0.0.0/",
            "10.0.0.0/x",
            "x",
            "",
            "1.2.3.4.5",
            "10.0.0.0/8/8",
            "2001:db8::g",
        ] {
            assert_eq!(
                parse_net(bad.as_bytes()),
                Err(NetError::NotAnAddress),
                "{bad}"
            );
        }
    }

    #[test]
    fn cidr_edges() {
        let s = set(&["203.0.113.0/24"]);
        assert_eq!(at(&s, "203.0.112.255"), None);
        assert_eq!(at(&s, "203.0.113.0").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(at(&s, "203.0.113.255").as_deref(), Some("203.0.113.0/24"));
        assert_eq!(at(&s, "203.0.114.0"), None);
        // Host bits written are cleared.
        let s = set(&["10.1.2.3/8"]);
        assert_eq!(at(&s, "10.255.255.255").as_deref(), Some("10.0.0.0/8"));
    }

    #[test]
    fn whole_spaces_and_single_addresses() {
        let s = set(&["0.0.0.0/0", "::/0"]);
        assert_eq!(at(&s, "0.0.0.0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(at(&s, "255.255.255.255").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(at(&s, "::").as_deref(), Some("::/0"));
        assert_eq!(
            at(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").as_deref(),
            Some("::/0")
        );
        // A mapped client is an IPv4 client.
        assert_eq!(at(&s, "::ffff:192.0.2.1").as_deref(), Some("0.0.0.0/0"));
        let s = set(&["192.0.2.7/32", "2001:db8::1/128", "255.255.255.255"]);
        assert_eq!(at(&s, "192.0.2.7").as_deref(), Some("192.0.2.7"));
        assert_eq!(at(&s, "192.0.2.6"), None);
        assert_eq!(at(&s, "192.0.2.8"), None);
        assert_eq!(at(&s, "2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(at(&s, "2001:db8::"), None);
        assert_eq!(at(&s, "2001:db8::2"), None);
        assert_eq!(
            at(&s, "255.255.255.255").as_deref(),
            Some("255.255.255.255")
        );
        assert_eq!(at(&s, "255.255.255.254"), None);
    }

    #[test]
    fn v4_and_mapped_v6_are_one_space() {
        let s = set(&["::ffff:198.51.100.0/120", "2001:db8::/32"]);
        assert_eq!(at(&s, "198.51.100.9").as_deref(), Some("198.51.100.0/24"));
        assert_eq!(
            at(&s, "::ffff:198.51.100.9").as_deref(),
            Some("198.51.100.0/24")
        );
        assert_eq!(at(&s, "::ffff:198.51.101.0"), None);
        // A genuine IPv6 address with the same low bits is not the IPv4 one.
        assert_eq!(at(&s, "::c633:6409"), None);
        let s = set(&["198.51.100.0/24"]);
        assert_eq!(
            at(&s, "::ffff:198.51.100.255").as_deref(),
            Some("198.51.100.0/24")
        );
        // An IPv6 network wider than the mapped range covers IPv6 clients only.
        let s = set(&["::/8"]);
        assert_eq!(at(&s, "::ffff:1.2.3.4"), None);
        assert_eq!(at(&s, "::1").as_deref(), Some("::/8"));
    }

    #[test]
    fn nested_entries_name_the_most_specific() {
        let s = set(&[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.3",
            "10.1.0.0/16",
            "2001:db8::/32",
            "2001:db8:1::/48",
        ]);
        assert_eq!(at(&s, "10.0.0.0").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at(&s, "10.0.255.255").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at(&s, "10.1.0.0").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(at(&s, "10.1.1.255").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(at(&s, "10.1.2.0").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(at(&s, "10.1.2.2").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(at(&s, "10.1.2.3").as_deref(), Some("10.1.2.3"));
        assert_eq!(at(&s, "10.1.2.4").as_deref(), Some("10.1.2.0/24"));
        assert_eq!(at(&s, "10.1.3.0").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(at(&s, "10.2.0.0").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at(&s, "10.255.255.255").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(at(&s, "11.0.0.0"), None);
        assert_eq!(at(&s, "9.255.255.255"), None);
        assert_eq!(at(&s, "2001:db8:1::5").as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(at(&s, "2001:db8:2::").as_deref(), Some("2001:db8::/32"));
        assert_eq!(
            at(&s, "2001:db8:0:ffff:ffff:ffff:ffff:ffff").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(s.entries(), 7);
        // /8 around /16, /16 around /24, /24 around /32 (the duplicate /16 counts once).
        assert_eq!(s.segments().0, 7);
    }

    #[test]
    fn adjacent_entries_stay_apart() {
        let s = set(&["192.0.2.0/25", "192.0.2.128/25", "192.0.3.0/24"]);
        assert_eq!(at(&s, "192.0.2.127").as_deref(), Some("192.0.2.0/25"));
        assert_eq!(at(&s, "192.0.2.128").as_deref(), Some("192.0.2.128/25"));
        assert_eq!(at(&s, "192.0.2.255").as_deref(), Some("192.0.2.128/25"));
        assert_eq!(at(&s, "192.0.3.0").as_deref(), Some("192.0.3.0/24"));
        assert_eq!(at(&s, "192.0.4.0"), None);
        assert_eq!(at(&s, "192.0.1.255"), None);
    }

    /// Dense entries make buckets of at most 256 addresses, whose owner
    /// changes are packed into the index: every address of the range is
    /// checked against a naive most-specific search.
    #[test]
    fn dense_lists_agree_with_a_naive_search() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for size in [50, 300, 3000] {
            let mut written: Vec<(u32, u8)> = Vec::new();
            let mut b = IpSetBuilder::default();
            for _ in 0..size {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let p = [22, 24, 26, 28, 30, 31, 32, 32][(x % 8) as usize];
                let a = 0x0a00_0000 | (x >> 8) as u32 & 0xffff;
                b.push(Net::V4(a, p));
                written.push((a.range(p).0, p));
            }
            let set = b.build();
            assert!(set.v4.shift <= 8, "size {size}: shift {}", set.v4.shift);
            for a in 0x09ff_ff00u32..=0x0a01_0100 {
                let want = written
                    .iter()
                    .filter(|(n, p)| a.range(*p).0 == *n)
                    .max_by_key(|(_, p)| *p)
                    .map(|(n, p)| (*n, *p));
                let got = set.v4.lookup(a);
                assert_eq!(got, want, "size {size}, address {:#x}", a);
            }
        }
    }

    #[test]
    fn empty_set_matches_nothing() {
        let s = IpSetBuilder::default().build();
        assert_eq!(at(&s, "0.0.0.0"), None);
        assert_eq!(at(&s, "::"), None);
    }
}
