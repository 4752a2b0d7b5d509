//! Short runs, where a fill, a load ramp or a quiet night reads as growth: the
//! verdict is right or inconclusive, never wrong. Each case here was a wrong
//! verdict before the third answer (the grid is in docs/verdict.md).

use soak_harness::verdict::Reason;
use soak_harness::{run, Outcome, RunConfig, Scenario, Variant, Verdict};
use soak_scenarios::calibration::Calibration;
use soak_scenarios::connection_churn::ConnectionChurn;
use soak_scenarios::moderator_flood::ModeratorFlood;
use soak_scenarios::raid_burst::RaidBurst;

fn short(s: &dyn Scenario, variant: Variant, hours: f64, seed: u64) -> Outcome {
    let cfg = RunConfig::new().variant(variant).hours(hours).seed(seed);
    run(s, &cfg).expect("runs")
}

fn heap_reason(o: &Outcome) -> Option<Reason> {
    o.summary.resource("heap").and_then(|r| r.reason)
}

#[test]
fn moderator_flood_fixed_1h_is_inconclusive_not_a_leak() {
    // Was: fail, 2.19 MiB/h ± 0.9 (the cooldown maps filling their first hour).
    let o = short(&ModeratorFlood, Variant::Fixed, 1.0, 5);
    assert_eq!(o.verdict(), Verdict::Inconclusive, "{}", o.summary.message);
    assert!(
        matches!(heap_reason(&o), Some(Reason::Retention { retention_hours, .. }) if retention_hours == 24.0),
        "{:?}",
        heap_reason(&o)
    );
    assert!(
        o.summary.message.contains("run ≥ 24 h"),
        "{}",
        o.summary.message
    );
}

#[test]
fn connection_churn_leaky_2h_does_not_pass() {
    // Was: pass (half-open clients are reaped by no one, but in two hours the
    // fixed server's 25-minute heartbeat has barely begun to differ, and the
    // night's falling load hides the rest).
    let o = short(&ConnectionChurn, Variant::Leaky, 2.0, 5);
    assert_eq!(o.verdict(), Verdict::Inconclusive, "{}", o.summary.message);
    assert!(
        matches!(heap_reason(&o), Some(Reason::Collinear { vif, .. }) if vif > 10.0),
        "{:?}",
        heap_reason(&o)
    );
}

#[test]
fn raid_burst_fixed_2h_is_not_a_leak_and_the_leaky_one_is() {
    // Was: fail, 1.48 MiB/h ± 0.5 (the first raid's maps filling). The warm-up
    // now waits out the caches' 1-hour retention.
    let fixed = short(&RaidBurst, Variant::Fixed, 2.0, 5);
    assert_ne!(fixed.verdict(), Verdict::Fail, "{}", fixed.summary.message);
    assert_eq!(fixed.summary.warmup_hours, 1.0);
    let leaky = short(&RaidBurst, Variant::Leaky, 2.0, 5);
    assert_eq!(leaky.verdict(), Verdict::Fail, "{}", leaky.summary.message);
}

#[test]
fn calibration_leaky_at_night_does_not_pass() {
    // Was: pass at 0.69 MiB/h — the leak is one item in fifty, so at night's low
    // load it truly grows under the budget; the day's peak is still to come.
    let o = short(&Calibration, Variant::Leaky, 4.0, 1);
    assert_eq!(o.verdict(), Verdict::Inconclusive, "{}", o.summary.message);
    assert!(
        matches!(heap_reason(&o), Some(Reason::LoadNotCovered { .. })),
        "{:?}",
        heap_reason(&o)
    );
}

#[test]
fn calibration_2h_with_2_mib_per_hour_injected_never_passes() {
    // Issue acceptance: fails within ±15% of the injected rate, or is inconclusive.
    for seed in 1..=5 {
        let cfg = RunConfig::new()
            .hours(2.0)
            .seed(seed)
            .leak_rate(2.0 * 1024.0 * 1024.0);
        let o = run(&Calibration, &cfg).expect("runs");
        let s = &o.summary;
        match o.verdict() {
            Verdict::Fail => {
                let err = s.growth_bytes_per_hour / cfg.leak_rate - 1.0;
                assert!(err.abs() <= 0.15, "seed {seed}: {}", s.message);
            }
            Verdict::Inconclusive => {}
            v => panic!("seed {seed}: {v}: {}", s.message),
        }
    }
}

#[test]
fn hours_auto_passes_the_fixed_twin_and_fails_the_leaky_one_early() {
    for (variant, want) in [
        (Variant::Fixed, Verdict::Pass),
        (Variant::Leaky, Verdict::Fail),
    ] {
        let cfg = RunConfig::new().variant(variant).seed(3).auto(72.0);
        let o = run(&RaidBurst, &cfg).expect("runs");
        let s = &o.summary;
        assert_eq!(o.verdict(), want, "{variant}: {}", s.message);
        assert!(s.virtual_hours <= 4.0, "{variant}: {} h", s.virtual_hours);
        assert!(s.auto.is_some_and(|a| a.settled && a.looks == 72));
    }
}
