//! Measures the regression rule's margins (docs/ci.md): for each scenario given
//! (default: calibration and moderator-flood), the fixed variant at seed 1 is the
//! baseline; the fixed variant at seeds 2–11 must not regress (false-regression
//! margin: limit − Δ), and the same runs with a 400 KiB/h injected leak must
//! (detection margin: Δ − limit). Both the whole-window and the late-half estimates
//! are shown, to justify comparing the whole-window one.
//!
//! `cargo run --release --example regression_margin [-- SCENARIO…]`

use soak_harness::baseline::{self, Rule};
use soak_harness::summary::Summary;
use soak_harness::{RunConfig, Variant};

#[global_allocator]
static A: soak_harness::Counting = soak_harness::Counting::system();

const KIB: f64 = 1024.0;
const LEAK: f64 = 400.0 * KIB;

fn day(s: &dyn soak_harness::Scenario, seed: u64, leak: f64) -> Summary {
    let cfg = RunConfig {
        variant: Variant::Fixed,
        seed,
        leak_rate: leak,
        ..RunConfig::default()
    };
    soak_harness::run(s, &cfg).expect("runs").summary
}

fn main() {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    let wanted = if wanted.is_empty() {
        vec!["calibration".to_string(), "moderator-flood".to_string()]
    } else {
        wanted
    };
    let rule = Rule::default();
    for s in soak_scenarios::all() {
        if !wanted.iter().any(|w| w == s.name()) {
            continue;
        }
        let base = day(s.as_ref(), 1, 0.0);
        let bh = base
            .resource("heap")
            .and_then(|r| r.estimate)
            .expect("heap");
        println!(
            "{}: baseline seed 1 heap {:.1} ± {:.1} KiB/h (late {:.1} ± {:.1})",
            s.name(),
            bh.per_hour / KIB,
            bh.stderr / KIB,
            bh.late_per_hour / KIB,
            bh.late_stderr / KIB
        );
        println!(
            "seed  leak   new KiB/h  Δ KiB/h  σ KiB/h  limit KiB/h  margin KiB/h  regress | late: Δ  σ  3σ-limit"
        );
        let (mut min_fixed, mut min_leak) = (f64::INFINITY, f64::INFINITY);
        let (mut late_min_fixed, mut late_min_leak) = (f64::INFINITY, f64::INFINITY);
        for seed in 2..=11 {
            for leak in [0.0, LEAK] {
                let cur = day(s.as_ref(), seed, leak);
                let c = baseline::compare(&base, "", &cur, &rule);
                let h = c.memory().expect("heap compared").clone();
                let margin = if leak == 0.0 {
                    h.limit - h.delta()
                } else {
                    h.delta() - h.limit
                };
                let e = cur.resource("heap").and_then(|r| r.estimate).expect("heap");
                let late_d = e.late_per_hour - bh.late_per_hour;
                let late_s = (e.late_stderr.powi(2) + bh.late_stderr.powi(2)).sqrt();
                let late_limit = rule.heap_floor.max(rule.z * late_s);
                let late_margin = if leak == 0.0 {
                    late_limit - late_d
                } else {
                    late_d - late_limit
                };
                if leak == 0.0 {
                    min_fixed = min_fixed.min(margin);
                    late_min_fixed = late_min_fixed.min(late_margin);
                } else {
                    min_leak = min_leak.min(margin);
                    late_min_leak = late_min_leak.min(late_margin);
                }
                let other: Vec<String> = c
                    .regressions()
                    .filter(|r| r.resource != "heap")
                    .map(|r| r.resource.clone())
                    .collect();
                println!(
                    "{seed:>4}  {:>4}  {:>9.1}  {:>7.1}  {:>7.1}  {:>11.1}  {:>12.1}  {:>7} | {:>7.1} {:>6.1} {:>7.1} {}",
                    if leak > 0.0 { "400K" } else { "0" },
                    h.new / KIB,
                    h.delta() / KIB,
                    h.sigma / KIB,
                    h.limit / KIB,
                    margin / KIB,
                    c.regressed(),
                    late_d / KIB,
                    late_s / KIB,
                    late_limit / KIB,
                    if other.is_empty() { String::new() } else { format!("other regressions: {other:?}") }
                );
            }
        }
        println!(
            "{}: smallest false-regression margin {:.1} KiB/h, smallest detection margin {:.1} KiB/h \
             (late half: {:.1} and {:.1})\n",
            s.name(),
            min_fixed / KIB,
            min_leak / KIB,
            late_min_fixed / KIB,
            late_min_leak / KIB
        );
    }
}
