//! The progress bar on stderr: virtual hours done and events per wall second.
//!
//! Appears only for runs that last over a second of wall time, only when stderr
//! is a terminal, and never with `--quiet`, so logs and CI output stay clean.
//!
//! A run replayed in a child process of a parallel `soak all` reports to its
//! parent instead ([`report_to_parent`]): a short [`PARENT_PREFIX`] line on stderr
//! a few times a second, which the parent draws on its [`Board`], one line per
//! running job.

use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

const SHOW_AFTER: Duration = Duration::from_secs(1);

/// How often a child reports its progress to its parent.
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Starts a child's progress line on stderr; the rest is the virtual hours done.
pub const PARENT_PREFIX: &str = "\u{1}soak-progress ";

static TO_PARENT: AtomicBool = AtomicBool::new(false);

/// Makes every later [`Progress`] of this process (with progress enabled) report
/// to the parent process as [`PARENT_PREFIX`] lines on stderr, terminal or not.
pub fn report_to_parent() {
    TO_PARENT.store(true, Ordering::Relaxed);
}

/// The virtual hours of a [`PARENT_PREFIX`] line, `None` for any other line.
pub fn parse_parent_line(line: &str) -> Option<f64> {
    line.strip_prefix(PARENT_PREFIX)?.trim().parse().ok()
}

/// A lazily shown progress bar.
pub struct Progress {
    enabled: bool,
    to_parent: Option<Instant>,
    name: String,
    hours: f64,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a run of `hours` virtual hours; inert unless `enabled` and stderr
    /// is a terminal.
    pub fn new(enabled: bool, name: &str, hours: f64) -> Self {
        let to_parent = enabled && TO_PARENT.load(Ordering::Relaxed);
        Progress {
            enabled: enabled && std::io::stderr().is_terminal() && !to_parent,
            to_parent: to_parent.then(Instant::now),
            name: name.to_string(),
            hours,
            started: Instant::now(),
            bar: None,
        }
    }

    /// Reports `done` virtual hours, `events` so far and the live heap.
    pub fn update(&mut self, done: f64, events: u64, live_bytes: u64) {
        if let Some(last) = &mut self.to_parent {
            if last.elapsed() >= REPORT_EVERY {
                *last = Instant::now();
                // Formatted straight into stderr (unbuffered): no allocation, so
                // the replay's heap columns are those of a run without it.
                let _ = writeln!(std::io::stderr(), "{PARENT_PREFIX}{done:.3}");
            }
            return;
        }
        if !self.enabled {
            return;
        }
        let wall = self.started.elapsed();
        if self.bar.is_none() && wall >= SHOW_AFTER {
            let bar = ProgressBar::new((self.hours * 100.0) as u64);
            bar.set_style(style("{prefix} [{bar:30}] {msg}"));
            bar.set_prefix(self.name.clone());
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            let rate = events as f64 / wall.as_secs_f64().max(1e-9);
            bar.set_position((done * 100.0) as u64);
            bar.set_message(format!(
                "{done:.1}/{:.0} virtual h, {rate:.0} events/s, heap {}",
                self.hours,
                crate::units::bytes_text(live_bytes as f64)
            ));
        }
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Progress of several runs at once (the parent of a parallel `soak all`): one
/// line per running job under a line that counts them, on stderr, only when it
/// is a terminal and the board is enabled. Text printed through
/// [`Board::suspend`] appears above the lines.
pub struct Board {
    multi: Option<MultiProgress>,
    head: Option<ProgressBar>,
    lines: Vec<Option<ProgressBar>>,
    total: usize,
    done: usize,
}

impl Board {
    /// A board for `total` jobs; inert unless `enabled` and stderr is a terminal.
    pub fn new(enabled: bool, total: usize) -> Self {
        let multi = (enabled && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let head = multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(style("{msg}"));
            bar
        });
        let board = Board {
            multi,
            head,
            lines: (0..total).map(|_| None).collect(),
            total,
            done: 0,
        };
        board.count();
        board
    }

    /// Whether lines are drawn (a terminal, and enabled).
    pub fn shown(&self) -> bool {
        self.multi.is_some()
    }

    /// Job `i`, `label`, `hours` virtual hours long, started.
    pub fn start(&mut self, i: usize, label: &str, hours: f64) {
        let (Some(m), Some(slot)) = (&self.multi, self.lines.get_mut(i)) else {
            return;
        };
        let bar = m.add(ProgressBar::new((hours * 100.0) as u64));
        bar.set_style(style("{prefix:40} [{bar:30}] {msg}"));
        bar.set_prefix(label.to_string());
        bar.set_message(format!("0.0/{hours:.0} virtual h"));
        *slot = Some(bar);
        self.count();
    }

    /// Job `i` has replayed `done` virtual hours.
    pub fn update(&mut self, i: usize, done: f64) {
        if let Some(Some(bar)) = self.lines.get(i) {
            let hours = bar.length().unwrap_or(0) as f64 / 100.0;
            bar.set_position((done * 100.0) as u64);
            bar.set_message(format!("{done:.1}/{hours:.0} virtual h"));
        }
    }

    /// Job `i` ended: its line goes.
    pub fn finish(&mut self, i: usize) {
        self.done += 1;
        if let (Some(m), Some(slot)) = (&self.multi, self.lines.get_mut(i)) {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
                m.remove(&bar);
            }
        }
        self.count();
    }

    /// Runs `f` (which prints) with the lines cleared, then redraws them.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(m) => m.suspend(f),
            None => f(),
        }
    }

    /// Clears every line.
    pub fn clear(&mut self) {
        for bar in self.lines.iter_mut().filter_map(Option::take) {
            bar.finish_and_clear();
        }
        if let Some(h) = self.head.take() {
            h.finish_and_clear();
        }
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }

    fn count(&self) {
        if let Some(h) = &self.head {
            let running = self.lines.iter().filter(|l| l.is_some()).count();
            h.set_message(format!(
                "{} of {} runs done, {running} running",
                self.done, self.total
            ));
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_line_carries_the_hours_and_nothing_else_parses() {
        assert_eq!(
            parse_parent_line(&format!("{PARENT_PREFIX}12.250")),
            Some(12.25)
        );
        assert_eq!(parse_parent_line("error: cannot write x"), None);
        assert_eq!(parse_parent_line(&format!("{PARENT_PREFIX}twelve")), None);
    }
}
