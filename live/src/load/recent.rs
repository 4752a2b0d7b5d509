//! How many distinct ids of each pool the plan's HTTP requests used within the
//! run's retention (`recent_user`, `recent_guild`, `recent_session`): the working
//! set of a service that keeps something per user (per guild, per session) for
//! that long — a cooldown map swept after its TTL, sessions ended when idle, carts
//! kept a minute. The count is the plan's draw alone, whatever the target does,
//! so it is a load gauge of the growth model
//! ([`soak_harness::verdict::LOAD_GAUGES`]): it follows the working set through
//! the random arrivals and through the saturation of a small pool, where the
//! moving averages of the load follow only its mean. A leak cannot hide in it:
//! what a leak keeps grows with every id ever used, the gauge falls as the
//! traffic does.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::plan::PLACEHOLDERS;

/// Most uses (ids named by queued requests) remembered at once. A plan whose
/// peak rate times its retention exceeds it forgets its oldest uses early (the
/// gauge then undercounts) rather than hold more: 2²⁰ uses (a thousand ids a
/// second kept for a quarter of an hour) take about 100 MB — 32 MiB of uses and
/// the table of their ids.
pub const MAX_REMEMBERED: usize = 1 << 20;

/// The ids used within a sliding window, counted per pool.
#[derive(Debug)]
pub struct RecentIds {
    window: Duration,
    /// Each (pool, id)'s latest use.
    last: HashMap<(usize, u64), Instant>,
    /// Every use in the window, oldest first.
    uses: VecDeque<(Instant, usize, u64)>,
    counts: [u64; PLACEHOLDERS.len()],
}

impl RecentIds {
    /// Counts ids used less than `window` ago.
    pub fn new(window: Duration) -> Self {
        RecentIds {
            window,
            last: HashMap::new(),
            uses: VecDeque::new(),
            counts: [0; PLACEHOLDERS.len()],
        }
    }

    /// Id `id` of pool `pool` (an index into [`PLACEHOLDERS`]) used at `now`
    /// (not earlier than any use before it). Out-of-range pools are ignored.
    pub fn note(&mut self, now: Instant, pool: usize, id: u64) {
        if pool >= self.counts.len() {
            return;
        }
        self.expire(now);
        if self.uses.len() >= MAX_REMEMBERED {
            self.forget_oldest();
        }
        if self.last.insert((pool, id), now).is_none() {
            self.counts[pool] += 1;
        }
        self.uses.push_back((now, pool, id));
    }

    /// Forgets the uses `window` or more before `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(at, _, _)) = self.uses.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        let Some((at, pool, id)) = self.uses.pop_front() else {
            return;
        };
        // Only the id's latest use takes it out of the count.
        if self.last.get(&(pool, id)) == Some(&at) {
            self.last.remove(&(pool, id));
            self.counts[pool] -= 1;
        }
    }

    /// Distinct ids per pool (indexed as [`PLACEHOLDERS`]) in the window.
    pub fn counts(&self) -> [u64; PLACEHOLDERS.len()] {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn an_id_counts_once_until_its_latest_use_is_a_window_old() {
        let t0 = Instant::now();
        let mut r = RecentIds::new(Duration::from_secs(10));
        r.note(at(t0, 0), 0, 7);
        r.note(at(t0, 1_000), 0, 7);
        r.note(at(t0, 2_000), 0, 8);
        r.note(at(t0, 2_000), 1, 7); // another pool's 7 is another id
        assert_eq!(r.counts(), [2, 1, 0]);
        // 10 s after its first use, 7 was used again 9 s ago: still counted.
        r.expire(at(t0, 10_000));
        assert_eq!(r.counts(), [2, 1, 0]);
        r.expire(at(t0, 11_000));
        assert_eq!(r.counts(), [1, 1, 0]);
        r.expire(at(t0, 12_000));
        assert_eq!(r.counts(), [0, 0, 0]);
        r.note(at(t0, 13_000), 2, 7);
        assert_eq!(r.counts(), [0, 0, 1]);
    }

    #[test]
    fn uses_at_one_instant_are_forgotten_together() {
        let t0 = Instant::now();
        let mut r = RecentIds::new(Duration::from_secs(1));
        for _ in 0..3 {
            r.note(t0, 0, 1);
        }
        assert_eq!(r.counts(), [1, 0, 0]);
        r.expire(at(t0, 1_000));
        assert_eq!(r.counts(), [0, 0, 0]);
        assert!(r.last.is_empty() && r.uses.is_empty());
    }

    #[test]
    fn it_never_remembers_more_than_its_bound_and_ignores_unknown_pools() {
        let t0 = Instant::now();
        let mut r = RecentIds::new(Duration::from_secs(3600));
        r.note(t0, PLACEHOLDERS.len(), 1);
        assert_eq!(r.counts(), [0, 0, 0]);
        for id in 0..(MAX_REMEMBERED as u64 + 10) {
            r.note(t0, 0, id);
        }
        assert_eq!(r.uses.len(), MAX_REMEMBERED);
        assert_eq!(r.counts()[0], MAX_REMEMBERED as u64);
    }
}
