//! Samplers: live heap, RSS, alive tokio tasks, open file descriptors, and the
//! named gauges a subject registers.
//!
//! [`read`] takes everything at one instant into a [`Reading`]. The fixed
//! columns come first in `samples.csv` (see [`FIXED_COLUMNS`]), then one column per
//! gauge in registration order.

use std::fmt;
use std::rc::Rc;

use crate::alloc;

/// The columns every `samples.csv` starts with, in order.
pub const FIXED_COLUMNS: [&str; 7] = [
    "virtual_seconds",
    "live_bytes",
    "live_blocks",
    "rss_bytes",
    "alive_tasks",
    "open_fds",
    "load_events",
];

/// A named reading a subject registers: entries in a map, connected clients, ...
pub struct Gauge {
    /// Column name in `samples.csv` (`[a-z0-9_]`).
    pub name: String,
    /// Sustained growth allowed per virtual hour; `None` reports growth without
    /// judging it.
    pub budget_per_hour: Option<f64>,
    /// Highest value allowed once the subjects are shut down (teardown check);
    /// `None` reports the value without judging it.
    pub at_rest: Option<f64>,
    read: Rc<dyn Fn() -> f64>,
}

impl Gauge {
    /// A gauge read by calling `read` at each sample.
    pub fn new(name: impl Into<String>, read: impl Fn() -> f64 + 'static) -> Self {
        Gauge {
            name: name.into(),
            budget_per_hour: None,
            at_rest: None,
            read: Rc::new(read),
        }
    }

    /// Makes the gauge a budgeted resource: the run fails if it grows faster than
    /// `per_hour` (sustained, over the steady part of the run).
    pub fn budget(mut self, per_hour: f64) -> Self {
        self.budget_per_hour = Some(per_hour);
        self
    }

    /// Makes the gauge part of the teardown check: 5 virtual seconds after the
    /// scenario returns it must read at most `value` (listeners: 0), or the
    /// teardown is not clean.
    pub fn at_rest(mut self, value: f64) -> Self {
        self.at_rest = Some(value);
        self
    }

    /// Reads the gauge now.
    pub fn read(&self) -> f64 {
        (self.read)()
    }
}

impl fmt::Debug for Gauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge")
            .field("name", &self.name)
            .field("budget_per_hour", &self.budget_per_hour)
            .field("at_rest", &self.at_rest)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a valid gauge column name.
pub fn valid_gauge_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !FIXED_COLUMNS.contains(&name)
}

/// Everything measured at one instant, except gauges.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    /// Virtual seconds since the run started.
    pub virtual_seconds: f64,
    /// Bytes in live heap blocks (counting allocator).
    pub live_bytes: u64,
    /// Live heap blocks.
    pub live_blocks: u64,
    /// Resident set size from `/proc/self/statm` (0 where unavailable).
    pub rss_bytes: u64,
    /// Tasks alive on the tokio runtime (0 outside one).
    pub alive_tasks: u64,
    /// Open file descriptors in `/proc/self/fd` (0 where unavailable).
    pub open_fds: u64,
    /// Load events the scenario reported since the previous sample.
    pub load_events: u64,
}

impl Reading {
    /// The same reading with `bytes` of live heap discounted (what the harness
    /// itself still holds when comparing before and after a run).
    pub fn less_heap(&self, bytes: u64) -> Reading {
        Reading {
            live_bytes: self.live_bytes.saturating_sub(bytes),
            ..*self
        }
    }

    /// The same reading with the live heap (bytes and blocks) counted from `base`:
    /// the heap a run holds, without what the process held before it started
    /// (the CLI's parsed arguments, fonts and buffers left by an earlier run of
    /// `soak all`). That makes the heap columns of a run the same standalone and
    /// inside `soak all`, whatever `--out` is. Saturates at zero.
    pub fn since(&self, base: &Reading) -> Reading {
        Reading {
            live_bytes: self.live_bytes.saturating_sub(base.live_bytes),
            live_blocks: self.live_blocks.saturating_sub(base.live_blocks),
            ..*self
        }
    }

    /// The fixed columns as numbers, in [`FIXED_COLUMNS`] order.
    pub fn columns(&self) -> [f64; 7] {
        [
            self.virtual_seconds,
            self.live_bytes as f64,
            self.live_blocks as f64,
            self.rss_bytes as f64,
            self.alive_tasks as f64,
            self.open_fds as f64,
            self.load_events as f64,
        ]
    }
}

/// Reads the process-wide resources. Gauges are read by the caller.
pub fn read(virtual_seconds: f64, load_events: u64) -> Reading {
    let heap = alloc::stats();
    Reading {
        virtual_seconds,
        live_bytes: heap.live_bytes,
        live_blocks: heap.live_blocks,
        rss_bytes: rss_bytes(),
        alive_tasks: alive_tasks(),
        open_fds: open_fds(),
        load_events,
    }
}

/// Tasks alive on the current tokio runtime; 0 when called outside one.
pub fn alive_tasks() -> u64 {
    tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_alive_tasks() as u64)
        .unwrap_or(0)
}

/// Resident set size in bytes (Linux `/proc/self/statm`); 0 elsewhere.
pub fn rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; a negative answer means "unknown".
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Open file descriptors of this process (Linux `/proc/self/fd`); 0 elsewhere.
/// The descriptor used to list the directory is not counted.
pub fn open_fds() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => (dir.count() as u64).saturating_sub(1),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_names() {
        assert!(valid_gauge_name("flag_cooldowns"));
        assert!(!valid_gauge_name("Flag"));
        assert!(!valid_gauge_name("a,b"));
        assert!(!valid_gauge_name("live_bytes"));
        assert!(!valid_gauge_name(""));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn fds_and_rss_are_seen() {
        let files: Vec<std::fs::File> = (0..20)
            .map(|_| std::fs::File::open("/proc/self/statm").expect("procfs is readable"))
            .collect();
        assert!(open_fds() >= 20, "{}", open_fds());
        drop(files);
        assert!(rss_bytes() > 1024 * 1024);
    }
}
