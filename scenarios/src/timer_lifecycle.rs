//! `timer-lifecycle`: services created and shut down thousands of times a day, to
//! catch what seed 002 found (intervals with no handle, listeners never removed,
//! wrappers nested per instance, a flush timer never stopped) and seed 003's
//! stream that is never closed.
//!
//! The day: voice calls arrive on a diurnal curve (36 an hour at 02:00, 180 an
//! hour at 14:00, about 2,600 a day); each call runs a [`VoiceSession`] for about
//! four minutes, buffering a 160-byte audio frame a second, and one call in twenty
//! loses its upstream and reconnects (a second session). Every 20 minutes a
//! deploy-style restart shuts the monitoring stack down (an [`ErrorTracker`] and a
//! [`PerformanceMonitor`]) and starts a new one: 72 stacks a day. The app's
//! global events (a call answered, hung up, failed; navigation) go through the
//! shared event bus and the console, so leaked listeners and wrappers keep doing
//! work.
//!
//! Traffic kinds (`--mute`, `soak shrink`): `calls`, `reconnects` (a call's
//! second session), `deploys` (the monitoring stack's restarts).
//!
//! Measured: alive tasks and open descriptors (harness columns, 1/h budgets each)
//! and the gauges `listeners` and `unmanaged_intervals` (1/h budgets: seed 002's
//! targets are "0 duplicate listeners", "0 unmanaged intervals"), `wrapper_depth`
//! (1/h), and, for the chart, `managed_intervals`, `open_streams`, `calls`. The
//! teardown check (seed 002's "clean shutdown within 5 seconds") wants tasks and
//! descriptors back at their baseline and every owned-resource gauge at 0.
//!
//! The leaky twin leaks about 2,700 interval tasks a day (one per session) and
//! one task, one descriptor, five listeners and one wrapper layer per stack.
//! A parked interval task costs about 500 bytes, so its heap grows far less than
//! the 1 MB/h budget (about 60 KB/h): the heap budget alone would pass it, the
//! task budget fails it.

use std::sync::Arc;
use std::time::Duration;

use soak_components::lifecycle::bus::{Event, Topic};
use soak_components::lifecycle::services::{ErrorTracker, Host, PerformanceMonitor, VoiceSession};
use soak_harness::traffic::{mins, secs, Diurnal, Rng, Shape};
use soak_harness::{Ctx, Gauge, Kind, RunFuture, Scenario};

/// Calls per second at the quietest hour (02:00).
pub const CALL_TROUGH: f64 = 0.01;
/// Calls per second at the busiest hour (14:00).
pub const CALL_PEAK: f64 = 0.05;
/// Mean call length.
pub const MEAN_CALL: Duration = mins(4);
/// Share of calls whose upstream drops once and reconnects.
pub const RECONNECT_SHARE: f64 = 0.05;
/// A deploy-style restart of the monitoring stack this often.
pub const RESTART_EVERY: Duration = mins(20);
/// Bytes of audio per call per second.
pub const FRAME_BYTES: usize = 160;
/// Budget of the judged gauges (`listeners`, `unmanaged_intervals`,
/// `wrapper_depth`), per hour: "no sustained growth".
pub const GAUGE_BUDGET: f64 = 1.0;

/// The timer-lifecycle scenario.
#[derive(Debug, Default)]
pub struct TimerLifecycle;

struct Call {
    session: VoiceSession,
    started: Duration,
    ends: Duration,
    reconnect_at: Option<Duration>,
}

/// The monitoring stack a deploy restarts.
struct Stack {
    tracker: ErrorTracker,
    monitor: Option<PerformanceMonitor>,
}

impl Stack {
    fn start(host: &Host, open_errors: &mut u64) -> Self {
        let tracker = ErrorTracker::start(host);
        // Running out of descriptors must not stop the day: count it and go on.
        let monitor = PerformanceMonitor::start(host)
            .inspect_err(|_| *open_errors += 1)
            .ok();
        Stack { tracker, monitor }
    }

    fn record(&self, name: &str, value: f64) {
        if let Some(m) = &self.monitor {
            m.record(name, value);
        }
    }

    fn shutdown(self) {
        if let Some(m) = self.monitor {
            m.shutdown();
        }
        self.tracker.shutdown();
    }
}

fn emit(host: &Host, topic: Topic, detail: &'static str) {
    host.bus.emit(Event { topic, detail });
}

fn new_call(host: &Host, rng: &mut Rng, t: Duration, reconnects: &Kind) -> Call {
    let len = secs(10) + Duration::from_secs_f64(rng.exp(1.0 / MEAN_CALL.as_secs_f64()));
    // Decided now, counted when it comes.
    let reconnect_at = (!reconnects.muted() && rng.chance(RECONNECT_SHARE * reconnects.scale()))
        .then(|| t + len.mul_f64(rng.unit()));
    Call {
        session: VoiceSession::start(host),
        started: t,
        ends: t + len,
        reconnect_at,
    }
}

impl Scenario for TimerLifecycle {
    fn name(&self) -> &'static str {
        "timer-lifecycle"
    }

    fn about(&self) -> &'static str {
        "voice sessions, error trackers, perf monitors started/stopped all day (seeds 002, 003); \
         leaky leaks tasks, fds, listeners"
    }

    /// A monitoring stack lives [`RESTART_EVERY`] (20 minutes) before a deploy
    /// replaces it; voice frames 30 s, calls about 4 minutes.
    fn retention(&self) -> Option<Duration> {
        Some(RESTART_EVERY)
    }

    fn wall_guess(&self) -> Option<Duration> {
        // The slower variant's 24 h in docs/performance.md (2026-11-28).
        Some(Duration::from_millis(1000))
    }

    fn run<'a>(&'a self, ctx: &'a Ctx) -> RunFuture<'a> {
        Box::pin(async move {
            let host = Host::new().leaky(ctx.leaky());
            let call_arrivals = ctx.kind(
                "calls",
                Shape::new(Diurnal::new(CALL_TROUGH, CALL_PEAK, 14.0)),
            )?;
            let reconnects = ctx.kind("reconnects", None)?;
            let deploys = ctx.kind("deploys", None)?;

            // Gauges hold their own Arcs: the teardown check reads them after run(),
            // and the owned ones must be back at 0 by then.
            let bus = host.bus.clone();
            let listeners = Gauge::new("listeners", move || bus.listener_count() as f64);
            ctx.gauge(listeners.budget(GAUGE_BUDGET).at_rest(0.0))?;
            let census = host.census.clone();
            let unmanaged = Gauge::new("unmanaged_intervals", move || {
                census.unmanaged_intervals() as f64
            });
            ctx.gauge(unmanaged.budget(GAUGE_BUDGET).at_rest(0.0))?;
            let console = host.console.clone();
            let depth = Gauge::new("wrapper_depth", move || console.depth() as f64);
            ctx.gauge(depth.budget(GAUGE_BUDGET).at_rest(0.0))?;
            let census = host.census.clone();
            ctx.gauge(
                Gauge::new("managed_intervals", move || {
                    census.managed_intervals() as f64
                })
                .at_rest(0.0),
            )?;
            let census = host.census.clone();
            ctx.gauge(
                Gauge::new("open_streams", move || census.open_streams() as f64).at_rest(0.0),
            )?;
            let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let a = active.clone();
            ctx.gauge(Gauge::new("calls", move || {
                a.load(std::sync::atomic::Ordering::Relaxed) as f64
            }))?;

            let mut rng = ctx.rng("calls");
            let mut open_errors = 0u64;
            let mut stack = Stack::start(&host, &mut open_errors);
            let mut next_restart = RESTART_EVERY;
            let mut calls: Vec<Call> = Vec::new();
            let (mut sessions, mut reconnected, mut restarts, mut peak) =
                (0u64, 0u64, 0u64, 0usize);

            let mut ticker = ctx.ticker(secs(1));
            while let Some(t) = ticker.next().await {
                if t >= next_restart {
                    next_restart += RESTART_EVERY;
                    if deploys.take(1) == 1 {
                        // Deploy: the old stack stops before the new one starts.
                        stack.shutdown();
                        stack = Stack::start(&host, &mut open_errors);
                        restarts += 1;
                        emit(&host, Topic::PopState, "deployed");
                    }
                }
                let arriving = call_arrivals.count(&mut rng, t, secs(1));
                for _ in 0..arriving {
                    calls.push(new_call(&host, &mut rng, t, &reconnects));
                    emit(&host, Topic::Focus, "call answered");
                }
                sessions += arriving;

                let mut i = 0;
                while i < calls.len() {
                    let c = &mut calls[i];
                    if c.reconnect_at.is_some_and(|at| at <= t) {
                        c.reconnect_at = None;
                        let fresh = VoiceSession::start(&host);
                        std::mem::replace(&mut c.session, fresh).shutdown();
                        reconnects.record(1);
                        reconnected += 1;
                        sessions += 1;
                        emit(&host, Topic::Error, "upstream disconnected");
                        host.console.error("voice: upstream dropped, reconnecting");
                    }
                    if c.ends <= t {
                        let c = calls.swap_remove(i);
                        stack.record("call_seconds", (t - c.started).as_secs_f64());
                        c.session.shutdown();
                        emit(&host, Topic::Blur, "call ended");
                        continue;
                    }
                    c.session.audio(FRAME_BYTES);
                    i += 1;
                }
                peak = peak.max(calls.len());
                active.store(calls.len(), std::sync::atomic::Ordering::Relaxed);
            }

            // End of the day: hang up, stop the stack; the harness checks teardown.
            for c in calls.drain(..) {
                c.session.shutdown();
            }
            active.store(0, std::sync::atomic::Ordering::Relaxed);
            stack.shutdown();
            ctx.set_summary("voice_sessions", sessions);
            ctx.set_summary("reconnects", reconnected);
            ctx.set_summary("restarts", restarts);
            ctx.set_summary("lifecycles", sessions + 2 * (restarts + 1));
            ctx.set_summary("peak_calls", peak as u64);
            ctx.set_summary("open_errors", open_errors);
            ctx.set_summary("console_lines", host.console.lines_written());
            Ok(())
        })
    }
}
