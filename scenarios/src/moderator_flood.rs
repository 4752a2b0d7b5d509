//! `moderator-flood`: a busy multi-guild moderation bot's day, against seed 001's
//! `/flag` and `/modstats reset` cooldown limiters and seed 000's anti-spam trackers.
//!
//! The day (all rates per second, peaks at 20:00; about 2.1 million events):
//!
//! - **Guilds and moderators**: 4,000 guilds with 6 moderator seats each (24,000
//!   moderators); each seat changes hands every 10 days on average, so 10% of the
//!   moderators turn over daily (about 2,400 new moderator ids a day).
//! - **`/flag`**: 0.3–3 flags/s from moderators of Zipf-popular guilds, plus a
//!   flood wave every 2 h from 00:40: 45,000 flags in 3 minutes (250/s) from the
//!   moderators of 60 raided guilds and, one in four, from anywhere. Each
//!   `guild:moderator` may flag once per 2 s; the waves hit that cooldown hard
//!   (about 180,000 of 680,000 flags refused).
//! - **`/modstats reset`**: 0.005–0.03 attempts/s by guild owners, plus a brute-force
//!   burst every 6 h from 03:00 (400 attempts in 5 minutes by 4 users), limited to
//!   one per 30 s per user.
//! - **Messages**: 5–25 messages/s (about 1.3 million a day), every one checked by
//!   the anti-spam trackers. Senders come from a churning population: 30,000 users
//!   are present at any moment and 26,000 new ones arrive every hour (each stays
//!   about 70 minutes), so about 530,000 distinct users speak in a day. On top,
//!   0.05–0.3 fresh spam accounts/s each post one message 6 times (duplicate
//!   detection, violations, mutes: about 15,000 accounts).
//!
//! Traffic kinds (`--mute`, `soak shrink`): `flags`, `flag_waves`, `resets`,
//! `reset_bursts`, `messages`, `spam_accounts` (each counts one load event per
//! message it posts).
//!
//! Gauges, one per map: `flag_cooldowns`, `reset_cooldowns`, `spam_rate`,
//! `spam_duplicates`, `spam_violations`. Fixed, every map is bounded by its TTL:
//! `spam_rate`/`spam_duplicates` by the speakers of the last 5 minutes (at most
//! about 7,000), `flag_cooldowns` by the moderators of the last hour (about
//! 12,000 after a wave), heap peaks near 8 MB and does not trend.
//! `reset_cooldowns` keeps entries 24 h, so in a 24 h run it legitimately fills
//! all day: that is why its traffic is a few attempts a minute — about 1,600
//! distinct users, ~650 entries held at the end, under 100 KB, i.e. a few KB/h
//! against the 1 MB/h budget — and why it is the one gauge that may show as
//! grown in the fixed variant.
//! Leaky (seed 001: "entries are added but never removed"; seed 000's unbounded
//! anti-spam maps), every user who ever spoke stays in `spam_rate` and
//! `spam_duplicates` (~19,000 new entries an hour each, ~250 B a user with the
//! message log and last text), about 8 MB/h of heap; the run fails on `heap`
//! with those gauges named.

use std::time::Duration;

use soak_components::rate_limit::anti_spam::{AntiSpam, SpamVerdict, VIOLATION_WINDOW};
use soak_components::rate_limit::{flag_key, Cooldown, FLAG_ENTRY_TTL, RESET_ENTRY_TTL};
use soak_components::ttl_map::Cleanup;
use soak_harness::traffic::{hours, mins, mix, secs, Diurnal, Phase, Population, Shape};
use soak_harness::{Ctx, RunFuture, Scenario};

use crate::common::{
    chat_lines, map_gauge, member_key, snowflake, spam_gauges, SpamTally, CHAT_LINES,
};

/// Guilds the bot serves.
pub const GUILDS: u64 = 4_000;
/// Moderator seats per guild.
pub const MODS_PER_GUILD: u64 = 6;
/// Average days a moderator keeps a seat (10% daily turnover).
pub const MOD_TENURE_DAYS: f64 = 10.0;
/// Users active at any moment.
pub const ACTIVE_USERS: u64 = 30_000;
/// New users arriving per hour (as many leave).
pub const USER_CHURN_PER_HOUR: u64 = 26_000;
/// Guilds whose moderators flood during one wave.
pub const WAVE_GUILDS: u64 = 60;
/// Copies of its message each spam account posts.
pub const SPAM_COPIES: u64 = 6;

/// Baseline `/flag` rate.
pub fn flags() -> Shape {
    Shape::new(Diurnal::new(0.3, 3.0, 20.0))
}

/// The flag floods: 45,000 flags in 3 minutes (250/s), every 2 hours from 00:40.
pub fn flag_waves() -> Shape {
    Shape::new(Diurnal::flat(0.0)).with(Phase::recurring(mins(40), hours(2.0), 45_000, mins(3)))
}

/// Owners trying `/modstats reset`.
pub fn resets() -> Shape {
    Shape::new(Diurnal::new(0.005, 0.03, 15.0))
}

/// Brute-force reset bursts: 400 attempts in 5 minutes every 6 hours from 03:00.
pub fn reset_bursts() -> Shape {
    Shape::new(Diurnal::flat(0.0)).with(Phase::recurring(hours(3.0), hours(6.0), 400, mins(5)))
}

/// Chat messages checked by anti-spam.
pub fn messages() -> Shape {
    Shape::new(Diurnal::new(5.0, 25.0, 20.0))
}

/// Fresh spam accounts posting.
pub fn spammers() -> Shape {
    Shape::new(Diurnal::new(0.05, 0.3, 20.0))
}

/// The moderator-flood scenario.
#[derive(Debug, Default)]
pub struct ModeratorFlood;

impl Scenario for ModeratorFlood {
    fn name(&self) -> &'static str {
        "moderator-flood"
    }

    fn about(&self) -> &'static str {
        "/flag floods, reset brute force, anti-spam on 1.3M messages/day from 530k churning users (seeds 000, 001)"
    }

    /// `/modstats reset` cooldowns keep their entries 24 h
    /// ([`soak_components::rate_limit::RESET_ENTRY_TTL`]); every other map an hour
    /// or less.
    fn retention(&self) -> Option<Duration> {
        Some(soak_components::rate_limit::RESET_ENTRY_TTL)
    }

    fn wall_guess(&self) -> Option<Duration> {
        // The slower variant's 24 h in docs/performance.md (2026-11-28).
        Some(Duration::from_millis(3700))
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let cleanup = Cleanup::default().leaky(ctx.leaky());
            let flag = Cooldown::flag(cleanup)?;
            let reset = Cooldown::modstats_reset(cleanup)?;
            let spam = AntiSpam::new(cleanup)?;
            map_gauge(ctx, "flag_cooldowns", flag.map())?;
            map_gauge(ctx, "reset_cooldowns", reset.map())?;
            spam_gauges(ctx, &spam)?;

            // The day's traffic, one kind each; what it creates is kept as long
            // as the map it fills keeps it.
            let flags = ctx.kind("flags", flags())?.retains(FLAG_ENTRY_TTL);
            let waves = ctx
                .kind("flag_waves", flag_waves())?
                .retains(FLAG_ENTRY_TTL);
            let resets = ctx.kind("resets", resets())?.retains(RESET_ENTRY_TTL);
            let bursts = ctx
                .kind("reset_bursts", reset_bursts())?
                .retains(RESET_ENTRY_TTL);
            let messages = ctx.kind("messages", messages())?.retains(VIOLATION_WINDOW);
            let spammers = ctx
                .kind("spam_accounts", spammers())?
                .weight(SPAM_COPIES)
                .retains(VIOLATION_WINDOW);
            let mut rng = ctx.rng("moderator-flood");
            let lines = chat_lines(&mut ctx.rng("chat-lines"));
            let users = Population::new(ACTIVE_USERS, USER_CHURN_PER_HOUR);
            let mut tally = Tally::default();
            let mut spam_accounts = 0u64;
            let mut wave_guilds: Vec<u64> = Vec::new();
            let mut wave_no = u64::MAX;
            let mut buf = String::new();
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                let dt = secs(1);

                // Flags: baseline from popular guilds, waves from the raided ones.
                let nf = flags.count(&mut rng, t, dt);
                for _ in 0..nf {
                    let g = rng.zipf(GUILDS, 1.0);
                    tally.flag(&flag, g, moderator(g, rng.below(MODS_PER_GUILD), t));
                }
                let nw = waves.count(&mut rng, t, dt);
                if nw > 0 {
                    let no = t.as_secs() / hours(2.0).as_secs();
                    if no != wave_no {
                        wave_no = no;
                        wave_guilds = (0..WAVE_GUILDS).map(|_| rng.below(GUILDS)).collect();
                    }
                }
                for _ in 0..nw {
                    let g = match rng.pick(&wave_guilds) {
                        Some(&g) if !rng.chance(0.25) => g,
                        _ => rng.below(GUILDS),
                    };
                    tally.flag(&flag, g, moderator(g, rng.below(MODS_PER_GUILD), t));
                }

                // Reset attempts: owners now and then, brute force in bursts.
                let r = resets.count(&mut rng, t, dt);
                for _ in 0..r {
                    let owner = snowflake(0x0_57e4 ^ rng.zipf(GUILDS, 1.0));
                    tally.reset(&reset, owner);
                }
                let b = bursts.count(&mut rng, t, dt);
                for _ in 0..b {
                    let attacker =
                        snowflake((0xb7u64 << 32) | ((t.as_secs() / 3600) << 4) | rng.below(4));
                    tally.reset(&reset, attacker);
                }

                // Messages from the churning population, then spam accounts.
                let m = messages.count(&mut rng, t, dt);
                for _ in 0..m {
                    let user = users.pick(&mut rng, t);
                    let key = member_key(&mut buf, snowflake(user % GUILDS), snowflake(user));
                    let line = &lines[rng.zipf(CHAT_LINES, 1.1) as usize];
                    tally.message(spam.check(key, line));
                }
                let a = spammers.count(&mut rng, t, dt);
                for _ in 0..a {
                    spam_accounts += 1;
                    let acct = snowflake((0x5ba3 << 40) | spam_accounts);
                    let key = format!("{}:{}", snowflake(rng.below(GUILDS)), acct);
                    let content = format!(
                        "FREE NITRO for everyone, claim it at discord-gift.example/{}",
                        rng.next_u64()
                    );
                    for _ in 0..SPAM_COPIES {
                        tally.message(spam.check(&key, &content));
                    }
                }
            }

            tally.report(ctx);
            // The last sample is taken at the end instant too: let it see the maps
            // as the day left them before shutdown empties them.
            tokio::time::sleep(secs(1)).await;
            flag.shutdown();
            reset.shutdown();
            spam.shutdown();
            Ok(())
        })
    }
}

/// Outcomes of the day's limiter and anti-spam decisions, for `summary.json`.
#[derive(Debug, Default)]
struct Tally {
    flags_allowed: u64,
    flags_limited: u64,
    resets_allowed: u64,
    resets_limited: u64,
    chat: SpamTally,
}

impl Tally {
    fn flag(&mut self, limiter: &Cooldown, guild: u64, moderator: u64) {
        if limiter
            .check(&flag_key(snowflake(guild), moderator))
            .allowed()
        {
            self.flags_allowed += 1;
        } else {
            self.flags_limited += 1;
        }
    }

    fn reset(&mut self, limiter: &Cooldown, user: u64) {
        if limiter.check(&user.to_string()).allowed() {
            self.resets_allowed += 1;
        } else {
            self.resets_limited += 1;
        }
    }

    fn message(&mut self, verdict: SpamVerdict) {
        self.chat.message(verdict);
    }

    fn report(&self, ctx: &Ctx) {
        ctx.set_summary("flags_allowed", self.flags_allowed);
        ctx.set_summary("flags_limited", self.flags_limited);
        ctx.set_summary("resets_allowed", self.resets_allowed);
        ctx.set_summary("resets_limited", self.resets_limited);
        self.chat.report(ctx);
    }
}

/// The moderator in seat `seat` of guild `guild` at virtual time `t`: each seat
/// changes hands every [`MOD_TENURE_DAYS`] on average, at a per-seat phase.
fn moderator(guild: u64, seat: u64, t: Duration) -> u64 {
    let s = guild * MODS_PER_GUILD + seat;
    let phase = (mix(s) >> 11) as f64 / (1u64 << 53) as f64;
    let days = t.as_secs_f64() / 86_400.0;
    let generation = (days / MOD_TENURE_DAYS + phase).floor() as u64;
    snowflake((0x30d << 48) ^ (s << 8) ^ generation)
}
