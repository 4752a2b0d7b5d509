//! `--jobs`, `--seeds` and `--variant both`: the runs one `soak run` / `soak all`
//! asks for ([`plan`]), in the order a serial run takes them — seed, then
//! variant, then scenario — and how they run in parallel ([`run_parallel`]): each
//! in a child process ([`crate::parallel`]), longest first, at most `--jobs` at a
//! time, with their output printed and their results recorded in the serial
//! order. So the console (timings aside), report tree, index, JUnit, history,
//! Markdown and exit status are those of the serial run.

use std::path::Path;

use clap::Args;

use crate::config::RunConfig;
use crate::history::{self, Entry};
use crate::parallel::{Event, Finished, Job, Pool};
use crate::progress::Board;
use crate::scenario::Scenario;
use crate::units::echo;
use crate::{interrupt, Error};

use super::ci::Session;
use super::{
    combined_exit, errln, parse_seed, RunArgs, EXIT_ERROR, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS,
};
use crate::summary::exit_status;

/// How many runs, and which seeds.
#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Runs at a time, each in a child process of its own (a run measures its
    /// process's heap), longest first; 1 runs them one after another in this
    /// process [default: the number of cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Run everything once per seed, e.g. 1,2,3 (instead of --seed); each seed's
    /// reports go under OUT/seed-N/.
    #[arg(long, value_name = "LIST", value_parser = parse_seeds, conflicts_with = "seed")]
    pub seeds: Option<Seeds>,
}

/// The seeds of `--seeds`, each once, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "{} is not a number of runs at a time; give a whole number of 1 or more, e.g. --jobs 2",
            echo(text)
        )),
    }
}

fn parse_seeds(text: &str) -> Result<Seeds, String> {
    let mut seeds = Vec::new();
    for item in text.split(',') {
        let seed = parse_seed(item).map_err(|_| {
            format!(
                "{} is not a list of seeds; give whole numbers from 0 to {} separated by \
                 commas, e.g. --seeds 1,2,3",
                echo(text),
                u64::MAX
            )
        })?;
        if seeds.contains(&seed) {
            return Err(format!(
                "{} names seed {seed} twice; give each seed once, e.g. --seeds 1,2,3",
                echo(text)
            ));
        }
        seeds.push(seed);
    }
    Ok(Seeds(seeds))
}

/// One run of the plan: the scenario, and the job a child would run.
pub(super) struct Planned<'a> {
    pub scenario: &'a dyn Scenario,
    pub job: Job,
}

/// Every run `args` asks for over `list`, in serial order: for each seed (the
/// `--seeds` list, or `--seed`), each variant (`--variant`, fixed then leaky for
/// `both`), each scenario. With `--seeds`, seed N reports under `OUT/seed-N/`.
pub(super) fn plan<'a>(
    list: &[&'a dyn Scenario],
    args: &RunArgs,
    cfg: &RunConfig,
) -> Vec<Planned<'a>> {
    let (seeds, per_seed) = match &args.plan.seeds {
        Some(Seeds(s)) => (s.clone(), true),
        None => (vec![cfg.seed], false),
    };
    let mut runs = Vec::new();
    for &seed in &seeds {
        let out = if per_seed {
            args.out().join(format!("seed-{seed}"))
        } else {
            args.out().to_path_buf()
        };
        for variant in args.shared.variants() {
            for &s in list {
                let mut cfg = cfg.clone();
                cfg.seed = seed;
                cfg.variant = variant;
                runs.push(Planned {
                    scenario: s,
                    job: Job::new(s.name(), cfg, out.clone()),
                });
            }
        }
    }
    runs
}

/// How many runs go at once: `--jobs`, else the machine's cores, never more than
/// there are runs.
pub(super) fn width(args: &PlanArgs, runs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    args.jobs.unwrap_or(cores).min(runs).max(1)
}

/// The plan's indices in the order they start: longest expected wall time first
/// (ties keep the serial order). A run's length is that of the last run of the
/// same scenario and variant in `history` (scaled to this run's virtual hours),
/// else of the same scenario in the other variant, else the scenario's
/// [`Scenario::wall_guess`]; a scenario with none goes first (it might be the
/// longest).
pub(super) fn longest_first(plan: &[Planned<'_>], history: &[Entry]) -> Vec<usize> {
    let expected = |p: &Planned<'_>| -> f64 {
        let hours = p.job.cfg.hours;
        let measured = |same_variant: bool| {
            history.iter().rev().find_map(|e| {
                let fits = e.scenario == p.job.scenario
                    && (!same_variant || e.variant == p.job.cfg.variant.as_str())
                    && e.hours > 0.0;
                e.wall_seconds
                    .filter(|w| fits && w.is_finite() && *w >= 0.0)
                    .map(|w| w * hours / e.hours)
            })
        };
        measured(true)
            .or_else(|| measured(false))
            .or_else(|| {
                p.scenario
                    .wall_guess()
                    .map(|d| d.as_secs_f64() * hours / 24.0)
            })
            .unwrap_or(f64::INFINITY)
    };
    let lengths: Vec<f64> = plan.iter().map(expected).collect();
    let mut order: Vec<usize> = (0..plan.len()).collect();
    order.sort_by(|&a, &b| lengths[b].total_cmp(&lengths[a]));
    order
}

/// The runs' exit statuses, counted for the closing line.
#[derive(Debug, Default)]
pub(super) struct Tally {
    codes: Vec<u8>,
    verdicts: Vec<u8>,
    errors: usize,
}

impl Tally {
    /// A run with a verdict, and what the CI session added (a regression).
    pub fn run(&mut self, verdict: u8, ci: u8) {
        self.verdicts.push(verdict);
        self.codes.extend([verdict, ci]);
    }

    /// A run that ended without a verdict (an error, a crash).
    pub fn error(&mut self) {
        self.errors += 1;
        self.codes.push(EXIT_ERROR);
    }

    /// Closes the session (JUnit, history, baseline), prints the count when
    /// there was more than one run, and returns the exit status: an error, then
    /// a failure (or regression), then an inconclusive run, then pass.
    pub fn close(self, session: Session, total: usize) -> Result<u8, Error> {
        let index = session.index_path();
        session.finish()?;
        if total > 1 {
            let runs = |c| self.verdicts.iter().filter(|&&x| x == c).count();
            outln!(
                "{total} runs: {} pass, {} fail, {} inconclusive{}",
                runs(EXIT_PASS),
                runs(EXIT_FAIL),
                runs(EXIT_INCONCLUSIVE),
                if self.errors > 0 {
                    format!(", {} without a verdict", self.errors)
                } else {
                    String::new()
                }
            );
            if index.is_file() {
                outln!("index: {}", index.display());
            }
        }
        if self.errors > 0 {
            errln(&format!(
                "{} of {total} runs ended without a verdict (said above); the other runs' \
                 reports are written",
                self.errors
            ));
        }
        Ok(combined_exit(&self.codes))
    }
}

/// A signal stopped the command with `not_run` of `total` runs never started:
/// says so, closes the session on what ran, and returns 128 + the signal.
pub(super) fn stopped(session: Session, signal: i32, not_run: usize, total: usize) -> u8 {
    outln!(
        "stopped by {}: {not_run} of {total} runs not run",
        interrupt::name(signal)
    );
    // The stop is what the user needs to hear; a JUnit write failure on the way
    // out would only hide it.
    let _ = session.finish();
    interrupt::exit_status(signal)
}

/// Runs `plan` in child processes, `width` at a time, longest first (lengths
/// from `out`'s history); prints each run's output and records it in `session`
/// in the plan's order. With `show`, a progress line per running job on a
/// terminal.
pub(super) fn run_parallel(
    plan: &[Planned<'_>],
    width: usize,
    show: bool,
    out: &Path,
    session: Session,
) -> Result<u8, Error> {
    // Only the order depends on the history: a malformed one orders by guesses.
    let past = history::read(&out.join(history::HISTORY_FILE)).unwrap_or_default();
    let order = longest_first(plan, &past);
    let board = Board::new(show, plan.len());
    let jobs: Vec<Job> = order
        .iter()
        .map(|&i| {
            let mut job = plan[i].job.clone();
            job.cfg.progress = board.shown();
            job
        })
        .collect();
    let pool = Pool::new(width)?;
    let mut printer = Printer {
        plan,
        board,
        held: (0..plan.len()).map(|_| None).collect(),
        next: 0,
        session,
        tally: Tally::default(),
    };
    let done = pool.run(&jobs, |e| match e {
        Event::Started(k) => {
            let job = &plan[order[k]].job;
            let label = format!("{} {} seed {}", job.scenario, job.cfg.variant, job.cfg.seed);
            printer.board.start(order[k], &label, job.cfg.hours);
        }
        Event::Progress(k, hours) => printer.board.update(order[k], hours),
        Event::Finished(k, f) => {
            printer.board.finish(order[k]);
            printer.held[order[k]] = Some(f.clone());
            printer.flush(false);
        }
    });
    // Whatever a signal kept from starting is skipped; the rest prints in order.
    printer.flush(true);
    printer.board.clear();
    let Printer { session, tally, .. } = printer;
    if let Some(signal) = interrupt::requested() {
        let not_run = done.iter().filter(|d| d.is_none()).count();
        if not_run > 0 || done.iter().flatten().any(|f| f.stopped_by(signal)) {
            return Ok(stopped(session, signal, not_run, plan.len()));
        }
    }
    tally.close(session, plan.len())
}

/// Prints finished runs in the plan's order and records them.
struct Printer<'p, 'a> {
    plan: &'p [Planned<'a>],
    board: Board,
    held: Vec<Option<Finished>>,
    next: usize,
    session: Session,
    tally: Tally,
}

impl Printer<'_, '_> {
    /// Prints every held run whose predecessors have printed; with `to_end`,
    /// skips runs that never ran.
    fn flush(&mut self, to_end: bool) {
        while self.next < self.plan.len() {
            match self.held[self.next].take() {
                Some(f) => self.print(self.next, &f),
                None if to_end => {}
                None => return,
            }
            self.next += 1;
        }
    }

    fn print(&mut self, i: usize, f: &Finished) {
        let plan = self.plan;
        let job = &plan[i].job;
        let Printer {
            board,
            session,
            tally,
            ..
        } = self;
        board.suspend(|| {
            use std::io::Write as _;
            let _ = std::io::stdout().write_all(f.stdout.as_bytes());
            let _ = std::io::stderr().write_all(f.stderr.as_bytes());
            match f.outcome(job) {
                Ok(outcome) => {
                    let verdict = exit_status(&outcome.summary);
                    tally.run(verdict, session.record(&outcome));
                }
                // A run the user stopped (partial, or not begun): shown, never
                // recorded.
                Err(_) if interrupt::requested().is_some_and(|s| f.stopped_by(s)) => {}
                Err(e) => {
                    // The child's own error line is already out; a crash is not.
                    if !f.stderr.contains("error: ") {
                        errln(&e.to_string());
                    }
                    session.record_error(&job.scenario, job.cfg.variant.as_str(), job.cfg.seed, &e);
                    tally.error();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Ctx, RunFuture};
    use std::time::Duration;

    struct Named(&'static str, Option<f64>);

    impl Scenario for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn about(&self) -> &'static str {
            ""
        }
        fn run<'a>(&'a self, _: &'a Ctx) -> RunFuture<'a> {
            Box::pin(async { Ok(()) })
        }
        fn wall_guess(&self) -> Option<Duration> {
            self.1.map(Duration::from_secs_f64)
        }
    }

    fn parse(extra: &[&str]) -> RunArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            args: RunArgs,
        }
        let argv = ["t"].iter().chain(extra);
        T::try_parse_from(argv).expect("parses").args
    }

    fn names(plan: &[Planned<'_>]) -> Vec<String> {
        plan.iter()
            .map(|p| {
                format!(
                    "{}/{} {} {}",
                    p.job.out.display(),
                    p.job.scenario,
                    p.job.cfg.variant,
                    p.job.cfg.seed
                )
            })
            .collect()
    }

    #[test]
    fn the_plan_goes_seed_then_variant_then_scenario() {
        let (a, b) = (Named("a", None), Named("b", None));
        let list: Vec<&dyn Scenario> = vec![&a, &b];
        let args = parse(&["--variant", "both", "--seeds", "3,1", "--out", "r"]);
        let cfg = args.to_config().expect("valid");
        assert_eq!(
            names(&plan(&list, &args, &cfg)),
            [
                "r/seed-3/a fixed 3",
                "r/seed-3/b fixed 3",
                "r/seed-3/a leaky 3",
                "r/seed-3/b leaky 3",
                "r/seed-1/a fixed 1",
                "r/seed-1/b fixed 1",
                "r/seed-1/a leaky 1",
                "r/seed-1/b leaky 1",
            ]
        );
        // --seed keeps the plain layout.
        let args = parse(&["--seed", "5", "--out", "r"]);
        let cfg = args.to_config().expect("valid");
        assert_eq!(
            names(&plan(&list, &args, &cfg)),
            ["r/a fixed 5", "r/b fixed 5"]
        );
    }

    #[test]
    fn longest_first_uses_the_history_then_the_guess_and_starts_unknowns_first() {
        let (a, b, c, d) = (
            Named("a", Some(1.0)),
            Named("b", Some(16.0)),
            Named("c", Some(4.0)),
            Named("d", None),
        );
        let list: Vec<&dyn Scenario> = vec![&a, &b, &c, &d];
        let args = parse(&["--hours", "12", "--variant", "both"]);
        let cfg = args.to_config().expect("valid");
        let runs = plan(&list, &args, &cfg);
        // Guesses only: d (unknown) first, then b, c, a; each variant in order.
        let order = longest_first(&runs, &[]);
        assert_eq!(order, [3, 7, 1, 5, 2, 6, 0, 4]);
        // A measured run of a at 24 h, 40 s: a is now the longest at 12 h (20 s),
        // both variants (the leaky one from the fixed measurement).
        let entry = |variant: &str, hours: f64, wall: f64| Entry {
            time: String::new(),
            unix: 0,
            nanos: None,
            commit: None,
            scenario: "a".into(),
            variant: variant.into(),
            seed: 1,
            hours,
            verdict: "pass".into(),
            regressions: vec![],
            resources: Default::default(),
            run: String::new(),
            wall_seconds: Some(wall),
        };
        let order = longest_first(&runs, &[entry("fixed", 24.0, 40.0)]);
        assert_eq!(order, [3, 7, 0, 4, 1, 5, 2, 6]);
        // The same variant's measurement wins; the latest line counts.
        let hist = [
            entry("fixed", 24.0, 40.0),
            entry("leaky", 24.0, 60.0),
            entry("leaky", 6.0, 0.5),
        ];
        let order = longest_first(&runs, &hist);
        assert_eq!(order, [3, 7, 0, 1, 5, 2, 6, 4]);
    }

    #[test]
    fn jobs_and_seeds_reject_what_they_cannot_use() {
        assert_eq!(parse_jobs("2"), Ok(2));
        assert!(parse_jobs("0").unwrap_err().contains("1 or more"));
        assert!(parse_jobs("-1").is_err());
        assert_eq!(parse_seeds("1,2,3"), Ok(Seeds(vec![1, 2, 3])));
        assert_eq!(parse_seeds(" 7 "), Ok(Seeds(vec![7])));
        assert!(parse_seeds("1,1").unwrap_err().contains("seed 1 twice"));
        assert!(parse_seeds("1,,2").unwrap_err().contains("--seeds 1,2,3"));
        assert!(parse_seeds("a").is_err());
        let plan = PlanArgs {
            jobs: Some(8),
            seeds: None,
        };
        assert_eq!(width(&plan, 3), 3);
        assert_eq!(width(&plan, 0), 1);
    }
}
