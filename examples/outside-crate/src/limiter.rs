//! The component this crate soaks: a per-`guild:user` command cooldown built on
//! governor's keyed rate limiter (seed 001's `/flag` cooldown: one command per 2 s
//! per key), in the two ways a user writes it.
//!
//! governor keeps one state per key in a `DashMap` and never drops a key by
//! itself. Its docs ("Keyed rate limiters - Housekeeping") say why and what to do:
//! "the set of retained keys grows, while the number of active keys may stay
//! smaller"; call `retain_recent()` (and `shrink_to_fit()`) now and then. The
//! fixed [`Cooldowns`] does that from a housekeeping task every
//! [`HOUSEKEEPING_EVERY`]; the leaky one ([`Cooldowns::without_housekeeping`]) omits it, as the code in
//! seed 001 omitted its `setInterval` cleanup, and keeps every user who ever sent
//! a command.

use std::hash::BuildHasherDefault;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use tokio::task::JoinHandle;

use crate::clock::TokioClock;

/// Commands allowed per key per minute: one every 2 s (seed 001's
/// `FLAG_RATE_LIMIT_MS = 2000`).
pub const PER_MINUTE: NonZeroU32 = match NonZeroU32::new(30) {
    Some(n) => n,
    None => panic!("30 is not zero"),
};

/// One command per 2 s and no burst: governor's `per_minute` alone would allow
/// all 30 at once.
pub const QUOTA: Quota = Quota::per_minute(PER_MINUTE).allow_burst(NonZeroU32::MIN);

/// How often the fixed limiter drops keys that are back to a fresh state.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

// A fixed-key hasher: the same seed lays the map out the same way every run, so
// heap figures repeat (std's RandomState would not).
type Hasher = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;
type Keyed = RateLimiter<
    String,
    DashMapStateStore<String, Hasher>,
    TokioClock,
    NoOpMiddleware<governor::nanos::Nanos>,
>;

/// A keyed command cooldown on governor, with or without its housekeeping.
#[derive(Debug)]
pub struct Cooldowns {
    limiter: Arc<Keyed>,
    housekeeping: Option<JoinHandle<()>>,
}

impl Cooldowns {
    /// The fixed cooldown: housekeeping every [`HOUSEKEEPING_EVERY`]. Must be called
    /// inside a tokio runtime (the housekeeping is a tokio task).
    pub fn new() -> Self {
        Self::build(false)
    }

    /// The leaky twin: the same limiter, its housekeeping omitted.
    pub fn without_housekeeping() -> Self {
        Self::build(true)
    }

    fn build(leaky: bool) -> Self {
        let limiter: Arc<Keyed> = Arc::new(RateLimiter::dashmap_with_clock_and_hasher(
            QUOTA,
            TokioClock::new(),
            Hasher::default(),
        ));
        // LEAK (leaky): no housekeeping task. governor: "the set of retained keys
        // grows" unless `retain_recent` is called; seed 001: "entries are added but
        // never removed".
        let housekeeping = (!leaky).then(|| {
            let l = Arc::clone(&limiter);
            tokio::spawn(async move {
                let start = tokio::time::Instant::now() + HOUSEKEEPING_EVERY;
                let mut every = tokio::time::interval_at(start, HOUSEKEEPING_EVERY);
                loop {
                    every.tick().await;
                    l.retain_recent();
                    l.shrink_to_fit();
                }
            })
        });
        Cooldowns {
            limiter,
            housekeeping,
        }
    }

    /// Whether `user` may run a command in `guild` now; if so, starts its cooldown.
    pub fn check(&self, guild: u64, user: u64) -> bool {
        self.limiter.check_key(&format!("{guild}:{user}")).is_ok()
    }

    /// Keys the limiter holds (governor's `len`): the gauge to watch.
    pub fn keys(&self) -> usize {
        self.limiter.len()
    }

    /// A handle reading [`Cooldowns::keys`] from elsewhere (a soak gauge).
    pub fn key_count(&self) -> impl Fn() -> usize + 'static {
        let l = Arc::clone(&self.limiter);
        move || l.len()
    }
}

impl Default for Cooldowns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Cooldowns {
    fn drop(&mut self) {
        if let Some(h) = self.housekeeping.take() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn cooldown_runs_on_virtual_time() {
        let c = Cooldowns::new();
        assert!(c.check(1, 7));
        assert!(!c.check(1, 7), "a second command within 2 s is refused");
        assert!(c.check(2, 7), "another guild is another key");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(c.check(1, 7), "2 virtual seconds later it is allowed again");
    }

    #[tokio::test(start_paused = true)]
    async fn housekeeping_drops_idle_keys_and_the_leaky_twin_keeps_them() {
        let fixed = Cooldowns::new();
        let leaky = Cooldowns::without_housekeeping();
        for user in 0..1_000 {
            fixed.check(1, user);
            leaky.check(1, user);
        }
        tokio::time::sleep(HOUSEKEEPING_EVERY + Duration::from_secs(1)).await;
        assert_eq!(fixed.keys(), 0);
        assert_eq!(leaky.keys(), 1_000);
    }
}
