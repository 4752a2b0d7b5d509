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

/// Leaky variants that fail on heap alone, past `min_growth` bytes per hour, with
/// every one of `gauges` among those that grew and the message saying so.
pub fn fails_on_heap_naming(s: &Summary, min_growth: f64, gauges: &[&str]) {
    let seed = s.seed;
    assert_eq!(
        s.verdict,
        soak_harness::Verdict::Fail,
        "seed {seed}: {}",
        s.message
    );
    assert_eq!(s.failed_resources, vec!["heap".to_string()], "seed {seed}");
    assert!(
        s.growth_bytes_per_hour > min_growth,
        "seed {seed}: {}",
        s.message
    );
    for g in gauges {
        assert!(
            s.grown_gauges.iter().any(|x| x == g),
            "seed {seed}: {g} in {:?}",
            s.grown_gauges
        );
    }
    assert!(s.message.contains("heap grew"), "{}", s.message);
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

/// Leaky variants: the failing heap's line names the frame that owns the growth
/// with the total share of the sites it owns (at least `min`), and no two saved
/// sites — the chart's legend, `soak sites` — read the same.
pub fn names_the_owner(s: &Summary, min: f64) {
    let owner = s.growth_owners.first().expect("sites group by owner");
    let share = owner.share_of_heap_growth.expect("the heap grew");
    assert!(
        share >= min,
        "{} seed {}: {:.0}% at {}: {:#?}",
        s.scenario,
        s.seed,
        share * 100.0,
        owner.place,
        s.growth_owners
    );
    // Shown capped at 100% (the owner's fit and the heap's are two estimates).
    let line = format!(" — {:.0}% at {}", share.min(1.0) * 100.0, owner.place);
    assert!(s.message.contains(&line), "{line} in {}", s.message);
    let mut labels: Vec<&str> = s.growth_sites.iter().map(|g| g.label.as_str()).collect();
    assert!(labels.iter().all(|l| !l.is_empty()), "{labels:?}");
    labels.sort_unstable();
    let n = labels.len();
    labels.dedup();
    assert_eq!(
        labels.len(),
        n,
        "{} seed {}: {labels:?}",
        s.scenario,
        s.seed
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
