//! A live run's validated settings, and its error type.
//!
//! Everything here is decided from the command line alone — no process is
//! signalled, no socket opened — so every refusal (a remote host, a zero
//! duration, a malformed plan) costs nothing and writes nothing.

use std::path::PathBuf;
use std::time::Duration;

use soak_harness::Variant;

use crate::addr::Endpoint;
use crate::inspector::InspectorUrl;
use crate::node_heap::session::Cadence;
use crate::plan::Plan;
use crate::target::{StartError, TargetSpec};

/// Where the target's metrics come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsSource {
    /// `URL/metrics` if it answers with a 200 at startup; otherwise none.
    Auto,
    /// Never scrape.
    Off,
    /// This endpoint, which must answer at startup.
    Given(Endpoint),
}

/// Which heap probes run (`--heap`, `--no-heap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeapMode {
    /// Every heap probe that can attach does; the others say why in a note.
    #[default]
    Auto,
    /// A heap probe must attach, or the run is refused before the load.
    Required,
    /// None runs: the target's RSS is judged.
    Off,
}

/// A live run's settings.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The process to soak.
    pub target: TargetSpec,
    /// Where it listens (`None`: 127.0.0.1 on a free port, passed as `$PORT`).
    pub url: Option<Endpoint>,
    /// Where its metrics are.
    pub metrics: MetricsSource,
    /// The metric counting the requests the target served (default: the
    /// unlabelled series ending in `requests_total`, the shortest if several).
    pub count_metric: Option<String>,
    /// The traffic; its `retention` is the run's (`--retention`, else the plan's).
    pub plan: Plan,
    /// Goose users (requests in flight at once); the plan's when `None`.
    pub users: Option<usize>,
    /// Traffic seed.
    pub seed: u64,
    /// Wall time of the load.
    pub duration: Duration,
    /// Wall time one 24-hour day of the plan takes.
    pub day: Duration,
    /// Wall time between samples.
    pub sample_every: Duration,
    /// Whether `--sample-every` was given; if not, an attached probe may shorten
    /// it ([`crate::probe::Probe::sample_every`]).
    pub sample_every_given: bool,
    /// Wall time left out of the growth fit at the start.
    pub warmup: Duration,
    /// The target's longest retention in wall time (`--retention`, else the plan's).
    pub retention: Option<Duration>,
    /// RSS budget, bytes per wall hour.
    pub max_growth: f64,
    /// Open-descriptor budget per wall hour (`None`: reported, not judged).
    pub max_fd_growth: Option<f64>,
    /// Which heap probes run.
    pub heap: HeapMode,
    /// A `--pid` Node target's inspector (`--inspect-url`).
    pub inspect_url: Option<InspectorUrl>,
    /// `--open-inspector`: open a `--pid` Node target's inspector with SIGUSR1
    /// for the run (and close it at the end).
    pub open_inspector: bool,
    /// When the Node heap probe collects and reads the profile (`--heap-every`).
    pub heap_every: Cadence,
    /// Mean bytes between a heap probe's sampled allocations (0: no sites).
    pub sample_bytes: u64,
    /// How long the target's port may take to open.
    pub startup_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when stopping a spawned target.
    pub stop_grace: Duration,
    /// Label of the build under test.
    pub variant: Variant,
    /// Report directory name under `OUT/live-PLAN/`.
    pub name: String,
    /// Report root.
    pub out: PathBuf,
    /// No progress lines.
    pub quiet: bool,
}

impl LiveConfig {
    /// How many times faster than real time the plan's day plays.
    pub fn compression(&self) -> f64 {
        86_400.0 / self.day.as_secs_f64()
    }

    /// The report's scenario name: `live-PLAN`.
    pub fn scenario(&self) -> String {
        format!("live-{}", self.plan.name)
    }

    /// Goose users for this run.
    pub fn users(&self) -> usize {
        self.users.unwrap_or(self.plan.users)
    }
}

/// Everything that stops a live run short of a verdict. All exit with status 2.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Bad options or plan.
    #[error("{0}")]
    Usage(String),
    /// The target could not be brought up.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Bad shared options, reports that could not be written (or another
    /// harness error).
    #[error(transparent)]
    Harness(#[from] soak_harness::Error),
    /// Goose could not be set up or failed.
    #[error("{0}")]
    Load(String),
    /// The runtime could not be built.
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(std::io::Error),
}
