//! Sliding-window measures over caller-provided monotonic time (milliseconds).
//!
//! Every measure here is a few bytes and keeps no timestamp of its own: the entry
//! that owns it keeps one `last_ms` (the time of its previous update) and passes
//! `(last_ms, now_ms)` to [`Window::roll`] so each measure can tell how many of its
//! buckets have passed. That keeps a tracked client small (see `table.rs`).
//!
//! - [`Rate`]: the two-bucket weighted approximation of "events in the last `W`".
//!   The current bucket counts events of the aligned interval `[kW, (k+1)W)`, the
//!   previous bucket those of the interval before; the estimate is
//!   `cur + prev * (W - elapsed) / W`. **Error bound**: the estimate assumes the
//!   previous interval's events were spread evenly, so it differs from the exact
//!   sliding count by at most the previous bucket's count (`|err| <= prev`), and it is
//!   exact when the rate is steady and whenever all events fall in the current
//!   interval (a burst from a new client is counted exactly). Events older than `2W`
//!   are never counted.
//! - [`Peak`]: the maximum of a value over the window (two half-window generations:
//!   it reports the maximum seen in the last `W/2 ..= W`).
//! - [`Regularity`]: how machine-regular the inter-arrival times are
//!   (`100 * max(0, 1 - CV)`, CV = coefficient of variation over two half-window
//!   generations, so over the last `W/2 ..= W`).

/// A window length in milliseconds (at least 2 ms, so half-window generations exist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(pub u64);

impl Window {
    /// 1 second.
    pub const S1: Window = Window(1_000);
    /// 10 seconds.
    pub const S10: Window = Window(10_000);
    /// 1 minute.
    pub const M1: Window = Window(60_000);
    /// 5 minutes.
    pub const M5: Window = Window(300_000);
    /// 10 minutes.
    pub const M10: Window = Window(600_000);
    /// 1 hour.
    pub const H1: Window = Window(3_600_000);

    /// How many whole buckets of length `len` passed between `last` and `now`
    /// (0 when both fall in the same aligned bucket).
    #[inline]
    pub fn passed(len: u64, last_ms: u64, now_ms: u64) -> u64 {
        (now_ms / len).saturating_sub(last_ms / len)
    }

    /// Half of the window: the generation length of [`Peak`], [`Regularity`] and the
    /// windowed HyperLogLog.
    #[inline]
    pub fn half(self) -> u64 {
        (self.0 / 2).max(1)
    }
}

/// Events in the last window, two-bucket approximation (see the module doc for the
/// error bound). Counts saturate at `u32::MAX`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    cur: u32,
    prev: u32,
}

impl Rate {
    /// Moves the buckets forward from `last_ms` to `now_ms`.
    #[inline]
    pub fn roll(&mut self, w: Window, last_ms: u64, now_ms: u64) {
        match Window::passed(w.0, last_ms, now_ms) {
            0 => {}
            1 => {
                self.prev = self.cur;
                self.cur = 0;
            }
            _ => *self = Rate::default(),
        }
    }

    /// Counts `n` events now (after [`Rate::roll`]).
    #[inline]
    pub fn add(&mut self, n: u32) {
        self.cur = self.cur.saturating_add(n);
    }

    /// Takes back `n` events, oldest first (the exchange uses it when the owner has
    /// acknowledged increments this core counted locally).
    #[inline]
    pub fn sub(&mut self, n: u32) {
        let from_prev = n.min(self.prev);
        self.prev -= from_prev;
        self.cur = self.cur.saturating_sub(n - from_prev);
    }

    /// The estimate at `now_ms`, which must be in the bucket of the last roll.
    #[inline]
    pub fn get(&self, w: Window, now_ms: u64) -> u64 {
        let into = now_ms % w.0;
        self.cur as u64 + (self.prev as u64 * (w.0 - into)) / w.0
    }

    /// The estimate at `now_ms` without rolling first (`last_ms` is the time of the
    /// last roll): what [`Rate::roll`] then [`Rate::get`] would give.
    #[inline]
    pub fn peek(&self, w: Window, last_ms: u64, now_ms: u64) -> u64 {
        let mut r = *self;
        r.roll(w, last_ms, now_ms);
        r.get(w, now_ms)
    }
}

/// The largest value seen in the last `W/2 ..= W` (two half-window generations).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peak {
    cur: u32,
    prev: u32,
}

impl Peak {
    /// Moves the generations forward.
    #[inline]
    pub fn roll(&mut self, w: Window, last_ms: u64, now_ms: u64) {
        match Window::passed(w.half(), last_ms, now_ms) {
            0 => {}
            1 => {
                self.prev = self.cur;
                self.cur = 0;
            }
            _ => *self = Peak::default(),
        }
    }

    /// Records a value (saturating at `u32::MAX`).
    #[inline]
    pub fn observe(&mut self, v: u64) {
        self.cur = self.cur.max(v.min(u32::MAX as u64) as u32);
    }

    /// The maximum over both generations.
    #[inline]
    pub fn get(&self) -> u64 {
        self.cur.max(self.prev) as u64
    }
}

/// Inter-arrival statistics of one generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Moments {
    n: u32,
    /// Sum of intervals (ms); one generation spans at most `W/2` plus one interval.
    sum: u32,
    /// Sum of squared intervals (ms²).
    sumsq: u64,
}

/// Timing regularity of arrivals: `100 * max(0, 1 - CV)` of the inter-arrival times
/// in the last `W/2 ..= W`, where CV = standard deviation / mean. A script firing on a
/// timer scores near 100, Poisson-like (human or aggregate) traffic near 0. Reports 0
/// until [`Regularity::MIN_INTERVALS`] intervals are known; intervals longer than the
/// window are not counted (a pause is not a rhythm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regularity {
    cur: Moments,
    prev: Moments,
}

impl Regularity {
    /// Fewer intervals than this report 0.
    pub const MIN_INTERVALS: u32 = 8;

    /// Moves the generations forward.
    #[inline]
    pub fn roll(&mut self, w: Window, last_ms: u64, now_ms: u64) {
        match Window::passed(w.half(), last_ms, now_ms) {
            0 => {}
            1 => {
                self.prev = self.cur;
                self.cur = Moments::default();
            }
            _ => *self = Regularity::default(),
        }
    }

    /// Records one arrival `interval_ms` after the previous one.
    #[inline]
    pub fn observe(&mut self, w: Window, interval_ms: u64) {
        if interval_ms > w.0 {
            return;
        }
        let i = interval_ms as u32;
        let m = &mut self.cur;
        m.n = m.n.saturating_add(1);
        m.sum = m.sum.saturating_add(i);
        m.sumsq = m.sumsq.saturating_add(interval_ms * interval_ms);
    }

    /// The score, 0..=100.
    pub fn get(&self) -> u64 {
        let n = self.cur.n as u64 + self.prev.n as u64;
        if n < Self::MIN_INTERVALS as u64 {
            return 0;
        }
        let sum = (self.cur.sum as u64 + self.prev.sum as u64) as f64;
        let sumsq = self.cur.sumsq.saturating_add(self.prev.sumsq) as f64;
        let n = n as f64;
        let mean = sum / n;
        if mean <= 0.0 {
            // Every interval below the clock's resolution: as regular as it gets.
            return 100;
        }
        let var = (sumsq / n - mean * mean).max(0.0);
        let cv = var.sqrt() / mean;
        ((1.0 - cv).max(0.0) * 100.0).round() as u64
    }
}

/// `num / den` in percent (0..=100, the unit policies compare ratios in);
/// 0 when `den` is 0.
#[inline]
pub fn percent(num: u64, den: u64) -> u64 {
    (num.min(den) * 100).checked_div(den).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_a_burst_exactly_and_expires_after_two_windows() {
        let w = Window::S10;
        let mut r = Rate::default();
        let mut last = 1_000_000;
        for _ in 0..50 {
            r.roll(w, last, 1_000_123);
            last = 1_000_123;
            r.add(1);
        }
        assert_eq!(r.get(w, 1_000_123), 50);
        // Half a window into the next bucket: the previous bucket is weighted by half.
        assert_eq!(r.peek(w, last, 1_015_000), 25);
        // Two windows on: nothing left.
        assert_eq!(r.peek(w, last, 1_020_000), 0);
        assert_eq!(r.peek(w, last, 1_100_000), 0);
    }

    #[test]
    fn rate_is_exact_for_a_steady_rate() {
        let w = Window::S1;
        let mut r = Rate::default();
        let mut last = 0;
        // 10 events per second, evenly spaced, for 5 s.
        for i in 0..50u64 {
            let now = 5_000 + i * 100;
            r.roll(w, last, now);
            r.add(1);
            last = now;
        }
        // At t = 9_950 (the last event), the last second held 10 events.
        let est = r.get(w, last);
        assert!((9..=11).contains(&est), "{est}");
    }

    #[test]
    fn rate_error_stays_within_the_previous_bucket() {
        let w = Window::M1;
        let mut r = Rate::default();
        // 30 events at the very start of one minute, none after.
        r.roll(w, 0, 60_000);
        r.add(30);
        // 40 s into the next minute the events are 100 s old, so the exact sliding
        // count is 0; the estimate assumes them spread evenly: 30 * 20/60 = 10 <= prev.
        let est = r.peek(w, 60_000, 160_000);
        assert_eq!(est, 10);
        assert!(est <= 30);
    }

    #[test]
    fn sub_takes_the_oldest_first() {
        let w = Window::S10;
        let mut r = Rate::default();
        r.add(5);
        r.roll(w, 0, 10_000);
        r.add(3);
        r.sub(6);
        assert_eq!(r, Rate { cur: 2, prev: 0 });
        r.sub(10);
        assert_eq!(r, Rate::default());
    }

    #[test]
    fn peak_keeps_the_maximum_for_half_to_one_window() {
        let w = Window::M10;
        let mut p = Peak::default();
        p.observe(40);
        p.observe(7);
        assert_eq!(p.get(), 40);
        p.roll(w, 0, 300_000);
        assert_eq!(p.get(), 40);
        p.roll(w, 300_000, 600_000);
        assert_eq!(p.get(), 0);
    }

    #[test]
    fn regularity_scores_a_timer_high_and_jitter_low() {
        let w = Window::M1;
        let mut timer = Regularity::default();
        for _ in 0..20 {
            timer.observe(w, 500);
        }
        assert_eq!(timer.get(), 100);

        let mut jitter = Regularity::default();
        // Exponential-looking intervals: CV near 1.
        for i in [10, 900, 30, 2500, 120, 60, 1800, 5, 400, 3000, 15, 700] {
            jitter.observe(w, i);
        }
        assert!(jitter.get() < 300, "{}", jitter.get());

        let mut few = Regularity::default();
        for _ in 0..(Regularity::MIN_INTERVALS - 1) {
            few.observe(w, 500);
        }
        assert_eq!(few.get(), 0);
    }

    #[test]
    fn percent_handles_zero_and_clamps() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(1, 4), 25);
        assert_eq!(percent(9, 4), 100);
    }
}
