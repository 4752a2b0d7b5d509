//! From samples to a verdict: which resources are judged against which budgets
//! ([`resource_specs`]), each resource's verdict ([`analyse`]), the run's verdict
//! ([`decide`]), the one-line explanation ([`message`]), and the teardown check
//! ([`Teardown`]). Everything that decides pass or fail lives here; reports only
//! write down what was decided.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::growth::{self, Estimate};
use crate::probe::Reading;
use crate::samples::Samples;

/// A resource's or a run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within budget.
    Pass,
    /// Grew past its budget.
    Fail,
    /// Reported, not judged (a resource without a budget).
    Info,
}

impl Verdict {
    /// `pass`, `fail` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Info => "info",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The run's verdict from its resources' verdicts: it fails when any budgeted
/// resource failed, and passes otherwise.
pub fn decide(verdicts: &[ResourceVerdict]) -> Verdict {
    if verdicts.iter().any(ResourceVerdict::failed) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// The resources judged in every run (heap, RSS for information, tasks,
/// descriptors), then one per gauge as `(name, budget per hour)`.
pub fn resource_specs(cfg: &RunConfig, gauges: &[(String, Option<f64>)]) -> Vec<ResourceSpec> {
    let fixed = |name: &str, column: &str, unit: &str, budget: Option<f64>| ResourceSpec {
        name: name.into(),
        column: column.into(),
        unit: unit.into(),
        budget_per_hour: budget,
        gauge: false,
    };
    let mut specs = vec![
        fixed("heap", "live_bytes", "bytes", Some(cfg.max_growth)),
        fixed("rss", "rss_bytes", "bytes", None),
        fixed("tasks", "alive_tasks", "tasks", Some(cfg.max_task_growth)),
        fixed("fds", "open_fds", "fds", Some(cfg.max_fd_growth)),
    ];
    specs.extend(gauges.iter().map(|(name, budget)| ResourceSpec {
        name: name.clone(),
        column: name.clone(),
        unit: "count".into(),
        budget_per_hour: *budget,
        gauge: true,
    }));
    specs
}

/// A column to estimate growth for, and its budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Short name used in messages: `heap`, `tasks`, `fds`, or a gauge name.
    pub name: String,
    /// The `samples.csv` column it reads.
    pub column: String,
    /// Unit of one count: `bytes`, `tasks`, `fds`, or `count` for gauges.
    pub unit: String,
    /// Sustained growth allowed per virtual hour; `None` means reported, not judged.
    pub budget_per_hour: Option<f64>,
    /// Whether this is a subject's gauge (rather than a process-wide probe).
    pub gauge: bool,
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceVerdict {
    /// What was judged.
    #[serde(flatten)]
    pub spec: ResourceSpec,
    /// The growth estimate (absent when the window was too short).
    pub estimate: Option<Estimate>,
    /// `pass`, `fail`, or `info` for unbudgeted resources.
    pub verdict: Verdict,
    /// First sampled value.
    pub first: f64,
    /// Last sampled value.
    pub last: f64,
    /// Highest sampled value.
    pub peak: f64,
}

impl ResourceVerdict {
    /// Whether this resource failed its budget.
    pub fn failed(&self) -> bool {
        self.verdict == Verdict::Fail
    }

    /// Growth per hour, 0 when there is no estimate.
    pub fn per_hour(&self) -> f64 {
        self.estimate.map(|e| e.per_hour).unwrap_or(0.0)
    }

    /// Whether the growth is significant and sustained (regardless of budget).
    pub fn grew(&self) -> bool {
        self.estimate.is_some_and(|e| e.exceeds(0.0))
    }
}

/// Estimates and judges every resource in `specs` over `samples`.
pub fn analyse(
    samples: &Samples,
    specs: &[ResourceSpec],
    warmup_hours: f64,
) -> Vec<ResourceVerdict> {
    let t = samples.hours();
    let load = samples
        .column("load_events")
        .unwrap_or_else(|| vec![0.0; t.len()]);
    specs
        .iter()
        .filter_map(|spec| {
            let y = samples.column(&spec.column)?;
            let estimate = growth::estimate(&t, &y, &load, warmup_hours);
            let verdict = match (spec.budget_per_hour, estimate) {
                (None, _) => Verdict::Info,
                (Some(b), Some(e)) if e.exceeds(b) => Verdict::Fail,
                (Some(_), _) => Verdict::Pass,
            };
            let finite = y.iter().copied().filter(|v| v.is_finite());
            Some(ResourceVerdict {
                spec: spec.clone(),
                estimate,
                verdict,
                first: y.first().copied().unwrap_or(0.0),
                last: y.last().copied().unwrap_or(0.0),
                peak: finite.fold(f64::NEG_INFINITY, f64::max).max(0.0),
            })
        })
        .collect()
}

/// Formats a per-hour amount in the resource's unit (`3.2 MiB/h`, `41.0 tasks/h`).
pub fn rate_text(value: f64, unit: &str) -> String {
    if unit == "bytes" {
        format!("{}/h", crate::units::bytes_text(value))
    } else if unit == "count" {
        format!("{value:.1}/h")
    } else {
        format!("{value:.1} {unit}/h")
    }
}

/// One line saying what failed and by how much, and which gauges grew with it;
/// or that everything stayed within budget.
pub fn message(verdicts: &[ResourceVerdict]) -> String {
    let failed: Vec<&ResourceVerdict> = verdicts.iter().filter(|v| v.failed()).collect();
    let grown = grown_gauges(verdicts);
    if failed.is_empty() {
        let heap = verdicts.iter().find(|v| v.spec.name == "heap");
        return match heap.and_then(|h| h.estimate.map(|e| (h, e))) {
            Some((h, e)) => format!(
                "pass: heap {} ± {} (budget {}); no resource grew past its budget",
                rate_text(e.per_hour, "bytes"),
                rate_text(e.stderr, "bytes"),
                rate_text(h.spec.budget_per_hour.unwrap_or(0.0), "bytes"),
            ),
            None => "pass: no resource grew past its budget".to_string(),
        };
    }
    let parts: Vec<String> = failed
        .iter()
        .filter_map(|v| v.estimate.map(|e| (v, e)))
        .map(|(v, e)| {
            format!(
                "{} grew {} ± {} (late half {}; budget {})",
                v.spec.name,
                rate_text(e.per_hour, &v.spec.unit),
                rate_text(e.stderr, &v.spec.unit),
                rate_text(e.late_per_hour, &v.spec.unit),
                rate_text(v.spec.budget_per_hour.unwrap_or(0.0), &v.spec.unit),
            )
        })
        .collect();
    let mut msg = format!("fail: {}", parts.join("; "));
    if !grown.is_empty() {
        let g: Vec<String> = grown
            .iter()
            .map(|v| format!("{} +{:.0}/h", v.spec.name, v.per_hour()))
            .collect();
        msg.push_str(&format!("; gauges that grew: {}", g.join(", ")));
    }
    msg
}

/// Gauges whose growth is significant and sustained, fastest relative growth first.
pub fn grown_gauges(verdicts: &[ResourceVerdict]) -> Vec<&ResourceVerdict> {
    let mut g: Vec<&ResourceVerdict> = verdicts
        .iter()
        .filter(|v| v.spec.gauge && v.grew() && v.per_hour() > 0.0)
        .collect();
    let rel = |v: &ResourceVerdict| v.per_hour() / v.peak.max(1.0);
    g.sort_by(|a, b| rel(b).total_cmp(&rel(a)));
    g
}

/// How long the teardown check waits after the scenario returns before comparing
/// (seed 002's "clean shutdown within 5 s"), in virtual time.
pub const TEARDOWN_SETTLE: Duration = Duration::from_secs(5);

/// Heap left over after teardown that still counts as "back to baseline".
pub const TEARDOWN_HEAP_SLACK: u64 = 1 << 20;

/// After the scenario shut its subjects down and [`TEARDOWN_SETTLE`] passed: are
/// tasks, descriptors and heap back where they were before the run?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Teardown {
    /// Virtual seconds allowed for shutdown.
    pub settle_virtual_seconds: f64,
    /// Alive tasks before the scenario started.
    pub tasks_before: u64,
    /// Alive tasks after shutdown.
    pub tasks_after: u64,
    /// Open descriptors before.
    pub fds_before: u64,
    /// Open descriptors after.
    pub fds_after: u64,
    /// Live heap bytes before.
    pub live_bytes_before: u64,
    /// Live heap bytes after (the harness's own sample table excluded).
    pub live_bytes_after: u64,
    /// Each gauge's value after shutdown (listeners should read 0).
    pub gauges_after: BTreeMap<String, f64>,
    /// Tasks back to the baseline.
    pub tasks_back: bool,
    /// Descriptors back to the baseline.
    pub fds_back: bool,
    /// Live heap within 1 MiB of the baseline.
    pub heap_back: bool,
    /// Gauges registered with `Gauge::at_rest` that read above their limit after
    /// shutdown, with the value read.
    #[serde(default)]
    pub gauges_not_at_rest: BTreeMap<String, f64>,
    /// Every `at_rest` gauge within its limit (true when there are none).
    #[serde(default = "yes")]
    pub gauges_back: bool,
    /// Tasks, descriptors, heap and `at_rest` gauges all back.
    pub clean: bool,
}

impl Teardown {
    /// Compares the readings before and after the run.
    pub fn new(before: &Reading, after: &Reading, gauges_after: BTreeMap<String, f64>) -> Self {
        let tasks_back = after.alive_tasks <= before.alive_tasks;
        let fds_back = after.open_fds <= before.open_fds;
        let heap_back = after.live_bytes <= before.live_bytes + TEARDOWN_HEAP_SLACK;
        Teardown {
            settle_virtual_seconds: TEARDOWN_SETTLE.as_secs_f64(),
            tasks_before: before.alive_tasks,
            tasks_after: after.alive_tasks,
            fds_before: before.open_fds,
            fds_after: after.open_fds,
            live_bytes_before: before.live_bytes,
            live_bytes_after: after.live_bytes,
            gauges_after,
            tasks_back,
            fds_back,
            heap_back,
            gauges_not_at_rest: BTreeMap::new(),
            gauges_back: true,
            clean: tasks_back && fds_back && heap_back,
        }
    }

    /// Judges the gauges that must settle: `limits` maps a gauge to the highest
    /// value it may read after shutdown (a gauge not read counts as not back).
    pub fn require_at_rest(mut self, limits: &BTreeMap<String, f64>) -> Self {
        for (name, limit) in limits {
            let v = self.gauges_after.get(name).copied().unwrap_or(f64::NAN);
            if v.is_nan() || v > *limit {
                self.gauges_not_at_rest.insert(name.clone(), v);
            }
        }
        self.gauges_back = self.gauges_not_at_rest.is_empty();
        self.clean = self.clean && self.gauges_back;
        self
    }
}

fn yes() -> bool {
    true
}
