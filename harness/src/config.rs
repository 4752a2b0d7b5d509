//! The settings of one run: which twin of the subject, how long, which seed, what
//! budgets. A leaf module: everything else reads a [`RunConfig`], nothing here
//! reads anything above it.
//!
//! Build one with the builder methods over the defaults (24 virtual hours, seed 1,
//! 1 MB/h of heap), then [`RunConfig::validate`] (which [`crate::run()`] calls too):
//!
//! ```
//! use soak_harness::{RunConfig, Variant};
//!
//! let cfg = RunConfig::new().variant(Variant::Leaky).hours(5.0).seed(3);
//! assert!(cfg.validate().is_ok());
//! assert_eq!(cfg.warmup(), 0.5);
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Which twin of the subject to run (also the `--variant` values of `soak run`,
/// `soak live` and `soak-server`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The cure the source report proposed.
    #[default]
    Fixed,
    /// The bug the source report found.
    Leaky,
    /// A live run nobody labelled: `soak live` of a service whose command carries
    /// no `--variant` and that was given none. Neither twin, so it is never
    /// compared with either; `soak run` and `soak-server` do not take it.
    #[value(skip)]
    Unlabelled,
}

impl Variant {
    /// `fixed`, `leaky` or `unlabelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Fixed => "fixed",
            Variant::Leaky => "leaky",
            Variant::Unlabelled => "unlabelled",
        }
    }

    /// Whether this is the leaky twin.
    pub fn is_leaky(self) -> bool {
        self == Variant::Leaky
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The validated settings of one run. Serialisable, so a parallel run hands it to
/// the child process that replays it (`crate::parallel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Subject variant.
    pub variant: Variant,
    /// Virtual hours to run.
    pub hours: f64,
    /// Traffic seed.
    pub seed: u64,
    /// Heap budget, bytes per virtual hour.
    pub max_growth: f64,
    /// Alive-task budget, tasks per virtual hour; `None` takes the scenario's
    /// (`Scenario::task_budget`), else [`DEFAULT_TASK_BUDGET`].
    pub max_task_growth: Option<f64>,
    /// Open-descriptor budget, descriptors per virtual hour.
    pub max_fd_growth: f64,
    /// Time between samples.
    pub sample_every: Duration,
    /// Hours excluded from the growth fit; `None` for the default
    /// ([`default_warmup`]: 10% of the run, or the retention when it fits).
    pub warmup_hours: Option<f64>,
    /// The subjects' longest retention, hours (how long they keep state: a TTL,
    /// a retention window). `None` takes the scenario's own declaration
    /// (`Scenario::retention`). A run shorter than this is not judged.
    pub retention_hours: Option<f64>,
    /// `--hours auto`: `hours` is the most the run may take (`--max-hours`); it
    /// looks at its samples every virtual hour and stops at the first look where
    /// the verdict is settled.
    pub auto: bool,
    /// Extra leak injected by the harness, bytes per virtual hour (calibration).
    pub leak_rate: f64,
    /// Profile with dhat (the profile travels in the [`crate::Outcome`]).
    pub dhat: bool,
    /// Virtual hour at which dhat profiling starts (0: from the start).
    pub dhat_from: f64,
    /// Extra source-path or symbol prefixes whose stack frames attribution keeps
    /// (besides the code of the workspace the binary was built in).
    pub dhat_keep: Vec<String>,
    /// Draw a progress bar on stderr (only shown when stderr is a terminal).
    pub progress: bool,
    /// Mean bytes allocated between sampled allocations, for per-site growth
    /// (0: sampling off).
    pub sample_bytes: u64,
    /// Traffic kinds replayed without their events (`--mute`); each must be a kind
    /// the scenario declares ([`crate::Ctx::kind`]).
    pub mute: Vec<String>,
    /// Factor on every traffic kind's rate (`--load-scale`; 1: as declared).
    pub load_scale: f64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            variant: Variant::Fixed,
            hours: 24.0,
            seed: 1,
            max_growth: 1e6,
            max_task_growth: None,
            max_fd_growth: 1.0,
            sample_every: Duration::from_secs(60),
            warmup_hours: None,
            retention_hours: None,
            auto: false,
            leak_rate: 0.0,
            dhat: false,
            dhat_from: 0.0,
            dhat_keep: Vec::new(),
            progress: false,
            sample_bytes: crate::sites::DEFAULT_SAMPLE_BYTES,
            mute: Vec::new(),
            load_scale: 1.0,
        }
    }
}

/// Largest `--load-scale`: a hundred times the declared traffic already makes a
/// day's replay take minutes.
pub const MAX_LOAD_SCALE: f64 = 100.0;

/// Alive tasks a run may gain per virtual hour when neither `--max-task-growth`
/// nor the scenario says otherwise.
pub const DEFAULT_TASK_BUDGET: f64 = 1.0;

/// Share of the run the default warm-up leaves out.
pub const WARMUP_SHARE: f64 = 0.1;

/// The default warm-up of a run `hours` long whose subjects keep state up to
/// `retention_hours`: 10% of the run, raised to the retention when that still
/// leaves at least half the run to judge (so the fit starts after the first
/// fill of the longest-kept state). A full day of a subject with short TTLs keeps
/// the 10%.
pub fn default_warmup(hours: f64, retention_hours: Option<f64>) -> f64 {
    let share = hours * WARMUP_SHARE;
    match retention_hours {
        Some(r) if r <= hours / 2.0 => share.max(r),
        _ => share,
    }
}

impl RunConfig {
    /// The defaults: fixed variant, 24 virtual hours, seed 1, 1 MB/h of heap, one
    /// task and one descriptor per hour, a sample every virtual minute.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the subject variant.
    pub fn variant(mut self, variant: Variant) -> Self {
        self.variant = variant;
        self
    }

    /// Sets the virtual hours to replay.
    pub fn hours(mut self, hours: f64) -> Self {
        self.hours = hours;
        self
    }

    /// Sets the traffic seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the heap budget, bytes per virtual hour.
    pub fn max_growth(mut self, bytes_per_hour: f64) -> Self {
        self.max_growth = bytes_per_hour;
        self
    }

    /// Sets the alive-task budget, tasks per virtual hour.
    pub fn max_task_growth(mut self, per_hour: f64) -> Self {
        self.max_task_growth = Some(per_hour);
        self
    }

    /// The alive-task budget judged: the one set, else [`DEFAULT_TASK_BUDGET`].
    pub fn task_budget(&self) -> f64 {
        self.max_task_growth.unwrap_or(DEFAULT_TASK_BUDGET)
    }

    /// Sets the open-descriptor budget, descriptors per virtual hour.
    pub fn max_fd_growth(mut self, per_hour: f64) -> Self {
        self.max_fd_growth = per_hour;
        self
    }

    /// Sets the virtual time between samples.
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every;
        self
    }

    /// Sets the hours left out of the growth fit (default: 10% of the run).
    pub fn warmup_hours(mut self, hours: f64) -> Self {
        self.warmup_hours = Some(hours);
        self
    }

    /// Declares the subjects' longest retention (overrides the scenario's).
    pub fn retention_hours(mut self, hours: f64) -> Self {
        self.retention_hours = Some(hours);
        self
    }

    /// `--hours auto`: run until the verdict is settled, at most `max_hours`.
    pub fn auto(mut self, max_hours: f64) -> Self {
        self.auto = true;
        self.hours = max_hours;
        self
    }

    /// Injects a known leak of `bytes_per_hour` on top of the scenario.
    pub fn leak_rate(mut self, bytes_per_hour: f64) -> Self {
        self.leak_rate = bytes_per_hour;
        self
    }

    /// Profiles with dhat from virtual hour `from_hours` (0: the start).
    pub fn dhat(mut self, from_hours: f64) -> Self {
        self.dhat = true;
        self.dhat_from = from_hours;
        self
    }

    /// Keeps stack frames whose source path or symbol starts with `prefix` in
    /// attribution (for code outside the binary's own workspace).
    pub fn dhat_keep(mut self, prefix: impl Into<String>) -> Self {
        self.dhat_keep.push(prefix.into());
        self
    }

    /// Shows a progress bar on stderr when it is a terminal.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Samples allocation sites every `bytes` allocated on average (0: off).
    pub fn sample_bytes(mut self, bytes: u64) -> Self {
        self.sample_bytes = bytes;
        self
    }

    /// Replays the scenario without the events of traffic kind `kind`
    /// (`--mute`); call once per kind.
    pub fn mute(mut self, kind: impl Into<String>) -> Self {
        self.mute.push(kind.into());
        self
    }

    /// Scales every traffic kind's rate by `factor` (`--load-scale`).
    pub fn load_scale(mut self, factor: f64) -> Self {
        self.load_scale = factor;
        self
    }

    /// The warm-up actually used: the configured one or [`default_warmup`].
    pub fn warmup(&self) -> f64 {
        self.warmup_at(self.hours)
    }

    /// The warm-up for a run (or a look at a run) `hours` long.
    pub fn warmup_at(&self, hours: f64) -> f64 {
        self.warmup_hours
            .unwrap_or_else(|| default_warmup(hours, self.retention_hours))
    }

    /// Number of samples the run takes (including the one at t = 0).
    pub fn sample_count(&self) -> usize {
        // Saturating: an unvalidated config must not overflow here.
        ((self.hours * 3600.0 / self.sample_every.as_secs_f64()).floor() as usize).saturating_add(1)
    }

    /// Checks ranges that the type system cannot, and the upper bounds of
    /// [`crate::limits`] (samples, injected leak).
    pub fn validate(&self) -> Result<(), Error> {
        use crate::units::number_text as num;
        let hours_flag = if self.auto { "--max-hours" } else { "--hours" };
        if !(self.hours.is_finite() && self.hours > 0.0) {
            return Err(Error::Usage(format!(
                "{hours_flag} must be a positive number of virtual hours, got {}",
                num(self.hours)
            )));
        }
        if self.hours > 24.0 * 365.0 {
            return Err(Error::Usage(format!(
                "{hours_flag} {} is more than a year of virtual time; use at most 8760",
                num(self.hours)
            )));
        }
        for (flag, v) in [
            ("max-growth", self.max_growth),
            ("max-task-growth", self.task_budget()),
            ("max-fd-growth", self.max_fd_growth),
            ("leak-rate", self.leak_rate),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Usage(format!(
                    "--{flag} must be a finite rate of at least 0, got {}",
                    num(v)
                )));
            }
        }
        if !(self.load_scale.is_finite()
            && self.load_scale > 0.0
            && self.load_scale <= MAX_LOAD_SCALE)
        {
            return Err(Error::Usage(format!(
                "--load-scale must be a factor above 0 and at most {}, got {}; e.g. 0.5 \
                 halves every traffic kind's rate (to replay without a kind, --mute it)",
                num(MAX_LOAD_SCALE),
                num(self.load_scale)
            )));
        }
        if self.sample_every.is_zero() {
            return Err(Error::Usage(
                "--sample-every must be longer than zero; e.g. 1m".to_string(),
            ));
        }
        if !(self.dhat_from.is_finite() && self.dhat_from >= 0.0 && self.dhat_from < self.hours) {
            return Err(Error::Usage(format!(
                "--dhat-from must be between 0 and --hours ({}), got {}",
                num(self.hours),
                num(self.dhat_from)
            )));
        }
        if let Some(r) = self.retention_hours {
            if !(r.is_finite() && r >= 0.0) {
                return Err(Error::Usage(format!(
                    "--retention must be a number of virtual hours of at least 0, got {r}"
                )));
            }
        }
        if let Some(w) = self.warmup_hours {
            if !(w.is_finite() && w >= 0.0 && w < self.hours) {
                return Err(Error::Usage(format!(
                    "--warmup must be between 0 and --hours ({}), got {}",
                    num(self.hours),
                    num(w)
                )));
            }
        }
        let window = self.hours - self.warmup();
        let needed = crate::growth::MIN_POINTS as f64 * self.sample_every.as_secs_f64() / 3600.0;
        if window < needed {
            return Err(Error::Usage(format!(
                "a {}-hour run sampled every {:?} leaves fewer than {} samples after the \
                 warm-up; raise --hours or lower --sample-every",
                num(self.hours),
                self.sample_every,
                crate::growth::MIN_POINTS
            )));
        }
        crate::limits::sample_count(self.hours, self.sample_every).map_err(Error::Usage)?;
        crate::limits::injected_leak(self.leak_rate, self.hours).map_err(Error::Usage)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_what_it_names_and_keeps_the_rest() {
        let c = RunConfig::new()
            .variant(Variant::Leaky)
            .hours(2.0)
            .seed(9)
            .max_growth(5e5)
            .warmup_hours(0.5)
            .leak_rate(1e6)
            .dhat(1.0)
            .dhat_keep("my_crate::");
        assert_eq!(c.variant, Variant::Leaky);
        assert_eq!((c.hours, c.seed, c.max_growth), (2.0, 9, 5e5));
        assert_eq!(c.warmup(), 0.5);
        assert!(c.dhat && c.dhat_from == 1.0);
        assert_eq!(c.dhat_keep, vec!["my_crate::".to_string()]);
        assert_eq!(c.max_task_growth, RunConfig::default().max_task_growth);
        assert!(c.validate().is_ok());
        let a = RunConfig::new().auto(48.0).retention_hours(1.0);
        assert!(a.auto && a.hours == 48.0 && a.retention_hours == Some(1.0));
    }

    #[test]
    fn default_warmup_waits_out_the_retention_when_it_fits() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(default_warmup(24.0, None), 2.4));
        assert!(close(default_warmup(24.0, Some(1.0)), 2.4));
        assert!(close(default_warmup(24.0, Some(24.0)), 2.4));
        assert!(close(default_warmup(4.0, Some(1.5)), 1.5));
        assert!(close(default_warmup(2.0, Some(1.5)), 0.2));
        let c = RunConfig::new().hours(6.0).retention_hours(2.0);
        assert!(close(c.warmup(), 2.0) && close(c.warmup_at(3.0), 0.3));
        assert_eq!(c.clone().warmup_hours(1.0).warmup_at(3.0), 1.0);
    }

    #[test]
    fn validation_names_the_flag() {
        let bad = [
            RunConfig::new().hours(-1.0),
            RunConfig::new().hours(f64::NAN),
            RunConfig::new().max_growth(-5.0),
            RunConfig::new().leak_rate(f64::INFINITY),
            RunConfig::new().sample_every(Duration::ZERO),
            RunConfig::new().hours(1.0).warmup_hours(2.0),
            RunConfig::new().retention_hours(-1.0),
        ];
        for c in bad {
            let e = c.validate().expect_err("invalid");
            assert!(e.to_string().contains("--"), "{e}");
        }
    }
}
