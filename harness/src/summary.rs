//! `summary.json`: the run's settings, verdict, per-resource growth, teardown check
//! and any scenario facts (such as `peak_connections`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::attribution::{self, OwnerGrowth, SiteGrowth, SiteReport, SiteSampling};
use crate::config::{RunConfig, Variant};
use crate::profile::DhatReport;
use crate::samples::Samples;
use crate::units::{echo, number_text};
use crate::verdict::{self, Judging, ResourceVerdict, Teardown, Verdict};
use crate::Error;

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
    /// Virtual hours replayed (with `--hours auto`, the hours it took).
    pub virtual_hours: f64,
    /// With `--hours auto`: the limit and the looks it was judged with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<AutoRun>,
    /// The subjects' longest retention, hours, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_hours: Option<f64>,
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
    /// `pass`, `fail` or `inconclusive`.
    pub verdict: Verdict,
    /// `false` when the run was interrupted (SIGINT, SIGTERM) and judged on the
    /// samples taken until then: a partial verdict. Absent in older summaries.
    #[serde(default = "complete_default")]
    pub complete: bool,
    /// One line: what failed by how much, why the run cannot tell (and what to
    /// run), or that all passed.
    pub message: String,
    /// Names of the resources that failed.
    pub failed_resources: Vec<String>,
    /// Names of the budgeted resources the window could not judge (each
    /// resource's `reason` says why).
    #[serde(default)]
    pub inconclusive_resources: Vec<String>,
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
    /// [`Samples::digest`] of the run's samples: ties `samples.csv` to this
    /// summary, so a reader can tell a pair from two different runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_digest: Option<String>,
    /// How allocation sites were sampled (absent with `--sample-bytes 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_sampling: Option<SiteSampling>,
    /// Allocation sites by estimated growth of their live bytes, fastest first.
    #[serde(default)]
    pub growth_sites: Vec<SiteGrowth>,
    /// The growth sites grouped by the frame that owns them, fastest growing
    /// first (the failing heap's message names the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub growth_owners: Vec<OwnerGrowth>,
    /// Scenario facts such as `peak_connections`.
    #[serde(flatten)]
    pub extras: BTreeMap<String, serde_json::Value>,
}

/// What an `--hours auto` run records about its looks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoRun {
    /// The most it could have run (`--max-hours`).
    pub max_hours: f64,
    /// Looks it could have taken (one per virtual hour).
    pub looks: usize,
    /// Standard errors growth had to clear at every look (corrected for the
    /// looks).
    pub significance_z: f64,
    /// Whether it stopped before `max_hours` with a settled verdict.
    pub settled: bool,
}

/// Everything [`Summary::new`] assembles.
pub struct SummaryInput<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// The run's settings.
    pub cfg: &'a RunConfig,
    /// How it was judged (its length, warm-up and threshold).
    pub judging: Judging,
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
    /// Per-site growth from the allocation sampler.
    pub sites: Option<&'a SiteReport>,
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
            virtual_hours: i.judging.run_hours,
            auto: i.cfg.auto.then(|| AutoRun {
                max_hours: i.cfg.hours,
                looks: verdict::looks(i.cfg.hours),
                significance_z: i.judging.z,
                settled: i.judging.run_hours < i.cfg.hours,
            }),
            retention_hours: i.cfg.retention_hours,
            wall_seconds: (i.wall_seconds * 1000.0).round() / 1000.0,
            samples: i.samples.rows(),
            sample_every_seconds: i.cfg.sample_every.as_secs_f64(),
            warmup_hours: i.judging.warmup_hours,
            load_events: i.events,
            threshold_bytes_per_hour: i.cfg.max_growth,
            growth_bytes_per_hour: est.map(|e| e.per_hour).unwrap_or(0.0),
            growth_stderr_bytes_per_hour: est.map(|e| e.stderr).unwrap_or(0.0),
            late_growth_bytes_per_hour: est.map(|e| e.late_per_hour).unwrap_or(0.0),
            injected_leak_bytes_per_hour: i.cfg.leak_rate,
            verdict: verdict::decide(&i.verdicts),
            message: verdict::message(&i.verdicts)
                + &i.sites
                    .filter(|_| failed.iter().any(|f| f == "heap"))
                    .and_then(|r| attribution::suffix(&r.owners, &r.sites))
                    .unwrap_or_default(),
            failed_resources: failed,
            inconclusive_resources: i
                .verdicts
                .iter()
                .filter(|v| v.verdict == Verdict::Inconclusive)
                .map(|v| v.spec.name.clone())
                .collect(),
            grown_gauges: grown,
            peak_live_bytes: heap.map(|h| h.peak as u64).unwrap_or(0),
            final_live_bytes: heap.map(|h| h.last as u64).unwrap_or(0),
            resources: i.verdicts,
            teardown: i.teardown,
            dhat: i.dhat,
            samples_digest: Some(i.samples.digest()),
            complete: true,
            site_sampling: i.sites.map(|r| r.sampling.clone()),
            growth_sites: i.sites.map(|r| r.sites.clone()).unwrap_or_default(),
            growth_owners: i.sites.map(|r| r.owners.clone()).unwrap_or_default(),
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
    /// Beyond the JSON shape (which already rejects an unknown `verdict`): a
    /// plain scenario name, positive finite hours and sampling period, at least
    /// one sample, and a message on one line.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, Error> {
        let bad = |why: String| Error::Malformed {
            path: path.to_path_buf(),
            why,
        };
        let s: Summary = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let plain = |t: &str| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !plain(&s.scenario) {
            return Err(bad(format!(
                "scenario {} is not a scenario name",
                echo(&s.scenario)
            )));
        }
        if !(s.virtual_hours.is_finite() && s.virtual_hours > 0.0) {
            return Err(bad(format!(
                "virtual_hours {} is not a positive number",
                number_text(s.virtual_hours)
            )));
        }
        if !(s.sample_every_seconds.is_finite() && s.sample_every_seconds > 0.0) {
            return Err(bad(format!(
                "sample_every_seconds {} is not a positive number",
                number_text(s.sample_every_seconds)
            )));
        }
        if s.samples == 0 {
            return Err(bad("samples is 0; a run has at least one sample".into()));
        }
        if s.message.contains(['\n', '\r']) {
            return Err(bad("message spans several lines".into()));
        }
        Ok(s)
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

/// [`Summary::mode`] of a virtual replay.
pub const MODE_VIRTUAL: &str = "virtual";
/// [`Summary::mode`] of a live run.
pub const MODE_LIVE: &str = "live";

fn virtual_mode() -> String {
    MODE_VIRTUAL.to_string()
}

fn complete_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Summaries written before the `mode` field load as virtual runs.
    #[test]
    fn mode_defaults_to_virtual() {
        let mut json: serde_json::Value = serde_json::from_str(
            &Summary {
                mode: MODE_LIVE.into(),
                scenario: "s".into(),
                variant: Variant::Fixed,
                seed: 1,
                virtual_hours: 1.0,
                auto: None,
                retention_hours: None,
                wall_seconds: 1.0,
                samples: 1,
                sample_every_seconds: 60.0,
                warmup_hours: 0.1,
                load_events: 0,
                threshold_bytes_per_hour: 1e6,
                growth_bytes_per_hour: 0.0,
                growth_stderr_bytes_per_hour: 0.0,
                late_growth_bytes_per_hour: 0.0,
                injected_leak_bytes_per_hour: 0.0,
                verdict: Verdict::Pass,
                complete: true,
                message: String::new(),
                failed_resources: vec![],
                inconclusive_resources: vec![],
                grown_gauges: vec![],
                peak_live_bytes: 0,
                final_live_bytes: 0,
                resources: vec![],
                teardown: Teardown::default(),
                dhat: None,
                samples_digest: None,
                site_sampling: None,
                growth_sites: vec![],
                growth_owners: vec![],
                extras: BTreeMap::new(),
            }
            .to_json(),
        )
        .expect("json");
        let live = Summary::from_json(&json.to_string(), Path::new("s.json")).expect("parses");
        assert!(live.is_live());
        json.as_object_mut().expect("an object").remove("mode");
        let old = Summary::from_json(&json.to_string(), Path::new("s.json")).expect("parses");
        assert_eq!(old.mode, MODE_VIRTUAL);
        assert!(!old.is_live());
    }
}
