//! The [`Scenario`] trait and the [`Ctx`] a scenario drives its day through.
//!
//! A scenario is an async function over a [`Ctx`]: it builds its subjects (fixed or
//! leaky, from [`Ctx::variant`]), registers their gauges, then plays traffic until
//! [`Ctx::end`]. Everything else — the paused clock, sampling every virtual minute,
//! the injected calibration leak, the teardown check and the verdict — is the run
//! loop's job ([`crate::run()`]), so a scenario file reads like the day it simulates.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{RunConfig, Variant};
use crate::probe::{self, Gauge};
use crate::traffic::Rng;
use crate::BoxError;

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

    /// The longest time the subjects keep state: the longest TTL or retention
    /// window of any map, cache or registry they hold (a declared bound, such as
    /// a cache's TTL, even if capacity usually evicts sooner). Until a run has
    /// lasted this long, a fill of what is kept looks exactly like a leak, so the
    /// harness judges no shorter run (it is inconclusive), and warms up past it
    /// when the run is at least twice as long. `None` (the default): unknown.
    fn retention(&self) -> Option<Duration> {
        None
    }

    /// Alive tasks the subjects may gain per virtual hour when `--max-task-growth`
    /// is not given (`None`, the default: 1). A pass must mean the run could
    /// have seen a leak at the budget: declare a budget a day of your traffic can
    /// resolve when the task count swings by thousands (a connection per task),
    /// or every run will be inconclusive on tasks.
    fn task_budget(&self) -> Option<f64> {
        None
    }
}

/// What the scenario and the run loop share while a run goes on.
pub(crate) struct Shared {
    pub(crate) gauges: RefCell<Vec<Gauge>>,
    pub(crate) sealed: Cell<bool>,
    pub(crate) events: Cell<u64>,
    pub(crate) total_events: Cell<u64>,
    pub(crate) extras: RefCell<BTreeMap<String, serde_json::Value>>,
    /// Where the run ends now: the configured end, or earlier once an
    /// `--hours auto` run has settled its verdict.
    pub(crate) end: Cell<Instant>,
    /// Wakes tickers and `until_end` sleepers when the end moves.
    pub(crate) moved: Notify,
}

impl Shared {
    /// Ends the run at `at` (no later than it would have) and wakes every waiter.
    pub(crate) fn stop_at(&self, at: Instant) {
        if at < self.end.get() {
            self.end.set(at);
            self.moved.notify_waiters();
        }
    }
}

/// What a scenario sees of the run: settings, seeded randomness, the virtual
/// clock's bounds, and where to report gauges, load and summary facts.
///
/// With `--hours auto` the end is the latest the run may go (`--max-hours`) until
/// the harness has seen enough; then it moves to that moment, and [`Ticker::next`]
/// and [`Ctx::until_end`] return as they would at a planned end.
pub struct Ctx {
    variant: Variant,
    seed: u64,
    start: Instant,
    pub(crate) shared: Rc<Shared>,
}

impl Ctx {
    pub(crate) fn new(cfg: &RunConfig) -> Self {
        let start = Instant::now();
        Ctx {
            variant: cfg.variant,
            seed: cfg.seed,
            start,
            shared: Rc::new(Shared {
                gauges: RefCell::new(Vec::new()),
                sealed: Cell::new(false),
                events: Cell::new(0),
                total_events: Cell::new(0),
                extras: RefCell::new(BTreeMap::new()),
                end: Cell::new(start + Duration::from_secs_f64(cfg.hours * 3600.0)),
                moved: Notify::new(),
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

    /// Virtual length of the run (so far planned: see [`Ctx`] for `--hours auto`).
    pub fn duration(&self) -> Duration {
        self.end() - self.start
    }

    /// Virtual instant the run started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Virtual instant the run ends (so far planned: see [`Ctx`] for
    /// `--hours auto`).
    pub fn end(&self) -> Instant {
        self.shared.end.get()
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
            shared: self.shared.clone(),
        }
    }

    /// Sleeps until just after the end of the run (after the last sample).
    pub async fn until_end(&self) {
        self.shared.until_end().await;
    }
}

impl Shared {
    /// Sleeps until just after the end, following the end when it moves.
    async fn until_end(&self) {
        loop {
            let moved = self.moved.notified();
            tokio::select! {
                _ = tokio::time::sleep_until(self.end.get() + END_GRACE) => return,
                _ = moved => {}
            }
        }
    }
}

/// How long after the run's end [`Ticker::next`] and [`Ctx::until_end`] return:
/// enough for the sample due at the end to be taken first.
pub(crate) const END_GRACE: Duration = Duration::from_millis(1);

/// Fixed-step virtual time for a scenario's traffic loop.
pub struct Ticker {
    iv: tokio::time::Interval,
    start: Instant,
    shared: Rc<Shared>,
}

impl Ticker {
    /// Waits for the next tick and returns the virtual time since the start, or
    /// `None` once the run's end is reached — a moment after it, once the harness
    /// has taken its last sample, so shutting subjects down right after the loop
    /// never shows up as an empty final sample.
    pub async fn next(&mut self) -> Option<Duration> {
        let at = loop {
            let moved = self.shared.moved.notified();
            if self.shared.end.get() <= Instant::now() {
                break None; // the end has come (or moved to the past)
            }
            tokio::select! {
                at = self.iv.tick() => break Some(at),
                _ = moved => {}
            }
        };
        if let Some(at) = at.filter(|&at| at < self.shared.end.get()) {
            return Some(at - self.start);
        }
        self.shared.until_end().await;
        None
    }
}
