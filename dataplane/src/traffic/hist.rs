//! A fixed log-spaced latency histogram in microseconds: four buckets per
//! power of two (each bucket is at most 25 % wide), exact below 4 µs, the last
//! bucket open-ended from about 71 minutes. Counting is one shift-and-mask
//! and one increment; merging is adding arrays; percentiles walk the buckets.

/// Number of buckets.
pub const BUCKETS: usize = 124;

/// The bucket of a duration of `us` microseconds.
#[inline]
pub fn bucket(us: u64) -> usize {
    if us < 4 {
        return us as usize;
    }
    let e = 63 - us.leading_zeros() as usize;
    if e > 31 {
        return BUCKETS - 1;
    }
    let sub = ((us >> (e - 2)) & 3) as usize;
    4 + (e - 2) * 4 + sub
}

/// The smallest duration (µs) that falls into bucket `i`.
pub fn lower(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let (e, sub) = ((i - 4) / 4 + 2, (i - 4) % 4);
    (4 + sub as u64) << (e - 2)
}

/// One past the largest duration (µs) of bucket `i` (the last one: its start).
pub fn upper(i: usize) -> u64 {
    if i + 1 >= BUCKETS {
        lower(BUCKETS - 1)
    } else {
        lower(i + 1)
    }
}

/// The duration (µs) below which a fraction `q` (0..=1) of the counted
/// durations lie, as the middle of the bucket holding that rank; `None` when
/// nothing was counted. Monotonic in `q`.
pub fn percentile(b: &[u64; BUCKETS], q: f64) -> Option<u64> {
    let total: u64 = b.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, &n) in b.iter().enumerate() {
        seen += n;
        if seen >= rank {
            let (lo, hi) = (lower(i), upper(i));
            return Some(if hi > lo + 1 { lo + (hi - lo) / 2 } else { lo });
        }
    }
    Some(lower(BUCKETS - 1))
}

/// Adds `from` into `into`.
pub fn add(into: &mut [u64; BUCKETS], from: &[u64; BUCKETS]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

/// `a - b` bucket by bucket (counts only grow; a restart's smaller counts give 0).
pub fn sub(a: &[u64; BUCKETS], b: &[u64; BUCKETS]) -> [u64; BUCKETS] {
    let mut out = [0; BUCKETS];
    for i in 0..BUCKETS {
        out[i] = a[i].saturating_sub(b[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_duration_in_order() {
        for i in 0..BUCKETS {
            assert_eq!(bucket(lower(i)), i, "lower of {i}");
            if i + 1 < BUCKETS {
                assert_eq!(bucket(upper(i) - 1), i, "upper of {i}");
                assert!(upper(i) > lower(i));
                // At most 25 % wide beyond the exact buckets.
                assert!((upper(i) - lower(i)) * 4 <= lower(i).max(4));
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket(1 << 40), BUCKETS - 1);
        let mut last = 0;
        for us in (0..5_000_000u64).step_by(7) {
            let b = bucket(us);
            assert!(b >= last);
            last = b;
        }
    }

    #[test]
    fn percentiles_are_ordered_and_near_the_truth() {
        let mut h = [0u64; BUCKETS];
        assert_eq!(percentile(&h, 0.5), None);
        // 1..=1000 µs, once each.
        for us in 1..=1000u64 {
            h[bucket(us)] += 1;
        }
        let p50 = percentile(&h, 0.5).unwrap();
        let p90 = percentile(&h, 0.9).unwrap();
        let p99 = percentile(&h, 0.99).unwrap();
        assert!(p50 <= p90 && p90 <= p99, "{p50} {p90} {p99}");
        for (p, truth) in [(p50, 500.0), (p90, 900.0), (p99, 990.0)] {
            let err = (p as f64 - truth).abs() / truth;
            assert!(err < 0.15, "{p} vs {truth}");
        }
        assert_eq!(percentile(&h, 0.0), Some(1));
    }

    #[test]
    fn merged_histograms_give_the_percentiles_of_the_union() {
        let (mut a, mut b, mut all) = ([0u64; BUCKETS], [0u64; BUCKETS], [0u64; BUCKETS]);
        for us in 0..2000u64 {
            let h = if us % 3 == 0 { &mut a } else { &mut b };
            h[bucket(us * 13)] += 1;
            all[bucket(us * 13)] += 1;
        }
        let mut m = a;
        add(&mut m, &b);
        assert_eq!(m, all);
        for q in [0.5, 0.9, 0.99] {
            assert_eq!(percentile(&m, q), percentile(&all, q));
        }
        assert_eq!(sub(&m, &b), a);
        assert_eq!(sub(&b, &m), [0; BUCKETS]);
    }
}
