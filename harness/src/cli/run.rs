//! `soak run SCENARIO`: one scenario; and the loop `soak all` shares, with the
//! CI session (baseline, JUnit, history) around the runs.

use clap::Args;

use super::args::RunArgs;
use super::{ci, jobs, report_error};
use crate::config::RunConfig;
use crate::parallel::Job;
use crate::run::{self, Outcome};
use crate::scenario::Scenario;
use crate::summary::exit_status;
use crate::Error;
use crate::{interrupt, progress, report};

/// `soak run`'s arguments.
#[derive(Debug, Args)]
pub struct RunCommand {
    /// Scenario name (see `soak list`).
    scenario: String,
    #[command(flatten)]
    args: RunArgs,
}

impl RunCommand {
    /// Runs the named scenario.
    pub fn run(self, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
        run_many(&[find(scenarios, &self.scenario)?], &self.args)
    }
}

/// The scenario named `name`.
pub(super) fn find<'a>(
    scenarios: &'a [Box<dyn Scenario>],
    name: &str,
) -> Result<&'a dyn Scenario, Error> {
    scenarios
        .iter()
        .find(|s| s.name() == name)
        .map(|s| s.as_ref())
        .ok_or_else(|| Error::UnknownScenario {
            name: name.to_string(),
            known: scenarios.iter().map(|s| s.name().to_string()).collect(),
        })
}

/// Runs every run `args` asks for over `list` (each scenario × variant × seed,
/// see [`jobs::plan`]) under the same options, with the CI session (baseline
/// comparison, JUnit, history, baseline saving) around them: one after another
/// in this process with `--jobs 1` (or a single run), else in child processes
/// ([`jobs::run_parallel`]). Every option and report directory is checked before
/// the first replay.
pub(super) fn run_many(list: &[&dyn Scenario], args: &RunArgs) -> Result<u8, Error> {
    let cfg = args.to_config()?;
    run::preflight(&cfg)?;
    let runs = jobs::plan(list, args, &cfg);
    let planned: Vec<(String, String)> = runs
        .iter()
        .map(|r| (r.job.scenario.clone(), r.job.cfg.variant.to_string()))
        .collect();
    let mut session = ci::Session::start(&args.ci, args.out(), &planned)?;
    for r in &runs {
        report::prepare_dir(&r.job.out, &r.job.scenario, r.job.cfg.variant)?;
    }
    let width = jobs::width(&args.plan, runs.len());
    if width > 1 {
        return jobs::run_parallel(&runs, width, !args.shared.quiet, args.out(), session);
    }
    let mut tally = jobs::Tally::default();
    for (i, r) in runs.iter().enumerate() {
        if let Some(signal) = interrupt::requested() {
            // Stopped before this run began: it is not run, nothing of it
            // written; the session still closes (JUnit, history) on what ran.
            return Ok(jobs::stopped(session, signal, runs.len() - i, runs.len()));
        }
        match run_one(r.scenario, &r.job.cfg, &r.job.out) {
            Ok((_, outcome)) if !outcome.summary.complete => {
                // A partial run is reported (its complete:false report) but never
                // recorded: no history entry, no JUnit case, never a baseline.
                let signal = interrupt::requested().unwrap_or(libc::SIGTERM);
                return Ok(jobs::stopped(
                    session,
                    signal,
                    runs.len() - i - 1,
                    runs.len(),
                ));
            }
            Ok((code, outcome)) => tally.run(code, session.record(&outcome)),
            Err(e) => {
                let job = &r.job;
                session.record_error(&job.scenario, job.cfg.variant.as_str(), job.cfg.seed, &e);
                // The run's error is what the user needs; a JUnit write failure
                // on the way out would only hide it.
                let _ = session.finish();
                return Err(e);
            }
        }
    }
    // A signal that came once the last replay was done cut nothing short. A leak
    // (or regression) outranks an inconclusive run: exit 1 before 3.
    tally.close(session, runs.len())
}

/// A child of a parallel run ([`crate::parallel`]): replays its one job among
/// `scenarios`, prints and writes as a serial run does, and returns the run's
/// exit status (128 + the signal for a run a signal cut short).
pub(super) fn run_child(job: Result<Job, Error>, scenarios: &[Box<dyn Scenario>]) -> u8 {
    let found = job.and_then(|job| Ok((find(scenarios, &job.scenario)?, job)));
    let (s, job) = match found {
        Ok(x) => x,
        Err(e) => return report_error(&e),
    };
    if job.cfg.progress {
        progress::report_to_parent();
    }
    match run_one(s, &job.cfg, &job.out) {
        Ok((_, o)) if !o.summary.complete => {
            interrupt::exit_status(interrupt::requested().unwrap_or(libc::SIGTERM))
        }
        Ok((code, _)) => code,
        Err(e) => report_error(&e),
    }
}

/// Runs one scenario (its report directory already checked), prints the verdict,
/// then writes the report.
fn run_one(
    s: &dyn Scenario,
    cfg: &RunConfig,
    out: &std::path::Path,
) -> Result<(u8, Outcome), Error> {
    let mut outcome = run::run(s, cfg)?;
    outln!("{}", outcome.summary.console());
    line_tables_hint(&outcome.summary);
    let dir = outcome.write_report(out)?;
    outln!("  report: {}", dir.display());
    let code = exit_status(&outcome.summary);
    Ok((code, outcome))
}

/// The line-tables hint, once per process: every run of a binary without line
/// tables would repeat it.
fn line_tables_hint(s: &crate::summary::Summary) {
    if let Some(hint) = s.site_sampling.as_ref().and_then(|x| x.hint.as_deref()) {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            outln!("  note: {hint}");
        }
    }
}
