//! The run loop: replays a scenario's day on a paused clock, samples every
//! resource each virtual minute, injects the calibration leak, checks teardown,
//! and judges the samples. [`run`] returns an [`Outcome`]; writing report files is
//! the caller's choice ([`Outcome::write_report`]).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Mutex;

use crate::clock::{self, Clock};
use crate::config::RunConfig;
use crate::probe::{self, Gauge, Reading, FIXED_COLUMNS};
use crate::profile::{self, Profile};
use crate::progress::Progress;
use crate::samples::Samples;
use crate::scenario::kind::KindState;
use crate::scenario::{Ctx, Scenario};
use crate::summary::{ChartSpec, Ending, KindCount, Summary, SummaryInput};
use crate::verdict::{self, Judging, Teardown, Verdict, TEARDOWN_SETTLE};
use crate::{alloc, attribution, report, sites, BoxError, Error};

/// Everything a finished run produced.
#[derive(Debug)]
pub struct Outcome {
    /// What `summary.json` holds.
    pub summary: Summary,
    /// What `samples.csv` holds.
    pub samples: Samples,
    /// dhat's profile, with `--dhat`.
    pub dhat: Option<Profile>,
    /// Where [`Outcome::write_report`] last wrote the report, if it did.
    pub dir: Option<PathBuf>,
    /// What `sites.csv` holds: the saved sites' estimated live bytes (absent with
    /// sampling off).
    pub sites: Option<Samples>,
}

impl Outcome {
    /// The run's verdict.
    pub fn verdict(&self) -> Verdict {
        self.summary.verdict
    }

    /// Whether every budgeted resource stayed within its budget.
    pub fn passed(&self) -> bool {
        self.summary.verdict == Verdict::Pass
    }

    /// Whether the run could not tell (see the summary's message for why).
    pub fn inconclusive(&self) -> bool {
        self.summary.verdict == Verdict::Inconclusive
    }

    /// Writes the report files under `root/SCENARIO/VARIANT/` (atomically, the
    /// summary last) and refreshes `root/index.html`; returns the run directory.
    pub fn write_report(&mut self, root: &Path) -> Result<PathBuf, Error> {
        self.write_report_with(root, &[])
    }

    /// [`Outcome::write_report`] with `attachments` in the run directory (`soak
    /// shrink`'s `shrink.json`), swapped in with the rest.
    pub fn write_report_with(
        &mut self,
        root: &Path,
        attachments: &[report::Attachment],
    ) -> Result<PathBuf, Error> {
        let dir = report::prepare_dir(root, &self.summary.scenario, self.summary.variant)?;
        let dhat = self.dhat.as_ref().map(|p| p.json.as_str());
        report::write_run(
            &dir,
            &self.samples,
            &self.summary,
            dhat,
            self.sites.as_ref(),
            attachments,
        )?;
        self.dir = Some(dir.clone());
        Ok(dir)
    }

    /// For a `#[test]`: panics unless the run passed, with the verdict message and,
    /// when a report was written, where it is. An inconclusive run does not pass:
    /// the message says what to run instead (often a longer run, or
    /// [`RunConfig::auto`]).
    ///
    /// ```no_run
    /// # fn t(outcome: soak_harness::Outcome) {
    /// outcome.assert_within_budget();
    /// # }
    /// ```
    #[track_caller]
    pub fn assert_within_budget(&self) {
        if self.passed() {
            return;
        }
        let s = &self.summary;
        let report = match &self.dir {
            Some(d) => format!("; report: {}", d.display()),
            None => String::new(),
        };
        let what = if self.inconclusive() {
            "could not tell whether it is within budget"
        } else {
            "is over budget"
        };
        panic!(
            "{} ({}, seed {}) {what}: {}{report}",
            s.scenario, s.variant, s.seed, s.message
        );
    }
}

// The counting allocator is process-wide: two runs at once would measure each other.
static RUN_LOCK: Mutex<()> = Mutex::new(());

/// Runs `scenario` under `cfg`: replays the day on a paused clock, samples every
/// resource, judges growth. Writes nothing: see [`Outcome::write_report`].
///
/// Fails with [`Error::AllocatorMissing`] when the process's global allocator is
/// not [`crate::Counting`] (the heap would read zero all day), and with
/// [`Error::Usage`] for a config [`RunConfig::validate`] rejects.
pub fn run(scenario: &dyn Scenario, cfg: &RunConfig) -> Result<Outcome, Error> {
    let mut cfg = cfg.clone();
    // Given (`--retention`), it stands; declared by the scenario, the kinds of
    // traffic the run replays may shorten it (see `Kind::retains`).
    let kinds_decide = cfg.retention_hours.is_none();
    if kinds_decide {
        cfg.retention_hours = scenario.retention().map(|d| d.as_secs_f64() / 3600.0);
    }
    if cfg.max_task_growth.is_none() {
        cfg.max_task_growth = scenario.task_budget();
    }
    preflight(&cfg)?;
    // A poisoned lock only means an earlier run panicked; the counters are still fine.
    let _serial = RUN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    replay(scenario, &cfg, kinds_decide)
}

/// How `cfg`'s run is judged when it ended (or is looked at) after `hours`.
/// `replays`: whether the run replays any traffic kind (see
/// [`Judging::load_expected`]).
fn judging(cfg: &RunConfig, hours: f64, replays: bool) -> Judging {
    let j = if cfg.auto {
        Judging::auto(cfg, hours)
    } else {
        Judging::fixed(cfg)
    };
    j.expecting_load(replays)
}

/// Everything [`run`] checks before it replays anything: the config's ranges, the
/// counting allocator, and that `--dhat` can work over it.
pub fn preflight(cfg: &RunConfig) -> Result<(), Error> {
    cfg.validate()?;
    if !alloc::installed() {
        return Err(Error::AllocatorMissing);
    }
    if cfg.dhat && !alloc::dhat_capable() {
        return Err(Error::Usage(
            "--dhat needs the counting allocator over the system allocator \
             (soak_harness::Counting::system()); dhat cannot share blocks with another \
             inner allocator"
                .to_string(),
        ));
    }
    Ok(())
}

fn replay(scenario: &dyn Scenario, cfg: &RunConfig, kinds_decide: bool) -> Result<Outcome, Error> {
    let wall = std::time::Instant::now();
    // The replay runs on this thread: its samples follow the seed.
    sites::configure(cfg.sample_bytes, cfg.seed);
    let rt = clock::runtime(Clock::Virtual)?;
    let recorded = rt.block_on(drive(scenario, cfg, kinds_decide));
    drop(rt);
    let rec = recorded.map_err(|source| Error::Scenario {
        scenario: scenario.name().to_string(),
        source,
    })?;
    if let Some(why) = rec.refused {
        return Err(Error::Usage(why));
    }
    let cfg = &rec.cfg;
    let dhat = rec.dhat.transpose()?;
    let wall_seconds = wall.elapsed().as_secs_f64();

    let specs = verdict::resource_specs(cfg, &rec.gauge_specs);
    let hours = if cfg.auto {
        rec.samples.last("virtual_seconds").unwrap_or(0.0) / 3600.0
    } else {
        cfg.hours
    };
    let judged = judging(cfg, hours, rec.replays_kinds);
    let verdicts = verdict::analyse(&rec.samples, &specs, &judged);
    let heap = verdicts.iter().find(|v| v.spec.name == "heap");
    let settings = attribution::FitSettings::new(
        judged.warmup_hours,
        judged.time_base,
        heap,
        cfg.sample_bytes,
        &cfg.dhat_keep,
    );
    let site_report = rec
        .sites
        .map(|r| attribution::attribute(&r.finish(), &rec.samples, &settings));
    let summary = Summary::new(SummaryInput {
        wall_seconds,
        teardown: rec.teardown,
        extras: rec.extras,
        events: rec.events,
        kinds: rec.kinds,
        dhat: dhat.as_ref().map(|p| p.report.clone()),
        sites: site_report.as_ref(),
        // A verdict on what was seen, labelled as such.
        ending: match rec.stopped {
            Some((signal, hours)) => Ending::Interrupted {
                at_seconds: hours * 3600.0,
                of_seconds: cfg.hours * 3600.0,
                signal: crate::interrupt::name(signal).to_string(),
                exit_status: crate::interrupt::exit_status(signal),
            },
            None => Ending::Completed,
        },
        chart: ChartSpec::virtual_run(&rec.samples).without(&rec.kind_columns),
        ..SummaryInput::replay(scenario.name(), cfg, judged, &rec.samples, verdicts)
    });
    Ok(Outcome {
        summary,
        samples: rec.samples,
        dhat,
        dir: None,
        sites: site_report.map(|r| r.series),
    })
}

struct Recording {
    /// The settings as judged: the run's, with the retention its kinds decided.
    cfg: RunConfig,
    /// Why the run was refused before its first sample (a `--mute` of no kind).
    refused: Option<String>,
    /// Whether it replayed any traffic kind.
    replays_kinds: bool,
    samples: Samples,
    gauge_specs: Vec<(String, Option<f64>)>,
    teardown: Teardown,
    extras: BTreeMap<String, serde_json::Value>,
    events: u64,
    kinds: Vec<KindCount>,
    /// The `load_KIND` columns.
    kind_columns: Vec<String>,
    dhat: Option<Result<Profile, Error>>,
    stopped: Option<(i32, f64)>,
    sites: Option<sites::Recorder>,
}

impl Recording {
    /// A run refused at its first sample: nothing measured.
    fn refused(cfg: &RunConfig, why: String) -> Self {
        Recording {
            cfg: cfg.clone(),
            refused: Some(why),
            replays_kinds: false,
            samples: Samples::default(),
            gauge_specs: Vec::new(),
            teardown: Teardown::default(),
            extras: BTreeMap::new(),
            events: 0,
            kinds: Vec::new(),
            kind_columns: Vec::new(),
            dhat: None,
            stopped: None,
            sites: None,
        }
    }
}

/// What the day's sampler shares with the rest of the replay.
struct Day<'a> {
    name: &'a str,
    cfg: &'a RunConfig,
    ctx: &'a Ctx,
    /// What the process held before the run (the heap columns count from it).
    before: &'a Reading,
    /// Set when the scenario failed: the sampler stops.
    failed: &'a Cell<bool>,
    /// Set when SIGINT/SIGTERM stopped the replay: (signal, virtual hours done).
    stopped: &'a Cell<Option<(i32, f64)>>,
    /// dhat's session while it runs, and what it found once stopped.
    profile: &'a RefCell<Option<profile::Session>>,
    dhat_at_end: &'a RefCell<Option<Result<Profile, Error>>>,
    /// Whether the replayed kinds decide the retention (none was given).
    kinds_decide: bool,
    /// Set when the settings name a kind the scenario does not declare.
    refused: &'a RefCell<Option<String>>,
    /// The settings as judged, once the kinds are known (their retention).
    judged_cfg: &'a RefCell<RunConfig>,
}

async fn drive(
    scenario: &dyn Scenario,
    cfg: &RunConfig,
    kinds_decide: bool,
) -> Result<Recording, BoxError> {
    // Profiling from the start begins before anything of the run exists, so dhat's
    // bytes-at-end and the counted live heap describe the same blocks.
    let profile = RefCell::new(
        (cfg.dhat && cfg.dhat_from <= 0.0).then(|| profile::Session::start(0.0, &cfg.dhat_keep)),
    );
    let dhat_at_end = RefCell::new(None);
    clock::settle().await;
    let before = probe::read(0.0, 0);
    let ctx = Ctx::new(cfg);
    let injector =
        (cfg.leak_rate > 0.0).then(|| crate::inject::spawn(cfg.leak_rate, ctx.duration()));
    let failed = Cell::new(false);
    let stopped = Cell::new(None);
    let refused = RefCell::new(None);
    let judged_cfg = RefCell::new(cfg.clone());
    let day = Day {
        name: scenario.name(),
        cfg,
        ctx: &ctx,
        before: &before,
        failed: &failed,
        stopped: &stopped,
        profile: &profile,
        dhat_at_end: &dhat_at_end,
        kinds_decide,
        refused: &refused,
        judged_cfg: &judged_cfg,
    };
    let scenario_run = async {
        let r = scenario.run(&ctx).await;
        if r.is_err() {
            failed.set(true);
        }
        r
    };
    let ended = || stopped.get().is_some() || refused.borrow().is_some();
    let (result, (samples, site_rec)) = both(scenario_run, sample_day(&day), ended).await;
    // A sampler that stopped early (the scenario failed) leaves the profile running.
    let dhat = dhat_at_end
        .take()
        .or_else(|| profile.take().map(profile::Session::stop));
    if let Some(why) = refused.take() {
        return Ok(Recording::refused(cfg, why));
    }
    result?;
    if let Some(h) = injector {
        h.abort();
    }
    let after = tear_down(ctx, &before, &samples).await;
    Ok(Recording {
        cfg: judged_cfg.into_inner(),
        refused: None,
        replays_kinds: after.kinds.iter().any(|k| !k.muted),
        kind_columns: after
            .kinds
            .iter()
            .map(|k| crate::scenario::kind::column(&k.name))
            .collect(),
        samples,
        gauge_specs: after.gauge_specs,
        teardown: after.teardown,
        extras: after.extras,
        events: after.events,
        kinds: after.kinds,
        dhat,
        stopped: stopped.get(),
        // Still in mapped memory: turned into counted vectors after teardown.
        sites: site_rec,
    })
}

/// The scenario and the sampler, both to completion, unless a signal stopped the
/// sampler (or the run was refused: `ended`): then the scenario is abandoned
/// mid-day (dropping it drops its subjects). Returns the scenario's result and
/// the sampler's.
async fn both<R, S: Default>(
    scenario_run: impl std::future::Future<Output = Result<(), R>>,
    sampler: impl std::future::Future<Output = S>,
    ended: impl Fn() -> bool,
) -> (Result<(), R>, S) {
    let mut scenario_run = std::pin::pin!(scenario_run);
    let mut sampler = std::pin::pin!(sampler);
    let (mut result, mut samples) = (None, None);
    while samples.is_none() || (result.is_none() && !ended()) {
        tokio::select! {
            r = &mut scenario_run, if result.is_none() => result = Some(r),
            s = &mut sampler, if samples.is_none() => samples = Some(s),
        }
    }
    // The loop ends only once the sampler has returned.
    (result.unwrap_or(Ok(())), samples.unwrap_or_default())
}

/// The sampler: a row every `--sample-every` over the day (the heap columns
/// counted from what the process held before), the sites recorded, the looks of
/// an `--hours auto` run; stops early when the scenario failed or a signal came.
async fn sample_day(d: &Day<'_>) -> (Samples, Option<sites::Recorder>) {
    let ctx = d.ctx;
    let n = d.cfg.sample_count();
    let mut progress = Progress::new(d.cfg.progress, d.name, d.cfg.hours);
    // Let the scenario build its subjects and register gauges first.
    tokio::task::yield_now().await;
    ctx.shared.sealed.set(true);
    if let Err(why) = check_mutes(d.name, d.cfg, ctx) {
        *d.refused.borrow_mut() = Some(why);
        return (Samples::default(), None);
    }
    if d.kinds_decide {
        if let Some(h) = kinds_retention(ctx) {
            d.judged_cfg.borrow_mut().retention_hours = Some(h);
        }
    }
    // A copy: nothing is borrowed across the sampler's awaits.
    let judged = d.judged_cfg.borrow().clone();
    let cfg = &judged;
    let names: Vec<String> = ctx
        .shared
        .gauges
        .borrow()
        .iter()
        .map(|g| g.name.clone())
        .collect();
    let kinds: Vec<Rc<KindState>> = ctx.shared.kinds.borrow().clone();
    let replays = kinds.iter().any(|k| !k.muted);
    let mut columns: Vec<String> = FIXED_COLUMNS.iter().map(|s| s.to_string()).collect();
    columns.extend(kinds.iter().map(|k| k.column()));
    columns.extend(names.iter().cloned());
    let mut samples = Samples::with_capacity(columns, n);
    let mut gauge_row = Vec::with_capacity(kinds.len() + names.len());
    // Mapped memory, not the counted heap; no allocation while recording.
    let mut site_rec = sites::Recorder::start(n);
    // An auto run judges itself every LOOK_EVERY and stops once settled.
    let auto_specs = cfg
        .auto
        .then(|| verdict::resource_specs(cfg, &gauge_budgets(ctx)));
    let look_every = verdict::LOOK_EVERY.as_secs_f64();
    let mut iv = tokio::time::interval_at(ctx.start(), cfg.sample_every);
    for _ in 0..n {
        let at = iv.tick().await;
        if d.failed.get() {
            break;
        }
        clock::settle().await;
        let secs = (at - ctx.start()).as_secs_f64();
        let load = ctx.shared.events.replace(0);
        // Heap columns count what the run holds, not what the process held
        // before it (CLI, earlier runs of `soak all`): see `Reading::since`.
        let reading = probe::read(secs, load).since(d.before);
        if let Some(r) = site_rec.as_mut() {
            r.record(secs);
        }
        gauge_row.clear();
        gauge_row.extend(kinds.iter().map(|k| k.since_sample.replace(0) as f64));
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
        if let Some(signal) = crate::interrupt::requested() {
            d.stopped.set(Some((signal, secs / 3600.0)));
            break;
        }
        let late_start = cfg.dhat && secs / 3600.0 >= cfg.dhat_from;
        if late_start && d.profile.borrow().is_none() {
            *d.profile.borrow_mut() = Some(profile::Session::start(secs / 3600.0, &cfg.dhat_keep));
        }
        if let Some(specs) = &auto_specs {
            let due = secs > 0.0 && (secs / look_every).fract() == 0.0;
            let j = judging(cfg, secs / 3600.0, replays);
            if due && settled(&samples, specs, &j) {
                ctx.shared.stop_at(at);
                break;
            }
        }
    }
    progress.finish();
    // Stop profiling right after the last sample: the end of the day, before
    // the scenario (which resumes a moment later) shuts its subjects down, so
    // "bytes at end" are what the day left live.
    *d.dhat_at_end.borrow_mut() = d.profile.take().map(profile::Session::stop);
    (samples, site_rec)
}

/// What the run's context held at its end.
struct AfterRun {
    teardown: Teardown,
    gauge_specs: Vec<(String, Option<f64>)>,
    extras: BTreeMap<String, serde_json::Value>,
    events: u64,
    kinds: Vec<KindCount>,
}

/// Teardown: the scenario has shut its subjects down; give stragglers
/// [`TEARDOWN_SETTLE`] of virtual time, then compare with `before`.
async fn tear_down(ctx: Ctx, before: &Reading, samples: &Samples) -> AfterRun {
    tokio::time::sleep(TEARDOWN_SETTLE).await;
    clock::settle().await;
    let gauge_specs = gauge_budgets(&ctx);
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
    let kinds = ctx
        .shared
        .kinds
        .borrow()
        .iter()
        .map(|k| KindCount {
            name: k.name.clone(),
            events: k.total.get(),
            muted: k.muted,
        })
        .collect();
    drop(ctx); // releases the gauges and whatever they kept alive
    clock::settle().await;
    let after: Reading = probe::read(0.0, 0);
    // The sample table is the one thing of the run the harness still holds.
    let teardown = Teardown::new(before, &after.less_heap(samples.heap_bytes()), gauges_after)
        .require_at_rest(&at_rest);
    AfterRun {
        teardown,
        gauge_specs,
        extras,
        events,
        kinds,
    }
}

/// Every `--mute` name must be a kind the scenario declared: the message lists
/// them.
fn check_mutes(scenario: &str, cfg: &RunConfig, ctx: &Ctx) -> Result<(), String> {
    let kinds = ctx.shared.kinds.borrow();
    let Some(bad) = cfg
        .mute
        .iter()
        .find(|m| !kinds.iter().any(|k| &k.name == *m))
    else {
        return Ok(());
    };
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    Err(if names.is_empty() {
        format!(
            "--mute {}: {scenario} declares no traffic kinds, so there is nothing to mute; \
             drop --mute",
            crate::units::echo(bad)
        )
    } else {
        format!(
            "--mute {}: {scenario} has no traffic kind of that name; its kinds: {}",
            crate::units::echo(bad),
            names.join(", ")
        )
    })
}

/// The retention the run's kinds declare: the longest among those not muted,
/// when every kind declares one (0 when every kind is muted); `None` when some
/// replayed kind does not say, or the scenario declares no kinds.
fn kinds_retention(ctx: &Ctx) -> Option<f64> {
    let kinds = ctx.shared.kinds.borrow();
    if kinds.is_empty() {
        return None;
    }
    let mut longest = 0.0f64;
    for k in kinds.iter().filter(|k| !k.muted) {
        longest = longest.max(k.retains.get()?.as_secs_f64() / 3600.0);
    }
    Some(longest)
}

/// Whether the samples so far give a verdict other than inconclusive.
fn settled(samples: &Samples, specs: &[verdict::ResourceSpec], j: &Judging) -> bool {
    verdict::decide(&verdict::analyse(samples, specs, j)) != Verdict::Inconclusive
}

/// The scenario's gauges as `(name, budget per hour)`, in registration order.
fn gauge_budgets(ctx: &Ctx) -> Vec<(String, Option<f64>)> {
    ctx.shared
        .gauges
        .borrow()
        .iter()
        .map(|g| (g.name.clone(), g.budget_per_hour))
        .collect()
}
