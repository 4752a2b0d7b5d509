//! One live run, start to end: bring the target up, start goose and the
//! dispatcher, sample every `--sample-every` until the duration is over (or the
//! target dies, or a signal arrives), wind everything down in order, then judge
//! and write the report.
//!
//! Wind-down order: the dispatcher stops producing; goose finishes (it is told
//! to, with its killswitch, if it has not within 10 s); the target's counter is
//! read one last time; the held WebSocket connections are dropped; a spawned
//! target gets SIGTERM, then SIGKILL after `--stop-grace`; its output files move
//! into the report directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use soak_harness::report::{check_writable, write_run};
use soak_harness::samples::{Samples, WALL_SECONDS};
use soak_harness::Summary;
use tokio::time::Instant;

use crate::addr;
use crate::config::{LiveConfig, LiveError, MetricsSource};
use crate::load::{self, LoadStats};
use crate::prom::{self, Series};
use crate::report::{self, Ending, Facts};
use crate::rlimit;
use crate::target::{self, Target, TargetSpec};
use crate::{procfs, summary};

/// What a finished live run produced.
#[derive(Debug)]
pub struct LiveOutcome {
    /// The summary written.
    pub summary: Summary,
    /// The sample table written.
    pub samples: Samples,
    /// The run directory.
    pub dir: PathBuf,
    /// 0 within budget, 1 leak or target died, 128 + n interrupted by signal n.
    pub exit_code: u8,
}

static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the signal handling once per process. goose installs a Ctrl-C handler
/// of its own (through `ctrlc`) when a load starts; registering a no-op `ctrlc`
/// handler first makes goose's registration fail harmlessly, and the harness's
/// SIGINT/SIGTERM handler then takes the signals: the first is recorded (the
/// sampler sees it, stops the load and the target, and writes an incomplete
/// report), a second ends the process.
fn install_signal_handler() -> Result<(), String> {
    HANDLER
        .get_or_init(|| {
            ctrlc::set_handler(|| {})
                .map_err(|e| format!("cannot install the signal handler: {e}"))?;
            if soak_harness::interrupt::install() {
                Ok(())
            } else {
                Err("cannot install the SIGINT/SIGTERM handler".into())
            }
        })
        .clone()
}

/// Process group of a spawned target, for the hard stop (0: none).
static TARGET_GROUP: AtomicI32 = AtomicI32::new(0);

/// How long past the end of the load the wind-down may take before the hard stop.
const HARD_STOP_SLACK: Duration = Duration::from_secs(120);

/// The hard stop: if a run is still going `startup-timeout + duration +
/// stop-grace + 2 min` after it started (a wind-down that hangs), a watchdog
/// thread kills the spawned target's process group and exits with status 2.
/// Dropping the returned guard (the run ended) disarms it.
fn arm_hard_stop(cfg: &LiveConfig) -> std::sync::mpsc::Sender<()> {
    let limit = cfg.startup_timeout + cfg.duration + cfg.stop_grace + HARD_STOP_SLACK;
    let (guard, disarmed) = std::sync::mpsc::channel::<()>();
    let _ = std::thread::Builder::new()
        .name("soak-hard-stop".into())
        .spawn(move || {
            if disarmed.recv_timeout(limit) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let group = TARGET_GROUP.load(Ordering::SeqCst);
            if group > 0 {
                // SAFETY: kill has no memory preconditions; the group is the
                // spawned target's own.
                unsafe {
                    libc::kill(-group, libc::SIGKILL);
                }
            }
            eprintln!(
                "error: soak live hit its hard stop ({}s after the start) while winding down; \
                 the target was killed and no report was written",
                limit.as_secs()
            );
            std::process::exit(2);
        });
    guard
}

/// Runs one live soak on a fresh multi-thread runtime.
pub fn run(cfg: &LiveConfig) -> Result<LiveOutcome, LiveError> {
    let _armed = arm_hard_stop(cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    let out = rt.block_on(run_async(cfg));
    // Connection holders still parked on the runtime are dropped here.
    rt.shutdown_timeout(Duration::from_secs(2));
    out
}

/// The console, unless `--quiet`.
fn say(cfg: &LiveConfig, text: &str) {
    if !cfg.quiet {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{text}");
    }
}

async fn run_async(cfg: &LiveConfig) -> Result<LiveOutcome, LiveError> {
    install_signal_handler().map_err(LiveError::Usage)?;
    goose::reset_killswitch();
    let nofile = rlimit::raise_nofile();
    let cpu_before = procfs::self_cpu_seconds();

    // The target and where it listens.
    let (mut target, endpoint, command) = match &cfg.target {
        TargetSpec::Cmd(cmd) => {
            let endpoint = match &cfg.url {
                Some(e) => e.clone(),
                None => {
                    let port = target::free_port()
                        .map_err(|e| LiveError::Usage(format!("cannot find a free port: {e}")))?;
                    addr::parse("url", &format!("http://127.0.0.1:{port}"), false)
                        .map_err(LiveError::Usage)?
                }
            };
            let t = Target::spawn(cmd, endpoint.addr.port())?;
            TARGET_GROUP.store(t.pid as i32, Ordering::SeqCst);
            (t, endpoint, Some(cmd.clone()))
        }
        TargetSpec::Pid(pid) => {
            let endpoint = cfg.url.clone().ok_or_else(|| {
                LiveError::Usage("--pid needs --url: where does the process listen?".into())
            })?;
            (Target::attach(*pid)?, endpoint, None)
        }
    };
    let what = command
        .clone()
        .unwrap_or_else(|| format!("PID {}", target.pid));
    target
        .wait_for_port(endpoint.addr, cfg.startup_timeout, &what)
        .await?;

    // Its metrics: the columns are fixed by the first scrape.
    let metrics_endpoint = match &cfg.metrics {
        MetricsSource::Off => None,
        MetricsSource::Given(e) => {
            let text = prom::scrape(e, Duration::from_secs(5)).await.map_err(|why| {
                LiveError::Usage(format!(
                    "--metrics-url {} did not answer: {why}; check the URL or pass --metrics-url none",
                    e.url
                ))
            })?;
            Some((e.clone(), text))
        }
        MetricsSource::Auto => {
            let e = addr::parse(
                "url",
                &format!("{}/metrics", endpoint.base()),
                !endpoint.loopback,
            )
            .map_err(LiveError::Usage)?;
            prom::scrape(&e, Duration::from_secs(5))
                .await
                .ok()
                .map(|text| (e, text))
        }
    };
    let first: Vec<Series> = metrics_endpoint
        .as_ref()
        .map(|(_, t)| prom::parse(t))
        .unwrap_or_default();
    let count_metric = pick_count_metric(&first, cfg.count_metric.as_deref());
    if let (Some(name), true) = (&cfg.count_metric, count_metric.is_none()) {
        return Err(LiveError::Usage(format!(
            "--count-metric {name}: the target's metrics have no such unlabelled series"
        )));
    }

    // The report root (only now: every refusal above wrote nothing). The run
    // directory itself is written whole at the end; goose writes its report to a
    // staging directory until then.
    check_writable(&cfg.out)?;
    let dir = cfg.out.join(cfg.scenario()).join(&cfg.name);
    let staging = std::env::temp_dir().join(format!(
        "soak-live-goose-{}-{}",
        std::process::id(),
        target.pid
    ));
    std::fs::create_dir_all(&staging).map_err(|source| soak_harness::Error::Output {
        path: staging.clone(),
        source,
    })?;

    // Columns.
    let mut columns: Vec<String> = soak_harness::probe::FIXED_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .collect();
    columns[0] = WALL_SECONDS.to_string();
    let mut own = vec!["latency_p50_ms", "latency_p99_ms", "errors"];
    if cfg.plan.has_ws() {
        own.push("ws_connections");
    }
    columns.extend(own.iter().map(|c| c.to_string()));
    let metric_columns = metric_columns(&first, &mut columns);
    let rows = (cfg.duration.as_secs_f64() / cfg.sample_every.as_secs_f64()).ceil() as usize + 8;
    let mut samples = Samples::with_capacity(columns, rows);

    // The load.
    let users = cfg.users();
    let compression = cfg.compression();
    let (dispatcher, shared, holders_stop) = load::setup(
        cfg.plan.clone(),
        endpoint.clone(),
        cfg.seed,
        compression,
        cfg.duration,
        users,
    );
    let expected_events = dispatcher.expected_events();
    let reports: Vec<String> = [report::GOOSE_HTML, report::GOOSE_JSON]
        .iter()
        .map(|f| staging.join(f).to_string_lossy().into_owned())
        .collect();
    let goose_cfg = load::goose_config(&endpoint.base(), users, cfg.duration, &reports)
        .map_err(LiveError::Load)?;
    let attack = load::attack(goose_cfg, shared.clone()).map_err(LiveError::Load)?;
    let stats: Arc<LoadStats> = shared.stats.clone();

    say(
        cfg,
        &format!(
            "soak live: plan {} (seed {}), {} of load, a day every {} ({:.0}x), {} goose users\n  \
             target {} at {}{}\n  {}",
            cfg.plan.name,
            cfg.seed,
            secs_text(cfg.duration.as_secs_f64()),
            secs_text(cfg.day.as_secs_f64()),
            compression,
            users,
            what,
            endpoint.base(),
            match &metrics_endpoint {
                Some((e, _)) => format!("; metrics {} ({} series)", e.url, metric_columns.len()),
                None => "; no metrics".into(),
            },
            match &nofile {
                Ok(n) => n.describe(),
                Err(e) => e.clone(),
            }
        ),
    );

    let start = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dispatch = tokio::spawn(dispatcher.run(start, stop_rx));
    let goose = tokio::spawn(load::execute(attack));
    let target_counter_before = count_metric
        .as_ref()
        .and_then(|n| first.iter().find(|s| &s.metric == n && !s.labelled))
        .map(|s| s.value);

    // Sampling.
    let mut ending = Ending::Completed;
    let mut scrape_failures = 0u64;
    let mut k = 0u32;
    let mut next_progress = progress_every(cfg.duration);
    let mut goose_early: Option<Result<goose::metrics::GooseMetrics, String>> = None;
    let mut goose = Some(goose);
    loop {
        k += 1;
        let due = start + cfg.sample_every * k;
        let done_at = start + cfg.duration;
        tokio::time::sleep_until(due.min(done_at)).await;
        let t = start.elapsed().as_secs_f64();
        let proc = procfs::read(target.pid);
        let interval = stats.take_interval();
        let mut row = vec![
            t,
            f64::NAN,
            f64::NAN,
            proc.map(|p| p.rss_bytes as f64).unwrap_or(f64::NAN),
            proc.map(|p| p.threads as f64).unwrap_or(f64::NAN),
            proc.map(|p| p.fds as f64).unwrap_or(f64::NAN),
            interval.requests as f64,
            interval.p50_ms,
            interval.p99_ms,
            interval.errors as f64,
        ];
        if cfg.plan.has_ws() {
            row.push(interval.ws_open as f64);
        }
        if let Some((e, _)) = &metrics_endpoint {
            let timeout = cfg
                .sample_every
                .clamp(Duration::from_millis(200), Duration::from_secs(2));
            match prom::scrape(e, timeout).await {
                Ok(text) => {
                    let now = prom::parse(&text);
                    for (col, _) in &metric_columns {
                        row.push(
                            now.iter()
                                .find(|s| &s.column == col)
                                .map(|s| s.value)
                                .unwrap_or(f64::NAN),
                        );
                    }
                }
                Err(_) => {
                    scrape_failures += 1;
                    row.extend(metric_columns.iter().map(|_| f64::NAN));
                }
            }
        }
        // A row whose process readings are empty marks when the target died.
        samples.push_row(row);
        if proc.is_none() {
            if let Some(exit) = target.exited() {
                ending = Ending::Died {
                    at_seconds: t,
                    exit,
                    stderr: target.tail_lines(),
                };
                break;
            }
        }
        if let Some(signal) = soak_harness::interrupt::requested() {
            ending = Ending::Interrupted {
                at_seconds: t,
                signal: soak_harness::interrupt::name(signal).to_string(),
                exit_status: soak_harness::interrupt::exit_status(signal),
            };
            break;
        }
        if let Some(g) = &goose {
            if g.is_finished() && t + 2.0 < cfg.duration.as_secs_f64() {
                // Goose ended long before the duration: something failed.
                let g = goose.take().expect("checked Some just above");
                goose_early = Some(
                    g.await
                        .unwrap_or_else(|e| Err(format!("goose panicked: {e}"))),
                );
                ending = Ending::LoadFailed { at_seconds: t };
                break;
            }
        }
        if t >= next_progress {
            next_progress += progress_every(cfg.duration);
            say(
                cfg,
                &progress_line(t, &samples, &stats, metric_columns.first()),
            );
        }
        if Instant::now() >= done_at {
            break;
        }
    }
    let load_seconds = start.elapsed().as_secs_f64();

    // Wind down: dispatcher, goose, counter, holders, target.
    let _ = stop_tx.send(true);
    let events = dispatch.await.unwrap_or(0);
    if !matches!(ending, Ending::Completed) {
        goose::trigger_killswitch("soak live: stopping");
    }
    let goose_result = match (goose_early, goose) {
        (Some(r), _) => Some(r),
        (None, Some(g)) => finish_goose(g).await,
        (None, None) => None,
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let target_counter_after = match (&metrics_endpoint, &count_metric) {
        (Some((e, _)), Some(name)) if target.exited().is_none() => {
            prom::scrape(e, Duration::from_secs(5))
                .await
                .ok()
                .and_then(|t| {
                    prom::parse(&t)
                        .into_iter()
                        .find(|s| &s.metric == name && !s.labelled)
                })
                .map(|s| s.value)
        }
        _ => None,
    };
    let _ = holders_stop.send(true);
    let drain = Instant::now();
    while stats.open_now() > 0 && drain.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stop_exit = if target.spawned() {
        target.stop(cfg.stop_grace).await
    } else {
        None
    };
    let cpu = procfs::self_cpu_seconds() - cpu_before;

    let totals = stats.totals();
    let (goose_requests, goose_error) = match &goose_result {
        Some(Ok(m)) => (Some(load::goose_requests(m)), None),
        Some(Err(e)) => (None, Some(e.clone())),
        None => (
            None,
            Some("goose did not stop within 25 s and was abandoned".into()),
        ),
    };
    let goose_files: Vec<String> = [report::GOOSE_HTML, report::GOOSE_JSON]
        .iter()
        .filter(|f| staging.join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    let logs: Vec<String> = target.log_names();
    let facts = Facts {
        cfg,
        endpoint: &endpoint,
        command,
        pid: target.pid,
        metrics_url: metrics_endpoint.as_ref().map(|(e, _)| e.url.to_string()),
        metric_columns: &metric_columns,
        count_metric,
        target_counted: match (target_counter_before, target_counter_after) {
            (Some(a), Some(b)) => Some((b - a).max(0.0) as u64),
            _ => None,
        },
        expected_requests: expected_events * cfg.plan.requests_per_event(),
        expected_events,
        events,
        totals,
        goose_requests,
        goose_error,
        goose_files: goose_files.clone(),
        load_seconds,
        soak_cpu_seconds: cpu,
        soak_peak_rss: procfs::self_peak_rss(),
        nofile: nofile.ok(),
        target_logs: logs,
        stop_exit,
        scrape_failures,
        ending,
    };
    let summary = summary::build(&samples, &facts);
    write_run(&dir, &samples, &summary, None, None)?;
    // Goose's report and the target's output join the run directory once it is
    // in place (it is written whole, replacing any earlier run of the same name).
    for f in &goose_files {
        move_file(&staging.join(f), &dir.join(f));
    }
    let _ = std::fs::remove_dir_all(&staging);
    target.keep_logs(&dir).await;
    let exit_code = report::exit_code(&summary, &facts.ending);
    say(cfg, &report::outcome_line(&summary, &dir));
    Ok(LiveOutcome {
        summary,
        samples,
        dir,
        exit_code,
    })
}

async fn finish_goose(
    g: tokio::task::JoinHandle<Result<goose::metrics::GooseMetrics, String>>,
) -> Option<Result<goose::metrics::GooseMetrics, String>> {
    let mut g = g;
    let joined = |r: Result<
        Result<goose::metrics::GooseMetrics, String>,
        tokio::task::JoinError,
    >| { r.unwrap_or_else(|e| Err(format!("goose panicked: {e}"))) };
    if let Ok(r) = tokio::time::timeout(Duration::from_secs(10), &mut g).await {
        return Some(joined(r));
    }
    goose::trigger_killswitch("soak live: the load's duration is over");
    match tokio::time::timeout(Duration::from_secs(15), &mut g).await {
        Ok(r) => Some(joined(r)),
        Err(_) => {
            g.abort();
            None
        }
    }
}

/// Moves `from` to `to` (copying across file systems); best effort.
fn move_file(from: &std::path::Path, to: &std::path::Path) {
    if std::fs::rename(from, to).is_err() && std::fs::copy(from, to).is_ok() {
        let _ = std::fs::remove_file(from);
    }
}

fn progress_every(duration: Duration) -> f64 {
    (duration.as_secs_f64() / 10.0).clamp(5.0, 60.0)
}

fn progress_line(
    t: f64,
    s: &Samples,
    stats: &LoadStats,
    first_metric: Option<&(String, bool)>,
) -> String {
    let rss = s.last("rss_bytes").unwrap_or(f64::NAN);
    let mut line = format!(
        "  [{}] rss {}, {} requests, {} ws open",
        secs_text(t),
        soak_harness::units::bytes_text(rss),
        stats.requests(),
        stats.open_now()
    );
    if let Some((col, _)) = first_metric {
        if let Some(v) = s.last(col) {
            line.push_str(&format!(", {col} {v}"));
        }
    }
    line
}

/// `95s` → `1m35s`.
pub fn secs_text(s: f64) -> String {
    let s = s.round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// The metric columns (name, judged as a gauge?) added after `columns`, deduplicated.
fn metric_columns(first: &[Series], columns: &mut Vec<String>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for s in first.iter().take(prom::MAX_SERIES) {
        if columns.contains(&s.column) {
            continue;
        }
        columns.push(s.column.clone());
        out.push((s.column.clone(), !s.counter));
    }
    out
}

fn pick_count_metric(first: &[Series], asked: Option<&str>) -> Option<String> {
    if let Some(name) = asked {
        return first
            .iter()
            .find(|s| s.metric == name && !s.labelled)
            .map(|s| s.metric.clone());
    }
    first
        .iter()
        .filter(|s| !s.labelled && s.metric.ends_with("requests_total"))
        .min_by_key(|s| s.metric.len())
        .map(|s| s.metric.clone())
}
