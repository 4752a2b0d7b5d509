//! `summary.json`: the run's settings, verdict, per-resource growth, teardown check
//! and any scenario facts (such as `peak_connections`). Built once
//! ([`Summary::new`]) for both modes from a [`SummaryInput`]: how the run ended
//! ([`Ending`]) and its notes are data, and the message, the console line and the
//! exit status ([`exit_status`]) are rendered from the structure, on the run's
//! clock.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::attribution::{self, OwnerGrowth, SiteGrowth, SiteReport, SiteSampling};
use crate::config::{RunConfig, Variant};
use crate::probe::FIXED_COLUMNS;
use crate::profile::DhatReport;
use crate::samples::Samples;
use crate::status::{EXIT_ERROR, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};
use crate::timebase::TimeBase;
use crate::units::{bytes_text, echo, number_text};
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
    /// `fixed` or `leaky` (a live run's label: also `unlabelled`).
    pub variant: Variant,
    /// A live run's `--name` where it is not the variant's (its directory's
    /// name: `before`, `after-fix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
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
    /// The scenario's traffic kinds: events each replayed, and whether it was
    /// muted (absent when the scenario declares none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<KindCount>,
    /// The factor on every kind's rate (`--load-scale`; absent when 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub load_scale: f64,
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
    /// run), or that all passed; how the run ended when it ended early; its notes.
    pub message: String,
    /// How the run ended, when not by completing (absent: it completed).
    #[serde(default, skip_serializing_if = "Ending::is_completed")]
    pub ending: Ending,
    /// What the reader should know besides the verdict (also at the end of the
    /// message): growth per 1,000 requests, shed load, a probe that left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The clock its hours and rates are on (absent: virtual hours).
    #[serde(default, skip_serializing_if = "TimeBase::is_virtual")]
    pub time_base: TimeBase,
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
    /// What the chart draws (absent in summaries written before it was recorded:
    /// then the chart draws [`ChartSpec::virtual_run`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartSpec>,
    /// Scenario facts such as `peak_connections`.
    #[serde(flatten)]
    pub extras: BTreeMap<String, serde_json::Value>,
}

/// One traffic kind of a run (`summary.kinds`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    /// The kind's name (its column is `load_NAME`).
    pub name: String,
    /// Events of the kind the run replayed.
    pub events: u64,
    /// Whether it was muted (`--mute`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
}

/// What a run's chart draws, declared by the run: the chart takes its panels from
/// here, not from column names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChartSpec {
    /// The top panel's series (byte columns, drawn in MiB).
    pub main: Vec<ChartSeries>,
    /// The resource whose fitted growth and budget the top panel draws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<String>,
    /// The panels beneath, top to bottom.
    pub panels: Vec<ChartPanel>,
}

/// One line of a chart: a `samples.csv` column and its legend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartSeries {
    /// The column.
    pub column: String,
    /// Its legend.
    pub label: String,
}

/// A panel beneath the top one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartPanel {
    /// Its title.
    pub title: String,
    /// Its lines.
    pub series: Vec<ChartSeries>,
}

impl ChartSeries {
    /// `column` labelled `label`.
    pub fn new(column: &str, label: &str) -> Self {
        ChartSeries {
            column: column.to_string(),
            label: label.to_string(),
        }
    }
}

impl ChartSpec {
    /// The same without the panels drawing only `columns` (a run's `load_KIND`
    /// columns: counted in the load panel's total, not drawn as gauges).
    pub fn without(mut self, columns: &[String]) -> Self {
        self.panels
            .retain(|p| !p.series.iter().all(|c| columns.contains(&c.column)));
        self
    }

    /// A virtual run's chart: the heap (fitted) and RSS on top; beneath, the load
    /// (when any was reported), tasks and descriptors, then one panel per gauge
    /// (every column after the fixed ones).
    pub fn virtual_run(samples: &Samples) -> Self {
        let mut panels = Vec::new();
        if samples
            .column("load_events")
            .is_some_and(|l| l.iter().any(|v| *v > 0.0))
        {
            panels.push(ChartPanel {
                title: "load (events per sample)".into(),
                series: vec![ChartSeries::new("load_events", "load")],
            });
        }
        panels.push(ChartPanel {
            title: "alive tasks, open descriptors".into(),
            series: vec![
                ChartSeries::new("alive_tasks", "tasks"),
                ChartSeries::new("open_fds", "fds"),
            ],
        });
        for name in samples.columns().iter().skip(FIXED_COLUMNS.len()) {
            panels.push(ChartPanel {
                title: format!("gauge: {name}"),
                series: vec![ChartSeries::new(name, name)],
            });
        }
        ChartSpec {
            main: vec![
                ChartSeries::new("live_bytes", "live heap"),
                ChartSeries::new("rss_bytes", "RSS"),
            ],
            fit: Some("heap".into()),
            panels,
        }
    }
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

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Ending {
    /// It ran its whole length.
    #[default]
    Completed,
    /// The process under test (a live run's target) died: the run fails.
    Died {
        /// Seconds into the run (on its clock).
        at_seconds: f64,
        /// How it ended.
        exit: ProcessExit,
        /// Its last stderr lines.
        stderr: Vec<String>,
    },
    /// SIGINT or SIGTERM stopped it: judged on the samples so far.
    Interrupted {
        /// Seconds into the run.
        at_seconds: f64,
        /// Seconds it was to run.
        of_seconds: f64,
        /// `SIGINT` or `SIGTERM`.
        signal: String,
        /// 128 + the signal's number.
        exit_status: u8,
    },
    /// The load generator failed (a live run's goose): no verdict.
    LoadFailed {
        /// Seconds into the run.
        at_seconds: f64,
        /// What failed, on one line.
        why: String,
    },
}

impl Ending {
    /// Whether the run ran its whole length (a target that died did: its death
    /// is the finding).
    pub fn complete(&self) -> bool {
        matches!(self, Ending::Completed | Ending::Died { .. })
    }

    /// Whether it completed.
    pub fn is_completed(&self) -> bool {
        *self == Ending::Completed
    }

    /// The message of a run that ended this way, around `verdict` (what the
    /// samples say) on clock `tb`.
    fn frame(&self, verdict: String, tb: &TimeBase) -> String {
        match self {
            Ending::Completed => verdict,
            Ending::Died {
                at_seconds,
                exit,
                stderr,
            } => {
                let tail = if stderr.is_empty() {
                    String::new()
                } else {
                    format!("; last stderr: {}", stderr.join(" | "))
                };
                format!(
                    "fail: the target died {} into the run ({}){tail}; before that: {verdict}",
                    tb.at_text(*at_seconds),
                    exit.text
                )
            }
            Ending::Interrupted {
                at_seconds,
                of_seconds,
                signal,
                ..
            } => format!(
                "partial run, stopped by {signal} at {}: {verdict}",
                tb.progress_text(*at_seconds, *of_seconds)
            ),
            Ending::LoadFailed { at_seconds, why } => {
                format!("the load failed after {}: {why}", tb.at_text(*at_seconds))
            }
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessExit {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// `exit status 3`, `killed by signal 9 (SIGKILL)`, or `unknown (not our child)`.
    pub text: String,
}

/// The exit status of a finished run: 128 + n when signal n stopped it, 2 when
/// its load failed, 1 when its target died or a resource failed, 3 when it is
/// inconclusive, else 0.
pub fn exit_status(s: &Summary) -> u8 {
    match &s.ending {
        Ending::Interrupted { exit_status, .. } => *exit_status,
        Ending::LoadFailed { .. } => EXIT_ERROR,
        Ending::Died { .. } => EXIT_FAIL,
        Ending::Completed => match s.verdict {
            Verdict::Fail => EXIT_FAIL,
            Verdict::Inconclusive => EXIT_INCONCLUSIVE,
            Verdict::Pass | Verdict::Info => EXIT_PASS,
        },
    }
}

/// Everything [`Summary::new`] assembles, for a virtual replay or a live run.
pub struct SummaryInput<'a> {
    /// [`MODE_VIRTUAL`] or [`MODE_LIVE`].
    pub mode: &'static str,
    /// Scenario name.
    pub scenario: &'a str,
    /// Variant.
    pub variant: Variant,
    /// Traffic seed.
    pub seed: u64,
    /// How it was judged (its length, warm-up, threshold and clock).
    pub judging: Judging,
    /// Hours of the traffic's day it covered (a live run's compressed day).
    pub virtual_hours: f64,
    /// With `--hours auto`: the looks.
    pub auto: Option<AutoRun>,
    /// Wall seconds.
    pub wall_seconds: f64,
    /// Seconds between samples (on the run's clock).
    pub sample_every_seconds: f64,
    /// The sample table.
    pub samples: &'a Samples,
    /// Per-resource verdicts.
    pub verdicts: Vec<ResourceVerdict>,
    /// The judged memory (`heap`; a live run's RSS, or its heap probe's): named
    /// in a pass, its growth in `growth_bytes_per_hour`, fitted in the chart.
    pub headline: Option<String>,
    /// Teardown check.
    pub teardown: Teardown,
    /// Scenario facts.
    pub extras: BTreeMap<String, serde_json::Value>,
    /// Total load events.
    pub events: u64,
    /// Events per traffic kind.
    pub kinds: Vec<KindCount>,
    /// The factor on every kind's rate (`--load-scale`).
    pub load_scale: f64,
    /// Leak the harness injected, bytes per hour.
    pub injected_leak_bytes_per_hour: f64,
    /// dhat's attribution.
    pub dhat: Option<DhatReport>,
    /// Per-site growth of the headline's allocation sites.
    pub sites: Option<&'a SiteReport>,
    /// How it ended.
    pub ending: Ending,
    /// Notes for the reader.
    pub notes: Vec<String>,
    /// What the chart draws.
    pub chart: ChartSpec,
}

impl<'a> SummaryInput<'a> {
    /// A virtual replay of `scenario` under `cfg` judged as `judging`: the heap is
    /// the headline, the chart [`ChartSpec::virtual_run`]; the rest as the run
    /// found it (fill in teardown, extras, events, dhat, sites, ending).
    pub fn replay(
        scenario: &'a str,
        cfg: &RunConfig,
        judging: Judging,
        samples: &'a Samples,
        verdicts: Vec<ResourceVerdict>,
    ) -> Self {
        SummaryInput {
            mode: MODE_VIRTUAL,
            scenario,
            variant: cfg.variant,
            seed: cfg.seed,
            judging,
            virtual_hours: judging.run_hours,
            auto: cfg.auto.then(|| AutoRun {
                max_hours: cfg.hours,
                looks: verdict::looks(cfg.hours),
                significance_z: judging.z,
                settled: judging.run_hours < cfg.hours,
            }),
            wall_seconds: 0.0,
            sample_every_seconds: cfg.sample_every.as_secs_f64(),
            samples,
            verdicts,
            headline: Some("heap".to_string()),
            teardown: Teardown::default(),
            extras: BTreeMap::new(),
            events: 0,
            kinds: Vec::new(),
            load_scale: cfg.load_scale,
            injected_leak_bytes_per_hour: cfg.leak_rate,
            dhat: None,
            sites: None,
            ending: Ending::Completed,
            notes: Vec::new(),
            chart: ChartSpec::virtual_run(samples),
        }
    }
}

impl Summary {
    /// Assembles the summary of a finished run: the lists, the headline's
    /// figures and the message (the verdict told on the run's clock, the
    /// headline's top growing site when it failed, framed by how the run ended,
    /// then the notes). A target that died fails the run whatever its samples say.
    pub fn new(i: SummaryInput<'_>) -> Self {
        let tb = i.judging.time_base;
        let headline = i.headline.as_deref();
        let head = i
            .verdicts
            .iter()
            .find(|v| Some(v.spec.name.as_str()) == headline);
        let est = head.and_then(|h| h.estimate);
        let mut failed: Vec<String> = i
            .verdicts
            .iter()
            .filter(|v| v.failed())
            .map(|v| v.spec.name.clone())
            .collect();
        let grown = verdict::grown_gauges(&i.verdicts)
            .iter()
            .map(|v| v.spec.name.clone())
            .collect();
        let sites = i
            .sites
            .filter(|_| headline.is_some_and(|h| failed.iter().any(|f| f == h)))
            .and_then(|r| attribution::suffix(&r.owners, &r.sites, &tb))
            .unwrap_or_default();
        let said = verdict::message(&i.verdicts, headline, &tb) + &sites;
        let mut message = i.ending.frame(said, &tb);
        for n in &i.notes {
            message.push_str("; ");
            message.push_str(n);
        }
        let mut verdict = verdict::decide(&i.verdicts);
        if matches!(i.ending, Ending::Died { .. }) {
            failed.insert(0, "target".into());
            verdict = Verdict::Fail;
        }
        Summary {
            mode: i.mode.to_string(),
            scenario: i.scenario.to_string(),
            variant: i.variant,
            name: None,
            seed: i.seed,
            virtual_hours: i.virtual_hours,
            auto: i.auto,
            retention_hours: i.judging.retention_hours.map(|r| tb.to_day(r)),
            wall_seconds: (i.wall_seconds * 1000.0).round() / 1000.0,
            samples: i.samples.rows(),
            sample_every_seconds: i.sample_every_seconds,
            warmup_hours: i.judging.warmup_hours,
            load_events: i.events,
            kinds: i.kinds,
            load_scale: i.load_scale,
            threshold_bytes_per_hour: head.and_then(|h| h.spec.budget_per_hour).unwrap_or(0.0),
            growth_bytes_per_hour: est.map(|e| e.per_hour).unwrap_or(0.0),
            growth_stderr_bytes_per_hour: est.map(|e| e.stderr).unwrap_or(0.0),
            late_growth_bytes_per_hour: est.map(|e| e.late_per_hour).unwrap_or(0.0),
            injected_leak_bytes_per_hour: i.injected_leak_bytes_per_hour,
            verdict,
            message,
            ending: i.ending.clone(),
            notes: i.notes,
            time_base: tb,
            failed_resources: failed,
            inconclusive_resources: i
                .verdicts
                .iter()
                .filter(|v| v.verdict == Verdict::Inconclusive)
                .map(|v| v.spec.name.clone())
                .collect(),
            grown_gauges: grown,
            peak_live_bytes: head.map(|h| h.peak as u64).unwrap_or(0),
            final_live_bytes: head.map(|h| h.last as u64).unwrap_or(0),
            resources: i.verdicts,
            teardown: i.teardown,
            dhat: i.dhat,
            samples_digest: Some(i.samples.digest()),
            complete: i.ending.complete(),
            site_sampling: i.sites.map(|r| r.sampling.clone()),
            growth_sites: i.sites.map(|r| r.sites.clone()).unwrap_or_default(),
            growth_owners: i.sites.map(|r| r.owners.clone()).unwrap_or_default(),
            chart: Some(i.chart),
            extras: i.extras,
        }
    }

    /// How long the run was on its own clock: a replay's virtual hours (`24 h`), a
    /// live run's wall time of load (`10m wall`).
    pub fn length_text(&self) -> String {
        if self.time_base.is_virtual() {
            format!("{} h", number_text(self.virtual_hours))
        } else {
            format!(
                "{} wall",
                self.time_base.at_text(self.clock_hours() * 3600.0)
            )
        }
    }

    /// The run's length in hours of its clock (a live run's `virtual_hours` are
    /// the hours of the plan's day it played, `--day` compressed).
    pub fn clock_hours(&self) -> f64 {
        self.time_base.from_day(self.virtual_hours)
    }

    /// Whether `other` ran as long as this run on the same clock: equal hours
    /// to 1% (a live run's load lasts its `--duration` to a few milliseconds).
    pub fn same_length(&self, other: &Summary) -> bool {
        let (a, b) = (self.clock_hours(), other.clock_hours());
        self.time_base.clock == other.time_base.clock && (a - b).abs() <= 0.01 * a.max(b)
    }

    /// Which run this is, for a person: `raid-burst (leaky, seed 3)`; a live run
    /// named apart from its variant by its directory, `live-orders/after-fix
    /// (unlabelled, seed 1)`.
    pub fn who(&self) -> String {
        format!("{} ({}, seed {})", self.run_name(), self.variant, self.seed)
    }

    /// The scenario, and a live run's `--name` where it is not the variant's:
    /// `raid-burst`, `live-orders/after-fix`.
    pub fn run_name(&self) -> String {
        match &self.name {
            Some(n) => format!("{}/{n}", self.scenario),
            None => self.scenario.clone(),
        }
    }

    /// What the console prints when the run is done: the run and its message,
    /// then (a virtual run) how `--hours auto` settled and what teardown left.
    pub fn console(&self) -> String {
        let peak = bytes_text(self.peak_live_bytes as f64);
        let fit = self
            .chart
            .as_ref()
            .and_then(|c| c.fit.as_deref())
            .unwrap_or("heap");
        if !self.time_base.is_virtual() {
            return format!(
                "{}: {} wall ({:.1} virtual h), peak {fit} {peak}; {}",
                self.who(),
                self.time_base.at_text(self.wall_seconds),
                self.virtual_hours,
                self.message
            );
        }
        // A partial run replayed less than it was set to: say how much it did.
        let hours = match self.ending {
            Ending::Interrupted { at_seconds, .. } => at_seconds / 3600.0,
            _ => self.virtual_hours,
        };
        let mut out = format!(
            "{}: {} virtual h in {:.2} s wall, peak {fit} {peak}; {}",
            self.who(),
            number_text((hours * 100.0).round() / 100.0),
            self.wall_seconds,
            self.message
        );
        if let Some(a) = &self.auto {
            out.push_str(&format!(
                "\n  --hours auto: {} after {} of at most {} virtual h (z = {:.2} over {} looks)",
                if a.settled { "settled" } else { "not settled" },
                self.virtual_hours,
                a.max_hours,
                a.significance_z,
                a.looks
            ));
        }
        let t = &self.teardown;
        if !t.clean {
            out.push_str(&format!(
                "\n  teardown not clean: tasks {}→{}, fds {}→{}, heap {}→{}",
                t.tasks_before,
                t.tasks_after,
                t.fds_before,
                t.fds_after,
                bytes_text(t.live_bytes_before as f64),
                bytes_text(t.live_bytes_after as f64)
            ));
            for (name, v) in &t.gauges_not_at_rest {
                out.push_str(&format!(
                    "\n  teardown: gauge {name} still at {v} after shutdown"
                ));
            }
        }
        out
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
        let mut s: Summary = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if s.is_live() && s.time_base.is_virtual() {
            // Written before the time base was recorded: a live run's clock is
            // the wall's, its day compressed as its `live` facts say.
            let k = s
                .extras
                .get("live")
                .and_then(|l| l.get("compression"))
                .and_then(|c| c.as_f64())
                .filter(|k| k.is_finite() && *k > 0.0)
                .unwrap_or(1.0);
            s.time_base = TimeBase::wall(k);
        }
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

    /// What its chart draws: as declared, else (an older summary) a virtual
    /// run's chart over `samples`.
    pub fn chart_spec(&self, samples: &Samples) -> ChartSpec {
        self.chart
            .clone()
            .unwrap_or_else(|| ChartSpec::virtual_run(samples))
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

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A summary with every field set: mode `live`, one hour on the virtual clock.
    pub(crate) fn summary() -> Summary {
        Summary {
            mode: MODE_LIVE.into(),
            scenario: "s".into(),
            variant: Variant::Fixed,
            name: None,
            seed: 1,
            virtual_hours: 1.0,
            auto: None,
            retention_hours: None,
            wall_seconds: 1.0,
            samples: 1,
            sample_every_seconds: 60.0,
            warmup_hours: 0.1,
            load_events: 0,
            kinds: vec![],
            load_scale: 1.0,
            threshold_bytes_per_hour: 1e6,
            growth_bytes_per_hour: 0.0,
            growth_stderr_bytes_per_hour: 0.0,
            late_growth_bytes_per_hour: 0.0,
            injected_leak_bytes_per_hour: 0.0,
            verdict: Verdict::Pass,
            complete: true,
            message: String::new(),
            ending: Ending::Completed,
            notes: vec![],
            time_base: TimeBase::VIRTUAL,
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
            chart: None,
            extras: BTreeMap::new(),
        }
    }

    /// Summaries written before the `mode` field load as virtual runs.
    #[test]
    fn mode_defaults_to_virtual() {
        let mut json: serde_json::Value = serde_json::from_str(&summary().to_json()).expect("json");
        let live = Summary::from_json(&json.to_string(), Path::new("s.json")).expect("parses");
        assert!(live.is_live());
        json.as_object_mut().expect("an object").remove("mode");
        let old = Summary::from_json(&json.to_string(), Path::new("s.json")).expect("parses");
        assert_eq!(old.mode, MODE_VIRTUAL);
        assert!(!old.is_live());
    }

    /// A live run's length is its wall time of load, not the plan's day it
    /// played; runs of one length match to 1% (a live load's seconds jitter).
    #[test]
    fn a_runs_length_is_read_on_its_own_clock() {
        let mut virt = summary();
        virt.virtual_hours = 24.0;
        assert_eq!(virt.length_text(), "24 h");
        let live = |seconds: f64| {
            let mut s = summary();
            // A 40-s day: 2,160 times faster than the wall clock.
            s.time_base = TimeBase::wall(86_400.0 / 40.0);
            s.virtual_hours = s.time_base.to_day(seconds / 3600.0);
            s
        };
        let (a, b, c) = (live(40.02), live(40.01), live(600.0));
        assert_eq!(a.length_text(), "40s wall");
        assert_eq!(c.length_text(), "10m wall");
        assert!(
            a.same_length(&b),
            "{} vs {}",
            a.clock_hours(),
            b.clock_hours()
        );
        assert!(!a.same_length(&c));
        // Equal day hours on different clocks are not one length.
        let mut day = virt.clone();
        day.virtual_hours = a.virtual_hours;
        assert!(!day.same_length(&a));
    }
}
