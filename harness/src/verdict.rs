//! From samples to a verdict: which resources are judged, against which budgets,
//! and the one-line explanation a failing run prints.

use serde::{Deserialize, Serialize};

use crate::growth::{self, Estimate};
use crate::samples::Samples;

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
    pub verdict: String,
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
        self.verdict == "fail"
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
                (None, _) => "info",
                (Some(b), Some(e)) if e.exceeds(b) => "fail",
                (Some(_), _) => "pass",
            };
            let finite = y.iter().copied().filter(|v| v.is_finite());
            Some(ResourceVerdict {
                spec: spec.clone(),
                estimate,
                verdict: verdict.to_string(),
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
