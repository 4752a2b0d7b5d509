//! The command line shared by the `soak` umbrella binary, every scenario binary,
//! and a user's own binary: `soak_harness::cli::main(vec![Box::new(MyScenario)])`
//! gives it `list`, `run`, `all` and `report` with every option below, and
//! [`main_single`] a binary for one scenario.
//!
//! Two stages, as ripgrep does it: clap parses raw strings ([`RunArgs`]), then
//! [`RunArgs::to_config`] turns them into a validated [`crate::RunConfig`] with
//! byte rates and durations parsed, so every bad value is reported in one line
//! with exit status 2 before anything runs or is written.
//!
//! One command per file: `list`, `run`, `all`, `report`, `compare`, `sites`
//! (each a `…Command` with its options and `run`); the options of a run in
//! [`args`] (those `soak live` shares in [`SharedArgs`]); the CI options in
//! `ci`. A new command is a file, a variant of `Command` and a line in
//! `dispatch`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::interrupt;
use crate::parallel;
use crate::scenario::Scenario;
use crate::shard::Shard;
use crate::Error;

/// `println!` that ignores a closed stdout (`soak list | head -1` must not panic).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod all;
pub mod args;
pub mod bisect;
mod ci;
mod compare;
mod jobs;
mod list;
mod report;
mod run;
mod shrink;
mod sites;

pub use args::{parse_seed, RunArgs, SharedArgs, VariantChoice};
pub use ci::{CiArgs, ReportArgs, RuleArgs};
pub use jobs::{PlanArgs, Seeds};
pub use shrink::ShrinkArgs;

pub use crate::status::{EXIT_ERROR, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};

/// Default of `--max-hours` (the limit of `--hours auto`).
pub const DEFAULT_MAX_HOURS: f64 = 72.0;

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
  soak all --variant both --seeds 1,2,3 -j 4    both variants, three seeds, four runs at a time
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
    List(list::ListCommand),
    /// Run one scenario.
    #[command(after_help = AFTER_HELP)]
    Run(run::RunCommand),
    /// Run every scenario (the nightly job); exits 1 if any fails, else 3 if any
    /// is inconclusive.
    #[command(after_help = AFTER_HELP)]
    All(all::AllCommand),
    /// Redraw charts and the index from saved samples.csv and summary.json files;
    /// merge the run histories below DIR and draw a trend chart per scenario.
    Report(report::ReportCommand),
    /// Compare the runs of a report tree with a baseline tree; exit 1 on a regression.
    Compare(compare::CompareCommand),
    /// Find the smallest, fastest replay that still fails: the traffic kinds the
    /// leak needs, the shortest hours and lowest load; bytes leaked per event.
    // Run options a search refuses (one seed's run, one run after another, no CI
    // session) are left out of its help.
    #[command(
        after_help = shrink::AFTER_HELP,
        mut_arg("junit", |a| a.hide(true)),
        mut_arg("baseline", |a| a.hide(true)),
        mut_arg("save_baseline", |a| a.hide(true)),
        mut_arg("regression_floor", |a| a.hide(true)),
        mut_arg("regression_count_floor", |a| a.hide(true)),
        mut_arg("regression_z", |a| a.hide(true)),
        mut_arg("jobs", |a| a.hide(true)),
        mut_arg("seeds", |a| a.hide(true)),
        mut_arg("bisect", |a| a.hide(true)),
        mut_arg("variant", |a| a
            .help(shrink::VARIANT_HELP)
            .long_help(shrink::VARIANT_HELP)
            .hide_possible_values(true))
    )]
    Shrink(shrink::ShrinkCommand),
    /// Print the allocation sites of saved runs, fastest growing first (refitted
    /// from sites.csv, samples.csv and summary.json).
    Sites(sites::SitesCommand),
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
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    if let Some(job) = parallel::child_job(args.iter().cloned()) {
        return run::run_child(job, scenarios);
    }
    let mut cmd = <Cli as clap::CommandFactory>::command();
    for x in extra {
        cmd = cmd.subcommand(clap::Command::new(x.name).about(x.about));
    }
    let parsed = cmd
        .try_get_matches_from(&args)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let code = match parsed {
        Ok(cli) => match dispatch(cli.command, scenarios) {
            Ok(code) => code,
            Err(e) => report_error(&e),
        },
        Err(e) => clap_code(e),
    };
    bisect::status_if_requested(&args, code)
}

/// Entry point of a single scenario's binary: the options of `soak run`.
pub fn main_single(scenario: Box<dyn Scenario>) -> ExitCode {
    interrupt::install();
    if let Some(job) = parallel::child_job(std::env::args_os()) {
        return ExitCode::from(run::run_child(job, std::slice::from_ref(&scenario)));
    }
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
    let code = match parsed {
        Ok(single) => match run::run_many(&[scenario.as_ref()], &single.args) {
            Ok(code) => code,
            Err(e) => report_error(&e),
        },
        Err(e) => clap_code(e),
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    ExitCode::from(bisect::status_if_requested(&args, code))
}

/// The exit status of a command line clap refused (or answered: `--help`,
/// `--version`), after printing it: a refusal is one line on stderr (see
/// [`errln`]), status 2; help and version are printed as clap lays them out,
/// status 0. `soak live` uses it too.
pub fn clap_code(e: clap::Error) -> u8 {
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

/// One line on stderr, `error: MSG`; a closed or full stderr is ignored (there
/// is nowhere left to say anything), never a panic.
pub fn errln(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "error: {msg}");
}

fn report_error(e: &Error) -> u8 {
    errln(&e.to_string());
    e.exit_code()
}

fn dispatch(cmd: Command, scenarios: &[Box<dyn Scenario>]) -> Result<u8, Error> {
    match cmd {
        Command::List(c) => c.run(scenarios),
        Command::Run(c) => c.run(scenarios),
        Command::All(c) => c.run(scenarios),
        Command::Report(c) => c.run(),
        Command::Compare(c) => c.run(),
        Command::Shrink(c) => c.run(scenarios),
        Command::Sites(c) => c.run(),
    }
}

fn parse_shard(text: Option<&str>) -> Result<Shard, Error> {
    text.map_or(Ok(Shard::all()), str::parse)
}
