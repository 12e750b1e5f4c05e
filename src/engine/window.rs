//! Lock-free sliding windows: a fixed ring of time buckets, each one atomic word holding the
//! bucket's epoch and its counts. A writer that finds a stale epoch in its slot resets the
//! slot as part of the same compare-and-swap, so there is no sweeper, no lock and no
//! allocation, and a window costs `8 * N` bytes whatever the traffic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `N` buckets covering a window; the caller chooses the bucket width per call, so a policy
/// reload that changes the window takes effect at once (old buckets are read at the new
/// width, a brief and harmless inaccuracy).
pub struct Buckets<const N: usize> {
    slots: [AtomicU64; N],
}

impl<const N: usize> Default for Buckets<N> {
    fn default() -> Self {
        Buckets {
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The epoch of `now_ms` for buckets that split `window` into `n` parts. Truncating to 32
/// bits wraps after decades for any sensible width.
pub fn epoch(now_ms: u64, window: Duration, n: usize) -> u32 {
    let width_ms = (window.as_millis() as u64 / n as u64).max(1);
    (now_ms / width_ms) as u32
}

impl<const N: usize> Buckets<N> {
    /// Applies `update` to the payload of the bucket for `epoch`, starting from zero when the
    /// slot held an older epoch.
    pub fn update(&self, epoch: u32, update: impl Fn(u32) -> u32) {
        let slot = &self.slots[epoch as usize % N];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let payload = if (current >> 32) as u32 == epoch {
                current as u32
            } else {
                0
            };
            let next = (u64::from(epoch) << 32) | u64::from(update(payload));
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Folds the payloads of the buckets inside the window that ends at `epoch`.
    pub fn fold<T>(&self, epoch: u32, init: T, fold: impl FnMut(T, u32) -> T) -> T {
        self.fold_newest(epoch, N, init, fold)
    }

    /// Folds the payloads of the newest `span` buckets of the window that ends at `epoch`.
    fn fold_newest<T>(
        &self,
        epoch: u32,
        span: usize,
        init: T,
        mut fold: impl FnMut(T, u32) -> T,
    ) -> T {
        let mut acc = init;
        for slot in &self.slots {
            let value = slot.load(Ordering::Relaxed);
            let age = epoch.wrapping_sub((value >> 32) as u32);
            if value != 0 && (age as usize) < span.min(N) {
                acc = fold(acc, value as u32);
            }
        }
        acc
    }

    /// Sums the payloads inside the window, for buckets used as plain counters.
    pub fn sum(&self, epoch: u32) -> u32 {
        self.sum_newest(epoch, N)
    }

    /// Sums the payloads of the newest `span` buckets (the whole window from `N` on): a
    /// shorter window at the same cost.
    pub fn sum_newest(&self, epoch: u32, span: usize) -> u32 {
        self.fold_newest(epoch, span, 0u32, |sum, payload| {
            sum.saturating_add(payload)
        })
    }
}

/// Packs two 16-bit counters into a bucket payload, saturating each.
pub fn add_pair(payload: u32, high: u16, low: u16) -> u32 {
    let h = ((payload >> 16) as u16).saturating_add(high);
    let l = (payload as u16).saturating_add(low);
    (u32::from(h) << 16) | u32::from(l)
}

/// Splits a pair payload into its two counters.
pub fn split_pair(payload: u32) -> (u32, u32) {
    (payload >> 16, payload & 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_fall_out_of_the_window() {
        let window = Duration::from_secs(2);
        let buckets: Buckets<8> = Buckets::default();
        let at = |ms: u64| epoch(ms, window, 8);
        for ms in [0, 100, 600, 1_900] {
            buckets.update(at(ms), |n| n + 1);
        }
        assert_eq!(buckets.sum(at(1_900)), 4);
        // 2.1 s: the buckets of 0 and 100 ms have left the window.
        assert_eq!(buckets.sum(at(2_100)), 2);
        assert_eq!(buckets.sum(at(10_000)), 0);
    }

    #[test]
    fn the_newest_buckets_make_a_shorter_window() {
        let window = Duration::from_secs(8);
        let buckets: Buckets<8> = Buckets::default();
        let at = |ms: u64| epoch(ms, window, 8);
        for ms in [0, 3_500, 6_200, 7_100, 7_900] {
            buckets.update(at(ms), |n| n + 1);
        }
        assert_eq!(buckets.sum(at(7_900)), 5);
        assert_eq!(buckets.sum_newest(at(7_900), 1), 2);
        assert_eq!(buckets.sum_newest(at(7_900), 2), 3);
        assert_eq!(buckets.sum_newest(at(7_900), 100), 5);
    }

    #[test]
    fn a_stale_slot_restarts_from_zero() {
        let window = Duration::from_secs(1);
        let buckets: Buckets<4> = Buckets::default();
        buckets.update(epoch(0, window, 4), |n| n + 5);
        buckets.update(epoch(1_000, window, 4), |n| n + 1);
        assert_eq!(buckets.sum(epoch(1_000, window, 4)), 1);
    }

    #[test]
    fn pairs_saturate_separately() {
        let payload = add_pair(add_pair(0, 1, 1), 0, u16::MAX);
        assert_eq!(split_pair(payload), (1, u32::from(u16::MAX)));
    }
}
