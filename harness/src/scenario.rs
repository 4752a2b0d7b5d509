//! The [`Scenario`] trait, the [`Ctx`] a scenario drives its day through, and the
//! run loop that samples, judges and reports.
//!
//! A scenario is an async function over a [`Ctx`]: it builds its subjects (fixed or
//! leaky, from [`Ctx::variant`]), registers their gauges, then plays traffic until
//! [`Ctx::end`]. Everything else — the paused clock, sampling every virtual minute,
//! the injected calibration leak, the teardown check, the verdict and the report
//! files — is the harness's job, so a scenario file reads like the day it simulates.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::clock::{self, Clock};
use crate::probe::{self, Gauge, Reading, FIXED_COLUMNS};
use crate::progress::Progress;
use crate::report::{self, DhatReport, Summary, Teardown};
use crate::samples::Samples;
use crate::traffic::Rng;
use crate::verdict::{self, ResourceSpec};
use crate::{attribution, profile, sites, BoxError, Error};

/// Which twin of the subject to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The cure the source report proposed.
    #[default]
    Fixed,
    /// The bug the source report found.
    Leaky,
}

impl Variant {
    /// `fixed` or `leaky`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Fixed => "fixed",
            Variant::Leaky => "leaky",
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Scenario::run`] returns.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + 'a>>;

/// A day of synthetic traffic against some subjects.
pub trait Scenario {
    /// Kebab-case name used on the command line (`soak run NAME`).
    fn name(&self) -> &'static str;

    /// One line for `soak list`: what it stresses and which report it comes from.
    fn about(&self) -> &'static str;

    /// Plays the day. Register gauges before the first `.await` that waits on time;
    /// return once [`Ctx::end`] has passed, after shutting your subjects down.
    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a>;
}

/// The validated settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Subject variant.
    pub variant: Variant,
    /// Virtual hours to run.
    pub hours: f64,
    /// Traffic seed.
    pub seed: u64,
    /// Heap budget, bytes per virtual hour.
    pub max_growth: f64,
    /// Alive-task budget, tasks per virtual hour.
    pub max_task_growth: f64,
    /// Open-descriptor budget, descriptors per virtual hour.
    pub max_fd_growth: f64,
    /// Time between samples.
    pub sample_every: Duration,
    /// Hours excluded from the growth fit; `None` for 10% of the run.
    pub warmup_hours: Option<f64>,
    /// Extra leak injected by the harness, bytes per virtual hour (calibration).
    pub leak_rate: f64,
    /// Report root; `None` writes no files (tests).
    pub out: Option<PathBuf>,
    /// Profile with dhat and write `dhat-heap.json`.
    pub dhat: bool,
    /// Virtual hour at which dhat profiling starts (0: from the start).
    pub dhat_from: f64,
    /// Draw a progress bar on stderr (only shown when stderr is a terminal).
    pub progress: bool,
    /// Mean bytes between sampled allocations for per-site growth (0: off).
    pub sample_bytes: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            variant: Variant::Fixed,
            hours: 24.0,
            seed: 1,
            max_growth: 1e6,
            max_task_growth: 1.0,
            max_fd_growth: 1.0,
            sample_every: Duration::from_secs(60),
            warmup_hours: None,
            leak_rate: 0.0,
            out: None,
            dhat: false,
            dhat_from: 0.0,
            progress: false,
            sample_bytes: sites::DEFAULT_SAMPLE_BYTES,
        }
    }
}

impl RunConfig {
    /// The warm-up actually used: the configured one or 10% of the run.
    pub fn warmup(&self) -> f64 {
        self.warmup_hours.unwrap_or(self.hours * 0.1)
    }

    /// Number of samples the run takes (including the one at t = 0).
    pub fn sample_count(&self) -> usize {
        (self.hours * 3600.0 / self.sample_every.as_secs_f64()).floor() as usize + 1
    }

    /// Checks ranges that the type system cannot.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.hours.is_finite() && self.hours > 0.0) {
            return Err(Error::Usage(format!(
                "--hours must be a positive number of virtual hours, got {}",
                self.hours
            )));
        }
        if self.hours > 24.0 * 365.0 {
            return Err(Error::Usage(format!(
                "--hours {} is more than a year of virtual time; use at most 8760",
                self.hours
            )));
        }
        if !(self.dhat_from.is_finite() && self.dhat_from >= 0.0 && self.dhat_from < self.hours) {
            return Err(Error::Usage(format!(
                "--dhat-from must be between 0 and --hours ({}), got {}",
                self.hours, self.dhat_from
            )));
        }
        if let Some(w) = self.warmup_hours {
            if !(w.is_finite() && w >= 0.0 && w < self.hours) {
                return Err(Error::Usage(format!(
                    "--warmup must be between 0 and --hours ({}), got {w}",
                    self.hours
                )));
            }
        }
        let window = self.hours - self.warmup();
        let needed = crate::growth::MIN_POINTS as f64 * self.sample_every.as_secs_f64() / 3600.0;
        if window < needed {
            return Err(Error::Usage(format!(
                "a {}-hour run sampled every {:?} leaves fewer than {} samples after the \
                 warm-up; raise --hours or lower --sample-every",
                self.hours,
                self.sample_every,
                crate::growth::MIN_POINTS
            )));
        }
        Ok(())
    }
}

struct Shared {
    gauges: RefCell<Vec<Gauge>>,
    sealed: Cell<bool>,
    events: Cell<u64>,
    total_events: Cell<u64>,
    extras: RefCell<BTreeMap<String, serde_json::Value>>,
}

/// What a scenario sees of the run: settings, seeded randomness, the virtual
/// clock's bounds, and where to report gauges, load and summary facts.
pub struct Ctx {
    variant: Variant,
    seed: u64,
    duration: Duration,
    start: Instant,
    shared: Rc<Shared>,
}

impl Ctx {
    fn new(cfg: &RunConfig) -> Self {
        Ctx {
            variant: cfg.variant,
            seed: cfg.seed,
            duration: Duration::from_secs_f64(cfg.hours * 3600.0),
            start: Instant::now(),
            shared: Rc::new(Shared {
                gauges: RefCell::new(Vec::new()),
                sealed: Cell::new(false),
                events: Cell::new(0),
                total_events: Cell::new(0),
                extras: RefCell::new(BTreeMap::new()),
            }),
        }
    }

    /// The subject variant to build.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Whether the run is of the leaky twin.
    pub fn leaky(&self) -> bool {
        self.variant == Variant::Leaky
    }

    /// The traffic seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// An independent random stream named `stream`, derived from the seed.
    pub fn rng(&self, stream: &str) -> Rng {
        Rng::stream(self.seed, stream)
    }

    /// Virtual length of the run.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Virtual instant the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Virtual instant the run ends.
    pub fn end(&self) -> Instant {
        self.start + self.duration
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    /// Whether the run's virtual time is up.
    pub fn done(&self) -> bool {
        Instant::now() >= self.end()
    }

    /// Registers a gauge: a column in `samples.csv` and a panel on the chart.
    /// Must happen before the first sample (before the scenario first waits on time).
    pub fn gauge(&self, gauge: Gauge) -> Result<(), BoxError> {
        if self.shared.sealed.get() {
            return Err(format!(
                "gauge '{}' registered after sampling started; register gauges before \
                 the first .await that waits on time",
                gauge.name
            )
            .into());
        }
        if !probe::valid_gauge_name(&gauge.name) {
            return Err(format!(
                "gauge name '{}' must be lowercase letters, digits and '_', and not a \
                 fixed column",
                gauge.name
            )
            .into());
        }
        let mut g = self.shared.gauges.borrow_mut();
        if g.iter().any(|x| x.name == gauge.name) {
            return Err(format!("gauge '{}' registered twice", gauge.name).into());
        }
        g.push(gauge);
        Ok(())
    }

    /// Reports `n` load events (requests, messages, connections): the load the
    /// growth model uses as its covariate, and the events/s on the progress bar.
    pub fn events(&self, n: u64) {
        self.shared.events.set(self.shared.events.get() + n);
        self.shared
            .total_events
            .set(self.shared.total_events.get() + n);
    }

    /// Sets a top-level field of `summary.json` (e.g. `peak_connections`).
    pub fn set_summary(&self, key: &str, value: impl Into<serde_json::Value>) {
        self.shared
            .extras
            .borrow_mut()
            .insert(key.to_string(), value.into());
    }

    /// Raises a numeric summary field to `value` if it is higher (peaks).
    pub fn max_summary(&self, key: &str, value: f64) {
        let mut e = self.shared.extras.borrow_mut();
        let cur = e.get(key).and_then(serde_json::Value::as_f64);
        if cur.is_none_or(|c| value > c) {
            e.insert(key.to_string(), serde_json::json!(value));
        }
    }

    /// A ticker firing every `every` from the start until the end of the run.
    pub fn ticker(&self, every: Duration) -> Ticker {
        let mut iv = tokio::time::interval_at(self.start, every);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker {
            iv,
            start: self.start,
            end: self.end(),
        }
    }

    /// Sleeps until just after the end of the run (after the last sample).
    pub async fn until_end(&self) {
        tokio::time::sleep_until(self.end() + END_GRACE).await;
    }
}

/// How long after the run's end [`Ticker::next`] and [`Ctx::until_end`] return:
/// enough for the sample due at the end to be taken first.
const END_GRACE: Duration = Duration::from_millis(1);

/// Fixed-step virtual time for a scenario's traffic loop.
pub struct Ticker {
    iv: tokio::time::Interval,
    start: Instant,
    end: Instant,
}

impl Ticker {
    /// Waits for the next tick and returns the virtual time since the start, or
    /// `None` once the run's end is reached — a moment after it, once the harness
    /// has taken its last sample, so shutting subjects down right after the loop
    /// never shows up as an empty final sample.
    pub async fn next(&mut self) -> Option<Duration> {
        let at = self.iv.tick().await;
        if at < self.end {
            return Some(at - self.start);
        }
        tokio::time::sleep_until(self.end + END_GRACE).await;
        None
    }
}

/// Everything a finished run produced.
#[derive(Debug)]
pub struct Outcome {
    /// What `summary.json` holds.
    pub summary: Summary,
    /// What `samples.csv` holds.
    pub samples: Samples,
    /// Where the reports were written (when `out` was set).
    pub dir: Option<PathBuf>,
    /// What `sites.csv` holds (absent with sampling off).
    pub sites: Option<Samples>,
}

impl Outcome {
    /// Whether every budgeted resource stayed within its budget.
    pub fn passed(&self) -> bool {
        self.summary.verdict == "pass"
    }
}

// The counting allocator is process-wide: two runs at once would measure each other.
static RUN_LOCK: Mutex<()> = Mutex::new(());

/// Runs `scenario` under `cfg`: replays the day on a paused clock, samples every
/// resource, judges growth, and (with `cfg.out`) writes the report files.
pub fn run(scenario: &dyn Scenario, cfg: &RunConfig) -> Result<Outcome, Error> {
    cfg.validate()?;
    let dir = match &cfg.out {
        Some(root) => Some(report::prepare_dir(root, scenario.name(), cfg.variant)?),
        None => None,
    };
    // A poisoned lock only means an earlier run panicked; the counters are still fine.
    let _serial = RUN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let wall = std::time::Instant::now();
    // The replay runs on this thread: its samples follow the seed.
    sites::configure(cfg.sample_bytes, cfg.seed);
    let rt = clock::runtime(Clock::Virtual)?;
    let recorded = rt.block_on(drive(scenario, cfg, dir.as_deref()));
    drop(rt);
    let rec = recorded.map_err(|source| Error::Scenario {
        scenario: scenario.name().to_string(),
        source,
    })?;
    let dhat = rec.dhat.transpose()?;
    let wall_seconds = wall.elapsed().as_secs_f64();

    let specs = resource_specs(cfg, &rec.gauge_specs);
    let verdicts = verdict::analyse(&rec.samples, &specs, cfg.warmup());
    let heap_growth = verdicts
        .iter()
        .find(|v| v.spec.name == "heap")
        .filter(|v| v.grew())
        .map(|v| v.per_hour());
    let site_report = rec.sites.map(|r| {
        let settings = attribution::FitSettings {
            warmup_hours: cfg.warmup(),
            budget_per_hour: cfg.max_growth,
            heap_growth,
            sample_bytes: cfg.sample_bytes,
        };
        attribution::attribute(&r.finish(), &rec.samples, &settings)
    });
    let summary = Summary::new(report::SummaryInput {
        scenario: scenario.name(),
        cfg,
        wall_seconds,
        samples: &rec.samples,
        verdicts,
        teardown: rec.teardown,
        extras: rec.extras,
        events: rec.events,
        dhat,
        sites: site_report.as_ref(),
    });
    let sites = site_report.map(|r| r.series);
    if let Some(dir) = &dir {
        report::write_run(dir, &rec.samples, sites.as_ref(), &summary)?;
    }
    Ok(Outcome {
        summary,
        samples: rec.samples,
        dir,
        sites,
    })
}

/// The resources judged in every run, then one per gauge.
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

struct Recording {
    samples: Samples,
    gauge_specs: Vec<(String, Option<f64>)>,
    teardown: Teardown,
    extras: BTreeMap<String, serde_json::Value>,
    events: u64,
    dhat: Option<Result<DhatReport, Error>>,
    sites: Option<sites::Recorder>,
}

async fn drive(
    scenario: &dyn Scenario,
    cfg: &RunConfig,
    dir: Option<&Path>,
) -> Result<Recording, BoxError> {
    // Profiling from the start begins before anything of the run exists, so dhat's
    // bytes-at-end and the counted live heap describe the same blocks.
    let profile =
        RefCell::new((cfg.dhat && cfg.dhat_from <= 0.0).then(|| profile::Session::start(dir, 0.0)));
    let dhat_at_end = RefCell::new(None);
    clock::settle().await;
    let before = probe::read(0.0, 0);
    let ctx = Ctx::new(cfg);
    let injector = (cfg.leak_rate > 0.0).then(|| spawn_leak(cfg.leak_rate, ctx.duration));
    let failed = Cell::new(false);
    let n = cfg.sample_count();
    let every = cfg.sample_every;
    let mut progress = Progress::new(cfg.progress, scenario.name(), cfg.hours);

    let sampler = async {
        // Let the scenario build its subjects and register gauges first.
        tokio::task::yield_now().await;
        ctx.shared.sealed.set(true);
        let names: Vec<String> = ctx
            .shared
            .gauges
            .borrow()
            .iter()
            .map(|g| g.name.clone())
            .collect();
        let mut columns: Vec<String> = FIXED_COLUMNS.iter().map(|s| s.to_string()).collect();
        columns.extend(names.iter().cloned());
        let mut samples = Samples::with_capacity(columns, n);
        let mut gauge_row = Vec::with_capacity(names.len());
        let mut site_rec = sites::Recorder::start(n);
        let mut iv = tokio::time::interval_at(ctx.start, every);
        for _ in 0..n {
            let at = iv.tick().await;
            if failed.get() {
                break;
            }
            clock::settle().await;
            let secs = (at - ctx.start).as_secs_f64();
            let load = ctx.shared.events.replace(0);
            let reading = probe::read(secs, load);
            if let Some(r) = site_rec.as_mut() {
                r.record(secs);
            }
            gauge_row.clear();
            gauge_row.extend(ctx.shared.gauges.borrow().iter().map(Gauge::read));
            samples.push_row(
                reading
                    .columns()
                    .into_iter()
                    .chain(gauge_row.iter().copied()),
            );
            progress.update(
                secs / 3600.0,
                ctx.shared.total_events.get(),
                reading.live_bytes,
            );
            let late_start = cfg.dhat && secs / 3600.0 >= cfg.dhat_from;
            if late_start && profile.borrow().is_none() {
                *profile.borrow_mut() = Some(profile::Session::start(dir, secs / 3600.0));
            }
        }
        progress.finish();
        // Stop profiling right after the last sample: the end of the day, before
        // the scenario (which resumes a moment later) shuts its subjects down, so
        // "bytes at end" are what the day left live.
        *dhat_at_end.borrow_mut() = profile.take().map(profile::Session::stop);
        (samples, site_rec)
    };
    let scenario_run = async {
        let r = scenario.run(&ctx).await;
        if r.is_err() {
            failed.set(true);
        }
        r
    };
    let (result, (samples, site_rec)) = tokio::join!(scenario_run, sampler);
    // A sampler that stopped early (the scenario failed) leaves the profile running.
    let dhat = dhat_at_end
        .take()
        .or_else(|| profile.take().map(profile::Session::stop));
    result?;

    // Teardown: the scenario has shut its subjects down; give stragglers 5 virtual
    // seconds (seed 002's "clean shutdown within 5 s"), then compare with `before`.
    if let Some(h) = injector {
        h.abort();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    clock::settle().await;
    let gauge_specs: Vec<(String, Option<f64>)> = ctx
        .shared
        .gauges
        .borrow()
        .iter()
        .map(|g| (g.name.clone(), g.budget_per_hour))
        .collect();
    let gauges_after: BTreeMap<String, f64> = ctx
        .shared
        .gauges
        .borrow()
        .iter()
        .map(|g| (g.name.clone(), g.read()))
        .collect();
    let at_rest: BTreeMap<String, f64> = ctx
        .shared
        .gauges
        .borrow()
        .iter()
        .filter_map(|g| Some((g.name.clone(), g.at_rest?)))
        .collect();
    let extras = ctx.shared.extras.take();
    let events = ctx.shared.total_events.get();
    drop(ctx); // releases the gauges and whatever they kept alive
    clock::settle().await;
    let after: Reading = probe::read(0.0, 0);
    // The sample table is the one thing of the run the harness still holds.
    let teardown = Teardown::new(
        &before,
        &after.less_heap(samples.heap_bytes()),
        gauges_after,
    )
    .require_at_rest(&at_rest);
    Ok(Recording {
        samples,
        gauge_specs,
        teardown,
        extras,
        events,
        dhat,
        // Still in its own mapped memory: turned into counted vectors after teardown.
        sites: site_rec,
    })
}

/// The harness's calibrated leak: `rate` bytes per virtual hour, allocated every
/// 10 virtual seconds so that after `t` exactly `floor(rate · t)` bytes are held,
/// and written to so RSS sees them too. Freed when the task is aborted.
fn spawn_leak(rate: f64, duration: Duration) -> tokio::task::JoinHandle<()> {
    let step = Duration::from_secs(10);
    let ticks = (duration.as_secs() / step.as_secs()) as usize + 2;
    tokio::spawn(async move {
        let mut held: Vec<Box<[u8]>> = Vec::with_capacity(ticks);
        let start = Instant::now();
        let mut leaked = 0u64;
        let mut iv = tokio::time::interval_at(start + step, step);
        loop {
            let at = iv.tick().await;
            let due = (rate * (at - start).as_secs_f64() / 3600.0).floor() as u64;
            let chunk = due.saturating_sub(leaked) as usize;
            if chunk > 0 && held.len() < held.capacity() {
                held.push(vec![0xA5u8; chunk].into_boxed_slice());
                leaked = due;
            }
        }
    })
}
