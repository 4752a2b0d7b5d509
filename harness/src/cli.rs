//! The command line shared by the `soak` umbrella binary and every scenario binary.
//!
//! Two stages, as ripgrep does it: clap parses raw strings ([`RunArgs`]), then
//! [`RunArgs::to_config`] turns them into a validated [`RunConfig`] with byte rates
//! and durations parsed, so every bad value is reported in one line with exit
//! status 2 before anything runs or is written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report;
use crate::scenario::{self, Outcome, RunConfig, Scenario, Variant};
use crate::units::{bytes_text, parse_duration, parse_rate};
use crate::Error;

/// `println!` that ignores a closed stdout (`soak list | head -1` must not panic).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Exit status: every budgeted resource stayed within budget.
pub const EXIT_PASS: u8 = 0;
/// Exit status: a resource grew past its budget.
pub const EXIT_FAIL: u8 = 1;
/// Exit status: usage, input or harness error.
pub const EXIT_ERROR: u8 = 2;

const AFTER_HELP: &str = "\
Examples:
  soak run calibration                          24 virtual hours, fixed variant, seed 1
  soak run moderator-flood --variant leaky      the bug the source report found
  soak run calibration --leak-rate 4MiB/h       inject a known leak: the detector must see it
  soak run moderator-flood --variant leaky --hours 4 --dhat    where does the heap go?
  soak all --seed 3 --out reports/nightly       every scenario (the nightly job)

Exit status: 0 every resource within budget, 1 a resource grew past its budget,
2 usage or input error.

Each run writes OUT/SCENARIO/VARIANT/{samples.csv,summary.json,heap.svg,heap.png}
(and dhat-heap.json with --dhat), plus OUT/index.html over all runs.";

/// `soak`: replay a day of synthetic traffic on a virtual clock and fail when a
/// resource grows faster than its budget.
#[derive(Debug, Parser)]
#[command(
    name = "soak",
    version,
    about = "Replay a day of synthetic traffic on a virtual clock, measure every resource \
             that can leak, and fail when one grows faster than its budget.",
    long_about = None,
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List scenarios with one-line descriptions and their variants.
    List,
    /// Run one scenario.
    #[command(after_help = AFTER_HELP)]
    Run {
        /// Scenario name (see `soak list`).
        scenario: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Run every scenario (the nightly job); exits 1 if any fails.
    #[command(after_help = AFTER_HELP)]
    All {
        #[command(flatten)]
        args: RunArgs,
    },
    /// Redraw charts and the index from saved samples.csv and summary.json files.
    Report {
        /// A report root (e.g. reports/) or one run directory.
        dir: PathBuf,
    },
}

/// The options of a run, as typed.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Subject variant: the fix the source report proposed, or the bug it found.
    #[arg(long, value_enum, default_value_t = VariantArg::Fixed)]
    pub variant: VariantArg,
    /// Virtual hours to replay (fractions allowed).
    #[arg(
        long,
        default_value = "24",
        allow_hyphen_values = true,
        value_name = "H"
    )]
    pub hours: String,
    /// Traffic seed; the same seed replays the same traffic.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Heap growth budget per virtual hour; units B, KB, MB, GB, KiB, MiB, GiB.
    #[arg(
        long,
        default_value = "1MB/h",
        value_name = "RATE",
        allow_hyphen_values = true
    )]
    pub max_growth: String,
    /// Budget for alive tokio tasks, tasks per virtual hour of sustained growth.
    #[arg(
        long,
        default_value = "1",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_task_growth: String,
    /// Budget for open file descriptors, per virtual hour of sustained growth.
    #[arg(
        long,
        default_value = "1",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_fd_growth: String,
    /// Virtual time between samples (e.g. 30s, 1m, 5m).
    #[arg(long, default_value = "1m", value_name = "DURATION")]
    pub sample_every: String,
    /// Virtual hours left out of the growth fit at the start [default: 10% of --hours].
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub warmup: Option<String>,
    /// Inject a known leak of RATE bytes per virtual hour on top of the scenario
    /// (calibrates the detector on any subject).
    #[arg(
        long,
        default_value = "0",
        value_name = "RATE",
        allow_hyphen_values = true
    )]
    pub leak_rate: String,
    /// Report root directory.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,
    /// Profile the heap with dhat: writes dhat-heap.json and lists the allocation
    /// sites holding the most bytes at the end in the summary (slower: ~1.5 µs per
    /// allocation; see docs/dhat.md).
    #[arg(long)]
    pub dhat: bool,
    /// Start dhat profiling at this virtual hour instead of the start, so the sites
    /// left at the end are those that grew during the window (implies --dhat).
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub dhat_from: Option<String>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--variant` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VariantArg {
    /// The cure.
    Fixed,
    /// The bug.
    Leaky,
}

fn number(flag: &str, text: &str, what: &str) -> Result<f64, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| Error::Usage(format!("--{flag} '{text}' is not a number; give {what}")))
}

impl RunArgs {
    /// Validates and converts the typed options.
    pub fn to_config(&self) -> Result<RunConfig, Error> {
        let rate = |flag: &str, text: &str| {
            parse_rate(text).map_err(|e| Error::Usage(format!("--{flag}: {e}")))
        };
        let per_hour = |flag: &str, text: &str| -> Result<f64, Error> {
            let v = number(flag, text, "a count per virtual hour, e.g. 1")?;
            if v < 0.0 {
                return Err(Error::Usage(format!(
                    "--{flag} must not be negative, got {text}"
                )));
            }
            Ok(v)
        };
        let hours = number(
            "hours",
            &self.hours,
            "a positive number of virtual hours, e.g. 24",
        )?;
        let warmup_hours = match &self.warmup {
            Some(w) => Some(number("warmup", w, "virtual hours, e.g. 2")?),
            None => None,
        };
        let cfg = RunConfig {
            variant: match self.variant {
                VariantArg::Fixed => Variant::Fixed,
                VariantArg::Leaky => Variant::Leaky,
            },
            hours,
            seed: self.seed,
            max_growth: rate("max-growth", &self.max_growth)?,
            max_task_growth: per_hour("max-task-growth", &self.max_task_growth)?,
            max_fd_growth: per_hour("max-fd-growth", &self.max_fd_growth)?,
            sample_every: parse_duration(&self.sample_every)
                .map_err(|e| Error::Usage(format!("--sample-every: {e}")))?,
            warmup_hours,
            leak_rate: rate("leak-rate", &self.leak_rate)?,
            out: Some(self.out.clone()),
            dhat: self.dhat || self.dhat_from.is_some(),
            dhat_from: match &self.dhat_from {
                Some(h) => number("dhat-from", h, "a virtual hour, e.g. 2")?,
                None => 0.0,
            },
            progress: !self.quiet,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// A subcommand another crate serves, listed in `soak --help`: the binary
/// dispatches it itself before calling [`main_with`] (live mode does this, so the
/// harness never depends on its load generator).
#[derive(Debug, Clone, Copy)]
pub struct ExtraCommand {
    /// The subcommand's name.
    pub name: &'static str,
    /// One line for the help.
    pub about: &'static str,
}

/// Entry point of the `soak` binary over the given scenarios.
pub fn main(scenarios: Vec<Box<dyn Scenario>>) -> ExitCode {
    main_with(scenarios, &[])
}

/// [`main`], with `extra` subcommands listed in the help.
pub fn main_with(scenarios: Vec<Box<dyn Scenario>>, extra: &[ExtraCommand]) -> ExitCode {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for x in extra {
        cmd = cmd.subcommand(clap::Command::new(x.name).about(x.about));
    }
    let parsed = cmd
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    ExitCode::from(match dispatch(cli.command, &scenarios) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    })
}

/// Entry point of a single scenario's binary: the options of `soak run`.
pub fn main_single(scenario: Box<dyn Scenario>) -> ExitCode {
    #[derive(Debug, Parser)]
    #[command(version, after_help = AFTER_HELP)]
    struct Single {
        #[command(flatten)]
        args: RunArgs,
    }
    let about = scenario.about();
    let cmd = <Single as clap::CommandFactory>::command()
        .name(scenario.name())
        .about(about);
    let parsed = cmd
        .try_get_matches()
        .and_then(|m| <Single as clap::FromArgMatches>::from_arg_matches(&m));
    let single = match parsed {
        Ok(s) => s,
        Err(e) => return clap_exit(e),
    };
    ExitCode::from(
        match single
            .args
            .to_config()
            .and_then(|cfg| run_one(scenario.as_ref(), &cfg))
        {
            Ok(code) => code,
            Err(e) => report_error(&e),
        },
    )
}

fn clap_exit(e: clap::Error) -> ExitCode {
    let _ = e.print();
    // Help and version are successes; every parse error is a usage error.
    ExitCode::from(if e.use_stderr() {
        EXIT_ERROR
    } else {
        EXIT_PASS
    })
}

fn report_error(e: &Error) -> u8 {
    eprintln!("error: {e}");
    e.exit_code()
}

fn dispatch(cmd: Command, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
    match cmd {
        Command::List => {
            let width = scenarios.iter().map(|s| s.name().len()).max().unwrap_or(0);
            for s in scenarios {
                outln!(
                    "{:width$}  {}  [variants: fixed, leaky]",
                    s.name(),
                    s.about()
                );
            }
            Ok(EXIT_PASS)
        }
        Command::Run { scenario, args } => {
            let found = scenarios
                .iter()
                .find(|s| s.name() == scenario)
                .ok_or_else(|| Error::UnknownScenario {
                    name: scenario.clone(),
                    known: scenarios.iter().map(|s| s.name().to_string()).collect(),
                })?;
            let cfg = args.to_config()?;
            run_one(found.as_ref(), &cfg)
        }
        Command::All { args } => {
            let cfg = args.to_config()?;
            let mut worst = EXIT_PASS;
            for s in scenarios {
                worst = worst.max(run_one(s.as_ref(), &cfg)?);
            }
            Ok(worst)
        }
        Command::Report { dir } => {
            let runs = report::redraw(&dir)?;
            for r in &runs {
                outln!("redrew {}", r.display());
            }
            Ok(EXIT_PASS)
        }
    }
}

fn run_one(s: &dyn Scenario, cfg: &RunConfig) -> Result<u8, Error> {
    let outcome = scenario::run(s, cfg)?;
    print_outcome(&outcome);
    Ok(if outcome.passed() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    })
}

fn print_outcome(o: &Outcome) {
    let s = &o.summary;
    outln!(
        "{} ({}, seed {}): {} virtual h in {:.2} s wall, peak heap {}; {}",
        s.scenario,
        s.variant,
        s.seed,
        s.virtual_hours,
        s.wall_seconds,
        bytes_text(s.peak_live_bytes as f64),
        s.message
    );
    if !s.teardown.clean {
        outln!(
            "  teardown not clean: tasks {}→{}, fds {}→{}, heap {}→{}",
            s.teardown.tasks_before,
            s.teardown.tasks_after,
            s.teardown.fds_before,
            s.teardown.fds_after,
            bytes_text(s.teardown.live_bytes_before as f64),
            bytes_text(s.teardown.live_bytes_after as f64)
        );
        for (name, v) in &s.teardown.gauges_not_at_rest {
            outln!("  teardown: gauge {name} still at {v} after shutdown");
        }
    }
    if let Some(d) = &o.dir {
        outln!("  report: {}", d.display());
    }
}
