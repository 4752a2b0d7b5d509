//! Seed 001's test plan for the limiters, in virtual time — cooldown enforced for
//! 2 s, entry gone after its TTL, sweep removes expired and keeps active, empty
//! map / all expired / all active — plus every anti-spam, anti-raid and ticket rule.

use std::time::Duration;

use soak_components::rate_limit::anti_raid::{
    ChannelSnapshot, RecoveryCache, RoleSnapshot, RECOVERY_SWEEP, RECOVERY_TTL,
};
use soak_components::rate_limit::anti_spam::{
    AntiSpam, SpamVerdict, DUPLICATE_LIMIT, MUTE_AFTER, RATE_LIMIT, RATE_WINDOW, SHORT_SWEEP,
    VIOLATION_SWEEP, VIOLATION_WINDOW,
};
use soak_components::rate_limit::tickets::{Tickets, QUESTION_TTL, SELECT_TTL, TICKET_SWEEP};
use soak_components::rate_limit::{
    flag_key, Cooldown, Decision, FLAG_COOLDOWN, FLAG_ENTRY_TTL, FLAG_SWEEP, RESET_COOLDOWN,
    RESET_ENTRY_TTL, RESET_SWEEP,
};
use soak_components::ttl_map::Cleanup;
use tokio::time::sleep;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn seed_001_numbers() {
    assert_eq!(
        (FLAG_COOLDOWN, FLAG_ENTRY_TTL, FLAG_SWEEP),
        (secs(2), secs(3600), secs(300))
    );
    assert_eq!(
        (RESET_COOLDOWN, RESET_ENTRY_TTL, RESET_SWEEP),
        (secs(30), secs(86_400), secs(3600))
    );
    assert_eq!(flag_key(12, 34), "12:34");
}

#[tokio::test(start_paused = true)]
async fn flag_cooldown_is_enforced_for_2_s_per_guild_moderator() {
    let flag = Cooldown::flag(Cleanup::Sweep).expect("rt");
    let key = flag_key(1, 100);
    assert_eq!(flag.check(&key), Decision::Allowed);
    assert_eq!(
        flag.check(&key),
        Decision::Limited {
            retry_after: secs(2)
        }
    );
    sleep(ms(1_999)).await;
    assert_eq!(flag.check(&key), Decision::Limited { retry_after: ms(1) });
    assert!(
        flag.check(&flag_key(2, 100)).allowed(),
        "same moderator, other guild"
    );
    assert!(
        flag.check(&flag_key(1, 101)).allowed(),
        "same guild, other moderator"
    );
    sleep(ms(1)).await;
    assert!(
        flag.check(&key).allowed(),
        "2 s after the last allowed flag"
    );
    assert!(!flag.check(&key).allowed());
}

#[tokio::test(start_paused = true)]
async fn a_limited_attempt_does_not_extend_the_cooldown() {
    let flag = Cooldown::flag(Cleanup::Sweep).expect("rt");
    assert!(flag.check("g:m").allowed());
    sleep(secs(1)).await;
    assert!(!flag.check("g:m").allowed());
    sleep(secs(1)).await;
    assert!(
        flag.check("g:m").allowed(),
        "measured from the allowed flag"
    );
}

#[tokio::test(start_paused = true)]
async fn flag_entry_is_gone_after_its_1_h_ttl_fixed_and_kept_leaky() {
    let fixed = Cooldown::flag(Cleanup::Sweep).expect("rt");
    let leaky = Cooldown::flag(Cleanup::None).expect("rt");
    for f in [&fixed, &leaky] {
        assert!(f.check("g:m").allowed());
    }
    sleep(FLAG_ENTRY_TTL - secs(1)).await;
    assert_eq!(fixed.map().len(), 1, "kept for its hour");
    sleep(secs(1) + FLAG_SWEEP).await;
    assert_eq!(fixed.map().len(), 0, "gone by the first sweep after 1 h");
    assert_eq!(leaky.map().len(), 1, "leaky: never removed");
    assert_eq!(leaky.map().live_len(), 0, "but invisible");
    // Decisions agree: both allow after the TTL.
    assert!(fixed.check("g:m").allowed() && leaky.check("g:m").allowed());
}

#[tokio::test(start_paused = true)]
async fn flag_sweep_removes_expired_and_keeps_active() {
    let flag = Cooldown::flag(Cleanup::Sweep).expect("rt");
    flag.check("old:1");
    sleep(secs(50 * 60)).await;
    flag.check("new:2");
    sleep(secs(15 * 60)).await; // 65 min: old expired at 60, swept at 60 or 65
    assert_eq!(flag.map().keys(), vec!["new:2".to_string()]);
    assert_eq!(flag.map().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn flag_sweep_on_empty_all_expired_and_all_active_maps() {
    let flag = Cooldown::flag(Cleanup::Sweep).expect("rt");
    assert_eq!(flag.map().sweep(), 0, "empty");
    // Insert at 1 min so the entries expire at 61 min, between the periodic
    // sweeps at 60 and 65 min.
    sleep(secs(60)).await;
    for m in 0..50 {
        flag.check(&flag_key(1, m));
    }
    assert_eq!(flag.map().sweep(), 0, "all active");
    assert_eq!(flag.map().len(), 50);
    sleep(FLAG_ENTRY_TTL + secs(1)).await;
    assert_eq!(flag.map().len(), 50, "expired, not yet swept");
    assert_eq!(flag.map().sweep(), 50, "all expired");
    assert!(flag.map().is_empty());
}

#[tokio::test(start_paused = true)]
async fn reset_cooldown_is_30_s_and_entries_are_kept_24_h() {
    let reset = Cooldown::modstats_reset(Cleanup::Sweep).expect("rt");
    assert!(reset.check("user").allowed());
    sleep(secs(29)).await;
    assert_eq!(
        reset.check("user"),
        Decision::Limited {
            retry_after: secs(1)
        }
    );
    sleep(secs(1)).await;
    assert!(reset.check("user").allowed());
    sleep(secs(23 * 3600)).await;
    assert_eq!(reset.map().len(), 1, "still kept after 23 h");
    sleep(secs(3600) + RESET_SWEEP).await;
    assert_eq!(reset.map().len(), 0, "gone after 24 h and one hourly sweep");
}

#[tokio::test(start_paused = true)]
async fn limiters_shut_down_clean() {
    let flag = Cooldown::flag(Cleanup::Sweep).expect("rt");
    flag.check("a");
    flag.shutdown();
    assert!(flag.map().is_empty());
    assert!(!flag.map().sweeping());
    assert_eq!(flag.cooldown(), FLAG_COOLDOWN);
}

#[tokio::test(start_paused = true)]
async fn anti_spam_flags_more_than_the_rate_limit_in_5_min() {
    let spam = AntiSpam::new(Cleanup::Sweep).expect("rt");
    for i in 0..RATE_LIMIT {
        assert_eq!(
            spam.check("g:u", &format!("message {i}")),
            SpamVerdict::Clean
        );
        sleep(secs(1)).await;
    }
    assert_eq!(spam.recent_messages("g:u"), RATE_LIMIT as usize);
    assert_eq!(spam.check("g:u", "one too many"), SpamVerdict::TooFast);
    assert_eq!(spam.violations("g:u"), 1);
    // The log slides: once the first messages are older than 5 min they no
    // longer count.
    sleep(RATE_WINDOW - secs(RATE_LIMIT) + secs(10)).await;
    assert_eq!(spam.check("g:u", "calm again"), SpamVerdict::Clean);
    assert!(spam.recent_messages("g:u") < RATE_LIMIT as usize);
}

#[tokio::test(start_paused = true)]
async fn anti_spam_flags_the_same_message_three_times_in_a_row() {
    let spam = AntiSpam::new(Cleanup::Sweep).expect("rt");
    assert_eq!(DUPLICATE_LIMIT, 3);
    assert_eq!(spam.check("g:u", "buy now"), SpamVerdict::Clean);
    assert_eq!(spam.check("g:u", "buy now"), SpamVerdict::Clean);
    assert_eq!(spam.check("g:u", "buy now"), SpamVerdict::Duplicate);
    assert_eq!(spam.check("g:u", "something else"), SpamVerdict::Clean);
    assert_eq!(spam.check("g:v", "buy now"), SpamVerdict::Clean, "per user");
    // Repeats more than 5 min apart are not duplicates.
    spam.check("g:w", "hi");
    spam.check("g:w", "hi");
    sleep(RATE_WINDOW).await;
    assert_eq!(spam.check("g:w", "hi"), SpamVerdict::Clean);
}

#[tokio::test(start_paused = true)]
async fn anti_spam_mutes_at_three_violations_within_the_hour() {
    let spam = AntiSpam::new(Cleanup::Sweep).expect("rt");
    assert_eq!(MUTE_AFTER, 3);
    let verdicts: Vec<SpamVerdict> = (0..5).map(|_| spam.check("g:u", "spam")).collect();
    use SpamVerdict::*;
    assert_eq!(verdicts, vec![Clean, Clean, Duplicate, Duplicate, Mute]);
    // Violations are forgotten after an hour.
    sleep(VIOLATION_WINDOW).await;
    assert_eq!(spam.violations("g:u"), 0);
    assert_eq!(
        spam.check("g:u", "spam"),
        Clean,
        "duplicate window expired too"
    );
}

#[tokio::test(start_paused = true)]
async fn anti_spam_maps_are_swept_fixed_and_kept_leaky() {
    let fixed = AntiSpam::new(Cleanup::Sweep).expect("rt");
    let leaky = AntiSpam::new(Cleanup::None).expect("rt");
    for s in [&fixed, &leaky] {
        for u in 0..100 {
            s.check(&format!("g:{u}"), "x");
            s.check(&format!("g:{u}"), "x");
            s.check(&format!("g:{u}"), "x"); // a violation each
        }
    }
    sleep(RATE_WINDOW + SHORT_SWEEP).await;
    assert_eq!((fixed.rate_map().len(), fixed.duplicates_len()), (0, 0));
    assert_eq!(fixed.violations_map().len(), 100, "violations last an hour");
    sleep(VIOLATION_WINDOW + VIOLATION_SWEEP).await;
    assert_eq!(fixed.violations_map().len(), 0);
    assert_eq!(fixed.sweep(), 0);
    assert_eq!(
        (
            leaky.rate_map().len(),
            leaky.duplicates_len(),
            leaky.violations_map().len()
        ),
        (100, 100, 100)
    );
    leaky.shutdown();
    assert_eq!(leaky.rate_map().len(), 0);
}

fn channel(name: &str) -> ChannelSnapshot {
    ChannelSnapshot {
        name: name.into(),
        topic: String::new(),
        parent: None,
        position: 0,
        overwrites: Vec::new(),
    }
}

fn role(name: &str) -> RoleSnapshot {
    RoleSnapshot {
        name: name.into(),
        color: 0,
        permissions: 8,
        position: 1,
    }
}

#[tokio::test(start_paused = true)]
async fn deleted_channels_and_roles_are_recoverable_for_an_hour() {
    let cache = RecoveryCache::new(Cleanup::Sweep).expect("rt");
    cache.channel_deleted(1, 10, channel("general"));
    cache.channel_deleted(1, 11, channel("rules"));
    cache.role_deleted(1, 20, role("mod"));
    sleep(RECOVERY_TTL - secs(1)).await;
    assert_eq!(cache.restore_channel(1, 10), Some(channel("general")));
    assert_eq!(cache.restore_channel(1, 10), None, "restored once");
    assert_eq!(cache.restore_channel(2, 11), None, "per guild");
    sleep(secs(1)).await;
    assert_eq!(cache.restore_channel(1, 11), None, "past the hour");
    assert_eq!(cache.restore_role(1, 20), None);
}

#[tokio::test(start_paused = true)]
async fn recovery_caches_are_swept_every_10_min_fixed_and_kept_leaky() {
    let fixed = RecoveryCache::new(Cleanup::Sweep).expect("rt");
    let leaky = RecoveryCache::new(Cleanup::None).expect("rt");
    for c in [&fixed, &leaky] {
        for i in 0..20 {
            c.channel_deleted(1, i, channel("c"));
            c.role_deleted(1, i, role("r"));
        }
    }
    sleep(secs(30 * 60)).await;
    fixed.channel_deleted(1, 99, channel("recent"));
    sleep(RECOVERY_TTL - secs(30 * 60) + RECOVERY_SWEEP).await;
    assert_eq!(fixed.channels().len(), 1, "the recent one kept");
    assert_eq!(fixed.roles().len(), 0);
    assert_eq!((leaky.channels().len(), leaky.roles().len()), (20, 20));
    fixed.shutdown();
    assert!(fixed.channels().is_empty());
}

#[tokio::test(start_paused = true)]
async fn ticket_select_lives_15_min_and_its_questions_30_min() {
    let desk = Tickets::new(Cleanup::Sweep).expect("rt");
    let labels = vec!["What happened?".to_string()];
    desk.select(1, 2, 3, labels.clone());
    assert_eq!(desk.submit(1, 2), Some((3, labels.clone())));
    assert_eq!(desk.submit(1, 2), None, "consumed");
    assert!(desk.selects().is_empty() && desk.questions().is_empty());

    desk.select(1, 5, 0, labels.clone());
    sleep(SELECT_TTL).await;
    assert_eq!(desk.selects().get("1:5"), None, "select expired at 15 min");
    assert_eq!(desk.questions().get("1:5"), Some(labels));
    assert_eq!(desk.submit(1, 5), None, "no pick, no ticket");

    desk.select(1, 6, 0, vec!["q".into()]);
    sleep(QUESTION_TTL + TICKET_SWEEP).await;
    assert_eq!((desk.selects().len(), desk.questions().len()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn abandoned_tickets_stay_in_the_leaky_maps() {
    let desk = Tickets::new(Cleanup::None).expect("rt");
    for u in 0..10 {
        desk.select(1, u, 0, vec!["q".into()]);
    }
    sleep(secs(24 * 3600)).await;
    assert_eq!((desk.selects().len(), desk.questions().len()), (10, 10));
    assert_eq!(desk.selects().live_len(), 0);
    desk.shutdown();
    assert!(desk.selects().is_empty());
}
