//! Baselines and regression: "did this get worse than last night?", answered per
//! budgeted resource from the growth estimates and their uncertainty, even while
//! every resource is still under its absolute budget.
//!
//! A baseline is a report tree (a `--out` root, or a copy of one written by
//! `--save-baseline`): every directory below it holding a `summary.json` is a run
//! (reading and saving trees is [`crate::report::tree`]'s). A current run is
//! compared with the baseline run of the same scenario and variant, preferring the
//! same seed and the same length ([`crate::report::tree::Tree::baseline_for`]).
//!
//! # The rule
//!
//! For each budgeted resource (heap, tasks, descriptors, budgeted gauges) with an
//! estimate on both sides, let `Δ = new − old` be the change of the whole-window
//! growth estimate and `σ = sqrt(σ_old² + σ_new²)` its combined standard error. It is
//! a **regression** when
//!
//! ```text
//! Δ > max(floor, z · σ)
//! ```
//!
//! - `z` = [`DEFAULT_Z`] = 3: a one-sided 3σ test has a 0.13% false-alarm rate per
//!   comparison if the standard errors are right; a night compares about a hundred
//!   resources, so 2σ (2.3% each) would cry wolf most nights while 3σ keeps the σ
//!   part alone to roughly one false alarm in ten nights — and the floor below
//!   removes most of those.
//! - The floor exists because the standard error describes noise *within* one run,
//!   not the spread between seeds or between builds (a different seed is a
//!   different day of traffic; a fixed subject's estimate moves by more than its
//!   σ from seed to seed). For heap it defaults to 128 KiB/h ([`DEFAULT_HEAP_FLOOR`],
//!   an eighth of the 1 MB/h default budget, and several times the seed-to-seed
//!   spread measured on the fixed scenarios; see docs/ci.md); for counts (tasks,
//!   descriptors, gauges) to 0.5 per hour ([`DEFAULT_COUNT_FLOOR`]), half of their
//!   default budget of 1 per hour. Both are configurable (`--regression-floor`,
//!   `--regression-count-floor`).
//!
//! The whole-window estimate is compared, not the late-half one: it is the estimate
//! the verdict is built on, and its standard error is about half the late half's
//! (the hinge fit spends a parameter and half the window), so the same floor
//! catches smaller changes with fewer false alarms. A resource whose baseline
//! already failed its budget (a leak's run, or a leaky variant's) is compared with
//! a wider margin: a rise counts past [`FAILED_BASE_SHARE`] of the baseline's rate
//! too, as a leak's growth varies from seed to seed by more than any floor; its
//! fall is what a fix's run against the leak's shows (`soak compare` says the
//! baseline failed and what the run is now).

use serde::Serialize;

use crate::summary::Summary;
use crate::units::bytes_text;
use crate::Error;

/// Default heap regression floor: 128 KiB per virtual hour.
pub const DEFAULT_HEAP_FLOOR: f64 = 128.0 * 1024.0;
/// Default regression floor for counted resources (tasks, fds, gauges), per hour.
pub const DEFAULT_COUNT_FLOOR: f64 = 0.5;
/// Default number of combined standard errors a rise must clear.
pub const DEFAULT_Z: f64 = 3.0;
/// The share of a failed baseline's rate a rise must also clear: a leak's growth
/// varies from seed to seed by more than any floor.
pub const FAILED_BASE_SHARE: f64 = 0.5;

/// The verdict of a summary or resource as its lowercase word (`pass`, `fail`,
/// `info`, `inconclusive`, …), whatever type holds it.
pub fn verdict_word<T: Serialize + ?Sized>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "unknown".to_string(),
    }
}

/// What counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Smallest rise that counts for byte-valued resources (heap), bytes per hour.
    pub heap_floor: f64,
    /// Smallest rise that counts for counted resources, per hour.
    pub count_floor: f64,
    /// Combined standard errors a rise must clear.
    pub z: f64,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            heap_floor: DEFAULT_HEAP_FLOOR,
            count_floor: DEFAULT_COUNT_FLOOR,
            z: DEFAULT_Z,
        }
    }
}

impl Rule {
    /// The floor for a resource measured in `unit`.
    pub fn floor(&self, unit: &str) -> f64 {
        if unit == "bytes" {
            self.heap_floor
        } else {
            self.count_floor
        }
    }

    /// Checks the values (from the command line) are usable.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.z.is_finite() && self.z >= 0.0) {
            return Err(Error::Usage(format!(
                "--regression-z must be a non-negative number of standard errors, got {}",
                self.z
            )));
        }
        if !(self.count_floor.is_finite() && self.count_floor >= 0.0) {
            return Err(Error::Usage(format!(
                "--regression-count-floor must be a non-negative count per hour, got {}",
                self.count_floor
            )));
        }
        Ok(())
    }
}

/// `scenario/variant seed N`; a live run named apart from its variant,
/// `scenario/name (variant) seed N`.
pub fn label(s: &Summary) -> String {
    match &s.name {
        Some(_) => format!("{} ({}) seed {}", s.run_name(), s.variant, s.seed),
        None => format!("{}/{} seed {}", s.scenario, s.variant, s.seed),
    }
}

/// The comparison of one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Resource name (`heap`, `tasks`, a gauge).
    pub resource: String,
    /// Its unit (`bytes`, `tasks`, `fds`, `count`).
    pub unit: String,
    /// Baseline growth per hour.
    pub old: f64,
    /// Its standard error.
    pub old_err: f64,
    /// Current growth per hour.
    pub new: f64,
    /// Its standard error.
    pub new_err: f64,
    /// The floor applied.
    pub floor: f64,
    /// The combined standard error `sqrt(old_err² + new_err²)`.
    pub sigma: f64,
    /// The rise that counts: `max(floor, z·sigma)`.
    pub limit: f64,
    /// `new − old > limit`.
    pub regression: bool,
    /// The baseline failed its budget on this resource (the limit is then at
    /// least [`FAILED_BASE_SHARE`] of its rate).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub baseline_failed: bool,
    /// The hour the rates are per: `h` (virtual) or `wall h` (a live run's).
    #[serde(skip)]
    pub per: &'static str,
}

impl Change {
    /// `new − old`.
    pub fn delta(&self) -> f64 {
        self.new - self.old
    }

    /// The change in combined standard errors (0 when σ is 0 and nothing changed).
    pub fn sigmas(&self) -> f64 {
        if self.sigma > 0.0 {
            self.delta() / self.sigma
        } else if self.delta() == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(self.delta())
        }
    }

    /// `+400.1 KiB/h (88σ)`: the change in the resource's unit.
    pub fn delta_text(&self) -> String {
        let sign = if self.delta() >= 0.0 { "+" } else { "−" };
        let s = self.sigmas();
        let sig = if s.is_finite() {
            format!("{sign}{:.1}σ", s.abs())
        } else {
            "∞σ".to_string()
        };
        format!("{sign}{} ({sig})", self.rate(self.delta().abs()))
    }

    /// A per-hour amount of this resource, on the run's clock.
    pub fn rate(&self, v: f64) -> String {
        rate(v, &self.unit, self.per)
    }
}

/// A per-hour amount in the resource's unit.
/// `per` is the hour: `h` (virtual) or `wall h` ([`TimeBase::per_hour`]).
pub fn rate(v: f64, unit: &str, per: &str) -> String {
    if unit == "bytes" {
        format!("{}/{per}", bytes_text(v))
    } else if unit == "count" {
        format!("{v:.2}/{per}")
    } else {
        format!("{v:.2} {unit}/{per}")
    }
}

/// One current run against its baseline run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunComparison {
    /// Scenario.
    pub scenario: String,
    /// Variant.
    pub variant: String,
    /// Current seed.
    pub seed: u64,
    /// The baseline run's seed.
    pub base_seed: u64,
    /// The baseline run's directory, relative to the baseline root.
    pub base_rel: String,
    /// Per budgeted resource.
    pub changes: Vec<Change>,
    /// Settings that differ between the two runs (hours, budgets), for the reader.
    pub notes: Vec<String>,
}

impl RunComparison {
    /// The resources that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.regression)
    }

    /// Whether any resource regressed.
    pub fn regressed(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// The change of the run's judged memory, if compared: its budgeted resource
    /// counted in bytes — `heap` (a replay, or a live run's preloaded or linked
    /// counter), `js_heap` (a live Node target), or `rss` when it holds the
    /// budget. Every other budgeted resource is a count.
    pub fn memory(&self) -> Option<&Change> {
        self.changes.iter().find(|c| c.unit == "bytes")
    }

    /// One line per regressed resource, naming scenario, resource, old and new rate.
    pub fn messages(&self, rule: &Rule) -> Vec<String> {
        self.regressions()
            .map(|c| {
                // A baseline that failed widens the margin by half its rate.
                let failed = if c.baseline_failed {
                    format!(
                        ", half the failed baseline's rate = {}",
                        c.rate(FAILED_BASE_SHARE * c.old.abs())
                    )
                } else {
                    String::new()
                };
                format!(
                    "regression: {}/{} seed {}: {} grows {} ± {} against {} ± {} in the baseline \
                     (seed {}): a rise of {}, more than max(floor {}, {}σ = {}{failed})",
                    self.scenario,
                    self.variant,
                    self.seed,
                    c.resource,
                    c.rate(c.new),
                    c.rate(c.new_err),
                    c.rate(c.old),
                    c.rate(c.old_err),
                    self.base_seed,
                    c.delta_text(),
                    c.rate(c.floor),
                    rule.z,
                    c.rate(rule.z * c.sigma),
                )
            })
            .collect()
    }
}

/// Compares `current` with the baseline run `base` (found at `base_rel` in its
/// tree) resource by resource under `rule`.
pub fn compare(base: &Summary, base_rel: &str, current: &Summary, rule: &Rule) -> RunComparison {
    let b = base;
    let per = current.time_base.per_hour();
    let mut changes = Vec::new();
    let mut failed_before = Vec::new();
    for r in &current.resources {
        let Some(_) = r.spec.budget_per_hour else {
            continue;
        };
        let Some(new) = r.estimate else { continue };
        let Some(old_r) = b.resource(&r.spec.name) else {
            continue;
        };
        let Some(old) = old_r.estimate else { continue };
        let baseline_failed = verdict_word(&old_r.verdict) == "fail";
        if baseline_failed {
            failed_before.push(format!(
                "{} {} → {} ({} now)",
                r.spec.name,
                rate(old.per_hour, &r.spec.unit, per),
                rate(new.per_hour, &r.spec.unit, per),
                verdict_word(&r.verdict)
            ));
        }
        let floor = rule.floor(&r.spec.unit);
        let sigma = (old.stderr.powi(2) + new.stderr.powi(2)).sqrt();
        let mut limit = floor.max(rule.z * sigma);
        if baseline_failed {
            limit = limit.max(FAILED_BASE_SHARE * old.per_hour.abs());
        }
        changes.push(Change {
            resource: r.spec.name.clone(),
            unit: r.spec.unit.clone(),
            old: old.per_hour,
            old_err: old.stderr,
            new: new.per_hour,
            new_err: new.stderr,
            floor,
            sigma,
            limit,
            regression: new.per_hour - old.per_hour > limit,
            baseline_failed,
            per,
        });
    }
    let mut notes = Vec::new();
    if !failed_before.is_empty() {
        notes.push(format!(
            "failed its budget in the baseline already (a rise counts past half its rate): {}",
            failed_before.join(", ")
        ));
    }
    if !b.same_length(current) {
        notes.push(format!(
            "baseline ran {}, this run {}",
            b.length_text(),
            current.length_text()
        ));
    }
    if b.threshold_bytes_per_hour != current.threshold_bytes_per_hour {
        notes.push(format!(
            "heap budget changed: {} → {}",
            rate(b.threshold_bytes_per_hour, "bytes", per),
            rate(current.threshold_bytes_per_hour, "bytes", per)
        ));
    }
    if b.injected_leak_bytes_per_hour != current.injected_leak_bytes_per_hour {
        notes.push(format!(
            "injected leak: {} → {}",
            rate(b.injected_leak_bytes_per_hour, "bytes", per),
            rate(current.injected_leak_bytes_per_hour, "bytes", per)
        ));
    }
    RunComparison {
        scenario: current.scenario.clone(),
        variant: current.variant.to_string(),
        seed: current.seed,
        base_seed: b.seed,
        base_rel: base_rel.to_string(),
        changes,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(resource: &str, unit: &str) -> Change {
        Change {
            resource: resource.into(),
            unit: unit.into(),
            old: 1.0,
            old_err: 0.1,
            new: 1.5,
            new_err: 0.1,
            floor: 0.5,
            sigma: 0.14,
            limit: 0.5,
            regression: false,
            baseline_failed: false,
            per: "wall h",
        }
    }

    #[test]
    fn the_memory_compared_is_whichever_resource_holds_the_byte_budget() {
        let mut c = RunComparison {
            scenario: "live-cooldowns".into(),
            variant: "fixed".into(),
            seed: 1,
            base_seed: 1,
            base_rel: "live-cooldowns/fixed".into(),
            changes: vec![change("tasks", "tasks"), change("js_heap", "bytes")],
            notes: vec![],
        };
        // A Node target's run: its JS heap, not "heap not compared".
        assert_eq!(c.memory().map(|m| m.resource.as_str()), Some("js_heap"));
        // On the run's clock: a live run's hours are wall hours.
        let m = c.memory().expect("js_heap");
        assert_eq!(m.delta_text(), "+0 B/wall h (+3.6σ)");
        c.changes = vec![change("fds", "fds")];
        assert!(c.memory().is_none());
    }

    /// A summary holding one `js_heap` resource with this verdict and growth.
    fn with_js_heap(verdict: &str, per_hour: f64) -> Summary {
        let mut s = crate::summary::tests::summary();
        let r = serde_json::json!({
            "name": "js_heap", "column": "js_heap_bytes", "unit": "bytes",
            "budget_per_hour": 1e6, "gauge": false,
            "estimate": {
                "per_hour": per_hour, "stderr": 1e4, "late_per_hour": per_hour,
                "late_stderr": 2e4, "from_hours": 0.1, "to_hours": 1.0,
                "trend_start": 0.1, "points": 60
            },
            "verdict": verdict, "first": 0.0, "last": 0.0, "peak": 0.0
        });
        s.resources = vec![serde_json::from_value(r).expect("a resource verdict")];
        s
    }

    /// A resource the baseline already failed is compared with a margin of half
    /// its rate: a fix's run against the leak's shows the fall, a rise past the
    /// margin is a regression, the seed-to-seed spread of a leak is not.
    #[test]
    fn a_resource_that_failed_in_the_baseline_is_compared_with_a_wider_margin() {
        let rule = Rule::default();
        let c = compare(
            &with_js_heap("fail", 9e7),
            "b",
            &with_js_heap("fail", 9e7),
            &rule,
        );
        let m = c.memory().expect("compared");
        assert!(m.baseline_failed && !c.regressed(), "{m:?}");
        assert_eq!(
            c.notes,
            [
                "failed its budget in the baseline already (a rise counts past half its rate): \
              js_heap 85.83 MiB/h → 85.83 MiB/h (fail now)"
            ]
        );
        // A fix's run against the leak's: the fall, and its verdict now.
        let c = compare(
            &with_js_heap("fail", 9e7),
            "b",
            &with_js_heap("pass", 1e5),
            &rule,
        );
        assert!(!c.regressed());
        assert!(c.memory().expect("compared").delta() < 0.0);
        assert_eq!(
            c.notes,
            [
                "failed its budget in the baseline already (a rise counts past half its rate): \
              js_heap 85.83 MiB/h → 97.7 KiB/h (pass now)"
            ]
        );
        // A leak a third faster: within a leak's spread. Twice as fast: a regression.
        let faster = |per_hour| {
            compare(
                &with_js_heap("fail", 9e7),
                "b",
                &with_js_heap("fail", per_hour),
                &rule,
            )
        };
        assert!(!faster(1.2e8).regressed());
        let twice = faster(1.8e8);
        assert!(twice.regressed());
        let said = twice.messages(&rule).join("\n");
        assert!(
            said.ends_with(", half the failed baseline's rate = 42.92 MiB/h)"),
            "{said}"
        );
        // A baseline that passed: compared as ever, no note.
        let c = compare(
            &with_js_heap("pass", 1e5),
            "b",
            &with_js_heap("fail", 9e7),
            &rule,
        );
        assert!(c.regressed(), "{:?}", c.changes);
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }
}
