//! `soak shrink SCENARIO [run options]`: runs the scenario as `soak run` would,
//! and when that fails, searches for the smallest and fastest replay that still
//! fails ([`crate::shrink`]); prints what it found and writes the minimal run's
//! report with `shrink.json` under `OUT/shrink/SCENARIO/VARIANT/`.

use std::path::PathBuf;

use clap::Args;

use super::{RunArgs, EXIT_FAIL};
use crate::scenario::Scenario;
use crate::shrink::{self, Found, Settings, Trial};
use crate::{interrupt, report, run, Error, Variant, Verdict};

/// `shrink.json`'s file name, beside the minimal run's `summary.json`.
pub const SHRINK_FILE: &str = "shrink.json";

/// Where `soak shrink` writes below `--out`.
pub const SHRINK_DIR: &str = "shrink";

/// `--variant`'s help in `soak shrink`: one variant's failing run is searched.
pub const VARIANT_HELP: &str = "Subject variant: the fix the source report proposed (fixed) or \
     the bug it found (leaky) [default: fixed]";

/// The help's examples and statuses.
pub const AFTER_HELP: &str = "\
Examples:
  soak shrink moderator-flood --variant leaky             which traffic, how short, how light
  soak shrink raid-burst --variant leaky --seed 3 --max-runs 20
  soak shrink calibration --leak-rate 4MiB/h              a leak that needs no traffic

Every run of the search is an ordinary run, printed with the options that
reproduce it (soak run SCENARIO OPTIONS). The minimal run's report and
shrink.json (every run, the ablation table, bytes per event, the test) are written
to OUT/shrink/SCENARIO/VARIANT/.

Exit status: 1 the search found a failing minimal run (the leak is there), 0 the
run passes and 3 it is inconclusive (nothing to shrink), 2 usage or input error,
130/143 stopped by SIGINT/SIGTERM.";

/// `soak shrink`'s arguments.
#[derive(Debug, Args)]
pub struct ShrinkCommand {
    /// Scenario name (see `soak list`).
    scenario: String,
    #[command(flatten)]
    args: ShrinkArgs,
}

impl ShrinkCommand {
    /// Shrinks the named scenario's run.
    pub fn run(self, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
        command(super::run::find(scenarios, &self.scenario)?, &self.args)
    }
}

/// The options of `soak shrink`.
#[derive(Debug, Args, Clone)]
pub struct ShrinkArgs {
    /// Most runs the search may make, the original included; when they run out
    /// it reports the smallest failing run found so far.
    #[arg(long, value_name = "N", default_value_t = shrink::DEFAULT_MAX_RUNS)]
    pub max_runs: usize,
    /// The run to shrink.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `soak shrink` over `scenario`.
fn command(scenario: &dyn Scenario, args: &ShrinkArgs) -> Result<u8, Error> {
    let ci = &args.run.ci;
    let not_here = |flag: &str| {
        Err(Error::Usage(format!(
            "{flag} does not apply to soak shrink (its runs are a search, not a CI \
             session); drop it"
        )))
    };
    if ci.junit.is_some() {
        return not_here("--junit");
    }
    if ci.baseline.is_some() {
        return not_here("--baseline");
    }
    if ci.save_baseline.is_some() {
        return not_here("--save-baseline");
    }
    if args.run.bisect {
        return not_here("--bisect");
    }
    if args.run.plan.seeds.is_some() || args.run.plan.jobs.is_some() {
        return Err(Error::Usage(
            "--seeds and --jobs do not apply to soak shrink (it shrinks one seed's run, \
             one run after another); give --seed N"
                .to_string(),
        ));
    }
    // `both` is refused: a search shrinks one variant's failing run.
    args.run.shared.variant_or(Variant::Fixed)?;
    if args.max_runs == 0 {
        return Err(Error::Usage(
            "--max-runs must be at least 1 (the run to shrink); e.g. --max-runs 40".to_string(),
        ));
    }
    let cfg = args.run.to_config()?;
    run::preflight(&cfg)?;
    let root: PathBuf = args.run.out().join(SHRINK_DIR);
    report::prepare_dir(&root, scenario.name(), cfg.variant)?;

    let quiet = args.run.shared.quiet;
    let name = scenario.name();
    let mut progress = |t: &Trial, max: usize| {
        if !quiet {
            errline(&progress_line(name, t, max));
        }
    };
    let found = shrink::shrink(
        scenario,
        &cfg,
        Settings {
            max_runs: args.max_runs,
            progress: &mut progress,
        },
    )?;
    match found {
        Found::Interrupted => Ok(interrupted()),
        Found::NothingToShrink(outcome) => {
            outln!("{}", outcome.summary.console());
            let why = match outcome.verdict() {
                Verdict::Inconclusive => "the run is inconclusive",
                _ => "the run passes",
            };
            outln!("nothing to shrink: {why}");
            if !outcome.summary.complete {
                return Ok(interrupted());
            }
            Ok(crate::summary::exit_status(&outcome.summary))
        }
        Found::Shrunk(shrunk, mut outcome) => {
            outln!("{}", shrunk.text().trim_end());
            let json = shrunk.to_json();
            let shrink_json = report::Attachment {
                name: SHRINK_FILE.to_string(),
                content: report::Content::Bytes(json.into_bytes()),
            };
            let dir = outcome.write_report_with(&root, &[shrink_json])?;
            outln!("report: {}", dir.display());
            if shrunk.interrupted {
                return Ok(interrupted());
            }
            Ok(EXIT_FAIL)
        }
    }
}

/// The exit status of a search a signal stopped.
fn interrupted() -> u8 {
    interrupt::exit_status(interrupt::requested().unwrap_or(libc::SIGTERM))
}

/// One line per run: which, its verdict and growth, and how to reproduce it.
fn progress_line(scenario: &str, t: &Trial, max: usize) -> String {
    let stage = serde_json::to_value(t.stage)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let growth = t
        .growth
        .iter()
        .find(|g| t.failed_resources.first() == Some(&g.resource))
        .or_else(|| t.growth_of("heap"))
        .map(|g| {
            format!(
                " {} {}",
                g.resource,
                crate::units::rate_text(g.per_hour, &g.unit, "h")
            )
        })
        .unwrap_or_default();
    format!(
        "shrink [{}/{max}] {stage}: {}{growth}, {} virtual h in {:.2} s: soak run {scenario} {}",
        t.run,
        t.verdict.as_str(),
        crate::units::number_text(t.virtual_hours),
        t.wall_seconds,
        t.args.join(" ")
    )
}

/// A line on stderr (progress), ignoring a closed stderr.
fn errline(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::RunArgs;
    use crate::config::{RunConfig, Variant};
    use crate::shrink::command_args;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        args: RunArgs,
    }

    /// What `soak run SCENARIO ARGS` makes of `command_args(cfg)`.
    fn parsed(cfg: &RunConfig) -> RunConfig {
        let mut line = vec!["soak".to_string()];
        line.extend(command_args(cfg));
        let args = Line::try_parse_from(&line).expect("parses").args;
        args.to_config().expect("valid")
    }

    #[test]
    fn the_printed_options_give_the_same_settings_back() {
        let cases = [
            RunConfig::new(),
            RunConfig::new()
                .variant(Variant::Leaky)
                .seed(u64::MAX)
                .mute("flags")
                .mute("resets")
                .load_scale(0.0625)
                .auto(23.0),
            RunConfig::new()
                .hours(6.5)
                .max_growth(4e6 / 3.0)
                .max_task_growth(2.5)
                .max_fd_growth(0.0)
                .leak_rate(4_194_304.0)
                .sample_every(Duration::from_nanos(1_500_000_001))
                .warmup_hours(0.7)
                .retention_hours(1.5)
                .sample_bytes(4096)
                .dhat(1.0)
                .dhat_keep("my_crate::"),
            RunConfig::new()
                .hours(0.1 + 0.2)
                .sample_every(Duration::from_millis(100)),
        ];
        for cfg in cases {
            let want = RunConfig {
                progress: true,
                ..cfg.clone()
            };
            assert_eq!(parsed(&cfg), want, "{:?}", command_args(&cfg));
        }
    }
}
