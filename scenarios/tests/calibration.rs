//! The calibration grid: the instrument recovers a known injected leak, under a
//! diurnal working set, for every seed, and judges it against the default budget.

use soak_harness::{RunConfig, Variant};
use soak_scenarios::calibration::Calibration;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

fn run(rate: f64, seed: u64, variant: Variant, hours: f64) -> soak_harness::Outcome {
    let cfg = RunConfig {
        leak_rate: rate,
        seed,
        variant,
        hours,
        ..RunConfig::default()
    };
    soak_harness::run(&Calibration, &cfg).expect("calibration runs")
}

/// ±10% of the injected rate, or ±32 KiB/h for rates up to 256 KiB/h.
fn tolerance(rate: f64) -> f64 {
    if rate <= 256.0 * KIB {
        32.0 * KIB
    } else {
        0.1 * rate
    }
}

fn check_rate(rate: f64, expect_pass: Option<bool>) {
    for seed in 1..=5 {
        let o = run(rate, seed, Variant::Fixed, 24.0);
        let s = &o.summary;
        let err = s.growth_bytes_per_hour - rate;
        assert!(
            err.abs() <= tolerance(rate),
            "seed {seed}, injected {rate} B/h: estimated {} ± {} B/h",
            s.growth_bytes_per_hour,
            s.growth_stderr_bytes_per_hour
        );
        if let Some(pass) = expect_pass {
            assert_eq!(
                o.passed(),
                pass,
                "seed {seed}, injected {rate} B/h: {}",
                s.message
            );
            if !pass {
                assert_eq!(
                    s.failed_resources,
                    vec!["heap".to_string()],
                    "{}",
                    s.message
                );
            }
        }
        match expect_pass {
            Some(true) => crate::support::no_site_past_budget(s),
            Some(false) => injector_site_within_noise(s, rate),
            None => {}
        }
        assert_eq!(s.samples, 24 * 60 + 1);
        assert!(
            s.load_events > 500_000,
            "a day of traffic: {}",
            s.load_events
        );
    }
}

/// The injected leak's site is the top growing one, its growth within three of its
/// reported standard errors (sampling noise included) of the injected rate.
fn injector_site_within_noise(s: &soak_harness::Summary, rate: f64) {
    crate::support::top_site_on(s, &["harness/src/inject.rs"]);
    let top = &s.growth_sites[0];
    let err = top.growth_bytes_per_hour - rate;
    assert!(
        err.abs() <= 3.0 * top.growth_stderr_bytes_per_hour,
        "seed {}: injector site {} ± {} B/h for {rate} B/h",
        s.seed,
        top.growth_bytes_per_hour,
        top.growth_stderr_bytes_per_hour
    );
}

/// The acceptance: `calibration --leak-rate 4MiB/h` reports the injector's site
/// within ±15% of 4 MiB/h — at the default interval for the default seed, and for
/// seeds 1–5 at 256 KiB (at 512 KiB the sampling error of this leak is ±8%, so one
/// seed in about twelve falls outside ±15%: see docs/performance.md).
#[test]
fn injector_site_within_15_percent_of_4_mib_per_hour() {
    let rate = 4.0 * MIB;
    let check = |seed: u64, sample_bytes: u64| {
        let cfg = RunConfig::new()
            .leak_rate(rate)
            .seed(seed)
            .sample_bytes(sample_bytes);
        let o = soak_harness::run(&Calibration, &cfg).expect("calibration runs");
        let s = &o.summary;
        crate::support::top_site_on(s, &["harness/src/inject.rs"]);
        let got = s.growth_sites[0].growth_bytes_per_hour;
        assert!(
            (got / rate - 1.0).abs() <= 0.15,
            "seed {seed}, every {sample_bytes} B: {got} B/h"
        );
        assert!(
            s.message.contains("% at harness/src/inject.rs:"),
            "{}",
            s.message
        );
    };
    check(1, soak_harness::sites::DEFAULT_SAMPLE_BYTES);
    for seed in 1..=5 {
        check(seed, 256 * 1024);
    }
}

#[test]
fn grid_no_leak_passes() {
    check_rate(0.0, Some(true));
}

#[test]
fn grid_256_kib_per_hour_passes() {
    check_rate(256.0 * KIB, Some(true));
}

#[test]
fn grid_512_kib_per_hour_passes() {
    check_rate(512.0 * KIB, Some(true));
}

#[test]
fn grid_1_mib_per_hour_is_measured() {
    // Just over the 1 MB/h budget: only the estimate's accuracy is asserted here.
    check_rate(MIB, None);
}

#[test]
fn grid_2_mib_per_hour_fails() {
    check_rate(2.0 * MIB, Some(false));
}

#[test]
fn grid_4_mib_per_hour_fails() {
    check_rate(4.0 * MIB, Some(false));
}

#[test]
fn grid_16_mib_per_hour_fails() {
    check_rate(16.0 * MIB, Some(false));
}

#[test]
fn leaky_twin_fails_on_heap_and_fixed_passes() {
    let leak = crate::support::leak_line("scenarios/src/calibration.rs");
    for seed in 1..=5 {
        let leaky = run(0.0, seed, Variant::Leaky, 24.0);
        // The top growing site is the line under `// LEAK:`.
        crate::support::top_site_on(&leaky.summary, &[leak.as_str()]);
        assert!(!leaky.passed(), "seed {seed}: {}", leaky.summary.message);
        assert_eq!(leaky.summary.failed_resources, vec!["heap".to_string()]);
        assert!(
            leaky.summary.grown_gauges.contains(&"retained".to_string()),
            "{:?}",
            leaky.summary.grown_gauges
        );
        // One item in fifty of ~2.2 KB at ~1M requests a day: about 1.9 MB/h.
        let g = leaky.summary.growth_bytes_per_hour;
        assert!((1.4e6..2.6e6).contains(&g), "seed {seed}: {g}");
        let fixed = run(0.0, seed, Variant::Fixed, 24.0);
        assert!(fixed.passed(), "seed {seed}: {}", fixed.summary.message);
        crate::support::no_site_past_budget(&fixed.summary);
        assert!(
            fixed.summary.grown_gauges.is_empty(),
            "{:?}",
            fixed.summary.grown_gauges
        );
    }
}

#[test]
fn same_seed_same_traffic_and_gauges_byte_for_byte() {
    let cols = |o: &soak_harness::Outcome| -> String {
        [
            "virtual_seconds",
            "load_events",
            "items",
            "item_bytes",
            "retained",
        ]
        .iter()
        .map(|c| format!("{:?}", o.samples.column(c).expect("column exists")))
        .collect()
    };
    let a = run(0.0, 7, Variant::Fixed, 6.0);
    let b = run(0.0, 7, Variant::Fixed, 6.0);
    let c = run(0.0, 8, Variant::Fixed, 6.0);
    assert_eq!(cols(&a), cols(&b));
    assert_ne!(cols(&a), cols(&c));
}

#[test]
fn daily_swing_is_large_but_not_growth() {
    let o = run(0.0, 1, Variant::Fixed, 24.0);
    let items = o.samples.column("items").expect("gauge");
    let max = items.iter().copied().fold(0.0, f64::max);
    let min = items[120..].iter().copied().fold(f64::MAX, f64::min);
    assert!(
        max > 3.0 * min,
        "the working set swings with load: {min}..{max}"
    );
    let heap = o.summary.resource("heap").expect("heap judged");
    assert!(
        heap.peak - heap.first > 10.0 * MIB,
        "heap swings by >10 MiB"
    );
    assert!(
        o.summary.growth_bytes_per_hour.abs() < 32.0 * KIB,
        "{}",
        o.summary.message
    );
}

#[test]
fn teardown_returns_to_baseline() {
    let o = run(4.0 * MIB, 1, Variant::Fixed, 3.0);
    let t = &o.summary.teardown;
    assert!(
        t.tasks_back && t.fds_back && t.heap_back && t.clean,
        "{t:?}"
    );
    // The injected leak held ~12 MiB at the end and was released.
    assert!(o.summary.final_live_bytes > t.live_bytes_after + 10 * 1024 * 1024);
}
