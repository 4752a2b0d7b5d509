//! One live run, start to end, in four phases, each in a file of its own:
//!
//! 1. [`bring_up`]: the target's address, the probes built from the registry,
//!    the target started (its command given the probes' environment) or found,
//!    its port open, every probe attached and the table laid out from their
//!    columns; every refusal before anything is written.
//! 2. [`sampling`]: the probes started, the load started, a row every
//!    `--sample-every` until the duration is over, the target dies, the load
//!    fails or the stop signal arrives (passed in as a future).
//! 3. [`wind_down`]: the dispatcher stops producing; goose finishes (told to,
//!    with its killswitch, if it has not within 10 s); the probes hand over what
//!    they keep while the target still runs; the held WebSocket connections are
//!    dropped; a spawned target gets SIGTERM, then SIGKILL after `--stop-grace`.
//! 4. [`judge`]: the verdict, `summary.json` and the run directory with its
//!    attachments, written whole.

mod bring_up;
mod facts;
mod judge;
mod sampling;
mod table;
mod wind_down;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use soak_harness::samples::Samples;
use soak_harness::Summary;

use crate::config::{LiveConfig, LiveError};
use crate::probe::{self, Register};

pub(crate) use bring_up::Running;
pub(crate) use sampling::Sampled;
pub(crate) use table::Declared;
pub(crate) use wind_down::Ended;

/// What a finished live run produced.
#[derive(Debug)]
pub struct LiveOutcome {
    /// The summary written.
    pub summary: Summary,
    /// The sample table written.
    pub samples: Samples,
    /// The run directory.
    pub dir: PathBuf,
    /// Its exit status ([`soak_harness::summary::exit_status`]).
    pub exit_code: u8,
}

static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the signal handling once per process. goose installs a Ctrl-C handler
/// of its own (through `ctrlc`) when a load starts; registering a no-op `ctrlc`
/// handler first makes goose's registration fail harmlessly, and the harness's
/// SIGINT/SIGTERM handler then takes the signals: the first is recorded (the
/// run's stop future resolves, the load and the target stop, and an incomplete
/// report is written), a second ends the process.
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

/// How long past the end of the load the wind-down may take before the hard stop.
const HARD_STOP_SLACK: Duration = Duration::from_secs(120);

/// The hard stop: if a run is still going `startup-timeout` (for each port
/// bring_up may try) `+ duration + stop-grace + 2 min` after it started (a
/// wind-down that hangs), a watchdog
/// thread kills the spawned target's process group (its id is stored in the
/// returned atomic once there is one) and exits with status 2. Dropping the
/// returned guard (the run ended) disarms it.
fn arm_hard_stop(cfg: &LiveConfig) -> (std::sync::mpsc::Sender<()>, Arc<AtomicI32>) {
    let limit = cfg.startup_timeout * bring_up::PORT_TRIES
        + cfg.duration
        + cfg.stop_grace
        + HARD_STOP_SLACK;
    let (guard, disarmed) = std::sync::mpsc::channel::<()>();
    let group = Arc::new(AtomicI32::new(0));
    let target = group.clone();
    let _ = std::thread::Builder::new()
        .name("soak-hard-stop".into())
        .spawn(move || {
            if disarmed.recv_timeout(limit) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let group = target.load(Ordering::SeqCst);
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
    (guard, group)
}

/// Runs one live soak with the built-in probes ([`probe::REGISTRY`]).
pub fn run(cfg: &LiveConfig) -> Result<LiveOutcome, LiveError> {
    run_with(cfg, probe::REGISTRY)
}

/// Runs one live soak on a fresh multi-thread runtime with the probes of
/// `registry`, stopped early by SIGINT or SIGTERM.
pub fn run_with(cfg: &LiveConfig, registry: &[Register]) -> Result<LiveOutcome, LiveError> {
    let (_armed, group) = arm_hard_stop(cfg);
    install_signal_handler().map_err(LiveError::Usage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    let out = rt.block_on(run_async(cfg, registry, &group, signalled()));
    // Connection holders still parked on the runtime are dropped here.
    rt.shutdown_timeout(Duration::from_secs(2));
    out
}

/// Resolves with the number of the first SIGINT or SIGTERM (the harness's
/// handler records it).
pub async fn signalled() -> i32 {
    loop {
        if let Some(signal) = soak_harness::interrupt::requested() {
            return signal;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The four phases; `stop` resolving (with a signal's number) ends the load early
/// and the run is judged on what it sampled. `group` receives a spawned target's
/// process group for the hard stop.
pub async fn run_async(
    cfg: &LiveConfig,
    registry: &[Register],
    group: &AtomicI32,
    stop: impl Future<Output = i32>,
) -> Result<LiveOutcome, LiveError> {
    goose::reset_killswitch();
    let mut running = bring_up::bring_up(cfg, registry, group).await?;
    let tuned = sampling::tuned(cfg, &running);
    let cfg = tuned.as_ref().unwrap_or(cfg);
    let sampled = sampling::sample(cfg, &mut running, stop).await;
    let ended = wind_down::wind_down(cfg, &mut running, sampled).await;
    judge::judge_and_write(cfg, &running, ended)
}

/// The console, unless `--quiet`.
pub(crate) fn say(cfg: &LiveConfig, text: &str) {
    if !cfg.quiet {
        tell(text);
    }
}

/// A line of the run's outcome (the verdict, its requests, the report's
/// place), printed with `--quiet` too, as a virtual run's are.
pub(crate) fn tell(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Wall seconds as a duration option reads them, to the second: `95s`, `10m`.
pub(crate) fn secs_text(s: f64) -> String {
    soak_harness::units::duration_text(s.round(), soak_harness::units::DurationStyle::Flag)
}
