//! `governor-keys` over a virtual day: governor's keyed limiter with its
//! housekeeping stays within soak's default budget (1 MB/h of heap); without it
//! the heap fails and the `keys` gauge is named as what grew.
//!
//! Runs are serialised by the harness (the counting allocator is process-wide),
//! so `cargo test` may run these on parallel threads.

use outside_crate::governor_keys::GovernorKeys;
use soak_harness::{Outcome, RunConfig, Variant, Verdict};

// The one line soak needs: its counting allocator as this test binary's.
#[global_allocator]
static ALLOC: soak_harness::Counting = soak_harness::Counting::system();

fn day(variant: Variant) -> Outcome {
    let cfg = RunConfig::new().variant(variant);
    let outcome = soak_harness::run(&GovernorKeys, &cfg).expect("the scenario runs");
    let s = &outcome.summary;
    // Shown with `--nocapture`: the figures behind the verdict.
    println!(
        "{} {}: {} in {:.2} s wall; keys peak {}, at end {}; peak heap {} B",
        s.scenario,
        s.variant,
        s.message,
        s.wall_seconds,
        peak(&outcome, "keys"),
        extra(&outcome, "keys_at_end"),
        s.peak_live_bytes
    );
    outcome
}

fn extra(o: &Outcome, key: &str) -> f64 {
    o.summary
        .extras
        .get(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("summary lacks {key}"))
}

fn peak(o: &Outcome, gauge: &str) -> f64 {
    let col = o.samples.column(gauge).expect("the scenario's gauge");
    col.into_iter().fold(0.0, f64::max)
}

#[test]
fn fixed_passes() {
    let o = day(Variant::Fixed);
    o.assert_within_budget();
    // The cooldown works on virtual time: double taps are refused.
    assert!(extra(&o, "commands_limited") > 100_000.0);
    // Housekeeping bounds the map by the last minute's users (at most 60/s).
    assert!(peak(&o, "keys") < 5_000.0, "{}", peak(&o, "keys"));
    assert!(
        o.summary.grown_gauges.is_empty(),
        "{:?}",
        o.summary.grown_gauges
    );
    // Dropping the limiter stopped its housekeeping task and freed every key.
    let t = &o.summary.teardown;
    assert!(t.tasks_back && t.heap_back, "{t:?}");
}

#[test]
fn leaky_fails() {
    let o = day(Variant::Leaky);
    assert_eq!(o.verdict(), Verdict::Fail, "{}", o.summary.message);
    let heap = o
        .summary
        .resources
        .iter()
        .find(|r| r.spec.name == "heap")
        .expect("heap is judged");
    assert_eq!(heap.verdict, Verdict::Fail);
    assert!(heap.per_hour() > 1.5e6, "{}", o.summary.message);
    assert_eq!(o.summary.grown_gauges, ["keys"]);
    // Every user who ever sent a command is still there: ~28,000 new keys an hour.
    let keys = o
        .summary
        .resources
        .iter()
        .find(|r| r.spec.name == "keys")
        .expect("the gauge is reported");
    assert!(keys.per_hour() > 20_000.0, "{}", keys.per_hour());
    assert!(extra(&o, "keys_at_end") > 500_000.0);
    // The sampler's top growing site keeps this crate's frames (the call into
    // governor from src/limiter.rs), not only governor's and dashmap's.
    let site = o.summary.growth_sites.first().expect("a growing site");
    assert!(
        site.frames.iter().any(|f| f.contains("src/limiter.rs")),
        "{:#?}",
        o.summary.growth_sites
    );
}

/// dhat's top sites name this crate's code (its paths are relative: it is the
/// workspace being built), not only governor's, dashmap's or the harness's.
#[test]
fn dhat_attributes_the_leak_to_our_code() {
    let cfg = RunConfig::new()
        .variant(Variant::Leaky)
        .hours(2.0)
        .dhat(0.0);
    let o = soak_harness::run(&GovernorKeys, &cfg).expect("the scenario runs");
    let dhat = o.summary.dhat.as_ref().expect("a dhat report");
    let top = dhat.top_sites.first().expect("a top site");
    assert!(
        top.frames.iter().any(|f| f.contains("src/limiter.rs")),
        "{:#?}",
        dhat.top_sites
    );
}
