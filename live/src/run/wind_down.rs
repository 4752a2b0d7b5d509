//! Phase 3: the load stops, the probes hand over what they keep while the target
//! still runs, and a spawned target is stopped. Goose's reports and the target's
//! output become attachments of the run directory.

use std::time::Duration;

use soak_harness::samples::Samples;
use tokio::time::Instant;

use super::sampling::{GooseResult, LoadRun};
use super::{Running, Sampled};
use crate::config::LiveConfig;
use crate::load::stats::Totals;
use crate::load::{self, GOOSE_HTML, GOOSE_JSON};
use crate::probe::{Attachment, Content, WindDown};
use crate::procfs;
use crate::target::Exit;
use soak_harness::summary::Ending;

/// Everything measured by the end of a run.
pub(crate) struct Ended {
    pub samples: Samples,
    pub ending: Ending,
    pub load_seconds: f64,
    /// Events the dispatcher produced.
    pub events: u64,
    pub totals: Totals,
    /// Requests goose counted.
    pub goose_requests: Option<u64>,
    /// Goose's failure, if any.
    pub goose_error: Option<String>,
    /// Goose's report files kept.
    pub goose_files: Vec<String>,
    /// The target's output files kept.
    pub target_logs: Vec<String>,
    /// How a spawned target ended when stopped.
    pub stop_exit: Option<Exit>,
    /// CPU seconds soak used.
    pub cpu_seconds: f64,
    /// What the probes handed over.
    pub handed: WindDown,
}

/// Phase 3 (see the module docs).
pub(crate) async fn wind_down(cfg: &LiveConfig, r: &mut Running, s: Sampled) -> Ended {
    let Sampled {
        samples,
        mut ending,
        load_seconds,
        load,
    } = s;
    let (events, goose_result) = stop_load(load, &ending).await;
    let mut handed = WindDown {
        target_alive: r.target.exited().is_none(),
        load_seconds,
        ..WindDown::default()
    };
    for p in r.probes.iter_mut() {
        p.finish(&mut handed).await;
    }
    let _ = r.load.holders_stop.send(true);
    let drain = Instant::now();
    while r.load.stats.open_now() > 0 && drain.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stop_exit = if r.target.spawned() {
        r.target.stop(cfg.stop_grace).await
    } else {
        None
    };
    let cpu_seconds = procfs::self_cpu_seconds() - r.cpu_before;
    let (goose_requests, goose_error) = match &goose_result {
        Some(Ok(m)) => (Some(load::goose_requests(m)), None),
        Some(Err(e)) => (None, Some(e.clone())),
        None => (
            None,
            Some("goose did not stop within 25 s and was abandoned".into()),
        ),
    };
    // An empty why is goose's failure, read here; the sampling loop gives its own.
    if let Ending::LoadFailed { why, .. } = &mut ending {
        if why.is_empty() {
            *why = goose_error
                .as_deref()
                .unwrap_or("goose ended early")
                .replace(['\n', '\r'], " ");
        }
    }
    let totals = r.load.stats.totals();
    if let (true, Some(why)) = (ending.is_completed(), r.load.stats.none_reached()) {
        ending = Ending::LoadFailed {
            at_seconds: load_seconds,
            why,
        };
    }
    let mut own = Vec::new();
    let goose_files = keep(&mut own, files(r, &[GOOSE_HTML, GOOSE_JSON]));
    let target_logs = keep(&mut own, r.target.log_files().await);
    own.append(&mut handed.attachments);
    handed.attachments = own;
    Ended {
        samples,
        ending,
        load_seconds,
        events,
        totals,
        goose_requests,
        goose_error,
        goose_files,
        target_logs,
        stop_exit,
        cpu_seconds,
        handed,
    }
}

/// Goose's report files in the scratch directory that exist.
fn files(r: &Running, names: &[&str]) -> Vec<(String, std::path::PathBuf)> {
    names
        .iter()
        .map(|n| (n.to_string(), r.scratch.path().join(n)))
        .filter(|(_, p)| p.is_file())
        .collect()
}

/// Adds `found` to `into` as attachments; returns their names.
fn keep(into: &mut Vec<Attachment>, found: Vec<(String, std::path::PathBuf)>) -> Vec<String> {
    found
        .into_iter()
        .map(|(name, path)| {
            into.push(Attachment {
                name: name.clone(),
                content: Content::File(path),
            });
            name
        })
        .collect()
}

/// Stops the dispatcher and goose (with its killswitch when the run ended early);
/// returns the events produced and goose's result (`None`: it hung).
async fn stop_load(load: LoadRun, ending: &Ending) -> (u64, Option<GooseResult>) {
    let _ = load.stop.send(true);
    let events = load.dispatch.await.unwrap_or(0);
    if !matches!(ending, Ending::Completed) {
        goose::trigger_killswitch("soak live: stopping");
    }
    let result = match (load.early, load.goose) {
        (Some(r), _) => Some(r),
        (None, Some(g)) => finish_goose(g).await,
        (None, None) => None,
    };
    // Let the target count the last requests before the probes read it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (events, result)
}

async fn finish_goose(mut g: tokio::task::JoinHandle<GooseResult>) -> Option<GooseResult> {
    let joined = |r: Result<GooseResult, tokio::task::JoinError>| {
        r.unwrap_or_else(|e| Err(format!("goose panicked: {e}")))
    };
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
