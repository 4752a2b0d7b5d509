//! From samples to a verdict: which resources are judged against which budgets
//! ([`resource_specs`]), each resource's verdict and the reason for it
//! ([`analyse`], [`judge`]), the run's verdict ([`decide`]), the one-line
//! explanation ([`message`]), and the teardown check ([`Teardown`]). Everything
//! that decides pass, fail or inconclusive lives here; reports only write down
//! what was decided.
//!
//! # Three answers
//!
//! A budgeted resource **fails** when its growth estimate exceeds the budget and
//! clears the noise ([`Estimate::exceeds_at`]) and the evidence survives the checks
//! that make short windows unsafe; it **passes** when it does not grow past the
//! budget and the window was able to see a leak; otherwise it is
//! **inconclusive**, with a [`Reason`] that says what to run next. In order:
//!
//! 1. the run is at least the subjects' declared retention (until then a fill of
//!    what they keep that long looks like a leak);
//! 2. time is not collinear with the load covariates (variance inflation of the
//!    trend at most [`MAX_TREND_VIF`]), or trend and working set are inseparable;
//! 3. a fail: the growth is not slowing like a fill (the bend at mid-window is not
//!    [`FILL_Z`] standard errors below zero while the late half is not itself
//!    clearly over budget), the window holds [`MIN_WINDOW_EVENTS`] load events
//!    (when load is reported), and the rise over the window stands
//!    [`MIN_RISE_TO_NOISE`] times out of the noise band;
//! 4. a pass: the estimate is not over the budget with [`GREY_Z`] standard errors
//!    of support, and the window saw the load rise and fall by at least
//!    [`MIN_LOAD_SWING`] (and [`LOAD_SWING_NOISE`] times the smoothed load's
//!    noise), or the run lasted a day ([`LOAD_CYCLE_HOURS`]) — a leak that grows
//!    with traffic shows its full rate only through the busiest hours;
//! 5. a pass: the run could have caught a leak at the budget — its *detectable
//!    growth* (the smallest growth it could tell from zero: z standard errors,
//!    [`ResourceVerdict::detectable_per_hour`]) is within the budget. A window
//!    whose noise hides a leak at the budget says so, with the figure
//!    ([`Reason::Undetectable`]).
//!
//! A full day of every scenario passes every check, so 24-hour verdicts are what
//! they were before the third answer; the grid of shorter runs that motivated each
//! check is in `docs/verdict.md`.
//!
//! Hours are the run's own ([`Judging::time_base`]): virtual hours, or a live
//! run's wall hours; reasons and messages are told on that clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::growth::{self, Estimate, Facts, SIGNIFICANCE_Z};
use crate::probe::Reading;
use crate::samples::Samples;
use crate::timebase::TimeBase;
use crate::units::amount_text;

/// A resource's or a run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within budget.
    Pass,
    /// Grew past its budget.
    Fail,
    /// The window cannot tell; the [`Reason`] says why and what to run.
    Inconclusive,
    /// Reported, not judged (a resource without a budget).
    Info,
}

impl Verdict {
    /// `pass`, `fail`, `inconclusive` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Info => "info",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Largest variance inflation of the trend (time regressed on the load
/// covariates) at which trend and load are still told apart. 10 is the usual
/// line for serious collinearity; full days measure 2–5, windows in which the load
/// only rises 15–1,000.
pub const MAX_TREND_VIF: f64 = 10.0;

/// Standard errors below zero at which the bend at mid-window marks a fill that
/// is slowing down (one-sided 95%).
pub const FILL_Z: f64 = 1.645;

/// Noise widths (residual standard deviations) a live run's level may move through
/// its late half, beside the budget's growth, and still have held there.
pub const LEVEL_NOISE: f64 = 2.0;

/// How many times the noise band (residual standard deviation) the growth over the
/// window must be for a fail: a rise inside the noise is no leak, whatever a test
/// that assumes short-memory noise says.
pub const MIN_RISE_TO_NOISE: f64 = 5.0;

/// Fewest load events a window must hold for a fail, when the scenario reports
/// load at all. With fewer, the load covariates are a handful of counts: they
/// cannot pin down a working set driven by so few events, and a chance drift of a
/// few long-lived requests reads as growth (the load's counting noise over the
/// window, 1/√events, is over 10%).
pub const MIN_WINDOW_EVENTS: f64 = 100.0;

/// Standard errors of support at which an estimate over the budget, short of a
/// fail, is not a pass either: over the budget but within the noise.
pub const GREY_Z: f64 = 1.0;

/// How far the smoothed load must rise to its peak and fall from it within the
/// window, as a share of the peak, for a pass.
pub const MIN_LOAD_SWING: f64 = 0.25;

/// The load's rise and fall must also be this many times its own noise.
pub const LOAD_SWING_NOISE: f64 = 3.0;

/// The longest load cycle assumed: a day. A run this long has seen its load's
/// cycle whatever its shape, so a load that never swung (a flat rate) does not
/// keep it from passing.
pub const LOAD_CYCLE_HOURS: f64 = 24.0;

/// Why a resource (or a run) is inconclusive: what the window could not show,
/// with the figures, and what to run instead ([`Reason::text`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Too few samples after the warm-up to estimate anything.
    TooShort {
        /// The run's length, hours.
        run_hours: f64,
    },
    /// The run is shorter than the subjects' longest retention.
    Retention {
        /// The run's length, hours.
        run_hours: f64,
        /// The declared retention, hours.
        retention_hours: f64,
    },
    /// Time is (nearly) a combination of the load covariates in this window.
    Collinear {
        /// Variance inflation of the trend.
        vif: f64,
        /// Whether the window saw the load rise and fall (then the covariates'
        /// lags are what is long for the window, not the load's cycle).
        #[serde(default)]
        swung: bool,
        /// The run's length, hours.
        #[serde(default)]
        run_hours: f64,
    },
    /// Growth over budget that is slowing down like a fill.
    Fill {
        /// Slope of the early half, per hour.
        early_per_hour: f64,
        /// Slope of the late half, per hour.
        late_per_hour: f64,
        /// The run's length, hours.
        run_hours: f64,
    },
    /// A live run's growth over budget while its level itself held through the
    /// late half as the load fell (moved no more than the budget allows there and
    /// two noise widths): the growth rests on how far the load model says the
    /// level should have fallen, which a fill during the compressed day's rise
    /// mimics.
    Levelled {
        /// How far the level moved over the late half (highest less lowest).
        range: f64,
        /// The noise band (residual standard deviation of the whole fit).
        noise: f64,
        /// The run's length, hours.
        run_hours: f64,
    },
    /// Growth over budget in a window that saw too few load events to trust it.
    LittleLoad {
        /// Load events in the window.
        events: f64,
        /// The run's length, hours.
        run_hours: f64,
    },
    /// Growth over budget whose rise over the window is inside the noise band.
    WithinNoise {
        /// Growth over the window (slope × window length).
        rise: f64,
        /// Residual standard deviation.
        noise: f64,
        /// The run's length, hours.
        run_hours: f64,
    },
    /// An estimate over the budget with some support, short of a fail.
    NearBudget {
        /// The estimate, per hour.
        per_hour: f64,
        /// Its standard error.
        stderr: f64,
        /// The run's length, hours.
        run_hours: f64,
    },
    /// The window did not see the load rise and fall.
    LoadNotCovered {
        /// How far the smoothed load rose to its peak (share of the peak).
        rise: f64,
        /// How far it fell after the peak.
        fall: f64,
        /// The swing needed.
        needed: f64,
    },
    /// No growth past the budget, but a leak at the budget would not have
    /// shown: the smallest growth the window can tell from zero is over it.
    Undetectable {
        /// The detectable growth, per hour (`z` standard errors).
        detectable_per_hour: f64,
        /// The budget, per hour.
        budget_per_hour: f64,
        /// Standard errors a growth must clear.
        z: f64,
        /// The run's length, hours.
        run_hours: f64,
    },
}

/// The name of the resource that judges a process's resident set (a virtual
/// run's `rss`, a live target's): the one a heap probe can replace.
pub const RSS: &str = "rss";

impl Reason {
    /// One line for a person: what the window could not show and what to run.
    /// `resource` is the judged resource's name (RSS gets the heap probe's advice),
    /// `unit` its unit (for rates); `tb` the run's clock (for the hours, the rates
    /// and which option makes a run longer).
    pub fn text(&self, resource: &str, unit: &str, tb: &TimeBase) -> String {
        let rate = |v: f64| tb.rate_text(v, unit);
        match *self {
            Reason::TooShort { run_hours } => format!(
                "too few samples after the warm-up to estimate growth — {}",
                tb.longer(run_hours)
            ),
            Reason::Retention {
                run_hours,
                retention_hours,
            } => format!(
                "window shorter than the subject's longest retention ({}; the run was {}): \
                 what it keeps that long is still filling, and a fill looks like a leak — \
                 run ≥ {}",
                tb.hours_text(retention_hours),
                tb.hours_text(run_hours),
                tb.hours_text(retention_hours)
            ),
            Reason::Collinear {
                vif, swung: false, ..
            } => format!(
                "trend and load are inseparable in this window (the load only rose or fell: \
                 variance inflation {vif:.0} > {MAX_TREND_VIF:.0}) — run through a load peak and \
                 trough, {}",
                tb.through_the_day()
            ),
            Reason::Collinear {
                vif,
                swung: true,
                run_hours,
            } => format!(
                "trend and load are inseparable in this window (variance inflation {vif:.0} > \
                 {MAX_TREND_VIF:.0}, though the load rose and fell: a covariate that follows \
                 the load with a lag long for this window can pass for a trend) — {}",
                tb.longer(run_hours)
            ),
            Reason::Fill {
                early_per_hour,
                late_per_hour,
                run_hours,
            } => format!(
                "growth is slowing — a fill, not yet a plateau ({} early, {} late) — {}",
                rate(early_per_hour),
                rate(late_per_hour),
                tb.longer(run_hours)
            ),
            Reason::Levelled {
                range,
                noise,
                run_hours,
            } => format!(
                "the level held within {} through the late half (noise ± {}) as the load \
                 fell: the growth rests on how far it should have fallen with the load, which \
                 a fill during the day's rise mimics — {}",
                amount_text(range, unit),
                amount_text(noise, unit),
                tb.two_days(run_hours)
            ),
            Reason::LittleLoad { events, run_hours } => format!(
                "the window saw only {events:.0} load events (fewer than \
                 {MIN_WINDOW_EVENTS:.0}): too few to tell growth from the chance drift of a few \
                 long-lived requests — {}",
                tb.longer(run_hours)
            ),
            Reason::WithinNoise {
                rise,
                noise,
                run_hours,
            } => format!(
                "the growth over the window ({}) hardly stands out of the noise (± {}) — {}",
                amount_text(rise, unit),
                amount_text(noise, unit),
                tb.longer(run_hours)
            ),
            Reason::NearBudget {
                per_hour,
                stderr,
                run_hours,
            } => format!(
                "growth {} ± {} is over the budget but within the noise — {}",
                rate(per_hour),
                rate(stderr),
                tb.longer(run_hours)
            ),
            Reason::LoadNotCovered { rise, fall, needed } => format!(
                "the window has not seen the load rise and fall (rise {:.0}%, fall {:.0}%; \
                 {:.0}% needed): a leak that grows with traffic shows its full rate only \
                 through the busiest hours — run through the load's peak, {}",
                100.0 * rise,
                100.0 * fall,
                100.0 * needed,
                tb.through_the_day()
            ),
            Reason::Undetectable {
                detectable_per_hour,
                budget_per_hour,
                z,
                run_hours,
            } => format!(
                "a leak at the budget would not have shown: the smallest growth this run \
                 could tell from zero is {} ({z:.2} standard errors), over the budget of {} \
                 — {}, or a larger budget{}",
                rate(detectable_per_hour),
                rate(budget_per_hour),
                // The slope's standard error falls about as the window's length to
                // the power 1.5 (as many more samples, each further from the
                // middle): the length that brings the detectable growth to the
                // budget, a quarter more for the estimate's own noise.
                tb.longer_by(
                    run_hours,
                    1.25 * (detectable_per_hour / budget_per_hour).powf(2.0 / 3.0)
                ),
                if resource == RSS && !tb.is_virtual() {
                    ", or judge the heap with a heap probe (--heap) instead of RSS"
                } else {
                    ""
                }
            ),
        }
    }
}

/// How a run is judged: its length, the subjects' retention, the warm-up, the
/// significance threshold (higher when the run looks repeatedly), and the clock
/// all these hours are on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judging {
    /// Hours of the run (or of the run so far, at a look).
    pub run_hours: f64,
    /// Hours left out of the fit.
    pub warmup_hours: f64,
    /// The subjects' longest retention, hours, if declared.
    pub retention_hours: Option<f64>,
    /// Standard errors growth must clear.
    pub z: f64,
    /// The clock: virtual hours, or a live run's wall hours.
    pub time_base: TimeBase,
    /// Whether the run replays traffic kinds (some declared, not all muted): then
    /// a window without a single event has not seen the load at all, and cannot
    /// pass before a day (a run of a bursty kind looked at before its first burst).
    pub load_expected: bool,
}

impl Judging {
    /// A run of `cfg` judged at `hours` (its end, or a look) with threshold `z`.
    pub fn new(cfg: &RunConfig, hours: f64, z: f64) -> Self {
        Judging {
            run_hours: hours,
            warmup_hours: cfg.warmup_at(hours),
            retention_hours: cfg.retention_hours,
            z,
            time_base: TimeBase::VIRTUAL,
            load_expected: false,
        }
    }

    /// The same, for a run that replays traffic kinds (`yes`) or not.
    pub fn expecting_load(self, yes: bool) -> Self {
        Judging {
            load_expected: yes,
            ..self
        }
    }

    /// A fixed-length run of `cfg`, judged once at its end.
    pub fn fixed(cfg: &RunConfig) -> Self {
        Judging::new(cfg, cfg.hours, SIGNIFICANCE_Z)
    }

    /// An `--hours auto` run of `cfg` (at most `cfg.hours`) looked at after
    /// `hours`: the threshold is corrected for every look it may take.
    pub fn auto(cfg: &RunConfig, hours: f64) -> Self {
        Judging::new(cfg, hours, growth::corrected_z(looks(cfg.hours)))
    }
}

/// Virtual time between two looks of an `--hours auto` run.
pub const LOOK_EVERY: Duration = Duration::from_secs(3600);

/// How many looks an `--hours auto` run of at most `max_hours` may take: one per
/// [`LOOK_EVERY`]. The significance threshold is corrected for all of them.
pub fn looks(max_hours: f64) -> usize {
    ((max_hours * 3600.0 / LOOK_EVERY.as_secs_f64()).floor() as usize).max(1)
}

/// The run's verdict from its resources' verdicts: it fails when any budgeted
/// resource failed; otherwise it is inconclusive when any is; otherwise it passes.
pub fn decide(verdicts: &[ResourceVerdict]) -> Verdict {
    if verdicts.iter().any(ResourceVerdict::failed) {
        Verdict::Fail
    } else if verdicts.iter().any(|v| v.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
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
        fixed(RSS, "rss_bytes", "bytes", None),
        fixed("tasks", "alive_tasks", "tasks", Some(cfg.task_budget())),
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
    /// The smallest growth per hour the run could have told from zero
    /// ([`detectable`]); a budgeted resource passes only when it is within the
    /// budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectable_per_hour: Option<f64>,
    /// What the window showed besides the estimate (absent with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<Facts>,
    /// `pass`, `fail`, `inconclusive`, or `info` for unbudgeted resources.
    pub verdict: Verdict,
    /// Why it is inconclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// First measured value (a probe that reads a resource only on some samples,
    /// as a Node target's live heap, leaves the others empty).
    #[serde(deserialize_with = "null_as_zero")]
    pub first: f64,
    /// Last measured value.
    #[serde(deserialize_with = "null_as_zero")]
    pub last: f64,
    /// Highest measured value.
    #[serde(deserialize_with = "null_as_zero")]
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

    /// The reason as a line of text on clock `tb`, when inconclusive.
    pub fn reason_text(&self, tb: &TimeBase) -> Option<String> {
        self.reason
            .map(|r| r.text(&self.spec.name, &self.spec.unit, tb))
    }
}

/// Judges one resource from its estimate and window facts (see the module docs
/// for the checks, in order). Unbudgeted resources are [`Verdict::Info`].
pub fn judge(
    budget: Option<f64>,
    estimate: Option<Estimate>,
    facts: Option<Facts>,
    j: &Judging,
) -> (Verdict, Option<Reason>) {
    let Some(budget) = budget else {
        return (Verdict::Info, None);
    };
    let inconclusive = |r| (Verdict::Inconclusive, Some(r));
    let (Some(e), Some(f)) = (estimate, facts) else {
        return inconclusive(Reason::TooShort {
            run_hours: j.run_hours,
        });
    };
    if let Some(r) = j.retention_hours {
        if j.run_hours < r {
            return inconclusive(Reason::Retention {
                run_hours: j.run_hours,
                retention_hours: r,
            });
        }
    }
    let needed = MIN_LOAD_SWING.max(LOAD_SWING_NOISE * f.load_noise);
    let idle = j.load_expected && f.window_events == 0.0;
    let swung = f.load_rise >= needed && f.load_fall >= needed && !idle;
    if f.trend_vif > MAX_TREND_VIF {
        return inconclusive(Reason::Collinear {
            vif: f.trend_vif,
            swung,
            run_hours: j.run_hours,
        });
    }
    let late_over = e.late_per_hour - j.z * e.late_stderr > budget;
    if e.exceeds_at(budget, j.z) {
        if f.bend_per_hour + FILL_Z * f.bend_stderr < 0.0 && !late_over {
            return inconclusive(Reason::Fill {
                early_per_hour: f.early_per_hour,
                late_per_hour: e.late_per_hour,
                run_hours: j.run_hours,
            });
        }
        // A live run's day is compressed into minutes, the service's own fills are
        // not: a cache or log filling through the load's rise and full after it
        // reads, beside the load model, as growth (the level holds while the model
        // says it should fall with the load; the model's late half then reads
        // steepest of all). Where the load fell and the level itself held through
        // the late half — it moved no more than the budget allows over that time
        // and two noise widths — the fail rests on the load model alone: one day
        // cannot tell that fill from a leak the load's fall offsets; a second
        // can. A level that moved (rose, or fell with the load by less than the
        // model says: a leak whose working set follows the load) is still judged.
        // A replay's day is hours of its clock, beside which its fills are short.
        if let (false, Some(range)) = (j.time_base.is_virtual(), f.level_late_range) {
            let allowed = budget * e.window_hours() / 2.0 + LEVEL_NOISE * f.noise;
            if range <= allowed && f.load_fall >= needed {
                return inconclusive(Reason::Levelled {
                    range,
                    noise: f.noise,
                    run_hours: j.run_hours,
                });
            }
        }
        if f.window_events > 0.0 && f.window_events < MIN_WINDOW_EVENTS {
            return inconclusive(Reason::LittleLoad {
                events: f.window_events,
                run_hours: j.run_hours,
            });
        }
        let rise = e.per_hour * e.window_hours();
        if rise < MIN_RISE_TO_NOISE * f.noise {
            return inconclusive(Reason::WithinNoise {
                rise,
                noise: f.noise,
                run_hours: j.run_hours,
            });
        }
        return (Verdict::Fail, None);
    }
    if e.per_hour > budget && e.per_hour > GREY_Z * e.stderr && !e.stopped_at(budget, j.z) {
        return inconclusive(Reason::NearBudget {
            per_hour: e.per_hour,
            stderr: e.stderr,
            run_hours: j.run_hours,
        });
    }
    if !swung && j.run_hours < j.time_base.from_day(LOAD_CYCLE_HOURS) {
        return inconclusive(Reason::LoadNotCovered {
            rise: f.load_rise,
            fall: f.load_fall,
            needed,
        });
    }
    let detectable = detectable(&e, Some(budget), j);
    if detectable > budget {
        return inconclusive(Reason::Undetectable {
            detectable_per_hour: detectable,
            budget_per_hour: budget,
            z: j.z,
            run_hours: j.run_hours,
        });
    }
    (Verdict::Pass, None)
}

/// The smallest growth per hour the window could tell from zero: the test's `z`
/// standard errors of the estimate a pass rests on — the whole window's, or the
/// late half's when the whole window grew past `budget` and only that half shows
/// growth has stopped under it (a cache that filled and holds still: what it
/// does now is what a leak would change). A whole window within the budget
/// rests on itself: a leak at the budget would have added its rate to it,
/// whatever the late half's spread. A leak at least this fast clears the
/// significance test about half the time or more.
pub fn detectable(e: &Estimate, budget: Option<f64>, j: &Judging) -> f64 {
    let on_late_half = budget.is_some_and(|b| e.per_hour > b && e.stopped_at(b, j.z));
    j.z * if on_late_half {
        e.late_stderr
    } else {
        e.stderr
    }
}

/// Columns that are load gauges wherever a run has them (the growth model's
/// covariates beside the load: [`growth`]'s module docs), each counted by soak
/// from the plan's draw: a live run's WebSocket sessions that the plan has on
/// the target (within their planned hold, or gone silent less than the
/// retention ago), and the distinct users, guilds and sessions its HTTP requests
/// named within the retention.
pub const LOAD_GAUGES: [&str; 4] = [
    "ws_sessions",
    "recent_user",
    "recent_guild",
    "recent_session",
];

/// Estimates and judges every resource in `specs` over `samples`.
pub fn analyse(samples: &Samples, specs: &[ResourceSpec], j: &Judging) -> Vec<ResourceVerdict> {
    let t = samples.hours();
    let load = samples
        .column("load_events")
        .unwrap_or_else(|| vec![0.0; t.len()]);
    let gauges: Vec<Vec<f64>> = LOAD_GAUGES
        .iter()
        .filter_map(|g| samples.column(g))
        .collect();
    specs
        .iter()
        .filter_map(|spec| {
            let y = samples.column(&spec.column)?;
            let (estimate, facts) =
                growth::assess(&t, &y, &load, &gauges, j.warmup_hours, j.time_base);
            let (verdict, reason) = judge(spec.budget_per_hour, estimate, facts, j);
            let mut finite = y.iter().copied().filter(|v| v.is_finite());
            let first = finite.next().unwrap_or(0.0);
            let (last, peak) = finite.fold((first, first.max(0.0)), |(_, p), v| (v, p.max(v)));
            Some(ResourceVerdict {
                spec: spec.clone(),
                estimate,
                detectable_per_hour: estimate.map(|e| detectable(&e, spec.budget_per_hour, j)),
                facts,
                verdict,
                reason,
                first,
                last,
                peak,
            })
        })
        .collect()
}

/// A number earlier summaries wrote as `null` (JSON has no NaN) when a sparse
/// column's last sample was empty: read as 0, as no value was measured there.
fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(0.0))
}

/// One line saying what failed and by how much, and which gauges grew with it;
/// or why the run cannot tell and what to run; or that everything stayed within
/// budget, with the growth of `headline` (the run's judged memory, `heap`).
/// Rates and hours are on `tb`'s clock.
pub fn message(verdicts: &[ResourceVerdict], headline: Option<&str>, tb: &TimeBase) -> String {
    let failed: Vec<&ResourceVerdict> = verdicts.iter().filter(|v| v.failed()).collect();
    let grown = grown_gauges(verdicts);
    if failed.is_empty() && decide(verdicts) == Verdict::Inconclusive {
        return format!("inconclusive: {}", doubts(verdicts, tb));
    }
    if failed.is_empty() {
        let head = verdicts
            .iter()
            .find(|v| Some(v.spec.name.as_str()) == headline);
        return match head.and_then(|h| h.estimate.map(|e| (h, e))) {
            Some((h, e)) => format!(
                "pass: {} {} ± {} (budget {}); no resource grew past its budget",
                h.spec.name,
                tb.rate_text(e.per_hour, &h.spec.unit),
                tb.rate_text(e.stderr, &h.spec.unit),
                tb.rate_text(h.spec.budget_per_hour.unwrap_or(0.0), &h.spec.unit),
            ),
            None => "pass: no resource grew past its budget".to_string(),
        };
    }
    let parts: Vec<String> = failed
        .iter()
        .filter_map(|v| v.estimate.map(|e| (v, e)))
        .map(|(v, e)| {
            let rate = |x: f64| tb.rate_text(x, &v.spec.unit);
            format!(
                "{} grew {} ± {} (late half {}; budget {})",
                v.spec.name,
                rate(e.per_hour),
                rate(e.stderr),
                rate(e.late_per_hour),
                rate(v.spec.budget_per_hour.unwrap_or(0.0)),
            )
        })
        .collect();
    let mut msg = format!("fail: {}", parts.join("; "));
    if !grown.is_empty() {
        let g: Vec<String> = grown
            .iter()
            .map(|v| format!("{} +{:.0}/{}", v.spec.name, v.per_hour(), tb.per_hour()))
            .collect();
        msg.push_str(&format!("; gauges that grew: {}", g.join(", ")));
    }
    msg
}

/// The inconclusive resources and their reasons, resources with the same reason
/// named together: `heap, tasks: window shorter than …`.
pub fn doubts(verdicts: &[ResourceVerdict], tb: &TimeBase) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for v in verdicts {
        let Some(text) = v.reason_text(tb) else {
            continue;
        };
        match groups.iter_mut().find(|(t, _)| *t == text) {
            Some((_, names)) => names.push(&v.spec.name),
            None => groups.push((text, vec![&v.spec.name])),
        }
    }
    groups
        .iter()
        .map(|(text, names)| format!("{}: {text}", names.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
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

    /// The check of a run that has no shutdown of its own (a live run's target,
    /// which soak only stops): the first and the last sample's tasks and
    /// descriptors, and the last value read of each of `gauges`; nothing settles.
    pub fn between_samples(samples: &Samples, gauges: &[String]) -> Self {
        let finite = |c: &str, last: bool| {
            let v = samples.column(c).unwrap_or_default();
            let mut it: Box<dyn Iterator<Item = &f64>> = if last {
                Box::new(v.iter().rev())
            } else {
                Box::new(v.iter())
            };
            it.find(|x| x.is_finite()).copied().unwrap_or(0.0)
        };
        let reading = |last: bool| Reading {
            alive_tasks: finite("alive_tasks", last) as u64,
            open_fds: finite("open_fds", last) as u64,
            ..Reading::default()
        };
        let gauges_after = gauges
            .iter()
            .map(|g| (g.clone(), finite(g, true)))
            .collect();
        Teardown {
            settle_virtual_seconds: 0.0,
            ..Teardown::new(&reading(false), &reading(true), gauges_after)
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

#[cfg(test)]
mod tests {
    use super::*;

    const B: f64 = 1e6;

    /// A 24-hour-like window: steady, collinearity and load swing of a full day.
    fn est(per_hour: f64, stderr: f64) -> Estimate {
        Estimate {
            per_hour,
            stderr,
            late_per_hour: per_hour,
            late_stderr: stderr * 2.0,
            from_hours: 2.4,
            to_hours: 24.0,
            trend_start: 5e6,
            points: 1297,
        }
    }

    fn day() -> Facts {
        Facts {
            early_per_hour: 0.0,
            bend_per_hour: 0.0,
            bend_stderr: 1e4,
            trend_vif: 3.0,
            noise: 2e5,
            rho: 0.9,
            window_events: 1e6,
            load_rise: 0.8,
            load_fall: 0.7,
            load_noise: 0.005,
            level_late_range: None,
        }
    }

    fn judging(run_hours: f64, retention: Option<f64>) -> Judging {
        Judging {
            run_hours,
            warmup_hours: run_hours / 10.0,
            retention_hours: retention,
            z: SIGNIFICANCE_Z,
            time_base: TimeBase::VIRTUAL,
            load_expected: false,
        }
    }

    fn kind(v: (Verdict, Option<Reason>)) -> (Verdict, String) {
        let k =
            v.1.map(|r| {
                serde_json::to_value(r).expect("serialises")["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        (v.0, k)
    }

    #[test]
    fn a_clear_day_passes_or_fails() {
        let j = judging(24.0, Some(24.0));
        assert_eq!(
            judge(Some(B), Some(est(1e4, 5e3)), Some(day()), &j),
            (Verdict::Pass, None)
        );
        assert_eq!(
            judge(Some(B), Some(est(2e6, 1e4)), Some(day()), &j),
            (Verdict::Fail, None)
        );
        assert_eq!(
            judge(None, Some(est(2e6, 1e4)), Some(day()), &j),
            (Verdict::Info, None)
        );
        // A flat load that never swung: a day has seen its whole cycle.
        let flat = Facts {
            load_rise: 0.02,
            load_fall: 0.04,
            ..day()
        };
        assert_eq!(
            judge(Some(B), Some(est(1e4, 5e3)), Some(flat), &j),
            (Verdict::Pass, None)
        );
        assert_eq!(
            judge(
                Some(B),
                Some(est(1e4, 5e3)),
                Some(flat),
                &judging(12.0, None)
            )
            .0,
            Verdict::Inconclusive
        );
        // Over budget but indistinguishable from no growth at all (a task count
        // swinging by thousands a day): not a pass, since a leak at the budget
        // would not have shown either; the reason names what the run could see.
        let (v, r) = judge(Some(1.0), Some(est(2.0, 23.0)), Some(day()), &j);
        assert_eq!(v, Verdict::Inconclusive);
        assert_eq!(
            r,
            Some(Reason::Undetectable {
                detectable_per_hour: 46.0,
                budget_per_hour: 1.0,
                z: SIGNIFICANCE_Z,
                run_hours: 24.0
            })
        );
        // The same noise under a budget it can resolve passes.
        assert_eq!(
            judge(Some(50.0), Some(est(2.0, 23.0)), Some(day()), &j),
            (Verdict::Pass, None)
        );
    }

    #[test]
    fn a_tangled_window_that_saw_the_day_asks_for_a_longer_run() {
        // The plain catalog service in 5 wall minutes (docs/performance.md,
        // "Session 12"): the day rose and fell, yet with the ids named within its
        // 60-s retention as a covariate the trend's variance inflation was 29–46.
        let j = Judging {
            time_base: TimeBase::wall(288.0),
            ..judging(5.0 / 60.0, None)
        };
        let tangled = Facts {
            trend_vif: 43.0,
            ..day()
        };
        let r = judge(Some(B), Some(est(8e6, 3e6)), Some(tangled), &j);
        assert_eq!(r.0, Verdict::Inconclusive);
        let r = r.1.expect("a reason");
        assert!(matches!(r, Reason::Collinear { swung: true, .. }), "{r:?}");
        let text = r.text("js_heap", "bytes", &j.time_base);
        assert!(text.contains("though the load rose and fell"), "{text}");
        assert!(text.ends_with("run ≥ 10 min (--duration)"), "{text}");
        // A window whose load only rose: a day is what it lacks.
        let rising = Facts {
            load_fall: 0.0,
            ..tangled
        };
        let r = judge(Some(B), Some(est(8e6, 3e6)), Some(rising), &j)
            .1
            .expect("a reason");
        assert!(matches!(r, Reason::Collinear { swung: false, .. }), "{r:?}");
        let text = r.text("js_heap", "bytes", &j.time_base);
        assert!(
            text.contains("run through a load peak and trough"),
            "{text}"
        );
        // A live run played the whole day: its warm-up left part of it out.
        let live = TimeBase::wall(86_400.0 / 180.0);
        assert!(
            r.text("js_heap", "bytes", &live)
                .ends_with("a longer --duration, so the warm-up takes less of the day"),
            "{}",
            r.text("js_heap", "bytes", &live)
        );
    }

    #[test]
    fn a_plateau_rests_on_the_late_half_only_when_the_whole_window_grew_past_the_budget() {
        let j = judging(24.0, None);
        // The threaded service's fixed heap, 5 minutes (docs/performance.md):
        // whole window 0.30 ± 0.24 of a 0.95 budget, late half −1.02 ± 0.90 —
        // "stopped" under the budget, but loose. The whole window holds the
        // budget on its own, and a leak at the budget would have shown in it (z
        // 4): a pass, whatever the late half's spread.
        let mib = 1_048_576.0;
        let held = Estimate {
            late_per_hour: -1.02 * mib,
            late_stderr: 0.90 * mib,
            ..est(0.30 * mib, 0.24 * mib)
        };
        let budget = 0.95 * mib;
        assert_eq!(detectable(&held, Some(budget), &j), 2.0 * 0.24 * mib);
        assert_eq!(
            judge(Some(budget), Some(held), Some(day()), &j).0,
            Verdict::Pass
        );
        // A cache that filled: the whole window over the budget, the late half
        // stopped under it. The pass would rest on the late half, so its spread
        // decides whether a leak could have shown: too loose here.
        let filled = Estimate {
            late_per_hour: -1.02 * mib,
            late_stderr: 0.90 * mib,
            ..est(1.5 * mib, 0.24 * mib)
        };
        assert_eq!(detectable(&filled, Some(budget), &j), 2.0 * 0.90 * mib);
        assert!(matches!(
            judge(Some(budget), Some(filled), Some(day()), &j),
            (Verdict::Inconclusive, Some(Reason::Undetectable { .. }))
        ));
        // … and tight enough there, a pass.
        let tight = Estimate {
            late_stderr: 0.2 * mib,
            ..filled
        };
        assert_eq!(
            judge(Some(budget), Some(tight), Some(day()), &j).0,
            Verdict::Pass
        );
    }

    #[test]
    fn a_wall_clock_day_is_the_compressed_one() {
        // A live run of 12 wall minutes playing a day every 10: its load's
        // cycle is covered, where 12 virtual hours would not cover it.
        let live = Judging {
            time_base: TimeBase::wall(144.0),
            ..judging(0.2, None)
        };
        let flat = Facts {
            load_rise: 0.02,
            load_fall: 0.04,
            ..day()
        };
        assert_eq!(
            judge(Some(B), Some(est(1e4, 5e3)), Some(flat), &live),
            (Verdict::Pass, None)
        );
        let r = Reason::NearBudget {
            per_hour: 2e6,
            stderr: 1.5e6,
            run_hours: 10.0 / 60.0,
        };
        let undetectable = Reason::Undetectable {
            detectable_per_hour: 2e6,
            budget_per_hour: B,
            z: 2.0,
            run_hours: 10.0 / 60.0,
        };
        // A heap probe is the advice where RSS was judged, not where one judged.
        assert!(undetectable
            .text(RSS, "bytes", &live.time_base)
            .ends_with("or judge the heap with a heap probe (--heap) instead of RSS"));
        for judged in ["heap", "js_heap"] {
            let t = undetectable.text(judged, "bytes", &live.time_base);
            assert!(!t.contains("--heap"), "{t}");
            // Twice the budget detectable: twice as long, at least.
            assert!(t.contains("run ≥ 20 min (--duration)"), "{t}");
        }
        // Fifteen times the budget: not twice as long, but about six times.
        let far = Reason::Undetectable {
            detectable_per_hour: 15.5e6,
            budget_per_hour: B,
            z: 2.0,
            run_hours: 0.5 / 60.0,
        };
        let t = far.text("js_heap", "bytes", &live.time_base);
        assert!(t.contains("run ≥ 3.9 min (--duration)"), "{t}");
        assert_eq!(
            r.text(RSS, "bytes", &live.time_base),
            "growth 1.91 MiB/wall h ± 1.43 MiB/wall h is over the budget but within the noise \
             — run ≥ 20 min (--duration)"
        );
    }

    #[test]
    fn each_unsafe_window_is_inconclusive_with_its_reason() {
        let j = judging(24.0, None);
        let half_day = judging(12.0, None);
        let leak = Some(est(2e6, 1e4));
        let cases = [
            (judge(Some(B), None, None, &j), "too_short"),
            (
                judge(Some(B), leak, Some(day()), &judging(4.0, Some(24.0))),
                "retention",
            ),
            (
                judge(
                    Some(B),
                    leak,
                    Some(Facts {
                        trend_vif: 40.0,
                        ..day()
                    }),
                    &j,
                ),
                "collinear",
            ),
            (
                judge(
                    Some(B),
                    Some(Estimate {
                        late_per_hour: 3e5,
                        late_stderr: 7e5,
                        ..est(1.5e6, 5e5)
                    }),
                    Some(Facts {
                        early_per_hour: 2.5e6,
                        bend_per_hour: -2.2e6,
                        bend_stderr: 1e6,
                        ..day()
                    }),
                    &j,
                ),
                "fill",
            ),
            (
                judge(
                    Some(B),
                    leak,
                    Some(Facts {
                        noise: 1e7,
                        ..day()
                    }),
                    &j,
                ),
                "within_noise",
            ),
            (
                judge(Some(B), Some(est(1.3e6, 0.9e6)), Some(day()), &j),
                "near_budget",
            ),
            (
                judge(
                    Some(B),
                    Some(est(7e5, 3e4)),
                    Some(Facts {
                        load_rise: 0.14,
                        load_fall: 0.0,
                        ..day()
                    }),
                    &half_day,
                ),
                "load_not_covered",
            ),
            (
                // Sparse load: a 30% swing is within three noise widths.
                judge(
                    Some(B),
                    Some(est(0.0, 1e4)),
                    Some(Facts {
                        load_rise: 0.3,
                        load_fall: 0.3,
                        load_noise: 0.15,
                        ..day()
                    }),
                    &half_day,
                ),
                "load_not_covered",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(kind(got), (Verdict::Inconclusive, want.to_string()));
        }
    }

    #[test]
    fn a_live_level_that_held_while_the_load_fell_is_not_a_leak_of_one_day() {
        const KIB: f64 = 1024.0;
        const MIB: f64 = 1_048_576.0;
        // A person's order service with a bounded audit log and cache, 5 wall
        // minutes (docs/performance.md, "Session 17"): the model's 4.19 ± 0.62
        // MiB/h, its late half 7.6 ± 5.3, while the heap held within 62.9 KiB
        // through the late half (noise ± 33.7 KiB) as the load fell.
        let live = Judging {
            time_base: TimeBase::wall(288.0),
            ..judging(5.0 / 60.0, None)
        };
        let window = |e: Estimate| Estimate {
            from_hours: 0.5 / 60.0,
            to_hours: 5.0 / 60.0,
            ..e
        };
        let e = window(Estimate {
            late_per_hour: 7.59 * MIB,
            late_stderr: 5.25 * MIB,
            ..est(4.19 * MIB, 0.62 * MIB)
        });
        let held = Facts {
            bend_per_hour: 9.6 * MIB,
            bend_stderr: 10.2 * MIB,
            noise: 33.7 * KIB,
            level_late_range: Some(62.9 * KIB),
            ..day()
        };
        let r = judge(Some(B), Some(e), Some(held), &live);
        assert_eq!(r.0, Verdict::Inconclusive);
        let r = r.1.expect("a reason");
        assert!(matches!(r, Reason::Levelled { .. }), "{r:?}");
        let text = r.text("js_heap", "bytes", &live.time_base);
        assert!(
            text.starts_with("the level held within 62.9 KiB through the late half"),
            "{text}"
        );
        assert!(
            text.ends_with("run two days: --duration 10m --day 5m"),
            "{text}"
        );
        // The leaky build of the same service: its level rose 1.23 MiB through the
        // late half (31.3 MiB/h): a fail.
        let leak = Facts {
            noise: 30.4 * KIB,
            level_late_range: Some(1259.2 * KIB),
            ..held
        };
        let e_leak = window(Estimate {
            late_per_hour: 41.45 * MIB,
            late_stderr: 3.06 * MIB,
            ..est(31.32 * MIB, 0.43 * MIB)
        });
        assert_eq!(
            judge(Some(B), Some(e_leak), Some(leak), &live),
            (Verdict::Fail, None)
        );
        // A leak whose working set follows the load (listeners never removed, each
        // holding a history the service trims after a minute; session 16's
        // walk-through, 3 minutes): its heap rose and fell 2.7 MiB through the late
        // half, by less than the model says — 130 ± 12 MiB/h. A fail.
        let hump = Facts {
            noise: 197.6 * KIB,
            level_late_range: Some(2808.4 * KIB),
            ..held
        };
        assert_eq!(
            judge(
                Some(B),
                Some(window(est(130.0 * MIB, 11.6 * MIB))),
                Some(hump),
                &live
            ),
            (Verdict::Fail, None)
        );
        // A level that held while the load did not fall: nothing hides a leak.
        let no_fall = Facts {
            load_fall: 0.05,
            ..held
        };
        assert_eq!(
            judge(Some(B), Some(e), Some(no_fall), &live).0,
            Verdict::Fail
        );
        // A replay's day is hours long beside its fills: judged as before.
        assert_eq!(
            judge(Some(B), Some(e), Some(held), &judging(24.0, None)),
            (Verdict::Fail, None)
        );
    }

    #[test]
    fn a_fill_whose_late_half_is_itself_over_budget_still_fails() {
        let e = Estimate {
            late_per_hour: 3.3e6,
            late_stderr: 0.95e6,
            ..est(5.8e6, 0.8e6)
        };
        let f = Facts {
            bend_per_hour: -4.8e6,
            bend_stderr: 1.6e6,
            ..day()
        };
        assert_eq!(
            judge(Some(B), Some(e), Some(f), &judging(6.0, Some(1.0))),
            (Verdict::Fail, None)
        );
    }

    #[test]
    fn a_window_without_the_traffic_it_replays_cannot_pass() {
        let idle = Facts {
            window_events: 0.0,
            ..day()
        };
        let flat = Some(est(0.0, 1e3));
        // No kinds replayed (or none declared): a flat heap passes as before.
        assert_eq!(
            judge(Some(B), flat, Some(idle), &judging(6.0, None)).0,
            Verdict::Pass
        );
        let replaying = judging(6.0, None).expecting_load(true);
        assert_eq!(
            kind(judge(Some(B), flat, Some(idle), &replaying)),
            (Verdict::Inconclusive, "load_not_covered".to_string())
        );
        // With traffic in the window, or after a day, it passes.
        assert_eq!(
            judge(Some(B), flat, Some(day()), &replaying).0,
            Verdict::Pass
        );
        let a_day = judging(24.0, None).expecting_load(true);
        assert_eq!(judge(Some(B), flat, Some(idle), &a_day).0, Verdict::Pass);
    }

    #[test]
    fn repeated_looks_need_more_to_fail() {
        let e = Some(est(1.6e6, 0.5e6)); // 3.2 standard errors
        let once = judging(6.0, None);
        let looked = Judging {
            z: growth::corrected_z(72),
            ..once
        };
        assert_eq!(judge(Some(B), e, Some(day()), &once).0, Verdict::Fail);
        assert_eq!(
            kind(judge(Some(B), e, Some(day()), &looked)),
            (Verdict::Inconclusive, "near_budget".to_string())
        );
    }

    fn rv(name: &str, verdict: Verdict, reason: Option<Reason>) -> ResourceVerdict {
        ResourceVerdict {
            spec: ResourceSpec {
                name: name.into(),
                column: name.into(),
                unit: "bytes".into(),
                budget_per_hour: Some(B),
                gauge: false,
            },
            estimate: Some(est(0.0, 1.0)),
            detectable_per_hour: Some(2.0),
            facts: None,
            verdict,
            reason,
            first: 0.0,
            last: 0.0,
            peak: 0.0,
        }
    }

    #[test]
    fn a_fail_outranks_inconclusive_which_outranks_pass() {
        let short = Some(Reason::Retention {
            run_hours: 4.0,
            retention_hours: 24.0,
        });
        let pass = rv("heap", Verdict::Pass, None);
        let unsure = rv("tasks", Verdict::Inconclusive, short);
        let fail = rv("fds", Verdict::Fail, None);
        assert_eq!(decide(std::slice::from_ref(&pass)), Verdict::Pass);
        assert_eq!(
            decide(&[pass.clone(), unsure.clone()]),
            Verdict::Inconclusive
        );
        assert_eq!(decide(&[unsure.clone(), fail]), Verdict::Fail);
        let both = [
            rv("heap", Verdict::Inconclusive, short),
            unsure,
            rv("listeners", Verdict::Info, None),
        ];
        let m = message(&both, Some("heap"), &TimeBase::VIRTUAL);
        assert!(
            m.starts_with("inconclusive: heap, tasks: window shorter than the subject's longest retention (24 h; the run was 4 h)"),
            "{m}"
        );
        assert!(m.ends_with("run ≥ 24 h"), "{m}");
    }

    #[test]
    fn reasons_say_what_to_run() {
        let fill = Reason::Fill {
            early_per_hour: 2.5e6,
            late_per_hour: 3e5,
            run_hours: 2.0,
        };
        assert_eq!(
            fill.text("heap", "bytes", &TimeBase::VIRTUAL),
            "growth is slowing — a fill, not yet a plateau (2.38 MiB/h early, 293.0 KiB/h late) \
             — run ≥ 4 h or --hours auto"
        );
        let back: Reason =
            serde_json::from_value(serde_json::to_value(fill).expect("json")).expect("round trip");
        assert_eq!(back, fill);
    }

    #[test]
    fn a_sparse_column_keeps_its_measured_first_last_and_peak() {
        // A Node target's live heap is read only on the samples that ran a
        // collection: the others, the last one included, are empty.
        let mut s = Samples::with_capacity(vec!["virtual_seconds".into(), "js".into()], 40);
        for i in 0..40 {
            let v = if i % 3 == 1 {
                1_000.0 + i as f64
            } else {
                f64::NAN
            };
            s.push_row([i as f64 * 60.0, v]);
        }
        let spec = ResourceSpec {
            name: "js_heap".into(),
            column: "js".into(),
            unit: "bytes".into(),
            budget_per_hour: Some(1e6),
            gauge: false,
        };
        let v = &analyse(&s, &[spec], &judging(39.0 / 60.0, None))[0];
        assert_eq!((v.first, v.last, v.peak), (1_001.0, 1_037.0, 1_037.0));
        let json = serde_json::to_value(v).expect("serialises");
        assert_eq!(json["last"], 1_037.0);
        // Summaries written before this held `null` there: they still read.
        let mut old = json;
        old["last"] = serde_json::Value::Null;
        let back: ResourceVerdict = serde_json::from_value(old).expect("reads a null last");
        assert_eq!(back.last, 0.0);
    }
}
