//! The options of a run, as typed: those `soak run` and `soak live` share
//! ([`SharedArgs`], declared once and flattened into both), and the rest of
//! `soak run`'s ([`RunArgs`]), validated into a [`RunConfig`].

use std::path::PathBuf;

use clap::Args;

use super::ci::CiArgs;
use super::jobs::PlanArgs;
use super::DEFAULT_MAX_HOURS;
use crate::config::{RunConfig, Variant};
use crate::units::{echo, parse_bytes, parse_duration, parse_rate};
use crate::Error;

/// The options every run takes, virtual (`soak run`, `soak all`) or live
/// (`soak live`, which flattens them too). Each command applies its own defaults
/// where the help says so.
#[derive(Debug, Args, Clone)]
pub struct SharedArgs {
    /// Subject variant: the fix the source report proposed (fixed), the bug it
    /// found (leaky), or both, fixed then leaky [default: fixed].
    #[arg(long, value_enum)]
    pub variant: Option<VariantChoice>,
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
    /// soak live: 1s of wall time, 500ms when the native heap probe is attached].
    #[arg(long, value_name = "DURATION")]
    pub sample_every: Option<String>,
    /// Report root directory.
    #[arg(long, default_value = "reports", value_name = "DIR")]
    pub out: PathBuf,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The values of `--variant`: one variant, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantChoice {
    /// The fix.
    Fixed,
    /// The bug.
    Leaky,
    /// Fixed, then leaky (`soak run`, `soak all`).
    Both,
}

impl VariantChoice {
    /// The variants it names, fixed first.
    pub fn variants(self) -> Vec<Variant> {
        match self {
            VariantChoice::Fixed => vec![Variant::Fixed],
            VariantChoice::Leaky => vec![Variant::Leaky],
            VariantChoice::Both => vec![Variant::Fixed, Variant::Leaky],
        }
    }
}

impl SharedArgs {
    /// `--variant`, else `default`; `both` is refused (a command that runs one
    /// variant at a time, `soak live`).
    pub fn variant_or(&self, default: Variant) -> Result<Variant, Error> {
        match self.variant {
            None => Ok(default),
            Some(VariantChoice::Both) => Err(Error::Usage(
                "--variant both runs each variant in turn, which only soak run and soak all \
                 do; give --variant fixed or --variant leaky"
                    .to_string(),
            )),
            Some(v) => Ok(v.variants()[0]),
        }
    }

    /// The variants `--variant` names, fixed first (`both`: fixed, then leaky);
    /// fixed when not given.
    pub fn variants(&self) -> Vec<Variant> {
        self.variant.unwrap_or(VariantChoice::Fixed).variants()
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
    /// out when the run is at least twice as long [default: the scenario's, or
    /// the longest its replayed traffic kinds declare when every kind does].
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
    /// Replay without the events of these traffic kinds (comma-separated or
    /// repeated; a name the scenario does not declare is refused with the list of
    /// its kinds, which summary.json also holds) [default: none; not with `soak all`].
    #[arg(long, value_name = "KIND[,KIND]", value_delimiter = ',')]
    pub mute: Vec<String>,
    /// Scale every traffic kind's rate by F (0 < F <= 100; 0.5 halves the traffic).
    #[arg(
        long,
        default_value = "1",
        value_name = "F",
        allow_hyphen_values = true
    )]
    pub load_scale: String,
    /// Exit as `git bisect run` reads it: 0 pass, 1 fail, 125 (skip this commit)
    /// when the run is inconclusive or cannot run (a usage or build problem).
    #[arg(long)]
    pub bisect: bool,
    /// Parallel runs and several seeds.
    #[command(flatten)]
    pub plan: PlanArgs,
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
            // The first of --variant both; the plan sets each run's variant.
            variant: shared.variants()[0],
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
            mute: self.mute.iter().map(|m| m.trim().to_string()).collect(),
            load_scale: number("load-scale", &self.load_scale, "a factor above 0, e.g. 0.5")?,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
