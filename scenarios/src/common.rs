//! What several scenarios share: gauges over subject maps and counters, the chat
//! population's keys and lines, and the anti-spam tally. One place, so two
//! scenarios that model the same thing model it the same way. (Churning users and
//! `mix` are the harness's: [`soak_harness::traffic::Population`],
//! [`soak_harness::traffic::mix`].)

use std::cell::Cell;

use soak_components::rate_limit::anti_spam::{AntiSpam, SpamVerdict};
use soak_components::ttl_map::TtlMap;
use soak_harness::traffic::{mix, Rng};
use soak_harness::{BoxError, Ctx, Gauge};

/// Registers a gauge reading the entry count of `map`.
pub(crate) fn map_gauge<V: 'static>(
    ctx: &Ctx,
    name: &str,
    map: &TtlMap<String, V>,
) -> Result<(), BoxError> {
    let m = map.clone();
    ctx.gauge(Gauge::new(name, move || m.len() as f64))
}

/// Registers the three anti-spam trackers' gauges (seed 000's maps).
pub(crate) fn spam_gauges(ctx: &Ctx, spam: &AntiSpam) -> Result<(), BoxError> {
    map_gauge(ctx, "spam_rate", spam.rate_map())?;
    let s = spam.clone();
    ctx.gauge(Gauge::new("spam_duplicates", move || {
        s.duplicates_len() as f64
    }))?;
    map_gauge(ctx, "spam_violations", spam.violations_map())
}

/// Turns a cumulative counter into the count since the previous sample (a gauge
/// of events per sample interval).
pub(crate) fn per_sample(total: impl Fn() -> u64 + 'static) -> impl Fn() -> f64 + 'static {
    let last = Cell::new(0u64);
    move || {
        let now = total();
        let d = now.saturating_sub(last.replace(now));
        d as f64
    }
}

/// A Discord-like 19-digit snowflake id for the number `x`, so keys have their
/// real length (`guild:user` is 39 characters).
pub(crate) fn snowflake(x: u64) -> u64 {
    1_000_000_000_000_000_000 + mix(x) % 8_000_000_000_000_000_000
}

/// Writes the `guild:user` key into `buf` (reused: no allocation per message).
pub(crate) fn member_key(buf: &mut String, guild: u64, user: u64) -> &str {
    use std::fmt::Write;
    buf.clear();
    // Writing to a String cannot fail.
    let _ = write!(buf, "{guild}:{user}");
    buf
}

/// Distinct chat lines the population says, Zipf-popular (`lol`, `gg` ... and
/// long one-offs): 3 to 16 words, about 50 characters on average.
pub(crate) const CHAT_LINES: u64 = 20_000;

/// The chat lines, built once per run.
pub(crate) fn chat_lines(rng: &mut Rng) -> Vec<String> {
    const WORDS: [&str; 24] = [
        "gg", "lol", "anyone", "up", "for", "a", "raid", "tonight", "the", "new", "patch", "is",
        "wild", "can", "someone", "help", "me", "with", "my", "build", "thanks", "again", "what",
        "time",
    ];
    (0..CHAT_LINES)
        .map(|_| {
            let n = rng.between(3, 16) as usize;
            let words: Vec<&str> = (0..n).filter_map(|_| rng.pick(&WORDS).copied()).collect();
            words.join(" ")
        })
        .collect()
}

/// What the anti-spam trackers decided over the day, for `summary.json`.
#[derive(Debug, Default)]
pub(crate) struct SpamTally {
    messages: u64,
    flagged: u64,
    mutes: u64,
}

impl SpamTally {
    /// Counts one checked message.
    pub(crate) fn message(&mut self, verdict: SpamVerdict) {
        self.messages += 1;
        match verdict {
            SpamVerdict::Clean => {}
            SpamVerdict::TooFast | SpamVerdict::Duplicate => self.flagged += 1,
            SpamVerdict::Mute => self.mutes += 1,
        }
    }

    /// Sets `messages_checked`, `spam_flagged` and `spam_mutes`.
    pub(crate) fn report(&self, ctx: &Ctx) {
        ctx.set_summary("messages_checked", self.messages);
        ctx.set_summary("spam_flagged", self.flagged);
        ctx.set_summary("spam_mutes", self.mutes);
    }
}
