//! `moderator-flood` for seeds 1–5 over 24 virtual hours: the fixed limiters and
//! trackers pass, the leaky twins fail on heap with the anti-spam maps named.

use soak_harness::{Outcome, Variant};
use soak_scenarios::moderator_flood::ModeratorFlood;

use crate::support;

const GAUGES: [&str; 5] = [
    "flag_cooldowns",
    "reset_cooldowns",
    "spam_rate",
    "spam_duplicates",
    "spam_violations",
];

fn peak(o: &Outcome, gauge: &str) -> f64 {
    let col = o.samples.column(gauge).expect("one column per map");
    col.into_iter().fold(0.0, f64::max)
}

#[test]
fn fixed_passes_for_seeds_1_to_5() {
    for seed in 1..=5 {
        let o = support::day(&ModeratorFlood, Variant::Fixed, seed);
        let s = &o.summary;
        assert!(o.passed(), "seed {seed}: {}", s.message);
        assert!(
            s.failed_resources.is_empty(),
            "seed {seed}: {:?}",
            s.failed_resources
        );
        assert!(
            s.growth_bytes_per_hour < 0.25e6,
            "seed {seed}: {}",
            s.message
        );
        // Only the 24 h reset map may fill for the whole 24 h run, and it stays small.
        assert!(
            s.grown_gauges.iter().all(|g| g == "reset_cooldowns"),
            "seed {seed}: {:?}",
            s.grown_gauges
        );
        assert!(peak(&o, "reset_cooldowns") < 2_000.0, "seed {seed}");
        // Every other map is bounded by its TTL: the users of 5 minutes, the
        // moderators of an hour.
        assert!(
            peak(&o, "spam_rate") < 15_000.0,
            "seed {seed}: {}",
            peak(&o, "spam_rate")
        );
        assert!(peak(&o, "flag_cooldowns") < 20_000.0, "seed {seed}");
        // The floods hit the 2 s cooldown, the brute force the 30 s one.
        assert!(
            support::extra(&o.summary, "flags_limited") > 10_000.0,
            "seed {seed}"
        );
        assert!(
            support::extra(&o.summary, "resets_limited") > 500.0,
            "seed {seed}"
        );
        assert!(
            support::extra(&o.summary, "spam_mutes") > 1_000.0,
            "seed {seed}"
        );
        assert!(s.teardown.clean, "seed {seed}: {:?}", s.teardown);
        support::no_site_past_budget(s);
        assert!(s.teardown.gauges_after.values().all(|&v| v == 0.0));
        for g in GAUGES {
            assert!(o.samples.column(g).is_some(), "gauge {g}");
        }
    }
}

#[test]
fn leaky_fails_on_heap_naming_the_anti_spam_maps_for_seeds_1_to_5() {
    for seed in 1..=5 {
        let o = support::day(&ModeratorFlood, Variant::Leaky, seed);
        let s = &o.summary;
        // Well past 1 MB/h.
        support::fails_on_heap_naming(
            s,
            3e6,
            &[
                "spam_rate",
                "spam_duplicates",
                "spam_violations",
                "flag_cooldowns",
            ],
        );
        // The bytes grow where the never-swept maps insert.
        support::top_site_on(
            s,
            &["components/src/ttl_map.rs", "components/src/rate_limit/"],
        );
        // One answer: the function that owns the growth of every map's stacks.
        if seed <= 3 {
            support::names_the_owner(s, 0.7);
        }
        assert!(s.message.contains("% at components/src/"), "{}", s.message);
        assert!(s.message.contains("spam_rate"), "{}", s.message);
        // Every speaker of the day is still held.
        assert!(peak(&o, "spam_rate") > 300_000.0, "seed {seed}");
        // The leak is in memory only: the limiters decided the same.
        assert!(
            support::extra(&o.summary, "flags_limited") > 10_000.0,
            "seed {seed}"
        );
    }
}
