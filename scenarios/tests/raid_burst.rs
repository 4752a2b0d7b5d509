//! `raid-burst` for seeds 1–5 over 24 virtual hours: the fixed caches drain after
//! every raid and pass; the leaky ones keep every raider and fail on heap.

use soak_harness::{Outcome, Variant};
use soak_scenarios::raid_burst::RaidBurst;

use crate::support;

const GAUGES: [&str; 7] = [
    "spam_rate",
    "spam_duplicates",
    "spam_violations",
    "deleted_channels",
    "deleted_roles",
    "ticket_selects",
    "ticket_questions",
];

fn column(o: &Outcome, gauge: &str) -> Vec<f64> {
    o.samples.column(gauge).expect("one column per map")
}

#[test]
fn fixed_passes_for_seeds_1_to_5() {
    for seed in 1..=5 {
        let o = support::day(&RaidBurst, Variant::Fixed, seed);
        let s = &o.summary;
        assert!(o.passed(), "seed {seed}: {}", s.message);
        assert!(s.failed_resources.is_empty(), "seed {seed}");
        support::no_site_past_budget(s);
        assert!(
            s.grown_gauges.is_empty(),
            "seed {seed}: {:?}",
            s.grown_gauges
        );
        assert!(
            s.growth_bytes_per_hour < 0.25e6,
            "seed {seed}: {}",
            s.message
        );
        // Raids (01:30, 04:30, ..., 22:30) fill the maps, the sweeps drain them:
        // at 22:25, ~3 h after the 19:30 raid, its entries are gone.
        let at = 22 * 60 + 25;
        let selects = column(&o, "ticket_selects");
        let max = selects.iter().copied().fold(0.0, f64::max);
        assert!(max > 2_000.0, "seed {seed}: the ticket flood shows: {max}");
        assert!(selects[at] < 100.0, "seed {seed}: {}", selects[at]);
        assert!(column(&o, "spam_violations")[at] < 100.0, "seed {seed}");
        assert!(column(&o, "deleted_channels")[at] < 100.0, "seed {seed}");
        assert!(
            support::extra(&o.summary, "spam_mutes") > 10_000.0,
            "seed {seed}"
        );
        assert!(
            support::extra(&o.summary, "restored") > 500.0,
            "seed {seed}"
        );
        assert!(s.teardown.clean, "seed {seed}: {:?}", s.teardown);
        for g in GAUGES {
            assert!(o.samples.column(g).is_some(), "gauge {g}");
        }
    }
}

#[test]
fn leaky_fails_on_heap_naming_the_raid_maps_for_seeds_1_to_5() {
    for seed in 1..=5 {
        let o = support::day(&RaidBurst, Variant::Leaky, seed);
        let s = &o.summary;
        support::fails_on_heap_naming(
            s,
            3e6,
            &[
                "spam_rate",
                "spam_violations",
                "ticket_selects",
                "deleted_channels",
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
        // Eight raids of 6,000 abandoned tickets' worth of selects, all still held.
        let selects = column(&o, "ticket_selects");
        assert!(selects[selects.len() - 1] > 15_000.0, "seed {seed}");
    }
}
