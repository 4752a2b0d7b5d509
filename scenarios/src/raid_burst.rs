//! `raid-burst`: a quiet community bot's day broken by raids, against seed 000's
//! anti-spam trackers, anti-raid recovery caches and ticket selects.
//!
//! The day (rates per second, peaks at 20:00; about 1.45 million events):
//!
//! - **Baseline**: 1,500 guilds; 4–20 messages/s (about 1 million a day) from a
//!   churning population of 30,000 present users with 12,000 new ones an hour
//!   (about 280,000 distinct speakers a day); 0.1–1 joins/s; 0.01–0.08 ticket
//!   opens/s, 70% submitted within 15 minutes; about 500 channels and 250 roles
//!   deleted a day, about one in eight restored.
//! - **Raids** every 3 h from 01:30 (8 a day), each on one guild:
//!   6,000 fresh accounts join within 3 minutes; from minute 2 they post 36,000
//!   messages in 6 minutes, each account repeating one of 5 spam texts (duplicate
//!   detection, then violations and mutes); from minute 1 they open 3,000 tickets
//!   in 5 minutes and abandon them; from minute 4 a nuke deletes 250 channels and
//!   120 roles in 2 minutes, cached for recovery; moderators restore 150 of them
//!   from minute 15.
//!
//! Traffic kinds (`--mute`, `soak shrink`): `messages`, `joins` (counted only:
//! the raid's accounts are the ones that speak), `tickets`, `deletions`, and the
//! raids' `raid_spam`, `raid_tickets`, `nukes` (channels and roles), `restores`.
//!
//! Gauges, one per map: `spam_rate`, `spam_duplicates`, `spam_violations`,
//! `deleted_channels`, `deleted_roles`, `ticket_selects`, `ticket_questions`.
//! Fixed, each map drains after every raid within its TTL plus one sweep (5 min
//! maps within 6 min, tickets within 20/35 min, the 1 h caches within 70 min):
//! heap is a saw-tooth peaking near 9 MB on a flat line. Leaky (seed 000's
//! unbounded maps), each raid leaves ~6,000 accounts in five maps and 370
//! snapshots, and the baseline leaves every speaker in two: about 6 MB/h, and the
//! run fails on `heap` naming those gauges.

use std::collections::VecDeque;
use std::time::Duration;

use soak_components::rate_limit::anti_raid::{
    ChannelSnapshot, Overwrite, RecoveryCache, RoleSnapshot, RECOVERY_TTL,
};
use soak_components::rate_limit::anti_spam::{AntiSpam, SpamVerdict, VIOLATION_WINDOW};
use soak_components::rate_limit::tickets::{Tickets, QUESTION_TTL};
use soak_components::ttl_map::Cleanup;
use soak_harness::traffic::{mins, secs, Diurnal, Phase, Population, Rng, Shape};
use soak_harness::{Ctx, RunFuture, Scenario};

use crate::common::{
    chat_lines, map_gauge, member_key, snowflake, spam_gauges, SpamTally, CHAT_LINES,
};

/// Guilds the bot serves.
pub const GUILDS: u64 = 1_500;
/// Users present at any moment.
pub const ACTIVE_USERS: u64 = 30_000;
/// New users per hour (as many leave).
pub const USER_CHURN_PER_HOUR: u64 = 12_000;
/// First raid.
pub const FIRST_RAID: Duration = Duration::from_secs(90 * 60);
/// Time between raids.
pub const RAID_EVERY: Duration = Duration::from_secs(3 * 3600);
/// Accounts joining per raid.
pub const RAID_ACCOUNTS: u64 = 6_000;
/// Distinct spam texts a raid posts.
pub const SPAM_TEXTS: u64 = 5;
/// Share of baseline tickets that are submitted.
pub const SUBMITTED: f64 = 0.7;

/// A phase of every raid, `offset` after the raid starts.
fn raid(offset: Duration, count: u64, over: Duration) -> Shape {
    Shape::new(Diurnal::flat(0.0)).with(Phase::recurring(
        FIRST_RAID + offset,
        RAID_EVERY,
        count,
        over,
    ))
}

/// Baseline chat.
pub fn messages() -> Shape {
    Shape::new(Diurnal::new(4.0, 20.0, 20.0))
}

/// Baseline joins plus the raid joins (4,000 in 3 minutes).
pub fn joins() -> Shape {
    Shape::new(Diurnal::new(0.1, 1.0, 20.0)).with(Phase::recurring(
        FIRST_RAID,
        RAID_EVERY,
        RAID_ACCOUNTS,
        mins(3),
    ))
}

/// Baseline ticket opens.
pub fn tickets() -> Shape {
    Shape::new(Diurnal::new(0.01, 0.08, 20.0))
}

/// Baseline channel deletions (roles: half as many).
pub fn deletions() -> Shape {
    Shape::new(Diurnal::new(0.002, 0.01, 20.0))
}

/// The raid-burst scenario.
#[derive(Debug, Default)]
pub struct RaidBurst;

impl Scenario for RaidBurst {
    fn name(&self) -> &'static str {
        "raid-burst"
    }

    fn about(&self) -> &'static str {
        "quiet diurnal guilds plus raids every 3 h: joins, spam waves, nukes, ticket floods (seed 000)"
    }

    /// The recovery caches and the anti-spam violations keep entries an hour
    /// ([`soak_components::rate_limit::anti_raid::RECOVERY_TTL`]); tickets 30
    /// minutes, the rest 5.
    fn retention(&self) -> Option<Duration> {
        Some(soak_components::rate_limit::anti_raid::RECOVERY_TTL)
    }

    fn wall_guess(&self) -> Option<Duration> {
        // The slower variant's 24 h in docs/performance.md (2026-11-28).
        Some(Duration::from_millis(3000))
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let cleanup = Cleanup::default().leaky(ctx.leaky());
            let spam = AntiSpam::new(cleanup)?;
            let recovery = RecoveryCache::new(cleanup)?;
            let desk = Tickets::new(cleanup)?;
            spam_gauges(ctx, &spam)?;
            map_gauge(ctx, "deleted_channels", recovery.channels())?;
            map_gauge(ctx, "deleted_roles", recovery.roles())?;
            map_gauge(ctx, "ticket_selects", desk.selects())?;
            map_gauge(ctx, "ticket_questions", desk.questions())?;

            // The day's traffic, one kind each, kept as long as the maps it
            // fills keep it: the baseline, then the raids' phases.
            let messages = ctx.kind("messages", messages())?.retains(VIOLATION_WINDOW);
            let joins = ctx.kind("joins", joins())?.retains(Duration::ZERO);
            let tickets = ctx.kind("tickets", tickets())?.retains(QUESTION_TTL);
            let deletions = ctx.kind("deletions", deletions())?.retains(RECOVERY_TTL);
            let spam_wave = ctx
                .kind("raid_spam", raid(mins(2), 36_000, mins(6)))?
                .retains(VIOLATION_WINDOW);
            let ticket_flood = ctx
                .kind("raid_tickets", raid(mins(1), 3_000, mins(5)))?
                .retains(QUESTION_TTL);
            let nuke_channels = ctx
                .kind("nukes", raid(mins(4), 250, mins(2)))?
                .retains(RECOVERY_TTL);
            let nuke_roles = nuke_channels.also(raid(mins(4), 120, mins(2)));
            let restores = ctx
                .kind("restores", raid(mins(15), 150, mins(20)))?
                .retains(RECOVERY_TTL);

            let mut rng = ctx.rng("raid-burst");
            let lines = chat_lines(&mut ctx.rng("chat-lines"));
            let spam_texts: Vec<String> = (0..SPAM_TEXTS)
                .map(|i| format!("@everyone JOIN discord.example/raid{i} FREE NITRO GIVEAWAY"))
                .collect();
            let users = Population::new(ACTIVE_USERS, USER_CHURN_PER_HOUR);
            let mut day = Day::default();
            let mut pending: VecDeque<(Duration, u64, u64)> = VecDeque::new();
            let mut buf = String::new();
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                let dt = secs(1);
                let raid_no = raid_number(t);
                let target = raid_no.map(|r| snowflake(0x4a1d ^ r));

                // Chat: the quiet population, then the raid's spam wave.
                let m = messages.count(&mut rng, t, dt);
                for _ in 0..m {
                    let user = users.pick(&mut rng, t);
                    let key = member_key(&mut buf, snowflake(user % GUILDS), snowflake(user));
                    let line = &lines[rng.zipf(CHAT_LINES, 1.1) as usize];
                    day.message(spam.check(key, line));
                }
                let w = spam_wave.count(&mut rng, t, dt);
                if let (Some(r), Some(g)) = (raid_no, target) {
                    for _ in 0..w {
                        let i = rng.below(RAID_ACCOUNTS);
                        let key = format!("{g}:{}", raider(r, i));
                        // Each raider repeats one of the raid's texts.
                        let text = &spam_texts[(i % SPAM_TEXTS) as usize];
                        day.message(spam.check(&key, text));
                    }
                }

                // Joins only count as load: the raid's accounts are the ones that speak.
                let j = joins.count(&mut rng, t, dt);
                day.joins += j;

                // Tickets: baseline users open and mostly submit; raiders abandon.
                let k = tickets.count(&mut rng, t, dt);
                for _ in 0..k {
                    let user = snowflake(users.pick(&mut rng, t));
                    let guild = snowflake(rng.zipf(GUILDS, 1.0));
                    desk.select(guild, user, rng.below(4) as u32, form(&mut rng));
                    if rng.chance(SUBMITTED) {
                        pending.push_back((t + secs(rng.between(30, 14 * 60)), guild, user));
                    }
                }
                while pending.front().is_some_and(|p| p.0 <= t) {
                    if let Some((_, guild, user)) = pending.pop_front() {
                        day.submitted += u64::from(desk.submit(guild, user).is_some());
                    }
                }
                let f = ticket_flood.count(&mut rng, t, dt);
                if let (Some(r), Some(g)) = (raid_no, target) {
                    for _ in 0..f {
                        desk.select(g, raider(r, rng.below(RAID_ACCOUNTS)), 0, form(&mut rng));
                    }
                }

                // Deletions: now and then, and the nuke; restores after the raid.
                let c = deletions.count(&mut rng, t, dt);
                for _ in 0..c {
                    let guild = rng.zipf(GUILDS, 1.0);
                    day.delete_channel(&recovery, &mut rng, snowflake(guild));
                    if rng.chance(0.5) {
                        day.delete_role(&recovery, &mut rng, snowflake(guild));
                    }
                }
                let nc = nuke_channels.count(&mut rng, t, dt);
                let nr = nuke_roles.count(&mut rng, t, dt);
                let rs = restores.count(&mut rng, t, dt);
                if let Some(g) = target {
                    for _ in 0..nc {
                        day.delete_channel(&recovery, &mut rng, g);
                    }
                    for _ in 0..nr {
                        day.delete_role(&recovery, &mut rng, g);
                    }
                    for _ in 0..rs {
                        day.restore(&recovery, &mut rng, g);
                    }
                }
                // Not load, and not without deletions to undo.
                if !deletions.muted() && rng.chance(1.0 / 900.0) {
                    // About one in eight everyday deletions is undone.
                    day.restore(&recovery, &mut rng, 0);
                }
            }

            day.report(ctx);
            // The last sample is taken at the end instant too: let it see the maps
            // as the day left them before shutdown empties them.
            tokio::time::sleep(secs(1)).await;
            spam.shutdown();
            recovery.shutdown();
            desk.shutdown();
            Ok(())
        })
    }
}

/// Which raid (0, 1, ...) `t` falls in, counting from each raid's start until the
/// next; `None` before the first.
fn raid_number(t: Duration) -> Option<u64> {
    t.checked_sub(FIRST_RAID)
        .map(|since| since.as_secs() / RAID_EVERY.as_secs())
}

/// Account `i` of raid `r`: fresh ids every raid.
fn raider(r: u64, i: u64) -> u64 {
    snowflake((0x4a1d_u64 << 48) | (r << 20) | i)
}

/// The ticket form's question labels.
fn form(rng: &mut Rng) -> Vec<String> {
    let n = rng.between(2, 4);
    (0..n)
        .map(|i| format!("Question {i}: describe the issue ({})", rng.below(1000)))
        .collect()
}

/// The day's counts, for `summary.json`, and the deleted ids to restore.
#[derive(Debug, Default)]
struct Day {
    chat: SpamTally,
    joins: u64,
    submitted: u64,
    deleted: Vec<(u64, u64, bool)>,
    restored: u64,
    restore_missed: u64,
    next_id: u64,
}

impl Day {
    fn message(&mut self, verdict: SpamVerdict) {
        self.chat.message(verdict);
    }

    fn remember(&mut self, guild: u64, id: u64, channel: bool) {
        // Only the last 2,000 deletions are candidates for a restore.
        if self.deleted.len() >= 2_000 {
            self.deleted.remove(0);
        }
        self.deleted.push((guild, id, channel));
    }

    fn delete_channel(&mut self, cache: &RecoveryCache, rng: &mut Rng, guild: u64) {
        self.next_id += 1;
        let id = snowflake((0xc4a_u64 << 40) | self.next_id);
        let snapshot = ChannelSnapshot {
            name: format!("channel-{}", rng.below(10_000)),
            topic: format!("Topic of channel {id}: rules, links and pinned notes"),
            parent: Some(snowflake(guild ^ 0xca7)),
            position: rng.below(100) as u32,
            overwrites: (0..rng.between(1, 6))
                .map(|i| Overwrite {
                    id: snowflake(guild ^ i),
                    allow: rng.next_u64(),
                    deny: rng.next_u64(),
                })
                .collect(),
        };
        cache.channel_deleted(guild, id, snapshot);
        self.remember(guild, id, true);
    }

    fn delete_role(&mut self, cache: &RecoveryCache, rng: &mut Rng, guild: u64) {
        self.next_id += 1;
        let id = snowflake((0x501e_u64 << 40) | self.next_id);
        let snapshot = RoleSnapshot {
            name: format!("role-{}", rng.below(10_000)),
            color: rng.below(1 << 24) as u32,
            permissions: rng.next_u64(),
            position: rng.below(100) as u32,
        };
        cache.role_deleted(guild, id, snapshot);
        self.remember(guild, id, false);
    }

    /// Restores a recently deleted channel or role (of `guild` if possible).
    fn restore(&mut self, cache: &RecoveryCache, rng: &mut Rng, guild: u64) {
        if self.deleted.is_empty() {
            return;
        }
        let mine: Vec<usize> = (0..self.deleted.len())
            .rev()
            .take(400)
            .filter(|&i| self.deleted[i].0 == guild)
            .collect();
        let i = match rng.pick(&mine) {
            Some(&i) => i,
            None => rng.below(self.deleted.len() as u64) as usize,
        };
        let (g, id, channel) = self.deleted.swap_remove(i);
        let found = if channel {
            cache.restore_channel(g, id).is_some()
        } else {
            cache.restore_role(g, id).is_some()
        };
        if found {
            self.restored += 1;
        } else {
            self.restore_missed += 1;
        }
    }

    fn report(&self, ctx: &Ctx) {
        self.chat.report(ctx);
        ctx.set_summary("joins", self.joins);
        ctx.set_summary("tickets_submitted", self.submitted);
        ctx.set_summary("restored", self.restored);
        ctx.set_summary("restore_missed", self.restore_missed);
    }
}
