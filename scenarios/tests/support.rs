//! Helpers shared by the scenario tests: one virtual day of a scenario, and the
//! scenario facts it put in the summary.

use soak_harness::Summary;
use soak_harness::{Outcome, RunConfig, Scenario, Variant};

/// 24 virtual hours of `scenario` with default budgets, no files written.
pub fn day(scenario: &dyn Scenario, variant: Variant, seed: u64) -> Outcome {
    let cfg = RunConfig {
        variant,
        seed,
        hours: 24.0,
        ..RunConfig::default()
    };
    soak_harness::run(scenario, &cfg).expect("the scenario runs")
}

/// A numeric top-level summary field the scenario set (`peak_connections`, ...).
pub fn extra(s: &Summary, key: &str) -> f64 {
    s.extras
        .get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("summary lacks {key}"))
}
