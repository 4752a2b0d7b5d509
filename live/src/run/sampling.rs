//! Phase 2: the probes start, then the load; a row every `--sample-every`, each
//! probe filling its own columns at once, until the duration is over, the target
//! dies, the load fails, or the stop future resolves (a signal).

use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use goose::metrics::GooseMetrics;
use soak_harness::samples::Samples;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{judge, say, secs_text, Running};
use crate::config::LiveConfig;
use crate::load;
use soak_harness::summary::Ending;

/// What goose's task returns.
pub(crate) type GooseResult = Result<GooseMetrics, String>;

/// The load as it runs.
pub(crate) struct LoadRun {
    pub dispatch: JoinHandle<u64>,
    pub stop: tokio::sync::watch::Sender<bool>,
    /// Goose, unless it already ended (then its result is in `early`).
    pub goose: Option<JoinHandle<GooseResult>>,
    pub early: Option<GooseResult>,
}

/// What the sampling phase ends with.
pub(crate) struct Sampled {
    pub samples: Samples,
    pub ending: Ending,
    /// Wall seconds the load ran.
    pub load_seconds: f64,
    pub load: LoadRun,
}

/// The run's settings with the sample interval an attached probe asks for
/// ([`crate::probe::Probe::sample_every`]) when `--sample-every` was not given and
/// it is shorter than the default; `None` keeps `cfg` as it is.
pub(crate) fn tuned(cfg: &LiveConfig, r: &Running) -> Option<LiveConfig> {
    if cfg.sample_every_given {
        return None;
    }
    let every = r.probes.iter().filter_map(|p| p.sample_every()).min()?;
    (every < cfg.sample_every).then(|| LiveConfig {
        sample_every: every,
        ..cfg.clone()
    })
}

/// Phase 2 (see the module docs).
pub(crate) async fn sample(
    cfg: &LiveConfig,
    r: &mut Running,
    stop: impl Future<Output = i32>,
) -> Sampled {
    for p in r.probes.iter_mut() {
        p.start().await;
    }
    let rows = (cfg.duration.as_secs_f64() / cfg.sample_every.as_secs_f64()).ceil() as usize + 8;
    let mut samples = r.layout.table(rows);
    let start = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut load = LoadRun {
        dispatch: match r.load.dispatcher.take() {
            Some(d) => tokio::spawn(d.run(start, stop_rx)),
            None => tokio::spawn(async { 0 }),
        },
        stop: stop_tx,
        goose: r.load.attack.take().map(|a| tokio::spawn(load::execute(a))),
        early: None,
    };
    let ending = sample_until_done(cfg, r, &mut samples, &mut load, start, stop).await;
    Sampled {
        samples,
        ending,
        load_seconds: start.elapsed().as_secs_f64(),
        load,
    }
}

/// The loop: a row per period, then what ended it.
async fn sample_until_done(
    cfg: &LiveConfig,
    r: &mut Running,
    samples: &mut Samples,
    load: &mut LoadRun,
    start: Instant,
    stop: impl Future<Output = i32>,
) -> Ending {
    let mut buffers = r.layout.buffers();
    let mut undeclared_noted = vec![false; r.probes.len()];
    let mut next_progress = progress_every(cfg.duration);
    let done_at = start + cfg.duration;
    tokio::pin!(stop);
    for k in 1u32.. {
        let due = (start + cfg.sample_every * k).min(done_at);
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            signal = &mut stop => {
                return Ending::Interrupted {
                    at_seconds: start.elapsed().as_secs_f64(),
                    of_seconds: cfg.duration.as_secs_f64(),
                    signal: soak_harness::interrupt::name(signal).to_string(),
                    exit_status: soak_harness::interrupt::exit_status(signal),
                };
            }
        }
        let t = start.elapsed().as_secs_f64();
        {
            let mut rows = r.layout.rows(t, &mut buffers);
            join_all(
                r.probes
                    .iter_mut()
                    .zip(rows.iter_mut())
                    .map(|(p, row)| p.sample(row)),
            )
            .await;
            for ((p, row), noted) in r.probes.iter().zip(&rows).zip(undeclared_noted.iter_mut()) {
                if let (Some(name), false) = (row.undeclared(), *noted) {
                    *noted = true;
                    r.notes.push(format!(
                        "probe {} set {name}, a column it did not declare (dropped)",
                        p.name()
                    ));
                }
            }
        }
        samples.push_row(r.layout.assemble(t, &buffers));
        if let Some(exit) = r.target.exited() {
            return Ending::Died {
                at_seconds: t,
                exit,
                stderr: r.target.tail_lines(),
            };
        }
        if let Some(g) = load
            .goose
            .take_if(|g| g.is_finished() && t + 2.0 < cfg.duration.as_secs_f64())
        {
            // Goose ended long before the duration: something failed.
            load.early = Some(
                g.await
                    .unwrap_or_else(|e| Err(format!("goose panicked: {e}"))),
            );
            // What failed is goose's result, read when the load winds down.
            return Ending::LoadFailed {
                at_seconds: t,
                why: String::new(),
            };
        }
        // A load none of whose requests reached the service's code by now will
        // not judge anything: stop it rather than make the person wait the whole
        // --duration to hear that the plan's paths or --url are wrong.
        let none_reached = (t >= NONE_REACHED_SECONDS
            && t + NONE_REACHED_SECONDS < cfg.duration.as_secs_f64()
            && r.load.stats.requests() >= NONE_REACHED_REQUESTS)
            .then(|| r.load.stats.none_reached())
            .flatten();
        if let Some(why) = none_reached {
            return Ending::LoadFailed {
                at_seconds: t,
                why: format!(
                    "{why}; the load was stopped then rather than run its whole --duration"
                ),
            };
        }
        if t >= next_progress {
            next_progress += progress_every(cfg.duration);
            say(cfg, &progress_line(t, samples, r));
        }
        if Instant::now() >= done_at {
            break;
        }
    }
    Ending::Completed
}

/// How long, and how many requests, a load whose every request failed without
/// reaching the service's code runs before it is stopped ([`LoadStats::none_reached`]):
/// long enough for a service that answers 404 while it warms up, short beside a soak.
///
/// [`LoadStats::none_reached`]: crate::load::stats::LoadStats::none_reached
const NONE_REACHED_SECONDS: f64 = 10.0;
const NONE_REACHED_REQUESTS: u64 = 100;

fn progress_every(duration: Duration) -> f64 {
    (duration.as_secs_f64() / 10.0).clamp(5.0, 60.0)
}

fn progress_line(t: f64, s: &Samples, r: &Running) -> String {
    let bytes = soak_harness::units::bytes_text;
    let rss = s.last("rss_bytes").unwrap_or(f64::NAN);
    // The heaps the attached heap probes declared for the memory budget, last read.
    let heap: String = r
        .layout
        .declared()
        .iter()
        .filter(|d| d.heap)
        .filter_map(|d| {
            let name = judge::memory(d)?;
            Some(format!(
                ", {name} {}",
                bytes(s.last_finite(&d.column.name)?)
            ))
        })
        .collect();
    let failed = match r.load.stats.errors() {
        0 => String::new(),
        n => format!(" ({n} failed)"),
    };
    format!(
        "  [{}] rss {}{heap}, {} requests{failed}, {} ws open",
        secs_text(t),
        bytes(rss),
        r.load.stats.requests(),
        r.load.stats.open_now()
    )
}
