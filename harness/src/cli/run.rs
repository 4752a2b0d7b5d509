//! `soak run SCENARIO`: one scenario; and the loop `soak all` shares, with the
//! CI session (baseline, JUnit, history) around the runs.

use clap::Args;

use super::args::RunArgs;
use super::{ci, combined_exit, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};
use crate::config::RunConfig;
use crate::run::{self, Outcome};
use crate::scenario::Scenario;
use crate::summary::exit_status;
use crate::Error;
use crate::{interrupt, report};

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
        let found = scenarios
            .iter()
            .find(|s| s.name() == self.scenario)
            .ok_or_else(|| Error::UnknownScenario {
                name: self.scenario.clone(),
                known: scenarios.iter().map(|s| s.name().to_string()).collect(),
            })?;
        run_many(&[found.as_ref()], &self.args)
    }
}

/// Runs `list` one after another under the same options, with the CI session
/// (baseline comparison, JUnit, history, baseline saving) around them. Every
/// option and report directory is checked before the first replay.
pub(super) fn run_many(list: &[&dyn Scenario], args: &RunArgs) -> Result<u8, Error> {
    let cfg = args.to_config()?;
    run::preflight(&cfg)?;
    let planned: Vec<(String, String)> = list
        .iter()
        .map(|s| (s.name().to_string(), cfg.variant.to_string()))
        .collect();
    let mut session = ci::Session::start(&args.ci, args.out(), &planned)?;
    for s in list {
        report::prepare_dir(args.out(), s.name(), cfg.variant)?;
    }
    let mut codes = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        if let Some(signal) = interrupt::requested() {
            // Stopped before this scenario began: it is not run, nothing of it
            // written; the session still closes (JUnit, history) on what ran.
            outln!(
                "stopped by {}: {} of {} scenarios not run",
                interrupt::name(signal),
                list.len() - i,
                list.len()
            );
            let _ = session.finish();
            return Ok(interrupt::exit_status(signal));
        }
        match run_one(*s, &cfg, args.out()) {
            Ok((_, outcome)) if !outcome.summary.complete => {
                // A partial run is reported (its complete:false report) but never
                // recorded: no history entry, no JUnit case, never a baseline.
                let signal = interrupt::requested().unwrap_or(libc::SIGTERM);
                outln!(
                    "stopped by {}: {} of {} scenarios not run",
                    interrupt::name(signal),
                    list.len() - i - 1,
                    list.len()
                );
                let _ = session.finish();
                return Ok(interrupt::exit_status(signal));
            }
            Ok((code, outcome)) => {
                codes.push(code);
                codes.push(session.record(&outcome));
            }
            Err(e) => {
                session.record_error(s.name(), cfg.variant.as_str(), cfg.seed, &e);
                // The run's error is what the user needs; a JUnit write failure
                // on the way out would only hide it.
                let _ = session.finish();
                return Err(e);
            }
        }
    }
    session.finish()?;
    if list.len() > 1 {
        let runs = |c| codes.iter().step_by(2).filter(|&&x| x == c).count();
        outln!(
            "{} runs: {} pass, {} fail, {} inconclusive",
            list.len(),
            runs(EXIT_PASS),
            runs(EXIT_FAIL),
            runs(EXIT_INCONCLUSIVE)
        );
    }
    // A signal that came once the last replay was done cut nothing short. A leak
    // (or regression) outranks an inconclusive run: exit 1 before 3.
    Ok(combined_exit(&codes))
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
    let dir = outcome.write_report(out)?;
    outln!("  report: {}", dir.display());
    let code = exit_status(&outcome.summary);
    Ok((code, outcome))
}
