//! `soak live`: the command line. Two stages as in the harness: clap reads the
//! raw strings ([`LiveArgs`]), [`LiveArgs::to_config`] validates them into a
//! [`LiveConfig`] — every refusal is one line, exit status 2, before any process
//! is started, signalled or connected to, and before anything is written.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use soak_harness::cli::SharedArgs;
use soak_harness::units::parse_duration;
use soak_harness::Variant;

use crate::addr;
use crate::config::{HeapMode, LiveConfig, LiveError, MetricsSource};
use crate::inspector::{self, InspectorUrl};
use crate::node_heap::session::Cadence;
use crate::plan;
use crate::run;
use crate::target::TargetSpec;

const AFTER_HELP: &str = "\
Examples:
  soak live --cmd \"target/release/soak-server --variant leaky\"            10 minutes, plan ws-churn
  soak live --cmd \"node live/tests/fixtures/cooldown-server.js\" --plan cooldowns
  soak live --cmd \"target/release/soak-server\" --plan ws-steady --heap --duration 5m
                                   a fix checked in minutes: a steady load, the heap judged
  soak live --pid 4242 --url http://127.0.0.1:8080 --plan my-plan.toml --duration 1h --day 20m
  soak live --pid 4242 --url http://127.0.0.1:8080 --plan my-plan.toml --open-inspector
                                   a Node service already running: its JS heap, no restart

The target gets PORT in its environment (and {port} in --cmd is replaced) unless
--url gives the port: a free port drawn below the kernel's ephemeral range where it
leaves room (one in the range can be taken by any outgoing connection first); a
target that exits saying its address is in use is started again on another port, up
to 3 ports in all. Only loopback targets (127.0.0.0/8, localhost, [::1]) unless
--allow-remote. Built-in plans: ws-churn, ws-steady, ws-churn-10k, cooldowns, chat-bot.

Exit status: 0 within budget, 1 the judged memory (a heap probe's heap, else the
target's RSS) grew past its budget or the target died, 2 usage or input error
(nothing written) or a load that failed, 3 inconclusive (the message says why: often
a run too short to have seen a leak at the budget), 130 or 143 interrupted by SIGINT
or SIGTERM (report written whole, marked \"complete\": false).

A Node target's growing functions are named in their sources where its scripts carry
source maps (tsc --sourceMap, bundlers; code compiled in memory by tsx, or by any
loader when node runs with --enable-source-maps).

Writes OUT/live-PLAN/NAME/{samples.csv,summary.json,heap.svg,heap.png,
goose-report.html,goose-report.json,target-stdout.log,target-stderr.log}.";

/// `soak live`: soak a running service over loopback with goose and judge its
/// memory growth per wall hour.
#[derive(Debug, Parser)]
#[command(
    name = "soak live",
    version,
    about = "Soak a real running service over loopback: goose plays a compressed day of \
             traffic, soak's probes sample the process (/proc, its /metrics, a heap \
             probe when one attaches), and it fails when the judged memory grows faster \
             than its budget.",
    after_help = AFTER_HELP,
    mut_arg("variant", |a| a
        .help(VARIANT_HELP)
        .long_help(VARIANT_HELP)
        .hide_possible_values(true))
)]
pub struct LiveArgs {
    /// Start this command (through /bin/sh, with exec) and soak it; soak stops it
    /// at the end (SIGTERM, then SIGKILL after --stop-grace).
    #[arg(
        long,
        value_name = "COMMAND",
        conflicts_with = "pid",
        required_unless_present = "pid"
    )]
    pub cmd: Option<String>,
    /// Soak this already running process (never signalled); needs --url.
    #[arg(long, value_name = "PID", value_parser = parse_pid)]
    pub pid: Option<u32>,
    /// Where the target listens [default with --cmd: http://127.0.0.1:PORT on a free port].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Prometheus metrics to sample, one column per series; `none` for none
    /// [default: URL/metrics when it answers].
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
    /// The target counter of requests served, compared with soak's count
    /// [default: the unlabelled series ending in requests_total].
    #[arg(long, value_name = "NAME")]
    pub count_metric: Option<String>,
    /// Allow a target that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
    /// Traffic plan: a built-in name (`live/plans/`; a wrong name lists them) or a
    /// TOML file: the day's load curve, id pools, and weighted HTTP requests
    /// (method, path, body, headers) and WebSocket sessions (README, "soak live").
    #[arg(long, default_value = "ws-churn", value_name = "PLAN")]
    pub plan: String,
    /// Goose users (requests in flight at once) [default: the plan's].
    #[arg(long, value_name = "N")]
    pub users: Option<usize>,
    /// Wall time of the load (the run stops by itself after it): 30s, 10m, 1h; a
    /// bare number is seconds.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub duration: String,
    /// Wall time one 24-hour day of the plan takes [default: --duration].
    #[arg(long, value_name = "DURATION")]
    pub day: Option<String>,
    /// Wall time left out of the growth fit at the start [default: 10% of --duration,
    /// or the retention when the run is at least twice as long].
    #[arg(long, value_name = "DURATION")]
    pub warmup: Option<String>,
    /// The target's longest retention (TTL, timeout) in wall time: a shorter run is
    /// inconclusive, not judged; the ids the plan's HTTP paths named within it are
    /// counted (`recent_user`, …) as load gauges [default: the plan's `retention`].
    #[arg(long, value_name = "DURATION")]
    pub retention: Option<String>,
    /// Require a heap probe: judge the target's heap instead of its RSS, or refuse
    /// the run (exit 2) before the load when none can attach [default: every heap
    /// probe that can attach does].
    #[arg(long, conflicts_with = "no_heap")]
    pub heap: bool,
    /// Run no heap probe: judge the target's RSS.
    #[arg(long)]
    pub no_heap: bool,
    /// With --pid: the inspector of a Node target started with
    /// --inspect=127.0.0.1:PORT, to judge its JS heap (loopback only) [default
    /// with --cmd: soak opens the target's inspector itself and reads its URL
    /// from the target's stderr].
    #[arg(long, value_name = "ws://URL", conflicts_with = "no_heap")]
    pub inspect_url: Option<String>,
    /// With --pid, a Node process started without --inspect: send it SIGUSR1,
    /// on which Node opens its inspector on loopback (127.0.0.1:9229, or its
    /// --inspect-port), judge its JS heap, and close the inspector again at the
    /// end of the run. While it is open, any local process can reach it (as
    /// with --inspect); one that opens off loopback (an --inspect-port with
    /// another host) is closed again and the run refused.
    #[arg(long, conflicts_with_all = ["no_heap", "inspect_url", "cmd"])]
    pub open_inspector: bool,
    /// Time between the Node heap probe's full collections, each followed by a
    /// read of the live heap (and every 2nd by a read of the sampling profile);
    /// `auto` spaces them so their pauses take under 0.25% of the run (out of the
    /// p99 latency), at least 1s apart, at least 34 of them after the warm-up
    /// and at most 120 up to a 15-minute run, fewer in a longer one (each also
    /// slows the target after it: V8 recompiles the code the collection
    /// invalidated, so a long run gets no more than its verdict needs: a
    /// 30-minute run about one a minute).
    #[arg(long, default_value = "auto", value_name = "DURATION|auto")]
    pub heap_every: String,
    /// Mean bytes a heap probe lets the target allocate between sampled
    /// allocations (the per-site growth: sites.csv, growth_sites); 0 counts the
    /// heap without sampling sites.
    #[arg(long, default_value = "512KiB", value_name = "SIZE")]
    pub sample_bytes: String,
    /// How long the target's port may take to open.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub startup_timeout: String,
    /// Time between SIGTERM and SIGKILL when stopping a spawned target.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub stop_grace: String,
    /// Report directory name under OUT/live-PLAN/, shown with the run wherever it
    /// is (e.g. before-fix, after-fix) [default: the variant].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The options every run takes.
    #[command(flatten)]
    pub shared: SharedArgs,
}

/// The wall times of a run, validated.
struct Times {
    duration: Duration,
    day: Duration,
    sample_every: Duration,
    warmup: Duration,
    retention: Option<Duration>,
}

fn dur(flag: &str, text: &str) -> Result<Duration, LiveError> {
    parse_duration(text).map_err(|e| LiveError::Usage(format!("--{flag}: {e}")))
}

fn positive(flag: &str, text: &str) -> Result<Duration, LiveError> {
    let d = dur(flag, text)?;
    if d.is_zero() {
        return Err(LiveError::Usage(format!(
            "--{flag} {text}: must be longer than zero, e.g. 10m"
        )));
    }
    Ok(d)
}

/// `--pid`'s value: one process id. `$(pgrep -f …)` that matched several gives
/// them all, one per line: say so rather than "invalid digit".
fn parse_pid(text: &str) -> Result<u32, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [one] => one
            .parse::<u32>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("'{one}' is not a process id; give one, e.g. --pid 1234")),
        [] => Err("empty; give one process id, e.g. --pid 1234".into()),
        many => Err(format!(
            "{} process ids ({}); give one — with pgrep, `pgrep -n -f …` picks the newest",
            many.len(),
            many.join(", ")
        )),
    }
}

/// `--variant`'s help in `soak live`: a label, not a subject's build.
const VARIANT_HELP: &str = "The run's label, fixed or leaky (its directory's name unless --name; \
     before-and-after runs need two) [default: the --variant in --cmd, else unlabelled]";

/// The `--variant X` a command passes to its target, if any.
fn variant_in(cmd: &str) -> Option<Variant> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    words.iter().enumerate().find_map(|(i, w)| {
        let v = w.strip_prefix("--variant=").or_else(|| {
            (*w == "--variant")
                .then(|| words.get(i + 1).copied())
                .flatten()
        })?;
        match v.trim_matches(['"', '\'']) {
            "leaky" => Some(Variant::Leaky),
            "fixed" => Some(Variant::Fixed),
            _ => None,
        }
    })
}

impl LiveArgs {
    /// Validates every option; nothing is started, connected to or written.
    pub fn to_config(&self) -> Result<LiveConfig, LiveError> {
        let url = self
            .url
            .as_deref()
            .map(|u| addr::parse("url", u, self.allow_remote))
            .transpose()
            .map_err(LiveError::Usage)?;
        let metrics = match self.metrics_url.as_deref() {
            None => MetricsSource::Auto,
            Some(m) if m.eq_ignore_ascii_case("none") => MetricsSource::Off,
            Some(m) => MetricsSource::Given(
                addr::parse("metrics-url", m, self.allow_remote).map_err(LiveError::Usage)?,
            ),
        };
        let target = self.target(url.is_some())?;
        let plan = plan::load(&self.plan).map_err(LiveError::Usage)?;
        if let Some(0) = self.users {
            return Err(LiveError::Usage("--users must be at least 1".into()));
        }
        let t = self.times(plan.retention)?;
        let max_growth = self.shared.max_growth()?;
        let max_fd_growth = self.shared.max_fd_growth()?;
        let variant = self.shared.variant_or(
            self.cmd
                .as_deref()
                .and_then(variant_in)
                .unwrap_or(Variant::Unlabelled),
        )?;
        let name = self.name(variant)?;
        Ok(LiveConfig {
            target,
            url,
            metrics,
            count_metric: self.count_metric.clone(),
            // The plan with the run's retention: what the load and its probe count by.
            plan: plan::Plan {
                retention: t.retention,
                ..plan
            },
            users: self.users,
            seed: self.shared.seed,
            duration: t.duration,
            day: t.day,
            sample_every: t.sample_every,
            sample_every_given: self.shared.sample_every.is_some(),
            warmup: t.warmup,
            retention: t.retention,
            max_growth,
            max_fd_growth,
            heap: match (self.heap, self.no_heap) {
                (true, _) => HeapMode::Required,
                (_, true) => HeapMode::Off,
                _ => HeapMode::Auto,
            },
            inspect_url: self.inspect_url()?,
            open_inspector: self.open_inspector,
            heap_every: match self.heap_every.trim() {
                "auto" => Cadence::Auto,
                every => Cadence::Every(positive("heap-every", every)?.as_secs_f64()),
            },
            sample_bytes: soak_harness::units::parse_bytes(&self.sample_bytes)
                .map_err(|e| LiveError::Usage(format!("--sample-bytes: {e}")))?
                as u64,
            startup_timeout: positive("startup-timeout", &self.startup_timeout)?,
            stop_grace: dur("stop-grace", &self.stop_grace)?,
            variant,
            name,
            out: self.shared.out.clone(),
            quiet: self.shared.quiet,
        })
    }
    /// `--inspect-url`, checked: loopback, and only for `--pid`.
    fn inspect_url(&self) -> Result<Option<InspectorUrl>, LiveError> {
        match (&self.inspect_url, &self.cmd) {
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(LiveError::Usage(
                "--inspect-url is for --pid targets: with --cmd soak opens the target's \
                 inspector itself; drop --inspect-url"
                    .into(),
            )),
            (Some(u), None) => inspector::parse("--inspect-url", u)
                .map(Some)
                .map_err(LiveError::Usage),
        }
    }

    /// `--cmd` or `--pid` (with `--url`, told by `has_url`).
    fn target(&self, has_url: bool) -> Result<TargetSpec, LiveError> {
        Ok(match (&self.cmd, self.pid) {
            (Some(c), None) if !c.trim().is_empty() => TargetSpec::Cmd(c.clone()),
            (Some(_), None) => {
                return Err(LiveError::Usage(
                    "--cmd is empty; give the command that starts the target".into(),
                ))
            }
            (None, Some(p)) => {
                if !has_url {
                    return Err(LiveError::Usage(format!(
                        "--pid {p} needs --url: where does the process listen?"
                    )));
                }
                TargetSpec::Pid(p)
            }
            _ => {
                return Err(LiveError::Usage(
                    "give exactly one of --cmd COMMAND or --pid PID".into(),
                ))
            }
        })
    }

    /// The run's times; `plan_retention` is the plan's own retention.
    fn times(&self, plan_retention: Option<Duration>) -> Result<Times, LiveError> {
        let duration = positive("duration", &self.duration)?;
        let day = match &self.day {
            Some(d) => positive("day", d)?,
            None => duration,
        };
        let every_text = self.shared.sample_every.as_deref().unwrap_or("1s");
        let sample_every = positive("sample-every", every_text)?;
        if sample_every < Duration::from_millis(50) {
            return Err(LiveError::Usage(format!(
                "--sample-every {every_text}: at least 50ms, e.g. 1s"
            )));
        }
        if duration < sample_every * 12 {
            return Err(LiveError::Usage(format!(
                "--duration {} holds fewer than 12 samples of --sample-every {every_text}; the \
                 growth model needs more: lengthen --duration or shorten --sample-every",
                self.duration
            )));
        }
        let retention = match &self.retention {
            Some(r) => Some(dur("retention", r)?),
            None => plan_retention,
        };
        let warmup = match (&self.warmup, retention) {
            (Some(w), _) => dur("warmup", w)?,
            // As in a virtual run: wait the retention out when that leaves half.
            (None, Some(r)) if r * 2 <= duration => r.max(duration / 10),
            (None, _) => duration / 10,
        };
        if warmup >= duration {
            return Err(LiveError::Usage(format!(
                "--warmup {} must be shorter than --duration {}",
                self.warmup.as_deref().unwrap_or(""),
                self.duration
            )));
        }
        Ok(Times {
            duration,
            day,
            sample_every,
            warmup,
            retention,
        })
    }

    /// `--name`, else the variant's.
    fn name(&self, variant: Variant) -> Result<String, LiveError> {
        Ok(match &self.name {
            Some(n) => {
                if n.is_empty()
                    || n.starts_with('.')
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                {
                    return Err(LiveError::Usage(format!(
                        "--name '{n}': use letters, digits, '-', '_' and '.', e.g. before-fix"
                    )));
                }
                n.clone()
            }
            None => variant.as_str().to_string(),
        })
    }
}

/// How `soak --help` lists live mode.
pub const COMMAND: soak_harness::cli::ExtraCommand = soak_harness::cli::ExtraCommand {
    name: "live",
    about: "Soak a real running service over loopback, driven by goose (see `soak live --help`).",
};

/// Entry point of `soak live` (`argv[1]` is `live`).
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `soak live …`: parse everything after `live` under the name `soak live`.
    let rest = args.iter().skip(2).cloned();
    main_from(std::iter::once(std::ffi::OsString::from("soak live")).chain(rest))
}

/// Entry point over explicit arguments (the first is the program name).
pub fn main_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let parsed = match LiveArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => return ExitCode::from(soak_harness::cli::clap_code(e)),
    };
    let code = match parsed.to_config().and_then(|cfg| run::run(&cfg)) {
        Ok(outcome) => outcome.exit_code,
        Err(e) => {
            soak_harness::cli::errln(&e.to_string());
            soak_harness::cli::EXIT_ERROR
        }
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_is_one_process_id() {
        assert_eq!(parse_pid(" 1234\n"), Ok(1234));
        let many = parse_pid("1234\n5678").expect_err("two ids");
        assert!(
            many.contains("2 process ids (1234, 5678)") && many.contains("pgrep -n"),
            "{many}"
        );
        assert!(parse_pid("0").is_err());
        assert!(parse_pid("abc")
            .expect_err("not a number")
            .contains("not a process id"));
        assert!(parse_pid("").is_err());
    }

    #[test]
    fn variant_is_read_from_the_command() {
        assert_eq!(
            variant_in("soak-server --variant leaky"),
            Some(Variant::Leaky)
        );
        assert_eq!(
            variant_in("x --variant=fixed --port 0"),
            Some(Variant::Fixed)
        );
        assert_eq!(variant_in("node server.js"), None);
    }

    fn refused(args: &[&str]) -> String {
        let a = LiveArgs::try_parse_from(std::iter::once("soak live").chain(args.iter().copied()))
            .expect("clap accepts the shape");
        match a.to_config() {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn refusals_are_one_line_and_name_the_flag() {
        for (args, needle) in [
            (
                vec!["--cmd", "x", "--url", "http://10.1.2.3:80"],
                "--allow-remote",
            ),
            (
                vec!["--cmd", "x", "--metrics-url", "http://8.8.8.8/m"],
                "loopback",
            ),
            (vec!["--cmd", "x", "--duration", "0"], "--duration"),
            (vec!["--cmd", "x", "--duration", "5s"], "fewer than 12"),
            (vec!["--cmd", "x", "--plan", "/nonexistent.toml"], "--plan"),
            (vec!["--pid", "1"], "--url"),
            (vec!["--cmd", "x", "--max-growth", "lots"], "--max-growth"),
            (vec!["--cmd", "x", "--name", "../up"], "--name"),
        ] {
            let e = refused(&args);
            assert!(e.contains(needle), "{args:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
