//! The progress bar on stderr: virtual hours done and events per wall second.
//!
//! Appears only for runs that last over a second of wall time, only when stderr
//! is a terminal, and never with `--quiet`, so logs and CI output stay clean.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A lazily shown progress bar.
pub struct Progress {
    enabled: bool,
    name: String,
    hours: f64,
    started: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a run of `hours` virtual hours; inert unless `enabled` and stderr
    /// is a terminal.
    pub fn new(enabled: bool, name: &str, hours: f64) -> Self {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            name: name.to_string(),
            hours,
            started: Instant::now(),
            bar: None,
        }
    }

    /// Reports `done` virtual hours, `events` so far and the live heap.
    pub fn update(&mut self, done: f64, events: u64, live_bytes: u64) {
        if !self.enabled {
            return;
        }
        let wall = self.started.elapsed();
        if self.bar.is_none() && wall >= SHOW_AFTER {
            let bar = ProgressBar::new((self.hours * 100.0) as u64);
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
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
