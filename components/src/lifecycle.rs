//! Owned lifecycles (seeds 002 and 003): a [`ResourceManager`] that owns the
//! intervals, spawned tasks, listeners and open streams a service starts, and
//! releases them in priority order on shutdown or when it is dropped.
//!
//! Seed 002 found intervals started in constructors with no handle, global
//! listeners never removed, console wrapping nested once per instance and a flush
//! timer that only `destroy()` stopped; its cure was an "enterprise-grade cleanup
//! manager" with "priority-based cleanup order". Seed 003's `ResourceManager`
//! "tracks timers, intervals, streams" and closes them on shutdown, which is what
//! keeps descriptors from leaking. This module is that manager; the services that
//! use it (and their leaky twins) live in [`services`].
//!
//! # Layout
//!
//! - this file: [`ResourceManager`], [`Stream`], [`Census`], [`spawn_interval`].
//! - [`bus`]: the event bus listeners subscribe to (the seed's `window`).
//! - [`console`]: the logger whose wrappers nest (the seed's `console.error`).
//! - [`services`]: voice session, error tracker, performance monitor.
//!
//! Everything runs on tokio's clock (`tokio::time`), so a paused runtime drives the
//! intervals at virtual times, and every task is `Send` so the runtime's task count
//! sees it.

pub mod bus;
pub mod console;
pub mod services;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use bus::{EventBus, ListenerId};

/// Locks `m`, ignoring poisoning: every critical section here leaves its data
/// consistent, so a panic elsewhere does not make it unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Live counts shared by every manager and service of one host: what a dashboard
/// (and the soak scenario's gauges) shows. Counts are kept by tokens that live
/// inside the resource itself, so an aborted task or a closed file is uncounted
/// the moment it is really gone, not when someone remembers to say so.
#[derive(Debug, Default)]
pub struct Census {
    intervals: AtomicUsize,
    managed_intervals: AtomicUsize,
    tasks: AtomicUsize,
    streams: AtomicUsize,
}

/// Which [`Census`] counter a token holds.
#[derive(Debug, Clone, Copy)]
enum Counter {
    Intervals,
    Tasks,
    Streams,
}

/// Decrements its counter when dropped.
#[derive(Debug)]
struct Token {
    census: Arc<Census>,
    counter: Counter,
}

impl Census {
    /// A fresh census with every count at 0.
    pub fn new() -> Arc<Self> {
        Arc::new(Census::default())
    }

    fn cell(&self, c: Counter) -> &AtomicUsize {
        match c {
            Counter::Intervals => &self.intervals,
            Counter::Tasks => &self.tasks,
            Counter::Streams => &self.streams,
        }
    }

    fn hold(self: &Arc<Self>, counter: Counter) -> Token {
        self.cell(counter).fetch_add(1, Ordering::Relaxed);
        Token {
            census: self.clone(),
            counter,
        }
    }

    /// Interval tasks alive, owned or not.
    pub fn intervals(&self) -> usize {
        self.intervals.load(Ordering::Relaxed)
    }

    /// Interval tasks a [`ResourceManager`] owns (and will stop).
    pub fn managed_intervals(&self) -> usize {
        self.managed_intervals.load(Ordering::Relaxed)
    }

    /// Interval tasks alive that no manager owns: seed 002's target is 0.
    pub fn unmanaged_intervals(&self) -> usize {
        self.intervals().saturating_sub(self.managed_intervals())
    }

    /// Tasks spawned through [`ResourceManager::spawn`] still alive.
    pub fn tasks(&self) -> usize {
        self.tasks.load(Ordering::Relaxed)
    }

    /// [`Stream`]s whose file is still open.
    pub fn open_streams(&self) -> usize {
        self.streams.load(Ordering::Relaxed)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.census
            .cell(self.counter)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Spawns a task that calls `tick` every `every` (first call one period from now),
/// counted in the census, and returns its handle. Whoever drops the handle
/// without aborting it has made an interval nobody can clear.
pub fn spawn_interval(
    census: &Arc<Census>,
    every: Duration,
    mut tick: impl FnMut() + Send + 'static,
) -> JoinHandle<()> {
    let token = census.hold(Counter::Intervals);
    tokio::spawn(async move {
        let _alive = token;
        let mut iv = interval_at(Instant::now() + every, every);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            iv.tick().await;
            tick();
        }
    })
}

/// An open file written by a service (a metrics log, a response stream). Clones
/// share the file; [`Stream::close`] closes it for all of them at once, which is
/// how an owner releases a descriptor that other code still references.
#[derive(Debug, Clone)]
pub struct Stream {
    file: Arc<Mutex<Option<(File, Token)>>>,
}

impl Stream {
    /// Opens `path` for appending (creating it if needed), counted in `census`.
    pub fn open(path: &Path, census: &Arc<Census>) -> io::Result<Self> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(Stream {
            file: Arc::new(Mutex::new(Some((file, census.hold(Counter::Streams))))),
        })
    }

    /// Writes all of `bytes`; an error once the stream is closed.
    pub fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match lock(&self.file).as_mut() {
            Some((f, _)) => f.write_all(bytes),
            None => Err(io::Error::new(io::ErrorKind::BrokenPipe, "stream closed")),
        }
    }

    /// Closes the file (its descriptor is released now). Returns whether it was open.
    pub fn close(&self) -> bool {
        lock(&self.file).take().is_some()
    }

    /// Whether the file is still open.
    pub fn is_open(&self) -> bool {
        lock(&self.file).is_some()
    }
}

/// What kind of resource a manager owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A periodic task from [`spawn_interval`].
    Interval,
    /// Any other spawned task.
    Task,
    /// A subscription on an [`EventBus`].
    Listener,
    /// An open [`Stream`].
    Stream,
    /// A custom release action (restore a wrapped logger, clear a map).
    Hook,
}

impl Kind {
    /// Release order when nothing else is said: listeners first (no new work comes
    /// in), then timers and tasks (no more writes), then streams (flushed writes
    /// land before the descriptor closes), hooks last.
    pub fn default_priority(self) -> u8 {
        match self {
            Kind::Listener => 40,
            Kind::Interval | Kind::Task => 30,
            Kind::Stream => 20,
            Kind::Hook => 10,
        }
    }
}

/// One resource released by [`ResourceManager::shutdown`], in release order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// What it was.
    pub kind: Kind,
    /// The owner's label for it (`"cleanup"`, `"flush"`, `"error"`...).
    pub label: &'static str,
    /// Its priority: higher goes first.
    pub priority: u8,
}

enum Release {
    Task(JoinHandle<()>),
    Listener(Arc<EventBus>, ListenerId),
    Stream(Stream),
    Hook(Box<dyn FnOnce() + Send>),
}

struct Entry {
    what: Released,
    release: Release,
}

impl Entry {
    fn release(self, census: &Census) -> Released {
        match self.release {
            Release::Task(h) => {
                if self.what.kind == Kind::Interval {
                    census.managed_intervals.fetch_sub(1, Ordering::Relaxed);
                }
                h.abort();
            }
            Release::Listener(bus, id) => {
                bus.unsubscribe(id);
            }
            Release::Stream(s) => {
                s.close();
            }
            Release::Hook(f) => f(),
        }
        self.what
    }
}

/// Owns a service's resources and releases them, highest priority first (newest
/// first within a priority), on [`shutdown`](Self::shutdown) or on drop: the
/// drop guard (mini-redis `DbDropGuard`) makes forgetting to shut down harmless.
pub struct ResourceManager {
    census: Arc<Census>,
    entries: Mutex<Vec<Entry>>,
}

impl std::fmt::Debug for ResourceManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceManager")
            .field("owned", &self.len())
            .finish_non_exhaustive()
    }
}

impl ResourceManager {
    /// An empty manager counting into `census`.
    pub fn new(census: &Arc<Census>) -> Self {
        ResourceManager {
            census: census.clone(),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// The census this manager counts into.
    pub fn census(&self) -> &Arc<Census> {
        &self.census
    }

    fn push(&self, kind: Kind, label: &'static str, priority: u8, release: Release) {
        lock(&self.entries).push(Entry {
            what: Released {
                kind,
                label,
                priority,
            },
            release,
        });
    }

    /// Starts an interval calling `tick` every `every` and owns it.
    pub fn interval(
        &self,
        label: &'static str,
        every: Duration,
        tick: impl FnMut() + Send + 'static,
    ) {
        let h = spawn_interval(&self.census, every, tick);
        self.own_interval(label, h);
    }

    /// Takes ownership of an interval started with [`spawn_interval`].
    pub fn own_interval(&self, label: &'static str, handle: JoinHandle<()>) {
        self.census
            .managed_intervals
            .fetch_add(1, Ordering::Relaxed);
        let p = Kind::Interval.default_priority();
        self.push(Kind::Interval, label, p, Release::Task(handle));
    }

    /// Spawns `fut` as a task this manager owns (aborted on shutdown).
    pub fn spawn(
        &self,
        label: &'static str,
        fut: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let token = self.census.hold(Counter::Tasks);
        let h = tokio::spawn(async move {
            let _alive = token;
            fut.await;
        });
        self.push(
            Kind::Task,
            label,
            Kind::Task.default_priority(),
            Release::Task(h),
        );
    }

    /// Subscribes `callback` to `topic` on `bus`; the listener is removed on shutdown.
    pub fn listen(
        &self,
        label: &'static str,
        bus: &Arc<EventBus>,
        topic: bus::Topic,
        callback: impl Fn(&bus::Event) + Send + Sync + 'static,
    ) -> ListenerId {
        let id = bus.subscribe(topic, callback);
        self.push(
            Kind::Listener,
            label,
            Kind::Listener.default_priority(),
            Release::Listener(bus.clone(), id),
        );
        id
    }

    /// Owns `stream`: it is closed on shutdown even if clones are still held.
    pub fn own_stream(&self, label: &'static str, stream: Stream) {
        let p = Kind::Stream.default_priority();
        self.push(Kind::Stream, label, p, Release::Stream(stream));
    }

    /// Runs `release` on shutdown, at `priority` (see [`Kind::default_priority`]).
    pub fn on_shutdown(
        &self,
        label: &'static str,
        priority: u8,
        release: impl FnOnce() + Send + 'static,
    ) {
        self.push(
            Kind::Hook,
            label,
            priority,
            Release::Hook(Box::new(release)),
        );
    }

    /// Resources currently owned.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Whether nothing is owned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Owned resources of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|e| e.what.kind == kind)
            .count()
    }

    /// Releases everything, highest priority first and newest first within a
    /// priority; returns what was released in that order. Idempotent. Aborted tasks
    /// are gone once the runtime next runs (well within seed 002's 5 s).
    pub fn shutdown(&self) -> Vec<Released> {
        let mut entries = std::mem::take(&mut *lock(&self.entries));
        // Stable sort on descending priority keeps insertion order; reverse first
        // so that within a priority the newest goes first.
        entries.reverse();
        entries.sort_by_key(|e| std::cmp::Reverse(e.what.priority));
        entries
            .into_iter()
            .map(|e| e.release(&self.census))
            .collect()
    }
}

impl Drop for ResourceManager {
    fn drop(&mut self) {
        self.shutdown();
    }
}
