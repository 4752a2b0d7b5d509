//! Live probes: what a live run reads at every sample — from the target (`/proc`,
//! its `/metrics`, a heap profiler) or from soak's own load — as plug-ins.
//!
//! A probe names its columns once ([`Column`]), fills them by name at every sample
//! ([`Row::set`]), and says how each is judged: a budgeted resource
//! ([`Kind::Resource`], growth per wall hour against a budget, as a virtual run's
//! heap), a gauge (listed when it grows), a counter (only climbs: reported), or a
//! plain series (charted only). The run builds `samples.csv`, the resources of
//! `summary.json` and the chart's panels from these declarations; nothing
//! downstream matches column names.
//!
//! # Adding a probe
//!
//! 1. Write `live/src/probe/NAME.rs`: a type that implements [`Probe`], and
//!    `pub fn register(setup: &Setup<'_>) -> Option<Box<dyn Probe>>` that builds it
//!    (or returns `None` when the options turn it off).
//! 2. Add `pub mod NAME;` below and `NAME::register` to [`REGISTRY`]. Its position
//!    there is its columns' position in `samples.csv`.
//!
//! That is all: the run calls the hooks, lays out the columns, judges the
//! resources, draws the panels, stages the attachments and fits the sites. A
//! whole probe — the target's voluntary context switches per sample:
//!
//! ```
//! use soak_live::probe::{
//!     Attached, Budget, Column, Probe, ProbeFuture, Resource, Row, Setup, TargetView,
//! };
//!
//! struct CtxSwitches {
//!     pid: u32,
//!     last: Option<f64>,
//! }
//!
//! pub fn register(_: &Setup<'_>) -> Option<Box<dyn Probe>> {
//!     Some(Box::new(CtxSwitches { pid: 0, last: None }))
//! }
//!
//! fn read(pid: u32) -> Option<f64> {
//!     let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
//!     let line = status.lines().find(|l| l.starts_with("voluntary_ctxt_switches:"))?;
//!     line.split_whitespace().nth(1)?.parse().ok()
//! }
//!
//! impl Probe for CtxSwitches {
//!     fn name(&self) -> &'static str {
//!         "ctx-switches"
//!     }
//!
//!     fn attach<'a>(&'a mut self, target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached> {
//!         self.pid = target.pid;
//!         self.last = read(self.pid);
//!         // Named once: a resource reported per wall hour, drawn in a panel.
//!         let column = Column::resource(
//!             "voluntary_switches",
//!             Resource::new("ctx_switches", "switches", Budget::None),
//!         )
//!         .in_panel("voluntary context switches per sample", "switches");
//!         Box::pin(async move { Ok(vec![column]) })
//!     }
//!
//!     fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()> {
//!         let now = read(self.pid);
//!         if let (Some(a), Some(b)) = (self.last, now) {
//!             row.set("voluntary_switches", b - a); // by name
//!         }
//!         self.last = now;
//!         Box::pin(async {})
//!     }
//! }
//! ```
//! `live/tests/ctx_switches.rs` adds a probe this way in one file and one line;
//! `live/tests/heap_probe.rs` adds a heap probe that hands over sites.
//!
//! # A run's life, as a probe sees it
//!
//! | hook | when | what the probe does |
//! |---|---|---|
//! | [`Probe::before_spawn`] | before a `--cmd` target starts | adds environment variables to its command ([`Spawn::set`], [`Spawn::append`]); may put files in [`Spawn::scratch`] |
//! | [`Probe::attach`] | the target listens | finds its source (the PID, the target's stderr as it arrives, the endpoint) and returns its columns; or refuses ([`Refusal`]) |
//! | [`Probe::start`] | just before the load starts | starts anything that should cover exactly the load (a sampling profiler) |
//! | [`Probe::sample`] | every `--sample-every` | fills its columns by name; a source that is gone leaves them empty and the probe notes why at the end |
//! | [`Probe::finish`] | after the load stopped, the target still up (unless it died) | attachments for the run directory, notes for the summary, per-site series, facts for `summary.json` |
//!
//! Hooks run one probe after another except [`Probe::sample`], which runs for all
//! probes at once (each fills its own columns). Everything async may take its time,
//! but a sample that takes longer than `--sample-every` delays the next one.
//!
//! # Heap probes
//!
//! A probe whose [`Probe::is_heap`] is true is a heap probe: `soak live --heap`
//! requires one to attach (or refuses the run before the load, exit 2),
//! `--no-heap` runs none, and by default every heap probe that can attach does.
//! A heap probe that needs to start the target itself ([`Probe::needs_spawn`],
//! an `LD_PRELOAD` say) is not run with `--pid`. A heap probe's
//! [`Budget::Memory`] resource becomes the judged memory of the run (the
//! `--max-growth` budget); RSS stays a column, reported.
//!
//! # Sites
//!
//! A heap probe that samples allocations hands over, at the end, the live bytes
//! of each allocation site at every sample ([`Sites`]). The run fits each site's
//! series with the resource's growth model (the same as a virtual run's sites:
//! `soak_harness::attribution`), keeps the fastest growing in `sites.csv` and
//! `growth_sites`, names the top one in a failing verdict, and draws them.

pub mod js_heap;
pub mod load_stats;
pub mod metrics;
pub mod native_heap;
pub mod proc;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::addr::Endpoint;
use crate::config::LiveConfig;
use crate::load::LoadStats;
use crate::target::Lines;
use soak_harness::attribution::Whose;

/// Every probe a live run builds, in column order: add yours here.
pub const REGISTRY: &[Register] = &[
    proc::register,
    load_stats::register,
    metrics::register,
    js_heap::register,
    native_heap::register,
];

/// Builds a probe for a run, or `None` when the run's options turn it off.
pub type Register = fn(&Setup<'_>) -> Option<Box<dyn Probe>>;

/// What a hook returns when it has to wait (a scrape, a websocket, a file).
pub type ProbeFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a probe is built from.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// The run's settings.
    pub cfg: &'a LiveConfig,
    /// Where the target listens.
    pub endpoint: &'a Endpoint,
    /// soak's own counts of the load it sends.
    pub load: &'a Arc<LoadStats>,
}

/// A source of columns over a run's life. Every hook but [`Probe::attach`] and
/// [`Probe::sample`] has a default that does nothing.
pub trait Probe: Send {
    /// A short name for notes and errors (`proc`, `metrics`, `js-heap`).
    fn name(&self) -> &'static str;

    /// Whether this is a heap probe (see the module docs: `--heap`, `--no-heap`).
    fn is_heap(&self) -> bool {
        false
    }

    /// Whether it only works on a target soak starts (`--cmd`), not one it
    /// attaches to (`--pid`): an environment variable must reach the target.
    fn needs_spawn(&self) -> bool {
        false
    }

    /// When [`Self::needs_spawn`]: another way to reach a `--pid` target, if
    /// there is one (the options that give it), for the note that it did not run.
    fn attach_instead(&self) -> Option<&'static str> {
        None
    }

    /// (a) Before a `--cmd` target starts: what its command needs. Not called for
    /// `--pid`. An error is a usage error (exit 2, nothing started or written).
    fn before_spawn(&mut self, _spawn: &mut Spawn) -> Result<(), String> {
        Ok(())
    }

    /// (b) The target is up: find the source and name the columns this probe
    /// fills, or refuse.
    fn attach<'a>(&'a mut self, target: &'a TargetView<'a>) -> ProbeFuture<'a, Attached>;

    /// (c) The load starts right after this returns.
    fn start(&mut self) -> ProbeFuture<'_, ()> {
        Box::pin(async {})
    }

    /// (d) One sample: fill this probe's columns by name (a column not set stays
    /// empty in `samples.csv`).
    fn sample<'a>(&'a mut self, row: &'a mut Row<'_>) -> ProbeFuture<'a, ()>;

    /// (e) The load has stopped; the target is still running unless it died
    /// ([`WindDown::target_alive`]). Hand over what the run should keep.
    fn finish<'a>(&'a mut self, _end: &'a mut WindDown) -> ProbeFuture<'a, ()> {
        Box::pin(async {})
    }

    /// The wall time between samples this probe asks for when `--sample-every`
    /// is not given: a read that costs the target nothing gains from more
    /// samples. The shortest asked for by an attached probe wins, when shorter
    /// than the default; `None` takes the default.
    fn sample_every(&self) -> Option<Duration> {
        None
    }

    /// A few words for the run's opening line (`metrics URL (12 series)`), once
    /// attached; `None` says nothing.
    fn describe(&self) -> Option<String> {
        None
    }
}

/// What [`Probe::attach`] answers.
pub type Attached = Result<Vec<Column>, Refusal>;

/// Why a probe does not attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It does not apply to this target, and says why (`not a Node target:
    /// judging RSS only`): the run goes on without it and keeps the reason as a
    /// note — unless `--heap` asked for a heap probe and none attached (then the
    /// reasons are the usage error).
    NotHere(String),
    /// Something the user must fix (a `--metrics-url` that does not answer): a
    /// usage error, exit 2, before the load; one line saying what to do.
    Usage(String),
}

/// The environment of the command a `--cmd` target is started with.
#[derive(Debug)]
pub struct Spawn {
    command: String,
    scratch: PathBuf,
    env: Vec<(String, String)>,
}

impl Spawn {
    /// Before any probe adds anything.
    pub fn new(command: &str, scratch: &Path) -> Self {
        Spawn {
            command: command.to_string(),
            scratch: scratch.to_path_buf(),
            env: Vec::new(),
        }
    }

    /// The `--cmd` text.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// A private directory of this run (removed at its end), for files the
    /// target and the probe share (a shared-memory file, a socket).
    pub fn scratch(&self) -> &Path {
        &self.scratch
    }

    /// Sets `name=value` in the target's environment.
    pub fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    /// Appends `value` to `name` with a space: to what an earlier probe set, else
    /// to soak's own environment's value (`NODE_OPTIONS`, `LD_PRELOAD`).
    pub fn append(&mut self, name: &str, value: &str) {
        let before = self
            .get(name)
            .map(str::to_string)
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.trim().is_empty());
        let joined = match before {
            Some(b) => format!("{b} {value}"),
            None => value.to_string(),
        };
        self.set(name, &joined);
    }

    /// What a probe has set so far for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every variable set, in order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.env
    }
}

/// The target as a probe sees it when attaching.
#[derive(Debug)]
pub struct TargetView<'a> {
    /// Its process id.
    pub pid: u32,
    /// The process that listens on the endpoint: the target itself, or, when
    /// soak started a wrapper (`npm start`, a shell script), the process in its
    /// group that holds the listening socket — whose RSS, threads and
    /// descriptors are the service's.
    pub serving: u32,
    /// Whether soak started it (`--cmd`).
    pub spawned: bool,
    /// Where it listens.
    pub endpoint: &'a Endpoint,
    /// The run's private directory (the same as [`Spawn::scratch`]).
    pub scratch: &'a Path,
    /// Its stderr from the first line (spawned targets only).
    pub stderr: Option<Lines>,
}

impl TargetView<'_> {
    /// A reader of the target's stderr from its first line, as it arrives
    /// (`None` for `--pid`). Each call starts a reader of its own.
    pub fn stderr_lines(&self) -> Option<Lines> {
        self.stderr.clone()
    }
}

/// One column a probe fills: its name in `samples.csv` (`[a-z0-9_]`), how it is
/// judged, and where the chart draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its `samples.csv` name.
    pub name: String,
    /// How it is judged.
    pub kind: Kind,
    /// Where it is drawn.
    pub chart: Chart,
}

/// How a column is judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A resource: its growth per wall hour is estimated and, with a budget,
    /// judged pass, fail or inconclusive (as a virtual run's heap).
    Resource(Resource),
    /// A level that rises and falls with the work (entries in a map,
    /// connections): reported, and listed among the gauges that grew when its
    /// growth is significant.
    Gauge,
    /// A total that only climbs (requests served): reported, never listed as grown.
    Counter,
    /// Drawn only, not a resource (the load per sample).
    Series,
}

/// A judged resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Its name in messages and `summary.json` (`rss`, `heap`, `js_heap`).
    pub name: String,
    /// Unit of one count: `bytes` (rates read `MiB/wall h`), or a noun
    /// (`threads`, `fds`), or `count`.
    pub unit: String,
    /// Its budget.
    pub budget: Budget,
}

/// A resource's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Reported, not judged.
    None,
    /// Growth allowed per wall hour.
    PerHour(f64),
    /// The run's memory budget (`--max-growth`). A heap probe's memory resource
    /// takes it whenever one attached; otherwise RSS does.
    Memory,
}

/// Where the chart draws a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// In the top panel, in MiB, with the fitted growth of the judged memory:
    /// for byte columns (RSS, a heap).
    Main {
        /// Its legend.
        label: String,
    },
    /// In the panel titled `title`, with the other columns of that title.
    Panel {
        /// The panel's title.
        title: String,
        /// This column's legend.
        label: String,
    },
    /// Not drawn.
    Hidden,
}

impl Column {
    /// A resource, drawn in a panel of its own.
    pub fn resource(name: &str, resource: Resource) -> Self {
        Column {
            name: name.to_string(),
            chart: Chart::own(name),
            kind: Kind::Resource(resource),
        }
    }

    /// A gauge, drawn in a panel of its own (`gauge: NAME`).
    pub fn gauge(name: &str) -> Self {
        Column {
            name: name.to_string(),
            chart: Chart::own(name),
            kind: Kind::Gauge,
        }
    }

    /// A counter, not drawn.
    pub fn counter(name: &str) -> Self {
        Column {
            name: name.to_string(),
            chart: Chart::Hidden,
            kind: Kind::Counter,
        }
    }

    /// A series drawn in a panel of its own, not judged.
    pub fn series(name: &str) -> Self {
        Column {
            name: name.to_string(),
            chart: Chart::own(name),
            kind: Kind::Series,
        }
    }

    /// Drawn in the panel `title` as `label`.
    pub fn in_panel(mut self, title: &str, label: &str) -> Self {
        self.chart = Chart::Panel {
            title: title.to_string(),
            label: label.to_string(),
        };
        self
    }

    /// Drawn in the top panel as `label`.
    pub fn main(mut self, label: &str) -> Self {
        self.chart = Chart::Main {
            label: label.to_string(),
        };
        self
    }

    /// Not drawn.
    pub fn hidden(mut self) -> Self {
        self.chart = Chart::Hidden;
        self
    }
}

impl Chart {
    /// A panel of its own, `gauge: NAME`.
    pub fn own(name: &str) -> Self {
        Chart::Panel {
            title: format!("gauge: {name}"),
            label: name.to_string(),
        }
    }
}

impl Resource {
    /// A resource of `unit` with a budget.
    pub fn new(name: &str, unit: &str, budget: Budget) -> Self {
        Resource {
            name: name.to_string(),
            unit: unit.to_string(),
            budget,
        }
    }
}

/// One sample's values of one probe's columns, set by name.
#[derive(Debug)]
pub struct Row<'a> {
    at_seconds: f64,
    names: &'a [String],
    values: &'a mut [f64],
    undeclared: Option<String>,
}

impl<'a> Row<'a> {
    /// A row of `names` (all empty) taken `at_seconds` into the load.
    pub fn new(at_seconds: f64, names: &'a [String], values: &'a mut [f64]) -> Self {
        values.iter_mut().for_each(|v| *v = f64::NAN);
        Row {
            at_seconds,
            names,
            values,
            undeclared: None,
        }
    }

    /// Wall seconds since the load started.
    pub fn at_seconds(&self) -> f64 {
        self.at_seconds
    }

    /// Sets `column` (one the probe declared) to `value`. Any other name is a
    /// bug in the probe: the value is dropped, and the summary notes it. Returns
    /// whether the column was found.
    pub fn set(&mut self, column: &str, value: f64) -> bool {
        match self.names.iter().position(|n| n == column) {
            Some(i) => {
                self.values[i] = value;
                true
            }
            None => {
                self.undeclared.get_or_insert_with(|| column.to_string());
                false
            }
        }
    }

    /// The first name set that the probe did not declare.
    pub fn undeclared(&self) -> Option<&str> {
        self.undeclared.as_deref()
    }
}

/// What probes hand over at the end of the load.
#[derive(Debug, Default)]
pub struct WindDown {
    /// Whether the target is still running (it may have died).
    pub target_alive: bool,
    /// Wall seconds the load ran.
    pub load_seconds: f64,
    pub(crate) attachments: Vec<Attachment>,
    pub(crate) notes: Vec<String>,
    pub(crate) sites: Vec<Sites>,
    pub(crate) facts: serde_json::Map<String, serde_json::Value>,
    pub(crate) withdrawn: Vec<String>,
}

/// A file for the run directory, written with the rest of the report (it appears
/// with the atomic swap, or not at all).
pub use soak_harness::report::{Attachment, Content};

impl WindDown {
    /// Adds a file to the run directory.
    pub fn attach_bytes(&mut self, name: &str, bytes: Vec<u8>) {
        self.attachments.push(Attachment {
            name: name.to_string(),
            content: Content::Bytes(bytes),
        });
    }

    /// Adds a file to the run directory from `path`.
    pub fn attach_file(&mut self, name: &str, path: &Path) {
        self.attachments.push(Attachment {
            name: name.to_string(),
            content: Content::File(path.to_path_buf()),
        });
    }

    /// A note for the summary (`notes`, and the end of the message): what the
    /// reader should know (`the inspector closed 4m10s into the run`).
    pub fn note(&mut self, text: &str) {
        self.notes.push(text.replace(['\n', '\r'], " "));
    }

    /// Withdraws one of the probe's resources from judging, with a note saying
    /// why (`no allocation reached the preload …`): it stays a reported column,
    /// and when it held the run's memory budget, RSS takes the budget back.
    pub fn withdraw(&mut self, resource: &str, why: &str) {
        self.withdrawn.push(resource.to_string());
        self.note(why);
    }

    /// The live bytes of allocation sites over the run.
    pub fn sites(&mut self, sites: Sites) {
        self.sites.push(sites);
    }

    /// A fact for the `live` object of `summary.json`; an object merges into what
    /// is there (`{"requests": {"target_counted": 5}}` adds one key to `requests`).
    pub fn fact(&mut self, key: &str, value: serde_json::Value) {
        merge(&mut self.facts, key, value);
    }
}

/// Puts `value` at `key` of `into`, merging objects key by key.
pub fn merge(
    into: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    value: serde_json::Value,
) {
    match (into.get_mut(key), value) {
        (Some(serde_json::Value::Object(old)), serde_json::Value::Object(new)) => {
            for (k, v) in new {
                merge(old, &k, v);
            }
        }
        (_, v) => {
            into.insert(key.to_string(), v);
        }
    }
}

/// Allocation sites of one resource: each site's live bytes at every sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sites {
    /// The resource they split (a [`Resource::name`] of the same probe: `heap`).
    pub resource: String,
    /// Mean bytes allocated between sampled allocations (its noise enters each
    /// site's error); 0 when the live bytes are exact.
    pub sample_bytes: u64,
    /// Allocations sampled over the run.
    pub samples: u64,
    /// Most frames recorded per site.
    pub frame_depth: usize,
    /// The sites.
    pub sites: Vec<Site>,
}

/// One allocation site.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Display frames, innermost first (`handle (server.js:12)`,
    /// `TtlMap::upsert (src/ttl_map.rs:201)`). Sites with the same frames are added
    /// together.
    pub frames: Vec<String>,
    /// The frame owning the stack and the user's caller into it, when the probe
    /// classified the stack (a native target's; a JavaScript frame is its own
    /// answer).
    pub whose: Option<Whose>,
    /// Estimated live bytes at each sample, in order, one per [`Probe::sample`]
    /// call (a site first seen late starts later: missing values at the start
    /// count as 0).
    pub live_bytes: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_set_by_name() {
        let names = vec!["a".to_string(), "b".to_string()];
        let mut values = vec![1.0; 2];
        let mut row = Row::new(3.0, &names, &mut values);
        assert!(row.set("b", 7.0));
        assert!(!row.set("c", 1.0));
        assert_eq!(row.undeclared(), Some("c"));
        assert_eq!(row.at_seconds(), 3.0);
        assert!(values[0].is_nan());
        assert_eq!(values[1], 7.0);
    }

    #[test]
    fn spawn_appends_to_what_is_there() {
        let mut s = Spawn::new("node x.js", Path::new("/tmp"));
        s.append("SOAK_TEST_UNSET_VAR", "--a");
        s.append("SOAK_TEST_UNSET_VAR", "--b");
        assert_eq!(s.get("SOAK_TEST_UNSET_VAR"), Some("--a --b"));
        s.set("X", "1");
        s.set("X", "2");
        assert_eq!(s.vars().len(), 2);
        assert_eq!(s.get("X"), Some("2"));
    }

    #[test]
    fn facts_merge_objects() {
        let mut end = WindDown::default();
        end.fact("requests", serde_json::json!({"a": 1}));
        end.fact("requests", serde_json::json!({"b": 2}));
        end.fact("x", serde_json::json!(3));
        assert_eq!(
            serde_json::Value::Object(end.facts),
            serde_json::json!({"requests": {"a": 1, "b": 2}, "x": 3})
        );
    }
}
