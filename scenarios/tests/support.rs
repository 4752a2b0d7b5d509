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

/// Fixed variants: the sampler ran (on by default) and no allocation site grows
/// past the heap budget on its own.
pub fn no_site_past_budget(s: &Summary) {
    let sampling = s
        .site_sampling
        .as_ref()
        .expect("site sampling is on by default");
    assert!(
        sampling.samples > 0,
        "{} seed {}: no samples",
        s.scenario,
        s.seed
    );
    let past: Vec<String> = s
        .growth_sites
        .iter()
        .filter(|g| g.past_budget)
        .map(|g| format!("{:.0} B/h at {:?}", g.growth_bytes_per_hour, g.frames))
        .collect();
    assert!(
        past.is_empty(),
        "{} seed {}: sites past budget: {past:?}",
        s.scenario,
        s.seed
    );
}

/// Leaky variants: the fastest-growing allocation site is on the leaking code
/// path: one of its frames contains one of `path` (a file, or `file:line`).
pub fn top_site_on(s: &Summary, path: &[&str]) {
    let top = s.growth_sites.first().expect("sites were sampled");
    assert!(
        top.growth_bytes_per_hour > 0.0,
        "{} seed {}: top site does not grow: {top:?}",
        s.scenario,
        s.seed
    );
    assert!(
        top.frames
            .iter()
            .any(|f| path.iter().any(|p| f.contains(p))),
        "{} seed {}: top site {:?} is not on {path:?}; sites: {:#?}",
        s.scenario,
        s.seed,
        top.frames,
        s.growth_sites.iter().take(3).collect::<Vec<_>>()
    );
}

/// `path:line` of the first code line after the `// LEAK:` comment in `file`
/// (relative to the workspace root), read from the source so the test follows
/// edits.
pub fn leak_line(file: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(file)).expect("source file");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with("// LEAK:"))
        .expect("a // LEAK: comment");
    let code = (start..lines.len())
        .find(|&i| !lines[i].trim_start().starts_with("//"))
        .expect("code after the comment");
    format!("{file}:{}", code + 1)
}
