//! The logger services wrap: seed 002's `console.error`, which every ErrorTracker
//! replaced with a closure calling the previous one, so "3 instances = 3 layers"
//! and each call walks all of them. Here the wrappers really nest: each layer is
//! a boxed closure that calls its hook and then the sink it replaced, and
//! [`Console::depth`] counts the layers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::lock;

/// Where a line goes: the base sink or a wrapper around it.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Identifies one wrapping, for [`Console::unwrap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrapToken(u64);

struct Inner {
    current: Sink,
    /// For each layer, innermost first: its token and the sink it replaced.
    layers: Vec<(WrapToken, Sink)>,
    next: u64,
}

/// A process-wide logger whose `error` method can be wrapped.
pub struct Console {
    inner: Mutex<Inner>,
    lines: Arc<AtomicU64>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("depth", &self.depth())
            .field("lines", &self.lines_written())
            .finish()
    }
}

impl Console {
    /// A console whose base sink only counts lines (no output in soak runs).
    pub fn new() -> Arc<Self> {
        let lines = Arc::new(AtomicU64::new(0));
        let l = lines.clone();
        let base: Sink = Arc::new(move |_line: &str| {
            l.fetch_add(1, Ordering::Relaxed);
        });
        Arc::new(Console {
            inner: Mutex::new(Inner {
                current: base,
                layers: Vec::new(),
                next: 0,
            }),
            lines,
        })
    }

    /// Logs `line` through every wrapper down to the base sink.
    pub fn error(&self, line: &str) {
        let sink = lock(&self.inner).current.clone();
        sink(line);
    }

    /// Replaces the sink with one that calls `hook` and then the previous sink.
    pub fn wrap(&self, hook: impl Fn(&str) + Send + Sync + 'static) -> WrapToken {
        let mut g = lock(&self.inner);
        g.next += 1;
        let token = WrapToken(g.next);
        let prev = g.current.clone();
        let inner = prev.clone();
        g.current = Arc::new(move |line: &str| {
            hook(line);
            inner(line);
        });
        g.layers.push((token, prev));
        token
    }

    /// Removes the wrapping `token` made if it is the outermost one, restoring the
    /// sink it replaced; returns whether it did. (Inner layers cannot be taken
    /// out: the layers above captured them. That is why the fix wraps only once.)
    pub fn unwrap(&self, token: WrapToken) -> bool {
        let mut g = lock(&self.inner);
        match g.layers.last() {
            Some((t, _)) if *t == token => {
                if let Some((_, prev)) = g.layers.pop() {
                    g.current = prev;
                }
                true
            }
            _ => false,
        }
    }

    /// Wrapper layers between a caller and the base sink.
    pub fn depth(&self) -> usize {
        lock(&self.inner).layers.len()
    }

    /// Whether anyone has wrapped the console.
    pub fn is_wrapped(&self) -> bool {
        self.depth() > 0
    }

    /// Lines that reached the base sink.
    pub fn lines_written(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }
}
