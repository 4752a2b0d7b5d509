//! The chat bot's per-key limiters and short-lived state, all on [`TtlMap`]:
//! seed 001's two cooldown limiters here, seed 000's anti-spam trackers, anti-raid
//! recovery caches and ticket selects in the submodules.
//!
//! Seed 001's limiters: `/flag` allows one flag per `guild:moderator` every 2 s and
//! keeps the entry 1 h (sweep every 5 min); `/modstats reset` allows one attempt per
//! user every 30 s and keeps the entry 24 h (sweep hourly). Their leaky twins are the
//! same limiters on a [`Cleanup::None`] map: "entries are added but never removed".
//! Both twins decide identically — expired entries are invisible either way — so
//! only memory tells them apart.

pub mod anti_raid;
pub mod anti_spam;
pub mod tickets;

use std::time::Duration;

use tokio::time::Instant;

use crate::ttl_map::{Cleanup, TtlMap, TtlMapError};

/// `/flag` cooldown per `guild:moderator` (seed 001's `FLAG_RATE_LIMIT_MS`).
pub const FLAG_COOLDOWN: Duration = Duration::from_secs(2);
/// How long a `/flag` cooldown entry is kept (`FLAG_COOLDOWN_TTL_MS`).
pub const FLAG_ENTRY_TTL: Duration = Duration::from_secs(60 * 60);
/// `/flag` cooldown sweep period.
pub const FLAG_SWEEP: Duration = Duration::from_secs(5 * 60);
/// `/modstats reset` cooldown per user (`RESET_RATE_LIMIT_MS`).
pub const RESET_COOLDOWN: Duration = Duration::from_secs(30);
/// How long a reset cooldown entry is kept (`RESET_COOLDOWN_TTL_MS`).
pub const RESET_ENTRY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Reset cooldown sweep period.
pub const RESET_SWEEP: Duration = Duration::from_secs(60 * 60);

/// What a limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; the attempt was recorded.
    Allowed,
    /// Too soon: try again after this long.
    Limited {
        /// Time until the cooldown ends.
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the attempt may proceed.
    pub fn allowed(self) -> bool {
        self == Decision::Allowed
    }
}

/// A cooldown per key: one attempt per `cooldown`, the last attempt's time kept
/// for the map's entry TTL (far longer than the cooldown, as in seed 001).
#[derive(Debug, Clone)]
pub struct Cooldown {
    last: TtlMap<String, Instant>,
    cooldown: Duration,
}

impl Cooldown {
    /// A limiter allowing one attempt per `cooldown`, keeping entries `keep` and
    /// sweeping every `sweep_every` (or never, with [`Cleanup::None`]).
    pub fn new(
        cooldown: Duration,
        keep: Duration,
        sweep_every: Duration,
        cleanup: Cleanup,
    ) -> Result<Self, TtlMapError> {
        Ok(Cooldown {
            last: TtlMap::new(keep, sweep_every, cleanup)?,
            cooldown,
        })
    }

    /// Seed 001's `/flag` limiter: 2 s per `guild:moderator`, 1 h entries, 5 min sweep.
    pub fn flag(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Self::new(FLAG_COOLDOWN, FLAG_ENTRY_TTL, FLAG_SWEEP, cleanup)
    }

    /// Seed 001's `/modstats reset` limiter: 30 s per user, 24 h entries, hourly sweep.
    pub fn modstats_reset(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Self::new(RESET_COOLDOWN, RESET_ENTRY_TTL, RESET_SWEEP, cleanup)
    }

    /// Allows and records an attempt for `key`, or says how long to wait.
    pub fn check(&self, key: &str) -> Decision {
        let now = Instant::now();
        if let Some(last) = self.last.get(key) {
            let since = now - last;
            if since < self.cooldown {
                return Decision::Limited {
                    retry_after: self.cooldown - since,
                };
            }
        }
        self.last.insert(key.to_string(), now);
        Decision::Allowed
    }

    /// The cooldown between attempts.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// The underlying map (for gauges, sweeps and shutdown).
    pub fn map(&self) -> &TtlMap<String, Instant> {
        &self.last
    }

    /// Stops the sweep and drops every entry.
    pub fn shutdown(&self) {
        self.last.shutdown();
    }
}

/// The `/flag` cooldown key: `guild:moderator`.
pub fn flag_key(guild: u64, moderator: u64) -> String {
    format!("{guild}:{moderator}")
}
