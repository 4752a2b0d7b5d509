//! `summary.json`: the run's settings, verdict, per-resource growth, teardown check
//! and any scenario facts (such as `peak_connections`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::probe::Reading;
use crate::samples::Samples;
use crate::scenario::{RunConfig, Variant};
use crate::verdict::{self, ResourceVerdict};
use crate::Error;

/// Heap left over after teardown that still counts as "back to baseline".
pub const TEARDOWN_HEAP_SLACK: u64 = 1 << 20;

/// After the scenario shut its subjects down and 5 virtual seconds passed: are
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
            settle_virtual_seconds: 5.0,
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

fn virtual_mode() -> String {
    MODE_VIRTUAL.to_string()
}

/// [`Summary::mode`] of a virtual replay.
pub const MODE_VIRTUAL: &str = "virtual";
/// [`Summary::mode`] of a live run.
pub const MODE_LIVE: &str = "live";

/// One allocation site dhat found holding bytes at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DhatSite {
    /// Bytes live at the end from this site.
    pub bytes: u64,
    /// Blocks live at the end from this site.
    pub blocks: u64,
    /// Stack frames, trimmed to the project's own code, innermost first.
    pub frames: Vec<String>,
}

/// What `--dhat` adds to the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DhatReport {
    /// The profile's file name (next to the summary).
    pub file: String,
    /// Virtual hour at which profiling started.
    pub from_hours: f64,
    /// Bytes live at the end summed over all sites (dhat's view).
    pub bytes_at_end: u64,
    /// Live bytes the counting allocator saw at the end, minus those already live
    /// when the profiler started.
    pub counted_bytes_at_end: i64,
    /// Sites holding the most bytes at the end.
    pub top_sites: Vec<DhatSite>,
}

/// The contents of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `virtual` (a replay on the paused clock) or `live` (a wall-clock soak of a
    /// running process, written by `soak live`); summaries without it are virtual.
    #[serde(default = "virtual_mode")]
    pub mode: String,
    /// Scenario name.
    pub scenario: String,
    /// `fixed` or `leaky`.
    pub variant: Variant,
    /// Traffic seed.
    pub seed: u64,
    /// Virtual hours replayed.
    pub virtual_hours: f64,
    /// Wall-clock seconds the run took (runtime, sampling, analysis).
    pub wall_seconds: f64,
    /// Number of samples.
    pub samples: usize,
    /// Seconds of virtual time between samples.
    pub sample_every_seconds: f64,
    /// Hours left out of the growth fit at the start.
    pub warmup_hours: f64,
    /// Load events the scenario reported over the run.
    pub load_events: u64,
    /// Heap budget, bytes per virtual hour.
    pub threshold_bytes_per_hour: f64,
    /// Heap growth estimate, bytes per virtual hour.
    pub growth_bytes_per_hour: f64,
    /// Its standard error.
    pub growth_stderr_bytes_per_hour: f64,
    /// Heap growth over the late half of the window.
    pub late_growth_bytes_per_hour: f64,
    /// Leak the harness injected (`--leak-rate`), bytes per virtual hour.
    pub injected_leak_bytes_per_hour: f64,
    /// `pass` or `fail`.
    pub verdict: String,
    /// One line: what failed by how much, or that all passed.
    pub message: String,
    /// Names of the resources that failed.
    pub failed_resources: Vec<String>,
    /// Gauges with significant sustained growth, fastest (relative) first.
    pub grown_gauges: Vec<String>,
    /// Highest live heap sampled, bytes.
    pub peak_live_bytes: u64,
    /// Live heap at the last sample, bytes.
    pub final_live_bytes: u64,
    /// Every resource's estimate and verdict.
    pub resources: Vec<ResourceVerdict>,
    /// The teardown check.
    pub teardown: Teardown,
    /// dhat's attribution, with `--dhat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhat: Option<DhatReport>,
    /// Scenario facts such as `peak_connections`.
    #[serde(flatten)]
    pub extras: BTreeMap<String, serde_json::Value>,
}

/// Everything [`Summary::new`] assembles.
pub struct SummaryInput<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// The run's settings.
    pub cfg: &'a RunConfig,
    /// Wall seconds.
    pub wall_seconds: f64,
    /// The sample table.
    pub samples: &'a Samples,
    /// Per-resource verdicts.
    pub verdicts: Vec<ResourceVerdict>,
    /// Teardown check.
    pub teardown: Teardown,
    /// Scenario facts.
    pub extras: BTreeMap<String, serde_json::Value>,
    /// Total load events.
    pub events: u64,
    /// dhat's attribution.
    pub dhat: Option<DhatReport>,
}

impl Summary {
    /// Assembles the summary of a finished run.
    pub fn new(i: SummaryInput<'_>) -> Self {
        let heap = i.verdicts.iter().find(|v| v.spec.name == "heap");
        let est = heap.and_then(|h| h.estimate);
        let failed: Vec<String> = i
            .verdicts
            .iter()
            .filter(|v| v.failed())
            .map(|v| v.spec.name.clone())
            .collect();
        let grown = verdict::grown_gauges(&i.verdicts)
            .iter()
            .map(|v| v.spec.name.clone())
            .collect();
        Summary {
            mode: virtual_mode(),
            scenario: i.scenario.to_string(),
            variant: i.cfg.variant,
            seed: i.cfg.seed,
            virtual_hours: i.cfg.hours,
            wall_seconds: (i.wall_seconds * 1000.0).round() / 1000.0,
            samples: i.samples.rows(),
            sample_every_seconds: i.cfg.sample_every.as_secs_f64(),
            warmup_hours: i.cfg.warmup(),
            load_events: i.events,
            threshold_bytes_per_hour: i.cfg.max_growth,
            growth_bytes_per_hour: est.map(|e| e.per_hour).unwrap_or(0.0),
            growth_stderr_bytes_per_hour: est.map(|e| e.stderr).unwrap_or(0.0),
            late_growth_bytes_per_hour: est.map(|e| e.late_per_hour).unwrap_or(0.0),
            injected_leak_bytes_per_hour: i.cfg.leak_rate,
            verdict: if failed.is_empty() { "pass" } else { "fail" }.to_string(),
            message: verdict::message(&i.verdicts),
            failed_resources: failed,
            grown_gauges: grown,
            peak_live_bytes: heap.map(|h| h.peak as u64).unwrap_or(0),
            final_live_bytes: heap.map(|h| h.last as u64).unwrap_or(0),
            resources: i.verdicts,
            teardown: i.teardown,
            dhat: i.dhat,
            extras: i.extras,
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers, strings and maps cannot fail.
        let mut s =
            serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    /// Parses a saved summary; `path` names the file in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
    }

    /// A resource's verdict by name.
    pub fn resource(&self, name: &str) -> Option<&ResourceVerdict> {
        self.resources.iter().find(|r| r.spec.name == name)
    }

    /// Whether this is a live run (wall-clock time axis, RSS budget).
    pub fn is_live(&self) -> bool {
        self.mode == MODE_LIVE
    }
}
