//! Seed 000's anti-spam trackers (`antiSpam.ts`): per-user message rate (5 min,
//! a sliding log of message times), duplicate messages (5 min, the last text and
//! its repeats) and violations (1 h, a counter), once three unbounded maps
//! "with manual setInterval cleanup", now three [`TtlMap`]s. The leaky twin builds
//! them with [`Cleanup::None`]: every user who ever spoke stays in all of them.

use std::time::Duration;

use tokio::time::Instant;

use crate::ttl_map::{Cleanup, TtlMap, TtlMapError};

/// Window of the per-user message counter (`memoryRateLimit`, 5 min TTL).
pub const RATE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Messages allowed per user per window before it counts as flooding.
pub const RATE_LIMIT: u64 = 30;
/// How long the last message is remembered for duplicate detection
/// (`memoryDuplicates`, 5 min TTL).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// The same message this many times in a row is spam.
pub const DUPLICATE_LIMIT: u32 = 3;
/// How long violations are remembered (`memoryViolations`, 1 h TTL).
pub const VIOLATION_WINDOW: Duration = Duration::from_secs(60 * 60);
/// Violations within the window that earn a mute.
pub const MUTE_AFTER: u64 = 3;
/// Sweep period of the two 5-minute maps (the seed gives none; a fifth of the TTL).
pub const SHORT_SWEEP: Duration = Duration::from_secs(60);
/// Sweep period of the violations map (as seed 000's 1 h anti-raid caches: 10 min).
pub const VIOLATION_SWEEP: Duration = Duration::from_secs(10 * 60);

/// What the anti-spam check made of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamVerdict {
    /// Nothing wrong.
    Clean,
    /// More than [`RATE_LIMIT`] messages in the window: a violation.
    TooFast,
    /// The same content [`DUPLICATE_LIMIT`] times in a row: a violation.
    Duplicate,
    /// A violation that brought the user to [`MUTE_AFTER`] within the hour.
    Mute,
}

/// Last message content and how many times in a row it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct LastMessage {
    content: String,
    repeats: u32,
}

/// The three anti-spam maps of seed 000.
#[derive(Debug, Clone)]
pub struct AntiSpam {
    rate: TtlMap<String, Vec<Instant>>,
    duplicates: TtlMap<String, LastMessage>,
    violations: TtlMap<String, u64>,
}

impl AntiSpam {
    /// The trackers with seed 000's TTLs, swept (fixed) or not (leaky).
    pub fn new(cleanup: Cleanup) -> Result<Self, TtlMapError> {
        Ok(AntiSpam {
            rate: TtlMap::new(RATE_WINDOW, SHORT_SWEEP, cleanup)?,
            duplicates: TtlMap::new(DUPLICATE_WINDOW, SHORT_SWEEP, cleanup)?,
            violations: TtlMap::new(VIOLATION_WINDOW, VIOLATION_SWEEP, cleanup)?,
        })
    }

    /// Checks one message from `user` (a `guild:user` key) with text `content`,
    /// recording it in every tracker. The rate tracker is a sliding log of the
    /// user's message times; the duplicate tracker keeps the last text.
    pub fn check(&self, user: &str, content: &str) -> SpamVerdict {
        let now = Instant::now();
        let sent = self.rate.upsert(user, Vec::new, |log| {
            log.retain(|&t| now - t < RATE_WINDOW);
            log.push(now);
            log.len() as u64
        });
        let repeats = self.duplicates.upsert(user, LastMessage::default, |last| {
            if last.content == content {
                last.repeats += 1;
            } else {
                last.content.clear();
                last.content.push_str(content);
                last.repeats = 1;
            }
            last.repeats
        });
        let verdict = if repeats >= DUPLICATE_LIMIT {
            SpamVerdict::Duplicate
        } else if sent > RATE_LIMIT {
            SpamVerdict::TooFast
        } else {
            return SpamVerdict::Clean;
        };
        if self.violations.increment(user, 1) >= MUTE_AFTER {
            SpamVerdict::Mute
        } else {
            verdict
        }
    }

    /// Messages from `user` in the current window.
    pub fn recent_messages(&self, user: &str) -> usize {
        let now = Instant::now();
        self.rate
            .update(user, |log| {
                log.iter().filter(|&&t| now - t < RATE_WINDOW).count()
            })
            .unwrap_or(0)
    }

    /// Violations of `user` in the last hour.
    pub fn violations(&self, user: &str) -> u64 {
        self.violations.get(user).unwrap_or(0)
    }

    /// The message-rate map (`spam_rate` gauge).
    pub fn rate_map(&self) -> &TtlMap<String, Vec<Instant>> {
        &self.rate
    }

    /// Entries in the duplicate tracker (`spam_duplicates` gauge).
    pub fn duplicates_len(&self) -> usize {
        self.duplicates.len()
    }

    /// The violations map (`spam_violations` gauge).
    pub fn violations_map(&self) -> &TtlMap<String, u64> {
        &self.violations
    }

    /// Sweeps all three maps now; returns entries removed.
    pub fn sweep(&self) -> usize {
        self.rate.sweep() + self.duplicates.sweep() + self.violations.sweep()
    }

    /// Stops the sweeps and drops every entry.
    pub fn shutdown(&self) {
        self.rate.shutdown();
        self.duplicates.shutdown();
        self.violations.shutdown();
    }
}
