//! The options of a run, as typed: those `soak run` and `soak live` share
//! ([`SharedArgs`], declared once and flattened into both), and the rest of
//! `soak run`'s ([`RunArgs`]), validated into a [`RunConfig`].

use std::path::PathBuf;

use clap::Args;

use super::ci::CiArgs;
use super::DEFAULT_MAX_HOURS;
use crate::config::{RunConfig, Variant};
use crate::units::{echo, parse_bytes, parse_duration, parse_rate};
use crate::Error;

/// The options every run takes, virtual (`soak run`, `soak all`) or live
/// (`soak live`, which flattens them too). Each command applies its own defaults
/// where the help says so.
#[derive(Debug, Args, Clone)]
pub struct SharedArgs {
    /// Subject variant: the fix the source report proposed (fixed), or the bug it
    /// found (leaky) [default: fixed; soak live: the --variant in --cmd, else fixed].
    #[arg(long, value_enum)]
    pub variant: Option<Variant>,
    /// Traffic seed, a whole number from 0 to 2^64-1; the same seed replays the
    /// same traffic.
    #[arg(
        long,
        default_value_t = 1,
        value_name = "N",
        allow_hyphen_values = true,
        value_parser = parse_seed
    )]
    pub seed: u64,
    /// Memory growth budget per hour of the run (virtual hours; wall hours in
    /// soak live): the heap, or a live target's RSS when no heap probe attached;
    /// units B, KB, MB, GB, KiB, MiB, GiB.
    #[arg(
        long,
        default_value = "1MB/h",
        value_name = "RATE",
        allow_hyphen_values = true
    )]
    pub max_growth: String,
    /// Budget for open file descriptors, per hour of sustained growth [default: 1;
    /// soak live: reported, not judged].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub max_fd_growth: Option<String>,
    /// Time between samples (e.g. 30s, 1m, 5m) [default: 1m of virtual time;
    /// soak live: 1s of wall time].
    #[arg(long, value_name = "DURATION")]
    pub sample_every: Option<String>,
    /// Report root directory.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

impl SharedArgs {
    /// `--variant`, else `default`.
    pub fn variant_or(&self, default: Variant) -> Variant {
        self.variant.unwrap_or(default)
    }

    /// `--max-growth`, per hour.
    pub fn max_growth(&self) -> Result<f64, Error> {
        parse_rate(&self.max_growth).map_err(|e| Error::Usage(format!("--max-growth: {e}")))
    }

    /// `--max-fd-growth` as a count per hour (`None` when not given).
    pub fn max_fd_growth(&self) -> Result<Option<f64>, Error> {
        self.max_fd_growth
            .as_deref()
            .map(|t| per_hour("max-fd-growth", t))
            .transpose()
    }

    /// `--sample-every`, else `default`.
    pub fn sample_every(&self, default: &str) -> Result<std::time::Duration, Error> {
        parse_duration(self.sample_every.as_deref().unwrap_or(default))
            .map_err(|e| Error::Usage(format!("--sample-every: {e}")))
    }
}

/// The options of a virtual run, as typed.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The options `soak live` shares.
    #[command(flatten)]
    pub shared: SharedArgs,
    /// Virtual hours to replay (fractions allowed), or `auto`: run until every
    /// budgeted resource has a settled answer, looking every virtual hour, at most
    /// --max-hours.
    #[arg(
        long,
        default_value = "24",
        allow_hyphen_values = true,
        value_name = "H|auto"
    )]
    pub hours: String,
    /// With --hours auto: the most virtual hours the run may take [default: 72].
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub max_hours: Option<String>,
    /// The subjects' longest retention (TTL) in virtual hours, overriding the
    /// scenario's declaration: no shorter run is judged, and the warm-up waits it
    /// out when the run is at least twice as long [default: the scenario's].
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub retention: Option<String>,
    /// Budget for alive tokio tasks, tasks per virtual hour of sustained growth
    /// [default: the scenario's, else 1].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub max_task_growth: Option<String>,
    /// Virtual hours left out of the growth fit at the start [default: 10% of
    /// --hours, or the retention when the run is at least twice as long].
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub warmup: Option<String>,
    /// Inject a known leak of RATE bytes per virtual hour on top of the scenario
    /// (calibrates the detector on any subject).
    #[arg(
        long,
        default_value = "0",
        value_name = "RATE",
        allow_hyphen_values = true
    )]
    pub leak_rate: String,
    /// Profile the heap with dhat: writes dhat-heap.json and lists the allocation
    /// sites holding the most bytes at the end in the summary (slower: ~1.5 µs per
    /// allocation; see docs/dhat.md).
    #[arg(long)]
    pub dhat: bool,
    /// Start dhat profiling at this virtual hour instead of the start, so the sites
    /// left at the end are those that grew during the window (implies --dhat).
    #[arg(long, value_name = "H", allow_hyphen_values = true)]
    pub dhat_from: Option<String>,
    /// Keep stack frames whose source path or symbol starts with PREFIX in dhat's
    /// attribution (repeatable). The code of the workspace the binary was built in
    /// is always kept; use this for code that lives elsewhere.
    #[arg(long, value_name = "PREFIX")]
    pub dhat_keep: Vec<String>,
    /// Mean bytes allocated between sampled allocations, for the growth of each
    /// allocation site (sites.csv, growth_sites); 0 turns sampling off.
    #[arg(long, default_value = "512KiB", value_name = "SIZE")]
    pub sample_bytes: String,
    /// JUnit, baseline and history options.
    #[command(flatten)]
    pub ci: CiArgs,
}

/// `--seed`'s parser: a whole number, or a message saying what one looks like.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "{} is not a seed; give a whole number from 0 to {}, e.g. --seed 3",
            echo(text),
            u64::MAX
        )
    })
}

fn number(flag: &str, text: &str, what: &str) -> Result<f64, Error> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) if v.is_infinite() && !text.trim().to_ascii_lowercase().contains("inf") => Err(
            Error::Usage(format!("--{flag} {} is too large; give {what}", echo(text))),
        ),
        _ => Err(Error::Usage(format!(
            "--{flag} {} is not a number; give {what}",
            echo(text)
        ))),
    }
}

/// A budget counted per hour: a number of 0 or more.
fn per_hour(flag: &str, text: &str) -> Result<f64, Error> {
    let v = number(flag, text, "a count per hour, e.g. 1")?;
    if v < 0.0 {
        return Err(Error::Usage(format!(
            "--{flag} {} is negative; give a count per hour of 0 or more, e.g. 1",
            echo(text)
        )));
    }
    Ok(v)
}

impl RunArgs {
    /// The report root (`--out`).
    pub fn out(&self) -> &std::path::Path {
        &self.shared.out
    }

    /// Validates and converts the typed options.
    pub fn to_config(&self) -> Result<RunConfig, Error> {
        let rate = |flag: &str, text: &str| {
            parse_rate(text).map_err(|e| Error::Usage(format!("--{flag}: {e}")))
        };
        let auto = self.hours.trim() == "auto";
        let hours = if auto {
            match &self.max_hours {
                Some(m) => number(
                    "max-hours",
                    m,
                    "a positive number of virtual hours, e.g. 72",
                )?,
                None => DEFAULT_MAX_HOURS,
            }
        } else {
            if self.max_hours.is_some() {
                return Err(Error::Usage(
                    "--max-hours only applies with --hours auto; give one or the other".to_string(),
                ));
            }
            number(
                "hours",
                &self.hours,
                "a positive number of virtual hours, e.g. 24, or auto",
            )?
        };
        let retention_hours = match &self.retention {
            Some(r) => Some(number("retention", r, "virtual hours, e.g. 1")?),
            None => None,
        };
        let warmup_hours = match &self.warmup {
            Some(w) => Some(number("warmup", w, "virtual hours, e.g. 2")?),
            None => None,
        };
        let shared = &self.shared;
        let cfg = RunConfig {
            variant: shared.variant_or(Variant::Fixed),
            hours,
            seed: shared.seed,
            max_growth: shared.max_growth()?,
            max_task_growth: self
                .max_task_growth
                .as_deref()
                .map(|t| per_hour("max-task-growth", t))
                .transpose()?,
            max_fd_growth: shared.max_fd_growth()?.unwrap_or(1.0),
            sample_every: shared.sample_every("1m")?,
            warmup_hours,
            retention_hours,
            auto,
            leak_rate: rate("leak-rate", &self.leak_rate)?,
            dhat: self.dhat || self.dhat_from.is_some() || !self.dhat_keep.is_empty(),
            dhat_from: match &self.dhat_from {
                Some(h) => number("dhat-from", h, "a virtual hour, e.g. 2")?,
                None => 0.0,
            },
            dhat_keep: self.dhat_keep.clone(),
            progress: !shared.quiet,
            sample_bytes: parse_bytes(&self.sample_bytes)
                .map_err(|e| Error::Usage(format!("--sample-bytes: {e}")))?
                .round() as u64,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
