//! Each lifecycle service, fixed and leaky, in virtual time with exact counts:
//! alive tokio tasks (the runtime's own metric), listeners on the bus, console
//! wrapper depth, and open descriptors in `/proc/self/fd`. One test per service
//! and variant: every leaky twin is flagged by the count its bug moves, every fixed
//! one returns to its baseline within seed 002's 5 seconds of shutdown.

use std::time::Duration;

use soak_components::lifecycle::bus::{Event, EventBus, Topic};
use soak_components::lifecycle::services::{
    ErrorTracker, Host, PerformanceMonitor, VoiceSession, FLUSH_EVERY, VOICE_CLEANUP_EVERY,
};
use soak_components::lifecycle::{Census, Kind, ResourceManager, Stream};

const INSTANCES: usize = 10;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Open descriptors, not counting the one that lists the directory.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}

/// Seed 002's "clean shutdown within 5 seconds", in virtual time.
async fn grace() {
    tokio::time::sleep(Duration::from_secs(5)).await;
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

fn emit_all(bus: &EventBus) -> usize {
    Topic::ALL
        .iter()
        .map(|&topic| {
            bus.emit(Event {
                topic,
                detail: "test",
            })
        })
        .sum()
}

/// Starts and shuts down `INSTANCES` voice sessions, returning the alive-task
/// delta after shutdown and the unmanaged intervals left.
async fn voice_lifecycles(leaky: bool) -> (usize, usize) {
    let host = Host::new().leaky(leaky);
    let base = alive_tasks();
    let sessions: Vec<VoiceSession> = (0..INSTANCES).map(|_| VoiceSession::start(&host)).collect();
    assert_eq!(
        alive_tasks(),
        base + INSTANCES,
        "one cleanup interval per session"
    );
    assert_eq!(host.census.intervals(), INSTANCES);

    // The cleanup interval really runs at virtual times: audio older than 30 s
    // goes at the first tick after it expires.
    for s in &sessions {
        s.audio(160);
    }
    tokio::time::sleep(Duration::from_secs(31)).await;
    for s in &sessions {
        s.audio(160);
        assert_eq!(s.buffered_bytes(), 320);
    }
    tokio::time::sleep(VOICE_CLEANUP_EVERY - Duration::from_secs(30)).await;
    for s in &sessions {
        assert_eq!(
            s.buffered_bytes(),
            160,
            "first frame pruned at the 60 s tick"
        );
    }

    for s in sessions {
        s.shutdown();
    }
    grace().await;
    (alive_tasks() - base, host.census.unmanaged_intervals())
}

#[tokio::test(start_paused = true)]
async fn voice_session_fixed_stops_its_cleanup_interval() {
    let (tasks, unmanaged) = voice_lifecycles(false).await;
    assert_eq!(tasks, 0, "no task survives shutdown");
    assert_eq!(unmanaged, 0);
}

#[tokio::test(start_paused = true)]
async fn voice_session_leaky_leaves_one_task_per_session() {
    let (tasks, unmanaged) = voice_lifecycles(true).await;
    assert_eq!(
        tasks, INSTANCES,
        "every cleanup interval outlives its session"
    );
    assert_eq!(unmanaged, INSTANCES);
}

/// Runs `INSTANCES` error trackers one after another (a restart each), returning
/// listeners, console wrapper depth and lines written after the last shutdown.
async fn tracker_lifecycles(leaky: bool) -> (usize, usize, u64) {
    let host = Host::new().leaky(leaky);
    let base = alive_tasks();
    for i in 0..INSTANCES {
        let tracker = ErrorTracker::start(&host);
        let expected_listeners = if leaky { 5 * (i + 1) } else { 5 };
        assert_eq!(host.bus.listener_count(), expected_listeners);
        assert_eq!(host.bus.count(Topic::Focus), expected_listeners / 5);
        assert_eq!(emit_all(&host.bus), expected_listeners);
        assert_eq!(
            tracker.breadcrumbs_seen(),
            5,
            "the live tracker hears each event once"
        );
        let lines = host.console.lines_written();
        host.console.error("boom");
        assert_eq!(
            host.console.lines_written(),
            lines + 1,
            "a line is written once"
        );
        assert_eq!(
            tracker.breadcrumbs_seen(),
            6,
            "and recorded by the live tracker"
        );
        tracker.shutdown();
    }
    grace().await;
    assert_eq!(alive_tasks(), base, "the error tracker starts no tasks");
    (
        host.bus.listener_count(),
        host.console.depth(),
        host.console.lines_written(),
    )
}

#[tokio::test(start_paused = true)]
async fn error_tracker_fixed_removes_listeners_and_unwraps_console() {
    let (listeners, depth, lines) = tracker_lifecycles(false).await;
    assert_eq!(listeners, 0, "all five listeners removed each time");
    assert_eq!(depth, 0, "console restored");
    assert_eq!(lines, INSTANCES as u64);
}

#[tokio::test(start_paused = true)]
async fn error_tracker_leaky_keeps_listeners_and_nests_wrappers() {
    let (listeners, depth, _) = tracker_lifecycles(true).await;
    assert_eq!(
        listeners,
        5 * INSTANCES,
        "five duplicate listeners per instance"
    );
    assert_eq!(depth, INSTANCES, "one wrapper layer per instance");
}

/// Starts `INSTANCES` performance monitors writing to a temp file, records and
/// flushes, shuts them down; returns the alive-task and descriptor deltas after
/// shutdown, the streams left open, and the file's contents.
async fn monitor_lifecycles(leaky: bool) -> (usize, usize, usize, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("metrics.log");
    let mut host = Host::new().leaky(leaky);
    host.sink = path.clone();
    let (tasks0, fds0) = (alive_tasks(), open_fds());
    let monitors: Vec<PerformanceMonitor> = (0..INSTANCES)
        .map(|_| PerformanceMonitor::start(&host).expect("open metrics stream"))
        .collect();
    assert_eq!(alive_tasks(), tasks0 + INSTANCES, "one flush timer each");
    assert_eq!(open_fds(), fds0 + INSTANCES, "one open stream each");
    assert_eq!(host.census.open_streams(), INSTANCES);

    monitors[0].record("latency_ms", 12.5);
    tokio::time::sleep(FLUSH_EVERY + Duration::from_secs(1)).await;
    let flushed = std::fs::read_to_string(&path).expect("metrics file");
    assert_eq!(
        flushed, "latency_ms 12.500\n",
        "the flush timer wrote the batch"
    );
    monitors[1].record("on_shutdown", 1.0);

    for m in monitors {
        m.shutdown();
    }
    grace().await;
    let contents = std::fs::read_to_string(&path).expect("metrics file");
    (
        alive_tasks() - tasks0,
        open_fds() - fds0,
        host.census.open_streams(),
        contents,
    )
}

#[tokio::test(start_paused = true)]
async fn performance_monitor_fixed_stops_timer_and_closes_stream() {
    let (tasks, fds, streams, contents) = monitor_lifecycles(false).await;
    assert_eq!(tasks, 0, "flush timers stopped");
    assert_eq!(fds, 0, "descriptors closed");
    assert_eq!(streams, 0);
    assert!(
        contents.ends_with("on_shutdown 1.000\n"),
        "final flush on shutdown: {contents:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn performance_monitor_leaky_keeps_timer_and_descriptor() {
    let (tasks, fds, streams, _) = monitor_lifecycles(true).await;
    assert_eq!(tasks, INSTANCES, "every flush timer still running");
    assert_eq!(fds, INSTANCES, "every stream still open");
    assert_eq!(streams, INSTANCES);
}

#[tokio::test(start_paused = true)]
async fn manager_releases_in_priority_order_and_on_drop() {
    let census = Census::new();
    let bus = EventBus::new();
    let base = alive_tasks();
    let m = ResourceManager::new(&census);
    let stream = Stream::open(std::path::Path::new("/dev/null"), &census).expect("/dev/null");
    m.on_shutdown("hook", Kind::Hook.default_priority(), || {});
    m.own_stream("stream", stream.clone());
    m.interval("interval", Duration::from_secs(1), || {});
    m.spawn("task", std::future::pending());
    m.listen("listener", &bus, Topic::Error, |_| {});
    assert_eq!(m.len(), 5);
    assert_eq!(alive_tasks(), base + 2);
    let order: Vec<(Kind, &str)> = m.shutdown().iter().map(|r| (r.kind, r.label)).collect();
    assert_eq!(
        order,
        [
            (Kind::Listener, "listener"),
            (Kind::Task, "task"),
            (Kind::Interval, "interval"),
            (Kind::Stream, "stream"),
            (Kind::Hook, "hook"),
        ],
        "listeners, then newest task first, then streams, then hooks"
    );
    assert!(m.shutdown().is_empty(), "idempotent");
    assert!(!stream.is_open(), "a clone sees the stream closed");
    assert!(stream.write_all(b"x").is_err());
    grace().await;
    assert_eq!(alive_tasks(), base);
    assert_eq!(bus.listener_count(), 0);

    // The drop guard: forgetting to shut down releases everything anyway.
    {
        let g = ResourceManager::new(&census);
        g.interval("interval", Duration::from_secs(1), || {});
        g.listen("listener", &bus, Topic::Blur, |_| {});
        assert_eq!(census.managed_intervals(), 1);
    }
    grace().await;
    assert_eq!(alive_tasks(), base);
    assert_eq!(bus.listener_count(), 0);
    assert_eq!(
        (
            census.intervals(),
            census.managed_intervals(),
            census.open_streams()
        ),
        (0, 0, 0)
    );
}
