//! The [`Scenario`] trait and the [`Ctx`] a scenario drives its day through.
//!
//! A scenario is an async function over a [`Ctx`]: it builds its subjects (fixed or
//! leaky, from [`Ctx::variant`]), registers their gauges, then plays traffic until
//! [`Ctx::end`]. Everything else — the paused clock, sampling every virtual minute,
//! the injected calibration leak, the teardown check and the verdict — is the run
//! loop's job ([`crate::run()`]), so a scenario file reads like the day it simulates.
//! Each kind of traffic it replays is declared by name ([`Ctx::kind`], [`kind`]),
//! so a run can be replayed without some kinds or at another rate.

pub mod kind;

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
use crate::traffic::{Rng, Shape};
use crate::BoxError;

pub use kind::Kind;
use kind::KindState;

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

    /// The scenario's Rust type path, for the code soak writes for you (the
    /// `#[test]` of `soak shrink`). Leave the default.
    fn type_path(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// About how long 24 virtual hours of this scenario take in wall time
    /// (release build, one core). It only orders the runs of a parallel
    /// `soak all` longest first until the report root's `history.jsonl` has
    /// measured them; `None` (the default): unknown, started first.
    fn wall_guess(&self) -> Option<Duration> {
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
    pub(crate) kinds: RefCell<Vec<Rc<KindState>>>,
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
    /// Counts `n` load events (the `load_events` column and the progress bar).
    pub(crate) fn load(&self, n: u64) {
        self.events.set(self.events.get() + n);
        self.total_events.set(self.total_events.get() + n);
    }

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
    mute: Vec<String>,
    load_scale: f64,
    pub(crate) shared: Rc<Shared>,
}

impl Ctx {
    pub(crate) fn new(cfg: &RunConfig) -> Self {
        let start = Instant::now();
        Ctx {
            variant: cfg.variant,
            seed: cfg.seed,
            start,
            mute: cfg.mute.clone(),
            load_scale: cfg.load_scale,
            shared: Rc::new(Shared {
                gauges: RefCell::new(Vec::new()),
                kinds: RefCell::new(Vec::new()),
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
        if self
            .shared
            .kinds
            .borrow()
            .iter()
            .any(|k| k.column() == gauge.name)
        {
            return Err(format!(
                "gauge '{}' has the name of a traffic kind's column; rename the gauge",
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

    /// Declares a named kind of traffic the scenario replays (`flags`,
    /// `flag_waves`, `messages`, ...), drawing its events from `shape` (or `None`
    /// for a kind whose events the scenario computes: see [`Kind::poisson`],
    /// [`Kind::take`], [`Kind::chance`]). Every event drawn through the returned
    /// [`Kind`] counts as load (no [`Ctx::events`] call for them) and in the
    /// kind's own `load_NAME` column; `--mute NAME` replays without them and
    /// `--load-scale F` scales their rate. Declare kinds before the first
    /// `.await` that waits on time, as gauges.
    ///
    /// ```
    /// # use soak_harness::{Ctx, RunFuture, Scenario};
    /// # use soak_harness::traffic::{secs, Diurnal, Shape};
    /// # struct S;
    /// # impl Scenario for S {
    /// #     fn name(&self) -> &'static str { "s" }
    /// #     fn about(&self) -> &'static str { "" }
    /// fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
    ///     Box::pin(async move {
    ///         let flags = ctx.kind("flags", Shape::new(Diurnal::new(0.3, 3.0, 20.0)))?;
    ///         let mut rng = ctx.rng("flags");
    ///         let mut ticker = ctx.ticker(secs(1));
    ///         while let Some(t) = ticker.next().await {
    ///             for _ in 0..flags.count(&mut rng, t, secs(1)) {
    ///                 // one /flag command
    ///             }
    ///         }
    ///         Ok(())
    ///     })
    /// }
    /// # }
    /// ```
    pub fn kind(&self, name: &str, shape: impl Into<Option<Shape>>) -> Result<Kind, BoxError> {
        if self.shared.sealed.get() {
            return Err(format!(
                "traffic kind '{name}' declared after sampling started; declare kinds \
                 before the first .await that waits on time"
            )
            .into());
        }
        if !kind::valid_kind_name(name) {
            return Err(format!(
                "traffic kind name '{name}' must be 1 to {} lowercase letters, digits and '_'",
                kind::MAX_KIND_NAME
            )
            .into());
        }
        let column = kind::column(name);
        if self.shared.gauges.borrow().iter().any(|g| g.name == column) {
            return Err(format!(
                "traffic kind '{name}': a gauge is already named {column}; rename one"
            )
            .into());
        }
        let mut kinds = self.shared.kinds.borrow_mut();
        if kinds.iter().any(|k| k.name == name) {
            return Err(format!("traffic kind '{name}' declared twice").into());
        }
        let muted = self.mute.iter().any(|m| m == name);
        let state = Rc::new(KindState::new(name, muted, self.load_scale));
        kinds.push(state.clone());
        Ok(Kind::new(state, self.shared.clone(), shape.into()))
    }

    /// Reports `n` load events (requests, messages, connections) that are not
    /// drawn through a [`Kind`]: the load the growth model uses as its covariate,
    /// and the events/s on the progress bar.
    pub fn events(&self, n: u64) {
        self.shared.load(n);
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
