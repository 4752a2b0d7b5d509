//! `governor-keys`: a day of `/flag`-style commands from a churning crowd against
//! [`Cooldowns`], governor's keyed rate limiter used as seed 001's per-`guild:user`
//! cooldown.
//!
//! The day (peak at 14:00): 10–60 commands/s, about 3 million, from 30,000 users
//! present at any moment with 60,000 new ones arriving every hour (each stays 30
//! minutes: about 1.4 million distinct users a day). One command in five is sent
//! twice at once, and the cooldown refuses the second (about 600,000 refused).
//!
//! Fixed, housekeeping drops every key back to a fresh state each minute: the
//! `keys` gauge holds the last few seconds' users (a few hundred) and the heap does
//! not trend. Leaky, every user who ever sent a command keeps a key: about 50,000
//! new keys an hour (a 39-character `String` and a state each, in a `DashMap`
//! whose shards double together: the heap climbs in steps), 1.15 million keys and
//! 109 MiB at the end of the day, about 5.5 MiB/h; the run fails on `heap` with
//! `keys` named.
//!
//! Traffic kinds (`--mute`, `soak shrink`): `commands` and `double_taps` (the
//! refused second sends).

use soak_harness::traffic::{mix, secs, Diurnal, Population, Shape};
use soak_harness::{Ctx, Gauge, RunFuture, Scenario};

use crate::limiter::Cooldowns;

/// Users present at any moment.
pub const ACTIVE_USERS: u64 = 30_000;
/// New users arriving per hour (as many leave).
pub const USER_CHURN_PER_HOUR: u64 = 60_000;
/// Guilds the users are spread over.
pub const GUILDS: u64 = 3_000;
/// Share of commands sent twice in a row (the second is refused).
pub const DOUBLE_TAP: f64 = 0.2;

/// Commands per second over the day.
pub fn commands() -> Shape {
    Shape::new(Diurnal::new(10.0, 60.0, 14.0))
}

/// A Discord-like 19-digit id for the number `n`, so keys have their real length.
pub fn snowflake(n: u64) -> u64 {
    1_000_000_000_000_000_000 + mix(n) % 8_000_000_000_000_000_000
}

/// The soak scenario.
#[derive(Debug, Default)]
pub struct GovernorKeys;

impl Scenario for GovernorKeys {
    fn name(&self) -> &'static str {
        "governor-keys"
    }

    fn about(&self) -> &'static str {
        "governor's keyed rate limiter as a /flag cooldown for 1.4M churning users a day; \
         leaky: no retain_recent (seed 001)"
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let cooldowns = if ctx.leaky() {
                Cooldowns::without_housekeeping()
            } else {
                Cooldowns::new()
            };
            let keys = cooldowns.key_count();
            ctx.gauge(Gauge::new("keys", move || keys() as f64))?;

            // Two kinds of traffic: the commands, and the second send of a
            // double tap (refused by the cooldown).
            let commands = ctx.kind("commands", commands())?;
            let double_taps = ctx.kind("double_taps", None)?;
            let users = Population::new(ACTIVE_USERS, USER_CHURN_PER_HOUR);
            let mut rng = ctx.rng("commands");
            let (mut allowed, mut limited) = (0u64, 0u64);
            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                let n = commands.count(&mut rng, t, secs(1));
                for _ in 0..n {
                    let user = users.pick(&mut rng, t);
                    let guild = snowflake(mix(user) % GUILDS);
                    let times = 1 + u64::from(double_taps.chance(&mut rng, DOUBLE_TAP));
                    for _ in 0..times {
                        if cooldowns.check(guild, snowflake(user)) {
                            allowed += 1;
                        } else {
                            limited += 1;
                        }
                    }
                }
            }
            ctx.set_summary("commands_allowed", allowed);
            ctx.set_summary("commands_limited", limited);
            ctx.max_summary("keys_at_end", cooldowns.keys() as f64);
            drop(cooldowns); // stops the housekeeping task: teardown checks it is gone
            Ok(())
        })
    }
}
