//! The services of seed 002, each on its own [`ResourceManager`]: a voice session
//! with a cleanup interval, an error tracker with five listeners and a console
//! wrapper, a performance monitor with a flush timer writing to an open stream
//! (seed 003's descriptor).
//!
//! The leaky twin of each differs only where a `// LEAK:` comment quotes the seed:
//! the resource is started exactly as in the fixed code but never handed to the
//! manager, so shutting the service down leaves it running or open.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::bus::{Event, EventBus, Topic};
use super::console::Console;
use super::{lock, spawn_interval, Census, Kind, Released, ResourceManager, Stream};

/// Seed 002: `setInterval(() => this.cleanupInactiveSessions(), 60000)`.
pub const VOICE_CLEANUP_EVERY: Duration = Duration::from_secs(60);
/// Audio older than this is dropped by the voice cleanup.
pub const VOICE_FRAME_TTL: Duration = Duration::from_secs(30);
/// How often the performance monitor flushes its buffer to its stream.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);
/// Breadcrumbs an error tracker keeps (a ring: the newest win).
pub const BREADCRUMBS: usize = 50;

/// What services live in: fixed or leaky twins, the shared event bus (the
/// seed's `window`), the console, the census every manager counts into, and the
/// file the performance monitor writes to.
#[derive(Debug, Clone)]
pub struct Host {
    /// Build the leaky twins of the services (see [`Host::leaky`]).
    pub leaky: bool,
    /// Global events.
    pub bus: Arc<EventBus>,
    /// The wrapped logger.
    pub console: Arc<Console>,
    /// Live counts.
    pub census: Arc<Census>,
    /// Where performance monitors write (`/dev/null` by default: a real
    /// descriptor, no disk).
    pub sink: PathBuf,
}

impl Host {
    /// A fresh host for the fixed services, writing metrics to `/dev/null`.
    pub fn new() -> Self {
        Host {
            leaky: false,
            bus: EventBus::new(),
            console: Console::new(),
            census: Census::new(),
            sink: PathBuf::from("/dev/null"),
        }
    }

    /// With `true`, services started on this host are the leaky twins: every
    /// resource is started as in the fixed code but never handed to the manager.
    pub fn leaky(mut self, leaky: bool) -> Self {
        self.leaky = leaky;
        self
    }
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

#[derive(Debug, Default)]
struct VoiceState {
    frames: VecDeque<(Instant, Box<[u8]>)>,
    bytes: usize,
    stopped: bool,
}

impl VoiceState {
    fn cleanup_inactive(&mut self, now: Instant) {
        while let Some((at, _)) = self.frames.front() {
            if now.saturating_duration_since(*at) < VOICE_FRAME_TTL {
                break;
            }
            if let Some((_, f)) = self.frames.pop_front() {
                self.bytes -= f.len();
            }
        }
    }

    fn stop(&mut self) {
        // Seed 002's `stopSession`: the audio goes, and with it the capacity.
        *self = VoiceState {
            stopped: true,
            ..VoiceState::default()
        };
    }
}

/// One call's voice session (seed 002's `VoiceWebSocketServer`): buffers audio
/// frames and prunes them every minute.
#[derive(Debug)]
pub struct VoiceSession {
    state: Arc<Mutex<VoiceState>>,
    resources: ResourceManager,
}

impl VoiceSession {
    /// Starts a session and its cleanup interval.
    pub fn start(host: &Host) -> Self {
        let state = Arc::new(Mutex::new(VoiceState::default()));
        let resources = ResourceManager::new(&host.census);
        let s = state.clone();
        let cleanup = spawn_interval(&host.census, VOICE_CLEANUP_EVERY, move || {
            lock(&s).cleanup_inactive(Instant::now());
        });
        if host.leaky {
            // LEAK: seed 002 #1, "setInterval(() => this.cleanupInactiveSessions(),
            // 60000)" — "No reference stored, cannot be cleared!"
            drop(cleanup);
        } else {
            resources.own_interval("cleanup", cleanup);
        }
        VoiceSession { state, resources }
    }

    /// Buffers one audio frame of `len` bytes.
    pub fn audio(&self, len: usize) {
        let mut s = lock(&self.state);
        if s.stopped {
            return;
        }
        s.bytes += len;
        s.frames
            .push_back((Instant::now(), vec![0x55; len].into_boxed_slice()));
    }

    /// Bytes of audio buffered.
    pub fn buffered_bytes(&self) -> usize {
        lock(&self.state).bytes
    }

    /// Stops the session and releases what its manager owns.
    pub fn shutdown(self) -> Vec<Released> {
        lock(&self.state).stop();
        self.resources.shutdown()
    }
}

#[derive(Debug, Default)]
struct Breadcrumbs {
    ring: VecDeque<(&'static str, Box<str>)>,
    seen: u64,
}

impl Breadcrumbs {
    fn add(&mut self, category: &'static str, message: &str) {
        if self.ring.len() == BREADCRUMBS {
            self.ring.pop_front();
        }
        let end = message
            .char_indices()
            .nth(64)
            .map_or(message.len(), |(i, _)| i);
        self.ring.push_back((category, message[..end].into()));
        self.seen += 1;
    }
}

/// Seed 002's `ErrorTracker`: five global listeners and a wrapper around
/// `console.error`, all feeding a ring of breadcrumbs.
#[derive(Debug)]
pub struct ErrorTracker {
    crumbs: Arc<Mutex<Breadcrumbs>>,
    resources: ResourceManager,
}

impl ErrorTracker {
    /// Attaches the listeners and wraps the console.
    pub fn start(host: &Host) -> Self {
        let crumbs = Arc::new(Mutex::new(Breadcrumbs::default()));
        let resources = ResourceManager::new(&host.census);
        for topic in Topic::ALL {
            let c = crumbs.clone();
            let on_event = move |e: &Event| lock(&c).add("event", e.detail);
            if host.leaky {
                // LEAK: seed 002 #3, "5 global listeners with NO cleanup!" —
                // "Multiple ErrorTracker instances create duplicate listeners".
                host.bus.subscribe(topic, on_event);
            } else {
                resources.listen("listener", &host.bus, topic, on_event);
            }
        }
        let c = crumbs.clone();
        let hook = move |line: &str| lock(&c).add("console", line);
        if host.leaky {
            // LEAK: seed 002 #6, "Multiple ErrorTracker instances wrap console
            // methods multiple times. Nested interceptors accumulate (3 instances =
            // 3 layers)" — no isWrapped check and no unwrap.
            host.console.wrap(hook);
        } else if !host.console.is_wrapped() {
            let token = host.console.wrap(hook);
            let console = host.console.clone();
            resources.on_shutdown("console", Kind::Hook.default_priority(), move || {
                console.unwrap(token);
            });
        }
        ErrorTracker { crumbs, resources }
    }

    /// Breadcrumbs recorded so far (events and console lines).
    pub fn breadcrumbs_seen(&self) -> u64 {
        lock(&self.crumbs).seen
    }

    /// Removes the listeners, restores the console.
    pub fn shutdown(self) -> Vec<Released> {
        self.resources.shutdown()
    }
}

/// Seed 002's `PerformanceMonitor`: buffers metrics and flushes them to an open
/// stream on a timer (seed 003's stream that must be closed).
#[derive(Debug)]
pub struct PerformanceMonitor {
    buffer: Arc<Mutex<String>>,
    stream: Stream,
    resources: ResourceManager,
}

fn flush(buffer: &Mutex<String>, stream: &Stream) {
    let mut b = lock(buffer);
    if !b.is_empty() {
        // A closed stream or a full disk loses a batch of metrics, nothing more.
        let _ = stream.write_all(b.as_bytes());
        b.clear();
    }
}

impl PerformanceMonitor {
    /// Opens the metrics stream at `host.sink` and starts the flush timer.
    pub fn start(host: &Host) -> io::Result<Self> {
        let stream = Stream::open(&host.sink, &host.census)?;
        let buffer = Arc::new(Mutex::new(String::new()));
        let resources = ResourceManager::new(&host.census);
        if host.leaky {
            // LEAK: seed 003, "HTTP streams not properly closed on disconnect/
            // error": the stream is never registered with the ResourceManager.
        } else {
            resources.own_stream("metrics", stream.clone());
        }
        let (b, s) = (buffer.clone(), stream.clone());
        let timer = spawn_interval(&host.census, FLUSH_EVERY, move || flush(&b, &s));
        if host.leaky {
            // LEAK: seed 002 #7, "FlushTimer runs indefinitely if instance not
            // explicitly destroyed" — the timer (and the stream it writes to) outlive
            // the monitor.
            drop(timer);
        } else {
            resources.own_interval("flush", timer);
        }
        Ok(PerformanceMonitor {
            buffer,
            stream,
            resources,
        })
    }

    /// Records one measurement (flushed on the next tick).
    pub fn record(&self, name: &str, value: f64) {
        use std::fmt::Write;
        let _ = writeln!(lock(&self.buffer), "{name} {value:.3}");
    }

    /// Flushes what is buffered, stops the timer and closes the stream.
    pub fn shutdown(self) -> Vec<Released> {
        flush(&self.buffer, &self.stream);
        self.resources.shutdown()
    }
}
