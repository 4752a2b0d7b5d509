//! The command line shared by the `soak` umbrella binary, every scenario binary,
//! and a user's own binary: `soak_harness::cli::main(vec![Box::new(MyScenario)])`
//! gives it `list`, `run`, `all` and `report` with every option below, and
//! [`main_single`] a binary for one scenario.
//!
//! Two stages, as ripgrep does it: clap parses raw strings ([`RunArgs`]), then
//! [`RunArgs::to_config`] turns them into a validated [`RunConfig`] with byte rates
//! and durations parsed, so every bad value is reported in one line with exit
//! status 2 before anything runs or is written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{RunConfig, Variant};
use crate::run::{self, Outcome};
use crate::scenario::Scenario;
use crate::shard::Shard;
use crate::units::{bytes_text, echo, parse_bytes, parse_duration, parse_rate};
use crate::Error;
use crate::{interrupt, report};

/// `println!` that ignores a closed stdout (`soak list | head -1` must not panic).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod ci;

pub use ci::{CiArgs, ReportArgs, RuleArgs};

/// Exit status: every budgeted resource stayed within budget.
pub const EXIT_PASS: u8 = 0;
/// Exit status: a resource grew past its budget.
pub const EXIT_FAIL: u8 = 1;
/// Exit status: usage, input or harness error.
pub const EXIT_ERROR: u8 = 2;
/// Exit status: no resource failed, but the run could not tell for at least one
/// (the message says why and what to run instead).
pub const EXIT_INCONCLUSIVE: u8 = 3;

/// Default of `--max-hours` (the limit of `--hours auto`).
pub const DEFAULT_MAX_HOURS: f64 = 72.0;

/// The exit status of a verdict.
pub fn exit_code(v: crate::Verdict) -> u8 {
    match v {
        crate::Verdict::Fail => EXIT_FAIL,
        crate::Verdict::Inconclusive => EXIT_INCONCLUSIVE,
        crate::Verdict::Pass | crate::Verdict::Info => EXIT_PASS,
    }
}

/// The exit status of several runs (`soak all`): a failure wins, then an
/// inconclusive run, then pass.
pub fn combined_exit(codes: &[u8]) -> u8 {
    [EXIT_ERROR, EXIT_FAIL, EXIT_INCONCLUSIVE]
        .into_iter()
        .find(|c| codes.contains(c))
        .unwrap_or(EXIT_PASS)
}

const AFTER_HELP: &str = "\
Examples:
  soak run calibration                          24 virtual hours, fixed variant, seed 1
  soak run moderator-flood --variant leaky      the bug the source report found
  soak run calibration --leak-rate 4MiB/h       inject a known leak: the detector must see it
  soak run moderator-flood --variant leaky --hours 4 --dhat    where does the heap go?
  soak all --seed 3 --out reports/nightly       every scenario (the nightly job)
  soak all --shard 2/3 --junit junit.xml        the second of three CI runners
  soak all --baseline last-night/               exit 1 if any growth rose past the rule
  soak compare last-night/ reports/             the same, for two saved report trees
  soak run raid-burst --hours auto              run until the verdict is settled (at most 72 h)

Exit status: 0 every resource within budget, 1 a resource grew past its budget
(or regressed against --baseline), 2 usage or input error, 3 inconclusive: the run
was too short (or its window too unlike a full cycle) to tell; the message says why
and what to run; 130/143 stopped by SIGINT/SIGTERM (the report is written, marked
complete: false).

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
    List {
        /// Only the scenarios shard K of N runs (see `soak all --shard`).
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
    },
    /// Run one scenario.
    #[command(after_help = AFTER_HELP)]
    Run {
        /// Scenario name (see `soak list`).
        scenario: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Run every scenario (the nightly job); exits 1 if any fails, else 3 if any
    /// is inconclusive.
    #[command(after_help = AFTER_HELP)]
    All {
        /// Run only shard K of N: the scenarios at positions i (0-based, `soak list`
        /// order) with i % N == K-1. The N shards together run every scenario once.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Redraw charts and the index from saved samples.csv and summary.json files;
    /// merge the run histories below DIR and draw a trend chart per scenario.
    Report {
        /// A report root (e.g. reports/) or one run directory.
        dir: PathBuf,
        #[command(flatten)]
        args: ReportArgs,
    },
    /// Compare the runs of a report tree with a baseline tree; exit 1 on a regression.
    Compare {
        /// The baseline: a report tree (an earlier --out, or a --save-baseline DIR).
        base: PathBuf,
        /// The report tree to judge.
        current: PathBuf,
        /// Append the comparison as a Markdown table to FILE.
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
        /// Prefix for chart links in the Markdown.
        #[arg(long, value_name = "URL")]
        link_prefix: Option<String>,
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Print the allocation sites of saved runs, fastest growing first (refitted
    /// from sites.csv, samples.csv and summary.json).
    Sites {
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
    /// Virtual hours to replay (fractions allowed), or `auto`: run until every
    /// budgeted resource has a settled answer, looking every virtual hour, at most
    /// --max-hours.
    #[arg(
        long,
        default_value = "24",
        allow_hyphen_values = true,
        value_name = "H|auto"
    )]
    pub hours: String,
    /// With --hours auto: the most virtual hours the run may take [default: 72].
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub max_hours: Option<String>,
    /// The subjects' longest retention (TTL) in virtual hours, overriding the
    /// scenario's declaration: no shorter run is judged, and the warm-up waits it
    /// out when the run is at least twice as long [default: the scenario's].
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub retention: Option<String>,
    /// Traffic seed, a whole number from 0 to 2^64-1; the same seed replays the
    /// same traffic.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = parse_seed
    )]
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
    /// Virtual hours left out of the growth fit at the start [default: 10% of
    /// --hours, or the retention when the run is at least twice as long].
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
    /// Keep stack frames whose source path or symbol starts with PREFIX in dhat's
    /// attribution (repeatable). The code of the workspace the binary was built in
    /// is always kept; use this for code that lives elsewhere.
    #[arg(long, value_name = "PREFIX")]
    pub dhat_keep: Vec<String>,
    /// Mean bytes allocated between sampled allocations, for the growth of each
    /// allocation site (sites.csv, growth_sites); 0 turns sampling off.
    #[arg(long, default_value = "512KiB", value_name = "SIZE")]
    pub sample_bytes: String,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// JUnit, baseline and history options.
    #[command(flatten)]
    pub ci: CiArgs,
}

/// `--variant` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VariantArg {
    /// The cure.
    Fixed,
    /// The bug.
    Leaky,
}

fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{} is not a seed; give a whole number from 0 to {}, e.g. --seed 3",
            echo(text),
            u64::MAX
        )
    })
}

fn number(flag: &str, text: &str, what: &str) -> Result<f64, Error> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) if v.is_infinite() && !text.trim().to_ascii_lowercase().contains("inf") => Err(
            Error::Usage(format!("--{flag} {} is too large; give {what}", echo(text))),
        ),
        _ => Err(Error::Usage(format!(
            "--{flag} {} is not a number; give {what}",
            echo(text)
        ))),
    }
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
                    "--{flag} {} is negative; give a count per virtual hour of 0 or more, e.g. 1",
                    echo(text)
                )));
            }
            Ok(v)
        };
        let auto = self.hours.trim() == "auto";
        let hours = if auto {
            match &self.max_hours {
                Some(m) => number(
                    "max-hours",
                    m,
                    "a positive number of virtual hours, e.g. 72",
                )?,
                None => DEFAULT_MAX_HOURS,
            }
        } else {
            if self.max_hours.is_some() {
                return Err(Error::Usage(
                    "--max-hours only applies with --hours auto; give one or the other".to_string(),
                ));
            }
            number(
                "hours",
                &self.hours,
                "a positive number of virtual hours, e.g. 24, or auto",
            )?
        };
        let retention_hours = match &self.retention {
            Some(r) => Some(number("retention", r, "virtual hours, e.g. 1")?),
            None => None,
        };
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
            retention_hours,
            auto,
            leak_rate: rate("leak-rate", &self.leak_rate)?,
            dhat: self.dhat || self.dhat_from.is_some() || !self.dhat_keep.is_empty(),
            dhat_from: match &self.dhat_from {
                Some(h) => number("dhat-from", h, "a virtual hour, e.g. 2")?,
                None => 0.0,
            },
            dhat_keep: self.dhat_keep.clone(),
            progress: !self.quiet,
            sample_bytes: parse_bytes(&self.sample_bytes)
                .map_err(|e| Error::Usage(format!("--sample-bytes: {e}")))?
                .round() as u64,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Entry point of the `soak` binary over the given scenarios.
///
/// For a binary of your own over your scenarios (with your crate's
/// `#[global_allocator]` declared, see [`crate::Counting`]):
///
/// ```no_run
/// # struct MyScenario;
/// # impl soak_harness::Scenario for MyScenario {
/// #     fn name(&self) -> &'static str { "mine" }
/// #     fn about(&self) -> &'static str { "" }
/// #     fn run<'a>(&'a self, _: &'a soak_harness::Ctx) -> soak_harness::RunFuture<'a> {
/// #         Box::pin(async { Ok(()) })
/// #     }
/// # }
/// #[global_allocator]
/// static ALLOC: soak_harness::Counting = soak_harness::Counting::system();
///
/// fn main() -> std::process::ExitCode {
///     soak_harness::cli::main(vec![Box::new(MyScenario)])
/// }
/// ```
pub fn main(scenarios: Vec<Box<dyn Scenario>>) -> ExitCode {
    interrupt::install();
    ExitCode::from(run_from(std::env::args_os(), &scenarios))
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

/// [`main`], with `extra` subcommands listed in the help.
pub fn main_with(scenarios: Vec<Box<dyn Scenario>>, extra: &[ExtraCommand]) -> ExitCode {
    interrupt::install();
    ExitCode::from(run_with(std::env::args_os(), &scenarios, extra))
}

/// [`main`] over the given arguments (the first is the program name); returns
/// the exit status instead of exiting.
pub fn run_from<I, T>(args: I, scenarios: &[Box<dyn Scenario>]) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    run_with(args, scenarios, &[])
}

fn run_with<I, T>(args: I, scenarios: &[Box<dyn Scenario>], extra: &[ExtraCommand]) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for x in extra {
        cmd = cmd.subcommand(clap::Command::new(x.name).about(x.about));
    }
    let parsed = cmd
        .try_get_matches_from(args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => return clap_code(e),
    };
    match dispatch(cli.command, scenarios) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    }
}

/// Entry point of a single scenario's binary: the options of `soak run`.
pub fn main_single(scenario: Box<dyn Scenario>) -> ExitCode {
    interrupt::install();
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
    ExitCode::from(match run_many(&[scenario.as_ref()], &single.args) {
        Ok(code) => code,
        Err(e) => report_error(&e),
    })
}

fn clap_exit(e: clap::Error) -> ExitCode {
    ExitCode::from(clap_code(e))
}

fn clap_code(e: clap::Error) -> u8 {
    // Help and version are successes, printed as clap lays them out; every parse
    // error is a usage error, on one line like soak's own.
    if e.use_stderr() {
        errln(&clap_one_line(&e));
        EXIT_ERROR
    } else {
        let _ = e.print();
        EXIT_PASS
    }
}

/// clap's error block as one line: what is wrong, then clap's tip and usage line,
/// joined with `; `. Continuation lines (a list of missing arguments, the possible
/// values) join the line they continue.
fn clap_one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut out = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with("For more information") {
            continue;
        }
        let l = l.strip_prefix("error: ").unwrap_or(l);
        // "to pass '-x' as a value, use '-- -x'" never helps here: every option
        // that takes a number already accepts a leading '-', and no scenario
        // name starts with one.
        if l.starts_with("tip: to pass") {
            continue;
        }
        if out.is_empty() {
            out.push_str(l);
        } else if out.ends_with(':')
            || (line.starts_with(char::is_whitespace) && !l.starts_with("tip:"))
        {
            out.push(' ');
            out.push_str(l);
        } else if let Some(usage) = l.strip_prefix("Usage: ") {
            out.push_str("; usage: ");
            out.push_str(usage);
        } else {
            out.push_str("; ");
            out.push_str(l);
        }
    }
    format!("{out}; see --help")
}

/// One line on stderr; a closed or full stderr is ignored (there is nowhere
/// left to say anything), never a panic.
fn errln(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "error: {msg}");
}

fn report_error(e: &Error) -> u8 {
    errln(&e.to_string());
    e.exit_code()
}

fn dispatch(cmd: Command, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
    match cmd {
        Command::List { shard } => {
            let shard = parse_shard(shard.as_deref())?;
            let width = scenarios.iter().map(|s| s.name().len()).max().unwrap_or(0);
            for s in shard.select(scenarios) {
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
            run_many(&[found.as_ref()], &args)
        }
        Command::All { shard, args } => {
            let shard = parse_shard(shard.as_deref())?;
            let list: Vec<&dyn Scenario> = shard.select(scenarios).map(|s| s.as_ref()).collect();
            if list.is_empty() {
                args.to_config()?;
                outln!(
                    "shard {shard}: no scenario falls to this shard ({} scenarios)",
                    scenarios.len()
                );
                return Ok(EXIT_PASS);
            }
            run_many(&list, &args)
        }
        Command::Report { dir, args } => {
            let done = report::redraw(&dir)?;
            for r in &done.redrawn {
                outln!("redrew {}", r.display());
            }
            for (p, why) in &done.skipped {
                outln!("skipped {}: {why}", p.display());
            }
            for (_, e) in &done.rejected {
                errln(&e.to_string());
            }
            if let Some(index) = &done.index {
                outln!("index: {}", index.display());
            }
            let rejected: Vec<PathBuf> = done.rejected.iter().map(|(p, _)| p.clone()).collect();
            // Histories, trends, comparisons: over the runs that passed.
            let code = if done.redrawn.is_empty() {
                EXIT_ERROR
            } else {
                ci::report(&dir, &args, &rejected)?
            };
            if done.rejected.is_empty() {
                Ok(code)
            } else {
                errln(&format!(
                    "{} of {} runs rejected and left as they were; the other {} were redrawn",
                    done.rejected.len(),
                    done.rejected.len() + done.redrawn.len(),
                    done.redrawn.len()
                ));
                Ok(code.max(EXIT_ERROR))
            }
        }
        Command::Compare {
            base,
            current,
            markdown,
            link_prefix,
            rule,
        } => ci::compare(
            &base,
            &current,
            &rule,
            markdown.as_deref(),
            link_prefix.as_deref(),
        ),
        Command::Sites { dir } => {
            print_sites(&dir)?;
            Ok(EXIT_PASS)
        }
    }
}

/// `soak sites DIR`: every run at or below `dir`, its sites refitted from the
/// saved files. Reads everything before printing anything.
fn print_sites(dir: &std::path::Path) -> Result<(), Error> {
    let runs = report::find_runs(dir);
    if runs.is_empty() {
        return Err(Error::Malformed {
            path: dir.to_path_buf(),
            why: format!("no {} found at or below it", report::SUMMARY_FILE),
        });
    }
    let mut text = String::new();
    for run in &runs {
        let (samples, summary) = report::load_run(run)?;
        let Some(series) = report::load_sites(run)? else {
            return Err(Error::Malformed {
                path: run.join(report::SITES_FILE),
                why: "missing: the run was made with --sample-bytes 0 or by an older soak".into(),
            });
        };
        let frames = summary
            .growth_sites
            .iter()
            .map(|g| (g.id.clone(), g.frames.clone()))
            .collect();
        let sampling = summary.site_sampling.as_ref();
        let settings = crate::attribution::FitSettings {
            warmup_hours: summary.warmup_hours,
            budget_per_hour: summary.threshold_bytes_per_hour,
            heap_growth: summary
                .resource("heap")
                .filter(|h| h.grew())
                .map(|h| h.per_hour()),
            sample_bytes: sampling.map(|s| s.sample_bytes).unwrap_or(0),
            keep: &[],
        };
        let mut sites = crate::attribution::fit(&series, &samples, &frames, &settings);
        crate::attribution::restore(&mut sites, &summary.growth_sites);
        let how = sampling
            .map(|s| {
                format!(
                    "sampled every {} on average, {} frames, {} samples",
                    bytes_text(s.sample_bytes as f64),
                    s.frame_depth,
                    s.samples
                )
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "{} ({}, seed {}): heap {}/h; {how}\n{}\n",
            summary.scenario,
            summary.variant,
            summary.seed,
            bytes_text(summary.growth_bytes_per_hour),
            crate::attribution::table_text(&sites)
        ));
    }
    outln!("{}", text.trim_end());
    Ok(())
}

fn parse_shard(text: Option<&str>) -> Result<Shard, Error> {
    text.map_or(Ok(Shard::all()), str::parse)
}

/// Runs `list` one after another under the same options, with the CI session
/// (baseline comparison, JUnit, history, baseline saving) around them. Every
/// option and report directory is checked before the first replay.
fn run_many(list: &[&dyn Scenario], args: &RunArgs) -> Result<u8, Error> {
    let cfg = args.to_config()?;
    run::preflight(&cfg)?;
    let planned: Vec<(String, String)> = list
        .iter()
        .map(|s| (s.name().to_string(), cfg.variant.to_string()))
        .collect();
    let mut session = ci::Session::start(&args.ci, &args.out, &planned)?;
    for s in list {
        report::prepare_dir(&args.out, s.name(), cfg.variant)?;
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
        match run_one(*s, &cfg, &args.out) {
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
    print_outcome(&outcome);
    let dir = outcome.write_report(out)?;
    outln!("  report: {}", dir.display());
    let code = exit_code(outcome.verdict());
    Ok((code, outcome))
}

fn print_outcome(o: &Outcome) {
    let s = &o.summary;
    // A partial run replayed less than it was set to: say how much it did.
    let hours = if s.complete {
        s.virtual_hours
    } else {
        o.samples.hours().last().copied().unwrap_or(0.0)
    };
    outln!(
        "{} ({}, seed {}): {} virtual h in {:.2} s wall, peak heap {}; {}",
        s.scenario,
        s.variant,
        s.seed,
        crate::units::number_text((hours * 100.0).round() / 100.0),
        s.wall_seconds,
        bytes_text(s.peak_live_bytes as f64),
        s.message
    );
    if let Some(a) = &s.auto {
        outln!(
            "  --hours auto: {} after {} of at most {} virtual h (z = {:.2} over {} looks)",
            if a.settled { "settled" } else { "not settled" },
            s.virtual_hours,
            a.max_hours,
            a.significance_z,
            a.looks
        );
    }
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
    // Once per process: every run of a binary without line tables would repeat it.
    if let Some(hint) = s.site_sampling.as_ref().and_then(|x| x.hint.as_deref()) {
        static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
            outln!("  note: {hint}");
        }
    }
}
