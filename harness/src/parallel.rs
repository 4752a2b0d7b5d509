//! Runs as child processes, several at a time. A run measures the heap of its
//! process (the counting allocator is process-wide), so two runs at once need two
//! processes: each [`Job`] — a scenario, its [`RunConfig`], a report root — is
//! replayed by a child of the same binary, which writes its report as a serial run
//! would, and the parent reads it back ([`Finished::outcome`]).
//!
//! ```no_run
//! # use soak_harness::parallel::{Event, Job, Pool};
//! # use soak_harness::RunConfig;
//! let jobs = vec![
//!     Job::new("calibration", RunConfig::new().seed(1), "reports/a".into()),
//!     Job::new("calibration", RunConfig::new().seed(2), "reports/b".into()),
//! ];
//! let pool = Pool::new(2)?;
//! let done = pool.run(&jobs, |e| {
//!     if let Event::Finished(i, f) = e {
//!         println!("{}: {:?}", jobs[i].label(), f.ended);
//!     }
//! });
//! for (job, f) in jobs.iter().zip(&done) {
//!     let outcome = f.as_ref().map(|f| f.outcome(job));
//! }
//! # Ok::<(), soak_harness::Error>(())
//! ```
//!
//! The child is the program ([`std::env::current_exe`] unless given) started with
//! the one argument [`CHILD_ARG`] and the job as JSON on stdin; `soak_harness::cli`
//! answers it ([`child_job`]). Its stdout and stderr are captured; progress lines
//! on stderr (see `progress`) become [`Event::Progress`].
//!
//! Stopping: each child has a process group of its own, so a terminal's Ctrl-C
//! reaches only the parent, which forwards the signal once to every running child
//! (each stops at its next sample and writes a partial report) and starts no
//! more. If the parent dies, each child gets SIGTERM (`PR_SET_PDEATHSIG`) and
//! stops the same way. A child that crashes or is killed loses its own run only.

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::run::Outcome;
use crate::{interrupt, progress, report, Error};

/// The argument that makes a soak binary run one [`Job`] read from stdin.
pub const CHILD_ARG: &str = "--soak-child-job";

/// How often the parent looks at its children when nothing is said.
const POLL: Duration = Duration::from_millis(50);

/// How long the parent waits for a dead child's pipes to close (a grandchild
/// could hold them) before it takes what it has.
const DRAIN: Duration = Duration::from_secs(2);

/// One run for a child process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The scenario's name (as `soak list` prints it).
    pub scenario: String,
    /// Its settings.
    pub cfg: RunConfig,
    /// The report root the child writes `SCENARIO/VARIANT/` under.
    pub out: PathBuf,
}

impl Job {
    /// A job of `scenario` under `cfg`, reporting under `out`.
    pub fn new(scenario: &str, cfg: RunConfig, out: PathBuf) -> Self {
        Job {
            scenario: scenario.to_string(),
            cfg,
            out,
        }
    }

    /// The run directory the child writes: `OUT/SCENARIO/VARIANT`.
    pub fn dir(&self) -> PathBuf {
        self.out
            .join(&self.scenario)
            .join(self.cfg.variant.as_str())
    }

    /// `SCENARIO (VARIANT, seed N)`, as the verdict line names a run.
    pub fn label(&self) -> String {
        format!(
            "{} ({}, seed {})",
            self.scenario, self.cfg.variant, self.cfg.seed
        )
    }
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status (0, 1, 3: a verdict; 2: an error; 130, 143: a
    /// partial run stopped by SIGINT, SIGTERM).
    Exited(u8),
    /// A signal killed it (it wrote no report: its run directory is as before).
    Killed(i32),
    /// It could not be started.
    NotStarted(String),
}

/// What a child left.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it ended.
    pub ended: Ended,
    /// Everything it printed on stdout (the verdict line, `report: DIR`).
    pub stdout: String,
    /// What it printed on stderr, progress lines left out (error lines).
    pub stderr: String,
    /// Wall time from start to end.
    pub wall: Duration,
}

impl Finished {
    /// The run's report, read back from [`Job::dir`] and validated (the report
    /// files, and that they are this job's complete run). Fails unless the child
    /// ended with a verdict (0, 1 or 3).
    pub fn outcome(&self, job: &Job) -> Result<Outcome, Error> {
        if !matches!(self.ended, Ended::Exited(0 | 1 | 3)) {
            return Err(self.failure(job));
        }
        let dir = job.dir();
        let (samples, summary) = report::load_run(&dir)?;
        let same = summary.scenario == job.scenario
            && summary.variant == job.cfg.variant
            && summary.seed == job.cfg.seed
            && summary.complete;
        if !same {
            return Err(Error::Child {
                run: job.label(),
                why: format!(
                    "{} holds another run ({} {} seed {}{}); was the directory written by \
                     something else meanwhile?",
                    dir.join(report::SUMMARY_FILE).display(),
                    summary.scenario,
                    summary.variant,
                    summary.seed,
                    if summary.complete { "" } else { ", partial" }
                ),
            });
        }
        Ok(Outcome {
            summary,
            samples,
            dhat: None,
            dir: Some(dir),
            sites: None,
        })
    }

    /// Whether the child stopped short because of this signal: a partial run, or
    /// (when the signal came before its handler was installed) no run at all.
    pub fn stopped_by(&self, signal: i32) -> bool {
        self.ended == Ended::Exited(interrupt::exit_status(signal))
            || self.ended == Ended::Killed(signal)
    }

    /// Why the run has no verdict, as an error naming it: the child's own error
    /// line when it printed one, else how it ended.
    pub fn failure(&self, job: &Job) -> Error {
        let said = self
            .stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .map(str::to_string);
        let why = match (&self.ended, said) {
            (Ended::Exited(_), Some(line)) => line,
            (Ended::Exited(code @ (130 | 143)), None) => format!(
                "stopped by {} before its end: its partial report is not counted",
                interrupt::name(i32::from(*code) - 128)
            ),
            (Ended::Exited(code), None) => format!("its process exited with status {code}"),
            (Ended::Killed(sig), _) => format!(
                "its process was killed by signal {sig}{}; its run directory is as it was \
                 before the run",
                interrupt::signal_name(*sig)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
            (Ended::NotStarted(why), _) => format!("could not start its process: {why}"),
        };
        Error::Child {
            run: job.label(),
            why,
        }
    }
}

/// What [`Pool::run`] reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// Job `i` started.
    Started(usize),
    /// Job `i` has replayed this many virtual hours (only when its config asks
    /// for progress).
    Progress(usize, f64),
    /// Job `i` ended.
    Finished(usize, &'a Finished),
}

/// Runs jobs in child processes, at most `width` at a time.
#[derive(Debug, Clone)]
pub struct Pool {
    program: PathBuf,
    width: usize,
}

enum Said {
    Out(usize, Vec<u8>),
    Err(usize, Vec<u8>),
    Progress(usize, f64),
    Closed(usize),
}

struct Running {
    job: usize,
    child: Child,
    started: Instant,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    open: u8,
    ended: Option<(Ended, Instant)>,
}

impl Pool {
    /// A pool whose children are this program ([`std::env::current_exe`]).
    pub fn new(width: usize) -> Result<Self, Error> {
        let program = std::env::current_exe().map_err(|e| {
            Error::Usage(format!(
                "cannot find this program to start parallel runs ({e}); run with --jobs 1"
            ))
        })?;
        Ok(Pool::with_program(program, width))
    }

    /// A pool whose children are `program` (a soak binary answering [`CHILD_ARG`]
    /// over the same scenarios).
    pub fn with_program(program: PathBuf, width: usize) -> Self {
        Pool {
            program,
            width: width.max(1),
        }
    }

    /// Runs `jobs`, starting them in slice order as slots free up, and calls
    /// `on_event` as they start, progress and end. Returns what each left, `None`
    /// for a job never started because SIGINT or SIGTERM asked this process to
    /// stop (the signal is forwarded to the running children, whose partial runs
    /// end as `Exited(130 | 143)`). Returns once every started child has ended.
    pub fn run<F>(&self, jobs: &[Job], mut on_event: F) -> Vec<Option<Finished>>
    where
        F: FnMut(Event<'_>),
    {
        let mut results: Vec<Option<Finished>> = (0..jobs.len()).map(|_| None).collect();
        let (tx, rx) = mpsc::channel();
        let mut running: Vec<Running> = Vec::new();
        let mut next = 0;
        let mut forwarded = false;
        loop {
            if let Some(signal) = interrupt::requested() {
                if !forwarded {
                    forwarded = true;
                    for r in running.iter().filter(|r| r.ended.is_none()) {
                        // Its own process group: only this child, once.
                        // SAFETY: kill(2) on a child this process started and
                        // has not reaped (its pid cannot have been reused).
                        unsafe { libc::kill(r.child.id() as libc::pid_t, signal) };
                    }
                }
            }
            while !forwarded && running.len() < self.width && next < jobs.len() {
                let i = next;
                next += 1;
                match self.spawn(i, &jobs[i], &tx) {
                    Ok(r) => {
                        running.push(r);
                        on_event(Event::Started(i));
                    }
                    Err(why) => {
                        on_event(Event::Started(i));
                        let f = Finished {
                            ended: Ended::NotStarted(why),
                            stdout: String::new(),
                            stderr: String::new(),
                            wall: Duration::ZERO,
                        };
                        on_event(Event::Finished(i, &f));
                        results[i] = Some(f);
                    }
                }
            }
            if running.is_empty() {
                break;
            }
            let mut said = rx.recv_timeout(POLL).ok();
            while let Some(msg) = said {
                // A child taken off the list after DRAIN may still speak
                // (through a grandchild): that is dropped.
                let r = running.iter_mut().find(|r| r.job == msg.job());
                match (msg, r) {
                    (Said::Out(_, line), Some(r)) => r.stdout.extend(line),
                    (Said::Err(_, line), Some(r)) => r.stderr.extend(line),
                    (Said::Progress(i, hours), Some(_)) => on_event(Event::Progress(i, hours)),
                    (Said::Closed(_), Some(r)) => r.open = r.open.saturating_sub(1),
                    (_, None) => {}
                }
                said = rx.try_recv().ok();
            }
            for r in running.iter_mut().filter(|r| r.ended.is_none()) {
                match r.child.try_wait() {
                    Ok(Some(status)) => {
                        let ended = match (status.code(), status.signal()) {
                            (Some(c), _) => Ended::Exited(u8::try_from(c).unwrap_or(u8::MAX)),
                            (None, Some(s)) => Ended::Killed(s),
                            (None, None) => Ended::Exited(u8::MAX),
                        };
                        r.ended = Some((ended, Instant::now()));
                    }
                    Ok(None) => {}
                    Err(e) => r.ended = Some((Ended::NotStarted(e.to_string()), Instant::now())),
                }
            }
            let mut k = 0;
            while k < running.len() {
                let done = running[k]
                    .ended
                    .as_ref()
                    .is_some_and(|(_, at)| running[k].open == 0 || at.elapsed() >= DRAIN);
                if !done {
                    k += 1;
                    continue;
                }
                let r = running.swap_remove(k);
                let Some((ended, at)) = r.ended else { continue };
                let f = Finished {
                    ended,
                    stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
                    wall: at.duration_since(r.started),
                };
                on_event(Event::Finished(r.job, &f));
                results[r.job] = Some(f);
            }
        }
        results
    }

    fn spawn(&self, i: usize, job: &Job, tx: &mpsc::Sender<Said>) -> Result<Running, String> {
        let mut cmd = Command::new(&self.program);
        cmd.arg(CHILD_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // prctl, getppid and raise, all async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                // The parent's death (even SIGKILL) stops the child as SIGTERM
                // would: a partial report, then exit. If the parent is already
                // gone, stop now.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
        let spec = serde_json::to_vec(job).map_err(|e| e.to_string())?;
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let started = Instant::now();
        // A few hundred bytes: well within a pipe's buffer, so this cannot block
        // on a child that has not read yet. A child that died at once is seen
        // by try_wait.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&spec);
        }
        let mut open = 0;
        if let Some(out) = child.stdout.take() {
            open += 1;
            read_lines(out, tx.clone(), move |line| Said::Out(i, line), i);
        }
        if let Some(err) = child.stderr.take() {
            open += 1;
            read_lines(
                err,
                tx.clone(),
                move |line| {
                    let text = String::from_utf8_lossy(&line);
                    match progress::parse_parent_line(text.trim_end()) {
                        Some(h) => Said::Progress(i, h),
                        None => Said::Err(i, line),
                    }
                },
                i,
            );
        }
        Ok(Running {
            job: i,
            child,
            started,
            stdout: Vec::new(),
            stderr: Vec::new(),
            open,
            ended: None,
        })
    }
}

impl Said {
    fn job(&self) -> usize {
        match self {
            Said::Out(i, _) | Said::Err(i, _) | Said::Progress(i, _) | Said::Closed(i) => *i,
        }
    }
}

/// Forwards the lines of `stream` (each with its newline) until it closes.
fn read_lines<R, F>(stream: R, tx: mpsc::Sender<Said>, wrap: F, job: usize)
where
    R: Read + Send + 'static,
    F: Fn(Vec<u8>) -> Said + Send + 'static,
{
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(wrap(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Said::Closed(job));
    });
}

/// The job this process was started to run, when its arguments are exactly
/// `PROGRAM` [`CHILD_ARG`]: read as JSON from stdin. `None` for any other command
/// line.
pub fn child_job<I, T>(args: I) -> Option<Result<Job, Error>>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let args: Vec<OsString> = args.into_iter().take(3).map(Into::into).collect();
    if args.len() != 2 || args[1] != CHILD_ARG {
        return None;
    }
    let mut text = String::new();
    let read = std::io::stdin().read_to_string(&mut text);
    Some(
        read.map_err(|e| Error::Usage(format!("{CHILD_ARG}: cannot read the job: {e}")))
            .and_then(|_| {
                serde_json::from_str(&text).map_err(|e| {
                    Error::Usage(format!(
                        "{CHILD_ARG} is for soak's own parallel runs (a job as JSON on \
                         stdin), not a command; this one does not parse: {e}"
                    ))
                })
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_as_json() {
        let job = Job::new(
            "raid-burst",
            RunConfig::new()
                .seed(7)
                .variant(crate::Variant::Leaky)
                .hours(2.5),
            PathBuf::from("reports/seed-7"),
        );
        let text = serde_json::to_string(&job).expect("serialises");
        let back: Job = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, job);
        assert_eq!(
            back.dir(),
            std::path::Path::new("reports/seed-7/raid-burst/leaky")
        );
        assert_eq!(back.label(), "raid-burst (leaky, seed 7)");
    }

    #[test]
    fn only_the_exact_child_argument_is_a_child() {
        assert!(child_job(["soak", "all"]).is_none());
        assert!(child_job(["soak", CHILD_ARG, "x"]).is_none());
        assert!(child_job(["soak"]).is_none());
    }

    #[test]
    fn a_failure_names_the_run_and_how_it_ended() {
        let job = Job::new("calibration", RunConfig::new(), PathBuf::from("r"));
        let f = |ended, stderr: &str| Finished {
            ended,
            stdout: String::new(),
            stderr: stderr.to_string(),
            wall: Duration::ZERO,
        };
        let killed = f(Ended::Killed(libc::SIGKILL), "")
            .failure(&job)
            .to_string();
        assert!(
            killed.starts_with(
                "calibration (fixed, seed 1): its process was killed by signal 9 (SIGKILL)"
            ),
            "{killed}"
        );
        let said = f(
            Ended::Exited(2),
            "noise\nerror: cannot write r/x: disk full\n",
        )
        .failure(&job)
        .to_string();
        assert_eq!(
            said,
            "calibration (fixed, seed 1): cannot write r/x: disk full"
        );
        let partial = f(Ended::Exited(143), "").failure(&job).to_string();
        assert!(partial.contains("stopped by SIGTERM"), "{partial}");
        assert!(f(Ended::Exited(130), "").stopped_by(libc::SIGINT));
        assert!(f(Ended::Killed(libc::SIGINT), "").stopped_by(libc::SIGINT));
        assert!(!f(Ended::Exited(143), "").stopped_by(libc::SIGINT));
        assert!(f(Ended::Killed(9), "").outcome(&job).is_err());
    }
}
