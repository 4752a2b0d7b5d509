//! The run loop: replays a scenario's day on a paused clock, samples every
//! resource each virtual minute, injects the calibration leak, checks teardown,
//! and judges the samples. [`run`] returns an [`Outcome`]; writing report files is
//! the caller's choice ([`Outcome::write_report`]).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::clock::{self, Clock};
use crate::config::RunConfig;
use crate::probe::{self, Gauge, Reading, FIXED_COLUMNS};
use crate::profile::{self, Profile};
use crate::progress::Progress;
use crate::samples::Samples;
use crate::scenario::{Ctx, Scenario};
use crate::summary::{Summary, SummaryInput};
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
        let dir = report::prepare_dir(root, &self.summary.scenario, self.summary.variant)?;
        let dhat = self.dhat.as_ref().map(|p| p.json.as_str());
        report::write_run(
            &dir,
            &self.samples,
            &self.summary,
            dhat,
            self.sites.as_ref(),
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
    if cfg.retention_hours.is_none() {
        cfg.retention_hours = scenario.retention().map(|d| d.as_secs_f64() / 3600.0);
    }
    preflight(&cfg)?;
    // A poisoned lock only means an earlier run panicked; the counters are still fine.
    let _serial = RUN_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    replay(scenario, &cfg)
}

/// How `cfg`'s run is judged when it ended (or is looked at) after `hours`.
fn judging(cfg: &RunConfig, hours: f64) -> Judging {
    if cfg.auto {
        Judging::auto(cfg, hours)
    } else {
        Judging::fixed(cfg)
    }
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

fn replay(scenario: &dyn Scenario, cfg: &RunConfig) -> Result<Outcome, Error> {
    let wall = std::time::Instant::now();
    // The replay runs on this thread: its samples follow the seed.
    sites::configure(cfg.sample_bytes, cfg.seed);
    let rt = clock::runtime(Clock::Virtual)?;
    let recorded = rt.block_on(drive(scenario, cfg));
    drop(rt);
    let rec = recorded.map_err(|source| Error::Scenario {
        scenario: scenario.name().to_string(),
        source,
    })?;
    let dhat = rec.dhat.transpose()?;
    let wall_seconds = wall.elapsed().as_secs_f64();

    let specs = verdict::resource_specs(cfg, &rec.gauge_specs);
    let hours = if cfg.auto {
        rec.samples.last("virtual_seconds").unwrap_or(0.0) / 3600.0
    } else {
        cfg.hours
    };
    let judged = judging(cfg, hours);
    let verdicts = verdict::analyse(&rec.samples, &specs, &judged);
    let settings = attribution::FitSettings {
        warmup_hours: judged.warmup_hours,
        budget_per_hour: cfg.max_growth,
        heap_growth: verdicts
            .iter()
            .find(|v| v.spec.name == "heap")
            .filter(|v| v.grew())
            .map(|v| v.per_hour()),
        sample_bytes: cfg.sample_bytes,
        keep: &cfg.dhat_keep,
    };
    let site_report = rec
        .sites
        .map(|r| attribution::attribute(&r.finish(), &rec.samples, &settings));
    let mut summary = Summary::new(SummaryInput {
        scenario: scenario.name(),
        cfg,
        judging: judged,
        wall_seconds,
        samples: &rec.samples,
        verdicts,
        teardown: rec.teardown,
        extras: rec.extras,
        events: rec.events,
        dhat: dhat.as_ref().map(|p| p.report.clone()),
        sites: site_report.as_ref(),
    });
    if let Some((signal, hours)) = rec.stopped {
        // A verdict on what was seen, labelled as such.
        summary.complete = false;
        summary.message = format!(
            "partial run, stopped by {} at {} of {} virtual h: {}",
            crate::interrupt::name(signal),
            crate::units::number_text((hours * 100.0).round() / 100.0),
            crate::units::number_text(cfg.hours),
            summary.message
        );
    }
    Ok(Outcome {
        summary,
        samples: rec.samples,
        dhat,
        dir: None,
        sites: site_report.map(|r| r.series),
    })
}

struct Recording {
    samples: Samples,
    gauge_specs: Vec<(String, Option<f64>)>,
    teardown: Teardown,
    extras: BTreeMap<String, serde_json::Value>,
    events: u64,
    dhat: Option<Result<Profile, Error>>,
    stopped: Option<(i32, f64)>,
    sites: Option<sites::Recorder>,
}

async fn drive(scenario: &dyn Scenario, cfg: &RunConfig) -> Result<Recording, BoxError> {
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
    // Set when SIGINT/SIGTERM stopped the replay: (signal, virtual hours done).
    let stopped = Cell::new(None);
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
        // Mapped memory, not the counted heap; no allocation while recording.
        let mut site_rec = sites::Recorder::start(n);
        // An auto run judges itself every LOOK_EVERY and stops once settled.
        let auto_specs = cfg
            .auto
            .then(|| verdict::resource_specs(cfg, &gauge_budgets(&ctx)));
        let look_every = verdict::LOOK_EVERY.as_secs_f64();
        let mut iv = tokio::time::interval_at(ctx.start(), every);
        for _ in 0..n {
            let at = iv.tick().await;
            if failed.get() {
                break;
            }
            clock::settle().await;
            let secs = (at - ctx.start()).as_secs_f64();
            let load = ctx.shared.events.replace(0);
            // Heap columns count what the run holds, not what the process held
            // before it (CLI, earlier runs of `soak all`): see `Reading::since`.
            let reading = probe::read(secs, load).since(&before);
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
            if let Some(signal) = crate::interrupt::requested() {
                stopped.set(Some((signal, secs / 3600.0)));
                break;
            }
            let late_start = cfg.dhat && secs / 3600.0 >= cfg.dhat_from;
            if late_start && profile.borrow().is_none() {
                *profile.borrow_mut() =
                    Some(profile::Session::start(secs / 3600.0, &cfg.dhat_keep));
            }
            if let Some(specs) = &auto_specs {
                let due = secs > 0.0 && (secs / look_every).fract() == 0.0;
                if due && settled(&samples, specs, &judging(cfg, secs / 3600.0)) {
                    ctx.shared.stop_at(at);
                    break;
                }
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
    let (result, (samples, site_rec)) = {
        // Both to completion, unless a signal stopped the sampler: then the
        // scenario is abandoned mid-day (dropping it drops its subjects).
        let mut scenario_run = std::pin::pin!(scenario_run);
        let mut sampler = std::pin::pin!(sampler);
        let (mut result, mut samples) = (None, None);
        while samples.is_none() || (result.is_none() && stopped.get().is_none()) {
            tokio::select! {
                r = &mut scenario_run, if result.is_none() => result = Some(r),
                s = &mut sampler, if samples.is_none() => samples = Some(s),
            }
        }
        // The loop ends only once the sampler has returned.
        (result.unwrap_or(Ok(())), samples.unwrap_or_default())
    };
    // A sampler that stopped early (the scenario failed) leaves the profile running.
    let dhat = dhat_at_end
        .take()
        .or_else(|| profile.take().map(profile::Session::stop));
    result?;

    // Teardown: the scenario has shut its subjects down; give stragglers
    // TEARDOWN_SETTLE of virtual time, then compare with `before`.
    if let Some(h) = injector {
        h.abort();
    }
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
        stopped: stopped.get(),
        // Still in mapped memory: turned into counted vectors after teardown.
        sites: site_rec,
    })
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
